"""The Generate tab: a prompt becomes an image, and every denoising step is shown as it happens.

A tab in the event layer's pattern (explorer.ui.events): `layout` builds the components and returns them named
(`UI`), the handlers at module level take the inputs' values and return {component: value}, `bind` wires them. The
attention maps shown after each generation are explorer.ui.generate_attention.
"""
from __future__ import annotations

import random
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import gradio as gr

from explorer.errors import InputError
from explorer.explore.attention import labelled
from explorer.generation.batcher import Waiting
from explorer.generation.forward import forward_process
from explorer.generation.recipe import SEED_MAX, Recipe, validate
from explorer.generation.watch import settle_step
from explorer.messages import joined, say
from explorer.models.presets import SCHEDULERS
from explorer.models.previews import available_decoders
from explorer.outputs.png import open_image, read_png, to_parameters
from explorer.outputs.saving import save_generation
from explorer.plots.steps import change_per_step_figure
from explorer.ui import generate_attention, generate_swaps
from explorer.ui.components import Checkbox, Code, Dropdown, File, Image, Number, Radio, Slider, Textbox, as_int
from explorer.ui.context import AppContext, View
from explorer.ui.files import check_upload, served
from explorer.ui.generate_attention import AttentionUI
from explorer.ui.generate_swaps import SwapsUI
from explorer.ui.i18n import t
from explorer.ui.pieces import explain, result_gallery, status_line, words_flag
from explorer.ui.streaming import Pacer

STREAM_EVERY_S = 0.25      # at most this often the step galleries are re-sent while the model works
STEP_COLUMNS = 10          # step galleries: 25 steps fit in three rows beside the settings
HISTORY_KEPT = 48          # images in a session's history strip (older ones stay in outputs/)
FIELD_NAMES = ("prompt", "negative_prompt", "seed", "steps", "guidance", "width", "height", "scheduler", "preview")


@dataclass
class UI:
    """The tab's components by name (layout's result), in page order."""

    history: gr.State                # [{"path", "recipe"}, ...]: this session's images
    loaded: gr.State                 # the full recipe last loaded (a PNG or the history): its kind is kept
    prompt: gr.Textbox
    run: gr.Button
    stop: gr.Button
    status: gr.Markdown
    negative: gr.Textbox
    seed: gr.Number
    randomize: gr.Checkbox
    steps: gr.Slider
    guidance: gr.Slider
    width: gr.Slider
    height: gr.Slider
    scheduler: gr.Dropdown
    preview: gr.Radio
    upload: gr.File
    image: gr.Image
    change_plot: gr.Plot
    noisy: gr.Gallery
    x0: gr.Gallery
    recipe_json: gr.Code
    parameters: gr.Textbox
    files: gr.File
    gallery: gr.Gallery
    attention: AttentionUI
    swaps: SwapsUI                   # when does a word still matter? (explorer.ui.generate_swaps)
    forward: gr.Accordion
    fwd_image: gr.Image
    fwd_levels: gr.Slider
    fwd_decoder: gr.Radio
    fwd_run: gr.Button
    fwd_status: gr.Markdown
    fwd_gallery: gr.Gallery

    def fields(self) -> list:
        """A recipe's fields, in FIELD_NAMES' order."""
        return [self.prompt, self.negative, self.seed, self.steps, self.guidance, self.width, self.height,
                self.scheduler, self.preview]

    def generate_inputs(self) -> list:
        return [self.prompt, self.negative, self.seed, self.randomize, self.steps, self.guidance, self.width,
                self.height, self.scheduler, self.preview, self.history, self.loaded]

    def generate_outputs(self) -> list:
        return [self.image, self.noisy, self.x0, self.change_plot, self.status, self.recipe_json, self.parameters,
                self.files, self.gallery, self.history, self.seed, self.fwd_image, self.attention.state]


def build(ctx: AppContext) -> None:
    ui = layout(ctx)
    ctx.generate_prompt = ui.prompt                  # other tabs send prompts here (the Map tab's picked concept)
    bind(ctx, ui)


