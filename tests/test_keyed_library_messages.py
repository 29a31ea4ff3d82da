"""The library's messages are keyed where they are made (issue 27, item 3): a German page renders each refusal and
note from its key, with German numbers, while str() stays the English the API, the CLI and the logs read. Each
case fails if its site goes back to a plain English string (the page would then show English: there is no pattern
catalogue to translate it)."""
import pytest

from explorer.checks import check_bool, check_choice, check_float, check_int, check_text
from explorer.errors import InputError
from explorer.generation.recipe import Recipe
from explorer.messages import is_keyed, render
from explorer.outputs.a1111 import parse_parameters
from explorer.outputs.png import open_image
from explorer.text.expressions import ExpressionError, parse
from explorer.ui.messages import catalogue


def refusal(call, *args, **kwargs) -> InputError:
    with pytest.raises(InputError) as caught:
        call(*args, **kwargs)
    return caught.value


CHECKS = [   # (call, English allowed, German allowed)
    (lambda: check_int("steps", 0, 1, 50), "an integer in [1, 50]", "eine ganze Zahl in [1, 50]"),
    (lambda: check_float("guidance", 99.0, 0.0, 20.5), "a number in [0, 20.5]", "eine Zahl in [0, 20,5]"),
    (lambda: check_choice("scheduler", "x", ["ddim", "euler"]), "one of ddim, euler", "einen der Werte ddim, euler"),
    (lambda: check_bool("renormalize", "yes"), "true or false", "true oder false"),
    (lambda: check_text("prompt", " "), "a non-empty text", "einen nicht leeren Text"),
    (lambda: check_text("prompt", "x" * 1200, max_chars=1000), "at most 1000 characters", "höchstens 1000 Zeichen"),
]


@pytest.mark.parametrize("call, english, german", CHECKS)
def test_checks_are_keyed_english_as_before_and_german_by_key(call, english, german):
    error = refusal(call)
    assert is_keyed(error.allowed) and error.allowed == english
    assert render(error.allowed, "de") == german


def test_a_check_takes_no_plain_english_note_or_noun():
    """check_int's note and check_text's noun are keyed (a plain English one would reach a German page as it is: no
    pattern translates it): a plain one is refused at the call, even when the value passes."""
    from explorer.messages import say

    with pytest.raises(TypeError, match="keyed message"):
        check_int("k", 3, 1, 8, " (the index holds 8)")
    with pytest.raises(TypeError, match="keyed message"):
        check_text("query", "a cat", noun="search text")
    note = say("archive.note.k_holds", n=8)
    assert check_int("k", 3, 1, 8, note) == 3 and check_text("prompt", "a cat", noun="prompt") == "a cat"
    blank = refusal(check_text, "walk.a", " ", noun="prompt")
    assert blank.allowed == "a non-empty prompt" and render(blank.allowed, "de") == "einen nicht leeren Prompt"
    assert render(refusal(check_int, "k", 9, 1, 8, note).allowed, "de").startswith("eine ganze Zahl in [1, 8]")


def test_a_check_int_refusal_on_a_german_page():
    error = refusal(check_int, "steps", 51, 1, 50)
    assert str(error) == "steps: expected an integer in [1, 50], received 51"          # API, CLI: unchanged
    assert catalogue("de").error(error, {"steps": "Schritte"}) == \
        "Schritte: erwartet eine ganze Zahl in [1, 50], erhalten 51"
    long = refusal(check_text, "prompt", "x" * 1500, max_chars=1000)
    assert str(long) == "prompt: expected at most 1000 characters, received '1500 characters'"
    assert catalogue("de").error(long) == "`prompt`: erwartet höchstens 1000 Zeichen, erhalten '1500 Zeichen'"
    # the frame itself is keyed: refusal lines come from the error.* templates
    assert catalogue("de").refusal("x") == "**⚠ Nicht ausgeführt — x** Die angezeigten Ergebnisse stammen von " \
        "vorher."


def test_recipe_and_expression_refusals_render_in_german():
    error = refusal(Recipe.from_dict, {"model": "m", "prompt": "p", "colour": 1})
    assert error.allowed.startswith("only the fields ") and render(error.allowed, "de").startswith("nur die Felder ")
    with pytest.raises(ExpressionError) as caught:
        parse("2 * 3")
    german = catalogue("de").error(caught.value)
    assert german.startswith("Ausdruck: erwartet eine Phrase oder eine Zahl mal eine Phrase an Position 0, "
                             "erhalten die Zahl 6. Eine Zahl allein ist kein Prompt"), german
    assert "\n" in german and german.endswith("^")                      # the caret lines stay


def test_library_notes_and_received_values_are_keyed(tmp_path):
    parsed = parse_parameters("a cat\nSteps: 20, Seed: 1, Clip skip: 2, Steps: 25")
    assert parsed.notes and all(is_keyed(note) for note in parsed.notes)
    assert render(parsed.notes[0], "de").startswith("Seed: A1111 hat das Rauschen")
    assert [render(entry, "de") for entry in parsed.ignored if "Steps" in entry] == \
        ["Steps: 20 (wiederholt: Der letzte Wert gilt)"]
    error = refusal(open_image, tmp_path / "missing.png")
    assert render(error.allowed, "de") == "eine vorhandene Bilddatei"
