"""The dataset card (README.md) and LICENSE.md of the Hub dataset.

The card is written from the dataset folder itself (its tables and
``data/manifest.json``), so that after a merge it describes the whole board,
not one run: the leaderboard per questionnaire and protocol, what the numbers
mean (from :mod:`value_inertia.core.registry`), the rating scale, the
protocols, every config with a column dictionary, the models and their
licences, limitations, how to load a release, citations and the licence.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow.parquet as pq

import value_inertia.analysis  # noqa: F401  (its modules register the metrics read here)
from value_inertia.core.redaction import redact
from value_inertia.core.registry import get, legend_markdown, names
from value_inertia.core.table_io import write_text_atomic
from value_inertia.publishing.folders import front_matter, model_slugs, size_category

SPLIT = "train"
MANIFEST = "data/manifest.json"
DATASET_TITLE = "Value inertia: LLM value orientations across role-played personas"

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
}

@misc{haerpfer2022wvs7,
  title     = {World Values Survey: Round Seven - Country-Pooled Datafile Version 6.0},
  author    = {Haerpfer, Christian and Inglehart, Ronald and Moreno, Alejandro and Welzel, Christian
               and Kizilova, Kseniya and Diez-Medrano, Jaime and Lagos, Marta and Norris, Pippa and
               Ponarin, Eduard and Puranen, Bi},
  publisher = {JD Systems Institute \\& WVSA Secretariat},
  address   = {Madrid, Spain \\& Vienna, Austria},
  year      = {2022},
  doi       = {10.14281/18241.24}
}"""

# Column -> meaning, for the column dictionary (columns not listed read "see the method").
COLUMNS: dict[str, str] = {
    "rank": "rank within (questionnaire, protocol, variant); 1 = most value-inert",
    "rank_label": "rank with ties: '1-2' when the inertia CIs of a group overlap",
    "tie_group": "rows with the same number cannot be told apart by their inertia CI",
    "model": "the model's display name",
    "model_key": "model identity: name|public id|revision|quantisation",
    "public_id": "public model id (e.g. a Hub repo id), when given",
    "revision": "model revision, when given",
    "quantization": "quantisation of the weights, when given",
    "license": "the model's licence, where known",
    "name": "the model's display name",
    "questionnaire": "questionnaire id (mfq30, pvqrr)",
    "variant": "prompt variant (original, shuffled, ...)",
    "protocol_hash": "hash of everything that changes what is measured; compare within one",
    "protocol": "the protocol's parameters (JSON)",
    "inertia_ci_low": "lower bound of the bootstrap CI of overall inertia",
    "inertia_ci_high": "upper bound of the bootstrap CI of overall inertia",
    "level": "overall, dimension, or a roll-up level (PVQ-RR basic / higher_order)",
    "group": "the dimension or roll-up group ('overall' for level overall)",
    "distribution": "pooled answer distribution over ratings 1..6 (persona condition)",
    "baseline_distribution": "answer distribution without a persona",
    "mean_rating": "expected rating 1-6 of the pooled distribution",
    "baseline_mean_rating": "expected rating 1-6 without a persona",
    "seed_stability": "mean Pearson r of per-item mean ratings between persona seeds",
    "design": "personas per seed x seeds x repeats",
    "n_personas": "number of personas",
    "n_seeds": "number of persona seeds",
    "personas_per_seed": "personas per seed",
    "seeds": "persona seeds",
    "repeats": "times each (persona, item) was asked",
    "samples": "samples per request (sample mode)",
    "clusters": "number of persona clusters chosen by silhouette",
    "silhouette": "silhouette of the chosen clustering",
    "backend": "embedded (llama.cpp in-process) or openai (an OpenAI-compatible API)",
    "mode": "logprobs (option-letter probabilities) or sample (parsed free text)",
    "api": "chat or completions",
    "temperature": "sampling temperature",
    "max_tokens": "answer length limit",
    "date": "when the leaderboard rows were built",
    "params_hash": "hash of the run's parameters",
    "contributor": "Hub user who published the row",
    "git_commit": "git commit of the pipeline that made the row",
    "package_version": "value-inertia version that made the row",
    "mlflow_run_id": "MLflow run of the analysis, when known",
    "published_at": "publication date (UTC)",
    "persona_id": "stable persona id (hash of seed, index and attributes)",
    "prompt_id": "stable prompt id",
    "condition": "persona or baseline (no persona)",
    "item": "item number in the questionnaire",
    "dimension": "value dimension of the item",
    "catch": "attention-check item (not scored)",
    "rating": "parsed rating 1-6 (A=1 ... F=6)",
    "text": "the model's raw answer",
    "status": "request outcome",
    "cluster": "persona cluster",
    "pc1": "first principal component of the persona x item matrix",
    "pc2": "second principal component",
    "k": "number of clusters",
    "method": "clustering method",
    "ami": "adjusted mutual information of clusters with each persona attribute",
    "silhouette_by_k": "silhouette for each number of clusters tried",
    "sizes": "cluster sizes",
}


