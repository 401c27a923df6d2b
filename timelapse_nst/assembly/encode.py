"""Stream RGB frames into imageio-ffmpeg's bundled ffmpeg and write the video safely.

We run the bundled ffmpeg ourselves instead of `imageio_ffmpeg.write_frames` so that stderr goes
to a file (its tail becomes the error message, and nothing scribbles over a rich progress bar)
and so the sound track can be muxed in the same pass: a soundtrack file (looped or cut), or a
clip's own sound (``ClipSound``: a second input cut with ``-ss``/``-t``, placed where the clip
starts in the video).

Safety: the video is written to `<name>.partial` beside the target and renamed only after ffmpeg
exits cleanly, so a Ctrl-C, a kill or a crash never leaves a broken `timelapse.mp4` (an old one
stays intact).
"""

from __future__ import annotations

import subprocess
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

from PIL import Image

from timelapse_nst import ffmpeg
from timelapse_nst.assembly.tags import Chapter
from timelapse_nst.atomic import atomic_path
from timelapse_nst.errors import UserError, setting
from timelapse_nst.settings.video import VideoSettings

# x264/x265 preset names mapped to the speed knobs of the other encoders (fast <-> slow).
_PRESET_SPEED = {
    "ultrafast": 0,
    "superfast": 1,
    "veryfast": 2,
    "faster": 3,
    "fast": 4,
    "medium": 5,
    "slow": 6,
    "slower": 7,
    "veryslow": 8,
}


@dataclass(frozen=True)
class ClipSound:
    """A clip's own sound: ``length`` s of ``path`` from ``start`` s on, heard from video time ``at``.

    Frame k of a painted clip shows the source at ``start + k / fps``, so cutting the sound at
    ``start`` keeps the two together. Silence before ``at`` (the timelapse of the first frame),
    a fade-in of ``fade_in`` s from there, silence after the clip's end.
    """

    path: Path
    start: float
    length: float
    at: float = 0.0
    fade_in: float = 0.0


@dataclass(frozen=True)
class EncodeJob:
    """Everything ffmpeg needs besides the frames."""

    out: Path
    size: tuple[int, int]  # (width, height), even
    fps: int | Fraction  # a clip keeps its own rate (30000/1001 stays exact)
    duration: float  # seconds; the audio is cut to it
    settings: VideoSettings
    tags: Mapping[str, str] = field(default_factory=dict)  # MP4 metadata: title, artist, comment ...
    chapters: Sequence[Chapter] = ()
    sound: ClipSound | None = None  # a clip's own sound (a soundtrack in `settings.audio` wins)


def encode(frames: Iterable[Image.Image], job: EncodeJob) -> Path:
    """Encode `frames` (RGB, exactly `job.size`) into `job.out`; returns `job.out`.

    Frames are pulled one at a time and written straight to ffmpeg's stdin, so memory stays flat
    whatever their number. Raises UserError (one line, with ffmpeg's last words) on failure.
    """
    job.out.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(job.out) as partial, tempfile.TemporaryFile() as log, tempfile.TemporaryDirectory() as scratch:
        chapters_file = Path(scratch) / "chapters.txt" if job.chapters else None
        if chapters_file is not None:
            chapters_file.write_text(ffmetadata(job.chapters), encoding="utf-8")
        # Its own session: a Ctrl-C in the terminal reaches only us, and we stop ffmpeg
        # ourselves, instead of ffmpeg dying first and its exit looking like a failure.
        process = subprocess.Popen(
            ffmpeg_command(job, partial, chapters_file=chapters_file),
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            stderr=log,
            start_new_session=True,
        )
        try:
            _feed(process, frames, job.size)
            code = process.wait()
        except BaseException:
            process.kill()
            process.wait()
            raise
        if code != 0:
            raise UserError(f"ffmpeg failed (exit {code}) writing {job.out}: {_tail(log)}")
    return job.out


_SAMPLE_RATE = 48000  # YouTube: AAC-LC at 48 kHz

# The container follows the file name. Which codecs each holds (ffmpeg's muxers): WebM only
# VP9/AV1 (and Opus audio), QuickTime .mov not VP9/AV1 ("only supported in MP4").
_CONTAINERS = {".mp4": "mp4", ".m4v": "mp4", ".mov": "mov", ".mkv": "matroska", ".webm": "webm"}
_HELD_BY: dict[str, tuple[str, ...]] = {
    "h264": (".mp4", ".mov", ".mkv"),
    "h265": (".mp4", ".mov", ".mkv"),
    "vp9": (".webm", ".mkv", ".mp4"),
    "av1": (".webm", ".mkv", ".mp4"),
}


