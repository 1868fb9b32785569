"""How a per-class metric moves with prevalence: the trend.

The estimand is the classes': the slope of the least-squares line through the classes' metric
against log10 prevalence, each class one point (not weighted by support, so the common classes do
not drown the rare ones), with the classes seen as drawn from a population of classes, so that
class-to-class variation counts as uncertainty. It is estimated by ordinary least squares over the
classes with at least ``min_support`` samples (a class of 3 samples has a 0/1 recall at the
extreme of x: it would dominate the fit and its variance), with the heteroscedasticity-robust
HC3 variance and a t interval on K' - 2 degrees of freedom (simulated coverage 0.92-0.98 over 240
scenarios, against 0.01-0.96 for the support-weighted slope with a count bootstrap, which only
counts within-class noise; docs/design.md, "Trend").

The slope is reported per tenfold increase of prevalence only when the classes span at least a
decade (otherwise it would be an extrapolation: Letter's 26 classes span 0.04 decades), and a trend
is claimed only then and with at least 4 classes. The change predicted across the observed span
(slope x span) is always reported. Spearman's rank correlation is descriptive, without an
interval: no construction covers a population value when small classes attenuate it.
"""

from __future__ import annotations

import math

import numpy as np
from scipy import special

from ..metrics import STRATA_METRICS
from ..results import Estimate, TrendResult
from .context import Context
from .family import Claim

__all__ = ["analyse_trend", "ols_hc3", "MIN_SPAN_DECADES", "MIN_CLASSES"]

#: A trend is reported per decade and claimed only when the classes span this many decades.
MIN_SPAN_DECADES = 1.0
#: ... and with at least this many classes of at least min_support samples.
MIN_CLASSES = 4


def ols_hc3(x, y) -> tuple[float, float, int]:
    """Ordinary least-squares slope of ``y`` on ``x`` with its HC3 standard error and residual
    degrees of freedom ``n - 2``.

    Notes
    -----
    With ``c_k = (x_k - mean x) / Sxx``, leverages ``h_k = 1/n + (x_k - mean x)^2 / Sxx`` and
    residuals ``e_k``: ``Var(b) = sum c_k^2 e_k^2 / (1 - h_k)^2`` (MacKinnon & White 1985).

    Examples
    --------
    >>> b, se, df = ols_hc3([0.0, 1.0, 2.0, 3.0], [0.1, 0.3, 0.5, 0.7])
    >>> round(b, 12), round(se, 12), df
    (0.2, 0.0, 2)
    """
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    n = x.size
    dx = x - x.mean()
    sxx = float(dx @ dx)
    if n < 3 or sxx <= 0:
        return math.nan, math.nan, max(n - 2, 0)
    b = float(dx @ (y - y.mean()) / sxx)
    e = y - y.mean() - b * dx
    h = 1.0 / n + dx**2 / sxx
    if np.any(h >= 1.0 - 1e-12):
        # a class alone at its prevalence fixes the line through it: no HC3 variance
        return b, math.nan, n - 2
    c = dx / sxx
    var = float(np.sum(c**2 * e**2 / (1.0 - h) ** 2))
    return b, math.sqrt(var), n - 2


