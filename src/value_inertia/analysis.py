"""Per (model, questionnaire) analysis of a parsed-answers table.

Input is one model's parsed table (see ``parsing``): one row per answer with the
answer distribution ``p_1..p_6`` on the original 1-6 scale (all NaN when the
answer could not be parsed). Everything here is built from the pure functions in
:mod:`value_inertia.metrics`:

* macro level: per value dimension (and per roll-up group) the pooled answer
  distribution ``p_d`` and its inertia, steerability, top-2 / top-1 share, with
  bootstrap confidence intervals over personas;
* micro level: the persona x item matrix of expected ratings, MRAT-centred
  persona scores, seed stability, Cohen's d per (attribute, dimension) and the
  convergence of dimension means as the number of personas grows.

Catch (attention-check) items are excluded from every score and reported on
their own. Unparsed rows count against the parse rate and are excluded from
every distribution.
"""

from __future__ import annotations

import math
import zlib
from collections.abc import Callable, Sequence
from itertools import combinations
from typing import Any

import numpy as np
import pandas as pd

from value_inertia.metrics import (
    bootstrap_ci_of_sums,
    cohens_d,
    convergence_curve,
    expected_rating,
    inertia_index,
    mrat_scores,
    normalise,
    pearson_r,
    steerability,
    top1_share,
    top2_concentration,
)
from value_inertia.questionnaires import N_OPTIONS, Questionnaire

P_COLUMNS: list[str] = [f"p_{k}" for k in range(1, N_OPTIONS + 1)]
RATINGS: np.ndarray = np.arange(1, N_OPTIONS + 1, dtype=float)
MAX_CONVERGENCE_POINTS = 12

Json = dict[str, Any]


# --------------------------------------------------------------------------- helpers


def _clean(obj: Any, ndigits: int = 6) -> Any:
    """Make ``obj`` JSON-serialisable: floats rounded to ``ndigits``, NaN/inf -> None."""
    if isinstance(obj, dict):
        return {
            (k if isinstance(k, str | int) else str(k)): _clean(v, ndigits) for k, v in obj.items()
        }
    if isinstance(obj, list | tuple):
        return [_clean(v, ndigits) for v in obj]
    if isinstance(obj, np.ndarray):
        return [_clean(v, ndigits) for v in obj.tolist()]
    if obj is None or obj is pd.NA:
        return None
    if isinstance(obj, bool | np.bool_):
        return bool(obj)
    if isinstance(obj, int | np.integer):
        return int(obj)
    if isinstance(obj, float | np.floating):
        value = float(obj)
        if not math.isfinite(value):
            return None
        return round(value, ndigits)
    return obj


def _rng(seed: int, *keys: str) -> np.random.Generator:
    """A generator that depends only on ``seed`` and ``keys`` (not on call order)."""
    entropy = [int(seed) & 0xFFFFFFFF] + [zlib.crc32(k.encode("utf-8")) for k in keys]
    return np.random.default_rng(np.random.SeedSequence(entropy))


def _scored_items(questionnaire: Questionnaire) -> list[int]:
    """Scored item numbers ordered by dimension (scoring-key order), then item number."""
    return [n for nums in questionnaire.dimensions.values() for n in sorted(nums)]


_SELECT_COLUMNS = [
    "model",
    "mode",
    "condition",
    "persona_id",
    "seed",
    "questionnaire",
    "item",
    "repeat",
    "sample_index",
    "letter_mass",
    *P_COLUMNS,
]


def _select(parsed: pd.DataFrame, questionnaire: Questionnaire) -> pd.DataFrame:
    """Rows of ``questionnaire`` with two derived columns.

    ``ok``: the row has a usable distribution (no NaN in ``p_1..p_6`` and a
    positive sum). ``expected``: the expected rating of the row-normalised
    distribution, ``E = sum_k k * p_k / sum_k p_k`` (NaN when not ``ok``).
    The ``p_*`` columns are row-normalised so that every usable row sums to 1.
    """
    missing = [c for c in ["questionnaire", "condition", "item", *P_COLUMNS] if c not in parsed]
    if missing:
        raise ValueError(f"parsed table: missing column(s) {', '.join(missing)}")
    keep = [c for c in _SELECT_COLUMNS if c in parsed.columns]
    rows = parsed.loc[parsed["questionnaire"] == questionnaire.id, keep].copy()
    probs = rows[P_COLUMNS].to_numpy(dtype=float, na_value=np.nan)
    sums = probs.sum(axis=1)
    ok = np.isfinite(probs).all(axis=1) & (sums > 0)
    normed = np.full_like(probs, np.nan)
    normed[ok] = probs[ok] / sums[ok, None]
    rows[P_COLUMNS] = normed
    rows["ok"] = ok
    rows["expected"] = np.where(ok, np.nan_to_num(normed) @ RATINGS, np.nan)
    rows["item"] = rows["item"].astype(int)
    scored = [n for n, d in questionnaire.item_dimension.items() if d is not None]
    rows["is_catch"] = ~rows["item"].isin(scored).to_numpy()
    return rows


