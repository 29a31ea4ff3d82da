"""The event layer: the one way a tab's handler meets the page and the API.

A handler takes plain values (the inputs' values; `request`/`progress` where it needs them, the app's context
bound with functools.partial) and returns `{component: value}` for the outputs it changes, or yields such dicts
to stream. An output the dict leaves out keeps what it shows (gradio's own "return a dictionary" rule): no
padding with gr.skip(). `wrap_handler` makes that a gradio handler, plain and streaming alike:

- errors: the library's InputError and ModelLoadError (and gr.Error) become, on the page, the view's status
  line (the refusal names the field by its label on the page) and every other output keeps its value; for API
  clients an error (gradio_client raises it), in English. An unexpected error is logged whole on the server and
  shown as one line without paths;
- language: on the page, text outputs (status lines, captions, tables, figures) and the progress bar in the
  session's language (`render_output`, the one door to the message catalogue); API results stay English;
- files: the pictures and files of Image, Gallery and File outputs published for the calling client
  (explorer.ui.files.publish_value).

`listen` binds a handler twice, the page's event (private, errors in the status line) and its API twin
(`api_name`, errors raised); `PageEvent.then` chains a handler through the same wrapper. Handlers that still
return one value per output in order (a tuple, gr.skip() for an output kept) work too, while tabs move over.

A tab (interpolate_tab.py and map_tab.py are the pattern):

    @dataclass
    class UI:                                   # the tab's components by name: layout's result
        prompt: gr.Textbox
        draw: gr.Button
        status: gr.Markdown
        picture: gr.Image

    def build(ctx: AppContext) -> None:         # what app.py calls
        bind(ctx, layout(ctx))

    def layout(ctx: AppContext) -> UI:          # components only, in page order; no handler in here
        with gr.Tab(TAB, id="mytab"):                        # labels: t(key), explorer.ui.i18n
            prompt = Textbox(label=PROMPT)                   # explorer.ui.components
            draw = gr.Button(DRAW)
            status = status_line("mytab-status")             # explorer.ui.pieces
            picture = Image(label=PICTURE)
        return UI(prompt, draw, status, picture)

    def bind(ctx: AppContext, ui: UI) -> None:  # events only
        ctx.listen(ui.draw.click, partial(on_draw, ctx, ui), [ui.prompt], [ui.picture, ui.status],
                   status=ui.status, api_name="draw")

    def on_draw(ctx: AppContext, ui: UI, prompt, request: gr.Request, progress=gr.Progress()):
        picture = draw(ctx.model, prompt)                    # InputError -> the status line, the picture kept
        return {ui.picture: picture, ui.status: f"Done: {prompt}."}

The API sees the handler as gradio does: its parameters after the bound ones (ctx, ui) are the endpoint's, in the
inputs' order, and its docstring becomes the endpoint's description: keep both as they are (tests/ui/
test_view_api.py compares the whole API with a stored copy). Events that show no text and need no status line
(a click that copies a value) may be bound with gradio directly.
"""
from __future__ import annotations

import functools
import inspect
import logging
from dataclasses import dataclass, field
from typing import Callable

import gradio as gr

from explorer.errors import InputError, ModelLoadError
from explorer.messages import say
from explorer.ui import gradio_compat
from explorer.ui.components import _NamedErrors, _field_name
from explorer.ui.files import publish_value
from explorer.ui.i18n import ENGLISH, SessionProgress, label_in, page_language, shown
from explorer.ui.media import client_of
from explorer.ui.messages import Catalogue, catalogue

log = logging.getLogger("explorer.ui")
RESULTS = ("Image", "Gallery", "Plot", "HTML", "Dataframe", "Video", "File", "Code", "JSON")   # what an event makes


# --------------------------------------------------------------------------- one value, as a session sees it
def session_words(lang: str) -> Catalogue:
    """The message catalogue of `lang` (explorer.ui.messages): the event layer's one call into it."""
    return catalogue(lang)


