"""Stale-input checks: does a parsed table still match today's questionnaire and personas?

The analyze, cluster and quality stages read a model's parsed table together with
the questionnaire file and the personas table. When one of those changed after the
parsed table was written (a questionnaire edited, the personas drawn again, a
stage run by hand out of order), the analysis would silently mix old answers with
new inputs, or fail deep inside with a traceback. :func:`check_parsed_matches`
refuses that at the boundary where the tables are read, with one
:class:`~value_inertia.core.errors.InputError` naming the file and what to do.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from value_inertia.core.errors import InputError
from value_inertia.core.naming import DEFAULT_VARIANT
from value_inertia.design.questionnaires import Questionnaire
from value_inertia.scoring.answer_table import P_COLUMNS

#: what the analysis reads from a parsed table
REQUIRED_COLUMNS = ("questionnaire", "condition", "persona_id", "item", *P_COLUMNS)
REDO = "the tables are stale: re-run `dvc repro` to rebuild them"


def _some(values: list[str], n: int = 3) -> str:
    shown = ", ".join(values[:n])
    return shown + (f" (+{len(values) - n} more)" if len(values) > n else "")


def check_parsed_matches(
    parsed: pd.DataFrame,
    parsed_path: Path,
    questionnaire: Questionnaire,
    personas: pd.DataFrame | None = None,
    personas_path: Path | None = None,
    variant: str = DEFAULT_VARIANT,
) -> None:
    """Raise :class:`InputError` unless ``parsed`` answers ``questionnaire`` as it is now.

    Checked: the columns the analysis reads; rows for the questionnaire (and prompt
    ``variant``); no item outside the questionnaire file and every scored item answered; with
    ``personas``, every persona of the parsed rows is in the personas table.
    """
    missing = [c for c in REQUIRED_COLUMNS if c not in parsed.columns]
    if missing:
        raise InputError(
            f"{parsed_path}: no column(s) {', '.join(missing)} (written by an older "
            f"version?); {REDO}"
        )
    rows = parsed[parsed["questionnaire"] == questionnaire.id]
    if "variant" in rows.columns:
        rows = rows[rows["variant"].fillna(DEFAULT_VARIANT).astype(str) == variant]
    qfile = f"data/questionnaires/{questionnaire.id}.yaml"
    if rows.empty:
        which = "" if variant == DEFAULT_VARIANT else f" in prompt variant {variant!r}"
        raise InputError(
            f"{parsed_path}: no answers to questionnaire {questionnaire.id!r}{which}; {REDO}"
        )
    answered = {int(i) for i in rows["item"].dropna().unique()}
    numbers = {it.number for it in questionnaire.items}
    scored = {it.number for it in questionnaire.scored_items}
    extra, unanswered = sorted(answered - numbers), sorted(scored - answered)
    if extra or unanswered:
        what = []
        if extra:
            what.append(f"item(s) {_some([str(n) for n in extra])} not in {qfile}")
        if unanswered:
            what.append(f"no answers to item(s) {_some([str(n) for n in unanswered])} of {qfile}")
        raise InputError(f"{parsed_path}: {'; '.join(what)}; {REDO}")
    if personas is None:
        return
    known = set(personas["persona_id"].dropna().astype(str))
    asked = rows.loc[rows["condition"] == "persona", "persona_id"].dropna().astype(str)
    unknown = sorted(set(asked) - known)
    if unknown:
        raise InputError(
            f"{parsed_path}: {len(unknown)} persona(s) are not in "
            f"{personas_path or 'the personas table'} (e.g. {_some(unknown)}); {REDO}"
        )
