"""Models built offline in seconds from the real diffusers/transformers classes with tiny configs."""
from __future__ import annotations

import torch

from explorer.models.presets import CLIP_TOKENIZER_DIR

TEXT_MAX_LENGTH = 77                  # CLIP's text context
TINY_IMAGE_SIZE = 32                  # the tiny random vision tower: 32x32 pixels in 8x8 patches
TINY_PATCH = 8


def clip_tokenizer(max_length: int = TEXT_MAX_LENGTH):
    """CLIP's real BPE tokenizer from the tables shipped in assets/clip_tokenizer (no download)."""
    from transformers import CLIPTokenizer

    return CLIPTokenizer(str(CLIP_TOKENIZER_DIR / "vocab.json"), str(CLIP_TOKENIZER_DIR / "merges.txt"),
                         model_max_length=max_length)


def build_tiny_random(seed: int = 0):
    """A randomly initialised miniature SD pipeline: the real classes, tiny configs, no download.

    Configs follow diffusers' own `get_dummy_components` (tests/pipelines/stable_diffusion); the
    tokenizer is CLIP's real BPE vocabulary shipped in assets/clip_tokenizer.
    """
    from diffusers import AutoencoderKL, DDIMScheduler, StableDiffusionPipeline, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        unet = UNet2DConditionModel(
            block_out_channels=(32, 64), layers_per_block=1, sample_size=32, in_channels=4, out_channels=4,
            down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
            up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"), cross_attention_dim=32, norm_num_groups=32)
        vae = AutoencoderKL(
            block_out_channels=[32, 64], in_channels=3, out_channels=3,
            down_block_types=["DownEncoderBlock2D", "DownEncoderBlock2D"],
            up_block_types=["UpDecoderBlock2D", "UpDecoderBlock2D"], latent_channels=4, norm_num_groups=32)
        text_encoder = CLIPTextModel(CLIPTextConfig(
            bos_token_id=49406, eos_token_id=49407, pad_token_id=49407, hidden_size=32, intermediate_size=64,
            layer_norm_eps=1e-05, num_attention_heads=4, num_hidden_layers=5, vocab_size=49408,
            max_position_embeddings=77, projection_dim=32))
    scheduler = DDIMScheduler(beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear",
                              clip_sample=False, set_alpha_to_one=False, steps_offset=1)
    for module in (unet, vae, text_encoder):
        module.eval()
    return StableDiffusionPipeline(vae=vae, text_encoder=text_encoder, tokenizer=clip_tokenizer(), unet=unet,
                                   scheduler=scheduler, safety_checker=None, feature_extractor=None,
                                   requires_safety_checker=False)


def build_tiny_random_xl(seed: int = 0):
    """A randomly initialised miniature SDXL pipeline: the real SDXL classes, tiny configs, no download.

    Configs follow diffusers' own tests (tests/pipelines/stable_diffusion_xl, get_dummy_components):
    a UNet with addition_embed_type="text_time" (6 size ids x 8 + the 32-d pooled vector = 80),
    CLIPTextModel + CLIPTextModelWithProjection (32 + 32 = 64-d cross-attention), two tokenizers from
    the shipped CLIP BPE files, the second padding with "!" as SDXL's tokenizer_2 does.
    """
    from diffusers import AutoencoderKL, EulerDiscreteScheduler, StableDiffusionXLPipeline, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTextModelWithProjection

    text = dict(bos_token_id=49406, eos_token_id=49407, hidden_size=32, intermediate_size=37, layer_norm_eps=1e-05,
                num_attention_heads=4, num_hidden_layers=5, vocab_size=49408, max_position_embeddings=77,
                hidden_act="gelu", projection_dim=32)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        unet = UNet2DConditionModel(
            block_out_channels=(32, 64), layers_per_block=2, sample_size=32, in_channels=4, out_channels=4,
            down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
            up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"), attention_head_dim=(2, 4),
            use_linear_projection=True, addition_embed_type="text_time", addition_time_embed_dim=8,
            transformer_layers_per_block=(1, 2), projection_class_embeddings_input_dim=80,
            cross_attention_dim=64, norm_num_groups=1)
        vae = AutoencoderKL(
            block_out_channels=[32, 64], in_channels=3, out_channels=3,
            down_block_types=["DownEncoderBlock2D", "DownEncoderBlock2D"],
            up_block_types=["UpDecoderBlock2D", "UpDecoderBlock2D"], latent_channels=4, sample_size=128,
            scaling_factor=0.13025)
        text_encoder = CLIPTextModel(CLIPTextConfig(pad_token_id=49407, **text))
        text_encoder_2 = CLIPTextModelWithProjection(CLIPTextConfig(pad_token_id=0, **text))
    scheduler = EulerDiscreteScheduler(beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear",
                                       steps_offset=1, timestep_spacing="leading")
    tokenizer_2 = clip_tokenizer()
    tokenizer_2.pad_token = "!"              # as in stabilityai/stable-diffusion-xl-base-1.0's tokenizer_2
    for module in (unet, vae, text_encoder, text_encoder_2):
        module.eval()
    return StableDiffusionXLPipeline(vae=vae, text_encoder=text_encoder, text_encoder_2=text_encoder_2,
                                     tokenizer=clip_tokenizer(), tokenizer_2=tokenizer_2, unet=unet,
                                     scheduler=scheduler, force_zeros_for_empty_prompt=True)


BUILDERS = {"builtin": build_tiny_random, "builtin-xl": build_tiny_random_xl}   # Preset.source -> builder


def build_tiny_clip(seed: int = 0):
    """A random tiny transformers CLIPModel (text + vision towers) and CLIP's real BPE tokenizer."""
    from transformers import CLIPConfig, CLIPModel

    text = dict(vocab_size=49408, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                num_attention_heads=4, max_position_embeddings=TEXT_MAX_LENGTH, bos_token_id=49406,
                eos_token_id=49407, pad_token_id=49407, projection_dim=32)
    vision = dict(image_size=TINY_IMAGE_SIZE, patch_size=TINY_PATCH, hidden_size=32, intermediate_size=64,
                  num_hidden_layers=2, num_attention_heads=4, projection_dim=32)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        clip = CLIPModel(CLIPConfig(text_config=text, vision_config=vision, projection_dim=32))
    return clip.eval(), clip_tokenizer()
