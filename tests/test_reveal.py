"""Paint that spreads: paint orders of every kind, each pixel's weight over time, the reveal's
clock (quantised: its guides change only ``steps`` times) and the guides it gives."""

from __future__ import annotations

import itertools

import pytest
import torch

from timelapse_nst.engine import reveal as paint
from timelapse_nst.engine.guides import Guides, band_count
from timelapse_nst.engine.loop import scheduled_at
from timelapse_nst.settings import presets
from timelapse_nst.settings.regions import Reveal

LAYERS = ["relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1"]


# -- paint orders ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "first", "last"),
    [
        ("left-to-right", (0, 0), (0, -1)),
        ("right-to-left", (0, -1), (0, 0)),
        ("top-to-bottom", (0, 0), (-1, 0)),
        ("bottom-to-top", (-1, 0), (0, 0)),
    ],
)
def test_the_named_sweeps_start_at_their_edge(kind, first, last):
    order = paint.paint_order(Reveal(kind=kind), 30, 40)
    assert order.shape == (30, 40) and float(order.min()) >= 0 and float(order.max()) <= 1
    assert float(order[first]) < 0.05 and float(order[last]) > 0.95
    across = order[:, 5] if kind in ("left-to-right", "right-to-left") else order[5, :]
    assert float(across.max() - across.min()) < 1e-6  # a straight front, square to the sweep


def test_a_sweep_at_any_angle_is_geometric():
    """45° on a wide canvas: the front is a true diagonal (equal orders along x = -y), from the
    top-left corner to the bottom-right one."""
    order = paint.paint_order(Reveal(kind="sweep", angle=45), 20, 60)
    assert float(order[0, 0]) < 0.02 and float(order[-1, -1]) > 0.98
    assert float(order[10, 20]) == pytest.approx(float(order[0, 30]), abs=1e-6)


def test_center_out_edges_in_and_any_centre():
    out = paint.paint_order(Reveal(kind="center-out"), 41, 41)
    assert float(out[20, 20]) < 0.03 and float(out[0, 0]) > 0.97
    inward = paint.paint_order(Reveal(kind="edges-in"), 41, 41)
    torch.testing.assert_close(inward, 1.0 - out)
    corner = paint.paint_order(Reveal(kind="center-out", center=(0.0, 1.0)), 41, 41)
    assert float(corner[-1, 0]) < 0.03 and float(corner[0, -1]) > 0.97


def test_a_paint_order_image_paints_dark_first():
    grey = torch.tensor([[50.0, 100.0], [150.0, 200.0]])
    order = paint.paint_order(Reveal(kind="order"), 2, 2, grey)
    assert order.flatten().tolist() == pytest.approx([0.0, 1 / 3, 2 / 3, 1.0])
    assert float(paint.from_image(torch.full((3, 3), 7.0)).abs().max()) == 0.0  # flat: all at once


# -- weights over time -------------------------------------------------------------------------


def test_each_pixel_rises_from_0_to_1_as_the_front_passes_with_a_soft_edge():
    order = paint.sweep(1, 100, 0.0)[0]
    assert float(paint.weights_at(order, 0.0, 0.2).max()) == 0.0
    assert float(paint.weights_at(order, 1.0, 0.2).min()) == 1.0
    middle = paint.weights_at(order, 0.5, 0.2)  # the front at order 0.6, its edge from 0.4
    assert float(middle[:39].min()) == 1.0 and float(middle[61:].max()) == 0.0
    assert 0 < float(middle[50]) < 1
    ramp = middle[40:60]
    assert bool((ramp[1:] <= ramp[:-1]).all())  # falling towards the front
    hard = paint.weights_at(order, 0.5, 0.0)
    assert set(hard.tolist()) == {0.0, 1.0}


def test_the_clock_moves_in_steps_over_the_first_two_thirds_by_default():
    reveal = Reveal(kind="left-to-right", steps=8)
    total = 300
    clocks = [reveal.clock(i, total, 1) for i in range(total + 1)]
    assert clocks[0] == 0.0 and clocks[199] < 2 / 3 and clocks[200] == pytest.approx(2 / 3)
    assert all(c == pytest.approx(2 / 3) for c in clocks[200:])
    changes = sum(1 for a, b in itertools.pairwise(clocks) if a != b)
    assert changes == 8  # the guides change 8 times: one extra evaluation each, no more
    assert clocks == sorted(clocks)


def test_per_region_times_default_to_one_after_the_other():
    reveal = Reveal(kind="regions")
    assert [list(span) for span in reveal.spans(2)] == [pytest.approx([0.0, 1 / 3]), pytest.approx([1 / 3, 2 / 3])]
    given = Reveal(kind="regions", regions=[(0.5, 0.9), (0.0, 0.4)])
    assert given.spans(2) == [(0.5, 0.9), (0.0, 0.4)]
    assert given.clock(0, 100, 2) == 0.0 and given.clock(100, 100, 2) == pytest.approx(0.9)


