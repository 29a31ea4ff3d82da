"""The Lesson tab: chapters a teacher reads out, each with a "show me" that opens the right view, fills it with a
prepared example for the loaded model and runs it there (the view's own handler, as if its button were pressed).

Chapter texts come from assets/lessons/<lang>.json (explorer.lesson.chapters); their order, views and examples
from en.json, the German texts from de.json. The texts reach the page as gr.I18n keys (`lesson_tables`), so the
lesson speaks the browser's language like the rest of the UI.

A tab in the event layer's pattern (explorer.ui.events): `layout` builds the components and returns them named
(`UI`), `bind` wires them, the handlers are at module level. A "show me" is bound with gradio directly: the view's
handler it runs is already wrapped (errors in the view's status line, its text in the session's language)."""
from __future__ import annotations

import inspect
from dataclasses import dataclass
from functools import partial

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
            table.update(_chapter_texts(chapter))
        tables[lang] = table
    return tables


def _chapter_texts(chapter: Chapter) -> dict[str, str]:
    """One chapter's texts by key: its title, text and question, a family's own texts (miniworld's shapes), and
    the note of a chapter that runs on some models only."""
    texts = {f"lesson.{chapter.id}.title": chapter.title, f"lesson.{chapter.id}.read": chapter.read,
             f"lesson.{chapter.id}.question": chapter.question}
    for family, parts in chapter.texts.items():
        texts.update({chapter.text_key(part, family): text for part, text in parts.items()})
    if chapter.only_note:
        texts[f"lesson.{chapter.id}.only_note"] = chapter.only_note
    return texts


# --------------------------------------------------------------------------- layout
@dataclass
class Shown:
    """A chapter whose "show me" runs here: the chapter, its button and the view it fills and runs."""

    chapter: Chapter
    button: gr.Button
    view: View


@dataclass
class WayBack:
    """On every tab after a "show me": the chapter's question and buttons back to the lesson and to hide it."""

    box: gr.Column
    questions: dict                 # chapter id -> its question (one shown at a time)
    back: gr.Button
    hide: gr.Button


@dataclass
class UI:
    """The tab's components by name (layout's result)."""

    shown: list                     # [Shown]: the chapters that run on the loaded model, in the lesson's order
    way_back: WayBack


def build(ctx: AppContext) -> None:
    bind(ctx, layout(ctx))


def layout(ctx: AppContext) -> UI:
    lesson = load_lesson("en")                       # the structure; texts by key, in the browser's language
    with gr.Tab(I18nData("lesson.tab"), id="lesson"):
        gr.Markdown(I18nData("lesson.title"), elem_classes=["explain"])
        gr.Markdown(I18nData("lesson.intro"))
        if has_random_weights(ctx.model):
            gr.Markdown(I18nData("lesson.random_note"), elem_classes=["banner"])
        buttons = [(chapter, _chapter(ctx, chapter, opened=number == 0))
                   for number, chapter in enumerate(lesson.chapters)]
    shown = [Shown(chapter, button, ctx.views[chapter.view]) for chapter, button in buttons if _runs(ctx, chapter)]
    return UI(shown, _way_back(ctx, [s.chapter for s in shown]))


def _runs(ctx: AppContext, chapter: Chapter) -> bool:
    """Whether the chapter's "show me" runs here: its view was built and it suits the loaded model's family."""
    return chapter.view in ctx.views and chapter.runs_on(ctx.model.adapter.examples)


def _chapter(ctx: AppContext, chapter: Chapter, opened: bool) -> gr.Button:
    """One chapter's accordion: its text for the loaded model, a note where it runs on other models only, the
    "show me" button (greyed out where it cannot run) and the question beside it."""
    family = ctx.model.adapter.examples
    with gr.Accordion(I18nData(f"lesson.{chapter.id}.title"), open=opened, elem_id=f"lesson-chapter-{chapter.id}"):
        gr.Markdown(I18nData(chapter.text_key("read", family)))
        if not chapter.runs_on(family):
            gr.Markdown(I18nData(f"lesson.{chapter.id}.only_note"), elem_classes=["banner"])
        with gr.Row(equal_height=True):
            button = gr.Button(I18nData("lesson.show"), variant="primary", scale=0, min_width=180,
                               elem_id=f"lesson-{chapter.id}", interactive=_runs(ctx, chapter))
            gr.Markdown(I18nData(chapter.text_key("question", family)), elem_classes=["question"])     # italic
    return button


