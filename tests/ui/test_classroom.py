"""Every tab's main action on the page's own defaults (issue 16) and every lesson chapter's "show me" (issue 17),
pressed through the API on each offline model; one app per model serves both sweeps (index, UMAP's JIT paid once)."""
from __future__ import annotations

import time

import pytest

from explorer.lesson.chapters import load_lesson
from explorer.models.loading import load_model
from explorer.ui.app import build_demo, launch_kwargs

MAIN_ACTIONS = ["/generate", "/arithmetic", "/neighbors", "/blend", "/tokens", "/interpolate", "/search",
                "/bias_probe", "/concept_map", "/axis", "/axis_generate"]


@pytest.fixture(scope="module", params=["tiny-random", "miniworld"])
def classroom(request, app_config):
    from gradio_client import Client

    model = load_model(request.param)
    model.pipe.set_progress_bar_config(disable=True)
    demo = build_demo(model, app_config)
    _, url, _ = demo.launch(prevent_thread_lock=True, quiet=True, **{**launch_kwargs(app_config), "server_port": None})
    yield Client(url, verbose=False)
    demo.close()


def _failures(client, api_names) -> dict:
    failed, seconds = {}, {}
    for api_name in api_names:
        started = time.perf_counter()
        try:
            client.predict(api_name=api_name)
        except Exception as error:  # noqa: BLE001 - collected, so one run names every failing action
            failed[api_name] = str(error)[:300]
        seconds[api_name] = round(time.perf_counter() - started, 1)
    print("seconds per action:", seconds)
    return failed


def test_every_main_action_succeeds_on_its_defaults(classroom):
    assert not _failures(classroom, MAIN_ACTIONS)


def test_every_chapters_show_me_runs_through_the_api(classroom):
    assert not _failures(classroom, [f"/lesson_{chapter.id}" for chapter in load_lesson("en").chapters])
