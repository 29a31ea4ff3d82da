"""Background threads that stop before the interpreter does.

A daemon thread still inside torch when Python exits is stopped by the interpreter in the middle of the call: its
`pthread_exit` unwinds through torch's C++ code, `std::terminate` runs and the process aborts ("terminate called
without an active exception", a stack trace, exit status 134). That was seen when the app was stopped during a
generation and at the end of a test run (a test process aborted after its last test, its summary lost). So every
thread that may run a model is started here, with what stops it; at exit (`atexit`, which runs before the
interpreter stops daemon threads) each is asked to stop and given up to EXIT_WAIT_S in all to finish its step.

    workers.start(job, "walk", stop=cancel_event)        # an Event (set at exit) or a callable (called at exit)
"""
from __future__ import annotations

import atexit
import threading
import time
from typing import Callable, Iterable

EXIT_WAIT_S = 20.0          # a step of a real model on a CPU takes seconds; past this, exit goes on regardless

_live: dict[threading.Thread, threading.Event | Callable[[], None] | None] = {}
_lock = threading.Lock()


def start(target: Callable[..., object], name: str, stop: threading.Event | Callable[[], None] | None = None,
          args: tuple = ()) -> threading.Thread:
    """Run target(*args) in a daemon thread that exit stops (`stop`) and waits for; the thread is returned."""
    def run() -> None:
        try:
            target(*args)
        finally:
            with _lock:
                _live.pop(threading.current_thread(), None)

    thread = threading.Thread(target=run, daemon=True, name=name)
    with _lock:
        _live[thread] = stop
    thread.start()
    return thread


def live() -> list[threading.Thread]:
    """The threads started here that have not finished."""
    with _lock:
        return list(_live)


def stop_all(wait_s: float = EXIT_WAIT_S, only: Iterable[threading.Thread] | None = None) -> list[str]:
    """Ask every live thread (or those of `only`) to stop, wait up to wait_s in all; the names of those still running
    are returned. Without `only` it stops the process's apps too (their batchers): that is for exit."""
    with _lock:
        threads = {t: stop for t, stop in _live.items() if only is None or t in set(only)}
    for stop in threads.values():
        if isinstance(stop, threading.Event):
            stop.set()
        elif stop is not None:
            stop()
    deadline = time.monotonic() + wait_s
    for thread in threads:
        thread.join(max(0.0, deadline - time.monotonic()))
    return [thread.name for thread in threads if thread.is_alive()]


atexit.register(stop_all)
