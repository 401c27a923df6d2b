"""The ``timelapse-nst`` command: a thin typer shell over the Python API.

torch is imported only by the commands that paint, so ``assemble``, ``status`` and
``presets`` start fast and work where torch is absent.
"""

from __future__ import annotations

import functools
import signal
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, ClassVar, Optional, TypeVar

import typer
from rich.console import Console
from rich.markup import escape
from typer.core import TyperArgument, TyperCommand

from timelapse_nst import __version__
from timelapse_nst.assembly.command import assemble_command
from timelapse_nst.batch.command import BatchGroup, batch_run_command, batch_status_command
from timelapse_nst.errors import UserError
from timelapse_nst.publish.command import publish_command

app = typer.Typer(
    name="timelapse-nst",
    help="Paint a photo in the style of a painting (Gatys et al. neural style transfer, VGG19) "
    "and make a timelapse video of it being painted.\n\n"
    "Example: timelapse-nst render photo.jpg painting.jpg --preset quick-preview --out runs/first",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode="markdown",  # docstring paragraphs flow; `code` reads as code
    context_settings={"help_option_names": ["-h", "--help"]},
)
presets_app = typer.Typer(
    help="List, show and check render presets.", no_args_is_help=True, rich_markup_mode="markdown"
)
weights_app = typer.Typer(
    help="The VGG19 ImageNet weights: where they are, fetch them once.",
    no_args_is_help=True,
    rich_markup_mode="markdown",
)
batch_app = typer.Typer(
    cls=BatchGroup,
    help="Render a series from a jobs file, locally or on a Ray cluster; every job resumable.\n\n"
    "`timelapse-nst batch JOBS.yaml` is short for `timelapse-nst batch run JOBS.yaml`.\n\n"
    "Example: timelapse-nst batch series.yaml --out runs/series",
    no_args_is_help=True,
    rich_markup_mode="markdown",
)
app.add_typer(presets_app, name="presets")
app.add_typer(weights_app, name="weights")
app.add_typer(batch_app, name="batch")

err = Console(stderr=True, highlight=False)
F = TypeVar("F", bound=Callable[..., Any])


class HelpCommand(TyperCommand):
    """--help that reads like the README: ``render [OPTIONS] CONTENT STYLE...``, and a metavar
    that says what a value is (PATH, N, TEXT) instead of Python types (``<list[str]>``, ``<bool>``)."""

    _METAVARS: ClassVar[dict[str, str]] = {"int": "N", "float": "X", "Path": "PATH", "str": "TEXT"}

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for param in self.params:
            self._tidy(param)

    def _tidy(self, param: Any) -> None:
        if isinstance(param, TyperArgument):
            if param.metavar is None:
                param.metavar = (param.name or "").upper() + ("..." if param.nargs != 1 else "")
            param.display_type_rich = lambda ctx: None  # type: ignore[method-assign]  # the name says it
        elif getattr(param, "is_flag", False):
            param.display_type_rich = lambda ctx: None  # type: ignore[method-assign]  # a flag takes no value
        elif param.metavar is None:
            bare = param.bare_type().removeprefix("list[").removesuffix("]")  # type: ignore[attr-defined]
            param.metavar = self._METAVARS.get(bare, bare.upper())

    def get_help_option(self, ctx: Any) -> Any:
        option = super().get_help_option(ctx)
        if option is not None:
            self._tidy(option)
        return option

    def collect_usage_pieces(self, ctx: Any) -> list[str]:
        pieces = [self.options_metavar] if self.options_metavar else []
        for param in self.get_params(ctx):
            if isinstance(param, TyperArgument):
                pieces.append(param.metavar if param.required else f"[{param.metavar}]")  # type: ignore[arg-type]
        return pieces


def _user_errors(command: F) -> F:
    """User errors become one line on stderr and their exit code (2; 130/143 for a stop), no traceback."""

    @functools.wraps(command)
    def run(*args: Any, **kwargs: Any) -> Any:
        try:
            return command(*args, **kwargs)
        except UserError as exc:
            # escape(): a value in brackets ("[conv9_9]") is text, not terminal markup.
            stopped = exc.exit_code in (130, 143)
            err.print(escape(str(exc)) if stopped else f"[red]error:[/red] {escape(str(exc))}", soft_wrap=True)
            raise typer.Exit(exc.exit_code) from None
        except KeyboardInterrupt:
            err.print("interrupted")
            raise typer.Exit(130) from None

    return run  # type: ignore[return-value]


def _command(app_: typer.Typer, name: str | None = None) -> Callable[[F], F]:
    def register(command: F) -> F:
        app_.command(name, cls=HelpCommand)(_user_errors(command))
        return command

    return register


_command(app, "assemble")(assemble_command)
_command(app, "publish")(publish_command)
_command(batch_app, "run")(batch_run_command)
_command(batch_app, "status")(batch_status_command)


