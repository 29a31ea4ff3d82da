"""The Search tab: a prompt returns a page of results, "more like this" explores around one, and the bias
probe compares what CLIP sees in the results of different prompts.

A tab in the event layer's pattern (explorer.ui.events): `layout` builds the components and returns them named
(`UI`), the handlers at module level take the inputs' values and return {component: value}, `bind` wires them.
Every status line, note and caption is a keyed message (assets/i18n/messages/*/ui_search.json); the library's
notes are joined with `+`/`joined` so the keyed ones stay keyed.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from functools import partial

import gradio as gr

from explorer.archive.gaps import gap_notes
from explorer.errors import InputError
from explorer.explore.probe import bias_probe, parse_attributes
from explorer.explore.search import more_like_this, search
from explorer.generation.batches import default_batch_size
from explorer.generation.generate import generate
from explorer.generation.recipe import SEED_MAX, Recipe, check_model, recipe_defaults, validate
from explorer.messages import joined, say
from explorer.models.vision import load_vision, shown_source, vision_on_disk, vision_status
from explorer.outputs.png import save_png
from explorer.plots.walks import bias_panel
from explorer.ui import archive_api, invert_view
from explorer.ui.components import Checkbox, Code, Dropdown, Number, Radio, Slider, Textbox, as_int
from explorer.ui.context import AppContext, View
from explorer.ui.events import wrap_handler
from explorer.ui.files import served
from explorer.ui.i18n import t
from explorer.ui.interpolate_tab import parse_prompts
from explorer.ui.pieces import GenerationSettings, explain, generation_settings, result_gallery, status_line, words_flag


def archive_choices(model, config) -> list[tuple]:
    """The archives a user may search: the model's own (miniworld: its training images) and the operator's folders
    (--archive-root); nothing else on the server can be named from the page."""
    own = [(t("archive.own"), "")] if model.preset.family == "miniworld" else []
    return own + [(str(root), str(root)) for root in config.archive_roots] or [(t("archive.none"), "")]


FRESH_SEED_OFFSET = 1_000_003      # "more like this" varies toward seeds source.seed + this + i


@dataclass
class UI:
    """The tab's components by name (layout's result), in page order."""

    query: gr.Textbox
    run: gr.Button
    stop: gr.Button
    status: gr.Markdown
    count: gr.Slider
    first_seed: gr.Number
    use_clip: gr.Checkbox
    settings: GenerationSettings
    batch: gr.Slider
    related: gr.Radio
    results: gr.Gallery
    found: gr.Markdown
    shows_archive: bool                  # the archive accordion opens (and follows a lesson's search)
    archive_box: gr.Accordion
    archive: gr.Dropdown
    archive_k: gr.Slider
    archive_btn: gr.Button
    nearest_btn: gr.Button
    archive_note: gr.Markdown
    archive_gallery: gr.Gallery
    selected_image: gr.State             # the file of the result last clicked (this session)
    recipe_json: gr.Code
    open_btn: gr.Button
    strength: gr.Slider
    more_count: gr.Slider
    more_btn: gr.Button
    steps_gallery: gr.Gallery
    variations: gr.Gallery
    page_state: gr.JSON
    variation_state: gr.JSON
    probe_box: gr.Accordion
    probe_prompts: gr.Textbox
    attributes: gr.Textbox
    probe_count: gr.Slider
    probe_run: gr.Button
    probe_status: gr.Markdown
    probe_grid: gr.Gallery
    probe_chart: gr.Plot
    probe_json: gr.Code

    def recipe_inputs(self) -> list:
        """The generation settings in the order the handlers take them (the first seed after the negative prompt)."""
        s = self.settings
        return [s.negative, self.first_seed, s.steps, s.guidance, s.size, s.scheduler]

    def search_inputs(self) -> list:
        return [self.query, *self.recipe_inputs(), self.count, self.batch, self.use_clip]

    def search_outputs(self) -> list:
        return [self.results, self.page_state, self.status, self.related, self.found]


def build(ctx: AppContext) -> None:
    bind(ctx, layout(ctx))


def layout(ctx: AppContext) -> UI:
    with gr.Tab(t("search.tab"), id="search"):
        explain(t("search.explain"), t("search.more"))
        with gr.Row():
            with gr.Column(scale=2, min_width=300):
                controls = _controls(ctx)
            with gr.Column(scale=3, min_width=400):
                results = _results(ctx)
        probe = _probe(ctx)
        invert_view.build(ctx)          # a picture into the archive: inversion (explorer.ui.invert_view)
    return UI(**controls, **results, **probe)


def _controls(ctx: AppContext) -> dict:
    cfg, model = ctx.config, ctx.model
    query = Textbox(label=t("search.query"), field="prompt", value=ctx.examples.query, lines=2, elem_id="search-query")
    with gr.Row():
        run = gr.Button(t("search.run"), variant="primary", elem_id="search-btn")
        stop = gr.Button(t("common.stop"), variant="stop")
    status = status_line("search-status", t("common.ready"))
    with gr.Row():
        count = Slider(1, cfg.max_seeds, value=min(8, cfg.max_seeds), step=1, label=t("search.count"), field="seeds",
                       info=t("search.count.info", max_seeds=cfg.max_seeds))
        first_seed = Number(label=t("search.first_seed"), field="seed", value=0)
    use_clip = Checkbox(label=t("search.use_clip"), field="use_clip", value=vision_on_disk(model),
                        info=vision_status(model), elem_id="search-clip")
    settings, batch = _settings(ctx)
    related = Radio([], label=t("search.related"), elem_id="related", elem_classes=["data-words"])  # the model's words
    return dict(query=query, run=run, stop=stop, status=status, count=count, first_seed=first_seed,
                use_clip=use_clip, settings=settings, batch=batch, related=related)


def _settings(ctx: AppContext) -> tuple[GenerationSettings, gr.Slider]:
    """pieces.generation_settings' accordion with the batch size as its last field."""
    preset, cfg, model = ctx.model.preset, ctx.config, ctx.model
    settings = generation_settings(ctx, more=lambda: Slider(
        1, cfg.max_batch, step=1, label=t("common.batch_size"), field="batch_size",
        value=default_batch_size(model, preset.size, preset.size, cfg), info=t("search.batch.info")))
    return settings, settings.more


