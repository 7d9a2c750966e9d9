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
from value_inertia.core.config import ConfigError, Params
from value_inertia.core.errors import InputError
from value_inertia.core.redaction import redact
from value_inertia.core.table_io import read_frame, write_table, write_text_atomic
from value_inertia.design.questionnaires import load_questionnaires
from value_inertia.publishing import card as card_mod
from value_inertia.publishing.board.inputs import (
    load_current_inputs,
    load_extras,
    load_variant_reports,
)
from value_inertia.publishing.board.markdown import write_registry
from value_inertia.publishing.card_columns import undescribed_columns
from value_inertia.publishing.configs import config_rows, configs_of, model_names_of
from value_inertia.publishing.folders import copy, folder_files, replace_dir, require
from value_inertia.publishing.privacy import private_strings, scrub, scrub_errors
from value_inertia.publishing.tables.identity import plot_file, recorded_weights, result_file
from value_inertia.publishing.tables.merge import RESULT_KEY, frame_table
from value_inertia.publishing.tables.public import (
    models_table,
    package_version,
    public_model,
)
from value_inertia.publishing.tables.results import results_frame
from value_inertia.publishing.tables.rows import (
    ASSIGNMENTS_SCHEMA,
    CLUSTERS_SCHEMA,
    QUALITY_SCHEMA,
    cluster_rows,
    metrics_rows,
    metrics_schema,
    quality_rows,
)
from value_inertia.tracking.experiment import EXPERIMENT, tracking_uri
from value_inertia.tracking.provenance import git_commit, params_hash

# what splits a model's answers into results (one file per result)
RESULT_COLUMNS = ("questionnaire", "variant")


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
    configs = configs_of(rows, model_names_of(out_dir))
    return {
        "configs": {n: {"path": p, "rows": config_rows(rows, p)} for n, p, _ in configs},
        "files": [p.as_posix() for p in folder_files(out_dir)],
    }


def _fill(root: Path, folder: Path, params: Params, provenance: dict[str, Any]) -> None:
    model_names = [m.name for m in params.models]
    questionnaire_ids = list(params.prompts.questionnaires)
    data = folder / "data"
    copy(require(paths.personas_path(root), "personas"), data / "personas/personas.parquet")
    copy(require(paths.prompts_path(root), "prompts"), data / "prompts/prompts.parquet")
    private = private_strings(params.models)
    for model in model_names:
        require(paths.responses_path(model, root), f"evaluate (model {model})")
        require(paths.parsed_path(model, root), f"parse (model {model})")

    metrics, clusters, _specs = load_current_inputs(root, model_names, questionnaire_ids)
    if not metrics:
        raise InputError(f"{paths.metrics_dir(root)}: no metrics; run the analyze stage first")

    all_quality, spend = load_extras(root)
    quality_reports = {k: r for k, r in all_quality.items() if k[0] in model_names}
    variant_reports = {k: r for k, r in load_variant_reports(root).items() if k[0] in model_names}
    weights = {name: recorded_weights(name, root) for name in model_names}
    date = str(provenance.get("published_at"))
    board = results_frame(
        metrics,
        clusters,
        params,
        provenance,
        date,
        quality_reports,
        weights=weights,
        variants=variant_reports,
        spend={name: record for name, record in spend.items() if name in model_names},
    )
    check_distinct_results(board)
    board["mlflow_run_id"] = analysis_runs(root, board)
    board = drop_empty_columns(board)
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

    def file_of(kind: str, model: str, questionnaire: str, variant: str, ext: str) -> Path:
        key = owner(model, questionnaire, variant)
        assert key is not None, (model, questionnaire, variant)  # callers publish results only
        rel = result_file(kind, key["model_key"], questionnaire, variant, key["protocol_hash"], ext)
        return folder / rel

    def owner(model: str, questionnaire: str, variant: str) -> dict[str, str] | None:
        """The identity and protocol the answers of (model, questionnaire, variant) are
        published under: their own result's, else (a variant analysed only as part of
        the original result, e.g. the shuffled options of the position-bias check) the
        original result's."""
        return ids.get((model, questionnaire, variant)) or ids.get(
            (model, questionnaire, "original")
        )

    prompts = pd.read_parquet(paths.prompts_path(root), columns=["prompt_id", *RESULT_COLUMNS])
    for model in model_names:
        responses = pd.read_parquet(paths.responses_path(model, root))
        responses = responses.merge(prompts, on="prompt_id", how="left")
        parsed = pd.read_parquet(paths.parsed_path(model, root))
        # error texts may name the served model, a path or the host
        responses = scrub_errors(responses, private)
        for kind, frame in (("responses", responses), ("parsed", parsed)):
            for (questionnaire, variant), rows in frame.groupby(list(RESULT_COLUMNS)):
                key = owner(model, questionnaire, variant)
                if key is None:
                    continue  # answers of no published result
                rows = rows.assign(**key).reset_index(drop=True)
                path = file_of(kind, model, questionnaire, variant, "parquet")
                write_table(pa.Table.from_pandas(rows, preserve_index=False), path)

    write_table(
        pa.Table.from_pylist(metrics_rows(metrics, ids), schema=metrics_schema()),
        data / "metrics/metrics.parquet",
    )
    for m in metrics:
        variant = str(m.get("variant") or "original")
        _write_json(m, file_of("metrics/raw", m["model"], m["questionnaire"], variant, "json"))

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
        _write_json(c, file_of("clusters/raw", c["model"], c["questionnaire"], "original", "json"))
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
        models_table(public_model(m, weights.get(m.name)) for m in params.models),
        data / "models/models.parquet",
    )

    quality = quality_rows(quality_reports, ids)
    if quality:  # the `quality` config: one row per result with a quality report
        write_table(
            pa.Table.from_pylist(quality, schema=QUALITY_SCHEMA), data / "quality/quality.parquet"
        )
    for (model, questionnaire, variant), report in quality_reports.items():
        if (model, questionnaire, variant) in ids:
            path = file_of("quality/raw", model, questionnaire, variant, "json")
            # validated on read; published with the keys the file has (no defaults added)
            _write_json(report.model_dump(mode="json", exclude_unset=True), path)
    # each prompt variant against original (value_inertia.analysis.variants), validated
    for (model, questionnaire), variants in variant_reports.items():
        if (model, questionnaire, "original") in ids:
            path = file_of("variants", model, questionnaire, "original", "json")
            _write_json(variants.model_dump(mode="json"), path)

    for png in sorted(paths.plots_dir(root).glob("*__*__*.png")):
        parts = png.stem.split("__")
        variant = parts[2] if len(parts) == 4 else "original"
        if len(parts) in (3, 4) and (parts[0], parts[1], variant) in ids:
            key = ids[(parts[0], parts[1], variant)]
            rel = plot_file(key["model_key"], parts[1], variant, key["protocol_hash"], parts[-1])
            copy(png, folder / rel)

    # the registry and the legend rendered from it (data/metric_registry.json, data/legend.md)
    write_registry(folder / "data", params.leaderboard.rank_by)
    rows = {p.as_posix(): _rows(folder / p) for p in folder_files(folder) if p.suffix == ".parquet"}
    card_mod.write_manifest(folder, rows)
    undescribed = undescribed_columns(folder, rows)
    if undescribed:  # the card describes every column (publishing/card_columns.py)
        raise ConfigError(
            f"{', '.join(undescribed)}: no description for the dataset card; add one to "
            "COLUMNS in value_inertia/publishing/card_columns.py"
        )
    questionnaires = load_questionnaires(questionnaire_ids, root)
    card_mod.write_card(folder, questionnaires, params.hub.dataset_repo)


