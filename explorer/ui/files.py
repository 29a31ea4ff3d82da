"""Files between the page and the server: uploads checked before anything reads them, files served to one user,
and the pictures and files of a handler's outputs published for the client that asked (explorer.ui.media)."""
from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image as PILImage

from explorer.config import ExplorerConfig
from explorer.errors import InputError
from explorer.messages import say
from explorer.ui.media import MEDIA


def check_upload(field_name: str, path, config: ExplorerConfig) -> Path:
    """An uploaded file within the size limit (checked before anything reads it)."""
    path = Path(str(path))
    if not path.is_file():
        raise InputError(field_name, say("server.file.an_upload"), path.name)
    size = path.stat().st_size
    if size > config.max_upload_bytes:
        raise InputError(field_name, say("server.file.max_bytes", n=config.max_upload_bytes),
                         say("server.file.bytes", n=size))
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


def publish_value(value, component, client: str):
    """One output value with its pictures and files published for `client` (explorer.ui.media: written once, linked
    for that client only; gradio would otherwise write a returned PIL image into its shared cache at every return,
    truncating the file while browsers fetch it). Values of other components, and other values, as they are."""
    kind = type(component).__name__
    if kind not in FILE_KINDS or value is None:
        return value
    if isinstance(value, dict):                                             # gr.update(value=...), gr.skip()
        return {**value, "value": publish_value(value["value"], component, client)} if "value" in value else value
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
