"""Re-derive a submitted result from the submitted answers and compare, row by row.

Each function compares one kind of submitted row with what the project's own
code computes from the submission's inputs, and returns the problems it found
(an empty list: the row matches). Point estimates are compared within ``tol``;
bootstrap intervals are compared only where the submission records the
bootstrap's seed and size (the variant reports); elsewhere they are "not
measured" (see :data:`NOT_MEASURED`).
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd

import value_inertia.analysis  # noqa: F401  (its modules register the metrics read here)
from value_inertia.analysis.analyze import analyze
from value_inertia.analysis.quality.report import quality_report
from value_inertia.analysis.variants.report import flatten_variant_report, variant_report
from value_inertia.analysis.variants.report_model import VariantReport
from value_inertia.core import paths
from value_inertia.core import registry as metric_registry
from value_inertia.core.protocol import file_digest, protocol_hash
from value_inertia.design.personas import build_personas, load_schema
from value_inertia.design.questionnaires import Questionnaire
from value_inertia.publishing.privacy import LOCAL
from value_inertia.publishing.submission.diff import row_signatures
from value_inertia.scoring.answer_table import P_COLUMNS, parse_responses

TOL = 1e-6
N_BOOT, CONFIDENCE, SEED = 10, 0.9, 0  # point estimates do not depend on them
# the board's overall figures compared beside the registry's (metric_registry.compared())
BOARD_EXTRA_COMPARED = ("mean_rating", "baseline_mean_rating", "mrat")
PARSED_KEY = ["prompt_id", "repeat", "sample_index"]
PARSED_COMPARED = ["rating", *P_COLUMNS, "reason", "parser"]
NOT_MEASURED = (
    "bootstrap intervals of metrics, board and quality rows (the run's bootstrap seed is "
    "not published)",
    "answers decided by an LLM judge (the judge is not re-run)",
    "cluster summaries and assignments, raw JSON and figures (not re-derived; a change to "
    "another contributor's rows is still reported)",
)

Problem = dict[str, Any]


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NA


def close(a: Any, b: Any, tol: float = TOL) -> bool:
    """Both missing, or both numbers within ``tol``."""
    if _missing(a) or _missing(b):
        return _missing(a) and _missing(b)
    return abs(float(a) - float(b)) <= tol


# --------------------------------------------------------------------------- protocol


def _schema_files(root: Path) -> dict[str, Path]:
    return {
        file_digest(p, "persona schema"): p for p in sorted((root / "data/schemas").glob("*.yaml"))
    }


def check_protocol(
    row: Mapping[str, Any], root: Path
) -> tuple[dict[str, Any] | None, list[Problem]]:
    """The board row's protocol JSON re-hashes to its ``protocol_hash`` and names the
    project's questionnaire file, a persona schema of the project and the row's variant."""
    try:
        fields = json.loads(str(row.get("protocol")))
    except ValueError:
        return None, [{"problem": "protocol is not JSON"}]
    if not isinstance(fields, dict):
        return None, [{"problem": "protocol is not a JSON object"}]
    problems: list[Problem] = []
    if LOCAL in json.dumps(fields):
        problems.append(
            {"problem": "protocol has masked (private) fields: its hash cannot be re-computed"}
        )
    elif protocol_hash(fields) != row.get("protocol_hash"):
        problems.append(
            {
                "problem": "protocol JSON does not hash to protocol_hash",
                "submitted": row.get("protocol_hash"),
                "recomputed": protocol_hash(fields),
            }
        )
    q = fields.get("questionnaire") or {}
    if q.get("id") != row.get("questionnaire"):
        problems.append({"problem": f"protocol names questionnaire {q.get('id')!r}"})
    else:
        mine = paths.questionnaire_dir(root) / f"{q.get('id')}.yaml"
        if not mine.exists():
            problems.append({"problem": f"unknown questionnaire {q.get('id')!r}"})
        elif q.get("file") != file_digest(mine, "questionnaire file"):
            problems.append({"problem": "questionnaire digest differs from the project's file"})
    schema = (fields.get("personas") or {}).get("schema")
    if schema not in _schema_files(root):
        problems.append({"problem": "persona schema digest matches no file in data/schemas"})
    variant = (fields.get("prompts") or {}).get("variant")
    if variant != row.get("variant"):
        problems.append(
            {"problem": f"protocol names variant {variant!r}, row {row.get('variant')!r}"}
        )
    return fields, problems


# --------------------------------------------------------------------------- personas


def expected_personas(fields: Mapping[str, Any], root: Path) -> pd.DataFrame | None:
    """The personas the protocol's schema, ``n`` and seeds generate (None: unknown schema)."""
    declared = fields.get("personas") or {}
    path = _schema_files(root).get(str(declared.get("schema")))
    if path is None:
        return None
    seeds = [int(s) for s in declared.get("seeds") or []]
    return build_personas(load_schema(path), int(declared.get("n") or 0), seeds).to_pandas()


