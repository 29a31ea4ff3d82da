"""Calling a page's handlers without a browser: what gradio hands them."""
from __future__ import annotations


class Request:
    """What gradio hands a handler: the browser's headers (Accept-Language) and its session (one per `session`, so
    tests sharing the app keep their sessions apart)."""

    def __init__(self, language: str, session: str = "test"):
        self.headers = {"accept-language": language}
        self.session_hash = f"{session}-{language}"
