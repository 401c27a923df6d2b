"""A rich progress bar as a hook: iteration, rate, ETA and the current losses."""

from __future__ import annotations

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from timelapse_nst.optimize import Step


class ProgressBar:
    """Shows a render's progress on stderr; call ``close()`` when done."""

    def __init__(self, total: int, completed: int = 0, *, console: Console | None = None) -> None:
        self._progress = Progress(
            TextColumn("[bold]painting"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[rate]}"),
            TimeElapsedColumn(),
            TextColumn("eta"),
            TimeRemainingColumn(),
            TextColumn("{task.fields[losses]}"),
            console=console or Console(stderr=True),
            transient=False,
        )
        self._task = self._progress.add_task("render", total=total, completed=completed, rate="", losses="")
        self._progress.start()

    def __call__(self, step: Step) -> None:
        if step.iteration == 0:
            return
        speed = self._progress.tasks[0].speed
        losses = step.losses
        text = (
            f"total {losses['total']:.3g}  content {losses['content']:.3g}  "
            f"style {losses['style']:.3g}  tv {losses['tv']:.3g}"
        )
        rate = f"{speed:.2f} it/s" if speed else ""
        self._progress.update(self._task, completed=step.iteration, losses=text, rate=rate)

    def close(self) -> None:
        self._progress.stop()
