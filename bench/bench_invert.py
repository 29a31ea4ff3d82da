"""Inversion (issue 30): miniworld's held-out scenes inverted and drawn again, read by the pixel oracle; and what an
inversion costs against a generation of the same steps.

    HF_HUB_OFFLINE=1 python bench/bench_invert.py [--steps 25] [--null-text-scenes 6] [--iterations 10]
    HF_HUB_OFFLINE=1 python bench/bench_invert.py --timing-only --real     # SD 1.5's architecture, random weights

1. every scene of the three held-out colour-shape combinations (green triangle, purple circle, orange square; never
   in miniworld's training set) at both sizes and all five places (30 scenes), inverted under its full caption:
   - guidance 1, plain DDIM inversion: the oracle reads the same colour, shape and place in the reconstruction
     (goal >= 95%), PSNR >= 28 dB (goal), and the VAE's own round trip (the ceiling any inversion can reach);
   - the model's default guidance (5), plain DDIM inversion and, on the first N scenes, null-text inversion
     (Mokady et al. 2023): the same figures;
   - an edit ("... blue ..."; same noise, the model's guidance): the oracle reads blue and the same place (goal >= 90%)
2. seconds: inversion / generation at the same steps (goal <= 1.3 for DDIM inversion), null-text's cost, runs
   interleaved (bench/_timing.py); miniworld, and with --real SD 1.5's full architecture at 512 px (random weights)
The machine is shared: the ratios are what to compare, not the seconds.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")   # shared CPUs: spinning OpenMP threads cost 10x (bench_archive)
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import numpy as np  # noqa: E402
from PIL import Image  # noqa: E402
from _timing import best_and_median, interleaved  # noqa: E402

from explorer.explore.inversion import edit, invert  # noqa: E402
from explorer.generation.generate import generate  # noqa: E402
from explorer.generation.recipe import recipe_defaults  # noqa: E402
from explorer.models.loading import load_model  # noqa: E402
from explorer.world import oracle  # noqa: E402
from explorer.world.scenes import HELD_OUT, POSITIONS, SIZES, Scene, full_caption, render  # noqa: E402

RATIO_GOAL = 1.3
AGREE_GOAL, PSNR_GOAL, EDIT_GOAL = 0.95, 28.0, 0.90


def held_out_scenes() -> list[Scene]:
    return [Scene(combo.split()[1], combo.split()[0], size, place)
            for combo in HELD_OUT for size in SIZES for place in POSITIONS]


def agrees(image, scene: Scene) -> bool:
    array = np.asarray(image.convert("RGB")) if isinstance(image, Image.Image) else image
    return oracle.read(array).agrees(colour=scene.colour, shape=scene.shape, position=scene.position)


def figures(model, scenes: list[Scene], steps: int, guidance: float, method: str, iterations: int,
            edits: bool) -> dict:
    rows = []
    for scene in scenes:
        prompt = full_caption(scene.shape, scene.colour, scene.size, scene.position)
        inv = invert(model, Image.fromarray(render(scene)), prompt=prompt, steps=steps, guidance=guidance,
                     method=method, iterations=iterations, watch=False)
        row = {"scene": prompt, "psnr": inv.psnr, "vae_psnr": inv.vae_psnr, "agrees": agrees(inv.reconstruction, scene),
               "vae_agrees": agrees(inv.vae_image, scene), "typical": inv.stats.typical,
               "corr": inv.stats.neighbour_corr, "chi2_z": inv.stats.chi2_z}
        if edits:
            image = edit(model, inv, full_caption(scene.shape, "blue", scene.size, scene.position)).image
            reading = oracle.read(np.asarray(image))
            row["edit"] = reading.colour == "blue" and reading.position == scene.position
        rows.append(row)
        print(json.dumps({k: round(v, 2) if isinstance(v, float) else v for k, v in row.items()}), file=sys.stderr,
              flush=True)
    n = len(rows)
    out = {"scenes": n, "steps": steps, "guidance": guidance, "method": method,
           "oracle_agrees": sum(r["agrees"] for r in rows) / n, "vae_oracle_agrees": sum(r["vae_agrees"] for r in rows) / n,
           "psnr_mean": float(np.mean([r["psnr"] for r in rows])), "psnr_min": float(np.min([r["psnr"] for r in rows])),
           "psnr_at_least_28": sum(r["psnr"] >= PSNR_GOAL for r in rows) / n,
           "vae_psnr_mean": float(np.mean([r["vae_psnr"] for r in rows])),
           "vae_psnr_at_least_28": sum(r["vae_psnr"] >= PSNR_GOAL for r in rows) / n,
           "psnr_within_2db_of_vae": sum(r["psnr"] >= r["vae_psnr"] - 2 for r in rows) / n,
           "noise_typical": sum(r["typical"] for r in rows) / n,
           "noise_neighbour_corr_mean": float(np.mean([r["corr"] for r in rows]))}
    if edits:
        out["edit_blue_same_place"] = sum(r["edit"] for r in rows) / n
    return out


def timing(model, steps: int, guidance: float, repeats: int, iterations: int, null_text: bool) -> dict:
    size = model.preset.size
    picture = Image.fromarray(np.random.default_rng(0).integers(0, 255, (size, size, 3), dtype=np.uint8))
    recipe = recipe_defaults(model, "a red circle", steps=steps, guidance=guidance, width=size, height=size,
                             scheduler="ddim")
    runs = {"generate": lambda: generate(model, recipe, watch=False),
            "invert": lambda: invert(model, picture, prompt="a red circle", steps=steps, guidance=guidance,
                                     regenerate=False, watch=False)}
    if null_text:
        runs["null-text"] = lambda: invert(model, picture, prompt="a red circle", steps=steps, guidance=guidance,
                                           method="null-text", iterations=iterations, regenerate=False, watch=False)
    best, median = best_and_median(interleaved(runs, repeats))
    return {"model": model.name, "size": size, "steps": steps, "guidance": guidance, "repeats": repeats,
            "seconds_best": {k: round(v, 3) for k, v in best.items()},
            "invert_over_generate": round(best["invert"] / best["generate"], 3),
            "invert_over_generate_median": round(median["invert"] / median["generate"], 3),
            **({"null_text_over_generate": round(best["null-text"] / best["generate"], 2)} if null_text else {})}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--steps", type=int, default=25)
    parser.add_argument("--null-text-scenes", type=int, default=6, help="scenes also inverted with null-text")
    parser.add_argument("--iterations", type=int, default=10, help="null-text's Adam steps per step (paper: 10)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--timing-only", action="store_true")
    parser.add_argument("--real", action="store_true", help="also time SD 1.5's architecture at 512 px, 3 steps")
    args = parser.parse_args()
    model = load_model("miniworld")
    model.pipe.set_progress_bar_config(disable=True)
    report = {"note": "a shared, loaded 2-core CPU: compare ratios, not seconds"}
    # 1. the held-out scenes read by the oracle
    if not args.timing_only:
        scenes = held_out_scenes()
        report["guidance_1_ddim"] = figures(model, scenes, args.steps, 1.0, "ddim", args.iterations, False)
        report["guidance_5_ddim"] = figures(model, scenes, args.steps, model.preset.guidance, "ddim",
                                            args.iterations, True)
        if args.null_text_scenes:
            report["guidance_5_null_text"] = figures(model, scenes[::max(1, len(scenes) // args.null_text_scenes)]
                                                     [:args.null_text_scenes], args.steps, model.preset.guidance,
                                                     "null-text", args.iterations, True)
        report["goals"] = {"oracle_agrees": AGREE_GOAL, "psnr_db": PSNR_GOAL, "edit": EDIT_GOAL}
    # 2. what it costs
    report["timing_miniworld_g1"] = timing(model, args.steps, 1.0, args.repeats, args.iterations, False)
    report["timing_miniworld_g5"] = timing(model, args.steps, model.preset.guidance, args.repeats, args.iterations,
                                           True)
    if args.real:
        from bench_attention import sd15_random       # SD 1.5's configs, random weights

        real = sd15_random()
        real.pipe.set_progress_bar_config(disable=True)
        report["timing_sd15_512"] = timing(real, 3, 7.5, 1, 2, False)
    report["ratio_goal"] = RATIO_GOAL
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
