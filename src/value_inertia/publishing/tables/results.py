"""The board's rows of one run: one per (model, questionnaire, variant), public only."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from value_inertia.analysis.quality.report_model import QualityReport
from value_inertia.analysis.variants.report_model import VariantReport
from value_inertia.core.config import Params
from value_inertia.publishing.board.build import build_leaderboard
from value_inertia.publishing.privacy import scrub
from value_inertia.publishing.tables.merge import rerank
from value_inertia.publishing.tables.public import (
    PROVENANCE_COLUMNS,
    protocol_of,
    public_model,
)
from value_inertia.publishing.tables.rows import (
    QUALITY_COLUMNS,
    ci_end,
    is_missing,
    quality_column_values,
)


def results_frame(
    metrics: list[dict],
    clusters: list[dict],
    params: Params,
    provenance: Mapping[str, Any],
    date: str,
    quality: Mapping[tuple[str, str, str], QualityReport] | None = None,
    *,
    weights: Mapping[str, str | None] | None = None,
    variants: Mapping[tuple[str, str], VariantReport] | None = None,
    spend: Mapping[str, Mapping[str, Any]] | None = None,
) -> pd.DataFrame:
    """The board's rows of this run: one per (model, questionnaire, variant), public only.

    The leaderboard module makes the rows (with a public spec: the served id
    replaced by ``public_id``); this adds the model identity, ``variant``,
    ``protocol_hash``, the readable ``protocol`` (JSON), the overall inertia CI
    and the provenance columns, and drops the per-dimension wide columns (they
    are in the long ``metrics`` table). ``quality`` (quality reports by
    (model, questionnaire, variant)) fills the quality columns the rows lack.
    ``weights``: the embedded weights' sha256 by model name (the model identity,
    :mod:`.identity`); ``variants``: prompt-variant reports by (model,
    questionnaire), whose shift columns go on the ``original`` rows as on the
    local leaderboard; ``spend``: spend records by model name (``cost_usd``). Every
    row says how its CI was measured (``ci_level``, ``n_bootstrap``: :func:`measurement`).
    """
    models = {m.name: m for m in params.models}
    weights = weights or {}
    publics = {name: public_model(m, weights.get(name)) for name, m in models.items()}
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
        metrics,
        clusters,
        specs,
        str(provenance.get("params_hash") or ""),
        "inertia",
        date,
        variants=variants,
        spend=spend,
    )
    board = board[[c for c in board.columns if ":" not in c]].copy()
    by_key = {
        (m["model"], m["questionnaire"], str(m.get("variant") or "original")): m for m in metrics
    }
    extra: dict[str, list[Any]] = {
        k: []
        for k in (
            "model_key",
            "identity",
            "public_id",
            "revision",
            "quantization",
            "license",
            "variant",
            "protocol_hash",
            "protocol",
            "inertia_ci_low",
            "inertia_ci_high",
            "ci_level",
            "n_bootstrap",
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
        extra["identity"].append(public.get("identity"))
        level, n_boot = measurement(fields, params)
        extra["ci_level"].append(level)
        extra["n_bootstrap"].append(n_boot)
        extra["variant"].append(variant)
        extra["protocol_hash"].append(digest)
        extra["protocol"].append(json.dumps(scrub(fields), sort_keys=True, default=str))
        extra["inertia_ci_low"].append(ci_end(ci, 0))
        extra["inertia_ci_high"].append(ci_end(ci, 1))
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
            value = quality_column_values(quality.get((model, q, variant)))[key]
            fresh = value if isinstance(value, str | int | float) else None
            values.append(before if not is_missing(before) else fresh)
        if key in board.columns or any(v is not None for v in values):
            board[key] = values
    board = board.drop(columns=[c for c in ("model_id",) if c in board.columns])
    for key in PROVENANCE_COLUMNS:
        board[key] = provenance.get(key) or (date if key == "published_at" else None)
    return rerank(board, params.leaderboard.rank_by)


CI_LEVEL_KEYS = ("ci_level", "confidence")
BOOTSTRAP_KEYS = ("n_bootstrap", "bootstrap", "n_boot")


def _find(fields: Any, names: tuple[str, ...]) -> Any:
    """The first value under one of ``names`` anywhere in nested ``fields`` (None if absent)."""
    if isinstance(fields, Mapping):
        for name in names:
            if fields.get(name) is not None:
                return fields[name]
        for value in fields.values():
            found = _find(value, names)
            if found is not None:
                return found
    return None


def measurement(fields: Mapping[str, Any], params: Params) -> tuple[float, int]:
    """``(ci_level, n_bootstrap)`` of a result: from its protocol fields when they record
    them, else from the run's ``analyze`` params (the analysis that made the result)."""
    level = _find(fields, CI_LEVEL_KEYS)
    n_boot = _find(fields, BOOTSTRAP_KEYS)
    return (
        float(level) if level is not None else float(params.analyze.confidence),
        int(n_boot) if n_boot is not None else int(params.analyze.bootstrap),
    )
