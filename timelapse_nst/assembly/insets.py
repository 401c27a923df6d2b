"""The style paintings shown beside the photo: where their insets go, and each one's share.

One painting sits in the photo's lower right corner, as in the seed's showcase frame. Several
sit in a row there, smaller, each tagged with its current share of the style loss; the dominant
one is framed in the accent colour, so a viewer sees a morph happen. A photo too flat to hold
them (a panorama) gets them in a row under it instead, at a readable size.
"""

from __future__ import annotations

from collections.abc import Sequence

from PIL import Image, ImageDraw

from timelapse_nst.assembly import text
from timelapse_nst.assembly.boxes import Box, Size

WHITE = (242, 242, 242)
ACCENT = (240, 180, 41)
PILL = (16, 16, 16)
SHARE = 0.36  # the seed's inset: about a third of the photo


def fit(size: Size, box: Size) -> Size:
    scale = min(box[0] / size[0], box[1] / size[1])
    return max(1, round(size[0] * scale)), max(1, round(size[1] * scale))


def place(photo: Box, styles: Sequence[Size], scale: float, *, below: int = 0) -> list[Box]:
    """Boxes of the style insets for a photo shown in ``photo``; ``below`` px under it are free."""
    left, top, width, height = photo
    count = max(1, len(styles))
    pad, gap = max(4, round(18 * scale)), max(3, round(12 * scale))
    readable = round(72 * scale)  # the least height at which a painting can be recognised
    # Inside the photo: a row whose height shrinks with the number of paintings.
    cell_h = round(height * SHARE / max(1.0, count**0.5))
    cell_w = (width * (0.5 + 0.1 * count) - (count - 1) * gap) / count
    inside = cell_h >= readable
    if not inside:  # a panorama: a row under the photo, as tall as the free room allows
        cell_h = max(readable // 2, min(readable, below - 2 * pad - round(34 * scale)))
        cell_w = (width - (count - 1) * gap) / count
    sizes = [fit(size, (max(1, round(cell_w)), max(1, cell_h))) for size in styles]
    row_width = sum(w for w, _ in sizes) + gap * (len(sizes) - 1)
    x = left + width - pad - row_width if inside else left + width - row_width
    boxes = []
    label = round(34 * scale)  # room for the tags above the row when it sits under the photo
    for w, h in sizes:
        y = top + height - pad - h if inside else top + height + pad + label
        boxes.append((x, y, w, h))
        x += w + gap
    return boxes


def draw(canvas: Image.Image, pictures: Sequence[Image.Image], boxes: Sequence[Box], scale: float) -> None:
    """The static part: each painting with a white frame and a hard shadow."""
    pen = ImageDraw.Draw(canvas)
    border, shadow = max(2, round(4 * scale)), max(2, round(8 * scale))
    for picture, (x, y, w, h) in zip(pictures, boxes, strict=True):
        frame = (x - border, y - border, x + w + border - 1, y + h + border - 1)
        pen.rectangle(tuple(v + shadow for v in frame), fill=(0, 0, 0))
        pen.rectangle(frame, fill=WHITE)
        canvas.paste(picture.resize((w, h), Image.Resampling.LANCZOS), (x, y))


def draw_labels(canvas: Image.Image, boxes: Sequence[Box], shares: Sequence[float] | None, scale: float) -> None:
    """Per frame: a "style" tag, or each painting's share ("62%"), the dominant one framed in the accent."""
    pen = ImageDraw.Draw(canvas)
    border = max(2, round(4 * scale))
    size = max(10, round(22 * scale))
    several = shares is not None and len(boxes) > 1
    leading = max(range(len(boxes)), key=lambda i: shares[i]) if several else -1  # type: ignore[index]
    for number, (x, y, w, h) in enumerate(boxes):
        if number == leading:
            outline = (x - border, y - border, x + w + border - 1, y + h + border - 1)
            pen.rectangle(outline, outline=ACCENT, width=border)
        label = f"{shares[number]:.0%}" if several else "style"  # type: ignore[index]
        _pill(canvas, (x + border, y - border - max(2, round(6 * scale))), label, size, number == leading, x + w)


def _pill(canvas: Image.Image, xy: tuple[int, int], label: str, size: int, accent: bool, right: int) -> None:
    """Text on a dark rounded pill, readable over any picture; anchored at its lower left, moved
    left when it would reach past ``right`` (a small inset's tag stays over its own picture)."""
    probe = Image.new("RGB", (1, 1))
    box = text.draw(probe, xy, label, size=size, fill=WHITE, bold=True, anchor="ld")
    pad = max(3, (box[3] - box[1]) // 3)
    shift = max(0, box[2] + pad - right)
    xy, box = (xy[0] - shift, xy[1]), (box[0] - shift, box[1], box[2] - shift, box[3])
    outline = (box[0] - pad, box[1] - pad, box[2] + pad, box[3] + pad)
    ImageDraw.Draw(canvas).rounded_rectangle(outline, pad, fill=ACCENT if accent else PILL)
    text.draw(canvas, xy, label, size=size, fill=PILL if accent else WHITE, bold=True, anchor="ld")
