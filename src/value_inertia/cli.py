"""``value-inertia``: run any pipeline stage without DVC.

Every command reads ``params.yaml`` from the project root (or ``--params``).
Configuration and input errors print one line per problem, naming the file and
key, and exit with code 2. The library reports progress through the
``value_inertia`` loggers; the CLI shows their INFO messages on stderr (the
message alone, secrets redacted: :mod:`value_inertia.console` sets the process up).

Each command imports the modules of its stage when it runs (the one exception to
"imports at module top"): `value-inertia --help` starts in about 0.1-0.3 s, where
importing every stage module first costs about 4.5 s (pandas, pyarrow, scipy,
matplotlib, huggingface_hub; ``python -X importtime``, on a loaded machine).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import click
import typer

if TYPE_CHECKING:
    from value_inertia.core.config import Params
from value_inertia.console import configure_logging, echo_errors, restore_interrupt
from value_inertia.core.errors import RunFailure, UserError
from value_inertia.core.paths import project_root

app = typer.Typer(
    help="value-inertia: how stable a language model's values stay across role-played personas.",
    no_args_is_help=True,
    add_completion=False,
)

ParamsOption = Annotated[
    Path | None,
    typer.Option("--params", help="params file (default: params.yaml in the project root)"),
]


def _load(params_file: Path | None) -> Params:
    from value_inertia.core.config import load_params

    return load_params(params_file)


@app.command()
def validate(params: ParamsOption = None) -> None:
    """Check params.yaml and the inputs it names (the first DVC stage) -> data/validated/."""
    from value_inertia.validation import validate as run_validate

    typer.echo(f"wrote {run_validate(params)}")


@app.command()
def personas(params: ParamsOption = None) -> None:
    """Draw random personas (params `personas`) -> data/personas/personas.parquet."""
    from value_inertia.pipeline.design import run_personas

    out = run_personas(_load(params))
    typer.echo(f"wrote {out}")


@app.command()
def prompts(params: ParamsOption = None) -> None:
    """Render every (condition, persona, item, repeat) prompt -> data/prompts/prompts.parquet."""
    from value_inertia.pipeline.design import run_prompts

    out = run_prompts(_load(params))
    typer.echo(f"wrote {out}")


QuestionnaireOption = Annotated[
    str, typer.Option("--questionnaire", "-q", help="a questionnaire id from params `prompts`")
]
ModelOption = Annotated[
    str, typer.Option("--model", "-m", help="name of an entry in params `models`")
]


@app.command()
def models(params: ParamsOption = None) -> None:
    """Write one spec per entry of params `models` -> data/models/<name>.json."""
    from value_inertia.pipeline.design import run_models

    out = run_models(_load(params))
    typer.echo(f"wrote {out}")


@app.command()
def evaluate(
    model: Annotated[
        str, typer.Option("--model", "-m", help="name of an entry in params `models`")
    ],
    params: ParamsOption = None,
    progress: Annotated[bool, typer.Option(help="show a progress bar")] = True,
    limit: Annotated[
        int | None,
        typer.Option(
            "--limit",
            min=1,
            help="smoke test: send only the first N prompts (answers are stored and reused; "
            "the responses table is not written)",
        ),
    ] = None,
) -> None:
    """Ask one model every prompt (resumable) -> data/responses/<model>.parquet."""
    from value_inertia.pipeline.evaluation import run_evaluate

    out = run_evaluate(_load(params), model, progress=progress, limit=limit)
    if limit is not None:
        typer.echo(f"smoke test passed: {limit} prompts answered (stored in {out})")
    else:
        typer.echo(f"wrote {out}")


@app.command()
def plan(
    model: Annotated[
        list[str] | None,
        typer.Option("--model", "-m", help="a model of params `models` (repeatable; default all)"),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print JSON for scripts")] = False,
    params: ParamsOption = None,
    set_param: Annotated[
        list[str] | None,
        typer.Option(
            "--set-param",
            "-S",
            help="override a param as `dvc exp run -S` does, e.g. -S personas.n=6 (repeatable)",
        ),
    ] = None,
) -> None:
    """Before sending anything: requests still to send, tokens, cost and time per model.

    Built from params (with any -S overrides) as `evaluate` builds its requests, never
    from a prompts table on disk: it previews a `dvc exp run -S ...` exactly."""
    from value_inertia.core.config import load_params
    from value_inertia.evaluation.plan import build_plans, render_table

    plans = build_plans(load_params(params, set_param or ()), project_root(), model or None)
    if as_json:
        typer.echo(json.dumps([p.to_dict() for p in plans], indent=2))
    else:
        typer.echo(render_table(plans))


@app.command()
def parse(model: ModelOption, params: ParamsOption = None) -> None:
    """Map one model's answers to ratings 1-6 (rules, optional judge) -> data/parsed/."""
    from value_inertia.pipeline.evaluation import run_parse

    typer.echo(f"wrote {run_parse(_load(params), model)}")


