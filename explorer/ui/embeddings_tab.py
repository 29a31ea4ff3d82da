"""The Embeddings tab: prompt arithmetic, the blend comparator, and the token inspector.

A tab in the event layer's pattern (explorer.ui.events): `layout` builds the components and returns them named
(`UI`), the handlers at module level take the inputs' values and return {component: value}, `bind` wires them.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from functools import partial

import gradio as gr

from explorer.checks import check_bool, check_int
from explorer.concepts.neighbors import nearest_concepts
from explorer.concepts.vocabularies import category_label, resolve_vocabulary
from explorer.explore.blends import compare
from explorer.generation.generate import generate
from explorer.generation.recipe import recipe_defaults
from explorer.messages import joined, say
from explorer.outputs.png import save_png
from explorer.plots.embeddings import arithmetic_norms_figure, flow_token_norms_figure, token_norms_figure
from explorer.text import encoding
from explorer.text.arithmetic import SPACE_NOTES, check_space, evaluate
from explorer.text.expressions import MAX_CHARS, MAX_TERMS, MAX_WEIGHT
from explorer.text.known import about_tokenizer, words_note
from explorer.text.tokens import encoder_rows
from explorer.ui.components import Checkbox, Code, Dropdown, File, Image, Number, Radio, Slider, Textbox, as_int
from explorer.ui.context import AppContext, View
from explorer.ui.events import wrap_handler
from explorer.ui.files import served
from explorer.ui.i18n import t
from explorer.ui.pieces import explain, status_line, words_flag


def _headers(*names: str) -> list:
    """Table headers by key (ui_embeddings.header.<name>): English as before, a German page's by key."""
    return [say(f"ui_embeddings.header.{name}") for name in names]


TOKEN_HEADERS = _headers("position", "token", "id", "kind", "word", "input", "output", "weight")
TOKEN_HEADERS_XL = _headers("position", "token", "id", "kind", "word", "input_1", "output_1", "input_2",
                            "output_2", "weight")   # SDXL: both encoders side by side (token "a / b" where they differ)
# SD3 / FLUX: CLIP's columns (and whether the transformer reads each row), then T5's pieces at their own positions
T5_HEADERS = _headers("read", "t5_position", "t5_token", "t5_id", "t5_kind", "t5_word", "t5_input", "t5_output",
                      "t5_read")
NEIGHBOR_HEADERS = _headers("concept", "category", "cosine")
MAX_NEIGHBORS = 50         # nearest concepts read back beside an expression
BLEND_HEADERS = _headers("operator", "what", "text_cos_a", "text_cos_b", "clip_a", "clip_b")
PANELS = 7                 # the blend comparator's panels: six share one batched call, then AND
# the sequences the arithmetic's norms are of, by space (the figure's title names them)
WHERE = {"token": "plots.arithmetic.token_embeddings", "conditioning": "plots.arithmetic.conditioning"}


@dataclass
class UI:
    """The tab's components by name (layout's result)."""

    inner: gr.Tabs
    # prompt arithmetic
    expression: gr.Textbox
    run: gr.Button
    readback: gr.Button
    arith_status: gr.Markdown
    space: gr.Radio
    renormalize: gr.Checkbox
    seed: gr.Number
    steps: gr.Slider
    guidance: gr.Slider
    vocabulary: gr.Dropdown
    k: gr.Number
    kind: gr.Radio
    exclude: gr.Checkbox
    arith_image: gr.Image
    neighbors: gr.Dataframe
    norms_plot: gr.Plot
    phrase_pick: gr.Dropdown
    to_tokens: gr.Button
    arith_recipe: gr.Code
    # blend comparator
    a: gr.Textbox
    b: gr.Textbox
    b_seed: gr.Number
    b_steps: gr.Slider
    b_guidance: gr.Slider
    w_a: gr.Number
    w_b: gr.Number
    blend_run: gr.Button
    blend_status: gr.Markdown
    blend_gallery: gr.Gallery
    blend_table: gr.Dataframe
    blend_files: gr.File
    # token inspector
    token_prompt: gr.Textbox
    show_pad: gr.Checkbox
    inspect: gr.Button
    token_summary: gr.Markdown
    token_table: gr.Dataframe
    token_plot: gr.Plot

    def arith_inputs(self) -> list:
        return [self.expression, self.space, self.renormalize, self.seed, self.steps, self.guidance, self.vocabulary,
                self.k]

    def arith_outputs(self) -> list:
        return [self.arith_status, self.arith_image, self.neighbors, self.norms_plot, self.arith_recipe,
                self.phrase_pick]

    def neighbor_inputs(self) -> list:
        return [self.expression, self.kind, self.space, self.vocabulary, self.k, self.exclude]

    def blend_inputs(self) -> list:
        return [self.a, self.b, self.b_seed, self.b_steps, self.b_guidance, self.w_a, self.w_b]

    def blend_outputs(self) -> list:
        return [self.blend_gallery, self.blend_table, self.blend_files, self.blend_status]

    def token_outputs(self) -> list:
        return [self.token_summary, self.token_table, self.token_plot]


