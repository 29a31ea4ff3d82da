"""Measure the miniature world's model with an independent, pixel-based oracle.

    HF_HUB_OFFLINE=1 python bench/miniworld_eval.py [--model assets/miniworld] [--seeds 32] [--steps 25]

Loads the model exactly as Stable Diffusion is loaded (StableDiffusionPipeline.from_pretrained),
generates with a fresh CPU generator per seed, and reads every image with
explorer.world.oracle (no learned model). Prints:
  1. attribute accuracy on fully specified prompts (goal: colour and shape both right >= 85%)
  2. prompt arithmetic on (B, 77, d) conditionings, three substitutions (goal >= 70% each)
  3. interpolation "a red circle" -> "a blue circle", 9 frames: Spearman(frame, hue toward blue) (goal >= 0.9)
  4. the planted bias: share of yellow among "a triangle" generations vs the training data
  5. the map: silhouette of colour / shape / position words in the pooled text space
  6. the gaps: how often the colour-shape combinations held out of training (training.json) come out right
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from explorer.explore.probe import wilson_interval  # noqa: E402
from explorer.world import oracle  # noqa: E402
from explorer.world.scenes import COLOURS, POSITIONS, SHAPES, SIZES, full_caption, make_dataset  # noqa: E402

ARITHMETIC = [  # (base prompt, word out, word in, expected attributes)
    ("a red circle", "red", "blue", {"colour": "blue", "shape": "circle"}),
    ("a green square", "square", "cross", {"colour": "green", "shape": "cross"}),
    ("a purple triangle on the left", "left", "right", {"colour": "purple", "shape": "triangle", "position": "right"}),
]
INTERPOLATION = ("a red circle", "a blue circle", 9)
SILHOUETTE_READING = ((0.70, "strong structure"), (0.50, "reasonable structure"), (0.25, "weak structure"),
                      (-1.01, "no substantial structure"))       # Kaufman & Rousseeuw 1990, ch. 2
GOALS = {"accuracy": 0.85, "arithmetic": 0.70, "interpolation": 0.9}


def load(model: str):
    from diffusers import StableDiffusionPipeline

    pipe = StableDiffusionPipeline.from_pretrained(model, dtype=torch.float32, use_safetensors=True,
                                                   safety_checker=None, feature_extractor=None,
                                                   requires_safety_checker=False)
    pipe.set_progress_bar_config(disable=True)
    return pipe


def encode(pipe, prompts: list[str]) -> torch.Tensor:
    """(B, 77, d) conditionings, as the pipeline computes them."""
    embeds, _ = pipe.encode_prompt(prompts, torch.device("cpu"), 1, False)
    return embeds


def generate(pipe, embeds: torch.Tensor, seeds: list[int], args) -> np.ndarray:
    """uint8 (B, H, W, 3) images: one conditioning per seed, fresh CPU generator per image."""
    images = []
    for start in range(0, len(seeds), args.batch):
        chunk = seeds[start:start + args.batch]
        cond = embeds[start:start + args.batch]
        negative = encode(pipe, [""] * len(chunk))
        out = pipe(prompt_embeds=cond, negative_prompt_embeds=negative, num_inference_steps=args.steps,
                   guidance_scale=args.guidance, generator=[torch.Generator("cpu").manual_seed(s) for s in chunk],
                   output_type="np")
        images.append((out.images * 255).round().astype(np.uint8))
    return np.concatenate(images)


def readings(images: np.ndarray) -> list[oracle.Reading]:
    return [oracle.read(image) for image in images]


def share(reads: list[oracle.Reading], **expected) -> float:
    return float(np.mean([r.agrees(**expected) for r in reads]))


def held_out(model: Path) -> tuple[str, ...]:
    """The colour-shape combinations the model's training set left out (training.json; none before the gaps)."""
    record = model / "training.json"
    return tuple(json.loads(record.read_text())["config"].get("held_out", ())) if record.is_file() else ()


