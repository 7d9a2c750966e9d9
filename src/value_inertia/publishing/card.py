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

import value_inertia.analysis  # noqa: F401  (its modules register the metrics read here)
from value_inertia.core.redaction import redact
from value_inertia.core.registry import get, legend_markdown, names, shown
from value_inertia.core.table_io import write_text_atomic
from value_inertia.publishing import card_columns
from value_inertia.publishing.board.columns import ci_metrics
from value_inertia.publishing.configs import config_rows, configs_of, model_names_of
from value_inertia.publishing.folders import front_matter, size_category

SPLIT = "train"
# The dataset's one licence: the card's metadata and LICENSE.md both state it. Non-commercial,
# because the prompts and responses contain questionnaire items reproduced for research only.
LICENSE_ID = "cc-by-nc-4.0"
LICENSE_NAME = "Creative Commons Attribution-NonCommercial 4.0 International (CC BY-NC 4.0)"
LICENSE_URL = "https://creativecommons.org/licenses/by-nc/4.0/"
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

LIMITATIONS = """\
- **What inertia shows:** how little the *pooled* answer distribution of a value
  dimension moves across personas. It does not show that the model holds these
  values, nor that its behaviour outside a questionnaire follows them.
- **Modes are not comparable:** *logprobs* reads option-letter probabilities
  from one request; *sample* parses free-text answers. Rank only within one
  protocol (the `protocol_hash` column), which includes the mode.
- **Small n:** with few personas, seeds or repeats the bootstrap CIs are wide
  and ranks within a tie group (`rank_label` like `1-3`) cannot be told apart.
  A result with fewer than 30 personas is not ranked at all (`rank_label`
  "not ranked (n = 2)"): its CIs do not reach their coverage.
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


def _fmt(value: Any, name: str | None = None) -> str:
    if value is None or (isinstance(value, float) and pd.isna(value)):
        return "-"
    if name is not None and name in names():
        return get(name).format(value)
    if isinstance(value, float):
        return f"{value:.3f}"
    return str(value).replace("|", "\\|")


def _ci(r: pd.Series, name: str) -> str:
    """`` [low, high]`` of metric ``name`` on a board row ("" without its CI)."""
    lo, hi = r.get(f"{name}_ci_low"), r.get(f"{name}_ci_high")
    if lo is None or hi is None or pd.isna(lo) or pd.isna(hi):
        return ""
    return f" [{_fmt(lo, name)}, {_fmt(hi, name)}]"


def leaderboard_markdown(board: pd.DataFrame) -> str:
    """The board per (questionnaire, protocol, variant): rank, model, the registry's
    metrics shown by default (the CI beside those the board has one of), mode."""
    if board.empty:
        return "_No results yet._"
    metrics, with_ci = shown(), ci_metrics()
    parts = []
    by = [c for c in ("questionnaire", "protocol_hash", "variant") if c in board.columns]
    for key, group in board.groupby(by, sort=True):
        q, protocol, variant = (list(key) + ["", "", ""])[:3]
        parts.append(f"### {q} · protocol `{protocol}` · {variant}")
        header = ["rank", "model"]
        header += [f"{get(n).label.lower()}{' [CI]' if n in with_ci else ''}" for n in metrics]
        header += ["mode"]
        lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        for _, r in group.sort_values("rank").iterrows():
            cells = [_fmt(r.get("rank_label") or r.get("rank")), _fmt(r["model"])]
            cells += [_fmt(r.get(n), n) + (_ci(r, n) if n in with_ci else "") for n in metrics]
            cells.append(_fmt(r.get("mode")))
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
    configs = configs_of(rows, model_names_of(folder))
    board_path = folder / "data/leaderboard/leaderboard.parquet"
    board = pd.read_parquet(board_path) if board_path.exists() else pd.DataFrame()
    meta: dict[str, Any] = {
        "license": LICENSE_ID,
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
        f"| `{name}` | {config_rows(rows, path)} | `{path}` | {text} |"
        for name, path, text in configs
    )
    q_lines = "\n".join(
        f"- **{q.name}** (`{qid}`): {q.citation}" for qid, q in questionnaires.items()
    )
    revision = release_tag or "<tag>"
    release = (
        f"This revision is the release `{release_tag}`."
        if release_tag
        else "Each push is tagged `v<package version>-<protocols>-<digest>`; the tag message "
        "lists the protocols."
    )
    body = f"""
# {DATASET_TITLE}

How stable are a language model's value orientations when it role-plays very
different people? Each model answered value questionnaires while playing many
random personas (World Values Survey attributes), and once without a persona.
Made with the *role-play-at-scale* method of Lee, Cho & Lee (2024),
[arXiv:2408.09049](https://arxiv.org/abs/2408.09049). Results accumulate: each
publication replaces only its own (model identity, questionnaire, variant, protocol) rows.
A model's identity (`model_key`) is its weights (the sha256 of its GGUF file) or the model
it was served as (a hash of the served id, revision and public id), never its display
name; its answers are in `data/<responses|parsed>/<model_key>/`, one file per
questionnaire, variant and protocol.

## Leaderboard

Ranked within one questionnaire, protocol and prompt variant; a rank like `1-2`
is a tie group (overlapping inertia CIs); "not ranked (n = 2)": fewer than 30
personas, numbers shown without a rank.

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

{card_columns.column_dictionary(folder, configs)}

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

{LICENSE_NAME} ([LICENSE.md](LICENSE.md)). The questionnaire items are the
copyright of their authors and are reproduced for non-commercial research only;
model responses are also subject to each model's licence (table above).
"""
    return redact(front_matter(meta) + body)


def license_text(questionnaires: Mapping[str, Any]) -> str:
    """LICENSE.md: the dataset's one licence (:data:`LICENSE_ID`, as in the card's metadata),
    and the third-party rights it does not override."""
    parts = [
        "# License",
        "",
        f"This dataset (licence id `{LICENSE_ID}`) is released under the {LICENSE_NAME}: "
        f"<{LICENSE_URL}>. Use it for non-commercial purposes and credit it as the citation "
        "in README.md says.",
        "",
        "What the licence cannot grant:",
        "",
        "- Model responses are also subject to the terms of the model that produced them "
        "(the models table names each model's licence where known).",
        "- Prompts and responses contain the items of these questionnaires, whose rights stay "
        "with their authors; they are reproduced for non-commercial research:",
        "",
    ]
    for qid, q in questionnaires.items():
        parts += [f"  - **{q.name}** (`{qid}`): {q.license} Cite: {q.citation}"]
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
