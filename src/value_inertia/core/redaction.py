"""Keep secrets out of logs, MLflow, files and error messages.

Secrets live only in environment variables. :func:`secret_values` collects the
values of the well-known token variables plus every variable a model names in
``api_key_env``; :func:`redact` replaces any of them in a string.
"""

from __future__ import annotations

import os
from collections.abc import Iterable

WELL_KNOWN_SECRET_VARS = (
    "OPENAI_API_KEY",
    "HF_TOKEN",
    "HUGGING_FACE_HUB_TOKEN",
    "HUGGINGFACE_HUB_TOKEN",
)
REDACTED = "[REDACTED]"


def secret_values(extra_vars: Iterable[str] = ()) -> list[str]:
    names = {*WELL_KNOWN_SECRET_VARS, *extra_vars}
    values = {os.environ.get(n, "") for n in names}
    # Very short values would redact ordinary words; real keys are long.
    return sorted((v for v in values if len(v) >= 8), key=len, reverse=True)


def redact(text: str, extra_vars: Iterable[str] = ()) -> str:
    for value in secret_values(extra_vars):
        text = text.replace(value, REDACTED)
    return text
