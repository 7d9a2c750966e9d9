"""The tables a stage reads and writes, logged as the run's inputs.

Each is logged by name, digest (DVC's md5 of the file) and source (its path), with
the context ``input`` (read) or ``output`` (written).
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

from value_inertia.core import paths
from value_inertia.tracking.provenance import file_digest


def stage_datasets(stage: str, model: str | None, root: Path) -> list[tuple[str, Path, str]]:
    """(name, file, context) of the tables a stage reads ("input") or writes ("output")."""
    personas = ("personas", paths.personas_path(root))
    prompts = ("prompts", paths.prompts_path(root))
    out: list[tuple[str, Path, str]] = []
    if stage == "personas":
        out.append((*personas, "output"))
    elif stage == "prompts":
        out += [(*personas, "input"), (*prompts, "output")]
    elif model and stage == "evaluate":
        out += [
            (*prompts, "input"),
            (f"responses/{model}", paths.responses_path(model, root), "output"),
        ]
    elif model and stage == "parse":
        out += [
            (*prompts, "input"),
            (f"responses/{model}", paths.responses_path(model, root), "input"),
        ]
    elif model and stage in ("analyze", "cluster", "quality"):
        out += [(*personas, "input"), (f"parsed/{model}", paths.parsed_path(model, root), "input")]
    return out


def log_datasets(mlflow: Any, entries: list[tuple[str, Path, str]], root: Path) -> None:
    """Log the ``entries`` whose files exist as the active run's inputs."""
    from mlflow.data.dataset_source_registry import resolve_dataset_source
    from mlflow.data.meta_dataset import MetaDataset

    datasets, contexts = [], []
    for name, path, context in entries:
        if not path.exists():
            continue
        try:
            with warnings.catch_warnings():  # "can be interpreted in multiple ways": all local
                warnings.simplefilter("ignore")
                source = resolve_dataset_source(str(path))
        except Exception:
            continue
        # mlflow documents MetaDataset as instantiable; its stub marks `profile` abstract
        meta = MetaDataset(source, name=name, digest=file_digest(path))  # type: ignore[abstract]
        datasets.append(meta)
        contexts.append(context)
    if datasets:
        mlflow.log_inputs(datasets=datasets, contexts=contexts, tags_list=[None] * len(datasets))
