"""DeepCache (Ma, Fang and Wang, "DeepCache: Accelerating Diffusion Models for Free", CVPR 2024; github
horseee/DeepCache): reuse the UNet's deep features across steps, an opt-in for multi-step generation.

Adjacent denoising steps change the UNet's high-level (deep) features little. Every `interval`-th step runs the whole
UNet and keeps each block's output; the steps between run only the shallowest branch: `conv_in`, then the last up
block's last layer (resnet and transformer) on the cached output of the layer before it and the fresh skip connection
from `conv_in`, then `conv_out`. Everything deeper returns what it returned at the last full step. This is the
paper's uniform schedule with its default branch (cache_layer_id=0, cache_block_id=0), made the way the authors'
`DeepCacheSDHelper` makes it: each block and layer's own `forward` is wrapped (instance attributes, removed on exit),
so the pipeline, the scheduler, step previews (each step's latents) and Stop are untouched, and interval 1 is the plain
UNet. The cache is kept per UNet call of a step (a Composable Diffusion step calls the UNet once per prompt group).

What it cannot keep: the attention maps of the skipped layers and hooks on skipped blocks, so generate() turns it off
while capturing attention or hooking blocks (the recipe then says deepcache 0), and it runs the UNet's own modules:
on the openvino backend a DeepCache run is a torch run (models.backends.on_torch; the recipe says so).
Quality cost (oracle accuracy on miniworld) and speed-up: bench/bench_deepcache.py, README "A class on a laptop".
"""
from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Iterator

import torch

from explorer.checks import check_int
from explorer.errors import InputError
from explorer.messages import say

MAX_INTERVAL = 10           # the paper's intervals go to 10 (past that the images drift)


@dataclass
class DeepCacheRun:
    """What one run with DeepCache did: steps (UNet timesteps seen), full steps and the module calls served from
    the cache."""

    interval: int
    steps: int = 0
    full_steps: int = 0
    cached_calls: int = 0
    _timestep: object = None
    _call: int = 0                                     # the UNet call within the step
    _outputs: dict = field(default_factory=dict)       # (call, module key) -> its output at the last full step

    def full(self) -> bool:
        return (self.steps - 1) % self.interval == 0


def _skipped(kind: str, block: int, layer: int) -> bool:
    """DeepCacheSDHelper.is_skip_step with cache_block_id = cache_layer_id = 0 (up blocks counted from the last)."""
    if kind == "mid" or block > 0:
        return True
    return layer >= 0 if kind == "down" else layer > 0


def _units(unet) -> list[tuple[torch.nn.Module, tuple]]:
    """Each wrapped module with its key (kind, name, block, layer) as DeepCacheSDHelper.wrap_modules numbers them."""
    units = []
    for b, block in enumerate(unet.down_blocks):
        for i, module in enumerate(getattr(block, "attentions", None) or []):
            units.append((module, ("down", "attentions", b, i)))
        for i, module in enumerate(block.resnets):
            units.append((module, ("down", "resnet", b, i)))
        for module in getattr(block, "downsamplers", None) or []:
            units.append((module, ("down", "downsampler", b, len(block.resnets))))
        units.append((block, ("down", "block", b, 0)))
    units.append((unet.mid_block, ("mid", "mid_block", 0, 0)))
    count = len(unet.up_blocks)
    for b, block in enumerate(unet.up_blocks):
        layers = len(block.resnets)
        for i, module in enumerate(getattr(block, "attentions", None) or []):
            units.append((module, ("up", "attentions", count - b - 1, layers - i - 1)))
        for i, module in enumerate(block.resnets):
            units.append((module, ("up", "resnet", count - b - 1, layers - i - 1)))
        for module in getattr(block, "upsamplers", None) or []:
            units.append((module, ("up", "upsampler", count - b - 1, 0)))
        units.append((block, ("up", "block", count - b - 1, 0)))
    return units


def supports(unet) -> bool:
    """Whether `unet` has the down / mid / up blocks DeepCache caches (a UNet2DConditionModel; not a transformer)."""
    return all(hasattr(unet, name) for name in ("down_blocks", "mid_block", "up_blocks")) and unet.mid_block is not None


@contextmanager
def deep_cache(unet, interval: int) -> Iterator[DeepCacheRun]:
    """While inside, `unet` reuses its deep features: full every `interval`-th step (1: every step, the plain UNet).
    Hold the model's lock."""
    run = DeepCacheRun(interval)

    def count(module, args, kwargs):                  # a new timestep is a new step; the same one, another call
        timestep = args[1] if len(args) > 1 else kwargs.get("timestep")
        value = float(torch.as_tensor(timestep).reshape(-1)[0])
        if value != run._timestep:
            run._timestep, run._call = value, 0
            run.steps += 1
            run.full_steps += run.full()
        else:
            run._call += 1

    def wrap(module, key):
        original = module.forward
        skip = _skipped(key[0], key[2], key[3])

        def forward(*args, **kwargs):
            slot = (run._call, key)
            if skip and not run.full() and slot in run._outputs:
                run.cached_calls += 1
                return run._outputs[slot]
            out = original(*args, **kwargs)
            if skip:
                run._outputs[slot] = out
            return out
        return forward

    units = _units(unet)
    handle = unet.register_forward_pre_hook(count, with_kwargs=True)
    own = [(module, module.__dict__.get("forward")) for module, _ in units]
    for module, key in units:
        module.forward = wrap(module, key)
    try:
        yield run
    finally:
        handle.remove()
        for module, before in reversed(own):
            if before is None:
                module.__dict__.pop("forward", None)
            else:
                module.forward = before


def interval_for(model, recipe, hooked: bool = False) -> int:
    """The DeepCache interval a generation runs with: the recipe's, else the model's setting (`--deepcache N`); 0 (off)
    for 1 (the plain UNet) and while attention is captured or blocks are hooked (`hooked`). A denoiser without UNet
    blocks (SD3, FLUX) is refused naming the field."""
    interval = getattr(recipe, "deepcache", 0) or getattr(model, "deepcache", 0)
    if interval <= 1 or hooked:
        return 0
    if not supports(model.denoiser):
        raise InputError("deepcache", say("backends.deepcache_unet", family=model.family), interval)
    return interval


def use_deepcache(model, interval: int) -> None:
    """Generate on `model` with DeepCache every `interval` steps from now on (0 or 1: off); refused naming the field
    where the interval is out of range or the denoiser has no UNet blocks."""
    check_int("deepcache", interval, 0, MAX_INTERVAL)
    if interval > 1 and not supports(model.denoiser):
        raise InputError("deepcache", say("backends.deepcache_unet", family=model.family), interval)
    model.deepcache = interval
