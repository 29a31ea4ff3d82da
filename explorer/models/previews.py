"""Preview decoders: turn latents into pictures, cheaply (approx), quickly (taesd) or exactly (full VAE)."""
from __future__ import annotations

import numpy as np
import torch

from explorer.cache import LRUCache
from explorer.errors import InputError, ModelLoadError
from explorer.models import vae

PREVIEW_DECODERS = ("approx", "taesd", "full")
TAESD_CACHED = 2           # tiny decoders kept in memory (one per family, device and dtype)


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


class PreviewDecoder:
    """Decodes latents for display with one of PREVIEW_DECODERS; taesd is loaded on first use."""

    def __init__(self, model, kind: str = "approx"):
        if kind not in PREVIEW_DECODERS:
            raise InputError("preview", f"one of {', '.join(PREVIEW_DECODERS)}", kind)
        self.model = model
        self.kind = kind
        self._taesd = _load_taesd(model) if kind == "taesd" else None

    @torch.no_grad()
    def __call__(self, latents: torch.Tensor) -> np.ndarray:
        """Pipeline latents (B, C, h, w) -> uint8 images (B, H, W, 3)."""
        if self.kind == "approx":
            rgb = self.model.latent_rgb
            return to_uint8(approx_rgb(latents, rgb["factors"], rgb["bias"]))
        if self.kind == "taesd":
            images = self._taesd.decode(latents.to(self._taesd.device, self._taesd.dtype)).sample
        else:
            images = vae.decode(self.model.pipe, latents)
        return to_uint8(((images + 1) / 2).clamp(0, 1))


_TAESD = LRUCache(TAESD_CACHED)


def available_decoders(model) -> tuple[str, ...]:
    """The preview decoders this model can use (taesd only where its family has a tiny decoder)."""
    return tuple(kind for kind in PREVIEW_DECODERS if kind != "taesd" or model.adapter.taesd)


def _load_taesd(model):
    """AutoencoderTiny for the model's family, downloaded once from the hub."""
    repo = model.adapter.taesd
    if repo is None:
        raise InputError("preview", f"one of {', '.join(available_decoders(model))} for this model (taesd exists "
                         "for SD 1.x/2.x and SDXL only)", "taesd")

    def load():
        from diffusers import AutoencoderTiny

        try:
            return AutoencoderTiny.from_pretrained(repo, dtype=model.dtype).to(model.device)
        except (OSError, ValueError) as error:
            raise ModelLoadError(f"preview: taesd needs a one-time download of {repo} from the Hugging Face "
                                 f"hub, which failed ({str(error).splitlines()[0][:120]}). Choose the approx "
                                 "or full preview instead.") from error

    return _TAESD.get((repo, str(model.device), model.dtype), load)
