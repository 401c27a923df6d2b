"""Assembly: a run folder's frames -> timelapse.mp4, contact_sheet.png and losses.png.

Reads only the run folder and never imports torch, so it works on a folder copied from
another machine. The stages: recording (the run folder read once) -> timeline (which frame
when) -> layouts (compose a video frame) -> encode (ffmpeg); `pipeline` wires them.

The `video:` settings themselves live beside the render config (``settings/video.py``):
the schema never imports this package. ``__init__`` stays light anyway (names load lazily).
"""

from __future__ import annotations

from typing import Any

__all__ = ["VideoSettings", "assemble_run", "video_settings"]


def __getattr__(name: str) -> Any:
    if name in ("assemble_run", "video_settings"):
        from timelapse_nst.assembly import pipeline

        return getattr(pipeline, name)
    if name == "VideoSettings":
        from timelapse_nst.settings.video import VideoSettings

        return VideoSettings
    raise AttributeError(name)
