"""Documentation generated from the code, so that it cannot drift from it.

- ``cli_reference()``: every command of the typer app, its usage, arguments and options;
- ``preset_reference()``: every preset key of the pydantic schema, with its type, default and
  description, the schedules included;
- ``presets_gallery()``: the built-in presets (``presets/*.yaml``), resolved, and their files.

Each returns Markdown. What has no description is not documented with a blank: the generator
raises ``MissingDescription`` naming every command, option, argument, preset key or preset
without one, and the docs build (``docs/hooks.py``) fails with that message.

A script beside the docs, not part of the package: it reads the package as any user of it would.
Run it alone to see a page: ``python docs/docgen.py cli|keys|gallery``.
"""

from __future__ import annotations

import sys
import types
import typing
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal, Union, get_args, get_origin

import annotated_types
import yaml
from pydantic import BaseModel
from pydantic.fields import FieldInfo

REPO = Path(__file__).resolve().parent.parent


class MissingDescription(Exception):
    """Things the docs would show without a description."""

    def __init__(self, what: str, names: list[str]) -> None:
        self.names = names
        super().__init__(f"{what} without a description (add one in the code): " + ", ".join(names))


# -- markdown helpers ---------------------------------------------------------------------------


def cell(text: str) -> str:
    """Text for a Markdown table cell: one line, pipes and angle brackets escaped."""
    return " ".join(text.split()).replace("|", "\\|").replace("<", "&lt;")


def code(text: str) -> str:
    """``text`` as inline code (backticks inside it are doubled around)."""
    return f"`` {text} ``" if "`" in text else f"`{text}`"


# -- the CLI reference --------------------------------------------------------------------------


def _commands(command: Any, path: str, parent: Any = None) -> Iterator[tuple[str, Any, Any]]:
    """(``timelapse-nst presets show``, the command, its context) for the app and every command in
    it, depth first in the order ``--help`` lists them. Duck-typed: typer 0.29 brings its own
    click, earlier releases use click's classes."""
    context = command.context_class(command, info_name=path.rsplit(" ", 1)[-1], parent=parent)
    yield path, command, context
    if hasattr(command, "list_commands"):
        for name in command.list_commands(context):
            sub = command.get_command(context, name)
            if sub is not None and not sub.hidden:
                yield from _commands(sub, f"{path} {name}", context)


def _help_markdown(text: str) -> str:
    """A command's help (Markdown, as typer's markdown mode shows it); ``Example:`` paragraphs
    become console blocks."""
    paragraphs = [" ".join(part.split()) for part in text.strip().split("\n\n") if part.strip()]
    out = []
    for paragraph in paragraphs:
        if paragraph.startswith("Example: "):
            out.append(f"```console\n$ {paragraph.removeprefix('Example: ')}\n```")
        else:
            out.append(paragraph)
    return "\n\n".join(out)


def _parameter_row(param: Any) -> tuple[str, str]:
    """(the argument or option as typed, what it does with its default) for one parameter."""
    if param.param_type_name == "argument":
        name = code(param.metavar or param.name.upper())
        notes = [] if param.required else ["optional"]
    else:
        names = ", ".join(code(opt) for opt in [*param.opts, *param.secondary_opts])
        value = "" if getattr(param, "is_flag", False) or param.metavar is None else " " + code(param.metavar)
        name = names + value
        notes = []
        default = param.default
        if not getattr(param, "is_flag", False) and default not in (None, (), []) and not callable(default):
            notes.append(f"default: {code(str(default))}")
        if getattr(param, "multiple", False) and "repeatable" not in (param.help or ""):
            notes.append("repeatable")
        envvar = getattr(param, "envvar", None)
        if envvar:
            notes.append(f"environment: {code(envvar if isinstance(envvar, str) else ', '.join(envvar))}")
    text = cell(param.help or "")
    return name, text + (f" *({'; '.join(notes)})*" if notes else "")


def cli_reference(app: Any = None) -> str:
    """Markdown for every command of ``app`` (default: the ``timelapse-nst`` app)."""
    import typer

    if app is None:
        from timelapse_nst.cli import app
    root = typer.main.get_command(app)
    missing: list[str] = []
    sections: list[str] = []
    for path, command, context in _commands(root, "timelapse-nst"):
        if not (command.help or "").strip():
            missing.append(f"command '{path}'")
        params = [p for p in command.get_params(context) if not getattr(p, "hidden", False)]
        rows = []
        for param in params:
            if "--help" in getattr(param, "opts", ()):
                continue  # every command has it; said once at the top of the page
            if not (getattr(param, "help", None) or "").strip():
                label = param.opts[0] if param.param_type_name == "option" else param.human_readable_name
                missing.append(f"{param.param_type_name} {label} of '{path}'")
            rows.append(_parameter_row(param))
        usage = f"{path} {' '.join(command.collect_usage_pieces(context))}".strip()
        depth = path.count(" ")
        heading = "#" * min(2 + max(depth - 1, 0), 4)
        section = [f"{heading} {code(path)}", "", _help_markdown(command.help or "")]
        section += ["", f"```text\n{usage}\n```"]
        if rows:
            section += ["", "| argument or option | what it does |", "| --- | --- |"]
            section += [f"| {name} | {text} |" for name, text in rows]
        sections.append("\n".join(section))
    if missing:
        raise MissingDescription("CLI", missing)
    return "\n\n".join(sections) + "\n"