def container_of(out: Path, codec: str) -> str:
    """The ffmpeg muxer for ``out``'s extension; UserError (one line, before any frame is made)
    for a name it does not know or a codec its container cannot hold."""
    suffix = out.suffix.lower()
    if suffix not in _CONTAINERS:
        raise UserError(f"{out}: unknown video file type '{suffix or '(none)'}'; use .mp4, .mov, .mkv or .webm")
    container = _CONTAINERS[suffix]
    if not _holds(container, codec):
        able = next(name for name in _HELD_BY if _holds(container, name))
        other = setting("codec", able, flag="--codec", mapping=True)
        needs = _HELD_BY[codec]
        raise UserError(
            f"{out}: a {suffix} file cannot hold {codec} video, which needs {_listed(needs)}: "
            f"name it {needs[0]}, or use {other}"
        )
    return container


def _holds(container: str, codec: str) -> bool:
    return container in {_CONTAINERS[suffix] for suffix in _HELD_BY[codec]}


def _listed(names: Sequence[str]) -> str:
    return ", ".join(names[:-1]) + f" or {names[-1]}" if len(names) > 1 else names[0]


def ffmpeg_command(job: EncodeJob, target: Path, *, chapters_file: Path | None = None) -> list[str]:
    """The ffmpeg command line: raw RGB on stdin (+ optional audio, + chapters) -> `target`, in
    the container that `job.out`'s extension names (MP4 by default)."""
    width, height = job.size
    settings = job.settings
    sound = job.sound if settings.audio is None else None
    command = [ffmpeg.exe(), "-hide_banner", "-nostdin", "-loglevel", "error", "-y"]
    command += ["-f", "rawvideo", "-pix_fmt", "rgb24", "-s", f"{width}x{height}", "-framerate", str(job.fps)]
    command += ["-i", "pipe:0"]
    if settings.audio is not None:
        # Loop the track forever and cut it at the video's end with -t: trimmed or looped.
        command += ["-stream_loop", "-1", "-i", str(settings.audio)]
    elif sound is not None:
        command += ["-ss", f"{sound.start:.6f}", "-t", f"{sound.length:.6f}", "-i", str(sound.path)]
    if chapters_file is not None:
        command += ["-f", "ffmetadata", "-i", str(chapters_file)]
    command += ["-map", "0:v:0"]
    command += _video_options(settings, job.fps)
    container = container_of(job.out, settings.codec)
    if settings.audio is not None:
        command += ["-map", "1:a:0", *_audio_options(settings, job.duration, opus=container == "webm")]
    elif sound is not None:
        command += [*_clip_sound_options(sound), *_audio_options(settings, 0.0, opus=container == "webm")]
    if chapters_file is not None:
        command += ["-map_chapters", "2" if settings.audio is not None or sound is not None else "1"]
    for key, value in job.tags.items():
        command += ["-metadata", f"{key}={value}"]
    # Constant frame rate and moov atom first (+faststart): what YouTube and browsers want.
    command += [*ffmpeg.constant_frame_rate(), "-t", f"{job.duration:.6f}"]
    if container in ("mp4", "mov"):
        command += ["-movflags", "+faststart"]
    command += ["-f", container, str(target)]
    return command


def _clip_sound_options(sound: ClipSound) -> list[str]:
    """Map the clip's sound (input 1) and place it at ``sound.at``; padded with silence to the
    video's end (-shortest then ends both with the video: a sound track shorter than the clip
    never cuts the picture short)."""
    if sound.at <= 0 and sound.fade_in <= 0:
        # "?": a source without a sound track gives a silent video, not an error.
        return ["-map", "1:a:0?", "-af", "apad", "-shortest"]
    # Real silence before it, from a concat (adelay would do, but ffmpeg 7+ turns an equal delay
    # on every channel into a timestamp gap, which the MP4 keeps as a hole, not as silence).
    silence = round(sound.at * _SAMPLE_RATE)
    graph = (
        f"anullsrc=r={_SAMPLE_RATE}:cl=stereo,atrim=end_sample={silence}[silence];"
        f"[1:a:0]aresample={_SAMPLE_RATE},aformat=channel_layouts=stereo[clip];"
        f"[silence][clip]concat=n=2:v=0:a=1,afade=t=in:st={sound.at:.6f}:d={max(sound.fade_in, 1e-3):.6f},apad[sound]"
    )
    return ["-filter_complex", graph, "-map", "[sound]", "-shortest"]


