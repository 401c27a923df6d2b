"""The commands that paint: ``render``, ``resume`` and ``plan`` (torch is imported inside them)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Optional

import typer

from timelapse_nst.cli.options import (
    Credit,
    NoVideo,
    PaintOptions,
    Port,
    Preview,
    Publish,
    Quiet,
    refuse_what_plan_cannot_use,
    with_paint_options,
)
from timelapse_nst.cli.shell import app, command, err, notify_for, progress_for
from timelapse_nst.errors import ExitCode, UserError
from timelapse_nst.terminal import styled


@command(app)
@with_paint_options
def render(options: PaintOptions) -> None:
    """Paint CONTENT in the style of STYLE; write frames, final.png and timelapse.mp4 to the run folder.

    Several STYLE paintings are blended (--style-blend), morph one into the other with
    --preset style-morph, or each paint a region (--masks, --regions). --reveal spreads the
    paint across the canvas. CONTENT may be a video clip: it is painted frame by frame (--start,
    --end, --fps; the clip: preset keys). A run folder that already holds this render is
    continued where it stopped.

    Example: timelapse-nst render photo.jpg starry_night.jpg --preset slow-reveal --size 384 --out runs/night

    Example: timelapse-nst render photo.jpg wave.jpg starry_night.jpg --preset style-morph

    Examples: timelapse-nst render clip.mp4 wave.jpg --preset quick-preview --start 2 --end 6 --fps 15;
    timelapse-nst render photo.jpg sky.jpg ground.jpg --masks sky.png,ground.png --reveal top-to-bottom
    """
    preview_options = _preview_options(options.preview, options.port)  # before torch loads: fail fast
    shared = _shared_arguments(options)
    from timelapse_nst import api

    result = api.render(
        options.content,
        options.style,
        **shared,
        title=options.title,
        make_video=not options.no_video,
        publish=options.publish,
        credit=options.credit,
        notify=notify_for(options.quiet),
        progress_factory=progress_for(options.quiet),
        masks=options.mask_paths(),
        regions=options.regions,
        keep=options.keep,
        reveal=options.reveal,
        **preview_options,
    )
    if not options.quiet:
        video = f" and {result.video}" if result.video else ""
        err.print(styled("done", "green", f" in {result.seconds:.0f} s: {result.final}{video}"), soft_wrap=True)


def _shared_arguments(options: PaintOptions) -> dict[str, Any]:
    """What ``render`` and ``plan`` both pass on to the API (the memory parsed first: fails fast)."""
    return {
        "out": options.out_folder(),
        "preset": options.preset,
        "overrides": options.overrides(),
        "size": options.size,
        "iterations": options.iterations,
        "weights": options.weights,
        "memory": options.memory_bytes(),
        "restart": options.restart,
    }


def _preview_options(preview: bool, port: int | None) -> dict[str, Any]:
    if port is not None and not preview:
        raise UserError("--port is the port of the --preview page: add --preview")
    return {"preview": "web" if preview else None, "preview_port": port}


@command(app)
def resume(
    run: Annotated[Path, typer.Argument(help="The run folder of an interrupted render.")],
    set_: Annotated[
        Optional[list[str]],
        typer.Option(
            "--set",
            metavar="KEY=VALUE",
            help="Change a setting that does not decide the pixels: tiling, checkpoint, video, final or credits "
            "(e.g. --set tiling.mode=on after running out of memory; repeatable).",
        ),
    ] = None,
    no_video: NoVideo = False,
    publish: Publish = False,
    credit: Credit = None,
    preview: Preview = False,
    port: Port = None,
    quiet: Quiet = False,
) -> None:
    """Continue an interrupted render exactly where it stopped, from its run folder alone.

    Example: timelapse-nst resume runs/night

    Example: timelapse-nst resume runs/night --set tiling.mode=on
    """
    preview_options = _preview_options(preview, port)  # before torch loads: a mistake fails fast
    from timelapse_nst import api

    result = api.resume(
        run,
        overrides=list(set_ or []),
        make_video=not no_video,
        publish=publish,
        credit=credit,
        notify=notify_for(quiet),
        progress_factory=progress_for(quiet),
        **preview_options,
    )
    if not quiet:
        video = f" and {result.video}" if result.video else ""
        err.print(styled("done", "green", f": {result.final}{video}"), soft_wrap=True)


@command(app, "plan")
@with_paint_options
def plan_command(options: PaintOptions) -> None:
    """Show the memory and disk a render would take, and whether it would start, before painting.

    Per scale: the size, whether it is tiled, the peak memory and the frames' disk; then
    checkpoints, where the weights come from, what the run folder (--out) holds, the free disk
    there and the verdict. Nothing is loaded or written. Exit code 0: render would start; 4: it
    would not (memory, disk or run folder); with --quiet only the exit code says it. It takes
    render's options; those that cannot change a plan (--title, --no-video, --publish, --credit,
    --preview, --port) are refused. With --memory and --device cuda it plans for a GPU that need
    not be in this machine.

    Example: timelapse-nst plan photo.jpg starry_night.jpg --preset youtube-4k --device cuda --memory 24GB
    """
    refuse_what_plan_cannot_use(options)
    shared = _shared_arguments(options)
    from timelapse_nst import api
    from timelapse_nst.rendering.plan import describe

    result = api.plan(options.content, options.style, **shared)
    if not options.quiet:
        print("\n".join(describe(result)))
    if not result.starts:
        raise typer.Exit(ExitCode.WOULD_NOT_START)
