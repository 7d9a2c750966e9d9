"""value-inertia leaderboard: a Gradio app; the same file runs as the Hugging Face Space.

Where the data comes from, first match wins:

1. ``--data DIR``: a folder holding ``leaderboard/leaderboard.parquet`` (and
   ``metrics/metrics.parquet``, ``metric_registry.json``, ``plots/*.png``): the
   ``data/`` folder of a published dataset, or a project's ``data/`` folder;
2. ``--dataset ORG/NAME`` or the ``VALUE_INERTIA_DATASET`` environment variable:
   a Hub dataset repo made by ``value-inertia``'s publish stage (downloaded with
   huggingface_hub; ``HF_TOKEN`` and ``HF_ENDPOINT`` are honoured);
3. ``data/`` next to this file (a Space without a dataset repo), one folder up
   (the repository: ``leaderboard/app.py`` -> ``data/``) or in the working directory;
4. the dataset repo named in ``app_config.json`` next to this file.

The app ranks within one protocol (``protocol_hash``: results are comparable
only within one; the default is the protocol with the most models), shows the
ranks with tie groups and CI error bars, compares two models side by side,
and shows each result's provenance and quality verdict. *Reload data* reads
the source again (a new run or a new publication shows without a restart).
Numbers are formatted with the digits of the metric registry that the
publish stage writes next to the data (``metric_registry.json``).

``python leaderboard/app.py`` serves on 127.0.0.1:7860 (``--host``, ``--port``;
``GRADIO_SERVER_NAME`` / ``GRADIO_SERVER_PORT`` are the defaults when set, as
on Spaces). Importing this module has no side effects: :func:`build_app`
builds the Blocks, :func:`main` launches it.
"""

from __future__ import annotations

import argparse
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

HERE = Path(__file__).resolve().parent
DATASET_ENV = "VALUE_INERTIA_DATASET"
HUB = "https://huggingface.co"
ALL = "all"
MISSING = "–"
DOWNLOAD_PATTERNS = [
    "data/leaderboard/leaderboard.parquet",
    "data/metrics/metrics.parquet",
    "data/metrics/raw/*.json",
    "data/metric_registry.json",
    "data/quality/raw/*.json",
    "data/plots/*.png",
]

FIGURES: dict[str, str] = {
    "macro": "Answer distribution per value dimension (persona vs. baseline)",
    "micro": "Persona x item mean ratings",
    "convergence": "Variance of the dimension mean as personas are added",
    "clusters": "Persona clusters of the response pattern (PCA)",
    "cohens_d": "How much each persona attribute moves each dimension (Cohen's d)",
    "permeability": "How much each persona attribute moves each dimension (omega squared)",
    "variant_shift": "Inertia shift of each prompt variant against the original prompt, with CI",
    "position_bias": "Answers by letter shown vs. by option meaning (shuffled variant)",
}
# Table columns shown by default (all fit at 1400 px without scrolling sideways).
DEFAULT_COLUMNS: list[str] = [
    "rank",
    "model",
    "inertia",
    "inertia CI",
    "steerability",
    "top2",
    "parse_rate",
    "verdict",
    "mode",
    "backend",
]
OPTIONAL_COLUMNS: list[str] = [
    "top1",
    "letter_mass",
    "seed_stability",
    "design",
    "clusters",
    "silhouette",
    "public_id",
    "variant",
    "contributor",
    "published_at",
    "package_version",
    "protocol_hash",
]
PROVENANCE = ["contributor", "git_commit", "package_version", "mlflow_run_id", "published_at"]
# Used when the data comes without metric_registry.json (a project's own data/ folder).
FALLBACK_REGISTRY = {
    name: {"name": name, "label": name, "digits": 3, "description": "", "formula": ""}
    for name in (
        "inertia",
        "steerability",
        "top2",
        "top1",
        "parse_rate",
        "letter_mass",
        "mean_rating",
        "mrat",
    )
}
LEVEL_LABELS = {
    "dimension": "value dimensions",
    "basic": "10 basic values",
    "higher_order": "4 higher-order values",
}

INTRO = """\
### What these numbers mean

Each model answered a value questionnaire (MFQ-30: moral foundations; PVQ-RR:
Schwartz's 19 values) while role-playing many random personas (World Values
Survey attributes), and once with no persona (the *baseline*). For every value
dimension the answers of all personas are pooled into one distribution over the
six options (ratings 1-6). Results are ranked only within one **protocol**
(everything that changes what is measured: questionnaire, personas, prompt
template, mode, temperature, ...); a rank like `1-2` is a tie group whose
inertia confidence intervals overlap; a result with fewer than 30 personas shows
its numbers but "not ranked (n = 2)".

Method: Lee, Cho & Lee (2024), *Language Models Show Stable Value Orientations
Across Diverse Role-Plays*, [arXiv:2408.09049](https://arxiv.org/abs/2408.09049).
"""


