"""Rectangles on a video frame: ``Box`` (left, top, width, height) and ``Size`` (width, height), in pixels."""

from __future__ import annotations

Box = tuple[int, int, int, int]
Size = tuple[int, int]
