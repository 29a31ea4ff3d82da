"""A fresh scheduler per call, swapped into the shared pipeline for exactly that call.

diffusers pipelines are not thread-safe: the scheduler's step index is shared state (diffusers
#3672, #5749). Every run therefore makes its own scheduler from the model's noise schedule and
holds the model's lock while it is in the pipeline.
"""
from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator

from explorer.checks import check_choice
from explorer.models.presets import SCHEDULERS


def make_scheduler(name: str, base_config: dict):
    """A fresh scheduler of the named kind, configured from the model's own noise schedule."""
    import diffusers

    check_choice("scheduler", name, list(SCHEDULERS))
    class_name, extra, _ = SCHEDULERS[name]
    return getattr(diffusers, class_name).from_config({**base_config, **extra})


@contextmanager
def scheduler_in_pipeline(model, name: str) -> Iterator[object]:
    """Hold the model's lock, put a fresh `name` scheduler into its pipeline, restore the original after."""
    pipe = model.pipe
    with model.lock:
        scheduler = make_scheduler(name, model.base_scheduler_config)
        original, pipe.scheduler = pipe.scheduler, scheduler
        try:
            yield scheduler
        finally:
            pipe.scheduler = original
