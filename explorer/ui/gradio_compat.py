"""Every use of gradio's private internals, behind one door (house style 18): written against gradio 6.31.0 (pinned
in requirements.txt) and checked one by one against it by tests/ui/test_gradio_compat.py, so that an upgrade that
changes one fails there, by name, instead of silently here and there in the app.

Each function says which internal it relies on and the public API that would replace it. Nothing else in explorer/
imports a gradio submodule, touches the queue or `process_api`, or forges a signature (tests/test_architecture.py).

Importing this module keeps gradio from writing type stubs (.pyi) into explorer/ (`_no_stub_files_under`): gradio's
component metaclass writes one next to every module that subclasses a component, at every import.
"""
from __future__ import annotations

import functools
import inspect
import time
from pathlib import Path
from typing import Callable, NamedTuple

import gradio as gr
from gradio import component_meta, networking, processing_utils, utils
from gradio.i18n import I18nData

__all__ = ["GRADIO_VERSION", "I18nData", "LiveI18n", "QueuedEvent", "Arrival", "accepting_request", "blocks_of",
           "component_like_gradios", "filled_by_gradio", "guard_queue", "i18n_of", "in_upload_folder",
           "let_owner_evict_state", "localhost_check_waits", "queue_polls_gently", "queue_records_no_analytics", "queued_events", "upload_folder",
           "write_cache_once", "wrap_process_api"]

LOCALHOST_PATIENCE_S = 60.0        # how long launch may wait for its own page on a busy machine
GRADIO_VERSION = "6.31.0"           # the version these internals were read from (requirements.txt pins it)
PACKAGE = Path(__file__).resolve().parents[1]       # explorer/: no stub file is written below it


# --------------------------------------------------------------------------- components and their stub files
def _no_stub_files_under(root: Path) -> None:
    """gradio's ComponentMeta.__new__ calls `component_meta.create_or_modify_pyi(cls, name, events)` for every
    component class it makes, which writes `<the class's module>.pyi` next to its source (meant for gradio's own
    development; it wrote a 525-line explorer/ui/common.pyi at each import). The module global is wrapped so that
    classes whose source lies under `root` get none; every other class as before. Idempotent.

    Public replacement: none (a gradio setting to turn stub writing off would)."""
    original = component_meta.create_or_modify_pyi
    roots = getattr(original, "explorer_skipped_roots", None)
    if roots is None:
        roots = []

        @functools.wraps(original)
        def create_or_modify_pyi(component_class, class_name, events):
            try:
                source = Path(inspect.getfile(component_class)).resolve()
            except (OSError, TypeError):
                source = None
            if source is not None and any(source.is_relative_to(r) for r in roots):
                return None
            return original(component_class, class_name, events)

        create_or_modify_pyi.explorer_skipped_roots = roots
        component_meta.create_or_modify_pyi = create_or_modify_pyi
    if Path(root).resolve() not in roots:
        roots.append(Path(root).resolve())


_no_stub_files_under(PACKAGE)       # before any module of explorer/ defines a component class (they import this)


def component_like_gradios(cls: type, name: str) -> type:
    """A component subclass renamed to its gradio base's name (`Textbox`, `Slider` ...), so that gradio and its front
    end take it for their own: `Block.get_block_name()` picks the front-end widget from the class name (lowered),
    the API description names the component by class name, and our own code tells outputs apart by it. The
    subclass keeps gradio's __init__, from whose signature gradio reads a component's settings.

    Public replacement: overriding `get_block_name()` (documented for custom components) picks the widget; the
    API description and our own checks would then have to use isinstance instead of the class name."""
    cls.__name__ = cls.__qualname__ = name
    return cls


# `I18nData` (imported above from gradio.i18n, no public name): a translation key the front end looks up. Public
# replacement: what `gr.I18n()(key)` returns (the same class, reachable only through an instance).


class LiveI18n(gr.I18n):
    """A gr.I18n whose tables are made when gradio asks for them (`tables()`), not fixed at construction: gradio
    reads `i18n_instance.translations_dict` each time it builds the page's config, so texts added after the I18n
    was made (filled keys) reach the page.

    Public replacement: none; gr.I18n(**translations) with every table complete before launch."""

    def tables(self) -> dict[str, dict[str, str]]:
        raise NotImplementedError

    @property
    def translations_dict(self) -> dict[str, dict[str, str]]:
        return self.tables()


def i18n_of(demo: gr.Blocks):
    """The gr.I18n the app was launched with (`Blocks.i18n_instance`, set by launch), or None before launch.
    Public replacement: none (keep the I18n passed to launch yourself)."""
    return getattr(demo, "i18n_instance", None)


