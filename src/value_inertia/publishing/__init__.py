"""Publishing to the Hugging Face Hub, one job per module.

* :mod:`.folders`: file helpers shared by the others (slugs, manifests, front matter);
* :mod:`.tables`: a model's identity (its weights or served model), the dataset's tables
  from the pipeline's results (public fields only, with provenance) and how published
  tables merge;
* :mod:`.configs`: the dataset's configs (one per table, one per model identity for answers);
* :mod:`.card`: the dataset card (README.md) and LICENSE.md; :mod:`.card_columns`: its
  column dictionary;
* :mod:`.dataset`: the dataset repo folder (tables + card + figures + metric registry);
* :mod:`.space`: the Space folder (the ``leaderboard`` app package, copied whole);
* :mod:`.push`: the push (merge with the Hub dataset, one commit guarded by
  ``parent_commit``, a release tag), third-party submission and its verification.
"""
