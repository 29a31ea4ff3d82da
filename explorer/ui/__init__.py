"""Stage 8 — the browser UI (the only package that imports gradio): `explorer.ui.app.build_demo`."""
