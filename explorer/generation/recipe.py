"""The Recipe: the one description of an image, typed, validated in one place, read from any version.

Every way an image can be made is a typed field: a plain prompt; an `expression` evaluated in a
`space`; a `blend` panel of the comparator; a `walk` frame between two ends; a `variation` of
the seed's noise (and further chained `variations`). `origin` records where a recipe came from
(a search page, a bias probe, a concept axis) and never changes the image.
explorer.generation.conditioning turns any recipe into the denoiser's inputs.
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, fields, replace

from explorer.checks import check_choice, check_float, check_int, check_text
from explorer.messages import say
from explorer.config import ExplorerConfig
from explorer.errors import InputError
from explorer.generation.cost import estimate
from explorer.generation.deepcache import MAX_INTERVAL
from explorer.models.backends import BACKENDS
from explorer.models.tiny_decoder import DECODERS
from explorer.models.presets import SCHEDULERS, model_label
from explorer.models.previews import PREVIEW_DECODERS
from explorer.text.arithmetic import SPACES
from explorer.text.expressions import MAX_WEIGHT

SEED_MAX = 2**32                      # seeds are integers in [0, 2^32), as in A1111
BLEND_OPERATORS = ("a", "b", "concat", "lerp", "slerp", "sum", "and")   # see explore.blends.OPERATORS
WALK_METHODS = ("slerp", "lerp")      # how a prompt walk moves the conditioning between its ends
WALK_SCHEDULES = ("linear", "ease", "adaptive")
ORIGINS = ("search", "probe", "axis")
VARIATION_SLERPS = ("tensor", "a1111")
STEP_NOISES = ("a1111", "seed")       # an ancestral sampler's per-step noise after a variation (generation.noise)
EMPHASES = ("a1111", "none")             # prompt syntax: A1111 emphasis (text.emphasis), or all literal text   # how variation noise is slerped (generation.noise.initial_noise)
MAX_VARIATIONS = 16                   # chained variations ("more like this" of a variation of ...)
MAX_PROMPT_CHARS = 2000               # longer text cannot fit 77 tokens anyway


@dataclass(frozen=True)
class Blend:
    """A blend-comparator panel: ingredients A and B combined by one operator."""

    operator: str                               # one of BLEND_OPERATORS
    a: str                                      # ingredient A
    b: str                                      # ingredient B
    t: float = 0.5                              # slerp: the position between A (0) and B (1)
    weights: tuple[float, float] = (1.0, 1.0)   # and: the weights of A and B (Composable Diffusion)


@dataclass(frozen=True)
class WalkFrame:
    """A frame of a prompt walk: the conditioning at `t` between two ends (prompts or "= expressions")."""

    a: str                        # the segment's first end
    b: str                        # its second end
    t: float                      # 0 = a, 1 = b
    method: str = "slerp"         # one of WALK_METHODS
    segment: int = 0              # which pair of ends in the walk
    schedule: str = "linear"      # how the frames were spaced (one of WALK_SCHEDULES)
    frame: int | None = None      # this frame's number in the film
    of: int | None = None         # frames in the film


@dataclass(frozen=True)
class Variation:
    """The noise so far slerped toward a further seed's noise (A1111's variation seed, chained)."""

    seed: int                     # the other seed
    strength: float               # 0 = the noise so far, 1 = the other seed's noise


@dataclass(frozen=True)
class Origin:
    """Where a recipe came from; it does not change the image."""

    view: str                          # one of ORIGINS
    query: str | None = None           # search: the query
    rank: int | None = None            # search: the position on its results page (seed order)
    prompts: tuple[str, ...] = ()      # probe: the prompts compared
    pole_a: str | None = None          # axis: the first pole
    pole_b: str | None = None          # axis: the second pole
    amount: float | None = None        # axis: how far the prompt moved toward pole_b


@dataclass(frozen=True)
class Recipe:
    """Everything needed to make one image again, bit for bit."""

    model: str                                # preset name, hub id or folder
    prompt: str                               # the text (or a readable form of expression/blend)
    negative_prompt: str = ""                 # what guidance steers away from
    seed: int = 0                             # initial noise: randn from a fresh CPU generator
    steps: int = 20                           # num_inference_steps
    guidance: float = 7.5                     # guidance_scale (classifier-free guidance)
    width: int = 512                          # pixels, multiple of 8
    height: int = 512                         # pixels, multiple of 8
    scheduler: str = "ddim"                   # see explorer.models.presets.SCHEDULERS
    preview: str = "approx"                   # step preview decoder: approx, taesd or full
    expression: str | None = None             # prompt arithmetic, e.g. '"van gogh" + astronaut'
    space: str = "conditioning"               # where the arithmetic is computed (text.arithmetic.SPACES)
    renormalize: bool = True                  # rescale arithmetic results to the ingredients' norm
    variation_seed: int | None = None         # A1111 variation: slerp toward this seed's noise
    variation_strength: float = 0.0           # 0 = seed's noise, 1 = variation_seed's noise
    variations: tuple[Variation, ...] = ()    # further variations, applied in order after the first
    variation_slerp: str = "tensor"           # "tensor": over the whole noise; "a1111": as AUTOMATIC1111 (per column)
    step_noise: str = "a1111"                 # "a1111": the seed's generator continues (A1111); "seed": restarts (earlier)
    emphasis: str = "a1111"                   # "(word:1.3)" etc. as A1111 reads them; "none": literal (earlier PNGs)
    prompt_editing: bool = True               # [from:to:when], [a|b] as A1111 (text.prompt_editing); False: earlier
    blend: Blend | None = None                # a blend-comparator panel
    walk: WalkFrame | None = None             # a frame of a prompt walk
    origin: Origin | None = None              # where it came from (does not change the image)
    backend: str = "torch"                    # what ran the UNet and decoder (models.backends); set by generate, not asked
    decoder: str = "full"                     # the final image's decoder: full (the VAE) or tiny (models.tiny_decoder)
    deepcache: int = 0                        # DeepCache interval N (generation.deepcache): 0 = off, 1 = every step full

    # ------------------------------------------------------------------ conversions
    def to_dict(self) -> dict:
        data = asdict(self)
        if data["backend"] == "torch":        # torch: the recipe's bytes as before the backends existed
            del data["backend"]
        for name, default in (("decoder", "full"), ("deepcache", 0)):     # off: the bytes as before they existed
            if data[name] == default:
                del data[name]
        return data

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), ensure_ascii=False, sort_keys=True)

    @classmethod
    def from_dict(cls, data: dict) -> "Recipe":
        """A recipe from its dict (this version's, or an earlier version's with an `extra` dict)."""
        if not isinstance(data, dict):
            raise InputError("recipe", say("recipe.json_object"), type(data).__name__)
        data = dict(data)
        if "extra" in data:
            data = _from_legacy(data)
        data.setdefault("emphasis", "none")     # recipes written before emphasis existed: brackets were literal
        data.setdefault("step_noise", "seed")   # recipes written before: the sampler's generator restarted at the seed
        data.setdefault("prompt_editing", False)   # written before prompt editing: [to:when] was emphasis
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise InputError("recipe", say("recipe.only_fields", fields=", ".join(sorted(known))), unknown)
        if "model" not in data or "prompt" not in data:
            raise InputError("recipe", say("recipe.model_and_prompt"), sorted(data))
        data["variations"] = tuple(_typed(Variation, "variations", v) for v in _listed("variations",
                                                                                       data.get("variations")))
        for name, kind in (("blend", Blend), ("walk", WalkFrame), ("origin", Origin)):
            if data.get(name) is not None:
                data[name] = _typed(kind, name, data[name])
        return cls(**data)

    @classmethod
    def from_json(cls, text: str) -> "Recipe":
        try:
            data = json.loads(text)
        except (json.JSONDecodeError, TypeError) as error:
            raise InputError("recipe", say("recipe.json_object"), str(text)[:80], hint=str(error)) from error
        return cls.from_dict(data)

    def with_(self, **changes) -> "Recipe":
        return replace(self, **changes)


def _listed(name: str, value) -> list:
    if value is None:
        return []
    if not isinstance(value, (list, tuple)):
        raise InputError(name, say("recipe.list"), value)
    return list(value)


def _typed(kind, name: str, value):
    """A dataclass from its dict (lists become tuples); unknown or missing keys name the field."""
    if isinstance(value, kind):
        return value
    if not isinstance(value, dict):
        raise InputError(name, say("recipe.object_with", fields=", ".join(f.name for f in fields(kind))), value)
    known = {f.name for f in fields(kind)}
    if set(value) - known:
        raise InputError(name, say("recipe.only_fields", fields=", ".join(sorted(known))), sorted(set(value) - known))
    converted = {k: tuple(v) if isinstance(v, list) else v for k, v in value.items()}
    try:
        return kind(**converted)
    except TypeError as error:
        raise InputError(name, say("recipe.the_fields", fields=", ".join(f.name for f in fields(kind))), value,
                         hint=str(error)) from None


LEGACY_EXTRA = {           # what an earlier version wrote into `extra`: key -> the fields of its object (None: a value)
    "operator": None, "a": None, "b": None, "t": None, "terms": None, "variations": None,
    "interpolation": ("prompts", "t", "method", "segment", "schedule", "frame", "of"),
    "search": ("query", "rank"), "probe": ("prompts",), "axis": ("pole_a", "pole_b", "amount"),
}


def _legacy_object(extra: dict, key: str, required: tuple[str, ...] = ()) -> dict:
    """extra[key] as an object with only the fields that version wrote (and the required ones)."""
    value, allowed = extra[key], LEGACY_EXTRA[key]
    if not isinstance(value, dict) or set(value) - set(allowed) or set(required) - set(value):
        raise InputError(key, say("recipe.legacy_object_with", fields=", ".join(allowed)), value)
    return value


def _legacy_pairs(value, key: str, allowed: str) -> list:
    """A list of two-element lists ([weight, prompt] terms, [seed, strength] variations)."""
    if not isinstance(value, list) or not all(isinstance(p, list) and len(p) == 2 for p in value):
        raise InputError(key, allowed, value)
    return value


def _from_legacy(data: dict) -> dict:
    """An earlier version's recipe (an untyped `extra` dict) in this version's fields; same image."""
    extra = data.pop("extra") or {}
    if not isinstance(extra, dict):
        raise InputError("extra", say("recipe.legacy_object"), extra)
    unknown = sorted(set(extra) - set(LEGACY_EXTRA))
    if unknown:
        raise InputError("extra", say("recipe.legacy_only_fields", fields=", ".join(LEGACY_EXTRA)), unknown)
    operator = extra.get("operator")
    if operator is not None and operator not in BLEND_OPERATORS:
        raise InputError("operator", say("checks.one_of", choices=", ".join(BLEND_OPERATORS)), operator)
    if operator == "slerp":
        data["blend"] = {"operator": "slerp", "a": extra.get("a"), "b": extra.get("b"), "t": extra.get("t", 0.5)}
    elif operator == "and":
        terms = _legacy_pairs(extra.get("terms"), "terms", say("recipe.and_terms"))
        if len(terms) != 2:
            raise InputError("terms", say("recipe.and_terms"), terms)
        data["blend"] = {"operator": "and", "a": terms[0][1], "b": terms[1][1],
                         "weights": [terms[0][0], terms[1][0]]}
    if extra.get("interpolation"):
        walk = _legacy_object(extra, "interpolation", required=("prompts", "t"))
        ends = walk["prompts"]
        if not isinstance(ends, list) or len(ends) != 2:
            raise InputError("interpolation", say("recipe.walk_ends"), ends)
        data["walk"] = {"a": ends[0], "b": ends[1], "t": walk["t"], "method": walk.get("method", "slerp"),
                        "segment": walk.get("segment", 0), "schedule": walk.get("schedule", "linear"),
                        "frame": walk.get("frame"), "of": walk.get("of")}
    variations = _legacy_pairs(extra.get("variations", []), "variations", say("recipe.variation_pairs"))
    data["variations"] = [{"seed": s, "strength": w} for s, w in variations]
    if "search" in extra:
        search = _legacy_object(extra, "search")
        data["origin"] = {"view": "search", "query": search.get("query"), "rank": search.get("rank")}
    elif "probe" in extra:
        data["origin"] = {"view": "probe", "prompts": _legacy_object(extra, "probe").get("prompts", [])}
    elif "axis" in extra:
        data["origin"] = {"view": "axis", **_legacy_object(extra, "axis")}
    return data


# ----------------------------------------------------------------------------------------------
# validation: every field of every kind of recipe, in one place
def validate(recipe: Recipe, config: ExplorerConfig | None = None) -> Recipe:
    """Check every field against the configured limits; raise InputError on the first problem."""
    config = config or ExplorerConfig()
    if not isinstance(recipe, Recipe):
        raise InputError("recipe", say("recipe.a_recipe"), type(recipe).__name__)
    check_text("model", recipe.model, max_chars=500)
    check_text("prompt", recipe.prompt, allow_empty=bool(recipe.expression or recipe.blend or recipe.walk),
               max_chars=MAX_PROMPT_CHARS, noun="prompt")
    check_text("negative_prompt", recipe.negative_prompt, allow_empty=True, max_chars=MAX_PROMPT_CHARS)
    check_int("seed", recipe.seed, 0, SEED_MAX - 1)
    check_int("steps", recipe.steps, 1, config.max_steps)
    check_float("guidance", recipe.guidance, 0.0, config.max_guidance)
    for name in ("width", "height"):
        value = check_int(name, getattr(recipe, name), config.min_size, config.max_size,
                          say("recipe.multiple_of_8_note"))
        if value % 8:
            raise InputError(name, say("recipe.multiple_of_8", low=config.min_size, high=config.max_size), value)
    check_choice("scheduler", recipe.scheduler, list(SCHEDULERS))
    check_choice("preview", recipe.preview, PREVIEW_DECODERS)
    if recipe.expression is not None:
        check_text("expression", recipe.expression, max_chars=MAX_PROMPT_CHARS)
    check_choice("space", recipe.space, SPACES)
    if not isinstance(recipe.renormalize, bool):
        raise InputError("renormalize", say("checks.true_or_false"), recipe.renormalize)
    if recipe.variation_seed is not None:
        check_int("variation_seed", recipe.variation_seed, 0, SEED_MAX - 1)
    check_float("variation_strength", recipe.variation_strength, 0.0, 1.0)
    check_choice("variation_slerp", recipe.variation_slerp, VARIATION_SLERPS)
    check_choice("step_noise", recipe.step_noise, STEP_NOISES)
    check_choice("emphasis", recipe.emphasis, EMPHASES)
    check_choice("backend", recipe.backend, BACKENDS)
    check_choice("decoder", recipe.decoder, DECODERS)
    check_int("deepcache", recipe.deepcache, 0, MAX_INTERVAL)
    if not isinstance(recipe.prompt_editing, bool):
        raise InputError("prompt_editing", say("checks.true_or_false"), recipe.prompt_editing)
    _validate_variations(recipe.variations)
    if recipe.blend is not None:
        _validate_blend(recipe.blend)
    if recipe.walk is not None:
        _validate_walk(recipe.walk)
    if recipe.origin is not None:
        check_choice("origin", recipe.origin.view, ORIGINS)
    if sum(x is not None for x in (recipe.walk, recipe.blend)) > 1:
        raise InputError("recipe", say("recipe.walk_or_blend"), say("recipe.both"))
    return recipe


def check_model(recipe: Recipe, model) -> Recipe:
    """A recipe sent by a client must name the loaded model (its name is written into every saved PNG)."""
    if recipe.model not in (model.name, model_label(model.name)):      # a saved PNG names a folder by its name
        shown = recipe.model if len(recipe.model) <= 80 else recipe.model[:80] + "…"
        raise InputError("recipe", say("recipe.loaded_model", name=repr(model.name)),
                         say("recipe.model", name=repr(shown)))
    return recipe


def check_fits_model(recipe: Recipe, model) -> Recipe:
    """Settings the loaded model cannot take: sizes below its family's, guidance or steps a turbo model was not made for."""
    family, preset = model.adapter, model.preset
    for name in ("width", "height"):
        value = getattr(recipe, name)
        if value < family.min_size:
            raise InputError(name, say("recipe.min_size", n=family.min_size, about=family.about, size=preset.size),
                             value)
    family.check_recipe(model.pipe, recipe)                   # what the family itself cannot take (models.families)
    if preset.max_guidance is not None and recipe.guidance > preset.max_guidance:
        raise InputError("guidance", say("recipe.turbo_guidance", g=preset.max_guidance, model=model.name),
                         recipe.guidance)
    if preset.max_steps is not None and recipe.steps > preset.max_steps:
        raise InputError("steps", say("recipe.turbo_steps", n=preset.max_steps, model=model.name), recipe.steps)
    return recipe


