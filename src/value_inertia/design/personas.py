"""Random personas drawn from a World-Values-Survey-style attribute schema.

Every attribute is drawn independently with equal probability per category
(for integer ranges: per integer, plus an optional uniform ``jitter``), from
``numpy.random.Generator(PCG64(seed))``.
An attribute with ``only_if`` is drawn only when the condition holds (for
example occupation only for the employed) and left empty otherwise. Nothing
depends on the date or the machine: the same schema, seed and n always give
the same personas.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Annotated, cast

import numpy as np
import pyarrow as pa
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from value_inertia.core.config import ConfigError, format_validation_error, load_yaml


class Category(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    value: str
    text: str | None = None


class Attribute(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    name: Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]*$")]
    categories: list[Category] | None = None
    integer_range: tuple[int, int] | None = None
    template: str | None = None
    only_if: dict[str, list[str]] | None = None
    # integer ranges: add a uniform 0..jitter to the drawn integer (e.g. the paper's
    # ages: a bracket 20-80 drawn uniformly, then 0-9 years on top)
    jitter: Annotated[int, Field(ge=0)] = 0

    @field_validator("categories", mode="before")
    @classmethod
    def _strings_to_categories(cls, value: object) -> object:
        if isinstance(value, list):
            return [{"value": str(v)} if not isinstance(v, dict) else v for v in value]
        return value

    @model_validator(mode="after")
    def _one_domain(self) -> Attribute:
        if (self.categories is None) == (self.integer_range is None):
            raise ValueError("give exactly one of `categories` or `integer_range`")
        if self.categories is not None:
            if len(self.categories) < 2:
                raise ValueError("categories: at least two are needed")
            values = [c.value for c in self.categories]
            dupes = sorted({v for v in values if values.count(v) > 1})
            if dupes:
                raise ValueError(f"categories: duplicate value(s) {', '.join(dupes)}")
            if self.template is None and any(c.text is None for c in self.categories):
                raise ValueError("every category needs `text` when there is no `template`")
        if self.integer_range is not None:
            lo, hi = self.integer_range
            if hi < lo:
                raise ValueError(
                    f"integer_range: the upper bound {hi} is below the lower bound {lo}"
                )
            if self.template is None:
                raise ValueError("an integer_range attribute needs a `template`")
        elif self.jitter:
            raise ValueError("jitter applies to integer_range attributes only")
        if self.template is not None and "{value}" not in self.template:
            raise ValueError("template must contain {value}")
        return self

    @property
    def is_integer(self) -> bool:
        return self.integer_range is not None

    def domain(self) -> list[str] | list[int]:
        if self.integer_range is not None:
            lo, hi = self.integer_range
            return list(range(lo, hi + 1))
        assert self.categories is not None
        return [c.value for c in self.categories]

    def render(self, value: str | int) -> str:
        if self.categories is not None:
            for c in self.categories:
                if c.value == value and c.text is not None:
                    return c.text
        assert self.template is not None
        return self.template.format(value=value)


class PersonaSchema(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    attributes: Annotated[list[Attribute], Field(min_length=1)]

    @model_validator(mode="after")
    def _conditions_refer_back(self) -> PersonaSchema:
        seen: dict[str, Attribute] = {}
        for a in self.attributes:
            if a.name in seen:
                raise ValueError(f"attributes ({a.name}): duplicate attribute name")
            for dep, allowed in (a.only_if or {}).items():
                if dep not in seen:
                    raise ValueError(
                        f"attributes ({a.name}).only_if: {dep!r} must be an attribute "
                        "defined earlier in the file"
                    )
                domain = [str(v) for v in seen[dep].domain()]
                bad = [v for v in allowed if v not in domain]
                if bad:
                    raise ValueError(f"attributes ({a.name}).only_if.{dep}: unknown value(s) {bad}")
            seen[a.name] = a
        return self

    @property
    def names(self) -> list[str]:
        return [a.name for a in self.attributes]


def load_schema(path: Path) -> PersonaSchema:
    data = load_yaml(path)
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping with key `attributes`")
    try:
        return PersonaSchema.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(format_validation_error(exc, str(path), data, PersonaSchema)) from None


def persona_id(seed: int, index: int, attributes: dict[str, object]) -> str:
    """Stable id: sha256 of (seed, index, attributes), 16 hex digits."""
    payload = json.dumps(
        {"seed": seed, "index": index, "attributes": attributes}, sort_keys=True, default=str
    )
    return hashlib.sha256(payload.encode()).hexdigest()[:16]


def describe(schema: PersonaSchema, attributes: dict[str, object]) -> str:
    """Second-person description: one sentence per present attribute, schema order."""
    parts = []
    for a in schema.attributes:
        value = attributes.get(a.name)
        if value is None:
            continue
        parts.append(" ".join(a.render(cast("str | int", value)).split()))
    return " ".join(parts)


def draw_personas(schema: PersonaSchema, n: int, seed: int) -> list[dict[str, object]]:
    """Draw ``n`` personas for one seed; each a dict of attribute -> value (None if absent)."""
    rng = np.random.Generator(np.random.PCG64(seed))
    personas: list[dict[str, object]] = []
    for _ in range(n):
        drawn: dict[str, object] = {}
        for a in schema.attributes:
            applies = all(
                str(drawn.get(dep)) in allowed for dep, allowed in (a.only_if or {}).items()
            )
            domain = a.domain()
            # Always consume one draw so later attributes do not shift with conditions.
            pick = int(rng.integers(len(domain)))
            value = domain[pick]
            if a.jitter:  # one more draw, only for attributes that ask for it
                value = int(value) + int(rng.integers(a.jitter + 1))
            drawn[a.name] = value if applies else None
        personas.append(drawn)
    return personas


def arrow_schema(schema: PersonaSchema) -> pa.Schema:
    fields = [
        pa.field("persona_id", pa.string(), nullable=False),
        pa.field("seed", pa.int64(), nullable=False),
        pa.field("index", pa.int64(), nullable=False),
    ]
    for a in schema.attributes:
        fields.append(pa.field(a.name, pa.int64() if a.is_integer else pa.string()))
    fields.append(pa.field("description", pa.string(), nullable=False))
    return pa.schema(fields)


def build_personas(schema: PersonaSchema, n: int, seeds: list[int]) -> pa.Table:
    """All personas for all seeds as an Arrow table (one column per attribute)."""
    rows = []
    for seed in seeds:
        for index, attrs in enumerate(draw_personas(schema, n, seed)):
            rows.append(
                {
                    "persona_id": persona_id(seed, index, attrs),
                    "seed": seed,
                    "index": index,
                    **attrs,
                    "description": describe(schema, attrs),
                }
            )
    return pa.Table.from_pylist(rows, schema=arrow_schema(schema))