def _results(ctx: AppContext) -> dict:
    results = result_gallery(t("search.results"), "search-results", columns=4)
    found = gr.Markdown("", elem_id="search-found")
    archive = _archive(ctx)
    with gr.Accordion(t("search.selected"), open=True):
        recipe_json = Code(label=t("search.recipe"), field="recipe", language="json", lines=4,
                           elem_id="selected-recipe")
        with gr.Row(equal_height=True):
            open_btn = gr.Button(t("search.open"), scale=1)
            strength = Slider(0, 1, value=0.25, step=0.05, label=t("search.strength"), field="strength", scale=2)
            more_count = Slider(1, ctx.config.max_seeds, value=min(4, ctx.config.max_seeds), step=1,
                                label=t("search.variation_count"), field="seeds", scale=2)
            more_btn = gr.Button(t("search.more_like_this"), variant="secondary", scale=1)
        steps_gallery = result_gallery(t("search.steps"), columns=10)
    variations = result_gallery(t("search.more_like_this"), columns=6)
    with gr.Accordion(t("search.recipes"), open=False):
        page_state = gr.JSON(label=t("search.page_state"), value=[], height=160)
        variation_state = gr.JSON(label=t("search.variation_state"), value=[], height=160)
    return dict(results=results, found=found, **archive, recipe_json=recipe_json, open_btn=open_btn,
                strength=strength, more_count=more_count, more_btn=more_btn, steps_gallery=steps_gallery,
                variations=variations, page_state=page_state, variation_state=variation_state)


