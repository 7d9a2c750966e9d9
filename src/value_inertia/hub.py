"""Hugging Face Hub publishing: a dataset repo folder, a Space folder and the push.

:func:`build_dataset_folder` turns the pipeline's outputs into a folder that is
a complete Hub *dataset* repo: a README.md card (YAML metadata with one
``datasets`` config per table, the leaderboard, the method and its citations),
a LICENSE.md and the Parquet tables under ``data/`` (the same layout as the
project's ``data/`` folder, so the leaderboard app reads either one).

:func:`build_space_folder` makes a Hub *Space* folder: the leaderboard app
(``leaderboard/app.py``), its requirements, a README.md with Space metadata
and the leaderboard files the app shows.

:func:`publish` pushes both folders with ``huggingface_hub`` when ``HF_TOKEN``
is set and ``hub.dataset_repo`` / ``hub.space_repo`` are given, one commit per
repo; files whose content the remote already has are not sent, and a push of
unchanged folders creates no commit at all. Otherwise it only reports what it
would push. Either way it writes ``data/hub/publish_report.json``. The token
is read from the environment and handed to ``huggingface_hub`` only; it never
reaches the report, the cards, a log line or an error message.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import tempfile
import warnings
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import yaml

from value_inertia import paths
from value_inertia.config import ConfigError, Params
from value_inertia.leaderboard import legend, load_current_inputs, to_markdown
from value_inertia.questionnaires import load_questionnaires
from value_inertia.redaction import redact
from value_inertia.tables import write_table, write_text_atomic
from value_inertia.tracking import params_hash

TOKEN_ENV = "HF_TOKEN"
DEFAULT_ENDPOINT = "https://huggingface.co"
REPORT_NAME = "publish_report.json"
SPLIT = "train"
CONFIG_NAME_PATTERN = re.compile(r"^[A-Za-z0-9_-]+$")
SECRET_FIELD = re.compile(r"(^|_)(key|token|secret|password)$", re.IGNORECASE)

DATASET_TITLE = "Value inertia: LLM value orientations across role-played personas"
SPACE_TITLE = "Value Inertia Leaderboard"
SPACE_DESCRIPTION = "How stable LLM values stay across role-played personas"

CITATIONS_BIBTEX = """\
@article{lee2024stable,
  title   = {Language Models Show Stable Value Orientations Across Diverse Role-Plays},
  author  = {Lee, Bruce W. and Cho, Hyunsoo and Lee, Yeongheon},
  journal = {arXiv preprint arXiv:2408.09049},
  year    = {2024},
  url     = {https://arxiv.org/abs/2408.09049}
}

@article{graham2011mapping,
  title   = {Mapping the Moral Domain},
  author  = {Graham, Jesse and Nosek, Brian A. and Haidt, Jonathan and Iyer, Ravi and
             Koleva, Spassena and Ditto, Peter H.},
  journal = {Journal of Personality and Social Psychology},
  volume  = {101},
  number  = {2},
  pages   = {366--385},
  year    = {2011}
}

@article{schwartz2012refining,
  title   = {Refining the Theory of Basic Individual Values},
  author  = {Schwartz, Shalom H. and Cieciuch, Jan and Vecchione, Michele and Davidov, Eldad and
             Fischer, Ronald and Beierlein, Constanze and Ramos, Alice and Verkasalo, Markku and
             L{\\"o}nnqvist, Jan-Erik and Demirutku, Kursad and Dirilen-Gumus, Ozlem and
             Konty, Mark},
  journal = {Journal of Personality and Social Psychology},
  volume  = {103},
  number  = {4},
  pages   = {663--688},
  year    = {2012}
}"""


class PublishError(RuntimeError):
    """A push to the Hub failed; the message has every secret redacted."""


# --------------------------------------------------------------------------- helpers


def config_slug(name: str) -> str:
    """``name`` with every character outside ``[A-Za-z0-9_-]`` replaced by ``_``."""
    return re.sub(r"[^A-Za-z0-9_-]", "_", name)


def model_slugs(models: Iterable[str]) -> dict[str, str]:
    """A distinct config-safe slug per model (a short hash is added on a collision)."""
    names = list(dict.fromkeys(models))
    plain = [config_slug(n) for n in names]
    out = {}
    for name, slug in zip(names, plain, strict=True):
        if plain.count(slug) > 1:
            slug = f"{slug}-{hashlib.sha256(name.encode()).hexdigest()[:6]}"
        out[name] = slug
    return out


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def git_blob_sha1(path: Path) -> str:
    """The git object id of the file's content (``git hash-object``)."""
    digest = hashlib.sha1()
    digest.update(f"blob {path.stat().st_size}\0".encode())
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def folder_files(folder: Path) -> list[Path]:
    """Every regular file below ``folder`` (relative, POSIX order), hidden files excluded."""
    return sorted(
        (p.relative_to(folder) for p in folder.rglob("*") if p.is_file()),
        key=lambda p: p.as_posix(),
    )


def file_manifest(folder: Path) -> list[dict[str, Any]]:
    """``[{path, size, sha256}]`` of every file below ``folder``."""
    return [
        {
            "path": rel.as_posix(),
            "size": (folder / rel).stat().st_size,
            "sha256": sha256_file(folder / rel),
        }
        for rel in folder_files(folder)
    ]


def _require(path: Path, stage: str) -> Path:
    if not path.exists():
        raise ConfigError(f"{path}: not found; run the {stage} stage first")
    return path


def _rel(path: Path, root: Path) -> str:
    try:
        return path.resolve().relative_to(root.resolve()).as_posix()
    except ValueError:
        return str(path)


def _replace_dir(build: Path, out_dir: Path) -> None:
    """Swap the freshly built folder into place (stale files from earlier runs go)."""
    if out_dir.exists():
        old = out_dir.with_name(f".{out_dir.name}.old")
        shutil.rmtree(old, ignore_errors=True)
        out_dir.rename(old)
        build.rename(out_dir)
        shutil.rmtree(old, ignore_errors=True)
    else:
        build.rename(out_dir)


def _copy(src: Path, dest: Path) -> None:
    dest.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(src, dest)


def _front_matter(meta: Mapping[str, Any]) -> str:
    dumped = yaml.safe_dump(dict(meta), sort_keys=False, allow_unicode=True, width=1000)
    return f"---\n{dumped}---\n"


def read_front_matter(text: str) -> dict[str, Any]:
    """The YAML metadata block at the top of a README.md (``{}`` when there is none)."""
    match = re.match(r"^---\n(.*?)\n---\n", text, flags=re.DOTALL)
    if not match:
        return {}
    return yaml.safe_load(match.group(1)) or {}


def size_category(n_rows: int) -> str:
    for limit, label in (
        (1_000, "n<1K"),
        (10_000, "1K<n<10K"),
        (100_000, "10K<n<100K"),
        (1_000_000, "100K<n<1M"),
        (10_000_000, "1M<n<10M"),
    ):
        if n_rows < limit:
            return label
    return "10M<n<100M"


# --------------------------------------------------------------------------- flattened tables

METRIC_FIELDS = (
    "inertia",
    "steerability",
    "top2",
    "top1",
    "mean_rating",
    "baseline_mean_rating",
    "mrat",
)
CI_FIELDS = ("inertia", "steerability", "mrat")

METRICS_SCHEMA = pa.schema(
    [
        pa.field("model", pa.string(), nullable=False),
        pa.field("questionnaire", pa.string(), nullable=False),
        pa.field("mode", pa.string()),
        pa.field("level", pa.string(), nullable=False),
        pa.field("group", pa.string(), nullable=False),
        *[pa.field(f, pa.float64()) for f in METRIC_FIELDS],
        *[pa.field(f"{f}_ci_{end}", pa.float64()) for f in CI_FIELDS for end in ("low", "high")],
        pa.field("distribution", pa.list_(pa.float64())),
        pa.field("baseline_distribution", pa.list_(pa.float64())),
        pa.field("n_personas", pa.int64()),
        pa.field("seeds", pa.list_(pa.int64())),
        pa.field("repeats", pa.int64()),
        pa.field("samples", pa.int64()),
        pa.field("parse_rate", pa.float64()),
        pa.field("letter_mass", pa.float64()),
    ]
)

CLUSTERS_SCHEMA = pa.schema(
    [
        pa.field("model", pa.string(), nullable=False),
        pa.field("questionnaire", pa.string(), nullable=False),
        pa.field("method", pa.string()),
        pa.field("k", pa.int64()),
        pa.field("silhouette", pa.float64()),
        pa.field("n_personas", pa.int64()),
        pa.field("n_items", pa.int64()),
        pa.field("n_items_used", pa.int64()),
        pa.field("explained_variance_pc1", pa.float64()),
        pa.field("explained_variance_pc2", pa.float64()),
        pa.field("sizes", pa.list_(pa.int64())),
        pa.field(
            "silhouette_by_k",
            pa.list_(pa.struct([("k", pa.int64()), ("silhouette", pa.float64())])),
        ),
        pa.field("ami", pa.list_(pa.struct([("attribute", pa.string()), ("ami", pa.float64())]))),
        pa.field("note", pa.string()),
    ]
)

ASSIGNMENTS_SCHEMA = pa.schema(
    [
        pa.field("model", pa.string(), nullable=False),
        pa.field("questionnaire", pa.string(), nullable=False),
        pa.field("persona_id", pa.string(), nullable=False),
        pa.field("cluster", pa.int64(), nullable=False),
        pa.field("pc1", pa.float64()),
        pa.field("pc2", pa.float64()),
    ]
)


def _ci(values: Any, end: int) -> float | None:
    if isinstance(values, list | tuple) and len(values) == 2:
        return values[end]
    return None


def metrics_rows(metrics: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Long form of the metrics dicts: one row per (model, questionnaire, level, group).

    ``level`` is ``overall`` (group ``overall``: means over dimensions),
    ``dimension`` (group = the value dimension) or a roll-up level of the
    questionnaire (e.g. ``basic``, group = the roll-up group).
    """
    rows: list[dict[str, Any]] = []
    for m in metrics:
        common = {
            "model": m["model"],
            "questionnaire": m["questionnaire"],
            "mode": m.get("mode") or None,
            "n_personas": m.get("n_personas"),
            "seeds": list(m.get("seeds") or []),
            "repeats": m.get("repeats"),
            "samples": m.get("samples"),
            "parse_rate": m.get("parse_rate"),
            "letter_mass": m.get("letter_mass"),
        }
        groups: list[tuple[str, str, Mapping[str, Any]]] = [
            ("overall", "overall", m.get("overall") or {})
        ]
        groups += [("dimension", d, v) for d, v in (m.get("dimensions") or {}).items()]
        for level, members in (m.get("levels") or {}).items():
            groups += [(level, g, v) for g, v in members.items()]
        for level, group, values in groups:
            row = {**common, "level": level, "group": group}
            for f in METRIC_FIELDS:
                row[f] = values.get(f)
            for f in CI_FIELDS:
                row[f"{f}_ci_low"] = _ci(values.get(f"{f}_ci"), 0)
                row[f"{f}_ci_high"] = _ci(values.get(f"{f}_ci"), 1)
            row["distribution"] = values.get("distribution")
            row["baseline_distribution"] = values.get("baseline_distribution")
            rows.append(row)
    return rows


def cluster_rows(clusters: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """One row per (model, questionnaire) cluster summary, nested fields as lists."""
    rows = []
    for c in clusters:
        ratios = list(c.get("explained_variance") or []) + [None, None]
        sizes = c.get("sizes") or {}
        rows.append(
            {
                "model": c["model"],
                "questionnaire": c["questionnaire"],
                "method": c.get("method"),
                "k": c.get("k"),
                "silhouette": c.get("silhouette"),
                "n_personas": c.get("n_personas"),
                "n_items": c.get("n_items"),
                "n_items_used": c.get("n_items_used"),
                "explained_variance_pc1": ratios[0],
                "explained_variance_pc2": ratios[1],
                "sizes": [int(sizes[k]) for k in sorted(sizes, key=lambda k: int(k))],
                "silhouette_by_k": [
                    {"k": int(k), "silhouette": v}
                    for k, v in sorted(
                        (c.get("silhouette_by_k") or {}).items(), key=lambda kv: int(kv[0])
                    )
                ],
                "ami": [{"attribute": a, "ami": v} for a, v in (c.get("ami") or {}).items()],
                "note": c.get("note"),
            }
        )
    return rows


def _arrow_type(values: list[Any]) -> pa.DataType:
    present = [v for v in values if v is not None]
    if present and all(isinstance(v, bool) for v in present):
        return pa.bool_()
    if present and all(isinstance(v, int) and not isinstance(v, bool) for v in present):
        return pa.int64()
    if present and all(isinstance(v, int | float) and not isinstance(v, bool) for v in present):
        return pa.float64()
    return pa.string()


def models_table(specs: Mapping[str, Mapping[str, Any]]) -> pa.Table:
    """Model specs as a table: one row per model, one column per spec field.

    Fields named like a secret (``*_key``, ``*token``, ...) are dropped (specs
    only ever name the environment variable that holds a key, ``api_key_env``);
    nested values become JSON strings and every string is redacted.
    """
    records = []
    for name in sorted(specs):
        spec = {k: v for k, v in specs[name].items() if not SECRET_FIELD.search(k)}
        spec.setdefault("name", name)
        records.append(
            {
                k: (json.dumps(v, sort_keys=True) if isinstance(v, dict | list) else v)
                for k, v in spec.items()
            }
        )
    keys = list(dict.fromkeys(["name", *(k for r in records for k in r)]))
    fields = []
    columns = {}
    for key in keys:
        values = [r.get(key) for r in records]
        typ = _arrow_type(values)
        if pa.types.is_string(typ):
            values = [None if v is None else redact(str(v)) for v in values]
        elif pa.types.is_floating(typ):
            values = [None if v is None else float(v) for v in values]
        fields.append(pa.field(key, typ, nullable=key != "name"))
        columns[key] = values
    schema = pa.schema(fields)
    return pa.Table.from_pydict(columns, schema=schema)


# --------------------------------------------------------------------------- dataset folder


@dataclass(frozen=True)
class TableConfig:
    """One ``datasets`` config: a name, the Parquet file inside the folder, a description."""

    name: str
    path: str
    description: str


def _parquet_rows(path: Path) -> int:
    return int(pq.ParquetFile(path).metadata.num_rows)


def build_dataset_folder(root: Path, out_dir: Path, params: Params) -> dict[str, Any]:
    """Build the Hub dataset repo folder ``out_dir`` from the project at ``root``.

    Reads personas, prompts, responses and parsed answers of every model in
    ``params.models``, the metrics, cluster summaries and assignments, model
    specs, figures and the leaderboard (each must exist: a missing one is a
    :class:`ConfigError` naming the file and the stage that makes it). The
    folder is built aside and swapped in, so files from an earlier run that no
    longer apply do not linger. Returns ``{"configs": {name: {"path", "rows"}},
    "files": [...]}``.
    """
    root = Path(root)
    out_dir = Path(out_dir)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    build = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.build-", dir=out_dir.parent))
    try:
        manifest = _fill_dataset_folder(root, build, params)
        _replace_dir(build, out_dir)
    except BaseException:
        shutil.rmtree(build, ignore_errors=True)
        raise
    manifest["files"] = [p.as_posix() for p in folder_files(out_dir)]
    return manifest


def _fill_dataset_folder(root: Path, folder: Path, params: Params) -> dict[str, Any]:
    model_names = [m.name for m in params.models]
    questionnaire_ids = list(params.prompts.questionnaires)
    slugs = model_slugs(model_names)
    data = folder / "data"
    configs: list[TableConfig] = []

    def add_copy(name: str, src: Path, rel: str, stage: str, description: str) -> None:
        _copy(_require(src, stage), folder / rel)
        configs.append(TableConfig(name, rel, description))

    add_copy(
        "personas",
        paths.personas_path(root),
        "data/personas/personas.parquet",
        "personas",
        "one row per persona: its World Values Survey attributes, seed and description",
    )
    add_copy(
        "prompts",
        paths.prompts_path(root),
        "data/prompts/prompts.parquet",
        "prompts",
        "one row per (condition, persona, item, repeat): the exact prompt sent",
    )
    for model in model_names:
        add_copy(
            f"responses_{slugs[model]}",
            paths.responses_path(model, root),
            f"data/responses/{model}.parquet",
            f"evaluate (model {model})",
            f"raw responses of {model}: text, option-letter probabilities, status",
        )
        add_copy(
            f"parsed_{slugs[model]}",
            paths.parsed_path(model, root),
            f"data/parsed/{model}.parquet",
            f"parse (model {model})",
            f"parsed answers of {model}: the answer distribution p_1..p_6 per prompt",
        )

    metrics, clusters, specs = load_current_inputs(root, model_names, questionnaire_ids)
    if not metrics:
        raise ConfigError(f"{paths.metrics_dir(root)}: no metrics; run the analyze stage first")

    rel = "data/metrics/metrics.parquet"
    write_table(pa.Table.from_pylist(metrics_rows(metrics), schema=METRICS_SCHEMA), folder / rel)
    configs.append(
        TableConfig(
            "metrics",
            rel,
            "per (model, questionnaire, level, group): "
            "inertia, steerability, top-2/top-1 with bootstrap CIs",
        )
    )
    for m in metrics:
        _write_json(m, data / "metrics" / "raw" / f"{m['model']}__{m['questionnaire']}.json")

    rel = "data/clusters/clusters.parquet"
    write_table(pa.Table.from_pylist(cluster_rows(clusters), schema=CLUSTERS_SCHEMA), folder / rel)
    configs.append(
        TableConfig(
            "clusters",
            rel,
            "per (model, questionnaire): number of persona "
            "clusters, silhouette, AMI with each persona attribute",
        )
    )
    assignments = []
    for c in clusters:
        src = paths.clusters_dir(root) / f"{c['model']}__{c['questionnaire']}.parquet"
        if src.exists():
            frame = pd.read_parquet(src)
            frame.insert(0, "questionnaire", c["questionnaire"])
            frame.insert(0, "model", c["model"])
            assignments.append(frame[[f.name for f in ASSIGNMENTS_SCHEMA]])
        _write_json(c, data / "clusters" / "raw" / f"{c['model']}__{c['questionnaire']}.json")
    frame = (
        pd.concat(assignments, ignore_index=True)
        if assignments
        else pd.DataFrame(columns=[f.name for f in ASSIGNMENTS_SCHEMA])
    )
    rel = "data/clusters/assignments.parquet"
    write_table(
        pa.Table.from_pandas(frame, schema=ASSIGNMENTS_SCHEMA, preserve_index=False), folder / rel
    )
    configs.append(
        TableConfig(
            "cluster_assignments",
            rel,
            "per (model, questionnaire, persona): cluster and PCA coordinates",
        )
    )

    rel = "data/models/models.parquet"
    write_table(models_table(specs), folder / rel)
    configs.append(TableConfig("models", rel, "the model specs (backend, model id, mode, ...)"))

    board_dir = paths.leaderboard_dir(root)
    _require(board_dir / "leaderboard.parquet", "leaderboard")
    for fmt in ("parquet", "csv", "json", "md"):
        src = board_dir / f"leaderboard.{fmt}"
        if src.exists():
            _copy(src, data / "leaderboard" / src.name)
    configs.append(
        TableConfig(
            "leaderboard",
            "data/leaderboard/leaderboard.parquet",
            "one row per (model, questionnaire), ranked",
        )
    )

    for png in sorted(paths.plots_dir(root).glob("*__*__*.png")):
        if png.name.split("__", 1)[0] in model_names:
            _copy(png, data / "plots" / png.name)

    for c in configs:
        if not CONFIG_NAME_PATTERN.match(c.name):
            raise ValueError(f"dataset config name {c.name!r} is not valid")
    rows = {c.name: _parquet_rows(folder / c.path) for c in configs}
    leaderboard = pd.read_parquet(board_dir / "leaderboard.parquet")
    questionnaires = load_questionnaires(questionnaire_ids, root)
    card = dataset_card(params, configs, rows, leaderboard, questionnaires)
    write_text_atomic(card, folder / "README.md")
    write_text_atomic(license_text(questionnaires), folder / "LICENSE.md")
    return {"configs": {c.name: {"path": c.path, "rows": rows[c.name]} for c in configs}}


def _write_json(data: Any, path: Path) -> None:
    write_text_atomic(redact(json.dumps(data, indent=2, sort_keys=True)) + "\n", path)


def dataset_card(
    params: Params,
    configs: list[TableConfig],
    rows: Mapping[str, int],
    leaderboard: pd.DataFrame,
    questionnaires: Mapping[str, Any],
) -> str:
    """README.md of the dataset repo: YAML metadata, leaderboard, contents, method, citations."""
    repo = params.hub.dataset_repo or "<org>/<name>"
    meta: dict[str, Any] = {
        "license": "other",
        "license_name": "value-inertia-research-use",
        "license_link": "LICENSE.md",
        "pretty_name": DATASET_TITLE,
        "language": ["en"],
        "task_categories": ["question-answering", "text-generation"],
        "tags": [
            "llm-evaluation",
            "values",
            "role-play",
            "personas",
            "psychometrics",
            "moral-foundations",
            "schwartz-values",
            "value-inertia",
        ],
        "size_categories": [size_category(max(rows.values(), default=0))],
        "configs": [
            {
                "config_name": c.name,
                "data_files": [{"split": SPLIT, "path": c.path}],
                **({"default": True} if c.name == "leaderboard" else {}),
            }
            for c in configs
        ],
    }
    p = params
    models = "\n".join(
        f"| {m.name} | {m.backend} | {m.model} | {m.mode} | {m.api} | {m.temperature:g} |"
        for m in p.models
    )
    contents = "\n".join(
        f"| `{c.name}` | {rows[c.name]} | `{c.path}` | {c.description} |" for c in configs
    )
    q_lines = "\n".join(
        f"- **{q.name}** (`{qid}`): {q.citation}" for qid, q in questionnaires.items()
    )
    params_yaml = yaml.safe_dump(p.model_dump(mode="json", by_alias=True), sort_keys=False)
    body = f"""
# {DATASET_TITLE}

How stable are a language model's value orientations when it role-plays very
different people? Each model answered value questionnaires while playing many
random personas (World Values Survey attributes), and once without a persona.
This dataset holds every prompt, every response, the parsed answers, the
metrics and the leaderboard, made with the *role-play-at-scale* method of
Lee, Cho & Lee (2024), [arXiv:2408.09049](https://arxiv.org/abs/2408.09049).

## Leaderboard

{to_markdown(leaderboard, heading_level=3)}
{legend(p.leaderboard.rank_by)}

## What is in it

| config | rows | file | contents |
|---|---|---|---|
{contents}

Figures of the analysis are in `data/plots/` and the metrics and cluster
summaries as JSON in `data/metrics/raw/` and `data/clusters/raw/`.

## Load it

```python
from datasets import load_dataset

leaderboard = load_dataset("{repo}", "leaderboard", split="{SPLIT}")
personas = load_dataset("{repo}", "personas", split="{SPLIT}")
parsed = load_dataset("{repo}", "parsed_{model_slugs([p.models[0].name])[p.models[0].name]}", \
split="{SPLIT}")
```

## How it was made

{len(p.personas.seeds)} seed(s) ({", ".join(str(s) for s in p.personas.seeds)}) x
{p.personas.n} personas; questionnaires: {", ".join(p.prompts.questionnaires)};
each (persona, item) asked {p.prompts.repeats} time(s), each bare item (baseline)
{p.prompts.baseline_repeats} time(s).

| model | backend | model id | mode | api | temperature |
|---|---|---|---|---|---|
{models}

*logprobs* mode reads the probability of each option letter from one request;
*sample* mode parses free-text answers. Per value dimension `d`, `p_d` is the
distribution over the six options of all persona answers to the items of `d`:

- inertia `I(d) = 1 - H(p_d) / log2(6)` (1: every answer the same);
- steerability `S(d) = JSD(p_d^baseline, p_d^persona)`, log base 2, in [0, 1];
- top-2 concentration: the two largest entries of `p_d`; top-1 share;
- bootstrap confidence intervals over personas.

Questionnaires:

{q_lines}

Parameters (hash `{params_hash(p.model_dump(mode="json", by_alias=True))}`):

```yaml
{params_yaml.rstrip()}
```

## Citation

```bibtex
{CITATIONS_BIBTEX}
```

## License

See [LICENSE.md](LICENSE.md): the questionnaire items are the copyright of
their authors and are reproduced for non-commercial research only.
"""
    return redact(_front_matter(meta) + body)


def license_text(questionnaires: Mapping[str, Any]) -> str:
    parts = [
        "# License",
        "",
        "The generated data in this repository (personas, metrics, clusters, leaderboard, "
        "figures) is released under CC BY 4.0. Model responses are also subject to the terms "
        "of the model that produced them.",
        "",
        "Prompts and responses contain the items of these questionnaires, whose rights stay "
        "with their authors:",
        "",
    ]
    for qid, q in questionnaires.items():
        parts += [f"- **{q.name}** (`{qid}`): {q.license} Cite: {q.citation}"]
    return "\n".join(parts) + "\n"


# --------------------------------------------------------------------------- space folder


def app_source(root: Path) -> Path:
    """``leaderboard/app.py`` of the project (or of this source checkout)."""
    for candidate in (
        Path(root) / "leaderboard" / "app.py",
        Path(__file__).resolve().parents[2] / "leaderboard" / "app.py",
    ):
        if candidate.exists():
            return candidate
    raise ConfigError(f"{Path(root) / 'leaderboard' / 'app.py'}: not found")


def _version(package: str) -> str | None:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return None


def space_readme(dataset_repo: str | None = None) -> str:
    meta: dict[str, Any] = {
        "title": SPACE_TITLE,
        "emoji": "🧭",
        "colorFrom": "indigo",
        "colorTo": "green",
        "sdk": "gradio",
        "sdk_version": _version("gradio") or "5.0.0",
        "app_file": "app.py",
        "pinned": False,
        "license": "apache-2.0",
        "short_description": SPACE_DESCRIPTION,
    }
    if dataset_repo:
        meta["datasets"] = [dataset_repo]
    data_line = (
        f"The data: [{dataset_repo}](https://huggingface.co/datasets/{dataset_repo})."
        if dataset_repo
        else "The data comes with the Space (`data/leaderboard/`, `data/plots/`)."
    )
    body = f"""
# {SPACE_TITLE}

How stable are a language model's value orientations when it role-plays very
different personas? The leaderboard ranks models by *value inertia* (method:
Lee, Cho & Lee 2024, [arXiv:2408.09049](https://arxiv.org/abs/2408.09049)).
{data_line}

Run it locally: `pip install gradio pandas pyarrow huggingface_hub` and
`python app.py` (`--dataset <org>/<name>` reads a Hub dataset instead).
"""
    return _front_matter(meta) + body


def build_space_folder(
    root: Path, out_dir: Path, dataset_repo: str | None = None
) -> dict[str, Any]:
    """Build the Hub Space folder ``out_dir``: app.py, requirements.txt, README.md, data.

    The app finds ``data/leaderboard/leaderboard.parquet`` and ``data/plots``
    next to itself; ``app_config.json`` names the dataset repo (for links and
    as a fallback source). Returns ``{"files": [...]}``.
    """
    root = Path(root)
    out_dir = Path(out_dir)
    board = _require(paths.leaderboard_dir(root) / "leaderboard.parquet", "leaderboard")
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    build = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.build-", dir=out_dir.parent))
    try:
        _copy(app_source(root), build / "app.py")
        requirements = [
            f"pandas>={_version('pandas') or '2.2'}",
            f"pyarrow>={_version('pyarrow') or '15'}",
            f"huggingface_hub>={_version('huggingface_hub') or '0.24'}",
        ]
        write_text_atomic("\n".join(requirements) + "\n", build / "requirements.txt")
        write_text_atomic(space_readme(dataset_repo), build / "README.md")
        write_text_atomic(
            json.dumps({"dataset_repo": dataset_repo}, indent=2) + "\n", build / "app_config.json"
        )
        _copy(board, build / "data" / "leaderboard" / "leaderboard.parquet")
        models = set(pd.read_parquet(board, columns=["model"])["model"].astype(str))
        for png in sorted(paths.plots_dir(root).glob("*__*__*.png")):
            if png.name.split("__", 1)[0] in models:
                _copy(png, build / "data" / "plots" / png.name)
        _replace_dir(build, out_dir)
    except BaseException:
        shutil.rmtree(build, ignore_errors=True)
        raise
    return {"files": [p.as_posix() for p in folder_files(out_dir)]}


# --------------------------------------------------------------------------- publish


def _remote_files(api: Any, repo_id: str, repo_type: str) -> dict[str, Any]:
    from huggingface_hub.errors import EntryNotFoundError, RevisionNotFoundError
    from huggingface_hub.hf_api import RepoFile

    try:
        entries = list(api.list_repo_tree(repo_id, repo_type=repo_type, recursive=True))
    except (EntryNotFoundError, RevisionNotFoundError):
        return {}  # a repository without commits
    return {e.path: e for e in entries if isinstance(e, RepoFile)}


def _unchanged(remote: Any, local: Path) -> bool:
    if remote is None or remote.size != local.stat().st_size:
        return False
    if remote.lfs is not None:
        return remote.lfs.sha256 == sha256_file(local)
    return remote.blob_id == git_blob_sha1(local)


def push_folder(
    api: Any,
    folder: Path,
    repo_id: str,
    repo_type: str,
    *,
    private: bool,
    commit_message: str,
) -> dict[str, Any]:
    """Make ``repo_id`` hold exactly the files of ``folder`` with at most one commit.

    The repo is created if needed (``exist_ok``). Local files are compared with
    the remote tree (git blob id, or the LFS sha256); only new or changed files
    are uploaded and remote files that are no longer in the folder are deleted
    (``.gitattributes`` is kept). With nothing to change no commit is made.
    """
    from huggingface_hub import CommitOperationAdd, CommitOperationDelete

    extra = {"space_sdk": "gradio"} if repo_type == "space" else {}
    api.create_repo(repo_id, repo_type=repo_type, private=private, exist_ok=True, **extra)
    remote = _remote_files(api, repo_id, repo_type)
    local = {p.as_posix(): folder / p for p in folder_files(folder)}
    changed = [rel for rel, path in local.items() if not _unchanged(remote.get(rel), path)]
    deleted = sorted(p for p in remote if p not in local and p != ".gitattributes")
    result: dict[str, Any] = {"uploaded": changed, "deleted": deleted}
    if not changed and not deleted:
        return {**result, "status": "unchanged", "commit": None, "commit_url": None}
    operations: list[Any] = [
        CommitOperationAdd(path_in_repo=rel, path_or_fileobj=str(local[rel])) for rel in changed
    ]
    operations += [CommitOperationDelete(path_in_repo=rel) for rel in deleted]
    with warnings.catch_warnings():
        # The Space deliberately carries the leaderboard's Parquet file.
        warnings.filterwarnings("ignore", message=r".*commit a data file", category=UserWarning)
        info = api.create_commit(
            repo_id, operations, commit_message=commit_message, repo_type=repo_type
        )
    return {**result, "status": "committed", "commit": info.oid, "commit_url": info.commit_url}


def publish(root: Path, params: Params) -> dict[str, Any]:
    """Push ``data/hub/dataset`` and ``data/hub/space`` (or report what would be pushed).

    Pushes a folder when ``HF_TOKEN`` is set and its repo id is in params
    (``hub.dataset_repo`` / ``hub.space_repo``), with ``hub.private`` for new
    repos and ``HF_ENDPOINT`` honoured. Writes ``data/hub/publish_report.json``
    (repo ids, files with size and sha256, status per repo: ``dry run``,
    ``committed`` or ``unchanged``) and returns the same dict. A failed push
    writes the report with the (redacted) error and raises :class:`PublishError`.
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
    api = None
    if token and any(repo for _, _, repo in targets):
        from huggingface_hub import HfApi

        api = HfApi(token=token, endpoint=endpoint)
    failure: str | None = None
    for repo_type, folder, repo_id in targets:
        if not folder.is_dir():
            raise ConfigError(f"{folder}: not found; run the publish stage's build step first")
        files = file_manifest(folder)
        entry: dict[str, Any] = {
            "repo_type": repo_type,
            "repo_id": repo_id,
            "private": params.hub.private,
            "folder": _rel(folder, root),
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
                entry.update(
                    push_folder(
                        api,
                        folder,
                        repo_id,
                        repo_type,
                        private=params.hub.private,
                        commit_message=f"value-inertia: publish {repo_type}",
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
