"""What may be published about a model and a run: public fields, scrubbed JSON, protocol.

Only public fields reach a table: a model's display name and the optional
``public_id`` / ``revision`` / ``quantization`` / ``license`` from params, and
its identity (:mod:`.identity`); never ``model`` (a served id may be a local
file path), ``base_url`` (host names), ``api_key_env`` or any other local detail.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from importlib import metadata
from typing import Any

import pyarrow as pa

from value_inertia.core.config import ModelParams, Params
from value_inertia.publishing.tables.identity import model_identity

PACKAGE = "value-inertia"
UNKNOWN = "unknown"

# Licences of models whose weights this project knows (by public id prefix or embedded name).
KNOWN_LICENSES: dict[str, str] = {
    "gemma3-270m": "gemma",
    "google/gemma": "gemma",
    "smollm2": "apache-2.0",
    "HuggingFaceTB/SmolLM2": "apache-2.0",
    "Qwen/Qwen2.5": "apache-2.0",
    "meta-llama/Llama-3": "llama3",
    "mistralai/Mistral": "apache-2.0",
}

PROVENANCE_COLUMNS = [
    "contributor",
    "git_commit",
    "package_version",
    "mlflow_run_id",
    "published_at",
]


def package_version() -> str:
    try:
        return metadata.version(PACKAGE)
    except metadata.PackageNotFoundError:
        return UNKNOWN


# --------------------------------------------------------------------------- models


def known_license(model: ModelParams) -> str | None:
    if model.license:
        return model.license
    for name in (model.public_id or "", model.model if model.backend == "embedded" else ""):
        for prefix, licence in KNOWN_LICENSES.items():
            if name and name.lower().startswith(prefix.lower()):
                return licence
    return None


def public_model(model: ModelParams, weights_sha256: str | None = None) -> dict[str, Any]:
    """What may be published about ``model``: display name, public ids, answer settings.

    The served model id (``model``: often a path on the user's disk), ``base_url``
    and ``api_key_env`` are left out on purpose.
    """
    public = {
        "name": model.name,
        "public_id": model.public_id,
        "revision": getattr(model, "revision", None),
        "quantization": model.quantization,
        "license": known_license(model),
        "backend": model.backend,
        "mode": model.mode,
        "api": model.api,
        "temperature": float(model.temperature),
        "max_tokens": model.max_tokens,
        "samples": model.samples,
    }
    # the identity: from the weights (embedded) or the served model, never the display name
    public.update(model_identity(model, weights_sha256))
    return public


MODELS_SCHEMA = pa.schema(
    [
        pa.field("model_key", pa.string(), nullable=False),
        pa.field("identity", pa.string(), nullable=False),
        pa.field("weights_sha256", pa.string()),
        pa.field("name", pa.string(), nullable=False),
        pa.field("public_id", pa.string()),
        pa.field("revision", pa.string()),
        pa.field("quantization", pa.string()),
        pa.field("license", pa.string()),
        pa.field("backend", pa.string()),
        pa.field("mode", pa.string()),
        pa.field("api", pa.string()),
        pa.field("temperature", pa.float64()),
        pa.field("max_tokens", pa.int64()),
        pa.field("samples", pa.int64()),
    ]
)


def models_table(publics: Iterable[Mapping[str, Any]]) -> pa.Table:
    """One row per model: only the public fields of :func:`public_model`."""
    rows = [{f.name: p.get(f.name) for f in MODELS_SCHEMA} for p in publics]
    return pa.Table.from_pylist(rows, schema=MODELS_SCHEMA)


# --------------------------------------------------------------------------- protocol


def fallback_protocol(params: Params, model: ModelParams, questionnaire: str) -> dict[str, Any]:
    """Readable protocol fields for metrics files written before ``protocol`` existed."""
    return {
        "questionnaire": questionnaire,
        "personas": {"n": params.personas.n, "seeds": list(params.personas.seeds)},
        "prompts": {
            k: v
            for k, v in params.prompts.model_dump(mode="json").items()
            if k not in ("questionnaires",)
        },
        "parse": params.parse.model_dump(mode="json"),
        "mode": model.mode,
        "temperature": model.temperature,
        "max_tokens": model.answer_mode.request_max_tokens(model.max_tokens),
        "samples": model.samples,
    }


def protocol_of(
    metrics: Mapping[str, Any], params: Params, model: ModelParams | None
) -> tuple[str, dict[str, Any]]:
    """``(protocol_hash, protocol fields)`` of a metrics dict (computed when it lacks them)."""
    fields = metrics.get("protocol")
    if not isinstance(fields, Mapping):
        fields = (
            fallback_protocol(params, model, str(metrics["questionnaire"]))
            if model is not None
            else {"questionnaire": metrics["questionnaire"]}
        )
    digest = metrics.get("protocol_hash")
    if not isinstance(digest, str) or not digest:
        blob = json.dumps(fields, sort_keys=True, default=str).encode()
        digest = hashlib.sha256(blob).hexdigest()[:16]
    return digest, dict(fields)
