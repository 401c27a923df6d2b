"""Build synthetic clip run folders as the clip render lays them out, without painting anything.

The source is a real video made by the bundled ffmpeg: a pan over the factory's photo, with
one white "flash" frame and, in its sound track, a beep that starts at the same instant, so a
test can check that picture and sound stay together through a trim. ``source/`` holds the
frames as painted (trimmed, at the painted size), ``stylised/`` the "painted" frames (the
factory's posterised tint, which keeps the flash bright), ``frames/`` frame 0 being painted.
"""

from __future__ import annotations

import hashlib
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import imageio_ffmpeg
import numpy as np
import yaml
from PIL import Image, ImageDraw
from runfolder_factory import painting_of, photo, write_log

from timelapse_nst.runfolder.clip import ClipFrame

FFMPEG = imageio_ffmpeg.get_ffmpeg_exe()
BEEP_HZ = 880


@dataclass(frozen=True)
class SourceClip:
    """A synthetic source clip: `seconds` long at `fps`, its flash (and beep) at `flash` s."""

    path: Path
    fps: int
    seconds: float
    flash: float
    size: tuple[int, int]
    audio: bool

    @property
    def frames(self) -> int:
        return round(self.seconds * self.fps)

    def frame(self, index: int) -> Image.Image:
        """Source frame `index`: a window panning right over a photo twice as wide; white at the flash."""
        if index == round(self.flash * self.fps):
            return Image.new("RGB", self.size, (255, 255, 255))
        width, height = self.size
        scene = photo((2 * width, height))
        left = round(index * width / max(1, self.frames - 1))
        return scene.crop((left, 0, left + width, height))


def make_source_clip(
    path: Path,
    *,
    fps: int = 10,
    seconds: float = 3.0,
    flash: float = 1.5,
    size: tuple[int, int] = (96, 72),
    audio: bool = True,
) -> SourceClip:
    """Encode the clip (H.264 + AAC, like a phone's) with the bundled ffmpeg; returns its description."""
    clip = SourceClip(path, fps, seconds, flash, size, audio)
    command = [FFMPEG, "-v", "error", "-y", "-f", "rawvideo", "-pix_fmt", "rgb24", "-s", "{}x{}".format(*size)]
    command += ["-framerate", str(fps), "-i", "pipe:0"]
    if audio:  # silence, then a beep from the flash on for 0.2 s
        beep = f"if(between(t,{flash},{flash + 0.2}),0.8*sin(2*PI*{BEEP_HZ}*t),0)"
        command += ["-f", "lavfi", "-i", f"aevalsrc='{beep}|{beep}':s=48000:d={seconds}"]
        command += ["-c:a", "aac", "-b:a", "128k"]
    command += ["-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-t", str(seconds), str(path)]
    pixels = b"".join(clip.frame(index).tobytes() for index in range(clip.frames))
    subprocess.run(command, input=pixels, check=True, capture_output=True)
    return clip


def make_clip_run(
    root: Path,
    source: SourceClip,
    *,
    start: float = 0.0,
    end: float | None = None,
    size: tuple[int, int] = (64, 48),
    painted: int | None = None,
    iterations: Sequence[int] = (0, 1, 2, 4, 8, 16),
    styles: int = 1,
    video: Mapping[str, Any] | None = None,
) -> Path:
    """A clip run folder at `root` for `source` trimmed to [start, end) at the source's rate.

    `painted` frames of stylised/ are written (default: all; fewer: a render under way).
    """
    end = source.seconds if end is None else end
    frames = round((end - start) * source.fps)
    first = round(start * source.fps)
    pictures = [source.frame(first + index).resize(size, Image.Resampling.BILINEAR) for index in range(frames)]
    for folder in ("inputs", "source", "stylised", "frames"):
        (root / folder).mkdir(parents=True, exist_ok=True)
    for index, picture in enumerate(pictures):
        picture.save(root / "source" / f"{index:06d}.png")
    for index in range(frames if painted is None else painted):
        painting_of(pictures[index]).save(root / "stylised" / f"{index:06d}.png")
    total = max(iterations)
    for iteration in iterations:  # frame 0 being painted, as a still render captures it
        blend = Image.blend(pictures[0], painting_of(pictures[0]), iteration / total)
        blend.save(root / "frames" / f"{iteration:06d}.png")
    write_log(root / "log.jsonl", total, lambda iteration: iteration / total)
    _write_clip_log(root / "clip.jsonl", frames if painted is None else painted, total)
    manifest = {
        "tool": {"name": "timelapse-nst", "version": "0.4.0"},
        "total_iterations": total,
        "weights": "random",
        "config": {"name": "test-clip", "size": max(size), "seed": 0, "video": dict(video or {})},
        "inputs": _inputs(root, source, styles),
        "clip": {
            "frames": frames,
            "fps": [source.fps, 1],
            "start": start,
            "end": end,
            "size": list(size),
            "rotation": 0,
            "audio": source.audio,
            "source": {"codec": "h264", "width": source.size[0], "height": source.size[1], "fps": source.fps},
        },
    }
    (root / "render.yaml").write_text(yaml.safe_dump(manifest, sort_keys=False), encoding="utf-8")
    return root


def _inputs(root: Path, source: SourceClip, styles: int) -> dict[str, Any]:
    content = root / "inputs" / "content.mp4"
    content.write_bytes(source.path.read_bytes())
    entries = []
    for number in range(styles):
        style = Image.new("RGB", (40, 30), (20, 60 + 80 * number, 160))
        ImageDraw.Draw(style).ellipse((8, 4, 32, 26), fill=(240, 220 - 100 * number, 40))
        name = f"style{number or ''}.png"
        style.save(root / "inputs" / name)
        entries.append(
            {"file": f"inputs/{name}", "sha256": _sha256(root / "inputs" / name), "name": f"sun{number}.png"}
        )
    clip = {"file": "inputs/content.mp4", "sha256": _sha256(content), "name": "walk.mp4"}
    return {"content": clip, "styles": entries}


def _write_clip_log(path: Path, frames: int, iterations: int) -> None:
    """clip.jsonl as the render writes it: frame 0 painted afresh, the others from the warped one."""
    losses = {"content": 1e4, "style": 2e3, "tv": 5e2, "total": 1.25e4}
    with open(path, "w", encoding="utf-8") as file:
        for index in range(frames):
            if index == 0:
                record = ClipFrame(0, "fresh", iterations, losses, temporal=None, consistency=None)
            else:
                record = ClipFrame(index, "warped", iterations // 2, losses, temporal=30.0, consistency=0.93)
            file.write(record.to_json() + "\n")


def flash_times(frames: Sequence[np.ndarray], fps: float) -> list[float]:
    """Times (s) of the frames that are much brighter than the others (the flash)."""
    brightness = np.array([float(frame.mean()) for frame in frames])
    return [index / fps for index in np.flatnonzero(brightness > brightness.mean() + 60)]


def beep_onset(samples: np.ndarray, rate: int) -> float | None:
    """Time (s) where the sound first gets loud (the beep), None if it never does."""
    loud = np.flatnonzero(np.abs(samples) > 0.3 * 32767)
    return float(loud[0] / rate) if loud.size else None


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()
