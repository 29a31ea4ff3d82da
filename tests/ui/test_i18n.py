"""German and English UI (issue 17): every static text of the page is an i18n key with a text in both tables, a
German browser sees German, `--lang de` shows German to every browser, and the API's error messages stay English
with the field names they always had (what a German page gets back: test_i18n_pages.py, test_messages.py)."""
from __future__ import annotations

import json
import re
from dataclasses import replace
from pathlib import Path

import pytest
from gradio.components.api_component import Api
from gradio.i18n import I18nData

from explorer.errors import InputError
from explorer.explore.probe import PROBE_NOTE
from explorer.models.vision import vision_status
from explorer.text.expressions import MAX_WEIGHT
from explorer.ui.i18n import TABLES, build_i18n, english, in_language, t
from explorer.ui.settings import LANGUAGES, parse_args
from tests.servers import close_demo

ROOT = Path(__file__).resolve().parents[2]
UI = ROOT / "explorer" / "ui"
EN, DE = TABLES["en"], TABLES["de"]
# words German uses as they are (the glossary keeps the field's English terms)
SAME_IN_GERMAN = {"Prompt", "Seed", "Seeds", "Guidance", "Scheduler", "Decoder", "Embeddings", "Phrase", "MP4", "Name"}
# words the glossary (assets/i18n/README.md) rules out
NOT_IN_GERMAN = re.compile(r"Latenz|Einbettung|Konditionierung|Führung|Anleitung|\bStufe|Samen|Startwert|"
                           r"Eingabeaufforderung|Wortschatz|Rauschunterdrückung|Entrauschung\b")
KEY_IN_SOURCE = re.compile(r"""\bt\(\s*["']([^"']+)["']""")
NOT_OURS = {"lesson"}      # tab ids whose texts come from elsewhere: the lesson's own tables (assets/lessons)
GERMAN_TABS = ["Erzeugen", "Embeddings", "Interpolieren", "Suche", "Karte"]
ENGLISH_TABS = ["Generate", "Embeddings", "Interpolate", "Search", "Map"]


def _symbols(model) -> set[str]:
    """Texts that stay as they are in every language: symbols, and what the loaded model says about itself."""
    return {"A", "B",                                           # the blend comparator's two prompts
            f"in [{-MAX_WEIGHT:g}, {MAX_WEIGHT:g}]",             # the AND weights' range
            vision_status(model)}                               # computed from the model (its CLIP tower)


def _keys(value) -> list[str]:
    """The i18n keys in a label or value (an I18nData, or a string with key markers and values around them)."""
    if isinstance(value, I18nData):
        return [value.key]
    return [json.loads(found)["key"] for found in re.findall(r"__i18n__(\{[^}]*\})", str(value))]


def _inside(block, tab_ids: set[str]) -> bool:
    while block is not None:
        if getattr(block, "id", None) in tab_ids and type(block).__name__ == "Tab":
            return True
        if getattr(block, "elem_id", None) == "lesson-return" and "lesson" in tab_ids:   # the lesson's questions,
            return True                                                                  # shown on every tab
        block = getattr(block, "parent", None)
    return False


def _texts(demo):
    """(block, what, value) for every static text a person reads on the page."""
    for block in demo.blocks.values():
        if isinstance(block, Api) or "api-twin" in (getattr(block, "elem_classes", None) or []):
            continue                                            # endpoints without a widget on the page
        if _inside(block, NOT_OURS):
            continue
        for what in ("label", "info", "placeholder"):
            yield block, what, getattr(block, what, None)
        if type(block).__name__ in ("Button", "Markdown"):
            yield block, "value", block.value
        if type(block).__name__ == "Dropdown":
            for name, _ in block.choices:
                if isinstance(name, I18nData):
                    yield block, "choice", name


@pytest.fixture(scope="module")
def forced(tiny_model, app_config):
    """The whole app with --lang de, launched on a free port: (demo, url)."""
    from explorer.ui.app import build_demo, launch_kwargs

    config = replace(app_config, lang="de")
    demo = build_demo(tiny_model, config)
    _, url, _ = demo.launch(prevent_thread_lock=True, quiet=True,
                            **{**launch_kwargs(config, demo), "server_port": None})
    yield demo, url
    close_demo(demo)


