"""The foundation on tiny-random: bit-identical to diffusers, steps watched, bad input refused."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from explorer.errors import InputError
from explorer.generation.generate import generate
from explorer.generation.recipe import recipe_defaults
from explorer.generation.schedulers import make_scheduler
from explorer.generation.watch import settle_step
from explorer.models.presets import SCHEDULERS


def _plain(model, recipe):
    """The reference: diffusers' own pipeline with the same settings and a fresh CPU generator."""
    pipe = model.pipe
    original = pipe.scheduler
    pipe.scheduler = make_scheduler(recipe.scheduler, model.base_scheduler_config)
    try:
        return pipe(recipe.prompt, negative_prompt=recipe.negative_prompt or None,
                    num_inference_steps=recipe.steps, guidance_scale=recipe.guidance, width=recipe.width,
                    height=recipe.height, generator=torch.Generator("cpu").manual_seed(recipe.seed)).images[0]
    finally:
        pipe.scheduler = original


# the six first schedulers, and one of each further kind of step (issue 31's A1111 samplers: Karras, SDE noise, second
# order, ancestral second order, UniPC, LCM); the others differ from one of these only by their sigmas (checked against
# k-diffusion's in tests/generation/test_schedulers.py) or, DPM2, by its ancestral noise: each run costs 2-5 s here
BIT_IDENTICAL = ["ddim", "euler", "euler_a", "dpm++2m", "pndm", "lms", "dpm++2m_karras", "dpm++2m_sde_karras", "heun",
                 "dpm2_a_karras", "unipc", "lcm"]


def test_the_bit_identical_list_names_schedulers_that_exist():
    assert set(BIT_IDENTICAL) <= set(SCHEDULERS)


@pytest.mark.parametrize("scheduler", BIT_IDENTICAL)
def test_bit_identical_to_diffusers(tiny_model, scheduler):
    recipe = recipe_defaults(tiny_model, "a lighthouse at dawn", seed=7, steps=4, scheduler=scheduler,
                             negative_prompt="blurry")
    ours = generate(tiny_model, recipe)
    assert np.array_equal(np.asarray(ours.image), np.asarray(_plain(tiny_model, recipe)))
    assert len(ours.steps) >= 4          # PNDM's PLMS warm-up adds one step


def test_deterministic_and_seed_matters(tiny_model):
    recipe = recipe_defaults(tiny_model, "a red fox", seed=1, steps=3)
    a = np.asarray(generate(tiny_model, recipe, watch=False).image)
    b = np.asarray(generate(tiny_model, recipe, watch=False).image)
    c = np.asarray(generate(tiny_model, recipe.with_(seed=2), watch=False).image)
    assert np.array_equal(a, b)
    assert not np.array_equal(a, c)


def test_steps_are_watched(tiny_model):
    seen = []
    recipe = recipe_defaults(tiny_model, "a red fox", seed=1, steps=5)
    result = generate(tiny_model, recipe, on_step=seen.append)
    assert [s.index for s in seen] == [0, 1, 2, 3, 4]
    assert seen[0].timestep > seen[-1].timestep
    assert seen[0].noisy.shape == seen[0].x0.shape == (recipe.height // 2, recipe.width // 2, 3)   # approx: one pixel per latent (VAE factor 2)
    assert seen[0].change is None and all(s.change >= 0 for s in seen[1:])
    assert result.steps == seen


def test_cancel_keeps_partial(tiny_model):
    import threading

    stop = threading.Event()
    recipe = recipe_defaults(tiny_model, "a red fox", seed=1, steps=6)
    result = generate(tiny_model, recipe, on_step=lambda p: stop.set() if p.index == 1 else None, cancel=stop)
    assert result.cancelled and len(result.steps) == 2 and result.image is not None


def test_settle_step():
    assert settle_step([None, 1.0, 0.5, 0.05, 0.01]) == 3
    assert settle_step([None]) is None


@pytest.mark.parametrize("field,value", [("width", 65), ("height", 2048), ("steps", 0), ("steps", 10_000),
                                         ("seed", -1), ("seed", 2**32), ("seed", 1.5), ("scheduler", "magic"),
                                         ("prompt", "   "), ("guidance", float("nan")), ("preview", "x")])
def test_bad_recipe_names_field(tiny_model, field, value):
    recipe = recipe_defaults(tiny_model, "a red fox", steps=2).with_(**{field: value})
    with pytest.raises(InputError) as info:
        generate(tiny_model, recipe)
    assert info.value.field == field and repr(value) in str(info.value)


def test_overlong_prompt_names_cut_words(tiny_model):
    prompt = " ".join(["cat"] * 75 + ["zebra", "giraffe"])
    with pytest.raises(InputError) as info:
        generate(tiny_model, recipe_defaults(tiny_model, prompt, steps=1))
    assert "at most 75 tokens" in str(info.value) and "zebra giraffe" in str(info.value)
