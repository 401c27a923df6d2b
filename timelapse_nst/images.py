"""Load any common image safely, resize it, and write PNGs. Pillow only: no torch.

The one image loader of the project: the render (inputs), assembly and publishing (frames,
inputs, final.png) all read through `load_image`, which turns every way a file can be bad into
one `UserError` line naming the file. Tensors live in `tensors.py`.
"""

from __future__ import annotations

import hashlib
import re
import struct
import warnings
import zlib
from functools import lru_cache
from pathlib import Path

import numpy as np
from PIL import Image, ImageCms, UnidentifiedImageError

from timelapse_nst.atomic import atomic_path
from timelapse_nst.errors import UserError, one_line

__all__ = [
    "MAX_PIXELS",
    "file_sha256",
    "load_image",
    "png_format",
    "resize_long_edge",
    "resize_style",
    "save_png",
    "srgb_profile",
]

MAX_PIXELS: int = 100_000_000
"""Largest image (width × height) `load_image` accepts: 100 megapixels, ~300 MB decoded."""

MIN_STYLE_EDGE: int = 16
"""Smallest style long edge: VGG19 pools four times before conv5, so 16 px keeps it >= 1 px."""

# Alpha is composited onto white: transparent regions of logos and paintings on canvas read
# as paper, not as the black that dropping the channel would give.
_BACKGROUND = (255, 255, 255, 255)
_ALPHA_MODES = frozenset({"RGBA", "LA", "PA", "La", "RGBa"})
# Pillow keeps these in more than 8 bits; their range is 0..65535 (16-bit PNG, TIFF).
_WIDE_INTEGER_MODES = frozenset({"I", "I;16", "I;16L", "I;16B", "I;16N"})
_ORIENTATION = 0x0112
# The EXIF orientation → the turn that shows the picture upright (ImageOps.exif_transpose's table).
_UPRIGHT = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}
# What Pillow raises while parsing or decoding a damaged file.
_DECODE_ERRORS = (OSError, SyntaxError, ValueError, EOFError, IndexError, struct.error, zlib.error)


def load_image(path: Path) -> Image.Image:
    """Read an image file into an 8-bit RGB Pillow image, upright and fully decoded.

    Handles JPEG (also CMYK), PNG (8/16-bit, grayscale, palette, alpha), WebP, and whatever
    else Pillow reads; applies the EXIF orientation; composites alpha onto white.
    Raises `UserError` (one line naming the file) for a missing, empty, truncated, corrupt,
    non-image or too large file.
    """
    path = Path(path)
    try:
        _check_file(path)
    except OSError as error:  # e.g. a name too long for the file system
        raise UserError(f"cannot read image {_quote(path)}: {error.strerror or error}") from None
    image = _upright(_decode(path))
    try:
        return _to_rgb(image)
    except ValueError as error:  # e.g. a LAB TIFF, which Pillow cannot convert
        message = f"image {_quote(path)} has an unsupported colour mode ({image.mode}): {error}"
        raise UserError(message) from None


def resize_long_edge(image: Image.Image, size: int) -> Image.Image:
    """Scale `image` so its longer side is `size` px, keeping the aspect ratio (Lanczos).

    Each side stays at least 1 px. Returns `image` itself when it already has that size.
    """
    if size < 1:
        raise ValueError(f"size must be >= 1, got {size}")
    width, height = image.size
    scale = size / max(width, height)
    # The long side is set exactly so rounding never gives size ± 1.
    if width >= height:
        target = (size, max(1, round(height * scale)))
    else:
        target = (max(1, round(width * scale)), size)
    if target == image.size:
        return image
    # reducing_gap: a box pre-shrink before Lanczos for big downscales (a 24 MP photo to 512 px);
    # at 3.0 the result is indistinguishable from plain Lanczos, and many times faster.
    return image.resize(target, Image.Resampling.LANCZOS, reducing_gap=3.0)


