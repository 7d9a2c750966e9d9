"""MLflow tracking: one run per stage, nested under one parent run per pipeline execution.

The tracking URI is ``MLFLOW_TRACKING_URI`` if set, else ``sqlite:///mlflow.db``
in the project root (for ``dvc exp run --temp``/queued experiments, the root of
the repository that DVC names in ``DVC_ROOT``, so their runs are not lost with
the temporary workspace).

Under DVC (``DVC_STAGE`` is set for every stage command) the first stage of a
``dvc repro`` or ``dvc exp run`` opens a parent run, named after the experiment
(``DVC_EXP_NAME``) or by date and commit, and the stages that follow in the same
DVC process nest under it (``mlflow.parentRunId``). The parent is found again
through a small pointer file in ``.dvc/tmp`` keyed by the DVC process.

Each stage run logs only the params it is given (the sections it reads), the
tags ``model``, ``questionnaire``, ``variant``, ``protocol_hash``,
``prompt_set`` (digest of the prompt table), ``git_commit``, ``git_dirty``,
``dvc_stage``, ``dvc_exp``; the persona set, prompt set and responses as run
inputs (name, digest = DVC's md5 of the file, source = its path); and, for a
model's stages, metrics linked to the model's MLflow logged model (an external
model, one per model name and identity). An interrupted or failed run still
logs the metrics of what it finished (the ``partial`` callback).

Secrets are never among the params (models carry only the *name* of their key
variable) and every logged string passes through
:func:`value_inertia.core.redaction.redact`. ``mlflow`` is imported only when a run
starts (it costs about a second).
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import subprocess
import time
import warnings
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager, suppress
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from value_inertia.core import paths
from value_inertia.core.config import ModelParams
from value_inertia.core.paths import project_root
from value_inertia.core.redaction import redact
from value_inertia.core.table_io import file_hash

EXPERIMENT = "value-inertia"
# MLflow 3 opens an experiment on its runs (not the GenAI overview) for this kind
EXPERIMENT_KIND = ("mlflow.experimentKind", "custom_model_development")
PARENT_TAG = "mlflow.parentRunId"
POINTER = Path(".dvc") / "tmp" / "value-inertia-mlflow-parent.json"
# without /proc (not Linux) a parent is reused when the previous stage ended this recently
POINTER_FRESH_S = 120.0


def tracking_root(root: Path | None = None) -> Path:
    """Where ``mlflow.db`` lives: DVC's repository root when DVC names one, else the project."""
    dvc_root = os.environ.get("DVC_ROOT")
    return Path(dvc_root).resolve() if dvc_root else (root or project_root())


def tracking_uri(root: Path | None = None) -> str:
    return os.environ.get("MLFLOW_TRACKING_URI") or f"sqlite:///{tracking_root(root) / 'mlflow.db'}"


def flatten(data: Mapping[str, Any], prefix: str = "") -> dict[str, str]:
    """``{"a": {"b": 1}}`` -> ``{"a.b": "1"}``; lists of mappings use their ``name``."""
    out: dict[str, str] = {}
    for key, value in data.items():
        path = f"{prefix}{key}"
        if isinstance(value, Mapping):
            out.update(flatten(value, f"{path}."))
        elif isinstance(value, list) and value and all(isinstance(v, Mapping) for v in value):
            for i, v in enumerate(value):
                out.update(flatten(v, f"{path}.{v.get('name', i)}."))
        else:
            out[path] = redact(json.dumps(value) if isinstance(value, list) else str(value))
    return out


def params_hash(data: Mapping[str, Any]) -> str:
    return hashlib.sha256(json.dumps(data, sort_keys=True, default=str).encode()).hexdigest()[:12]


def file_digest(path: Path) -> str:
    """The md5 of a file's bytes: the same hash ``dvc.lock`` records for it."""
    return file_hash(path, "md5")


