"""The Embeddings tab through the HTTP API: /tokens, /arithmetic, /neighbors, /blend, and bad input."""
from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from explorer.generation.generate import generate
from explorer.outputs.png import read_png_recipe

SMALL = ["a red fox", "seal", "spring", "astronaut", "van gogh", "oil painting", "lighthouse", "street lamp"]


@pytest.fixture(scope="module")
def vocabulary(client, tmp_path_factory):
    """A small list this client uploads for its session (the curated one takes ~15 s to encode on this CPU)."""
    from gradio_client import handle_file

    path = tmp_path_factory.mktemp("vocabulary") / "small.txt"
    path.write_text("\n".join(SMALL), encoding="utf-8")
    client.predict(handle_file(str(path)), "test-embeddings-api", api_name="/add_vocabulary")
    return "test-embeddings-api"


def _arithmetic(client, vocab, **overrides):
    args = dict(expression='"van gogh" + astronaut', space="conditioning", renormalize=True, seed=3, steps=2,
                guidance=7.5, vocabulary=vocab, k=3)
    args.update(overrides)
    return client.predict(*args.values(), api_name="/arithmetic")


def _rows(table):
    return table["data"] if isinstance(table, dict) else table


def test_tokens(client):
    summary, table, _plot = client.predict("Sankt Martin", False, api_name="/tokens")
    rows = _rows(table)
    assert [r[1] for r in rows[:5]] == ["<|startoftext|>", "san", "kt</w>", "martin</w>", "<|endoftext|>"]
    assert rows[1][4] == "sankt (split)" and "'sankt' → `san` + `kt`" in summary
    assert len(_rows(client.predict("Sankt Martin", True, api_name="/tokens")[1])) == 77


def test_arithmetic_generates_and_the_png_regenerates(client, vocabulary, tiny_model):
    status, image, neighbors, _plot, recipe_json, _phrases = _arithmetic(client, vocabulary, space="token")
    assert "token space" in status and '"space": "token"' in recipe_json
    assert len(_rows(neighbors)) == 3
    recipe = read_png_recipe(image)
    assert recipe.expression == '"van gogh" + astronaut' and recipe.space == "token" and recipe.renormalize
    again = generate(tiny_model, recipe, watch=False).image
    assert np.array_equal(np.asarray(Image.open(image).convert("RGB")), np.asarray(again))


def test_pooled_space_reads_back_but_does_not_generate(client, vocabulary):
    status, image, neighbors, _plot, _recipe, _phrases = _arithmetic(client, vocabulary, space="pooled")
    assert image is None and "not directly generatable" in status
    assert len(_rows(neighbors)) == 3


def test_neighbors(client, vocabulary):
    rows, _status = client.predict("a red fox", "prompt", "conditioning", vocabulary, 2, False,
                                   api_name="/neighbors")
    assert _rows(rows)[0][0] == "a red fox" and len(_rows(rows)) == 2
    rows, _ = client.predict("a red fox + seal", "expression", "conditioning", vocabulary, 2, True,
                             api_name="/neighbors")
    assert {r[0] for r in _rows(rows)}.isdisjoint({"a red fox", "seal"})


@pytest.mark.parametrize("k", [0, 51, 2.5])
def test_k_outside_its_range_is_refused_by_name(client, vocabulary, k):
    """k is a number box (issue 26): the page sends what was typed, the server refuses it as every view does."""
    with pytest.raises(Exception, match=rf"k: expected an integer in \[1, 50\], received {k}"):
        client.predict("a red fox", "prompt", "conditioning", vocabulary, k, False, api_name="/neighbors")


def test_blend(client):
    gallery, table, files, status = client.predict("van Gogh", "astronaut", 5, 2, 7.5, 1.0, 1.0, api_name="/blend")
    assert len(gallery) == len(files) == len(_rows(table)) == 7
    assert "seven panels" in status and "similarity" in status
    assert {read_png_recipe(f).blend.operator for f in files} == {"a", "b", "concat", "lerp", "slerp", "sum",
                                                                      "and"}


@pytest.mark.parametrize("overrides, message", [
    (dict(expression=""), "expression: expected a prompt expression"),
    (dict(expression='"van gogh" +'), "at position 12"),
    (dict(expression="cat * dog"), "a number on one side of '*'"),
    (dict(expression="nan * cat"), "finite"),
    (dict(expression="inf * cat"), "finite"),
    (dict(expression="1e9 * cat"), "a weight in [-10, 10]"),
    (dict(expression="Cat - cat"), "do not cancel"),
    (dict(expression="cat - cat"), "sum to 0"),
    (dict(expression="(cat + dog"), "Unbalanced parentheses"),
    (dict(expression="(cat:1.2)"), "A1111 weights"),
    (dict(expression=" + ".join(f"w{i}" for i in range(17))), "at most 16 distinct phrases"),
    (dict(expression="x" * 1200), "at most 1000 characters"),
    (dict(expression="'" + "cat, " * 40 + "'"), "at most 75 tokens"),
    (dict(space="latent"), "space: expected one of conditioning, token, pooled"),
    (dict(renormalize="yes"), "renormalize"),
    (dict(vocabulary="no-such-list"), "vocabulary: expected one of"),
    (dict(seed=-1), "seed: expected an integer in [0, 4294967295]"),
    (dict(seed=1.5), "seed: expected an integer in [0, 4294967295]"),
    (dict(steps=0), "steps: expected a number in [1, 50]"),
    (dict(guidance=1e9), "guidance: expected a number in [0, 30]"),
    (dict(k=0), "k: expected an integer in [1, 50]"),
])
def test_bad_arithmetic_input_is_named_and_server_keeps_serving(client, vocabulary, overrides, message):
    with pytest.raises(Exception) as info:
        _arithmetic(client, vocabulary, **overrides)
    assert message in str(info.value)
    assert "Traceback" not in str(info.value)


@pytest.mark.parametrize("args, message", [
    (("", "astronaut", 0, 2, 7.5, 1.0, 1.0), "a: expected a non-empty prompt"),
    (("cat", "dog", 0, 2, 7.5, 50.0, 1.0), "and_weights[0]: expected a number in [-10, 10]"),
    (("cat", "dog", 0, 2, 7.5, 1.0, -11.0), "and_weights[1]: expected a number in [-10, 10]"),
    (("cat", "dog", -3, 2, 7.5, 1.0, 1.0), "seed: expected an integer"),
    (("cat", "dog", 0, 999, 7.5, 1.0, 1.0), "steps: expected a number in [1, 50]"),
    (("cat " * 40, "dog " * 40, 0, 2, 7.5, 1.0, 1.0), "at most 75 tokens"),
])
def test_bad_blend_input(client, args, message):
    with pytest.raises(Exception) as info:
        client.predict(*args, api_name="/blend")
    assert message in str(info.value)


@pytest.mark.parametrize("args, message", [
    (("", False), "prompt: expected a non-empty prompt"),
    (("cat", "yes"), "show_padding"),
])
def test_bad_tokens_input(client, args, message):
    with pytest.raises(Exception) as info:
        client.predict(*args, api_name="/tokens")
    assert message in str(info.value)


def test_server_keeps_serving_after_bad_input(client, vocabulary):
    with pytest.raises(Exception):
        client.predict("cat", "sideways", "conditioning", vocabulary, 2, False, api_name="/neighbors")
    rows, _ = client.predict("seal", "prompt", "conditioning", vocabulary, 1, False, api_name="/neighbors")
    assert _rows(rows)[0][0] == "seal"
