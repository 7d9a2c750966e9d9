"""The app's text: the model page, the comparison table, links to the data, the legend."""

from __future__ import annotations

import json
from typing import Any

import pandas as pd

from leaderboard.data import Board, hub_url, raw_json
from leaderboard.formatting import MISSING, fmt, fmt_ci, fmt_verdict, missing
from leaderboard.selection import LEVEL_LABELS, dimension_table, model_label, result_row

PROVENANCE = ["contributor", "git_commit", "package_version", "mlflow_run_id", "published_at"]

INTRO = """\
### How the numbers are made

Each model answered a value questionnaire (MFQ-30: moral foundations; PVQ-RR:
Schwartz's 19 values) while role-playing many random personas (World Values
Survey attributes), and once with no persona (the *baseline*). For every value
dimension the answers of all personas are pooled into one distribution over the
six options (ratings 1-6).

Method: Lee, Cho & Lee (2024), *Language Models Show Stable Value Orientations
Across Diverse Role-Plays*, [arXiv:2408.09049](https://arxiv.org/abs/2408.09049).
"""

# Only for data published without legend.md (before the package published its legend):
# how ranking works, in the app's own words. Newer data brings this in its legend.
FALLBACK_RANKING = """\
Results are ranked only within one **protocol** (everything that changes what is
measured: questionnaire, personas, prompt template, mode, temperature, ...); a rank
like `1-2` is a tie group whose inertia confidence intervals overlap; a result with
fewer than 30 personas shows its numbers but "not ranked (n = 2)"."""


def compare_markdown(
    board: Board, a: str, b: str, questionnaire: str, protocol: str | None, level: str
) -> str:
    """Per group of ``level``: two models' (``model_key`` ``a``, ``b``) inertia and
    steerability with CIs, in the selected protocol."""
    ta = dimension_table(board, a, questionnaire, protocol, level).set_index("group")
    tb = dimension_table(board, b, questionnaire, protocol, level).set_index("group")
    groups = list(dict.fromkeys([*ta.index, *tb.index]))
    name_a, name_b = model_label(board, a), model_label(board, b)
    if not groups:
        return f"No per-dimension results for **{name_a}** and **{name_b}** in this protocol."

    def cell(table: pd.DataFrame, g: str, metric: str) -> str:
        if g not in table.index or metric not in table:
            return MISSING
        value = fmt(board, table.at[g, metric], metric)
        lo, hi = f"{metric}_ci_low", f"{metric}_ci_high"
        if lo in table and hi in table and not missing(table.at[g, lo]):
            value += " " + fmt_ci(board, table.at[g, lo], table.at[g, hi], metric)
        return value

    lines = [
        f"| {LEVEL_LABELS.get(level, level)} | {name_a} inertia | {name_b} inertia | "
        f"{name_a} steerability | {name_b} steerability |",
        "|---|---|---|---|---|",
    ]
    for g in groups:
        lines.append(
            f"| {g} | {cell(ta, g, 'inertia')} | {cell(tb, g, 'inertia')} | "
            f"{cell(ta, g, 'steerability')} | {cell(tb, g, 'steerability')} |"
        )
    return "\n".join(lines)


def dataset_links(board: Board, row: Any = None) -> str:
    """Markdown links to the published tables (or the local folders); with a board ``row``,
    also to that model's answers (its identity's folders)."""
    key = None if row is None else row.get("model_key")
    if board.dataset_repo:
        base = f"{hub_url()}/datasets/{board.dataset_repo}"
        lines = [f"- Dataset: [{board.dataset_repo}]({base})"]
        configs = ["leaderboard", "metrics", "quality", "models", "personas", "prompts"]
        lines += [f"- `{c}`: [{base}/viewer/{c}]({base}/viewer/{c})" for c in configs]
        if key:
            for kind in ("responses", "parsed"):
                folder = f"data/{kind}/{key}"
                lines.append(f"- {kind} of this model: [{folder}]({base}/tree/main/{folder})")
        lines.append(f'- Load: `load_dataset("{board.dataset_repo}", "<config>", split="train")`')
        return "\n".join(lines)
    lines = [f"- Leaderboard read from `{board.source}`"]
    if row is not None:
        model = row.get("model")
        lines += [
            f"- Responses: `data/responses/{key}/` (published) or `data/responses/{model}.parquet`",
            f"- Parsed answers: `data/parsed/{key}/` (published) or `data/parsed/{model}.parquet`",
        ]
    lines.append("- Published on the Hub by the pipeline's publish stage (set `hub.dataset_repo`).")
    return "\n".join(lines)


