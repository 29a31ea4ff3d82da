"""The explorer's PNG texts travel honestly: A1111's names for its samplers, its own PNGs marked by a Version field
(not guessed from the Model), every variation of a chain written or said not to be A1111's, no absolute path."""
from __future__ import annotations

import json

import pytest
from PIL import Image

from explorer.generation.recipe import Recipe, Variation
from explorer.models.presets import SCHEDULERS, model_label
from explorer.outputs.a1111 import EXPLORER_VERSION, parse_parameters
from explorer.outputs.png import PARAMETERS_KEY, RECIPE_KEY, read_png, save_png, to_parameters


def _fields(recipe: Recipe) -> dict:
    return parse_parameters(to_parameters(recipe)).fields


@pytest.mark.parametrize("scheduler", list(SCHEDULERS))
def test_every_scheduler_round_trips_through_a1111s_names(scheduler):
    recipe = Recipe(model="tiny-random", prompt="a cat", seed=3, scheduler=scheduler)
    parsed = parse_parameters(to_parameters(recipe))
    assert parsed.scheduler == scheduler and parsed.notes == [] and parsed.ignored == []


def test_the_explorers_text_is_marked_and_a1111s_is_not_guessed_from_its_model():
    fields = _fields(Recipe(model="tiny-random", prompt="a cat"))
    assert fields["Version"] == EXPLORER_VERSION and EXPLORER_VERSION.startswith("latent-explorer ")
    assert fields["Schedule type"] == "Automatic" and fields["Sampler"] == "DDIM"
    # A1111 texts whose Model looked like the explorer's (a folder, a preset name) are A1111's: its slerp
    for model in ("SD15\\dreamshaper_8", "sdxl", "org/name"):
        text = (f"a cat\nSteps: 20, Sampler: Euler a, Seed: 1, Size: 64x64, Model: {model}, Variation seed: 7, "
                "Variation seed strength: 0.3, RNG: CPU, Version: v1.10.1")
        parsed = parse_parameters(text)
        assert not parsed.by_explorer and parsed.to_recipe("tiny-random").variation_slerp == "a1111", model


def test_variations_are_written_as_a1111_reads_them_or_in_the_explorers_own_field():
    a1111 = Recipe(model="tiny-random", prompt="x", seed=1, variation_seed=7, variation_strength=0.3,
                   variation_slerp="a1111", scheduler="euler_a")
    fields = _fields(a1111)
    assert (fields["Variation seed"], fields["Variation seed strength"]) == ("7", "0.3")
    assert "Explorer variations" not in fields
    # the explorer's whole-tensor slerp, or a chain: A1111 would make other noise, so its fields are not written
    chained = a1111.with_(variations=(Variation(9, 0.2), Variation(11, 0.5)))
    tensor = a1111.with_(variation_slerp="tensor")
    earlier = a1111.with_(step_noise="seed")                  # Euler a's step noise of an earlier recipe
    for recipe in (chained, tensor, earlier):
        fields = _fields(recipe)
        assert "Variation seed" not in fields and "Explorer variations" in fields
        assert parse_parameters(to_parameters(recipe)).to_recipe() == recipe
    assert _fields(chained)["Explorer variations"] == "7:0.3 9:0.2 11:0.5"


def test_no_absolute_path_in_a_png(tmp_path):
    folder = tmp_path / "models" / "my-model"
    folder.mkdir(parents=True)
    assert model_label(str(folder)) == "my-model" and model_label("org/name") == "org/name"
    assert model_label("C:\\models\\sd15") == "sd15" and model_label("tiny-random") == "tiny-random"
    path = save_png(Image.new("RGB", (8, 8)), Recipe(model=str(folder), prompt="a cat"), tmp_path / "out")
    chunks = Image.open(path).text
    assert str(tmp_path) not in chunks[PARAMETERS_KEY] and str(tmp_path) not in chunks[RECIPE_KEY]
    assert json.loads(chunks[RECIPE_KEY])["model"] == "my-model" and "Model: my-model" in chunks[PARAMETERS_KEY]
    assert read_png(path)[0].model == "my-model"
