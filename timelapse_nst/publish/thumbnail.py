"""thumbnail.jpg: the photo and the painting split by a slanted line, with a big title.

Made for YouTube's limits (1280x720, under 2 MB) and for how it is seen: about 320x180 in a
list, with the video's length printed over the bottom right corner. So the title is large, bold
and outlined on a darkened band at the top, and nothing important sits in that corner.
"""

from __future__ import annotations

import io
import math
from collections.abc import Callable, Sequence
from pathlib import Path

from PIL import Image, ImageDraw, ImageFilter, ImageOps

from timelapse_nst.assembly import text
from timelapse_nst.assembly.layouts import AnyFont, font
from timelapse_nst.atomic import atomic_path
from timelapse_nst.errors import UserError

SIZE = (1280, 720)
MAX_BYTES = 2_000_000  # YouTube: 2 MB
WHITE, BLACK, ACCENT = (255, 255, 255), (0, 0, 0), (250, 196, 42)
Size = tuple[int, int]
Rgb = tuple[int, int, int]
Paint = Callable[[ImageDraw.ImageDraw, Rgb | int], None]  # draws one shape in the given colour


def make_thumbnail(photo: Image.Image, painting: Image.Image, title: str, *, size: Size = SIZE) -> Image.Image:
    """Before (the photo, left) and after (the painting, right), and the title on top."""
    width, height = size
    after = ImageOps.fit(painting.convert("RGB"), size, Image.Resampling.LANCZOS)
    before = ImageOps.fit(photo.convert("RGB"), size, Image.Resampling.LANCZOS)  # same aspect: same crop
    # 1. The split: a slanted line, more alive than a vertical one.
    top_x, bottom_x = round(width * 0.56), round(width * 0.44)
    mask = Image.new("L", size, 0)
    ImageDraw.Draw(mask).polygon([(0, 0), (top_x, 0), (bottom_x, height), (0, height)], fill=255)
    canvas = after.copy()
    canvas.paste(before, (0, 0), mask)
    line = max(2, round(height / 90))
    _shadowed(canvas, lambda draw, fill: draw.line([(top_x, 0), (bottom_x, height)], fill=fill, width=line), height)
    # 2. A dark band behind the title, fading out downwards: white text reads on any picture.
    lines, letter = text.fit_title(title, round(height * 0.165), width - 2 * round(width * 0.045))
    lines = [line for line in lines if line.strip()]
    band = round(height * (0.2 + 0.16 * len(lines))) if lines else 0
    if band:
        shade = Image.linear_gradient("L").resize((width, band)).point(lambda value: round(205 * (1 - value / 255)))
        canvas.paste(Image.new("RGB", (width, band), BLACK), (0, 0), shade)
    # 3. The title, outlined and shadowed (each glyph in a font that has it: CJK, emoji ...).
    _title(canvas, lines, letter, top=round(height * 0.035))
    tag_font = font(round(height * 0.06), bold=True)
    margin = round(height * 0.05)
    _pill(canvas, (margin, height - margin), "BEFORE", tag_font, "ld", (20, 20, 20), WHITE)
    # Above the corner where YouTube prints the length of the video.
    _pill(canvas, (width - margin, height - round(height * 0.19)), "AFTER", tag_font, "rd", ACCENT, BLACK)
    return canvas


def save_jpeg(image: Image.Image, out: Path, *, max_bytes: int = MAX_BYTES) -> Path:
    """The best JPEG quality under `max_bytes`, written atomically; UserError if none fits."""
    for quality in (92, 88, 84, 80, 75, 70, 60, 50):
        buffer = io.BytesIO()
        # 4:4:4 chroma: the coloured edges of the lettering stay sharp.
        image.save(buffer, format="JPEG", quality=quality, subsampling=0, optimize=True)
        if buffer.tell() <= max_bytes:
            with atomic_path(out) as partial:
                partial.write_bytes(buffer.getvalue())
            return out
    raise UserError(f"cannot make {out.name} smaller than {max_bytes} bytes")


# -- drawing helpers -----------------------------------------------------------------------


def _title(canvas: Image.Image, lines: Sequence[str], size: int, *, top: int) -> None:
    """White lines outlined in black, over a soft shadow, centred from `top` down."""
    if not lines:
        return
    shadow = Image.new("RGB", canvas.size, BLACK)
    _lettering(shadow, lines, size, top, fill=WHITE, outline=WHITE)
    offset = max(1, round(canvas.height / 160))
    mask = shadow.convert("L").filter(ImageFilter.GaussianBlur(max(1, round(canvas.height / 120))))
    canvas.paste(BLACK, (offset, offset, canvas.width + offset, canvas.height + offset), mask.point(_eighty_percent))
    _lettering(canvas, lines, size, top, fill=WHITE, outline=BLACK)


def _lettering(canvas: Image.Image, lines: Sequence[str], size: int, top: int, *, fill: Rgb, outline: Rgb) -> None:
    # The outline: the line drawn around itself on two rings (text.draw has no stroke, and this
    # works for every font a glyph may come from); then the line itself on top.
    stroke = max(2, round(size / 14))
    rings = [(radius, 2 * math.pi * k / 16) for radius in (stroke / 2, stroke) for k in range(16)]
    for number, line in enumerate(lines):
        x, y = canvas.width / 2, top + number * round(size * 1.08)
        for radius, angle in rings:
            at = (x + radius * math.cos(angle), y + radius * math.sin(angle))
            text.draw(canvas, at, line, size=size, fill=outline, bold=True, anchor="ma")
        text.draw(canvas, (x, y), line, size=size, fill=fill, bold=True, anchor="ma")


def _eighty_percent(value: int) -> int:
    return round(value * 0.8)


def _shadowed(canvas: Image.Image, paint: Paint, height: int) -> None:
    """Draw with `paint(draw, fill)`: first a soft black shadow below right, then in white."""
    shadow = Image.new("L", canvas.size, 0)
    paint(ImageDraw.Draw(shadow), 255)
    offset = max(1, round(height / 160))
    shadow = shadow.filter(ImageFilter.GaussianBlur(max(1, round(height / 120))))
    shadow = shadow.point(lambda value: round(value * 0.8))
    canvas.paste(BLACK, (offset, offset, canvas.width + offset, canvas.height + offset), shadow)
    paint(ImageDraw.Draw(canvas), WHITE)


def _pill(
    canvas: Image.Image,
    xy: tuple[int, int],
    text: str,
    tag_font: AnyFont,
    anchor: str,
    fill: Rgb,
    ink: Rgb,
) -> None:
    """`text` on a rounded pill whose outer edge (not the text's) sits at `xy`."""
    draw = ImageDraw.Draw(canvas)
    pad_x, pad_y = round(tag_font.size * 0.45), round(tag_font.size * 0.3)
    at = (xy[0] + (pad_x if anchor[0] == "l" else -pad_x), xy[1] - pad_y)
    left, top, right, bottom = draw.textbbox(at, text, font=tag_font, anchor=anchor)
    box = (left - pad_x, top - pad_y, right + pad_x, bottom + pad_y)
    draw.rounded_rectangle(box, radius=(box[3] - box[1]) // 2, fill=fill)
    draw.text(at, text, font=tag_font, fill=ink, anchor=anchor)
