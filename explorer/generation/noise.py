"""Seed -> initial noise: the pipeline's own draw, and A1111-style variations slerped toward other seeds."""
from __future__ import annotations

import torch

from explorer.text.vectors import slerp


def latent_shape(model, recipe, batch: int = 1) -> tuple:
    """(B, C, h, w) of the recipe's latents for this model."""
    return model.adapter.latent_shape(model.pipe, batch, recipe.height, recipe.width)


def draw_noise(generator: torch.Generator, shape: tuple, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """One draw of initial noise from a generator, as diffusers' prepare_latents makes it (advances it)."""
    from diffusers.utils.torch_utils import randn_tensor

    return randn_tensor(shape, generator=generator, dtype=dtype)


def seed_noise(seed: int, shape: tuple, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """The seed's initial noise: a fresh CPU generator per seed, so the same seed gives the same noise anywhere."""
    return draw_noise(torch.Generator("cpu").manual_seed(int(seed)), shape, dtype)


def pipeline_draws_noise(recipe) -> bool:
    """True when the recipe's noise is the seed's plain draw, which the pipeline makes itself."""
    varied = recipe.variation_seed is not None and recipe.variation_strength > 0
    return not varied and not recipe.variations


def sampler_generator(recipe, shape: tuple, dtype: torch.dtype = torch.float32,
                      pipeline_draws: bool = False) -> torch.Generator:
    """The CPU generator the sampler draws each step's noise from (ancestral and SDE samplers): the seed's, past one
    draw of the initial noise, as AUTOMATIC1111's ImageRNG continues it (modules/rng.py `next`).

    `pipeline_draws`: diffusers' pipeline draws the seed's plain noise from it itself (then it is returned fresh).
    Recipes with `step_noise` "seed" (made before A1111's rule was followed) start it again at the seed after a
    variation, so their first ancestral draw repeats the seed's noise as it did when they were made.
    """
    generator = torch.Generator("cpu").manual_seed(int(recipe.seed))
    if not pipeline_draws and (pipeline_draws_noise(recipe) or getattr(recipe, "step_noise", "seed") == "a1111"):
        draw_noise(generator, shape, dtype)
    return generator


def a1111_slerp(val: float, low: torch.Tensor, high: torch.Tensor) -> torch.Tensor:
    """AUTOMATIC1111's variation slerp (modules/processing.py `slerp`), kept exactly as it is there.

    low, high: one image's noise (C, H, W). Norms and angles are taken along dim 1, i.e. per (channel,
    column) over the rows, and when the vectors are nearly parallel on average it falls back to
    `low * val + high * (1 - val)` (the weights swapped, as in A1111).
    """
    low_norm = low / torch.norm(low, dim=1, keepdim=True)
    high_norm = high / torch.norm(high, dim=1, keepdim=True)
    dot = (low_norm * high_norm).sum(1)
    if dot.mean() > 0.9995:
        return low * val + high * (1 - val)
    omega = torch.acos(dot)
    so = torch.sin(omega)
    return (torch.sin((1.0 - val) * omega) / so).unsqueeze(1) * low + (torch.sin(val * omega) / so).unsqueeze(1) * high


def _toward(noise: torch.Tensor, other: torch.Tensor, strength: float, how: str) -> torch.Tensor:
    if how == "a1111":                                    # per image of the batch, as A1111 makes each image
        return torch.stack([a1111_slerp(strength, a, b) for a, b in zip(noise, other)])
    return slerp(noise.flatten(), other.flatten(), strength).reshape(noise.shape)


def initial_noise(recipe, shape: tuple, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """The recipe's initial noise: its seed's draw, slerped toward its variation seed, then each chained variation.

    `recipe.variation_slerp` "tensor" (the explorer's own recipes): slerp over the whole noise tensor
    (Shoemake 1985); "a1111" (recipes read from AUTOMATIC1111 PNGs): A1111's own slerp, so its
    variation seeds give its noise.
    """
    how = getattr(recipe, "variation_slerp", "tensor")
    noise = seed_noise(recipe.seed, shape, dtype)
    if recipe.variation_seed is not None and recipe.variation_strength > 0:
        noise = _toward(noise, seed_noise(recipe.variation_seed, shape, dtype), recipe.variation_strength, how)
    for variation in recipe.variations:
        noise = _toward(noise, seed_noise(variation.seed, shape, dtype), float(variation.strength), how)
    return noise
