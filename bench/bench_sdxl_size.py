"""What SDXL costs on this machine: the full-size architecture, random weights, no download.

Builds StableDiffusionXLPipeline from the published configs of stabilityai/stable-diffusion-xl-base-1.0
(UNet 2.6 B parameters, CLIP ViT-L + OpenCLIP ViT-bigG text encoders, the SDXL VAE) with random
weights: time and memory do not depend on the weights' values. Then, in one run: prompt encoding,
the time of each denoising step at the given size (classifier-free guidance: a batch of 2), the
VAE decode, and the process's peak memory. Usage: python bench/bench_sdxl_size.py [--size 768] [--steps 2]
"""
from __future__ import annotations

import argparse
import os
import resource
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import torch  # noqa: E402

from explorer.models.builtin import clip_tokenizer  # noqa: E402

# stabilityai/stable-diffusion-xl-base-1.0, unet/config.json (the fields that differ from the defaults)
UNET = dict(sample_size=128, in_channels=4, out_channels=4, layers_per_block=2,
            block_out_channels=(320, 640, 1280), attention_head_dim=(5, 10, 20),
            down_block_types=("DownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D"),
            up_block_types=("CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "UpBlock2D"),
            transformer_layers_per_block=(1, 2, 10), cross_attention_dim=2048, use_linear_projection=True,
            addition_embed_type="text_time", addition_time_embed_dim=256,
            projection_class_embeddings_input_dim=2816)
# text_encoder/config.json (CLIP ViT-L/14) and text_encoder_2/config.json (OpenCLIP ViT-bigG/14)
TEXT_1 = dict(hidden_size=768, intermediate_size=3072, num_hidden_layers=12, num_attention_heads=12,
              hidden_act="quick_gelu", projection_dim=768)
TEXT_2 = dict(hidden_size=1280, intermediate_size=5120, num_hidden_layers=32, num_attention_heads=20,
              hidden_act="gelu", projection_dim=1280)
# vae/config.json
VAE = dict(block_out_channels=(128, 256, 512, 512), latent_channels=4, sample_size=1024, scaling_factor=0.13025,
           force_upcast=True, down_block_types=("DownEncoderBlock2D",) * 4, up_block_types=("UpDecoderBlock2D",) * 4,
           layers_per_block=2)


def peak_gib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20      # Linux: KiB


def build():
    from diffusers import AutoencoderKL, EulerDiscreteScheduler, StableDiffusionXLPipeline, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTextModelWithProjection

    common = dict(vocab_size=49408, max_position_embeddings=77, bos_token_id=49406, eos_token_id=49407)
    torch.manual_seed(0)
    unet = UNet2DConditionModel(**UNET).eval()
    text_1 = CLIPTextModel(CLIPTextConfig(**common, pad_token_id=49407, **TEXT_1)).eval()
    text_2 = CLIPTextModelWithProjection(CLIPTextConfig(**common, pad_token_id=0, **TEXT_2)).eval()
    vae = AutoencoderKL(**VAE).eval()
    scheduler = EulerDiscreteScheduler(beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear",
                                       steps_offset=1, timestep_spacing="leading")
    tokenizer_2 = clip_tokenizer()
    tokenizer_2.pad_token = "!"
    return StableDiffusionXLPipeline(vae=vae, text_encoder=text_1, text_encoder_2=text_2, tokenizer=clip_tokenizer(),
                                     tokenizer_2=tokenizer_2, unet=unet, scheduler=scheduler)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=768)
    parser.add_argument("--steps", type=int, default=2)
    args = parser.parse_args()
    start = time.perf_counter()
    pipe = build()
    pipe.set_progress_bar_config(disable=True)
    params = sum(p.numel() for p in pipe.unet.parameters())
    print(f"built in {time.perf_counter() - start:.0f} s: UNet {params / 1e9:.2f} B parameters; "
          f"peak memory so far {peak_gib():.1f} GiB", flush=True)

    with torch.inference_mode():
        start = time.perf_counter()
        embeds = pipe.encode_prompt("van gogh self-portrait in an astronaut suit", device=torch.device("cpu"))
        encode = time.perf_counter() - start
        stamps = []

        def on_step(pipe_, i, t, kwargs):
            stamps.append(time.perf_counter())
            return kwargs

        start = time.perf_counter()
        latents = pipe(prompt_embeds=embeds[0], negative_prompt_embeds=embeds[1], pooled_prompt_embeds=embeds[2],
                       negative_pooled_prompt_embeds=embeds[3], num_inference_steps=args.steps, guidance_scale=5.0,
                       width=args.size, height=args.size, output_type="latent",
                       generator=torch.Generator("cpu").manual_seed(0), callback_on_step_end=on_step).images
        steps = [b - a for a, b in zip([start] + stamps[:-1], stamps)]
        start = time.perf_counter()
        pipe.vae.decode(latents / pipe.vae.config.scaling_factor)
        decode = time.perf_counter() - start
    print(f"SDXL at {args.size}x{args.size} on {torch.get_num_threads()} CPU threads, float32:")
    print(f"  prompt encoding (both encoders, one prompt): {encode:.1f} s")
    print("  denoising steps (UNet on a batch of 2 for guidance): " + ", ".join(f"{s:.1f} s" for s in steps))
    print(f"  VAE decode: {decode:.1f} s")
    print(f"  peak memory (RSS): {peak_gib():.1f} GiB")
    best = min(steps)
    print(f"  => a 20-step image: about {encode + 20 * best + decode:.0f} s on this machine")


if __name__ == "__main__":
    main()