# --------------------------------------------------------------------------- layout
def layout(ctx: AppContext) -> UI:
    with gr.Tab(t("generate.tab"), id="generate"):
        explain(t("generate.explain"), t("generate.more"))
        history = gr.State([])
        loaded = gr.State(None)
        with gr.Row():
            with gr.Column(scale=2, min_width=300):
                controls = _controls(ctx)
            with gr.Column(scale=3, min_width=400):
                results = _results()
        attention = generate_attention.layout(ctx)
        swaps = generate_swaps.layout(ctx)
        forward = _forward(ctx)
    return UI(history=history, loaded=loaded, **controls, **results, attention=attention, swaps=swaps, **forward)


def _controls(ctx: AppContext) -> dict:
    prompt = Textbox(label=t("common.prompt"), lines=2, value=ctx.examples.prompt, elem_id="prompt")
    with gr.Row():
        run = gr.Button(t("generate.run"), variant="primary", elem_id="generate-btn")
        stop = gr.Button(t("common.stop"), variant="stop", elem_id="stop-btn")
    status = status_line("status", t("common.ready"))
    negative = Textbox(label=t("common.negative_prompt"), lines=1, value="",
                       placeholder=t("generate.negative.placeholder"))
    with gr.Row():
        seed = Number(label=t("common.seed"), value=0, info=t("common.seed.info"))
        randomize = Checkbox(label=t("generate.random_seed"), field="randomize", value=False,
                             info=t("generate.random_seed.info"))
    settings = _settings(ctx)
    if ctx.examples.figures:
        gr.Examples([f.row() for f in ctx.examples.figures],
                    inputs=[prompt, seed, settings["steps"], settings["guidance"], settings["width"],
                            settings["height"]],
                    example_labels=[f.caption for f in ctx.examples.figures], label=t("generate.figures"))
    with gr.Accordion(t("generate.load_png"), open=False):
        upload = File(label=t("generate.png"), field="png", file_types=[".png"])
    return dict(prompt=prompt, run=run, stop=stop, status=status, negative=negative, seed=seed, randomize=randomize,
                upload=upload, **settings)


def _settings(ctx: AppContext) -> dict:
    """Steps, guidance, size, scheduler and preview, with the model's own limits (the Generate tab's are its
    preset's: not the closed accordion of explorer.ui.pieces.generation_settings)."""
    preset, cfg = ctx.model.preset, ctx.config
    steps = Slider(1, preset.max_steps or cfg.max_steps, value=preset.steps, step=1, label=t("common.steps"),
                   elem_id="steps", info=t("generate.steps.info"))
    guidance = Slider(0, cfg.max_guidance if preset.max_guidance is None else preset.max_guidance,
                      value=preset.guidance, step=0.5, label=t("common.guidance"), info=t("generate.guidance.info"))
    smallest = max(cfg.min_size, ctx.model.adapter.min_size)      # SDXL: 512
    with gr.Row():
        width = Slider(smallest, cfg.max_size, value=preset.size, step=8, label=t("generate.width"))
        height = Slider(smallest, cfg.max_size, value=preset.size, step=8, label=t("generate.height"))
    with gr.Row():
        scheduler = Dropdown(list(SCHEDULERS), value=preset.scheduler, label=t("common.scheduler"))
        preview = Radio(list(available_decoders(ctx.model)), value=preset.preview, label=t("generate.preview"),
                        info=t("generate.preview.info"))
    return dict(steps=steps, guidance=guidance, width=width, height=height, scheduler=scheduler, preview=preview)


