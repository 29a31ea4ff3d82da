"""Seed -> initial noise: the pipeline's own draw, and A1111-style variations slerped toward other seeds."""
from __future__ import annotations

import torch

from explorer.text.vectors import slerp


def latent_shape(model, recipe, batch: int = 1) -> tuple:
    """(B, C, h, w) of the recipe's latents for this model."""
    scale = model.vae_scale_factor
    return (batch, model.pipe.unet.config.in_channels, recipe.height // scale, recipe.width // scale)


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


def initial_noise(recipe, shape: tuple, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """The recipe's initial noise: its seed's draw, slerped toward its variation seed, then each chained variation.

    Slerp over the whole noise tensor (Shoemake 1985), not per channel.
    """
    noise = seed_noise(recipe.seed, shape, dtype)
    if recipe.variation_seed is not None and recipe.variation_strength > 0:
        other = seed_noise(recipe.variation_seed, shape, dtype)
        noise = slerp(noise.flatten(), other.flatten(), recipe.variation_strength).reshape(shape)
    for variation in recipe.variations:
        other = seed_noise(variation.seed, shape, dtype)
        noise = slerp(noise.flatten(), other.flatten(), float(variation.strength)).reshape(shape)
    return noise
