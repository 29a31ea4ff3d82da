"""Composable Diffusion's AND: one UNet pass per prompt, the noise predictions combined each step.

Liu et al. 2022, "Compositional Visual Generation with Composable Diffusion Models", eq. 10. The
pipeline's own loop cannot do it (it combines exactly one conditional and one unconditional
prediction), so this loop repeats StableDiffusionPipeline.__call__'s steps (for SDXL with the added
conditions StableDiffusionXLPipeline makes: the pooled vectors and size ids) with the pipeline's own
helpers (prepare_latents, prepare_extra_step_kwargs, the VAE decode): AND with one prompt of weight
1 gives the pipeline's image (tests/generation/test_composable.py).
"""
from __future__ import annotations

import torch
from PIL import Image

from explorer.models import vae
from explorer.models.conditioning import Conditioning
from explorer.models.tiny_decoder import decode_tiny, decoder_used


def composed_noise(eps_uncond: torch.Tensor, eps_conds: torch.Tensor, weights: tuple[float, ...] | list[float],
                   guidance: float) -> torch.Tensor:
    """ε = ε_u + Σ_i w_i·g·(ε_i − ε_u); eps_uncond (1, 4, h, w), eps_conds (n, 4, h, w) -> (1, 4, h, w).

    With one prompt and w = 1 this is classifier-free guidance, evaluated as the pipeline does.
    """
    total = eps_uncond
    for i, w in enumerate(weights):
        total = total + (w * guidance) * (eps_conds[i:i + 1] - eps_uncond)
    return total


@torch.no_grad()
def sample_composable(model, recipe, conditioning: Conditioning, scheduler, watcher,
                      latents: torch.Tensor | None = None,
                      generator: torch.Generator | None = None) -> Image.Image | None:
    """Denoise one image under AND (the caller holds the scheduler in the pipeline and the model lock); None when
    the watcher was stopped (no decode of an abandoned latent)."""
    pipe = model.pipe
    n = len(conditioning)
    embeds = torch.cat([conditioning.negative_prompt_embeds, conditioning.prompt_embeds])     # (1 + n, 77, d)
    # 1. prepare the timesteps, the initial noise and the step kwargs as the pipeline does
    scheduler.set_timesteps(recipe.steps, device=model.device)
    if generator is None:                                   # per-step noise: generate() passes generation.noise's
        generator = torch.Generator("cpu").manual_seed(recipe.seed)
    x = pipe.prepare_latents(1, pipe.unet.config.in_channels, recipe.height, recipe.width, embeds.dtype,
                             model.device, generator, latents)                                # (1, 4, h, w)
    step_kwargs = pipe.prepare_extra_step_kwargs(generator, 0.0)
    extra = model.adapter.unet_kwargs(pipe, conditioning, recipe.height, recipe.width, 1 + n)   # SDXL: pooled + sizes
    # 2. denoise: 1 + n UNet passes per step (batched), noise predictions composed
    for i, t in enumerate(scheduler.timesteps):
        x_in = scheduler.scale_model_input(torch.cat([x] * (1 + n)), t)                      # (1 + n, 4, h, w)
        eps = pipe.unet(x_in, t, encoder_hidden_states=embeds, return_dict=False, **extra)[0]
        eps = composed_noise(eps[:1], eps[1:], conditioning.weights, recipe.guidance)         # (1, 4, h, w)
        x = scheduler.step(eps, t, x, **step_kwargs, return_dict=False)[0]
        watcher(pipe, i, t, {"latents": x})
        if watcher.cancelled:
            break
    if watcher.cancelled:
        return None
    # 3. decode with the VAE, as the pipeline does
    image = decode_tiny(model, x) if decoder_used(model, recipe) == "tiny" else vae.decode(pipe, x, generator)
    return pipe.image_processor.postprocess(image, output_type="pil", do_denormalize=[True])[0]
