"""The dataset's tables, built from the pipeline's results, and how they merge.

Everything here is about *what* is published: one row per result with its
provenance, the long per-dimension metrics, cluster summaries and the models
table. Only public fields reach a table: a model's display name and the
optional ``public_id`` / ``revision`` / ``quantization`` / ``license`` from
params; never ``model`` (a served id may be a local file path), ``base_url``
(host names), ``api_key_env`` or any other local detail.

Merging (the Hub dataset is the board's source of truth): each table has a
key (:data:`MERGE_KEYS`); a new publication replaces the remote rows with the
same key and keeps every other row.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from importlib import metadata
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

import value_inertia.analysis  # noqa: F401  (its modules register the metrics read here)
from value_inertia.core import registry as metric_registry
from value_inertia.core.config import ModelParams, Params
from value_inertia.publishing.board import build_leaderboard, rank_within

PACKAGE = "value-inertia"
UNKNOWN = "unknown"

# Licences of models whose weights this project knows (by public id prefix or embedded name).
KNOWN_LICENSES: dict[str, str] = {
    "gemma3-270m": "gemma",
    "google/gemma": "gemma",
    "smollm2": "apache-2.0",
    "HuggingFaceTB/SmolLM2": "apache-2.0",
    "Qwen/Qwen2.5": "apache-2.0",
    "meta-llama/Llama-3": "llama3",
    "mistralai/Mistral": "apache-2.0",
}

RESULT_KEY = ["model_key", "questionnaire", "variant", "protocol_hash"]
CLUSTER_KEY = ["model_key", "questionnaire", "protocol_hash"]
# Relative path of each merged table -> the columns that identify a row.
MERGE_KEYS: dict[str, list[str]] = {
    "data/leaderboard/leaderboard.parquet": RESULT_KEY,
    "data/metrics/metrics.parquet": [*RESULT_KEY, "level", "group"],
    "data/clusters/clusters.parquet": CLUSTER_KEY,
    "data/clusters/assignments.parquet": [*CLUSTER_KEY, "persona_id"],
    "data/quality/quality.parquet": RESULT_KEY,
    "data/models/models.parquet": ["model_key"],
    "data/personas/personas.parquet": ["persona_id"],
    "data/prompts/prompts.parquet": ["prompt_id"],
}

PROVENANCE_COLUMNS = [
    "contributor",
    "git_commit",
    "package_version",
    "mlflow_run_id",
    "published_at",
]


def package_version() -> str:
    try:
        return metadata.version(PACKAGE)
    except metadata.PackageNotFoundError:
        return UNKNOWN


PRIVATE_KEYS = frozenset({"base_url", "api_key_env", "api_key", "endpoint", "host", "path"})
_URL = re.compile(r"^[a-z][a-z0-9+.-]*://", re.IGNORECASE)
_PATH = re.compile(r"^(/|~|[A-Za-z]:\\|\.\.?/)")


def scrub(value: Any) -> Any:
    """``value`` without private details: keys like ``base_url`` dropped, paths and URLs masked.

    Used on every JSON that is published (raw metrics, protocol fields, quality
    reports), whatever fields a future version adds to them.
    """
    if isinstance(value, dict):
        return {k: scrub(v) for k, v in value.items() if str(k).lower() not in PRIVATE_KEYS}
    if isinstance(value, list | tuple):
        return [scrub(v) for v in value]
    if isinstance(value, str) and (_URL.match(value) or _PATH.match(value)):
        return "[local]"
    return value


# --------------------------------------------------------------------------- models


def known_license(model: ModelParams) -> str | None:
    if model.license:
        return model.license
    for name in (model.public_id or "", model.model if model.backend == "embedded" else ""):
        for prefix, licence in KNOWN_LICENSES.items():
            if name and name.lower().startswith(prefix.lower()):
                return licence
    return None


def public_model(model: ModelParams) -> dict[str, Any]:
    """What may be published about ``model``: display name, public ids, answer settings.

    The served model id (``model``: often a path on the user's disk), ``base_url``
    and ``api_key_env`` are left out on purpose.
    """
    public = {
        "name": model.name,
        "public_id": model.public_id,
        "revision": getattr(model, "revision", None),
        "quantization": model.quantization,
        "license": known_license(model),
        "backend": model.backend,
        "mode": model.mode,
        "api": model.api,
        "temperature": float(model.temperature),
        "max_tokens": model.max_tokens,
        "samples": model.samples,
    }
    public["model_key"] = model_key(public)
    return public


def model_key(public: Mapping[str, Any]) -> str:
    """The model's identity on the board: display name, public id, revision, quantisation."""
    parts = [public.get(k) or "" for k in ("name", "public_id", "revision", "quantization")]
    return "|".join(str(p) for p in parts).rstrip("|")


MODELS_SCHEMA = pa.schema(
    [
        pa.field("model_key", pa.string(), nullable=False),
        pa.field("name", pa.string(), nullable=False),
        pa.field("public_id", pa.string()),
        pa.field("revision", pa.string()),
        pa.field("quantization", pa.string()),
        pa.field("license", pa.string()),
        pa.field("backend", pa.string()),
        pa.field("mode", pa.string()),
        pa.field("api", pa.string()),
        pa.field("temperature", pa.float64()),
        pa.field("max_tokens", pa.int64()),
        pa.field("samples", pa.int64()),
    ]
)


def models_table(publics: Iterable[Mapping[str, Any]]) -> pa.Table:
    """One row per model: only the public fields of :func:`public_model`."""
    rows = [{f.name: p.get(f.name) for f in MODELS_SCHEMA} for p in publics]
    return pa.Table.from_pylist(rows, schema=MODELS_SCHEMA)


# --------------------------------------------------------------------------- protocol


def fallback_protocol(params: Params, model: ModelParams, questionnaire: str) -> dict[str, Any]:
    """Readable protocol fields for metrics files written before ``protocol`` existed."""
    return {
        "questionnaire": questionnaire,
        "personas": {"n": params.personas.n, "seeds": list(params.personas.seeds)},
        "prompts": {
            k: v
            for k, v in params.prompts.model_dump(mode="json").items()
            if k not in ("questionnaires",)
        },
        "parse": params.parse.model_dump(mode="json"),
        "mode": model.mode,
        "temperature": model.temperature,
        "max_tokens": model.max_tokens if model.mode == "sample" else 1,
        "samples": model.samples,
    }


def protocol_of(
    metrics: Mapping[str, Any], params: Params, model: ModelParams | None
) -> tuple[str, dict[str, Any]]:
    """``(protocol_hash, protocol fields)`` of a metrics dict (computed when it lacks them)."""
    fields = metrics.get("protocol")
    if not isinstance(fields, Mapping):
        fields = (
            fallback_protocol(params, model, str(metrics["questionnaire"]))
            if model is not None
            else {"questionnaire": metrics["questionnaire"]}
        )
    digest = metrics.get("protocol_hash")
    if not isinstance(digest, str) or not digest:
        blob = json.dumps(fields, sort_keys=True, default=str).encode()
        digest = hashlib.sha256(blob).hexdigest()[:16]
    return digest, dict(fields)


# --------------------------------------------------------------------------- results


METRIC_FIELDS = (
    "inertia",
    "steerability",
    "top2",
    "top1",
    "mean_rating",
    "baseline_mean_rating",
    "mrat",
)
CI_FIELDS = ("inertia", "steerability", "mrat")


def _key_fields(key: Sequence[str]) -> list[pa.Field]:
    """``model`` and the merge-key columns of a table (:data:`MERGE_KEYS`), never null."""
    return [pa.field(name, pa.string(), nullable=False) for name in ("model", *key)]


METRICS_SCHEMA = pa.schema(
    [
        *_key_fields(RESULT_KEY),
        pa.field("mode", pa.string()),
        pa.field("level", pa.string(), nullable=False),
        pa.field("group", pa.string(), nullable=False),
        *[pa.field(f, pa.float64()) for f in METRIC_FIELDS],
        *[pa.field(f"{f}_ci_{end}", pa.float64()) for f in CI_FIELDS for end in ("low", "high")],
        pa.field("distribution", pa.list_(pa.float64())),
        pa.field("baseline_distribution", pa.list_(pa.float64())),
        pa.field("n_personas", pa.int64()),
        pa.field("seeds", pa.list_(pa.int64())),
        pa.field("repeats", pa.int64()),
        pa.field("samples", pa.int64()),
        pa.field("parse_rate", pa.float64()),
        pa.field("letter_mass", pa.float64()),
    ]
)

CLUSTERS_SCHEMA = pa.schema(
    [
        *_key_fields(CLUSTER_KEY),
        pa.field("method", pa.string()),
        pa.field("k", pa.int64()),
        pa.field("silhouette", pa.float64()),
        pa.field("n_personas", pa.int64()),
        pa.field("n_items", pa.int64()),
        pa.field("n_items_used", pa.int64()),
        pa.field("explained_variance_pc1", pa.float64()),
        pa.field("explained_variance_pc2", pa.float64()),
        pa.field("sizes", pa.list_(pa.int64())),
        pa.field(
            "silhouette_by_k",
            pa.list_(pa.struct([("k", pa.int64()), ("silhouette", pa.float64())])),
        ),
        pa.field("ami", pa.list_(pa.struct([("attribute", pa.string()), ("ami", pa.float64())]))),
        pa.field("note", pa.string()),
    ]
)

ASSIGNMENTS_SCHEMA = pa.schema(
    [
        *_key_fields(CLUSTER_KEY),
        pa.field("persona_id", pa.string(), nullable=False),
        pa.field("cluster", pa.int64(), nullable=False),
        pa.field("pc1", pa.float64()),
        pa.field("pc2", pa.float64()),
    ]
)


def _missing(value: Any) -> bool:
    return value is None or value is pd.NA or (isinstance(value, float) and np.isnan(value))


def _ci(values: Any, end: int) -> float | None:
    if isinstance(values, list | tuple) and len(values) == 2:
        return values[end]
    return None


def metrics_rows(
    metrics: Iterable[Mapping[str, Any]], ids: Mapping[tuple[str, str, str], Mapping[str, str]]
) -> list[dict[str, Any]]:
    """Long form of the metrics dicts: one row per (result, level, group).

    ``level`` is ``overall`` (group ``overall``: means over dimensions),
    ``dimension`` (group = the value dimension) or a roll-up level of the
    questionnaire (e.g. PVQ-RR's ``basic`` and ``higher_order``). ``ids`` maps
    (model, questionnaire, variant) to ``model_key`` and ``protocol_hash``.
    """
    rows: list[dict[str, Any]] = []
    for m in metrics:
        variant = str(m.get("variant") or "original")
        common = {
            "model": m["model"],
            **ids[(m["model"], m["questionnaire"], variant)],
            "questionnaire": m["questionnaire"],
            "variant": variant,
            "mode": m.get("mode") or None,
            "n_personas": m.get("n_personas"),
            "seeds": list(m.get("seeds") or []),
            "repeats": m.get("repeats"),
            "samples": m.get("samples"),
            "parse_rate": m.get("parse_rate"),
            "letter_mass": m.get("letter_mass"),
        }
        groups: list[tuple[str, str, Mapping[str, Any]]] = [
            ("overall", "overall", m.get("overall") or {})
        ]
        groups += [("dimension", d, v) for d, v in (m.get("dimensions") or {}).items()]
        for level, members in (m.get("levels") or {}).items():
            groups += [(level, g, v) for g, v in members.items()]
        for level, group, values in groups:
            row = {**common, "level": level, "group": group}
            for f in METRIC_FIELDS:
                row[f] = values.get(f)
            for f in CI_FIELDS:
                row[f"{f}_ci_low"] = _ci(values.get(f"{f}_ci"), 0)
                row[f"{f}_ci_high"] = _ci(values.get(f"{f}_ci"), 1)
            row["distribution"] = values.get("distribution")
            row["baseline_distribution"] = values.get("baseline_distribution")
            rows.append(row)
    return rows


def cluster_rows(
    clusters: Iterable[Mapping[str, Any]], ids: Mapping[tuple[str, str], Mapping[str, str]]
) -> list[dict[str, Any]]:
    """One row per (model, questionnaire) cluster summary, nested fields as lists."""
    rows = []
    for c in clusters:
        ratios = list(c.get("explained_variance") or []) + [None, None]
        sizes = c.get("sizes") or {}
        rows.append(
            {
                "model": c["model"],
                **ids[(c["model"], c["questionnaire"])],
                "questionnaire": c["questionnaire"],
                "method": c.get("method"),
                "k": c.get("k"),
                "silhouette": c.get("silhouette"),
                "n_personas": c.get("n_personas"),
                "n_items": c.get("n_items"),
                "n_items_used": c.get("n_items_used"),
                "explained_variance_pc1": ratios[0],
                "explained_variance_pc2": ratios[1],
                "sizes": [int(sizes[k]) for k in sorted(sizes, key=lambda k: int(k))],
                "silhouette_by_k": [
                    {"k": int(k), "silhouette": v}
                    for k, v in sorted(
                        (c.get("silhouette_by_k") or {}).items(), key=lambda kv: int(kv[0])
                    )
                ],
                "ami": [{"attribute": a, "ami": v} for a, v in (c.get("ami") or {}).items()],
                "note": c.get("note"),
            }
        )
    return rows


QUALITY_COLUMNS = ("verdict", "alpha", "omega", "position_bias", "agreement")

# the quality report's single figures: every metric registered for the quality scope
_QUALITY_FIGURES = tuple(metric_registry.names("quality"))

QUALITY_SCHEMA = pa.schema(
    [
        *_key_fields(RESULT_KEY),
        pa.field("mode", pa.string()),
        pa.field("partner", pa.string()),
        pa.field("verdict", pa.string()),
        *(pa.field(name, pa.float64()) for name in _QUALITY_FIGURES),
        pa.field("inertia_difference_ci_low", pa.float64()),
        pa.field("inertia_difference_ci_high", pa.float64()),
        pa.field("n_answers", pa.int64()),
        pa.field("n_personas", pa.int64()),
        pa.field(
            "dimensions",
            pa.list_(
                pa.struct(
                    [
                        ("dimension", pa.string()),
                        ("alpha", pa.float64()),
                        ("alpha_ci_low", pa.float64()),
                        ("alpha_ci_high", pa.float64()),
                        ("omega", pa.float64()),
                        ("omega_ci_low", pa.float64()),
                        ("omega_ci_high", pa.float64()),
                        ("n_items", pa.int64()),
                        ("n_personas", pa.int64()),
                    ]
                )
            ),
        ),
        pa.field(
            "parse_reasons", pa.list_(pa.struct([("reason", pa.string()), ("n", pa.int64())]))
        ),
        pa.field(
            "thresholds", pa.list_(pa.struct([("name", pa.string()), ("value", pa.float64())]))
        ),
    ]
)


def quality_rows(
    reports: Mapping[tuple[str, str, str], Mapping[str, Any]],
    ids: Mapping[tuple[str, str, str], Mapping[str, str]],
) -> list[dict[str, Any]]:
    """One row per quality report of a result on the board (``ids``: its ``model_key`` and
    ``protocol_hash`` by (model, questionnaire, variant)); per-dimension alpha and omega with
    their CIs, parse reasons and the verdict thresholds as nested lists."""
    rows = []
    for (model, questionnaire, variant), r in sorted(reports.items()):
        if (model, questionnaire, variant) not in ids:
            continue
        diff_ci = (r.get("mode_agreement") or {}).get("inertia_difference_ci")
        dimensions = []
        for name, d in (r.get("dimensions") or {}).items():
            dimensions.append(
                {
                    "dimension": name,
                    "alpha": d.get("alpha"),
                    "alpha_ci_low": _ci(d.get("alpha_ci"), 0),
                    "alpha_ci_high": _ci(d.get("alpha_ci"), 1),
                    "omega": d.get("omega"),
                    "omega_ci_low": _ci(d.get("omega_ci"), 0),
                    "omega_ci_high": _ci(d.get("omega_ci"), 1),
                    "n_items": d.get("n_items"),
                    "n_personas": d.get("n_personas"),
                }
            )
        rows.append(
            {
                "model": model,
                **ids[(model, questionnaire, variant)],
                "questionnaire": questionnaire,
                "variant": variant,
                "mode": r.get("mode"),
                "partner": r.get("partner"),
                "verdict": r.get("verdict"),
                **{name: r.get(name) for name in _QUALITY_FIGURES},
                "inertia_difference_ci_low": _ci(diff_ci, 0),
                "inertia_difference_ci_high": _ci(diff_ci, 1),
                "n_answers": r.get("n_answers"),
                "n_personas": r.get("n_personas"),
                "dimensions": dimensions,
                "parse_reasons": [
                    {"reason": k, "n": int(v)} for k, v in (r.get("parse_reasons") or {}).items()
                ],
                "thresholds": [
                    {"name": k, "value": float(v)} for k, v in (r.get("thresholds") or {}).items()
                ],
            }
        )
    return rows


def results_frame(
    metrics: list[dict],
    clusters: list[dict],
    params: Params,
    provenance: Mapping[str, Any],
    date: str,
    quality: Mapping[tuple[str, str, str], Mapping[str, Any]] | None = None,
) -> pd.DataFrame:
    """The board's rows of this run: one per (model, questionnaire, variant), public only.

    The leaderboard module makes the rows (with a public spec: the served id
    replaced by ``public_id``); this adds the model identity, ``variant``,
    ``protocol_hash``, the readable ``protocol`` (JSON), the overall inertia CI
    and the provenance columns, and drops the per-dimension wide columns (they
    are in the long ``metrics`` table). ``quality`` (quality reports by
    (model, questionnaire, variant)) fills the quality columns the rows lack.
    """
    models = {m.name: m for m in params.models}
    publics = {name: public_model(m) for name, m in models.items()}
    specs = {
        name: {
            "name": name,
            "model": p["public_id"],
            "backend": p["backend"],
            "mode": p["mode"],
            "api": p["api"],
            "temperature": p["temperature"],
        }
        for name, p in publics.items()
    }
    board = build_leaderboard(
        metrics, clusters, specs, str(provenance.get("params_hash") or ""), "inertia", date
    )
    board = board[[c for c in board.columns if ":" not in c]].copy()
    by_key = {
        (m["model"], m["questionnaire"], str(m.get("variant") or "original")): m for m in metrics
    }
    extra: dict[str, list[Any]] = {
        k: []
        for k in (
            "model_key",
            "public_id",
            "revision",
            "quantization",
            "license",
            "variant",
            "protocol_hash",
            "protocol",
            "inertia_ci_low",
            "inertia_ci_high",
        )
    }
    for row in board.itertuples(index=False):
        variant = str(getattr(row, "variant", None) or "original")
        m = by_key[(row.model, row.questionnaire, variant)]
        public = publics.get(row.model, {"name": row.model})
        digest, fields = protocol_of(m, params, models.get(row.model))
        ci = (m.get("overall") or {}).get("inertia_ci")
        for key in ("public_id", "revision", "quantization", "license"):
            extra[key].append(public.get(key))
        extra["model_key"].append(public.get("model_key") or row.model)
        extra["variant"].append(variant)
        extra["protocol_hash"].append(digest)
        extra["protocol"].append(json.dumps(scrub(fields), sort_keys=True, default=str))
        extra["inertia_ci_low"].append(_ci(ci, 0))
        extra["inertia_ci_high"].append(_ci(ci, 1))
    for key, values in extra.items():
        if key in board.columns and key not in ("model_key", "variant", "protocol_hash"):
            board[key] = [
                old if old is not None and not (isinstance(old, float) and np.isnan(old)) else new
                for old, new in zip(board[key], values, strict=True)
            ]
        else:
            board[key] = values
    quality = quality or {}
    for key in QUALITY_COLUMNS:  # fill what the rows lack from the quality reports
        if not quality:
            break
        old = list(board[key]) if key in board.columns else [None] * len(board)
        values = []
        for before, model, q, variant in zip(
            old, board["model"], board["questionnaire"], extra["variant"], strict=True
        ):
            value = (quality.get((model, q, variant)) or {}).get(key)
            fresh = value if isinstance(value, str | int | float) else None
            values.append(before if not _missing(before) else fresh)
        if key in board.columns or any(v is not None for v in values):
            board[key] = values
    board = board.drop(columns=[c for c in ("model_id",) if c in board.columns])
    for key in PROVENANCE_COLUMNS:
        board[key] = provenance.get(key) or (date if key == "published_at" else None)
    return rerank(board, params.leaderboard.rank_by)


# --------------------------------------------------------------------------- merging


def frame_table(frame: pd.DataFrame, schema: pa.Schema | None = None) -> pa.Table:
    """``frame`` as an Arrow table; all-null columns become strings (never Arrow's null type).

    With ``schema`` (the table's published schema) the columns keep their types
    where the values allow it.
    """
    if schema is not None:
        fields = [
            pa.field(f.name, pa.string()) if pa.types.is_null(f.type) else f
            for f in schema
            if f.name in frame.columns
        ]
        if len(fields) == len(frame.columns):
            try:
                return pa.Table.from_pandas(
                    frame[[f.name for f in fields]], schema=pa.schema(fields), preserve_index=False
                )
            except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError):
                pass
    table = pa.Table.from_pandas(frame, preserve_index=False)
    for i, f in enumerate(table.schema):
        if pa.types.is_null(f.type):
            table = table.set_column(
                i, pa.field(f.name, pa.string()), table.column(i).cast(pa.string())
            )
    return table.replace_schema_metadata(None)


