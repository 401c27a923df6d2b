"""Compose one RGB video frame: plain, showcase and shorts layouts, and the outro comparison.

A layout is built once per video (static parts -- title, labels, content photo, style inset --
are drawn into a base image then) and afterwards only pastes the painting and draws the
iteration counter and progress bar on a copy of that base, so a frame costs a copy and a paste.
A clip's video also pastes the source frame of the moment (``Moment``) where the photo was.
Geometry is written for 1920x1080 (1080x1920 for shorts) and scaled to the output size.
"""

from __future__ import annotations

import importlib.util
import math
from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property, lru_cache
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

from timelapse_nst.assembly import insets, text
from timelapse_nst.assembly.boxes import Box, Size
from timelapse_nst.assembly.themes import ThemeName, make_theme
from timelapse_nst.settings.video import Layout as LayoutName

TEXT = (242, 242, 242)
MUTED = (150, 150, 150)
ACCENT = (240, 180, 41)
TRACK = (58, 58, 58)


Shares = Callable[[float], tuple[float, ...]]
"""Each painting's share of the style loss at an iteration (several paintings)."""


@dataclass(frozen=True)
class Inputs:
    """The pictures and words a layout shows besides the painting."""

    content: Image.Image | None  # RGB, any size
    styles: tuple[Image.Image, ...]  # every painting (none: a placeholder is drawn)
    content_name: str
    style_names: tuple[str, ...]
    title: str  # "" for none
    total_iterations: int
    shares: Shares | None = None  # None: one painting, or equal shares
    clip: bool = False  # the content is a video clip (its first frame is `content`)


