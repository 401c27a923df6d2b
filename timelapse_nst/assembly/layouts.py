"""Compose one RGB video frame: plain, showcase and shorts layouts, and the outro comparison.

A layout is built once per video (static parts -- title, labels, content photo, style inset --
are drawn into a base image then) and afterwards only pastes the painting and draws the
iteration counter and progress bar on a copy of that base, so a frame costs a copy and a paste.
Geometry is written for 1920x1080 (1080x1920 for shorts) and scaled to the output size.
"""

from __future__ import annotations

import importlib.util
import math
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

from timelapse_nst.assembly.themes import ThemeName, make_theme
from timelapse_nst.video_settings import Layout as LayoutName
from timelapse_nst.video_settings import Outro

Size = tuple[int, int]
Box = tuple[int, int, int, int]  # left, top, width, height

TEXT = (242, 242, 242)
MUTED = (150, 150, 150)
ACCENT = (240, 180, 41)
TRACK = (58, 58, 58)


@dataclass(frozen=True)
class Inputs:
    """The pictures and words a layout shows besides the painting."""

    content: Image.Image | None  # RGB, any size
    style: Image.Image | None
    content_name: str
    style_name: str
    title: str  # "" for none
    total_iterations: int


def fit(size: Size, box: Size) -> Size:
    """The largest size with `size`'s aspect ratio inside `box` (up- or downscaling)."""
    scale = min(box[0] / size[0], box[1] / size[1])
    return max(1, round(size[0] * scale)), max(1, round(size[1] * scale))


def resize_to_fit(image: Image.Image, box: Size) -> Image.Image:
    """Lanczos resize into `box`, aspect kept: a 512 px render fills a 1080p frame cleanly."""
    target = fit(image.size, box)
    return image if image.size == target else image.resize(target, Image.Resampling.LANCZOS)


@lru_cache(maxsize=64)
def font(size: int, *, bold: bool = False) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    """DejaVu Sans from matplotlib's data (a dependency already), else Pillow's own font."""
    spec = importlib.util.find_spec("matplotlib")
    if spec is not None and spec.submodule_search_locations:
        name = "DejaVuSans-Bold.ttf" if bold else "DejaVuSans.ttf"
        path = Path(spec.submodule_search_locations[0]) / "mpl-data" / "fonts" / "ttf" / name
        if path.is_file():
            return ImageFont.truetype(str(path), size)
    return ImageFont.load_default(size=size)


