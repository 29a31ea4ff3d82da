"""Measure miniworld-dit (the flow-matching transformer) with the same pixel oracle and figures as miniworld's UNet.

    HF_HUB_OFFLINE=1 python bench/bench_miniworld_dit.py [--model assets/miniworld-dit] [--seeds 8] [--steps 25]

bench/miniworld_eval.py's figures, run on a StableDiffusion3Pipeline (loaded as diffusers loads an SD3 folder without
T5: text_encoder_3=None, tokenizer_3=None; max_sequence_length=0 as the model was trained): 1. colour and shape
right on the fully specified prompts of the combinations seen in training (goal >= 85%), 2. prompt arithmetic,
3. interpolation red -> blue, 4. the planted bias, 6. the held-out combinations. Arithmetic and interpolation act on
the packed sequence (B, 78, 128): the 77 CLIP rows plus the pooled row (the same width here), as the explorer's SD3
adapter combines prompts. Figure 5 (the pooled text space) is miniworld's: the same text encoder.
Optionally (--compare) the same figure 1 for miniworld's UNet in the same run, so the ratio holds on a loaded machine.
"""
from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import miniworld_eval as E  # noqa: E402

TEXT_LENGTH = 0                 # explorer.miniworld.train_dit.TEXT_LENGTH: no T5 rows


def load(model: str):
    from diffusers import StableDiffusion3Pipeline

    pipe = StableDiffusion3Pipeline.from_pretrained(model, dtype=torch.float32, use_safetensors=True,
                                                    text_encoder_3=None, tokenizer_3=None)
    pipe.set_progress_bar_config(disable=True)
    return pipe


@torch.no_grad()
def encode(pipe, prompts: list[str]) -> torch.Tensor:
    """(B, 78, d) packed: the 77 rows the transformer attends to, then the pooled vector (as the explorer packs it)."""
    embeds, _, pooled, _ = pipe.encode_prompt(prompts, None, None, device=torch.device("cpu"),
                                              do_classifier_free_guidance=False, max_sequence_length=TEXT_LENGTH)
    return torch.cat([embeds, pooled[:, None, :]], dim=1)


def generate(pipe, embeds: torch.Tensor, seeds: list[int], args) -> np.ndarray:
    images = []
    for start in range(0, len(seeds), args.batch):
        chunk = seeds[start:start + args.batch]
        cond = embeds[start:start + args.batch]
        negative = encode(pipe, [""] * len(chunk))
        out = pipe(prompt_embeds=cond[:, :-1], pooled_prompt_embeds=cond[:, -1],
                   negative_prompt_embeds=negative[:, :-1], negative_pooled_prompt_embeds=negative[:, -1],
                   num_inference_steps=args.steps, guidance_scale=args.guidance, height=64, width=64,
                   max_sequence_length=TEXT_LENGTH,
                   generator=[torch.Generator("cpu").manual_seed(s) for s in chunk], output_type="np")
        images.append((out.images * 255).round().astype(np.uint8))
    return np.concatenate(images)


def held_out(model: Path) -> tuple[str, ...]:
    record = model / "training.json"
    return tuple(json.loads(record.read_text())["data"]["held_out"]) if record.is_file() else ()


ATTENTION_PROMPTS = ("a red circle on the left", "a blue square on the right", "a yellow cross at the top",
                     "a purple triangle at the bottom")          # tests/miniworld/test_grounding.py's


@torch.no_grad()
def eval_attention(pipe, args, seeds: int = 3, steps: int = 10) -> dict:
    """8. Joint attention's image-to-text block (the probabilities of image queries on CLIP's 77 keys), heads, blocks
    and steps averaged, of the prompt half: the shape and colour words' mass inside the drawn shape / its area share
    (explorer.miniworld.grounding's measure, uniform attention = 1; the UNet's bar: >= 3). Captured by train_dit's
    recording processor (the same math as diffusers' JointAttnProcessor2_0)."""
    from explorer.miniworld.grounding import cover_on_grid, inside_over_area
    from explorer.miniworld.train_dit import RecordingJointProcessor
    from explorer.world import oracle
    from explorer.world.scenes import parse_caption

    maps: list[torch.Tensor] = []
    original = pipe.transformer.attn_processors
    pipe.transformer.set_attn_processor(RecordingJointProcessor(maps))
    ratios: dict[str, list[float]] = {"shape": [], "colour": []}
    try:
        for prompt in ATTENTION_PROMPTS:
            named = parse_caption(prompt)
            ids = pipe.tokenizer(prompt).input_ids
            positions = {role: ids.index(pipe.tokenizer(named[role], add_special_tokens=False).input_ids[0])
                         for role in ratios}
            for seed in range(seeds):
                maps.clear()
                image = pipe(prompt, num_inference_steps=steps, guidance_scale=args.guidance, height=64, width=64,
                             max_sequence_length=TEXT_LENGTH, generator=torch.Generator("cpu").manual_seed(seed),
                             output_type="np").images[0]
                mask = oracle.foreground((image * 255).round().astype(np.uint8))
                if mask.mean() == 0:
                    continue
                probs = torch.stack([m[-1] for m in maps]).mean(dim=(0, 1))            # (64 image tokens, 77)
                side = int(round(probs.shape[0] ** 0.5))
                cover = cover_on_grid(mask, (side, side))
                for role, position in positions.items():
                    ratios[role].append(inside_over_area(probs[:, position].view(side, side).double().numpy(), cover))
    finally:
        pipe.transformer.set_attn_processor(original)
    out = {role: float(np.mean(r)) for role, r in ratios.items()}
    print(f"8. joint attention, {len(ATTENTION_PROMPTS)} prompts x {seeds} seeds, {steps} steps: mass inside the shape "
          f"/ its area: shape word {out['shape']:.2f}, colour word {out['colour']:.2f} (uniform 1.0; bar >= 3)")
    return out


