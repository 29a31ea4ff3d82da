"""German for what the server returns to the page: refusals, status lines, notes, captions and table headers.

The library speaks English (its errors and notes are what the API, the CLI and the tests read). The page's
wrapper (explorer.ui.events.wrap_handler) hands each refusal and each status output of a German session to a
`Catalogue`, which rewrites the English it knows into German from assets/i18n/messages.de.json:

    catalogue("de").text("Done: seed 0, 25 steps.")         # "Fertig: Seed 0, 25 Schritte."
    catalogue("de").error(InputError("steps", "an integer in [1, 50]", 0), {"steps": "Schritte"})
    # -> "Schritte: erwartet eine ganze Zahl in [1, 50], erhalten 0" (the field as the page labels it)
    catalogue("en").text(anything)                           # unchanged: English is the source

A template is the English text with `{name}` where a value goes (`{name:num}` a number, `{name:word}` one
word, `{name:any}` possibly empty); the German template places the same values as they are, or translated:
`{name!t}` as text, `{name!l}` as a label, `{name!a}` as an allowed range, `{name!f}` as a figure's text, `{name!w}`
as a list of words and counts (each word from the `words` section, numbers in this language), `{name!i}` as a list
of labels. A number is written in this language wherever a slot holds one (20,000 -> 20.000, 0.50 -> 0,50). The
sections: `allowed`, `received` and `labels` hold short texts matched whole (the first that matches); `text` holds
sentences and fragments found anywhere in a status line (the longest first, so a sentence goes before the
fragments it contains); `figures` the fixed texts of plotly figures (titles, axis titles, annotations, legend
names, hover templates, whose `%{x}` is plotly's and copied as it is) and `progress` the descriptions of progress
bars, both matched whole. The names of radio choices and table columns are keyed (`keyed_names`: the ui_app.choice.*
and ui_app.header.* keys of assets/i18n/messages/<lang>/ui_app.json). English that no template matches is shown as
it is. This module does not import gradio.
"""
from __future__ import annotations

import functools
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass

from explorer.errors import InputError
from explorer.messages import Message, Text, is_keyed, render, say
from explorer.messages import catalogue as keyed_catalogue
from explorer.formats import ENGLISH_NUMBER, localize_numbers, number, separators
from explorer.models.presets import ASSETS

ENGLISH, GERMAN = "en", "de"
CATALOGUE_DIR = ASSETS / "i18n"
_PLACEHOLDER = re.compile(r"\{\{|\}\}|\{(\w+)(?::(\w+))?\}")             # {name} or {name:kind} in English
_SLOT = re.compile(r"\{\{|\}\}|\{(\w+)(?:!(\w))?\}")                    # {name}, {name!t|l|a|f} in German
_KINDS = {"": r".+?", "any": r".*?", "num": r"[-+−]?\d[\d.,]*(?:e[-+]?\d+)?", "word": r"[\w.+-]+"}
_PLOTLY = re.compile(r"%\{([^{}]*)\}")                                  # plotly's %{x:.3f} in a hover template
_AXIS = re.compile(r"^[xy]axis\d*$")                                     # a figure's axes: xaxis, yaxis2 ...
_WHOLE = ("allowed", "received", "labels", "figures", "progress")        # sections matched whole
_LANGUAGE = re.compile(r"^\s*([A-Za-z]{1,8})(?:-[A-Za-z0-9]{1,8})*\s*(?:;\s*q\s*=\s*([0-9.]+))?\s*$")


def accept_language(header: str | None) -> str:
    """The session's language from an Accept-Language header: German when the browser's first choice (highest q)
    is German (de, de-DE, de-AT ...), English otherwise, as the front end picks its tables."""
    choices = []
    for order, part in enumerate((header or "").split(",")):
        found = _LANGUAGE.match(part)
        if found:
            try:
                weight = float(found.group(2)) if found.group(2) else 1.0
            except ValueError:
                continue
            if weight > 0:                                                  # q=0: "not this one"
                choices.append((-weight, order, found.group(1).lower()))
    if not choices:
        return ENGLISH
    return GERMAN if min(choices)[2] == GERMAN else ENGLISH


