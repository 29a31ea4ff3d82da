"""The Generate tab: a prompt becomes an image, and every denoising step is shown as it happens."""
from __future__ import annotations

import random
import time
from pathlib import Path

import gradio as gr
import numpy as np
from PIL import Image as PILImage

from explorer.checks import check_bool, check_choice
from explorer.errors import InputError
from explorer.explore.attention import attend, label_rows, labelled
from explorer.generation.attention import compact_maps
from explorer.generation.batcher import Waiting
from explorer.generation.forward import forward_process
from explorer.generation.recipe import SEED_MAX, Recipe, validate
from explorer.generation.watch import settle_step
from explorer.models.presets import SCHEDULERS
from explorer.models.previews import available_decoders
from explorer.outputs.heatmaps import attention_json, heat, overlay
from explorer.outputs.png import open_image, read_png, to_parameters
from explorer.outputs.saving import ATTENTION_NOTE, flat_note, save_generation
from explorer.plots.steps import change_per_step_figure
from explorer.ui.components import Checkbox, Code, Dropdown, File, Image, Number, Radio, Slider, Textbox, as_int
from explorer.ui.context import AppContext, View
from explorer.ui.events import guard
from explorer.ui.files import check_upload, served
from explorer.ui.pieces import explain, words_flag
from explorer.ui.i18n import t

STREAM_EVERY_S = 0.25      # at most this often the step galleries are re-sent while the model works
STEP_COLUMNS = 10          # step galleries: 25 steps fit in three rows beside the settings
HISTORY_KEPT = 48          # images in a session's history strip (older ones stay in outputs/)


