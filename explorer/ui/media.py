"""Files the app hands to browsers and API clients: written once, never rewritten while readable, and linked only for
the client that made them.

Why (issue 26, item 2): gradio 6.31 saves every PIL image an event returns with `processing_utils.save_pil_to_cache`,
which writes `<cache>/<content hash>/image.png` with `Path.write_bytes`: open-and-truncate, then write, every time the
same picture is returned again. A streamed step gallery returns every earlier step at every update, so each earlier
picture was truncated and rewritten while browsers were fetching it: the file route had sent `Content-Length` from
its size, then found 0 bytes (`h11 LocalProtocolError: Too little data for declared Content-Length`, the browser's
`net::ERR_CONTENT_LENGTH_MISMATCH`); fetched later, the file was whole again. Four classmates with the same recipe
rewrote one another's files too (one content-hash folder for everyone).

So: (1) the pictures and files our handlers return are published here once each, under a temporary name and renamed
into place, and never written again (a step picture is published when its step arrives; later updates send the
same link, which gradio's diffs then do not resend); (2) gradio's own cache writers are made write-once the same way
for every image this app does not publish itself (`make_gradio_cache_write_once`); (3) a published file lives in the
folder of the client that made it (a keyed hash of a random cookie this app gives each browser or API client), and
`ScopedFiles` answers 404 to any other client and to requests without that cookie. gradio_client keeps the cookie it
is given with the app's config, so its downloads work as before; a raw HTTP caller keeps cookies (curl -b/-c).

gradio's internals for files (its cache folder and cache writers) are reached through explorer.ui.gradio_compat (house
style 18), which tests/ui/test_gradio_compat.py checks against the pinned gradio; tests/ui/test_media.py checks the
behaviour here.
"""
from __future__ import annotations

import hashlib
import hmac
import io
import os
import re
import secrets
import tempfile
import threading
from pathlib import Path

import numpy as np
from PIL import Image as PILImage

from explorer.cache import write_atomic
from explorer.ui import gradio_compat

COOKIE = "explorer_client"                      # the random id this app gives each browser or API client
_COOKIE_VALUE = re.compile(r"^[A-Za-z0-9_-]{16,64}$")
_FILE_ROUTE = "/file="                           # gradio's file route: <root path>/gradio_api/file=<path>


class Media:
    """Where published files live: <gradio cache>/explorer-<random>/<client folder>/<content hash>/<name>.

    Inside gradio's cache folder, so gradio serves the path as it is (no copy, no re-hash) and accepts it back as an
    input when the page sends a result to another view; the client folder is a keyed hash of the client's cookie
    (never the cookie itself: a link must not reveal what lets its holder fetch it)."""

    def __init__(self, root: Path | None = None):
        self._secret = secrets.token_bytes(32)
        self._root = Path(root).resolve() if root is not None else None
        self._lock = threading.Lock()

    @property
    def root(self) -> Path:
        with self._lock:
            if self._root is None:
                base = Path(gradio_compat.upload_folder())      # gradio's cache folder (GRADIO_TEMP_DIR)
                base.mkdir(parents=True, exist_ok=True)
                self._root = Path(tempfile.mkdtemp(prefix="explorer-", dir=base)).resolve()
            return self._root

    def folder(self, client: str) -> str:
        """The client's folder name: a keyed hash of its cookie (unguessable without the server's secret)."""
        return hmac.new(self._secret, client.encode(), hashlib.sha256).hexdigest()[:32]

    def publish(self, value, client: str) -> str:
        """A PIL image, a uint8 picture array or an existing file, as a file of this client's that is never rewritten;
        returns its path. A path already published is returned as it is."""
        if isinstance(value, np.ndarray):
            value = PILImage.fromarray(value)
        if isinstance(value, PILImage.Image):
            buffer = io.BytesIO()
            value.save(buffer, format="PNG")
            data, name = buffer.getvalue(), "image.png"
        else:
            path = Path(str(value)).resolve()
            if path.is_relative_to(self.root):
                return str(path)
            data, name = path.read_bytes(), path.name
        digest = hashlib.sha256(data).hexdigest()[:24]
        target = self.root / self.folder(client) / digest / name
        write_once(target, data)
        return str(target)

    def allows(self, requested: str, client: str | None) -> bool | None:
        """None: the path is not a published file (gradio decides); else whether `client` may fetch it."""
        try:
            path = Path(os.path.abspath(requested)).resolve()
            relative = path.relative_to(self.root)
        except (ValueError, OSError):
            return None
        return bool(client) and len(relative.parts) >= 2 and hmac.compare_digest(relative.parts[0],
                                                                                 self.folder(client))


def write_once(target: Path, data: bytes) -> None:
    """Write `data` to `target` unless it exists, atomically (explorer.cache.write_atomic), so a reader sees the whole
    file or none (names are content hashes: an existing file has these bytes)."""
    if target.exists():
        return
    target.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(target, data)


MEDIA = Media()                                   # one per process: clients' cookies are the process's own


def client_of(request) -> str | None:
    """The client id of a gr.Request (its cookie), or None (no request: a direct call, e.g. a test)."""
    if request is None:
        return None
    cookies = getattr(request, "cookies", None) or {}
    value = cookies.get(COOKIE)
    return value if value and _COOKIE_VALUE.match(value) else None


def _cookie_from(headers) -> str | None:
    for name, value in headers:
        if name == b"cookie":
            for part in value.decode("latin-1").split(";"):
                key, _, content = part.strip().partition("=")
                if key == COOKIE and _COOKIE_VALUE.match(content):
                    return content
    return None


class ScopedFiles:
    """ASGI middleware: every client gets a random id cookie (given to the request it arrives without, so the handler
    that runs for that request already files its results under it), and a published file is served only to the
    client whose folder holds it (404 for everyone else, the same answer as for a file that does not exist)."""

    def __init__(self, app, media: Media | None = None):
        self.app, self.media = app, media or MEDIA

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        client = _cookie_from(scope.get("headers", []))
        path = scope.get("path", "")
        if _FILE_ROUTE in path and self.media.allows(path.split(_FILE_ROUTE, 1)[1], client) is False:
            await send({"type": "http.response.start", "status": 404,
                        "headers": [(b"content-type", b"text/plain"), (b"content-length", b"9")]})
            return await send({"type": "http.response.body", "body": b"Not found"})
        if client is not None:
            return await self.app(scope, receive, send)
        client = secrets.token_urlsafe(24)
        scope = {**scope, "headers": [*scope.get("headers", []), (b"cookie", f"{COOKIE}={client}".encode())]}
        cookie = f"{COOKIE}={client}; Path=/; HttpOnly; SameSite=Lax".encode()

        async def send_with_cookie(message):
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message.get("headers", []), (b"set-cookie", cookie)]}
            await send(message)

        return await self.app(scope, receive, send_with_cookie)


def make_gradio_cache_write_once() -> None:
    """gradio's cache writers for images and bytes (processing_utils.save_pil_to_cache, save_bytes_to_cache), made
    write-once: a file already in the cache under its content hash is not truncated and rewritten while it may be
    served (gradio 6.31 rewrites it with Path.write_bytes at every return of the same picture). The replacement is
    explorer.ui.gradio_compat.write_cache_once's; the writing is write_once's."""
    gradio_compat.write_cache_once(write_once)
