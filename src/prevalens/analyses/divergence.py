"""Which classes diverge: each class's metric against the micro value (and against the most
common stratum's macro value), for the findings metrics.

Every class is derived at once (one statistic with a trailing class axis), from the joint
replicates. The claim's standard error is at least the score-test one under "every class has the
micro value" (:func:`_null_se`), which does not shrink when a small class happens to score near 0
or 1.
"""

from __future__ import annotations

import math

import numpy as np

from ..metrics import STRATA_METRICS
from ..results import DivergenceResult
from .context import Context, macro_over
from .family import Claim

__all__ = ["analyse_divergence", "with_adjusted"]


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
        vs_micro = ctx.estimates(
            lambda s, key=key, name=name, idx=idx: s[key][..., idx] - s[f"micro.{name}"][..., None],
            (-1.0, 1.0),
        )
        vs_common = None
        if common is not None:
            m = a.masks[common]
            vs_common = ctx.estimates(
                lambda s, key=key, idx=idx, m=m: (
                    s[key][..., idx] - macro_over(s, key, m)[..., None]
                ),
                (-1.0, 1.0),
            )
        for i, j in enumerate(idx):
            e, theta = vs_micro[i]
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
            se_claim = max(e.se, _null_se(ctx.cm, j, name, ctx.point[f"micro.{name}"]))
            claims.append(
                Claim(
                    ("class", ctx.classes[j], name),
                    theta,
                    se_claim,
                    eligible=bool(ctx.eligible[j]),
                    df=ctx.claim_df,
                )
            )
    return rows, claims


def with_adjusted(rows, claims_by_key: dict, adjustment: str) -> tuple[DivergenceResult, ...]:
    """The rows with their claim's adjusted interval and whether the class diverges."""
    out = []
    for row in rows:
        c = claims_by_key.get(("class", row.label, row.metric))
        adjusted = c.adjusted(adjustment) if c is not None else None
        out.append(
            DivergenceResult(
                row.label,
                row.metric,
                row.vs_micro,
                row.insufficient,
                row.vs_common,
                adjusted,
                bool(c is not None and c.significant and c.eligible),
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
