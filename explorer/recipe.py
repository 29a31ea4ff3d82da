"""The Recipe: the one description of an image, its validation, and its life in PNG files.

A saved PNG carries two text chunks: `parameters` in the format AUTOMATIC1111 writes (so PNG-info
readers already in use understand it) and `latent_explorer`, the full recipe as JSON.
"""
from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path

from PIL import Image, PngImagePlugin

from explorer.config import ExplorerConfig
from explorer.errors import InputError

SEED_MAX = 2**32                      # seeds are integers in [0, 2^32), as in A1111
PARAMETERS_KEY = "parameters"         # AUTOMATIC1111's chunk name
RECIPE_KEY = "latent_explorer"        # our chunk: the whole recipe as JSON
SPACES = ("conditioning", "token", "pooled")


@dataclass
class Recipe:
    """Everything needed to make one image again, bit for bit."""

    model: str                                # preset name, hub id or folder
    prompt: str                               # the text (or a readable form of `expression`)
    negative_prompt: str = ""                 # what guidance steers away from
    seed: int = 0                             # initial noise: randn from a fresh CPU generator
    steps: int = 20                           # num_inference_steps
    guidance: float = 7.5                     # guidance_scale (classifier-free guidance)
    width: int = 512                          # pixels, multiple of 8
    height: int = 512                         # pixels, multiple of 8
    scheduler: str = "ddim"                   # see explorer.models.SCHEDULERS
    preview: str = "approx"                   # step preview decoder: approx, taesd or full
    expression: str | None = None             # prompt arithmetic, e.g. '"van gogh" + astronaut'
    space: str = "conditioning"               # where the arithmetic is computed (SPACES)
    renormalize: bool = True                  # rescale arithmetic results to the ingredients' norm
    variation_seed: int | None = None         # A1111 variation: slerp toward this seed's noise
    variation_strength: float = 0.0           # 0 = seed's noise, 1 = variation_seed's noise
    extra: dict = field(default_factory=dict)  # operator, interpolation position and the like

    def to_json(self) -> str:
        return json.dumps(asdict(self), ensure_ascii=False, sort_keys=True)

    @classmethod
    def from_dict(cls, data: dict) -> "Recipe":
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise InputError("recipe", f"only the fields {', '.join(sorted(known))}", unknown)
        if "model" not in data or "prompt" not in data:
            raise InputError("recipe", "at least the fields model and prompt", sorted(data))
        return cls(**data)

    @classmethod
    def from_json(cls, text: str) -> "Recipe":
        try:
            data = json.loads(text)
        except json.JSONDecodeError as error:
            raise InputError("recipe", "a JSON object", text[:80], hint=str(error)) from error
        if not isinstance(data, dict):
            raise InputError("recipe", "a JSON object", type(data).__name__)
        return cls.from_dict(data)

    def with_(self, **changes) -> "Recipe":
        return replace(self, **changes)


# ----------------------------------------------------------------------------------------------
# validation
def check_int(field_name: str, value, low: int, high: int, note: str = "") -> int:
    """An integer in [low, high]; bools, floats with a fraction and strings are refused."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or (
            isinstance(value, float) and (not math.isfinite(value) or value != int(value))):
        raise InputError(field_name, f"an integer in [{low}, {high}]{note}", value)
    if not low <= int(value) <= high:
        raise InputError(field_name, f"an integer in [{low}, {high}]{note}", value)
    return int(value)


def check_float(field_name: str, value, low: float, high: float) -> float:
    """A finite number in [low, high]."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise InputError(field_name, f"a number in [{low:g}, {high:g}]", value)
    if not low <= value <= high:
        raise InputError(field_name, f"a number in [{low:g}, {high:g}]", value)
    return float(value)


def check_choice(field_name: str, value, choices) -> str:
    if value not in choices:
        raise InputError(field_name, f"one of {', '.join(choices)}", value)
    return value


