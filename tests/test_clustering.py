"""Clustering of persona x item matrices: planted groups, AMI, degenerate inputs."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from value_inertia.analysis.clustering import (
    MIN_SILHOUETTE,
    ClusterResult,
    attribute_labels,
    cluster_personas,
    ipsatize,
    prepare_matrix,
)

N = 40
N_ITEMS = 10


def planted(n: int = N, seed: int = 0) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Two value profiles: ``group`` "high" rates items 1-5 at 5 and 6-10 at 2, "low" the reverse.

    Every persona also gets its own agreement level (a shift of all its ratings),
    which MRAT-centring removes.
    """
    rng = np.random.default_rng(seed)
    ids = [f"p{i:02d}" for i in range(n)]
    high = np.arange(n) % 2 == 0
    first = np.arange(N_ITEMS) < N_ITEMS // 2
    profile = np.where(high[:, None] == first[None, :], 5.0, 2.0)
    level = rng.uniform(-1.5, 1.5, size=(n, 1))
    values = profile + level + 0.3 * rng.standard_normal((n, N_ITEMS))
    matrix = pd.DataFrame(values, index=pd.Index(ids, name="persona_id"), columns=range(1, 11))
    personas = pd.DataFrame(
        {
            "persona_id": ids,
            "group": np.where(high, "high", "low"),
            "coin": rng.choice(["heads", "tails"], size=n),
            "age": pd.array(rng.integers(20, 81, size=n), dtype="Int64"),
            "occupation": [None if i % 4 == 0 else "clerks" for i in range(n)],
        }
    )
    return matrix, personas


