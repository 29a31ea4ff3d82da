"""The Search tab on the event layer (issue 27, items 1 and 3): its status lines, notes and captions are keyed
messages (assets/i18n/messages/*/ui_search.json), so a German session reads them in German by key (German numbers:
0,25) while an English session and the API read the English they always read, byte for byte. There is no pattern
catalogue behind them: a site that goes back to plain English shows English on a German
page and fails here."""
from __future__ import annotations

import json
from types import SimpleNamespace

from explorer.messages import is_keyed, render
from tests.ui.handlers import Request


GERMAN, ENGLISH = Request("de-DE,de;q=0.9,en;q=0.8", "search"), Request("en-US,en;q=0.9", "search")


class Progress:
    def __init__(self):
        self.descs = []

    def __call__(self, progress, desc=None, *args, **kwargs):
        self.descs.append(desc)


def _event(demo, name: str, output: str = "search-status"):
    """The page's (private) event whose handler is `name` and which writes the element `output`."""
    found = [d for d in demo.fns.values() if getattr(d.fn, "__name__", "") == name and d.api_visibility == "private"
             and any(getattr(demo.blocks[o] if isinstance(o, int) else o, "elem_id", None) == output
                     for o in d.outputs)]
    assert found, f"no page event runs {name}"
    return found[0]


def _by_id(demo, event, out, elem_id: str | None = None, kind: str | None = None):
    """The value an event returned for the output with `elem_id` (or the first of type `kind`)."""
    blocks = [demo.blocks[o] if isinstance(o, int) else o for o in event.outputs]
    at = next(i for i, b in enumerate(blocks) if (elem_id and getattr(b, "elem_id", None) == elem_id)
              or (kind and type(b).__name__ == kind))
    return out[at]


def _search(demo, request):
    event = _event(demo, "on_search")
    out = list(event.fn("a red boat", "", 0, 2, 7.5, 64, "ddim", 2, 1, False, request, Progress()))[-1]
    return event, out


def test_a_german_search_reads_german_by_key_and_an_english_one_is_unchanged(demo):
    event, german = _search(demo, GERMAN)
    status = _by_id(demo, event, german, "search-status")
    assert status.startswith("2 Ergebnisse für 'a red boat'. Kein CLIP-Bildmodell"), status
    assert [caption for _, caption in _by_id(demo, event, german, "search-results")] == ["Seed 0", "Seed 1"]
    event, english = _search(demo, ENGLISH)
    status = _by_id(demo, event, english, "search-status")
    assert status.startswith("2 results for 'a red boat'. No CLIP vision model: results are in seed order"), status
    assert [caption for _, caption in _by_id(demo, event, english, "search-results")] == ["seed 0", "seed 1"]


def test_more_like_this_and_stop_read_german_by_key(demo, tiny_model):
    from explorer.generation.recipe import recipe_defaults

    recipe = recipe_defaults(tiny_model, "a red boat", seed=3, steps=2, width=64, height=64).to_json()
    event = _event(demo, "on_more")
    out = list(event.fn(recipe, 1, 0.25, 1, False, GERMAN, Progress()))[-1]
    assert _by_id(demo, event, out, kind="Markdown") == \
        "1 Variationen mit Stärke 0,25 um Seed 3. Klicken Sie auf eine, um sie zu öffnen."
    out = list(event.fn(recipe, 1, 0.25, 1, False, ENGLISH, Progress()))[-1]
    assert _by_id(demo, event, out, kind="Markdown") == \
        "1 variations at strength 0.25 around seed 3. Click one to open it."
    stop = _event(demo, "on_stop")
    assert "Halte nach dem aktuellen Batch an" in str(stop.fn(GERMAN))
    refused = _event(demo, "on_more").fn("", 1, 0.25, 1, False, GERMAN, Progress())
    assert "das JSON-Rezept eines Ergebnisses" in str(list(refused)[-1])


def test_captions_and_found_concepts_are_keyed():
    from explorer.ui.search_tab import _found, _short

    recipe = SimpleNamespace(seed=3, variation_seed=7, variation_strength=0.25)
    result = SimpleNamespace(recipe=recipe, score=0.8712, concepts=[("red", 0.3), ("circle", 0.2)])
    caption = _short(result)
    assert caption == "seed 3 ~0.25 · 0.87" and is_keyed(caption)
    assert render(caption, "de") == "Seed 3 ~0,25 · 0,87"
    found = _found([result])
    assert found == "What the search found (nearest concepts to each picture, by CLIP): **seed 3** ≈ red, circle"
    assert render(found, "de").startswith("Was die Suche gefunden hat (nächste Konzepte zu jedem Bild, nach CLIP): "
                                          "**Seed 3** ≈ ")


def test_the_library_notes_stay_keyed_in_the_flags():
    from explorer.messages import say
    from explorer.ui.search_tab import _flags

    flags = _flags([say("explore.search.no_vision"), "plain"])
    assert flags == "\n\n⚑ No CLIP vision model: results are in seed order, without concepts.\n\n⚑ plain"
    assert "Kein CLIP-Bildmodell" in render(flags, "de")
    assert json.loads(json.dumps({"note": flags}))["note"] == str(flags)           # the API reads plain English
