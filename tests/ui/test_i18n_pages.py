"""German pages (issue 17, item 2): a German session's page events return German refusals, status lines, captions
and table headers; an English session's are the library's own English, byte for byte; the page load puts German
into what the front end cannot translate. Through the page's own handlers with a German request, and in a German
browser."""
from __future__ import annotations

import json
import re

import pytest

from explorer.ui.i18n import in_language, t
from tests.ui.handlers import Request


GERMAN, ENGLISH = Request("de-DE,de;q=0.9,en;q=0.8", "test"), Request("en-US,en;q=0.9", "test")


def _event(demo, name: str, output: str | None = None):
    """The page's (private) event whose handler is `name` (and which writes the element `output`)."""
    found = [d for d in demo.fns.values() if getattr(d.fn, "__name__", "") == name and d.api_visibility == "private"
             and (output is None or any(getattr(demo.blocks[o] if isinstance(o, int) else o, "elem_id", None) ==
                                        output for o in d.outputs))]
    assert found, f"no page event runs {name}"
    return found[0]                   # (a handler bound twice, e.g. tokens by its button and from arithmetic, is one)


def _status(event, demo, out, elem_id: str | None = None):
    """The value an event's handler returned for its status line (the Markdown with `elem_id`, else the last)."""
    blocks = [demo.blocks[o] if isinstance(o, int) else o for o in event.outputs]
    at = next(i for i, b in enumerate(blocks) if getattr(b, "elem_id", None) == elem_id) if elem_id else \
        max(i for i, b in enumerate(blocks) if type(b).__name__ == "Markdown")
    return out[at]


def _last(results):
    return list(results)[-1]


def _generate(demo, prompt: str, request):
    import gradio as gr

    event = _event(demo, "on_generate", "status")
    out = _last(event.fn(prompt, "", 3, False, 2, 7.5, 64, 64, "ddim", "approx", [], None, request, gr.Progress()))
    return _status(event, demo, out, "status"), out


def test_a_german_page_refuses_and_reports_in_german(demo):
    refused, out = _generate(demo, "   ", GERMAN)
    assert refused == ("**⚠ Nicht ausgeführt — Prompt: erwartet einen nicht leeren Prompt, erhalten '   '** "
                       "Die angezeigten Ergebnisse stammen von vorher.")
    assert sum(1 for value in out if value == {"__type__": "update"}) == len(out) - 1     # the rest kept
    done, _ = _generate(demo, "a red boat", GERMAN)
    assert done.startswith("Fertig: Seed 3, 2 Schritte. Gespeichert als `") and "mit seinem Rezept" in done
    assert "Dieses Modell hat zufällige Gewichte" in done and "Done" not in done and "Saved" not in done


def test_an_english_page_is_unchanged(demo):
    refused, _ = _generate(demo, "   ", ENGLISH)
    assert refused == ("**⚠ Not run — prompt: expected a non-empty prompt, received '   '** "
                       "The results shown are from before.")
    done, _ = _generate(demo, "a red boat", ENGLISH)
    assert done.startswith("Done: seed 3, 2 steps. Saved as `") and done.endswith(
        "\n\n⚑ This model has random weights: it knows no words; its pictures are noise.")


def test_a_refusal_names_the_field_by_its_german_label(demo):
    import gradio as gr

    blend = _event(demo, "on_blend")
    out = blend.fn("a red fox", "a cat", 0, 2, 7.5, 99.0, 1.0, gr.Progress(), GERMAN)   # request: added last
    label = in_language(t("blend.weight_a"), "de")                               # "AND-Gewicht von A"
    assert _status(blend, demo, out, "blend-status") == (
        f"**⚠ Nicht ausgeführt — {label}: erwartet eine Zahl in [-10, 10], erhalten 99,0** "
        "Die angezeigten Ergebnisse stammen von vorher.")
    out = blend.fn("a red fox", "a cat", 0, 2, 7.5, 99.0, 1.0, gr.Progress(), ENGLISH)
    assert "— and_weights[0]: expected a number in [-10, 10], received 99.0**" in _status(blend, demo, out,
                                                                                           "blend-status")


