"""DVC stage `cluster`: thin glue around `value-inertia cluster`."""

from value_inertia.cli import run_stage

if __name__ == "__main__":
    run_stage("cluster")
