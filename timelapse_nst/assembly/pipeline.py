"""Wires the assembly stages: recording -> timeline -> layout -> encoder, plus the pictures."""

from __future__ import annotations

import bisect
import difflib
from collections.abc import Callable, Mapping, Sequence
from contextlib import nullcontext
from pathlib import Path

from PIL import Image
from pydantic import ValidationError

from timelapse_nst import ffmpeg
from timelapse_nst.assembly import layouts, painted_clip, pictures, sequence, tags, timeline
from timelapse_nst.assembly.comparison import Comparison
from timelapse_nst.assembly.encode import EncodeJob, container_of, encode
from timelapse_nst.assembly.recording import Recording, read_recording, thumbnail
from timelapse_nst.errors import UserError, check_writable_folder, option, setting, write_errors
from timelapse_nst.images import load_image
from timelapse_nst.runfolder.folder import RunFolder
from timelapse_nst.runfolder.log import LogEntry, read_log
from timelapse_nst.settings.video import VideoSettings


def video_settings(
    base: Mapping[str, object],
    overrides: Mapping[str, object] | None = None,
    *,
    where: str = "video",
    keywords: bool = False,
) -> VideoSettings:
    """Validate `base` (a preset's `video:` mapping) with `overrides` on top; UserError if bad.

    An override's error names it as the user gave it (``--duration -3``, or from Python
    ``overrides={"duration": -3}``; ``keywords``: the overrides are the caller's own keywords,
    as ``publish_run(title=...)``'s, named without their value: ``title``, ``--title``); an unknown override key gets the nearest valid one
    (``assemble(overrides={"durations": 5})``: did you mean 'duration'?).
    """
    try:
        return VideoSettings.model_validate({**base, **(overrides or {})})
    except ValidationError as error:
        first = error.errors()[0]
        key = ".".join(str(part) for part in first["loc"])
        top = key.split(".")[0]
        given = top in (overrides or {})
        if given:
            value = (overrides or {})[top]
            flag = f"--{top.replace('_', '-')}"
            where = option(top) if keywords else setting(top, value, flag=flag, mapping=True)
        message = first["msg"].removeprefix("Value error, ")
        if first["type"] == "extra_forbidden":
            near = difflib.get_close_matches(top, list(VideoSettings.model_fields), n=1)
            message = f"unknown video setting '{top}'" + (f"; did you mean '{near[0]}'?" if near else "")
        elif (
            not given
            and "input" in first
            and not isinstance(first["input"], Mapping)
            and repr(first["input"]) not in message
        ):
            message += f" (got {first['input']!r})"
        if given:
            raise UserError(f"{where}: {message}") from None
        raise UserError(f"{where}: {key}: {message}" if key else f"{where}: {message}") from None


def assemble_run(
    run_dir: Path,
    *,
    out: Path | None = None,
    overrides: Mapping[str, object] | None = None,
    progress: Callable[[int, int], None] | None = None,
    lock: bool = True,
) -> Path:
    """Make the timelapse of the run in `run_dir`; returns the MP4's path.

    Settings come from render.yaml's `config.video`, with `overrides` (field -> value) on top.
    Also writes contact_sheet.png and losses.png into the run folder, and for a clip
    stylised.mp4 (the painted clip with its sound; with `out` given, only when it is missing),
    under the folder's lock (a busy folder is refused in one line); `lock=False` is for a caller
    that holds it already.
    """
    with RunFolder(Path(run_dir)).locked(must_exist=True) if lock else nullcontext():
        return _assemble(run_dir, out=out, overrides=overrides, progress=progress)


