"""A1111 prompt emphasis: the parser against A1111's own examples, the encoding against an analytic
expectation, prompts without syntax bit for bit as before, unsupported syntax named. The encodings are tested on
models whose text encoder's outputs do not average to 0 (miniworld, tiny-random-xl's penultimate states):
on tiny-random (a LayerNorm without bias) the mean restore would divide by ~0, and is refused."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from explorer.errors import InputError
from explorer.generation.generate import generate
from explorer.generation.recipe import Recipe, recipe_defaults
from explorer.outputs.png import to_parameters
from explorer.text import encoding
from explorer.text.emphasis import apply, check_rescale, check_supported, has_syntax, parse_attention
from explorer.text.tokens import inspect_tokens


@pytest.mark.parametrize("text,expected", [            # the doctest of A1111's parse_prompt_attention
    ("normal text", [("normal text", 1.0)]),
    ("an (important) word", [("an ", 1.0), ("important", 1.1), (" word", 1.0)]),
    ("(unbalanced", [("unbalanced", 1.1)]),
    ("\\(literal\\]", [("(literal]", 1.0)]),
    ("(unnecessary)(parens)", [("unnecessaryparens", 1.1)]),
    ("a (((house:1.3)) [on] a (hill:0.5), sun, (((sky))).",
     [("a ", 1.0), ("house", 1.5730000000000004), (" ", 1.1), ("on", 1.0), (" a ", 1.1), ("hill", 0.55),
      (", sun, ", 1.1), ("sky", 1.4641000000000006), (".", 1.1)]),
])
def test_parser_matches_a1111(text, expected):
    assert parse_attention(text) == expected


@pytest.mark.parametrize("fixture", ["miniworld", "tiny_xl"])
def test_weighted_encoding_equals_the_analytic_expectation(fixture, request):
    model = request.getfixturevalue(fixture)
    plain = encoding.conditioning(model, "a red circle").float()         # same tokens, all weights 1
    weighted = encoding.encode_weighted(model, "a (red:1.5) [circle]").float()
    w = torch.ones(1, 77)
    w[0, 2], w[0, 3] = 1.5, 1 / 1.1
    widths = [e.config.hidden_size for e in model.adapter.text_encoders(model.pipe)]
    parts, start = [], 0
    for width in widths:                                                  # each encoder weighed on its own
        z = plain[:, :77, start:start + width]
        expected = z * w[..., None] * (z.mean() / (z * w[..., None]).mean())
        parts.append(expected)
        start += width
    torch.testing.assert_close(weighted[:, :77], torch.cat(parts, dim=-1), rtol=1e-5, atol=1e-5)
    if plain.shape[1] > 77:                                               # SDXL: the pooled row is not weighed
        assert torch.equal(weighted[:, 77], plain[:, 77])


def test_prompts_without_syntax_are_bit_identical(miniworld):
    recipe = recipe_defaults(miniworld, "a red circle", seed=4, steps=2)
    assert recipe.emphasis == "a1111" and not has_syntax(recipe.prompt)
    new = np.asarray(generate(miniworld, recipe, watch=False).image)
    old = np.asarray(generate(miniworld, recipe.with_(emphasis="none"), watch=False).image)
    assert np.array_equal(new, old)
    literal = recipe.with_(prompt="a (red) circle", emphasis="none")      # earlier recipes: brackets were text
    weighted = recipe.with_(prompt="a (red) circle")
    assert not np.array_equal(np.asarray(generate(miniworld, literal, watch=False).image),
                              np.asarray(generate(miniworld, weighted, watch=False).image))


def test_earlier_recipes_keep_literal_brackets_and_write_them_escaped():
    old = Recipe.from_dict({"model": "m", "prompt": "a (red) circle"})
    assert old.emphasis == "none"
    assert to_parameters(old).startswith("a \\(red\\) circle\n")
    assert parse_attention("a \\(red\\) circle") == [("a (red) circle", 1.0)]      # A1111 reads the same text
    assert to_parameters(Recipe(model="m", prompt="a (red:1.2) circle")).startswith("a (red:1.2) circle\n")


@pytest.mark.parametrize("text,named", [
    ("a cat BREAK a dog", "BREAK"), ("a cat AND a dog", "AND"), ("a cat++ on a mat", "t++"),
])
def test_unsupported_syntax_is_named(tiny_model, text, named):
    with pytest.raises(InputError) as info:
        check_supported(text)
    assert named in str(info.value) and str(info.value).startswith("prompt: expected")
    with pytest.raises(InputError, match="prompt"):
        generate(tiny_model, recipe_defaults(tiny_model, text, steps=1), watch=False)
    assert "Not read as syntax" in inspect_tokens(tiny_model, text).summary()


def test_token_inspector_shows_the_weights(miniworld):
    report = inspect_tokens(miniworld, "a ((red)) [circle]")
    weights = {t.text: t.weight for t in report.tokens if t.kind == "word"}
    assert weights == {"a</w>": 1.0, "red</w>": pytest.approx(1.21), "circle</w>": pytest.approx(1 / 1.1)}
    assert "red x1.21" in report.summary() and report.rows()[2][-1] == pytest.approx(1.21)


def test_apply_restores_the_mean():
    z = torch.randn(1, 5, 4, generator=torch.Generator().manual_seed(0)) + 1
    out = apply(z, torch.tensor([[1.0, 2.0, 1.0, 0.5, 1.0]]))
    assert torch.allclose(out.mean(), z.mean())


@pytest.mark.parametrize("text", ["(a:0.5) (b:1.5)", "a (red) circle", "[circle]"])
def test_emphasis_that_would_divide_by_about_zero_is_refused(tiny_model, text):
    """tiny-random's encoder ends in a LayerNorm without bias: its outputs average to ~0, and A1111's mean restore
    gave all-zero, NaN or sign-flipped conditioning there (a black PNG, no error)."""
    with pytest.raises(InputError) as info:
        generate(tiny_model, recipe_defaults(tiny_model, text, steps=1), watch=False)
    assert info.value.field == "prompt" and "mean" in str(info.value)
    with pytest.raises(InputError, match="negative_prompt"):
        generate(tiny_model, recipe_defaults(tiny_model, "a circle", negative_prompt=text, steps=1), watch=False)


def test_check_rescale_against_analytic_cases():
    check_rescale(-0.05, -0.06, 0.8)                                      # a real encoder's means: taken
    check_rescale(-5.46e-4, -5.45e-4, 0.76)                               # miniworld's: small, but information
    for before, after in [(0.0, 0.1), (0.1, 1e-9), (0.05, -0.05), (float("nan"), 0.1), (1.55e-8, 2.17e-8),
                          (0.5, 0.01), (0.01, 0.5)]:
        with pytest.raises(InputError):
            check_rescale(before, after, 0.8)


def test_prompt_editing_is_said_in_the_token_inspector(miniworld):
    assert "Prompt editing" in inspect_tokens(miniworld, "a [red:blue:3] circle").summary()
