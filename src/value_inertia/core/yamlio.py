"""Reading YAML input files, ``-S`` overrides of them, and one line per validation problem.

Every YAML input (``params.yaml``, questionnaires, the persona schema) is read by
:func:`load_yaml` and validated by a pydantic model; :func:`format_validation_error`
renders each problem as ``<file>: <key path>: <what is wrong>``, with the closest
valid key for an unknown one.

:func:`apply_overrides` applies ``-S key=value`` overrides to a params document, as
``dvc exp run -S`` writes them. ``key`` is a dotted path (``personas.n``,
``models.gemma3-270m.temperature``); the value is parsed as YAML (``3``, ``1.0``,
``[111,333]``, ``null``, ``text``), as DVC's Hydra-style overrides parse it.
``+key=value`` adds a key, ``~key`` deletes one, and a ``params.yaml:`` prefix (DVC's
file prefix) is accepted. When ``models`` is written as a list, ``models.<name>``
finds the entry with that ``name``.
"""

from __future__ import annotations

import difflib
import re
import types
import typing
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from value_inertia.core.errors import ConfigError


def load_yaml(path: Path) -> object:
    """The parsed YAML document in ``path``; :class:`ConfigError` naming the file if not."""
    try:
        with open(path, encoding="utf-8") as fh:
            return yaml.safe_load(fh)
    except FileNotFoundError as exc:
        raise ConfigError(f"{path}: file not found") from exc
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ConfigError(f"{path}: not valid YAML{where}: {problem}") from None


def _key_path(loc: tuple[int | str, ...], data: object) -> str:
    """Render a pydantic error location as ``models[gemma].temperature``."""
    parts: list[str] = []
    node = data
    for part in loc:
        if isinstance(part, int):
            label = str(part)
            if isinstance(node, dict) and 0 <= part < len(node):  # models keyed by name
                key = list(node)[part]
                label, node = str(key), node[key]
            elif isinstance(node, list) and part < len(node):
                item = node[part]
                if isinstance(item, dict) and isinstance(item.get("name"), str):
                    label = item["name"]
                elif isinstance(item, dict) and "number" in item:
                    label = f"item {item['number']}"
                node = item
            else:
                node = None
            parts.append(f"[{label}]")
        else:
            node = node.get(part) if isinstance(node, dict) else None
            parts.append(("." if parts else "") + part)
    return "".join(parts)


def _models_in(annotation: object) -> list[type[BaseModel]]:
    """The pydantic models a field annotation can hold (through Optional, list, dict, ...)."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    if isinstance(annotation, types.UnionType) or typing.get_origin(annotation) is not None:
        return [m for arg in typing.get_args(annotation) for m in _models_in(arg)]
    return []


def _keys(model: type[BaseModel]) -> dict[str, str]:
    """Key as written in the file (the alias, if any) -> field name."""
    return {(info.alias or name): name for name, info in model.model_fields.items()}


def valid_keys(model: type[BaseModel], loc: tuple[int | str, ...]) -> list[str]:
    """The keys allowed at ``loc`` (the location of a key) in a document of ``model``."""
    annotation: object = model
    for part in loc[:-1]:
        if isinstance(part, int):
            continue  # a list index: the same annotation holds the items
        for candidate in _models_in(annotation):
            name = _keys(candidate).get(part)
            if name is not None:
                annotation = candidate.model_fields[name].annotation
                break
        # else: a mapping key (dict[str, Model]): the annotation holds the values
    return sorted({key for m in _models_in(annotation) for key in _keys(m)})


def _unknown_key(loc: tuple[int | str, ...], model: type[BaseModel] | None) -> str:
    if model is None or not loc or not isinstance(loc[-1], str):
        return "unknown key"
    allowed = valid_keys(model, loc)
    if not allowed:
        return "unknown key"
    close = difflib.get_close_matches(loc[-1], allowed, n=1, cutoff=0.75)
    if close:
        return f"unknown key; did you mean {close[0]!r}?"
    return f"unknown key; allowed: {', '.join(allowed)}"


def format_validation_error(
    err: ValidationError, source: str, data: object, model: type[BaseModel] | None = None
) -> str:
    """One ``<source>: <key path>: <message>`` line per problem in ``err``.

    With ``model`` (the validated class), an unknown key names the closest valid
    key (or lists the allowed ones when none is close).
    """
    lines = []
    for e in err.errors():
        loc = tuple(x for x in e["loc"] if not (isinstance(x, str) and x.startswith("function-")))
        path = _key_path(loc, data) or "(top level)"
        msg = e["msg"]
        if e["type"] == "extra_forbidden":
            msg = _unknown_key(loc, model)
        msg = re.sub(r"^Value error, ", "", msg)
        lines.append(f"{source}: {path}: {msg}")
    return "\n".join(lines)


# -- -S overrides ------------------------------------------------------------------------
def _child(node: Any, part: str, where: str, create: bool) -> Any:
    if isinstance(node, dict):
        if part not in node:
            if not create:
                raise ConfigError(f"{where}: no key {part!r} (use +{where}=... to add one)")
            node[part] = {}
        return node[part]
    if isinstance(node, list):
        for item in node:
            if isinstance(item, dict) and item.get("name") == part:
                return item
        if part.isdigit() and int(part) < len(node):
            return node[int(part)]
    raise ConfigError(f"{where}: no key {part!r}")


def _set(data: dict[str, Any], path: list[str], value: Any, where: str, add: bool) -> None:
    node: Any = data
    for part in path[:-1]:
        node = _child(node, part, where, add)
    last = path[-1]
    if not isinstance(node, dict):
        raise ConfigError(f"{where}: {'.'.join(path[:-1])} is not a mapping")
    if not add and last not in node:
        raise ConfigError(f"{where}: no key {last!r} (use +{where}=... to add one)")
    node[last] = value


def _delete(data: dict[str, Any], path: list[str], where: str) -> None:
    node: Any = data
    for part in path[:-1]:
        node = _child(node, part, where, False)
    if not isinstance(node, dict) or path[-1] not in node:
        raise ConfigError(f"{where}: no key {path[-1]!r} to delete")
    del node[path[-1]]


def apply_overrides(data: dict[str, Any], overrides: Sequence[str]) -> dict[str, Any]:
    """``data`` with each ``key=value`` of ``overrides`` applied, in order (in place)."""
    for text in overrides:
        raw = text.split(":", 1)[1] if text.startswith("params.yaml:") else text
        if raw.startswith("~"):
            key = raw[1:].split("=", 1)[0]
            _delete(data, key.split("."), f"-S {text}")
            continue
        if "=" not in raw:
            raise ConfigError(f"-S {text}: expected key=value (e.g. -S personas.n=6)")
        key, value_text = raw.split("=", 1)
        add = key.startswith("+")
        key = key.lstrip("+").strip()
        if not key or any(not p for p in key.split(".")):
            raise ConfigError(f"-S {text}: expected key=value (e.g. -S personas.n=6)")
        try:
            value = yaml.safe_load(value_text) if value_text.strip() else ""
        except yaml.YAMLError:
            value = value_text
        _set(data, key.split("."), value, f"-S {text}", add)
    return data


__all__ = ["apply_overrides", "format_validation_error", "load_yaml", "valid_keys"]
