"""A classroom on one machine: users' images batched through one UNet call, each bit-identical to its solo run."""
from __future__ import annotations

import threading

import numpy as np
import pytest
import torch

from explorer.config import ExplorerConfig
from explorer.generation.attention import AttentionMaps
from explorer.generation.batcher import Batcher, Waiting
from explorer.generation.conditioning import conditioning_for
from explorer.generation.generate import generate
from explorer.generation.invariant import guidance_groups, per_image_rows
from explorer.generation.recipe import recipe_defaults
from explorer.generation.together import generate_together

PROMPTS = ["a red circle on the left", "a blue square", "a green triangle", "a yellow circle at the top"]


def _recipes(model, scheduler="ddim", steps=4):
    return [recipe_defaults(model, p, seed=11 * k, steps=steps, scheduler=scheduler,
                            negative_prompt="blurry" if k % 2 else "") for k, p in enumerate(PROMPTS)]


def _same(a, b) -> bool:
    return np.array_equal(np.asarray(a), np.asarray(b))


@pytest.mark.parametrize("name,scheduler,preview", [("tiny_model", "ddim", "approx"), ("tiny_model", "euler_a", "full"),
                                                    ("tiny_xl", "euler", "approx"), ("tiny_xl", "euler_a", "approx")])
def test_together_is_bit_identical_to_solo(request, name, scheduler, preview):
    """Pixels and every attention map of each image equal its one-image generate() (SDXL too: its added-condition
    embedding sees one row per image; euler_a: each image's own step noise). Step previews are decoded for the
    whole batch at once: approx previews are exact, VAE previews within 1/255 (a batched decode's last bit)."""
    model = request.getfixturevalue(name)
    recipes = [r.with_(preview=preview) for r in _recipes(model, scheduler)]
    solo = [generate(model, r, attention=True) for r in recipes]
    together = generate_together(model, recipes, [conditioning_for(model, r) for r in recipes], attention=True)
    for alone, shared in zip(solo, together):
        assert _same(alone.image, shared.image)
        assert len(alone.steps) == len(shared.steps)
        tolerance = 0 if preview == "approx" else 1
        assert all(np.abs(p.x0.astype(int) - q.x0).max() <= tolerance and
                   np.abs(p.noisy.astype(int) - q.noisy).max() <= tolerance for p, q in zip(alone.steps, shared.steps))
        assert isinstance(shared.attention, AttentionMaps) and shared.attention.rows == alone.attention.rows
        assert np.array_equal(alone.attention.steps, shared.attention.steps)


def test_one_user_stops_the_others_go_on(tiny_model):
    """Stop ends one image at its step (the partial image a solo run stopped there gives); the rest finish."""
    recipes = _recipes(tiny_model, steps=6)
    cancels = [None, threading.Event(), None, None]
    stop_at = 2

    def watch(preview):
        if preview.index == stop_at:
            cancels[1].set()

    together = generate_together(tiny_model, recipes, [conditioning_for(tiny_model, r) for r in recipes],
                                 on_steps=[None, watch, None, None], cancels=cancels)
    alone_cancel = threading.Event()

    def watch_alone(preview):
        if preview.index == stop_at:
            alone_cancel.set()

    stopped = generate(tiny_model, recipes[1], cancel=alone_cancel, on_step=watch_alone)
    assert together[1].cancelled and stopped.cancelled and len(together[1].steps) == stop_at + 1
    assert _same(together[1].image, stopped.image)
    for k in (0, 2, 3):
        assert not together[k].cancelled and len(together[k].steps) == 6
        assert _same(together[k].image, generate(tiny_model, recipes[k], watch=False).image)


def test_per_image_rows_computes_each_image_as_alone():
    """The 2-D linear layers (timestep embedding) see each image's [negative, positive] rows in one product."""
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(32, 128), torch.nn.SiLU(), torch.nn.Linear(128, 128))
    x = torch.randn(16, 32)
    groups = guidance_groups(8, guided=True)
    assert groups[3] == [3, 11]
    with per_image_rows(net, groups):
        batched = net(x)
        tokens = net(torch.randn(16, 5, 32))                 # 3-D inputs pass through unchanged
    assert tokens.shape == (16, 5, 128)
    for g in groups:
        assert torch.equal(batched[g], net(x[g]))
    assert "forward" not in vars(net[0])                     # restored


def test_a_unet_batch_of_eight_equals_solo_runs_on_one_thread(tiny_model):
    """On one CPU thread (a one-core machine, OMP_NUM_THREADS=1) a 1x1 convolution over 16 rows is blocked otherwise
    than over 2 and differs in the last bit: without its grouping in per_image_rows, 8 images batched were not their
    solo runs (tiny-random, 16x16 latents; miniworld and tiny-random-xl the same)."""
    unet, threads = tiny_model.denoiser, torch.get_num_threads()
    torch.manual_seed(0)
    x = torch.randn(16, unet.config.in_channels, 16, 16)
    text = torch.randn(16, 77, unet.config.cross_attention_dim)
    torch.set_num_threads(1)
    try:
        with torch.no_grad():
            with per_image_rows(unet, guidance_groups(8, guided=True)):
                batched = unet(x, 500, text).sample
            for g in guidance_groups(8, guided=True):
                with per_image_rows(unet, [[0, 1]]):
                    assert torch.equal(batched[g], unet(x[g], 500, text[g]).sample), g
    finally:
        torch.set_num_threads(threads)


def test_batcher_batches_compatible_requests_and_reports_waiting(tiny_model):
    """Requests that arrive together and share settings run as one batch; another setting runs in its own; a
    request waiting behind a running batch hears its position; every result equals its solo run."""
    batcher = Batcher(tiny_model, ExplorerConfig(), size=8, window_s=1.0)
    recipes = _recipes(tiny_model, steps=3) + [recipe_defaults(tiny_model, "a blue square", seed=3, steps=5)]
    results, waits = [None] * len(recipes), []

    def ask(k):
        results[k] = batcher.generate(recipes[k], on_wait=waits.append)

    threads = [threading.Thread(target=ask, args=(k,)) for k in range(len(recipes))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=300)
    assert sorted(batcher.batches) == [1, 4]
    for recipe, result in zip(recipes, results):
        assert _same(result.image, generate(tiny_model, recipe, watch=False).image)
    assert waits and all(isinstance(w, Waiting) for w in waits)
    assert max(w.ahead for w in waits) >= 1 and "Waiting for the model" in waits[-1].sentence()


def test_batcher_passes_errors_to_their_caller(tiny_model):
    batcher = Batcher(tiny_model, ExplorerConfig(), size=4, window_s=0.0)
    bad = recipe_defaults(tiny_model, "a fox", steps=3).with_(scheduler="nonsense")
    with pytest.raises(Exception, match="scheduler"):
        batcher.generate(bad)
    assert _same(batcher.generate(recipe_defaults(tiny_model, "a fox", steps=3)).image,
                 generate(tiny_model, recipe_defaults(tiny_model, "a fox", steps=3), watch=False).image)


@pytest.mark.parametrize("scheduler", ["ddim", "euler_a"])
def test_feature_batches_equal_solo_runs_too(tiny_model, scheduler):
    """Search results, probe images, walk frames and blend panels (generation.batches) are their solo images, bit for
    bit: a seed gives the same picture in every view."""
    from explorer.generation.batches import render_recipes

    recipes = _recipes(tiny_model, scheduler, steps=3)
    images, cancelled = render_recipes(tiny_model, recipes, batch_size=3)
    assert not cancelled and len(images) == 4
    for recipe, image in zip(recipes, images):
        assert _same(image, generate(tiny_model, recipe, watch=False).image)
