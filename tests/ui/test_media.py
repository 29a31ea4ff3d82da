"""Files served to users (explorer.ui.media): a served file is never rewritten while it can be read, and a user's links
open for that user's client only. Each use of gradio's internals is checked against the pinned gradio here."""
from __future__ import annotations

import os
import threading

import numpy as np
import pytest
import requests
from PIL import Image

from explorer.ui.media import COOKIE, Media, make_gradio_cache_write_once


def _pictures(count=8, size=96):
    rng = np.random.default_rng(0)
    return [Image.fromarray(rng.integers(0, 255, (size, size, 3), dtype=np.uint8)) for _ in range(count)]


def _short_reads(save, tmp_path, seconds=1.5) -> int:
    """How often a reader saw a cached picture shorter than it is whole, while `save` kept saving the same pictures
    (as a streamed gallery re-returns every earlier step at each update)."""
    pictures = _pictures()
    paths = [save(p, str(tmp_path)) for p in pictures]
    sizes = [os.path.getsize(p) for p in paths]
    stop, short = threading.Event(), [0]

    def reader():
        while not stop.is_set():
            for path, size in zip(paths, sizes):
                with open(path, "rb") as handle:        # the file route: size from stat, then the bytes
                    if len(handle.read()) != size:
                        short[0] += 1

    thread = threading.Thread(target=reader)
    thread.start()
    stop_at = threading.Timer(seconds, stop.set)
    stop_at.start()
    while not stop.is_set():
        for picture in pictures:
            save(picture, str(tmp_path))
    thread.join()
    return short[0]


def test_gradio_rewrites_a_cached_picture_in_place_and_write_once_does_not(tmp_path):
    """The cause of the broken step pictures (issue 26): the pinned gradio's save_pil_to_cache truncates and rewrites
    the cached file of a picture returned again, so a concurrent reader sees it short; once made write-once, never."""
    from gradio import processing_utils

    original = getattr(processing_utils.save_pil_to_cache, "__wrapped__", processing_utils.save_pil_to_cache)
    if getattr(original, "write_once", False):                 # patched by an app built earlier in this session
        import importlib

        original = importlib.reload(processing_utils).save_pil_to_cache
    assert _short_reads(lambda p, d: original(p, d, format="png"), tmp_path / "gradio") > 0
    make_gradio_cache_write_once()
    assert processing_utils.save_pil_to_cache.write_once
    assert _short_reads(lambda p, d: processing_utils.save_pil_to_cache(p, d, format="png"), tmp_path / "once") == 0


def test_gallery_postprocess_goes_through_the_write_once_cache(tmp_path):
    """gradio's Gallery saves pictures through processing_utils.save_pil_to_cache, looked up at call time (so the
    write-once version is used): the second return of the same picture leaves its file untouched."""
    import gradio as gr

    make_gradio_cache_write_once()
    gallery = gr.Gallery(format="png", render=False)
    gallery.GRADIO_CACHE = str(tmp_path)
    pictures = _pictures(2)
    first = gallery.postprocess([(p, "x") for p in pictures]).root[0].image.path
    before = os.stat(first)
    again = gallery.postprocess([(p, "x") for p in pictures]).root[0].image.path
    assert again == first and os.stat(again).st_mtime_ns == before.st_mtime_ns and os.stat(again).st_ino == before.st_ino


def test_published_files_are_written_once_per_client(tmp_path):
    media = Media(tmp_path / "media")
    picture = _pictures(1)[0]
    alice = media.publish(picture, "alice-cookie-0123456789")
    stat = os.stat(alice)
    assert media.publish(picture, "alice-cookie-0123456789") == alice and os.stat(alice).st_mtime_ns == stat.st_mtime_ns
    bob = media.publish(picture, "bob-cookie-0123456789ab")
    assert bob != alice and "alice" not in alice and "bob" not in bob          # own folders, cookies not in links
    assert media.publish(alice, "alice-cookie-0123456789") == alice             # a published path stays as it is
    assert media.allows(alice, "alice-cookie-0123456789") is True
    assert media.allows(alice, "bob-cookie-0123456789ab") is False
    assert media.allows(alice, None) is False
    assert media.allows(str(tmp_path / "media" / ".." / "other.png"), None) is None     # not ours: gradio decides
    sneaky = str(tmp_path / "media" / media.folder("bob-cookie-0123456789ab") / ".." / alice.split("/")[-3] / "x")
    assert media.allows(sneaky, "bob-cookie-0123456789ab") is False


def _generate(client, seed):
    return client.predict("a red fox", "", seed, False, 2, 7.5, 64, 64, "ddim", "approx", api_name="/generate")


def test_file_links_open_for_the_client_that_made_them_only(app_url, connect):
    """issue 33, item 6: another client, or a request without the client's cookie, gets 404 for a user's result,
    step pictures and downloads; the user's own client downloads them (gradio_client keeps its cookie)."""
    alice = connect(app_url)
    out = _generate(alice, 41)                                                        # alice's client downloads them
    assert Image.open(out[0]).size == (64, 64) and len(out[1]) == 2
    owner = connect(app_url, download_files=False)                                  # links instead of files
    links = owner.predict("a red fox", "", 41, False, 2, 7.5, 64, 64, "ddim", "approx", api_name="/generate")
    urls = [links[0]["url"], links[1][0]["image"]["url"], links[7][0]["url"]]        # result, a step, a download
    assert all("/file=" in u for u in urls), urls
    for url in urls:
        assert requests.get(url, cookies=owner.cookies, timeout=60).status_code == 200
        assert requests.get(url, timeout=60).status_code == 404                      # no session
        assert requests.get(url, cookies=alice.cookies, timeout=60).status_code == 404   # another session
        assert requests.get(url, cookies={COOKIE: "forged-value-0123456789"}, timeout=60).status_code == 404
        assert owner.cookies[COOKIE] not in url


STEPS = 8


@pytest.mark.slow
def test_four_browsers_generating_at_once_see_every_step_picture(app_url, browser, capfd):
    """issue 26, item 2: four classmates (one browser, four contexts: four clients) press Generate at once; every
    picture of every step gallery loads, no file request fails, and the server logs no Content-Length error.
    Slow (~1-3 min on 2 cores): four streamed generations in a real browser are the case that broke."""
    failed, contexts = [], [browser.new_context(viewport={"width": 1280, "height": 900}) for _ in range(4)]
    try:
        pages = []
        for context in contexts:
            page = context.new_page()
            page.on("requestfailed", lambda r: "/file=" in r.url and failed.append((r.url, r.failure)))
            page.goto(app_url)
            page.wait_for_selector("#generate-btn", timeout=120_000)
            page.fill("#steps input[type=number]", str(STEPS))
            page.keyboard.press("Enter")
            pages.append(page)
        for page in pages:
            page.click("#generate-btn", timeout=120_000)
        for page in pages:
            page.wait_for_function("document.querySelector('#status').innerText.includes('Done')", timeout=600_000)
            page.wait_for_function("""() => [...document.querySelectorAll('#xt-gallery img, #x0-gallery img')]
                                           .every(i => i.complete)""", timeout=60_000)
        counts = [page.evaluate("""() => { const imgs = [...document.querySelectorAll('#xt-gallery img, #x0-gallery img')];
                                            return [imgs.length, imgs.filter(i => i.naturalWidth === 0).length]; }""")
                  for page in pages]
    finally:
        for context in contexts:
            context.close()
    assert counts == [[2 * STEPS, 0]] * 4, counts                     # every step picture shown, none broken
    assert not failed, failed[:3]
    log = capfd.readouterr().err
    assert "Content-Length" not in log and "LocalProtocolError" not in log