def _git(root: Path, *args: str) -> str | None:
    try:
        out = subprocess.run(
            ["git", *args], cwd=root, capture_output=True, text=True, timeout=10, check=False
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout if out.returncode == 0 else None


def git_commit(root: Path | None = None) -> str:
    out = _git(root or project_root(), "rev-parse", "HEAD")
    return (out or "").strip() or "unknown"


def git_dirty(root: Path | None = None) -> bool | None:
    """Whether tracked files differ from the commit (None outside a git repository)."""
    out = _git(root or project_root(), "status", "--porcelain", "--untracked-files=no")
    return None if out is None else bool(out.strip())


def dvc_invocation() -> str | None:
    """``<pid>:<start time>`` of the DVC process this stage runs under (Linux), else None."""
    pid = os.getppid()
    for _ in range(16):
        if pid <= 1:
            return None
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
            args = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        except OSError:
            return None
        fields = stat[stat.rindex(")") + 2 :].split()
        if any(os.path.basename(a.decode(errors="replace")) == "dvc" for a in args[:3]):
            return f"{pid}:{fields[19]}"
        pid = int(fields[1])
    return None


def stage_address(
    stage: str, model: str | None, questionnaire: str | None, variant: str | None
) -> str:
    """The DVC stage name (``DVC_STAGE`` under DVC; the same form when run by hand)."""
    if os.environ.get("DVC_STAGE"):
        return os.environ["DVC_STAGE"]
    key = "-".join(p for p in (model, questionnaire) if p)
    return f"{stage}@{key}" if key else stage


def result_label(model: str | None, questionnaire: str | None, variant: str | None) -> str:
    """``gemma3-270m / mfq30`` (``(shuffled)`` added for other prompt variants); "" for a
    stage of no model (personas, prompts, leaderboard)."""
    label = " / ".join(p for p in (model, questionnaire) if p)
    if label and variant and variant != "original":
        label += f" ({variant})"
    return label


def run_name(stage: str, model: str | None, questionnaire: str | None, variant: str | None) -> str:
    """``gemma3-270m / mfq30 · analyze``: what the run holds first, so that the runs table,
    which cuts long names off at the right, still shows it; the stage alone for the
    stages of no model."""
    label = result_label(model, questionnaire, variant)
    return f"{label} · {stage}" if label else stage


def _datasets(stage: str, model: str | None, root: Path) -> list[tuple[str, Path, str]]:
    """(name, file, context) of the tables a stage reads ("input") or writes ("output")."""
    personas = ("personas", paths.personas_path(root))
    prompts = ("prompts", paths.prompts_path(root))
    out: list[tuple[str, Path, str]] = []
    if stage == "personas":
        out.append((*personas, "output"))
    elif stage == "prompts":
        out += [(*personas, "input"), (*prompts, "output")]
    elif model and stage == "evaluate":
        out += [
            (*prompts, "input"),
            (f"responses/{model}", paths.responses_path(model, root), "output"),
        ]
    elif model and stage == "parse":
        out += [
            (*prompts, "input"),
            (f"responses/{model}", paths.responses_path(model, root), "input"),
        ]
    elif model and stage in ("analyze", "cluster", "quality"):
        out += [(*personas, "input"), (f"parsed/{model}", paths.parsed_path(model, root), "input")]
    return out


class StageRun:
    """What ``stage_run`` yields: the ``mlflow`` module, with metrics linked to the model.

    ``log_metrics`` adds ``model_id`` (the stage's logged model), drops missing
    values and remembers what was logged; everything else is ``mlflow``'s own.
    """

    def __init__(self, mlflow: Any, run_id: str, model_id: str | None) -> None:
        self._mlflow = mlflow
        self.run_id = run_id
        self.model_id = model_id
        self.logged: dict[str, float] = {}

    def log_metrics(self, metrics: Mapping[str, Any], step: int | None = None) -> None:
        clean = {
            str(k): float(v)
            for k, v in metrics.items()
            if isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)
        }
        if clean:
            self._mlflow.log_metrics(clean, step=step, model_id=self.model_id)
            self.logged.update(clean)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._mlflow, name)


def _experiment_id(client: Any, root: Path) -> str:
    experiment = client.get_experiment_by_name(EXPERIMENT)
    if experiment is None:
        location = None
        if "MLFLOW_TRACKING_URI" not in os.environ:
            # artifacts beside mlflow.db, wherever the stage was started
            location = (tracking_root(root) / "mlruns").as_uri()
        try:
            return client.create_experiment(
                EXPERIMENT, artifact_location=location, tags=dict([EXPERIMENT_KIND])
            )
        except Exception:  # another process created it first
            experiment = client.get_experiment_by_name(EXPERIMENT)
            if experiment is None:
                raise
    if experiment.tags.get(EXPERIMENT_KIND[0]) != EXPERIMENT_KIND[1]:
        client.set_experiment_tag(experiment.experiment_id, *EXPERIMENT_KIND)
    return experiment.experiment_id


