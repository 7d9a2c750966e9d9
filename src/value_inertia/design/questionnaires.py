"""Questionnaire definitions (``data/questionnaires/<id>.yaml``): schema and loader.

A questionnaire has blocks (a stem and six option labels, ordered from rating 1
to rating 6), items (number, text, block, optional ``catch`` and, for a catch
item, its ``expected`` side of the scale: ``low`` or ``high``), a scoring key
(``dimensions``: name -> item numbers) and optional roll-ups (level -> group ->
dimension names), e.g. PVQ-RR's 19 values -> 10 basic -> 4 higher-order.
"""

from __future__ import annotations

from functools import cached_property
from pathlib import Path
from typing import Annotated, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from value_inertia.core.config import ConfigError, format_validation_error, load_yaml
from value_inertia.core.naming import check_part
from value_inertia.core.paths import questionnaire_dir

N_OPTIONS = 6
OPTION_LETTERS = ("A", "B", "C", "D", "E", "F")


class Block(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    stem: Annotated[str, Field(min_length=1)]
    options: Annotated[list[str], Field(min_length=N_OPTIONS, max_length=N_OPTIONS)]


class Item(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    number: Annotated[int, Field(ge=1)]
    text: Annotated[str, Field(min_length=1)]
    block: str
    catch: bool = False
    # catch items only: the side of the scale midpoint the known answer lies on
    # (low: ratings 1-3, high: 4-6); read by the quality report's attention check
    expected: Literal["low", "high"] | None = None


class Questionnaire(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    id: Annotated[str, Field(pattern=r"^[a-z0-9_-]+$")]
    name: str
    citation: str
    license: str
    source_url: str | None = None
    blocks: Annotated[dict[str, Block], Field(min_length=1)]
    items: Annotated[list[Item], Field(min_length=1)]
    dimensions: Annotated[dict[str, list[int]], Field(min_length=1)]
    rollups: dict[str, dict[str, list[str]]] = {}

    @field_validator("id")
    @classmethod
    def _id_names_files(cls, qid: str) -> str:
        # the id is a part of every result's file names (<model>__<questionnaire>)
        return check_part(qid, "questionnaire id")

    @model_validator(mode="after")
    def _consistent(self) -> Questionnaire:
        numbers = [it.number for it in self.items]
        seen: set[int] = set()
        for idx, it in enumerate(self.items):
            if it.number in seen:
                raise ValueError(f"items[{idx}] (item {it.number}): duplicate item number")
            seen.add(it.number)
            if it.block not in self.blocks:
                raise ValueError(
                    f"items[{idx}] (item {it.number}).block: unknown block {it.block!r}; "
                    f"allowed: {', '.join(self.blocks)}"
                )
        keyed: dict[int, str] = {}
        for dim, nums in self.dimensions.items():
            for n in nums:
                if n not in seen:
                    raise ValueError(f"dimensions.{dim}: item {n} is not among the items")
                if n in keyed:
                    raise ValueError(
                        f"dimensions.{dim}: item {n} is already scored under {keyed[n]}"
                    )
                keyed[n] = dim
        by_number = {it.number: it for it in self.items}
        for n in numbers:
            it = by_number[n]
            if it.expected is not None and not it.catch:
                raise ValueError(
                    f"items (item {n}).expected: only catch items (catch: true) state an "
                    "expected answer"
                )
            if it.catch and n in keyed:
                raise ValueError(f"dimensions.{keyed[n]}: item {n} is a catch item")
            if not it.catch and n not in keyed:
                raise ValueError(
                    f"items (item {n}): not in any dimension of the scoring key "
                    "and not marked catch: true"
                )
        for level, groups in self.rollups.items():
            for group, dims in groups.items():
                for d in dims:
                    if d not in self.dimensions:
                        raise ValueError(f"rollups.{level}.{group}: unknown dimension {d!r}")
        return self

    @cached_property
    def item_dimension(self) -> dict[int, str | None]:
        """Item number -> dimension name (None for catch items)."""
        out: dict[int, str | None] = {it.number: None for it in self.items}
        for dim, nums in self.dimensions.items():
            for n in nums:
                out[n] = dim
        return out

    @property
    def scored_items(self) -> list[Item]:
        return [it for it in self.items if not it.catch]

    def options_for(self, item: Item) -> list[str]:
        return list(self.blocks[item.block].options)


def load_questionnaire(path: Path) -> Questionnaire:
    """Load and validate one questionnaire file; errors name the file and the field."""
    data = load_yaml(path)
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping at the top level")
    try:
        q = Questionnaire.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(format_validation_error(exc, str(path), data, Questionnaire)) from None
    if q.id != path.stem:
        raise ConfigError(f"{path}: id: {q.id!r} must equal the file name {path.stem!r}")
    return q


def load_questionnaires(ids: list[str], root: Path | None = None) -> dict[str, Questionnaire]:
    qdir = questionnaire_dir(root)
    return {qid: load_questionnaire(qdir / f"{qid}.yaml") for qid in ids}
