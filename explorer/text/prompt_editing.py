"""AUTOMATIC1111's prompt editing and alternation: which text the denoiser reads at each step.

`[from:to:when]` reads `from` until step `when`, then `to`; `[to:when]` adds `to` after `when`; `[from::when]`
removes `from` after `when`; `[a|b|c]` alternates a, b, c, a, ... step by step. `when` with a decimal point is a
fraction of the steps (0.25 of 20 = 5), without one a step number; editing nests (`a[b:[c:d:2]:1]e`) and holds
emphasis (`[(cat:1.2):dog:5]`). The grammar is the one of A1111's modules/prompt_parser.py (`schedule_parser`,
parsed by lark's Earley parser as there, so that every prompt gets A1111's tree); `schedule` is its
`get_learned_conditioning_prompt_schedules` for one prompt (no hires pass, A1111 >= 1.6's timeline), and
`entry_at` the rule of its `reconstruct_cond_batch`: the sampler's step counter (0-based, one count per
denoiser call) takes the first entry whose end is at or after it, and the first entry past the last end.
tests/text/test_prompt_editing.py holds A1111's doctests.

Where A1111 silently reads editing as plain text (a bracket left open around it, `|` outside brackets, a `when`
beyond the steps, more than one `:` part), `checked_schedule` refuses with the field named instead.
"""
from __future__ import annotations

import functools
import re

from explorer.errors import InputError
from explorer.messages import say

# A1111's grammar (modules/prompt_parser.py, schedule_parser), the same rules and names: lark's Earley parser
# resolves the grammar's ambiguities by them, so a prompt gets the tree it gets in A1111
GRAMMAR = r"""
!start: (prompt | /[][():]/+)*
prompt: (emphasized | scheduled | alternate | plain | WHITESPACE)*
!emphasized: "(" prompt ")"
        | "(" prompt ":" prompt ")"
        | "[" prompt "]"
scheduled: "[" [prompt ":"] prompt ":" [WHITESPACE] NUMBER [WHITESPACE] "]"
alternate: "[" prompt ("|" [prompt])+ "]"
WHITESPACE: /\s+/
plain: /([^\\\[\]():|]|\\.)+/
%import common.SIGNED_NUMBER -> NUMBER
"""
# editing A1111 did not read: `[ ... :when]` still in a step's text (the brackets of emphasis stay, escapes removed)
RE_UNREAD_EDITING = re.compile(r"\[[^\[\]]*:\s*[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?\s*\]")
# what looks like editing in a prompt A1111's grammar cannot parse (it then reads the whole prompt as text)
RE_EDITING_LIKE = re.compile(r"\[[^\]]*(?::\s*[+-]?[\d.]+\s*(?:\]|$)|\|)")
RE_ESCAPED = re.compile(r"\\.")


@functools.cache
def parser():
    """The lark parser of GRAMMAR (built once, on first use: ~50 ms)."""
    import lark        # a dependency of the explorer (requirements.txt); imported here to keep imports light

    return lark.Lark(GRAMMAR, propagate_positions=True)


def parse(prompt: str):
    """A1111's tree of a prompt, or None where its grammar fails (A1111 then reads the prompt as it is)."""
    import lark

    try:
        return parser().parse(prompt)
    except lark.exceptions.LarkError:
        return None


def step_of(number: str, steps: int) -> int:
    """The step a `when` names (A1111 >= 1.6 without hires: with a '.' a fraction of the steps, else a step)."""
    value = float(number)
    if "." in number:
        value *= steps
    return min(steps, int(value))


def _edits(tree):
    """The scheduled and alternate nodes of a tree."""
    return [node for node in tree.iter_subtrees() if node.data in ("scheduled", "alternate")]


def _ends(tree, steps: int) -> list[int]:
    """The steps at which the text changes (A1111's collect_steps), the last one `steps`."""
    ends = {steps}
    for node in _edits(tree):
        if node.data == "alternate":
            ends.update(range(1, steps + 1))
        else:
            when = step_of(str(node.children[-2]), steps)
            if when >= 1:
                ends.add(when)
    return sorted(ends)


