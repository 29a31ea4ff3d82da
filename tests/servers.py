"""Shutting down an app launched in a test's process, without racing its server thread."""
from __future__ import annotations

import threading


def close_demo(demo) -> None:
    """demo.close(), after setting the app's asyncio stop event on the server's own event loop.

    Gradio's Blocks.close sets `app.stop_event` (an asyncio.Event) from the calling thread; when open streams are
    still waiting on it in the server thread, Event.set iterates its waiters while that loop changes them, and
    teardown fails with "deque mutated during iteration" (seen once in CI). Setting it on its own loop first makes
    close's set a no-op.
    """
    event = getattr(getattr(demo, "app", None), "stop_event", None)
    loop = getattr(event, "_loop", None)                        # bound by asyncio on the first wait()
    if event is not None and loop is not None and loop.is_running():
        done = threading.Event()

        def _set():
            event.set()
            done.set()

        loop.call_soon_threadsafe(_set)
        done.wait(timeout=10)
    demo.close()
