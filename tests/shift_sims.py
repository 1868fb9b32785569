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


# ------------------------------------------------------------------------------------------------
# clustered: 100 clusters (patients) of 5 rows, each with its own propensity to err


def clustered_dataset(rng, n_clusters: int = 100, size: int = 5):
    """Rows of ``n_clusters`` clusters of ``size``: each cluster's recall shifted on the logit
    scale by a normal effect (sd 0.8), its errors spread as in the unclustered design."""
    q = confusion_probabilities()
    y = rng.choice(5, size=(n_clusters, size), p=PREVALENCE)
    effect = rng.normal(0.0, 0.8, n_clusters)
    p = np.empty_like(y)
    for c in range(n_clusters):
        for s in range(size):
            t = y[c, s]
            r = q[t, t]
            r2 = 1.0 / (1.0 + np.exp(-(np.log(r / (1 - r)) - effect[c])))
            row = q[t].copy()
            row[t] = 0.0
            row = row / row.sum() * (1.0 - r2)
            row[t] = r2
            p[c, s] = rng.choice(5, p=row)
    return y.ravel(), p.ravel(), np.repeat(np.arange(n_clusters), size)


def clustered_true_values(seed: int = 11, n_clusters: int = 40_000) -> dict:
    """The population values at the target under the clustered design (200,000 rows)."""
    y, p, _ = clustered_dataset(np.random.default_rng(seed), n_clusters)
    cm = np.zeros((5, 5))
    np.add.at(cm, (y, p), 1)
    q = cm / cm.sum(axis=1, keepdims=True)
    pi = np.full(5, 0.2)
    s = M.count_statistics(target_tables(np.diag(q), q.T @ pi, pi))
    return {
        name: float(s[f"per_class.{key}"][j]) if j is not None else float(s[key])
        for name, key, j in CHECKS
    }


def clustered_coverage(n_datasets: int, *, seed: int = 20261208) -> dict:
    """As :func:`coverage`, for the clustered design (the cluster jackknife's intervals)."""
    rng = np.random.default_rng(seed)
    truth = clustered_true_values()
    hits = {name: 0 for name, _, _ in CHECKS}
    for _ in range(n_datasets):
        y, p, cl = clustered_dataset(rng)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            s = prevalens.audit(
                y,
                p,
                labels=list(range(5)),
                cluster=cl,
                n_resamples=100,
                seed=1,
                deployment_prevalence=TARGET,
            ).prevalence_shift
        for name, key, j in CHECKS:
            e = s.per_class[j].metrics[key] if j is not None else s.headline[key]
            if e.has_interval and e.ci_low <= truth[name] <= e.ci_high:
                hits[name] += 1
    return {name: h / n_datasets for name, h in hits.items()}


if __name__ == "__main__":
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 200
    clustered = len(sys.argv) > 2 and sys.argv[2] == "clustered"
    print(clustered_true_values() if clustered else true_values())
    measured = clustered_coverage(n) if clustered else coverage(n)
    for name, c in measured.items():
        print(f"{name:28s} {c:.3f}  (MC sd {np.sqrt(c * (1 - c) / n):.3f})")