def column_meaning(column: str) -> str:
    """The column's meaning: from :data:`COLUMNS`, else from the metric registry."""
    if column in COLUMNS:
        return COLUMNS[column]
    if column in names():
        spec = get(column)
        return f"{spec.label} ({spec.direction}): {spec.description}"
    return "see the method"


FIXED_CONFIGS: list[tuple[str, str, str]] = [
    (
        "leaderboard",
        "data/leaderboard/leaderboard.parquet",
        "one row per result (model, questionnaire, variant, protocol), ranked, with provenance",
    ),
    (
        "metrics",
        "data/metrics/metrics.parquet",
        "long format: one row per (result, level, group) with CIs and distributions",
    ),
    ("models", "data/models/models.parquet", "the models: public id, revision, licence, mode"),
    ("personas", "data/personas/personas.parquet", "one row per persona (WVS attributes)"),
    ("prompts", "data/prompts/prompts.parquet", "one row per prompt sent"),
    ("clusters", "data/clusters/clusters.parquet", "persona clusters per result"),
    (
        "quality",
        "data/quality/quality.parquet",
        "quality report per result: alpha and omega, position bias, mode agreement, verdict",
    ),
    (
        "cluster_assignments",
        "data/clusters/assignments.parquet",
        "cluster and PCA coordinates per (result, persona)",
    ),
]
PER_MODEL = {"responses": "raw responses of {m}", "parsed": "parsed answers (p_1..p_6) of {m}"}

LIMITATIONS = """\
- **What inertia shows:** how little the *pooled* answer distribution of a value
  dimension moves across personas. It does not show that the model holds these
  values, nor that its behaviour outside a questionnaire follows them.
- **Modes are not comparable:** *logprobs* reads option-letter probabilities
  from one request; *sample* parses free-text answers. Rank only within one
  protocol (the `protocol_hash` column), which includes the mode.
- **Small n:** with few personas, seeds or repeats the bootstrap CIs are wide
  and ranks within a tie group (`rank_label` like `1-3`) cannot be told apart.
- **Parsing and letter mass:** a low `parse_rate` or `letter_mass` means the
  model often did not answer with an option; its numbers describe the answers
  it did give.
- **PVQ-RR roll-ups:** the 10 basic values leave out Humility and Face, the
  border values of Schwartz's refined theory (Humility between
  Conformity/Tradition and Benevolence/Universalism, Face between Power and
  Security); the role-play paper's code
  counts Humility under Tradition, so its 10-value Tradition is not ours. Both
  still have their own rows at the `dimension` level.
- **Personas** are drawn uniformly from World Values Survey categories, not
  from a real population."""


def manifest_rows(folder: Path) -> dict[str, int]:
    """``{path: rows}`` of the dataset's Parquet tables, from ``data/manifest.json``."""
    path = Path(folder) / MANIFEST
    if not path.exists():
        return {}
    return {str(k): int(v) for k, v in json.loads(path.read_text(encoding="utf-8")).items()}


