"""The whole app as gr.Blocks: one tab per module, a shared context, the queue and launch settings."""
from __future__ import annotations

import hmac

import gradio as gr
from starlette.middleware import Middleware

from explorer.concepts.vocabularies import Shelf, load_vocabulary
from explorer.config import ExplorerConfig
from explorer.generation.batcher import Batcher
from explorer.messages import Text, say
from explorer.models.loaded import LoadedModel
from explorer.ui import (archive_api, embeddings_tab, generate_tab, inside_tab, interpolate_tab, lesson_tab, map_tab,
                         payloads, search_tab)
from explorer.ui import invert_view
from explorer.ui.context import AppContext
from explorer.ui.gradio_compat import blocks_of, localhost_check_waits, queue_polls_gently
from explorer.ui.i18n import build_i18n, filled_tables, localize, t
from explorer.ui.media import ScopedFiles, make_gradio_cache_write_once
from explorer.ui.sessions import Sessions, limit_per_client, limit_queue_per_session, record_no_analytics

# each has build(ctx): one tab; the lesson comes last: its chapters drive the views the others built
TABS = [generate_tab, embeddings_tab, interpolate_tab, search_tab, map_tab, inside_tab, lesson_tab]

CSS = """
.explain p { font-size: 1.02em; margin: 0 0 4px 0; }
.banner { border-left: 5px solid #e8a317; background: #fff8e6; padding: 8px 14px; border-radius: 4px; }
.banner p { color: #5c4300; margin: 0; }
.status p { margin: 2px 0; }
footer { display: none !important; }
.header p { font-size: 1.05em; margin: 0; }
.header strong:first-child { font-size: 1.25em; }
/* a refused request keeps the previous results visible: no "Error" cover over the outputs (the message is in
   the status line beside the button) */
.wrap:has(> span.error) { display: none !important; }
.status p { font-size: 1.02em; }
/* small pictures shown large, pixels crisp (a 64 px result fills its box instead of sitting in a corner) */
.pixels img { image-rendering: pixelated; width: 100%; height: 100%; object-fit: contain; }
.api-twin { display: none !important; }
.question p { font-style: italic; font-size: 1.05em; }
/* step galleries: every step on screen (no fixed-height scroller), numbers under the pictures, not over them */
.steps .grid-wrap { height: auto !important; max-height: none !important; min-height: 0 !important;
                    overflow: visible !important; }
.steps .grid-container { grid-template-columns: repeat(var(--grid-cols), minmax(0, 1fr)) !important;
                         grid-auto-rows: auto !important; margin-top: 30px; }
.steps .thumbnail-item { display: flex; flex-direction: column; aspect-ratio: auto; height: auto !important;
                         min-width: 0; }
.steps .thumbnail-item img { image-rendering: pixelated; aspect-ratio: 1; width: 100%; height: auto; }
.steps .caption-label { position: static !important; transform: none; max-width: 100%; margin: 0 auto;
                        background: none; padding: 0; font-size: 0.8em; }
.captioned .caption-label { white-space: normal !important; overflow: visible !important; text-overflow: clip; }
/* projector legibility (issue 26): a table's header is not split inside a word ("Kosinu s"); the banner is one
   line (all of it on hover); a slider's maximum is shown whole; the page's language flag is not shown */
th, th * { word-break: normal !important; overflow-wrap: normal !important; hyphens: manual; }
.banner { max-height: 2.6em; overflow: hidden; padding-top: 4px !important; padding-bottom: 4px !important; }
.banner p { white-space: nowrap; overflow: hidden; text-overflow: ellipsis; }
.banner:hover { max-height: none; }
.banner:hover p { white-space: normal; }
.page-lang { display: none !important; }
.slider_input_container .min_value, .slider_input_container .max_value { flex-shrink: 0; min-width: max-content; }
/* the lesson's way back: its chapter's question and a button, on every tab, bottom left (results sit on the right) */
#lesson-return { position: fixed; left: 12px; bottom: 12px; z-index: 1000; max-width: 420px; gap: 4px;
                 background: #eef2ff; border: 2px solid #6366f1; border-radius: 8px; padding: 8px 12px;
                 box-shadow: 0 2px 10px rgba(0, 0, 0, 0.25); }
#lesson-return p { margin: 0; font-style: italic; }
"""
# gradio's progress overlay writes some words and numbers itself ("processing |", "12/25 steps | 0.1s", "24.0%"): on a
# German page (the hidden #page-lang block says "de", translated by gr.I18n like every label) they are put into German
HEAD = r"""<script>
(() => {
  const german = () => (document.querySelector("#page-lang")?.innerText || "").trim() === "de";
  const inProgress = (node) => node.parentElement?.closest(".progress-text, .progress-level, .eta-bar, .loading");
  const fix = (node) => {
    if (node.nodeType !== Node.TEXT_NODE || !inProgress(node)) return;
    const text = node.nodeValue;
    const out = text.replace(/\bprocessing\b/g, "in Arbeit").replace(/\bqueue:/g, "Warteschlange:")
      .replace(/\bsteps\b/g, "Schritte").replace(/(\d)\.(\d)/g, "$1,$2");
    if (out !== text) node.nodeValue = out;
  };
  const walk = (root) => {
    if (root.nodeType === Node.TEXT_NODE) return fix(root);
    const nodes = document.createTreeWalker(root, NodeFilter.SHOW_TEXT);
    while (nodes.nextNode()) fix(nodes.currentNode);
  };
  new MutationObserver((records) => {
    if (!german()) return;
    for (const record of records) {
      if (record.type === "characterData") fix(record.target);
      else record.addedNodes.forEach(walk);
    }
  }).observe(document.documentElement, {subtree: true, childList: true, characterData: true});
})();
</script>"""
THEME = gr.themes.Soft(primary_hue="indigo", neutral_hue="slate")


