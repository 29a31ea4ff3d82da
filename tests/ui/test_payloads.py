"""Request values checked before gradio reads them (explorer.ui.payloads), without a server: the gradio internal it
wraps, the count of values, file values and their messages in English and German (no server path in any)."""
from __future__ import annotations

import inspect
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from types import SimpleNamespace

import gradio as gr
import pytest
from gradio.utils import get_upload_folder
from PIL import Image

from explorer.config import ExplorerConfig
from explorer.errors import InputError
from explorer.ui.messages import catalogue
from explorer.ui.payloads import check_file_value, check_values
from tests.bombs import bomb_png

CONFIG = ExplorerConfig()


def test_the_wrapped_gradio_internal_has_the_signature_relied_on():
    """payloads.install wraps Blocks.process_api(block_fn, inputs, state, request, iterator, ...): if gradio renames
    or reorders these, this fails before the fuzz does."""
    names = list(inspect.signature(gr.Blocks.process_api).parameters)
    assert names[:6] == ["self", "block_fn", "inputs", "state", "request", "iterator"]
    assert all(hasattr(gr.State(), "skip_api") for _ in [0]) and gr.State().skip_api and not gr.Textbox().skip_api


@pytest.fixture(scope="module")
def uploads():
    """Files in gradio's upload folder, as an upload leaves them (a hashed folder, the upload's own name)."""
    folder = Path(get_upload_folder()) / f"test-payloads-{uuid.uuid4().hex}"
    folder.mkdir(parents=True)
    (folder / "text_as.png").write_text("not an image")
    bomb_png(folder / "big.png")                                                  # above PIL's own limit
    Image.new("RGB", (8, 8)).save(folder / "ok.png")
    yield folder
    for file in folder.iterdir():
        file.unlink()
    folder.rmdir()


def refusal(block, value) -> InputError:
    with pytest.raises(InputError) as caught:
        check_file_value("/forward_process image", block, value, CONFIG)
    return caught.value


def test_file_values_that_are_no_upload_are_refused_naming_the_endpoint_and_parameter(uploads, tmp_path):
    outside = tmp_path / "notes.txt"
    outside.write_text("x")
    for value in [5, {}, {"url": "http://example.com/x.png"}, "http://example.com/x.png", "", "/etc/hostname",
                  {"path": str(outside)}, {"path": "http://example.com/x.png"}, ["a"]]:
        error = refusal(gr.Image(), value)
        assert str(error).startswith("/forward_process image: expected a file uploaded to this server"), value
        assert str(tmp_path) not in str(error)


def test_an_upload_that_is_no_image_or_a_bomb_is_named_by_its_upload_name_in_both_languages(uploads):
    for name, received in [("text_as.png", "'text_as.png'. the file is not an image"),
                           ("big.png", "'400,000,000 pixels'")]:
        error = refusal(gr.Image(), {"path": str(uploads / name), "orig_name": name})
        german = catalogue("de").message(error)
        assert received in str(error) and str(uploads) not in str(error) + german, str(error)
        assert "erwartet" in german and ("Bild" in german or "Pixel" in german), german
    check_file_value("/forward_process image", gr.Image(), {"path": str(uploads / "ok.png")}, CONFIG)   # a picture
    check_file_value("/forward_process image", gr.Image(), None, CONFIG)                                 # cleared
    error = refusal(gr.File(file_types=[".png"]), {"path": str(uploads / "text_as.png")})           # a PNG-only File
    assert "not an image" in str(error)


def fake_event(api_name: str | None, *blocks):
    return SimpleNamespace(inputs=list(blocks), api_name=api_name, api_visibility="public" if api_name else "private",
                           name="on_x", batch=False)


