from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy.stats import chisquare

from tests.conftest import REPO, run_cli
from value_inertia.core.config import ConfigError
from value_inertia.design.personas import build_personas, describe, load_schema, persona_id

SCHEMA = REPO / "data/schemas/persona_attributes.yaml"


@pytest.fixture(scope="module")
def schema():
    return load_schema(SCHEMA)


def test_schema_has_the_eleven_wvs_attributes(schema) -> None:
    assert schema.names == [
        "sex",
        "age",
        "income_level",
        "has_children",
        "marital_status",
        "education",
        "employment",
        "occupation",
        "ethnicity",
        "religion",
        "country_of_birth",
        "country_of_residence",
    ]
    sizes = {a.name: len(a.domain()) for a in schema.attributes}
    assert sizes["age"] == 61 and sizes["income_level"] == 10
    assert sizes["marital_status"] == 6 and sizes["education"] == 9
    assert sizes["employment"] == 3 and sizes["occupation"] == 10
    assert sizes["ethnicity"] == 6 and sizes["religion"] == 8
    assert sizes["country_of_birth"] == sizes["country_of_residence"] >= 50


def test_each_attribute_is_uniform_chi_square(schema) -> None:
    frame = build_personas(schema, 6000, [111]).to_pandas()
    for a in schema.attributes:
        values = frame[a.name].dropna()
        if a.name == "occupation":
            employed = frame["employment"].isin(["full-time", "part-time"])
            assert frame.loc[employed, "occupation"].notna().all()
            assert frame.loc[~employed, "occupation"].isna().all()
            assert len(values) == employed.sum()
        counts = values.value_counts().reindex(a.domain(), fill_value=0).to_numpy()
        result = chisquare(counts)
        assert result.pvalue > 0.001, (a.name, result)


def test_seeds_differ_and_ids_are_stable_and_unique(schema) -> None:
    t1 = build_personas(schema, 50, [111, 333]).to_pandas()
    t2 = build_personas(schema, 50, [111, 333]).to_pandas()
    pd.testing.assert_frame_equal(t1, t2)
    assert t1.persona_id.is_unique
    a = t1[t1.seed == 111].drop(columns=["persona_id", "seed"]).reset_index(drop=True)
    b = t1[t1.seed == 333].drop(columns=["persona_id", "seed"]).reset_index(drop=True)
    assert not a.equals(b)
    row = t1.iloc[0]
    attrs = {n: (None if pd.isna(row[n]) else row[n]) for n in schema.names}
    attrs = {k: (int(v) if isinstance(v, np.integer) else v) for k, v in attrs.items()}
    assert persona_id(111, 0, attrs) == row.persona_id


def test_description_is_second_person_and_complete(schema) -> None:
    frame = build_personas(schema, 20, [5]).to_pandas()
    for row in frame.itertuples():
        assert row.description.startswith("You are a ")
        assert f"You are {row.age} years old." in row.description
        assert f"You live in {row.country_of_residence}." in row.description
        assert (" occupation " in row.description) == isinstance(row.occupation, str)
    assert (
        describe(schema, {"sex": "female", "age": 33}) == "You are a woman. You are 33 years old."
    )


def test_same_params_give_byte_identical_parquet(project: Path) -> None:
    out = project / "data/personas/personas.parquet"
    assert run_cli(project, "personas").returncode == 0
    first = out.read_bytes()
    out.unlink()
    assert run_cli(project, "personas").returncode == 0
    assert out.read_bytes() == first


def test_broken_schema_names_the_attribute(tmp_path: Path) -> None:
    text = SCHEMA.read_text().replace("integer_range: [20, 80]", "integer_range: [80, 20]")
    bad = tmp_path / "schema.yaml"
    bad.write_text(text)
    with pytest.raises(
        ConfigError,
        match=r"schema.yaml: attributes\[age\]: integer_range: the upper bound 20 is below",
    ):
        load_schema(bad)
    text = SCHEMA.read_text().replace("only_if: {employment:", "only_if: {employed:")
    bad.write_text(text)
    with pytest.raises(ConfigError, match="'employed' must be an attribute defined earlier"):
        load_schema(bad)
