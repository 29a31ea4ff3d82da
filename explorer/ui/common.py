"""Small pieces every tab uses: the error guard, the explainer, the shared session context."""
from __future__ import annotations

import functools
import inspect
import logging
import math
import queue
import shutil
import tempfile
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator

import gradio as gr
import numpy as np
from PIL import Image as PILImage

from explorer.concepts.projection import MapWarmup
from explorer.config import ExplorerConfig
from explorer.errors import InputError, ModelLoadError
from explorer.generation.batcher import Batcher
from explorer.models.examples import Examples, examples_for
from explorer.models.loaded import LoadedModel
from explorer.text.known import words_note
from explorer.ui.i18n import (english, in_session_language, kinds_of, label_in, page_language, show_outputs, t,
                              table_headers, with_progress, with_request)
from explorer.ui.media import MEDIA, client_of
from explorer.ui.messages import Catalogue, catalogue
from explorer.ui.sessions import Deadline, Session, Sessions, still_wanted

MAX_TEXT_CHARS = 20_000     # longest text any field takes (prompts are cut at 77 tokens long before this)
WATCH_EVERY_S = 0.25        # how often a streaming handler checks its deadline and whether the user is still there

log = logging.getLogger("explorer.ui")


@dataclass
class View:
    """A view the lesson can drive: the tab path to show it, its fields by name, and its page handler."""

    name: str                                       # "generate", "arithmetic", "tokens", ...
    fields: dict                                    # field name -> input component the lesson may set
    tabs: list = field(default_factory=list)        # [(gr.Tabs, tab id), ...] from the outer strip inward
    fn: Callable | None = None                      # the page's handler (errors in the status line)
    raw: Callable | None = None                     # the guarded handler itself (errors raised: the API)
    raw_outputs: list = field(default_factory=list)  # the handler's own outputs (without an appended status)
    inputs: list = field(default_factory=list)
    outputs: list = field(default_factory=list)
    status: object = None                           # the view's status line
    opens: list = field(default_factory=list)       # accordions to open when the lesson shows this view
    result: str = ""                                # elem_id of its main result: the lesson scrolls it into view
    then: list = field(default_factory=list)        # (fn, inputs, outputs, kwargs) chained after the page handler
                                                    # (PageEvent.then, or another view's run): the lesson chains them too


@dataclass
class AppContext:
    """What all tabs share: one model instance for all users, the config, and each user's session state."""

    model: LoadedModel
    config: ExplorerConfig
    sessions: Sessions                              # per-user lists and stop flags (explorer.ui.sessions)
    demo: gr.Blocks | None = None                   # the app (to see whether a user is still waiting)
    tabs: gr.Tabs | None = None                     # the tab strip (to switch tabs from a handler)
    generate_prompt: gr.Textbox | None = None       # the Generate tab's prompt (other tabs send prompts there)
    apis: list = field(default_factory=list)        # (function, api_name): API-only endpoints, registered after the tabs
    twins: list = field(default_factory=list)       # invisible buttons of the API twins (rendered after the tabs)
    views: dict = field(default_factory=dict)       # name -> View: what the lesson's "show me" fills and runs
    batcher: Batcher | None = None                  # users' Generate requests batched (explorer.generation.batcher)
    page_texts: list = field(default_factory=list)  # (component, fn): a text made at each page load, in its language
    map_warmup: MapWarmup = field(default_factory=MapWarmup)   # the Map tab's umap JIT warm-up (concepts.projection)
    overlays: list = field(default_factory=list)    # blocks built with render=False, rendered after the tab strip (on
                                                    # every tab: the lesson's way back from a view)

    @property
    def examples(self) -> Examples:
        """The starting inputs that suit the loaded model (the miniature world's grammar on miniworld)."""
        return examples_for(self.model)

    def listen(self, *args, view: View | None = None, **kwargs):
        """common.listen, its API twins rendered after the tabs, the page in each session's language; `view` (its
        name, fields and tabs): the lesson may fill those fields and run this handler as the page does
        (explorer.ui.lesson_tab)."""
        return listen(*args, pending=self.twins, view=view, views=self.views, language=self.language, **kwargs)

    def language(self, request: gr.Request | None) -> str:
        """The language of this request's page: --lang, else the browser's (explorer.ui.i18n.page_language)."""
        return page_language(request, self.config.lang)

    def api_twin(self, *args, **kwargs) -> None:
        api_twin(*args, pending=self.twins, **kwargs)

    def session(self, request: gr.Request | None) -> Session:
        return self.sessions.get(request)

    def publish(self, value, request: gr.Request | None):
        """A PIL image or a file as this user's link (written once, fetched by their client only: explorer.ui.media);
        the value as it is where no client is known (a direct call)."""
        client = client_of(request)
        return MEDIA.publish(value, client) if client is not None and value is not None else value

    def stop_event(self, request: gr.Request | None) -> threading.Event:
        return self.sessions.get(request).stop

    def stream(self, job: Callable[[Callable[[object], None]], object], name: str, request: gr.Request | None
               ) -> tuple[Iterator[tuple[str, object]], Deadline]:
        """run_streaming for this user: their stop flag, the device's time limit, stopped if they leave."""
        stop = self.stop_event(request)
        stop.clear()
        deadline = Deadline(self.config.request_seconds(self.model.device.type))
        return run_streaming(job, name, stop, deadline, lambda: still_wanted(self.demo, request)), deadline