def analyse_trend(ctx: Context) -> tuple[dict, list[Claim]]:
    """``{metric: TrendResult}`` and the trend claims of the findings metrics."""
    trend: dict[str, TrendResult] = {}
    claims: list[Claim] = []
    n = ctx.support.sum()
    prevalence = np.where(ctx.support > 0, ctx.support / max(n, 1), np.nan)
    with np.errstate(divide="ignore", invalid="ignore"):
        logp = np.log10(prevalence)
    for name in STRATA_METRICS:
        values = ctx.point[f"per_class.{name}"]
        use = ctx.eligible & ~np.isnan(values)
        x, y = logp[use], values[use]
        k = int(use.sum())
        span = float(x.max() - x.min()) if k else 0.0
        slope, se, df = ols_hc3(x, y) if k >= 3 else (math.nan, math.nan, 0)
        wide = span >= MIN_SPAN_DECADES
        enough = k >= MIN_CLASSES
        q = special.stdtrit(max(df, 1), 1 - ctx.alpha / 2) if df >= 1 else math.nan
        what = (
            f"OLS over {k} classes with >= {ctx.config.min_support} samples, each one point; "
            f"HC3 variance, t(df={df})"
        )
        if not enough or not np.isfinite(slope):
            why = (
                f"only {k} classes have at least {ctx.config.min_support} samples and a "
                f"defined {name}: a trend over classes needs {MIN_CLASSES}"
            )
            e_slope = Estimate(
                slope,
                method=what,
                note=why,
                status="no_interval" if np.isfinite(slope) else "undefined",
            )
            e_change = Estimate(math.nan, status="undefined", note=why)
        else:
            lo, hi = slope - q * se, slope + q * se
            e_change = Estimate(
                slope * span,
                lo * span,
                hi * span,
                se * span,
                what + f"; slope x span of {span:.2f} decades",
            )
            if wide:
                e_slope = Estimate(slope, lo, hi, se, what)
            else:
                e_slope = Estimate(
                    slope,
                    method=what,
                    status="no_interval",
                    note=(
                        f"the classes span only {span:.2f} decades of prevalence: a slope per "
                        "tenfold increase would extrapolate beyond the data; see the change "
                        "across the observed span"
                    ),
                )
        rho = float(_spearman(x, y)) if k >= 3 else math.nan
        e_rho = Estimate(
            rho,
            method=f"descriptive: rank correlation over {k} classes",
            status="no_interval" if np.isfinite(rho) else "undefined",
            note="descriptive, no interval: the within-class noise of small classes "
            "pulls it toward zero, so no interval covers a population value",
        )
        trend[name] = TrendResult(
            e_slope,
            e_rho,
            weights="none: each class one point",
            change_across_span=e_change,
            n_classes=k,
            span_decades=span,
            prevalence_range=(float(10 ** x.min()), float(10 ** x.max())) if k else None,
        )
        if name in ctx.findings_metrics and ctx.has_intervals:
            claims.append(
                Claim(
                    ("trend", name),
                    slope,
                    se,
                    eligible=wide and enough,
                    df=float(df) if df else None,
                    # material when the change from the rarest to the most common class is
                    effect=e_change.estimate,
                )
            )
    return trend, claims


def _avg_ranks(a, valid):
    """Average ranks (ties share the mean rank) along the last axis among ``valid`` entries,
    vectorised over the leading axes: one sort per row, O(K log K).

    The rank of an entry is ``#{less} + (#{equal} + 1) / 2`` (counting itself among the equal
    ones): with ``start`` and ``end`` the first and last sorted positions of its group of ties,
    that is ``(start + end) / 2 + 1``, exactly (integers and halves are exact in float64).
    """
    x = np.where(valid, a, np.nan)
    k = x.shape[-1]
    if k == 0:
        return x
    order = np.argsort(x, axis=-1, kind="stable")  # NaN (invalid) sort last
    xs = np.take_along_axis(x, order, axis=-1)
    pos = np.broadcast_to(np.arange(k), xs.shape)
    new_group = np.ones(xs.shape, dtype=bool)
    new_group[..., 1:] = xs[..., 1:] != xs[..., :-1]  # NaN != NaN: invalid entries stand alone
    start = np.maximum.accumulate(np.where(new_group, pos, 0), axis=-1)
    last = np.ones(xs.shape, dtype=bool)
    last[..., :-1] = new_group[..., 1:]
    end = np.minimum.accumulate(np.where(last, pos, k - 1)[..., ::-1], axis=-1)[..., ::-1]
    ranks = np.empty(xs.shape)
    np.put_along_axis(ranks, order, (start + end) / 2.0 + 1.0, axis=-1)
    return np.where(valid, ranks, np.nan)


def _spearman(x, y, *, chunk_cells: int = 4_000_000):
    """Spearman's rank correlation over the last axis, over entries where both are defined;
    vectorised over leading axes (NaN where fewer than 3 entries or no spread)."""
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    x, y = np.broadcast_arrays(x, y)
    lead = x.shape[:-1]
    k = x.shape[-1]
    fx = x.reshape(-1, k)
    fy = y.reshape(-1, k)
    out = np.full(fx.shape[0], np.nan)
    step = max(1, chunk_cells // max(k * k, 1))
    for s in range(0, fx.shape[0], step):
        xs, ys = fx[s : s + step], fy[s : s + step]
        valid = ~np.isnan(xs) & ~np.isnan(ys)
        rx = _avg_ranks(xs, valid)
        ry = _avg_ranks(ys, valid)
        cnt = valid.sum(axis=-1)
        with np.errstate(invalid="ignore", divide="ignore"):
            mx = np.nansum(rx, axis=-1) / cnt
            my = np.nansum(ry, axis=-1) / cnt
            dx = np.where(valid, rx - mx[:, None], 0.0)
            dy = np.where(valid, ry - my[:, None], 0.0)
            sxy = (dx * dy).sum(axis=-1)
            sxx = (dx * dx).sum(axis=-1)
            syy = (dy * dy).sum(axis=-1)
            r = sxy / np.sqrt(sxx * syy)
        out[s : s + step] = np.where((cnt >= 3) & (sxx > 0) & (syy > 0), r, np.nan)
    return out.reshape(lead)
