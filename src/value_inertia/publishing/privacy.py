"""Nothing private leaves the machine: paths, hosts, URLs and served model ids are masked.

:func:`scrub` cleans a JSON-ready value before it is published (raw metrics,
protocol fields, quality reports): private keys (``base_url``, ``api_key_env``,
...) are dropped and a string that *is* a path or a URL becomes ``[local]``.
:func:`scrub_text` cleans free text (a request's error message): every URL,
path, ``host:port``, IPv4 address and any explicitly named private string
inside it is replaced by ``[local]``. :func:`scrub_responses` applies it to the
``error`` column of a responses table before the table is published.

A *path* is an absolute path (``/x``, ``~/x``, ``C:\\x``), a ``./`` or ``../``
relative path, a relative path with two or more separators (``a/b/c``) or a
file name with a model-weights extension (``models/x.gguf``, ``x.safetensors``).
``org/name`` (one slash, no such extension) is a Hub repo id and stays.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any
from urllib.parse import urlsplit

import pandas as pd

LOCAL = "[local]"
PRIVATE_KEYS = frozenset({"base_url", "api_key_env", "api_key", "endpoint", "host", "path"})
MODEL_EXTENSIONS = (
    "gguf",
    "ggml",
    "bin",
    "safetensors",
    "pt",
    "pth",
    "ckpt",
    "onnx",
    "h5",
    "llamafile",
    "mlmodel",
    "pb",
    "tflite",
)
_EXT = "|".join(MODEL_EXTENSIONS)
_URL = re.compile(r"^[a-z][a-z0-9+.-]*://", re.IGNORECASE)
_ABSOLUTE = re.compile(r"^(/|~|[A-Za-z]:[\\/]|\\\\|\.\.?[\\/])")
_WEIGHTS_FILE = re.compile(rf"\.({_EXT})$", re.IGNORECASE)
_SEP = re.compile(r"[\\/]")

# inside free text
_TEXT_PATTERNS = [
    re.compile(r"[a-z][a-z0-9+.-]*://[^\s'\"`<>)\]]*[^\s'\"`<>)\]:,.;]", re.IGNORECASE),  # URLs
    re.compile(r"(?<![\w.])(?:[A-Za-z]:)?[\\/~][^\s'\"`<>,;)\]]*"),  # absolute paths
    re.compile(r"(?<![\w.])\.\.?[\\/][^\s'\"`<>,;)\]]*"),  # ./x ../x
    re.compile(rf"[\w.+-]+(?:[\\/][\w.+-]+)*\.(?:{_EXT})\b", re.IGNORECASE),  # weights files
    re.compile(r"[\w.+-]+(?:[\\/][\w.+-]+){2,}"),  # a/b/c
    re.compile(r"\b(?:\d{1,3}\.){3}\d{1,3}(?::\d+)?\b"),  # IPv4[:port]
    re.compile(r"\b[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*:\d{2,5}\b"),  # host:port
    re.compile(r"(?<=host=)['\"]?[^\s'\",)]+['\"]?", re.IGNORECASE),  # host='x'
]


def is_private_string(value: str) -> bool:
    """Whether ``value`` as a whole is a URL or a path (see the module docstring)."""
    text = value.strip()
    if not text:
        return False
    if _URL.match(text) or _ABSOLUTE.match(text):
        return True
    if _WEIGHTS_FILE.search(text) and not re.search(r"\s", text):
        return True
    return len(_SEP.findall(text)) >= 2 and not re.search(r"\s", text)


def scrub(value: Any) -> Any:
    """``value`` without private details: keys like ``base_url`` dropped, paths and URLs masked.

    Used on every JSON that is published (raw metrics, protocol fields, quality
    reports), whatever fields a future version adds to them.
    """
    if isinstance(value, dict):
        return {k: scrub(v) for k, v in value.items() if str(k).lower() not in PRIVATE_KEYS}
    if isinstance(value, list | tuple):
        return [scrub(v) for v in value]
    if isinstance(value, str) and is_private_string(value):
        return LOCAL
    return value


def private_strings(models: Iterable[Any]) -> list[str]:
    """The served ids, base URLs and their host names of ``models`` (ModelParams-like)."""
    out: set[str] = set()
    for m in models:
        served = getattr(m, "model", None)
        public = {getattr(m, "name", None), getattr(m, "public_id", None)}
        if isinstance(served, str) and served and served not in public:
            out.add(served)
        base_url = getattr(m, "base_url", None)
        if isinstance(base_url, str) and base_url:
            out.add(base_url)
            host = urlsplit(base_url).hostname
            if host:
                out.add(host)
    return sorted((s for s in out if len(s) >= 3), key=len, reverse=True)


def scrub_text(text: str | None, private: Iterable[str] = ()) -> str | None:
    """``text`` with every URL, path, host and string of ``private`` replaced by ``[local]``."""
    if text is None:
        return None
    for pattern in _TEXT_PATTERNS:
        text = pattern.sub(LOCAL, text)
    for secret in sorted(set(private), key=len, reverse=True):
        if secret and secret != LOCAL:
            text = text.replace(secret, LOCAL)
    return text


def scrub_errors(frame: pd.DataFrame, private: Iterable[str] = ()) -> pd.DataFrame:
    """``frame`` (a responses table) with its ``error`` texts scrubbed (:func:`scrub_text`):
    a server's error may name the served model, a local path or the host."""
    if "error" not in frame.columns:
        return frame
    secrets = list(private)
    errors = [None if pd.isna(e) else scrub_text(str(e), secrets) for e in frame["error"]]
    return frame.assign(error=pd.Series(errors, index=frame.index, dtype=object))
