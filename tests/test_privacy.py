"""What is scrubbed before publishing: paths, hosts, URLs and served model ids."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from value_inertia.core.config import ModelParams
from value_inertia.publishing.privacy import (
    is_private_string,
    private_strings,
    scrub,
    scrub_errors,
    scrub_text,
)


@pytest.mark.parametrize(
    ("value", "private"),
    [
        ("/srv/models/x.gguf", True),
        ("~/weights", True),
        ("C:\\models\\x", True),
        ("./x", True),
        ("../x/y", True),
        ("models/x.gguf", True),  # relative, with a weights extension
        ("x.safetensors", True),
        ("checkpoints/run-1/final", True),  # two separators
        ("http://gpu-node-17.internal:8011/v1", True),
        ("acme/model-1b", False),  # a Hub repo id
        ("drift.model", False),  # a display name with a dot
        ("usable: alpha 0.91", False),
        ("", False),
    ],
)
def test_is_private_string(value: str, private: bool) -> None:
    assert is_private_string(value) is private


def test_scrub_masks_relative_weights_paths_in_nested_values() -> None:
    value = {"judge": {"model": "models/judge-q4.gguf", "scope": "unparsed"}, "n": [1, "a/b/c"]}
    assert scrub(value) == {"judge": {"model": "[local]", "scope": "unparsed"}, "n": [1, "[local]"]}


@pytest.mark.parametrize(
    ("text", "kept", "gone"),
    [
        (
            "Error code: 404 - {'message': 'The model `/srv/llm/qwen-7b` does not exist.'}",
            "Error code: 404",
            "/srv/llm/qwen-7b",
        ),
        (
            "HTTPConnectionPool(host='gpu-node-17.internal', port=8011): Max retries exceeded",
            "Max retries exceeded",
            "gpu-node-17.internal",
        ),
        ("Connection refused: 10.1.2.3:8000", "Connection refused", "10.1.2.3"),
        ("POST http://gpu-node-17.internal:8011/v1/chat failed", "failed", "gpu-node-17"),
        ("cannot open models/x.gguf: no such file", "no such file", "x.gguf"),
        ("timeout after 30 s talking to box7.lan:9000", "timeout after 30 s", "box7.lan"),
    ],
)
def test_scrub_text_masks_paths_hosts_and_urls(text: str, kept: str, gone: str) -> None:
    out = scrub_text(text)
    assert kept in out and gone not in out and "[local]" in out


def test_scrub_text_masks_named_private_strings_and_keeps_plain_text() -> None:
    assert scrub_text("model my-private-llm not found", ["my-private-llm"]) == (
        "model [local] not found"
    )
    assert scrub_text("rate limited; retry later (HTTP/1.1 429)") == (
        "rate limited; retry later (HTTP/1.1 429)"
    )
    assert scrub_text(None) is None


def test_private_strings_of_models_and_scrubbed_responses_table(tmp_path: Path) -> None:
    models = [
        ModelParams(
            name="served",
            backend="openai",
            model="internal-llama-70b",
            base_url="http://llm.corp:8000/v1",
            api_key_env="K",
        ),
        ModelParams(name="g", model="gemma3-270m-q4-k-m"),
    ]
    private = private_strings(models)
    assert {"internal-llama-70b", "http://llm.corp:8000/v1", "llm.corp"} <= set(private)
    errors = ["model internal-llama-70b: 404 at llm.corp", None, "ok"]
    out = scrub_errors(pd.DataFrame({"prompt_id": ["a", "b", "c"], "error": errors}), private)
    assert out["error"].tolist() == ["model [local]: 404 at [local]", None, "ok"]
    assert out["prompt_id"].tolist() == ["a", "b", "c"]
