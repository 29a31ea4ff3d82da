"""The whole app as gr.Blocks: one tab per module, a shared context, the queue and launch settings."""
from __future__ import annotations

import gradio as gr

from explorer.concepts.vocabularies import Shelf, load_vocabulary
from explorer.config import ExplorerConfig
from explorer.models.loaded import LoadedModel
from explorer.ui import embeddings_tab, generate_tab, interpolate_tab, map_tab, search_tab
from explorer.ui.common import AppContext
from explorer.ui.sessions import Sessions, limit_queue_per_session

TABS = [generate_tab, embeddings_tab, interpolate_tab, search_tab, map_tab]   # each has build(ctx): one tab

CSS = """
.explain p { font-size: 1.02em; margin: 0 0 4px 0; }
.banner { border-left: 5px solid #e8a317; background: #fff8e6; padding: 8px 14px; border-radius: 4px; }
.banner p { color: #5c4300; margin: 0; }
.status p { margin: 2px 0; }
footer { display: none !important; }
"""
THEME = gr.themes.Soft(primary_hue="indigo", neutral_hue="slate")


def build_demo(model: LoadedModel, config: ExplorerConfig | None = None) -> gr.Blocks:
    """The whole app as gr.Blocks; pass the model in (tests pass tiny-random)."""
    config = config or ExplorerConfig()
    ctx = AppContext(model, config, Sessions(config.max_sessions, config.max_session_vocabularies,
                                             shared_shelf(config)))
    with gr.Blocks(title="latent-explorer") as demo:
        gr.Markdown(f"# latent-explorer\nA prompt is not a command but a search in the latent space of a "
                    f"diffusion model. Model: **{model.name}** — {model.preset.about}.")
        gr.Markdown(f"**Offline model in use.** {model.banner}", visible=bool(model.banner),
                    elem_classes=["banner"], elem_id="banner")
        with gr.Tabs() as ctx.tabs:
            for tab in TABS:
                tab.build(ctx)
        for function, name in ctx.apis:              # endpoints without a button of their own
            gr.api(function, api_name=name, concurrency_id="model")
        def on_unload(request: gr.Request):          # a closed page frees its session's lists and flags
            ctx.sessions.drop(request)

        demo.unload(on_unload)
    demo.queue(max_size=ctx.config.queue_size, default_concurrency_limit=1)
    limit_queue_per_session(demo, config.max_queued_per_session)
    ctx.demo = demo
    return demo


def shared_shelf(config: ExplorerConfig) -> Shelf:
    """The lists the operator shares with every user (--vocabulary), read once at start."""
    shelf = Shelf(max_lists=max(1, len(config.shared_vocabularies)))
    for path in config.shared_vocabularies:
        shelf.add(load_vocabulary(path, limit=config.max_vocabulary), limit=config.max_vocabulary)
    return shelf


def launch_kwargs(config: ExplorerConfig) -> dict:
    """launch() settings: outputs/ is deliberately not an allowed path (each user gets links to their own files
    only), uploads are capped, and session state is kept for at most max_sessions users."""
    return dict(server_name=config.host, server_port=config.port, share=config.share, theme=THEME, css=CSS,
                max_file_size=config.max_upload_bytes, state_session_capacity=config.max_sessions)
