"""Per-user state on one shared server: each browser session's lists, stop flag and queue share.

A class shares one process. Whatever a user uploads, makes or stops belongs to that user's session
(gradio's session hash, one per page load): another session cannot name it, read it or stop it.
Sessions are kept in a bounded store (the oldest is dropped) and freed when the page is closed.
"""
from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field

from explorer.cache import LRUCache
from explorer.concepts.vocabularies import Shelf
from explorer.errors import InputError
from explorer.ui.i18n import page_language
from explorer.ui.messages import catalogue


@dataclass
class Session:
    """One user's state: a stop flag for their running request, and their own vocabularies."""

    shelf: Shelf
    stop: threading.Event = field(default_factory=threading.Event)


class Sessions:
    """Sessions by gradio session hash, at most `size` of them (least recently used dropped)."""

    def __init__(self, size: int, max_lists: int, shared: Shelf):
        self._store = LRUCache(size)
        self.max_lists, self.shared = max_lists, shared

    def get(self, request) -> Session:
        key = getattr(request, "session_hash", None) or "no-session"
        return self._store.get(key, lambda: Session(Shelf(self.max_lists, shared=self.shared)))

    def drop(self, request) -> None:
        """Forget a session (its page was closed): its lists and flags are freed."""
        key = getattr(request, "session_hash", None)
        if key is not None:
            self._store.pop(key)


class Deadline:
    """A time limit for one request: `expired` once `seconds` have passed since it was made."""

    def __init__(self, seconds: float | None):
        self.seconds, self.started, self.hit = seconds, time.monotonic(), False

    @property
    def expired(self) -> bool:
        return self.seconds is not None and time.monotonic() - self.started > self.seconds

    def note(self) -> str:
        return (f" Stopped at the time limit of {self.seconds:.0f} s per request on this machine (so that one "
                "request cannot hold the shared queue); what was finished is kept.") if self.hit else ""


def limit_queue_per_session(demo, limit: int) -> None:
    """Refuse a request when its session already has `limit` requests waiting or running (a fair queue).

    gradio's queue counts all users together; this wraps its `push` (gradio internals: `_queue`,
    `active_jobs`, `event_queue_per_concurrency_id`) to count one session's events. The refusal speaks the
    page's language (--lang as launched, i.e. demo.i18n_instance.forced, else the browser's).
    """
    queue = demo._queue
    original = queue.push

    def pending(session: str) -> int:
        waiting = sum(1 for q in queue.event_queue_per_concurrency_id.values() for e in q.queue
                      if e.session_hash == session)
        running = sum(1 for job in queue.active_jobs if job for e in job if e.session_hash == session and e.alive)
        return waiting + running

    async def push(body, request, username):
        session = getattr(body, "session_hash", None)
        if session is not None and pending(session) >= limit:
            error = InputError("queue", f"at most {limit} requests of yours waiting or running at once (a shared "
                               "queue: wait for one to finish, or press Stop)", f"request number {limit + 1}")
            forced = getattr(getattr(demo, "i18n_instance", None), "forced", None)
            message = catalogue(page_language(request, forced)).error(error)
            # answered as a validation error (HTTP 422): gradio's clients show its message, naming the field
            detail = [{"__type__": "validate", "is_valid": False, "parameter_name": "queue",
                       "message": message.split(": ", 1)[1]}]
            return False, detail, "validator_error"
        return await original(body, request, username)

    queue.push = push


def still_wanted(demo, request) -> bool:
    """False once the user who asked has cancelled or disconnected (gradio marks their events not alive)."""
    queue = getattr(demo, "_queue", None)
    session = getattr(request, "session_hash", None)
    if queue is None or session is None:
        return True
    jobs = [e for job in (getattr(queue, "active_jobs", None) or []) if job for e in job
            if getattr(e, "session_hash", None) == session]
    return not jobs or any(getattr(e, "alive", True) for e in jobs)
