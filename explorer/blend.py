"""Blending two prompts: seven operators side by side, and Composable Diffusion's AND.

Each panel is one recipe, so each PNG regenerates its own image. The prompt-embeds operators
(A, B, "A, B", lerp, slerp, sum) can share one batched pipeline call with every panel's latents
equal to the seed's noise; AND runs its own sampling loop (`generate_composable`).
"""
from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Callable

import torch
from PIL import Image

from explorer.arithmetic import evaluate, negative_conditioning
from explorer.embeddings import check_prompt_length, encoding_cache
from explorer.errors import InputError
from explorer.expressions import MAX_TERMS, MAX_WEIGHT
from explorer.generate import Generation, StepWatcher, generate, initial_noise, latent_shape
from explorer.models import make_scheduler
from explorer.previews import PreviewDecoder
from explorer.recipe import Recipe, validate
from explorer.vectors import cosine_similarity, slerp

# operator -> (panel title, what it does mathematically, in one line)
OPERATORS: dict[str, tuple[str, str]] = {
    "a": ("A alone", "E(A): the conditioning of A as the pipeline encodes it"),
    "b": ("B alone", "E(B): the conditioning of B"),
    "concat": ("prompt \"A, B\"", "E(\"A, B\"): one prompt; the transformer mixes the words by attention"),
    "lerp": ("average (lerp 0.5)", "0.5·E(A) + 0.5·E(B), per token: a straight line between the sequences"),
    "slerp": ("slerp midpoint", "sin(θ/2)/sin θ · (E(A) + E(B)) per token, θ = angle between them: along the arc"),
    "sum": ("sum A + B (renormalised)", "E(A) + E(B), each token rescaled to the mean norm of E(A) and E(B)"),
    "and": ("A AND B (Composable Diffusion)",
            "ε_u + Σ_i w_i·g·(ε_i − ε_u): one UNet pass per prompt, the noise predictions are combined"),
}
STOCHASTIC_SCHEDULERS = ("euler_a",)    # draw fresh noise each step: a batch is not the same as separate runs


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
    notes: list[str] = field(default_factory=list)


# ----------------------------------------------------------------------------------------------
# operators on conditioning
def slerp_conditioning(model, a: str, b: str, t: float = 0.5) -> torch.Tensor:
    """Per-token slerp between E(a) and E(b) along the feature axis (Shoemake 1985): (1, 77, d)."""
    _check_phrase("a", a, model)
    _check_phrase("b", b, model)
    cache = encoding_cache(model)
    return slerp(cache.conditioning(a), cache.conditioning(b), t, dim=-1)


def _check_phrase(field_name: str, text, model) -> str:
    if not isinstance(text, str) or not text.strip():
        raise InputError(field_name, "a non-empty prompt", text)
    check_prompt_length(model.tokenizer, text, field_name)
    return text


def _quoted(field_name: str, text: str) -> str:
    if '"' not in text:
        return f'"{text}"'
    if "'" not in text:
        return f"'{text}'"
    raise InputError(field_name, "text without both kinds of quotes (\" and ')", text)


def composable_terms(recipe: Recipe) -> list[tuple[float, str]]:
    """The AND recipe's [(weight, prompt)], checked: 1..MAX_TERMS prompts, finite weights in range."""
    terms = (recipe.extra or {}).get("terms")
    if not isinstance(terms, list) or not 1 <= len(terms) <= MAX_TERMS:
        raise InputError("terms", f"a list of 1 to {MAX_TERMS} [weight, prompt] pairs", terms)
    checked = []
    for pair in terms:
        if not isinstance(pair, (list, tuple)) or len(pair) != 2:
            raise InputError("terms", "[weight, prompt] pairs", pair)
        weight, text = pair
        if isinstance(weight, bool) or not isinstance(weight, (int, float)) or not abs(weight) <= MAX_WEIGHT:
            raise InputError("weight", f"a number in [{-MAX_WEIGHT:g}, {MAX_WEIGHT:g}]", weight)
        checked.append((float(weight), text))
    return checked


# ----------------------------------------------------------------------------------------------
# Composable Diffusion (Liu et al. 2022, "Compositional Visual Generation with Composable Diffusion Models", eq. 10)
def composed_noise(eps_uncond: torch.Tensor, eps_conds: torch.Tensor, weights: list[float],
                   guidance: float) -> torch.Tensor:
    """ε = ε_u + Σ_i w_i·g·(ε_i − ε_u); eps_uncond (1, 4, h, w), eps_conds (n, 4, h, w) -> (1, 4, h, w).

    With one prompt and w = 1 this is classifier-free guidance, evaluated as the pipeline does.
    """
    total = eps_uncond
    for i, w in enumerate(weights):
        total = total + (w * guidance) * (eps_conds[i:i + 1] - eps_uncond)
    return total


