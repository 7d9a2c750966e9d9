"""Letter-prior debiasing: what a shuffled subset costs in requests and gains in accuracy.

A simulated model answers with q proportional to L * m (PriDe's model: a prior L
over option letters times the options' meaning m). Every prompt is asked in the
original order (letter k shows rating k); a subset of them is asked again with
the letters shuffled, the letter prior is estimated from that subset
(``estimate_letter_prior``) and divided out of the original answers
(``debiased_inertia``). Printed per subset size: the extra requests (share of
the original prompts), the error of the estimated prior (largest |L^ - L|) and
of the debiased inertia against the true inertia I(mean m), mean over data
sets, against the raw inertia's error; logprobs (distributions) and sample mode
(one sampled answer per prompt). Also the pooled letter distribution as the
estimator, to show what the fixed point adds.

    python benchmarks/bench_letter_prior.py            # about 1 min
    python benchmarks/bench_letter_prior.py --reps 50
"""

from __future__ import annotations

import argparse

import numpy as np

from value_inertia.analysis.metrics import inertia_index
from value_inertia.analysis.quality.debiasing import debiased_inertia, estimate_letter_prior

PRIOR = np.array([0.12, 0.12, 0.12, 0.40, 0.12, 0.12])  # the letter-D shape of issue 19


def meanings(rng: np.random.Generator, n: int) -> np.ndarray:
    """Per-prompt rating distributions: a peak at a dimension-typical rating, varied."""
    peak = np.clip(rng.normal(4.5, 1.0, size=n), 1, 6)
    conc = rng.uniform(0.5, 2.5, size=n)
    m = np.exp(-conc[:, None] * np.abs(np.arange(1, 7)[None, :] - peak[:, None]))
    return m / m.sum(axis=1, keepdims=True)


def answer(rng: np.random.Generator, m_letters: np.ndarray, sample: bool) -> np.ndarray:
    q = m_letters * PRIOR
    q /= q.sum(axis=1, keepdims=True)
    if sample:
        u = rng.random((q.shape[0], 1))
        q = np.eye(6)[(q.cumsum(axis=1) < u).sum(axis=1).clip(0, 5)]
    return q


def one(rng: np.random.Generator, n: int, k: int, sample: bool) -> dict[str, float]:
    m = meanings(rng, n)
    truth = inertia_index(m.mean(axis=0))
    original = answer(rng, m, sample)
    sub = rng.choice(n, size=k, replace=False)
    perm = np.argsort(rng.random((k, 6)), axis=1) + 1  # rating shown at letters A..F
    shuffled = answer(rng, np.take_along_axis(m[sub], perm - 1, axis=1), sample)
    fitted = estimate_letter_prior(shuffled)
    pooled = shuffled.mean(axis=0)
    return {
        "raw": abs(inertia_index(original.mean(axis=0)) - truth),
        "debiased": abs(debiased_inertia(original, fitted) - truth),
        "pooled": abs(debiased_inertia(original, pooled) - truth),
        "prior": float(np.abs(fitted - PRIOR).max()),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reps", type=int, default=30, help="simulated data sets per cell")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    rng = np.random.default_rng(args.seed)
    print(f"letter prior L = {PRIOR.tolist()}; {args.reps} data sets per row\n")
    print(
        "| mode | prompts | shuffled subset | extra requests | max abs(L^ - L) | "
        "abs error raw inertia | debiased (fixed point) | debiased (pooled L) |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for sample in (False, True):
        # 96: the default run (MFQ-30); 267: MFQ-30 and PVQ-RR; 6,400: about paper scale
        cells = ((96, (10, 24, 96)), (267, (13, 27, 67, 267)), (6400, (64, 192, 640, 1600, 6400)))
        for n, sizes in cells:
            for k in sizes:
                runs = [one(rng, n, k, sample) for _ in range(args.reps)]
                mean = {key: float(np.mean([r[key] for r in runs])) for key in runs[0]}
                print(
                    f"| {'sample' if sample else 'logprobs'} | {n} | {k} | {k / n:.0%} | "
                    f"{mean['prior']:.3f} | {mean['raw']:.3f} | {mean['debiased']:.4f} | "
                    f"{mean['pooled']:.4f} |"
                )


if __name__ == "__main__":
    main()
