"""A1111 prompt editing and alternation, the parser alone: A1111's own doctests, its step rule, and the prompts it
would silently read as plain text refused with the field named. No model: milliseconds."""
from __future__ import annotations

import pytest

from explorer.errors import InputError
from explorer.explore.swaps import new_steps, swap_prompt, swap_steps
from explorer.text.prompt_editing import checked_schedule, entry_at, is_edited, schedule

# The doctests of get_learned_conditioning_prompt_schedules (AUTOMATIC1111/stable-diffusion-webui,
# modules/prompt_parser.py at commit 28bd8e142d5f77b71ae8d7d7140b5da1b3a49906), g = lambda p: ...([p], 10)[0]
A1111_DOCTESTS = [
    ("test", [[10, "test"]]),
    ("a [b:3]", [[3, "a "], [10, "a b"]]),
    ("a [b: 3]", [[3, "a "], [10, "a b"]]),
    ("a [[[b]]:2]", [[2, "a "], [10, "a [[b]]"]]),
    ("[(a:2):3]", [[3, ""], [10, "(a:2)"]]),
    ("a [b : c : 1] d", [[1, "a b  d"], [10, "a  c  d"]]),
    ("a[b:[c:d:2]:1]e", [[1, "abe"], [2, "ace"], [10, "ade"]]),
    ("a [unbalanced", [[10, "a [unbalanced"]]),
    ("a [b:.5] c", [[5, "a  c"], [10, "a b c"]]),
    # A1111 marks this one "not handling this right now" and expects [[5, 'a  c'], [10, 'a {b|d{ c']]; A1111's own
    # function, run here on lark 1.1.2 (A1111's pin) and 1.3.1, gives the prompt as it is, and so does ours
    # (checked_schedule refuses it: editing that A1111 reads as text)
    ("a [{b|d{:.5] c", [[10, "a [{b|d{:.5] c"]]),
    ("((a][:b:c [d:3]", [[3, "((a][:b:c "], [10, "((a][:b:c d"]]),
    ("[a|(b:1.1)]", [[1, "a"], [2, "(b:1.1)"], [3, "a"], [4, "(b:1.1)"], [5, "a"], [6, "(b:1.1)"], [7, "a"],
                     [8, "(b:1.1)"], [9, "a"], [10, "(b:1.1)"]]),
    ("[fe|]male", [[1, "female"], [2, "male"], [3, "female"], [4, "male"], [5, "female"], [6, "male"],
                   [7, "female"], [8, "male"], [9, "female"], [10, "male"]]),
    ("[fe|||]male", [[1, "female"], [2, "male"], [3, "male"], [4, "male"], [5, "female"], [6, "male"],
                     [7, "male"], [8, "male"], [9, "female"], [10, "male"]]),
]


@pytest.mark.parametrize("prompt,expected", A1111_DOCTESTS)
def test_a1111_doctests(prompt, expected):
    assert schedule(prompt, 10) == [tuple(entry) for entry in expected]


def test_a1111_module_example():
    """The example at the top of A1111's prompt_parser.py (100 steps)."""
    prompt = ("fantasy landscape with a [mountain:lake:0.25] and [an oak:a christmas tree:0.75][ in foreground::0.6]"
              "[ in background:0.25] [shoddy:masterful:0.5]")
    assert schedule(prompt, 100) == [
        (25, "fantasy landscape with a mountain and an oak in foreground shoddy"),
        (50, "fantasy landscape with a lake and an oak in foreground in background shoddy"),
        (60, "fantasy landscape with a lake and an oak in foreground in background masterful"),
        (75, "fantasy landscape with a lake and an oak in background masterful"),
        (100, "fantasy landscape with a lake and a christmas tree in background masterful"),
    ]


def test_the_step_rule_is_a1111s_reconstruct_cond_batch():
    """reconstruct_cond_batch: the first entry whose end is at or after the 0-based step counter, else the first."""
    entries = [(3, "a"), (10, "b")]
    assert [entry_at(entries, step) for step in range(12)] == ["a"] * 4 + ["b"] * 7 + ["a"]
    alternating = schedule("[cat|dog]", 4)
    assert [entry_at(alternating, step) for step in range(4)] == ["cat", "cat", "dog", "cat"]


@pytest.mark.parametrize("prompt", ["[(cat:1.1)]", "[ugly, (bad hands:1.3)]", "[a (b:1.2) c]", "[a:b]",
                                    "masterpiece | best quality", "a (red) [circle]", "a \\[b:3\\] c"])
def test_what_a1111_reads_as_emphasis_stays_one_text(prompt):
    assert not is_edited(prompt)
    assert checked_schedule(prompt, 20) == [(20, prompt)]


def test_the_issue_examples_are_edited():
    assert checked_schedule("a castle, [sunset:5] sky", 20) == [(5, "a castle,  sky"), (20, "a castle, sunset sky")]
    assert checked_schedule("[cat:dog:0.5]", 20) == [(10, "cat"), (20, "dog")]
    assert checked_schedule("[cat:dog:0]", 20) == [(20, "dog")]                     # from the start
    assert checked_schedule("[cat:dog:20]", 20) == [(20, "cat")]                    # never


@pytest.mark.parametrize("prompt,field,shown", [
    ("a [cat:dog:5", "prompt", "[cat:dog:5"),                          # unbalanced: A1111 reads emphasis
    ("a [cat:dog:5, sky", "prompt", "[cat:dog:5, sky"),
    ("a [cat|dog", "negative_prompt", "[cat|"),                         # A1111's grammar fails: all text
    ("[cat:dog:3] | masterpiece", "prompt", "[cat:dog:3]"),
    ("a [cat:dog:25]", "prompt", "[cat:dog:25]"),                       # `when` out of range
    ("[word:1.5]", "prompt", "[word:1.5]"),
    ("[cat:dog:-1]", "prompt", "[cat:dog:-1]"),
    ("[a:b:c:3]", "prompt", "[a:b:c:3]"),                               # nesting A1111 does not read
    ("[a:b|c:3]", "prompt", "[a:b|"),
    ("a [{b|d{:.5] c", "prompt", "[{b|"),
])
def test_editing_a1111_would_misread_is_refused_naming_the_field(prompt, field, shown):
    with pytest.raises(InputError) as info:
        checked_schedule(prompt, 20, field)
    assert info.value.field == field and shown in str(info.value)


def test_swap_prompt_and_its_steps():
    assert swap_prompt("a red circle, red sky", "red", "blue", 3) == "a [red:blue:3] circle, red sky"
    assert swap_steps(20, 6) == [0, 4, 8, 11, 15, 19] and swap_steps(3, 6) == [0, 1, 2]
    for k in range(0, 12):                       # the caption's count is what A1111's schedule gives
        entries = schedule(swap_prompt("a red circle", "red", "blue", k), 10)
        reading = sum(entry_at(entries, i) == "a blue circle" for i in range(10))
        assert new_steps(k, 10) == reading, k
    for words, field in [(("reed", "blue"), "swap_from"), (("red", "[blue"), "swap_to"), (("", "x"), "swap_from")]:
        with pytest.raises(InputError) as info:
            swap_prompt("a red circle", *words, 3)
        assert info.value.field == field
