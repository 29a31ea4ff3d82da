"""Models built offline in seconds from the real diffusers/transformers classes with tiny configs."""
from __future__ import annotations

import torch

from explorer.models.presets import CLIP_TOKENIZER_DIR, T5_TOKENIZER_DIR

TEXT_MAX_LENGTH = 77                  # CLIP's text context
TINY_IMAGE_SIZE = 32                  # the tiny random vision tower: 32x32 pixels in 8x8 patches
TINY_PATCH = 8
TINY_T5_LENGTH = 32                   # max_sequence_length of the tiny flow-matching models (T5 tokens)


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


def t5_tokenizer(max_length: int = TINY_T5_LENGTH):
    """A small T5 tokenizer (SentencePiece Unigram, 1,000 pieces) from the table shipped in assets/t5_tokenizer.

    The table was trained here with the `tokenizers` library's UnigramTrainer on the project's concept lists and
    lesson texts (bench/make_t5_vocab.py); it is shipped, so every build reads the same pieces. T5's layout:
    <pad> = 0, </s> = 1, <unk> = 2, no start token, pieces starting with "▁" begin a word.
    """
    import json

    from transformers import T5Tokenizer

    vocab = [(piece, float(score)) for piece, score in json.loads((T5_TOKENIZER_DIR / "vocab.json").read_text())]
    return T5Tokenizer(vocab=vocab, extra_ids=0, model_max_length=max_length)


def _tiny_t5(d_model: int, vocab_size: int):
    from transformers import T5Config, T5EncoderModel

    return T5EncoderModel(T5Config(vocab_size=vocab_size, d_model=d_model, d_kv=8, d_ff=37, num_layers=2, num_heads=4,
                                   relative_attention_num_buckets=8, dropout_rate=0.0, pad_token_id=0,
                                   eos_token_id=1, decoder_start_token_id=0, is_encoder_decoder=False))


def _tiny_vae_16(scaling_factor: float, shift_factor: float):
    """A 16-channel AutoencoderKL as SD3 and FLUX have (tiny: 2x per side, not 8x)."""
    from diffusers import AutoencoderKL

    return AutoencoderKL(block_out_channels=[32, 64], in_channels=3, out_channels=3,
                         down_block_types=["DownEncoderBlock2D", "DownEncoderBlock2D"],
                         up_block_types=["UpDecoderBlock2D", "UpDecoderBlock2D"], latent_channels=16,
                         norm_num_groups=32, use_quant_conv=False, use_post_quant_conv=False,
                         scaling_factor=scaling_factor, shift_factor=shift_factor)


_CLIP_TEXT = dict(bos_token_id=49406, eos_token_id=49407, hidden_size=32, intermediate_size=37, layer_norm_eps=1e-05,
                  num_attention_heads=4, num_hidden_layers=5, vocab_size=49408, max_position_embeddings=77,
                  hidden_act="gelu", projection_dim=32)


def build_tiny_random_sd3(seed: int = 0):
    """A randomly initialised miniature SD3 pipeline: SD3Transformer2DModel, two CLIP encoders with projection, a T5
    encoder and the 16-channel VAE, as diffusers' own tests build them (tests/pipelines/stable_diffusion_3,
    get_dummy_components), with the tokenizers of this project (CLIP's shipped BPE, the shipped T5 pieces).

    Widths: CLIP 32 + 32 = 64 = T5's d_model = joint_attention_dim, pooled 32 + 32 = 64; latent 16 channels,
    patch 2. The scheduler is SD3's FlowMatchEulerDiscreteScheduler with shift 3.
    """
    from diffusers import FlowMatchEulerDiscreteScheduler, SD3Transformer2DModel, StableDiffusion3Pipeline
    from transformers import CLIPTextConfig, CLIPTextModelWithProjection

    tokenizer_3 = t5_tokenizer()
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        transformer = SD3Transformer2DModel(sample_size=32, patch_size=2, in_channels=16, out_channels=16,
                                            num_layers=2, attention_head_dim=8, num_attention_heads=4,
                                            caption_projection_dim=32, joint_attention_dim=64,
                                            pooled_projection_dim=64, pos_embed_max_size=64)
        vae = _tiny_vae_16(1.5305, 0.0609)
        text_encoder = CLIPTextModelWithProjection(CLIPTextConfig(pad_token_id=49407, **_CLIP_TEXT))
        text_encoder_2 = CLIPTextModelWithProjection(CLIPTextConfig(pad_token_id=0, **_CLIP_TEXT))
        text_encoder_3 = _tiny_t5(64, len(tokenizer_3))
    tokenizer_2 = clip_tokenizer()
    tokenizer_2.pad_token = "!"              # as stabilityai/stable-diffusion-3.5-medium's tokenizer_2
    for module in (transformer, vae, text_encoder, text_encoder_2, text_encoder_3):
        module.eval()
    return StableDiffusion3Pipeline(transformer=transformer, scheduler=FlowMatchEulerDiscreteScheduler(shift=3.0),
                                    vae=vae, text_encoder=text_encoder, tokenizer=clip_tokenizer(),
                                    text_encoder_2=text_encoder_2, tokenizer_2=tokenizer_2,
                                    text_encoder_3=text_encoder_3, tokenizer_3=tokenizer_3)


def build_tiny_random_flux(seed: int = 0, guidance_embeds: bool = True):
    """A randomly initialised miniature FLUX.1 pipeline: FluxTransformer2DModel (one double- and one single-stream
    block), CLIP-L-like and T5 encoders, the 16-channel VAE, as diffusers' tests build them (tests/pipelines/flux,
    get_dummy_components), with this project's tokenizers. `guidance_embeds`: True like FLUX.1-dev (guidance is an
    input), False like schnell. Scheduler: FLUX's FlowMatchEulerDiscreteScheduler with dynamic shifting.
    """
    from diffusers import FlowMatchEulerDiscreteScheduler, FluxPipeline, FluxTransformer2DModel
    from transformers import CLIPTextConfig, CLIPTextModel

    tokenizer_2 = t5_tokenizer()
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        transformer = FluxTransformer2DModel(patch_size=1, in_channels=64, num_layers=1, num_single_layers=1,
                                             attention_head_dim=16, num_attention_heads=2, joint_attention_dim=32,
                                             pooled_projection_dim=32, axes_dims_rope=[4, 4, 8],
                                             guidance_embeds=guidance_embeds)
        vae = _tiny_vae_16(0.3611, 0.1159)
        text_encoder = CLIPTextModel(CLIPTextConfig(pad_token_id=49407, **_CLIP_TEXT))
        text_encoder_2 = _tiny_t5(32, len(tokenizer_2))
    scheduler = FlowMatchEulerDiscreteScheduler(shift=3.0, use_dynamic_shifting=True, base_shift=0.5, max_shift=1.15,
                                                base_image_seq_len=256, max_image_seq_len=4096)
    for module in (transformer, vae, text_encoder, text_encoder_2):
        module.eval()
    return FluxPipeline(scheduler=scheduler, vae=vae, text_encoder=text_encoder, tokenizer=clip_tokenizer(),
                        text_encoder_2=text_encoder_2, tokenizer_2=tokenizer_2, transformer=transformer)


BUILDERS = {"builtin": build_tiny_random, "builtin-xl": build_tiny_random_xl,      # Preset.source -> builder
            "builtin-sd3": build_tiny_random_sd3, "builtin-flux": build_tiny_random_flux}


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
