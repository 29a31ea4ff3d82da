"""What the server returns to the page in the session's language: refusals, status lines, notes, captions, table
headers and cells, figures' texts and progress bars.

The library makes every message a person reads from a key and parameters (explorer.messages: `say`, a `Message` whose
value is its English, so the API, the CLI and the tests read the library's English). The page's wrapper
(explorer.ui.events.wrap_handler) hands each refusal and each output of a German session to a `Catalogue`, which
renders keyed values (a Message, or a Text of messages and plain strings) by their keys and leaves every plain string
as it is (a prompt the user typed, a file name, a concept word); numbers that stand alone (a table's cell, a caption
"0.14", a received value) are written as the language writes them:

    catalogue("de").text(say("generate.done", seed=0, steps=25))   # "Fertig: Seed 0, 25 Schritte."
    catalogue("de").error(InputError("steps", say("checks.int_in", low=1, high=50, note=""), 0), {"steps": "Schritte"})
    # -> "Schritte: erwartet eine ganze Zahl in [1, 50], erhalten 0" (the field as the page labels it)
    catalogue("de").text("a red fox")                               # "a red fox": plain text stays as it is
    catalogue("en").text(anything)                                  # the English

No English sentence is translated by pattern (issue 27): English that reaches a German page unkeyed stays English,
and tests/ui/test_messages.py's source scan finds it. The names of radio choices, table columns, progress units and
the library's field names that a page labels otherwise are keyed too (`keyed_names`: the ui_app.choice.*,
ui_app.header.*, ui_app.unit.* and ui_app.field.* keys of assets/i18n/messages/<lang>/ui_app.json). This module
does not import gradio.
"""
from __future__ import annotations

import functools
import re
from collections.abc import Mapping

from explorer.errors import InputError
from explorer.formats import ENGLISH_NUMBER, localize_numbers, number, separators
from explorer.messages import is_keyed, render, say
from explorer.messages import catalogue as keyed_catalogue

ENGLISH, GERMAN = "en", "de"
_LANGUAGE = re.compile(r"^\s*([A-Za-z]{1,8})(?:-[A-Za-z0-9]{1,8})*\s*(?:;\s*q\s*=\s*([0-9.]+))?\s*$")
_AXES = ("xaxis", "yaxis")                                              # a figure's axes: xaxis, yaxis2 ...


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


class Catalogue:
    """One language's rendering of what the server returns: keyed values by their keys, plain strings as they are
    (English itself: the English of each key)."""

    def __init__(self, lang: str):
        self.lang = lang
        self.choices: dict[str, str] = keyed_names("choice", lang)      # the ui_app.choice.* keys (ui_app.json)
        self.headers: dict[str, str] = keyed_names("header", lang)      # the ui_app.header.* keys
        self.units: dict[str, str] = keyed_names("unit", lang)          # the ui_app.unit.* keys
        self.fields: dict[str, str] = keyed_names("field", lang)        # the ui_app.field.* keys

    @property
    def english(self) -> bool:
        return self.lang == ENGLISH

    # ------------------------------------------------------------ texts
    def text(self, value):
        """A status line or note: a keyed one (a Message, or a Text of messages and plain strings) in this language,
        part by part; a plain string as it is."""
        return render(value, self.lang) if is_keyed(value) else value

    # a progress bar's description ("step 3/25"), what a field takes ("an integer in [1, 50]") and a received value
    # the library describes in words ("12 characters"): keyed ones in this language, anything else as it is
    progress = allowed = received = text

    def label(self, value):
        """A short text shown whole (a caption, a table cell, an example's name): a keyed one in this language, a
        number (a float, or a caption that is one: "0.14") as this language writes it, anything else as it is."""
        if is_keyed(value):
            return render(value, self.lang)
        if self.english:
            return value
        if isinstance(value, float):
            return number(value, self.lang, "")
        if isinstance(value, str) and ENGLISH_NUMBER.fullmatch(value):
            return localize_numbers(value, self.lang)
        return value

    def figure_text(self, value):
        """A figure's fixed text (a title, an axis title, a legend name, a hover template, or a list of them): keyed
        ones in this language; a prompt or a concept word that names a trace stays the user's."""
        if isinstance(value, list):                                         # a hover template per point
            return [self.figure_text(item) for item in value]
        return self.text(value)

    def unit(self, unit: str) -> str:
        """A progress bar's unit ("steps", shown as "12/25 steps"): its ui_app.unit.* name, else as it is."""
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
            elif (key == "legend" or key.startswith(_AXES)) and isinstance(part, dict) and "title" in part:
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

    def header(self, name):
        """A table column's name: a keyed one, or one of the ui_app.header.* names, in this language."""
        if is_keyed(name):
            return render(name, self.lang)
        return name if self.english else self.headers.get(name, name)

    # ------------------------------------------------------------ errors
    def error(self, error: InputError, fields: Mapping[str, str] | None = None) -> str:
        """An InputError's message: the field as the page labels it (else its ui_app.field.* name, e.g. an expression
        typed into the map's query; else its English name in backticks), what it takes, what it got, the hint.
        English: str(error), unchanged."""
        if self.english:
            return str(error)
        fields = fields or {}
        field = fields.get(error.field) or self.fields.get(error.field) or f"`{error.field}`"
        position = getattr(error, "position", None)              # an ExpressionError: its caret lines follow
        received = self.received(error.received)
        received = received if position is not None else repr(received)
        if ENGLISH_NUMBER.fullmatch(received):                          # 99.0 -> 99,0
            received = localize_numbers(received, self.lang)
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
    """The names of one kind ("choice": radio choices, "header": table columns, "unit": progress units, "field": the
    library's field names a page labels otherwise) in `lang`, by their English as the code writes it: the
    ui_app.<kind>.* keys of the keyed catalogues (explorer.messages)."""
    prefix, english, own = f"ui_app.{kind}.", keyed_catalogue(ENGLISH), keyed_catalogue(lang)
    return {name: own.get(key, name) for key, name in english.items() if key.startswith(prefix)}


@functools.lru_cache(maxsize=None)
def catalogue(lang: str) -> Catalogue:
    """The catalogue of a language (made once)."""
    return Catalogue(lang)
