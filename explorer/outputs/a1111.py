"""Reading AUTOMATIC1111's `parameters` text (its "infotext") into a Recipe, as A1111's own parser reads it.

The format (A1111 modules/processing.py `create_infotext`, read back by modules/infotext_utils.py
`parse_generation_parameters`)::

    a prompt, which may run
    over several lines
    Negative prompt: what to avoid
    Steps: 20, Sampler: DPM++ 2M, Schedule type: Karras, CFG scale: 7, Seed: 42, Size: 512x768, ...

The last line holds `key: value` pairs (a value with `,` `:` or a newline is JSON-quoted); it counts as
parameters only when it holds at least three of them, else it is part of the prompt. The lines before it
are the prompt until a line starting with `Negative prompt:`, after which they are the negative prompt.

The fields the explorer reproduces are mapped onto a Recipe; every other key A1111 writes (Clip skip, hashes,
hires fix, VAE, Version...) and every extra-network tag in the prompts (`<lora:name:0.8>`) is listed back
in `ignored`, and what will differ from A1111's picture is said in `notes`: nothing is dropped silently.
"""
from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field

from explorer import __version__
from explorer.errors import InputError, ModelLoadError
from explorer.messages import say
from explorer.generation.recipe import Recipe, Variation
from explorer.generation.schedulers import A1111_AUTOMATIC, UNIFORM, a1111_samplers, from_a1111, resolve_schedule
from explorer.models.presets import DEFAULT_MODEL, PRESETS, resolve_preset

# A1111's own expressions (modules/infotext_utils.py, modules/extra_networks.py)
RE_PARAM = re.compile(r'\s*(\w[\w \-/]+):\s*("(?:\\.|[^\\"])+"|[^,]*)(?:,|$)')
RE_IMAGESIZE = re.compile(r"^(\d+)x(\d+)$")
RE_EXTRA_NETWORK = re.compile(r"<(\w+):([^>]+)>")
NEGATIVE_PREFIX = "Negative prompt:"
MIN_PARAMS = 3                      # fewer pairs on the last line: it is part of the prompt

# the explorer's own keys (explorer.outputs.png.to_parameters) -> the recipe field each holds: the expression; the
# variations as "seed:strength seed:strength ..." (a chain A1111 cannot make, or the explorer's slerp); their slerp,
# "tensor" or "a1111"; the step noise, written only when "seed" (earlier recipes)
EXPLORER_KEYS = {"Prompt expression": "expression", "Explorer variations": "variations",
                 "Variation slerp": "variation_slerp", "Step noise": "step_noise"}
EXPRESSION_KEY, VARIATIONS_KEY, VARIATION_SLERP_KEY, STEP_NOISE_KEY = EXPLORER_KEYS
VERSION_KEY = "Version"                  # A1111 writes its version here; the explorer "latent-explorer <version>"
EXPLORER = "latent-explorer"
EXPLORER_VERSION = f"{EXPLORER} {__version__}"
# A1111's schedule types (modules/sd_schedulers.py): the label written as `Schedule type`; old versions
# appended it to the sampler's name ("DPM++ 2M Karras")
SCHEDULE_TYPES = ("Automatic", "Uniform", "Karras", "Exponential", "Polyexponential", "SGM Uniform", "KL Optimal",
                  "Align Your Steps", "Simple", "Normal", "DDIM", "Beta")
SCHEDULE_TYPE_VERSION = (1, 9)            # before it, a sampler without a schedule in its name used no Karras/exponential
BROWNIAN_SAMPLERS = ("DPM++ SDE", "DPM++ 2M SDE", "DPM++ 2M SDE Heun", "DPM++ 3M SDE")   # A1111: Brownian-tree noise
MAPPED = ("Steps", "Sampler", "Schedule type", "CFG scale", "Seed", "Size", "Model", "Variation seed",
          "Variation seed strength", EXPRESSION_KEY, "RNG", VARIATIONS_KEY, VARIATION_SLERP_KEY, STEP_NOISE_KEY,
          "First pass size")
HIRES_PREFIX = "Hires "
RE_VERSION = re.compile(r"(?:^|v)(\d+)\.(\d+)")      # "v1.10.1", "1.6.0-RC-28-g...", Forge's "f2.0.1v1.10.1-..."
RE_VARIATION = re.compile(r"^(\d+):([0-9.eE+-]+)$")
UNREPRODUCED_SYNTAX = re.compile(r"\bAND\b|\bBREAK\b|\[[^\]]*\|[^\]]*\]|\[[^\]]*:[^\]]*:[^\]]*\]")


