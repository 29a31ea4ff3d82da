"""The Map tab: the concepts nearest to a prompt, an expression or a path, on a 2-D map; concept axes.

A tab in the event layer's pattern (explorer.ui.events): `layout` builds the components and returns them named
(`UI`), the handlers at module level take the inputs' values and return {component: value}, `bind` wires them.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import gradio as gr
import numpy as np
import plotly

from explorer.concepts.axes import MAX_AMOUNT, axis_recipe, make_axis, rank_vocabulary
from explorer.concepts.index import ConceptIndex, building_progress
from explorer.concepts.projection import (DEFAULT_K, DEFAULT_PATH_POINTS, MAX_PATH_POINTS, PROJECTION_NOTES, QueryPoint,
                                          concept_map, place_by_similarity, query_points, query_texts)
from explorer.concepts.vocabularies import BUILTIN, builtin_vocabulary, category_label, load_upload, resolve_vocabulary
from explorer.errors import InputError
from explorer.generation.generate import generate
from explorer.messages import joined, say
from explorer.models.vision import load_vision, shown_source, vision_status
from explorer.outputs.png import save_png
from explorer.plots.map import axis_figure, concept_map_figure, warm_plotly
from explorer.text.phrases import EXPRESSION_PREFIX, is_expression, quote
from explorer.ui.components import Checkbox, Dropdown, File, Image, Number, Radio, Slider, Textbox, as_int
from explorer.ui.context import AppContext, View
from explorer.ui.files import check_upload
from explorer.ui.i18n import t
from explorer.ui.pieces import explain, status_line, words_flag

PLOTLY_JS = Path(plotly.__file__).resolve().parent / "package_data" / "plotly.min.js"
TABLE_ROWS = 40            # nearest concepts listed beside the map
UMAP_WAIT_S = 0.5          # a UMAP request waits this long for the background warm-up before using PCA

JS_ON_LOAD = """
function draw() {
  const target = element.querySelector('.concept-map');
  if (!target || !props.value) return;
  if (!window.Plotly) { setTimeout(draw, 250); return; }
  let fig;
  try { fig = JSON.parse(props.value); } catch (e) { return; }
  Plotly.react(target, fig.data, fig.layout, {responsive: true, displaylogo: false, scrollZoom: true});
  if (!target.dataset.bound) {
    target.on('plotly_click', (event) => {
      const point = event.points && event.points[0];
      if (point && point.customdata) trigger('pick', {label: point.customdata[0], kind: point.customdata[1]});
    });
    target.dataset.bound = '1';
  }
}
watch('value', draw);
draw();
"""


class FigureJSON(str):
    """The concept map as its HTML draws it: the figure's JSON (`to_json()`, what API clients read) that keeps the
    figure, so that a page in another language gets it rendered from its keyed texts before it is serialised
    (explorer.ui.i18n.shown) instead of parsed back from English JSON."""

    def __new__(cls, figure):
        self = super().__new__(cls, figure.to_json())
        self.figure = figure
        return self


@dataclass
class UI:
    """The tab's components by name (layout's result): the concept map, then the concept axis below it."""

    current: gr.State               # this session's MapResult (kept for new points)
    query: gr.Textbox
    draw: gr.Button
    status: gr.Markdown
    vocabulary: gr.Dropdown
    method: gr.Radio
    k: gr.Number
    path_points: gr.Number
    upload: gr.File
    upload_name: gr.Textbox
    add: gr.Button
    picked: gr.Textbox
    set_prompt: gr.Button
    add_term: gr.Button
    to_generate: gr.Button
    map_html: gr.HTML
    table: gr.Dataframe
    pole_a: gr.Textbox
    pole_b: gr.Textbox
    rank: gr.Button
    prompt: gr.Textbox
    amount: gr.Slider
    seed: gr.Number
    steps: gr.Slider
    place: gr.Checkbox
    run: gr.Button
    axis_status: gr.Markdown
    axis_plot: gr.Plot
    image: gr.Image


def build(ctx: AppContext) -> None:
    gr.set_static_paths([str(PLOTLY_JS.parent)])
    warm_plotly()                           # before any thread: plotly imports pandas lazily
    ctx.map_warmup.start(ctx.model, ctx.config)  # index, query path and numba's JIT warm while the user reads the page
    bind(ctx, layout(ctx))


def layout(ctx: AppContext) -> UI:
    with gr.Tab(t("map.tab"), id="map"):
        explain(t("map.explain"), t("map.more"))
        current = gr.State(None)
        with gr.Row():
            with gr.Column(scale=2, min_width=300):
                controls = _map_controls(ctx)
            with gr.Column(scale=4, min_width=480):
                shown = _map_results()
        with gr.Accordion(t("axis.title"), open=True):
            explain(t("axis.explain"), t("axis.more"))
            axis = _axis(ctx)
    return UI(current=current, **controls, **shown, **axis)


def _map_controls(ctx: AppContext) -> dict:
    cfg, k_max = ctx.config, ctx.config.max_map_neighbors
    query = Textbox(label=t("map.query"), lines=3, elem_id="map-query", value=ctx.examples.map_query,
                    info=t("map.query.info"))
    draw = gr.Button(t("map.draw"), variant="primary", elem_id="map-draw")
    status = status_line("map-status")
    ctx.page_texts.append((status, ctx.map_warmup.status))     # at each page load, in its language
    with gr.Row():
        vocabulary = Dropdown(ctx.sessions.shared.names(), value=BUILTIN, label=t("map.vocabulary"),
                              allow_custom_value=False, elem_id="map-vocabulary")
        method = Radio([("UMAP", "umap"), ("PCA (instant)", "pca")], value="umap", label=t("map.projection"))
    with gr.Row():
        k = Number(value=min(DEFAULT_K, k_max, len(builtin_vocabulary(ctx.model).entries)),     # fits the default list
                   label=t("map.k"), field="k", elem_id="map-k", info=t("map.k.info", k_max=k_max))
        path_points = Number(value=DEFAULT_PATH_POINTS, label=t("map.path_points"), field="path_points",
                             info=t("map.path_points.info", max_points=MAX_PATH_POINTS))
    with gr.Accordion(t("map.add_box"), open=False):
        gr.Markdown(t("map.add_note", max_entries=cfg.max_vocabulary))
        upload = File(label=t("map.upload"), field="vocabulary file", file_types=[".txt"])
        upload_name = Textbox(label=t("map.upload_name"), field="vocabulary name",
                              placeholder=t("map.upload_name.placeholder"))
        add = gr.Button(t("map.add"))
    picked = Textbox(label=t("map.picked"), elem_id="map-picked", interactive=True)
    with gr.Row():
        set_prompt = gr.Button(t("map.set_prompt"), size="sm")
        add_term = gr.Button(t("map.add_term"), size="sm")
        to_generate = gr.Button(t("map.to_generate"), size="sm", elem_id="map-to-generate",
                                visible=ctx.generate_prompt is not None)
    return dict(query=query, draw=draw, status=status, vocabulary=vocabulary, method=method, k=k,
                path_points=path_points, upload=upload, upload_name=upload_name, add=add, picked=picked,
                set_prompt=set_prompt, add_term=add_term, to_generate=to_generate)


def _map_results() -> dict:
    map_html = gr.HTML(value="", html_template='<div class="concept-map" style="width:100%;min-height:600px"></div>',
                       js_on_load=JS_ON_LOAD, elem_id="concept-map",
                       head=f'<script src="gradio_api/file={PLOTLY_JS}"></script>', min_height=600)
    table = gr.Dataframe(headers=["concept", "category", "cosine"], label=t("map.table"), interactive=False,
                         max_height=260, elem_id="map-table")
    return dict(map_html=map_html, table=table)


def _axis(ctx: AppContext) -> dict:
    examples = ctx.examples
    with gr.Row():
        with gr.Column(scale=2, min_width=300):
            with gr.Row():
                pole_a = Textbox(label=t("axis.pole_a"), field="pole_a", value=examples.poles[0], elem_id="axis-a")
                pole_b = Textbox(label=t("axis.pole_b"), field="pole_b", value=examples.poles[1], elem_id="axis-b")
            rank = gr.Button(t("axis.rank"))
            prompt = Textbox(label=t("axis.prompt"), field="prompt", value=examples.axis_prompt, elem_id="axis-prompt")
            amount = Slider(-MAX_AMOUNT, MAX_AMOUNT, value=0.0, step=0.1, label=t("axis.amount"), field="amount",
                            info=t("axis.amount.info"))
            with gr.Row():
                seed = Number(label=t("common.seed"), value=0, info=t("common.seed.info"))
                steps = Slider(1, ctx.config.max_steps, value=ctx.model.preset.steps, step=1, label=t("common.steps"))
            place = Checkbox(label=t("axis.place"), field="place", value=True)
            run = gr.Button(t("axis.run"), variant="primary", elem_id="axis-generate")
            axis_status = status_line("axis-status")
        with gr.Column(scale=4, min_width=480):
            with gr.Row():
                axis_plot = gr.Plot(label=t("axis.plot"))
                image = Image(label=t("axis.image"), type="pil", format="png", height=320)
    return dict(pole_a=pole_a, pole_b=pole_b, rank=rank, prompt=prompt, amount=amount, seed=seed, steps=steps,
                place=place, run=run, axis_status=axis_status, axis_plot=axis_plot, image=image)


def bind(ctx: AppContext, ui: UI) -> None:
    ctx.listen([ui.draw.click, ui.query.submit], partial(on_map, ctx, ui),
               [ui.query, ui.vocabulary, ui.k, ui.method, ui.path_points], [ui.map_html, ui.table, ui.status, ui.current],
               status=ui.status, api_name="concept_map",
               concurrency_id="map",     # text encoder and projection: not behind a generation
               view=View("map", dict(query=ui.query, k=ui.k), [(ctx.tabs, "map")], result="concept-map"))
    ctx.listen(ui.add.click, partial(on_add_vocabulary, ctx, ui), [ui.upload, ui.upload_name],
               [ui.vocabulary, ui.status], status=ui.status, api_name="add_vocabulary")
    ui.map_html.pick(on_pick, None, ui.picked, api_visibility="private")
    ui.table.select(on_table_select, None, ui.picked, api_visibility="private")
    ui.set_prompt.click(_twice, ui.picked, [ui.prompt, ui.query], api_visibility="private")
    ui.add_term.click(_add_term, [ui.prompt, ui.picked], [ui.prompt, ui.query], api_visibility="private")
    if ctx.generate_prompt is not None and ctx.tabs is not None:     # the picked concept, in the Generate tab
        ui.to_generate.click(_in_generate, ui.picked, [ctx.generate_prompt, ctx.tabs], api_visibility="private")
    ctx.listen(ui.rank.click, partial(on_rank, ctx, ui), [ui.pole_a, ui.pole_b, ui.vocabulary],
               [ui.axis_plot, ui.axis_status], status=ui.axis_status, api_name="axis", concurrency_id="text")
    ctx.listen([ui.run.click, ui.amount.release], partial(on_generate, ctx, ui),
               [ui.prompt, ui.pole_a, ui.pole_b, ui.amount, ui.seed, ui.steps, ui.place, ui.current],
               [ui.image, ui.axis_status, ui.map_html, ui.current], status=ui.axis_status, api_name="axis_generate",
               concurrency_id="model")


# --------------------------------------------------------------------------- handlers
def index_for(ctx: AppContext, name, progress, request):
    """The concept index of the vocabulary `name` (this user's lists only), built once per model with a progress bar."""
    model = ctx.model
    vocabulary = resolve_vocabulary(model, name, ctx.session(request).shelf)
    while (state := building_progress(model)) is not None:            # e.g. the build started at launch
        progress((state[1], state[2]), desc=say("map.progress.encoding_vocabulary"))
        time.sleep(0.3)
    return ConceptIndex.for_model(model, vocabulary, config=ctx.config,
                                  progress=lambda d, t: progress((d, t), desc=say("map.progress.encoding", name=name)))


def on_map(ctx: AppContext, ui: UI, text, name, k_value, method_value, points, request: gr.Request,
           progress=gr.Progress()):
    model = ctx.model
    # 1. the index (built once per model and vocabulary, with a progress bar)
    index = index_for(ctx, name, progress, request)
    # 2. the query points
    queries = query_points(model, text, path_points=as_int(points))
    # 3. fit the map
    result = concept_map(index, queries, k=as_int(k_value), method=method_value, limit=ctx.config.max_map_neighbors,
                         wait_s=UMAP_WAIT_S, warmup=ctx.map_warmup)
    fitted = say("map.fitted", n=result.n_concepts, m=len(queries), method=result.method.upper(), s=result.seconds)
    message = (index.note + " " + fitted + " " + joined(" ", result.notes) + "\n\n*" + PROJECTION_NOTES[result.method]
               + "*" + words_flag(model, query_texts(text)))
    return {ui.map_html: FigureJSON(concept_map_figure(result)), ui.table: _table(result), ui.status: message,
            ui.current: result}


def on_add_vocabulary(ctx: AppContext, ui: UI, path, name, request: gr.Request):
    cfg = ctx.config
    if not path:
        raise InputError("vocabulary file", say("concepts.allowed.upload_txt"), None)
    if name is not None and not isinstance(name, str):
        raise InputError("vocabulary name", say("checks.text"), name)
    check_upload("vocabulary file", path, cfg)
    shelf = ctx.session(request).shelf
    vocab = load_upload(path, (name or "").strip() or None, cfg)
    added = shelf.add(vocab, limit=cfg.max_upload_entries)
    return {ui.vocabulary: gr.update(choices=shelf.names(), value=added),
            ui.status: say("map.added", name=added, n=len(vocab), k=len(vocab.category_names))}


def on_pick(evt: gr.EventData):
    """The concept clicked on the map (bound without the event layer: one output, no text)."""
    data = getattr(evt, "_data", None) or {}
    return data.get("label", "") if isinstance(data, dict) else ""


def on_table_select(evt: gr.SelectData):
    row = getattr(evt, "row_value", None)
    return row[0] if row else evt.value


def on_rank(ctx: AppContext, ui: UI, a, b, name, request: gr.Request, progress=gr.Progress()):
    index = index_for(ctx, name, progress, request)
    ranking = rank_vocabulary(index, make_axis(ctx.model, a, b))
    return {ui.axis_plot: axis_figure(ranking),
            ui.axis_status: say("map.ranked", n=len(ranking.labels), vocabulary=index.vocabulary.name,
                                a=ranking.pole_a, b=ranking.pole_b) + words_flag(ctx.model, [a, b])}


def on_generate(ctx: AppContext, ui: UI, text, a, b, amount_value, seed_value, steps_value, place_value, result):
    model = ctx.model
    # 1. the recipe: the prompt moved along the axis (an expression that regenerates it)
    recipe = axis_recipe(model, text, a, b, amount_value, seed=as_int(seed_value), steps=as_int(steps_value))
    # 2. generate and save with the recipe
    generation = generate(model, recipe, watch=False, config=ctx.config)
    saved = save_png(generation.image, recipe, ctx.config.outputs_dir)
    message = say("map.axis_saved", prompt=recipe.expression or recipe.prompt, name=saved.name) + \
        words_flag(model, [text, a, b])
    shown = {ui.image: generation.image, ui.current: result}
    # 3. place the image on the current map when a CLIP vision model is there
    if place_value and result is not None:
        label = f"image: {recipe.expression or recipe.prompt}"
        placed, note = _place_image(model, result, generation.image, label)
        message += " " + note
        if placed is not None:
            shown[ui.current] = result = placed
            shown[ui.map_html] = FigureJSON(concept_map_figure(result))
    return {**shown, ui.axis_status: message}


def _twice(concept: str):
    """The picked concept as the axis prompt and the map's query (one value per output)."""
    return (concept, concept) if concept else (gr.skip(), gr.skip())


def _in_generate(concept: str):
    """The picked concept as the Generate tab's prompt, that tab shown (one value per output)."""
    return (concept, gr.Tabs(selected="generate")) if concept else (gr.skip(), gr.skip())


def _place_image(model, result, picture, label: str):
    """Place a generated image among the map's concepts by CLIP image-text similarity: (the map with the image, a
    note), or (None, why not) without a CLIP vision model."""
    vision = load_vision(model)
    if vision is None:
        return None, vision_status(model)
    concepts = [i for i, kind in enumerate(result.kinds) if kind == "concept"]
    texts = vision.text_embeds([result.labels[i] for i in concepts])                   # (k, p)
    similarities = vision.image_embeds([picture]) @ texts.T                             # (1, k)
    coords = place_by_similarity(result.coords[concepts], similarities)                 # (1, 2)
    point = QueryPoint(label, np.ones(1, dtype=np.float32), "image")                    # placed, not transformed
    return result.add([point], coords=coords), say("map.placed", name=shown_source(vision.name))


def _add_term(prompt_text: str, concept: str):
    """Append + "concept" to the prompt, turning a plain prompt into an expression (one value per output: the
    prompt, the map's query)."""
    if not concept:
        return gr.skip(), gr.skip()
    text = (prompt_text or "").strip()
    if not text:
        combined = f"{EXPRESSION_PREFIX} {quote(concept)}"
    elif is_expression(text):
        combined = f"{text} + {quote(concept)}"
    else:
        combined = f"{EXPRESSION_PREFIX} {quote(text)} + {quote(concept)}"
    return combined, combined


def _table(result) -> list[list]:
    rows = sorted((i for i, kind in enumerate(result.kinds) if kind == "concept"), key=lambda i: -result.scores[i])
    return [[result.labels[i], category_label(result.categories[i]), round(float(result.scores[i]), 4)]
            for i in rows[:TABLE_ROWS]]

