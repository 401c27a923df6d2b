"""`timelapse-nst publish RUN`: thumbnail, loops, description and tags from a run folder (no torch)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from timelapse_nst import terminal


def publish_command(
    run: Annotated[Path, typer.Argument(help="Run folder written by `render` (best after `assemble`).")],
    credit: Annotated[
        str | None, typer.Option(help='Credit of the painting, e.g. "Vincent van Gogh, The Starry Night".')
    ] = None,
    title: Annotated[str | None, typer.Option(help="Title of the thumbnail, description and video tags.")] = None,
    boomerang: Annotated[bool, typer.Option("--boomerang", help="The loop plays forward, then back.")] = False,
    loop_seconds: Annotated[float, typer.Option(help="Length of loop.mp4 and loop.gif (1 to 10 s).")] = 6.0,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Print nothing but errors.")] = False,
) -> None:
    """Make what goes with the video: thumbnail.jpg, loop.mp4, loop.gif and description.txt.

    Also writes the title, credits, settings and creation time into RUN/timelapse.mp4 (a stream
    copy: not re-encoded). A given --credit or --title is saved in RUN/render.yaml, so a later
    `assemble` keeps it. Credits can also come from the preset: `credits: {photo: ..., painting: ...}`.

    Example: timelapse-nst publish runs/night --credit "Vincent van Gogh, The Starry Night" --boomerang
    """
    from timelapse_nst.publish.kit import publish_run

    console = terminal.console()
    publish_run(
        run,
        credit=credit,
        title=title,
        boomerang=boomerang,
        loop_seconds=loop_seconds,
        notify=(lambda message: None) if quiet else (lambda message: console.print(message, soft_wrap=True)),
    )
