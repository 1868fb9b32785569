"""Point metrics from labels at scale: prevalens next to scikit-learn, in the same run.

    .venv/bin/python benchmarks/bench_point_metrics.py [--n 1000000] [--k 100] [--repeat 5]

prevalens counts the K x K confusion matrix once (one ``bincount`` over the rows) and reduces every
label metric from it (``count_statistics``: 7 per-class metrics, micro/macro/weighted averages of
5, accuracy, balanced accuracy, kappa, MCC). scikit-learn's ``precision_recall_fscore_support
(average="macro")`` computes three of those numbers. Both are timed on the same data; the script
checks that the three shared numbers agree to 1e-12 before it prints anything, so the comparison
is between equal results. Times are the best of ``--repeat`` runs (the least disturbed by other
load, as ``timeit`` recommends). Not a test: no threshold, nothing is asserted about speed.
"""

from __future__ import annotations

import argparse
import platform
import warnings

import numpy as np
import sklearn
from _timing import best_of
from sklearn.metrics import precision_recall_fscore_support

import prevalens
from prevalens import confusion_matrix, count_statistics


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=1_000_000)
    ap.add_argument("--k", type=int, default=100)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--seed", type=int, default=20261125)
    args = ap.parse_args(argv)
    n, k = args.n, args.k

    # A long tail (prevalence ~ 1/rank) and a classifier that is right 70% of the time.
    rng = np.random.default_rng(args.seed)
    p = 1.0 / np.arange(1, k + 1)
    y_true = rng.choice(k, size=n, p=p / p.sum())
    y_pred = np.where(rng.random(n) < 0.7, y_true, rng.integers(0, k, size=n))
    labels = np.arange(k)

    def ours():
        return count_statistics(confusion_matrix(y_true, y_pred, k))

    def theirs():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return precision_recall_fscore_support(
                y_true, y_pred, labels=labels, average="macro", zero_division=np.nan
            )

    t_ours, stats = best_of(ours, args.repeat)
    t_theirs, (prec, rec, f1, _) = best_of(theirs, max(1, min(args.repeat, 3)))
    np.testing.assert_allclose(
        [stats["macro.precision"], stats["macro.recall"], stats["macro.f1"]],
        [prec, rec, f1],
        rtol=0,
        atol=1e-12,
    )
    t_audit, _ = best_of(
        lambda: prevalens.audit(y_true, y_pred, labels=list(labels), n_resamples=0, seed=0), 1
    )

    print(
        f"point metrics from labels, N = {n:,}, K = {k} "
        f"(python {platform.python_version()}, numpy {np.__version__}, "
        f"scikit-learn {sklearn.__version__}, prevalens {prevalens.__version__})"
    )
    print(f"  prevalens bincount + count_statistics (all label metrics): {t_ours * 1e3:9.1f} ms")
    print(f"  sklearn precision_recall_fscore_support(average='macro'):  {t_theirs * 1e3:9.1f} ms")
    print(f"  ratio sklearn / prevalens: {t_theirs / t_ours:.1f}x   (macro P/R/F1 agree to 1e-12)")
    print(
        f"  for context, prevalens.audit(n_resamples=0) end to end, incl. input validation: "
        f"{t_audit * 1e3:.1f} ms"
    )


if __name__ == "__main__":
    main()
