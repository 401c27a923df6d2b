"""The preview's hook: the latest numbers of a render, recorded in O(1) per step under a lock.

It runs on the optimisation thread, so it only copies a few floats; everything slow (reading
frames, JSON, HTTP, notebook updates) happens on the readers' threads. No torch import:
``Step`` is only read through its attributes.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from timelapse_nst.engine.loop import Step
    from timelapse_nst.runfolder.folder import RunFolder

RATE_WINDOW = 50  # steps the iterations-per-second estimate averages over


@dataclass(frozen=True)
class Progress:
    """A consistent copy of what the tracker knows, taken under its lock."""

    iteration: int | None  # the last iteration seen (None before the first step)
    total: int | None
    scale: int
    first_iteration: int | None  # the first iteration this process painted (a resume starts later)
    names: tuple[str, ...]  # loss names, in the order of each point's values
    points: list[tuple[float, ...]]  # (iteration, *losses) from index ``start`` on
    start: int
    latest: tuple[float, ...] | None  # the newest point, (iteration, *losses)
    rate: float | None  # iterations per second over the last RATE_WINDOW steps
    seconds_since_step: float
    frames: tuple[int, ...]  # the latest captured iterations, newest last (maybe not on disk yet)
    restarts: int = 0  # a clip's frames begun after the first one seen (each resets the history)


class Tracker:
    """A hook that keeps the latest step's numbers and the loss history for the preview.

    ``is_frame(iteration, total)`` says which iterations the capture writer saves; the frame
    itself is written asynchronously, so readers look for the newest one that is on disk.
    A clip's frames are painted one after another, each counting its iterations from the start:
    an iteration lower than the last one begins a new frame, whose losses start a new history.
    """

    def __init__(self, is_frame: Callable[[int, int], bool], *, clock: Callable[[], float] = time.monotonic) -> None:
        self._is_frame = is_frame
        self._clock = clock
        self._lock = threading.Lock()
        self._iteration: int | None = None
        self._first: int | None = None
        self._total: int | None = None
        self._scale = 0
        self._names: tuple[str, ...] = ()
        self._points: list[tuple[float, ...]] = []
        self._times: deque[tuple[float, int]] = deque(maxlen=RATE_WINDOW)
        self._frames: deque[int] = deque(maxlen=8)  # > the frame writer's queue (4) + the one in hand
        self._restarts = 0
        self.version = 0  # bumped on every step: readers skip work when it has not moved

    def __call__(self, step: Step) -> None:
        now = self._clock()
        captured = self._is_frame(step.iteration, step.total)
        values = step.losses
        with self._lock:
            if self._first is None:
                self._first = step.iteration
            elif self._iteration is not None and step.iteration < self._iteration:  # a clip's next frame
                self._points.clear()
                self._times.clear()
                self._restarts += 1
            self._iteration, self._total, self._scale = step.iteration, step.total, step.scale
            if values:
                if not self._names:
                    self._names = tuple(values)
                self._points.append((step.iteration, *(values.get(name, float("nan")) for name in self._names)))
            self._times.append((now, step.iteration))
            if captured:
                self._frames.append(step.iteration)
            self.version += 1

    @property
    def restarts(self) -> int:
        """A clip's frames begun after the first one this tracker saw."""
        with self._lock:
            return self._restarts

    @property
    def first_iteration(self) -> int | None:
        with self._lock:
            return self._first

    def progress(self, since: int = 0) -> Progress:
        """The current numbers, with the loss points from index ``since`` on."""
        with self._lock:
            times = [self._times[0], self._times[-1]] if self._times else []
            return Progress(
                iteration=self._iteration,
                total=self._total,
                scale=self._scale,
                first_iteration=self._first,
                names=self._names,
                points=self._points[since:],
                start=min(since, len(self._points)),
                latest=self._points[-1] if self._points else None,
                rate=_rate(times),
                seconds_since_step=self._clock() - times[-1][0] if times else 0.0,
                frames=tuple(self._frames),
                restarts=self._restarts,
            )


def _rate(times: list[tuple[float, int]]) -> float | None:
    if len(times) < 2 or times[-1][0] <= times[0][0] or times[-1][1] <= times[0][1]:
        return None
    return (times[-1][1] - times[0][1]) / (times[-1][0] - times[0][0])


def newest_frame(run: RunFolder, candidates: tuple[int, ...], fallback: int | None) -> int | None:
    """The newest of ``candidates`` whose PNG is on disk (frames are renamed into place whole)."""
    for iteration in reversed(candidates):
        if run.frame_path(iteration).is_file():
            return iteration
    return fallback