def _open(browser, url, locale: str):
    context = browser.new_context(locale=locale, viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    page.goto(url)
    page.wait_for_selector("#generate-btn", timeout=60_000)
    return context, page


def _tab_names(page) -> list[str]:
    return [name.strip() for name in page.get_by_role("tab").all_inner_texts()]


# --- the tables --------------------------------------------------------------------------------------------------

def test_every_static_text_is_a_key_in_both_tables(forced, tiny_model):
    demo, _ = forced
    symbols, untranslated, unknown, used = _symbols(tiny_model), [], [], set()
    for block, what, value in _texts(demo):
        if value is None or value == "" or (what == "value" and getattr(block, "elem_id", None) in
                                            ("map-status", "token-about")):
            continue                      # the map's status and the tokenizer's note are made at each page load
        keys = _keys(value)
        if not keys and value not in symbols:
            untranslated.append(f"{type(block).__name__}.{what} = {str(value)[:70]!r}")
        for key in keys:
            base = key.split("|")[0]                            # "key|name=value": a text filled with values
            used.add(base)
            if base not in EN or base not in DE:
                unknown.append(key)
    assert not untranslated, "static English text without an i18n key:\n" + "\n".join(untranslated)
    assert not unknown, f"keys missing from assets/i18n/en.json or de.json: {unknown}"
    assert {"generate.tab", "common.more", "map.k.info", "app.header"} <= used


def test_the_tables_have_the_same_keys_and_every_key_is_used():
    assert set(EN) == set(DE), f"only in en.json: {set(EN) - set(DE)}; only in de.json: {set(DE) - set(EN)}"
    in_source = {key for path in UI.glob("*.py") for key in KEY_IN_SOURCE.findall(path.read_text(encoding="utf-8"))}
    assert in_source - set(EN) == set(), f"used by explorer/ui but in no table: {in_source - set(EN)}"
    gradio_keys = {"status.queue_position"}     # gradio's own front end looks these up (its queue text), not a view
    assert set(EN) - in_source - gradio_keys == set(), f"in the tables but used by no view: {set(EN) - in_source}"


def test_german_differs_from_english_and_keeps_the_glossary():
    same = {key: text for key, text in EN.items() if DE[key] == text and text not in SAME_IN_GERMAN}
    assert not same, f"German texts identical to English: {same}"
    ruled_out = {key: NOT_IN_GERMAN.findall(text) for key, text in DE.items() if NOT_IN_GERMAN.search(text)}
    assert not ruled_out, f"words the glossary rules out: {ruled_out}"
    for key in EN:                                             # the same {fields}; no braces the page would misread
        fields = [set(re.findall(r"\{(\w+)\}", table[key])) for table in (EN, DE)]
        assert fields[0] == fields[1], key
        for table in (EN, DE):
            rest = re.sub(r"\{\w+\}", "", table[key])
            assert "{" not in rest and "}" not in rest and "''" not in rest, key


def test_texts_kept_from_the_library_stay_in_step():
    assert EN["probe.more"].startswith(PROBE_NOTE)              # the bias probe's note, as the library words it


def test_filled_texts_and_english_names():
    label = t("interpolate.frames.info", max_frames=12)
    assert english(label) == "ends included; at most 12 frames in all"
    assert in_language(label, "de") == "Enden eingeschlossen; insgesamt höchstens 12 Bilder"
    assert english(f"**latent-explorer** · {t('app.header')} **x**") == \
        "**latent-explorer** · the latent space of a diffusion model · model **x**"
    assert english("plain") == "plain" and english(t("common.negative_prompt")) == "Negative prompt"
    with pytest.raises(KeyError):
        t("no.such.key")


def test_the_header_reads_as_before(forced, tiny_model):
    header = next(b for b in forced[0].blocks.values() if getattr(b, "elem_id", None) == "header")
    about = tiny_model.preset.about.split(": ", 1)[-1]
    assert english(header.value) == \
        f"**latent-explorer** · the latent space of a diffusion model · model **{tiny_model.name}**: {about}"


# --- --lang ------------------------------------------------------------------------------------------------------

def test_lang_option_is_checked_and_forces_the_tables():
    assert parse_args([], {}).lang is None and parse_args(["--lang", "de"], {}).lang == "de"
    with pytest.raises(InputError) as caught:
        parse_args(["--lang", "fr"], {})
    assert str(caught.value) == "--lang: expected one of en, de, received 'fr'"
    follow = build_i18n(None).translations_dict
    assert set(follow) == set(LANGUAGES) and follow["de"]["generate.tab"] == "Erzeugen"
    assert follow["en"]["generate.tab"] == "Generate"
    forced = build_i18n("de").translations_dict
    assert forced["en"]["generate.tab"] == forced["de"]["generate.tab"] == "Erzeugen"
    assert build_i18n("en").translations_dict["de"]["generate.tab"] == "Generate"
    with pytest.raises(InputError):
        build_i18n("fr")


def test_launch_settings_carry_the_language_and_the_apps_filled_labels(demo):
    from explorer.ui.app import launch_kwargs

    i18n = launch_kwargs(parse_args(["--lang", "de"], {}), demo)["i18n"]
    assert i18n.translations_dict["en"]["map.tab"] == "Karte"
    filled = demo.explorer_context.texts["de"]          # labels filled with the config's limits, e.g. "... (1-50)"
    assert filled and all(i18n.translations_dict["de"][key] == text for key, text in filled.items())


# --- in a browser ------------------------------------------------------------------------------------------------

def test_a_german_browser_sees_german(browser, app_url):
    context, page = _open(browser, app_url, "de-DE")
    try:
        assert _tab_names(page)[:5] == GERMAN_TABS
        assert page.inner_text("#generate-btn").strip() == "Bild erzeugen"
        body = page.inner_text("body")
        assert "Geben Sie einen Prompt ein" in body and "Negativ-Prompt" in body and "Mehr zu dieser Ansicht" in body
        assert "__i18n__" not in body and "generate.tab" not in body
        page.get_by_role("tab", name="Interpolieren", exact=True).click()
        page.get_by_text("Enden eingeschlossen; insgesamt höchstens").first.wait_for(timeout=30_000)
    finally:
        context.close()


@pytest.mark.parametrize("locale", ["en-US", "fr-FR"])
def test_other_browsers_see_english(browser, app_url, locale):
    context, page = _open(browser, app_url, locale)
    try:
        assert _tab_names(page)[:5] == ENGLISH_TABS
        body = page.inner_text("body")          # an apostrophe survives the front end's message format
        assert "the model's current guess x0 of the final image" in body and "__i18n__" not in body
    finally:
        context.close()


def test_lang_de_shows_german_to_an_english_browser(browser, forced):
    context, page = _open(browser, forced[1], "en-US")
    try:
        assert _tab_names(page)[:5] == GERMAN_TABS
        assert page.inner_text("#generate-btn").strip() == "Bild erzeugen"
    finally:
        context.close()


# --- the API's messages stay English ---------------------------------------------------------------------------------

@pytest.mark.parametrize("field, value, message", [
    ("steps", 0, "steps: expected a number in [1, 50], received 0"),
    ("negative_prompt", 7, "negative_prompt: expected text, received 7"),
    ("scheduler", "magic", "scheduler: expected one of"),
])
def test_errors_through_the_api_stay_english_with_the_same_field_names(forced, connect, field, value, message):
    args = dict(prompt="a lighthouse", negative_prompt="", seed=3, randomize=False, steps=2, guidance=7.5,
                width=64, height=64, scheduler="ddim", preview="approx")
    args[field] = value
    client = connect(forced[1])         # the shared fixture's 120 s timeout: httpx's 5 s ran out in CI under load
    with pytest.raises(Exception) as info:
        client.predict(*args.values(), api_name="/generate")
    assert message in str(info.value)