def _version(value: bool) -> None:
    if value:
        print(f"timelapse-nst {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version and exit.")
    ] = False,
) -> None:
    """Paint a photo in the style of a painting, and a timelapse video of the painting being made."""


Quiet = Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar or notes (errors still print).")]
NoVideo = Annotated[bool, typer.Option("--no-video", help="Skip the video; make it later with `assemble`.")]
Publish = Annotated[
    bool, typer.Option("--publish", help="Then write thumbnail, loops and description (see `publish`).")
]
Credit = Annotated[Optional[str], typer.Option(help="With --publish: the painting's credit.")]
Preview = Annotated[
    bool, typer.Option("--preview", help="Watch it paint: a live page on 127.0.0.1 (its link is printed).")
]
Port = Annotated[
    Optional[int], typer.Option("--port", min=0, max=65535, help="Port of the --preview page (default: a free one).")
]


def _notify(quiet: bool):  # type: ignore[no-untyped-def]
    def notify(message: str) -> None:
        if message.startswith("warning:"):
            err.print(f"[yellow]{message}[/yellow]", soft_wrap=True)
        elif not quiet or message.startswith("preview: http"):  # asked for: the link shows even with --quiet
            err.print(message, soft_wrap=True)

    return notify


def _progress(quiet: bool):  # type: ignore[no-untyped-def]
    if quiet:
        return None
    from timelapse_nst.progress import ProgressBar

    return lambda total, done: ProgressBar(total, done, console=err)


Content = Annotated[Path, typer.Argument(help="The photo to paint.")]
Styles = Annotated[list[Path], typer.Argument(help="The painting whose style to use; several for a blend or a morph.")]
Out = Annotated[Optional[Path], typer.Option("--out", "-o", help="Run folder (default: runs/CONTENT-STYLE).")]
PresetName = Annotated[
    str,
    typer.Option("--preset", "-p", metavar="NAME|FILE", help="Built-in preset name or YAML file (see `presets list`)."),
]
Set = Annotated[
    Optional[list[str]],
    typer.Option(
        "--set", metavar="KEY=VALUE", help="Override a preset key, e.g. --set weights.style=1e5 (repeatable)."
    ),
]
Size = Annotated[Optional[int], typer.Option(help="Long edge of the painting in pixels.")]
Iterations = Annotated[
    Optional[int],
    typer.Option(
        help="Iterations at full size (coarse-to-fine presets add those of the smaller scales; the total is printed before painting)."
    ),
]
Seed = Annotated[Optional[int], typer.Option(help="Random seed (a CPU render is reproducible).")]
Device = Annotated[
    Optional[str], typer.Option(metavar="auto|cpu|cuda|mps", help="Where to paint (auto prefers a GPU).")
]
Title = Annotated[Optional[str], typer.Option(help="Title shown in the video.")]
StyleWeights = Annotated[
    Optional[str],
    typer.Option(
        metavar="W1,W2,...",
        help="Weight of each painting when there are several, e.g. 0.7,0.3 (preset key style_blend).",
    ),
]
PreserveColor = Annotated[
    Optional[str],
    typer.Option(
        metavar="luminance|histogram",
        help="Keep the photo's colours: luminance (the style acts on brightness only) or histogram "
        "(the painting recoloured to the photo's colours first); preset key color.preserve.",
    ),
]
WeightsSource = Annotated[
    str,
    typer.Option(
        metavar="torchvision|random|PATH",
        envvar="TIMELAPSE_NST_WEIGHTS",
        show_envvar=True,
        help="VGG19 weights: torchvision (ImageNet, downloaded once), a .pth PATH, or random.",
    ),
]
Restart = Annotated[
    bool, typer.Option("--restart", help="Start over: move an existing run folder aside (never deleted).")
]
Memory = Annotated[
    Optional[str],
    typer.Option(
        metavar="SIZE",
        help="Memory the render may take, e.g. 12GB (default: the device's free memory); the memory "
        "plan tiles the scales that need more, and refuses a size that cannot fit at all.",
    ),
]


def _overrides(
    set_: list[str] | None,
    seed: int | None,
    device: str | None,
    preserve_color: str | None,
    style_weights: str | None,
) -> list[str]:
    """The render options that stand for preset keys, as overrides that errors name by their flag."""
    from timelapse_nst.presets import Override

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


@_command(app)
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
        notify=_notify(quiet),
        progress_factory=_progress(quiet),
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


@_command(app)
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
        notify=_notify(quiet),
        progress_factory=_progress(quiet),
        **preview_options,
    )
    if not quiet:
        err.print(f"[green]done[/green]: {result.final}" + (f" and {result.video}" if result.video else ""))


