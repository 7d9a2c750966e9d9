"""The metric registry: one entry per reported number, read by everything that computes or shows it.

Each :class:`MetricSpec` holds the metric's ``name`` (the key in the results
files, the leaderboard column and the MLflow metric name), a human ``label``,
its direction (``higher_is_better``: True, False, or None for descriptive
numbers that are neither), a one-line ``description`` and a ``formula``
reference, and what its consumers need:

* ``kind``: ``distribution`` (a function of one pooled answer distribution p_d),
  ``paired`` (of the baseline and the persona distribution) or ``per_persona``
  (of persona-level scores); None for numbers computed elsewhere. The analysis
  computes every ``distribution`` and ``paired`` metric of its scopes by looping over
  the registry: ``fn`` gives the point value, ``rows`` the vectorised form used by
  the bootstrap (``distribution``: ``rows(sums) -> values``, one per row;
  ``paired``: ``rows(p_baseline)(sums) -> values``).
* ``has_ci``: the analysis stores a bootstrap interval ``<name>_ci`` beside it,
  clipped to ``bounds`` (the metric's range) when given.
* ``rankable``: a valid ``leaderboard.rank_by`` (ties go to the other rankable ones).
* ``shown_by_default``: a column of the board's Markdown summary, the card's
  leaderboard table and the app's default view, in ``column_order`` (lower first,
  then registration order).
* ``summary``: what DVC's summary metric holds of it (``value``, ``value_and_ci``).
* ``per_dimension``: where its per-dimension values go besides the metrics file:
  ``plot`` (the per-dimension table of DVC's bar plot, ``data/plots/<stem>__inertia.csv``)
  or ``board`` (that, and the board's per-dimension columns ``<name>:<dimension>`` and
  its Markdown per-dimension table), in registration order.

The leaderboard's columns and ranking, the DVC summary, MLflow, the dataset's metrics
table, verification, the dataset card's "what the numbers mean" and the app all read
it. The app runs on the Hub Space without this package, so :func:`registry_records`
is published as ``metric_registry.json`` next to the data.

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
from dataclasses import dataclass, field, fields, replace
from typing import Any, Literal, TypeVar

Scope = Literal["dimension", "overall", "result", "quality", "cluster", "permeability", "variant"]
Kind = Literal["distribution", "paired", "per_persona"]
SummaryPart = Literal["none", "value", "value_and_ci"]
DimensionView = Literal["none", "plot", "board"]  # each reaches what the one before does
F = TypeVar("F", bound=Callable[..., Any])
#: kinds the analysis computes from the pooled answer distributions by looping over the registry
COMPUTED_KINDS: tuple[Kind, ...] = ("distribution", "paired")


@dataclass(frozen=True)
class MetricSpec:
    name: str
    label: str
    higher_is_better: bool | None
    description: str
    formula: str
    scopes: tuple[Scope, ...] = ("dimension", "overall")
    digits: int = 3
    kind: Kind | None = None
    has_ci: bool = False
    rankable: bool = False
    shown_by_default: bool = False
    column_order: int = 100
    summary: SummaryPart = "none"
    per_dimension: DimensionView = "none"
    bounds: tuple[float, float] | None = None  # the metric's range; its CI is clipped to it
    # the point value (the decorated function) and its vectorised form; not published
    fn: Callable[..., Any] | None = field(default=None, compare=False, repr=False)
    rows: Callable[..., Any] | None = field(default=None, compare=False, repr=False)

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


def unregister(name: str) -> None:
    """Remove ``name`` (a metric a test or a notebook registered for a while)."""
    REGISTRY.pop(name, None)


def register_metric(
    name: str,
    label: str,
    higher_is_better: bool | None,
    description: str,
    formula: str,
    scopes: tuple[Scope, ...] = ("dimension", "overall"),
    digits: int = 3,
    **consumers: Any,
) -> Callable[[F], F]:
    """Decorator: register the metric computed by the decorated pure function.

    ``consumers``: the other :class:`MetricSpec` fields (``kind``, ``has_ci``, ``rows``,
    ``rankable``, ``shown_by_default``, ``column_order``, ``summary``, ``per_dimension``);
    the decorated function becomes the spec's ``fn``.
    """

    def wrap(fn: F) -> F:
        spec = MetricSpec(name, label, higher_is_better, description, formula, scopes, digits)
        register(replace(spec, fn=fn, **consumers))
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


def computed(scope: Scope) -> list[MetricSpec]:
    """The metrics of ``scope`` the analysis computes from answer distributions
    (kind ``distribution`` or ``paired``), in registration order."""
    return [s for s in REGISTRY.values() if s.kind in COMPUTED_KINDS and scope in s.scopes]


def compared() -> tuple[str, ...]:
    """What verification recomputes and compares: every overall metric computed from
    answer distributions (:func:`computed`)."""
    return tuple(s.name for s in computed("overall"))


def rankable() -> list[str]:
    """The names ``leaderboard.rank_by`` may take, in registration order."""
    return [n for n, s in REGISTRY.items() if s.rankable]


def check_rankable(name: str) -> str:
    """``name`` when it is a rankable metric; a ValueError naming the allowed ones otherwise.

    Before the analysis package is imported no rankable metric is registered yet; the
    name is then accepted here and checked where the board is built.
    """
    allowed = rankable()
    if allowed and name not in allowed:
        raise ValueError(f"{name!r} is not a rankable metric; allowed: {', '.join(allowed)}")
    return name


def shown() -> list[str]:
    """Metrics shown by default (board summary, card table, app), in ``column_order``."""
    specs = [s for s in REGISTRY.values() if s.shown_by_default]
    return [s.name for s in sorted(specs, key=lambda s: s.column_order)]


def per_dimension(view: Literal["plot", "board"]) -> list[str]:
    """Metrics whose per-dimension values reach ``view`` (``board`` ones reach ``plot``
    too), in registration order."""
    reach = ("plot", "board") if view == "plot" else ("board",)
    return [n for n, s in REGISTRY.items() if s.per_dimension in reach]


def in_summary() -> list[MetricSpec]:
    """Overall metrics that DVC's summary holds (``summary`` other than ``none``)."""
    return [s for s in REGISTRY.values() if s.summary != "none" and "overall" in s.scopes]


_UNPUBLISHED = ("fn", "rows")


def registry_records(selected: Iterable[str] | None = None) -> list[dict[str, Any]]:
    """JSON-ready entries (published as ``metric_registry.json`` for the app): every
    field but the functions, and the direction in words."""
    chosen = list(REGISTRY) if selected is None else list(selected)
    out = []
    for n in chosen:
        spec = get(n)
        record = {f.name: getattr(spec, f.name) for f in fields(spec) if f.name not in _UNPUBLISHED}
        record["scopes"] = list(spec.scopes)
        record["bounds"] = list(spec.bounds) if spec.bounds is not None else None
        out.append({**record, "direction": spec.direction})
    return out


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
        shown_by_default=True,
        column_order=50,
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
