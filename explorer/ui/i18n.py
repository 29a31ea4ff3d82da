"""The page's language, German or English: static text through gr.I18n, what the server returns through a catalogue.

Static text (labels, info lines, buttons, explanations) comes from gr.I18n tables read from assets/i18n/<lang>.json:
the tabs label their components with `t("common.prompt")`, and the front end shows each key's text in the
browser's language (German for de, de-DE, de-AT ...; English for every other language, and for a key a table
lacks). `--lang de|en` shows one language to every browser.

What handlers return cannot go through gr.I18n: status lines, notes, refusals, gallery captions, table headers
and cells, figures' titles and legends, progress-bar descriptions. A page event's handler is wrapped
(explorer.ui.events.wrap_handler) so that for a German session (`page_language`: --lang, else
the request's Accept-Language header) those outputs pass through the message catalogue (explorer.ui.messages:
keyed messages by their keys, plain strings as they are) on their way to the page; `localize` does the same at
each page load for what is built from code (radio choice names, table headers, example captions, the loaded
model's description). The library stays English, and so does the API: an endpoint's results and errors
(gradio_client, HTTP) are the library's own words, whatever the caller's language. Prompts stay in whatever language the user types.

    gr.Textbox(label=t("common.prompt"))
    gr.Slider(info=t("interpolate.frames.info", max_frames=64))     # {max_frames} in both tables
    english(component.label)                                        # "Prompt": field names come from English labels
    page_language(request, config.lang)                             # "de" or "en" for one request
"""
from __future__ import annotations

import json
import re
from typing import Callable

import gradio as gr

from explorer.errors import InputError
from explorer.messages import render, say
from explorer.models.presets import ASSETS
from explorer.ui.gradio_compat import I18nData, LiveI18n, blocks_of
from explorer.ui.messages import Catalogue, accept_language, catalogue
from explorer.ui.settings import LANGUAGES

I18N_DIR = ASSETS / "i18n"
ENGLISH = "en"                   # the front end's fallback language, the library's and the API's
MARKER = re.compile(r"__i18n__(\{[^}]*\})")     # an I18nData inside a string (how gradio sends it to the page)


def load_table(lang: str) -> dict[str, str]:
    """One language's texts, key -> text; keys starting with "_" are notes for translators, not texts."""
    with open(I18N_DIR / f"{lang}.json", encoding="utf-8") as file:
        table = json.load(file)
    return {key: text for key, text in table.items() if not key.startswith("_")}


TABLES = {lang: load_table(lang) for lang in LANGUAGES}
FILLED = "|"                                     # "key|name=value,name=value": a text filled with values


def t(key: str, **values) -> I18nData:
    """The text under `key`, translated in the browser. `values` fill the text's {name} fields (limits from the
    config): each set of values becomes a key of its own ("key|name=value") that carries them, so the page needs
    no formatting and no registry: the app's tables (`filled_tables`) find these keys on its blocks."""
    if key not in TABLES[ENGLISH]:
        raise KeyError(f"{key!r} is not in {I18N_DIR / 'en.json'}")
    if not values:
        return I18nData(key)
    filled = key + FILLED + ",".join(f"{name}={values[name]}" for name in sorted(values))
    if any(mark in str(value) for value in values.values() for mark in '}",=|'):   # the front end reads the key
        raise ValueError(f"values of {key!r} may not contain '}}', '\"', ',', '=' or '|': {values}")   # up to "}"
    return I18nData(filled)


def text_of(key: str, lang: str) -> str | None:
    """A key's text in `lang` (English where the language lacks it): a filled key's with its values in place;
    None for a key no table has."""
    name, _, filled = key.partition(FILLED)
    template = TABLES[lang].get(name, TABLES[ENGLISH].get(name))
    if template is None or not filled:
        return template
    return template.format(**dict(part.split("=", 1) for part in filled.split(",")))


def filled_tables(blocks) -> dict[str, dict[str, str]]:
    """The filled keys (t(key, **values)) that an app's blocks show, with their texts in every language: the tables
    gr.I18n sends to the page besides the files' (language -> key -> text). `blocks`: the app's blocks."""
    keys = sorted({key for block in blocks for value in vars(block).values() for key in _keys_in(value)
                   if FILLED in key})
    return {lang: {key: text_of(key, lang) for key in keys if text_of(key, lang) is not None} for lang in LANGUAGES}


