"""Which words the loaded model knows: miniworld's grammar, tiny-random's random weights, CLIP's word pieces."""
from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from PIL import Image

from explorer.concepts.projection import query_points, query_texts
from explorer.errors import InputError
from explorer.explore.blends import compare
from explorer.explore.probe import bias_probe, blank_images, parse_attributes
from explorer.generation.recipe import recipe_defaults
from explorer.models.examples import MINIWORLD
from explorer.models.families import FAMILIES
from explorer.models.presets import MINIWORLD_DIR
from explorer.text.known import (RANDOM_NOTE, about_tokenizer, check_readable, phrases_of, read_words, readable,
                                 words_note)

needs_miniworld = pytest.mark.skipif(not (MINIWORLD_DIR / "model_index.json").is_file(),
                                     reason="the miniworld weights are not in assets/")


@pytest.fixture(scope="module")
def trained_clip(tiny_model):
    """tiny-random's CLIP tokenizer as if its weights were trained (an SD model: its vocabulary is not known)."""
    return replace(tiny_model, preset=replace(tiny_model.preset, source="example/stable-diffusion"))


# ---------------------------------------------------------------- miniworld: a known training vocabulary
@needs_miniworld
def test_miniworlds_training_words_are_its_grammar(tmp_path):
    from explorer.miniworld.train import write_words
    from explorer.world.scenes import vocabulary

    assert FAMILIES["miniworld"].training_words == tuple(vocabulary())
    assert FAMILIES["sd1"].training_words is None and FAMILIES["tiny"].training_words is None
    write_words(tmp_path)                                     # training writes the list the explorer ships
    assert (tmp_path / "words.txt").read_text() == (MINIWORLD_DIR / "words.txt").read_text()


def test_unknown_words_are_flagged_and_grammar_words_are_not(miniworld):
    reading = read_words(miniworld, "a photo of a CEO")
    assert reading.words == ("a", "photo", "of", "a", "ceo")
    assert reading.unknown == ("photo", "ceo") and reading.known == ("a", "of")
    assert dict(reading.pieces)["photo"] == ("p", "h", "o", "t", "o")      # spelled out byte by byte
    grammar = read_words(miniworld, "a small red circle on the left, on a plain grey background")
    assert grammar.unknown == () and grammar.pieces == ()                  # every grammar word is one token
    assert words_note(miniworld, "a small red circle on the left") == ""


def test_syntax_is_not_read_as_words(miniworld):
    assert phrases_of('= "a red circle" - red + blue') == ["a red circle", "red", "blue"]
    assert phrases_of("a red circle :1.2 AND a blue square BREAK on top") == ["a red circle", "a blue square on top"]
    for text in ("a (red:1.3) circle AND [a blue square]", '= "a red circle" - red + blue', "a red circle:0.5 AND x"):
        assert read_words(miniworld, text).unknown in ((), ("x",)), text


def test_the_maps_query_language_is_not_read_as_words(miniworld):
    """The Map's default query draws a path "a -> b" whose points are labelled "a → b @ 0.14": those labels are
    what the map tab used to check, and miniworld never saw '0' or '14' (issue 26)."""
    query = MINIWORLD.map_query
    assert "->" in query and words_note(miniworld, query_texts(query)) == ""
    labels = [point.label for point in query_points(miniworld, query, path_points=8)]
    assert "never saw '0'" in words_note(miniworld, labels)                  # what the map tab read before
    assert "'zebra'" in words_note(miniworld, query_texts("a red circle -> a zebra"))   # an end is still read


def test_the_note_names_unknown_words_as_written_and_what_is_left(miniworld):
    note = words_note(miniworld, ["a photo of a CEO", "a photo of a nurse"])
    assert note.startswith("miniworld never saw 'photo', 'CEO', 'nurse' in training")
    assert "only the words it knows: 'a', 'of'" in note
    assert "knows none of its words" in words_note(miniworld, ["van Gogh", "astronaut"])
    long = words_note(miniworld, "one two three four five six seven eight red")
    assert "and 2 more" in long and "'red'" in long and len(long) < 300


def test_prompts_that_differ_only_in_unknown_words_are_refused(miniworld):
    with pytest.raises(InputError) as caught:
        check_readable(miniworld, ["a photo of a CEO", "a photo of a nurse"])
    error = caught.value
    assert error.field == "prompts" and error.received == ["a photo of a CEO", "a photo of a nurse"]
    assert "red" in error.allowed and "triangle" in error.allowed
    assert "'CEO', 'nurse'" in error.hint and "'a triangle' | 'a circle'" in error.hint
    assert not readable(miniworld, ["van Gogh", "astronaut"])


