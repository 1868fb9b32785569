"""Where rare classes diverge, by prevalence stratum.

For each stratum: the macro and micro average of every label metric over its classes, and the
difference of its macro average to the classes of the other strata (``vs_rest``); with scores,
its macro ROC AUC and that difference by DeLong with the covariance of the per-class AUCs. Then
the rarest configured stratum against the most common one (roles, not names). Every interval comes
from the joint replicates, so a difference is never built from two marginal intervals.
"""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
from scipy import special

from ..intervals import logit_interval
from ..metrics import STRATA_METRICS
from ..ranking import DELONG_EDGE_NOTE, delong_unreliable
from ..results import Estimate, StrataComparison, StratumResult
from .context import Context, macro_over, micro_over, point_only
from .family import Claim
from .mover import (
    MOVER_METRICS,
    UNVARIED_UNDER_CLUSTERS,
    flag_unvaried,
    macro_difference,
    macro_difference_pvalues,
)

__all__ = ["analyse_strata", "auc_strata_weights", "AUC_COMBO_OFFSET"]

#: Columns of the DeLong pass before the strata's (macro and weighted AUC).
AUC_COMBO_OFFSET = 2


def analyse_strata(ctx: Context) -> tuple[tuple, tuple, list[Claim]]:
    """The strata's results, the rarest-versus-most-common comparison, and their claims."""
    strata = []
    claims: list[Claim] = []
    pending: list = []  # the MOVER claims whose p-values are computed together at the end
    a = ctx.strata
    masks = a.masks
    ranking = ctx.engine.ranking if ctx.engine is not None else None
    # classes whose DeLong variance understates their AUC's uncertainty (once, for every stratum)
    unreliable = (
        delong_unreliable(ctx.point["per_class.roc_auc"], ranking.n_pos, ranking.delong_var)
        if ctx.has_scores and ranking is not None
        else None
    )
    for g, d in enumerate(a.definitions):
        mask = masks[g]
        rest = (a.index >= 0) & ~mask
        macro, micro, vs_rest = {}, {}, {}
        for name in STRATA_METRICS:
            key = f"per_class.{name}"
            macro[name] = _macro_estimate(ctx, name, key, mask)
            micro[name], _ = ctx.estimate(
                lambda s, m=mask, name=name: micro_over(s, name, m), (0.0, 1.0)
            )
            if not rest.any():
                continue
            vs_rest[name] = _difference_estimate(ctx, name, key, mask, rest)
            if name in ctx.findings_metrics and len(a.definitions) > 1:
                claims.append(
                    _claim(
                        ctx,
                        ("stratum_vs_rest", d.name, name),
                        name,
                        key,
                        mask,
                        rest,
                        vs_rest[name],
                        pending,
                    )
                )
        if ctx.has_scores:
            only_insufficient = not np.any(mask & ctx.eligible)
            claims += _stratum_auc(
                ctx, g, mask, rest, macro, vs_rest, d.name, only_insufficient, unreliable
            )
        classes = [ctx.classes[j] for j in np.flatnonzero(mask)]
        if len(classes) == 1:
            _own_intervals(ctx, int(np.flatnonzero(mask)[0]), macro, micro)
        strata.append(
            StratumResult(
                definition=d,
                classes=tuple(classes),
                support=int(ctx.support[mask].sum()),
                insufficient_classes=tuple(
                    ctx.classes[j] for j in np.flatnonzero(mask & ctx.insufficient)
                ),
                macro=macro,
                micro=micro,
                vs_rest=vs_rest,
            )
        )

    comparisons = []
    if a.rarest is not None and a.most_common is not None:
        ma, mb = masks[a.rarest], masks[a.most_common]
        difference = {}
        for name in STRATA_METRICS:
            key = f"per_class.{name}"
            difference[name] = _difference_estimate(ctx, name, key, ma, mb)
            if name in ctx.findings_metrics:
                claims.append(
                    _claim(ctx, ("extremes", name), name, key, ma, mb, difference[name], pending)
                )
        comparisons.append(
            StrataComparison(
                a.definitions[a.rarest].name, a.definitions[a.most_common].name, difference
            )
        )
    _set_pvalues(pending)
    return tuple(strata), tuple(comparisons), claims


def _set_pvalues(pending: list) -> None:
    """The MOVER claims' p-values, all in one bisection (:func:`macro_difference_pvalues`: the
    same numbers as one claim at a time), set on the claims."""
    p = macro_difference_pvalues([(props, a, b, est) for _, props, a, b, est in pending])
    for (claim, *_), p_i in zip(pending, p):
        claim.p_value = float(p_i)


