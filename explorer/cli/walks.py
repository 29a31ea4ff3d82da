"""Verbs `interpolate`, `search` and `probe`: walks between prompts or seeds, a results page, a bias probe."""
from __future__ import annotations

import sys
from pathlib import Path

from explorer.archive.gaps import gap_notes
from explorer.cli.common import add_model_args, config_from, load, make_folder, new_file, out_dir, print_json
from explorer.cli.invert import run_interpolate_images
from explorer.errors import InputError
from explorer.explore.curves import response_curves
from explorer.explore.probe import bias_probe, parse_attributes
from explorer.explore.search import search
from explorer.explore.walks import export_walk, interpolate, save_frames
from explorer.generation.recipe import recipe_defaults
from explorer.models.examples import examples_for
from explorer.models.vision import load_vision, vision_status
from explorer.outputs.saving import save_sheet, write_json
from explorer.plots.walks import bias_figure


def _add_render_args(p) -> None:
    add_model_args(p)
    p.add_argument("--negative", default="", help="negative prompt")
    p.add_argument("--steps", type=int, default=None, help="denoising steps (default: the model's)")
    p.add_argument("--guidance", type=float, default=None, help="classifier-free guidance scale")
    p.add_argument("--size", type=int, default=None, help="width and height in pixels, multiple of 8")
    p.add_argument("--scheduler", default=None, help="ddim, euler, euler_a, dpm++2m, pndm or lms")
    p.add_argument("--batch-size", type=int, default=None, help="images per UNet batch (default: from free memory)")
    p.add_argument("--vision", action="store_true", help="use the family's CLIP vision model (may download)")


def register(subparsers) -> None:
    p = subparsers.add_parser("interpolate", help="walk between prompts (or seeds) and write a GIF/MP4",
                              description="A prompt walk (--prompts A B ..., one --seed) or a seed walk (one prompt, "
                                          "--seeds S1 S2 ...), or both (as many seeds as prompts). A prompt starting "
                                          "with '=' is a prompt-arithmetic expression.")
    _add_render_args(p)
    p.add_argument("--prompts", nargs="+", default=None, help="the ends (or one prompt for a seed walk)")
    p.add_argument("--images", nargs="+", default=None, help="two pictures to walk between (inverted; --prompts then "
                   "gives their prompts, read back by CLIP where missing)")
    p.add_argument("--seed", type=int, default=None, help="the fixed seed of a prompt walk (default 0)")
    p.add_argument("--seeds", type=int, nargs="+", default=None, help="the ends of a seed walk")
    p.add_argument("--frames", type=int, default=8, help="frames per segment, ends included (default 8)")
    p.add_argument("--method", default="slerp", help="slerp or lerp on the conditioning")
    p.add_argument("--schedule", default="linear", help="linear, ease or adaptive")
    p.add_argument("--out", required=True, help="animated GIF to write (must not exist)")
    p.add_argument("--mp4", default=None, help="also write an MP4 here (must not exist)")
    p.add_argument("--outputs", default="outputs", help="folder for the frames' PNGs and recipes")
    p.set_defaults(run=run_interpolate)

    p = subparsers.add_parser("search", help="a results page: one prompt over N seeds",
                              description="Generate N results (seeds S, S+1, ...), save them with recipes, write "
                                          "a contact sheet and results.json; rank by CLIP with --vision.")
    _add_render_args(p)
    p.add_argument("--prompt", required=True, help="the query")
    p.add_argument("--seeds", type=int, default=8, help="number of results (default 8)")
    p.add_argument("--first-seed", type=int, default=0, help="seed of the first result (default 0)")
    p.add_argument("--out-dir", required=True, help="folder for the results (created; files never overwritten)")
    p.set_defaults(run=run_search)

    p = subparsers.add_parser("probe", help="bias probe: compare prompts over the same N seeds",
                              description="Each prompt over the same seeds; with --vision, CLIP zero-shot counts per "
                                          "attribute label. Attributes: 'name: label | label' lines.")
    _add_render_args(p)
    p.add_argument("--prompts", nargs="+", default=None, help="2-8 prompts (default: a CEO vs a nurse; on miniworld "
                   "a triangle vs a circle)")
    p.add_argument("--seeds", type=int, default=8, help="seeds per prompt (default 8)")
    p.add_argument("--first-seed", type=int, default=0, help="first seed (default 0)")
    p.add_argument("--attributes", default=None, help="attribute lines, e.g. 'gender: a man | a woman' "
                   "(default: gender and age; on miniworld the six colours)")
    p.add_argument("--out-dir", required=True, help="folder for the grids, counts and chart")
    p.set_defaults(run=run_probe)


def _base(args, model, prompt: str, seed: int):
    overrides = {k: v for k, v in dict(steps=args.steps, guidance=args.guidance, width=args.size, height=args.size,
                                         scheduler=args.scheduler).items() if v is not None}
    return recipe_defaults(model, prompt, negative_prompt=args.negative, seed=seed, **overrides)


