"""Pictures for people: contact_sheet.png (frames in a labelled grid) and losses.png (curves)."""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from pathlib import Path

from PIL import Image, ImageDraw

from timelapse_nst.assembly.layouts import MUTED, TEXT, font, resize_to_fit
from timelapse_nst.atomic import atomic_path
from timelapse_nst.images import load_image
from timelapse_nst.runfolder.folder import Frame
from timelapse_nst.runfolder.log import LogEntry
from timelapse_nst.runfolder.losses import weighted_losses


def pick_evenly(count: int, wanted: int) -> list[int]:
    """`wanted` indices spread evenly over range(count), first and last included."""
    if count <= wanted:
        return list(range(count))
    return sorted({round(i * (count - 1) / (wanted - 1)) for i in range(wanted)})


def contact_sheet(
    frames: Sequence[Frame],
    out: Path,
    *,
    total_iterations: int,
    cells: int = 24,
    columns: int = 6,
    cell_width: int = 256,
    background: str = "#101010",
) -> Path:
    """A grid of up to `cells` frames, evenly picked, each labelled with its iteration."""
    chosen = [frames[i] for i in pick_evenly(len(frames), cells)]
    first = load_image(chosen[-1].path)  # the last frame has the final (largest) size
    cell = (cell_width, max(1, round(cell_width * first.height / first.width)))
    columns = min(columns, len(chosen))
    rows = math.ceil(len(chosen) / columns)
    gap, label = 12, 30
    sheet = Image.new("RGB", (columns * (cell[0] + gap) + gap, rows * (cell[1] + label + gap) + gap), background)
    draw = ImageDraw.Draw(sheet)
    label_font = font(16)
    for number, frame in enumerate(chosen):
        x = gap + (number % columns) * (cell[0] + gap)
        y = gap + (number // columns) * (cell[1] + label + gap)
        picture = resize_to_fit(load_image(frame.path), cell)
        sheet.paste(picture, (x + (cell[0] - picture.width) // 2, y + (cell[1] - picture.height) // 2))
        draw.text((x, y + cell[1] + 22), f"iteration {frame.iteration}", font=label_font, fill=TEXT, anchor="ls")
        draw.text((x + cell[0], y + cell[1] + 22), f"/ {total_iterations}", font=label_font, fill=MUTED, anchor="rs")
    return _save_png(sheet, out)


def losses_plot(entries: Sequence[LogEntry], out: Path, *, title: str = "losses") -> Path | None:
    """Loss curves over iterations on a log scale: the total and each term as it counts in it
    (weighted, so the terms add up to the total; a log without weights shows the terms as
    measured, labelled so); None (nothing written) when the log is empty."""
    if not entries:
        return None
    # The object-oriented API with the Agg canvas: no pyplot, no global backend switch.
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(10, 5.6), dpi=128)
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    iterations = [entry.iteration for entry in entries]
    curves, ylabel = loss_curves(entries)
    for label, xs, ys in curves:
        axes.plot(xs, ys, label=label, linewidth=2.2 if label == "total" else 1.4)
    for previous, entry in itertools.pairwise(entries):
        if entry.scale != previous.scale:  # multi-scale renders: mark where the size changed
            axes.axvline(entry.iteration, color="grey", linestyle=":", linewidth=1)
    axes.set_yscale("log")
    axes.set_xlim(min(iterations), max(max(iterations), min(iterations) + 1))
    axes.set_xlabel("iteration")
    axes.set_ylabel(ylabel)
    axes.set_title(title)
    axes.grid(True, which="major", alpha=0.3)
    if axes.get_legend_handles_labels()[0]:
        axes.legend()
    figure.tight_layout()
    with atomic_path(out) as partial:
        figure.savefig(partial, format="png")
    return out


Curve = tuple[str, tuple[int, ...], tuple[float, ...]]  # label, iterations, values


def loss_curves(entries: Sequence[LogEntry]) -> tuple[list[Curve], str]:
    """The curves of losses.png and its y-axis label: the total and each term weighted (they add
    up to the total), or, for a log without weights, each term as measured, labelled so."""
    weighted = all(entry.loss_weights for entry in entries)
    shown = [weighted_losses(e.losses, e.loss_weights) if weighted else dict(e.losses) for e in entries]
    curves = []
    for name in sorted({name for losses in shown for name in losses}, key=_loss_order):
        # Log scale: zero, negative and non-finite values cannot be drawn.
        pairs = [(e.iteration, v[name]) for e, v in zip(entries, shown, strict=True) if 0 < v.get(name, 0) < math.inf]
        if pairs:
            label = name if name == "total" else f"{name} ({'weighted' if weighted else 'unweighted'})"
            xs, ys = zip(*pairs, strict=True)
            curves.append((label, xs, ys))
    if weighted:
        return curves, "loss, each term × its weight: they add up to the total (log scale)"
    return curves, "loss; the terms unweighted (log scale)"


def _loss_order(name: str) -> tuple[int, str]:
    order = {"content": 0, "style": 1, "tv": 2, "total": 3}
    return order.get(name, 2), name


def _save_png(image: Image.Image, out: Path) -> Path:
    with atomic_path(out) as partial:
        image.save(partial, format="PNG")
    return out
