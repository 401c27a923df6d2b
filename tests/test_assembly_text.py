"""Video text: every script and emoji drawn with a font that has it, long titles wrapped."""

from __future__ import annotations

import os

import numpy as np
import pytest
from PIL import Image, ImageDraw

from timelapse_nst.assembly import text


def drawn(words: str, **kwargs) -> np.ndarray:
    canvas = Image.new("RGB", (600, 120), (0, 0, 0))
    text.draw(canvas, (10, 60), words, size=48, fill=(255, 255, 255), anchor="lm", **kwargs)
    return np.asarray(canvas)


def tofu(char: str) -> np.ndarray:
    """What the primary font alone draws for ``char``: its missing-glyph box."""
    canvas = Image.new("RGB", (600, 120), (0, 0, 0))
    face, _ = text.load(text.primary(False), 48)
    ImageDraw.Draw(canvas).text((10, 60), char, font=face, fill=(255, 255, 255), anchor="lm")
    return np.asarray(canvas)


@pytest.mark.parametrize("char", ["東", "의", "あ"])
def test_cjk_is_drawn_with_a_font_that_has_it(char):
    assert text.font_for(char, False) != text.primary(False)
    assert ord(char) in text.coverage(text.font_for(char, False))
    assert not np.array_equal(drawn(char), tofu(char))
    assert drawn(char).max() == 255  # something is drawn


def test_an_emoji_falls_back_to_an_emoji_font():
    font = text.font_for("🎨", False)
    if font == text.primary(False):
        if os.environ.get("TIMELAPSE_NST_REQUIRE_TOOLS") == "1":
            pytest.fail("no emoji font on this machine (CI installs fonts-symbola)")
        pytest.skip("no emoji font installed (apt-get install fonts-symbola)")
    assert ord("🎨") in text.coverage(font)
    assert not np.array_equal(drawn("🎨"), tofu("🎨"))


def test_mixed_scripts_keep_their_order_and_widths_add_up():
    title = "Tokyo 東京 night"
    pieces = text.runs(title)
    assert "".join(piece for piece, _ in pieces) == title and len(pieces) == 3
    assert text.width(title, 40) == pytest.approx(sum(text.width(piece, 40) for piece, _ in pieces), rel=1e-6)


def test_a_long_title_wraps_to_two_lines_before_it_shrinks():
    title = "The old bridge of Tübingen painted in the manner of The Starry Night"
    lines, size = text.fit_title(title, 64, 1800)  # a 1080p frame less its margins
    assert len(lines) == 2 and size == 64  # two lines at full size, not one line at 11 px
    assert " ".join(lines) == title
    assert all(text.width(line, size, bold=True) <= 1800 for line in lines)
    lines, size = text.fit_title(" ".join([title] * 2), 64, 1800)
    assert len(lines) == 2 and size < 64  # only a title too long for two lines gets smaller
    assert all(text.width(line, size, bold=True) <= 1800 for line in lines)
    lines, size = text.fit_title(" ".join([title] * 20), 64, 1800)
    assert size == 12 and lines[-1].endswith("…")  # the rest cut, never drawn outside the frame
    assert all(text.width(line, size, bold=True) <= 1800 for line in lines)


def test_cjk_wraps_between_characters():
    lines = text.wrap("東京の夜の長いタイトルはスペースなしで折り返す", 40, 300)
    assert len(lines) > 1 and "".join(lines) == "東京の夜の長いタイトルはスペースなしで折り返す"
    assert all(text.width(line, 40) <= 300 for line in lines)
