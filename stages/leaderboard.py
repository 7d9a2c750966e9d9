"""DVC stage `leaderboard`: thin glue around `value-inertia leaderboard`."""

from value_inertia.cli import run_stage

if __name__ == "__main__":
    run_stage("leaderboard")
