"""The memory plan: its arithmetic against what torch really keeps, its estimate against the
peak RSS of real renders (subprocesses, measured as the benchmark does), and ``plan`` as a script
sees it: the verdict in the exit code, the disk where the run folder goes, what that folder holds
and where the weights come from."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from conftest import make_image
from PIL import Image

from timelapse_nst import api
from timelapse_nst.engine import footprint
from timelapse_nst.engine.devices import Machine
from timelapse_nst.engine.features import VGGFeatures
from timelapse_nst.engine.geometry import tile_grid
from timelapse_nst.engine.objective import Objective
from timelapse_nst.images import resize_long_edge
from timelapse_nst.rendering import plan
from timelapse_nst.settings.config import Layers, Optimizer, RenderConfig


def cpu(budget: int) -> Machine:
    """A CPU with fp32 activations and ``budget`` bytes, as the plan counts a machine."""
    return Machine("cpu", "fp32", runtime=0, budget=budget)


SEED_LAYERS = Layers(content=["relu4_2"], style=["relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1"])
MB = 2**20


def test_long_edge_size_is_what_resizing_gives():
    for size, edge in [((640, 480), 333), ((480, 640), 257), ((1000, 3), 64), ((3, 1000), 17), ((512, 512), 96)]:
        assert footprint.long_edge_size(size, edge) == resize_long_edge(Image.new("RGB", size), edge).size


@pytest.mark.parametrize("dtype", [None, torch.bfloat16], ids=["fp32", "bf16"])
@pytest.mark.parametrize("layers", [SEED_LAYERS, Layers()], ids=["relu", "conv"])
def test_saved_bytes_are_what_autograd_keeps(random_vgg, layers, dtype):
    """The arithmetic counts the activations autograd saves for the backward (weights aside)."""
    height, width = 48, 80
    features = VGGFeatures(random_vgg, [*layers.content, *layers.style]).to(memory_format=torch.channels_last)
    image = torch.rand(1, 3, height, width) * 255
    objective = Objective(features, layers, image, [image.flip(-1)], activation_dtype=dtype)
    persistent = [*objective.network.parameters(), *objective.targets(0.0).content.values()]  # counted elsewhere
    weights = {t.untyped_storage().data_ptr() for t in persistent}
    saved: dict[int, int] = {}

    def pack(tensor: torch.Tensor) -> torch.Tensor:
        storage = tensor.untyped_storage()
        if storage.data_ptr() not in weights and tensor.dim() == 4:  # activations, not Grams
            saved[storage.data_ptr()] = storage.nbytes()
        return tensor

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        objective.parts(image.clone().requires_grad_(True))
    tv = 4 * 3 * (height * (width - 1) + (height - 1) * width)  # TV's two differences, counted by the step
    element = 4 if dtype is None else 2
    expected = footprint.saved_bytes(height, width, layers, element=element)
    assert sum(saved.values()) - tv == pytest.approx(expected, rel=0.01)


def test_a_tile_bounds_the_activations_not_the_image_size():
    common = {"layers": SEED_LAYERS, "optimizer": Optimizer(), "pooling": "max", "element": 4, "device_type": "cpu"}
    small, large = ((h, w, tile_grid(h, w, tile=512, overlap=80, align=16)) for h, w in ((1536, 2048), (3072, 4096)))
    tiled_small = footprint.scale_memory(small[0], small[1], [(1000, 1000)], runtime=0, tiles=small[2], **common)
    tiled_large = footprint.scale_memory(large[0], large[1], [(1000, 1000)], runtime=0, tiles=large[2], **common)
    untiled = footprint.scale_memory(small[0], small[1], [(1000, 1000)], runtime=0, **common)
    assert tiled_small.activations == tiled_large.activations < untiled.activations / 4
    assert tiled_large.state == pytest.approx(4 * tiled_small.state, rel=0.01)  # image-sized tensors grow


def test_auto_tiles_exactly_the_scales_over_budget():
    config = RenderConfig(size=2048, scales={"start": 0.25, "factor": 2, "iterations": 2})
    unlimited = plan.plan_render(config, (4000, 3000), [(800, 600)], machine=cpu(10**15))
    assert [s.size for s in unlimited.scales] == [512, 1024, 2048] and not any(s.tiled for s in unlimited.scales)
    middle = unlimited.scales[1].footprint.untiled.total
    tight = plan.plan_render(config, (4000, 3000), [(800, 600)], machine=cpu(middle))
    assert [s.tiled for s in tight.scales] == [False, False, True]
    assert tight.peak < unlimited.peak
    recorded = plan.plan_render(config, (4000, 3000), [(800, 600)], machine=cpu(middle), decided=[True, False, False])
    assert [s.tiled for s in recorded.scales] == [True, False, False]  # a resume keeps the recorded choice
    on = RenderConfig.model_validate({**config.model_dump(), "tiling": {"mode": "on"}})
    every = plan.plan_render(on, (4000, 3000), [(800, 600)], machine=cpu(10**15), decided=[False] * 3)
    assert all(s.tiled for s in every.scales) and every.scales[0].tiles == 1  # 512x384: one 512 px tile
    assert [s.tiles for s in every.scales] == [1, 2 * 2, 3 * 4]


def test_disk_counts_frames_final_and_two_checkpoints():
    config = RenderConfig(size=64, optimizer={"iterations": 9}, capture={"spacing": "every", "every": 3})
    result = plan.plan_render(config, (64, 48), [(64, 64)], machine=cpu(10**12))
    (scale,) = result.scales
    assert scale.frames == 4  # iterations 0, 3, 6, 9
    frame = footprint.png_bytes(64, 48)
    history = 2 * config.optimizer.history_size + 3  # bounded L-BFGS: (s, y) pairs, z, direction, gradient
    assert result.disk == 4 * frame + frame + 2 * (history + 1) * 64 * 48 * 3 * 4
    capped = RenderConfig.model_validate(
        {**config.model_dump(), "capture": {**config.capture.model_dump(), "max_size": 32}}
    )
    small = plan.plan_render(capped, (64, 48), [(64, 64)], machine=cpu(1))
    assert small.scales[0].frame_bytes == 4 * footprint.png_bytes(32, 24) and not small.fits
    assert config.frame_edge() == 1920  # not given: the long side of the 1080p video


def test_largest_size_is_the_largest_that_fits():
    config = RenderConfig(size=4096, tiling={"mode": "auto"})
    result = plan.plan_render(config, (4000, 3000), [(800, 600)], machine=cpu(3 * 2**30))
    assert not result.fits
    largest = plan.largest_size(result)
    assert 512 < largest < 4096
    at = {
        size: plan.plan_render(RenderConfig(size=size), (4000, 3000), [(800, 600)], machine=cpu(3 * 2**30))
        for size in (largest, largest + 1)
    }
    assert at[largest].fits and not at[largest + 1].fits


# -- against a real render ---------------------------------------------------------------------

_CHILD = """
import json, sys, tempfile
from pathlib import Path
from timelapse_nst import api
from timelapse_nst.settings import presets

