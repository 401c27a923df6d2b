"""Preset files → one validated ``RenderConfig``: built-ins, ``extends:``, ``--set`` overrides.

Errors name the file, the line and the key path, and suggest the nearest valid key.
YAML is read with PyYAML's safe loader only: nothing in a preset runs.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from timelapse_nst.errors import UserError, setting
from timelapse_nst.settings.config import RenderConfig
from timelapse_nst.settings.schedules import SCHEDULE_NAMES

# Mappings that a child preset replaces whole instead of merging key by key.
_REPLACED_WHOLE = {("layers", "style"), ("layers", "content")}
_MAX_EXTENDS_DEPTH = 8
# YAML a preset, a jobs file or a --set value will not hold: aliases let a few lines stand for
# billions of values, or for a value inside itself, and every reader downstream walks them.
_MAX_NESTING = 64
_MAX_VALUES = 100_000


@dataclass(frozen=True)
class Source:
    """Where a layer of configuration came from, for error messages: a label and its YAML tree."""

    label: str
    node: yaml.Node | None = None


def builtin_dir() -> Path:
    """The built-in presets: inside the installed package, or the checkout's ``presets/``."""
    packaged = resources.files("timelapse_nst") / "presets"
    if packaged.is_dir():
        return Path(str(packaged))
    return Path(__file__).resolve().parents[2] / "presets"


def builtin_names() -> list[str]:
    return sorted(p.stem for p in builtin_dir().glob("*.yaml"))


def list_builtins() -> list[tuple[str, str]]:
    """(name, one-line description) of every built-in preset."""
    out = []
    for name in builtin_names():
        data, _ = read_yaml(builtin_dir() / f"{name}.yaml")
        lines = str(data.get("description", "")).strip().splitlines()
        out.append((name, lines[0] if lines else ""))
    return out


def _locate(name_or_path: str | Path, relative_to: Path | None = None) -> Path:
    text = str(name_or_path)
    if text in builtin_names():
        return builtin_dir() / f"{text}.yaml"
    path = Path(text).expanduser()
    if relative_to is not None and not path.is_absolute():
        path = relative_to / path
    if path.is_file():
        return path
    near = [n for n in builtin_names() if n.startswith(text)] or difflib.get_close_matches(text, builtin_names(), n=1)
    hint = f"; did you mean '{near[0]}'?" if near else f"; built-in presets: {', '.join(builtin_names())}"
    raise UserError(f"preset '{name_or_path}' is neither a built-in preset nor a file{hint}")


