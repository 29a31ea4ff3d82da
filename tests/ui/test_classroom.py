"""Every tab's main action on the page's own defaults (issue 16) and every lesson chapter's "show me" (issue 17),
pressed through the API on each offline model; one app per model serves both sweeps (index, UMAP's JIT paid once).
Here tiny-random's app, the session's own (tests/conftest.py); its chapters run with the fewest steps (random
weights: more steps show nothing more). test_classroom_miniworld.py runs these tests on miniworld's app, every
default, in a module of its own: the README's two test processes run it beside the other tests of that app
(tests/scheduling.py) and this one in the other process.

Slow (~30-40 s per sweep and model in CI): every main action and every chapter runs the model through the API."""
from __future__ import annotations

import time

import pytest

from explorer.lesson.chapters import load_lesson
from explorer.models.families import FAMILIES
from explorer.models.presets import resolve_preset

pytestmark = pytest.mark.slow

MAIN_ACTIONS = ["/generate", "/arithmetic", "/neighbors", "/blend", "/tokens", "/interpolate", "/search",
                "/bias_probe", "/concept_map", "/axis", "/axis_generate"]
FEWEST_STEPS = 1             # every Steps slider's minimum


@pytest.fixture(scope="module")
def classroom(app_url, connect):
    """(model name, a client of the session's tiny-random app). The client leaves the outputs on the server (half of
    a generation's time on 2 cores is the client fetching its ~40 pictures): what is asserted is that every handler
    succeeds, and gradio has put each output file in its cache, checking that it may serve it, before it answers.
    miniworld's app gets the same sweeps in test_classroom_miniworld.py."""
    return "tiny-random", connect(app_url, download_files=False)


def _fewest_steps(client, api_name) -> dict:
    """Keyword arguments that set each Steps field of an endpoint to FEWEST_STEPS (the rest keep their defaults)."""
    parameters = client.view_api(return_format="dict", print_info=False)["named_endpoints"][api_name]["parameters"]
    return {p["parameter_name"]: FEWEST_STEPS for p in parameters
            if isinstance(p.get("label"), dict) and p["label"].get("key") == "common.steps"}


def _failures(client, api_names, fewest_steps: bool = False) -> dict:
    failed, seconds = {}, {}
    for api_name in api_names:
        started = time.perf_counter()
        try:
            client.predict(api_name=api_name, **(_fewest_steps(client, api_name) if fewest_steps else {}))
        except Exception as error:  # noqa: BLE001 - collected, so one run names every failing action
            failed[api_name] = str(error)[:300]
        seconds[api_name] = round(time.perf_counter() - started, 1)
    print("seconds per action:", seconds)
    return failed


def test_every_main_action_succeeds_on_its_defaults(classroom):
    _, client = classroom
    assert not _failures(client, MAIN_ACTIONS)


def test_every_chapters_show_me_runs_through_the_api(classroom):
    name, client = classroom
    family = FAMILIES[resolve_preset(name).family].examples
    chapters = [f"/lesson_{chapter.id}" for chapter in load_lesson("en").chapters if chapter.runs_on(family)]
    assert len(chapters) >= 8 and ("/lesson_gaps" in chapters) == (name == "miniworld")   # gaps: miniworld's
    assert not _failures(client, chapters, fewest_steps=name == "tiny-random")