@app.command()
def analyze(
    model: ModelOption, questionnaire: QuestionnaireOption, params: ParamsOption = None
) -> None:
    """Inertia, steerability, MRAT, CIs and figures -> data/metrics/, data/plots/."""
    from value_inertia.pipeline.analysis import run_analyze

    typer.echo(f"wrote {run_analyze(_load(params), model, questionnaire)}")


@app.command()
def summarize(
    model: ModelOption, questionnaire: QuestionnaireOption, params: ParamsOption = None
) -> None:
    """Compact summary of one result (DVC's metric) -> data/summary/<model>__<q>.json."""
    from value_inertia.analysis.summary import write_summary

    _load(params).model(model)  # an unknown model name is one clear error
    typer.echo(f"wrote {write_summary(model, questionnaire)}")


@app.command()
def cluster(
    model: ModelOption, questionnaire: QuestionnaireOption, params: ParamsOption = None
) -> None:
    """Cluster personas by response pattern (k by silhouette, AMI) -> data/clusters/."""
    from value_inertia.pipeline.analysis import run_cluster

    typer.echo(f"wrote {run_cluster(_load(params), model, questionnaire)}")


@app.command()
def leaderboard(params: ParamsOption = None) -> None:
    """One row per (model, questionnaire), ranked -> data/leaderboard/leaderboard.*."""
    from value_inertia.pipeline.publishing import run_leaderboard

    typer.echo(f"wrote {run_leaderboard(_load(params))}")


@app.command()
def publish(params: ParamsOption = None) -> None:
    """Build the Hub dataset and Space folders (data/hub/) and push them when HF_TOKEN is set."""
    from value_inertia.pipeline.publishing import run_publish

    typer.echo(f"wrote {run_publish(_load(params))}")


@app.command()
def submit(
    to: Annotated[str, typer.Option("--to", help="the Hub dataset ORG/NAME to open a PR on")],
    params: ParamsOption = None,
) -> None:
    """Open a pull request with this run's results on a Hub dataset; prints the PR's URL."""
    from value_inertia.publishing.dataset import build_dataset_folder
    from value_inertia.publishing.submission.land import submit as submit_results

    loaded = _load(params)
    root = project_root()
    build_dataset_folder(root, root / "data" / "hub" / "dataset", loaded)
    result = submit_results(root, to)
    typer.echo(result.get("pr_url") or "no changes to submit")


@app.command("verify-submission")
def verify_submission_cmd(
    repo: Annotated[str, typer.Argument(help="the Hub dataset ORG/NAME")],
    pr: Annotated[int, typer.Option("--pr", help="the pull request number")],
) -> None:
    """Re-derive every row a submission adds or changes; exit 1 unless every check passes."""
    from value_inertia.publishing.submission.report import report_lines
    from value_inertia.publishing.submission.verify import verify_submission

    report = verify_submission(repo, pr, project_root())
    typer.echo("\n".join(report_lines(report)))
    raise typer.Exit(0 if report["ok"] else 1)


@app.command("land-submission")
def land_submission_cmd(
    repo: Annotated[str, typer.Argument(help="the Hub dataset ORG/NAME")],
    pr: Annotated[int, typer.Option("--pr", help="the pull request number")],
) -> None:
    """Verify a submission, merge its rows onto the current main and close the PR."""
    from value_inertia.core.paths import project_root
    from value_inertia.publishing.submission.land import land_lines, land_submission

    typer.echo("\n".join(land_lines(land_submission(repo, pr, project_root()))))


batch_app = typer.Typer(
    help="Batch inference outside the pipeline: `vllm run-batch` export and import.",
    no_args_is_help=True,
)
app.add_typer(batch_app, name="batch")


