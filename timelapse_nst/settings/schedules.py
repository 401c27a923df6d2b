"""A value as a function of the iteration: the loss weights and Adam's learning rate.

In a preset a schedule is either a plain number (constant) or a mapping with a ``schedule`` key::

    style: 3.0e4                                              # constant
    style: {schedule: linear, start: 1.0e2, end: 3.0e4}       # over the whole render
    style: {schedule: cosine, start: 1.0e2, end: 3.0e4}       # eased start and end
    style: {schedule: exponential, start: 1.0e2, end: 3.0e4}  # geometric: equal ratios per step
    style: {schedule: keyframes, points: [[0, 1.0e2], [200, 3.0e4]], easing: smooth}

``start``/``end`` schedules run from iteration 0 to the render's last iteration, or over the part
``between: [0.3, 0.7]`` of it (fractions; ``start`` holds before, ``end`` after); keyframes use
absolute iterations and hold their first/last value outside the points.
"""

from __future__ import annotations

import difflib
import itertools
import math
from typing import Annotated, Any, Literal, Union, get_args

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    field_validator,
    model_validator,
)

_FROZEN = ConfigDict(frozen=True, extra="forbid")
Finite = Annotated[float, Field(allow_inf_nan=False)]
Fraction = Annotated[float, Field(ge=0, le=1)]


def ordered_span(refusal: str) -> AfterValidator:
    """A [first, last] span's check: it must end after it starts, else ``refusal`` and the span."""

    def check(between: tuple[float, float]) -> tuple[float, float]:
        if between[1] <= between[0]:
            raise ValueError(f"{refusal} {list(between)}")
        return between

    return AfterValidator(check)


Span = Annotated[tuple[Fraction, Fraction], ordered_span("between must be [first, last] with first < last, got")]


class Constant(BaseModel):
    model_config = _FROZEN
    schedule: Literal["constant"] = Field("constant", description="constant: the same value at every iteration")
    value: Finite = Field(description="the value (a plain number in a preset means this schedule)")

    def at(self, iteration: int, total: int) -> float:
        return self.value

    def extremes(self) -> tuple[float, float]:
        return self.value, self.value


class _Ramp(BaseModel):
    """Shared shape of the start→end schedules; subclasses define the easing of t in [0, 1]."""

    model_config = _FROZEN
    start: Finite = Field(description="the value where the ramp starts (held before it)")
    end: Finite = Field(description="the value where the ramp ends (held after it)")
    between: Span = Field(
        (0.0, 1.0),
        description="the part of the render the ramp spans, as fractions of its iterations "
        "(e.g. [0.3, 0.8]): before it start holds, after it end",
    )

    def at(self, iteration: int, total: int) -> float:
        first, last = self.between
        progress = iteration / max(total, 1)
        t = min(max((progress - first) / (last - first), 0.0), 1.0)
        return self._interpolate(t)

    def _interpolate(self, t: float) -> float:
        return self.start + (self.end - self.start) * self._ease(t)

    def _ease(self, t: float) -> float:
        return t

    def extremes(self) -> tuple[float, float]:
        return min(self.start, self.end), max(self.start, self.end)


class Linear(_Ramp):
    schedule: Literal["linear"] = Field(description="linear: from start to end in a straight line")


class Cosine(_Ramp):
    schedule: Literal["cosine"] = Field(description="cosine: from start to end, easing in and out")

    def _ease(self, t: float) -> float:
        return (1.0 - math.cos(math.pi * t)) / 2.0


class Exponential(_Ramp):
    schedule: Literal["exponential"] = Field(
        description="exponential: from start to end in equal ratios per iteration (both greater than 0)"
    )

    @model_validator(mode="after")
    def _positive(self) -> Exponential:
        if self.start <= 0 or self.end <= 0:
            raise ValueError("an exponential schedule needs start and end greater than 0")
        return self

    def _interpolate(self, t: float) -> float:
        return self.start * (self.end / self.start) ** t


