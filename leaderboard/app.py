"""value-inertia leaderboard: the Gradio app; the same package runs as the Hugging Face Space.

The app ranks within one protocol (``protocol_hash``: results are comparable
only within one; the default is the protocol with the most models), shows the
ranks with tie groups and CI error bars, compares two models side by side,
and shows each result's provenance and quality verdict. *Reload data* reads
the source again (a new run or a new publication shows without a restart).
Numbers are formatted with the digits of the metric registry that the
publish stage writes next to the data (``metric_registry.json``); the *About*
tab shows the legend published beside it (``legend.md``) as it is. Where the
data comes from: :mod:`leaderboard.data`.

``python -m leaderboard`` serves on 127.0.0.1:7860 (``--host``, ``--port``;
``GRADIO_SERVER_NAME`` / ``GRADIO_SERVER_PORT`` are the defaults when set, as
on Spaces). Importing this module has no side effects: :func:`build_app`
builds the Blocks, :func:`main` launches it.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import Any

from leaderboard.data import DATASET_ENV, Board, load_board
from leaderboard.figures import ci_figure, compare_figure, figures_for
from leaderboard.pages import INTRO, compare_markdown, dataset_links, legend, model_summary
from leaderboard.selection import (
    column_choices,
    default_columns,
    default_protocol,
    failing_rows,
    levels_of,
    model_choices,
    protocol_choices,
    questionnaires,
    table_view,
)

CSS = """
#leaderboard-table table { table-layout: auto; }
#leaderboard-table th, #leaderboard-table td { white-space: nowrap; }
"""


FAILED_ROW = "background-color: #fde2e1"  # rows whose quality verdict flags a problem


def styled(
    board: Board, questionnaire: str, protocol: str | None, search: str, columns: list[str]
) -> Any:
    """:func:`table_view` with the rows whose verdict fails shaded (and marked in the
    verdict column): a number is only as good as its quality report says."""
    view = table_view(board, questionnaire, protocol, search, columns)
    failing = failing_rows(board, questionnaire, protocol, search)
    return view.style.apply(
        lambda row: [FAILED_ROW if failing[row.name] else ""] * len(row), axis=1
    )


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
    chosen = default_columns(board, choices)
    # models of the selected protocol only, by identity (model_key), in rank order
    models = model_choices(board, first_q, first_p)
    keys = [key for _, key in models]
    first_m = keys[0] if keys else None
    second_m = keys[1] if len(keys) > 1 else first_m

    with gr.Blocks(title="Value Inertia Leaderboard", fill_width=True) as demo:
        gr.Markdown(
            "# Value Inertia Leaderboard\n"
            "How stable do a language model's values stay when it role-plays very different "
            "people? Higher **inertia**: answers that barely move across personas. Ranked "
            "within one protocol; `1-2` marks a tie group (overlapping CIs); `—`: an interval "
            "with no width at the shown digits; `✗` and a shaded row: the quality verdict "
            "flags a problem."
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
            start = styled(board, first_q, first_p, "", chosen) if first_q else None
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
                model_summary(board, first_m, first_q, first_p) if first_m else "No results.",
                elem_id="model-summary",
            )
            gallery = gr.Gallery(
                value=figures_for(board, first_m, first_q, first_p) if first_m else [],
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
            return [gr.update(value=styled(b, q, p, s, c)), ci_figure(b, q, p)]

        def compare_views(a: str, bm: str, q: str, p: str, level: str) -> list[Any]:
            b = current()
            return [
                compare_markdown(b, a, bm, q, p, level or "dimension"),
                compare_figure(b, a, bm, q, p, level or "dimension"),
            ]

        def model_views(m: str, q: str, p: str) -> list[Any]:
            b = current()
            return [model_summary(b, m, q, p), figures_for(b, m, q, p)]

        def everything(q: str, p: str, s: str, c: list[str], a: str, bm: str, m: str) -> list[Any]:
            b = current()
            qs_now = questionnaires(b.frame)
            q = q if q in qs_now else (qs_now[0] if qs_now else None)
            pchoices = protocol_choices(b.frame, q) if q else []
            p = p if p in [v for _, v in pchoices] else default_protocol(b.frame, q)
            names = model_choices(b, q, p)  # only the models of the selected protocol
            keys = [key for _, key in names]
            a = a if a in keys else (keys[0] if keys else None)
            bm = bm if bm in keys else (keys[1] if len(keys) > 1 else a)
            m = m if m in keys else a
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
