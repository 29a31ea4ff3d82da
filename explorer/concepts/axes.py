"""Concept axes: a direction between two poles ("summer" <-> "winter"), the vocabulary ranked along
it, and a prompt moved along it.

The ranking is the TensorFlow Embedding Projector's custom projection (Smilkov et al. 2016,
arXiv:1611.05469): with unit pooled vectors a (first pole) and b (second pole), an entry e lies at

    position(e) = (e - a) . (b - a) / |b - a|^2         0 at the first pole, 1 at the second

Moving a prompt along the axis is prompt arithmetic in the conditioning space (the 77-token
sequence the UNet attends to), renormalised per token like every expression in the explorer:

    prompt + amount * (second pole - first pole)

so a generated image's recipe is an ordinary expression that regenerates it.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from explorer.checks import check_float
from explorer.errors import InputError
from explorer.generation.recipe import Origin, recipe_defaults
from explorer.messages import say
from explorer.text import encoding
from explorer.text.expressions import parse
from explorer.text.phrases import is_expression, quote_checked, strip_prefix
from explorer.text.tokens import check_prompt_length

MAX_AMOUNT = 2.0          # |amount| of the axis a prompt may move: beyond this the sequence leaves CLIP's range
PARALLEL = 1e-4           # |b - a| below this: the poles encode to the same vector, no direction


@dataclass
class ConceptAxis:
    """Two poles and their unit pooled vectors (d,)."""

    pole_a: str
    pole_b: str
    a: np.ndarray             # (d,) unit pooled vector of the first pole
    b: np.ndarray             # (d,) of the second

    def positions(self, vectors: np.ndarray) -> np.ndarray:
        """Position of each unit vector (n, d) on the axis: (n,), 0 at the first pole, 1 at the second."""
        direction = self.b - self.a                                            # (d,)
        return ((vectors - self.a) @ direction) / float(direction @ direction)


@dataclass
class AxisRanking:
    """Every vocabulary entry sorted by its position on an axis (first pole first)."""

    pole_a: str
    pole_b: str
    labels: list[str]
    categories: list[str]
    positions: list[float]

    def rows(self, end: str = "a", n: int = 20) -> list[list]:
        """[label, category, position] of the n entries nearest one end ("a" or "b")."""
        order = range(len(self.labels)) if end == "a" else range(len(self.labels) - 1, -1, -1)
        return [[self.labels[i], self.categories[i], round(self.positions[i], 4)] for i in list(order)[:n]]

    def to_dict(self, n: int = 20) -> dict:
        return {"pole_a": self.pole_a, "pole_b": self.pole_b, "entries": len(self.labels),
                "toward_a": [dict(zip(("label", "category", "position"), r)) for r in self.rows("a", n)],
                "toward_b": [dict(zip(("label", "category", "position"), r)) for r in self.rows("b", n)]}


def check_poles(pole_a, pole_b) -> tuple[str, str]:
    """Two different, non-empty phrases."""
    poles = []
    for name, pole in (("pole_a", pole_a), ("pole_b", pole_b)):
        if not isinstance(pole, str) or not pole.strip():
            raise InputError(name, say("concepts.allowed.pole"), pole)
        poles.append(" ".join(pole.split()))
    if poles[0].lower() == poles[1].lower():
        raise InputError("pole_b", say("concepts.allowed.other_pole"), poles[1])
    return poles[0], poles[1]


def make_axis(model, pole_a: str, pole_b: str) -> ConceptAxis:
    """The axis between two phrases, from their pooled text vectors."""
    pole_a, pole_b = check_poles(pole_a, pole_b)
    vectors = []
    with model.text_lock:                                   # the tokenizer's padding settings are shared state
        for name, pole in (("pole_a", pole_a), ("pole_b", pole_b)):
            check_prompt_length(model, pole, name)
            v = encoding.pooled(model, pole)[0].float().cpu().numpy()
            vectors.append(v / max(float(np.linalg.norm(v)), 1e-12))
    if float(np.linalg.norm(vectors[1] - vectors[0])) < PARALLEL:
        raise InputError("pole_b", say("concepts.allowed.distinct_pole"), pole_b, hint=say("concepts.hint.same_poles"))
    return ConceptAxis(pole_a, pole_b, vectors[0], vectors[1])


def rank_vocabulary(index, axis: ConceptAxis) -> AxisRanking:
    """Every entry of a ConceptIndex sorted along the axis (ascending: the first pole's end first)."""
    if index.dim != axis.a.shape[0]:
        raise InputError("vocabulary", say("concepts.allowed.model_dimension", d=axis.a.shape[0]), index.dim)
    positions = axis.positions(index.embeddings)                               # (N,)
    order = np.argsort(positions, kind="stable")
    vocab = index.vocabulary
    return AxisRanking(axis.pole_a, axis.pole_b, [vocab.entries[i] for i in order],
                       [vocab.categories[i] for i in order], [float(positions[i]) for i in order])


def check_amount(amount) -> float:
    """How far to move along the axis: a finite number in [-MAX_AMOUNT, MAX_AMOUNT]."""
    return check_float("amount", amount, -MAX_AMOUNT, MAX_AMOUNT)


def axis_expression(prompt: str, pole_a: str, pole_b: str, amount: float) -> str | None:
    """`prompt + amount * (pole_b - pole_a)` as expression text; the prompt may be an "= expression".

    None at amount 0 for a plain prompt (the prompt itself is the recipe).
    """
    pole_a, pole_b = check_poles(pole_a, pole_b)
    amount = check_amount(amount)
    if not isinstance(prompt, str) or not prompt.strip():
        raise InputError("prompt", say("concepts.allowed.axis_prompt"), prompt)
    expression = is_expression(prompt)
    if expression:
        parse(strip_prefix(prompt))                           # errors point into the user's own expression
    base = f"({strip_prefix(prompt)})" if expression else quote_checked(" ".join(prompt.split()))
    if amount == 0:
        return parse(base).describe() if expression else None
    return parse(f"{base} + {amount!r} * {quote_checked(pole_b, 'pole_b')} - "
                 f"{amount!r} * {quote_checked(pole_a, 'pole_a')}").describe()


def axis_recipe(model, prompt: str, pole_a: str, pole_b: str, amount: float, **overrides):
    """A Recipe for the prompt moved `amount` along the axis (its expression regenerates the image)."""
    expression = axis_expression(prompt, pole_a, pole_b, amount)
    origin = Origin("axis", pole_a=pole_a, pole_b=pole_b, amount=check_amount(amount))
    plain = strip_prefix(prompt) if is_expression(prompt) else " ".join(prompt.split())
    return recipe_defaults(model, plain, expression=expression, origin=origin, **overrides)
