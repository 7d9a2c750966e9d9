"""Mode agreement: does a model's sampled answer follow its logprob distribution?

Where one model file runs in both ``logprobs`` and ``sample`` mode, each
sampled answer is paired with the logprob distribution of the same prompt.
A model whose samples are drawn from that distribution agrees with its argmax
only max_k p_k of the time, so the observed agreement is compared with that
expectation (not with a fixed 0.5) and only a significant shortfall is flagged.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from value_inertia.analysis.metrics import inertia_index, steerability
from value_inertia.analysis.quality.inputs import check_boot, distributions, percentile_ci
from value_inertia.core.registry import MetricSpec, register, register_metric
from value_inertia.design.questionnaires import N_OPTIONS


@register_metric(
    "agreement",
    "Logprob-sample agreement",
    True,
    "Same model in logprobs and sample mode: share of sampled answers equal to the logprob "
    "argmax of the same prompt; compare with the expected agreement.",
    "mean_s [r_s = argmax_k p_lp(prompt_s)_k]",
    ("quality",),
)
def mode_agreement(
    p_logprob: Any,
    sampled: Any,
    groups: Sequence[Any],
    n_boot: int,
    confidence: float,
    rng: np.random.Generator,
) -> dict[str, Any]:
    """Agreement between a model's logprob distributions and its sampled answers.

    Row s pairs a sampled rating r_s (1..6) with the logprob distribution p_s
    of the same prompt (repeat a prompt's row for each of its samples);
    ``groups`` names each row's persona (the bootstrap unit).

    - agreement = mean_s [r_s = argmax_k p_s,k] (ties: the lowest rating);
    - expected_agreement = mean_s max_k p_s,k: the agreement expected if each
      sample were drawn from its logprob distribution (P(r_s = argmax) = max p);
    - shortfall = expected_agreement - agreement = mean_s d_s,
      d_s = max_k p_s,k - [r_s = argmax_k p_s,k], with a cluster-robust t
      interval over the G groups (answers of one persona are not independent):
      SE^2 = G/(G-1) sum_g (sum_{s in g} (d_s - shortfall))^2 / n^2, CI =
      shortfall -/+ t_{G-1, (1+c)/2} SE (CR1; in a null simulation of 30 personas
      x 10 items it lies above 0 in 2.5 % of data sets at c = 0.95, where a
      percentile bootstrap gave 5.8 %); ``shortfall_significant``: the CI lies
      above 0 (the samples follow the argmax less often than the model's own
      distribution predicts); needs 2 or more groups;
    - mean_sampled_probability = mean_s p_s,r_s: the logprob probability of the
      answer that was sampled (its expectation under sampling from p_s is
      sum_k p_s,k^2, not the expected agreement);
    - jsd = JSD_2(P_lp, P_s) between the pooled distributions
      P_lp = mean_s p_s and P_s = histogram of r_s / n (:func:`metrics.steerability`);
    - agreement_ci, expected_agreement_ci and inertia_difference = I(P_s) - I(P_lp)
      with percentile bootstrap CIs over groups (resampled with replacement,
      ``n_boot`` times).
    """
    check_boot(n_boot, confidence)
    probs = distributions(p_logprob, "p_logprob")
    ratings = np.asarray(sampled, dtype=float)
    n = probs.shape[0]
    if ratings.shape != (n,):
        raise ValueError(f"sampled must hold one rating per row ({n}), got shape {ratings.shape}")
    if np.any((ratings < 1) | (ratings > N_OPTIONS) | (ratings != np.round(ratings))):
        raise ValueError(f"sampled ratings must be whole numbers in 1..{N_OPTIONS}")
    if len(groups) != n:
        raise ValueError(f"groups has {len(groups)} entries for {n} rows")
    if n == 0:
        raise ValueError("mode_agreement needs at least one matched answer")
    r = ratings.astype(int) - 1
    onehot = np.eye(N_OPTIONS)[r]
    agree = (np.argmax(probs, axis=1) == r).astype(float)
    top = probs.max(axis=1)
    p_lp = probs.mean(axis=0)
    p_s = onehot.mean(axis=0)
    codes, _ = pd.factorize(pd.Series(list(groups), dtype=object))
    n_groups = int(codes.max()) + 1
    lp_sum = np.zeros((n_groups, N_OPTIONS))
    s_sum = np.zeros((n_groups, N_OPTIONS))
    np.add.at(lp_sum, codes, probs)
    np.add.at(s_sum, codes, onehot)
    size = np.bincount(codes, minlength=n_groups).astype(float)
    agree_sum = np.bincount(codes, weights=agree, minlength=n_groups)
    top_sum = np.bincount(codes, weights=top, minlength=n_groups)
    picks = rng.integers(0, n_groups, size=(n_boot, n_groups))
    counts = np.stack([np.bincount(row, minlength=n_groups) for row in picks]).astype(float)
    rows = counts @ size
    boot_agree = counts @ agree_sum / rows
    boot_expected = counts @ top_sum / rows
    diffs = [
        inertia_index(b_s) - inertia_index(b_lp)
        for b_lp, b_s in zip(counts @ lp_sum, counts @ s_sum, strict=True)
    ]
    agreement = float(agree.mean())
    expected = float(top.mean())
    shortfall = expected - agreement
    shortfall_ci = None
    if n_groups >= 2:
        residual = np.bincount(codes, weights=top - agree - shortfall, minlength=n_groups)
        se = float(np.sqrt(n_groups / (n_groups - 1) * (residual**2).sum()) / n)
        half = float(stats.t.ppf((1 + confidence) / 2, n_groups - 1)) * se
        shortfall_ci = (shortfall - half, shortfall + half)
    return {
        "n_matched": int(n),
        "agreement": agreement,
        "agreement_ci": percentile_ci(boot_agree, confidence),
        "expected_agreement": expected,
        "expected_agreement_ci": percentile_ci(boot_expected, confidence),
        "shortfall": shortfall,
        "shortfall_ci": shortfall_ci,
        "shortfall_significant": bool(shortfall_ci is not None and shortfall_ci[0] > 0),
        "mean_sampled_probability": float(probs[np.arange(n), r].mean()),
        "jsd": steerability(p_lp, p_s),
        "inertia_logprob": inertia_index(p_lp),
        "inertia_sample": inertia_index(p_s),
        "inertia_difference": inertia_index(p_s) - inertia_index(p_lp),
        "inertia_difference_ci": percentile_ci(np.asarray(diffs), confidence),
    }


register(
    MetricSpec(
        "expected_agreement",
        "Expected agreement",
        None,
        "Same model in both modes: the agreement expected if the sampled answers were drawn "
        "from the logprob distributions (mean of max p). A significant shortfall of the "
        "observed agreement below it (cluster-robust CI over personas): mode-dependent.",
        "mean_s max_k p_lp(prompt_s)_k",
        ("quality",),
    )
)
register(
    MetricSpec(
        "agreement_jsd",
        "Logprob-sample JSD",
        False,
        "Same model in both modes: Jensen-Shannon divergence (bits) between the pooled "
        "logprob distribution and the pooled sampled answers.",
        "JSD_2(P_lp, P_sample)",
        ("quality",),
    )
)
register(
    MetricSpec(
        "inertia_difference",
        "Inertia difference (sample - logprobs)",
        None,
        "Same model in both modes: inertia of the sampled answers minus inertia of the "
        "logprob distributions (with a bootstrap CI over personas).",
        "I(P_sample) - I(P_lp)",
        ("quality",),
    )
)
