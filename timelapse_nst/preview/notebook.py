"""The notebook view: one image and one line of numbers, updated in place in a Jupyter output.

It goes through IPython's display handles (``display(obj, display_id=True)`` then
``handle.update(obj)``). The handles are made on the calling (notebook) thread, so they land
in the cell that runs the render; updates come from a daemon thread at most once per
``interval`` seconds and only when something changed, so the optimiser never waits for them.
"""

from __future__ import annotations

import html
import io
import logging
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

from PIL import Image

from timelapse_nst.errors import UserError
from timelapse_nst.images import load_image
from timelapse_nst.preview.state import PreviewState

logger = logging.getLogger(__name__)
"""Why the view stopped updating or skipped a picture (a warning reaches the notebook's stderr)."""


class Handle(Protocol):
    def update(self, obj: Any) -> None: ...


Display = Callable[..., Handle | None]
"""``IPython.display.display``'s shape: ``display(obj, display_id=True)`` returns a handle."""


class Picture:
    """A JPEG that IPython shows as an image (and a text line where images can't be shown)."""

    def __init__(self, data: bytes, caption: str) -> None:
        self.data = data
        self.caption = caption

    def _repr_jpeg_(self) -> bytes:
        return self.data

    def __repr__(self) -> str:
        return f"<{self.caption}>"


class Line:
    """One line of text: iteration, speed, time left and the losses."""

    def __init__(self, text: str) -> None:
        self.text = text

    def _repr_html_(self) -> str:
        return f"<pre style='margin:0'>{html.escape(self.text)}</pre>"

    def __repr__(self) -> str:
        return self.text


def ipython_display() -> Display:
    """IPython's ``display``; a one-line UserError without IPython."""
    try:
        from IPython.display import display
    except ImportError:
        raise UserError(
            "preview='notebook' needs IPython (it comes with Jupyter): pip install ipython, or use preview='web'"
        ) from None
    return display  # type: ignore[no-any-return]


class NotebookView:
    """Shows ``state`` in a notebook through ``display`` (IPython's unless given)."""

    def __init__(
        self, state: PreviewState, *, display: Display | None = None, interval: float = 1.0, width: int = 512
    ) -> None:
        self.state = state
        self.width = width
        self.interval = interval
        display = display or ipython_display()
        snapshot = state.snapshot(1 << 62)
        self._shown = describe(snapshot, state.root)
        self._picture_of: Path | None = None
        image = display(self._picture(snapshot), display_id=True)
        line = display(Line(self._shown), display_id=True)
        if image is None or line is None:
            raise UserError("preview='notebook' works inside Jupyter (IPython display); use preview='web' elsewhere")
        self._image, self._line = image, line
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="notebook-preview", daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.refresh()
            except Exception as error:  # a failing display must never reach the render: stop showing instead
                logger.warning(
                    "the notebook preview stopped updating (%s: %s); the render goes on", type(error).__name__, error
                )
                return

    def refresh(self) -> None:
        """Update the image and the line if what they show has changed since the last update."""
        snapshot = self.state.snapshot(1 << 62)
        text = describe(snapshot, self.state.root)
        source = self._source(snapshot)
        if source is not None and source != self._picture_of:
            self._image.update(self._picture(snapshot))
        if text != self._shown:
            self._line.update(Line(text))
            self._shown = text

    def end(self) -> None:
        """The render is over: stop the updates and show the last state once more."""
        self.close()
        self.refresh()

    def close(self) -> None:
        self._stop.set()
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join(timeout=5)

    # -- what is shown -----------------------------------------------------------------
    def _source(self, snapshot: dict[str, Any]) -> Path | None:
        """The newest picture on disk: a clip's newest painted frame (once frame 0 is done),
        final.png at the end, else the newest frame, else the photo."""
        clip = snapshot["clip"]
        if clip and clip["painted"]:
            return self.state.run.stylised_frame(clip["painted"] - 1)
        if snapshot["final"]:
            return self.state.run.final
        if snapshot["frame"] is not None:
            return self.state.frame_file(snapshot["frame"])
        photos = [entry for entry in snapshot["inputs"] if entry["role"] == "photo"]
        return self.state.root / photos[0]["url"] if photos else None

    def _picture(self, snapshot: dict[str, Any]) -> Picture:
        source = self._source(snapshot)
        self._picture_of = source
        image = Image.new("RGB", (16, 16), (128, 128, 128))  # until there is a picture to show
        if source is not None:
            try:
                image = load_image(source)  # the one loader (a 16-bit final.png too)
                image.thumbnail((self.width, self.width * 4))
            except UserError as error:  # e.g. a file being replaced: the next update shows it
                logger.debug("notebook preview: skipped a picture (%s)", error)
        buffer = io.BytesIO()
        image.save(buffer, format="JPEG", quality=90, subsampling=0)  # 4:4:4: fine detail stays
        return Picture(buffer.getvalue(), source.name if source else "no picture yet")


def describe(snapshot: dict[str, Any], root: Path | None = None) -> str:
    """One line: where the render is, how fast, how long to go, and the latest losses."""
    iteration, total, clip = snapshot["iteration"], snapshot["total"], snapshot["clip"]
    counter = f"iteration {'–' if iteration is None else iteration}/{total or '–'}"
    if clip:  # a clip: which frame, and the time left for the whole clip once its pace is known
        shown = clip["painted"] if clip["painting"] is None else clip["painting"] + 1
        counter = f"frame {shown}/{clip['frames']}, {counter}"
    parts = [f"{snapshot['phase']}: {counter}"]
    if snapshot["phase"] == "painting" and snapshot["rate"]:
        left = clip["remaining"] if clip and clip["remaining"] is not None else snapshot["remaining"]
        parts.append(f"{snapshot['rate']:.2f} it/s, {clock(left)} left")
    latest = snapshot["latest"]
    if latest:
        parts.append(
            "  ".join(
                f"{name} {value:.4g}"
                for name, value in zip(snapshot["names"], latest[1:], strict=False)
                if value is not None
            )
        )
    if snapshot["message"]:
        parts.append(snapshot["message"])
    elif snapshot["video"]:
        parts.append(f"video: {(root or Path()) / snapshot['video'].split('?')[0]}")
    return " · ".join(parts)


def clock(seconds: float | None) -> str:
    if seconds is None:
        return "–"
    seconds = round(seconds)
    hours, minutes, rest = seconds // 3600, seconds % 3600 // 60, seconds % 60
    return f"{hours}:{minutes:02d}:{rest:02d}" if hours else f"{minutes}:{rest:02d}"
