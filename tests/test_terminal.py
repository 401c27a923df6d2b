"""What users give us prints literally: rich's markup (``[bold]``) and emoji codes (``:smile:``)
never change a path, a title, a job's name or ffmpeg's words."""

from __future__ import annotations

import subprocess
import sys

import typer
from typer.testing import CliRunner

from timelapse_nst.batch.folder import JobView
from timelapse_nst.batch.table import failures, jobs_table
from timelapse_nst.cli.shell import command, notify_for
from timelapse_nst.errors import UserError
from timelapse_nst.terminal import console

ODD = "img/cat:smile: [bold]x[/bold].jpg"


def test_a_path_with_emoji_codes_and_markup_prints_as_written(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "timelapse_nst", "render", ODD, "s.png", "--weights", "random"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=120,
    )
    assert result.returncode == 2
    assert result.stderr.strip() == f"error: image '{ODD}' not found"


def _failing_app(message: str) -> typer.Typer:
    app = typer.Typer()

    @command(app, "fail")
    def fail() -> None:
        raise UserError(message)

    @app.callback()
    def root() -> None:
        """Two commands: typer then dispatches by name."""

    return app


def test_an_ffmpeg_message_keeps_its_stream_specifiers():
    message = "ffmpeg failed (exit 1): Stream map '1:a:0' matches no streams. :smile: [bold]"
    result = CliRunner().invoke(_failing_app(message), ["fail"])
    assert result.exit_code == 2
    assert result.stderr.strip() == f"error: {message}"


def test_notes_and_warnings_print_as_written(capfd):
    notify_for(quiet=False)(f"continuing {ODD}")
    notify_for(quiet=False)(f"warning: {ODD} is small")
    assert capfd.readouterr().err.splitlines() == [f"continuing {ODD}", f"warning: {ODD} is small"]


def test_the_batch_table_shows_names_and_reasons_as_written():
    view = JobView(name="[bold]cat:smile:", state="failed", iteration=0, total=3, losses={}, video="-", reason=ODD)
    out = console(stderr=False)
    with out.capture() as captured:
        out.print(jobs_table([view]))
        for line in failures([view]):
            out.print(line, soft_wrap=True)
    text = captured.get()
    assert "[bold]cat:smile:" in text and f"failed: [bold]cat:smile:: {ODD}" in text
