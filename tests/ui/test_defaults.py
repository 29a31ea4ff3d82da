"""Defaults that work: the Map's default k fits the offline model's vocabulary (the sweep of every main action on its
defaults is in test_classroom.py)."""
from __future__ import annotations

from explorer.concepts.index import ConceptIndex
from explorer.concepts.projection import concept_map, query_points
from explorer.concepts.vocabularies import BUILTIN, builtin_vocabulary
from explorer.ui.app import build_demo


def test_the_maps_default_k_fits_miniworlds_vocabulary(miniworld, app_config, tmp_path):
    model = miniworld
    demo = build_demo(model, app_config)
    k = next(block for block in demo.blocks.values() if getattr(block, "elem_id", None) == "map-k").value
    size = len(builtin_vocabulary(model).entries)
    assert 2 <= k <= size < 200                          # the curated list of the miniature world is small
    index = ConceptIndex.for_model(model, BUILTIN, cache_dir=tmp_path)
    result = concept_map(index, query_points(model, "a red circle"), k=int(k), method="pca")
    assert result.n_concepts == k