def quality_markdown(board: Board, row: Any) -> list[str]:
    """The model page's quality section of one board row: verdict, its thresholds, every
    figure, alpha and omega per dimension with CIs, parse failures by reason. Empty
    without a report."""
    report = raw_json(board, "quality", row)
    if not report:
        return []

    def num(value: Any) -> str:
        return MISSING if missing(value) else f"{float(value):.3f}"

    def ci(pair: Any) -> str:
        if not isinstance(pair, list) or len(pair) != 2 or any(missing(v) for v in pair):
            return ""
        return f" [{num(pair[0])}, {num(pair[1])}]"

    lines = ["", "### Quality report", f"Verdict: **{fmt_verdict(report.get('verdict'))}**"]
    thresholds = report.get("thresholds") or {}
    if thresholds:
        lines.append("Thresholds: " + ", ".join(f"{k} {v}" for k, v in thresholds.items()))
    # the report's single figures: the registry's quality metrics (the report's own
    # numbers, by name, when the data comes without the registry)
    figures = [
        (name, rec.get("label", name))
        for name, rec in board.registry.items()
        if "quality" in (rec.get("scopes") or [])
    ] or [(k, k) for k, v in report.items() if isinstance(v, int | float) and k != "n_answers"]
    lines += ["", "| figure | value |", "|---|---|"]
    for name, label in figures:
        if not missing(report.get(name)):
            extra = ""
            if name == "inertia_difference":
                extra = ci((report.get("mode_agreement") or {}).get("inertia_difference_ci"))
            lines.append(f"| {label} | {num(report.get(name))}{extra} |")
    if report.get("partner"):
        lines.append(f"| compared with (other answer mode) | {report['partner']} |")
    dims = report.get("dimensions") or {}
    if dims:
        lines += ["", "| dimension | alpha [CI] | omega [CI] | items |", "|---|---|---|---|"]
        for dim, d in dims.items():
            d = d if isinstance(d, dict) else {}
            lines.append(
                f"| {dim} | {num(d.get('alpha'))}{ci(d.get('alpha_ci'))} | "
                f"{num(d.get('omega'))}{ci(d.get('omega_ci'))} | {d.get('n_items', MISSING)} |"
            )
    reasons = report.get("parse_reasons") or {}
    if reasons:
        lines.append("")
        lines.append("Unparsed answers: " + ", ".join(f"{k} {v}" for k, v in reasons.items()))
    return lines


def _find(fields: Any, name: str) -> Any:
    """The first value under ``name`` anywhere in nested ``fields`` (None if absent)."""
    if isinstance(fields, dict):
        if fields.get(name) is not None:
            return fields[name]
        for value in fields.values():
            found = _find(value, name)
            if found is not None:
                return found
    return None


# (label, field name) of the protocol summary line, in this order
SUMMARY_FIELDS = (
    ("mode", "mode"),
    ("temperature", "temperature"),
    ("max tokens", "max_tokens"),
    ("samples", "samples"),
    ("personas", "n"),
    ("seeds", "seeds"),
    ("repeats", "repeats"),
    ("variant", "variant"),
    ("options shuffled", "shuffle_options"),
    ("parser", "parser_version"),
    ("CI level", "confidence"),
    ("bootstrap", "bootstrap"),
)


def protocol_summary(fields: Any) -> str:
    """One readable line of a protocol's fields (answer mode, sampling, personas, prompt,
    parser), wherever they sit in its JSON; the full JSON goes behind it, collapsed."""
    parts = []
    for label, name in SUMMARY_FIELDS:
        value = _find(fields, name)
        if isinstance(value, list):
            value = ", ".join(str(v) for v in value)
        if value is not None and value != "":
            parts.append(f"{label} **{value}**")
    return " · ".join(parts)


def protocol_markdown(row: Any) -> list[str]:
    """The protocol: its hash and variant, a readable summary, the JSON collapsed."""
    lines = [
        "",
        "### Protocol",
        f"`{row.get('protocol_hash')}` · variant {row.get('variant')}",
    ]
    text = row.get("protocol")
    if isinstance(text, str) and text:
        try:
            fields = json.loads(text)
        except json.JSONDecodeError:
            return lines
        summary = protocol_summary(fields)
        if summary:
            lines += ["", summary]
        dumped = json.dumps(fields, indent=1, sort_keys=True)
        lines += [
            "",
            "<details><summary>All protocol fields (JSON)</summary>",
            "",
            "```json",
            dumped,
            "```",
            "",
            "</details>",
        ]
    return lines


