"""`python -m explorer attention`: which word the model attends to where, written to a folder."""
from __future__ import annotations

from pathlib import Path

from explorer.cli.common import add_model_args, add_settings_args, config_from, load, make_folder, print_json
from explorer.errors import InputError
from explorer.explore.attention import attend
from explorer.generation.recipe import recipe_defaults, validate
from explorer.outputs.saving import ATTENTION_NOTE, flat_note, save_attention, shown_note


def register(subparsers) -> None:
    p = subparsers.add_parser("attention", help="cross-attention maps: where each word of the prompt is attended",
                              description="Generate an image and write, into --out-dir: image.png (with its "
                                          "recipe), one heatmap overlay per word and special token, steps.png "
                                          "(rows: tokens, columns: steps) and attention.json (tokens and one "
                                          "map per token, aggregated over steps). " + ATTENTION_NOTE)
    add_model_args(p)
    p.add_argument("--prompt", required=True, help="what to draw")
    add_settings_args(p)
    p.add_argument("--out-dir", required=True, help="folder for the files (created; files never overwritten)")
    p.add_argument("--json", action="store_true", help="print the words' shares of attention as JSON")
    p.set_defaults(run=run_attention)


def run_attention(args) -> int:
    config = config_from(args)
    folder = Path(args.out_dir)
    if folder.exists() and not folder.is_dir():
        raise InputError("out_dir", "a folder", str(folder), hint="it is a file")
    make_folder(folder, "out_dir")                     # a folder that cannot be made: refused before generating
    model = load(args)
    overrides = {k: v for k, v in (("steps", args.steps), ("guidance", args.guidance), ("scheduler", args.scheduler),
                                   ("width", args.size), ("height", args.size)) if v is not None}
    recipe = validate(recipe_defaults(model, args.prompt, negative_prompt=args.negative, seed=args.seed,
                                      **overrides), config)
    result = attend(model, recipe, watch=False, config=config)
    paths = save_attention(result.generation, result.prompt, folder)
    shares, special = result.prompt.shares(), result.prompt.special()
    if args.json:
        print_json({"files": [str(p) for p in paths], "shares": shares, "special": special,
                    "flat": result.prompt.flat(),
                    **({"notes": shown_note(result.prompt)} if shown_note(result.prompt) else {})})
        return 0
    for path in paths:
        print(f"wrote {path}")
    print("share of the attention on the prompt's words: "
          + ", ".join(f"{name} {share:.0%}" for name, share in shares.items()))
    print("start, end and padding, share of all attention: "
          + ", ".join(f"{name} {share:.0%}" for name, share in special.items()))
    for line in [*shown_note(result.prompt), *flat_note(result.prompt)]:
        print(line)
    return 0
