"""The concept map (PCA/UMAP estimator, query points, figure), concept axes, and their API and CLI."""
from __future__ import annotations

import json
import threading

import numpy as np
import pytest

from explorer.concepts.axes import axis_expression, check_poles, make_axis, rank_vocabulary
from explorer.concepts.index import ConceptIndex
from explorer.concepts.projection import (ConceptMap, MapWarmup, QueryPoint, concept_map, place_by_similarity,
                                          query_points, query_texts)
from explorer.concepts.vocabularies import Vocabulary, builtin_vocabulary
from explorer.errors import InputError
from explorer.plots.map import axis_figure, concept_map_figure


@pytest.fixture(scope="module")
def index(tiny_model, tmp_path_factory):
    """Every 8th built-in concept, 400 in all (all 3,314 take ~10 s to encode here)."""
    full = builtin_vocabulary(tiny_model)
    part = Vocabulary("concepts-400", full.entries[::8][:400], full.categories[::8][:400])
    return ConceptIndex.for_model(tiny_model, part, cache_dir=tmp_path_factory.mktemp("cache"))


def test_pca_map_transform_equals_fit():
    x = np.random.default_rng(0).normal(size=(40, 12))
    model = ConceptMap("pca").fit(x)
    assert model.embedding_.shape == (40, 2) and model.n_features_in_ == 12
    np.testing.assert_allclose(model.transform(x[:5]), model.embedding_[:5], atol=1e-5)
    assert model.explained_variance_ratio_[0] >= model.explained_variance_ratio_[1]


def test_tiny_sets_fall_back_to_pca_and_bad_methods():
    assert ConceptMap("umap").fit(np.eye(3)).method_ == "pca"
    with pytest.raises(InputError, match="method"):
        ConceptMap("tsne")
    with pytest.raises(InputError, match="at least 2 points"):
        ConceptMap("pca").fit(np.ones((1, 4)))


def test_place_by_similarity_analytic():
    coords = np.array([[0.0, 0.0], [10.0, 0.0], [0.0, 10.0]])
    exact = place_by_similarity(coords, np.array([[0.0, 1.0, 0.0]]), neighbours=1)
    np.testing.assert_allclose(exact, [[10.0, 0.0]])
    tie = place_by_similarity(coords, np.array([[0.5, 0.5, -1.0]]), neighbours=2)
    np.testing.assert_allclose(tie, [[5.0, 0.0]], atol=1e-5)


def test_query_points_parse_prompts_expressions_paths(tiny_model):
    points = query_points(tiny_model, "a red fox\n= king - man + woman\na cat -> a dog", path_points=4)
    kinds = [p.kind for p in points]
    assert kinds == ["prompt", "result", "ingredient", "ingredient", "ingredient", "path", "path", "path", "path"]
    assert [p.label for p in points if p.kind == "ingredient"] == ["king", "man", "woman"]
    assert points[5].label == "a cat" and points[8].label == "a dog"
    assert all(abs(np.linalg.norm(p.vector) - 1) < 1e-5 for p in points)
    for text, message in [("", "query"), ("a -> ", "path"), ("= king -", "expression"), ("cat " * 80, "tokens")]:
        with pytest.raises(InputError, match=message):
            query_points(tiny_model, text)


def test_query_texts_are_what_the_model_reads_of_the_query_language():
    """The known-word check reads these (issue 26): a path's arrow and the points between are syntax, not words."""
    text = "a red circle\n= a red circle - red + blue\n  \na red circle -> a blue square\nsummer → winter"
    assert query_texts(text) == ["a red circle", "= a red circle - red + blue", "a red circle", "a blue square",
                                 "summer", "winter"]
    assert query_texts("") == [] and query_texts(None) == []


