"""Batch inference: the OpenAI Batch API (``transport: batch``) and ``vllm run-batch``.

Every request becomes one line of OpenAI batch JSONL whose ``custom_id`` is its
store key, so answers are matched by key, never by line order.

**OpenAI Batch API** (:class:`BatchBackend`). Requests are split into files of at
most ``MAX_LINES`` lines and ``MAX_BYTES`` bytes. For each file, in this order,
each step committed to the store before the next:

1. upload (Files API, purpose ``batch``) -> the file id is stored with its keys;
2. create the batch -> the batch id is stored.

Then every open batch is polled with backoff until it ends; its output and error
files are downloaded and each line is committed under its ``custom_id``. Keys
without a line (an expired batch's unfinished part, a failed batch, a batch
"completed" without an output file) are recorded as failed and re-queued by the
next run. A kill at any moment loses nothing: the next run first finishes what
the store says is open. An upload without a batch id is looked up among the
account's batches by its input file (a kill between create and the store write)
and submitted only if no batch uses it (a kill between upload and create); keys
in an open batch are never submitted again.

**vllm run-batch** (:func:`export_requests`, :func:`import_results`): the same
lines for the requests still missing, to run with ``vllm run-batch -i FILE -o
OUT --model ...``; its output (answers and errors in one file) is matched on
``custom_id`` and committed.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from value_inertia.core.config import ModelParams
from value_inertia.core.errors import InputError
from value_inertia.core.redaction import redact
from value_inertia.core.table_io import write_text_atomic
from value_inertia.evaluation.backends.base import (
    Request,
    Result,
    ResultCallback,
    StopSending,
    should_stop,
)
from value_inertia.evaluation.backends.openai_wire import (
    MalformedReply,
    parse_reply_body,
    request_body,
)
from value_inertia.evaluation.store import ResponseStore

MAX_LINES = 50_000
MAX_BYTES = 200 * 1024 * 1024
TERMINAL = ("completed", "failed", "expired", "cancelled")
COMPLETION_WINDOW = "24h"


def batch_line(model: ModelParams, request: Request) -> dict[str, Any]:
    endpoint, body = request_body(model, request.payload)
    return {"custom_id": request.key, "method": "POST", "url": endpoint, "body": body}


def encode_lines(model: ModelParams, requests: Sequence[Request]) -> list[bytes]:
    return [json.dumps(batch_line(model, r), ensure_ascii=False).encode() + b"\n" for r in requests]


def split_files(
    requests: Sequence[Request],
    lines: Sequence[bytes],
    max_lines: int = MAX_LINES,
    max_bytes: int = MAX_BYTES,
) -> list[tuple[list[Request], bytes]]:
    """Consecutive groups of at most ``max_lines`` lines and ``max_bytes`` bytes."""
    files: list[tuple[list[Request], bytes]] = []
    group: list[Request] = []
    chunks: list[bytes] = []
    size = 0
    for request, line in zip(requests, lines, strict=True):
        if group and (len(group) >= max_lines or size + len(line) > max_bytes):
            files.append((group, b"".join(chunks)))
            group, chunks, size = [], [], 0
        group.append(request)
        chunks.append(line)
        size += len(line)
    if group:
        files.append((group, b"".join(chunks)))
    return files


# -- output lines -> results --------------------------------------------------------------
def _error_text(error: Any) -> str:
    if isinstance(error, dict):
        code = error.get("code") or error.get("type") or "error"
        return f"{code}: {error.get('message') or ''}".strip()
    return str(error)


def result_from_line(model: ModelParams, line: dict[str, Any], transport: str) -> Result:
    """One output/error line (OpenAI or vLLM format) as a result for its ``custom_id``."""
    key = str(line["custom_id"])
    response = line.get("response") or {}
    error = line.get("error")
    status_code = response.get("status_code") if isinstance(response, dict) else None
    body = response.get("body") if isinstance(response, dict) else None
    extra = {"transport": transport}
    if line.get("id"):
        extra["batch_request_id"] = str(line["id"])
    if status_code == 200 and isinstance(body, dict) and not error:
        try:
            result = parse_reply_body(model, key, body)
        except MalformedReply as exc:
            return Result(key=key, status="failed", error=f"MalformedReply: {exc}", extra=extra)
        result.extra.update(extra)
        return result
    if isinstance(body, dict) and isinstance(body.get("error"), dict):
        message = _error_text(body["error"])
    elif error:
        message = _error_text(error)
    else:
        message = "no response body"
    prefix = f"HTTP {status_code}" if status_code else "batch error"
    return Result(key=key, status="failed", error=redact(f"{prefix}: {message}")[:500], extra=extra)


def parse_lines(text: str) -> tuple[list[dict[str, Any]], int]:
    """The JSON objects of a JSONL text that carry a ``custom_id``; and how many lines did not."""
    out: list[dict[str, Any]] = []
    bad = 0
    for raw in text.splitlines():
        if not raw.strip():
            continue
        try:
            line = json.loads(raw)
        except ValueError:
            bad += 1
            continue
        if isinstance(line, dict) and isinstance(line.get("custom_id"), str):
            out.append(line)
        else:
            bad += 1
    return out, bad


# -- the OpenAI Batch API ------------------------------------------------------------------
@dataclass
class Poll:
    """Backoff between status checks: ``first_s``, times ``factor``, at most ``max_s``."""

    first_s: float = 5.0
    factor: float = 1.5
    max_s: float = 120.0


class BatchBackend:
    """``transport: batch``: submit through the Files and Batches APIs, wait, collect."""

    def __init__(self, model: ModelParams, store: ResponseStore, poll: Poll | None = None) -> None:
        self.model = model
        self.store = store
        self.poll = poll or Poll()
        self._secret_vars = (model.api_key_env,) if model.api_key_env else ()
        self.max_lines = MAX_LINES
        self.max_bytes = MAX_BYTES
        self.submitted = 0  # batches created by this run
        self.adopted = 0  # batches found again after a kill

    def close(self) -> None:
        pass

    def _client(self) -> Any:
        import openai

        return openai.OpenAI(
            base_url=self.model.base_url,
            api_key=self.model.api_key() or "no-key",
            max_retries=self.model.max_retries,
            timeout=max(self.model.timeout_s, 60.0),
        )

    def run(self, requests: Sequence[Request], on_result: ResultCallback) -> None:
        import openai

        client = self._client()
        try:
            self._finish_submissions(client)
            in_flight = {k for b in self.store.open_batches() for k in b["keys"]}
            new = [r for r in requests if r.key not in in_flight]
            if new and not should_stop(self):
                self._submit(client, new)
            self._collect_all(client, on_result)
        except (openai.APIError, OSError) as exc:
            # lazy: the openai client library (~0.5 s) loads only when a batch is sent
            from value_inertia.evaluation.backends.openai_backend import _describe

            raise StopSending(
                f"batch transport stopped: {_describe(exc, self._secret_vars)}; submitted "
                "batches are kept in the store and collected by the next run"
            ) from None
        finally:
            client.close()

    # -- submission ----------------------------------------------------------------------
    def _submit(self, client: Any, requests: Sequence[Request]) -> None:
        by_endpoint: dict[str, list[Request]] = {}
        for r in requests:
            by_endpoint.setdefault(batch_line(self.model, r)["url"], []).append(r)
        for endpoint, group in by_endpoint.items():
            lines = encode_lines(self.model, group)
            for reqs, data in split_files(group, lines, self.max_lines, self.max_bytes):
                uploaded = client.files.create(
                    file=(f"{self.model.name}.jsonl", data, "application/jsonl"), purpose="batch"
                )
                self.store.batch_uploaded(uploaded.id, endpoint, [r.key for r in reqs])
                self._create(client, uploaded.id, endpoint)

    def _create(self, client: Any, file_id: str, endpoint: str) -> None:
        # never retried blindly: a create whose reply was lost may have made the batch;
        # the next run finds it by its input file (_finish_submissions)
        batch = client.with_options(max_retries=0).batches.create(
            input_file_id=file_id,
            endpoint=endpoint,
            completion_window=COMPLETION_WINDOW,
            metadata={"value_inertia_model": self.model.name},
        )
        self.store.batch_submitted(file_id, batch.id, batch.status)
        self.submitted += 1

    def _finish_submissions(self, client: Any) -> None:
        """Uploads without a batch id: adopt the batch that uses the file, else create it."""
        orphans = [b for b in self.store.open_batches() if b["batch_id"] is None]
        if not orphans:
            return
        wanted = {b["file_id"]: b for b in orphans}
        oldest = min(b["created_at"] for b in orphans) - 24 * 3600
        for batch in client.batches.list(limit=100):
            if batch.input_file_id in wanted:
                self.store.batch_submitted(batch.input_file_id, batch.id, batch.status)
                self.adopted += 1
                del wanted[batch.input_file_id]
                if not wanted:
                    break
            if batch.created_at and batch.created_at < oldest:
                break  # the list is newest first: nothing older can be ours
        for file_id, b in wanted.items():
            self._create(client, file_id, b["endpoint"])

    # -- collection ----------------------------------------------------------------------
    def _collect_all(self, client: Any, on_result: ResultCallback) -> None:
        wait = self.poll.first_s
        while True:
            open_ = [b for b in self.store.open_batches() if b["batch_id"]]
            if not open_:
                return
            progressed = False
            for b in open_:
                batch = client.batches.retrieve(b["batch_id"])
                if batch.status in TERMINAL:
                    self._collect(client, b, batch, on_result)
                    progressed = True
            if not progressed:
                time.sleep(wait)
                wait = min(wait * self.poll.factor, self.poll.max_s)

    def _download(self, client: Any, file_id: str | None) -> list[dict[str, Any]]:
        if not file_id:
            return []
        lines, _ = parse_lines(client.files.content(file_id).text)
        return lines

    def _collect(
        self, client: Any, row: dict[str, Any], batch: Any, on_result: ResultCallback
    ) -> None:
        keys = set(row["keys"])
        got: dict[str, Result] = {}
        for line in [
            *self._download(client, batch.output_file_id),
            *self._download(client, getattr(batch, "error_file_id", None)),
        ]:
            if line["custom_id"] not in keys:
                continue
            result = result_from_line(self.model, line, "batch")
            old = got.get(result.key)
            if old is None or (old.status != "ok" and result.status == "ok"):
                got[result.key] = result
        missing_why = f"batch {batch.id} {batch.status}"
        if batch.status == "completed" and not batch.output_file_id:
            missing_why += " without an output file"
        errors = getattr(batch, "errors", None)
        if errors is not None and getattr(errors, "data", None):
            first = errors.data[0]
            missing_why += f" ({getattr(first, 'code', '')}: {getattr(first, 'message', '')})"
        for key in row["keys"]:
            result = got.get(key) or Result(
                key=key,
                status="failed",
                error=redact(f"batch error: {missing_why}; no result line", self._secret_vars),
                extra={"transport": "batch"},
            )
            result.extra.setdefault("batch_id", batch.id)
            on_result(result)
        self.store.batch_collected(row["file_id"], batch.status)


# -- vllm run-batch ---------------------------------------------------------------------------
def export_requests(
    model: ModelParams, requests: Sequence[Request], store: ResponseStore, out: Path
) -> int:
    """Write the batch lines of the requests not yet answered (nor in an open batch)."""
    done = store.done_keys(r.key for r in requests)
    in_flight = {k for b in store.open_batches() for k in b["keys"]}
    todo = [r for r in requests if r.key not in done and r.key not in in_flight]
    out.parent.mkdir(parents=True, exist_ok=True)
    write_text_atomic(b"".join(encode_lines(model, todo)).decode(), out)
    return len(todo)


@dataclass
class ImportReport:
    ok: int = 0
    failed: int = 0
    unknown: int = 0  # custom_id of no current request
    unreadable: int = 0  # not JSON, or no custom_id

    def line(self) -> str:
        return (
            f"{self.ok} answers and {self.failed} failed requests committed; "
            f"{self.unknown} lines of no current request skipped; "
            f"{self.unreadable} unreadable lines"
        )


def import_results(
    model: ModelParams, requests: Sequence[Request], store: ResponseStore, path: Path
) -> ImportReport:
    """Commit the lines of a ``vllm run-batch`` output file, matched on ``custom_id``."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"{path}: cannot read the batch output file ({exc})") from None
    lines, bad = parse_lines(text)
    wanted = {r.key for r in requests}
    report = ImportReport(unreadable=bad)
    for line in lines:
        if line["custom_id"] not in wanted:
            report.unknown += 1
            continue
        result = result_from_line(model, line, "vllm-batch")
        store.put(result.key, result.status, {**result.record(), "timestamp": time.time()})
        if result.status == "ok":
            report.ok += 1
        else:
            report.failed += 1
    return report
