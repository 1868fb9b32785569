"""Datasets for the validity tests of the tail (tests/test_validity_tail.py): confusion matrices
drawn with fixed class supports (the stratified design) from row probabilities with a recall per
class and errors spread so that, when every class has the same recall, every class's precision
(and so F1) equals it too: a null where no metric depends on prevalence.
"""

from __future__ import annotations

import functools
import warnings

import numpy as np

from prevalens import AuditConfig, PrevalensWarning, audit_predictions, predictions_from_arrays


def balanced_errors(n) -> np.ndarray:
    """Row-stochastic error pattern (zero diagonal) whose expected error counts have column sums
    equal to their row sums when every class has the same error rate (Sinkhorn scaling of n n').
    A function of the supports alone: computed once per supports (5,000 scalings took 80% of a
    simulated dataset's time where every dataset has the same supports)."""
    return _balanced_errors(tuple(float(v) for v in np.asarray(n, dtype=np.float64))).copy()


@functools.lru_cache(maxsize=64)
def _balanced_errors(n_key: tuple) -> np.ndarray:
    n = np.asarray(n_key, dtype=np.float64)
    e = np.outer(n, n)
    np.fill_diagonal(e, 0.0)
    for _ in range(5000):
        e *= (n / e.sum(axis=1))[:, None]
        e *= (n / e.sum(axis=0))[None, :]
    return e / e.sum(axis=1, keepdims=True)


def row_probabilities(n, recall, errors=None) -> np.ndarray:
    """P[i, j]: probability that a sample of class i is predicted as j."""
    errors = balanced_errors(n) if errors is None else errors
    p = errors * (1 - np.asarray(recall, dtype=np.float64))[:, None]
    np.fill_diagonal(p, recall)
    return p


def geometric(k: int, total: int, ratio: float) -> np.ndarray:
    """k supports summing to about ``total``, each ``ratio`` times the previous (at least 1)."""
    w = ratio ** np.arange(k)
    return np.maximum(np.round(total * w / w.sum()).astype(np.int64), 1)


def draw_cm(rng, n, p) -> np.ndarray:
    """A confusion matrix with row sums ``n``, rows multinomial with probabilities ``p``."""
    return np.stack([rng.multinomial(int(ni), pi) for ni, pi in zip(n, p)])


def labels_from_cm(cm):
    """(y_true, y_pred) integer arrays whose confusion matrix is ``cm``."""
    cm = np.asarray(cm, dtype=np.int64)
    k = cm.shape[0]
    y_true = np.repeat(np.repeat(np.arange(k), k), cm.ravel())
    y_pred = np.repeat(np.tile(np.arange(k), k), cm.ravel())
    return y_true, y_pred


def audit_cm(cm, **config):
    """The audit of the rows behind ``cm`` (labels 0..K-1), warnings silenced."""
    y_true, y_pred = labels_from_cm(cm)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PrevalensWarning)
        pred = predictions_from_arrays(y_true, y_pred, labels=list(range(cm.shape[0])))
        return audit_predictions(pred, AuditConfig(**config))
