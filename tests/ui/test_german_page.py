"""A German page in a real browser at 1280x720 (issue 26, items 7-9): every tab's main action runs on the shared
tiny-random app (tests/conftest.py `app_url`) in a German Chromium, and afterwards the page shows no English word and
no English number (tests/ui/german_scan.py); the banner is one line; map labels, slider maxima and progress overlays
are legible. Screenshots go to $SCREENSHOT_DIR (CI keeps them) or a temp folder.

Slow (~1-2 minutes on 2 cores): eight actions in one browser page, each waited for until its status line says done.
"""
from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.ui.german_scan import english_leftovers

pytestmark = pytest.mark.slow

SIZE = {"width": 1280, "height": 720}          # a projector
# (tab path, main button, status line, German text the status shows when the action is done: a regular expression)
ACTIONS = [
    (["Erzeugen"], "#generate-btn", "#status", "Fertig"),
    (["Embeddings", "Prompt-Arithmetik"], "#arith-btn", "#arith-status", "Gespeichert als"),
    (["Embeddings", "Mischungsvergleich"], "#blend-btn", "#blend-status", "sieben Bilder in"),
    (["Embeddings", "Token-Inspektor"], "#tokens-btn", "#token-summary", "Wortstück-Token"),
    (["Interpolieren"], "#walk-btn", "#walk-status", "Fertig"),
    (["Suche"], "#search-btn", "#search-status", "Ergebnisse für"),
    (["Suche"], "#probe-btn", "#probe-status", "Lesen Sie|Häkchen|Bildmodell"),     # measured, or why not
    (["Karte"], "#map-draw", "#map-status", "angepasst in"),
]


@pytest.fixture(scope="module")
def page(app_url, browser):
    """A German page of the session's one browser (tests/conftest.py)."""
    context = browser.new_context(locale="de-DE", viewport=SIZE)
    page = context.new_page()
    page.goto(app_url)
    page.wait_for_selector("#generate-btn", timeout=60_000)
    yield page
    context.close()


@pytest.fixture(scope="module")
def shots(tmp_path_factory) -> Path:
    folder = Path(os.environ.get("SCREENSHOT_DIR") or tmp_path_factory.mktemp("screenshots"))
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _prompts(page) -> list[str]:
    """What the user typed on the page (prompts, expressions): it may stand in English wherever it is repeated."""
    values = page.evaluate("() => [...document.querySelectorAll('textarea, input[type=text]')].map(e => e.value)")
    return [line.strip() for value in values for line in value.splitlines() if line.strip()]


def _show(page, tabs: list[str], button: str) -> None:
    for tab in tabs:
        page.get_by_role("tab", name=tab, exact=True).first.click()
    if not page.locator(button).is_visible():                      # the probe sits in a closed accordion
        page.locator("button.label-wrap", has_text="Bias-Probe").first.click()
    page.locator(button).scroll_into_view_if_needed()


def test_every_tab_of_a_german_page_speaks_german(page, shots):
    found = {}
    for tabs, button, status, done in ACTIONS:
        _show(page, tabs, button)
        page.click(button)
        page.wait_for_function(f"new RegExp({done!r}).test(document.querySelector('{status}').innerText)",
                               timeout=300_000)
        page.wait_for_timeout(500)
        name = "-".join(tabs).lower() + button.replace("#", "-")
        page.screenshot(path=str(shots / f"de-1280x720{name}.png"))
        left = english_leftovers(page, _prompts(page))
        if left:
            found[name] = left
    assert not found, found


def test_the_progress_bar_speaks_german(page):
    _show(page, ["Erzeugen"], "#generate-btn")
    page.click("#generate-btn")
    page.wait_for_selector(".progress-text", timeout=60_000)
    seen = set()
    for _ in range(300):                                             # what the overlay says while the model runs
        seen.update(t.strip() for t in page.locator(".progress-text, .progress-level").all_inner_texts())
        if any("/" in t for t in seen):
            break
        page.wait_for_timeout(100)
    page.wait_for_function("document.querySelector('#status').innerText.includes('Fertig')", timeout=240_000)
    text = " ".join(seen)
    assert "/" in text and "steps" not in text and "processing" not in text, seen
    assert not any(c.isdigit() and n == "." and m.isdigit() for c, n, m in zip(text, text[1:], text[2:])), seen


def test_progress_covers_results_not_the_fields_or_the_status(page):
    _show(page, ["Erzeugen"], "#generate-btn")
    page.click("#generate-btn")
    page.wait_for_function("""() => {                 // the blocks whose progress overlay shows while it runs
        const shown = [...document.querySelectorAll('[data-testid=status-tracker]')]
            .filter(e => !e.classList.contains('hide') && e.querySelector('.progress-text, .eta-bar, .loader'));
        window.__covered = shown.map(e => { const b = e.closest('.block'); return b ? (b.id || b.className) : ''; });
        return shown.length > 0;
    }""", timeout=60_000)
    covered = page.evaluate("() => window.__covered")
    page.wait_for_function("document.querySelector('#status').innerText.includes('Fertig')", timeout=240_000)
    assert covered and not any(name in ("status", "seed", "prompt") for name in covered), covered


def test_slider_maxima_are_shown_whole(page):
    _show(page, ["Erzeugen"], "#generate-btn")
    clipped = []
    for tabs in (["Erzeugen"], ["Embeddings", "Mischungsvergleich"], ["Suche"], ["Karte"]):
        for tab in tabs:
            page.get_by_role("tab", name=tab, exact=True).first.click()
        page.wait_for_timeout(300)
        clipped += page.evaluate("""() => [...document.querySelectorAll('.max_value')]
            .filter(s => s.offsetParent && s.closest('.block').getBoundingClientRect().width > 50)   // on screen
            .filter(s => { const block = s.closest('.block').getBoundingClientRect(), box = s.getBoundingClientRect();
                           return s.scrollWidth > s.clientWidth + 1 || box.right > block.right + 1; })
            .map(s => (s.closest('.block').id || s.closest('.block').innerText.split('\\n')[0]) + ': ' + s.innerText
                      + ' (' + Math.round(s.getBoundingClientRect().width) + ' px of ' + s.scrollWidth + ')')""")
    assert clipped == []


def test_the_banner_is_one_line_at_1280(page):
    """The fallback banner (a model that could not load) takes one line: the app's own CSS, laid out by Chromium."""
    from explorer.ui.app import CSS

    height = page.evaluate("""(css) => {
        const style = document.createElement('style'); style.textContent = css; document.head.appendChild(style);
        const box = document.createElement('div'); box.className = 'banner prose';
        box.innerHTML = '<p><strong>Offline-Modell in Verwendung.</strong> ' + 'sd15 konnte nicht geladen werden '
            .repeat(12) + '</p>';
        document.body.prepend(box);
        const h = box.getBoundingClientRect().height; box.remove(); style.remove(); return h;
    }""", CSS)
    assert 0 < height <= 48, height
