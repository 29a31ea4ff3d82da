"""Each gradio internal that explorer.ui.gradio_compat relies on, checked against the pinned gradio (6.31.0, written
against that version): the attribute, signature or behaviour the app uses exists and still works. A failure here
after a gradio upgrade names the internal that changed; fix gradio_compat (or use the public API its note names).

Most checks run on one small Blocks launched in this process (a queue, a gr.State, an I18n), not on the app."""
from __future__ import annotations

import importlib.util
import inspect
import sys
import threading
import time
from pathlib import Path

import gradio as gr
import httpx
import pytest
from gradio import component_meta, processing_utils
from gradio_client import Client
from PIL import Image as PILImage

from explorer.ui import gradio_compat
from explorer.ui.gradio_compat import (Arrival, I18nData, LiveI18n, accepting_request, blocks_of,
                                       component_like_gradios, filled_by_gradio, guard_queue, i18n_of,
                                       in_upload_folder, let_owner_evict_state, localhost_check_waits,
                                       queue_polls_gently,
                                       queue_records_no_analytics,
                                       queued_events, upload_folder, wrap_process_api, write_cache_once)
from tests.servers import close_demo

ROOT = Path(__file__).resolve().parents[2]
gradio_compat._no_stub_files_under(Path(__file__).resolve().parent)    # the component classes defined below
REFUSE = "x-compat-refuse"                   # a request with this header is refused at the queue's door


def test_written_against_the_pinned_gradio():
    pinned = [line.split("==")[1].strip() for line in (ROOT / "requirements.txt").read_text().splitlines()
              if line.startswith("gradio==")]
    assert pinned == [gradio_compat.GRADIO_VERSION] == [gr.__version__]


# --------------------------------------------------------------------------- stub files
def _module_with_a_component(folder: Path, name: str, monkeypatch):
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{name}.py").write_text("import gradio as gr\n\n\nclass Mine(gr.Textbox):\n    pass\n")
    spec = importlib.util.spec_from_file_location(name, folder / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, name, module)
    spec.loader.exec_module(module)
    return module


def test_gradio_writes_a_stub_file_next_to_a_component_subclass_unless_told_not_to(tmp_path, monkeypatch):
    """The internal: ComponentMeta calls component_meta.create_or_modify_pyi for every component class, which writes
    <module>.pyi beside the source. Below a folder given to _no_stub_files_under, nothing is written."""
    _module_with_a_component(tmp_path / "free", "compat_free_module", monkeypatch)
    assert (tmp_path / "free" / "compat_free_module.pyi").is_file()      # gradio's own behaviour, as relied on
    gradio_compat._no_stub_files_under(tmp_path / "kept")
    module = _module_with_a_component(tmp_path / "kept", "compat_kept_module", monkeypatch)
    assert list((tmp_path / "kept").glob("*.pyi")) == []
    assert module.Mine(render=False).get_block_name() == "mine"           # the class is made as before


def test_importing_and_building_the_app_writes_no_stub_file(app_demo):
    import explorer.ui.app  # noqa: F401

    assert list((ROOT / "explorer").rglob("*.pyi")) == [], "gradio wrote type stubs into the source tree"
    assert component_meta.create_or_modify_pyi.explorer_skipped_roots[0] == ROOT / "explorer"


# --------------------------------------------------------------------------- components
def test_a_renamed_subclass_is_taken_for_gradios_own():
    """The front end picks the widget by `get_block_name()` (the class name, lowered); settings come from the
    __init__ signature the subclass keeps; the API description names the class."""
    class _Slider(gr.Slider):
        pass

    renamed = component_like_gradios(_Slider, "Slider")
    assert renamed is _Slider and (_Slider.__name__, _Slider.__qualname__) == ("Slider", "Slider")
    with gr.Blocks() as demo:
        ours, theirs = _Slider(minimum=3, maximum=9, label="x"), gr.Slider(minimum=3, maximum=9, label="x")
    config = {c["id"]: c for c in demo.get_config_file()["components"]}
    assert config[ours._id]["type"] == config[theirs._id]["type"] == "slider"
    ours_props, their_props = config[ours._id]["props"], config[theirs._id]["props"]
    assert set(ours_props) == set(their_props)
    assert [ours_props[k] for k in ("minimum", "maximum", "label")] == [3, 9, "x"]
    assert ours.api_info() == theirs.api_info()


