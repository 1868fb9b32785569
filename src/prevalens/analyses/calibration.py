"""Calibration of the predicted probabilities, per class (one-vs-rest), top-label and by prevalence
stratum: are the rare classes' probabilities as right as the common ones'?

Per class ``k`` (the rows' probability ``p = S[:, k]`` against ``y = [y_true == k]``):

Calibration-in-the-large and calibration slope (logistic recalibration, Cox 1958)
    ``logit P(y = 1) = a + logit(p)`` (the intercept ``a`` with slope fixed at 1: 0 when the
    probabilities are right on average, > 0 when they are too low) and ``logit P(y = 1) = a +
    b logit(p)`` (the slope ``b``: 1 when right, < 1 when the probabilities are too extreme, i.e.
    over-confident). Fitted by maximum likelihood (Newton) on every row. The intercept's
    interval inverts the generalized (robust) score test, valid where the intercept-only model is
    misspecified (whenever the slope is not 1); the slope's inverts the profile likelihood-ratio
    test; with a cluster column the intercept's score test is cluster-robust and the slope's
    deviance is scaled by its design effect, both with a t quantile on the clusters holding the
    class's positives (or negatives) minus one (see
    :class:`RecalibrationFit` for the simulated coverage behind each choice). Probabilities are
    clipped to ``[eps, 1 - eps]`` (machine epsilon, as for the log loss) before the logit.

Expected calibration error
    Binned with equal-mass bins on the class's own probabilities (``calibration_bins``, tied values
    kept in one bin), in its root-mean-square form, debiased (after Broecker 2012 and Kumar,
    Liang & Ma 2019, with the spread of ``p`` within a bin counted too): ``D = sum_b (n_b / n)
    [dbar_b^2 - s_b^2 / n_b]`` with ``d = y - p`` and ``s_b^2`` its sample variance in the bin,
    and ``ECE = sqrt(max(D, 0))``. The estimand is the binned calibration error at
    these bins. Classwise ECE (over classes, or a stratum's classes) is ``sqrt(max(mean_k D_k,
    0))``; top-label ECE bins the predicted class's probability against correctness. Intervals:
    the percentile bootstrap of ``D``, shifted by the bootstrap's bias (its replicates centre on
    the plug-in value, not on the debiased one), mapped through ``sqrt(max(., 0))``. Without a
    cluster column the replicates are drawn per bin (each bin keeps its size, as equal-mass bins
    do in every sample; the class's samples in it binomial; each cell's probability sum from its
    mean and variance), so their cost follows the bins, not the rows; they are not stratified by
    outcome, whose count is part of what the ECE measures (stratified by outcome, a class of ~20
    samples was covered 0.89-0.91). The classes' replicates are drawn independently, so an
    average of their D (classwise, a stratum's) has its spread widened by the classes' covariance,
    from each row's influence on every class's D (independent draws had covered the classwise
    ECE 0.92-0.93). With a cluster column, the clusters are resampled (their cell sums, shared by
    every class). Simulated coverage (K = 5, n = 500-2000, tests/test_coverage_calibration.py):
    0.93-0.97 per class from ~20 samples, 0.93 at ~10 (marked ``unstable`` below 20 samples),
    classwise 0.96-0.97.

Brier score decomposition (Murphy 1973, with the within-bin terms of Stephenson, Coelho &
Jolliffe 2008)
    ``BS_k = REL - RES + UNC + WBV - WBC`` exactly, at the same bins; summed over classes it is
    the audit's multi-class Brier score.

Reliability curves
    Per bin: mean probability against observed frequency, with a pointwise Wilson interval
    (cluster-robust effective-trials Wilson with a cluster column).

By stratum: the classwise ECE of the stratum's classes and the mean intercept and slope over its
classes with at least ``min_support`` samples, with influence-function (sandwich) intervals that
count the rows the classes share. Claims (intercept != 0, slope != 1, per class and per stratum)
join the audit's one multiplicity family; a finding also needs the effect to be material: the
intercept or the slope's logarithm beyond ``log(calibration_tolerance)``.
"""

from __future__ import annotations

import math
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace

import numpy as np
from scipy import special

from ..intervals import cluster_ratio_interval, effective_dof, wilson_interval
from ..results import (
    Calibration,
    CalibrationClass,
    CalibrationStratum,
    Estimate,
    ReliabilityBin,
)
from .family import Claim

__all__ = ["analyse_calibration", "calibration_findings", "logistic_recalibration"]

EPS = float(np.finfo(np.float64).eps)
#: Below this many samples of a class its ECE interval is marked unstable: simulated coverage
#: of the bias-corrected percentile interval (drawn by bin) was 0.925-0.93 at ~10 samples of the
#: class, 0.92-0.94 at ~20, 0.94-0.95 at ~40 (K = 5, over-confident model).
ECE_STABLE_POSITIVES = 20
ECE_UNSTABLE_NOTE = (
    "interval may be too narrow: with fewer than 20 samples of the class, simulated coverage "
    "was 0.92-0.93 instead of 0.95"
)
ECE_UNSTABLE_AGGREGATE = (
    "interval not validated here: half or more of its classes have fewer than 20 samples, whose "
    "own ECE intervals covered 0.92-0.93 in simulation (an average with one such class among "
    "five covered 0.97)"
)
TARGET_NO_INTERVAL = (
    "no interval: importance-weighted intervals for the corrected probabilities covered only "
    "0.84-0.93 in simulation"
)
_MAX_ITER = 100
#: Fewest distinct probabilities of a class for its logistic recalibration (hard 0/1 scores
#: have 2, with which intercept and slope are not identified).
MIN_DISTINCT = 3


def _logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(np.asarray(p, dtype=np.float64), EPS, 1 - EPS)
    return np.log(p) - np.log1p(-p)


# ------------------------------------------------------------------------------------------------
# logistic recalibration of one class