def check_upload(field_name: str, path, config: ExplorerConfig) -> Path:
    """An uploaded file within the size limit (checked before anything reads it)."""
    path = Path(str(path))
    if not path.is_file():
        raise InputError(field_name, "an uploaded file", path.name)
    size = path.stat().st_size
    if size > config.max_upload_bytes:
        raise InputError(field_name, f"a file of at most {config.max_upload_bytes:,} bytes", f"{size:,} bytes")
    return path


def served(path) -> str:
    """A path gradio may hand to this user: files outside the working and temp folders are copied to a temp
    folder first (outputs/ is never an allowed path, so nobody can fetch another user's images by name)."""
    path = Path(path).resolve()
    if any(path.is_relative_to(Path(root).resolve()) for root in (Path.cwd(), tempfile.gettempdir())):
        return str(path)
    copy = Path(tempfile.mkdtemp(prefix="latent-explorer-")) / path.name
    shutil.copyfile(path, copy)
    return str(copy)


FILE_KINDS = ("Image", "Gallery", "File")       # outputs whose values become files served to the user


def published(out, outputs: list | None, request):
    """A handler's return value with every picture and file of its Image, Gallery and File outputs published for the
    request's client (explorer.ui.media: written once, linked for that client only). gradio would otherwise write a
    returned PIL image into its shared cache at every return, truncating the file while browsers fetch it."""
    client = client_of(request)
    if client is None or outputs is None or not any(type(c).__name__ in FILE_KINDS for c in outputs):
        return out
    if isinstance(out, dict) and out.get("__type__") != "update":           # values by component
        return {c: _publish_value(v, c, client) for c, v in out.items()}
    if len(outputs) == 1:
        return _publish_value(out, outputs[0], client)
    return tuple(_publish_value(v, c, client) for v, c in zip(out, outputs))


def _publish_value(value, component, client: str):
    kind = type(component).__name__
    if kind not in FILE_KINDS or value is None:
        return value
    if isinstance(value, dict):                                             # gr.update(value=...), gr.skip()
        return {**value, "value": _publish_value(value["value"], component, client)} if "value" in value else value
    if isinstance(value, (list, tuple)) and kind in ("Gallery", "File"):
        return [_publish_item(item, client) for item in value]
    return _publish_item(value, client)


def _publish_item(item, client: str):
    if isinstance(item, tuple) and len(item) == 2:                          # a gallery's (picture, caption)
        return (_publish_item(item[0], client), item[1])
    if isinstance(item, PILImage.Image) or (isinstance(item, np.ndarray) and item.dtype == np.uint8) or \
            (isinstance(item, (str, Path)) and _is_file(item)):
        return MEDIA.publish(item, client)
    return item                                                             # other arrays, URLs: gradio's own way


