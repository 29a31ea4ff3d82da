"""The archive's, the concepts', the lesson's and the jobs' messages are keyed where they are made (issue 27, item 3):
a German page renders each from its key (numbers and model words in German), English reads the same bytes as before.

Each case makes the message the way a request does and renders it as the page does (explorer.ui.messages); a site
that went back to plain English fails twice: the value is no longer keyed, and the German page shows English (there
is no pattern catalogue to fall back on)."""
from __future__ import annotations

import json
from collections import Counter

import numpy as np
import pytest
from PIL import Image

from explorer.archive import retrieval
from explorer.archive.gaps import Coverage
from explorer.archive.novelty import novelty
from explorer.archive.retrieval import retrieve
from explorer.archive.sources import allowed_folder, folder_source, skipped_note
from explorer.concepts.axes import check_poles
from explorer.concepts.index import CACHE_FORMAT, ConceptIndex, read_cache
from explorer.concepts.projection import PROJECTION_NOTES, check_k
from explorer.concepts.vocabularies import Vocabulary, check_list_name
from explorer.config import ExplorerConfig
from explorer.errors import InputError, ModelLoadError
from explorer.explore.search import check_count
from explorer.jobs.index_job import IndexJob
from explorer.jobs.shards import job_folder
from explorer.lesson.chapters import load_lesson
from explorer.messages import is_keyed, render, say
from explorer.models.families import FAMILIES
from explorer.models.presets import PRESETS, resolve_preset
from explorer.ui.messages import catalogue
from tests.ui.test_messages import english_left

DE = catalogue("de")


def refusal(call) -> InputError:
    with pytest.raises(InputError) as caught:
        call()
    return caught.value


@pytest.mark.parametrize("call, english, german", [
    (lambda: check_list_name("-bad"),
     "vocabulary name: expected 1-48 letters, digits, spaces, '_', '.' or '-', starting with a letter or digit, "
     "received '-bad'",
     "`vocabulary name`: erwartet 1-48 Buchstaben, Ziffern, Leerzeichen, '_', '.' oder '-', beginnend mit einem "
     "Buchstaben oder einer Ziffer, erhalten '-bad'"),
    (lambda: Vocabulary("mine", ["red", "Red "], ["c", "c"]).check(),
     "vocabulary: expected unique entries (case and runs of spaces do not count), received \"1 duplicate(s) in "
     "'mine': 'Red '\". Remove the repeated lines",
     "`vocabulary`: erwartet eindeutige Einträge (Groß- und Kleinschreibung und mehrfache Leerzeichen zählen nicht), "
     "erhalten \"1 Duplikat(e) in 'mine': 'Red '\". Entfernen Sie die wiederholten Zeilen"),
    (lambda: check_poles(" ", "winter"),
     "pole_a: expected a non-empty phrase such as \"summer\", received ' '",
     "`pole_a`: erwartet eine nicht leere Phrase wie \"summer\", erhalten ' '"),
    (lambda: check_k(5000, 20000, 1000),
     "k: expected an integer in [2, 1000] (ExplorerConfig.max_map_neighbors), received 5000",
     "`k`: erwartet eine ganze Zahl in [2, 1000] (ExplorerConfig.max_map_neighbors), erhalten 5000"),
    (lambda: allowed_folder("photos", []),
     "archive: expected '' (the model's default archive): the operator shares no folders (app.py --archive-root "
     "DIR), received 'photos'",
     "`archive`: erwartet '' (das Standardarchiv des Modells): Der Betreiber gibt keine Ordner frei (app.py "
     "--archive-root DIR), erhalten 'photos'"),
    (lambda: IndexJob("miniworld", shard=300).check(),
     "shard: expected a multiple of 256 (the batch of the single-machine index, so that both compute the same "
     "floats), received 300",
     "`shard`: erwartet ein Vielfaches von 256 (der Stapel des Index auf einer Maschine, damit beide dieselben "
     "Gleitkommazahlen berechnen), erhalten 300"),
    (lambda: load_lesson("fr"), "lang: expected one of en, de, received 'fr'",
     "`lang`: erwartet einen der Werte en, de, erhalten 'fr'"),
    (lambda: retrieve(None, None, "  "), "prompt: expected a non-empty text to search the archive for, received '  '",
     "`prompt`: erwartet einen nicht leeren Text, nach dem im Archiv gesucht wird, erhalten '  '"),
    (lambda: check_count("seeds", 65, ExplorerConfig(max_seeds=64)),
     "seeds: expected an integer in [1, 64] (the configured max_seeds is 64), received 65",
     "`seeds`: erwartet eine ganze Zahl in [1, 64] (konfiguriert ist max_seeds = 64), erhalten 65"),
])
def test_refusals_are_keyed_and_german(call, english, german):
    error = refusal(call)
    assert str(error) == english                                     # the API's and the CLI's bytes
    assert is_keyed(error.allowed)
    assert DE.error(error) == german and not english_left(german)