@_command(app, "plan")
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
    """Show what `render` with the same options would take: per scale the size, whether it is
    tiled, the peak memory and the frames' disk; then checkpoints and the verdict. Nothing is
    loaded or written; the options that only matter while painting are accepted and ignored.
    With --memory and --device cuda it plans for a GPU that need not be in this machine.

    Example: timelapse-nst plan photo.jpg starry_night.jpg --preset youtube-4k --device cuda --memory 24GB
    """
    budget = _bytes(memory) if memory is not None else None
    from timelapse_nst import api
    from timelapse_nst.plan import describe

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


@_command(app)
def status(run: Annotated[Path, typer.Argument(help="A run folder.")]) -> None:
    """Show how far a render got, its latest losses, and the command to continue it.

    Example: timelapse-nst status runs/night
    """
    from timelapse_nst.status import describe

    print(describe(run))


@_command(presets_app, "list")
def presets_list() -> None:
    """List the built-in presets with a one-line description.

    Example: timelapse-nst presets list
    """
    from timelapse_nst import presets

    rows = presets.list_builtins()
    width = max(len(name) for name, _ in rows)
    for name, description in rows:
        print(f"{name:<{width}}  {description}")


@_command(presets_app, "show")
def presets_show(name: Annotated[str, typer.Argument(help="Preset name or YAML file.")]) -> None:
    """Print a preset fully resolved (extends and defaults applied) as YAML.

    Example: timelapse-nst presets show slow-reveal
    """
    from timelapse_nst import presets

    print(presets.to_yaml(presets.resolve(name)), end="")


@_command(presets_app, "validate")
def presets_validate(file: Annotated[Path, typer.Argument(help="A preset YAML file.")]) -> None:
    """Check a preset file; prints 'ok' or the first problem with its line.

    Example: timelapse-nst presets validate my-preset.yaml
    """
    from timelapse_nst import presets

    config = presets.resolve(str(file))
    print(f"ok: {file} ({config.name}, {config.optimizer.iterations} iterations at {config.size} px)")


@_command(weights_app, "status")
def weights_status() -> None:
    """Say whether the ImageNet VGG19 weights are cached, and where.

    Example: timelapse-nst weights status
    """
    from timelapse_nst.weights import weights_status as describe

    print(describe())


@_command(weights_app, "fetch")
def weights_fetch() -> None:
    """Download the ImageNet VGG19 weights once through torchvision and cache the features.

    Example: timelapse-nst weights fetch
    """
    from timelapse_nst.weights import fetch_imagenet_weights

    print(fetch_imagenet_weights(progress=True))


@_command(app)
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
    markdown: Annotated[
        bool, typer.Option("--markdown", help="Print the tables as Markdown (for the README).")
    ] = False,
    weights: Annotated[
        str, typer.Option(help="VGG19 weights: random (timing only), torchvision, or a .pth PATH.")
    ] = "random",
    content: Annotated[
        Optional[Path], typer.Option(help="Photo to measure on (default: the shipped Tübingen photo).")
    ] = None,
    style: Annotated[
        Optional[Path], typer.Option(help="Painting to measure on (default: the shipped Starry Night).")
    ] = None,
) -> None:
    """Measure our renderer against the bare-network floor and the seed's algorithm, side by side.

    Prints per-evaluation times and ratios at each size, then capture and checkpoint overheads,
    time to reach the baseline's objective, bf16 vs fp32, peak memory and assembly time.

    Example: timelapse-nst bench --quick --json bench.json
    """
    from timelapse_nst.bench import BenchSettings, run_bench, to_markdown, to_table

    given: dict[str, Any] = {"weights": weights}
    given.update({key: value for key, value in (("content", content), ("style", style)) if value is not None})
    if quick:
        settings = BenchSettings.quick(**given)
    else:
        measured = {"sizes": _parse_sizes(sizes), "iterations": iterations, "target_size": target_size}
        settings = BenchSettings(**measured, rss_size=rss_size, **given)
    report = run_bench(settings, say=lambda message: err.print(f"[dim]bench:[/dim] {message}"))
    if markdown:
        print(to_markdown(report))
    else:
        Console(highlight=False).print(*to_table(report))
    if json_path is not None:
        try:
            json_path.write_text(report.to_json() + "\n", encoding="utf-8")
        except OSError as exc:
            raise UserError(f"cannot write {json_path}: {exc.strerror or exc}") from None


def _parse_sizes(text: str) -> tuple[int, ...]:
    try:
        sizes = tuple(int(part) for part in text.split(",") if part.strip())
    except ValueError:
        raise UserError(f"--sizes '{text}': expected comma-separated integers, e.g. 128,256,384") from None
    if not sizes or any(not 64 <= size <= 4096 for size in sizes):
        raise UserError(f"--sizes '{text}': each size must be between 64 and 4096 pixels")
    return sizes


def main() -> None:
    """Entry point of the ``timelapse-nst`` script."""
    if hasattr(signal, "SIGXFSZ"):
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a file-size limit becomes EFBIG, handled
    app(prog_name="timelapse-nst")


if __name__ == "__main__":
    sys.exit(main())
