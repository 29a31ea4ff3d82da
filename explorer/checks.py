"""Input checks shared by every stage: each failure names the field, the allowed range and the value."""
from __future__ import annotations

import math

from explorer.errors import InputError


def check_int(field_name: str, value, low: int, high: int, note: str = "") -> int:
    """An integer in [low, high]; bools, floats with a fraction and strings are refused."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or (
            isinstance(value, float) and (not math.isfinite(value) or value != int(value))):
        raise InputError(field_name, f"an integer in [{low}, {high}]{note}", value)
    if not low <= int(value) <= high:
        raise InputError(field_name, f"an integer in [{low}, {high}]{note}", value)
    return int(value)


def check_float(field_name: str, value, low: float, high: float) -> float:
    """A finite number in [low, high] (NaN and infinities are refused)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise InputError(field_name, f"a number in [{low:g}, {high:g}]", value)
    if not low <= value <= high:
        raise InputError(field_name, f"a number in [{low:g}, {high:g}]", value)
    return float(value)


def check_choice(field_name: str, value, choices) -> str:
    """One of `choices` exactly."""
    if value not in choices:
        raise InputError(field_name, f"one of {', '.join(choices)}", value)
    return value


def check_text(field_name: str, value, allow_empty: bool = False, max_chars: int = 2000, noun: str = "text") -> str:
    """A string (non-empty unless allowed) of at most `max_chars` characters; `noun` names it in the message."""
    if not isinstance(value, str):
        raise InputError(field_name, "text", value)
    if not allow_empty and not value.strip():
        raise InputError(field_name, f"a non-empty {noun}", value)
    if len(value) > max_chars:
        raise InputError(field_name, f"at most {max_chars} characters", f"{len(value)} characters")
    return value


def check_bool(field_name: str, value) -> bool:
    """True or False exactly (not "yes", 1 or None)."""
    if not isinstance(value, bool):
        raise InputError(field_name, "true or false", value)
    return value