def smoothstep(t: float) -> float:
    """Eased 0→1 (zero slope at both ends); ``t`` outside 0..1 is held at the ends."""
    t = min(1.0, max(0.0, t))
    return t * t * (3.0 - 2.0 * t)


class Keyframes(BaseModel):
    model_config = _FROZEN
    schedule: Literal["keyframes"] = Field(description="keyframes: values at given iterations, interpolated between")
    points: list[tuple[Annotated[int, Field(ge=0)], Finite]] = Field(
        min_length=1,
        description="[iteration, value] pairs, iterations increasing; the first value holds before the "
        "first point, the last after the last",
    )
    easing: Literal["linear", "smooth"] = Field(
        "linear", description="between keyframes: linear, or smooth (no jolt at a keyframe: zero slope there)"
    )

    @field_validator("points", mode="before")
    @classmethod
    def _pairs(cls, points: Any) -> Any:
        for number, point in enumerate(points if isinstance(points, list) else [], start=1):
            if not isinstance(point, (list, tuple)) or len(point) != 2:
                raise ValueError(f"keyframe {number} must be [iteration, value], got {point!r}")
        return points

    @field_validator("points")
    @classmethod
    def _increasing(cls, points: list[tuple[int, float]]) -> list[tuple[int, float]]:
        iterations = [i for i, _ in points]
        if any(b <= a for a, b in itertools.pairwise(iterations)):
            raise ValueError(f"keyframe iterations must increase strictly, got {iterations}")
        return points

    def at(self, iteration: int, total: int) -> float:
        points = self.points
        if iteration <= points[0][0]:
            return points[0][1]
        for (i0, v0), (i1, v1) in itertools.pairwise(points):
            if iteration <= i1:
                t = (iteration - i0) / (i1 - i0)
                if self.easing == "smooth":
                    t = smoothstep(t)
                return v0 + (v1 - v0) * t
        return points[-1][1]

    def extremes(self) -> tuple[float, float]:
        values = [v for _, v in self.points]
        return min(values), max(values)


def _number_to_constant(value: Any) -> Any:
    if isinstance(value, str):  # YAML 1.1 reads "1.0e5" (no sign in the exponent) as a string
        try:
            value = float(value)
        except ValueError:
            raise ValueError(
                f"expected a number or a schedule such as {{schedule: linear, start: 1e2, end: 3e4}}, got {value!r}"
            ) from None
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return {"schedule": "constant", "value": value}
    if isinstance(value, dict) and "schedule" in value and value["schedule"] not in SCHEDULE_NAMES:
        near = difflib.get_close_matches(str(value["schedule"]), SCHEDULE_NAMES, n=1)
        hint = f"did you mean '{near[0]}'? " if near else ""
        raise ValueError(f"unknown schedule {value['schedule']!r}; {hint}schedules: {', '.join(SCHEDULE_NAMES)}")
    if not isinstance(value, dict):
        raise ValueError(f"expected a number or a schedule mapping, got {value!r}")
    return value


def _constant_to_number(schedule: Any) -> Any:
    # Constants are written back as plain numbers, so a resolved preset reads like the input.
    if isinstance(schedule, Constant):
        return schedule.value
    return schedule.model_dump(mode="json", exclude_defaults=True)  # `between` only when given


_KINDS = (Constant, Linear, Cosine, Exponential, Keyframes)
SCHEDULE_NAMES: tuple[str, ...] = tuple(get_args(kind.model_fields["schedule"].annotation)[0] for kind in _KINDS)
"""Every schedule's name ("constant", "linear", ...), read from the models themselves."""
_Tagged = Annotated[Union[_KINDS], Field(discriminator="schedule")]
Schedule = Annotated[_Tagged, BeforeValidator(_number_to_constant), PlainSerializer(_constant_to_number)]
"""A number or a schedule mapping; call ``.at(iteration, total)`` for its value."""