def write_manifest(folder: Path, rows: Mapping[str, int]) -> None:
    write_text_atomic(json.dumps(dict(sorted(rows.items())), indent=2) + "\n", folder / MANIFEST)


def configs_of(rows: Mapping[str, int]) -> list[tuple[str, str, str]]:
    """``(config name, path, description)`` of every table in the manifest, fixed ones first."""
    out = [c for c in FIXED_CONFIGS if c[1] in rows]
    for kind, text in PER_MODEL.items():
        files = sorted(p for p in rows if p.startswith(f"data/{kind}/"))
        slugs = model_slugs(Path(p).stem for p in files)
        for path in files:
            name = Path(path).stem
            out.append((f"{kind}_{slugs[name]}", path, text.format(m=name)))
    return out


def _fmt(value: Any, name: str | None = None) -> str:
    if value is None or (isinstance(value, float) and pd.isna(value)):
        return "-"
    if name is not None and name in names():
        return get(name).format(value)
    if isinstance(value, float):
        return f"{value:.3f}"
    return str(value).replace("|", "\\|")


def leaderboard_markdown(board: pd.DataFrame) -> str:
    if board.empty:
        return "_No results yet._"
    parts = []
    by = [c for c in ("questionnaire", "protocol_hash", "variant") if c in board.columns]
    for key, group in board.groupby(by, sort=True):
        q, protocol, variant = (list(key) + ["", "", ""])[:3]
        parts.append(f"### {q} · protocol `{protocol}` · {variant}")
        header = ["rank", "model", "inertia [CI]", "steerability", "top-2", "parse rate", "mode"]
        lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        for _, r in group.sort_values("rank").iterrows():
            ci = ""
            if pd.notna(r.get("inertia_ci_low")) and pd.notna(r.get("inertia_ci_high")):
                lo, hi = _fmt(r["inertia_ci_low"], "inertia"), _fmt(r["inertia_ci_high"], "inertia")
                ci = f" [{lo}, {hi}]"
            cells = [
                _fmt(r.get("rank_label") or r.get("rank")),
                _fmt(r["model"]),
                _fmt(r.get("inertia"), "inertia") + ci,
                _fmt(r.get("steerability"), "steerability"),
                _fmt(r.get("top2"), "top2"),
                _fmt(r.get("parse_rate"), "parse_rate"),
                _fmt(r.get("mode")),
            ]
            lines.append("| " + " | ".join(cells) + " |")
        parts.append("\n".join(lines))
    return "\n\n".join(parts)


def protocols_markdown(board: pd.DataFrame) -> str:
    if board.empty or "protocol" not in board.columns:
        return "_None yet._"
    parts = []
    for digest, group in board.groupby("protocol_hash", sort=True):
        fields = json.loads(group["protocol"].iloc[0] or "{}")
        models = ", ".join(sorted(set(group["model"].astype(str))))
        text = json.dumps(fields, indent=2, sort_keys=True)
        parts.append(f"- `{digest}` ({models}):\n\n```json\n{text}\n```")
    return "\n".join(parts)


def column_dictionary(folder: Path, configs: list[tuple[str, str, str]]) -> str:
    parts = []
    seen_per_model: set[str] = set()
    for name, path, _ in configs:
        kind = name.split("_", 1)[0]
        if kind in PER_MODEL and kind in seen_per_model:
            continue
        file = folder / path
        if not file.exists():
            continue
        columns = pq.read_schema(file).names
        title = f"`{kind}_<model>`" if kind in PER_MODEL else f"`{name}`"
        seen_per_model.add(kind)
        rows = [f"| `{c}` | {column_meaning(c)} |" for c in columns]
        parts.append(f"**{title}**\n\n| column | meaning |\n|---|---|\n" + "\n".join(rows))
    return "\n\n".join(parts)


