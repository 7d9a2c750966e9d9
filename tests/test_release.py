"""Release tags: one per push, ``v<version>-<protocols>-<digest>``, protocols in the message."""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd

from value_inertia.publishing.release import release_message, release_tag
from value_inertia.publishing.tables.public import package_version

BOARD = "data/leaderboard/leaderboard.parquet"


def board_folder(tmp_path: Path, protocols: list[str]) -> Path:
    folder = tmp_path / "dataset"
    (folder / "data/leaderboard").mkdir(parents=True)
    rows = [
        {"protocol_hash": p, "questionnaire": q, "variant": "original", "inertia": 0.5}
        for p in protocols
        for q in ("mfq30", "pvqrr")
    ]
    pd.DataFrame(rows).to_parquet(folder / BOARD)
    (folder / "README.md").write_text("card")
    return folder


def test_one_protocol_names_it_in_the_tag(tmp_path: Path) -> None:
    folder = board_folder(tmp_path, ["0123456789abcdef"])
    tag = release_tag(folder)
    assert tag == f"v{package_version()}-01234567-{tag.rsplit('-', 1)[1]}"
    assert re.fullmatch(r"[0-9a-f]{8}", tag.rsplit("-", 1)[1])
    assert "protocol 0123456789abcdef: 2 row(s); questionnaires mfq30, pvqrr" in (
        release_message(folder)
    )


def test_four_protocols_are_counted_in_the_tag_and_listed_in_the_message(tmp_path: Path) -> None:
    hashes = [f"{k}" * 16 for k in "abcd"]
    folder = board_folder(tmp_path, hashes)
    tag = release_tag(folder)
    assert re.fullmatch(rf"v{re.escape(package_version())}-4p[0-9a-f]{{6}}-[0-9a-f]{{8}}", tag)
    message = release_message(folder).splitlines()
    assert message[0].endswith(": 8 board row(s)")
    assert [line.split(":")[0] for line in message[1:]] == [f"protocol {h}" for h in hashes]
    # another set of protocols, another tag; the card does not change the tag
    other = board_folder(tmp_path / "b", hashes[:3] + ["e" * 16])
    assert release_tag(other).split("-")[-2] != tag.split("-")[-2]
    (folder / "README.md").write_text("another card")
    assert release_tag(folder) == tag
