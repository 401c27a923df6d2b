"""Text in the video: fonts with wide coverage, a fallback font per glyph, titles wrapped to lines.

DejaVu Sans (shipped with matplotlib) draws Latin, Greek and Cyrillic; a title in Chinese,
Japanese or Korean falls back to Noto Sans CJK (the ``noto-cjk-sans-otc`` package, a dependency)
and an emoji to whatever emoji font the system has (found through matplotlib's font list). A
glyph no font has is drawn by the primary font (a box), never silently dropped.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

AnyFont = ImageFont.FreeTypeFont | ImageFont.ImageFont
Color = tuple[int, int, int]

# Fonts tried first for a glyph the primary font lacks, by file name (any folder).
_PREFERRED = (
    "NotoSansCJK-Regular.ttc",
    "NotoSansCJK-Bold.ttc",
    "NotoEmoji-Regular.ttf",
    "Symbola.ttf",
    "Symbola_hint.ttf",
    "NotoColorEmoji.ttf",
    "Apple Color Emoji.ttc",
    "seguiemj.ttf",
)
_BITMAP_SIZE = 109  # colour emoji fonts (CBDT) only have glyphs at this size: drawn there, then scaled


@dataclass(frozen=True)
class FontFile:
    path: str
    index: int = 0  # the face inside a .ttc collection


def primary(bold: bool = False) -> FontFile | None:
    """DejaVu Sans from matplotlib's data (a dependency already)."""
    spec = importlib.util.find_spec("matplotlib")
    if spec is None or not spec.submodule_search_locations:
        return None
    name = "DejaVuSans-Bold.ttf" if bold else "DejaVuSans.ttf"
    path = Path(spec.submodule_search_locations[0]) / "mpl-data" / "fonts" / "ttf" / name
    return FontFile(str(path)) if path.is_file() else None


@lru_cache(maxsize=1)
def fallbacks() -> tuple[FontFile, ...]:
    """The fonts that may cover what DejaVu does not: the packaged Noto CJK first, then the system's."""
    found: list[FontFile] = []
    packaged = _packaged_cjk()
    if packaged is not None:
        found.append(packaged)
    try:
        from matplotlib import font_manager

        system = [Path(p) for p in font_manager.findSystemFonts()]
    except Exception:
        system = []
    rank = {name.lower(): i for i, name in enumerate(_PREFERRED)}
    system.sort(key=lambda p: (rank.get(p.name.lower(), len(rank)), str(p)))
    found += [FontFile(str(p)) for p in system if p.suffix.lower() in (".ttf", ".otf", ".ttc")]
    return tuple(found)


def _packaged_cjk() -> FontFile | None:
    spec = importlib.util.find_spec("noto_cjk_sans_otc")
    if spec is None or not spec.submodule_search_locations:
        return None
    for path in sorted(Path(spec.submodule_search_locations[0]).rglob("*.tt[cf]")):
        return FontFile(str(path))
    return None


@lru_cache(maxsize=256)
def coverage(font: FontFile) -> frozenset[int]:
    """The code points a font has glyphs for (read from its cmap with fontTools, matplotlib's dependency)."""
    try:
        from fontTools.ttLib import TTFont

        with TTFont(font.path, fontNumber=font.index, lazy=True) as face:
            return frozenset(face.getBestCmap() or {})
    except Exception:
        return frozenset()


@lru_cache(maxsize=4096)
def font_for(char: str, bold: bool) -> FontFile | None:
    """The first font that has ``char``: the primary one, else a fallback."""
    main = primary(bold)
    if main is None or ord(char) in coverage(main) or char.isspace():
        return main
    return next((font for font in fallbacks() if ord(char) in coverage(font)), main)


def runs(text: str, bold: bool = False) -> list[tuple[str, FontFile | None]]:
    """``text`` cut into pieces that one font draws each."""
    pieces: list[tuple[str, FontFile | None]] = []
    for char in text:
        font = font_for(char, bold)
        if pieces and pieces[-1][1] == font:
            pieces[-1] = (pieces[-1][0] + char, font)
        else:
            pieces.append((char, font))
    return pieces


@lru_cache(maxsize=256)
def load(font: FontFile | None, size: int) -> tuple[AnyFont, float]:
    """The font at ``size`` px, and the scale its drawing needs (1, or less for a bitmap emoji font)."""
    if font is None:
        return ImageFont.load_default(size=size), 1.0
    try:
        return ImageFont.truetype(font.path, size, index=font.index), 1.0
    except OSError:  # a colour bitmap font: only its own size exists
        return ImageFont.truetype(font.path, _BITMAP_SIZE, index=font.index), size / _BITMAP_SIZE


def width(text: str, size: int, *, bold: bool = False) -> float:
    """How wide ``text`` is drawn at ``size`` px, every glyph in its own font."""
    total = 0.0
    for piece, font in runs(text, bold):
        face, scale = load(font, size)
        total += face.getlength(piece) * scale
    return total


