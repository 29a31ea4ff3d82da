"""A picture into the archive: the inversion view beside the archive (Search tab) and its API endpoints.

Upload a picture (or two): it is inverted to the noise the model draws it from (explorer.explore.inversion), drawn
again from that noise beside the original with its PSNR, its noise compared with a real seed's, the x_t / x0 of the
way back, where it sits in the archive (nearest images, novelty: explorer.archive) and under the Gaussian prior;
then edited under another prompt, or walked to the second picture. Layout apart from handlers (explorer.ui.events).

    invert_view.build(ctx)           # search_tab.layout, inside the Search tab
    invert_view.register(ctx)        # app.after_tabs: /invert and /invert_walk (API only)
"""
from __future__ import annotations

import tempfile
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import gradio as gr
from PIL import Image as PILImage

from explorer.archive.retrieval import nearest_images
from explorer.checks import check_text
from explorer.concepts.vocabularies import builtin_vocabulary
from explorer.errors import InputError
from explorer.explore.curves import response_curves
from explorer.explore.inversion import METHODS, Inversion, edit, invert, walk_pictures
from explorer.explore.walks import export_walk
from explorer.generation.recipe import MAX_PROMPT_CHARS
from explorer.messages import say
from explorer.models.vision import load_vision
from explorer.outputs.png import open_image
from explorer.plots.walks import response_figure
from explorer.ui import archive_api
from explorer.ui.components import Image, Radio, Slider, Textbox, as_int
from explorer.ui.context import AppContext, View
from explorer.ui.events import guard
from explorer.ui.i18n import t
from explorer.ui.pieces import result_gallery, status_line


@dataclass
class UI:
    """The view's components by name (layout's result), in page order."""

    image: gr.Image
    image_b: gr.Image
    prompt: gr.Textbox
    edit_prompt: gr.Textbox
    steps: gr.Slider
    guidance: gr.Slider
    method: gr.Radio
    frames: gr.Slider
    invert_btn: gr.Button
    edit_btn: gr.Button
    walk_btn: gr.Button
    status: gr.Markdown
    pictures: gr.Gallery
    figures: gr.Markdown
    way_back: gr.Gallery
    nearest: gr.Gallery
    walk_gif: gr.Image
    walk_curve: gr.Plot
    inversion: gr.State
    box: gr.Accordion                 # the view's accordion (the lesson opens it)


def build(ctx: AppContext) -> None:
    bind(ctx, layout(ctx))


def layout(ctx: AppContext) -> UI:
    preset, cfg = ctx.model.preset, ctx.config
    with gr.Accordion(t("invert.title"), open=False) as box:
        gr.Markdown(t("invert.explain"), elem_classes=["explain"])
        with gr.Row():
            image = Image(label=t("invert.image"), field="image", type="filepath", format="png", height=200)
            image_b = Image(label=t("invert.image_b"), field="image_b", type="filepath", format="png", height=200)
        with gr.Row():
            prompt = Textbox(label=t("invert.prompt"), field="prompt", placeholder=t("invert.prompt.placeholder"))
            edit_prompt = Textbox(label=t("invert.edit_prompt"), field="edit_prompt")
        with gr.Row():
            steps = Slider(1, cfg.max_steps, value=preset.steps, step=1, label=t("common.steps"), field="steps")
            guidance = Slider(0, cfg.max_guidance, value=preset.guidance, step=0.5, label=t("common.guidance"),
                              field="guidance")
            method = Radio(list(METHODS), value="ddim", label=t("invert.method"), field="method")
            frames = Slider(2, cfg.max_frames, value=6, step=1, label=t("interpolate.frames"), field="frames")
        with gr.Row():
            invert_btn = gr.Button(t("invert.run"), variant="primary", elem_id="invert-btn")
            edit_btn = gr.Button(t("invert.edit"), elem_id="invert-edit-btn")
            walk_btn = gr.Button(t("invert.walk"), elem_id="invert-walk-btn")
        status = status_line("invert-status", t("common.ready"))
        pictures = result_gallery(t("invert.pictures"), "invert-pictures", columns=4)
        figures = gr.Markdown("", elem_id="invert-figures")
        way_back = result_gallery(t("invert.way_back"), "invert-way-back", columns=10)
        nearest = result_gallery(t("invert.nearest"), "invert-nearest", columns=8)
        with gr.Row():
            walk_gif = Image(label=t("interpolate.gif"), type="filepath", height=220)
            walk_curve = gr.Plot(label=t("interpolate.curve"))
        inversion = gr.State(None)
    return UI(image, image_b, prompt, edit_prompt, steps, guidance, method, frames, invert_btn, edit_btn, walk_btn,
              status, pictures, figures, way_back, nearest, walk_gif, walk_curve, inversion, box)


