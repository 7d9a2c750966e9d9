"""value-inertia leaderboard: a Gradio app; the same file runs as the Hugging Face Space.

Where the data comes from, first match wins:

1. ``--data DIR``: a folder holding ``leaderboard/leaderboard.parquet`` (and
   ``plots/*.png``), i.e. a project's ``data/`` folder;
2. ``--dataset ORG/NAME`` or the ``VALUE_INERTIA_DATASET`` environment variable:
   a Hub dataset repo made by ``value-inertia``'s publish stage (its
   ``data/leaderboard`` and ``data/plots`` are downloaded with huggingface_hub;
   ``HF_TOKEN`` and ``HF_ENDPOINT`` are honoured);
3. ``data/`` next to this file (the Space), one folder up (the repository:
   ``leaderboard/app.py`` -> ``data/``) or in the working directory;
4. the dataset repo named in ``app_config.json`` next to this file.

``python leaderboard/app.py`` serves on 127.0.0.1:7860 (``--host``, ``--port``;
``GRADIO_SERVER_NAME`` / ``GRADIO_SERVER_PORT`` are the defaults when set, as
on Spaces). Importing this module has no side effects: :func:`build_app`
builds the Blocks, :func:`main` launches it.
"""

from __future__ import annotations

import argparse
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

HERE = Path(__file__).resolve().parent
DATASET_ENV = "VALUE_INERTIA_DATASET"
HUB = "https://huggingface.co"
ALL = "all"

FIGURES: dict[str, str] = {
    "macro": "Answer distribution per value dimension (persona vs. baseline)",
    "micro": "Persona x item mean ratings",
    "convergence": "Variance of the dimension mean as personas are added",
    "clusters": "Persona clusters of the response pattern (PCA)",
    "cohens_d": "How much each persona attribute moves each dimension (Cohen's d)",
}
DEFAULT_COLUMNS: list[str] = [
    "rank",
    "model",
    "questionnaire",
    "inertia",
    "steerability",
    "top2",
    "parse_rate",
    "letter_mass",
    "design",
    "clusters",
    "silhouette",
    "backend",
    "mode",
]

EXPLANATION = """\
### What these numbers mean

Each model answered a value questionnaire (MFQ-30: moral foundations; PVQ-RR:
Schwartz's 19 values) while role-playing many random personas (sex, age,
income, religion, country, ... drawn from World Values Survey categories), and
once with no persona (the *baseline*). For every value dimension the answers of
all personas are pooled into one distribution `p` over the six options.

* **inertia** `= 1 - H(p) / log2(6)`: 1 when every persona gives the same
  answer, 0 when the answers spread evenly over the six options. High inertia
  means the model's values barely move whoever it plays.
* **steerability**: the Jensen-Shannon divergence (base 2, 0-1) between the
  baseline answers and the persona answers. 0: personas change nothing.
* **top2**: share of the two most frequent options; **top1**: of the most frequent.
* Overall values are means over the questionnaire's dimensions;
  `inertia:<dimension>` / `steerability:<dimension>` are per dimension.
* **parse_rate**: share of answers that named a usable option; **letter_mass**:
  probability the model put on the option letters (logprobs mode).
* **clusters** / **silhouette**: persona clusters of the response pattern,
  their number chosen by silhouette (higher: more distinct groups).
* **rank**: 1 = most value-inert model of the questionnaire (highest overall
  inertia; ties by lower steerability).

Method: Lee, Cho & Lee (2024), *Language Models Show Stable Value Orientations
Across Diverse Role-Plays*, [arXiv:2408.09049](https://arxiv.org/abs/2408.09049).
"""


@dataclass
class Board:
    """The leaderboard table, where its figures are and where it came from."""

    frame: pd.DataFrame
    plots_dir: Path | None
    source: str
    dataset_repo: str | None = None


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
    """The ``data/`` folder of the dataset repo's leaderboard and figures, downloaded."""
    from huggingface_hub import snapshot_download

    local = snapshot_download(
        repo_id=repo_id,
        repo_type="dataset",
        allow_patterns=["data/leaderboard/leaderboard.parquet", "data/plots/*.png"],
        token=os.environ.get("HF_TOKEN") or None,
    )
    return Path(local) / "data"


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
    frame = pd.read_parquet(folder / "leaderboard" / "leaderboard.parquet")
    plots = folder / "plots"
    return Board(
        frame=frame,
        plots_dir=plots if plots.is_dir() else None,
        source=source,
        dataset_repo=link_repo,
    )


