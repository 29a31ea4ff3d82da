"""Checks of a German page, run by the whole-lesson browser test (tests/ui/test_lesson_browser.py) after every
chapter's "show me" in a German session. Each check takes the playwright page and returns the problems it found
(one line each, empty when none): e.g. English words or English number formats left on the page. Add a check by
appending it to CHECKS."""
from __future__ import annotations

from typing import Callable

from tests.ui.german_scan import english_leftovers

# English words and English number formats left on the page (issue 26, item 7)
CHECKS: list[Callable[[object], list[str]]] = [english_leftovers]


def check_german_page(page) -> list[str]:
    """Every check's problems on this page, in CHECKS' order."""
    return [problem for check in CHECKS for problem in check(page)]
