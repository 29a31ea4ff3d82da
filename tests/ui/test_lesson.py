"""The lesson (issue 17): chapters from data files in English and German, each "show me" runs on every offline model."""
from __future__ import annotations

import json

import pytest

from explorer.errors import InputError
from explorer.lesson.chapters import LANGUAGES, VIEWS, load_lesson
from explorer.world.scenes import HELD_OUT
from explorer.models.examples import MINIWORLD, SDXL, STABLE_DIFFUSION
from explorer.ui.lesson_tab import lesson_tables


def test_both_languages_have_the_same_chapters_in_the_literatures_order():
    english, german = load_lesson("en"), load_lesson("de")
    assert 6 <= len(english.chapters) <= 13
    assert [(c.id, c.view, c.show, c.families, c.only, {f: set(t) for f, t in c.texts.items()})
            for c in english.chapters] == \
        [(c.id, c.view, c.show, c.families, c.only, {f: set(t) for f, t in c.texts.items()}) for c in german.chapters]
    assert [c.id for c in english.chapters] == ["vectors", "nearness", "forward", "denoising", "blending", "archive",
                                                "stereotypes", "english", "gaps", "represents", "features",
                                                "inversion", "flow"]
    for e, g in zip(english.chapters, german.chapters):
        assert e.read != g.read and e.question != g.question and e.title != g.title
    tables = lesson_tables()
    assert set(tables) == set(LANGUAGES) and tables["en"].keys() == tables["de"].keys()


def test_chapters_use_each_familys_own_examples():
    lesson = load_lesson("en")
    blend = next(c for c in lesson.chapters if c.view == "blend")
    assert blend.values(STABLE_DIFFUSION, "stable-diffusion") == {"a": "van Gogh", "b": "astronaut"}
    assert blend.values(MINIWORLD, "miniworld") == {"a": "a red circle", "b": "a blue square"}
    denoising = next(c for c in lesson.chapters if c.id == "denoising")
    assert denoising.values(SDXL, "sdxl") == {"prompt": "Wanderer above the sea of fog", "steps": 18, "seed": 0}
    english = next(c for c in lesson.chapters if c.id == "english")
    assert "Sankt Martin" in english.values(STABLE_DIFFUSION, "stable-diffusion")["prompt"]
    gaps = next(c for c in lesson.chapters if c.id == "gaps")           # miniworld's held-out combinations
    assert gaps.runs_on("miniworld") and not gaps.runs_on("stable-diffusion") and "miniworld" in gaps.only_note
    assert gaps.values(MINIWORLD, "miniworld")["query"].split()[1:] == HELD_OUT[0].split()


def test_every_chapter_speaks_of_what_miniworld_shows_and_bridges_to_the_literature():
    """Issue 26: on the offline model a chapter told of van Gogh and CEOs over red circles and yellow triangles. Each
    chapter now has miniworld's own text (what its shapes show, then the literature's example it stands for), in both
    languages; Stable Diffusion and SDXL keep the literature's own texts."""
    bridges = {"vectors": ["blue", "king"], "nearness": ["a red circle", "queen"], "forward": ["circle"],
               "denoising": ["circle", "lighthouse"], "blending": ["purple", "van Gogh"],
               "archive": ["triangle", "yellow"], "stereotypes": ["31 of 32", "74.5%", "CEO"],
               "english": ["ein kleiner roter Kreis links", "Sankt Martin"], "gaps": ["green triangle"],
               "represents": ["blue square", "Stable Diffusion"], "features": ["yellow", "red square"],
               "inversion": ["red circle", "Mokady"], "flow": ["noise", "SD3"]}
    german = {"blue": "blau", "purple": "lila", "lighthouse": "Leuchtturm", "circle": "Kreis", "triangle": "Dreieck",
              "yellow": "gelb", "31 of 32": "31 von 32", "74.5%": "74,5 %", "green triangle": "grünes Dreieck",
              "blue square": "blaue Quadrat", "red square": "roten Quadrats",
              "red circle": "rote Kreis", "noise": "Rauschen"}
    for lang in LANGUAGES:
        lesson = {c.id: c for c in load_lesson(lang).chapters}
        assert set(lesson) == set(bridges)
        for chapter_id, words in bridges.items():
            chapter = lesson[chapter_id]
            text = (chapter.read_for("miniworld") + " " + chapter.question_for("miniworld")).lower()
            for word in words:
                word = german.get(word, word) if lang == "de" else word
                assert word.lower() in text, (lang, chapter_id, word)
            if chapter.runs_on("stable-diffusion"):
                assert "miniworld" in chapter.texts and chapter.read_for("stable-diffusion") == chapter.read
                assert chapter.read_for("miniworld") != chapter.read
    stereotypes = next(c for c in load_lesson("en").chapters if c.id == "stereotypes")
    assert "triangle" not in stereotypes.read_for("sdxl") and "CEO" in stereotypes.read_for("sdxl")


def test_a_familys_text_key_is_its_own_and_the_page_table_holds_it():
    chapter = next(c for c in load_lesson("en").chapters if c.id == "stereotypes")
    assert chapter.text_key("read", "miniworld") == "lesson.stereotypes.miniworld.read"
    assert chapter.text_key("read", "stable-diffusion") == "lesson.stereotypes.read"
    tables = lesson_tables()
    assert tables["de"]["lesson.stereotypes.miniworld.read"] == next(
        c for c in load_lesson("de").chapters if c.id == "stereotypes").read_for("miniworld")


@pytest.mark.parametrize("change, field", [
    (lambda c: c.update(view="painting"), "chapter 1: view"),
    (lambda c: c["show"].update(colour="red"), "chapter 1: show"),
    (lambda c: c.pop("question"), "chapter 1"),
    (lambda c: c.update(only=["miniworld"]), "chapter 1: only_note"),
    (lambda c: c.update(only="miniworld"), "chapter 1: only"),
    (lambda c: c.update(texts={"midjourney": {"read": "x"}}), "chapter 1: texts"),
    (lambda c: c.update(texts={"miniworld": {"show": "x"}}), "chapter 1: texts"),
    (lambda c: c.update(texts={"miniworld": {"read": ""}}), "chapter 1: texts"),
])
def test_a_broken_chapter_file_is_named(tmp_path, change, field):
    data = json.loads(load_lesson.__globals__["LESSONS_DIR"].joinpath("en.json").read_text(encoding="utf-8"))
    change(data["chapters"][0])
    (tmp_path / "en.json").write_text(json.dumps(data), encoding="utf-8")
    with pytest.raises(InputError) as info:
        load_lesson("en", tmp_path)
    assert str(info.value).startswith(f"en.json: {field}")
    assert all(view in VIEWS for view in ("generate", "forward", "tokens"))


def test_the_cli_prints_the_lesson_for_a_model(capsys):
    from explorer.cli import main

    assert main(["lesson", "--model", "miniworld", "--lang", "de", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["title"].startswith("Lektion") and len(data["chapters"]) == len(load_lesson("en").chapters) == 13
    assert data["chapters"][8]["runs"] and data["chapters"][8]["show"]["query"] == "a green triangle"
    assert data["chapters"][4]["show"] == {"a": "a red circle", "b": "a blue square"}
    assert main(["lesson", "--lang", "fr"]) == 2
    assert "lang: expected one of en, de, received 'fr'" in capsys.readouterr().err
