"""The forward process: the training-time half of diffusion, noising a real image step by step.

DDPM (SD 1.x/2.x, SDXL): x_t = sqrt(a_t) x0 + sqrt(1 - a_t) eps, a curve on which the amplitudes' squares add
to 1. Flow matching (SD3, FLUX): x_t = (1 - sigma) x0 + sigma eps, a straight line from the image (sigma = 0)
to pure noise (sigma = 1) on which the amplitudes themselves add to 1: halfway is half image, half noise.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from PIL import Image

from explorer.checks import check_int
from explorer.errors import InputError
from explorer.generation.noise import seed_noise
from explorer.models import vae
from explorer.models.loaded import LoadedModel
from explorer.models.previews import PreviewDecoder
from explorer.messages import say


@dataclass
class NoisedImage:
    timestep: int          # t in [0, num_train_timesteps)
    alpha_bar: float       # cumulative signal fraction: x_t = sqrt(a) x_0 + sqrt(1 - a) eps
    image: np.ndarray      # the noisy latent decoded, (H, W, 3) uint8
    sigma: float | None = None   # flow matching: x_t = (1 - sigma) x0 + sigma eps (None: the DDPM schedule)

    @property
    def caption(self) -> str:
        """The amplitudes of signal, sqrt(a), and noise, sqrt(1 - a): not shares (7% and 100% would add to more than
        100%), their squares add to 1, so the caption says so. Flow matching: 1 - sigma and sigma, which add to 1."""
        if self.sigma is not None:
            return say("forward.caption_flow", sigma=self.sigma, signal=1 - self.sigma, noise=self.sigma)
        return say("forward.caption", t=self.timestep, signal=self.alpha_bar ** 0.5, noise=(1 - self.alpha_bar) ** 0.5)

    @property
    def label(self) -> str:
        """A short caption: sigma (flow matching) or the timestep t."""
        return f"σ={self.sigma:.2f}" if self.sigma is not None else f"t={self.timestep}"


def flow_noise(z0: torch.Tensor, noise: torch.Tensor, sigmas: torch.Tensor) -> torch.Tensor:
    """x_t = (1 - sigma) x0 + sigma eps for each sigma (B,): (B, C, h, w) (rectified flow; Esser et al. 2024, eq. 2).
    The same formula as diffusers' FlowMatchEulerDiscreteScheduler.scale_noise."""
    s = sigmas.to(z0.dtype).view(-1, *([1] * (z0.ndim - 1)))
    return (1 - s) * z0 + s * noise


def even_timesteps(levels: int, num_train_timesteps: int = 1000) -> list[int]:
    """`levels` timesteps from clean (0) to pure noise (T-1), evenly spaced."""
    return [round(i * (num_train_timesteps - 1) / (levels - 1)) for i in range(levels)]


@torch.no_grad()
def encode_image(model: LoadedModel, image: Image.Image, width: int, height: int) -> torch.Tensor:
    """z0 = E(x) * scaling_factor, the latent the UNet is trained on: (1, C, h, w)."""
    pipe = model.pipe
    pixels = pipe.image_processor.preprocess(image.convert("RGB"), height=height, width=width)
    return vae.encode(pipe, pixels)


@torch.no_grad()
def forward_process(model: LoadedModel, image: Image.Image, timesteps: list[int] | None = None,
                    seed: int = 0, levels: int = 8, decoder: str = "full",
                    width: int | None = None, height: int | None = None) -> list[NoisedImage]:
    """q(x_t | x_0) = N(sqrt(a_t) x_0, (1 - a_t) I) at chosen timesteps (Ho et al. 2020, eq. 4); for flow matching
    x_t = (1 - sigma) x_0 + sigma eps with sigma = t / (T - 1), so t = 0 is the image and t = T - 1 pure noise."""
    from diffusers import DDPMScheduler

    # 1. validate
    if not isinstance(image, Image.Image):
        raise InputError("image", say("forward.image"), type(image).__name__)
    flow = model.adapter.flow
    schedule = None if flow else DDPMScheduler.from_config(model.base_scheduler_config)   # the training noise schedule
    total = model.base_scheduler_config.get("num_train_timesteps", 1000) if flow else schedule.config.num_train_timesteps
    levels = check_int("levels", levels, 2, 32)
    timesteps = timesteps if timesteps is not None else even_timesteps(levels, total)
    timesteps = [check_int("timesteps", t, 0, total - 1) for t in timesteps]
    width = width or model.preset.size
    height = height or model.preset.size
    # 2. encode once, draw one noise tensor
    z0 = encode_image(model, image, width, height)                        # (1, C, h, w)
    noise = seed_noise(seed, tuple(z0.shape)).to(z0.device, z0.dtype)
    # 3. noise at every timestep in one batch
    t = torch.tensor(timesteps, dtype=torch.long)
    if flow:
        sigmas = t.double() / (total - 1)
        zt = flow_noise(z0.expand(len(timesteps), -1, -1, -1), noise.expand(len(timesteps), -1, -1, -1), sigmas)
        images = PreviewDecoder(model, decoder)(zt)
        return [NoisedImage(int(step), float((1 - s) ** 2), img, float(s))
                for step, s, img in zip(timesteps, sigmas.tolist(), images)]
    zt = schedule.add_noise(z0.expand(len(timesteps), -1, -1, -1), noise.expand(len(timesteps), -1, -1, -1), t)
    # 4. decode for display
    images = PreviewDecoder(model, decoder)(zt)
    alpha_bars = schedule.alphas_cumprod[t].tolist()
    return [NoisedImage(int(step), float(a), img) for step, a, img in zip(timesteps, alpha_bars, images)]