def blocks_of(demo: gr.Blocks) -> dict:
    """Every block of a Blocks by its id (`Blocks.blocks`, filled as components are made inside it).
    Public replacement: none (keep the components you make yourself)."""
    return demo.blocks


# --------------------------------------------------------------------------- handlers' signatures
def accepting_request(fn: Callable, wrapper: Callable) -> Callable:
    """`wrapper` (taking *args, **kwargs for fn) announced with fn's signature (plus a last parameter `request`
    annotated gr.Request where fn has none) and fn's type hints resolved, so that gradio passes the request, the
    event data and the progress tracker: gradio finds special parameters by reading the handler's
    `inspect.signature` (which follows `__signature__`) and its type hints (`__annotations__`), which it resolves in
    the wrapper's module (a functools.partial hides its function's module: `resolved_hints`).

    Public replacement: a handler that declares `request: gr.Request` itself."""
    signature = inspect.signature(fn)
    parameters = list(signature.parameters.values())
    hints = resolved_hints(fn, parameters)
    if "request" not in signature.parameters:
        signature = signature.replace(parameters=[*parameters, inspect.Parameter(
            "request", inspect.Parameter.POSITIONAL_OR_KEYWORD, default=None, annotation=gr.Request)])
        hints = {**hints, "request": gr.Request}
    wrapper.__signature__, wrapper.__annotations__ = signature, hints
    return wrapper


def resolved_hints(fn, parameters: list) -> dict:
    """Parameter name -> its annotation as an object (a string annotation evaluated in its function's module, as
    typing.get_type_hints does; one that does not resolve is left out)."""
    function = fn
    while isinstance(function, functools.partial):
        function = function.func
    module = getattr(inspect.unwrap(function), "__globals__", {})
    hints = {}
    for parameter in parameters:
        hint = parameter.annotation
        if isinstance(hint, str):
            try:
                hint = eval(hint, module)  # noqa: S307 - an annotation of our own code, as typing evaluates it
            except Exception:  # noqa: BLE001 - an annotation only a type checker reads
                continue
        if hint is not inspect.Parameter.empty:
            hints[parameter.name] = hint
    return hints


def filled_by_gradio(fn: Callable, count: int) -> Callable:
    """fn(*args) announced as taking `count` values, then a gr.Request and a gr.Progress, as gradio fills them
    (by signature: a parameter annotated gr.Request, one whose default is a gr.Progress), all positional.

    Public replacement: a handler written with those parameters itself (`count` is known only at run time here)."""
    positional = inspect.Parameter.POSITIONAL_OR_KEYWORD
    fn.__signature__ = inspect.Signature(
        [inspect.Parameter(f"value_{i}", positional) for i in range(count)]
        + [inspect.Parameter("request", positional, default=None, annotation=gr.Request),
           inspect.Parameter("progress", positional, default=gr.Progress())])
    fn.__annotations__ = {"request": gr.Request}
    return fn


# --------------------------------------------------------------------------- the queue's door
class QueuedEvent(NamedTuple):
    """One event in gradio's queue: waiting (`running` False) or being processed; `alive` False once its user
    cancelled or left; `request` the web request it came with (for the address)."""
    session: str | None
    request: object
    alive: bool
    running: bool


def queued_events(demo: gr.Blocks) -> list[QueuedEvent]:
    """The events waiting in gradio's queue and those being processed ([] before the queue exists).

    gradio internals: `Blocks._queue` (a queueing.Queue), its `event_queue_per_concurrency_id` (concurrency id ->
    EventQueue whose `.queue` lists waiting Events) and `active_jobs` (per worker: None or a list of Events); an
    Event's `session_hash`, `request` and `alive`. Public replacement: none (a queue status API would)."""
    queue = getattr(demo, "_queue", None)
    if queue is None:
        return []
    waiting = [QueuedEvent(getattr(e, "session_hash", None), getattr(e, "request", None), getattr(e, "alive", True),
                           False)
               for q in list(queue.event_queue_per_concurrency_id.values()) for e in list(q.queue)]
    running = [QueuedEvent(getattr(e, "session_hash", None), getattr(e, "request", None), getattr(e, "alive", True),
                           True)
               for job in list(getattr(queue, "active_jobs", None) or []) if job for e in job]
    return waiting + running


class Arrival:
    """A request at the queue's door: its session (which may be set: a REST call comes without one, and gradio
    would name its session after the event) and the web request."""

    def __init__(self, body, request):
        self._body, self.request = body, request

    @property
    def session(self) -> str | None:
        return getattr(self._body, "session_hash", None)

    @session.setter
    def session(self, value: str) -> None:
        self._body.session_hash = value