def build(ctx: AppContext) -> None:
    bind(ctx, layout(ctx))


# --------------------------------------------------------------------------- layout
def layout(ctx: AppContext) -> UI:
    with gr.Tab(t("embeddings.tab"), id="embeddings"):
        with gr.Tabs() as inner:
            with gr.Tab(t("arithmetic.tab"), id="arithmetic"):
                arithmetic = _arithmetic(ctx)
            with gr.Tab(t("blend.tab"), id="blend"):
                blend = _blend(ctx)
            with gr.Tab(t("tokens.tab"), id="tokens"):
                tokens = _tokens(ctx)
    return UI(inner=inner, **arithmetic, **blend, **tokens)


def _arithmetic(ctx: AppContext) -> dict:
    explain(t("arithmetic.explain"), t("arithmetic.more", weight=f"{MAX_WEIGHT:g}", terms=MAX_TERMS, chars=MAX_CHARS))
    with gr.Row():
        with gr.Column(scale=2, min_width=320):
            controls = _arithmetic_controls(ctx)
        with gr.Column(scale=3, min_width=400):
            results = _arithmetic_results()
    return {**controls, **results}


def _arithmetic_controls(ctx: AppContext) -> dict:
    cfg, preset, vocabularies = ctx.config, ctx.model.preset, ctx.sessions.shared.names()
    expression = Textbox(label=t("arithmetic.expression"), value=ctx.examples.expression, lines=2,
                         elem_id="expression", info=t("arithmetic.expression.info"))
    with gr.Row():
        run = gr.Button(t("arithmetic.run"), variant="primary", elem_id="arith-btn")
        readback = gr.Button(t("arithmetic.readback"), elem_id="neighbors-btn")
    arith_status = status_line("arith-status", t("common.ready"))
    gr.Examples([[e] for e in ctx.examples.expressions], inputs=expression, label=t("arithmetic.examples"))
    space = Radio(list(SPACE_NOTES), value="conditioning", label=t("arithmetic.space"),
                  info=t("arithmetic.space.info"))
    renormalize = Checkbox(value=True, label=t("arithmetic.renormalize"), field="renormalize",
                           info=t("arithmetic.renormalize.info"))
    with gr.Row():
        seed = Number(label=t("common.seed"), value=0, info=t("common.seed.info"))
        steps = Slider(1, cfg.max_steps, value=preset.steps, step=1, label=t("common.steps"))
        guidance = Slider(0, cfg.max_guidance, value=preset.guidance, step=0.5, label=t("common.guidance_scale"),
                          field="guidance")
    with gr.Row():
        vocabulary = Dropdown(vocabularies, value=vocabularies[0], label=t("arithmetic.vocabulary"),
                              field="vocabulary", allow_custom_value=True)
        k = Number(value=10, label=t("arithmetic.k"), field="k", elem_id="arith-k",
                   info=t("arithmetic.k.info", k_max=MAX_NEIGHBORS))  # refused outside
    with gr.Row():
        kind = Radio(["expression", "prompt"], value="expression", label=t("arithmetic.kind"), field="kind",
                     info=t("arithmetic.kind.info"))
        exclude = Checkbox(value=False, label=t("arithmetic.exclude"), field="exclude_terms")
    return dict(expression=expression, run=run, readback=readback, arith_status=arith_status, space=space,
                renormalize=renormalize, seed=seed, steps=steps, guidance=guidance, vocabulary=vocabulary, k=k,
                kind=kind, exclude=exclude)