@dataclass
class Board:
    """The leaderboard table and what comes with it, and where it came from."""

    frame: pd.DataFrame
    plots_dir: Path | None
    source: str
    dataset_repo: str | None = None
    metrics: pd.DataFrame | None = None
    registry: dict[str, dict[str, Any]] = field(default_factory=dict)
    data_dir: Path | None = None


def hub_url() -> str:
    """The Hub's address: ``HF_ENDPOINT`` when set (a mirror or a private Hub)."""
    return (os.environ.get("HF_ENDPOINT") or HUB).rstrip("/")


def read_app_config(folder: Path = HERE) -> dict[str, Any]:
    path = folder / "app_config.json"
    if not path.exists():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError:
        return {}
    return data if isinstance(data, dict) else {}


def find_data_dir(candidates: list[Path]) -> Path | None:
    for folder in candidates:
        if (folder / "leaderboard" / "leaderboard.parquet").is_file():
            return folder
    return None


def download_dataset(repo_id: str) -> Path:
    """The ``data/`` folder of the dataset repo (tables the app shows and figures), downloaded."""
    from huggingface_hub import snapshot_download

    local = snapshot_download(
        repo_id=repo_id,
        repo_type="dataset",
        allow_patterns=DOWNLOAD_PATTERNS,
        token=os.environ.get("HF_TOKEN") or None,
    )
    return Path(local) / "data"


def read_registry(folder: Path) -> dict[str, dict[str, Any]]:
    path = folder / "metric_registry.json"
    records = FALLBACK_REGISTRY
    if path.is_file():
        try:
            records = {r["name"]: r for r in json.loads(path.read_text(encoding="utf-8"))}
        except (json.JSONDecodeError, KeyError, TypeError):
            records = FALLBACK_REGISTRY
    return {**FALLBACK_REGISTRY, **records}


def with_defaults(frame: pd.DataFrame) -> pd.DataFrame:
    """Columns older or local leaderboards lack, filled so every view works on them."""
    frame = frame.copy()
    defaults = {
        "protocol_hash": "unspecified",
        "variant": "original",
        "rank_label": None,
        "inertia_ci_low": float("nan"),
        "inertia_ci_high": float("nan"),
    }
    for column, value in defaults.items():
        if column not in frame.columns:
            frame[column] = value
    frame["protocol_hash"] = frame["protocol_hash"].fillna("unspecified").astype(str)
    labels = frame["rank_label"].astype(object)
    frame["rank_label"] = labels.where(labels.notna(), frame["rank"].astype(str))
    return frame


def load_board(data_dir: Path | None = None, dataset: str | None = None) -> Board:
    """Find and read the leaderboard (see the module docstring for the order)."""
    config = read_app_config()
    dataset = dataset or os.environ.get(DATASET_ENV) or None
    link_repo = dataset or config.get("dataset_repo") or None
    if data_dir is not None:
        folder = find_data_dir([Path(data_dir)])
        if folder is None:
            raise FileNotFoundError(f"{data_dir}: no leaderboard/leaderboard.parquet in it")
        source = str(folder)
    elif dataset:
        folder = download_dataset(dataset)
        source = f"{hub_url()}/datasets/{dataset}"
    else:
        folder = find_data_dir([HERE / "data", HERE.parent / "data", Path.cwd() / "data"])
        source = str(folder)
        if folder is None and link_repo:
            folder = download_dataset(link_repo)
            source = f"{hub_url()}/datasets/{link_repo}"
        if folder is None:
            raise FileNotFoundError(
                "no leaderboard found: run `dvc repro` (writes data/leaderboard/), pass "
                f"--data DIR, or --dataset ORG/NAME (or set {DATASET_ENV})"
            )
    frame = with_defaults(pd.read_parquet(folder / "leaderboard" / "leaderboard.parquet"))
    metrics_path = folder / "metrics" / "metrics.parquet"
    plots = folder / "plots"
    return Board(
        frame=frame,
        plots_dir=plots if plots.is_dir() else None,
        source=source,
        dataset_repo=link_repo,
        metrics=pd.read_parquet(metrics_path) if metrics_path.is_file() else None,
        registry=read_registry(folder),
        data_dir=folder,
    )


