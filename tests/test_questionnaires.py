from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from tests.conftest import REPO
from value_inertia.core.config import ConfigError
from value_inertia.design.questionnaires import load_questionnaire, load_questionnaires

QDIR = REPO / "data/questionnaires"


@pytest.fixture(scope="module")
def qs():
    return load_questionnaires(["mfq30", "pvqrr"], REPO)


def test_mfq30_structure(qs) -> None:
    q = qs["mfq30"]
    assert [it.number for it in q.items] == list(range(1, 33))
    assert {it.number for it in q.items if it.catch} == {6, 22}
    # the catch items' known answers: "good at math" is not relevant, "good over bad" agreed
    assert {it.number: it.expected for it in q.items if it.catch} == {6: "low", 22: "high"}
    assert set(q.dimensions) == {"Harm", "Fairness", "Ingroup", "Authority", "Purity"}
    scored = [n for nums in q.dimensions.values() for n in nums]
    assert sorted(scored) == sorted(set(range(1, 33)) - {6, 22})  # each scored item exactly once
    assert q.dimensions["Harm"] == [1, 7, 12, 17, 23, 28]
    assert q.dimensions["Purity"] == [5, 11, 16, 21, 27, 32]
    assert all(it.block == "relevance" for it in q.items if it.number <= 16)
    assert all(it.block == "agreement" for it in q.items if it.number >= 17)
    assert q.blocks["relevance"].options[0] == "Not at all relevant"
    assert q.blocks["agreement"].options[-1] == "Strongly agree"


def test_pvqrr_structure_and_rollups(qs) -> None:
    q = qs["pvqrr"]
    assert [it.number for it in q.items] == list(range(1, 58))
    assert not any(it.catch for it in q.items)
    assert len(q.dimensions) == 19
    assert all(len(v) == 3 for v in q.dimensions.values())
    assert sorted(n for v in q.dimensions.values() for n in v) == list(range(1, 58))
    assert q.dimensions["Self-Direction-Thought"] == [1, 23, 39]
    assert q.dimensions["Universalism-Tolerance"] == [14, 34, 57]
    assert len(q.rollups["basic"]) == 10
    assert set(q.rollups["higher_order"]) == {
        "Self-Transcendence",
        "Openness to Change",
        "Self-Enhancement",
        "Conservation",
    }
    assert q.rollups["basic"]["Universalism"] == [
        "Universalism-Nature",
        "Universalism-Concern",
        "Universalism-Tolerance",
    ]
    assert q.blocks["portrait"].options == [
        "Not like you at all",
        "Not like you",
        "A little like you",
        "Moderately like you",
        "Like you",
        "Very much like you",
    ]


def test_pvqrr_items_are_second_person(qs) -> None:
    for it in qs["pvqrr"].items:
        words = it.text.replace(".", " ").replace(",", " ").split()
        assert not {"he", "his", "him", "himself", "He", "His"} & set(words), it.text
    assert qs["pvqrr"].items[0].text == "It is important to you to form your views independently."


def _broken(tmp_path: Path, mutate) -> Path:
    data = yaml.safe_load((QDIR / "mfq30.yaml").read_text())
    mutate(data)
    path = tmp_path / "mfq30.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


@pytest.mark.parametrize(
    ("mutate", "expected"),
    [
        (lambda d: d["items"][2].pop("text"), "items[item 3].text: Field required"),
        (lambda d: d["items"][4].update(number=4), "duplicate item number"),
        (
            lambda d: d["dimensions"]["Harm"].append(99),
            "dimensions.Harm: item 99 is not among the items",
        ),
        (lambda d: d["blocks"]["agreement"]["options"].pop(), "blocks.agreement.options"),
        (lambda d: d["dimensions"]["Harm"].remove(7), "item 7): not in any dimension"),
        (lambda d: d["items"][0].update(block="nope"), "unknown block 'nope'"),
        (
            lambda d: d["items"][0].update(expected="high"),
            "item 1).expected: only catch items",
        ),
        (lambda d: d["items"][5].update(expected="yes"), "items[item 6].expected"),
    ],
)
def test_broken_questionnaire_names_file_item_and_field(tmp_path: Path, mutate, expected) -> None:
    path = _broken(tmp_path, mutate)
    with pytest.raises(ConfigError) as err:
        load_questionnaire(path)
    assert str(path) in str(err.value)
    assert expected in str(err.value)


def test_user_questionnaire_is_selectable_by_id(tmp_path: Path) -> None:
    qdir = tmp_path / "data/questionnaires"
    qdir.mkdir(parents=True)
    data = yaml.safe_load((QDIR / "mfq30.yaml").read_text())
    data["id"] = "mini"
    data["items"] = [it for it in data["items"] if it["number"] in (1, 2, 6)]
    data["dimensions"] = {"Harm": [1], "Fairness": [2]}
    (qdir / "mini.yaml").write_text(yaml.safe_dump(data))
    q = load_questionnaires(["mini"], tmp_path)["mini"]
    assert [it.number for it in q.scored_items] == [1, 2]
