from __future__ import annotations

import pandas as pd
import pytest

from tests.conftest import REPO
from value_inertia.core.config import PromptsParams
from value_inertia.design.personas import build_personas, load_schema
from value_inertia.design.prompts import FORCED_CHOICE, build_prompts
from value_inertia.design.questionnaires import load_questionnaires


@pytest.fixture(scope="module")
def personas() -> pd.DataFrame:
    schema = load_schema(REPO / "data/schemas/persona_attributes.yaml")
    return build_personas(schema, 3, [111, 333]).to_pandas()


@pytest.fixture(scope="module")
def qs():
    return load_questionnaires(["mfq30", "pvqrr"], REPO)


def prompts(personas, qs, **kw) -> pd.DataFrame:
    params = PromptsParams(**kw)
    return build_prompts(params, qs, personas).to_pandas()


def test_one_row_per_condition_persona_item_repeat(personas, qs) -> None:
    df = prompts(personas, qs, repeats=2, baseline_repeats=3)
    n_items = 32 + 57
    assert (df.condition == "persona").sum() == 6 * n_items * 2
    assert (df.condition == "baseline").sum() == n_items * 3
    assert df.prompt_id.is_unique
    keys = df[["condition", "persona_id", "questionnaire", "item", "repeat"]].astype(str)
    assert not keys.duplicated().any()
    assert df[df.condition == "baseline"].persona_id.isna().all()
    assert set(df[df.condition == "persona"].seed) == {111, 333}


def test_text_layout_and_switches(personas, qs) -> None:
    df = prompts(personas, qs)
    row = df[(df.condition == "persona") & (df.questionnaire == "mfq30") & (df.item == 17)].iloc[0]
    desc = personas.set_index("persona_id").loc[row.persona_id, "description"]
    text = row.completion_text
    assert text.startswith("Let's role-play.")
    assert desc in text
    assert '"Compassion for those who are suffering is the most crucial virtue."' in text
    assert "\nA. Strongly disagree\n" in text and "\nF. Strongly agree\n" in text
    assert text.endswith(FORCED_CHOICE + "\nAnswer:")
    assert row.messages[0]["role"] == "system" and desc in row.messages[0]["content"]
    assert row.messages[-1]["content"].endswith(FORCED_CHOICE)
    assert row.dimension == "Harm" and not row.catch
    assert list(row.letter_ratings) == [1, 2, 3, 4, 5, 6]
    # the shared prefix ends after the question stem line and is the same for the block
    prefix = text[: row.prefix_chars]
    assert prefix.endswith("disagreement:\n")
    same_block = df[(df.persona_id == row.persona_id) & (df.block == "agreement")]
    assert {t[: row.prefix_chars] for t in same_block.completion_text} == {prefix}

    base = df[(df.condition == "baseline") & (df.item == 17)].iloc[0]
    assert base.completion_text.startswith("Question: ")
    assert [m["role"] for m in base.messages] == ["user"]

    plain = prompts(personas, qs, forced_choice=False, preamble=False)
    ptext = plain[plain.prompt_id.notna() & (plain.condition == "persona")].iloc[0].completion_text
    assert FORCED_CHOICE not in ptext and not ptext.startswith("Let's role-play.")
    assert ptext.endswith("\nAnswer:")
    assert set(plain.prompt_id).isdisjoint(df.prompt_id)  # the text is part of the id


def test_shuffled_options_record_the_permutation(personas, qs) -> None:
    df = prompts(personas, qs, shuffle_options=True, repeats=2)
    perms = {tuple(p) for p in df.letter_ratings}
    assert len(perms) > 50
    for row in df.sample(50, random_state=0).itertuples():
        assert sorted(row.letter_ratings) == [1, 2, 3, 4, 5, 6]
        q = qs[row.questionnaire]
        item = next(it for it in q.items if it.number == row.item)
        labels = q.options_for(item)
        assert list(row.option_labels) == [labels[r - 1] for r in row.letter_ratings]
        for letter, label in zip("ABCDEF", row.option_labels, strict=True):
            assert f"\n{letter}. {label}\n" in row.completion_text
    again = prompts(personas, qs, shuffle_options=True, repeats=2)
    pd.testing.assert_series_equal(df.prompt_id, again.prompt_id)


