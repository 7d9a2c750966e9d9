"""Calibration of the position-bias threshold on known cases.

Simulated shuffled-variant answers (letters permuted per prompt) of known
shape, scored by ``letter_preference`` (the pooled letter distribution's
distance from uniform minus its chance level); the verdict flags
"position-driven" at ``THRESHOLDS["max_letter_preference"]``. Cases:

* ``letter-D``: letter D keeps 0.31-0.44 of the mass whatever option stands
  there (the shape of smollm2-135m in issue 19), the rest follows meaning;
* ``mild``: answers follow meaning, letter A x1.3 (a mild preference);
* ``mild2``: answers follow meaning, letters x(1.5, 1.2, 1, 1, 1, 0.8);
* ``none``: answers follow meaning only.

Meaning: each prompt's rating distribution peaks at a random rating with
concentration c (0.5 flat ... 4.0 near one-hot). Printed: min / median / max
over the data sets and the share flagged, per case, mode and size.

    python benchmarks/bench_position_calibration.py          # about 1 min
"""

from __future__ import annotations

import argparse

import numpy as np

from value_inertia.analysis.quality.position_bias import letter_preference
from value_inertia.analysis.quality.verdict import THRESHOLDS

MILD = {"mild": [1.3, 1, 1, 1, 1, 1], "mild2": [1.5, 1.2, 1, 1, 1, 0.8], "none": [1] * 6}


def answers(
    rng: np.random.Generator, case: str, conc: float, n: int, sample: bool
) -> tuple[np.ndarray, np.ndarray]:
    perm = np.argsort(rng.random((n, 6)), axis=1) + 1  # rating shown at letters A..F
    peak = rng.integers(1, 7, size=n)
    m = np.exp(-conc * np.abs(np.arange(1, 7)[None, :] - peak[:, None]))
    m /= m.sum(axis=1, keepdims=True)
    by_letter = np.take_along_axis(m, perm - 1, axis=1)
    if case == "letter-D":
        d = rng.uniform(0.31, 0.44, size=n)
        rest = by_letter.copy()
        rest[:, 3] = 0
        rest /= rest.sum(axis=1, keepdims=True)
        q = rest * (1 - d)[:, None]
        q[:, 3] = d
    else:
        q = by_letter * np.asarray(MILD[case])
        q /= q.sum(axis=1, keepdims=True)
    if sample:
        u = rng.random((n, 1))
        q = np.eye(6)[(q.cumsum(axis=1) < u).sum(axis=1).clip(0, 5)]
    return q, perm


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reps", type=int, default=40, help="simulated results per row")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    rng = np.random.default_rng(args.seed)
    limit = THRESHOLDS["max_letter_preference"]
    print(f"threshold max_letter_preference = {limit}; {args.reps} results per row\n")
    print("| mode | prompts | case | concentration | min | median | max | flagged |")
    print("|---|---|---|---|---|---|---|---|")
    for sample in (False, True):
        for n in (96, 171):
            for case in ("letter-D", "mild", "mild2", "none"):
                for conc in (0.5, 1.5, 4.0):
                    vals = np.array(
                        [
                            letter_preference(*answers(rng, case, conc, n, sample))[
                                "letter_preference"
                            ]
                            for _ in range(args.reps)
                        ]
                    )
                    print(
                        f"| {'sample' if sample else 'logprobs'} | {n} | {case} | {conc} | "
                        f"{vals.min():.3f} | {np.median(vals):.3f} | {vals.max():.3f} | "
                        f"{(vals >= limit).mean():.0%} |"
                    )


if __name__ == "__main__":
    main()
