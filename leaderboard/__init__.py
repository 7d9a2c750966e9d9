"""The value-inertia leaderboard app (Gradio): data, selection, figures, pages, app.

Run it with ``python -m leaderboard`` (see :mod:`leaderboard.app`); the Hub
Space carries this package whole, started by its own ``app.py``.
"""
