"""German numbers, words and legible figures (issue 26, items 7 and 8), without a browser: the formatter, the
catalogue's number and word-list slots, the German-page scan's rules, and the figures' label sizes and overlaps."""
from __future__ import annotations

import numpy as np
import pytest

from explorer.errors import InputError
from explorer.formats import localize_numbers, number
from explorer.messages import say
from explorer.ui.messages import catalogue
from tests.ui.german_scan import leftovers_in


@pytest.mark.parametrize("english, german", [
    ("20,000", "20.000"), ("0.50", "0,50"), ("1,025.5", "1.025,5"), ("24.0%", "24,0%"), ("-3.5", "-3,5"),
    ("seed 2611690019, 25 steps", "seed 2611690019, 25 steps"),          # whole numbers look the same
    ("t = 841", "t = 841"), ("[-10, 10]", "[-10, 10]"), ("00002-0.png", "00002-0.png"),   # not numbers to swap
    ("gradio 6.0.1", "gradio 6.0.1"), ("ViT-L/14", "ViT-L/14"), ("x0", "x0"),
])
def test_english_numbers_in_german(english, german):
    assert localize_numbers(english, "de") == german
    assert localize_numbers(english, "en") == english


def test_number_formats_a_value_per_language():
    assert number(20000, "de") == "20.000" and number(20000, "en") == "20,000"
    assert number(0.5, "de", ".2f") == "0,50" and number(0.5, "en", ".2f") == "0.50"


def test_a_sentence_built_from_word_lists_is_german_throughout():
    def apart(b: str):                                     # the gap sentence as explorer.archive.gaps makes it
        return say("archive.gap.picture_apart", colour="green", shapes="triangles", a="1,025 squares, 300 circles", b=b)

    english = apart("2,000 yellow, 12 red")
    assert english == ("It holds green shapes (1,025 squares, 300 circles) and triangles in other colours (2,000 "
                       "yellow, 12 red), so the picture sits in a gap of the training set: its colour and its shape "
                       "were learned apart.")
    german = catalogue("de").text(english)
    assert german.startswith("Es enthält Formen in Grün (1.025 Quadrate, 300 Kreise) und Dreiecke in anderen Farben "
                             "(2.000 Gelb, 12 Rot)")
    assert leftovers_in([german]) == []
    assert leftovers_in([str(english)])                                # the scan sees the English one
    assert catalogue("de").text(apart("none")).count("(keine)") == 1


def test_numbers_in_status_lines_cells_and_refusals_are_german():
    words = catalogue("de")
    done = say("ui_embeddings.blend.done", seed=0, s=27.8, how="x", vision="y")       # the blend's status, keyed
    assert "sieben Bilder in 27,8 s" in words.text(done) and done.startswith("Seed 0: seven panels in 27.8 s (x).")
    assert words.label(0.153) == "0,153" and words.label(3) == 3 and catalogue("en").label(0.153) == 0.153
    assert words.error(InputError("steps", say("checks.number_in", low=-10, high=10), 99.0)).endswith("erhalten 99,0")
    assert words.figure({"data": [], "layout": {}})["layout"]["separators"] == ",."      # plotly's ticks: 0,5


def test_categories_token_kinds_padding_and_units_are_german():
    from explorer.concepts.vocabularies import category_label
    from explorer.plots.map import concept_map_figure

    words = catalogue("de")                                         # table cells and legend names, by key
    assert [words.label(category_label(c)) for c in ("object", "colour", "shape", "artists")] == \
        ["Objekt", "Farbe", "Form", "Künstler"]
    assert category_label("my own") == "my own" and category_label("colour") == "colour"     # English unchanged
    legend = [trace.get("name") for trace in words.figure(concept_map_figure(_map_result()).to_plotly_json())["data"]]
    assert "Objekt" in legend and "object" not in legend                   # the map's legend names the category
    assert [words.label(say(f"tokens.kind.{k}")) for k in ("word", "start", "end", "pad", "cut")] == \
        ["Wort", "Start", "Ende", "Padding", "abgeschnitten"]
    assert words.label(say("generate.attention.padding_tokens", n=69)) == "Padding (69 Token)"
    assert words.unit("steps") == "Schritte" and catalogue("en").unit("steps") == "steps"
    assert [words.choice(c) for c in ("pooled", "slerp", "lerp", "ease")] == \
        ["gepoolt", "sphärisch (slerp)", "geradlinig (lerp)", "sanft an den Enden"]


def test_forward_captions_say_what_their_numbers_are():
    from explorer.generation.forward import NoisedImage

    caption = NoisedImage(841, 0.0049, np.zeros((1, 1, 3), np.uint8)).caption
    assert caption == "t = 841: signal ×0.07, noise ×1.00 (squares add to 1)"
    assert catalogue("de").label(caption) == "t = 841: Signal ×0,07, Rauschen ×1,00 (Quadrate ergeben 1)"


