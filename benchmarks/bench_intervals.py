"""Side-by-side speed of prevalens' intervals against the naive alternatives (not a test).

Everything is measured in the same run on the same seeded long-tailed data (rarest class about
0.1% prevalence), so the printed *ratios* are meaningful on a noisy machine even when absolute
times are not.

For each N in {1e4, 1e5, 1e6} and K in {10, 100}, with B = 2000 replicates:

* ``prevalens counts``: every label metric with BCa intervals (the count bootstrap), i.e.
  ``audit_predictions`` on labels only.
* ``naive f1 loop``: numpy index resampling + ``sklearn.metrics.f1_score(average="macro")`` per
  replicate. Only ``--naive-reps`` replicates are timed; the figure is extrapolated linearly to B
  (said in the output as "extrap.").
* ``scipy bootstrap``: ``scipy.stats.bootstrap`` of macro F1 (percentile, paired), run in full
  only where it takes less than about a minute (N = 1e4), else not run.
* ``prevalens full``: the whole audit with scores (DeLong AUC intervals, the rest as above).
* ``sklearn macro AUC``: ``roc_auc_score(y, scores, multi_class="ovr", average="macro")``, one
  point estimate, no interval.
* ``naive auc loop``: resampling + ``roc_auc_score`` per replicate, extrapolated.
* peak memory of the full audit above the loaded inputs (tracemalloc: numpy reports its buffers).

Run: ``python benchmarks/bench_intervals.py [--sizes 1e4,1e5,1e6] [--classes 10,100]``
"""

from __future__ import annotations

import argparse
import gc
import time
import tracemalloc
import warnings

import numpy as np

import prevalens as pv

B = 2000


def make_data(n: int, k: int, seed: int = 0):
    """Long-tailed labels (geometric prevalence, rarest ~0.1%), a classifier whose recall falls
    with prevalence, and softmax scores (float64, rows sum to 1)."""
    rng = np.random.default_rng(seed)
    # exponential decay of prevalence, bisected so that the smallest is about 0.1%
    lo, hi = 0.0, 20.0
    for _ in range(60):
        lam = (lo + hi) / 2
        p = np.exp(-lam * np.arange(k) / max(k - 1, 1))
        p /= p.sum()
        lo, hi = (lam, hi) if p[-1] > 0.001 else (lo, lam)
    pi = p
    y = rng.choice(k, size=n, p=pi)
    sep = np.linspace(2.5, 0.8, k)[y]
    logits = rng.normal(size=(n, k)).astype(np.float64)
    logits[np.arange(n), y] += sep
    logits -= logits.max(axis=1, keepdims=True)
    np.exp(logits, out=logits)
    logits /= logits.sum(axis=1, keepdims=True)
    y_pred = np.argmax(logits, axis=1)
    return y, y_pred, logits, pi


