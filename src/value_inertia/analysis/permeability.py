"""Selective permeability per (attribute, dimension) of a persona table.

Builds on :mod:`value_inertia.analysis.omega_squared`: the attribute's category
labels (:func:`attribute_labels`: integer attributes in quantile bins, nulls as
"none"), the long per-cell table (:func:`permeability_table`: omega-squared,
p-value, Benjamini-Hochberg q over the grid, Cohen's d for two-group
contrasts), and the attribute x dimension grids drawn by the plots.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from value_inertia.analysis.metrics import cohens_d
from value_inertia.analysis.omega_squared import (
    MAX_PERMUTATIONS,
    _group_codes,
    benjamini_hochberg,
    permeability_many,
)
from value_inertia.analysis.stats import keyed_rng

MIN_GROUP_SIZE = 5  # smallest group of a two-group Cohen's d contrast
FDR_ALPHA = 0.05  # Benjamini-Hochberg level at which a permeability cell is marked
INTEGER_BINS = 4  # quantile bins of an integer attribute (age, income) for permeability


def _is_integer_attribute(series: pd.Series) -> bool:
    """Numeric (integer-valued) attributes such as age and income_level."""
    return pd.api.types.is_numeric_dtype(series.dtype) and not pd.api.types.is_bool_dtype(
        series.dtype
    )


def attribute_labels(values: pd.Series, bins: int = INTEGER_BINS) -> np.ndarray:
    """Category labels of one persona attribute (for permeability and AMI).

    Numeric attributes (age, income_level) are cut into up to ``bins`` quantile
    bins (each value its own label when there are at most ``bins`` distinct
    ones). Nulls (e.g. occupation of the not employed) become the category
    ``"none"``.
    """
    if _is_integer_attribute(values):
        numeric = pd.to_numeric(values, errors="coerce").astype(float)
        if numeric.dropna().nunique() > bins:
            binned = pd.qcut(numeric, q=bins, duplicates="drop")
            labels = binned.astype(object).where(binned.notna(), "none").astype(str)
        else:
            labels = numeric.map(lambda v: "none" if pd.isna(v) else f"{v:g}")
        return labels.to_numpy(dtype=object)
    return values.astype(object).where(values.notna(), "none").astype(str).to_numpy()


def _two_group_contrast(
    values: pd.Series,
) -> tuple[str, np.ndarray, np.ndarray] | None:
    """The two-group contrast of an attribute, if it has one: (label, mask A, mask B).

    Integer attribute: above the median (A) vs at or below it (B), nulls in
    neither. Two categories (nulls count as the category ``"none"``): the first
    (A) vs the second (B) in sorted order. More categories: None (no single
    two-group contrast; the omega-squared of all categories covers them).
    """
    if _is_integer_attribute(values):
        numeric = pd.to_numeric(values, errors="coerce").to_numpy(dtype=float, na_value=np.nan)
        finite = numeric[np.isfinite(numeric)]
        if finite.size == 0:
            return None
        med = float(np.median(finite))
        return f"> {med:g} vs <= {med:g}", numeric > med, numeric <= med
    cats = values.astype(object).where(values.notna(), "none").astype(str).to_numpy()
    levels = sorted(set(cats))
    if len(levels) != 2:
        return None
    return f"{levels[0]} vs {levels[1]}", cats == levels[0], cats == levels[1]


def _aligned_personas(personas: pd.DataFrame, ids: pd.Index) -> pd.DataFrame:
    table = personas.copy()
    table["persona_id"] = table["persona_id"].astype(str)
    return table.drop_duplicates("persona_id").set_index("persona_id").reindex(ids.astype(str))


def permeability_table(
    scores: pd.DataFrame,
    personas: pd.DataFrame,
    attributes: Sequence[str],
    dimensions: Sequence[str],
    *,
    n_permutations: int = 1000,
    seed: int = 0,
    min_group_size: int = MIN_GROUP_SIZE,
    max_permutations: int = MAX_PERMUTATIONS,
    alpha: float = FDR_ALPHA,
) -> pd.DataFrame:
    """Selective permeability per (attribute, dimension), long form.

    ``scores``: persona x dimension MRAT-centred scores (index persona_id; a
    column ``mrat:<d>`` is used when present, else ``<d>``). Per cell:
    :func:`omega_squared.permeability` of the scores grouped by the attribute's
    categories (:func:`attribute_labels`: integer attributes in quantile bins,
    nulls as "none"): ``effect`` = omega-squared, ``p_value`` = permutation p
    (one set of ``n_permutations`` permutations seeded by ``seed`` serves the
    whole grid, :func:`omega_squared.permeability_many`; unresolved cells get
    more, up to ``max_permutations``, and the F tail where the permutations
    agree with it: ``p_method``, ``n_permutations``). Personas without a score in
    every dimension are left out of the omega-squared. ``q_value``: Benjamini-Hochberg
    over the whole grid; ``significant`` = q <= ``alpha``. ``cohens_d`` only for
    two-group contrasts (binary attributes, median split of integer ones;
    :func:`_two_group_contrast`) when both groups have >= ``min_group_size``
    personas, else NaN. Columns: attribute, dimension, effect, p_value,
    q_value, significant, n, n_groups, method, cohens_d, contrast, n_a, n_b,
    p_method, n_permutations.
    """
    columns = [
        "attribute", "dimension", "effect", "p_value", "q_value", "significant",
        "n", "n_groups", "method", "cohens_d", "contrast", "n_a", "n_b",
        "p_method", "n_permutations",
    ]  # fmt: skip
    table = _aligned_personas(personas, scores.index)
    missing = [a for a in attributes if a not in table.columns]
    if missing:
        raise ValueError(f"personas table: no attribute column {missing[0]!r}")
    columns_used = [f"mrat:{d}" if f"mrat:{d}" in scores.columns else d for d in dimensions]
    values = scores[columns_used].to_numpy(dtype=float, na_value=np.nan)
    complete = np.isfinite(values).all(axis=1) if values.size else np.zeros(0, dtype=bool)
    codes = [
        _group_codes(attribute_labels(table[attr])[complete]) for attr in attributes
    ]  # fmt: skip
    grid = (
        permeability_many(
            values[complete], codes, n_permutations,
            int(keyed_rng(seed, "permeability").integers(0, 2**31)), max_permutations,
        )
        if len(dimensions)
        else []
    )  # fmt: skip
    records: list[dict[str, Any]] = []
    for a, attr in enumerate(attributes):
        contrast = _two_group_contrast(table[attr])
        for j, dim in enumerate(dimensions):
            result = grid[a][j]
            column = values[:, j]
            d, label, n_a, n_b = math.nan, None, 0, 0
            if contrast is not None:
                label, mask_a, mask_b = contrast
                xa = column[mask_a & np.isfinite(column)]
                xb = column[mask_b & np.isfinite(column)]
                n_a, n_b = int(xa.size), int(xb.size)
                if n_a >= min_group_size and n_b >= min_group_size:
                    d = cohens_d(xa, xb)
            records.append(
                {
                    "attribute": attr,
                    "dimension": dim,
                    "effect": result.effect,
                    "p_value": result.p_value,
                    "n": result.n,
                    "n_groups": result.n_groups,
                    "method": result.method,
                    "cohens_d": d,
                    "contrast": label,
                    "n_a": n_a,
                    "n_b": n_b,
                    "p_method": result.p_method or None,
                    "n_permutations": result.n_permutations,
                }
            )
    frame = pd.DataFrame.from_records(records, columns=[c for c in columns if c not in (
        "q_value", "significant")])  # fmt: skip
    q: Any = benjamini_hochberg(frame["p_value"].to_numpy(dtype=float)) if len(frame) else []
    frame["q_value"] = q
    frame["significant"] = np.asarray(frame["q_value"] <= alpha, dtype=bool)
    return frame[columns]


def cohens_d_table(
    scores: pd.DataFrame,
    personas: pd.DataFrame,
    attributes: list[str],
    dimensions: list[str],
    min_group_size: int = MIN_GROUP_SIZE,
) -> pd.DataFrame:
    """Cohen's d per (attribute, dimension) for two-group contrasts only, long form.

    ``d = (mean_A - mean_B) / s_pooled``,
    ``s_pooled = sqrt(((n_A - 1) s_A^2 + (n_B - 1) s_B^2) / (n_A + n_B - 2))``
    (:func:`metrics.cohens_d`) of the MRAT-centred score (``mrat:<d>`` when
    present). Contrasts: :func:`_two_group_contrast` (integer: above vs at or
    below the median; two categories: first vs second). Attributes with more
    categories get no d (NaN, contrast None): their selective permeability is
    :func:`permeability_table`'s omega-squared. d is NaN when a group has fewer
    than ``min_group_size`` personas. Columns: attribute, dimension, d,
    contrast, n_a, n_b.
    """
    table = _aligned_personas(personas, scores.index)
    records: list[dict[str, Any]] = []
    for attr in attributes:
        if attr not in table.columns:
            raise ValueError(f"personas table: no attribute column {attr!r}")
        contrast = _two_group_contrast(table[attr])
        for dim in dimensions:
            column = f"mrat:{dim}" if f"mrat:{dim}" in scores.columns else dim
            values = scores[column].to_numpy(dtype=float, na_value=np.nan)
            rec: dict[str, Any] = {"d": math.nan, "contrast": None, "n_a": 0, "n_b": 0}
            if contrast is not None:
                label, mask_a, mask_b = contrast
                a = values[mask_a & np.isfinite(values)]
                b = values[mask_b & np.isfinite(values)]
                ok = a.size >= max(min_group_size, 2) and b.size >= max(min_group_size, 2)
                rec = {
                    "d": cohens_d(a, b) if ok else math.nan,
                    "contrast": label,
                    "n_a": int(a.size),
                    "n_b": int(b.size),
                }
            records.append({"attribute": attr, "dimension": dim, **rec})
    return pd.DataFrame.from_records(
        records, columns=["attribute", "dimension", "d", "contrast", "n_a", "n_b"]
    )


def cohens_d_grid(
    scores: pd.DataFrame,
    personas: pd.DataFrame,
    attributes: list[str],
    dimensions: list[str],
    min_group_size: int = MIN_GROUP_SIZE,
) -> pd.DataFrame:
    """Attribute x dimension grid of :func:`cohens_d_table` (contrasts in ``attrs["contrast"]``)."""
    long = cohens_d_table(scores, personas, attributes, dimensions, min_group_size)
    grid = long.pivot(index="attribute", columns="dimension", values="d")
    grid = grid.reindex(index=attributes, columns=dimensions).astype(float)
    grid.index.name = "attribute"
    grid.columns.name = "dimension"
    contrast: dict[str, dict[str, str | None]] = {a: {} for a in attributes}
    for rec in long.itertuples(index=False):
        contrast[rec.attribute][rec.dimension] = (
            rec.contrast if isinstance(rec.contrast, str) else None
        )
    grid.attrs["contrast"] = contrast
    return grid
