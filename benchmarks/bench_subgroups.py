"""The audit within subgroups against the audit without them, side by side in one run (machines
here are noisy: compare the ratio, not the seconds). Issue 14's case: N = 1e6 rows, K = 100
long-tailed classes, 10 groups of unequal sizes, B = 2000, labels only; target: at most 5 times
the audit without groups.

    PYTHONPATH=src python benchmarks/bench_subgroups.py [n_rows]
"""

from __future__ import annotations

import sys
import time

import numpy as np

import prevalens


def case(n: int, k: int = 100, groups: int = 10, seed: int = 0):
    rng = np.random.default_rng(seed)
    prior = np.geomspace(1, 200, k)
    y = rng.choice(k, n, p=prior / prior.sum())
    share = np.geomspace(1, 8, groups)
    site = rng.choice(groups, n, p=share / share.sum())
    acc = 0.75 + 0.02 * (site % 5)
    pred = np.where(rng.random(n) < acc, y, rng.integers(0, k, n))
    names = np.array([f"site{i:02d}" for i in range(groups)])
    return y, pred, names[site]


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000
    y, pred, site = case(n)
    labels = list(range(100))
    options = dict(n_resamples=2000, seed=1)
    plain = prevalens.predictions_from_arrays(y, pred, labels=labels)
    grouped = prevalens.predictions_from_arrays(y, pred, labels=labels, groups={"site": site})
    times = {}
    for name, p in (("without groups", plain), ("with 10 groups", grouped)) * 2:
        t = time.perf_counter()
        r = prevalens.audit_predictions(p, **options)
        times.setdefault(name, []).append(time.perf_counter() - t)
    best = {name: min(v) for name, v in times.items()}
    print(f"N = {n:,}, K = 100, 10 groups, B = 2000 (best of 2 each)")
    for name, t in best.items():
        print(f"  {name:15s} {t:7.2f} s")
    ratio = best["with 10 groups"] / best["without groups"]
    print(f"  ratio {ratio:.2f} (target <= 5)")
    g = r.subgroups.groupings[0]
    print(
        f"  {len(g.disparities)} disparities, {sum(d.adjusted is not None for d in g.disparities)}"
        f" claims, {g.suppressed_cells} suppressed cells"
    )


if __name__ == "__main__":
    main()
