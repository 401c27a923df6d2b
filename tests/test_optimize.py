"""The loop: true iterations, the hook contract, and that both optimisers really paint."""

import pytest
import torch

from timelapse_nst import presets
from timelapse_nst.features import VGGFeatures
from timelapse_nst.images import load_image, resize_long_edge, resize_style
from timelapse_nst.objective import Objective
from timelapse_nst.optimize import Step, paint, plan_scales, weights_at
from timelapse_nst.tensors import to_tensor


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
        total, _ = objective(image, weights_at(config, config.optimizer.iterations, config.optimizer.iterations))
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


def test_without_line_search_one_evaluation_per_iteration(random_vgg, content_path, style_path):
    config, make_objective, _ = setup(random_vgg, content_path, style_path)
    steps: list[Step] = []
    paint(config, make_objective, hooks=[steps.append])
    assert [s.evaluations for s in steps[1:]] == [1] * 12


def test_schedules_reach_the_hooks(random_vgg, content_path, style_path):
    config, make_objective, _ = setup(
        random_vgg,
        content_path,
        style_path,
        "weights.style={schedule: linear, start: 0, end: 12}",
        "optimizer.name=adam",
        "optimizer.learning_rate={schedule: linear, start: 12, end: 24}",
    )
    steps: list[Step] = []
    paint(config, make_objective, hooks=[steps.append])
    assert [s.weights["style"] for s in steps[1:]] == [float(i) for i in range(12)]
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
    from timelapse_nst.optimize import FIRST_STEP_PIXELS

    config, make_objective, _ = setup(random_vgg, content_path, style_path, "optimizer.iterations=2")
    steps: list[Step] = []
    paint(config, make_objective, hooks=[lambda s: steps.append((s.iteration, s.image.clone()))])
    change = (steps[1][1] - steps[0][1]).abs().max().item()
    assert change == pytest.approx(FIRST_STEP_PIXELS, rel=1e-3)  # torch's default moves ~1e-6
