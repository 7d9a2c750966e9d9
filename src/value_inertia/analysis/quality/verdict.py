"""The verdict: one line from the quality report's numbers and :data:`THRESHOLDS`."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from value_inertia.analysis.quality.inputs import finite
from value_inertia.analysis.quality.reliability import MIN_PERSONAS

#: Thresholds of the verdict (each check that fails adds its label, in the order below).
#:
#: - ``min_parse_rate`` (0.8): below it, "low parse rate": over a fifth of the
#:   answers carry no usable rating, so the distributions describe a selection.
#: - ``min_letter_mass`` (0.5, logprobs mode): below it, "low letter mass": the
#:   model puts most of its next-token probability outside the six letters, so the
#:   renormalised letter distribution is mostly noise.
#: - ``max_letter_preference`` (0.13): at or above it, "position-driven": in the
#:   shuffled variant the share of answers on preferred letters, beyond what random
#:   option orders give by chance (:func:`.position_bias.letter_preference`), is at
#:   least 0.13. Calibrated on known cases (benchmarks/bench_position_calibration.py,
#:   40 simulated results each, 96 and 171 prompts, logprobs mode): a profile where
#:   letter D keeps 0.31-0.44 of the mass whatever option stands there scores
#:   0.142-0.193 (all flagged); meaning-driven profiles with a mild letter preference
#:   (one letter x1.3, or x1.5/x1.2/x0.8) or none score at most 0.093 (none flagged).
#:   One sampled answer per prompt is noisier: the letter-D profile is flagged in 45-75%
#:   of the results at these sizes, the mild ones in none. Without shuffled answers
#:   the verdict says "position bias not measured" (never "reliable").
#: - mode agreement: "mode-dependent" when the observed logprob-vs-sample agreement
#:   falls significantly short of the agreement expected from the logprob
#:   distributions (the bootstrap CI of expected - observed lies above 0).
#: - ``min_alpha`` (0.6): a mean Cronbach's alpha (ipsatized scores) over dimensions
#:   below it gives "unreliable". When no dimension has a defined alpha (from 30
#:   personas on: the persona x item matrix does not vary), "no persona variance".
#: - ``min_personas`` (30): fewer personas gives "too few personas": alpha and omega
#:   are not computed there (not measured), and the default run's 2 personas always
#:   carry this flag.
#: - ``max_catch_wrong_share`` (0.25): above it, "fails attention checks": more than a
#:   quarter of the answers to catch items (known answer) fall on the wrong side of the
#:   scale midpoint; 0 is an attentive answerer, 0.5 one who ignores the item, 0.25 lies
#:   halfway. A questionnaire whose catch items state no expected answer gives
#:   "attention checks not measured"; one without catch items has no such check.
#: No failed and no unmeasured check: "reliable".
THRESHOLDS: dict[str, float] = {
    "min_parse_rate": 0.8,
    "min_letter_mass": 0.5,
    "max_letter_preference": 0.13,
    "min_alpha": 0.6,
    "min_personas": MIN_PERSONAS,
    "max_catch_wrong_share": 0.25,
}


def verdict(summary: Mapping[str, Any], thresholds: Mapping[str, float] = THRESHOLDS) -> str:
    """One line from the summary numbers; see :data:`THRESHOLDS` for the checks.

    Reads ``parse_rate``, ``letter_mass`` (None outside logprobs mode),
    ``letter_preference`` (None: no shuffled answers, "position bias not
    measured"), ``mode_shortfall_significant`` (absent or None: no mode
    comparison), ``alpha`` and ``n_personas`` (absent: not checked),
    ``catch_wrong_share`` and ``catch_status`` ("measured", "not measured" or
    "none": the questionnaire has no catch items). Failed and unmeasured checks
    are joined with "; "; none: "reliable".
    """
    t = {**THRESHOLDS, **thresholds}
    flags: list[str] = []
    if finite(summary.get("parse_rate")) and summary["parse_rate"] < t["min_parse_rate"]:
        flags.append("low parse rate")
    if finite(summary.get("letter_mass")) and summary["letter_mass"] < t["min_letter_mass"]:
        flags.append("low letter mass")
    pref = summary.get("letter_preference")
    if not finite(pref):
        flags.append("position bias not measured")
    elif pref >= t["max_letter_preference"]:
        flags.append("position-driven")
    if summary.get("mode_shortfall_significant") is True:
        flags.append("mode-dependent")
    n = summary.get("n_personas")
    too_few = finite(n) and n < t["min_personas"]
    alpha = summary.get("alpha")
    if not too_few:
        if not finite(alpha):
            flags.append("no persona variance")
        elif alpha < t["min_alpha"]:
            flags.append("unreliable")
    if too_few:
        flags.append("too few personas")
    status = summary.get("catch_status")
    wrong = summary.get("catch_wrong_share")
    if status == "not measured":
        flags.append("attention checks not measured")
    elif finite(wrong) and wrong > t["max_catch_wrong_share"]:
        flags.append("fails attention checks")
    return "; ".join(flags) if flags else "reliable"
