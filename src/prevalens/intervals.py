"""Interval maths: pure functions of numbers, with no other part of prevalens behind them.

Bootstrap intervals from replicates (percentile, basic, BCa with a weighted jackknife), score
intervals for proportions (Wilson, Clopper-Pearson) and for a ROC AUC (Hanley-McNeil score, "HM-S"),
intervals built on the logit scale from a variance (DeLong's, a jackknife's) with a normal or a
Student t quantile, the effective number of observations behind a variance, and the multiplicity
adjustment of a family of intervals. Every function is vectorised over trailing axes and returns
NaN where an interval is undefined; the paired tests (McNemar's, Stuart-Maxwell's) take one table.
For two classifiers on the same samples: Newcombe's interval for the difference of their success
rates, McNemar's test, and the Stuart-Maxwell test of equal predicted class rates.

References
----------
Efron, B. (1987). Better bootstrap confidence intervals. JASA 82, 171-185.
Wilson, E. B. (1927). Probable inference, the law of succession, and statistical inference. JASA
22, 209-212.
Clopper, C. J., Pearson, E. S. (1934). The use of confidence or fiducial limits illustrated in the
case of the binomial. Biometrika 26, 404-413.
Hanley, J. A., McNeil, B. J. (1982). The meaning and use of the area under a receiver operating
characteristic (ROC) curve. Radiology 143, 29-36.
Satterthwaite, F. E. (1946). An approximate distribution of estimates of variance components.
Biometrics Bulletin 2, 110-114.
Newcombe, R. G. (1998). Improved confidence intervals for the difference between binomial
proportions based on paired data. Statistics in Medicine 17, 2635-2650.
Stuart, A. (1955). A test for homogeneity of the marginal distributions in a two-way
classification. Biometrika 42, 412-416.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np
from scipy import special

from .loo import is_loo

__all__ = [
    "percentile_interval",
    "basic_interval",
    "bca_interval",
    "interval_from_replicates",
    "wilson_interval",
    "clopper_pearson_interval",
    "clopper_pearson_limit",
    "mover_ratio",
    "logit_interval",
    "logit_t_interval",
    "auc_score_interval",
    "effective_dof",
    "adjusted_alpha",
    "midp_interval",
    "proportion_interval",
    "PROPORTION_INTERVALS",
    "mover_linear",
    "mover_difference",
    "interval_pvalue",
    "kish_effective",
    "bootstrap_p_value",
    "bca_parts",
    "jackknife_t_interval",
    "cluster_ratio_interval",
    "cluster_ratio_summary",
    "cluster_ratio_from",
    "ClusterRatioSummary",
    "mcnemar_test",
    "paired_difference_interval",
    "stuart_maxwell_test",
]


# ------------------------------------------------------------------------------------------------
# bootstrap interval methods (vectorised over trailing axes; NaN replicates are left out)


def _sorted_defined(reps):
    """Sort replicates along axis 0 with NaN last; return (sorted, number defined)."""
    s = np.sort(reps, axis=0)  # NaN sorts to the end
    return s, (~np.isnan(reps)).sum(axis=0)


def _quantile_sorted(s, n_def, q):
    """Linear-interpolation quantile (numpy's default) at per-element level ``q`` of the first
    ``n_def`` entries of each column of ``s`` (already sorted)."""
    q = np.clip(np.asarray(q, dtype=np.float64), 0.0, 1.0)
    pos = q * np.maximum(n_def - 1, 0)
    lo = np.floor(pos).astype(np.int64)
    hi = np.minimum(lo + 1, np.maximum(n_def - 1, 0))
    frac = pos - lo
    lo_v = np.take_along_axis(s, lo[None], axis=0)[0]
    hi_v = np.take_along_axis(s, hi[None], axis=0)[0]
    out = lo_v + (hi_v - lo_v) * frac
    return np.where(n_def > 0, out, np.nan)


def percentile_interval(reps, alpha):
    """Percentile interval ``(q_{alpha/2}, q_{1-alpha/2})`` of the defined replicates."""
    s, n_def = _sorted_defined(np.asarray(reps, dtype=np.float64))
    shape = n_def.shape
    return (
        _quantile_sorted(s, n_def, np.full(shape, alpha / 2)),
        _quantile_sorted(s, n_def, np.full(shape, 1 - alpha / 2)),
    )


def basic_interval(theta, reps, alpha):
    """Basic (reverse percentile) interval ``(2 theta - q_hi, 2 theta - q_lo)``."""
    lo, hi = percentile_interval(reps, alpha)
    return 2 * theta - hi, 2 * theta - lo


def bca_interval(theta, reps, jack, weights, alpha, strata=None, *, parts=None):
    """Bias-corrected and accelerated interval (Efron 1987).

    Parameters
    ----------
    theta : array (...)
        The estimate.
    reps : array (B, ...)
        Bootstrap replicates (NaN where undefined; those are left out).
    jack : array (J, ...)
        Distinct leave-one-out values; ``weights`` (J,) are their multiplicities.
    strata : int array (J,), optional
        The stratum (true class) of each leave-one-out member, under stratified resampling: the
        acceleration is then the stratified one.

    ``parts``: ``(z0, a)`` from :func:`bca_parts` when the caller has them already (the p-value
    of the same statistic needs them too).

    Returns ``(low, high, ok)``; ``ok`` is False where BCa is undefined (every replicate on one side
    of the estimate, or no spread), where the caller falls back to the percentile interval.

    Notes
    -----
    ``z0 = Phi^-1(share of replicates below theta, ties counted half)`` (as SciPy computes it);
    ``a = sum w u^3 / (6 (sum w u^2)^(3/2))`` with ``u = mean_jack - jack``; the interval is the
    percentile interval at levels ``Phi(z0 + (z0 + z) / (1 - a (z0 + z)))`` for
    ``z = Phi^-1(alpha/2), Phi^-1(1 - alpha/2)``.

    Under stratified resampling (``strata`` given) the acceleration is Davison & Hinkley's (1997,
    eq. 3.36) with jackknife influence values centred within each stratum i of n_i rows:
    ``l = (n_i - 1)(mean_i - jack)``, ``a = sum_i n_i^-3 sum w l^3 / (6 (sum_i n_i^-2 sum w
    l^2)^(3/2))``; strata of one row cannot vary and contribute nothing.
    """
    theta = np.asarray(theta, dtype=np.float64)
    reps = np.asarray(reps, dtype=np.float64)
    s, n_def = _sorted_defined(reps)
    z0, a = (
        parts
        if parts is not None
        else _bca_bias_acceleration(theta, reps, n_def, jack, weights, strata)
    )
    with np.errstate(invalid="ignore", divide="ignore"):
        z_lo, z_hi = special.ndtri(alpha / 2), special.ndtri(1 - alpha / 2)
        lvl_lo = special.ndtr(z0 + (z0 + z_lo) / (1 - a * (z0 + z_lo)))
        lvl_hi = special.ndtr(z0 + (z0 + z_hi) / (1 - a * (z0 + z_hi)))
    ok = np.isfinite(z0) & np.isfinite(lvl_lo) & np.isfinite(lvl_hi)
    lo = _quantile_sorted(s, n_def, np.where(ok, lvl_lo, 0.5))
    hi = _quantile_sorted(s, n_def, np.where(ok, lvl_hi, 0.5))
    return lo, hi, ok


def _quantile_level(s, n_def, value):
    """The level q at which :func:`_quantile_sorted` of the sorted columns ``s`` equals ``value``
    (the inverse of numpy's linear interpolation; 0 or 1 beyond the extremes)."""
    value = np.asarray(value, dtype=np.float64)
    below = (s < value).sum(axis=0)  # NaN (undefined replicates, sorted last) never counts
    lo_i = np.clip(below - 1, 0, None)
    hi_i = np.minimum(below, np.maximum(n_def - 1, 0))
    lo_v = np.take_along_axis(s, lo_i[None], axis=0)[0]
    hi_v = np.take_along_axis(s, hi_i[None], axis=0)[0]
    with np.errstate(invalid="ignore", divide="ignore"):
        frac = np.where(hi_v > lo_v, (value - lo_v) / (hi_v - lo_v), 1.0)
    pos = np.where(below == 0, 0.0, lo_i + np.clip(frac, 0.0, 1.0))
    return np.where(below >= n_def, 1.0, pos / np.maximum(n_def - 1, 1))


def bca_parts(theta, reps, jack, weights, strata=None):
    """BCa's ``(z0, a)`` for ``theta`` (see :func:`bca_interval`), to share between the interval
    and its p-value."""
    theta = np.asarray(theta, dtype=np.float64)
    reps = np.asarray(reps, dtype=np.float64)
    return _bca_bias_acceleration(theta, reps, (~np.isnan(reps)).sum(axis=0), jack, weights, strata)


def _bca_bias_acceleration(theta, reps, n_def, jack, weights, strata):
    """BCa's bias correction ``z0`` and acceleration ``a`` (see :func:`bca_interval`).

    ``jack`` may also be a leave-one-out array of :mod:`prevalens.loo` (J members by K
    columns, kept without its J x K values), which computes the same acceleration in its form.
    """
    with np.errstate(invalid="ignore", divide="ignore"):
        below = np.nansum(reps < theta, axis=0) + 0.5 * np.nansum(reps == theta, axis=0)
        frac = below / n_def
        z0 = special.ndtri(frac)
    accelerate = getattr(jack, "bca_acceleration", None)
    if accelerate is not None:
        return z0, accelerate(weights, strata, _acceleration)
    return z0, _acceleration(jack, weights, strata)


def _acceleration(jack, weights, strata):
    """BCa's acceleration from the distinct leave-one-out values ``jack`` (J, ...) weighted by
    their multiplicities (stratified when ``strata`` is given)."""
    with np.errstate(invalid="ignore", divide="ignore"):
        jack = np.asarray(jack, dtype=np.float64)
        w = np.broadcast_to(
            np.asarray(weights, dtype=np.float64).reshape((-1,) + (1,) * (jack.ndim - 1)),
            jack.shape,
        )
        wj = np.where(np.isnan(jack), 0.0, w)
        jv = np.where(np.isnan(jack), 0.0, jack)
        if strata is None:
            mean = (wj * jv).sum(axis=0) / wj.sum(axis=0)
            u = np.where(wj > 0, mean - jv, 0.0)
            num = (wj * u**3).sum(axis=0)
            den = 6.0 * (wj * u**2).sum(axis=0) ** 1.5
        else:
            num, den = _stratified_moments(np.asarray(w), wj, jv, np.asarray(strata))
            den = 6.0 * den**1.5
        return np.where(den > 0, num / den, 0.0)


def bootstrap_p_value(
    theta,
    reps,
    jack=None,
    weights=None,
    *,
    strata=None,
    method="bca",
    null=0.0,
    with_bound=False,
    parts=None,
):
    """Two-sided p-value of ``statistic == null`` by inverting the bootstrap interval: the
    smallest ``alpha`` whose ``method`` interval (``"bca"``, ``"percentile"`` or ``"basic"``) has
    ``null`` on its boundary, so that the interval and the p-value never disagree.

    For BCa, with ``G`` the level at which the replicates' quantile (interpolated as
    :func:`percentile_interval` does) equals ``null`` and ``zG = Phi^-1(G)``, the interval's end reaches ``null`` at ``z = (zG - z0) / (1 + a (zG - z0)) -
    z0``, and ``p = 2 min(Phi(z), 1 - Phi(z))``. ``G`` is kept within ``[1/(2B), 1 - 1/(2B)]``:
    the resolution of a bootstrap p-value is about 1/B. With ``with_bound=True`` returns ``(p,
    bound)``, ``bound`` True where every replicate lies on one side of ``null`` (beyond that
    resolution): ``p`` is then an upper bound, to be read "p < value". NaN where the statistic is
    undefined or the replicates do not vary.

    >>> reps = np.linspace(-1.0, 9.0, 1001)  # 0 is their 10% quantile
    >>> round(float(bootstrap_p_value(4.0, reps, method="percentile")), 4)
    0.2
    """
    theta = np.asarray(theta, dtype=np.float64)
    reps = np.asarray(reps, dtype=np.float64)
    s, n_def = _sorted_defined(reps)
    with np.errstate(invalid="ignore", divide="ignore"):
        half = 0.5 / np.maximum(n_def, 1)
        if method == "basic":  # the basic interval reflects the replicates about theta
            g = np.clip(_quantile_level(s, n_def, 2 * theta - null), half, 1 - half)
            z = special.ndtri(g)
        else:
            g = np.clip(_quantile_level(s, n_def, np.full(theta.shape, null)), half, 1 - half)
            z = special.ndtri(g)
            if method == "bca":
                z0, a = (
                    parts
                    if parts is not None
                    else _bca_bias_acceleration(theta, reps, n_def, jack, weights, strata)
                )
                d = z - z0
                z = np.where(np.isfinite(z0), d / (1 + a * d) - z0, z)  # undefined: percentile
            elif method != "percentile":
                raise ValueError(f"unknown method {method!r}")
        p = 2 * np.minimum(special.ndtr(z), special.ndtr(-z))
        filled = np.where(n_def > 0, reps, 0.0)  # an all-NaN column has no spread (no warning)
        spread = np.nanmax(filled, axis=0) - np.nanmin(filled, axis=0)
    bad = ~np.isfinite(theta) | (n_def < 2) | ~(spread > 0)
    p = np.where(bad, np.nan, p)
    if with_bound:
        return p, ~bad & ((g <= half) | (g >= 1 - half))
    return p


def _stratified_moments(w_all, w, jack, strata):
    """``(sum_i n_i^-3 sum w l^3, sum_i n_i^-2 sum w l^2)`` of the stratified acceleration, with
    ``l = (n_i - 1)(mean_i - jack)`` centred within each stratum: ``w_all`` counts the rows of
    each member (n_i is the stratum's size), ``w`` is zero where the statistic is undefined."""
    order = np.argsort(strata, kind="stable")
    st = np.asarray(strata)[order]
    starts = np.flatnonzero(np.r_[True, st[1:] != st[:-1]]) if st.size else np.array([], int)
    sizes = np.diff(np.r_[starts, st.size])
    w_all, w, jack = w_all[order], w[order], jack[order]
    n_i = np.add.reduceat(w_all, starts, axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.add.reduceat(w * jack, starts, axis=0) / np.add.reduceat(w, starts, axis=0)
        n_row = np.repeat(n_i, sizes, axis=0)
        l_ = np.where(w > 0, (n_row - 1) * (np.repeat(mean, sizes, axis=0) - jack), 0.0)
        use = (n_row >= 2) & (w > 0)
        num = np.where(use, w * l_**3 / n_row**3, 0.0).sum(axis=0)
        den = np.where(use, w * l_**2 / n_row**2, 0.0).sum(axis=0)
    return num, den


def interval_from_replicates(
    theta,
    reps,
    jack=None,
    weights=None,
    *,
    confidence_level=0.95,
    method="bca",
    value_range=None,
    alpha=None,
    strata=None,
    parts=None,
) -> dict:
    """Interval arrays for estimates ``theta`` (...) from replicates (B, ...).

    Returns a dict of arrays: ``low``, ``high``, ``se``, ``undefined_fraction``, and ``note``
    (object array of str or None) explaining fallbacks: BCa undefined -> percentile; a degenerate
    bootstrap distribution (every replicate equal) -> no interval.
    """
    theta = np.asarray(theta, dtype=np.float64)
    reps = np.asarray(reps, dtype=np.float64)
    alpha = (1 - confidence_level) if alpha is None else alpha
    n_b = reps.shape[0]
    n_def = (~np.isnan(reps)).sum(axis=0)
    undefined_fraction = 1 - n_def / n_b
    with np.errstate(invalid="ignore"):
        se = np.where(n_def > 1, np.nanstd(np.where(n_def > 1, reps, 0.0), axis=0, ddof=1), np.nan)
        spread = np.nanmax(np.where(n_def > 0, reps, 0.0), axis=0) - np.nanmin(
            np.where(n_def > 0, reps, 0.0), axis=0
        )
    note = np.full(theta.shape, None, dtype=object)
    if method == "bca":
        lo, hi, ok = bca_interval(theta, reps, jack, weights, alpha, strata, parts=parts)
        p_lo, p_hi = percentile_interval(reps, alpha) if not ok.all() else (lo, hi)
        lo = np.where(ok, lo, p_lo)
        hi = np.where(ok, hi, p_hi)
        note[~ok & (spread > 0)] = (
            "BCa undefined (every replicate on one side of the estimate); percentile interval"
        )
    elif method == "percentile":
        lo, hi = percentile_interval(reps, alpha)
    elif method == "basic":
        lo, hi = basic_interval(theta, reps, alpha)
    else:
        raise ValueError(f"unknown interval method {method!r}")
    if value_range is not None:
        lo = np.clip(lo, *value_range)
        hi = np.clip(hi, *value_range)
    # rounding-level spread (e.g. means of identical values) counts as no variation
    tol = 1e-12 * np.maximum(1.0, np.abs(np.nan_to_num(theta)))
    degenerate = (spread <= tol) & (n_def > 0)
    note[degenerate & ~np.isnan(theta)] = (
        "no interval: every bootstrap replicate equals the estimate (no variation to resample)"
    )
    # a zero-width interval from replicates that do vary: too few differ from the estimate to
    # place the bounds; report no interval rather than a silent [x, x]
    zero_width = ~degenerate & (np.abs(hi - lo) <= tol) & ~np.isnan(theta)
    note[zero_width] = (
        "no interval: fewer than the interval's tail share of the bootstrap "
        "replicates differ from the estimate"
    )
    bad = degenerate | zero_width | np.isnan(theta)
    lo = np.where(bad, np.nan, lo)
    hi = np.where(bad, np.nan, hi)
    return {"low": lo, "high": hi, "se": se, "undefined_fraction": undefined_fraction, "note": note}


# ------------------------------------------------------------------------------------------------
# proportions


def wilson_interval(k, n, confidence_level=0.95, *, alpha=None):
    """Wilson score interval for k successes in n trials (vectorised); NaN where n == 0.

    Notes
    -----
    With ``z = Phi^-1(1 - alpha/2)`` and ``p = k/n``::

        centre = (k + z^2/2) / (n + z^2)
        half   = z / (n + z^2) * sqrt(k (n - k) / n + z^2 / 4)

    Equals ``scipy.stats.binomtest(k, n).proportion_ci(method="wilson")``.

    Examples
    --------
    >>> lo, hi = wilson_interval([0, 8], [3, 10])
    >>> [round(float(x), 4) for x in lo], [round(float(x), 4) for x in hi]
    ([0.0, 0.4902], [0.5615, 0.9433])
    """
    alpha = (1 - confidence_level) if alpha is None else alpha
    return _wilson_at_z(k, n, special.ndtri(1 - alpha / 2))


def _wilson_at_z(k, n, z):
    """Wilson score interval at the normal quantile ``z`` (:func:`wilson_interval`'s formula)."""
    k = np.asarray(k, dtype=np.float64)
    n = np.asarray(n, dtype=np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        centre = (k + z * z / 2) / (n + z * z)
        half = z / (n + z * z) * np.sqrt(k * (n - k) / n + z * z / 4)
        lo = np.where(k == 0, 0.0, centre - half)
        hi = np.where(k == n, 1.0, centre + half)
    lo = np.where(n > 0, np.clip(lo, 0, 1), np.nan)
    hi = np.where(n > 0, np.clip(hi, 0, 1), np.nan)
    return lo, hi


def clopper_pearson_interval(k, n, confidence_level=0.95, *, alpha=None):
    """Clopper-Pearson ("exact") interval from beta quantiles; NaN where n == 0."""
    k = np.asarray(k, dtype=np.float64)
    n = np.asarray(n, dtype=np.float64)
    alpha = (1 - confidence_level) if alpha is None else alpha
    with np.errstate(invalid="ignore", divide="ignore"):
        lo = np.where(k > 0, special.betaincinv(np.maximum(k, 1e-300), n - k + 1, alpha / 2), 0.0)
        # the complementary inverse keeps full precision at the tiny alpha of a Holm step
        hi = np.where(k < n, special.betainccinv(k + 1, np.maximum(n - k, 1e-300), alpha / 2), 1.0)
    return np.where(n > 0, lo, np.nan), np.where(n > 0, hi, np.nan)


def clopper_pearson_limit(k, n, lower, *, alpha):
    """One limit of :func:`clopper_pearson_interval` per proportion: the lower where ``lower``,
    else the upper (bit for bit the same numbers, at half the cost when a caller reads one limit
    of each, as a MOVER bound in one direction does)."""
    k, n, lower, alpha = np.broadcast_arrays(
        np.asarray(k, dtype=np.float64),
        np.asarray(n, dtype=np.float64),
        np.asarray(lower, dtype=bool),
        np.asarray(alpha, dtype=np.float64),
    )
    out = np.empty(k.shape)
    lo, hi = lower, ~lower
    with np.errstate(invalid="ignore", divide="ignore"):
        kl, nl = k[lo], n[lo]
        out[lo] = np.where(
            kl > 0, special.betaincinv(np.maximum(kl, 1e-300), nl - kl + 1, alpha[lo] / 2), 0.0
        )
        kh, nh = k[hi], n[hi]
        out[hi] = np.where(
            kh < nh, special.betainccinv(kh + 1, np.maximum(nh - kh, 1e-300), alpha[hi] / 2), 1.0
        )
    return np.where(n > 0, out, np.nan)


def _midp_lower(x, n, a, n_iter):
    """Lower mid-p limit: the root of ``(I_p(x, n-x+1) + I_p(x+1, n-x)) / 2 = a/2`` (that is
    ``P(X > x) + P(X = x)/2``), bracketed by the Clopper-Pearson lower limits of x and x + 1 and
    found by Illinois regula falsi on the log scale."""
    ok = (x > 0) & (x < n)
    xx = np.where(ok, x, 1.0)
    nn = np.where(ok, n, 3.0)
    lo = special.betaincinv(xx, nn - xx + 1, a / 2)
    hi = special.betaincinv(xx + 1, nn - xx, a / 2)
    target = np.log(a / 2)

    def f(p):
        with np.errstate(divide="ignore"):
            both = special.betainc(xx, nn - xx + 1, p) + special.betainc(xx + 1, nn - xx, p)
            return np.log(0.5 * both) - target

    flo, fhi = f(lo), f(hi)
    side = np.zeros(x.shape)
    for _ in range(n_iter):
        with np.errstate(invalid="ignore", divide="ignore"):
            m = np.where(fhi != flo, hi - fhi * (hi - lo) / (fhi - flo), 0.5 * (lo + hi))
        m = np.where((m > lo) & (m < hi), m, 0.5 * (lo + hi))
        fm = f(m)
        right = fm > 0  # the root is in [lo, m]
        # Illinois: halve the kept end's value when the same end is kept twice
        flo = np.where(right, np.where(side == -1, flo / 2, flo), fm)
        fhi = np.where(right, fm, np.where(side == 1, fhi / 2, fhi))
        lo = np.where(right, lo, m)
        hi = np.where(right, m, hi)
        side = np.where(right, -1, 1)
        if np.all((hi - lo) <= 1e-15 * np.maximum(hi, 1e-300)):
            break
    r = np.where(np.abs(flo) < np.abs(fhi), lo, hi)
    r = np.where(x >= n, a ** (1 / np.where(n > 0, n, 1)), r)  # x = n: p^n / 2 = a/2
    return np.where(x <= 0, 0.0, r)


def midp_interval(k, n, confidence_level=0.95, *, alpha=None):
    """Exact mid-p interval for a binomial proportion (Lancaster 1961); NaN where n == 0.

    Notes
    -----
    The lower limit solves ``P(X > k) + P(X = k)/2 = alpha/2`` (0 when k = 0), the upper limit
    ``P(X < k) + P(X = k)/2 = alpha/2`` (1 when k = n). Closest of the exact intervals to its
    nominal coverage on average (0.952-0.976 for n from 3 to 200, against Clopper-Pearson's
    0.962-0.989), with a bounded tail at the small alpha of a Holm step (worst one-sided miss
    0.0012 at a nominal 0.000625, where Wilson's reaches 0.078).

    Examples
    --------
    >>> lo, hi = midp_interval(6, 10)   # R: uniroot on pbinom/dbinom gives 0.2911361099, 0.8577070557
    >>> round(float(lo), 10), round(float(hi), 10)
    (0.2911361099, 0.8577070557)
    """
    k = np.asarray(k, dtype=np.float64)
    n = np.asarray(n, dtype=np.float64)
    a = np.asarray((1 - confidence_level) if alpha is None else alpha, dtype=np.float64)
    k, n, a = np.broadcast_arrays(k, n, a)
    lo = _midp_lower(k, n, a, 40)
    hi = 1.0 - _midp_lower(n - k, n, a, 40)
    return np.where(n > 0, lo, np.nan), np.where(n > 0, hi, np.nan)


#: The proportion intervals by name (the ``proportion_interval`` option).
PROPORTION_INTERVALS = {
    "wilson": wilson_interval,
    "clopper-pearson": clopper_pearson_interval,
    "mid-p": midp_interval,
}


def proportion_interval(k, n, *, alpha=None, z=None, method="wilson"):
    """The interval ``method`` for k successes in n trials at level ``1 - alpha`` (or at the two
    sided normal quantile ``z``, as a MOVER construction evaluates it)."""
    if z is not None:  # 2 Phi(-z) keeps full relative precision for tiny alpha
        alpha = 2 * special.ndtr(-np.asarray(z, dtype=np.float64))
    return PROPORTION_INTERVALS[method](k, n, alpha=alpha)


# ------------------------------------------------------------------------------------------------
# MOVER: intervals for sums and differences from the intervals of their parts


#: p-values below 2 Phi(-Z_MAX) (about 5e-198) are reported as that bound.
Z_MAX = 30.0


def mover_linear(est, low, high, coef, axis=-1):
    """MOVER interval for ``sum_i c_i theta_i`` of independent estimates from their own limits at
    the same level (Zou & Donner 2008; Zou, Huang & Zhang 2009).

    Notes
    -----
    ``L = sum c_i est_i - sqrt(sum_i (c_i est_i - min(c_i l_i, c_i u_i))^2)`` and
    ``U = sum c_i est_i + sqrt(sum_i (max(c_i l_i, c_i u_i) - c_i est_i)^2)``. A 0/3 class brings
    its whole interval ([0, 0.63] with mid-p limits), which a stratified bootstrap cannot: it
    resamples 0/3 as 0/3 every time. Components with ``c_i = 0`` contribute nothing.

    Returns ``(low, high, estimate)``.
    """
    est, low, high, coef = np.broadcast_arrays(
        *(np.asarray(v, dtype=np.float64) for v in (est, low, high, coef))
    )
    use = coef != 0
    ce = np.where(use, coef * est, 0.0)
    a, b = np.where(use, coef * low, 0.0), np.where(use, coef * high, 0.0)
    lo_c, hi_c = np.minimum(a, b), np.maximum(a, b)
    theta = ce.sum(axis=axis)
    return (
        theta - np.sqrt(((ce - lo_c) ** 2).sum(axis=axis)),
        theta + np.sqrt(((hi_c - ce) ** 2).sum(axis=axis)),
        theta,
    )


def mover_difference(t1, l1, u1, t2, l2, u2):
    """MOVER interval for ``t1 - t2`` of independent estimates from their limits (Newcombe's
    method 10 with Wilson limits): ``(low, high)``."""
    d = t1 - t2
    return (
        d - np.sqrt((t1 - l1) ** 2 + (u2 - t2) ** 2),
        d + np.sqrt((u1 - t1) ** 2 + (t2 - l2) ** 2),
    )


def _bisect(f, lo, hi, n_iter=64):
    """Vectorised bisection for the root of ``f`` (> 0 at ``lo``, <= 0 at ``hi``)."""
    lo = np.array(lo, dtype=np.float64, copy=True)
    hi = np.array(hi, dtype=np.float64, copy=True)
    lo0, hi0 = lo.copy(), hi.copy()
    for _ in range(n_iter):
        mid = 0.5 * (lo + hi)
        # settled: mid is an end already evaluated (lo and hi adjacent floats), whose sign every
        # later step would find again; when every element has settled, stop (the same result)
        if np.all(((mid == lo) & (lo != lo0)) | ((mid == hi) & (hi != hi0))):
            break
        pos = f(mid) > 0
        lo = np.where(pos, mid, lo)
        hi = np.where(pos, hi, mid)
    return 0.5 * (lo + hi)


def mover_ratio(a, la, ua, b, lb, ub):
    """MOVER-R limits of ``a / b`` for independent ``a, b >= 0`` from their own limits at the
    same level (Donner & Zou 2012), and whether each is defined (its denominator ``ub (2b -
    ub)`` or ``lb (2b - lb)`` positive). Returns ``(low, high, low_defined, high_defined)``;
    ``low`` is floored at 0."""
    with np.errstate(invalid="ignore", divide="ignore"):
        dl = ub * (2 * b - ub)
        du = lb * (2 * b - lb)
        ab = a * b
        low = (ab - np.sqrt(np.maximum(ab**2 - la * ub * (2 * a - la) * (2 * b - ub), 0))) / dl
        high = (ab + np.sqrt(np.maximum(ab**2 - ua * lb * (2 * a - ua) * (2 * b - lb), 0))) / du
    return np.maximum(low, 0.0), high, dl > 0, du > 0


def interval_pvalue(interval_at_z, estimate, bound=0.0):
    """The p-value consistent with a family of nested intervals: the smallest alpha at which
    the ``1 - alpha`` interval excludes ``bound``.

    ``interval_at_z(z) -> (low, high)`` is vectorised over ``z`` (the shape of ``estimate``) and
    nested (wider for larger z), as score and MOVER intervals are. The root z* of
    ``low(z) = bound`` (estimate above the bound) or ``high(z) = bound`` is found by bisection on
    [0, Z_MAX] and ``p = 2 Phi(-z*)``; so a claim is rejected at level ``a`` exactly when the
    interval at level ``1 - a`` excludes the bound: the adjusted interval and the decision never
    disagree.
    """
    est = np.asarray(estimate, dtype=np.float64)
    bound = np.broadcast_to(np.asarray(bound, dtype=np.float64), est.shape)
    up = est > bound

    def f(z):
        lo, hi = interval_at_z(z)
        return np.where(up, lo - bound, bound - hi)

    zs = _bisect(f, np.zeros(est.shape), np.full(est.shape, Z_MAX))
    p = 2 * special.ndtr(-zs)
    return np.where(np.isnan(est), np.nan, np.where(est == bound, 1.0, p))


# ------------------------------------------------------------------------------------------------
# variances on the logit scale


def logit_interval(theta, var, *, alpha, df=None):
    """Interval for a quantity in (0, 1) from its variance, built on the logit scale and mapped
    back: ``expit(logit(theta) +- q * sqrt(var) / (theta (1 - theta)))``, with q the normal quantile
    or, with ``df``, Student's t. Undefined (NaN) when theta is 0 or 1 or the variance is 0."""
    theta = np.asarray(theta, dtype=np.float64)
    var = np.asarray(var, dtype=np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        q = special.ndtri(1 - alpha / 2) if df is None else special.stdtrit(df, 1 - alpha / 2)
        se_l = np.sqrt(var) / (theta * (1 - theta))
        centre = special.logit(theta)
        lo = special.expit(centre - q * se_l)
        hi = special.expit(centre + q * se_l)
    # a variance at rounding level (e.g. all scores tied) counts as zero
    bad = ~((theta > 0) & (theta < 1) & (var > 1e-24))
    return np.where(bad, np.nan, lo), np.where(bad, np.nan, hi)


def logit_t_interval(theta, se, *, alpha, df=np.inf):
    """Interval for a quantity in (0, 1) from its standard error on the original scale, built on
    the logit scale with a Student t quantile of ``df`` degrees of freedom (``inf``: normal)::

        expit(logit(theta) -+ t_df(1 - alpha/2) * se / (theta (1 - theta)))

    Unlike :func:`logit_interval` it has no rounding threshold on the variance: for an ``se`` from
    an exact formula (an average precision within 1e-9 of 1 has an SE of ~1e-9, and that is not
    rounding noise). Undefined (NaN) when theta is not inside (0, 1) or se is not > 0.

    Examples
    --------
    >>> lo, hi = logit_t_interval(0.9, 0.03, alpha=0.05, df=4.0)
    >>> round(float(lo), 4), round(float(hi), 4)
    (0.781, 0.9578)
    """
    theta = np.asarray(theta, dtype=np.float64)
    se = np.asarray(se, dtype=np.float64)
    df = np.asarray(df, dtype=np.float64)
    ok = (theta > 0) & (theta < 1) & (se > 0) & (df > 0)
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        q = special.stdtrit(np.where(df > 0, df, 1.0), 1 - alpha / 2)
        th = np.where(ok, theta, 0.5)
        half = q * np.where(ok, se, 0.0) / (th * (1 - th))
        centre = np.log(th) - np.log1p(-th)
        lo = special.expit(centre - half)
        hi = special.expit(centre + half)
    return np.where(ok, lo, np.nan), np.where(ok, hi, np.nan)


def effective_dof(u, axis=None):
    """Effective number of observations behind the variance ``sum u^2`` of a sum of independent
    terms ``u`` (Satterthwaite's form for a variance that is a sum of unequal parts)::

        df = (sum u^2)^2 / sum u^4

    It equals the number of terms when they are equal and falls to ~1 when one term carries the
    variance (e.g. the one negative ranked among the positives that decides an average precision
    near 1). ``inf`` when every term is 0 (no variance, nothing to estimate).

    Examples
    --------
    >>> float(effective_dof([1.0, -1.0, 1.0, -1.0]))
    4.0
    >>> round(float(effective_dof([10.0, 0.1, -0.1])), 4)
    1.0004
    """
    u = np.asarray(u, dtype=np.float64)
    # scaled by the largest |u| so that neither the squares nor the fourth powers underflow (an
    # average precision within 1e-7 of 1 has influence values of ~1e-10)
    scale = np.max(np.abs(u), axis=axis, keepdims=True) if u.size else np.ones(1)
    with np.errstate(invalid="ignore", divide="ignore"):
        v2 = np.where(scale > 0, u / np.where(scale > 0, scale, 1.0), 0.0)
        v2 *= v2
        s2 = v2.sum(axis=axis)
        s4 = (v2 * v2).sum(axis=axis)
        return np.where(s4 > 0, s2**2 / np.where(s4 > 0, s4, 1.0), np.inf)


def auc_score_interval(auc, s10, s01, n_pos, n_neg, *, alpha, e0=2.0, iters=60):
    """Score-type interval for a ROC AUC, valid near and at AUC = 1 with few positives ("HM-S").

    The interval is ``{t in [0, 1] : (AUC - t)^2 <= z^2 V(t)}`` (z the normal quantile): Hanley &
    McNeil's (1982) variance evaluated at the candidate value t, as Wilson's interval evaluates
    p(1-p)/n at the candidate p, with its variance ratios moving to the observed DeLong ones as the
    data hold more ranking errors.

    Parameters
    ----------
    auc : array (...)
        The AUCs (Mann-Whitney, ties counted half).
    s10, s01 : array (...)
        DeLong's components: the sample variances (ddof 1) of the positives' placements among the
        negatives and of the negatives' among the positives (NaN for a single positive or negative
        is read as 0); DeLong's variance is ``s10 / n_pos + s01 / n_neg``.
    n_pos, n_neg : array (...)
        Numbers of positives (m) and negatives (n).
    alpha : float
        1 - confidence level.
    e0 : float
        Prior weight (in "ranking errors") of the Hanley-McNeil ratio of the positives.

    Returns ``(low, high)``; NaN where the AUC is undefined (NaN, or no positive or negative).

    Notes
    -----
    ::

        c1_hat = s10 / (AUC (1 - AUC)),   c0_hat = s01 / (AUC (1 - AUC))   (0 at AUC 0 or 1)
        e1     = m (1 - AUC)                           (the positives' "error mass")
        c1(t)  = (e1 c1_hat + e0 t / (1 + t)) / (e1 + e0)
        c0(t)  = max(c0_hat, (1 - t) / (2 - t))
        V(t)   = t (1 - t) / (m n) [1 + (m - 1) c0(t) + (n - 1) c1(t)]

    ``t/(1+t)`` and ``(1-t)/(2-t)`` are Hanley & McNeil's (exponential-model) variance ratios of
    the placements; with c1 and c0 equal to them V is Hanley & McNeil's variance. With few ranking
    errors (e1 small) the tail of the positives' scores cannot be seen in the data and the model
    ratio is used; with many, the observed one. At AUC = 1 the interval is ``[lower, 1]`` with
    ``lower`` solving ``(1 - t)^2 = z^2 V(t)`` (no fallback branch), at AUC = 0 ``[0, upper]``.
    The roots are found by bisection on [0, AUC] and [AUC, 1] (``iters`` halvings: 2^-60 of the
    range), vectorised over classes.

    Simulated coverage of the 95% interval (200 scenarios: 5 to 100 positives, 1,000 and 50,000
    negatives, AUC 0.9 to 0.999, light- and heavy-tailed and tied score models): at least 0.936
    everywhere, conservative (up to 0.998) only where the data cannot show the score tail that
    decides the AUC; DeLong's logit interval covered 0.40 to 0.99 there (tests/
    test_coverage_scores.py; the study behind the choice is summarised in docs/design.md).

    Examples
    --------
    >>> lo, hi = auc_score_interval(1.0, 0.0, 0.0, 15, 1000, alpha=0.05)
    >>> round(float(lo), 5), float(hi)
    (0.89189, 1.0)
    """
    a = np.asarray(auc, dtype=np.float64)
    s10 = np.asarray(s10, dtype=np.float64)
    s01 = np.asarray(s01, dtype=np.float64)
    m = np.asarray(n_pos, dtype=np.float64)
    n = np.asarray(n_neg, dtype=np.float64)
    a, s10, s01, m, n = np.broadcast_arrays(a, s10, s01, m, n)
    bad = ~np.isfinite(a) | ~(m >= 1) | ~(n >= 1)
    a = np.where(bad, 0.5, a)
    m = np.where(bad, 1.0, m)
    n = np.where(bad, 1.0, n)
    z = special.ndtri(1 - alpha / 2)
    inside = (a > 0) & (a < 1)
    with np.errstate(invalid="ignore", divide="ignore"):
        denom = np.where(inside, a * (1 - a), 1.0)
        c1_hat = np.where(inside, np.nan_to_num(s10) / denom, 0.0)
        c0_hat = np.where(inside, np.nan_to_num(s01) / denom, 0.0)
    e1 = m * (1 - a)

    def g(t):
        c1 = (e1 * c1_hat + e0 * t / (1 + t)) / (e1 + e0)
        c0 = np.maximum(c0_hat, (1 - t) / (2 - t))
        v = t * (1 - t) / (m * n) * (1 + (m - 1) * c0 + (n - 1) * c1)
        return (a - t) ** 2 - z * z * v

    # g(0) = a^2 >= 0 and g(1) = (1 - a)^2 >= 0 (V vanishes at 0 and 1), g(a) = -z^2 V(a) <= 0
    lo_a, lo_b = np.zeros_like(a), a.copy()
    hi_a, hi_b = a.copy(), np.ones_like(a)
    for _ in range(iters):
        mid = (lo_a + lo_b) / 2
        above = g(mid) > 0
        lo_a, lo_b = np.where(above, mid, lo_a), np.where(above, lo_b, mid)
        mid = (hi_a + hi_b) / 2
        above = g(mid) > 0
        hi_a, hi_b = np.where(above, hi_a, mid), np.where(above, mid, hi_b)
    lo = np.where(a <= 0, 0.0, lo_a)
    hi = np.where(a >= 1, 1.0, hi_b)
    return np.where(bad, np.nan, lo), np.where(bad, np.nan, hi)


# ------------------------------------------------------------------------------------------------
# multiplicity


def adjusted_alpha(alpha: float, family: int, how: str) -> float:
    """The per-comparison error rate of a family of ``family`` intervals at family-wise rate
    ``alpha``: Bonferroni ``alpha / m``, Sidak ``1 - (1 - alpha)^(1/m)``, or ``alpha`` (none)."""
    if family <= 1 or how == "none":
        return alpha
    if how == "bonferroni":
        return alpha / family
    if how == "sidak":
        return 1 - (1 - alpha) ** (1 / family)
    raise ValueError(how)


# ------------------------------------------------------------------------------------------------
# clusters (docs/design.md, "Clusters")


def kish_effective(sizes, axis=0):
    """Kish's effective number of clusters, ``(sum n_c)^2 / sum n_c^2`` (``C`` for equal sizes;
    fewer when a few clusters hold most rows). NaN where there are no rows.

    Examples
    --------
    >>> float(kish_effective([10, 10, 10, 10])), round(float(kish_effective([100, 1, 1, 1])), 3)
    (4.0, 1.061)
    """
    n = np.asarray(sizes, dtype=np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        return n.sum(axis=axis) ** 2 / (n**2).sum(axis=axis)


def jackknife_t_interval(theta, loo, weights, *, df, alpha, scale="logit"):
    """Interval from the leave-one-cluster-out jackknife with a t quantile (vectorised over
    trailing axes of ``theta``).

    ``loo`` (J, ...) holds the distinct leave-one-out values and ``weights`` (J,) how many
    clusters each stands for (C in all). With ``V = (C - 1)/C sum_c (loo_c - mean)^2`` and
    ``q = t_df(1 - alpha/2)``:

    * ``scale="logit"``: ``expit(logit(theta) -+ q sqrt(V) / (theta (1 - theta)))`` for a quantity
      in (0, 1) (undefined at 0 and 1);
    * ``scale="symmetric"``: the same on ``(theta + 1) / 2`` for a quantity in (-1, 1) (kappa,
      MCC);
    * ``scale="linear"``: ``theta -+ q sqrt(V)`` (differences).

    Returns ``(low, high, se)``; NaN where undefined. With 40 clusters of very unequal sizes
    (Kish 6.1) and df = Kish - 1 this covered accuracy 0.940 and macro recall 0.948 in
    simulation, where the cluster bootstrap gave 0.86-0.88 (docs/design.md).
    """
    theta = np.asarray(theta, dtype=np.float64)
    if is_loo(loo) and theta.ndim == 1:
        # a leave-one-out array of prevalens.loo (J, K): column block by column block, each
        # column's values as the dense array's (a block has at least two columns)
        parts = [
            jackknife_t_interval(
                theta[cols],
                loo.block(cols),
                weights,
                df=df if np.ndim(df) == 0 else np.asarray(df)[cols],
                alpha=alpha,
                scale=scale,
            )
            for cols in loo.pattern.blocks()
        ]
        return tuple(np.concatenate([p[i] for p in parts]) for i in range(3))
    loo = np.asarray(loo, dtype=np.float64)
    w = np.asarray(weights, dtype=np.float64).reshape((-1,) + (1,) * theta.ndim)
    w = np.where(np.isnan(loo), 0.0, np.broadcast_to(w, loo.shape))
    vals = np.where(w > 0, loo, 0.0)
    c = w.sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = (w * vals).sum(axis=0) / c
        var = (c - 1) / c * (w * (vals - mean) ** 2).sum(axis=0)
        se = np.sqrt(var)
        q = special.stdtrit(df, 1 - alpha / 2)
        if scale == "linear":
            lo, hi = theta - q * se, theta + q * se
        else:
            p = theta if scale == "logit" else (theta + 1) / 2
            s = se if scale == "logit" else se / 2
            half = q * s / (p * (1 - p))
            lo, hi = special.expit(special.logit(p) - half), special.expit(special.logit(p) + half)
            if scale == "symmetric":
                lo, hi = 2 * lo - 1, 2 * hi - 1
            inside = (p > 0) & (p < 1)
            lo, hi = np.where(inside, lo, np.nan), np.where(inside, hi, np.nan)
    bad = ~(c >= 2) | ~(se > 0)
    return np.where(bad, np.nan, lo), np.where(bad, np.nan, hi), np.where(c >= 2, se, np.nan)


def cluster_ratio_interval(y, n, *, alpha):
    """Cluster-robust interval of a proportion ``R = sum_c y_c / sum_c n_c`` per column (e.g. the
    recall of each class: ``y`` its correct rows and ``n`` its rows in each cluster; arrays of
    shape (C, K)).

    CR2 variance of the ratio, ``V = sum_c (y_c - R n_c)^2 / (1 - h_c) / (sum n)^2`` with
    ``h_c = n_c / sum n``; degrees of freedom ``max(Kish - 1, 1)`` from the column's effective
    number of clusters; Korn & Graubard's effective number of trials
    ``n* = min(R(1 - R)/V, sum n) (z / t_df)^2`` (``C_k (z / t_df)^2`` at R = 0 or 1); the Wilson
    interval at ``(R n*, n*)``. Defined at 0 and 1, inside [0, 1], and equal to Wilson's interval
    when every cluster holds one row. Simulated coverage 0.966 for the rarest class with 40
    clusters of very unequal sizes, where Wilson ignoring the clusters covered 0.53.

    Returns ``(R, low, high, clusters, kish)`` per column; the bounds are NaN where fewer than two
    clusters hold the column's rows.
    """
    return cluster_ratio_from(cluster_ratio_summary(y, n), alpha=alpha)


@dataclass(frozen=True)
class ClusterRatioSummary:
    """What :func:`cluster_ratio_interval` needs of the clusters, per column: the ratio, the
    denominator's total, the number of clusters holding it, Kish's effective number of them and
    the CR2 variance (the intervals at any level follow from these, without the (C, K) arrays)."""

    r: np.ndarray
    total: np.ndarray
    clusters: np.ndarray
    kish: np.ndarray
    var: np.ndarray

    @staticmethod
    def concatenate(parts) -> ClusterRatioSummary:
        """The summaries of consecutive chunks of columns, as one."""
        return ClusterRatioSummary(
            *(
                np.concatenate([getattr(p, f.name) for p in parts])
                for f in fields(ClusterRatioSummary)
            )
        )


def cluster_ratio_summary(y, n) -> ClusterRatioSummary:
    """The per-column sums of :func:`cluster_ratio_interval` (arrays (C, K); a chunk of at least
    two columns sums in the same order as the whole array)."""
    y = np.asarray(y, dtype=np.float64)
    n = np.asarray(n, dtype=np.float64)
    total = n.sum(axis=0)
    clusters = (n > 0).sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        r = y.sum(axis=0) / total
        kish = total**2 / (n**2).sum(axis=0)
        h = np.minimum(n / total, 0.999)
        var = ((y - r * n) ** 2 / (1 - h)).sum(axis=0) / total**2
    return ClusterRatioSummary(r, total, clusters, kish, var)


def cluster_ratio_from(s: ClusterRatioSummary, *, alpha, interval=None):
    """:func:`cluster_ratio_interval` from its summary at level ``1 - alpha``, with
    ``interval(k, n, alpha=...)`` at the effective counts (default Wilson's)."""
    interval = wilson_interval if interval is None else interval
    r, total, clusters, kish, var = s.r, s.total, s.clusters, s.kish, s.var
    with np.errstate(invalid="ignore", divide="ignore"):
        df = np.maximum(kish - 1, 1.0)
        z = special.ndtri(1 - alpha / 2)
        q = special.stdtrit(df, 1 - alpha / 2)
        inner = (r > 0) & (r < 1) & (var > 0)
        n_star = np.where(inner, np.minimum(r * (1 - r) / var, total), clusters) * (z / q) ** 2
    lo, hi = interval(r * n_star, n_star, alpha=alpha)
    ok = clusters >= 2
    return r, np.where(ok, lo, np.nan), np.where(ok, hi, np.nan), clusters, kish


# ------------------------------------------------------------------------------------------------
# paired tests (for the comparison of two models on the same samples)


def mcnemar_test(b, c, *, method: str = "exact") -> float:
    """Two-sided p-value of McNemar's test from the discordant counts of two classifiers on the
    same samples: ``b`` samples only the first got right, ``c`` only the second.

    ``method``: ``"exact"`` (the binomial test of ``b`` among ``b + c`` at 1/2, as R's
    ``binom.test``), ``"mid-p"`` (the exact p less one point probability: not conservative for
    small discordant counts), or ``"chisq"`` (R's ``mcnemar.test`` with its continuity
    correction, ``(|b - c| - 1)^2 / (b + c)`` on 1 degree of freedom, uncorrected when b = c).
    With no discordant pair the two classifiers cannot be told apart: p = 1.

    >>> round(mcnemar_test(7, 2), 7)
    0.1796875
    """
    b, c = int(b), int(c)
    n = b + c
    if b < 0 or c < 0:
        raise ValueError(f"discordant counts must be non-negative, got {b} and {c}")
    if n == 0:
        return 1.0
    k = min(b, c)
    if method == "exact":
        return float(min(1.0, 2.0 * special.bdtr(k, n, 0.5)))
    if method == "mid-p":
        point = special.bdtr(k, n, 0.5) - (special.bdtr(k - 1, n, 0.5) if k > 0 else 0.0)
        return float(min(1.0, 2.0 * special.bdtr(k, n, 0.5) - point))
    if method == "chisq":
        yates = 1.0 if b != c else 0.0  # as R: no correction when the table is symmetric
        return float(special.chdtrc(1, (abs(b - c) - yates) ** 2 / n))
    raise ValueError(f"unknown method {method!r}; use 'exact', 'mid-p' or 'chisq'")


def paired_difference_interval(a, b, c, d, z) -> tuple[float, float, float]:
    """Newcombe's hybrid score interval for the difference of two proportions measured on the same
    units (his "method 10"): the success rates of two classifiers on the same samples.

    Parameters
    ----------
    a, b, c, d : int or array
        The paired 2 x 2 table: ``a`` units succeed under both, ``b`` under the first only, ``c``
        under the second only, ``d`` under neither (for two classifiers: right by both, by the first
        only, by the second only, by neither). Arrays of one shape give intervals elementwise.
    z : float or array
        The two-sided normal quantile ``Phi^-1(1 - alpha/2)``: 1.959963984540054 for 95%.

    Returns
    -------
    theta, low, high : float or array
        The difference ``theta = p1 - p2 = (b - c) / n`` (the first less the second) and its limits,
        inside [-1, 1]; NaN where ``n = a + b + c + d`` is 0.

    Notes
    -----
    With ``p1 = (a + b)/n``, ``p2 = (a + c)/n`` and their Wilson intervals (l1, u1), (l2, u2) at z::

        low  = theta - sqrt((p1 - l1)^2 - 2 phi (p1 - l1)(u2 - p2) + (u2 - p2)^2)
        high = theta + sqrt((u1 - p1)^2 - 2 phi (u1 - p1)(p2 - l2) + (p2 - l2)^2)
        phi  = C / sqrt((a + b)(c + d)(a + c)(b + d))    (0 when a margin is 0)
        C    = ad - bc - n/2   if ad - bc > n/2
             = 0               if 0 <= ad - bc <= n/2
             = ad - bc         if ad - bc < 0

    These are :func:`mover_difference`'s limits with the covariance of the two proportions put
    back: phi is the correlation of the two success indicators, which narrows the interval when
    the classifiers tend to be right on the same samples. A positive correlation is shrunk by n/2
    toward 0 (Newcombe's continuity correction), as in his paper's method 10 and in the
    implementations of Fagerland, Lydersen & Laake (2017, R ``contingencytables``) and Laud
    (R ``ratesci``, ``moverpairci(type = "wilson", corc = TRUE)``), with which these limits agree
    to 1e-15 (tests/reference/newcombe_paired.R). With no discordant pair (b = c = 0) theta is 0
    and the interval still has a width: the difference that n units could fail to show.

    References
    ----------
    Newcombe, R. G. (1998). Improved confidence intervals for the difference between binomial
    proportions based on paired data. Statistics in Medicine 17, 2635-2650.

    Examples
    --------
    >>> theta, lo, hi = paired_difference_interval(20, 12, 2, 16, 1.959963984540054)
    >>> round(float(theta), 4), round(float(lo), 4), round(float(hi), 4)  # Newcombe: 0.0562, 0.3292
    (0.2, 0.0562, 0.3292)
    """
    a, b, c, d = (np.asarray(v, dtype=np.float64) for v in (a, b, c, d))
    for name, v in zip("abcd", (a, b, c, d)):
        if not np.all((v >= 0) & np.isfinite(v)):
            raise ValueError(f"`{name}` must hold non-negative counts, got {v.tolist()!r}")
    z = np.asarray(z, dtype=np.float64)
    n = a + b + c + d
    l1, u1 = _wilson_at_z(a + b, n, z)
    l2, u2 = _wilson_at_z(a + c, n, z)
    with np.errstate(invalid="ignore", divide="ignore"):
        p1, p2 = (a + b) / n, (a + c) / n
        theta = (b - c) / n
        cross = a * d - b * c
        shrunk = np.where(cross > n / 2, cross - n / 2, np.minimum(cross, 0.0))
        margins = (a + b) * (c + d) * (a + c) * (b + d)
        phi = np.where(margins > 0, shrunk / np.sqrt(margins), 0.0)
        x1, y1, x2, y2 = p1 - l1, u1 - p1, p2 - l2, u2 - p2
        # |phi| <= 1 keeps both radicands >= 0 up to rounding
        low = theta - np.sqrt(np.maximum(x1 * x1 - 2 * phi * x1 * y2 + y2 * y2, 0.0))
        high = theta + np.sqrt(np.maximum(y1 * y1 - 2 * phi * y1 * x2 + x2 * x2, 0.0))
    return theta[()], np.clip(low, -1.0, 1.0)[()], np.clip(high, -1.0, 1.0)[()]


def stuart_maxwell_test(table) -> tuple[float, float, int]:
    """Stuart-Maxwell test of marginal homogeneity of a K x K table of paired classifications: do
    two classifiers predict the classes at the same rates on the same samples?

    Parameters
    ----------
    table : array (K, K)
        Counts: ``table[i, j]`` samples the first classifier put in class i and the second in
        class j.

    Returns
    -------
    statistic, p_value, df : float, float, int
        The chi-square statistic, its p-value on ``df`` degrees of freedom, and ``df`` (K - 1 when
        every class has a discordant pair, fewer otherwise; see Notes).

    Notes
    -----
    With ``d = `` row margins less column margins and ``S`` the covariance matrix
    ``S_ii = n_i. + n_.i - 2 n_ii``, ``S_ij = -(n_ij + n_ji)``, both over the first K - 1 classes,
    the statistic is ``d' S^-1 d`` on K - 1 degrees of freedom (the last class is redundant: the
    margins' differences sum to 0). For K = 2 it is McNemar's uncorrected ``(b - c)^2 / (b + c)``.

    A class in no discordant pair (its row and column are 0 off the diagonal) has a zero row and
    column in S, which is then singular; such classes are dropped first, one degree of freedom
    each. With fewer than two classes left there is no discordant pair at all and the two margins
    are equal: ``(0.0, 1.0, 0)``. If S is still singular (the discordant pairs fall into separate
    groups of classes, none shared between groups), the statistic uses S's Moore-Penrose
    pseudo-inverse and df is S's rank: it is then the sum of the groups' own statistics on the sum
    of their degrees of freedom.

    Agrees with statsmodels' ``SquareTable(table, shift_zeros=False).homogeneity()`` where S is
    invertible (tests/reference/stuart_maxwell.py).

    References
    ----------
    Stuart, A. (1955). A test for homogeneity of the marginal distributions in a two-way
    classification. Biometrika 42, 412-416.
    Maxwell, A. E. (1970). Comparing the classification of subjects by two independent judges.
    British Journal of Psychiatry 116, 651-655.

    Examples
    --------
    >>> stat, p, df = stuart_maxwell_test([[20, 15, 3], [4, 30, 12], [2, 3, 25]])
    >>> round(stat, 6), round(p, 6), df
    (8.967033, 0.011294, 2)
    """
    t = np.asarray(table, dtype=np.float64)
    if t.ndim != 2 or t.shape[0] != t.shape[1]:
        raise ValueError(f"`table` must be a square K x K table of counts, got shape {t.shape}")
    if not np.all((t >= 0) & np.isfinite(t)):
        raise ValueError(f"`table` must hold non-negative counts, got {t.tolist()!r}")
    pairs = t + t.T  # n_ij + n_ji: the discordant pairs between classes i and j
    np.fill_diagonal(pairs, 0.0)
    keep = pairs.sum(axis=1) > 0
    if keep.sum() < 2:
        return 0.0, 1.0, 0
    pairs = pairs[np.ix_(keep, keep)]
    cov = np.diag(pairs.sum(axis=1)) - pairs
    diff = (t.sum(axis=1) - t.sum(axis=0))[keep]
    s, dd = cov[:-1, :-1], diff[:-1]
    df = int(np.linalg.matrix_rank(s))
    if df == s.shape[0]:
        statistic = float(dd @ np.linalg.solve(s, dd))
    else:
        statistic = float(dd @ np.linalg.pinv(s, hermitian=True) @ dd)
    statistic = max(statistic, 0.0)
    return statistic, float(special.chdtrc(df, statistic)), df