def _arithmetic_results() -> dict:
    with gr.Row():
        arith_image = Image(label=t("arithmetic.image"), type="filepath", elem_classes=["pixels"], format="png",
                            height=260, elem_id="arith-image", scale=2)
        neighbors = gr.Dataframe(headers=NEIGHBOR_HEADERS, label=t("arithmetic.neighbors"), interactive=False,
                                 wrap=True, max_height=260, scale=3,
                                 column_widths=["56%", "24%", "20%"])     # no cut column
    norms_plot = gr.Plot(label=t("arithmetic.norms"))
    with gr.Row():
        phrase_pick = Dropdown([], label=t("arithmetic.phrase"), field="phrase", scale=3, allow_custom_value=True)
        to_tokens = gr.Button(t("arithmetic.to_tokens"), scale=1)
    with gr.Accordion(t("arithmetic.recipe_box"), open=False):
        arith_recipe = Code(label=t("common.recipe_json"), language="json", lines=6, buttons=["copy"])
    return dict(arith_image=arith_image, neighbors=neighbors, norms_plot=norms_plot, phrase_pick=phrase_pick,
                to_tokens=to_tokens, arith_recipe=arith_recipe)


def _blend(ctx: AppContext) -> dict:
    cfg, preset = ctx.config, ctx.model.preset
    explain(t("blend.explain"), t("blend.more"))
    with gr.Row():
        a = Textbox(label="A", value=ctx.examples.blend[0], elem_id="blend-a")
        b = Textbox(label="B", value=ctx.examples.blend[1], elem_id="blend-b")
        b_seed = Number(label=t("common.seed"), value=0, info=t("common.seed.info"))
        b_steps = Slider(1, cfg.max_steps, value=preset.steps, step=1, label=t("common.steps"))
        b_guidance = Slider(0, cfg.max_guidance, value=preset.guidance, step=0.5, label=t("common.guidance"))
    with gr.Row():
        w_a = Number(label=t("blend.weight_a"), field="and_weights[0]", value=1.0,
                     info=f"in [{-MAX_WEIGHT:g}, {MAX_WEIGHT:g}]")
        w_b = Number(label=t("blend.weight_b"), field="and_weights[1]", value=1.0,
                     info=f"in [{-MAX_WEIGHT:g}, {MAX_WEIGHT:g}]")
        blend_run = gr.Button(t("blend.run"), variant="primary", elem_id="blend-btn")
    blend_status = status_line("blend-status", t("common.ready"))
    blend_gallery = gr.Gallery(label=t("blend.gallery"), columns=7, height="auto", format="png",
                               elem_id="blend-gallery", elem_classes=["steps", "captioned"])
    blend_table = gr.Dataframe(headers=BLEND_HEADERS, label=t("blend.table"), interactive=False, wrap=True,
                               column_widths=["17%", "43%", "10%", "10%", "10%", "10%"])
    with gr.Accordion(t("blend.downloads"), open=False):
        blend_files = File(label=t("blend.files"), file_count="multiple")
    return dict(a=a, b=b, b_seed=b_seed, b_steps=b_steps, b_guidance=b_guidance, w_a=w_a, w_b=w_b,
                blend_run=blend_run, blend_status=blend_status, blend_gallery=blend_gallery, blend_table=blend_table,
                blend_files=blend_files)


def _tokens(ctx: AppContext) -> dict:
    model = ctx.model
    clip = len(model.adapter.tokenizers(model.pipe)) - model.adapter.flow                 # CLIP encoders (not T5)
    headers = (TOKEN_HEADERS_XL if clip > 1 else TOKEN_HEADERS) + (T5_HEADERS if model.adapter.flow else [])
    # pieces.explain(), with a part made in code (the tokenizer): in the session's language at each page load
    gr.Markdown(t("tokens.explain"), elem_classes=["explain"])
    with gr.Accordion(t("common.more"), open=False):
        loaded = partial(say, "ui_embeddings.tokens.loaded", about=about_tokenizer(model))
        ctx.page_texts.append((gr.Markdown(loaded(), elem_id="token-about"), loaded))
        gr.Markdown(t("tokens.more"))
    with gr.Row():
        token_prompt = Textbox(label=t("common.prompt"), value=ctx.examples.tokens, scale=4, elem_id="token-prompt")
        show_pad = Checkbox(label=t("tokens.show_padding"), value=False, scale=1)
        inspect = gr.Button(t("tokens.run"), variant="primary", scale=1, elem_id="tokens-btn")
    token_summary = gr.Markdown(elem_id="token-summary")
    # one above the other: the table needs the page's width for its norm columns
    token_table = gr.Dataframe(headers=headers, label=t("tokens.table"),
                               interactive=False, max_height=380, elem_id="token-table")
    token_plot = gr.Plot(label=t("tokens.plot"))
    return dict(token_prompt=token_prompt, show_pad=show_pad, inspect=inspect, token_summary=token_summary,
                token_table=token_table, token_plot=token_plot)