@dataclass
class ParsedParameters:
    """A1111 parameters read as A1111 reads them; None where the text does not say."""

    prompt: str = ""
    negative_prompt: str = ""
    steps: int | None = None
    sampler: str | None = None              # as A1111 wrote it, e.g. "DPM++ 2M"
    schedule_type: str | None = None        # e.g. "Karras"
    scheduler: str | None = None            # the explorer's name (SCHEDULERS); None: the model's default
    guidance: float | None = None           # CFG scale
    seed: int | None = None
    width: int | None = None
    height: int | None = None
    variation_seed: int | None = None
    variation_strength: float | None = None
    variations: list[Variation] = field(default_factory=list)   # the explorer's chain after the first variation
    variation_slerp: str | None = None      # the explorer's Variation slerp; None: A1111's own
    step_noise: str = "a1111"               # the explorer's Step noise of earlier recipes; A1111's rule otherwise
    model: str | None = None                # the Model field (an A1111 checkpoint name, or the explorer's model)
    expression: str | None = None           # the explorer's own "Prompt expression"
    fields: dict[str, str] = field(default_factory=dict)   # every key: value of the last line, unquoted
    ignored: list[str] = field(default_factory=list)       # "Key: value", bare flags and prompt tags not used
    ignored_keys: list[str] = field(default_factory=list)  # the same, without values ("Clip skip", "<lora:x:1>")
    notes: list[str] = field(default_factory=list)         # what will differ from A1111's picture, and why
    by_explorer: bool = False               # the explorer's own text (Version: latent-explorer ...), not A1111's

    def ignore(self, key: str, value: str | None = None) -> None:
        """List one thing the explorer does not use: a key (with its value) or a bare flag or tag."""
        self.ignored.append(key if value is None else key + ": " + value)     # a keyed value stays keyed
        self.ignored_keys.append(key)

    def to_recipe(self, model_name: str | None = None) -> Recipe:
        """The Recipe of these parameters: model = model_name when given, else the Model field (else the
        default model); a field the text does not give takes the model's default."""
        model = model_name or self.model or DEFAULT_MODEL
        try:
            preset = resolve_preset(model)
        except (InputError, ModelLoadError):         # a name that is no preset, hub id or model folder here
            preset = PRESETS[DEFAULT_MODEL]
        values = dict(model=model, prompt=self.prompt, negative_prompt=self.negative_prompt,
                      steps=preset.steps if self.steps is None else self.steps,
                      guidance=preset.guidance if self.guidance is None else self.guidance,
                      width=preset.size if self.width is None else self.width,
                      height=preset.size if self.height is None else self.height,
                      scheduler=self.scheduler or preset.scheduler, expression=self.expression)
        if self.seed is not None:
            values["seed"] = self.seed
        chain = list(self.variations)
        if self.variation_seed is not None:
            chain.insert(0, Variation(self.variation_seed, self.variation_strength or 0.0))
        if chain:
            values.update(variation_seed=chain[0].seed, variation_strength=chain[0].strength,
                          variations=tuple(chain[1:]), variation_slerp=self.variation_slerp or "a1111")
        return Recipe(**values, step_noise=self.step_noise)


def as_int(key: str, value: str) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        raise InputError(key, say("a1111.integer"), value) from None


def as_float(key: str, value: str) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise InputError(key, say("a1111.number"), value) from None
    if number != number or number in (float("inf"), float("-inf")):
        raise InputError(key, say("a1111.finite_number"), value)
    return number


def _unquote(text: str) -> str:
    """A1111's unquote: a "quoted" value is JSON; if it does not load, the text as it is."""
    if len(text) == 0 or text[0] != '"' or text[-1] != '"':
        return text
    try:
        loaded = json.loads(text)
    except ValueError:
        return text
    return loaded if isinstance(loaded, str) else text


def _split(text: str) -> tuple[str, str, str]:
    """(prompt, negative prompt, parameter line), exactly as parse_generation_parameters splits them."""
    *lines, lastline = text.strip().split("\n")
    if len(RE_PARAM.findall(lastline)) < MIN_PARAMS:
        lines.append(lastline)
        lastline = ""
    prompt, negative, done_with_prompt = "", "", False
    for line in lines:
        line = line.strip()
        if line.startswith(NEGATIVE_PREFIX):
            done_with_prompt = True
            line = line[len(NEGATIVE_PREFIX):].strip()
        if done_with_prompt:
            negative += ("" if negative == "" else "\n") + line
        else:
            prompt += ("" if prompt == "" else "\n") + line
    return prompt, negative, lastline


