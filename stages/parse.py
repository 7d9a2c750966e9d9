"""DVC stage `parse`: thin glue around `value-inertia parse`."""

import sys
from pathlib import Path

# run the package source that dvc.yaml tracks (src/value_inertia), whatever is installed
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from value_inertia.cli import run_stage

if __name__ == "__main__":
    run_stage("parse")
