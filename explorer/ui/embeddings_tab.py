"""The Embeddings tab: prompt arithmetic, the blend comparator, and the token inspector."""
from __future__ import annotations

import json

import gradio as gr

from explorer.checks import check_bool, check_int
from explorer.concepts.neighbors import nearest_concepts
from explorer.concepts.vocabularies import resolve_vocabulary
from explorer.explore.blends import compare
from explorer.generation.generate import generate
from explorer.generation.recipe import recipe_defaults
from explorer.outputs.png import save_png
from explorer.plots.embeddings import arithmetic_norms_figure, token_norms_figure
from explorer.text import encoding
from explorer.text.arithmetic import SPACE_NOTES, check_space, evaluate
from explorer.text.expressions import MAX_CHARS, MAX_TERMS, MAX_WEIGHT
from explorer.text.known import about_tokenizer
from explorer.ui.components import Checkbox, Code, Dropdown, File, Image, Number, Radio, Slider, Textbox, as_int
from explorer.ui.context import AppContext, View
from explorer.ui.events import guard, keep_work
from explorer.ui.files import served
from explorer.ui.pieces import explain, words_flag
from explorer.ui.i18n import t

TOKEN_HEADERS = ["position", "token", "id", "kind", "word", "|input|", "|output|", "weight"]
TOKEN_HEADERS_XL = ["position", "token", "id", "kind", "word", "|input| 1", "|output| 1", "|input| 2",
                    "|output| 2", "weight"]   # SDXL: both encoders side by side (token "a / b" where they differ)
NEIGHBOR_HEADERS = ["concept", "category", "cosine"]
MAX_NEIGHBORS = 50         # nearest concepts read back beside an expression
BLEND_HEADERS = ["operator", "what it does", "text cos A", "text cos B", "CLIP img–text A", "CLIP img–text B"]


