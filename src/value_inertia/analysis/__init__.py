"""From parsed answers to numbers.

Per-result analysis, metrics, the quality report, clusters, variant shifts, the
DVC summary and figures.

The modules whose pure functions register themselves in the metric registry
(:mod:`value_inertia.core.registry`) are imported here, so that importing any part
of the analysis makes the registry complete. A module outside the analysis that
reads the registry imports this package first (``import value_inertia.analysis``).
"""

from value_inertia.analysis import metrics, quality, variants  # noqa: F401  (they register)
