"""Prompt arithmetic on tiny-random: the three spaces, renormalisation, readback, bad input, generate paths."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from explorer.concepts.neighbors import nearest_concepts
from explorer.errors import InputError
from explorer.generation.conditioning import conditioning_for
from explorer.generation.generate import generate
from explorer.generation.recipe import recipe_defaults
from explorer.outputs.png import read_png_recipe, save_png
from explorer.text import encoding
from explorer.text.arithmetic import evaluate, pooled_readback
from explorer.text.encoding import encode_conditioning, encode_from_token_inputs, encode_pooled, encode_token_inputs
from explorer.text.tokens import inspect_tokens
from explorer.text.vectors import lerp

ROOT = Path(__file__).resolve().parents[2]
SMALL = ["a red fox", "seal", "spring", "astronaut", "van gogh", "oil painting", "lighthouse", "street lamp"]


@pytest.fixture(scope="session")
def small_vocabulary():
    """A small registered vocabulary (the curated one takes ~15 s to encode on this CPU)."""
    from explorer.concepts.vocabularies import Vocabulary

    return Vocabulary("test-arithmetic", SMALL, ["test"] * len(SMALL))


def test_token_space_encoding_equals_the_pipeline(tiny_model):
    """Token embeddings run through our copy of CLIPTextModel.forward give encode_conditioning, bit for bit."""
    prompts = ["van gogh", "Sankt Martin reitet durch den Schnee"]
    ends = [inspect_tokens(tiny_model, p).end_position for p in prompts]
    ours = encode_from_token_inputs(tiny_model, encode_token_inputs(tiny_model, prompts), ends)
    assert torch.equal(ours, encode_conditioning(tiny_model, prompts))
    single = evaluate(tiny_model, "'Sankt Martin reitet durch den Schnee'", "token")
    assert torch.equal(single.conditioning, encode_conditioning(tiny_model, "Sankt Martin reitet durch den Schnee"))


def test_token_report_shows_splits_and_the_cut(tiny_model):
    report = inspect_tokens(tiny_model, "Sankt Martin")
    assert [t.kind for t in report.tokens[:5]] == ["start", "word", "word", "word", "end"]
    assert report.split_words() == [("sankt", ["san", "kt</w>"])]
    assert "'sankt' → `san` + `kt`" in report.summary()
    long = inspect_tokens(tiny_model, " ".join(["cat"] * 80))
    assert long.used == 75 and long.cut_text == " ".join(["cat"] * 5)
    assert sum(t.kind == "cut" for t in long.tokens) == 5
    assert encoding.tokens(tiny_model, "Sankt Martin") is encoding.tokens(tiny_model, "Sankt Martin")


def test_conditioning_space_is_the_weighted_sum(tiny_model):
    a, b = encode_conditioning(tiny_model, "a photo of a cat"), encode_conditioning(tiny_model, "an oil painting")
    raw = evaluate(tiny_model, '0.5 * "a photo of a cat" + 0.5 * "an oil painting"', renormalize=False)
    assert torch.equal(raw.conditioning, lerp(a, b, 0.5))
    summed = evaluate(tiny_model, '"a photo of a cat" + "an oil painting"')
    assert torch.allclose(summed.raw_conditioning, a + b, atol=1e-6)
    # renormalised: each token has the ingredients' mean norm; the raw sum spikes above it
    mean = (a.norm(dim=-1) + b.norm(dim=-1)) / 2                                      # (1, 77)
    assert torch.allclose(summed.conditioning.norm(dim=-1), mean, rtol=1e-5)
    assert bool((summed.raw_token_norms > 1.5 * summed.token_norms).all())
    # the pooled readback is the combination of the end-token states (= the pooled vectors)
    pooled = encode_pooled(tiny_model, ["a photo of a cat", "an oil painting"])
    assert torch.allclose(summed.raw_pooled[0], pooled[0] + pooled[1], atol=1e-5)


def test_pooled_space_is_not_generatable(tiny_model):
    result = evaluate(tiny_model, "king - man + woman", "pooled")
    assert result.conditioning is None and result.pooled.shape == (1, 32)
    recipe = recipe_defaults(tiny_model, "x", expression="king - man + woman", space="pooled", steps=2)
    with pytest.raises(InputError, match="space"):
        conditioning_for(tiny_model, recipe)


@pytest.mark.parametrize("text, match", [
    ("Cat - cat", "cancel"),                      # different phrases, identical encodings
    ("cat - cat", "cancel"),                      # cancelled by the parser
    ("", "expression"),
    ('"cat" +', "position"),
    ("nan * cat", "finite"),
    ("11 * cat", r"\[-10, 10\]"),
    ("cat * dog", "number on one side"),
    (" + ".join(["cat"] * 80), r"\[-10, 10\]"),      # one phrase 80 times: weight 80
    ("'" + "cat, " * 40 + "'", "at most 75 tokens"),   # 80 tokens in 200 characters
    ("x" * 1001, "1000 characters"),
])
def test_bad_expressions_name_the_problem(tiny_model, text, match):
    with pytest.raises(InputError, match=match):
        evaluate(tiny_model, text)


def test_bad_space_and_kind(tiny_model):
    with pytest.raises(InputError, match="space"):
        evaluate(tiny_model, "cat", "latent")
    with pytest.raises(InputError, match="kind"):
        pooled_readback(tiny_model, "cat", kind="poem")


def test_nearest_concepts(tiny_model, app_config, small_vocabulary):
    _, pooled, found, _ = nearest_concepts(tiny_model, "a red fox", 3, small_vocabulary, kind="prompt",
                                           config=app_config)
    assert len(found) == 3 and found[0].score >= found[1].score >= found[2].score
    assert found[0].label == "a red fox" and found[0].score == pytest.approx(1.0, abs=1e-5)
    _, _, excluded, _ = nearest_concepts(tiny_model, "a red fox + seal", 1, small_vocabulary, exclude_terms=True,
                                         config=app_config)
    assert excluded[0].label not in ("a red fox", "seal")
    with pytest.raises(InputError, match="k"):
        nearest_concepts(tiny_model, "cat", 0, small_vocabulary, config=app_config)
    with pytest.raises(InputError, match="vocabulary"):
        nearest_concepts(tiny_model, "cat", 3, "no-such-list", config=app_config)


def test_expression_generates_and_the_png_regenerates_it(tiny_model, tmp_path):
    recipe = recipe_defaults(tiny_model, "x", expression='"van gogh" + astronaut', space="token", seed=3, steps=2)
    first = generate(tiny_model, recipe, watch=False)
    path = save_png(first.image, recipe, tmp_path)
    again = read_png_recipe(path)
    assert (again.expression, again.space, again.renormalize) == ('"van gogh" + astronaut', "token", True)
    second = generate(tiny_model, again, watch=False)
    assert np.array_equal(np.asarray(first.image), np.asarray(second.image))
    raw = generate(tiny_model, recipe.with_(renormalize=False), watch=False)
    assert not np.array_equal(np.asarray(first.image), np.asarray(raw.image))


def test_a_single_term_expression_is_plain_generation(tiny_model):
    plain = recipe_defaults(tiny_model, "a lighthouse", seed=5, steps=2)
    expr = plain.with_(expression="a lighthouse")
    assert np.array_equal(np.asarray(generate(tiny_model, plain, watch=False).image),
                          np.asarray(generate(tiny_model, expr, watch=False).image))


def _cli(capsys, *args):
    """The CLI in this process (as `python -m explorer ...`): (exit code, stdout, stderr)."""
    from explorer.cli import main

    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def test_cli_generate_expr_tokens_and_bad_input(tmp_path, capsys):
    out = tmp_path / "expr.png"
    code, _, err = _cli(capsys, "generate", "--model", "tiny-random", "--expr", '"van gogh" + astronaut', "--space",
                        "token", "--raw", "--steps", "2", "--seed", "4", "--out", str(out))
    assert code == 0, err
    recipe = read_png_recipe(out)
    assert recipe.expression == '"van gogh" + astronaut' and recipe.space == "token" and not recipe.renormalize
    code, _, err = _cli(capsys, "generate", "--model", "tiny-random", "--expr", "cat * dog", "--steps", "2",
                        "--out", str(tmp_path / "bad.png"))
    assert code == 2 and "number on one side" in err and "Traceback" not in err
    code, _, err = _cli(capsys, "generate", "--model", "tiny-random", "--expr", "cat", "--space", "pooled",
                        "--steps", "2", "--out", str(tmp_path / "p.png"))
    assert code == 2 and "space" in err
    code, out_text, _ = _cli(capsys, "tokens", "--model", "tiny-random", "--prompt", "Sankt Martin", "--json")
    assert code == 0 and '"san"' in out_text and "split" in out_text


def test_cli_neighbors(capsys, small_vocabulary, tmp_path):
    path = tmp_path / "small.txt"
    path.write_text("\n".join(small_vocabulary.entries), encoding="utf-8")
    code, out, err = _cli(capsys, "neighbors", "--model", "tiny-random", "--prompt", "a red fox", "--k", "2",
                          "--vocabulary", str(path), "--json")
    assert code == 0, err
    assert '"a red fox"' in out and out.count('"label"') == 2
    code, _, err = _cli(capsys, "neighbors", "--model", "tiny-random", "--expr", "fox +", "--k", "2")
    assert code == 2 and "position" in err
