"""description.txt: a ready-to-paste YouTube description (title, credits, chapters, settings)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from timelapse_nst.assembly.tags import Chapter

# YouTube makes chapters from the description only when the first timestamp is 0:00, there
# are at least three, and each lasts at least ten seconds.
MIN_CHAPTERS = 3
MIN_CHAPTER_SECONDS = 10


@dataclass(frozen=True)
class Description:
    """What the description says; `text()` lays it out."""

    title: str
    credits: Sequence[str]  # "Photo: ...", "Painting: ..." lines
    settings: Sequence[str]  # short lines, e.g. "512 px"
    chapters: Sequence[Chapter] = ()  # the video's own, from its timeline
    duration: float = 0.0  # of the video, seconds
    made_with: str = "timelapse-nst"

    def text(self) -> str:
        blocks = [
            self.title,
            "A photo painted in the style of a painting, filmed while it is being painted: neural style "
            "transfer (Gatys, Ecker and Bethge, 2015) with VGG19.",
        ]
        if self.credits:
            blocks.append("Credits\n" + "\n".join(self.credits))
        marks = youtube_chapters(self.chapters, self.duration)
        if marks:
            blocks.append("Chapters\n" + "\n".join(f"{timestamp(start)} {title}" for start, title in marks))
        if self.settings:
            blocks.append("Settings\n" + "\n".join(f"- {line}" for line in self.settings))
        blocks.append(f"Made with {self.made_with}")
        return "\n\n".join(blocks) + "\n"


def youtube_chapters(chapters: Sequence[Chapter], duration: float) -> list[tuple[int, str]]:
    """(start second, title) pairs YouTube accepts, or [] when the video cannot have chapters.

    A chapter too short for YouTube is merged into its neighbour (the first into the next one,
    which then starts at 0:00; any other into the one before it).
    """
    marks = [[math.floor(chapter.start), chapter.title] for chapter in chapters]
    if not marks:
        return []
    marks[0][0] = 0
    end = math.floor(duration)
    while len(marks) > 1:
        lengths = [following[0] - mark[0] for mark, following in zip(marks, [*marks[1:], [end]], strict=True)]
        short = next((index for index, length in enumerate(lengths) if length < MIN_CHAPTER_SECONDS), None)
        if short is None:
            break
        if short == 0:
            marks[1][0] = 0
        del marks[short]
    if len(marks) < MIN_CHAPTERS or end - marks[-1][0] < MIN_CHAPTER_SECONDS:
        return []
    return [(int(start), str(title)) for start, title in marks]


def timestamp(seconds: int) -> str:
    """0:05, 1:23, 1:02:03: the forms YouTube links."""
    hours, rest = divmod(int(seconds), 3600)
    minutes, seconds = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{seconds:02d}" if hours else f"{minutes}:{seconds:02d}"
