"""Watch a render as it paints: a live web page (``web``) or a view in a Jupyter notebook.

Downstream of the run folder: the page and the notebook read the frames the capture writer
already wrote, plus the numbers a tiny hook (``Tracker``) keeps in memory. No torch here.

    with open_preview("web", run_dir, is_frame=...) as hooks:
        ... paint with ``hooks`` among the render's hooks ...

How it ends (the web page): when the render finishes, the server stays up until every page
that was open (polled in the last few seconds) has loaded the finished video -- the page
fetches it whole and plays it from memory, so it keeps looping after the server is gone --
or at most ``LINGER_SECONDS``. With no page open it stops at once: a scripted render never
waits. A stopped or failed render waits at most ``STOPPED_LINGER_SECONDS`` for the pages to
show why.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from timelapse_nst.errors import UserError, one_line
from timelapse_nst.preview.notebook import Display, NotebookView, ipython_display
from timelapse_nst.preview.server import PreviewServer
from timelapse_nst.preview.state import Ending, PreviewState
from timelapse_nst.preview.tracker import Tracker
from timelapse_nst.runfolder.folder import RunFolder

__all__ = ["KINDS", "NotebookView", "PreviewServer", "PreviewState", "Tracker", "check_preview", "open_preview"]

KINDS = ("web", "notebook")
LINGER_SECONDS = 15.0
STOPPED_LINGER_SECONDS = 2.5  # the page polls once a second


def check_preview(kind: str | None, port: int | None, *, display: Display | None = None) -> None:
    """Validate ``preview`` / ``preview_port`` before any work starts (notebook: IPython is there)."""
    if kind is not None and kind not in KINDS:
        raise UserError(f"preview must be 'web', 'notebook' or None, got {kind!r}")
    if port is not None and kind != "web":
        raise UserError("a preview port needs the web preview (--preview, or preview='web')")
    if port is not None and not 0 <= port <= 65535:
        raise UserError(f"the preview port must be 0..65535 (0: any free port), got {port}")
    if kind == "notebook" and display is None:
        ipython_display()


@contextmanager
def open_preview(
    kind: str | None,
    run_dir: Path,
    *,
    is_frame: Callable[[int, int], bool],
    port: int | None = None,
    notify: Callable[[str], None] = lambda message: None,
    display: Display | None = None,
) -> Iterator[list[Tracker]]:
    """Serve (``web``) or show (``notebook``) the render in ``run_dir`` while the block runs.

    Yields the hooks to add to the render (none when ``kind`` is None). ``is_frame(iteration,
    total)`` says which iterations become frames. ``display`` replaces IPython's (tests).
    """
    check_preview(kind, port, display=display)
    if kind is None:
        yield []
        return
    tracker = Tracker(is_frame)
    state = PreviewState(Path(run_dir), tracker)
    view: PreviewServer | NotebookView
    if kind == "web":
        view = PreviewServer(state, port=port or 0)
        notify(f"preview: {view.url}")
    else:
        view = NotebookView(state, display=display)
    try:
        yield [tracker]
    except BaseException as exc:
        state.finish(Ending(video=False, error=_reason(exc)))
        _end(view, STOPPED_LINGER_SECONDS, lambda message: None)  # stopping: no more notes
        raise
    else:
        state.finish(Ending(video=_fresh_video(state.run)))
        _end(view, LINGER_SECONDS, notify)
    finally:
        view.close()


def _end(view: PreviewServer | NotebookView, linger: float, notify: Callable[[str], None]) -> None:
    view.end()
    if isinstance(view, PreviewServer):
        try:
            if not view.wait_for_pages(linger):
                notify(f"preview: stopped the server after {linger:.0f} s; a page had not yet loaded the end")
        except KeyboardInterrupt:
            pass  # the render is over: a Ctrl-C now only means "don't wait for the page"


def _fresh_video(run: RunFolder) -> bool:
    from timelapse_nst.rendering.status import video_state

    return video_state(run) == "up to date"


def _reason(exc: BaseException) -> str:
    if isinstance(exc, KeyboardInterrupt):
        return "interrupted"
    return str(exc) if isinstance(exc, UserError) else one_line(f"{type(exc).__name__}: {exc}")
