"""DVC stage `validate` (runs first; every stage depends on it): `value-inertia validate`."""

import sys
from pathlib import Path

# run the package source that dvc.yaml tracks (src/value_inertia), whatever is installed
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

import value_inertia.analysis  # noqa: F401  (registers the metrics leaderboard.rank_by may name)
from value_inertia.cli import run_stage

if __name__ == "__main__":
    run_stage("validate")
