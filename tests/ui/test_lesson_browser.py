"""The whole lesson as a teacher gives it (issue 26): every chapter's "show me" on miniworld in headless Chromium, in
English and German, at 1280x720 and 1920x1080. After each one, asserted: the view's main result is at least half
inside the window, no picture on screen is broken (every visible <img> loaded with naturalWidth > 0), no error
badge or refusal, the chapter's question is on screen with one button back to it (pressed: the chapter is on screen
again), the attention maps are filled after the denoising chapter and the archive after the two search chapters; a
German page also passes tests/ui/german_page.py's checks (check_german_page). Screenshots of what the class sees go
to $SCREENSHOT_DIR (CI keeps them as artefacts) or a temp folder.

Slow by nature (one app and one browser, each chapter runs the model): all ten chapters at en@1280x720 and
de@1920x1080, and a sample (the chapters whose results lay far off screen before: forward process, probe, gaps) at
en@1920x1080 and de@1280x720; the full 2x2 would run the model 36 times instead of 24. Under 3 minutes on 2 free
cores; much longer on a loaded machine, hence the generous waits."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

from explorer.lesson.chapters import load_lesson
from tests.ui.german_page import check_german_page

pytestmark = pytest.mark.slow

RESULTS = {                 # view -> elem_id of its main result (what the class must see after "show me")
    "arithmetic": "arith-image", "map": "concept-map", "forward": "forward-gallery", "generate": "result",
    "blend": "blend-gallery", "search": "search-results", "probe": "probe-grid", "tokens": "token-table",
    "interpolate": "walk-film", "lens": "lens-row", "features": "inside-pictures", "invert": "invert-pictures",
}
FILLED = {"denoising": "#att-grid img", "archive": "#archive-gallery img", "gaps": "#archive-gallery img"}
SAMPLE = ("forward", "stereotypes", "gaps")
ALL = tuple(chapter.id for chapter in load_lesson("en").chapters)
RUNS = [("en", (1280, 720), ALL), ("de", (1920, 1080), ALL), ("en", (1920, 1080), SAMPLE),
        ("de", (1280, 720), SAMPLE)]
LESSON_TAB = {"en": "Lesson", "de": "Lektion"}
CHAPTER_WAIT_MS = 300_000   # one chapter on a loaded 2-core machine (3-14 s when the cores are free, < 60 s seen
                            # under load): a chapter that never shows its result fails in 5 minutes, not 10
VIEWS = {chapter.id: chapter.view for chapter in load_lesson("en").chapters}

VISIBLE_FRACTION = """id => { const r = document.getElementById(id).getBoundingClientRect();
    if (r.height === 0) return 0;
    return Math.max(0, Math.min(r.bottom, window.innerHeight) - Math.max(r.top, 0)) / r.height; }"""
IMAGES_LOADED = """() => Array.from(document.images).filter(i => { const r = i.getBoundingClientRect();
    return i.offsetParent !== null && r.bottom > 0 && r.top < window.innerHeight; }).every(i => i.complete)"""
                            # pictures in the window (further ones load lazily, when scrolled to)
BROKEN_IMAGES = """() => Array.from(document.images)
    .filter(i => i.offsetParent !== null && i.getAttribute('src') && i.complete && i.naturalWidth === 0)
    .map(i => i.getAttribute('src'))"""     # an <img> not yet given a source (a gallery filling in) is not broken
PROBLEMS_SHOWN = """() => [...Array.from(document.querySelectorAll('span.error')).map(e => 'error badge: ' + e.innerText),
    ...Array.from(document.querySelectorAll('.status')).filter(e => e.offsetParent !== null)
        .map(e => e.innerText).filter(t => t.includes('⚠')).map(t => 'refusal: ' + t.slice(0, 200))]"""

PAGE_STATE = """() => ({ lessonShown: window.lessonShown, lessonChapter: window.lessonChapter,
    statuses: Array.from(document.querySelectorAll('.status')).filter(e => e.offsetParent !== null)
        .map(e => e.innerText.slice(0, 200)),
    toasts: Array.from(document.querySelectorAll('.toast-body, .toast-wrap')).map(e => e.innerText.slice(0, 200)),
    pending: Array.from(document.querySelectorAll('.eta-bar, .progress-text, .meta-text'))
        .filter(e => e.offsetParent !== null).map(e => e.innerText.slice(0, 80)),
    tab: (document.querySelector('[role=tab][aria-selected=true]') || {}).innerText })"""
                            # what a chapter that never shows its result left on screen (CI: stop 39 waited 600 s)
PAGE_ERRORS: list[str] = []  # the page's uncaught script errors, for that message


@pytest.fixture(scope="module")
def shots(tmp_path_factory) -> Path:
    folder = Path(os.environ.get("SCREENSHOT_DIR") or tmp_path_factory.mktemp("screenshots"))
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _show(page, chapter: str) -> None:
    """Open the chapter (its accordion) on the Lesson tab and press its "show me"; wait until its result is shown."""
    button = page.locator(f"#lesson-{chapter}")
    if not button.is_visible():
        page.locator(f"#lesson-chapter-{chapter} .label-wrap").first.click()
        button.wait_for(state="visible", timeout=30_000)
    page.evaluate("window.lessonShown = null; window.lessonChapter = null")   # the click's own script names the
    button.click()                                                          # chapter at once (lessonChapter)
    try:
        page.wait_for_function(f"window.lessonShown === {chapter!r}", timeout=CHAPTER_WAIT_MS)
    except Exception as error:  # noqa: BLE001 - playwright's TimeoutError: say what the page showed instead
        raise AssertionError(f"chapter {chapter!r}: its result never came ({error.__class__.__name__}; lessonChapter "
                             f"null: the click reached no button); the page showed {page.evaluate(PAGE_STATE)}; "
                             f"script errors: {PAGE_ERRORS[-5:]}") from None
    page.wait_for_function(IMAGES_LOADED, timeout=60_000)


def _check(page, lang: str, chapter: str) -> list[str]:
    """What is wrong on screen right after a chapter's "show me"."""
    problems = []
    result = RESULTS[VIEWS[chapter]]
    fraction = page.evaluate(VISIBLE_FRACTION, result)
    if fraction < 0.5:
        problems.append(f"#{result} only {fraction:.0%} in the window")
    problems += [f"broken picture {src}" for src in page.evaluate(BROKEN_IMAGES)]
    problems += page.evaluate(PROBLEMS_SHOWN)
    if chapter in FILLED and page.locator(FILLED[chapter]).count() == 0:
        problems.append(f"{FILLED[chapter]}: nothing shown")
    if not page.locator(f"#lesson-return-{chapter}").is_visible() or not page.locator("#lesson-back").is_visible():
        problems.append("the chapter's question and the way back are not on screen")
    if lang == "de":
        problems += check_german_page(page)
    return problems


