"""DVC stage `quality`: thin glue around `value-inertia quality`."""

from value_inertia.cli import run_stage

if __name__ == "__main__":
    run_stage("quality")
