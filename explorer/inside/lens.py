"""The text-encoder lens: a prompt's picture from every layer of the text encoder (Toker et al., "Diffusion Lens",
ACL 2024; code: github.com/tokeron/DiffusionLens).

Diffusion Lens hands the denoiser, instead of the encoder's output, the hidden states of an earlier layer, read the
way the pipeline reads its own layer. In their `pipeline_stable_diffusion.py` (`_encode_prompt`, "Diffusion lens
updated code") every `hidden_states[k]` goes through the encoder's `final_layer_norm`; the negative half stays the
ordinary encoding of the negative prompt. Here:

- **SD 1.x / 2.x and the models built like them** (miniworld, tiny-random): the UNet reads the last layer after the
  final layer norm, so layer k's rows are `final_layer_norm(hidden_states[k])`, k = 0 (the token embeddings plus
  positions, before any transformer layer) ... N; layer N is the pipeline's own encoding, bit for bit.
- **SDXL**: the UNet reads both encoders' *penultimate* hidden states without the final norm (diffusers'
  `StableDiffusionXLPipeline.encode_prompt`: `hidden_states[-2]`), so each layer is read that way too: raw, both
  encoders side by side, k = 0 ... N-1 of the deeper encoder and the proportional layer of the other one
  (round(k (n-1) / (N-1)); the two have the same depth in tiny-random-xl, 12 and 32 layers in SDXL 1.0). The last
  row is the pipeline's encoding. The **pooled vector** (text_encoder_2's projection of its last layer's end token)
  stays the prompt's own in every row, as Diffusion Lens' FLUX notebook keeps CLIP's pooled vector and reads only
  T5's layers: SDXL's early rows may show the prompt's gist from the pooled vector alone.
- SD3 and FLUX are refused (their T5 encoder would be the one to read; not done here).

Every layer's picture goes through the one generation path (generation.together, one batched call of the pipeline,
each image computed as if alone), from the same seed, with the recipe's own negative half: the last layer's picture
is the ordinary generation's, bit for bit (tests/inside/test_lens.py). Importable without gradio.
"""
from __future__ import annotations

import threading
from dataclasses import dataclass, replace
from typing import Callable

import torch
from PIL import Image

from explorer.config import ExplorerConfig
from explorer.errors import InputError
from explorer.generation.conditioning import conditioning_for
from explorer.generation.cost import estimate
from explorer.generation.recipe import Recipe, check_fits_model, validate
from explorer.generation.together import generate_together
from explorer.messages import say
from explorer.outputs.saving import make_folder, new_file, write_json, write_png
from explorer.text import prompt_editing
from explorer.text.emphasis import has_syntax
from explorer.text.encoding import token_ids
from explorer.text.tokens import check_prompt_length


@dataclass(frozen=True)
class LensLayer:
    """One row of the lens: the picture the denoiser makes from one layer of the text encoder."""

    layer: int                          # hidden_states index of the (deeper) encoder: 0 = token embeddings
    image: Image.Image | None           # None: stopped before it was made
    encoder_layers: tuple[int, ...]     # the layer read from each encoder (one entry per text encoder)


@dataclass(frozen=True)
class Lens:
    """Every layer's picture of one recipe, the last layer last (that one is the ordinary generation)."""

    recipe: Recipe
    layers: tuple[LensLayer, ...]
    cancelled: bool = False

    def to_json(self, names: list[str]) -> dict:
        """lens.json: {"layers": [{"layer", "image", "encoder_layers"}, ...], "recipe"}; names[i]: layer i's file
        (None: not made, stopped before it)."""
        return {"layers": [{"layer": row.layer, "image": name, "encoder_layers": list(row.encoder_layers)}
                           for row, name in zip(self.layers, names)],
                "recipe": self.recipe.to_dict()}


# ---------------------------------------------------------------- which layers, read how
def encoder_depths(model) -> list[int]:
    """Transformer layers of each text encoder, in the pipeline's order."""
    return [int(encoder.config.num_hidden_layers) for encoder in model.adapter.text_encoders(model.pipe)]


def lens_layers(model) -> list[tuple[int, ...]]:
    """Per row, the hidden_states index read from each encoder; the last row is the one the pipeline reads."""
    check_family(model)
    depths = encoder_depths(model)
    skip = 1 if model.adapter.penultimate else 0           # SDXL reads hidden_states[-2]
    deepest = max(depths) - skip
    return [tuple(round(k * (depth - skip) / deepest) for depth in depths) for k in range(deepest + 1)]


def check_family(model) -> None:
    """The lens reads CLIP text encoders (SD 1.x/2.x, SDXL and their miniatures); SD3/FLUX are refused."""
    if model.adapter.flow or not model.adapter.clip_states:
        raise InputError("model", say("lens.families"), model.adapter.name)


def check_lens_recipe(model, recipe: Recipe) -> None:
    """A plain prompt the encoder reads whole: no expression, blend, walk, emphasis or prompt editing."""
    check_family(model)
    if recipe.expression or recipe.blend is not None or recipe.walk is not None:
        raise InputError("prompt", say("lens.plain_prompt"), recipe.prompt)
    if not isinstance(recipe.prompt, str) or not recipe.prompt.strip():
        raise InputError("prompt", say("checks.non_empty_prompt"), recipe.prompt)
    edited = recipe.prompt_editing and prompt_editing.is_edited(recipe.prompt)
    if (recipe.emphasis == "a1111" and has_syntax(recipe.prompt)) or edited:
        raise InputError("prompt", say("lens.plain_prompt"), recipe.prompt)
    check_prompt_length(model, recipe.prompt, "prompt")


