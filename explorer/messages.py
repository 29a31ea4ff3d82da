"""Keyed messages: what the library says to a person is made from a key and parameters, rendered per language.

A `Message` is a `str` whose value is its English text, so the API, the CLI, logs and every caller that treats it
as text read exactly what they always read; it also keeps its key and parameters, so a page in another language
renders it from that language's catalogue (gettext's and Babel's way: translate keys, never finished English).
Numbers are formatted by each language (20,000 / 20.000; 0.50 / 0,50) and word lists joined by it ("red and
blue" / "Rot und Blau"). Joining messages with `+` keeps the parts (a `Text`), so a status line built from several
sentences renders sentence by sentence:

    note = say("walk.done", kind="prompt walk", n=8, batch=4)        # "Done: prompt walk, 8 frames ..."
    note += " " + say("walk.saved")                                  # a Text of three parts
    render(note, "de")                                               # "Fertig: ..., 8 Bilder ... "
    str(InputError("steps", say("allowed.int_in", low=1, high=50), 0))   # English, as before

Catalogues: assets/i18n/messages/<lang>/<area>.json, each a flat {key: template}; the areas of one language are
merged (a key lives in one area). A template is Python's format syntax over named parameters with a format spec
where the English has one (`{n:,}`, `{x:.2f}`: each language writes the number with its own separators) and a
conversion where a value is itself text: `{x!w}` a model word or a word list ("red", "red and blue", "3 circles,
1 square": each word from the `word.` keys, joints and numbers in the language), `{x!l}` a list parameter joined as
the language joins lists ("a, b and c"), `{x!s}`/`{x!r}` as Python's. A parameter that is a Message or a Text is
rendered in the same language; any other string (a prompt, a file name) is shown as it is.

English is the source: a key missing from the English catalogue is an error when the message is made (a typo fails
the first test that reaches it); a key missing from another language falls back to English (the catalogue test
lists them). This module does not import gradio.
"""
from __future__ import annotations

import functools
import json
import string
from collections.abc import Mapping, Sequence

from explorer.config import ASSETS
from explorer.formats import ENGLISH, GERMAN, localize_numbers, number

LANGUAGES = (ENGLISH, GERMAN)
MESSAGES_DIR = ASSETS / "i18n" / "messages"
WORD_PREFIX = "word."                    # a model word's key: word.red, word.circles, word.and, word.none


@functools.lru_cache(maxsize=None)
def catalogue(lang: str) -> Mapping[str, str]:
    """Every template of one language: the files of assets/i18n/messages/<lang>/ merged (read once)."""
    folder = MESSAGES_DIR / lang
    merged: dict[str, str] = {}
    for path in sorted(folder.glob("*.json")):
        with open(path, encoding="utf-8") as file:
            table = json.load(file)
        for key, template in table.items():
            if key.startswith("_"):                                  # notes for translators
                continue
            if key in merged:
                raise ValueError(f"{path}: key {key!r} is defined in two areas of {folder}")
            merged[key] = template
    return merged


class _Formatter(string.Formatter):
    """str.format with a language: numbers in its separators, Messages and word lists in its words."""

    def __init__(self, lang: str):
        super().__init__()
        self.lang = lang

    def format_field(self, value, format_spec: str) -> str:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return number(value, self.lang, format_spec)
        if isinstance(value, (Message, Text)):
            value = value.in_language(self.lang)
        return format(value, format_spec)

    def convert_field(self, value, conversion):
        if conversion == "w":
            return words(value, self.lang)
        if conversion == "l":
            return join_list(value, self.lang)
        return super().convert_field(value, conversion)


def fill(template: str, params: Mapping, lang: str) -> str:
    """A template filled with `params` in `lang` (numbers, nested messages and word lists in that language)."""
    return _Formatter(lang).vformat(template, (), params)


def template(key: str, lang: str) -> str:
    """The template of `key` in `lang`, English where that language lacks it."""
    english = catalogue(ENGLISH)
    if key not in english:
        raise KeyError(f"message key {key!r} is not in {MESSAGES_DIR / ENGLISH}")
    return catalogue(lang).get(key, english[key]) if lang != ENGLISH else english[key]


class Message(str):
    """A message: its English text as the string's value; `key` and `params` render it in another language."""

    def __new__(cls, key: str, /, **params):
        self = super().__new__(cls, fill(template(key, ENGLISH), params, ENGLISH))
        self.key, self.params = key, params
        return self

    def in_language(self, lang: str) -> str:
        return str.__str__(self) if lang == ENGLISH else fill(template(self.key, lang), self.params, lang)

    def __reduce__(self):                           # copy.deepcopy (plotly copies figures), pickle
        return (_message, (self.key, self.params))

    def __add__(self, other):
        return Text((self, other)) if isinstance(other, str) else NotImplemented

    def __radd__(self, other):
        return Text((other, self)) if isinstance(other, str) else NotImplemented

    def __repr__(self) -> str:                     # as the English string's: "received 'x'" in an error stays as it was
        return str.__repr__(self)