# -- the preset key reference -------------------------------------------------------------------


def _schedule_kinds() -> tuple[type[BaseModel], ...]:
    from timelapse_nst.settings.schedules import Schedule

    return tuple(kind for kind in _flatten(Schedule) if isinstance(kind, type) and issubclass(kind, BaseModel))


def _flatten(annotation: Any) -> list[Any]:
    """The types inside ``Annotated[...]``/``Union[...]`` layers."""
    origin = get_origin(annotation)
    if origin is typing.Annotated:
        return _flatten(get_args(annotation)[0])
    if origin in (Union, types.UnionType):
        return [leaf for arg in get_args(annotation) for leaf in _flatten(arg)]
    return [annotation]


_NAMES = {int: "integer", float: "number", str: "text", bool: "true or false", Path: "file path"}


def _type_text(annotation: Any, anchors: dict[type, str]) -> str:
    """A preset key's type in words: ``integer``, ``list of text``, ``number or schedule``..."""
    leaves = _flatten(annotation)
    kinds = _schedule_kinds()
    if leaves and set(kinds) <= set(leaves):  # the Schedule union: a number or a schedule mapping
        rest = [leaf for leaf in leaves if leaf not in kinds]
        return " or ".join(["number or [schedule](#schedules)", *(_one_type(leaf, anchors) for leaf in rest)])
    return " or ".join(dict.fromkeys(_one_type(leaf, anchors) for leaf in leaves))


def _one_type(annotation: Any, anchors: dict[type, str]) -> str:
    origin, args = get_origin(annotation), get_args(annotation)
    if annotation is type(None):
        return "null"
    if origin is Literal:
        return " or ".join(code(str(value)) for value in args)
    if origin is list:
        return f"list of {_type_text(args[0], anchors)}"
    if origin is dict:
        return f"mapping of {_type_text(args[0], anchors)} to {_type_text(args[1], anchors)}"
    if origin is tuple:
        return "[" + ", ".join(_type_text(arg, anchors) for arg in args) + "]"
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return f"[section](#{anchors[annotation]})" if annotation in anchors else "section"
    return _NAMES.get(annotation, getattr(annotation, "__name__", str(annotation)))


def _limits(field: FieldInfo) -> str:
    """The constraints pydantic enforces on a value, as ``≥ 1, ≤ 200``."""
    bounds = {annotated_types.Ge: "≥", annotated_types.Gt: ">", annotated_types.Le: "≤", annotated_types.Lt: "<"}
    words = []
    for item in field.metadata:
        if type(item) in bounds:
            value = getattr(item, type(item).__name__.lower())  # Ge(ge=1).ge
            words.append(f"{bounds[type(item)]} {_number(value)}")
        if isinstance(item, annotated_types.MinLen) and item.min_length > 0:
            words.append(f"at least {item.min_length}")
        if isinstance(item, annotated_types.MaxLen):
            words.append(f"at most {item.max_length}")
    return ", ".join(words)


def _number(value: Any) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


def _default_text(field: FieldInfo) -> str:
    if field.is_required():
        return "required"
    value = field.get_default(call_default_factory=True)
    if isinstance(value, BaseModel):
        return "(its defaults)"
    if value is None:
        return "not set"
    return code(_yaml_flow(value))


def _yaml_flow(value: Any) -> str:
    if isinstance(value, float):
        return _number(value)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_yaml_flow(item) for item in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{key}: {_yaml_flow(item)}" for key, item in value.items()) + "}"
    if isinstance(value, str):
        text = yaml.safe_dump(value, default_flow_style=True, allow_unicode=True).strip()
        return text.removesuffix("\n...").removesuffix("...").strip() or "''"
    return yaml.safe_dump(value, default_flow_style=True).strip().removesuffix("...").strip()


