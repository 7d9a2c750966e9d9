"""``verify-submission``: every row a pull request adds or changes, re-derived.

The PR is compared with the main commit it was opened against (its base):

* ``tables``: each merged table of the PR reads and has its key columns;
* ``others``: no base row is deleted, and no row of another contributor is edited
  (rows are reported by key);
* ``protocol``: each checked result's protocol JSON re-hashes to its
  ``protocol_hash``, and names the project's questionnaire file, one of its
  persona schemas and the result's variant;
* ``personas``: the personas that schema, ``n`` and seeds generate are in the PR's
  personas table, unchanged;
* ``parsing``: the model's raw responses re-parse to its submitted parsed answers;
* ``metrics`` / ``leaderboard`` / ``quality`` / ``variants``: the result's rows are
  recomputed from the PR's parsed answers and personas (its own prompt variant);
* ``ranks``: the board's ranks and tie groups are what re-ranking gives.

A result is checked when any of its board, metrics or quality rows is new or
changed, or its model's parsed or responses file changed. Exit 0 (``ok``) only
when no check has a problem; a table that cannot be read is a problem line,
not a traceback. What the checks found is a
:class:`~value_inertia.publishing.submission.report.Verification`, reported by
:mod:`value_inertia.publishing.submission.report`.
"""

from __future__ import annotations

import os
import re
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from value_inertia.analysis.variants.report_model import VariantReport
from value_inertia.core.config import NAME_PATTERN
from value_inertia.core.errors import UserError
from value_inertia.core.results import validate
from value_inertia.design.questionnaires import load_questionnaires
from value_inertia.publishing.push import hub_api, lfs_transfers
from value_inertia.publishing.submission import recompute as rc
from value_inertia.publishing.submission.answers import (
    answer_files,
    variant_answer_files,
    variants_file,
)
from value_inertia.publishing.submission.diff import DERIVED, TableDiff, others_rows, table_diff
from value_inertia.publishing.submission.report import (
    Verification,
    result_where,
    verification_report,
)
from value_inertia.publishing.submission.snapshot import (
    Snapshot,
    SubmissionError,
    pr_author,
    pr_base,
    pr_revision,
)
from value_inertia.publishing.tables.merge import MERGE_KEYS, RESULT_KEY, key_frame, rerank

BOARD = "data/leaderboard/leaderboard.parquet"
METRICS = "data/metrics/metrics.parquet"
QUALITY = "data/quality/quality.parquet"
PERSONAS = "data/personas/personas.parquet"
PROMPTS = "data/prompts/prompts.parquet"
REQUIRED = (BOARD, METRICS, PERSONAS, PROMPTS)
# what a failed recomputation raises on bad submitted data (reported, not raised)
DATA_ERRORS = (KeyError, ValueError, TypeError, IndexError, UserError)


def _rows_of(frame: pd.DataFrame | None, key: dict[str, Any]) -> pd.DataFrame:
    if frame is None or frame.empty:
        return pd.DataFrame()
    wanted = key_frame(pd.DataFrame([key]), RESULT_KEY).iloc[0]
    return frame[key_frame(frame, RESULT_KEY) == wanted]


def _diffs(head: Snapshot, base: Snapshot, v: Verification) -> dict[str, TableDiff]:
    diffs = {}
    for rel, key in MERGE_KEYS.items():
        try:
            mine = head.frame(rel)
            if mine is None:
                if rel in REQUIRED:
                    v.problem("tables", table=rel, problem="missing")
                elif base.frame(rel) is not None:
                    v.problem("tables", table=rel, problem="deleted")
                continue
            v.checks["tables"].checked += 1
            diffs[rel] = table_diff(rel, base.frame(rel), mine, key)
        except (SubmissionError, KeyError, ValueError) as exc:
            v.problem("tables", table=rel, problem=str(exc).strip("'\""))
    return diffs


def _results(head: Snapshot, base: Snapshot, diffs: dict[str, TableDiff]) -> list[dict[str, Any]]:
    keys: dict[str, dict[str, Any]] = {}
    for rel in (BOARD, METRICS, QUALITY):
        if rel in diffs:
            for row in diffs[rel].touched.to_dict("records"):
                keys.setdefault(key_frame(pd.DataFrame([row]), RESULT_KEY).iloc[0], row)
    board = diffs.get(BOARD)
    if board is not None:
        head_ids, base_ids = head.blob_ids(), base.blob_ids()
        changed = {p for p, oid in head_ids.items() if base_ids.get(p) != oid}
        rows = head.frame(BOARD)
        for row in rows.to_dict("records") if rows is not None else []:
            files = {f for k in ("parsed", "responses") for f in answer_files(k, row, head_ids)}
            files.add(variants_file(row))
            if files & changed:
                keys.setdefault(key_frame(pd.DataFrame([row]), RESULT_KEY).iloc[0], row)
    return [
        {k: (None if isinstance(v, float) and np.isnan(v) else v) for k, v in r.items()}
        for _, r in sorted(keys.items())
    ]


