"""Tests of the prompt arithmetic language: reduced terms, error positions, messages and carets."""
import pytest

from explorer.errors import InputError
from explorer.text.expressions import MAX_CHARS, MAX_TERMS, Expression, ExpressionError, caret_lines, parse


@pytest.mark.parametrize("text, terms", [
    ('"van gogh" + astronaut', [(1.0, "van gogh"), (1.0, "astronaut")]),
    ("van gogh + astronaut", [(1.0, "van gogh"), (1.0, "astronaut")]),
    ('0.6 * "a photo of a cat" + 0.4 * "an oil painting"', [(0.6, "a photo of a cat"), (0.4, "an oil painting")]),
    ("king - man + woman", [(1.0, "king"), (-1.0, "man"), (1.0, "woman")]),
    ("2*(a - b) + c", [(2.0, "a"), (-2.0, "b"), (1.0, "c")]),
    ('"a red circle" - "red" + "blue"', [(1.0, "a red circle"), (-1.0, "red"), (1.0, "blue")]),
    ("a photo of a cat", [(1.0, "a photo of a cat")]),
    (".5*x", [(0.5, "x")]),
    ("1e-1 * x", [(0.1, "x")]),
    ("x * 2", [(2.0, "x")]),
    ("-x + 3*y", [(-1.0, "x"), (3.0, "y")]),
    ("-(a - 2*b) * 0.5", [(-0.5, "a"), (1.0, "b")]),
    ("2 * 3 * x", [(6.0, "x")]),
    ("2 × x", [(2.0, "x")]),
])
def test_valid_expressions_reduce_to_terms(text, terms):
    expression = parse(text)
    assert isinstance(expression, Expression)
    assert expression.text == text
    assert [p for _, p in expression.terms] == [p for _, p in terms]
    assert [w for w, _ in expression.terms] == pytest.approx([w for w, _ in terms])


def test_identical_phrases_are_summed_after_whitespace_normalisation_in_first_order():
    expression = parse('b + "a  cat" + 0.5 * a   cat - b + " a cat "')
    assert expression.terms == [(2.5, "a cat")]                             # b cancels and is dropped
    assert parse("x + y + x").terms == [(2.0, "x"), (1.0, "y")]


def test_quoted_phrases_may_hold_operators():
    assert parse("'a + b (c) * d - e'").terms == [(1.0, "a + b (c) * d - e")]
    assert parse('"it\'s" + x').phrases == ["it's", "x"]


@pytest.mark.parametrize("text, phrases", [
    ("georgia o'keeffe + x-ray", ["georgia o'keeffe", "x-ray"]),
    ("a cat, oil painting, 4k", ["a cat, oil painting, 4k"]),
    ("3 cats + 1980s", ["3 cats", "1980s"]),
    ("a photo of 3 cats", ["a photo of 3 cats"]),
    ("king-man", ["king-man"]),                                            # a hyphen joins words
])
def test_bare_words(text, phrases):
    assert parse(text).phrases == phrases


def test_describe_formats_and_round_trips():
    expression = parse('0.6 * "a photo of a cat" + 0.4 * "an oil painting"')
    assert expression.describe() == '0.6 × "a photo of a cat" + 0.4 × "an oil painting"'
    assert parse("king - man + woman").describe() == '"king" - "man" + "woman"'
    assert parse("-0.5 * x - y").describe() == '-0.5 × "x" - "y"'
    for text in ("2*(a - b) + c", "-x + 0.25 * 'say \"hi\"'"):
        assert parse(parse(text).describe()).terms == parse(text).terms


# --- errors ------------------------------------------------------------------------------------

def _error(text):
    with pytest.raises(ExpressionError) as info:
        parse(text)
    return info.value


