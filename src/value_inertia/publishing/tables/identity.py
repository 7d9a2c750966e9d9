"""A model's identity on the board: its weights or the model it was served as, not its name.

The display name is a label: renaming a model must not make it a new one, and
two different weights published under one name are two models. The key
(``model_key``) comes from what decides the answers:

* ``embedded``: the sha256 of the GGUF weights the answers were made with, as
  the response store recorded it (:func:`value_inertia.evaluation.backends.embedded.
  check_store_weights`): ``weights-<first 16 hex digits>``;
* ``openai``: the served model id plus the declared ``revision`` and, when
  given, the ``public_id``: ``served-<16 hex digits of their sha256>`` (a served
  id may be a local path, so only its hash is published);
* an embedded model whose store has no recorded digest (the weights file was
  never seen): its declared model id, revision and public id, hashed the same
  way: ``declared-<16 hex>``.

Every per-model file of the dataset is keyed by identity and protocol
(:func:`result_file`): ``data/<kind>/<model_key>/<questionnaire>__<variant>__<protocol>.<ext>``,
so a publication under one protocol never replaces a file of another.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
from contextlib import closing
from pathlib import Path
from typing import Any

from value_inertia.core import paths
from value_inertia.core.config import ModelParams
from value_inertia.evaluation.store import WEIGHTS_META_KEY

KEY_DIGITS = 16


def _digest(fields: dict[str, Any]) -> str:
    blob = json.dumps(fields, sort_keys=True, default=str).encode()
    return hashlib.sha256(blob).hexdigest()[:KEY_DIGITS]


def recorded_weights(model: str, root: Path) -> str | None:
    """The weights sha256 the model's response store recorded (None without one).

    Read through SQLite read-only: publishing never writes to a store.
    """
    path = paths.store_path(model, root)
    if not path.exists():
        return None
    try:
        with closing(sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)) as conn:
            row = conn.execute("SELECT v FROM meta WHERE k = ?", (WEIGHTS_META_KEY,)).fetchone()
    except sqlite3.Error:
        return None
    return None if row is None else str(row[0])


def model_identity(model: ModelParams, weights_sha256: str | None = None) -> dict[str, str | None]:
    """``{"model_key", "identity", "weights_sha256"}`` of ``model`` (module docstring).

    ``identity`` says what the key was made from: ``weights``, ``served`` or
    ``declared``.

    >>> a = ModelParams(name="a", model="x.gguf")
    >>> model_identity(a, "ab" * 32)["model_key"]
    'weights-abababababababab'
    >>> b = ModelParams(name="renamed", model="y.gguf")
    >>> model_identity(b, "ab" * 32)["model_key"] == model_identity(a, "ab" * 32)["model_key"]
    True
    """
    if model.backend == "embedded" and weights_sha256:
        return {
            "model_key": f"weights-{weights_sha256[:KEY_DIGITS]}",
            "identity": "weights",
            "weights_sha256": weights_sha256,
        }
    fields = {
        "backend": model.backend,
        "model": model.model,
        "revision": model.revision,
        "public_id": model.public_id,
    }
    kind = "served" if model.backend == "openai" else "declared"
    return {"model_key": f"{kind}-{_digest(fields)}", "identity": kind, "weights_sha256": None}


def result_stem(questionnaire: str, variant: str, protocol_hash: str) -> str:
    """``<questionnaire>__<variant>__<protocol>``: one result of one model."""
    return f"{questionnaire}__{variant}__{protocol_hash}"


def result_file(
    kind: str, model_key: str, questionnaire: str, variant: str, protocol_hash: str, ext: str
) -> str:
    """Path in the dataset of one result's file of ``kind`` (responses, parsed, metrics/raw,
    quality/raw, clusters/raw, variants), keyed by identity and protocol.

    >>> result_file("parsed", "weights-ab", "mfq30", "original", "cafe", "parquet")
    'data/parsed/weights-ab/mfq30__original__cafe.parquet'
    """
    return f"data/{kind}/{model_key}/{result_stem(questionnaire, variant, protocol_hash)}.{ext}"


def plot_file(
    model_key: str, questionnaire: str, variant: str, protocol_hash: str, figure: str
) -> str:
    """Path in the dataset of one analysis figure of one result.

    >>> plot_file("weights-ab", "mfq30", "original", "cafe", "macro")
    'data/plots/weights-ab/mfq30__original__cafe__macro.png'
    """
    return (
        f"data/plots/{model_key}/{result_stem(questionnaire, variant, protocol_hash)}__{figure}.png"
    )
