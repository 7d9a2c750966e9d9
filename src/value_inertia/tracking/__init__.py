"""MLflow tracking: one run per stage, nested under one parent run per pipeline execution.

Each stage runs inside :func:`value_inertia.tracking.runs.stage_run`, which logs
only the params it is given (the sections the stage reads), the tags of
:mod:`~value_inertia.tracking.run_tags` (``model``, ``questionnaire``, ``variant``,
``protocol_hash``, ``prompt_set``, ``git_commit``, ``git_dirty``, ``dvc_stage``,
``dvc_exp``), the tables it reads and writes as run inputs
(:mod:`~value_inertia.tracking.datasets`) and, for a model's stages, metrics linked
to the model's MLflow logged model (:mod:`~value_inertia.tracking.logged_models`).
Under DVC the stage runs of one ``dvc repro`` or ``dvc exp run`` nest under one
parent run (:mod:`~value_inertia.tracking.parent_run`). Where the runs go is
:mod:`~value_inertia.tracking.experiment`; what identifies the code, the params
and the files is :mod:`~value_inertia.tracking.provenance`.

Secrets are never among the params (models carry only the *name* of their key
variable) and every logged string passes through
:func:`value_inertia.core.redaction.redact`. ``mlflow`` is imported only when a run
starts (it costs about a second).
"""