# --------------------------------------------------------------------------- events
def bind(ctx: AppContext, ui: UI) -> None:
    tabs = [(ctx.tabs, "embeddings")]
    ctx.listen([ui.run.click, ui.expression.submit], partial(on_arithmetic, ctx, ui), ui.arith_inputs(),
               ui.arith_outputs(), status=ui.arith_status, api_name="arithmetic", concurrency_id="model",
               view=View("arithmetic", dict(expression=ui.expression, seed=ui.seed, steps=ui.steps),
                         [*tabs, (ui.inner, "arithmetic")], result="arith-image"))
    ctx.listen(ui.readback.click, partial(on_neighbors_page, ctx, ui), [*ui.neighbor_inputs(), ui.arith_recipe],
               [ui.neighbors, ui.arith_status], status=ui.arith_status,
               concurrency_id="text")      # the text encoder only: never queued behind a generation
    ctx.api_twin(partial(on_neighbors, ctx, ui), ui.neighbor_inputs(), [ui.neighbors, ui.arith_status], "neighbors",
                 concurrency_id="text")
    ctx.listen(ui.blend_run.click, partial(on_blend, ctx, ui), ui.blend_inputs(), ui.blend_outputs(),
               status=ui.blend_status, api_name="blend", concurrency_id="model",
               view=View("blend", dict(a=ui.a, b=ui.b, seed=ui.b_seed, steps=ui.b_steps),
                         [*tabs, (ui.inner, "blend")], result="blend-gallery"))
    ctx.listen([ui.inspect.click, ui.token_prompt.submit], partial(on_tokens, ctx, ui), [ui.token_prompt, ui.show_pad],
               ui.token_outputs(), status=ui.token_summary, api_name="tokens", concurrency_id="text",
               view=View("tokens", dict(prompt=ui.token_prompt), [*tabs, (ui.inner, "tokens")],
                         result="token-table"))
    ui.to_tokens.click(partial(on_to_tokens, ui), ui.phrase_pick, [ui.inner, ui.token_prompt],
                       api_visibility="private").then(
        wrap_handler(partial(on_tokens, ctx, ui), ui.token_outputs(), ui.token_summary, language=ctx.language),
        [ui.token_prompt, ui.show_pad], ui.token_outputs(), api_visibility="private", concurrency_id="text")


# --------------------------------------------------------------------------- handlers
def on_tokens(ctx: AppContext, ui: UI, prompt, show_padding):
    model = ctx.model
    check_bool("show_padding", show_padding)
    report = encoding.tokens(model, prompt)
    second = report.second                        # SDXL: the second tokenizer and encoder
    shown = [token for token in report.tokens if token.kind != "cut"][:report.end_position + 1]
    figure = token_norms_figure([tk.text for tk in shown], [tk.kind for tk in shown], [tk.input_norm for tk in shown],
                                [tk.output_norm for tk in shown],
                                None if second is None else [tk.output_norm for tk in second.tokens[:len(shown)]],
                                None if model.adapter.clip_states else say("plots.norms.output_pooled_only"))
    headers, rows = TOKEN_HEADERS if second is None else TOKEN_HEADERS_XL, _token_rows(report, show_padding)
    if report.others:                            # SD3 / FLUX: T5's pieces beside CLIP's, each at its own positions
        t5 = report.others[0]
        shown = [token for token in t5.tokens if token.kind != "cut"][:t5.end_position + 1]
        figure = flow_token_norms_figure(figure, [tk.text for tk in shown], [tk.kind for tk in shown],
                                         [tk.input_norm for tk in shown], [tk.output_norm for tk in shown])
        headers, rows = headers + T5_HEADERS, _side_by_side(report, rows, show_padding)
    return {ui.token_summary: report.summary() + words_flag(model, [prompt]),
            ui.token_table: {"headers": headers, "data": rows}, ui.token_plot: figure}


