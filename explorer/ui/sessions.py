"""Per-user state on one shared server: each browser session's lists, stop flag and queue share, by client.

A class shares one process. Whatever a user uploads, makes or stops belongs to that user's session
(gradio's session hash, one per page load): another session cannot name it, read it or stop it.
A session belongs to a client (its address: `client_of`), and the limits that keep one person from
wiping or stalling the class count clients, because a script opens as many sessions as it likes:
a client may open so many sessions a minute, keep so many, and have so many requests queued. When the
store is full, the client that holds the most sessions loses its own oldest one, so a flood of sessions
from one address drops that address's sessions, never another user's lists and history. What a session
keeps in memory (attention maps) is counted in bytes, per session and for all sessions together.
"""
from __future__ import annotations

import secrets
import threading
import time
from collections import OrderedDict, deque
from dataclasses import dataclass, field
from typing import Callable

from explorer.concepts.vocabularies import Shelf
from explorer.errors import InputError
from explorer.messages import say
from explorer.ui import gradio_compat
from explorer.ui.i18n import page_language
from explorer.ui.messages import catalogue

UNKNOWN_CLIENT = "unknown"       # a session gradio made before any request told its address (registered later)
MINUTE = 60.0


def client_of(request, trust_proxy: bool = False) -> str:
    """The client behind a request (gradio's or the web framework's): the connection's address. With
    `trust_proxy` (only behind your own reverse proxy), the last address of X-Forwarded-For: the one that proxy
    appended; any earlier ones the client may have written itself."""
    request = getattr(request, "request", None) or request          # gr.Request wraps the framework's request
    if trust_proxy:
        headers = getattr(request, "headers", None) or {}
        forwarded = [part.strip() for part in str(headers.get("x-forwarded-for", "")).split(",") if part.strip()]
        if forwarded:
            return forwarded[-1][:100]
    host = getattr(getattr(request, "client", None), "host", None)
    return str(host) if host else UNKNOWN_CLIENT


@dataclass
class Session:
    """One user's state: a stop flag for their running request, and their own vocabularies."""

    shelf: Shelf
    stop: threading.Event = field(default_factory=threading.Event)
    client: str = UNKNOWN_CLIENT                    # the address that opened it (client_of)


@dataclass
class _Kept:
    session: str
    client: str
    nbytes: int
    value: object


