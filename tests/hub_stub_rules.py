"""The Hub's checks of README front matter, for the fields the project writes (Hub stand-in).

What ``POST /api/validate-yaml`` of :mod:`tests.hub_stub` rejects: licence ids
outside the Hub's list (``other`` needs ``license_name`` and ``license_link``),
unknown task or size categories, language codes that are not ISO 639, dataset
configs without a valid ``config_name`` or with malformed ``data_files``, more
than one default config, and for Spaces an unknown ``sdk`` or colour, a
non-boolean ``pinned`` and a ``short_description`` over 60 characters.
"""

from __future__ import annotations

import re
from typing import Any

# The Hub's vocabularies for the front-matter fields the project writes (a subset of each).
LICENSES = frozenset(
    {"apache-2.0", "mit", "cc-by-4.0", "cc-by-sa-4.0", "cc-by-nc-4.0", "cc0-1.0", "other",
     "gemma", "llama3", "llama3.1", "openrail", "bsd-3-clause", "unknown"}
)  # fmt: skip
TASK_CATEGORIES = frozenset(
    {"question-answering", "text-generation", "text-classification", "tabular-classification",
     "summarization", "translation", "token-classification", "other"}
)  # fmt: skip
SIZE_CATEGORIES = frozenset(
    {"n<1K", "1K<n<10K", "10K<n<100K", "100K<n<1M", "1M<n<10M", "10M<n<100M", "100M<n<1B"}
)
SPACE_COLORS = frozenset({"red", "yellow", "green", "blue", "indigo", "purple", "pink", "gray"})
SPACE_SDKS = frozenset({"gradio", "streamlit", "docker", "static"})
_NAME = re.compile(r"^[A-Za-z0-9][\w.-]*$")
_SPLIT = re.compile(r"^\w+(\.\w+)*$")
_REPO_ID = re.compile(r"^[\w.-]+/[\w.-]+$")


def _strings(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(v, str) and v for v in value)


def _data_files_errors(name: str, data_files: Any) -> list[str]:
    if isinstance(data_files, str) or _strings(data_files):
        return []
    if not isinstance(data_files, list) or not data_files:
        return [f"configs[{name}].data_files: a path, a list of paths or of {{split, path}}"]
    errors = []
    for entry in data_files:
        if not isinstance(entry, dict) or set(entry) - {"split", "path"}:
            errors.append(f"configs[{name}].data_files: entries take split and path only")
            continue
        if not isinstance(entry.get("split"), str) or not _SPLIT.match(entry["split"]):
            errors.append(f"configs[{name}].data_files.split: invalid {entry.get('split')!r}")
        path = entry.get("path")
        if not (isinstance(path, str) and path) and not _strings(path):
            errors.append(f"configs[{name}].data_files.path: a path or a list of paths")
    return errors


def _license_errors(meta: dict[str, Any]) -> list[str]:
    errors = []
    licence = meta.get("license")
    if licence is not None and (not isinstance(licence, str) or licence not in LICENSES):
        errors.append(f"license: {licence!r} is not a license id the Hub knows")
    if licence == "other":
        if not isinstance(meta.get("license_name"), str) or not re.fullmatch(
            r"[a-z0-9-.]+", meta["license_name"]
        ):
            errors.append("license_name: required with license 'other' (lowercase, digits, -)")
        if not isinstance(meta.get("license_link"), str) or not meta["license_link"]:
            errors.append("license_link: required with license 'other'")
    return errors


def front_matter_errors(meta: dict[str, Any], repo_type: str) -> list[str]:
    """What the Hub rejects in README metadata, for the fields the project writes."""
    errors = _license_errors(meta)
    for key in ("pretty_name", "title", "sdk_version", "app_file", "short_description"):
        if key in meta and not isinstance(meta[key], str):
            errors.append(f"{key}: must be a string")
    for key in ("tags", "language", "task_categories", "size_categories", "datasets"):
        if key in meta and not _strings(meta[key]):
            errors.append(f"{key}: must be a list of strings")
    if _strings(meta.get("language")):
        errors += [f"language: {c!r} is not an ISO 639 code" for c in meta["language"]
                   if not re.fullmatch(r"[a-z]{2,3}(-[A-Za-z0-9]+)?", c)]  # fmt: skip
    if _strings(meta.get("task_categories")):
        errors += [f"task_categories: unknown {c!r}" for c in meta["task_categories"]
                   if c not in TASK_CATEGORIES]  # fmt: skip
    if _strings(meta.get("size_categories")):
        errors += [f"size_categories: unknown {c!r}" for c in meta["size_categories"]
                   if c not in SIZE_CATEGORIES]  # fmt: skip
    if _strings(meta.get("datasets")):
        errors += [f"datasets: {d!r} is not a repo id" for d in meta["datasets"]
                   if not _REPO_ID.match(d)]  # fmt: skip
    configs = meta.get("configs")
    if configs is not None:
        if not isinstance(configs, list):
            errors.append("configs: must be a list")
            configs = []
        names = []
        for config in configs:
            if not isinstance(config, dict) or not isinstance(config.get("config_name"), str):
                errors.append("configs: each entry needs a config_name")
                continue
            name = config["config_name"]
            names.append(name)
            if not _NAME.match(name):
                errors.append(f"configs: invalid config_name {name!r}")
            if "default" in config and not isinstance(config["default"], bool):
                errors.append(f"configs[{name}].default: must be a boolean")
            errors += _data_files_errors(name, config.get("data_files"))
        if len(names) != len(set(names)):
            errors.append("configs: config_name values must be unique")
        if sum(bool(c.get("default")) for c in configs if isinstance(c, dict)) > 1:
            errors.append("configs: at most one default config")
    if repo_type == "space":
        if meta.get("sdk") not in SPACE_SDKS:
            errors.append(f"sdk: must be one of {sorted(SPACE_SDKS)}")
        for key in ("colorFrom", "colorTo"):
            if key in meta and meta[key] not in SPACE_COLORS:
                errors.append(f"{key}: must be one of {sorted(SPACE_COLORS)}")
        if "pinned" in meta and not isinstance(meta["pinned"], bool):
            errors.append("pinned: must be a boolean")
        if len(str(meta.get("short_description", ""))) > 60:
            errors.append("short_description: at most 60 characters")
    return errors
