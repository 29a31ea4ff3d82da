"""Prompt arithmetic: evaluate a parsed expression (sum of w_k * phrase_k) in one of three spaces.

    conditioning  the sequence the UNet attends to, (1, 77, d): sum_k w_k * E(phrase_k), position by
                  position (the default; what AUTOMATIC1111/ComfyUI embedding mixers do)
    token         the token-input embeddings before the transformer, (1, 77, d): sum_k w_k * T(phrase_k),
                  then run through the text transformer (position embeddings added once, causal mask)
    pooled        the pooled vector, (1, d): sum_k w_k * P(phrase_k); for readback and maps only,
                  the UNet needs a 77-token sequence, so it cannot generate from it

A sum of several prompts has a larger norm than any of them (two similar prompts added: nearly
twice as long), and the UNet has only seen sequences of CLIP's usual norm: the image "spikes".
With `renormalize` each token of the result is rescaled to the weighted mean norm of the
ingredients at that position (`vectors.renormalize` to `vectors.mean_norm`); the raw sum is kept too.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import torch

from explorer.errors import InputError
from explorer.messages import say
from explorer.models.families import TOKENS
from explorer.text import encoding
from explorer.text.expressions import Expression, parse
from explorer.text.tokens import check_prompt_length, tokenize
from explorer.text.vectors import mean_norm, renormalize

SPACES = ("conditioning", "token", "pooled")   # where an expression can be evaluated (see above)

SPACE_NOTES = {
    "conditioning": say("arithmetic.space_conditioning"),
    "token": say("arithmetic.space_token"),
    "pooled": say("arithmetic.space_pooled"),
}
CANCELLED = 1e-4          # a result shorter than this fraction of its ingredients counts as a zero vector


@dataclass
class ArithmeticResult:
    """An expression evaluated in one space; tensors on the CPU in float32."""

    expression: Expression
    space: str
    renormalized: bool
    conditioning: torch.Tensor | None        # (1, L, d) packed sequence generation uses; None in the pooled space
    raw_conditioning: torch.Tensor | None    # (1, L, d) the same without renormalisation
    pooled: torch.Tensor                     # (1, d) readback for similarities and nearest concepts
    raw_pooled: torch.Tensor                 # (1, d) without renormalisation
    token_norms: torch.Tensor | None = None      # (77,) per-token norm of the mix where it is made (the
    raw_token_norms: torch.Tensor | None = None  # conditioning, or the token inputs); raw: the spike
    reference_norms: torch.Tensor | None = None  # (77,) the ingredients' weighted mean norm there
    notes: list[str] = field(default_factory=list)

    @property
    def generatable(self) -> bool:
        return self.conditioning is not None

    def describe(self) -> str:
        how = say("arithmetic.renormalised") if self.renormalized else say("arithmetic.raw")
        space = say(f"arithmetic.space.{self.space}")
        return say("arithmetic.describe", expression=self.expression.describe(), space=space, how=how)


def check_space(space) -> str:
    if space not in SPACES:
        raise InputError("space", say("checks.one_of", choices=", ".join(SPACES)), space)
    return space


def as_expression(expression: str | Expression) -> Expression:
    """Parse text (or pass a parsed Expression through)."""
    if isinstance(expression, Expression):
        return expression
    return parse(expression)


def check_terms(model, expression: Expression, field_name: str = "expression") -> None:
    """Every phrase must fit the encoder and hold at least one token it reads."""
    for _, phrase in expression.terms:
        check_prompt_length(model, phrase, field_name)
        if not tokenize(model, phrase, add_special_tokens=False)["input_ids"]:
            raise InputError(field_name, say("arithmetic.readable_phrases"), repr(phrase),
                             hint=say("arithmetic.dropped_phrase"))


def combine(vectors: list[torch.Tensor], weights: list[float]) -> torch.Tensor:
    """sum_k w_k * v_k over K same-shaped tensors (..., d) -> (..., d)."""
    total = torch.zeros_like(vectors[0])
    for w, v in zip(weights, vectors):
        total = total + w * v
    return total


def _renormalized(raw: torch.Tensor, ingredients: list[torch.Tensor], weights: list[float]) -> torch.Tensor:
    """raw rescaled per token to the weighted mean norm of the ingredients there (..., d)."""
    return renormalize(raw, mean_norm(ingredients, weights))


def _check_not_cancelled(expression: Expression, raw: torch.Tensor, ingredients: list[torch.Tensor],
                         weights: list[float]) -> None:
    scale = float(mean_norm([v.flatten() for v in ingredients], weights))
    size = float(raw.norm())
    if size <= CANCELLED * max(scale, 1e-12):
        raise InputError("expression", say("arithmetic.not_cancelled"), expression.text,
                         hint=say("arithmetic.zero_vector", expression=expression.describe(), size=size))


@torch.no_grad()
def evaluate(model, expression: str | Expression, space: str = "conditioning",
             renormalize: bool = True) -> ArithmeticResult:
    """Evaluate a prompt expression in the given space (see the module docstring).

    Pooled readback: CLIPTextModel's last_hidden_state is already after the final layer norm, and
    its pooler_output is last_hidden_state at the end-token position. So for a conditioning-space
    result the readback is sum_k w_k * E(phrase_k)[eos_k], the weighted combination read at each
    ingredient's own end token (= sum_k w_k * P(phrase_k)): reading the combined sequence at one
    position would mix one prompt's end token with another's word or padding tokens. For a
    token-space result the sequence was encoded as a whole, so it is read where CLIP reads:
    the last end-token position among the ingredients, the first that sees every ingredient's words.
    """
    # 1. validate
    expression = as_expression(expression)
    check_space(space)
    check_terms(model, expression)
    weights = expression.weights
    notes = []
    if expression.weights == [1.0]:
        renormalize = False          # one phrase of weight 1: renormalising is the identity, skip its rounding
    if abs(sum(weights)) < 1e-6:
        notes.append(say("arithmetic.weights_sum_zero"))
    # 2. gather the ingredients and 3. combine in the chosen space
    reports = [encoding.tokens(model, p) for p in expression.phrases]
    ends = [r.end_position for r in reports]
    adapter, pipe = model.adapter, model.pipe
    conds = [encoding.conditioning(model, p)[0].float().cpu() for p in expression.phrases]          # K x (L, d)
    pooled_parts = [adapter.pooled_from_sequence(pipe, c, end) for c, end in zip(conds, ends)]    # K x (p,)
    if space == "pooled":
        raw = combine(pooled_parts, weights)                                               # (d,)
        _check_not_cancelled(expression, raw, pooled_parts, weights)
        result = _renormalized(raw, pooled_parts, weights) if renormalize else raw
        return ArithmeticResult(expression, space, renormalize, None, None, result[None], raw[None], notes=notes)
    if space == "conditioning":
        raw = combine(conds, weights)                                                      # (L, d)
        _check_not_cancelled(expression, raw, conds, weights)
        cond = _renormalized(raw, conds, weights) if renormalize else raw
        norms = (cond.norm(dim=-1), raw.norm(dim=-1), mean_norm(conds, weights)[:, 0])     # 3 x (L,)
        if cond.shape[0] > TOKENS:     # the packed pooled row was combined alike
            notes.append(say("arithmetic.pooled_summed", about=adapter.pooled_about))
        raw_pooled = combine(pooled_parts, weights)                                        # (p,)
        pooled = _renormalized(raw_pooled, pooled_parts, weights) if renormalize else raw_pooled
    else:  # token
        inputs = [encoding.token_inputs(model, p)[0].float().cpu() for p in expression.phrases]      # K x (77, d)
        raw_inputs = combine(inputs, weights)                                              # (77, d)
        _check_not_cancelled(expression, raw_inputs, inputs, weights)
        mixed = _renormalized(raw_inputs, inputs, weights) if renormalize else raw_inputs
        norms = (mixed.norm(dim=-1), raw_inputs.norm(dim=-1), mean_norm(inputs, weights)[:, 0])  # 3 x (77,)
        batch = torch.stack([mixed, raw_inputs]) if renormalize else mixed[None]           # (1 or 2, 77, d)
        end = max(ends)
        encoded = encoding.encode_from_token_inputs(model, batch, end).float().cpu()
        cond, raw = encoded[0], encoded[-1]
        pooled, raw_pooled = adapter.pooled_from_sequence(pipe, cond, end), adapter.pooled_from_sequence(pipe, raw, end)
        if cond.shape[0] > TOKENS:
            notes.append(say("arithmetic.pooled_read", about=adapter.pooled_about))
    dtype = model.text_encoder.dtype
    norms = tuple(n[:TOKENS] for n in norms)                        # per token (a packed pooled row is not one)
    return ArithmeticResult(expression, space, renormalize, cond[None].to(dtype), raw[None].to(dtype),
                            pooled[None], raw_pooled[None], *norms, notes)


def pooled_readback(model, text: str, kind: str = "expression", space: str = "conditioning",
                    renormalize: bool = True) -> tuple[Expression, torch.Tensor]:
    """The pooled vector (1, d) of a plain prompt (kind "prompt") or of an expression's result."""
    if kind not in ("expression", "prompt"):
        raise InputError("kind", say("arithmetic.kind"), kind)
    if kind == "prompt":
        if not isinstance(text, str) or not text.strip():
            raise InputError("prompt", say("checks.non_empty_prompt"), text)
        expression = Expression(text=text, terms=[(1.0, " ".join(text.split()))])
    else:
        expression = as_expression(text)
    return expression, evaluate(model, expression, space, renormalize).pooled