def _pairs(lastline: str, parsed: ParsedParameters) -> dict[str, str]:
    """The key: value pairs of the last line (the last of a repeated key wins, as in A1111); text between
    pairs that is no pair (a bare flag such as `Tiling`) and empty values are listed in `ignored`."""
    found: dict[str, str] = {}
    position = 0
    for match in RE_PARAM.finditer(lastline):
        gap = lastline[position:match.start()].strip(" ,")
        if gap:                                       # a flag written as its name alone: `Tiling`
            parsed.ignore(gap)
        position = match.end()
        key, value = match.group(1), match.group(2)
        if not value:                                 # A1111 skips it too (its parser fails on v[0])
            parsed.ignore(key, say("a1111.empty"))
            continue
        if value[0] == '"' and value[-1] == '"':
            value = _unquote(value)
        if key in found:
            parsed.ignore(key, say("a1111.repeated", value=found[key]))
        found[key] = value
    rest = lastline[position:].strip(" ,")
    if rest:
        parsed.ignore(rest)
    return found


def _strip_extra_networks(text: str, parsed: ParsedParameters, where: str) -> str:
    """Remove `<lora:name:0.8>`-style tags as A1111 does before encoding, listing each in `ignored`."""
    def found(match: re.Match) -> str:
        parsed.ignore(match.group(0))
        note = say("a1111.extra_networks", tag=match.group(1))
        if note not in parsed.notes:
            parsed.notes.append(note)
        return ""
    return RE_EXTRA_NETWORK.sub(found, text)


def _version(text: str | None) -> tuple[int, int] | None:
    """(major, minor) of A1111's Version field (Forge's too); None when it names none."""
    found = RE_VERSION.search(text or "")
    return (int(found.group(1)), int(found.group(2))) if found else None


def _sampler(parsed: ParsedParameters, sampler: str | None, schedule: str | None, version: str | None) -> None:
    """Sampler (+ Schedule type) -> one of the explorer's schedulers (generation.schedulers), as A1111 >= 1.9 reads
    them: no Schedule type, or "Automatic", is the sampler's own default (Karras for DPM++ 2M); a text of an A1111
    before 1.9 (its Version) meant no Karras/exponential with a plain sampler name. Notes where they differ."""
    if sampler is None:
        if schedule is not None:
            parsed.ignore("Schedule type", schedule)
        return
    name, known = sampler.strip(), a1111_samplers()
    if name not in known:            # an older A1111 wrote the schedule into the name: "DPM++ 2M Karras"
        for label in SCHEDULE_TYPES:
            base = name[:-len(label)].rstrip()
            if name.endswith(" " + label) and base in known + list(A1111_AUTOMATIC):
                name, schedule = base, schedule or label
                break
    if name not in known:
        parsed.notes.append(say("a1111.sampler", sampler=repr(sampler), samplers=", ".join(known)))
        if schedule is not None:
            parsed.ignore("Schedule type", schedule)
        return
    old = _version(version)
    if schedule is None and old is not None and old < SCHEDULE_TYPE_VERSION and not parsed.by_explorer:
        schedule = UNIFORM
    parsed.scheduler = from_a1111(name, schedule)
    if parsed.scheduler is None:                     # e.g. Euler a with Karras: diffusers' has no Karras sigmas
        parsed.scheduler = from_a1111(name, UNIFORM)     # every sampler offered has its uniform form
        parsed.notes.append(say("a1111.schedule", schedule=repr(resolve_schedule(name, schedule)),
                                scheduler=parsed.scheduler))
    if name in BROWNIAN_SAMPLERS and not parsed.by_explorer:
        parsed.notes.append(say("a1111.brownian", sampler=repr(name)))


def _variations(parsed: ParsedParameters, values: dict[str, str]) -> None:
    """The explorer's own variation fields: the chain, its slerp and (earlier recipes) its step noise."""
    if VARIATIONS_KEY in values:
        chain = []
        for item in values[VARIATIONS_KEY].split():
            found = RE_VARIATION.match(item)
            if found is None:
                raise InputError(VARIATIONS_KEY, say("a1111.variations"), values[VARIATIONS_KEY])
            chain.append(Variation(int(found.group(1)), as_float(VARIATIONS_KEY, found.group(2))))
        if chain:
            parsed.variation_seed, parsed.variation_strength = chain[0].seed, chain[0].strength
            parsed.variations = chain[1:]
        parsed.variation_slerp = values.get(VARIATION_SLERP_KEY, "tensor")
    if values.get(STEP_NOISE_KEY) == "seed":
        parsed.step_noise = "seed"


