"""A small thread-safe least-recently-used store (every cache in the explorer has a bound), the weights
fingerprint that names a model's folder in the disk caches, and the atomic write every disk cache and job uses."""
from __future__ import annotations

import hashlib
import os
import re
import tempfile
import threading
from collections import OrderedDict
from pathlib import Path
from typing import Callable, Hashable, TypeVar

T = TypeVar("T")

FINGERPRINT_SAMPLE = 8192          # values read from each of the first and last two tensors


class LRUCache:
    """At most `size` values; the least recently used is dropped first. Values are computed outside the lock."""

    def __init__(self, size: int):
        if size < 1:
            raise ValueError(f"LRUCache size must be >= 1, got {size}")
        self.size = size
        self._items: OrderedDict[Hashable, object] = OrderedDict()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._items)

    def __contains__(self, key: Hashable) -> bool:
        with self._lock:
            return key in self._items

    def get(self, key: Hashable, compute: Callable[[], T]) -> T:
        """The value for `key`, computing (and storing) it when missing."""
        with self._lock:
            if key in self._items:
                self._items.move_to_end(key)
                return self._items[key]
        value = compute()                      # outside the lock: encoding may take a while
        self.put(key, value)
        return value

    def put(self, key: Hashable, value) -> None:
        with self._lock:
            self._items[key] = value
            self._items.move_to_end(key)
            while len(self._items) > self.size:
                self._items.popitem(last=False)

    def pop(self, key: Hashable, default=None):
        """Remove and return the value (default when missing)."""
        with self._lock:
            return self._items.pop(key, default)

    def clear(self) -> None:
        """Drop every value (a benchmark's "second start": the next get() computes or reads from disk again)."""
        with self._lock:
            self._items.clear()

    def peek(self, key: Hashable, default=None):
        """The value without computing or reordering (None when missing)."""
        with self._lock:
            return self._items.get(key, default)


def weights_fingerprint(name: str, params: list, extra: str = "") -> str:
    """A cache folder name: the model's name as a safe slug plus a sha256 of `extra`, the architecture (every
    parameter's name and shape) and a sample of the weights (the first and last two tensors).

    `params`: a state_dict's items, [(name, tensor), ...]; e.g. "openai_clip-vit-base-patch32-1a2b3c4d5e6f".
    """
    slug = re.sub(r"[^A-Za-z0-9._-]+", "_", str(name)).strip("_")[-60:] or "model"
    digest = hashlib.sha256(extra.encode())
    for key, tensor in params:                                                   # architecture
        digest.update(f"{key}{tuple(tensor.shape)}".encode())
    for _, tensor in params[:2] + params[-2:]:                                   # a sample of the weights
        digest.update(tensor.detach().flatten()[:FINGERPRINT_SAMPLE].float().cpu().numpy().tobytes())
    return f"{slug}-{digest.hexdigest()[:12]}"


def write_atomic(path: Path, data: bytes) -> None:
    """Write `data` to `path` so that no reader (a later start, a resumed job) sees half a file: a temporary file
    in the same folder, then a rename (atomic on one file system). Raises OSError; leaves no temporary file."""
    handle, temporary = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
    try:
        with os.fdopen(handle, "wb") as file:
            file.write(data)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
