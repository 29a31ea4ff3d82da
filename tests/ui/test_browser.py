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
def page(app_url, browser):
    """A page of the session's one browser (tests/conftest.py)."""
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    page.goto(app_url)
    page.wait_for_selector("#generate-btn", timeout=60_000)
    yield page
    context.close()


def test_a_picked_concept_goes_to_the_generate_tab(page):
    page.get_by_role("tab", name="Map").click()
    page.fill("#map-picked textarea", "a purple triangle")
    page.click("#map-to-generate")
    page.wait_for_function("document.querySelector('#prompt textarea').value === 'a purple triangle'",
                           timeout=30_000)
    assert page.locator("#generate-btn").is_visible()                               # back on the Generate tab


def test_nearest_concepts_only_keeps_the_picture_and_refuses_k_zero(page):
    """Issue 26: "Nearest concepts only" wiped the picture and the norm plot of the last Compute, and a k of 0 typed
    into its slider was silently taken as 1. Now the picture stays, and k is a number box the server checks."""
    page.get_by_role("tab", name="Embeddings").click()
    page.fill("#expression textarea", '"a red circle" - red + blue')
    page.click("#arith-btn")
    picture = page.locator("#arith-image img")
    picture.wait_for(timeout=120_000)
    source = picture.get_attribute("src")
    page.fill("#arith-k input", "0")
    page.click("#neighbors-btn")
    refused = "document.querySelector('#arith-status').innerText.includes('expected an integer in [1, 50]')"
    try:
        page.wait_for_function(refused, timeout=120_000)
    except Exception as error:                                               # say what the page showed instead
        raise AssertionError(f"status {page.inner_text('#arith-status')!r}, k {page.input_value('#arith-k input')!r}"
                             ) from error
    assert "received 0" in page.inner_text("#arith-status")
    page.fill("#arith-k input", "3")
    page.fill("#expression textarea", "a red circle")
    page.click("#neighbors-btn")
    page.wait_for_function("document.querySelector('#arith-status').innerText.includes('still those of')",
                           timeout=120_000)                                  # the earlier expression's, it says
    assert picture.get_attribute("src") == source                            # the last Compute's picture is kept
    assert page.locator("#arith-status").inner_text().count("expected") == 0
