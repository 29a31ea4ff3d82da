"""Preview decoders: turn latents into pictures, cheaply (approx), quickly (taesd), exactly (full VAE), or with
the model's own VAE within a time budget (live).

`live` answers A1111#2595 (live previews as slow as the generation): the VAE decodes x0, the model's
current guess of the final image, at reduced size (latents larger than LIVE_SIDE per side are
area-averaged down first: a 512 px image is previewed at 256 px, a quarter of the decoding work),
and only while the decodes so far stay within LIVE_BUDGET of the denoising time so far; every other
step (and x_t, which is noise for most of the run) is shown by the approx map. The last step is never
decoded for a preview: the final image is decoded right after it, so previews never delay it. The images
of a classroom batch share one budget (LiveBudget).
"""
from __future__ import annotations

import time

import numpy as np
import torch

from explorer.errors import InputError, ModelLoadError
from explorer.messages import say
from explorer.models import vae

PREVIEW_DECODERS = ("approx", "live", "taesd", "full")
LIVE_SIDE = 32             # live previews decode latents of at most this many cells per side (256 px for SD)
LIVE_BUDGET = 0.2          # live previews may spend this share of the denoising time on VAE decodes
# The tiny decoders' published diffusers configs (hub repo -> AutoencoderTiny keyword arguments), written out so that
# tests and benches build the same shapes offline with random weights. TAESD3 and TAEF1 are AutoencoderTiny's
# defaults (four blocks of 64 channels, 8x upsampling) with 16 latent channels; like TAESD they decode the pipeline's
# *scaled* latents ((z - shift) * scale) directly: madebyollin/taesd's README ("TAESD's scale_factor for latents is
# 1"), ComfyUI's previewer (comfy/latent_preview.py decodes the sampler's latents as they are) and the taesd3 model
# card, which sets `pipe.vae.config.shift_factor = 0.0` so that the pipeline hands them over unchanged.
TINY_DECODER_CONFIGS = {"madebyollin/taesd": dict(latent_channels=4),
                        "madebyollin/taesdxl": dict(latent_channels=4),
                        "madebyollin/taesd3": dict(latent_channels=16),
                        "madebyollin/taef1": dict(latent_channels=16)}


def approx_rgb(latents: torch.Tensor, factors, bias) -> torch.Tensor:
    """Latents (B, C, h, w) -> RGB (B, 3, h, w) in [0, 1] by a fixed linear map (ComfyUI latent_rgb_factors)."""
    weight = torch.as_tensor(factors, dtype=torch.float32)            # (C, 3)
    offset = torch.as_tensor(bias, dtype=torch.float32)               # (3,)
    rgb = torch.einsum("bchw,cr->brhw", latents.float().cpu(), weight) + offset[None, :, None, None]
    return ((rgb + 1) / 2).clamp(0, 1)


def fit_latent_rgb(latents: torch.Tensor, rgb: torch.Tensor) -> dict:
    """Least-squares affine map from latents (N, C, h, w) to RGB (N, 3, h, w) in [-1, 1], the map approx_rgb applies.

    How ComfyUI's latent_rgb_factors and AUTOMATIC1111's "Approx cheap" factors are made: a linear
    regression from each latent pixel to the decoded image averaged over that pixel's area.
    Returns {"factors": (C, 3), "bias": (3,)} as lists, the format of a model's latent_rgb.json.
    """
    x = latents.permute(0, 2, 3, 1).reshape(-1, latents.shape[1]).double()      # (N*h*w, C)
    y = rgb.permute(0, 2, 3, 1).reshape(-1, 3).double()                         # (N*h*w, 3)
    design = torch.cat([x, torch.ones(len(x), 1, dtype=x.dtype)], dim=1)        # (N*h*w, C + 1)
    solution = torch.linalg.lstsq(design, y).solution                           # (C + 1, 3)
    return {"factors": [[round(float(v), 5) for v in row] for row in solution[:-1]],
            "bias": [round(float(v), 5) for v in solution[-1]]}


def to_latent_resolution(images: torch.Tensor, factor: int) -> torch.Tensor:
    """Images (B, 3, H, W) -> (B, 3, H/factor, W/factor), each pixel the mean of its factor x factor area."""
    return torch.nn.functional.avg_pool2d(images.float(), factor)


def to_uint8(images: torch.Tensor) -> np.ndarray:
    """RGB (B, 3, H, W) in [0, 1] -> uint8 (B, H, W, 3)."""
    return (images.permute(0, 2, 3, 1).float().cpu().numpy() * 255).round().astype(np.uint8)


