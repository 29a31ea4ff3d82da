"""SDXL through the HTTP API (gradio_client): the app launched on tiny-random-xl, every tab's main endpoint."""
from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from explorer.generation.generate import generate
from explorer.outputs.png import read_png_recipe
from tests.servers import close_demo


@pytest.fixture(scope="module")
def xl_client(tiny_xl, tmp_path_factory, connect):
    from explorer.config import ExplorerConfig
    from explorer.ui.app import build_demo, launch_kwargs

    root = tmp_path_factory.mktemp("xl-app")
    config = ExplorerConfig(model="tiny-random-xl", outputs_dir=root / "outputs", cache_dir=root / "cache",
                            max_size=256, max_steps=50)
    demo = build_demo(tiny_xl, config)
    _, url, _ = demo.launch(prevent_thread_lock=True, quiet=True,
                            **{**launch_kwargs(config, demo), "server_port": None})
    yield connect(url)
    close_demo(demo)


def _rows(table):
    return table["data"] if isinstance(table, dict) else table


def test_generate_regenerates_and_names_bad_sizes(xl_client, tiny_xl):
    image, noisy, x0, _plot, status, recipe_json, parameters, *_ = xl_client.predict(
        "van gogh self-portrait in an astronaut suit", "", 0, False, 3, 5.0, 64, 96, "euler", "approx",
        api_name="/generate")
    assert "Done" in status and len(noisy) == len(x0) == 3 and "Model: tiny-random-xl" in parameters
    recipe = read_png_recipe(image)
    assert (recipe.width, recipe.height, recipe.model) == (64, 96, "tiny-random-xl")
    again = generate(tiny_xl, recipe, watch=False).image
    assert np.array_equal(np.asarray(again), np.asarray(Image.open(image).convert("RGB")))
    with pytest.raises(Exception, match=r"prompt: expected at most 75 tokens"):
        xl_client.predict("cat " * 80, "", 0, False, 2, 5.0, 64, 64, "euler", "approx", api_name="/generate")
    assert "Done" in xl_client.predict("a fox", "", 1, False, 1, 5.0, 64, 64, "euler", "approx",
                                       api_name="/generate")[4]        # still serving


def test_token_inspector_shows_both_encoders(xl_client):
    summary, table, _plot = xl_client.predict("Sankt Martin", True, api_name="/tokens")
    assert table["headers"][-3:] == ["|input| 2", "|output| 2", "weight"] and len(table["headers"]) == 10
    rows = _rows(table)
    assert rows[-1][1] == "<|endoftext|> / !" and rows[1][1] == "san"      # the two tokenizers pad differently
    assert "text_encoder_2" in summary


def test_arithmetic_blend_and_neighbors(xl_client):
    summary, image, rows, _plot, recipe_json, _choices = xl_client.predict(
        '"van gogh" + astronaut', "conditioning", True, 3, 2, 5.0, "tokenizer", 3, api_name="/arithmetic")
    assert image and "pooled vector the UNet also takes" in summary and len(_rows(rows)) == 3
    gallery, table, *_ = xl_client.predict("van Gogh", "astronaut", 5, 2, 5.0, 1.0, 1.0, api_name="/blend")
    assert len(gallery) == 7 and len(_rows(table)) == 7


def test_interpolate_search_probe_and_map(xl_client):
    film, gif, _mp4, _plot, status, _files, recipes = xl_client.predict(
        "a red circle\na blue square", "3", 3, 3, "slerp", "linear", "", 2, 5.0, 64, "euler", False,
        api_name="/interpolate")
    assert len(film) == 3 and "Done" in status
    results, found, status, *_ = xl_client.predict("a red circle", "", 4, 2, 5.0, 64, "euler", 2, 2, True,
                                                   api_name="/search")
    assert len(results) == 2
    grid, _chart, status, counts = xl_client.predict("a CEO\na nurse", "gender: a man | a woman", 1, "", 0, 2, 5.0,
                                                     64, "euler", 2, True, api_name="/bias_probe")
    assert len(grid) == 2 and json.loads(counts)["counts"]["gender"]
    figure, rows, status, *_ = xl_client.predict("a red fox\n= king - man + woman", "tokenizer", 20, "pca", 4,
                                                 api_name="/concept_map")
    assert json.loads(figure)["data"] and len(rows["data"]) == 20
