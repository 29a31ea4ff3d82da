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
                    return InputError("session", f"at most {self.new_per_minute} new sessions a minute from one "
                                      "address (each page load or API client opens one: reuse yours)",
                                      f"session number {len(opened) + 1} this minute")
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
            return _refused(demo, request, InputError(
                "queue", f"at most {limit} requests of yours waiting or running at once (a shared queue: wait "
                "for one to finish, or press Stop)", f"request number {limit + 1}"))
        return await original(body, request, username)

    queue.push = push


def _refused(demo, request, error: InputError):
    """A refusal at the queue's door, in the page's language, answered as a validation error (HTTP 422): gradio's
    clients show its message, naming the field."""
    forced = getattr(getattr(demo, "i18n_instance", None), "forced", None)
    message = catalogue(page_language(request, forced)).error(error)
    detail = [{"__type__": "validate", "is_valid": False, "parameter_name": error.field,
               "message": message.split(": ", 1)[1]}]
    return False, detail, "validator_error"


def limit_per_client(demo, sessions: Sessions, limit: int) -> None:
    """Count clients, not sessions, at the queue's door: a session new to the server counts against its client's
    sessions per minute (Sessions.admit), and a client may have at most `limit` requests waiting or running
    (0: no limit); gradio's state for sessions is kept by the same per-client rule (`keep_state_per_client`).

    gradio internals: `Queue.push` (wrapped, as limit_queue_per_session does; a public per-request admission
    hook would replace it), the body's `session_hash` (set for REST calls, which come without one), the queued
    events' `request` (the web framework's request, for the address),
    `event_queue_per_concurrency_id` and `active_jobs` (counted, as above).
    """
    queue = demo._queue
    original = queue.push

    def pending(client: str) -> int:
        events = [e for q in queue.event_queue_per_concurrency_id.values() for e in q.queue]
        events += [e for job in queue.active_jobs if job for e in job if e.alive]
        return sum(1 for e in events if sessions.client(getattr(e, "request", None)) == client)

    async def push(body, request, username):
        keep_state_per_client(demo, sessions)
        client = sessions.client(request)
        if getattr(body, "session_hash", None) is None:     # a REST call (/call/<name>): gradio would name its
            body.session_hash = secrets.token_hex(16)       # session after the event; named here, it is counted
        refusal = sessions.admit(body.session_hash, client)
        if refusal is None and limit and pending(client) >= limit:
            refusal = InputError("queue", f"at most {limit} requests from one address waiting or running at once "
                                 "(a shared queue: wait for one to finish)", f"request number {limit + 1}")
        if refusal is not None:
            return _refused(demo, request, refusal)
        return await original(body, request, username)

    queue.push = push


def record_no_analytics(demo) -> None:
    """With monitoring off, keep gradio's queue from recording every event (its function and the user's session) and
    recomputing a pandas summary of up to 10,000 of them after each event: it served only /monitoring.

    gradio internals: `Queue.ANALYTICS_MAX_EVENTS` (records kept; the queue drops beyond it) and
    `Queue.ANAYLTICS_CACHE_FREQUENCY` (events between summaries; gradio's spelling), which gradio reads from
    GRADIO_ANALYTICS_MAX_EVENTS / GRADIO_ANALYTICS_CACHE_FREQUENCY when the queue is made. `launch(enable_monitoring=
    False)` not recording at all would replace this.
    """
    queue = demo._queue
    queue.ANALYTICS_MAX_EVENTS = 1
    queue.ANAYLTICS_CACHE_FREQUENCY = 2 ** 62


def keep_state_per_client(demo, sessions: Sessions) -> None:
    """Let `sessions` decide which sessions' gradio state is kept (once the app is launched; idempotent).

    gradio keeps each session's gr.State values (a user's history, their attention maps' handle) in one global
    least-recently-used store of `state_session_capacity` sessions, so a script that opens many sessions pushes
    everyone else's state out. gradio internals: `Blocks.state_holder` (a `gradio.state_holder.StateHolder`), its
    `update(session_id)` (called on every access; it evicts) and `session_data` / `time_last_used` (the store).
    Its `update` is replaced on this instance: it only keeps the order, registers the session with `sessions`, and
    an eviction there drops the session's gradio state too. A public hook (a pluggable state store or eviction
    policy in gradio) would replace this.
    """
    holder = getattr(demo, "state_holder", None)
    if holder is None or getattr(holder, "explorer_sessions", None) is sessions:
        return

    def update(session_id: str) -> None:
        with holder.lock:
            if session_id in holder.session_data:
                holder.session_data.move_to_end(session_id)
        sessions.touch(session_id)                      # may evict: forget() below, outside gradio's lock

    def forget(session_id: str) -> None:
        holder.session_data.pop(session_id, None)
        holder.time_last_used.pop(session_id, None)

    holder.update = update
    sessions.on_forget.append(forget)
    holder.explorer_sessions = sessions


def still_wanted(demo, request) -> bool:
    """False once the user who asked has cancelled or disconnected (gradio marks their events not alive)."""
    queue = getattr(demo, "_queue", None)
    session = getattr(request, "session_hash", None)
    if queue is None or session is None:
        return True
    jobs = [e for job in (getattr(queue, "active_jobs", None) or []) if job for e in job
            if getattr(e, "session_hash", None) == session]
    return not jobs or any(getattr(e, "alive", True) for e in jobs)
