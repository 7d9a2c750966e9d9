"""A local OpenAI Files + Batches API for tests, executing each line on a real server.

It implements what the ``openai`` client calls for batch inference: ``POST
/v1/files`` (multipart upload), ``GET /v1/files/{id}/content``, ``POST
/v1/batches``, ``GET /v1/batches/{id}`` and ``GET /v1/batches`` (newest first).
A created batch runs in a thread: every line is POSTed to ``upstream`` (the real
llama.cpp server) and its reply written to the output file in the OpenAI batch
output format; errors go to the error file.

Faults, consumed one per ``POST /v1/batches`` from ``faults``:
"expire_partial" (runs the first half, then expires: the rest get ``batch_expired``
lines in the error file), "error_lines" (every other line is answered by an error
line with status 400, not executed), "no_output" (runs everything, then reports
"completed" with no output and no error file), "failed" (the batch fails
validation: status "failed", no line runs), "hang_before_create" (the request is
held and no batch is made), "hang_after_create" (the batch is made and runs, but
the reply is held). A held request waits until ``release()``.
``executed`` lists every custom_id run against the upstream server, in order.
"""

from __future__ import annotations

import json
import re
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx


class BatchServer:
    def __init__(self, upstream: str, faults: list[str] | None = None) -> None:
        self.upstream = upstream.rstrip("/").removesuffix("/v1")
        self.faults: list[str] = list(faults or [])
        self.files: dict[str, bytes] = {}
        self.batches: dict[str, dict[str, Any]] = {}
        self.executed: list[str] = []
        self.uploads = 0
        self.creates = 0  # POST /v1/batches received
        self.held = threading.Event()  # a request is being held
        self._release = threading.Event()
        self._lock = threading.Lock()
        self._n = 0
        self._threads: list[threading.Thread] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:
                pass

            def _send(self, code: int, data: Any, raw: bytes | None = None) -> None:
                body = raw if raw is not None else json.dumps(data).encode()
                self.send_response(code)
                ctype = "application/octet-stream" if raw is not None else "application/json"
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def _body(self) -> bytes:
                return self.rfile.read(int(self.headers.get("Content-Length") or 0))

            def do_GET(self) -> None:
                path = self.path.split("?", 1)[0]
                if m := re.fullmatch(r"/v1/files/([\w-]+)/content", path):
                    data = server.files.get(m.group(1))
                    if data is None:
                        return self._send(404, {"error": {"message": "no such file"}})
                    return self._send(200, None, raw=data)
                if m := re.fullmatch(r"/v1/batches/([\w-]+)", path):
                    batch = server.batches.get(m.group(1))
                    if batch is None:
                        return self._send(404, {"error": {"message": "no such batch"}})
                    return self._send(200, batch)
                if path == "/v1/batches":
                    data = sorted(server.batches.values(), key=lambda b: -b["_n"])
                    return self._send(
                        200,
                        {
                            "object": "list",
                            "data": data,
                            "first_id": data[0]["id"] if data else None,
                            "last_id": data[-1]["id"] if data else None,
                            "has_more": False,
                        },
                    )
                return self._send(404, {"error": {"message": f"no route {path}"}})

            def do_POST(self) -> None:
                path = self.path.split("?", 1)[0]
                body = self._body()
                if path == "/v1/files":
                    content = _multipart_file(self.headers.get("Content-Type", ""), body)
                    file_id = server._file(content)
                    server.uploads += 1
                    return self._send(
                        200,
                        {
                            "id": file_id,
                            "object": "file",
                            "bytes": len(content),
                            "created_at": int(time.time()),
                            "filename": "input.jsonl",
                            "purpose": "batch",
                            "status": "processed",
                        },
                    )
                if path == "/v1/batches":
                    req = json.loads(body)
                    with server._lock:
                        server.creates += 1
                        fault = server.faults.pop(0) if server.faults else None
                    if fault == "hang_before_create":
                        server._hold()
                        return None
                    batch = server._create(req, fault)
                    if fault == "hang_after_create":
                        server._hold()
                        return None
                    return self._send(200, batch)
                return self._send(404, {"error": {"message": f"no route {path}"}})

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.base_url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"
        self._serve = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self._serve.start()

    # -- state -------------------------------------------------------------------------
    def _id(self, prefix: str) -> str:
        with self._lock:
            self._n += 1
            return f"{prefix}-{self._n}"

    def _file(self, data: bytes) -> str:
        file_id = self._id("file")
        self.files[file_id] = data
        return file_id

    def _hold(self) -> None:
        self.held.set()
        self._release.wait(120)

    def release(self) -> None:
        self._release.set()

    def _create(self, req: dict[str, Any], fault: str | None) -> dict[str, Any]:
        batch_id = self._id("batch")
        batch = {
            "id": batch_id,
            "object": "batch",
            "endpoint": req["endpoint"],
            "errors": None,
            "input_file_id": req["input_file_id"],
            "completion_window": req.get("completion_window", "24h"),
            "status": "validating",
            "output_file_id": None,
            "error_file_id": None,
            "created_at": int(time.time()),
            "request_counts": {"total": 0, "completed": 0, "failed": 0},
            "metadata": req.get("metadata"),
            "_n": self._n,
        }
        self.batches[batch_id] = batch
        thread = threading.Thread(target=self._run, args=(batch, fault), daemon=True)
        self._threads.append(thread)
        thread.start()
        return dict(batch)

    def _run(self, batch: dict[str, Any], fault: str | None) -> None:
        lines = [json.loads(x) for x in self.files[batch["input_file_id"]].splitlines() if x]
        batch["status"] = "in_progress"
        batch["request_counts"]["total"] = len(lines)
        if fault == "failed":
            batch["errors"] = {
                "object": "list",
                "data": [{"code": "invalid_request", "message": "line 1: bad model", "line": 1}],
            }
            batch["status"] = "failed"
            return
        out: list[dict[str, Any]] = []
        err: list[dict[str, Any]] = []
        run_until = len(lines) // 2 if fault == "expire_partial" else len(lines)
        with httpx.Client(timeout=120) as client:
            for i, line in enumerate(lines):
                cid = line["custom_id"]
                if i >= run_until:
                    err.append(
                        {
                            "id": f"req-{i}",
                            "custom_id": cid,
                            "response": None,
                            "error": {"code": "batch_expired", "message": "not run in time"},
                        }
                    )
                    continue
                if fault == "error_lines" and i % 2 == 1:
                    err.append(
                        {
                            "id": f"req-{i}",
                            "custom_id": cid,
                            "response": {
                                "status_code": 400,
                                "request_id": f"r{i}",
                                "body": {"error": {"message": "bad request", "type": "invalid"}},
                            },
                            "error": None,
                        }
                    )
                    continue
                reply = client.post(self.upstream + line["url"], json=line["body"])
                self.executed.append(cid)
                entry = {
                    "id": f"req-{i}",
                    "custom_id": cid,
                    "response": {
                        "status_code": reply.status_code,
                        "request_id": f"r{i}",
                        "body": reply.json(),
                    },
                    "error": None,
                }
                (out if reply.status_code == 200 else err).append(entry)
                batch["request_counts"]["completed"] += 1
        if fault != "no_output":
            if out:
                batch["output_file_id"] = self._file(_jsonl(out))
            if err:
                batch["error_file_id"] = self._file(_jsonl(err))
        batch["status"] = "expired" if fault == "expire_partial" else "completed"

    def wait_idle(self, timeout: float = 120) -> None:
        for thread in self._threads:
            thread.join(timeout)

    def close(self) -> None:
        self.release()
        self.httpd.shutdown()
        self.httpd.server_close()


def _jsonl(rows: list[dict[str, Any]]) -> bytes:
    return b"".join(json.dumps(r).encode() + b"\n" for r in rows)


def _multipart_file(content_type: str, body: bytes) -> bytes:
    """The content of the part named ``file`` of a multipart/form-data body."""
    m = re.search(r"boundary=\"?([^\";]+)\"?", content_type)
    assert m, content_type
    boundary = b"--" + m.group(1).encode()
    for part in body.split(boundary):
        head, _, data = part.partition(b"\r\n\r\n")
        if b'name="file"' in head:
            return data.removesuffix(b"\r\n")
    raise AssertionError("no file part in the upload")
