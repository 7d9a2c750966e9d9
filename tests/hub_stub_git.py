"""Commits, files and tags of the Hub stand-in: the git side of a push.

Files matching ``.gitattributes``' LFS patterns must come through LFS
(pre-upload says ``lfs``, the batch endpoint hands out upload and verify
actions, the commit names them by sha256); other files arrive inline, base64. A
``parentCommit`` that is not the branch head is refused with 412, as the Hub
does; ``create_pr`` opens ``refs/pr/N`` with the token's user as its author.
"""

from __future__ import annotations

import base64
import hashlib
import json
from typing import Any

from tests.hub_stub_repo import (
    CONFLICT,
    Commit,
    PullRequest,
    RawFile,
    Repo,
    Request,
    git_blob_id,
    is_lfs,
    sha256,
)


class GitSide:
    """Mixed into :class:`tests.hub_stub.HubStub` (uses its ``url``, ``lfs_objects``,
    ``before_commit``, ``_user`` and ``_event``)."""

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
        repo.tag_messages[tag] = payload.get("message")
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
        commit.author = self._user(r)
        prefix = "" if repo.repo_type == "model" else f"{repo.repo_type}s/"
        pr_url = None
        if create_pr:
            num = len(repo.prs)
            pull = PullRequest(num, summary, commit.author, base.oid)
            pull.events.append(
                self._event("commit", commit.author, subject=summary, oid=commit.oid)
            )
            repo.pulls[num] = pull
            pr_url = f"{self.url}/{prefix}{repo.repo_id}/discussions/{num}"
        return 200, {
            "commitUrl": f"{self.url}/{prefix}{repo.repo_id}/commit/{commit.oid}",
            "commitOid": commit.oid,
            "pullRequestUrl": pr_url,
        }
