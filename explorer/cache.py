"""A small thread-safe least-recently-used store: every cache in the explorer has a bound."""
from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Callable, Hashable, TypeVar

T = TypeVar("T")


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

    def peek(self, key: Hashable, default=None):
        """The value without computing or reordering (None when missing)."""
        with self._lock:
            return self._items.get(key, default)
