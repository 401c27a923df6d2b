"""Layouts with several paintings (each with its share, the leading one framed) and odd shapes."""

from __future__ import annotations

import numpy as np
from PIL import Image
from runfolder_factory import painting_of, photo

from timelapse_nst.assembly import insets, layouts

BLUE, ORANGE = Image.new("RGB", (40, 30), (20, 60, 160)), Image.new("RGB", (30, 40), (230, 120, 20))


def morph(iteration: float) -> tuple[float, float]:
    return (1 - iteration / 100, iteration / 100)


def inputs(content: Image.Image, styles=(BLUE, ORANGE), shares=morph) -> layouts.Inputs:
    names = tuple(f"style{i}.png" for i in range(len(styles)))
    return layouts.Inputs(content, tuple(styles), "photo.jpg", names, "A title", 100, shares)


def accent_around(frame: Image.Image, box: tuple[int, int, int, int]) -> int:
    """Accent-coloured pixels on the ring just outside ``box``."""
    x, y, w, h = box
    pixels = np.asarray(frame, np.int16)
    ring = np.concatenate([pixels[y - 3, x : x + w], pixels[y + h + 2, x : x + w]])
    return int((np.abs(ring - np.array(insets.ACCENT)).max(axis=1) < 40).sum())


def test_every_painting_is_shown_and_the_leading_one_is_framed():
    content = photo((96, 72))
    layout = layouts.make_layout("showcase", (960, 540), "#101010", inputs(content), content.size)
    first, second = layout.inset_boxes
    fitted = content.resize(layout.fit(content.size))
    early, late = layout.frame(fitted, 10), layout.frame(fitted, 90)
    for frame in (early, late):  # both paintings' colours are on screen
        pixels = np.asarray(frame, np.int16)
        for (x, y, w, h), colour in ((first, (20, 60, 160)), (second, (230, 120, 20))):
            centre = pixels[y + h // 2, x + w // 2]
            assert np.abs(centre - np.array(colour)).max() < 20
    assert accent_around(early, first) > 10 and accent_around(early, second) == 0  # 90% / 10%
    assert accent_around(late, second) > 10 and accent_around(late, first) == 0  # 10% / 90%


def test_one_painting_keeps_the_seed_s_inset():
    content = photo((96, 72))
    layout = layouts.make_layout("showcase", (960, 540), "#101010", inputs(content, (BLUE,), None), content.size)
    [box] = layout.inset_boxes
    left, top, width, height = layout.content_box
    assert left < box[0] and box[0] + box[2] <= left + width and top < box[1] and box[1] + box[3] <= top + height
    assert 0.25 < box[3] / height < 0.4  # about a third of the photo, in its lower right corner


def test_a_panorama_gets_its_insets_under_it_at_a_readable_size():
    content = Image.new("RGB", (1958, 146), (90, 120, 60))
    layout = layouts.make_layout("showcase", (1920, 1080), "#101010", inputs(content, (BLUE,), None), content.size)
    [box] = layout.inset_boxes
    left, top, width, height = layout.content_box
    assert box[1] >= top + height  # below the flat photo, not squeezed into it
    assert box[3] >= 36 and box[0] + box[2] <= left + width  # readable, and inside the left panel
    frame = layout.frame(painting_of(content).resize(layout.fit(content.size)), 50)
    assert frame.size == (1920, 1080)


def test_shorts_show_every_painting_beside_the_photo():
    content = photo((96, 72))
    layout = layouts.make_layout("shorts", (540, 960), "#101010", inputs(content), content.size)
    first, second = layout.inset_boxes
    assert first[1] == second[1] == layout.content_box[1]  # one row with the photo
    assert first[0] + first[2] <= second[0] and second[0] + second[2] <= 540
    frame = layout.frame(content.resize(layout.fit(content.size)), 90)
    assert accent_around(frame, second) > 5


LONG_TITLE = (
    "Sternennacht über der Neckarfront in Tübingen, am Abend gemalt im Stil von Vincent van Gogh und seiner "
    "Sternennacht aus dem Jahr 1889, mit dem Fluss, den Häusern und dem Turm im letzten Licht am Tag"
)


def test_a_long_title_is_wrapped_whole_in_every_layout_and_size():
    """Shorts are narrow: where showcase's two lines hold the title, shorts take more, never cut it."""
    assert len(LONG_TITLE) <= 200  # the longest title the video settings take
    content = photo((96, 72))
    given = layouts.Inputs(content, (BLUE,), "photo.jpg", ("style.png",), LONG_TITLE, 100)
    for name, size in (("showcase", (1920, 1080)), ("shorts", (1080, 1920)), ("shorts", (720, 1280))):
        layout = layouts.make_layout(name, size, "#101010", given, content.size)
        assert " ".join(layout.title_lines) == LONG_TITLE, (name, size, layout.title_lines)
        painting_top = layout.painting_box[1]
        assert painting_top > 0 and painting_top + layout.painting_box[3] <= size[1]