def check_personas(expected: pd.DataFrame, submitted: pd.DataFrame | None) -> list[Problem]:
    """Every regenerated persona is in the submitted table, with the same attributes."""
    if submitted is None or "persona_id" not in submitted.columns:
        return [{"problem": "no personas table with persona_id"}]
    have = submitted.drop_duplicates("persona_id").set_index("persona_id", drop=False)
    missing = sorted(set(expected["persona_id"]) - set(have.index))
    problems: list[Problem] = [{"persona_id": p, "problem": "missing"} for p in missing[:20]]
    common = expected[expected["persona_id"].isin(have.index)].set_index("persona_id", drop=False)
    cols = [c for c in expected.columns if c in have.columns]
    mine = row_signatures(common[cols], ())
    theirs = row_signatures(have.loc[common.index, cols], ())
    for pid in mine.index[mine.to_numpy() != theirs.to_numpy()][:20]:
        problems.append(
            {"persona_id": pid, "problem": "attributes differ from the regenerated persona"}
        )
    lacking = [c for c in expected.columns if c not in have.columns]
    if lacking:
        problems.append({"problem": f"personas table lacks column(s) {lacking}"})
    return problems


# --------------------------------------------------------------------------- parsing


def check_parsing(
    responses: pd.DataFrame, prompts: pd.DataFrame, parsed: pd.DataFrame, min_letter_mass: float
) -> tuple[int, int, list[Problem]]:
    """Re-parse ``responses``; returns (rows compared, judge rows not re-run, problems).

    A published responses file carries its result's columns (questionnaire, variant, ...)
    that the prompts table also has: the prompts table's are the ones parsing reads."""
    shared = [c for c in responses.columns if c in prompts.columns and c != "prompt_id"]
    again = parse_responses(responses.drop(columns=shared), prompts, min_letter_mass)
    judged = parsed["parser"].astype(str) == "judge" if "parser" in parsed else False
    theirs = parsed[~judged] if isinstance(judged, pd.Series) else parsed
    cols = [c for c in PARSED_COMPARED if c in again.columns and c in theirs.columns]
    a = again.set_index(PARSED_KEY)
    b = theirs.set_index(PARSED_KEY)
    problems: list[Problem] = []
    only_theirs = b.index.difference(a.index)
    if len(only_theirs):
        problems.append({"problem": f"{len(only_theirs)} parsed row(s) without a response"})
    only_ours = a.index.difference(b.index).difference(
        parsed[judged].set_index(PARSED_KEY).index if isinstance(judged, pd.Series) else []
    )
    if len(only_ours):
        problems.append({"problem": f"{len(only_ours)} response(s) missing from the parsed table"})
    both = a.index.intersection(b.index)
    differs = row_signatures(a.loc[both, cols].reset_index(drop=True), ())
    theirs_sig = row_signatures(b.loc[both, cols].reset_index(drop=True), ())
    bad = [both[i] for i in range(len(both)) if differs.iloc[i] != theirs_sig.iloc[i]]
    if bad:
        problems.append(
            {
                "problem": f"{len(bad)} parsed row(s) differ from the re-parsed responses",
                "first": dict(zip(PARSED_KEY, map(str, bad[0]), strict=True)),
            }
        )
    return len(both), int(judged.sum()) if isinstance(judged, pd.Series) else 0, problems


# --------------------------------------------------------------------------- metrics


