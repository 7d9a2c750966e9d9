"""Pull requests of the Hub stand-in: details, comments, status changes and merges.

A PR has an author (the token's user), a status and events (commit, comment,
status-change). A merge is refused (409) when a file the PR changed has also
changed on main since the PR's base, as git would report a conflict for a
binary file changed on both sides.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from tests.hub_stub_repo import DATE, PullRequest, Repo, Request


class PullRequests:
    """Mixed into :class:`tests.hub_stub.HubStub` (uses its ``_user`` and ``_commit``)."""

    def _event(self, kind: str, author: str, **data: Any) -> dict[str, Any]:
        return {
            "id": hashlib.sha1(repr((kind, author, data)).encode()).hexdigest()[:24],
            "type": kind,
            "createdAt": DATE,
            "author": {"name": author},
            "data": data,
        }

    def _discussion(
        self, repo: Repo, pull: PullRequest, r: Request, action: str | None
    ) -> tuple[int, Any]:
        user = self._user(r)
        if r.method == "GET" and action is None:
            return 200, {
                "num": pull.num,
                "title": pull.title,
                "author": {"name": pull.author},
                "createdAt": DATE,
                "status": pull.status,
                "repo": {"name": repo.repo_id, "type": repo.repo_type},
                "isPullRequest": True,
                "events": pull.events,
                "changes": {"base": "refs/heads/main", "mergeCommitId": pull.merge_commit},
                "filesWithConflicts": self._conflicts(repo, pull),
                "diff": "",
            }
        if r.method != "POST" or action not in ("comment", "status", "merge"):
            return 404, {"error": f"stub: unknown endpoint {r.method} {r.path}"}
        body = json.loads(r.body or b"null") or {}
        if action == "comment":
            event = self._comment(pull, user, body.get("comment", ""))
            return 200, {"newMessage": event}
        if pull.status != "open":
            return 400, {"error": f"The pull request is {pull.status}"}
        if action == "status":
            if body.get("status") not in ("open", "closed"):
                return 400, {"error": "status must be open or closed"}
            if body.get("comment"):
                self._comment(pull, user, body["comment"])
            pull.status = body["status"]
            event = self._event("status-change", user, status=pull.status)
            pull.events.append(event)
            return 200, {"newStatus": event}
        conflicts = self._conflicts(repo, pull)
        if conflicts:
            return 409, {"error": f"Merge conflict in {', '.join(conflicts)}"}
        tip = repo.prs[pull.num]
        base = repo.resolve(pull.base)
        added = {p: c for p, c in tip.files.items() if base.files.get(p) != c}
        deleted = [p for p in base.files if p not in tip.files and p in repo.files]
        merged = self._commit(repo, f"Merge #{pull.num}: {pull.title}", added, deleted, [])
        merged.author = user
        pull.status, pull.merge_commit = "merged", merged.oid
        if body.get("comment"):
            self._comment(pull, user, body["comment"])
        pull.events.append(self._event("status-change", user, status="merged"))
        return 200, {}

    def _comment(self, pull: PullRequest, user: str, text: str) -> dict[str, Any]:
        latest = {"raw": text}
        event = self._event("comment", user, edited=False, hidden=False, latest=latest)
        pull.events.append(event)
        return event

    def _conflicts(self, repo: Repo, pull: PullRequest) -> list[str]:
        """Files the PR changed that main also changed since the PR's base."""
        base, tip = repo.resolve(pull.base), repo.prs[pull.num]
        ours = {
            p for p in set(tip.files) | set(base.files) if tip.files.get(p) != base.files.get(p)
        }
        theirs = {p for p in set(repo.files) | set(base.files)
                  if repo.files.get(p) != base.files.get(p)}  # fmt: skip
        return sorted(ours & theirs)