def persona_item_matrix(parsed: pd.DataFrame, questionnaire: Questionnaire) -> pd.DataFrame:
    """Persona x scored-item matrix of mean expected rating.

    Cell (persona i, item j) = mean over that persona's parsed answers to item j
    (repeats and samples) of ``E = sum_k k * p_k``. Columns are the scored items
    ordered by dimension (as in the scoring key); a cell with no parsed answer is
    NaN. Index: ``persona_id`` (persona condition only), sorted.
    """
    rows = _select(parsed, questionnaire)
    persona_rows = rows.loc[(rows["condition"] == "persona") & ~rows["is_catch"]]
    items = _scored_items(questionnaire)
    ids = sorted(persona_rows["persona_id"].dropna().astype(str).unique())
    usable = persona_rows.loc[persona_rows["ok"]]
    if usable.empty:
        matrix = pd.DataFrame(np.nan, index=pd.Index(ids, name="persona_id"), columns=items)
    else:
        matrix = usable.pivot_table(
            index="persona_id", columns="item", values="expected", aggfunc="mean"
        )
        matrix = matrix.reindex(index=ids, columns=items)
    matrix.index = pd.Index([str(i) for i in matrix.index], name="persona_id")
    matrix.columns = pd.Index([int(c) for c in matrix.columns], name="item")
    return matrix.astype(float)


def persona_scores(parsed: pd.DataFrame, questionnaire: Questionnaire) -> pd.DataFrame:
    """Persona-level dimension scores and their MRAT-centred versions.

    For persona i and dimension d with item set J_d: ``score[i, d] = mean_{j in J_d} m[i, j]``
    where ``m`` is :func:`persona_item_matrix`. The MRAT-centred score is
    ``mrat:d = score[i, d] - mean_{j in all scored items} m[i, j]`` (from
    :func:`metrics.mrat_scores`). Index: ``persona_id``; columns: the dimensions,
    then ``mrat:<dimension>``.
    """
    matrix = persona_item_matrix(parsed, questionnaire)
    dims = list(questionnaire.dimensions)
    values = matrix.to_numpy(dtype=float)
    scores = pd.DataFrame(index=matrix.index)
    for d in dims:
        cols = [matrix.columns.get_loc(n) for n in sorted(questionnaire.dimensions[d])]
        block = values[:, cols]
        with np.errstate(all="ignore"):
            counts = np.isfinite(block).sum(axis=1)
            sums = np.nansum(block, axis=1)
            scores[d] = np.where(counts > 0, sums / np.maximum(counts, 1), np.nan)
    mrat = _mrat_matrix(matrix, questionnaire)
    for d in dims:
        scores[f"mrat:{d}"] = mrat[d].to_numpy() if d in mrat else np.nan
    return scores


def _mrat_matrix(matrix: pd.DataFrame, questionnaire: Questionnaire) -> pd.DataFrame:
    """MRAT-centred persona x dimension scores via :func:`metrics.mrat_scores`."""
    if matrix.shape[0] == 0:
        return pd.DataFrame(columns=list(questionnaire.dimensions), dtype=float)
    dim_of = [questionnaire.item_dimension[int(n)] for n in matrix.columns]
    names, values = mrat_scores(matrix.to_numpy(dtype=float), dim_of)
    return pd.DataFrame(np.asarray(values, dtype=float), index=matrix.index, columns=list(names))


def _group_mrat(matrix: pd.DataFrame, items: Sequence[int]) -> np.ndarray:
    """Per persona: mean rating over ``items`` minus the mean over all scored items.

    ``mrat_i(G) = mean_{j in G} m[i, j] - mean_{j in scored} m[i, j]`` (NaN-aware),
    the MRAT definition applied to a roll-up group that pools several dimensions.
    """
    values = matrix.to_numpy(dtype=float)
    cols = [matrix.columns.get_loc(n) for n in items]
    with np.errstate(all="ignore"):
        group = _nanmean_rows(values[:, cols])
        overall = _nanmean_rows(values)
    return group - overall


