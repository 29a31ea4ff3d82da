"""When does a word still matter? One prompt with a word swapped for another at step k, for a row of k.

Each image of the row is an ordinary recipe whose prompt holds A1111's prompt editing `[old:new:k]`
(text.prompt_editing): the denoiser reads `old` up to step k, then `new`. A swap at k = 0 gives the picture of
`new` alone; the later the swap, the less `new` can still change: once the picture has settled (its composition
fixed, explorer.generation.watch.settle_step), the word comes too late. Same seed, same settings: only k moves.
"""
from __future__ import annotations

import re
import threading
from dataclasses import dataclass
from typing import Callable

from explorer.checks import check_int
from explorer.config import ExplorerConfig
from explorer.errors import InputError
from explorer.generation.generate import Generation, generate
from explorer.generation.recipe import Recipe, validate
from explorer.messages import say

MAX_SWAPS = 12                  # images in one row
RE_SYNTAX = re.compile(r"[\[\]():|\\]")     # characters that would change the edit's meaning


@dataclass
class Swap:
    """One image of the row: `old` read up to step k (A1111's counter), then `new`."""

    k: int                      # the `when` of [old:new:k]
    new_steps: int              # steps that read `new` (A1111: calls 0..k read `old`; none at k = 0)
    generation: Generation


def check_word(word: str, field_name: str) -> str:
    """A word or phrase for a swap: not empty, no prompt syntax of its own."""
    if not isinstance(word, str) or not word.strip() or RE_SYNTAX.search(word):
        raise InputError(field_name, say("explore.swaps.word"), word)
    return word.strip()


def swap_prompt(prompt: str, old: str, new: str, k: int) -> str:
    """The prompt with its first `old` (a whole word or phrase) written as A1111's [old:new:k]."""
    old, new = check_word(old, "swap_from"), check_word(new, "swap_to")
    match = re.search(r"(?<!\w)" + re.escape(old) + r"(?!\w)", prompt or "")
    if match is None:
        raise InputError("swap_from", say("explore.swaps.in_prompt", prompt=prompt), old)
    return f"{prompt[:match.start()]}[{old}:{new}:{k}]{prompt[match.end():]}"


def new_steps(k: int, steps: int) -> int:
    """How many of `steps` denoiser calls read `new` in [old:new:k] (A1111: calls 0..k read `old`)."""
    return steps if k <= 0 else max(0, steps - 1 - k)


def swap_steps(steps: int, count: int) -> list[int]:
    """`count` swap steps from 0 to steps - 1, evenly spaced (at steps - 1 no call reads `new` any more)."""
    count = check_int("swaps", count, 2, MAX_SWAPS)
    last = max(1, steps - 1)
    return sorted({round(i * last / (count - 1)) for i in range(count)})


def swap_row(model, recipe: Recipe, old: str, new: str, count: int = 6, *, watch: bool = True,
             config: ExplorerConfig | None = None, cancel: threading.Event | None = None,
             on_swap: Callable[[Swap], None] | None = None) -> list[Swap]:
    """The row: `recipe` with `old` swapped for `new` at each of swap_steps(recipe.steps, count), in order of k.
    Each image is watched (its step previews kept) unless `watch` is False; stopped by `cancel` between images
    and within one."""
    # 1. the recipes, all checked before the model starts (generate() checks each one's compute budget)
    ks = swap_steps(recipe.steps, count)
    recipes = [validate(recipe.with_(prompt=swap_prompt(recipe.prompt, old, new, k), prompt_editing=True,
                                     emphasis="a1111"), config) for k in ks]
    # 2. one image per k, each reported as it is done
    row = []
    for k, r in zip(ks, recipes):
        if cancel is not None and cancel.is_set():
            break
        result = generate(model, r, watch=watch, cancel=cancel, config=config)
        if result.image is None:
            break
        row.append(Swap(k, new_steps(k, recipe.steps), result))
        if on_swap is not None:
            on_swap(row[-1])
        if result.cancelled:
            break
    return row