def bind(ctx: AppContext, ui: UI) -> None:
    settings = [ui.prompt, ui.steps, ui.guidance, ui.method]
    ctx.listen(ui.invert_btn.click, partial(on_invert, ctx, ui), [ui.image, *settings, ui.edit_prompt],
               [ui.pictures, ui.figures, ui.way_back, ui.nearest, ui.inversion, ui.status], status=ui.status,
               concurrency_id="model",
               view=View("invert", dict(image=ui.image, prompt=ui.prompt, edit_prompt=ui.edit_prompt, steps=ui.steps,
                                        guidance=ui.guidance, method=ui.method), [(ctx.tabs, "search")],
                         opens=[ui.box], result="invert-pictures"))        # the lesson's inversion chapter
    ctx.listen(ui.edit_btn.click, partial(on_edit, ctx, ui), [ui.inversion, ui.edit_prompt],
               [ui.pictures, ui.status], status=ui.status, concurrency_id="model")
    ctx.listen(ui.walk_btn.click, partial(on_walk, ctx, ui), [ui.image, ui.image_b, *settings, ui.frames],
               [ui.walk_gif, ui.walk_curve, ui.status], status=ui.status, concurrency_id="model")


# --------------------------------------------------------------------------- the library, as the page asks it
def picture_from(path, cfg, field_name: str = "image"):
    """An uploaded picture, refused when missing, not an image or too large (decompression bombs)."""
    if not path:
        raise InputError(field_name, say("inversion.allowed.picture"), None)
    return open_image(path, field_name, cfg.max_image_pixels).convert("RGB")


def run_inversion(ctx: AppContext, picture, prompt, steps, guidance, method, watch: bool = True) -> Inversion:
    """invert() with the CLIP vision model and the concepts to read a prompt back when none is given."""
    model = ctx.model
    vision = vocabulary = None
    prompt = check_text("prompt", "" if prompt is None else prompt, allow_empty=True, max_chars=MAX_PROMPT_CHARS,
                        noun="prompt")
    if not prompt.strip():
        vision = load_vision(model)
        vocabulary = builtin_vocabulary(model)
    return invert(model, picture, prompt=prompt or None, steps=as_int(steps), guidance=float(guidance),
                  method=method, vision=vision, vocabulary=vocabulary, watch=watch, config=ctx.config)


def where_it_sits(ctx: AppContext, inversion: Inversion, k: int = 8):
    """The archive's nearest images and the novelty of the picture (None, reason when the model has no archive)."""
    try:
        index, vision = archive_api._open(ctx, "")
    except InputError as error:
        return None, str(error)
    return index, nearest_images(index, vision, inversion.original, k, ctx.config)


def figures_text(inversion: Inversion) -> str:
    """The reconstruction's PSNR, the noise against a seed's, the prior's verdict: keyed sentences."""
    s, r, stats = inversion.recipe, inversion.seed_stats, inversion.stats
    text = say("inversion.summary", psnr=inversion.psnr, vae_psnr=inversion.vae_psnr, method=inversion.method,
               steps=s.steps, guidance=s.guidance, prompt=s.prompt)
    text += " " + say("inversion.noise", mean=stats.mean, std=stats.std, ks=stats.ks, corr=stats.neighbour_corr,
                      chi2=stats.chi2_z, seed_std=r.std, seed_corr=r.neighbour_corr, seed_chi2=r.chi2_z)
    text += " " + say("inversion.typical" if stats.typical else "inversion.atypical")
    for note in inversion.notes:
        text += " " + note
    return text


def _saved(image, folder: Path, name: str) -> str:
    path = folder / name
    image.save(path, format="PNG")
    return str(path)


# --------------------------------------------------------------------------- handlers
def on_invert(ctx: AppContext, ui: UI, image, prompt, steps, guidance, method, edit_prompt, request: gr.Request):
    # the picture inverted and drawn again beside it, with an edit under edit_prompt when one is given
    picture = picture_from(image, ctx.config)
    inversion = run_inversion(ctx, picture, prompt, steps, guidance, method)
    folder = Path(tempfile.mkdtemp(prefix="latent-explorer-invert-"))
    pictures = [(_saved(inversion.original, folder, "original.png"), say("inversion.caption.original")),
                (_saved(inversion.reconstruction, folder, "reconstruction.png"),
                 say("inversion.caption.reconstruction", psnr=inversion.psnr))]
    way = [(_saved(gr_image(p.noisy), folder, f"xt-{p.index:03d}.png"), str(p.timestep)) for p in inversion.way_back]
    way += [(_saved(gr_image(p.x0), folder, f"x0-{p.index:03d}.png"), "x0 " + str(p.timestep))
            for p in inversion.way_back]
    status = say("inversion.caption.reconstruction", psnr=inversion.psnr)
    if edit_prompt:
        edited = edit(ctx.model, inversion, edit_prompt, ctx.config)
        pictures.append((_saved(edited.image, folder, "edit.png"), say("inversion.caption.edit", prompt=edit_prompt)))
        status = say("inversion.status.edited", psnr=inversion.psnr, prompt=edit_prompt)
    index, found = where_it_sits(ctx, inversion)
    text = figures_text(inversion)
    nearest = []
    if index is not None:
        nearest = archive_api.gallery_items(index, found.hits)
        text += " " + found.novelty.sentence
    return {ui.pictures: pictures, ui.figures: text, ui.way_back: way, ui.nearest: nearest, ui.inversion: inversion,
            ui.status: status}


