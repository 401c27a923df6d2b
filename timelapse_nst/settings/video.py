"""The `video:` section of a preset: every knob of the timelapse, validated once.

Field names are the YAML keys and the CLI flags (`--duration`, `--layout` ...), so they use the
plain industry words. Durations are seconds of video.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

# YouTube's standard 16:9 sizes; `shorts` swaps them to 9:16.
NAMED_RESOLUTIONS: dict[str, tuple[int, int]] = {
    "720p": (1280, 720),
    "1080p": (1920, 1080),
    "1440p": (2560, 1440),
    "2160p": (3840, 2160),
}
_SIZE_PATTERN = re.compile(r"^(\d{2,5})x(\d{2,5})$")
_BITRATE_PATTERN = re.compile(r"^\d+(\.\d+)?[kKmM]?$")
_COLOUR_PATTERN = re.compile(r"^#[0-9a-fA-F]{6}$")
_MAX_SIDE = 8192

Layout = Literal["plain", "showcase", "shorts"]
Pacing = Literal["linear", "eased", "change"]
Outro = Literal["none", "wipe", "side-by-side"]
Theme = Literal["flat", "gallery"]
Codec = Literal["h264", "h265", "vp9", "av1"]
EncoderPreset = Literal["ultrafast", "superfast", "veryfast", "faster", "fast", "medium", "slow", "slower", "veryslow"]


def parse_resolution(text: str) -> tuple[int, int]:
    """`"1080p"` -> (1920, 1080); `"640x360"` -> (640, 360). Raises ValueError with the rule."""
    text = text.strip().lower()
    if text in NAMED_RESOLUTIONS:
        return NAMED_RESOLUTIONS[text]
    match = _SIZE_PATTERN.match(text)
    if not match:
        names = ", ".join(NAMED_RESOLUTIONS)
        raise ValueError(f"resolution {text!r}: expected one of {names} or WIDTHxHEIGHT like 1920x1080")
    width, height = int(match[1]), int(match[2])
    # H.264/H.265 in yuv420p halve the chroma planes: odd sizes cannot be encoded.
    if width % 2 or height % 2:
        raise ValueError(f"resolution {text!r}: width and height must be even (yuv420p video)")
    if not (16 <= width <= _MAX_SIDE and 16 <= height <= _MAX_SIDE):
        raise ValueError(f"resolution {text!r}: each side must be between 16 and {_MAX_SIDE} pixels")
    return width, height


def _is_named(resolution: str) -> bool:
    return resolution.strip().lower() in NAMED_RESOLUTIONS


class VideoSettings(BaseModel):
    """How `assemble` turns a run folder's frames into `timelapse.mp4` (and a clip's into `stylised.mp4`)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    layout: Layout = Field(
        "showcase",
        description="plain: the painting alone, fitted to the frame; showcase: title, content photo "
        "with the style inset, the painting growing beside it, iteration counter and progress bar; "
        "shorts: the showcase stacked vertically for YouTube Shorts (1080x1920 by default).",
    )
    duration: float = Field(
        12.0,
        gt=0,
        le=3600,
        description="Total length of the video in seconds, intro, hold and outro included (they are "
        "shortened in proportion when they would take more than half of it). A clip's video is longer "
        "by the clip itself, which plays at its own speed after the hold.",
    )
    fps: int = Field(30, ge=1, le=120, description="Frames per second (constant frame rate).")
    resolution: str | None = Field(
        None,
        description="720p, 1080p, 1440p, 2160p or WIDTHxHEIGHT (even numbers). Not given: 1080p. "
        "The shorts layout turns a named resolution vertical (720p: 720x1280, 1080p: 1080x1920).",
    )
    pacing: Pacing = Field(
        "change",
        description="How video time is shared between captured frames. linear: in proportion to "
        "iterations (a true timelapse); eased: iterations grow with the square of video time, slow "
        "at the start where the image changes most; change: in proportion to how much the image "
        "changes between captured frames, so the video never lingers on a still image.",
    )
    crossfade: bool = Field(
        True,
        description="Blend neighbouring captured frames when the video has more frames than were "
        "captured (smooth motion instead of a stutter); false cuts from frame to frame.",
    )
    intro: float = Field(
        2.0,
        ge=0,
        description="Seconds showing the content photo and style painting before the painting starts; 0 for none.",
    )
    hold: float = Field(
        2.0,
        ge=0,
        description="Seconds the finished painting stays on screen (a clip: its painted first frame, "
        "before the painted clip starts to move).",
    )
    outro: Outro = Field(
        "none",
        description="Closing before/after comparison: none, wipe (a line sweeps between photo "
        "and painting) or side-by-side.",
    )
    outro_duration: float = Field(3.0, ge=0, description="Seconds of the outro comparison.")
    transition: float = Field(
        0.5,
        ge=0,
        description="Seconds of the crossfades between intro, painting and outro, and of a clip's "
        "sound fading in as the painted clip starts to move.",
    )
    title: str | None = Field(
        None,
        max_length=200,
        description="Title drawn by the showcase and shorts layouts. Not given: made from the input "
        'file names ("Tubingen after Starry Night"); an empty string draws no title.',
    )
    background: str = Field(
        "#101010",
        description="Colour around the pictures and behind the text, as #RRGGBB.",
    )
    theme: Theme = Field(
        "flat",
        description="Look of the showcase and shorts layouts, the intro and the outro. flat: the "
        "pictures on the background colour; gallery: each picture framed with a matte, casting a "
        "soft shadow on a warmly lit wall (the background colour is then unused).",
    )
    codec: Codec = Field(
        "h264",
        description="Video codec: h264 (what YouTube recommends, plays everywhere), h265, vp9 or av1.",
    )
    crf: int = Field(
        18,
        ge=0,
        le=63,
        description="Constant rate factor: lower is better quality and bigger files (h264/h265 "
        "0-51, vp9/av1 0-63). Ignored when bitrate is given.",
    )
    bitrate: str | None = Field(
        None,
        description="Target video bitrate such as 12M or 8000k, instead of crf.",
    )
    preset: EncoderPreset = Field(
        "medium",
        description="Encoder speed preset: slower presets make smaller files at the same quality.",
    )
    audio: Path | None = Field(
        None,
        description="Sound track file (any format ffmpeg reads), encoded as AAC-LC 48 kHz, looped "
        "or cut to the video's length. For a clip it replaces the clip's own sound in the timelapse "
        "(stylised.mp4 keeps the clip's).",
    )
    audio_fade_out: float = Field(2.0, ge=0, description="Seconds over which the sound track fades out at the end.")

    @field_validator("resolution")
    @classmethod
    def _check_resolution(cls, value: str | None) -> str | None:
        if value is not None:
            parse_resolution(value)
        return value

    @field_validator("background")
    @classmethod
    def _check_background(cls, value: str) -> str:
        if not _COLOUR_PATTERN.match(value):
            raise ValueError(f"background {value!r}: expected a colour like #101010")
        return value

    @field_validator("bitrate")
    @classmethod
    def _check_bitrate(cls, value: str | None) -> str | None:
        if value is not None and not _BITRATE_PATTERN.match(value):
            raise ValueError(f"bitrate {value!r}: expected a number with an optional k or M, like 12M")
        return value

    @model_validator(mode="after")
    def _vertical_shorts(self) -> VideoSettings:
        if self.layout == "shorts" and self.resolution is not None and not _is_named(self.resolution):
            width, height = parse_resolution(self.resolution)
            if width > height:
                raise ValueError(
                    f"resolution {self.resolution}: the shorts layout is vertical (9:16); give a portrait "
                    "WIDTHxHEIGHT such as 1080x1920, or a named resolution (1080p becomes 1080x1920)"
                )
        return self

    @property
    def outro_seconds(self) -> float:
        """Seconds actually spent on the outro (0 when there is none)."""
        return 0.0 if self.outro == "none" else self.outro_duration

    def segment_seconds(self) -> tuple[float, float, float]:
        """Seconds of (intro, hold, outro), shrunk together to at most half the duration so the
        painting always gets the other half, whatever duration is asked for."""
        extras = (self.intro, self.hold, self.outro_seconds)
        budget = 0.5 * self.duration
        factor = min(1.0, budget / sum(extras)) if sum(extras) > 0 else 1.0
        return extras[0] * factor, extras[1] * factor, extras[2] * factor

    @property
    def size(self) -> tuple[int, int]:
        """Output (width, height) in pixels."""
        width, height = parse_resolution(self.resolution or "1080p")
        if self.layout == "shorts" and _is_named(self.resolution or "1080p"):
            return height, width  # named sizes are 16:9; shorts turn them to 9:16
        return width, height

    @property
    def total_frames(self) -> int:
        """Number of video frames: the duration rounded to whole frames."""
        return max(1, round(self.duration * self.fps))