@torch.no_grad()
def generate_composable(model, recipe: Recipe, *, latents: torch.Tensor | None = None,
                        on_step: Callable | None = None, cancel: threading.Event | None = None,
                        watch: bool = False, config=None) -> Generation:
    """Sample with AND: one UNet pass per prompt plus the unconditional one, every step.

    Same scheduler, initial noise and VAE decode as StableDiffusionPipeline.__call__, so AND with
    one prompt of weight 1 gives the pipeline's image (tests/test_blend.py).
    """
    # 1. validate
    validate(recipe, config)
    terms = composable_terms(recipe)
    for i, (_, text) in enumerate(terms):
        _check_phrase(f"terms[{i}]", text, model)
    pipe, cache = model.pipe, encoding_cache(model)
    with model.lock:
        # 2. encode: the unconditional (negative) sequence first, then one per prompt
        weights = [w for w, _ in terms]
        embeds = torch.cat([negative_conditioning(model, recipe.negative_prompt)] +
                           [cache.conditioning(text) for _, text in terms])                # (1 + n, 77, d)
        # 3. prepare the scheduler, the initial noise and the step kwargs as the pipeline does
        scheduler = make_scheduler(recipe.scheduler, model.base_scheduler_config)
        scheduler.set_timesteps(recipe.steps, device=model.device)
        watcher = StepWatcher(scheduler, recipe.steps, PreviewDecoder(model, recipe.preview) if watch else None,
                              on_step, cancel)
        generator = torch.Generator("cpu").manual_seed(recipe.seed)
        if latents is None and recipe.variation_seed is not None and recipe.variation_strength > 0:
            latents = initial_noise(recipe, latent_shape(model, recipe), model.dtype)
        original, pipe.scheduler = pipe.scheduler, scheduler     # prepare_* read pipe.scheduler
        try:
            x = pipe.prepare_latents(1, pipe.unet.config.in_channels, recipe.height, recipe.width, embeds.dtype,
                                     model.device, generator, latents)                    # (1, 4, h, w)
            step_kwargs = pipe.prepare_extra_step_kwargs(generator, 0.0)
        finally:
            pipe.scheduler = original
        n = len(terms)
        # 4. denoise: 1 + n UNet passes per step (batched), noise predictions composed
        for i, t in enumerate(scheduler.timesteps):
            x_in = scheduler.scale_model_input(torch.cat([x] * (1 + n)), t)                # (1 + n, 4, h, w)
            eps = pipe.unet(x_in, t, encoder_hidden_states=embeds, return_dict=False)[0]
            eps = composed_noise(eps[:1], eps[1:], weights, recipe.guidance)              # (1, 4, h, w)
            x = scheduler.step(eps, t, x, **step_kwargs, return_dict=False)[0]
            watcher(pipe, i, t, {"latents": x})
            if watcher.cancelled:
                break
        # 5. decode with the VAE, as the pipeline does
        image = pipe.vae.decode(x / pipe.vae.config.scaling_factor, return_dict=False, generator=generator)[0]
        image = pipe.image_processor.postprocess(image, output_type="pil", do_denormalize=[True])[0]
    return Generation(image, recipe, watcher.previews, watcher.cancelled)


# ----------------------------------------------------------------------------------------------
# the comparator
def panel_recipes(model, a: str, b: str, base: Recipe, and_weights: tuple[float, float] = (1.0, 1.0)
                  ) -> list[Panel]:
    """The seven panels' recipes, each regenerating its own image through generate()."""
    _check_phrase("a", a, model)
    _check_phrase("b", b, model)
    qa, qb = _quoted("a", a), _quoted("b", b)
    for i, w in enumerate(and_weights):
        if isinstance(w, bool) or not isinstance(w, (int, float)) or not abs(w) <= MAX_WEIGHT:
            raise InputError(f"and_weights[{i}]", f"a number in [{-MAX_WEIGHT:g}, {MAX_WEIGHT:g}]", w)
    concat = f"{a}, {b}"
    check_prompt_length(model.tokenizer, concat, "a, b")
    lerp_expr, sum_expr = f"0.5 * {qa} + 0.5 * {qb}", f"{qa} + {qb}"
    recipes = {
        "a": base.with_(prompt=a),
        "b": base.with_(prompt=b),
        "concat": base.with_(prompt=concat),
        # 0.5·A + 0.5·B raw in the conditioning space is exactly lerp(E(A), E(B), 0.5)
        "lerp": base.with_(prompt=lerp_expr, expression=lerp_expr, space="conditioning", renormalize=False),
        "slerp": base.with_(prompt=f"slerp({qa}, {qb}, 0.5)", extra={"a": a, "b": b, "t": 0.5}),
        "sum": base.with_(prompt=sum_expr, expression=sum_expr, space="conditioning", renormalize=True),
        "and": base.with_(prompt=f"{a} AND {b}", extra={"terms": [[float(and_weights[0]), a],
                                                                   [float(and_weights[1]), b]]}),
    }
    panels = []
    for op, recipe in recipes.items():
        recipe.extra = {**recipe.extra, "operator": op}
        panels.append(Panel(op, *OPERATORS[op], recipe=recipe))
    return panels