@dataclass(frozen=True)
class Moment:
    """Where a playing clip is: its frame `frame` of `frames`, at `fps`, and that frame's source picture."""

    source: Image.Image | None  # the input frame, resized by `Layout.fit_source` (None: not shown)
    frame: int
    frames: int
    fps: float


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

    def fit_source(self, source_size: Size) -> Size | None:
        """Size a clip's source frame is resized to before `frame` (None: this layout shows none)."""
        return None

    def frame(self, painting: Image.Image, iteration: float, moment: Moment | None = None) -> Image.Image:
        """The video frame showing `painting` (already resized by `fit`) at `iteration`, or, while
        a clip plays, at `moment` (its source frame shown where the photo is)."""
        canvas = self._base.copy()
        left, top, width, height = self.painting_box
        canvas.paste(painting, (left + (width - painting.width) // 2, top + (height - painting.height) // 2))
        if moment is not None and moment.source is not None:
            self._draw_source(canvas, moment.source)
        self._draw_progress(canvas, iteration, moment)
        return canvas

    def intro(self) -> Image.Image:
        """The intro card: the content photo with the style insets (the painting not yet begun)."""
        canvas = self._base.copy()
        if self.inputs.content is not None:
            photo = _paste_fitted(canvas, self.inputs.content, self.painting_box)
            boxes = insets.place(photo, [s.size for s in self.inputs.styles], self._scale)
            insets.draw(canvas, self.inputs.styles, boxes, self._scale)
            insets.draw_labels(canvas, boxes, self._shares(0.0), self._scale)
        return canvas

    # -- overridden by the richer layouts -----------------------------------------------------
    @property
    def _scale(self) -> float:
        return min(self.size[0] / 1920, self.size[1] / 1080)

    def _place(self, painting_size: Size) -> Box:
        return (0, 0, *self.size)

    def _draw_base(self) -> Image.Image:
        return Image.new("RGB", self.size, self.background)

    def _draw_progress(self, canvas: Image.Image, iteration: float, moment: Moment | None = None) -> None:
        pass

    def _draw_source(self, canvas: Image.Image, source: Image.Image) -> None:
        pass

    def _shares(self, iteration: float) -> tuple[float, ...] | None:
        return self.inputs.shares(iteration) if self.inputs.shares is not None else None

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
    """Title; the photo with the style insets on the left, the painting growing on the right."""

    # Lines of the title: a longer one gets smaller; at the smallest size it may take a few more
    # lines, so that every title the settings take (200 characters) is drawn whole.
    TITLE_LINES, TITLE_LINES_AT_MOST = 2, 3

    @property
    def title_lines(self) -> list[str]:
        """The title as drawn, line by line."""
        return self._title_lines

    def _place(self, painting_size: Size) -> Box:
        width, height = self.size
        margin, gap, border = self._px(64), self._px(48), self._border
        self._title_lines, self._title_size = self._fit_title(width - 2 * margin)
        lines = len(self._title_lines)
        top = (self._px(190) + (lines - 1) * self._px(64) if lines else self._px(90)) + border
        bottom = self._px(150) + border
        panel = ((width - 2 * margin - gap) // 2 - 2 * border, height - top - bottom)
        shown = fit(painting_size, panel)
        # Both pictures share one size; the pair (with its frames) is centred under the title.
        left_x = (width - 2 * shown[0] - gap) // 2 - border
        y = top + (panel[1] - shown[1]) // 2
        self.content_box = (left_x, y, *shown)
        below = top + panel[1] - (y + shown[1]) + bottom - self._px(60)  # free room under the photo
        photo = fit(self.inputs.content.size, shown) if self.inputs.content else shown
        photo_box = (left_x + (shown[0] - photo[0]) // 2, y + (shown[1] - photo[1]) // 2, *photo)
        self.inset_boxes = insets.place(photo_box, [s.size for s in self.inputs.styles], self._scale, below=below)
        return (left_x + shown[0] + gap + 2 * border, y, *shown)

    def fit_source(self, source_size: Size) -> Size | None:
        return fit(source_size, self.content_box[2:])

    def _draw_source(self, canvas: Image.Image, source: Image.Image) -> None:
        """The clip's frame of the moment where the photo is, the paintings' insets over it again."""
        left, top, width, height = self.content_box
        canvas.paste(source, (left + (width - source.width) // 2, top + (height - source.height) // 2))
        insets.draw(canvas, self._inset_pictures, self.inset_boxes, self._scale)

    @cached_property
    def _inset_pictures(self) -> list[Image.Image]:
        """The paintings at their insets' sizes: resized once per video, not once per frame."""
        sizes = [(width, height) for _, _, width, height in self.inset_boxes]
        return [
            style.resize(size, Image.Resampling.LANCZOS) for style, size in zip(self.inputs.styles, sizes, strict=False)
        ]

    def _fit_title(self, limit: int) -> tuple[list[str], int]:
        if not self.inputs.title:
            return [], 0
        smallest = max(10, self._px(30))
        lines, most = self.TITLE_LINES, self.TITLE_LINES_AT_MOST
        return text.fit_title(self.inputs.title, self._px(64), limit, lines=lines, smallest=smallest, most=most)

    def _draw_base(self) -> Image.Image:
        canvas = self._wall(self.content_box, self.painting_box)
        for number, line in enumerate(self._title_lines):
            y = self._px(88) + number * round(self._title_size * 1.2)
            text.draw(canvas, (self.size[0] // 2, y), line, size=self._title_size, fill=TEXT, bold=True, anchor="mm")
        left, top, _width, height = self.content_box
        border = self._border
        label_y = top - border - self._px(18)
        labels = ("clip" if self.inputs.clip else "content") + (
            " + style" if len(self.inputs.styles) <= 1 else " + styles"
        )
        text.draw(canvas, (left - border, label_y), labels, size=self._px(32), fill=TEXT, bold=True, anchor="ls")
        painting_x = self.painting_box[0] - border
        text.draw(canvas, (painting_x, label_y), "painting", size=self._px(32), fill=TEXT, bold=True, anchor="ls")
        names = "  +  ".join((self.inputs.content_name, *self.inputs.style_names))
        lowest = max([top + height + border, *(y + h for _, y, _, h in self.inset_boxes)])
        text.draw(canvas, (left - border, lowest + self._px(46)), names, size=self._px(26), fill=MUTED, anchor="ls")
        if self.inputs.content is not None:
            _paste_fitted(canvas, self.inputs.content, self.content_box)
            insets.draw(canvas, self.inputs.styles, self.inset_boxes, self._scale)
        else:
            ImageDraw.Draw(canvas).rectangle(_corners(self.content_box), fill=self.theme.placeholder)
        return canvas

    def intro(self) -> Image.Image:
        canvas = self._base.copy()
        ImageDraw.Draw(canvas).rectangle(_corners(self.painting_box), fill=self.theme.placeholder)
        self._draw_progress(canvas, 0.0)
        return canvas

    def _draw_progress(self, canvas: Image.Image, iteration: float, moment: Moment | None = None) -> None:
        self._draw_bar(canvas, iteration, moment)
        if self.inputs.content is not None:
            insets.draw_labels(canvas, self.inset_boxes, self._shares(iteration), self._scale)

    def _draw_bar(self, canvas: Image.Image, iteration: float, moment: Moment | None = None) -> None:
        """The progress bar under the painting: the iteration counter and the percentage, or
        while a clip plays, its frame and its time."""
        draw = ImageDraw.Draw(canvas)
        left, top, width, height = _grow(self.painting_box, self._border)  # under the frame
        if moment is None:
            total = max(1, self.inputs.total_iterations)
            done = min(1.0, max(0.0, iteration / total))
            counter, right = f"iteration {round(iteration)} / {self.inputs.total_iterations}", f"{done:.0%}"
        else:
            done = (moment.frame + 1) / moment.frames
            counter = f"frame {moment.frame + 1} / {moment.frames}"
            right = f"{_clock(moment.frame / moment.fps)} / {_clock(moment.frames / moment.fps)}"
        bar_top, bar_height = top + height + self._px(20), self._px(10)
        radius = bar_height // 2
        draw.rounded_rectangle((left, bar_top, left + width, bar_top + bar_height), radius, fill=TRACK)
        if done > 0:
            filled = max(bar_height, round(width * done))
            draw.rounded_rectangle((left, bar_top, left + filled, bar_top + bar_height), radius, fill=ACCENT)
        text_y = bar_top + bar_height + self._px(36)
        text.draw(canvas, (left, text_y), counter, size=self._px(28), fill=TEXT, anchor="ls")
        text.draw(canvas, (left + width, text_y), right, size=self._px(28), fill=MUTED, anchor="rs")


class Shorts(Showcase):
    """Vertical 9:16: title, the photo and the paintings side by side, the painting large below them."""

    # A narrow frame with height to spare: a long title wraps to more lines rather than shrinking.
    TITLE_LINES, TITLE_LINES_AT_MOST = 3, 5

    @property
    def _scale(self) -> float:
        return min(self.size[0] / 1080, self.size[1] / 1920)

    def _place(self, painting_size: Size) -> Box:
        width, height = self.size
        margin, gap, label, spacing = self._px(60), self._px(36), self._px(56), self._px(44)
        border = self._border  # a framed picture takes `border` more on every side
        margin, gap, label, spacing = margin + border, gap + 2 * border, label + border, spacing + border
        self._title_lines, self._title_size = self._fit_title(width - 2 * self._px(60))
        title_height = round(self._title_size * 1.25) * len(self._title_lines) + (
            self._px(40) if self._title_lines else 0
        )
        inputs_box = ((width - 2 * margin - gap) // 2, self._px(420) - 2 * border)
        content = fit(self.inputs.content.size if self.inputs.content else painting_size, inputs_box)
        styles = self._style_cells(inputs_box)
        row_height = max(content[1], *(h for _, h in styles)) if styles else content[1]
        progress_height = self._px(110) + border
        above = title_height + label + row_height + spacing + label
        shown = fit(painting_size, (width - 2 * margin, height - 2 * self._px(60) - above - progress_height))
        # Title and pictures as one block, centred vertically.
        self._title_top = max(self._px(60), (height - above - shown[1] - progress_height) // 2)
        y = self._title_top + title_height
        self.content_box = (margin + (inputs_box[0] - content[0]) // 2, y + label, *content)
        self.style_box = (width - margin - inputs_box[0], y + label, inputs_box[0], row_height)
        x = self.style_box[0] + (inputs_box[0] - sum(w for w, _ in styles) - gap * (len(styles) - 1)) // 2
        self.inset_boxes = []
        for w, h in styles:
            self.inset_boxes.append((x, y + label, w, h))
            x += w + gap
        return ((width - shown[0]) // 2, y + label + row_height + spacing + label, *shown)

    def _style_cells(self, box: Size) -> list[Size]:
        """Each painting fitted to its share of the row beside the photo."""
        count = len(self.inputs.styles)
        if count == 0:
            return [box]
        gap = self._px(36) + 2 * self._border
        cell = ((box[0] - gap * (count - 1)) // count, box[1])
        return [fit(style.size, cell) for style in self.inputs.styles]

    def _draw_base(self) -> Image.Image:
        canvas = self._wall(self.content_box, *self.inset_boxes, self.painting_box)
        for number, line in enumerate(self._title_lines):
            y = self._title_top + self._px(42) + round(self._title_size * 1.25) * number
            text.draw(canvas, (self.size[0] // 2, y), line, size=self._title_size, fill=TEXT, bold=True, anchor="mm")
        size, lift = self._px(34), self._border + self._px(16)
        box = self.content_box
        label = "clip" if self.inputs.clip else "content"
        text.draw(canvas, (box[0] - self._border, box[1] - lift), label, size=size, fill=TEXT, bold=True, anchor="ls")
        if self.inputs.content is not None:
            canvas.paste(resize_to_fit(self.inputs.content, box[2:]), box[:2])
        else:
            ImageDraw.Draw(canvas).rectangle(_corners(box), fill=self.theme.placeholder)
        if len(self.inputs.styles) <= 1:  # several: each gets its share as a tag, per frame
            first = self.inset_boxes[0]
            text.draw(
                canvas,
                (first[0] - self._border, first[1] - lift),
                "style",
                size=size,
                fill=TEXT,
                bold=True,
                anchor="ls",
            )
        for style, (x, y, w, h) in zip(self.inputs.styles, self.inset_boxes, strict=False):
            canvas.paste(style.resize((w, h), Image.Resampling.LANCZOS), (x, y))
        if not self.inputs.styles:
            ImageDraw.Draw(canvas).rectangle(_corners(self.inset_boxes[0]), fill=self.theme.placeholder)
        left, top = self.painting_box[0] - self._border, self.painting_box[1] - self._border
        text.draw(canvas, (left, top - self._px(16)), "painting", size=size, fill=TEXT, bold=True, anchor="ls")
        return canvas

    def _draw_source(self, canvas: Image.Image, source: Image.Image) -> None:
        left, top, width, height = self.content_box
        canvas.paste(source, (left + (width - source.width) // 2, top + (height - source.height) // 2))

    def _draw_progress(self, canvas: Image.Image, iteration: float, moment: Moment | None = None) -> None:
        self._draw_bar(canvas, iteration, moment)
        if len(self.inputs.styles) > 1:
            insets.draw_labels(canvas, self.inset_boxes, self._shares(iteration), self._scale)


LAYOUTS: dict[LayoutName, type[Layout]] = {"plain": Layout, "showcase": Showcase, "shorts": Shorts}


def make_layout(
    name: LayoutName, size: Size, background: str, inputs: Inputs, painting_size: Size, *, theme: ThemeName = "flat"
) -> Layout:
    """Build the layout `name` for a painting whose frames are `painting_size` (final size)."""
    return LAYOUTS[name](size, background, inputs, painting_size, theme=theme)


def _paste_fitted(canvas: Image.Image, picture: Image.Image, box: Box) -> Box:
    """``picture`` fitted and centred in ``box``; returns where it landed."""
    left, top, width, height = box
    fitted = resize_to_fit(picture, (width, height))
    origin = (left + (width - fitted.width) // 2, top + (height - fitted.height) // 2)
    canvas.paste(fitted, origin)
    return (*origin, *fitted.size)


AnyFont = ImageFont.ImageFont | ImageFont.FreeTypeFont


def _clock(seconds: float) -> str:
    """0:07.5, 1:05.0: a clip's time, to a tenth of a second (a clip may last less than one)."""
    tenths = math.floor(seconds * 10 + 1e-6)
    return f"{tenths // 600}:{tenths % 600 / 10:04.1f}"


def _corners(box: Box) -> tuple[int, int, int, int]:
    left, top, width, height = box
    return left, top, left + width - 1, top + height - 1


def _grow(box: Box, by: int) -> Box:
    left, top, width, height = box
    return left - by, top - by, width + 2 * by, height + 2 * by
