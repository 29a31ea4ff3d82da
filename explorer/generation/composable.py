"""Composable Diffusion's AND: one UNet pass per prompt, the noise predictions combined each step.

Liu et al. 2022, "Compositional Visual Generation with Composable Diffusion Models", eq. 10. The
pipeline's own loop cannot do it (it combines exactly one conditional and one unconditional
prediction), so this loop repeats StableDiffusionPipeline.__call__'s steps (for SDXL with the added
conditions StableDiffusionXLPipeline makes: the pooled vectors and size ids) with the pipeline's own
helpers (prepare_latents, prepare_extra_step_kwargs, the VAE decode): AND with one prompt of weight
1 gives the pipeline's image (tests/generation/test_composable.py).

SD3 (flow matching) composes the transformer's velocity predictions the same way (v is linear in the noise
prediction: v = eps - x0), in a loop that repeats StableDiffusion3Pipeline.__call__'s steps; AND with one prompt of
weight 1 gives that pipeline's image (tests/models/test_flow_views.py). FLUX.1 is refused before it gets here: it
makes no unconditional prediction to compose against (guidance-distilled, models.families.FluxFamily).
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
    if model.adapter.flow:
        return _sample_flow(model, recipe, conditioning, scheduler, watcher, latents, generator)
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


@torch.no_grad()
def _sample_flow(model, recipe, conditioning: Conditioning, scheduler, watcher, latents, generator):
    """AND on SD3: StableDiffusion3Pipeline.__call__'s loop with 1 + n transformer rows a step (negative first), the
    velocities composed as composed_noise composes noise predictions, then the VAE decode with its shift."""
    pipe = model.pipe
    n = len(conditioning)
    embeds = torch.cat([conditioning.negative_prompt_embeds, conditioning.prompt_embeds])       # (1 + n, L, d)
    pooled = torch.cat([conditioning.negative_pooled_prompt_embeds, conditioning.pooled_prompt_embeds])
    kwargs = {}
    if scheduler.config.get("use_dynamic_shifting", None):           # as the pipeline does (SD3.5 does not shift so)
        from diffusers.pipelines.stable_diffusion_3.pipeline_stable_diffusion_3 import calculate_shift

        cells = (recipe.height // pipe.vae_scale_factor // pipe.patch_size) * \
            (recipe.width // pipe.vae_scale_factor // pipe.patch_size)
        kwargs["mu"] = calculate_shift(cells, scheduler.config.get("base_image_seq_len", 256),
                                       scheduler.config.get("max_image_seq_len", 4096),
                                       scheduler.config.get("base_shift", 0.5), scheduler.config.get("max_shift", 1.16))
    scheduler.set_timesteps(recipe.steps, device=model.device, **kwargs)
    if generator is None:
        generator = torch.Generator("cpu").manual_seed(recipe.seed)
    x = pipe.prepare_latents(1, pipe.transformer.config.in_channels, recipe.height, recipe.width, embeds.dtype,
                             model.device, generator, latents)                                   # (1, 16, h, w)
    for i, t in enumerate(scheduler.timesteps):
        x_in = torch.cat([x] * (1 + n))
        v = pipe.transformer(hidden_states=x_in, timestep=t.expand(x_in.shape[0]), encoder_hidden_states=embeds,
                             pooled_projections=pooled, return_dict=False)[0]
        v = composed_noise(v[:1], v[1:], conditioning.weights, recipe.guidance)
        x = scheduler.step(v, t, x, return_dict=False)[0]
        watcher(pipe, i, t, {"latents": x})
        if watcher.cancelled:
            return None
    image = vae.decode(pipe, x, generator)
    return pipe.image_processor.postprocess(image, output_type="pil", do_denormalize=[True])[0]