def test_an_expression_refusal_keeps_its_caret_in_german(demo):
    import gradio as gr

    arithmetic = _event(demo, "on_arithmetic")
    out = arithmetic.fn('"a cat" + (dog', "conditioning", True, 0, 2, 7.5, "builtin", 5, GERMAN, gr.Progress())
    status = _status(arithmetic, demo, out, "arith-status")
    assert status.startswith("**⚠ Nicht ausgeführt — Ausdruck: erwartet ')' an Position ")
    assert "```text\n" in status and "^" in status and status.endswith("Die angezeigten Ergebnisse stammen von vorher.")


def test_the_page_load_shows_german_where_gr_i18n_cannot(demo):
    load = _event(demo, "on_load")
    blocks = [demo.blocks[o] if isinstance(o, int) else o for o in load.outputs]
    german = list(zip(blocks, load.fn(GERMAN)))
    by_elem = {block.elem_id: value for block, value in german if block.elem_id}
    assert by_elem["map-table"]["value"]["headers"] == ["Konzept", "Kategorie", "Kosinus"]
    assert by_elem["map-status"].startswith("UMAP") and not any(
        word in by_elem["map-status"] for word in ("ready", "compiling", "warmed"))
    radio = next(value for block, value in german if type(block).__name__ == "Radio" and "umap" in
                 [v for _, v in block.choices])
    assert radio["choices"] == [("UMAP", "umap"), ("PCA (sofort)", "pca")]              # values stay the code's
    assert "zufällige Gewichte, dieselbe Architektur" in by_elem["header"]["value"]
    assert "__i18n__" not in by_elem["header"]["value"]
    about = [value for _, value in german if isinstance(value, str) and value.startswith("**Das geladene Modell:**")]
    assert len(about) == 1 and "Byte-Pair-Tokenizer" in about[0] and "entries" not in about[0]     # made in code, keyed
    english = list(zip(blocks, load.fn(ENGLISH)))     # the front end translates the rest: all skipped but texts made in
    made = [value for _, value in english if value != {"__type__": "update"}]                   # code (at each load)
    assert dict((b.elem_id, v) for b, v in english)["map-status"].startswith("UMAP")
    assert len(made) == 2 and [value for value in made if value.startswith("**The loaded model:** CLIP's byte-pair")]


def test_handlers_chained_after_a_page_event_speak_german_too(demo):
    fresh = _event(demo, "on_attention_fresh")                  # runs after each generation (.then)
    out = fresh.fn(None, "prompt", True, GERMAN)
    assert "Karten werden für einfache Prompts aufgezeichnet" in out[4]
    assert fresh.fn(None, "prompt", True, ENGLISH)[4].startswith("Maps are recorded for plain prompts")


def test_the_token_table_has_german_headers_and_the_lesson_runs_in_german(demo):
    tokens = _event(demo, "on_tokens")
    summary, table, _ = tokens.fn("a red fox", False, GERMAN)
    assert "Wortstück-Token" in summary and table["headers"][:3] == ["Position", "Token", "ID"]
    assert tokens.fn("a red fox", False, ENGLISH)[1]["headers"][:3] == ["position", "token", "id"]
    lesson = next(d for d in demo.fns.values() if getattr(d.fn, "__name__", "") == "page" and any(
        getattr(demo.blocks.get(o) if isinstance(o, int) else o, "elem_id", None) == "token-summary"
        for o in d.outputs))                                    # the "english" chapter's "Show me"
    shown = [value for step in lesson.fn("a red fox", False, GERMAN) for value in step.values()
             if isinstance(value, str)]
    assert any("Wortstück-Token" in value for value in shown), shown


