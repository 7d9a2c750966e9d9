"""The analyze, cluster and leaderboard stage functions on a small synthetic project.

MLflow is replaced by a recorder (the tracking module has its own tests), so
these check what the stages write and which metric names they log.
"""

from __future__ import annotations

import json
import shutil
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from tests.leaderboard_data import cached_project
from value_inertia.core import paths
from value_inertia.core.config import load_params
from value_inertia.core.naming import ResultName
from value_inertia.core.protocol import protocol_for
from value_inertia.core.results import read_clusters, read_metrics
from value_inertia.design.personas import load_schema
from value_inertia.pipeline.analysis import run_analyze, run_cluster
from value_inertia.pipeline.publishing import run_leaderboard


class Recorder:
    def __init__(self) -> None:
        self.runs: list[dict[str, Any]] = []

    @contextmanager
    def stage_run(self, stage: str, params: Any, model: str | None = None, **tags: Any):
        run: dict[str, Any] = {"stage": stage, "tags": dict(tags), "metrics": {}, "artifacts": []}
        self.runs.append(run)

        class Run:
            def set_tag(self, key: str, value: str) -> None:
                run["tags"][key] = value

            def log_metrics(self, values: dict[str, float]) -> None:
                run["metrics"].update(values)

            def log_artifact(self, path: str, artifact_path: str | None = None) -> None:
                run["artifacts"].append(Path(path).name)

        yield Run()


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("pipeline") / "proj"
    shutil.copytree(cached_project(tmp_path_factory), root)  # built once per session
    text = (root / "params.yaml").read_text()
    (root / "params.yaml").write_text(text.replace("bootstrap: 1000", "bootstrap: 20"))
    return root


@pytest.fixture()
def recorder(monkeypatch: pytest.MonkeyPatch, project: Path) -> Recorder:
    rec = Recorder()
    for module in ("analysis", "publishing"):
        monkeypatch.setattr(f"value_inertia.pipeline.{module}.stage_run", rec.stage_run)
    monkeypatch.setenv("VALUE_INERTIA_ROOT", str(project))
    return rec


def test_analyze_cluster_and_leaderboard_stages(project: Path, recorder: Recorder) -> None:
    params = load_params(project / "params.yaml")
    params = params.model_copy(
        update={"analyze": params.analyze.model_copy(update={"permutations": 49})}
    )
    out = run_analyze(params, "drift.model", "mfq30")
    name = ResultName("drift.model", "mfq30")
    assert out == paths.metrics_dir(project) / f"{name.stem}.json"
    metrics = read_metrics(out)
    proto = protocol_for(params, "drift.model", "mfq30", "original", project)
    assert metrics.protocol_hash == proto.hash and metrics.protocol == proto.fields
    assert metrics.variant == "original"
    attributes = load_schema(project / params.personas.schema_path).names
    assert len(metrics.permeability) == len(attributes) * 5
    assert metrics.overall.inertia_ci[0] is not None
    assert metrics.convergence is not None and metrics.convergence.enough_seeds  # two seeds
    assert set(metrics.seed_spread.per_seed) == {"111", "333"}
    for kind in ("micro", "macro", "convergence", "permeability", "cohens_d"):
        assert (paths.plots_dir(project) / name.file(kind, ".png")).stat().st_size > 1000
    table = pd.read_csv(paths.plots_dir(project) / name.file("permeability", ".csv"))
    assert {"effect", "p_value", "q_value", "significant"} <= set(table.columns)
    run = recorder.runs[-1]
    assert run["tags"]["protocol_hash"] == proto.hash
    assert run["metrics"]["inertia.Harm"] == pytest.approx(metrics.dimensions["Harm"].inertia)
    assert "overall.inertia" in run["metrics"] and "parse_rate" in run["metrics"]
    assert f"{name.stem}__permeability.png" in run["artifacts"]

    cluster_out = run_cluster(params, "drift.model", "mfq30")
    summary = read_clusters(cluster_out)
    assert summary.protocol_hash == proto.hash and summary.profiles == "mrat-centred"
    assert summary.min_silhouette == params.cluster.min_silhouette
    assert summary.model == "drift.model" and summary.questionnaire == "mfq30"

    board_dir = run_leaderboard(params)
    board = pd.read_parquet(board_dir / "leaderboard.parquet")
    drift = board[(board["model"] == "drift.model") & (board["questionnaire"] == "mfq30")]
    row = drift.iloc[0]
    # the fixture's results come from the same stages under the same protocol: the
    # re-analysed drift.model sits in their group; 8 personas are below the minimum
    # sample, so neither is ranked
    steady = board[(board["model"] == "steady-model") & (board["questionnaire"] == "mfq30")]
    assert steady.iloc[0]["protocol_hash"] == proto.hash and pd.isna(steady.iloc[0]["rank"])
    assert row["protocol_hash"] == proto.hash and pd.isna(row["rank"])
    assert row["rank_label"] == "not ranked (n = 8)"
    assert pd.isna(row["inertia_ci_low"]) or row["inertia_ci_low"] <= row["inertia_ci_high"]
    records = json.loads((board_dir / "leaderboard.json").read_text())
    assert {"rank_label", "tie_group", "protocol_hash", "variant"} <= set(records[0])
    md = (board_dir / "leaderboard.md").read_text()
    assert f"Protocol `{proto.hash}`" in md