def guard_queue(demo: gr.Blocks, door: Callable[[Arrival], tuple[str, str] | None]) -> None:
    """Ask `door(arrival)` before gradio queues each request: None lets it in, (field, message) refuses it as a
    validation error (HTTP 422: gradio's clients show the message, naming the field). A door guarded later runs
    first. Call after `demo.queue(...)`, which makes a new queue.

    gradio internals: `Blocks._queue.push(body, request, username)` (wrapped on this app's queue), its body's
    `session_hash`, and push's answer `(False, [{"__type__": "validate", ...}], "validator_error")`, which the
    routes turn into the 422. Public replacement: a per-request admission hook (gradio's `validator=` runs per
    event, after the queue has taken the request)."""
    queue = demo._queue
    original = queue.push

    async def push(body, request, username):
        refusal = door(Arrival(body, request))
        if refusal is not None:
            field, message = refusal
            return False, [{"__type__": "validate", "is_valid": False, "parameter_name": field,
                            "message": message}], "validator_error"
        return await original(body, request, username)

    queue.push = push


def queue_records_no_analytics(demo: gr.Blocks) -> None:
    """Keep gradio's queue from recording every event and recomputing a pandas summary of up to 10,000 of them
    after each event (it serves only /monitoring).

    gradio internals: `Queue.ANALYTICS_MAX_EVENTS` (records kept; the queue drops beyond it) and
    `Queue.ANAYLTICS_CACHE_FREQUENCY` (events between summaries; gradio's spelling), read from
    GRADIO_ANALYTICS_MAX_EVENTS / GRADIO_ANALYTICS_CACHE_FREQUENCY when the queue is made. Public replacement:
    `launch(enable_monitoring=False)` not recording at all."""
    queue = demo._queue
    queue.ANALYTICS_MAX_EVENTS = 1
    queue.ANAYLTICS_CACHE_FREQUENCY = 2 ** 62


QUEUE_POLL_S = 0.02      # how often an idle queue looks for work: gradio's 1 ms on Linux is ~1,000 wake-ups a second


def queue_polls_gently(demo: gr.Blocks, seconds: float = QUEUE_POLL_S) -> None:
    """Let gradio's queue look for new events and progress updates every `seconds` (default 20 ms) instead of every
    1 ms / 10 ms: a request waits at most that long longer to start (a generation takes seconds), and an idle
    server stops burning CPU. Measured on this 2-core machine: an idle app took 1.4 s of CPU per 20 s (7% of a
    core; several apps in the test processes, a laptop's battery in class), 0.34 s with 20 ms.

    gradio internals: `Queue.sleep_when_free` (0.001 s off Windows) and `Queue.progress_update_sleep_when_free`
    (0.01 s), read on every turn of `start_processing` / `start_progress_updates`. Public replacement: none (a
    `queue(poll_interval=...)` setting would)."""
    queue = demo._queue
    queue.sleep_when_free = max(queue.sleep_when_free, seconds)
    queue.progress_update_sleep_when_free = max(queue.progress_update_sleep_when_free, seconds)


def let_owner_evict_state(demo: gr.Blocks, owner, touch: Callable[[str], None]) -> Callable[[str], None] | None:
    """Hand the eviction of sessions' gr.State values to `owner`: gradio's store only keeps their order and calls
    `touch(session_id)` at every access (which may evict); returns forget(session_id), which drops a session's
    gradio state. None where there is nothing to do: not launched yet, or already handed to `owner`.

    gradio internals: `Blocks.state_holder` (a state_holder.StateHolder: one global least-recently-used store of
    `state_session_capacity` sessions), its `update(session_id)` (called on every access; it evicts; replaced on
    this instance), `lock`, `session_data` (an OrderedDict) and `time_last_used`. Public replacement: a pluggable
    state store or eviction policy in gradio."""
    holder = getattr(demo, "state_holder", None)
    if holder is None or getattr(holder, "explorer_owner", None) is owner:
        return None

    def update(session_id: str) -> None:
        with holder.lock:
            if session_id in holder.session_data:
                holder.session_data.move_to_end(session_id)
        touch(session_id)                               # may evict: forget() below, outside gradio's lock

    def forget(session_id: str) -> None:
        holder.session_data.pop(session_id, None)
        holder.time_last_used.pop(session_id, None)

    holder.update = update
    holder.explorer_owner = owner
    return forget