def _archive(ctx: AppContext) -> dict:
    """The archive beside the results: existing images for the query, or nearest to the result clicked."""
    model = ctx.model
    archives = archive_choices(model, ctx.config)
    shows_archive = bool(archives[0][1]) or model.preset.family == "miniworld"     # one to search
    with gr.Accordion(t("archive.title"), open=shows_archive) as archive_box:
        gr.Markdown(t("archive.explain"), elem_classes=["explain"])
        with gr.Row():
            archive = Dropdown(archives, value=archives[0][1], label=t("archive.archive"), field="archive",
                               allow_custom_value=False, scale=2, min_width=280)   # its name whole
            archive_k = Slider(1, 32, value=8, step=1, label=t("archive.k"), field="k", scale=2)
            archive_btn = gr.Button(t("archive.run"), scale=1, elem_id="archive-btn")
            nearest_btn = gr.Button(t("archive.nearest"), scale=1, elem_id="nearest-btn")
        archive_note = status_line("archive-status")
        archive_gallery = gr.Gallery(label=t("archive.gallery"), columns=8, height="auto", format="png",
                                     elem_id="archive-gallery", elem_classes=["steps", "captioned"])
        selected_image = gr.State(None)
    return dict(shows_archive=shows_archive, archive_box=archive_box, archive=archive, archive_k=archive_k,
                archive_btn=archive_btn, nearest_btn=nearest_btn, archive_note=archive_note,
                archive_gallery=archive_gallery, selected_image=selected_image)


def _probe(ctx: AppContext) -> dict:
    """The bias probe's accordion below the search: prompts over the same seeds, attributes counted by CLIP."""
    with gr.Accordion(t("probe.title"), open=False) as probe_box:
        explain(t("probe.explain"), t("probe.more"))
        with gr.Row():
            with gr.Column(scale=2, min_width=300):
                probe_prompts = Textbox(label=t("probe.prompts"), field="prompts", lines=3,
                                        value="\n".join(ctx.examples.probe))
                attributes = Textbox(label=t("probe.attributes"), field="attributes", lines=3,
                                     value=ctx.examples.attributes)
                probe_count = Slider(1, ctx.config.max_seeds, value=min(8, ctx.config.max_seeds), step=1,
                                     label=t("probe.count"), field="seeds")
                probe_run = gr.Button(t("probe.run"), variant="primary", elem_id="probe-btn")
                probe_status = status_line("probe-status", t("probe.status"))
            with gr.Column(scale=3, min_width=400):
                probe_grid = gr.Gallery(label=t("probe.grid"), columns=8, height="auto", format="png",
                                        elem_classes=["steps", "captioned"], elem_id="probe-grid")
                probe_chart = gr.Plot(label=t("probe.chart"))
                with gr.Accordion(t("probe.counts_box"), open=False):
                    probe_json = Code(label=t("probe.counts"), language="json", lines=4, max_lines=12)
    return dict(probe_box=probe_box, probe_prompts=probe_prompts, attributes=attributes, probe_count=probe_count,
                probe_run=probe_run, probe_status=probe_status, probe_grid=probe_grid, probe_chart=probe_chart,
                probe_json=probe_json)


def bind(ctx: AppContext, ui: UI) -> None:
    search_view = View("search", dict(query=ui.query, seeds=ui.count), [(ctx.tabs, "search")],
                       result="search-results")
    ctx.listen([ui.run.click, ui.query.submit], partial(on_search, ctx, ui), ui.search_inputs(), ui.search_outputs(),
               status=ui.status, api_name="search", concurrency_id="model", view=search_view)
    ctx.listen(ui.stop.click, partial(on_stop, ctx, ui), None, ui.status, status=ui.status, api_name="stop_search",
               queue=False)
    ui.results.select(on_select, ui.page_state, ui.recipe_json, api_visibility="private")
    ui.results.select(on_pick_image, None, ui.selected_image, api_visibility="private")
    _bind_archive(ctx, ui, search_view)
    ui.variations.select(on_select, ui.variation_state, ui.recipe_json, api_visibility="private")
    ui.related.select(on_related, ui.related, ui.query, api_visibility="private").then(
        wrap_handler(partial(on_search, ctx, ui), ui.search_outputs(), ui.status, language=ctx.language),
        ui.search_inputs(), ui.search_outputs(), api_visibility="private", concurrency_id="model")
    ctx.listen(ui.more_btn.click, partial(on_more, ctx, ui),
               [ui.recipe_json, ui.more_count, ui.strength, ui.batch, ui.use_clip],
               [ui.variations, ui.variation_state, ui.status], status=ui.status, api_name="more_like_this",
               concurrency_id="model")
    ctx.listen(ui.open_btn.click, partial(on_open, ctx, ui), ui.recipe_json, [ui.steps_gallery, ui.status],
               status=ui.status, api_name="open_result", concurrency_id="model")
    ctx.listen(ui.probe_run.click, partial(on_probe, ctx, ui),
               [ui.probe_prompts, ui.attributes, ui.probe_count, *ui.recipe_inputs(), ui.batch, ui.use_clip],
               [ui.probe_grid, ui.probe_chart, ui.probe_status, ui.probe_json], status=ui.probe_status,
               api_name="bias_probe", concurrency_id="model",
               view=View("probe", dict(prompts=ui.probe_prompts, attributes=ui.attributes, seeds=ui.probe_count),
                         [(ctx.tabs, "search")], opens=[ui.probe_box], result="probe-grid"))