def test_analyze_writes_each_prompt_variants_shift(
    project: Path, recorder: Recorder, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import numpy as np

    from value_inertia.analysis.matrix import P_COLUMNS
    from value_inertia.analysis.variants.report_model import read_variant_report

    root = tmp_path / "proj"
    shutil.copytree(project, root)
    monkeypatch.setenv("VALUE_INERTIA_ROOT", str(root))
    params = load_params(root / "params.yaml")
    params = params.model_copy(
        update={"analyze": params.analyze.model_copy(update={"permutations": 9})}
    )
    stem = ResultName("drift.model", "mfq30").stem
    figure = paths.plots_dir(root) / f"{stem}__variant_shift.png"
    parsed_path = paths.parsed_path("drift.model", root)
    parsed = pd.read_parquet(parsed_path)  # what the fixture's parse stage wrote

    # a parsed table without other variants: the file says so, the figure still exists
    parsed[parsed["variant"] == "original"].to_parquet(parsed_path, index=False)
    run_analyze(params, "drift.model", "mfq30")
    alone = read_variant_report(root / "data" / "variants" / f"{stem}.json")
    assert alone.variants == {} and "only the original" in alone.note
    assert figure.stat().st_size > 1000

    # the shuffled variant answers every persona prompt with "6": inertia goes up
    assert set(parsed["variant"]) == {"original", "shuffled"}
    planted = (parsed["variant"] == "shuffled") & (parsed["condition"] == "persona")
    parsed.loc[planted, P_COLUMNS] = np.eye(6)[5]
    parsed.to_parquet(parsed_path, index=False)
    figure.unlink()
    run_analyze(params, "drift.model", "mfq30")
    report = read_variant_report(root / "data" / "variants" / f"{stem}.json")
    assert list(report.variants) == ["shuffled"] and report.note is None
    shuffled = report.variants["shuffled"]
    for v, block in (("original", report.original), ("shuffled", shuffled)):
        assert block.protocol_hash == protocol_for(params, "drift.model", "mfq30", v, root).hash
    assert shuffled.protocol_hash != report.original.protocol_hash
    shift = shuffled.shift.overall
    assert shift.inertia > 0 and shift.inertia_ci[0] > 0
    assert shift.inertia == pytest.approx(
        shuffled.overall.inertia - report.original.overall.inertia
    )
    # the original's values are the metrics file's
    metrics = read_metrics(paths.metrics_dir(root) / f"{stem}.json")
    assert report.original.overall.inertia == pytest.approx(metrics.overall.inertia, abs=1e-6)
    run = recorder.runs[-1]
    assert run["metrics"]["shift.inertia.shuffled"] == pytest.approx(shift.inertia)
    assert "shift.inertia.shuffled.ci_low" in run["metrics"]
    assert f"{stem}.json" in run["artifacts"] and figure.name in run["artifacts"]
    assert figure.stat().st_size > 1000

    board = pd.read_parquet(run_leaderboard(params) / "leaderboard.parquet")
    row = board[(board["model"] == "drift.model") & (board["questionnaire"] == "mfq30")].iloc[0]
    assert row["shift_inertia_shuffled"] == pytest.approx(shift.inertia, abs=1e-6)
    assert row["shift_inertia_shuffled_low"] == pytest.approx(shift.inertia_ci[0], abs=1e-6)
    # the other models answered the shuffled variant in the fixture's own stages: each row
    # carries that model's shift, from its own report
    others = board[board["model"] != "drift.model"]
    assert len(others) == 4
    for other in others.itertuples(index=False):
        own = read_variant_report(
            root / "data" / "variants" / f"{ResultName(other.model, other.questionnaire).stem}.json"
        )
        expected = own.variants["shuffled"].shift.overall.inertia
        assert other.shift_inertia_shuffled == pytest.approx(expected, abs=1e-6)
