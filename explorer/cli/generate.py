"""Verbs `generate`, `swap-row`, `info` and `forward`: one image with its steps, a word swapped at step k for a row of
k, a PNG's recipe, the forward process."""
from __future__ import annotations

import random
import sys

import numpy as np

from explorer.cli.common import add_model_args, config_from, load, make_folder, new_file, out_dir, print_json
from explorer.errors import InputError
from explorer.explore.swaps import MAX_SWAPS, swap_prompt, swap_row
from explorer.generation.forward import forward_process
from explorer.generation.generate import generate
from explorer.generation.recipe import recipe_defaults, validate
from explorer.outputs.export import contact_sheet, steps_gif
from explorer.outputs.png import PARAMETERS_KEY, open_image, read_png, save_png
from explorer.outputs.saving import steps_sheet, write_png, write_step_previews
from explorer.text.arithmetic import check_space
from explorer.text.expressions import parse


def register(subparsers) -> None:
    p = subparsers.add_parser("generate", help="generate one image, optionally saving every denoising step",
                              description="Generate an image; the PNG carries its recipe (A1111 'parameters' "
                                          "chunk plus JSON) and never overwrites a file.")
    add_model_args(p)
    p.add_argument("--prompt", default=None, help="what to draw")
    p.add_argument("--expr", default=None,
                   help="a prompt expression instead of --prompt, e.g. '\"van gogh\" + astronaut' or "
                        "'0.6 * \"a photo of a cat\" + 0.4 * \"an oil painting\"'")
    p.add_argument("--space", default="conditioning",
                   help="where --expr is computed: conditioning (default, the sequence the UNet sees) or token "
                        "(token embeddings before the transformer); pooled cannot generate")
    p.add_argument("--raw", action="store_true", help="with --expr: keep the raw sum (no renormalisation)")
    p.add_argument("--negative", default="", help="negative prompt: what guidance steers away from")
    p.add_argument("--seed", type=int, default=None, help="integer in [0, 2^32); default: random (printed)")
    p.add_argument("--steps", type=int, default=None, help="denoising steps (default: the model's)")
    p.add_argument("--guidance", type=float, default=None, help="classifier-free guidance scale")
    p.add_argument("--width", type=int, default=None, help="pixels, multiple of 8")
    p.add_argument("--height", type=int, default=None, help="pixels, multiple of 8")
    p.add_argument("--scheduler", default=None, help="ddim, euler, euler_a, dpm++2m, pndm or lms")
    p.add_argument("--preview", default=None, help="step preview decoder: approx, taesd or full (default: the "
                   "model's own, e.g. full on miniworld where approx colours are off)")
    p.add_argument("--from-png", default=None, help="take the recipe from a PNG written by the explorer")
    p.add_argument("--out", default=None, help="PNG path (must not exist); default: a new file in --outputs")
    p.add_argument("--outputs", default="outputs", help="folder for outputs without --out (default outputs/)")
    p.add_argument("--gif", default=None, help="also write the x0 previews of every step as an animated GIF")
    p.add_argument("--sheet", default=None, help="also write a contact sheet PNG (x_t and x0 rows)")
    p.add_argument("--steps-dir", default=None, help="also write every step's x_t and x0 preview as PNGs here")
    p.set_defaults(run=run_generate)

    p = subparsers.add_parser("swap-row", help="when does a word still matter? a word swapped at step k, for a row "
                                               "of k", description="One prompt and seed; a word of the prompt read "
                              "until step k, another after it (A1111's prompt editing [old:new:k], which --prompt "
                              "of `generate` takes too), for evenly spaced k: one PNG each and a contact sheet.")
    add_model_args(p)
    p.add_argument("--prompt", required=True, help="the prompt, holding the word --old")
    p.add_argument("--old", required=True, help="a word or phrase of the prompt, read until step k")
    p.add_argument("--new", required=True, help="what is read after step k")
    p.add_argument("--count", type=int, default=6, help=f"pictures: values of k from 0 to steps - 1 (2..{MAX_SWAPS})")
    p.add_argument("--negative", default="", help="negative prompt")
    p.add_argument("--seed", type=int, default=0, help="integer in [0, 2^32) (default 0)")
    p.add_argument("--steps", type=int, default=None, help="denoising steps (default: the model's)")
    p.add_argument("--guidance", type=float, default=None, help="classifier-free guidance scale")
    p.add_argument("--size", type=int, default=None, help="width and height in pixels (default: the model's)")
    p.add_argument("--scheduler", default=None, help="ddim, euler, euler_a, dpm++2m, pndm or lms")
    p.add_argument("--out", required=True, help="contact sheet PNG to write (must not exist): the row, captioned k")
    p.add_argument("--outputs", default="outputs", help="folder for the row's PNGs (default outputs/)")
    p.set_defaults(run=run_swap_row)

    p = subparsers.add_parser("info", help="print the recipe stored in a PNG written by the explorer")
    p.add_argument("png", help="path of the PNG")
    p.set_defaults(run=run_info)

    p = subparsers.add_parser("forward", help="the forward process: noise an image at increasing timesteps")
    add_model_args(p)
    p.add_argument("--image", required=True, help="image to noise (PNG or JPEG)")
    p.add_argument("--levels", type=int, default=8, help="number of timesteps, evenly spaced (2..32)")
    p.add_argument("--seed", type=int, default=0, help="seed of the noise")
    p.add_argument("--out", required=True, help="contact sheet PNG to write (must not exist)")
    p.set_defaults(run=run_forward)


