"""Keyed messages (explorer.messages): English by value, any language by key; the catalogues agree."""
import copy
import json
import pickle
import string

import plotly.graph_objects as go
import pytest

from explorer.errors import InputError
from explorer.messages import (LANGUAGES, MESSAGES_DIR, Message, Text, catalogue, fill, join_list, joined, render,
                               say, words)


def fields_of(template: str) -> set[tuple[str, str | None]]:
    return {(name, conversion) for _, name, _, conversion in string.Formatter().parse(template) if name is not None}


def test_every_language_has_every_key_with_the_same_parameters():
    english = catalogue("en")
    for lang in LANGUAGES:
        table = catalogue(lang)
        assert set(table) == set(english), f"{lang}: missing {sorted(set(english) - set(table))[:10]}, " \
                                           f"extra {sorted(set(table) - set(english))[:10]}"
        for key, text in table.items():
            assert {n for n, _ in fields_of(text)} == {n for n, _ in fields_of(english[key])}, (lang, key, text)


def test_areas_are_the_same_files_in_every_language():
    names = {lang: sorted(p.name for p in (MESSAGES_DIR / lang).glob("*.json")) for lang in LANGUAGES}
    assert len({tuple(v) for v in names.values()}) == 1, names
    for lang in LANGUAGES:
        for path in (MESSAGES_DIR / lang).glob("*.json"):
            json.loads(path.read_text(encoding="utf-8"))


def test_numbers_and_words_follow_the_language():
    assert fill("{n:,} of {x:.2f}", {"n": 20000, "x": 0.5}, "en") == "20,000 of 0.50"
    assert fill("{n:,} of {x:.2f}", {"n": 20000, "x": 0.5}, "de") == "20.000 of 0,50"
    assert words("3 circles and 1,025 squares", "de") == "3 Kreise und 1.025 Quadrate"
    assert words("red", "en") == "red"
    assert join_list(["red", "blue", "green"], "de") == "Rot, Blau und Grün"
    assert join_list(["red", "blue"], "en") == "red and blue"


def test_a_message_is_its_english_and_keeps_its_key(monkeypatch):
    monkeypatch.setitem(catalogue("en"), "test.done", "Done: {n:,} frames of {colour!w}.")
    monkeypatch.setitem(catalogue("de"), "test.done", "Fertig: {n:,} Bilder von {colour!w}.")
    message = say("test.done", n=1025, colour="red")
    assert message == "Done: 1,025 frames of red." and isinstance(message, str)
    assert render(message, "de") == "Fertig: 1.025 Bilder von Rot."
    note = message + " " + "a prompt, as typed"           # parts kept: each rendered on its own
    assert isinstance(note, Text) and note == "Done: 1,025 frames of red. a prompt, as typed"
    assert render(note, "de") == "Fertig: 1.025 Bilder von Rot. a prompt, as typed"
    assert render("> " + message, "de") == "> Fertig: 1.025 Bilder von Rot."
    assert render(joined("; ", [message, message]), "de") == "Fertig: 1.025 Bilder von Rot.; Fertig: 1.025 Bilder von Rot."
    assert render(copy.deepcopy(note), "de") == render(note, "de")
    assert render(pickle.loads(pickle.dumps(message)), "de") == "Fertig: 1.025 Bilder von Rot."
    assert repr(message) == repr("Done: 1,025 frames of red.") and repr(note) == repr(str(note))
    assert str(InputError("x", "text", message)).endswith("received 'Done: 1,025 frames of red.'")
    error = InputError("frames", message, 3)
    assert str(error) == "frames: expected Done: 1,025 frames of red., received 3"
    assert render(error.allowed, "de") == "Fertig: 1.025 Bilder von Rot."
    # plotly copies a figure's texts (deepcopy): the key survives into its JSON
    figure = go.Figure(go.Scatter(x=[1], y=[2], name=message), layout={"title": {"text": message}})
    spec = go.Figure(figure).to_plotly_json()
    assert render(spec, "de")["layout"]["title"]["text"] == "Fertig: 1.025 Bilder von Rot."
    assert render(spec, "de")["data"][0]["name"] == "Fertig: 1.025 Bilder von Rot."


def test_an_unknown_key_fails_where_it_is_made():
    with pytest.raises(KeyError, match="no.such.key"):
        say("no.such.key")
    with pytest.raises(KeyError, match="no.such.key"):
        Message("no.such.key", n=1)
