"""Where a render goes: what its run folder holds decides whether it starts there, continues
there, moves an older run aside, or is refused."""

from __future__ import annotations

from enum import Enum
from typing import Any

from timelapse_nst.errors import UserError, option
from timelapse_nst.rendering.inputs import check_same_render
from timelapse_nst.runfolder.folder import RunFolder


class Destination(Enum):
    """What ``render`` does with its run folder (the value says it to a user)."""

    NEW = "a new render"
    SETUP = "an unfinished set-up, started afresh"
    CONTINUE = "this render, continued"
    MOVE_ASIDE = "another run, moved aside first (--restart)"


def destination(run: RunFolder, manifest: dict[str, Any], *, restart: bool) -> Destination:
    """What ``render`` does with ``run`` for the render ``manifest`` describes. A folder that
    holds a different render, or files that are not a render's, is refused in one line."""
    if restart and _holds_anything(run):
        return Destination.MOVE_ASIDE
    if run.holds_only_setup():
        return Destination.SETUP
    if run.has_render():
        check_same_render(run, manifest)
        return Destination.CONTINUE
    if _holds_anything(run):
        raise UserError(f"{run.root} is not empty and holds no render; choose another folder ({option('out')})")
    return Destination.NEW


def bytes_held(run: RunFolder) -> int:
    """Bytes the run folder's files take (what a continued render has already written)."""
    return sum(path.stat().st_size for path in run.root.rglob("*") if path.is_file())


def _holds_anything(run: RunFolder) -> bool:
    return run.root.exists() and any(run.root.iterdir())