def check_budget(recipe: Recipe, model, config: ExplorerConfig | None = None) -> Recipe:
    """Refuse an image whose estimated time (generation.cost: its steps and decode on this model's family and
    device) exceeds the time limit of one request, so that one request cannot hold the model for longer."""
    config = config or ExplorerConfig()
    limit = config.request_seconds(model.device.type)
    cost = estimate(model, recipe)
    if cost.total <= limit:
        return recipe
    cpu = model.device.type == "cpu"
    fitting = int((limit - cost.decode) // cost.step) if cost.decode < limit else 0
    if fitting >= 1:               # fewer steps fit at this size
        raise InputError("steps", say("recipe.budget_steps_cpu" if cpu else "recipe.budget_steps", n=fitting,
                                      w=recipe.width, h=recipe.height, s=cost.step, d=cost.decode, limit=limit),
                         say("recipe.steps_about", n=recipe.steps, s=cost.total), hint=say("recipe.fewer_steps"))
    raise InputError("width", say("recipe.budget_size_cpu" if cpu else "recipe.budget_size", w=recipe.width,
                                  h=recipe.height, s=cost.step, d=cost.decode, limit=limit),
                     say("recipe.size", w=recipe.width, h=recipe.height), hint=say("recipe.smaller_size"))


def _validate_variations(variations) -> None:
    if not isinstance(variations, tuple) or len(variations) > MAX_VARIATIONS:
        raise InputError("variations", say("recipe.max_variations", n=MAX_VARIATIONS), variations)
    for v in variations:
        if not isinstance(v, Variation):
            raise InputError("variations", say("recipe.variation_fields"), v)
        check_int("variations.seed", v.seed, 0, SEED_MAX - 1)
        check_float("variations.strength", v.strength, 0.0, 1.0)


def _validate_blend(blend: Blend) -> None:
    check_choice("operator", blend.operator, BLEND_OPERATORS)
    check_text("a", blend.a, max_chars=MAX_PROMPT_CHARS, noun="prompt")
    check_text("b", blend.b, max_chars=MAX_PROMPT_CHARS, noun="prompt")
    check_float("t", blend.t, 0.0, 1.0)
    if not isinstance(blend.weights, tuple) or len(blend.weights) != 2:
        raise InputError("and_weights", say("recipe.and_weights"), blend.weights)
    for i, w in enumerate(blend.weights):
        check_float(f"and_weights[{i}]", w, -MAX_WEIGHT, MAX_WEIGHT)


def _validate_walk(walk: WalkFrame) -> None:
    check_text("walk.a", walk.a, max_chars=MAX_PROMPT_CHARS, noun="prompt")
    check_text("walk.b", walk.b, max_chars=MAX_PROMPT_CHARS, noun="prompt")
    check_float("t", walk.t, 0.0, 1.0)
    check_choice("method", walk.method, WALK_METHODS)
    check_choice("schedule", walk.schedule, WALK_SCHEDULES)
    check_int("walk.segment", walk.segment, 0, 10_000)


def recipe_defaults(model, prompt: str, **overrides) -> Recipe:
    """A recipe with the model preset's defaults for steps, guidance, size, scheduler and step preview decoder."""
    preset = model.preset
    base = dict(model=model.name, prompt=prompt, steps=preset.steps, guidance=preset.guidance,
                width=preset.size, height=preset.size, scheduler=preset.scheduler, preview=preset.preview,
                backend=getattr(model, "backend", "torch"),            # what will run it (generate says what did)
                decoder=getattr(model, "decoder", "full"))     # DeepCache: generate() records what ran
    base.update(overrides)
    return Recipe(**base)

