"""From parsed answers to numbers.

Per-result analysis, metrics, the quality report, clusters, variant shifts, the
DVC summary and figures.

The modules whose pure functions register themselves in the metric registry
(:mod:`value_inertia.core.registry`) are imported here, so that importing any part
of the analysis makes the registry complete. A module outside the analysis that
reads the registry imports this package first (``import value_inertia.analysis``).
"""

from value_inertia.analysis import metrics, omega_squared  # noqa: F401  (they register)
from value_inertia.analysis.quality import (  # noqa: F401  (they register)
    answers,
    attention,
    debiasing,
    mode_agreement,
    position_bias,
    reliability,
)
from value_inertia.analysis.variants import shifts  # noqa: F401  (it registers)
