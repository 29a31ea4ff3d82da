"""The one path from a recipe to the denoiser's inputs.

Whatever made a recipe — a typed prompt, an expression, a blend panel, a walk frame, a search
result, a probe image, a point on a concept axis — `conditioning_for` turns it into one
`Conditioning` (both classifier-free-guidance halves) through the model family's adapter, and
every renderer (generate, the batched renderer, Composable Diffusion) takes only that. A prompt or negative
prompt with A1111 prompt editing (text.prompt_editing) makes a scheduled Conditioning: one per text the
denoiser reads, switched during sampling by generate() (generation.editing).
"""
from __future__ import annotations

from dataclasses import replace

import torch

from explorer.errors import InputError
from explorer.models.conditioning import Conditioning
from explorer.text import encoding
from explorer.text.arithmetic import evaluate
from explorer.text import prompt_editing
from explorer.text.emphasis import check_supported, has_syntax
from explorer.text.phrases import is_expression, strip_prefix
from explorer.text.tokens import check_prompt_length
from explorer.text.vectors import lerp, slerp
from explorer.messages import say


def sequences(model, prompt: str, field_name: str = "prompt", emphasis: str = "none",
              editing: bool = False) -> torch.Tensor:
    """The packed sequence (1, L, d) of a plain prompt (models.families), refusing one the encoder would cut.

    With emphasis "a1111", A1111's syntax is read (text.emphasis); a prompt without any syntax takes the
    pipeline's own encoding either way, bit for bit. With `editing`, prompt editing is refused here (this text
    stays fixed: a walk's end, a blend's term); prompt_schedule reads it.
    """
    if not isinstance(prompt, str) or not prompt.strip():
        raise InputError(field_name, say("checks.non_empty_prompt"), prompt)
    if emphasis == "a1111" and editing:
        prompt_editing.check_not_edited(prompt, field_name)
    return _encoded(model, prompt, field_name, emphasis)


def _encoded(model, prompt: str, field_name: str, emphasis: str) -> torch.Tensor:
    """sequences() without its checks of the whole prompt: also one step's text of an edited prompt ("" too)."""
    if not prompt.strip():
        return encoding.conditioning(model, prompt)
    if emphasis == "a1111":
        check_supported(prompt, field_name)
        if has_syntax(prompt):
            return encoding.weighted(model, prompt, field_name)
    check_prompt_length(model, prompt, field_name)
    return encoding.conditioning(model, prompt)


def negative_sequences(model, negative_prompt: str, emphasis: str = "none") -> torch.Tensor:
    """What guidance steers away from: the encoding of the negative prompt, or of "" (1, L, d).

    With no negative prompt, a family may use zeros instead (SDXL's force_zeros_for_empty_prompt),
    as its pipeline does when called without one.
    """
    if negative_prompt and negative_prompt.strip():
        return sequences(model, negative_prompt, "negative_prompt", emphasis)
    empty = encoding.conditioning(model, negative_prompt or "")
    zeros = model.adapter.empty_negative(model.pipe, empty) if not negative_prompt else None
    return zeros if zeros is not None else empty


def prompt_schedule(model, prompt: str, steps: int, field_name: str = "prompt", emphasis: str = "none",
                    editing: bool = False) -> list[tuple[int, torch.Tensor]]:
    """[(end_at_step, packed sequence (1, L, d)), ...]: one entry per text A1111 reads during sampling
    (text.prompt_editing; each text encoded as a prompt of its own, as A1111 encodes it); one entry without editing."""
    entries = prompt_editing.checked_schedule(prompt or "", steps, field_name) \
        if emphasis == "a1111" and editing else [(steps, prompt)]
    if len(entries) > 1 or entries[0][1] != prompt:           # edited ([a:b:0] is one text, not the prompt's)
        return [(end, _encoded(model, text, field_name, emphasis)) for end, text in entries]
    if field_name == "negative_prompt":
        return [(steps, negative_sequences(model, prompt, emphasis))]
    return [(steps, sequences(model, prompt, field_name, emphasis))]