def _nanmean_rows(values: np.ndarray) -> np.ndarray:
    counts = np.isfinite(values).sum(axis=1)
    sums = np.nansum(values, axis=1)
    return np.where(counts > 0, sums / np.maximum(counts, 1), np.nan)


# --------------------------------------------------------------------------- macro


def _per_persona_sums(rows: pd.DataFrame, items: Sequence[int]) -> np.ndarray:
    """Persona x 6 array: the sum of a persona's row distributions over ``items``.

    Summing (not averaging) keeps every answer's weight equal, so that
    ``normalise(sum over personas)`` equals the pooled mean distribution ``p_d``.
    """
    sel = rows.loc[rows["ok"] & rows["item"].isin(list(items))]
    if sel.empty:
        return np.zeros((0, N_OPTIONS))
    return sel.groupby("persona_id", sort=True)[P_COLUMNS].sum().to_numpy(dtype=float)


def _pooled(rows: pd.DataFrame, items: Sequence[int]) -> np.ndarray | None:
    """``p = (1/N) sum_r p_r`` over the usable rows of ``items`` (None when there are none)."""
    sel = rows.loc[rows["ok"] & rows["item"].isin(list(items)), P_COLUMNS]
    if sel.empty:
        return None
    return np.asarray(normalise(sel.to_numpy(dtype=float).sum(axis=0)), dtype=float)


def _ci(
    data: np.ndarray,
    statistic: Callable[[np.ndarray], float],
    *,
    n_boot: int,
    confidence: float,
    rng: np.random.Generator,
) -> list[float | None]:
    """Bootstrap CI (rows of ``data`` = personas); ``[None, None]`` with < 2 rows."""
    if data.shape[0] < 2 or n_boot < 1:
        return [None, None]
    lo, hi = bootstrap_ci_of_sums(data, statistic, n_boot, confidence, rng)
    return [float(lo), float(hi)]


def _group_metrics(
    name: str,
    items: Sequence[int],
    persona_rows: pd.DataFrame,
    baseline_rows: pd.DataFrame,
    mrat_values: np.ndarray,
    *,
    n_boot: int,
    confidence: float,
    seed: int,
) -> Json:
    """All macro metrics of one dimension (or roll-up group) with its item set.

    * ``distribution`` p_d: mean of the persona-condition row distributions of the
      items; ``baseline_distribution`` likewise from baseline rows.
    * ``inertia`` = 1 - H(p_d) / log2 6; ``steerability`` = JSD_2(p_d^base, p_d);
      ``top2`` / ``top1``: largest two / largest entry of p_d.
    * ``mean_rating`` = sum_k k p_d[k]; ``baseline_mean_rating`` likewise.
    * ``mrat``: mean over personas of the MRAT-centred score.
    * ``*_ci``: percentile bootstrap over personas (per-persona summed
      distributions resampled with replacement, p_d recomputed per draw).
    """
    p = _pooled(persona_rows, items)
    p_base = _pooled(baseline_rows, items)
    sums = _per_persona_sums(persona_rows, items)
    out: Json = {
        "inertia": None,
        "inertia_ci": [None, None],
        "steerability": None,
        "steerability_ci": [None, None],
        "top2": None,
        "top1": None,
        "mean_rating": None,
        "baseline_mean_rating": float(expected_rating(p_base)) if p_base is not None else None,
        "mrat": None,
        "mrat_ci": [None, None],
        "distribution": None,
        "baseline_distribution": p_base.tolist() if p_base is not None else None,
    }
    if p is not None:
        out.update(
            inertia=float(inertia_index(p)),
            top2=float(top2_concentration(p)),
            top1=float(top1_share(p)),
            mean_rating=float(expected_rating(p)),
            distribution=p.tolist(),
        )
        out["inertia_ci"] = _ci(
            sums,
            lambda s: float(inertia_index(normalise(s))),
            n_boot=n_boot,
            confidence=confidence,
            rng=_rng(seed, name, "inertia"),
        )
        if p_base is not None:
            out["steerability"] = float(steerability(p_base, p))
            out["steerability_ci"] = _ci(
                sums,
                lambda s: float(steerability(p_base, normalise(s))),
                n_boot=n_boot,
                confidence=confidence,
                rng=_rng(seed, name, "steerability"),
            )
    finite = mrat_values[np.isfinite(mrat_values)]
    if finite.size:
        out["mrat"] = float(finite.mean())
        out["mrat_ci"] = _ci(
            finite.reshape(-1, 1),
            lambda s, n=finite.size: float(s[0] / n),
            n_boot=n_boot,
            confidence=confidence,
            rng=_rng(seed, name, "mrat"),
        )
    return out