def _way_back(ctx: AppContext, chapters: list[Chapter]) -> WayBack:
    """The way back (bottom left, rendered after the tab strip: ctx.overlays); hidden until a chapter is shown."""
    with gr.Column(visible=False, elem_id="lesson-return", render=False) as box:
        questions = {c.id: gr.Markdown(I18nData(c.text_key("question", ctx.model.adapter.examples)), visible=False,
                                       elem_id=f"lesson-return-{c.id}") for c in chapters}
        with gr.Row():
            back = gr.Button(t("lesson.back"), size="sm", variant="primary", elem_id="lesson-back",
                             scale=0, min_width=160)
            hide = gr.Button(t("lesson.hide"), size="sm", elem_id="lesson-return-hide", scale=0, min_width=100)
    ctx.overlays.append(box)
    return WayBack(box, questions, back, hide)


# --------------------------------------------------------------------------- events
def bind(ctx: AppContext, ui: UI) -> None:
    for shown in ui.shown:
        _bind_show(ctx, shown)
    _bind_way_back(ctx, ui)


def _bind_show(ctx: AppContext, shown: Shown) -> None:
    """The page: fill the view, switch to it, run its page handler (errors in its status line), then what its
    button chains (the attention maps after a generation, the archive after a search), then scroll its main result
    into view. The API (/lesson_<id>): the same fields and the raw handler, so a chapter that fails is an error."""
    chapter, view = shown.chapter, shown.view
    layout = [tabs for tabs, _ in view.tabs] + list(view.opens)
    fields = list(dict.fromkeys(view.fields.values()))
    page = Run(view.fn, view.outputs, view.inputs, layout=True)
    event = shown.button.click(_page_handler(partial(show_chapter, ctx, chapter, view, page), len(view.inputs)),
                               view.inputs, list(dict.fromkeys([*fields, *layout, *view.outputs])),
                               api_visibility="private", concurrency_id="model")
    for fn, inputs, outputs, kwargs in view.then:
        event = event.then(fn, inputs, outputs, **{**kwargs, "api_visibility": "private"})
    if view.result:
        event.then(None, None, None, js=scroll_js(repr(view.result), shown=chapter.id))
    filled = {view.fields[name] for name in chapter.values(ctx.examples, ctx.model.adapter.examples)}
    given = [c for c in view.inputs if c not in filled]        # the API asks only for what the chapter leaves open
    api = Run(view.raw, view.raw_outputs, given, layout=False)
    ctx.api_twin(_api_handler(partial(show_chapter, ctx, chapter, view, api)), given,
                 list(dict.fromkeys([*fields, *view.raw_outputs])), f"lesson_{chapter.id}", concurrency_id="model")


def _bind_way_back(ctx: AppContext, ui: UI) -> None:
    """A "show me" shows the way back at once (its chapter's question) and scrolls the view's result into view as
    soon as it opens; "back" returns to the chapter, "hide" hides the way back."""
    way = ui.way_back
    for shown in ui.shown:
        chapter, result = shown.chapter, shown.view.result
        script = f"window.lessonChapter = {chapter.id!r};" + (f" ({scroll_js(repr(result))})();" if result else "")
        shown.button.click(partial(show_question, way, chapter.id), None, [way.box, *way.questions.values()],
                           queue=False, api_visibility="private", js=f"() => {{ {script} }}")
    way.back.click(partial(back_to_lesson, ctx, way), None, [ctx.tabs, way.box], queue=False,
                   api_visibility="private").then(None, None, None,
                                                  js=scroll_js("'lesson-chapter-' + window.lessonChapter"))
    way.hide.click(partial(hide_way_back, way), None, way.box, queue=False, api_visibility="private")


def scroll_js(elem_id: str, shown: str | None = None) -> str:
    """A page script: wait (up to 3 s) until the element `elem_id` (a JS expression) is shown, bring it to the top of
    the window, and again once its pictures have laid out (a gallery grows as its images load), unless the person
    has touched the page in between (a click, the wheel, a key): the page never moves under their hand (a click on
    the next chapter landed elsewhere when the way back's second scroll moved the page under it). Then
    window.lessonScrolled counts one more (the browser test waits for it) and, with `shown`, window.lessonShown is
    set to it (the chapter whose result is on screen)."""
    mark = f"window.lessonShown = {shown!r};" if shown else ""
    return f"""() => {{
        const id = {elem_id};
        const kinds = ['pointerdown', 'wheel', 'keydown', 'touchstart'];
        let touched = false;
        const touch = () => {{ touched = true; }};
        kinds.forEach(kind => window.addEventListener(kind, touch, {{capture: true, passive: true}}));
        const bring = () => {{ const el = document.getElementById(id);
                              if (el && el.offsetParent !== null) {{ el.scrollIntoView({{block: 'start'}});
                                                                     return true; }}
                              return false; }};
        const end = () => {{ if (!touched) bring();
                            kinds.forEach(kind => window.removeEventListener(kind, touch, {{capture: true}}));
                            window.lessonScrolled = (window.lessonScrolled || 0) + 1; {mark} }};
        let tries = 0;
        const wait = () => {{ if (touched || bring() || tries++ >= 30) setTimeout(end, 400);
                             else setTimeout(wait, 100); }};
        wait();
    }}"""


