"""A stand-in for the Hugging Face Hub's HTTP API on 127.0.0.1, for the push tests.

The Hub cannot be reached from the tests, so this small server answers the
calls ``huggingface_hub`` makes for a push, a pull request, a tag and the
downloads, keeps every commit's files per repo, and records every request so a
test can check what went over the wire. It is deliberately strict: a request
it does not know or a wrong ``Authorization`` header is answered with an error
and recorded in ``errors``. Files matching ``.gitattributes``' LFS patterns
(``*.parquet``, ``*.png``) must come through the LFS path (pre-upload says
``lfs``, the LFS batch endpoint hands out an upload and a verify action, the
commit names them by sha256); other files arrive inline, base64. There is
no Xet (CAS) server: the product switches Xet off and uploads through LFS,
which the Hub accepts for Xet-backed repos too (its LFS bridge); a request for
a Xet token is an unknown endpoint and recorded in ``errors``.

Listings are paginated like the Hub's (``Link: <...>; rel="next"``) with
``page_size`` entries per page: the file tree and the commit history. The README
front matter is validated as strictly as the Hub does for the fields the
project writes (:func:`front_matter_errors`). Pull requests have an author, a
status and events; they can be commented on, closed and merged (a merge is
refused when a file the PR changed also changed on main since the PR's base,
as git would report a conflict).

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
* ``POST /api/{t}/{ns}/{name}/tag/{rev}``: creates a tag (409 if it exists), with
  its ``message``.
* ``GET /api/{t}/{ns}/{name}/commits/{rev}``: the history, newest first (paginated).
* ``GET /api/{t}/{ns}/{name}/discussions/{n}``: a pull request's details.
* ``POST /api/{t}/{ns}/{name}/discussions/{n}/comment|status|merge``.
* ``GET /api/{t}/{ns}/{name}[/revision/{rev}]``: repo info with the commit.
* ``GET|HEAD /{t}/{ns}/{name}/resolve/{rev}/{path}``: a file's bytes.
* ``GET /api/agent-harnesses``: an empty registry, without authentication.

This module is the server and the routing; the state is in
:mod:`tests.hub_stub_repo`, commits, files and tags in :mod:`tests.hub_stub_git`,
pull requests in :mod:`tests.hub_stub_pulls` and the front-matter rules in
:mod:`tests.hub_stub_rules`.
"""

from __future__ import annotations

import json
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import yaml

from tests.hub_stub_git import GitSide
from tests.hub_stub_pulls import PullRequests
from tests.hub_stub_repo import (
    DATE,
    GITATTRIBUTES,
    REPO_TYPES,
    Commit,
    Page,
    RawFile,
    Repo,
    Request,
    sha256,
)
from tests.hub_stub_rules import front_matter_errors


class HubStub(GitSide, PullRequests):
    """Start with :meth:`start`; ``url`` is the endpoint to put in ``HF_ENDPOINT``."""

    def __init__(self, token: str, user: str = "vi-user") -> None:
        self.token = token
        self.user = user
        self.users = {token: user}  # token -> user name (add_user for more contributors)
        self.lfs_objects: dict[str, bytes] = {}
        self.before_commit: Any = None  # test hook: called (repo) before a commit is applied
        self.page_size = 50  # entries per page of a paginated listing
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
                if isinstance(payload, Page):
                    self._send(
                        status,
                        payload.items,
                        {"Link": f'<{payload.next_url}>; rel="next"'} if payload.next_url else None,
                    )
                    return
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

    def _user(self, r: Request) -> str:
        return self.users.get(r.headers.get("authorization", "").removeprefix("Bearer "), "")

    def _page(self, r: Request, items: list[Any]) -> Page:
        """One page of ``items`` (``?cursor=N``), with the next page's URL."""
        start = int(r.query.get("cursor", ["0"])[0])
        end = start + self.page_size
        next_url = None
        if end < len(items):
            query = {k: v[-1] for k, v in r.query.items() if k != "cursor"}
            query["cursor"] = str(end)
            next_url = f"{self.url}{r.raw_path}?" + "&".join(f"{k}={v}" for k, v in query.items())
        return Page(items[start:end], next_url)

    def _route(self, r: Request) -> tuple[int, Any]:
        if r.method == "POST" and r.path == "/api/repos/create":
            return self._create(json.loads(r.body))
        if r.method == "POST" and r.path == "/api/validate-yaml":
            return self._validate_yaml(json.loads(r.body))
        m = re.fullmatch(
            r"/api/(models|datasets|spaces)/([^/]+/[^/]+)/discussions/(\d+)(?:/(\w+))?", r.path
        )
        if m:
            repo = self.repos.get((REPO_TYPES[m.group(1)], m.group(2)))
            pull = repo.pulls.get(int(m.group(3))) if repo is not None else None
            if repo is None or pull is None:
                return 404, {"error": "Discussion not found"}
            return self._discussion(repo, pull, r, m.group(4))
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
            r"/api/(models|datasets|spaces)/([^/]+/[^/]+)(?:/(tree|preupload|commit|commits|revision|tag)"
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
            status, entries = self._tree(commit.files, sub.strip("/"), r.query)
            return status, self._page(r, entries)
        if r.method == "GET" and action == "commits":
            commit = repo.resolve(rev)
            if commit is None:
                return 404, {"error": f"Invalid rev id: {rev}"}
            items = [
                {
                    "id": c.oid,
                    "title": c.summary,
                    "message": "",
                    "authors": [{"user": c.author}],
                    "date": DATE,
                }
                for c in repo.history(commit)
            ]
            return 200, self._page(r, items)
        if r.method == "POST" and action == "preupload":
            return self._preupload(repo, json.loads(r.body))
        if r.method == "POST" and action == "commit":
            return self._apply_commit(repo, r, rev)
        if r.method == "POST" and action == "tag":
            return self._tag(repo, rev, json.loads(r.body))
        return 404, {"error": f"stub: unknown endpoint {r.method} {r.path}"}

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
        errors = front_matter_errors(meta, payload.get("repoType") or "model")
        if errors:
            return 400, {"error": "invalid metadata", "errors": [{"message": e} for e in errors]}
        return 200, {"errors": [], "warnings": []}
