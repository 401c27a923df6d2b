"""How the showcase and shorts layouts, the intro and the outro look: `flat` or `gallery`.

flat: pictures straight on the background colour (the default, unchanged).
gallery: each picture hangs in a frame -- a dark moulding with a bronze lip around a warm white
matte -- casting a soft shadow on a wall lit warmly from above (a plaster texture keeps the
gradient from banding in 8-bit video).

A theme only draws static parts: the wall and the frames are drawn once into a layout's base
image, the painting is then pasted into the frame opening, so a video frame still costs a copy
and a paste. Geometry is in 1080p pixels, multiplied by the layout's scale.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

from timelapse_nst.assembly.boxes import Box

Rgb = tuple[int, int, int]
ThemeName = Literal["flat", "gallery"]

FLAT_PLACEHOLDER: Rgb = (30, 30, 30)


class Theme:
    """flat: the background colour, no frames (border 0)."""

    placeholder: Rgb = FLAT_PLACEHOLDER  # the painting's place before it begins (intro)

    def border(self, scale: float) -> int:
        """Pixels a frame adds on each side of a picture box (layouts leave room for it)."""
        return 0

    def wall(self, size: tuple[int, int], background: str) -> Image.Image:
        """The empty canvas of a layout, before any picture or text."""
        return Image.new("RGB", size, background)

    def frame(self, canvas: Image.Image, box: Box, scale: float) -> None:
        """Draw what surrounds the picture that will fill `box` (in place)."""


@dataclass(frozen=True)
class _Moulding:
    """A frame's parts, in 1080p pixels, from the outside in."""

    wood: int = 16
    lip: int = 3
    matte: int = 34
    bevel: int = 3


# A warm, dim gallery wall: dark umber at the edges, lit to a soft warm grey under the light.
_WALL_EDGE = np.array([40, 35, 30], np.float32)
_WALL_LIT = np.array([106, 92, 76], np.float32)
_WOOD = {"top": (74, 58, 45), "left": (58, 45, 35), "right": (34, 26, 21), "bottom": (26, 20, 16)}
_LIP = (168, 134, 84)  # bronze
_MATTE = (233, 228, 217)
_BEVEL_LIT, _BEVEL_SHADE = (251, 249, 244), (205, 198, 184)  # the matte's cut edge, light from above
_OPENING = (24, 22, 20)  # behind the painting: shows only where a frame is a pixel short


class Gallery(Theme):
    placeholder: Rgb = (214, 205, 188)  # a blank, unprimed canvas waits in the frame

    def __init__(self, moulding: _Moulding = _Moulding()) -> None:
        self.moulding = moulding

    def border(self, scale: float) -> int:
        m = self.moulding
        return sum(max(1, round(part * scale)) for part in (m.wood, m.lip, m.matte))

    def wall(self, size: tuple[int, int], background: str) -> Image.Image:
        width, height = size
        y, x = np.mgrid[0:height, 0:width].astype(np.float32)
        # One broad pool of light from above the centre (an ellipse wider than tall).
        distance = ((x / width - 0.5) / 0.75) ** 2 + ((y / height + 0.15) / 0.95) ** 2
        light = np.exp(-1.6 * distance)[..., None]
        pixels = _WALL_EDGE + (_WALL_LIT - _WALL_EDGE) * light
        pixels += _plaster(size, amplitude=2.2)[..., None]
        return Image.fromarray(np.clip(np.round(pixels), 0, 255).astype(np.uint8), "RGB")

    def frame(self, canvas: Image.Image, box: Box, scale: float) -> None:
        m = self.moulding
        wood, lip, matte = (max(1, round(part * scale)) for part in (m.wood, m.lip, m.matte))
        left, top, width, height = box
        outer = _grow((left, top, left + width, top + height), wood + lip + matte)
        _drop_shadow(canvas, outer, scale)
        draw = ImageDraw.Draw(canvas)
        _bevelled_ring(draw, outer, wood, _WOOD)
        draw.rectangle(_corners(_grow(outer, -wood)), fill=_LIP)
        draw.rectangle(_corners(_grow(outer, -wood - lip)), fill=_MATTE)
        bevel = max(1, round(m.bevel * scale))
        opening = (left, top, left + width, top + height)
        ring = {"top": _BEVEL_SHADE, "left": _BEVEL_SHADE, "right": _BEVEL_LIT, "bottom": _BEVEL_LIT}
        _bevelled_ring(draw, _grow(opening, bevel), bevel, ring)
        draw.rectangle(_corners(opening), fill=_OPENING)