def resize_style(style: Image.Image, content_size: tuple[int, int], style_scale: float) -> Image.Image:
    """Scale the style image so its long edge is `style_scale` × the content's long edge.

    `content_size` is (width, height) as Pillow gives it. Brush strokes come out at the scale
    of the style image as the network sees it, so this is the knob for stroke size. The long
    edge never drops below `MIN_STYLE_EDGE`.
    """
    if not style_scale > 0:
        raise ValueError(f"style_scale must be > 0, got {style_scale}")
    long_edge = max(MIN_STYLE_EDGE, round(style_scale * max(content_size)))
    return resize_long_edge(style, long_edge)


def save_png(array: np.ndarray, path: Path, *, compress_level: int = 1, icc_profile: bytes | None = None) -> None:
    """Write an (H, W, 3) uint8 or uint16 array as an 8- or 16-bit PNG, atomically: readers see
    the old file or the new.

    The same array always gives the same bytes (no timestamps are written; `icc_profile`, e.g.
    `srgb_profile()`, is embedded as given). Level 1 is the default because frames are written
    during the render, where speed matters more than the ~10% of size that level 9 saves.
    """
    if array.dtype not in (np.uint8, np.uint16) or array.ndim != 3 or array.shape[2] != 3:
        raise ValueError(f"expected an (H, W, 3) uint8 or uint16 array, got {array.dtype} {array.shape}")
    with atomic_path(Path(path)) as temporary:
        if array.dtype == np.uint16:
            temporary.write_bytes(_png16_bytes(array, compress_level=compress_level, icc_profile=icc_profile))
        else:
            image = Image.fromarray(np.ascontiguousarray(array))
            image.save(temporary, format="PNG", compress_level=compress_level, icc_profile=icc_profile)


def png_format(path: Path) -> tuple[int, bool]:
    """(bits per channel, whether an ICC profile is embedded) of a PNG we wrote."""
    with open(path, "rb") as file:
        header = file.read(26)
    depth = header[24] if header[12:16] == b"IHDR" else 8
    with Image.open(path) as image:
        return depth, "icc_profile" in image.info


@lru_cache(maxsize=1)
def srgb_profile() -> bytes:
    """The sRGB ICC profile (LittleCMS's, through Pillow), with a fixed creation date.

    LittleCMS stamps the current time into the header (bytes 24-35); a fixed one keeps
    final.png byte-identical between a render and the same render resumed.
    """
    profile = bytearray(ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes())
    profile[24:36] = struct.pack(">6H", 2000, 1, 1, 0, 0, 0)
    return bytes(profile)


def _png16_bytes(array: np.ndarray, *, compress_level: int, icc_profile: bytes | None) -> bytes:
    """A 48-bit RGB PNG, which Pillow cannot write: the chunks written by hand (PNG spec, 2nd ed.).

    Every row uses the "Up" filter (the difference to the row above): vectorised, and within
    1% of the best per-row filter here, since the low bytes of a painting are nearly random.
    """
    height, width, _ = array.shape
    rows = np.ascontiguousarray(array, dtype=">u2").view(np.uint8).reshape(height, width * 6)
    up = rows.copy()
    up[1:] -= rows[:-1]  # uint8 arithmetic wraps modulo 256, as the filter wants
    scanlines = np.concatenate([np.full((height, 1), 2, np.uint8), up], axis=1)
    chunks = [_png_chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 16, 2, 0, 0, 0))]
    if icc_profile is not None:
        chunks.append(_png_chunk(b"iCCP", b"sRGB\0\0" + zlib.compress(icc_profile)))
    chunks.append(_png_chunk(b"IDAT", zlib.compress(scanlines.tobytes(), max(1, compress_level))))
    chunks.append(_png_chunk(b"IEND", b""))
    return b"\x89PNG\r\n\x1a\n" + b"".join(chunks)


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def file_sha256(path: Path) -> str:
    """The hex SHA-256 of a file's bytes (recorded in render.yaml to identify the inputs)."""
    path = Path(path)
    try:
        with open(path, "rb") as file:
            return hashlib.file_digest(file, "sha256").hexdigest()
    except OSError as error:
        raise UserError(f"cannot read {_quote(path)}: {error.strerror or error}") from None


# --- loading, step by step ------------------------------------------------------------------


def _quote(path: Path) -> str:
    """The path in quotes; repr() also escapes a newline in a name, keeping messages one line."""
    return repr(str(path))


