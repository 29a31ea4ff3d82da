"""The Lesson tab: chapters a teacher reads out, each with a "show me" that opens the right view, fills it with a
prepared example for the loaded model and runs it there (the view's own handler, as if its button were pressed).

Chapter texts come from assets/lessons/<lang>.json (explorer.lesson.chapters); their order, views and examples
from en.json, the German texts from de.json. The texts reach the page as gr.I18n keys (`lesson_tables`), so the
lesson speaks the browser's language like the rest of the UI."""
from __future__ import annotations

import inspect

import gradio as gr

from explorer.generation.generate import generate
from explorer.generation.recipe import recipe_defaults
from explorer.lesson.chapters import LANGUAGES, MAKE_IMAGE, Chapter, load_lesson
from explorer.outputs.png import save_png
from explorer.text.known import has_random_weights
from explorer.ui.context import AppContext, View
from explorer.ui.files import served
from explorer.ui.gradio_compat import I18nData, filled_by_gradio
from explorer.ui.i18n import t

MAKE_IMAGE_STEPS = 20          # the forward chapter's picture, when the Generate tab has none yet


def lesson_tables() -> dict[str, dict[str, str]]:
    """The lesson's texts as translation tables (language -> key -> text), for gr.I18n."""
    tables = {}
    for lang in LANGUAGES:
        lesson = load_lesson(lang)
        table = {"lesson.tab": {"en": "Lesson", "de": "Lektion"}[lang], "lesson.title": lesson.title,
                 "lesson.intro": lesson.intro, "lesson.show": lesson.show_label,
                 "lesson.question": lesson.question_label, "lesson.random_note": lesson.random_note}
        for chapter in lesson.chapters:
            table.update({f"lesson.{chapter.id}.title": chapter.title, f"lesson.{chapter.id}.read": chapter.read,
                          f"lesson.{chapter.id}.question": chapter.question})
            for family, texts in chapter.texts.items():        # a family's own texts (miniworld's shapes)
                table.update({chapter.text_key(part, family): text for part, text in texts.items()})
            if chapter.only_note:
                table[f"lesson.{chapter.id}.only_note"] = chapter.only_note
        tables[lang] = table
    return tables


def build(ctx: AppContext) -> None:
    lesson = load_lesson("en")                       # the structure; texts by key, in the browser's language
    with gr.Tab(I18nData("lesson.tab"), id="lesson"):
        gr.Markdown(I18nData("lesson.title"), elem_classes=["explain"])
        gr.Markdown(I18nData("lesson.intro"))
        if has_random_weights(ctx.model):
            gr.Markdown(I18nData("lesson.random_note"), elem_classes=["banner"])
        buttons = {}
        for number, chapter in enumerate(lesson.chapters):
            view = ctx.views.get(chapter.view)
            runs = view is not None and chapter.runs_on(ctx.model.adapter.examples)
            with gr.Accordion(I18nData(f"lesson.{chapter.id}.title"), open=number == 0,
                              elem_id=f"lesson-chapter-{chapter.id}"):
                gr.Markdown(I18nData(chapter.text_key("read", ctx.model.adapter.examples)))
                if not chapter.runs_on(ctx.model.adapter.examples):
                    gr.Markdown(I18nData(f"lesson.{chapter.id}.only_note"), elem_classes=["banner"])
                with gr.Row(equal_height=True):
                    button = gr.Button(I18nData("lesson.show"), variant="primary", scale=0, min_width=180,
                                       elem_id=f"lesson-{chapter.id}", interactive=runs)
                    gr.Markdown(I18nData(chapter.text_key("question", ctx.model.adapter.examples)),
                                elem_classes=["question"])                                         # italic
            if runs:
                buttons[chapter.id] = button
                _wire(ctx, button, chapter, view)
    _way_back(ctx, [c for c in lesson.chapters if c.id in buttons], buttons)


def _way_back(ctx: AppContext, chapters: list[Chapter], buttons: dict) -> None:
    """On every tab after a "show me": the chapter's question and one button back to the chapter (bottom left,
    rendered after the tab strip: ctx.overlays); hidden until a chapter is shown, and again once back."""
    with gr.Column(visible=False, elem_id="lesson-return", render=False) as box:
        questions = {c.id: gr.Markdown(I18nData(c.text_key("question", ctx.model.adapter.examples)), visible=False,
                                       elem_id=f"lesson-return-{c.id}") for c in chapters}
        with gr.Row():
            back = gr.Button(t("lesson.back"), size="sm", variant="primary", elem_id="lesson-back",
                             scale=0, min_width=160)
            hide = gr.Button(t("lesson.hide"), size="sm", elem_id="lesson-return-hide", scale=0, min_width=100)
    ctx.overlays.append(box)
    for chapter in chapters:                     # the box at once; the view's result on screen as soon as it opens
        result = ctx.views[chapter.view].result
        buttons[chapter.id].click(_question(box, questions, chapter.id), None, [box, *questions.values()],
                                  queue=False, api_visibility="private",
                                  js=f"() => {{ window.lessonChapter = {chapter.id!r}; ({scroll_js(repr(result))})(); }}"
                                  if result else f"() => {{ window.lessonChapter = {chapter.id!r}; }}")
    back.click(lambda: (gr.Tabs(selected="lesson"), gr.Column(visible=False)), None, [ctx.tabs, box], queue=False,
               api_visibility="private").then(None, None, None, js=scroll_js("'lesson-chapter-' + window.lessonChapter"))
    hide.click(lambda: gr.Column(visible=False), None, box, queue=False, api_visibility="private")