def test_i18n_data_is_what_gr_i18n_makes_and_marks_its_key():
    data = I18nData("some.key")
    assert type(gr.I18n()("some.key")) is I18nData
    assert str(data) == '__i18n__{"__type__": "translation_metadata", "key": "some.key"}'    # explorer.ui.i18n.MARKER


def test_blocks_of_lists_every_component_by_id():
    with gr.Blocks() as demo:
        box, button = gr.Textbox(), gr.Button()
    assert blocks_of(demo)[box._id] is box and blocks_of(demo)[button._id] is button


# --------------------------------------------------------------------------- one launched Blocks
class _Live(LiveI18n):
    def __init__(self):
        super().__init__()
        self.texts = {"en": {"greeting": "Hello"}}

    def tables(self):
        return {lang: dict(texts) for lang, texts in self.texts.items()}


@pytest.fixture(scope="module")
def small():
    """A Blocks with a queue: `echo` (text), `hold` (waits for `release`), `shout` (values checked by
    wrap_process_api), `asks` (accepting_request), `page` (filled_by_gradio), `keep` (a gr.State)."""
    release, seen, touched = threading.Event(), {"checked": [], "arrivals": []}, []

    def echo(text):
        return text

    def hold(text):
        release.wait(30)
        return text

    def shout(text):
        return text

    def asks(text):
        return text

    def asks_wrapper(*args, **kwargs):                     # as explorer.ui.i18n wraps a handler
        request = kwargs.get("request", args[1] if len(args) > 1 else None)
        return f"{asks(args[0])}|{type(request).__name__}|{bool(getattr(request, 'session_hash', None))}"

    def page(*args):
        return f"{args[0]}|{type(args[1]).__name__}|{type(args[2]).__name__}"

    def keep(text, state):
        return text, (state or 0) + 1

    def check(block_fn, inputs, request):
        seen["checked"].append((block_fn.api_name, list(inputs), type(request).__name__))
        if block_fn.api_name == "shout":
            if inputs[0] == "refuse":
                raise gr.Error("refused by the check", print_exception=False)
            return [inputs[0].upper()]
        return inputs

    def door(arrival: Arrival):
        seen["arrivals"].append(arrival.session)
        if arrival.request.headers.get(REFUSE):
            return "queue", "not you"
        return None

    live = _Live()
    with gr.Blocks() as demo:
        box, out, state = gr.Textbox(), gr.Textbox(), gr.State()
        box.submit(echo, box, out, api_name="echo")
        box.change(hold, box, out, api_name="hold")
        box.blur(shout, box, out, api_name="shout")
        box.focus(accepting_request(asks, asks_wrapper), box, out, api_name="asks")
        box.input(filled_by_gradio(page, 1), box, out, api_name="page")
        out.submit(keep, [box, state], [out, state], api_name="keep")
    demo.queue(default_concurrency_limit=1)
    before_launch = i18n_of(demo)
    guard_queue(demo, door)
    queue_records_no_analytics(demo)
    queue_polls_gently(demo, 0.05)
    wrap_process_api(demo, check)
    demo.launch(prevent_thread_lock=True, quiet=True, i18n=live)
    let_owner = let_owner_evict_state(demo, seen, touched.append)
    client = Client(demo.local_url, verbose=False)
    yield {"demo": demo, "client": client, "release": release, "seen": seen, "touched": touched, "live": live,
           "before_launch": before_launch, "forget": let_owner}
    release.set()
    client.close()
    close_demo(demo)


def test_i18n_of_is_the_launched_i18n_and_its_tables_are_read_at_each_config(small):
    demo, live = small["demo"], small["live"]
    assert small["before_launch"] is None and i18n_of(demo) is live
    first = httpx.get(f"{demo.local_url}config").json()["i18n_translations"]
    live.texts["de"] = {"greeting": "Hallo"}                          # a table added after launch
    second = httpx.get(f"{demo.local_url}config").json()["i18n_translations"]
    assert first == {"en": {"greeting": "Hello"}} and second == {"en": {"greeting": "Hello"},
                                                                 "de": {"greeting": "Hallo"}}


