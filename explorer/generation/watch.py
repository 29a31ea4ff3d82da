"""Watching the denoising loop: x_t and the predicted x0 at every step, without copying the pipeline.

x_t and the model's predicted final latent x0 are captured by wrapping the scheduler's `step`
(diffusers discards `pred_original_sample`) and handed out through `callback_on_step_end`.

Flow matching (SD3, FLUX: FlowMatchEulerDiscreteScheduler, whose output has no `pred_original_sample`, diffusers
#10606): x_t = (1 - sigma) x0 + sigma eps and the transformer predicts v = eps - x0, so x0 = x_t - sigma v, with
the sigma of the step just taken; the pictures are labelled by sigma (1 = pure noise), not an integer timestep.
"""
from __future__ import annotations

import functools
import threading
from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch
from PIL import Image

from explorer.models.previews import PreviewDecoder


@dataclass
class StepPreview:
    """One denoising step as a person sees it."""

    index: int                    # 0-based step number
    total: int                    # number of steps
    timestep: int                 # the scheduler's timestep t (999 = pure noise)
    noisy: np.ndarray             # x_t, the latent the UNet saw, decoded for display (H, W, 3) uint8
    x0: np.ndarray                # the model's current guess of the final image (H, W, 3) uint8
    change: float | None          # mean |x0_i - x0_{i-1}| in [0, 1]; None on the first step
    sigma: float | None = None    # flow matching: the noise level of x_t (1 = pure noise); None for DDPM-style models

    @property
    def label(self) -> str:
        """What a picture of this step is captioned with: sigma (flow matching) or the timestep t."""
        return f"σ={self.sigma:.3f}" if self.sigma is not None else str(self.timestep)


def flow_x0(sample: torch.Tensor, velocity: torch.Tensor, sigma: float) -> torch.Tensor:
    """x0 = x_t - sigma v: flow matching's clean-image guess (x_t = (1 - sigma) x0 + sigma eps, v = eps - x0;
    Lipman et al. 2023, Esser et al. 2024 eq. 2-3)."""
    return sample.float() - sigma * velocity.float()


def is_flow(scheduler) -> bool:
    """A flow-matching scheduler: sigmas and no DDPM noise schedule (alphas_cumprod)."""
    return not hasattr(scheduler, "alphas_cumprod") and hasattr(scheduler, "sigmas")


def predicted_x0(scheduler, model_output: torch.Tensor, timestep, sample: torch.Tensor) -> torch.Tensor:
    """x0 from x_t and the model output: x0 = (x_t - sqrt(1-a_t) eps) / sqrt(a_t) (Ho et al. 2020, eq. 15)."""
    alpha_bar = scheduler.alphas_cumprod.to(sample.device)[int(timestep)].to(sample.dtype)
    kind = scheduler.config.get("prediction_type", "epsilon")
    if kind == "v_prediction":   # Salimans & Ho 2022: x0 = sqrt(a) x_t - sqrt(1-a) v
        return alpha_bar.sqrt() * sample - (1 - alpha_bar).sqrt() * model_output
    if kind == "sample":
        return model_output
    return (sample - (1 - alpha_bar).sqrt() * model_output) / alpha_bar.sqrt()


class StepTap:
    """Wraps a scheduler's `step` for one call and keeps the last (timestep, x_t, x0) of the whole batch."""

    def __init__(self, scheduler):
        self.scheduler = scheduler
        self.pending: tuple | None = None
        self._step = scheduler.step
        # functools.wraps keeps step's signature visible: the pipeline passes `generator` and `eta`
        # only to schedulers whose signature names them (prepare_extra_step_kwargs)
        scheduler.step = functools.wraps(self._step)(
            lambda *args, **kwargs: self._wrapped_step(*args, **kwargs))  # this instance lives for one call

    def _wrapped_step(self, model_output, timestep, sample, *args, return_dict: bool = True, **kwargs):
        out = self._step(model_output, timestep, sample, *args, return_dict=True, **kwargs)
        sigma = None
        x0 = getattr(out, "pred_original_sample", None)
        if x0 is None and is_flow(self.scheduler):       # the step just taken: step_index moved past it
            sigma = float(self.scheduler.sigmas[self.scheduler.step_index - 1])
            x0 = flow_x0(sample, model_output, sigma)
        elif x0 is None:
            x0 = predicted_x0(self.scheduler, model_output, timestep, sample)
        self.pending = (int(timestep), sample, x0, sigma)
        return out if return_dict else out.to_tuple()


