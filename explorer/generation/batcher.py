"""A classroom on one machine: users' Generate requests that fit together share one UNet call.

Thirty students press Generate at once. Run one after another, the last waits for twenty-nine
generations; here a worker thread takes the oldest waiting request and every waiting request that
can share its batch (same steps, guidance, size, scheduler and preview decoder; plain or arithmetic
recipes — an AND blend runs its own loop), up to `size` of them, and runs them together
(generation.together): each user gets their own step previews, Stop and maps, and the pixels of a
solo run. While a request waits, its position and an estimate of the wait are reported; a Stop while it
waits takes it out of the queue at once (within WAIT_REPORT_S), with nothing run and nothing to save.
"""
from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field
from typing import Callable

from explorer import workers
from explorer.config import ExplorerConfig
from explorer.generation.conditioning import conditioning_for
from explorer.generation.generate import Generation, generate
from explorer.generation.together import generate_together
from explorer.messages import say

log = logging.getLogger("explorer.batcher")
WAIT_REPORT_S = 0.5          # how often a waiting request hears its position
LONE_WAIT_S = 0.05           # a lone request waits this long (a second click within it makes it a class)
CLASS_MEMORY_S = 60.0        # another request within this many seconds: a class is at work, batches wait for clicks


@dataclass
class Waiting:
    """What a waiting user is told: how many requests are ahead and about how long until theirs starts."""

    ahead: int                   # requests that start before this one (running or waiting)
    seconds: float | None        # estimated wait until this request starts; None before anything was measured
    batch: int                   # images in the batch this request will join (1 = alone)

    def sentence(self) -> str:
        if self.seconds is not None:
            text = say("batcher.waiting", n=self.ahead, s=self.seconds)
        else:
            text = say("batcher.waiting_unmeasured", n=self.ahead)
        if self.batch > 1:
            text += say("batcher.together", n=self.batch - 1)
        return text


@dataclass
class _Request:
    recipe: object
    on_step: Callable | None
    cancel: threading.Event | None
    attention: bool
    watch: bool
    submitted: float = field(default_factory=time.monotonic)
    started: bool = False
    done: threading.Event = field(default_factory=threading.Event)
    result: Generation | None = None
    error: BaseException | None = None

    @property
    def key(self) -> tuple:
        """Requests with equal keys can share a batch."""
        r = self.recipe
        return (r.steps, float(r.guidance), r.width, r.height, r.scheduler, r.preview if self.watch else None,
                self.watch, self.attention)


