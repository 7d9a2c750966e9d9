"""``-S key=value`` overrides of a params document, as ``dvc exp run -S`` writes them.

``key`` is a dotted path (``personas.n``, ``models.gemma3-270m.temperature``); the
value is parsed as YAML (``3``, ``1.0``, ``[111,333]``, ``null``, ``text``), as DVC's
Hydra-style overrides parse it. ``+key=value`` adds a key, ``~key`` deletes one, and
a ``params.yaml:`` prefix (DVC's file prefix) is accepted. When ``models`` is written
as a list, ``models.<name>`` finds the entry with that ``name``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import yaml

from value_inertia.core.errors import ConfigError


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
