"""DVC stage `personas`: thin glue around `value-inertia personas`."""

from value_inertia.cli import run_stage

if __name__ == "__main__":
    run_stage("personas")
