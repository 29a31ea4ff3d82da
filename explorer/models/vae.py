"""The VAE between pixels and pipeline latents, as the pipelines use it (scaling, SDXL's float16 upcast).

SDXL's VAE overflows in float16 (its config says `force_upcast`); StableDiffusionXLPipeline then
decodes in float32 (pipeline_stable_diffusion_xl.py, `needs_upcasting`). Every decode the explorer
does outside the pipeline (full previews, Composable Diffusion, the forward process) goes through
here, so it follows the same rule. The caller holds the model's lock (the dtype switch is shared state).
"""
from __future__ import annotations

from contextlib import contextmanager

import torch


@contextmanager
def vae_precision(vae):
    """Run the VAE in float32 while inside when it is float16 and its config asks for an upcast."""
    upcast = vae.dtype == torch.float16 and bool(getattr(vae.config, "force_upcast", False))
    if upcast:
        vae.to(dtype=torch.float32)
    try:
        yield vae.dtype
    finally:
        if upcast:
            vae.to(dtype=torch.float16)


def _mean_std(vae, like: torch.Tensor):
    mean, std = getattr(vae.config, "latents_mean", None), getattr(vae.config, "latents_std", None)
    if mean is None or std is None:
        return None
    shape = (1, len(mean), 1, 1)
    return (torch.tensor(mean).view(shape).to(like.device, like.dtype),
            torch.tensor(std).view(shape).to(like.device, like.dtype))


def _shift(vae) -> float:
    """The VAE's shift_factor (SD3 and FLUX VAEs: latents are (z - shift) * scale), 0 where it has none."""
    return float(getattr(vae.config, "shift_factor", None) or 0.0)


@torch.no_grad()
def decode(pipe, latents: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """Pipeline latents (B, C, h, w) -> images (B, 3, H, W) in about [-1, 1], as the pipeline decodes them."""
    vae = pipe.vae
    with vae_precision(vae) as dtype:
        latents = latents.to(vae.device, dtype)
        stats = _mean_std(vae, latents)
        if stats is not None:
            latents = latents * stats[1] / vae.config.scaling_factor + stats[0]
        else:
            latents = latents / vae.config.scaling_factor + _shift(vae)         # SD3, FLUX: + shift_factor
        return vae.decode(latents, return_dict=False, generator=generator)[0]


@torch.no_grad()
def encode(pipe, pixels: torch.Tensor) -> torch.Tensor:
    """Images (B, 3, H, W) in [-1, 1] -> the latent the UNet is trained on, z0 = E(x) * scaling_factor."""
    vae = pipe.vae
    with vae_precision(vae) as dtype:
        latents = vae.encode(pixels.to(vae.device, dtype)).latent_dist.mean
        stats = _mean_std(vae, latents)
        if stats is not None:
            return (latents - stats[0]) * vae.config.scaling_factor / stats[1]
        return (latents - _shift(vae)) * vae.config.scaling_factor