class _Fit:
    """The likelihood of ``logit P(y=1) = a + b x`` for one class's rows, each row weighted by
    ``weights`` when given (importance weights: the target population's likelihood)."""

    def __init__(self, x: np.ndarray, y: np.ndarray, weights: np.ndarray | None = None):
        self.x = x
        self.y = y
        self.v = weights
        if weights is None:
            self.n_pos = float(y.sum())
            self.sx1 = float(x[y].sum())
            self.n_eff = float(x.size)
        else:
            self.n_pos = float(weights[y].sum())
            self.sx1 = float((weights * x)[y].sum())
            self.n_eff = float(weights.sum())
        self.degenerate = not (0 < y.sum() < y.size) or (
            weights is not None and not (0 < self.n_pos < self.n_eff)
        )
        # complete or quasi-complete separation (a threshold on x puts every event on one side):
        # the slope's likelihood keeps rising towards infinity, so no finite maximum exists. Told
        # exactly from the order of x, not from where Newton's iterations happen to stop on the
        # flat likelihood (that varied with the machine's exp and log in their last bits)
        self.separated = False
        if not self.degenerate:
            held = np.ones(x.size, dtype=bool) if weights is None else weights > 0
            xp, xn = x[y & held], x[~y & held]
            if xp.size and xn.size:
                self.separated = bool(xp.min() >= xn.max() or xp.max() <= xn.min())

    def _w(self, a: np.ndarray) -> np.ndarray:
        return a if self.v is None else a * self.v

    def loglik(self, a: float, b: float) -> float:
        eta = a + b * self.x
        return float(self.n_pos * a + b * self.sx1 - self._w(np.logaddexp(0.0, eta)).sum())

    def fused(self, a: float, b: float) -> tuple:
        """In one pass over the rows: the log-likelihood, the scores of ``a`` and ``b`` and the
        information ``(h00, h01, h11)``."""
        eta = a + b * self.x
        e = np.exp(-np.abs(eta))
        soft = np.maximum(eta, 0.0) + np.log1p(e)  # log(1 + exp(eta))
        mu = np.where(eta >= 0, 1.0 / (1.0 + e), e / (1.0 + e))
        w = self._w(mu * (1 - mu))
        wm = self._w(mu)
        ll = float(self.n_pos * a + b * self.sx1 - self._w(soft).sum())
        xw = self.x * w
        return (
            ll,
            self.n_pos - float(wm.sum()),
            self.sx1 - float((self.x * wm).sum()),
            float(w.sum()),
            float(xw.sum()),
            float((xw * self.x).sum()),
        )

    def _intercept_moments(self, a: float, b: float) -> tuple[float, float]:
        """The score and information of ``a`` at ``(a, b)``."""
        mu = special.expit(a + b * self.x)
        return (
            self.n_pos - float(self._w(mu).sum()),
            float(self._w(mu * (1 - mu)).sum()),
        )

    def intercept_given(self, b: float, a0: float = 0.0) -> float:
        """The maximum-likelihood intercept at slope ``b`` (Newton; the likelihood is concave in
        ``a``). NaN when the data do not bound it (every row an event, or none)."""
        if self.degenerate:
            return math.nan
        a = a0
        for _ in range(_MAX_ITER):
            g, h = self._intercept_moments(a, b)
            if not h > 1e-200:  # no information left at this intercept: not bounded
                return math.nan
            step = g / h
            # a damped step: the intercept moves at most 5 log-odds units per iteration
            step = max(min(step, 5.0), -5.0)
            a += step
            if abs(step) < 1e-12 * max(1.0, abs(a)):
                return a
        return a if abs(g) < 1e-8 * max(1.0, self.n_pos) else math.nan

    def fit_both(self, a0: float | None = None) -> tuple[float, float]:
        """``(a, b)`` by Newton with step halving, from the intercept ``a0`` at slope 1 (the
        calibration-in-the-large fit); NaN when not bounded (separation)."""
        if self.degenerate or self.separated:
            return math.nan, math.nan
        a = self.intercept_given(1.0) if a0 is None else a0
        b = 1.0
        if not math.isfinite(a):
            return math.nan, math.nan
        ll, g0, g1, h00, h01, h11 = self.fused(a, b)
        for _ in range(_MAX_ITER):
            det = h00 * h11 - h01 * h01
            if not det > 0:
                return math.nan, math.nan
            da = (h11 * g0 - h01 * g1) / det
            db = (h00 * g1 - h01 * g0) / det
            t = 1.0
            while True:
                na, nb = a + t * da, b + t * db
                nxt = self.fused(na, nb)
                if nxt[0] >= ll - 1e-12 * abs(ll) or t < 1e-10:
                    break
                t /= 2
            a, b = na, nb
            ll, g0, g1, h00, h01, h11 = nxt
            if abs(t * da) + abs(t * db) < 1e-11 * (1 + abs(a) + abs(b)):
                break
            if abs(b) > 1e3 or abs(a) > 1e4:  # the estimates run away: separation
                return math.nan, math.nan
        return a, b

    def cov(self, a: float, b: float, *, slope: bool, cluster=None, model: bool = False):
        """Sandwich (robust) covariance of ``a`` (intercept with offset) or of ``(a, b)``, with
        the rows' scores summed within clusters when ``cluster`` is given, and the rows'
        influence values ``I^-1 u_i`` (p, n)."""
        eta = a + b * self.x
        mu = special.expit(eta)
        w = self._w(mu * (1 - mu))
        r = self._w(self.y - mu)
        if not slope:
            info = np.array([[w.sum()]])
            u = r[:, None]
        else:
            xw = self.x * w
            info = np.array([[w.sum(), xw.sum()], [xw.sum(), (xw * self.x).sum()]])
            u = np.stack([r, r * self.x], axis=1)
        if not np.all(np.isfinite(info)) or np.linalg.cond(info) > 1e13:
            return None, None
        inv = np.linalg.inv(info)
        if model:  # the inverse information (model-based)
            return inv, inv @ u.T
        if cluster is None:
            m = u.shape[0]
            meat = u.T @ u * (m / max(m - 1, 1))
        else:
            g = int(cluster.max()) + 1
            uc = np.stack(
                [np.bincount(cluster, weights=u[:, j], minlength=g) for j in range(u.shape[1])]
            )
            meat = uc @ uc.T * (g / max(g - 1, 1))
        return inv @ meat @ inv, inv @ u.T


def _newton_limit(h, d0: float) -> float:
    """The root ``d > 0`` of ``h`` (increasing, ``h(0) < 0``; ``h(d)`` returns value and
    derivative) by Newton's method kept inside a bracket (bisection when a step leaves it,
    doubling until the root is bracketed). Infinite when ``h`` stays below 0 beyond 200."""
    lo, hi = 0.0, math.inf
    d = max(d0, 1e-6)
    for _ in range(100):
        v, dv = h(d)
        if not math.isfinite(v):
            return math.nan
        if v < 0:
            lo = d
        else:
            hi = d
        if abs(v) < 1e-11 or hi - lo < 1e-11 * (1 + d):
            return d
        step = d - v / dv if dv > 0 and math.isfinite(dv) else math.nan
        if math.isinf(hi):
            if d > 200:
                return math.inf
            nxt = step if math.isfinite(step) and step > d else 2 * d
            nxt = min(nxt, 4 * d)  # a flat stretch must not throw the step far out
        else:
            nxt = step if math.isfinite(step) and lo < step < hi else (lo + hi) / 2
        if abs(nxt - d) < 1e-12 * (1 + d):
            return nxt
        d = nxt
    return d


def _score_limit(stat, theta: float, direction: float, crit: float, scale: float) -> float:
    """Where the score statistic ``stat(t)`` (0 at the estimate ``theta``, decreasing in ``t``)
    reaches ``-crit`` above ``theta`` (``direction`` +1) or ``+crit`` below it (-1): bracket by
    doubling steps, then Brent's method. Infinite when it never does (too few events)."""
    from scipy.optimize import brentq

    def g(d):
        return direction * stat(theta + direction * d) + crit

    lo, hi = 0.0, max(scale, 1e-3)
    for _ in range(60):
        v = g(hi)
        if not math.isfinite(v):
            return math.nan
        if v <= 0:
            return theta + direction * brentq(g, lo, hi, xtol=1e-10, rtol=1e-12)
        lo, hi = hi, hi * 2
        if hi > 200:
            break
    return direction * math.inf


