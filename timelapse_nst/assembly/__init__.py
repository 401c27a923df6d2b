"""Assembly: a run folder's frames -> timelapse.mp4, contact_sheet.png and losses.png.

Reads only the run folder and never imports torch, so it works on a folder copied from
another machine. This module only wires the stages: run folder -> timeline -> layout -> encoder.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path

from pydantic import ValidationError

from timelapse_nst.assembly import layouts, pictures, runfolder, sequence, timeline
from timelapse_nst.assembly.encode import EncodeJob, encode
from timelapse_nst.assembly.settings import VideoSettings
from timelapse_nst.errors import UserError

__all__ = ["VideoSettings", "assemble_run", "video_settings"]

DEFAULT_TITLE = "Neural style transfer"


def video_settings(
    base: Mapping[str, object], overrides: Mapping[str, object] | None = None, *, where: str = "video"
) -> VideoSettings:
    """Validate `base` (a preset's `video:` mapping) with `overrides` on top; UserError if bad."""
    try:
        return VideoSettings.model_validate({**base, **(overrides or {})})
    except ValidationError as error:
        first = error.errors()[0]
        key = ".".join(str(part) for part in first["loc"])
        if key.split(".")[0] in (overrides or {}):
            where = "option"
        message = first["msg"].removeprefix("Value error, ")
        if "input" in first and not isinstance(first["input"], Mapping) and repr(first["input"]) not in message:
            message += f" (got {first['input']!r})"
        raise UserError(f"{where}: {key}: {message}" if key else f"{where}: {message}") from None


def assemble_run(
    run_dir: Path,
    *,
    out: Path | None = None,
    overrides: Mapping[str, object] | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> Path:
    """Make the timelapse of the run in `run_dir`; returns the MP4's path.

    Settings come from render.yaml's `config.video`, with `overrides` (field -> value) on top.
    Also writes contact_sheet.png and losses.png into the run folder.
    """
    # 1. Read the folder and settle the settings.
    run = runfolder.read_run(Path(run_dir))
    settings = video_settings(run.video, overrides, where=f"{run.root / 'render.yaml'} config.video")
    if settings.audio is not None and not settings.audio.is_file():
        raise UserError(f"audio file not found: {settings.audio}")
    log = runfolder.read_log(run.log)  # read now: a bad log should fail before a long encode
    out = Path(out) if out is not None else run.root / "timelapse.mp4"
    # 2. Timeline: which captured frame(s) each video frame shows.
    iterations = [frame.iteration for frame in run.frames]
    changes = None
    if settings.pacing == "change":
        changes = timeline.frame_changes([runfolder.thumbnail(frame.path) for frame in run.frames])
    shots = timeline.plan(iterations, settings, total_iterations=run.total_iterations, changes=changes)
    # 3. Layout, built around the finished painting's size.
    final = runfolder.load_rgb(run.final or run.frames[-1].path)
    content = runfolder.load_rgb(run.content) if run.content else None
    style = runfolder.load_rgb(run.style) if run.style else None
    inputs = layouts.Inputs(
        content=content,
        style=style,
        content_name=run.content_name,
        style_name=run.style_name,
        title=DEFAULT_TITLE if settings.title is None else settings.title,
        total_iterations=run.total_iterations,
    )
    layout = layouts.make_layout(settings.layout, settings.size, settings.background, inputs, final.size)
    comparison = None
    if settings.outro != "none":
        before = content or runfolder.load_rgb(run.frames[0].path)
        comparison = layouts.Comparison(settings.size, settings.background, before, final, settings.outro)
    # 4. Encode, streaming one composed frame at a time.
    frames = sequence.video_frames(
        shots,
        layout,
        sequence.FittedFrames([frame.path for frame in run.frames], layout),
        layouts.resize_to_fit(final, layout.fit(final.size)),
        comparison,
        progress=progress,
    )
    duration = settings.total_frames / settings.fps
    encode(frames, EncodeJob(out=out, size=settings.size, fps=settings.fps, duration=duration, settings=settings))
    # 5. Pictures for people, beside the video.
    sheet = run.root / "contact_sheet.png"
    pictures.contact_sheet(run.frames, sheet, total_iterations=run.total_iterations, background=settings.background)
    pictures.losses_plot(log, run.root / "losses.png", title=f"losses: {run.content_name} + {run.style_name}")
    return out
