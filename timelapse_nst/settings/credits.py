"""`credits:` of a preset: who made the photo, the painting(s) and the video.

Written into the MP4's tags and `description.txt` by `assemble` and `publish`. A plain string
is the painting's credit, the common case (`credits: "Vincent van Gogh, The Starry Night"`,
or `--credit` on the command line); a mapping names each part:

    credits:
      artist: Jane Doe                                   # who made the video (the MP4's artist)
      photo: Andreas Praefcke, Tübingen, CC BY 3.0
      painting: Vincent van Gogh, The Starry Night (1889)   # or a list, one per style image

Torch-free and dependency-free besides pydantic: the run folder's readers validate with it.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator, model_validator

# One line each: a credit becomes an MP4 tag and a line of the description.
CreditLine = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=300)]

MAX_PAINTINGS = 8


class Credits(BaseModel):
    """Who made what. Every part is optional; nothing given means the input file names are shown."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    artist: CreditLine | None = Field(None, description="Who made the video: the MP4's artist tag.")
    photo: CreditLine | None = Field(None, description="Credit of the content photo (author, source, licence).")
    painting: list[CreditLine] = Field(
        default_factory=list,
        max_length=MAX_PAINTINGS,
        description="Credit of the style painting; a list gives one per style image.",
    )

    @model_validator(mode="before")
    @classmethod
    def _plain_string_is_the_painting(cls, data: Any) -> Any:
        if isinstance(data, str):
            return {"painting": [data]}
        return data

    @field_validator("painting", mode="before")
    @classmethod
    def _one_painting(cls, value: Any) -> Any:
        return [value] if isinstance(value, str) else value

    @field_validator("artist", "photo", "painting")
    @classmethod
    def _one_line(cls, value: Any) -> Any:
        for text in value if isinstance(value, list) else [value]:
            if text is not None and ("\n" in text or "\r" in text):
                raise ValueError("a credit is one line (no line breaks)")
        return value

    @property
    def artist_tag(self) -> str | None:
        """The MP4 `artist`: the video's maker, else the painting credits."""
        return self.artist or ("; ".join(self.painting) or None)

    def with_painting(self, credit: str) -> Credits:
        """These credits with the painting's credit replaced (what `--credit TEXT` does)."""
        return Credits.model_validate({**self.model_dump(), "painting": [credit]})
