"""Numbers as a language writes them: 20,000 and 0.50 in English, 20.000 and 0,50 in German.

The page's catalogue (explorer.ui.messages) formats the values of a message with these, so a German page shows
German numbers wherever a value is a number (its words are the catalogue's). The same functions will
format the parameters of keyed messages (key + parameters, formatted per locale: issue 27).

    number(20000, "de")                    # "20.000"
    number(0.5, "de", ".2f")               # "0,50"
    localize_numbers("0.50 of 1,025", "de")  # "0,50 of 1.025" (numbers only: the words are the catalogue's)
This module does not import gradio.
"""
from __future__ import annotations

import re

ENGLISH, GERMAN = "en", "de"
PLOTLY_SEPARATORS = {ENGLISH: ".,", GERMAN: ",."}     # plotly's layout.separators: the decimal, then the thousands
# an English number as the library writes it: 20,000  0.50  -3.5  1,025.5 (not inside a word or a file name)
ENGLISH_NUMBER = re.compile(r"(?<![\w.,/])([-+−]?)(\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+\.\d+|\d+)(?![\w/]|[.,]\d)")


def _swap(text: str) -> str:
    """English separators to German: 1,025.5 -> 1.025,5."""
    return text.translate(str.maketrans({",": ".", ".": ","}))


def number(value: float | int, lang: str, spec: str = ",") -> str:
    """`value` formatted with Python's format `spec` ("," thousands, ".2f" ...) in `lang`'s separators."""
    text = format(value, spec)
    return _swap(text) if lang == GERMAN else text


def separators(lang: str) -> str:
    """A figure's number separators in `lang`, as plotly's layout.separators takes them (its ticks: 0,5 and 20.000)."""
    return PLOTLY_SEPARATORS.get(lang, PLOTLY_SEPARATORS[ENGLISH])


def localize_numbers(text: str, lang: str) -> str:
    """Every English number in `text` ("20,000", "0.50", "24.0%") in `lang`'s format; the rest unchanged.
    Whole numbers without separators (seeds, steps, "t = 841") look the same in both languages."""
    if lang != GERMAN or not isinstance(text, str) or not text:
        return text
    return ENGLISH_NUMBER.sub(lambda found: found.group(1) + _swap(found.group(2)), text)