def timed(fn, *args, **kw):
    gc.collect()
    t = time.perf_counter()
    out = fn(*args, **kw)
    return time.perf_counter() - t, out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", default="1e4,1e5,1e6")
    ap.add_argument("--classes", default="10,100")
    ap.add_argument("--naive-reps", type=int, default=3)
    args = ap.parse_args()
    sizes = [int(float(s)) for s in args.sizes.split(",")]
    classes = [int(s) for s in args.classes.split(",")]
    from scipy import stats
    from sklearn.metrics import f1_score, roc_auc_score

    warnings.simplefilter("ignore")
    rows = []
    count_times = {}
    stage_times = {}
    print(f"B = {B}; times in seconds; 'extrap.' = timed on a few replicates, scaled to B\n")
    for k in classes:
        for n in sizes:
            y, yp, s, pi = make_data(n, k)
            labels = list(range(k))
            pred_labels = pv.predictions_from_arrays(y, yp, labels=labels)
            pred_scores = pv.predictions_from_arrays(y, yp, y_score=s, labels=labels)
            cfg = pv.AuditConfig(n_resamples=B, seed=1)

            t_counts, _ = timed(pv.audit_predictions, pred_labels, cfg)
            count_times[(k, n)] = t_counts
            # the interval stage alone: every count metric with BCa (and Wilson) intervals,
            # without strata, findings and result assembly
            from prevalens.metrics import count_statistics
            from prevalens.uncertainty import compute_intervals

            cm = pred_labels.counts().matrix
            point = {key: np.asarray(v) for key, v in count_statistics(cm).items()}
            t_stage, _ = timed(compute_intervals, pred_labels, cm, point, cfg)
            stage_times[(k, n)] = t_stage

            rng = np.random.default_rng(2)
            t0 = time.perf_counter()
            for _ in range(args.naive_reps):
                idx = rng.integers(0, n, n)
                f1_score(y[idx], yp[idx], labels=labels, average="macro", zero_division=0)
            t_naive_f1 = (time.perf_counter() - t0) / args.naive_reps * B

            t_scipy = None
            if n <= 10_000:

                def macro_f1(a, b, labels=labels):
                    return f1_score(a, b, labels=labels, average="macro", zero_division=0)

                t_scipy, _ = timed(
                    stats.bootstrap,
                    (y, yp),
                    macro_f1,
                    paired=True,
                    vectorized=False,
                    n_resamples=B,
                    method="percentile",
                    rng=np.random.default_rng(3),
                )

            gc.collect()
            tracemalloc.start()
            base = tracemalloc.get_traced_memory()[0]
            t_full, _ = timed(pv.audit_predictions, pred_scores, cfg)
            peak = tracemalloc.get_traced_memory()[1] - base
            tracemalloc.stop()

            t_sk_auc, _ = timed(
                roc_auc_score, y, s, multi_class="ovr", average="macro", labels=labels
            )
            t0 = time.perf_counter()
            idx = rng.integers(0, n, n)
            try:
                roc_auc_score(y[idx], s[idx], multi_class="ovr", average="macro", labels=labels)
            except ValueError:
                pass
            t_naive_auc = (time.perf_counter() - t0) * B
            inputs_mb = (s.nbytes + y.nbytes + yp.nbytes) / 2**20
            rows.append(
                dict(
                    n=n,
                    k=k,
                    counts=t_counts,
                    naive_f1=t_naive_f1,
                    scipy=t_scipy,
                    full=t_full,
                    sk_auc=t_sk_auc,
                    naive_auc=t_naive_auc,
                    peak_mb=peak / 2**20,
                    inputs_mb=inputs_mb,
                    rarest=pi[-1],
                )
            )
            r = rows[-1]
            print(
                f"N={n:>9,} K={k:>3} rarest={pi[-1]:.4f} | prevalens labels-only audit "
                f"{t_counts:7.3f} (interval stage {t_stage:6.3f})  "
                f"naive f1 loop {t_naive_f1:9.1f} extrap. ({t_naive_f1 / t_counts:6.0f}x audit, "
                f"{t_naive_f1 / t_stage:6.0f}x stage)  "
                + (
                    f"scipy.bootstrap {t_scipy:7.1f} ({t_scipy / t_counts:6.0f}x)  "
                    if t_scipy
                    else "scipy.bootstrap not run (infeasible)  "
                )
                + f"| prevalens full {t_full:7.2f}  sklearn point macro AUC {t_sk_auc:7.2f} "
                f"(ratio full/sklearn {t_full / t_sk_auc:5.2f})  naive auc loop {t_naive_auc:9.0f} "
                f"extrap. | peak {r['peak_mb']:7.0f} MiB above inputs ({inputs_mb:.0f} MiB)",
                flush=True,
            )
    print("\nnear-constant in N: time(N) / time(smallest N), labels-only audit | interval stage")
    for k in classes:
        base_t = count_times[(k, sizes[0])]
        base_s = stage_times[(k, sizes[0])]
        print(
            f"  K={k}: "
            + "  ".join(
                f"N={n:,}: {count_times[(k, n)] / base_t:.2f}x | {stage_times[(k, n)] / base_s:.2f}x"
                for n in sizes
            )
        )


if __name__ == "__main__":
    main()