def _mean_or_none(values: Sequence[float | None]) -> float | None:
    finite = [v for v in values if v is not None and math.isfinite(v)]
    return float(np.mean(finite)) if finite else None


def _parse_rate(rows: pd.DataFrame) -> float | None:
    """Fraction of rows with a usable distribution (None when there are no rows)."""
    return float(rows["ok"].mean()) if len(rows) else None


def _single(rows: pd.DataFrame, column: str) -> str:
    values = sorted(rows[column].dropna().astype(str).unique()) if column in rows else []
    if len(values) > 1:
        raise ValueError(f"parsed table: expected one {column}, found {', '.join(values)}")
    return values[0] if values else ""


def _seed_stability(persona_rows: pd.DataFrame) -> dict[str, float | None]:
    """Pearson r between seeds of the per-item mean expected rating.

    For seeds a < b: r(mbar_a, mbar_b) where ``mbar_s[j]`` = mean expected rating
    of item j over all usable persona answers of seed s (scored items present in
    both seeds). Key ``"a-b"``.
    """
    usable = persona_rows.loc[persona_rows["ok"] & persona_rows["seed"].notna()]
    if usable.empty:
        return {}
    per_seed = usable.pivot_table(index="item", columns="seed", values="expected", aggfunc="mean")
    seeds = sorted(int(s) for s in per_seed.columns)
    per_seed.columns = [int(s) for s in per_seed.columns]
    out: dict[str, float | None] = {}
    for a, b in combinations(seeds, 2):
        pair = per_seed[[a, b]].dropna()
        r = pearson_r(pair[a].to_numpy(), pair[b].to_numpy()) if len(pair) >= 2 else math.nan
        out[f"{a}-{b}"] = float(r)
    return out


def analyze(
    parsed: pd.DataFrame,
    personas: pd.DataFrame,
    questionnaire: Questionnaire,
    *,
    n_boot: int,
    confidence: float,
    seed: int,
) -> Json:
    """Metrics of one (model, questionnaire) as a JSON-ready dict.

    ``parsed`` is one model's parsed table (rows of other questionnaires are
    ignored); ``personas`` the personas table (used for the persona count when
    the parsed table lacks seeds). Bootstrap draws are seeded from ``seed`` and
    the group name, so results do not depend on evaluation order.
    The convergence curve is :func:`convergence` (a table, not a metric).
    See :func:`_group_metrics` for the per-dimension definitions; ``overall`` is
    the unweighted mean over dimensions of inertia, steerability, top2 and top1.
    """
    rows = _select(parsed, questionnaire)
    if rows.empty:
        raise ValueError(f"parsed table: no rows for questionnaire {questionnaire.id!r}")
    persona_all = rows.loc[rows["condition"] == "persona"]
    baseline_all = rows.loc[rows["condition"] == "baseline"]
    persona_scored = persona_all.loc[~persona_all["is_catch"]]
    baseline_scored = baseline_all.loc[~baseline_all["is_catch"]]

    seeds = sorted(int(s) for s in persona_all["seed"].dropna().unique()) if "seed" in rows else []
    if not seeds and "seed" in personas:
        ids = set(persona_all["persona_id"].dropna().astype(str))
        known = personas.loc[personas["persona_id"].astype(str).isin(ids), "seed"]
        seeds = sorted(int(s) for s in known.dropna().unique())
    mode = _single(rows, "mode")
    letter_mass = None
    if mode == "logprobs" and "letter_mass" in rows:
        lm = rows.loc[rows["ok"], "letter_mass"].to_numpy(dtype=float, na_value=np.nan)
        lm = lm[np.isfinite(lm)]
        letter_mass = float(lm.mean()) if lm.size else None

    matrix = persona_item_matrix(parsed, questionnaire)
    mrat = _mrat_matrix(matrix, questionnaire)
    common = dict(n_boot=n_boot, confidence=confidence, seed=seed)

    dimensions: Json = {}
    for d, items in questionnaire.dimensions.items():
        mvals = mrat[d].to_numpy(dtype=float) if d in mrat else np.array([])
        dimensions[d] = _group_metrics(d, items, persona_scored, baseline_scored, mvals, **common)

    levels: Json = {}
    for level, groups in questionnaire.rollups.items():
        levels[level] = {}
        for group, dims in groups.items():
            items = sorted({n for dim in dims for n in questionnaire.dimensions[dim]})
            mvals = _group_mrat(matrix, items) if len(matrix) else np.array([])
            levels[level][group] = _group_metrics(
                f"{level}/{group}", items, persona_scored, baseline_scored, mvals, **common
            )

    overall = {
        key: _mean_or_none([m[key] for m in dimensions.values()])
        for key in ("inertia", "steerability", "top2", "top1")
    }

    catch_items: Json = {}
    for item in (it.number for it in questionnaire.items if it.catch):
        p_rows = persona_all.loc[persona_all["ok"] & (persona_all["item"] == item), "expected"]
        b_rows = baseline_all.loc[baseline_all["ok"] & (baseline_all["item"] == item), "expected"]
        catch_items[str(item)] = {
            "mean_rating": float(p_rows.mean()) if len(p_rows) else None,
            "baseline_mean_rating": float(b_rows.mean()) if len(b_rows) else None,
        }

    result: Json = {
        "model": _single(rows, "model"),
        "questionnaire": questionnaire.id,
        "mode": mode,
        "n_personas": int(persona_all["persona_id"].dropna().nunique()),
        "seeds": seeds,
        "repeats": int(persona_all["repeat"].nunique()) if "repeat" in rows else 1,
        "samples": int(persona_all["sample_index"].nunique()) if "sample_index" in rows else 1,
        "parse_rate": _parse_rate(rows),
        "parse_rate_persona": _parse_rate(persona_all),
        "parse_rate_baseline": _parse_rate(baseline_all),
        "letter_mass": letter_mass,
        "overall": overall,
        "dimensions": dimensions,
        "levels": levels,
        "seed_stability": _seed_stability(persona_scored) if len(seeds) > 1 else {},
        "catch_items": catch_items,
    }
    return _clean(result)


