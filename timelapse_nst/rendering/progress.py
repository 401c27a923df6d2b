"""A render's progress on stderr, as a hook: a two-line bar in a terminal, plain lines in a log.

In a terminal the first line keeps what matters readable even at 80 columns (bar, iteration
count, rate, time left) and the losses get a line of their own, so nothing is cut to "…".
Without a terminal (a log file, CI) it prints a plain line every few seconds instead.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import TYPE_CHECKING

from rich.console import Console, RenderableType
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn, TimeRemainingColumn
from rich.text import Text

from timelapse_nst import terminal
from timelapse_nst.runfolder.losses import losses_line

if TYPE_CHECKING:
    from timelapse_nst.engine.loop import Step

PLAIN_EVERY_SECONDS = 10.0


def duration(seconds: float) -> str:
    """'1 h 02 min', '3 min 05 s', '42 s'."""
    minutes, secs = divmod(max(0, round(seconds)), 60)
    hours, minutes = divmod(minutes, 60)
    if hours:
        return f"{hours} h {minutes:02d} min"
    return f"{minutes} min {secs:02d} s" if minutes else f"{secs} s"


class _TwoLines(Progress):
    """The bar on one line, the latest losses on the next."""

    losses = ""

    def get_renderables(self) -> Iterable[RenderableType]:
        yield self.make_tasks_table(self.tasks)
        if self.losses:
            yield Text("  " + self.losses, style="dim", overflow="ellipsis", no_wrap=True)


class ProgressBar:
    """Shows a render's progress on stderr; call ``close()`` when done."""

    def __init__(self, total: int, completed: int = 0, *, console: Console | None = None) -> None:
        self.console = console or terminal.console()
        self.total, self.completed = total, completed
        self.label = "painting"
        self._bar: _TwoLines | None = None
        self._task: TaskID | None = None
        self._started = time.monotonic()
        self._last_line = self._started
        if self.console.is_terminal:
            self._bar = _TwoLines(
                TextColumn("[bold]{task.fields[label]}"),
                BarColumn(bar_width=None),
                MofNCompleteColumn(),
                TextColumn("{task.fields[rate]}"),
                TimeRemainingColumn(compact=True),
                TextColumn("left"),
                console=self.console,
                transient=False,
            )
            self._task = self._bar.add_task("render", total=total, completed=completed, rate="", label=self.label)
            self._bar.start()

    def __call__(self, step: Step) -> None:
        if step.iteration == 0:
            return
        if self._bar is not None and self._task is not None:
            speed = self._bar.tasks[0].speed
            self._bar.losses = losses_line(step.losses, step.loss_weights)
            self._bar.update(self._task, completed=step.iteration, rate=f"{speed:.2f} it/s" if speed else "")
        else:
            self._plain(step)

    def frame(self, label: str, total: int) -> None:
        """A clip: what is painted now ("painting frame 3/48"), shown before the bar, and the
        whole clip's iterations as now known (a scene cut adds some)."""
        self.label, self.total = label, total
        if self._bar is not None and self._task is not None:
            self._bar.update(self._task, label=label, total=total)

    def _plain(self, step: Step) -> None:
        now = time.monotonic()
        if now - self._last_line < PLAIN_EVERY_SECONDS and step.iteration < self.total:
            return
        self._last_line = now
        done = step.iteration - self.completed
        rate = done / (now - self._started) if now > self._started else 0.0
        left = f", {duration((self.total - step.iteration) / rate)} left" if rate > 0 else ""
        share = f"{100 * step.iteration / max(1, self.total):.0f}%"
        pace = f", {rate:.2f} it/s" if rate > 0 else ""
        line = f"{self.label}: iteration {step.iteration}/{self.total} ({share}){pace}{left}; {losses_line(step.losses, step.loss_weights)}"
        self.console.print(line, soft_wrap=True)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.stop()
