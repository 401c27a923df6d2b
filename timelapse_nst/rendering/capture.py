"""Which iterations become frames, and a writer that saves them off the optimisation thread."""

from __future__ import annotations

import math
import queue
import threading
from types import TracebackType

import numpy as np
from PIL import Image

from timelapse_nst.engine.loop import Step
from timelapse_nst.engine.tensors import to_uint8
from timelapse_nst.images import resize_long_edge, save_png
from timelapse_nst.runfolder.folder import RunFolder
from timelapse_nst.settings.config import Capture


def is_captured(iteration: int, total: int, capture: Capture) -> bool:
    """Iteration 0 and the last are always frames; between them, by ``capture.spacing``."""
    if iteration in (0, total):
        return True
    if capture.spacing == "every":
        return iteration % capture.every == 0
    # Eased: keep i when floor(density·√i) moves on -- every iteration early, ever sparser later.
    return math.floor(capture.density * math.sqrt(iteration)) > math.floor(capture.density * math.sqrt(iteration - 1))


def captured_iterations(total: int, capture: Capture) -> list[int]:
    return [i for i in range(total + 1) if is_captured(i, total, capture)]


class FrameWriter:
    """Writes PNG frames in a background thread through a bounded queue.

    The optimisation thread only converts the image to uint8 (cheap) and enqueues it; scaling
    down to ``max_size``, PNG encoding and disk I/O happen here. An error in the thread is raised
    on the next ``put``/``flush``, so a full disk stops the render instead of silently losing frames.
    """

    def __init__(
        self, run: RunFolder, *, compress_level: int = 1, max_pending: int = 4, max_size: int | None = None
    ) -> None:
        self.run = run
        self.compress_level = compress_level
        self.max_size = max_size
        self._queue: queue.Queue[tuple[int, np.ndarray] | None] = queue.Queue(maxsize=max_pending)
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._work, name="frame-writer", daemon=True)
        self._thread.start()

    def _work(self) -> None:
        while True:
            item = self._queue.get()
            try:
                if item is None:
                    return
                if self._error is None:
                    iteration, pixels = item
                    pixels = _at_most(pixels, self.max_size)
                    save_png(pixels, self.run.frame_path(iteration), compress_level=self.compress_level)
            except BaseException as exc:
                self._error = exc
            finally:
                self._queue.task_done()

    def _raise_pending(self) -> None:
        if self._error is not None:
            error, self._error = self._error, None
            raise error

    def put(self, iteration: int, pixels: np.ndarray) -> None:
        self._raise_pending()
        self._queue.put((iteration, pixels))

    def flush(self) -> None:
        """Block until every queued frame is on disk (checkpoints call this first)."""
        self._queue.join()
        self._raise_pending()

    def close(self) -> None:
        if self._thread.is_alive():
            self._queue.put(None)
            self._thread.join()
        self._raise_pending()

    def __enter__(self) -> FrameWriter:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        if kind is None:
            self.close()
        else:  # already failing: finish what is queued, but don't mask the original error
            try:
                self.close()
            except Exception:
                pass


def _at_most(pixels: np.ndarray, max_size: int | None) -> np.ndarray:
    """An (H, W, 3) uint8 frame scaled down (Lanczos) so its long edge is at most ``max_size``.

    A 3840 px painting's frames at a 1080p video's 1920 px take a quarter of the disk, and the
    video shows no difference: its layouts scale every frame to fit the video anyway.
    """
    if max_size is None or max(pixels.shape[:2]) <= max_size:
        return pixels
    return np.asarray(resize_long_edge(Image.fromarray(pixels), max_size))


class CaptureHook:
    """The frame-capture hook: keeps the frames the capture schedule asks for."""

    def __init__(self, writer: FrameWriter, capture: Capture) -> None:
        self.writer = writer
        self.capture = capture

    def __call__(self, step: Step) -> None:
        if is_captured(step.iteration, step.total, self.capture):
            self.writer.put(step.iteration, to_uint8(step.image))