def build(ctx: AppContext) -> None:
    model, cfg, preset = ctx.model, ctx.config, ctx.model.preset
    vocabularies = ctx.sessions.shared.names()
    with gr.Tab(t("embeddings.tab"), id="embeddings"):
        with gr.Tabs() as inner:
            # --- prompt arithmetic -----------------------------------------------------------------
            with gr.Tab(t("arithmetic.tab"), id="arithmetic"):
                explain(t("arithmetic.explain"),
                        t("arithmetic.more", weight=f"{MAX_WEIGHT:g}", terms=MAX_TERMS, chars=MAX_CHARS))
                with gr.Row():
                    with gr.Column(scale=2, min_width=320):
                        expression = Textbox(label=t("arithmetic.expression"), value=ctx.examples.expression, lines=2,
                                                elem_id="expression",
                                                info=t("arithmetic.expression.info"))
                        with gr.Row():
                            run = gr.Button(t("arithmetic.run"), variant="primary", elem_id="arith-btn")
                            readback = gr.Button(t("arithmetic.readback"), elem_id="neighbors-btn")
                        arith_status = gr.Markdown(t("common.ready"), elem_id="arith-status", elem_classes=["status"])
                        gr.Examples([[e] for e in ctx.examples.expressions], inputs=expression,
                                    label=t("arithmetic.examples"))
                        space = Radio(list(SPACE_NOTES), value="conditioning", label=t("arithmetic.space"),
                                         info=t("arithmetic.space.info"))
                        renormalize = Checkbox(value=True, label=t("arithmetic.renormalize"), field="renormalize",
                                                  info=t("arithmetic.renormalize.info"))
                        with gr.Row():
                            seed = Number(label=t("common.seed"), value=0, info=t("common.seed.info"))
                            steps = Slider(1, cfg.max_steps, value=preset.steps, step=1, label=t("common.steps"))
                            guidance = Slider(0, cfg.max_guidance, value=preset.guidance, step=0.5,
                                                 label=t("common.guidance_scale"), field="guidance")
                        with gr.Row():
                            vocabulary = Dropdown(vocabularies, value=vocabularies[0], label=t("arithmetic.vocabulary"), field="vocabulary",
                                                     allow_custom_value=True)
                            k = Number(value=10, label=t("arithmetic.k"), field="k", elem_id="arith-k",
                                       info=t("arithmetic.k.info", k_max=MAX_NEIGHBORS))  # refused outside
                        with gr.Row():
                            kind = Radio(["expression", "prompt"], value="expression", label=t("arithmetic.kind"), field="kind",
                                            info=t("arithmetic.kind.info"))
                            exclude = Checkbox(value=False, label=t("arithmetic.exclude"), field="exclude_terms")
                    with gr.Column(scale=3, min_width=400):
                        with gr.Row():
                            arith_image = Image(label=t("arithmetic.image"), type="filepath", elem_classes=["pixels"],
                                                format="png", height=260, elem_id="arith-image", scale=2)
                            neighbors = gr.Dataframe(headers=NEIGHBOR_HEADERS, label=t("arithmetic.neighbors"),
                                                     interactive=False, wrap=True, max_height=260, scale=3,
                                                     column_widths=["56%", "24%", "20%"])     # no cut column
                        norms_plot = gr.Plot(label=t("arithmetic.norms"))
                        with gr.Row():
                            phrase_pick = Dropdown([], label=t("arithmetic.phrase"), field="phrase", scale=3,
                                                   allow_custom_value=True)
                            to_tokens = gr.Button(t("arithmetic.to_tokens"), scale=1)
                        with gr.Accordion(t("arithmetic.recipe_box"), open=False):
                            arith_recipe = Code(label=t("common.recipe_json"), language="json", lines=6,
                                                buttons=["copy"])
            # --- blend comparator ------------------------------------------------------------------
            with gr.Tab(t("blend.tab"), id="blend"):
                explain(t("blend.explain"), t("blend.more"))
                with gr.Row():
                    a = Textbox(label="A", value=ctx.examples.blend[0], elem_id="blend-a")
                    b = Textbox(label="B", value=ctx.examples.blend[1], elem_id="blend-b")
                    b_seed = Number(label=t("common.seed"), value=0, info=t("common.seed.info"))
                    b_steps = Slider(1, cfg.max_steps, value=preset.steps, step=1, label=t("common.steps"))
                    b_guidance = Slider(0, cfg.max_guidance, value=preset.guidance, step=0.5,
                                        label=t("common.guidance"))
                with gr.Row():
                    w_a = Number(label=t("blend.weight_a"), field="and_weights[0]", value=1.0, info=f"in [{-MAX_WEIGHT:g}, {MAX_WEIGHT:g}]")
                    w_b = Number(label=t("blend.weight_b"), field="and_weights[1]", value=1.0, info=f"in [{-MAX_WEIGHT:g}, {MAX_WEIGHT:g}]")
                    blend_run = gr.Button(t("blend.run"), variant="primary", elem_id="blend-btn")
                blend_status = gr.Markdown(t("common.ready"), elem_id="blend-status", elem_classes=["status"])
                blend_gallery = gr.Gallery(label=t("blend.gallery"),
                                           columns=7, height="auto", format="png", elem_id="blend-gallery",
                                           elem_classes=["steps", "captioned"])
                blend_table = gr.Dataframe(headers=BLEND_HEADERS, label=t("blend.table"), interactive=False, wrap=True,
                                           column_widths=["17%", "43%", "10%", "10%", "10%", "10%"])
                with gr.Accordion(t("blend.downloads"), open=False):
                    blend_files = File(label=t("blend.files"), file_count="multiple")
            # --- token inspector -------------------------------------------------------------------
            two_encoders = len(model.adapter.tokenizers(model.pipe)) > 1          # SDXL
            with gr.Tab(t("tokens.tab"), id="tokens"):
                explain(t("tokens.explain"), f"{t('tokens.loaded')} {about_tokenizer(model)}", t("tokens.more"))
                with gr.Row():
                    token_prompt = Textbox(label=t("common.prompt"), value=ctx.examples.tokens,
                                              scale=4, elem_id="token-prompt")
                    show_pad = Checkbox(label=t("tokens.show_padding"), value=False, scale=1)
                    inspect = gr.Button(t("tokens.run"), variant="primary", scale=1, elem_id="tokens-btn")
                token_summary = gr.Markdown(elem_id="token-summary")
                # one above the other: the table needs the page's width for its norm columns
                token_table = gr.Dataframe(headers=TOKEN_HEADERS_XL if two_encoders else TOKEN_HEADERS,
                                           label=t("tokens.table"), interactive=False, max_height=380,
                                           elem_id="token-table")
                token_plot = gr.Plot(label=t("tokens.plot"))

    # --- handlers -----------------------------------------------------------------------------------
    @guard
    def on_tokens(prompt, show_padding):
        check_bool("show_padding", show_padding)
        report = encoding.tokens(model, prompt)
        second = report.second                        # SDXL: the second tokenizer and encoder
        words = report.words()
        rows = []
        for i, (row, token) in enumerate(zip(report.rows(), report.tokens)):
            if show_padding or token.kind != "pad":
                word = "" if token.word is None else \
                    words[token.word][0] + (" (split)" if len(words[token.word][1]) > 1 else "")
                row, weight = list(row[:6]), row[6]      # position, token, id, kind, |input|, |output|; weight
                if second is not None:
                    other = second.rows()[i]
                    for column in (1, 2):               # token text and id: "first / second" where they differ
                        if other[column] != row[column]:
                            row[column] = f"{row[column]} / {other[column]}"
                    row = row + other[4:6]
                rows.append(row[:4] + [word] + row[4:] + [weight])
        shown = [t for t in report.tokens if t.kind != "cut"][:report.end_position + 1]
        figure = token_norms_figure([t.text for t in shown], [t.kind for t in shown], [t.input_norm for t in shown],
                                    [t.output_norm for t in shown],
                                    None if second is None else [t.output_norm for t in second.tokens[:len(shown)]])
        headers = TOKEN_HEADERS if second is None else TOKEN_HEADERS_XL
        return report.summary() + words_flag(model, [prompt]), {"headers": headers, "data": rows}, figure

    @guard
    def on_arithmetic(text, space_name, renorm, seed_value, steps_value, guidance_value, vocab, k_value,
                      request: gr.Request, progress=gr.Progress()):
        # 1. evaluate the expression in the chosen space
        check_bool("renormalize", renorm)
        check_space(space_name)
        result = evaluate(model, text, space_name, renorm)
        phrases = result.expression.phrases
        lines = [f"**{result.describe()}**", f"Space: {SPACE_NOTES[space_name]}.", *result.notes]
        # 2. read back the nearest concepts (pooled space)
        progress(0.1, desc="nearest concepts (the first use encodes the vocabulary)")
        rows, index_note = _neighbors(model, text, "expression", space_name, _vocabulary(vocab, request), k_value, False, cfg)
        # 3. generate through the recipe path, unless the space cannot
        image, recipe_json = None, ""
        if result.generatable:
            recipe = recipe_defaults(model, result.expression.describe(), seed=as_int(seed_value),
                                     steps=as_int(steps_value), guidance=guidance_value, expression=text,
                                     space=space_name, renormalize=renorm)
            progress(0.3, desc="generating")
            generation = generate(model, recipe, watch=False, config=cfg)
            saved = save_png(generation.image, recipe, cfg.outputs_dir)
            image, recipe_json = served(saved), recipe.to_json()
            lines.append(f"Saved as `{saved.name}` with its recipe (the expression and space are recorded).")
        else:
            lines.append("The pooled space is **not directly generatable**: it holds one vector per prompt, and the "
                         "UNet attends to a 77-token sequence. Use it to read back nearest concepts.")
        if index_note:
            lines.append(index_note)
        if flag := words_flag(model, phrases):
            lines.append(flag.strip())
        where = "token embeddings (before the transformer)" if space_name == "token" else "conditioning"
        figure = None
        if result.token_norms is not None:
            last = max(encoding.tokens(model, p).end_position for p in phrases) + 2   # and 2 pads
            figure = arithmetic_norms_figure(result.token_norms.tolist(), result.raw_token_norms.tolist(),
                                             result.reference_norms.tolist(), where, last)
        return ("\n\n".join(lines), image, rows, figure, recipe_json,
                gr.update(choices=phrases, value=phrases[0]))

    @guard
    def on_neighbors(text, kind, space_name, vocab, k_value, exclude_terms, request: gr.Request):
        check_bool("exclude_terms", exclude_terms)
        rows, note = _neighbors(model, text, kind, space_name, _vocabulary(vocab, request), k_value, exclude_terms,
                                cfg)
        return rows, (note or f"{len(rows)} nearest concepts in '{vocab}'.") + words_flag(model, [text])

    @guard
    def on_blend(text_a, text_b, seed_value, steps_value, guidance_value, weight_a, weight_b,
                 progress=gr.Progress()):
        base = recipe_defaults(model, text_a or "", seed=as_int(seed_value), steps=as_int(steps_value),
                               guidance=guidance_value)
        progress(0.0, desc="generating seven panels")
        done = []        # one bar: six panels share one batched call (per step), then the AND panel and the scores

        def on_step(i, steps):
            progress(0.85 * i / steps, desc=f"six panels in one batch: step {i}/{steps}")

        def on_panel(panel):
            done.append(panel)
            progress(max(0.85, len(done) / 7), desc=f"panel {len(done)} of 7: {panel.title}")

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
        how = "the six embedding panels in one batched pipeline call" if result.batched else "one call per panel"
        status = (f"Seed {base.seed}: seven panels in {result.seconds:.1f} s ({how}). Text similarity: cosine of "
                  f"each panel's pooled embedding to A and B. Image: {result.vision_note}.")
        status += "".join(f"\n\n⚑ {note}" for note in result.notes)
        return gallery, rows, files, status

    def _vocabulary(name, request):
        return resolve_vocabulary(model, name, ctx.session(request).shelf)     # this user's lists only

    def on_to_tokens(phrase):
        return gr.Tabs(selected="tokens"), phrase or gr.skip()

    arith_inputs = [expression, space, renormalize, seed, steps, guidance, vocabulary, k]
    arith_outputs = [arith_status, arith_image, neighbors, norms_plot, arith_recipe, phrase_pick]
    ctx.listen([run.click, expression.submit], on_arithmetic, arith_inputs, arith_outputs, status=arith_status,
           api_name="arithmetic", concurrency_id="model",
           view=View("arithmetic", dict(expression=expression, seed=seed, steps=steps),
                     [(ctx.tabs, "embeddings"), (inner, "arithmetic")], result="arith-image"))
    neighbor_inputs = [expression, kind, space, vocabulary, k, exclude]

    @guard
    def on_neighbors_page(text, kind, space_name, vocab, k_value, exclude_terms, recipe_text, request: gr.Request):
        """The page: new rows; the picture, norm plot and recipe of the last Compute are kept (a user's work is
        never wiped), and the status says whose they are when the expression has changed since."""
        rows, status = on_neighbors(text, kind, space_name, vocab, k_value, exclude_terms, request)
        earlier = _recipe_expression(recipe_text)
        if earlier and earlier.strip() != (text or "").strip():
            status += f"\n\nThe picture and norm plot beside are still those of `{earlier}`."
        return rows, status

    ctx.listen(readback.click, on_neighbors_page, [*neighbor_inputs, arith_recipe], [neighbors, arith_status],
           status=arith_status, concurrency_id="text")      # the text encoder only: never queued behind a generation
    ctx.api_twin(on_neighbors, neighbor_inputs, [neighbors, arith_status], "neighbors", concurrency_id="text")
    ctx.listen(blend_run.click, on_blend, [a, b, b_seed, b_steps, b_guidance, w_a, w_b],
           [blend_gallery, blend_table, blend_files, blend_status], status=blend_status, api_name="blend",
           concurrency_id="model",
           view=View("blend", dict(a=a, b=b, seed=b_seed, steps=b_steps), [(ctx.tabs, "embeddings"), (inner, "blend")],
                     result="blend-gallery"))
    token_outputs = [token_summary, token_table, token_plot]
    ctx.listen([inspect.click, token_prompt.submit], on_tokens, [token_prompt, show_pad], token_outputs,
           status=token_summary, api_name="tokens", concurrency_id="text",
           view=View("tokens", dict(prompt=token_prompt), [(ctx.tabs, "embeddings"), (inner, "tokens")],
                     result="token-table"))
    to_tokens.click(on_to_tokens, phrase_pick, [inner, token_prompt], api_visibility="private").then(
        keep_work(on_tokens, 3, 0, False, outputs=token_outputs, language=ctx.language), [token_prompt, show_pad],
        token_outputs, api_visibility="private", concurrency_id="text")


def _neighbors(model, text, kind, space_name, vocab, k_value, exclude_terms, cfg):
    check_space(space_name)
    k_value = check_int("k", as_int(k_value), 1, MAX_NEIGHBORS)     # the vocabulary may allow fewer (its own check)
    _, _, found, note = nearest_concepts(model, text, as_int(k_value), vocab, kind=kind, space=space_name,
                                         exclude_terms=exclude_terms, config=cfg)
    return [[n.label, n.category, round(n.score, 3)] for n in found], note


def _recipe_expression(recipe_text) -> str:
    """The expression (or prompt) of the recipe JSON shown under the last Compute ("" when there is none)."""
    try:
        recipe = json.loads(recipe_text) if isinstance(recipe_text, str) and recipe_text.strip() else {}
    except ValueError:
        return ""
    return str(recipe.get("expression") or recipe.get("prompt") or "") if isinstance(recipe, dict) else ""


def _round(value: float | None):
    return None if value is None else round(value, 3)
