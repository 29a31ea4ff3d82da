"""A recipe's life in PNG files: the AUTOMATIC1111 `parameters` text and the explorer's own JSON chunk.

A saved PNG carries two text chunks: `parameters` in the format AUTOMATIC1111 writes (so PNG-info
readers already in use understand it) and `latent_explorer`, the full recipe as JSON. A PNG made by
A1111 itself (only `parameters`) is read through explorer.outputs.a1111; ComfyUI's and InvokeAI's
through explorer.outputs.other_tools. No absolute path of this machine is written (models.presets.model_label).
"""
from __future__ import annotations

import json
import re
from pathlib import Path

from PIL import Image, PngImagePlugin

from explorer.errors import InputError
from explorer.messages import say
from explorer.generation.recipe import Recipe, Variation
from explorer.generation.schedulers import a1111_names, draws_step_noise
from explorer.models.presets import model_label
from explorer.outputs.a1111 import (EXPLORER_VERSION, EXPRESSION_KEY, STEP_NOISE_KEY, VARIATION_SLERP_KEY,
                                    VARIATIONS_KEY, parse_parameters)
from explorer.outputs.files import reserve_path
from explorer.outputs.other_tools import COMFYUI_KEY, INVOKEAI_KEY, read_comfyui, read_invokeai

PARAMETERS_KEY = "parameters"         # AUTOMATIC1111's chunk name
RECIPE_KEY = "latent_explorer"        # our chunk: the whole recipe as JSON
BACKEND_KEY = "Explorer backend"      # the parameters' field naming a backend other than torch (A1111 ignores it)


def _a1111_value(value) -> str:
    text = str(value)
    return json.dumps(text, ensure_ascii=False) if any(c in text for c in ",:\n") else text


def _escaped(text: str) -> str:
    """Text with A1111's emphasis characters escaped (\\, (, ), [, ] -> \\\\, \\(, ...)."""
    return re.sub(r"([\\()\[\]])", r"\\\1", text)


def to_parameters(recipe: Recipe) -> str:
    """The recipe in the text format AUTOMATIC1111 writes into PNG files.

    Sampler and Schedule type as A1111 >= 1.9 names them (generation.schedulers.a1111_names). A variation is
    written in A1111's `Variation seed` fields only where A1111 makes the same noise from them (one variation, A1111's
    slerp); otherwise the whole chain is written in the explorer's own `Explorer variations` field, which A1111 does
    not read: its picture would differ. `Version: latent-explorer ...` marks the explorer's own text.
    """
    sampler, schedule = a1111_names(recipe.scheduler)
    items = {"Steps": recipe.steps, "Sampler": sampler, "Schedule type": schedule,
             "CFG scale": f"{recipe.guidance:g}", "Seed": recipe.seed, "Size": f"{recipe.width}x{recipe.height}",
             "Model": model_label(recipe.model)}
    items.update(_variation_items(recipe))
    if recipe.expression:
        items[EXPRESSION_KEY] = recipe.expression
    items["RNG"] = "CPU"                  # the initial noise comes from a CPU generator (A1111's "CPU" RNG setting)
    if recipe.backend != "torch":         # what ran the UNet (models.backends); torch's text stays as it was
        items[BACKEND_KEY] = recipe.backend
    if recipe.decoder != "full":          # the final image's decoder (models.tiny_decoder)
        items["Explorer decoder"] = recipe.decoder
    if recipe.deepcache:                  # DeepCache's interval (generation.deepcache)
        items["Explorer DeepCache"] = recipe.deepcache
    items["Version"] = EXPLORER_VERSION
    literal = recipe.emphasis == "none"          # brackets meant as text: escaped, so A1111 reads them as text too
    lines = [_escaped(recipe.prompt) if literal else recipe.prompt]
    if recipe.negative_prompt:
        lines.append(f"Negative prompt: {_escaped(recipe.negative_prompt) if literal else recipe.negative_prompt}")
    lines.append(", ".join(f"{key}: {_a1111_value(value)}" for key, value in items.items()))
    return "\n".join(lines)


def _variation_items(recipe: Recipe) -> dict:
    """The recipe's variations: A1111's two fields where A1111 reads them right, else the explorer's chain."""
    chain = ([Variation(recipe.variation_seed, recipe.variation_strength)]
             if recipe.variation_seed is not None and recipe.variation_strength > 0 else []) + list(recipe.variations)
    if not chain:
        return {}
    same_steps = recipe.step_noise == "a1111" or not draws_step_noise(recipe.scheduler)
    if len(chain) == 1 and recipe.variation_slerp == "a1111" and same_steps:
        return {"Variation seed": chain[0].seed, "Variation seed strength": f"{chain[0].strength:g}"}
    items = {VARIATIONS_KEY: " ".join(f"{v.seed}:{v.strength:g}" for v in chain),
             VARIATION_SLERP_KEY: recipe.variation_slerp}
    if recipe.step_noise != "a1111":
        items[STEP_NOISE_KEY] = recipe.step_noise
    return items


