"""Many recipes through the UNet in batches: walk frames, search results, probe images, blend panels.

Recipes that share steps, guidance, size and scheduler each keep their own conditioning and noise;
`batch_size` of them go through one pipeline call, which on a CPU or GPU is much faster than one
call each. Batched images equal one-at-a-time ones bit for bit (on a CPU): the batch-dependent layers
compute each image's rows as alone (generation.invariant) and each image is decoded alone.
"""
from __future__ import annotations

import os
import threading
from typing import Callable

import torch
from PIL import Image

from explorer.config import ExplorerConfig
from explorer.errors import InputError
from explorer.generation.conditioning import conditioning_for
from explorer.generation.generate import generate, raise_when_stopped
from explorer.generation.invariant import decode_alone, guidance_groups, per_image_rows
from explorer.generation.noise import initial_noise, latent_shape, sampler_generator
from explorer.generation.recipe import check_fits_model
from explorer.generation.schedulers import scheduler_in_pipeline
from explorer.generation.stopping import Stopped, stop_within_step
from explorer.models.backends import stoppable
from explorer.models.tiny_decoder import decoder_used
from explorer.models.conditioning import Conditioning
from explorer.messages import say

MEMORY_FRACTION = 0.25                      # share of free memory a batch may plan to use


def default_batch_size(model, width: int, height: int, config: ExplorerConfig | None = None) -> int:
    """Images per UNet batch that fit in a share of free memory (a rough attention-map estimate)."""
    config = config or ExplorerConfig()
    unet = model.denoiser.config
    tokens = (height // model.vae_scale_factor) * (width // model.vae_scale_factor)
    if model.adapter.flow:               # a transformer: heads of joint attention over the (patched) image tokens
        heads, widest = unet.num_attention_heads, unet.num_attention_heads * unet.attention_head_dim
        tokens = tokens // 4
        element = torch.finfo(model.dtype).bits // 8
        per_image = 2 * (tokens * tokens * heads + tokens * widest * 16) * element
        return int(max(1, min(config.max_batch, MEMORY_FRACTION * _free_memory(model.device) // max(per_image, 1))))
    heads = unet.attention_head_dim if isinstance(unet.attention_head_dim, int) else max(unet.attention_head_dim)
    element = torch.finfo(model.dtype).bits // 8
    # 2 (guidance doubles the batch) x self-attention map at full latent resolution x heads, plus activations
    per_image = 2 * (tokens * tokens * heads + tokens * max(unet.block_out_channels) * 16) * element
    free = _free_memory(model.device)
    return int(max(1, min(config.max_batch, MEMORY_FRACTION * free // max(per_image, 1))))


def _free_memory(device: torch.device) -> int:
    if device.type == "cuda":
        return int(torch.cuda.mem_get_info(device)[0])
    try:
        return int(os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"))
    except (ValueError, OSError, AttributeError):
        return 4 * 2**30


def check_shared_settings(recipes: list) -> None:
    """Recipes in one batch must share steps, guidance, size and scheduler."""
    first = recipes[0]
    for r in recipes[1:]:
        if (r.steps, r.guidance, r.width, r.height, r.scheduler) != \
                (first.steps, first.guidance, first.width, first.height, first.scheduler):
            raise InputError("recipes", say("batches.shared_settings"), r.to_json()[:80])


def render_batches(model, recipes: list, conditioning: Conditioning, latents: torch.Tensor, batch_size: int,
                   cancel: threading.Event | None = None,
                   on_batch: Callable[[int, list[Image.Image]], None] | None = None,
                   on_step: Callable[[int, int], None] | None = None) -> tuple[list, bool]:
    """Images for N recipes sharing steps/guidance/size/scheduler, `batch_size` at a time through the pipeline.

    conditioning for N images, latents (N, c, h, w) unscaled noise. Each image gets its own CPU
    generator seeded with its recipe's seed, advanced past the initial-noise draw where generate()
    lets the pipeline draw it, so ancestral schedulers add the same step noise as a one-image
    generate() of the recipe. Returns (images, cancelled); a batch interrupted by `cancel` is
    dropped (its images are unfinished). `on_step(i, steps)` after each denoising step of each batch (progress).
    """
    check_shared_settings(recipes)
    base = recipes[0]
    images, cancelled = [], False
    shape = (1, *latents.shape[1:])

    def stop_check(pipe_, i, t, kwargs):
        if cancel is not None and cancel.is_set():
            pipe_._interrupt = True
        if on_step is not None:
            on_step(i + 1, base.steps)
        return kwargs

    for start in range(0, len(recipes), batch_size):
        if cancel is not None and cancel.is_set():
            cancelled = True
            break
        chunk = slice(start, start + batch_size)
        generators = [sampler_generator(r, shape, model.dtype) for r in recipes[chunk]]   # as generate() leaves it
        with scheduler_in_pipeline(model, base.scheduler), torch.inference_mode(), \
                per_image_rows(model.denoiser, guidance_groups(len(generators), model.adapter.guided(base.guidance))), \
                stop_within_step(model.denoiser, cancel.is_set if cancel is not None else None), \
                stoppable(model, raise_when_stopped(cancel.is_set if cancel is not None else None)):
            try:
                final = model.pipe(**conditioning.select(chunk).pipeline_kwargs(),
                                   latents=model.adapter.pack_latents(model.pipe,
                                                                      latents[chunk].to(model.device, model.dtype)),
                                   num_inference_steps=base.steps, guidance_scale=base.guidance, width=base.width,
                                   height=base.height, num_images_per_prompt=1, generator=generators,
                                   output_type="latent",
                                   callback_on_step_end=stop_check if cancel is not None or on_step else None).images
            except Stopped:                       # stopped within a step: the batch is dropped, nothing to decode
                final = None
            stopped = cancel is not None and cancel.is_set()
            out = [] if stopped else [decode_alone(model, final[k:k + 1], base.height, base.width,
                                                   decoder_used(model, recipes[start + k])) for k in range(len(final))]
        if stopped:
            cancelled = True
            break
        images.extend(out)
        if on_batch is not None:
            on_batch(start, out)
    return images, cancelled


def render_recipes(model, recipes: list, batch_size: int, cancel: threading.Event | None = None,
                   on_batch: Callable[[int, list[Image.Image]], None] | None = None,
                   on_step: Callable[[int, int], None] | None = None) -> tuple[list, bool]:
    """Images for recipes of any kind that share settings: each through conditioning_for and its own noise."""
    check_shared_settings(recipes)
    check_fits_model(recipes[0], model)
    conditionings = [conditioning_for(model, r) for r in recipes]
    if any(c.composable or c.scheduled for c in conditionings):   # AND's own loop, prompt editing: one at a time
        return _one_by_one(model, recipes, conditionings, cancel, on_batch)
    shape = latent_shape(model, recipes[0])
    conditioning = Conditioning.cat(conditionings)
    latents = torch.cat([initial_noise(r, shape, model.dtype) for r in recipes])        # (N, c, h, w)
    return render_batches(model, recipes, conditioning, latents, batch_size, cancel, on_batch)



def _one_by_one(model, recipes: list, conditionings: list[Conditioning], cancel, on_batch) -> tuple[list, bool]:
    images = []
    for i, (recipe, conditioning) in enumerate(zip(recipes, conditionings)):
        if cancel is not None and cancel.is_set():
            return images, True
        result = generate(model, recipe, conditioning=conditioning, cancel=cancel, watch=False)
        if result.cancelled:
            return images, True
        images.append(result.image)
        if on_batch is not None:
            on_batch(i, [result.image])
    return images, False
