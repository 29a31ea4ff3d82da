"""Errors that reach the user: each names the field, the allowed range and what was received."""
from __future__ import annotations


class InputError(ValueError):
    """Bad input from a user (UI, HTTP API or CLI), as a message a person can act on.

    >>> str(InputError("steps", "an integer in [1, 150]", 0))
    'steps: expected an integer in [1, 150], received 0'
    """

    def __init__(self, field: str, allowed: str, received: object, hint: str = ""):
        self.field = field
        self.allowed = allowed
        self.received = received
        self.hint = hint
        message = f"{field}: expected {allowed}, received {received!r}"
        if hint:
            message += f". {hint}"
        super().__init__(message)


class ModelLoadError(RuntimeError):
    """A model could not be loaded (no hub, not cached, wrong format)."""