def _mover(ctx: Context, name: str) -> bool:
    """Whether MOVER intervals apply: with intervals, without clusters, a proportion metric."""
    return ctx.has_intervals and not ctx.clustered and name in MOVER_METRICS


def _unvaried(ctx: Context, name: str, mask) -> bool:
    """Whether a class of ``mask`` is one the bootstrap cannot vary: below min_support, or at 0
    or 1 for this metric (0 of n or n of n: every stratified replicate repeats it, so a stratum
    of classes at 10/10, 13/13 and 50/50 got an interval of width 0.03)."""
    return bool(np.any(mask & (ctx.insufficient | ctx.proportions(name).at_bound)))


def _mover_estimate(ctx: Context, name: str, in_a, in_b) -> Estimate:
    """The displayed 95% interval of a macro average (``in_b`` empty) or a difference of two, by
    MOVER with exact mid-p limits: valid where a class is one the bootstrap cannot vary."""
    props = ctx.proportions(name)
    estimate, at = macro_difference(props, in_a, in_b, "mid-p")
    z = special.ndtri(1 - ctx.alpha / 2)
    lo, hi = (float(v) for v in at(z))
    return Estimate(
        estimate,
        lo,
        hi,
        (hi - lo) / (2 * z),
        "MOVER with exact mid-p limits of each class (classes the bootstrap cannot vary take "
        "part: below min_support, or at 0 or 1)",
    )


def _cluster_unvaried(ctx: Context, name: str, mask) -> bool:
    """With clusters (no MOVER construction there), whether a class of ``mask`` sits at 0 or 1
    for ``name``: the jackknife repeats it in every replicate."""
    if not (ctx.clustered and ctx.has_intervals and name in MOVER_METRICS):
        return False
    return bool(np.any(mask & ctx.proportions(name).at_bound))


def _macro_estimate(ctx: Context, name: str, key: str, mask) -> Estimate:
    if _mover(ctx, name) and mask.sum() > 1 and _unvaried(ctx, name, mask):
        return _mover_estimate(ctx, name, mask, np.zeros_like(mask))
    e, _ = ctx.estimate(lambda s, m=mask, key=key: macro_over(s, key, m), (0.0, 1.0))
    if mask.sum() > 1 and _cluster_unvaried(ctx, name, mask):
        return flag_unvaried(e)
    return e


def _difference_estimate(ctx: Context, name: str, key: str, mask, other) -> Estimate:
    """macro(mask) - macro(other) as displayed: from the joint replicates, or by MOVER when a
    class the bootstrap cannot vary takes part (a 0/3 class is 0/3 in every stratified
    replicate: the bundled example's rare stratum got [-0.88, -0.74] for a recall that could be
    anywhere in [0, 0.56])."""
    if _mover(ctx, name) and _unvaried(ctx, name, mask | other):
        return _mover_estimate(ctx, name, mask, other)
    e, _ = ctx.estimate(_difference(key, mask, other), (-1.0, 1.0))
    if _cluster_unvaried(ctx, name, mask | other):
        return flag_unvaried(e)
    return e


def _difference(key, mask, other):
    """The statistic ``macro over mask - macro over other`` of per-class values ``key``."""
    return lambda s: macro_over(s, key, mask) - macro_over(s, key, other)


def _claim(
    ctx: Context, claim_key, name, key, mask, other, shown: Estimate, pending: list
) -> Claim:
    """A claim on macro(mask) - macro(other) over the classes with at least min_support samples
    (no claim rests on smaller classes: they are left out of the claim's estimand, which the
    finding says), tested by MOVER with Clopper-Pearson limits; from the replicates for metrics
    without a MOVER construction or with clusters. A MOVER claim's p-value is requested in
    ``pending`` (the claim and its difference), for :func:`_set_pvalues`."""
    ma, mb = mask & ctx.eligible, other & ctx.eligible
    eligible = bool(ma.any() and mb.any())
    not_made = None
    if eligible and _cluster_unvaried(ctx, name, ma | mb):
        eligible, not_made = False, UNVARIED_UNDER_CLUSTERS
    left_out = int(((mask | other) & ctx.insufficient).sum())
    scope = (
        (
            f"over the classes with at least {ctx.config.min_support} samples, {left_out} "
            "smaller class(es) left out of the claim"
        )
        if left_out
        else None
    )
    if _mover(ctx, name):
        props = ctx.proportions(name)
        estimate, at_cp = macro_difference(props, ma, mb, "clopper-pearson")
        if not eligible or not np.isfinite(estimate):
            return Claim(claim_key, estimate, math.nan, eligible=False, scope=scope)
        if not left_out:  # the same difference as shown (not one rounding apart)
            estimate = shown.estimate

        def interval_at(z):
            lo, hi = at_cp(z)
            return float(lo), float(hi)

        claim = Claim(
            claim_key,
            estimate,
            shown.se,
            eligible=True,
            interval_at=interval_at,
            scope=scope,
        )
        # the p-value inverts the same family: every claim's at once (analyse_strata)
        pending.append((claim, props, ma, mb, estimate))
        return claim
    if left_out and ctx.has_intervals:
        e, theta = ctx.estimate(_difference(key, ma, mb), (-1.0, 1.0))
    else:
        e, theta = shown, shown.estimate
    return Claim(
        claim_key,
        theta,
        e.se,
        eligible=eligible,
        df=ctx.claim_df,
        scope=scope,
        not_made=not_made,
    )