# --------------------------------------------------------------------------- micro


def _attribute_groups(values: pd.Series, integer: bool) -> list[tuple[str, np.ndarray]]:
    """Candidate contrasts for one attribute: (label, boolean mask of group A).

    * integer attribute: ``> median`` vs ``<= median`` (one contrast);
    * two categories: first vs second in sorted order;
    * more categories: each category vs the rest.
    Null values form their own category ``"none"`` (categorical attributes) or
    are left out of both groups (integer attributes).
    """
    if integer:
        numeric = pd.to_numeric(values, errors="coerce").to_numpy(dtype=float, na_value=np.nan)
        finite = numeric[np.isfinite(numeric)]
        if finite.size == 0:
            return []
        med = float(np.median(finite))
        label = f"> {med:g} vs <= {med:g}"
        return [(label, numeric > med)]
    cats = values.astype(object).where(values.notna(), "none").astype(str)
    levels = sorted(cats.unique())
    arr = cats.to_numpy()
    if len(levels) < 2:
        return []
    if len(levels) == 2:
        return [(f"{levels[0]} vs {levels[1]}", arr == levels[0])]
    return [(f"{c} vs rest", arr == c) for c in levels]


def _is_integer_attribute(series: pd.Series) -> bool:
    """Numeric (integer-valued) attributes such as age and income_level."""
    return pd.api.types.is_numeric_dtype(series.dtype) and not pd.api.types.is_bool_dtype(
        series.dtype
    )