def test_gradio_passes_the_request_to_a_wrapper_announced_with_one(small):
    assert small["client"].predict("a", api_name="/asks") == "a|Request|True"
    parameters = inspect.signature(accepting_request(lambda text: text, lambda *a, **k: None)).parameters
    assert list(parameters) == ["text", "request"] and parameters["request"].annotation is gr.Request


def test_gradio_fills_request_and_progress_by_the_announced_signature(small):
    assert small["client"].predict("b", api_name="/page") == "b|Request|Progress"


def test_the_door_sees_each_request_and_refuses_with_a_validation_error(small):
    demo, seen = small["demo"], small["seen"]
    before = len(seen["arrivals"])
    assert small["client"].predict("c", api_name="/echo") == "c"
    assert len(seen["arrivals"]) == before + 1 and seen["arrivals"][-1]            # the session gradio_client sent
    refused = Client(demo.local_url, verbose=False, headers={REFUSE: "1"})
    try:
        with pytest.raises(Exception, match="not you"):
            refused.predict("c", api_name="/echo")
    finally:
        refused.close()


def test_a_rest_call_arrives_without_a_session_that_the_door_may_name(small):
    from gradio.data_classes import PredictBodyInternal

    assert PredictBodyInternal.model_fields["session_hash"].default is None
    body = PredictBodyInternal(data=[], fn_index=0)
    arrival = Arrival(body, None)
    assert arrival.session is None
    arrival.session = "named"
    assert body.session_hash == "named"


def test_queued_events_shows_waiting_and_running_events_with_their_session(small):
    demo, client, release = small["demo"], small["client"], small["release"]
    release.clear()
    first, second = client.submit("d", api_name="/hold"), client.submit("e", api_name="/hold")
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            events = queued_events(demo)
            if sorted(e.running for e in events) == [False, True]:
                break
            time.sleep(0.05)
        assert sorted(e.running for e in events) == [False, True], events
        assert all(e.alive and e.session == client.session_hash for e in events)
        assert all(getattr(e.request, "headers", None) is not None for e in events)     # the web request
    finally:
        release.set()
    assert (first.result(timeout=30), second.result(timeout=30)) == ("d", "e")
    assert queued_events(gr.Blocks()) == []                                          # no queue yet


def test_the_queue_records_no_analytics(small):
    demo = small["demo"]
    for text in "fgh":
        small["client"].predict(text, api_name="/echo")
    assert len(demo._queue.event_analytics) <= 1
    assert (demo._queue.ANALYTICS_MAX_EVENTS, demo._queue.ANAYLTICS_CACHE_FREQUENCY) == (1, 2 ** 62)


def test_the_queue_polls_gently_and_still_serves(small):
    demo = small["demo"]
    assert (demo._queue.sleep_when_free, demo._queue.progress_update_sleep_when_free) == (0.05, 0.05)
    assert small["client"].predict("slow", api_name="/echo") == "slow"
    from gradio.queueing import Queue                   # the loops read the settings on every turn

    assert "self.sleep_when_free" in inspect.getsource(Queue.start_processing)
    assert "self.progress_update_sleep_when_free" in inspect.getsource(Queue.start_progress_updates)


def test_the_owner_decides_which_sessions_state_is_kept(small):
    demo, client, touched, forget = small["demo"], small["client"], small["touched"], small["forget"]
    assert forget is not None and let_owner_evict_state(demo, small["seen"], touched.append) is None   # idempotent
    client.predict("i", api_name="/keep")
    session = client.session_hash
    assert session in touched and session in demo.state_holder.session_data
    forget(session)
    assert session not in demo.state_holder.session_data and session not in demo.state_holder.time_last_used


def test_process_api_gets_the_raw_values_first(small):
    client, seen = small["client"], small["seen"]
    assert client.predict("loud", api_name="/shout") == "LOUD"
    assert ("shout", ["loud"], "Request") in seen["checked"]
    with pytest.raises(Exception, match="refused by the check"):
        client.predict("refuse", api_name="/shout")
    names = list(inspect.signature(gr.Blocks.process_api).parameters)
    assert names[:6] == ["self", "block_fn", "inputs", "state", "request", "iterator"]


