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
import time
from dataclasses import replace
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")   # shared CPUs: spinning OpenMP threads cost 10x (bench_archive)
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import numpy as np  # noqa: E402
import torch  # noqa: E402
from PIL import Image  # noqa: E402
from _timing import best_and_median  # noqa: E402

from explorer.explore.inversion import NULL_TEXT_ITERATIONS, edit, invert  # noqa: E402
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
            edits: bool, refine: int = 0) -> dict:
    rows = []
    cpu = time.process_time()
    for scene in scenes:
        prompt = full_caption(scene.shape, scene.colour, scene.size, scene.position)
        inv = invert(model, Image.fromarray(render(scene)), prompt=prompt, steps=steps, guidance=guidance,
                     method=method, iterations=iterations, refine=refine, watch=False)
        # the inversion's own loss: the reconstruction against the VAE's round trip (what a perfect inversion gives)
        vae_gap = inv.inversion_psnr
        row = {"scene": prompt, "adam_steps": inv.null_text_steps, "psnr": inv.psnr, "vae_psnr": inv.vae_psnr,
               "psnr_vs_vae_round_trip": vae_gap,
               "agrees": agrees(inv.reconstruction, scene),
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
    cpu = time.process_time() - cpu
    out = {"scenes": n, "steps": steps, "guidance": guidance, "method": method, "refine": refine,
           "cpu_seconds": round(cpu, 1),
           **({"iterations": iterations, "adam_steps_mean": float(np.mean([r["adam_steps"] for r in rows]))}
              if method == "null-text" else {}),
           "oracle_agrees": sum(r["agrees"] for r in rows) / n, "vae_oracle_agrees": sum(r["vae_agrees"] for r in rows) / n,
           "psnr_mean": float(np.mean([r["psnr"] for r in rows])), "psnr_min": float(np.min([r["psnr"] for r in rows])),
           "psnr_at_least_28": sum(r["psnr"] >= PSNR_GOAL for r in rows) / n,
           "vae_psnr_mean": float(np.mean([r["vae_psnr"] for r in rows])),
           "vae_psnr_at_least_28": sum(r["vae_psnr"] >= PSNR_GOAL for r in rows) / n,
           "psnr_within_2db_of_vae": sum(r["psnr"] >= r["vae_psnr"] - 2 for r in rows) / n,
           "psnr_at_least_28_where_the_vae_is": (
               sum(r["psnr"] >= PSNR_GOAL for r in rows if r["vae_psnr"] >= PSNR_GOAL),
               sum(r["vae_psnr"] >= PSNR_GOAL for r in rows)),
           "reconstruction_vs_vae_round_trip_psnr_mean": float(np.mean([r["psnr_vs_vae_round_trip"] for r in rows])),
           "reconstruction_vs_vae_round_trip_psnr_min": float(np.min([r["psnr_vs_vae_round_trip"] for r in rows])),
           "noise_typical": sum(r["typical"] for r in rows) / n,
           "noise_neighbour_corr_mean": float(np.mean([r["corr"] for r in rows]))}
    if edits:
        out["edit_blue_same_place"] = sum(r["edit"] for r in rows) / n
    print(json.dumps(out), file=sys.stderr, flush=True)
    return out


def interleaved_cpu(runs: dict, repeats: int) -> dict[str, list[float]]:
    """CPU seconds (time.process_time: this process's threads, not the other engineers' jobs) per call of each run,
    interleaved (every run once per round, so a change of load hits all alike), after one warm-up call each."""
    for fn in runs.values():
        fn()
    times: dict[str, list[float]] = {name: [] for name in runs}
    for _ in range(repeats):
        for name, fn in runs.items():
            start = time.process_time()
            fn()
            times[name].append(time.process_time() - start)
    return times


class Calls:
    """Counts the UNet's calls (and the rows it was given) and the VAE's encodes and decodes while inside, and the
    CPU seconds spent in each: where an inversion's time goes against a generation's."""

    def __init__(self, model):
        self.model, self.counts, self.seconds, self.saved = model, {}, {}, []

    def _wrap(self, owner, name: str, label: str, rows=lambda args: 1):
        original = getattr(owner, name)

        def counted(*args, **kwargs):
            start = time.process_time()
            try:
                return original(*args, **kwargs)
            finally:
                self.counts[label] = self.counts.get(label, 0) + rows(args)
                self.seconds[label] = self.seconds.get(label, 0.0) + time.process_time() - start
        setattr(owner, name, counted)
        self.saved.append((owner, name))

    def __enter__(self):
        pipe = self.model.pipe
        self._wrap(pipe.unet, "forward", "unet_rows", rows=lambda args: int(args[0].shape[0]))
        self._wrap(pipe.vae, "encode", "vae_encode")
        self._wrap(pipe.vae, "decode", "vae_decode")
        return self

    def __exit__(self, *exc):
        for owner, name in self.saved:
            delattr(owner, name)
        return False


def timing(model, steps: int, guidance: float, repeats: int, iterations: int, null_text: bool) -> dict:
    """inversion / generation at the same steps, guidance and size: CPU seconds, best of `repeats` interleaved runs,
    and what each run calls (UNet rows, VAE encodes and decodes) with the CPU seconds spent there."""
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
    best, median = best_and_median(interleaved_cpu(runs, repeats))
    calls = {}
    for name, fn in runs.items():
        with Calls(model) as counted:
            fn()
        calls[name] = {**counted.counts, **{f"{k}_cpu_s": round(v, 3) for k, v in counted.seconds.items()}}
    return {"model": model.name, "size": size, "steps": steps, "guidance": guidance, "repeats": repeats,
            "load_average": [round(x, 2) for x in os.getloadavg()],
            "cpu_seconds_best": {k: round(v, 3) for k, v in best.items()}, "calls": calls,
            "invert_over_generate": round(best["invert"] / best["generate"], 3),
            "invert_over_generate_median": round(median["invert"] / median["generate"], 3),
            **({"null_text_over_generate": round(best["null-text"] / best["generate"], 2),
                "null_text_iterations": iterations} if null_text else {})}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--steps", type=int, default=25)
    parser.add_argument("--null-text-scenes", type=int, default=30, help="scenes also inverted with null-text")
    parser.add_argument("--iterations", type=int, default=NULL_TEXT_ITERATIONS,
                        help="null-text's Adam steps per step at most (early stop below their loss bound)")
    parser.add_argument("--threads", type=int, default=1, help="torch threads: 1 keeps CPU time a measure of the work "
                        "on a shared machine (idle threads spinning on busy cores count as CPU time)")
    parser.add_argument("--skip-ddim", action="store_true", help="only the null-text figures")
    parser.add_argument("--tradeoff", default="", help="null-text's cost against its gain: these iteration caps "
                        "(e.g. 1,3,10) on --tradeoff-scenes scenes (every tenth), then stop")
    parser.add_argument("--tradeoff-scenes", type=int, default=3)
    parser.add_argument("--refine", type=int, default=1, help="also guidance 1 with this many fixed-point iterations "
                        "per inverted step (0: not)")
    parser.add_argument("--refined-only", action="store_true", help="only the refined figures, then stop")
    parser.add_argument("--no-timing", action="store_true")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--timing-only", action="store_true")
    parser.add_argument("--real", action="store_true", help="also time SD 1.5's architecture (random weights)")
    parser.add_argument("--real-size", type=int, default=256, help="--real: width and height in pixels")
    parser.add_argument("--real-steps", type=int, default=4)
    parser.add_argument("--real-repeats", type=int, default=3)
    parser.add_argument("--real-iterations", type=int, default=0, help="--real: also null-text, this many Adam steps")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    model = load_model("miniworld")
    model.pipe.set_progress_bar_config(disable=True)
    report = {"note": "a shared, loaded 2-core CPU: compare ratios, not seconds"}
    if args.tradeoff:
        scenes = held_out_scenes()[::10][:args.tradeoff_scenes]
        report["null_text_tradeoff"] = [figures(model, scenes, args.steps, model.preset.guidance, "null-text", int(n),
                                                False) for n in args.tradeoff.split(",")]
        print(json.dumps(report, indent=2))
        return
    if args.refined_only:
        report[f"guidance_1_ddim_refine_{args.refine}"] = figures(model, held_out_scenes(), args.steps, 1.0, "ddim",
                                                                 args.iterations, False, args.refine)
        print(json.dumps(report, indent=2))
        return
    # 1. the held-out scenes read by the oracle
    if not args.timing_only:
        scenes = held_out_scenes()
        if not args.skip_ddim:
            report["guidance_1_ddim"] = figures(model, scenes, args.steps, 1.0, "ddim", args.iterations, False)
            if args.refine:
                report[f"guidance_1_ddim_refine_{args.refine}"] = figures(model, scenes, args.steps, 1.0, "ddim",
                                                                         args.iterations, False, args.refine)
            report["guidance_5_ddim"] = figures(model, scenes, args.steps, model.preset.guidance, "ddim",
                                                args.iterations, True)
        if args.null_text_scenes:
            report["guidance_5_null_text"] = figures(model, scenes[::max(1, len(scenes) // args.null_text_scenes)]
                                                     [:args.null_text_scenes], args.steps, model.preset.guidance,
                                                     "null-text", args.iterations, True, args.refine)
        report["goals"] = {"oracle_agrees": AGREE_GOAL, "psnr_db": PSNR_GOAL, "edit": EDIT_GOAL}
    # 2. what it costs
    if args.no_timing:
        print(json.dumps(report, indent=2))
        return
    report["timing_miniworld_g1"] = timing(model, args.steps, 1.0, args.repeats, args.iterations, False)
    report["timing_miniworld_g5"] = timing(model, args.steps, model.preset.guidance, args.repeats, args.iterations,
                                           True)
    if args.real:
        from bench_attention import sd15_random       # SD 1.5's configs, random weights

        real = sd15_random()
        real.pipe.set_progress_bar_config(disable=True)
        real.preset = replace(real.preset, size=args.real_size)     # SD 1.5's networks, a size the CPU can repeat
        report[f"timing_sd15_{args.real_size}"] = timing(real, args.real_steps, 7.5, args.real_repeats,
                                                         args.real_iterations, args.real_iterations > 0)
    report["ratio_goal"] = RATIO_GOAL
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
