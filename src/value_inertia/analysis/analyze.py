"""Per (model, questionnaire) analysis of a parsed-answers table.

Input is one model's parsed table (see ``parsing``): one row per answer with the
answer distribution ``p_1..p_6`` on the original 1-6 scale (all NaN when the
answer could not be parsed). Everything here is built from the pure functions in
:mod:`value_inertia.analysis.metrics`, the persona x item matrix of
:mod:`value_inertia.analysis.matrix` (built once per call), the intervals of
:mod:`value_inertia.analysis.stats` and the seed analyses of
:mod:`value_inertia.analysis.stability`:

* macro level: per value dimension (and per roll-up group) the pooled answer
  distribution ``p_d`` and every metric the registry computes from it (inertia,
  steerability, top-2 / top-1 share, ...; :mod:`value_inertia.core.registry`), with
  studentized bootstrap confidence intervals over personas for those registered with
  ``has_ci`` (:func:`value_inertia.analysis.stats.studentized_interval`);
* micro level: the persona x item matrix of expected ratings, MRAT-centred
  persona scores, selective permeability per (attribute, dimension)
  (omega-squared, permutation p, Benjamini-Hochberg q; Cohen's d only for
  two-group contrasts), per-seed inertia and steerability and their spread,
  and the convergence across persona seeds of MRAT-centred dimension means as
  the number of personas grows.

:func:`run_analysis` does all of it once per (model, questionnaire, variant) and returns the
metrics file (:class:`value_inertia.core.results.MetricsResult`) and the figures' tables.

Catch (attention-check) items are excluded from every score and reported on their own.
Unparsed rows count against the parse rate and are excluded from every distribution.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from value_inertia.analysis.matrix import (
    catch_item_means,
    group_mrat,
    matrix_of_rows,
    mean_letter_mass,
    mrat_matrix,
    per_persona_sums,
    persona_dimension_sums,
    persona_scores,
    pooled_distribution,
    select_rows,
    with_seeds,
)
from value_inertia.analysis.metrics import expected_rating
from value_inertia.analysis.permeability import FDR_ALPHA, MIN_GROUP_SIZE, permeability_table
from value_inertia.analysis.stability import (
    CONVERGENCE_STEP,
    convergence_across_seeds,
    persona_seeds,
    seed_spread,
    seed_stability,
)
from value_inertia.analysis.stats import bounded_interval, keyed_rng, mean_or_none
from value_inertia.analysis.summary import flatten_metrics
from value_inertia.core import registry as metric_registry
from value_inertia.core.naming import DEFAULT_VARIANT
from value_inertia.core.protocol import answer_mode
from value_inertia.core.results import MetricsResult, json_ready, validate
from value_inertia.design.questionnaires import N_OPTIONS, Questionnaire

Json = dict[str, Any]


def _statistic(
    spec: metric_registry.MetricSpec, p_baseline: np.ndarray | None
) -> Callable[[np.ndarray], np.ndarray]:
    """The registered metric as a vectorised statistic of summed rows (one value per row).

    Its ``rows`` when registered (``paired``: against ``p_baseline``); otherwise its
    point function applied row by row (NaN for an empty row).
    """
    if spec.rows is not None and spec.kind == "paired":
        against: Callable[[np.ndarray], np.ndarray] = spec.rows(p_baseline)
        return against
    if spec.rows is not None:
        return spec.rows
    fn = spec.fn
    if fn is None:
        raise ValueError(f"metric {spec.name!r} is registered without a function")
    args = (p_baseline,) if spec.kind == "paired" else ()

    def each_row(sums: np.ndarray) -> np.ndarray:
        return np.array([fn(*args, r) if r.sum() > 0 else np.nan for r in sums], dtype=float)

    return each_row


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
    * every registered dimension metric computed from distributions
      (:func:`value_inertia.core.registry.computed`): ``distribution`` ones of p_d
      (``inertia`` = 1 - H(p_d) / log2 6, ``top2`` / ``top1``: largest two / largest
      entry of p_d, ``mean_rating`` = sum_k k p_d[k]), ``paired`` ones of
      (p_d^base, p_d) (``steerability`` = JSD_2(p_d^base, p_d)); None without answers.
    * ``baseline_mean_rating`` = sum_k k p_d^base[k].
    * ``mrat``: mean over personas of the MRAT-centred score.
    * ``<name>_ci`` of each metric registered with ``has_ci``: studentized bootstrap over
      personas (per-persona summed distributions resampled with replacement, p_d
      recomputed per draw; :func:`value_inertia.analysis.stats.bounded_interval`).
    """
    p = pooled_distribution(persona_rows, items)
    p_base = pooled_distribution(baseline_rows, items)
    sums = per_persona_sums(persona_rows, items)
    specs = metric_registry.computed("dimension")
    out: Json = {}
    for spec in specs:  # None until computed
        out |= {spec.name: None} | ({f"{spec.name}_ci": [None, None]} if spec.has_ci else {})
    out |= {
        "baseline_mean_rating": float(expected_rating(p_base)) if p_base is not None else None,
        "mrat": None,
        "mrat_ci": [None, None],
        "distribution": p.tolist() if p is not None else None,
        "baseline_distribution": p_base.tolist() if p_base is not None else None,
    }
    for spec in specs:
        if p is None or spec.fn is None or (spec.kind == "paired" and p_base is None):
            continue
        out[spec.name] = float(spec.fn(p_base, p) if spec.kind == "paired" else spec.fn(p))
        if spec.has_ci:
            out[f"{spec.name}_ci"] = bounded_interval(
                sums,
                _statistic(spec, p_base),
                n_boot=n_boot,
                confidence=confidence,
                rng=keyed_rng(seed, name, spec.name),
                bounds=spec.bounds,
            )
    finite = mrat_values[np.isfinite(mrat_values)]
    if finite.size:
        out["mrat"] = float(finite.mean())
        n_finite = finite.size
        out["mrat_ci"] = bounded_interval(
            finite.reshape(-1, 1),
            lambda s: s[:, 0] / n_finite,
            n_boot=n_boot,
            confidence=confidence,
            rng=keyed_rng(seed, name, "mrat"),
            bounds=None,
        )
    return out


