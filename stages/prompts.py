"""DVC stage `prompts`: thin glue around `value-inertia prompts`."""

from value_inertia.cli import run_stage

if __name__ == "__main__":
    run_stage("prompts")