def test_prompts_that_differ_in_trained_words_are_accepted(miniworld):
    check_readable(miniworld, ["a red circle", "a blue circle", "a green circle"])
    assert readable(miniworld, ["a red CEO", "a blue nurse"])              # colours differ: flagged, not refused
    assert "'CEO', 'nurse'" in words_note(miniworld, ["a red CEO", "a blue nurse"])
    assert readable(miniworld, "a photo of a cat by van Gogh")             # one prompt: a note, nothing to compare


def test_probe_and_comparator_refuse_what_miniworld_cannot_read(miniworld):
    base = recipe_defaults(miniworld, "a triangle", steps=2)
    attrs = parse_attributes("colour: a red shape | a blue shape")
    with pytest.raises(InputError, match="^prompts: .*'CEO', 'nurse'"):
        bias_probe(miniworld, base, ["a photo of a CEO", "a photo of a nurse"], 1, attrs)
    with pytest.raises(InputError, match=r"^attributes \(gender\): expected labels"):
        bias_probe(miniworld, base, ["a triangle", "a circle"], 1, parse_attributes("gender: a man | a woman"),
                   vision=object())                                        # refused before the vision model is used
    with pytest.raises(InputError, match="^a, b: .*'van', 'Gogh', 'astronaut'"):
        compare(miniworld, "van Gogh", "astronaut", base)


def test_about_the_tokenizer_follows_the_model(miniworld, tiny_model, tiny_xl):
    about = about_tokenizer(miniworld)
    assert f"{len(miniworld.tokenizer):,} entries" in about and "34 words it was trained on" in about
    assert about_tokenizer(tiny_model).startswith("CLIP's byte-pair tokenizer: 49,408 entries")
    assert "random" in about_tokenizer(tiny_model)
    assert about_tokenizer(tiny_xl).startswith("Two CLIP byte-pair tokenizers, one per text encoder (49,408 and 49,408")


# ---------------------------------------------------------------- tiny-random: random weights
def test_random_weights_are_said_and_never_refused(tiny_model, tiny_xl):
    for model in (tiny_model, tiny_xl):
        assert words_note(model, ["a photo of a CEO", "a photo of a nurse"]) == RANDOM_NOTE
        assert readable(model, ["a photo of a CEO", "a photo of a nurse"])
        assert read_words(model, "a CEO").random_weights and not read_words(model, "a CEO").vocabulary_known


# ---------------------------------------------------------------- CLIP's byte-pair vocabulary: pieces
def test_clip_splits_rare_words_into_pieces(tiny_model, tiny_xl):
    for model in (tiny_model, tiny_xl):
        reading = read_words(model, "Sankt Martin, (blorptastic:1.2) astronaut")
        assert reading.words == ("sankt", "martin", "blorptastic", "astronaut")
        assert dict(reading.pieces) == {"sankt": ("san", "kt"), "blorptastic": ("bl", "or", "p", "tastic")}
        assert reading.unknown == ()                            # CLIP's vocabulary is not a training vocabulary


def test_pieces_are_noted_but_not_refused_where_the_vocabulary_is_not_known(trained_clip):
    note = words_note(trained_clip, ["Sankt Martin", "blorptastic astronaut"])
    assert note == ("Read in pieces: Sankt (san·kt), blorptastic (bl·or·p·tastic); the model knows these words "
                    "only through the pieces.")
    assert words_note(trained_clip, "a photo of an astronaut") == ""
    check_readable(trained_clip, ["Sankt", "blorptastic"])


# ---------------------------------------------------------------- blank images in the probe
def test_blank_images_are_flagged_and_noted(tiny_model):
    flat = Image.new("RGB", (64, 64), (128, 128, 128))
    noise = Image.fromarray(np.random.default_rng(0).integers(0, 256, (64, 64, 3), dtype=np.uint8))
    assert blank_images([flat, noise]) == [True, False]
    base = recipe_defaults(tiny_model, "a", steps=1, width=64, height=64)
    probe = bias_probe(tiny_model, base, ["a", "b"], 1, parse_attributes("g: x | y"))
    assert probe.notes[0] == RANDOM_NOTE and set(probe.blank) == {"a", "b"}