def _sections(model: type[BaseModel], prefix: str = "") -> Iterator[tuple[str, type[BaseModel]]]:
    """(dotted key, model) of every section in the schema, in field order, depth first."""
    yield prefix, model
    for name, field in model.model_fields.items():
        for leaf in _flatten(field.annotation):
            if isinstance(leaf, type) and issubclass(leaf, BaseModel) and leaf not in _schedule_kinds():
                yield from _sections(leaf, f"{prefix}{name}.")


def _anchor(key: str) -> str:
    return key.rstrip(".").replace(".", "-").replace("_", "-") or "top-level-keys"


def _table(model: type[BaseModel], prefix: str, anchors: dict[type, str], missing: list[str]) -> list[str]:
    rows = ["| key | type | default | description |", "| --- | --- | --- | --- |"]
    fields = sorted(model.model_fields.items(), key=lambda item: item[0] != "schedule")  # a schedule's tag first
    for name, field in fields:
        key = prefix + name
        if not (field.description or "").strip():
            missing.append(f"{model.__name__}.{name}" if not prefix else key)
        kind = _type_text(field.annotation, anchors)
        limits = _limits(field)
        kind += f" ({cell(limits)})" if limits else ""
        rows.append(f"| {code(key)} | {kind} | {_default_text(field)} | {cell(field.description or '')} |")
    return rows


def preset_reference(model: type[BaseModel] | None = None) -> str:
    """Markdown for every key of ``model`` (default: ``RenderConfig``, what a preset holds), each
    section in a table, then the schedules any number-or-schedule key accepts."""
    if model is None:
        from timelapse_nst.settings.config import RenderConfig as model
    missing: list[str] = []
    sections = list(_sections(model))
    anchors = {section: _anchor(key) for key, section in sections}
    out: list[str] = []
    for key, section in sections:
        title = code(key.rstrip(".")) if key else "Top-level keys"
        doc = " ".join((section.__doc__ or "").split()) if section.__doc__ != BaseModel.__doc__ else ""
        out += [f"## {title} {{#{anchors[section]}}}", ""]
        if doc:
            out += [doc, ""]
        out += [*_table(section, key, anchors, missing), ""]
    out += ["## Schedules {#schedules}", ""]
    out += [
        "A key whose type says *number or schedule* takes a plain number (the same at every "
        "iteration) or one of these mappings, told apart by their `schedule` key:",
        "",
    ]
    for kind in _schedule_kinds():
        name = get_args(kind.model_fields["schedule"].annotation)[0]
        out += [f"### `{name}`", "", *_table(kind, "", anchors, missing), ""]
    if missing:
        raise MissingDescription("preset keys", missing)
    return "\n".join(out)


# -- the presets gallery ------------------------------------------------------------------------


def presets_gallery(folder: Path | None = None) -> str:
    """Markdown for every preset in ``folder`` (default: the repository's ``presets/``): a table
    of what each resolves to, then each file as written."""
    from timelapse_nst.settings import presets

    folder = folder or REPO / "presets"
    files = sorted(folder.glob("*.yaml"))
    missing = []
    rows = [
        "| preset | what it does | size | iterations | optimiser | video |",
        "| --- | --- | ---: | ---: | --- | --- |",
    ]
    details = []
    for path in files:
        config = presets.resolve(str(path))
        own, _ = presets.read_yaml(path)  # its own words: an inherited description would say another's
        if not str(own.get("description") or "").strip():
            missing.append(path.name)
        video = config.video
        scales = " (coarse-to-fine)" if config.scales is not None else ""
        rows.append(
            f"| [{code(path.stem)}](#{path.stem}) | {cell(config.description)} | {config.size}{scales} | "
            f"{config.optimizer.iterations} | {config.optimizer.name} | "
            f"{video.layout}, {_number(video.duration)} s, {video.resolution or '1080p'} |"
        )
        text = path.read_text(encoding="utf-8").rstrip()
        details += [
            f"### {path.stem}",
            "",
            cell(config.description),
            "",
            f'```yaml title="presets/{path.name}"\n{text}\n```',
            "",
            f"`timelapse-nst presets show {path.stem}` prints it with every key resolved.",
            "",
        ]
    if not files:
        raise MissingDescription("presets", [f"no *.yaml in {folder}"])
    if missing:
        raise MissingDescription("presets", missing)
    return "\n".join([*rows, "", *details])


GENERATORS = {"cli-reference": cli_reference, "preset-keys": preset_reference, "presets-gallery": presets_gallery}
"""What ``<!-- generated: NAME -->`` in a page is replaced with."""


if __name__ == "__main__":
    names = {"cli": "cli-reference", "keys": "preset-keys", "gallery": "presets-gallery"}
    if len(sys.argv) != 2 or sys.argv[1] not in names:
        sys.exit(f"usage: python {sys.argv[0]} {'|'.join(names)}")
    print(GENERATORS[names[sys.argv[1]]]())
