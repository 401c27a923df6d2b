"""Generated bad input (Hypothesis) and the one contract every loader keeps: it loads, or it
raises one ``UserError`` line; never another exception, never a traceback, never a hang (a
hang is ended by pytest-timeout and fails the test).

``check_damaged_files(loader, sample, suffix, folder)`` is generic: it writes ``sample`` cut
short, bit-flipped and overwritten at generated offsets and hands each file to ``loader``.
Point it at any loader of files with a good sample of what it reads: images today, video clips
once clips are content (``check_damaged_files(load_clip, clip_bytes, ".mp4", tmp_path)``).

In the suite every test draws the same 100 examples on every run (stable CI, no example database
written). To look harder, locally: ``TIMELAPSE_NST_FUZZ_EXAMPLES=5000`` draws more, and
``TIMELAPSE_NST_FUZZ_RANDOM=1`` draws new ones on every run.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from timelapse_nst.errors import UserError

QUICK = settings(
    max_examples=int(os.environ.get("TIMELAPSE_NST_FUZZ_EXAMPLES", "100")),
    deadline=None,  # a slow example on a loaded CI machine is not a failure
    derandomize=os.environ.get("TIMELAPSE_NST_FUZZ_RANDOM") != "1",  # the same examples on every run
    database=None,  # nothing written into the checkout
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)


def loads_or_one_line(call: Callable[[], Any]) -> Any:
    """``call()``'s result, or None when it raised a ``UserError`` of one non-empty line.
    Any other exception propagates: that is the failure the fuzzing looks for. A warning is a
    failure too: Python prints it with a line of source under the user's command."""
    with warnings.catch_warnings(record=True) as warned:
        warnings.simplefilter("always")
        try:
            return call()
        except UserError as error:
            message = str(error)
            assert message.strip() and "\n" not in message and "Traceback" not in message, repr(message)
            return None
        finally:
            assert not warned, [f"{w.category.__name__}: {w.message}" for w in warned]


DAMAGES = ("truncated", "flipped", "overwritten", "cut out", "truncated and flipped")


@st.composite
def damaged(draw: st.DrawFn, sample: bytes) -> bytes:
    """``sample`` damaged at generated offsets: cut short, bits flipped, a run of bytes overwritten,
    or a run cut out of the middle (what follows moves up: every later offset is wrong)."""
    kind = draw(st.sampled_from(DAMAGES))
    data = bytearray(sample)
    if "flipped" in kind:
        for offset in draw(st.lists(st.integers(0, len(data) - 1), min_size=1, max_size=8)):
            data[offset] ^= 1 << draw(st.integers(0, 7))
    if kind == "overwritten":
        start = draw(st.integers(0, len(data) - 1))
        junk = draw(st.binary(min_size=1, max_size=16))[: len(data) - start]
        data[start : start + len(junk)] = junk
    if kind == "cut out":
        start = draw(st.integers(0, len(data) - 1))
        del data[start : start + draw(st.integers(1, 64))]
    if "truncated" in kind:
        data = data[: draw(st.integers(0, len(data) - 1))]
    return bytes(data)


def check_damaged_files(
    loader: Callable[[Path], Any], sample: bytes, suffix: str, folder: Path, *, max_examples: int | None = None
) -> None:
    """Every damaged version of ``sample`` (saved as ``*suffix`` in ``folder``) loads or is one line."""

    @settings(QUICK, max_examples=max_examples or QUICK.max_examples)
    @given(damaged(sample))
    def run(data: bytes) -> None:
        path = folder / f"damaged{suffix}"
        path.write_bytes(data)
        loads_or_one_line(lambda: loader(path))

    run()
