"""DVC stage `publish`: thin glue around `value-inertia publish`."""

from value_inertia.cli import run_stage

if __name__ == "__main__":
    run_stage("publish")