def _is_file(path) -> bool:
    try:
        return Path(str(path)).is_file()
    except (OSError, ValueError):
        return False


def scoped(fn, outputs):
    """fn (a handler) with its pictures and files published for the calling client (`published`)."""
    outputs = list(outputs) if isinstance(outputs, (list, tuple)) else [outputs]
    if not any(type(c).__name__ in FILE_KINDS for c in outputs):
        return fn
    if inspect.isgeneratorfunction(fn):
        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            args, kwargs, request = split(args, kwargs)
            for out in fn(*args, **kwargs):
                yield published(out, outputs, request)
    else:
        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            args, kwargs, request = split(args, kwargs)
            return published(fn(*args, **kwargs), outputs, request)
    wrapper, split = with_request(fn, wrapper)
    return wrapper


def guard(fn):
    """Turn the library's user-facing errors into gr.Error (shown in the UI, returned by the API)."""
    def translate(error: Exception):
        if isinstance(error, (InputError, ModelLoadError)):
            return gr.Error(str(error), print_exception=False)
        log.exception("unexpected error in %s", fn.__name__)       # the whole story in the server's log only:
        return gr.Error(f"Something went wrong ({type(error).__name__}). The server keeps running; "   # no paths
                        "please report this with the recipe.", print_exception=False)

    if inspect.isgeneratorfunction(fn):
        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            try:
                yield from fn(*args, **kwargs)
            except gr.Error:
                raise
            except Exception as error:  # noqa: BLE001 - every error becomes a message, the server stays up
                raise translate(error) from error
    else:
        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            try:
                return fn(*args, **kwargs)
            except gr.Error:
                raise
            except Exception as error:  # noqa: BLE001
                raise translate(error) from error
    return wrapper


def refusal(error: Exception, words: Catalogue | None = None, labels: dict[str, str] | None = None) -> str:
    """A refused request as the status line shows it: one bold line, a multi-line message (an expression with
    its caret under the fault) in a monospaced block so the caret stays under the character it points at.
    `words`: a session's other language (explorer.ui.messages), `labels` naming fields as its page does."""
    if words is not None and not words.english:
        return words.refusal(words.message(error, labels))
    text = getattr(error, "message", None) or str(error)
    if "\n" in text:
        first, rest = text.split("\n", 1)
        return f"**⚠ Not run — {first}**\n\n```text\n{rest}\n```\n\nThe results shown are from before."
    return f"**⚠ Not run — {text}** The results shown are from before."


def keep_work(fn, count: int, at: int, appended: bool, *, outputs: list | None = None, fields: dict | None = None,
              language: Callable | None = None):
    """The page's version of a guarded handler: an error becomes the status line at `at` and every other output
    is left as it was (gr.skip), so a bad input never wipes a result, a plot or a field. `appended`: the status
    is not one of the handler's own outputs; it is cleared on success.

    The page speaks the session's language (`language(request)`, default: the browser's): a German session sees
    the refusal, the text outputs, the figures' titles and the progress bar in German (explorer.ui.messages).
    `outputs`: the components (which values are status lines, captions, tables or figures; without them, only the
    status); `fields`: field name -> input component, so a refusal names a field by its label on the page."""
    kinds = kinds_of(outputs) if outputs is not None else [("Markdown" if i == at else None) for i in range(count)]
    headers = table_headers(outputs) if outputs is not None else {}
    language = language or page_language
    in_words = with_progress(fn)

    def refused(error: gr.Error, words: Catalogue):
        labels = None if words.english else {name: label_in(component.label, words.lang)
                                             for name, component in (fields or {}).items() if component.label}
        values = [gr.skip()] * count
        values[at] = refusal(error, words, labels)
        return values[0] if count == 1 else tuple(values)

    def extend(out):
        if not appended:
            return out
        values = (out,) if count == 2 else tuple(out)       # a handler of one output returns that one value
        return (*values, "")

    if inspect.isgeneratorfunction(fn):
        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            args, kwargs, request = split(args, kwargs)
            words = catalogue(language(request))
            args, kwargs = in_words(args, kwargs, words)
            try:
                for out in fn(*args, **kwargs):
                    yield published(show_outputs(extend(out), kinds, words, headers), outputs, request)
            except gr.Error as error:
                yield refused(error, words)
    else:
        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            args, kwargs, request = split(args, kwargs)
            words = catalogue(language(request))
            args, kwargs = in_words(args, kwargs, words)
            try:
                return published(show_outputs(extend(fn(*args, **kwargs)), kinds, words, headers), outputs, request)
            except gr.Error as error:
                return refused(error, words)
    wrapper, split = with_request(fn, wrapper)
    return wrapper