def _results() -> dict:
    with gr.Row():
        image = Image(label=t("generate.result"), type="filepath", format="png", height=320, elem_id="result",
                      elem_classes=["pixels"])
        change_plot = gr.Plot(label=t("generate.change_plot"))
    # every step visible: as many rows as the steps need (height "auto"), numbers in the captions
    noisy = result_gallery(t("generate.noisy"), "xt-gallery", columns=STEP_COLUMNS, object_fit="contain")
    x0 = result_gallery(t("generate.x0"), "x0-gallery", columns=STEP_COLUMNS, object_fit="contain")
    with gr.Accordion(t("generate.recipe_box"), open=False):
        recipe_json = Code(label=t("common.recipe_json"), language="json", lines=6, buttons=["copy"])
        parameters = Textbox(label=t("generate.parameters"), lines=3, buttons=["copy"])
        files = File(label=t("generate.files"), file_count="multiple")
        gallery = gr.Gallery(label=t("generate.history"), columns=8, height=140, format="png")
    return dict(image=image, change_plot=change_plot, noisy=noisy, x0=x0, recipe_json=recipe_json,
                parameters=parameters, files=files, gallery=gallery)


def _forward(ctx: AppContext) -> dict:
    with gr.Accordion(t("forward.title"), open=False) as forward:
        explain(t("forward.explain"), t("forward.more"))
        with gr.Row():
            fwd_image = Image(label=t("forward.image"), field="image", type="filepath", height=200, format="png")
            with gr.Column():
                fwd_levels = Slider(2, 16, value=ctx.config.forward_levels, step=1, label=t("forward.levels"),
                                    field="levels")
                fwd_decoder = Radio(["full", "approx"], value="full", label=t("forward.decoder"))
                fwd_run = gr.Button(t("forward.run"))
                fwd_status = status_line()
        fwd_gallery = gr.Gallery(label=t("forward.gallery"), columns=8, height="auto", format="png",
                                 elem_classes=["steps", "captioned"], elem_id="forward-gallery")
    return dict(forward=forward, fwd_image=fwd_image, fwd_levels=fwd_levels, fwd_decoder=fwd_decoder,
                fwd_run=fwd_run, fwd_status=fwd_status, fwd_gallery=fwd_gallery)


# --------------------------------------------------------------------------- events
def bind(ctx: AppContext, ui: UI) -> None:
    generated = ctx.listen(
        [ui.run.click, ui.prompt.submit], partial(on_generate, ctx, ui), ui.generate_inputs(), ui.generate_outputs(),
        status=ui.status, api_name="generate", concurrency_id="generate", concurrency_limit=ctx.config.classroom_batch,
        view=View("generate", dict(prompt=ui.prompt, negative=ui.negative, seed=ui.seed, steps=ui.steps,
                                   guidance=ui.guidance, width=ui.width, height=ui.height, scheduler=ui.scheduler),
                  [(ctx.tabs, "generate")], result="result"))
    generate_attention.bind(ctx, ui.attention, generated)      # the maps after each generation; /attention
    generate_swaps.bind(ctx, ui.swaps, ui.fields(), _recipe)   # a word swapped at step k, a row of k; /swap_row
    ctx.listen(ui.stop.click, partial(on_stop, ctx, ui), None, ui.status, status=ui.status, api_name="stop",
               queue=False)                                   # on the page: in the session's language too
    ctx.listen(ui.upload.change, partial(on_upload, ctx, ui), ui.upload, [*ui.fields(), ui.loaded, ui.status],
               status=ui.status, api_name="load_recipe")
    ui.gallery.select(on_history_select, ui.history, [*ui.fields(), ui.loaded], api_visibility="private")
    ctx.listen(ui.fwd_run.click, partial(on_forward, ctx, ui), [ui.fwd_image, ui.fwd_levels, ui.fwd_decoder],
               ui.fwd_gallery, status=ui.fwd_status, api_name="forward_process", concurrency_id="model",
               view=View("forward", dict(image=ui.fwd_image, levels=ui.fwd_levels), [(ctx.tabs, "generate")],
                         opens=[ui.forward], result="forward-gallery"))