def compile_template(english: str, anchored: bool) -> re.Pattern:
    """An English template as a regular expression: literal text, and a named group per {name}."""
    parts, seen, position = [], set(), 0
    for found in _PLACEHOLDER.finditer(english):
        parts.append(re.escape(english[position:found.start()]))
        position = found.end()
        if found.group(0) in ("{{", "}}"):
            parts.append(re.escape(found.group(0)[0]))
            continue
        name, kind = found.group(1), found.group(2) or ""
        if kind not in _KINDS:
            raise ValueError(f"{english!r}: unknown placeholder kind {kind!r} (one of {', '.join(_KINDS)})")
        parts.append(f"(?P={name})" if name in seen else f"(?P<{name}>{_KINDS[kind]})")
        seen.add(name)
    parts.append(re.escape(english[position:]))
    body = "".join(parts)
    return re.compile(rf"^(?:{body})$" if anchored else body)


def _keyed_first(method):
    """A Catalogue method that renders a keyed message (explorer.messages) by its key, and only plain English text
    by the patterns below; in a Text (messages and plain strings joined), each part its own way. The patterns are
    the transition: issue 27 replaces them by keys, site by site."""
    @functools.wraps(method)
    def wrapper(self, value, *args):
        if isinstance(value, Message):
            return value.in_language(self.lang)
        if isinstance(value, Text) and not self.english:
            return "".join(wrapper(self, part, *args) for part in value.parts)
        return method(self, value, *args)
    return wrapper


@dataclass(frozen=True)
class _Entry:
    pattern: re.Pattern
    german: str
    english: str

    @property
    def kinds(self) -> dict[str, str]:
        """Each placeholder's kind ("num", "word", "any" or "") by name."""
        return {found.group(1): found.group(2) or "" for found in _PLACEHOLDER.finditer(self.english) if found.group(1)}


