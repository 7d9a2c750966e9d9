"""Cluster personas by their value profile and ask how much persona attributes explain it.

Input is the persona x item matrix of mean expected ratings (one model, one
questionnaire; :func:`value_inertia.analysis.matrix.persona_item_matrix`). Each
persona's ratings are MRAT-centred (ipsatized: the persona's mean over all
scored items is subtracted), so that clusters are value profiles (what a
persona rates higher or lower than its own average) and not agreement levels
(how high a persona rates everything). The number of clusters is chosen by
silhouette and accepted only against a null reference: the same clustering on
Gaussian data with the same covariance (one continuous, unimodal population
with the same spread) must give a lower best silhouette (a parametric bootstrap
test, :func:`null_silhouettes`). One continuous factor gives k = 1 ("no
structure beyond a continuum"); separated groups give their k. A best
silhouette below ``min_silhouette`` is k = 1 as well. PCA gives 2-D
coordinates for plotting, and the adjusted mutual information (AMI) between
the clusters and each persona attribute says how much that attribute explains
the clustering (0: no more than chance, 1: identical partitions).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd
from sklearn.cluster import AgglomerativeClustering, KMeans
from sklearn.decomposition import PCA
from sklearn.metrics import adjusted_mutual_info_score, silhouette_score
from threadpoolctl import threadpool_limits

from value_inertia.analysis.permeability import INTEGER_BINS, attribute_labels

__all__ = [
    "INTEGER_BINS",
    "MIN_SILHOUETTE",
    "ClusterResult",
    "attribute_labels",
    "cluster_personas",
    "ipsatize",
    "prepare_matrix",
]

Method = Literal["kmeans", "agglomerative"]
METHODS: tuple[str, ...] = ("kmeans", "agglomerative")
VARIANCE_EPS = 1e-12
# Kaufman & Rousseeuw (1990): an average silhouette below 0.25 means "no substantial
# structure"; then the personas form one cluster (k = 1).
MIN_SILHOUETTE = 0.25
# Gaussian null datasets of the cluster test: with 19 draws the smallest p-value is
# 1/20 = 0.05, so k > 1 is accepted only when every null draw clusters worse.
NULL_DRAWS = 19
NULL_LEVEL = 0.05
# rows of each null data set at most (more personas: the null's silhouette barely moves
# with n, and 19 draws x every k on 30,000 rows would cost minutes)
NULL_MAX_ROWS = 2000


@dataclass
class ClusterResult:
    """Cluster assignments with PCA coordinates and a JSON-ready summary.

    ``assignments``: persona_id, cluster, pc1, pc2 (one row per persona).
    ``summary``: method, profiles, k, silhouette, silhouette_by_k, min_silhouette, sizes, ami,
    explained_variance, n_personas, n_items, n_items_used (items left after
    dropping constant ones) and ``note`` when clustering was not possible.
    Floats are rounded to 6 places.
    """

    assignments: pd.DataFrame
    summary: dict[str, Any] = field(default_factory=dict)


def ipsatize(matrix: pd.DataFrame) -> pd.DataFrame:
    """MRAT-centre each persona's row: ``x[i, j] - mean_j x[i, j]`` (NaN-aware).

    What remains is the persona's value profile: which items it rates above or
    below its own average. A persona that rates everything 2 and one that
    rates everything 5 get the same (flat) profile.
    """
    values = matrix.astype(float)
    return values.sub(values.mean(axis=1, skipna=True), axis=0)


def prepare_matrix(matrix: pd.DataFrame) -> pd.DataFrame:
    """Centre the items of a persona x item matrix.

    Missing cells get the item's mean over personas; items without any value
    or with zero variance (``Var < 1e-12``) are dropped; each remaining item is
    centred, ``x[i, j] - mean_i x[i, j]``. Items are deliberately not scaled to
    unit variance: all items share the same 1-6 scale, and scaling would blow
    up items that barely vary (sampling noise) to the weight of items that
    really separate personas.
    """
    values = matrix.astype(float)
    values = values.loc[:, values.notna().any(axis=0)]
    values = values.fillna(values.mean(axis=0))
    keep = values.var(axis=0, ddof=0) > VARIANCE_EPS
    values = values.loc[:, keep]
    return values - values.mean(axis=0)


def _fit(method: str, k: int, x: np.ndarray, seed: int) -> np.ndarray:
    if method == "kmeans":
        return KMeans(n_clusters=k, n_init=10, random_state=seed).fit_predict(x)
    return AgglomerativeClustering(n_clusters=k).fit_predict(x)


def _relabel_by_size(labels: np.ndarray) -> np.ndarray:
    """Renumber clusters 0..k-1 by decreasing size (ties: first appearance)."""
    uniq, first, counts = np.unique(labels, return_index=True, return_counts=True)
    order = sorted(range(len(uniq)), key=lambda i: (-counts[i], first[i]))
    mapping = {int(uniq[i]): new for new, i in enumerate(order)}
    return np.array([mapping[int(v)] for v in labels], dtype=int)


def _pca(x: np.ndarray, seed: int) -> tuple[np.ndarray, list[float]]:
    """First two principal components (zeros where there are fewer) and their variance ratios."""
    n, m = x.shape
    coords = np.zeros((n, 2))
    ratios = [0.0, 0.0]
    n_comp = min(2, n, m)
    if n < 2 or n_comp < 1 or float(np.var(x)) <= VARIANCE_EPS:
        return coords, ratios
    pca = PCA(n_components=n_comp, random_state=seed)
    coords[:, :n_comp] = pca.fit_transform(x)
    for i, r in enumerate(pca.explained_variance_ratio_):
        ratios[i] = float(r)
    return coords, ratios


def _best_silhouette(
    method: str, ks: range, x: np.ndarray, seed: int
) -> tuple[dict[int, float], int, float | None, np.ndarray | None]:
    """(silhouette by k, best k, best silhouette, best labels) over ``ks`` (smallest k on ties)."""
    n = x.shape[0]
    by_k: dict[int, float] = {}
    best_k, best_s, best_labels = 1, None, None
    for k in ks:
        labels = _fit(method, k, x, seed)
        n_labels = len(np.unique(labels))
        if n_labels < 2 or n_labels > n - 1:
            continue
        sample = {"sample_size": 5000, "random_state": seed} if n > 5000 else {}
        s = round(float(silhouette_score(x, labels, **sample)), 6)
        by_k[k] = s
        if best_s is None or s > best_s:
            best_k, best_s, best_labels = k, s, labels
    return by_k, best_k, best_s, best_labels


def null_silhouettes(
    x: np.ndarray, method: str, ks: range, seed: int, draws: int = NULL_DRAWS
) -> np.ndarray:
    """Best silhouettes over ``ks`` of ``draws`` Gaussian datasets shaped like ``x``.

    The null reference of the cluster test: each draw has the n rows of ``x``
    and its covariance (``x = U S V'``, null = ``Z diag(S) V' / sqrt(n)`` with
    Z standard normal, so ``Cov(null) = V diag(S^2 / n) V'`` = the covariance of
    ``x``, ddof = 0): one unimodal population with the same spread and the same
    principal axes, and no clusters. It is clustered exactly like ``x``, with at
    most ``NULL_MAX_ROWS`` rows (the null's silhouette barely depends on n).
    """
    n = min(x.shape[0], NULL_MAX_ROWS)
    _, singular, vt = np.linalg.svd(x - x.mean(axis=0), full_matrices=False)
    singular = singular / np.sqrt(x.shape[0] / n)  # the covariance of x, whatever n
    rng = np.random.default_rng(seed)
    out = np.full(draws, np.nan)
    # one thread: many small fits; KMeans' OpenMP threads cost ten times the fit itself
    with threadpool_limits(1):
        for b in range(draws):
            z = rng.standard_normal((n, singular.size))
            data = (z * singular) @ vt / np.sqrt(n)
            best = _best_silhouette(method, ks, data, seed)[2]
            out[b] = best if best is not None else np.nan
    return out


def cluster_personas(
    matrix: pd.DataFrame,
    personas: pd.DataFrame,
    attributes: list[str],
    *,
    method: Method = "kmeans",
    k_min: int = 2,
    k_max: int = 8,
    seed: int = 0,
    min_silhouette: float = MIN_SILHOUETTE,
    null_draws: int = NULL_DRAWS,
    null_level: float = NULL_LEVEL,
) -> ClusterResult:
    """Cluster the value profiles of a persona x item matrix; choose k by silhouette.

    ``matrix``: index persona_id, columns item numbers, values mean expected
    rating. Rows are MRAT-centred (:func:`ipsatize`), then items centred
    (:func:`prepare_matrix`); for every k in
    ``[max(k_min, 2), min(k_max, n_personas - 1)]`` the personas are clustered
    (KMeans with ``n_init=10, random_state=seed``, or Ward agglomerative) and
    the silhouette ``s = mean_i (b_i - a_i) / max(a_i, b_i)`` computed; the k with
    the highest s is the candidate (the smallest k on ties). It is accepted only
    against the null reference: ``null_p_value = (1 + #{s_null >= s}) / (B + 1)``
    over B = ``null_draws`` Gaussian datasets with the same covariance
    (:func:`null_silhouettes`, each clustered over the same k range) must be at
    most ``null_level``; ``null_silhouette`` is the 95th percentile of their best
    silhouettes. When the candidate fails the test, or its s is below
    ``min_silhouette`` (default 0.25, Kaufman & Rousseeuw's "no substantial
    structure"), the answer is k = 1: everyone is cluster 0, ``silhouette`` keeps
    the best s found and ``note`` says why. With fewer than 3
    personas, no profile variance, or no k that gives a valid partition,
    likewise k = 1 (silhouette None) and the note says why. AMI per attribute
    is ``adjusted_mutual_info_score(attribute labels, clusters)`` (None when
    k = 1). ``silhouette_by_k`` keeps every k tried.
    """
    if method not in METHODS:
        raise ValueError(f"clustering method: {method!r}; allowed: {', '.join(METHODS)}")
    ids = [str(i) for i in matrix.index]
    table = personas.copy()
    table["persona_id"] = table["persona_id"].astype(str)
    table = table.drop_duplicates("persona_id").set_index("persona_id")
    unknown = [i for i in ids if i not in table.index]
    if unknown:
        raise ValueError(
            f"personas table: {len(unknown)} persona_id(s) of the matrix are missing, "
            f"e.g. {', '.join(unknown[:3])}"
        )
    missing_attrs = [a for a in attributes if a not in table.columns]
    if missing_attrs:
        raise ValueError(f"personas table: no attribute column(s) {', '.join(missing_attrs)}")
    table = table.reindex(ids)

    prepared = prepare_matrix(ipsatize(matrix))
    x = prepared.to_numpy(dtype=float)
    n = len(ids)
    coords, ratios = _pca(x, seed) if x.shape[1] else (np.zeros((n, 2)), [0.0, 0.0])

    note: str | None = None
    silhouette_by_k: dict[int, float] = {}
    best_labels: np.ndarray | None = None
    best_k, best_s = 1, None
    null_p: float | None = None
    null_s: float | None = None
    if n < 3:
        note = f"only {n} persona(s): at least 3 are needed to cluster"
    elif x.shape[1] == 0 or float(np.var(x)) <= VARIANCE_EPS:
        note = (
            "the value profiles have no variance: after MRAT-centring every persona answers alike"
        )
    else:
        ks = range(max(k_min, 2), min(k_max, n - 1) + 1)
        silhouette_by_k, best_k, best_s, best_labels = _best_silhouette(method, ks, x, seed)
        if best_labels is not None and best_s is not None and best_s >= min_silhouette:
            null = null_silhouettes(x, method, ks, seed, null_draws)
            null = null[np.isfinite(null)]
            null_p = round(float((1 + (null >= best_s).sum()) / (null.size + 1)), 6)
            null_s = round(float(np.quantile(null, 0.95)), 6) if null.size else None
        if best_labels is None:
            note = f"no k in [{k_min}, {min(k_max, n - 1)}] gives a valid partition of {n} personas"
        elif best_s is not None and best_s < min_silhouette:
            note = (
                f"no structure: the best silhouette {best_s:.3f} (k = {best_k}) is below "
                f"min_silhouette {min_silhouette:g}; the personas form one cluster"
            )
            best_labels = None
        elif null_p is not None and null_p > null_level:
            note = (
                f"no clusters beyond a continuum: the best silhouette {best_s:.3f} (k = {best_k}) "
                f"is no higher than that of Gaussian data with the same covariance "
                f"(95th percentile {null_s if null_s is not None else float('nan'):.3f}, "
                f"p = {null_p:.3f} > {null_level:g}); the personas form one cluster"
            )
            best_labels = None

    if best_labels is None:
        labels = np.zeros(n, dtype=int)
        best_k = 1
        if not silhouette_by_k:
            best_s = None
    else:
        labels = _relabel_by_size(best_labels)

    ami: dict[str, float | None] = {}
    for attr in attributes:
        if best_labels is None:
            ami[attr] = None
        else:
            score = adjusted_mutual_info_score(attribute_labels(table[attr]), labels)
            ami[attr] = round(float(score), 6)

    assignments = pd.DataFrame(
        {"persona_id": ids, "cluster": labels, "pc1": coords[:, 0], "pc2": coords[:, 1]}
    )
    sizes = {int(c): int(v) for c, v in zip(*np.unique(labels, return_counts=True), strict=True)}
    summary: dict[str, Any] = {
        "method": method,
        "profiles": "mrat-centred",
        "k": int(best_k),
        "silhouette": best_s,
        "silhouette_by_k": silhouette_by_k,
        "min_silhouette": float(min_silhouette),
        "null_silhouette": null_s,
        "null_p_value": null_p,
        "sizes": sizes,
        "ami": ami,
        "explained_variance": [round(r, 6) for r in ratios],
        "n_personas": n,
        "n_items": int(matrix.shape[1]),
        "n_items_used": int(x.shape[1]),
    }
    if note is not None:
        summary["note"] = note
    return ClusterResult(assignments=assignments, summary=summary)
