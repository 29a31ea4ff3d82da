"""The Embeddings tab: prompt arithmetic, the blend comparator, and the token inspector."""
from __future__ import annotations

import gradio as gr

from explorer.checks import check_bool
from explorer.concepts.neighbors import nearest_concepts
from explorer.concepts.vocabularies import resolve_vocabulary
from explorer.explore.blends import compare
from explorer.generation.generate import generate
from explorer.generation.recipe import recipe_defaults
from explorer.outputs.png import save_png
from explorer.plots.embeddings import arithmetic_norms_figure, token_norms_figure
from explorer.text import encoding
from explorer.text.known import about_tokenizer
from explorer.text.arithmetic import SPACE_NOTES, check_space, evaluate
from explorer.text.expressions import MAX_CHARS, MAX_TERMS, MAX_WEIGHT
from explorer.ui.common import (AppContext, Checkbox, Code, Dropdown, File, Image, Number, Radio, Slider, Textbox,
                                as_int, explain, guard, keep_work, served, words_flag)

ARITH_MORE = f"""The text encoder turns a prompt into an **embedding**: a sequence of 77 vectors (one per token
position) that the UNet attends to at every denoising **step**. Because the sequences are vectors, prompts can be
added, subtracted and weighted like vectors. Write phrases in quotes or as bare words, numbers as weights:
`"van gogh" + astronaut`, `0.6 * "a photo of a cat" + 0.4 * "an oil painting"`, `king - man + woman`.
Weights lie in [{-MAX_WEIGHT:g}, {MAX_WEIGHT:g}], at most {MAX_TERMS} phrases and {MAX_CHARS} characters.

**Space** — where the sum is made: *conditioning* (the default) adds the 77-token sequences position by
position; *token* adds the token embeddings before the transformer and then encodes the mix (the transformer's
attention then mixes the words); *pooled* adds the single pooled vector of each prompt (its end token's final
state) — that one is for reading back nearest concepts only: the UNet needs a sequence, so it cannot generate.

**Renormalise** — a sum of two prompts is about twice as long as either, and the UNet has only seen embeddings
of the usual length: raw sums "spike" (over-saturated, broken images). Renormalising rescales each token to
the ingredients' mean norm; the plot shows both. **Nearest concepts** compares the result's pooled readback
with every entry of a concept vocabulary (cosine similarity)."""

BLEND_MORE = """Seven ways to combine two prompts A and B, all from the same seed (the same initial noise
latent), so differences come from the operator alone. The first six give the pipeline a different
conditioning embedding; **AND** (Composable Diffusion, Liu et al. 2022) instead runs one UNet pass per prompt
at every step and combines the predicted noise: ε = ε_u + Σ_i w_i·g·(ε_i − ε_u), where ε_u is the
unconditional prediction and g the guidance scale. Under each panel: the cosine similarity of its text
embedding (pooled readback) to A and to B, and, where a CLIP vision model is available for the model
family, the image–text similarity of the picture to A and to B. The six embedding panels run as one batch
(equal to separate runs within float tolerance, at most 1/255 per pixel); each PNG carries its own recipe."""

TOKENS_MORE = """{tokenizer}

CLIP's tokenizer splits text into word pieces from a vocabulary of 49,408 byte-pair tokens
learned on English captions. A word it knows becomes one token (`cat</w>`, where `</w>` marks a word's end);
an unfamiliar word, often a German or other non-English one such as *Sankt*, is cut into fragments
(`san` + `kt</w>`), and the encoder only sees those fragments. Every prompt is framed by a start token and an end
token and padded to 77 positions; content beyond 75 tokens is **cut** and never reaches the model. The end
token's final state is the pooled vector. Norms: |input| is the token embedding's length before the
transformer, |output| the length of the hidden state the UNet attends to."""

TOKEN_HEADERS = ["position", "token", "id", "kind", "word", "|input|", "|output|", "weight"]
TOKEN_HEADERS_XL = ["position", "token", "id", "kind", "word", "|input| 1", "|output| 1", "|input| 2",
                    "|output| 2", "weight"]   # SDXL: both encoders side by side (token "a / b" where they differ)
NEIGHBOR_HEADERS = ["concept", "category", "cosine"]
BLEND_HEADERS = ["operator", "what it does", "text cos A", "text cos B", "CLIP img–text A", "CLIP img–text B"]


