"""The browser UI (the only part of the explorer that imports gradio)."""
from __future__ import annotations

import gradio as gr

from explorer.config import ExplorerConfig
from explorer.models import LoadedModel
from explorer.ui.common import AppContext

TABS = ["explorer.ui.generate_tab", "explorer.ui.embeddings_tab", "explorer.ui.interpolate_tab",
        "explorer.ui.search_tab", "explorer.ui.map_tab"]     # each module has build(ctx) and adds one tab

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
    import importlib

    ctx = AppContext(model, config or ExplorerConfig())
    with gr.Blocks(title="latent-explorer") as demo:
        gr.Markdown(f"# latent-explorer\nA prompt is not a command but a search in the latent space of a "
                    f"diffusion model. Model: **{model.name}** — {model.preset.about}.")
        gr.Markdown(f"**Offline model in use.** {model.banner}", visible=bool(model.banner),
                    elem_classes=["banner"], elem_id="banner")
        with gr.Tabs() as ctx.tabs:
            for name in TABS:
                importlib.import_module(name).build(ctx)
    demo.queue(max_size=ctx.config.queue_size, default_concurrency_limit=1)
    return demo


def launch_kwargs(config: ExplorerConfig) -> dict:
    return dict(server_name=config.host, server_port=config.port, share=config.share, theme=THEME, css=CSS,
                allowed_paths=[str(config.outputs_dir.resolve())])