class Catalogue:
    """One language's renderings of the server's English messages (English itself: the identity)."""

    def __init__(self, lang: str, table: dict | None = None):
        self.lang = lang
        table = table or {}
        self.choices: dict[str, str] = keyed_names("choice", lang)      # the ui_app.choice.* keys (ui_app.json)
        self.headers: dict[str, str] = keyed_names("header", lang)      # the ui_app.header.* keys
        self.words: dict[str, str] = {k: v for k, v in table.get("words", {}).items() if not k.startswith("_")}
        self.units: dict[str, str] = {**{k: v for k, v in table.get("units", {}).items() if not k.startswith("_")},
                                      **keyed_names("unit", lang)}     # the ui_app.unit.* keys
        self.fields: dict[str, str] = {k: v for k, v in table.get("fields", {}).items() if not k.startswith("_")}
        self.sections = {name: [_Entry(compile_template(english, name != "text"), german, english)
                                for english, german in _entries(table.get(name, {}), plotly=name == "figures")]
                         for name in (*_WHOLE, "text")}
        # sentences before the fragments they contain ("' for " inside "Added 'x' for you ..."): longest first
        self.sections["text"].sort(key=lambda entry: -len(_PLACEHOLDER.sub("", entry.english)))
        for name in self.sections:                                    # every German slot names an English value
            for entry in self.sections[name]:
                names = set(entry.pattern.groupindex)
                for slot in _SLOT.finditer(entry.german):
                    if slot.group(1) and slot.group(1) not in names:
                        raise ValueError(f"{entry.english!r}: the German text uses {{{slot.group(1)}}}, "
                                         "which the English does not have")

    @property
    def english(self) -> bool:
        return self.lang == ENGLISH

    # ------------------------------------------------------------ texts
    def _fill(self, entry: _Entry, found: re.Match) -> str:
        kinds = entry.kinds

        def slot(match: re.Match) -> str:
            if match.group(0) in ("{{", "}}"):
                return match.group(0)[0]
            value = found.group(match.group(1)) or ""
            convert = {"t": self.text, "l": self.label, "a": self.allowed, "f": self.figure_text,
                       "w": self.word_list, "i": self.items}.get(match.group(2))
            if convert:
                return convert(value)
            if kinds.get(match.group(1)) == "word":                    # a code word: a choice's name if it is one
                return self.choices.get(value, value)
            return self.number(value)                          # its numbers in this language (20,000 -> 20.000)

        return _SLOT.sub(slot, entry.german)

    def _whole(self, section: str, value: str) -> str | None:
        for entry in self.sections[section]:
            found = entry.pattern.match(value)
            if found:
                return self._fill(entry, found)
        return None

    def number(self, value: str) -> str:
        """An English number ("20,000", "0.50") as this language writes it ("20.000", "0,50")."""
        return localize_numbers(value, self.lang)

    @_keyed_first
    def word_list(self, value: str) -> str:
        """A list the library built from words and counts ("1,025 squares, 300 circles", "red and blue", "none"):
        each word and number in this language, the joints too."""
        if self.english or not isinstance(value, str) or not value:
            return value
        if value in self.words:
            return self.words[value]
        parts = re.split(r"(, | and |\s+)", value)
        joints = {" and ": " " + self.words.get("and", "and") + " "}
        return "".join(joints.get(part, part) if not part.strip() or part in (", ", " and ") else
                       self.number(part) if ENGLISH_NUMBER.fullmatch(part) else self.words.get(part, part)
                       for part in parts)

    @_keyed_first
    def items(self, value: str) -> str:
        """A comma-separated list of labels ("red, padding (68 tokens)"): each item as `label` shows it (a prompt's
        words stay as they are)."""
        if self.english or not isinstance(value, str) or not value:
            return value
        return ", ".join(self.label(item) for item in value.split(", "))

    @_keyed_first
    def text(self, value: str) -> str:
        """A status line or note: every known English sentence in it replaced by its German."""
        if self.english or not isinstance(value, str) or not value:
            return value
        for entry in self.sections["text"]:
            if entry.pattern.search(value):
                value = entry.pattern.sub(lambda found, entry=entry: self._fill(entry, found), value)
        return value

    @_keyed_first
    def label(self, value: str) -> str:
        """A short text shown whole (a caption, a table cell, an example's name): its German, else as it is. A
        number (a table's cell) in this language's format, as text."""
        if self.english:
            return value
        if isinstance(value, float):
            return number(value, self.lang, "")
        if not isinstance(value, str) or not value:
            return value
        if ENGLISH_NUMBER.fullmatch(value):                                 # a caption that is a number ("0.14")
            return self.number(value)
        return self._whole("labels", value) or value

    @_keyed_first
    def figure_text(self, value):
        """A figure's fixed text shown whole (a title, an axis title, a legend name, a hover template): its German,
        else as it is (a prompt or a concept word that names a trace stays the user's)."""
        if self.english or not value:
            return value
        if isinstance(value, list):                                         # a hover template per point
            return [self.figure_text(item) for item in value]
        if not isinstance(value, str):
            return value
        return self._whole("figures", value) or self._whole("labels", value) or value     # labels: a category

    @_keyed_first
    def progress(self, desc):
        """A progress bar's description ("step 3/25"): its German, else as it is."""
        if self.english or not isinstance(desc, str) or not desc:
            return desc
        return self._whole("progress", desc) or desc

    def unit(self, unit: str) -> str:
        """A progress bar's unit ("steps", shown as "12/25 steps"): its German, else as it is."""
        return unit if self.english else self.units.get(unit, unit)

    def figure(self, spec: dict) -> dict:
        """A plotly figure as a dict (Figure.to_plotly_json(), or its JSON parsed) with its fixed texts in this
        language: the title, axis and legend titles, annotations (subplot titles, marked lines), and each trace's
        legend name and hover template, and its numbers (ticks, hover values) with this language's separators.
        Data stays as it is: points' text, custom data. A new dict (English: `spec` itself)."""
        if self.english or not isinstance(spec, dict):
            return spec
        layout = dict(spec.get("layout") or {})
        layout["separators"] = separators(self.lang)                       # tick labels: 0,5 and 20.000
        for key, part in layout.items():
            if key == "title":
                layout[key] = self._title(part)
            elif (key == "legend" or _AXIS.match(key)) and isinstance(part, dict) and "title" in part:
                layout[key] = {**part, "title": self._title(part["title"])}
        if isinstance(layout.get("annotations"), list):
            layout["annotations"] = [{**note, "text": self.figure_text(note["text"])} if isinstance(note, dict)
                                     and "text" in note else note for note in layout["annotations"]]
        data = [{**trace, **{key: self.figure_text(trace[key]) for key in ("name", "hovertemplate") if key in trace}}
                if isinstance(trace, dict) else trace for trace in spec.get("data") or []]
        return {**spec, "data": data, "layout": layout}

    def _title(self, title):
        """A figure's or an axis's title ({"text": ...}, or the text itself) in this language."""
        return {**title, "text": self.figure_text(title.get("text"))} if isinstance(title, dict) else \
            self.figure_text(title)

    def choice(self, name: str) -> str:
        return name if self.english else self.choices.get(name, name)

    @_keyed_first
    def header(self, name: str) -> str:
        return name if self.english else self.headers.get(name, name)

    # ------------------------------------------------------------ errors
    @_keyed_first
    def allowed(self, value: str) -> str:
        """What a field takes, as an error message says it ("an integer in [1, 50]")."""
        if self.english:
            return value
        return self._whole("allowed", value) or self.text(value)

    @_keyed_first
    def received(self, value) -> object:
        """A received value that the library describes in words ("12 characters") in German; others unchanged."""
        if self.english or not isinstance(value, str):
            return value
        return self._whole("received", value) or value

    def error(self, error: InputError, fields: Mapping[str, str] | None = None) -> str:
        """An InputError's message: the field as the page labels it (else as the catalogue names the library's
        field, e.g. an expression typed into the map's query; else its English name in backticks), what it takes,
        what it got, the hint. English: str(error), unchanged."""
        if self.english:
            return str(error)
        fields = fields or {}
        field = fields.get(error.field) or self.fields.get(error.field) or f"`{error.field}`"
        position = getattr(error, "position", None)              # an ExpressionError: its caret lines follow
        received = self.received(error.received)
        received = received if position is not None else repr(received)
        if ENGLISH_NUMBER.fullmatch(received):                          # 99.0 -> 99,0
            received = self.number(received)
        values = dict(field=field, allowed=self.allowed(error.allowed), received=received)
        message = say("error.expected", **values) if position is None else \
            say("error.expected_at", position=position, **values)
        if error.hint:
            message += say("error.hint", hint=self.text(error.hint))
        message = render(message, self.lang)
        if position is not None and "\n" in str(error):
            message += "\n" + str(error).split("\n", 1)[1]
        return message

    def message(self, error: BaseException, fields: Mapping[str, str] | None = None) -> str:
        """Any refused request's message: an InputError (or the gr.Error raised from one) by its parts, else the
        text (a model that failed to load, "Something went wrong (...)")."""
        source = error if isinstance(error, InputError) else error.__cause__
        if isinstance(source, InputError):
            return self.error(source, fields)
        text = getattr(error, "message", None) or str(error)
        for origin in (error, error.__cause__):             # a keyed message (a ModelLoadError's) by its key
            first = origin.args[0] if origin is not None and origin.args else None
            if is_keyed(first) and first == text:
                return self.text(first)
        return self.text(text)

    def refusal(self, text: str) -> str:
        """The status line of a refused request (the message already in this language)."""
        if "\n" in text:
            first, rest = text.split("\n", 1)
            return render(say("error.refusal_block", first=first, rest=rest), self.lang)
        return render(say("error.refusal", message=text), self.lang)


