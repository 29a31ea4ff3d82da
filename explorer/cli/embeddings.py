"""Verbs `tokens`, `neighbors` and `blend`: what the text encoder sees, nearest concepts, prompt blends."""
from __future__ import annotations

import sys
from dataclasses import asdict
from pathlib import Path

from explorer.cli.common import add_model_args, config_from, load, new_file, print_json, vocabulary_arg
from explorer.concepts.neighbors import nearest_concepts
from explorer.explore.blends import OPERATORS, compare
from explorer.generation.recipe import recipe_defaults
from explorer.outputs.png import png_info
from explorer.text import encoding


def register(subparsers) -> None:
    p = subparsers.add_parser("tokens", help="show the tokens the text encoder sees for a prompt",
                              description="Word pieces, ids, start/end/padding tokens, the 77-token cut and "
                                          "per-token vector norms.")
    add_model_args(p)
    p.add_argument("--prompt", required=True, help="the prompt to inspect")
    p.add_argument("--all", action="store_true", help="also list the padding tokens")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.set_defaults(run=run_tokens)

    p = subparsers.add_parser("neighbors", help="nearest concepts to a prompt or a prompt expression",
                              description="The k concepts nearest (cosine, pooled space) to the pooled readback "
                                          "of an expression such as 'king - man + woman'.")
    add_model_args(p)
    text = p.add_mutually_exclusive_group(required=True)
    text.add_argument("--expr", help="prompt expression, e.g. '\"van gogh\" + astronaut'")
    text.add_argument("--prompt", help="a plain prompt (no arithmetic parsing)")
    p.add_argument("--k", type=int, default=10, help="number of neighbours (default 10)")
    p.add_argument("--vocabulary", default="concepts", help="concepts (curated), tokenizer, or a path to your own "
                   "list (assets/concepts format)")
    p.add_argument("--space", default="conditioning", help="conditioning, token or pooled (default conditioning)")
    p.add_argument("--exclude-terms", action="store_true", help="leave the expression's own phrases out")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.set_defaults(run=run_neighbors)

    p = subparsers.add_parser("blend", help="compare seven ways of blending two prompts (one PNG each)",
                              description="A alone, B alone, 'A, B', lerp, slerp, renormalised sum and "
                                          "Composable Diffusion AND, all from one seed; each PNG has its recipe.")
    add_model_args(p)
    p.add_argument("--a", default="van Gogh", help="first ingredient (default 'van Gogh')")
    p.add_argument("--b", default="astronaut", help="second ingredient (default 'astronaut')")
    p.add_argument("--seed", type=int, default=0, help="seed of the shared initial noise")
    p.add_argument("--steps", type=int, default=None, help="denoising steps (default: the model's)")
    p.add_argument("--guidance", type=float, default=None, help="classifier-free guidance scale")
    p.add_argument("--size", type=int, default=None, help="width and height in pixels (multiple of 8)")
    p.add_argument("--scheduler", default=None, help="ddim, euler, euler_a, dpm++2m, pndm or lms")
    p.add_argument("--and-weights", type=float, nargs=2, default=(1.0, 1.0), metavar=("WA", "WB"),
                   help="AND weights of A and B (default 1 1)")
    p.add_argument("--separate", action="store_true",
                   help="one pipeline call per panel instead of one batched call")
    p.add_argument("--out-dir", required=True, help="folder for the seven PNGs (files are never overwritten)")
    p.add_argument("--json", action="store_true", help="print the panels as JSON")
    p.set_defaults(run=run_blend)


