"""Generated bad input: damaged images of every kind the tool reads; preset files and jobs files
(trees of real and made-up keys, YAML text with anchors, aliases, tags and deep nesting, raw
bytes); --set strings; --style-blend lists with one to three paintings. Each either loads or is
refused in one line (``UserError``); never another exception, never a traceback, never a hang
(see ``fuzzing.py``)."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any, get_args

import numpy as np
import pytest
import yaml
from conftest import make_image
from fuzzing import QUICK, check_damaged_files, loads_or_one_line
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image
from pydantic import BaseModel

from timelapse_nst.batch.jobs import JobsFile, load_jobs
from timelapse_nst.images import load_image, save_png, srgb_profile
from timelapse_nst.rendering.inputs import check_inputs
from timelapse_nst.settings import presets
from timelapse_nst.settings.config import RenderConfig
from timelapse_nst.settings.schedules import SCHEDULE_NAMES

# -- images ---------------------------------------------------------------------------------------


def sample_image(kind: str, folder: Path) -> tuple[bytes, str]:
    """A small real picture in ``kind``'s format, as the bytes of its file and the file's suffix."""
    y, x = np.mgrid[0:32, 0:48]
    pixels = np.stack([x * 5, y * 7, (x + y) * 3], -1).astype(np.uint8)
    picture, buffer = Image.fromarray(pixels), io.BytesIO()
    if kind == "png16":
        Image.fromarray(pixels[..., 0].astype(np.uint16) * 257).save(buffer, format="PNG")
        return buffer.getvalue(), ".png"
    if kind == "png48":  # 16 bits per channel, RGB: what final.png is with final.bit_depth 16
        save_png(pixels.astype(np.uint16) * 257, folder / "wide.png")
        return (folder / "wide.png").read_bytes(), ".png"
    if kind == "gif":
        picture.convert("P", palette=Image.Palette.ADAPTIVE).save(buffer, format="GIF")
        return buffer.getvalue(), ".gif"
    # EXIF (a rotation, a camera's text) and an ICC profile: parsers that damage reaches as well.
    exif = Image.Exif()
    exif[0x0112], exif[0x010F], exif[0x0132] = 6, "Camera", "2024:01:01 00:00:00"
    extra = {"quality": 90} if kind in ("jpeg", "webp") else {}
    picture.save(buffer, format=kind.upper(), exif=exif.tobytes(), icc_profile=srgb_profile(), **extra)
    return buffer.getvalue(), f".{kind}"


@pytest.mark.parametrize("kind", ["png", "jpeg", "webp", "gif", "png16", "png48"])
def test_damaged_images_load_or_are_one_line(tmp_path, kind):
    sample, suffix = sample_image(kind, tmp_path)
    assert load_image_ok(tmp_path, sample, suffix) in ((48, 32), (32, 48))  # the undamaged sample loads
    check_damaged_files(load_image, sample, suffix, tmp_path)


def load_image_ok(folder: Path, data: bytes, suffix: str) -> tuple[int, int]:
    path = folder / f"good{suffix}"
    path.write_bytes(data)
    image = load_image(path)
    assert image.mode == "RGB"
    return image.size


# -- the keys a preset may hold, read from the schema itself --------------------------------------


def model_keys(model: type[BaseModel], prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    """Every key path of ``model`` (``("optimizer", "iterations")``), nested models included."""
    paths = []
    for name, field in model.model_fields.items():
        paths.append((*prefix, name))
        for inner in _models_in(field.annotation):
            paths += model_keys(inner, (*prefix, name))
    return paths


def _models_in(annotation: Any) -> list[type[BaseModel]]:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    return [model for arg in get_args(annotation) for model in _models_in(arg)]


PRESET_KEYS = [*model_keys(RenderConfig), ("extends",), ("weights",), ("weights", "style")]
JOBS_KEYS = model_keys(JobsFile)

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(10**12), 10**12),
    st.sampled_from([2**63, 2**64, -(2**64), 10**400]),  # past int64 and past what a float holds
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=12),
    st.sampled_from(["auto", "lbfgs", "adam", "on", "off", "1e5", "relu4_2", "classic", "#ffffff", "1080p"]),
)
schedules = st.fixed_dictionaries(
    {"schedule": st.sampled_from([*SCHEDULE_NAMES, "wobbly"])},
    optional={
        "start": scalars,
        "end": scalars,
        "value": scalars,
        "between": st.lists(scalars, max_size=3),
        "points": st.lists(st.lists(scalars, max_size=3), max_size=4),
        "easing": scalars,
    },
)
values = st.recursive(
    st.one_of(scalars, schedules),
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=8), inner, max_size=3)),
    max_leaves=12,
)


# Made-up keys, also named like what pydantic puts into its error paths (a schedule, a type).
made_up_keys = st.text(max_size=10) | st.sampled_from([*SCHEDULE_NAMES, "str", "list[str]", "function-after"])


@st.composite
def trees(draw: st.DrawFn, keys: list[tuple[str, ...]], leaves: st.SearchStrategy = values) -> dict[str, Any]:
    """A mapping made of real key paths, and made-up keys at the top or under a real path, with
    values of any type."""
    real = st.sampled_from(keys)
    made_up = st.builds(lambda path, key: (*path, key), st.sampled_from([(), *keys]), made_up_keys)
    tree: dict[str, Any] = {}
    for path in draw(st.lists(real | made_up, max_size=6)):
        node = tree
        for part in path[:-1]:
            if not isinstance(node.get(part), dict):
                node[part] = {}
            node = node[part]
        node[path[-1]] = draw(leaves)
    return tree


# -- presets, --set, --style-blend ----------------------------------------------------------------


@pytest.fixture(scope="module")
def pictures(tmp_path_factory) -> Path:
    """A photo and a painting (a.png, b.png) that jobs files and renders name."""
    folder = tmp_path_factory.mktemp("pictures")
    make_image(folder / "a.png", (48, 32))
    make_image(folder / "b.png", (40, 40), seed=1)
    return folder


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> Path:
    """Where each example writes its file (over the one before)."""
    return tmp_path_factory.mktemp("generated")


@settings(QUICK)
@given(tree=trees(PRESET_KEYS))
def test_generated_preset_trees_load_or_are_one_line(folder, tree):
    path = folder / "mine.yaml"
    path.write_text(yaml.safe_dump(tree, allow_unicode=True), encoding="utf-8")
    loads_or_one_line(lambda: presets.resolve(path))


# -- YAML text: what no tree carries (anchors and aliases, tags, deep brackets, odd scalars) ------

yaml_scalars = st.sampled_from(
    [
        *("1", "-1", "0.5", "1e400", ".nan", "~", "on", "relu1_1", "classic", "linear", "'a: b'", '"\\n"'),
        *("*a", "*b", "*a", "*b"),  # aliases: to an anchor before, around (a value inside itself) or after them
        # a date that does not exist; numbers past the 4300 digits Python converts (decimal) or prints (hex)
        *("2024-13-45", "2001-12-14", "9" * 4301, "0x" + "f" * 3600, "1:2:3", "!!binary aGk=", "!!set {a}"),
    ]
)


def flow(children: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    """A flow list or mapping of ``children``, perhaps anchored (``&a [...]``)."""
    anchor = st.sampled_from(["", "", "&a ", "&b "])
    keys = st.sampled_from(["size", "style", "relu1_1", "start", "end", "schedule", "x", "*a"])
    listed = st.lists(children, max_size=4).map(lambda items: "[" + ", ".join(items) + "]")
    mapped = st.lists(st.tuples(keys, children), max_size=4).map(
        lambda pairs: "{" + ", ".join(f"{key}: {value}" for key, value in pairs) + "}"
    )
    return st.tuples(anchor, listed | mapped).map("".join)


# Just past the nesting allowed: PyYAML's scanner slows with depth, and deeper is a regular test.
deeply = st.builds(lambda depth, inner: "[" * depth + inner + "]" * depth, st.integers(63, 66), yaml_scalars)
yaml_values = st.recursive(yaml_scalars | deeply, flow, max_leaves=10)


@st.composite
def yaml_documents(draw: st.DrawFn, keys: list[tuple[str, ...]]) -> str:
    """A block mapping of real top-level keys (and made-up ones) to generated YAML values."""
    names = [*sorted({path[0] for path in keys}), "zzz", "linear"]
    pairs = draw(st.lists(st.tuples(st.sampled_from(names), yaml_values), max_size=5, unique_by=lambda p: p[0]))
    return "".join(f"{key}: {value}\n" for key, value in pairs)


@settings(QUICK)
@given(text=yaml_documents(PRESET_KEYS))
def test_generated_preset_yaml_loads_or_is_one_line(folder, text):
    path = folder / "mine.yaml"
    path.write_text(text, encoding="utf-8")
    loads_or_one_line(lambda: presets.resolve(path))


@settings(QUICK)
@given(key=st.sampled_from(["style_blend", "layers.style", "loss_weights.style", "video.title"]), value=yaml_values)
def test_generated_yaml_set_values_load_or_are_one_line(key, value):
    loads_or_one_line(lambda: presets.resolve("quick-preview", overrides=[f"{key}={value}"]))


@settings(QUICK)
@given(data=st.text(max_size=200).map(str.encode) | st.binary(max_size=200))
def test_generated_preset_text_loads_or_is_one_line(folder, data):
    path = folder / "mine.yaml"
    path.write_bytes(data)  # not always UTF-8: a file saved in another encoding is bad input too
    loads_or_one_line(lambda: presets.resolve(path))


keys_text = st.sampled_from([".".join(path) for path in PRESET_KEYS]) | made_up_keys
set_values = st.one_of(
    st.text(max_size=20),
    st.sampled_from(
        ["{schedule: linear, start: 1, end: 0}", "[1, 2", "{", "1e999", "-1", "null", "[]", "{}", "!!python/none"]
    ),
    st.builds(str, scalars),
)


@settings(QUICK)
@given(key=keys_text, value=set_values, separator=st.sampled_from(["=", "", "==", " = "]))
def test_generated_set_strings_load_or_are_one_line(key, value, separator):
    loads_or_one_line(lambda: presets.resolve("quick-preview", overrides=[f"{key}{separator}{value}"]))


@settings(QUICK)
@given(parts=st.lists(st.one_of(st.builds(str, scalars), st.text(max_size=6)), max_size=4), paintings=st.integers(1, 3))
def test_generated_style_blends_load_or_are_one_line(pictures, parts, paintings):
    """``--style-blend W1,W2,...`` with one to three paintings, through every check a render makes
    before it starts (a weight per painting among them)."""
    given = ",".join(parts)
    blend = presets.Override("style_blend", f"[{given}]", label=f"--style-blend {given}")
    styles = [pictures / "b.png"] * paintings
    loads_or_one_line(
        lambda: check_inputs(presets.resolve("style-morph", overrides=[blend]), pictures / "a.png", styles, "random")
    )


# -- jobs files -----------------------------------------------------------------------------------


job_values = st.one_of(
    values,
    st.sampled_from(["a.png", "b.png", "missing.png", "classic", "size=64", "loss_weights.styl=1"]),
    st.lists(st.sampled_from(["a.png", "b.png", "size=64", "x"]), max_size=3),
)
job_entries = trees(model_keys(JobsFile.model_fields["jobs"].annotation.__args__[0]), job_values)


@settings(QUICK)
@given(tree=trees(JOBS_KEYS, job_values), entries=st.lists(job_entries, max_size=3))
def test_generated_jobs_files_load_or_are_one_line(pictures, tree, entries):
    if entries:
        tree["jobs"] = entries
    path = pictures / "jobs.yaml"
    path.write_text(yaml.safe_dump(tree, allow_unicode=True), encoding="utf-8")
    loads_or_one_line(lambda: load_jobs(path))


@settings(QUICK)
@given(text=yaml_documents(JOBS_KEYS))
def test_generated_jobs_yaml_loads_or_is_one_line(pictures, text):
    path = pictures / "jobs-text.yaml"
    path.write_text(text, encoding="utf-8")
    loads_or_one_line(lambda: load_jobs(path))


# -- video clips ----------------------------------------------------------------------------------


@pytest.mark.slow
def test_generated_damaged_clips_load_or_are_one_line(tmp_path):
    """A clip cut short, bit-flipped or overwritten in part: the clip loader (probe, trim, every
    frame decoded once) takes it or says one line, as a damaged image does."""
    from clip_factory import make_source_clip

    from timelapse_nst.clip.source import clip_content
    from timelapse_nst.settings import presets

    sample = make_source_clip(tmp_path / "sample.mp4", seconds=0.5, flash=0.2, size=(32, 24)).path.read_bytes()
    config = presets.resolve("quick-preview")
    check_damaged_files(lambda path: clip_content(path, config), sample, ".mp4", tmp_path, max_examples=15)
