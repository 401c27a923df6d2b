"""The loop: true iterations, the hook contract, and that both optimisers really paint."""

import itertools

import pytest
import torch

from timelapse_nst.engine.features import VGGFeatures
from timelapse_nst.engine.loop import Step, paint, plan_scales, scheduled_at
from timelapse_nst.engine.objective import Objective
from timelapse_nst.engine.tensors import to_tensor
from timelapse_nst.images import load_image, resize_long_edge, resize_style
from timelapse_nst.settings import presets


def setup(random_vgg, content_path, style_path, *overrides):
    config = presets.resolve("classic", overrides=["size=64", "optimizer.iterations=12", *overrides])
    features = VGGFeatures(random_vgg, [*config.layers.content, *config.layers.style])
    content_image, style_image = load_image(content_path), load_image(style_path)
    made = []

    def make_objective(plan):
        content = resize_long_edge(content_image, plan.size)
        style = resize_style(style_image, content.size, config.style_scale)
        made.append(Objective(features, config.layers, to_tensor(content), [to_tensor(style)]))
        return made[-1]

    return config, make_objective, made


def final_objective(objective, config, image):
    with torch.no_grad():
        total, _ = objective(image, scheduled_at(config, config.optimizer.iterations, config.optimizer.iterations))
    return total.item()


def test_hooks_see_every_true_iteration_once_in_order(random_vgg, content_path, style_path):
    # strong Wolfe line search: several evaluations per iteration, still one Step per iteration
    config, make_objective, _ = setup(random_vgg, content_path, style_path, "optimizer.line_search=strong_wolfe")
    steps: list[Step] = []
    paint(config, make_objective, hooks=[steps.append])
    assert [s.iteration for s in steps] == list(range(13))
    assert steps[0].losses == {} and all(s.total == 12 for s in steps)
    assert sum(s.evaluations for s in steps) > 12  # evaluations are not iterations
    assert all(set(s.losses) == {"content", "style", "tv", "total"} for s in steps[1:])
    assert all(s.image.shape == (1, 3, 48, 64) for s in steps)


def test_bounded_lbfgs_evaluates_about_once_per_iteration(random_vgg, content_path, style_path):
    config, make_objective, _ = setup(random_vgg, content_path, style_path)
    steps: list[Step] = []
    paint(config, make_objective, hooks=[steps.append])
    evaluations = [s.evaluations for s in steps[1:]]
    assert evaluations[0] == 2  # the start image, then the first trial
    assert evaluations.count(1) >= 9  # each accepted trial is the next iteration's evaluation
    assert sum(evaluations) <= 12 + 1 + 4, evaluations


def test_schedules_reach_the_hooks(random_vgg, content_path, style_path):
    config, make_objective, _ = setup(
        random_vgg,
        content_path,
        style_path,
        "loss_weights.style={schedule: linear, start: 0, end: 12}",
        "optimizer.name=adam",
        "optimizer.learning_rate={schedule: linear, start: 12, end: 24}",
    )
    steps: list[Step] = []
    paint(config, make_objective, hooks=[steps.append])
    assert [s.loss_weights["style"] for s in steps[1:]] == [float(i) for i in range(12)]
    assert [s.learning_rate for s in steps[1:]] == [float(12 + i) for i in range(12)]


@pytest.mark.parametrize("optimizer", ["lbfgs", "adam"])
def test_both_optimisers_lower_the_objective_clearly(random_vgg, content_path, style_path, optimizer):
    config, make_objective, made = setup(
        random_vgg, content_path, style_path, f"optimizer.name={optimizer}", "optimizer.iterations=40", "init=noise"
    )
    steps: list[Step] = []
    image = paint(config, make_objective, hooks=[steps.append])
    start = steps[1].losses["total"]
    end = final_objective(made[-1], config, image)
    assert end < 0.5 * start, (start, end)


def test_seeded_render_is_reproducible(random_vgg, content_path, style_path):
    config, make_objective, _ = setup(random_vgg, content_path, style_path, "init=noise", "seed=3")
    a = paint(config, make_objective)
    b = paint(config, make_objective)
    assert torch.equal(a, b)


def test_multi_scale_plan_and_run(random_vgg, content_path, style_path):
    config, make_objective, _made = setup(
        random_vgg, content_path, style_path, "scales={start: 0.5, factor: 1.5, iterations: 3}"
    )
    plans = plan_scales(config)
    assert [p.size for p in plans] == [32, 48, 64]
    assert [(p.first, p.last) for p in plans] == [(1, 3), (4, 6), (7, 18)]
    steps: list[Step] = []
    image = paint(config, make_objective, hooks=[steps.append])
    assert [s.iteration for s in steps] == list(range(19))
    assert [s.scale for s in steps[1:]] == [0] * 3 + [1] * 3 + [2] * 12
    assert steps[1].image.shape[-1] == 32 and image.shape[-2:] == (48, 64)


def test_first_lbfgs_step_moves_pixels_a_few_levels_not_zero(random_vgg, content_path, style_path):
    from timelapse_nst.engine.lbfgs import FIRST_STEP

    config, make_objective, _ = setup(random_vgg, content_path, style_path, "optimizer.iterations=2")
    steps: list[Step] = []
    paint(config, make_objective, hooks=[lambda s: steps.append((s.iteration, s.image.clone()))])
    change = (steps[1][1] - steps[0][1]).abs().max().item()
    assert 1.0 < change <= FIRST_STEP * 1.01  # torch's default first step moves ~1e-6


