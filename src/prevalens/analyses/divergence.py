"""Which classes diverge: each class's metric against the micro value (and against the most
common stratum's macro value), for the findings metrics.

The difference of a class's metric to the micro value gets a MOVER interval from exact
one-proportion limits (:mod:`prevalens.analyses.mover`): mid-p limits for the displayed 95%
interval, Clopper-Pearson limits for the claim's adjusted interval and p-value. The normal
interval with a bootstrap standard error it replaces covered as little as 0.18 for a 10-sample
class and put the Shuttle data's 10-sample class at recall 0.6 (against 0.9998) in
[-0.88, +0.08]: a recall above 1 (docs/design.md, "Divergence"). With a cluster column, where the
rows of a class are not independent, the leave-one-cluster-out jackknife with t(Kish - 1) is used.
"""

from __future__ import annotations

import math

import numpy as np
from scipy import special

from ..intervals import interval_pvalue
from ..metrics import STRATA_METRICS
from ..results import DivergenceResult, Estimate
from .context import Context, macro_over
from .family import Claim
from .mover import MOVER_METRICS, class_vs_micro, flag_unvaried

__all__ = ["analyse_divergence", "with_adjusted"]

MOVER_DISPLAY = "MOVER with exact mid-p limits"


def analyse_divergence(ctx: Context) -> tuple[list[DivergenceResult], list[Claim]]:
    """One :class:`DivergenceResult` per class with samples and a defined metric (not yet
    adjusted: see :func:`with_adjusted`), and the class claims."""
    rows: list[DivergenceResult] = []
    claims: list[Claim] = []
    a = ctx.strata
    common = a.most_common
    for name in ctx.findings_metrics:
        if name not in STRATA_METRICS:
            continue
        key = f"per_class.{name}"
        idx = np.array(
            [j for j in range(ctx.k) if ctx.support[j] > 0 and not np.isnan(ctx.point[key][j])],
            dtype=np.int64,
        )
        if idx.size == 0:
            continue
        vs_common = None
        if common is not None:
            m = a.masks[common]
            vs_common = ctx.estimates(
                lambda s, key=key, idx=idx, m=m: (
                    s[key][..., idx] - macro_over(s, key, m)[..., None]
                ),
                (-1.0, 1.0),
            )
        if ctx.has_intervals and not ctx.clustered and name in MOVER_METRICS:
            pairs = _mover_claims(ctx, name, idx)
        else:
            pairs = _replicate_claims(ctx, name, key, idx)
        for i, (j, (e, claim)) in enumerate(zip(idx, pairs)):
            rows.append(
                DivergenceResult(
                    label=ctx.classes[j],
                    metric=name,
                    vs_micro=e,
                    insufficient=bool(ctx.insufficient[j]),
                    vs_common=vs_common[i][0]
                    if vs_common is not None and a.index[j] != common
                    else None,
                )
            )
            claims.append(claim)
    return rows, claims


def _mover_claims(ctx: Context, name: str, idx) -> list[tuple[Estimate, Claim]]:
    """MOVER: the displayed interval with mid-p limits, the claim with Clopper-Pearson limits."""
    props = ctx.proportions(name)
    estimate, at_mid = class_vs_micro(props, "mid-p")
    _, at_cp = class_vs_micro(props, "clopper-pearson")
    z = special.ndtri(1 - ctx.alpha / 2)
    lo, hi = at_mid(z, idx)
    est = estimate[idx]
    p = interval_pvalue(lambda zz: at_cp(zz, idx), est)
    what = {"recall": "the pooled recall of the other classes"}.get(name, "the accuracy")
    method = f"{MOVER_DISPLAY} (class against {what})"
    out = []
    for i, j in enumerate(idx):

        def interval_at(zz, j=j):
            low, high = at_cp(zz, np.array([j]))
            return float(low[0]), float(high[0])

        e = Estimate(
            float(est[i]), float(lo[i]), float(hi[i]), float((hi[i] - lo[i]) / (2 * z)), method
        )
        claim = Claim(
            ("class", ctx.classes[j], name),
            float(est[i]),
            e.se,
            eligible=bool(ctx.eligible[j]),
            p_value=float(p[i]),
            interval_at=interval_at,
        )
        out.append((e, claim))
    return out


def _replicate_claims(ctx: Context, name: str, key: str, idx) -> list[tuple[Estimate, Claim]]:
    """From the joint replicates (the cluster jackknife with a cluster column): the claim's
    standard error floored by the score-test one under equal metrics (:func:`_null_se`), which
    does not shrink when a small class happens to score near 0 or 1 (without clusters)."""
    vs_micro = ctx.estimates(
        lambda s, key=key, name=name, idx=idx: s[key][..., idx] - s[f"micro.{name}"][..., None],
        (-1.0, 1.0),
    )
    # the leave-one-cluster-out jackknife repeats a class at 0 or 1 (10 of 10 recalled) in every
    # replicate: no valid interval for its difference, and no claim
    at_bound = (
        ctx.proportions(name).at_bound
        if ctx.clustered and name in MOVER_METRICS
        else np.zeros(ctx.k, dtype=bool)
    )
    out = []
    for i, j in enumerate(idx):
        e, theta = vs_micro[i]
        se = e.se
        if not ctx.clustered:
            se = max(e.se, _null_se(ctx.cm, j, name, ctx.point[f"micro.{name}"]))
        if at_bound[j]:
            e = flag_unvaried(e)
        out.append(
            (
                e,
                Claim(
                    ("class", ctx.classes[j], name),
                    theta,
                    se,
                    eligible=bool(ctx.eligible[j]) and not at_bound[j],
                    df=ctx.claim_df,
                ),
            )
        )
    return out


def with_adjusted(
    rows, claims_by_key: dict, adjustment: str, min_effect: float
) -> tuple[DivergenceResult, ...]:
    """The rows with their claim's adjusted interval, whether the difference is material (at
    least ``min_effect``) and whether the class diverges: its adjusted interval excludes 0 and
    the difference is material."""
    out = []
    for row in rows:
        c = claims_by_key.get(("class", row.label, row.metric))
        adjusted = c.adjusted(adjustment) if c is not None else None
        material = c.material(min_effect) if c is not None else None
        out.append(
            DivergenceResult(
                row.label,
                row.metric,
                row.vs_micro,
                row.insufficient,
                row.vs_common,
                adjusted,
                bool(c is not None and c.significant and c.eligible and material),
                material,
            )
        )
    return tuple(out)


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
