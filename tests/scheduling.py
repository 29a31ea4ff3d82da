"""How the README's test command shares the tests between two processes (pytest-xdist, `-n 2`).

xdist's own `--dist loadgroup` cannot be used: 3.8.0 tags a test's group by setting `item._nodeid`, which pytest 9.2
no longer reads (its node ids come from `item._id`), so every test became a group of its own and each process built
the miniworld app and ran the lesson's browser runs side by side. The scheduler here groups by what the tests share
instead, decided in the controlling process from the test file itself:

- every test of a file runs in one process (as `--dist loadfile`): a file's module fixtures are built once;
- the files that use one of SHARED_APPS (an app launched once per process, with its model and background work) run
  in one process together, so that app is built once, not once per process;
- the files with slow tests go first, the longest work units before the short ones (the two processes then finish
  together instead of one waiting on a long browser test started last).

`pytest_xdist_make_scheduler` is xdist's public hook for this; `LoadScopeScheduling._split_scope` is the method its
own `--dist loadfile` overrides the same way (xdist/scheduler/loadfile.py). tests/test_scheduling.py checks both.
"""
from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED_APPS = ("miniworld_url",)       # session fixtures worth building once: the miniworld app and its archive
SLOW = "pytest.mark.slow"               # how a file marks its slow tests (the `slow` marker, pyproject.toml)


@lru_cache(maxsize=None)
def _source(path: str) -> str:
    try:
        return (ROOT / path).read_text(encoding="utf-8")
    except OSError:                     # a doctest or a test outside the tree: its path alone is its group
        return ""


def group_of(nodeid: str) -> str:
    """The work unit a test belongs to: its shared app's name, or its file."""
    path = nodeid.split("::", 1)[0]
    source = _source(path)
    return next((f"app:{fixture}" for fixture in SHARED_APPS if fixture in source), path)


def slow_first(items: list) -> list:
    """The longest work first (stable otherwise): the shared apps' group, then the files that hold slow tests."""
    slow_files = {item.nodeid.split("::", 1)[0] for item in items if item.get_closest_marker("slow")}

    def rank(item) -> tuple[bool, bool]:
        path = item.nodeid.split("::", 1)[0]
        return group_of(item.nodeid) == path, path not in slow_files

    return sorted(items, key=rank)


def make_scheduler(config: pytest.Config, log):
    """A LoadScopeScheduling whose scopes are group_of's, in collection order (slow_first's)."""
    from xdist.scheduler import LoadScopeScheduling

    class SharedAppScheduling(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            return group_of(nodeid)

    config.option.loadscopereorder = False      # keep slow_first's order, not "most tests first"
    return SharedAppScheduling(config, log)