# -- bounded L-BFGS: what is saved is what was optimised, and no frame flashes ---------------

SEED_LAYERS = ["layers.content=[relu4_2]", "layers.style=[relu1_1,relu2_1,relu3_1,relu4_1,relu5_1]"]


def preset_setup(random_vgg, content_path, style_path, preset, *overrides):
    """Like ``setup``, for any preset; ``exact`` gets, per scale, the seed's objective (its exact
    TV) to score frames with, as the user is judged."""
    config = presets.resolve(preset, overrides=["size=64", "optimizer.iterations=16", *SEED_LAYERS, *overrides])
    features = VGGFeatures(random_vgg, [*config.layers.content, *config.layers.style])
    content_image, style_image = load_image(content_path), load_image(style_path)
    exact = []

    def make_objective(plan):
        content = to_tensor(resize_long_edge(content_image, plan.size))
        style = to_tensor(resize_style(style_image, (content.shape[-1], content.shape[-2]), config.style_scale))
        exact.append(Objective(features, config.layers, content, [style], tv_smoothing=0.0))
        return Objective(features, config.layers, content, [style])

    return config, make_objective, exact


def scored(objective, config, steps):
    """Per step after the first: (iteration, objective of the frame as saved (8-bit), of the
    float image, of the frame before it as saved), all with that iteration's weights."""
    rows = []
    for before, step in itertools.pairwise(steps):
        weights = scheduled_at(config, step.iteration - 1, step.total)
        with torch.no_grad():
            saved = objective(step.image.clamp(0, 255).round(), weights)[0].item()
            optimised = objective(step.image, weights)[0].item()
            previous = objective(before.image.clamp(0, 255).round(), weights)[0].item()
        rows.append((step.iteration, saved, optimised, previous))
    return rows


def copied(steps):
    return lambda s: steps.append(Step(s.iteration, s.total, s.scale, s.image.detach().clone()))


@pytest.mark.parametrize("preset", ["classic", "from-noise", "slow-reveal"])
def test_lbfgs_frames_stay_in_range_are_saved_as_optimised_and_never_flash(
    random_vgg, content_path, style_path, preset
):
    config, make_objective, made = preset_setup(random_vgg, content_path, style_path, preset)
    steps: list[Step] = []
    paint(config, make_objective, hooks=[copied(steps)])
    assert all(s.image.min() >= 0.0 and s.image.max() <= 255.0 for s in steps[1:])
    for iteration, saved, optimised, previous in scored(made[-1], config, steps):
        # Never more than 1% worse as saved (from noise, rounding makes frames ~1% *better*).
        assert saved <= 1.01 * optimised, iteration
        assert saved <= 1.05 * previous, f"iteration {iteration} flashes: {saved / previous:.2f}x"


def test_the_saved_objective_falls_at_every_iteration_after_the_first_few(random_vgg, content_path, style_path):
    config, make_objective, made = preset_setup(random_vgg, content_path, style_path, "classic")
    steps: list[Step] = []
    paint(config, make_objective, hooks=[copied(steps)])
    rising = [(i, saved / previous) for i, saved, _, previous in scored(made[-1], config, steps) if saved > previous]
    assert not [r for r in rising if r[0] > 2], rising


def test_multi_scale_frames_never_flash_within_a_scale(random_vgg, content_path, style_path):
    config, make_objective, made = preset_setup(
        random_vgg, content_path, style_path, "demo", "scales={start: 0.5, factor: 1.4142, iterations: 5}"
    )
    steps: list[Step] = []
    paint(config, make_objective, hooks=[copied(steps)])
    assert len(made) == 3
    for scale, objective in enumerate(made):
        within = [s for s in steps if s.scale == scale and (s.iteration > 0 or scale == 0)]
        for iteration, saved, _, previous in scored(objective, config, within):
            assert saved <= 1.05 * previous, (scale, iteration, saved / previous)


@pytest.mark.parametrize("stop_after", [1, 6])
def test_a_scheduled_render_continues_exactly_from_a_checkpoint(random_vgg, content_path, style_path, stop_after):
    """The evaluation kept between iterations (re-priced as the weights move) survives a
    checkpoint's round trip: the continued render equals the uninterrupted one, losses included."""
    from timelapse_nst.engine.loop import RenderInterrupted
    from timelapse_nst.rendering import checkpoint

    config, make_objective, _ = preset_setup(
        random_vgg,
        content_path,
        style_path,
        "classic",
        "loss_weights.style={schedule: cosine, start: 1.0e3, end: 3.0e4}",
    )
    reference: list[Step] = []
    expected = paint(config, make_objective, hooks=[reference.append])
    done: list[int] = []
    saved: dict = {}

    def keep(step, snapshot, stopping):
        if stopping:
            saved.update(checkpoint.decode(checkpoint.encode(snapshot())))

    with pytest.raises(RenderInterrupted):
        paint(
            config,
            make_objective,
            hooks=[lambda s: done.append(s.iteration)],
            after_step=keep,
            should_stop=lambda: done[-1] >= stop_after,
        )
    resumed: list[Step] = []
    image = paint(
        config,
        make_objective,
        saved["image"],
        hooks=[resumed.append],
        scale=saved["scale"],
        iteration=saved["iteration"],
        optimizer_state=saved["optimizer"],
        measured=saved["measured"],
    )
    assert torch.equal(image, expected)
    assert [s.losses for s in resumed] == [s.losses for s in reference[stop_after + 1 :]]
