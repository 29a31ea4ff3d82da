"""Preview decoders: turn latents into pictures, cheaply (approx), quickly (taesd) or exactly (full VAE)."""
from __future__ import annotations

import numpy as np
import torch

from explorer.errors import InputError, ModelLoadError

# Linear latent->RGB maps for the SD 1.x/2.x VAE (both share it), applied to the pipeline's scaled
# latents; output in [-1, 1]. Source: ComfyUI comfy/latent_formats.py (SD15.latent_rgb_factors),
# the same idea as AUTOMATIC1111's "Approx cheap" preview.
_SD_FACTORS = [[0.3512, 0.2297, 0.3227],
               [0.3250, 0.4974, 0.2350],
               [-0.2829, 0.1762, 0.2721],
               [-0.2120, -0.2616, -0.7177]]
LATENT_RGB = {
    "sd1": {"factors": _SD_FACTORS, "bias": [0.0, 0.0, 0.0]},
    "sd2": {"factors": _SD_FACTORS, "bias": [0.0, 0.0, 0.0]},
}
PREVIEW_DECODERS = ("approx", "taesd", "full")
TAESD_IDS = {"sd1": "madebyollin/taesd", "sd2": "madebyollin/taesd"}


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
            vae = self.model.pipe.vae
            images = vae.decode(latents.to(vae.device, vae.dtype) / vae.config.scaling_factor).sample
        return to_uint8(((images + 1) / 2).clamp(0, 1))


_TAESD_CACHE: dict = {}


def _load_taesd(model):
    """AutoencoderTiny for the model's family, downloaded once from the hub."""
    repo = TAESD_IDS.get(model.family)
    if repo is None:
        raise InputError("preview", "approx or full for this model (taesd exists for SD 1.x/2.x only)", "taesd")
    key = (repo, str(model.device), model.dtype)
    if key not in _TAESD_CACHE:
        from diffusers import AutoencoderTiny

        try:
            _TAESD_CACHE[key] = AutoencoderTiny.from_pretrained(repo, dtype=model.dtype).to(model.device)
        except (OSError, ValueError) as error:
            raise ModelLoadError(f"preview: taesd needs a one-time download of {repo} from the Hugging Face "
                                 f"hub, which failed ({str(error).splitlines()[0][:120]}). Choose the approx "
                                 "or full preview instead.") from error
    return _TAESD_CACHE[key]