def check_distinct_results(board: pd.DataFrame) -> None:
    """Two models of one run that are the same model measured the same way (one identity,
    one protocol) would publish into the same files: a :class:`ConfigError` naming them."""
    key = ["model_key", "questionnaire", "variant", "protocol_hash"]
    twins = board[board.duplicated(key, keep=False)]
    if not twins.empty:
        names = ", ".join(sorted(set(twins["model"].astype(str))))
        raise ConfigError(
            f"models {names}: the same model (identity {twins['model_key'].iloc[0]}) measured "
            "under the same protocol twice; keep one of them in params.yaml `models`"
        )


# columns every published board has, null or not (see drop_empty_columns)
ALWAYS_PUBLISHED = (
    "rank",
    "rank_label",
    "tie_group",
    "inertia",
    "inertia_ci_low",
    "inertia_ci_high",
)


def drop_empty_columns(board: pd.DataFrame) -> pd.DataFrame:
    """The board without columns no row has a value in (optional metadata nobody gave, a
    figure no model has): the published leaderboard has no always-empty column. The push
    adds ``contributor``; merged boards keep a column while some row has it. The ranking
    and the inertia CI always stay: null there says "not ranked" / "not measured" (a run
    below the minimum number of personas), which readers of the board rely on."""
    keep = {*RESULT_KEY, *ALWAYS_PUBLISHED}
    empty = [c for c in board.columns if board[c].isna().all() and c not in keep]
    return board.drop(columns=empty)


def analysis_runs(root: Path, board: pd.DataFrame) -> list[str | None]:
    """The MLflow run of the analysis that made each board row: the newest ``analyze`` run
    with the row's model, questionnaire, variant and protocol hash (None where the tracking
    store has none). Read only: no tracking store is created here."""
    none: list[str | None] = [None] * len(board)
    uri = tracking_uri(root)
    if uri.startswith("sqlite:///") and not Path(uri.removeprefix("sqlite:///")).exists():
        return none
    import mlflow  # deferred: about a second of start-up, only when there is a store

    client = mlflow.MlflowClient(uri)
    experiment = client.get_experiment_by_name(EXPERIMENT)
    if experiment is None:
        return none
    out: list[str | None] = []
    for row in board.itertuples(index=False):
        tags = {
            "stage": "analyze",
            "model": row.model,
            "questionnaire": row.questionnaire,
            "variant": row.variant,
            "protocol_hash": row.protocol_hash,
        }
        runs = client.search_runs(
            [experiment.experiment_id],
            " and ".join(f"tags.{k} = '{v}'" for k, v in tags.items()),
            order_by=["attributes.start_time DESC"],
            max_results=1,
        )
        out.append(runs[0].info.run_id if runs else None)
    return out