def build(ctx: AppContext) -> None:
    preset, cfg = ctx.model.preset, ctx.config
    with gr.Tab(t("generate.tab"), id="generate"):
        explain(t("generate.explain"), t("generate.more"))
        history = gr.State([])
        loaded = gr.State(None)        # the full recipe last loaded (a PNG or the history): its kind is kept
        with gr.Row():
            with gr.Column(scale=2, min_width=300):
                prompt = Textbox(label=t("common.prompt"), lines=2, value=ctx.examples.prompt,
                                    elem_id="prompt")
                ctx.generate_prompt = prompt
                with gr.Row():
                    run = gr.Button(t("generate.run"), variant="primary", elem_id="generate-btn")
                    stop = gr.Button(t("common.stop"), variant="stop", elem_id="stop-btn")
                status = gr.Markdown(t("common.ready"), elem_classes=["status"], elem_id="status")
                negative = Textbox(label=t("common.negative_prompt"), lines=1, value="",
                                   placeholder=t("generate.negative.placeholder"))
                with gr.Row():
                    seed = Number(label=t("common.seed"), value=0, info=t("common.seed.info"))
                    randomize = Checkbox(label=t("generate.random_seed"), field="randomize", value=False,
                                         info=t("generate.random_seed.info"))
                steps = Slider(1, preset.max_steps or cfg.max_steps, value=preset.steps, step=1,
                               label=t("common.steps"), elem_id="steps", info=t("generate.steps.info"))
                guidance = Slider(0, cfg.max_guidance if preset.max_guidance is None else preset.max_guidance,
                                  value=preset.guidance, step=0.5, label=t("common.guidance"),
                                  info=t("generate.guidance.info"))
                smallest = max(cfg.min_size, ctx.model.adapter.min_size)      # SDXL: 512
                with gr.Row():
                    width = Slider(smallest, cfg.max_size, value=preset.size, step=8, label=t("generate.width"))
                    height = Slider(smallest, cfg.max_size, value=preset.size, step=8, label=t("generate.height"))
                with gr.Row():
                    scheduler = Dropdown(list(SCHEDULERS), value=preset.scheduler, label=t("common.scheduler"))
                    preview = Radio(list(available_decoders(ctx.model)), value=preset.preview,
                                    label=t("generate.preview"), info=t("generate.preview.info"))
                if ctx.examples.figures:
                    gr.Examples([f.row() for f in ctx.examples.figures], inputs=[prompt, seed, steps, guidance, width,
                                                                             height],
                                example_labels=[f.caption for f in ctx.examples.figures],
                                label=t("generate.figures"))
                with gr.Accordion(t("generate.load_png"), open=False):
                    upload = File(label=t("generate.png"), field="png", file_types=[".png"])
            with gr.Column(scale=3, min_width=400):
                with gr.Row():
                    image = Image(label=t("generate.result"), type="filepath", format="png", height=320,
                                  elem_id="result", elem_classes=["pixels"])
                    change_plot = gr.Plot(label=t("generate.change_plot"))
                # every step visible: as many rows as the steps need (height "auto"), numbers in the captions
                noisy = gr.Gallery(label=t("generate.noisy"), columns=STEP_COLUMNS,
                                   height="auto", format="png", elem_id="xt-gallery", object_fit="contain",
                                   elem_classes=["steps"])
                x0 = gr.Gallery(label=t("generate.x0"), columns=STEP_COLUMNS,
                                height="auto", format="png", elem_id="x0-gallery", object_fit="contain",
                                elem_classes=["steps"])
                with gr.Accordion(t("generate.recipe_box"), open=False):
                    recipe_json = Code(label=t("common.recipe_json"), language="json", lines=6, buttons=["copy"])
                    parameters = Textbox(label=t("generate.parameters"), lines=3,
                                            buttons=["copy"])
                    files = File(label=t("generate.files"), file_count="multiple")
                    gallery = gr.Gallery(label=t("generate.history"),
                                         columns=8, height=140, format="png")
        attention_state = gr.State(None)      # this user's last maps: {"kept": token in ctx.sessions, "rows": [...]}
        with gr.Accordion(t("attention.title"), open=True, elem_id="attention"):
            explain(t("attention.explain"), t("attention.more"))
            with gr.Row():
                att_word = Dropdown([], label=t("attention.word"), field="word", elem_id="att-word",
                                    elem_classes=["data-words"],                      # the prompt's own words
                                    allow_custom_value=True, info=t("attention.word.info"))
                att_half = Dropdown(["prompt", "negative"], value="prompt", label=t("attention.half"), field="half",
                                    allow_custom_value=True,    # AND recipes have a row per term: prompt 1, 2
                                    info=t("attention.half.info"))
                att_special = Checkbox(label=t("attention.special"), field="special", value=True,
                                       info=t("attention.special.info"))
            att_note = gr.Markdown(t("attention.note"), elem_id="att-note")
            with gr.Row():
                att_overlay = Image(label=t("attention.overlay"), field="overlay", type="pil",
                                    height=256, format="png", elem_id="att-overlay")
                att_grid = gr.Gallery(label=t("attention.grid"), columns=4, height="auto", format="png",
                                      elem_id="att-grid", elem_classes=["steps", "captioned"])
            att_steps = gr.Gallery(label=t("attention.steps"),
                                   columns=STEP_COLUMNS, height="auto", format="png", elem_id="att-steps",
                                   elem_classes=["steps"])
        with gr.Accordion(t("forward.title"), open=False) as forward:
            explain(t("forward.explain"), t("forward.more"))
            with gr.Row():
                fwd_image = Image(label=t("forward.image"), field="image", type="filepath",
                                     height=200, format="png")
                with gr.Column():
                    fwd_levels = Slider(2, 16, value=cfg.forward_levels, step=1, label=t("forward.levels"),
                                        field="levels")
                    fwd_decoder = Radio(["full", "approx"], value="full", label=t("forward.decoder"))
                    fwd_run = gr.Button(t("forward.run"))
                    fwd_status = gr.Markdown("", elem_classes=["status"])
            fwd_gallery = gr.Gallery(label=t("forward.gallery"), columns=8, height="auto", format="png",
                                     elem_classes=["steps", "captioned"], elem_id="forward-gallery")

    fields = [prompt, negative, seed, steps, guidance, width, height, scheduler, preview]

    @guard
    def on_generate(prompt, negative, seed, randomize, steps, guidance, width, height, scheduler, preview,
                    history, loaded, request: gr.Request, progress=gr.Progress()):
        # 1. the recipe, validated before the model starts
        if randomize:
            seed = random.randrange(SEED_MAX)
        recipe = Recipe(model=ctx.model.name, prompt=prompt or "", negative_prompt=negative or "",
                        seed=as_int(seed), steps=as_int(steps), guidance=guidance, width=as_int(width),
                        height=as_int(height), scheduler=scheduler, preview=preview)
        if loaded is not None and loaded.get("prompt") == prompt:     # a loaded recipe keeps its kind
            recipe = Recipe.from_dict(loaded).with_(**{k: getattr(recipe, k) for k in FIELD_NAMES if k != "prompt"},
                                                    model=ctx.model.name)
        validate(recipe, cfg)
        # 2. run the model in a worker thread, stream its steps (stopped by Stop, a cancel, leaving, the time limit)
        previews, last, links = [], 0.0, {}       # links: id(picture) -> (picture, its link): each written once
        plain = labelled(recipe)                    # maps are labelled by words: plain prompts and AND
        # (other users' requests with the same settings share the model's batch: explorer.generation.batcher)
        stream, deadline = ctx.stream(lambda report: ctx.batcher.generate(recipe, on_step=report, on_wait=report,
                                                                          cancel=ctx.stop_event(request),
                                                                          attention=plain),
                                      "generate", request)

        def once(picture):                          # each step picture is published (written) once, then re-linked
            if id(picture) not in links:
                links[id(picture)] = (picture, ctx.publish(picture, request))
            return links[id(picture)][1]

        for kind, item in stream:
            if kind == "done":
                break
            if isinstance(item, Waiting):           # queue position and the estimated wait
                yield (*[gr.skip()] * 4, item.sentence(), *[gr.skip()] * 8)
                continue
            previews.append(item)
            progress((item.index + 1, item.total), desc=f"step {item.index + 1}/{item.total}")
            # a shared batch streams to every user in it: each re-sends its galleries less often (the CPU is theirs)
            if time.monotonic() - last > STREAM_EVERY_S * max(1, ctx.batcher.running):
                last = time.monotonic()
                yield (gr.skip(), *_step_rows(previews, once), gr.skip(), f"Denoising… step {item.index + 1} of "
                       f"{item.total} (t = {item.timestep})", gr.skip(), gr.skip(), gr.skip(), gr.skip(),
                       gr.skip(), gr.skip(), gr.skip(), gr.skip())
        result = item
        if result.image is None:                    # stopped before its first step: nothing was made, nothing saved
            yield (*[gr.skip()] * 4, "Stopped before the first step: nothing was made or saved." + deadline.note(),
                   *[gr.skip()] * 8)
            return
        # 3. save everything: PNG with recipe, GIF and contact sheet of the steps
        files = save_generation(result, cfg.outputs_dir)
        saved = ctx.publish(served(files.png), request)
        outputs = [ctx.publish(served(p), request) for p in files.paths]
        changes = [s.change for s in result.steps]
        settle = settle_step(changes)
        note = f"Stopped after step {len(result.steps)}: the partial image is saved." if result.cancelled else \
            f"Done: seed {recipe.seed}, {recipe.steps} steps."
        note += deadline.note()
        if settle is not None and not result.cancelled:
            note += f" The picture settles at step {settle + 1} (x0 changes < 10% of its largest change after it)."
        history = (history + [{"path": saved, "recipe": recipe.to_dict()}])[-HISTORY_KEPT:]
        maps = _keep_attention(ctx, request, _attention_state(ctx.model, result, saved, cfg.max_session_bytes)) \
            if plain and result.attention is not None else None
        yield (saved, *_step_rows(result.steps, once), change_per_step_figure(changes, settle),
               f"{note} Saved as `{files.png.name}` with its recipe (download it under *Recipe, downloads and "
               "history*)." + words_flag(ctx.model, [recipe.prompt, recipe.negative_prompt]), recipe.to_json(), to_parameters(recipe), outputs, [h["path"] for h in history], history,
               recipe.seed, saved, maps)

    @guard
    def on_attention_view(state, word, half, special):
        check_bool("special", special)
        if not state:
            return gr.update(choices=[], value=None), None, [], [], (
                "Maps are recorded for plain prompts: generate one to see where each word is attended.")
        check_choice("half", half, list(state["rows"]))
        state = ctx.sessions.kept(state["kept"])          # the maps themselves live in the byte-bounded store
        if state is None:
            return gr.update(choices=[], value=None), None, [], [], (
                "The maps of your last image were dropped to free the server's memory: generate again to see them.")
        return attention_views(state, word, half, special)

    @guard
    def api_attention(prompt: str, negative_prompt: str = "", seed: int = 0, steps: int = preset.steps,
                      guidance: float = preset.guidance, width: int = preset.size, height: int = preset.size,
                      scheduler: str = preset.scheduler, request: gr.Request = None) -> dict:
        """Cross-attention maps of a plain prompt: the tokens as the tokenizer shows them, one map per token
        (aggregated over steps, at latent resolution), each word's share of the attention on the prompt's words
        (`shares`, summing to 1), start, end and padding apart (`special`: shares of all attention), and the recipe."""
        recipe = validate(Recipe(model=ctx.model.name, prompt=prompt, negative_prompt=negative_prompt or "",
                                 seed=as_int(seed), steps=as_int(steps), guidance=guidance, width=as_int(width),
                                 height=as_int(height), scheduler=scheduler), cfg)
        stream, _ = ctx.stream(lambda report: attend(ctx.model, recipe, cancel=ctx.stop_event(request), watch=False,
                                                     config=cfg), "attention", request)
        result = None
        for kind, item in stream:          # run to the end (the stream closes its worker)
            if kind == "done":
                result = item
        views = result.prompt
        return {**attention_json(views.labels, views.kinds, views.aggregate, [ATTENTION_NOTE, *flat_note(views)]),
                "shares": views.shares(), "special": views.special(), "flat": views.flat(),
                "steps": int(views.steps.shape[0]),
                "cancelled": result.generation.cancelled, "recipe": recipe.to_dict()}

    def on_attention_fresh(state, half, special):
        """After a generation: the new prompt's first word (the dropdown's old word may not be in it)."""
        if state is not None and half not in state["rows"]:
            half = state["rows"][0]
        views = on_attention_view(state, None, half, special)
        rows = list(state["rows"]) if state is not None else ["prompt", "negative"]
        return (*views, gr.update(choices=rows, value=half))

    def on_stop(request: gr.Request):
        ctx.stop_event(request).set()
        return "Stopping after the current step…"

    @guard
    def on_upload(path):
        if not path:
            return [gr.skip()] * (len(fields) + 2)
        check_upload("png", path, cfg)
        recipe, ignored = read_png(path, cfg.max_image_pixels)
        recipe = validate(recipe.with_(model=ctx.model.name), cfg)
        note = (f"Loaded the recipe of {Path(str(path)).name}: seed {recipe.seed}, {recipe.steps} steps. Press "
                "Generate to make it." + (" Not used here: " + "; ".join(ignored) if ignored else ""))
        return [*_fields_from(recipe), recipe.to_dict(), f"**{note}**"]

    def on_history_select(history, evt: gr.SelectData):
        recipe = Recipe.from_dict(history[evt.index]["recipe"])
        return [*_fields_from(recipe), recipe.to_dict()]

    @guard
    def on_forward(image, levels, decoder):
        if not image:
            raise InputError("image", "an image (generate one, or upload a PNG/JPEG)", image)
        check_upload("image", image, cfg)
        picture = open_image(image, "image", cfg.max_image_pixels)
        noised = forward_process(ctx.model, picture, levels=as_int(levels), decoder=decoder,
                                 width=ctx.model.preset.size, height=ctx.model.preset.size)
        return [(n.image, n.caption) for n in noised]

    outputs = [image, noisy, x0, change_plot, status, recipe_json, parameters, files, gallery, history, seed,
               fwd_image, attention_state]
    views = [att_word, att_overlay, att_grid, att_steps, att_note]
    ctx.listen([run.click, prompt.submit], on_generate, [*fields[:3], randomize, *fields[3:], history, loaded], outputs,
           status=status, api_name="generate", concurrency_id="generate", concurrency_limit=cfg.classroom_batch,
           view=View("generate", dict(prompt=prompt, negative=negative, seed=seed, steps=steps, guidance=guidance,
                                      width=width, height=height, scheduler=scheduler), [(ctx.tabs, "generate")],
                     result="result")).then(
        on_attention_fresh, [attention_state, att_half, att_special], [*views, att_half], api_visibility="private")
    ctx.apis.append((api_attention, "attention"))
    ctx.listen([c.input for c in (att_word, att_half, att_special)], on_attention_view,
           [attention_state, att_word, att_half, att_special], views, status=att_note)
    ctx.listen(stop.click, on_stop, None, status, status=status, api_name="stop", queue=False)   # page: German too
    ctx.listen(upload.change, on_upload, upload, [*fields, loaded, status], status=status, api_name="load_recipe")
    gallery.select(on_history_select, history, [*fields, loaded], api_visibility="private")
    ctx.listen(fwd_run.click, on_forward, [fwd_image, fwd_levels, fwd_decoder], fwd_gallery, status=fwd_status,
           api_name="forward_process", concurrency_id="model",
           view=View("forward", dict(image=fwd_image, levels=fwd_levels), [(ctx.tabs, "generate")], opens=[forward],
                     result="forward-gallery"))