def test_a_folder_refusal_says_what_was_skipped_in_german(tmp_path):
    (tmp_path / "notes.md").write_text("x")
    (tmp_path / "broken.bin").write_text("x")
    error = refusal(lambda: folder_source(tmp_path, 10))
    assert str(error).endswith("received '" + str(tmp_path) + "'. skipped 2 non-image files")
    assert DE.error(error).endswith("erhalten '" + str(tmp_path) + "'. übersprungen: 2 Nicht-Bilddateien")
    assert DE.error(error).startswith("`archive`: erwartet einen Ordner mit mindestens einem PNG-, JPEG- oder WebP-Bild")
    assert render(skipped_note(Counter(unreadable=1, non_image=1_025)), "de") == \
        "übersprungen: 1.025 Nicht-Bilddateien, 1 unlesbares Bild"
    sentence = skipped_note(Counter(too_large=2, outside=1), sentence=True)      # the end of an index's note
    assert sentence == "Skipped 1 link leading outside the folder, 2 images over the pixel limit."
    assert DE.text("Indexed 3 images. " + sentence) == \
        "Indexed 3 images. Übersprungen: 1 Link aus dem Ordner hinaus, 2 Bilder über der Pixelgrenze."


def test_a_folder_over_the_limit_is_described_in_german(tmp_path):
    (tmp_path / "photos").mkdir()
    for name in ("a.png", "b.png", "c.png"):
        Image.new("RGB", (4, 4)).save(tmp_path / "photos" / name)
    error = refusal(lambda: folder_source(tmp_path / "photos", 2, within=tmp_path))    # a request's folder
    assert str(error).endswith("received 'more than 2 images in photos'") and is_keyed(error.received)
    assert DE.error(error).endswith("erhalten 'mehr als 2 Bilder in photos'")


def test_an_archive_without_a_vision_model_is_refused_in_german(monkeypatch):
    monkeypatch.setattr(retrieval, "load_vision", lambda model: None)
    monkeypatch.setattr(retrieval, "vision_status", lambda model: say("vision.none_known", family="'x'"))
    with pytest.raises(ModelLoadError) as caught:
        retrieval.open_archive(None)
    assert is_keyed(caught.value.args[0])
    assert str(caught.value) == ("archive: an archive is searched with the model family's CLIP vision model. No CLIP "
                                 "vision model is known for the model family 'x': image scores are off.")
    assert DE.message(caught.value) == ("archive: Ein Archiv wird mit dem CLIP-Bildmodell der Modellfamilie "
                                        "durchsucht. Für die Modellfamilie 'x' ist kein CLIP-Bildmodell bekannt: "
                                        "Bildbewertungen sind aus.")


def test_the_header_and_the_banner_say_the_model_in_german():
    miniworld = PRESETS["miniworld"]
    assert miniworld.about == "miniworld: a tiny model trained by this project on coloured shapes (offline)"
    assert miniworld.description == "a tiny model trained by this project on coloured shapes (offline)"
    assert render(miniworld.description, "de") == "ein winziges Modell, von diesem Projekt auf farbigen Formen " \
                                                  "trainiert (offline)"
    assert is_keyed(PRESETS["sd15"].description) and is_keyed(resolve_preset("org/name-turbo").description)
    banner = say("loading.fallback", name="'org/name'", reason=say("loading.offline"), offline="'miniworld'",
                 about=miniworld.about)                                 # as explorer.models.loading makes it
    assert render(banner, "de").startswith("'org/name' konnte nicht geladen werden (Offline-Modus (HF_HUB_OFFLINE=1) "
                                           "und nicht im lokalen Cache). Stattdessen wird das eingebaute "
                                           "Offline-Modell 'miniworld' gezeigt: miniworld: ein winziges Modell")
    assert render(FAMILIES["sdxl"].about, "de") == "Stable Diffusion XL" and is_keyed(FAMILIES["sd1"].about)


