"""Prompt arithmetic: parse `"van gogh" + astronaut` or `king - man + woman` into weighted phrases.

Grammar (recursive descent, operators bind as usual, `×` is accepted for `*`):
    expr   := term (('+' | '-') term)*
    term   := factor ('*' factor)*        a product needs a number on one side
    factor := NUMBER | PHRASE | '(' expr ')' | '-' factor
    PHRASE := "double" or 'single' quoted text (may hold + - * ( ))
            | bare words: letters and digits, apostrophes and hyphens inside words,
              spaces between words, and , . ; ! ? & / _ after the first character
A digit-only word followed by another word starts a phrase ("3 cats"); otherwise it is a number.
Everything is linear, so the result is a list of (weight, phrase) whose embeddings the caller sums.
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass, field

from explorer.errors import InputError
from explorer.messages import say
from explorer.text.phrases import quote

MAX_WEIGHT = 10.0        # |weight| of each phrase after reduction, in [-MAX_WEIGHT, MAX_WEIGHT]
MAX_TERMS = 16           # distinct phrases per expression (each costs one text-encoder pass)
MAX_CHARS = 1000         # length of the whole expression
MAX_PHRASE_CHARS = 300   # length of one phrase after whitespace normalisation
MAX_DEPTH = 50           # nested parentheses and unary minus signs (keeps recursion shallow)
ZERO_WEIGHT = 1e-9       # weights this small count as cancelled (0.1*a + 0.2*a - 0.3*a)

_NUMBER = re.compile(r"(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?")
_OPERATORS = {"+": "+", "-": "-", "*": "*", "×": "*", "(": "(", ")": ")"}
_BARE_PUNCTUATION = ",.;!?&/_"           # allowed inside bare phrases, never first
_NOT_FINITE = {"nan", "inf", "infinity"}


class ExpressionError(InputError):
    """A malformed prompt expression; `.position` is the 0-based offset the caret points at."""

    def __init__(self, text: str, position: int, allowed: str, received: str, hint: str = "",
                 field: str = "expression"):
        super().__init__(field, allowed, received, hint)
        self.text = text
        self.position = position
        message = say("error.expected_at", field=field, allowed=allowed, position=position, received=self.received)
        if hint:
            message += say("error.hint", hint=hint)
        self.args = (message + "\n" + caret_lines(text, position),)


def caret_lines(text: str, position: int, width: int = 72, indent: str = "    ") -> str:
    """Two lines: the line of `text` holding `position` (windowed to `width`) and a caret under it."""
    start = text.rfind("\n", 0, position) + 1
    end = text.find("\n", position)
    line = text[start:] if end < 0 else text[start:end]
    column = position - start
    left = ""
    if len(line) > width:                                  # window around the caret
        first = max(0, min(column - width // 2, len(line) - width))
        left = "..." if first > 0 else ""
        line = left + line[first:first + width] + ("..." if first + width < len(line) else "")
        column = column - first + len(left)
    line = re.sub(r"\s", " ", line)                       # one column per character
    return f"{indent}{line}\n{indent}{' ' * column}^"


@dataclass(frozen=True)
class Expression:
    """An expression reduced to a linear combination: terms [(weight, phrase)] in order of appearance."""

    text: str
    terms: list[tuple[float, str]] = field(default_factory=list)

    @property
    def phrases(self) -> list[str]:
        return [phrase for _, phrase in self.terms]

    @property
    def weights(self) -> list[float]:
        return [weight for weight, _ in self.terms]

    def describe(self) -> str:
        """E.g. `0.6 × "a photo of a cat" + 0.4 × "an oil painting"` (re-parses to the same terms)."""
        parts = []
        for i, (weight, phrase) in enumerate(self.terms):
            quoted = quote(phrase)
            sign = ("- " if i else "-") if weight < 0 else ("+ " if i else "")
            size = abs(weight)
            parts.append(sign + (quoted if size == 1 else f"{size:g} × {quoted}"))
        return " ".join(parts)


def parse(text: str) -> Expression:
    """Parse a prompt expression into weighted phrases; raise ExpressionError on malformed input."""
    # 1. validate the text as a whole
    if not isinstance(text, str):
        raise InputError("expression", say("expression.string"), type(text).__name__)
    if len(text) > MAX_CHARS:
        raise ExpressionError(text, MAX_CHARS, say("checks.at_most_chars", n=MAX_CHARS),
                              say("checks.chars", n=len(text)))
    if not text.strip():
        raise ExpressionError(text, 0, say("expression.example"),
                              say("expression.only_whitespace") if text else say("expression.empty"))
    # 2. tokenize and parse into a linear combination
    parser = _Parser(text, _tokenize(text))
    value = parser.expression()
    token = parser.peek()
    if token.kind == ")":
        parser.fail(token, say("expression.operator_or_end"), hint=say("expression.unbalanced_close"))
    if token.kind != "end":
        parser.fail(token, say("expression.between_terms"))
    if value.scalar is not None:
        raise ExpressionError(text, value.pos, say("expression.term"), say("expression.the_number_g", x=value.scalar),
                              say("expression.number_alone"))
    # 3. reduce: drop cancelled terms, check the weights
    terms = [(w, p) for p, w in value.weights.items() if not abs(w) <= ZERO_WEIGHT]  # keeps NaN
    if not terms:
        raise ExpressionError(text, 0, say("expression.non_zero"), say("expression.sum_zero"),
                              say("expression.cancel"))
    for weight, phrase in terms:
        if not math.isfinite(weight) or abs(weight) > MAX_WEIGHT:
            raise ExpressionError(text, parser.positions[phrase],
                                  say("expression.weight_in", low=-MAX_WEIGHT, high=MAX_WEIGHT),
                                  say("expression.weight_for", w=weight, phrase=quote(phrase)))
    return Expression(text=text, terms=terms)


# --- tokens ------------------------------------------------------------------------------------

@dataclass(frozen=True)
class _Token:
    kind: str            # "number", "phrase", "+", "-", "*", "(", ")", "end"
    pos: int             # offset of the first character
    value: object = None  # float for numbers, the normalised phrase for phrases
    raw: str = ""


def _tokenize(text: str) -> list[_Token]:
    """Split text into tokens; quoted and bare phrases come out whitespace-normalised."""
    tokens, i, n = [], 0, len(text)
    while True:
        while i < n and text[i].isspace():
            i += 1
        if i == n:
            return tokens + [_Token("end", n, raw=say("expression.end"))]
        ch = text[i]
        if ch in _OPERATORS:
            tokens.append(_Token(_OPERATORS[ch], i, raw=ch))
            i += 1
        elif ch in "\"'":
            close = text.find(ch, i + 1)
            if close < 0:
                raise ExpressionError(text, i, say("expression.closing_quote", quote=ch), say("expression.end"),
                                      say("expression.unterminated"))
            tokens.append(_phrase_token(text, i, text[i + 1:close], close + 1))
            i = close + 1
        elif (number := _NUMBER.match(text, i)) and not _starts_phrase(text, number):
            value = float(number.group())
            if not math.isfinite(value):
                raise ExpressionError(text, i, say("expression.finite_number", low=-MAX_WEIGHT, high=MAX_WEIGHT),
                                      number.group())
            tokens.append(_Token("number", i, value, number.group()))
            i = number.end()
        elif ch.isalnum():
            end = _bare_end(text, i)
            tokens.append(_phrase_token(text, i, text[i:end], end))
            i = end
        else:
            hint = say("expression.a1111_weights") if ch == ":" else say("expression.quote_punctuation")
            raise ExpressionError(text, i, say("expression.token"), repr(ch), hint)


def _starts_phrase(text: str, number: re.Match) -> bool:
    """Whether a numeric literal begins a bare phrase instead: "4k", "1980s", "3 cats"."""
    j = number.end()
    if j < len(text) and (text[j].isalnum() or text[j] in "_'"):
        return True                                       # glued to letters: a word
    k = j
    while k < len(text) and text[k].isspace():
        k += 1
    return number.group().isdigit() and k < len(text) and k > j and text[k].isalnum()


def _bare_end(text: str, i: int) -> int:
    """End offset of the run of bare words starting at i (trailing spaces excluded)."""
    n, end, j = len(text), i, i
    while j < n:
        ch = text[j]
        word_start = j == i or text[j - 1].isspace()
        if ch.isalnum() or (ch in _BARE_PUNCTUATION and j > i):
            j += 1
        elif ch == "'" and not word_start:
            j += 1                                        # apostrophe: o'keeffe, artists'
        elif ch == "-" and not word_start and j + 1 < n and text[j + 1].isalnum() and text[j - 1].isalnum():
            j += 1                                        # hyphen inside a word: x-ray
        elif ch.isspace():
            j += 1
            continue
        else:
            break
        end = j
    return end


def _phrase_token(text: str, pos: int, body: str, end: int) -> _Token:
    phrase = " ".join(body.split())
    if not phrase:
        raise ExpressionError(text, pos, say("expression.non_empty_phrase"), text[pos:end])
    if len(phrase) > MAX_PHRASE_CHARS:
        raise ExpressionError(text, pos, say("expression.phrase_chars", n=MAX_PHRASE_CHARS),
                              say("checks.chars", n=len(phrase)))
    return _Token("phrase", pos, phrase, text[pos:end])


# --- parser ------------------------------------------------------------------------------------

@dataclass
class _Value:
    """A number (scalar set) or a linear combination {phrase: weight}; pos is where it starts."""
    pos: int
    scalar: float | None = None
    weights: dict[str, float] = field(default_factory=dict)

    def scaled(self, k: float, pos: int) -> _Value:
        if self.scalar is not None:
            return _Value(pos, self.scalar * k)
        return _Value(pos, None, {p: w * k for p, w in self.weights.items()})


class _Parser:
    def __init__(self, text: str, tokens: list[_Token]):
        self.text, self.tokens, self.i, self.depth = text, tokens, 0, 0
        self.positions: dict[str, int] = {}              # phrase -> first position

    def peek(self) -> _Token:
        return self.tokens[self.i]

    def take(self) -> _Token:
        token = self.tokens[self.i]
        self.i += 1
        return token

    def fail(self, token: _Token, allowed: str, hint: str = ""):
        received = say("expression.end") if token.kind == "end" else \
            say("expression.the_number", x=token.raw) if token.kind == "number" else \
            say("expression.the_phrase", phrase=quote(str(token.value))) if token.kind == "phrase" else f"'{token.raw}'"
        raise ExpressionError(self.text, token.pos, allowed, received, hint)

    def expression(self) -> _Value:
        """expr := term (('+' | '-') term)*"""
        first = self.term()
        if self.peek().kind not in ("+", "-"):
            return first                                  # a lone term may be a number: 2 * (3) * x
        total = _Value(first.pos)
        self._add(total, first, 1.0)
        while self.peek().kind in ("+", "-"):
            sign = -1.0 if self.take().kind == "-" else 1.0
            self._add(total, self.term(), sign)
        return total

    def _add(self, total: _Value, term: _Value, sign: float) -> None:
        if term.scalar is not None:
            raise ExpressionError(self.text, term.pos, say("expression.term"),
                                  say("expression.the_number_g", x=term.scalar), say("expression.number_alone"))
        for phrase, weight in term.weights.items():
            total.weights[phrase] = total.weights.get(phrase, 0.0) + sign * weight

    def term(self) -> _Value:
        """term := factor ('*' factor)*, with a number on one side of each '*'."""
        value = self.factor()
        while self.peek().kind == "*":
            star = self.take()
            other = self.factor()
            if value.scalar is None and other.scalar is None:
                for side in (value, other):
                    if len(side.weights) == 1 and next(iter(side.weights)).lower() in _NOT_FINITE:
                        raise ExpressionError(self.text, side.pos,
                                              say("expression.finite_weight", low=-MAX_WEIGHT, high=MAX_WEIGHT),
                                              next(iter(side.weights)))
                raise ExpressionError(self.text, star.pos, say("expression.one_side"), say("expression.both_sides"),
                                      say("expression.product"))
            if value.scalar is not None:
                value = other.scaled(value.scalar, value.pos)
            else:
                value = value.scaled(other.scalar, value.pos)
        return value

    def factor(self) -> _Value:
        """factor := NUMBER | PHRASE | '(' expr ')' | '-' factor"""
        token = self.take()
        if token.kind == "number":
            return _Value(token.pos, token.value)
        if token.kind == "phrase":
            phrase = token.value
            if phrase not in self.positions:
                if len(self.positions) == MAX_TERMS:
                    raise ExpressionError(self.text, token.pos, say("expression.max_terms", n=MAX_TERMS),
                                          say("expression.phrase_number", n=MAX_TERMS + 1, phrase=quote(phrase)))
                self.positions[phrase] = token.pos
            return _Value(token.pos, None, {phrase: 1.0})
        if token.kind in ("(", "-"):
            self.depth += 1
            if self.depth > MAX_DEPTH:
                self.fail(token, say("expression.max_depth", n=MAX_DEPTH))
            if token.kind == "-":
                value = self.factor().scaled(-1.0, token.pos)
            else:
                value = self.expression()
                closing = self.peek()
                if closing.kind != ")":
                    self.fail(closing, "')'", hint=say("expression.unbalanced_open", n=token.pos))
                self.take()
                value.pos = token.pos
            self.depth -= 1
            return value
        self.fail(token, say("expression.factor"))
