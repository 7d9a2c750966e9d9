"""Submissions: a pull request on someone else's Hub dataset, verified and landed.

:mod:`.snapshot` reads a revision of the dataset (its tables, files and the PR's
base commit); :mod:`.diff` finds what a PR adds or changes and which rows of
other contributors it touches; :mod:`.recompute` re-derives every submitted
row from the submitted answers; :mod:`.verify` runs all checks and
:mod:`.report` holds what they found and writes the report; :mod:`.land` opens
(``submit``) and lands (``land_submission``) a PR.
"""