def listen(triggers, fn, inputs, outputs, *, status, api_name: str | None = None, pending: list | None = None,
           view: View | None = None, views: dict | None = None, language: Callable | None = None, **kwargs):
    """Bind a guarded handler twice: for the page (private; errors land in `status`, beside the button, and keep
    every other output; text in the session's language, `language(request)`) and, under `api_name`, for API
    clients (an invisible twin button: errors are raised, so gradio_client and HTTP callers get them as errors;
    English). Returns the page's event: handlers chained with .then show their text in the session's language too."""
    outputs = list(outputs) if isinstance(outputs, (list, tuple)) else [outputs]
    appended = status not in outputs
    page_outputs = [*outputs, status] if appended else outputs
    given = list(inputs) if isinstance(inputs, (list, tuple)) else [inputs]
    fields = {}
    for component in given:                      # field name -> the input it names (the first, where two share it)
        if isinstance(component, _NamedErrors):
            fields.setdefault(_field_name(component), component)
    page_fn = keep_work(fn, len(page_outputs), page_outputs.index(status), appended, outputs=page_outputs,
                        fields=fields, language=language)
    triggers = list(triggers) if isinstance(triggers, (list, tuple)) else [triggers]
    page_kwargs = {"show_progress_on": progress_on(page_outputs, status), **kwargs}
    event = PageEvent(gr.on(triggers, page_fn, inputs, page_outputs, api_visibility="private", **page_kwargs),
                      language, view)
    if view is not None and views is not None:
        view.fn, view.raw, view.status = page_fn, fn, status
        view.inputs = list(inputs) if isinstance(inputs, (list, tuple)) else [inputs]
        view.outputs, view.raw_outputs = page_outputs, outputs
        views[view.name] = view
    if api_name:
        api_twin(fn, inputs, outputs, api_name, pending=pending, **kwargs)
    return event


RESULTS = ("Image", "Gallery", "Plot", "HTML", "Dataframe", "Video", "File", "Code", "JSON")   # what an event makes


def progress_on(outputs: list, status) -> list:
    """Where a page event's progress overlay goes: over its results (pictures, plots, tables), never over the status
    line (whose own text would show under the overlay's: two texts on top of each other) nor over a field the
    user types into or the lesson demonstrates (the expression box, the seed); the status line when there is
    nothing else."""
    results = [c for c in outputs if c is not status and type(c).__name__ in RESULTS and c.visible is not False]
    return results or [status]


class PageEvent:
    """A page event (gradio's Dependency): `.then(fn, inputs, outputs)` shows fn's text in the session's language
    too (e.g. the attention maps' note after a generation); everything else is the event's own. The event's view
    (if any) records what is chained, so the lesson's "show me" runs it too (the attention maps after a generation)."""

    def __init__(self, event, language: Callable | None = None, view: View | None = None):
        self.event, self.language, self.view = event, language, view

    def then(self, fn, inputs=None, outputs=None, **kwargs):
        shown = scoped(in_session_language(fn, outputs, self.language), outputs) if outputs else fn
        if self.view is not None:
            self.view.then.append((shown, inputs, outputs, kwargs))
        return self.event.then(shown, inputs, outputs, **kwargs)

    def __getattr__(self, name):
        return getattr(self.event, name)


