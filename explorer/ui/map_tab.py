"""The Map tab: the concepts nearest to a prompt, an expression or a path, on a 2-D map; concept axes."""
from __future__ import annotations

import time
from pathlib import Path

import gradio as gr
import numpy as np
import plotly

from explorer.concepts.axes import MAX_AMOUNT, axis_recipe, make_axis, rank_vocabulary
from explorer.concepts.index import ConceptIndex, building_progress
from explorer.concepts.projection import (DEFAULT_K, DEFAULT_PATH_POINTS, MAX_PATH_POINTS, PROJECTION_NOTES, QueryPoint,
                                          concept_map, place_by_similarity, query_points, query_texts)
from explorer.concepts.vocabularies import BUILTIN, builtin_vocabulary, load_upload, resolve_vocabulary
from explorer.errors import InputError
from explorer.generation.generate import generate
from explorer.models.vision import load_vision, shown_source, vision_status
from explorer.outputs.png import save_png
from explorer.plots.map import axis_figure, concept_map_figure, warm_plotly
from explorer.text.phrases import EXPRESSION_PREFIX, is_expression, quote
from explorer.ui.common import (AppContext, Checkbox, Dropdown, File, Image, Number, Radio, Slider, Textbox, View,
                                as_int, check_upload, explain, guard, words_flag)
from explorer.ui.i18n import t

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


