"""The Hub dataset folder of one run: tables, raw JSON, figures, registry, card.

:func:`build_dataset_folder` turns the pipeline's outputs into a folder that is
a complete Hub *dataset* repo for this run's results; :mod:`.push` merges it
with what the Hub dataset already holds before it is committed.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

import value_inertia.analysis  # noqa: F401  (its modules register the metrics read here)
from value_inertia.core import paths
from value_inertia.core.config import Params
from value_inertia.core.errors import InputError
from value_inertia.core.naming import artifact_stem
from value_inertia.core.redaction import redact
from value_inertia.core.registry import registry_records
from value_inertia.core.table_io import read_frame, write_table, write_text_atomic
from value_inertia.design.questionnaires import load_questionnaires
from value_inertia.publishing import card as card_mod
from value_inertia.publishing.board import (
    load_current_inputs,
    load_quality_reports,
    load_variant_reports,
)
from value_inertia.publishing.folders import copy, folder_files, replace_dir, require
from value_inertia.publishing.hub_tables import (
    ASSIGNMENTS_SCHEMA,
    CLUSTERS_SCHEMA,
    METRICS_SCHEMA,
    QUALITY_SCHEMA,
    cluster_rows,
    frame_table,
    metrics_rows,
    models_table,
    package_version,
    public_model,
    quality_rows,
    results_frame,
    scrub,
)
from value_inertia.tracking import git_commit, params_hash

REGISTRY_FILE = "data/metric_registry.json"


def default_provenance(root: Path, params: Params) -> dict[str, Any]:
    return {
        "contributor": None,  # the Hub user, filled in at push time (whoami)
        "git_commit": git_commit(root),
        "package_version": package_version(),
        "mlflow_run_id": None,
        "published_at": datetime.now(UTC).date().isoformat(),
        "params_hash": params_hash(params.model_dump(mode="json", by_alias=True)),
    }


def _write_json(data: Any, path: Path) -> None:
    write_text_atomic(redact(json.dumps(scrub(data), indent=2, sort_keys=True)) + "\n", path)


def _rows(path: Path) -> int:
    return int(pq.ParquetFile(path).metadata.num_rows)


def build_dataset_folder(
    root: Path, out_dir: Path, params: Params, provenance: dict[str, Any] | None = None
) -> dict[str, Any]:
    """Build the Hub dataset repo folder ``out_dir`` from the project at ``root``.

    Reads personas, prompts, responses and parsed answers of every model in
    ``params.models``, the metrics, cluster summaries and assignments, quality
    reports and figures (each required input must exist: a missing one is a
    :class:`InputError` naming the file and the stage that makes it). The
    folder is built aside and swapped in. Returns ``{"configs": {name: {"path",
    "rows"}}, "files": [...]}``.
    """
    root = Path(root)
    out_dir = Path(out_dir)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    build = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.build-", dir=out_dir.parent))
    try:
        _fill(root, build, params, {**default_provenance(root, params), **(provenance or {})})
        replace_dir(build, out_dir)
    except BaseException:
        shutil.rmtree(build, ignore_errors=True)
        raise
    rows = card_mod.manifest_rows(out_dir)
    return {
        "configs": {n: {"path": p, "rows": rows[p]} for n, p, _ in card_mod.configs_of(rows)},
        "files": [p.as_posix() for p in folder_files(out_dir)],
    }


def _fill(root: Path, folder: Path, params: Params, provenance: dict[str, Any]) -> None:
    model_names = [m.name for m in params.models]
    questionnaire_ids = list(params.prompts.questionnaires)
    data = folder / "data"
    copy(require(paths.personas_path(root), "personas"), data / "personas/personas.parquet")
    copy(require(paths.prompts_path(root), "prompts"), data / "prompts/prompts.parquet")
    for model in model_names:
        copy(
            require(paths.responses_path(model, root), f"evaluate (model {model})"),
            data / "responses" / f"{model}.parquet",
        )
        copy(
            require(paths.parsed_path(model, root), f"parse (model {model})"),
            data / "parsed" / f"{model}.parquet",
        )

    metrics, clusters, _specs = load_current_inputs(root, model_names, questionnaire_ids)
    if not metrics:
        raise InputError(f"{paths.metrics_dir(root)}: no metrics; run the analyze stage first")

    quality_reports = {k: r for k, r in load_quality_reports(root).items() if k[0] in model_names}
    date = str(provenance.get("published_at"))
    board = results_frame(metrics, clusters, params, provenance, date, quality_reports)
    write_table(frame_table(board), data / "leaderboard/leaderboard.parquet")
    write_text_atomic(
        board.to_csv(index=False, lineterminator="\n"), data / "leaderboard/leaderboard.csv"
    )

    ids = {
        (r.model, r.questionnaire, r.variant): {
            "model_key": r.model_key,
            "protocol_hash": r.protocol_hash,
        }
        for r in board.itertuples(index=False)
    }
    write_table(
        pa.Table.from_pylist(metrics_rows(metrics, ids), schema=METRICS_SCHEMA),
        data / "metrics/metrics.parquet",
    )
    for m in metrics:
        stem = artifact_stem(m["model"], m["questionnaire"], str(m.get("variant") or "original"))
        _write_json(m, data / "metrics" / "raw" / f"{stem}.json")

    cluster_ids = {
        (m, q): {"model_key": v["model_key"], "protocol_hash": v["protocol_hash"]}
        for (m, q, variant), v in ids.items()
        if variant == "original"
    }
    clusters = [c for c in clusters if (c["model"], c["questionnaire"]) in cluster_ids]
    write_table(
        pa.Table.from_pylist(cluster_rows(clusters, cluster_ids), schema=CLUSTERS_SCHEMA),
        data / "clusters/clusters.parquet",
    )
    assignments = []
    for c in clusters:
        src = paths.clusters_dir(root) / f"{c['model']}__{c['questionnaire']}.parquet"
        if src.exists():
            frame = read_frame(src, f"cluster (model {c['model']})")
            for col, value in reversed(
                [
                    ("model", c["model"]),
                    *cluster_ids[(c["model"], c["questionnaire"])].items(),
                    ("questionnaire", c["questionnaire"]),
                ]
            ):
                frame.insert(0, col, value)
            assignments.append(frame[[f.name for f in ASSIGNMENTS_SCHEMA]])
        _write_json(c, data / "clusters" / "raw" / f"{c['model']}__{c['questionnaire']}.json")
    frame = (
        pd.concat(assignments, ignore_index=True)
        if assignments
        else pd.DataFrame(columns=[f.name for f in ASSIGNMENTS_SCHEMA])
    )
    write_table(
        pa.Table.from_pandas(frame, schema=ASSIGNMENTS_SCHEMA, preserve_index=False),
        data / "clusters/assignments.parquet",
    )

    write_table(
        models_table(public_model(m) for m in params.models), data / "models/models.parquet"
    )

    quality = quality_rows(quality_reports, ids)
    if quality:  # the `quality` config: one row per result with a quality report
        write_table(
            pa.Table.from_pylist(quality, schema=QUALITY_SCHEMA), data / "quality/quality.parquet"
        )
    for (model, questionnaire, variant), report in quality_reports.items():
        stem = artifact_stem(model, questionnaire, variant)
        _write_json(report, data / "quality" / "raw" / f"{stem}.json")
    # each prompt variant against original (value_inertia.analysis.variants), validated
    for (model, questionnaire), variants in load_variant_reports(root).items():
        if model in model_names:
            stem = artifact_stem(model, questionnaire)
            _write_json(variants.model_dump(mode="json"), data / "variants" / f"{stem}.json")

    for png in sorted(paths.plots_dir(root).glob("*__*__*.png")):
        if png.name.split("__", 1)[0] in model_names:
            copy(png, data / "plots" / png.name)

    write_text_atomic(json.dumps(registry_records(), indent=2) + "\n", folder / REGISTRY_FILE)
    rows = {p.as_posix(): _rows(folder / p) for p in folder_files(folder) if p.suffix == ".parquet"}
    card_mod.write_manifest(folder, rows)
    questionnaires = load_questionnaires(questionnaire_ids, root)
    card_mod.write_card(folder, questionnaires, params.hub.dataset_repo)