class Sessions:
    """Sessions by gradio session hash: at most `size` in all and `per_client` for one client; when full, the
    client holding the most sessions loses its least recently used one. Values a session keeps (`keep`) are
    counted in bytes: at most `session_bytes` for one session, `total_bytes` for all, the oldest dropped first
    from the client keeping the most bytes."""

    def __init__(self, size: int, max_lists: int, shared: Shelf, *, per_client: int | None = None,
                 new_per_minute: int = 0, trust_proxy: bool = False, session_bytes: int = 4_000_000,
                 total_bytes: int = 512_000_000, clock: Callable[[], float] = time.monotonic):
        self.size, self.per_client = size, min(size, per_client or size)
        self.new_per_minute, self.trust_proxy = new_per_minute, trust_proxy
        self.session_bytes, self.total_bytes = session_bytes, total_bytes
        self.max_lists, self.shared, self._clock = max_lists, shared, clock
        self._sessions: OrderedDict[str, Session] = OrderedDict()       # least recently used first
        self._by_client: dict[str, OrderedDict[str, None]] = {}         # client -> its sessions, oldest first
        self._opened: dict[str, deque] = {}                             # client -> when it opened sessions
        self._kept: OrderedDict[str, _Kept] = OrderedDict()             # token -> value, oldest first
        self.kept_bytes = 0
        self.on_forget: list[Callable[[str], None]] = []                # called with each evicted session's key
        self._lock = threading.RLock()

    # --- sessions and clients ---
    def client(self, request) -> str:
        return client_of(request, self.trust_proxy)

    def get(self, request) -> Session:
        key = getattr(request, "session_hash", None) or "no-session"
        return self._touch(key, self.client(request) if request is not None else UNKNOWN_CLIENT)

    def touch(self, key: str) -> None:
        """A session gradio keeps state for: registered (its client told later by a request), kept in order."""
        self._touch(key, None)

    def admit(self, key: str | None, client: str) -> InputError | None:
        """Before a request of session `key` joins the queue: a session new to the server counts against its
        client's sessions per minute (a refusal is returned, not raised); a known one is marked as used."""
        if key is None:
            return None
        with self._lock:
            if key not in self._sessions and self.new_per_minute:
                now = self._clock()
                if len(self._opened) > 4 * self.size:                   # forget addresses quiet for a minute
                    self._opened = {c: times for c, times in self._opened.items() if now - times[-1] <= MINUTE}
                opened = self._opened.setdefault(client, deque())
                while opened and now - opened[0] > MINUTE:
                    opened.popleft()
                if len(opened) >= self.new_per_minute:
                    return InputError("session", say("server.session.new_per_minute", n=self.new_per_minute),
                                      say("server.session.number", n=len(opened) + 1))
                opened.append(now)
        self._touch(key, client)
        return None

    def _touch(self, key: str, client: str | None) -> Session:
        forgotten = []
        with self._lock:
            session = self._sessions.get(key)
            if session is None:
                session = self._sessions[key] = Session(Shelf(self.max_lists, shared=self.shared),
                                                        client=client or UNKNOWN_CLIENT)
                self._by_client.setdefault(session.client, OrderedDict())[key] = None
            elif client is not None and session.client == UNKNOWN_CLIENT and client != UNKNOWN_CLIENT:
                unknown = self._by_client[UNKNOWN_CLIENT]                   # now we know whose it is
                unknown.pop(key, None)
                if not unknown:
                    del self._by_client[UNKNOWN_CLIENT]
                session.client = client
                self._by_client.setdefault(client, OrderedDict())[key] = None
            self._sessions.move_to_end(key)
            self._by_client[session.client].move_to_end(key)
            forgotten = self._evict(session.client, keep=key)
        for evicted in forgotten:                                           # outside the lock (gradio's state)
            for hook in self.on_forget:
                hook(evicted)
        return session

    def _evict(self, client: str, keep: str) -> list[str]:
        """Drop sessions over the limits: this client's oldest beyond `per_client`, then, while the store is
        full, the oldest session of the client holding the most (never `keep`, the one being used)."""
        evicted = []
        own = self._by_client[client]
        while len(own) > self.per_client:
            evicted.append(self._forget(next(k for k in own if k != keep)))
        while len(self._sessions) > self.size:
            largest = max((c for c, keys in self._by_client.items() if any(k != keep for k in keys)),
                          key=lambda c: (len(self._by_client[c]), c == UNKNOWN_CLIENT))
            evicted.append(self._forget(next(k for k in self._by_client[largest] if k != keep)))
        return evicted

    def _forget(self, key: str) -> str:
        session = self._sessions.pop(key, None)
        if session is not None:
            own = self._by_client.get(session.client)
            if own is not None:
                own.pop(key, None)
                if not own:
                    del self._by_client[session.client]
        for token in [t for t, kept in self._kept.items() if kept.session == key]:
            self.kept_bytes -= self._kept.pop(token).nbytes
        return key

    def drop(self, request) -> None:
        """Forget a session (its page was closed): its lists, flags and kept values are freed."""
        key = getattr(request, "session_hash", None)
        if key is not None:
            with self._lock:
                self._forget(key)

    def __len__(self) -> int:
        return len(self._sessions)

    def __contains__(self, key: str) -> bool:
        return key in self._sessions

    def clients(self) -> dict[str, int]:
        """Sessions kept per client."""
        with self._lock:
            return {client: len(keys) for client, keys in self._by_client.items()}

    # --- values kept in bytes ---
    def keep(self, request, value, nbytes: int, name: str = "value") -> str:
        """Keep a value for this session (replacing its earlier value of that name) and return the token that
        finds it; values beyond the byte budgets are dropped, the oldest first. `nbytes`: what it holds (the
        caller compacts it to at most `session_bytes` first)."""
        if nbytes > self.session_bytes:
            raise ValueError(f"a kept value of {nbytes} bytes is over the {self.session_bytes} bytes of a session")
        session = self.get(request)
        key = getattr(request, "session_hash", None) or "no-session"
        token = f"{name}:{secrets.token_hex(16)}"
        with self._lock:
            for old in [t for t, kept in self._kept.items() if kept.session == key and t.startswith(f"{name}:")]:
                self.kept_bytes -= self._kept.pop(old).nbytes
            self._kept[token] = _Kept(key, session.client, nbytes, value)
            self.kept_bytes += nbytes
            while self.kept_bytes > self.total_bytes and len(self._kept) > 1:
                per_client: dict[str, int] = {}
                for t, kept in self._kept.items():
                    if t != token:                                          # the new value stays
                        per_client[kept.client] = per_client.get(kept.client, 0) + kept.nbytes
                heaviest = max(per_client, key=per_client.get)
                oldest = next(t for t, kept in self._kept.items() if kept.client == heaviest and t != token)
                self.kept_bytes -= self._kept.pop(oldest).nbytes
        return token

    def kept(self, token: str | None):
        """The value a token names, or None once it was dropped (budget, session closed or evicted)."""
        with self._lock:
            kept = self._kept.get(token) if token else None
            return None if kept is None else kept.value


