"""What a submission's verification found, and its report.

:class:`Verification` collects each check's counts and problems (the checks are
:data:`CHECKS`, described in :mod:`value_inertia.publishing.submission.verify`);
:func:`verification_report` turns it into the JSON-ready report of
``verify-submission`` and :func:`report_lines` into its text.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from value_inertia.core.results import json_ready
from value_inertia.publishing.submission import recompute as rc
from value_inertia.publishing.tables.merge import RESULT_KEY

CHECKS = (
    "tables",
    "others",
    "protocol",
    "personas",
    "parsing",
    "metrics",
    "leaderboard",
    "quality",
    "variants",
    "ranks",
)


@dataclass
class Check:
    checked: int = 0
    not_measured: int = 0
    problems: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class Verification:
    checks: dict[str, Check] = field(default_factory=lambda: {c: Check() for c in CHECKS})
    results: list[dict[str, Any]] = field(default_factory=list)

    def problem(self, check: str, **details: Any) -> None:
        self.checks[check].problems.append(details)


def result_where(key: dict[str, Any]) -> dict[str, Any]:
    """The result key columns of a checked result's row."""
    return {k: key[k] for k in RESULT_KEY}


def verification_report(
    v: Verification, repo_id: str, revision: str, base: str, author: str, status: str
) -> dict[str, Any]:
    """The JSON-ready report of ``v``: ``{"repo_id", "revision", "base", "author",
    "status", "checks": {name: {"checked", "not_measured", "problems"}}, "results":
    [...], "checked", "mismatches" (every problem with its check's name),
    "not_measured": [what is never compared], "ok"}``."""
    checks = {
        name: {"checked": c.checked, "not_measured": c.not_measured, "problems": c.problems}
        for name, c in v.checks.items()
    }
    mismatches = [{"check": name, **p} for name, c in v.checks.items() for p in c.problems]
    return json_ready(  # 12 digits: a mismatch at the tolerance stays visible
        {
            "repo_id": repo_id,
            "revision": revision,
            "base": base,
            "author": author,
            "status": status,
            "checks": checks,
            "results": [result_where(k) for k in v.results],
            "checked": len(v.results),
            "mismatches": mismatches,
            "not_measured": list(rc.NOT_MEASURED),
            "ok": not mismatches,
        },
        ndigits=12,
    )


def report_lines(report: dict[str, Any]) -> list[str]:
    """The report as text: one line per check with its counts, one per problem."""
    head = f"{report['repo_id']} {report['revision']} by {report['author']}"
    lines = [f"{head} (base {report['base'][:12]})"]
    for name, c in report["checks"].items():
        extra = f", {c['not_measured']} not measured" if c["not_measured"] else ""
        verdict = "FAIL" if c["problems"] else "ok"
        lines.append(
            f"{name}: {verdict}: {c['checked']} checked{extra}, {len(c['problems'])} problem(s)"
        )
    for row in report["mismatches"]:
        lines.append("problem: " + json.dumps(row, sort_keys=True, default=str))
    for what in report["not_measured"]:
        lines.append(f"not measured: {what}")
    lines.append(f"{report['checked']} result(s) checked: " + ("PASS" if report["ok"] else "FAIL"))
    return lines
