"""The commands that paint: ``render``, ``resume`` and ``plan`` (torch is imported inside them)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Optional

import typer

from timelapse_nst.cli.options import (
    Content,
    Credit,
    Device,
    Iterations,
    Memory,
    NoVideo,
    Out,
    Port,
    PreserveColor,
    PresetName,
    Preview,
    Publish,
    Quiet,
    Restart,
    Seed,
    Set,
    Size,
    Styles,
    StyleWeights,
    Title,
    WeightsSource,
)
from timelapse_nst.cli.shell import app, command, err, notify_for, progress_for
from timelapse_nst.errors import UserError


def _overrides(
    set_: list[str] | None,
    seed: int | None,
    device: str | None,
    preserve_color: str | None,
    style_weights: str | None,
) -> list[str]:
    """The render options that stand for preset keys, as overrides that errors name by their flag."""
    from timelapse_nst.settings.presets import Override

    overrides: list[str] = list(set_ or [])
    given = (
        ("seed", seed, "--seed"),
        ("device", device, "--device"),
        ("color.preserve", preserve_color, "--preserve-color"),
    )
    overrides += [Override(key, value, flag=flag) for key, value, flag in given if value is not None]
    if style_weights is not None:
        override = Override("style_blend", f"[{style_weights}]", flag="--style-weights")
        override.label = f"--style-weights {style_weights}"
        overrides.append(override)
    return overrides


@command(app)
def render(
    content: Content,
    style: Styles,
    out: Out = None,
    preset: PresetName = "classic",
    set_: Set = None,
    size: Size = None,
    iterations: Iterations = None,
    seed: Seed = None,
    device: Device = None,
    title: Title = None,
    style_weights: StyleWeights = None,
    preserve_color: PreserveColor = None,
    weights: WeightsSource = "torchvision",
    restart: Restart = False,
    memory: Memory = None,
    no_video: NoVideo = False,
    publish: Publish = False,
    credit: Credit = None,
    preview: Preview = False,
    port: Port = None,
    quiet: Quiet = False,
) -> None:
    """Paint CONTENT in the style of STYLE; write frames, final.png and timelapse.mp4 to the run folder.

    Several STYLE paintings are blended (--style-weights), or morph one into the other with
    --preset style-morph. A run folder that already holds this render is continued where it stopped.

    Example: timelapse-nst render photo.jpg starry_night.jpg --preset slow-reveal --size 384 --out runs/night

    Example: timelapse-nst render photo.jpg wave.jpg starry_night.jpg --preset style-morph
    """
    preview_options = _preview_options(preview, port)  # before torch loads: a mistake fails fast
    budget = _bytes(memory) if memory is not None else None
    from timelapse_nst import api

    overrides = _overrides(set_, seed, device, preserve_color, style_weights)
    out = out or Path("runs") / f"{content.stem}-{'+'.join(path.stem for path in style)}"
    result = api.render(
        content,
        style,
        out=out,
        preset=preset,
        overrides=overrides,
        size=size,
        iterations=iterations,
        title=title,
        weights=weights,
        memory=budget,
        restart=restart,
        make_video=not no_video,
        publish=publish,
        credit=credit,
        notify=notify_for(quiet),
        progress_factory=progress_for(quiet),
        **preview_options,
    )
    if not quiet:
        err.print(
            f"[green]done[/green] in {result.seconds:.0f} s: {result.final}"
            + (f" and {result.video}" if result.video else "")
        )


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
            help="Change a setting that does not decide the pixels: tiling, checkpoint or video "
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
        err.print(f"[green]done[/green]: {result.final}" + (f" and {result.video}" if result.video else ""))


@command(app, "plan")
def plan_command(
    content: Content,
    style: Styles,
    out: Out = None,
    preset: PresetName = "classic",
    set_: Set = None,
    size: Size = None,
    iterations: Iterations = None,
    seed: Seed = None,
    device: Device = None,
    title: Title = None,
    style_weights: StyleWeights = None,
    preserve_color: PreserveColor = None,
    weights: WeightsSource = "torchvision",
    restart: Restart = False,
    memory: Memory = None,
    no_video: NoVideo = False,
    publish: Publish = False,
    credit: Credit = None,
    preview: Preview = False,
    port: Port = None,
    quiet: Quiet = False,
) -> None:
    """Show the memory and disk a render would take, before painting.

    Per scale: the size, whether it is tiled, the peak memory and the frames' disk; then
    checkpoints and the verdict. Nothing is loaded or written; the options that only matter
    while painting are accepted and ignored. With --memory and --device cuda it plans for a GPU
    that need not be in this machine.

    Example: timelapse-nst plan photo.jpg starry_night.jpg --preset youtube-4k --device cuda --memory 24GB
    """
    budget = _bytes(memory) if memory is not None else None
    from timelapse_nst import api
    from timelapse_nst.rendering.plan import describe

    overrides = _overrides(set_, seed, device, preserve_color, style_weights)
    result = api.plan(
        content, style, preset=preset, overrides=overrides, size=size, iterations=iterations, title=title, memory=budget
    )
    print("\n".join(describe(result)))


def _bytes(text: str) -> int:
    """``24GB``, ``512MB``, ``1.5G`` -> bytes (binary units, as the plan prints them)."""
    import re

    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([KMGT]?)(?:i?B)?\s*", text, flags=re.IGNORECASE)
    if not match or float(match[1]) <= 0:
        raise UserError(f"--memory {text}: expected a size like 24GB or 512MB")
    return int(float(match[1]) * 1024 ** "BKMGT".index((match[2] or "B").upper()))
