"""The MLflow run of one stage: :func:`stage_run` and what it yields.

A stage run logs the params it is given, the tags of
:func:`value_inertia.tracking.run_tags.stage_tags`, the tables it reads and writes,
and its metrics, linked to the model's logged model; under DVC it nests under the
execution's parent run. An interrupted or failed run still logs the metrics of
what it finished (the ``partial`` callback).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager, suppress
from typing import Any

from value_inertia.core import paths
from value_inertia.core.paths import project_root
from value_inertia.tracking.datasets import log_datasets, stage_datasets
from value_inertia.tracking.experiment import ensure_experiment, tracking_uri
from value_inertia.tracking.logged_models import logged_model_id
from value_inertia.tracking.parent_run import PARENT_TAG, parent_run, touch_pointer
from value_inertia.tracking.provenance import file_digest
from value_inertia.tracking.run_tags import flatten, run_name, stage_tags


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
    experiment_id = ensure_experiment(client, root)
    base = stage_tags(stage, params, root, model, questionnaire, variant, protocol_hash, tags)
    parent = parent_run(client, experiment_id, root, uri, base)
    if parent:
        base[PARENT_TAG] = parent
    entries = stage_datasets(stage, model, root)
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
            log_datasets(mlflow, [e for e in entries if e[2] == "input"], root)
            yield run
            written = [
                e
                for e in entries
                if e[2] == "output" and e[1].exists() and e[1].stat().st_mtime >= started - 1
            ]
            log_datasets(mlflow, written, root)
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
                touch_pointer(root, parent)
