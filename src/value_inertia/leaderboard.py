"""The leaderboard: one row per (model, questionnaire), ranked within each questionnaire.

Input is what the analysis and cluster stages wrote: the metrics dict of each
(model, questionnaire) (``data/metrics/<model>__<questionnaire>.json``, see
:func:`value_inertia.analysis.analyze`), the cluster summaries
(``data/clusters/<model>__<questionnaire>.json``) and the model specs
(``data/models/<model>.json``).

Columns (in this order)
-----------------------
``rank``
    1 = the most value-inert model of the questionnaire (see *Ranking*).
``model``, ``questionnaire``
    The model's pipeline name and the questionnaire id.
``inertia``, ``steerability``, ``top2``, ``top1``
    Overall values: the unweighted mean over the questionnaire's value
    dimensions of the per-dimension inertia index ``I(d) = 1 - H(p_d)/log2 6``,
    steerability ``S(d) = JSD_2(p_d^baseline, p_d^persona)``, top-2
    concentration and top-1 share of the pooled answer distribution ``p_d``.
``seed_stability``
    Mean Pearson r of per-item mean ratings between persona seeds (null with
    one seed).
``parse_rate``, ``letter_mass``
    Share of answers with a usable distribution; mean probability mass on the
    option letters (``logprobs`` mode only, else null).
``n_personas``, ``n_seeds``, ``personas_per_seed``, ``repeats``, ``samples``, ``design``
    The size of the run; ``design`` reads "200 personas x 3 seeds x 1 repeats".
``clusters``, ``silhouette``
    Number of persona clusters chosen by silhouette and that silhouette (null
    when no cluster summary exists or clustering was not possible).
``model_id``, ``backend``, ``mode``, ``api``, ``temperature``
    From the model spec (``model_id`` is the backend's model name).
``date``, ``params_hash``
    When the leaderboard was built and the hash of the parameters behind it.
``inertia:<dimension>``, ``steerability:<dimension>``
    Per-dimension values, dimensions in scoring-key order, questionnaires in
    sorted order; null for the dimensions of other questionnaires.

Ranking
-------
Ranks are given within each questionnaire and order models from the most to
the least value-inert. ``rank_by`` (params ``leaderboard.rank_by``) picks the
primary indicator; the default is ``inertia``:

* ``inertia`` (default): overall inertia descending, ties by steerability
  ascending, then top-2 descending;
* ``steerability``: overall steerability ascending (least moved by personas
  first), ties by inertia descending, then top-2 descending;
* ``top2``: overall top-2 concentration descending, ties by inertia
  descending, then steerability ascending.

Remaining ties go by model name (ascending). A missing value ranks after every
present one. Ranks are 1..n without gaps (ordinal).
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from value_inertia.paths import clusters_dir, metrics_dir, model_specs_dir
from value_inertia.tables import read_json, write_frame, write_text_atomic

RANK_BY: tuple[str, ...] = ("inertia", "steerability", "top2")

# (column, primary direction) for each rank_by; True = descending.
RANK_KEYS: dict[str, list[tuple[str, bool]]] = {
    "inertia": [("inertia", True), ("steerability", False), ("top2", True)],
    "steerability": [("steerability", False), ("inertia", True), ("top2", True)],
    "top2": [("top2", True), ("inertia", True), ("steerability", False)],
}

FIXED_FIELDS: list[pa.Field] = [
    pa.field("rank", pa.int64(), nullable=False),
    pa.field("model", pa.string(), nullable=False),
    pa.field("questionnaire", pa.string(), nullable=False),
    pa.field("inertia", pa.float64()),
    pa.field("steerability", pa.float64()),
    pa.field("top2", pa.float64()),
    pa.field("top1", pa.float64()),
    pa.field("seed_stability", pa.float64()),
    pa.field("parse_rate", pa.float64()),
    pa.field("letter_mass", pa.float64()),
    pa.field("n_personas", pa.int64()),
    pa.field("n_seeds", pa.int64()),
    pa.field("personas_per_seed", pa.int64()),
    pa.field("repeats", pa.int64()),
    pa.field("samples", pa.int64()),
    pa.field("design", pa.string()),
    pa.field("clusters", pa.int64()),
    pa.field("silhouette", pa.float64()),
    pa.field("model_id", pa.string()),
    pa.field("backend", pa.string()),
    pa.field("mode", pa.string()),
    pa.field("api", pa.string()),
    pa.field("temperature", pa.float64()),
    pa.field("date", pa.string(), nullable=False),
    pa.field("params_hash", pa.string(), nullable=False),
]
FIXED_COLUMNS: list[str] = [f.name for f in FIXED_FIELDS]
INT_COLUMNS = [f.name for f in FIXED_FIELDS if pa.types.is_integer(f.type)]
FLOAT_COLUMNS = [f.name for f in FIXED_FIELDS if pa.types.is_floating(f.type)]
STRING_COLUMNS = [f.name for f in FIXED_FIELDS if pa.types.is_string(f.type)]
DIMENSION_METRICS: tuple[str, ...] = ("inertia", "steerability")

# Columns of the Markdown summary table: (column, header).
MARKDOWN_COLUMNS: list[tuple[str, str]] = [
    ("rank", "rank"),
    ("model", "model"),
    ("inertia", "inertia"),
    ("steerability", "steerability"),
    ("top2", "top-2"),
    ("parse_rate", "parse rate"),
    ("letter_mass", "letter mass"),
    ("design", "personas x seeds x repeats"),
    ("clusters", "clusters"),
    ("silhouette", "silhouette"),
    ("model_id", "model id"),
    ("backend", "backend"),
    ("mode", "mode"),
]

LEGEND = """\
**What the numbers mean.** *Inertia* `I = 1 - H(p)/log2(6)` of the answer
distribution `p` over the six options, pooled over all personas (1: every
persona gives the same answer; 0: answers spread uniformly). *Steerability* is
the Jensen-Shannon divergence (base 2, 0-1) between the answers without a
persona and with personas (0: personas change nothing). *Top-2* is the share of
the two most frequent options. Overall values are means over the
questionnaire's value dimensions. *Parse rate*: share of answers that gave a
usable option; *letter mass*: probability the model put on the option letters
(logprobs mode). *Clusters*/*silhouette*: persona clusters of the response
pattern chosen by silhouette (higher silhouette: more distinct groups).
Rank 1 is the most value-inert model (ranked by {rank_by})."""


def dimension_column(metric: str, dimension: str) -> str:
    """``inertia:Harm``: the column of one per-dimension metric."""
    return f"{metric}:{dimension}"


def _number(value: Any) -> float | None:
    if value is None or isinstance(value, bool):
        return None
    try:
        out = float(value)
    except (TypeError, ValueError):
        return None
    return out if math.isfinite(out) else None


def _integer(value: Any) -> int | None:
    number = _number(value)
    return int(round(number)) if number is not None else None


def _mean(values: Iterable[Any]) -> float | None:
    finite = [v for v in (_number(x) for x in values) if v is not None]
    return float(np.mean(finite)) if finite else None


def _key(record: Mapping[str, Any], source: str) -> tuple[str, str]:
    model, questionnaire = record.get("model"), record.get("questionnaire")
    if not isinstance(model, str) or not model or not isinstance(questionnaire, str):
        raise ValueError(f"{source}: needs string keys 'model' and 'questionnaire'")
    return model, questionnaire


def _design(personas_per_seed: int | None, n_seeds: int, repeats: int | None) -> str:
    def fmt(value: int | None) -> str:
        return "?" if value is None else str(value)

    return f"{fmt(personas_per_seed)} personas x {n_seeds} seeds x {fmt(repeats)} repeats"


def _row(
    metrics: Mapping[str, Any],
    cluster: Mapping[str, Any] | None,
    spec: Mapping[str, Any] | None,
    params_hash: str,
    date: str,
) -> dict[str, Any]:
    model, questionnaire = _key(metrics, "metrics")
    overall = metrics.get("overall") or {}
    dimensions: Mapping[str, Mapping[str, Any]] = metrics.get("dimensions") or {}
    spec = spec or {}
    seeds = list(metrics.get("seeds") or [])
    n_personas = _integer(metrics.get("n_personas"))
    n_seeds = len(seeds) if seeds else 1
    per_seed = None if n_personas is None else int(round(n_personas / n_seeds))
    repeats = _integer(metrics.get("repeats"))

    def overall_value(key: str) -> float | None:
        # The mean over dimensions; recomputed when the metrics dict lacks it.
        value = _number(overall.get(key))
        if value is None:
            value = _mean(d.get(key) for d in dimensions.values())
        return value

    row: dict[str, Any] = {
        "rank": 0,
        "model": model,
        "questionnaire": questionnaire,
        "inertia": overall_value("inertia"),
        "steerability": overall_value("steerability"),
        "top2": overall_value("top2"),
        "top1": overall_value("top1"),
        "seed_stability": _mean((metrics.get("seed_stability") or {}).values()),
        "parse_rate": _number(metrics.get("parse_rate")),
        "letter_mass": _number(metrics.get("letter_mass")),
        "n_personas": n_personas,
        "n_seeds": n_seeds,
        "personas_per_seed": per_seed,
        "repeats": repeats,
        "samples": _integer(metrics.get("samples")),
        "design": _design(per_seed, n_seeds, repeats),
        "clusters": _integer(cluster.get("k")) if cluster else None,
        "silhouette": _number(cluster.get("silhouette")) if cluster else None,
        "model_id": spec.get("model"),
        "backend": spec.get("backend"),
        "mode": spec.get("mode") or metrics.get("mode") or None,
        "api": spec.get("api"),
        "temperature": _number(spec.get("temperature")),
        "date": date,
        "params_hash": params_hash,
    }
    for dim, values in dimensions.items():
        for metric in DIMENSION_METRICS:
            row[dimension_column(metric, dim)] = _number(values.get(metric))
    return row


def rank_within(frame: pd.DataFrame, rank_by: str) -> pd.Series:
    """Ordinal ranks 1..n within each questionnaire (see the module docstring)."""
    if rank_by not in RANK_KEYS:
        raise ValueError(f"leaderboard.rank_by: {rank_by!r}; allowed: {', '.join(RANK_BY)}")
    ranks = pd.Series(0, index=frame.index, dtype="int64")
    for _, group in frame.groupby("questionnaire", sort=True):

        def sort_key(idx: Any, group: pd.DataFrame = group) -> tuple[Any, ...]:
            key: list[Any] = []
            for column, descending in RANK_KEYS[rank_by]:
                value = _number(group.at[idx, column])
                # Missing values last; otherwise ascending on the (signed) value.
                key.append((1, 0.0) if value is None else (0, -value if descending else value))
            key.append(str(group.at[idx, "model"]))
            return tuple(key)

        for position, idx in enumerate(sorted(group.index, key=sort_key), start=1):
            ranks.at[idx] = position
    return ranks


def build_leaderboard(
    metrics: list[dict],
    clusters: list[dict],
    models: dict[str, dict],
    params_hash: str,
    rank_by: str,
    date: str,
) -> pd.DataFrame:
    """One row per (model, questionnaire), ranked within each questionnaire.

    ``metrics``: analyze() dicts; ``clusters``: cluster summaries with keys
    ``model`` and ``questionnaire``; ``models``: model specs by name. Rows are
    sorted by questionnaire, then rank. See the module docstring for columns
    and ranking.
    """
    if rank_by not in RANK_KEYS:
        raise ValueError(f"leaderboard.rank_by: {rank_by!r}; allowed: {', '.join(RANK_BY)}")
    by_key: dict[tuple[str, str], Mapping[str, Any]] = {}
    for i, record in enumerate(clusters):
        by_key[_key(record, f"clusters[{i}]")] = record
    seen: set[tuple[str, str]] = set()
    rows = []
    dim_columns: dict[str, list[str]] = {}
    for i, record in enumerate(metrics):
        key = _key(record, f"metrics[{i}]")
        if key in seen:
            raise ValueError(f"metrics: two entries for model {key[0]!r}, questionnaire {key[1]!r}")
        seen.add(key)
        rows.append(_row(record, by_key.get(key), models.get(key[0]), params_hash, date))
        dims = dim_columns.setdefault(key[1], [])
        for dim in record.get("dimensions") or {}:
            if dim not in dims:
                dims.append(dim)
    extra = [
        dimension_column(metric, dim)
        for questionnaire in sorted(dim_columns)
        for dim in dim_columns[questionnaire]
        for metric in DIMENSION_METRICS
    ]
    extra = list(dict.fromkeys(extra))
    frame = pd.DataFrame.from_records(rows, columns=FIXED_COLUMNS + extra)
    frame = _coerce(frame)
    if len(frame):
        frame["rank"] = rank_within(frame, rank_by)
        frame = frame.sort_values(["questionnaire", "rank"], kind="stable")
    return frame.reset_index(drop=True)


def _coerce(frame: pd.DataFrame) -> pd.DataFrame:
    frame = frame.copy()
    for column in frame.columns:
        if column in INT_COLUMNS:
            frame[column] = pd.array(
                [None if _integer(v) is None else _integer(v) for v in frame[column]],
                dtype="Int64",
            )
        elif column in STRING_COLUMNS:
            frame[column] = frame[column].astype(object).where(frame[column].notna(), None)
        else:
            frame[column] = pd.to_numeric(frame[column], errors="coerce").astype("float64")
    return frame


def arrow_schema(columns: Sequence[str]) -> pa.Schema:
    """The leaderboard's Parquet schema: the fixed fields plus float64 dimension columns."""
    fields = list(FIXED_FIELDS)
    for column in columns:
        if column not in FIXED_COLUMNS:
            fields.append(pa.field(column, pa.float64()))
    return pa.schema(fields)


def _read_json(path: Path) -> Any:
    stage = {"metrics": "analyze", "clusters": "cluster"}.get(path.parent.name, "models")
    return read_json(path, stage)  # a damaged file: InputError naming it


def load_inputs(root: Path) -> tuple[list[dict], list[dict], dict[str, dict]]:
    """Read metrics, cluster summaries and model specs below ``root``.

    Only ``<model>__<questionnaire>.json`` files holding a dict with ``model``
    and ``questionnaire`` count as metrics / cluster summaries. Cluster
    summaries without those keys get them from the file name.
    """
    metrics: list[dict] = []
    for path in sorted(metrics_dir(root).glob("*__*.json")):
        data = _read_json(path)
        if isinstance(data, dict) and "model" in data and "questionnaire" in data:
            metrics.append(data)
    clusters: list[dict] = []
    for path in sorted(clusters_dir(root).glob("*__*.json")):
        data = _read_json(path)
        if not isinstance(data, dict):
            continue
        model, _, questionnaire = path.stem.partition("__")
        data.setdefault("model", model)
        data.setdefault("questionnaire", questionnaire)
        clusters.append(data)
    models: dict[str, dict] = {}
    for path in sorted(model_specs_dir(root).glob("*.json")):
        data = _read_json(path)
        if isinstance(data, dict):
            models[str(data.get("name") or path.stem)] = data
    return metrics, clusters, models


def load_current_inputs(
    root: Path, model_names: Sequence[str], questionnaire_ids: Sequence[str]
) -> tuple[list[dict], list[dict], dict[str, dict]]:
    """:func:`load_inputs`, keeping only the given models and questionnaires.

    Files of models or questionnaires no longer in params (DVC leaves them in the
    workspace) do not reach the leaderboard or the published dataset.
    """
    metrics, clusters, models = load_inputs(root)
    wanted = {(m, q) for m in model_names for q in questionnaire_ids}
    return (
        [m for m in metrics if (m["model"], m["questionnaire"]) in wanted],
        [c for c in clusters if (c["model"], c["questionnaire"]) in wanted],
        {name: spec for name, spec in models.items() if name in model_names},
    )


def _fmt(value: Any, digits: int = 3) -> str:
    if value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value)):
        return "–"
    if isinstance(value, float | np.floating):
        return f"{float(value):.{digits}f}"
    return str(value).replace("|", "\\|")


def _md_table(header: Sequence[str], rows: Iterable[Sequence[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def to_markdown(frame: pd.DataFrame, heading_level: int = 2) -> str:
    """The leaderboard as Markdown: one section per questionnaire and a legend.

    Each section has the summary table (ranked) and a per-dimension table
    (rows: dimensions; cells: inertia / steerability per model).
    """
    hashes = "#" * heading_level
    parts: list[str] = []
    if frame.empty:
        parts.append("_No results yet._")
    for questionnaire, group in frame.groupby("questionnaire", sort=True):
        group = group.sort_values("rank")
        parts.append(f"{hashes} {questionnaire}")
        parts.append(
            _md_table(
                [header for _, header in MARKDOWN_COLUMNS],
                ([_fmt(r[c]) for c, _ in MARKDOWN_COLUMNS] for _, r in group.iterrows()),
            )
        )
        dims = [
            c.split(":", 1)[1]
            for c in group.columns
            if c.startswith("inertia:") and group[c].notna().any()
        ]
        if dims:
            parts.append(f"Per dimension, inertia / steerability ({questionnaire}):")
            models = [str(m) for m in group["model"]]
            rows = []
            for dim in dims:
                cells = [
                    f"{_fmt(r[dimension_column('inertia', dim)])} / "
                    f"{_fmt(r[dimension_column('steerability', dim)])}"
                    for _, r in group.iterrows()
                ]
                rows.append([_fmt(dim), *cells])
            parts.append(_md_table(["dimension", *[_fmt(m) for m in models]], rows))
    if len(frame):
        date, params_hash = frame["date"].iloc[0], frame["params_hash"].iloc[0]
        parts.append(f"Built {date}; parameters hash `{params_hash}`.")
    return "\n\n".join(parts) + "\n"


def legend(rank_by: str = "inertia") -> str:
    """The short "what the numbers mean" text used in the Markdown outputs."""
    detail = {
        "inertia": "overall inertia, highest first",
        "steerability": "overall steerability, lowest first",
        "top2": "overall top-2 concentration, highest first",
    }[rank_by]
    return LEGEND.replace("{rank_by}", detail)


def write_leaderboard(
    frame: pd.DataFrame, out_dir: Path, rank_by: str = "inertia"
) -> dict[str, Path]:
    """Write ``leaderboard.{parquet,csv,json,md}`` to ``out_dir`` (atomically, each file).

    Parquet has an explicit schema (:func:`arrow_schema`); JSON is a list of
    records (null for missing values); Markdown has one section per
    questionnaire and a legend. Returns the paths by format.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    frame = _coerce(frame.reset_index(drop=True))
    paths = {fmt: out_dir / f"leaderboard.{fmt}" for fmt in ("parquet", "csv", "json", "md")}
    write_frame(frame, arrow_schema(list(frame.columns)), paths["parquet"])
    write_text_atomic(frame.to_csv(index=False, lineterminator="\n"), paths["csv"])
    records = [
        {k: _json_value(v) for k, v in row.items()} for row in frame.to_dict(orient="records")
    ]
    write_text_atomic(json.dumps(records, indent=2, ensure_ascii=False) + "\n", paths["json"])
    markdown = (
        "# value-inertia leaderboard\n\n" + to_markdown(frame) + "\n" + legend(rank_by) + "\n"
    )
    write_text_atomic(markdown, paths["md"])
    return paths


def _json_value(value: Any) -> Any:
    if value is None or value is pd.NA:
        return None
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, float | np.floating):
        return float(value) if math.isfinite(float(value)) else None
    return value