class Batcher:
    """Runs Generate requests of many users in batches of compatible ones (one worker thread per model)."""

    def __init__(self, model, config: ExplorerConfig | None = None, size: int | None = None,
                 window_s: float | None = None):
        self.model, self.config = model, config or ExplorerConfig()
        self.size = size or self.config.classroom_batch
        self.window_s = self.config.batch_window_s if window_s is None else window_s
        self._pending: list[_Request] = []
        self._arrivals: list[float] = []                   # when requests came in (the last CLASS_MEMORY_S seconds)
        self._running: list[_Request] = []
        self._run_started, self._run_steps, self._run_done = 0.0, 1, 0
        self._step_seconds: dict[tuple, float] = {}        # (key, batch size) -> seconds per step, last measured
        self._lock = threading.Condition()
        self.batches: list[int] = []                       # sizes of the batches run so far (for tests, benches)
        self._closed = False
        workers.start(self._work, "batcher", stop=self.close)

    def close(self) -> None:
        """Stop the worker after the batch it runs (at exit: explorer.workers); requests still waiting are refused."""
        with self._lock:
            self._closed = True
            for r in self._pending:
                r.error = RuntimeError("the app is stopping")
                r.done.set()
            self._pending.clear()
            self._lock.notify_all()

    # 1. the caller's side: submit, wait (hearing the position), get the result or the error
    def generate(self, recipe, *, on_step: Callable | None = None, cancel: threading.Event | None = None,
                 attention: bool = False, watch: bool = True,
                 on_wait: Callable[[Waiting], None] | None = None) -> Generation:
        request = _Request(recipe, on_step, cancel, attention, watch)
        with self._lock:
            if self._closed:
                raise RuntimeError("the app is stopping")            # no worker would take it
            self._pending.append(request)
            self._arrivals = [t for t in self._arrivals if request.submitted - t < CLASS_MEMORY_S] + [request.submitted]
            self._lock.notify_all()
        while not request.done.wait(WAIT_REPORT_S):
            if request.cancel is not None and request.cancel.is_set() and self._withdraw(request):
                return _stopped(request)               # stopped while waiting: nothing ran, nothing to keep
            if on_wait is not None and not request.started:
                on_wait(self.waiting(request))
        if request.error is not None:
            raise request.error
        return request.result

    def _withdraw(self, request: _Request) -> bool:
        """Take a request that has not started out of the queue (False: it is running, its run stops it)."""
        with self._lock:
            if request.started or request not in self._pending:
                return False
            self._pending.remove(request)
            self._lock.notify_all()
            return True

    def waiting(self, request: _Request) -> Waiting:
        """Position and estimated wait of a waiting request: the running batch's rest, then the batches before it."""
        with self._lock:
            if request.started or request not in self._pending:
                return Waiting(0, 0.0, 1)
            batches, seconds = self._plan(), None
            running_left = self._left_of_running()
            ahead, total = len(self._running), running_left
            for batch in batches:
                if request in batch:
                    seconds = total
                    return Waiting(ahead, seconds, len(batch))
                ahead += len(batch)
                cost = self._estimate(batch)
                total = None if total is None or cost is None else total + cost
            return Waiting(ahead, total, 1)

    @property
    def running(self) -> int:
        """Requests in the batch on the model now (0 when idle)."""
        return len(self._running)

    # 2. the worker: the oldest request and every compatible one, up to `size`, after a short window
    def _plan(self) -> list[list[_Request]]:
        """How the waiting requests would be batched now, in order (the oldest request leads each batch)."""
        rest, batches = list(self._pending), []
        while rest:
            batch = [r for r in rest if r.key == rest[0].key][:self.size]
            batches.append(batch)
            rest = [r for r in rest if r not in batch]
        return batches

    def _work(self) -> None:
        while True:
            with self._lock:
                while not self._pending and not self._closed:
                    self._lock.wait()
                if self._closed:
                    return
                leader = self._pending[0]
                # a class at work (another request within the last minute): let its other clicks arrive, until
                # the batch is full or the window has passed; a lone user starts (almost) at once
                while True:
                    window = self.window_s if self._class_at_work(leader) else min(self.window_s, LONE_WAIT_S)
                    wait = leader.submitted + window - time.monotonic()
                    if wait <= 0 or len(self._plan()[0]) >= self.size:
                        break
                    self._lock.wait(wait)
                batch = self._plan()[0]
                for r in batch:
                    self._pending.remove(r)
                    r.started = True
                for r in [r for r in batch if r.cancel is not None and r.cancel.is_set()]:   # stopped in the window
                    batch.remove(r)
                    r.result = _stopped(r)
                    r.done.set()
                if not batch:
                    continue
                self._running = batch
                self._run_started, self._run_steps, self._run_done = time.monotonic(), batch[0].recipe.steps, 0
            try:
                self._run(batch)
            finally:
                with self._lock:
                    if self._run_done:
                        per_step = (time.monotonic() - self._run_started) / self._run_done
                        self._step_seconds[(batch[0].key, len(batch))] = per_step
                    self._running = []
                    self.batches.append(len(batch))

    def _class_at_work(self, leader: _Request) -> bool:
        recent = [t for t in self._arrivals if leader.submitted - t < CLASS_MEMORY_S]
        return len(recent) > 1

    def _run(self, batch: list[_Request]) -> None:
        def stepped(i: int) -> None:
            self._run_done = i + 1

        try:
            if len(batch) == 1:
                r = batch[0]
                r.result = generate(self.model, r.recipe, on_step=_counting(r.on_step, stepped), cancel=r.cancel,
                                    watch=r.watch, config=self.config, attention=r.attention)
                r.done.set()
                return
            ready, alone = [], []
            for r in batch:                       # one bad recipe fails alone, not its batch
                try:
                    conditioning = conditioning_for(self.model, r.recipe)
                except Exception as error:  # noqa: BLE001 - handed to that request's caller
                    r.error = error
                    r.done.set()
                    continue
                (alone if conditioning.composable or conditioning.scheduled else ready).append((r, conditioning))
            for r, _ in alone + (ready if len(ready) == 1 else []):    # AND, prompt editing, one: solo runs
                self._run([r])
            if len(ready) < 2:
                return
            results = generate_together(self.model, [r.recipe for r, _ in ready], [c for _, c in ready],
                                        on_steps=[r.on_step for r, _ in ready], cancels=[r.cancel for r, _ in ready],
                                        watch=ready[0][0].watch, attention=ready[0][0].attention,
                                        config=self.config, after_step=stepped)
            for (r, _), result in zip(ready, results):
                r.result = result
                r.done.set()
        except Exception as error:  # noqa: BLE001 - every caller of the batch hears it
            log.exception("a batch of %d failed", len(batch))
            for r in batch:
                if not r.done.is_set():
                    r.error = error
                    r.done.set()

    # 3. estimates from what was measured
    def _left_of_running(self) -> float | None:
        if not self._running:
            return 0.0
        if not self._run_done:
            cost = self._estimate(self._running)
            return None if cost is None else max(0.0, cost - (time.monotonic() - self._run_started))
        per_step = (time.monotonic() - self._run_started) / self._run_done
        return per_step * (self._run_steps - self._run_done)

    def _estimate(self, batch: list[_Request]) -> float | None:
        """Seconds a batch will take: its steps x the last measured seconds per step for its settings (the
        nearest batch size measured, scaled by the number of images)."""
        key = batch[0].key
        sizes = [(size, s) for (k, size), s in self._step_seconds.items() if k == key]
        if not sizes:
            return None
        size, seconds = min(sizes, key=lambda item: abs(item[0] - len(batch)))
        return seconds * max(1.0, len(batch) / size) * batch[0].recipe.steps


def _stopped(request: _Request) -> Generation:
    """The answer to a request stopped before it reached the model: no steps, no image (nothing is saved)."""
    return Generation(None, request.recipe, [], cancelled=True)


def _counting(on_step: Callable | None, stepped: Callable[[int], None]) -> Callable:
    """An on_step that also tells the batcher how far the run is (for the estimates of waiting users)."""
    def report(preview) -> None:
        stepped(preview.index)
        if on_step is not None:
            on_step(preview)
    return report