def render_output(value, component, lang: str):
    """One output value as a session in `lang` reads it: status lines and notes (Markdown), gallery captions, table
    headers and cells, figures' titles and legends translated; English values, and other values, unchanged."""
    words = session_words(lang)
    if words.english:
        return value
    kind = type(component).__name__
    if kind == "Dataframe" and isinstance(value, list) and getattr(component, "headers", None):
        value = {"headers": list(component.headers), "data": value}         # rows returned without their headers
    return shown(value, kind, words)


def refusal(error: Exception, words: Catalogue | None = None, labels: dict[str, str] | None = None) -> str:
    """A refused request as the status line shows it: one bold line, a multi-line message (an expression with
    its caret under the fault) in a monospaced block so the caret stays under the character it points at.
    `words`: a session's other language (explorer.ui.messages), `labels` naming fields as its page does."""
    if words is not None and not words.english:
        return words.refusal(words.message(error, labels))
    text = getattr(error, "message", None) or str(error)
    if "\n" in text:
        first, rest = text.split("\n", 1)
        return say("error.refusal_block", first=first, rest=rest)
    return say("error.refusal", message=text)


# --------------------------------------------------------------------------- errors
def as_gr_error(error: Exception, name: str) -> gr.Error:
    """The library's user-facing errors as gr.Error (their own words); anything else as one line without paths
    (the whole story in the server's log)."""
    if isinstance(error, (InputError, ModelLoadError)):
        return gr.Error(str(error), print_exception=False)
    log.exception("unexpected error in %s", name)
    return gr.Error(say("error.unexpected", detail=type(error).__name__), print_exception=False)


def _results(fn, args, kwargs, name: str):
    """fn's return value (once) or yielded values (each), errors as gr.Error."""
    try:
        if inspect.isgeneratorfunction(fn):
            yield from fn(*args, **kwargs)
        else:
            yield fn(*args, **kwargs)
    except gr.Error:
        raise
    except Exception as error:  # noqa: BLE001 - every error becomes a message, the server stays up
        raise as_gr_error(error, name) from error


def guard(fn):
    """fn with the library's errors raised as gr.Error (for handlers bound without wrap_handler)."""
    if inspect.isgeneratorfunction(fn):
        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            yield from _results(fn, args, kwargs, fn.__name__)
    else:
        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            return next(_results(fn, args, kwargs, fn.__name__))
    return wrapper


# --------------------------------------------------------------------------- {component: value} and positions
def as_list(components) -> list:
    if components is None:
        return []
    return list(components) if isinstance(components, (list, tuple)) else [components]


def _is_component(key) -> bool:
    return isinstance(key, gr.blocks.Block)


def by_component(out, outputs: list) -> dict:
    """A handler's value as {component: value}: a dict by component as it is ({} changes nothing), one value for
    a single output, else one value per output in order; a lone gr.skip() keeps every output."""
    if isinstance(out, dict) and all(_is_component(key) for key in out):
        return dict(out)
    if len(outputs) == 1:
        return {outputs[0]: out}
    if isinstance(out, dict) and out == gr.skip():
        return {}
    if not isinstance(out, (tuple, list)) or len(out) != len(outputs):
        raise ValueError(f"a handler of {len(outputs)} outputs returned {type(out).__name__}: return "
                         "{component: value} for the outputs it changes")
    return dict(zip(outputs, out))


def in_order(values: dict, outputs: list, strict: bool = True):
    """{component: value} as gradio's positional value for `outputs` (an output left out: gr.skip(), kept).
    `strict`: a component that is not an output is an error (else left out: an API twin has no status line)."""
    unknown = [key for key in values if key not in outputs]
    if unknown and strict:
        raise ValueError(f"returned {unknown[0]} which is not an output of this event")
    ordered = tuple(values.get(component, gr.skip()) for component in outputs)
    return ordered[0] if len(outputs) == 1 else ordered


