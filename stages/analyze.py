"""DVC stage `analyze` (one per model and questionnaire, `matrix`): everything read from one
result, in one process so the imports (MLflow, scipy, matplotlib) are paid once, not three
times: `value-inertia analyze` (metrics, variants), `cluster` (persona clusters), `quality`
(the quality report) and, last, `summarize` (the DVC metric: headline numbers of the metrics
and the quality report). Each still logs its own MLflow run; each also runs alone from the
CLI."""

import sys
from pathlib import Path

# run the package source that dvc.yaml tracks (src/value_inertia), whatever is installed
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from value_inertia.cli import run_stage

if __name__ == "__main__":
    for command in ("analyze", "cluster", "quality", "summarize"):
        run_stage(command)
