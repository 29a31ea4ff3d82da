"""Recipes in PNGs: the AUTOMATIC1111 `parameters` chunk, read back by a parser written from that format."""
from __future__ import annotations

import json
import re

import pytest
from PIL import Image

from explorer.errors import InputError
from explorer.recipe import Recipe, read_png_recipe, save_png, to_parameters


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


def test_no_negative_line_when_empty():
    text = to_parameters(Recipe(model="m", prompt="a dog"))
    assert "Negative prompt" not in text and text.startswith("a dog\nSteps: ")


def test_png_round_trip_and_never_overwrites(tmp_path):
    recipe = Recipe(model="tiny-random", prompt="a cat", seed=5, width=64, height=64, extra={"k": [1, 2]})
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
    with pytest.raises(InputError, match="image: expected a PNG written by latent-explorer"):
        read_png_recipe(path)


@pytest.mark.parametrize("text", ["[]", "{", '{"prompt": "x"}', '{"model": "m", "prompt": "x", "bogus": 1}'])
def test_bad_recipe_json(text):
    with pytest.raises(InputError, match="recipe"):
        Recipe.from_json(text)
