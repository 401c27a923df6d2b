"""No flash frames: no built-in preset's picture scores more than 5% worse than the one before it.

The same measurement the flash study makes at 128 and 256 px (``bench/flash.py``), here on
small images: real renders, the objective read from their log.jsonl.
"""

from __future__ import annotations

import json

import pytest
from PIL import Image

from timelapse_nst.bench.flash import PRESETS, RISE_LIMIT, measure_flash, to_markdown, worst_rise
from timelapse_nst.runfolder.log import LogEntry

WEIGHTS = {"content": 1.0, "style": 1.0, "tv": 1.0}


def entry(iteration, content, style, tv, *, weights=WEIGHTS, blend=(1.0,), scale=0):
    losses = {"content": content, "style": style, "tv": tv}
    return LogEntry(iteration, scale, losses, dict(weights), blend)


def test_a_rise_is_found_where_it_is():
    entries = [entry(1, 10, 10, 0), entry(2, 8, 8, 0), entry(3, 9, 9.2, 0), entry(4, 5, 5, 0)]
    rise, at, compared = worst_rise(entries)
    assert at == 3 and rise == pytest.approx(18.2 / 16 - 1) and compared == 3


def test_a_rising_weight_is_not_a_flash_and_moving_targets_are_not_compared():
    # The style weight doubles while the style loss falls: priced with the later weights, it fell.
    rising = [entry(1, 1, 10, 0), entry(2, 1, 9, 0, weights={**WEIGHTS, "style": 2.0})]
    assert worst_rise(rising)[0] < 0
    # A morph's blend moves (other targets) and a new scale starts (another size): not compared.
    moved = [entry(1, 1, 1, 0), entry(2, 1, 9, 0, blend=(0.5, 0.5)), entry(3, 1, 99, 0, blend=(0.5, 0.5), scale=1)]
    assert worst_rise(moved)[2] == 0


@pytest.fixture(scope="module")
def pairs(tmp_path_factory, content_path, style_path):
    """Two photo/painting pairs: the examples, and the painting (turned) painted like the photo."""
    folder = tmp_path_factory.mktemp("pairs")
    with Image.open(style_path) as painting:
        painting.convert("RGB").rotate(90, expand=True).save(folder / "turned.png")
    return [(content_path, style_path), (folder / "turned.png", content_path)]


@pytest.mark.parametrize("preset", PRESETS)
def test_no_built_in_preset_flashes(preset, pairs, tmp_path):
    rows = measure_flash(pairs, [48], iterations=12, presets=[preset], work=tmp_path)
    assert len(rows) == len(pairs)
    for row in rows:
        assert row.compared >= 4, row  # steps were compared (a morph skips those where the blend moves)
        assert row.worst_rise <= RISE_LIMIT, row
    assert preset in to_markdown(rows)


def test_the_log_says_which_image_its_losses_belong_to(tmp_path, content_path, style_path):
    """Bounded L-BFGS logs the image its iteration produced; Adam the one it started from."""
    from timelapse_nst import api

    for preset, offset in (("classic", 0), ("adam", 1)):
        out = tmp_path / preset
        api.render(
            content_path, style_path, out=out, preset=preset, size=32, iterations=3, weights="random", make_video=False
        )
        lines = [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]
        assert [line["losses_of"] for line in lines] == [line["iteration"] - offset for line in lines]
