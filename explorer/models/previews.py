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