class _Inputs:
    """The PR's inputs of the checked results, each read and checked once."""

    def __init__(self, head: Snapshot, root: Path, v: Verification) -> None:
        self.head, self.root, self.v = head, root, v
        self.personas_checked: set[str] = set()
        self.parsing_checked: set[str] = set()

    def answers(self, kind: str, row: Mapping[str, Any]) -> pd.DataFrame | None:
        """All variants of one result's ``responses`` or ``parsed`` answers, or None."""
        frames = [self.head.frame(f) for f in answer_files(kind, row, self.head.blob_ids())]
        found = [f for f in frames if f is not None]
        return pd.concat(found, ignore_index=True) if found else None

    def parsed(self, row: Mapping[str, Any]) -> pd.DataFrame | None:
        return self.answers("parsed", row)

    def personas(self, fields: dict[str, Any], where: dict[str, Any]) -> None:
        declared = repr(sorted((fields.get("personas") or {}).items()))
        if declared in self.personas_checked:
            return
        self.personas_checked.add(declared)
        expected = rc.expected_personas(fields, self.root)
        check = self.v.checks["personas"]
        if expected is None:
            check.not_measured += 1
            return
        check.checked += len(expected)
        for p in rc.check_personas(expected, self.head.frame(PERSONAS)):
            self.v.problem("personas", **where, **p)

    def parsing(self, row: Mapping[str, Any], fields: dict[str, Any]) -> None:
        model = str(row["model"])
        answers = (row.get("model_key"), row.get("questionnaire"), row.get("protocol_hash"))
        if repr(answers) in self.parsing_checked:
            return
        self.parsing_checked.add(repr(answers))
        responses = self.answers("responses", row)
        parsed, prompts = self.parsed(row), self.head.frame(PROMPTS)
        if responses is None or parsed is None or prompts is None:
            self.v.problem("parsing", model=model, problem="responses or parsed answers missing")
            return
        n, judged, problems = rc.check_parsing(
            responses, prompts, parsed, rc.min_letter_mass(fields)
        )
        self.v.checks["parsing"].checked += n
        self.v.checks["parsing"].not_measured += judged
        for p in problems:
            self.v.problem("parsing", model=model, **p)


def _check_result(key: dict[str, Any], inputs: _Inputs, tol: float) -> None:
    v, head = inputs.v, inputs.head
    where = result_where(key)
    board_rows = _rows_of(head.frame(BOARD), key)
    if board_rows.empty:
        v.problem("leaderboard", **where, problem="no leaderboard row for this result")
        return
    row = board_rows.iloc[0].to_dict()
    v.checks["protocol"].checked += 1
    fields, problems = rc.check_protocol(row, inputs.root)
    for p in problems:
        v.problem("protocol", **where, **p)
    if fields is None:
        return
    model, qid, variant = str(row["model"]), str(row["questionnaire"]), str(row["variant"])
    if not re.fullmatch(NAME_PATTERN, model) or "__" in model:
        v.problem("tables", **where, problem=f"invalid model name {model!r}")
        return
    inputs.personas(fields, where)
    inputs.parsing(row, fields)
    parsed, personas = inputs.parsed(row), head.frame(PERSONAS)
    if parsed is None or personas is None:
        v.problem("metrics", **where, problem="parsed answers or personas missing")
        return
    try:
        (q,) = load_questionnaires([qid], inputs.root).values()
        again = rc.recompute(parsed, personas, q, variant)
    except DATA_ERRORS as exc:
        v.problem("metrics", **where, problem=f"cannot recompute: {exc}")
        return
    metric_rows = _rows_of(head.frame(METRICS), key)
    v.checks["metrics"].checked += len(metric_rows)
    for p in rc.check_metrics(metric_rows, again, tol):
        v.problem("metrics", **where, **p)
    v.checks["leaderboard"].checked += 1
    for p in rc.check_board_row(row, again[("overall", "overall")], tol):
        v.problem("leaderboard", **where, **p)
    _check_quality(key, row, q, inputs, tol)
    _check_variants(key, row, q, inputs, tol)


def _check_quality(key: dict[str, Any], row: dict[str, Any], q: Any, inputs: _Inputs, tol: float):
    quality = _rows_of(inputs.head.frame(QUALITY), key)
    if quality.empty:
        return
    record = quality.iloc[0].to_dict()
    partner = _partner_answers(record.get("partner"), row, inputs)
    inputs.v.checks["quality"].checked += 1
    try:
        problems = rc.check_quality(record, inputs.parsed(row), partner, q, tol)
    except DATA_ERRORS as exc:
        problems = [{"problem": f"cannot recompute: {exc}"}]
    for p in problems:
        inputs.v.problem("quality", **result_where(key), **p)


