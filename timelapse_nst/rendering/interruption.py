"""Stops during a render (Ctrl-C, SIGTERM), turned into a checkpoint and a one-line message that says how to go on."""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from timelapse_nst.errors import ExitCode, UserError

# SIGTERM where the platform has it (Windows delivers it only from within the process).
STOP_SIGNALS = tuple(getattr(signal, name) for name in ("SIGINT", "SIGTERM") if hasattr(signal, name))


class Interrupted(UserError):
    """The render stopped on request after saving what it had (exit 130 for Ctrl-C, 143 for SIGTERM)."""

    def __init__(self, message: str, *, signum: int = signal.SIGINT) -> None:
        super().__init__(message, exit_code=ExitCode.of_signal(signum))


class StopRequest:
    """Set by SIGINT/SIGTERM; the loop reads it after each iteration and stops after a checkpoint."""

    def __init__(self) -> None:
        self.event = threading.Event()
        self.signum: int = signal.SIGINT

    def is_set(self) -> bool:
        return self.event.is_set()


class Terminated(BaseException):
    """SIGTERM while no checkpoint is possible (e.g. during the video): stop now, cleanly."""


@contextmanager
def stop_signals() -> Iterator[StopRequest]:
    """SIGINT/SIGTERM ask for a stop after the current iteration; a second Ctrl-C stops now."""
    request = StopRequest()

    def handler(signum: int, frame: Any) -> None:
        if request.is_set() and signum == signal.SIGINT:
            raise KeyboardInterrupt
        request.signum = signum
        request.event.set()

    with handling_signals(handler):
        yield request


@contextmanager
def terminate_cleanly() -> Iterator[None]:
    """SIGTERM raises ``Terminated`` (like Ctrl-C raises KeyboardInterrupt), so a stop during the
    video unwinds through the encoder's clean-up instead of killing the process mid-write."""

    def handler(signum: int, frame: Any) -> None:
        raise Terminated

    with handling_signals(handler, STOP_SIGNALS[1:]):  # SIGTERM, where there is one
        yield


@contextmanager
def handling_signals(handler: Callable[[int, Any], None], signals: tuple[int, ...] = STOP_SIGNALS) -> Iterator[None]:
    """``handler`` for ``signals`` while the block runs, the previous handlers back after it. Only
    the main thread may set one: elsewhere (a Ray task, a notebook's worker) the block runs without."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {sig: signal.signal(sig, handler) for sig in signals}
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)