def _first_pass_size(parsed: ParsedParameters, values: dict[str, str]) -> None:
    """The old hires fix's `First pass size` is the size the picture was made at (A1111 restore_old_hires_fix_params;
    0x0: A1111's old rule, about 512 x 512 pixels in multiples of 64)."""
    size = RE_IMAGESIZE.match(values["First pass size"])
    if size is None:
        raise InputError("First pass size", say("a1111.size"), values["First pass size"])
    width, height = int(size.group(1)), int(size.group(2))
    if (width == 0 or height == 0) and parsed.width and parsed.height:     # processing.old_hires_fix_first_pass_dimensions
        scale = math.sqrt(512 * 512 / (parsed.width * parsed.height))
        width, height = math.ceil(scale * parsed.width / 64) * 64, math.ceil(scale * parsed.height / 64) * 64
    if width and height:
        parsed.width, parsed.height = width, height


def parse_parameters(text: str) -> ParsedParameters:
    """A1111 `parameters` text -> ParsedParameters; bad values raise InputError naming the A1111 field."""
    if not isinstance(text, str):
        raise InputError("parameters", say("checks.text"), type(text).__name__)
    parsed = ParsedParameters()
    prompt, negative, lastline = _split(text)
    parsed.fields = _pairs(lastline, parsed)
    values = parsed.fields
    parsed.prompt = _strip_extra_networks(prompt, parsed, "prompt")
    parsed.negative_prompt = _strip_extra_networks(negative, parsed, "negative prompt")

    if "Steps" in values:
        parsed.steps = as_int("Steps", values["Steps"])
    if "CFG scale" in values:
        parsed.guidance = as_float("CFG scale", values["CFG scale"])
    if "Seed" in values:
        parsed.seed = as_int("Seed", values["Seed"])
    if "Size" in values:
        size = RE_IMAGESIZE.match(values["Size"])
        if size is None:
            raise InputError("Size", say("a1111.size"), values["Size"])
        parsed.width, parsed.height = int(size.group(1)), int(size.group(2))
    if "Variation seed" in values:
        parsed.variation_seed = as_int("Variation seed", values["Variation seed"])
    if "Variation seed strength" in values:
        parsed.variation_strength = as_float("Variation seed strength", values["Variation seed strength"])
        if parsed.variation_seed is None:
            parsed.ignore("Variation seed strength", say("a1111.no_variation_seed",
                                                         value=values["Variation seed strength"]))
            parsed.variation_strength = None
    if "Model" in values:
        parsed.model = values["Model"]
    if EXPRESSION_KEY in values:
        parsed.expression = values[EXPRESSION_KEY]
    if "First pass size" in values:
        _first_pass_size(parsed, values)
    _variations(parsed, values)
    parsed.by_explorer = _written_by_explorer(values)
    if parsed.by_explorer and VERSION_KEY not in values:    # the explorer's text from before its Version field
        parsed.variation_slerp, parsed.step_noise = parsed.variation_slerp or "tensor", "seed"
    parsed.sampler, parsed.schedule_type = values.get("Sampler"), values.get("Schedule type")
    _sampler(parsed, parsed.sampler, parsed.schedule_type, values.get(VERSION_KEY))

    for key, value in values.items():
        if key not in MAPPED and not (key == VERSION_KEY and parsed.by_explorer):
            parsed.ignore(key, value)
    _notes(parsed, values)
    return parsed


def _notes(parsed: ParsedParameters, values: dict[str, str]) -> None:
    """What in an A1111 picture the explorer does not make the same way (nothing for the explorer's own text)."""
    if parsed.by_explorer:
        return
    if parsed.seed is not None and values.get("RNG", "GPU") != "CPU":
        parsed.notes.append(say("a1111.gpu_seed"))
    if any(key.startswith(HIRES_PREFIX) for key in values) or "First pass size" in values:
        parsed.notes.append(say("a1111.hires"))
    if "Clip skip" in values:
        parsed.notes.append(say("a1111.clip_skip", n=values["Clip skip"]))
    if UNREPRODUCED_SYNTAX.search(parsed.prompt) or UNREPRODUCED_SYNTAX.search(parsed.negative_prompt):
        parsed.notes.append(say("a1111.syntax"))


def _written_by_explorer(values: dict[str, str]) -> bool:
    """The explorer's own text (explorer.outputs.png.to_parameters): its Version names it (texts written before the
    Version field: a Prompt expression, a key only the explorer writes). The Model field decides nothing: A1111
    writes folders (`SD15\\dreamshaper_8`) and any name."""
    return values.get(VERSION_KEY, "").startswith(EXPLORER + " ") or EXPRESSION_KEY in values