class StepWatcher:
    """Captures (x_t, x0) at each scheduler step and reports decoded previews via callback_on_step_end.

    One watcher per image: `row` is the image's row in the pipeline's batch, `tap` the batch's shared
    StepTap (generation.together runs several users' images in one batch, each watched by its own watcher).
    """

    def __init__(self, scheduler, total: int, decode: PreviewDecoder | None,
                 on_step: Callable[[StepPreview], None] | None = None, cancel: threading.Event | None = None,
                 after_step: Callable[[], None] | None = None, row: int = 0, tap: StepTap | None = None):
        self.total, self.decode, self.row = total, decode, row
        self.on_step, self.cancel, self.after_step = on_step, cancel, after_step
        self.previews: list[StepPreview] = []
        self.cancelled = False
        self._reference: np.ndarray | None = None
        self.tap = tap if tap is not None else StepTap(scheduler)

    def latents(self) -> tuple[torch.Tensor, torch.Tensor] | None:
        """This image's (x_t shown at unit scale, x0) of the step just taken, each (1, C, h, w); None unwatched."""
        if self.decode is None or self.tap.pending is None:
            return None
        _, sample, x0, _ = self.tap.pending
        row = slice(self.row, self.row + 1)
        # x_t of sigma-scaled schedulers (Euler) has std sqrt(1 + sigma^2): show it at unit scale
        return sample[row] / max(1.0, float(sample[row].std())), x0[row]

    def observe(self, i: int) -> None:
        """Decode this image's row of the step just taken into a StepPreview and report it."""
        latents = self.latents()
        if latents is not None:
            self.report(i, *self.decode.step(*latents, i, self.total))

    def report(self, i: int, shown_noisy: np.ndarray, shown_x0: np.ndarray, reference: np.ndarray) -> None:
        """Record and hand on one step's pictures (decoded here, or for a whole batch at once by its caller)."""
        change = None
        if self._reference is not None:      # the same kind of picture every step (live: the approx x0)
            change = float(np.abs(reference.astype(np.float32) - self._reference).mean() / 255)
        self._reference = reference
        preview = StepPreview(i, self.total, self.tap.pending[0], shown_noisy, shown_x0, change, self.tap.pending[3])
        self.previews.append(preview)
        if self.on_step is not None:
            self.on_step(preview)

    def partial_image(self, width: int, height: int) -> Image.Image | None:
        """A stopped run's picture without a VAE decode: the x0 preview of its last step, at the recipe's size;
        None when no step was finished (or none watched): nothing to keep."""
        if not self.previews:
            return None
        return Image.fromarray(self.previews[-1].x0).resize((width, height), Image.Resampling.BICUBIC)

    def __call__(self, pipe, i: int, t, callback_kwargs: dict) -> dict:
        """callback_on_step_end: turn the captured latents into a StepPreview."""
        if self.after_step is not None:
            self.after_step()                # e.g. close this step's attention maps
        self.observe(i)
        if self.cancel is not None and self.cancel.is_set():
            self.cancelled = True
            pipe._interrupt = True      # diffusers skips the remaining steps (the caller skips the decode)
        return callback_kwargs


def settle_step(changes: list[float | None], fraction: float = 0.1) -> int | None:
    """The first step after which every change stays below `fraction` of the largest: where it settles."""
    values = [c for c in changes if c is not None]
    if not values:
        return None
    limit = fraction * max(values)
    offset = len(changes) - len(values)
    for i in range(len(values)):
        if all(v <= limit for v in values[i:]):
            return i + offset
    return None