def _question(box, questions: dict, shown: str):
    return lambda: {box: gr.Column(visible=True), **{md: gr.Markdown(visible=i == shown) for i, md in questions.items()}}


def scroll_js(elem_id: str, shown: str | None = None) -> str:
    """A page script: wait (up to 3 s) until the element `elem_id` (a JS expression) is shown, bring it to the top of
    the window, and again once its pictures have laid out (a gallery grows as its images load). `shown`: then set
    window.lessonShown to it (the chapter whose result is on screen; the browser test waits for it)."""
    mark = f"window.lessonShown = {shown!r};" if shown else ""
    return f"""() => {{
        const id = {elem_id};
        const bring = () => {{ const el = document.getElementById(id);
                              if (el && el.offsetParent !== null) {{ el.scrollIntoView({{block: 'start'}});
                                                                     return true; }}
                              return false; }};
        let tries = 0;
        const wait = () => {{ if (bring() || tries++ >= 30) setTimeout(() => {{ bring(); {mark} }}, 400);
                             else setTimeout(wait, 100); }};
        wait();
    }}"""


def _wire(ctx: AppContext, button: gr.Button, chapter: Chapter, view: View) -> None:
    """The page: fill the view, switch to it, run its page handler (errors in its status line), then what its
    button chains (the attention maps after a generation, the archive after a search), then scroll its main result
    into view. The API (/lesson_<id>): the same fields and the raw handler, so a chapter that fails is an error."""
    layout = [tabs for tabs, _ in view.tabs] + list(view.opens)
    fields = list(dict.fromkeys(view.fields.values()))
    event = button.click(_show(ctx, chapter, view, view.fn, view.outputs, view.inputs, layout=True), view.inputs,
                         list(dict.fromkeys([*fields, *layout, *view.outputs])), api_visibility="private",
                         concurrency_id="model")
    for fn, inputs, outputs, kwargs in view.then:
        event = event.then(fn, inputs, outputs, **{**kwargs, "api_visibility": "private"})
    if view.result:
        event.then(None, None, None, js=scroll_js(repr(view.result), shown=chapter.id))
    filled = {view.fields[name] for name in chapter.values(ctx.examples, ctx.model.adapter.examples)}
    given = [c for c in view.inputs if c not in filled]        # the API asks only for what the chapter leaves open
    ctx.api_twin(_show(ctx, chapter, view, view.raw, view.raw_outputs, given, layout=False), given,
                 list(dict.fromkeys([*fields, *view.raw_outputs])), f"lesson_{chapter.id}", concurrency_id="model")


def _show(ctx: AppContext, chapter: Chapter, view: View, fn, outputs, given: list, layout: bool):
    """A generator handler: first the filled fields and the opened view, then the view's own results."""
    takes = inspect.signature(fn).parameters
    wants_request, wants_progress = "request" in takes, "progress" in takes
    streams = inspect.isgeneratorfunction(fn)

    def show(*values, request: gr.Request = None, progress=gr.Progress()):
        # 1. the chapter's example for this model, in the view's fields
        fill = chapter.values(ctx.examples, ctx.model.adapter.examples)
        args = [None] * len(view.inputs)
        for component, value in zip(given, values):
            args[view.inputs.index(component)] = value
        if fill.get("image") == MAKE_IMAGE:
            current = args[view.inputs.index(view.fields["image"])]
            fill["image"] = current or _make_image(ctx)
        for name, value in fill.items():
            args[view.inputs.index(view.fields[name])] = value
        shown = {view.fields[name]: value for name, value in fill.items()}
        if layout:                                  # the page: open the view where the results appear
            shown.update({tabs: gr.Tabs(selected=tab_id) for tabs, tab_id in view.tabs})
            shown.update({accordion: gr.Accordion(open=True) for accordion in view.opens})
        yield shown
        # 2. run the view as its button would
        kwargs = {**({"request": request} if wants_request else {}), **({"progress": progress} if wants_progress
                                                                        else {})}
        results = fn(*args, **kwargs)
        for out in (results if streams else [results]):
            yield dict(zip(outputs, out if len(outputs) > 1 else (out,)))

    return _filled_by_gradio(show, len(given)) if layout else show


def _filled_by_gradio(show, count: int):
    """show(*values, request=, progress=) as the page calls it: gradio fills a request (the user's session and
    language) and a progress bar only into positional parameters, so these come after the `count` values."""
    def page(*args):
        yield from show(*args[:count], request=args[count] if len(args) > count else None,
                        progress=args[count + 1] if len(args) > count + 1 else gr.Progress())

    return filled_by_gradio(page, count)


def _make_image(ctx: AppContext) -> str:
    """A picture of the model's own example prompt, for the forward chapter when none was generated yet."""
    recipe = recipe_defaults(ctx.model, ctx.examples.prompt, seed=0,
                             steps=min(ctx.model.preset.steps, MAKE_IMAGE_STEPS))
    result = generate(ctx.model, recipe, watch=False, config=ctx.config)
    return served(save_png(result.image, recipe, ctx.config.outputs_dir, stem="lesson"))