def api_twin(fn, inputs, outputs, api_name: str, pending: list | None = None, **kwargs) -> None:
    """An endpoint for API clients only, on an invisible button: errors raised as errors, outputs as given.
    With `pending`, the button is rendered later by whoever holds the list (gr.Tabs may hold only tabs)."""
    twin = gr.Button(visible=False, elem_classes=["api-twin"], render=pending is None)
    twin.click(scoped(fn, outputs), inputs, outputs, api_name=api_name, **kwargs)
    if pending is not None:
        pending.append(twin)


def words_flag(model, texts) -> str:
    """The words the loaded model does not know (or reads only in pieces), as a flagged line beside a result."""
    note = words_note(model, texts)
    return f"\n\n⚑ {note}" if note else ""


def explain(sentence, *more) -> None:
    """One sentence on what a view shows, and an expandable paragraph for more (texts: i18n keys, t(...);
    several parts where one is not static, e.g. what the loaded model says about itself)."""
    gr.Markdown(sentence, elem_classes=["explain"])
    with gr.Accordion(t("common.more"), open=False):
        for part in more:
            gr.Markdown(part)


def _field_name(component) -> str:
    """The field's one name in every message: `field=` where given, else the English label up to '(' or ':'."""
    explicit = getattr(component, "field_name", None)
    if explicit:
        return explicit
    label = english(component.label or "value")
    return label.split(" (")[0].split(":")[0].strip().lower().replace(" ", "_")


def _choices(component) -> str:
    return ", ".join(str(value) for _, value in component.choices)


def _shown(payload):
    """The received value as the message shows it (long text cut, so a message stays one readable line; a file by
    its upload name, never by the server's folder)."""
    path = payload.get("path") if isinstance(payload, dict) else getattr(payload, "path", None)
    if isinstance(path, str) and (isinstance(payload, dict) or hasattr(payload, "orig_name")):
        orig = payload.get("orig_name") if isinstance(payload, dict) else getattr(payload, "orig_name", None)
        return Path(str(orig or path)).name
    if isinstance(payload, str) and len(payload) > 80:
        return payload[:77] + "..."
    text = repr(payload)
    return payload if len(text) <= 80 else text[:77] + "..."


# Every input is checked by type before a handler sees it: gradio would coerce (an int prompt becomes
# "123", a checkbox "yes" is truthy) or answer with messages that do not name the field. These subclasses
# keep their class names (the front end picks a component by class name) and say what was wrong our way.
class _NamedErrors:
    field_name: str | None = None                   # set by the factories below (`field=`)

    def allowed(self) -> str:
        return f"one of {_choices(self)}"

    def check(self, payload) -> None:
        """Refuse a payload of the wrong type before gradio converts it."""

    def refuse(self, payload, allowed: str | None = None):
        error = InputError(_field_name(self), allowed or self.allowed(), _shown(payload))
        raise gr.Error(str(error), print_exception=False) from error       # the page reads the parts (keep_work)

    def preprocess(self, payload):
        self.check(payload)
        try:
            return super().preprocess(payload)
        except gr.Error:
            self.refuse(payload)
        except Exception:  # noqa: BLE001 - gradio's own failure (PIL's, pydantic's): refused, naming the field
            self.refuse(payload)


def _is_number(payload) -> bool:
    return isinstance(payload, (int, float)) and not isinstance(payload, bool) and math.isfinite(payload)


class _Slider(_NamedErrors, gr.Slider):
    def allowed(self) -> str:
        return f"a number in [{self.minimum:g}, {self.maximum:g}]"

    def check(self, payload) -> None:
        if not _is_number(payload) or not self.minimum <= payload <= self.maximum:
            self.refuse(payload)


class _Number(_NamedErrors, gr.Number):
    def allowed(self) -> str:
        return "a finite number" + (f" in [{self.minimum:g}, {self.maximum:g}]"
                                    if self.minimum is not None and self.maximum is not None else "")

    def check(self, payload) -> None:
        if not _is_number(payload) or (self.minimum is not None and payload < self.minimum) or \
                (self.maximum is not None and payload > self.maximum):
            self.refuse(payload)


