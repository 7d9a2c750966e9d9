"""Per (model, questionnaire) analysis of a parsed-answers table.

Input is one model's parsed table (see ``parsing``): one row per answer with the
answer distribution ``p_1..p_6`` on the original 1-6 scale (all NaN when the
answer could not be parsed). Everything here is built from the pure functions in
:mod:`value_inertia.analysis.metrics`:

* macro level: per value dimension (and per roll-up group) the pooled answer
  distribution ``p_d`` and its inertia, steerability, top-2 / top-1 share, with
  bootstrap confidence intervals over personas;
* micro level: the persona x item matrix of expected ratings, MRAT-centred
  persona scores, selective permeability per (attribute, dimension)
  (omega-squared, permutation p, Benjamini-Hochberg q; Cohen's d only for
  two-group contrasts), per-seed inertia and steerability and their spread,
  and the convergence across persona seeds of MRAT-centred dimension means as
  the number of personas grows.

:func:`run_analysis` does all of it once per (model, questionnaire, variant)
and returns the metrics file (:class:`value_inertia.core.results.MetricsResult`)
with the tables the figures are drawn from.

Catch (attention-check) items are excluded from every score and reported on
their own. Unparsed rows count against the parse rate and are excluded from
every distribution.
"""

from __future__ import annotations

import math
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from itertools import combinations
from typing import Any

import numpy as np
import pandas as pd

from value_inertia.analysis.metrics import (
    bootstrap_ci_of_sums,
    expected_rating,
    inertia_index,
    mrat_scores,
    normalise,
    pearson_r,
    seed_convergence,
    steerability,
    top1_share,
    top2_concentration,
)
from value_inertia.analysis.permeability import FDR_ALPHA, MIN_GROUP_SIZE, permeability_table
from value_inertia.core import registry as metric_registry
from value_inertia.core.naming import DEFAULT_VARIANT
from value_inertia.core.results import MetricsResult, json_ready, validate
from value_inertia.design.questionnaires import N_OPTIONS, Questionnaire

P_COLUMNS: list[str] = [f"p_{k}" for k in range(1, N_OPTIONS + 1)]
RATINGS: np.ndarray = np.arange(1, N_OPTIONS + 1, dtype=float)
CONVERGENCE_STEP = 10  # k = 10, 20, ... personas per seed
MAX_CONVERGENCE_POINTS = 25  # at most this many sizes k (coarser steps for large n)

Json = dict[str, Any]


# --------------------------------------------------------------------------- helpers


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
    "variant",
    *P_COLUMNS,
]


def _select(
    parsed: pd.DataFrame, questionnaire: Questionnaire, variant: str = DEFAULT_VARIANT
) -> pd.DataFrame:
    """Rows of ``questionnaire`` (and of prompt ``variant``, when the table has that column).

    Two derived columns:

    ``ok``: the row has a usable distribution (no NaN in ``p_1..p_6`` and a
    positive sum). ``expected``: the expected rating of the row-normalised
    distribution, ``E = sum_k k * p_k / sum_k p_k`` (NaN when not ``ok``).
    The ``p_*`` columns are row-normalised so that every usable row sums to 1.
    """
    missing = [c for c in ["questionnaire", "condition", "item", *P_COLUMNS] if c not in parsed]
    if missing:
        raise ValueError(f"parsed table: missing column(s) {', '.join(missing)}")
    keep = [c for c in _SELECT_COLUMNS if c in parsed.columns]
    wanted = parsed["questionnaire"] == questionnaire.id
    if "variant" in parsed.columns:
        wanted &= parsed["variant"].fillna(DEFAULT_VARIANT).astype(str) == variant
    rows = parsed.loc[wanted, keep].copy()
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