def test_variants_share_one_table_and_original_keeps_its_ids(personas, qs) -> None:
    from value_inertia.core.naming import VARIANTS
    from value_inertia.design.prompts import select_variants

    plain = prompts(personas, qs)
    every = prompts(personas, qs, variants=list(VARIANTS))
    assert len(every) == len(plain) * len(VARIANTS)
    assert every.prompt_id.is_unique  # ids differ per variant, even where texts agree
    original = every[every.variant == "original"].reset_index(drop=True)
    pd.testing.assert_series_equal(original.prompt_id, plain.prompt_id)
    pd.testing.assert_series_equal(original.completion_text, plain.completion_text)
    by = {v: every[every.variant == v].reset_index(drop=True) for v in VARIANTS}
    persona = plain.condition == "persona"
    assert not by["no_forced_choice"].completion_text.str.contains(FORCED_CHOICE).any()
    assert (by["no_preamble"][persona].completion_text.str.startswith("Let's role-play")).sum() == 0
    assert all(list(r) == [6, 5, 4, 3, 2, 1] for r in by["reversed"].letter_ratings)
    row = by["reversed"].iloc[0]
    assert "\nA. " + row.option_labels[0] + "\n" in row.completion_text
    assert row.option_labels[0] == qs[row.questionnaire].blocks[row.block].options[5]
    shuffled = {tuple(r) for r in by["shuffled"].letter_ratings}
    assert len(shuffled) > 50
    # a model's subset of the variants
    assert set(select_variants(every, ["original", "reversed"]).variant) == {
        "original",
        "reversed",
    }


def test_model_variants_must_be_among_prompt_variants(tmp_path) -> None:
    import yaml

    from tests.conftest import make_project
    from value_inertia.core.config import ConfigError, load_params

    proj = make_project(tmp_path / "p", prompts={"variants": ["original", "shuffled"]})
    data = yaml.safe_load((proj / "params.yaml").read_text())
    data["models"] = {"g": {"variants": ["reversed"]}}
    (proj / "params.yaml").write_text(yaml.safe_dump(data))
    with pytest.raises(ConfigError, match=r"models\[g\].variants: reversed not in prompts"):
        load_params(proj / "params.yaml")
    data["models"]["g"]["variants"] = ["shuffled"]
    (proj / "params.yaml").write_text(yaml.safe_dump(data))
    params = load_params(proj / "params.yaml")
    assert params.variants_for(params.models[0]) == ["shuffled"]
    data["prompts"]["variants"] = ["original", "sideways"]
    (proj / "params.yaml").write_text(yaml.safe_dump(data))
    with pytest.raises(ConfigError, match="prompts.variants"):
        load_params(proj / "params.yaml")


def test_paper_preset_layout_and_population() -> None:
    import yaml

    from value_inertia.core.config import Params

    data = yaml.safe_load((REPO / "presets/paper.yaml").read_text())
    params = Params.model_validate(data, context={"root": REPO})
    schema = load_schema(REPO / params.personas.schema_path)
    people = build_personas(schema, 300, [111]).to_pandas()
    # their population: 91 countries, ages 20-89 (a 20-80 bracket plus 0-9 years)
    [country] = [a for a in schema.attributes if a.name == "country_of_birth"]
    assert len(country.domain()) == 91
    assert people.age.between(20, 89).all() and people.age.max() > 80
    assert set(people.ethnicity) <= {
        "White",
        "Black",
        "South Asian",
        "East Asian",
        "Arabic",
        "Central Asian",
    }
    qs = load_questionnaires(["mfq30", "pvqrr"], REPO)
    table = build_prompts(params.prompts, qs, people.head(2)).to_pandas()
    row = table[(table.condition == "persona") & (table.questionnaire == "pvqrr")].iloc[0]
    assert [m["role"] for m in row.messages] == ["user"]  # one user message
    text = row.messages[0]["content"]
    assert text == row.completion_text
    assert text.startswith("Let's role-play. I will ask you a question")
    assert (
        "\n\nUse the given information to answer the question below.\n\nQuestion: Read the " in text
    )
    assert text.endswith(
        "'It is important to you to form your views independently.' A. Not like you at all "
        "B. Not like you C. A little like you D. Moderately like you E. Like you "
        "F. Very much like you? Answer:"
    )
    assert FORCED_CHOICE not in text
    assert text[: row.prefix_chars].endswith("is or is not like you. \n")
    mfq = table[(table.questionnaire == "mfq30") & (table.item == 1)].iloc[0]
    assert "to what extent is the following consideration relevant" in mfq.completion_text