def test_the_loop_schedules_the_reveal_only_when_there_is_one():
    plain = presets.resolve("classic", overrides=["optimizer.iterations=30"])
    assert scheduled_at(plain, 10, 30).reveal is None
    sweeping = presets.resolve("classic", overrides=["optimizer.iterations=30", "reveal.kind=left-to-right"])
    assert scheduled_at(sweeping, 0, 30).reveal == 0.0
    assert scheduled_at(sweeping, 30, 30).reveal == pytest.approx(2 / 3)


# -- the guides of a reveal --------------------------------------------------------------------


def test_a_reveal_s_guides_grow_and_end_as_the_masks():
    reveal = Reveal(kind="left-to-right", edge=0.1)
    guides = Guides(None, LAYERS, (32, 64), reveal=reveal)

    def coverage(clock: float, layer: str = "relu1_1") -> float:
        moment = guides.at(clock)
        return sum(moment.coverage(part, layer) for part in moment.parts_of(0))

    masses = [coverage(clock) for clock in (0.0, 0.2, 0.4, 2 / 3)]
    assert masses[0] == 0.0 and masses == sorted(masses) and masses[-1] == pytest.approx(1.0)
    assert coverage(2 / 3, "relu5_1") == pytest.approx(1.0)
    assert not any("relu5_1" in part for part in guides.at(0.0).parts)  # nothing revealed: no style term
    halfway = guides.weights(1 / 3)[0]
    assert float(halfway[:, :20].min()) == 1.0 and float(halfway[:, 40:].max()) == 0.0
    assert guides.hold is None  # the unrevealed part is not held: content and TV keep it


def test_while_it_runs_a_reveal_takes_the_gram_band_by_band_at_the_shallow_layers():
    """A soft edge 0.15 wide spans a band of 1/7: 7 bands (fewer than the 16 steps), each its own
    part at relu1_1 and relu2_1, the revealed area whole at deeper layers; once over, one part."""
    guides = Guides(None, LAYERS, (32, 64), reveal=Reveal(kind="left-to-right", edge=0.15, steps=16))
    assert band_count(guides.reveal) == 7
    moment = guides.at(2 / 3 - 0.01)
    parts = {layer: [part for part in moment.parts if layer in part] for layer in LAYERS}
    assert [len(parts[layer]) for layer in LAYERS] == [7, 7, 1, 1, 1]
    over = guides.at(2 / 3)
    assert [len([p for p in over.parts if layer in p]) for layer in LAYERS] == [1] * 5
    assert all(over.parts[0][layer].full for layer in LAYERS)  # the plain Gram again


def test_bands_too_thin_for_a_layer_are_merged():
    """32 bands of 1 px across a 2 x 32 px canvas: at relu2_1 (2 x 2 px cells) a band is half a
    position, so pairs make a part; at relu1_1 each band is its own."""
    layers = ["relu1_1", "relu2_1"]
    guides = Guides(None, layers, (2, 32), reveal=Reveal(kind="left-to-right", edge=0.0, steps=32))
    moment = guides.at(0.6)
    parts = {layer: [part[layer] for part in moment.parts if layer in part] for layer in layers}
    assert len(parts["relu1_1"]) == 29 and len(parts["relu2_1"]) == 15  # what the front has reached
    assert [guide.mass for guide in parts["relu2_1"]] == pytest.approx([1.0] * 14 + [0.5])  # the front's half
    assert sum(guide.mass for guide in parts["relu1_1"]) == pytest.approx(2 * 29)


def test_regions_fade_in_each_over_its_own_span():
    masks = torch.zeros(2, 16, 32)
    masks[0, :, :16] = 1.0
    masks[1, :, 16:] = 1.0
    reveal = Reveal(kind="regions", regions=[(0.0, 0.4), (0.4, 0.8)])
    guides = Guides(masks, LAYERS, (16, 32), reveal=reveal, styles=2)
    early, late = guides.weights(0.2), guides.weights(0.6)
    assert float(early[0].max()) == pytest.approx(0.5) and float(early[1].max()) == 0.0
    assert float(late[0, :, :16].min()) == 1.0 and float(late[1].max()) == pytest.approx(0.5)


def test_the_paint_across_preset_sweeps_and_has_settled_before_the_end():
    """The built-in preset that shows the reveal off: a left-to-right sweep whose front has passed
    every pixel well before the last iteration (so final.png is painted all over), with a frame
    often enough to see it travel."""
    config = presets.resolve("paint-across")
    assert config.reveal is not None and config.reveal.kind == "left-to-right"
    total = config.optimizer.iterations
    clocks = [config.reveal.clock(i, total, 1) for i in range(total + 1)]
    done = next(i for i, clock in enumerate(clocks) if paint.progress(clock, config.reveal.between) >= 1.0)
    assert done <= 0.7 * total
    assert config.capture.every * 20 <= done  # at least 20 frames of the sweep
