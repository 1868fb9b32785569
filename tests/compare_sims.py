"""Simulation designs for the paired comparison of models (tests/test_coverage_compare.py).

Two models score the same long-tailed samples: the true class gets a boost ``shift`` on its
score column and every column gets noise that the two models share with correlation ``corr``
(models trained on the same data make correlated errors). Population values of every compared
quantity come from one large sample drawn once (``truth``); each simulated dataset is a fresh
sample of ``n`` rows.
"""

from __future__ import annotations

import math

import numpy as np

from prevalens import metrics as M
from prevalens.counts import class_tables
from prevalens.ranking import roc_auc_per_class

#: K = 8 classes, geometric prevalences from 43% to 0.85%: with n = 1500 the rarest class has
#: about 13 true samples (10 to 16 in most datasets), the next about 17.
K = 8
PREVALENCE = np.geomspace(1.0, 0.02, K) / np.geomspace(1.0, 0.02, K).sum()
N = 1500


def draw(rng, n: int, shift=(1.3, 1.6), corr: float = 0.7, prevalence=PREVALENCE):
    """``(y, scores_a, scores_b)`` of ``n`` samples (scores are softmax probabilities)."""
    k = prevalence.size
    y = rng.choice(k, size=n, p=prevalence)
    shared = rng.standard_normal((n, k))
    out = []
    for q in shift:
        s = corr * shared + math.sqrt(1 - corr**2) * rng.standard_normal((n, k))
        s[np.arange(n), y] += q
        s -= s.max(axis=1, keepdims=True)
        e = np.exp(s)
        out.append(e / e.sum(axis=1, keepdims=True))
    return y, out[0], out[1]


#: The quantities whose paired differences (B - A) are checked, by their comparison name.
QUANTITIES = (
    "overall.accuracy",
    "macro.f1",
    "macro.recall",
    "macro.roc_auc",
    "class.RARE.recall",
    "class.RARE.roc_auc",
    "class.NEXT.recall",
)


def values(y, sa, sb, k: int = K) -> dict:
    """Every quantity of :data:`QUANTITIES` for both models: ``{name: (a, b)}``."""
    out = {}
    rare, nxt = k - 1, k - 2
    for s in (sa, sb):
        pred = s.argmax(axis=1)
        cm = np.zeros((k, k), dtype=np.int64)
        np.add.at(cm, (y, pred), 1)
        t = class_tables(cm)
        rec = M.per_class("recall", t)
        f1 = M.per_class("f1", t)
        auc = roc_auc_per_class(y, s)
        v = {
            "overall.accuracy": float(np.trace(cm) / cm.sum()),
            "macro.f1": float(np.nanmean(f1)),
            "macro.recall": float(np.nanmean(rec)),
            "macro.roc_auc": float(np.nanmean(auc)),
            "class.RARE.recall": float(rec[rare]),
            "class.RARE.roc_auc": float(auc[rare]),
            "class.NEXT.recall": float(rec[nxt]),
        }
        for q, x in v.items():
            out.setdefault(q, []).append(x)
    return {q: tuple(ab) for q, ab in out.items()}


def truth(seed: int = 12345, n: int = 2_000_000, **design) -> dict:
    """Population differences B - A, from one sample of ``n`` rows (Monte-Carlo error about
    1e-3 for the common quantities and 0.003 for the rarest class's recall, far below the
    widths of the intervals checked)."""
    rng = np.random.default_rng(seed)
    y, sa, sb = draw(rng, n, **design)
    return {q: b - a for q, (a, b) in values(y, sa, sb).items()}


#: The deployment's prevalences the comparison projects to (every class equally prevalent: the
#: rarest class about 15 times as prevalent as observed), and the differences checked there.
TARGET = {i: 1.0 / K for i in range(K)}
TARGET_QUANTITIES = ("target.overall.accuracy", "target.macro.f1", "target.macro.precision")


def target_values(y, sa, sb, k: int = K) -> dict:
    """Both models' headline metrics at :data:`TARGET` from their rows' proportions (label
    shift: the row of true class i is a property of the model): ``{name: (a, b)}``."""
    pi = np.array([TARGET[i] for i in range(k)])
    out: dict = {}
    for s in (sa, sb):
        cm = np.zeros((k, k))
        np.add.at(cm, (y, s.argmax(axis=1)), 1)
        q = cm / cm.sum(axis=1, keepdims=True)
        tp = pi * np.diag(q)
        predicted = q.T @ pi
        t = class_tables(np.diag(pi) @ q)  # the expected per-sample matrix at the target
        assert np.allclose(t.tp, tp) and np.allclose(t.predicted, predicted)
        v = M.count_statistics(t)
        for name in TARGET_QUANTITIES:
            out.setdefault(name, []).append(float(v[name.split(".", 1)[1]]))
    return {q: tuple(ab) for q, ab in out.items()}


def target_truth(seed: int = 12345, n: int = 2_000_000, **design) -> dict:
    """Population differences B - A at the target, from one sample of ``n`` rows."""
    rng = np.random.default_rng(seed)
    y, sa, sb = draw(rng, n, **design)
    return {q: b - a for q, (a, b) in target_values(y, sa, sb).items()}


def row_of(pair, q: str, k: int = K):
    """The :class:`~prevalens.Difference` of quantity ``q`` in a comparison's pair."""
    if q.startswith("target."):
        return pair.target[q.split(".", 1)[1]]
    if q.startswith("class."):
        j = k - 1 if ".RARE." in q else k - 2
        return pair.per_class[j].metrics[q.rsplit(".", 1)[1]]
    return pair.headline[q]