# --------------------------------------------------------------------------- formatting


def missing(value: Any) -> bool:
    if value is None or value is pd.NA:
        return True
    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):
        return False


def fmt(board: Board, value: Any, name: str | None = None) -> str:
    """A value as shown: registry digits for metrics, 3 digits for other floats."""
    if missing(value):
        return MISSING
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, int) or (hasattr(value, "is_integer") and name in ("rank", "clusters")):
        return str(int(value))
    if isinstance(value, float) or hasattr(value, "dtype"):
        digits = int((board.registry.get(name or "") or {}).get("digits", 3))
        return f"{float(value):.{digits}f}"
    return str(value)


def fmt_ci(board: Board, low: Any, high: Any, name: str = "inertia") -> str:
    if missing(low) or missing(high):
        return MISSING
    return f"[{fmt(board, low, name)}, {fmt(board, high, name)}]"


# --------------------------------------------------------------------------- selections


def questionnaires(frame: pd.DataFrame) -> list[str]:
    return sorted(frame["questionnaire"].astype(str).unique()) if len(frame) else []


def protocol_counts(frame: pd.DataFrame, questionnaire: str) -> list[tuple[str, int]]:
    """``(protocol_hash, number of models)`` of ``questionnaire``, most models first."""
    rows = frame[frame["questionnaire"] == questionnaire]
    counts = rows.groupby("protocol_hash")["model"].nunique()
    return sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))


def protocol_choices(frame: pd.DataFrame, questionnaire: str) -> list[tuple[str, str]]:
    """Dropdown choices ``(label, protocol_hash)``; the first is the default."""
    out = []
    for digest, n in protocol_counts(frame, questionnaire):
        modes = sorted(
            set(
                frame.loc[
                    (frame["questionnaire"] == questionnaire) & (frame["protocol_hash"] == digest),
                    "mode",
                ]
                .dropna()
                .astype(str)
            )
        )
        label = f"{digest[:12]} · {n} model{'s' if n != 1 else ''}"
        if modes:
            label += f" · {'/'.join(modes)}"
        out.append((label, digest))
    return out


def default_protocol(frame: pd.DataFrame, questionnaire: str) -> str | None:
    counts = protocol_counts(frame, questionnaire)
    return counts[0][0] if counts else None


def selected_rows(board: Board, questionnaire: str, protocol: str | None) -> pd.DataFrame:
    frame = board.frame
    rows = frame[frame["questionnaire"] == questionnaire]
    if protocol not in (None, "", ALL):
        rows = rows[rows["protocol_hash"] == protocol]
    return rows.sort_values(["rank", "model"], kind="stable")


def column_choices(board: Board) -> list[str]:
    have = set(board.frame.columns) | {"inertia CI"}
    return [c for c in [*DEFAULT_COLUMNS, *OPTIONAL_COLUMNS] if c in have]


def default_columns(choices: list[str]) -> list[str]:
    return [c for c in DEFAULT_COLUMNS if c in choices]


def table_view(
    board: Board,
    questionnaire: str,
    protocol: str | None,
    search: str,
    columns: list[str] | None,
) -> pd.DataFrame:
    """The rows of one protocol, model names containing ``search``, as formatted text."""
    rows = selected_rows(board, questionnaire, protocol)
    needle = (search or "").strip().lower()
    if needle:
        rows = rows[rows["model"].astype(str).str.lower().str.contains(needle, regex=False)]
    wanted = [c for c in column_choices(board) if c in set(columns or []) | {"model"}]
    out: dict[str, list[str]] = {}
    for column in wanted:
        if column == "rank":
            out[column] = [str(v) for v in rows["rank_label"]]
        elif column == "inertia CI":
            out[column] = [
                fmt_ci(board, lo, hi)
                for lo, hi in zip(rows["inertia_ci_low"], rows["inertia_ci_high"], strict=True)
            ]
        else:
            out[column] = [fmt(board, v, column) for v in rows[column]]
    return pd.DataFrame(out, columns=wanted)


def model_names(frame: pd.DataFrame, questionnaire: str | None = None) -> list[str]:
    rows = frame if questionnaire is None else frame[frame["questionnaire"] == questionnaire]
    return sorted(rows["model"].astype(str).unique()) if len(rows) else []


# --------------------------------------------------------------------------- figures


def _figure(width: float, height: float) -> Any:
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), dpi=100, layout="constrained")


