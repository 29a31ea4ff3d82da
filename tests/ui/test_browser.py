"""A person in a browser: type a prompt, click Generate, watch the step gallery fill (headless Chromium)."""
from __future__ import annotations

import os
import shutil

import pytest

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run"]

if not os.path.exists(CHROMIUM):
    if os.environ.get("CI"):
        raise RuntimeError("CI needs Debian's chromium at /usr/bin/chromium (.ci/run installs it)")
    pytest.skip("Debian's chromium is not installed (apt-get install chromium)", allow_module_level=True)


@pytest.fixture(scope="module")
def page(app_url):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.goto(app_url)
        page.wait_for_selector("#generate-btn", timeout=60_000)
        yield page
        browser.close()


def test_generate_fills_step_galleries(page, tmp_path):
    page.fill("#prompt textarea", "a small red boat on a lake")
    steps = page.locator("#steps input[type=number]")
    steps.fill("4")
    steps.press("Enter")
    page.click("#generate-btn")
    page.wait_for_function("document.querySelector('#status').innerText.includes('Done')", timeout=120_000)
    assert page.locator("#x0-gallery img").count() == 4
    assert page.locator("#xt-gallery img").count() == 4
    assert "a small red boat on a lake" in page.inner_text("body") or page.locator("#result img").count() == 1
    page.screenshot(path=str(tmp_path / "generate.png"), full_page=True)


def test_bad_input_shows_message_not_traceback(page):
    page.fill("#prompt textarea", "   ")
    page.click("#generate-btn")
    toast = page.get_by_text("prompt: expected a non-empty prompt")
    toast.first.wait_for(timeout=30_000)
    assert "Traceback" not in page.inner_text("body")


def test_a_picked_concept_goes_to_the_generate_tab(page):
    page.get_by_role("tab", name="Map").click()
    page.fill("#map-picked textarea", "a purple triangle")
    page.click("#map-to-generate")
    page.wait_for_function("document.querySelector('#prompt textarea').value === 'a purple triangle'",
                           timeout=30_000)
    assert page.locator("#generate-btn").is_visible()                               # back on the Generate tab
