"""The dataset card's column dictionary: what every column of every config means.

Metric columns are described by the metric registry, families of columns by
:data:`COLUMN_PATTERNS`, persona attributes by the persona schema, the rest by
:data:`COLUMNS`. The dataset build refuses a column nothing describes
(:func:`undescribed_columns`), so the card never says "see the method".
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping
from pathlib import Path

import pyarrow.parquet as pq

import value_inertia.analysis  # noqa: F401  (its modules register the metrics read here)
from value_inertia.core.registry import get, names
from value_inertia.publishing.configs import PER_MODEL, config_files, configs_of, model_names_of

# Column -> meaning, for the column dictionary. Metric columns come from the metric
# registry, families of columns from COLUMN_PATTERNS, persona attributes from the
# persona schema; a column none of these describes stops the dataset build
# (:func:`undescribed_columns`), so the card never says "see the method".
COLUMNS: dict[str, str] = {
    "rank": "rank within (questionnaire, protocol, variant, CI level); 1 = most value-inert; "
    "null below 30 personas",
    "rank_label": "rank with ties: '1-2' when the inertia CIs of a group overlap; "
    "'not ranked (n = 2)' below 30 personas",
    "tie_group": "rows with the same number cannot be told apart by their inertia CI",
    "model": "the model's display name (a label: the identity is model_key)",
    "model_key": "model identity: weights-<sha256 of the GGUF weights> (embedded), "
    "served-<hash of the served id, revision and public id> (an API), or declared-<hash of "
    "the declared model id> (embedded, weights not recorded); renaming keeps it",
    "identity": "what model_key was made from: weights, served or declared",
    "weights_sha256": "sha256 of the embedded model's GGUF weights (empty for an API model)",
    "public_id": "public model id (e.g. a Hub repo id), when given",
    "revision": "model revision, when given",
    "quantization": "quantisation of the weights, when given",
    "license": "the model's licence, where known",
    "name": "the model's display name",
    "questionnaire": "questionnaire id (mfq30, pvqrr)",
    "variant": "prompt variant (original, shuffled, ...)",
    "protocol_hash": "hash of everything that changes what is measured; compare within one",
    "protocol": "the protocol's parameters (JSON)",
    "ci_level": "confidence level of every CI of the row (e.g. 0.95); rows with different "
    "levels are never ranked or tied together",
    "n_bootstrap": "bootstrap resamples over personas behind the row's CIs",
    "level": "overall, dimension, or a roll-up level (PVQ-RR basic / higher_order)",
    "group": "the dimension or roll-up group ('overall' for level overall)",
    "distribution": "pooled answer distribution over ratings 1..6 (persona condition)",
    "baseline_distribution": "answer distribution without a persona",
    "baseline_mean_rating": "expected rating 1-6 without a persona",
    "seed_stability": "mean Pearson r of per-item mean ratings between persona seeds",
    "inertia_seed_sd": "SD over persona seeds of the overall inertia (empty with one seed)",
    "permeability_max": "largest omega-squared of the selective-permeability grid",
    "permeable_cells": "cells of the permeability grid significant after Benjamini-Hochberg",
    "design": "personas per seed x seeds x repeats x samples",
    "n_personas": "number of personas",
    "n_seeds": "number of persona seeds",
    "personas_per_seed": "personas per seed",
    "seeds": "persona seeds",
    "repeats": "times each (persona, item) was asked",
    "samples": "samples per request (sample mode)",
    "clusters": "number of persona clusters chosen by silhouette",
    "silhouette": "silhouette of the chosen clustering",
    "verdict": "the quality report's one-line verdict (usable, or what fails)",
    "cost_usd": "spend on the model's API requests in USD, when recorded",
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
    "mlflow_run_id": "MLflow run of the analysis that made the row",
    "published_at": "publication date (UTC)",
    "persona_id": "stable persona id (hash of seed, index and attributes)",
    "seed": "persona seed the persona was drawn with",
    "index": "position of the persona within its seed",
    "description": "the persona as second-person sentences (the text the model role-plays)",
    "prompt_id": "stable prompt id",
    "condition": "persona or baseline (no persona)",
    "item": "item number in the questionnaire",
    "block": "item block of the questionnaire (its stem text and option labels)",
    "dimension": "value dimension of the item",
    "catch": "attention-check item (not scored)",
    "repeat": "which repetition of the (persona, item) prompt",
    "messages": "the chat messages sent (JSON)",
    "completion_text": "the same prompt as one text (completions API)",
    "option_labels": "the six option labels in the order shown (A-F)",
    "letter_ratings": "the rating 1-6 each option letter A-F stands for (shuffled variants "
    "reorder them)",
    "prefix_chars": "characters of the prompt shared by every prompt of the block",
    "sample_index": "which sample of the request (sample mode; 0 in logprobs mode)",
    "request_key": "the response store's key of the request (hash of prompt and model identity)",
    "status": "request outcome (ok, error, ...)",
    "text": "the model's raw answer",
    "finish_reason": "why the model stopped (stop, length, ...)",
    "tokens_in": "prompt tokens",
    "tokens_out": "answer tokens",
    "latency_s": "seconds the request took",
    "attempts": "attempts made for the request (retries included)",
    "error": "why the request failed (empty when it did not)",
    "timestamp": "when the answer was received (UTC)",
    "rating": "parsed rating 1-6 (A=1 ... F=6, after undoing a shuffled order)",
    "parser": "parser (and version) that read the answer",
    "reason": "why an answer was not parsed (empty when it was)",
    "cluster": "persona cluster",
    "pc1": "first principal component of the persona x item matrix",
    "pc2": "second principal component",
    "k": "number of clusters",
    "method": "clustering method",
    "ami": "adjusted mutual information of clusters with each persona attribute",
    "silhouette_by_k": "silhouette for each number of clusters tried",
    "sizes": "cluster sizes",
    "n_items": "items of the questionnaire",
    "n_items_used": "items with answer variance, used for clustering",
    "explained_variance_pc1": "share of variance on the first principal component",
    "explained_variance_pc2": "share of variance on the second principal component",
    "note": "why the clustering found no structure, when it did not",
    "partner": "the same model in the other answer mode, compared for agreement",
    "n_answers": "parsed answers behind the quality report",
    "dimensions": "per dimension: Cronbach's alpha and McDonald's omega with CIs, items, personas",
    "parse_reasons": "unparsed answers by reason",
    "thresholds": "the verdict's thresholds",
}
# Families of columns: (pattern, meaning with the pattern's groups filled in), first match.
COLUMN_PATTERNS: list[tuple[str, str]] = [
    (r"^shift_(.+)_(.+)_low$", "lower bound of the paired bootstrap CI of {0} shift, {1}"),
    (r"^shift_(.+)_(.+)_high$", "upper bound of the paired bootstrap CI of {0} shift, {1}"),
    (r"^shift_(inertia|steerability)_(.+)$", "overall {0} of prompt variant {1} minus original"),
    (r"^(.+)_ci_low$", "lower bound of the bootstrap CI (level ci_level) of {0}"),
    (r"^(.+)_ci_high$", "upper bound of the bootstrap CI (level ci_level) of {0}"),
    (r"^p_([1-6])$", "probability of rating {0} (logprobs mode; one-hot in sample mode)"),
    (r"^p_([A-F])$", "next-token probability of option letter {0} (logprobs mode)"),
]


def column_meaning(column: str, persona_attributes: Collection[str] = ()) -> str | None:
    """The column's meaning: :data:`COLUMNS`, the metric registry, :data:`COLUMN_PATTERNS`
    or a persona attribute; None when nothing describes it."""
    if column in COLUMNS:
        return COLUMNS[column]
    if column in names():
        spec = get(column)
        return f"{spec.label} ({spec.direction}): {spec.description}"
    for pattern, text in COLUMN_PATTERNS:
        match = re.match(pattern, column)
        if match:
            return text.format(*match.groups())
    if column in persona_attributes:
        return f"persona attribute `{column}` (a category of the persona schema, WVS wave 7)"
    return None


def persona_attributes(folder: Path) -> list[str]:
    path = Path(folder) / "data/personas/personas.parquet"
    return pq.read_schema(path).names if path.exists() else []


def undescribed_columns(folder: Path, rows: Mapping[str, int]) -> list[str]:
    """``config.column`` of every column of the dataset ``folder`` (its tables: ``rows``,
    the manifest) that the card cannot describe (:func:`column_meaning`)."""
    attributes = persona_attributes(folder)
    out = []
    for name, path, _ in configs_of(rows, model_names_of(folder)):
        for file in config_files(folder, path)[:1]:
            for column in pq.read_schema(file).names:
                persona = attributes if name == "personas" else ()
                if column_meaning(column, persona) is None:
                    out.append(f"{name}.{column}")
    return out


def column_dictionary(folder: Path, configs: list[tuple[str, str, str]]) -> str:
    """One table per config (one for all ``responses_*``, one for all ``parsed_*``): every
    column and its meaning (a column of an earlier version that nothing describes says so)."""
    parts = []
    seen_per_model: set[str] = set()
    attributes = persona_attributes(folder)
    for name, path, _ in configs:
        kind = name.split("_", 1)[0]
        if kind in PER_MODEL and kind in seen_per_model:
            continue
        files = config_files(folder, path)
        if not files:
            continue
        columns = pq.read_schema(files[0]).names
        title = f"`{kind}_<model>`" if kind in PER_MODEL else f"`{name}`"
        seen_per_model.add(kind)
        persona = attributes if name == "personas" else ()
        rows = [
            f"| `{c}` | {column_meaning(c, persona) or 'a column of an earlier version'} |"
            for c in columns
        ]
        parts.append(f"**{title}**\n\n| column | meaning |\n|---|---|\n" + "\n".join(rows))
    return "\n\n".join(parts)