# --------------------------------------------------------------------------- views


def questionnaires(frame: pd.DataFrame) -> list[str]:
    return sorted(frame["questionnaire"].astype(str).unique()) if len(frame) else []


def column_choices(frame: pd.DataFrame, questionnaire: str) -> list[str]:
    """Columns with at least one value for ``questionnaire`` (all columns for ``all``)."""
    rows = frame if questionnaire == ALL else frame[frame["questionnaire"] == questionnaire]
    return [c for c in frame.columns if c in ("model", "rank") or rows[c].notna().any()]


def default_columns(choices: list[str]) -> list[str]:
    return [c for c in DEFAULT_COLUMNS if c in choices]


def table_view(
    frame: pd.DataFrame, questionnaire: str, search: str, columns: list[str] | None
) -> pd.DataFrame:
    """Rows of ``questionnaire`` (or all) whose model name contains ``search``; chosen columns."""
    rows = (
        frame
        if questionnaire in (ALL, None, "")
        else frame[frame["questionnaire"] == questionnaire]
    )
    needle = (search or "").strip().lower()
    if needle:
        rows = rows[rows["model"].astype(str).str.lower().str.contains(needle, regex=False)]
    wanted = set(columns or []) | {"model"}
    ordered = [c for c in frame.columns if c in wanted]
    view = rows[ordered].copy()
    for column in view.columns:
        if pd.api.types.is_float_dtype(view[column]):
            view[column] = view[column].round(3)
    return view.reset_index(drop=True)


def datatypes(view: pd.DataFrame) -> list[str]:
    return [
        "number"
        if pd.api.types.is_numeric_dtype(view[c]) and not pd.api.types.is_bool_dtype(view[c])
        else "str"
        for c in view.columns
    ]


def model_names(frame: pd.DataFrame) -> list[str]:
    return sorted(frame["model"].astype(str).unique()) if len(frame) else []


def figures_for(board: Board, model: str, questionnaire: str) -> list[tuple[str, str]]:
    """``(path, caption)`` of the model's figures for ``questionnaire``, known ones first."""
    if board.plots_dir is None or not model:
        return []
    prefix = f"{model}__{questionnaire}__"
    found = {p.name[len(prefix) : -4]: p for p in board.plots_dir.glob(f"{prefix}*.png")}
    order = [f for f in FIGURES if f in found] + sorted(f for f in found if f not in FIGURES)
    return [(str(found[f]), FIGURES.get(f, f)) for f in order]


def _fmt(value: Any) -> str:
    if value is None or (isinstance(value, float) and pd.isna(value)):
        return "–"
    if isinstance(value, float):
        return f"{value:.3f}"
    return str(value)


def dataset_links(board: Board, model: str | None = None) -> str:
    """Markdown links to the published tables (or the local folders)."""
    slug = "".join(ch if ch.isalnum() or ch in "_-" else "_" for ch in (model or ""))
    if board.dataset_repo:
        base = f"{hub_url()}/datasets/{board.dataset_repo}"
        lines = [f"- Dataset: [{board.dataset_repo}]({base})"]
        configs = ["leaderboard", "metrics", "clusters", "personas", "prompts"]
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
    lines += [
        "- Metrics: `data/metrics/<model>__<questionnaire>.json`",
        "- Published on the Hub by the pipeline's publish stage (set `hub.dataset_repo`).",
    ]
    return "\n".join(lines)


def model_summary(board: Board, model: str, questionnaire: str) -> str:
    frame = board.frame
    rows = frame[(frame["model"] == model) & (frame["questionnaire"] == questionnaire)]
    if rows.empty:
        return f"No results for **{model}** on **{questionnaire}**."
    r = rows.iloc[0]
    lines = [
        f"## {model} · {questionnaire}",
        f"Rank **{_fmt(r.get('rank'))}** · inertia **{_fmt(r.get('inertia'))}** · "
        f"steerability **{_fmt(r.get('steerability'))}** · top-2 **{_fmt(r.get('top2'))}**",
        "",
        f"Model id `{_fmt(r.get('model_id'))}`, backend {_fmt(r.get('backend'))}, mode "
        f"{_fmt(r.get('mode'))}; {_fmt(r.get('design'))}; parse rate "
        f"{_fmt(r.get('parse_rate'))}, letter mass {_fmt(r.get('letter_mass'))}; "
        f"{_fmt(r.get('clusters'))} cluster(s), silhouette {_fmt(r.get('silhouette'))}.",
        "",
        "| dimension | inertia | steerability |",
        "|---|---|---|",
    ]
    for column in frame.columns:
        if column.startswith("inertia:") and pd.notna(r[column]):
            dim = column.split(":", 1)[1]
            lines.append(f"| {dim} | {_fmt(r[column])} | {_fmt(r.get(f'steerability:{dim}'))} |")
    lines += ["", "### Data", dataset_links(board, model)]
    return "\n".join(lines)


