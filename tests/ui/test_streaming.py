"""Pacing a streamed view (explorer.ui.streaming.Pacer): updates at most every `every` seconds, and spaced by at least
twice what the last one cost, so re-sending a growing gallery never takes most of the time."""
from __future__ import annotations

from explorer.ui.streaming import Pacer


class Clock:
    def __init__(self):
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def _sent_at(step_s: float, cost_s: float, steps: int, every: float = 0.25) -> list[float]:
    """When a stream of `steps` steps, each `step_s` apart, sends an update that costs `cost_s` to deliver."""
    clock, sent = Clock(), []
    pace = Pacer(every, clock=clock)

    def stream():
        for _ in range(steps):
            clock.now += step_s
            if pace.due():
                with pace.sending():
                    sent.append(clock.now)
                    yield
                    clock.now += cost_s            # the consumer's work on the update, before the generator resumes

    list(stream())
    return sent


def test_a_slow_model_shows_every_step():
    assert len(_sent_at(step_s=1.0, cost_s=0.05, steps=20)) == 20


def test_cheap_updates_of_a_fast_model_come_every_quarter_second():
    sent = _sent_at(step_s=0.05, cost_s=0.01, steps=100)
    assert all(b - a >= 0.25 - 1e-9 for a, b in zip(sent, sent[1:])) and len(sent) >= 15


def test_costly_updates_are_spaced_by_twice_their_cost():
    sent = _sent_at(step_s=0.05, cost_s=0.5, steps=100)         # a long gallery: half a second an update
    gaps = [b - a for a, b in zip(sent, sent[1:])]
    assert gaps and min(gaps) >= 1.0 + 0.5 - 1e-9                 # its cost plus twice its cost
    delivering = 0.5 * len(sent)
    assert delivering <= (sent[-1] + 0.5) / 3 + 0.5              # at most a third of the time (one update's slack)


def test_the_first_step_is_sent_at_once():
    assert _sent_at(step_s=0.01, cost_s=5.0, steps=3) == [0.01]
