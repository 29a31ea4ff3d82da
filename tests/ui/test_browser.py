"""A person in a browser: a concept picked on the Map goes to the Generate tab (headless Chromium; generating,
the step galleries and bad input are in test_projector.py)."""
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


def test_a_picked_concept_goes_to_the_generate_tab(page):
    page.get_by_role("tab", name="Map").click()
    page.fill("#map-picked textarea", "a purple triangle")
    page.click("#map-to-generate")
    page.wait_for_function("document.querySelector('#prompt textarea').value === 'a purple triangle'",
                           timeout=30_000)
    assert page.locator("#generate-btn").is_visible()                               # back on the Generate tab
