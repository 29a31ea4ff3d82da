"""The miniature world's model configs (all standard diffusers / transformers classes) and how they are saved.

Sizes are chosen to train on a 2-core CPU within the hour and to fit in well under 30 MB:
64x64 images, an AutoencoderKL that downsamples x4 to 4x16x16 latents, a CLIP with 64-wide
text and vision towers, and a three-level UNet2DConditionModel cross-attending to the
CLIP text encoder's 77 hidden states (the same conditioning Stable Diffusion uses).
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import torch

from explorer.world.scenes import IMAGE_SIZE
from explorer.models.vision import CLIP_MEAN, CLIP_STD  # OpenAI CLIP's pixel normalisation

LATENT_CHANNELS = 4
TEXT_WIDTH = 64                      # CLIP text hidden size = the UNet's cross_attention_dim


@dataclass
class ModelSizes:
    """Widths and depths of the three models (defaults: the shipped ones)."""

    text_layers: int = 4             # CLIP text transformer layers
    vision_layers: int = 4           # CLIP vision transformer layers
    clip_heads: int = 4              # attention heads in both towers
    vision_patch: int = 8            # ViT patch side in pixels (64/8 = 8x8 patches)
    projection_dim: int = 64         # shared image-text embedding size
    vae_channels: tuple[int, ...] = (16, 32, 32)       # one block per level: x4 downsampling
    vae_groups: int = 16             # GroupNorm groups (must divide every VAE width)
    unet_channels: tuple[int, ...] = (32, 64, 128)     # levels at 16x16, 8x8, 4x4 latents
    unet_layers: int = 1             # resnets per UNet level
    unet_heads: int = 8              # attention heads (diffusers' `attention_head_dim`)


def vae_factor(sizes: ModelSizes) -> int:
    """Pixels per latent along each side: the VAE halves the resolution between its levels."""
    return 2 ** (len(sizes.vae_channels) - 1)


def build_clip(vocab_size: int, bos_id: int, eos_id: int, sizes: ModelSizes | None = None):
    """A randomly initialised transformers CLIPModel (text + vision towers + projections)."""
    from transformers import CLIPConfig, CLIPModel

    sizes = sizes or ModelSizes()
    text = dict(vocab_size=vocab_size, hidden_size=TEXT_WIDTH, intermediate_size=4 * TEXT_WIDTH,
                num_hidden_layers=sizes.text_layers, num_attention_heads=sizes.clip_heads,
                max_position_embeddings=77, bos_token_id=bos_id, eos_token_id=eos_id, pad_token_id=eos_id,
                projection_dim=sizes.projection_dim)
    vision = dict(image_size=IMAGE_SIZE, patch_size=sizes.vision_patch, hidden_size=TEXT_WIDTH,
                  intermediate_size=4 * TEXT_WIDTH, num_hidden_layers=sizes.vision_layers,
                  num_attention_heads=sizes.clip_heads, projection_dim=sizes.projection_dim)
    config = CLIPConfig(text_config=text, vision_config=vision, projection_dim=sizes.projection_dim)
    return CLIPModel(config)


def build_vae(sizes: ModelSizes | None = None):
    """A randomly initialised AutoencoderKL: 3x64x64 pixels in [-1, 1] <-> 4x16x16 latents."""
    from diffusers import AutoencoderKL

    sizes = sizes or ModelSizes()
    levels = len(sizes.vae_channels)
    return AutoencoderKL(in_channels=3, out_channels=3, latent_channels=LATENT_CHANNELS,
                         block_out_channels=list(sizes.vae_channels), layers_per_block=1,
                         down_block_types=["DownEncoderBlock2D"] * levels,
                         up_block_types=["UpDecoderBlock2D"] * levels,
                         norm_num_groups=sizes.vae_groups, sample_size=IMAGE_SIZE)


def build_unet(sizes: ModelSizes | None = None):
    """A randomly initialised UNet2DConditionModel on 4x16x16 latents, cross-attending to (77, 64) text.

    Cross-attention sits on every level but the first (16x16, where attention would cost most)
    and in the middle block, as SD 1.x leaves it out of its lowest-resolution level instead.
    """
    from diffusers import UNet2DConditionModel

    sizes = sizes or ModelSizes()
    levels = len(sizes.unet_channels)
    return UNet2DConditionModel(
        sample_size=IMAGE_SIZE // vae_factor(sizes), in_channels=LATENT_CHANNELS, out_channels=LATENT_CHANNELS,
        block_out_channels=sizes.unet_channels, layers_per_block=sizes.unet_layers,
        down_block_types=("DownBlock2D",) + ("CrossAttnDownBlock2D",) * (levels - 1),
        up_block_types=("CrossAttnUpBlock2D",) * (levels - 1) + ("UpBlock2D",),
        cross_attention_dim=TEXT_WIDTH, attention_head_dim=sizes.unet_heads, norm_num_groups=32)


def build_scheduler():
    """DDIM with Stable Diffusion's own noise schedule (scaled-linear betas, 1000 steps, epsilon)."""
    from diffusers import DDIMScheduler

    return DDIMScheduler(num_train_timesteps=1000, beta_start=0.00085, beta_end=0.012,
                         beta_schedule="scaled_linear", clip_sample=False, set_alpha_to_one=False,
                         steps_offset=1, prediction_type="epsilon")


def text_encoder_from_clip(clip):
    """The CLIP text tower as the CLIPTextModel the pipeline loads (same weights, same config)."""
    from transformers import CLIPTextModel

    text_encoder = CLIPTextModel(clip.config.text_config)
    text_encoder.load_state_dict(clip.text_model.state_dict())
    return text_encoder.eval()


def image_processor():
    """The CLIPImageProcessor matching the vision tower (64x64, CLIP normalisation)."""
    from transformers import CLIPImageProcessor

    return CLIPImageProcessor(size={"shortest_edge": IMAGE_SIZE}, crop_size={"height": IMAGE_SIZE,
                              "width": IMAGE_SIZE}, image_mean=list(CLIP_MEAN), image_std=list(CLIP_STD))


def clip_pixels(images: torch.Tensor) -> torch.Tensor:
    """Images (B, 3, H, W) in [-1, 1] -> CLIP pixel_values (what image_processor() produces)."""
    mean = torch.tensor(CLIP_MEAN).view(1, 3, 1, 1)
    std = torch.tensor(CLIP_STD).view(1, 3, 1, 1)
    return ((images + 1) / 2 - mean) / std


def save_pipeline(out: Path, *, tokenizer, text_encoder, vae, unet, scheduler) -> None:
    """Write a diffusers folder that StableDiffusionPipeline.from_pretrained loads (safetensors)."""
    from diffusers import StableDiffusionPipeline

    pipe = StableDiffusionPipeline(vae=vae, text_encoder=text_encoder, tokenizer=tokenizer, unet=unet,
                                   scheduler=scheduler, safety_checker=None, feature_extractor=None,
                                   requires_safety_checker=False)
    pipe.save_pretrained(str(out), safe_serialization=True)
    index = json.loads((out / "model_index.json").read_text())
    index.update(safety_checker=[None, None], feature_extractor=[None, None], requires_safety_checker=False)
    (out / "model_index.json").write_text(json.dumps(index, indent=2) + "\n")
    for part in ("vae", "unet", "scheduler"):               # a part loaded from disk (train.py --resume) would
        path = out / part / ("scheduler_config.json" if part == "scheduler" else "config.json")   # name its folder
        config = json.loads(path.read_text())
        if config.pop("_name_or_path", None) is not None:
            path.write_text(json.dumps(config, indent=2, sort_keys=True) + "\n")
