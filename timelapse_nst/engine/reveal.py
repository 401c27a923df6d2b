"""Paint that spreads: a paint order over the canvas, and each pixel's style weight at a moment.

Pure functions of tensors. A paint order is an (H, W) float32 map in 0..1: 0 is painted first,
1 last. At a moment of the reveal a front has reached some order; pixels behind it have weight
1, pixels ahead 0, and a linear ramp ``edge`` wide (in order units) lies in between.
"""

from __future__ import annotations

import math

import torch

from timelapse_nst.settings.regions import Reveal


def sweep(height: int, width: int, angle: float) -> torch.Tensor:
    """A straight front travelling at ``angle`` degrees (0: left to right, 90: top to bottom):
    each pixel's position along that direction, from the first corner it meets (0) to the last (1)."""
    radians = math.radians(angle)
    dx, dy = math.cos(radians), math.sin(radians)
    ys, xs = _centres(height, width)
    along = xs * dx + ys * dy
    corners = [x * dx + y * dy for x in (0.0, width) for y in (0.0, height)]
    return _normalised(along, min(corners), max(corners))


def radial(height: int, width: int, center: tuple[float, float]) -> torch.Tensor:
    """The distance from ``center`` (fractions of width and height) over the farthest corner's: 0..1."""
    cx, cy = center[0] * width, center[1] * height
    ys, xs = _centres(height, width)
    distance = torch.sqrt((xs - cx) ** 2 + (ys - cy) ** 2)
    farthest = max(math.hypot(x - cx, y - cy) for x in (0.0, width) for y in (0.0, height))
    return _normalised(distance, 0.0, farthest)


def from_image(grey: torch.Tensor) -> torch.Tensor:
    """A grey paint-order image (H, W) in any range: darkest first, lightest last, stretched to 0..1
    (a flat image paints everywhere at once)."""
    low, high = float(grey.min()), float(grey.max())
    if high <= low:
        return torch.zeros_like(grey, dtype=torch.float32)
    return _normalised(grey.float(), low, high)


def paint_order(reveal: Reveal, height: int, width: int, image: torch.Tensor | None = None) -> torch.Tensor:
    """The paint order (H, W) of a reveal of any kind but ``regions`` (which has none: each
    region fades in as a whole). ``image`` is the grey paint-order image of kind ``order``,
    already at (H, W)."""
    if reveal.kind == "order":
        if image is None:
            raise ValueError("a reveal of kind order needs its paint-order image")
        return from_image(image)
    if reveal.kind in ("center-out", "edges-in"):
        distance = radial(height, width, reveal.center)
        return distance if reveal.kind == "center-out" else 1.0 - distance
    if reveal.kind == "regions":
        return torch.zeros((height, width))
    return sweep(height, width, reveal.sweep_angle())


def progress(clock: float, span: tuple[float, float]) -> float:
    """How far (0..1) a reveal spanning ``span`` (fractions of the render) has come at ``clock``."""
    start, end = span
    return min(1.0, max(0.0, (clock - start) / (end - start)))


def weights_at(order: torch.Tensor, done: float, edge: float) -> torch.Tensor:
    """Each pixel's style weight (0..1) when the reveal is ``done`` (0..1) of the way.

    The front runs from order 0 to 1 + ``edge``, so at 0 nothing and at 1 everything is painted.
    """
    reach = done * (1.0 + edge)
    if done >= 1.0:
        return torch.ones_like(order)
    if edge <= 0:
        return (order < reach).to(order.dtype)
    return ((reach - order) / edge).clamp(0.0, 1.0)


def _centres(height: int, width: int) -> tuple[torch.Tensor, torch.Tensor]:
    ys = torch.arange(height, dtype=torch.float64).add_(0.5).view(-1, 1).expand(height, width)
    xs = torch.arange(width, dtype=torch.float64).add_(0.5).view(1, -1).expand(height, width)
    return ys, xs


def _normalised(values: torch.Tensor, low: float, high: float) -> torch.Tensor:
    return ((values - low) / max(high - low, 1e-12)).clamp(0.0, 1.0).float()