def ci_figure(board: Board, questionnaire: str, protocol: str | None) -> Any:
    """Overall inertia per model with its CI (error bars), best first."""
    rows = selected_rows(board, questionnaire, protocol)
    fig = _figure(9, max(2.2, 0.5 * len(rows) + 1.2))
    ax = fig.add_subplot()
    if rows.empty:
        ax.text(0.5, 0.5, "no results", ha="center", va="center")
        ax.set_axis_off()
        return fig
    y = list(range(len(rows)))[::-1]
    values = rows["inertia"].astype(float).to_numpy()
    low = rows["inertia_ci_low"].astype(float).to_numpy()
    high = rows["inertia_ci_high"].astype(float).to_numpy()
    # a bootstrap interval need not contain the point estimate: bars never go negative
    err = [
        [max(v - lo, 0.0) if lo == lo else 0.0 for v, lo in zip(values, low, strict=True)],
        [max(hi - v, 0.0) if hi == hi else 0.0 for v, hi in zip(values, high, strict=True)],
    ]
    ax.errorbar(values, y, xerr=err, fmt="o", capsize=4, color="#3b4cc0")
    ax.set_yticks(y, [f"{r} {m}" for r, m in zip(rows["rank_label"], rows["model"], strict=True)])
    ax.set_xlabel("inertia (1 = every persona gives the same answer), with CI")
    ax.set_xlim(0, 1)
    ax.grid(axis="x", alpha=0.3)
    ax.set_title(f"{questionnaire}: overall inertia by model")
    return fig


def dimension_table(
    board: Board, model: str, questionnaire: str, protocol: str | None, level: str = "dimension"
) -> pd.DataFrame:
    """One row per group of ``level``: inertia, steerability (with CIs), distributions."""
    columns = [
        "group",
        "inertia",
        "inertia_ci_low",
        "inertia_ci_high",
        "steerability",
        "steerability_ci_low",
        "steerability_ci_high",
        "mean_rating",
        "baseline_mean_rating",
        "distribution",
        "baseline_distribution",
    ]
    m = board.metrics
    if m is not None and "protocol_hash" in m.columns:
        rows = m[
            (m["model"] == model)
            & (m["questionnaire"] == questionnaire)
            & (m["level"] == level)
            & ((m["protocol_hash"] == protocol) if protocol not in (None, "", ALL) else True)
        ]
        return rows[[c for c in columns if c in rows.columns]].reset_index(drop=True)
    # a project's own leaderboard: per-dimension point estimates in wide columns
    frame = board.frame
    row = frame[(frame["model"] == model) & (frame["questionnaire"] == questionnaire)]
    if row.empty or level != "dimension":
        return pd.DataFrame(columns=["group", "inertia", "steerability"])
    r = row.iloc[0]
    dims = [c.split(":", 1)[1] for c in frame.columns if c.startswith("inertia:")]
    dims = [d for d in dims if not missing(r.get(f"inertia:{d}"))]
    return pd.DataFrame(
        {
            "group": dims,
            "inertia": [r[f"inertia:{d}"] for d in dims],
            "steerability": [r.get(f"steerability:{d}") for d in dims],
        }
    )


def levels_of(board: Board, questionnaire: str) -> list[tuple[str, str]]:
    """``(label, level)`` choices: value dimensions, then roll-ups (PVQ-RR's 10 and 4 values)."""
    m = board.metrics
    found = ["dimension"]
    if m is not None:
        rows = m[m["questionnaire"] == questionnaire]
        found += sorted(set(rows["level"].astype(str)) - {"overall", "dimension"})
    return [(LEVEL_LABELS.get(lv, lv), lv) for lv in found]