def _side_by_side(report, rows: list[list], show_padding) -> list[list]:
    """CLIP's rows with whether the transformer reads each, then T5's rows (encoder_rows) beside them, as many rows
    as the longer of the two (blank cells where one has no more)."""
    clip = [report.read_label(token) for token in report.tokens if show_padding or token.kind != "pad"]
    t5 = encoder_rows(report.others[0], show_padding)
    width, t5_width = len(rows[0]) + 1, len(t5[0])
    rows = [row + [read] for row, read in zip(rows, clip)]
    return [(rows[i] if i < len(rows) else [None] * width) + (t5[i] if i < len(t5) else [None] * t5_width)
            for i in range(max(len(rows), len(t5)))]


def _token_rows(report, show_padding) -> list[list]:
    """The token table's rows: position, token, id, kind, word, |input|, |output| (SDXL: both encoders'), weight."""
    second, words, rows = report.second, report.words(), []
    for i, (row, token) in enumerate(zip(report.rows(), report.tokens)):
        if not show_padding and token.kind == "pad":
            continue
        word = "" if token.word is None else words[token.word][0]
        if token.word is not None and len(words[token.word][1]) > 1:
            word = say("ui_embeddings.tokens.split", word=word)
        row, weight = list(row[:6]), row[6]      # position, token, id, kind, |input|, |output|; weight
        if second is not None:
            other = second.rows()[i]
            for column in (1, 2):               # token text and id: "first / second" where they differ
                if other[column] != row[column]:
                    row[column] = f"{row[column]} / {other[column]}"
            row = row + other[4:6]
        rows.append(row[:4] + [word] + row[4:] + [weight])
    return rows


def on_arithmetic(ctx: AppContext, ui: UI, text, space_name, renorm, seed_value, steps_value, guidance_value, vocab,
                  k_value, request: gr.Request, progress=gr.Progress()):
    model, cfg = ctx.model, ctx.config
    # 1. evaluate the expression in the chosen space
    check_bool("renormalize", renorm)
    check_space(space_name)
    result = evaluate(model, text, space_name, renorm)
    phrases = result.expression.phrases
    lines = ["**" + result.describe() + "**", say("ui_embeddings.arithmetic.space", note=SPACE_NOTES[space_name]),
             *result.notes]
    # 2. read back the nearest concepts (pooled space)
    progress(0.1, desc=say("ui_embeddings.progress.nearest"))
    rows, index_note = _neighbors(ctx, text, "expression", space_name, _vocabulary(ctx, vocab, request), k_value,
                                  False)
    # 3. generate through the recipe path, unless the space cannot
    image, recipe_json = None, ""
    if result.generatable:
        recipe = recipe_defaults(model, result.expression.describe(), seed=as_int(seed_value),
                                 steps=as_int(steps_value), guidance=guidance_value, expression=text,
                                 space=space_name, renormalize=renorm)
        progress(0.3, desc=say("ui_embeddings.progress.generating"))
        generation = generate(model, recipe, watch=False, config=cfg)
        saved = save_png(generation.image, recipe, cfg.outputs_dir)
        image, recipe_json = served(saved), recipe.to_json()
        lines.append(say("ui_embeddings.arithmetic.saved", name=saved.name))
    else:
        lines.append(say("ui_embeddings.arithmetic.not_generatable"))
    if index_note:
        lines.append(index_note)
    if note := words_note(model, phrases):
        lines.append("⚑ " + note)                 # words_flag's line without its blank line (a keyed note stays keyed)
    return {ui.arith_status: joined("\n\n", lines), ui.arith_image: image, ui.neighbors: rows,
            ui.norms_plot: _norms_figure(model, result, space_name, phrases), ui.arith_recipe: recipe_json,
            ui.phrase_pick: gr.update(choices=phrases, value=phrases[0])}


def _norms_figure(model, result, space_name, phrases):
    """The arithmetic's norm "spike" along the sequence where the mix was made (None in the pooled space)."""
    if result.token_norms is None:
        return None
    last = max(encoding.tokens(model, p).end_position for p in phrases) + 2   # and 2 pads
    where = say(WHERE["token" if space_name == "token" else "conditioning"])
    return arithmetic_norms_figure(result.token_norms.tolist(), result.raw_token_norms.tolist(),
                                   result.reference_norms.tolist(), where, last)