def validate(recipe: Recipe, config: ExplorerConfig | None = None) -> Recipe:
    """Check every field against the configured limits; raise InputError on the first problem."""
    from explorer.models import SCHEDULERS
    from explorer.previews import PREVIEW_DECODERS

    config = config or ExplorerConfig()
    if not isinstance(recipe.prompt, str):
        raise InputError("prompt", "text", recipe.prompt)
    if not recipe.prompt.strip() and not recipe.expression:
        raise InputError("prompt", "a non-empty prompt", recipe.prompt)
    if not isinstance(recipe.negative_prompt, str):
        raise InputError("negative_prompt", "text", recipe.negative_prompt)
    check_int("seed", recipe.seed, 0, SEED_MAX - 1)
    check_int("steps", recipe.steps, 1, config.max_steps)
    check_float("guidance", recipe.guidance, 0.0, config.max_guidance)
    for name in ("width", "height"):
        value = check_int(name, getattr(recipe, name), config.min_size, config.max_size, ", a multiple of 8")
        if value % 8:
            raise InputError(name, f"a multiple of 8 in [{config.min_size}, {config.max_size}]", value)
    check_choice("scheduler", recipe.scheduler, list(SCHEDULERS))
    check_choice("preview", recipe.preview, PREVIEW_DECODERS)
    check_choice("space", recipe.space, SPACES)
    if recipe.variation_seed is not None:
        check_int("variation_seed", recipe.variation_seed, 0, SEED_MAX - 1)
    check_float("variation_strength", recipe.variation_strength, 0.0, 1.0)
    return recipe


# ----------------------------------------------------------------------------------------------
# the AUTOMATIC1111 "parameters" text
def _a1111_value(value) -> str:
    text = str(value)
    return json.dumps(text, ensure_ascii=False) if any(c in text for c in ",:\n") else text


def to_parameters(recipe: Recipe) -> str:
    """The recipe in the text format AUTOMATIC1111 writes into PNG files."""
    from explorer.models import SCHEDULERS

    sampler = SCHEDULERS.get(recipe.scheduler, (None, None, recipe.scheduler))[2]
    items = {"Steps": recipe.steps, "Sampler": sampler, "CFG scale": f"{recipe.guidance:g}",
             "Seed": recipe.seed, "Size": f"{recipe.width}x{recipe.height}", "Model": recipe.model}
    if recipe.variation_seed is not None and recipe.variation_strength > 0:
        items["Variation seed"] = recipe.variation_seed
        items["Variation seed strength"] = f"{recipe.variation_strength:g}"
    if recipe.expression:
        items["Prompt expression"] = recipe.expression
    lines = [recipe.prompt]
    if recipe.negative_prompt:
        lines.append(f"Negative prompt: {recipe.negative_prompt}")
    lines.append(", ".join(f"{key}: {_a1111_value(value)}" for key, value in items.items()))
    return "\n".join(lines)


# ----------------------------------------------------------------------------------------------
# PNG files
def png_info(recipe: Recipe) -> PngImagePlugin.PngInfo:
    info = PngImagePlugin.PngInfo()
    info.add_text(PARAMETERS_KEY, to_parameters(recipe))
    info.add_text(RECIPE_KEY, recipe.to_json())
    return info


def save_png(image: Image.Image, recipe: Recipe, folder: Path | str, stem: str | None = None) -> Path:
    """Write the image with its recipe into folder/<date>/; an existing file is never overwritten."""
    from explorer.files import reserve_path

    path = reserve_path(folder, stem or f"{recipe.seed}", ".png")
    image.save(path, format="PNG", pnginfo=png_info(recipe))
    return path


def read_png_recipe(source) -> Recipe:
    """The recipe stored in a PNG written by the explorer (path, file object or PIL image)."""
    image = source if isinstance(source, Image.Image) else Image.open(source)
    text = getattr(image, "text", None) or image.info
    if RECIPE_KEY in text:
        return Recipe.from_json(text[RECIPE_KEY])
    if PARAMETERS_KEY in text:
        raise InputError("image", "a PNG written by latent-explorer (it has a 'latent_explorer' chunk)",
                         "a PNG with only AUTOMATIC1111 'parameters'",
                         hint="Its parameters read: " + text[PARAMETERS_KEY][:200])
    raise InputError("image", "a PNG written by latent-explorer (with a recipe in its text chunks)",
                     "an image without a recipe")