def test_concept_map_shapes_labels_and_figure(tiny_model, index):
    queries = query_points(tiny_model, "a red fox\n= king - man + woman\na cat -> a dog", path_points=3)
    result = concept_map(index, queries, k=30, method="pca")
    assert result.coords.shape == (30 + len(queries), 2) and result.n_concepts == 30
    assert result.labels[30:] == [q.label for q in queries]
    assert set(result.labels[:30]) <= set(index.vocabulary.entries)
    assert np.all(np.diff(result.scores[:30]) <= 1e-6)                       # concepts nearest first
    assert len(result.links()) == 3 and list(result.paths()) == ["a cat -> a dog"]
    fig = concept_map_figure(result)
    names = {trace.name for trace in fig.data}
    assert {"prompt", "expression result", "ingredient", "path: a cat -> a dog"} <= names
    assert set(result.categories[:30]) <= names                                 # one legend entry per category
    hover = [row[0] for trace in fig.data if trace.customdata is not None for row in trace.customdata]
    assert set(result.labels) == set(hover)
    assert len(fig.layout.annotations) == 3                                     # arrows to the result
    more = result.add([QueryPoint("later", queries[0].vector, "image")])
    np.testing.assert_allclose(more.coords[-1], result.coords[30], atol=1e-5)  # same map, no refit
    assert more.estimator is result.estimator


@pytest.mark.parametrize("k,message", [(1, "k: expected an integer in [2, "), (100000, "k: expected"),
                                       (2.5, "k: expected")])
def test_bad_k_for_maps(tiny_model, index, k, message):
    queries = query_points(tiny_model, "a red fox")
    with pytest.raises(InputError) as info:
        concept_map(index, queries, k=k, method="pca")
    assert message in str(info.value)


def test_axis_ranking_and_expression(tiny_model, index):
    axis = make_axis(tiny_model, "summer", "winter")
    np.testing.assert_allclose(axis.positions(np.stack([axis.a, axis.b])), [0.0, 1.0], atol=1e-5)
    ranking = rank_vocabulary(index, axis)
    assert len(ranking.labels) == len(index) and ranking.positions == sorted(ranking.positions)
    assert ranking.rows("b", 1)[0][0] == ranking.labels[-1]
    assert len(axis_figure(ranking).data[0].y) == 30
    assert axis_expression("a lighthouse", "summer", "winter", 0.5) == \
        '"a lighthouse" + 0.5 × "winter" - 0.5 × "summer"'
    assert axis_expression("a lighthouse", "summer", "winter", 0) is None
    with pytest.raises(InputError, match="pole_b"):
        check_poles("Summer", "summer")
    with pytest.raises(InputError, match="amount"):
        axis_expression("x", "a", "b", 5)


# ---------------------------------------------------------------- HTTP API

def test_api_concept_map_returns_plotly_json(client):
    figure, rows, status, *_ = client.predict("a red fox\n= king - man + woman", "concepts", 25, "pca", 4,
                                              api_name="/concept_map")
    fig = json.loads(figure)
    assert fig["data"] and "25 nearest concepts" in fig["layout"]["title"]["text"]
    assert "PCA" in status and len(rows["data"]) == 25


@pytest.mark.parametrize("args,message", [
    (("a red fox", "concepts", 1, "pca", 4), "k: expected an integer in [2,"),
    (("a red fox", "concepts", 99999, "pca", 4), "k: expected an integer in [2, "),
    (("", "concepts", 20, "pca", 4), "query: expected"),
    (("a red fox", "concepts", 20, "tsne", 4), "projection: expected one of umap, pca, received 'tsne'"),
    (("= king -", "concepts", 20, "pca", 4), "expression"),
    (("a -> ", "concepts", 20, "pca", 4), "path"),
    (("a red fox", "concepts", 20, "pca", 99), "path_points: expected an integer in [2, 32]"),
    (("a red fox", "nonexistent", 20, "pca", 4), "vocabulary: expected one of concepts, tokenizer"),
])
def test_api_bad_map_input_is_named(client, args, message):
    with pytest.raises(Exception) as info:
        client.predict(*args, api_name="/concept_map")
    assert message in str(info.value)


