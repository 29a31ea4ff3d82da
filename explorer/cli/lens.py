"""`python -m explorer lens`: the prompt's picture from every layer of the text encoder (Diffusion Lens)."""
from __future__ import annotations

import json

from explorer.cli.common import add_model_args, add_settings_args, config_from, load, out_dir, print_json
from explorer.generation.recipe import recipe_defaults, validate
from explorer.inside.lens import lens, save_lens


def register(subparsers) -> None:
    p = subparsers.add_parser("lens", help="the text-encoder lens: a picture from every layer of the text encoder",
                              description="Generate the prompt's picture from the hidden states of every layer of "
                                          "the text encoder (Toker et al., Diffusion Lens, ACL 2024), all in one "
                                          "batched call from the same seed, and write into --out-dir one PNG per "
                                          "layer (layer_00.png ...) and lens.json: {\"layers\": [{\"layer\", "
                                          "\"image\"}, ...]}, the last layer last; its picture is the ordinary "
                                          "generation, bit for bit (its PNG carries the recipe).")
    add_model_args(p)
    p.add_argument("--prompt", required=True, help="what to draw (a plain prompt)")
    add_settings_args(p)
    p.add_argument("--out-dir", required=True, help="a new or empty folder for the files (created)")
    p.add_argument("--json", action="store_true", help="print lens.json's content")
    p.set_defaults(run=run_lens)


def run_lens(args) -> int:
    config = config_from(args)
    folder = out_dir(args.out_dir)                     # refused before the model loads
    model = load(args)
    overrides = {k: v for k, v in (("steps", args.steps), ("guidance", args.guidance), ("scheduler", args.scheduler),
                                   ("width", args.size), ("height", args.size)) if v is not None}
    recipe = validate(recipe_defaults(model, args.prompt, negative_prompt=args.negative, seed=args.seed,
                                      **overrides), config)
    result = lens(model, recipe, config=config)
    paths = save_lens(result, folder)
    if args.json:
        print_json(json.loads(paths[-1].read_text(encoding="utf-8")))          # lens.json as written
        return 0
    for path in paths:
        print(f"wrote {path}")
    return 0