def accuracy_prompts(skip: tuple[str, ...] = ()) -> list[tuple[str, dict]]:
    """Every colour x shape once (but those in `skip`), sizes and positions cycling: fully specified prompts."""
    sizes, positions = list(SIZES), list(POSITIONS)
    out = []
    for i, (shape, colour) in enumerate((s, c) for s in SHAPES for c in COLOURS):
        if f"{colour} {shape}" in skip:
            continue
        size, position = sizes[i % 2], positions[(i // 2) % len(positions)]
        out.append((full_caption(shape, colour, size, position),
                    {"colour": colour, "shape": shape, "size": size, "position": position}))
    return out


def eval_accuracy(pipe, seeds, args) -> dict:
    per_attribute = {k: [] for k in ("colour", "shape", "size", "position")}
    both, failures = [], []
    for prompt, truth in accuracy_prompts(held_out(args.model)):
        reads = readings(generate(pipe, encode(pipe, [prompt] * len(seeds)), seeds, args))
        for key in per_attribute:
            per_attribute[key].append(share(reads, **{key: truth[key]}))
        both.append(share(reads, colour=truth["colour"], shape=truth["shape"]))
        failures.append((both[-1], prompt))
    print(f"1. attribute accuracy, {len(both)} fully specified prompts x {len(seeds)} seeds "
          f"(the combinations seen in training)")
    print(f"   colour and shape both right: {np.mean(both):.1%}  (goal >= {GOALS['accuracy']:.0%})")
    print("   per attribute: " + ", ".join(f"{k} {np.mean(v):.1%}" for k, v in per_attribute.items()))
    print("   weakest prompts: " + "; ".join(f"{p!r} {s:.0%}" for s, p in sorted(failures)[:3]))
    return {"colour_and_shape": float(np.mean(both)), **{k: float(np.mean(v)) for k, v in per_attribute.items()}}


def eval_arithmetic(pipe, seeds, args) -> dict:
    print(f"2. prompt arithmetic on (B, 77, d) conditionings, {len(seeds)} seeds")
    results = {}
    for base, out_word, in_word, truth in ARITHMETIC:
        base_e, out_e, in_e = encode(pipe, [base, out_word, in_word]).split(1)
        embeds = (base_e - out_e + in_e).expand(len(seeds), -1, -1)               # (B, 77, d)
        hit = share(readings(generate(pipe, embeds, seeds, args)), **truth)
        direct_prompt = base.replace(out_word, in_word)
        direct = share(readings(generate(pipe, encode(pipe, [direct_prompt] * len(seeds)), seeds, args)), **truth)
        name = f'"{base}" - "{out_word}" + "{in_word}"'
        results[name] = {"arithmetic": hit, "direct_prompt": direct}
        print(f"   {name}: {hit:.1%} read as {truth}  (direct prompt {direct_prompt!r}: {direct:.1%}; "
              f"goal >= {GOALS['arithmetic']:.0%})")
    return results


def spearman(x: np.ndarray, y: np.ndarray) -> float:
    """Spearman's rank correlation (Pearson on average ranks), nan-aware."""
    from scipy.stats import spearmanr

    keep = ~np.isnan(y)
    if keep.sum() < 3 or np.nanstd(y[keep]) == 0:
        return 0.0
    return float(spearmanr(x[keep], y[keep]).statistic)


def eval_interpolation(pipe, seeds, args) -> dict:
    start, end, frames = INTERPOLATION
    a, b = encode(pipe, [start, end]).split(1)
    weights = torch.linspace(0, 1, frames)
    embeds = torch.cat([torch.lerp(a, b, w) for w in weights])                   # (frames, 77, d)
    rhos, paths = [], []
    for seed in seeds:
        reads = readings(generate(pipe, embeds, [seed] * frames, args))
        hue = np.array([oracle.hue_toward(r.rgb, "blue") for r in reads])
        rhos.append(spearman(np.arange(frames, dtype=float), hue))
        paths.append([r.colour for r in reads])
    rho = float(np.mean(rhos))
    print(f"3. interpolation {start!r} -> {end!r}, {frames} frames x {len(seeds)} seeds")
    print(f"   Spearman(frame, hue toward blue), mean over seeds: {rho:.3f}  (goal >= {GOALS['interpolation']})")
    print(f"   colours read along seed {seeds[0]}: {' '.join(str(c) for c in paths[0])}")
    return {"spearman": rho}


def eval_bias(pipe, seeds, args, model: Path) -> dict:
    reads = readings(generate(pipe, encode(pipe, ["a triangle"] * len(seeds)), seeds, args))
    counts = {c: sum(r.colour == c for r in reads) for c in COLOURS}
    generated = counts["yellow"] / len(reads)
    record = json.loads((model / "training.json").read_text()) if (model / "training.json").is_file() else {}
    data = record.get("yellow_share_triangles")
    if data is None:
        data = make_dataset(24000, 0).yellow_share()
    uncoloured = record.get("yellow_share_uncoloured_triangle_captions")
    low, high = wilson_interval(counts["yellow"], len(reads))
    reference = uncoloured if uncoloured is not None else data       # what a caption without a colour showed
    verdict = "amplified" if low > reference else "damped" if high < reference else "reproduced"
    print(f'4. planted bias: yellow among "a triangle" generations {generated:.1%} '
          f"(95% interval {low:.0%}-{high:.0%}, {len(reads)} seeds; shape read as triangle "
          f"{share(reads, shape='triangle'):.0%})")
    print(f"   training data: yellow among triangles {data:.1%}"
          + (f", among triangles whose caption names no colour {uncoloured:.1%}" if uncoloured else ""))
    print(f"   -> the bias is {verdict} (the interval against {reference:.1%})")
    print("   colours generated: " + ", ".join(f"{c} {n}" for c, n in counts.items()))
    return {"yellow_generated": generated, "interval": [low, high], "yellow_in_data": data,
            "yellow_in_uncoloured_captions": uncoloured, "verdict": verdict}


def eval_gaps(pipe, seeds, args) -> dict:
    """Each held-out combination asked for bare and fully specified: how often both colour and shape come out."""
    gaps = held_out(args.model)
    if not gaps:
        print("6. gaps: this model's training set held nothing out")
        return {}
    results = {}
    for i, combo in enumerate(gaps):
        colour, shape = combo.split()
        size, position = list(SIZES)[i % 2], list(POSITIONS)[i % len(POSITIONS)]
        reads = []
        for prompt in (full_caption(shape, colour), full_caption(shape, colour, size, position)):
            reads += readings(generate(pipe, encode(pipe, [prompt] * len(seeds)), seeds, args))
        results[combo] = {"colour_and_shape": share(reads, colour=colour, shape=shape),
                          "colour": share(reads, colour=colour), "shape": share(reads, shape=shape),
                          "shapes_read": {s: sum(r.shape == s for r in reads) for s in SHAPES},
                          "colours_read": {c: sum(r.colour == c for r in reads) for c in COLOURS}}
    mean = float(np.mean([r["colour_and_shape"] for r in results.values()]))
    print(f"6. gaps: {len(gaps)} combinations never in training, 2 prompts each x {len(seeds)} seeds")
    print(f"   colour and shape both right: {mean:.1%} (seen combinations: figure 1)")
    for combo, r in results.items():
        print(f"   {combo}: {r['colour_and_shape']:.0%} (colour {r['colour']:.0%}, shape {r['shape']:.0%}; "
              f"shapes read {r['shapes_read']})")
    return {"mean": mean, "combinations": results}


@torch.no_grad()
def eval_map(pipe) -> dict:
    from sklearn.metrics import silhouette_score

    groups = {"colour": list(COLOURS), "shape": list(SHAPES), "position": list(POSITIONS)}
    words = [w for ws in groups.values() for w in ws]
    labels = [g for g, ws in groups.items() for _ in ws]
    ids = pipe.tokenizer(words, padding="max_length", max_length=pipe.tokenizer.model_max_length,
                         truncation=True, return_tensors="pt").input_ids
    pooled = pipe.text_encoder(ids).pooler_output.numpy()                        # (W, d)
    score = float(silhouette_score(pooled, labels, metric="cosine"))
    unit = pooled / np.linalg.norm(pooled, axis=1, keepdims=True)
    similarity = unit @ unit.T - 2 * np.eye(len(words))                           # a word is not its own neighbour
    same_kind = float(np.mean([labels[j] == labels[i] for i, j in enumerate(similarity.argmax(1))]))
    reading = next(name for bound, name in SILHOUETTE_READING if score > bound)
    print(f"5. map: silhouette of colour / shape / position words in the pooled text space (cosine): {score:.3f} "
          f"({reading})")
    print(f"   nearest other word of the same kind: {same_kind:.0%} of {len(words)} words")
    return {"silhouette": score, "nearest_same_kind": same_kind}


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description="Evaluate the miniature world's model with a pixel oracle.")
    parser.add_argument("--model", type=Path, default=ROOT / "assets" / "miniworld")
    parser.add_argument("--seeds", type=int, default=32, help="seeds per prompt")
    parser.add_argument("--steps", type=int, default=25, help="num_inference_steps (DDIM)")
    parser.add_argument("--guidance", type=float, default=5.0, help="guidance_scale")
    parser.add_argument("--batch", type=int, default=64, help="images per pipeline call")
    parser.add_argument("--only", default="1,2,3,4,5,6", help="which figures, e.g. 1,3")
    parser.add_argument("--json", type=Path, default=None, help="also write the figures here")
    args = parser.parse_args(argv)
    if args.seeds < 1 or args.steps < 1:
        parser.error(f"--seeds and --steps: expected positive integers, received {args.seeds} and {args.steps}")
    torch.set_num_threads(2)
    clock = time.time()
    pipe = load(str(args.model))
    seeds = list(range(args.seeds))
    only = set(args.only.split(","))
    print(f"miniworld eval: {args.model}, {args.seeds} seeds, {args.steps} steps, guidance {args.guidance}")
    figures = {}
    if "1" in only:
        figures["accuracy"] = eval_accuracy(pipe, seeds, args)
    if "2" in only:
        figures["arithmetic"] = eval_arithmetic(pipe, seeds, args)
    if "3" in only:
        figures["interpolation"] = eval_interpolation(pipe, seeds, args)
    if "4" in only:
        figures["bias"] = eval_bias(pipe, seeds, args, args.model)
    if "5" in only:
        figures["map"] = eval_map(pipe)
    if "6" in only:
        figures["gaps"] = eval_gaps(pipe, seeds, args)
    print(f"({time.time() - clock:.0f} s)")
    if args.json:
        args.json.write_text(json.dumps(figures, indent=1) + "\n")
    return figures


if __name__ == "__main__":
    main()