def panel_readback(model, panel: Panel) -> torch.Tensor:
    """The pooled readback (1, d) of a panel's conditioning.

    Operators that combine the two sequences position by position are read back by the same
    operator on the ingredients' pooled vectors (their end-token states), as evaluate() does for
    arithmetic; AND keeps two sequences, so it reads back as the weighted sum of their pooled vectors.
    """
    cache = encoding_cache(model)
    extra = panel.recipe.extra
    if panel.recipe.expression:
        return evaluate(model, panel.recipe.expression, panel.recipe.space, panel.recipe.renormalize).pooled
    if panel.operator == "slerp":
        return slerp(cache.pooled(extra["a"]), cache.pooled(extra["b"]), extra["t"])
    if panel.operator == "and":
        return sum(w * cache.pooled(text) for w, text in extra["terms"])
    return cache.pooled(panel.recipe.prompt)


def generate_batch(model, recipes: list[Recipe], config=None) -> list[Image.Image]:
    """Prompt-embeds recipes sharing seed and settings through ONE pipeline call: (N, 77, d) embeds,
    N copies of the seed's noise as latents."""
    from explorer.arithmetic import conditioning_for

    first = recipes[0]
    for r in recipes:
        validate(r, config)
    pairs = [conditioning_for(model, r) for r in recipes]
    embeds = torch.cat([p for p, _ in pairs])                                          # (N, 77, d)
    negatives = torch.cat([n for _, n in pairs])                                       # (N, 77, d)
    noise = initial_noise(first, latent_shape(model, first), model.dtype)              # (1, 4, h, w)
    latents = noise.repeat(len(recipes), 1, 1, 1)                                      # (N, 4, h, w)
    pipe = model.pipe
    with model.lock:
        scheduler = make_scheduler(first.scheduler, model.base_scheduler_config)
        original, pipe.scheduler = pipe.scheduler, scheduler
        try:
            with torch.inference_mode():
                return pipe(prompt_embeds=embeds, negative_prompt_embeds=negatives, latents=latents,
                            num_inference_steps=first.steps, guidance_scale=first.guidance, width=first.width,
                            height=first.height, generator=torch.Generator("cpu").manual_seed(first.seed)).images
        finally:
            pipe.scheduler = original


def compare(model, a: str = "van Gogh", b: str = "astronaut", base: Recipe | None = None, *,
            and_weights: tuple[float, float] = (1.0, 1.0), batched: bool = True, vision: bool = True,
            config=None, on_panel: Callable[[Panel], None] | None = None) -> BlendComparison:
    """Generate the seven panels for one seed and score each against A and B."""
    from explorer.generate import recipe_defaults

    started = time.perf_counter()
    # 1. the recipes
    base = base or recipe_defaults(model, a)
    base = base.with_(expression=None, extra={}, space="conditioning", renormalize=True)
    panels = panel_recipes(model, a, b, base, and_weights)
    validate(panels[0].recipe, config)
    # 2. generate: batched where the operator is a prompt_embeds and the scheduler draws no step noise
    embeds_panels = [p for p in panels if p.operator != "and"]
    batched = batched and base.scheduler not in STOCHASTIC_SCHEDULERS and \
        len(embeds_panels) <= (config.max_batch if config else len(embeds_panels))
    if batched:
        for panel, image in zip(embeds_panels, generate_batch(model, [p.recipe for p in embeds_panels], config)):
            panel.image = image
    for panel in panels:
        if panel.image is None:
            panel.image = generate(model, panel.recipe, watch=False, config=config).image
        if on_panel is not None:
            on_panel(panel)
    # 3. text similarity of each panel's conditioning to A and B (pooled space)
    cache = encoding_cache(model)
    pa, pb = cache.pooled(a), cache.pooled(b)                                       # (1, d)
    for panel in panels:
        readback = panel_readback(model, panel)
        panel.sim_a = float(cosine_similarity(readback, pa)[0])
        panel.sim_b = float(cosine_similarity(readback, pb)[0])
    # 4. image-text similarity, where the model family has a CLIP vision model
    note = score_images(model, panels, a, b) if vision else "image-text similarity not asked for"
    return BlendComparison(a, b, panels, note, batched, time.perf_counter() - started)


def score_images(model, panels: list[Panel], a: str, b: str) -> str:
    """Fill clip_a/clip_b with CLIP image-text cosine similarities; return a note for the UI."""
    try:
        from explorer.vision import load_vision, vision_status
    except ImportError:
        return "no CLIP vision model for this family"
    vision_model = load_vision(model)
    if vision_model is None:
        return f"no CLIP vision model for this family ({vision_status(model)})"
    scores = vision_model.similarity([p.image for p in panels], [a, b])                # (7, 2) cosines
    for panel, row in zip(panels, scores):
        panel.clip_a, panel.clip_b = float(row[0]), float(row[1])
    return f"image-text similarity by {vision_model.name}: {vision_model.about}"