def compare_figure(
    board: Board, a: str, b: str, questionnaire: str, protocol: str | None, level: str
) -> Any:
    """Per group: inertia and steerability of two models with CIs, and both distributions."""
    import numpy as np

    ta = dimension_table(board, a, questionnaire, protocol, level)
    tb = dimension_table(board, b, questionnaire, protocol, level)
    groups = list(dict.fromkeys([*ta["group"], *tb["group"]]))
    has_dist = "distribution" in ta.columns and len(groups) > 0
    fig = _figure(13, 1.6 + 0.38 * max(len(groups), 3))
    grid = fig.add_gridspec(1, 3 if has_dist else 2)
    y = np.arange(len(groups))[::-1]
    colors = {a: "#3b4cc0", b: "#d1493f"}
    for col, metric in enumerate(("inertia", "steerability")):
        ax = fig.add_subplot(grid[0, col])
        for offset, (name, table) in zip((0.17, -0.17), ((a, ta), (b, tb)), strict=True):
            by = table.set_index("group")
            vals = [by[metric].get(g, np.nan) if metric in by else np.nan for g in groups]
            vals = np.array(vals, dtype=float)
            lo_col, hi_col = f"{metric}_ci_low", f"{metric}_ci_high"
            if lo_col in by and hi_col in by:
                lo = np.array([by[lo_col].get(g, np.nan) for g in groups], dtype=float)
                hi = np.array([by[hi_col].get(g, np.nan) for g in groups], dtype=float)
                err = [
                    np.clip(np.nan_to_num(vals - lo), 0, None),
                    np.clip(np.nan_to_num(hi - vals), 0, None),
                ]
            else:
                err = None
            ax.errorbar(
                vals, y + offset, xerr=err, fmt="o", capsize=3, color=colors[name], label=name
            )
        ax.set_yticks(y, groups if col == 0 else [""] * len(groups))
        ax.set_xlim(0, 1)
        ax.set_xlabel(metric)
        ax.grid(axis="x", alpha=0.3)
        if col == 0:
            fig.legend(loc="outside upper right", ncols=2, fontsize=9)
    if has_dist:
        # the macro distributions: shares of ratings 1..6, one stacked bar per model
        ax = fig.add_subplot(grid[0, 2])
        shades = ["#b2182b", "#ef8a62", "#fddbc7", "#d1e5f0", "#67a9cf", "#2166ac"]
        for offset, (name, table) in zip((0.17, -0.17), ((a, ta), (b, tb)), strict=True):
            by = table.set_index("group")
            for yi, g in zip(y, groups, strict=True):
                dist = by["distribution"].get(g) if "distribution" in by else None
                if dist is None or not hasattr(dist, "__len__") or len(dist) != 6:
                    continue
                left = 0.0
                for k, share in enumerate(np.asarray(dist, dtype=float)):
                    ax.barh(
                        yi + offset,
                        share,
                        left=left,
                        height=0.3,
                        color=shades[k],
                        edgecolor=colors[name],
                        linewidth=0.8,
                    )
                    left += share
        ax.set_yticks(y, [""] * len(groups))
        ax.set_xlim(0, 1)
        ax.set_xlabel("answer shares: rating 1 (red) to 6 (blue)")
    fig.suptitle(f"{a} vs. {b} · {questionnaire} · {LEVEL_LABELS.get(level, level)}")
    return fig


def compare_markdown(
    board: Board, a: str, b: str, questionnaire: str, protocol: str | None, level: str
) -> str:
    ta = dimension_table(board, a, questionnaire, protocol, level).set_index("group")
    tb = dimension_table(board, b, questionnaire, protocol, level).set_index("group")
    groups = list(dict.fromkeys([*ta.index, *tb.index]))
    if not groups:
        return f"No per-dimension results for **{a}** and **{b}** in this protocol."

    def cell(table: pd.DataFrame, g: str, metric: str) -> str:
        if g not in table.index or metric not in table:
            return MISSING
        value = fmt(board, table.at[g, metric], metric)
        lo, hi = f"{metric}_ci_low", f"{metric}_ci_high"
        if lo in table and hi in table and not missing(table.at[g, lo]):
            value += " " + fmt_ci(board, table.at[g, lo], table.at[g, hi], metric)
        return value

    lines = [
        f"| {LEVEL_LABELS.get(level, level)} | {a} inertia | {b} inertia | "
        f"{a} steerability | {b} steerability |",
        "|---|---|---|---|---|",
    ]
    for g in groups:
        lines.append(
            f"| {g} | {cell(ta, g, 'inertia')} | {cell(tb, g, 'inertia')} | "
            f"{cell(ta, g, 'steerability')} | {cell(tb, g, 'steerability')} |"
        )
    return "\n".join(lines)


def figures_for(board: Board, model: str, questionnaire: str) -> list[tuple[str, str]]:
    """``(path, caption)`` of the model's figures for ``questionnaire``, known ones first."""
    if board.plots_dir is None or not model:
        return []
    prefix = f"{model}__{questionnaire}__"
    found = {p.name[len(prefix) : -4]: p for p in board.plots_dir.glob(f"{prefix}*.png")}
    order = [f for f in FIGURES if f in found] + sorted(f for f in found if f not in FIGURES)
    return [(str(found[f]), FIGURES.get(f, f)) for f in order]


# --------------------------------------------------------------------------- text


