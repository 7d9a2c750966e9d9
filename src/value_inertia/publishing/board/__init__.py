"""The leaderboard: one row per (model, questionnaire, variant), ranked within its protocol.

Modules: :mod:`.inputs` reads what the board is built from (metrics, clusters, model
specs, quality and variant reports, spend); :mod:`.columns` holds the columns (from
the metric registry) and number helpers; :mod:`.build` makes the rows;
:mod:`.ranking` ranks them; :mod:`.markdown` writes the board's files and text.

Input is what the analyze stage wrote (metrics, clusters, quality), read through the results
contract (:mod:`value_inertia.core.results`): the metrics file of each result
(``data/metrics/<stem>.json``), the cluster summaries
(``data/clusters/<stem>.json``), the model specs (``data/models/<model>.json``)
and, when they exist, the quality reports (``data/quality/<stem>.json``) and
the spend files (``data/spend/<model>.json``). Which metrics are shown, their
labels, directions and the legend come from the metric registry
(:mod:`value_inertia.core.registry`).

Columns (in this order)
-----------------------
``rank``, ``rank_label``, ``tie_group``
    1 = the most value-inert model of its ranking group (see *Ranking*);
    ``rank_label`` shows the tie group ("1-2": ranks 1 and 2 cannot be told
    apart), ``tie_group`` numbers the tie groups 1, 2, ... within the group.
    A result with fewer personas than the minimum has no rank and no tie
    group (null) and the label "not ranked (n = 2)".
``model``, ``questionnaire``, ``variant``, ``protocol_hash``
    The result's identity and the hash of its measurement protocol
    (:mod:`value_inertia.core.protocol`).
``inertia``, ``steerability``, ``top2``, ``top1`` (the registry's overall metrics)
    Unweighted means over the questionnaire's value dimensions; a metric registered
    later gets its column here.
``inertia_ci_low``, ``inertia_ci_high``
    Bootstrap CI over personas of the overall inertia (of each overall metric registered
    with ``summary="value_and_ci"``).
``seed_stability``
    Mean Pearson r of per-item mean ratings between persona seeds (secondary;
    the per-seed spread is in the metrics file's ``seed_spread``).
``inertia_seed_sd``
    SD over persona seeds of the overall inertia (null with one seed).
``permeable_cells``, ``permeability_top``, ``permeability_top_cell``
    The number of selective-permeability cells significant after Benjamini-Hochberg,
    and the largest significant omega-squared with its cell ("attribute x dimension";
    null when no cell is significant). Registry entries ``permeable_cells`` and
    ``permeability_top``. (The largest omega-squared of the whole grid is not shown:
    a maximum over 60-228 null cells is inflated, median 0.10-0.14 with no effect.)
``parse_rate``, ``letter_mass`` (the registry's result metrics)
``n_personas``, ``n_seeds``, ``personas_per_seed``, ``repeats``, ``samples``, ``design``
    ``design`` reads "2 personas x 1 seeds x 1 repeats x 1 samples".
``clusters``, ``silhouette``
``alpha``, ``position_bias``, ``agreement``, ``verdict``
    From the quality report, when there is one.
``cost_usd``
    Spend of the model (all its runs), when recorded.
``model_id``, ``backend``, ``mode``, ``api``, ``temperature``, ``date``, ``params_hash``
``shift_inertia_<variant>``, ``shift_inertia_<variant>_low``, ``..._high`` (only when present)
    On the ``original`` row: the overall inertia shift of another prompt variant
    (variant - original) and its paired bootstrap CI, from ``data/variants/<stem>.json``
    (:mod:`value_inertia.analysis.variants`; registry metrics of scope ``variant``). These
    columns follow the fixed ones and exist only when some result has a variant.
``inertia:<dimension>``, ``steerability:<dimension>``

Ranking
-------
Results are ranked only against results measured the same way: within each
(questionnaire, protocol_hash) group (and never across answer modes: logprobs
and sampled results differ in protocol anyway; files without a protocol hash
are grouped by mode). ``rank_by`` picks the primary indicator (a metric registered
``rankable``: inertia, steerability, top2), in its registry direction (inertia: higher
first; steerability: lower first; top2: higher first); ties go to the other rankable
indicators, then to the model name.
Ranks are 1..n without gaps.

No rank below the minimum sample: a result with fewer than
:data:`value_inertia.analysis.stats.MIN_PERSONAS` (30) personas keeps its
numbers but gets no rank and no tie group, and ``rank_label`` says
"not ranked (n = <personas>)" (or "n unknown" without the count). With so
few personas the bootstrap CIs do not reach their coverage and a rank would be
a guess (``benchmarks/bench_ci_coverage.py``).

Tie groups: the leader (rank 1) and every model whose bootstrap CI of the
``rank_by`` indicator overlaps the leader's form tie group 1 (up to the last
overlapping rank); the next model leads group 2, and so on. Without a CI a
model is its own group.
"""
