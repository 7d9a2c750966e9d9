"""DVC stage `parse`: thin glue around `value-inertia parse`."""

from value_inertia.cli import run_stage

if __name__ == "__main__":
    run_stage("parse")
