"""timelapse-nst: neural style transfer that paints a picture and a timelapse of it being painted.

The heavy parts (torch) load lazily, so `timelapse_nst.assembly` works without torch.
"""

from __future__ import annotations

from typing import Any

from timelapse_nst.version import __version__

__all__ = ["__version__", "assemble", "plan", "render", "resume"]


def __getattr__(name: str) -> Any:
    if name in ("render", "resume", "plan"):
        from timelapse_nst import api

        return getattr(api, name)
    if name == "assemble":
        from timelapse_nst.assembly import assemble_run

        return assemble_run
    raise AttributeError(name)
