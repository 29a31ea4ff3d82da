"""German and English for the page's static text: gr.I18n tables read from assets/i18n/<lang>.json.

The tabs label their components with `t("common.prompt")`; the front end shows each key's text in the browser's
language (German for de, de-DE, de-AT ...; English for every other language, and for a key a table lacks).
`--lang de|en` shows one language to every browser. Only static text is translated: what handlers return
(status lines, error messages, captions) stays English, and prompts stay in whatever language the user types.

    gr.Textbox(label=t("common.prompt"))
    gr.Slider(info=t("interpolate.frames.info", max_frames=64))     # {max_frames} in both tables
    english(component.label)                                        # "Prompt": error messages name fields in English
"""
from __future__ import annotations

import json
import re

import gradio as gr
from gradio.i18n import I18nData

from explorer.errors import InputError
from explorer.models.presets import ASSETS
from explorer.ui.settings import LANGUAGES

I18N_DIR = ASSETS / "i18n"
ENGLISH = "en"                   # the front end's fallback language, and the language of every message
MARKER = re.compile(r"__i18n__(\{[^}]*\})")     # an I18nData inside a string (how gradio sends it to the page)


def load_table(lang: str) -> dict[str, str]:
    """One language's texts, key -> text; keys starting with "_" are notes for translators, not texts."""
    with open(I18N_DIR / f"{lang}.json", encoding="utf-8") as file:
        table = json.load(file)
    return {key: text for key, text in table.items() if not key.startswith("_")}


TABLES = {lang: load_table(lang) for lang in LANGUAGES}
_FILLED: dict[str, dict[str, str]] = {lang: {} for lang in LANGUAGES}   # "key|name=value" -> text, per language


def t(key: str, **values) -> I18nData:
    """The text under `key`, translated in the browser. `values` fill the text's {name} fields (limits from the
    config): each set of values becomes a key of its own ("key|name=value"), so the page needs no formatting."""
    if key not in TABLES[ENGLISH]:
        raise KeyError(f"{key!r} is not in {I18N_DIR / 'en.json'}")
    if not values:
        return I18nData(key)
    filled = key + "|" + ",".join(f"{name}={values[name]}" for name in sorted(values))
    if "}" in filled or '"' in filled:          # the front end reads the key up to the first "}"
        raise ValueError(f"values of {key!r} may not contain '}}' or '\"': {values}")
    for lang in LANGUAGES:
        _FILLED[lang][filled] = TABLES[lang].get(key, TABLES[ENGLISH][key]).format(**values)
    return I18nData(filled)


def table(lang: str) -> dict[str, str]:
    """Every text of one language: the file's, and those filled with values so far."""
    return {**TABLES[lang], **_FILLED[lang]}


def in_language(value, lang: str) -> str:
    """A label or value as the page shows it in `lang`: an I18nData's text, or a string with its keys replaced."""
    texts = table(lang)
    if isinstance(value, I18nData):
        return texts.get(value.key, value.key)
    def text(found: re.Match) -> str:
        key = json.loads(found.group(1))["key"]
        return texts.get(key, key)

    return MARKER.sub(text, str(value))


def english(value) -> str:
    """The English text of a label or value (field names in error messages are derived from it)."""
    return in_language(value, ENGLISH)


class _Translations(gr.I18n):
    """gr.I18n whose tables are assembled when the page asks for them: texts filled by t(key, **values) while
    the tabs were built are included, however the app was started."""

    def __init__(self, sources: dict[str, str], extra: dict[str, dict[str, str]] | None = None):
        super().__init__()
        self.sources, self.extra = sources, extra or {}        # locale -> the language shown there

    @property
    def translations_dict(self) -> dict[str, dict[str, str]]:
        return {locale: {**table(lang), **self.extra.get(lang, {})} for locale, lang in self.sources.items()}


def build_i18n(lang: str | None = None, extra: dict[str, dict[str, str]] | None = None) -> gr.I18n:
    """launch(i18n=...): lang None follows each browser (German for German browsers, else English); "de" or "en"
    shows that language to every browser. `extra`: more tables by language (e.g. a lesson's texts).

    Forcing works by the front end's own rule: it picks the browser's language when gradio knows it (de, fr, ...)
    or else English, and looks a key up there, then in "en". The forced language's texts under every locale we
    ship and under "en" are therefore what every browser finds first."""
    if lang is None:
        return _Translations({code: code for code in LANGUAGES}, extra)
    if lang not in LANGUAGES:
        raise InputError("lang", f"one of {', '.join(LANGUAGES)}", lang)
    return _Translations({code: lang for code in LANGUAGES}, extra)
