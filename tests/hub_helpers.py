"""Shared pieces of the Hub tests: tokens, repo ids, project copies, the stub fixture."""

from __future__ import annotations

import io
import json
import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import huggingface_hub
import huggingface_hub.constants
import pandas as pd
import pyarrow.parquet as pq
import pytest
import yaml

from tests.hub_stub import HubStub
from tests.leaderboard_data import MODELS, QUESTIONNAIRES, cached_project, in_project
from value_inertia.core import paths
from value_inertia.core.config import HubParams, Params, load_params
from value_inertia.pipeline.analysis import run_quality
from value_inertia.publishing.dataset import build_dataset_folder
from value_inertia.publishing.space import build_space_folder

TOKEN = "hf_stubTOKEN_0123456789abcdefghij"
TOKEN_B = "hf_secondTOKEN_9876543210zyxwvuts"
DATASET_REPO = "vi-org/value-inertia"
SPACE_REPO = "vi-org/value-inertia-board"
BOARD = "data/leaderboard/leaderboard.parquet"
EXPECTED_CONFIGS = {
    "personas",
    "prompts",
    "metrics",
    "clusters",
    "cluster_assignments",
    "models",
    "leaderboard",
    *(
        f"{kind}_{slug}"
        for slug in ("steady-model", "drift_model", "wobbly-model")
        for kind in ("responses", "parsed")
    ),
}


def copy_project(tmp_path_factory: pytest.TempPathFactory, dest: Path, models=None) -> Path:
    """A private copy of the session's synthetic project (optionally with fewer models)."""
    shutil.copytree(cached_project(tmp_path_factory), dest)
    shutil.rmtree(paths.hub_dir(dest), ignore_errors=True)
    if models is not None:
        raw = yaml.safe_load((dest / "params.yaml").read_text())
        raw["models"] = [m for m in raw["models"] if m["name"] in models]
        (dest / "params.yaml").write_text(yaml.safe_dump(raw, sort_keys=False))
    return dest


def running_stub(monkeypatch: pytest.MonkeyPatch) -> Iterator[HubStub]:
    """(For a ``hub_env`` fixture.) A running stub, HF_TOKEN / HF_ENDPOINT pointing at it,
    and Xet *on* as installed: the product itself switches uploads to LFS (a Xet request
    would reach the stub as an unknown endpoint and land in ``stub.errors``). Pages of 7
    entries: listings paginate."""
    with HubStub(TOKEN) as stub:
        stub.page_size = 7
        monkeypatch.setenv("HF_TOKEN", TOKEN)
        monkeypatch.setenv("HF_ENDPOINT", stub.url)
        monkeypatch.delenv("HF_HUB_DISABLE_XET", raising=False)
        monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_DISABLE_XET", False)
        yield stub


def run_quality_stage(project: Path, models: tuple[str, ...] | list[str] = MODELS) -> None:
    """The quality reports of ``models`` (value-inertia quality, the real stage)."""
    params = load_params(project / "params.yaml")
    with in_project(project):
        for model in models:
            for qid in QUESTIONNAIRES:
                run_quality(params, model, qid)


def with_hub(params: Params, **hub: object) -> Params:
    return params.model_copy(update={"hub": HubParams(**hub)})


def build_both(root: Path, params: Params) -> dict:
    hub = paths.hub_dir(root)
    manifest = build_dataset_folder(root, hub / "dataset", params)
    build_space_folder(root, hub / "space", params.hub.dataset_repo, hub / "dataset")
    return manifest


def hub_params(root: Path, **extra: object) -> Params:
    hub = {"dataset_repo": DATASET_REPO, "space_repo": SPACE_REPO, **extra}
    return with_hub(load_params(root / "params.yaml"), **hub)


def all_text(folder: Path) -> bytes:
    return b"".join(p.read_bytes() for p in folder.rglob("*") if p.is_file())


def readable_text(folder: Path) -> str:
    """Every file below ``folder`` as text; Parquet files decoded (values and schema metadata)."""
    parts = []
    for p in sorted(folder.rglob("*")):
        if not p.is_file():
            continue
        if p.suffix == ".parquet":
            table = pq.read_table(p)
            parts += [str(table.schema.metadata), json.dumps(table.to_pylist(), default=str)]
        else:
            parts.append(p.read_bytes().decode("utf-8", errors="replace"))
    return "\n".join(parts)


def board_ids(folder: Path) -> dict[tuple[str, str], tuple[str, str, str, str]]:
    """``(model_key, questionnaire, variant, protocol_hash)`` of each original result of the
    dataset ``folder``, by (model, questionnaire): what its per-result files are named by."""
    board = pd.read_parquet(folder / "data/leaderboard/leaderboard.parquet")
    board = board[board["variant"] == "original"]
    return {
        (r.model, r.questionnaire): (r.model_key, r.questionnaire, r.variant, r.protocol_hash)
        for r in board.itertuples()
    }


def remote_frame(stub: HubStub, rel: str, rev: str = "main") -> pd.DataFrame:
    commit = stub.repo("dataset", DATASET_REPO).resolve(rev)
    return pd.read_parquet(io.BytesIO(commit.files[rel]))


def read_front_matter(text: str) -> dict[str, Any]:
    """The YAML metadata block at the top of a README.md (``{}`` when there is none)."""
    match = re.match(r"^---\n(.*?)\n---\n", text, flags=re.DOTALL)
    if not match:
        return {}
    return yaml.safe_load(match.group(1)) or {}