def _attention_state(model, result, image_path: str, max_bytes: int) -> dict:
    """What the attention views need of one generation, per session: the image and each row's maps, compacted to
    `max_bytes` in all (explorer.generation.attention.compact_maps: one byte a cell, coarser per-step maps)."""
    halves = label_rows(model, result.recipe, result.attention)
    share = max_bytes // max(1, len(halves))
    return {"image": image_path, "halves": {row: compact_maps(views, share) for row, views in halves.items()}}


def _keep_attention(ctx: AppContext, request, state: dict) -> dict:
    """Keep a session's maps in its byte-bounded store (explorer.ui.sessions); gr.State holds only their token and
    row names, so gradio's per-session state stays small."""
    nbytes = sum(views.nbytes for views in state["halves"].values())
    return {"kept": ctx.sessions.keep(request, state, nbytes, name="attention"), "rows": list(state["halves"])}


def attention_views(state: dict, word: str | None, half: str, special: bool):
    """The word dropdown, the overlay, every word's map, the chosen word per step, and a note."""
    views = state["halves"][half]
    choices = views.choices(special)
    mass = views.mass()
    shares = {**views.special(mass), **views.shares(mass)}     # words: of the words' attention; the rest: of all
    if not word:                                # the word that drew the most attention
        word = max((w for w, _ in views.words), key=shares.get) if views.words else choices[0]
    views.indices(word)                         # a word not in this prompt: an error naming the field "word"
    picture = PILImage.open(state["image"]).convert("RGB")
    if max(picture.size) < OVERLAY_MIN:         # small images shown large, with crisp pixels
        scale = -(-OVERLAY_MIN // max(picture.size))
        picture = picture.resize((picture.width * scale, picture.height * scale), PILImage.NEAREST)
    aggregate = views.aggregate.astype(np.float32)
    flat = set(views.flat())
    grid = [(overlay(picture, aggregate[views.indices(name)].sum(axis=0)),
             f"{_short(name)} {shares[name]:.0%}" + (" ~" if name in flat else "")) for name in choices]
    steps = [(heat(m.astype(np.float32), (128, 128)), f"{i + 1}") for i, m in enumerate(views.word_steps(word))]
    lines = [f"**{word}** ({half} half) drew {shares[word]:.0%} of the attention on the prompt's words."
             if word in dict(views.words) else f"**{word}** ({half} half) drew {shares[word]:.0%} of all attention."]
    if flat:
        lines.append(f"Nearly flat maps (marked ~): {', '.join(sorted(flat, key=choices.index))}.")
    if word in flat:
        lines.append("Its map is **nearly flat** (max/min below 1.5): the model attended to it about equally "
                     "everywhere; the colours stretch small differences.")
    special = views.special(mass)
    lines.append(f"Start, end and padding tokens together drew {sum(special.values()):.0%} of all attention; "
                 "the words' shares are of the rest.")
    return (gr.update(choices=choices, value=word), overlay(picture, aggregate[views.indices(word)].sum(axis=0)),
            grid, steps, " ".join(lines))


OVERLAY_MIN = 256          # pixels: smaller results are enlarged (nearest neighbour) under their maps


def _short(name: str) -> str:
    """Short captions for the map grid: start, end, padding."""
    return {"<|startoftext|>": "start", "<|endoftext|>": "end"}.get(name, "padding" if name.startswith("padding")
                                                                     else name.replace("</w>", ""))


def _step_rows(previews, link=lambda picture: picture):
    """The x_t and x0 galleries' values; `link` turns a picture into the link sent (the same link at every update)."""
    return ([(link(p.noisy), f"{p.index + 1}: {p.timestep}") for p in previews],
            [(link(p.x0), f"{p.index + 1}") for p in previews])


FIELD_NAMES = ("prompt", "negative_prompt", "seed", "steps", "guidance", "width", "height", "scheduler", "preview")


def _fields_from(recipe: Recipe):
    return [recipe.prompt, recipe.negative_prompt, recipe.seed, recipe.steps, recipe.guidance, recipe.width,
            recipe.height, recipe.scheduler, recipe.preview]

