"""The micro-macro gap and its decomposition into per-class contributions.

For a metric m with per-class values m_k over the K' classes where it is defined, and support
weights w_k = n_k / sum n (over those classes)::

    macro - weighted = sum_k (1/K' - w_k) m_k

exactly, for every metric (this is the "stated definition" of the contributions). For recall the
weighted average *is* the micro average, so the contributions sum exactly to macro - micro, which
equals -K' Cov_k(w_k, r_k) (population covariance over classes): the gap is negative exactly when
recall rises with prevalence. For the other metrics macro - micro is reported with its interval
too, but its decomposition is the one above.
"""

from __future__ import annotations

import math

import numpy as np

from ..intervals import interval_from_replicates
from ..metrics import STRATA_METRICS
from ..results import Contribution, Estimate, GapResult
from .context import Context, estimate_from_interval, macro_over, micro_over
from .family import Claim

__all__ = ["analyse_gap", "contributions"]


def _gap_weights(values, support):
    """w_k over classes where the metric is defined (support-weighted), per replicate."""
    defined = ~np.isnan(values)
    s = np.where(defined, support, 0.0).astype(np.float64)
    tot = s.sum(axis=-1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        w = s / tot
    kk = defined.sum(axis=-1, keepdims=True)
    return defined, w, kk


def contributions(values, support) -> np.ndarray:
    """Per-class contributions ``(1/K' - w_k) m_k`` to macro - weighted (0 where undefined)."""
    values = np.asarray(values, dtype=np.float64)
    defined, w, kk = _gap_weights(values, support)
    with np.errstate(invalid="ignore", divide="ignore"):
        c = (1.0 / kk - w) * np.where(defined, values, 0.0)
    return np.where(defined, c, 0.0)


def analyse_gap(ctx: Context) -> tuple[dict, list[Claim]]:
    """``{metric: GapResult}`` for the label metrics (and ROC AUC with scores), and the gap
    claims of the findings metrics."""
    gap: dict[str, GapResult] = {}
    claims: list[Claim] = []
    support = ctx.support
    a = ctx.strata
    masks = a.masks
    for name in STRATA_METRICS:
        values = ctx.point[f"per_class.{name}"]
        contrib = contributions(values, support)
        by_stratum = {d.name: float(contrib[masks[g]].sum()) for g, d in enumerate(a.definitions)}
        absent = support == 0
        if np.any(absent & ~np.isnan(values)):
            # e.g. the specificity of a class with no samples is defined and counts in the macro
            by_stratum["(no samples)"] = float(contrib[absent].sum())
        e_mm, theta_mm = ctx.estimate(
            lambda s, n=name: s[f"macro.{n}"] - s[f"micro.{n}"], (-1.0, 1.0)
        )
        e_mw, _ = ctx.estimate(lambda s, n=name: s[f"macro.{n}"] - s[f"weighted.{n}"], (-1.0, 1.0))
        defined = ~np.isnan(values)
        total = support[defined].sum()
        covariance = n_classes = None
        if name == "recall" and defined.any():
            w = support[defined] / total
            r = values[defined]
            covariance = float(np.mean((w - w.mean()) * (r - r.mean())))
            n_classes = int(defined.sum())
        gap[name] = GapResult(
            macro_minus_micro=e_mm,
            macro_minus_weighted=e_mw,
            decomposition="macro - micro (exact: weighted recall = micro recall)"
            if name == "recall"
            else "macro - weighted (support-weighted)",
            contributions=tuple(
                Contribution(
                    ctx.classes[j],
                    a.name_of(j),
                    support[j] / total if defined[j] and total > 0 else None,
                    float(contrib[j]) if defined[j] else None,
                )
                for j in range(ctx.k)
            ),
            by_stratum=by_stratum,
            sum_of_contributions=float(contrib.sum()),
            covariance=covariance,
            n_classes=n_classes,
        )
        if name in ctx.findings_metrics:
            claim = Claim(("gap", name), theta_mm, e_mm.se, eligible=True, df=ctx.claim_df)
            # classes below min_support include those with no true sample that are predicted
            # (F1 and precision 0 there): a claim must hold without them too
            if np.any(~ctx.eligible) and ctx.has_intervals:
                ok = ctx.eligible
                e_r, th_r = ctx.estimate(
                    lambda s, n=name, ok=ok: (
                        macro_over(s, f"per_class.{n}", ok) - micro_over(s, n, ok)
                    ),
                    (-1.0, 1.0),
                )
                claim.robust = (th_r, e_r.se)
            claims.append(claim)
    if ctx.has_scores:
        gap["roc_auc"], auc_claims = _auc_gap(ctx)
        claims += auc_claims
    return gap, claims


def _auc_gap(ctx: Context) -> tuple[GapResult, list[Claim]]:
    """macro - micro ROC AUC from the joint score replicates, when the sample bootstrap ran."""
    theta = float(ctx.point["macro.roc_auc"] - ctx.point["micro.roc_auc"])
    reps = ctx.engine.score_replicates if ctx.engine is not None else None
    if reps is None or "_macro.roc_auc" not in reps:
        e = Estimate(
            theta,
            status="ok" if math.isfinite(theta) else "undefined",
            note="no joint interval: the sample bootstrap of score metrics was too "
            "large; compare the marginal intervals of macro and micro ROC AUC",
        )
        return GapResult(e), []
    d = reps["_macro.roc_auc"] - reps["micro.roc_auc"]
    res = interval_from_replicates(
        theta, d, alpha=ctx.alpha, method="percentile", value_range=(-1.0, 1.0)
    )
    e = estimate_from_interval(theta, res, f"percentile(bootstrap by sample, B={d.size})")
    claims = []
    if "roc_auc" in ctx.findings_metrics:
        claim = Claim(("gap", "roc_auc"), theta, e.se, eligible=True)
        if np.any(ctx.insufficient):
            # the joint replicates hold no macro - micro AUC over the eligible classes alone, so
            # the claim cannot be shown to hold without the classes below min_support: if it is
            # significant, it is said to rest on them (never claimed)
            claim.robust = (math.nan, math.nan)
        claims.append(claim)
    return GapResult(e), claims