class Layout:
    """Plain: the painting fitted into the whole frame, nothing else."""

    def __init__(
        self, size: Size, background: str, inputs: Inputs, painting_size: Size, *, theme: ThemeName = "flat"
    ) -> None:
        self.size = size
        self.background = background
        self.inputs = inputs
        self.theme = make_theme(theme)  # the plain layout ignores it: the painting fills the frame
        self.painting_box = self._place(painting_size)
        self._base = self._draw_base()

    def fit(self, source_size: Size) -> Size:
        """Size a captured frame of `source_size` is resized to before `frame`."""
        return fit(source_size, self.painting_box[2:])

    def frame(self, painting: Image.Image, iteration: float) -> Image.Image:
        """The video frame showing `painting` (already resized by `fit`) at `iteration`."""
        canvas = self._base.copy()
        left, top, width, height = self.painting_box
        canvas.paste(painting, (left + (width - painting.width) // 2, top + (height - painting.height) // 2))
        self._draw_progress(ImageDraw.Draw(canvas), iteration)
        return canvas

    def intro(self) -> Image.Image:
        """The intro card: the content photo with the style inset (the painting not yet begun)."""
        canvas = self._base.copy()
        if self.inputs.content is not None:
            _paste_with_inset(canvas, self.inputs.content, self.inputs.style, self.painting_box, self._scale)
        return canvas

    # -- overridden by the richer layouts -----------------------------------------------------
    @property
    def _scale(self) -> float:
        return min(self.size[0] / 1920, self.size[1] / 1080)

    def _place(self, painting_size: Size) -> Box:
        return (0, 0, *self.size)

    def _draw_base(self) -> Image.Image:
        return Image.new("RGB", self.size, self.background)

    def _draw_progress(self, draw: ImageDraw.ImageDraw, iteration: float) -> None:
        pass

    def _px(self, value: float) -> int:
        return max(1, round(value * self._scale))

    @property
    def _border(self) -> int:
        return self.theme.border(self._scale)

    def _wall(self, *picture_boxes: Box) -> Image.Image:
        """The theme's empty canvas with a frame around each picture box."""
        canvas = self.theme.wall(self.size, self.background)
        for box in picture_boxes:
            self.theme.frame(canvas, box, self._scale)
        return canvas


class Showcase(Layout):
    """Title; content photo with style inset on the left, the painting growing on the right."""

    def _place(self, painting_size: Size) -> Box:
        width, height = self.size
        margin, gap, border = self._px(64), self._px(48), self._border
        top = (self._px(190) if self.inputs.title else self._px(90)) + border
        bottom = self._px(150) + border
        panel = ((width - 2 * margin - gap) // 2 - 2 * border, height - top - bottom)
        shown = fit(painting_size, panel)
        # Both pictures share one size; the pair (with its frames) is centred under the title.
        left_x = (width - 2 * shown[0] - gap) // 2 - border
        y = top + (panel[1] - shown[1]) // 2
        self.content_box = (left_x, y, *shown)
        return (left_x + shown[0] + gap + 2 * border, y, *shown)

    def _draw_base(self) -> Image.Image:
        canvas = self._wall(self.content_box, self.painting_box)
        draw = ImageDraw.Draw(canvas)
        if self.inputs.title:
            title_font = _shrink_to_width(
                draw, self.inputs.title, self.size[0] - self._px(128), self._px(64), bold=True
            )
            draw.text((self.size[0] // 2, self._px(88)), self.inputs.title, font=title_font, fill=TEXT, anchor="mm")
        left, top, _width, height = self.content_box
        border = self._border
        label_font = font(self._px(32), bold=True)
        label_y = top - border - self._px(18)
        draw.text((left - border, label_y), "content + style", font=label_font, fill=TEXT, anchor="ls")
        draw.text((self.painting_box[0] - border, label_y), "painting", font=label_font, fill=TEXT, anchor="ls")
        names = f"{self.inputs.content_name}  +  {self.inputs.style_name}"
        names_y = top + height + border + self._px(46)
        draw.text((left - border, names_y), names, font=font(self._px(26)), fill=MUTED, anchor="ls")
        if self.inputs.content is not None:
            _paste_with_inset(canvas, self.inputs.content, self.inputs.style, self.content_box, self._scale)
        else:
            draw.rectangle(_corners(self.content_box), fill=self.theme.placeholder)
        return canvas

    def intro(self) -> Image.Image:
        canvas = self._base.copy()
        ImageDraw.Draw(canvas).rectangle(_corners(self.painting_box), fill=self.theme.placeholder)
        self._draw_progress(ImageDraw.Draw(canvas), 0.0)
        return canvas

    def _draw_progress(self, draw: ImageDraw.ImageDraw, iteration: float) -> None:
        left, top, width, height = _grow(self.painting_box, self._border)  # under the frame
        total = max(1, self.inputs.total_iterations)
        done = min(1.0, max(0.0, iteration / total))
        bar_top, bar_height = top + height + self._px(20), self._px(10)
        radius = bar_height // 2
        draw.rounded_rectangle((left, bar_top, left + width, bar_top + bar_height), radius, fill=TRACK)
        if done > 0:
            filled = max(bar_height, round(width * done))
            draw.rounded_rectangle((left, bar_top, left + filled, bar_top + bar_height), radius, fill=ACCENT)
        text_y = bar_top + bar_height + self._px(36)
        counter = f"iteration {round(iteration)} / {self.inputs.total_iterations}"
        draw.text((left, text_y), counter, font=font(self._px(28)), fill=TEXT, anchor="ls")
        draw.text((left + width, text_y), f"{done:.0%}", font=font(self._px(28)), fill=MUTED, anchor="rs")


class Shorts(Showcase):
    """Vertical 9:16: title, content and style side by side, the painting large below them."""

    @property
    def _scale(self) -> float:
        return min(self.size[0] / 1080, self.size[1] / 1920)

    def _place(self, painting_size: Size) -> Box:
        width, height = self.size
        margin, gap, label, spacing = self._px(60), self._px(36), self._px(56), self._px(44)
        border = self._border  # a framed picture takes `border` more on every side
        margin, gap, label, spacing = margin + border, gap + 2 * border, label + border, spacing + border
        self._title_lines = self._wrap_title()
        title_height = self._px(84) * len(self._title_lines) + (self._px(40) if self._title_lines else 0)
        inputs_box = ((width - 2 * margin - gap) // 2, self._px(420) - 2 * border)
        content = fit(self.inputs.content.size if self.inputs.content else painting_size, inputs_box)
        style = fit(self.inputs.style.size, inputs_box) if self.inputs.style else inputs_box
        row_height = max(content[1], style[1])
        progress_height = self._px(110) + border
        above = title_height + label + row_height + spacing + label
        shown = fit(painting_size, (width - 2 * margin, height - 2 * self._px(60) - above - progress_height))
        # Title and pictures as one block, centred vertically.
        self._title_top = max(self._px(60), (height - above - shown[1] - progress_height) // 2)
        y = self._title_top + title_height
        self.content_box = (margin + (inputs_box[0] - content[0]) // 2, y + label, *content)
        self.style_box = (width - margin - inputs_box[0] + (inputs_box[0] - style[0]) // 2, y + label, *style)
        return ((width - shown[0]) // 2, y + label + row_height + spacing + label, *shown)

    def _wrap_title(self) -> list[str]:
        title = self.inputs.title
        if not title:
            return []
        probe = ImageDraw.Draw(Image.new("RGB", (1, 1)))
        limit = self.size[0] - self._px(120)
        words, lines = title.split(), [""]
        for word in words:
            candidate = f"{lines[-1]} {word}".strip()
            if probe.textlength(candidate, font=font(self._px(68), bold=True)) <= limit or not lines[-1]:
                lines[-1] = candidate
            else:
                lines.append(word)
        return lines[:2] if len(lines) <= 2 else [lines[0], " ".join(lines[1:])]

    def _draw_base(self) -> Image.Image:
        canvas = self._wall(self.content_box, self.style_box, self.painting_box)
        draw = ImageDraw.Draw(canvas)
        for number, line in enumerate(self._title_lines):
            line_font = _shrink_to_width(draw, line, self.size[0] - self._px(120), self._px(68), bold=True)
            y = self._title_top + self._px(42) + self._px(84) * number
            draw.text((self.size[0] // 2, y), line, font=line_font, fill=TEXT, anchor="mm")
        label_font = font(self._px(34), bold=True)
        for box, text, image in (
            (self.content_box, "content", self.inputs.content),
            (self.style_box, "style", self.inputs.style),
        ):
            label_xy = (box[0] - self._border, box[1] - self._border - self._px(16))
            draw.text(label_xy, text, font=label_font, fill=TEXT, anchor="ls")
            if image is not None:
                canvas.paste(resize_to_fit(image, box[2:]), box[:2])
            else:
                draw.rectangle(_corners(box), fill=self.theme.placeholder)
        left, top = self.painting_box[0] - self._border, self.painting_box[1] - self._border
        draw.text((left, top - self._px(16)), "painting", font=label_font, fill=TEXT, anchor="ls")
        return canvas


LAYOUTS: dict[LayoutName, type[Layout]] = {"plain": Layout, "showcase": Showcase, "shorts": Shorts}


def make_layout(
    name: LayoutName, size: Size, background: str, inputs: Inputs, painting_size: Size, *, theme: ThemeName = "flat"
) -> Layout:
    """Build the layout `name` for a painting whose frames are `painting_size` (final size)."""
    return LAYOUTS[name](size, background, inputs, painting_size, theme=theme)


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
        tag = font(max(10, round(30 * self._scale)), bold=True)
        pad = round(20 * self._scale)
        _tag(draw, (origin[0] + pad, origin[1] + pad), "before", tag, "la")
        _tag(draw, (origin[0] + width - pad, origin[1] + pad), "after", tag, "ra")
        return canvas

    def _side_by_side(self, vertical: bool, gap: int, label: int) -> Image.Image:
        canvas = self.theme.wall(self.size, self.background)
        draw = ImageDraw.Draw(canvas)
        label_font = font(max(10, round(36 * self._scale)), bold=True)
        pictures = ((self._before, "before"), (self._after, "after"))
        lift, border = round(14 * self._scale), self._border  # labels sit above the frames
        if vertical:
            total = sum(p.height for p, _ in pictures) + 2 * label + gap
            y = (self.size[1] - total) // 2
            for picture, text in pictures:
                x = (self.size[0] - picture.width) // 2
                self.theme.frame(canvas, (x, y + label, *picture.size), self._scale)
                draw.text((x - border, y + label - border - lift), text, font=label_font, fill=TEXT, anchor="ls")
                canvas.paste(picture, (x, y + label))
                y += label + picture.height + gap
        else:
            total = sum(p.width for p, _ in pictures) + gap
            x = (self.size[0] - total) // 2
            for picture, text in pictures:
                y = (self.size[1] - picture.height) // 2
                self.theme.frame(canvas, (x, y, *picture.size), self._scale)
                draw.text((x - border, y - border - lift), text, font=label_font, fill=TEXT, anchor="ls")
                canvas.paste(picture, (x, y))
                x += picture.width + gap
        return canvas


def _paste_with_inset(
    canvas: Image.Image, content: Image.Image, style: Image.Image | None, box: Box, scale: float
) -> None:
    """Content photo fitted to `box`, the style painting inset in its lower right corner."""
    left, top, width, height = box
    photo = resize_to_fit(content, (width, height))
    origin = (left + (width - photo.width) // 2, top + (height - photo.height) // 2)
    canvas.paste(photo, origin)
    if style is None:
        return
    border = max(2, round(4 * scale))
    inset = resize_to_fit(style, (round(photo.width * 0.36), round(photo.height * 0.36)))
    pad = max(4, round(18 * scale))
    x = origin[0] + photo.width - inset.width - pad
    y = origin[1] + photo.height - inset.height - pad
    draw = ImageDraw.Draw(canvas)
    shadow = max(2, round(8 * scale))
    frame = (x - border, y - border, x + inset.width + border - 1, y + inset.height + border - 1)
    draw.rectangle(tuple(value + shadow for value in frame), fill=(0, 0, 0))  # a hard drop shadow
    draw.rectangle(frame, fill=TEXT)
    canvas.paste(inset, (x, y))
    tag_font = font(max(10, round(24 * scale)), bold=True)
    _tag(draw, (x + border, y - border - max(2, round(6 * scale))), "style", tag_font, "ld")


AnyFont = ImageFont.ImageFont | ImageFont.FreeTypeFont


def _tag(draw: ImageDraw.ImageDraw, xy: tuple[int, int], text: str, tag_font: AnyFont, anchor: str) -> None:
    """Text on a dark rounded pill, readable over any picture."""
    left, top, right, bottom = draw.textbbox(xy, text, font=tag_font, anchor=anchor)
    pad = max(3, (bottom - top) // 3)
    draw.rounded_rectangle((left - pad, top - pad, right + pad, bottom + pad), pad, fill=(16, 16, 16))
    draw.text(xy, text, font=tag_font, fill=TEXT, anchor=anchor)


def _shrink_to_width(draw: ImageDraw.ImageDraw, text: str, width: int, size: int, *, bold: bool) -> AnyFont:
    """The font at `size`, or smaller until `text` fits in `width` (long titles)."""
    while size > 8 and draw.textlength(text, font=font(size, bold=bold)) > width:
        size = int(size * 0.9)
    return font(size, bold=bold)


def _corners(box: Box) -> tuple[int, int, int, int]:
    left, top, width, height = box
    return left, top, left + width - 1, top + height - 1


def _grow(box: Box, by: int) -> Box:
    left, top, width, height = box
    return left - by, top - by, width + 2 * by, height + 2 * by