def build(ctx: AppContext) -> None:
    model, cfg, preset = ctx.model, ctx.config, ctx.model.preset
    vocabularies = ctx.sessions.shared.names()
    with gr.Tab("Embeddings", id="embeddings"):
        with gr.Tabs() as inner:
            # --- prompt arithmetic -----------------------------------------------------------------
            with gr.Tab("Prompt arithmetic", id="arithmetic"):
                explain("Add, subtract and weight prompts as embedding vectors, see which concepts the result "
                        "lies near, and generate from it.", ARITH_MORE)
                with gr.Row():
                    with gr.Column(scale=2, min_width=320):
                        expression = Textbox(label="Expression", value=ctx.examples.expression, lines=2,
                                                elem_id="expression",
                                                info='phrases in quotes or bare words; + - * and numbers')
                        with gr.Row():
                            run = gr.Button("Compute and generate", variant="primary", elem_id="arith-btn")
                            readback = gr.Button("Nearest concepts only", elem_id="neighbors-btn")
                        arith_status = gr.Markdown("Ready.", elem_id="arith-status", elem_classes=["status"])
                        gr.Examples([[e] for e in ctx.examples.expressions], inputs=expression, label="Examples")
                        space = Radio(list(SPACE_NOTES), value="conditioning", label="Space",
                                         info="conditioning: the 77-token sequences · token: token embeddings "
                                              "before the transformer · pooled: one vector (readback only)")
                        renormalize = Checkbox(value=True, label="Renormalise to the ingredients' norm per token", field="renormalize",
                                                  info="off = the raw sum, which can spike")
                        with gr.Row():
                            seed = Number(label="Seed", value=0, info="integer in [0, 2^32)")
                            steps = Slider(1, cfg.max_steps, value=preset.steps, step=1, label="Steps")
                            guidance = Slider(0, cfg.max_guidance, value=preset.guidance, step=0.5,
                                                 label="Guidance scale", field="guidance")
                        with gr.Row():
                            vocabulary = Dropdown(vocabularies, value=vocabularies[0], label="Concept vocabulary", field="vocabulary",
                                                     allow_custom_value=True)
                            k = Slider(1, 50, value=10, step=1, label="Nearest concepts (k)", field="k")
                        with gr.Row():
                            kind = Radio(["expression", "prompt"], value="expression", label="Read the text as", field="kind",
                                            info="prompt: one plain prompt, no arithmetic")
                            exclude = Checkbox(value=False, label="Leave out the expression's own phrases", field="exclude_terms")
                    with gr.Column(scale=3, min_width=400):
                        with gr.Row():
                            arith_image = Image(label="Generated image", type="filepath", elem_classes=["pixels"],
                                                format="png", height=260, elem_id="arith-image", scale=2)
                            neighbors = gr.Dataframe(headers=NEIGHBOR_HEADERS, label="Nearest concepts (pooled space)",
                                                     interactive=False, wrap=True, max_height=260, scale=3)
                        norms_plot = gr.Plot(label="Norm per token: raw sum vs. result")
                        with gr.Row():
                            phrase_pick = Dropdown([], label="Phrase", field="phrase", scale=3, allow_custom_value=True)
                            to_tokens = gr.Button("Inspect its tokens →", scale=1)
                        with gr.Accordion("Recipe", open=False):
                            arith_recipe = Code(label="Recipe (JSON)", language="json", lines=6, buttons=["copy"])
            # --- blend comparator ------------------------------------------------------------------
            with gr.Tab("Blend comparator", id="blend"):
                explain("Seven ways to blend two prompts, side by side from one seed: which operator keeps both "
                        "ingredients in the embedding, and which in the picture?", BLEND_MORE)
                with gr.Row():
                    a = Textbox(label="A", value=ctx.examples.blend[0], elem_id="blend-a")
                    b = Textbox(label="B", value=ctx.examples.blend[1], elem_id="blend-b")
                    b_seed = Number(label="Seed", value=0, info="integer in [0, 2^32)")
                    b_steps = Slider(1, cfg.max_steps, value=preset.steps, step=1, label="Steps")
                    b_guidance = Slider(0, cfg.max_guidance, value=preset.guidance, step=0.5, label="Guidance")
                with gr.Row():
                    w_a = Number(label="AND weight of A", field="and_weights[0]", value=1.0, info=f"in [{-MAX_WEIGHT:g}, {MAX_WEIGHT:g}]")
                    w_b = Number(label="AND weight of B", field="and_weights[1]", value=1.0, info=f"in [{-MAX_WEIGHT:g}, {MAX_WEIGHT:g}]")
                    blend_run = gr.Button("Compare the seven operators", variant="primary", elem_id="blend-btn")
                blend_status = gr.Markdown("Ready.", elem_id="blend-status", elem_classes=["status"])
                blend_gallery = gr.Gallery(label="Panels, one seed (click to enlarge; each PNG carries its recipe)",
                                           columns=7, height="auto", format="png", elem_id="blend-gallery",
                                           elem_classes=["steps", "captioned"])
                blend_table = gr.Dataframe(headers=BLEND_HEADERS, label="What each operator does, and how close "
                                           "the result stays to A and B", interactive=False, wrap=True,
                                           column_widths=["17%", "43%", "10%", "10%", "10%", "10%"])
                with gr.Accordion("Downloads: the seven PNGs", open=False):
                    blend_files = File(label="PNG files with recipes", file_count="multiple")
            # --- token inspector -------------------------------------------------------------------
            two_encoders = len(model.adapter.tokenizers(model.pipe)) > 1          # SDXL
            with gr.Tab("Token inspector", id="tokens"):
                explain("What the text encoder sees: the word pieces of a prompt, the start, end and padding "
                        "tokens, where the 77-token limit cuts, and the length of each token's vector.",
                        TOKENS_MORE.format(tokenizer=f"**The loaded model:** {about_tokenizer(model)}"))
                with gr.Row():
                    token_prompt = Textbox(label="Prompt", value=ctx.examples.tokens,
                                              scale=4, elem_id="token-prompt")
                    show_pad = Checkbox(label="show padding", value=False, scale=1)
                    inspect = gr.Button("Inspect", variant="primary", scale=1, elem_id="tokens-btn")
                token_summary = gr.Markdown(elem_id="token-summary")
                # one above the other: the table needs the page's width for its norm columns
                token_table = gr.Dataframe(headers=TOKEN_HEADERS_XL if two_encoders else TOKEN_HEADERS,
                                           label="Tokens", interactive=False, max_height=380)
                token_plot = gr.Plot(label="Norm per token")

    # --- handlers -----------------------------------------------------------------------------------
    @guard
    def on_tokens(prompt, show_padding):
        check_bool("show_padding", show_padding)
        report = encoding.tokens(model, prompt)
        second = report.second                        # SDXL: the second tokenizer and encoder
        words = report.words()
        rows = []
        for i, (row, t) in enumerate(zip(report.rows(), report.tokens)):
            if show_padding or t.kind != "pad":
                word = "" if t.word is None else words[t.word][0] + (" (split)" if len(words[t.word][1]) > 1 else "")
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
                 progress=gr.Progress(track_tqdm=True)):
        base = recipe_defaults(model, text_a or "", seed=as_int(seed_value), steps=as_int(steps_value),
                               guidance=guidance_value)
        progress(0.05, desc="generating seven panels")
        done = []                       # the denoising bar (track_tqdm) moves within a batch, this between panels

        def on_panel(panel):
            done.append(panel)
            progress((len(done), 7), desc=f"panel {len(done)} of 7: {panel.title}")

        result = compare(model, text_a, text_b, base, and_weights=(weight_a, weight_b), config=cfg,
                         on_panel=on_panel)
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
           api_name="arithmetic", concurrency_id="model")
    neighbor_inputs = [expression, kind, space, vocabulary, k, exclude]

    @guard
    def on_neighbors_page(text, kind, space_name, vocab, k_value, exclude_terms, request: gr.Request):
        """The page: the image, plot and recipe of an earlier expression are cleared, not left beside new rows."""
        return (*on_neighbors(text, kind, space_name, vocab, k_value, exclude_terms, request), None, None, "")

    ctx.listen(readback.click, on_neighbors_page, neighbor_inputs,
           [neighbors, arith_status, arith_image, norms_plot, arith_recipe], status=arith_status,
           concurrency_id="model")
    ctx.api_twin(on_neighbors, neighbor_inputs, [neighbors, arith_status], "neighbors", concurrency_id="model")
    ctx.listen(blend_run.click, on_blend, [a, b, b_seed, b_steps, b_guidance, w_a, w_b],
           [blend_gallery, blend_table, blend_files, blend_status], status=blend_status, api_name="blend",
           concurrency_id="model")
    token_outputs = [token_summary, token_table, token_plot]
    ctx.listen([inspect.click, token_prompt.submit], on_tokens, [token_prompt, show_pad], token_outputs,
           status=token_summary, api_name="tokens", concurrency_id="model")
    to_tokens.click(on_to_tokens, phrase_pick, [inner, token_prompt], api_visibility="private").then(
        keep_work(on_tokens, 3, 0, False), [token_prompt, show_pad], token_outputs, api_visibility="private",
        concurrency_id="model")


def _neighbors(model, text, kind, space_name, vocab, k_value, exclude_terms, cfg):
    check_space(space_name)
    _, _, found, note = nearest_concepts(model, text, as_int(k_value), vocab, kind=kind, space=space_name,
                                         exclude_terms=exclude_terms, config=cfg)
    return [[n.label, n.category, round(n.score, 3)] for n in found], note


def _round(value: float | None):
    return None if value is None else round(value, 3)