def dataset_links(board: Board, model: str | None = None) -> str:
    """Markdown links to the published tables (or the local folders)."""
    slug = "".join(ch if ch.isalnum() or ch in "_-" else "_" for ch in (model or ""))
    if board.dataset_repo:
        base = f"{hub_url()}/datasets/{board.dataset_repo}"
        lines = [f"- Dataset: [{board.dataset_repo}]({base})"]
        configs = ["leaderboard", "metrics", "quality", "models", "personas", "prompts"]
        if model:
            configs = [f"responses_{slug}", f"parsed_{slug}", *configs]
        lines += [f"- `{c}`: [{base}/viewer/{c}]({base}/viewer/{c})" for c in configs]
        lines.append(f'- Load: `load_dataset("{board.dataset_repo}", "<config>", split="train")`')
        return "\n".join(lines)
    lines = [f"- Leaderboard read from `{board.source}`"]
    if model:
        lines += [
            f"- Responses: `data/responses/{model}.parquet`",
            f"- Parsed answers: `data/parsed/{model}.parquet`",
        ]
    lines.append("- Published on the Hub by the pipeline's publish stage (set `hub.dataset_repo`).")
    return "\n".join(lines)


def _raw_json(board: Board, kind: str, model: str, questionnaire: str) -> dict[str, Any]:
    """``<kind>/raw/<stem>.json`` of the published data (``<kind>/<stem>.json`` of a project)."""
    if board.data_dir is None:
        return {}
    for folder in (board.data_dir / kind / "raw", board.data_dir / kind):
        path = folder / f"{model}__{questionnaire}.json"
        if path.is_file():
            try:
                data = json.loads(path.read_text(encoding="utf-8"))
            except json.JSONDecodeError:
                return {}
            return data if isinstance(data, dict) else {}
    return {}


def _raw_metrics(board: Board, model: str, questionnaire: str) -> dict[str, Any]:
    return _raw_json(board, "metrics", model, questionnaire)


def quality_markdown(board: Board, model: str, questionnaire: str) -> list[str]:
    """The model page's quality section: verdict, its thresholds, every figure, alpha and
    omega per dimension with CIs, parse failures by reason. Empty without a report."""
    report = _raw_json(board, "quality", model, questionnaire)
    if not report:
        return []

    def num(value: Any) -> str:
        return MISSING if missing(value) else f"{float(value):.3f}"

    def ci(pair: Any) -> str:
        if not isinstance(pair, list) or len(pair) != 2 or any(missing(v) for v in pair):
            return ""
        return f" [{num(pair[0])}, {num(pair[1])}]"

    lines = ["", "### Quality report", f"Verdict: **{report.get('verdict') or MISSING}**"]
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


def model_summary(board: Board, model: str, questionnaire: str, protocol: str | None) -> str:
    """Rank, numbers, provenance, protocol, quality verdict, baseline and catch items."""
    rows = selected_rows(board, questionnaire, protocol)
    rows = rows[rows["model"] == model]
    if rows.empty:
        rows = board.frame[
            (board.frame["model"] == model) & (board.frame["questionnaire"] == questionnaire)
        ]
    if rows.empty:
        return f"No results for **{model}** on **{questionnaire}**."
    r = rows.iloc[0]

    def get(name: str) -> str:
        return fmt(board, r.get(name), name)

    lines = [
        f"## {model} · {questionnaire}",
        f"Rank **{r.get('rank_label')}** · inertia **{get('inertia')}** "
        f"{fmt_ci(board, r.get('inertia_ci_low'), r.get('inertia_ci_high'))} · "
        f"steerability **{get('steerability')}** · top-2 **{get('top2')}**",
        "",
        f"Quality verdict: **{get('verdict')}** · parse rate {get('parse_rate')} · "
        f"letter mass {get('letter_mass')}",
        "",
        f"Public id `{get('public_id')}`, revision {get('revision')}, quantisation "
        f"{get('quantization')}, licence {get('license')}; backend {get('backend')}, "
        f"mode {get('mode')}; {get('design')}.",
        "",
        "### Provenance",
        "| contributor | git commit | package | MLflow run | published |",
        "|---|---|---|---|---|",
        "| " + " | ".join(get(c) for c in PROVENANCE) + " |",
        "",
        f"Protocol `{r.get('protocol_hash')}` · variant {get('variant')}",
    ]
    protocol_fields = r.get("protocol")
    if isinstance(protocol_fields, str) and protocol_fields:
        lines += ["", "```json", json.dumps(json.loads(protocol_fields), indent=1), "```"]
    dims = dimension_table(board, model, questionnaire, r.get("protocol_hash"))
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
    catch = _raw_metrics(board, model, questionnaire).get("catch_items") or {}
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
    lines += quality_markdown(board, model, questionnaire)
    lines += ["", "### Data", dataset_links(board, model)]
    return "\n".join(lines)


