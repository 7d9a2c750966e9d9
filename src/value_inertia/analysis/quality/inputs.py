"""Validation of the arrays the quality checks take, and small shared helpers."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from value_inertia.analysis.stats import percentile_interval
from value_inertia.design.questionnaires import N_OPTIONS

if TYPE_CHECKING:
    from typing_extensions import TypeIs  # typing.TypeIs from Python 3.13 on

P_COLUMNS = [f"p_{k}" for k in range(1, N_OPTIONS + 1)]
LETTERS = "ABCDEF"
SCALE_MIDPOINT = (1 + N_OPTIONS) / 2  # 3.5 on the 1-6 scale
SMALL = 1e-12


def as_matrix(values: Any, name: str) -> np.ndarray:
    """A 2-D float array with at least two columns (NaN allowed, inf refused)."""
    arr = np.asarray(values, dtype=float)
    if arr.ndim != 2:
        raise ValueError(f"{name} must be a 2-D persona x item array, got shape {arr.shape}")
    if arr.shape[1] < 2:
        raise ValueError(f"{name} needs at least 2 item columns, got {arr.shape[1]}")
    if np.isinf(arr).any():
        raise ValueError(f"{name} contains infinite values")
    return arr


def complete_rows(matrix: Any) -> np.ndarray:
    """Listwise deletion: the rows of ``matrix`` without any NaN."""
    arr = as_matrix(matrix, "matrix")
    return arr[~np.isnan(arr).any(axis=1)]


def distributions(p: Any, name: str) -> np.ndarray:
    """Rows of 6 finite, non-negative numbers with a positive sum -> rows summing to 1."""
    arr = np.asarray(p, dtype=float)
    if arr.ndim != 2 or arr.shape[1] != N_OPTIONS:
        raise ValueError(f"{name} must be an n x {N_OPTIONS} array, got shape {arr.shape}")
    bad = ~np.isfinite(arr).all(axis=1) | (arr < 0).any(axis=1) | ~(arr.sum(axis=1) > 0)
    if bad.any():
        raise ValueError(
            f"{name}: row {int(np.flatnonzero(bad)[0])} is not a distribution over "
            f"{N_OPTIONS} options (NaN, negative or all zero); drop unparsed answers first"
        )
    return arr / arr.sum(axis=1, keepdims=True)


def permutations(letter_ratings: Any, n: int) -> np.ndarray:
    """``letter_ratings`` as an n x 6 int array whose rows are permutations of 1..6."""
    arr = np.asarray(
        [list(r) for r in letter_ratings]
        if not isinstance(letter_ratings, np.ndarray)
        else letter_ratings
    )
    if arr.ndim != 2 or arr.shape != (n, N_OPTIONS):
        raise ValueError(
            f"letter_ratings must be an n x {N_OPTIONS} array matching the {n} answers, "
            f"got shape {arr.shape}"
        )
    target = np.arange(1, N_OPTIONS + 1)
    bad = ~(np.sort(arr, axis=1) == target).all(axis=1)
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        raise ValueError(
            f"letter_ratings row {row} ({arr[row].tolist()}) is not a permutation of 1..6"
        )
    return arr.astype(int)


def percentile_ci(values: np.ndarray, confidence: float) -> tuple[float, float] | None:
    """The (1 - c)/2 and (1 + c)/2 quantiles of the finite ``values`` (None: none finite)."""
    lo, hi = percentile_interval(values, confidence)
    return (lo, hi) if np.isfinite(lo) else None


def check_boot(n_boot: int, confidence: float) -> None:
    if n_boot < 1:
        raise ValueError(f"n_boot must be >= 1, got {n_boot}")
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be in (0, 1), got {confidence}")


def finite(value: Any) -> TypeIs[float]:
    """A real number that is not NaN or infinite (None, strings and NaN are not)."""
    return (
        value is not None
        and isinstance(value, int | float)
        and not isinstance(value, bool)
        and bool(np.isfinite(value))
    )


def mean_of(values: Sequence[Any]) -> float | None:
    """Mean of the finite entries (None when there is none)."""
    vals = [v for v in values if finite(v)]
    return float(np.mean(vals)) if vals else None
