"""The event layer (explorer.ui.events) without a browser: handlers return {component: value} (plain or streaming),
a refusal lands in the status line and keeps every other output, a German session reads its status line, refusal
and progress bar in German, and an API twin raises errors in English."""
from __future__ import annotations

from functools import partial

import gradio as gr
import pytest

from explorer.errors import InputError
from explorer.messages import say
from explorer.ui.components import Slider, Textbox
from explorer.ui.events import by_component, render_output, wrap_handler
from explorer.ui.i18n import t
from tests.ui.handlers import Request

SKIP = gr.skip()


GERMAN, ENGLISH = Request("de-DE,de;q=0.9", "test"), Request("en-US,en;q=0.9", "test")
STOPPING = say("interpolate.stopping")         # "Stopping after the current batch… finished frames are kept."


class Progress:
    """A progress bar that records its descriptions."""

    def __init__(self):
        self.descs = []

    def __call__(self, progress, desc=None, *args, **kwargs):
        self.descs.append(desc)


@pytest.fixture()
def ui():
    picture, table, status = gr.Image(), gr.Dataframe(headers=["concept", "category", "cosine"]), gr.Markdown()
    prompt = Textbox(label=t("common.prompt"))
    steps = Slider(1, 50, value=20, step=1, label=t("common.steps"))
    return picture, table, status, prompt, steps


def test_a_dict_changes_only_the_outputs_it_names(ui):
    picture, table, status, *_ = ui

    def on_run(text):
        return {status: f"ran {text}"}

    wrapped = wrap_handler(on_run, [picture, table, status], status)
    assert wrapped("a", ENGLISH) == (SKIP, SKIP, "ran a")
    assert wrapped("a") == (SKIP, SKIP, "ran a")                    # no request (a direct call): English


def test_a_streaming_handler_yields_each_dict_and_a_refusal_keeps_what_it_showed(ui):
    picture, table, status, *_ = ui

    def on_walk(count, request: gr.Request):
        yield {table: [["red", "colour", 0.5]], status: "first"}
        if count > 1:
            raise InputError("frames", "an integer in [2, 64]", count)
        yield {status: "done"}

    wrapped = wrap_handler(on_walk, [picture, table, status], status)
    assert list(wrapped(1, ENGLISH)) == [(SKIP, [["red", "colour", 0.5]], "first"), (SKIP, SKIP, "done")]
    first, refused = list(wrapped(2, ENGLISH))
    assert refused[:2] == (SKIP, SKIP)                              # the table streamed before stays as it is
    assert refused[2] == ("**⚠ Not run — frames: expected an integer in [2, 64], received 2** "
                          "The results shown are from before.")


def test_an_unexpected_error_is_one_line_without_its_story(ui):
    picture, _, status, *_ = ui

    def on_run():
        raise KeyError("/secret/path")

    _, shown = wrap_handler(on_run, [picture], status)(ENGLISH)
    assert shown.startswith("**⚠ Not run — Something went wrong (KeyError).") and "/secret" not in shown


def test_a_german_session_reads_status_refusal_tables_and_progress_in_german(ui):
    picture, table, status, prompt, steps = ui

    def on_run(text, progress=gr.Progress()):
        progress(0.5, desc=say("ui_embeddings.progress.generating"))     # "generating"
        if not text.strip():
            raise InputError("prompt", say("checks.non_empty_prompt"), text)
        return {table: [["red", "colour", 0.5]], status: STOPPING}

    wrapped = wrap_handler(on_run, [picture, table, status], status, fields={"prompt": prompt, "steps": steps})
    bar = Progress()
    _, rows, line = wrapped("a boat", bar, GERMAN)
    assert bar.descs == ["Bild wird erzeugt"]
    assert "Halte nach dem aktuellen" in line and rows["headers"][0] == "Konzept"
    assert wrapped("   ", Progress(), GERMAN) == (SKIP, SKIP, "**⚠ Nicht ausgeführt — Prompt: erwartet einen nicht "
                                                  "leeren Prompt, erhalten '   '** Die angezeigten Ergebnisse "
                                                  "stammen von vorher.")
    english = Progress()
    assert wrapped("a boat", english, ENGLISH)[1:] == ([["red", "colour", 0.5]], STOPPING)     # byte for byte
    assert english.descs == ["generating"]


def test_an_appended_status_line_is_cleared_on_success_and_tuples_still_work(ui):
    picture, table, status, *_ = ui
    wrapped = wrap_handler(lambda: ("a picture", SKIP), [picture, table], status)
    assert wrapped(ENGLISH) == ("a picture", SKIP, "")


def test_an_api_twin_raises_in_english_and_drops_the_page_only_status(ui):
    picture, table, status, *_ = ui

    def on_run(text):
        if not text:
            raise InputError("prompt", say("checks.non_empty_prompt"), text)
        return {table: [["red", "colour", 0.5]], status: "shown on the page only"}

    api = wrap_handler(on_run, [picture, table], page=False)
    assert api("a", GERMAN) == (SKIP, [["red", "colour", 0.5]])
    with pytest.raises(gr.Error, match="prompt: expected a non-empty prompt"):
        api("", GERMAN)


def test_a_handler_bound_to_its_context_keeps_its_name_parameters_and_request(ui):
    from gradio.utils import get_type_hints

    picture, _, status, *_ = ui

    def on_draw(ctx, shown, text, request: gr.Request, progress=gr.Progress()):
        return {shown[0]: f"{ctx} drew {text}", shown[1]: request.headers["accept-language"]}

    wrapped = wrap_handler(partial(on_draw, "ctx", (picture, status)), [picture, status], status)
    assert wrapped.__name__ == "on_draw"
    assert list(wrapped.__signature__.parameters) == ["text", "request", "progress"]
    assert get_type_hints(wrapped)["request"] is gr.Request          # gradio fills the request by this hint
    assert wrapped("boat", ENGLISH, Progress()) == ("ctx drew boat", ENGLISH.headers["accept-language"])


def test_values_keep_their_meaning(ui):
    picture, table, status, *_ = ui
    assert list(by_component({"a": 1}, [gr.JSON()]).values()) == [{"a": 1}]    # one JSON output's value
    assert by_component(SKIP, [picture, status]) == {}
    with pytest.raises(ValueError, match="return {component: value}"):
        by_component(("one",), [picture, status])
    assert render_output("Done.", status, "en") == "Done." and render_output(None, status, "de") is None
