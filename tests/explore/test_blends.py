"""Blend operators and Composable Diffusion on tiny-random."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from explorer.errors import InputError
from explorer.explore.blends import OPERATORS, compare
from explorer.generation.composable import composed_noise
from explorer.generation.conditioning import negative_sequences, sequences, slerp_sequences
from explorer.generation.generate import generate
from explorer.generation.recipe import Blend, Recipe, recipe_defaults
from explorer.outputs.png import read_png_recipe, save_png
from explorer.text.encoding import encode_conditioning
from explorer.text.vectors import slerp


def _and(recipe, a, b, weights=(1.0, 1.0)):
    return recipe.with_(prompt=f"{a} AND {b}", blend=Blend("and", a, b, weights=weights))


@pytest.mark.parametrize("scheduler", ["ddim", "euler_a"])
def test_and_with_one_prompt_is_plain_generation(tiny_model, scheduler):
    """Bit-identical: same noise draws, same UNet batch [uncond, cond], and e_u + (1*g)*(e_1 - e_u) is the
    pipeline's own expression when w*g == g exactly (w = 1.0); euler_a also draws its step noise alike."""
    recipe = recipe_defaults(tiny_model, "a lighthouse", seed=11, steps=3, scheduler=scheduler,
                             negative_prompt="fog")
    plain = generate(tiny_model, recipe, watch=False)
    # AND of one prompt (weight 1): a composable Conditioning of one sequence, through the family's adapter
    one_term = tiny_model.adapter.make_conditioning(tiny_model.pipe, sequences(tiny_model, "a lighthouse"),
                                                    negative_sequences(tiny_model, "fog"), (1.0,))
    assert one_term.composable and len(one_term) == 1
    composed = generate(tiny_model, recipe, conditioning=one_term, watch=True)
    assert np.array_equal(np.asarray(plain.image), np.asarray(composed.image))
    assert len(composed.steps) == 3


def test_and_of_two_prompts_differs_and_weights_matter(tiny_model):
    recipe = recipe_defaults(tiny_model, "x", seed=2, steps=2)
    one = np.asarray(generate(tiny_model, _and(recipe, "a cat", "a dog", (1.0, 1.0)), watch=False).image)
    two = np.asarray(generate(tiny_model, _and(recipe, "a cat", "a dog", (1.0, 0.3)), watch=False).image)
    assert not np.array_equal(one, two)
    with pytest.raises(InputError, match="weight"):
        generate(tiny_model, _and(recipe, "a cat", "a dog", (float("nan"), 1.0)), watch=False)
    with pytest.raises(InputError, match="terms"):     # AND without its terms (a recipe of an earlier version)
        legacy = {k: v for k, v in recipe.to_dict().items() if k not in ("blend", "walk", "variations", "origin")}
        generate(tiny_model, Recipe.from_dict({**legacy, "extra": {"operator": "and", "terms": []}}), watch=False)


def test_composed_noise_formula():
    eu, e = torch.zeros(1, 4, 2, 2), torch.stack([torch.ones(4, 2, 2), 2 * torch.ones(4, 2, 2)])
    out = composed_noise(eu, e, [0.5, 0.25], 4.0)          # 0.5*4*1 + 0.25*4*2 = 4
    assert torch.equal(out, torch.full((1, 4, 2, 2), 4.0))


def test_slerp_operator(tiny_model):
    a, b = encode_conditioning(tiny_model, "van gogh"), encode_conditioning(tiny_model, "astronaut")
    assert torch.equal(slerp_sequences(tiny_model, "van gogh", "astronaut"), slerp(a, b, 0.5, dim=-1))


def test_comparator_panels_recipes_and_batching(tiny_model):
    base = recipe_defaults(tiny_model, "x", seed=4, steps=2)
    result = compare(tiny_model, "van Gogh", "astronaut", base)
    assert [p.operator for p in result.panels] == list(OPERATORS) and result.batched
    by_op = {p.operator: p for p in result.panels}
    assert by_op["a"].sim_a == pytest.approx(1.0, abs=1e-5) and by_op["b"].sim_b == pytest.approx(1.0, abs=1e-5)
    assert by_op["lerp"].sim_a == pytest.approx(by_op["lerp"].sim_b, abs=1e-4)   # midpoint of equal-norm pooled
    assert result.vision_note
    assert all(panel.recipe.blend.operator == panel.operator for panel in result.panels)
    for panel in (by_op["lerp"], by_op["slerp"], by_op["and"]):
        # each recipe regenerates its panel: batched panels equal separate runs within float tolerance
        # (CPU kernels sum in a batch-size-dependent order); AND runs alone, so it is bit-identical
        again = np.asarray(generate(tiny_model, panel.recipe, watch=False).image).astype(int)
        tolerance = 0 if panel.operator == "and" else 2
        assert np.abs(again - np.asarray(panel.image).astype(int)).max() <= tolerance, panel.operator


def test_every_panel_recipe_survives_a_png_round_trip_and_regenerates_its_panel(tiny_model, tmp_path):
    base = recipe_defaults(tiny_model, "x", seed=4, steps=2)
    result = compare(tiny_model, "van Gogh", "astronaut", base, vision=False)
    assert result.batched and {p.operator for p in result.panels} == set(OPERATORS)
    for panel in result.panels:
        recipe = read_png_recipe(save_png(panel.image, panel.recipe, tmp_path, stem=f"panel-{panel.operator}"))
        assert recipe == panel.recipe, panel.operator
        # same tolerance as the batching test: batched panels within float rounding, AND (run alone) exact
        again = np.asarray(generate(tiny_model, recipe, watch=False).image).astype(int)
        tolerance = 0 if panel.operator == "and" else 2
        assert np.abs(again - np.asarray(panel.image).astype(int)).max() <= tolerance, panel.operator


@pytest.mark.parametrize("a, b, match", [("", "astronaut", "a:"), ("cat", "   ", "b:"),
                                         ("cat " * 40, "dog " * 40, "a, b"), ("say \"hi\" 'x'", "dog", "quotes")])
def test_comparator_bad_input(tiny_model, a, b, match):
    with pytest.raises(InputError, match=match):
        compare(tiny_model, a, b, recipe_defaults(tiny_model, "x", steps=2))


def test_cli_blend_writes_seven_pngs(tmp_path, capsys):
    from explorer.cli import main

    out = tmp_path / "blend"
    assert main(["blend", "--model", "tiny-random", "--a", "van Gogh", "--b", "astronaut", "--seed", "1",
                 "--steps", "2", "--out-dir", str(out)]) == 0
    files = sorted(out.glob("*.png"))
    assert len(files) == 7
    assert {read_png_recipe(f).blend.operator for f in files} == set(OPERATORS)
    capsys.readouterr()
    assert main(["blend", "--model", "tiny-random", "--steps", "2", "--out-dir", str(out)]) == 2
    assert "never overwritten" in capsys.readouterr().err
