"""Stop within a step: the UNet's blocks ask the Stop flag before they run.

diffusers checks `callback_on_step_end` (and `pipe._interrupt`) only between steps, then decodes the
abandoned latent: a user who stopped (or left) during a slow step held the model for the rest of that
step and a whole VAE decode (issue 33: 12.8 minutes at 1024 px on this CPU). Here a forward pre-hook on
each block of the UNet (resnets, attention, up/down sampling) raises Stopped once the run is to end, so the
model is free again within one block; the callers then skip the final decode. Hooks are the public
torch API (`register_forward_pre_hook`), removed on the way out.
"""
from __future__ import annotations

from contextlib import contextmanager
from typing import Callable, Iterator

import torch

# the blocks of a diffusers UNet between which a stop is honoured (each is at most one attention product)
BLOCKS = ("ResnetBlock2D", "Transformer2DModel", "BasicTransformerBlock", "Attention", "Downsample2D",
          "Upsample2D", "JointTransformerBlock", "FluxTransformerBlock", "FluxSingleTransformerBlock")  # SD3, FLUX


class Stopped(Exception):
    """Raised inside the UNet when the run it belongs to was stopped; caught by the run's caller."""


def _blocks(unet: torch.nn.Module) -> list[torch.nn.Module]:
    return [m for m in unet.modules() if type(m).__name__ in BLOCKS]


@contextmanager
def stop_within_step(unet: torch.nn.Module, stopped: Callable[[], bool] | None) -> Iterator[None]:
    """While inside, every block of `unet` first asks `stopped()`; True raises Stopped (hold the model's lock)."""
    if stopped is None:
        yield
        return

    def check(module, args):
        if stopped():
            raise Stopped()

    handles = [block.register_forward_pre_hook(check) for block in _blocks(unet)]
    try:
        yield
    finally:
        for handle in handles:
            handle.remove()