def _own_intervals(ctx: Context, j: int, macro: dict, micro: dict) -> None:
    """A stratum of one class: its macro and micro averages *are* that class's metric. When the
    bootstrap gives no interval (every replicate equal, e.g. recall 0 of 3 under the stratified
    scheme), use the class's own interval (Wilson for proportions), which exists, and say so."""
    c = ctx.per_class[j]
    for block in (macro, micro):
        for name, e in list(block.items()):
            own = c.metrics.get(name)
            if (
                own is not None
                and not e.has_interval
                and e.defined
                and own.has_interval
                and own.estimate == e.estimate
            ):
                block[name] = replace(
                    own,
                    note=f"one class in this stratum: the interval of class {c.label!r} "
                    f"({own.method}); the bootstrap interval is degenerate",
                )


def _stratum_auc(ctx: Context, g, mask, rest, macro, vs_rest, name, only_insufficient, unreliable):
    """Macro ROC AUC of a stratum and its difference to the rest, by DeLong with the covariance
    of the per-class AUCs (from the DeLong pass whose combination weights included the strata's:
    see :func:`auc_strata_weights`)."""
    auc = ctx.point["per_class.roc_auc"]
    defined = ~np.isnan(auc)
    ms, mr = mask & defined, rest & defined
    if not ms.any():
        return []
    theta = float(np.mean(auc[ms]))
    engine = ctx.engine
    if engine is None or engine.ranking is None:
        macro["roc_auc"] = point_only(theta)
        return []
    cov = engine.ranking.combo_cov
    assert cov is not None  # the DeLong pass always has the strata's weights
    c = AUC_COMBO_OFFSET + 2 * g
    var_s, var_d = float(cov[c, c]), float(cov[c + 1, c + 1])
    lo, hi = logit_interval(theta, var_s, alpha=ctx.alpha)
    at_edge = ms & unreliable
    first = ctx.per_class[int(np.flatnonzero(ms)[0])]
    own = first.metrics.get("roc_auc")
    if ms.sum() == 1 and own is not None and own.has_interval:
        # one class: the stratum's macro AUC is that class's AUC, with its own interval (HM-S,
        # valid with few positives and near 1, where DeLong's is too narrow)
        macro["roc_auc"] = replace(
            own,
            note=f"one class in this stratum: the interval of class {first.label!r} ({own.method})",
        )
    else:
        macro["roc_auc"] = Estimate(
            theta,
            float(lo),
            float(hi),
            math.sqrt(var_s),
            "delong-logit (covariance of the per-class AUCs)",
            "unstable" if at_edge.any() and np.isfinite(lo) else "ok",
            DELONG_EDGE_NOTE.format(n=int(at_edge.sum()))
            if at_edge.any() and np.isfinite(lo)
            else None,
        )
    if not mr.any():
        return []
    theta_d = float(auc[ms].mean() - auc[mr].mean())
    se = math.sqrt(var_d)
    z = special.ndtri(1 - ctx.alpha / 2)
    edge = (ms | mr) & unreliable
    vs_rest["roc_auc"] = Estimate(
        theta_d,
        theta_d - z * se if se > 0 else math.nan,
        theta_d + z * se if se > 0 else math.nan,
        se,
        "delong (covariance of the per-class AUCs)",
        "unstable" if edge.any() and se > 0 else "ok",
        DELONG_EDGE_NOTE.format(n=int(edge.sum())) if edge.any() and se > 0 else None,
    )
    if "roc_auc" not in ctx.findings_metrics:
        return []
    # no claim from an interval that understates a class's uncertainty, nor one that a class
    # below min_support takes part in (the label metrics' claims leave such classes out; the
    # DeLong pass has no weights over the eligible classes alone)
    eligible = not only_insufficient and not edge.any() and not np.any((ms | mr) & ctx.insufficient)
    return [Claim(("stratum_vs_rest", name, "roc_auc"), theta_d, se, eligible=eligible)]


def auc_strata_weights(index, n_groups, n_pos, n_samples) -> np.ndarray:
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