# --------------------------------------------------------------------------- the request and progress gradio fills
def receiving_request(fn, wrapper):
    """`wrapper` (functools.wraps of fn) made to look to gradio like fn with a `request` (gradio_compat.accepting_request:
    gradio fills gr.Request, gr.EventData and gr.Progress where the handler asks for them). Returns (wrapper,
    split): split(args, kwargs) -> (fn's args, fn's kwargs, the request)."""
    names = list(inspect.signature(fn).parameters)
    wrapper = gradio_compat.accepting_request(fn, wrapper)
    if "request" in names:
        at = names.index("request")

        def split(args, kwargs):
            return args, kwargs, kwargs["request"] if "request" in kwargs else (args[at] if len(args) > at else None)
        return wrapper, split

    def split(args, kwargs):
        kwargs = dict(kwargs)
        request = kwargs.pop("request", None)
        if len(args) > len(names):
            request, args = args[len(names)], args[:len(names)]
        return args, kwargs, request
    return wrapper, split


def progress_in(fn):
    """fn's gr.Progress parameter, found by its default as gradio finds it. Returns in_words(args, kwargs, lang) ->
    (args, kwargs) with that argument a SessionProgress in `lang` (unchanged for English)."""
    found = [(i, p.name) for i, p in enumerate(inspect.signature(fn).parameters.values())
             if isinstance(p.default, gr.Progress)]

    def in_words(args, kwargs, lang: str):
        words = session_words(lang)
        if not found or words.english:
            return args, kwargs
        at, name = found[0]
        if name in kwargs:
            return args, {**kwargs, name: SessionProgress(kwargs[name], words)}
        if len(args) > at:
            return (*args[:at], SessionProgress(args[at], words), *args[at + 1:]), kwargs
        return args, kwargs
    return in_words


def name_of(fn) -> str:
    """A handler's name (a functools.partial's is its function's): tests and logs find events by it."""
    return fn.__name__ if hasattr(fn, "__name__") else name_of(fn.func)


# --------------------------------------------------------------------------- the one wrapper
def wrap_handler(fn, outputs, status=None, *, page: bool = True, publish: bool = True, fields: dict | None = None,
                 language: Callable | None = None):
    """fn (plain or generator, returning {component: value} or one value per output) as a gradio handler.

    `page`: text and progress in the session's language (`language(request)`, default: the browser's), else
    English (an API twin). `status`: where a refusal goes (every other output kept); a status that is not one of
    `outputs` is appended after them and cleared on success; without one, errors are raised (gr.Error).
    `fields`: field name -> input component, so a refusal names a field by its label on the page. `publish`:
    pictures and files for the calling client (explorer.ui.files)."""
    own = as_list(outputs)
    appended = status is not None and status not in own
    shown_outputs = [*own, status] if appended else own
    in_words, name = progress_in(fn), name_of(fn)
    lang_of = (language or page_language) if page else (lambda request: ENGLISH)

    def results(args, kwargs):
        args, kwargs, request = split(args, kwargs)
        lang = lang_of(request)
        args, kwargs = in_words(args, kwargs, lang)
        client = client_of(request) if publish else None
        try:
            for out in _results(fn, args, kwargs, name):
                values = by_component(out, own)
                if appended:
                    values.setdefault(status, "")
                yield in_order(_shown(values, lang, client), shown_outputs, strict=page)
        except gr.Error as error:
            if status is None:
                raise
            yield in_order({status: refusal(error, session_words(lang), _labels(fields, lang))}, shown_outputs)

    if inspect.isgeneratorfunction(fn):
        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            yield from results(args, kwargs)
    else:
        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            return next(results(args, kwargs))
    wrapper.__name__ = name                        # a functools.partial has none: gradio names the event by it
    if isinstance(fn, functools.partial):           # functools.wraps took the partial's own docstring
        wrapper.__doc__ = fn.func.__doc__
    wrapper, split = receiving_request(fn, wrapper)
    return wrapper