def _parse_rate(rows: pd.DataFrame) -> float | None:
    """Fraction of rows with a usable distribution (None when there are no rows)."""
    return float(rows["ok"].mean()) if len(rows) else None


def _single(rows: pd.DataFrame, column: str) -> str:
    values = sorted(rows[column].dropna().astype(str).unique()) if column in rows else []
    if len(values) > 1:
        raise ValueError(f"parsed table: expected one {column}, found {', '.join(values)}")
    return values[0] if values else ""


def _overall_ci(
    persona_rows: pd.DataFrame,
    questionnaire: Questionnaire,
    baselines: dict[str, np.ndarray | None],
    *,
    n_boot: int,
    confidence: float,
    seed: int,
) -> dict[str, list[float | None]]:
    """Joint bootstrap over personas of each overall (mean over dimensions) metric
    registered with ``has_ci`` (inertia, steerability).

    Each persona contributes, per dimension d, the sum of its row distributions
    over the items of d (a persona x (D * 6) matrix). A resample of personas
    (with replacement) gives p*_d for every d at once, so the dimensions stay
    paired: overall* = (1/D') sum_d I(p*_d) over the D' dimensions with answers
    (likewise JSD_2(p_d^baseline, p*_d) for steerability; a ``paired`` metric needs
    some dimension with a baseline).
    """
    specs = [spec for spec in metric_registry.computed("overall") if spec.has_ci]
    out: dict[str, list[float | None]] = {f"{spec.name}_ci": [None, None] for spec in specs}
    dims, data = persona_dimension_sums(persona_rows, questionnaire)
    if data.shape[0] < 2 or n_boot < 1:
        return out
    any_baseline = any(baselines.get(d) is not None for d in dims)

    def mean_over_dims(spec: metric_registry.MetricSpec) -> Callable[[np.ndarray], np.ndarray]:
        def one(i: int, block: np.ndarray) -> np.ndarray:
            base = baselines.get(dims[i])
            if spec.kind == "paired" and base is None:
                return np.full(len(block), np.nan)
            return _statistic(spec, base)(block)

        def statistic(sums: np.ndarray) -> np.ndarray:
            per_dim = sums.reshape(sums.shape[0], len(dims), N_OPTIONS)
            with np.errstate(all="ignore"):
                values = np.column_stack([one(i, per_dim[:, i, :]) for i in range(len(dims))])
                return np.nanmean(values, axis=1)

        return statistic

    for spec in specs:
        if spec.kind == "paired" and not any_baseline:
            continue
        out[f"{spec.name}_ci"] = bounded_interval(
            data,
            mean_over_dims(spec),
            n_boot=n_boot,
            confidence=confidence,
            rng=keyed_rng(seed, "overall", spec.name),
            bounds=spec.bounds,
        )
    return out


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
    every registered overall metric (inertia, steerability, top2, top1, ...), with a
    joint bootstrap CI over personas for those registered with ``has_ci``
    (:func:`_overall_ci`). See
    :func:`_group_metrics` for the per-dimension definitions.
    """
    rows = select_rows(parsed, questionnaire, variant)
    if rows.empty:
        raise ValueError(
            f"parsed table: no rows for questionnaire {questionnaire.id!r}"
            + (f" and variant {variant!r}" if variant != DEFAULT_VARIANT else "")
        )
    rows = with_seeds(rows, personas)
    persona_all = rows.loc[rows["condition"] == "persona"]
    baseline_all = rows.loc[rows["condition"] == "baseline"]
    persona_scored = persona_all.loc[~persona_all["is_catch"]]
    baseline_scored = baseline_all.loc[~baseline_all["is_catch"]]

    seeds = sorted(int(s) for s in persona_all["seed"].dropna().unique()) if "seed" in rows else []
    mode = _single(rows, "mode")
    matrix = matrix_of_rows(rows, questionnaire)
    scores = persona_scores(parsed, questionnaire, variant, matrix=matrix)
    mrat = mrat_matrix(matrix, questionnaire)
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
            mvals = group_mrat(matrix, items) if len(matrix) else np.array([])
            levels[level][group] = _group_metrics(
                f"{level}/{group}", items, persona_scored, baseline_scored, mvals, **common
            )

    # every registered overall metric: the unweighted mean over dimensions
    overall: Json = {
        key: mean_or_none([m.get(key) for m in dimensions.values()])
        for key in metric_registry.names("overall")
    }
    baselines = {
        d: pooled_distribution(baseline_scored, it) for d, it in questionnaire.dimensions.items()
    }
    overall |= _overall_ci(persona_scored, questionnaire, baselines, **common)

    dims = list(questionnaire.dimensions)
    perm = pd.DataFrame()
    if attributes:
        perm = permeability_table(
            scores, personas, list(attributes), dims, n_permutations=n_permutations,
            seed=seed, min_group_size=min_group_size, alpha=alpha,
        )  # fmt: skip
    conv, conv_info = convergence_across_seeds(
        mrat,
        persona_seeds(persona_all, personas),
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
        "letter_mass": mean_letter_mass(rows)
        if mode and answer_mode(mode).has_letter_mass
        else None,
        "overall": overall,
        "dimensions": dimensions,
        "levels": levels,
        "seed_stability": seed_stability(persona_scored) if len(seeds) > 1 else {},
        "seed_spread": seed_spread(persona_scored, baseline_scored, questionnaire),
        "permeability": perm.to_dict(orient="records"),
        "convergence": conv_info,
        "catch_items": catch_item_means(persona_all, baseline_all, questionnaire),
    }
    cleaned = json_ready(result)
    cleaned["protocol"] = protocol.fields if protocol is not None else None
    metrics = validate(MetricsResult, cleaned, f"metrics of {questionnaire.id}")
    # the per-dimension values of DVC's bar plot: the registry's per_dimension "plot" ones
    bar_columns = ["dimension", *metric_registry.per_dimension("plot")]
    bars = pd.DataFrame([{"dimension": d, **m} for d, m in dimensions.items()], columns=bar_columns)
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
