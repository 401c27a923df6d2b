"""The ``timelapse-nst`` command: a thin typer shell over the Python API.

torch is imported only by the commands that paint, so ``assemble``, ``status`` and ``presets``
start fast and work where torch is absent. ``shell`` holds the apps and the error handling,
``paint`` the commands that paint, ``tools`` the others; assemble, publish and batch bring their
own command modules.
"""

from __future__ import annotations

import signal
import sys
from typing import Annotated

import typer

from timelapse_nst.allocator import keep_freed_memory
from timelapse_nst.assembly.command import assemble_command
from timelapse_nst.batch.command import batch_run_command, batch_status_command
from timelapse_nst.cli import paint, tools  # noqa: F401 -- their commands register themselves
from timelapse_nst.cli.shell import app, batch_app, command
from timelapse_nst.publish.command import publish_command
from timelapse_nst.version import __version__

__all__ = ["app", "main"]

command(app, "assemble")(assemble_command)
command(app, "publish")(publish_command)
command(batch_app, "run")(batch_run_command)
command(batch_app, "status")(batch_status_command)


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


def main() -> None:
    """Entry point of the ``timelapse-nst`` script."""
    if hasattr(signal, "SIGXFSZ"):
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a file-size limit becomes EFBIG, handled
    keep_freed_memory()  # this process is ours: no page faults for the blocks each evaluation frees
    app(prog_name="timelapse-nst")


if __name__ == "__main__":
    sys.exit(main())
