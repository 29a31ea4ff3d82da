"""Lesson chapters from data files (assets/lessons/<lang>.json): what to read out, what to show, what to ask.

A chapter names a *view* of the app (generate, forward, tokens, arithmetic, blend, interpolate, search, probe, map)
and the *fields* to fill before running it. Field values may name the loaded model's own examples in braces
(`{prompt}`, `{expression}`, `{blend_a}`, `{probe}` ... see `example_values`), so one chapter works on every
model family; `families` overrides fields per family (the examples' key: stable-diffusion, sdxl, miniworld);
`only` lists the families a chapter runs on (none: every family), and its `only_note` says so on the others;
`texts` gives a family its own `read` and `question` (miniworld: what the class sees in its shapes, bridged to the
literature's example), the chapter's own texts being the literature's (Stable Diffusion, SDXL).
A teacher edits or adds a chapter by editing the JSON file; `load_lesson` checks it and names what is wrong.

    lesson = load_lesson("de")
    values = lesson.chapters[0].values(examples_for(model), model.adapter.examples)
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field, fields
from pathlib import Path

from explorer.errors import InputError
from explorer.messages import say
from explorer.models.examples import Examples
from explorer.models.presets import ASSETS

LESSONS_DIR = ASSETS / "lessons"
LANGUAGES = ("en", "de")
VIEWS = {                         # view -> the fields a chapter may set (the view's inputs by name)
    "generate": {"prompt", "negative", "seed", "steps", "guidance", "width", "height", "scheduler"},
    "forward": {"image", "levels"},
    "tokens": {"prompt"},
    "arithmetic": {"expression", "seed", "steps"},
    "blend": {"a", "b", "seed", "steps"},
    "interpolate": {"prompts", "seeds", "frames"},
    "search": {"query", "seeds"},
    "probe": {"prompts", "attributes", "seeds"},
    "map": {"query", "k"},
    "lens": {"prompt", "seed"},
    "features": {"block", "feature"},
    "invert": {"image", "prompt", "edit_prompt", "steps", "guidance", "method"},
}
FAMILY_KEYS = ("stable-diffusion", "sdxl", "miniworld")   # the examples keys a chapter's texts may be for
MAKE_IMAGE = "@generated"         # forward's image: a picture made from the model's own example prompt


@dataclass(frozen=True)
class Chapter:
    id: str
    title: str
    read: str                     # one or two sentences to read out
    question: str                 # for the class
    view: str                     # a key of VIEWS
    show: dict                    # field -> value (may name examples in braces)
    families: dict = field(default_factory=dict)   # examples key -> {field: value} overrides
    only: tuple[str, ...] = ()    # the families (examples keys) it runs on; () every family
    only_note: str = ""           # shown instead of running where it does not: which model it needs and why
    texts: dict = field(default_factory=dict)      # examples key -> {"read": ..., "question": ...} for that family

    def runs_on(self, family: str) -> bool:
        return not self.only or family in self.only

    def read_for(self, family: str) -> str:
        """What to read out on the loaded model's family (its own text where the chapter has one)."""
        return self.texts.get(family, {}).get("read", self.read)

    def question_for(self, family: str) -> str:
        return self.texts.get(family, {}).get("question", self.question)

    def text_key(self, part: str, family: str) -> str:
        """The translation key of `part` ("read", "question") on a family: lesson.<id>.<family>.<part> where the
        chapter has its own text for that family, else lesson.<id>.<part>."""
        own = part in self.texts.get(family, {})
        return f"lesson.{self.id}.{family}.{part}" if own else f"lesson.{self.id}.{part}"

    def values(self, examples: Examples, family: str) -> dict:
        """The fields to set for the loaded model: the family's overrides over the chapter's, examples filled in."""
        names = example_values(examples)
        merged = {**self.show, **self.families.get(family, {})}
        return {name: value.format_map(names) if isinstance(value, str) and value != MAKE_IMAGE else value
                for name, value in merged.items()}


