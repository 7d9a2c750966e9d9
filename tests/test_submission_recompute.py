"""Re-derivation checks of a submitted result that need no Hub: protocol and personas."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from value_inertia.core.protocol import file_digest, protocol_hash
from value_inertia.design.personas import build_personas, load_schema
from value_inertia.publishing.submission.recompute import (
    check_personas,
    check_protocol,
    expected_personas,
)

ROOT = Path(__file__).resolve().parents[1]
SCHEMA = next(iter(sorted((ROOT / "data/schemas").glob("*.yaml"))))


def fields(**change: object) -> dict:
    base = {
        "protocol_version": 1,
        "questionnaire": {
            "id": "mfq30",
            "file": file_digest(ROOT / "data/questionnaires/mfq30.yaml", "q"),
        },
        "personas": {"schema": file_digest(SCHEMA, "s"), "n": 3, "seeds": [111, 333]},
        "prompts": {"variant": "shuffled", "repeats": 1},
        "parse": {"min_letter_mass": 0.0},
    }
    return {**base, **change}


def row(f: dict, **change: object) -> dict:
    return {
        "questionnaire": "mfq30",
        "variant": "shuffled",
        "protocol": json.dumps(f, sort_keys=True),
        "protocol_hash": protocol_hash(f),
        **change,
    }


def test_a_true_protocol_passes() -> None:
    got, problems = check_protocol(row(fields()), ROOT)
    assert problems == [] and got == fields()


@pytest.mark.parametrize(
    ("f", "change", "problem"),
    [
        (fields(), {"protocol_hash": "00000000deadbeef"}, "does not hash"),
        (fields(), {"variant": "original"}, "variant"),
        (fields(questionnaire={"id": "mfq30", "file": "sha256:00"}), {}, "questionnaire digest"),
        (fields(personas={"schema": "sha256:00", "n": 3, "seeds": [1]}), {}, "persona schema"),
        (fields(parse={"judge": {"model": "[local]"}}), {}, "masked"),
        (fields(), {"protocol": "{not json"}, "not JSON"),
    ],
)
def test_each_protocol_fault_is_named(f: dict, change: dict, problem: str) -> None:
    _, problems = check_protocol(row(f, **change), ROOT)
    assert any(problem in p["problem"] for p in problems), problems


def test_personas_are_regenerated_from_schema_n_and_seeds() -> None:
    expected = expected_personas(fields(), ROOT)
    table = build_personas(load_schema(SCHEMA), 3, [111, 333]).to_pandas()
    assert len(expected) == 6 and check_personas(expected, table) == []
    edited = table.copy()
    edited.loc[0, "description"] = "someone else"
    assert [p["problem"] for p in check_personas(expected, edited)] == [
        "attributes differ from the regenerated persona"
    ]
    assert [p["persona_id"] for p in check_personas(expected, table.iloc[1:])] == [
        table.loc[0, "persona_id"]
    ]
    assert expected_personas(fields(personas={"schema": "sha256:00"}), ROOT) is None
