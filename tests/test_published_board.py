"""The published board: model identity, rows that say how they were measured, the card.

Built from the synthetic project (tests/leaderboard_data.py) by the real publish code;
pushes go to the Hub stand-in (tests/hub_stub.py).
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tests.hub_helpers import (
    BOARD,
    DATASET_REPO,
    build_both,
    copy_project,
    hub_params,
    remote_frame,
    running_stub,
)
from tests.hub_stub import HubStub
from value_inertia.core import paths
from value_inertia.core.config import ConfigError, load_params
from value_inertia.evaluation.store import WEIGHTS_META_KEY, ResponseStore
from value_inertia.publishing import card as card_mod
from value_inertia.publishing.card_columns import column_meaning, undescribed_columns
from value_inertia.publishing.dataset import ALWAYS_PUBLISHED, build_dataset_folder
from value_inertia.publishing.push import publish
from value_inertia.publishing.tables.identity import result_file

WEIGHTS_A, WEIGHTS_B = "a1" * 32, "b2" * 32


@pytest.fixture
def stub(monkeypatch: pytest.MonkeyPatch):
    """The Hub stand-in, as test_hub's ``hub_env`` sets it up."""
    yield from running_stub(monkeypatch)


@pytest.fixture
def project(tmp_path_factory: pytest.TempPathFactory, tmp_path: Path) -> Path:
    return copy_project(tmp_path_factory, tmp_path / "proj")


def record_weights(root: Path, model: str, sha: str) -> None:
    """What the embedded backend's check_store_weights records on first use of a store."""
    with ResponseStore(paths.store_path(model, root)) as store:
        store.set_meta(WEIGHTS_META_KEY, sha)


def test_board_rows_identity_measurement_and_card(project: Path) -> None:
    record_weights(project, "steady-model", WEIGHTS_A)
    params = load_params(project / "params.yaml")
    folder = paths.hub_dir(project) / "dataset"
    build_dataset_folder(project, folder, params)
    board = pd.read_parquet(folder / BOARD)

    # identity: the weights (embedded, recorded), the served model (API), else declared
    keys = dict(zip(board["model"], board["model_key"], strict=False))
    assert keys["steady-model"] == f"weights-{WEIGHTS_A[:16]}"
    assert keys["wobbly-model"].startswith("served-")
    assert keys["drift.model"].startswith("declared-")
    assert "srv" not in keys["drift.model"]  # its declared id is a private path: hashed
    models = pd.read_parquet(folder / "data/models/models.parquet").set_index("name")
    assert models.at["steady-model", "weights_sha256"] == WEIGHTS_A
    assert models.at["steady-model", "identity"] == "weights"

    # every per-result answer file is keyed by identity and protocol, and says so inside
    for row in board.itertuples():
        ids = (row.model_key, row.questionnaire, row.variant, row.protocol_hash)
        for kind in ("responses", "parsed"):
            table = pd.read_parquet(folder / result_file(kind, *ids, "parquet"))
            assert len(table) > 0
            assert set(table["model_key"]) == {row.model_key}
            assert set(table["protocol_hash"]) == {row.protocol_hash}
            assert set(table["questionnaire"]) == {row.questionnaire}

    # each row says how its CIs were measured (params: analyze.confidence 0.9, bootstrap 10)
    assert set(board["ci_level"]) == {0.9} and set(board["n_bootstrap"]) == {10}

    # no always-empty column; every column the local leaderboard has a value in is published
    # (but the per-dimension wide columns, which are the long metrics table, and the served
    # id, which is private)
    # (the ranking and CI columns always stay: null there says "not ranked" / "not measured")
    empty = [c for c in board.columns if board[c].isna().all()]
    assert set(empty) <= set(ALWAYS_PUBLISHED), empty
    local = pd.read_parquet(project / "data/leaderboard/leaderboard.parquet")
    shared = {
        c for c in local.columns if ":" not in c and c != "model_id" and local[c].notna().any()
    }
    assert shared <= set(board.columns), shared - set(board.columns)

    # the card: every column of every config described, no placeholder
    card = (folder / "README.md").read_text(encoding="utf-8")
    assert undescribed_columns(folder, card_mod.manifest_rows(folder)) == []
    assert "see the method" not in card and "earlier version" not in card
    for column in ("ci_level", "n_bootstrap", "model_key", "weights_sha256", "tokens_in"):
        assert f"| `{column}` |" in card, column
    meta_configs = card.split("---", 2)[1]
    assert f"data/responses/{keys['steady-model']}/*.parquet" in meta_configs


def test_a_column_nothing_describes_stops_the_build(project: Path) -> None:
    assert column_meaning("shift_inertia_shuffled_low").startswith("lower bound")
    assert column_meaning("p_C").startswith("next-token probability of option letter C")
    assert column_meaning("sex", ["sex"]).startswith("persona attribute")
    assert column_meaning("sex") is None and column_meaning("mystery") is None
    params = load_params(project / "params.yaml")
    prompts = paths.prompts_path(project)
    table = pq.read_table(prompts)
    table = table.append_column("mystery", pa.array([1] * table.num_rows))
    pq.write_table(table, prompts)
    with pytest.raises(ConfigError, match=r"prompts\.mystery: no description"):
        build_dataset_folder(project, paths.hub_dir(project) / "dataset", params)


def test_other_weights_and_a_second_protocol_keep_what_was_published(
    tmp_path_factory: pytest.TempPathFactory,
    tmp_path: Path,
    stub: HubStub,
) -> None:
    """Two weights under one name are two models; a second protocol of one model adds its
    rows and files beside the first (nothing published under one protocol is replaced)."""
    run_a = copy_project(tmp_path_factory, tmp_path / "a", models=["steady-model"])
    run_b = copy_project(tmp_path_factory, tmp_path / "b", models=["steady-model"])
    record_weights(run_a, "steady-model", WEIGHTS_A)
    record_weights(run_b, "steady-model", WEIGHTS_B)  # the same name, other weights
    for run in (run_a, run_b):
        params = hub_params(run)
        build_both(run, params)
        publish(run, params)
    board = remote_frame(stub, BOARD)
    assert set(board["model"]) == {"steady-model"} and len(board) == 4
    assert set(board["model_key"]) == {f"weights-{WEIGHTS_A[:16]}", f"weights-{WEIGHTS_B[:16]}"}
    first = {
        result_file("parsed", r.model_key, r.questionnaire, r.variant, r.protocol_hash, "parquet")
        for r in board.itertuples()
    }
    files = stub.repo("dataset", DATASET_REPO).files
    assert first <= set(files)

    # run A again under another protocol (e.g. other personas): added beside the first
    for path in paths.metrics_dir(run_a).glob("steady-model__*.json"):
        metrics = json.loads(path.read_text())
        metrics["protocol_hash"] = "0ther0protocol00"
        path.write_text(json.dumps(metrics))
    params = hub_params(run_a)
    build_both(run_a, params)
    publish(run_a, params)
    after = remote_frame(stub, BOARD)
    assert len(after) == 6 and set(after["protocol_hash"]) >= {"0ther0protocol00"}
    files = stub.repo("dataset", DATASET_REPO).files
    assert first <= set(files)  # the first protocol's answers are still there
    second = after[after["protocol_hash"] == "0ther0protocol00"]
    for r in second.itertuples():
        ids = (r.model_key, r.questionnaire, r.variant, r.protocol_hash)
        assert result_file("parsed", *ids, "parquet") in files
    assert stub.errors == []
