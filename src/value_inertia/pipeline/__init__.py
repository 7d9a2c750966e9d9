"""One function per pipeline stage: read inputs, call the library, write outputs.

Modules by stage group: ``design`` (personas, prompts, models), ``evaluation``
(evaluate, parse), ``analysis`` (analyze, cluster, quality), ``publishing``
(leaderboard, publish).

The CLI and the thin ``stages/*.py`` entry points call these. Every input is
validated before anything is written, so a bad input never replaces an
existing output.
"""
