"""Verb `invert`: a picture into the model's latent space (explorer.explore.inversion), and `interpolate --images`'
walk between two pictures (run from explorer.cli.walks)."""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

from explorer.cli.common import add_model_args, config_from, load, make_folder, new_file, out_dir, print_json
from explorer.concepts.vocabularies import builtin_vocabulary
from explorer.errors import InputError
from explorer.explore.curves import response_curves
from explorer.explore.inversion import METHODS, edit, invert, walk_pictures
from explorer.explore.walks import export_walk, save_frames
from explorer.messages import say
from explorer.models.vision import load_vision
from explorer.outputs.png import open_image
from explorer.outputs.saving import write_json


def register(subparsers) -> None:
    p = subparsers.add_parser("invert", help="invert a picture to the noise the model draws it from",
                              description="DDIM inversion (Song et al. 2021) of a picture under a prompt (given, or "
                                          "read back by the model's CLIP vision model), then the picture drawn again "
                                          "from the inverted noise. Writes original.png, reconstruction.png, "
                                          "noise.npy and invert.json (psnr, the prompt used, the noise's statistics).")
    add_model_args(p)
    p.add_argument("--image", required=True, help="the picture (PNG, JPEG or WebP); resized to the model's size")
    p.add_argument("--prompt", default=None, help="the prompt (default: read back from the picture by CLIP)")
    p.add_argument("--steps", type=int, default=None, help="DDIM steps (default: the model's)")
    p.add_argument("--guidance", type=float, default=None, help="guidance scale (default: the model's)")
    p.add_argument("--method", default="ddim", help=f"{' or '.join(METHODS)} (Mokady et al. 2023; default ddim)")
    p.add_argument("--refine", type=int, default=0, help="fixed-point iterations per inverted step (Pan et al. 2023): "
                   "the reconstruction comes to the VAE's own; each one more UNet call a step (default 0)")
    p.add_argument("--edit", default=None, help="also draw the picture's noise under this prompt (edit.png)")
    p.add_argument("--out-dir", required=True, help="folder for the files (created; never overwritten)")
    p.set_defaults(run=run_invert)


def read_picture(path: str, field_name: str, config):
    """An image file, refused when it is no image or too large (decompression bombs)."""
    return open_image(path, field_name, config.max_image_pixels).convert("RGB")


def invert_file(args, model, path: str, prompt: str | None, config, field_name: str = "image",
                method: str = "ddim"):
    """One picture file inverted with the verb's settings (the CLIP vision model only where no prompt is given)."""
    picture = read_picture(path, field_name, config)
    vision = vocabulary = None
    if prompt is None or not prompt.strip():
        vision = load_vision(model, progress=lambda f, d="": print(d, file=sys.stderr))
        vocabulary = builtin_vocabulary(model)
    return invert(model, picture, prompt=prompt, steps=args.steps, guidance=args.guidance,
                  method=method, vision=vision, vocabulary=vocabulary, watch=False,
                  refine=getattr(args, "refine", 0), config=config)


def run_invert(args) -> int:
    # 1. the folder, the model
    folder = out_dir(args.out_dir)
    config = config_from(args, outputs_dir=folder)
    model = load(args)
    # 2. invert and regenerate
    inversion = invert_file(args, model, args.image, args.prompt, config, method=args.method)
    # 3. the files
    inversion.original.save(new_file(folder / "original.png", "out_dir"), format="PNG")
    inversion.reconstruction.save(new_file(folder / "reconstruction.png", "out_dir"), format="PNG")
    with open(new_file(folder / "noise.npy", "out_dir"), "xb") as file:
        np.save(file, inversion.noise.float().cpu().numpy())
    summary = inversion.summary()
    if args.edit is not None:
        image = edit(model, inversion, args.edit, config).image
        image.save(new_file(folder / "edit.png", "out_dir"), format="PNG")
        summary["edit"] = {"prompt": args.edit, "png": "edit.png"}
    write_json(new_file(folder / "invert.json", "out_dir"), summary)
    for note in inversion.notes:
        print(f"note: {note}", file=sys.stderr)
    print_json(summary)
    return 0


def run_interpolate_images(args) -> int:
    """`interpolate --images A B`: both pictures inverted, their noises slerped and prompts interpolated."""
    if len(args.images) != 2:
        raise InputError("images", say("inversion.allowed.two_images"), len(args.images))
    config = config_from(args, outputs_dir=Path(args.outputs))
    gif = new_file(args.out, "out")
    mp4 = new_file(args.mp4, "mp4") if args.mp4 else None
    make_folder(config.outputs_dir, "outputs")
    model = load(args)
    prompts = list(args.prompts or []) + [None] * (2 - len(args.prompts or []))
    ends = [invert_file(args, model, path, prompt, config, "images")
            for path, prompt in zip(args.images, prompts[:2])]
    walk = walk_pictures(model, ends[0], ends[1], args.frames, args.method, config,
                         on_frame=lambda f: save_frames([f], config.outputs_dir, stem="inverted-walk"))
    files = export_walk(walk, config.outputs_dir, gif=gif, mp4=mp4 or False)
    curves = response_curves(model, walk)
    print_json({"kind": "pictures", "frames": len(walk.done), "prompts": walk.prompts,
                "psnr": [e.psnr for e in ends], "files": {k: str(v) for k, v in files.items()},
                "flips": curves.flips, "notes": [str(n) for e in ends for n in e.notes] + list(curves.notes)})
    return 0