def key_frame(frame: pd.DataFrame, key: Sequence[str]) -> pd.Series:
    """One string per row from the key columns (missing columns read as empty)."""
    parts = [
        frame[k].astype(object).where(frame[k].notna(), "").astype(str)
        if k in frame.columns
        else pd.Series("", index=frame.index)
        for k in key
    ]
    out = parts[0]
    for p in parts[1:]:
        out = out + "\x1f" + p
    return out


def merge_frames(
    remote: pd.DataFrame | None, local: pd.DataFrame, key: Sequence[str]
) -> pd.DataFrame:
    """``local`` plus every ``remote`` row whose key ``local`` does not have (remote first)."""
    if remote is None or remote.empty:
        return local.reset_index(drop=True)
    mine = set(key_frame(local, key))
    kept = remote[~key_frame(remote, key).isin(mine)]
    if kept.empty:
        return local.reset_index(drop=True)
    return pd.concat([kept, local], ignore_index=True)


def tie_groups(frame: pd.DataFrame) -> pd.Series:
    """Tie group per row of one ranked group: rows whose inertia CI reaches the group leader's.

    Walking in rank order, a row joins the current group while its upper CI
    bound is at least the leader's lower bound; otherwise it starts a new group.
    Without CIs every row is its own group.
    """
    groups = pd.Series(0, index=frame.index, dtype="int64")
    current, leader_low = 0, None
    for idx in frame.sort_values("rank").index:
        high = frame.at[idx, "inertia_ci_high"] if "inertia_ci_high" in frame else None
        low = frame.at[idx, "inertia_ci_low"] if "inertia_ci_low" in frame else None
        joins = (
            leader_low is not None
            and high is not None
            and not pd.isna(high)
            and float(high) >= float(leader_low)
        )
        if not joins:
            current += 1
            leader_low = None if low is None or pd.isna(low) else float(low)
        groups.at[idx] = current
    return groups