# --------------------------------------------------------------------------- handlers
def on_generate(ctx: AppContext, ui: UI, prompt, negative, seed, randomize, steps, guidance, width, height,
                scheduler, preview, history, loaded, request: gr.Request, progress=gr.Progress()):
    # the steps streamed to the galleries as the model makes them, then the image saved with its recipe, the change
    # per step, the files and the history (no docstring: it would become the /generate API's description)
    # 1. the recipe, validated before the model starts
    recipe = _recipe(ctx, loaded, prompt=prompt, negative=negative, seed=seed, randomize=randomize, steps=steps,
                     guidance=guidance, width=width, height=height, scheduler=scheduler, preview=preview)
    # 2. run the model in a worker thread, stream its steps (stopped by Stop, a cancel, leaving, the time limit)
    plain = labelled(recipe)          # maps labelled by words: plain prompts and AND (SD3/FLUX: joint attention)
    # (other users' requests with the same settings share the model's batch: explorer.generation.batcher)
    stream, deadline = ctx.stream(lambda report: ctx.batcher.generate(recipe, on_step=report, on_wait=report,
                                                                      cancel=ctx.stop_event(request),
                                                                      attention=plain),
                                  "generate", request)
    link = _linker(ctx, request)
    result = yield from _steps(ctx, ui, stream, link, progress)
    if result.image is None:                    # stopped before its first step: nothing was made, nothing saved
        yield {ui.status: say("generate.stopped_before") + deadline.note()}
        return
    # 3. save everything: PNG with recipe, GIF and contact sheet of the steps; the attention maps kept
    yield _generated(ctx, ui, recipe, result, history, deadline.note(), link, request, plain)


def _recipe(ctx: AppContext, loaded: dict | None, *, prompt, negative, seed, randomize, steps, guidance, width,
            height, scheduler, preview) -> Recipe:
    """The page's fields as a validated recipe (a loaded recipe with the same prompt keeps its kind)."""
    if randomize:
        seed = random.randrange(SEED_MAX)
    recipe = Recipe(model=ctx.model.name, prompt=prompt or "", negative_prompt=negative or "", seed=as_int(seed),
                    steps=as_int(steps), guidance=guidance, width=as_int(width), height=as_int(height),
                    scheduler=scheduler, preview=preview)
    if loaded is not None and loaded.get("prompt") == prompt:
        recipe = Recipe.from_dict(loaded).with_(**{k: getattr(recipe, k) for k in FIELD_NAMES if k != "prompt"},
                                                model=ctx.model.name)
    return validate(recipe, ctx.config)


def _linker(ctx: AppContext, request):
    """picture -> its link for this user: each step picture published (written) once, then re-linked."""
    links = {}                                  # id(picture) -> (picture, its link)

    def link(picture):
        if id(picture) not in links:
            links[id(picture)] = (picture, ctx.publish(picture, request))
        return links[id(picture)][1]
    return link


def _steps(ctx: AppContext, ui: UI, stream, link, progress):
    """Yields the step galleries and the status line while the model works (the queue position while it waits);
    returns the finished (or stopped) generation."""
    previews, item = [], None
    # a shared batch streams to every user in it: each re-sends its galleries less often (the CPU is theirs)
    pace = Pacer(STREAM_EVERY_S * max(1, ctx.batcher.running))
    for kind, item in stream:
        if kind == "done":
            break
        if isinstance(item, Waiting):           # queue position and the estimated wait
            yield {ui.status: item.sentence()}
            continue
        previews.append(item)
        progress((item.index + 1, item.total), desc=say("generate.progress", i=item.index + 1, n=item.total))
        if pace.due():
            with pace.sending():
                yield {**_step_rows(ui, previews, link),
                       ui.status: say("generate.denoising", i=item.index + 1, n=item.total, t=item.timestep)}
    return item