def on_edit(ctx: AppContext, ui: UI, inversion, edit_prompt, request: gr.Request):
    if inversion is None:
        raise InputError("image", say("inversion.allowed.picture"), None)
    result = edit(ctx.model, inversion, edit_prompt or "", ctx.config)
    folder = Path(tempfile.mkdtemp(prefix="latent-explorer-edit-"))
    pictures = [(_saved(inversion.original, folder, "original.png"), say("inversion.caption.original")),
                (_saved(inversion.reconstruction, folder, "reconstruction.png"),
                 say("inversion.caption.reconstruction", psnr=inversion.psnr)),
                (_saved(result.image, folder, "edit.png"), say("inversion.caption.edit", prompt=edit_prompt))]
    return {ui.pictures: pictures, ui.status: say("inversion.caption.edit", prompt=edit_prompt)}


def on_walk(ctx: AppContext, ui: UI, image, image_b, prompt, steps, guidance, method, frames, request: gr.Request):
    a = run_inversion(ctx, picture_from(image, ctx.config), prompt, steps, guidance, "ddim", watch=False)
    b = run_inversion(ctx, picture_from(image_b, ctx.config, "image_b"), prompt, steps, guidance, "ddim", watch=False)
    walk = walk_pictures(ctx.model, a, b, as_int(frames), config=ctx.config)
    out = export_walk(walk, Path(tempfile.mkdtemp(prefix="latent-explorer-walk-")), mp4=False)
    curves = response_curves(ctx.model, walk)
    return {ui.walk_gif: str(out["gif"]),
            ui.walk_curve: response_figure(curves.positions, curves.measures, curves.ends, curves.flips),
            ui.status: say("inversion.walk.done", n=len(walk.done))}


def gr_image(array):
    """A uint8 (H, W, 3) array as a PIL image."""
    return PILImage.fromarray(array)


# --------------------------------------------------------------------------- API-only endpoints
def register(ctx: AppContext) -> None:
    """Append /invert and /invert_walk to ctx.apis (app.after_tabs makes them gr.api endpoints)."""
    cfg = ctx.config

    @guard
    def invert_image(image: dict | str, prompt: str = "", steps: int = 0, guidance: float = -1.0,
                     method: str = "ddim", edit_prompt: str = "") -> dict:
        """DDIM inversion of an uploaded picture (null-text with method 'null-text'): the reconstruction's PSNR, the
        inverted noise's statistics against a seed's and the prior, the archive's nearest images and novelty; with
        edit_prompt, the same noise is drawn under that prompt too (steps 0, guidance < 0: the model's defaults)."""
        picture = open_image(archive_api._uploaded(image, cfg), "image", cfg.max_image_pixels).convert("RGB")
        inversion = run_inversion(ctx, picture, prompt, as_int(steps) or ctx.model.preset.steps,
                                  ctx.model.preset.guidance if guidance is None or guidance < 0 else guidance,
                                  method, watch=False)
        out = inversion.summary()
        index, found = where_it_sits(ctx, inversion)
        out["archive"] = None if index is None else {
            "novelty": found.novelty.to_dict(), "results": [hit.to_dict(paths=False) for hit in found.hits]}
        if edit_prompt:
            edit(ctx.model, inversion, edit_prompt, cfg)
            out["edit"] = {"prompt": edit_prompt}
        return out

    @guard
    def invert_walk(image_a: dict | str, image_b: dict | str, frames: int = 6, prompt: str = "", steps: int = 0
                    ) -> dict:
        """A walk between two uploaded pictures: both inverted, the noises slerped and the prompts interpolated; the
        response curves (pixel correlation with each end) and where they flip (steps 0: the model's)."""
        pictures = [open_image(archive_api._uploaded(x, cfg), "image", cfg.max_image_pixels).convert("RGB")
                    for x in (image_a, image_b)]
        ends = [run_inversion(ctx, p, prompt, as_int(steps) or ctx.model.preset.steps, ctx.model.preset.guidance,
                              "ddim", watch=False) for p in pictures]
        walk = walk_pictures(ctx.model, ends[0], ends[1], as_int(frames), config=cfg)
        curves = response_curves(ctx.model, walk)
        return {"frames": len(walk.done), "prompts": walk.prompts, "psnr": [e.psnr for e in ends],
                "positions": [float(x) for x in curves.positions],
                "measures": {str(k): v.tolist() for k, v in curves.measures.items()},
                "flips": {str(k): v for k, v in curves.flips.items()}}

    ctx.apis.append((invert_image, "invert"))
    ctx.apis.append((invert_walk, "invert_walk"))
