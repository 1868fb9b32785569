"""Coverage simulation of prevalens' 95% intervals (used by test_coverage.py; also a script).

The model (docs/design.md, "Intervals"): K = 8 classes with geometric prevalence,
a class-confusion matrix whose recall falls with prevalence, and scores whose separability falls
with prevalence too. The rarest class has about 12 (``rare=12``) or 40 (``rare=40``) true samples.

* stratified scheme: every simulated dataset has the same class counts n_k (the scheme's
  assumption); the target is the metric of the population confusion matrix diag(n / N) C.
* simple scheme: class counts are Multinomial(N, pi); the target uses diag(pi) C.

Population AUCs come from one large Monte-Carlo sample of the score model (2e6 rows), accurate to
about 1e-4, far below the Monte-Carlo error of a coverage estimate.

Run ``python tests/coverage_sim.py [n_datasets]`` to print the coverage table.
"""

from __future__ import annotations

import contextlib
import sys
import warnings
from dataclasses import replace
from importlib import import_module
from unittest import mock

import numpy as np

import prevalens as pv
from prevalens.metrics import count_statistics
from prevalens.ranking import roc_auc_ovo, roc_auc_per_class

pv_audit = import_module("prevalens.audit")  # the module (prevalens.audit is also the function)

K = 8
SEP = np.linspace(2.2, 0.9, K)  # score separation, class 0 (most common) to class 7 (rarest)


def model(rare: int):
    """Class counts (fixed) and the confusion matrix C (rows: truth) of the scenario."""
    weights = 0.62 ** np.arange(K)
    pi = weights / weights.sum()
    n_total = int(round(rare / pi[-1]))
    counts = np.maximum(np.round(pi * n_total).astype(int), 1)
    recall = np.linspace(0.92, 0.55, K)  # falls with prevalence
    c = np.empty((K, K))
    for i in range(K):
        off = np.full(K, (1 - recall[i]) / (K - 1))
        off[i] = recall[i]
        # errors go mostly to the common classes, as in a long-tailed classifier
        off_mass = 1 - recall[i]
        spread = weights.copy()
        spread[i] = 0
        off = spread / spread.sum() * off_mass
        off[i] = recall[i]
        c[i] = off
    return counts, pi, c


def draw_scores(y, rng):
    """Scores: softmax of class means shifted for the true class by SEP[true] plus noise."""
    n = y.size
    logits = rng.normal(size=(n, K))
    logits[np.arange(n), y] += SEP[y]
    e = np.exp(logits - logits.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


_POP_AUC = {}


def population_auc(pi):
    key = tuple(np.round(pi, 12))
    if key not in _POP_AUC:
        rng = np.random.default_rng(12345)
        y = rng.choice(K, size=2_000_000, p=pi)
        s = draw_scores(y, rng)
        auc = roc_auc_per_class(y, s)
        _POP_AUC[key] = (auc, roc_auc_ovo(y, s))
    return _POP_AUC[key]


TARGETS = [
    ("micro.f1", "micro F1"),
    ("macro.f1", "macro F1"),
    ("weighted.f1", "weighted F1"),
    ("macro.recall", "macro recall"),
    ("overall.mcc", "MCC"),
    ("overall.cohen_kappa", "kappa"),
    (("per_class.recall", K - 1), "rarest recall"),
    (("per_class.f1", K - 1), "rarest F1"),
    (("per_class.roc_auc", K - 1), "rarest ROC AUC"),
    (("per_class.roc_auc", 0), "common ROC AUC"),
    ("macro.roc_auc", "macro ROC AUC"),
    ("overall.roc_auc_ovo", "OvO ROC AUC"),
]


def _get(result, key):
    if isinstance(key, tuple):
        name, j = key
        return result.per_class[j].metrics[name.split(".", 1)[1]]
    group, name = key.split(".", 1)
    if group == "overall":
        return result.overall[name]
    return result.averages[group][name]


def simulate(
    scheme: str,
    rare: int,
    n_datasets: int,
    seed: int,
    n_resamples: int = 1000,
    interval: str = "bca",
):
    """Coverage of every target: dict label -> (hits, valid datasets)."""
    counts, pi, c = model(rare)
    n_total = counts.sum()
    rng = np.random.default_rng(seed)
    if scheme == "stratified":
        pop_pi = counts / n_total
    else:
        pop_pi = pi
    pop_cm = pop_pi[:, None] * c
    truth = {k: float(v) if np.ndim(v) == 0 else v for k, v in count_statistics(pop_cm).items()}
    auc, ovo = population_auc(pop_pi)
    truth["per_class.roc_auc"] = auc
    truth["macro.roc_auc"] = float(auc.mean())
    truth["overall.roc_auc_ovo"] = float(ovo)
    hits = {label: [0, 0] for _, label in TARGETS}
    config = pv.AuditConfig(
        n_resamples=n_resamples,
        resampling=scheme,
        interval=interval,
        score_bootstrap_max_work=0,
        seed=0,
        calibration=False,  # not what this checks (tests/test_coverage_calibration.py does)
    )
    for _ in range(n_datasets):
        if scheme == "stratified":
            n_k = counts
        else:
            n_k = rng.multinomial(n_total, pi)
        y_true = np.repeat(np.arange(K), n_k)
        y_pred = np.concatenate([rng.choice(K, size=n, p=c[i]) for i, n in enumerate(n_k)])
        scores = draw_scores(y_true, rng)
        pred = pv.predictions_from_arrays(y_true, y_pred, y_score=scores, labels=list(range(K)))
        with warnings.catch_warnings(), _intervals_only():
            warnings.simplefilter("ignore")
            r = pv.audit_predictions(pred, replace(config, seed=int(rng.integers(2**31))))
        for key, label in TARGETS:
            e = _get(r, key)
            t = truth[key[0]][key[1]] if isinstance(key, tuple) else truth[key]
            if np.isnan(e.ci_low) or np.isnan(e.ci_high):
                continue
            hits[label][1] += 1
            hits[label][0] += int(e.ci_low <= t <= e.ci_high)
    return hits


def _no_curves(pred, config):
    return None


@contextlib.contextmanager
def _intervals_only():
    """The audit without what this does not check: the ROC/PR curves and their bootstrap bands
    (they took about 60% of each audit), and the analyses of strata, gap and divergence and
    their claims (then about 60% of the rest: each claim's exact p-value is a bisection). The
    intervals are computed before either and do not depend on them: the same hits with and
    without (``tests/test_coverage.py::test_the_harness_leaves_the_intervals_unchanged``)."""
    with contextlib.ExitStack() as stack:
        stack.enter_context(mock.patch.object(pv_audit, "_curves", _no_curves))
        stack.enter_context(mock.patch.object(pv_audit, "analyse_strata", lambda ctx: ((), (), [])))
        stack.enter_context(mock.patch.object(pv_audit, "analyse_gap", lambda ctx: ({}, [])))
        stack.enter_context(mock.patch.object(pv_audit, "analyse_divergence", lambda ctx: ([], [])))
        yield


def main(argv):
    n = int(argv[1]) if len(argv) > 1 else 500
    for scheme in ("stratified", "simple"):
        for rare in (12, 40):
            h = simulate(scheme, rare, n, seed=2026 + rare)
            print(
                f"{scheme:<10} rare={rare:<3} "
                + "  ".join(f"{label}={a / b:.3f}({b})" for label, (a, b) in h.items())
            )
            sys.stdout.flush()


if __name__ == "__main__":
    main(sys.argv)