def _keys_in(value, depth: int = 0):
    """The i18n keys in one of a block's properties: an I18nData, keys inside a string (how gradio sends them),
    or in a list, tuple or dict of such (a radio's choices)."""
    if isinstance(value, I18nData):
        yield value.key
    elif isinstance(value, str):
        for found in MARKER.finditer(value):
            yield json.loads(found.group(1))["key"]
    elif isinstance(value, (list, tuple)) and depth < 3:
        for item in value:
            yield from _keys_in(item, depth + 1)
    elif isinstance(value, dict) and depth < 3:
        for item in value.values():
            yield from _keys_in(item, depth + 1)


def in_language(value, lang: str) -> str:
    """A label or value as the page shows it in `lang`: an I18nData's text, or a string with its keys replaced."""
    if isinstance(value, I18nData):
        return text_of(value.key, lang) or value.key

    def text(found: re.Match) -> str:
        key = json.loads(found.group(1))["key"]
        return text_of(key, lang) or key

    return MARKER.sub(text, str(value))


def english(value) -> str:
    """The English text of a label or value (field names in error messages are derived from it)."""
    return in_language(value, ENGLISH)


class _Translations(LiveI18n):
    """gr.I18n whose tables are assembled when the page asks for them: the files' texts, and `extra` (the app's
    own: its filled texts, the lesson's)."""

    def __init__(self, sources: dict[str, str], extra: dict[str, dict[str, str]] | None = None,
                 forced: str | None = None):
        super().__init__()
        self.sources, self.extra = sources, extra or {}        # locale -> the language shown there
        self.forced = forced                                    # --lang: every page's language (None: the browser's)

    def tables(self) -> dict[str, dict[str, str]]:
        return {locale: {**TABLES[lang], **self.extra.get(lang, {})} for locale, lang in self.sources.items()}


def build_i18n(lang: str | None = None, extra: dict[str, dict[str, str]] | None = None) -> gr.I18n:
    """launch(i18n=...): lang None follows each browser (German for German browsers, else English); "de" or "en"
    shows that language to every browser. `extra`: more tables by language (e.g. a lesson's texts).

    Forcing works by the front end's own rule: it picks the browser's language when gradio knows it (de, fr, ...)
    or else English, and looks a key up there, then in "en". The forced language's texts under every locale we
    ship and under "en" are therefore what every browser finds first."""
    if lang is None:
        return _Translations({code: code for code in LANGUAGES}, extra)
    if lang not in LANGUAGES:
        raise InputError("lang", say("ui_app.allowed.one_of", choices=", ".join(LANGUAGES)), lang)
    return _Translations({code: lang for code in LANGUAGES}, extra, forced=lang)


# --------------------------------------------------------------------------- what the server returns
def page_language(request, forced: str | None = None) -> str:
    """The language of one request's page: `forced` (--lang) when set, else the browser's (its Accept-Language
    header: German for de, de-DE, de-AT ..., English otherwise)."""
    if forced:
        return forced
    headers = getattr(request, "headers", None) or {}
    return accept_language(headers.get("accept-language"))


def label_in(label, lang: str) -> str:
    """A field's label as a message names it in `lang`: up to " (" or ":" ("Seeds (ganze Zahlen)" -> "Seeds")."""
    return in_language(label, lang).split(" (")[0].split(":")[0].strip()