def models_markdown(folder: Path) -> str:
    path = folder / "data/models/models.parquet"
    if not path.exists():
        return "_None._"
    models = pd.read_parquet(path)
    lines = [
        "| model | public id | revision | quantisation | licence | backend | mode |",
        "|---|---|---|---|---|---|---|",
    ]
    for _, r in models.sort_values("name").iterrows():
        cells = [
            r.get(c)
            for c in ("name", "public_id", "revision", "quantization", "license", "backend", "mode")
        ]
        cells[4] = cells[4] or "unknown (see the model's own terms)"
        lines.append("| " + " | ".join(_fmt(c) for c in cells) + " |")
    return "\n".join(lines)


def dataset_card(
    folder: Path,
    questionnaires: Mapping[str, Any],
    repo_id: str | None,
    release_tag: str | None = None,
) -> str:
    """README.md of the dataset repo, from the tables in ``folder``."""
    folder = Path(folder)
    repo = repo_id or "<org>/<name>"
    rows = manifest_rows(folder)
    configs = configs_of(rows)
    board_path = folder / "data/leaderboard/leaderboard.parquet"
    board = pd.read_parquet(board_path) if board_path.exists() else pd.DataFrame()
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
                "config_name": name,
                "data_files": [{"split": SPLIT, "path": path}],
                **({"default": True} if name == "leaderboard" else {}),
            }
            for name, path, _ in configs
        ],
    }
    contents = "\n".join(
        f"| `{name}` | {rows.get(path, '-')} | `{path}` | {text} |" for name, path, text in configs
    )
    q_lines = "\n".join(
        f"- **{q.name}** (`{qid}`): {q.citation}" for qid, q in questionnaires.items()
    )
    revision = release_tag or "<tag>"
    release = (
        f"This revision is the release `{release_tag}`."
        if release_tag
        else "Each push is tagged `v<package version>-<protocol>-<UTC time>`."
    )
    body = f"""
# {DATASET_TITLE}

How stable are a language model's value orientations when it role-plays very
different people? Each model answered value questionnaires while playing many
random personas (World Values Survey attributes), and once without a persona.
Made with the *role-play-at-scale* method of Lee, Cho & Lee (2024),
[arXiv:2408.09049](https://arxiv.org/abs/2408.09049). Results accumulate: each
publication replaces only its own (model, questionnaire, protocol) rows.

## Leaderboard

Ranked within one questionnaire, protocol and prompt variant; a rank like `1-2`
is a tie group (overlapping inertia CIs).

{leaderboard_markdown(board)}

## What the numbers mean

{legend_markdown()}

**Rating scale:** every answer is a rating from **1 to 6** (option A = 1 ...
F = 6). MFQ-30 is often published on a 0-5 scale: subtract 1 to compare.
Distributions list the shares of ratings 1..6.

## Protocols

{protocols_markdown(board)}

## Load it

{release} Load exactly this board (a paper should cite a tag):

```python
from datasets import load_dataset

board = load_dataset("{repo}", "leaderboard", split="{SPLIT}", revision="{revision}")
metrics = load_dataset("{repo}", "metrics", split="{SPLIT}", revision="{revision}")
```

`data/metric_registry.json` describes every metric (name, label, direction,
description, formula); figures are in `data/plots/`.

## What is in it

| config | rows | file | contents |
|---|---|---|---|
{contents}

### Column dictionary

{column_dictionary(folder, configs)}

## Models

{models_markdown(folder)}

## Limitations

{LIMITATIONS}

## Sources

{q_lines}
- **World Values Survey** wave 7 (Haerpfer et al. 2022): the persona attributes
  and their categories.

```bibtex
{CITATIONS_BIBTEX}
```

## License

See [LICENSE.md](LICENSE.md): the questionnaire items are the copyright of
their authors and are reproduced for non-commercial research only; model
responses are also subject to each model's licence (table above).
"""
    return redact(front_matter(meta) + body)


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


def write_card(
    folder: Path,
    questionnaires: Mapping[str, Any],
    repo_id: str | None,
    release_tag: str | None = None,
) -> None:
    write_text_atomic(
        dataset_card(folder, questionnaires, repo_id, release_tag), Path(folder) / "README.md"
    )
    write_text_atomic(license_text(questionnaires), Path(folder) / "LICENSE.md")
