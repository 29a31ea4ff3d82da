"""The thread bridge: a model's job in a worker thread, its progress streamed to a generator handler."""
from __future__ import annotations

import contextlib
import queue
import threading
import time
from typing import Callable, Iterator

from explorer import workers
from explorer.ui.sessions import Deadline

WATCH_EVERY_S = 0.25        # how often a streaming handler checks its deadline and whether the user is still there


def run_streaming(job: Callable[[Callable[[object], None]], object], name: str, cancel: threading.Event,
                  deadline: Deadline | None = None, wanted: Callable[[], bool] | None = None
                  ) -> Iterator[tuple[str, object]]:
    """Run job(report) in a worker thread; yield ("update", x) for each report(x), then ("done", result).

    A generator handler can then stream a model's progress to the page while the model works; an
    error in the job is raised here, in the handler's thread, where the event layer (explorer.ui.events) turns it into a message.
    `cancel` (which the job must honour at its next step) is set when the deadline passes, when the
    user is no longer `wanted` (cancelled or disconnected), or when this generator is closed early.
    """
    updates: queue.Queue = queue.Queue()
    finished = False

    def work():
        try:
            updates.put(("done", job(lambda item: updates.put(("update", item)))))
        except Exception as error:  # noqa: BLE001 - handed to the handler's thread
            updates.put(("error", error))

    workers.start(work, name, stop=cancel)          # at exit: cancelled, and waited for (explorer.workers)
    try:
        while True:
            try:
                kind, item = updates.get(timeout=WATCH_EVERY_S)
            except queue.Empty:
                kind, item = "idle", None
            if deadline is not None and deadline.expired and not cancel.is_set():
                deadline.hit = True
                cancel.set()
            if wanted is not None and not cancel.is_set() and not wanted():
                cancel.set()
            if kind == "idle":
                continue
            if kind == "error":
                raise item
            yield kind, item
            if kind == "done":
                finished = True
                return
    finally:
        if not finished:             # the handler was closed (the user cancelled or left): stop the model too
            cancel.set()


class Pacer:
    """When a streamed view is worth re-sending: at most every `every` seconds, and never more often than its own
    cost allows. Each update of a step gallery carries every picture so far, and gradio checks and re-links every
    file of it again (~10 ms a picture on 2 cores), so a 40-step gallery costs more per update than a small model's
    step: updates spaced at least `patience` times the last one's cost keep that work under 1 / (1 + patience) of the
    time (a third at 2), however long the gallery grows, while a slow model still shows every step.

        pace = Pacer(0.25)
        for step in steps:
            if pace.due():
                with pace.sending():
                    yield update            # the time until the generator resumes is the update's cost
    """

    def __init__(self, every: float, patience: float = 2.0, clock: Callable[[], float] = time.monotonic):
        self.every, self.patience, self.clock = every, patience, clock
        self.last, self.cost = None, 0.0

    def due(self) -> bool:
        return self.last is None or self.clock() - self.last >= max(self.every, self.patience * self.cost)

    @contextlib.contextmanager
    def sending(self):
        started = self.clock()
        try:
            yield
        finally:
            self.last = self.clock()
            self.cost = self.last - started
