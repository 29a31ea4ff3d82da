"""The refusal frame, the generic validators, walks and the server's texts are keyed where they are made (issue 27,
item 3): the English reads byte for byte as before, a German page renders each from its key (the pattern
catalogue assets/i18n/messages.de.json is gone)."""
from __future__ import annotations

import pytest

from explorer.config import ExplorerConfig
from explorer.errors import InputError
from explorer.messages import is_keyed
from explorer.ui.messages import catalogue

DE, EN = catalogue("de"), catalogue("en")


def refused(call) -> InputError:
    with pytest.raises(InputError) as caught:
        call()
    return caught.value


def test_a_long_value_is_cut_short_in_either_language():
    error = InputError("prompt", "text", "x" * 1000)
    assert str(error) == f"prompt: expected text, received '{'x' * 78}… (1,000 characters)'"      # as before
    assert is_keyed(error.received)
    assert DE.error(error).endswith(f"erhalten '{'x' * 78}… (1.000 Zeichen)'")


def test_an_unexpected_error_is_keyed():
    from explorer.ui.events import as_gr_error

    error = as_gr_error(KeyError("/secret"), "on_test")
    assert error.message == ("Something went wrong (KeyError). The server keeps running; please report this with "
                             "the recipe.")
    assert DE.message(error) == ("Etwas ist schiefgegangen (KeyError). Der Server läuft weiter; bitte melden Sie "
                                 "dies zusammen mit dem Rezept.")


@pytest.mark.parametrize("make, payload, english, german", [
    ("Slider", 99.0, "guidance: expected a number in [0, 20], received 99.0",
     "`guidance`: erwartet eine Zahl in [0, 20], erhalten 99,0"),
    ("Number", "x", "guidance: expected a finite number in [0, 2.5], received 'x'",
     "`guidance`: erwartet eine endliche Zahl in [0, 2,5], erhalten 'x'"),
    ("NumberOpen", "x", "guidance: expected a finite number, received 'x'",
     "`guidance`: erwartet eine endliche Zahl, erhalten 'x'"),
    ("Textbox", 5, "guidance: expected text, received 5", "`guidance`: erwartet einen Text, erhalten 5"),
    ("Textbox", "x" * 20_001, "guidance: expected at most 20,000 characters, received '20,001 characters'",
     "`guidance`: erwartet höchstens 20.000 Zeichen, erhalten '20.001 Zeichen'"),
    ("Checkbox", "yes", "guidance: expected true or false, received 'yes'",
     "`guidance`: erwartet true oder false, erhalten 'yes'"),
    ("Radio", 3, "guidance: expected one of slerp, lerp, received 3",
     "`guidance`: erwartet einen der Werte slerp, lerp, erhalten 3"),
    ("File", 3, "guidance: expected an uploaded file of type .txt, received 3",
     "`guidance`: erwartet eine hochgeladene Datei vom Typ .txt, erhalten 3"),
    ("Image", 3, "guidance: expected an uploaded PNG or JPEG image, received 3",
     "`guidance`: erwartet ein hochgeladenes PNG- oder JPEG-Bild, erhalten 3"),
])
def test_the_page_inputs_refuse_in_keyed_words(make, payload, english, german):
    import gradio as gr

    from explorer.ui import components

    made = {"Slider": lambda: components.Slider(0, 20, field="guidance"),
            "Number": lambda: components.Number(minimum=0, maximum=2.5, field="guidance"),
            "NumberOpen": lambda: components.Number(field="guidance"),
            "Textbox": lambda: components.Textbox(field="guidance"),
            "Checkbox": lambda: components.Checkbox(field="guidance"),
            "Radio": lambda: components.Radio(["slerp", "lerp"], field="guidance"),
            "File": lambda: components.File(file_types=[".txt"], field="guidance"),
            "Image": lambda: components.Image(field="guidance")}[make]()
    with pytest.raises(gr.Error) as caught:
        made.check(payload) if make not in ("File", "Image") else made.refuse(payload)
    error = caught.value.__cause__
    assert str(error) == english and caught.value.message == english
    assert is_keyed(error.allowed) and DE.error(error) == german