def _assemble(
    run_dir: Path,
    *,
    out: Path | None,
    overrides: Mapping[str, object] | None,
    progress: Callable[[int, int], None] | None,
) -> Path:
    # 1. Read the folder and settle the settings.
    run = read_recording(Path(run_dir))
    settings = video_settings(run.video, overrides, where=f"{run.folder.manifest} config.video")
    if settings.audio is not None:
        ffmpeg.check_sound(settings.audio)
    log = read_log(run.folder.log)  # read now: a bad log should fail before a long encode
    credits = tags.read_credits(run.config, where=f"{run.folder.manifest} config")
    remake_stylised = out is None or not run.folder.stylised_video.exists()  # `--out`: a variant of the timelapse
    out = Path(out) if out is not None else run.folder.video
    container_of(out, settings.codec)  # a .webm name for H.264, say, fails now, not after the frames
    check_writable_folder(out.parent, what="the video's folder")
    # 2. Timeline: which captured frame(s) each video frame shows; a stopped render holds
    #    on the iteration it reached, not on the total it was asked for. A clip plays after it.
    iterations = [frame.iteration for frame in run.frames]
    changes = None
    if settings.pacing == "change":
        changes = timeline.frame_changes([thumbnail(frame.path) for frame in run.frames])
    clip = painted_clip.timing(run)
    shots = timeline.plan(iterations, settings, total_iterations=run.last_iteration, changes=changes, clip=clip)
    # 3. Layout, built around the finished painting's size.
    final = load_image(run.final or run.frames[-1].path)
    inputs = _inputs(run, settings, log)
    layout = layouts.make_layout(
        settings.layout, settings.size, settings.background, inputs, final.size, theme=settings.theme
    )
    comparison = _comparison(run, settings, final)
    # 4. Encode, streaming one composed frame at a time (a clip's painted clip first).
    settings_lines = tags.settings_lines(run.config, weights=run.weights)
    metadata = tags.video_tags(title=inputs.title or title_of(run), credits=credits, settings=settings_lines)
    stylised = len(run.painted) if clip and remake_stylised else 0
    count = stylised + len(shots)  # one progress bar over both videos
    if stylised:
        painted_clip.make_stylised(
            run, settings, metadata, progress=(lambda done: progress(done, count)) if progress else None
        )
    frames = sequence.video_frames(
        shots,
        layout,
        sequence.FittedFrames([frame.path for frame in run.frames], layout),
        layouts.resize_to_fit(final, layout.fit(final.size)),
        comparison,
        clip=painted_clip.clip_frames(run, layout) if clip else None,
        progress=(lambda done, _: progress(stylised + done, count)) if progress else None,
    )
    # No creation time here: a render resumed after a kill must give the same bytes as one that
    # ran straight through. `publish` stamps it.
    chapters = tags.chapters(shots, settings.fps)
    sound = painted_clip.timelapse_sound(run, shots, settings.fps, fade_in=settings.transition)
    job = EncodeJob(out, settings.size, settings.fps, len(shots) / settings.fps, settings, metadata, chapters, sound)
    with write_errors(out.parent):
        encode(frames, job)
    # 5. Pictures for people, beside the video.
    names = f"{run.content.name} + {' + '.join(style.name for style in run.styles)}"
    with write_errors(run.root):
        sheet, total = run.folder.contact_sheet, run.total_iterations
        pictures.contact_sheet(run.frames, sheet, total_iterations=total, background=settings.background)
        pictures.losses_plot(log, run.folder.losses_plot, title=f"losses: {names}")
    return out


def _comparison(run: Recording, settings: VideoSettings, final: Image.Image) -> Comparison | None:
    """The outro's before and after: the photo and the painting; a clip's last frame, as painted."""
    if settings.outro == "none":
        return None
    if run.clip is not None and run.painted and len(run.sources) >= len(run.painted):
        before, after = load_image(run.sources[len(run.painted) - 1]), load_image(run.painted[-1])
    else:
        before, after = load_image(run.photo or run.frames[0].path), final
    return Comparison(settings.size, settings.background, before, after, settings.outro, theme=settings.theme)


def _inputs(run: Recording, settings: VideoSettings, log: Sequence[LogEntry] = ()) -> layouts.Inputs:
    """The pictures and words the layouts show besides the painting."""
    styles = tuple(load_image(style.path) for style in run.styles if style.path is not None)
    return layouts.Inputs(
        content=load_image(run.photo) if run.photo else None,
        styles=styles,
        content_name=run.content.name,
        style_names=tuple(style.name for style in run.styles),
        title=title_of(run) if settings.title is None else settings.title,
        total_iterations=run.total_iterations,
        shares=shares_from(log) if len(styles) > 1 else None,
        clip=run.clip is not None,
    )


def shares_from(log: Sequence[LogEntry]) -> layouts.Shares | None:
    """Each painting's share at any (fractional) iteration, from the blend log.jsonl recorded."""
    known = sorted((entry.iteration, entry.blend) for entry in log if len(entry.blend) > 1)
    if not known:
        return None
    iterations = [iteration for iteration, _ in known]

    def at(iteration: float) -> tuple[float, ...]:
        index = bisect.bisect_left(iterations, iteration)
        if index == 0:
            return known[0][1]
        if index == len(known):
            return known[-1][1]
        (i0, b0), (i1, b1) = known[index - 1], known[index]
        t = (iteration - i0) / (i1 - i0)
        return tuple(a + (b - a) * t for a, b in zip(b0, b1, strict=True))

    return at


def title_of(run: Recording) -> str:
    """The title made from the run's input names (when the video settings give none)."""
    return default_title(run.content.name, [style.name for style in run.styles])


def default_title(content_name: str, style_names: list[str]) -> str:
    """A title made from the input names: ``tubingen.jpg`` + ``starry_night.jpg`` gives
    "Tubingen after Starry Night" (never a preset's title meant for other pictures).

    The names keep their own spelling, tidied of separators; only a name all in lower case gets
    capital initials (``photo301x177`` gives "Photo301x177", not str.title's "Photo301X177")."""

    def words(name: str) -> str:
        stem = " ".join(Path(name).stem.replace("_", " ").replace("-", " ").split()) or name
        return " ".join(word[:1].upper() + word[1:] for word in stem.split(" ")) if stem.islower() else stem

    return f"{words(content_name)} after {' and '.join(words(name) for name in style_names)}"
