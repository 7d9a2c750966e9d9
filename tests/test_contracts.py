"""The shared contracts: artefact names round-trip, the registry refuses conflicts."""

from __future__ import annotations

import pytest

import value_inertia.analysis  # noqa: F401  (its modules register the metrics)
from value_inertia.core import registry as metric_registry
from value_inertia.core.config import ModelParams
from value_inertia.core.naming import ResultName, artifact_stem, parse_artifact_name


@pytest.mark.parametrize("variant", ["original", "shuffled"])
def test_artifact_names_round_trip(variant: str) -> None:
    name = ResultName("smollm2-135m.q8", "pvqrr", variant)
    parsed, kind = parse_artifact_name(name.file("macro", "").removesuffix(""), {"macro"})
    assert (parsed, kind) == (name, "macro")
    assert parse_artifact_name(artifact_stem(name.model, name.questionnaire, variant)) == (
        name,
        None,
    )


def test_separator_in_a_name_is_refused() -> None:
    with pytest.raises(ValueError, match="must not contain"):
        artifact_stem("my__model", "mfq30")
    with pytest.raises(ValueError, match="must not contain"):
        ModelParams(name="my__model")


def test_registry_has_directions_and_refuses_a_conflicting_entry() -> None:
    inertia = metric_registry.get("inertia")
    assert inertia.higher_is_better is True
    assert metric_registry.get("steerability").higher_is_better is False
    assert "inertia" in metric_registry.names("dimension")
    assert inertia.format(0.5) == "0.500" and inertia.format(None) == "-"
    clash = metric_registry.MetricSpec("inertia", "x", False, "x", "x")
    with pytest.raises(ValueError, match="twice"):
        metric_registry.register(clash)
    records = {r["name"]: r for r in metric_registry.registry_records()}
    assert records["steerability"]["direction"] == "lower is better"
    assert "`steerability`" in metric_registry.legend_markdown(["steerability"])
