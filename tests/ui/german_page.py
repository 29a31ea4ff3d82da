"""Checks of a German page, run by the whole-lesson browser test (tests/ui/test_lesson_browser.py) after every
chapter's "show me" in a German session. Each check takes the playwright page and returns the problems it found
(one line each, empty when none): e.g. English words or English number formats left on the page. Add a check by
appending it to CHECKS."""
from __future__ import annotations

from pathlib import Path
from typing import Callable

from tests.ui.german_scan import english_leftovers

# the lesson runs on miniworld: its concept phrases and the chapters' prompts are the model's data, English on purpose
# (prompts stay English: the model reads English), skipped where a text is one of them whole (a legend, a caption)
CONCEPTS = Path(__file__).resolve().parents[2] / "assets" / "miniworld" / "concepts.txt"
DATA = {line.strip() for line in CONCEPTS.read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.startswith(("#", "["))} | {"a triangle", "a circle", "a square", "a red circle",
                                                                "a blue circle", "a blue square"}


def english_left(page) -> list[str]:
    """English words and English number formats left on the page (issue 26, item 7)."""
    return english_leftovers(page, data=DATA)


CHECKS: list[Callable[[object], list[str]]] = [english_left]


def check_german_page(page) -> list[str]:
    """Every check's problems on this page, in CHECKS' order."""
    return [problem for check in CHECKS for problem in check(page)]
