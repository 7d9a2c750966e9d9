"""``python -m leaderboard``: serve the leaderboard app."""

from leaderboard.app import main

main()
