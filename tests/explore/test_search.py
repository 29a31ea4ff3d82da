"""Generative search, "more like this" and the bias probe: library, HTTP API and CLI on tiny-random."""
from __future__ import annotations

import json
import re

import numpy as np
import pytest
from PIL import Image

from explorer.errors import InputError
from explorer.explore.probe import bias_probe, parse_attributes, wilson_interval
from explorer.explore.search import more_like_this, search, variation_recipes
from explorer.generation.generate import generate
from explorer.generation.recipe import Variation, recipe_defaults
from explorer.models.vision import load_vision
from explorer.outputs.png import read_png_recipe

PIXEL_TOL = 2          # batched vs one-at-a-time UNet passes: float rounding only (see test_walks.py)


def _diff(a, b) -> float:
    return float(np.abs(np.asarray(a, np.int16) - np.asarray(b, np.int16)).max())


@pytest.fixture(scope="module")
def base(tiny_model):
    return recipe_defaults(tiny_model, "a red circle", steps=2, width=64, height=64, seed=10)


@pytest.fixture(scope="module")
def vision(tiny_model):
    return load_vision(tiny_model)


def test_search_page_is_ranked_described_and_saved(tiny_model, base, vision, tmp_path):
    page = search(tiny_model, base, 3, vision=vision, related=0, batch_size=3, outputs_dir=tmp_path)
    assert page.ranked and len(page.results) == 3
    scores = [r.score for r in page.results]
    assert scores == sorted(scores, reverse=True)
    assert all(len(r.concepts) == 3 for r in page.results)
    assert sorted(r.recipe.seed for r in page.results) == [10, 11, 12]
    first = page.results[0]
    assert read_png_recipe(first.path).seed == first.recipe.seed
    plain = generate(tiny_model, first.recipe, watch=False).image
    assert _diff(first.image, plain) <= PIXEL_TOL                    # a result is its recipe's image


def test_search_without_vision_keeps_seed_order(tiny_model, base):
    page = search(tiny_model, base, 2, related=0)
    assert not page.ranked and [r.recipe.seed for r in page.results] == [10, 11] and page.notes


def test_more_like_this_at_strength_0_is_the_source(tiny_model, base):
    source = base.with_(seed=10)
    page = more_like_this(tiny_model, source, 2, 0.0, 500, batch_size=2)
    plain = generate(tiny_model, source, watch=False).image
    assert all(_diff(r.image, plain) <= PIXEL_TOL for r in page.results)
    moved = more_like_this(tiny_model, source, 1, 1.0, 500).results[0]
    assert moved.recipe.variation_seed == 500 and _diff(moved.image, plain) > 10


def test_variations_of_a_variation_chain_in_variations(base):
    first = variation_recipes(base, 1, 0.3, 7)[0]
    assert (first.variation_seed, first.variation_strength, first.variation_slerp) == (7, 0.3, "a1111")
    second = variation_recipes(first, 2, 0.2, 9)
    assert second[1].variations == (Variation(10, 0.2),) and second[1].variation_seed == 7


def test_limits_are_enforced(tiny_model, base, app_config):
    with pytest.raises(InputError, match="seeds"):
        search(tiny_model, base, app_config.max_seeds + 1, config=app_config)
    with pytest.raises(InputError, match="batch_size"):
        search(tiny_model, base, 2, batch_size=app_config.max_batch + 1, config=app_config)
    with pytest.raises(InputError, match="strength"):
        more_like_this(tiny_model, base, 2, 1.5, 0)


def test_probe_counts_with_vision_and_grids_without(tiny_model, base, vision):
    attrs = parse_attributes("gender: a man | a woman")
    probe = bias_probe(tiny_model, base, ["a photo of a CEO", "a photo of a nurse"], 2, attrs, vision=vision)
    assert probe.measured and set(probe.counts["gender"]) == {"a photo of a CEO", "a photo of a nurse"}
    assert all(sum(row) == 2 for row in probe.counts["gender"].values())
    blind = bias_probe(tiny_model, base, ["a", "b"], 1, attrs)
    assert not blind.measured and "CLIP" in blind.reason and len(blind.images["a"]) == 1


