"""Where rare classes diverge, by prevalence stratum.

For each stratum: the macro and micro average of every label metric over its classes, and the
difference of its macro average to the classes of the other strata (``vs_rest``); with scores,
its macro ROC AUC and that difference by DeLong with the covariance of the per-class AUCs. Then
the rarest configured stratum against the most common one (roles, not names). Every interval comes
from the joint replicates, so a difference is never built from two marginal intervals.
"""

from __future__ import annotations

import math

import numpy as np
from scipy import special

from ..intervals import logit_interval
from ..metrics import STRATA_METRICS
from ..results import Estimate, StrataComparison, StratumResult
from .context import Context, macro_over, micro_over, point_only
from .family import Claim

__all__ = ["analyse_strata", "auc_strata_weights", "AUC_COMBO_OFFSET"]

#: Columns of the DeLong pass before the strata's (macro and weighted AUC).
AUC_COMBO_OFFSET = 2


def analyse_strata(ctx: Context) -> tuple[tuple, tuple, list[Claim]]:
    """The strata's results, the rarest-versus-most-common comparison, and their claims."""
    strata = []
    claims: list[Claim] = []
    a = ctx.strata
    masks = a.masks
    for g, d in enumerate(a.definitions):
        mask = masks[g]
        rest = (a.index >= 0) & ~mask
        only_insufficient = not np.any(mask & ctx.eligible)
        macro, micro, vs_rest = {}, {}, {}
        for name in STRATA_METRICS:
            key = f"per_class.{name}"
            macro[name], _ = ctx.estimate(
                lambda s, m=mask, key=key: macro_over(s, key, m), (0.0, 1.0)
            )
            micro[name], _ = ctx.estimate(
                lambda s, m=mask, name=name: micro_over(s, name, m), (0.0, 1.0)
            )
            if not rest.any():
                continue
            vs_rest[name], theta = ctx.estimate(_difference(key, mask, rest), (-1.0, 1.0))
            if name in ctx.findings_metrics and len(a.definitions) > 1:
                eligible = not only_insufficient and bool(np.any(rest & ctx.eligible))
                claims.append(
                    _claim(
                        ctx,
                        ("stratum_vs_rest", d.name, name),
                        theta,
                        vs_rest[name].se,
                        eligible,
                        key,
                        mask,
                        rest,
                    )
                )
        if ctx.has_scores:
            claims += _stratum_auc(ctx, g, mask, rest, macro, vs_rest, d.name, only_insufficient)
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
        rare_ok = bool(np.any(ma & ctx.eligible))
        difference = {}
        for name in STRATA_METRICS:
            key = f"per_class.{name}"
            difference[name], theta = ctx.estimate(_difference(key, ma, mb), (-1.0, 1.0))
            if name in ctx.findings_metrics:
                claims.append(
                    _claim(
                        ctx, ("extremes", name), theta, difference[name].se, rare_ok, key, ma, mb
                    )
                )
        comparisons.append(
            StrataComparison(
                a.definitions[a.rarest].name, a.definitions[a.most_common].name, difference
            )
        )
    return tuple(strata), tuple(comparisons), claims


def _difference(key, mask, other):
    """The statistic ``macro over mask - macro over other`` of per-class values ``key``."""
    return lambda s: macro_over(s, key, mask) - macro_over(s, key, other)


def _claim(ctx: Context, claim_key, theta, se, eligible, key, mask, other) -> Claim:
    """A claim on macro(mask) - macro(other); when classes below min_support take part, with
    the same difference without them as its robustness check."""
    claim = Claim(claim_key, theta, se, eligible=eligible, df=ctx.claim_df)
    if eligible and np.any((mask | other) & ctx.insufficient) and ctx.has_intervals:
        e_r, th_r = ctx.estimate(
            _difference(key, mask & ctx.eligible, other & ctx.eligible), (-1.0, 1.0)
        )
        claim.robust = (th_r, e_r.se)
    return claim


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
                block[name] = Estimate(
                    own.estimate,
                    own.ci_low,
                    own.ci_high,
                    own.se,
                    own.method,
                    own.status,
                    f"one class in this stratum: the interval of class {c.label!r} "
                    f"({own.method}); the bootstrap interval is degenerate",
                    own.undefined_fraction,
                )


def _stratum_auc(ctx: Context, g, mask, rest, macro, vs_rest, name, only_insufficient):
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
    macro["roc_auc"] = Estimate(
        theta,
        float(lo),
        float(hi),
        math.sqrt(var_s),
        "delong-logit (covariance of the per-class AUCs)",
    )
    if not mr.any():
        return []
    theta_d = float(auc[ms].mean() - auc[mr].mean())
    se = math.sqrt(var_d)
    z = special.ndtri(1 - ctx.alpha / 2)
    vs_rest["roc_auc"] = Estimate(
        theta_d, theta_d - z * se, theta_d + z * se, se, "delong (covariance of the per-class AUCs)"
    )
    if "roc_auc" not in ctx.findings_metrics:
        return []
    return [
        Claim(("stratum_vs_rest", name, "roc_auc"), theta_d, se, eligible=not only_insufficient)
    ]


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
