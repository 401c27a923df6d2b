"""Publishing kit: what a creator uploads besides the video, made from the run folder alone.

    thumbnail.jpg    1280x720, before/after with the title (YouTube's size and 2 MB limit)
    loop.mp4         a short loop of the painting appearing, for social posts (<= 10 s)
    loop.gif         the same, 480 px wide, under 8 MB
    description.txt  a ready-to-paste YouTube description: title, credits, chapters, settings
    timelapse.mp4    re-tagged in place (title, artist, settings, creation time), not re-encoded

Torch-free like assembly, whose reader, timeline, layouts and encoder it reuses. One module per
file (`thumbnail`, `loop`, `gif`, `metadata`, `description`); `kit` wires them. ``__init__``
stays light (names load lazily), so the CLI starts fast.
"""

from __future__ import annotations

from typing import Any

__all__ = ["publish_run"]


def __getattr__(name: str) -> Any:
    if name == "publish_run":
        from timelapse_nst.publish.kit import publish_run

        return publish_run
    raise AttributeError(name)