def _message(key: str, params: dict) -> Message:
    return Message(key, **params)


class Text(str):
    """Messages and plain strings joined: the English as its value, each part rendered on its own in a language."""

    def __new__(cls, parts: Sequence[str]):
        flat: list[str] = []
        for part in parts:
            flat.extend(part.parts if isinstance(part, Text) else [part])
        self = super().__new__(cls, "".join(str.__str__(p) for p in flat))
        self.parts = tuple(flat)
        return self

    def in_language(self, lang: str) -> str:
        return "".join(render(part, lang) for part in self.parts)

    def __reduce__(self):
        return (Text, (self.parts,))

    def __add__(self, other):
        return Text((self, other)) if isinstance(other, str) else NotImplemented

    def __radd__(self, other):
        return Text((other, self)) if isinstance(other, str) else NotImplemented

    def __repr__(self) -> str:
        return str.__repr__(self)


def say(key: str, /, **params) -> Message:
    """The message under `key` with `params` (its English now; any language later, by `render`)."""
    return Message(key, **params)


def joined(separator: str, parts: Sequence[str]) -> str:
    """separator.join(parts) keeping messages keyed (a Text), e.g. several notes joined by a space."""
    out: list[str] = []
    for i, part in enumerate(parts):
        if i:
            out.append(separator)
        out.append(part)
    return Text(out) if any(isinstance(p, (Message, Text)) for p in parts) else separator.join(parts)


def render(value, lang: str):
    """A value as a person reading `lang` sees it: a Message or Text in that language; strings, numbers and other
    values unchanged; lists, tuples and dicts (a figure's JSON, a table) rendered inside."""
    if isinstance(value, (Message, Text)):
        return value.in_language(lang)
    if lang == ENGLISH or isinstance(value, str):
        return value
    if isinstance(value, dict):
        return {key: render(item, lang) for key, item in value.items()}
    if isinstance(value, list):
        return [render(item, lang) for item in value]
    if isinstance(value, tuple):
        return tuple(render(item, lang) for item in value)
    return value


def is_keyed(value) -> bool:
    return isinstance(value, (Message, Text))


# --------------------------------------------------------------------------- words and lists
def word(value: str, lang: str) -> str:
    """One model word ("red", "circles", "none") in `lang` (as it is where the catalogue has no such word)."""
    if lang == ENGLISH:
        return value
    return catalogue(lang).get(WORD_PREFIX + value, value)


def words(value, lang: str) -> str:
    """A word or a list the library built from words and counts ("red and blue", "1,025 squares, 300 circles",
    "none") in `lang`: each word, each number and the joints ("and") in that language."""
    if isinstance(value, (Message, Text)):
        return value.in_language(lang)
    if not isinstance(value, str) or lang == ENGLISH or not value:
        return str(value)
    out = []
    for piece in _pieces(value):
        if piece in (", ", " "):
            out.append(piece)
        elif piece == " and ":
            out.append(f" {word('and', lang)} ")
        else:
            out.append(word(piece, lang) if (WORD_PREFIX + piece) in catalogue(lang) else localize_numbers(piece, lang))
    return "".join(out)


def _pieces(text: str) -> list[str]:
    """'3 circles and 1 square' -> ['3', ' ', 'circles', ' and ', '1', ' ', 'square'] (joints kept)."""
    pieces, rest = [], text
    while rest:
        cut = min((i for i in (rest.find(", "), rest.find(" and "), rest.find(" ")) if i >= 0), default=-1)
        if cut < 0:
            pieces.append(rest)
            break
        joint = ", " if rest.startswith(", ", cut) else " and " if rest.startswith(" and ", cut) else " "
        if cut:
            pieces.append(rest[:cut])
        pieces.append(joint)
        rest = rest[cut + len(joint):]
    return pieces


def join_list(items, lang: str) -> str:
    """A list as `lang` joins it: "a", "a and b", "a, b and c" (German "und"); items that are messages rendered,
    model words translated. A string is taken as one item."""
    if isinstance(items, str):
        items = [items]
    shown = [words(item, lang) if isinstance(item, str) else number(item, lang, "") if isinstance(item, (int, float))
             else str(item) for item in items]
    if len(shown) <= 1:
        return "".join(shown)
    return f"{', '.join(shown[:-1])} {word('and', lang) if lang != ENGLISH else 'and'} {shown[-1]}"