def test_attribute_parsing_and_wilson():
    assert parse_attributes("age: young | old\n\ngender: a man | a woman") == \
        {"age": ["young", "old"], "gender": ["a man", "a woman"]}
    for bad in ("no colon", "x: one", "x: a | a", ""):
        with pytest.raises(InputError, match="attributes"):
            parse_attributes(bad)
    low, high = wilson_interval(5, 10)
    assert low < 0.5 < high and wilson_interval(0, 10)[0] == 0


# --- the HTTP API ---------------------------------------------------------------------------------
def test_api_interpolate(client):
    film, gif, mp4, plot, status, files, recipes = client.predict(
        "a red circle\na blue square", "3", 3, 3, "slerp", "linear", "", 2, 7.5, 64, "ddim", True,
        api_name="/interpolate")
    assert len(film) == 3 and gif and "Done" in status and len(recipes) == 3


def test_api_search_more_like_this_open_and_probe(client):
    results, recipes, status, related, found = client.predict("a red circle", "", 4, 2, 7.5, 64, "ddim", 2, 2, True,
                                                       api_name="/search")
    assert len(results) == 2 and "Ranked by CLIP" in status and "found" in found
    source = json.dumps(recipes[0])
    variations, var_recipes, status = client.predict(source, 2, 0.5, 2, False, api_name="/more_like_this")
    assert len(variations) == 2 and var_recipes[0]["variation_strength"] == 0.5
    steps, status = client.predict(source, api_name="/open_result")
    assert len(steps) == 2
    grid, chart, status, counts = client.predict("a CEO\na nurse", "gender: a man | a woman", 1, "", 0, 2, 7.5, 64,
                                                 "ddim", 2, True, api_name="/bias_probe")
    assert len(grid) == 2 and json.loads(counts)["counts"]["gender"]


@pytest.mark.parametrize("endpoint,args,field", [
    ("/interpolate", ("only one", "3", 3, 2, "slerp", "linear", "", 2, 7.5, 64, "ddim", False), "prompts"),
    ("/interpolate", ("a\nb", "x", 3, 2, "slerp", "linear", "", 2, 7.5, 64, "ddim", False), "seeds"),
    ("/interpolate", ("a\nb\nc", "1", 40, 2, "slerp", "linear", "", 2, 7.5, 64, "ddim", False), "frames"),
    ("/interpolate", ("a\nb", "1", 3, 99, "slerp", "linear", "", 2, 7.5, 64, "ddim", False),
     r"batch_size: expected a number in \[1, 16\], received 99"),
    ("/interpolate", ("a\nb", "1", 3, 2, "cubic", "linear", "", 2, 7.5, 64, "ddim", False),
     r"method: expected one of slerp, lerp, received 'cubic'"),
    ("/search", ("a", "", 0, 2, 7.5, 64, "ddim", 65, 2, False), r"seeds: expected a number in \[1, 64\], received 65"),
    ("/search", ("", "", 0, 2, 7.5, 64, "ddim", 2, 2, False), "prompt"),
    ("/more_like_this", ("not json", 2, 0.5, 2, False), "recipe"),
    ("/more_like_this", ('{"model": "m", "prompt": "p"}', 2, 2.0, 2, False), r"strength: expected a number in \[0, 1\], received 2.0"),
    ("/bias_probe", ("only one", "g: a | b", 1, "", 0, 2, 7.5, 64, "ddim", 2, False), "prompts"),
    ("/bias_probe", ("a\nb", "g: a", 1, "", 0, 2, 7.5, 64, "ddim", 2, False), "attributes"),
])
def test_api_bad_inputs_name_the_field(client, endpoint, args, field):
    """Refused with a clear message that names the field, the allowed range and the value received."""
    with pytest.raises(Exception, match=field):
        client.predict(*args, api_name=endpoint)