@dataclass
class RecalibrationFit:
    """One class's logistic recalibration: the intercept (with offset logit p, slope fixed at 1)
    and the slope (with its own intercept), with their tests and inverted intervals.

    The intercept: the generalized (robust) score test (Boos 1992), the score over its sandwich
    variance at the tested value (summed within clusters). The intercept-only model is
    misspecified whenever the slope is not 1, and there the likelihood-ratio interval covered
    only 0.85 in simulation; the robust score interval 0.92-0.96, also with ~20 events, and it is
    open on one side with fewer than about 4.

    The slope: the profile likelihood-ratio test (covered 0.91-0.96 where the robust score test
    covered 0.91-0.95 and made more false claims); its limits by Venzon & Moolgavkar's joint
    Newton iteration. With clusters the deviance is divided by the slope's design effect (robust
    over model-based variance, Rao-Scott style) and compared with a squared t quantile on the
    clusters holding the class's positives (or negatives) minus one: the cluster-robust score
    test had covered a rare class's slope only 0.87 (too high: the small-sample bias of the
    slope), the scaled likelihood ratio 0.93. The intercept with clusters: the cluster-robust
    score test with the same t. With importance weights (no likelihood): robust score tests for
    both, t on the effective degrees of freedom."""

    intercept: float
    slope: float
    slope_intercept: float
    _fit: _Fit
    _ll_both: float
    cluster: np.ndarray | None = None
    df: float | None = None  # t degrees of freedom with clusters
    df_slope: float | None = None  # the slope's, when it differs (importance weights)
    reason: str | None = None  # why the intercept and slope are not estimable, when they are not
    deff_slope: float = 1.0  # with clusters: the slope's robust over model-based variance

    def _df(self, slope: bool) -> float | None:
        return self.df_slope if slope and self.df_slope is not None else self.df

    def _q(self, z: float, slope: bool = False) -> float:
        df = self._df(slope)
        return z if df is None else float(special.stdtrit(df, special.ndtr(z)))

    def _sum(self, v: np.ndarray) -> float:
        """Sum of squares of ``v`` (of its cluster sums, times G / (G - 1))."""
        if self.cluster is None:
            return float(v @ v)
        c = np.bincount(self.cluster, weights=v)
        g = c.size
        if g < 2:  # one cluster: no variation between clusters to estimate
            return math.nan
        return float(c @ c) * g / (g - 1)

    @property
    def _robust_slope(self) -> bool:
        # the likelihood ratio needs the likelihood: not with importance weights (with clusters
        # it is scaled by the design effect instead)
        return self._fit.v is not None

    def _lr_crit(self, z: float) -> float:
        """The profile deviance's critical value: z^2; with clusters, the squared t quantile
        times the slope's design effect (robust over model-based variance, Rao-Scott style)."""
        if self.cluster is None:
            return z * z
        return self._q(z, slope=True) ** 2 * self.deff_slope

    def intercept_stat(self, a: float) -> float:
        """The intercept's robust score statistic at ``a`` (0 at the estimate, decreasing)."""
        return self._intercept_stat_d(a)[0]

    def slope_stat(self, b: float) -> float:
        f = self._fit
        a = f.intercept_given(b, self.slope_intercept)
        if not math.isfinite(a):
            return math.nan
        mu = special.expit(a + b * f.x)
        w = f._w(mu * (1 - mu))
        r = f._w(f.y - mu)
        c = float((w * f.x).sum() / w.sum())
        u = r * (f.x - c)
        v = self._sum(u)
        return float(u.sum() / math.sqrt(v)) if v > 0 else math.nan

    def _intercept_stat_d(self, a: float) -> tuple[float, float]:
        """The intercept's score statistic at ``a`` and its derivative, in one pass."""
        f = self._fit
        mu = special.expit(a + f.x)
        r = f._w(f.y - mu)
        dr = -f._w(mu * (1 - mu))  # d r_i / d a
        u, du = float(r.sum()), float(dr.sum())
        if self.cluster is None:
            v, dv = float(r @ r), float(2 * (r @ dr))
        else:  # as _sum: the cluster sums, times G / (G - 1)
            c = np.bincount(self.cluster, weights=r)
            if c.size < 2:  # one cluster: no variation between clusters to estimate
                return math.nan, math.nan
            dc = np.bincount(self.cluster, weights=dr, minlength=c.size)
            k = c.size / (c.size - 1)
            v, dv = float(c @ c) * k, float(2 * (c @ dc)) * k
        if not v > 0:
            return math.nan, math.nan
        return u / math.sqrt(v), du / math.sqrt(v) - u * dv / (2 * v**1.5)

    def intercept_interval(self, z: float) -> tuple[float, float]:
        if not math.isfinite(self.intercept):
            return math.nan, math.nan
        q = self._q(z)
        a0 = self.intercept
        _, slope0 = self._intercept_stat_d(a0)
        d0 = q / abs(slope0) if slope0 and math.isfinite(slope0) else 0.25
        out = []
        for sign in (-1.0, 1.0):

            def h(d, sign=sign):
                t, dt = self._intercept_stat_d(a0 + sign * d)
                return -sign * t - q, -dt

            out.append(a0 + sign * _newton_limit(h, d0))
        return out[0], out[1]

    def _deviance_d(self, b: float, warm: list) -> tuple[float, float]:
        """Twice the profile log-likelihood's drop from its maximum at slope ``b`` and its
        derivative (the score of ``b`` at the refitted intercept, by the envelope theorem);
        ``warm`` carries the last intercept to start from."""
        f = self._fit
        a = f.intercept_given(b, warm[0])
        if not math.isfinite(a):
            return math.nan, math.nan
        warm[0] = a
        ll, _, g1, *_ = f.fused(a, b)
        return 2 * (self._ll_both - ll), -2 * g1

    def _venzon_moolgavkar(self, b: float, ratio: float, crit: float) -> float | None:
        """The profile-likelihood limit of the slope by Venzon & Moolgavkar's (1988) joint
        Newton iteration on ``(a, b)``: ``l(a, b) = l_max - crit / 2`` and ``dl/da = 0``, one
        pass over the rows per step, from the Wald point. None when it does not converge (the
        caller then profiles step by step)."""
        f = self._fit
        target = self._ll_both - crit / 2
        a = self.slope_intercept - ratio * (b - self.slope)
        for _ in range(40):
            ll, g0, g1, h00, h01, _ = f.fused(a, b)
            f1, f2 = ll - target, g0
            # Jacobian of (l - target, dl/da) in (a, b): [[g0, g1], [-h00, -h01]]
            det = -g0 * h01 + g1 * h00
            if not (math.isfinite(det) and det != 0):
                return None
            da = (-f1 * -h01 - (-f2) * g1) / det
            db = (g0 * -f2 - (-h00) * -f1) / det
            a, b = a + da, b + db
            if abs(db) < 1e-11 * (1 + abs(b)) and abs(da) < 1e-9 * (1 + abs(a)):
                return b if abs(f1) < 1e-6 and abs(f2) < 1e-6 * (1 + f.n_pos) else None
            if not (math.isfinite(a) and math.isfinite(b)) or abs(b) > 1e3:
                return None
        return None

    def _deviance(self, b: float) -> float:
        """Twice the profile log-likelihood's drop from its maximum at slope ``b``."""
        return self._deviance_d(b, [self.slope_intercept])[0]

    def slope_interval(self, z: float) -> tuple[float, float]:
        if not math.isfinite(self.slope):
            return math.nan, math.nan
        scale = 0.1 * max(abs(self.slope), 0.1)
        if not self._robust_slope:
            crit = self._lr_crit(z)
            b0 = self.slope
            f = self._fit
            *_, h00, h01, h11 = f.fused(self.slope_intercept, b0)
            schur = h11 - h01 * h01 / h00  # the profile's curvature: dev ~ schur (b - b0)^2
            d0 = z / math.sqrt(schur) if schur > 0 else scale
            out = []
            for sign in (-1.0, 1.0):
                limit = self._venzon_moolgavkar(b0 + sign * d0, h01 / h00, crit)
                if limit is None or not (sign * (limit - b0) > 0):
                    warm = [self.slope_intercept]

                    def h(d, sign=sign, warm=warm):
                        v, dv = self._deviance_d(b0 + sign * d, warm)
                        return v - crit, sign * dv

                    limit = b0 + sign * _newton_limit(h, d0)
                out.append(limit)
            return out[0], out[1]
        q = self._q(z, slope=True)
        lo = _score_limit(self.slope_stat, self.slope, -1.0, q, scale)
        hi = _score_limit(self.slope_stat, self.slope, 1.0, q, scale)
        return lo, hi

    def _p(self, t: float, slope: bool = False) -> float:
        if not math.isfinite(t):
            return math.nan
        df = self._df(slope)
        if df is None:
            return float(2 * special.ndtr(-abs(t)))
        return float(2 * special.stdtr(df, -abs(t)))

    def intercept_p(self) -> float:
        """p-value of the test that the intercept is 0."""
        if not math.isfinite(self.intercept):
            return math.nan
        return self._p(self.intercept_stat(0.0))

    def slope_p(self) -> float:
        """p-value of the test that the slope is 1."""
        if not math.isfinite(self.slope):
            return math.nan
        if not self._robust_slope:
            dev = self._deviance(1.0)
            if not math.isfinite(dev):
                return math.nan
            if self.cluster is None:
                return float(special.chdtrc(1, max(dev, 0.0)))
            # dev / deff against F(1, df) = t(df)^2
            return float(special.fdtrc(1, self._df(True), max(dev, 0.0) / self.deff_slope))
        return self._p(self.slope_stat(1.0), slope=True)