def rerank(frame: pd.DataFrame, rank_by: str = "inertia") -> pd.DataFrame:
    """Ranks, tie groups and rank labels within each (questionnaire, protocol_hash, variant).

    The leaderboard module ranks (its ``rank_within``); when it gives ordinal
    ranks only, tie groups come from :func:`tie_groups`.
    """
    frame = frame.reset_index(drop=True).copy()
    if frame.empty:
        for col in ("rank_label", "tie_group"):
            frame[col] = pd.Series(dtype=object if col == "rank_label" else "Int64")
        return frame
    for column in ("inertia_ci_low", "inertia_ci_high"):
        if column not in frame.columns:
            frame[column] = np.nan
    by = [c for c in ("questionnaire", "protocol_hash", "variant") if c in frame.columns]
    ranks = pd.Series(0, index=frame.index, dtype="int64")
    ties = pd.Series(0, index=frame.index, dtype="int64")
    labels = pd.Series("", index=frame.index, dtype=object)
    for _, group in frame.groupby(by, sort=True, dropna=False):
        ranked = rank_within(group, rank_by)
        if isinstance(ranked, pd.DataFrame):  # ranks with tie groups and labels
            ranks.loc[group.index] = ranked["rank"].astype("int64")
            ties.loc[group.index] = ranked["tie_group"].astype("int64")
            labels.loc[group.index] = ranked["rank_label"].astype(str)
            continue
        ranks.loc[group.index] = ranked
        with_rank = group.assign(rank=ranks.loc[group.index])
        ties.loc[group.index] = tie_groups(with_rank)
        for _, members in with_rank.groupby(ties.loc[group.index]):
            lo, hi = int(members["rank"].min()), int(members["rank"].max())
            labels.loc[members.index] = str(lo) if lo == hi else f"{lo}-{hi}"
    frame["rank"] = ranks
    frame["tie_group"] = ties
    frame["rank_label"] = labels
    order = [c for c in ("questionnaire", "protocol_hash", "variant", "rank") if c in frame]
    return frame.sort_values(order, kind="stable").reset_index(drop=True)
