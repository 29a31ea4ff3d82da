"""The validating input components: Slider, Number, Dropdown, Radio, Textbox, Code, Checkbox, File, Image.

Each is gradio's own component (same front-end widget, same settings) that checks a payload's type and range before
gradio converts it, and refuses with `InputError(field, allowed, received)` naming the field: `field=` where given,
else the English label. The event layer (explorer.ui.events) shows the refusal in the view's status line.

    steps = Slider(1, cfg.max_steps, value=20, step=1, label=t("common.steps"))
    guidance = Slider(0, 20, value=7.5, label=t("common.guidance_scale"), field="guidance")
"""
from __future__ import annotations

import math
from pathlib import Path

import gradio as gr

from explorer.errors import InputError
from explorer.messages import say
from explorer.ui import gradio_compat                  # before the classes below: no .pyi written for them
from explorer.ui.i18n import english

MAX_TEXT_CHARS = 20_000     # longest text any field takes (prompts are cut at 77 tokens long before this)


def _field_name(component) -> str:
    """The field's one name in every message: `field=` where given, else the English label up to '(' or ':'."""
    explicit = getattr(component, "field_name", None)
    if explicit:
        return explicit
    label = english(component.label or "value")
    return label.split(" (")[0].split(":")[0].strip().lower().replace(" ", "_")


def _choices(component) -> str:
    return ", ".join(str(value) for _, value in component.choices)


def _shown(payload):
    """The received value as the message shows it (long text cut, so a message stays one readable line; a file by
    its upload name, never by the server's folder)."""
    path = payload.get("path") if isinstance(payload, dict) else getattr(payload, "path", None)
    if isinstance(path, str) and (isinstance(payload, dict) or hasattr(payload, "orig_name")):
        orig = payload.get("orig_name") if isinstance(payload, dict) else getattr(payload, "orig_name", None)
        return Path(str(orig or path)).name
    if isinstance(payload, str) and len(payload) > 80:
        return payload[:77] + "..."
    text = repr(payload)
    return payload if len(text) <= 80 else text[:77] + "..."


# Every input is checked by type before a handler sees it: gradio would coerce (an int prompt becomes
# "123", a checkbox "yes" is truthy) or answer with messages that do not name the field. These subclasses
# keep their class names (the front end picks a component by class name) and say what was wrong our way.
class _NamedErrors:
    field_name: str | None = None                   # set by the factories below (`field=`)

    def allowed(self) -> str:
        return say("checks.one_of", choices=_choices(self))

    def check(self, payload) -> None:
        """Refuse a payload of the wrong type before gradio converts it."""

    def refuse(self, payload, allowed: str | None = None):
        error = InputError(_field_name(self), allowed or self.allowed(), _shown(payload))
        raise gr.Error(str(error), print_exception=False) from error       # the page reads the parts (events)

    def preprocess(self, payload):
        self.check(payload)
        try:
            return super().preprocess(payload)
        except gr.Error:
            self.refuse(payload)
        except Exception:  # noqa: BLE001 - gradio's own failure (PIL's, pydantic's): refused, naming the field
            self.refuse(payload)


def _is_number(payload) -> bool:
    return isinstance(payload, (int, float)) and not isinstance(payload, bool) and math.isfinite(payload)


class _Slider(_NamedErrors, gr.Slider):
    def allowed(self) -> str:
        return say("checks.number_in", low=self.minimum, high=self.maximum)

    def check(self, payload) -> None:
        if not _is_number(payload) or not self.minimum <= payload <= self.maximum:
            self.refuse(payload)


class _Number(_NamedErrors, gr.Number):
    def allowed(self) -> str:
        if self.minimum is not None and self.maximum is not None:
            return say("server.number.finite_in", low=self.minimum, high=self.maximum)
        return say("server.number.finite")

    def check(self, payload) -> None:
        if not _is_number(payload) or (self.minimum is not None and payload < self.minimum) or \
                (self.maximum is not None and payload > self.maximum):
            self.refuse(payload)


class _Dropdown(_NamedErrors, gr.Dropdown):
    def check(self, payload) -> None:
        if not isinstance(payload, str):
            self.refuse(payload)


class _Radio(_NamedErrors, gr.Radio):
    def check(self, payload) -> None:
        if not isinstance(payload, str):
            self.refuse(payload)


class _Text(_NamedErrors):
    def allowed(self) -> str:
        return say("checks.text")

    def check(self, payload) -> None:
        if payload is not None and not isinstance(payload, str):
            self.refuse(payload)
        if isinstance(payload, str) and len(payload) > MAX_TEXT_CHARS:
            self.refuse(say("server.text.chars", n=len(payload)), say("server.text.max_chars", n=MAX_TEXT_CHARS))


class _Textbox(_Text, gr.Textbox):
    pass


class _Code(_Text, gr.Code):
    pass


class _Checkbox(_NamedErrors, gr.Checkbox):
    def allowed(self) -> str:
        return say("checks.true_or_false")

    def check(self, payload) -> None:
        if not isinstance(payload, bool):
            self.refuse(payload)


class _File(_NamedErrors, gr.File):
    def allowed(self) -> str:
        kinds = ", ".join(self.file_types or [])
        return say("server.file.of_type", kinds=kinds) if kinds else say("server.file.an_upload")


class _Image(_NamedErrors, gr.Image):
    def allowed(self) -> str:
        return say("server.file.png_or_jpeg")


def _factory(cls: type, name: str):
    """A constructor taking `field=` (the one name messages use) that returns a component named like gradio's own.

    gradio reads a component's settings from its class's __init__ signature and picks the front-end
    widget by class name, so the subclasses keep gradio's __init__ and are renamed to the base name.
    """
    gradio_compat.component_like_gradios(cls, name)

    def make(*args, field: str | None = None, **kwargs):
        component = cls(*args, **kwargs)
        component.field_name = field
        return component

    make.__name__ = name
    return make


Slider = _factory(_Slider, "Slider")
Number = _factory(_Number, "Number")
Dropdown = _factory(_Dropdown, "Dropdown")
Radio = _factory(_Radio, "Radio")
Textbox = _factory(_Textbox, "Textbox")
Code = _factory(_Code, "Code")
Checkbox = _factory(_Checkbox, "Checkbox")
File = _factory(_File, "File")
Image = _factory(_Image, "Image")


def as_int(value):
    """gr.Number and gr.Slider send floats; whole numbers become ints, the rest is left to validation."""
    return int(value) if isinstance(value, float) and value.is_integer() else value