# --------------------------------------------------------------------------- app

CSS = """
#leaderboard-table table { table-layout: auto; }
#leaderboard-table th, #leaderboard-table td { white-space: nowrap; }
"""


def build_app(board: Board, reload: Any = None) -> Any:
    """The Gradio Blocks of the leaderboard (not launched).

    ``reload`` is a function returning a fresh :class:`Board` (default: the same
    source read again); *Reload data* calls it.
    """
    import gradio as gr

    state: dict[str, Board] = {"board": board}
    reload = reload or (lambda: load_board(board.data_dir) if board.data_dir else board)

    def current() -> Board:
        return state["board"]

    qs = questionnaires(board.frame)
    first_q = qs[0] if qs else None
    first_p = default_protocol(board.frame, first_q) if first_q else None
    choices = column_choices(board)
    chosen = default_columns(choices)
    models = model_names(board.frame, first_q)
    top = selected_rows(board, first_q, first_p)["model"].astype(str).tolist() if first_q else []
    first_m = top[0] if top else (models[0] if models else None)
    second_m = top[1] if len(top) > 1 else (models[1] if len(models) > 1 else first_m)

    with gr.Blocks(title="Value Inertia Leaderboard", fill_width=True) as demo:
        gr.Markdown(
            "# Value Inertia Leaderboard\n"
            "How stable do a language model's values stay when it role-plays very different "
            "people? Higher **inertia**: answers that barely move across personas. Ranked "
            "within one protocol; `1-2` marks a tie group (overlapping CIs)."
        )
        with gr.Row():
            q_box = gr.Dropdown(qs, value=first_q, label="Questionnaire", elem_id="questionnaire")
            p_box = gr.Dropdown(
                protocol_choices(board.frame, first_q) if first_q else [],
                value=first_p,
                label="Protocol (results compare only within one)",
                elem_id="protocol",
            )
            reload_button = gr.Button("Reload data", elem_id="reload", scale=0)
        status = gr.Markdown(f"Data: `{board.source}` · {len(board.frame)} rows", elem_id="status")
        with gr.Tab("Leaderboard"):
            with gr.Row():
                search = gr.Textbox(
                    label="Search a model", placeholder="model name", elem_id="search"
                )
            with gr.Accordion("Columns", open=False):
                cols = gr.CheckboxGroup(
                    choices, value=chosen, label="Show columns", elem_id="columns"
                )
            start = table_view(board, first_q, first_p, "", chosen) if first_q else None
            table = gr.Dataframe(
                value=start,
                interactive=False,
                wrap=False,
                max_height=700,
                elem_id="leaderboard-table",
                label="Leaderboard",
            )
            ci_plot = gr.Plot(
                ci_figure(board, first_q, first_p) if first_q else None,
                label="Overall inertia with CIs",
                elem_id="ci-plot",
            )
            links = gr.Markdown(dataset_links(board))

        with gr.Tab("Compare"):
            with gr.Row():
                a_box = gr.Dropdown(models, value=first_m, label="Model A", elem_id="model-a")
                b_box = gr.Dropdown(models, value=second_m, label="Model B", elem_id="model-b")
                level_box = gr.Dropdown(
                    levels_of(board, first_q) if first_q else [],
                    value="dimension",
                    label="Level",
                    elem_id="level",
                )
            cmp_text = gr.Markdown(
                compare_markdown(board, first_m, second_m, first_q, first_p, "dimension")
                if first_m
                else "",
                elem_id="compare-table",
            )
            cmp_plot = gr.Plot(
                compare_figure(board, first_m, second_m, first_q, first_p, "dimension")
                if first_m
                else None,
                elem_id="compare-plot",
            )

        with gr.Tab("Model"):
            m_box = gr.Dropdown(models, value=first_m, label="Model", elem_id="model")
            summary = gr.Markdown(
                model_summary(board, first_m, first_q, first_p) if first_m else "No results."
            )
            gallery = gr.Gallery(
                value=figures_for(board, first_m, first_q) if first_m else [],
                label="Analysis figures",
                columns=1,
                height="auto",
                object_fit="contain",
                elem_id="figures",
            )

        with gr.Tab("About"):
            about = gr.Markdown(INTRO + "\n" + legend(board))
            about_links = gr.Markdown("### Data\n" + dataset_links(board))

        def board_views(q: str, p: str, s: str, c: list[str]) -> list[Any]:
            b = current()
            view = table_view(b, q, p, s, c)
            return [gr.update(value=view), ci_figure(b, q, p)]

        def compare_views(a: str, bm: str, q: str, p: str, level: str) -> list[Any]:
            b = current()
            return [
                compare_markdown(b, a, bm, q, p, level or "dimension"),
                compare_figure(b, a, bm, q, p, level or "dimension"),
            ]

        def model_views(m: str, q: str, p: str) -> list[Any]:
            b = current()
            return [model_summary(b, m, q, p), figures_for(b, m, q)]

        def everything(q: str, p: str, s: str, c: list[str], a: str, bm: str, m: str) -> list[Any]:
            b = current()
            qs_now = questionnaires(b.frame)
            q = q if q in qs_now else (qs_now[0] if qs_now else None)
            pchoices = protocol_choices(b.frame, q) if q else []
            p = p if p in [v for _, v in pchoices] else default_protocol(b.frame, q)
            names = model_names(b.frame, q)
            a = a if a in names else (names[0] if names else None)
            bm = bm if bm in names else (names[1] if len(names) > 1 else a)
            m = m if m in names else a
            return [
                gr.update(choices=qs_now, value=q),
                gr.update(choices=pchoices, value=p),
                *board_views(q, p, s, c),
                gr.update(choices=names, value=a),
                gr.update(choices=names, value=bm),
                gr.update(choices=levels_of(b, q), value="dimension"),
                *compare_views(a, bm, q, p, "dimension"),
                gr.update(choices=names, value=m),
                *model_views(m, q, p),
                f"Data: `{b.source}` · {len(b.frame)} rows",
                dataset_links(b),
            ]

        all_outputs = [
            q_box,
            p_box,
            table,
            ci_plot,
            a_box,
            b_box,
            level_box,
            cmp_text,
            cmp_plot,
            m_box,
            summary,
            gallery,
            status,
            links,
        ]
        all_inputs = [q_box, p_box, search, cols, a_box, b_box, m_box]

        def on_reload(*args: Any) -> list[Any]:
            state["board"] = reload()
            return everything(*args)

        def on_questionnaire(q: str, s: str, c: list[str], a: str, bm: str, m: str) -> list[Any]:
            return everything(q, default_protocol(current().frame, q), s, c, a, bm, m)

        reload_button.click(on_reload, all_inputs, all_outputs)
        q_box.input(on_questionnaire, [q_box, search, cols, a_box, b_box, m_box], all_outputs)
        p_box.input(everything, all_inputs, all_outputs)
        search.change(board_views, [q_box, p_box, search, cols], [table, ci_plot])
        cols.change(board_views, [q_box, p_box, search, cols], [table, ci_plot])
        # .change (not .input): these also follow a value set by a reload or a new questionnaire
        for box in (a_box, b_box, level_box):
            box.change(compare_views, [a_box, b_box, q_box, p_box, level_box], [cmp_text, cmp_plot])
        m_box.change(model_views, [m_box, q_box, p_box], [summary, gallery])
        del about, about_links
    return demo