def read_yaml(path: Path, *, what: str = "preset") -> tuple[dict[str, Any], yaml.Node | None]:
    """A YAML mapping and its composed tree (for line numbers); a UserError names ``what``, the file
    and the line. Also used for jobs files."""
    try:
        data, node = load_yaml(path.read_text(encoding="utf-8"), str(path))
    except OSError as exc:
        raise UserError(f"cannot read {what} {path}: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise UserError(f"{what} {path} is not UTF-8 text") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or "invalid YAML"
        raise UserError(f"{path}{where}: {problem}") from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise UserError(f"{path}: a {what} must be a mapping of keys, not {type(data).__name__}")
    refuse_duplicate_keys(node, str(path))
    return data, node


def load_yaml(text: str, label: str, *, lines: bool = True) -> tuple[Any, yaml.Node | None]:
    """The value of YAML ``text`` and its composed tree (for line numbers), read once. Raises
    ``yaml.YAMLError`` for what is not YAML, and a ``UserError`` naming ``label`` (and the line,
    if ``lines``) for YAML too big or too deep to read: see ``check_shape``; a number of more
    digits than Python converts (4300) and a date that does not exist (2024-13-45) too."""
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None, None
        check_shape(node, label, lines=lines)
        return loader.construct_document(node), node
    except RecursionError:  # the composer recurses once per level: deep enough, it overflows first
        raise UserError(f"{label}: nested more than {_MAX_NESTING} levels deep") from None
    except ValueError as exc:  # the constructor converting a scalar: int(), datetime.date()
        raise UserError(f"{label}: a value cannot be read: {str(exc).split(';')[0]}") from None
    finally:
        loader.dispose()


def check_shape(root: yaml.Node, label: str, *, lines: bool = True) -> None:
    """Refuse a value that contains itself (an alias inside its own anchor), nesting deeper than
    ``_MAX_NESTING``, and more than ``_MAX_VALUES`` values with every alias expanded (the
    "billion laughs"). Walked without recursion, so no file can overflow the stack here."""
    on_path: set[int] = set()
    stack: list[tuple[yaml.Node, bool]] = [(root, True)]
    values = 0
    while stack:
        node, entering = stack.pop()
        if not entering:
            on_path.discard(id(node))
            continue
        where = f"{label} line {node.start_mark.line + 1}" if lines else label
        if id(node) in on_path:
            raise UserError(f"{where}: a value contains itself (an alias inside its own anchor)")
        values += 1
        if values > _MAX_VALUES:
            raise UserError(f"{label}: more than {_MAX_VALUES:,} values once its aliases are expanded")
        if len(on_path) >= _MAX_NESTING:
            raise UserError(f"{where}: nested more than {_MAX_NESTING} levels deep")
        children = _children(node)
        if children:
            on_path.add(id(node))
            stack.append((node, False))
            stack.extend((child, True) for child in reversed(children))


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.MappingNode):
        return [part for pair in node.value for part in pair]
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    return []


def refuse_duplicate_keys(node: yaml.Node | None, label: str) -> None:
    """YAML keeps the last of two equal keys without a word; a preset that says a key twice is
    almost always a mistake, so it is an error naming both lines."""
    if isinstance(node, yaml.MappingNode):
        seen: dict[str, int] = {}
        for key_node, value_node in node.value:
            key, line = str(key_node.value), key_node.start_mark.line + 1
            if key in seen:
                raise UserError(f"{label} line {line}: key '{key}' is given twice (first on line {seen[key]})")
            seen[key] = line
            refuse_duplicate_keys(value_node, label)
    elif isinstance(node, yaml.SequenceNode):
        for item in node.value:
            refuse_duplicate_keys(item, label)


def deep_merge(base: dict[str, Any], top: dict[str, Any], path: tuple[str, ...] = ()) -> dict[str, Any]:
    """``top`` over ``base``; mappings merge, anything else (and schedule mappings) replaces."""
    merged = dict(base)
    for key, value in top.items():
        old = merged.get(key)
        here = (*path, str(key))
        mergeable = (
            isinstance(old, dict)
            and isinstance(value, dict)
            and here not in _REPLACED_WHOLE
            and "schedule" not in value
            and "schedule" not in old
        )
        merged[key] = deep_merge(old, value, here) if mergeable else value
    return merged


def _load_chain(name_or_path: str | Path, depth: int = 0) -> tuple[dict[str, Any], list[Source]]:
    """A preset with its ``extends:`` chain merged in; sources listed child first."""
    if depth > _MAX_EXTENDS_DEPTH:
        raise UserError(f"preset '{name_or_path}': 'extends' goes deeper than {_MAX_EXTENDS_DEPTH} (a loop?)")
    path = _locate(name_or_path)
    data, node = read_yaml(path)
    sources = [Source(str(path), node)]
    parent = data.pop("extends", None)
    if parent is None:
        return data, sources
    if not isinstance(parent, str):
        raise UserError(f"{path}: 'extends' must be a preset name or file path")
    try:
        parent_path = parent if parent in builtin_names() else _locate(parent, path.parent)
    except UserError as exc:
        line = line_of(node, ("extends",))
        raise UserError(f"{path} line {line}: extends: {exc}") from None
    base, base_sources = _load_chain(parent_path, depth + 1)
    return deep_merge(base, data), sources + base_sources