def _partner_answers(name: Any, row: Mapping[str, Any], inputs: _Inputs) -> pd.DataFrame | None:
    """The parsed answers of the quality report's mode twin (``partner``: a display name),
    found through its own board row of the same questionnaire and variant."""
    board = inputs.head.frame(BOARD)
    if not isinstance(name, str) or board is None:
        return None
    twin = board[
        (board["model"].astype(str) == name)
        & (board["questionnaire"].astype(str) == str(row["questionnaire"]))
        & (board["variant"].astype(str) == str(row["variant"]))
    ]
    return None if twin.empty else inputs.parsed(twin.iloc[0].to_dict())


def _variant_answers(
    row: Mapping[str, Any], report: VariantReport, inputs: _Inputs
) -> pd.DataFrame | None:
    frames = [
        inputs.head.frame(f) for f in variant_answer_files(row, report, inputs.head.blob_ids())
    ]
    found = [f for f in frames if f is not None]
    return pd.concat(found, ignore_index=True) if found else None


def _check_variants(key: dict[str, Any], row: dict[str, Any], q: Any, inputs: _Inputs, tol: float):
    if str(row.get("variant")) != "original":
        return
    rel = variants_file(row)
    data = inputs.head.json(rel)
    if data is None:
        return
    inputs.v.checks["variants"].checked += 1
    try:
        report = validate(VariantReport, data, rel)
        problems = rc.check_variant_report(report, _variant_answers(row, report, inputs), q, tol)
    except DATA_ERRORS as exc:
        problems = [{"problem": f"cannot recompute: {exc}"}]
    for p in problems:
        inputs.v.problem("variants", **result_where(key), file=rel, **p)


def _check_ranks(head: Snapshot, v: Verification) -> None:
    board = head.frame(BOARD)
    if board is None or board.empty or not set(DERIVED) <= set(board.columns):
        return
    again = rerank(board.drop(columns=list(DERIVED)))
    v.checks["ranks"].checked += len(board)
    theirs = key_frame(board, [*RESULT_KEY, *DERIVED])
    ours = set(key_frame(again, [*RESULT_KEY, *DERIVED]))
    for row, sig in zip(board.to_dict("records"), theirs, strict=True):
        if sig not in ours:
            v.problem("ranks", **{k: row.get(k) for k in [*RESULT_KEY, *DERIVED]})


def verify_snapshots(
    head: Snapshot, base: Snapshot, author: str | None, root: Path, tol: float = rc.TOL
) -> Verification:
    """All checks of the PR at ``head`` against its ``base`` (see the module docstring)."""
    v = Verification()
    diffs = _diffs(head, base, v)
    base_frames = [base.frame(rel) for rel in diffs]
    v.checks["others"].checked = sum(len(f) for f in base_frames if f is not None)
    for p in others_rows(list(diffs.values()), base.frame(BOARD), author or ""):
        v.problem("others", **p)
    try:
        v.results = _results(head, base, diffs)
    except DATA_ERRORS as exc:
        v.problem("tables", problem=f"cannot list the changed results: {exc}")
    inputs = _Inputs(head, root, v)
    for key in v.results:
        try:
            _check_result(key, inputs, tol)
        except SubmissionError as exc:  # a damaged table: reported once, under tables
            if str(exc) not in {p.get("problem") for p in v.checks["tables"].problems}:
                v.problem("tables", **result_where(key), problem=str(exc))
    try:
        _check_ranks(head, v)
    except DATA_ERRORS as exc:
        v.problem("ranks", problem=str(exc))
    return v


def _public_api() -> Any:
    from huggingface_hub import HfApi

    api = hub_api()
    if api is None:  # a public dataset needs no token to be read
        lfs_transfers()
        api = HfApi(token=False, endpoint=os.environ.get("HF_ENDPOINT") or None)
    return api


def verify_submission(
    repo_id: str, pr: int | str, root: Path, *, tol: float = rc.TOL, api: Any = None
) -> dict[str, Any]:
    """Verify the pull request ``pr`` of the Hub dataset ``repo_id``; the JSON-ready
    report of :func:`~value_inertia.publishing.submission.report.verification_report`."""
    api = api if api is not None else _public_api()
    revision = pr_revision(pr)
    author, status = pr_author(api, repo_id, pr)
    with tempfile.TemporaryDirectory(prefix="vi-verify-") as tmp:
        cache = Path(tmp)
        head = Snapshot.open(api, repo_id, revision, cache)
        base_id = pr_base(api, repo_id, revision)
        base = Snapshot.open(api, repo_id, base_id, cache)
        v = verify_snapshots(head, base, author, Path(root), tol)
    return verification_report(v, repo_id, revision, base_id, author, status)
