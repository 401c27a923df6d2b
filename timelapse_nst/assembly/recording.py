"""What assembly needs from a run folder, read once: frames, inputs, video settings, totals.

Works on a folder copied from another machine: no torch, no absolute paths trusted, nothing
executed (the manifest is read with yaml.safe_load; inputs never resolve outside the folder).
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from timelapse_nst.errors import UserError
from timelapse_nst.images import load_image
from timelapse_nst.runfolder.clip import ClipRecord, clip_record
from timelapse_nst.runfolder.folder import Frame, InputFile, RunFolder


@dataclass(frozen=True)
class Recording:
    """A render as recorded in its run folder."""

    folder: RunFolder
    frames: tuple[Frame, ...]  # sorted by iteration, at least one
    total_iterations: int  # iterations the render was asked for
    last_iteration: int  # iterations it really reached (a stopped render: fewer)
    video: Mapping[str, Any]  # the raw `config.video` mapping (validated by the caller)
    config: Mapping[str, Any]  # the whole raw config, for descriptions and labels
    content: InputFile
    styles: tuple[InputFile, ...]
    weights: str | None = None  # where the VGG19 weights came from: torchvision, random or a file
    clip: ClipRecord | None = None  # a clip's render: what was painted from the source
    painted: tuple[Path, ...] = ()  # a clip's painted frames so far (stylised/), in order
    sources: tuple[Path, ...] = ()  # a clip's input frames as painted (source/), in order

    @property
    def root(self) -> Path:
        return self.folder.root

    @property
    def photo(self) -> Path | None:
        """The content as a still picture: the photo, or a clip's first input frame."""
        if self.clip is not None:
            return self.sources[0] if self.sources else None
        return self.content.path

    @property
    def final(self) -> Path | None:
        return self.folder.final if self.folder.final.is_file() else None


def read_recording(run_dir: Path) -> Recording:
    """Read `run_dir`'s render.yaml and list its frames; UserError when it is not a run folder."""
    folder = RunFolder(Path(run_dir))
    manifest = folder.read_manifest()
    config = manifest["config"]
    video = config.get("video") or {}
    if not isinstance(video, Mapping):
        raise UserError(f"{folder.manifest}: config.video must be a mapping, got {type(video).__name__}")
    frames = folder.frame_list()
    if not frames:
        raise UserError(f"no frames in {folder.frames} (expected files like 000000.png)")
    total = manifest.get("total_iterations", frames[-1].iteration)
    if not isinstance(total, int) or isinstance(total, bool) or total < 0:
        raise UserError(f"{folder.manifest}: total_iterations must be a whole number >= 0, got {total!r}")
    content, styles = folder.input_files(manifest)
    clip = clip_record(manifest)
    painted, sources = _clip_frames(folder, clip) if clip else ((), ())
    return Recording(
        folder=folder,
        frames=tuple(frames),
        total_iterations=max(total, frames[-1].iteration),
        last_iteration=frames[-1].iteration,
        video=video,
        config=config,
        content=content,
        styles=tuple(styles),
        weights=manifest.get("weights") if isinstance(manifest.get("weights"), str) else None,
        clip=clip,
        painted=painted,
        sources=sources,
    )


def _clip_frames(folder: RunFolder, clip: ClipRecord) -> tuple[tuple[Path, ...], tuple[Path, ...]]:
    """The painted frames so far and the source frames, each from 000000.png up to the first gap."""
    painted = tuple(map(folder.stylised_frame, range(min(folder.stylised_count(), clip.frames))))
    sources = tuple(itertools.takewhile(Path.is_file, map(folder.source_frame, range(clip.frames))))
    return painted, sources


def thumbnail(path: Path, side: int = 48) -> np.ndarray:
    """A `side` x `side` RGB float thumbnail (0..1) of a frame, for measuring change cheaply.

    Every frame is squeezed to the same square, so frames of different sizes compare.
    """
    small = load_image(path).resize((side, side), Image.Resampling.BOX)  # the one loader: 16-bit, alpha
    return np.asarray(small, dtype=np.float32) / 255.0
