"""Confusion-matrix metrics, written once over a leading batch axis.

Every function here takes confusion matrices of shape ``(..., K, K)`` (rows: truth, columns:
prediction), or their one-vs-rest :class:`~prevalens.counts.Tables`, and returns arrays of shape
``(..., K)`` (per class) or ``(...)`` (averages and overall metrics). The same code therefore
computes a point estimate from one matrix and B bootstrap replicates from a ``(B, K, K)`` stack.

Each per-class proportion is a ratio ``num / den`` of one-vs-rest counts. Keeping the ratio
explicit is what makes averaging exact and cheap:

* micro  = sum_k num_k / sum_k den_k   (pool the counts, then divide)
* macro  = mean_k (num_k / den_k)      (divide, then take the unweighted mean)
* weighted = sum_k support_k * m_k / sum_k support_k

A ratio whose denominator is 0 is *undefined*: NaN, never 0. Macro and weighted averages skip
undefined classes, which is scikit-learn's ``zero_division=np.nan`` behaviour.
"""

from __future__ import annotations

import numpy as np

from .counts import as_tables
from .loo import is_loo

__all__ = [
    "PER_CLASS_RATIOS",
    "AVERAGED_METRICS",
    "UNDEFINED_REASONS",
    "ratio_parts",
    "per_class",
    "per_class_all",
    "micro",
    "macro",
    "weighted",
    "accuracy",
    "balanced_accuracy",
    "cohen_kappa",
    "mcc",
    "overall_all",
    "fbeta",
    "averages_all",
    "PER_CLASS_METRICS",
    "STRATA_METRICS",
    "count_statistics",
    "count_statistic",
    "COUNT_STATISTIC_KEYS",
]

#: Per-class metrics that are ratios of one-vs-rest counts, in report order.
PER_CLASS_RATIOS = ("precision", "recall", "f1", "specificity", "npv", "jaccard")

#: Metrics that have micro, macro and weighted averages (label-based ones).
AVERAGED_METRICS = ("precision", "recall", "f1", "specificity", "jaccard")

#: Label metrics analysed by prevalence stratum, gap, trend and divergence, in that order.
STRATA_METRICS = ("recall", "precision", "f1", "specificity", "jaccard")

#: Per-class metrics from labels, in report order (the ratios and the prevalence).
PER_CLASS_METRICS = PER_CLASS_RATIOS + ("prevalence",)

#: Why a per-class ratio is 0/0.
UNDEFINED_REASONS = {
    "precision": "never predicted (tp + fp = 0)",
    "recall": "no true samples (tp + fn = 0)",
    "f1": "no true samples and never predicted (2tp + fp + fn = 0)",
    "specificity": "no negative samples (tn + fp = 0)",
    "npv": "every sample predicted as this class (tn + fn = 0)",
    "jaccard": "no true samples and never predicted (tp + fp + fn = 0)",
}


def _float(x):
    """``x`` as float64; a leave-one-out array (:mod:`prevalens.loo`) stays in its form."""
    return x.astype(np.float64) if is_loo(x) else np.asarray(x, dtype=np.float64)


def _divide(num, den):
    """num / den with NaN where den == 0 (an undefined ratio, never 0)."""
    num = _float(num)
    den = _float(den)
    with np.errstate(divide="ignore", invalid="ignore"):
        out = num / den
    return np.where(den == 0, np.nan, out)


def ratio_parts(name: str, cm, *, beta: float = 1.0):
    """Numerator and denominator of per-class metric ``name`` over ``cm`` (..., K, K).

    Notes
    -----
    With one-vs-rest counts tp, fp, fn, tn of a class:

    ========== ==========================  ===========================
    metric     numerator                   denominator
    ========== ==========================  ===========================
    precision  tp                          tp + fp
    recall     tp                          tp + fn
    f1         (1 + b^2) tp                (1 + b^2) tp + b^2 fn + fp
    specificity tn                         tn + fp
    npv        tn                          tn + fn
    jaccard    tp                          tp + fp + fn
    ========== ==========================  ===========================

    F1 is ``2 tp / (2 tp + fp + fn)``, undefined only when that denominator is 0 (the class is
    neither present nor predicted), which is scikit-learn's definition.
    """
    tp, fp, fn, tn = as_tables(cm)
    if name == "precision":
        return tp, tp + fp
    if name == "recall":
        return tp, tp + fn
    if name == "f1":
        if beta == 1.0:
            return 2 * tp, 2 * tp + fp + fn
        b2 = beta * beta
        return (1 + b2) * tp, (1 + b2) * tp + b2 * fn + fp
    if name == "specificity":
        return tn, tn + fp
    if name == "npv":
        return tn, tn + fn
    if name == "jaccard":
        return tp, tp + fp + fn
    raise KeyError(f"unknown per-class metric {name!r}; expected one of {PER_CLASS_RATIOS}")


