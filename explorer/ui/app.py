"""The whole app as gr.Blocks: one tab per module, a shared context, the queue and launch settings."""
from __future__ import annotations

import gradio as gr

from explorer.config import ExplorerConfig
from explorer.models.loaded import LoadedModel
from explorer.ui import embeddings_tab, generate_tab, interpolate_tab, map_tab, search_tab
from explorer.ui.common import AppContext

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
    ctx = AppContext(model, config or ExplorerConfig())
    with gr.Blocks(title="latent-explorer") as demo:
        gr.Markdown(f"# latent-explorer\nA prompt is not a command but a search in the latent space of a "
                    f"diffusion model. Model: **{model.name}** — {model.preset.about}.")
        gr.Markdown(f"**Offline model in use.** {model.banner}", visible=bool(model.banner),
                    elem_classes=["banner"], elem_id="banner")
        with gr.Tabs() as ctx.tabs:
            for tab in TABS:
                tab.build(ctx)
    demo.queue(max_size=ctx.config.queue_size, default_concurrency_limit=1)
    return demo


def launch_kwargs(config: ExplorerConfig) -> dict:
    return dict(server_name=config.host, server_port=config.port, share=config.share, theme=THEME, css=CSS,
                allowed_paths=[str(config.outputs_dir.resolve())])