def build_demo(model: LoadedModel, config: ExplorerConfig | None = None) -> gr.Blocks:
    """The whole app as gr.Blocks; pass the model in (tests pass tiny-random)."""
    config = config or ExplorerConfig()
    make_gradio_cache_write_once()               # no cached picture is rewritten while served (explorer.ui.media)
    ctx = AppContext(model, config, app_sessions(config), batcher=Batcher(model, config))
    with gr.Blocks(title="latent-explorer", analytics_enabled=config.analytics) as demo:
        header(model)
        with gr.Tabs() as ctx.tabs:
            for tab in TABS:
                tab.build(ctx)
        after_tabs(ctx, demo)
    serve(demo, ctx)
    ctx.texts = filled_tables(blocks_of(demo).values())     # the filled labels' texts: the app's (launch_kwargs)
    ctx.demo = demo
    demo.explorer_context = ctx                 # tests and benches reach the batcher and sessions through it
    return demo


def app_sessions(config: ExplorerConfig) -> Sessions:
    """Every user's session state, within the config's limits (explorer.ui.sessions)."""
    return Sessions(config.max_sessions, config.max_session_vocabularies, shared_shelf(config),
                    per_client=config.max_sessions_per_client, new_per_minute=config.max_new_sessions_per_minute,
                    trust_proxy=config.trust_proxy, session_bytes=config.max_session_bytes,
                    total_bytes=config.max_state_bytes)


def header(model: LoadedModel) -> None:
    """Above the tabs: the app and the loaded model, its banner (random weights ...), and the page's language."""
    about = model.preset.description                       # the about line without the model's name
    top = gr.Markdown(f"**latent-explorer** · {t('app.header')} **{model.name}**: {about}",
                      elem_classes=["header"], elem_id="header")
    banner = gr.Markdown(f"{t('app.banner')} {model.banner}", visible=bool(model.banner),
                         elem_classes=["banner"], elem_id="banner")
    # gradio's postprocess made them plain strings: the same texts with their keyed parts, which each page load
    # renders by key (explorer.ui.i18n.localize)
    top.value = Text([f"**latent-explorer** · {t('app.header')} **{model.name}**: ", about])
    if model.banner:
        banner.value = Text([f"{t('app.banner')} ", model.banner])
    gr.Markdown(t("app.lang"), elem_classes=["page-lang"], elem_id="page-lang")   # "de" on a German page


