"""Generate an image from any Recipe and watch it being denoised, step by step.

The pipeline is diffusers' own; the explorer only watches (explorer.generation.watch). Every kind
of recipe takes the same steps: validate, turn it into a Conditioning (generation.conditioning),
prepare the initial noise (generation.noise), denoise, package.
"""
from __future__ import annotations

import threading
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field
from typing import Callable, Iterator, Mapping

import torch
from PIL import Image

from explorer.config import ExplorerConfig
from explorer.generation.attention import AttentionMaps, row_names, to_maps
from explorer.generation.composable import sample_composable
from explorer.generation.conditioning import conditioning_for
from explorer.generation.deepcache import deep_cache, interval_for
from explorer.generation.editing import SwitchConditioning
from explorer.generation.invariant import decode_alone
from explorer.generation.joint_attention import capture_maps
from explorer.generation.noise import initial_noise, latent_shape, pipeline_draws_noise, sampler_generator
from explorer.generation.recipe import Recipe, check_budget, check_fits_model, validate
from explorer.generation.schedulers import scheduler_in_pipeline
from explorer.generation.stopping import Stopped, stop_within_step
from explorer.generation.watch import StepPreview, StepWatcher
from explorer.models.backends import backend_used, on_torch, stoppable
from explorer.models.conditioning import Conditioning
from explorer.models.previews import PreviewDecoder
from explorer.models.tiny_decoder import decoder_used


@dataclass
class Generation:
    image: Image.Image | None     # None: stopped before its first step (nothing to keep)
    recipe: Recipe
    steps: list[StepPreview] = field(default_factory=list)
    cancelled: bool = False       # True when stopped early: the image is the last step's x0 preview (no VAE decode)
    attention: AttentionMaps | None = None   # cross-attention maps per step (generate(..., attention=True))


def generate(model, recipe: Recipe, *, conditioning: Conditioning | None = None,
             latents: torch.Tensor | None = None, on_step: Callable[[StepPreview], None] | None = None,
             cancel: threading.Event | None = None, watch: bool = True,
             config: ExplorerConfig | None = None, attention: bool = False,
             block_hooks: Mapping[str, Callable] | None = None) -> Generation:
    """Make the recipe's image; with `watch`, preview x_t and x0 at every step; with `attention`, record the
    cross-attention maps of every step (generation.attention; the image is the same either way). `block_hooks`
    maps a denoiser module's name to a forward hook held for the run (explorer.inside: reading or painting a block's
    output; a hook that returns None leaves the image as it was).

    `conditioning` and `latents` default to the recipe's own (pass arrays to explore without editing code).
    `cancel` stops the run within one block of the UNet (generation.stopping) and skips the final decode: the
    image is then the x0 preview of the last finished step (None when none finished, or none was watched).
    """
    # 1. validate, within the device's compute budget
    validate(recipe, config)
    check_fits_model(recipe, model)
    check_budget(recipe, model, config)
    # 2. encode: both guidance halves, whatever kind of recipe this is
    if conditioning is None:
        conditioning = conditioning_for(model, recipe)
    # 3. prepare the initial noise: the pipeline draws the seed's own noise; variations are made here
    # and the sampler's generator for its per-step noise (as A1111 continues it; generation.noise)
    generator = torch.Generator("cpu").manual_seed(recipe.seed)       # latents passed in: a fresh one, as always
    if latents is None:
        shape = latent_shape(model, recipe)
        generator = sampler_generator(recipe, shape, model.dtype, pipeline_draws=pipeline_draws_noise(recipe))
        if not pipeline_draws_noise(recipe):
            latents = initial_noise(recipe, shape, model.dtype)
    if latents is not None:
        latents = model.adapter.pack_latents(model.pipe, latents)           # FLUX: 2x2 patches as tokens
    decode = PreviewDecoder(model, recipe.preview, size=(recipe.height, recipe.width)) if watch else None
    on_torch_only = attention or bool(block_hooks)      # hooks into the UNet's modules: not on a converted graph
    decoder = decoder_used(model, recipe)               # the final image's: the VAE or the tiny decoder
    interval = interval_for(model, recipe, hooked=on_torch_only)      # DeepCache (0: off); runs the UNet's modules
    # 4. denoise with a fresh scheduler, watching each step (and its cross-attention: on torch, models.backends),
    # stoppable within a step
    with scheduler_in_pipeline(model, recipe.scheduler) as scheduler, torch.inference_mode(), \
            on_torch(model, on_torch_only or interval > 0), \
            (deep_cache(model.denoiser, interval) if interval > 0 else nullcontext()), \
            (capture_maps(model, recipe.height, recipe.width, (recipe.prompt, recipe.negative_prompt))
             if attention else nullcontext()) as store, \
            stop_within_step(model.denoiser, cancel.is_set if cancel is not None else None), \
            stoppable(model, raise_when_stopped(cancel.is_set if cancel is not None else None)), \
            hooked_blocks(model.denoiser, block_hooks or {}):
        watcher = StepWatcher(scheduler, recipe.steps, decode, on_step, cancel,
                              after_step=store.end_step if store is not None else None)
        image = None
        try:
            if conditioning.composable:
                image = sample_composable(model, recipe, conditioning, scheduler, watcher, latents, generator)
            else:
                callback = watcher if (watch or cancel or attention) else None
                if conditioning.scheduled:      # prompt editing: the next step's conditioning after each step
                    callback = SwitchConditioning(conditioning, then=callback)
                final = model.pipe(**conditioning.pipeline_kwargs(), num_inference_steps=recipe.steps,
                                   guidance_scale=recipe.guidance, width=recipe.width, height=recipe.height,
                                   generator=generator, latents=latents,
                                   output_type="latent", callback_on_step_end=callback,
                                   callback_on_step_end_tensor_inputs=getattr(callback, "tensor_inputs",
                                                                              ["latents"])).images
                # 5. decode, as the pipeline does; not a stopped run's latent (minutes at a large size)
                if not watcher.cancelled:
                    image = decode_alone(model, final, recipe.height, recipe.width, decoder)
        except Stopped:
            watcher.cancelled = True
    if watcher.cancelled:
        image = watcher.partial_image(recipe.width, recipe.height)
    # 6. package
    maps = None
    if store is not None:
        prompts = len(conditioning) if conditioning.composable else 1
        maps = to_maps(store, row_names(conditioning.composable or model.adapter.guided(recipe.guidance), prompts))
    used = recipe.with_(backend=backend_used(model, on_torch_only or interval > 0), decoder=decoder, deepcache=interval)
    return Generation(image, used, watcher.previews,
                      watcher.cancelled, maps)


def raise_when_stopped(stopped: Callable[[], bool] | None) -> Callable[[], None] | None:
    """What a converted graph calls while it runs (models.backends.stoppable): raises Stopped once `stopped()`."""
    if stopped is None:
        return None

    def check() -> None:
        if stopped():
            raise Stopped()
    return check


@contextmanager
def hooked_blocks(denoiser, hooks: Mapping[str, Callable]) -> Iterator[None]:
    """Each hook registered as a forward hook of the denoiser's module of that name, removed on exit."""
    handles = [denoiser.get_submodule(name).register_forward_hook(hook) for name, hook in hooks.items()]
    try:
        yield
    finally:
        for handle in handles:
            handle.remove()
