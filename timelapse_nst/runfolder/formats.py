"""The format versions of what a run folder holds, and the refusal of a newer one.

render.yaml (``format:``), every log.jsonl record (``"format"``) and every checkpoint
(``format``) say which layout they were written in. A reader meets a newer one when a folder
comes from a newer timelapse-nst: it refuses it in one line that names the version and what to
do, instead of misreading it. A missing format is format 1 (what 0.3 and earlier wrote).
"""

from __future__ import annotations

from timelapse_nst.errors import UserError
from timelapse_nst.version import __version__

MANIFEST_FORMAT = 1
LOG_FORMAT = 1


def check_format(found: object, known: int, what: str) -> None:
    """Refuse ``what`` (e.g. "runs/a/render.yaml") written in a format other than 1..``known``."""
    if found is None:
        return
    if isinstance(found, int) and not isinstance(found, bool) and 1 <= found <= known:
        return
    if isinstance(found, int) and not isinstance(found, bool) and found > known:
        raise UserError(
            f"{what} is in format {found}, written by a newer timelapse-nst; this one ({__version__}) reads up to "
            f"format {known}: upgrade (pip install --upgrade timelapse-nst), or use the version that wrote it"
        )
    raise UserError(f"{what} names format {found!r}, which no timelapse-nst writes: the file is damaged or not ours")