class Override(str):
    """A ``KEY.PATH=VALUE`` override that a flag or keyword made: errors name it by ``label``
    (``--iterations 0``, ``iterations=0``), not by the ``--set`` it stands for."""

    label: str

    def __new__(cls, key: str, value: object, *, label: str) -> Override:
        override = super().__new__(cls, f"{key}={value}")
        override.label = label
        return override

    @classmethod
    def labelled(cls, text: str, label: str) -> Override:
        """``text`` (KEY.PATH=VALUE) that errors call ``label``, e.g. a jobs file's ``set: …`` entry."""
        override = super().__new__(cls, text)
        override.label = label
        return override


def parse_override(text: str) -> dict[str, Any]:
    """``optimizer.iterations=50`` → ``{"optimizer": {"iterations": 50}}`` (value read as YAML)."""
    key, sep, raw = text.partition("=")
    where = _label(text)
    if not sep or not key.strip():
        raise UserError(f"{where}: expected KEY.PATH=VALUE, e.g. optimizer.iterations=200")
    try:
        value = load_yaml(raw, where, lines=False)[0] if raw.strip() else None
    except yaml.YAMLError:
        value = raw
    if isinstance(value, (dict, list)) and not raw.strip().startswith(("{", "[")):
        value = raw  # "Title: subtitle" is text; mappings and lists need {…} or […]
    parts = [p for p in key.strip().split(".")]
    if any(not p for p in parts):
        raise UserError(f"{where}: empty part in key path '{key}'")
    for part in reversed(parts):
        value = {part: value}
    return value


def resolve(
    preset: str | Path | None = None,
    *,
    overrides: list[str] | tuple[str, ...] = (),
    extra: dict[str, Any] | None = None,
) -> RenderConfig:
    """The validated config: built-in/file preset (default ``classic``) + ``--set`` + ``extra``."""
    data, sources = _load_chain(preset if preset is not None else "classic")
    for text in overrides:
        data = deep_merge(data, parse_override(text))
    if extra:
        data = deep_merge(data, extra)
    return validate(data, sources, overrides=overrides)


def validate_file_data(data: dict[str, Any], label: str) -> RenderConfig:
    """Validate a config mapping read from ``label`` (e.g. a run folder's render.yaml)."""
    return validate(data, [Source(label)])


def validate(
    data: dict[str, Any], sources: list[Source], *, overrides: tuple[str, ...] | list[str] = ()
) -> RenderConfig:
    try:
        return RenderConfig.model_validate(data)
    except ValidationError as exc:
        raise UserError(explain(exc, sources, overrides=overrides)) from None


def explain(
    exc: ValidationError,
    sources: list[Source],
    *,
    model: type[BaseModel] = RenderConfig,
    overrides: tuple[str, ...] | list[str] = (),
    what: str = "preset",
) -> str:
    """The first error of validating ``model`` as one line: where it is (file and line, or the
    override), what is wrong, and the nearest valid key. Also used for jobs files."""
    error = exc.errors()[0]
    loc = _key_path(error)
    key = ".".join(loc)
    where = _where(loc, sources, overrides)
    if error["type"] == "extra_forbidden":
        valid = _valid_keys(loc[:-1], model)
        near = difflib.get_close_matches(loc[-1], valid, n=1, cutoff=0.5)
        hint = f"; did you mean '{'.'.join((*loc[:-1], near[0]))}'?" if near else ""
        listing = f" (valid keys here: {', '.join(valid)})" if valid and not near else ""
        return f"{where}: unknown key '{key}'{hint}{listing}"
    value = error.get("input")
    message = error["msg"].removeprefix("Value error, ")
    got = "" if isinstance(value, (dict, list)) else _shown(value)
    shown = f" (got {got})" if got and got not in message else ""
    return f"{where}: {key or what}: {message}{shown}"