def test_api_axis_rank_and_generate(client):
    _plot, status = client.predict("summer", "winter", "concepts", api_name="/axis")
    assert "ranked from 'summer' (0) to 'winter' (1)" in status
    with pytest.raises(Exception, match="pole_b"):
        client.predict("winter", "Winter", "concepts", api_name="/axis")
    image, message, *_ = client.predict("a lighthouse", "summer", "winter", 0.5, 1, 2, False,
                                        api_name="/axis_generate")
    assert '"a lighthouse" + 0.5 × "winter" - 0.5 × "summer"' in message
    with pytest.raises(Exception, match=r"amount: expected a number in \[-2, 2\], received 9"):
        client.predict("a lighthouse", "summer", "winter", 9, 1, 2, False, api_name="/axis_generate")


# ---------------------------------------------------------------- CLI

def test_cli_map_and_axis(tmp_path, monkeypatch, capsys):
    from explorer.cli import main

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    out = tmp_path / "map.html"
    assert main(["map", "--model", "tiny-random", "--prompt", "a red fox", "--prompt", "a cat -> a dog",
                 "--k", "20", "--method", "pca", "--out", str(out), "--json"]) == 0
    assert "plotly" in out.read_text()[:5000].lower()
    printed = capsys.readouterr().out
    assert json.loads(printed[printed.index("{"):])["points"][0]["kind"] == "concept"
    assert main(["map", "--model", "tiny-random", "--prompt", "x", "--method", "pca", "--out", str(out)]) == 2
    assert main(["map", "--model", "tiny-random", "--prompt", "x", "--k", "1", "--method", "pca",
                 "--out", str(tmp_path / "b.html")]) == 2
    capsys.readouterr()
    assert main(["axis", "--model", "tiny-random", "--poles", "summer", "winter", "--top", "3", "--json"]) == 0
    ranking = json.loads(capsys.readouterr().out)
    assert ranking["pole_a"] == "summer" and len(ranking["toward_b"]) == 3
    assert main(["axis", "--model", "tiny-random", "--poles", "cat", "cat"]) == 2


# ---------------------------------------------------------------- UMAP (last: the app's background warm-up
# has usually compiled numba's kernels by now)

def test_a_map_waits_for_its_own_apps_warm_up_only(tiny_model, index):
    """The warm-up belongs to an app: one app's warm-up under way does not make another app's map (or the CLI's,
    which has none) fall back to PCA, nor change what its status line says."""
    busy, release = MapWarmup(), threading.Event()
    busy.thread = threading.Thread(target=release.wait, daemon=True)          # an app whose umap is still compiling
    busy.started = 0.0
    busy.thread.start()
    try:
        queries = query_points(tiny_model, "a red fox", path_points=2)
        waited = concept_map(index, queries, k=30, method="umap", warmup=busy, wait_s=0.01)
        assert waited.method == "pca" and "compiling in the background" in waited.notes[0]
        other = MapWarmup()                                                      # a second app in the process
        assert not other.running() and other.status().startswith("UMAP not warmed up")
    finally:
        release.set()


@pytest.mark.slow
def test_umap_is_reproducible_and_places_new_points():
    """Slow (~40 s in a fresh environment): UMAP's numba kernels are compiled on first use (cached on disk after)."""
    warmup = MapWarmup()
    warmup.start(block=True)                                     # the same JIT warm-up the app runs
    x = np.random.default_rng(1).normal(size=(60, 16))
    first = ConceptMap("umap", random_state=3, warmup=warmup).fit(x)
    second = ConceptMap("umap", random_state=3).fit(x)
    np.testing.assert_array_equal(first.embedding_, second.embedding_)
    placed = first.transform(x[:2] + 1e-3)
    assert placed.shape == (2, 2) and first.placement_ == "umap.transform"
    spread = np.ptp(first.embedding_, axis=0).max()
    assert np.abs(placed - first.embedding_[:2]).max() < spread / 2   # a near-duplicate lands near its twin
