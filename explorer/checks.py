"""Input checks shared by every stage: each failure names the field, the allowed range and the value."""
from __future__ import annotations

import math

from explorer.config import MAX_SIZE_CEILING, ExplorerConfig
from explorer.errors import InputError
from explorer.messages import is_keyed, say


def check_int(field_name: str, value, low: int, high: int, note: str = "") -> int:
    """An integer in [low, high]; bools, floats with a fraction and strings are refused. `note`: a keyed message
    (say(...)) after the range, or "" (plain English would reach a German page as it is: refused at every call)."""
    if note and not is_keyed(note):
        raise TypeError(f"check_int's note must be a keyed message (explorer.messages.say), not {note!r}")
    if isinstance(value, bool) or not isinstance(value, (int, float)) or (
            isinstance(value, float) and (not math.isfinite(value) or value != int(value))):
        raise InputError(field_name, _int_in(low, high, note), value)
    if not low <= int(value) <= high:
        raise InputError(field_name, _int_in(low, high, note), value)
    return int(value)


def _int_in(low: int, high: int, note: str) -> str:
    """What check_int allows; `note` a keyed message (say(...)) or ""."""
    return say("checks.int_in", low=low, high=high, note=note)


def check_float(field_name: str, value, low: float, high: float) -> float:
    """A finite number in [low, high] (NaN and infinities are refused)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise InputError(field_name, say("checks.number_in", low=low, high=high), value)
    if not low <= value <= high:
        raise InputError(field_name, say("checks.number_in", low=low, high=high), value)
    return float(value)


def check_choice(field_name: str, value, choices) -> str:
    """One of `choices` exactly."""
    if value not in choices:
        raise InputError(field_name, say("checks.one_of", choices=", ".join(choices)), value)
    return value


def check_text(field_name: str, value, allow_empty: bool = False, max_chars: int = 2000, noun: str = "text") -> str:
    """A string (non-empty unless allowed) of at most `max_chars` characters; `noun` names it in the message: "text",
    "prompt" or a keyed message (say(...)); plain English would reach a German page as it is (refused at every call)."""
    if not (is_keyed(noun) or noun in ("text", "prompt")):
        raise TypeError(f"check_text's noun must be 'text', 'prompt' or a keyed message, not {noun!r}")
    if not isinstance(value, str):
        raise InputError(field_name, say("checks.text"), value)
    if not allow_empty and not value.strip():
        raise InputError(field_name, _non_empty(noun), value)
    if len(value) > max_chars:
        raise InputError(field_name, say("checks.at_most_chars", n=max_chars), say("checks.chars", n=len(value)))
    return value


def _non_empty(noun: str) -> str:
    """What check_text allows when the text is blank: "text", "prompt" or a keyed noun."""
    if is_keyed(noun):
        return say("checks.non_empty", noun=noun)
    return say("checks.non_empty_prompt") if noun == "prompt" else say("checks.non_empty_text")


def check_bool(field_name: str, value) -> bool:
    """True or False exactly (not "yes", 1 or None)."""
    if not isinstance(value, bool):
        raise InputError(field_name, say("checks.true_or_false"), value)
    return value


def check_max_size(field_name: str, value, min_size: int = ExplorerConfig.min_size) -> int:
    """--max-size (app and CLI): a multiple of 8 from the smallest size up to MAX_SIZE_CEILING."""
    size = check_int(field_name, value, min_size, MAX_SIZE_CEILING)
    if size % 8:
        raise InputError(field_name, say("recipe.multiple_of_8", low=min_size, high=MAX_SIZE_CEILING), value)
    return size
