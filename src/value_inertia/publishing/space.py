"""The Hub Space folder: the leaderboard app, its requirements and Space metadata.

With a dataset repo the Space carries no data: the app reads the Hub dataset
(the board's source of truth) and reloads it on demand. Without one it carries
a snapshot of the published (public) tables next to the app.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from importlib import metadata
from pathlib import Path
from typing import Any

from value_inertia.core.config import ConfigError
from value_inertia.core.table_io import write_text_atomic
from value_inertia.publishing.folders import copy, folder_files, front_matter, replace_dir, require

SPACE_TITLE = "Value Inertia Leaderboard"
SPACE_DESCRIPTION = "How stable LLM values stay across role-played personas"
SNAPSHOT = (
    "data/leaderboard/leaderboard.parquet",
    "data/metrics/metrics.parquet",
    "data/metric_registry.json",
    "data/legend.md",
)
SNAPSHOT_FILES = (
    ("data/plots", "*.png"),
    ("data/metrics/raw", "*.json"),
    ("data/quality/raw", "*.json"),
)


# The Space's entry point (``app_file``): Spaces run ``python app.py`` in the repo root,
# which puts the root on ``sys.path``, so the copied ``leaderboard`` package is the one imported.
SPACE_ENTRY = '''"""The value-inertia leaderboard Space: starts the ``leaderboard`` package."""

from leaderboard.app import main

if __name__ == "__main__":
    main()
'''


def app_source(root: Path) -> Path:
    """The ``leaderboard/`` package of the project (or of this source checkout)."""
    for candidate in (
        Path(root) / "leaderboard",
        Path(__file__).resolve().parents[3] / "leaderboard",
    ):
        if (candidate / "app.py").is_file():
            return candidate
    raise ConfigError(f"{Path(root) / 'leaderboard' / 'app.py'}: not found")


def app_files(package: Path) -> list[Path]:
    """The package's Python modules (relative), without caches or anything else."""
    return sorted(p.relative_to(package) for p in package.glob("*.py"))


def version(package: str) -> str | None:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return None


def space_readme(dataset_repo: str | None = None) -> str:
    meta: dict[str, Any] = {
        "title": SPACE_TITLE,
        "emoji": "🧭",
        "colorFrom": "indigo",
        "colorTo": "green",
        "sdk": "gradio",
        "sdk_version": version("gradio") or "5.0.0",
        "app_file": "app.py",
        "pinned": False,
        "license": "apache-2.0",
        "short_description": SPACE_DESCRIPTION,
    }
    if dataset_repo:
        meta["datasets"] = [dataset_repo]
    data_line = (
        f"The data: [{dataset_repo}](https://huggingface.co/datasets/{dataset_repo}) "
        "(read at start and on *Reload data*)."
        if dataset_repo
        else "The data comes with the Space (`data/`)."
    )
    body = f"""
# {SPACE_TITLE}

How stable are a language model's value orientations when it role-plays very
different personas? The leaderboard ranks models by *value inertia* (method:
Lee, Cho & Lee 2024, [arXiv:2408.09049](https://arxiv.org/abs/2408.09049)).
{data_line}

Run it locally: `pip install gradio pandas pyarrow matplotlib huggingface_hub` and
`python app.py` (`--dataset <org>/<name>` reads a Hub dataset instead; the app is the
`leaderboard/` package).
"""
    return front_matter(meta) + body


def build_space_folder(
    root: Path,
    out_dir: Path,
    dataset_repo: str | None = None,
    dataset_folder: Path | None = None,
) -> dict[str, Any]:
    """Build the Hub Space folder ``out_dir``: the ``leaderboard/`` package whole, the entry
    ``app.py`` that starts it, requirements.txt, README.md.

    ``app_config.json`` names the dataset repo the app reads. Without a repo,
    the public tables and figures of ``dataset_folder`` (the built dataset
    folder, default ``data/hub/dataset``) are copied next to the app.
    Returns ``{"files": [...]}``.
    """
    root = Path(root)
    out_dir = Path(out_dir)
    source = Path(dataset_folder) if dataset_folder else root / "data" / "hub" / "dataset"
    if not dataset_repo:
        require(source / SNAPSHOT[0], "publish (dataset folder)")
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    build = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.build-", dir=out_dir.parent))
    try:
        package = app_source(root)
        for rel in app_files(package):
            copy(package / rel, build / "leaderboard" / rel)
        write_text_atomic(SPACE_ENTRY, build / "app.py")
        requirements = [
            f"pandas>={version('pandas') or '2.2'}",
            f"pyarrow>={version('pyarrow') or '15'}",
            f"matplotlib>={version('matplotlib') or '3.8'}",
            f"huggingface_hub>={version('huggingface_hub') or '0.24'}",
        ]
        write_text_atomic("\n".join(requirements) + "\n", build / "requirements.txt")
        write_text_atomic(space_readme(dataset_repo), build / "README.md")
        write_text_atomic(
            json.dumps({"dataset_repo": dataset_repo}, indent=2) + "\n", build / "app_config.json"
        )
        if not dataset_repo:
            for name in SNAPSHOT:
                if (source / name).exists():
                    copy(source / name, build / name)
            # per-result files the app shows (keyed by identity and protocol: nested)
            for folder, pattern in SNAPSHOT_FILES:
                for path in sorted((source / folder).rglob(pattern)):
                    rel = path.relative_to(source)
                    copy(path, build / rel)
        replace_dir(build, out_dir)
    except BaseException:
        shutil.rmtree(build, ignore_errors=True)
        raise
    return {"files": [p.as_posix() for p in folder_files(out_dir)]}
