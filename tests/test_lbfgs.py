"""Bounded L-BFGS on small analytic problems: bounds, no rise, one evaluation per step, exact state."""

import io
import itertools

import pytest
import torch

from timelapse_nst.engine.lbfgs import FIRST_STEP, BoundedLBFGS


def quadratic(shape=(1, 3, 12, 16), seed=0):
    """An ill-conditioned quadratic whose minimum lies partly outside 0..255."""
    generator = torch.Generator().manual_seed(seed)
    target = torch.rand(shape, generator=generator) * 400 - 70  # -70..330
    scale = torch.rand(shape, generator=generator) * 50 + 0.5  # curvatures 0.5..50.5

    def loss(image):
        return (scale * (image - target) ** 2).sum()

    return loss, target


def run(optimizer, image, loss, iterations, log=None):
    def closure():
        optimizer.zero_grad()
        value = loss(image)
        value.backward()
        return value

    for _ in range(iterations):
        optimizer.step(closure)
        if log is not None:
            log.append((image.detach().clone(), float(loss(image.detach())), optimizer.state[image]["func_evals"]))


def test_pixels_stay_in_range_and_the_loss_never_rises():
    loss, target = quadratic()
    image = torch.full(target.shape, 128.0, requires_grad=True)
    optimizer = BoundedLBFGS([image])
    log = []
    run(optimizer, image, loss, 40, log)
    values = [value for _, value, _ in log]
    assert all(im.min() > 0 and im.max() < 255 for im, _, _ in log)
    assert all(b <= a for a, b in itertools.pairwise(values)), values
    # It heads for the minimum within the box (the target clamped to 0..255).
    start, best = float(loss(torch.full(target.shape, 128.0))), float(loss(target.clamp(0, 255)))
    assert values[-1] - best < 0.01 * (start - best)


def test_an_accepted_step_costs_one_evaluation():
    loss, target = quadratic(seed=1)
    image = torch.full(target.shape, 100.0, requires_grad=True)
    optimizer = BoundedLBFGS([image])
    log = []
    run(optimizer, image, loss, 30, log)
    evaluations = [b - a for a, b in zip([0] + [e for *_, e in log], [e for *_, e in log], strict=False)]
    assert evaluations[0] == 2  # the start image, then the first trial
    assert sum(evaluations) < 30 + 1 + 10  # mostly one per iteration (a few shrunk trials)
    assert evaluations.count(1) >= 20


def test_an_overshooting_step_is_shrunk_not_taken():
    # A first step of 64 levels overshoots a steep valley whose minimum is 1 level away.
    target = torch.full((1, 3, 4, 4), 129.0)
    image = torch.full((1, 3, 4, 4), 128.0, requires_grad=True)
    optimizer = BoundedLBFGS([image])

    def loss(x):
        return ((x - target) ** 2).sum()

    before = float(loss(image.detach()))
    run(optimizer, image, loss, 1)
    assert optimizer.state[image]["func_evals"] > 2  # the first trial was shrunk at least once
    assert float(loss(image.detach())) < before


def test_the_first_step_moves_pixels_by_first_step_levels():
    loss, target = quadratic(seed=2)
    image = torch.full(target.shape, 128.0, requires_grad=True)
    optimizer = BoundedLBFGS([image], trust_iterations=0)
    start = image.detach().clone()
    run(optimizer, image, loss, 1)
    change = (image.detach() - start).abs().max().item()
    # First order in z: exact at mid-grey, a little less further out (σ flattens).
    assert 0.5 * FIRST_STEP < change <= FIRST_STEP * 1.01


def test_state_round_trips_through_a_weights_only_load_exactly():
    loss, target = quadratic(seed=3)
    reference = torch.full(target.shape, 128.0, requires_grad=True)
    run(BoundedLBFGS([reference], history_size=4), reference, loss, 14)

    image = torch.full(target.shape, 128.0, requires_grad=True)
    optimizer = BoundedLBFGS([image], history_size=4)
    run(optimizer, image, loss, 6)
    buffer = io.BytesIO()
    torch.save({"image": image.detach().clone(), "optimizer": optimizer.state_dict()}, buffer)
    saved = torch.load(io.BytesIO(buffer.getvalue()), weights_only=True)
    assert len(saved["optimizer"]["state"][0]["old_stps"]) == 4  # the history is in the file

    resumed = saved["image"].clone().requires_grad_(True)
    optimizer = BoundedLBFGS([resumed], history_size=4)
    optimizer.load_state_dict(saved["optimizer"])
    run(optimizer, resumed, loss, 8)
    assert torch.equal(resumed.detach(), reference.detach())


def test_set_loss_reprices_the_kept_evaluation():
    loss, target = quadratic(seed=4)
    image = torch.full(target.shape, 128.0, requires_grad=True)
    optimizer = BoundedLBFGS([image])
    optimizer.set_loss(1.0)  # nothing kept yet: ignored
    run(optimizer, image, loss, 2)
    optimizer.set_loss(123.0)
    assert optimizer.state[image]["prev_loss"] == 123.0


def test_only_one_image_tensor():
    with pytest.raises(ValueError, match="exactly one image"):
        BoundedLBFGS([torch.zeros(1, requires_grad=True), torch.zeros(1, requires_grad=True)])
