"""A stand-in for the Hugging Face Hub's HTTP API on 127.0.0.1, for the push tests.

The Hub cannot be reached from the tests, so this small server answers the
calls ``huggingface_hub`` makes for a push, a pull request, a tag and the
downloads, keeps every commit's files per repo, and records every request so a
test can check what went over the wire. It is deliberately strict: a request
it does not know or a wrong ``Authorization`` header is answered with an error
and recorded in ``errors``. Files matching ``.gitattributes``' LFS patterns
(``*.parquet``, ``*.png``) must come through the LFS path (pre-upload says
``lfs``, the LFS batch endpoint hands out an upload and a verify action, the
commit names them by sha256); other files arrive inline, base64. The Xet
protocol is not offered: tests set ``HF_HUB_DISABLE_XET``.

Endpoints (``{t}`` = ``model``/``dataset``/``space`` + ``s``; ``{rev}`` is
``main``, a commit id, a tag or ``refs/pr/N``, URL-quoted):

* ``POST /api/repos/create``: creates the repo with a first commit holding a
  ``.gitattributes`` (as the Hub does); 409 if it exists.
* ``POST /api/validate-yaml``: parses the README front matter; 400 if invalid.
* ``GET /api/whoami-v2``: the user the token belongs to.
* ``GET /api/{t}/{ns}/{name}/tree/{rev}[/{path}]``: the files (and folders).
* ``POST /api/{t}/{ns}/{name}/preupload/{rev}``: upload mode per file and the
  remote oid (git blob id, or sha256 for LFS files) for files the repo has.
* ``POST /{t}/{ns}/{name}.git/info/lfs/objects/batch``: LFS upload actions
  (none for an object the server already has).
* ``PUT /lfs-upload/{oid}`` (pre-signed: no token, as on S3) and
  ``POST /lfs-verify/{oid}``.
* ``POST /api/{t}/{ns}/{name}/commit/{rev}[?create_pr=1]``: applies ``file``,
  ``lfsFile`` and ``deletedFile`` lines; a header ``parentCommit`` that is not
  the branch head is refused with 412 (as the Hub does); ``create_pr`` opens
  ``refs/pr/N``.
* ``POST /api/{t}/{ns}/{name}/tag/{rev}``: creates a tag (409 if it exists).
* ``GET /api/{t}/{ns}/{name}[/revision/{rev}]``: repo info with the commit.
* ``GET|HEAD /{t}/{ns}/{name}/resolve/{rev}/{path}``: a file's bytes.
* ``GET /api/agent-harnesses``: an empty registry, without authentication.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import threading
from dataclasses import dataclass, field
from fnmatch import fnmatch
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import yaml

GITATTRIBUTES = (
    b"*.parquet filter=lfs diff=lfs merge=lfs -text\n*.png filter=lfs diff=lfs merge=lfs -text\n"
)
REPO_TYPES = {"models": "model", "datasets": "dataset", "spaces": "space"}
LFS_PATTERNS = ("*.parquet", "*.png")
CONFLICT = "A commit has happened since. Please refresh and try again."


def is_lfs(path: str) -> bool:
    return any(fnmatch(path.rsplit("/", 1)[-1], p) for p in LFS_PATTERNS)


def sha256(content: bytes) -> str:
    return hashlib.sha256(content).hexdigest()


def git_blob_id(content: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(content) + content).hexdigest()


@dataclass
class Request:
    method: str
    path: str
    raw_path: str
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
    files: dict[str, bytes] = field(default_factory=dict)  # the tree after this commit
    parent: str | None = None
    lfs: set[str] = field(default_factory=set)  # paths that came through LFS


@dataclass
class Repo:
    repo_type: str
    repo_id: str
    private: bool | None
    sdk: str | None
    files: dict[str, bytes] = field(default_factory=dict)
    commits: list[Commit] = field(default_factory=list)
    tags: dict[str, str] = field(default_factory=dict)
    prs: dict[int, Commit] = field(default_factory=dict)

    @property
    def head(self) -> str:
        return self.commits[-1].oid

    def resolve(self, rev: str) -> Commit | None:
        """The commit a revision names: main, a tag, refs/pr/N or a commit id."""
        if rev == "main":
            return self.commits[-1]
        if rev in self.tags:
            rev = self.tags[rev]
        m = re.fullmatch(r"refs/pr/(\d+)", rev)
        if m:
            return self.prs.get(int(m.group(1)))
        all_commits = [*self.commits, *self.prs.values()]
        return next((c for c in all_commits if c.oid == rev), None)


class HubStub:
    """Start with :meth:`start`; ``url`` is the endpoint to put in ``HF_ENDPOINT``."""

    def __init__(self, token: str, user: str = "vi-user") -> None:
        self.token = token
        self.user = user
        self.users = {token: user}  # token -> user name (add_user for more contributors)
        self.lfs_objects: dict[str, bytes] = {}
        self.before_commit: Any = None  # test hook: called (repo) before a commit is applied
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

    def add_user(self, token: str, user: str) -> None:
        self.users[token] = user

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
                    raw_path=parts.path,
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
                    presigned = method == "PUT" and request.path.startswith("/lfs-upload/")
                    if presigned and "authorization" in request.headers:
                        stub.errors.append(f"{method} {request.path}: token sent to storage")
                    if not presigned and (
                        request.headers.get("authorization")
                        not in {f"Bearer {t}" for t in stub.users}
                    ):
                        stub.errors.append(f"{method} {request.path}: bad or missing token")
                        self._send(401, {"error": "Invalid credentials in Authorization header"})
                        return
                    try:
                        status, payload = stub._route(request)
                    except Exception as exc:
                        stub.errors.append(f"{method} {request.path}: {exc!r}")
                        status, payload = 500, {"error": str(exc)}
                    if status >= 400 and status not in (409, 412):
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
        *,
        base: Commit | None = None,
        lfs: set[str] | None = None,
        pr: bool = False,
    ) -> Commit:
        parent = base if base is not None else (repo.commits[-1] if repo.commits else None)
        digest = hashlib.sha1((parent.oid if parent else "").encode() + summary.encode())
        for path in sorted(added):
            digest.update(path.encode() + git_blob_id(added[path]).encode())
        for path in deleted:
            digest.update(b"-" + path.encode())
        if pr:
            digest.update(b"pr%d" % len(repo.prs))
        files = dict(parent.files) if parent else {}
        for path in deleted:
            files.pop(path, None)
        files.update(added)
        commit = Commit(
            digest.hexdigest(),
            summary,
            added,
            deleted,
            raw,
            files=files,
            parent=parent.oid if parent else None,
            lfs=set(lfs or ()),
        )
        if pr:
            repo.prs[len(repo.prs) + 1] = commit
        else:
            repo.files = dict(files)
            repo.commits.append(commit)
        return commit

    def _route(self, r: Request) -> tuple[int, Any]:
        if r.method == "POST" and r.path == "/api/repos/create":
            return self._create(json.loads(r.body))
        if r.method == "POST" and r.path == "/api/validate-yaml":
            return self._validate_yaml(json.loads(r.body))
        if r.method == "GET" and r.path == "/api/whoami-v2":
            name = self.users[r.headers["authorization"].removeprefix("Bearer ")]
            return 200, {"type": "user", "name": name, "fullname": name, "orgs": []}
        m = re.fullmatch(r"/lfs-upload/([0-9a-f]{64})", r.path)
        if m and r.method == "PUT":
            if sha256(r.body) != m.group(1):
                return 400, {"error": "stub: uploaded bytes do not match the oid"}
            self.lfs_objects[m.group(1)] = r.body
            return 200, {}
        m = re.fullmatch(r"/lfs-verify/([0-9a-f]{64})", r.path)
        if m and r.method == "POST":
            body = json.loads(r.body)
            stored = self.lfs_objects.get(m.group(1))
            if stored is None or len(stored) != body.get("size") or body.get("oid") != m.group(1):
                return 404, {"error": "stub: LFS object not found or wrong size"}
            return 200, {}
        m = re.fullmatch(
            r"/(?:(datasets|spaces)/)?([^/]+/[^/]+)\.git/info/lfs/objects/batch", r.path
        )
        if m and r.method == "POST":
            return self._lfs_batch(json.loads(r.body))
        m = re.fullmatch(r"/(?:(datasets|spaces)/)?([^/]+/[^/]+)/resolve/([^/]+)/(.+)", r.raw_path)
        if m and r.method in ("GET", "HEAD"):
            return self._resolve(
                REPO_TYPES.get(f"{m.group(1)}", "model"),
                unquote(m.group(2)),
                unquote(m.group(3)),
                unquote(m.group(4)),
            )
        m = re.fullmatch(
            r"/api/(models|datasets|spaces)/([^/]+/[^/]+)(?:/(tree|preupload|commit|revision|tag)"
            r"/([^/]+)(/.*)?)?",
            r.raw_path,
        )
        if not m:
            return 404, {"error": f"stub: unknown endpoint {r.method} {r.path}"}
        repo_type, repo_id, action, rev, sub = m.groups()
        repo_id, rev, sub = unquote(repo_id), unquote(rev or "main"), unquote(sub or "")
        repo = self.repos.get((REPO_TYPES[repo_type], repo_id))
        if repo is None:
            return 404, {"error": "Repository not found"}
        if r.method == "GET" and action in (None, "revision"):
            commit = repo.resolve(rev)
            if commit is None:
                return 404, {"error": f"Invalid rev id: {rev}"}
            return 200, {
                "id": repo_id,
                "sha": commit.oid,
                "private": bool(repo.private),
                "siblings": [{"rfilename": p} for p in sorted(commit.files)],
            }
        if r.method == "GET" and action == "tree":
            commit = repo.resolve(rev)
            if commit is None:
                return 404, {"error": f"Invalid rev id: {rev}"}
            return self._tree(commit.files, sub.strip("/"), r.query)
        if r.method == "POST" and action == "preupload":
            return self._preupload(repo, json.loads(r.body))
        if r.method == "POST" and action == "commit":
            return self._apply_commit(repo, r, rev)
        if r.method == "POST" and action == "tag":
            return self._tag(repo, rev, json.loads(r.body))
        return 404, {"error": f"stub: unknown endpoint {r.method} {r.path}"}

    def _resolve(self, repo_type: str, repo_id: str, rev: str, path: str) -> tuple[int, Any]:
        repo = self.repos.get((repo_type, repo_id))
        if repo is None:
            return 404, {"error": "Repository not found"}
        commit = repo.resolve(rev)
        if commit is None:
            return 404, {"error": f"stub: unknown revision {rev}"}
        if path not in commit.files:
            return 404, {"error": "Entry not found"}
        content = commit.files[path]
        headers = {
            "Content-Type": "application/octet-stream",
            "ETag": f'"{git_blob_id(content)}"',
            "X-Repo-Commit": commit.oid,
        }
        if is_lfs(path):
            headers["X-Linked-Etag"] = f'"{sha256(content)}"'
            headers["X-Linked-Size"] = str(len(content))
        return 200, RawFile(content, headers)

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

    def _tree(
        self, files: dict[str, bytes], prefix: str, query: dict[str, list[str]]
    ) -> tuple[int, Any]:
        recursive = query.get("recursive", ["False"])[0].lower() == "true"
        entries: dict[str, dict[str, Any]] = {}
        for path, content in sorted(files.items()):
            if prefix and not path.startswith(prefix + "/"):
                continue
            rest = path[len(prefix) + 1 :] if prefix else path
            parts = rest.split("/")
            base = f"{prefix}/" if prefix else ""
            if len(parts) == 1 or recursive:
                entry = {
                    "type": "file",
                    "oid": git_blob_id(content),
                    "size": len(content),
                    "path": path,
                }
                if is_lfs(path):
                    entry["lfs"] = {
                        "oid": sha256(content),
                        "size": len(content),
                        "pointerSize": 134,
                    }
                entries[path] = entry
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
            lfs = is_lfs(f["path"]) and f.get("size", 1) > 0
            oid = None
            if existing is not None:
                oid = sha256(existing) if lfs else git_blob_id(existing)
            files.append(
                {
                    "path": f["path"],
                    "uploadMode": "lfs" if lfs else "regular",
                    "shouldIgnore": False,
                    "oid": oid,
                }
            )
        return 200, {"files": files, "commitOid": repo.head}

    def _lfs_batch(self, payload: dict[str, Any]) -> tuple[int, Any]:
        if payload.get("operation") != "upload" or payload.get("hash_algo") != "sha256":
            return 400, {"error": "stub: only sha256 uploads"}
        objects = []
        for obj in payload["objects"]:
            oid, size = obj["oid"], obj["size"]
            entry: dict[str, Any] = {"oid": oid, "size": size}
            if oid not in self.lfs_objects:
                entry["actions"] = {
                    "upload": {"href": f"{self.url}/lfs-upload/{oid}", "header": {}},
                    "verify": {"href": f"{self.url}/lfs-verify/{oid}"},
                }
            objects.append(entry)
        return 200, {"transfer": "basic", "objects": objects}

    def _tag(self, repo: Repo, rev: str, payload: dict[str, Any]) -> tuple[int, Any]:
        commit = repo.resolve(rev)
        if commit is None:
            return 404, {"error": f"Invalid rev id: {rev}"}
        tag = payload["tag"]
        if tag in repo.tags:
            return 409, {"error": f"Tag {tag} already exists"}
        repo.tags[tag] = commit.oid
        return 200, {}

    def _apply_commit(self, repo: Repo, r: Request, rev: str) -> tuple[int, Any]:
        if r.headers.get("content-type", "").split(";")[0] != "application/x-ndjson":
            return 400, {"error": "commit payload must be application/x-ndjson"}
        lines = [json.loads(line) for line in r.body.decode().splitlines() if line.strip()]
        if not lines or lines[0].get("key") != "header":
            return 400, {"error": "first NDJSON line must be the header"}
        header = lines[0]["value"]
        summary = header["summary"]
        create_pr = r.query.get("create_pr", ["0"])[0] == "1"
        if rev != "main":
            return 400, {"error": f"stub: commits go to main, got {rev}"}
        parent = header.get("parentCommit")
        if self.before_commit is not None:
            self.before_commit(repo)
        base = repo.commits[-1]
        if parent is not None:
            known = repo.resolve(parent)
            if known is None:
                return 400, {"error": f"unknown parent commit {parent}"}
            if not create_pr and parent != repo.head:
                return 412, {"error": CONFLICT}
            base = known
        added: dict[str, bytes] = {}
        deleted: list[str] = []
        lfs: set[str] = set()
        for line in lines[1:]:
            key, value = line["key"], line["value"]
            if key == "file":
                if value.get("encoding") != "base64":
                    return 400, {"error": f"unexpected encoding {value.get('encoding')!r}"}
                if is_lfs(value["path"]):
                    return 400, {"error": f"{value['path']} must be uploaded through LFS"}
                added[value["path"]] = base64.b64decode(value["content"], validate=True)
            elif key == "lfsFile":
                stored = self.lfs_objects.get(value["oid"])
                if stored is None or value.get("algo") != "sha256":
                    return 400, {"error": f"LFS object {value['oid']} was not uploaded"}
                added[value["path"]] = stored
                lfs.add(value["path"])
            elif key == "deletedFile":
                if value["path"] not in base.files:
                    return 404, {"error": f"A file with this name doesn't exist: {value['path']}"}
                deleted.append(value["path"])
            else:
                return 400, {"error": f"stub does not know the commit line {key}"}
        commit = self._commit(
            repo, summary, added, deleted, lines, base=base, lfs=lfs, pr=create_pr
        )
        prefix = "" if repo.repo_type == "model" else f"{repo.repo_type}s/"
        pr_url = None
        if create_pr:
            pr_url = f"{self.url}/{prefix}{repo.repo_id}/discussions/{len(repo.prs)}"
        return 200, {
            "commitUrl": f"{self.url}/{prefix}{repo.repo_id}/commit/{commit.oid}",
            "commitOid": commit.oid,
            "pullRequestUrl": pr_url,
        }