def _shown(values: dict, lang: str, client: str | None) -> dict:
    """Each value in `lang`, its pictures and files published for `client` (where known)."""
    values = {component: render_output(value, component, lang) for component, value in values.items()}
    if client is None:
        return values
    return {component: publish_value(value, component, client) if value is not None else value
            for component, value in values.items()}


def _labels(fields: dict | None, lang: str) -> dict[str, str] | None:
    """Field name -> its label on a page in `lang` (None for English: messages name fields by their names)."""
    if lang == ENGLISH or not fields:
        return None
    return {name: label_in(component.label, lang) for name, component in fields.items() if component.label}


def named_fields(inputs: list) -> dict:
    """Field name -> the validating input that names it (the first, where two share a name)."""
    fields = {}
    for component in inputs:
        if isinstance(component, _NamedErrors):
            fields.setdefault(_field_name(component), component)
    return fields


# --------------------------------------------------------------------------- binding events
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


def listen(triggers, fn, inputs, outputs, *, status, api_name: str | None = None, pending: list | None = None,
           view: View | None = None, views: dict | None = None, language: Callable | None = None, **kwargs):
    """Bind a handler twice: for the page (private; errors land in `status`, beside the button, and keep every
    other output; text in the session's language, `language(request)`) and, under `api_name`, for API clients (an
    invisible twin button: errors are raised, so gradio_client and HTTP callers get them as errors; English).
    Returns the page's event: handlers chained with .then show their text in the session's language too."""
    own, given = as_list(outputs), as_list(inputs)
    page_outputs = own if status in own else [*own, status]
    page_fn = wrap_handler(fn, own, status, fields=named_fields(given), language=language)
    page_kwargs = {"show_progress_on": progress_on(page_outputs, status), **kwargs}
    event = PageEvent(gr.on(as_list(triggers), page_fn, inputs, page_outputs, api_visibility="private",
                            **page_kwargs), language, view)
    if view is not None and views is not None:
        view.fn, view.raw, view.status = page_fn, wrap_handler(fn, own, page=False, publish=False), status
        view.inputs, view.outputs, view.raw_outputs = given, page_outputs, own
        views[view.name] = view
    if api_name:
        api_twin(fn, inputs, outputs, api_name, pending=pending, **kwargs)
    return event


def progress_on(outputs: list, status) -> list:
    """Where a page event's progress overlay goes: over its results (pictures, plots, tables), never over the status
    line (whose own text would show under the overlay's: two texts on top of each other) nor over a field the
    user types into or the lesson demonstrates (the expression box, the seed); the status line when there is
    nothing else."""
    results = [c for c in outputs if c is not status and type(c).__name__ in RESULTS and c.visible is not False]
    return results or [status]


class PageEvent:
    """A page event (gradio's Dependency): `.then(fn, inputs, outputs)` runs fn through wrap_handler too (its text
    in the session's language, its pictures published); everything else is the event's own. The event's view
    (if any) records what is chained, so the lesson's "show me" runs it too (the attention maps after a generation)."""

    def __init__(self, event, language: Callable | None = None, view: View | None = None):
        self.event, self.language, self.view = event, language, view

    def then(self, fn, inputs=None, outputs=None, **kwargs):
        shown = wrap_handler(fn, outputs, language=self.language) if outputs else fn
        if self.view is not None:
            self.view.then.append((shown, inputs, outputs, kwargs))
        return self.event.then(shown, inputs, outputs, **kwargs)

    def __getattr__(self, name):
        return getattr(self.event, name)


def api_twin(fn, inputs, outputs, api_name: str, pending: list | None = None, **kwargs) -> None:
    """An endpoint for API clients only, on an invisible button: errors raised as errors, outputs as given, English.
    With `pending`, the button is rendered later by whoever holds the list (gr.Tabs may hold only tabs)."""
    twin = gr.Button(visible=False, elem_classes=["api-twin"], render=pending is None)
    twin.click(wrap_handler(fn, outputs, page=False), inputs, outputs, api_name=api_name, **kwargs)
    if pending is not None:
        pending.append(twin)
