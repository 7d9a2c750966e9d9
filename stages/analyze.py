"""DVC stage `analyze`: thin glue around `value-inertia analyze`."""

from value_inertia.cli import run_stage

if __name__ == "__main__":
    run_stage("analyze")