def persona_item_matrix(
    parsed: pd.DataFrame, questionnaire: Questionnaire, variant: str = DEFAULT_VARIANT
) -> pd.DataFrame:
    """Persona x scored-item matrix of mean expected rating.

    Cell (persona i, item j) = mean over that persona's parsed answers to item j
    (repeats and samples) of ``E = sum_k k * p_k``. Columns are the scored items
    ordered by dimension (as in the scoring key); a cell with no parsed answer is
    NaN. Index: ``persona_id`` (persona condition only), sorted.
    """
    return _matrix_of(_select(parsed, questionnaire, variant), questionnaire)


def _matrix_of(rows: pd.DataFrame, questionnaire: Questionnaire) -> pd.DataFrame:
    """:func:`persona_item_matrix` from already selected rows."""
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


def persona_scores(
    parsed: pd.DataFrame,
    questionnaire: Questionnaire,
    variant: str = DEFAULT_VARIANT,
    *,
    matrix: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Persona-level dimension scores and their MRAT-centred versions.

    For persona i and dimension d with item set J_d: ``score[i, d] = mean_{j in J_d} m[i, j]``
    where ``m`` is :func:`persona_item_matrix`. The MRAT-centred score is
    ``mrat:d = score[i, d] - mean_{j in all scored items} m[i, j]`` (from
    :func:`metrics.mrat_scores`). Index: ``persona_id``; columns: the dimensions,
    then ``mrat:<dimension>``. A precomputed ``matrix`` is used as is.
    """
    if matrix is None:
        matrix = persona_item_matrix(parsed, questionnaire, variant)
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
        n_finite = finite.size
        out["mrat_ci"] = _ci(
            finite.reshape(-1, 1),
            lambda s: float(s[0] / n_finite),
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


def _overall_ci(
    persona_rows: pd.DataFrame,
    questionnaire: Questionnaire,
    baselines: dict[str, np.ndarray | None],
    *,
    n_boot: int,
    confidence: float,
    seed: int,
) -> dict[str, list[float | None]]:
    """Joint bootstrap over personas of the overall (mean over dimensions) inertia and steerability.

    Each persona contributes, per dimension d, the sum of its row distributions
    over the items of d (a persona x (D * 6) matrix). A resample of personas
    (with replacement) gives p*_d for every d at once, so the dimensions stay
    paired: overall* = (1/D') sum_d I(p*_d) over the D' dimensions with answers
    (likewise JSD_2(p_d^baseline, p*_d) for steerability).
    """
    usable = persona_rows.loc[persona_rows["ok"]]
    ids = sorted(usable["persona_id"].dropna().astype(str).unique())
    out: dict[str, list[float | None]] = {
        "inertia_ci": [None, None],
        "steerability_ci": [None, None],
    }
    if len(ids) < 2 or n_boot < 1:
        return out
    dims = list(questionnaire.dimensions)
    blocks = []
    for d in dims:
        sel = usable.loc[usable["item"].isin(list(questionnaire.dimensions[d]))]
        summed = sel.groupby(sel["persona_id"].astype(str))[P_COLUMNS].sum()
        blocks.append(summed.reindex(ids, fill_value=0.0).to_numpy(dtype=float))
    data = np.hstack(blocks)

    def mean_over_dims(total: np.ndarray, fn: Callable[[int, np.ndarray], float | None]) -> float:
        values = []
        for i, row in enumerate(total.reshape(len(dims), N_OPTIONS)):
            if row.sum() > 0:
                v = fn(i, normalise(row))
                if v is not None:
                    values.append(v)
        return float(np.mean(values)) if values else math.nan

    def inertia_of(total: np.ndarray) -> float:
        return mean_over_dims(total, lambda _, p: inertia_index(p))

    def steer_of(total: np.ndarray) -> float:
        def one(i: int, p: np.ndarray) -> float | None:
            base = baselines.get(dims[i])
            return None if base is None else steerability(base, p)

        return mean_over_dims(total, one)

    common: Json = dict(n_boot=n_boot, confidence=confidence)
    out["inertia_ci"] = _ci(data, inertia_of, **common, rng=_rng(seed, "overall", "inertia"))
    if any(b is not None for b in baselines.values()):
        out["steerability_ci"] = _ci(
            data, steer_of, **common, rng=_rng(seed, "overall", "steerability")
        )
    return out


def _spread(values: Sequence[float | None]) -> tuple[float | None, float | None]:
    """(SD with ddof = 1, max - min) of the finite values; (None, None) with fewer than 2."""
    finite = np.array([v for v in values if v is not None and math.isfinite(v)], dtype=float)
    if finite.size < 2:
        return None, None
    return float(finite.std(ddof=1)), float(finite.max() - finite.min())


def seed_spread(
    persona_rows: pd.DataFrame, baseline_rows: pd.DataFrame, questionnaire: Questionnaire
) -> Json:
    """Per-seed inertia and steerability per dimension, and their spread over seeds.

    For seed s and dimension d, p_{d,s} pools the persona rows of seed s only:
    ``I_s(d) = 1 - H(p_{d,s}) / log2 6`` and ``S_s(d) = JSD_2(p_d^baseline, p_{d,s})``
    (one baseline for all seeds). Spread over the seeds: ``sd = SD_s (ddof = 1)``
    and ``range = max_s - min_s``, per dimension and for the overall (mean over
    dimensions) values; None with one seed. Keys: ``per_seed`` {seed: {dimension:
    {inertia, steerability}}}, ``dimensions`` {dimension: {inertia_sd,
    inertia_range, steerability_sd, steerability_range}}, ``overall`` (the same keys).
    """
    rows = persona_rows.loc[persona_rows["seed"].notna()] if "seed" in persona_rows else None
    seeds = sorted(int(s) for s in rows["seed"].unique()) if rows is not None else []
    baselines = {d: _pooled(baseline_rows, items) for d, items in questionnaire.dimensions.items()}
    per_seed: Json = {}
    overall: dict[str, list[float | None]] = {"inertia": [], "steerability": []}
    for s in seeds:
        assert rows is not None  # there are seeds only when there are rows
        part = rows.loc[rows["seed"].astype(int) == s]
        values: Json = {}
        for d, items in questionnaire.dimensions.items():
            p = _pooled(part, items)
            base = baselines[d]
            values[d] = {
                "inertia": float(inertia_index(p)) if p is not None else None,
                "steerability": float(steerability(base, p))
                if p is not None and base is not None
                else None,
            }
        per_seed[str(s)] = values
        for key in overall:
            overall[key].append(_mean_or_none([v[key] for v in values.values()]))

    def spread_of(by_metric: dict[str, list[float | None]]) -> Json:
        out: Json = {}
        for key, vals in by_metric.items():
            out[f"{key}_sd"], out[f"{key}_range"] = _spread(vals)
        return out

    dimensions = {
        d: spread_of({k: [per_seed[str(s)][d][k] for s in seeds] for k in overall})
        for d in questionnaire.dimensions
    }
    return {"per_seed": per_seed, "dimensions": dimensions, "overall": spread_of(overall)}


# --------------------------------------------------------------------------- convergence


def convergence_sizes(
    n_per_seed: int, step: int = CONVERGENCE_STEP, max_points: int = MAX_CONVERGENCE_POINTS
) -> list[int]:
    """k = step, 2 step, ... up to n (n included).

    A finer step (n // 5) when n < 3 step; a coarser one (a multiple of ``step``)
    when more than ``max_points`` sizes would be needed.
    """
    if n_per_seed < 1:
        return []
    if n_per_seed < 3 * step:
        step = max(1, n_per_seed // 5)
    elif n_per_seed / step > max_points:
        step = step * math.ceil(n_per_seed / (step * max_points))
    sizes = list(range(step, n_per_seed + 1, step))
    if not sizes or sizes[-1] != n_per_seed:
        sizes.append(n_per_seed)
    return sizes


def _persona_seeds(persona_rows: pd.DataFrame, personas: pd.DataFrame) -> pd.DataFrame:
    """persona_id -> seed and draw order (the personas table's ``index``, else the id)."""
    if "seed" in persona_rows.columns:
        pairs = persona_rows[["persona_id", "seed"]]
    elif "seed" in personas.columns:
        ids = set(persona_rows["persona_id"].dropna().astype(str))
        pairs = personas.loc[personas["persona_id"].astype(str).isin(ids), ["persona_id", "seed"]]
    else:
        return pd.DataFrame(columns=["persona_id", "seed", "order"])
    pairs = pairs.dropna().drop_duplicates("persona_id")
    frame = pairs.assign(persona_id=pairs["persona_id"].astype(str), seed=pairs["seed"].astype(int))
    if "index" in personas.columns:
        order = personas.assign(persona_id=personas["persona_id"].astype(str))
        order = order.drop_duplicates("persona_id").set_index("persona_id")["index"]
        frame["order"] = frame["persona_id"].map(order)
    else:
        frame["order"] = np.nan
    return frame.sort_values(["seed", "order", "persona_id"], na_position="last")


def convergence_across_seeds(
    mrat: pd.DataFrame,
    seeds_of: pd.DataFrame,
    dimensions: Sequence[str],
    *,
    n_boot: int,
    confidence: float,
    seed: int,
    step: int = CONVERGENCE_STEP,
) -> tuple[pd.DataFrame, Json]:
    """The paper's convergence: between-seed variance of MRAT-centred means of k personas.

    ``mrat``: persona x dimension MRAT-centred scores; ``seeds_of``: persona_id,
    seed, in draw order (:func:`_persona_seeds`). For every dimension and k in
    :func:`convergence_sizes` (up to the smallest seed's persona count):
    ``V(k) = Var_seeds(mean of the seed's first k MRAT scores)`` with a
    percentile bootstrap band (:func:`metrics.seed_convergence`). Returns the
    long table (dimension, k, variance, band_low, band_high) and a summary:
    enough_seeds, n_seeds, note (why there is no curve), sizes, final_variance.
    """
    columns = ["dimension", "k", "variance", "band_low", "band_high"]
    seeds = sorted(seeds_of["seed"].unique()) if len(seeds_of) else []
    info: Json = {"enough_seeds": len(seeds) >= 2, "n_seeds": len(seeds), "note": None,
                  "sizes": [], "final_variance": {}}  # fmt: skip
    if len(seeds) < 2:
        info["note"] = (
            f"convergence across persona seeds needs at least two seeds; this run has "
            f"{len(seeds)} (add one to personas.seeds)"
        )
        return pd.DataFrame(columns=columns), info
    records: list[dict[str, Any]] = []
    for dim in dimensions:
        if dim not in mrat.columns:
            continue
        per_seed = []
        for s in seeds:
            ids = seeds_of.loc[seeds_of["seed"] == s, "persona_id"]
            vals = mrat[dim].reindex(ids).to_numpy(dtype=float)
            per_seed.append(vals[np.isfinite(vals)])
        n_min = min(v.size for v in per_seed)
        sizes = convergence_sizes(n_min, step)
        if not sizes:
            continue
        variance, low, high = seed_convergence(
            per_seed, sizes, n_boot, confidence, _rng(seed, dim, "convergence")
        )
        for k, v, lo, hi in zip(sizes, variance, low, high, strict=True):
            records.append(
                {"dimension": dim, "k": k, "variance": v, "band_low": lo, "band_high": hi}
            )
        info["sizes"] = sorted(set(info["sizes"]) | set(sizes))
        info["final_variance"][dim] = float(variance[-1])
    return pd.DataFrame.from_records(records, columns=columns), info


# --------------------------------------------------------------------------- the analysis


@dataclass
class AnalysisOutput:
    """Everything one analyze run computes, computed once.

    ``metrics``: the metrics file; ``matrix``: persona x item mean expected
    ratings; ``scores``: :func:`persona_scores`; ``permeability``:
    :func:`permeability_table` (empty without attributes); ``convergence``:
    :func:`convergence_across_seeds`' table; ``bars``: per-dimension macro
    values for DVC's bar plot.
    """

    metrics: MetricsResult
    matrix: pd.DataFrame
    scores: pd.DataFrame
    permeability: pd.DataFrame = field(default_factory=pd.DataFrame)
    convergence: pd.DataFrame = field(default_factory=pd.DataFrame)
    bars: pd.DataFrame = field(default_factory=pd.DataFrame)

    def flat_metrics(self) -> dict[str, float]:
        """MLflow metrics named after the registry: see :func:`flatten_metrics`."""
        return flatten_metrics(self.metrics)


def flatten_metrics(metrics: MetricsResult) -> dict[str, float]:
    """Scalar metrics named from the metric registry, for MLflow.

    Result-scope metrics by name (``parse_rate``), overall ones as
    ``overall.<name>`` (plus ``overall.inertia_ci_low`` / ``_high``), per-dimension
    ones as ``<name>.<dimension>`` (``inertia.Harm``; spaces become ``_``).
    Missing values are left out.
    """
    data = metrics.model_dump()
    flat: dict[str, Any] = {}
    for name in metric_registry.names("result"):
        flat[name] = data.get(name)
    overall = data.get("overall") or {}
    for name in metric_registry.names("overall"):
        flat[f"overall.{name}"] = overall.get(name)
    lo, hi = overall.get("inertia_ci") or [None, None]
    flat["overall.inertia_ci_low"], flat["overall.inertia_ci_high"] = lo, hi
    for d, values in (data.get("dimensions") or {}).items():
        for name in metric_registry.names("dimension"):
            flat[f"{name}.{d}"] = values.get(name)
    return {
        k.replace(" ", "_"): float(v)
        for k, v in flat.items()
        if isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)
    }


def run_analysis(
    parsed: pd.DataFrame,
    personas: pd.DataFrame,
    questionnaire: Questionnaire,
    *,
    n_boot: int,
    confidence: float,
    seed: int,
    attributes: Sequence[str] | None = None,
    variant: str = DEFAULT_VARIANT,
    protocol: Any = None,
    n_permutations: int = 1000,
    min_group_size: int = MIN_GROUP_SIZE,
    alpha: float = FDR_ALPHA,
    convergence_step: int = CONVERGENCE_STEP,
    convergence_boot: int = 200,
) -> AnalysisOutput:
    """Metrics of one (model, questionnaire, variant) and the tables behind its figures.

    ``parsed`` is one model's parsed table (rows of other questionnaires and
    variants are ignored); ``personas`` the personas table (attributes, seeds,
    draw order). ``attributes``: persona attributes for selective permeability
    (none: no permeability grid). ``protocol``: a
    :class:`value_inertia.core.protocol.Protocol` whose hash and fields go into the
    file. ``convergence_boot``: bootstrap resamples of the convergence bands.
    Bootstrap and permutation draws are seeded from ``seed`` and the
    group name, so results do not depend on evaluation order. The persona x item
    matrix is built once. ``overall`` is the unweighted mean over dimensions of
    inertia, steerability, top2 and top1, with a joint bootstrap CI over
    personas for inertia and steerability (:func:`_overall_ci`). See
    :func:`_group_metrics` for the per-dimension definitions.
    """
    rows = _select(parsed, questionnaire, variant)
    if rows.empty:
        raise ValueError(
            f"parsed table: no rows for questionnaire {questionnaire.id!r}"
            + (f" and variant {variant!r}" if variant != DEFAULT_VARIANT else "")
        )
    if "seed" not in rows and "seed" in personas:  # older parsed tables: seeds from personas
        seed_of = personas.drop_duplicates("persona_id").set_index(
            personas.drop_duplicates("persona_id")["persona_id"].astype(str)
        )["seed"]
        rows["seed"] = rows["persona_id"].astype(str).map(seed_of).astype("Int64")
    persona_all = rows.loc[rows["condition"] == "persona"]
    baseline_all = rows.loc[rows["condition"] == "baseline"]
    persona_scored = persona_all.loc[~persona_all["is_catch"]]
    baseline_scored = baseline_all.loc[~baseline_all["is_catch"]]

    seeds = sorted(int(s) for s in persona_all["seed"].dropna().unique()) if "seed" in rows else []
    mode = _single(rows, "mode")
    letter_mass = None
    if mode == "logprobs" and "letter_mass" in rows:
        lm = rows.loc[rows["ok"], "letter_mass"].to_numpy(dtype=float, na_value=np.nan)
        lm = lm[np.isfinite(lm)]
        letter_mass = float(lm.mean()) if lm.size else None

    matrix = _matrix_of(rows, questionnaire)
    scores = persona_scores(parsed, questionnaire, variant, matrix=matrix)
    mrat = _mrat_matrix(matrix, questionnaire)
    common: Json = dict(n_boot=n_boot, confidence=confidence, seed=seed)

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

    # every registered overall metric: the unweighted mean over dimensions
    overall: Json = {
        key: _mean_or_none([m.get(key) for m in dimensions.values()])
        for key in metric_registry.names("overall")
    }
    baselines = {d: _pooled(baseline_scored, it) for d, it in questionnaire.dimensions.items()}
    overall |= _overall_ci(persona_scored, questionnaire, baselines, **common)

    catch_items: Json = {}
    for item in (it.number for it in questionnaire.items if it.catch):
        p_rows = persona_all.loc[persona_all["ok"] & (persona_all["item"] == item), "expected"]
        b_rows = baseline_all.loc[baseline_all["ok"] & (baseline_all["item"] == item), "expected"]
        catch_items[str(item)] = {
            "mean_rating": float(p_rows.mean()) if len(p_rows) else None,
            "baseline_mean_rating": float(b_rows.mean()) if len(b_rows) else None,
        }

    dims = list(questionnaire.dimensions)
    perm = pd.DataFrame()
    if attributes:
        perm = permeability_table(
            scores, personas, list(attributes), dims, n_permutations=n_permutations,
            seed=seed, min_group_size=min_group_size, alpha=alpha,
        )  # fmt: skip
    conv, conv_info = convergence_across_seeds(
        mrat,
        _persona_seeds(persona_all, personas),
        dims,
        step=convergence_step,
        n_boot=convergence_boot,
        confidence=confidence,
        seed=seed,
    )

    result: Json = {
        "model": _single(rows, "model"),
        "questionnaire": questionnaire.id,
        "variant": variant,
        "protocol_hash": protocol.hash if protocol is not None else None,
        "protocol": None,  # set below, unrounded
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
        "seed_spread": seed_spread(persona_scored, baseline_scored, questionnaire),
        "permeability": perm.to_dict(orient="records"),
        "convergence": conv_info,
        "catch_items": catch_items,
    }
    cleaned = json_ready(result)
    cleaned["protocol"] = protocol.fields if protocol is not None else None
    metrics = validate(MetricsResult, cleaned, f"metrics of {questionnaire.id}")
    bars = pd.DataFrame(
        [
            {
                "dimension": d,
                **{k: m[k] for k in ("inertia", "steerability", "top2", "mean_rating")},
            }
            for d, m in dimensions.items()
        ],
        columns=["dimension", "inertia", "steerability", "top2", "mean_rating"],
    )
    return AnalysisOutput(metrics, matrix, scores, perm, conv, bars)


def analyze(
    parsed: pd.DataFrame,
    personas: pd.DataFrame,
    questionnaire: Questionnaire,
    *,
    n_boot: int,
    confidence: float,
    seed: int,
    **options: Any,
) -> Json:
    """The metrics file of :func:`run_analysis` as a JSON-ready dict (same options)."""
    out = run_analysis(
        parsed, personas, questionnaire, n_boot=n_boot, confidence=confidence, seed=seed, **options
    )
    return out.metrics.model_dump(mode="json")
