"""The consoles we print through: text we are given prints literally.

rich reads ``[bold]`` as markup and ``:smile:`` as an emoji code in every string it prints, so a
photo called ``cat:smile:.jpg``, a title with brackets or ffmpeg's ``1:a:0`` would come out
changed. Our consoles switch markup, emoji codes and the highlighter off for everything they
print: what we colour, we colour with ``style=`` or ``styled()``, never with markup in a string.
"""

from __future__ import annotations

from rich.console import Console
from rich.text import Text


def console(*, stderr: bool = True) -> Console:
    """A console that prints strings as they are (stderr by default: stdout is for results)."""
    return Console(stderr=stderr, markup=False, emoji=False, highlight=False)


def styled(label: str, style: str, rest: str = "") -> Text:
    """``label`` in ``style`` followed by ``rest`` as it is: ``styled("error:", "red", " " + message)``."""
    return Text.assemble((label, style), rest)
