"""Where the paint goes, and when: the ``regions`` and ``reveal`` sections of a render's config.

The mask files themselves are inputs like the photo (``--masks``, ``--regions``, ``--keep``,
``--reveal FILE``): copied into the run folder and hashed, never named in a preset. What a preset
says is how they are read (each style's colour in a colour map) and how the paint spreads over
the canvas in time. Pure arithmetic: no torch.
"""

from __future__ import annotations

import math
import re
from typing import Annotated, Any, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from timelapse_nst.settings.schedules import ordered_span

_FROZEN = ConfigDict(frozen=True, extra="forbid")
Fraction = Annotated[float, Field(ge=0, le=1)]

DEFAULT_COLORS = ("#ff0000", "#00ff00", "#0000ff", "#ffff00", "#ff00ff", "#00ffff")
"""The colour of style 1, 2, ... in a colour map when ``regions.colors`` is not given."""
_NAMED = {"red": "#ff0000", "green": "#00ff00", "blue": "#0000ff", "yellow": "#ffff00"}
_NAMED |= {"magenta": "#ff00ff", "cyan": "#00ffff", "white": "#ffffff"}


def _hex_color(value: Any) -> str:
    text = str(value).strip().lower()
    text = {**_NAMED, "black": "#000000"}.get(text, text)
    if not re.fullmatch(r"#[0-9a-f]{6}", text):
        raise ValueError(f"expected a colour as #RRGGBB (or {', '.join(_NAMED)}), got {value!r}")
    if text == "#000000":
        raise ValueError("black marks the pixels no style paints (they keep the photo): give each style another colour")
    return text


def rgb(color: str) -> tuple[int, int, int]:
    """'#rrggbb' -> (r, g, b)."""
    return int(color[1:3], 16), int(color[3:5], 16), int(color[5:7], 16)


class Regions(BaseModel):
    """How a colour map (``--regions map.png``) is read: which colour is which style's region."""

    model_config = _FROZEN
    colors: list[Annotated[str, Field(description="#RRGGBB or a colour name")]] | None = Field(
        None,
        min_length=1,
        description="the colour of each style's region in the colour map, in the order of the styles "
        "(#RRGGBB or red, green, blue, yellow, magenta, cyan, white); black pixels keep the photo. "
        "Not given: red, green, blue, yellow, magenta, cyan",
    )

    @field_validator("colors", mode="before")
    @classmethod
    def _colors(cls, colors: Any) -> Any:
        if isinstance(colors, list):
            colors = [_hex_color(color) for color in colors]
            repeated = {color for color in colors if colors.count(color) > 1}
            if repeated:
                raise ValueError(f"colour {sorted(repeated)[0]} is given to two styles: give each its own")
        return colors

    def style_colors(self, styles: int) -> tuple[str, ...]:
        """The colour of each of ``styles`` styles (the first ``styles`` defaults when not given)."""
        colors = tuple(self.colors) if self.colors is not None else DEFAULT_COLORS[:styles]
        return colors


RevealKind = Literal[
    "left-to-right",
    "right-to-left",
    "top-to-bottom",
    "bottom-to-top",
    "sweep",
    "center-out",
    "edges-in",
    "order",
    "regions",
]
REVEAL_KINDS: tuple[str, ...] = get_args(RevealKind)
BLACK = 4 / 255
"""Mask values below this count as black: a JPEG's black is a few levels of noise."""
SWEEP_ANGLES = {"left-to-right": 0.0, "top-to-bottom": 90.0, "right-to-left": 180.0, "bottom-to-top": 270.0}
"""The named sweeps as angles (degrees, clockwise from left-to-right: y points down the image)."""


class Reveal(BaseModel):
    """Paint that spreads: each pixel's style weight rises from 0 to 1 at its own time.

    Every kind orders the pixels (a paint order from 0, painted first, to 1); a front moves along
    that order over ``between``, with a soft ``edge`` behind it. ``regions`` instead fades each
    style's region in over its own span. The guide moves in ``steps`` steps, not every iteration:
    each step costs the optimiser one evaluation more (its kept evaluation no longer holds).
    """

    model_config = _FROZEN
    kind: RevealKind = Field(
        description="left-to-right, right-to-left, top-to-bottom, bottom-to-top; sweep (at `angle`); "
        "center-out, edges-in (around `center`); order (a grey paint-order image, dark first: --reveal FILE); "
        "regions (each style's region over its own span in `regions`: needs --masks or --regions)",
    )
    between: Annotated[tuple[Fraction, Fraction], ordered_span("the reveal must end after it starts: between is")] = (
        Field(
            (0.0, 2 / 3),
            description="the part of the render the reveal spans, as fractions [start, end]: nothing is "
            "painted before start, everything from end on (default: the first two thirds)",
        )
    )
    edge: float = Field(
        0.15,
        ge=0,
        le=1,
        description="width of the soft edge behind the front, as a fraction of the way across (0: a hard edge)",
    )
    angle: float = Field(
        0.0,
        ge=-360,
        le=360,
        description="kind sweep: the direction the paint travels, degrees clockwise from left-to-right "
        "(90: top-to-bottom)",
    )
    center: tuple[Fraction, Fraction] = Field(
        (0.5, 0.5), description="kinds center-out and edges-in: the centre as fractions [x, y] of width and height"
    )
    regions: list[tuple[Fraction, Fraction]] | None = Field(
        None,
        min_length=1,
        description="kind regions: each style's [start, end] as fractions of the render, in the order of "
        "the styles; not given: one after the other, splitting `between` evenly",
    )
    steps: int = Field(
        16,
        ge=1,
        le=1024,
        description="how many times the guide moves between start and end (each move costs the optimiser "
        "one extra evaluation: 16 steps in a 1000-iteration render is +1.6%)",
    )

    @field_validator("regions")
    @classmethod
    def _regions_ordered(cls, spans: list[tuple[float, float]] | None) -> list[tuple[float, float]] | None:
        for number, (start, end) in enumerate(spans or [], start=1):
            if end <= start:
                raise ValueError(f"the reveal of region {number} must end after it starts: [{start:g}, {end:g}]")
        return spans

    @model_validator(mode="before")
    @classmethod
    def _kind_alone(cls, data: Any) -> Any:
        return {"kind": data} if isinstance(data, str) else data  # `reveal: left-to-right`

    # -- time --------------------------------------------------------------------------------
    def spans(self, styles: int) -> list[tuple[float, float]]:
        """Each style's [start, end] (fractions of the render): ``between`` for every style,
        or kind regions' own spans."""
        if self.kind != "regions":
            return [self.between] * styles
        if self.regions is not None:
            return list(self.regions)
        first, last = self.between
        width = (last - first) / styles
        return [(first + k * width, first + (k + 1) * width) for k in range(styles)]

    def clock(self, iteration: int, total: int, styles: int) -> float:
        """The render's time (a fraction) at which the guide of ``iteration`` is taken: quantised
        into ``steps`` steps between the first start and the last end, so the guide changes only
        ``steps`` times (0 before the reveal, the last end once it is over)."""
        spans = self.spans(styles)
        first, last = min(s for s, _ in spans), max(e for _, e in spans)
        progress = (iteration / max(total, 1) - first) / (last - first)
        step = min(self.steps, max(0, math.floor(progress * self.steps + 1e-9)))
        return first + (last - first) * step / self.steps

    def sweep_angle(self) -> float:
        return SWEEP_ANGLES.get(self.kind, self.angle)
