"""Errors that reach the user: each names the field, the allowed range and what was received."""
from __future__ import annotations

from explorer.messages import say

EXCERPT_CHARS = 80          # the longest received value a message shows (a 1 MB text is never echoed whole)


def excerpt(received: object) -> object:
    """What a message shows of a received value: the value itself when short, else its first characters and "…"
    (a string stays a string, anything else becomes the start of its repr).

    >>> excerpt("x" * 1000)
    'xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx… (1,000 characters)'
    """
    if isinstance(received, str):
        return received if len(received) <= EXCERPT_CHARS else \
            say("error.excerpt", text=received[:EXCERPT_CHARS - 2], n=len(received))
    text = repr(received)
    return received if len(text) <= EXCERPT_CHARS else f"{text[:EXCERPT_CHARS - 2]}…"


class InputError(ValueError):
    """Bad input from a user (UI, HTTP API or CLI), as a message a person can act on.

    >>> str(InputError("steps", "an integer in [1, 150]", 0))
    'steps: expected an integer in [1, 150], received 0'
    """

    def __init__(self, field: str, allowed: str, received: object, hint: str = ""):
        self.field = field
        self.allowed = allowed
        self.received = received = excerpt(received)           # the one place a received value is cut short
        self.hint = hint
        message = say("error.expected", field=field, allowed=allowed, received=shown(received))
        super().__init__(message + say("error.hint", hint=hint) if hint else message)


def shown(received: object) -> str:
    """A received value as a message quotes it: its repr; a text the library wrote (a keyed message, explorer.messages)
    quoted as the plain string it reads as."""
    return repr(str(received) if isinstance(received, str) else received)


class ModelLoadError(RuntimeError):
    """A model could not be loaded (no hub, not cached, wrong format)."""