def run_tokens(args) -> int:
    model = load(args)
    report = encoding.tokens(model, args.prompt)
    reports = [report] + ([report.second] if report.second is not None else []) + report.others   # T5: own pieces
    flow = bool(report.others)          # SD3 / FLUX: each encoder's limit and which rows the transformer reads
    if args.json:
        views = [{"encoder": r.encoder, "tokens": [asdict(t) for t in r.tokens if args.all or t.kind != "pad"]}
                 | ({"limit": r.limit, "used": r.used, "starts": r.starts, "cut_text": r.cut_text,
                     "padding": sum(t.kind == "pad" for t in r.tokens),
                     "pad_token": next((t.text for t in r.tokens if t.kind == "pad"), None),
                     "attention_mask": None, "reads": r.reads} if flow else {})
                 for r in reports]
        print_json({"prompt": report.prompt, "limit": report.limit, "used": report.used,
                    "cut_text": report.cut_text, "summary": report.summary(),
                    "split_words": [{"word": w, "pieces": p} for w, p in report.split_words()],
                    "tokens": views[0]["tokens"], "encoders": views})
        return 0
    for r in reports:
        if flow:
            print(f"{r.encoder}: limit {r.limit} tokens, {r.used} used, "
                  + ("the transformer reads every row (no attention mask)" if r.reads == "rows"
                     else "the transformer reads only its pooled vector"))
        elif len(reports) > 1:
            print(f"{r.encoder}:")
        print(f"{'pos':>4}  {'token':<20} {'id':>6}  {'kind':<6} {'|input|':>8} {'|output|':>9}")
        for t in r.tokens:
            if args.all or t.kind != "pad":
                norm_in = "" if t.input_norm is None else f"{t.input_norm:.3f}"
                norm_out = "" if t.output_norm is None else f"{t.output_norm:.3f}"
                print(f"{t.position:>4}  {t.text:<20} {t.id:>6}  {t.kind:<6} {norm_in:>8} {norm_out:>9}")
        padding = [t.text for t in r.tokens if t.kind == "pad"]
        if padding and not args.all:
            print(f"  … and {len(padding)} padding tokens {padding[0]!r} (--all lists them)")
    print(report.summary())
    return 0


def run_neighbors(args) -> int:
    config = config_from(args)
    vocabulary = vocabulary_arg(args.vocabulary, config)
    model = load(args)
    kind, text = ("prompt", args.prompt) if args.prompt is not None else ("expression", args.expr)
    expression, _, neighbors, note = nearest_concepts(model, text, args.k, vocabulary, kind=kind,
                                                      space=args.space, exclude_terms=args.exclude_terms,
                                                      config=config)
    if note:
        print(note, file=sys.stderr)
    if args.json:
        print_json({"expression": expression.describe(), "space": args.space, "vocabulary": args.vocabulary,
                    "neighbors": [{"label": n.label, "category": n.category, "score": round(n.score, 4)}
                                  for n in neighbors]})
        return 0
    print(f"nearest to {expression.describe()} ({args.space} space, pooled readback, '{args.vocabulary}'):")
    for rank, n in enumerate(neighbors, 1):
        print(f"{rank:>3}. {n.score:+.3f}  {n.label}  [{n.category}]")
    return 0


def run_blend(args) -> int:
    config = config_from(args)
    # 1. check the paths before the model spends time
    folder = Path(args.out_dir)
    paths = {op: new_file(folder / f"{i + 1}-{op}.png", "out_dir") for i, op in enumerate(OPERATORS)}
    # 2. the model and the shared settings, then the seven panels
    model = load(args)
    overrides = {k: v for k, v in dict(steps=args.steps, guidance=args.guidance, width=args.size,
                                         height=args.size, scheduler=args.scheduler).items() if v is not None}
    base = recipe_defaults(model, args.a, seed=args.seed, **overrides)
    result = compare(model, args.a, args.b, base, and_weights=tuple(args.and_weights), batched=not args.separate,
                     config=config)
    # 3. write one PNG per operator, each with its recipe
    rows = []
    for panel in result.panels:
        with open(paths[panel.operator], "xb") as file:
            panel.image.save(file, format="PNG", pnginfo=png_info(panel.recipe))
        rows.append({"operator": panel.operator, "title": panel.title, "math": panel.math,
                     "file": str(paths[panel.operator]), "text_cos_a": round(panel.sim_a, 4),
                     "text_cos_b": round(panel.sim_b, 4),
                     "clip_a": None if panel.clip_a is None else round(panel.clip_a, 4),
                     "clip_b": None if panel.clip_b is None else round(panel.clip_b, 4)})
    if args.json:
        print_json({"a": args.a, "b": args.b, "seed": args.seed, "batched": result.batched,
                    "vision": result.vision_note, "seconds": round(result.seconds, 2), "panels": rows})
        return 0
    for row in rows:
        clip = "" if row["clip_a"] is None else f"  CLIP A {row['clip_a']:+.2f} B {row['clip_b']:+.2f}"
        print(f"{row['file']}: {row['title']:<32} cos A {row['text_cos_a']:+.2f} B {row['text_cos_b']:+.2f}{clip}")
        print(f"    {row['math']}")
    print(f"{result.vision_note}; {len(rows)} panels in {result.seconds:.1f} s"
          f"{' (prompt-embeds panels batched in one call)' if result.batched else ''}")
    return 0
