"""PNG figures of the analysis, one module per kind (common, distributions, effects,
clusters, variants) (matplotlib, no display and no global state needed).

Every ``plot_*`` function takes precomputed data (the analysis computes the
persona x item matrix, the permeability table, ... once per run) and draws
one figure, like scikit-learn's Display objects:

* ``ax=None`` (default): a new :class:`~matplotlib.figure.Figure` is made;
* ``ax=<Axes>``: the figure is drawn into that Axes (for composing panels);
* ``path``: the figure is written there (parent folders created) and the path
  is returned; without ``path`` the Axes is returned.

Figures are built with :class:`Figure` directly, not through pyplot, so
nothing leaks between calls and no backend is selected at import. Every
title names the model, the questionnaire and the prompt variant
(:func:`figure_title`), so figures side by side can be told apart.
"""