def test_the_embeddings_tab_speaks_german_by_key_and_english_is_unchanged(demo):
    from explorer.messages import is_keyed

    readback = _event(demo, "on_neighbors_page")             # nearest concepts; the picture beside is another's
    args = ("a red fox", "prompt", "pooled", "concepts", 3, False, '{"expression": "a cat"}')
    api = _api(demo, "neighbors")(*args[:6], None)[1]        # the API's English status
    german, english = readback.fn(*args, GERMAN)[1], readback.fn(*args, ENGLISH)[1]
    assert german.endswith("\n\nBild und Normen-Diagramm daneben gehören noch zu `a cat`.") and "zufällige" in german
    assert not any(word in german for word in ("nearest", "concepts in", "entries", "picture", "random"))
    assert english == api + "\n\nThe picture and norm plot beside are still those of `a cat`."     # byte for byte
    raw = demo.explorer_context.views["tokens"].raw("a red fox", False)         # the handler's own values: keyed
    assert all(is_keyed(header) for header in raw[1]["headers"])
    tokens = _event(demo, "on_tokens")
    summary, table, _ = tokens.fn("a xylophonist", False, GERMAN)
    assert table["headers"][-1] == "Gewicht" and any(str(cell).endswith(" (geteilt)") for row in table["data"]
                                                     for cell in row)
    assert any(str(cell).endswith(" (split)") for row in tokens.fn("a xylophonist", False, ENGLISH)[1]["data"]
               for cell in row)


def _api(demo, api_name: str):
    """The API twin's handler (the library's English, errors raised)."""
    return next(d.fn for d in demo.fns.values() if d.api_name == api_name)


class Progress:
    """A progress bar that records its descriptions (gradio hands the page's handler one, positionally)."""

    def __init__(self):
        self.descs = []

    def __call__(self, progress, desc=None, *args, **kwargs):
        self.descs.append(desc)

    def tqdm(self, iterable, desc=None, *args, **kwargs):
        self.descs.append(desc)
        return iterable


def test_figures_speak_the_session_language_and_english_is_unchanged(demo):
    tokens = _event(demo, "on_tokens")
    figure = tokens.fn("a red fox", False, GERMAN)[2]
    assert figure.layout.title.text == "Vektornorm je Token (grau: Start/Padding, orange: Ende)"
    assert figure.layout.xaxis.title.text == "Token-Position" and figure.data[-1].name == "|Eingabe| (Token-Embedding)"
    assert figure.layout.xaxis.ticktext == _api(demo, "tokens")("a red fox", False)[2].layout.xaxis.ticktext
    english = tokens.fn("a red fox", False, ENGLISH)[2]
    assert english.to_json() == _api(demo, "tokens")("a red fox", False)[2].to_json()      # byte for byte
    on_map = _event(demo, "on_map")                       # the concept map: its figure's JSON in an HTML element
    args = ("a red fox", "concepts", 8, "pca", 3)
    german = on_map.fn(*args, GERMAN, Progress())[0]
    assert json.loads(german)["layout"]["title"]["text"] == "8 nächste Konzepte, PCA" and "nearest" not in german
    assert {trace.get("name") for trace in json.loads(german)["data"]} >= {"Prompt"}           # legend names by key
    assert on_map.fn(*args, ENGLISH, Progress())[0] == _api(demo, "concept_map")(*args, None, Progress())[0]


def test_progress_bars_speak_the_session_language(demo):
    arithmetic = _event(demo, "on_arithmetic")
    args = ('"a red fox" + "a cat"', "conditioning", True, 0, 2, 7.5, "concepts", 5)
    german, english = Progress(), Progress()
    arithmetic.fn(*args, GERMAN, german)
    arithmetic.fn(*args, ENGLISH, english)
    assert german.descs == ["nächste Konzepte (beim ersten Mal wird das Vokabular codiert)", "Bild wird erzeugt"]
    assert english.descs == ["nearest concepts (the first use encodes the vocabulary)", "generating"]
    generate, bar = _event(demo, "on_generate", "status"), Progress()
    out = _last(generate.fn("a red boat", "", 3, False, 2, 7.5, 64, 64, "ddim", "approx", [], None, GERMAN, bar))
    assert bar.descs == ["Schritt 1/2", "Schritt 2/2"]
    plot = next(value for o, value in zip(generate.outputs, out)
                if type(demo.blocks[o] if isinstance(o, int) else o).__name__ == "Plot")
    assert plot.layout.title.text == "Änderung von x0 je Schritt"
    assert plot.layout.yaxis.title.text == "mittlere |Δ x0| (0-1)"