def _bind_archive(ctx: AppContext, ui: UI, search_view: View) -> None:
    outputs = [ui.archive_gallery, ui.archive_note]
    archive_view = View("archive", dict(query=ui.query, k=ui.archive_k), [(ctx.tabs, "search")],
                        opens=[ui.archive_box], result="archive-gallery")
    ctx.listen(ui.archive_btn.click, partial(on_archive, ctx, ui), [ui.query, ui.archive, ui.archive_k], outputs,
               status=ui.archive_note, concurrency_id="model", view=archive_view)
    if ui.shows_archive:        # the lesson's search chapters show what the archive holds beside what the model made
        search_view.opens.append(ui.archive_box)
        search_view.then.append((archive_view.fn, archive_view.inputs, archive_view.outputs,
                                 {"concurrency_id": "model"}))
    ctx.listen(ui.nearest_btn.click, partial(on_nearest, ctx, ui), [ui.selected_image, ui.archive, ui.archive_k],
               outputs, status=ui.archive_note, concurrency_id="model")


# --------------------------------------------------------------------------- helpers of the handlers
def _base(ctx: AppContext, prompt, negative, seed, steps, guidance, size, scheduler) -> Recipe:
    return recipe_defaults(ctx.model, prompt or "", negative_prompt=negative or "", seed=as_int(seed),
                           steps=as_int(steps), guidance=guidance, width=as_int(size), height=as_int(size),
                           scheduler=scheduler)


def _vision(ctx: AppContext, use, progress):
    return load_vision(ctx.model, progress) if use else None


def _stream(ctx: AppContext, job, request):
    """Run job(cancel, on_results) in a thread; yield ('results', [Result]) batches, then ('done', (value, the
    time limit's note for the status line: "" unless the request ran out of time))."""
    stop_event = ctx.stop_event(request)
    stream, deadline = ctx.stream(lambda report: job(stop_event, lambda *batch: report(batch[-1])), "search",
                                  request)
    for kind, item in stream:
        yield ("results", item) if kind == "update" else (kind, (item, deadline.note()))


def _flags(notes) -> str:
    """Notes beside a result, each on a flagged line (keyed notes stay keyed)."""
    return joined("", ["\n\n⚑ " + note for note in notes])


# --------------------------------------------------------------------------- handlers
def on_search(ctx: AppContext, ui: UI, prompt, negative, seed, steps, guidance, size, scheduler, n, batch, use_clip,
              request: gr.Request, progress=gr.Progress()):
    # results streamed as each batch finishes, then the ranked page, its notes, related searches and what it found
    # (no docstring: it would become the /search API's description)
    model, cfg = ctx.model, ctx.config
    # 1. validate before loading anything
    recipe = _base(ctx, prompt, negative, seed, steps, guidance, size, scheduler)
    vision = _vision(ctx, use_clip, progress)
    shown = []
    # 2. render, streaming each finished batch
    for kind, item in _stream(ctx, lambda cancel, hook: search(
            model, recipe, as_int(n), vision=vision, batch_size=as_int(batch), cancel=cancel, on_results=hook,
            outputs_dir=cfg.outputs_dir, config=cfg, annotate=gap_notes), request):
        if kind == "results":
            shown += [(served(r.path), say("ui_search.caption.seed", seed=r.recipe.seed)) for r in item]
            yield {ui.results: shown, ui.status: say("ui_search.searching", n=len(shown), total=as_int(n))}
    page, limit = item
    # 3. the page: ranked results with captions, related searches
    note = (say("ui_search.stopped", n=len(page.results)) if page.cancelled else
            say("ui_search.found_for", n=len(page.results), query=page.query))
    note += say("ui_search.ranked") if page.ranked else ""
    note += joined(" ", page.notes) + (" " + vision_status(model) if use_clip and vision is None else "") + limit
    note += words_flag(model, [recipe.prompt, recipe.negative_prompt])
    yield {ui.results: [(served(r.path), _short(r)) for r in page.results],
           ui.page_state: [r.recipe.to_dict() for r in page.results], ui.status: note,
           ui.related: gr.update(choices=[label for label, _, _ in page.related], value=None),
           ui.found: _found(page.results)}


