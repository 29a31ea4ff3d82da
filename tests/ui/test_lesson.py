"""The lesson (issue 17): chapters from data files in English and German, each "show me" runs on every offline model."""
from __future__ import annotations

import json

import pytest

from explorer.errors import InputError
from explorer.lesson.chapters import LANGUAGES, VIEWS, load_lesson
from explorer.miniworld.world import HELD_OUT
from explorer.models.examples import MINIWORLD, SDXL, STABLE_DIFFUSION
from explorer.ui.lesson_tab import lesson_tables


def test_both_languages_have_the_same_chapters_in_the_literatures_order():
    english, german = load_lesson("en"), load_lesson("de")
    assert 6 <= len(english.chapters) <= 9
    assert [(c.id, c.view, c.show, c.families, c.only) for c in english.chapters] == \
        [(c.id, c.view, c.show, c.families, c.only) for c in german.chapters]
    assert [c.id for c in english.chapters] == ["vectors", "nearness", "forward", "denoising", "blending", "archive",
                                                "stereotypes", "english", "gaps"]
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


@pytest.mark.parametrize("change, field", [
    (lambda c: c.update(view="painting"), "chapter 1: view"),
    (lambda c: c["show"].update(colour="red"), "chapter 1: show"),
    (lambda c: c.pop("question"), "chapter 1"),
    (lambda c: c.update(only=["miniworld"]), "chapter 1: only_note"),
    (lambda c: c.update(only="miniworld"), "chapter 1: only"),
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
    assert data["title"].startswith("Lektion") and len(data["chapters"]) == 9
    assert data["chapters"][8]["runs"] and data["chapters"][8]["show"]["query"] == "a green triangle"
    assert data["chapters"][4]["show"] == {"a": "a red circle", "b": "a blue square"}
    assert main(["lesson", "--lang", "fr"]) == 2
    assert "lang: expected one of en, de, received 'fr'" in capsys.readouterr().err