# --------------------------------------------------------------------------- handlers
@dataclass
class Run:
    """How a "show me" runs its view: the view's handler (the page's wrapped one, or the raw one for the API), its
    outputs, the view's inputs the caller gives (in order), and whether to open the view on the page."""

    fn: object
    outputs: list
    given: list
    layout: bool


def show_question(way: WayBack, chapter_id: str) -> dict:
    """The way back shown, with this chapter's question only."""
    return {way.box: gr.Column(visible=True),
            **{md: gr.Markdown(visible=i == chapter_id) for i, md in way.questions.items()}}


def back_to_lesson(ctx: AppContext, way: WayBack) -> dict:
    """The Lesson tab again, the way back hidden."""
    return {ctx.tabs: gr.Tabs(selected="lesson"), way.box: gr.Column(visible=False)}


def hide_way_back(way: WayBack) -> dict:
    return {way.box: gr.Column(visible=False)}


def show_chapter(ctx: AppContext, chapter: Chapter, view: View, run: Run, *values, request: gr.Request = None,
                 progress=gr.Progress()):
    """First the chapter's example for this model in the view's fields (and, on the page, the view opened), then
    the view's own results as its button would make them."""
    args = chapter_args(ctx, chapter, view, run.given, values)
    fill = {view.fields[name]: args[view.inputs.index(view.fields[name])]
            for name in chapter.values(ctx.examples, ctx.model.adapter.examples)}
    if run.layout:                                  # the page: open the view where the results appear
        fill.update({tabs: gr.Tabs(selected=tab_id) for tabs, tab_id in view.tabs})
        fill.update({accordion: gr.Accordion(open=True) for accordion in view.opens})
    yield fill
    takes = inspect.signature(run.fn).parameters
    kwargs = {**({"request": request} if "request" in takes else {}),
              **({"progress": progress} if "progress" in takes else {})}
    results = run.fn(*args, **kwargs)
    for out in (results if inspect.isgeneratorfunction(run.fn) else [results]):
        yield dict(zip(run.outputs, out if len(run.outputs) > 1 else (out,)))


def chapter_args(ctx: AppContext, chapter: Chapter, view: View, given: list, values) -> list:
    """The view's input values: the chapter's example for this model where it sets a field, the caller's values
    for the fields it leaves open (the forward chapter's picture: the one shown, else one made now)."""
    fill = chapter.values(ctx.examples, ctx.model.adapter.examples)
    args = [None] * len(view.inputs)
    for component, value in zip(given, values):
        args[view.inputs.index(component)] = value
    if fill.get("image") == MAKE_IMAGE:
        fill["image"] = args[view.inputs.index(view.fields["image"])] or _make_image(ctx)
    for name, value in fill.items():
        args[view.inputs.index(view.fields[name])] = value
    return args


def _page_handler(show, count: int):
    """show(*values, request=, progress=) as the page calls it: gradio fills a request (the user's session and
    language) and a progress bar only into positional parameters, so these come after the `count` values."""
    def page(*args):
        yield from show(*args[:count], request=args[count] if len(args) > count else None,
                        progress=args[count + 1] if len(args) > count + 1 else gr.Progress())

    return filled_by_gradio(page, count)


def _api_handler(show):
    """show as the API twin calls it (its values, then the request gradio passes by keyword)."""
    def show_api(*values, request: gr.Request = None, progress=gr.Progress()):
        yield from show(*values, request=request, progress=progress)

    return show_api


def _make_image(ctx: AppContext) -> str:
    """A picture of the model's own example prompt, for the forward chapter when none was generated yet."""
    recipe = recipe_defaults(ctx.model, ctx.examples.prompt, seed=0,
                             steps=min(ctx.model.preset.steps, MAKE_IMAGE_STEPS))
    result = generate(ctx.model, recipe, watch=False, config=ctx.config)
    return served(save_png(result.image, recipe, ctx.config.outputs_dir, stem="lesson"))
