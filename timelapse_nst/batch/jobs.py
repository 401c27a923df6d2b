"""The jobs file: a list of jobs, a matrix, or both → validated, resolved ``Job`` records.

Shape (every key optional except a job's ``content`` and ``style``)::

    preset: classic                 # of every job that names none
    set: [size=512]                 # overrides applied to every job
    num_cpus: 4                     # resources of each job (default: decided by the runner)
    num_gpus: 1
    max_retries: 3                  # Ray: how often a job whose worker was lost starts again
    jobs:
      - {name: chelsea-wave, content: cat.jpg, style: wave.jpg, preset: classic, set: [loss_weights.style=1e5],
         title: "Chelsea after Hokusai"}
      - {content: cat.jpg, style: [wave.jpg, starry.jpg], preset: style-morph}
    matrix: {content: [a.jpg, b.jpg], style: [wave.jpg, starry.jpg], preset: [slow-reveal]}

Paths are relative to the jobs file. Everything is checked before anything runs, and errors
name the file, the line and the key the way preset errors do (``presets.explain``): unknown
keys get the nearest valid one suggested. Nothing in the file runs (``yaml.safe_load``).
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from timelapse_nst.errors import UserError
from timelapse_nst.settings import presets
from timelapse_nst.settings.credits import Credits

_FROZEN = ConfigDict(frozen=True, extra="forbid")
DEFAULT_PRESET = "classic"
NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._+-]{0,99}$")
_MAX_GENERATED = 80


def _as_list(value: Any) -> Any:
    """A single value where a list is expected counts as a list of one (``set: size=512``)."""
    return [value] if isinstance(value, str) else value


class JobEntry(BaseModel):
    """One item of ``jobs:``."""

    model_config = _FROZEN
    name: str | None = Field(None, description="run folder name; default: from the file names")
    content: str = Field(description="the photo to paint, or a video clip")
    style: str | list[str] = Field(description="the painting, or a list of paintings (several styles)")
    preset: str | None = Field(None, description="built-in preset name or YAML file (default classic)")
    set: list[str] = Field(default_factory=list, description="overrides of this job, KEY.PATH=VALUE")
    title: str | None = Field(None, max_length=200, description="title in the video and the compilation")
    credits: Credits | None = Field(None, description="who made the photo, the painting(s), the video (as in presets)")
    num_cpus: float | None = Field(None, gt=0, description="CPUs (= torch threads) of this job")
    num_gpus: float | None = Field(None, ge=0, description="GPUs of this job (Ray)")

    _lists = field_validator("set", mode="before")(_as_list)

    @field_validator("style")
    @classmethod
    def _some_style(cls, style: str | list[str]) -> str | list[str]:
        if isinstance(style, list) and not style:
            raise ValueError("give at least one style image")
        return style


class Matrix(BaseModel):
    """Every combination of ``content`` x ``style`` x ``preset`` becomes a job, named from its files."""

    model_config = _FROZEN
    content: list[str] = Field(min_length=1)
    style: list[str | list[str]] = Field(min_length=1)
    preset: list[str] | None = Field(None, min_length=1, description="default: the file's preset")
    set: list[str] = Field(default_factory=list, description="overrides of every matrix job")

    _lists = field_validator("content", "style", "preset", "set", mode="before")(_as_list)


class JobsFile(BaseModel):
    """The whole jobs file."""

    model_config = _FROZEN
    preset: str | None = Field(None, description="preset of every job that names none (default classic)")
    set: list[str] = Field(default_factory=list, description="overrides of every job")
    jobs: list[JobEntry] = Field(default_factory=list)
    matrix: Matrix | None = None
    num_cpus: float | None = Field(None, gt=0, description="CPUs (= torch threads) of each job")
    num_gpus: float | None = Field(None, ge=0, description="GPUs of each job (Ray)")
    max_retries: int = Field(3, ge=0, le=100, description="Ray: restarts of a job whose worker was lost")

    _lists = field_validator("set", mode="before")(_as_list)


class Job(BaseModel):
    """One resolved job: absolute paths, every override in order. What batch.yaml records and
    what a worker (a local process or a Ray task) receives."""

    model_config = _FROZEN
    name: str
    content: str
    style: str | list[str]
    preset: str
    set: list[str] = Field(default_factory=list)
    credits: Credits | None = None
    title: str | None = None
    num_cpus: float | None = None
    num_gpus: float | None = None

    def overrides(self) -> list[str]:
        """The ``set`` entries, the credits as ``credits`` and the title as ``video.title`` (last;
        JSON quoting is YAML quoting)."""
        import json

        credits = self.credits.model_dump(exclude_none=True) if self.credits is not None else None
        return [
            *self.set,
            *([f"credits={json.dumps(credits, ensure_ascii=False)}"] if credits is not None else []),
            *([f"video.title={json.dumps(self.title, ensure_ascii=False)}"] if self.title is not None else []),
        ]

    @property
    def label(self) -> str:
        """What people see: the title, else the name."""
        return self.title or self.name

    @property
    def styles(self) -> list[str]:
        return [self.style] if isinstance(self.style, str) else list(self.style)


@dataclass(frozen=True)
class JobsPlan:
    """A validated jobs file: its jobs in order and the settings shared by all of them."""

    source: Path
    jobs: list[Job]
    max_retries: int


# -- loading ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Draft:
    """A job before naming, with where each of its values sits in the file (for errors)."""

    loc: tuple[str, ...]  # the job in the file: ("jobs", "0") or ("matrix",)
    name: str | None
    content: tuple[str, tuple[str, ...]]  # (value, its location)
    styles: list[tuple[str, tuple[str, ...]]]
    style_is_list: bool
    preset: tuple[str, tuple[str, ...]] | None
    set: list[tuple[str, tuple[str, ...]]]
    title: str | None
    credits: Credits | None
    num_cpus: float | None
    num_gpus: float | None


def load_jobs(path: str | Path) -> JobsPlan:
    """Read, validate and resolve a jobs file; ``UserError`` (file, line, key) at the first problem."""
    path = Path(path)
    data, node = presets.read_yaml(path, what="jobs file")
    source = presets.Source(str(path), node)
    try:
        spec = JobsFile.model_validate(data)
    except ValidationError as exc:
        raise UserError(presets.explain(exc, [source], model=JobsFile, what="jobs file")) from None
    drafts = list(_drafts(spec))
    if not drafts:
        raise UserError(f"{path}: no jobs: give a list under 'jobs:', a 'matrix:', or both")
    where = _Where(path, node)
    names = _names(drafts, where)
    jobs = [_resolve(draft, name, where) for draft, name in zip(drafts, names, strict=True)]
    return JobsPlan(source=path.resolve(), jobs=jobs, max_retries=spec.max_retries)


def _drafts(spec: JobsFile) -> Iterator[_Draft]:
    top_set = [(text, ("set", str(i))) for i, text in enumerate(spec.set)]
    top_preset = (spec.preset, ("preset",)) if spec.preset is not None else None
    for i, entry in enumerate(spec.jobs):
        loc = ("jobs", str(i))
        yield _Draft(
            loc=loc,
            name=entry.name,
            content=(entry.content, (*loc, "content")),
            styles=_styles(entry.style, (*loc, "style")),
            style_is_list=isinstance(entry.style, list),
            preset=(entry.preset, (*loc, "preset")) if entry.preset is not None else top_preset,
            set=[*top_set, *((text, (*loc, "set", str(k))) for k, text in enumerate(entry.set))],
            title=entry.title,
            credits=entry.credits,
            num_cpus=entry.num_cpus if entry.num_cpus is not None else spec.num_cpus,
            num_gpus=entry.num_gpus if entry.num_gpus is not None else spec.num_gpus,
        )
    matrix = spec.matrix
    if matrix is None:
        return
    matrix_set = [(text, ("matrix", "set", str(k))) for k, text in enumerate(matrix.set)]
    matrix_presets = [(text, ("matrix", "preset", str(p))) for p, text in enumerate(matrix.preset or [])]
    combos = itertools.product(enumerate(matrix.content), enumerate(matrix.style), matrix_presets or [top_preset])
    for (c, content), (s, style), preset in combos:
        yield _Draft(
            loc=("matrix",),
            name=None,
            content=(content, ("matrix", "content", str(c))),
            styles=_styles(style, ("matrix", "style", str(s))),
            style_is_list=isinstance(style, list),
            preset=preset,
            set=[*top_set, *matrix_set],
            title=None,
            credits=None,
            num_cpus=spec.num_cpus,
            num_gpus=spec.num_gpus,
        )


def _styles(style: str | list[str], loc: tuple[str, ...]) -> list[tuple[str, tuple[str, ...]]]:
    """Each style path with where it sits: ``style`` itself, or ``style.<k>`` in a list."""
    if isinstance(style, str):
        return [(style, loc)]
    return [(one, (*loc, str(k))) for k, one in enumerate(style)]


class _Where:
    """Turns a location in the jobs file into ``jobs.yaml line 7``."""

    def __init__(self, path: Path, node: yaml.Node | None) -> None:
        self.path, self.node = path, node

    def __call__(self, loc: tuple[str, ...]) -> str:
        line = presets.line_of(self.node, loc)
        return f"{self.path} line {line}" if line is not None else str(self.path)

    def key(self, loc: tuple[str, ...]) -> str:
        return ".".join(loc)


# -- naming ----------------------------------------------------------------------------------


def safe_name(text: str) -> str:
    """A file-system-safe folder name: letters, digits, ``.``, ``_``, ``+``, ``-``; nothing else."""
    name = re.sub(r"[^A-Za-z0-9._+-]+", "-", text).strip("-._+")
    name = re.sub(r"-{2,}", "-", name)[:_MAX_GENERATED].strip("-._+")
    return name or "job"


def generated_name(content: str, styles: list[str], preset: str | None) -> str:
    """``cat-wave`` from cat.jpg + wave.jpg; ``cat-wave+starry`` for several styles; the preset appended."""
    parts = [Path(content).stem, "+".join(Path(style).stem for style in styles)]
    if preset is not None:
        parts.append(Path(preset).stem)
    return safe_name("-".join(parts))


def _names(drafts: list[_Draft], where: _Where) -> list[str]:
    """Given names are checked and must be unique; the others come from the files, made unique."""
    taken: dict[str, tuple[str, ...]] = {}
    for draft in drafts:
        if draft.name is None:
            continue
        loc = (*draft.loc, "name")
        if not NAME_PATTERN.match(draft.name):
            raise UserError(
                f"{where(loc)}: {where.key(loc)}: '{draft.name}' is not a usable folder name "
                "(letters, digits and . _ + -, starting with a letter or digit, at most 100)"
            )
        if draft.name in taken:
            raise UserError(
                f"{where(loc)}: {where.key(loc)}: the name '{draft.name}' is already used by the job at "
                f"{where(taken[draft.name])}"
            )
        taken[draft.name] = loc
    # Matrix jobs carry the preset in their name only when the matrix has several presets.
    several_presets = len({d.preset[0] for d in drafts if d.loc == ("matrix",) and d.preset}) > 1
    names = []
    for draft in drafts:
        if draft.name is not None:
            names.append(draft.name)
            continue
        preset = draft.preset[0] if draft.preset and (several_presets and draft.loc == ("matrix",)) else None
        base = generated_name(draft.content[0], [s for s, _ in draft.styles], preset)
        name, n = base, 2
        while name in taken:
            name, n = f"{base}-{n}", n + 1
        taken[name] = draft.loc
        names.append(name)
    return names


# -- resolving -------------------------------------------------------------------------------


def _resolve(draft: _Draft, name: str, where: _Where) -> Job:
    folder = where.path.parent
    content = _existing_file(draft.content, folder, where, "content")
    styles = [_existing_file(style, folder, where, "style") for style in draft.styles]
    preset = _preset(draft.preset, folder, where)
    job = Job(
        name=name,
        content=content,
        style=styles if draft.style_is_list else styles[0],
        preset=preset,
        set=[text for text, _ in draft.set],
        title=draft.title,
        credits=draft.credits,
        num_cpus=draft.num_cpus,
        num_gpus=draft.num_gpus,
    )
    _check_config(job, draft, where)
    return job


def _existing_file(value: tuple[str, tuple[str, ...]], folder: Path, where: _Where, role: str) -> str:
    text, loc = value
    path = Path(text).expanduser()
    path = path if path.is_absolute() else folder / path
    if not path.is_file():
        shown = f"{text} (looked for {path.resolve()})" if not Path(text).is_absolute() else text
        what = "file" if role == "content" else "image"  # the content may be a photo or a video clip
        raise UserError(f"{where(loc)}: {where.key(loc)}: the {role} {what} {shown} does not exist")
    return str(path.resolve())


def _preset(value: tuple[str, tuple[str, ...]] | None, folder: Path, where: _Where) -> str:
    """A built-in name stays a name; a file is found relative to the jobs file."""
    if value is None:
        return DEFAULT_PRESET
    text, loc = value
    if text in presets.builtin_names():
        return text
    path = Path(text).expanduser()
    path = path if path.is_absolute() else folder / path
    if path.is_file():
        return str(path.resolve())
    try:
        presets.resolve(text)  # the same "did you mean" message a render would give
    except UserError as exc:
        raise UserError(f"{where(loc)}: {where.key(loc)}: {exc}") from None
    return text


def _check_config(job: Job, draft: _Draft, where: _Where) -> None:
    """Resolve the job's preset with its overrides now, so a bad value stops the batch before it
    starts; the error names the ``set:`` entry (or the title) and its line in the jobs file."""
    labelled = [presets.Override.labelled(text, f"set {text}") for text in job.set]
    if job.credits is not None:
        credits = job.overrides()[len(job.set)]
        labelled.append(presets.Override.labelled(credits, "credits"))
    if job.title is not None:
        title = job.overrides()[-1]
        labelled.append(presets.Override.labelled(title, f"title {title.partition('=')[2]}"))
    try:
        presets.resolve(job.preset, overrides=labelled)
    except UserError as exc:
        message = str(exc)
        loc = next((loc for text, loc in draft.set if message.startswith(f"set {text}:")), draft.loc)
        if message.startswith("title "):
            loc = (*draft.loc, "title")
        raise UserError(f"{where(loc)}: job '{job.name}': {message}") from None
