"""Read a run folder (render.yaml, frames/, log.jsonl, inputs/) written by `render`.

Everything here works on a folder copied from another machine: no torch, no absolute paths
trusted, nothing executed (yaml.safe_load only).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import yaml
from PIL import Image, ImageOps

from timelapse_nst.errors import UserError

_FRAME_NAME = re.compile(r"^(\d{6})\.png$")


@dataclass(frozen=True)
class Frame:
    """One captured frame: the iteration it shows and where its PNG lies."""

    iteration: int
    path: Path


@dataclass(frozen=True)
class LogEntry:
    """One line of log.jsonl: the losses at one iteration."""

    iteration: int
    scale: int
    losses: Mapping[str, float]


@dataclass(frozen=True)
class RunFolder:
    """What assembly needs from a run folder."""

    root: Path
    frames: tuple[Frame, ...]  # sorted by iteration, at least one
    total_iterations: int
    video: Mapping[str, Any]  # the raw `config.video` mapping (validated by the caller)
    preset_name: str | None
    preset_description: str | None
    content: Path | None  # the user's original content photo, if present
    style: Path | None
    content_name: str
    style_name: str
    final: Path | None  # final.png if present
    log: Path


def read_run(run_dir: Path) -> RunFolder:
    """Read `run_dir`'s render.yaml and list its frames; UserError when it is not a run folder."""
    run_dir = Path(run_dir)
    manifest_path = run_dir / "render.yaml"
    if not run_dir.is_dir():
        raise UserError(f"run folder not found: {run_dir}")
    if not manifest_path.is_file():
        raise UserError(f"not a run folder: {run_dir} has no render.yaml")
    manifest = _read_yaml(manifest_path)
    config = _mapping(manifest.get("config", {}), manifest_path, "config")
    video = _mapping(config.get("video", {}), manifest_path, "config.video")
    frames = list_frames(run_dir / "frames")
    if not frames:
        raise UserError(f"no frames in {run_dir / 'frames'} (expected files like 000000.png)")
    inputs = _mapping(manifest.get("inputs", {}), manifest_path, "inputs")
    content, content_name = _input(run_dir, inputs, "content")
    style, style_name = _input(run_dir, inputs, "style")
    total = manifest.get("total_iterations", frames[-1].iteration)
    if not isinstance(total, int) or isinstance(total, bool) or total < 0:
        raise UserError(f"{manifest_path}: total_iterations must be a whole number >= 0, got {total!r}")
    final = run_dir / "final.png"
    return RunFolder(
        root=run_dir,
        frames=tuple(frames),
        total_iterations=max(total, frames[-1].iteration),
        video=video,
        preset_name=_optional_str(config.get("name")),
        preset_description=_optional_str(config.get("description")),
        content=content,
        style=style,
        content_name=content_name,
        style_name=style_name,
        final=final if final.is_file() else None,
        log=run_dir / "log.jsonl",
    )


def list_frames(frames_dir: Path) -> list[Frame]:
    """Frames named `NNNNNN.png`, sorted by iteration; other files (e.g. *.tmp leftovers) ignored."""
    if not frames_dir.is_dir():
        return []
    frames = []
    for path in frames_dir.iterdir():
        match = _FRAME_NAME.match(path.name)
        if match and path.is_file():
            frames.append(Frame(int(match[1]), path))
    return sorted(frames, key=lambda frame: frame.iteration)


def read_log(path: Path) -> list[LogEntry]:
    """Parse log.jsonl; a missing file gives []. A bad line is a UserError naming file and line."""
    if not path.is_file():
        return []
    entries = []
    text = path.read_text(encoding="utf-8", errors="replace")
    lines = text.split("\n")
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
            losses = {str(k): float(v) for k, v in record["losses"].items()}
            entries.append(LogEntry(int(record["iteration"]), int(record.get("scale", 0)), losses))
        except (ValueError, KeyError, TypeError, AttributeError) as error:
            # A render killed mid-write leaves a truncated last line: the log up to it is good.
            if number == len(lines) and not text.endswith("\n"):
                break
            raise UserError(f"{path}:{number}: not a log record ({type(error).__name__}: {error})") from None
    return entries


def load_rgb(path: Path) -> Image.Image:
    """Open any image Pillow reads as 8-bit RGB, upright (EXIF orientation applied)."""
    try:
        with Image.open(path) as image:
            image = ImageOps.exif_transpose(image)
            if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
                # Transparent pixels become black by default; white matches how viewers show them.
                rgba = image.convert("RGBA")
                flat = Image.new("RGB", rgba.size, (255, 255, 255))
                flat.paste(rgba, mask=rgba.getchannel("A"))
                return flat
            if image.mode in ("I;16", "I;16B", "I;16L", "I"):
                # 16-bit greyscale: Pillow's convert("RGB") clips instead of scaling.
                image = image.point(lambda value: value / 256).convert("L")
            return image.convert("RGB")
    except (OSError, ValueError, Image.DecompressionBombError) as error:
        raise UserError(f"cannot read image {path}: {error}") from None


def _read_yaml(path: Path) -> Mapping[str, Any]:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError) as error:
        message = " ".join(str(error).split())
        raise UserError(f"{path}: not valid YAML ({message})") from None
    return _mapping(data if data is not None else {}, path, "the file")


def _mapping(value: Any, path: Path, key: str) -> Mapping[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise UserError(f"{path}: {key} must be a mapping, got {type(value).__name__}")
    return value


def _input(run_dir: Path, inputs: Mapping[str, Any], role: str) -> tuple[Path | None, str]:
    """The copied input file of `role` (content/style) and the name to show for it."""
    entry = inputs.get(role)
    if not isinstance(entry, Mapping):
        return _fallback_input(run_dir, role), role
    name = _optional_str(entry.get("name")) or role
    file = _optional_str(entry.get("file"))
    if file is None:
        return _fallback_input(run_dir, role), name
    path = (run_dir / file).resolve()
    # The manifest may come from elsewhere: never follow it out of the run folder.
    if not path.is_relative_to(run_dir.resolve()) or not path.is_file():
        return _fallback_input(run_dir, role), name
    return path, name


def _fallback_input(run_dir: Path, role: str) -> Path | None:
    candidates = sorted((run_dir / "inputs").glob(f"{role}.*")) if (run_dir / "inputs").is_dir() else []
    return candidates[0] if candidates else None


def _optional_str(value: Any) -> str | None:
    return value if isinstance(value, str) and value.strip() else None


def thumbnail(path: Path, side: int = 48) -> np.ndarray:
    """A `side` x `side` RGB float thumbnail (0..1) of a frame, for measuring change cheaply.

    Every frame is squeezed to the same square, so frames of different sizes compare.
    """
    try:
        with Image.open(path) as image:
            image.draft("RGB", (side * 2, side * 2))  # JPEG decodes at reduced size; PNG ignores it
            small = image.convert("RGB").resize((side, side), Image.Resampling.BOX)
    except (OSError, ValueError, Image.DecompressionBombError) as error:
        raise UserError(f"cannot read image {path}: {error}") from None
    return np.asarray(small, dtype=np.float32) / 255.0
