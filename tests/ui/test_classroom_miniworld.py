"""The classroom sweeps of tests/ui/test_classroom.py (every tab's main action on its defaults, every lesson chapter's
"show me" through the API) on miniworld's app, the session's one (tests/conftest.py `miniworld_url`), every default.

A module of its own: tests/scheduling.py runs every test of that app in one process, and tiny-random's sweeps in
the other. Slow (~40 s per sweep in CI): every main action and every chapter runs the model."""
from __future__ import annotations

import pytest

from tests.ui import test_classroom as sweeps

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def classroom(miniworld_url, connect):
    """(model name, a client of miniworld's app), the outputs left on the server (test_classroom.py says why)."""
    return "miniworld", connect(miniworld_url, download_files=False)


test_every_main_action_succeeds_on_its_defaults = sweeps.test_every_main_action_succeeds_on_its_defaults
test_every_chapters_show_me_runs_through_the_api = sweeps.test_every_chapters_show_me_runs_through_the_api
