"""Where rare classes diverge: prevalence strata, the micro-macro gap, the trend, divergent classes.

Everything here is computed from the joint replicates of the interval engine, so a difference
(stratum vs the rest, macro - micro, a class minus the micro value) gets an interval from the same
replicates as its two sides, never by combining two marginal intervals.

The gap decomposition
---------------------
For a metric m with per-class values m_k over the K' classes where it is defined, and support
weights w_k = n_k / sum n (over those classes)::

    macro - weighted = sum_k (1/K' - w_k) m_k

exactly, for every metric (this is the "stated definition" of the contributions). For recall the
weighted average *is* the micro average, so the contributions sum exactly to macro - micro, which
equals -K' Cov_k(w_k, r_k) (population covariance over classes): the gap is negative exactly when
recall rises with prevalence. For the other metrics macro - micro is reported with its interval
too, but its decomposition is the one above.

Multiplicity
------------
All divergence claims of an audit (the gaps, each stratum against the rest, rare against common,
the trends and every eligible class against the micro value, for each findings metric) form one
family, adjusted by Holm's step-down method (or Bonferroni), so the chance of any false claim of
divergence is at most 1 - confidence_level. Their p-values and adjusted intervals are normal-theory
with the bootstrap (or DeLong) standard error, which resolves the small tail probabilities that
Holm's first steps need (a percentile p-value cannot go below 1/B).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import special

from . import metrics as M
from .counts import Tables

__all__ = ["StrataSpec", "assign_strata", "analyse", "auc_strata_weights", "contributions",
           "STRATA_METRICS"]

#: Label metrics analysed by stratum, gap and trend.
STRATA_METRICS = ("recall", "precision", "f1", "specificity", "jaccard")

_DEFAULT_NAMES_3 = ("rare", "uncommon", "common")


@dataclass(frozen=True)
class StrataSpec:
    """How classes are grouped by prevalence.

    Parameters
    ----------
    method : {"prevalence", "log-quantiles", "support"}
        Cut points on prevalence (default 1% and 10%), quantiles of log10 prevalence (``n_groups``
        groups of about equal numbers of classes), or cut points on support counts.
    cuts : tuple of float, optional
        Cut points for "prevalence" (fractions) or "support" (counts); ascending.
    n_groups : int
        Number of groups for "log-quantiles".
    names : tuple of str, optional
        Names of the groups from rarest to most common; default ``rare, uncommon, common`` for
        three groups, else ``stratum 1 (rarest) ... stratum G (most common)``.
    """

    method: str = "prevalence"
    cuts: tuple | None = None
    n_groups: int = 3
    names: tuple | None = None

    def resolved_cuts(self):
        if self.cuts is not None:
            return tuple(float(c) for c in self.cuts)
        return (0.01, 0.10) if self.method == "prevalence" else None


def _names(n_groups, names):
    if names is not None:
        return tuple(names)
    if n_groups == 3:
        return _DEFAULT_NAMES_3
    return tuple(
        f"stratum {i + 1}" + (" (rarest)" if i == 0 else " (most common)" if i == n_groups - 1 else "")
        for i in range(n_groups)
    )


def _fmt_cut(value, unit):
    if unit == "prevalence":
        pct = value * 100
        return f"{pct:g}%"
    return f"{value:g}"


def assign_strata(support, spec: StrataSpec | None = None):
    """Group classes by prevalence.

    Returns ``(index, definitions, omitted)``: ``index[k]`` is the stratum of class k (-1 for a
    class with no true samples, which is listed apart); ``definitions`` a list of dicts
    ``{name, unit, low, high, description}`` for the strata that have classes, rarest first;
    ``omitted`` the names of empty strata.
    """
    spec = spec or StrataSpec()
    support = np.asarray(support, dtype=np.float64)
    n = support.sum()
    present = support > 0
    prevalence = support / n
    index = np.full(support.size, -1, dtype=np.int64)
    if spec.method == "log-quantiles":
        logp = np.log10(prevalence[present])
        edges = np.quantile(logp, np.linspace(0, 1, spec.n_groups + 1)[1:-1]) if logp.size else []
        cuts = tuple(float(10**e) for e in edges)
        unit, values = "prevalence", prevalence
    elif spec.method == "support":
        cuts = spec.resolved_cuts()
        if not cuts:
            raise ValueError("support strata need cut points, e.g. cuts=(10, 100)")
        unit, values = "support", support
    else:
        cuts = spec.resolved_cuts()
        unit, values = "prevalence", prevalence
    n_groups = len(cuts) + 1
    names = _names(n_groups, spec.names)
    if len(names) != n_groups:
        raise ValueError(f"{n_groups} strata need {n_groups} names, got {len(names)}")
    # a class belongs to the stratum whose [low, high) holds its value; the top one is closed
    group = np.searchsorted(np.asarray(cuts, dtype=np.float64), values, side="right")
    index[present] = group[present]
    bounds = [0.0, *cuts, 1.0 if unit == "prevalence" else float("inf")]
    definitions, omitted, remap = [], [], {}
    for g in range(n_groups):
        low, high = bounds[g], bounds[g + 1]
        if g == 0:
            desc = f"{unit} < {_fmt_cut(high, unit)}"
        elif g == n_groups - 1:
            desc = f"{unit} >= {_fmt_cut(low, unit)}"
        else:
            desc = f"{_fmt_cut(low, unit)} <= {unit} < {_fmt_cut(high, unit)}"
        if not np.any(index == g):
            omitted.append(names[g])
            continue
        remap[g] = len(definitions)
        definitions.append({"name": names[g], "unit": unit, "low": low,
                            "high": None if math.isinf(high) else high, "description": desc})
    out = np.array([remap.get(g, -1) if g >= 0 else -1 for g in index], dtype=np.int64)
    return out, definitions, omitted


# ------------------------------------------------------------------------------------------------
# derived statistics over subsets of classes (work on the stats dicts of CountBootstrap)


def _macro_over(values, mask):
    v = np.where(mask, values, np.nan)
    return M.macro(v)


def _micro_over(tables: Tables, name, mask):
    num, den = M.ratio_parts(name, tables)
    num = np.where(mask, num, 0).sum(axis=-1)
    den = np.where(mask, den, 0).sum(axis=-1)
    return M._divide(num, den)


def _gap_weights(values, support):
    """w_k over classes where the metric is defined (support-weighted), per replicate."""
    defined = ~np.isnan(values)
    s = np.where(defined, support, 0.0).astype(np.float64)
    tot = s.sum(axis=-1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        w = s / tot
    kk = defined.sum(axis=-1, keepdims=True)
    return defined, w, kk


def contributions(values, support):
    """Per-class contributions ``(1/K' - w_k) m_k`` to macro - weighted (0 where undefined)."""
    values = np.asarray(values, dtype=np.float64)
    defined, w, kk = _gap_weights(values, support)
    with np.errstate(invalid="ignore", divide="ignore"):
        c = (1.0 / kk - w) * np.where(defined, values, 0.0)
    return np.where(defined, c, 0.0)


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
    return np.where((ok.sum(axis=-1) >= 3) & (sxx > 1e-12 * np.maximum(scale, 1e-300)), slope,
                    np.nan)


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
        xs, ys = fx[s:s + step], fy[s:s + step]
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
        out[s:s + step] = np.where((cnt >= 3) & (sxx > 0) & (syy > 0), r, np.nan)
    return out.reshape(lead)


# ------------------------------------------------------------------------------------------------
# the analysis


def _est(theta, res, method, *, extra=None):
    """A JSON-ready EST from an interval dict of interval_from_replicates (scalars)."""
    theta = float(theta)
    if math.isnan(theta):
        out = {"estimate": None, "ci_low": None, "ci_high": None, "se": None, "method": method,
               "status": "undefined"}
    else:
        low, high = float(res["low"]), float(res["high"])
        se = float(res["se"])
        undef = float(res.get("undefined_fraction", 0.0) or 0.0)
        out = {"estimate": theta, "ci_low": _j(low), "ci_high": _j(high), "se": _j(se),
               "method": method, "status": "unstable" if undef > 0.05 else "ok"}
        note = res.get("note")
        if isinstance(note, np.ndarray):
            note = note[()]
        if note:
            out["note"] = str(note)
        if undef > 0:
            out["undefined_fraction"] = undef
    if extra:
        out.update(extra)
    return out


def _point_est(theta, method="point estimate only (n_resamples=0)"):
    theta = float(theta)
    return {"estimate": _j(theta), "ci_low": None, "ci_high": None, "se": None, "method": method,
            "status": "undefined" if math.isnan(theta) else "ok"}


def _j(x):
    x = float(x)
    return x if math.isfinite(x) else None


@dataclass
class _Claim:
    """One member of the family of divergence claims (adjusted together)."""

    key: tuple
    estimate: float
    se: float
    eligible: bool
    p: float = math.nan
    level: float = math.nan
    low: float = math.nan
    high: float = math.nan
    significant: bool = False
    robust: tuple | None = None  # (estimate, se) without the classes below min_support
    rests_on_insufficient: bool = False  # excludes zero, but not without the small classes


def _adjust(claims, alpha, how):
    """Holm (step-down) or Bonferroni over the eligible claims; sets p, level, low, high."""
    # a standard error at rounding level means no variation to test (e.g. macro = micro exactly)
    fam = [c for c in claims if c.eligible and np.isfinite(c.se) and c.se > 1e-12
           and np.isfinite(c.estimate)]
    m = len(fam)
    for c in fam:
        c.p = float(2 * special.ndtr(-abs(c.estimate) / c.se))
    fam.sort(key=lambda c: c.p)
    rejected = 0
    stopped = False
    for i, c in enumerate(fam):
        if how == "bonferroni":
            level = alpha / m
        elif not stopped:
            level = alpha / (m - i)
        else:
            level = alpha / (m - rejected)
        if how == "holm" and not stopped and c.p >= alpha / (m - i):
            stopped = True
            level = alpha / (m - rejected)
        c.level = level
        z = special.ndtri(1 - level / 2)
        c.low, c.high = c.estimate - z * c.se, c.estimate + z * c.se
        c.significant = bool(c.low > 0 or c.high < 0)
        if c.significant and c.robust is not None:
            # the claim must also hold without the classes below min_support, so that no
            # claim rests on them alone
            est_r, se_r = c.robust
            c.significant = bool(np.isfinite(est_r) and np.isfinite(se_r)
                                 and np.sign(est_r) == np.sign(c.estimate)
                                 and abs(est_r) - z * se_r > 0)
            c.rests_on_insufficient = not c.significant
        if c.significant:
            rejected += 1
    return m


def analyse(pred, cm, point, engine, config, spec: StrataSpec | None = None):
    """Strata, gap, trend and divergent classes of an audit. Returns a dict of JSON-ready parts:
    ``strata``, ``strata_definition``, ``comparisons``, ``gap``, ``trend``, ``divergence`` and the
    adjusted family ``claims`` (for the findings)."""
    from .uncertainty import interval_from_replicates, logit_interval

    spec = spec or StrataSpec()
    alpha = 1 - config.confidence_level
    support = cm.sum(axis=1)
    n = int(cm.sum())
    k = cm.shape[0]
    index, definitions, omitted = assign_strata(support, spec)
    insufficient = (support > 0) & (support < config.min_support)
    eligible_class = (support >= max(config.min_support, 1))
    classes = list(pred.classes)
    boot = engine.counts if engine is not None else None
    method_ci = (f"{config.interval}({boot.method} bootstrap, B={boot.n_resamples})"
                 if boot is not None else None)
    have_scores = pred.y_score is not None

    def interval(fn, value_range=None, percentile=False):
        """EST of a derived statistic from the joint count replicates."""
        if percentile:  # no jackknife needed
            theta, reps = np.asarray(fn(boot.point)), np.asarray(fn(boot.replicates))
            res = interval_from_replicates(theta, reps, alpha=alpha, method="percentile",
                                           value_range=value_range)
            return theta, reps, res
        theta, reps, jack = boot.derive(fn)
        res = interval_from_replicates(theta, reps, jack, boot.jackknife_weights, alpha=alpha,
                                       method=config.interval, value_range=value_range)
        return theta, reps, res

    def est_of(fn, value_range=None, method=None, percentile=False):
        if boot is None:
            theta = fn(_point_stats(cm, point))
            return _point_est(theta), None, float(theta)
        theta, reps, res = interval(fn, value_range, percentile)
        if percentile:
            method = f"percentile({boot.method} bootstrap, B={boot.n_resamples})"
        return _est(theta, res, method or method_ci), reps, float(theta)

    def est_vector(fn, value_range=None):
        """``[(EST, estimate), ...]`` of a statistic with a trailing axis of several values."""
        if boot is None:
            theta = np.asarray(fn(_point_stats(cm, point)), dtype=float)
            return [(_point_est(t), float(t)) for t in theta]
        theta, _, res = interval(fn, value_range)
        out = []
        for i, t in enumerate(np.asarray(theta, dtype=float)):
            part = {name: (v[i] if isinstance(v, np.ndarray) and v.ndim else v)
                    for name, v in res.items()}
            out.append((_est(t, part, method_ci), float(t)))
        return out

    # Derived statistics share pieces (a stratum's macro average enters its estimate, its
    # difference to the rest, rare vs common, every class vs common; the trend's x is the same
    # for every metric): compute each piece once per stats dict (point, replicates, jackknife).
    # Keys hold the array itself, so an id cannot be reused while the memo lives.
    memo: dict = {}

    def macro_over(values, mask):
        key_ = ("macro", id(values), mask.tobytes())
        hit = memo.get(key_)
        if hit is None:
            hit = memo[key_] = (values, _macro_over(values, mask))
        return hit[1]

    def log_prevalence(t):
        key_ = ("logp", id(t))
        hit = memo.get(key_)
        if hit is None:
            sup = t.support.astype(np.float64)
            with np.errstate(divide="ignore", invalid="ignore"):
                x = np.log10(np.where(sup > 0, sup / sup.sum(axis=-1, keepdims=True), np.nan))
            hit = memo[key_] = (t, (x, sup))
        return hit[1]

    masks = [index == g for g in range(len(definitions))]
    claims: list[_Claim] = []
    findings_metrics = tuple(config.findings_metrics)

    # ---- strata ----------------------------------------------------------------------------
    strata = []
    for g, d in enumerate(definitions):
        mask = masks[g]
        rest = (index >= 0) & ~mask
        entry = {
            "name": d["name"],
            "bounds": {"unit": d["unit"], "low": d["low"], "high": d["high"],
                       "description": d["description"]},
            "classes": [classes[j] for j in np.flatnonzero(mask)],
            "n_classes": int(mask.sum()),
            "support": int(support[mask].sum()),
            "insufficient_classes": [classes[j] for j in np.flatnonzero(mask & insufficient)],
            "macro": {}, "micro": {}, "vs_rest": {},
        }
        only_insufficient = not np.any(mask & eligible_class)
        for name in STRATA_METRICS:
            key = f"per_class.{name}"
            e, _, _ = est_of(lambda s, m=mask, key=key: macro_over(s[key], m), (0.0, 1.0))
            entry["macro"][name] = e
            e, _, _ = est_of(lambda s, m=mask, name=name: _micro_over(s["_tables"], name, m),
                             (0.0, 1.0))
            entry["micro"][name] = e
            if rest.any():
                e, reps, theta = est_of(
                    lambda s, m=mask, r=rest, key=key: macro_over(s[key], m) - macro_over(s[key], r),
                    (-1.0, 1.0))
                entry["vs_rest"][name] = e
                if name in findings_metrics and len(definitions) > 1:
                    claim = _Claim(("stratum_vs_rest", d["name"], name), theta, _se(e),
                                   eligible=not only_insufficient
                                   and bool(np.any(rest & eligible_class)))
                    if claim.eligible and np.any((mask | rest) & insufficient) and boot is not None:
                        ms, mr = mask & eligible_class, rest & eligible_class
                        e_r, _, th_r = est_of(
                            lambda s, ms=ms, mr=mr, key=key: macro_over(s[key], ms) - macro_over(s[key], mr),
                            (-1.0, 1.0))
                        claim.robust = (th_r, _se(e_r))
                    claims.append(claim)
        if have_scores:
            _stratum_auc(entry, g, mask, rest, engine, point, alpha, claims,
                         findings_metrics, d["name"], only_insufficient, logit_interval)
        strata.append(entry)

    comparisons = []
    names = [d["name"] for d in definitions]
    if "rare" in names and "common" in names:
        a, b = names.index("rare"), names.index("common")
        comp = {"a": "rare", "b": "common", "difference": {}}
        rare_ok = np.any(masks[a] & eligible_class)
        for name in STRATA_METRICS:
            key = f"per_class.{name}"
            e, _, theta = est_of(
                lambda s, ma=masks[a], mb=masks[b], key=key: macro_over(s[key], ma) - macro_over(s[key], mb),
                (-1.0, 1.0))
            comp["difference"][name] = e
            if name in findings_metrics:
                claim = _Claim(("rare_vs_common", name), theta, _se(e), eligible=bool(rare_ok))
                both = masks[a] | masks[b]
                if claim.eligible and np.any(both & insufficient) and boot is not None:
                    ma, mb = masks[a] & eligible_class, masks[b] & eligible_class
                    e_r, _, th_r = est_of(
                        lambda s, ma=ma, mb=mb, key=key: macro_over(s[key], ma) - macro_over(s[key], mb),
                        (-1.0, 1.0))
                    claim.robust = (th_r, _se(e_r))
                claims.append(claim)
        comparisons.append(comp)

    # ---- gap ---------------------------------------------------------------------------------
    gap = {}
    for name in STRATA_METRICS:
        key = f"per_class.{name}"
        values = point[key]
        contrib = contributions(values, support)
        by_stratum = {d["name"]: _j(contrib[masks[g]].sum()) for g, d in enumerate(definitions)}
        absent = support == 0
        if np.any(absent & ~np.isnan(values)):
            # e.g. the specificity of a class with no samples is defined and counts in the macro
            by_stratum["(no samples)"] = _j(contrib[absent].sum())
        e_mm, _, theta_mm = est_of(lambda s, name=name: s[f"macro.{name}"] - s[f"micro.{name}"], (-1.0, 1.0))
        e_mw, _, _ = est_of(lambda s, name=name: s[f"macro.{name}"] - s[f"weighted.{name}"], (-1.0, 1.0))
        defined = ~np.isnan(values)
        entry = {
            "macro_minus_micro": e_mm,
            "macro_minus_weighted": e_mw,
            "decomposition": "macro - micro (exact: weighted recall = micro recall)"
            if name == "recall" else "macro - weighted (support-weighted)",
            "contributions": [
                {"label": classes[j], "stratum": _stratum_name(index[j], definitions),
                 "weight": _j(support[j] / support[defined].sum())
                 if defined[j] and support[defined].sum() > 0 else None,
                 "contribution": _j(contrib[j]) if defined[j] else None}
                for j in range(k)
            ],
            "by_stratum": by_stratum,
            "sum_of_contributions": _j(contrib.sum()),
        }
        if name == "recall" and defined.any():
            w = support[defined] / support[defined].sum()
            r = values[defined]
            entry["covariance"] = float(np.mean((w - w.mean()) * (r - r.mean())))
            entry["n_classes"] = int(defined.sum())
        gap[name] = entry
        if name in findings_metrics:
            claim = _Claim(("gap", name), theta_mm, _se(e_mm), eligible=True)
            if np.any(insufficient) and boot is not None:
                ok = eligible_class
                e_r, _, th_r = est_of(
                    lambda s, name=name, ok=ok: macro_over(s[f"per_class.{name}"], ok)
                    - _micro_over(s["_tables"], name, ok), (-1.0, 1.0))
                claim.robust = (th_r, _se(e_r))
            claims.append(claim)
    if have_scores:
        _auc_gap(gap, engine, point, alpha, claims, findings_metrics)

    # ---- trend -------------------------------------------------------------------------------
    trend = {}
    for name in STRATA_METRICS:
        key = f"per_class.{name}"

        def slope(s, key=key):
            x, sup = log_prevalence(s["_tables"])
            return _wls_slope(x, s[key], sup)

        def rho(s, key=key):
            t = s["_tables"]
            sup = t.support.astype(np.float64)
            x = np.where(sup > 0, sup, np.nan)
            return _spearman(x, s[key])

        e_slope, _, theta_slope = est_of(slope, method=(method_ci + "; WLS weights: support")
                                         if method_ci else None)
        # percentile: a rank statistic's jackknife over up to K^2 leave-one-out tables costs
        # O(J K^2) and adds little
        e_rho, _, _ = est_of(rho, (-1.0, 1.0), percentile=True)
        trend[name] = {"slope_per_decade": e_slope, "spearman": e_rho,
                       "x": "log10 prevalence", "weights": "support"}
        if name in findings_metrics:
            claim = _Claim(("trend", name), theta_slope, _se(e_slope), eligible=True)
            if np.any(insufficient) and boot is not None:
                def slope_r(s, key=key, ok=eligible_class):
                    x, sup = log_prevalence(s["_tables"])
                    return _wls_slope(x, np.where(ok, s[key], np.nan), sup)

                e_r, _, th_r = est_of(slope_r)
                claim.robust = (th_r, _se(e_r))
            claims.append(claim)

    # ---- divergent classes -------------------------------------------------------------------
    divergence = []
    common = names.index("common") if "common" in names else None
    for name in findings_metrics:
        if name not in STRATA_METRICS:
            continue
        key = f"per_class.{name}"
        idx = np.array([j for j in range(k) if support[j] > 0 and not np.isnan(point[key][j])],
                       dtype=np.int64)
        if idx.size == 0:
            continue
        # every class at once: one derivation of a (..., classes) statistic, not one per class
        vs_micro = est_vector(
            lambda s, key=key, name=name, idx=idx: s[key][..., idx] - s[f"micro.{name}"][..., None],
            (-1.0, 1.0))
        vs_common = None
        if common is not None:
            vs_common = est_vector(
                lambda s, key=key, idx=idx, m=masks[common]:
                    s[key][..., idx] - macro_over(s[key], m)[..., None],
                (-1.0, 1.0))
        for i, j in enumerate(idx):
            e, theta = vs_micro[i]
            row = {"label": classes[j], "metric": name, "vs_micro": e,
                   "insufficient": bool(insufficient[j])}
            if vs_common is not None and index[j] != common:
                row["vs_common"] = vs_common[i][0]
            divergence.append(row)
            se_claim = max(_se(e), _null_se(cm, j, name, point[f"micro.{name}"]))
            claims.append(_Claim(("class", classes[j], name), theta, se_claim,
                                 eligible=bool(eligible_class[j])))

    # ---- the family of claims: one multiplicity adjustment -----------------------------------
    m = _adjust(claims, alpha, config.divergence_adjustment) if boot is not None else 0
    family = {"adjustment": config.divergence_adjustment, "size": m,
              "confidence_level": config.confidence_level}
    by_key = {c.key: c for c in claims}
    for row in divergence:
        c = by_key.get(("class", row["label"], row["metric"]))
        row["adjusted"] = _claim_json(c, family)
        row["diverges"] = bool(c is not None and c.significant and c.eligible)
    return {
        "strata": strata,
        "strata_definition": {
            "method": spec.method,
            "cuts": list(spec.resolved_cuts() or []) if spec.method != "log-quantiles" else None,
            "strata": [dict(d) for d in definitions],
            "omitted_empty": omitted,
            "absent_classes": [classes[j] for j in np.flatnonzero(support == 0)],
        },
        "comparisons": comparisons,
        "gap": gap,
        "trend": trend,
        "divergence": divergence,
        "family": family,
        "claims": claims,
    }


def _null_se(cm, j, name, p0) -> float:
    """Standard error of (class j's metric - micro) when every class has the micro value p0:
    the score-test variance, which does not shrink when a small class happens to score near 0
    or 1 (the bootstrap SE does, and then makes false claims of divergence).

    For recall (precision) with n_j true (predicted) samples out of N:
    ``Var = p0 (1 - p0) [(1 - w_j)^2 / n_j + (1 - w_j) / N]`` with w_j = n_j / N, the variance of
    r_j - sum_k w_k r_k when the r_k are independent binomial proportions with mean p0. For F1,
    the same on the Jaccard scale (tp out of U = tp + fp + fn, J0 = p0 / (2 - p0)) mapped by
    dF1/dJ = 2 / (1 + J)^2.
    """
    p0 = float(p0)
    if not (0.0 < p0 < 1.0):
        return 0.0
    tp = float(cm[j, j])
    n_true = float(cm[j].sum())
    n_pred = float(cm[:, j].sum())
    total = float(cm.sum())
    if name in ("recall", "precision"):
        n_j = n_true if name == "recall" else n_pred
        if n_j <= 0:
            return 0.0
        w = n_j / total
        return math.sqrt(p0 * (1 - p0) * ((1 - w) ** 2 / n_j + (1 - w) / total))
    if name in ("f1", "jaccard"):
        u = n_true + n_pred - tp
        if u <= 0:
            return 0.0
        j0 = p0 / (2 - p0) if name == "f1" else p0
        w = u / max(total, 1.0)
        se_j = math.sqrt(j0 * (1 - j0) * ((1 - w) ** 2 / u + (1 - w) / max(total, 1.0)))
        return se_j * 2 / (1 + j0) ** 2 if name == "f1" else se_j
    return 0.0


def _claim_json(c, family):
    if c is None or not np.isfinite(c.p):
        return None
    return {"p_value": c.p, "level": 1 - c.level, "ci_low": c.low, "ci_high": c.high,
            "significant": c.significant, "adjustment": family["adjustment"],
            "method": "normal, bootstrap or DeLong standard error"}


def _se(e):
    se = e.get("se") if isinstance(e, dict) else None
    return float(se) if se is not None else math.nan


def _stratum_name(g, definitions):
    return definitions[g]["name"] if g >= 0 else None


def _point_stats(cm, point):
    from .counts import class_tables

    out = {k: np.asarray(v) for k, v in point.items()}
    out["_tables"] = class_tables(cm)
    return out


def _stratum_auc(entry, g, mask, rest, engine, point, alpha, claims, findings_metrics,
                 name, only_insufficient, logit_interval):
    """Macro ROC AUC of a stratum and its difference to the rest, by DeLong with the covariance
    of the per-class AUCs (a second pass over the scores with the strata's weights)."""
    auc = point["per_class.roc_auc"]
    defined = ~np.isnan(auc)
    ms, mr = mask & defined, rest & defined
    if not ms.any():
        return
    theta = float(np.mean(auc[ms]))
    if engine is None or engine.ranking is None:
        entry["macro"]["roc_auc"] = _point_est(theta)
        return
    var_s, var_d, theta_d = _delong_pair(engine, g, ms, mr, auc)
    lo, hi = logit_interval(theta, var_s, alpha=alpha)
    entry["macro"]["roc_auc"] = {"estimate": theta, "ci_low": _j(lo), "ci_high": _j(hi),
                                 "se": _j(math.sqrt(var_s)), "status": "ok",
                                 "method": "delong-logit (covariance of the per-class AUCs)"}
    if mr.any():
        se = math.sqrt(var_d)
        z = special.ndtri(1 - alpha / 2)
        entry["vs_rest"]["roc_auc"] = {"estimate": theta_d, "ci_low": theta_d - z * se,
                                       "ci_high": theta_d + z * se, "se": se, "status": "ok",
                                       "method": "delong (covariance of the per-class AUCs)"}
        if "roc_auc" in findings_metrics:
            claims.append(_Claim(("stratum_vs_rest", name, "roc_auc"), theta_d, se,
                                 eligible=not only_insufficient))


def auc_strata_weights(index, n_groups, n_pos, n_samples):
    """(K, 2 G) weights for the DeLong pass: for each stratum g, column 2g is its macro AUC and
    column 2g + 1 its difference to the rest (both over classes whose AUC is defined)."""
    n_pos = np.asarray(n_pos)
    defined = (n_pos > 0) & (n_pos < n_samples)
    k = n_pos.size
    w = np.zeros((k, 2 * n_groups))
    for g in range(n_groups):
        ms = (index == g) & defined
        mr = (index >= 0) & (index != g) & defined
        if ms.any():
            w[ms, 2 * g] = 1.0 / ms.sum()
            w[ms, 2 * g + 1] = 1.0 / ms.sum()
        if mr.any():
            w[mr, 2 * g + 1] = -1.0 / mr.sum()
    return w


#: Columns of the DeLong pass before the strata's (macro and weighted AUC).
AUC_COMBO_OFFSET = 2


def _delong_pair(engine, g, ms, mr, auc):
    """Variance of stratum g's macro AUC and of its difference to the rest, from the DeLong pass
    whose combination weights included the strata (see :func:`auc_strata_weights`)."""
    cov = engine.ranking.combo_cov
    c = AUC_COMBO_OFFSET + 2 * g
    theta_d = float(auc[ms].mean() - auc[mr].mean()) if mr.any() else math.nan
    return float(cov[c, c]), float(cov[c + 1, c + 1]), theta_d


def _auc_gap(gap, engine, point, alpha, claims, findings_metrics):
    """macro - micro ROC AUC from the joint score replicates, when the sample bootstrap ran."""
    theta = float(point["macro.roc_auc"] - point["micro.roc_auc"])
    reps = engine.score_replicates if engine is not None else None
    entry = {"decomposition": None}
    if reps is None or "_macro.roc_auc" not in reps:
        entry["macro_minus_micro"] = {
            "estimate": _j(theta), "ci_low": None, "ci_high": None, "se": None, "method": None,
            "status": "ok" if math.isfinite(theta) else "undefined",
            "note": "no joint interval: the sample bootstrap of score metrics was too large; "
                    "compare the marginal intervals of macro and micro ROC AUC"}
    else:
        from .uncertainty import interval_from_replicates

        d = reps["_macro.roc_auc"] - reps["micro.roc_auc"]
        res = interval_from_replicates(theta, d, alpha=alpha, method="percentile",
                                       value_range=(-1.0, 1.0))
        entry["macro_minus_micro"] = _est(theta, res, f"percentile(bootstrap by sample, B={d.size})")
        if "roc_auc" in findings_metrics:
            claims.append(_Claim(("gap", "roc_auc"), theta, _se(entry["macro_minus_micro"]),
                                 eligible=True))
    gap["roc_auc"] = entry