def _recipe(args, model):
    if args.from_png:
        recipe, ignored = read_png(args.from_png)
        for line in ignored:
            print(f"note: {line}", file=sys.stderr)
        return recipe.with_(model=model.name)
    if args.prompt is not None and args.expr is not None:
        raise InputError("prompt", "either --prompt or --expr, not both", f"--prompt {args.prompt!r} --expr "
                         f"{args.expr!r}")
    if args.prompt is None and args.expr is None:
        raise InputError("prompt", "a non-empty prompt (--prompt), an expression (--expr) or --from-png", None)
    overrides = {k: v for k, v in dict(steps=args.steps, guidance=args.guidance, width=args.width,
                                         height=args.height, scheduler=args.scheduler,
                                         preview=args.preview).items() if v is not None}
    if args.expr is not None:       # prompt arithmetic: the recipe records the expression and its space
        check_space(args.space)
        overrides.update(expression=args.expr, space=args.space, renormalize=not args.raw)
        prompt = parse(args.expr).describe()
    else:
        prompt = args.prompt
    seed = args.seed if args.seed is not None else random.randrange(2**32)
    return recipe_defaults(model, prompt, negative_prompt=args.negative, seed=seed, **overrides)


def run_generate(args) -> int:
    config = config_from(args)
    # 1. check every path before the model spends time and before anything is written
    outs = {name: new_file(getattr(args, name), name) for name in ("out", "gif", "sheet") if getattr(args, name)}
    if args.steps_dir:
        out_dir(args.steps_dir, "steps_dir")
    if "out" not in outs:
        make_folder(config.outputs_dir, "outputs")
    model = load(args)
    # 2. the recipe
    recipe = validate(_recipe(args, model), config)
    # 3. generate
    result = generate(model, recipe, watch=bool(args.gif or args.sheet or args.steps_dir), config=config)
    # 4. write
    path = write_png(result.image, outs["out"], result.recipe) if "out" in outs else \
        save_png(result.image, result.recipe, config.outputs_dir)             # result.recipe: with its backend
    print(f"wrote {path} (seed {recipe.seed})")
    if "gif" in outs:
        print(f"wrote {steps_gif([s.x0 for s in result.steps], outs['gif'])}")
    if "sheet" in outs:
        print(f"wrote {write_png(steps_sheet(result), outs['sheet'])}")
    if args.steps_dir:
        print(f"wrote {write_step_previews(result, args.steps_dir)} step previews to {args.steps_dir}")
    return 0


def run_swap_row(args) -> int:
    config = config_from(args)
    # 1. check the paths, then the recipes, before anything is written
    out = new_file(args.out, "out")
    make_folder(config.outputs_dir, "outputs")
    swap_prompt(args.prompt, args.old, args.new, 0)
    model = load(args)
    overrides = {k: v for k, v in dict(steps=args.steps, guidance=args.guidance, width=args.size, height=args.size,
                                         scheduler=args.scheduler).items() if v is not None}
    recipe = validate(recipe_defaults(model, args.prompt, negative_prompt=args.negative, seed=args.seed,
                                      **overrides), config)
    # 2. the row, each picture saved with its recipe as it is made
    def saved(swap) -> None:
        path = save_png(swap.generation.image, swap.generation.recipe, config.outputs_dir)
        print(f"wrote {path} ({swap.generation.recipe.prompt})")

    row = swap_row(model, recipe, args.old, args.new, args.count, watch=False, config=config, on_swap=saved)
    # 3. the contact sheet
    pictures = [np.asarray(s.generation.image.convert("RGB")) for s in row]
    write_png(contact_sheet([(args.new[:5], pictures)], [f"k={s.k}" for s in row]), out)
    print(f"wrote {out}")
    return 0


def run_info(args) -> int:
    image = open_image(args.png, "png")
    recipe, ignored = read_png(image)
    print(image.info.get(PARAMETERS_KEY, "(no parameters chunk)"))
    print_json({**recipe.to_dict(), "ignored": ignored} if ignored else recipe.to_dict())
    return 0


def run_forward(args) -> int:
    out = new_file(args.out, "out")
    model = load(args)
    noised = forward_process(model, open_image(args.image, "image"), seed=args.seed, levels=args.levels)
    write_png(contact_sheet([("x_t", [n.image for n in noised])], [n.label for n in noised]), out)
    for n in noised:
        print(n.caption, file=sys.stderr)
    print(f"wrote {out}")
    return 0