def scheduled(model, positive: list, negative: list, weights=None) -> Conditioning:
    """One Conditioning per end of either half's schedule (A1111 schedules each half on its own); the first
    carries them all (Conditioning.schedule) when there is more than one."""
    ends = sorted({end for end, _ in positive} | {end for end, _ in negative})
    items = tuple((end, model.adapter.make_conditioning(model.pipe, prompt_editing.entry_at(positive, end),
                                                        prompt_editing.entry_at(negative, end), weights))
                  for end in ends)
    if len(items) == 1:
        return items[0][1]
    if weights is not None:
        raise InputError("negative_prompt", say("editing.not_with_and"), "")
    return replace(items[0][1], schedule=items)


def end_sequences(model, end: str, renormalize: bool = True, field_name: str = "prompts",
                  emphasis: str = "none", editing: bool = False) -> torch.Tensor:
    """The packed sequence (1, L, d) of a walk's end: a plain prompt, or an expression after "="."""
    if is_expression(end):
        result = evaluate(model, strip_prefix(end), space="conditioning", renormalize=renormalize)
        return result.conditioning.to(model.device, model.dtype)
    return sequences(model, end, field_name, emphasis, editing)


def interpolate_sequences(a: torch.Tensor, b: torch.Tensor, t: float, method: str) -> torch.Tensor:
    """(1, L, d) between two ends: lerp, or slerp per row (Shoemake 1985); the ends exactly at t = 0, 1.

    Per row of the packed sequence: for SDXL the pooled vector moves along with the tokens.
    """
    if t <= 0.0:
        return a
    if t >= 1.0:
        return b
    return slerp(a, b, t, dim=-1) if method == "slerp" else lerp(a, b, t)


def slerp_sequences(model, a: str, b: str, t: float = 0.5, emphasis: str = "none",
                    editing: bool = False) -> torch.Tensor:
    """Per-row slerp between E(a) and E(b) along the feature axis (Shoemake 1985): (1, L, d)."""
    return slerp(sequences(model, a, "a", emphasis, editing), sequences(model, b, "b", emphasis, editing), t, dim=-1)


def conditioning_for(model, recipe) -> Conditioning:
    """Both guidance halves for any recipe, through the model family's adapter (recipe validated by the caller)."""
    emphasis, editing = recipe.emphasis, recipe.prompt_editing
    negative = prompt_schedule(model, recipe.negative_prompt, recipe.steps, "negative_prompt", emphasis, editing)
    weights = None
    if recipe.walk is not None:                                      # a walk frame: between two ends
        walk = recipe.walk
        ends = [end_sequences(model, end, recipe.renormalize, emphasis=emphasis, editing=editing)
                for end in (walk.a, walk.b)]
        embeds = interpolate_sequences(ends[0], ends[1], float(walk.t), walk.method)
    elif recipe.blend is not None and recipe.blend.operator == "slerp":
        embeds = slerp_sequences(model, recipe.blend.a, recipe.blend.b, recipe.blend.t, emphasis, editing)
    elif recipe.blend is not None and recipe.blend.operator == "and":    # Composable Diffusion: n sequences
        embeds = torch.cat([sequences(model, text, f"terms[{i}]", emphasis, editing)
                            for i, text in enumerate((recipe.blend.a, recipe.blend.b))])   # (2, L, d)
        weights = tuple(float(w) for w in recipe.blend.weights)
    elif recipe.expression:                                          # prompt arithmetic (lerp and sum panels too)
        if recipe.space == "pooled":
            raise InputError("space", say("conditioning.generatable_space"), "pooled",
                             hint=say("conditioning.pooled_hint"))
        result = evaluate(model, recipe.expression, recipe.space, recipe.renormalize)
        embeds = result.conditioning.to(model.device, model.dtype)
    else:                                                            # a prompt: its texts step by step
        positive = prompt_schedule(model, recipe.prompt, recipe.steps, "prompt", emphasis, editing)
        return scheduled(model, positive, negative)
    return scheduled(model, [(recipe.steps, embeds)], negative, weights)
