"""Stability across persona seeds: seed stability, per-seed spread and convergence.

* :func:`seed_stability`: Pearson r between seeds of the per-item mean ratings;
* :func:`seed_spread`: per-seed inertia and steerability per dimension and their
  spread over seeds;
* :func:`convergence_across_seeds` (with :func:`seed_convergence`): the paper's
  convergence, the variance across seeds of the mean MRAT-centred score of the
  first k personas as k grows.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from itertools import combinations
from typing import Any

import numpy as np
import pandas as pd

from value_inertia.analysis.matrix import pooled_distribution
from value_inertia.analysis.metrics import inertia_index, pearson_r, steerability
from value_inertia.analysis.stats import keyed_rng, mean_or_none, percentile_interval
from value_inertia.design.questionnaires import Questionnaire

CONVERGENCE_STEP = 10  # k = 10, 20, ... personas per seed
MAX_CONVERGENCE_POINTS = 25  # at most this many sizes k (coarser steps for large n)

Json = dict[str, Any]


def seed_stability(persona_rows: pd.DataFrame) -> dict[str, float | None]:
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
    baselines = {
        d: pooled_distribution(baseline_rows, items)
        for d, items in questionnaire.dimensions.items()
    }
    per_seed: Json = {}
    overall: dict[str, list[float | None]] = {"inertia": [], "steerability": []}
    for s in seeds:
        assert rows is not None  # there are seeds only when there are rows
        part = rows.loc[rows["seed"].astype(int) == s]
        values: Json = {}
        for d, items in questionnaire.dimensions.items():
            p = pooled_distribution(part, items)
            base = baselines[d]
            values[d] = {
                "inertia": float(inertia_index(p)) if p is not None else None,
                "steerability": float(steerability(base, p))
                if p is not None and base is not None
                else None,
            }
        per_seed[str(s)] = values
        for key in overall:
            overall[key].append(mean_or_none([v[key] for v in values.values()]))

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


def persona_seeds(persona_rows: pd.DataFrame, personas: pd.DataFrame) -> pd.DataFrame:
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
    seed, in draw order (:func:`persona_seeds`). For every dimension and k in
    :func:`convergence_sizes` (up to the smallest seed's persona count):
    ``V(k) = Var_seeds(mean of the seed's first k MRAT scores)`` with a
    percentile bootstrap band (:func:`seed_convergence`). Returns the
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
            per_seed, sizes, n_boot, confidence, keyed_rng(seed, dim, "convergence")
        )
        for k, v, lo, hi in zip(sizes, variance, low, high, strict=True):
            records.append(
                {"dimension": dim, "k": k, "variance": v, "band_low": lo, "band_high": hi}
            )
        info["sizes"] = sorted(set(info["sizes"]) | set(sizes))
        info["final_variance"][dim] = float(variance[-1])
    return pd.DataFrame.from_records(records, columns=columns), info


def seed_convergence(
    scores_by_seed: Sequence[np.ndarray | Sequence[float]],
    sizes: Sequence[int],
    n_boot: int,
    confidence: float,
    rng: np.random.Generator,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Between-seed variance of the mean score of the first k personas (the paper's convergence).

    ``scores_by_seed``: for each of the S >= 2 persona seeds, one score per
    persona in the order the personas were drawn (e.g. MRAT-centred scores of
    one dimension). For each k in ``sizes``:

        m_s(k) = (1/k) sum_{i <= k} x_{s,i}          (mean of seed s's first k personas)
        V(k)   = 1/S sum_s (m_s(k) - m̄(k))^2         (variance across seeds, ddof = 0)

    ddof = 0 as the authors compute it (``np.var`` over the seeds' scores in their
    ``figures/rq2_figure.py``). V(k) shrinks as k grows when the seeds' persona
    populations agree; it does not fall to 0 at k = n by construction (unlike
    subsets of one pooled set).
    Band: percentile bootstrap of V(k), resampling each seed's first k personas
    with replacement ``n_boot`` times. Returns (V, band_low, band_high), one
    entry per k. Raises ValueError with fewer than 2 seeds, a k outside
    1..min_s n_s, or NaN scores (drop them first).
    """
    seeds = [np.asarray(v, dtype=float).ravel() for v in scores_by_seed]
    if len(seeds) < 2:
        raise ValueError("convergence across seeds needs at least two persona seeds")
    if any(not np.all(np.isfinite(v)) for v in seeds):
        raise ValueError("scores must be finite (drop personas without a score first)")
    n_min = min(v.size for v in seeds)
    if n_boot < 1:
        raise ValueError(f"n_boot must be >= 1, got {n_boot}")
    variance, low, high = (np.empty(len(sizes)) for _ in range(3))
    for i, k in enumerate(sizes):
        if not 1 <= k <= n_min:
            raise ValueError(f"size {k} is outside 1..{n_min} (personas of the smallest seed)")
        means = np.array([v[:k].mean() for v in seeds])
        variance[i] = means.var(ddof=0)
        boot = np.column_stack(
            [v[:k][rng.integers(0, k, size=(n_boot, k))].mean(axis=1) for v in seeds]
        )
        low[i], high[i] = percentile_interval(boot.var(axis=1, ddof=0), confidence)
    return variance, low, high
