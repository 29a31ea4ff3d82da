"""Several users' images through one UNet call, each as if it had run alone.

A class presses Generate at once. Recipes that share steps, guidance, size, scheduler and preview
decoder go through the pipeline together: each keeps its own conditioning, noise and generator
(so ancestral schedulers add its own step noise), its own step previews, its own Stop, and its own
attention maps. The pixels are bit-identical to generate() of the recipe alone: the UNet runs with
per-image rows where batching would change the arithmetic (generation.invariant), and every final
image is decoded on its own, as a one-image pipeline call decodes it.
"""
from __future__ import annotations

import threading
from contextlib import nullcontext
from typing import Callable

import numpy as np
import torch

from explorer.config import ExplorerConfig
from explorer.generation.attention import AttentionMaps, capture_attention, row_names
from explorer.generation.batches import check_shared_settings
from explorer.generation.generate import Generation, raise_when_stopped
from explorer.generation.invariant import decode_alone, guidance_groups, per_image_rows
from explorer.generation.noise import initial_noise, latent_shape, sampler_generator
from explorer.generation.recipe import check_budget, check_fits_model, validate
from explorer.generation.schedulers import scheduler_in_pipeline
from explorer.generation.stopping import Stopped, stop_within_step
from explorer.generation.watch import StepPreview, StepTap, StepWatcher
from explorer.models.backends import backend_used, on_torch, stoppable
from explorer.models.tiny_decoder import decoder_used
from explorer.models.conditioning import Conditioning
from explorer.models.previews import LiveBudget, PreviewDecoder

OnStep = Callable[[StepPreview], None]


