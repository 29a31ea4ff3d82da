"""Approx step previews against the VAE: colour error per family, and what a full decode costs next to a UNet step.

    HF_HUB_OFFLINE=1 python bench/approx_colour.py [--fit 32] [--eval 16] [--encodings 256] [--repeats 5]

For each family that can be measured here (miniworld, tiny-random, tiny-random-xl):
(a) final latents of generations at the preset's settings (the pipeline run with output_type="latent"),
    decoded by the VAE (the full preview, which is what the final image is) and by the approx map;
    both compared at latent resolution: the VAE image area-averaged down by the VAE's factor, since
    approx draws one pixel per latent. Error: mean |approx - VAE| over pixels and channels, in /255.
    On miniworld also over "shape pixels" only (VAE colour more than 0.1 away from the grey background),
    since ~88% of every image is background and a map that paints grey everywhere already scores well.
(b) miniworld: a least-squares refit of the map (previews.fit_latent_rgb) on other prompts and seeds
    (plus VAE encodings of training images), evaluated on the same held-out generations as (a).
(c) the seconds of one full VAE decode next to one denoising step (one UNet call on the guidance
    batch, plus the scheduler), interleaved (bench/_timing.py); a watched step decodes two latents
    (x_t and x0), so "full 2" is what full previews add to each step (bench_generate.py's goal for
    preview overhead is 10%). A preset defaults to full where approx misses the colour bar (miniworld).
SD 1.x/2.x and SDXL are not measured: no weights here, and random weights make a colour error meaningless.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np  # noqa: E402
import torch  # noqa: E402
from _timing import best_and_median, interleaved  # noqa: E402  (bench/ is this script's folder)

from explorer.generation.conditioning import conditioning_for  # noqa: E402
from explorer.generation.generate import generate  # noqa: E402
from explorer.generation.recipe import recipe_defaults  # noqa: E402
from explorer.generation.schedulers import scheduler_in_pipeline  # noqa: E402
from explorer.world.scenes import BACKGROUND, make_dataset, make_scenes  # noqa: E402
from explorer.models import vae  # noqa: E402
from explorer.models.conditioning import Conditioning  # noqa: E402
from explorer.models.loading import load_model  # noqa: E402
from explorer.models.previews import PreviewDecoder, approx_rgb, fit_latent_rgb, to_latent_resolution  # noqa: E402

BAR = 10.0                     # /255: the approx preview's goal (issue 16)
SHAPE_DISTANCE = 0.1           # a pixel is a shape pixel when a channel is this far from the background (in [0, 1])
BATCH = 16                     # images per pipeline call
SD_PROMPTS = ["a watercolor painting of a lighthouse at dawn", "a red fox in the snow", "an astronaut on a horse",
              "a bowl of fruit, oil painting", "a city street at night, neon", "a green forest with a river",
              "a portrait of an old man", "a blue sports car"]
NOT_MEASURED = ("sd1/sd2 (sd15, sd21-base, sd-turbo) and sdxl (sdxl, sdxl-turbo): not measured here (no weights "
                "offline; random weights would make a colour error meaningless). Their approx factors are ComfyUI's "
                "latent_rgb_factors (comfy/latent_formats.py), fitted there on the real SD and SDXL VAEs; they keep "
                "approx as the default preview (a full decode costs about 1-2 UNet steps at 512 px on a CPU).")


@torch.no_grad()
def final_latents(model, prompts: list[str], seeds: list[int]) -> torch.Tensor:
    """(N, C, h, w) final latents at the preset's settings: generate()'s pipeline call with output_type="latent"."""
    recipes = [recipe_defaults(model, p, seed=s) for p, s in zip(prompts, seeds)]
    r = recipes[0]
    out = []
    for start in range(0, len(recipes), BATCH):
        part = recipes[start:start + BATCH]
        conditioning = Conditioning.cat([conditioning_for(model, x) for x in part])
        with scheduler_in_pipeline(model, r.scheduler), torch.inference_mode():
            out.append(model.pipe(**conditioning.pipeline_kwargs(), num_inference_steps=r.steps,
                                  guidance_scale=r.guidance, width=r.width, height=r.height, output_type="latent",
                                  generator=[torch.Generator("cpu").manual_seed(x.seed) for x in part]).images)
    return torch.cat(out).float().cpu()


@torch.no_grad()
def vae_rgb(model, latents: torch.Tensor) -> torch.Tensor:
    """The VAE's image of each latent at latent resolution, (N, 3, h, w) in [0, 1]."""
    images = torch.cat([vae.decode(model.pipe, latents[i:i + BATCH]).float().cpu()
                        for i in range(0, len(latents), BATCH)])
    return to_latent_resolution(((images + 1) / 2).clamp(0, 1), model.vae_scale_factor)


def errors(latent_rgb: dict, latents: torch.Tensor, target: torch.Tensor) -> tuple[float, float]:
    """(mean |approx - target| over all pixels, over shape pixels only), in /255."""
    diff = (approx_rgb(latents, latent_rgb["factors"], latent_rgb["bias"]) - target).abs() * 255   # (N, 3, h, w)
    background = torch.tensor(BACKGROUND, dtype=torch.float32).view(1, 3, 1, 1) / 255
    shape = ((target - background).abs().amax(1, keepdim=True) > SHAPE_DISTANCE).expand_as(diff)
    return float(diff.mean()), float(diff[shape].mean()) if shape.any() else float("nan")


def full_matches_final_image(model, prompt: str, seed: int) -> float:
    """Mean |full preview of the final latent - generate()'s image| in /255 (0 up to rounding)."""
    image = np.asarray(generate(model, recipe_defaults(model, prompt, seed=seed), watch=False).image, np.float32)
    latent = final_latents(model, [prompt], [seed])
    return float(np.abs(PreviewDecoder(model, "full")(latent)[0].astype(np.float32) - image).mean())


