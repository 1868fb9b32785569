"""How the audit scales with the number of classes K (not a test): labels only, N = 1e6 rows,
B = 2000 replicates, one seeded long-tailed generator, every K measured in the same run so that
the printed *ratios* mean something on a noisy machine.

For K = 100 and K = 1,000 (and 10,000 with ``--big``) it prints:

* ``cells``: the non-zero cells of the confusion matrix (J, the distinct leave-one-out members);
* ``draw``: a bare multinomial bootstrap of the confusion matrix (``bootstrap_tables``: the B
  replicates' tables, nothing else), the floor of the interval stage;
* ``audit``: ``prevalens.audit`` with every interval and analysis, and its ratio to the K = 100
  audit (target: K = 1,000 within 10x);
* ``peak``: the audit's peak memory above its inputs, by ``tracemalloc`` (numpy reports its
  buffers to it), in a second run, since tracing slows Python code (target: K = 10,000 within
  2 GB);
* ``json``: the size of results.json as ``prevalens audit`` writes it.

The generator: Zipf prevalence (p_k proportional to 1/k: the most common class about 1/ln K of the
rows, the rarest a few samples at K = 10,000); recall rising with log prevalence from 0.55 to
0.95; an error goes to a class drawn by prevalence (40%), to one of the 19 classes after the true
one (30%) or to any class (30%), so the errors spread over many cells (117,479 non-zero cells at
K = 1,000, against 9,970 at K = 100).

Run: ``python benchmarks/bench_scale.py [--big] [--rows 1e6] [--resamples 2000]``
"""

from __future__ import annotations

import argparse
import gc
import time
import tracemalloc
import warnings

import numpy as np

import prevalens as pv
from prevalens.budget import format_size
from prevalens.counts import confusion_matrix
from prevalens.uncertainty import bootstrap_tables


def long_tailed_labels(n: int, k: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """``(y_true, y_pred)`` as integer codes: Zipf prevalence, recall rising with prevalence,
    errors spread over many cells (see the module docstring)."""
    rng = np.random.default_rng(seed)
    p = 1.0 / np.arange(1, k + 1)
    p /= p.sum()
    y = rng.choice(k, size=n, p=p)
    lp = np.log(p)
    recall = 0.55 + 0.40 * (lp - lp.min()) / max(lp.max() - lp.min(), 1e-12)
    wrong = rng.random(n) >= recall[y]
    y_pred = y.copy()
    n_wrong = int(wrong.sum())
    u = rng.random(n_wrong)
    near = (y[wrong] + rng.integers(1, 20, size=n_wrong)) % k
    alt = np.where(
        u < 0.4,
        rng.choice(k, size=n_wrong, p=p),
        np.where(u < 0.7, near, rng.integers(0, k, size=n_wrong)),
    )
    y_pred[wrong] = np.where(alt == y[wrong], (alt + 1) % k, alt)
    return y, y_pred


def _audit(y, y_pred, k, b):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # undefined metrics of absent classes, said elsewhere
        return pv.audit(y, y_pred, labels=list(range(k)), n_resamples=b, seed=20261207)


def measure(n: int, k: int, b: int) -> dict:
    y, y_pred = long_tailed_labels(n, k)
    cm = confusion_matrix(y, y_pred, k)
    cells = int(np.count_nonzero(cm))
    gc.collect()
    t = time.perf_counter()
    bootstrap_tables(cm, b, np.random.default_rng(1))
    draw = time.perf_counter() - t
    del cm
    gc.collect()
    t = time.perf_counter()
    result = _audit(y, y_pred, k, b)
    seconds = time.perf_counter() - t
    size = len(result.to_json().encode())
    del result
    gc.collect()
    tracemalloc.start()
    _audit(y, y_pred, k, b)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return {"k": k, "cells": cells, "draw": draw, "audit": seconds, "peak": peak, "json": size}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--big", action="store_true", help="also K = 10,000 (a few minutes)")
    ap.add_argument("--rows", default="1e6")
    ap.add_argument("--resamples", type=int, default=2000)
    args = ap.parse_args()
    n, b = int(float(args.rows)), args.resamples
    ks = [100, 1000] + ([10000] if args.big else [])
    print(f"N = {n:,} rows, B = {b:,} replicates, labels only; tracemalloc peak above the inputs")
    print(
        f"{'K':>7} {'cells':>9} {'draw (s)':>9} {'audit (s)':>10} {'vs K=100':>9} "
        f"{'audit/draw':>10} {'peak':>10} {'results.json':>13}"
    )
    rows = []
    for k in ks:
        r = measure(n, k, b)
        rows.append(r)
        base = rows[0]["audit"]
        print(
            f"{k:>7,} {r['cells']:>9,} {r['draw']:>9.1f} {r['audit']:>10.1f} "
            f"{r['audit'] / base:>8.1f}x {r['audit'] / r['draw']:>9.1f}x "
            f"{format_size(r['peak']):>10} {format_size(r['json']):>13}",
            flush=True,
        )
    by_k = {r["k"]: r for r in rows}
    ratio = by_k[1000]["audit"] / by_k[100]["audit"]
    print(f"K = 1,000 / K = 100: {ratio:.1f}x (target: within 10x)")
    if 10000 in by_k:
        print(
            f"K = 10,000 peak above the inputs: {format_size(by_k[10000]['peak'])} (target: 2 GB)"
        )


if __name__ == "__main__":
    main()
