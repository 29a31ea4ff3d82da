"""A class on a projector (issue 16): every tab at 1280x720 and 1920x1080 in headless Chromium, before and after its
main action. Screenshots go to $SCREENSHOT_DIR (CI keeps them as artefacts; never committed) or a temp folder.

Asserted: each tab's main button is on screen without scrolling; every step of a generation is visible in the step
galleries (no thumbnail cut off); a bad input leaves the previous result in place, shows its message in the status
line beside the button and covers no output with an "Error" badge.

Slow (~25 s per window size in CI): every tab's main action runs in a real browser and is waited for."""
from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path

import pytest

from tests.servers import close_demo
from tests.ui.test_browser import CHROMIUM, FLAGS

pytestmark = pytest.mark.slow

SIZES = [(1280, 720), (1920, 1080)]
STEPS = 4                    # the projector app's default steps: as many pictures, in the same places, sooner
# tab name -> (main button, status line, text the status shows once the action is done)
TABS = {
    "Generate": ("#generate-btn", "#status", "Done"),
    "Embeddings": ("#arith-btn", "#arith-status", "Saved as"),
    "Interpolate": ("#walk-btn", "#walk-status", "Done"),
    "Search": ("#search-btn", "#search-status", "results for"),
    "Map": ("#map-draw", "#map-status", "fitted in"),
}


@pytest.fixture(scope="module")
def projector_url(tiny_model, app_config):
    """The whole app on tiny-random with STEPS steps by default in every tab: each main action runs on the tab's own
    defaults, and the layout (how many pictures, where) does not depend on the number of steps."""
    from explorer.ui.app import build_demo, launch_kwargs

    model = replace(tiny_model, preset=replace(tiny_model.preset, steps=STEPS))      # the same pipeline and caches
    demo = build_demo(model, app_config)
    _, url, _ = demo.launch(prevent_thread_lock=True, quiet=True,
                            **{**launch_kwargs(app_config, demo), "server_port": None})
    yield url
    close_demo(demo)


@pytest.fixture(scope="module")
def shots(tmp_path_factory) -> Path:
    folder = Path(os.environ.get("SCREENSHOT_DIR") or tmp_path_factory.mktemp("screenshots"))
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _open(browser, url, size):
    page = browser.new_page(viewport={"width": size[0], "height": size[1]})
    page.goto(url)
    page.wait_for_selector("#generate-btn", timeout=60_000)
    return page


def _in_viewport(page, selector) -> bool:
    box = page.locator(selector).bounding_box()
    height = page.viewport_size["height"]
    return box is not None and box["y"] >= 0 and box["y"] + box["height"] <= height


def _wait_status(page, selector, text, timeout=240_000):
    page.wait_for_function(f"document.querySelector('{selector}').innerText.includes({text!r})", timeout=timeout)


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_every_tab_before_and_after_its_main_action(browser, projector_url, shots, size):
    page = _open(browser, projector_url, size)
    tag = f"{size[0]}x{size[1]}"
    off_screen = []
    for tab, (button, status, done) in TABS.items():
        page.get_by_role("tab", name=tab, exact=True).click()
        page.locator(button).wait_for(state="visible", timeout=30_000)
        page.evaluate("window.scrollTo(0, 0)")
        if not _in_viewport(page, button):
            off_screen.append(tab)
        page.screenshot(path=str(shots / f"{tag}-{tab.lower()}-before.png"))
        page.click(button)
        _wait_status(page, status, done)
        page.wait_for_timeout(1000)
        page.screenshot(path=str(shots / f"{tag}-{tab.lower()}-after.png"), full_page=True)
    page.close()
    assert not off_screen, f"main button below the fold at {tag} on: {off_screen}"


def test_every_step_is_visible_and_a_bad_input_keeps_the_work(browser, projector_url, shots):
    page = _open(browser, projector_url, SIZES[0])
    steps = page.locator("#steps input[type=number]")
    steps.fill("12")
    steps.press("Enter")
    page.fill("#prompt textarea", "a small red boat on a lake")
    page.click("#generate-btn")
    _wait_status(page, "#status", "Done")
    page.wait_for_timeout(1000)
    # 1. every step's thumbnail lies wholly inside its gallery (nothing scrolled away or cut)
    for gallery in ("#xt-gallery", "#x0-gallery"):
        frame = page.locator(gallery).bounding_box()
        items = page.locator(f"{gallery} .thumbnail-item")
        assert items.count() == 12
        for i in range(12):
            box = items.nth(i).bounding_box()
            assert box["x"] >= frame["x"] - 1 and box["x"] + box["width"] <= frame["x"] + frame["width"] + 1
            assert box["y"] >= frame["y"] - 1 and box["y"] + box["height"] <= frame["y"] + frame["height"] + 1
    result = page.locator("#result img").get_attribute("src")
    # 2. a bad input: the message beside the button, the result and the galleries untouched, no "Error" badges
    page.fill("#prompt textarea", "   ")
    page.click("#generate-btn")
    _wait_status(page, "#status", "prompt: expected a non-empty prompt", timeout=30_000)
    page.screenshot(path=str(shots / "1280x720-generate-bad-input.png"))
    assert page.locator("#result img").get_attribute("src") == result
    assert page.locator("#x0-gallery .thumbnail-item").count() == 12
    assert page.locator("span.error:visible").count() == 0
    assert _in_viewport(page, "#status")
    page.close()