# --------------------------------------------------------------------------- files
def test_the_upload_folder_is_gradios_and_paths_outside_it_are_not(tmp_path, monkeypatch):
    monkeypatch.setenv("GRADIO_TEMP_DIR", str(tmp_path / "uploads"))
    assert upload_folder() == str(tmp_path / "uploads") == gr.File(render=False).GRADIO_CACHE
    assert in_upload_folder(tmp_path / "uploads" / "abc" / "x.png") and in_upload_folder(tmp_path / "uploads")
    assert not in_upload_folder(tmp_path / "uploads" / ".." / "x.png") and not in_upload_folder("/etc/passwd")
    monkeypatch.delenv("GRADIO_TEMP_DIR")
    import tempfile

    assert upload_folder() == str((Path(tempfile.gettempdir()) / "gradio").resolve())


def test_the_cache_writers_are_replaced_and_write_where_gradios_did(tmp_path):
    written = []

    def record(target: Path, data: bytes) -> None:
        written.append(target)
        if not target.exists():
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)

    pu = processing_utils
    assert list(inspect.signature(pu.save_pil_to_cache).parameters)[:4] == ["img", "cache_dir", "name", "format"]
    assert list(inspect.signature(pu.save_bytes_to_cache).parameters) == ["data", "file_name", "cache_dir"]
    write_cache_once(record)                     # idempotent: the app may have installed its own already
    assert pu.save_pil_to_cache.write_once and pu.save_bytes_to_cache.write_once
    picture = PILImage.new("RGB", (4, 4), (200, 10, 10))
    original_pil, original_bytes = pu.save_pil_to_cache.gradio_original, pu.save_bytes_to_cache.gradio_original
    theirs = original_pil(picture, str(tmp_path / "theirs"), format="png")
    ours = pu.save_pil_to_cache(picture, str(tmp_path / "ours"), format="png")
    assert Path(ours).relative_to(tmp_path / "ours") == Path(theirs).relative_to(tmp_path / "theirs")
    assert Path(ours).read_bytes() == Path(theirs).read_bytes()
    theirs = original_bytes(b"abc", "x.bin", str(tmp_path / "theirs"))
    ours = pu.save_bytes_to_cache(b"abc", "x.bin", str(tmp_path / "ours"))
    assert Path(ours).relative_to(tmp_path / "ours") == Path(theirs).relative_to(tmp_path / "theirs")
    image = gr.Image(format="png", render=False)                   # components look the writer up at call time
    image.GRADIO_CACHE = str(tmp_path / "component")
    path = Path(image.postprocess(picture).path)
    assert path.is_file() and path.relative_to(tmp_path / "component").parts[-1] == "image.png"
    assert path.read_bytes() == picture_png(picture)


def picture_png(picture) -> bytes:
    return processing_utils.encode_pil_to_bytes(picture, "png")


def test_launch_waits_for_a_slow_first_page(monkeypatch):
    """gradio's url_ok gives up at the first timeout (launch then refuses to start); once localhost_check_waits has run,
    a page that times out once and then answers is accepted, and one that never answers is still refused."""
    from gradio import networking

    assert "networking.url_ok(self.local_url)" in inspect.getsource(gr.Blocks.launch)
    answers = []

    def head(url, **kwargs):
        answers.append(url)
        if len(answers) == 1:
            raise httpx.TimeoutException("a busy machine")
        return httpx.Response(200)

    monkeypatch.setattr(httpx, "head", head)
    plain = getattr(networking.url_ok, "gradios", networking.url_ok)     # an app built here has replaced it
    monkeypatch.setattr(networking, "url_ok", plain)                     # gradio's own; restored after the test
    assert not plain("http://127.0.0.1:1/")                              # gradio's own: the first timeout is final
    answers.clear()
    localhost_check_waits(seconds=5)
    assert networking.url_ok is not plain and networking.url_ok("http://127.0.0.1:1/") and len(answers) == 2
    patient = networking.url_ok
    localhost_check_waits(seconds=5)                                      # idempotent: not wrapped twice
    assert networking.url_ok is patient
    monkeypatch.setattr(httpx, "head", lambda url, **kwargs: (_ for _ in ()).throw(httpx.TimeoutException("never")))
    started = time.monotonic()
    monkeypatch.setattr(networking, "url_ok", plain)
    localhost_check_waits(seconds=1)
    assert not networking.url_ok("http://127.0.0.1:1/") and time.monotonic() - started >= 1
