"""Intervals of differences of per-class proportions that stay valid for small classes and near
0 or 1: MOVER constructions from exact one-proportion limits (docs/design.md, "Divergence").

Every per-class label metric that a divergence claim is about is a proportion of counts of the
confusion matrix, or a monotone function of one:

========== =========================== ===================================================
metric     class k                     micro value
========== =========================== ===================================================
recall     tp / (tp + fn)              micro = w r_k + (1 - w) r_rest (r_rest independent)
precision  tp / (tp + fp)              accuracy (correct out of N)
F1         2J / (1 + J), J = tp/(tp+fp+fn)  accuracy
Jaccard    J                           A / (2 - A), A the accuracy
specificity tn / (tn + fp)             1 - (1 - A) / (K - 1)
========== =========================== ===================================================

For recall ``r_k - micro = (1 - w_k)(r_k - r_rest)`` exactly, with the two sides independent
under the stratified scheme; for the others the class and the micro value are treated as
independent (rho = 0), which is conservative for precision and F1 (their correlation with the
accuracy is non-negative under the stratified scheme). A macro average over a set of classes is a
linear combination of the classes' proportions (independent for recall), combined by MOVER.

The interval families are evaluated at a normal quantile ``z``, so the same construction gives
the displayed interval (mid-p limits, at 95%) and a claim's adjusted interval and p-value
(Clopper-Pearson limits, at Holm's level; the p-value by inverting it).
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from ..counts import Tables
from ..intervals import interval_pvalue, mover_difference, mover_linear, proportion_interval
from ..results import Estimate

__all__ = [
    "MOVER_METRICS",
    "ClassProportions",
    "class_vs_micro",
    "macro_difference",
    "macro_difference_pvalues",
    "UNVARIED_UNDER_CLUSTERS",
    "flag_unvaried",
]

#: Metrics with a MOVER construction.
MOVER_METRICS = ("recall", "precision", "f1", "jaccard", "specificity")

#: One-proportion limits computed class by class (no iteration shared across classes).
_CLASSWISE = ("wilson", "clopper-pearson")
#: Levels whose limits of every class are kept (the displayed 95% level is the first one seen;
#: a bisection reads dozens of levels once each: 2 K floats apiece at K = 10,000 would add up).
_KEPT_LEVELS = 8


class ClassProportions:
    """The counts behind each class's proportion for ``metric``, and the micro value's."""

    def __init__(self, tables: Tables, metric: str):
        tp, fp, fn, tn = (np.asarray(a, dtype=np.float64) for a in tables)
        self.metric = metric
        self.k = tp.size
        self._limits: dict = {}
        n = float(tp[0] + fp[0] + fn[0] + tn[0])
        self.n_samples = n
        self.correct = float(tp.sum())
        if metric == "recall":
            self.x, self.m = tp, tp + fn
        elif metric == "precision":
            self.x, self.m = tp, tp + fp
        elif metric in ("f1", "jaccard"):
            self.x, self.m = tp, tp + fp + fn
        elif metric == "specificity":
            self.x, self.m = tn, tn + fp
        else:
            raise KeyError(f"no MOVER construction for {metric!r}")

    @property
    def at_bound(self) -> np.ndarray:
        """Classes at 0 or 1 for the metric (0 of m or m of m): a resampling of the rows within
        classes, the stratified bootstrap or the cluster jackknife, repeats them unchanged."""
        return (self.m > 0) & ((self.x == 0) | (self.x == self.m))

    def _map(self, j):
        """Jaccard -> F1 for the F1 metric, identity otherwise (monotone increasing)."""
        return 2 * j / (1 + j) if self.metric == "f1" else j

    def value(self):
        with np.errstate(invalid="ignore", divide="ignore"):
            return self._map(self.x / self.m)

    def limits(self, z, method, idx=slice(None), *, only=None):
        """The classes' own limits (at normal quantile ``z``) on the metric's scale; at a scalar
        ``z`` computed once for every class and kept (the displayed 95% limits are read by
        every stratum's intervals).

        ``only`` (a mask of the classes the caller reads): at a scalar ``z`` not seen before,
        the limits of those classes alone (NaN elsewhere), not kept: a bisection over z reads
        each z once, and with thousands of classes most are not in the claim. Only for limits
        computed class by class (Wilson, Clopper-Pearson: the same values as over every class);
        mid-p's iterations stop when every class has converged, so it always takes them all."""
        if np.ndim(z) == 0:
            key = (float(z), method)
            if (
                key not in self._limits
                and only is not None
                and method in _CLASSWISE
                and not np.all(only)
            ):
                sel = np.flatnonzero(only)
                lo_s, hi_s = proportion_interval(self.x[sel], self.m[sel], z=z, method=method)
                lo = np.full(self.k, np.nan)
                hi = np.full(self.k, np.nan)
                lo[sel], hi[sel] = self._map(lo_s), self._map(hi_s)
                return lo[idx], hi[idx]
            if key not in self._limits:
                lo, hi = proportion_interval(self.x, self.m, z=z, method=method)
                if len(self._limits) >= _KEPT_LEVELS:  # a bisection's levels: keep the first
                    del self._limits[list(self._limits)[1]]
                self._limits[key] = (self._map(lo), self._map(hi))
            lo, hi = self._limits[key]
            return lo[idx], hi[idx]
        lo, hi = proportion_interval(self.x[idx], self.m[idx], z=z, method=method)
        return self._map(lo), self._map(hi)

    def _micro_from_accuracy(self, a):
        if self.metric == "jaccard":
            return a / (2 - a)
        if self.metric == "specificity":
            return 1 - (1 - a) / (self.k - 1)
        return a


#: With clusters (where MOVER has no form yet), why an interval with a class at 0 or 1 is
#: approximate and claims nothing.
UNVARIED_UNDER_CLUSTERS = (
    "a class at 0 or 1 for this metric takes part, which the leave-one-cluster-out jackknife "
    "cannot vary, so the interval leaves its uncertainty out and no claim is made"
)


def flag_unvaried(e: Estimate) -> Estimate:
    """``e`` marked ``unstable`` with :data:`UNVARIED_UNDER_CLUSTERS` (when it has an interval)."""
    if not e.has_interval:
        return e
    note = (e.note + "; " if e.note else "") + UNVARIED_UNDER_CLUSTERS
    return replace(e, status="unstable", note=note)


def class_vs_micro(props: ClassProportions, method: str):
    """``(estimate, at)`` of every class's metric minus the micro value: ``at(z, idx)`` gives
    the MOVER interval of classes ``idx`` at the normal quantile ``z`` (a scalar or one per
    class), with one-proportion limits ``method`` ("mid-p", "clopper-pearson", "wilson")."""
    x, m = props.x, props.m
    if props.metric == "recall":
        total_x, total_m = props.x.sum(), props.m.sum()
        x_rest, m_rest = total_x - x, total_m - m
        scale = 1 - m / total_m
        with np.errstate(invalid="ignore", divide="ignore"):
            r_k, r_rest = x / m, x_rest / m_rest
        estimate = scale * (r_k - r_rest)

        def at(z, idx=slice(None)):
            l1, u1 = proportion_interval(x[idx], m[idx], z=z, method=method)
            l2, u2 = proportion_interval(x_rest[idx], m_rest[idx], z=z, method=method)
            lo, hi = mover_difference(r_k[idx], l1, u1, r_rest[idx], l2, u2)
            return scale[idx] * lo, scale[idx] * hi

        return estimate, at
    value = props.value()
    acc = props.correct / props.n_samples
    micro = props._micro_from_accuracy(acc)
    estimate = value - micro

    def at_other(z, idx=slice(None)):
        l1, u1 = props.limits(z, method, idx)
        la, ua = proportion_interval(props.correct, props.n_samples, z=z, method=method)
        l2, u2 = props._micro_from_accuracy(la), props._micro_from_accuracy(ua)
        return mover_difference(value[idx], l1, u1, micro, l2, u2)

    return estimate, at_other


def _combination(props: ClassProportions, in_a, in_b):
    """``(estimate, coef, v, use)``: the macro difference as a linear combination of the
    classes' values ``v`` with coefficients ``coef`` (non-zero where ``use``)."""
    value = props.value()
    defined = ~np.isnan(value)
    a = np.asarray(in_a, dtype=bool) & defined
    b = np.asarray(in_b, dtype=bool) & defined
    coef = np.where(a, 1.0 / max(a.sum(), 1), 0.0) - np.where(b, 1.0 / max(b.sum(), 1), 0.0)
    use = coef != 0
    v = np.where(use, value, 0.0)
    estimate = float((coef * v).sum()) if a.any() else float("nan")
    return estimate, coef, v, use


def macro_difference(props: ClassProportions, in_a, in_b, method: str):
    """``(estimate, at)`` of the macro average over classes ``in_a`` minus that over ``in_b``
    (boolean masks; classes whose metric is undefined are left out, as the macro average does;
    an empty ``in_b`` gives the macro average of ``in_a`` itself). ``at(z)`` is the MOVER interval
    of the linear combination at the normal quantile ``z``."""
    estimate, coef, v, use = _combination(props, in_a, in_b)

    def at(z):
        lo, hi = props.limits(z, method, only=use)
        lo, hi = np.where(use, lo, 0.0), np.where(use, hi, 0.0)
        low, high, _ = mover_linear(v, lo, hi, coef)
        return low, high

    return estimate, at


def macro_difference_pvalues(requests) -> np.ndarray:
    """The p-values of several macro differences, each the inversion of its MOVER interval with
    Clopper-Pearson limits (as :func:`~prevalens.intervals.interval_pvalue` inverts
    ``macro_difference(props, in_a, in_b, "clopper-pearson")[1]`` at ``estimate``), all in one
    bisection: element by element, so the same numbers as one at a time, with one evaluation of
    the limits per step instead of one per difference.

    ``requests``: ``(props, in_a, in_b, estimate)`` tuples (the props of any metrics); requests
    over different numbers of classes are inverted in one bisection per number (a row's sum
    over its classes must not see another's padding)."""
    sizes = np.array([p.k for p, *_ in requests], dtype=np.int64)
    out = np.empty(len(requests))
    for k in np.unique(sizes):
        idx = np.flatnonzero(sizes == k)
        out[idx] = _pvalues_of([requests[i] for i in idx])
    return out


def _pvalues_of(requests) -> np.ndarray:
    """:func:`macro_difference_pvalues` of requests over the same number of classes."""
    parts = [_combination(p, a, b)[1:] for p, a, b, _ in requests]
    coef, v, use = (np.stack([part[i] for part in parts]) for i in range(3))
    x = np.stack([p.x for p, *_ in requests])
    m = np.stack([p.m for p, *_ in requests])
    f1 = np.array([p.metric == "f1" for p, *_ in requests])
    rows, cols = np.nonzero(use)
    xs, ms, f1s = x[rows, cols], m[rows, cols], f1[rows]

    def at(z):
        lo_s, hi_s = proportion_interval(xs, ms, z=np.asarray(z)[rows], method="clopper-pearson")
        # the F1 metric's limits are of the Jaccard index, mapped (ClassProportions._map)
        lo_s = np.where(f1s, 2 * lo_s / (1 + lo_s), lo_s)
        hi_s = np.where(f1s, 2 * hi_s / (1 + hi_s), hi_s)
        lo = np.zeros(use.shape)
        hi = np.zeros(use.shape)
        lo[rows, cols], hi[rows, cols] = lo_s, hi_s
        low, high, _ = mover_linear(v, lo, hi, coef)
        return low, high

    return interval_pvalue(at, np.array([e for *_, e in requests], dtype=np.float64))
