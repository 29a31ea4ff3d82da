"""One adapter per model family: what the features need to know about a family, in one place.

A feature never asks which family it runs on; it asks the adapter. An adapter encodes prompts
into the tensors the denoiser needs (`encode_sequences`, `make_conditioning`), reads a prompt's
pooled text vector (`encode_pooled`, for similarities and concept maps), and names the family's
preview map, tiny decoder, CLIP vision model and examples. diffusers keeps one pipeline class
per family; so does the explorer. Adding a family (SDXL, SD3) means one more adapter here.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import torch

from explorer.errors import InputError
from explorer.models.conditioning import Conditioning
from explorer.models.presets import MINIWORLD_DIR

# Linear latent->RGB maps for the SD 1.x/2.x VAE (both share it), applied to the pipeline's scaled
# latents; output in [-1, 1]. Source: ComfyUI comfy/latent_formats.py (SD15.latent_rgb_factors),
# the same idea as AUTOMATIC1111's "Approx cheap" preview.
SD_LATENT_RGB = {"factors": [[0.3512, 0.2297, 0.3227],
                             [0.3250, 0.4974, 0.2350],
                             [-0.2829, 0.1762, 0.2721],
                             [-0.2120, -0.2616, -0.7177]],
                 "bias": [0.0, 0.0, 0.0]}


@dataclass(frozen=True)
class StableDiffusionFamily:
    """SD 1.x / 2.x and the models built like them: one CLIP text encoder, sequence conditioning only."""

    name: str                                  # "sd1", "sd2", "tiny", "miniworld"
    about: str                                 # one line for the UI
    pipeline: str = "StableDiffusionPipeline"  # the diffusers pipeline class
    latent_rgb: dict = field(default_factory=lambda: SD_LATENT_RGB)  # approx preview map (a model file may override)
    taesd: str | None = None                   # hub id of the family's AutoencoderTiny
    vision: tuple[str, str] | None = None      # CLIP vision model: (source, one line for the UI)
    examples: str = "stable-diffusion"         # key of explorer.models.examples.BY_NAME

    @torch.no_grad()
    def encode_sequences(self, pipe, prompts: list[str], device: torch.device) -> torch.Tensor:
        """The sequences the UNet attends to, exactly as the pipeline's encode_prompt makes them: (B, 77, d)."""
        embeds, _ = pipe.encode_prompt(prompts, device, 1, False)
        return embeds

    @torch.no_grad()
    def encode_pooled(self, pipe, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        """The pooled text vector (the end token's final hidden state) of token ids: (B, d), float32 on the CPU."""
        encoder = pipe.text_encoder
        out = encoder(input_ids.to(encoder.device), attention_mask=attention_mask.to(encoder.device))
        return out.pooler_output.float().cpu()

    def make_conditioning(self, prompt_embeds: torch.Tensor, negative_prompt_embeds: torch.Tensor,
                          weights: tuple[float, ...] | None = None) -> Conditioning:
        """Both guidance halves as the denoiser takes them: (B, 77, d) each (or n sequences for AND)."""
        return Conditioning(prompt_embeds, negative_prompt_embeds, weights=weights)


FAMILIES: dict[str, StableDiffusionFamily] = {
    "sd1": StableDiffusionFamily(
        "sd1", "Stable Diffusion 1.x", taesd="madebyollin/taesd",
        vision=("openai/clip-vit-large-patch14",
                "OpenAI CLIP ViT-L/14 (~1.7 GB): the image tower matching SD 1.x's text encoder")),
    "sd2": StableDiffusionFamily(
        "sd2", "Stable Diffusion 2.x", taesd="madebyollin/taesd",
        vision=("laion/CLIP-ViT-H-14-laion2B-s32B-b79K",
                "OpenCLIP ViT-H/14 LAION-2B (~3.9 GB): the image tower matching SD 2.x's text encoder")),
    "miniworld": StableDiffusionFamily(
        "miniworld", "the miniature world", examples="miniworld",
        vision=(str(MINIWORLD_DIR / "clip"),
                "the miniworld CLIP, trained on the same shapes as the model (ships with the project)")),
    "tiny": StableDiffusionFamily(
        "tiny", "tiny random models (tests)",
        vision=("builtin", "a random tiny CLIP (real classes, random weights: scores are noise, for tests)")),
}


def family_adapter(name: str) -> StableDiffusionFamily:
    """The adapter of a family by name."""
    if name not in FAMILIES:
        raise InputError("family", f"one of {', '.join(FAMILIES)}", name)
    return FAMILIES[name]
