"""Side-by-side speed of a paired comparison of two models against one audit (not a test).

Issue 13's target: comparing two models at N = 1e6, K = 100, B = 2000 with scores takes at most
twice one audit with scores, measured in the same run. Both are timed on the same seeded
long-tailed data (the data of bench_intervals.py; model B a less noisy variant of model A):

* ``audit A``: ``prevalens.audit`` of one model with scores, as a user runs it (curves included);
* ``compare A, B``: ``prevalens.compare`` of the two (each model's audit without curves, the
  joint count bootstrap, DeLong's paired covariance, Newcombe's intervals, the family);
* the pieces of the comparison, to show where its time goes.

Run: ``python benchmarks/bench_compare.py [--n 1e6] [--k 100] [--b 2000] [--repeat 1]``
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from _timing import best_of
from bench_intervals import make_data

import prevalens as pv
from prevalens import metrics as M
from prevalens.ranking import auc_combination_weights, paired_ovr_delong
from prevalens.uncertainty import PairedBootstrap


def model_b(y, scores, seed=1):
    """A second model on the same samples: the first's scores with less noise on the true class
    (correlated with it, as two models trained on the same data are)."""
    rng = np.random.default_rng(seed)
    n, k = scores.shape
    logits = np.log(np.clip(scores, 1e-300, None)) + 0.6 * rng.normal(size=(n, k))
    logits[np.arange(n), y] += 0.4
    logits -= logits.max(axis=1, keepdims=True)
    np.exp(logits, out=logits)
    logits /= logits.sum(axis=1, keepdims=True)
    return logits


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=float, default=1e6)
    ap.add_argument("--k", type=int, default=100)
    ap.add_argument("--b", type=int, default=2000)
    ap.add_argument("--repeat", type=int, default=1)
    args = ap.parse_args(argv)
    n, k, b = int(args.n), args.k, args.b
    y, _, sa, _ = make_data(n, k)
    sb = model_b(y, sa)
    print(f"N = {n:.0e}, K = {k}, B = {b}, scores for both models")
    t_audit, _ = best_of(lambda: pv.audit(y, y_score=sa, n_resamples=b, seed=1), args.repeat)
    t_cmp, r = best_of(
        lambda: pv.compare(y, scores={"A": sa, "B": sb}, n_resamples=b, seed=1), args.repeat
    )
    pa, pb = sa.argmax(axis=1), sb.argmax(axis=1)
    t0 = time.perf_counter()
    PairedBootstrap.run(y, pa, pb, k, M.count_statistics, b, np.random.default_rng(0))
    t_boot = time.perf_counter() - t0
    t0 = time.perf_counter()
    paired_ovr_delong(y, sa, sb, auc_combination_weights(np.bincount(y, minlength=k), n))
    t_delong = time.perf_counter() - t0
    rows = [
        ("audit A (one model, scores, curves)", t_audit),
        ("compare A, B (two models)", t_cmp),
        ("  of which: joint count bootstrap", t_boot),
        ("  of which: DeLong paired pass", t_delong),
    ]
    for name, t in rows:
        print(f"  {name:<40} {t:8.2f} s")
    ratio = t_cmp / t_audit
    print(f"compare / audit = {ratio:.2f} (target <= 2)")
    f = r.findings[0]
    print(f"finding: {f.text[:160]}")


if __name__ == "__main__":
    main()
