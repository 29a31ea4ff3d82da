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
import re
from dataclasses import dataclass, field

from explorer.errors import InputError, ModelLoadError
from explorer.messages import say
from explorer.generation.recipe import Recipe
from explorer.models.presets import DEFAULT_MODEL, PRESETS, SCHEDULERS, resolve_preset

# A1111's own expressions (modules/infotext_utils.py, modules/extra_networks.py)
RE_PARAM = re.compile(r'\s*(\w[\w \-/]+):\s*("(?:\\.|[^\\"])+"|[^,]*)(?:,|$)')
RE_IMAGESIZE = re.compile(r"^(\d+)x(\d+)$")
RE_EXTRA_NETWORK = re.compile(r"<(\w+):([^>]+)>")
NEGATIVE_PREFIX = "Negative prompt:"
MIN_PARAMS = 3                      # fewer pairs on the last line: it is part of the prompt

EXPRESSION_KEY = "Prompt expression"     # the explorer's own key (explorer.outputs.png.to_parameters)
SAMPLERS = {a1111: name for name, (_cls, _config, a1111) in SCHEDULERS.items()}   # "Euler a" -> "euler_a"
# A1111's schedule types (modules/sd_schedulers.py): the label written as `Schedule type`; old versions
# appended it to the sampler's name ("DPM++ 2M Karras")
SCHEDULE_TYPES = ("Automatic", "Uniform", "Karras", "Exponential", "Polyexponential", "SGM Uniform", "KL Optimal",
                  "Align Your Steps", "Simple", "Normal", "DDIM", "Beta")
REPRODUCED_SCHEDULES = ("Automatic",)     # the sampler's own default: the explorer runs diffusers' default spacing
MAPPED = ("Steps", "Sampler", "Schedule type", "CFG scale", "Seed", "Size", "Model", "Variation seed",
          "Variation seed strength", EXPRESSION_KEY, "RNG")
HIRES_PREFIX = "Hires "
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
    model: str | None = None                # the Model field (an A1111 checkpoint name, or the explorer's model)
    expression: str | None = None           # the explorer's own "Prompt expression"
    fields: dict[str, str] = field(default_factory=dict)   # every key: value of the last line, unquoted
    ignored: list[str] = field(default_factory=list)       # "Key: value", bare flags and prompt tags not used
    ignored_keys: list[str] = field(default_factory=list)  # the same, without values ("Clip skip", "<lora:x:1>")
    notes: list[str] = field(default_factory=list)         # what will differ from A1111's picture, and why
    by_explorer: bool = False               # the explorer's own text (its noise rules), not A1111's

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
        if self.variation_seed is not None:
            values.update(variation_seed=self.variation_seed, variation_strength=self.variation_strength or 0.0,
                          variation_slerp="tensor" if self.by_explorer else "a1111")   # A1111's own slerp
        return Recipe(**values)


def _as_int(key: str, value: str) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        raise InputError(key, say("a1111.integer"), value) from None


def _as_float(key: str, value: str) -> float:
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


def _sampler(parsed: ParsedParameters, sampler: str | None, schedule: str | None) -> None:
    """Sampler (+ Schedule type) -> one of the explorer's schedulers, with notes where they differ."""
    if sampler is None:
        if schedule is not None:
            parsed.ignore("Schedule type", schedule)
        return
    name = sampler.strip()
    if name not in SAMPLERS:            # an older A1111 wrote the schedule into the name: "DPM++ 2M Karras"
        for label in SCHEDULE_TYPES:
            base = name[:-len(label)].rstrip()
            if name.endswith(" " + label) and base in SAMPLERS:
                name, schedule = base, schedule or label
                break
    if name not in SAMPLERS:
        parsed.notes.append(say("a1111.sampler", sampler=repr(sampler), samplers=", ".join(SAMPLERS)))
        if schedule is not None:
            parsed.ignore("Schedule type", schedule)
        return
    parsed.scheduler = SAMPLERS[name]
    if schedule is not None and schedule not in REPRODUCED_SCHEDULES:
        parsed.notes.append(say("a1111.schedule", schedule=repr(schedule), scheduler=parsed.scheduler))


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
        parsed.steps = _as_int("Steps", values["Steps"])
    if "CFG scale" in values:
        parsed.guidance = _as_float("CFG scale", values["CFG scale"])
    if "Seed" in values:
        parsed.seed = _as_int("Seed", values["Seed"])
    if "Size" in values:
        size = RE_IMAGESIZE.match(values["Size"])
        if size is None:
            raise InputError("Size", say("a1111.size"), values["Size"])
        parsed.width, parsed.height = int(size.group(1)), int(size.group(2))
    if "Variation seed" in values:
        parsed.variation_seed = _as_int("Variation seed", values["Variation seed"])
    if "Variation seed strength" in values:
        parsed.variation_strength = _as_float("Variation seed strength", values["Variation seed strength"])
        if parsed.variation_seed is None:
            parsed.ignore("Variation seed strength", say("a1111.no_variation_seed",
                                                         value=values["Variation seed strength"]))
            parsed.variation_strength = None
    if "Model" in values:
        parsed.model = values["Model"]
    if EXPRESSION_KEY in values:
        parsed.expression = values[EXPRESSION_KEY]
    parsed.sampler, parsed.schedule_type = values.get("Sampler"), values.get("Schedule type")
    _sampler(parsed, parsed.sampler, parsed.schedule_type)

    for key, value in values.items():
        if key not in MAPPED:
            parsed.ignore(key, value)
    _notes(parsed, values)
    return parsed


def _notes(parsed: ParsedParameters, values: dict[str, str]) -> None:
    """What in an A1111 picture the explorer does not make the same way (nothing for the explorer's own text)."""
    if _written_by_explorer(parsed, values):
        parsed.by_explorer = True
        return
    if parsed.seed is not None and values.get("RNG", "GPU") != "CPU":
        parsed.notes.append(say("a1111.gpu_seed"))
    if any(key.startswith(HIRES_PREFIX) for key in values):
        parsed.notes.append(say("a1111.hires"))
    if "Clip skip" in values:
        parsed.notes.append(say("a1111.clip_skip", n=values["Clip skip"]))
    if UNREPRODUCED_SYNTAX.search(parsed.prompt) or UNREPRODUCED_SYNTAX.search(parsed.negative_prompt):
        parsed.notes.append(say("a1111.syntax"))


def _written_by_explorer(parsed: ParsedParameters, values: dict[str, str]) -> bool:
    """The explorer's own text (explorer.outputs.png.to_parameters): its Model is a preset, a hub id or a
    folder (A1111 writes a checkpoint's file name, without folders), or it has a Prompt expression."""
    model = parsed.model or ""
    return EXPRESSION_KEY in values or model in PRESETS or "/" in model or "\\" in model
