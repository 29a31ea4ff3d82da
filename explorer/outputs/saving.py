"""One way to save what a run made, for the UI and the CLI alike; nothing is ever overwritten."""
from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from explorer.errors import InputError
from explorer.messages import say
from explorer.generation.generate import Generation
from explorer.outputs.export import contact_sheet, steps_gif
from explorer.outputs.files import reserve_path
from explorer.outputs.heatmaps import attention_json, grid, overlay
from explorer.outputs.png import png_info, save_png


@dataclass
class SavedRun:
    """The files of one generation: the PNG with its recipe, and the steps as GIF and contact sheet."""

    png: Path
    gif: Path | None = None
    sheet: Path | None = None

    @property
    def paths(self) -> list[Path]:
        return [p for p in (self.png, self.gif, self.sheet) if p is not None]


def new_file(path: str | Path, field_name: str) -> Path:
    """A path to write to that does not exist yet, in an existing folder: outputs are never overwritten."""
    path = Path(path)
    if path.exists():
        raise InputError(field_name, say("saving.new_path"), str(path))
    if path.parent.exists() and not path.parent.is_dir():
        raise InputError(field_name, say("saving.inside_folder"), str(path),
                         hint=say("saving.is_a_file", path=str(path.parent)))
    make_folder(path.parent, field_name, shown=path)
    return path


def make_folder(folder: str | Path, field_name: str, shown: str | Path | None = None) -> Path:
    """The folder, created with its parents where missing; a folder that cannot be made or written to is refused
    naming the option (`shown`: the path the user gave, when the folder is its parent), not as a bare OSError."""
    folder = Path(folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise InputError(field_name, say("saving.creatable"), str(shown or folder),
                         hint=error.strerror or type(error).__name__) from None
    if not os.access(folder, os.W_OK | os.X_OK):
        raise InputError(field_name, say("saving.writable"), str(shown or folder))
    return folder


def steps_sheet(result: Generation) -> Image.Image:
    """A contact sheet of the run's steps: an x_t row and an x0 row, numbered."""
    return contact_sheet([("x_t", [s.noisy for s in result.steps]), ("x0", [s.x0 for s in result.steps])],
                         [f"{s.index + 1}" for s in result.steps])


def write_png(image: Image.Image, path: Path, recipe=None) -> Path:
    """Write a PNG to a new path (exclusive create), with the recipe's text chunks when given."""
    with open(path, "xb") as file:
        image.save(file, format="PNG", pnginfo=png_info(recipe) if recipe is not None else None)
    return path


def write_json(path: Path, data, compact: bool = False) -> Path:
    """Write JSON to a new path (exclusive create); `compact` for large arrays (no indentation)."""
    with open(path, "x", encoding="utf-8") as file:
        json.dump(data, file, indent=None if compact else 2, ensure_ascii=False, default=str)
    return path


def save_generation(result: Generation, folder: Path | str, steps: bool = True) -> SavedRun:
    """The image with its recipe in folder/<date>/, and (with steps) its x0 GIF and contact sheet beside it."""
    recipe = result.recipe
    saved = SavedRun(save_png(result.image, recipe, folder))
    if steps and result.steps:
        saved.gif = steps_gif([s.x0 for s in result.steps], reserve_path(folder, f"{recipe.seed}-steps", ".gif"))
        saved.sheet = reserve_path(folder, f"{recipe.seed}-sheet", ".png")
        steps_sheet(result).save(saved.sheet, format="PNG")
    return saved


def write_step_previews(result: Generation, folder: Path | str) -> int:
    """Every step's x_t and x0 preview as its own PNG in a folder (new files only); returns the count."""
    folder = make_folder(folder, "steps_dir")
    for s in result.steps:
        for row, pixels in (("xt", s.noisy), ("x0", s.x0)):
            write_png(Image.fromarray(pixels), new_file(folder / f"step{s.index + 1:03d}-{row}.png", "steps_dir"))
    return 2 * len(result.steps)


def save_sheet(folder: Path, stem: str, rows: list[tuple[str, list[Image.Image]]], captions: list[str]) -> Path | None:
    """A contact sheet of image rows as folder/stem.png (new file); None when every row is empty."""
    rows = [(name, [np.asarray(i.convert("RGB")) for i in images]) for name, images in rows if images]
    if not rows:
        return None
    return write_png(contact_sheet(rows, captions), new_file(folder / f"{stem}.png", "out_dir"))


def _slug(text: str) -> str:
    cleaned = "".join(c if c.isalnum() else "-" for c in text.replace("</w>", "")).strip("-")
    return cleaned[:40] or "token"


def save_attention(result: Generation, views, folder: Path | str) -> list[Path]:
    """image.png (with its recipe), one overlay PNG per word and special token, steps.png (rows: tokens,
    columns: steps) and attention.json, into a folder; existing files are never overwritten."""
    folder = Path(folder)
    names = views.choices()
    targets = {"image": new_file(folder / "image.png", "out_dir"), "steps": new_file(folder / "steps.png", "out_dir"),
               "json": new_file(folder / "attention.json", "out_dir")}
    overlays = [new_file(folder / f"word-{i:02d}-{_slug(name)}.png", "out_dir") for i, name in enumerate(names)]
    paths = [write_png(result.image, targets["image"], result.recipe)]
    aggregate = views.aggregate
    for name, path in zip(names, overlays):
        paths.append(write_png(overlay(result.image, aggregate[views.indices(name)].sum(axis=0)), path))
    strips = [list(views.word_steps(name)) for name in names]
    paths.append(write_png(grid(strips, names), targets["steps"]))
    paths.append(write_json(targets["json"], attention_json(views.labels, views.kinds, aggregate, [ATTENTION_NOTE, *shown_note(views),
                                                                                      *flat_note(views)]),
                            compact=True))
    return paths


ATTENTION_NOTE = ("A map shows where the denoiser's cross-attention looked for a token (averaged over heads, layers "
                  "and steps, DAAM-style): where the model attended, not what caused a pixel.")


def shown_note(views) -> list[str]:
    """Joint attention (SD3, FLUX): which encoder's tokens the maps show, as a sentence; nothing on a UNet."""
    return [views.shown] if getattr(views, "shown", "") else []


def flat_note(views) -> list[str]:
    """A sentence naming the nearly flat maps, or nothing."""
    flat = views.flat()
    if not flat:
        return []
    return [f"Nearly flat (max/min below 1.5, attended about equally everywhere; the colours stretch small "
            f"differences): {', '.join(flat)}."]
