"""Real-size costs without the hub (issue 19, item 1): SD 1.5's (or SDXL's) full architecture from its published
configs with random weights (costs do not depend on the weights' values), everything measured in one run.

    HF_HUB_OFFLINE=1 python bench/bench_real_size.py [--steps 4] [--size 512] [--repeats 1]
    HF_HUB_OFFLINE=1 python bench/bench_real_size.py --family sdxl --steps 2 --size 512
    HF_HUB_OFFLINE=1 python bench/bench_real_size.py --tiny          # CI's short version (tiny-random, seconds)

Prints, as ratios to plain diffusers (the same pipeline call without the explorer), runs interleaved:
1. explorer generate without previews / plain
2. each step-preview decoder / plain: approx (linear map), live (the VAE on x0 at reduced size within
   20% of the denoising time), taesd (the tiny decoder's architecture, random weights), full (the VAE on
   x_t and x0 every step)
3. cross-attention maps recorded / plain
4. concept-vocabulary encoding: seconds per 1,000 entries (the curated list's phrases)
5. nearest concepts over the encoded vocabulary: milliseconds per query; the concept map (PCA, UMAP) of them
6. the archive index: images per second through the family's CLIP vision tower (ViT-L/14 for SD 1.5, ViT-bigG/14
   for SDXL; random weights), and what 10^6 images take at that rate (the index job's scale)
7. peak resident memory of the process
"""
from __future__ import annotations

import argparse
import os
import resource
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")   # shared CPUs: spinning OpenMP threads cost 10x (bench_archive)
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import numpy as np  # noqa: E402
import torch  # noqa: E402
from PIL import Image  # noqa: E402
from _timing import best_and_median  # noqa: E402

from explorer.generation.generate import generate  # noqa: E402
from explorer.generation.recipe import recipe_defaults  # noqa: E402
from explorer.generation.schedulers import make_scheduler  # noqa: E402
from explorer.models import previews  # noqa: E402
from explorer.models.builtin import clip_tokenizer  # noqa: E402
from explorer.models.loaded import LoadedModel  # noqa: E402
from explorer.models.loading import load_model  # noqa: E402
from explorer.models.presets import PRESETS  # noqa: E402
from explorer.models.vision import VisionModel, load_vision  # noqa: E402

PREVIEW_GOAL = 1.25          # issue 19: real previews (the model's own decoding) at <= 1.25x plain


def model_for(tiny: bool, family: str):
    if tiny:
        model = load_model("tiny-random-xl" if family == "sdxl" else "tiny-random")
    elif family == "sdxl":
        from bench_sdxl_size import build  # SDXL base 1.0's configs, random weights

        model = LoadedModel(build(), "sdxl", PRESETS["sdxl"], torch.device("cpu"), torch.float32)
    else:
        from bench_attention import sd15_random  # SD 1.5's configs, random weights
        model = sd15_random()
    model.pipe.set_progress_bar_config(disable=True)
    return model


# the CLIP vision towers the families search archives with (their hub configs' vision_config fields)
VISION = {"sd15": dict(hidden_size=1024, intermediate_size=4096, num_hidden_layers=24, num_attention_heads=16,
                       patch_size=14, image_size=224, projection_dim=768, name="CLIP ViT-L/14"),
          "sdxl": dict(hidden_size=1664, intermediate_size=8192, num_hidden_layers=48, num_attention_heads=16,
                       patch_size=14, image_size=224, projection_dim=1280, hidden_act="gelu",
                       name="OpenCLIP ViT-bigG/14")}


def vision_random(family: str, tiny: bool, model):
    """The family's CLIP vision model with random weights (tiny: the built-in tiny CLIP)."""
    from transformers import CLIPConfig, CLIPModel

    if tiny:
        return load_vision(model)
    fields = dict(VISION[family])
    name, projection = fields.pop("name"), fields.pop("projection_dim")
    torch.manual_seed(0)
    clip = CLIPModel(CLIPConfig(vision_config=fields, text_config=dict(hidden_size=projection, num_hidden_layers=1,
                                                                       intermediate_size=4 * projection,
                                                                       num_attention_heads=8),
                                projection_dim=projection)).eval()
    return VisionModel(clip, clip_tokenizer(), name, "random weights", fields["image_size"])


