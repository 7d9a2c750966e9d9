"""DVC stage `evaluate` (one per model, `foreach`): thin glue around `value-inertia evaluate`."""

from value_inertia.cli import run_stage

if __name__ == "__main__":
    run_stage("evaluate")