def check_lens_budget(model, recipe: Recipe, count: int, config: ExplorerConfig | None = None) -> None:
    """Refuse a lens whose `count` pictures together (estimated: generation.cost) exceed one request's time limit."""
    config = config or ExplorerConfig()
    limit = config.request_seconds(model.device.type)
    cost = estimate(model, recipe)
    if count * cost.total > limit:
        fitting = int((limit / count - cost.decode) // cost.step) if limit / count > cost.decode else 0
        raise InputError("steps", say("lens.budget", n=count, s=count * cost.total, limit=limit, fit=fitting),
                         recipe.steps)


# ---------------------------------------------------------------- encode: one sequence per layer
@torch.no_grad()
def layer_sequences(model, prompt: str) -> torch.Tensor:
    """The rows the denoiser attends to, from every layer: (layers, 77, d), read as the pipeline reads its layer.

    SD: final_layer_norm(hidden_states[k]) (Diffusion Lens); SDXL: both encoders' hidden_states[k] side by side,
    without the norm, as the pipeline reads hidden_states[-2]. Tokenized as the pipeline tokenizes (max_length).
    """
    rows = lens_layers(model)
    per_encoder = []
    ids = token_ids(model, prompt)                                           # one (1, 77) per tokenizer
    for e, (encoder, encoder_ids) in enumerate(zip(model.adapter.text_encoders(model.pipe), ids)):
        states = encoder(encoder_ids.to(encoder.device), output_hidden_states=True).hidden_states
        picked = torch.cat([states[row[e]] for row in rows])                 # (layers, 77, d_e)
        if not model.adapter.penultimate:                                    # SD reads the normed last layer
            picked = getattr(encoder, "text_model", encoder).final_layer_norm(picked)
        per_encoder.append(picked)
    return torch.cat(per_encoder, dim=-1).to(model.device, model.dtype)     # (layers, 77, d)


def layer_conditionings(model, recipe: Recipe) -> list:
    """One Conditioning per layer: the recipe's own (conditioning_for: its negative half, SDXL's pooled vectors),
    with the positive rows replaced by that layer's."""
    base = conditioning_for(model, recipe)
    if base.scheduled or base.composable:
        raise InputError("prompt", say("lens.plain_prompt"), recipe.prompt)
    sequences = layer_sequences(model, recipe.prompt)
    return [replace(base, prompt_embeds=sequences[k:k + 1]) for k in range(sequences.shape[0])]


# ---------------------------------------------------------------- the lens
def lens(model, recipe: Recipe, *, config: ExplorerConfig | None = None, cancel: threading.Event | None = None,
         after_step: Callable[[int], None] | None = None) -> Lens:
    """Every layer's picture of `recipe` (a plain prompt) in one batched pipeline call, from the recipe's seed.
    `after_step(i)` after each denoising step (progress); `cancel` stops every picture (none is then made)."""
    # 1. validate: the recipe as generate() checks it, a prompt the lens can read, all layers within the time limit
    validate(recipe, config)
    check_fits_model(recipe, model)
    check_lens_recipe(model, recipe)
    check_lens_budget(model, recipe, len(lens_layers(model)), config)
    # 2. encode: every layer's rows, the recipe's own negative half
    conditionings = layer_conditionings(model, recipe)
    # 3. denoise all layers at once (each image as if alone: the last is the ordinary generation, bit for bit)
    count = len(conditionings)
    generations = generate_together(model, [recipe] * count, conditionings, watch=False, config=config,
                                    cancels=[cancel] * count if cancel is not None else None, after_step=after_step)
    # 4. package, the last layer last
    rows = tuple(LensLayer(k, g.image, encoder_layers)
                 for k, (g, encoder_layers) in enumerate(zip(generations, lens_layers(model))))
    return Lens(recipe, rows, any(g.cancelled for g in generations))


def save_lens(result: Lens, folder, field_name: str = "out_dir") -> list:
    """layer_NN.png per layer (the last with the recipe in its PNG: it is the ordinary generation) and lens.json
    ({"layers": [{"layer", "image"}, ...]}, image: the file name in the folder), new files only; returns the paths."""
    folder = make_folder(folder, field_name)
    names = [f"layer_{row.layer:02d}.png" if row.image is not None else None for row in result.layers]
    for path in [folder / name for name in names if name] + [folder / "lens.json"]:
        new_file(path, field_name)                      # refused before anything is written
    last = len(names) - 1
    paths = [write_png(row.image, folder / name, result.recipe if k == last else None)
             for k, (row, name) in enumerate(zip(result.layers, names)) if name]
    return paths + [write_json(folder / "lens.json", result.to_json(names))]


# ---------------------------------------------------------------- checked against miniworld's pixel oracle
GOAL = 0.8                     # the share of seeds at which a layer counts as reading the prompt right


def judge(reading, objects: list[tuple[str, str]]) -> str:
    """"right" when the oracle reads (colour, shape) of one of the prompt's objects, "swapped" when it reads one
    object's colour on another's shape (a binding error), else "wrong". objects: [(colour, shape), ...]."""
    pair = (reading.colour, reading.shape)
    if pair in objects:
        return "right"
    colours, shapes = {c for c, _ in objects}, {s for _, s in objects}
    return "swapped" if reading.colour in colours and reading.shape in shapes else "wrong"


def first_layer(shares: list[float], goal: float = GOAL) -> int | None:
    """The first layer whose share of right readings reaches `goal` (None: none does)."""
    return next((k for k, share in enumerate(shares) if share >= goal), None)