class LiveBudget:
    """The VAE time live previews may still spend: LIVE_BUDGET of the denoising time so far.

    One budget per generation run, shared by every image of a classroom batch: each image's decoder sees
    the others' decodes as time passing, so per-image budgets would grant each other more and more (with 8
    users, previews could take most of the run); a shared one keeps the whole batch within its share.
    Denoising time is the wall time since the first preview minus the VAE time spent on previews.
    """

    def __init__(self, share: float = LIVE_BUDGET, clock=time.perf_counter):
        self.share = share
        self.clock = clock
        self.started: float | None = None     # the first preview call (the end of the first step)
        self.decoding = 0.0                   # seconds spent on VAE previews so far
        self.last: float | None = None        # the latest decode's seconds (what the next one is expected to take)

    def denoising(self, now: float) -> float:
        return 0.0 if self.started is None else now - self.started - self.decoding

    def allows(self) -> bool:
        """Whether a decode now keeps the VAE time within the share (never before any denoising was timed)."""
        now = self.clock()
        if self.started is None:
            self.started = now
            return False
        return self.decoding + (self.last or 0.0) <= self.share * self.denoising(now)

    def spend(self, seconds: float) -> None:
        self.decoding += seconds
        self.last = seconds


class PreviewDecoder:
    """Decodes latents for display with one of PREVIEW_DECODERS; taesd is loaded on first use. live: `budget`
    is shared by the decoders of one batch (a new one when None)."""

    def __init__(self, model, kind: str = "approx", budget: LiveBudget | None = None,
                 size: tuple[int, int] | None = None):
        if kind not in PREVIEW_DECODERS:
            raise InputError("preview", say("checks.one_of", choices=", ".join(PREVIEW_DECODERS)), kind)
        self.model = model
        self.kind = kind
        self._taesd = _load_taesd(model) if kind == "taesd" else None
        self.budget = (budget or LiveBudget()) if kind == "live" else None
        self.decoded: list[int] = []          # live: the steps whose x0 preview is the VAE's
        self.size = size                      # (height, width) of the image: unpacks FLUX's patch tokens

    def unpacked(self, latents: torch.Tensor) -> torch.Tensor:
        """The pipeline loop's latents in the VAE's layout (B, C, h, w) (FLUX packs 2x2 patches into tokens)."""
        if latents.ndim == 4:
            return latents
        if self.size is None:                 # the tokens do not say the image's aspect: the caller must
            raise ValueError("PreviewDecoder(size=(height, width)) is needed for packed (B, tokens, C) latents")
        return self.model.adapter.unpack_latents(self.model.pipe, latents, *self.size)

    @torch.no_grad()
    def __call__(self, latents: torch.Tensor) -> np.ndarray:
        """Pipeline latents (B, C, h, w) -> uint8 images (B, H, W, 3)."""
        latents = self.unpacked(latents)
        if self.kind in ("approx", "live"):
            rgb = self.model.latent_rgb
            return to_uint8(approx_rgb(latents, rgb["factors"], rgb["bias"]))
        if self.kind == "taesd":
            images = self._taesd.decode(latents.to(self._taesd.device, self._taesd.dtype)).sample
        else:
            images = vae.decode(self.model.pipe, latents)
        return to_uint8(((images + 1) / 2).clamp(0, 1))

    def step(self, noisy: torch.Tensor, x0: torch.Tensor, index: int, total: int) -> tuple[np.ndarray, ...]:
        """One watched step's pictures (x_t, x0, x0 as every step shows it), each (H, W, 3) uint8. live: x0 by the
        VAE when the budget allows, and the approx x0 as the third, so that changes between steps compare like
        with like."""
        if self.kind != "live":
            images = self(torch.cat([noisy, x0]))
            return images[0], images[1], images[1]
        approx = self(torch.cat([noisy, x0]))
        picture = approx[1]
        if self.budget.allows() and 0 < index < total - 1:            # step 0: nothing timed yet
            started = self.budget.clock()
            picture = self._small_vae(x0)
            self.budget.spend(self.budget.clock() - started)
            self.decoded.append(index)
        return approx[0], picture, approx[1]

    @torch.no_grad()
    def _small_vae(self, x0: torch.Tensor) -> np.ndarray:
        """The VAE's picture of x0, from its latent area-averaged to at most LIVE_SIDE cells per side."""
        x0 = self.unpacked(x0)
        factor = max(1, -(-max(x0.shape[-2:]) // LIVE_SIDE))
        small = torch.nn.functional.avg_pool2d(x0.float(), factor).to(x0.dtype) if factor > 1 else x0
        images = vae.decode(self.model.pipe, small)
        return to_uint8(((images + 1) / 2).clamp(0, 1))[0]


def available_decoders(model) -> tuple[str, ...]:
    """The preview decoders this model can use (taesd only where its family has a tiny decoder)."""
    return tuple(kind for kind in PREVIEW_DECODERS if kind != "taesd" or model.adapter.taesd)


def _load_taesd(model):
    """AutoencoderTiny for the model's family, downloaded once from the hub."""
    repo = model.adapter.taesd
    if repo is None:
        raise InputError("preview", say("previews.no_taesd", choices=", ".join(available_decoders(model))), "taesd")

    def load():
        from diffusers import AutoencoderTiny

        try:
            return AutoencoderTiny.from_pretrained(repo, dtype=model.dtype).to(model.device)
        except (OSError, ValueError) as error:
            raise ModelLoadError(say("previews.taesd_failed", repo=repo,
                                     error=str(error).splitlines()[0][:120])) from error

    return model.tiny_decoders.get((repo, str(model.device), model.dtype), load)
