"""One revision of a Hub dataset, read lazily: its files, tables and JSON.

A pull request's revision is ``refs/pr/<N>``; its *base* is the main commit
it was opened against (the newest commit of the PR's history that is also in
main's), which is what a PR's changes are measured against.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from value_inertia.core.errors import UserError


class SubmissionError(UserError):
    """A pull request cannot be read or landed (the message names the PR and the file)."""


def pr_revision(pr: int | str) -> str:
    """``refs/pr/<N>`` for a PR number (a ``refs/...`` string is kept)."""
    if isinstance(pr, str) and pr.startswith("refs/"):
        return pr
    return f"refs/pr/{int(pr)}"


def pr_number(pr: int | str) -> int:
    return int(str(pr).rsplit("/", 1)[-1])


def pr_base(api: Any, repo_id: str, revision: str) -> str:
    """The main commit the PR at ``revision`` was opened against."""
    main = {c.commit_id for c in api.list_repo_commits(repo_id, repo_type="dataset")}
    for commit in api.list_repo_commits(repo_id, repo_type="dataset", revision=revision):
        if commit.commit_id in main:
            return commit.commit_id
    raise SubmissionError(f"{repo_id} {revision}: shares no commit with main")


def pr_author(api: Any, repo_id: str, pr: int | str) -> tuple[str, str]:
    """``(author, status)`` of the pull request ``pr``."""
    details = api.get_discussion_details(repo_id, pr_number(pr), repo_type="dataset")
    if not details.is_pull_request:
        raise SubmissionError(f"{repo_id} #{pr_number(pr)}: a discussion, not a pull request")
    return str(details.author), str(details.status)


@dataclass
class Snapshot:
    """The dataset ``repo_id`` at ``revision`` (a commit id, ``main`` or ``refs/pr/N``)."""

    api: Any
    repo_id: str
    revision: str
    cache: Path
    files: set[str] = field(default_factory=set)
    _frames: dict[str, pd.DataFrame | None] = field(default_factory=dict)

    @classmethod
    def open(cls, api: Any, repo_id: str, revision: str, cache: Path) -> Snapshot:
        files = set(api.list_repo_files(repo_id, repo_type="dataset", revision=revision))
        return cls(api, repo_id, revision, cache, files)

    def path(self, rel: str) -> Path | None:
        """The local copy of the file ``rel`` (None when this revision has no such file)."""
        if rel not in self.files:
            return None
        return Path(
            self.api.hf_hub_download(
                self.repo_id,
                rel,
                repo_type="dataset",
                revision=self.revision,
                cache_dir=str(self.cache),
            )
        )

    def frame(self, rel: str) -> pd.DataFrame | None:
        """The Parquet table ``rel`` (None when absent); a damaged file is a SubmissionError."""
        if rel not in self._frames:
            path = self.path(rel)
            try:
                self._frames[rel] = None if path is None else pd.read_parquet(path)
            except Exception as exc:  # pyarrow raises several types for a damaged file
                reason = str(exc).split(": ")[-1].split(". ")[0]  # without the cache path
                raise SubmissionError(f"{rel}: not a readable Parquet table ({reason})") from None
        return self._frames[rel]

    def json(self, rel: str) -> Any:
        path = self.path(rel)
        if path is None:
            return None
        try:
            return json.loads(path.read_text(encoding="utf-8"))
        except (ValueError, UnicodeDecodeError) as exc:
            raise SubmissionError(f"{rel}: not valid JSON ({exc})") from None

    def blob_ids(self) -> dict[str, str]:
        """``{path: oid}`` of every file (git blob id, or the LFS sha256)."""
        out = {}
        for entry in self.api.list_repo_tree(
            self.repo_id, repo_type="dataset", revision=self.revision, recursive=True
        ):
            if getattr(entry, "blob_id", None) is not None:
                lfs = getattr(entry, "lfs", None)
                out[entry.path] = lfs.sha256 if lfs is not None else entry.blob_id
        return out