@dataclass(frozen=True)
class Lesson:
    lang: str
    title: str
    intro: str
    show_label: str               # the "show me" button's text
    question_label: str
    random_note: str              # said on a model with random weights
    chapters: tuple[Chapter, ...]


def example_values(examples: Examples) -> dict[str, str]:
    """The examples a chapter may name: every text field of Examples (tuples one per line), blend's A and B,
    the poles, and the first literature figure's prompt where the model has one."""
    values = {}
    for f in fields(Examples):
        value = getattr(examples, f.name)
        if isinstance(value, str):
            values[f.name] = value
        elif f.name != "figures":
            values[f.name] = "\n".join(value)
    values.update(blend_a=examples.blend[0], blend_b=examples.blend[1], walk_a=examples.walk[0],
                  walk_b=examples.walk[1])
    values["figure_prompt"] = examples.figures[0].prompt if examples.figures else examples.prompt
    return values


def load_lesson(lang: str = "en", folder: Path | str | None = None) -> Lesson:
    """The lesson in one language from <folder>/<lang>.json, checked: every chapter has its texts, a known view
    and only that view's fields."""
    if lang not in LANGUAGES:
        raise InputError("lang", say("concepts.allowed.one_of", choices=", ".join(LANGUAGES)), lang)
    path = Path(folder or LESSONS_DIR) / f"{lang}.json"
    data = json.loads(path.read_text(encoding="utf-8"))
    chapters = tuple(_chapter(raw, i, path.name) for i, raw in enumerate(data.get("chapters", [])))
    if not chapters:
        raise InputError(f"{path.name}: chapters", say("lesson.check.some_chapter"), 0)
    ids = [c.id for c in chapters]
    if len(set(ids)) != len(ids):
        raise InputError(f"{path.name}: chapters", say("lesson.check.distinct_ids"), ids)
    return Lesson(lang, data["title"], data["intro"], data["show_label"], data["question_label"],
                  data["random_note"], chapters)


def _chapter(raw: dict, index: int, source: str) -> Chapter:
    where = f"{source}: chapter {index + 1}"
    missing = [key for key in ("id", "title", "read", "question", "view", "show") if key not in raw]
    if missing:
        raise InputError(where, say("lesson.check.keys"), say("lesson.check.missing", keys=", ".join(missing)))
    if raw["view"] not in VIEWS:
        raise InputError(f"{where}: view", say("concepts.allowed.one_of", choices=", ".join(VIEWS)), raw["view"])
    allowed = VIEWS[raw["view"]]
    for overrides in [raw["show"], *raw.get("families", {}).values()]:
        unknown = sorted(set(overrides) - allowed)
        if unknown:
            raise InputError(f"{where}: show", say("lesson.check.view_fields", view=raw["view"],
                                                   fields=", ".join(sorted(allowed))), unknown)
    only = raw.get("only", [])
    if not isinstance(only, list) or not all(isinstance(f, str) for f in only):
        raise InputError(f"{where}: only", say("lesson.check.families"), only)
    if only and not raw.get("only_note"):
        raise InputError(f"{where}: only_note", say("lesson.check.only_note"), "nothing")
    texts = raw.get("texts", {})
    for family, text in (texts.items() if isinstance(texts, dict) else [("", texts)]):
        if family not in FAMILY_KEYS or not isinstance(text, dict) or not text or \
                not set(text) <= {"read", "question"} or not all(isinstance(v, str) and v for v in text.values()):
            raise InputError(f"{where}: texts", say("lesson.check.texts", families=", ".join(FAMILY_KEYS)),
                             {family: text} if family else texts)
    return Chapter(raw["id"], raw["title"], raw["read"], raw["question"], raw["view"], dict(raw["show"]),
                   dict(raw.get("families", {})), tuple(only), raw.get("only_note", ""), dict(texts))
