"""Build synthetic run folders (real PNG frames, a real log.jsonl, render.yaml) for assembly tests.

The frames fade from a "photo" (a gradient with shapes) to a "painting" (the photo posterised
and tinted) with a known amount per iteration, so tests can predict what each frame shows.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import yaml
from PIL import Image, ImageDraw


def photo(size: tuple[int, int] = (64, 48)) -> Image.Image:
    """A small picture with structure: a diagonal gradient, a disc and a bar."""
    width, height = size
    y, x = np.mgrid[0:height, 0:width]
    pixels = np.stack([x * 255 / max(1, width - 1), y * 255 / max(1, height - 1), np.full_like(x, 96)], axis=-1)
    image = Image.fromarray(pixels.astype(np.uint8), "RGB")
    draw = ImageDraw.Draw(image)
    draw.ellipse((width * 0.2, height * 0.2, width * 0.55, height * 0.7), fill=(250, 230, 60))
    draw.rectangle((width * 0.65, height * 0.1, width * 0.8, height * 0.9), fill=(30, 40, 200))
    return image


def painting_of(image: Image.Image) -> Image.Image:
    """A stand-in for the stylised result: posterised and tinted blue."""
    pixels = np.asarray(image, dtype=np.float32)
    posterised = np.round(pixels / 64) * 64
    tinted = posterised * np.array([0.55, 0.8, 1.25])
    return Image.fromarray(np.clip(tinted, 0, 255).astype(np.uint8), "RGB")


def make_run(
    root: Path,
    *,
    iterations: Sequence[int] = (0, 1, 2, 4, 8, 16, 32, 64),
    total_iterations: int | None = None,
    size: tuple[int, int] = (64, 48),
    progress: Callable[[int], float] | None = None,
    frame_size: Callable[[int], tuple[int, int]] | None = None,
    video: Mapping[str, Any] | None = None,
    log: bool = True,
    final: bool = True,
    inputs: bool = True,
) -> Path:
    """Write a run folder at `root` and return it.

    `progress(iteration)` gives how far (0..1) the frame is from photo to painting (default:
    iteration / total). `frame_size(iteration)` lets frames differ in size (multi-scale).
    """
    total = total_iterations if total_iterations is not None else max(iterations)
    progress = progress or (lambda i: i / max(1, total))
    root.mkdir(parents=True, exist_ok=True)
    (root / "frames").mkdir(exist_ok=True)
    start, end = photo(size), painting_of(photo(size))
    for iteration in iterations:
        frame = Image.blend(start, end, min(1.0, max(0.0, progress(iteration))))
        if frame_size is not None and frame_size(iteration) != size:
            frame = frame.resize(frame_size(iteration), Image.Resampling.BILINEAR)
        frame.save(root / "frames" / f"{iteration:06d}.png")
    if final:
        end.save(root / "final.png")
    manifest: dict[str, Any] = {
        "tool": {"name": "timelapse-nst", "version": "0.1.0"},
        "total_iterations": total,
        "config": {"name": "test-preset", "description": "a synthetic run", "video": dict(video or {})},
    }
    if inputs:
        (root / "inputs").mkdir(exist_ok=True)
        start.save(root / "inputs" / "content.jpg", quality=95)
        style = Image.new("RGB", (40, 40), (20, 60, 160))
        ImageDraw.Draw(style).ellipse((8, 8, 32, 32), fill=(240, 220, 40))
        style.save(root / "inputs" / "style.png")
        entries = {
            role: {"file": f"inputs/{name}", "sha256": _sha256(root / "inputs" / name), "name": shown}
            for role, name, shown in (("content", "content.jpg", "photo.jpg"), ("style", "style.png", "sun.png"))
        }
        manifest["inputs"] = {"content": entries["content"], "styles": [entries["style"]]}
    (root / "render.yaml").write_text(yaml.safe_dump(manifest, sort_keys=False), encoding="utf-8")
    if log:
        write_log(root / "log.jsonl", total, progress)
    return root


def write_log(path: Path, total: int, progress: Callable[[int], float]) -> None:
    """log.jsonl for iterations 1..total, the style loss falling as `progress` rises."""
    with open(path, "w", encoding="utf-8") as file:
        for iteration in range(1, total + 1):
            style_loss = 3.4e6 * (1 - progress(iteration)) + 1e3
            record = {
                "iteration": iteration,
                "scale": 0,
                "losses": {
                    "content": 1.2e4 * progress(iteration) + 10,
                    "style": style_loss,
                    "tv": 5.6e3,
                    "total": style_loss + 1.2e4 + 5.6e3,
                },
                "loss_weights": {"content": 1e5, "style": 3e4, "tv": 1.0},
                "lr": 1.0,
            }
            file.write(json.dumps(record) + "\n")


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()
