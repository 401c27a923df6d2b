"""The command line's shell: the apps, --help that reads like the README, one-line errors.

Every command is registered through ``command()``: user errors become one line on stderr and
their exit code, never a traceback.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, ClassVar, TypeVar, get_args, get_origin

import typer
from typer.core import TyperArgument, TyperCommand, TyperGroup

from timelapse_nst.batch.command import BatchGroup
from timelapse_nst.errors import ExitCode, UserError, command_line
from timelapse_nst.terminal import console, styled


class HelpGroup(TyperGroup):
    """The top-level help: ``--version`` and ``--help`` without a type tag (see ``HelpCommand``)."""

    def get_help_option(self, ctx: Any) -> Any:
        option = super().get_help_option(ctx)
        if option is not None:
            option.display_type_rich = lambda ctx: None
        return option

    def get_params(self, ctx: Any) -> list[Any]:
        params = super().get_params(ctx)
        for param in params:
            if getattr(param, "is_flag", False):
                param.display_type_rich = lambda ctx: None
        return params


class BatchHelpGroup(HelpGroup, BatchGroup):
    """``batch``: its short form (``BatchGroup``) and the tidy help."""


app = typer.Typer(
    cls=HelpGroup,
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
    cls=HelpGroup, help="List, show and check render presets.", no_args_is_help=True, rich_markup_mode="markdown"
)
weights_app = typer.Typer(
    cls=HelpGroup,
    help="The VGG19 ImageNet weights: where they are, fetch them once.",
    no_args_is_help=True,
    rich_markup_mode="markdown",
)
batch_app = typer.Typer(
    cls=BatchHelpGroup,
    help="Render a series from a jobs file, locally or on a Ray cluster; every job resumable.\n\n"
    "`timelapse-nst batch JOBS.yaml` is short for `timelapse-nst batch run JOBS.yaml`.\n\n"
    "Example: timelapse-nst batch series.yaml --out runs/series",
    no_args_is_help=True,
    rich_markup_mode="markdown",
)
app.add_typer(presets_app, name="presets")
app.add_typer(weights_app, name="weights")
app.add_typer(batch_app, name="batch")

err = console()  # prints what it is given literally: paths, titles, ffmpeg's words (see terminal.py)
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
            bare = _value_type(param)
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


def _value_type(param: Any) -> str:
    """The Python type a parameter's value has ("int", "Path", ...), on every typer release: typer
    0.29 keeps the annotation (its own click), earlier releases a click type ("integer", "path")."""
    annotation = getattr(getattr(param, "type_descriptor", None), "annotation", None)
    if annotation is None:
        name = getattr(getattr(param, "type", None), "name", "text")
        return {"integer": "int", "float": "float", "path": "Path", "text": "str", "boolean": "bool"}.get(name, name)
    if get_origin(annotation) is list:
        (annotation,) = get_args(annotation)
    return getattr(annotation, "__name__", "str")


def user_errors(command: F) -> F:
    """User errors become one line on stderr and their exit code (``ExitCode``), no traceback."""

    @functools.wraps(command)
    def run(*args: Any, **kwargs: Any) -> Any:
        try:
            with command_line():  # advice names flags (--weights random), not the API's keywords
                return command(*args, **kwargs)
        except UserError as exc:
            stopped = ExitCode.is_stop(exc.exit_code)
            err.print(str(exc) if stopped else styled("error:", "red", f" {exc}"), soft_wrap=True)
            raise typer.Exit(exc.exit_code) from None
        except KeyboardInterrupt:
            err.print("interrupted")
            raise typer.Exit(ExitCode.INTERRUPTED) from None

    return run  # type: ignore[return-value]


def command(app_: typer.Typer, name: str | None = None) -> Callable[[F], F]:
    def register(command: F) -> F:
        app_.command(name, cls=HelpCommand)(user_errors(command))
        return command

    return register


def notify_for(quiet: bool):  # type: ignore[no-untyped-def]
    """Notes and warnings on stderr; with --quiet none of them, only the --preview link (asked for)."""

    def notify(message: str) -> None:
        if quiet and not message.startswith("preview: http"):
            return
        err.print(message, style="yellow" if message.startswith("warning:") else None, soft_wrap=True)

    return notify


def progress_for(quiet: bool):  # type: ignore[no-untyped-def]
    if quiet:
        return None
    from timelapse_nst.rendering.progress import ProgressBar

    return lambda total, done: ProgressBar(total, done, console=err)
