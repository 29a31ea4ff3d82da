"""The Search tab: a prompt returns a page of results, "more like this" explores around one, and the bias
probe compares what CLIP sees in the results of different prompts."""
from __future__ import annotations

import json

import gradio as gr

from explorer.archive.gaps import gap_notes
from explorer.errors import InputError
from explorer.explore.probe import bias_probe, parse_attributes
from explorer.explore.search import more_like_this, search
from explorer.generation.batches import default_batch_size
from explorer.generation.generate import generate
from explorer.generation.recipe import SEED_MAX, Recipe, check_model, recipe_defaults, validate
from explorer.models.presets import SCHEDULERS
from explorer.models.vision import load_vision, shown_source, vision_on_disk, vision_status
from explorer.outputs.png import save_png
from explorer.plots.walks import bias_panel
from explorer.ui import archive_api
from explorer.ui.components import Checkbox, Code, Dropdown, Number, Radio, Slider, Textbox, as_int
from explorer.ui.context import AppContext, View
from explorer.ui.events import guard, keep_work
from explorer.ui.files import served
from explorer.ui.pieces import explain, words_flag
from explorer.ui.i18n import t
from explorer.ui.interpolate_tab import parse_prompts


def archive_choices(model, config) -> list[tuple]:
    """The archives a user may search: the model's own (miniworld: its training images) and the operator's folders
    (--archive-root); nothing else on the server can be named from the page."""
    own = [(t("archive.own"), "")] if model.preset.family == "miniworld" else []
    return own + [(str(root), str(root)) for root in config.archive_roots] or [(t("archive.none"), "")]


FRESH_SEED_OFFSET = 1_000_003      # "more like this" varies toward seeds source.seed + this + i