# --- the CLI --------------------------------------------------------------------------------------
def test_cli_search_and_probe(tmp_path):
    from explorer.cli import main

    out = tmp_path / "search"
    assert main(["search", "--model", "tiny-random", "--prompt", "a red circle", "--seeds", "2", "--steps", "2",
                 "--out-dir", str(out)]) == 0
    summary = json.loads((out / "results.json").read_text())
    assert len(summary["results"]) == 2 and (out / "results.png").is_file()
    assert main(["search", "--model", "tiny-random", "--prompt", "x", "--out-dir", str(out)]) == 2  # not empty
    probe = tmp_path / "probe"
    assert main(["probe", "--model", "tiny-random", "--seeds", "1", "--steps", "2", "--vision",
                 "--attributes", "gender: a man | a woman", "--out-dir", str(probe)]) == 0
    data = json.loads((probe / "probe.json").read_text())
    assert data["measured"] and (probe / "chart-gender.html").is_file()


def test_more_like_this_of_every_kind_of_recipe_saves_pngs_that_regenerate_their_pixels(tiny_model, tmp_path):
    """Expressions, blends (AND included), walk frames, chained variations: each variation's PNG remakes itself."""
    from explorer.generation.generate import generate
    from tests.generation.test_legacy_recipes import PNGS

    for path in PNGS:
        source = read_png_recipe(path)
        page = more_like_this(tiny_model, source, 1, 0.3, 1234, batch_size=1, outputs_dir=tmp_path)
        saved = page.results[0].path
        recipe = read_png_recipe(saved)
        assert recipe.expression == source.expression and recipe.blend == source.blend and recipe.walk == source.walk
        again = generate(tiny_model, recipe, watch=False).image
        assert np.array_equal(np.asarray(again), np.asarray(Image.open(saved).convert("RGB"))), path.stem


def test_a_client_recipe_is_validated_and_must_name_the_loaded_model(client):
    from explorer.generation.recipe import Recipe

    good = Recipe(model="tiny-random", prompt="a red fox", seed=3, steps=2, width=64, height=64)
    for recipe, message in [
        (good.with_(model="/etc/passwd"), "recipe: expected a recipe of the loaded model 'tiny-random'"),
        (good.with_(steps=10**6), "steps: expected an integer in [1, 50]"),
        (good.with_(width=10**5), "width: expected an integer in [32, 256]"),
        (good.with_(variation_seed=7, variation_strength=float("nan")), "variation_strength: expected a number"),
    ]:
        with pytest.raises(Exception, match=re.escape(message)):
            client.predict(recipe.to_json(), api_name="/open_result")
    with pytest.raises(Exception, match="seed: expected an integer"):
        client.predict(good.to_json().replace('"seed": 3', '"seed": [1]'), api_name="/open_result")


def test_the_compute_budget_is_the_configured_one_on_every_path(tiny_model, base):
    """A per-image budget refuses searches, walks and blends up front; an operator's own budget is honoured."""
    from explorer.config import ExplorerConfig
    from explorer.explore.blends import compare
    from explorer.explore.walks import interpolate

    tight = ExplorerConfig(max_request_seconds_cpu=1e-6, max_request_seconds_gpu=1e-6)   # no image fits
    recipe = base.with_(steps=2)
    for run in (lambda: search(tiny_model, recipe, 2, config=tight),
                lambda: interpolate(tiny_model, recipe, ["a cat", "a dog"], [0], 2, config=tight),
                lambda: compare(tiny_model, "a cat", "a dog", recipe, vision=False, config=tight)):
        with pytest.raises(InputError, match="width: expected a smaller width x height on a CPU"):
            run()
    roomy = ExplorerConfig(max_request_seconds_cpu=10**9, max_request_seconds_gpu=10**9, max_steps=150)
    assert len(search(tiny_model, recipe, 1, config=roomy).results) == 1
