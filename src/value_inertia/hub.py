"""Hugging Face Hub publishing (kept for imports): see :mod:`value_inertia.publishing`."""

from __future__ import annotations

from value_inertia.publishing.card import dataset_card, license_text
from value_inertia.publishing.dataset import build_dataset_folder
from value_inertia.publishing.folders import (
    config_slug,
    file_manifest,
    folder_files,
    model_slugs,
    read_front_matter,
)
from value_inertia.publishing.push import (
    PublishError,
    publish,
    push_dataset,
    push_space,
    submit,
    verify_submission,
)
from value_inertia.publishing.space import build_space_folder, space_readme
from value_inertia.publishing.tables import models_table, public_model, scrub

__all__ = [
    "PublishError",
    "build_dataset_folder",
    "build_space_folder",
    "config_slug",
    "dataset_card",
    "file_manifest",
    "folder_files",
    "license_text",
    "model_slugs",
    "models_table",
    "public_model",
    "publish",
    "push_dataset",
    "push_space",
    "read_front_matter",
    "scrub",
    "space_readme",
    "submit",
    "verify_submission",
]