def test_missing_and_extra_values_name_the_endpoint_and_parameter():
    demo = SimpleNamespace(get_api_info=lambda **_: {"named_endpoints": {"/x": {"parameters": [
        {"parameter_name": "prompt"}, {"parameter_name": "steps"}]}}})
    event = fake_event("x", gr.Textbox(), gr.Number(), gr.State())
    assert check_values(demo, event, ["a", 2], CONFIG, {}) == ["a", 2, None]           # gr.State's slot filled in
    assert check_values(demo, event, ["a", 2, None], CONFIG, {}) == ["a", 2, None]     # as gradio_client sends it
    for values, message in [([], "/x prompt: expected a value for each of its 2 parameters (prompt, steps), "
                                 "received '0 values'"),
                            (["a"], "/x steps: expected a value for each of its 2 parameters"),
                            (["a", 2, "extra"], "/x parameters: expected 2 values (prompt, steps), received '3 values'"),
                            (["a", 2, None, "extra"], "/x parameters: expected 2 values"),
                            (["a", 2, [1]], "/x parameters: expected 2 values")]:
        with pytest.raises(InputError) as caught:
            check_values(demo, event, values, CONFIG, {})
        assert str(caught.value).startswith(message), (values, str(caught.value))
    with pytest.raises(InputError, match=r"/x prompt: expected at most 20,000 characters, received '1,000,000"):
        check_values(demo, event, ["x" * 1_000_000, 2], CONFIG, {})


def test_a_german_pages_payload_refusal_is_german_by_key_and_the_api_reads_english(monkeypatch):
    """payloads.install's check: a German page's refusal of a value count or a text over the cap comes from the keys
    (server.values.*, server.text.*: German numbers, 20.000), the API and an English page read English. Fails if the
    site goes back to plain English (the count's pattern entry is deleted; the cap's pattern keeps 20,000)."""
    from explorer.messages import Message
    from explorer.ui import gradio_compat, payloads

    checks = []
    monkeypatch.setattr(gradio_compat, "wrap_process_api", lambda demo, check: checks.append(check))
    demo = SimpleNamespace(get_api_info=lambda **_: {"named_endpoints": {"/x": {"parameters": [
        {"parameter_name": "prompt"}, {"parameter_name": "steps"}]}}})
    payloads.install(demo, CONFIG)
    page, api = fake_event(None, gr.Textbox(label="Prompt"), gr.Number()), fake_event("x", gr.Textbox(), gr.Number())

    def told(event, values, language) -> str:
        with pytest.raises(gr.Error) as caught:
            checks[0](event, values, SimpleNamespace(headers={"accept-language": language}))
        return caught.value.message

    assert "erwartet einen Wert für jeden seiner 2 Parameter (prompt, value), erhalten '1 Wert'" in \
        told(page, ["a"], "de")
    assert "erwartet höchstens 20.000 Zeichen, erhalten '20.001 Zeichen'" in told(page, ["x" * 20_001, 2], "de")
    assert told(api, ["x" * 20_001, 2], "de") == told(api, ["x" * 20_001, 2], "en") == \
        "/x prompt: expected at most 20,000 characters, received '20,001 characters'"
    assert told(page, ["a", 2, 3], "en").endswith("expected 2 values (prompt, value), received '3 values'")
    with pytest.raises(InputError) as caught:
        check_file_value("/x image", gr.Image(), {"url": "http://example.com/x.png"}, CONFIG)
    assert isinstance(caught.value.allowed, Message) and caught.value.allowed.key == "server.file.uploaded"
    with pytest.raises(InputError) as caught:
        check_file_value("/x image", gr.Image(), {}, CONFIG)
    assert catalogue("de").message(caught.value) == ("`/x image`: erwartet eine auf diesen Server hochgeladene Datei "
                                                     "(gradio_client.handle_file(path)), erhalten 'eine Datei ohne Pfad'")


def test_the_page_hears_a_refused_upload_in_its_language_without_a_server_path(app_demo, uploads):
    """A German page's own event (private: no endpoint name) with a text file uploaded as an image: refused before
    gradio opens it, in German, naming the field and the upload, never the upload folder."""
    import asyncio

    page = next(fn for fn in app_demo.fns.values() if fn.name == "on_forward" and fn.api_visibility == "private")
    upload = {"path": str(uploads / "text_as.png"), "orig_name": "text_as.png", "meta": {"_type": "gradio.FileData"}}
    for language, words in (("de", "erwartet ein PNG- oder JPEG-Bild"), ("en", "expected a PNG or JPEG image")):
        request = SimpleNamespace(headers={"accept-language": language})
        with pytest.raises(gr.Error) as caught:
            # in a thread of its own: the session's browser (sync playwright) keeps an event loop in this one
            with ThreadPoolExecutor(1) as pool:
                pool.submit(asyncio.run, app_demo.process_api(page, [upload, 4, "approx"], None, request)).result()
        text = caught.value.message
        assert words in text and "text_as.png" in text and str(uploads) not in text and "/tmp" not in text, text
