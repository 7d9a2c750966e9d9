"""The push: merge with the Hub dataset, one guarded commit, a release tag.

The Hub dataset is the board's source of truth. :func:`push_dataset` reads the
tables the dataset already holds (at its head commit), replaces only the rows
of this run's (model identity, questionnaire, variant, protocol), keeps every
other row, regenerates the card from the merged tables and sends everything in
one ``create_commit`` with ``parent_commit`` set to that head. If someone
else committed in between, the Hub refuses the commit; the push re-reads,
merges again and retries. ``huggingface_hub`` decides what goes over the wire:
it skips files whose content the Hub already has (and makes no commit when
nothing changed), and sends Parquet and PNG files through LFS.

:mod:`value_inertia.publishing.submission` opens the same merge as a pull
request on someone else's dataset, verifies one and lands it.

Every new commit on main gets one release tag, ``v<version>-<protocols>-<digest>``
(:func:`release_tag`), with a tag message that lists every protocol the board
holds (:func:`release_message`).

The token is read from ``HF_TOKEN`` and handed to ``huggingface_hub`` only; it
never reaches the report, the cards, a log line or an error message.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import warnings
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow.parquet as pq

from value_inertia.core import paths
from value_inertia.core.config import ConfigError, Params
from value_inertia.core.errors import RunFailure
from value_inertia.core.redaction import redact
from value_inertia.core.table_io import write_table, write_text_atomic
from value_inertia.design.questionnaires import load_questionnaires
from value_inertia.publishing import card as card_mod
from value_inertia.publishing.board.markdown import LEGEND_FILE, legend
from value_inertia.publishing.folders import file_manifest, folder_files, rel_to
from value_inertia.publishing.release import release_message, release_tag
from value_inertia.publishing.tables.merge import (
    MERGE_KEYS,
    frame_table,
    merge_frames,
    rerank,
)

TOKEN_ENV = "HF_TOKEN"
DEFAULT_ENDPOINT = "https://huggingface.co"
REPORT_NAME = "publish_report.json"
MAX_ATTEMPTS = 5
BOARD = "data/leaderboard/leaderboard.parquet"
METRICS = "data/metrics/metrics.parquet"


class PublishError(RunFailure):
    """A push to the Hub failed; the message has every secret redacted."""


def lfs_transfers() -> None:
    """Upload through Git LFS, not Xet, for the rest of this process.

    ``huggingface_hub`` sends every upload through Xet when ``hf_xet`` is
    installed. The project keeps to the LFS path on purpose: it is the one its
    tests exercise against the Hub stand-in (a Xet CAS server cannot be stood
    in for), and the Hub accepts LFS uploads to Xet-backed repos as well (its
    LFS bridge; files are migrated to Xet storage in the background).
    """
    from huggingface_hub import constants

    constants.HF_HUB_DISABLE_XET = True


def hub_api() -> Any:
    """An ``HfApi`` with ``HF_TOKEN`` and ``HF_ENDPOINT`` (None without a token); LFS uploads."""
    token = os.environ.get(TOKEN_ENV) or None
    if not token:
        return None
    from huggingface_hub import HfApi

    lfs_transfers()

    return HfApi(token=token, endpoint=os.environ.get("HF_ENDPOINT") or None)


def _is_conflict(exc: BaseException) -> bool:
    response = getattr(exc, "response", None)
    return getattr(response, "status_code", None) in (409, 412)


# --------------------------------------------------------------------------- merge


def _download(api: Any, repo_id: str, rel: str, revision: str, cache: Path) -> Path:
    return Path(
        api.hf_hub_download(
            repo_id, rel, repo_type="dataset", revision=revision, cache_dir=str(cache)
        )
    )


def _write_merged(frame: pd.DataFrame, path: Path, like: Path) -> None:
    write_table(frame_table(frame, pq.read_schema(like)), path)


def merge_into(
    api: Any,
    repo_id: str,
    revision: str,
    remote_files: set[str],
    local: Path,
    out: Path,
    *,
    contributor: str | None,
    root: Path,
    rank_by: str = "inertia",
) -> str:
    """Write ``local`` merged with the dataset at ``revision`` to ``out``; returns the tag.

    ``contributor`` is written on ``local``'s board rows (None: they keep theirs).
    """
    shutil.copytree(local, out)
    cache = out.parent / "hf-cache"
    for rel, key in MERGE_KEYS.items():
        path = out / rel
        if not path.exists():
            continue
        mine = pd.read_parquet(path)
        if rel == BOARD and contributor is not None:
            mine["contributor"] = contributor
        remote = None
        if rel in remote_files:
            remote = pd.read_parquet(_download(api, repo_id, rel, revision, cache))
        merged = merge_frames(remote, mine, key)
        if rel == BOARD:
            merged = rerank(merged, rank_by)
            # the legend says how the board is ranked: rendered for this rank_by
            write_text_atomic(legend(rank_by) + "\n", out / "data" / LEGEND_FILE)
        _write_merged(merged, path, local / rel)
        if rel == BOARD:
            write_text_atomic(
                merged.to_csv(index=False, lineterminator="\n"),
                out / rel.replace(".parquet", ".csv"),
            )
    rows = card_mod.manifest_rows(out)
    if card_mod.MANIFEST in remote_files:
        remote_rows = json.loads(
            _download(api, repo_id, card_mod.MANIFEST, revision, cache).read_text(encoding="utf-8")
        )
        rows = {**{str(k): int(v) for k, v in remote_rows.items()}, **rows}
    for rel in MERGE_KEYS:
        if (out / rel).exists():
            rows[rel] = int(pq.ParquetFile(out / rel).metadata.num_rows)
    card_mod.write_manifest(out, rows)
    tag = release_tag(out)
    board = pd.read_parquet(out / BOARD, columns=["questionnaire"])
    known = {p.stem for p in paths.questionnaire_dir(root).glob("*.yaml")}
    ids = sorted(set(board["questionnaire"].astype(str)) & known)
    card_mod.write_card(out, load_questionnaires(ids, root), repo_id, tag)
    shutil.rmtree(cache, ignore_errors=True)
    return tag


def push_dataset(
    api: Any,
    folder: Path,
    repo_id: str,
    *,
    root: Path,
    private: bool = False,
    create_pr: bool = False,
    commit_message: str = "value-inertia: publish results",
    rank_by: str = "inertia",
    keep_contributors: bool = False,
) -> dict[str, Any]:
    """Merge ``folder`` into the Hub dataset ``repo_id`` and commit (or open a PR).

    One ``create_commit`` per attempt, with ``parent_commit`` = the head the
    merge read; a conflict (HTTP 409/412: someone committed meanwhile) makes it
    re-read, re-merge and retry, up to :data:`MAX_ATTEMPTS` times. A new commit
    on main is tagged with :func:`release_tag` and :func:`release_message`.
    The token's user is written as the contributor of this folder's board rows,
    unless ``keep_contributors`` (landing a submission: its rows keep the submitter).
    """
    from huggingface_hub import CommitOperationAdd

    if not create_pr:
        api.create_repo(repo_id, repo_type="dataset", private=private, exist_ok=True)
    contributor = None if keep_contributors else str(api.whoami().get("name") or "unknown")
    for attempt in range(1, MAX_ATTEMPTS + 1):
        head = api.repo_info(repo_id, repo_type="dataset").sha
        remote_files = set(api.list_repo_files(repo_id, repo_type="dataset", revision=head))
        with tempfile.TemporaryDirectory(prefix="vi-merge-") as tmp:
            merged = Path(tmp) / "dataset"
            tag = merge_into(
                api,
                repo_id,
                head,
                remote_files,
                folder,
                merged,
                contributor=contributor,
                root=root,
                rank_by=rank_by,
            )
            operations = [
                CommitOperationAdd(path_in_repo=p.as_posix(), path_or_fileobj=str(merged / p))
                for p in folder_files(merged)
            ]
            try:
                info = api.create_commit(
                    repo_id,
                    operations,
                    commit_message=commit_message,
                    repo_type="dataset",
                    parent_commit=head,
                    create_pr=create_pr,
                )
            except Exception as exc:
                if _is_conflict(exc) and attempt < MAX_ATTEMPTS:
                    continue
                raise
            message = release_message(merged)
        break
    committed = bool(info.pr_url) or info.oid != head
    result: dict[str, Any] = {
        "status": "committed" if committed else "unchanged",
        "commit": info.oid if committed else None,
        "commit_url": info.commit_url if committed else None,
        "parent_commit": head,
        "attempts": attempt,
        "contributor": contributor,
        "tag": None,
    }
    if create_pr:
        result["pr_url"] = info.pr_url
        result["pr_num"] = info.pr_num
    else:  # tagged also when unchanged, in case an earlier push stopped before its tag
        api.create_tag(
            repo_id,
            tag=tag,
            tag_message=message,
            revision=info.oid,
            repo_type="dataset",
            exist_ok=True,
        )
        result["tag"] = tag
    return result


def push_space(
    api: Any, folder: Path, repo_id: str, *, private: bool, commit_message: str
) -> dict[str, Any]:
    """Make the Space ``repo_id`` hold exactly the files of ``folder``, in at most one commit.

    Guarded by ``parent_commit`` like the dataset push: a conflict (someone
    committed to the Space meanwhile) re-reads its files and retries.
    """
    from huggingface_hub import CommitOperationAdd, CommitOperationDelete

    api.create_repo(repo_id, repo_type="space", private=private, exist_ok=True, space_sdk="gradio")
    local = {p.as_posix() for p in folder_files(folder)}
    for attempt in range(1, MAX_ATTEMPTS + 1):
        head = api.repo_info(repo_id, repo_type="space").sha
        remote = set(api.list_repo_files(repo_id, repo_type="space", revision=head))
        operations: list[Any] = [
            CommitOperationAdd(path_in_repo=p, path_or_fileobj=str(folder / p))
            for p in sorted(local)
        ]
        operations += [
            CommitOperationDelete(path_in_repo=p)
            for p in sorted(remote - local - {".gitattributes"})
        ]
        try:
            with warnings.catch_warnings():
                # A Space without a dataset repo deliberately carries the board's Parquet file.
                warnings.filterwarnings(
                    "ignore", message=r".*commit a data file", category=UserWarning
                )
                info = api.create_commit(
                    repo_id,
                    operations,
                    commit_message=commit_message,
                    repo_type="space",
                    parent_commit=head,
                )
        except Exception as exc:  # someone committed meanwhile: re-read and retry
            if _is_conflict(exc) and attempt < MAX_ATTEMPTS:
                continue
            raise
        break
    committed = info.oid != head
    return {
        "status": "committed" if committed else "unchanged",
        "commit": info.oid if committed else None,
        "commit_url": info.commit_url if committed else None,
        "deleted": sorted(remote - local - {".gitattributes"}) if committed else [],
        "attempts": attempt,
    }


# --------------------------------------------------------------------------- publish


def publish(root: Path, params: Params) -> dict[str, Any]:
    """Push ``data/hub/dataset`` and ``data/hub/space`` (or report what would be pushed).

    Pushes a folder when ``HF_TOKEN`` is set and its repo id is in params
    (``hub.dataset_repo`` / ``hub.space_repo``), with ``hub.private`` for new
    repos and ``HF_ENDPOINT`` honoured. Writes ``data/hub/publish_report.json``
    (repo ids, files with size and sha256, status per repo: ``dry run``,
    ``committed`` or ``unchanged``, the release tag) and returns the same dict.
    A failed push writes the report with the (redacted) error and raises
    :class:`PublishError`.
    """
    root = Path(root)
    hub = paths.hub_dir(root)
    token = os.environ.get(TOKEN_ENV) or None
    endpoint = os.environ.get("HF_ENDPOINT") or None
    targets = [
        ("dataset", hub / "dataset", params.hub.dataset_repo),
        ("space", hub / "space", params.hub.space_repo),
    ]
    report: dict[str, Any] = {
        "endpoint": (endpoint or DEFAULT_ENDPOINT).rstrip("/"),
        "token": "set" if token else "not set",
        "dry_run": not token or not any(repo for _, _, repo in targets),
        "repos": [],
    }
    api = hub_api() if token and any(repo for _, _, repo in targets) else None
    failure: str | None = None
    for repo_type, folder, repo_id in targets:
        if not folder.is_dir():
            raise ConfigError(f"{folder}: not found; run the publish stage's build step first")
        files = file_manifest(folder)
        entry: dict[str, Any] = {
            "repo_type": repo_type,
            "repo_id": repo_id,
            "private": params.hub.private,
            "folder": rel_to(folder, root),
            "n_files": len(files),
            "total_bytes": sum(f["size"] for f in files),
            "files": files,
        }
        if not token:
            entry["status"] = f"dry run: {TOKEN_ENV} is not set"
        elif not repo_id:
            entry["status"] = f"dry run: hub.{repo_type}_repo is not set"
        elif failure is not None:
            entry["status"] = "not attempted (an earlier push failed)"
        else:
            try:
                if repo_type == "dataset":
                    entry.update(
                        push_dataset(
                            api,
                            folder,
                            repo_id,
                            root=root,
                            private=params.hub.private,
                            rank_by=params.leaderboard.rank_by,
                        )
                    )
                else:
                    entry.update(
                        push_space(
                            api,
                            folder,
                            repo_id,
                            private=params.hub.private,
                            commit_message="value-inertia: publish space",
                        )
                    )
            except Exception as exc:  # reported, then raised redacted
                failure = redact(f"{repo_type} {repo_id}: {type(exc).__name__}: {exc}")
                entry["status"] = "failed"
                entry["error"] = failure
        report["repos"].append(entry)
    text = redact(json.dumps(report, indent=2, sort_keys=False)) + "\n"
    write_text_atomic(text, hub / REPORT_NAME)
    if failure is not None:
        raise PublishError(f"push to the Hub failed: {failure}")
    return json.loads(text)