def ffmetadata(chapters: Sequence[Chapter]) -> str:
    """Chapters in ffmpeg's metadata file format (times in milliseconds)."""
    lines = [";FFMETADATA1"]
    for chapter in chapters:
        title = "".join("\\" + char if char in "=;#\\\n" else char for char in chapter.title)
        start, end = round(chapter.start * 1000), round(chapter.end * 1000)
        lines += ["[CHAPTER]", "TIMEBASE=1/1000", f"START={start}", f"END={end}", f"title={title}"]
    return "\n".join(lines) + "\n"


def _video_options(settings: VideoSettings, fps: int | Fraction) -> list[str]:
    speed = _PRESET_SPEED[settings.preset]
    # RGB -> YUV with the BT.709 matrix (swscale defaults to BT.601) and tags that say so,
    # so players don't shift the colours.
    # (setparams: newer ffmpeg takes the tags from the frames, not only from the options.)
    options = [
        "-vf",
        "scale=out_color_matrix=bt709:out_range=tv,format=yuv420p,"
        "setparams=color_primaries=bt709:color_trc=bt709:colorspace=bt709:range=tv",
    ]
    options += ["-color_primaries", "bt709", "-color_trc", "bt709", "-colorspace", "bt709", "-color_range", "tv"]
    gop = max(1, int(fps // 2))  # YouTube: closed GOP of half the frame rate
    if settings.codec == "h264":
        # High profile needs 8x8 transforms, which the fastest presets switch off.
        options += ["-c:v", "libx264", "-preset", settings.preset, "-profile:v", "high"]
        options += ["-x264-params", "8x8dct=1", "-bf", "2", "-g", str(gop), "-flags", "+cgop"]
    elif settings.codec == "h265":
        options += ["-c:v", "libx265", "-preset", settings.preset, "-tag:v", "hvc1"]
        options += ["-x265-params", f"log-level=error:keyint={gop}:bframes=2:open-gop=0"]
    elif settings.codec == "vp9":
        options += ["-c:v", "libvpx-vp9", "-deadline", "good", "-cpu-used", str(max(0, 5 - speed))]
        options += ["-row-mt", "1", "-g", str(gop)]
    else:
        options += ["-c:v", "libsvtav1", "-preset", str(12 - speed), "-g", str(gop)]
    if settings.bitrate is not None:
        options += ["-b:v", settings.bitrate]
    else:
        crf = min(settings.crf, 51) if settings.codec in ("h264", "h265") else settings.crf
        options += ["-crf", str(crf)]
        if settings.codec == "vp9":
            options += ["-b:v", "0"]  # constant quality mode needs bitrate 0
    return options


def _audio_options(settings: VideoSettings, duration: float, *, opus: bool = False) -> list[str]:
    rate = str(_SAMPLE_RATE)
    if opus:  # WebM's audio codec
        options = ["-c:a", "libopus", "-ar", rate, "-ac", "2", "-b:a", "256k"]
    else:  # YouTube: AAC-LC, 48 kHz, stereo, 384 kbps.
        options = ["-c:a", "aac", "-profile:a", "aac_low", "-ar", rate, "-ac", "2", "-b:a", "384k"]
    fade = min(settings.audio_fade_out, duration)
    if fade > 0:
        options += ["-af", f"afade=t=out:st={duration - fade:.6f}:d={fade:.6f}"]
    return options


def _feed(process: subprocess.Popen[bytes], frames: Iterable[Image.Image], size: tuple[int, int]) -> None:
    assert process.stdin is not None
    try:
        for frame in frames:
            if frame.size != size or frame.mode != "RGB":
                raise ValueError(f"frame is {frame.mode} {frame.size}, expected RGB {size}")
            process.stdin.write(frame.tobytes())
        process.stdin.close()
    except BrokenPipeError:
        # ffmpeg stopped reading (it failed): its exit code and stderr tell why.
        pass


def _tail(log: object, limit: int = 400) -> str:
    """The last lines of ffmpeg's stderr, on one line."""
    log.seek(0)  # type: ignore[attr-defined]
    text = log.read().decode("utf-8", errors="replace")  # type: ignore[attr-defined]
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    joined = " | ".join(lines[-4:]) or "no message"
    return joined if len(joined) <= limit else "..." + joined[-limit:]