def _pointer_path(root: Path) -> Path:
    return root / POINTER


def _parent_run(
    client: Any, experiment_id: str, root: Path, uri: str, base_tags: dict
) -> str | None:
    """The parent run of this DVC execution (opened by its first stage); None outside DVC."""
    if not os.environ.get("DVC_STAGE"):
        return None
    invocation = dvc_invocation()
    exp = os.environ.get("DVC_EXP_NAME") or ""
    key = f"{invocation or 'unknown'}|{exp}|{uri}"
    pointer = _pointer_path(root)
    try:
        data = json.loads(pointer.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        data = {}
    fresh = invocation is not None or time.time() - data.get("touched", 0) < POINTER_FRESH_S
    if data.get("key") == key and fresh and data.get("run_id"):
        try:
            client.update_run(data["run_id"], status="RUNNING")
            return data["run_id"]
        except Exception:  # deleted meanwhile: open a new parent
            pass
    stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M")
    commit = base_tags.get("git_commit", "unknown")[:7]
    dirty = "+dirty" if base_tags.get("git_dirty") == "true" else ""
    name = exp or f"repro {stamp} {commit}{dirty}"
    tags = {k: v for k, v in base_tags.items() if k in ("git_commit", "git_dirty", "dvc_exp")}
    tags |= {"pipeline": "dvc exp run" if exp else "dvc repro"}
    run = client.create_run(experiment_id, run_name=name, tags=tags)
    _write_pointer(pointer, {"key": key, "run_id": run.info.run_id})
    return run.info.run_id


def _write_pointer(pointer: Path, data: dict) -> None:
    try:
        pointer.parent.mkdir(parents=True, exist_ok=True)
        pointer.write_text(json.dumps({**data, "touched": time.time()}), encoding="utf-8")
    except OSError:
        pass


def _touch_pointer(root: Path, run_id: str) -> None:
    pointer = _pointer_path(root)
    try:
        data = json.loads(pointer.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return
    if data.get("run_id") == run_id:
        _write_pointer(pointer, data)


def _model_spec(model: str, root: Path) -> dict[str, Any] | None:
    try:
        spec = json.loads((paths.model_specs_dir(root) / f"{model}.json").read_text("utf-8"))
    except (OSError, ValueError):
        return None
    return spec if isinstance(spec, dict) else None


def model_identity(spec: Mapping[str, Any]) -> dict[str, Any]:
    """What decides a model's answers (``ModelParams.identity``) from its spec file."""
    try:
        return ModelParams.model_validate(dict(spec)).identity()
    except Exception:  # a spec from another version: fall back to the spec itself
        return dict(spec)


def logged_model_id(mlflow: Any, experiment_id: str, model: str, root: Path) -> str | None:
    """The MLflow logged model of ``model`` (one per name and identity), created once.

    The model runs outside MLflow (embedded GGUF or an endpoint), so it is an
    *external* model: its params are the identity, tags the identity hash.
    """
    spec = _model_spec(model, root)
    if spec is None:
        return None
    identity = model_identity(spec)
    digest = params_hash(identity)
    # MLflow refuses / : . % " ' in model names; the tag keeps the real name
    name = "".join("-" if c in "/:.%\"'" else c for c in model)
    found = mlflow.search_logged_models(
        experiment_ids=[experiment_id],
        filter_string=f"name = '{name}' AND tags.identity_hash = '{digest}'",
        max_results=1,
        output_format="list",
    )
    if found:
        return found[0].model_id
    created = mlflow.create_external_model(
        name=name,
        tags={"identity_hash": digest, "backend": str(spec.get("backend")), "model": model},
        params={k: redact(str(v)) for k, v in identity.items()},
        model_type="language model",
        experiment_id=experiment_id,
    )
    return created.model_id


def _log_datasets(mlflow: Any, entries: list[tuple[str, Path, str]], root: Path) -> None:
    from mlflow.data.dataset_source_registry import resolve_dataset_source
    from mlflow.data.meta_dataset import MetaDataset

    datasets, contexts = [], []
    for name, path, context in entries:
        if not path.exists():
            continue
        try:
            with warnings.catch_warnings():  # "can be interpreted in multiple ways": all local
                warnings.simplefilter("ignore")
                source = resolve_dataset_source(str(path))
        except Exception:
            continue
        # mlflow documents MetaDataset as instantiable; its stub marks `profile` abstract
        meta = MetaDataset(source, name=name, digest=file_digest(path))  # type: ignore[abstract]
        datasets.append(meta)
        contexts.append(context)
    if datasets:
        mlflow.log_inputs(datasets=datasets, contexts=contexts, tags_list=[None] * len(datasets))


@contextmanager
def stage_run(
    stage: str,
    params: Mapping[str, Any],
    model: str | None = None,
    *,
    questionnaire: str | None = None,
    variant: str | None = None,
    protocol_hash: str | None = None,
    tags: Mapping[str, str] | None = None,
    partial: Callable[[], Mapping[str, Any]] | None = None,
) -> Iterator[StageRun]:
    """Run a stage inside an MLflow run; yields :class:`StageRun` (``mlflow`` for logging).

    ``params`` are the sections the stage reads, logged flattened. ``partial``
    returns the metrics of the work finished so far: logged when the stage is
    interrupted or fails, so an interrupted run still says what it did.
    """
    started = time.time()
    root = project_root()
    uri = tracking_uri(root)
    import mlflow  # deferred: about a second of start-up

    mlflow.set_tracking_uri(uri)
    client = mlflow.MlflowClient(uri)
    experiment_id = _experiment_id(client, root)
    dirty = git_dirty(root)
    exp = os.environ.get("DVC_EXP_NAME") or ("workspace" if os.environ.get("DVC_STAGE") else "")
    base = {
        "stage": stage,
        "dvc_stage": stage_address(stage, model, questionnaire, variant),
        "dvc_exp": exp or "none",
        "git_commit": git_commit(root),
        "git_dirty": "unknown" if dirty is None else str(dirty).lower(),
        "params_hash": params_hash(params),
    }
    for key, value in (
        ("model", model),
        ("questionnaire", questionnaire),
        ("variant", variant),
        ("protocol_hash", protocol_hash),
        ("result", result_label(model, questionnaire, variant)),
    ):
        if value:
            base[key] = value
    if paths.prompts_path(root).exists() and stage != "prompts":
        base["prompt_set"] = file_digest(paths.prompts_path(root))
    base |= {k: redact(str(v)) for k, v in (tags or {}).items()}
    parent = _parent_run(client, experiment_id, root, uri, base)
    if parent:
        base[PARENT_TAG] = parent
    entries = _datasets(stage, model, root)
    with mlflow.start_run(
        experiment_id=experiment_id,
        run_name=run_name(stage, model, questionnaire, variant),
        tags=base,
    ) as active:
        run = StageRun(mlflow, active.info.run_id, None)
        status = "FINISHED"
        try:
            if model:
                run.model_id = logged_model_id(mlflow, experiment_id, model, root)
            if run.model_id:
                from mlflow.entities import LoggedModelInput

                mlflow.log_input(model=LoggedModelInput(run.model_id))  # the run used it
            mlflow.log_params(flatten(params))
            _log_datasets(mlflow, [e for e in entries if e[2] == "input"], root)
            yield run
            written = [
                e
                for e in entries
                if e[2] == "output" and e[1].exists() and e[1].stat().st_mtime >= started - 1
            ]
            _log_datasets(mlflow, written, root)
            if stage == "prompts" and paths.prompts_path(root).exists():
                mlflow.set_tag("prompt_set", file_digest(paths.prompts_path(root)))
        except BaseException as exc:
            status = "KILLED" if isinstance(exc, KeyboardInterrupt) else "FAILED"
            if partial is not None:
                with suppress(Exception):  # never hide the original error
                    run.log_metrics(partial())
            mlflow.end_run(status=status)
            raise
        finally:
            if parent:
                client.set_terminated(parent, status=status)
                _touch_pointer(root, parent)