def test_a_job_folder_of_another_job_is_refused_in_german(tmp_path):
    job_folder(tmp_path / "job", {"job": 1})
    error = refusal(lambda: job_folder(tmp_path / "job", {"job": 2}))
    assert str(error).endswith("(to resume it), received '" + str(tmp_path / "job") + "'. its job.json describes "
                               "another job")
    assert DE.error(error).endswith("seine job.json beschreibt einen anderen Job")
    assert not english_left(DE.error(error).replace(str(tmp_path), ""))


def test_the_gap_sentence_is_german_with_german_numbers_and_words():
    held = Coverage("green", "triangle", True, 0, {"square": 1025, "circle": 300}, {"yellow": 2000, "red": 12},
                    20000, "picture")
    assert held.sentence == (
        "The picture reads (pixel oracle) as a green triangle: the archive of 20,000 training images holds none. "
        "This combination was held out of training on purpose. It holds green shapes (1,025 squares, 300 circles) "
        "and triangles in other colours (2,000 yellow, 12 red), so the picture sits in a gap of the training set: "
        "its colour and its shape were learned apart.")
    assert is_keyed(held.sentence) and json.loads(json.dumps(held.to_dict()))["sentence"] == held.sentence
    assert DE.text(held.sentence) == (
        "Das Bild zeigt laut Pixel-Orakel „Dreieck in Grün“: Das Archiv aus 20.000 Trainingsbildern enthält kein "
        "solches Bild. Diese Kombination wurde absichtlich aus dem Training herausgehalten. Es enthält Formen in Grün "
        "(1.025 Quadrate, 300 Kreise) und Dreiecke in anderen Farben (2.000 Gelb, 12 Rot); das Bild liegt also in "
        "einer Lücke der Trainingsmenge: Seine Farbe und seine Form wurden getrennt gelernt.")


def test_the_novelty_sentence_is_german_with_german_numbers():
    figure = novelty(0.2, np.array([0.05, 0.1, 0.15], np.float32))
    assert figure.sentence.startswith("Nearest archive image at cosine distance 0.200 in CLIP image space; archive "
                                      "images lie a median 0.100 from their nearest other image, so the ratio is "
                                      "2.00 (100% of archive images")
    german = DE.text(figure.sentence)
    assert is_keyed(figure.sentence)
    assert german.startswith("Nächstes Archivbild im Kosinus-Abstand 0,200 im CLIP-Bildraum; Archivbilder liegen im "
                             "Median 0,100 von ihrem nächsten anderen Bild entfernt, das Verhältnis ist also 2,00 "
                             "(100% der Archivbilder")
    assert german.endswith("beweist nicht, dass es neu ist.") and not english_left(german)


def test_index_notes_and_map_notes_are_keyed(tmp_path):
    vocabulary = Vocabulary("shapes", ["red", "blue"], ["colour", "colour"])
    path = tmp_path / "index.npz"
    np.savez(path, embeddings=np.eye(2, dtype=np.float32),
             meta=np.array(json.dumps({"format": CACHE_FORMAT, "vocabulary_hash": "another"})))
    index, problem = read_cache(path, vocabulary, "model")
    assert index is None and problem == ("The cached index index.npz was unreadable (ValueError: it belongs to "
                                         "another vocabulary or format); rebuilt it.")
    assert DE.text(problem) == ("Der zwischengespeicherte Index index.npz war unlesbar (ValueError: er gehört zu "
                                "einem anderen Vokabular oder Format); er wurde neu erstellt.")
    error = refusal(lambda: ConceptIndex(vocabulary, np.eye(2, dtype=np.float32)).nearest(np.ones(2), k=2,
                                                                                           exclude=["red"]))
    assert DE.error(error) == ("`k`: erwartet eine ganze Zahl in [1, 1] (das Vokabular 'shapes' hat 2 Einträge, "
                               "1 ausgeschlossen), erhalten 2")
    for method, note in PROJECTION_NOTES.items():
        assert is_keyed(note) and not english_left(DE.text(note)), method
