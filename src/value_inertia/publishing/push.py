"""The push: merge with the Hub dataset, one guarded commit, a release tag; submissions.

The Hub dataset is the board's source of truth. :func:`push_dataset` reads the
tables the dataset already holds (at its head commit), replaces only the rows
of this run's (model identity, questionnaire, variant, protocol), keeps every
other row, regenerates the card from the merged tables and sends everything in
one ``create_commit`` with ``parent_commit`` set to that head. If someone
else committed in between, the Hub refuses the commit; the push re-reads,
merges again and retries. ``huggingface_hub`` decides what goes over the wire:
it skips files whose content the Hub already has (and makes no commit when
nothing changed), and sends Parquet and PNG files through LFS.

:func:`submit` opens the same merge as a pull request (``create_pr=True``) on
someone else's dataset; :func:`verify_submission` recomputes the submitted
metrics from the submitted answers and lists every row that does not match.

The token is read from ``HF_TOKEN`` and handed to ``huggingface_hub`` only; it
never reaches the report, the cards, a log line or an error message.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import tempfile
import warnings
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow.parquet as pq

from value_inertia.analysis.analyze import analyze
from value_inertia.core import paths
from value_inertia.core.config import NAME_PATTERN, ConfigError, Params
from value_inertia.core.errors import RunFailure, UserError
from value_inertia.core.redaction import redact
from value_inertia.core.table_io import write_table, write_text_atomic
from value_inertia.design.questionnaires import load_questionnaires
from value_inertia.publishing import card as card_mod
from value_inertia.publishing.folders import file_manifest, folder_files, rel_to
from value_inertia.publishing.hub_tables import (
    MERGE_KEYS,
    RESULT_KEY,
    frame_table,
    key_frame,
    merge_frames,
    package_version,
    rerank,
)

TOKEN_ENV = "HF_TOKEN"
DEFAULT_ENDPOINT = "https://huggingface.co"
REPORT_NAME = "publish_report.json"
MAX_ATTEMPTS = 5
BOARD = "data/leaderboard/leaderboard.parquet"
METRICS = "data/metrics/metrics.parquet"
COMPARED = ("inertia", "steerability", "top2", "top1")


class PublishError(RunFailure):
    """A push to the Hub failed; the message has every secret redacted."""


def hub_api() -> Any:
    """An ``HfApi`` with ``HF_TOKEN`` and ``HF_ENDPOINT`` (None without a token)."""
    token = os.environ.get(TOKEN_ENV) or None
    if not token:
        return None
    from huggingface_hub import HfApi

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


def release_tag(folder: Path) -> str:
    """``v<version>-<protocol>-<content digest>``: the same data gets the same tag."""
    board = pd.read_parquet(folder / BOARD, columns=["protocol_hash"])
    protocols = sorted(set(board["protocol_hash"].astype(str)))
    proto = "-".join(p[:8] for p in protocols) if len(protocols) <= 2 else "multi"
    digest = hashlib.sha256()
    for rel in folder_files(folder):
        if rel.as_posix() not in ("README.md", "LICENSE.md"):
            digest.update(rel.as_posix().encode() + (folder / rel).read_bytes())
    return f"v{package_version()}-{proto}-{digest.hexdigest()[:8]}"


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
    contributor: str,
    root: Path,
    rank_by: str = "inertia",
) -> str:
    """Write ``local`` merged with the dataset at ``revision`` to ``out``; returns the tag."""
    shutil.copytree(local, out)
    cache = out.parent / "hf-cache"
    for rel, key in MERGE_KEYS.items():
        path = out / rel
        if not path.exists():
            continue
        mine = pd.read_parquet(path)
        if rel == BOARD:
            mine["contributor"] = contributor
        remote = None
        if rel in remote_files:
            remote = pd.read_parquet(_download(api, repo_id, rel, revision, cache))
        merged = merge_frames(remote, mine, key)
        if rel == BOARD:
            merged = rerank(merged, rank_by)
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
) -> dict[str, Any]:
    """Merge ``folder`` into the Hub dataset ``repo_id`` and commit (or open a PR).

    One ``create_commit`` per attempt, with ``parent_commit`` = the head the
    merge read; a conflict (HTTP 409/412: someone committed meanwhile) makes it
    re-read, re-merge and retry, up to :data:`MAX_ATTEMPTS` times. A new commit
    on main is tagged with :func:`release_tag`.
    """
    from huggingface_hub import CommitOperationAdd

    if not create_pr:
        api.create_repo(repo_id, repo_type="dataset", private=private, exist_ok=True)
    contributor = str(api.whoami().get("name") or "unknown")
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
        api.create_tag(repo_id, tag=tag, revision=info.oid, repo_type="dataset", exist_ok=True)
        result["tag"] = tag
    return result


def push_space(
    api: Any, folder: Path, repo_id: str, *, private: bool, commit_message: str
) -> dict[str, Any]:
    """Make the Space ``repo_id`` hold exactly the files of ``folder``, in at most one commit."""
    from huggingface_hub import CommitOperationAdd, CommitOperationDelete

    api.create_repo(repo_id, repo_type="space", private=private, exist_ok=True, space_sdk="gradio")
    head = api.repo_info(repo_id, repo_type="space").sha
    remote = set(api.list_repo_files(repo_id, repo_type="space", revision=head))
    local = {p.as_posix() for p in folder_files(folder)}
    operations: list[Any] = [
        CommitOperationAdd(path_in_repo=p, path_or_fileobj=str(folder / p)) for p in sorted(local)
    ]
    operations += [
        CommitOperationDelete(path_in_repo=p) for p in sorted(remote - local - {".gitattributes"})
    ]
    with warnings.catch_warnings():
        # A Space without a dataset repo deliberately carries the leaderboard's Parquet file.
        warnings.filterwarnings("ignore", message=r".*commit a data file", category=UserWarning)
        info = api.create_commit(
            repo_id,
            operations,
            commit_message=commit_message,
            repo_type="space",
            parent_commit=head,
        )
    committed = info.oid != head
    return {
        "status": "committed" if committed else "unchanged",
        "commit": info.oid if committed else None,
        "commit_url": info.commit_url if committed else None,
        "deleted": sorted(remote - local - {".gitattributes"}) if committed else [],
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


# --------------------------------------------------------------------------- submissions


def submit(root: Path, to_repo: str) -> dict[str, Any]:
    """Open a pull request on the Hub dataset ``to_repo`` with this run's results.

    The built ``data/hub/dataset`` folder is merged with the dataset's main
    branch, exactly like a publish, and sent with ``create_pr=True``.
    """
    api = hub_api()
    if api is None:
        raise ConfigError(f"submit: {TOKEN_ENV} is not set (a Hub token with write access)")
    folder = paths.hub_dir(Path(root)) / "dataset"
    if not folder.is_dir():
        raise ConfigError(f"{folder}: not found; run `value-inertia publish` first (it builds it)")
    try:
        return push_dataset(
            api,
            folder,
            to_repo,
            root=Path(root),
            create_pr=True,
            commit_message="value-inertia: submit results",
        )
    except UserError:
        raise
    except Exception as exc:  # raised redacted
        raise PublishError(
            redact(f"submission to {to_repo} failed: {type(exc).__name__}: {exc}")
        ) from None


def _read_at(api: Any, repo_id: str, rel: str, revision: str, cache: Path) -> pd.DataFrame | None:
    from huggingface_hub.errors import EntryNotFoundError, RevisionNotFoundError

    try:
        return pd.read_parquet(_download(api, repo_id, rel, revision, cache))
    except (EntryNotFoundError, RevisionNotFoundError):
        return None


def _close(a: Any, b: Any, tol: float) -> bool:
    a_missing = a is None or (isinstance(a, float) and np.isnan(a))
    b_missing = b is None or (isinstance(b, float) and np.isnan(b))
    if a_missing or b_missing:
        return a_missing and b_missing
    return abs(float(a) - float(b)) <= tol


def recomputed_values(metrics: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    """``{(level, group): {metric: value}}`` of an analyze() result."""
    out = {("overall", "overall"): metrics.get("overall") or {}}
    out.update({("dimension", d): v for d, v in (metrics.get("dimensions") or {}).items()})
    for level, members in (metrics.get("levels") or {}).items():
        out.update({(level, g): v for g, v in members.items()})
    return out


def verify_submission(
    repo_id: str, pr: int | str, root: Path, *, tol: float = 1e-6, api: Any = None
) -> dict[str, Any]:
    """Recompute the metrics a pull request submits from the answers it submits.

    Rows of the PR's ``metrics`` table that main does not have (or has with
    other values) are checked: their model's parsed answers and the personas in
    the PR go through :func:`value_inertia.analysis.analyze.analyze`; every point
    estimate (``inertia``, ``steerability``, ``top2``, ``top1``) must match, and
    so must the PR's leaderboard rows. Returns ``{"checked": n, "mismatches":
    [...], "ok": bool}``.
    """
    if api is None:
        api = hub_api()
    if api is None:  # a public dataset needs no token to be read
        from huggingface_hub import HfApi

        api = HfApi(token=False, endpoint=os.environ.get("HF_ENDPOINT") or None)
    revision = pr if isinstance(pr, str) and pr.startswith("refs/") else f"refs/pr/{int(pr)}"
    with tempfile.TemporaryDirectory(prefix="vi-verify-") as tmp:
        cache = Path(tmp)
        submitted = _read_at(api, repo_id, METRICS, revision, cache)
        if submitted is None:
            raise ConfigError(f"{repo_id} {revision}: no {METRICS}")
        base = _read_at(api, repo_id, METRICS, "main", cache)
        board = _read_at(api, repo_id, BOARD, revision, cache)
        personas = _read_at(api, repo_id, "data/personas/personas.parquet", revision, cache)
        new = submitted
        if base is not None and not base.empty:
            cols = [*RESULT_KEY, "level", "group", *COMPARED]
            seen = set(key_frame(base, cols))
            new = submitted[~key_frame(submitted, cols).isin(seen)]
        results = new[RESULT_KEY + ["model"]].drop_duplicates()
        mismatches: list[dict[str, Any]] = []
        known = {p.stem for p in paths.questionnaire_dir(root).glob("*.yaml")}
        for r in results.itertuples(index=False):
            where = {k: getattr(r, k) for k in RESULT_KEY}
            if not re.fullmatch(NAME_PATTERN, str(r.model)) or "__" in str(r.model):
                mismatches.append({**where, "problem": f"invalid model name {r.model!r}"})
                continue
            if r.questionnaire not in known:
                mismatches.append({**where, "problem": "unknown questionnaire"})
                continue
            parsed = _read_at(api, repo_id, f"data/parsed/{r.model}.parquet", revision, cache)
            if parsed is None or personas is None:
                mismatches.append({**where, "problem": "answers or personas missing"})
                continue
            if "variant" in parsed.columns:
                parsed = parsed[parsed["variant"].astype(str) == str(r.variant)]
            (questionnaire,) = load_questionnaires([r.questionnaire], root).values()
            again = recomputed_values(
                analyze(parsed, personas, questionnaire, n_boot=10, confidence=0.9, seed=0)
            )
            rows = submitted[
                key_frame(submitted, RESULT_KEY)
                == key_frame(pd.DataFrame([where]), RESULT_KEY).iloc[0]
            ]
            for row in rows.itertuples(index=False):
                ref = again.get((row.level, row.group))
                for metric in COMPARED:
                    value = getattr(row, metric)
                    if ref is None or not _close(value, ref.get(metric), tol):
                        mismatches.append(
                            {
                                **where,
                                "table": "metrics",
                                "level": row.level,
                                "group": row.group,
                                "metric": metric,
                                "submitted": value,
                                "recomputed": None if ref is None else ref.get(metric),
                            }
                        )
            if board is not None:
                line = board[
                    key_frame(board, RESULT_KEY)
                    == key_frame(pd.DataFrame([where]), RESULT_KEY).iloc[0]
                ]
                for value in line.get("inertia", pd.Series(dtype=float)):
                    if not _close(value, again[("overall", "overall")].get("inertia"), tol):
                        mismatches.append(
                            {
                                **where,
                                "table": "leaderboard",
                                "metric": "inertia",
                                "submitted": value,
                                "recomputed": again[("overall", "overall")].get("inertia"),
                            }
                        )
    return {
        "repo_id": repo_id,
        "revision": revision,
        "checked": int(len(results)),
        "mismatches": _jsonable(mismatches),
        "ok": not mismatches,
    }


def _jsonable(rows: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    out = []
    for row in rows:
        out.append(
            {
                k: (
                    float(v)
                    if isinstance(v, np.floating)
                    else v.item()
                    if isinstance(v, np.generic)
                    else v
                )
                for k, v in row.items()
            }
        )
    return out