def keyed_names(kind: str, lang: str) -> dict[str, str]:
    """The names of one kind ("choice": radio choices, "header": table columns) in `lang`, by their English as the code
    writes it: the ui_app.<kind>.* keys of the keyed catalogues (explorer.messages)."""
    prefix, english, own = f"ui_app.{kind}.", keyed_catalogue(ENGLISH), keyed_catalogue(lang)
    return {name: own.get(key, name) for key, name in english.items() if key.startswith(prefix)}


def _entries(section: dict, plotly: bool) -> list[tuple[str, str]]:
    """A section's (English, German) templates, notes left out; `plotly`: plotly's %{x} in them kept literal."""
    def literal(text: str) -> str:
        return _PLOTLY.sub(lambda found: "%{{" + found.group(1) + "}}", text) if plotly else text

    return [(literal(english), literal(german)) for english, german in section.items() if not english.startswith("_")]


@functools.lru_cache(maxsize=None)
def catalogue(lang: str) -> Catalogue:
    """The catalogue of a language: English is the identity, German is read from messages.de.json once."""
    if lang == ENGLISH:
        return Catalogue(ENGLISH)
    with open(CATALOGUE_DIR / f"messages.{lang}.json", encoding="utf-8") as file:
        return Catalogue(lang, json.load(file))
