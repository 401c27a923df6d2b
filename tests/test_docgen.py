"""The generated documentation (docs/docgen.py): everything the code defines is in it, and what
has no description stops the docs build instead of being documented blank."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path
from typing import Annotated, Optional

import pytest
import typer
from pydantic import BaseModel, ConfigDict, Field

from timelapse_nst.settings.config import RenderConfig
from timelapse_nst.settings.presets import builtin_names

REPO = Path(__file__).resolve().parent.parent


def _load_docgen():
    spec = importlib.util.spec_from_file_location("docgen", REPO / "docs" / "docgen.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


docgen = _load_docgen()


def _keys(model: type[BaseModel], prefix: str = "") -> list[str]:
    """Every dotted preset key, walked independently of the generator."""
    keys = []
    for name, field in model.model_fields.items():
        keys.append(prefix + name)
        nested = [
            arg for arg in (field.annotation, *getattr(field.annotation, "__args__", ())) if isinstance(arg, type)
        ]
        for kind in nested:
            if issubclass(kind, BaseModel) and "schedule" not in kind.model_fields:  # schedules: their own section
                keys += _keys(kind, f"{prefix}{name}.")
    return keys


def test_the_cli_reference_has_every_command_and_option():
    page = docgen.cli_reference()
    for command in ("render", "resume", "plan", "status", "assemble", "publish", "bench"):
        assert f"## `timelapse-nst {command}`" in page
    for command in ("presets list", "presets show", "presets validate", "weights fetch", "batch run", "batch status"):
        assert f"### `timelapse-nst {command}`" in page
    render = page.split("## `timelapse-nst render`")[1].split("\n## ")[0]
    for option in ("--preset", "--set", "--size", "--style-blend", "--preserve-color", "--weights", "--preview"):
        assert re.search(rf"^\| `{option}`", render, flags=re.MULTILINE), option
    assert "*(default: `torchvision`; environment: `TIMELAPSE_NST_WEIGHTS`)*" in render
    assert "```console\n$ timelapse-nst render photo.jpg starry_night.jpg --preset slow-reveal" in render


def test_a_command_or_option_without_help_fails_the_reference():
    app = typer.Typer(help="A painter.")

    @app.command()
    def paint(
        photo: Annotated[str, typer.Argument(help="The photo.")],
        size: Annotated[Optional[int], typer.Option()] = None,
    ) -> None:
        """Paint it."""

    @app.command()
    def mystery(level: Annotated[int, typer.Option(help="How much.")] = 1) -> None:
        pass

    with pytest.raises(docgen.MissingDescription) as raised:
        docgen.cli_reference(app)
    assert raised.value.names == ["option --size of 'timelapse-nst paint'", "command 'timelapse-nst mystery'"]


def test_the_preset_key_reference_has_every_key_with_its_type_and_default():
    page = docgen.preset_reference()
    for key in _keys(RenderConfig):
        assert f"| `{key}` |" in page, key
    assert "| `optimizer.iterations` | integer (≥ 1, ≤ 1000000) | `300` | iterations at full size |" in page
    assert re.search(r"\| `loss_weights.style` \| number or \[schedule\]\(#schedules\) \| `30000` \|", page)
    assert re.search(r"\| `video.layout` \| `plain` or `showcase` or `shorts` \| `showcase` \|", page)
    for schedule in ("constant", "linear", "cosine", "exponential", "keyframes"):
        assert f"### `{schedule}`" in page
    assert "| `between` | [number, number] | `[0, 1]` |" in page


def test_a_preset_key_without_description_fails_the_reference():
    frozen = ConfigDict(frozen=True, extra="forbid")

    class Inner(BaseModel):
        model_config = frozen
        told: int = Field(1, description="told")
        untold: int = 2

    class Outer(BaseModel):
        model_config = frozen
        name: str = Field("x", description="a name")
        inner: Inner = Field(Inner(), description="a section")
        bare: float = 0.5

    with pytest.raises(docgen.MissingDescription) as raised:
        docgen.preset_reference(Outer)
    assert raised.value.names == ["Outer.bare", "inner.untold"]


def test_the_gallery_shows_every_built_in_preset_and_refuses_one_without_description(tmp_path):
    page = docgen.presets_gallery()
    for name in builtin_names():
        assert f"| [`{name}`](#{name}) |" in page and f"### {name}\n" in page
        assert f'```yaml title="presets/{name}.yaml"' in page
    assert "| 3840 (coarse-to-fine) |" in page  # youtube-4k, resolved

    (tmp_path / "mine.yaml").write_text("name: mine\nextends: classic\nsize: 128\n")
    with pytest.raises(docgen.MissingDescription, match=r"mine\.yaml"):
        docgen.presets_gallery(tmp_path)
