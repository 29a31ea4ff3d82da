"""Blending two prompts: seven operators side by side on one seed.

Each panel is one recipe (its `blend` field says which operator made it), so each PNG regenerates
its own image through explorer.generation. The prompt-embeds operators (A, B, "A, B", lerp, slerp,
sum) share one batched pipeline call with every panel's latents equal to the seed's noise; AND runs
Composable Diffusion's loop (explorer.generation.composable).
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Callable

import torch
from PIL import Image

from explorer.checks import check_float
from explorer.generation.batches import render_batches
from explorer.generation.conditioning import conditioning_for, sequences
from explorer.generation.generate import generate
from explorer.generation.noise import initial_noise, latent_shape
from explorer.generation.recipe import Blend, Recipe, check_budget, recipe_defaults, validate
from explorer.messages import say
from explorer.models.conditioning import Conditioning
from explorer.models.vision import load_vision, shown_source, vision_status
from explorer.text import encoding
from explorer.text.arithmetic import evaluate
from explorer.text.expressions import MAX_WEIGHT
from explorer.text.known import check_readable, words_note
from explorer.text.phrases import quote_checked
from explorer.text.tokens import check_prompt_length
from explorer.text.vectors import cosine_similarity, slerp

# operator -> (panel title, what it does mathematically, in one line)
# (the texts in assets/i18n/messages/<lang>/explore.json: explore.blend.<operator> and explore.blend.<operator>_math)
OPERATORS: dict[str, tuple[str, str]] = {op: (say(f"explore.blend.{op}"), say(f"explore.blend.{op}_math"))
                                         for op in ("a", "b", "concat", "lerp", "slerp", "sum", "and")}


@dataclass
class Panel:
    operator: str
    title: str
    math: str
    recipe: Recipe
    image: Image.Image | None = None
    sim_a: float | None = None          # cosine(pooled readback, pooled A)
    sim_b: float | None = None          # cosine(pooled readback, pooled B)
    clip_a: float | None = None         # CLIP image-text cosine to A (needs a vision model)
    clip_b: float | None = None

    def caption(self) -> str:
        text = f"{self.title}\ntext cos to A {self.sim_a:.2f} · to B {self.sim_b:.2f}"
        if self.clip_a is not None:
            text += f"\nimage–text CLIP to A {self.clip_a:.2f} · to B {self.clip_b:.2f}"
        return text


@dataclass
class BlendComparison:
    a: str
    b: str
    panels: list[Panel]
    vision_note: str                    # which vision model scored the images, or why none did
    batched: bool                       # the prompt-embeds panels went through one pipeline call
    seconds: float = 0.0
    notes: list[str] = field(default_factory=list)     # beside the result: words the model does not know


# ----------------------------------------------------------------------------------------------
# the comparator
def panel_recipes(model, a: str, b: str, base: Recipe, and_weights: tuple[float, float] = (1.0, 1.0)
                  ) -> list[Panel]:
    """The seven panels' recipes, each regenerating its own image through generate()."""
    sequences(model, a, "a")
    sequences(model, b, "b")
    qa, qb = quote_checked(a, "a"), quote_checked(b, "b")
    weights = tuple(check_float(f"and_weights[{i}]", w, -MAX_WEIGHT, MAX_WEIGHT) for i, w in enumerate(and_weights))
    concat = f"{a}, {b}"
    check_prompt_length(model, concat, "a, b")
    lerp_expr, sum_expr = f"0.5 * {qa} + 0.5 * {qb}", f"{qa} + {qb}"
    recipes = {
        "a": base.with_(prompt=a),
        "b": base.with_(prompt=b),
        "concat": base.with_(prompt=concat),
        # 0.5·A + 0.5·B raw in the conditioning space is exactly lerp(E(A), E(B), 0.5)
        "lerp": base.with_(prompt=lerp_expr, expression=lerp_expr, space="conditioning", renormalize=False),
        "slerp": base.with_(prompt=f"slerp({qa}, {qb}, 0.5)"),
        "sum": base.with_(prompt=sum_expr, expression=sum_expr, space="conditioning", renormalize=True),
        "and": base.with_(prompt=f"{a} AND {b}"),
    }
    return [Panel(op, *OPERATORS[op], recipe=recipe.with_(blend=Blend(op, a, b, 0.5, weights)))
            for op, recipe in recipes.items()]


