"""The outro: the photo (before) and the painting (after), as a moving wipe or side by side."""

from __future__ import annotations

import math

from PIL import Image, ImageDraw

from timelapse_nst.assembly import text
from timelapse_nst.assembly.boxes import Size
from timelapse_nst.assembly.layouts import TEXT, resize_to_fit
from timelapse_nst.assembly.themes import ThemeName, make_theme
from timelapse_nst.settings.video import Outro


class Comparison:
    """The outro: photo (before) and painting (after), as a moving wipe or side by side."""

    def __init__(
        self,
        size: Size,
        background: str,
        before: Image.Image,
        after: Image.Image,
        mode: Outro,
        *,
        theme: ThemeName = "flat",
    ) -> None:
        self.size, self.background, self.mode = size, background, mode
        self.theme = make_theme(theme)
        self._scale = min(size) / 1080
        self._border = border = self.theme.border(self._scale)
        margin = round(48 * self._scale)
        edge, gap = margin + border, margin + 2 * border  # frames take room at the edges and between
        if mode == "side-by-side":
            vertical = size[1] > size[0]
            label = round(64 * self._scale)
            if vertical:
                box = (size[0] - 2 * edge, (size[1] - 2 * edge - gap - 2 * label) // 2)
            else:
                box = ((size[0] - 2 * edge - gap) // 2, size[1] - 2 * edge - 2 * label)
            self._before, self._after = resize_to_fit(before, box), resize_to_fit(after, box)
            self._static = self._side_by_side(vertical, gap, label)
        else:
            box = (size[0] - 2 * edge, size[1] - 2 * edge)
            self._after = resize_to_fit(after, box)
            self._before = before.resize(self._after.size, Image.Resampling.LANCZOS)
            width, height = self._after.size
            self._origin = ((size[0] - width) // 2, (size[1] - height) // 2)
            self._base = self.theme.wall(size, background)  # drawn once; each wipe frame copies it
            self.theme.frame(self._base, (*self._origin, width, height), self._scale)

    def frame(self, phase: float) -> Image.Image:
        """The comparison at `phase` (0..1 through the outro)."""
        if self.mode == "side-by-side":
            return self._static
        return self._wipe(phase)

    def _wipe(self, phase: float) -> Image.Image:
        canvas = self._base.copy()
        width, height = self._after.size
        origin = self._origin
        canvas.paste(self._after, origin)
        # The line sweeps across and back (cosine: it slows at both ends), revealing the photo.
        reach = 0.5 - 0.5 * math.cos(2 * math.pi * min(1.0, max(0.0, phase)))
        cut = round(width * reach)
        if cut > 0:
            canvas.paste(self._before.crop((0, 0, cut, height)), origin)
        draw = ImageDraw.Draw(canvas)
        line = max(2, round(4 * self._scale))
        x = origin[0] + cut
        draw.rectangle((x - line // 2, origin[1], x + line // 2, origin[1] + height - 1), fill=TEXT)
        size = max(10, round(30 * self._scale))
        pad = round(20 * self._scale)
        _tag(canvas, (origin[0] + pad, origin[1] + pad), "before", size, "la")
        _tag(canvas, (origin[0] + width - pad, origin[1] + pad), "after", size, "ra")
        return canvas

    def _side_by_side(self, vertical: bool, gap: int, label: int) -> Image.Image:
        canvas = self.theme.wall(self.size, self.background)
        size = max(10, round(36 * self._scale))
        pictures = ((self._before, "before"), (self._after, "after"))
        lift, border = round(14 * self._scale), self._border  # labels sit above the frames
        if vertical:
            total = sum(p.height for p, _ in pictures) + 2 * label + gap
            y = (self.size[1] - total) // 2
            for picture, name in pictures:
                x = (self.size[0] - picture.width) // 2
                self.theme.frame(canvas, (x, y + label, *picture.size), self._scale)
                text.draw(
                    canvas, (x - border, y + label - border - lift), name, size=size, fill=TEXT, bold=True, anchor="ls"
                )
                canvas.paste(picture, (x, y + label))
                y += label + picture.height + gap
        else:
            total = sum(p.width for p, _ in pictures) + gap
            x = (self.size[0] - total) // 2
            for picture, name in pictures:
                y = (self.size[1] - picture.height) // 2
                self.theme.frame(canvas, (x, y, *picture.size), self._scale)
                text.draw(canvas, (x - border, y - border - lift), name, size=size, fill=TEXT, bold=True, anchor="ls")
                canvas.paste(picture, (x, y))
                x += picture.width + gap
        return canvas


def _tag(canvas: Image.Image, xy: tuple[int, int], label: str, size: int, anchor: str) -> None:
    """Text on a dark rounded pill, readable over any picture."""
    left, top, right, bottom = text.draw(
        Image.new("RGB", (1, 1)), xy, label, size=size, fill=TEXT, bold=True, anchor=anchor
    )
    pad = max(3, (bottom - top) // 3)
    ImageDraw.Draw(canvas).rounded_rectangle((left - pad, top - pad, right + pad, bottom + pad), pad, fill=(16, 16, 16))
    text.draw(canvas, xy, label, size=size, fill=TEXT, bold=True, anchor=anchor)