def after_tabs(ctx: AppContext, demo: gr.Blocks) -> None:
    """Inside the Blocks, once every tab is built: the overlays, the API twins and API-only endpoints, a closed
    page's clean-up and what each page load translates."""
    for overlay in ctx.overlays:                 # outside the tabs, on every tab (the lesson's way back)
        overlay.render()
    with gr.Row(visible=False):
        for twin in ctx.twins:                   # the API twins of the page's events (explorer.ui.events.listen)
            twin.render()
    archive_api.register(ctx)                    # /archive_retrieve, /archive_nearest (explorer.archive)
    invert_view.register(ctx)                    # /invert, /invert_walk (explorer.explore.inversion)
    for function, name in ctx.apis:              # endpoints without a button of their own
        gr.api(function, api_name=name, concurrency_id="model")

    def on_unload(request: gr.Request):          # a closed page frees its session's lists and flags
        ctx.sessions.drop(request)

    demo.unload(on_unload)
    localize(demo, ctx.language, ctx.page_texts)    # what gr.I18n cannot translate, at each page load


def serve(demo: gr.Blocks, ctx: AppContext) -> None:
    """The queue and its doors: one model for everyone, polling gently when idle, limits per session and per client,
    no analytics recorded unless monitoring is on, request payloads checked before gradio reads them."""
    config = ctx.config
    demo.queue(max_size=config.queue_size, default_concurrency_limit=1)
    queue_polls_gently(demo)                    # an idle server does not wake 1,000 times a second
    localhost_check_waits()                     # a busy machine's first page may take longer than gradio's 3 s
    limit_queue_per_session(demo, config.max_queued_per_session)
    limit_per_client(demo, ctx.sessions, config.max_queued_per_client)     # wraps the per-session door: runs first
    if not config.monitoring:
        record_no_analytics(demo)                   # nothing recorded for a dashboard nobody may open
    payloads.install(demo, config)              # value counts, files and text lengths checked before gradio reads them


def shared_shelf(config: ExplorerConfig) -> Shelf:
    """The lists the operator shares with every user (--vocabulary), read once at start."""
    shelf = Shelf(max_lists=max(1, len(config.shared_vocabularies)))
    for path in config.shared_vocabularies:
        shelf.add(load_vocabulary(path, limit=config.max_vocabulary), limit=config.max_vocabulary)
    return shelf


def launch_kwargs(config: ExplorerConfig, demo: gr.Blocks) -> dict:
    """launch() settings for `demo` (build_demo's: its texts filled with the config's limits travel with it):
    outputs/ is deliberately not an allowed path (each user gets links to their own files only), uploads are capped,
    session state is kept for at most max_sessions users, and the page speaks German or English (the browser's
    language, or --lang for every browser). File links work only for the client that made them
    (explorer.ui.media.ScopedFiles). gradio's /monitoring is off unless asked for; with a class code, gradio's login
    form asks for it (any name, the code as the password)."""
    return dict(server_name=config.host, server_port=config.port, share=config.share, theme=THEME, css=CSS,
                app_kwargs={"middleware": [Middleware(ScopedFiles)]},
                head=HEAD, max_file_size=config.max_upload_bytes, state_session_capacity=config.max_sessions,
                i18n=build_i18n(config.lang, extra=app_texts(demo)),
                enable_monitoring=config.monitoring, **class_code_login(config.class_code))


def app_texts(demo: gr.Blocks) -> dict[str, dict[str, str]]:
    """The texts gr.I18n sends besides the files' (language -> key -> text): the lesson's, and the app's filled
    labels (t(key, **values), found on its blocks by build_demo)."""
    filled = demo.explorer_context.texts
    return {lang: {**texts, **filled.get(lang, {})} for lang, texts in lesson_tab.lesson_tables().items()}


def class_code_login(code: str | None) -> dict:
    """launch() arguments that make gradio ask for the class code: its login form for the page (any name, the
    code as the password; a cookie keeps the browser in), and `auth=(name, code)` for gradio_client."""
    if not code:
        return {}

    def check(_name: str, password: str) -> bool:
        return hmac.compare_digest(str(password).encode("utf-8"), code.encode("utf-8"))

    return dict(auth=check, auth_message=CLASS_CODE_MESSAGE)


CLASS_CODE_MESSAGE = say("ui_app.class_code_login")      # gradio's login form: one text for both languages
