"""The acceptance run: the real CLI, real weights code path (seeded random), a real MP4."""

import json
import subprocess
import sys

import yaml
from conftest import QUICK, command_line, ffprobe_video
from PIL import Image

from timelapse_nst.rendering.capture import captured_iterations
from timelapse_nst.settings import presets


def test_quick_preview_render_makes_the_whole_run_folder(tmp_path, content_path, style_path):
    run = tmp_path / "RUN"
    small = [*QUICK, *["--size", "64", "--iterations", "30", "--quiet"]]
    result = subprocess.run(
        command_line("render", str(content_path), str(style_path), *small, "--out", str(run)),
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""  # --quiet: no bar, no notes, not even the random-weights warning

    # render.yaml: resolved config, input hashes, weights source, version
    manifest = yaml.safe_load((run / "render.yaml").read_text())
    assert manifest["tool"]["name"] == "timelapse-nst" and manifest["weights"] == "random"
    assert manifest["config"]["size"] == 64 and manifest["config"]["optimizer"]["iterations"] == 30
    assert len(manifest["inputs"]["content"]["sha256"]) == 64
    [style] = manifest["inputs"]["styles"]
    assert (run / style["file"]).read_bytes() == style_path.read_bytes()

    # frames named by iteration, exactly the capture schedule
    config = presets.resolve("quick-preview", overrides=["size=64", "optimizer.iterations=30"])
    expected = captured_iterations(30, config.capture)
    frames = sorted(int(p.stem) for p in (run / "frames").glob("*.png"))
    assert frames == expected
    with Image.open(run / "final.png") as final:
        assert final.size == (64, 48) and final.mode == "RGB"

    # one log line per iteration
    lines = [json.loads(line) for line in (run / "log.jsonl").read_text().splitlines()]
    assert [line["iteration"] for line in lines] == list(range(1, 31))
    assert lines[-1]["losses"]["total"] < lines[0]["losses"]["total"]

    # the video: H.264, yuv420p, the preset's duration at its frame rate
    video = config.video
    probe = ffprobe_video(run / "timelapse.mp4")
    assert probe["codec_name"] == "h264" and probe["pix_fmt"] == "yuv420p" and probe["profile"] == "High"
    assert (probe["width"], probe["height"]) == (1280, 720)
    assert int(probe["nb_read_frames"]) == round(video.duration * video.fps)
    assert (run / "contact_sheet.png").exists() and (run / "losses.png").exists()

    # status reads the finished folder
    status = subprocess.run(
        [sys.executable, "-m", "timelapse_nst", "status", str(run)], capture_output=True, text=True, timeout=60
    )
    assert "30 of 30" in status.stdout and "up to date" in status.stdout