def decode_vs_step(model, prompt: str, repeats: int) -> dict[str, tuple[float, float]]:
    """Seconds of a full decode of 1 and 2 latents and of approx on 2, each / seconds of one denoising step."""
    recipe = recipe_defaults(model, prompt, seed=0)
    conditioning = conditioning_for(model, recipe)
    latent = final_latents(model, [prompt], [0]).to(model.device, model.dtype)
    pair = latent.repeat(2, 1, 1, 1)

    def denoise():
        with scheduler_in_pipeline(model, recipe.scheduler), torch.inference_mode():
            model.pipe(**conditioning.pipeline_kwargs(), num_inference_steps=recipe.steps,
                       guidance_scale=recipe.guidance, width=recipe.width, height=recipe.height, output_type="latent",
                       generator=torch.Generator("cpu").manual_seed(0))

    rgb = model.latent_rgb
    runs = {"steps": denoise, "full 1": lambda: vae.decode(model.pipe, latent),
            "full 2": lambda: vae.decode(model.pipe, pair),
            "approx 2": lambda: approx_rgb(pair, rgb["factors"], rgb["bias"])}
    best, median = best_and_median(interleaved(runs, repeats))
    step_best, step_median = best["steps"] / recipe.steps, median["steps"] / recipe.steps
    return {name: (best[name] / step_best, median[name] / step_median) for name in runs if name != "steps"}


def miniworld(args) -> None:
    """(a), (b) and (c) on the shipped miniworld model."""
    model = load_model("miniworld")
    model.pipe.set_progress_bar_config(disable=True)
    _, fit_prompts = make_scenes(args.fit, seed=1)
    _, eval_prompts = make_scenes(args.eval, seed=2)
    held_out = final_latents(model, eval_prompts, list(range(2000, 2000 + args.eval)))
    target = vae_rgb(model, held_out)
    shipped = errors(model.latent_rgb, held_out, target)
    fit_latents = final_latents(model, fit_prompts, list(range(1000, 1000 + args.fit)))
    images = make_dataset(args.encodings, seed=5).images
    pixels = torch.from_numpy(images).permute(0, 3, 1, 2).float() / 127.5 - 1           # (N, 3, 64, 64)
    encoded = torch.cat([vae.encode(model.pipe, pixels[i:i + 64]).float() for i in range(0, len(pixels), 64)])
    fits = {"generations": fit_latents, "generations + encodings": torch.cat([fit_latents, encoded])}
    print(f"miniworld: {args.eval} held-out generations (prompts make_scenes({args.eval}, seed=2), seeds 2000+), "
          f"{model.preset.steps} steps {model.preset.scheduler}, latents {tuple(held_out.shape[1:])}")
    print(f"  approx, shipped latent_rgb.json:  {shipped[0]:5.1f}/255 all pixels, {shipped[1]:5.1f}/255 shape pixels")
    for name, latents in fits.items():
        refit = fit_latent_rgb(latents, vae_rgb(model, latents) * 2 - 1)
        after = errors(refit, held_out, target)
        print(f"  approx, refit on {len(latents)} {name}: {after[0]:5.1f}/255 all, {after[1]:5.1f}/255 shape pixels"
              f"   {json.dumps(refit)}")
    full = full_matches_final_image(model, eval_prompts[0], 2000)
    print(f"  full (the VAE itself) vs generate()'s final image: {full:.2f}/255 (uint8 rounding only)")
    print(f"  bar {BAR:g}/255: approx {'meets' if shipped[0] <= BAR else 'misses'} it; the preset's preview is "
          f"{model.preset.preview!r}")
    report_costs(model, eval_prompts[0], args.repeats)


def random_family(name: str, args) -> None:
    """(a) and (c) on a random-weights model: the costs are real, the colour error says nothing."""
    model = load_model(name)
    model.pipe.set_progress_bar_config(disable=True)
    prompts = SD_PROMPTS[:min(args.eval, len(SD_PROMPTS))]
    latents = final_latents(model, prompts, list(range(len(prompts))))
    error = errors(model.latent_rgb, latents, vae_rgb(model, latents))[0]
    print(f"{name} ({model.family}): approx {error:.1f}/255 on {len(prompts)} generations (random weights: "
          f"meaningless as a colour figure, shown to prove the path); full vs final image "
          f"{full_matches_final_image(model, prompts[0], 0):.2f}/255; preset preview {model.preset.preview!r}")
    report_costs(model, prompts[0], args.repeats)


def report_costs(model, prompt: str, repeats: int) -> None:
    ratios = decode_vs_step(model, prompt, repeats)
    preset = model.preset
    print(f"  cost / one denoising step ({preset.size}x{preset.size}, guidance {preset.guidance:g}, "
          f"{torch.get_num_threads()} threads; best-of (median)): "
          + ", ".join(f"{k} latent{'s' if k.endswith('2') else ''} {b:.2f} ({m:.2f})" for k, (b, m) in ratios.items()))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fit", type=int, default=32, help="miniworld generations the refit is fitted on")
    parser.add_argument("--eval", type=int, default=16, help="held-out generations the errors are measured on")
    parser.add_argument("--encodings", type=int, default=256, help="miniworld training images encoded for the refit")
    parser.add_argument("--repeats", type=int, default=5, help="interleaved timing rounds")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    miniworld(args)
    for name in ("tiny-random", "tiny-random-xl"):
        random_family(name, args)
    print(NOT_MEASURED)


if __name__ == "__main__":
    main()
