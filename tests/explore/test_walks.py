"""Walks between prompts and seeds: ends equal plain generations, batching changes nothing visible.

Tolerance: batched and one-at-a-time UNet passes differ only by float rounding of batched matrix
products; on the tiny model that is at most 2/255 per pixel channel (measured: 0 or 1).
"""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from explorer.config import ExplorerConfig
from explorer.errors import InputError
from explorer.explore.curves import flip_positions, response_curves
from explorer.explore.walks import (check_ends, equal_change_positions, export_walk, interpolate, save_frames,
                                    schedule_positions)
from explorer.generation.generate import generate
from explorer.generation.noise import initial_noise, latent_shape
from explorer.generation.recipe import recipe_defaults
from explorer.models.vision import load_vision
from explorer.outputs.png import read_png_recipe

PIXEL_TOL = 2          # max |difference| per channel (of 255) between batched and one-at-a-time images


def _diff(a, b) -> float:
    return float(np.abs(np.asarray(a, np.int16) - np.asarray(b, np.int16)).max())


@pytest.fixture(scope="module")
def base(tiny_model):
    return recipe_defaults(tiny_model, "x", steps=2, width=64, height=64, scheduler="ddim")


@pytest.fixture(scope="module")
def prompt_walk(tiny_model, base):
    return interpolate(tiny_model, base, ["a red circle", "a blue square"], [5], 3, batch_size=3)


# --- pure helpers ------------------------------------------------------------------------------
def test_schedules_keep_the_ends_and_ease_is_symmetric():
    for name in ("linear", "ease"):
        t = schedule_positions(5, name)
        assert t[0] == 0 and t[-1] == 1 and np.all(np.diff(t) > 0)
    ease = schedule_positions(6, "ease")
    np.testing.assert_allclose(ease + ease[::-1], 1, atol=1e-12)


def test_equal_change_positions_spend_frames_where_change_is_fast():
    ts = np.array([0.0, 0.5, 1.0])
    pos = equal_change_positions(ts, np.array([0.0, 1.0]), 5)   # nothing changes in the first half
    assert pos[0] == 0 and pos[-1] == 1 and np.sum(pos > 0.5) >= 3


def test_flip_is_where_the_nearest_end_changes():
    sim = np.array([[1, 0], [0.8, 0.3], [0.4, 0.6], [0, 1]])
    assert flip_positions(np.array([0, 1 / 3, 2 / 3, 1]), sim) == [pytest.approx(0.5)]


def test_bad_ends_and_limits_are_refused():
    cfg = ExplorerConfig(max_frames=10)
    with pytest.raises(InputError, match="at least 2 prompts"):
        check_ends(["a"], [1], 4, cfg)
    with pytest.raises(InputError, match="seeds"):
        check_ends(["a", "b", "c"], [1, 2], 4, cfg)
    with pytest.raises(InputError, match="frames"):
        check_ends(["a", "b", "c"], [1], 6, cfg)                # 2 * 5 + 1 = 11 > 10
    with pytest.raises(InputError, match="frames"):
        check_ends(["a", "b"], [1], 1, cfg)
    with pytest.raises(InputError, match="seeds"):
        check_ends(["a", "b"], [-1], 3, cfg)


# --- against plain generations -------------------------------------------------------------------
def test_prompt_walk_ends_equal_plain_generations(tiny_model, base, prompt_walk):
    frames = prompt_walk.frames
    assert len(frames) == 3 and [f.t for f in frames] == [0, 0.5, 1]
    a = generate(tiny_model, base.with_(prompt="a red circle", seed=5), watch=False).image
    b = generate(tiny_model, base.with_(prompt="a blue square", seed=5), watch=False).image
    assert _diff(frames[0].image, a) <= PIXEL_TOL and _diff(frames[-1].image, b) <= PIXEL_TOL
    assert _diff(frames[0].image, frames[-1].image) > 10        # the walk does go somewhere