def per_class(name: str, cm, *, beta: float = 1.0) -> np.ndarray:
    """Per-class values of ratio metric ``name``; shape (..., K); NaN where undefined."""
    num, den = ratio_parts(name, cm, beta=beta)
    return _divide(num, den)


def fbeta(cm, beta: float) -> np.ndarray:
    """Per-class F-beta, ``(1 + b^2) tp / ((1 + b^2) tp + b^2 fn + fp)``."""
    return per_class("f1", cm, beta=beta)


def per_class_all(cm) -> dict[str, np.ndarray]:
    """Every per-class ratio plus ``support``, ``predicted`` and ``prevalence``."""
    t = as_tables(cm)
    out = {name: per_class(name, t) for name in PER_CLASS_RATIOS}
    support = t.support
    out["support"] = support
    out["predicted"] = t.predicted
    out["prevalence"] = _divide(support, t.n[..., None])
    return out


def micro(name: str, cm, *, beta: float = 1.0) -> np.ndarray:
    """Micro average: pool numerators and denominators over classes, then divide. Shape (...)."""
    num, den = ratio_parts(name, cm, beta=beta)
    return _divide(num.sum(axis=-1), den.sum(axis=-1))


def macro(values) -> np.ndarray:
    """Unweighted mean over the last axis of per-class values, skipping undefined (NaN) ones.

    NaN when every class is undefined.
    """
    values = _float(values)
    defined = ~np.isnan(values)
    count = defined.sum(axis=-1)
    total = np.where(defined, values, 0.0).sum(axis=-1)
    return _divide(total, count)


def weighted(values, weights) -> np.ndarray:
    """Weighted mean over the last axis (weights: class support), skipping undefined classes.

    NaN when the defined classes carry no weight.
    """
    values = _float(values)
    weights = np.broadcast_to(_float(weights), values.shape)
    defined = ~np.isnan(values)
    w = np.where(defined, weights, 0.0)
    return _divide((w * np.where(defined, values, 0.0)).sum(axis=-1), w.sum(axis=-1))


def accuracy(cm) -> np.ndarray:
    """Fraction of samples on the diagonal: trace / N."""
    t = as_tables(cm)
    return _divide(t.tp.sum(axis=-1), t.n)


def balanced_accuracy(cm) -> np.ndarray:
    """Mean recall over the classes that have true samples (scikit-learn's definition)."""
    return macro(per_class("recall", cm))


def cohen_kappa(cm) -> np.ndarray:
    """Cohen's kappa, ``(p_o - p_e) / (1 - p_e)``; undefined when ``p_e = 1``.

    ``p_o`` is the accuracy and ``p_e = sum_k (row_k / N)(col_k / N)`` the agreement expected by
    chance from the marginals (row sums: support; column sums: predicted counts).
    """
    t = as_tables(cm)
    n = t.n.astype(np.float64)
    rows = t.support.astype(np.float64)
    cols = t.predicted.astype(np.float64)
    # Work in counts (x N^2) so that integer-valued inputs stay exact as long as possible.
    po = t.tp.sum(axis=-1) * n
    pe = (rows * cols).sum(axis=-1)
    return _divide(po - pe, n * n - pe)


def mcc(cm) -> np.ndarray:
    """Multi-class Matthews correlation (Gorodkin's R_K), as scikit-learn computes it.

    Notes
    -----
    With ``t`` the row sums, ``p`` the column sums, ``c`` the trace and ``s = N``::

        MCC = (c s - t.p) / sqrt((s^2 - p.p) (s^2 - t.t))

    Undefined (NaN, not 0 as scikit-learn returns) when either factor under the root is 0, i.e.
    when all samples are of one class or all are predicted as one class.
    """
    tb = as_tables(cm)
    t = tb.support.astype(np.float64)
    p = tb.predicted.astype(np.float64)
    c = tb.tp.sum(axis=-1).astype(np.float64)
    s = tb.n.astype(np.float64)
    cov_tp = c * s - (t * p).sum(axis=-1)
    cov_pp = s * s - (p * p).sum(axis=-1)
    cov_tt = s * s - (t * t).sum(axis=-1)
    return _divide(cov_tp, np.sqrt(cov_tt * cov_pp))