def on_stop(ctx: AppContext, ui: UI, request: gr.Request):
    ctx.stop_event(request).set()
    return {ui.status: say("ui_search.stopping")}


def on_more(ctx: AppContext, ui: UI, recipe_text, n, strength, batch, use_clip, request: gr.Request,
            progress=gr.Progress()):
    model, cfg = ctx.model, ctx.config
    source = _recipe(recipe_text, model, cfg)
    vision = _vision(ctx, use_clip, progress)
    shown = []
    first = source.seed + FRESH_SEED_OFFSET          # fresh seeds, away from the page's own seeds
    for kind, item in _stream(ctx, lambda cancel, hook: more_like_this(
            model, source, as_int(n), strength, first % SEED_MAX, vision=vision, batch_size=as_int(batch),
            cancel=cancel, on_results=hook, outputs_dir=cfg.outputs_dir, config=cfg), request):
        if kind == "results":
            shown += [(served(r.path), "") for r in item]
            yield {ui.variations: shown, ui.status: say("ui_search.varying", n=len(shown), total=as_int(n))}
    page, limit = item
    key = "ui_search.variations.stopped" if page.cancelled else "ui_search.variations"
    yield {ui.variations: [(served(r.path), _short(r)) for r in page.results],
           ui.variation_state: [r.recipe.to_dict() for r in page.results],
           ui.status: say(key, n=len(page.results), strength=strength, seed=source.seed) + limit}


def on_open(ctx: AppContext, ui: UI, recipe_text):
    recipe = _recipe(recipe_text, ctx.model, ctx.config)
    result = generate(ctx.model, recipe, watch=True, config=ctx.config)
    path = save_png(result.image, recipe, ctx.config.outputs_dir, stem=f"result-{recipe.seed}")
    return {ui.steps_gallery: [(p.x0, f"{p.index + 1}") for p in result.steps],
            ui.status: say("ui_search.opened", seed=recipe.seed, name=path.name)}


def on_select(recipes, evt: gr.SelectData):
    """The recipe of the result clicked (bound without the event layer: one output, no text)."""
    if not recipes or evt.index is None or evt.index >= len(recipes):
        return gr.skip()
    return json.dumps(recipes[evt.index], indent=2, ensure_ascii=False)


def on_pick_image(evt: gr.SelectData):
    """The file of the result clicked, for "nearest in the archive" (bound without the event layer)."""
    value = evt.value if isinstance(evt.value, dict) else {}
    return (value.get("image") or {}).get("path") or gr.skip()


def on_related(label):
    """A related search clicked becomes the query (bound without the event layer; the search follows)."""
    return label or gr.skip()


def on_archive(ctx: AppContext, ui: UI, prompt, name, k_value, progress=gr.Progress()):
    items, note = archive_api.archive_gallery(
        ctx, prompt, as_int(k_value), name,
        progress=lambda d, t: progress((d, t), desc=say("ui_search.progress.indexing_archive")))
    return {ui.archive_gallery: items, ui.archive_note: say("ui_search.archive.found", note=note)}


