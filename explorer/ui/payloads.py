"""Every request's values checked before gradio reads them: how many there are, what a file parameter holds, how
long a text is. A refusal names the endpoint and the parameter, as every other refusal names its field.

Without this, gradio answers a call with too few values, or a file parameter holding a number, a URL, "" or a path
outside its upload folder, with `{"error": null}` (its own message stays hidden without show_error); one value too
many on an endpoint with gr.State inputs shifts them ("needed 12, got 11"); an image above PIL's own limit fails
inside gr.Image's preprocessing (DecompressionBombError); and gr.api endpoints take texts of any length.

    install(demo, config)       # explorer.ui.app.build_demo, once the events are bound

The values are read where gradio's queue and HTTP routes hand them over raw, before any component preprocesses
them: explorer.ui.gradio_compat.wrap_process_api (a gradio internal, checked there against the pinned gradio; gradio's
`validator=` receives values already preprocessed, after the failures above). Files must lie in gradio's upload
folder (gradio_compat.in_upload_folder).
"""
from __future__ import annotations

from pathlib import Path

import gradio as gr

from explorer.config import ExplorerConfig
from explorer.errors import InputError
from explorer.messages import say
from explorer.outputs.png import open_image
from explorer.ui import gradio_compat
from explorer.ui.components import MAX_TEXT_CHARS, _field_name
from explorer.ui.i18n import page_language
from explorer.ui.messages import catalogue

IMAGE_TYPES = (".png", ".jpg", ".jpeg", ".webp", "image")          # a gr.File taking only these is read as an image
# inputs of free text, capped at MAX_TEXT_CHARS (gr.api's str parameters are Textboxes); not gr.HTML or gr.JSON,
# whose values on the page are figures and tables
TEXT_INPUTS = (gr.Textbox, gr.Code, gr.Dropdown, gr.Radio)
FILE_ALLOWED = say("server.file.uploaded")


def install(demo: gr.Blocks, config: ExplorerConfig) -> None:
    """Check each request's values (count, files, text length) before gradio preprocesses them."""
    names: dict[str, list[str]] = {}

    def check(block_fn, inputs: list, request) -> list:
        try:
            return check_values(demo, block_fn, inputs, config, names)
        except InputError as error:
            words = catalogue(page_language(request, config.lang))
            api = _is_api(block_fn)                               # API clients read English; a page its language
            text = str(error) if api or words.english else words.message(error)
            raise gr.Error(text, print_exception=False) from error

    gradio_compat.wrap_process_api(demo, check)


def check_values(demo: gr.Blocks, block_fn, inputs: list, config: ExplorerConfig, names: dict) -> list:
    """The values as gradio should see them (API values without gr.State slots get None there), or an InputError
    naming `/endpoint parameter` (a page's own event: the field, as every other refusal on the page names it)."""
    blocks = list(block_fn.inputs)
    params = [i for i, block in enumerate(blocks) if not block.skip_api]   # skip_api: gr.State, not a parameter
    api = _is_api(block_fn)
    endpoint = f"/{block_fn.api_name}" if api else None

    def field(position: int) -> str:
        if endpoint is None:                                                 # the page: the field's own name
            return _field_name(blocks[params[position]])
        if endpoint not in names:
            names[endpoint] = _parameter_names(demo, endpoint, len(params))
        return f"{endpoint} {names[endpoint][position]}"

    # 1. the count: a value for every parameter, no more (gr.State slots hold None, as gradio_client sends them)
    if len(inputs) == len(params) < len(blocks):
        values = iter(inputs)
        inputs = [next(values) if i in params else None for i in range(len(blocks))]
    states_filled = any(inputs[i] is not None for i, block in enumerate(blocks) if block.skip_api) \
        if len(inputs) == len(blocks) else False
    if len(inputs) != len(blocks) or (api and states_filled):
        given = len(inputs) - (len(blocks) - len(params)) if len(inputs) > len(blocks) else len(inputs)
        received = say("server.values.one" if given == 1 else "server.values.many", n=given)
        listed = ", ".join(field(position).removeprefix(f"{endpoint} ") for position in range(len(params)))
        where = endpoint or "event"
        if given < len(params):
            raise InputError(field(given), say("server.values.each", n=len(params), names=listed), received)
        raise InputError(f"{where} parameters", say("server.values.exact", n=len(params), names=listed), received)
    # 2. each parameter: files where files go, texts within the limit
    for position, i in enumerate(params):
        block, value = blocks[i], inputs[i]
        if isinstance(block, (gr.File, gr.Image)):
            check_file_value(field(position), block, value, config)
        elif isinstance(block, TEXT_INPUTS) and isinstance(value, str) and len(value) > MAX_TEXT_CHARS:
            raise InputError(field(position), say("server.text.max_chars", n=MAX_TEXT_CHARS),
                             say("server.text.chars", n=len(value)))
    return inputs


def check_file_value(field: str, block, value, config: ExplorerConfig) -> None:
    """A file parameter's value: None, or a FileData dict (a list of them where the block takes several) whose path
    lies in gradio's upload folder; an image's header within config.max_image_pixels (read before any decoding).
    Files are named by their own (upload) name, never by the server's folder."""
    if value is None:
        return
    if getattr(block, "file_count", "single") != "single":
        if not isinstance(value, list):
            raise InputError(field, say("server.file.list"), value)
        for item in value:
            _check_one_file(field, block, item, config)
        return
    _check_one_file(field, block, value, config)


def _check_one_file(field: str, block, value, config: ExplorerConfig) -> None:
    if not isinstance(value, dict):
        raise InputError(field, FILE_ALLOWED, value)
    path = value.get("path")
    if not isinstance(path, str) or not path.strip():
        raise InputError(field, FILE_ALLOWED, value.get("url") or say("server.file.no_path"))
    name = Path(str(value.get("orig_name") or path)).name                   # the upload's own name
    if "://" in path or path.startswith("data:"):
        raise InputError(field, FILE_ALLOWED, path)
    if not gradio_compat.in_upload_folder(path) or not Path(path).is_file():
        raise InputError(field, FILE_ALLOWED, name)
    size = Path(path).stat().st_size
    if size > config.max_upload_bytes:
        raise InputError(field, say("server.file.max_bytes", n=config.max_upload_bytes),
                         say("server.file.bytes", n=size))
    types = getattr(block, "file_types", None) or []
    if isinstance(block, gr.Image) or (types and all(kind in IMAGE_TYPES for kind in types)):
        try:
            open_image(path, field, config.max_image_pixels).close()        # the header only: no pixel decoded
        except InputError as error:
            received = name if error.received == Path(path).name else error.received
            raise InputError(field, error.allowed, received, error.hint) from None


def _is_api(block_fn) -> bool:
    """Whether an event is an API endpoint (the page's own events are private; their names are not endpoints)."""
    return bool(getattr(block_fn, "api_name", None)) and getattr(block_fn, "api_visibility", "public") != "private"


def _parameter_names(demo: gr.Blocks, endpoint: str, count: int) -> list[str]:
    """The endpoint's parameter names as its API description lists them (parameter_1 ... for an unnamed event)."""
    try:
        described = demo.get_api_info(all_endpoints=True)["named_endpoints"][endpoint]["parameters"]
        found = [parameter["parameter_name"] for parameter in described]
    except (KeyError, TypeError, AttributeError):
        found = []
    return found if len(found) == count else [f"parameter_{i + 1}" for i in range(count)]
