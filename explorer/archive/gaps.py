"""What a training-set archive holds of a colour and a shape: the gaps a model is asked to fill.

A prompt that names a colour and a shape ("a green triangle") is looked up in the ground truth of
miniworld's training scenes: how many images show that combination, and which other shapes come in
that colour and which other colours that shape. A combination held out of training (training.json)
has none: the archive holds green squares and yellow triangles, but no green triangle, so a picture
the model draws of one is not a copy of anything it saw, it is made in the gap.

    coverage(source, "a green triangle").sentence
    coverage(source, colour=reading.colour, shape=reading.shape, drawn="picture")   # what a picture shows
    gap_notes(model, "a green triangle", images)              # for a page of generated results
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

import numpy as np
from PIL import Image

from explorer.messages import joined, say
from explorer.archive.sources import TrainingSetSource, default_source
from explorer.world.oracle import read as oracle_read
from explorer.world.scenes import IMAGE_SIZE, parse_caption


@dataclass
class Coverage:
    """The archive's images of one colour-shape combination and of its two halves."""

    colour: str
    shape: str
    held_out: bool                 # left out of training on purpose (training.json "held_out")
    count: int                     # archive images of exactly this colour and shape
    colour_shapes: dict[str, int]  # the colour's images by shape (this shape included)
    shape_colours: dict[str, int]  # the shape's images by colour (this colour included)
    total: int                     # archive images in all
    drawn: str | None = None       # "prompt" when read from a prompt, "picture" when read from a picture

    @property
    def combination(self) -> str:
        return f"{self.colour} {self.shape}"

    @property
    def sentence(self) -> str:
        """Two or three sentences for the page: what the archive holds of the combination and of its parts."""
        picture, params = self.drawn == "picture", dict(colour=self.colour, shape=self.shape, total=self.total,
                                                        count=self.count)
        if self.count:
            return say("archive.gap.picture_holds", **params) if picture else say("archive.gap.prompt_holds", **params)
        parts = [say("archive.gap.picture_none", **params) if picture else say("archive.gap.prompt_none", **params)]
        if self.held_out:
            parts.append(say("archive.gap.held_out"))
        a = ", ".join(f"{n:,} {_plural(s)}" for s, n in _ranked(self.colour_shapes) if s != self.shape) or "none"
        b = ", ".join(f"{n:,} {c}" for c, n in _ranked(self.shape_colours) if c != self.colour) or "none"
        words = dict(colour=self.colour, shapes=_plural(self.shape), a=a, b=b)
        parts.append(say("archive.gap.picture_apart", **words) if picture else say("archive.gap.prompt_apart", **words))
        return joined(" ", parts)

    def to_dict(self) -> dict:
        return {"combination": self.combination, "held_out": self.held_out, "count": self.count,
                "colour_shapes": self.colour_shapes, "shape_colours": self.shape_colours, "total": self.total,
                "read_from": self.drawn, "sentence": self.sentence}


def coverage(source, prompt: str | None = None, colour: str | None = None, shape: str | None = None,
             drawn: str = "prompt") -> Coverage | None:
    """The coverage of the colour and shape a prompt names (or given), in a training-set archive.

    None when the source is not a training set with known scenes, or no colour and shape are named.
    """
    if not isinstance(source, TrainingSetSource):
        return None
    if prompt is not None:
        named = parse_caption(prompt)
        colour, shape = named.get("colour"), named.get("shape")
    if not colour or not shape:
        return None
    colour_shapes = Counter(s.shape for s in source.scenes if s.colour == colour)
    shape_colours = Counter(s.colour for s in source.scenes if s.shape == shape)
    return Coverage(colour, shape, f"{colour} {shape}" in source.held_out, colour_shapes.get(shape, 0),
                    dict(colour_shapes), dict(shape_colours), len(source), drawn)


def read_picture(image: Image.Image):
    """What the pixel oracle sees in a picture, at the world's size (colour, shape, size, position)."""
    return oracle_read(np.asarray(image.convert("RGB").resize((IMAGE_SIZE, IMAGE_SIZE))))


def picture_coverage(source, image: Image.Image) -> Coverage | None:
    """The coverage of what a picture shows (read by the pixel oracle) in a training-set archive; None otherwise."""
    if not isinstance(source, TrainingSetSource):
        return None
    reading = read_picture(image)
    return coverage(source, colour=reading.colour, shape=reading.shape, drawn="picture")


def gap_notes(model, prompt: str, images: list[Image.Image]) -> list[str]:
    """For a model with a training-set archive (miniworld) and a prompt naming a colour and a shape: what the
    archive holds of it and, by the pixel oracle, how many of the generated images show it. [] otherwise."""
    source = default_source(model)
    held = coverage(source, prompt) if source is not None else None
    if held is None:
        return []
    notes = [held.sentence]
    if images:
        hits = sum(read_picture(image).agrees(colour=held.colour, shape=held.shape) for image in images)
        read = dict(hits=hits, n=len(images), colour=held.colour, shape=held.shape)
        notes.append(say("archive.gap.oracle_in_gap", **read) if held.count == 0 else say("archive.gap.oracle", **read))
    return notes


def _plural(shape: str) -> str:
    return shape + ("es" if shape.endswith("s") else "s")            # crosses, circles


def _ranked(counts: dict[str, int]) -> list[tuple[str, int]]:
    return sorted(counts.items(), key=lambda item: (-item[1], item[0]))
