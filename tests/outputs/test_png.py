"""Recipes in PNGs: the AUTOMATIC1111 `parameters` chunk, read back by a parser written from that format."""
from __future__ import annotations

import json
import re

import pytest
from PIL import Image

from explorer.errors import InputError
from explorer.generation.recipe import Blend, Origin, Recipe, Variation, WalkFrame
from explorer.outputs.png import read_png_recipe, save_png, to_parameters


def parse_a1111(text: str) -> dict:
    """A reader written from A1111's format: prompt lines, optional 'Negative prompt:', then 'Key: value, ...'.

    Values containing ',' ':' or newlines are JSON-quoted (as A1111's infotext writer does).
    """
    lines = text.split("\n")
    *head, last = lines
    pairs = re.findall(r'\s*([\w ]+):\s*("(?:\\.|[^\\"])*"|[^,]*)(?:,|$)', last)
    out = {key.strip(): json.loads(value) if value.startswith('"') else value.strip() for key, value in pairs}
    negative = [i for i, line in enumerate(head) if line.startswith("Negative prompt: ")]
    if negative:
        out["prompt"] = "\n".join(head[:negative[0]])
        out["negative"] = "\n".join(head[negative[0]:])[len("Negative prompt: "):]
    else:
        out["prompt"], out["negative"] = "\n".join(head), ""
    return out


def test_parameters_format_reads_back(tmp_path):
    recipe = Recipe(model="org/model: v2", prompt="a cat, oil painting", negative_prompt="blurry, low quality",
                    seed=2611690019, steps=20, guidance=7.0, width=512, height=640, scheduler="euler_a")
    parsed = parse_a1111(to_parameters(recipe))
    assert parsed["prompt"] == "a cat, oil painting" and parsed["negative"] == "blurry, low quality"
    assert parsed["Steps"] == "20" and parsed["Sampler"] == "Euler a" and parsed["CFG scale"] == "7"
    assert parsed["Seed"] == "2611690019" and parsed["Size"] == "512x640"
    assert parsed["Model"] == "org/model: v2"          # JSON-quoted because it contains ':'
    assert parsed["Schedule type"] == "Automatic" and parsed["RNG"] == "CPU"     # as A1111 >= 1.9 writes them


def test_no_negative_line_when_empty():
    text = to_parameters(Recipe(model="m", prompt="a dog"))
    assert "Negative prompt" not in text and text.startswith("a dog\nSteps: ")


def test_png_round_trip_and_never_overwrites(tmp_path):
    recipe = Recipe(model="tiny-random", prompt="a cat", seed=5, width=64, height=64,
                    variations=(Variation(1, 0.5), Variation(2, 0.25)), origin=Origin("search", "a cat", 2))
    image = Image.new("RGB", (64, 64), "red")
    first = save_png(image, recipe, tmp_path)
    second = save_png(image, recipe, tmp_path)
    assert first != second and first.exists() and second.exists()
    assert read_png_recipe(first) == recipe
    parsed = parse_a1111(Image.open(first).text["parameters"])
    assert parsed["Seed"] == "5" and parsed["Model"] == "tiny-random"


def test_png_without_recipe_is_a_clear_error(tmp_path):
    path = tmp_path / "plain.png"
    Image.new("RGB", (8, 8)).save(path)
    with pytest.raises(InputError, match="image: expected a PNG with a recipe: latent-explorer's, AUTOMATIC1111's"):
        read_png_recipe(path)


@pytest.mark.parametrize("text", ["[]", "{", '{"prompt": "x"}', '{"model": "m", "prompt": "x", "bogus": 1}'])
def test_bad_recipe_json(text):
    with pytest.raises(InputError, match="recipe"):
        Recipe.from_json(text)


# ----------------------------------------------------------------------------------------------
# recipes of the earlier format: an untyped `extra` dict, read into the typed fields
def legacy(**extra) -> str:
    return json.dumps({"model": "tiny-random", "prompt": "x", "seed": 5, "extra": extra})


def test_legacy_extra_loads_into_typed_fields():
    slerp = Recipe.from_json(legacy(operator="slerp", a="van gogh", b="an astronaut", t=0.25))
    assert slerp.blend == Blend("slerp", "van gogh", "an astronaut", t=0.25)
    assert (slerp.walk, slerp.variations, slerp.origin) == (None, (), None)
    both = Recipe.from_json(legacy(operator="and", terms=[[1.5, "a cat"], [-0.5, "a dog"]]))
    assert both.blend == Blend("and", "a cat", "a dog", weights=(1.5, -0.5))
    walk = Recipe.from_json(legacy(interpolation={"prompts": ["a cat", "= cat + dog"], "t": 0.75, "method": "lerp",
                                                  "segment": 2, "schedule": "ease", "frame": 9, "of": 16}))
    assert walk.walk == WalkFrame("a cat", "= cat + dog", 0.75, "lerp", 2, "ease", 9, 16) and walk.blend is None
    varied = Recipe.from_json(legacy(variations=[[11, 0.5], [12, 0.125]]))
    assert varied.variations == (Variation(11, 0.5), Variation(12, 0.125))
    found = Recipe.from_json(legacy(search={"query": "a red fox", "rank": 3}))
    assert found.origin == Origin("search", query="a red fox", rank=3)
    # together, as a "more like this" of a walk frame wrote them; the untouched fields keep their values
    mixed = Recipe.from_json(legacy(interpolation={"prompts": ["a", "b"], "t": 0.5, "method": "slerp", "segment": 0,
                                                   "schedule": "linear"}, variations=[[7, 1.0]],
                                    search={"query": "a", "rank": 0}))
    assert mixed.walk == WalkFrame("a", "b", 0.5) and mixed.variations == (Variation(7, 1.0),)
    assert mixed.origin == Origin("search", "a", 0) and (mixed.seed, mixed.prompt) == (5, "x")
    # an empty extra (every plain recipe of the earlier format) is a plain recipe; typed JSON round-trips
    # (and the sampler's generator restarted at the seed after a variation then: step_noise "seed", issue 31)
    assert Recipe.from_json(legacy()) == Recipe(model="tiny-random", prompt="x", seed=5, emphasis="none",
                                                step_noise="seed", prompt_editing=False)
    assert Recipe.from_json(mixed.to_json()) == mixed


@pytest.mark.parametrize("extra, field", [
    ({"k": [1, 2]}, "extra"),                                            # a key no version wrote
    ({"operator": "xor", "a": "a", "b": "b"}, "operator"),
    ({"operator": "and", "terms": [[1.0, "a"]]}, "terms"),
    ({"operator": "and", "terms": "a AND b"}, "terms"),
    ({"interpolation": "a to b"}, "interpolation"),
    ({"interpolation": {"prompts": ["a"], "t": 0.5}}, "interpolation"),
    ({"interpolation": {"prompts": ["a", "b"], "t": 0.5, "speed": 2}}, "interpolation"),
    ({"variations": [[1]]}, "variations"),
    ({"variations": 3}, "variations"),
    ({"variations": [{"seed": 1, "strength": 0.5}]}, "variations"),
    ({"search": "a cat"}, "search"),
    ({"search": {"query": "a", "rank": 0, "page": 2}}, "search"),
])
def test_legacy_extra_of_unknown_shape_names_the_field(extra, field):
    with pytest.raises(InputError, match=field) as caught:
        Recipe.from_json(legacy(**extra))
    assert caught.value.field == field