def model_summary(board: Board, key: str, questionnaire: str, protocol: str | None) -> str:
    """Rank, numbers, provenance, protocol, quality verdict, baseline and catch items of
    model ``key`` (its ``model_key``) in the selected protocol."""
    r = result_row(board, key, questionnaire, protocol)
    if r is None:
        return f"No results for **{model_label(board, key)}** on **{questionnaire}**."

    def get(name: str) -> str:
        return fmt(board, r.get(name), name)

    model = r.get("model")
    level = r.get("ci_level")
    level_text = "" if missing(level) else f" ({float(level):.0%} CI"
    if level_text and not missing(r.get("n_bootstrap")):
        level_text += f", {int(r.get('n_bootstrap'))} bootstrap resamples"
    level_text += ")" if level_text else ""
    lines = [
        f"## {model} · {questionnaire}",
        f"Rank **{r.get('rank_label')}** · inertia **{get('inertia')}** "
        f"{fmt_ci(board, r.get('inertia_ci_low'), r.get('inertia_ci_high'))}{level_text} · "
        f"without letter prior **{get('debiased_inertia')}** · "
        f"steerability **{get('steerability')}** · top-2 **{get('top2')}**",
        "",
        f"Quality verdict: **{fmt_verdict(r.get('verdict'))}** · parse rate "
        f"{get('parse_rate')} · letter mass {get('letter_mass')}",
        "",
        f"Identity `{get('model_key')}` ({get('identity')}); public id `{get('public_id')}`, "
        f"revision {get('revision')}, quantisation {get('quantization')}, licence "
        f"{get('license')}; backend {get('backend')}, mode {get('mode')}; {get('design')}.",
        "",
        "### Provenance",
        "| contributor | git commit | package | MLflow run of the analysis | published |",
        "|---|---|---|---|---|",
        "| " + " | ".join(get(c) for c in PROVENANCE) + " |",
    ]
    lines += protocol_markdown(r)
    dims = dimension_table(board, key, questionnaire, r.get("protocol_hash"))
    if not dims.empty:
        lines += [
            "",
            "### Per dimension",
            "| dimension | inertia | steerability | mean rating | baseline mean rating |",
            "|---|---|---|---|---|",
        ]
        for _, d in dims.iterrows():
            lines.append(
                f"| {d['group']} | {fmt(board, d.get('inertia'), 'inertia')} | "
                f"{fmt(board, d.get('steerability'), 'steerability')} | "
                f"{fmt(board, d.get('mean_rating'), 'mean_rating')} | "
                f"{fmt(board, d.get('baseline_mean_rating'), 'mean_rating')} |"
            )
    catch = raw_json(board, "metrics", r).get("catch_items") or {}
    if catch:
        lines += [
            "",
            "### Catch items (attention checks, not scored)",
            "| item | mean rating | baseline mean rating |",
            "|---|---|---|",
        ]
        for item, values in catch.items():
            values = values if isinstance(values, dict) else {}
            lines.append(
                f"| {item} | {fmt(board, values.get('mean_rating'), 'mean_rating')} | "
                f"{fmt(board, values.get('baseline_mean_rating'), 'mean_rating')} |"
            )
    lines += quality_markdown(board, r)
    lines += ["", "### Data", dataset_links(board, r)]
    return "\n".join(lines)


def legend(board: Board) -> str:
    """What each metric means and how the board is ranked: the legend published with the
    data (``legend.md``, rendered by the package), as it is.

    Data published without it (older data) gets the fallback below: the app's own
    rendering of the published registry, then :data:`FALLBACK_RANKING`."""
    if board.legend:
        return board.legend
    # fallback for older data: rendered here from metric_registry.json
    lines = []
    for rec in board.registry.values():
        if not rec.get("description"):
            continue
        formula = f" `{rec['formula']}`" if rec.get("formula") else ""
        direction = rec.get("direction") or ""
        lines.append(
            f"- **{rec.get('label', rec['name'])}** (`{rec['name']}`"
            f"{', ' + direction if direction else ''}):{formula} {rec['description']}"
        )
    return "\n".join(lines) + "\n\n" + FALLBACK_RANKING