@pytest.mark.parametrize("method", ["kmeans", "agglomerative"])
def test_recovers_planted_groups(method: str) -> None:
    matrix, personas = planted()
    result = cluster_personas(
        matrix, personas, ["group", "coin", "age", "occupation"],
        method=method, k_min=2, k_max=6, seed=0,
    )  # fmt: skip
    assert isinstance(result, ClusterResult)
    s = result.summary
    assert s["k"] == 2
    assert s["silhouette"] > 0.5
    assert s["silhouette"] == max(s["silhouette_by_k"].values())
    assert set(s["silhouette_by_k"]) == set(range(2, 7))
    assert s["ami"]["group"] == pytest.approx(1.0)
    assert abs(s["ami"]["coin"]) < 0.15
    assert abs(s["ami"]["age"]) < 0.15
    assert s["sizes"] == {0: N // 2, 1: N // 2}
    assert s["method"] == method
    assert s["n_personas"] == N and s["n_items"] == N_ITEMS
    assert "note" not in s
    assert len(s["explained_variance"]) == 2 and s["explained_variance"][0] > 0.5
    json.dumps(s, allow_nan=False)

    a = result.assignments
    assert list(a.columns) == ["persona_id", "cluster", "pc1", "pc2"]
    assert a["persona_id"].tolist() == matrix.index.tolist()
    merged = a.merge(personas, on="persona_id")
    assert merged.groupby("cluster")["group"].nunique().eq(1).all()
    # PC1 separates the groups
    by_group = merged.groupby("group")["pc1"].mean()
    assert abs(by_group["high"] - by_group["low"]) > 5
    assert s["profiles"] == "mrat-centred"


def test_degenerate_inputs_give_one_cluster() -> None:
    matrix, personas = planted()
    flat = pd.DataFrame(3.0, index=matrix.index, columns=matrix.columns)
    result = cluster_personas(flat, personas, ["group"], method="kmeans", k_min=2, k_max=5, seed=0)
    s = result.summary
    assert s["k"] == 1 and s["silhouette"] is None and "variance" in s["note"]
    assert s["silhouette_by_k"] == {}
    assert s["ami"] == {"group": None}
    assert s["n_items_used"] == 0
    assert (result.assignments["cluster"] == 0).all()
    assert s["sizes"] == {0: N}

    two = cluster_personas(
        matrix.head(2), personas, ["group"], method="kmeans", k_min=2, k_max=5, seed=0
    )
    assert two.summary["k"] == 1 and "at least 3" in two.summary["note"]
    assert two.assignments["cluster"].tolist() == [0, 0]


def test_agreement_level_alone_is_no_structure() -> None:
    """Half rate everything high, half everything low: one value profile, k = 1."""
    rng = np.random.default_rng(2)
    ids = [f"p{i:02d}" for i in range(N)]
    high = np.arange(N) % 2 == 0
    values = np.where(high[:, None], 5.0, 2.0) + 0.3 * rng.standard_normal((N, N_ITEMS))
    matrix = pd.DataFrame(values, index=pd.Index(ids, name="persona_id"), columns=range(1, 11))
    personas = pd.DataFrame({"persona_id": ids, "group": np.where(high, "high", "low")})
    result = cluster_personas(matrix, personas, ["group"], k_min=2, k_max=5, seed=0)
    s = result.summary
    assert s["k"] == 1 and "no structure" in s["note"]
    assert s["silhouette"] is not None and s["silhouette"] < MIN_SILHOUETTE
    assert set(s["silhouette_by_k"]) == set(range(2, 6))  # every k was tried
    assert s["ami"] == {"group": None} and s["sizes"] == {0: N}
    assert s["min_silhouette"] == MIN_SILHOUETTE and s["profiles"] == "mrat-centred"
    # without the threshold and the null test the best k is reported even though it is weak
    loose = cluster_personas(matrix, personas, ["group"], k_min=2, k_max=5, seed=0,
                             min_silhouette=-1.0, null_level=1.0)  # fmt: skip
    assert loose.summary["k"] >= 2 and "note" not in loose.summary


def test_ipsatize_removes_each_personas_level() -> None:
    matrix = pd.DataFrame([[1.0, 2.0, 3.0], [4.0, 5.0, np.nan]], index=["a", "b"])
    out = ipsatize(matrix)
    np.testing.assert_allclose(out.loc["a"], [-1.0, 0.0, 1.0])
    np.testing.assert_allclose(out.loc["b", [0, 1]], [-0.5, 0.5])
    assert np.isnan(out.loc["b", 2])


def test_missing_cells_and_constant_items() -> None:
    matrix, personas = planted()
    matrix[11] = 4.0  # constant item: dropped
    matrix.iloc[0, 0] = np.nan  # filled with the item mean
    prepared = prepare_matrix(matrix)
    assert 11 not in prepared.columns
    assert not prepared.isna().any().any()
    np.testing.assert_allclose(prepared.mean(axis=0), 0.0, atol=1e-12)
    matrix[11] = matrix.drop(columns=11).mean(
        axis=1
    )  # at every persona's own mean: constant once ipsatized
    result = cluster_personas(matrix, personas, ["group"], method="kmeans", k_min=2, k_max=4,
                              seed=1)  # fmt: skip
    assert result.summary["k"] == 2
    assert result.summary["n_items"] == N_ITEMS + 1
    assert result.summary["n_items_used"] == N_ITEMS


def test_attribute_labels_bins_integers_and_names_nulls() -> None:
    ages = pd.Series(pd.array(list(range(20, 60)), dtype="Int64"))
    labels = attribute_labels(ages)
    assert len(set(labels)) == 4
    few = attribute_labels(pd.Series(pd.array([1, 2, 2, None], dtype="Int64")))
    assert list(few) == ["1", "2", "2", "none"]
    occ = attribute_labels(pd.Series(["a", None, "b"], dtype=object))
    assert list(occ) == ["a", "none", "b"]


def test_errors_name_the_problem() -> None:
    matrix, personas = planted()
    with pytest.raises(ValueError, match="missing"):
        cluster_personas(matrix, personas.iloc[1:], ["group"], k_min=2, k_max=3, seed=0)
    with pytest.raises(ValueError, match="no attribute column"):
        cluster_personas(matrix, personas, ["nope"], k_min=2, k_max=3, seed=0)
    with pytest.raises(ValueError, match="method"):
        cluster_personas(matrix, personas, ["group"], method="dbscan", k_min=2, k_max=3, seed=0)  # type: ignore[arg-type]


def one_factor(n: int, seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """One continuous, unimodal factor: rating = 3.5 + f_i * loading_j + noise, no groups."""
    rng = np.random.default_rng(seed)
    ids = [f"p{i:03d}" for i in range(n)]
    loading = np.linspace(-1.0, 1.0, N_ITEMS)
    values = 3.5 + rng.standard_normal((n, 1)) * loading + 0.2 * rng.standard_normal((n, N_ITEMS))
    matrix = pd.DataFrame(values, index=pd.Index(ids, name="persona_id"), columns=range(1, 11))
    personas = pd.DataFrame({"persona_id": ids, "coin": rng.choice(["heads", "tails"], size=n)})
    return matrix, personas


def test_one_continuous_factor_is_one_cluster() -> None:
    """Silhouette alone finds k = 2 here (about 0.5, over the 0.25 floor); the null does not."""
    found = []
    for seed in range(5):
        matrix, personas = one_factor(80, seed)
        s = cluster_personas(matrix, personas, ["coin"], k_min=2, k_max=4, seed=seed).summary
        assert max(s["silhouette_by_k"].values()) > MIN_SILHOUETTE  # the old rule's k = 2
        found.append(s["k"])
        if s["k"] == 1:
            assert s["null_p_value"] > 0.05 and "continuum" in s["note"]
    # at the 5% level a false cluster is rare: at most one of five null populations
    assert sum(k > 1 for k in found) <= 1


def test_two_separated_groups_beat_the_gaussian_null() -> None:
    matrix, personas = planted(80, seed=3)
    s = cluster_personas(matrix, personas, ["group"], k_min=2, k_max=4, seed=0).summary
    assert s["k"] == 2 and s["null_p_value"] == pytest.approx(1 / 20)
    assert s["silhouette"] > s["null_silhouette"]
    assert s["ami"]["group"] == pytest.approx(1.0)