def _shown(value: Any) -> str:
    """A bad value as an error line shows it: cut short; a number too long to print, named."""
    try:
        text = repr(value)
    except ValueError:  # an int of more digits than Python prints (YAML's 0b111… makes one)
        return "a number of more than 4300 digits"
    return text if len(text) <= 80 else f"{text[:60]}... ({len(text)} characters)"


def _key_path(error: Any) -> tuple[str, ...]:
    """The error's key path without the union members pydantic puts into it. Those never come
    first, nor last in an unknown-key error, whose last part is the key as written: a key that
    happens to be called ``linear`` or ``str`` is kept."""
    parts = [str(part) for part in error["loc"]]
    last = len(parts) - 1 if error["type"] == "extra_forbidden" else -1
    return tuple(part for i, part in enumerate(parts) if i in (0, last) or not _is_union_tag(part))


def _is_union_tag(part: Any) -> bool:
    # pydantic inserts the discriminator tag ("linear", "constant", ...), or the member type of a
    # plain union ("str", "list[str]"), into error locations.
    return part in SCHEDULE_NAMES or part in ("str", "list[str]") or str(part).startswith("function-")


def _where(loc: tuple[str, ...], sources: list[Source], overrides: tuple[str, ...] | list[str]) -> str:
    dotted = ".".join(loc)
    for text in reversed(overrides):
        key = text.partition("=")[0].strip()
        if key.split(".")[0] == "weights":  # the old spelling, read as loss_weights (config.py)
            key = "loss_" + key
        if dotted == key or dotted.startswith(key + ".") or key.startswith(dotted + "."):
            return _label(text)
    for source in sources:
        line = line_of(source.node, loc)
        if line is not None:
            return f"{source.label} line {line}"
    return sources[0].label if sources else "config"


def given_by(key: str, overrides: list[str] | tuple[str, ...]) -> str | None:
    """How the user named the last override that sets ``key`` (``--style-blend 0.7,0.3``), or
    None when ``key`` comes from the preset."""
    for text in reversed(overrides):
        if text.partition("=")[0].strip() == key:
            return _label(text)
    return None


def _label(override: str) -> str:
    """How errors name an override: its own label, else as the user gave it (``--set KEY=VALUE``
    on the command line, ``overrides=["KEY=VALUE"]`` from Python)."""
    label = getattr(override, "label", None)
    if label:
        return label
    key, _, value = override.partition("=")
    return setting(key, value)


def line_of(node: yaml.Node | None, loc: tuple[str, ...]) -> int | None:
    """1-based line of the deepest key (or list item, by index) of ``loc`` in a composed YAML tree."""
    line = None
    for part in loc:
        if isinstance(node, yaml.SequenceNode) and part.isdigit() and int(part) < len(node.value):
            node = node.value[int(part)]
            line = node.start_mark.line + 1
            continue
        if not isinstance(node, yaml.MappingNode):
            break
        for key_node, value_node in node.value:
            if str(key_node.value) == part:
                line, node = key_node.start_mark.line + 1, value_node
                break
        else:
            break
    return line


def _valid_keys(loc: tuple[str, ...], root: type[BaseModel] = RenderConfig) -> list[str]:
    model: Any = root
    for part in loc:
        if part.isdigit():  # an item of a list: its model is the one already in hand
            continue
        field = getattr(model, "model_fields", {}).get(part)
        if field is None:
            return []
        model = _model_in(field.annotation)
    return list(getattr(model, "model_fields", {}))


def _model_in(annotation: Any) -> Any:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in getattr(annotation, "__args__", ()):
        found = _model_in(arg)
        if found is not None:
            return found
    return None


def to_yaml(config: RenderConfig) -> str:
    """The resolved config as YAML (what `presets show` prints and render.yaml embeds)."""
    return yaml.safe_dump(config.model_dump(mode="json"), sort_keys=False, allow_unicode=True)
