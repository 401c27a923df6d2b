"""The other commands: ``status``, ``presets``, ``weights`` and ``bench``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Optional

import typer

from timelapse_nst.atomic import write_atomic
from timelapse_nst.cli.shell import app, command, err, presets_app, weights_app
from timelapse_nst.errors import UserError
from timelapse_nst.terminal import console, styled


@command(app)
def status(run: Annotated[Path, typer.Argument(help="A run folder.")]) -> None:
    """Show how far a render got, its latest losses, and the command to continue it.

    Example: timelapse-nst status runs/night
    """
    from timelapse_nst.rendering.status import describe

    print(describe(run))


@command(presets_app, "list")
def presets_list() -> None:
    """List the built-in presets with a one-line description.

    Example: timelapse-nst presets list
    """
    from timelapse_nst.settings import presets

    rows = presets.list_builtins()
    width = max(len(name) for name, _ in rows)
    for name, description in rows:
        print(f"{name:<{width}}  {description}")


@command(presets_app, "show")
def presets_show(name: Annotated[str, typer.Argument(help="Preset name or YAML file.")]) -> None:
    """Print a preset fully resolved (extends and defaults applied) as YAML.

    Example: timelapse-nst presets show slow-reveal
    """
    from timelapse_nst.settings import presets

    print(presets.to_yaml(presets.resolve(name)), end="")


@command(presets_app, "validate")
def presets_validate(file: Annotated[Path, typer.Argument(help="A preset YAML file.")]) -> None:
    """Check a preset file; prints 'ok' or the first problem with its line.

    Example: timelapse-nst presets validate my-preset.yaml
    """
    from timelapse_nst.settings import presets

    config = presets.resolve(str(file))
    print(f"ok: {file} ({config.name}, {config.optimizer.iterations} iterations at {config.size} px)")


@command(weights_app, "status")
def weights_status() -> None:
    """Say whether the ImageNet VGG19 weights are cached, and where.

    Example: timelapse-nst weights status
    """
    from timelapse_nst.engine.weights import weights_status as describe

    print(describe())


@command(weights_app, "fetch")
def weights_fetch() -> None:
    """Download the ImageNet VGG19 weights once through torchvision and cache the features.

    Example: timelapse-nst weights fetch
    """
    from timelapse_nst.engine.weights import fetch_imagenet_weights

    print(fetch_imagenet_weights(progress=True))


@command(app)
def bench(
    sizes: Annotated[str, typer.Option(help="Comma-separated long edges in pixels.")] = "128,256,384",
    iterations: Annotated[int, typer.Option(min=2, help="Iterations per run (baseline and ours alike).")] = 40,
    target_size: Annotated[
        int, typer.Option(min=64, help="Size for the detailed figures (overheads, convergence, bf16 vs fp32).")
    ] = 256,
    rss_size: Annotated[int, typer.Option(min=64, help="Size of the peak-memory run (in a subprocess).")] = 512,
    quick: Annotated[
        bool, typer.Option("--quick", help="A smoke run in about a minute (128 px, 8 iterations).")
    ] = False,
    json_path: Annotated[
        Optional[Path], typer.Option("--json", help="Also write the figures to this JSON file.")
    ] = None,
    plot: Annotated[
        Optional[Path],
        typer.Option(
            "--plot",
            help="Write the reach curves (objective of saved images vs seconds, seed and ours) to this PNG "
            "(default: next to --json, as NAME-reach.png).",
        ),
    ] = None,
    markdown: Annotated[
        bool, typer.Option("--markdown", help="Print the tables as Markdown (for the documentation).")
    ] = False,
    weights: Annotated[
        str, typer.Option(help="VGG19 weights: random (timing only), torchvision, or a .pth PATH.")
    ] = "random",
    content: Annotated[
        Optional[Path], typer.Option(help="Photo to measure on (default: the shipped Tübingen photo).")
    ] = None,
    clip_only: Annotated[
        bool,
        typer.Option(
            "--clip-only",
            help="Only the clip study: a clip made from the photo (pan, zoom, a scene cut) painted as a clip "
            "and frame by frame alone (about 5 min at 256 px).",
        ),
    ] = False,
    style: Annotated[
        Optional[Path], typer.Option(help="Painting to measure on (default: the shipped Starry Night).")
    ] = None,
) -> None:
    """Measure our renderer against the bare-network floor and the seed's algorithm, side by side.

    Prints per-evaluation times and ratios at each size, then capture and checkpoint overheads,
    the time for our default render to reach the seed's final quality (at 256 and 512 px), bf16
    vs fp32, the live preview's cost, tiled vs untiled renders, a painted clip against its frames
    painted alone (warping error, objective, time, flow, memory), peak memory and assembly time.

    Example: timelapse-nst bench --quick --json bench.json
    """
    from timelapse_nst.bench import BenchSettings, run_bench, to_markdown, to_table

    for flag, path in (("--json", json_path), ("--plot", plot)):  # refused now, not after the run
        if path is not None:
            _check_output_file(flag, path)
    given: dict[str, Any] = {"weights": weights, "clip_only": clip_only}
    given.update({key: value for key, value in (("content", content), ("style", style)) if value is not None})
    if quick:
        settings = BenchSettings.quick(**given)
    else:
        measured = {"sizes": parse_sizes(sizes), "iterations": iterations, "target_size": target_size}
        settings = BenchSettings(**measured, rss_size=rss_size, **given)
    report = run_bench(settings, say=lambda message: err.print(styled("bench:", "dim", f" {message}")))
    if markdown:
        print(to_markdown(report))
    else:
        console(stderr=False).print(*to_table(report))
    if json_path is not None:
        try:
            write_atomic(json_path, (report.to_json() + "\n").encode("utf-8"))
        except OSError as exc:
            raise UserError(f"cannot write {json_path}: {exc.strerror or exc}") from None
    if plot is None and json_path is not None:
        plot = json_path.with_name(f"{json_path.stem}-reach.png")
    if plot is not None and report.reach:
        from timelapse_nst.bench.reach import plot_reach

        try:
            plot_reach(report.reach, plot)
        except OSError as exc:
            raise UserError(f"cannot write {plot}: {exc.strerror or exc}") from None
        err.print(styled("bench:", "dim", f" reach curves in {plot}"))


def _check_output_file(flag: str, path: Path) -> None:
    """A file the bench will write at its end: its folder made and tried now, in one line if not."""
    import tempfile

    if path.is_dir():
        raise UserError(f"{flag} {path} is a folder; give a file name")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=path.parent):
            pass
    except OSError as exc:
        raise UserError(f"{flag} {path}: cannot write in {path.parent} ({exc.strerror or exc})") from None


def parse_sizes(text: str) -> tuple[int, ...]:
    try:
        sizes = tuple(int(part) for part in text.split(",") if part.strip())
    except ValueError:
        raise UserError(f"--sizes '{text}': expected comma-separated integers, e.g. 128,256,384") from None
    if not sizes or any(not 64 <= size <= 4096 for size in sizes):
        raise UserError(f"--sizes '{text}': each size must be between 64 and 4096 pixels")
    return sizes