def test_an_upload_over_the_limit_is_keyed(tmp_path):
    from explorer.ui.files import check_upload

    path = tmp_path / "big.txt"
    path.write_bytes(b"x" * 2_000)
    config = ExplorerConfig(max_upload_bytes=1_000)
    error = refused(lambda: check_upload("vocabulary", path, config))
    assert str(error) == "vocabulary: expected a file of at most 1,000 bytes, received '2,000 bytes'"
    assert DE.error(error) == "`vocabulary`: erwartet eine Datei von höchstens 1.000 Bytes, erhalten '2.000 Bytes'"
    error = refused(lambda: check_upload("vocabulary", tmp_path / "gone.txt", config))
    assert DE.error(error) == "`vocabulary`: erwartet eine hochgeladene Datei, erhalten 'gone.txt'"


def test_a_walk_says_what_it_received_in_keyed_words():
    from explorer.explore.walks import check_ends

    config = ExplorerConfig()
    error = refused(lambda: check_ends(["a cat"], [3], 8, config))
    assert error.received == "1 prompt and 1 seed" and DE.received(error.received) == "1 Prompt(s) und 1 Seed(s)"
    error = refused(lambda: check_ends(["a", "b", "c"], [3], 40, config))
    assert error.received == "40 per segment = 79 frames"
    assert DE.received(error.received) == "40 je Abschnitt = 79 Bilder"


def test_a_lesson_missing_keys_is_keyed():
    from explorer.lesson.chapters import _chapter

    error = refused(lambda: _chapter({"id": "x", "title": "t"}, 0, "lesson.json"))
    assert error.received == "missing read, question, view, show"
    assert DE.received(error.received) == "es fehlen read, question, view, show"


def test_an_a1111_empty_value_is_keyed():
    from explorer.outputs.a1111 import parse_parameters

    parsed = parse_parameters("a cat\nSteps: 20, Sampler: , Seed: 3")
    assert "Sampler: (empty)" in parsed.ignored
    assert "Sampler: (leer)" in [DE.text(entry) for entry in parsed.ignored]


def test_the_class_code_login_text_is_the_same():
    from explorer.ui.app import class_code_login

    assert class_code_login("abc")["auth_message"] == (
        "latent-explorer asks for the class code: type your name (any) and, as the password, the code your teacher "
        "gave you. / Klassencode: Ihren Namen (beliebig) und als Passwort den Code, den Ihre Lehrkraft Ihnen gegeben "
        "hat.")


def test_figures_and_progress_units_are_keyed():
    from explorer.formats import separators

    assert separators("de") == ",." and separators("en") == ".,"
    assert DE.figure({"data": [], "layout": {}})["layout"]["separators"] == ",."
    assert DE.unit("steps") == "Schritte" and DE.unit("steps/s") == "Schritte/s" and EN.unit("steps") == "steps"


def test_a_dropdowns_keyed_choice_labels_are_shown_in_german_with_their_values_kept():
    """The attention word dropdown's padding entry (explorer.ui.generate_attention): label in the page's language,
    value the library's name (what the handler looks up)."""
    import gradio as gr

    from explorer.messages import say
    from explorer.ui.i18n import shown
    from explorer.ui.messages import catalogue

    update = gr.update(choices=[(say("generate.attention.padding_tokens", n=70), "padding (70 tokens)"),
                                ("red", "red")], value="red")
    german = shown(update, "Dropdown", catalogue("de"))
    assert german["choices"] == [("Padding (70 Token)", "padding (70 tokens)"), ("red", "red")]
    assert shown(update, "Dropdown", catalogue("en"))["choices"][0] == ("padding (70 tokens)", "padding (70 tokens)")


def test_counts_in_the_thousands_are_grouped_as_each_language_writes_them():
    from explorer.messages import render, say

    message = say("concepts.index.encoded", n=3314, name="words", seconds=1.25)
    assert message == "Encoded 3,314 entries of 'words' in 1.2 s"
    assert render(message, "de") == "3.314 Einträge von 'words' in 1,2 s codiert"
