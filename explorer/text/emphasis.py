"""AUTOMATIC1111's prompt emphasis: `(word)`, `((word))`, `[word]`, `(word:1.3)` and `\\(` escapes.

The parser follows A1111's `parse_prompt_attention` (modules/prompt_parser.py): `(...)` multiplies the
weight of what it holds by 1.1, `[...]` divides it by 1.1, `(...:w)` multiplies it by w, brackets
nest and multiply, an unclosed bracket applies to the rest of the prompt, and `\\(`, `\\)`, `\\[`,
`\\]`, `\\\\` are the literal characters. How the weights act is A1111's "Original" emphasis
(modules/sd_hijack_clip.py): each token's output vector of the text encoder is multiplied by its
weight, then the whole sequence is rescaled so that its mean is what it was (`apply`).

Prompt editing `[a:b:when]` and alternation `[a|b]` are read before emphasis (text.prompt_editing): each step's
text is then a prompt of its own. Not supported, and named in a message rather than read as literal text:
`BREAK` (A1111 starts a new 75-token chunk; the explorer keeps every prompt in one 77-token sequence, so
prompts can be compared, mixed and batched), `AND` inside a prompt (Composable Diffusion runs as a blend
recipe) and compel's `word++` / `word--` syntax. Nor is emphasis whose mean restore would divide by ~0
(`apply`): A1111 gives all-zero, NaN or sign-flipped conditioning there without a word.
"""
from __future__ import annotations

import re

import torch

from explorer.errors import InputError
from explorer.messages import say

ROUND, SQUARE = 1.1, 1 / 1.1          # A1111's multipliers for ( ) and [ ]
NEAR_ZERO = 1e-6                      # a mean below this times the mean |value| is float rounding: ~0
MAX_RESCALE = 10.0                    # the mean restore's factor lies in [1/10, 10] (real encoders: ~1 +- 0.05)
# A1111's token expression (modules/prompt_parser.py re_attention), in the same order of alternatives
RE_ATTENTION = re.compile(r"""
\\\(|\\\)|\\\[|\\]|\\\\|\\|
\(|\[|
:\s*([+-]?[.\d]+)\s*\)|
\)|]|
[^\\()\[\]:]+|
:
""", re.X)
RE_BREAK = re.compile(r"\bBREAK\b")
RE_SYNTAX = re.compile(r"[()\[\]\\]")
RE_COMPEL = re.compile(r"\w(\+\++|-\-+)(?=\s|,|$)")
RE_AND = re.compile(r"\bAND\b")


def has_syntax(text: str) -> bool:
    """Whether a prompt uses any emphasis syntax (brackets or escapes); without it, nothing changes."""
    return bool(RE_SYNTAX.search(text or ""))


def check_supported(text: str, field_name: str = "prompt") -> None:
    """Refuse what A1111 or compel would read as syntax but the explorer cannot reproduce."""
    if RE_BREAK.search(text or ""):
        raise InputError(field_name, say("emphasis.no_break"), "BREAK", hint=say("emphasis.remove_break"))
    if RE_AND.search(text or ""):
        raise InputError(field_name, say("emphasis.no_and"), "AND")
    match = RE_COMPEL.search(text or "")
    if match:
        raise InputError(field_name, say("emphasis.no_compel"), repr(match.group(0)), hint=say("emphasis.compel_hint"))


def parse_attention(text: str) -> list[tuple[str, float]]:
    """[(text, weight)] of a prompt, as A1111's parse_prompt_attention gives it (runs of one weight merged)."""
    res: list[list] = []
    round_brackets: list[int] = []
    square_brackets: list[int] = []

    def multiply_range(start: int, multiplier: float) -> None:
        for p in range(start, len(res)):
            res[p][1] *= multiplier

    for m in RE_ATTENTION.finditer(text):
        piece, weight = m.group(0), m.group(1)
        if piece.startswith("\\"):
            res.append([piece[1:], 1.0])
        elif piece == "(":
            round_brackets.append(len(res))
        elif piece == "[":
            square_brackets.append(len(res))
        elif weight is not None and round_brackets:
            multiply_range(round_brackets.pop(), float(weight))
        elif piece == ")" and round_brackets:
            multiply_range(round_brackets.pop(), ROUND)
        elif piece == "]" and square_brackets:
            multiply_range(square_brackets.pop(), SQUARE)
        else:
            res.append([piece, 1.0])
    for pos in round_brackets:
        multiply_range(pos, ROUND)
    for pos in square_brackets:
        multiply_range(pos, SQUARE)
    if not res:
        res = [["", 1.0]]
    i = 0
    while i + 1 < len(res):                     # merge neighbours of one weight
        if res[i][1] == res[i + 1][1]:
            res[i][0] += res[i + 1][0]
            res.pop(i + 1)
        else:
            i += 1
    return [(piece, float(weight)) for piece, weight in res]


def weighted_ids(tokenizer, text: str) -> tuple[list[int], list[float]]:
    """Content token ids of a prompt (no start/end tokens) and each one's weight: each fragment is
    tokenized on its own, as A1111 does."""
    ids, weights = [], []
    for piece, weight in parse_attention(text):
        piece_ids = tokenizer(piece, add_special_tokens=False, truncation=False)["input_ids"]
        ids.extend(piece_ids)
        weights.extend([weight] * len(piece_ids))
    return ids, weights


def apply(z: torch.Tensor, weights: torch.Tensor, field_name: str = "prompt") -> torch.Tensor:
    """A1111's Original emphasis: z (B, T, d) times each token's weight (B, T), rescaled to z's original mean."""
    original_mean = z.mean()
    weighted = z * weights.to(z.dtype)[..., None]
    new_mean = weighted.mean()
    check_rescale(float(original_mean), float(new_mean), float(z.abs().mean()), field_name)
    return weighted * (original_mean / new_mean)


def check_rescale(original_mean: float, new_mean: float, scale: float, field_name: str = "prompt") -> None:
    """Refuse a mean restore (factor original_mean / new_mean) that divides by ~0, scales toward 0 or flips the
    sign: an encoder whose outputs average to ~0 (tiny-random's LayerNorm without bias: |mean| ~1e-8 of the mean
    |value|, or exactly 0), where A1111 makes all-zero, NaN or negated conditioning. "~0": below NEAR_ZERO times the
    mean |value| (miniworld's means are ~5e-4 of it, tiny-random-xl's ~0.1); the factor within MAX_RESCALE."""
    tiny = NEAR_ZERO * scale
    factor = original_mean / new_mean if abs(new_mean) > tiny else float("nan")
    if not (abs(original_mean) > tiny and 1 / MAX_RESCALE <= factor <= MAX_RESCALE):
        raise InputError(field_name, say("emphasis.rescale", near=NEAR_ZERO, r=MAX_RESCALE),
                         say("emphasis.means", before=original_mean, after=new_mean),
                         hint=say("emphasis.rescale_hint"))