def panel_readback(model, panel: Panel) -> torch.Tensor:
    """The pooled readback (1, d) of a panel's conditioning.

    Operators that combine the two sequences position by position are read back by the same
    operator on the ingredients' pooled vectors (their end-token states), as evaluate() does for
    arithmetic; AND keeps two sequences, so it reads back as the weighted sum of their pooled vectors.
    """
    recipe, blend = panel.recipe, panel.recipe.blend
    if recipe.expression:
        return evaluate(model, recipe.expression, recipe.space, recipe.renormalize).pooled
    if blend.operator == "slerp":
        return slerp(encoding.pooled(model, blend.a), encoding.pooled(model, blend.b), blend.t)
    if blend.operator == "and":
        return sum(w * encoding.pooled(model, text) for w, text in zip(blend.weights, (blend.a, blend.b)))
    return encoding.pooled(model, recipe.prompt)


def generate_batch(model, recipes: list[Recipe], config=None,
                   on_step: Callable[[int, int], None] | None = None) -> list[Image.Image]:
    """Prompt-embeds recipes sharing seed and settings through ONE pipeline call: N copies of the seed's noise.
    `on_step(i, steps)` after each denoising step."""
    for r in recipes:
        validate(r, config)
    conditioning = Conditioning.cat([conditioning_for(model, r) for r in recipes])     # (N, 77, d) each half
    noise = initial_noise(recipes[0], latent_shape(model, recipes[0]), model.dtype)    # (1, 4, h, w)
    images, _ = render_batches(model, recipes, conditioning, noise.repeat(len(recipes), 1, 1, 1), len(recipes),
                               on_step=on_step)
    return images


def compare(model, a: str = "van Gogh", b: str = "astronaut", base: Recipe | None = None, *,
            and_weights: tuple[float, float] = (1.0, 1.0), batched: bool = True, vision: bool = True,
            config=None, on_panel: Callable[[Panel], None] | None = None,
            on_step: Callable[[int, int], None] | None = None) -> BlendComparison:
    """Generate the seven panels for one seed and score each against A and B. `on_panel(panel)` as each panel is
    done, `on_step(i, steps)` after each denoising step of the batched panels (the page's progress moves per step)."""
    started = time.perf_counter()
    # 1. the recipes
    base = base or recipe_defaults(model, a)
    base = base.with_(expression=None, blend=None, walk=None, origin=None, space="conditioning", renormalize=True)
    panels = panel_recipes(model, a, b, base, and_weights)
    if model.adapter.flow and not model.adapter.composable:     # FLUX: no unconditional pass to compose against
        panels = [p for p in panels if p.operator != "and"]
    validate(panels[0].recipe, config)
    check_budget(panels[0].recipe, model, config)
    check_readable(model, [a, b], "a, b")           # A and B that differ only in words the model never saw
    # 2. generate: batched where the operator is a prompt_embeds (each panel its own generator: euler_a too)
    embeds_panels = [p for p in panels if p.operator != "and"]
    batched = batched and len(embeds_panels) <= (config.max_batch if config else len(embeds_panels))
    if batched:
        for panel, image in zip(embeds_panels, generate_batch(model, [p.recipe for p in embeds_panels], config,
                                                              on_step=on_step)):
            panel.image = image
    for panel in panels:
        if panel.image is None:
            panel.image = generate(model, panel.recipe, watch=False, config=config).image
        if on_panel is not None:
            on_panel(panel)
    # 3. text similarity of each panel's conditioning to A and B (pooled space)
    pa, pb = encoding.pooled(model, a), encoding.pooled(model, b)                    # (1, d)
    for panel in panels:
        readback = panel_readback(model, panel)
        panel.sim_a = float(cosine_similarity(readback, pa)[0])
        panel.sim_b = float(cosine_similarity(readback, pb)[0])
    # 4. image-text similarity, where the model family has a CLIP vision model
    note = score_images(model, panels, a, b) if vision else say("explore.blend.vision_off")
    notes = [words for words in (words_note(model, [a, b]),) if words]
    if model.adapter.flow and not model.adapter.composable:
        notes.append(say("families.flux_and_note", about=model.adapter.about))
    return BlendComparison(a, b, panels, note, batched, time.perf_counter() - started, notes)


def score_images(model, panels: list[Panel], a: str, b: str) -> str:
    """Fill clip_a/clip_b with CLIP image-text cosine similarities; return a note for the UI."""
    vision_model = load_vision(model)
    if vision_model is None:
        return say("explore.blend.no_vision", status=vision_status(model))
    scores = vision_model.similarity([p.image for p in panels], [a, b])                # (7, 2) cosines
    for panel, row in zip(panels, scores):
        panel.clip_a, panel.clip_b = float(row[0]), float(row[1])
    return say("explore.blend.vision_by", name=shown_source(vision_model.name), about=vision_model.about)