def with_random_taesd(model) -> None:
    """The tiny decoder's published architecture (AutoencoderTiny's defaults are taesd's), random weights, put where
    the preview decoder looks for the downloaded one."""
    from diffusers import AutoencoderTiny

    repo = model.adapter.taesd
    if repo is None:                                  # tiny models: no family decoder to stand in for
        return
    decoder = AutoencoderTiny().eval().to(model.device, model.dtype)
    model.tiny_decoders.put((repo, str(model.device), model.dtype), decoder)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tiny", action="store_true", help="tiny-random instead of the full architecture")
    parser.add_argument("--family", choices=("sd15", "sdxl"), default="sd15",
                        help="SD 1.5 (default) or SDXL base 1.0 (2.6 B UNet: use --steps 2)")
    parser.add_argument("--images", type=int, default=16, help="archive images to embed (default 16)")
    parser.add_argument("--only", default="", help="comma-separated words: only the runs whose name has one, "
                        "besides plain (e.g. 'explorer,live'; default: every run)")
    parser.add_argument("--steps", type=int, default=4)
    parser.add_argument("--size", type=int, default=None, help="pixels (default 512; --tiny 64)")
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--vocabulary", type=int, default=1000, help="concepts to encode (default 1,000)")
    args = parser.parse_args()
    size = args.size or (64 if args.tiny else 512)
    model = model_for(args.tiny, args.family)
    with_random_taesd(model)
    recipe = recipe_defaults(model, "a watercolor painting of a lighthouse at dawn", seed=1, steps=args.steps,
                             width=size, height=size, scheduler="ddim")

    def plain():
        pipe = model.pipe
        pipe.scheduler = make_scheduler(recipe.scheduler, model.base_scheduler_config)
        with torch.inference_mode():
            pipe(recipe.prompt, num_inference_steps=recipe.steps, guidance_scale=recipe.guidance, width=size,
                 height=size, generator=torch.Generator("cpu").manual_seed(recipe.seed))

    seen = {}

    def watched(kind):
        def run():
            seen[kind] = generate(model, recipe.with_(preview=kind))
        return run

    runs = {"plain diffusers": plain, "explorer, no previews": lambda: generate(model, recipe, watch=False),
            **{f"preview {kind}": watched(kind) for kind in previews.available_decoders(model)},
            "attention maps": lambda: generate(model, recipe, watch=False, attention=True)}
    if args.only:
        runs = {name: fn for name, fn in runs.items() if name == "plain diffusers" or
                any(word in name for word in args.only.split(","))}
    # one warm-up of the cheapest run (first calls allocate), then every run once per round
    generate(model, recipe.with_(steps=1), watch=False)
    times = {name: [] for name in runs}
    for _ in range(args.repeats):
        for name, fn in runs.items():
            started = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - started)
            print(f"  {name}: {times[name][-1]:.1f} s", flush=True)
    bests, _ = best_and_median(times)
    base = bests["plain diffusers"]
    what = ("tiny-random" + ("-xl" if args.family == "sdxl" else "")) if args.tiny else \
        {"sd15": "SD 1.5 architecture (860 M UNet", "sdxl": "SDXL base 1.0 architecture (2.6 B UNet"}[args.family] + \
        ", random weights)"
    print(f"{what}, {size} px, {args.steps} steps, ddim, guidance {recipe.guidance}, {args.repeats} interleaved "
          f"round(s), torch threads {torch.get_num_threads()}, device {model.device}")
    print(f"plain diffusers: {base:.1f} s ({base / args.steps:.1f} s per step incl. the final decode share)")
    for name, seconds in bests.items():
        if name != "plain diffusers":
            goal = f"  (goal <= {PREVIEW_GOAL})" if name == "preview live" else ""
            print(f"{name} / plain = {seconds / base:.3f}{goal}")
    if "live" in seen:
        steps = seen["live"].steps
        real = [s.index + 1 for s in steps if s.x0.shape != s.noisy.shape]      # the VAE's pictures are larger
        print(f"live previews: x0 by the VAE at steps {real} of {len(steps)} (the others: approx)")
    if args.only:                                                   # a subset of the generation runs only
        print(f"peak memory (ru_maxrss): {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20:.2f} GiB")
        return
    # 4-5. the concept vocabulary: encoding and nearest-neighbour queries
    from explorer.concepts.index import encode_vocabulary
    from explorer.concepts.projection import ConceptMap
    from explorer.concepts.vocabularies import builtin_vocabulary

    entries = (builtin_vocabulary(model).entries * 10)[:args.vocabulary]
    started = time.perf_counter()
    vectors = encode_vocabulary(model, entries)
    encode_s = time.perf_counter() - started
    query = vectors[:32]
    started = time.perf_counter()
    for q in query:
        np.argpartition(-(vectors @ q), 10)[:10]
    query_ms = (time.perf_counter() - started) / len(query) * 1000
    print(f"\nconcept encoding: {encode_s / len(entries) * 1000:.1f} s per 1,000 entries ({len(entries)} encoded, "
          f"{vectors.shape[1]}-d); nearest concepts over them: {query_ms:.2f} ms per query")
    for method in ("pca",) if args.tiny else ("pca", "umap"):            # CI's short version: no numba compile
        started = time.perf_counter()
        ConceptMap(method).fit(vectors)
        print(f"concept map ({method.upper()}) of the {len(entries):,}: {time.perf_counter() - started:.2f} s "
              f"(first fit{', numba compilation included' if method == 'umap' else ''})")
    print(f"peak memory so far (ru_maxrss): {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20:.2f} GiB")
    # 6. the archive index: the family's CLIP vision tower over archive-sized pictures
    vision = vision_random(args.family, args.tiny, model)
    rng = np.random.default_rng(0)
    pictures = [Image.fromarray(rng.integers(0, 256, (512, 512, 3), dtype=np.uint8)) for _ in range(args.images)]
    vision.image_embeds(pictures[:2])                                               # warm-up
    started = time.perf_counter()
    for first in range(0, len(pictures), 8):
        vision.image_embeds(pictures[first:first + 8])
    rate = len(pictures) / (time.perf_counter() - started)
    print(f"archive index ({vision.name}, {vision.image_size} px input): {rate:.2f} images/s on this machine; "
          f"10^6 images: {1e6 / rate / 3600:.1f} h here, or that divided by the workers of an index-job")
    print(f"peak memory (ru_maxrss): {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20:.2f} GiB")


if __name__ == "__main__":
    main()
