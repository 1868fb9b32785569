"""Coverage of the metrics projected to a deployment's prevalence (prevalens.analyses.shift),
shared by tests/test_coverage_shift.py (slow) and runnable alone:
``python tests/shift_sims.py [n_datasets]``.

Design: K = 5 classes observed at prevalences 0.50, 0.25, 0.15, 0.06, 0.04 in N = 500 rows (the
rarest class about 20 true samples); each true class's predictions drawn from a fixed row of
confusion probabilities (recall 0.60 to 0.90, errors spread over the other classes). Target:
every class equally prevalent (the rarest class five times as prevalent as observed). The true
value of each projected metric is count_statistics of the population matrix diag(pi') Q.
"""

from __future__ import annotations

import sys
import warnings

import numpy as np

import prevalens
from prevalens import metrics as M
from prevalens.analyses.shift import target_tables

PREVALENCE = np.array([0.50, 0.25, 0.15, 0.06, 0.04])
RECALL = np.array([0.90, 0.85, 0.80, 0.70, 0.60])
N = 500
TARGET = {i: 0.2 for i in range(5)}
#: the quantities checked: (name, key in prevalence_shift, class index or None)
CHECKS = (
    ("rarest class precision", "precision", 4),
    ("rarest class F1", "f1", 4),
    ("rarest class NPV", "npv", 4),
    ("rarest class specificity", "specificity", 4),
    ("next class precision", "precision", 3),
    ("most common class precision", "precision", 0),
    ("macro F1", "macro.f1", None),
    ("macro precision", "macro.precision", None),
    ("accuracy", "overall.accuracy", None),
)


def confusion_probabilities() -> np.ndarray:
    k = PREVALENCE.size
    q = np.zeros((k, k))
    for i in range(k):
        others = np.array([j for j in range(k) if j != i])
        w = PREVALENCE[others] / PREVALENCE[others].sum()  # errors go to common classes more
        q[i, i] = RECALL[i]
        q[i, others] = (1 - RECALL[i]) * w
    return q


def true_values() -> dict:
    q = confusion_probabilities()
    pi = np.full(5, 0.2)
    s = M.count_statistics(target_tables(np.diag(q), q.T @ pi, pi))
    out = {}
    for name, key, j in CHECKS:
        out[name] = float(s[f"per_class.{key}"][j]) if j is not None else float(s[key])
    return out


def one(rng, n_resamples: int) -> dict:
    q = confusion_probabilities()
    y = rng.choice(5, size=N, p=PREVALENCE)
    p = np.array([rng.choice(5, p=q[c]) for c in y])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        r = prevalens.audit(
            y,
            p,
            labels=list(range(5)),
            n_resamples=n_resamples,
            seed=int(rng.integers(2**31)),
            deployment_prevalence=TARGET,
        )
    s = r.prevalence_shift
    out = {}
    for name, key, j in CHECKS:
        e = s.per_class[j].metrics[key] if j is not None else s.headline[key]
        out[name] = (e.ci_low, e.ci_high)
    return out


def coverage(n_datasets: int, *, seed: int = 20261207, n_resamples: int = 1000) -> dict:
    """Share of datasets whose interval holds the true value, per check (a missing interval
    counts as a miss)."""
    rng = np.random.default_rng(seed)
    truth = true_values()
    hits = {name: 0 for name, _, _ in CHECKS}
    for _ in range(n_datasets):
        for name, (lo, hi) in one(rng, n_resamples).items():
            if lo is not None and hi is not None and lo <= truth[name] <= hi:
                hits[name] += 1
    return {name: h / n_datasets for name, h in hits.items()}


if __name__ == "__main__":
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 200
    print(true_values())
    for name, c in coverage(n).items():
        print(f"{name:24s} {c:.3f}  (MC sd {np.sqrt(c * (1 - c) / n):.3f})")
