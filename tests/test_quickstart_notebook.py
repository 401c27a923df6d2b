"""examples/quickstart.ipynb runs top to bottom in a real Jupyter kernel, as a user runs it.

With ``TIMELAPSE_NST_QUICKSTART=tiny`` its parameter cell picks random weights and thumbnail
sizes; every other cell is the one users run. The notebook is stored without outputs.
"""

from __future__ import annotations

import base64
import io
import json
import os
import re
from pathlib import Path

import pytest
import yaml
from conftest import ffprobe_video, require_tool
from PIL import Image

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

    # 1. The live notebook view: a picture and a line under each render, updated to the end
    #    (a clip's line counts its frames: 0.5 s at 6 fps, the parameter cell's tiny clip).
    renders = [cell for cell in code if 'preview="notebook"' in cell.source]
    clip_cell = next(cell for cell in renders if "neckar.mp4" in cell.source)
    assert len(renders) == 5
    for cell in renders:
        shown = _outputs(cell, "display_data")
        pictures = [out for out in shown if "image/jpeg" in out["data"]]
        lines = [out["data"]["text/html"] for out in shown if "text/html" in out["data"]]
        assert pictures and base64.b64decode(pictures[0]["data"]["image/jpeg"])[:2] == b"\xff\xd8"
        done = r"done: frame 3/3, iteration" if cell is clip_cell else r"done: iteration 4/4"
        assert lines and re.search(done, lines[-1]), lines

    # 2. The videos it shows are the run folders' H.264 videos: two timelapses, and the painted clip.
    videos = []
    for cell in code:
        for out in [*_outputs(cell, "execute_result"), *_outputs(cell, "display_data")]:
            found = re.search(r'src="data:video/mp4;base64,([^"]+)"', out["data"].get("text/html", ""))
            if found:
                videos.append(base64.b64decode(found[1]))
    assert len(videos) == 3
    shown = zip(("first/timelapse.mp4", "slow-reveal/timelapse.mp4", "clip/stylised.mp4"), videos, strict=True)
    for name, video in shown:
        run_video = tmp_path / "runs" / name
        assert run_video.read_bytes() == video, name
        probe = ffprobe_video(run_video)
        assert probe["codec_name"] == "h264", name
        if name.startswith("clip/"):  # the clip as painted: 48 px wide (4:3), one video frame per painted frame
            assert (probe["width"], probe["height"]) == (48, 36)
            frames = list((tmp_path / "runs" / "clip" / "stylised").glob("*.png"))
            assert int(probe["nb_read_frames"]) == 3 == len(frames)
        else:
            assert (probe["width"], probe["height"]) == (320, 180)
    clip_record = yaml.safe_load((tmp_path / "runs" / "clip" / "render.yaml").read_text(encoding="utf-8"))["clip"]
    assert clip_record["frames"] == 3 and clip_record["audio"] is True  # neckar.mp4's sound kept

    # 3. The pictures: the painting, the colour-kept one beside it, the two-region painting beside its
    #    photo and mask, as PNG images; the masked render painted with both masks, at 64 px.
    pictures = [
        out
        for cell in code
        for out in _outputs(cell, "execute_result") + _outputs(cell, "display_data")
        if "image/png" in out["data"]
    ]
    assert len(pictures) >= 4  # the inputs, the first painting, the two rows
    assert (tmp_path / "runs" / "own-colours" / "final.png").is_file()
    regions_cell = next(cell for cell in code if "masks=" in cell.source)
    [row] = [out for out in _outputs(regions_cell, "execute_result") if "image/png" in out["data"]]
    shown = Image.open(io.BytesIO(base64.b64decode(row["data"]["image/png"])))
    assert shown.height == 256 and shown.width > 3 * 256  # three 4:3 pictures in a row
    painted = tmp_path / "runs" / "regions" / "final.png"
    assert Image.open(painted).size == (64, 48)
    masks = sorted(path.name for path in (tmp_path / "runs" / "regions" / "inputs").iterdir() if "mask" in path.name)
    assert len(masks) == 2, masks