def test_batched_frames_equal_one_at_a_time(tiny_model, base, prompt_walk):
    single = interpolate(tiny_model, base, ["a red circle", "a blue square"], [5], 3, batch_size=1)
    for x, y in zip(prompt_walk.frames, single.frames):
        assert _diff(x.image, y.image) <= PIXEL_TOL


def test_a_frame_recipe_makes_the_frame_again(tiny_model, prompt_walk, tmp_path):
    middle = prompt_walk.frames[1]
    assert middle.recipe.walk.t == 0.5
    path = save_frames([middle], tmp_path)[0]
    recipe = read_png_recipe(path)
    assert (recipe.walk.a, recipe.walk.b) == ("a red circle", "a blue square")
    assert _diff(generate(tiny_model, recipe, watch=False).image, middle.image) <= PIXEL_TOL


def test_seed_slerp_at_strength_0_and_1_is_the_two_seeds(tiny_model, base):
    shape = latent_shape(tiny_model, base)
    a = initial_noise(base.with_(seed=1), shape)
    b = initial_noise(base.with_(seed=2), shape)
    torch.testing.assert_close(initial_noise(base.with_(seed=1, variation_seed=2, variation_strength=0.0), shape), a,
                               rtol=0, atol=0)
    torch.testing.assert_close(initial_noise(base.with_(seed=1, variation_seed=2, variation_strength=1.0), shape), b,
                               rtol=1e-5, atol=1e-5)
    walk = interpolate(tiny_model, base.with_(prompt="a cat"), ["a cat"], [1, 2], 3, batch_size=3)
    assert walk.kind == "seed walk"
    plain_b = generate(tiny_model, base.with_(prompt="a cat", seed=2), watch=False).image
    assert _diff(walk.frames[-1].image, plain_b) <= PIXEL_TOL       # DDIM (eta 0): no step noise
    mid = walk.frames[1].recipe
    assert (mid.seed, mid.variation_seed, mid.variation_strength) == (1, 2, 0.5)
    assert _diff(generate(tiny_model, mid, watch=False).image, walk.frames[1].image) <= PIXEL_TOL


def test_export_and_response_curves(tiny_model, prompt_walk, tmp_path):
    save_frames(prompt_walk.frames, tmp_path)
    out = export_walk(prompt_walk, tmp_path)
    assert out["gif"].stat().st_size > 0 and out["mp4"].stat().st_size > 0
    data = json.loads(out["recipes"].read_text())
    assert len(data["frames"]) == 3 and data["frames"][1]["recipe"]["walk"]["t"] == 0.5
    curves = response_curves(tiny_model, prompt_walk, load_vision(tiny_model))
    assert set(curves.measures) == {"text (pooled)", "pixels", "CLIP image-text"}
    text = curves.measures["text (pooled)"]
    assert text[0, 0] == pytest.approx(1, abs=1e-5) and text[-1, 1] == pytest.approx(1, abs=1e-5)
    assert len(curves.flips["text (pooled)"]) == 1                    # one flip from A to B


def test_cancel_keeps_finished_batches(tiny_model, base):
    import threading

    stop = threading.Event()
    walk = interpolate(tiny_model, base, ["a", "b"], [3], 4, batch_size=2,
                       cancel=stop, on_frames=lambda frames: stop.set())
    assert walk.cancelled and len(walk.done) == 2


def test_cli_interpolate(tmp_path):
    from explorer.cli import main

    gif = tmp_path / "walk.gif"
    args = ["interpolate", "--model", "tiny-random", "--prompts", "a red circle", "a blue square", "--frames", "3",
            "--seed", "1", "--steps", "2", "--out", str(gif), "--outputs", str(tmp_path / "out")]
    assert main(args) == 0 and gif.is_file()
    assert main(args) == 2                                          # never overwrites
    assert main(["interpolate", "--model", "tiny-random", "--prompts", "a", "b", "--frames", "999", "--out",
                 str(tmp_path / "x.gif")]) == 2
