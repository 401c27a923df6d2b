"""Our assembly of a run folder against one plain ffmpeg command with the same output shape."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from timelapse_nst.bench.settings import BenchSettings

# -- assembly vs plain ffmpeg ---------------------------------------------------------------


def measure_assembly(settings: BenchSettings, run: Path, work: Path) -> dict[str, Any]:
    """Our assembly of a run folder against one plain ffmpeg command with the same output shape."""
    try:
        from timelapse_nst.assembly import assemble_run
        from timelapse_nst.runfolder.folder import RunFolder
        from timelapse_nst.settings.video import parse_resolution
    except ImportError as exc:  # assembly is another engineer's module; report, don't fail
        return {"error": f"assembly unavailable: {exc}"}
    overrides: dict[str, object] = {"duration": settings.video_seconds}
    if settings.video_resolution is not None:
        overrides["resolution"] = settings.video_resolution
    frames = [frame.path for frame in RunFolder(run).frame_list()]
    try:
        began = time.perf_counter()
        video = assemble_run(run, overrides=overrides)
        ours = time.perf_counter() - began
    except Exception as exc:
        return {"error": f"assemble_run failed: {type(exc).__name__}: {exc}"}
    from timelapse_nst.assembly import video_settings
    from timelapse_nst.runfolder.folder import RunFolder

    video_config = video_settings(RunFolder(run).read_manifest()["config"].get("video", {}), overrides)
    width, height = parse_resolution(video_config.resolution or "1080p")
    plain = plain_ffmpeg(
        frames,
        work / "plain",
        (width, height),
        video_config.fps,
        settings.video_seconds,
        crf=video_config.crf,
        preset=video_config.preset,
    )
    return {
        "frames": len(frames),
        "video_seconds": settings.video_seconds,
        "resolution": f"{width}x{height}",
        "fps": video_config.fps,
        "ours_seconds": ours,
        "plain_ffmpeg_seconds": plain,
        "ratio": ours / plain,
        "ours_video_bytes": video.stat().st_size,
    }


def plain_ffmpeg(
    frames: Sequence[Path], folder: Path, size: tuple[int, int], fps: int, seconds: float, *, crf: int, preset: str
) -> float:
    """`ffmpeg -framerate R -i %06d.png -vf scale,pad -r FPS -c:v libx264 ...`, timed."""
    import imageio_ffmpeg

    folder.mkdir(parents=True, exist_ok=True)
    for index, frame in enumerate(frames):  # numbered links: the input pattern needs 0, 1, 2, ...
        try:
            os.link(frame, folder / f"{index:06d}.png")
        except OSError:
            shutil.copy(frame, folder / f"{index:06d}.png")
    width, height = size
    command = [
        imageio_ffmpeg.get_ffmpeg_exe(),
        "-y",
        "-loglevel",
        "error",
        "-framerate",
        f"{len(frames) / seconds:.6f}",
        "-i",
        str(folder / "%06d.png"),
        "-vf",
        f"scale={width}:{height}:force_original_aspect_ratio=decrease,pad={width}:{height}:(ow-iw)/2:(oh-ih)/2",
        "-r",
        str(fps),
        "-c:v",
        "libx264",
        "-preset",
        preset,
        "-crf",
        str(crf),
        "-pix_fmt",
        "yuv420p",
        str(folder / "plain.mp4"),
    ]
    began = time.perf_counter()
    subprocess.run(command, check=True, capture_output=True)
    return time.perf_counter() - began