def build(ctx: AppContext) -> None:
    cfg, model = ctx.config, ctx.model
    gr.set_static_paths([str(PLOTLY_JS.parent)])
    warm_plotly()                           # before any thread: plotly imports pandas lazily
    ctx.map_warmup.start(model, cfg)        # index, query path and numba's JIT warm while the user reads the page
    k_max = cfg.max_map_neighbors
    with gr.Tab(t("map.tab"), id="map"):
        explain(t("map.explain"), t("map.more"))
        current = gr.State(None)                           # this session's MapResult (kept for new points)
        with gr.Row():
            with gr.Column(scale=2, min_width=300):
                query = Textbox(label=t("map.query"), lines=3, elem_id="map-query",
                                   value=ctx.examples.map_query,
                                   info=t("map.query.info"))
                draw = gr.Button(t("map.draw"), variant="primary", elem_id="map-draw")
                status = gr.Markdown("", elem_classes=["status"], elem_id="map-status")
                ctx.page_texts.append((status, ctx.map_warmup.status))     # at each page load, in its language
                with gr.Row():
                    vocabulary = Dropdown(ctx.sessions.shared.names(), value=BUILTIN, label=t("map.vocabulary"),
                                             allow_custom_value=False, elem_id="map-vocabulary")
                    method = Radio([("UMAP", "umap"), ("PCA (instant)", "pca")], value="umap",
                                      label=t("map.projection"))
                with gr.Row():
                    k = Number(value=min(DEFAULT_K, k_max, len(builtin_vocabulary(ctx.model).entries)),
                               label=t("map.k"), field="k", elem_id="map-k",     # fits the default list
                                  info=t("map.k.info", k_max=k_max))
                    path_points = Number(value=DEFAULT_PATH_POINTS, label=t("map.path_points"), field="path_points",
                                            info=t("map.path_points.info", max_points=MAX_PATH_POINTS))
                with gr.Accordion(t("map.add_box"), open=False):
                    gr.Markdown(t("map.add_note", max_entries=cfg.max_vocabulary))
                    upload = File(label=t("map.upload"), field="vocabulary file", file_types=[".txt"])
                    upload_name = Textbox(label=t("map.upload_name"), field="vocabulary name",
                                          placeholder=t("map.upload_name.placeholder"))
                    add = gr.Button(t("map.add"))
                picked = Textbox(label=t("map.picked"), elem_id="map-picked",
                                    interactive=True)
                with gr.Row():
                    set_prompt = gr.Button(t("map.set_prompt"), size="sm")
                    add_term = gr.Button(t("map.add_term"), size="sm")
                    to_generate = gr.Button(t("map.to_generate"), size="sm", elem_id="map-to-generate",
                                            visible=ctx.generate_prompt is not None)
            with gr.Column(scale=4, min_width=480):
                map_html = gr.HTML(value="", html_template='<div class="concept-map" style="width:100%;'
                                   'min-height:600px"></div>', js_on_load=JS_ON_LOAD, elem_id="concept-map",
                                   head=f'<script src="gradio_api/file={PLOTLY_JS}"></script>', min_height=600)
                table = gr.Dataframe(headers=["concept", "category", "cosine"], label=t("map.table"),
                                     interactive=False, max_height=260, elem_id="map-table")
        with gr.Accordion(t("axis.title"), open=True):
            explain(t("axis.explain"), t("axis.more"))
            with gr.Row():
                with gr.Column(scale=2, min_width=300):
                    with gr.Row():
                        pole_a = Textbox(label=t("axis.pole_a"), field="pole_a", value=ctx.examples.poles[0], elem_id="axis-a")
                        pole_b = Textbox(label=t("axis.pole_b"), field="pole_b", value=ctx.examples.poles[1], elem_id="axis-b")
                    rank = gr.Button(t("axis.rank"))
                    prompt = Textbox(label=t("axis.prompt"), field="prompt", value=ctx.examples.axis_prompt,
                                        elem_id="axis-prompt")
                    amount = Slider(-MAX_AMOUNT, MAX_AMOUNT, value=0.0, step=0.1, label=t("axis.amount"), field="amount",
                                       info=t("axis.amount.info"))
                    with gr.Row():
                        seed = Number(label=t("common.seed"), value=0, info=t("common.seed.info"))
                        steps = Slider(1, cfg.max_steps, value=model.preset.steps, step=1, label=t("common.steps"))
                    place = Checkbox(label=t("axis.place"), field="place", value=True)
                    run = gr.Button(t("axis.run"), variant="primary", elem_id="axis-generate")
                    axis_status = gr.Markdown("", elem_classes=["status"], elem_id="axis-status")
                with gr.Column(scale=4, min_width=480):
                    with gr.Row():
                        axis_plot = gr.Plot(label=t("axis.plot"))
                        image = Image(label=t("axis.image"), type="pil", format="png", height=320)

    def index_for(name, progress, request):
        vocabulary = resolve_vocabulary(model, name, ctx.session(request).shelf)     # this user's lists only
        while (state := building_progress(model)) is not None:            # e.g. the build started at launch
            progress((state[1], state[2]), desc="encoding a vocabulary (once per model)")
            time.sleep(0.3)
        return ConceptIndex.for_model(model, vocabulary, config=cfg,
                                      progress=lambda d, t: progress((d, t), desc=f"encoding '{name}'"))

    @guard
    def on_map(text, name, k_value, method_value, points, request: gr.Request, progress=gr.Progress()):
        # 1. the index (built once per model and vocabulary, with a progress bar)
        index = index_for(name, progress, request)
        # 2. the query points
        queries = query_points(model, text, path_points=as_int(points))
        # 3. fit the map
        result = concept_map(index, queries, k=as_int(k_value), method=method_value, limit=k_max,
                             wait_s=UMAP_WAIT_S, warmup=ctx.map_warmup)
        notes = " ".join(result.notes)
        rows = _table(result)
        message = (f"{index.note} {result.n_concepts} concepts + {len(queries)} query points, "
                   f"{result.method.upper()} fitted in {result.seconds:.2f} s. {notes}\n\n"
                   f"*{PROJECTION_NOTES[result.method]}*") + words_flag(model, query_texts(text))
        return concept_map_figure(result).to_json(), rows, message, result

    @guard
    def on_add_vocabulary(path, name, request: gr.Request):
        if not path:
            raise InputError("vocabulary file", "an uploaded .txt file", None)
        if name is not None and not isinstance(name, str):
            raise InputError("vocabulary name", "text", name)
        check_upload("vocabulary file", path, cfg)
        shelf = ctx.session(request).shelf
        vocab = load_upload(path, (name or "").strip() or None, cfg)
        added = shelf.add(vocab, limit=cfg.max_upload_entries)
        return (gr.update(choices=shelf.names(), value=added),
                f"Added '{added}' for you (other users do not see it): {len(vocab)} entries in "
                f"{len(vocab.category_names)} categories. Its index is built on the first map.")

    def on_pick(evt: gr.EventData):
        data = getattr(evt, "_data", None) or {}
        return data.get("label", "") if isinstance(data, dict) else ""

    def on_table_select(evt: gr.SelectData):
        row = getattr(evt, "row_value", None)
        return row[0] if row else evt.value

    @guard
    def on_rank(a, b, name, request: gr.Request, progress=gr.Progress()):
        index = index_for(name, progress, request)
        ranking = rank_vocabulary(index, make_axis(model, a, b))
        return axis_figure(ranking), (f"{len(ranking.labels)} entries of '{index.vocabulary.name}' ranked from "
                                      f"'{ranking.pole_a}' (0) to '{ranking.pole_b}' (1)."
                                      + words_flag(model, [a, b]))

    @guard
    def on_generate(text, a, b, amount_value, seed_value, steps_value, place_value, result):
        # 1. the recipe: the prompt moved along the axis (an expression that regenerates it)
        recipe = axis_recipe(model, text, a, b, amount_value, seed=as_int(seed_value), steps=as_int(steps_value))
        # 2. generate and save with the recipe
        generation = generate(model, recipe, watch=False, config=cfg)
        saved = save_png(generation.image, recipe, cfg.outputs_dir)
        message = f"{recipe.expression or recipe.prompt} — saved as `{saved.name}`." + words_flag(model, [text, a, b])
        figure = gr.skip()
        # 3. place the image on the current map when a CLIP vision model is there
        if place_value and result is not None:
            label = f"image: {recipe.expression or recipe.prompt}"
            result, note = _place_image(model, result, generation.image, label)
            message += f" {note}"
            figure = concept_map_figure(result).to_json() if note.startswith("Placed") else gr.skip()
        return generation.image, message, figure, result

    map_inputs = [query, vocabulary, k, method, path_points]
    ctx.listen([draw.click, query.submit], on_map, map_inputs, [map_html, table, status, current], status=status,
           api_name="concept_map", concurrency_id="map",     # text encoder and projection: not behind a generation
           view=View("map", dict(query=query, k=k), [(ctx.tabs, "map")], result="concept-map"))
    ctx.listen(add.click, on_add_vocabulary, [upload, upload_name], [vocabulary, status], status=status,
           api_name="add_vocabulary")
    map_html.pick(on_pick, None, picked, api_visibility="private")
    table.select(on_table_select, None, picked, api_visibility="private")
    set_prompt.click(lambda c: (c, c) if c else (gr.skip(), gr.skip()), picked, [prompt, query],
                     api_visibility="private")
    add_term.click(_add_term, [prompt, picked], [prompt, query], api_visibility="private")
    if ctx.generate_prompt is not None and ctx.tabs is not None:     # the picked concept, in the Generate tab
        to_generate.click(lambda c: (c, gr.Tabs(selected="generate")) if c else (gr.skip(), gr.skip()), picked,
                          [ctx.generate_prompt, ctx.tabs], api_visibility="private")
    ctx.listen(rank.click, on_rank, [pole_a, pole_b, vocabulary], [axis_plot, axis_status], status=axis_status,
           api_name="axis", concurrency_id="text")
    generate_inputs = [prompt, pole_a, pole_b, amount, seed, steps, place, current]
    ctx.listen([run.click, amount.release], on_generate, generate_inputs, [image, axis_status, map_html, current],
           status=axis_status, api_name="axis_generate", concurrency_id="model")


def _place_image(model, result, picture, label: str):
    """Place a generated image among the map's concepts by CLIP image-text similarity."""
    vision = load_vision(model)
    if vision is None:
        return result, vision_status(model)
    concepts = [i for i, kind in enumerate(result.kinds) if kind == "concept"]
    texts = vision.text_embeds([result.labels[i] for i in concepts])                   # (k, p)
    similarities = vision.image_embeds([picture]) @ texts.T                             # (1, k)
    coords = place_by_similarity(result.coords[concepts], similarities)                 # (1, 2)
    point = QueryPoint(label, np.ones(1, dtype=np.float32), "image")                    # placed, not transformed
    return result.add([point], coords=coords), (f"Placed on the map among the concepts CLIP "
                                                f"({shown_source(vision.name)}) finds most similar to it.")


def _add_term(prompt_text: str, concept: str):
    """Append + "concept" to the prompt, turning a plain prompt into an expression."""
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
    return [[result.labels[i], result.categories[i], round(float(result.scores[i]), 4)] for i in rows[:TABLE_ROWS]]

