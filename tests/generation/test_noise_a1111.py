"""Euler a with a variation seed draws AUTOMATIC1111's per-step noise: its ImageRNG, reimplemented here from
modules/rng.py and modules/processing.py (CPU RNG, one image), against the noise diffusers' sampler draws."""
from __future__ import annotations

import json

import pytest
import torch

import diffusers.schedulers.scheduling_euler_ancestral_discrete as euler_ancestral
from explorer.generation.generate import generate
from explorer.generation.noise import latent_shape
from explorer.generation.recipe import Recipe, recipe_defaults


def a1111_slerp(val, low, high):
    """modules/processing.py `slerp`, as A1111 has it."""
    low_norm = low / torch.norm(low, dim=1, keepdim=True)
    high_norm = high / torch.norm(high, dim=1, keepdim=True)
    dot = (low_norm * high_norm).sum(1)
    if dot.mean() > 0.9995:
        return low * val + high * (1 - val)
    omega = torch.acos(dot)
    so = torch.sin(omega)
    return (torch.sin((1.0 - val) * omega) / so).unsqueeze(1) * low + (torch.sin(val * omega) / so).unsqueeze(1) * high


class ImageRNG:
    """modules/rng.py `ImageRNG` for one image with the CPU RNG: first() the (varied) initial noise from the seed's
    generator, next() each later draw from the same generator (the sampler's per-step noise, TorchHijack)."""

    def __init__(self, shape, seed, subseed=None, subseed_strength=0.0):
        self.shape, self.subseed, self.strength = shape, subseed, subseed_strength
        self.generator = torch.Generator("cpu").manual_seed(seed)          # create_generator(seed)

    def first(self):
        noise = torch.randn(self.shape, generator=self.generator)          # randn(seed, shape, generator)
        if self.subseed is not None and self.strength != 0:
            with torch.random.fork_rng():                                    # randn(subseed, shape): the global RNG
                torch.manual_seed(self.subseed)
                noise = a1111_slerp(self.strength, noise, torch.randn(self.shape))
        return noise

    def next(self):
        return torch.randn(self.shape, generator=self.generator)          # randn_without_seed


@pytest.fixture
def step_noise(monkeypatch):
    """Every noise Euler a draws in its steps, in order."""
    drawn = []
    original = euler_ancestral.randn_tensor

    def recording(*args, **kwargs):
        noise = original(*args, **kwargs)
        drawn.append(noise.clone())
        return noise
    monkeypatch.setattr(euler_ancestral, "randn_tensor", recording)
    return drawn


STEPS = 4


def _a1111(recipe, shape):
    rng = ImageRNG(shape[1:], recipe.seed, recipe.variation_seed, recipe.variation_strength)
    first = rng.first()
    return first, [rng.next() for _ in range(STEPS - 1)]       # k-diffusion draws none at the last step (sigma 0)


def test_euler_a_with_a_variation_seed_draws_a1111s_step_noise(tiny_model, step_noise):
    recipe = recipe_defaults(tiny_model, "a lighthouse", seed=11, steps=STEPS, scheduler="euler_a",
                             variation_seed=7, variation_strength=0.3, variation_slerp="a1111")
    assert recipe.step_noise == "a1111"                       # new recipes follow A1111's rule
    shape = latent_shape(tiny_model, recipe)
    generate(tiny_model, recipe, watch=False)
    first, later = _a1111(recipe, shape)
    assert len(step_noise) == STEPS
    for i, expected in enumerate(later):
        assert torch.equal(step_noise[i][0], expected), f"step {i + 1}"
    assert not torch.equal(step_noise[0][0], torch.randn(shape[1:], generator=torch.Generator().manual_seed(11)))


def test_without_a_variation_the_pipeline_already_drew_as_a1111(tiny_model, step_noise):
    recipe = recipe_defaults(tiny_model, "a lighthouse", seed=5, steps=STEPS, scheduler="euler_a")
    generate(tiny_model, recipe, watch=False)
    _, later = _a1111(recipe, latent_shape(tiny_model, recipe))
    assert all(torch.equal(step_noise[i][0], expected) for i, expected in enumerate(later))


def test_earlier_recipes_keep_their_step_noise(tiny_model, step_noise):
    """A recipe written before (no step_noise in its JSON) restarts the generator at the seed, as it was made."""
    made = recipe_defaults(tiny_model, "a lighthouse", seed=11, steps=STEPS, scheduler="euler_a", variation_seed=7,
                           variation_strength=0.3)
    data = json.loads(made.to_json())
    del data["step_noise"]
    earlier = Recipe.from_dict(data)
    assert earlier.step_noise == "seed"
    shape = latent_shape(tiny_model, earlier)
    old = generate(tiny_model, earlier, watch=False).image
    assert torch.equal(step_noise[0][0], torch.randn(shape[1:], generator=torch.Generator().manual_seed(11)))
    new = generate(tiny_model, made, watch=False).image
    assert old.tobytes() != new.tobytes()