def shown(value, kind: str | None, words: Catalogue):
    """One output value as a session sees it: a status line or note (Markdown), captions (Gallery), table headers
    and cells (Dataframe), a figure's titles, legend and hover texts (a Plot's figure, or the concept map's figure
    JSON in its HTML, made again from the figure it keeps: explorer.ui.map_tab.FigureJSON) in `words`' language;
    every other value, and every English session's, unchanged."""
    if words.english or kind is None or value is None:
        return value
    if isinstance(value, dict) and value.get("__type__") == "update":      # gr.update / gr.skip
        inner = value.get("value")
        value = {**value, "value": shown(inner, kind, words)} if inner is not None else value
        if isinstance(value.get("choices"), list):                          # a dropdown's (label, value) choices
            value["choices"] = [(words.label(c[0]), c[1]) if isinstance(c, tuple) and len(c) == 2 else c
                                for c in value["choices"]]
        return value
    if kind == "Plot" and hasattr(value, "to_plotly_json"):                # a plotly Figure (a copy is shown)
        return type(value)(words.figure(value.to_plotly_json()))
    if kind == "HTML" and hasattr(getattr(value, "figure", None), "to_plotly_json"):     # a figure's JSON, keyed
        return shown(value.figure, "Plot", words).to_json()
    if kind == "Markdown" and isinstance(value, str):
        return words.text(value)
    if kind == "Gallery" and isinstance(value, list):
        return [(item[0], words.label(item[1])) if isinstance(item, tuple) and len(item) == 2
                and isinstance(item[1], str) else item for item in value]
    if kind == "Dataframe" and isinstance(value, dict) and "data" in value:
        return {**value, "headers": [words.header(h) for h in value.get("headers") or []],
                "data": [[words.label(c) for c in row] for row in value["data"]]}
    return value


class SessionProgress:
    """A handler's gr.Progress whose descriptions ("step 3/25") and units ("12/25 steps") a session reads in its
    language. Only the page's handlers get one (explorer.ui.events.wrap_handler): an API client's progress stays the
    library's English."""

    def __init__(self, progress, words: Catalogue):
        self._progress, self._words = progress, words

    def __call__(self, progress, desc=None, total=None, unit="steps", *args, **kwargs):
        return self._progress(progress, self._words.progress(desc), total, self._words.unit(unit), *args, **kwargs)

    def tqdm(self, iterable, desc=None, total=None, unit="steps", *args, **kwargs):
        return self._progress.tqdm(iterable, self._words.progress(desc), total, self._words.unit(unit), *args,
                                   **kwargs)

    def __getattr__(self, name):
        return getattr(self._progress, name)


def localize(demo: gr.Blocks, language: Callable, computed: list | None = None) -> None:
    """At each page load, what the front end cannot translate, in the session's language: radio choice names,
    table headers, example captions, and static texts built from code (the loaded model's description, the
    vision model's status). `computed`: [(component, fn)] whose value fn() is made at each load (both languages).
    Call inside the Blocks, after every tab is built."""
    others = [lang for lang in LANGUAGES if lang != ENGLISH]
    blocks = blocks_of(demo)
    changes = {lang: {key: _properties(block, catalogue(lang)) for key, block in blocks.items()}
               for lang in others}                                  # language -> block id -> properties
    targets = [key for key in blocks if any(changes[lang][key] for lang in others)]
    computed = list(computed or [])
    if not targets and not computed:
        return

    def on_load(request: gr.Request):
        lang = language(request)
        values = [gr.update(**changes[lang][key]) if lang in changes and changes[lang][key] else gr.skip()
                  for key in targets]
        return [*values, *(catalogue(lang).text(fn()) for _, fn in computed)]

    outputs = [blocks[key] for key in targets] + [component for component, _ in computed]
    demo.load(on_load, None, outputs, api_visibility="private", queue=False)


def _properties(block, words: Catalogue) -> dict:
    """The properties a page load sets on one block in `words`' language ({} where nothing changes: the block holds
    no English, or only i18n keys, which the front end translates itself)."""
    kind = type(block).__name__
    if kind in ("Radio", "Dropdown") and block.choices:
        choices = [(words.choice(name) if isinstance(name, str) else name, value) for name, value in block.choices]
        return {"choices": choices} if choices != list(block.choices) else {}
    if kind == "Dataframe" and block.headers:
        headers = [words.header(name) for name in block.headers]
        return {"value": {"headers": headers, "data": []}} if headers != list(block.headers) else {}
    if kind == "Dataset" and getattr(block, "sample_labels", None):
        labels = [words.label(label) for label in block.sample_labels]
        return {"sample_labels": labels} if labels != list(block.sample_labels) else {}
    if kind == "Markdown" and isinstance(block.value, str) and block.value:
        keys_shown = in_language(block.value, words.lang)
        text = words.text(in_language(render(block.value, words.lang), words.lang))   # a keyed text (header) by key
        return {"value": text} if text != keys_shown else {}
    info = getattr(block, "info", None)
    if isinstance(info, str) and not MARKER.search(info):
        text = words.text(info)
        return {"info": text} if text != info else {}
    return {}
