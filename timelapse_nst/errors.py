"""The one exception type that reaches a user as a one-line message (exit code 2)."""

from __future__ import annotations


class UserError(Exception):
    """A problem the user can fix: bad input, bad preset, missing weights, a busy run folder.

    The CLI prints ``str(error)`` on one line to stderr and exits with ``exit_code``;
    no traceback is ever shown for it.
    """

    exit_code: int = 2

    def __init__(self, message: str, *, exit_code: int = 2) -> None:
        super().__init__(message)
        self.exit_code = exit_code