content, style, size = sys.argv[1], sys.argv[2], int(sys.argv[3])
overrides = [f"size={size}", "optimizer.iterations=3", "checkpoint.every_iterations=1", "capture.spacing=every", "precision=fp32"]
config = presets.resolve("classic", overrides=overrides)
plan = api.plan(content, style, config=config)  # as render makes it: before anything is loaded
with tempfile.TemporaryDirectory() as folder:
    api.render(content, style, out=Path(folder) / "run", config=config, weights="random", make_video=False)
    frames = len(list((Path(folder) / "run" / "frames").iterdir()))
with open("/proc/self/status") as status:
    peak = next(int(line.split()[1]) * 1024 for line in status if line.startswith("VmHWM:"))
print(json.dumps({"estimate": plan.peak, "peak": peak, "runtime": plan.machine.runtime, "frames": frames}))
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="VmHWM is Linux's")
@pytest.mark.parametrize("size", [256, 512])
def test_estimate_is_within_a_quarter_of_a_real_renders_peak_rss(size, content_path, style_path):
    """A render (frames, a checkpoint each iteration, fp32) in a fresh process; its plan made before it began."""
    done = subprocess.run(
        [sys.executable, "-c", _CHILD, str(content_path), str(style_path), str(size)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["frames"] == 4
    print(f"{size} px: estimate {result['estimate'] / MB:.0f} MB, peak RSS {result['peak'] / MB:.0f} MB")
    assert result["estimate"] == pytest.approx(result["peak"], rel=0.25)
    # The part that scales with the image, not only the fixed runtime, is estimated well.
    dynamic_estimate, dynamic_peak = result["estimate"] - result["runtime"], result["peak"] - result["runtime"]
    assert dynamic_estimate == pytest.approx(dynamic_peak, rel=0.5)


# -- `plan` as a script sees it -----------------------------------------------------------------

TINY = ["--size", "48", "--iterations", "3", "--weights", "random"]


def cli(*args: str, prefix: tuple[str, ...] = ()) -> subprocess.CompletedProcess:
    return subprocess.run(
        [*prefix, sys.executable, "-m", "timelapse_nst", *args], capture_output=True, text=True, timeout=120
    )


@pytest.fixture()
def pictures(tmp_path: Path) -> list[str]:
    return [str(make_image(tmp_path / "photo.png", (64, 48), seed=1)), str(make_image(tmp_path / "art.png", seed=2))]


def test_the_verdict_is_the_exit_code_and_quiet_prints_nothing(pictures, tmp_path):
    out = ["--out", str(tmp_path / "run")]
    fits = cli("plan", *pictures, *TINY, *out)
    assert fits.returncode == 0 and fits.stdout.splitlines()[-1].endswith(": fits"), fits.stderr
    too_small = cli("plan", *pictures, *TINY, *out, "--memory", "1MB")
    assert too_small.returncode == 4 and too_small.stdout.splitlines()[-1].endswith(": does NOT fit")
    assert "Traceback" not in too_small.stderr
    for args, code in (([], 0), (["--memory", "1MB"], 4)):
        quiet = cli("plan", *pictures, *TINY, *out, *args, "--quiet")
        assert (quiet.returncode, quiet.stdout, quiet.stderr) == (code, "", "")
    assert not (tmp_path / "run").exists()  # a plan writes nothing


def test_the_plan_says_what_the_run_folder_holds(pictures, tmp_path):
    run = tmp_path / "run"
    tiny = {"size": 48, "iterations": 3, "weights": "random", "out": run}
    new = api.plan(*pictures, **tiny)
    assert new.folder == f"{run}: a new render" and new.starts and new.disk_held == 0
    api.render(*pictures, **tiny, make_video=False)
    same = api.plan(*pictures, **tiny)
    assert same.folder == f"{run}: this render, continued" and same.starts
    assert 0 < same.disk_held <= sum(path.stat().st_size for path in run.rglob("*") if path.is_file())
    other = api.plan(*pictures, **{**tiny, "size": 40})
    assert other.folder.startswith(f"refused: {run} holds a different render: size (48 → 40)")
    assert other.fits and not other.starts
    assert api.plan(*pictures, **{**tiny, "size": 40}, restart=True).folder.endswith("moved aside first (--restart)")
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "notes.txt").write_text("mine")
    assert "holds no render" in api.plan(*pictures, **{**tiny, "out": tmp_path / "busy"}).folder


def test_the_plan_says_where_the_weights_come_from(pictures, tmp_path, monkeypatch):
    monkeypatch.setenv("TIMELAPSE_NST_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.delenv("TIMELAPSE_NST_WEIGHTS", raising=False)
    assert "downloads them once (548 MB)" in api.plan(*pictures, size=48).weights
    (tmp_path / "cache").mkdir()
    (tmp_path / "cache" / "vgg19-imagenet1k-v1-features.pt").write_bytes(b"x" * 3_000_000)
    assert api.plan(*pictures, size=48).weights.startswith(f"ImageNet VGG19 features: cached at {tmp_path}")
    weights = tmp_path / "vgg19.pth"
    weights.write_bytes(b"x" * 2_000_000)
    assert api.plan(*pictures, size=48, weights=str(weights)).weights == f"the file {weights} (2 MB)"
    assert api.plan(*pictures, size=48, weights="random").weights.startswith("random (seeded)")


def test_a_render_the_disk_cannot_hold_is_refused_before_anything_is_written(pictures, tmp_path):
    """A real small file system: a 1 MiB tmpfs in a private mount namespace."""
    unshare = shutil.which("unshare")
    assert unshare, "unshare (util-linux) is needed"
    small = tmp_path / "small"
    small.mkdir()
    mount = ("sh", "-c", f'mount -t tmpfs -o size=1m none {small} && exec "$@"', "sh")
    prefix = (unshare, "-rm", *mount)
    larger = [*TINY, "--size", "96"]  # two checkpoints of 96x72 px alone take 4 MiB
    render = cli("render", *pictures, *larger, "--out", str(small / "run"), prefix=prefix)
    assert render.returncode == 2 and "Traceback" not in render.stderr, render.stderr
    (line,) = render.stderr.strip().splitlines()
    assert "of disk (frames" in line and f"is free at {small / 'run'}: free some space" in line, line
    planned = cli("plan", *pictures, *larger, "--out", str(small / "run"), prefix=prefix)
    assert planned.returncode == 4, planned.stderr
    (free,) = [line for line in planned.stdout.splitlines() if line.startswith("free disk there: ")]
    assert free.endswith(": does NOT fit")
    assert not (small / "run").exists()  # nothing was written (and the tmpfs is gone with its namespace)