def build(ctx: AppContext) -> None:
    preset, cfg, model = ctx.model.preset, ctx.config, ctx.model
    with gr.Tab(t("search.tab"), id="search"):
        explain(t("search.explain"), t("search.more"))
        with gr.Row():
            with gr.Column(scale=2, min_width=300):
                query = Textbox(label=t("search.query"), field="prompt", value=ctx.examples.query, lines=2,
                                   elem_id="search-query")
                with gr.Row():
                    run = gr.Button(t("search.run"), variant="primary", elem_id="search-btn")
                    stop = gr.Button(t("common.stop"), variant="stop")
                status = gr.Markdown(t("common.ready"), elem_classes=["status"], elem_id="search-status")
                with gr.Row():
                    count = Slider(1, cfg.max_seeds, value=min(8, cfg.max_seeds), step=1, label=t("search.count"), field="seeds",
                                      info=t("search.count.info", max_seeds=cfg.max_seeds))
                    first_seed = Number(label=t("search.first_seed"), field="seed", value=0)
                use_clip = Checkbox(label=t("search.use_clip"), field="use_clip", value=vision_on_disk(model),
                                       info=vision_status(model), elem_id="search-clip")
                with gr.Accordion(t("common.generation_settings"), open=False):
                    negative = Textbox(label=t("common.negative_prompt"), lines=1, value="")
                    steps = Slider(1, cfg.max_steps, value=preset.steps, step=1, label=t("common.steps"))
                    guidance = Slider(0, cfg.max_guidance, value=preset.guidance, step=0.5,
                                      label=t("common.guidance_scale"), field="guidance")
                    size = Slider(cfg.min_size, cfg.max_size, value=preset.size, step=8, label=t("common.size"))
                    scheduler = Dropdown(list(SCHEDULERS), value=preset.scheduler, label=t("common.scheduler"))
                    batch = Slider(1, cfg.max_batch, step=1, label=t("common.batch_size"), field="batch_size",
                                      value=default_batch_size(model, preset.size, preset.size, cfg),
                                      info=t("search.batch.info"))
                related = Radio([], label=t("search.related"),
                                   elem_id="related", elem_classes=["data-words"])      # concepts: the model's words
            with gr.Column(scale=3, min_width=400):
                results = gr.Gallery(label=t("search.results"), columns=4, height="auto", format="png",
                                     elem_id="search-results", elem_classes=["steps"])
                found = gr.Markdown("", elem_id="search-found")
                archives = archive_choices(model, cfg)
                shows_archive = bool(archives[0][1]) or model.preset.family == "miniworld"     # one to search
                with gr.Accordion(t("archive.title"), open=shows_archive) as archive_box:
                    gr.Markdown(t("archive.explain"), elem_classes=["explain"])
                    with gr.Row():
                        archive = Dropdown(archives, value=archives[0][1], label=t("archive.archive"), field="archive",
                                           allow_custom_value=False, scale=2, min_width=280)   # its name whole
                        archive_k = Slider(1, 32, value=8, step=1, label=t("archive.k"), field="k", scale=2)
                        archive_btn = gr.Button(t("archive.run"), scale=1, elem_id="archive-btn")
                        nearest_btn = gr.Button(t("archive.nearest"), scale=1, elem_id="nearest-btn")
                    archive_note = gr.Markdown("", elem_classes=["status"], elem_id="archive-status")
                    archive_gallery = gr.Gallery(label=t("archive.gallery"), columns=8,
                                                 height="auto", format="png", elem_id="archive-gallery",
                                                 elem_classes=["steps", "captioned"])
                    selected_image = gr.State(None)       # the file of the result last clicked (this session)
                with gr.Accordion(t("search.selected"), open=True):
                    recipe_json = Code(label=t("search.recipe"), field="recipe", language="json",
                                          lines=4, elem_id="selected-recipe")
                    with gr.Row(equal_height=True):
                        open_btn = gr.Button(t("search.open"), scale=1)
                        strength = Slider(0, 1, value=0.25, step=0.05, label=t("search.strength"), field="strength", scale=2)
                        more_count = Slider(1, cfg.max_seeds, value=min(4, cfg.max_seeds), step=1,
                                               label=t("search.variation_count"), field="seeds", scale=2)
                        more_btn = gr.Button(t("search.more_like_this"), variant="secondary", scale=1)
                    steps_gallery = gr.Gallery(label=t("search.steps"), columns=10,
                                               height="auto", format="png", elem_classes=["steps"])
                variations = gr.Gallery(label=t("search.more_like_this"), columns=6, height="auto", format="png",
                                        elem_classes=["steps"])
                with gr.Accordion(t("search.recipes"), open=False):
                    page_state = gr.JSON(label=t("search.page_state"), value=[], height=160)
                    variation_state = gr.JSON(label=t("search.variation_state"), value=[], height=160)
        with gr.Accordion(t("probe.title"), open=False) as probe_box:
            explain(t("probe.explain"), t("probe.more"))
            with gr.Row():
                with gr.Column(scale=2, min_width=300):
                    probe_prompts = Textbox(label=t("probe.prompts"), field="prompts", lines=3,
                                               value="\n".join(ctx.examples.probe))
                    attributes = Textbox(label=t("probe.attributes"), field="attributes", lines=3,
                                            value=ctx.examples.attributes)
                    probe_count = Slider(1, cfg.max_seeds, value=min(8, cfg.max_seeds), step=1,
                                            label=t("probe.count"), field="seeds")
                    probe_run = gr.Button(t("probe.run"), variant="primary", elem_id="probe-btn")
                    probe_status = gr.Markdown(t("probe.status"), elem_id="probe-status",
                                               elem_classes=["status"])
                with gr.Column(scale=3, min_width=400):
                    probe_grid = gr.Gallery(label=t("probe.grid"), columns=8, height="auto", format="png",
                                            elem_classes=["steps", "captioned"], elem_id="probe-grid")
                    probe_chart = gr.Plot(label=t("probe.chart"))
                    with gr.Accordion(t("probe.counts_box"), open=False):
                        probe_json = Code(label=t("probe.counts"), language="json", lines=4, max_lines=12)

    def base(prompt, negative, seed, steps, guidance, size, scheduler):
        return recipe_defaults(model, prompt or "", negative_prompt=negative or "", seed=as_int(seed),
                               steps=as_int(steps), guidance=guidance, width=as_int(size), height=as_int(size),
                               scheduler=scheduler)

    def vision_for(use, progress):
        return load_vision(model, progress) if use else None

    def stream(job, request):
        """Run job(cancel, on_results) in a thread; yield ('results', [Result]) batches, then ('done', (value, the
        time limit's note for the status line: "" unless the request ran out of time))."""
        stop_event = ctx.stop_event(request)
        stream, deadline = ctx.stream(lambda report: job(stop_event, lambda *batch: report(batch[-1])), "search",
                                      request)
        for kind, item in stream:
            yield ("results", item) if kind == "update" else (kind, (item, deadline.note()))

    @guard
    def on_search(prompt, negative, seed, steps, guidance, size, scheduler, n, batch, use_clip,
                  request: gr.Request, progress=gr.Progress()):
        # 1. validate before loading anything
        recipe = base(prompt, negative, seed, steps, guidance, size, scheduler)
        vision = vision_for(use_clip, progress)
        shown = []
        # 2. render, streaming each finished batch
        for kind, item in stream(lambda cancel, hook: search(
                model, recipe, as_int(n), vision=vision, batch_size=as_int(batch), cancel=cancel, on_results=hook,
                outputs_dir=cfg.outputs_dir, config=cfg, annotate=gap_notes), request):
            if kind == "results":
                shown += [(served(r.path), f"seed {r.recipe.seed}") for r in item]
                yield shown, gr.skip(), f"Searching… {len(shown)} of {as_int(n)} results", gr.skip(), gr.skip()
        page, limit = item
        # 3. the page: ranked results with captions, related searches
        note = (f"Stopped: {len(page.results)} results finished and saved. " if page.cancelled else
                f"{len(page.results)} results for '{page.query}'. ")
        note += "Ranked by CLIP image-text similarity to the query. " if page.ranked else ""
        note += " ".join(page.notes) + (f" {vision_status(model)}" if use_clip and vision is None else "") + limit
        note += words_flag(model, [recipe.prompt, recipe.negative_prompt])
        choices = [label for label, _, _ in page.related]
        yield ([(served(r.path), _short(r)) for r in page.results], [r.recipe.to_dict() for r in page.results],
               note, gr.update(choices=choices, value=None), _found(page.results))

    @guard
    def on_more(recipe_text, n, strength, batch, use_clip, request: gr.Request, progress=gr.Progress()):
        source = _recipe(recipe_text, model, cfg)
        vision = vision_for(use_clip, progress)
        shown = []
        first = source.seed + FRESH_SEED_OFFSET          # fresh seeds, away from the page's own seeds
        for kind, item in stream(lambda cancel, hook: more_like_this(
                model, source, as_int(n), strength, first % SEED_MAX, vision=vision, batch_size=as_int(batch),
                cancel=cancel, on_results=hook, outputs_dir=cfg.outputs_dir, config=cfg), request):
            if kind == "results":
                shown += [(served(r.path), "") for r in item]
                yield shown, gr.skip(), f"Varying… {len(shown)} of {as_int(n)}"
        page, limit = item
        yield ([(served(r.path), _short(r)) for r in page.results], [r.recipe.to_dict() for r in page.results],
               f"{len(page.results)} variations at strength {strength:g} around seed {source.seed}"
               + (" (stopped)" if page.cancelled else "") + ". Click one to open it." + limit)

    @guard
    def on_open(recipe_text):
        recipe = _recipe(recipe_text, model, cfg)
        result = generate(model, recipe, watch=True, config=cfg)
        path = save_png(result.image, recipe, cfg.outputs_dir, stem=f"result-{recipe.seed}")
        return ([(p.x0, f"{p.index + 1}") for p in result.steps],
                f"Made again with every step shown (seed {recipe.seed}); saved as `{path.name}`.")

    def on_select(recipes, evt: gr.SelectData):
        if not recipes or evt.index is None or evt.index >= len(recipes):
            return gr.skip()
        return json.dumps(recipes[evt.index], indent=2, ensure_ascii=False)

    def on_pick_image(evt: gr.SelectData):
        value = evt.value if isinstance(evt.value, dict) else {}
        return (value.get("image") or {}).get("path") or gr.skip()

    @guard
    def on_archive(prompt, name, k_value, progress=gr.Progress()):
        items, note = archive_api.archive_gallery(ctx, prompt, as_int(k_value), name,
                                                  progress=lambda d, t: progress((d, t), desc="indexing the archive"))
        return items, f"**Found:** {note}"

    @guard
    def on_nearest(path, name, k_value, progress=gr.Progress()):
        if not path:
            raise InputError("image", "a result to compare (click one in the results above)", path)
        items, sentence = archive_api.nearest_gallery(ctx, path, as_int(k_value), name,
                                                      progress=lambda d, t: progress((d, t), desc="indexing"))
        return items, f"**Nearest existing images to the selected result.** {sentence}"

    def on_related(label):
        return label or gr.skip()

    @guard
    def on_probe(prompts_text, attributes_text, n, negative, seed, steps, guidance, size, scheduler, batch,
                 use_clip, request: gr.Request, progress=gr.Progress()):
        # 1. validate
        prompts = parse_prompts(prompts_text)
        attrs = parse_attributes(attributes_text)
        recipe = base(prompts[0] if prompts else "", negative, seed, steps, guidance, size, scheduler)
        vision = vision_for(use_clip, progress)
        shown = []
        # 2. render every prompt over the same seeds
        for kind, item in stream(lambda cancel, hook: bias_probe(
                model, recipe, prompts, as_int(n), attrs, vision=vision, batch_size=as_int(batch), cancel=cancel,
                on_results=hook, outputs_dir=cfg.outputs_dir, config=cfg), request):
            if kind == "results":
                shown += [(served(r.path), _probe_caption(r)) for r in item]
                yield shown, gr.skip(), f"Probing… {len(shown)} of {len(prompts) * as_int(n)} images", gr.skip()
        probe, limit = item
        # 3. counts and chart, or why none
        grid = [(served(r.path), _probe_caption(r)) for rs in probe.images.values() for r in rs]
        flags = "".join(f"\n\n⚑ {note}" for note in probe.notes)
        if not probe.measured:
            reason = probe.reason if use_clip else "Tick 'Rank and describe with CLIP' above to measure " \
                                                   "attributes; without a vision model only the grids are shown."
            yield grid, None, reason + (f" {vision_status(model)}" if use_clip else "") + limit + flags, None
            return
        yield (grid, bias_panel(probe.attributes, probe.counts, probe.intervals(), len(probe.seeds)),
               f"Measured with {shown_source(vision.name)}. " + ("Stopped early: counts cover finished images. "
                                                   if probe.cancelled else "") + "Read the note above on what "
               "these counts can and cannot say." + limit + flags,
               json.dumps({"counts": probe.counts, "mean_probability": probe.mean_probability}, indent=1))

    settings = [negative, first_seed, steps, guidance, size, scheduler]
    search_outputs = [results, page_state, status, related, found]
    search_view = View("search", dict(query=query, seeds=count), [(ctx.tabs, "search")], result="search-results")
    ctx.listen([run.click, query.submit], on_search, [query, *settings, count, batch, use_clip], search_outputs,
           status=status, api_name="search", concurrency_id="model", view=search_view)
    def on_stop(request: gr.Request):
        ctx.stop_event(request).set()
        return "Stopping after the current batch… finished results are kept."

    ctx.listen(stop.click, on_stop, None, status, status=status, api_name="stop_search", queue=False)
    results.select(on_select, page_state, recipe_json, api_visibility="private")
    results.select(on_pick_image, None, selected_image, api_visibility="private")
    archive_view = View("archive", dict(query=query, k=archive_k), [(ctx.tabs, "search")], opens=[archive_box],
                        result="archive-gallery")
    ctx.listen(archive_btn.click, on_archive, [query, archive, archive_k], [archive_gallery, archive_note],
               status=archive_note, concurrency_id="model", view=archive_view)
    if shows_archive:           # the lesson's search chapters show what the archive holds beside what the model made
        search_view.opens.append(archive_box)
        search_view.then.append((archive_view.fn, archive_view.inputs, archive_view.outputs,
                                 {"concurrency_id": "model"}))
    ctx.listen(nearest_btn.click, on_nearest, [selected_image, archive, archive_k], [archive_gallery, archive_note],
               status=archive_note, concurrency_id="model")
    variations.select(on_select, variation_state, recipe_json, api_visibility="private")
    related.select(on_related, related, query, api_visibility="private").then(
        keep_work(on_search, len(search_outputs), 2, False, outputs=search_outputs, language=ctx.language),
        [query, *settings, count, batch, use_clip], search_outputs, api_visibility="private", concurrency_id="model")
    ctx.listen(more_btn.click, on_more, [recipe_json, more_count, strength, batch, use_clip],
           [variations, variation_state, status], status=status, api_name="more_like_this", concurrency_id="model")
    ctx.listen(open_btn.click, on_open, recipe_json, [steps_gallery, status], status=status, api_name="open_result",
           concurrency_id="model")
    ctx.listen(probe_run.click, on_probe, [probe_prompts, attributes, probe_count, *settings, batch, use_clip],
           [probe_grid, probe_chart, probe_status, probe_json], status=probe_status, api_name="bias_probe",
           concurrency_id="model", view=View("probe", dict(prompts=probe_prompts, attributes=attributes, seeds=probe_count),
                                             [(ctx.tabs, "search")], opens=[probe_box],
                                             result="probe-grid"))