# --------------------------------------------------------------------------- app


def build_app(board: Board) -> Any:
    """The Gradio Blocks of the leaderboard (not launched)."""
    import gradio as gr

    frame = board.frame
    qs = questionnaires(frame)
    q_choices = [*qs, ALL]
    first_q = qs[0] if qs else ALL
    choices = column_choices(frame, first_q)
    chosen = default_columns(choices)
    start = table_view(frame, first_q, "", chosen)
    models = model_names(frame)
    if qs:  # the model view opens on the first questionnaire's top-ranked model
        top = frame[frame["questionnaire"] == first_q].sort_values("rank")["model"].astype(str)
        models = [*top.head(1), *(m for m in models if m not in set(top.head(1)))]

    with gr.Blocks(title="Value Inertia Leaderboard") as demo:
        gr.Markdown(
            "# Value Inertia Leaderboard\n"
            "How stable do a language model's values stay when it role-plays very different "
            "people? Higher **inertia**: answers that barely move across personas. "
            "Sort with a column header's menu (⋮); sorts stack until cleared."
        )
        with gr.Tab("Leaderboard"):
            with gr.Row():
                q_box = gr.Dropdown(
                    q_choices, value=first_q, label="Questionnaire", elem_id="questionnaire"
                )
                search = gr.Textbox(
                    label="Search a model", placeholder="model name", elem_id="search"
                )
            with gr.Accordion("Columns", open=False):
                cols = gr.CheckboxGroup(
                    choices, value=chosen, label="Show columns", elem_id="columns"
                )
            table = gr.Dataframe(
                value=start,
                datatype=datatypes(start),
                interactive=False,
                wrap=False,
                max_height=700,
                elem_id="leaderboard-table",
                label="Leaderboard",
            )
            gr.Markdown(dataset_links(board))

            def refresh(q: str, s: str, c: list[str]) -> Any:
                view = table_view(frame, q, s, c)
                return gr.update(value=view, datatype=datatypes(view))

            def change_questionnaire(q: str, s: str, c: list[str]) -> tuple[Any, Any]:
                new_choices = column_choices(frame, q)
                keep = [x for x in (c or []) if x in new_choices] or default_columns(new_choices)
                return gr.update(choices=new_choices, value=keep), refresh(q, s, keep)

            q_box.change(change_questionnaire, [q_box, search, cols], [cols, table])
            search.change(refresh, [q_box, search, cols], table)
            cols.change(refresh, [q_box, search, cols], table)

        with gr.Tab("Model"):
            with gr.Row():
                m_box = gr.Dropdown(
                    models, value=models[0] if models else None, label="Model", elem_id="model"
                )
                mq_box = gr.Dropdown(
                    qs, value=qs[0] if qs else None, label="Questionnaire", elem_id="model-q"
                )
            summary = gr.Markdown(
                model_summary(board, models[0], qs[0]) if models and qs else "No results."
            )
            gallery = gr.Gallery(
                value=figures_for(board, models[0], qs[0]) if models and qs else [],
                label="Analysis figures",
                columns=2,
                height="auto",
                object_fit="contain",
                elem_id="figures",
            )

            def show_model(m: str, q: str) -> tuple[str, list[tuple[str, str]]]:
                return model_summary(board, m, q), figures_for(board, m, q)

            m_box.change(show_model, [m_box, mq_box], [summary, gallery])
            mq_box.change(show_model, [m_box, mq_box], [summary, gallery])

        with gr.Tab("About"):
            gr.Markdown(EXPLANATION)
            gr.Markdown("### Data\n" + dataset_links(board))
    return demo


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

    demo = build_app(board)
    demo.launch(
        server_name=args.host,
        server_port=args.port,
        allowed_paths=[str(board.plots_dir)] if board.plots_dir else None,
        theme=gr.themes.Default(),
        show_error=True,
    )


if __name__ == "__main__":
    main()
