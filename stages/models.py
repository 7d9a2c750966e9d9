"""DVC stage `models`: thin glue around `value-inertia models`."""

from value_inertia.cli import run_stage

if __name__ == "__main__":
    run_stage("models")
