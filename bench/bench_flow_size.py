"""SD3.5 Medium and FLUX.1 at real size from their published configs, with random weights (no download).

(a) parameters and weight memory of every part, counted on the meta device (nothing allocated): FLUX.1's 12 B
    transformer, T5-XXL, CLIP, the 16-channel VAE;
(b) with --run: SD3.5 Medium's transformer, one denoising step at --size px (--rows 2: both guidance halves), then
    one VAE decode, on --device in --dtype, with wall and CPU times and peak memory (CUDA:
    torch.cuda.max_memory_allocated; CPU: the process's peak RSS, ru_maxrss).

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


def peak_rss_gib() -> float:
    """The process's peak resident memory so far (Linux: ru_maxrss in KiB)."""
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20


def peak(device: str) -> str:
    if device == "cuda":
        return f"peak {torch.cuda.max_memory_allocated() / 2**30:.2f} GiB allocated on the GPU"
    return f"peak RSS {peak_rss_gib():.2f} GiB (the whole process: weights, activations, Python)"


@torch.no_grad()
def run_sd35(device: str, dtype: torch.dtype, size: int, rows: int = 2, warmup: bool = True,
             layers: int | None = None) -> None:
    """SD3.5 Medium's transformer, one step on `rows` latents (2: both guidance halves), then one VAE decode.

    `layers`: build only the first N of its 24 blocks (one with dual attention, the rest as its blocks 13-23), then
    scale: the step's time by 24 / N blocks, its peak memory by adding the weights not built (float32 activations of
    one block are freed before the next under no_grad, so the peak is weights + one block's activations). For a CPU
    that cannot run 24 blocks at 1024 px in the time it has."""
    from diffusers import AutoencoderKL, SD3Transformer2DModel

    torch.manual_seed(0)
    started = time.perf_counter()
    config = dict(SD35_MEDIUM)
    if layers is not None:
        config.update(num_layers=layers, dual_attention_layers=(0,))
    transformer = SD3Transformer2DModel(**config).to(device, dtype).eval()
    vae = AutoencoderKL(**VAE_16).to(device, dtype).eval()
    built = sum(p.numel() for p in transformer.parameters())
    missing = (count()["SD3.5 Medium transformer"] - built) * torch.finfo(dtype).bits // 8
    print(f"built SD3.5 Medium's transformer ({config['num_layers']} of 24 blocks, {built / 1e9:.3f} B parameters) and "
          f"the VAE with random weights in {dtype}: {time.perf_counter() - started:.1f} s, {peak(device)}", flush=True)
    latents = torch.randn(rows, 16, size // 8, size // 8, device=device, dtype=dtype)
    text = torch.randn(rows, 77 + 256, 4096, device=device, dtype=dtype)      # 77 CLIP rows + 256 T5 rows
    pooled = torch.randn(rows, 2048, device=device, dtype=dtype)
    timestep = torch.full((rows,), 1000.0, device=device)
    for label in (("warm-up step", "one step") if warmup else ("one step",)):
        if device == "cuda":
            torch.cuda.synchronize()
            torch.cuda.reset_peak_memory_stats()
        started, cpu = time.perf_counter(), time.process_time()
        out = transformer(hidden_states=latents, encoder_hidden_states=text, pooled_projections=pooled,
                          timestep=timestep)[0]
        if device == "cuda":
            torch.cuda.synchronize()
        wall, used = time.perf_counter() - started, time.process_time() - cpu
        print(f"SD3.5 Medium {label} at {size} px ({rows} rows, {(size // 16) ** 2} image + 333 text tokens): "
              f"{wall:.1f} s wall, {used:.1f} s CPU, {peak(device)}", flush=True)
        if layers is not None and device != "cuda":
            print(f"  scaled to 24 blocks: about {wall * 24 / layers:.0f} s wall, {used * 24 / layers:.0f} s CPU; "
                  f"peak RSS about {peak_rss_gib() + missing / 2**30:.2f} GiB (+{missing / 2**30:.2f} GiB of the "
                  "blocks not built)", flush=True)
    del out
    started, cpu = time.perf_counter(), time.process_time()
    image = vae.decode(latents[:1] / VAE_16["scaling_factor"] + VAE_16["shift_factor"]).sample
    if device == "cuda":
        torch.cuda.synchronize()
    print(f"VAE decode at {size} px -> {tuple(image.shape)}: {time.perf_counter() - started:.1f} s wall, "
          f"{time.process_time() - cpu:.1f} s CPU, {peak(device)}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", action="store_true", help="also run SD3.5 Medium one step + VAE decode")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--dtype", default="bfloat16", choices=("float32", "float16", "bfloat16"))
    parser.add_argument("--size", type=int, default=1024)
    parser.add_argument("--rows", type=int, default=2, help="latents in the step: 2 = both guidance halves")
    parser.add_argument("--no-warmup", action="store_true", help="time the first step only (CPU: a step is minutes)")
    parser.add_argument("--layers", type=int, default=None, help="build only N of the 24 blocks and scale (slow CPUs)")
    args = parser.parse_args()
    for name, n in count().items():
        print(f"{name}: {n / 1e9:.3f} B parameters, {2 * n / 2**30:.2f} GiB in bfloat16, {4 * n / 2**30:.2f} GiB "
              "in float32")
    if args.run:
        run_sd35(args.device, getattr(torch, args.dtype), args.size, args.rows, not args.no_warmup, args.layers)


if __name__ == "__main__":
    main()
