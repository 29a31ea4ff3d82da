"""A fresh scheduler per call, swapped into the shared pipeline for exactly that call.

diffusers pipelines are not thread-safe: the scheduler's step index is shared state (diffusers
#3672, #5749). Every run therefore makes its own scheduler from the model's noise schedule and
holds the model's lock while it is in the pipeline.
"""
from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator

from explorer.checks import check_choice
from explorer.models.presets import FLOW_SCHEDULERS, SCHEDULERS


def make_scheduler(name: str, base_config: dict, flow: bool = False):
    """A fresh scheduler of the named kind, configured from the model's own noise schedule (`flow`: a flow-matching
    model's, whose names stand for FLOW_SCHEDULERS)."""
    import diffusers

    table = FLOW_SCHEDULERS if flow else SCHEDULERS
    check_choice("scheduler", name, list(table))
    class_name, extra, _ = table[name]
    return getattr(diffusers, class_name).from_config({**base_config, **extra})


@contextmanager
def scheduler_in_pipeline(model, name: str) -> Iterator[object]:
    """Hold the model's lock, put a fresh `name` scheduler into its pipeline, restore the original after."""
    pipe = model.pipe
    with model.lock:
        scheduler = make_scheduler(name, model.base_scheduler_config, model.adapter.flow)
        original, pipe.scheduler = pipe.scheduler, scheduler
        try:
            yield scheduler
        finally:
            pipe.scheduler = original
