"""`timelapse-nst assemble RUN`: re-make a run's video from its folder alone (no torch)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from timelapse_nst import terminal
from timelapse_nst.assembly import assemble_run
from timelapse_nst.runfolder.folder import RunFolder


# One typer declaration per option (typer reads them from the signature): alike in shape by nature.
def assemble_command(
    run: Annotated[Path, typer.Argument(help="Run folder written by `render` (has render.yaml and frames/).")],
    layout: Annotated[
        str | None,
        typer.Option(metavar="plain|showcase|shorts", help="Layout of the video frame (shorts is vertical, 9:16)."),
    ] = None,
    duration: Annotated[float | None, typer.Option(help="Total video length in seconds.")] = None,
    fps: Annotated[int | None, typer.Option(help="Frames per second.")] = None,
    resolution: Annotated[
        str | None, typer.Option(metavar="720p|1080p|1440p|2160p|WxH", help="Size of the video.")
    ] = None,
    pacing: Annotated[
        str | None,
        typer.Option(metavar="linear|eased|change", help="How video time is shared between the captured frames."),
    ] = None,
    title: Annotated[str | None, typer.Option(help="Title of the showcase and shorts layouts ('' for none).")] = None,
    audio: Annotated[Path | None, typer.Option(help="Sound track, looped or cut to the video, faded out.")] = None,
    outro: Annotated[
        str | None, typer.Option(metavar="none|wipe|side-by-side", help="A closing before/after comparison.")
    ] = None,
    theme: Annotated[
        str | None,
        typer.Option(metavar="flat|gallery", help="Look of the layouts: gallery frames the pictures on a wall."),
    ] = None,
    codec: Annotated[
        str | None,
        typer.Option(metavar="h264|h265|vp9|av1", help="Video codec (vp9 and av1 go in a .webm with --out x.webm)."),
    ] = None,
    crf: Annotated[int | None, typer.Option(help="Quality: lower is better (default 18).")] = None,
    out: Annotated[Path | None, typer.Option(help="Where to write the video (default RUN/timelapse.mp4).")] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")] = False,
) -> None:
    """Make the timelapse video of a finished (or stopped) render from its run folder.

    Settings come from the preset's `video:` section saved in RUN/render.yaml; the options
    override them. Also writes contact_sheet.png and losses.png into RUN, and for a clip
    RUN/stylised.mp4 (the painted clip with its sound; with --out, only when it is missing).

    Example: timelapse-nst assemble runs/demo --layout shorts --duration 30 --audio music.mp3
    """
    given = {
        "layout": layout,
        "duration": duration,
        "fps": fps,
        "resolution": resolution,
        "pacing": pacing,
        "title": title,
        "audio": audio,
        "outro": outro,
        "theme": theme,
        "codec": codec,
        "crf": crf,
    }
    overrides = {key: value for key, value in given.items() if value is not None}
    console = terminal.console()
    started = time.time()
    if quiet or not console.is_terminal:  # a bar in a log is noise (and a blank line before an error)
        path = assemble_run(run, out=out, overrides=overrides)
    else:
        columns = (TextColumn("assembling"), BarColumn(), MofNCompleteColumn(), TextColumn("frames"))
        with Progress(*columns, TimeRemainingColumn(), console=console, transient=True) as bar:
            task = bar.add_task("assemble", total=None)

            def advance(done: int, total: int) -> None:
                bar.update(task, completed=done, total=total)

            path = assemble_run(run, out=out, overrides=overrides, progress=advance)
    if not quiet:
        console.print(f"wrote {path}")
        stylised = RunFolder(run).stylised_video
        if stylised.is_file() and stylised.stat().st_mtime >= started:
            console.print(f"wrote {stylised}")
