"""Publishing stages: the leaderboard and the Hub folders."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from pathlib import Path

from value_inertia.core import paths
from value_inertia.core.config import Params
from value_inertia.tracking.provenance import params_hash
from value_inertia.tracking.runs import stage_run

log = logging.getLogger(__name__)


def run_leaderboard(params: Params) -> Path:
    # lazy: publishing loads the analysis (scipy) and huggingface_hub
    from value_inertia.publishing.board.build import build_leaderboard
    from value_inertia.publishing.board.inputs import (
        load_current_inputs,
        load_extras,
        load_variant_reports,
    )
    from value_inertia.publishing.board.markdown import write_leaderboard

    root = paths.project_root()
    metrics, clusters, models = load_current_inputs(
        root,
        [m.name for m in params.models],
        params.prompts.questionnaires,
        getattr(params.prompts, "variants", None),
    )
    quality, spend = load_extras(root)
    frame = build_leaderboard(
        metrics,
        clusters,
        models,
        params_hash(params.model_dump(mode="json", by_alias=True)),
        params.leaderboard.rank_by,
        datetime.now(UTC).date().isoformat(),
        quality=quality,
        spend=spend,
        variants=load_variant_reports(root),
    )
    out = paths.leaderboard_dir(root)
    with stage_run("leaderboard", {"leaderboard": params.leaderboard.model_dump()}) as ml:
        written = write_leaderboard(frame, out, params.leaderboard.rank_by)
        for path in written.values():
            ml.log_artifact(str(path), artifact_path="leaderboard")
        ml.log_metrics({"rows": len(frame)})
    return out


def run_publish(params: Params) -> Path:
    # lazy: publishing loads the analysis (scipy) and huggingface_hub
    from value_inertia.publishing.dataset import build_dataset_folder
    from value_inertia.publishing.push import publish
    from value_inertia.publishing.space import build_space_folder

    root = paths.project_root()
    hub = paths.hub_dir(root)
    with stage_run("publish", {"hub": params.hub.model_dump()}) as ml:
        run = ml.active_run()
        provenance = {"mlflow_run_id": run.info.run_id if run is not None else None}
        dataset = build_dataset_folder(root, hub / "dataset", params, provenance)
        build_space_folder(root, hub / "space", params.hub.dataset_repo, hub / "dataset")
        report = publish(root, params)
        ml.log_dict(report, "publish_report.json")
        ml.log_metrics({"dataset_configs": len(dataset["configs"])})
    for repo in report["repos"]:
        log.info("%s %s: %s", repo["repo_type"], repo.get("repo_id") or "-", repo["status"])
    return hub / "publish_report.json"


# --------------------------------------------------------------------------- quality (issue 11)
