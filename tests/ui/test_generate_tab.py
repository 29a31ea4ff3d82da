"""The Generate tab's texts are keyed (issue 27, item 3): its status lines, notes and captions keep their keys, so a
German session reads them from the German catalogue by key, and an English one (and the API) reads the same bytes
as before. Through the app's own handlers: the lesson's raw handler of the "generate" view (English, as the API
gets it) and the page's events with a German or an English request."""
from __future__ import annotations

from explorer.messages import is_keyed, render
from tests.ui.handlers import Request


GERMAN, ENGLISH = Request("de-DE,de;q=0.9", "generate"), Request("en-US,en;q=0.9", "generate")


def _page(demo, name: str):
    found = [d for d in demo.fns.values() if getattr(d.fn, "__name__", "") == name and d.api_visibility == "private"]
    assert found, f"no page event runs {name}"
    return found[0]


def _outputs(event, demo) -> list:
    return [demo.blocks[o] if isinstance(o, int) else o for o in event.outputs]


def test_the_status_line_of_a_generation_is_keyed_and_its_english_unchanged(demo):
    import gradio as gr

    view = demo.explorer_context.views["generate"]
    out = list(view.raw("a red boat", "", 3, False, 1, 7.5, 64, 64, "ddim", "approx", [], None, ENGLISH,
                        gr.Progress()))[-1]
    status = out[view.raw_outputs.index(view.status)]
    assert is_keyed(status), "the status line lost its keys (an f-string or a join around a message?)"
    assert status.startswith("Done: seed 3, 1 steps. Saved as `") and "with its recipe (download it under " \
        "*Recipe, downloads and history*)." in status
    assert render(status, "de").startswith("Fertig: Seed 3, 1 Schritt. Gespeichert als `")


def test_a_german_page_reads_the_tab_by_key_and_an_english_one_as_before(demo):
    import gradio as gr

    generate = _page(demo, "on_generate")
    blocks = _outputs(generate, demo)
    at = {b.elem_id: i for i, b in enumerate(blocks) if b.elem_id}
    german = list(generate.fn("a red boat", "", 3, False, 2, 7.5, 64, 64, "ddim", "approx", [], None, GERMAN,
                              gr.Progress()))[-1]
    english = list(generate.fn("a red boat", "", 3, False, 2, 7.5, 64, 64, "ddim", "approx", [], None, ENGLISH,
                               gr.Progress()))[-1]
    assert german[at["status"]].startswith("Fertig: Seed 3, 2 Schritte. Gespeichert als `")
    assert english[at["status"]].startswith("Done: seed 3, 2 steps. Saved as `")
    state = german[next(i for i, b in enumerate(blocks) if type(b).__name__ == "State" and german[i] is not None
                        and isinstance(german[i], dict) and "kept" in german[i])]
    fresh = _page(demo, "on_attention_fresh")
    at = {b.elem_id: i for i, b in enumerate(_outputs(fresh, demo)) if b.elem_id}
    note, grid = (fresh.fn(state, "prompt", True, GERMAN)[at[name]] for name in ("att-note", "att-grid"))
    assert "der Attention" in note and "zogen zusammen" in note and "drew" not in note      # only by key
    assert {caption.split(" ")[0] for _, caption in grid} >= {"Start", "Ende"}
    note, grid = (fresh.fn(state, "prompt", True, ENGLISH)[at[name]] for name in ("att-note", "att-grid"))
    assert "drew" in note and note.endswith("of all attention; the words' shares are of the rest.")
    assert {caption.split(" ")[0] for _, caption in grid} >= {"start", "end"}


def test_loading_a_png_and_stopping_answer_in_the_session_language(demo):
    import gradio as gr

    view = demo.explorer_context.views["generate"]
    out = list(view.raw("a red boat", "", 5, False, 1, 7.5, 64, 64, "ddim", "approx", [], None, ENGLISH,
                        gr.Progress()))[-1]
    png = out[view.raw_outputs.index(next(c for c in view.raw_outputs if getattr(c, "elem_id", "") == "result"))]
    upload = _page(demo, "on_upload")
    status = _outputs(upload, demo).index(view.status)
    german, english = upload.fn(png, GERMAN)[status], upload.fn(png, ENGLISH)[status]
    assert german.startswith("**Rezept von ") and "Seed 5, 1 Schritte. Drücken Sie Erzeugen" in german
    assert english.startswith("**Loaded the recipe of ") and english.endswith(
        ": seed 5, 1 steps. Press Generate to make it.**")
    stop = _page(demo, "on_stop")
    assert stop.fn(GERMAN) == "Halte nach dem aktuellen Schritt an…"
    assert stop.fn(ENGLISH) == "Stopping after the current step…"
