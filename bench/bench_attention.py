"""Cost of recording cross-attention maps: generation with maps / without, measured in one run (goal <= 1.3).

On a built-in model (tiny-random, tiny-random-xl, miniworld), or with --real-size on SD 1.5's full
architecture built from its published configs with random weights (860 M-parameter UNet, 512 px;
time does not depend on the weights' values). Runs are interleaved (plain, with maps, repeat) and
the ratio of the best times is the headline, medians beside it.
Usage: python bench/bench_attention.py [--model miniworld] [--repeats 7] [--steps 20]
       python bench/bench_attention.py --real-size [--steps 2] [--repeats 2]
"""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import torch  # noqa: E402
from _timing import best_and_median, interleaved  # noqa: E402  (bench/ is this script's folder)

from explorer.generation.generate import generate  # noqa: E402
from explorer.generation.recipe import recipe_defaults  # noqa: E402
from explorer.models.builtin import clip_tokenizer  # noqa: E402
from explorer.models.loaded import LoadedModel  # noqa: E402
from explorer.models.loading import load_model  # noqa: E402
from explorer.models.presets import PRESETS  # noqa: E402


def sd15_random() -> LoadedModel:
    """SD 1.5's architecture (stable-diffusion-v1-5 unet/vae/text_encoder configs) with random weights."""
    from diffusers import AutoencoderKL, PNDMScheduler, StableDiffusionPipeline, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel

    torch.manual_seed(0)
    unet = UNet2DConditionModel(sample_size=64, cross_attention_dim=768, attention_head_dim=8,
                                block_out_channels=(320, 640, 1280, 1280), layers_per_block=2).eval()
    vae = AutoencoderKL(block_out_channels=(128, 256, 512, 512), latent_channels=4,
                        down_block_types=("DownEncoderBlock2D",) * 4, up_block_types=("UpDecoderBlock2D",) * 4,
                        layers_per_block=2).eval()
    text = CLIPTextModel(CLIPTextConfig(hidden_size=768, intermediate_size=3072, num_hidden_layers=12,
                                        num_attention_heads=12, hidden_act="quick_gelu", vocab_size=49408,
                                        max_position_embeddings=77, bos_token_id=49406, eos_token_id=49407,
                                        pad_token_id=49407)).eval()
    scheduler = PNDMScheduler(beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear", skip_prk_steps=True,
                              steps_offset=1)
    pipe = StableDiffusionPipeline(vae=vae, text_encoder=text, tokenizer=clip_tokenizer(), unet=unet,
                                   scheduler=scheduler, safety_checker=None, feature_extractor=None,
                                   requires_safety_checker=False)
    pipe.set_progress_bar_config(disable=True)
    return LoadedModel(pipe, "sd15", PRESETS["sd15"], torch.device("cpu"), torch.float32)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="miniworld")
    parser.add_argument("--real-size", action="store_true", help="SD 1.5's full architecture, random weights, 512 px")
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--threads", type=int, default=None)
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    model = sd15_random() if args.real_size else load_model(args.model)
    model.pipe.set_progress_bar_config(disable=True)
    recipe = recipe_defaults(model, "a red circle on the left", seed=1, steps=args.steps, scheduler="ddim")
    runs = {"without maps": lambda: generate(model, recipe, watch=False),
            "with maps": lambda: generate(model, recipe, watch=False, attention=True)}
    times = interleaved(runs, args.repeats)
    bests, medians = best_and_median(times)
    base = "SD 1.5 architecture (random weights)" if args.real_size else args.model
    print(f"{base}, {recipe.width}x{recipe.height}, {args.steps} steps, {args.repeats} interleaved repeats, torch "
          f"threads {torch.get_num_threads()}; best (median) seconds: " +
          ", ".join(f"{k} {bests[k]:.3f} ({medians[k]:.3f})" for k in times))
    best = bests["with maps"] / bests["without maps"]
    median = medians["with maps"] / medians["without maps"]
    print(f"with maps / without = {best:.3f} best-of, {median:.3f} median  (goal <= 1.3)")


if __name__ == "__main__":
    main()
