"""The metric registry: one entry per reported number, read by everything that shows it.

Each :class:`MetricSpec` holds the metric's ``name`` (the key in the results
files, the leaderboard column and the MLflow metric name), a human ``label``,
its direction (``higher_is_better``: True, False, or None for descriptive
numbers that are neither), a one-line ``description`` and a ``formula``
reference. The leaderboard's columns and ranking, the dataset card's "what the
numbers mean", the app's legend and MLflow all read it. The app runs on the
Hub Space without this package, so :func:`registry_records` is published as
``metric_registry.json`` next to the data.

Adding a metric: write its pure function (in :mod:`value_inertia.analysis.metrics` or a
sibling) and decorate it with :func:`register_metric`, or call
:func:`register` for a number computed elsewhere. The registry holds what has been
registered: the package :mod:`value_inertia.analysis` imports every module that
registers metrics, and each reader outside it imports that package first (core
imports nothing from the layers above it). (Modelled on
lm-evaluation-harness's metric registry with ``higher_is_better``.)
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass
from typing import Any, Literal, TypeVar

Scope = Literal["dimension", "overall", "result", "quality", "cluster", "permeability", "variant"]
F = TypeVar("F", bound=Callable[..., Any])


@dataclass(frozen=True)
class MetricSpec:
    name: str
    label: str
    higher_is_better: bool | None
    description: str
    formula: str
    scopes: tuple[Scope, ...] = ("dimension", "overall")
    digits: int = 3

    @property
    def direction(self) -> str:
        if self.higher_is_better is None:
            return "descriptive"
        return "higher is better" if self.higher_is_better else "lower is better"

    def format(self, value: float | int | None) -> str:
        """The value as shown in tables: fixed digits, ``-`` for missing."""
        if value is None or (isinstance(value, float) and value != value):
            return "-"
        if isinstance(value, int) and not isinstance(value, bool):
            return str(value)
        return f"{float(value):.{self.digits}f}"


REGISTRY: dict[str, MetricSpec] = {}


def register(spec: MetricSpec) -> MetricSpec:
    """Add ``spec``; a second entry with the same name is a bug."""
    if spec.name in REGISTRY and REGISTRY[spec.name] != spec:
        raise ValueError(f"metric {spec.name!r} is registered twice with different specs")
    REGISTRY[spec.name] = spec
    return spec


def register_metric(
    name: str,
    label: str,
    higher_is_better: bool | None,
    description: str,
    formula: str,
    scopes: tuple[Scope, ...] = ("dimension", "overall"),
    digits: int = 3,
) -> Callable[[F], F]:
    """Decorator: register the metric computed by the decorated pure function."""

    def wrap(fn: F) -> F:
        register(MetricSpec(name, label, higher_is_better, description, formula, scopes, digits))
        fn.metric_spec = REGISTRY[name]  # type: ignore[attr-defined]
        return fn

    return wrap


def get(name: str) -> MetricSpec:
    try:
        return REGISTRY[name]
    except KeyError:
        raise KeyError(f"unknown metric {name!r}; known: {', '.join(sorted(REGISTRY))}") from None


def names(scope: Scope | None = None) -> list[str]:
    """Registered metric names (in registration order), optionally of one scope."""
    return [n for n, s in REGISTRY.items() if scope is None or scope in s.scopes]


def registry_records(selected: Iterable[str] | None = None) -> list[dict[str, Any]]:
    """JSON-ready entries (published as ``metric_registry.json`` for the app)."""
    chosen = list(REGISTRY) if selected is None else list(selected)
    return [{**asdict(get(n)), "direction": get(n).direction} for n in chosen]


def legend_markdown(selected: Iterable[str] | None = None) -> str:
    """A "what the numbers mean" list: label, direction, description, formula."""
    lines = []
    for rec in registry_records(selected):
        formula = f" `{rec['formula']}`" if rec["formula"] else ""
        lines.append(
            f"- **{rec['label']}** (`{rec['name']}`, {rec['direction']}):{formula} "
            f"{rec['description']}"
        )
    return "\n".join(lines)


# Numbers computed outside a single pure metric function are registered here; the
# pure functions in value_inertia.analysis.metrics register themselves with @register_metric.
register(
    MetricSpec(
        "parse_rate",
        "Parse rate",
        True,
        "Share of answers that gave a usable option "
        "(sample mode: parsed; logprobs: any letter mass).",
        "usable answers / all answers",
        ("result", "quality"),
    )
)
register(
    MetricSpec(
        "letter_mass",
        "Letter mass",
        True,
        "Mean next-token probability the model put on the six option letters (logprobs mode).",
        "mean over prompts of sum_letters p(letter)",
        ("result", "quality"),
    )
)
register(
    MetricSpec(
        "permeable_cells",
        "Permeable cells",
        None,
        "Number of (persona attribute, dimension) cells whose omega-squared is significant "
        "after Benjamini-Hochberg over the whole grid (p-values resolved to the grid's "
        "threshold by adaptive permutations and a permutation-checked F tail).",
        "#{cells: q_BH <= fdr_alpha}",
        ("permeability",),
        0,
    )
)
register(
    MetricSpec(
        "permeability_top",
        "Largest significant permeability",
        None,
        "The largest omega-squared among the significant cells, shown with its cell "
        "(attribute x dimension); empty when no cell is significant.",
        "max{omega^2: q_BH <= fdr_alpha}",
        ("permeability",),
    )
)
