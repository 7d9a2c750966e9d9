"""Psychometric quality of one result: how far to trust its numbers.

One module per check, each a set of pure functions (arrays in, numbers out,
formulas in the docstrings; bad input raises ``ValueError`` naming the
argument), assembled by :mod:`.report` for one (model, questionnaire):

* :mod:`.reliability`: Cronbach's alpha and McDonald's omega on ipsatized
  (MRAT-centred) scores, only from the persona minimum on;
* :mod:`.position_bias`: how much of the answers follows the letter shown
  (``shuffled`` variant), the chance-corrected letter preference, the figure;
* :mod:`.debiasing`: the letter prior and the position-debiased inertia;
* :mod:`.mode_agreement`: logprob-vs-sample agreement against its expectation;
* :mod:`.attention`: catch items answered on the wrong side;
* :mod:`.answers`: letter mass, parse rate, scale use (MRAT);
* :mod:`.verdict`: the thresholds and the one-line verdict;
* :mod:`.report_model`: the typed report (``data/quality/<stem>.json``), its reader
  and writer;
* :mod:`.inputs`: shared validation of arrays.
"""
