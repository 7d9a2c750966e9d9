"""The Hub stand-in's state: repos, commits, pull requests, requests (plain data)."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from fnmatch import fnmatch
from typing import Any

GITATTRIBUTES = (
    b"*.parquet filter=lfs diff=lfs merge=lfs -text\n*.png filter=lfs diff=lfs merge=lfs -text\n"
)
REPO_TYPES = {"models": "model", "datasets": "dataset", "spaces": "space"}
LFS_PATTERNS = ("*.parquet", "*.png")
CONFLICT = "A commit has happened since. Please refresh and try again."
DATE = "2025-01-31T12:00:00.000Z"


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
class Page:
    """A paginated listing: one page of ``items`` and the next page's URL (or None)."""

    items: list[Any]
    next_url: str | None


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
    author: str = "system"


@dataclass
class PullRequest:
    num: int
    title: str
    author: str
    base: str  # the main commit the PR was opened against
    status: str = "open"
    events: list[dict[str, Any]] = field(default_factory=list)
    merge_commit: str | None = None


@dataclass
class Repo:
    repo_type: str
    repo_id: str
    private: bool | None
    sdk: str | None
    files: dict[str, bytes] = field(default_factory=dict)
    commits: list[Commit] = field(default_factory=list)
    tags: dict[str, str] = field(default_factory=dict)
    tag_messages: dict[str, str | None] = field(default_factory=dict)
    prs: dict[int, Commit] = field(default_factory=dict)
    pulls: dict[int, PullRequest] = field(default_factory=dict)

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

    def history(self, commit: Commit) -> list[Commit]:
        """``commit`` and its ancestors, newest first."""
        out = [commit]
        while out[-1].parent is not None:
            parent = self.resolve(out[-1].parent)
            if parent is None:
                break
            out.append(parent)
        return out