def png_recipe(recipe: Recipe) -> Recipe:
    """The recipe as a PNG stores it: a local model folder named by its own name (models.presets.model_label)."""
    return recipe.with_(model=model_label(recipe.model))


def png_info(recipe: Recipe) -> PngImagePlugin.PngInfo:
    info = PngImagePlugin.PngInfo()
    info.add_text(PARAMETERS_KEY, to_parameters(recipe))
    info.add_text(RECIPE_KEY, png_recipe(recipe).to_json())
    return info


def save_png(image: Image.Image, recipe: Recipe, folder: Path | str, stem: str | None = None) -> Path:
    """Write the image with its recipe into folder/<date>/; an existing file is never overwritten."""
    path = reserve_path(folder, stem or f"{recipe.seed}", ".png")
    image.save(path, format="PNG", pnginfo=png_info(recipe))
    return path


MAX_PIXELS = 4096 * 4096             # default limit on the images read (decompression bombs)


def open_image(source, field_name: str = "image", max_pixels: int = MAX_PIXELS) -> Image.Image:
    """Open an image lazily and refuse it before decoding when it is not an image or too large.

    Messages name the file by its own name (an upload's name), never by the folder it lies in, and carry no
    exception text (PIL's name the whole path). Images above PIL's own limit (DecompressionBombError, raised
    while PIL reads the header) are refused here like any other image above `max_pixels`."""
    if isinstance(source, Image.Image):
        image = source
    else:
        name = Path(str(getattr(source, "name", source))).name
        try:
            image = Image.open(source)
        except FileNotFoundError:
            raise InputError(field_name, say("png.existing_image"), name) from None
        except (Image.DecompressionBombError, Image.DecompressionBombWarning) as error:
            pixels = re.search(r"\((\d+) pixels\)", str(error))
            raise InputError(field_name, say("png.max_pixels", n=max_pixels),
                             say("png.pixels", n=int(pixels.group(1))) if pixels else say("png.above_limit")) from None
        except (Image.UnidentifiedImageError, OSError, ValueError, SyntaxError, EOFError):
            raise InputError(field_name, say("png.png_or_jpeg"), name, hint=say("png.unreadable")) from None
    width, height = image.size
    if width * height > max_pixels:
        raise InputError(field_name, say("png.max_pixels", n=max_pixels), say("png.size", w=width, h=height))
    return image


def read_png(source, max_pixels: int = MAX_PIXELS) -> tuple[Recipe, list[str]]:
    """The recipe stored in a PNG (path, file object or PIL image) and what of it the explorer does not use.

    A PNG written by the explorer carries the whole recipe (its `latent_explorer` chunk): the list is empty.
    A PNG with only AUTOMATIC1111's `parameters` is read as A1111 reads it (explorer.outputs.a1111); the list
    names each field the explorer ignores and each way the picture will differ from A1111's.
    """
    image = open_image(source, "image", max_pixels)
    text = dict(image.info)                  # text chunks before the pixel data: read without decoding them
    if not set(text) & {RECIPE_KEY, PARAMETERS_KEY, INVOKEAI_KEY, COMFYUI_KEY} and image.format == "PNG":
        try:
            text.update(getattr(image, "text", {}) or {})    # chunks after the pixels: decodes (size checked)
        except (OSError, ValueError) as error:
            raise InputError("image", say("png.readable"), type(error).__name__) from None
    if RECIPE_KEY in text:
        return Recipe.from_json(text[RECIPE_KEY]), []
    for key, read in ((PARAMETERS_KEY, parse_parameters), (INVOKEAI_KEY, read_invokeai), (COMFYUI_KEY, read_comfyui)):
        if isinstance(text.get(key), str):
            parsed = read(text[key])
            return parsed.to_recipe(), [say("png.ignored", entry=entry) for entry in parsed.ignored] + list(parsed.notes)
    raise InputError("image", say("png.with_recipe"), say("png.without_recipe"))


def read_png_recipe(source, max_pixels: int = MAX_PIXELS) -> Recipe:
    """The recipe stored in a PNG: the explorer's own, or one read from AUTOMATIC1111's `parameters`."""
    return read_png(source, max_pixels)[0]