SETTLE_PROMPTS = ("a large red circle in the middle", "a small blue square on the left")


def eval_settle(args) -> dict:
    """7. The lesson's side by side: miniworld (UNet, epsilon, DDIM) and miniworld-dit (DiT, flow, Euler), the same
    prompts, seeds and number of steps, through the explorer (its x0 per step: full VAE decode). Per model: the mean
    pixel distance of each step's x0 to the final image (the settle curve), the first step whose x0 is within 10/255
    of it, and how often the oracle already reads the prompt's colour and shape in the x0 of the first step."""
    from explorer.generation.generate import generate as run
    from explorer.generation.recipe import recipe_defaults
    from explorer.models.loading import load_model
    from explorer.world import oracle

    out = {}
    for name in ("miniworld", "miniworld-dit"):
        model = load_model(name)
        model.pipe.set_progress_bar_config(disable=True)
        curves, settled, early = [], [], []
        for prompt in SETTLE_PROMPTS:
            for seed in range(args.seeds):
                result = run(model, recipe_defaults(model, prompt, seed=seed, steps=args.settle_steps, preview="full"),
                             watch=True)
                final = np.asarray(result.image.convert("RGB"), dtype=float)
                curve = [float(np.abs(s.x0.astype(float) - final).mean()) for s in result.steps]
                curves.append(curve)
                settled.append(next(i + 1 for i, d in enumerate(curve + [0.0]) if d <= 10))
                words = prompt.split()
                colour = next(w for w in words if w in E.COLOURS)
                shape = next(w for w in words if w in E.SHAPES)
                early.append(oracle.read(result.steps[0].x0).agrees(colour=colour, shape=shape))
        curve = np.mean(curves, axis=0)
        out[name] = {"curve": [round(float(c), 1) for c in curve], "settled_step": float(np.mean(settled)),
                     "first_x0_right": float(np.mean(early))}
        print(f"7. {name}: x0's mean distance to the final image per step (of {args.settle_steps}, /255): "
              + " ".join(f"{c:.0f}" for c in curve) + f"; within 10/255 from step {np.mean(settled):.1f} on average; "
              f"the first step's x0 read right (colour and shape) {np.mean(early):.0%}")
    return out


def main(argv: list[str] | None = None) -> dict:
    import argparse

    parser = argparse.ArgumentParser(description="Evaluate miniworld-dit with the pixel oracle.")
    parser.add_argument("--model", type=Path, default=ROOT / "assets" / "miniworld-dit")
    parser.add_argument("--seeds", type=int, default=8, help="seeds per prompt")
    parser.add_argument("--steps", type=int, default=25, help="num_inference_steps (flow-matching Euler)")
    parser.add_argument("--guidance", type=float, default=5.0)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--only", default="1,2,3,4,6")
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument("--settle-steps", type=int, default=10, help="steps of figure 7 (the lesson's side by side)")
    args = parser.parse_args(argv)
    if args.seeds < 1 or args.steps < 1:
        parser.error(f"--seeds and --steps: expected positive integers, received {args.seeds} and {args.steps}")
    torch.set_num_threads(2)
    E.encode, E.generate, E.held_out = encode, generate, held_out       # the figures' own code, on this pipeline
    clock, cpu = time.time(), time.process_time()
    pipe = load(str(args.model))
    seeds = list(range(args.seeds))
    only = set(args.only.split(","))
    print(f"miniworld-dit eval: {args.model}, {args.seeds} seeds, {args.steps} steps, guidance {args.guidance}")
    figures = {}
    if "1" in only:
        figures["accuracy"] = E.eval_accuracy(pipe, seeds, args)
    if "2" in only:
        figures["arithmetic"] = E.eval_arithmetic(pipe, seeds, args)
    if "3" in only:
        figures["interpolation"] = E.eval_interpolation(pipe, seeds, args)
    if "4" in only:
        figures["bias"] = E.eval_bias(pipe, seeds, args, args.model)
    if "6" in only:
        figures["gaps"] = E.eval_gaps(pipe, seeds, args)
    if "8" in only:
        figures["attention"] = eval_attention(pipe, args)
    if "7" in only:
        figures["settle"] = eval_settle(args)
    print(f"({time.time() - clock:.0f} s wall, {time.process_time() - cpu:.0f} s CPU)")
    if args.json:
        args.json.write_text(json.dumps(figures, indent=1) + "\n")
    return figures


if __name__ == "__main__":
    main()
