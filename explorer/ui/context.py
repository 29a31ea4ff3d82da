"""What the tabs share: the app's context (one model for all users, the config, each user's session) and the views
the lesson can drive."""
from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Callable, Iterator

import gradio as gr

from explorer.concepts.projection import MapWarmup
from explorer.config import ExplorerConfig
from explorer.generation.batcher import Batcher
from explorer.models.examples import Examples, examples_for
from explorer.models.loaded import LoadedModel
from explorer.ui.events import View, api_twin, listen  # noqa: F401 - View: the tabs import it from here
from explorer.ui.i18n import page_language
from explorer.ui.media import MEDIA, client_of
from explorer.ui.sessions import Deadline, Session, Sessions, still_wanted
from explorer.ui.streaming import run_streaming


@dataclass
class AppContext:
    """What all tabs share: one model instance for all users, the config, and each user's session state."""

    model: LoadedModel
    config: ExplorerConfig
    sessions: Sessions                              # per-user lists and stop flags (explorer.ui.sessions)
    demo: gr.Blocks | None = None                   # the app (to see whether a user is still waiting)
    tabs: gr.Tabs | None = None                     # the tab strip (to switch tabs from a handler)
    generate_prompt: gr.Textbox | None = None       # the Generate tab's prompt (other tabs send prompts there)
    apis: list = field(default_factory=list)        # (function, api_name): API-only endpoints, registered after the tabs
    twins: list = field(default_factory=list)       # invisible buttons of the API twins (rendered after the tabs)
    views: dict = field(default_factory=dict)       # name -> View: what the lesson's "show me" fills and runs
    batcher: Batcher | None = None                  # users' Generate requests batched (explorer.generation.batcher)
    page_texts: list = field(default_factory=list)  # (component, fn): a text made at each page load, in its language
    map_warmup: MapWarmup = field(default_factory=MapWarmup)   # the Map tab's umap JIT warm-up (concepts.projection)
    overlays: list = field(default_factory=list)    # blocks built with render=False, rendered after the tab strip (on
                                                    # every tab: the lesson's way back from a view)
    texts: dict = field(default_factory=dict)       # language -> filled key -> text: the page's labels filled with
                                                    # the config's limits (explorer.ui.i18n.filled_tables)

    @property
    def examples(self) -> Examples:
        """The starting inputs that suit the loaded model (the miniature world's grammar on miniworld)."""
        return examples_for(self.model)

    def listen(self, *args, view: View | None = None, **kwargs):
        """events.listen, its API twins rendered after the tabs, the page in each session's language; `view` (its
        name, fields and tabs): the lesson may fill those fields and run this handler as the page does
        (explorer.ui.lesson_tab)."""
        return listen(*args, pending=self.twins, view=view, views=self.views, language=self.language, **kwargs)

    def language(self, request: gr.Request | None) -> str:
        """The language of this request's page: --lang, else the browser's (explorer.ui.i18n.page_language)."""
        return page_language(request, self.config.lang)

    def api_twin(self, *args, **kwargs) -> None:
        api_twin(*args, pending=self.twins, **kwargs)

    def session(self, request: gr.Request | None) -> Session:
        return self.sessions.get(request)

    def publish(self, value, request: gr.Request | None):
        """A PIL image or a file as this user's link (written once, fetched by their client only: explorer.ui.media);
        the value as it is where no client is known (a direct call)."""
        client = client_of(request)
        return MEDIA.publish(value, client) if client is not None and value is not None else value

    def stop_event(self, request: gr.Request | None) -> threading.Event:
        return self.sessions.get(request).stop

    def stream(self, job: Callable[[Callable[[object], None]], object], name: str, request: gr.Request | None
               ) -> tuple[Iterator[tuple[str, object]], Deadline]:
        """run_streaming for this user: their stop flag, the device's time limit, stopped if they leave."""
        stop = self.stop_event(request)
        stop.clear()
        deadline = Deadline(self.config.request_seconds(self.model.device.type))
        return run_streaming(job, name, stop, deadline, lambda: still_wanted(self.demo, request)), deadline
