"""File helpers shared by the publishing modules: slugs, manifests, front matter."""

from __future__ import annotations

import hashlib
import re
import shutil
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import yaml

from value_inertia.core.errors import InputError
from value_inertia.core.table_io import file_hash

CONFIG_NAME_PATTERN = re.compile(r"^[A-Za-z0-9_-]+$")


def config_slug(name: str) -> str:
    """``name`` with every character outside ``[A-Za-z0-9_-]`` replaced by ``_``."""
    return re.sub(r"[^A-Za-z0-9_-]", "_", name)


def model_slugs(models: Iterable[str]) -> dict[str, str]:
    """A distinct config-safe slug per model (a short hash is added on a collision)."""
    names = list(dict.fromkeys(models))
    plain = [config_slug(n) for n in names]
    out = {}
    for name, slug in zip(names, plain, strict=True):
        if plain.count(slug) > 1:
            slug = f"{slug}-{hashlib.sha256(name.encode()).hexdigest()[:6]}"
        out[name] = slug
    return out


def sha256_file(path: Path) -> str:
    return file_hash(path, "sha256")


def folder_files(folder: Path) -> list[Path]:
    """Every regular file below ``folder`` (relative, POSIX order)."""
    return sorted(
        (p.relative_to(folder) for p in Path(folder).rglob("*") if p.is_file()),
        key=lambda p: p.as_posix(),
    )


def file_manifest(folder: Path) -> list[dict[str, Any]]:
    """``[{path, size, sha256}]`` of every file below ``folder`` (for the publish report)."""
    return [
        {
            "path": rel.as_posix(),
            "size": (folder / rel).stat().st_size,
            "sha256": sha256_file(folder / rel),
        }
        for rel in folder_files(folder)
    ]


def require(path: Path, stage: str) -> Path:
    if not path.exists():
        raise InputError(f"{path}: not found; run the {stage} stage first")
    return path


def rel_to(path: Path, root: Path) -> str:
    try:
        return path.resolve().relative_to(root.resolve()).as_posix()
    except ValueError:
        return str(path)


def replace_dir(build: Path, out_dir: Path) -> None:
    """Swap the freshly built folder into place (stale files from earlier runs go)."""
    if out_dir.exists():
        old = out_dir.with_name(f".{out_dir.name}.old")
        shutil.rmtree(old, ignore_errors=True)
        out_dir.rename(old)
        build.rename(out_dir)
        shutil.rmtree(old, ignore_errors=True)
    else:
        build.rename(out_dir)


def copy(src: Path, dest: Path) -> None:
    dest.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(src, dest)


def front_matter(meta: Mapping[str, Any]) -> str:
    dumped = yaml.safe_dump(dict(meta), sort_keys=False, allow_unicode=True, width=1000)
    return f"---\n{dumped}---\n"


def size_category(n_rows: int) -> str:
    for limit, label in (
        (1_000, "n<1K"),
        (10_000, "1K<n<10K"),
        (100_000, "10K<n<100K"),
        (1_000_000, "100K<n<1M"),
        (10_000_000, "1M<n<10M"),
    ):
        if n_rows < limit:
            return label
    return "10M<n<100M"
