"""Benjamini-Hochberg power and null marking rate of selective permeability (issue 19, item 4).

Simulated persona grids the size of the default schema's 12 attributes (category counts
2, 4, 4, 2, 6, 9, 3, 11, 6, 8, 65, 65) x a questionnaire's dimensions (MFQ-30: 5 -> 60
cells; PVQ-RR: 19 -> 228 cells), N personas, independent standard-normal scores. Planted:
the religion attribute's 8 category means (evenly spaced, scaled to SD ``--effect``) added
to one dimension; null: no effect anywhere. Each grid goes through
``omega_squared.permeability_many`` and ``benjamini_hochberg``; a cell is marked at
q <= 0.05. Prints, per grid and p-value method, the share of grids whose planted cell is
marked (power), the mean number of other cells marked, and the share of null grids with
any mark. "fixed 1,000" is the p-value before issue 19 (max_permutations = n_permutations
= 1,000: p >= 1/1001); "adaptive" is today's default (1,000 draws, more for unresolved
cells up to 20,000, then the permutation-checked F tail).

    .venv/bin/python benchmarks/bench_permeability_power.py --sims 50
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from value_inertia.analysis import omega_squared as om

CATEGORIES = [2, 4, 4, 2, 6, 9, 3, 11, 6, 8, 65, 65]
RELIGION = 9
GRIDS = {"MFQ-30": 5, "PVQ-RR": 19}
# (n_permutations, max_permutations, min_exceedances); min_exceedances 0: the permutation p
METHODS = {
    "fixed 1,000 (before)": (1000, 1000, 0),
    "fixed 5,000": (5000, 5000, 0),
    "adaptive (default)": (1000, om.MAX_PERMUTATIONS, om.MIN_EXCEEDANCES),
}


def marks(rng: np.random.Generator, n: int, dims: int, effect: float, method: tuple, seed: int):
    codes = [om._group_codes(rng.integers(0, k, size=n)) for k in CATEGORIES]
    scores = rng.standard_normal((n, dims))
    means = np.linspace(-1.0, 1.0, CATEGORIES[RELIGION])
    scores[:, 0] += (effect * means / means.std())[codes[RELIGION]]
    n_perm, max_perm, h = method
    grid = om.permeability_many(scores, codes, n_perm, seed, max_perm, h)
    p = np.array([[c.p_value for c in row] for row in grid])
    return (om.benjamini_hochberg(p.ravel()) <= 0.05).reshape(p.shape)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sims", type=int, default=50, help="grids per configuration")
    parser.add_argument("--personas", type=int, default=200)
    parser.add_argument("--effect", type=float, default=0.5, help="SD of the planted means")
    args = parser.parse_args()
    print(f"N = {args.personas} personas, {args.sims} grids per row, planted SD {args.effect}\n")
    print(
        "| grid | cells | p-value | power (planted cell marked) | other cells marked "
        "(mean) | null grids with any mark | s per grid |"
    )
    print("|---|---|---|---|---|---|---|")
    for name, dims in GRIDS.items():
        for label, method in METHODS.items():
            t0 = time.perf_counter()
            rng = np.random.default_rng(19)
            planted = [
                marks(rng, args.personas, dims, args.effect, method, s) for s in range(args.sims)
            ]
            null = [marks(rng, args.personas, dims, 0.0, method, s) for s in range(args.sims)]
            per_grid = (time.perf_counter() - t0) / (2 * args.sims)
            power = np.mean([g[RELIGION, 0] for g in planted])
            other = np.mean([g.sum() - g[RELIGION, 0] for g in planted])
            any_null = np.mean([g.any() for g in null])
            print(
                f"| {name} | {12 * dims} | {label} | {power:.2f} | {other:.2f} | "
                f"{any_null:.2f} | {per_grid:.2f} |",
                flush=True,
            )


if __name__ == "__main__":
    main()