def generate_together(model, recipes: list, conditionings: list[Conditioning], *,
                      on_steps: list[OnStep | None] | None = None, cancels: list[threading.Event | None] | None = None,
                      watch: bool = True, attention: bool = False, config: ExplorerConfig | None = None,
                      after_step: Callable[[int], None] | None = None) -> list[Generation]:
    """generate() for N recipes at once (shared steps/guidance/size/scheduler/preview; none composable).

    conditionings: one single-image Conditioning per recipe (conditioning_for). on_steps[k] gets image
    k's previews, cancels[k] stops image k alone: a Stop seen during a step ends the image before that step
    (the others finish it), one seen at a step's end after it, as in a one-image run; its picture is the x0
    preview of its last finished step (None before the first), never a VAE decode. The call ends as soon as
    every image is stopped, within one UNet block (generation.stopping). after_step(i) is called once per step
    (e.g. to report progress to waiting users).
    """
    # 1. validate: one recipe's settings for all (the batcher groups only compatible requests)
    count = len(recipes)
    for recipe in recipes:
        validate(recipe, config)
        check_fits_model(recipe, model)
        check_budget(recipe, model, config)
    check_shared_settings(recipes)
    if len({r.preview for r in recipes}) > 1:
        raise ValueError("generate_together: recipes of one batch share their preview decoder")
    base = recipes[0]
    on_steps = on_steps or [None] * count
    cancels = cancels or [None] * count
    # 2. each image's noise and generator, as a one-image generate() makes them
    shape = latent_shape(model, base)
    latents = model.adapter.pack_latents(model.pipe, torch.cat([initial_noise(r, shape, model.dtype) for r in recipes]))
    generators = [sampler_generator(r, shape, model.dtype) for r in recipes]     # as generate() leaves it
    conditioning = Conditioning.cat(conditionings)
    guided = model.adapter.guided(base.guidance)
    # 3. denoise together; each image watched (and stoppable) on its own row
    taken: list[int | None] = [None] * count          # steps a stopped image took (None: not stopped)
    done = [0]                                         # steps finished so far

    def all_stopped() -> bool:
        """Asked by the UNet's blocks: images whose Stop arrives during a step end before it."""
        for k, c in enumerate(cancels):
            if taken[k] is None and c is not None and c.is_set():
                taken[k] = done[0]
        return all(n is not None for n in taken)

    with scheduler_in_pipeline(model, base.scheduler) as scheduler, torch.inference_mode(), \
            per_image_rows(model.denoiser, guidance_groups(count, guided)), on_torch(model, attention), \
            (capture_attention(model, base.height, base.width) if attention else nullcontext()) as store, \
            stop_within_step(model.denoiser, all_stopped if any(c is not None for c in cancels) else None), \
            stoppable(model, raise_when_stopped(all_stopped if any(c is not None for c in cancels) else None)):
        tap = StepTap(scheduler)
        budget = LiveBudget()                                          # live: one VAE-time budget for the batch
        size = (base.height, base.width)
        watchers = [StepWatcher(scheduler, r.steps, PreviewDecoder(model, r.preview, budget, size) if watch else None,
                                on_steps[k], cancels[k], row=k, tap=tap)             # a decoder each (live)
                    for k, r in enumerate(recipes)]
        # previews of every image in one decode (live: each image's own budget); previews, not results: a batched
        # decode may differ from a solo one in the last bit, the final images are decoded alone
        shared = PreviewDecoder(model, base.preview, size=size) if watch and base.preview != "live" else None

        def on_step_end(pipe, i, t, callback_kwargs):
            if store is not None:
                store.end_step()
            active = [k for k in range(count) if taken[k] is None]     # stopped earlier: previews end
            if shared is not None:
                pairs = [watchers[k].latents() for k in active]
                pictures = shared(torch.cat([torch.cat(pair) for pair in pairs]))
                for n, k in enumerate(active):
                    watchers[k].report(i, pictures[2 * n], pictures[2 * n + 1], pictures[2 * n + 1])
            for k in active:
                watcher = watchers[k]
                if shared is None:
                    watcher.observe(i)
                if cancels[k] is not None and cancels[k].is_set():
                    taken[k] = i + 1
            done[0] = i + 1
            if all(n is not None for n in taken):
                pipe._interrupt = True
            if after_step is not None:
                after_step(i)
            return callback_kwargs

        try:
            out = model.pipe(**conditioning.pipeline_kwargs(), latents=latents.to(model.device, model.dtype),
                             num_inference_steps=base.steps, guidance_scale=base.guidance, width=base.width,
                             height=base.height, generator=generators, output_type="latent",
                             callback_on_step_end=on_step_end).images
        except Stopped:                                # every image stopped: nothing left to decode
            out = None
        # 4. decode each finished image alone (a batched VAE call is not batch invariant either); a stopped one
        # keeps the x0 preview of its last finished step
        images = []
        for k, watcher in enumerate(watchers):
            watcher.cancelled = taken[k] is not None
            images.append(watcher.partial_image(base.width, base.height) if watcher.cancelled
                          else decode_alone(model, out[k:k + 1], base.height, base.width,
                                            decoder_used(model, recipes[k])))
    # 5. package: each image with its own rows of the attention maps
    steps_taken = [base.steps if n is None else n for n in taken]
    maps = _split_maps(store, steps_taken, guided) if store is not None else [None] * count
    return [Generation(images[k], recipes[k].with_(backend=backend_used(model, attention),      # DeepCache: generate()
                                                   decoder=decoder_used(model, recipes[k]), deepcache=0),
                       watchers[k].previews,
                       watchers[k].cancelled, maps[k])
            for k in range(count)]


def _split_maps(store, taken: list[int], guided: bool) -> list[AttentionMaps]:
    """The batch's maps (steps, rows, ...) as one AttentionMaps per image: its negative and positive rows, for
    the steps it took."""
    steps = np.stack(store.steps).astype(np.float32) if store.steps else None
    maps = []
    for rows, count in zip(guidance_groups(len(taken), guided), taken):
        part = steps[:count, rows] if steps is not None else np.zeros((0, len(rows), 0, *store.grid), np.float32)
        maps.append(AttentionMaps(part, row_names(guided), store.grid, store.layers_per_step))
    return maps