def _probe_caption(result) -> str:
    """The prompt's last words (where probe prompts usually differ) and the seed."""
    prompt = result.recipe.prompt
    return f"…{prompt[-14:]} · {result.recipe.seed}" if len(prompt) > 14 else f"{prompt} · {result.recipe.seed}"


def _short(result) -> str:
    """A gallery caption that fits under a thumbnail: seed (and variation), CLIP score."""
    text = f"seed {result.recipe.seed}"
    if result.recipe.variation_seed is not None:
        text += f" ~{result.recipe.variation_strength:g}"
    return text + (f" · {result.score:.2f}" if result.score is not None else "")


def _found(results) -> str:
    """What the search found: each result's nearest concepts, in the page's order."""
    rows = [f"**seed {r.recipe.seed}** ≈ {', '.join(label for label, _ in r.concepts)}" for r in results if r.concepts]
    return ("What the search found (nearest concepts to each picture, by CLIP): " + " · ".join(rows)) \
        if rows else ""


def _recipe(text, model, config) -> Recipe:
    """A client's recipe, through the same validator as a typed one, and only for the loaded model."""
    if not isinstance(text, str) or not text.strip():
        raise InputError("recipe", "the JSON recipe of a result (click a result first)", text)
    recipe = validate(Recipe.from_json(text), config)
    return check_model(recipe, model)