def _effective_df(a: np.ndarray, cluster) -> float:
    """Degrees of freedom of a variance estimate ``sum a_i^2`` (of cluster sums with
    ``cluster``): :func:`~prevalens.intervals.effective_dof` minus one, at least 1. Small when a
    few rows carry the variance, as under importance weights where a rare class's rows weigh ten
    times the others."""
    if cluster is not None:
        a = np.bincount(cluster, weights=a)
    df = float(effective_dof(a))
    return max(df - 1, 1.0) if math.isfinite(df) else 1.0


def _distinct_up_to(x: np.ndarray, m: int) -> int:
    """How many distinct values ``x`` has, counting no further than ``m`` (O(m n), no sort)."""
    found = 0
    while x.size and found < m:
        x = x[x != x[0]]
        found += 1
    return found


def logistic_recalibration(p, y, cluster=None, weights=None) -> RecalibrationFit:
    """Calibration-in-the-large and slope of probabilities ``p`` for binary outcomes ``y``
    (rows grouped by ``cluster`` codes 0..G-1 when given; each row weighted by ``weights``
    when given, e.g. importance weights for another population, and then both tests robust)."""
    x = _logit(p)
    y = np.asarray(y, dtype=bool)
    f = _Fit(x, y, None if weights is None else np.asarray(weights, dtype=np.float64))
    distinct = _distinct_up_to(x, MIN_DISTINCT)
    if distinct < MIN_DISTINCT:
        # hard (0/1) or nearly constant probabilities: logistic recalibration has no meaning
        nan = math.nan
        fit = RecalibrationFit(nan, nan, nan, f, nan, None, None, None)
        fit.reason = (
            f"not estimable: the class's probabilities take only {distinct} distinct value(s) "
            f"(logistic recalibration needs at least {MIN_DISTINCT})"
        )
        return fit
    a = f.intercept_given(1.0)
    a2, b = f.fit_both(a)
    df = None
    if cluster is not None:
        cluster = np.asarray(cluster, dtype=np.int64)
        df = _cluster_df(y, cluster)
    ll = f.loglik(a2, b) if math.isfinite(b) else math.nan
    deff = 1.0
    if cluster is not None and weights is None and math.isfinite(b):
        robust, _ = f.cov(a2, b, slope=True, cluster=cluster)
        model, _ = f.cov(a2, b, slope=True, cluster=None, model=True)
        if robust is not None and model is not None and model[1, 1] > 0:
            deff = max(float(robust[1, 1] / model[1, 1]), 1e-3)
    df_slope = None
    if f.v is not None and math.isfinite(a):
        # importance weights: t quantiles on the effective degrees of freedom of each score's
        # variance at the estimate (the normal quantile covered 0.84-0.93 in simulation)
        df_cluster = df
        df_a = _effective_df(f._w(y - special.expit(a + x)), cluster)
        df = df_a if df_cluster is None else min(df_cluster, df_a)
        if math.isfinite(b):
            mu = special.expit(a2 + b * x)
            w = f._w(mu * (1 - mu))
            c = float((w * x).sum() / w.sum())
            df_b = _effective_df(f._w(y - mu) * (x - c), cluster)
            df_slope = df_b if df_cluster is None else min(df_cluster, df_b)
    return RecalibrationFit(a, b, a2, f, ll, cluster, df, df_slope, None, deff)


# ------------------------------------------------------------------------------------------------
# bins


@dataclass
class _Bins:
    """One class's (or the top label's) equal-mass bins: per bin and outcome (0, 1) the count,
    the probability sum and sum of squares."""

    index: np.ndarray  # (n,) bin of each row
    n_bins: int
    count: np.ndarray  # (nb, 2)
    psum: np.ndarray  # (nb, 2)
    psq: np.ndarray  # (nb, 2)
    low: np.ndarray
    high: np.ndarray
    cuts: np.ndarray  # the inner edges: bin b holds cuts[b-1] <= p < cuts[b]


