"""What the MP4 says about itself: its tags (title, artist, settings, creation time) and chapters.

`assemble` writes them in the same pass as the video, so every timelapse.mp4 carries them and a
re-made one keeps them; `publish` re-tags an existing video without re-encoding it, and stamps
its creation time (assemble does not: the same run must give the same bytes, resumed or not).
Pure: the caller reads the run folder and runs ffmpeg.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from pydantic import ValidationError

from timelapse_nst.assembly.timeline import Segment, Shot
from timelapse_nst.errors import UserError
from timelapse_nst.runfolder.losses import number
from timelapse_nst.settings.credits import Credits

SEGMENT_TITLES: dict[Segment, str] = {
    "intro": "Intro: the photo and the painting",
    "painting": "Painting",
    "hold": "The finished painting",
    "clip": "The painted clip",
    "outro": "Before and after",
}


@dataclass(frozen=True)
class Chapter:
    """A stretch of the video, in seconds."""

    start: float
    end: float
    title: str


def chapters(shots: Sequence[Shot], fps: int) -> list[Chapter]:
    """One chapter per segment of the timeline (intro, painting, hold, outro), in video time."""
    found = []
    for segment, group in itertools.groupby(enumerate(shots), key=lambda pair: pair[1].segment):
        frames = [index for index, _ in group]
        found.append(Chapter(frames[0] / fps, (frames[-1] + 1) / fps, SEGMENT_TITLES[segment]))
    return found


def video_tags(
    *, title: str, credits: Credits, settings: Sequence[str], created: datetime | None = None
) -> dict[str, str]:
    """The MP4 tags: title, artist, credits, a comment with the settings, creation time (ISO 8601)."""
    tags = {"title": title, "comment": "; ".join(settings)}
    if created is not None:
        tags["creation_time"] = iso8601(created)
    if credits.artist_tag:
        tags["artist"] = credits.artist_tag
    lines = credit_lines(credits)
    if lines:
        tags["description"] = "; ".join(lines)
    return tags


def read_credits(config: Mapping[str, Any], *, where: str) -> Credits:
    """The `credits:` of a run's raw config (none in folders made before they existed)."""
    try:
        return Credits.model_validate(config.get("credits") or {})
    except ValidationError as error:
        first = error.errors()[0]
        key = ".".join(str(part) for part in ("credits", *first["loc"]))
        raise UserError(f"{where}: {key}: {first['msg'].removeprefix('Value error, ')}") from None


def credit_lines(credits: Credits, *, photo_name: str | None = None, painting_names: Sequence[str] = ()) -> list[str]:
    """ "Photo: ..." and "Painting: ..." lines; the file names stand in for credits not given."""
    lines = []
    if credits.photo or photo_name:
        lines.append(f"Photo: {credits.photo or photo_name}")
    paintings = credits.painting or list(painting_names)
    label = "Painting" if len(paintings) == 1 else "Paintings"
    if paintings:
        lines.append(f"{label}: {'; '.join(paintings)}")
    if credits.artist:
        lines.append(f"Video: {credits.artist}")
    return lines


def settings_lines(config: Mapping[str, Any], *, weights: str | None = None) -> list[str]:
    """The render's settings in a few short lines, from render.yaml's raw `config` mapping."""
    optimizer = _mapping(config.get("optimizer"))
    lines = []
    if config.get("name"):
        lines.append(f"preset {config['name']}")
    if config.get("size"):
        lines.append(f"{config['size']} px")
    name = {"lbfgs": "L-BFGS", "adam": "Adam"}.get(str(optimizer.get("name")), str(optimizer.get("name", "")))
    if optimizer.get("iterations"):
        scales = _mapping(config.get("scales"))
        coarse = f" after {scales['iterations']} per smaller scale" if scales.get("iterations") else ""
        lines.append(f"{name} {optimizer['iterations']} iterations{coarse}".strip())
    loss_weights = _mapping(config.get("loss_weights") or config.get("weights"))  # "weights" up to 0.3
    if loss_weights:
        lines.append("loss weights " + ", ".join(f"{key} {_schedule(value)}" for key, value in loss_weights.items()))
    blend = config.get("style_blend")
    if isinstance(blend, list) and blend:
        lines.append("style blend " + ", ".join(_schedule(weight) for weight in blend))
    color = _mapping(config.get("color"))
    if color.get("preserve") not in (None, "none"):
        lines.append(f"photo's colours kept ({color['preserve']}, amount {_schedule(color.get('amount', 1))})")
    if "seed" in config:
        lines.append(f"seed {config['seed']}")
    if weights:
        lines.append("VGG19 " + ("random weights (a pipeline check, not art)" if weights == "random" else weights))
    return lines


def iso8601(moment: datetime) -> str:
    """UTC, with microseconds and a Z: the form ffmpeg writes and reads back."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _schedule(value: Any) -> str:
    """1e5 -> "1e5"; {schedule: cosine, start: 100, end: 30000} -> "100 -> 3e4 (cosine)"."""
    try:
        if isinstance(value, int | float):
            return number(value)
        if isinstance(value, Mapping):
            kind = value.get("schedule", "")
            if "start" in value and "end" in value:
                return f"{number(value['start'])} -> {number(value['end'])} ({kind})"
            if kind == "keyframes":
                return "keyframes " + " ".join(f"{at}:{number(weight)}" for at, weight in value.get("points", []))
            if "value" in value:
                return number(value["value"])
    except (TypeError, ValueError):  # a hand-edited render.yaml: show it as written
        pass
    return str(value)


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}
