"""`python -m explorer lesson`: the lesson's chapters for a model, in English or German, with their examples."""
from __future__ import annotations

from explorer.cli.common import print_json
from explorer.lesson.chapters import LANGUAGES, load_lesson
from explorer.models.examples import BY_NAME
from explorer.models.families import FAMILIES
from explorer.models.presets import DEFAULT_MODEL, resolve_preset


def register(subparsers) -> None:
    p = subparsers.add_parser("lesson", help="the lesson's chapters: what to read out, show and ask",
                              description="Print the lesson (assets/lessons/<lang>.json) for a model: each "
                                          "chapter's text, question, the view it shows and the example it fills "
                                          "in for that model's family. No model weights are loaded.")
    p.add_argument("--model", default=DEFAULT_MODEL, help="preset or Hugging Face id (picks the family's examples)")
    p.add_argument("--lang", default="en", help=f"one of {', '.join(LANGUAGES)} (default en)")
    p.add_argument("--json", action="store_true", help="print the chapters as JSON")
    p.set_defaults(run=run_lesson)


def run_lesson(args) -> int:
    lesson = load_lesson(args.lang)
    preset = resolve_preset(args.model)
    key = FAMILIES[preset.family].examples
    examples = BY_NAME.get(f"{key}-turbo") if preset.max_steps is not None else None
    examples = examples or BY_NAME[key]
    chapters = [{"id": c.id, "title": c.title, "read": c.read_for(key), "question": c.question_for(key), "view": c.view,
                 "show": c.values(examples, key), "runs": c.runs_on(key), "note": "" if c.runs_on(key) else c.only_note}
                for c in lesson.chapters]
    if args.json:
        print_json({"lang": lesson.lang, "title": lesson.title, "model": args.model, "chapters": chapters})
        return 0
    print(f"{lesson.title}\n\n{lesson.intro}\n")
    for chapter in chapters:
        shown = "; ".join(f"{name} = {value!r}" for name, value in chapter["show"].items())
        action = f"[{chapter['view']}] {shown}" if chapter["runs"] else f"({chapter['note']})"
        print(f"{chapter['title']}\n  {chapter['read']}\n  {action}\n  ? {chapter['question']}\n")
    return 0
