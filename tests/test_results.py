"""The results contract: every result file (metrics, clusters, quality report, variant
report) validated on read and write, through one reader."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tests.quality_tables import P_COLUMNS, minimal_quality_report
from tests.test_quality import parsed_table
from value_inertia.analysis.quality.report import quality_report
from value_inertia.analysis.quality.report_model import (
    QualityReport,
    read_quality_report,
    write_quality_report,
)
from value_inertia.analysis.variants.report_model import (
    VariantReport,
    read_variant_report,
    write_variant_report,
)
from value_inertia.core.errors import InputError, UserError
from value_inertia.core.results import (
    REWRITE_HINT,
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


# -- quality and variant reports: built, written, read back ---------------------------------


@pytest.fixture(scope="module")
def mfq():
    from value_inertia.design.questionnaires import load_questionnaire

    return load_questionnaire(
        Path(__file__).resolve().parents[1] / "data/questionnaires/mfq30.yaml"
    )


def test_quality_report_round_trip(mfq, tmp_path: Path) -> None:
    """Every section present: reliability, position bias, debiasing, mode agreement."""
    parsed = parsed_table(mfq, n_personas=12)
    sampled = parsed.loc[parsed["variant"] == "original"].assign(mode="sample")
    sampled[P_COLUMNS] = np.eye(6)[sampled[P_COLUMNS].to_numpy().argmax(axis=1)]
    report = quality_report(
        parsed, mfq, model="lp", protocol_hash="abc", partner=sampled, partner_name="sm",
        n_boot=20,
    )  # fmt: skip
    assert isinstance(report, QualityReport)
    assert report.position and report.debiased and report.mode_agreement and report.dimensions
    path = write_quality_report(report, tmp_path / "lp__mfq30.json")
    back = read_quality_report(path)
    assert back == report
    assert (back.model, back.questionnaire, back.partner) == ("lp", "mfq30", "sm")
    assert back.figures(["alpha", "position_bias", "not_a_figure"]) == {
        "alpha": None,  # 12 personas: not measured
        "position_bias": report.position_bias,
        "not_a_figure": None,
    }
    again = write_quality_report(back, tmp_path / "again.json")
    assert again.read_bytes() == path.read_bytes()  # the file's bytes survive a round trip
    raw = json.loads(path.read_text())
    head = ["model", "questionnaire", "protocol_hash", "partner", "mode", "verdict"]
    assert list(raw)[:6] == head
    assert set(raw["attention"]) == {"status", "wrong_share", "note"}  # no empty details


def test_variant_report_round_trip(tmp_path: Path) -> None:
    from tests.test_analysis import make_parsed, make_personas, softmax_around, tiny_questionnaire
    from value_inertia.analysis.variants.report import variant_report

    q, personas = tiny_questionnaire(), make_personas(n_per_seed=3)

    def answers(cond: str, idx: int, seed: int, item: int, rep: int) -> np.ndarray:
        if cond == "baseline":
            return softmax_around(4.0)
        return softmax_around(1 + 5 * np.random.default_rng([idx, seed, item, rep]).random())

    parsed = make_parsed(q, personas, answers)
    both = pd.concat([parsed.assign(variant=v) for v in ("original", "shuffled")])
    report = variant_report(
        both.reset_index(drop=True), q, "m", n_boot=20, confidence=0.9, seed=1,
        variants=["shuffled"],
    )  # fmt: skip
    assert isinstance(report, VariantReport) and report.variants["shuffled"].shift is not None
    path = write_variant_report(report, tmp_path / "m__tiny.json")
    back = read_variant_report(path)
    assert back == report
    assert write_variant_report(back, tmp_path / "again.json").read_bytes() == path.read_bytes()


def _valid_file(kind: str) -> dict:
    return {
        "metrics": minimal_metrics(),
        "clusters": {"k": 2},
        "quality": minimal_quality_report(),
        "variants": {"model": "m", "questionnaire": "q"},
    }[kind]  # fmt: skip


READERS = {
    "metrics": (read_metrics, "MetricsResult"),
    "clusters": (read_clusters, "ClusterSummary"),
    "quality": (read_quality_report, "QualityReport"),
    "variants": (read_variant_report, "VariantReport"),
}


@pytest.mark.parametrize("kind", list(READERS))
@pytest.mark.parametrize(
    ("damage", "what"),
    [("missing", "not found"), ("truncated", "not valid JSON"), ("stale", "not a valid")],
)
def test_a_bad_result_file_is_one_error_line_naming_it(
    kind: str, damage: str, what: str, tmp_path: Path
) -> None:
    read, model_name = READERS[kind]
    path = tmp_path / "m__q.json"
    text = json.dumps(_valid_file(kind), indent=2)
    path.write_text(text)
    read(path)  # the intact file reads
    if damage == "missing":
        path.unlink()
    elif damage == "truncated":
        path.write_text(text[: len(text) // 2])  # cut short, e.g. a full disk
    else:  # an older writer's file: a contract key missing
        data = _valid_file(kind)
        data.pop(next(iter(data)))
        path.write_text(json.dumps(data))
    with pytest.raises(InputError) as info:
        read(path)
    message = str(info.value)
    assert message.startswith(f"{path}: {what}") and "\n" not in message
    assert message.endswith(REWRITE_HINT)
    if damage == "stale":
        assert model_name in message
