"""The memory plan: its arithmetic against what torch really keeps, and its estimate against the
peak RSS of real renders (subprocesses, measured as the benchmark does)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import torch
from PIL import Image

from timelapse_nst.engine import footprint
from timelapse_nst.engine.features import VGGFeatures
from timelapse_nst.engine.geometry import tile_grid
from timelapse_nst.engine.objective import Objective
from timelapse_nst.images import resize_long_edge
from timelapse_nst.rendering import plan
from timelapse_nst.settings.config import Layers, Optimizer, RenderConfig

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
    machine = {"device_type": "cpu", "element": 4, "runtime": 0}
    unlimited = plan.make_plan(config, (4000, 3000), [(800, 600)], budget=10**15, **machine)
    assert [s.size for s in unlimited.scales] == [512, 1024, 2048] and not any(s.tiled for s in unlimited.scales)
    middle = unlimited.scales[1].untiled.total
    tight = plan.make_plan(config, (4000, 3000), [(800, 600)], budget=middle, **machine)
    assert [s.tiled for s in tight.scales] == [False, False, True]
    assert tight.peak < unlimited.peak
    recorded = plan.make_plan(
        config, (4000, 3000), [(800, 600)], budget=middle, decided=[True, False, False], **machine
    )
    assert [s.tiled for s in recorded.scales] == [True, False, False]  # a resume keeps the recorded choice
    on = RenderConfig.model_validate({**config.model_dump(), "tiling": {"mode": "on"}})
    every = plan.make_plan(on, (4000, 3000), [(800, 600)], budget=10**15, decided=[False] * 3, **machine)
    assert all(s.tiled for s in every.scales) and every.scales[0].tiles == 1  # 512x384: one 512 px tile
    assert [s.tiles for s in every.scales] == [1, 2 * 2, 3 * 4]


def test_disk_counts_frames_final_and_two_checkpoints():
    config = RenderConfig(size=64, optimizer={"iterations": 9}, capture={"spacing": "every", "every": 3})
    machine = {"device_type": "cpu", "element": 4, "runtime": 0}
    result = plan.make_plan(config, (64, 48), [(64, 64)], budget=10**12, **machine)
    (scale,) = result.scales
    assert scale.frames == 4  # iterations 0, 3, 6, 9
    frame = footprint.png_bytes(64, 48)
    history = 2 * config.optimizer.history_size + 3  # bounded L-BFGS: (s, y) pairs, z, direction, gradient
    assert result.disk == 4 * frame + frame + 2 * (history + 1) * 64 * 48 * 3 * 4
    capped = RenderConfig.model_validate(
        {**config.model_dump(), "capture": {**config.capture.model_dump(), "max_size": 32}}
    )
    small = plan.make_plan(capped, (64, 48), [(64, 64)], budget=1, **machine)
    assert small.scales[0].frame_bytes == 4 * footprint.png_bytes(32, 24) and not small.fits
    assert plan.frame_edge(config) == 1920  # not given: the long side of the 1080p video


def test_largest_size_is_the_largest_that_fits():
    config = RenderConfig(size=4096, tiling={"mode": "auto"})
    machine = {"device_type": "cpu", "element": 4, "runtime": 0, "budget": 3 * 2**30}
    result = plan.make_plan(config, (4000, 3000), [(800, 600)], **machine)
    assert not result.fits
    largest = plan.largest_size(config, result, (4000, 3000), [(800, 600)])
    assert 512 < largest < 4096
    at = {
        size: plan.make_plan(RenderConfig(size=size), (4000, 3000), [(800, 600)], **machine)
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
print(json.dumps({"estimate": plan.peak, "peak": peak, "runtime": plan.runtime, "frames": frames}))
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