def legend(board: Board) -> str:
    """What each metric means, from the published registry."""
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
    return "\n".join(lines)


def allowed_root(board: Board) -> Path:
    """The folder the app may serve files from: the data, or the whole Hub cache of the repo
    (a reload downloads a new snapshot next to the first one)."""
    assert board.data_dir is not None
    if board.source.startswith(("http://", "https://")):
        return board.data_dir.parents[2]  # <cache>/datasets--org--name/snapshots/<sha>/data
    return board.data_dir


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="value-inertia leaderboard app")
    parser.add_argument(
        "--host", default=os.environ.get("GRADIO_SERVER_NAME", "127.0.0.1"), help="bind address"
    )
    parser.add_argument(
        "--port", type=int, default=int(os.environ.get("GRADIO_SERVER_PORT", "7860")), help="port"
    )
    parser.add_argument("--data", type=Path, default=None, help="a data/ folder to read")
    parser.add_argument(
        "--dataset", default=None, help=f"Hub dataset repo id (default: ${DATASET_ENV})"
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    try:
        board = load_board(args.data, args.dataset)
    except FileNotFoundError as exc:
        raise SystemExit(f"leaderboard app: {exc}") from None
    import gradio as gr

    demo = build_app(board, reload=lambda: load_board(args.data, args.dataset))
    demo.launch(
        server_name=args.host,
        server_port=args.port,
        allowed_paths=[str(allowed_root(board))] if board.data_dir else None,
        theme=gr.themes.Default(),
        css=CSS,
        show_error=True,
    )


if __name__ == "__main__":
    main()