THEMES: dict[ThemeName, type[Theme]] = {"flat": Theme, "gallery": Gallery}


def make_theme(name: ThemeName) -> Theme:
    return THEMES[name]()


# -- drawing helpers -----------------------------------------------------------------------

Rect = tuple[int, int, int, int]  # left, top, right, bottom (exclusive)


def _grow(rect: Rect, by: int) -> Rect:
    left, top, right, bottom = rect
    return left - by, top - by, right + by, bottom + by


def _corners(rect: Rect) -> Rect:
    """PIL's rectangles include their right and bottom edges."""
    left, top, right, bottom = rect
    return left, top, right - 1, bottom - 1


def _bevelled_ring(draw: ImageDraw.ImageDraw, rect: Rect, thickness: int, colours: dict[str, Rgb]) -> None:
    """A band `thickness` wide inside `rect`, each side its own shade, mitred at the corners."""
    left, top, right, bottom = rect
    inner = _grow(rect, -thickness)
    sides = {
        "top": [(left, top), (right, top), (inner[2], inner[1]), (inner[0], inner[1])],
        "bottom": [(left, bottom), (right, bottom), (inner[2], inner[3]), (inner[0], inner[3])],
        "left": [(left, top), (inner[0], inner[1]), (inner[0], inner[3]), (left, bottom)],
        "right": [(right, top), (inner[2], inner[1]), (inner[2], inner[3]), (right, bottom)],
    }
    for side in ("left", "right", "top", "bottom"):  # top and bottom last: they win the mitres
        draw.polygon([(x - (x == right), y - (y == bottom)) for x, y in sides[side]], fill=colours[side])


def _drop_shadow(canvas: Image.Image, rect: Rect, scale: float) -> None:
    """A soft shadow below `rect` (light from above) plus a tight contact shadow at its edge.

    Only the area around the frame is blurred: cheap at 2160p, and it is drawn once per video.
    """
    width, height = rect[2] - rect[0], rect[3] - rect[1]
    for offset, radius, strength in ((14, 22, 0.55), (3, 4, 0.45)):
        offset, radius = round(offset * scale), max(1, round(radius * scale))
        pad = 3 * radius + offset
        mask = Image.new("L", (width + 2 * pad, height + 2 * pad), 0)
        ImageDraw.Draw(mask).rectangle((pad, pad + offset, pad + width - 1, pad + offset + height - 1), fill=255)
        mask = mask.filter(ImageFilter.GaussianBlur(radius)).point([round(v * strength) for v in range(256)])
        left, top = rect[0] - pad, rect[1] - pad
        canvas.paste((8, 6, 5), (left, top, left + mask.width, top + mask.height), mask)


def _plaster(size: tuple[int, int], *, amplitude: float) -> np.ndarray:
    """Fine, soft noise in levels (mean 0): a plaster wall, and dither against banding.

    Seeded by the size: the same wall in every frame and every run.
    """
    width, height = size
    rng = np.random.default_rng(width * 10007 + height)
    coarse = rng.normal(128.0, 40.0, (max(1, height // 2), max(1, width // 2)))
    noise = Image.fromarray(np.clip(coarse, 0, 255).astype(np.uint8), "L").resize(size, Image.Resampling.BILINEAR)
    noise = noise.filter(ImageFilter.GaussianBlur(max(1.0, min(size) / 900)))
    values = np.asarray(noise, np.float32) - 128.0
    return values * (amplitude / max(1e-6, float(values.std())))