# --------------------------------------------------------------------------- a request's values
def wrap_process_api(demo: gr.Blocks, check: Callable) -> None:
    """`check(block_fn, inputs, request) -> inputs` on each request's raw values, before any component preprocesses
    them (not for streaming continuations, batched events, or calls by index). It may raise to refuse.

    gradio internals: `Blocks.process_api(block_fn, inputs, state, request, iterator, ...)`, which the queue and the
    HTTP routes call with the raw values (wrapped on this app's instance); `block_fn` is a blocks.BlockFunction
    (`inputs`, `api_name`, `api_visibility`, `batch`, as check reads them). Public replacement: a hook that runs
    before preprocessing (gradio's `validator=` receives values already preprocessed)."""
    original = demo.process_api

    @functools.wraps(original)
    async def process_api(block_fn, inputs, state=None, request=None, iterator=None, *args, **kwargs):
        if iterator is None and not isinstance(block_fn, int) and not getattr(block_fn, "batch", False):
            inputs = check(block_fn, list(inputs), request)
        return await original(block_fn, inputs, state, request, iterator, *args, **kwargs)

    demo.process_api = process_api


# --------------------------------------------------------------------------- files
def upload_folder() -> str:
    """gradio's upload and cache folder (`utils.get_upload_folder()`: GRADIO_TEMP_DIR, else <tmp>/gradio).
    Public replacement: none (the same rule written out here would drift if gradio changed it)."""
    return utils.get_upload_folder()


def in_upload_folder(path) -> bool:
    """Whether `path` lies in gradio's upload folder (or is it), as gradio decides it (`utils.is_in_or_equal`,
    both resolved). Public replacement: `Path(path).resolve().is_relative_to(Path(upload_folder()).resolve())`."""
    return utils.is_in_or_equal(path, utils.get_upload_folder())


def write_cache_once(write_once: Callable[[Path, bytes], None]) -> None:
    """gradio's cache writers for images and bytes (`processing_utils.save_pil_to_cache(img, cache_dir, name,
    format)`, `save_bytes_to_cache(data, file_name, cache_dir)`) replaced by ones that write through
    `write_once(target, data)` (gradio 6.31 rewrites a cached file with Path.write_bytes at every return of the same
    picture, while it may be served). Components look the writers up in the module at call time. Idempotent.

    gradio internals: those two functions and their helpers `encode_pil_to_bytes`, `hash_bytes`,
    `detect_audio_format` (the cache path is <cache_dir>/<hash of the bytes>/<name>). Public replacement: a
    per-request cache directory hook or write-once cache in gradio."""
    pu = processing_utils
    if getattr(pu.save_pil_to_cache, "write_once", False):
        return

    def save_pil_to_cache(img, cache_dir: str, name: str = "image", format: str = "webp") -> str:
        data = pu.encode_pil_to_bytes(img, format)
        target = (Path(cache_dir) / pu.hash_bytes(data) / f"{name}.{format}").resolve()
        write_once(target, data)
        return str(target)

    def save_bytes_to_cache(data: bytes, file_name: str, cache_dir: str) -> str:
        folder = Path(cache_dir) / pu.hash_bytes(data)
        if not Path(file_name).suffix:
            file_name = file_name + pu.detect_audio_format(data)
        target = (folder / Path(file_name).name).resolve()
        write_once(target, data)
        return str(target)

    save_pil_to_cache.write_once = save_bytes_to_cache.write_once = True
    save_pil_to_cache.gradio_original = pu.save_pil_to_cache           # gradio's own, for the compat tests
    save_bytes_to_cache.gradio_original = pu.save_bytes_to_cache
    pu.save_pil_to_cache, pu.save_bytes_to_cache = save_pil_to_cache, save_bytes_to_cache


# --------------------------------------------------------------------------- launch
def localhost_check_waits(seconds: float = LOCALHOST_PATIENCE_S) -> None:
    """Let `launch` wait up to `seconds` for its own page to answer. gradio asks it once at launch and gives up at the
    first 3 s timeout, then refuses to start: "When localhost is not accessible, a shareable link must be created".
    On a busy machine (an app's warm-up and another process keeping both cores busy) the page took longer once in a
    CI run, and the app did not start. A localhost that never answers is still refused, after `seconds`.

    gradio internal: `gradio.networking.url_ok(url)`, called by `Blocks.launch` (and, in a loop, for a share link).
    Public replacement: none. Process-wide and idempotent: it replaces the module's function once."""
    original = networking.url_ok
    if getattr(original, "waits", False):
        return

    def url_ok(url: str) -> bool:
        deadline = time.monotonic() + seconds
        while not original(url):
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.5)
        return True

    url_ok.waits, url_ok.gradios = True, original
    networking.url_ok = url_ok