def recompute(
    parsed: pd.DataFrame, personas: pd.DataFrame, q: Questionnaire, variant: str
) -> dict[tuple[str, str], dict[str, Any]]:
    """``{(level, group): metrics}`` of the result, as :func:`analyze` computes it."""
    m = analyze(
        parsed, personas, q, n_boot=N_BOOT, confidence=CONFIDENCE, seed=SEED, variant=variant
    )
    out = {("overall", "overall"): m.get("overall") or {}}
    out.update({("dimension", d): v for d, v in (m.get("dimensions") or {}).items()})
    for level, members in (m.get("levels") or {}).items():
        out.update({(level, g): v for g, v in members.items()})
    return out


def check_metrics(
    rows: pd.DataFrame, again: Mapping[tuple[str, str], Mapping[str, Any]], tol: float = TOL
) -> list[Problem]:
    """Every submitted (level, group) row matches; every recomputed group is submitted."""
    problems: list[Problem] = []
    seen = set()
    for row in rows.to_dict("records"):
        where = (str(row.get("level")), str(row.get("group")))
        seen.add(where)
        ref = again.get(where)
        if ref is None:
            problems.append({"level": where[0], "group": where[1], "problem": "no such group"})
            continue
        for metric in metric_registry.compared():
            if not close(row.get(metric), ref.get(metric), tol):
                problems.append(
                    {
                        "level": where[0],
                        "group": where[1],
                        "metric": metric,
                        "submitted": row.get(metric),
                        "recomputed": ref.get(metric),
                    }
                )
    for level, group in sorted(set(again) - seen):
        problems.append(
            {"level": level, "group": group, "problem": "missing from the metrics table"}
        )
    return problems


def check_board_row(
    row: Mapping[str, Any], overall: Mapping[str, Any], tol: float = TOL
) -> list[Problem]:
    """The board row's overall figures match the recomputed overall metrics."""
    return [
        {"metric": m, "submitted": row.get(m), "recomputed": overall.get(m)}
        for m in (*metric_registry.compared(), *BOARD_EXTRA_COMPARED)
        if m in row and m in overall and not close(row.get(m), overall.get(m), tol)
    ]


def check_quality(
    row: Mapping[str, Any],
    parsed: pd.DataFrame,
    partner: pd.DataFrame | None,
    q: Questionnaire,
    tol: float = TOL,
) -> list[Problem]:
    """The quality row's point figures, counts and verdict match a recomputed report."""
    report = quality_report(
        parsed,
        q,
        model=str(row.get("model") or "submitted"),
        partner=partner,
        n_boot=N_BOOT,
        confidence=CONFIDENCE,
        seed=SEED,
    )
    recomputed: dict[str, Any] = {
        **report.figures(metric_registry.names("quality")),
        "n_answers": report.n_answers,
        "n_personas": report.n_personas,
    }
    problems = []
    for name, value in recomputed.items():
        if name in row and not close(row.get(name), value, tol):
            problems.append({"metric": name, "submitted": row.get(name), "recomputed": value})
    if "verdict" in row and row.get("verdict") != report.verdict:
        problems.append(
            {"metric": "verdict", "submitted": row.get("verdict"), "recomputed": report.verdict}
        )
    return problems


def check_variant_report(
    submitted: VariantReport, parsed: pd.DataFrame, q: Questionnaire, tol: float = TOL
) -> list[Problem]:
    """The variant report re-computes with its own bootstrap settings (intervals included)."""
    again = variant_report(
        parsed,
        q,
        submitted.model,
        n_boot=submitted.n_boot or N_BOOT,
        confidence=submitted.confidence,
        seed=submitted.seed,
        variants=list(submitted.variants),
    )
    theirs, ours = flatten_variant_report(submitted), flatten_variant_report(again)
    problems: list[Problem] = []
    for name in sorted(set(theirs) | set(ours)):
        if not close(theirs.get(name), ours.get(name), tol):
            problems.append(
                {"metric": name, "submitted": theirs.get(name), "recomputed": ours.get(name)}
            )
    return problems


def min_letter_mass(fields: Mapping[str, Any] | None) -> float:
    return float(((fields or {}).get("parse") or {}).get("min_letter_mass") or 0.0)