def draw(
    canvas: Image.Image,
    xy: tuple[float, float],
    text: str,
    *,
    size: int,
    fill: Color,
    bold: bool = False,
    anchor: str = "la",
) -> tuple[int, int, int, int]:
    """Draw ``text`` at ``xy`` with Pillow's anchors (l/m/r, a/m/s/d); returns its box."""
    main, _ = load(primary(bold), size)
    ascent, descent = main.getmetrics() if isinstance(main, ImageFont.FreeTypeFont) else (size, 0)
    total = width(text, size, bold=bold)
    x = xy[0] - {"l": 0.0, "m": total / 2, "r": total}[anchor[0]]
    baseline = (
        xy[1] + {"a": ascent, "t": ascent, "m": (ascent - descent) / 2, "s": 0, "d": -descent, "b": -descent}[anchor[1]]
    )
    pen = ImageDraw.Draw(canvas)
    start = x
    for piece, font in runs(text, bold):
        face, scale = load(font, size)
        if scale == 1.0:
            pen.text((x, baseline), piece, font=face, fill=fill, anchor="ls")
        else:
            _paste_scaled(canvas, (x, baseline), piece, face, scale, fill)
        x += face.getlength(piece) * scale
    return round(start), round(baseline - ascent), round(x), round(baseline + descent)


def _paste_scaled(
    canvas: Image.Image, xy: tuple[float, float], piece: str, face: AnyFont, scale: float, fill: Color
) -> None:
    """A colour emoji: drawn at its bitmap size, scaled to the line, composited (keeping its colours)."""
    left, top, right, bottom = face.getbbox(piece, anchor="ls")
    layer = Image.new("RGBA", (max(1, right - left), max(1, bottom - top)), (0, 0, 0, 0))
    ImageDraw.Draw(layer).text((-left, -top), piece, font=face, fill=(*fill, 255), anchor="ls", embedded_color=True)
    small = layer.resize((max(1, round(layer.width * scale)), max(1, round(layer.height * scale))), Image.LANCZOS)
    origin = (round(xy[0] + left * scale), round(xy[1] + top * scale))
    if canvas.mode == "RGBA":
        canvas.alpha_composite(small, origin)
    else:
        canvas.paste(small, origin, small)


def wrap(text: str, size: int, limit: float, *, bold: bool = False) -> list[str]:
    """``text`` broken into lines no wider than ``limit``: at spaces, or between any two CJK
    characters (those scripts write no spaces); a word longer than a line gets a line of its own."""
    lines: list[str] = []
    line = ""
    for token in _tokens(text):
        candidate = line + token if line else token.lstrip()
        if line and width(candidate.rstrip(), size, bold=bold) > limit:
            lines.append(line.rstrip())
            line = token.lstrip()
        else:
            line = candidate
    if line.strip():
        lines.append(line.rstrip())
    return lines or [""]


def _tokens(text: str) -> list[str]:
    """Words with their leading space; each CJK character a token of its own."""
    tokens: list[str] = []
    for char in text:
        wide = _is_cjk(char)
        if not tokens or wide or char == " " or _is_cjk(tokens[-1][-1]):
            tokens.append(char)
        else:
            tokens[-1] += char
    merged: list[str] = []
    for token in tokens:  # a space starts the next word: "a b" -> ["a", " b"]
        if merged and merged[-1] == " ":
            merged[-1] += token
        else:
            merged.append(token)
    return merged


def _is_cjk(char: str) -> bool:
    code = ord(char)
    return (
        0x2E80 <= code <= 0x9FFF  # CJK radicals, kana, unified ideographs
        or 0xAC00 <= code <= 0xD7AF  # Hangul syllables
        or 0xF900 <= code <= 0xFAFF
        or 0xFF00 <= code <= 0xFFEF  # full-width forms
    )


def fit_title(
    text: str,
    size: int,
    limit: float,
    *,
    bold: bool = True,
    lines: int = 2,
    smallest: int = 12,
    most: int | None = None,
) -> tuple[list[str], int]:
    """The title in at most ``lines`` lines of at most ``limit`` px: wrapped first, made smaller
    only when it must (a long title reads better on two lines than shrunk to one); at the
    smallest size it may take up to ``most`` lines (default ``lines``) before the rest is cut."""
    while True:
        wrapped = wrap(text, size, limit, bold=bold)
        fits = all(width(line, size, bold=bold) <= limit for line in wrapped)
        if fits and len(wrapped) <= (lines if size > smallest else max(lines, most or lines)):
            return wrapped, size
        if size <= smallest:  # still too long at the smallest size: the rest is cut with an ellipsis
            most = max(lines, most or lines)
            kept = [*wrapped[: most - 1], " ".join(wrapped[most - 1 :])]
            return [_ellipsized(line, size, limit, bold) for line in kept], size
        size = max(smallest, int(size * 0.9))


def _ellipsized(line: str, size: int, limit: float, bold: bool) -> str:
    if width(line, size, bold=bold) <= limit:
        return line
    while line and width(line + "…", size, bold=bold) > limit:
        line = line[:-1]
    return line.rstrip() + "…"