def _vision(args, model):
    if not args.vision:
        return None

    vision = load_vision(model, progress=lambda f, d="": print(d, file=sys.stderr))
    if vision is None:
        print(f"note: {vision_status(model)}", file=sys.stderr)
    return vision


def run_interpolate(args) -> int:
    if args.images:                                       # between two pictures: explorer.cli.invert
        return run_interpolate_images(args)
    if not args.prompts:
        raise InputError("prompts", "one or more prompts (or --images A B)", None)
    config = config_from(args, outputs_dir=Path(args.outputs))
    # 1. paths first, then the model
    gif = new_file(args.out, "out")
    mp4 = new_file(args.mp4, "mp4") if args.mp4 else None
    make_folder(config.outputs_dir, "outputs")
    if args.seeds and args.seed is not None:
        raise InputError("seed", "either --seed (prompt walk) or --seeds (seed walk), not both", args.seed)
    seeds = args.seeds or [args.seed if args.seed is not None else 0]
    model = load(args)
    base = _base(args, model, args.prompts[0], seeds[0])
    # 2. walk, saving frames as batches finish
    walk = interpolate(model, base, args.prompts, seeds, args.frames, method=args.method, schedule=args.schedule,
                       batch_size=args.batch_size, config=config,
                       on_frames=lambda fs: save_frames(fs, config.outputs_dir))
    # 3. the film and its recipes
    files = export_walk(walk, config.outputs_dir, gif=gif, mp4=mp4 or False)
    curves = response_curves(model, walk, _vision(args, model))
    print_json({"kind": walk.kind, "frames": len(walk.done), "batch_size": walk.batch_size,
                "files": {k: str(v) for k, v in files.items()},
                "flips": curves.flips, "notes": curves.notes})
    return 0


def run_search(args) -> int:
    # 1. the folder, the model, the query
    folder = out_dir(args.out_dir)
    config = config_from(args, outputs_dir=folder)
    model = load(args)
    base = _base(args, model, args.prompt, args.first_seed)
    # 2. the results page
    page = search(model, base, args.seeds, vision=_vision(args, model), batch_size=args.batch_size,
                  outputs_dir=folder, config=config, annotate=gap_notes)
    # 3. a contact sheet and the page as JSON
    save_sheet(folder, "results", [("", [r.image for r in page.results])], [r.caption()[:18] for r in page.results])
    summary = {"query": page.query, "ranked": page.ranked, "notes": page.notes,
               "related": [{"label": l, "category": c, "score": s} for l, c, s in page.related],
               "results": [{"png": str(r.path), "seed": r.recipe.seed, "score": r.score, "concepts": r.concepts,
                            "recipe": r.recipe.to_dict()} for r in page.results]}
    write_json(new_file(folder / "results.json", "out_dir"), summary)
    print_json({k: v for k, v in summary.items() if k != "results"} |
               {"results": [{"png": x["png"], "seed": x["seed"], "score": x["score"]} for x in summary["results"]]})
    return 0


def run_probe(args) -> int:
    # 1. validate, the folder, the model (the default prompts and attributes suit the model)
    attributes = parse_attributes(args.attributes) if args.attributes else None
    folder = out_dir(args.out_dir)
    config = config_from(args, outputs_dir=folder)
    model = load(args)
    examples = examples_for(model)
    attributes = attributes or parse_attributes(examples.attributes)
    prompts = args.prompts or list(examples.probe)
    base = _base(args, model, prompts[0], args.first_seed)
    # 2. the probe
    probe = bias_probe(model, base, prompts, args.seeds, attributes, vision=_vision(args, model),
                       batch_size=args.batch_size, outputs_dir=folder, config=config)
    # 3. grids, counts, chart
    save_sheet(folder, "grids", [(p[:5], [r.image for r in rs]) for p, rs in probe.images.items()],
           [str(s) for s in probe.seeds])
    summary = {"prompts": probe.prompts, "seeds": probe.seeds, "attributes": probe.attributes,
               "measured": probe.measured, "reason": probe.reason, "counts": probe.counts,
               "intervals95": probe.intervals(),
               "mean_probability": probe.mean_probability, "note": probe.note}
    write_json(new_file(folder / "probe.json", "out_dir"), summary)
    if probe.measured:

        for name, labels in probe.attributes.items():
            html = folder / f"chart-{''.join(c if c.isalnum() else '_' for c in name)}.html"
            bias_figure(name, labels, probe.counts[name], summary["intervals95"][name], len(probe.seeds)) \
                .write_html(str(new_file(html, "out_dir")), include_plotlyjs="cdn")
    print_json({k: summary[k] for k in ("prompts", "seeds", "measured", "reason", "counts")})
    return 0