def cohens_d_table(
    scores: pd.DataFrame,
    personas: pd.DataFrame,
    attributes: list[str],
    dimensions: list[str],
) -> pd.DataFrame:
    """Long-form Cohen's d per (attribute, dimension) with the contrast used.

    ``d = (mean_A - mean_B) / s_pooled`` with
    ``s_pooled = sqrt(((n_A - 1) s_A^2 + (n_B - 1) s_B^2) / (n_A + n_B - 2))``
    (:func:`metrics.cohens_d`) of the persona-level dimension score. Contrast per
    attribute: integer -> above-median (A) vs at-or-below-median (B); two
    categories -> first (A) vs second (B) in sorted order; more categories ->
    the one-vs-rest contrast with the largest |d| (signed; A = the category).
    Columns: attribute, dimension, d, contrast, n_a, n_b. ``d`` is NaN when a
    group has fewer than 2 personas.
    """
    scores = scores.copy()
    if "persona_id" in scores.columns:
        scores = scores.set_index("persona_id")
    scores.index = scores.index.astype(str)
    table = personas.copy()
    table["persona_id"] = table["persona_id"].astype(str)
    table = table.drop_duplicates("persona_id").set_index("persona_id").reindex(scores.index)
    records: list[dict[str, Any]] = []
    for attr in attributes:
        if attr not in table:
            raise ValueError(f"personas table: no attribute column {attr!r}")
        integer = _is_integer_attribute(table[attr])
        candidates = _attribute_groups(table[attr], integer)
        numeric = (
            pd.to_numeric(table[attr], errors="coerce").notna().to_numpy() if integer else None
        )
        for dim in dimensions:
            values = scores[dim].to_numpy(dtype=float, na_value=np.nan)
            best: dict[str, Any] = {"d": math.nan, "contrast": None, "n_a": 0, "n_b": 0}
            for label, mask_a in candidates:
                mask_b = ~mask_a if numeric is None else (~mask_a & numeric)
                a = values[mask_a & np.isfinite(values)]
                b = values[mask_b & np.isfinite(values)]
                d = float(cohens_d(a, b)) if a.size >= 2 and b.size >= 2 else math.nan
                if best["contrast"] is None or (
                    math.isfinite(d) and (not math.isfinite(best["d"]) or abs(d) > abs(best["d"]))
                ):
                    best = {"d": d, "contrast": label, "n_a": int(a.size), "n_b": int(b.size)}
            records.append({"attribute": attr, "dimension": dim, **best})
    return pd.DataFrame.from_records(
        records, columns=["attribute", "dimension", "d", "contrast", "n_a", "n_b"]
    )


def cohens_d_grid(
    scores: pd.DataFrame,
    personas: pd.DataFrame,
    attributes: list[str],
    dimensions: list[str],
) -> pd.DataFrame:
    """Attribute x dimension grid of Cohen's d (see :func:`cohens_d_table`).

    The contrast behind each cell is attached as ``grid.attrs["contrast"]``
    (``{attribute: {dimension: label}}``); the long form with group sizes is
    :func:`cohens_d_table`.
    """
    long = cohens_d_table(scores, personas, attributes, dimensions)
    grid = long.pivot(index="attribute", columns="dimension", values="d")
    grid = grid.reindex(index=attributes, columns=dimensions).astype(float)
    grid.index.name = "attribute"
    grid.columns.name = "dimension"
    contrast: dict[str, dict[str, str | None]] = {a: {} for a in attributes}
    for rec in long.itertuples(index=False):
        contrast[rec.attribute][rec.dimension] = rec.contrast
    grid.attrs["contrast"] = contrast
    return grid


def convergence_sizes(n_personas: int, max_points: int = MAX_CONVERGENCE_POINTS) -> list[int]:
    """Unique integer sizes from 1 to ``n_personas``, geometrically spaced (<= ``max_points``)."""
    if n_personas < 1:
        return []
    raw = np.geomspace(1, n_personas, num=min(max_points, n_personas))
    return sorted({int(round(x)) for x in raw} | {1, n_personas})[:max_points]


def convergence(
    scores: pd.DataFrame,
    dimensions: list[str],
    sizes: Sequence[int] | None = None,
    draws: int = 200,
    seed: int = 0,
) -> pd.DataFrame:
    """Variance of the dimension mean as the number of personas grows.

    For each dimension and size n: ``Var_draws(mean of n randomly drawn persona
    scores)`` (:func:`metrics.convergence_curve`). ``sizes`` defaults to
    :func:`convergence_sizes` of the number of personas with a score; sizes
    larger than that are dropped. Long form: dimension, n_personas, variance.
    """
    records: list[dict[str, Any]] = []
    for dim in dimensions:
        values = scores[dim].to_numpy(dtype=float, na_value=np.nan)
        values = values[np.isfinite(values)]
        if values.size == 0:
            continue
        use = convergence_sizes(values.size) if sizes is None else list(sizes)
        use = [int(n) for n in use if 1 <= int(n) <= values.size]
        if not use:
            continue
        variances = convergence_curve(values, use, draws, _rng(seed, dim, "convergence"))
        for n, v in zip(use, np.asarray(variances, dtype=float), strict=True):
            records.append({"dimension": dim, "n_personas": n, "variance": float(v)})
    return pd.DataFrame.from_records(records, columns=["dimension", "n_personas", "variance"])