def overall_all(cm) -> dict[str, np.ndarray]:
    """The label-based overall metrics: accuracy, balanced accuracy, Cohen's kappa, MCC."""
    return {
        "accuracy": accuracy(cm),
        "balanced_accuracy": balanced_accuracy(cm),
        "cohen_kappa": cohen_kappa(cm),
        "mcc": mcc(cm),
    }


def averages_all(cm) -> dict[str, dict[str, np.ndarray]]:
    """Micro, macro and weighted averages of every averaged label metric.

    Returns ``{"micro": {name: (...)}, "macro": {...}, "weighted": {...}}``.
    """
    cm = as_tables(cm)
    support = cm.support
    out: dict[str, dict[str, np.ndarray]] = {"micro": {}, "macro": {}, "weighted": {}}
    for name in AVERAGED_METRICS:
        values = per_class(name, cm)
        out["micro"][name] = micro(name, cm)
        out["macro"][name] = macro(values)
        out["weighted"][name] = weighted(values, support)
    return out


def count_statistics(cm) -> dict[str, np.ndarray]:
    """Every label metric of confusion matrices ``cm`` of shape (..., K, K) (or their
    :class:`~prevalens.counts.Tables`).

    Keys are ``"per_class.<metric>"`` (shape (..., K)), ``"<micro|macro|weighted>.<metric>"`` and
    ``"overall.<metric>"`` (shape (...)). This is the function the bootstrap applies to its
    replicates, so every label-based number and its interval come from the same code.

    Examples
    --------
    >>> s = count_statistics([[3, 1], [0, 2]])
    >>> float(s["per_class.recall"][0]), float(s["macro.recall"])
    (0.75, 0.875)
    """
    cm = as_tables(cm)  # count once: every metric below reduces these four (..., K) arrays
    out: dict[str, np.ndarray] = {}
    pc = per_class_all(cm)
    for name in PER_CLASS_METRICS:
        out[f"per_class.{name}"] = pc[name]
    support = pc["support"]
    for name in AVERAGED_METRICS:
        out[f"micro.{name}"] = micro(name, cm)
        out[f"macro.{name}"] = macro(pc[name])
        out[f"weighted.{name}"] = weighted(pc[name], support)
    for name, value in overall_all(cm).items():
        out[f"overall.{name}"] = value
    return out


#: The keys of :func:`count_statistics`, in its order.
COUNT_STATISTIC_KEYS = (
    tuple(f"per_class.{name}" for name in PER_CLASS_METRICS)
    + tuple(f"{avg}.{name}" for name in AVERAGED_METRICS for avg in ("micro", "macro", "weighted"))
    + tuple(f"overall.{name}" for name in ("accuracy", "balanced_accuracy", "cohen_kappa", "mcc"))
)


def count_statistic(key: str, t, get):
    """One statistic of :func:`count_statistics` (the same value, by the same functions), for
    an engine that computes only the keys a derived statistic reads; ``get(key)`` returns
    another statistic of the same tables (computed once).

    >>> from prevalens.counts import class_tables
    >>> t = class_tables([[3, 1], [0, 2]])
    >>> s = count_statistics(t)
    >>> bool(count_statistic("macro.recall", t, s.__getitem__) == s["macro.recall"])
    True
    """
    kind, name = key.split(".", 1)
    if kind == "per_class":
        if name == "prevalence":
            return _divide(t.support, t.n[..., None])
        return per_class(name, t)
    if kind == "micro":
        return micro(name, t)
    if kind == "macro":
        return macro(get(f"per_class.{name}"))
    if kind == "weighted":
        return weighted(get(f"per_class.{name}"), t.support)
    if key == "overall.balanced_accuracy":
        return macro(get("per_class.recall"))
    overall = {"accuracy": accuracy, "cohen_kappa": cohen_kappa, "mcc": mcc}
    if kind == "overall" and name in overall:
        return overall[name](t)
    raise KeyError(key)