def _check_file(path: Path) -> None:
    """The cheap checks first, so their messages are plain rather than a decoder's complaint."""
    if not path.exists():
        raise UserError(f"image {_quote(path)} not found")
    if not path.is_file():
        kind = "a directory" if path.is_dir() else "not a regular file"
        raise UserError(f"image {_quote(path)} is {kind}, not an image file")
    if path.stat().st_size == 0:
        raise UserError(f"image {_quote(path)} is empty (0 bytes)")


def _decode(path: Path) -> Image.Image:
    """Open, check the size from the header, then decode every pixel (truncation shows here)."""
    try:
        # Our own MAX_PIXELS check replaces Pillow's warning, which would otherwise print
        # for images between Pillow's limit (~89 MP) and ours; its other warnings (a damaged
        # block it skips) would print Python source lines under the user's command.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with Image.open(path) as image:  # closing the file keeps the decoded pixels
                _check_pixel_count(path, image.size)
                image.load()
                return image
    except Image.DecompressionBombError as error:
        # Pillow refuses twice its own limit before we see the size; its message has the count.
        count = re.search(r"\((\d+) pixels\)", str(error))
        pixels = f"{int(count.group(1)):,} pixels" if count else "too many pixels"
        limit = f"the limit is {MAX_PIXELS:,} pixels"
        raise UserError(f"image {_quote(path)} is too large ({pixels}; {limit})") from None
    except UnidentifiedImageError:
        raise UserError(
            f"{_quote(path)} is not an image file this tool can read (expected JPEG, PNG, WebP, ...)"
        ) from None
    except PermissionError as error:
        raise UserError(f"cannot read image {_quote(path)}: {error.strerror}") from None
    except _DECODE_ERRORS as error:
        raise UserError(f"image {_quote(path)} is truncated or corrupt ({one_line(error)})") from None


def _upright(image: Image.Image) -> Image.Image:
    """The picture the way its camera held it (the EXIF orientation, 1-8).

    Only the orientation is read: Pillow's ``ImageOps.exif_transpose`` also writes the EXIF
    block back, and a damaged block breaks that in ways no list of exceptions covers (a text
    where a fraction belongs raises TypeError). A block that cannot be read leaves the pixels
    usable: they are shown as stored.
    """
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # Pillow warns of the damaged tags it reads around
            orientation = image.getexif().get(_ORIENTATION)
    except _DECODE_ERRORS:
        return image
    method = _UPRIGHT.get(orientation) if isinstance(orientation, int) else None
    return image if method is None else image.transpose(method)


def _check_pixel_count(path: Path, size: tuple[int, int]) -> None:
    width, height = size
    if width * height > MAX_PIXELS:
        raise UserError(
            f"image {_quote(path)} is too large ({width}×{height} pixels; the limit is {MAX_PIXELS:,} pixels)"
        )


def _to_rgb(image: Image.Image) -> Image.Image:
    """Any Pillow mode to 8-bit RGB, keeping the tonal range and flattening alpha onto white."""
    if image.mode in _WIDE_INTEGER_MODES:
        # Pillow's own convert("L") clips 16-bit values at 255 (almost all white); scale instead.
        wide = np.asarray(image).astype(np.float64)
        eight_bit = np.round(np.clip(wide, 0, 65535) / 257).astype(np.uint8)
        return Image.fromarray(eight_bit).convert("RGB")
    if image.mode == "F":
        eight_bit = np.round(np.clip(np.asarray(image), 0, 255)).astype(np.uint8)
        return Image.fromarray(eight_bit).convert("RGB")
    # A palette or RGB/L PNG can carry transparency as a tRNS entry rather than as a mode.
    if image.mode in _ALPHA_MODES or "transparency" in image.info:
        rgba = image.convert("RGBA")
        return Image.alpha_composite(Image.new("RGBA", rgba.size, _BACKGROUND), rgba).convert("RGB")
    # Covers RGB (a no-op copy), L, 1, P, CMYK (Pillow undoes Adobe's inverted CMYK JPEGs), YCbCr.
    return image.convert("RGB")