def _back(page, chapter: str) -> list[str]:
    """One click back to the chapter: the Lesson tab, the chapter's "show me" on screen."""
    scrolled = page.evaluate("window.lessonScrolled || 0")
    page.locator("#lesson-back").click()
    try:                    # the way back's scrolls done: a click during them once landed elsewhere (CI, stop 39)
        page.wait_for_function(f"(window.lessonScrolled || 0) > {scrolled}", timeout=30_000)
        page.wait_for_function(f"""() => {{ const r = document.getElementById('lesson-{chapter}').getBoundingClientRect();
            return r.height > 0 && r.top >= 0 && r.bottom <= window.innerHeight; }}""", timeout=30_000)
    except Exception:  # noqa: BLE001 - playwright's TimeoutError: reported with the rest
        return ["'back to the lesson' did not bring the chapter on screen"]
    return []


@pytest.mark.parametrize("lang, size, chapters", RUNS, ids=[f"{lang}-{w}x{h}" for lang, (w, h), _ in RUNS])
def test_every_show_me_lands_on_screen(browser, miniworld_url, shots, lang, size, chapters):
    context = browser.new_context(locale={"en": "en-US", "de": "de-DE"}[lang],
                                  viewport={"width": size[0], "height": size[1]})
    page = context.new_page()
    page.on("pageerror", lambda error: PAGE_ERRORS.append(str(error)[:300]))
    failures = {}
    try:
        page.goto(miniworld_url)
        page.wait_for_selector("#generate-btn", timeout=120_000)
        page.get_by_role("tab", name=LESSON_TAB[lang], exact=True).click()
        for chapter in chapters:
            number = ALL.index(chapter) + 1
            _show(page, chapter)
            page.screenshot(path=str(shots / f"lesson-{lang}-{size[0]}x{size[1]}-{number}-{chapter}.png"),
                            timeout=120_000)                    # a loaded machine renders slowly
            problems = _check(page, lang, chapter) + _back(page, chapter)
            if problems:
                failures[chapter] = problems
    finally:
        context.close()
    assert not failures, failures


def test_the_second_scroll_never_moves_the_page_under_a_persons_hand(browser, miniworld_url):
    """scroll_js brings an element to the top, and again 0.4 s later (a gallery grows as its pictures load); a wheel,
    a click or a key in between cancels the second one. It once moved the page under a click on the next chapter,
    which landed elsewhere (CI, stop 39). Without a touch, the second scroll still happens."""
    from explorer.ui.lesson_tab import scroll_js

    context = browser.new_context(viewport={"width": 1280, "height": 720})
    page = context.new_page()
    try:
        page.goto(miniworld_url)
        page.wait_for_selector("#generate-btn", timeout=120_000)
        page.get_by_role("tab", name="Lesson", exact=True).click()
        target = "lesson-chapter-gaps"
        page.evaluate("document.body.style.paddingBottom = '3000px'")      # room to bring any chapter to the top
        top = f"() => Math.round(document.getElementById('{target}').getBoundingClientRect().top)"
        for touch in (False, True):
            page.evaluate("window.scrollTo(0, 0)")
            count = page.evaluate("window.lessonScrolled || 0")
            page.evaluate(f"({scroll_js(repr(target))})()")
            page.wait_for_function(f"({top})() === 0", timeout=10_000)            # the first scroll, at once
            page.evaluate("window.scrollBy(0, -200)")                           # the page grows (not a person)
            if touch:
                page.mouse.move(640, 360)
                page.mouse.wheel(0, -100)                                       # a person scrolls
            page.wait_for_function(f"(window.lessonScrolled || 0) > {count}", timeout=10_000)
            assert (page.evaluate(top) != 0) == touch, (touch, page.evaluate(top))
    finally:
        context.close()
