"""How a per-class metric moves with prevalence: the trend.

The slope of the per-class metric on log10 prevalence (per tenfold increase of prevalence,
positive when the metric rises with prevalence), by weighted least squares with support weights,
and Spearman's rank correlation of the metric with support, both with intervals from the joint
count replicates.
"""

from __future__ import annotations

import numpy as np

from ..metrics import STRATA_METRICS
from ..results import TrendResult
from .context import Context, log_prevalence
from .family import Claim

__all__ = ["analyse_trend"]


def analyse_trend(ctx: Context) -> tuple[dict, list[Claim]]:
    """``{metric: TrendResult}`` and the trend claims of the findings metrics."""
    trend: dict[str, TrendResult] = {}
    claims: list[Claim] = []
    method = ctx.method_ci + "; WLS weights: support" if ctx.method_ci else None
    for name in STRATA_METRICS:
        key = f"per_class.{name}"

        def slope(s, key=key):
            x, sup = log_prevalence(s)
            return _wls_slope(x, s[key], sup)

        def rho(s, key=key):
            sup = s.tables.support.astype(np.float64)
            return _spearman(np.where(sup > 0, sup, np.nan), s[key])

        e_slope, theta_slope = ctx.estimate(slope, method=method)
        # percentile: a rank statistic's jackknife over up to K^2 leave-one-out tables costs
        # O(J K^2) and adds little
        e_rho, _ = ctx.estimate(rho, (-1.0, 1.0), percentile=True)
        trend[name] = TrendResult(e_slope, e_rho)
        if name in ctx.findings_metrics:
            claim = Claim(("trend", name), theta_slope, e_slope.se, eligible=True)
            if np.any(ctx.insufficient) and ctx.has_intervals:

                def slope_r(s, key=key, ok=ctx.eligible):
                    x, sup = log_prevalence(s)
                    return _wls_slope(x, np.where(ok, s[key], np.nan), sup)

                e_r, th_r = ctx.estimate(slope_r)
                claim.robust = (th_r, e_r.se)
            claims.append(claim)
    return trend, claims


def _wls_slope(x, y, w):
    """Weighted least-squares slope of y on x over the last axis; NaN entries of y left out."""
    ok = ~np.isnan(y) & ~np.isnan(x) & (w > 0)
    w = np.where(ok, w, 0.0)
    x0 = np.where(ok, x, 0.0)
    y0 = np.where(ok, y, 0.0)
    sw = w.sum(axis=-1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        xm = (w * x0).sum(axis=-1, keepdims=True) / sw
        ym = (w * y0).sum(axis=-1, keepdims=True) / sw
        sxy = (w * (x0 - xm) * (y0 - ym)).sum(axis=-1)
        sxx = (w * (x0 - xm) ** 2).sum(axis=-1)
        slope = sxy / sxx
    # x without spread (equal supports): sxx is rounding noise, the slope undefined
    scale = (w * x0**2).sum(axis=-1)
    return np.where(
        (ok.sum(axis=-1) >= 3) & (sxx > 1e-12 * np.maximum(scale, 1e-300)), slope, np.nan
    )


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