def _generated(ctx: AppContext, ui: UI, recipe: Recipe, result, history: list, deadline_note: str, link, request,
               plain: bool) -> dict:
    """A finished (or stopped) generation's outputs: the image saved with its recipe, its steps, the change per
    step, the status line, the files, the history, and the attention maps kept for the views."""
    files = save_generation(result, ctx.config.outputs_dir)
    saved = ctx.publish(served(files.png), request)
    changes = [s.change for s in result.steps]
    settle = settle_step(changes)
    history = (history + [{"path": saved, "recipe": recipe.to_dict()}])[-HISTORY_KEPT:]
    maps = generate_attention.keep_maps(ctx, request, result, saved) \
        if plain and result.attention is not None else None
    return {ui.image: saved, **_step_rows(ui, result.steps, link),
            ui.change_plot: change_per_step_figure(changes, settle),
            ui.status: _done_note(recipe, result, settle, deadline_note, files.png.name) + words_flag(
                ctx.model, [recipe.prompt, recipe.negative_prompt]),
            ui.recipe_json: recipe.to_json(), ui.parameters: to_parameters(recipe),
            ui.files: [ctx.publish(served(p), request) for p in files.paths], ui.gallery: [h["path"] for h in history],
            ui.history: history, ui.seed: recipe.seed, ui.fwd_image: saved, ui.attention.state: maps}


def _done_note(recipe: Recipe, result, settle: int | None, deadline_note: str, name: str):
    """The status line of a finished or stopped generation: what was made, where it settled, where it is saved."""
    if result.cancelled:
        note = say("generate.stopped_after", n=len(result.steps))
    else:
        note = say("generate.done_one_step" if recipe.steps == 1 else "generate.done", seed=recipe.seed,
                   steps=recipe.steps)
    note += deadline_note
    if settle is not None and not result.cancelled:
        note += " " + say("generate.settles", n=settle + 1)
    return note + " " + say("generate.saved_as", name=name)


def _step_rows(ui: UI, previews, link=lambda picture: picture) -> dict:
    """The x_t and x0 galleries' values; `link` turns a picture into the link sent (the same link at every update)."""
    return {ui.noisy: [(link(p.noisy), f"{p.index + 1}: {p.label}") for p in previews],
            ui.x0: [(link(p.x0), f"{p.index + 1}") for p in previews]}


def on_stop(ctx: AppContext, ui: UI, request: gr.Request):
    ctx.stop_event(request).set()
    return {ui.status: say("generate.stopping")}


def on_upload(ctx: AppContext, ui: UI, path):
    if not path:
        return {}
    check_upload("png", path, ctx.config)
    recipe, ignored = read_png(path, ctx.config.max_image_pixels)
    recipe = validate(recipe.with_(model=ctx.model.name), ctx.config)
    note = say("generate.loaded", name=Path(str(path)).name, seed=recipe.seed, steps=recipe.steps)
    if ignored:
        note += " " + say("generate.not_used") + " " + joined("; ", ignored)
    return {**dict(zip(ui.fields(), _fields_from(recipe))), ui.loaded: recipe.to_dict(), ui.status: "**" + note + "**"}


def on_history_select(history, evt: gr.SelectData):
    """The recipe of the image clicked in the history, in the fields (bound without the event layer: no text; one
    value per output, the fields then the loaded recipe)."""
    recipe = Recipe.from_dict(history[evt.index]["recipe"])
    return [*_fields_from(recipe), recipe.to_dict()]


def on_forward(ctx: AppContext, ui: UI, image, levels, decoder):
    if not image:
        raise InputError("image", say("generate.forward.image"), image)
    check_upload("image", image, ctx.config)
    picture = open_image(image, "image", ctx.config.max_image_pixels)
    noised = forward_process(ctx.model, picture, levels=as_int(levels), decoder=decoder,
                             width=ctx.model.preset.size, height=ctx.model.preset.size)
    return {ui.fwd_gallery: [(n.image, n.caption) for n in noised]}


def _fields_from(recipe: Recipe) -> list:
    """A recipe's values for the fields (UI.fields), in FIELD_NAMES' order."""
    return [getattr(recipe, name) for name in FIELD_NAMES]
