"""Verbs `features` and `paint`: the SAE features of a model's denoiser blocks with their oracle labels, and a
feature painted into a box of the image (explorer.inside)."""
from __future__ import annotations

from pathlib import Path

from explorer.cli.common import add_model_args, config_from, load, new_file, print_json
from explorer.generation.recipe import recipe_defaults, validate
from explorer.inside.microscope import Microscope
from explorer.errors import InputError
from explorer.inside.paint import DEFAULT_STRENGTH, Paint, colour_paint, paint_generate, parse_box
from explorer.messages import say
from explorer.outputs.saving import write_png


def register(subparsers) -> None:
    p = subparsers.add_parser("features", help="the SAE features of the denoiser's blocks and what the oracle "
                                               "says they fire for",
                              description="List the labelled features of the model's sparse autoencoders (top-k "
                                          "SAEs after Surkov et al., 'Unpacking SDXL Turbo'): block, id, label "
                                          "(e.g. colour:blue, the value most of its top pictures show) and purity "
                                          "(that share), most active first.")
    add_model_args(p)
    p.add_argument("--block", default=None, help="one block (default: every block with an SAE)")
    p.add_argument("--json", action="store_true", help="print the list as JSON")
    p.set_defaults(run=run_features)

    p = subparsers.add_parser("paint", help="paint an SAE feature into a box of the image during chosen steps",
                              description="Generate the prompt's image with one SAE feature added (scaled by "
                                          "--strength times its mean activation) inside --box during steps "
                                          "[--steps-from, --steps-to). The PNG never overwrites a file.")
    add_model_args(p)
    p.add_argument("--prompt", required=True, help="what to draw")
    p.add_argument("--block", default=None, help="the block (see `features`)")
    p.add_argument("--feature", type=int, default=None, help="the feature's id in that block")
    p.add_argument("--colour", default=None,
                   help="instead of --block/--feature: paint this colour as calibrated (the model's "
                        "sae/paint_colours.json: the feature, strength and swap chosen by what they write)")
    p.add_argument("--box", required=True, help="x0,y0,x1,y1 in pixels (x1, y1 exclusive)")
    p.add_argument("--strength", type=float, default=DEFAULT_STRENGTH,
                   help=f"times the feature's mean activation (default {DEFAULT_STRENGTH:g})")
    p.add_argument("--steps-from", type=int, default=0, help="first painted step (default 0)")
    p.add_argument("--steps-to", type=int, default=None, help="painting stops before this step (default: the last)")
    p.add_argument("--seed", type=int, default=0, help="integer in [0, 2^32) (default 0)")
    p.add_argument("--out", required=True, help="PNG path (must not exist)")
    p.add_argument("--json", action="store_true", help="print what was painted as JSON")
    p.set_defaults(run=run_paint)


def run_features(args) -> int:
    scope = Microscope.for_model(load(args))
    rows = scope.features(args.block)
    if args.json:
        print_json(rows)
        return 0
    for row in rows:
        print(f"{row['block']:28} {row['id']:5} {row['label']:18} purity {row['purity']:.2f}  "
              f"fires on {row['fires']} probe pictures")
    return 0


def run_paint(args) -> int:
    config = config_from(args)
    out = new_file(Path(args.out), "out")              # refused before generating
    box = parse_box(args.box)
    model = load(args)
    scope = Microscope.for_model(model)
    recipe = validate(recipe_defaults(model, args.prompt, seed=args.seed), config)
    if args.colour is not None:
        paint = colour_paint(args.colour, box, scope.colours)
    elif args.block is None or args.feature is None:
        raise InputError("feature", say("sae.feature_or_colour"), args.feature)
    else:
        paint = Paint(args.block, args.feature, box, args.strength, args.steps_from, args.steps_to)
    generation = paint_generate(model, recipe, paint, scope.saes, watch=False, config=config)
    path = write_png(generation.image, out, generation.recipe)
    entry = scope.entry(paint.block, paint.feature)
    report = {"file": str(path), "block": paint.block, "feature": paint.feature, "label": entry["label"],
              "subtract": paint.subtract, "colour": args.colour, "box": list(box), "strength": paint.strength,
              "steps_from": paint.steps_from, "steps_to": recipe.steps if paint.steps_to is None else paint.steps_to,
              "seed": args.seed}
    if args.json:
        print_json(report)
    else:
        print(f"wrote {path}")
    return 0