class _Dropdown(_NamedErrors, gr.Dropdown):
    def check(self, payload) -> None:
        if not isinstance(payload, str):
            self.refuse(payload)


class _Radio(_NamedErrors, gr.Radio):
    def check(self, payload) -> None:
        if not isinstance(payload, str):
            self.refuse(payload)


class _Text(_NamedErrors):
    def allowed(self) -> str:
        return "text"

    def check(self, payload) -> None:
        if payload is not None and not isinstance(payload, str):
            self.refuse(payload)
        if isinstance(payload, str) and len(payload) > MAX_TEXT_CHARS:
            self.refuse(f"{len(payload):,} characters", f"at most {MAX_TEXT_CHARS:,} characters")


class _Textbox(_Text, gr.Textbox):
    pass


class _Code(_Text, gr.Code):
    pass


class _Checkbox(_NamedErrors, gr.Checkbox):
    def allowed(self) -> str:
        return "true or false"

    def check(self, payload) -> None:
        if not isinstance(payload, bool):
            self.refuse(payload)


class _File(_NamedErrors, gr.File):
    def allowed(self) -> str:
        kinds = ", ".join(self.file_types or [])
        return f"an uploaded file of type {kinds}" if kinds else "an uploaded file"


class _Image(_NamedErrors, gr.Image):
    def allowed(self) -> str:
        return "an uploaded PNG or JPEG image"


def _factory(cls: type, name: str):
    """A constructor taking `field=` (the one name messages use) that returns a component named like gradio's own.

    gradio reads a component's settings from its class's __init__ signature and picks the front-end
    widget by class name, so the subclasses keep gradio's __init__ and are renamed to the base name.
    """
    cls.__name__ = cls.__qualname__ = name

    def make(*args, field: str | None = None, **kwargs):
        component = cls(*args, **kwargs)
        component.field_name = field
        return component

    make.__name__ = name
    return make


Slider = _factory(_Slider, "Slider")
Number = _factory(_Number, "Number")
Dropdown = _factory(_Dropdown, "Dropdown")
Radio = _factory(_Radio, "Radio")
Textbox = _factory(_Textbox, "Textbox")
Code = _factory(_Code, "Code")
Checkbox = _factory(_Checkbox, "Checkbox")
File = _factory(_File, "File")
Image = _factory(_Image, "Image")


def as_int(value):
    """gr.Number and gr.Slider send floats; whole numbers become ints, the rest is left to validation."""
    return int(value) if isinstance(value, float) and value.is_integer() else value


def run_streaming(job: Callable[[Callable[[object], None]], object], name: str, cancel: threading.Event,
                  deadline: Deadline | None = None, wanted: Callable[[], bool] | None = None
                  ) -> Iterator[tuple[str, object]]:
    """Run job(report) in a worker thread; yield ("update", x) for each report(x), then ("done", result).

    A generator handler can then stream a model's progress to the page while the model works; an
    error in the job is raised here, in the handler's thread, where `guard` turns it into a message.
    `cancel` (which the job must honour at its next step) is set when the deadline passes, when the
    user is no longer `wanted` (cancelled or disconnected), or when this generator is closed early.
    """
    updates: queue.Queue = queue.Queue()
    finished = False

    def work():
        try:
            updates.put(("done", job(lambda item: updates.put(("update", item)))))
        except Exception as error:  # noqa: BLE001 - handed to the handler's thread
            updates.put(("error", error))

    threading.Thread(target=work, daemon=True, name=name).start()
    try:
        while True:
            try:
                kind, item = updates.get(timeout=WATCH_EVERY_S)
            except queue.Empty:
                kind, item = "idle", None
            if deadline is not None and deadline.expired and not cancel.is_set():
                deadline.hit = True
                cancel.set()
            if wanted is not None and not cancel.is_set() and not wanted():
                cancel.set()
            if kind == "idle":
                continue
            if kind == "error":
                raise item
            yield kind, item
            if kind == "done":
                finished = True
                return
    finally:
        if not finished:             # the handler was closed (the user cancelled or left): stop the model too
            cancel.set()
