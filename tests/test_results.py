"""The results contract: metrics and cluster files validated on read and write."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from value_inertia.core.errors import InputError, UserError
from value_inertia.core.results import (
    ClusterSummary,
    MetricsResult,
    read_clusters,
    read_metrics,
    write_clusters,
    write_metrics,
)


def minimal_metrics(**extra: object) -> dict:
    return {
        "model": "m",
        "questionnaire": "mfq30",
        "mode": "logprobs",
        "n_personas": 4,
        "overall": {"inertia": 0.5, "inertia_ci": [0.4, 0.6]},
        "dimensions": {"Harm": {"inertia": 0.5, "steerability": 0.1}},
        **extra,
    }


def test_round_trip_keeps_contract_and_extra_keys(tmp_path: Path) -> None:
    data = minimal_metrics(
        protocol_hash="0123456789abcdef",
        permeability=[{"attribute": "sex", "dimension": "Harm", "effect": 0.01, "p_value": 0.4,
                       "q_value": 0.8, "n_groups": 2, "method": "omega_squared"}],
        added_by_someone_else={"x": 1},
    )  # fmt: skip
    path = write_metrics(data, tmp_path / "m__mfq30.json")
    back = read_metrics(path)
    assert isinstance(back, MetricsResult)
    assert back.overall.inertia_ci == [0.4, 0.6]
    assert back.variant == "original" and back.protocol_hash == "0123456789abcdef"
    assert back.permeability[0].effect == 0.01 and not back.permeability[0].significant
    assert back.dimensions["Harm"].steerability == 0.1
    raw = json.loads(path.read_text())
    assert raw["added_by_someone_else"] == {"x": 1}  # a newer writer's keys survive
    assert raw["dimensions"]["Harm"]["inertia_ci"] == [None, None]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("{not json", r"bad\.json: not valid JSON"),
        ("[1, 2]", r"bad\.json: expected a JSON object"),
        (json.dumps({"model": "m"}), r"bad\.json: not a valid MetricsResult: questionnaire"),
        (
            json.dumps(minimal_metrics(n_personas="four")),
            r"bad\.json: not a valid MetricsResult: n_personas",
        ),
        (
            json.dumps(minimal_metrics(overall={"inertia": "high"})),
            r"bad\.json: not a valid MetricsResult: overall\.inertia",
        ),
    ],
    ids=["damaged", "not-an-object", "missing-keys", "wrong-type", "nested"],
)
def test_damaged_or_invalid_metrics_name_the_file(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "bad.json"
    path.write_text(text)
    with pytest.raises(InputError, match=message) as info:
        read_metrics(path)
    assert isinstance(info.value, UserError)  # the CLI prints one line, exit 2
    assert "\n" not in str(info.value)


def test_missing_file_and_invalid_write(tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r"nope\.json: not found"):
        read_metrics(tmp_path / "nope.json")
    with pytest.raises(InputError, match="not a valid MetricsResult"):
        write_metrics({"model": "m"}, tmp_path / "x.json")
    assert not (tmp_path / "x.json").exists()


def test_cluster_summary(tmp_path: Path) -> None:
    summary = {"k": 2, "silhouette": 0.4, "silhouette_by_k": {2: 0.4, 3: 0.2},
               "sizes": {0: 3, 1: 2}, "ami": {"sex": 0.1}, "protocol_hash": "abc"}  # fmt: skip
    path = write_clusters(summary, tmp_path / "m__q.json")
    back = read_clusters(path)
    assert isinstance(back, ClusterSummary)
    assert back.silhouette_by_k == {2: 0.4, 3: 0.2} and back.sizes == {0: 3, 1: 2}
    (tmp_path / "bad.json").write_text(json.dumps({"k": "two"}))
    with pytest.raises(InputError, match=r"bad\.json: not a valid ClusterSummary: k"):
        read_clusters(tmp_path / "bad.json")
