"""Coverage of the inertia CI over personas, by simulation (issue 19, item 5).

A population of personas with a known pooled answer distribution ``base`` (so the
true inertia is ``I(base)``) is sampled n times; each simulated result is analysed
exactly as a dimension is in ``analysis/analyze.py`` (per-persona summed
distributions, :func:`value_inertia.analysis.stats.studentized_interval`), and the
share of intervals that contain ``I(base)`` is printed for n = 30 and n = 200.

Population model (two levels, like the pipeline's data):

* persona i has its own answer distribution ``q_i ~ Dirichlet(kappa_p * base)``;
* each of its J items gets a prompt distribution ``r_ij ~ Dirichlet(kappa_i * q_i)``
  (E[r_ij] = base, so the population's pooled distribution is ``base``);
* ``logprobs`` mode: the persona's row is ``sum_j r_ij`` (per-prompt distributions);
  ``sample`` mode: each prompt gives S categorical answers drawn from ``r_ij``, the
  row is their one-hot counts.

Populations: ``flat`` (broad, inertia 0.018), ``concentrated`` (inertia 0.235)
and ``near-one-hot`` (inertia 0.850). Targets: coverage >= 0.93 at
n = 30 and >= 0.94 at n = 200 (nominal 0.95).

    PYTHONPATH=src python benchmarks/bench_ci_coverage.py [--reps 600] [--boot 1000]
        [--sizes 30 200] [--modes logprobs sample] [--populations flat ...] [--method ...]

The analysis uses the studentized bootstrap with a small-sample guard
(:func:`value_inertia.analysis.stats.studentized_interval`: the bootstrap-t
interval, never narrower than the t interval with n_eff - 1 degrees of freedom,
n_eff the number of personas that carry the variance). ``--method plain-t`` is the
bootstrap-t alone (the pipeline's interval until 2026-12-03), ``percentile`` the
interval before that, ``logit-t`` a variant tried (:func:`logit_t_ci`). Each cell has
its own seed and every method consumes the same random draws, so methods are paired.

Result (2026-12-04, 400 results per cell, 1,000 resamples, Monte Carlo SE 0.011;
``--method studentized`` and, for n = 30, ``--method plain-t``):

    mode      population     true I   cov n=30   width   cov n=200  width   plain-t n=30 (width)
    logprobs  flat            0.018      0.960   0.041      0.955   0.014   0.940 (0.036)
    logprobs  concentrated    0.235      0.973   0.125      0.953   0.044   0.955 (0.115)
    logprobs  near-one-hot    0.850      0.965   0.190      0.975   0.056   0.945 (0.147)
    sample    flat            0.018      0.960   0.064      0.960   0.021   0.917 (0.052)
    sample    concentrated    0.235      0.950   0.186      0.963   0.066   0.922 (0.172)
    sample    near-one-hot    0.850      0.953   0.291      0.960   0.084   0.930 (0.225)

No interval was "not measured" (such results would be left out of the coverage and
counted in the "no CI" column). Tried before (benchmarks/RESULTS.md): BCa 0.82-0.91
at n = 30; a logit-scale bootstrap-t 0.875-0.910; a pivot corrected for the plug-in
entropy's second-order bias (closed form, and a generic Hessian version for any
statistic of sums) 0.950 / 0.950 / 0.923 in sample mode at n = 30, still short near
one-hot, where 27 of 30 personas give the modal answer to every item and a resample
cannot draw what the data lack; the generic bias term also cost ten times the
interval's time at 31,000 personas. The guard closes that cell because it does not
rely on the resamples: three personas carrying the variance give about 2 degrees of
freedom.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from scipy import stats as sps

from value_inertia.analysis.stats import (
    _influence_se,
    percentile_interval,
    resample_counts,
    studentized_interval,
)

LOG2_6 = float(np.log2(6))
POPULATIONS: dict[str, np.ndarray] = {
    "flat": np.array([0.10, 0.13, 0.17, 0.22, 0.21, 0.17]),
    "concentrated": np.array([0.02, 0.04, 0.10, 0.22, 0.50, 0.12]),
    "near-one-hot": np.array([0.003, 0.004, 0.008, 0.015, 0.95, 0.02]),
}
KAPPA_PERSONA = 8.0  # between-persona spread of q_i (smaller = personas differ more)
KAPPA_ITEM = 20.0  # item-to-item spread of r_ij around q_i
ITEMS = 6  # items per dimension (MFQ-30 has 6, PVQ-RR 3)
SAMPLES = 1  # sampled answers per prompt in sample mode


def inertia_rows(sums: np.ndarray) -> np.ndarray:
    """I = 1 - H(p) / log2 6 of each row (normalised), vectorised."""
    p = sums / sums.sum(axis=1, keepdims=True)
    return 1.0 - sps.entropy(p, base=2, axis=1) / LOG2_6


def simulate_rows(base: np.ndarray, n: int, mode: str, rng: np.random.Generator) -> np.ndarray:
    """n persona rows (summed distributions or answer counts) of one dimension."""
    q = rng.dirichlet(KAPPA_PERSONA * base, size=n)
    q = np.clip(q, 1e-9, None)
    rows = np.zeros((n, 6))
    for _ in range(ITEMS):
        r = np.array([rng.dirichlet(KAPPA_ITEM * qi) for qi in q])
        if mode == "logprobs":
            rows += r
        else:
            for _ in range(SAMPLES):
                u = rng.random(n)[:, None]
                choice = (u > np.cumsum(r, axis=1)).sum(axis=1).clip(0, 5)
                rows[np.arange(n), choice] += 1
    return rows


def percentile_ci(rows: np.ndarray, n_boot: int, rng: np.random.Generator) -> tuple[float, float]:
    """The interval the pipeline used before: percentile bootstrap over personas."""
    draws = inertia_rows(resample_counts(rows.shape[0], n_boot, rng) @ rows)
    return percentile_interval(draws, 0.95)


def logit_t_ci(
    rows: np.ndarray, n_boot: int, rng: np.random.Generator, chunk: int = 128
) -> tuple[float, float]:
    """A bootstrap-t variant tried for sample mode at n = 30 (same resamples as the pipeline's).

    The pivot on the logit scale g(I) = log(I / (1 - I)),
    t* = (g(I*) - g(I_hat)) / (g'(I*) se*), interval g^-1(g(I_hat) - t*_q g'(I_hat) se_hat).
    """
    n = rows.shape[0]
    ones = np.ones((1, n))
    est = float(inertia_rows(ones @ rows)[0])
    se_hat = float(_influence_se(inertia_rows, rows, ones)[0])
    if not se_hat > 1e-12:  # no variance: the point, as the pipeline's interval
        return est, est
    ts = []
    for start in range(0, n_boot, chunk):
        counts = resample_counts(n, min(chunk, n_boot - start), rng)
        theta = inertia_rows(counts @ rows)
        se = _influence_se(inertia_rows, rows, counts)
        with np.errstate(all="ignore"):
            t = (np.log(theta / (1 - theta)) - np.log(est / (1 - est))) * theta * (1 - theta)
            t = t / se
        ts.append(t[(se > 0) & np.isfinite(t)])
    t_lo, t_hi = np.quantile(np.concatenate(ts), [0.025, 0.975])
    g, scale = np.log(est / (1 - est)), se_hat / (est * (1 - est))
    lo, hi = g - t_hi * scale, g - t_lo * scale
    return float(1 / (1 + np.exp(-lo))), float(1 / (1 + np.exp(-hi)))


def coverage(
    base: np.ndarray, n: int, mode: str, method: str, reps: int, n_boot: int, seed: int
) -> tuple[float, float, float]:
    """(coverage, mean width, share of intervals that are not measured) over ``reps`` results."""
    truth = 1.0 - sps.entropy(base, base=2) / LOG2_6
    rng = np.random.default_rng(seed)
    hits, widths, missing = 0, [], 0
    for _ in range(reps):
        rows = simulate_rows(base, n, mode, rng)
        if method in ("studentized", "plain-t"):
            lo, hi = studentized_interval(
                rows, inertia_rows, n_boot, 0.95, rng, small_sample_guard=method == "studentized"
            )
            lo, hi = max(lo, 0.0), min(hi, 1.0)  # clipped to [0, 1], as the analysis does
        elif method == "logit-t":
            lo, hi = logit_t_ci(rows, n_boot, rng)
        else:
            lo, hi = percentile_ci(rows, n_boot, rng)
        if not np.isfinite(lo):
            missing += 1
            continue
        hits += lo <= truth <= hi
        widths.append(hi - lo)
    measured = max(reps - missing, 1)
    return hits / measured, float(np.mean(widths)) if widths else float("nan"), missing / reps


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=600, help="simulated results per cell")
    parser.add_argument("--boot", type=int, default=1000, help="bootstrap resamples")
    parser.add_argument("--sizes", type=int, nargs="+", default=[30, 200])
    parser.add_argument(
        "--method",
        nargs="+",
        default=["studentized", "percentile"],
        help="studentized (the pipeline's: bootstrap-t with the small-sample guard), "
        "plain-t (the bootstrap-t alone), percentile, logit-t",
    )
    parser.add_argument("--modes", nargs="+", default=["logprobs", "sample"])
    parser.add_argument("--populations", nargs="+", default=list(POPULATIONS))
    args = parser.parse_args()
    start = time.perf_counter()
    print(f"reps={args.reps} boot={args.boot} items={ITEMS} samples/prompt={SAMPLES} "
          f"kappa_persona={KAPPA_PERSONA} kappa_item={KAPPA_ITEM}; nominal 0.95")  # fmt: skip
    print(f"{'method':<12}{'mode':<10}{'population':<14}{'true I':>7}"
          + "".join(f"{'cov n=' + str(n):>11}{'width':>8}{'no CI':>7}"
                    for n in args.sizes))  # fmt: skip
    for method in args.method:
        for mode in args.modes:
            for i, (name, base) in enumerate(POPULATIONS.items()):
                if name not in args.populations:
                    continue
                truth = 1.0 - sps.entropy(base, base=2) / LOG2_6
                cells = []
                for n in args.sizes:
                    cov, width, gap = coverage(
                        base, n, mode, method, args.reps, args.boot, 1000 + i
                    )
                    cells.append(f"{cov:>11.3f}{width:>8.3f}{gap:>7.3f}")
                print(f"{method:<12}{mode:<10}{name:<14}{truth:>7.3f}" + "".join(cells), flush=True)
    se = float(np.sqrt(0.95 * 0.05 / args.reps))
    print(f"Monte Carlo SE of a coverage near 0.95: {se:.3f}; {time.perf_counter() - start:.0f} s")


if __name__ == "__main__":
    main()
