"""Prompt variants against ``original``: their metrics, paired shifts and the variants file.

* :mod:`.shifts`: the pure computation (formulas and the paired bootstrap in its
  docstring) and the registry's ``shift_*`` metrics;
* :mod:`.report_model`: the typed file ``data/variants/<stem>.json``, its reader and writer;
* :mod:`.report`: the report of one (model, questionnaire) and what MLflow, the figure
  and the leaderboard read from it.
"""