def test_the_search_time_limit_is_a_status_line_not_a_toast(demo, monkeypatch):
    import gradio as gr

    from explorer.ui import context
    from explorer.ui.sessions import Deadline

    class Expired(Deadline):                              # every request has already run out of time
        expired = True

    toasts = []
    monkeypatch.setattr(context, "Deadline", Expired)
    monkeypatch.setattr(gr, "Info", toasts.append)
    search = _event(demo, "on_search")
    args = ("a red boat", "", 0, 2, 7.5, 64, "ddim", 4, 1, False)
    german = _status(search, demo, _last(search.fn(*args, GERMAN, Progress())), "search-status")
    english = _status(search, demo, _last(search.fn(*args, ENGLISH, Progress())), "search-status")
    assert german.startswith("Angehalten: ") and "Angehalten am Zeitlimit von 900 s je Anfrage" in german
    assert english.startswith("Stopped: ") and "Stopped at the time limit of 900 s per request" in english
    assert not toasts


# --- in a browser ------------------------------------------------------------------------------------------------

def test_a_german_browser_reads_refusals_and_status_lines_in_german(browser, app_url):
    context = browser.new_context(locale="de-DE", viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    try:
        page.goto(app_url)
        page.wait_for_selector("#generate-btn", timeout=60_000)
        steps = page.locator("#steps input[type=number]")
        steps.fill("2")
        steps.press("Enter")
        page.fill("#prompt textarea", "   ")
        page.click("#generate-btn")
        page.wait_for_function("document.querySelector('#status').innerText.includes('Nicht ausgeführt')",
                               timeout=60_000)
        assert "Prompt: erwartet einen nicht leeren Prompt" in page.inner_text("#status")
        page.fill("#prompt textarea", "a small red boat")
        page.click("#generate-btn")
        page.wait_for_function("document.querySelector('#status').innerText.includes('Fertig: Seed')",
                               timeout=120_000)
        assert "Schritte" in page.inner_text("#status") and "Done" not in page.inner_text("#status")
        page.get_by_role("tab", name="Karte", exact=True).click()
        page.get_by_text("PCA (sofort)").first.wait_for(timeout=30_000)
        assert "Konzept" in page.inner_text("#map-table")
    finally:
        context.close()


def test_stop_replies_in_the_session_language(demo):
    """The Stop buttons answer on the page in German for a German session (their API twins stay English)."""
    for name in ("on_stop",):
        event = _event(demo, name)
        assert "Halte nach dem aktuellen" in str(event.fn(GERMAN))
        assert "Stopping after the current" in str(event.fn(ENGLISH))


def test_the_map_and_walk_status_lines_are_german_by_key(demo):
    """The Map and Interpolate tabs' status lines, progress bars and captions come out German from their keys (the
    English patterns they once went through are gone), an English session's byte for byte as the API's."""
    from explorer.concepts.projection import MapWarmup
    from explorer.messages import render

    on_map, args, bar = _event(demo, "on_map"), ("a red fox", "concepts", 8, "pca", 3), Progress()
    german = _status(on_map, demo, on_map.fn(*args, GERMAN, bar), "map-status")
    assert re.search(r"8 Konzepte \+ 1 Anfragepunkte, PCA angepasst in \d+,\d\d s\.", german), german
    assert "PCA zeigt die Ebene" in german and "query points" not in german
    english = _status(on_map, demo, on_map.fn(*args, ENGLISH, Progress()), "map-status")
    api = _api(demo, "concept_map")(*args, None, Progress())[2]
    seconds = re.compile(r"fitted in \d+\.\d\d s")                     # the one part that differs between two calls
    assert seconds.sub("", english) == seconds.sub("", api) and "8 concepts + 1 query points, PCA fitted in" in api
    assert render(MapWarmup().status(), "de").startswith("UMAP nicht vorgewärmt")
    walk, bar = _event(demo, "on_walk"), Progress()
    walk_args = ("a red fox\na blue car", "0", 2, 2, "slerp", "linear", "", 2, 7.5, 64, "ddim", False)
    outputs = [demo.blocks[o] if isinstance(o, int) else o for o in walk.outputs]
    last = _last(walk.fn(*walk_args, GERMAN, bar))
    german = _status(walk, demo, last, "walk-status")
    assert german.startswith("Fertig: Prompt-Weg, 2 Bilder in Batches zu 2.") and "kippt um bei" in german, german
    assert "Jedes Bild ist mit seinem Rezept gespeichert" in german and "frames" not in german
    assert "2 Bilder" in bar.descs
    film = next(value for block, value in zip(outputs, last) if block.elem_id == "walk-film")
    assert [caption for _, caption in film] == ["0,00", "1,00"]
    english = _last(walk.fn(*walk_args, ENGLISH, Progress()))
    api = _last(_api(demo, "interpolate")(*walk_args, None, Progress()))
    assert _status(walk, demo, english, "walk-status") == api[4]                               # byte for byte
    assert _status(walk, demo, english, "walk-status").startswith("Done: prompt walk, 2 frames in batches of 2.")


def test_a_lessons_show_me_shows_the_views_own_results_in_each_language(demo):
    """The lesson's "show me" runs the view's page handler: a German session reads the view's status line in German,
    an English one the view's own English byte for byte (the same as pressing the view's button)."""
    from explorer.lesson.chapters import load_lesson
    from explorer.ui.lesson_tab import chapter_args

    ctx = demo.explorer_context
    chapter = next(c for c in load_lesson("en").chapters if c.id == "english")
    view = ctx.views[chapter.view]
    lesson = next(d for d in demo.fns.values() if getattr(d.fn, "__name__", "") == "page" and any(
        getattr(demo.blocks.get(o) if isinstance(o, int) else o, "elem_id", None) == "token-summary"
        for o in d.outputs))
    tokens = _event(demo, "on_tokens")
    args = chapter_args(ctx, chapter, view, view.inputs, ("a red fox", False))
    for request in (GERMAN, ENGLISH):
        shown = list(lesson.fn("a red fox", False, request))[-1]
        own = dict(zip(view.outputs, tokens.fn(*args, request)))
        assert shown == own
    assert "Wortstück-Token" in next(v for v in dict(zip(view.outputs, tokens.fn(*args, GERMAN))).values()
                                     if isinstance(v, str) and "Token" in v)


def test_choice_names_and_table_headers_are_keyed():
    """Radio choices' and table columns' German comes from keys (ui_app.json); the pattern catalogue is gone."""
    from explorer.messages import catalogue as keyed
    from explorer.ui.messages import catalogue

    assert keyed("de")["ui_app.header.cosine"] == catalogue("de").header("cosine") == "Kosinus"
    assert keyed("de")["ui_app.choice.pca_instant"] == catalogue("de").choice("PCA (instant)") == "PCA (sofort)"
    assert catalogue("en").header("cosine") == "cosine" and catalogue("de").header("not a header") == "not a header"
    from explorer.messages import render, say
    described = say("arithmetic.describe", expression="a", space=say("arithmetic.space.pooled"),
                    how=say("arithmetic.raw"))
    assert render(described, "de") == "a im Raum gepoolt, roh (nicht renormalisiert)"     # a code word in a sentence


def test_the_servers_settings_refuse_by_key():
    """app.py's settings refuse in English (the CLI's words, unchanged) with keyed parts a German page could render."""
    from explorer.errors import InputError
    from explorer.messages import is_keyed, render
    from explorer.ui.settings import parse_args

    with pytest.raises(InputError) as caught:
        parse_args(["--port", "x"], {})
    assert str(caught.value) == "--port: expected an integer port in [1, 65535], received 'x'"
    assert is_keyed(caught.value.allowed) and render(caught.value.allowed, "de") == \
        "eine ganzzahlige Portnummer in [1, 65535]"
