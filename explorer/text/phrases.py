"""How a prompt field says "this is an expression" and how a phrase is quoted inside one.

Views that take prompts (Interpolate, Map, concept axes) accept `= expression` for prompt
arithmetic; the comparator and axes build expressions from phrases and quote them.
"""
from __future__ import annotations

from explorer.errors import InputError
from explorer.messages import say

EXPRESSION_PREFIX = "="        # a prompt starting with "=" is a prompt-arithmetic expression


def is_expression(text: str) -> bool:
    """Whether a prompt field holds an `= expression`."""
    return isinstance(text, str) and text.strip().startswith(EXPRESSION_PREFIX)


def strip_prefix(text: str) -> str:
    """The words without the expression mark: `= a + b` -> `a + b`; a plain prompt, trimmed."""
    text = text.strip()
    return text[len(EXPRESSION_PREFIX):].strip() if text.startswith(EXPRESSION_PREFIX) else text


def quote(phrase: str) -> str:
    """The phrase in double quotes, or in single quotes when it holds a double quote (for display)."""
    return f"'{phrase}'" if '"' in phrase else f'"{phrase}"'


def quote_checked(phrase: str, field_name: str = "prompt") -> str:
    """quote(), refusing a phrase with both kinds of quote mark (the expression could not re-read it)."""
    if '"' in phrase and "'" in phrase:
        raise InputError(field_name, say("phrases.one_quote_kind"), phrase)
    return quote(phrase)
