"""Prompt editing through the HTTP API: /generate keeps the prompt as written (A1111 reads it back), /swap_row makes
the Generate tab's row over the swap step k, each picture with its steps; a word not in the prompt is refused."""
from __future__ import annotations

import pytest

from explorer.outputs.png import read_png_recipe

FIELDS = dict(prompt="a red circle", negative="", seed=3, steps=3, guidance=7.5, width=64, height=64,
              scheduler="ddim", preview="approx")


def test_an_edited_prompt_travels_as_written(client):
    out = client.predict("a [red:blue:1] circle", "", 3, False, 3, 7.5, 64, 64, "ddim", "approx",
                         api_name="/generate")
    recipe, parameters = read_png_recipe(out[0]), out[6]
    assert recipe.prompt == "a [red:blue:1] circle" and recipe.prompt_editing
    assert parameters.startswith("a [red:blue:1] circle\n")


def test_swap_row_returns_the_row_and_the_first_pictures_steps(client):
    row, steps, status = client.predict(*FIELDS.values(), "red", "blue", 3, api_name="/swap_row")
    assert "Done" in status and len(row) == 3 and len(steps) == 3
    assert [item["caption"].split(":")[0] for item in row] == ["k = 0", "k = 1", "k = 2"]
    assert read_png_recipe(row[1]["image"]).prompt == "a [red:blue:1] circle"


def test_swap_row_refuses_a_word_not_in_the_prompt(client):
    with pytest.raises(Exception, match="swap_from"):
        client.predict(*FIELDS.values(), "green", "blue", 3, api_name="/swap_row")
