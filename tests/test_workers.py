"""explorer.workers: a thread still running a model when Python exits is stopped and waited for, so the process ends
normally; a plain daemon thread in torch at exit aborts it ("terminate called without an active exception", exit
status 134: seen at the end of a test run, and when the app was stopped during a generation)."""
from __future__ import annotations

import subprocess
import sys
import threading
from pathlib import Path

import pytest

from explorer import workers
from explorer.generation.recipe import recipe_defaults

ROOT = Path(__file__).resolve().parents[1]
BUSY_AT_EXIT = """
import threading, time, torch
from explorer import workers
stop = threading.Event()
def job():
    x = torch.randn(256, 256)
    while not stop.is_set():
        x = (x @ x).tanh() + 1          # torch releases the GIL here: where the interpreter's exit caught it
workers.start(job, "job", stop=stop)
time.sleep(0.5)
"""


def test_a_model_thread_busy_at_exit_lets_the_process_end_normally():
    """Its own process: what is tested is the interpreter's exit (without explorer.workers: 134, 3 runs of 3)."""
    done = subprocess.run([sys.executable, "-c", BUSY_AT_EXIT], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and "terminate called" not in done.stderr, done.stderr[-2000:]


def test_stop_all_stops_each_thread_its_own_way_and_names_what_still_runs():
    event, called, release = threading.Event(), threading.Event(), threading.Event()
    mine = [workers.start(event.wait, "waits-for-its-event", stop=event),
            workers.start(lambda: called.wait(), "waits-for-its-callable", stop=called.set),
            workers.start(release.wait, "cannot-be-stopped")]
    stuck = mine[-1]
    # only these three: the process's shared test apps keep their batchers (stopping every thread stopped them, and
    # the next generation in that process waited for a batcher that was gone)
    assert workers.stop_all(wait_s=0.5, only=mine) == ["cannot-be-stopped"]
    assert event.is_set() and called.is_set() and stuck.is_alive()
    release.set()
    stuck.join(5)
    assert stuck not in workers.live()


def test_a_closed_batcher_ends_its_worker_and_refuses_new_requests(tiny_model):
    from explorer.generation.batcher import Batcher

    before = set(workers.live())
    batcher = Batcher(tiny_model, window_s=0.0)
    worker, = [t for t in workers.live() if t not in before]
    batcher.close()
    worker.join(5)
    assert not worker.is_alive()
    with pytest.raises(RuntimeError, match="stopping"):         # refused at once, not left waiting for no worker
        batcher.generate(recipe_defaults(tiny_model, "a red circle", steps=1), watch=False)
