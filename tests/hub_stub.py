"""A stand-in for the Hugging Face Hub's HTTP API on 127.0.0.1, for the push tests.

The Hub cannot be reached from the tests, so this small server answers the
calls ``huggingface_hub`` makes for a folder push, keeps the files it is sent
per repo, and records every request so a test can check what went over the
wire. It is deliberately strict: a request it does not know, a wrong
``Authorization`` header or an LFS upload (the stub answers pre-upload with
``uploadMode: "regular"``, so every file must arrive inline, base64, in the
NDJSON commit) is answered with an error and recorded in ``errors``.

Endpoints (``{t}`` = ``model``/``dataset``/``space`` + ``s``):

* ``POST /api/repos/create``: creates the repo with a first commit holding a
  ``.gitattributes`` (as the Hub does); 409 if it exists.
* ``POST /api/validate-yaml``: parses the README front matter; 400 if invalid.
* ``GET /api/{t}/{ns}/{name}/tree/{rev}[/{path}]``: the files (and folders)
  with their git blob ids, as the Hub lists them.
* ``POST /api/{t}/{ns}/{name}/preupload/{rev}``: ``uploadMode: "regular"`` and
  the remote blob id (``oid``) for files the repo already has.
* ``POST /api/{t}/{ns}/{name}/commit/{rev}``: applies ``file`` (base64) and
  ``deletedFile`` lines, records a commit.
* ``GET /api/{t}/{ns}/{name}[/revision/{rev}]``: repo info with the head commit.
* ``GET|HEAD /{t}/{ns}/{name}/resolve/{rev}/{path}``: a file's bytes (downloads).
* ``GET /api/agent-harnesses``: an empty registry, without authentication
  (``huggingface_hub`` looks it up once per process, without a token).
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import yaml

GITATTRIBUTES = (
    b"*.parquet filter=lfs diff=lfs merge=lfs -text\n*.png filter=lfs diff=lfs merge=lfs -text\n"
)
REPO_TYPES = {"models": "model", "datasets": "dataset", "spaces": "space"}


def git_blob_id(content: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(content) + content).hexdigest()


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes


@dataclass
class RawFile:
    """A file download answer (``resolve`` endpoint): raw bytes and Hub headers."""

    content: bytes
    headers: dict[str, str]


@dataclass
class Commit:
    oid: str
    summary: str
    added: dict[str, bytes]
    deleted: list[str]
    raw_lines: list[dict[str, Any]]


@dataclass
class Repo:
    repo_type: str
    repo_id: str
    private: bool | None
    sdk: str | None
    files: dict[str, bytes] = field(default_factory=dict)
    commits: list[Commit] = field(default_factory=list)

    @property
    def head(self) -> str:
        return self.commits[-1].oid


class HubStub:
    """Start with :meth:`start`; ``url`` is the endpoint to put in ``HF_ENDPOINT``."""

    def __init__(self, token: str) -> None:
        self.token = token
        self.repos: dict[tuple[str, str], Repo] = {}
        self.requests: list[Request] = []
        self.errors: list[str] = []
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def start(self) -> HubStub:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> HubStub:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ------------------------------------------------------------------ helpers for tests

    def repo(self, repo_type: str, repo_id: str) -> Repo:
        return self.repos[(repo_type, repo_id)]

    def commits(self, repo_type: str, repo_id: str) -> list[Commit]:
        return self.repo(repo_type, repo_id).commits[1:]  # without the creation commit

    def calls(self, method: str, pattern: str) -> list[Request]:
        return [r for r in self.requests if r.method == method and re.search(pattern, r.path)]

    # ------------------------------------------------------------------ server

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        stub = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def _read_body(self) -> bytes:
                if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
                    chunks = []
                    while True:
                        size = int(self.rfile.readline().strip(), 16)
                        if size == 0:
                            self.rfile.readline()
                            break
                        chunks.append(self.rfile.read(size))
                        self.rfile.readline()
                    return b"".join(chunks)
                length = int(self.headers.get("Content-Length") or 0)
                return self.rfile.read(length) if length else b""

            def _send(self, status: int, payload: Any, headers: dict[str, str] | None = None):
                body = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                for k, v in (headers or {}).items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(body)

            def _handle(self, method: str) -> None:
                parts = urlsplit(self.path)
                request = Request(
                    method=method,
                    path=unquote(parts.path),
                    query=parse_qs(parts.query),
                    headers={k.lower(): v for k, v in self.headers.items()},
                    body=self._read_body() if method in ("POST", "PUT") else b"",
                )
                with stub._lock:
                    stub.requests.append(request)
                    if method == "GET" and request.path == "/api/agent-harnesses":
                        # huggingface_hub's best-effort, unauthenticated registry lookup
                        self._send(200, {"standardEnvVars": [], "harnesses": {}})
                        return
                    if request.headers.get("authorization") != f"Bearer {stub.token}":
                        stub.errors.append(f"{method} {request.path}: bad or missing token")
                        self._send(401, {"error": "Invalid credentials in Authorization header"})
                        return
                    try:
                        status, payload = stub._route(request)
                    except Exception as exc:
                        stub.errors.append(f"{method} {request.path}: {exc!r}")
                        status, payload = 500, {"error": str(exc)}
                    if status >= 400 and status != 409:
                        stub.errors.append(f"{method} {request.path}: {status} {payload}")
                if isinstance(payload, RawFile):
                    self.send_response(status)
                    for k, v in payload.headers.items():
                        self.send_header(k, v)
                    self.send_header("Content-Length", str(len(payload.content)))
                    self.end_headers()
                    if method != "HEAD":
                        self.wfile.write(payload.content)
                    return
                self._send(
                    status,
                    payload,
                    {"X-Error-Message": payload.get("error", "")}
                    if isinstance(payload, dict) and status >= 400
                    else None,
                )

            def do_GET(self) -> None:
                self._handle("GET")

            def do_POST(self) -> None:
                self._handle("POST")

            def do_HEAD(self) -> None:
                self._handle("HEAD")

            def do_PUT(self) -> None:
                self._handle("PUT")

            def do_DELETE(self) -> None:
                self._handle("DELETE")

        return Handler

    def _commit(
        self,
        repo: Repo,
        summary: str,
        added: dict[str, bytes],
        deleted: list[str],
        raw: list[dict[str, Any]],
    ) -> Commit:
        parent = repo.commits[-1].oid if repo.commits else ""
        digest = hashlib.sha1(parent.encode() + summary.encode())
        for path in sorted(added):
            digest.update(path.encode() + git_blob_id(added[path]).encode())
        for path in deleted:
            digest.update(b"-" + path.encode())
        commit = Commit(digest.hexdigest(), summary, added, deleted, raw)
        for path in deleted:
            repo.files.pop(path, None)
        repo.files.update(added)
        repo.commits.append(commit)
        return commit

    def _route(self, r: Request) -> tuple[int, Any]:
        if r.method == "POST" and r.path == "/api/repos/create":
            return self._create(json.loads(r.body))
        if r.method == "POST" and r.path == "/api/validate-yaml":
            return self._validate_yaml(json.loads(r.body))
        m = re.fullmatch(r"/(?:(datasets|spaces)/)?([^/]+/[^/]+)/resolve/([^/]+)/(.+)", r.path)
        if m and r.method in ("GET", "HEAD"):
            return self._resolve(REPO_TYPES.get(f"{m.group(1)}", "model"), *m.groups()[1:])
        m = re.fullmatch(
            r"/api/(models|datasets|spaces)/([^/]+/[^/]+)(?:/(tree|preupload|commit|revision)"
            r"/([^/]+)(/.*)?)?",
            r.path,
        )
        if not m:
            return 404, {"error": f"stub: unknown endpoint {r.method} {r.path}"}
        repo_type, repo_id, action, _rev, sub = m.groups()
        repo = self.repos.get((REPO_TYPES[repo_type], repo_id))
        if repo is None:
            return 404, {"error": "Repository not found"}
        if r.method == "GET" and action in (None, "revision"):
            return 200, {
                "id": repo_id,
                "sha": repo.head,
                "private": bool(repo.private),
                "siblings": [{"rfilename": p} for p in sorted(repo.files)],
            }
        if r.method == "GET" and action == "tree":
            return self._tree(repo, (sub or "").strip("/"), r.query)
        if r.method == "POST" and action == "preupload":
            return self._preupload(repo, json.loads(r.body))
        if r.method == "POST" and action == "commit":
            return self._apply_commit(repo, r)
        return 404, {"error": f"stub: unknown endpoint {r.method} {r.path}"}

    def _resolve(self, repo_type: str, repo_id: str, rev: str, path: str) -> tuple[int, Any]:
        repo = self.repos.get((repo_type, repo_id))
        if repo is None:
            return 404, {"error": "Repository not found"}
        if rev not in ("main", repo.head):
            return 404, {"error": f"stub: unknown revision {rev}"}
        if path not in repo.files:
            return 404, {"error": "Entry not found"}
        content = repo.files[path]
        return 200, RawFile(
            content,
            {
                "Content-Type": "application/octet-stream",
                "ETag": f'"{git_blob_id(content)}"',
                "X-Repo-Commit": repo.head,
            },
        )

    def _create(self, payload: dict[str, Any]) -> tuple[int, Any]:
        repo_type = payload.get("type") or "model"
        repo_id = f"{payload['organization']}/{payload['name']}"
        prefix = "" if repo_type == "model" else f"{repo_type}s/"
        if (repo_type, repo_id) in self.repos:
            return 409, {
                "error": "You already created this repo",
                "url": f"{self.url}/{prefix}{repo_id}",
            }
        if repo_type == "space" and not payload.get("sdk"):
            return 400, {"error": "space sdk is required"}
        private = payload.get("private")
        if private is None and "visibility" in payload:
            private = payload["visibility"] == "private"
        repo = Repo(repo_type, repo_id, private, payload.get("sdk"))
        self._commit(repo, "initial commit", {".gitattributes": GITATTRIBUTES}, [], [])
        self.repos[(repo_type, repo_id)] = repo
        return 200, {"url": f"{self.url}/{prefix}{repo_id}"}

    def _validate_yaml(self, payload: dict[str, Any]) -> tuple[int, Any]:
        content = payload.get("content", "")
        match = re.match(r"^---\n(.*?)\n---\n", content, flags=re.DOTALL)
        if not match:
            return 200, {"warnings": [{"message": "empty or missing yaml metadata"}]}
        try:
            meta = yaml.safe_load(match.group(1))
        except yaml.YAMLError as exc:
            return 400, {"error": "invalid yaml", "errors": [{"message": str(exc)}]}
        if not isinstance(meta, dict):
            return 400, {"error": "invalid yaml", "errors": [{"message": "not a mapping"}]}
        return 200, {"errors": [], "warnings": []}

    def _tree(self, repo: Repo, prefix: str, query: dict[str, list[str]]) -> tuple[int, Any]:
        recursive = query.get("recursive", ["False"])[0].lower() == "true"
        entries: dict[str, dict[str, Any]] = {}
        for path, content in sorted(repo.files.items()):
            if prefix and not path.startswith(prefix + "/"):
                continue
            rest = path[len(prefix) + 1 :] if prefix else path
            parts = rest.split("/")
            base = f"{prefix}/" if prefix else ""
            if len(parts) == 1 or recursive:
                entries[path] = {
                    "type": "file",
                    "oid": git_blob_id(content),
                    "size": len(content),
                    "path": path,
                }
            for depth in range(1, len(parts) if recursive else min(2, len(parts))):
                folder = base + "/".join(parts[:depth])
                entries.setdefault(
                    folder, {"type": "directory", "oid": "0" * 40, "size": 0, "path": folder}
                )
        return 200, sorted(entries.values(), key=lambda e: e["path"])

    def _preupload(self, repo: Repo, payload: dict[str, Any]) -> tuple[int, Any]:
        files = []
        for f in payload["files"]:
            existing = repo.files.get(f["path"])
            files.append(
                {
                    "path": f["path"],
                    "uploadMode": "regular",
                    "shouldIgnore": False,
                    "oid": git_blob_id(existing) if existing is not None else None,
                }
            )
        return 200, {"files": files, "commitOid": repo.head}

    def _apply_commit(self, repo: Repo, r: Request) -> tuple[int, Any]:
        if r.headers.get("content-type", "").split(";")[0] != "application/x-ndjson":
            return 400, {"error": "commit payload must be application/x-ndjson"}
        lines = [json.loads(line) for line in r.body.decode().splitlines() if line.strip()]
        if not lines or lines[0].get("key") != "header":
            return 400, {"error": "first NDJSON line must be the header"}
        summary = lines[0]["value"]["summary"]
        added: dict[str, bytes] = {}
        deleted: list[str] = []
        for line in lines[1:]:
            key, value = line["key"], line["value"]
            if key == "file":
                if value.get("encoding") != "base64":
                    return 400, {"error": f"unexpected encoding {value.get('encoding')!r}"}
                added[value["path"]] = base64.b64decode(value["content"], validate=True)
            elif key == "deletedFile":
                if value["path"] not in repo.files:
                    return 404, {"error": f"A file with this name doesn't exist: {value['path']}"}
                deleted.append(value["path"])
            else:
                return 400, {"error": f"stub accepts only inline files and deletions, got {key}"}
        commit = self._commit(repo, summary, added, deleted, lines)
        prefix = "" if repo.repo_type == "model" else f"{repo.repo_type}s/"
        return 200, {
            "commitUrl": f"{self.url}/{prefix}{repo.repo_id}/commit/{commit.oid}",
            "commitOid": commit.oid,
            "pullRequestUrl": None,
        }
