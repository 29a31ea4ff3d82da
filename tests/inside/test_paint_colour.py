"""Painting a colour other than yellow, as calibrated (assets/miniworld/sae/paint_colours.json, chosen by
`python -m explorer.inside.calibrate --calibrate` on seeds from 1000): the oracle reads the colour inside the object's
box on new seeds and the pixels outside it stay; the CLI paints a colour by name and refuses a paint with neither a
feature nor a colour."""
from __future__ import annotations

import pytest

from explorer.cli import features as features_cli
from explorer.cli import main
from explorer.generation.recipe import recipe_defaults
from explorer.inside.microscope import Microscope
from explorer.inside.calibrate import CALIBRATION_SEEDS
from explorer.inside.paint import base_colour, colour_paint, measure_paint

COLOUR = "green"               # its purest labelled feature turns a red square orange; the calibrated one writes green
SEEDS = (0, 1, 2)              # of the bench's 32 (none a calibration seed)


@pytest.fixture(scope="module")
def scope(miniworld):
    return Microscope.for_model(miniworld)


def test_the_calibrated_green_paints_green_inside_the_box_only(miniworld, scope):
    assert not set(SEEDS) & set(scope.colours["seeds"]) and scope.colours["seeds"][0] == CALIBRATION_SEEDS[0]
    paint = colour_paint(COLOUR, (0, 0, 8, 8), scope.colours)
    prompt = f"a large {base_colour(COLOUR)} square in the middle"
    recipes = [recipe_defaults(miniworld, prompt, seed=s) for s in SEEDS]
    trials = measure_paint(miniworld, scope.saes, paint.block, paint.feature, recipes, paint.strength,
                           paint.steps_from, paint.steps_to, subtract=paint.subtract)
    assert all(t.before == base_colour(COLOUR) for t in trials)                  # the plain squares are red
    assert sum(t.flipped(COLOUR) for t in trials) >= 2, [t.after for t in trials]
    assert sum(t.outside for t in trials) / len(trials) <= 0.05                    # mean share outside the box


def test_paint_refuses_neither_feature_nor_colour_and_an_unknown_colour(miniworld, capsys, monkeypatch, tmp_path):
    monkeypatch.setattr(features_cli, "load", lambda args: miniworld)
    base = ["paint", "--model", "miniworld", "--prompt", "a red circle", "--box", "0,0,8,8", "--seed", "0",
            "--out", str(tmp_path / "x.png")]
    assert main([*base, "--block", "up_blocks.1.attentions.0"]) == 2
    assert capsys.readouterr().err.startswith("error: feature:")
    assert main([*base, "--colour", "teal"]) == 2
    assert capsys.readouterr().err.startswith("error: colour:")
    assert not (tmp_path / "x.png").exists()


def test_a_swap_paints_one_feature_in_and_the_other_out_at_one_scale():
    import torch

    from explorer.inside.paint import Paint, PaintHook, box_mask
    from explorer.inside.sae import TopKSAE
    sae = TopKSAE(4, 8, k=2)
    sae.mean.fill_(2.0)
    hook = PaintHook(sae, Paint("b", 3, (0, 0, 32, 32), 1.5, 0, 25, subtract=5), (64, 64), guided=False)
    out = hook(None, (torch.zeros(1, 4, 8, 8),), (torch.zeros(1, 4, 8, 8),))[0]
    vector = (sae.direction(3) - sae.direction(5)).detach() * 2.0 * 1.5
    assert torch.allclose(out[0], vector[:, None, None] * box_mask((0, 0, 32, 32), (64, 64), (8, 8)))
