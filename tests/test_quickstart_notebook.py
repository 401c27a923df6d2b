"""examples/quickstart.ipynb runs top to bottom in a real Jupyter kernel, as a user runs it.

With ``TIMELAPSE_NST_QUICKSTART=tiny`` its parameter cell picks random weights and thumbnail
sizes; every other cell is the one users run. The notebook is stored without outputs.
"""

from __future__ import annotations

import base64
import json
import os
import re
from pathlib import Path

import pytest
from conftest import ffprobe_video, require_tool

REPO = Path(__file__).resolve().parent.parent
NOTEBOOK = REPO / "examples" / "quickstart.ipynb"


def test_the_notebook_is_stored_without_outputs():
    notebook = json.loads(NOTEBOOK.read_text(encoding="utf-8"))
    code = [cell for cell in notebook["cells"] if cell["cell_type"] == "code"]
    assert code, "the notebook has no code"
    for number, cell in enumerate(code, start=1):
        assert cell["outputs"] == [], f"code cell {number} was committed with its outputs: clear them"
        assert cell["execution_count"] is None, f"code cell {number} was committed with an execution count"


def _outputs(cell: dict, output_type: str) -> list[dict]:
    return [output for output in cell["outputs"] if output["output_type"] == output_type]


@pytest.mark.slow
def test_the_quickstart_notebook_runs_top_to_bottom(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    import nbformat
    from ipykernel.kernelspec import write_kernel_spec
    from nbclient import NotebookClient

    require_tool("ffprobe")
    # A kernel of this very interpreter, under a name no user-installed kernel spec can shadow.
    write_kernel_spec(tmp_path / "jupyter" / "kernels" / "timelapse-nst-tests")
    monkeypatch.setenv("JUPYTER_PATH", str(tmp_path / "jupyter"))
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    env = {**os.environ, "TIMELAPSE_NST_QUICKSTART": "tiny"}
    client = NotebookClient(
        notebook, timeout=300, kernel_name="timelapse-nst-tests", resources={"metadata": {"path": str(tmp_path)}}
    )
    client.execute(env=env)  # a cell that raises fails here (CellExecutionError), naming the cell

    code = [cell for cell in notebook.cells if cell.cell_type == "code"]
    assert all(cell.execution_count for cell in code), "every code cell ran"
    assert not [out for cell in code for out in _outputs(cell, "error")]
    install = next(cell for cell in code if "pip" in cell.source)
    said = "".join(out["text"] for out in _outputs(install, "stream"))
    assert f"from {REPO / 'timelapse_nst'}" in said  # the checkout, found and not installed over

    # 1. The live notebook view: a picture and a line under each render, updated to the end.
    renders = [cell for cell in code if 'preview="notebook"' in cell.source]
    assert len(renders) == 3
    for cell in renders:
        shown = _outputs(cell, "display_data")
        pictures = [out for out in shown if "image/jpeg" in out["data"]]
        lines = [out["data"]["text/html"] for out in shown if "text/html" in out["data"]]
        assert pictures and base64.b64decode(pictures[0]["data"]["image/jpeg"])[:2] == b"\xff\xd8"
        assert lines and re.search(r"done: iteration 4/4", lines[-1]), lines

    # 2. The videos it shows are the run folders' H.264 timelapses.
    videos = []
    for cell in code:
        for out in [*_outputs(cell, "execute_result"), *_outputs(cell, "display_data")]:
            found = re.search(r'src="data:video/mp4;base64,([^"]+)"', out["data"].get("text/html", ""))
            if found:
                videos.append(base64.b64decode(found[1]))
    assert len(videos) == 2
    for name, video in zip(("first", "slow-reveal"), videos, strict=True):
        run_video = tmp_path / "runs" / name / "timelapse.mp4"
        assert run_video.read_bytes() == video
        probe = ffprobe_video(run_video)
        assert probe["codec_name"] == "h264" and (probe["width"], probe["height"]) == (320, 180)

    # 3. The pictures: the painting, and the colour-kept one beside it, as PNG images.
    pictures = [
        out
        for cell in code
        for out in _outputs(cell, "execute_result") + _outputs(cell, "display_data")
        if "image/png" in out["data"]
    ]
    assert len(pictures) >= 3  # the inputs, the first painting, the row with the colour-kept version
    assert (tmp_path / "runs" / "own-colours" / "final.png").is_file()
