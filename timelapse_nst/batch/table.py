"""The jobs table: job, state, iteration, losses, video (failed jobs' reasons go below it), drawn with rich.

The same table serves the live display of a running batch (refreshed from the run folders,
which is all a display needs, locally or on a Ray cluster's shared filesystem) and
``timelapse-nst batch status DIR``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

from rich.console import Console
from rich.live import Live
from rich.table import Table
from rich.text import Text

from timelapse_nst.batch.folder import BatchFolder, JobView
from timelapse_nst.runfolder.losses import number, sum_line, weighted_losses

_STYLES = {
    "done": "green",
    "running": "cyan",
    "queued": "dim",
    "pending": "dim",
    "stopped": "yellow",
    "failed": "red",
}


def jobs_table(views: list[JobView], *, title: str | None = None) -> Table:
    table = Table(title=title, title_justify="left", expand=False)
    table.add_column("job", overflow="ellipsis")  # the column that gives way in a narrow terminal
    table.add_column("state", no_wrap=True)
    table.add_column("iteration", justify="right", no_wrap=True)
    table.add_column("losses (weighted)\ntotal = content + style + tv", no_wrap=True)
    table.add_column("video", no_wrap=True)
    for view in views:
        table.add_row(
            view.name,
            Text(view.state, style=_STYLES[view.state]),
            _iteration(view),
            _losses(view),
            _video(view),
        )
    return table


def failures(views: list[JobView]) -> list[Text]:
    """One line per failed job, with its reason (printed as it is: names and reasons are the user's)."""
    return [
        Text.assemble(("failed:", "red"), f" {view.name}: {view.reason}") for view in views if view.state == "failed"
    ]


def summary(views: list[JobView]) -> str:
    """``3 done, 1 failed, 1 running`` (states in a fixed order)."""
    order = ("done", "running", "queued", "stopped", "pending", "failed")
    counts = {state: sum(1 for view in views if view.state == state) for state in order}
    return ", ".join(f"{count} {state}" for state, count in counts.items() if count)


def _iteration(view: JobView) -> str:
    if view.total is None:
        return "-"
    percent = 100 * view.iteration / view.total if view.total else 0
    unit = f"{view.unit} " if view.unit else ""
    return f"{unit}{view.iteration}/{view.total} ({percent:.0f}%)"


def _losses(view: JobView) -> str:
    if not view.losses:
        return "-"
    weighted = weighted_losses(view.losses, view.loss_weights)
    if weighted:
        return sum_line(weighted, named=False)
    return number(view.losses["total"]) if "total" in view.losses else "-"  # a log without its weights


def _video(view: JobView) -> str:
    return {"up to date": "yes", "not made yet": "-"}.get(view.video, view.video)


@contextmanager
def live_table(
    folder: BatchFolder, names: list[str], active: dict[str, str], console: Console
) -> Iterator[Callable[[], None]]:
    """A table on ``console`` redrawn twice a second from the run folders; yields a refresh function."""

    def draw() -> Table:
        views = [folder.view(name, live=active) for name in names]
        return jobs_table(views, title=f"batch {folder.root}: {summary(views)}")

    # Transient: the caller prints the final table once the batch ends.
    with Live(get_renderable=draw, console=console, refresh_per_second=2, transient=True) as live:
        yield live.refresh