def _text_at(node, step: int, steps: int) -> str:
    """The text a (sub)tree reads at `step` (A1111's AtStep transformer)."""
    if isinstance(node, str):                        # a token: whitespace, brackets, a number, plain text
        return str(node)
    if node.data == "scheduled":
        before, after, when = node.children[0], node.children[1], step_of(str(node.children[-2]), steps)
        chosen = before if step <= when else after
        return "" if chosen is None else _text_at(chosen, step, steps)
    if node.data == "alternate":
        option = node.children[(step - 1) % len(node.children)]
        return "" if option is None else _text_at(option, step, steps)
    return "".join(_text_at(child, step, steps) for child in node.children if child is not None)


def schedule(prompt: str, steps: int) -> list[tuple[int, str]]:
    """[(end_at_step, text), ...] of a prompt: A1111's get_learned_conditioning_prompt_schedules([prompt], steps)[0]."""
    tree = parse(prompt)
    if tree is None:
        return [(steps, prompt)]
    return [(end, _text_at(tree, end, steps)) for end in _ends(tree, steps)]


def is_edited(prompt: str) -> bool:
    """Whether A1111 reads prompt editing or alternation in a prompt (its text changes during sampling)."""
    if "[" not in (prompt or ""):
        return False
    tree = parse(prompt)
    return tree is not None and bool(_edits(tree))


def entry_at(entries, step: int):
    """The entry A1111 takes at the sampler's step counter `step` (0-based): the first whose end is at or after it,
    else the first (reconstruct_cond_batch). entries: [(end_at_step, value), ...] in order of their ends."""
    for end, value in entries:
        if step <= end:
            return value
    return entries[0][1]


def checked_schedule(prompt: str, steps: int, field_name: str = "prompt") -> list[tuple[int, str]]:
    """schedule(), refusing what A1111 would silently read as plain text, or at a step that does not exist."""
    if "[" not in prompt:                            # nothing A1111 could read as editing
        return [(steps, prompt)]
    tree = parse(prompt)
    if tree is None:
        looks = RE_EDITING_LIKE.search(RE_ESCAPED.sub("", prompt))
        if looks:
            raise InputError(field_name, say("editing.parsable"), looks.group(0), hint=say("editing.parsable_hint"))
        return [(steps, prompt)]
    for node in _edits(tree):
        if node.data != "scheduled":
            continue
        number = str(node.children[-2])
        value, fraction = float(number), "." in number
        if not (0 <= value <= (1 if fraction else steps)):
            written = prompt[node.meta.start_pos:node.meta.end_pos]
            raise InputError(field_name, say("editing.when_range", steps=steps), written,
                             hint=say("editing.when_hint"))
    entries = [(end, _text_at(tree, end, steps)) for end in _ends(tree, steps)]
    for _, text in entries:
        text = RE_ESCAPED.sub("", text)
        unclosed = _unclosed(text)
        if unclosed is not None and re.search(r"[:|]", text[unclosed:]):
            raise InputError(field_name, say("editing.parsable"), text[unclosed:], hint=say("editing.parsable_hint"))
        unread = RE_UNREAD_EDITING.search(text)
        if unread:
            raise InputError(field_name, say("editing.unread"), unread.group(0), hint=say("editing.unread_hint"))
    return entries


def _unclosed(text: str) -> int | None:
    """Where the first `[` that no `]` closes stands (escapes removed), or None."""
    opened = []
    for i, char in enumerate(text):
        if char == "[":
            opened.append(i)
        elif char == "]" and opened:
            opened.pop()
    return opened[0] if opened else None


def check_not_edited(prompt: str, field_name: str) -> None:
    """Refuse prompt editing where the explorer reads one fixed text (walk ends, blend terms): named, not misread."""
    if is_edited(prompt):
        raise InputError(field_name, say("editing.only_prompt"), prompt)