class Deadline:
    """A time limit for one request: `expired` once `seconds` have passed since it was made."""

    def __init__(self, seconds: float | None):
        self.seconds, self.started, self.hit = seconds, time.monotonic(), False

    @property
    def expired(self) -> bool:
        return self.seconds is not None and time.monotonic() - self.started > self.seconds

    def note(self) -> str:
        """The status line's note once the limit was hit (a space, then a keyed sentence: add it with `+`), else ""."""
        return " " + say("server.time_limit", s=self.seconds) if self.hit else ""


def limit_queue_per_session(demo, limit: int) -> None:
    """Refuse a request when its session already has `limit` requests waiting or running (a fair queue).

    gradio's queue counts all users together; this guards its door (explorer.ui.gradio_compat.guard_queue) to count
    one session's events. The refusal speaks the page's language (--lang as launched, else the browser's).
    """
    def pending(session: str) -> int:
        return sum(1 for e in gradio_compat.queued_events(demo)
                   if e.session == session and (e.alive or not e.running))

    def door(arrival: gradio_compat.Arrival):
        if arrival.session is not None and pending(arrival.session) >= limit:
            return _refused(demo, arrival.request, InputError(
                "queue", say("server.queue.per_session", n=limit), say("server.queue.request_number", n=limit + 1)))
        return None

    gradio_compat.guard_queue(demo, door)


def _refused(demo, request, error: InputError) -> tuple[str, str]:
    """A refusal at the queue's door, in the page's language: (field, message), which gradio_compat.guard_queue
    answers as a validation error (HTTP 422): gradio's clients show its message, naming the field."""
    forced = getattr(gradio_compat.i18n_of(demo), "forced", None)
    message = catalogue(page_language(request, forced)).error(error)
    return error.field, message.split(": ", 1)[1]


def limit_per_client(demo, sessions: Sessions, limit: int) -> None:
    """Count clients, not sessions, at the queue's door: a session new to the server counts against its client's
    sessions per minute (Sessions.admit), and a client may have at most `limit` requests waiting or running
    (0: no limit); gradio's state for sessions is kept by the same per-client rule (`keep_state_per_client`).

    Through explorer.ui.gradio_compat: the queue's door (`guard_queue`, as limit_queue_per_session; it runs
    first), the request's session (set here for REST calls, which come without one) and the queued events with
    the web request each came with (for the address).
    """
    def pending(client: str) -> int:
        return sum(1 for e in gradio_compat.queued_events(demo)
                   if (e.alive or not e.running) and sessions.client(e.request) == client)

    def door(arrival: gradio_compat.Arrival):
        keep_state_per_client(demo, sessions)
        client = sessions.client(arrival.request)
        if arrival.session is None:                     # a REST call (/call/<name>): gradio would name its
            arrival.session = secrets.token_hex(16)     # session after the event; named here, it is counted
        refusal = sessions.admit(arrival.session, client)
        if refusal is None and limit and pending(client) >= limit:
            refusal = InputError("queue", say("server.queue.per_client", n=limit),
                                 say("server.queue.request_number", n=limit + 1))
        return None if refusal is None else _refused(demo, arrival.request, refusal)

    gradio_compat.guard_queue(demo, door)


def record_no_analytics(demo) -> None:
    """With monitoring off, keep gradio's queue from recording every event (its function and the user's session) and
    recomputing a pandas summary of up to 10,000 of them after each event: it served only /monitoring
    (explorer.ui.gradio_compat.queue_records_no_analytics)."""
    gradio_compat.queue_records_no_analytics(demo)


def keep_state_per_client(demo, sessions: Sessions) -> None:
    """Let `sessions` decide which sessions' gradio state is kept (once the app is launched; idempotent).

    gradio keeps each session's gr.State values (a user's history, their attention maps' handle) in one global
    least-recently-used store, so a script that opens many sessions pushes everyone else's state out. Through
    explorer.ui.gradio_compat.let_owner_evict_state, gradio's store only keeps the order and registers each access
    with `sessions`; an eviction there drops the session's gradio state too.
    """
    forget = gradio_compat.let_owner_evict_state(demo, sessions, sessions.touch)
    if forget is not None:
        sessions.on_forget.append(forget)


def still_wanted(demo, request) -> bool:
    """False once the user who asked has cancelled or disconnected (gradio marks their events not alive)."""
    session = getattr(request, "session_hash", None)
    if session is None:
        return True
    jobs = [e for e in gradio_compat.queued_events(demo) if e.running and e.session == session]
    return not jobs or any(e.alive for e in jobs)
