"""Tiny real video clips for the tests, made with the bundled ffmpeg: a pan over a photo (with a
sine tone for sound), a photo held still, a scene cut, a phone's portrait clip (a display matrix)."""

from __future__ import annotations

import subprocess
from pathlib import Path

from timelapse_nst import ffmpeg

REPO = Path(__file__).resolve().parent.parent
PHOTO = REPO / "examples" / "tubingen.jpg"  # 512x384
OTHER = REPO / "examples" / "starry_night.jpg"


def run_ffmpeg(*arguments: str) -> None:
    subprocess.run([ffmpeg.exe(), "-v", "error", "-nostdin", "-y", *arguments], check=True, capture_output=True)


def _encode(path: Path, fps: int, frames: int, video: str, inputs: list[str], *, sound: bool) -> Path:
    # The tone lasts as long as the video: with an endless one, where -shortest cuts it depends on
    # how far the encoder ran ahead (a loaded machine made clips 0.2 s longer, other bytes).
    tone = f"sine=frequency=440:sample_rate=48000:duration={frames / fps}"
    audio = ["-f", "lavfi", "-i", tone] if sound else []
    maps = ["-map", "[v]", *(["-map", f"{inputs.count('-i')}:a", "-c:a", "aac", "-shortest"] if sound else [])]
    run_ffmpeg(
        *inputs,
        *audio,
        "-filter_complex",
        video,
        *maps,
        "-frames:v",
        str(frames),
        "-r",
        str(fps),
        "-c:v",
        "libx264",
        "-pix_fmt",
        "yuv420p",
        str(path),
    )
    return path


def pan_clip(
    path: Path, *, frames: int = 8, fps: int = 12, size: tuple[int, int] = (96, 64), step: int = 6, sound: bool = True
) -> Path:
    """The camera pans right over the photo, ``step`` photo pixels a frame (about a pixel at 96 px)."""
    width, height = size
    crop = f"crop=300:200:x='40+n*{step}':y=120,scale={width}:{height}:flags=lanczos,setsar=1,format=yuv420p[v]"
    inputs = ["-loop", "1", "-framerate", str(fps), "-i", str(PHOTO)]
    return _encode(path, fps, frames, f"[0:v]{crop}", inputs, sound=sound)


def still_clip(path: Path, *, frames: int = 24, fps: int = 12, size: tuple[int, int] = (96, 64)) -> Path:
    """One photo held for ``frames`` frames."""
    width, height = size
    video = f"[0:v]scale={width}:{height}:flags=lanczos,setsar=1,format=yuv420p[v]"
    inputs = ["-loop", "1", "-framerate", str(fps), "-i", str(PHOTO)]
    return _encode(path, fps, frames, video, inputs, sound=False)


def cut_clip(path: Path, *, before: int = 4, after: int = 4, fps: int = 12, size: tuple[int, int] = (96, 64)) -> Path:
    """A pan over the photo for ``before`` frames, then a cut to another picture, panned too."""
    width, height = size
    scale = f"scale={width}:{height}:flags=lanczos,setsar=1,format=yuv420p"
    video = (
        f"[0:v]crop=300:200:x='40+n*6':y=120,{scale},trim=end_frame={before}[a];"
        f"[1:v]crop=300:200:x='40+n*6':y=60,{scale},trim=end_frame={after}[b];"
        "[a][b]concat=n=2:v=1:a=0[v]"
    )
    inputs = ["-loop", "1", "-framerate", str(fps), "-i", str(PHOTO), "-loop", "1", "-framerate", str(fps)]
    inputs += ["-i", str(OTHER)]
    return _encode(path, fps, before + after, video, inputs, sound=False)


def rotated(source: Path, path: Path, degrees_clockwise: int) -> Path:
    """``source`` remuxed (no re-encode) with a display matrix saying: turn it ``degrees_clockwise``
    to show it, as a phone records a portrait clip with its sensor on its side."""
    if ffmpeg.release() >= (6, 0) or ffmpeg.release() == (0, 0):
        # -display_rotation is counter-clockwise; it sets the matrix ffmpeg applies when decoding.
        run_ffmpeg("-display_rotation:v:0", str(-degrees_clockwise), "-i", str(source), "-c", "copy", str(path))
    else:
        run_ffmpeg("-i", str(source), "-c", "copy", "-metadata:s:v:0", f"rotate={degrees_clockwise}", str(path))
    return path
