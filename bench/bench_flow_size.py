"""SD3.5 Medium and FLUX.1 at real size from their published configs, with random weights (no download).

(a) parameters and weight memory of every part, counted on the meta device (nothing allocated): FLUX.1's 12 B
    transformer, T5-XXL, CLIP, the 16-channel VAE;
(b) with --run: SD3.5 Medium's transformer, one denoising step at --size px (both guidance halves), then one VAE
    decode, on --device in --dtype, with wall times and peak memory (CUDA: torch.cuda.max_memory_allocated).

The configs are the published ones (stabilityai/stable-diffusion-3.5-medium and black-forest-labs/FLUX.1-dev,
transformer/config.json, text_encoder*/config.json, vae/config.json), written out here because this machine has no
hub. Usage: python bench/bench_flow_size.py [--run --device cuda --dtype bfloat16 --size 1024]
"""
from __future__ import annotations

import argparse
import time

import torch

SD35_MEDIUM = dict(sample_size=128, patch_size=2, in_channels=16, num_layers=24, attention_head_dim=64,
                   num_attention_heads=24, joint_attention_dim=4096, caption_projection_dim=1536,
                   pooled_projection_dim=2048, out_channels=16, pos_embed_max_size=384,
                   dual_attention_layers=tuple(range(13)), qk_norm="rms_norm")
FLUX1 = dict(patch_size=1, in_channels=64, num_layers=19, num_single_layers=38, attention_head_dim=128,
             num_attention_heads=24, joint_attention_dim=4096, pooled_projection_dim=768, guidance_embeds=True,
             axes_dims_rope=(16, 56, 56))
T5_XXL = dict(vocab_size=32128, d_model=4096, d_kv=64, d_ff=10240, num_layers=24, num_heads=64,
              feed_forward_proj="gated-gelu", is_encoder_decoder=False)
CLIP_L = dict(hidden_size=768, intermediate_size=3072, num_hidden_layers=12, num_attention_heads=12,
              projection_dim=768, hidden_act="quick_gelu")
CLIP_G = dict(hidden_size=1280, intermediate_size=5120, num_hidden_layers=32, num_attention_heads=20,
              projection_dim=1280, hidden_act="gelu")
VAE_16 = dict(in_channels=3, out_channels=3, latent_channels=16, block_out_channels=(128, 256, 512, 512),
              down_block_types=("DownEncoderBlock2D",) * 4, up_block_types=("UpDecoderBlock2D",) * 4,
              layers_per_block=2, use_quant_conv=False, use_post_quant_conv=False,
              scaling_factor=1.5305, shift_factor=0.0609)


def parts() -> dict:
    """Each part's constructor, on the meta device."""
    from diffusers import AutoencoderKL, FluxTransformer2DModel, SD3Transformer2DModel
    from transformers import CLIPTextConfig, CLIPTextModelWithProjection, T5Config, T5EncoderModel

    return {"SD3.5 Medium transformer": lambda: SD3Transformer2DModel(**SD35_MEDIUM),
            "FLUX.1 transformer": lambda: FluxTransformer2DModel(**FLUX1),
            "T5-XXL encoder": lambda: T5EncoderModel(T5Config(**T5_XXL)),
            "CLIP-L text (with projection)": lambda: CLIPTextModelWithProjection(CLIPTextConfig(**CLIP_L)),
            "CLIP-G text (with projection)": lambda: CLIPTextModelWithProjection(CLIPTextConfig(**CLIP_G)),
            "16-channel VAE": lambda: AutoencoderKL(**VAE_16)}


def count() -> dict[str, int]:
    from accelerate import init_empty_weights

    sizes = {}
    for name, build in parts().items():
        with init_empty_weights():
            sizes[name] = sum(p.numel() for p in build().parameters())
    return sizes


@torch.no_grad()
def run_sd35(device: str, dtype: torch.dtype, size: int) -> None:
    from diffusers import AutoencoderKL, SD3Transformer2DModel

    transformer = SD3Transformer2DModel(**SD35_MEDIUM).to(device, dtype).eval()
    vae = AutoencoderKL(**VAE_16).to(device, dtype).eval()
    latents = torch.randn(2, 16, size // 8, size // 8, device=device, dtype=dtype)        # both guidance halves
    text = torch.randn(2, 77 + 256, 4096, device=device, dtype=dtype)
    pooled = torch.randn(2, 2048, device=device, dtype=dtype)
    timestep = torch.full((2,), 1000.0, device=device)
    for label in ("warm-up step", "one step"):
        if device == "cuda":
            torch.cuda.synchronize()
            torch.cuda.reset_peak_memory_stats()
        started = time.perf_counter()
        transformer(hidden_states=latents, encoder_hidden_states=text, pooled_projections=pooled, timestep=timestep)
        if device == "cuda":
            torch.cuda.synchronize()
        print(f"SD3.5 Medium {label} at {size} px (2 rows): {time.perf_counter() - started:.3f} s"
              + (f", peak {torch.cuda.max_memory_allocated() / 2**30:.2f} GiB" if device == "cuda" else ""))
    started = time.perf_counter()
    vae.decode(latents[:1] / 1.5305 + 0.0609)
    if device == "cuda":
        torch.cuda.synchronize()
    print(f"VAE decode at {size} px: {time.perf_counter() - started:.3f} s"
          + (f", peak {torch.cuda.max_memory_allocated() / 2**30:.2f} GiB" if device == "cuda" else ""))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", action="store_true", help="also run SD3.5 Medium one step + VAE decode")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--dtype", default="bfloat16", choices=("float32", "float16", "bfloat16"))
    parser.add_argument("--size", type=int, default=1024)
    args = parser.parse_args()
    for name, n in count().items():
        print(f"{name}: {n / 1e9:.3f} B parameters, {2 * n / 2**30:.2f} GiB in bfloat16, {4 * n / 2**30:.2f} GiB "
              "in float32")
    if args.run:
        run_sd35(args.device, getattr(torch, args.dtype), args.size)


if __name__ == "__main__":
    main()
