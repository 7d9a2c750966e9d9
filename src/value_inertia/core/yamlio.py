"""Reading YAML input files and turning validation errors into one line per problem.

Every YAML input (``params.yaml``, questionnaires, the persona schema) is read by
:func:`load_yaml` and validated by a pydantic model; :func:`format_validation_error`
renders each problem as ``<file>: <key path>: <what is wrong>``, with the closest
valid key for an unknown one.
"""

from __future__ import annotations

import difflib
import re
import types
import typing
from pathlib import Path

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


__all__ = ["format_validation_error", "load_yaml", "valid_keys"]