def on_nearest(ctx: AppContext, ui: UI, path, name, k_value, progress=gr.Progress()):
    if not path:
        raise InputError("image", say("ui_search.allowed.result_to_compare"), path)
    desc = say("ui_search.progress.indexing")
    items, sentence = archive_api.nearest_gallery(ctx, path, as_int(k_value), name,
                                                  progress=lambda d, t: progress((d, t), desc=desc))
    return {ui.archive_gallery: items, ui.archive_note: say("ui_search.archive.nearest", sentence=sentence)}


def on_probe(ctx: AppContext, ui: UI, prompts_text, attributes_text, n, negative, seed, steps, guidance, size,
             scheduler, batch, use_clip, request: gr.Request, progress=gr.Progress()):
    model, cfg = ctx.model, ctx.config
    # 1. validate
    prompts = parse_prompts(prompts_text)
    attrs = parse_attributes(attributes_text)
    recipe = _base(ctx, prompts[0] if prompts else "", negative, seed, steps, guidance, size, scheduler)
    vision = _vision(ctx, use_clip, progress)
    shown = []
    # 2. render every prompt over the same seeds
    for kind, item in _stream(ctx, lambda cancel, hook: bias_probe(
            model, recipe, prompts, as_int(n), attrs, vision=vision, batch_size=as_int(batch), cancel=cancel,
            on_results=hook, outputs_dir=cfg.outputs_dir, config=cfg), request):
        if kind == "results":
            shown += [(served(r.path), _probe_caption(r)) for r in item]
            yield {ui.probe_grid: shown,
                   ui.probe_status: say("ui_search.probing", n=len(shown), total=len(prompts) * as_int(n))}
    probe, limit = item
    # 3. counts and chart, or why none
    yield _probed(ctx, ui, probe, vision, use_clip, limit)


def _probed(ctx: AppContext, ui: UI, probe, vision, use_clip: bool, limit: str) -> dict:
    """A finished (or stopped) probe's outputs: its grid, chart, note and counts, or the grid and why no chart."""
    grid = [(served(r.path), _probe_caption(r)) for rs in probe.images.values() for r in rs]
    flags = _flags(probe.notes)
    if not probe.measured:
        reason = probe.reason if use_clip else say("ui_search.probe.tick_clip")
        note = reason + (" " + vision_status(ctx.model) if use_clip else "") + limit + flags
        return {ui.probe_grid: grid, ui.probe_chart: None, ui.probe_status: note, ui.probe_json: None}
    note = say("ui_search.probe.measured", name=shown_source(vision.name))
    note += (say("ui_search.probe.stopped_early") if probe.cancelled else "") + say("ui_search.probe.read_note")
    return {ui.probe_grid: grid,
            ui.probe_chart: bias_panel(probe.attributes, probe.counts, probe.intervals(), len(probe.seeds)),
            ui.probe_status: note + limit + flags,
            ui.probe_json: json.dumps({"counts": probe.counts, "mean_probability": probe.mean_probability},
                                      indent=1)}


def _probe_caption(result) -> str:
    """The prompt's last words (where probe prompts usually differ) and the seed."""
    prompt = result.recipe.prompt
    return f"…{prompt[-14:]} · {result.recipe.seed}" if len(prompt) > 14 else f"{prompt} · {result.recipe.seed}"


def _short(result) -> str:
    """A gallery caption that fits under a thumbnail: seed (and variation), CLIP score."""
    text = say("ui_search.caption.seed", seed=result.recipe.seed)
    if result.recipe.variation_seed is not None:
        text += say("ui_search.caption.variation", strength=result.recipe.variation_strength)
    return text + (say("ui_search.caption.score", score=result.score) if result.score is not None else "")


def _found(results) -> str:
    """What the search found: each result's nearest concepts, in the page's order."""
    rows = [say("ui_search.found.row", seed=r.recipe.seed, concepts=", ".join(label for label, _ in r.concepts))
            for r in results if r.concepts]
    return say("ui_search.found") + joined(" · ", rows) if rows else ""


def _recipe(text, model, config) -> Recipe:
    """A client's recipe, through the same validator as a typed one, and only for the loaded model."""
    if not isinstance(text, str) or not text.strip():
        raise InputError("recipe", say("ui_search.allowed.recipe"), text)
    recipe = validate(Recipe.from_json(text), config)
    return check_model(recipe, model)