def _bins(p: np.ndarray, y: np.ndarray, n_bins: int) -> _Bins:
    n = p.size
    srt = np.sort(p)
    cuts = np.unique(srt[np.minimum((np.arange(1, n_bins) * n) // n_bins, n - 1)])
    raw = np.searchsorted(cuts, p, side="right")
    # bins without rows are dropped: renumber the used ones in order
    used = np.flatnonzero(np.bincount(raw, minlength=cuts.size + 1))
    renumber = np.empty(cuts.size + 1, dtype=np.int64)
    renumber[used] = np.arange(used.size)
    index = renumber[raw]
    nb = used.size
    yi = y.astype(np.int64)
    flat = index * 2 + yi
    count = np.bincount(flat, minlength=2 * nb).reshape(nb, 2).astype(np.float64)
    psum = np.bincount(flat, weights=p, minlength=2 * nb).reshape(nb, 2)
    psq = np.bincount(flat, weights=p * p, minlength=2 * nb).reshape(nb, 2)
    # each bin is a run of the sorted values: its first and last
    edges = np.searchsorted(srt, cuts, side="left")
    starts = np.concatenate([[0], edges])[used]
    ends = np.concatenate([edges, [n]])[used]
    low, high = srt[starts], srt[ends - 1]
    return _Bins(index, nb, count, psum, psq, low, high, cuts[used[1:] - 1] if nb > 1 else cuts[:0])


def _debiased(count, psum, psq, n) -> np.ndarray:
    """``D`` of bin sums with a leading batch axis: count, psum and psq (..., nb, 2); ``n`` the
    rows (a scalar, or (..., 1) per replicate).

    Per bin, with ``d = y - p``: ``dbar^2 - s^2 / n_b`` (``s^2`` the sample variance of ``d``),
    the unbiased estimator of the squared mean of ``d`` from the bin's rows. (Kumar et al.'s
    ``ybar (1 - ybar) / (n_b - 1)`` leaves out the spread of ``p`` within the bin, which biases
    ``D`` upward where the miscalibration changes across a wide bin, such as a rare class's top
    bin.) A bin of one row contributes its ``dbar^2``."""
    nb_ = count.sum(axis=-1)
    y1 = count[..., 1]
    sd = y1 - psum.sum(axis=-1)
    sd2 = y1 - 2 * psum[..., 1] + psq.sum(axis=-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        dbar = sd / nb_
        s2 = np.where(nb_ > 1, (sd2 - nb_ * dbar * dbar) / (nb_ - 1), 0.0)
        term = dbar * dbar - s2 / nb_
    return np.where(nb_ > 0, nb_ / n * term, 0.0).sum(axis=-1)


def _d_influence(bins: _Bins, y, p) -> np.ndarray:
    """Each row's influence on the plug-in ``D = sum_b P_b m_b^2`` (``m_b`` the bin's mean of
    ``d = y - p``): ``2 m_b d_i - m_b^2 - D``."""
    n_b = bins.count.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        m = np.where(n_b > 0, (bins.count[:, 1] - bins.psum.sum(axis=1)) / n_b, 0.0)
    mi = m[bins.index]
    d_plug = float((n_b * m * m).sum() / p.size)
    return 2 * mi * (y - p) - mi * mi - d_plug


def _cell_replicates(bins: _Bins, n_resamples: int, rng) -> np.ndarray:
    """``D`` in bootstrap replicates drawn per bin: each bin keeps its rows (equal-mass bins
    have the same sizes in every sample), the class's samples among them binomial, each (bin,
    outcome) cell's probability sum normal given its count, from the cell's mean and variance
    (bins are narrow, so this is the row bootstrap's sum to a close approximation)."""
    count, psum, psq = bins.count, bins.psum, bins.psq
    n = count.sum()
    n_b = count.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        rate = np.where(n_b > 0, count[:, 1] / np.where(n_b > 0, n_b, 1.0), 0.0)
    ones = rng.binomial(n_b.astype(np.int64), rate, size=(n_resamples, n_b.size))
    draws = np.stack([n_b - ones, ones], axis=-1).astype(np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.where(count > 0, psum / count, 0.0)
        sq_mean = np.where(count > 0, psq / count, 0.0)
    var = np.where(count > 1, np.maximum(sq_mean - mean * mean, 0.0), 0.0)
    sums = draws * mean + np.sqrt(draws * var) * rng.standard_normal(draws.shape)
    return _debiased(draws, sums, draws * sq_mean, n)


def _cluster_cell_sums(bins: _Bins, y, p, cluster, n_clusters):
    """Per cluster: the counts, probability sums and sums of squares of every (bin, outcome)
    cell, as one sparse (G, 3 x 2 nb) matrix."""
    from scipy import sparse

    flat = bins.index * 2 + y.astype(np.int64)
    w = 2 * bins.n_bins
    rows = np.concatenate([cluster, cluster, cluster])
    cols = np.concatenate([flat, flat + w, flat + 2 * w])
    vals = np.concatenate([np.ones(p.size), p, p * p])
    return sparse.csr_matrix((vals, (rows, cols)), shape=(n_clusters, 3 * w))


def _cluster_replicates(bins, y, p, cluster, weights) -> np.ndarray:
    """``D`` in replicates of the cluster bootstrap: ``weights`` (B, G) the times each cluster
    is drawn."""
    sums = _cluster_cell_sums(bins, y, p, cluster, weights.shape[1])
    out = np.asarray((sums.T @ weights.T).T).reshape((weights.shape[0], 3, bins.n_bins, 2))
    c, s, q = out[:, 0], out[:, 1], out[:, 2]
    return _debiased(c, s, q, c.sum(axis=(1, 2))[:, None])


def _reliability(bins: _Bins, y, cluster, alpha) -> tuple[ReliabilityBin, ...]:
    n_b = bins.count.sum(axis=1)
    k_b = bins.count[:, 1]
    mean = bins.psum.sum(axis=1) / n_b
    if cluster is None:
        lo, hi = wilson_interval(k_b, n_b, alpha=alpha)
    else:
        g = int(cluster.max()) + 1
        cell = cluster * bins.n_bins + bins.index
        shape = (g, bins.n_bins)
        nn = np.bincount(cell, minlength=g * bins.n_bins).reshape(shape).astype(np.float64)
        yy = np.bincount(cell, weights=y, minlength=g * bins.n_bins).reshape(shape)
        _, lo, hi, _, _ = cluster_ratio_interval(yy, nn, alpha=alpha)
    return tuple(
        ReliabilityBin(
            float(bins.low[b]),
            float(bins.high[b]),
            int(n_b[b]),
            float(mean[b]),
            float(k_b[b] / n_b[b]),
            float(lo[b]),
            float(hi[b]),
        )
        for b in range(bins.n_bins)
    )


def _brier_parts(bins: _Bins, n: int) -> dict:
    """REL, RES, UNC and the within-bin remainder (WBV - WBC) at the bins; they sum to the
    class's Brier score exactly: BS = REL - RES + UNC + within_bin."""
    n_b = bins.count.sum(axis=1)
    ybar_b = bins.count[:, 1] / n_b
    pbar_b = bins.psum.sum(axis=1) / n_b
    ybar = bins.count[:, 1].sum() / n
    rel = float((n_b * (pbar_b - ybar_b) ** 2).sum() / n)
    res = float((n_b * (ybar_b - ybar) ** 2).sum() / n)
    unc = float(ybar * (1 - ybar))
    # within-bin variance of p minus twice the within-bin covariance of y and p
    wbv = float((bins.psq.sum(axis=1) - n_b * pbar_b**2).sum() / n)
    sum_yp = bins.psum[:, 1]
    wbc = float(2 * (sum_yp - n_b * ybar_b * pbar_b).sum() / n)
    return {"reliability": rel, "resolution": res, "uncertainty": unc, "within_bin": wbv - wbc}


# ------------------------------------------------------------------------------------------------
# the analysis


def _ece_estimate(d_hat, reps, alpha, method, status="ok", note=None) -> Estimate:
    ece = math.sqrt(max(d_hat, 0.0)) if math.isfinite(d_hat) else math.nan
    if reps is None:
        return Estimate(ece, status=status, note=note)
    r = reps[np.isfinite(reps)]
    # The replicates of the debiased D centre on the sample's plug-in D, not on D itself: their
    # percentiles are shifted back by the bootstrap's own bias (mean of D* - D).
    r = r - (r.mean() - d_hat)
    lo_d, hi_d = np.quantile(r, [alpha / 2, 1 - alpha / 2])
    lo, hi = math.sqrt(max(lo_d, 0.0)), math.sqrt(max(hi_d, 0.0))
    return Estimate(
        ece, lo, hi, float(np.std(np.sqrt(np.maximum(r, 0)), ddof=1)), method, status, note
    )


def analyse_calibration(pred, strata, config):
    """The calibration of an audit's probabilities: ``(Calibration, claims)``."""
    s = pred.y_score
    y_true = pred.y_true
    n, k = s.shape
    alpha = 1 - config.confidence_level
    z = float(special.ndtri(1 - alpha / 2))
    n_bins = int(config.calibration_bins)
    cluster = pred.cluster
    with_intervals = config.n_resamples > 0
    B = config.n_resamples
    rng = np.random.default_rng(np.random.SeedSequence(config.seed).spawn(3)[2])
    weights = None
    n_clusters = 0
    if cluster is not None:
        n_clusters = int(cluster.max()) + 1
        if with_intervals:  # times each cluster is drawn, per replicate (B, G)
            draws = rng.integers(0, n_clusters, size=(B, n_clusters))
            draws += np.arange(B)[:, None] * n_clusters
            weights = np.bincount(draws.ravel(), minlength=B * n_clusters).reshape(B, n_clusters)
            weights = weights.astype(np.float64)
    support = np.bincount(y_true, minlength=k)
    small = support < config.min_support

    if cluster is None:
        boot = f"bias-corrected percentile bootstrap of D, stratified by bin (B={B})"
        fit_method = (
            "intercept: generalized score test inverted (robust variance); slope: profile "
            "likelihood ratio"
        )
    else:
        boot = f"bias-corrected percentile cluster bootstrap of D (B={B})"
        fit_method = (
            "intercept: generalized score test inverted (cluster-robust variance); slope: "
            "profile likelihood ratio scaled by its design effect; t on the clusters holding the "
            "class's positives or negatives - 1"
        )

    per_class = []
    claims: list[Claim] = []
    d_point = np.full(k, np.nan)
    d_reps = np.zeros((B if with_intervals else 0, k))
    # per stratum and parameter: the summed influence values of its eligible classes and
    # their count (for the stratum means' standard errors; O(N) per stratum, not per class)
    influence: dict = {}
    # per stratum, the rows' summed influence values of D over its classes, and the sum of the
    # classes' own variances: the classes' cell replicates are drawn independently, so an
    # average of their D gets the covariance between classes from these (without clusters)
    d_influence: dict = {}

    def support_status(j) -> tuple[str, str | None]:
        if support[j] == 0:
            return "undefined", "no sample of this class"
        if small[j]:
            return "insufficient", f"fewer than {config.min_support} samples"
        return "ok", None

    def fit_class(j):
        status, note = support_status(j)
        fit = logistic_recalibration(s[:, j], y_true == j, cluster)
        return (fit, *_fit_estimates(fit, cluster, z, with_intervals, fit_method, status, note))

    workers = min(4, os.cpu_count() or 1)
    chunk = 2 * workers
    with ThreadPoolExecutor(max_workers=workers) as pool:
        for start in range(0, k, chunk):
            # the fits (pure, row passes that release the GIL) in parallel, a chunk at a time so
            # that only a few classes' influence values are held at once; the bootstrap draws
            # below in class order (the same stream whatever the threads do)
            fitted = list(pool.map(fit_class, range(start, min(k, start + chunk))))
            for j, (fit, intercept, slope, infl) in zip(range(start, start + chunk), fitted):
                y = y_true == j
                p = s[:, j]
                bins = _bins(p, y, n_bins)
                d = float(_debiased(bins.count, bins.psum, bins.psq, n))
                d_point[j] = d
                reps = None
                if with_intervals:
                    if cluster is None:
                        # stratified by bin, not by outcome (whatever the scheme): the class's
                        # observed rate against its mean probability is what the ECE measures,
                        # and fixing its count in every replicate hid that variance (a class of
                        # ~20 samples: coverage 0.89-0.91 stratified by outcome, 0.93-0.94 by bin)
                        reps = _cell_replicates(bins, B, rng)
                        if support[j] > 0:
                            infl_d = _d_influence(bins, y, p)
                            acc_d = d_influence.setdefault(strata.index[j], [0.0, 0.0])
                            acc_d[0] = acc_d[0] + infl_d
                            acc_d[1] += float(infl_d.var())
                    else:
                        reps = _cluster_replicates(bins, y, p, cluster, weights)
                    d_reps[:, j] = reps
                status, note = support_status(j)
                if status == "ok" and support[j] < ECE_STABLE_POSITIVES and with_intervals:
                    status, note = "unstable", ECE_UNSTABLE_NOTE
                ece = _ece_estimate(d, reps if support[j] > 0 else None, alpha, boot, status, note)
                si = strata.index[j]
                if infl is not None and not small[j] and si >= 0:
                    for idx, what in enumerate(("intercept", "slope")):
                        if math.isfinite((intercept, slope)[idx].estimate):
                            acc = influence.setdefault((si, what), [0.0, 0, []])
                            acc[0] = acc[0] + infl[idx]
                            acc[1] += 1
                            acc[2].append((intercept, slope)[idx])
                label = pred.classes[j]
                per_class.append(
                    CalibrationClass(
                        label=label,
                        stratum=strata.name_of(j),
                        support=int(support[j]),
                        observed=float(support[j] / n),
                        expected=float(p.mean()),
                        intercept=intercept,
                        slope=slope,
                        ece=ece,
                        brier=_brier_parts(bins, n),
                        bins=_reliability(bins, y, cluster, alpha),
                    )
                )
                if with_intervals:
                    claims += _class_claims(label, fit, intercept, slope, not small[j])

    # the top label: the predicted class's probability against correctness
    conf = s[np.arange(n), pred.y_pred]
    correct = pred.y_pred == y_true
    tbins = _bins(conf, correct, n_bins)
    td = float(_debiased(tbins.count, tbins.psum, tbins.psq, n))
    treps = None
    if with_intervals:
        treps = (
            _cell_replicates(tbins, B, rng)
            if cluster is None
            else _cluster_replicates(tbins, correct, conf, cluster, weights)
        )
    top = _ece_estimate(td, treps, alpha, boot)

    present = support > 0

    def mean_reps(members, strata_in):
        """The replicates of the mean D over ``members``, their spread about their centre
        scaled by sqrt(var(sum of the classes' influence) / sum of their variances) when the
        classes' D covary positively (never narrowed)."""
        if not with_intervals:
            return None
        r = d_reps[:, members].mean(axis=1)
        parts = [d_influence[g] for g in strata_in if g in d_influence]
        if cluster is not None or not parts:
            return r
        own = sum(v for _, v in parts)
        joint = float(np.var(sum(a for a, _ in parts)))
        if own > 0 and joint > own:
            r = r.mean() + math.sqrt(joint / own) * (r - r.mean())
        return r

    def unstable(members):
        """An average over classes most of which are below 20 samples is about as unstable as
        their own ECE (measured: one class of ~10 among five, covered 0.97)."""
        few = with_intervals and float((support[members] < ECE_STABLE_POSITIVES).mean()) >= 0.5
        return ("unstable", ECE_UNSTABLE_AGGREGATE) if few else ("ok", None)

    all_strata = list(range(len(strata.definitions))) + [-1]
    classwise = _ece_estimate(
        float(d_point[present].mean()),
        mean_reps(present, all_strata),
        alpha,
        boot,
        *unstable(present),
    )
    strata_out = []
    for si, definition in enumerate(strata.definitions):
        name = definition.name
        members = (strata.index == si) & present
        if not members.any():
            continue
        ece = _ece_estimate(
            float(d_point[members].mean()),
            mean_reps(members, [si]),
            alpha,
            boot,
            *unstable(members),
        )
        used = [j for j in np.flatnonzero(members) if not small[j]]
        mi, ms, m_claims = _stratum_means(
            name, si, influence, cluster, n_clusters, z, with_intervals
        )
        claims += m_claims
        strata_out.append(CalibrationStratum(name, int(members.sum()), len(used), ece, mi, ms))

    brier = {key: float(sum(c.brier[key] for c in per_class)) for key in per_class[0].brier}
    method = (
        f"{n_bins} equal-mass bins per class on its own probabilities (ties kept together); "
        f"ECE: debiased root-mean-square, {boot}; intercept (calibration-in-the-large, slope "
        f"fixed at 1) and slope (logistic recalibration on logit p): {fit_method}; reliability "
        "bands: " + ("Wilson" if cluster is None else "cluster-robust effective-trials Wilson")
    )
    result = Calibration(
        method=method,
        n_bins=n_bins,
        tolerance=config.calibration_tolerance,
        classwise_ece=classwise,
        top_label_ece=top,
        top_label_bins=_reliability(tbins, correct, cluster, alpha),
        brier=brier,
        per_class=tuple(per_class),
        strata=tuple(strata_out),
    )
    return result, claims


def _fit_estimates(fit, cluster, z, with_intervals, method, status, note, *, slope=True):
    """The intercept's and slope's :class:`Estimate` and, when defined, the rows' influence
    values of both (for the stratum means). ``slope=False`` leaves the slope out (NaN)."""
    if not slope:
        fit.slope = math.nan
    a, b = fit.intercept, fit.slope
    if not math.isfinite(a):
        why = (
            note
            if status == "undefined"
            else fit.reason or "not estimable: every row is of this class, or none"
        )
        return (
            Estimate(math.nan, status="undefined", note=why),
            Estimate(math.nan, status="undefined", note=why),
            None,
        )
    sep = Estimate(
        math.nan,
        status="undefined",
        note="not estimable: the probabilities separate the class perfectly (no finite slope)",
    )
    numerical = "not estimable: the fit's information is numerically singular"
    cov_a, inf_a = fit._fit.cov(a, 1.0, slope=False, cluster=cluster)
    if not (cov_a is not None and math.isfinite(cov_a[0, 0]) and cov_a[0, 0] > 0):
        bad = Estimate(math.nan, status="undefined", note=numerical)
        return bad, bad, None
    se_a = math.sqrt(cov_a[0, 0])
    infl = None
    se_b = math.nan
    if math.isfinite(b):
        cov_b, inf_b = fit._fit.cov(fit.slope_intercept, b, slope=True, cluster=cluster)
        if cov_b is not None and math.isfinite(cov_b[1, 1]) and cov_b[1, 1] > 0:
            se_b = math.sqrt(cov_b[1, 1])
            infl = (inf_a[0], inf_b[1])
        else:
            b = math.nan
            sep = Estimate(math.nan, status="undefined", note=numerical)
    if not with_intervals:
        ia = Estimate(a, se=se_a, status=status, note=note)
        ib = Estimate(b, se=se_b, status=status, note=note) if math.isfinite(b) else sep
        return ia, ib, infl
    if fit.df is not None:
        method = method + f" (df={fit.df:g})"
    ia = _bounded(a, fit.intercept_interval(z), se_a, method, status, note)
    ib = sep
    if math.isfinite(b):
        ib = _bounded(b, fit.slope_interval(z), se_b, method, status, note)
    return ia, ib, infl


def _bounded(est, limits, se, method, status, note) -> Estimate:
    """An estimate with its interval; an infinite limit (too few events to bound that side) is
    kept out of the numbers (JSON has no infinity) and said in the note."""
    lo, hi = limits
    if math.isinf(lo) or math.isinf(hi):
        side = "below" if math.isinf(lo) else "above"
        if math.isinf(lo) and math.isinf(hi):
            side = "on both sides"
        open_note = f"the interval is open {side}: too few events to bound it"
        note = open_note if note is None else f"{note}; {open_note}"
        lo = math.nan if math.isinf(lo) else lo
        hi = math.nan if math.isinf(hi) else hi
        if status == "ok":
            status = "no_interval"
    return Estimate(est, lo, hi, se, method, status, note)


def _cluster_df(y, cluster) -> float:
    pos = np.unique(cluster[y]).size
    neg = np.unique(cluster[~y]).size
    return float(max(min(pos, neg) - 1, 1))


def _class_claims(label, fit, intercept, slope, eligible) -> list[Claim]:
    """The class's two claims: intercept != 0 and slope != 1, each tested by its score test
    and adjusted through its inverted interval family (so the interval and the decision agree)."""
    out = []
    for what, est in (("intercept", intercept), ("slope", slope)):
        if not math.isfinite(est.estimate):
            continue
        null = 0.0 if what == "intercept" else 1.0
        if what == "intercept":
            effect = est.estimate
            fam, p = fit.intercept_interval, fit.intercept_p()
        else:
            effect = math.log(est.estimate) if est.estimate > 0 else -math.inf
            fam, p = fit.slope_interval, fit.slope_p()

        def at(zz, fam=fam, null=null):
            lo, hi = fam(zz)
            return lo - null, hi - null

        if what == "intercept" or fit._robust_slope:
            how = "robust score test; its inverted interval at the adjusted level"
        elif fit.cluster is not None:
            how = (
                "profile likelihood-ratio test scaled by the design effect; its inverted interval "
                "at the adjusted level"
            )
        else:
            how = "profile likelihood-ratio test; its inverted interval at the adjusted level"
        if fit.df is not None:
            how += " (t quantiles)"
        out.append(
            Claim(
                ("calibration", label, what),
                est.estimate - null,
                est.se,
                eligible,
                p_value=p,
                interval_at=at,
                effect=effect,
                method=how,
            )
        )
    return out


#: A class's slope outside [1 / STABLE_SLOPE, STABLE_SLOPE], or intercept beyond
#: STABLE_INTERCEPT log-odds, is taken as near separation, where a stratum mean's normal interval
#: is not trusted (see :func:`_stratum_means`).
STABLE_SLOPE = 10.0
STABLE_INTERCEPT = 5.0


def _regular(e: Estimate, what: str) -> bool:
    """Whether a class's intercept or slope is in the range where the stratum mean's normal
    interval holds: finite own interval, slope within a factor STABLE_SLOPE of 1, intercept
    within STABLE_INTERCEPT log-odds of 0."""
    if not (math.isfinite(e.ci_low) and math.isfinite(e.ci_high)):
        return False
    if what == "slope":
        return 1 / STABLE_SLOPE <= e.estimate <= STABLE_SLOPE
    return abs(e.estimate) <= STABLE_INTERCEPT


def _stratum_means(name, si, influence, cluster, n_clusters, z, with_intervals):
    """The mean intercept and slope over a stratum's classes with at least ``min_support``
    samples (and a defined estimate), with sandwich standard errors from the rows' summed
    influence values (``influence[(si, what)] = [sum, count, the classes' Estimates]``).

    The normal interval of the mean is only as good as the classes' fits are regular: near
    separation (a slope in the tens, an intercept of tens of log-odds) the influence values
    understate the spread, and on real data (Soybean, logistic regression) a stratum's mean slope
    of 29 [27, 31] was claimed while its classes' own profile intervals claimed nothing. So when a
    class's estimate is beyond :data:`STABLE_SLOPE` or :data:`STABLE_INTERCEPT`, or its own
    interval is open, the mean is marked unstable and no claim is made on it."""
    outs = []
    claims = []
    for what, null in (("intercept", 0.0), ("slope", 1.0)):
        acc = influence.get((si, what))
        if acc is None:
            outs.append(
                Estimate(
                    math.nan,
                    status="undefined",
                    note="no class of the stratum has enough samples for this",
                )
            )
            continue
        total, count, ests = acc
        ok = [e.estimate for e in ests]
        mean = float(np.mean(ok))
        if not with_intervals:
            outs.append(Estimate(mean))
            continue
        tot = total / count
        if cluster is None:
            m = tot.size
            se = math.sqrt(m / (m - 1) * float(tot @ tot))
            df = None
            q = z
            method = (
                f"normal, influence-function (sandwich) variance over the rows, {len(ok)} classes"
            )
        else:
            tc = np.bincount(cluster, weights=tot, minlength=n_clusters)
            se = math.sqrt(n_clusters / (n_clusters - 1) * float(tc @ tc))
            df = float(n_clusters - 1)
            q = float(special.stdtrit(df, special.ndtr(z)))
            method = f"t(df={df:g}), cluster-robust influence-function variance, {len(ok)} classes"
        irregular = [e for e in ests if not _regular(e, what)]
        status, note = "ok", None
        if irregular:
            status = "unstable"
            note = (
                f"not claimed: {len(irregular)} of its classes' {what}s are near separation "
                "(beyond the range where this interval holds, or with an open interval of their "
                "own)"
            )
        outs.append(Estimate(mean, mean - q * se, mean + q * se, se, method, status, note))
        if irregular:
            continue
        effect = mean if what == "intercept" else (math.log(mean) if mean > 0 else -math.inf)
        c = Claim(
            ("calibration_stratum", name, what),
            mean - null,
            se,
            True,
            df=df,
            effect=effect,
            method=("normal" if df is None else f"t(df={df:g})")
            + " with the influence-function (sandwich) standard error of the mean",
        )
        claims.append(c)
    return outs[0], outs[1], claims


# ------------------------------------------------------------------------------------------------
# findings


def calibration_findings(cal: Calibration, by_key: dict, config, family_size: int) -> list:
    """Calibration in words: per stratum, then the classes, where a claim is significant in the
    family and material (beyond the tolerance). Every number printed is in the evidence: the
    estimate, the Holm-adjusted interval on the parameter's scale, and for the intercept the
    observed and predicted prevalence."""
    from ..findings import _finding
    from ..formatting import digits_for_width, fmt_interval, fmt_number, fmt_percent

    tol = math.log(config.calibration_tolerance)

    level = (
        f"{config.divergence_adjustment.capitalize()}-adjusted interval over {family_size} "
        "comparisons"
    )
    nulls = {"intercept": 0.0, "slope": 1.0}
    out = []

    def claimed(key):
        c = by_key.get(key)
        if c is None or not c.significant or not (math.isfinite(c.low) and math.isfinite(c.high)):
            return None
        eff = c.estimate if c.effect is None else c.effect
        # a slope at or below 0 has effect -inf (log slope): as material as it gets
        return c if not math.isnan(eff) and abs(eff) >= tol - 1e-12 else None

    def item(c, what, estimate):
        null = nulls[what]
        lo, hi = c.low + null, c.high + null
        return {
            "parameter": what,
            "estimate": estimate,
            "ci_low": lo,
            "ci_high": hi,
            "p_value": c.p,
            "digits": digits_for_width(hi - lo if math.isfinite(hi - lo) else None),
        }

    def shown(ev):
        d = ev["digits"]
        return (
            f"{fmt_number(ev['estimate'], d, bounds=(0.0,))} "
            f"{fmt_interval(ev['ci_low'], ev['ci_high'], d)}"
        )

    for st in cal.strata:
        parts, evidence = [], {"stratum": st.stratum, "classes_used": st.n_used}
        c = claimed(("calibration_stratum", st.stratum, "slope"))
        if c is not None:
            ev = evidence["slope"] = item(c, "slope", st.slope.estimate)
            kind = "over-confident (too extreme)" if c.estimate < 0 else "under-confident"
            parts.append(f"are {kind}: mean calibration slope {shown(ev)}")
        c = claimed(("calibration_stratum", st.stratum, "intercept"))
        if c is not None:
            ev = evidence["intercept"] = item(c, "intercept", st.intercept.estimate)
            kind = "too low" if c.estimate > 0 else "too high"
            parts.append(f"are {kind} on average: mean calibration-in-the-large {shown(ev)}")
        if parts:
            text = (
                f"The {st.stratum} classes' probabilities "
                + " and ".join(parts)
                + f" ({level}; over the {st.n_used} class(es) with at least "
                f"{config.min_support} samples)."
            )
            evidence["min_support"] = config.min_support
            evidence["family_size"] = family_size
            evidence["adjustment"] = config.divergence_adjustment
            out.append(
                _finding(
                    f"calibration-stratum-{st.stratum}",
                    "calibration",
                    "high",
                    None,
                    [],
                    evidence,
                    text,
                )
            )

    groups: dict[str, list] = {
        "too-high": [],
        "too-low": [],
        "over-confident": [],
        "under-confident": [],
        "no-signal": [],
    }
    for cc in cal.per_class:
        ci = claimed(("calibration", cc.label, "intercept"))
        if ci is not None:
            groups["too-low" if ci.estimate > 0 else "too-high"].append((cc, ci, "intercept"))
        cs = claimed(("calibration", cc.label, "slope"))
        if cs is not None:
            # a slope not distinguishable from 0 (or below it) is not over-confidence: the
            # probabilities do not follow the class at all (e.g. score columns in the wrong order)
            group = (
                "under-confident"
                if cs.estimate > 0
                else "no-signal"
                if cs.low + 1.0 <= 0
                else "over-confident"
            )
            groups[group].append((cc, cs, "slope"))
    words = {
        "too-high": "predicted probabilities are too high on average (the class is observed "
        "less often than predicted; calibration-in-the-large below 0)",
        "too-low": "predicted probabilities are too low on average (the class is observed more "
        "often than predicted; calibration-in-the-large above 0)",
        "over-confident": "probabilities are over-confident (too extreme: calibration slope "
        "below 1)",
        "under-confident": "probabilities are under-confident (too cautious: calibration slope "
        "above 1)",
        "no-signal": "probabilities do not follow the class (calibration slope not "
        "distinguishable from 0, or below it: check that the score columns match the classes)",
    }
    for g, items in groups.items():
        if not items:
            continue
        items.sort(key=lambda t: t[1].p)
        listed = []
        for cc, cl, what in items:
            ev = item(cl, what, getattr(cc, what).estimate)
            ev.update(label=cc.label, observed=cc.observed, expected=cc.expected)
            listed.append(ev)
        texts = []
        for ev in listed[:10]:
            if ev["parameter"] == "intercept":
                texts.append(
                    f"'{ev['label']}' observed {fmt_percent(ev['observed'])}, predicted "
                    f"{fmt_percent(ev['expected'])}, intercept {shown(ev)}"
                )
            else:
                texts.append(f"'{ev['label']}' slope {shown(ev)}")
        more = f"; and {len(items) - 10} more" if len(items) > 10 else ""
        text = f"{len(items)} class(es)' {words[g]} ({level}): " + "; ".join(texts) + more + "."
        scope = words[g]
        out.append(
            _finding(
                f"calibration-{g}",
                "calibration",
                "medium",
                None,
                [cc.label for cc, _, _ in items],
                {
                    "classes": listed,
                    "family_size": family_size,
                    "adjustment": config.divergence_adjustment,
                    "scope": scope,
                },
                text,
            )
        )
    return out


# ------------------------------------------------------------------------------------------------
# at the deployment's prevalence (label shift)


def adjust_to_prevalence(y_score, prevalence, target) -> np.ndarray:
    """The prior-shift correction of probabilities (Saerens, Latinne & Decaestecker 2002): each
    row's probabilities times ``target / prevalence`` per class, renormalised. Exact under label
    shift (``p(x | y)`` unchanged) when the probabilities are calibrated at ``prevalence``. A
    class with ``prevalence`` 0 gets 0; a row whose probabilities all fall on classes with target
    0 gets the target prevalences (the scores tell nothing about the others)."""
    s = np.asarray(y_score, dtype=np.float64)
    prevalence = np.asarray(prevalence, dtype=np.float64)
    target = np.asarray(target, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        w = np.where(prevalence > 0, target / prevalence, 0.0)
    a = s * w
    tot = a.sum(axis=1, keepdims=True)
    with np.errstate(divide="ignore", invalid="ignore"):
        out = np.where(tot > 0, a / tot, target[None, :])
    return out


def calibration_at_target(pred, target, config) -> tuple:
    """Per class, the calibration the probabilities would have at the target prevalences: the
    evaluation rows weighted by ``target / prevalence`` of their true class (importance weights
    under label shift), for the probabilities as they are (calibration-in-the-large) and for the
    prior-shift corrected ones (calibration-in-the-large and slope).

    The raw intercept's interval inverts the robust score test of the weighted fit with a t
    quantile on the effective degrees of freedom of its variance (cluster-robust with a cluster
    column; simulated coverage 0.93-0.98). The corrected probabilities' intercept and slope are
    point estimates: their intervals covered only 0.84-0.93, as few rows of a rare class carry
    much of the weight."""
    from ..results import ShiftCalibration

    s = pred.y_score
    y_true = pred.y_true
    n, k = s.shape
    support = np.bincount(y_true, minlength=k)
    prevalence = support / n
    target = np.asarray(target, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        w = np.where(support > 0, target / prevalence, 0.0)
    v = w[y_true]
    adjusted = adjust_to_prevalence(s, prevalence, target)
    alpha = 1 - config.confidence_level
    z = float(special.ndtri(1 - alpha / 2))
    with_intervals = config.n_resamples > 0
    cluster = pred.cluster
    method = (
        "generalized score test of the weighted fit inverted (robust variance"
        + (", cluster sums" if cluster is not None else "")
        + "; t on the effective degrees of freedom)"
    )
    out = []
    vsum = float(v.sum())
    for j in range(k):
        label = pred.classes[j]
        if target[j] == 0 or support[j] == 0:
            why = "not at the target (prevalence 0)" if target[j] == 0 else "no sample"
            nan = Estimate(math.nan, status="undefined", note=why)
            out.append(ShiftCalibration(label, float(target[j]), math.nan, math.nan, nan, nan, nan))
            continue
        status, note = ("ok", None)
        if support[j] < config.min_support:
            status, note = "insufficient", f"fewer than {config.min_support} samples"
        y = y_true == j
        raw = logistic_recalibration(s[:, j], y, cluster, v)
        adj = logistic_recalibration(adjusted[:, j], y, cluster, v)
        raw_i, _, _ = _fit_estimates(
            raw, cluster, z, with_intervals, method, status, note, slope=False
        )
        # point estimates only: simulated coverage of their importance-weighted intervals was
        # 0.84-0.93 (a rare class's few rows carry ten times the weight of the others)
        adj_i, adj_s, _ = _fit_estimates(adj, cluster, z, False, method, status, note)
        if with_intervals:
            adj_i, adj_s = (
                replace(e, note=TARGET_NO_INTERVAL if e.note is None else e.note)
                if math.isfinite(e.estimate)
                else e
                for e in (adj_i, adj_s)
            )
        out.append(
            ShiftCalibration(
                label,
                float(target[j]),
                float((v * s[:, j]).sum() / vsum),
                float((v * adjusted[:, j]).sum() / vsum),
                raw_i,
                adj_i,
                adj_s,
            )
        )
    return tuple(out)