@pytest.mark.parametrize("text, position, pieces", [
    ('"van gogh" +', 12, ["expected a phrase, a number or '('", "received end of input"]),
    ("", 0, ["expected a prompt expression", "received an empty expression"]),
    ("   ", 0, ["received only whitespace"]),
    ('x + ""', 4, ["expected a non-empty phrase", 'received ""']),
    ("x + 'abc", 4, ["a closing ' for the phrase", "received end of input", "Unterminated quote"]),
    ("(a + b", 6, ["expected ')'", "received end of input", "the '(' at position 0 is not closed"]),
    ("2*(a + (b)", 10, ["expected ')'", "the '(' at position 2 is not closed"]),
    ("a + b)", 5, ["received ')'", "no matching '('"]),
    (")", 0, ["expected a phrase, a number or '('", "received ')'"]),
    ("2*3", 0, ["received the number 6", "A number alone is not a prompt"]),
    ("x + 2", 4, ["received the number 2", "A number alone is not a prompt"]),
    ("a * b", 2, ["expected a number on one side of '*'", "A product of two phrases"]),
    ("1e999 * x", 0, ["a finite number", "[-10, 10]", "received 1e999"]),
    ("nan * x", 0, ["a finite weight in [-10, 10]", "received nan"]),
    ("x * inf", 4, ["a finite weight in [-10, 10]", "received inf"]),
    ("3*x + 11 * y", 11, ["a weight in [-10, 10]", 'received 11 for "y"']),
    ("x - 20 * (y + x)", 0, ["a weight in [-10, 10]", 'received -19 for "x"']),
    ("y + 1e300*1e300*x - 1e300*1e300*x", 16, ["a weight in [-10, 10]", 'received nan for "x"']),
    ("a - a", 0, ["at least one phrase with a non-zero weight", "The terms cancel to a zero vector"]),
    ("0.1*a + 0.2*a - 0.3*a", 0, ["The terms cancel to a zero vector"]),
    ('"a" "b"', 4, ["expected '+', '-' or '*' between terms", 'received the phrase "b"']),
    ("0.5 cats", 4, ["between terms", 'received the phrase "cats"']),
    ("+x", 0, ["received '+'"]),
    ("(word:1.2)", 5, ["received ':'", "write 1.2 * word"]),
])
def test_invalid_expressions(text, position, pieces):
    error = _error(text)
    assert isinstance(error, InputError) and isinstance(error, ValueError)
    assert error.field == "expression"
    assert error.position == position
    message = str(error)
    assert message.startswith("expression: expected ")
    assert f"at position {position}," in message
    for piece in pieces:
        assert piece in message


def test_too_many_terms_names_the_limit():
    text = " + ".join(f"'term {i}'" for i in range(MAX_TERMS + 1))
    error = _error(text)
    assert error.position == text.index("'term 16'")
    assert f"expected at most {MAX_TERMS} distinct phrases" in str(error)
    assert "received phrase number 17" in str(error)
    parse(" + ".join(f"'term {i}'" for i in range(MAX_TERMS)) + " + 'term 0'")  # repeats are free


def test_length_limits():
    error = _error("x" * (MAX_CHARS + 1))
    assert error.position == MAX_CHARS
    assert "expected at most 1000 characters" in str(error) and "received 1001 characters" in str(error)
    error = _error("y + " + "a" * 301)
    assert error.position == 4 and "a phrase of at most 300 characters" in str(error)
    parse("a" * 300)


def test_deep_nesting_is_an_error_not_a_crash():
    error = _error("(" * 60 + "x" + ")" * 60)
    assert "nested parentheses" in str(error)
    assert _error("-" * 200 + "x").position == 50


def test_non_string_is_an_input_error():
    with pytest.raises(InputError, match="expression: expected a string, received 'int'"):
        parse(3)


def test_caret_sits_under_the_position():
    error = _error('"van gogh" +')
    lines = str(error).splitlines()
    assert lines[1] == '    "van gogh" +'
    assert lines[2] == "    " + " " * 12 + "^"
    error = _error("a * b")
    assert str(error).splitlines()[2].index("^") == 4 + 2


def test_caret_on_multi_line_and_long_expressions():
    assert caret_lines("a +\nb * c", 6) == "    b * c\n      ^"
    long = "word " * 100                                                    # 500 characters
    line, caret = caret_lines(long, 250).splitlines()
    assert len(line) <= 4 + 3 + 72 + 3
    assert line[caret.index("^")] == long[250]
