import math

import pytest
from pydantic import TypeAdapter, ValidationError

from timelapse_nst.settings.schedules import Schedule

schedule = TypeAdapter(Schedule)


def at(spec, iteration, total=100):
    return schedule.validate_python(spec).at(iteration, total)


def test_a_number_is_a_constant():
    assert at(3.0e4, 0) == at(3.0e4, 77) == 3.0e4
    assert at("1.0e5", 5) == 1.0e5  # YAML 1.1 reads 1.0e5 as a string


def test_linear_runs_from_start_to_end_over_the_render():
    spec = {"schedule": "linear", "start": 0.0, "end": 10.0}
    assert [at(spec, i) for i in (0, 25, 50, 100, 150)] == [0.0, 2.5, 5.0, 10.0, 10.0]


def test_cosine_is_eased_at_both_ends():
    spec = {"schedule": "cosine", "start": 0.0, "end": 1.0}
    assert at(spec, 0) == 0.0 and at(spec, 100) == pytest.approx(1.0)
    assert at(spec, 50) == pytest.approx(0.5)
    assert at(spec, 10) < 0.1 * 0.5  # slower than linear at the start
    assert at(spec, 90) > 1 - 0.1 * 0.5


def test_exponential_has_equal_ratios_per_step():
    spec = {"schedule": "exponential", "start": 1.0, "end": 100.0}
    assert at(spec, 50) == pytest.approx(10.0)
    assert at(spec, 25) / at(spec, 0) == pytest.approx(at(spec, 50) / at(spec, 25))


def test_keyframes_interpolate_and_hold_outside():
    spec = {"schedule": "keyframes", "points": [[10, 1.0], [20, 3.0], [40, 3.0]]}
    assert [at(spec, i) for i in (0, 10, 15, 20, 30, 99)] == [1.0, 1.0, 2.0, 3.0, 3.0, 3.0]
    smooth = {**spec, "easing": "smooth"}
    assert at(smooth, 15) == pytest.approx(2.0)  # smoothstep is symmetric about the middle
    assert at(smooth, 12) < at(spec, 12)


@pytest.mark.parametrize(
    "spec, fragment",
    [
        ({"schedule": "wobbly", "start": 1, "end": 2}, "unknown schedule .wobbly.; schedules: constant, linear"),
        ({"schedule": "lineer", "start": 1, "end": 2}, "did you mean .linear."),
        ("abc", "expected a number or a schedule"),
        ({"schedule": "linear", "start": 1}, "end"),
        ({"schedule": "exponential", "start": 0, "end": 2}, "greater than 0"),
        ({"schedule": "keyframes", "points": [[5, 1], [5, 2]]}, "increase strictly"),
        ({"schedule": "linear", "start": 1, "end": math.inf}, "finite"),
        ({"schedule": "linear", "start": 1, "end": 2, "stop": 3}, "Extra inputs"),
    ],
)
def test_bad_schedules_are_refused(spec, fragment):
    with pytest.raises(ValidationError, match=fragment):
        schedule.validate_python(spec)


def test_constants_serialise_back_to_plain_numbers():
    assert schedule.dump_python(schedule.validate_python(2.5), mode="json") == 2.5
    spec = {"schedule": "cosine", "start": 1.0, "end": 2.0}
    assert schedule.dump_python(schedule.validate_python(spec), mode="json") == {**spec}