def _planned_requests(params: Path | None, model: str) -> tuple[Any, list[Any]]:
    """The model's spec and its unique requests for the current prompts table."""
    from value_inertia.core import paths
    from value_inertia.core.table_io import read_frame
    from value_inertia.evaluation.runner import plan_requests

    m = _load(params).model(model)
    requests, _ = plan_requests(m, read_frame(paths.prompts_path(), "prompts"))
    return m, requests


@batch_app.command("export")
def batch_export(
    model: ModelOption,
    file: Annotated[Path, typer.Argument(help="the JSONL file to write (vllm run-batch -i)")],
    shard: Annotated[
        str | None,
        typer.Option(help="K/N: only every N-th request starting at K (one export per node)"),
    ] = None,
    params: ParamsOption = None,
) -> None:
    """Write the requests still missing as OpenAI batch JSONL (custom_id = store key)."""
    from value_inertia.core import paths
    from value_inertia.evaluation.batch import export_requests
    from value_inertia.evaluation.store import ResponseStore

    m, requests = _planned_requests(params, model)
    if shard is not None:
        k, _, n_shards = shard.partition("/")
        if not (k.isdigit() and n_shards.isdigit() and int(k) < int(n_shards)):
            raise UserError(f"--shard {shard!r}: expected K/N with 0 <= K < N, e.g. 0/4")
        requests = requests[int(k) :: int(n_shards)]
    with ResponseStore(paths.store_path(m.name)) as store:
        n = export_requests(m, requests, store, file)
    typer.echo(
        f"wrote {n} requests to {file}; run `vllm run-batch -i {file} -o OUT --model "
        f"{m.model}`, then `value-inertia batch import -m {m.name} OUT`"
    )


@batch_app.command("import")
def batch_import(
    model: ModelOption,
    file: Annotated[Path, typer.Argument(help="the output file of vllm run-batch (-o)")],
    params: ParamsOption = None,
) -> None:
    """Commit a `vllm run-batch` output file into the store, matched on custom_id."""
    from value_inertia.core import paths
    from value_inertia.evaluation.batch import import_results
    from value_inertia.evaluation.store import ResponseStore

    m, requests = _planned_requests(params, model)
    with ResponseStore(paths.store_path(m.name)) as store:
        report = import_results(m, requests, store, file)
    typer.echo(f"{file}: {report.line()}; run `value-inertia evaluate -m {m.name}` next")


@app.command("recover-store")
def recover_store_cmd(
    store: Annotated[Path, typer.Argument(help="the damaged data/store/<model>.sqlite")],
) -> None:
    """Salvage a damaged response store: keep every readable answer, set the rest aside."""
    from value_inertia.evaluation.store_recovery import recover_store

    aside, kept, lost = recover_store(store)
    typer.echo(f"kept {kept} answers in {store}; {lost} unreadable; damaged file moved to {aside}")


@app.command()
def quality(
    model: ModelOption, questionnaire: QuestionnaireOption, params: ParamsOption = None
) -> None:
    """Quality report (alpha, omega, position bias, agreement, verdict) -> data/quality/."""
    from value_inertia.pipeline.analysis import run_quality

    typer.echo(f"wrote {run_quality(_load(params), model, questionnaire)}")


def main(argv: list[str] | None = None) -> None:
    """Entry point with the house error handling (used by the script and stages/).

    Bad configuration or input: exit 2. Too many failed requests or a failed push: exit 1.
    Interrupt: exit 130; everything finished so far is kept.
    """
    configure_logging()
    restore_interrupt()
    try:
        # typer turns KeyboardInterrupt into exit code 130 and, in this mode, returns codes
        code = app(args=argv, standalone_mode=False)
    except UserError as exc:
        echo_errors(str(exc))
        sys.exit(2)
    except RunFailure as exc:
        echo_errors(str(exc))
        sys.exit(1)
    except (KeyboardInterrupt, click.Abort):
        typer.echo("interrupted: finished work is kept; run the stage again to resume", err=True)
        sys.exit(130)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except typer.Exit as exc:
        code = exc.exit_code
    if code == 130:
        typer.echo("interrupted: finished work is kept; run the stage again to resume", err=True)
    if isinstance(code, int) and code:
        sys.exit(code)


def run_stage(*argv: str) -> None:
    main(list(argv) + sys.argv[1:])