def on_neighbors(ctx: AppContext, ui: UI, text, kind, space_name, vocab, k_value, exclude_terms,
                 request: gr.Request):
    check_bool("exclude_terms", exclude_terms)
    rows, note = _neighbors(ctx, text, kind, space_name, _vocabulary(ctx, vocab, request), k_value, exclude_terms)
    status = (note or say("ui_embeddings.neighbors.count", n=len(rows), vocabulary=vocab))
    return {ui.neighbors: rows, ui.arith_status: status + words_flag(ctx.model, [text])}


def on_neighbors_page(ctx: AppContext, ui: UI, text, kind, space_name, vocab, k_value, exclude_terms, recipe_text,
                      request: gr.Request):
    """The page: new rows; the picture, norm plot and recipe of the last Compute are kept (a user's work is
    never wiped), and the status says whose they are when the expression has changed since."""
    out = on_neighbors(ctx, ui, text, kind, space_name, vocab, k_value, exclude_terms, request)
    earlier = _recipe_expression(recipe_text)
    if earlier and earlier.strip() != (text or "").strip():
        out[ui.arith_status] += "\n\n" + say("ui_embeddings.neighbors.stale", expression=earlier)
    return out


def on_blend(ctx: AppContext, ui: UI, text_a, text_b, seed_value, steps_value, guidance_value, weight_a, weight_b,
             progress=gr.Progress()):
    model, cfg = ctx.model, ctx.config
    base = recipe_defaults(model, text_a or "", seed=as_int(seed_value), steps=as_int(steps_value),
                           guidance=guidance_value)
    progress(0.0, desc=say("ui_embeddings.blend.progress"))
    done = []        # one bar: six panels share one batched call (per step), then the AND panel and the scores

    def on_step(i, steps):
        progress(0.85 * i / steps, desc=say("ui_embeddings.blend.progress_step", i=i, n=steps))

    def on_panel(panel):
        done.append(panel)
        progress(max(0.85, len(done) / PANELS),
                 desc=say("ui_embeddings.blend.progress_panel", i=len(done), n=PANELS, title=panel.title))

    result = compare(model, text_a, text_b, base, and_weights=(weight_a, weight_b), config=cfg,
                     on_panel=on_panel, on_step=on_step)
    gallery, files, rows = [], [], []
    for panel in result.panels:
        stem = f"{panel.recipe.seed}-{panel.operator}"
        path = served(save_png(panel.image, panel.recipe, cfg.outputs_dir, stem=stem))
        files.append(path)
        gallery.append((path, panel.title))
        rows.append([panel.title, panel.math, round(panel.sim_a, 3), round(panel.sim_b, 3),
                     _round(panel.clip_a), _round(panel.clip_b)])
    how = say("ui_embeddings.blend.batched" if result.batched else "ui_embeddings.blend.one_call")
    status = say("ui_embeddings.blend.done", seed=base.seed, s=result.seconds, how=how, vision=result.vision_note)
    status = joined("\n\n⚑ ", [status, *result.notes])
    return {ui.blend_gallery: gallery, ui.blend_table: rows, ui.blend_files: files, ui.blend_status: status}


def on_to_tokens(ui: UI, phrase):
    """A phrase of the expression into the token inspector (which then inspects it)."""
    return {ui.inner: gr.Tabs(selected="tokens"), **({ui.token_prompt: phrase} if phrase else {})}


# --------------------------------------------------------------------------- helpers
def _vocabulary(ctx: AppContext, name, request):
    return resolve_vocabulary(ctx.model, name, ctx.session(request).shelf)     # this user's lists only


def _neighbors(ctx: AppContext, text, kind, space_name, vocab, k_value, exclude_terms):
    check_space(space_name)
    k_value = check_int("k", as_int(k_value), 1, MAX_NEIGHBORS)     # the vocabulary may allow fewer (its own check)
    _, _, found, note = nearest_concepts(ctx.model, text, as_int(k_value), vocab, kind=kind, space=space_name,
                                         exclude_terms=exclude_terms, config=ctx.config)
    return [[n.label, category_label(n.category), round(n.score, 3)] for n in found], note


def _recipe_expression(recipe_text) -> str:
    """The expression (or prompt) of the recipe JSON shown under the last Compute ("" when there is none)."""
    try:
        recipe = json.loads(recipe_text) if isinstance(recipe_text, str) and recipe_text.strip() else {}
    except ValueError:
        return ""
    return str(recipe.get("expression") or recipe.get("prompt") or "") if isinstance(recipe, dict) else ""


def _round(value: float | None):
    return None if value is None else round(value, 3)
