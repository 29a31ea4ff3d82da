"""Defaults that work: every tab's main action succeeds on the page's own defaults, for each offline model."""
from __future__ import annotations

import pytest

from explorer.concepts.index import ConceptIndex
from explorer.concepts.projection import concept_map, query_points
from explorer.concepts.vocabularies import BUILTIN, builtin_vocabulary
from explorer.models.loading import load_model
from explorer.ui.app import build_demo, launch_kwargs


def test_the_maps_default_k_fits_miniworlds_vocabulary(app_config, tmp_path):
    model = load_model("miniworld")
    demo = build_demo(model, app_config)
    k = next(block for block in demo.blocks.values() if getattr(block, "elem_id", None) == "map-k").value
    size = len(builtin_vocabulary(model).entries)
    assert 2 <= k <= size < 200                          # the curated list of the miniature world is small
    index = ConceptIndex.for_model(model, BUILTIN, cache_dir=tmp_path)
    result = concept_map(index, query_points(model, "a red circle"), k=int(k), method="pca")
    assert result.n_concepts == k


# Every tab's main action, pressed through the API with nothing but the page's own default inputs.
MAIN_ACTIONS = ["/generate", "/arithmetic", "/neighbors", "/blend", "/tokens", "/interpolate", "/search",
                "/bias_probe", "/concept_map", "/axis", "/axis_generate"]


@pytest.mark.parametrize("name", ["tiny-random", "miniworld"])
def test_every_main_action_succeeds_on_its_defaults(name, app_config):
    from gradio_client import Client

    model = load_model(name)
    model.pipe.set_progress_bar_config(disable=True)
    demo = build_demo(model, app_config)
    _, url, _ = demo.launch(prevent_thread_lock=True, quiet=True, **{**launch_kwargs(app_config), "server_port": None})
    try:
        client = Client(url, verbose=False)
        failed = {}
        for api_name in MAIN_ACTIONS:
            try:
                client.predict(api_name=api_name)
            except Exception as error:  # noqa: BLE001 - collected, so one run names every failing action
                failed[api_name] = str(error)[:200]
        assert not failed, failed
    finally:
        demo.close()

