"""The persona x item matrix and the row selections every analysis starts from.

A parsed-answers table (one row per answer, ``p_1..p_6`` on the 1-6 scale, NaN when
unparsed) is cut to one questionnaire and prompt variant (:func:`select_rows`), then
turned into the persona x scored-item matrix of mean expected ratings
(:func:`persona_item_matrix`), persona dimension scores and their MRAT-centred
(ipsatized) versions (:func:`persona_scores`), and the per-persona summed
distributions and pooled distributions the macro metrics and bootstraps use.
The matrix is built once per analyze process (:func:`matrix_of_rows` from the
selected rows) and handed to whoever needs it.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from value_inertia.analysis.metrics import mrat_scores, normalise
from value_inertia.core.naming import DEFAULT_VARIANT
from value_inertia.design.questionnaires import N_OPTIONS, Questionnaire

P_COLUMNS: list[str] = [f"p_{k}" for k in range(1, N_OPTIONS + 1)]
RATINGS: np.ndarray = np.arange(1, N_OPTIONS + 1, dtype=float)


def scored_items(questionnaire: Questionnaire) -> list[int]:
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


def select_rows(
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
    return matrix_of_rows(select_rows(parsed, questionnaire, variant), questionnaire)


def matrix_of_rows(rows: pd.DataFrame, questionnaire: Questionnaire) -> pd.DataFrame:
    """:func:`persona_item_matrix` from already selected rows."""
    persona_rows = rows.loc[(rows["condition"] == "persona") & ~rows["is_catch"]]
    items = scored_items(questionnaire)
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
    mrat = mrat_matrix(matrix, questionnaire)
    for d in dims:
        scores[f"mrat:{d}"] = mrat[d].to_numpy() if d in mrat else np.nan
    return scores


def mrat_matrix(matrix: pd.DataFrame, questionnaire: Questionnaire) -> pd.DataFrame:
    """MRAT-centred persona x dimension scores via :func:`metrics.mrat_scores`."""
    if matrix.shape[0] == 0:
        return pd.DataFrame(columns=list(questionnaire.dimensions), dtype=float)
    dim_of = [questionnaire.item_dimension[int(n)] for n in matrix.columns]
    names, values = mrat_scores(matrix.to_numpy(dtype=float), dim_of)
    return pd.DataFrame(np.asarray(values, dtype=float), index=matrix.index, columns=list(names))


def group_mrat(matrix: pd.DataFrame, items: Sequence[int]) -> np.ndarray:
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


def per_persona_sums(rows: pd.DataFrame, items: Sequence[int]) -> np.ndarray:
    """Persona x 6 array: the sum of a persona's row distributions over ``items``.

    Summing (not averaging) keeps every answer's weight equal, so that
    ``normalise(sum over personas)`` equals the pooled mean distribution ``p_d``.
    """
    sel = rows.loc[rows["ok"] & rows["item"].isin(list(items))]
    if sel.empty:
        return np.zeros((0, N_OPTIONS))
    return sel.groupby("persona_id", sort=True)[P_COLUMNS].sum().to_numpy(dtype=float)


def pooled_distribution(rows: pd.DataFrame, items: Sequence[int]) -> np.ndarray | None:
    """``p = (1/N) sum_r p_r`` over the usable rows of ``items`` (None when there are none)."""
    sel = rows.loc[rows["ok"] & rows["item"].isin(list(items)), P_COLUMNS]
    if sel.empty:
        return None
    return np.asarray(normalise(sel.to_numpy(dtype=float).sum(axis=0)), dtype=float)


def mean_letter_mass(rows: pd.DataFrame) -> float | None:
    """Mean ``letter_mass`` (probability on the option letters) of the usable rows; None if none."""
    if "letter_mass" not in rows:
        return None
    mass = rows.loc[rows["ok"], "letter_mass"].to_numpy(dtype=float, na_value=np.nan)
    mass = mass[np.isfinite(mass)]
    return float(mass.mean()) if mass.size else None


def catch_item_means(
    persona_rows: pd.DataFrame, baseline_rows: pd.DataFrame, questionnaire: Questionnaire
) -> dict[str, dict[str, float | None]]:
    """Per catch (attention-check) item: the mean expected rating with and without a persona."""
    out: dict[str, dict[str, float | None]] = {}
    for item in (it.number for it in questionnaire.items if it.catch):
        p_rows = persona_rows.loc[persona_rows["ok"] & (persona_rows["item"] == item), "expected"]
        b_rows = baseline_rows.loc[
            baseline_rows["ok"] & (baseline_rows["item"] == item), "expected"
        ]
        out[str(item)] = {
            "mean_rating": float(p_rows.mean()) if len(p_rows) else None,
            "baseline_mean_rating": float(b_rows.mean()) if len(b_rows) else None,
        }
    return out


def with_seeds(rows: pd.DataFrame, personas: pd.DataFrame) -> pd.DataFrame:
    """``rows`` with a ``seed`` column: older parsed tables lack it, the personas table has it."""
    if "seed" in rows or "seed" not in personas:
        return rows
    unique = personas.drop_duplicates("persona_id")
    seed_of = unique.set_index(unique["persona_id"].astype(str))["seed"]
    return rows.assign(seed=rows["persona_id"].astype(str).map(seed_of).astype("Int64"))


def persona_dimension_sums(
    persona_rows: pd.DataFrame, questionnaire: Questionnaire
) -> tuple[list[str], np.ndarray]:
    """(dimensions, persona x (D * 6) array): each persona's summed distributions per dimension.

    Block d (columns 6 d .. 6 d + 5) sums a persona's usable row distributions
    over the items of d; personas in id order. Dimensions without any answer are
    left out (so a statistic over the blocks means over the answered ones).
    """
    usable = persona_rows.loc[persona_rows["ok"]]
    ids = sorted(usable["persona_id"].dropna().astype(str).unique())
    dims, blocks = [], []
    for d, items in questionnaire.dimensions.items():
        sel = usable.loc[usable["item"].isin(list(items))]
        summed = sel.groupby(sel["persona_id"].astype(str))[P_COLUMNS].sum()
        if len(summed):
            dims.append(d)
            blocks.append(summed.reindex(ids, fill_value=0.0).to_numpy(dtype=float))
    data = np.hstack(blocks) if blocks else np.zeros((len(ids), 0))
    return dims, data