@pytest.mark.parametrize("text, english", [
    ("Fertig: Seed 3, 2 Schritte.", []),
    ("Suche nach 'a red circle' mit \"blue\"", []),                        # quoted prompts stay
    ("<|startoftext|> a</w> x_t x0 SD 1.5 CLIP ViT-L/14 AND", []),         # tokens, notation, names
    ("20.000 Bilder, 0,50", []),
    ("12/25 steps", ["steps"]), ("processing |", ["processing"]), ("20,000 Bilder", ["20,000"]),
    ("Anteil 0.50", ["0.50"]), ("Formen in green", ["green"]),
])
def test_the_scan_finds_english_words_and_numbers(text, english):
    assert [found.split(":")[0] for found in leftovers_in([text])] == english


def _map_result(n: int = 60, seed: int = 0):
    from explorer.concepts.projection import MapResult

    rng = np.random.default_rng(seed)
    labels = [f"concept number {i}" for i in range(n)] + ["a red circle"]
    kinds = ["concept"] * n + ["prompt"]
    return MapResult(labels, kinds, ["object"] * n + ["prompt"], [""] * (n + 1),
                     np.linspace(1, 0, n + 1), rng.normal(size=(n + 1, 2)), None, "pca")


def test_map_labels_are_14_px_and_do_not_overlap():
    from explorer.plots.map import LABEL_PX, _label_box, _marker_box, _overlap, concept_map_figure

    result = _map_result()
    fig = concept_map_figure(result)
    texts = [trace for trace in fig.data if trace.mode and "text" in trace.mode]
    assert texts and all(trace.textfont.size >= 14 for trace in texts) and fig.layout.font.size >= 14
    assert fig.layout.legend.font.size >= 14
    shown = [list(trace.text) for trace in texts]
    boxes = [_label_box(result.coords, result.labels.index(label), label, "top" if trace.mode == "text" else "bottom")
             for trace, labels in zip(texts, shown) for label in labels]
    assert 1 <= len(boxes) <= 13
    assert not any(_overlap(a, b) for i, a in enumerate(boxes) for b in boxes[i + 1:])
    crowded = _map_result(seed=1)
    markers = [_marker_box(result.coords, i) for i, k in enumerate(result.kinds) if k != "concept"]
    concept_boxes = [_label_box(result.coords, result.labels.index(label), label, "top")
                     for trace in texts if trace.mode == "text" for label in trace.text]
    assert not any(_overlap(a, m) for a in concept_boxes for m in markers)          # nor the prompt's star
    crowded = _map_result(seed=1)
    crowded.coords[:] = 0.0                               # every point under the prompt's star: no concept label
    labelled = [t for t in concept_map_figure(crowded).data if t.mode == "text"]
    assert sum(len(t.text) for t in labelled) == 0 and LABEL_PX == 14


def test_a_query_point_is_labelled_once_and_edge_labels_have_room():
    """issue 26, item 8: "a red circle" as the prompt and as an ingredient at the same place was written twice, on
    top of itself; a label centred on the leftmost point was cut at the plot's edge ("… blue triangle")."""
    from explorer.concepts.projection import MapResult
    from explorer.plots.map import EDGE_ROOM, concept_map_figure

    coords = np.array([[0.0, 0.0], [1.0, 1.0], [0.5, 0.5], [0.5, 0.5]])
    result = MapResult(["a blue triangle", "a red square", "a red circle", "a red circle"],
                       ["concept", "concept", "prompt", "ingredient"], ["object", "object", "", ""], [""] * 4,
                       np.array([1.0, 0.5, 1.0, 1.0]), coords, None, "pca")
    fig = concept_map_figure(result)
    query_texts = [text for trace in fig.data if trace.mode == "markers+text" for text in trace.text]
    assert sorted(query_texts) == ["", "a red circle"], query_texts
    assert list(fig.layout.xaxis.autorangeoptions.include) == [-EDGE_ROOM, 1 + EDGE_ROOM]


def test_probe_counts_sit_at_the_bars_foot_not_under_the_error_bars():
    from explorer.plots.walks import bias_figure

    fig = bias_figure("colour", ["red", "yellow"], {"a triangle": [2, 6]}, {"a triangle": [(0.1, 0.5), (0.5, 0.9)]},
                      n=8)
    bar = fig.data[0]
    assert bar.error_y.array is not None and bar.textposition == "inside" and bar.insidetextanchor == "start"


def test_a_map_refusal_names_the_expression_in_german():
    from explorer.text.expressions import parse

    with pytest.raises(InputError) as refused:
        parse('"a cat" + (dog')
    message = catalogue("de").error(refused.value, {"query": "Suchanfrage"})
    assert message.startswith("Ausdruck: erwartet") and "`expression`" not in message


def test_a_german_progress_bar_counts_in_schritte():
    from explorer.ui.i18n import SessionProgress

    calls = []
    bar = SessionProgress(lambda *args: calls.append(args), catalogue("de"))
    bar((3, 25), desc=say("generate.progress", i=3, n=25))
    assert calls == [((3, 25), "Schritt 3/25", None, "Schritte")]       # gradio shows "3/25 Schritte"
    SessionProgress(lambda *args: calls.append(args), catalogue("en"))((3, 25), desc="step 3/25")
    assert calls[-1] == ((3, 25), "step 3/25", None, "steps")
