"""Score metrics: ROC AUC, average precision, log loss, Brier score, top-k accuracy, curves.

All ranking statistics are computed from per-class sorts of the score columns and binary searches
into them, never from an O(n_pos * n_neg) comparison. For a class with positives P and negatives
Q (one-vs-rest) and a positive score ``v``:

* its *placement* among the negatives is ``V10(v) = (#{q < v} + #{q = v} / 2) / |Q|``; the ROC AUC
  is the mean placement of the positives (the Mann-Whitney statistic with ties counted half);
* the precision at threshold ``v`` is ``#{p >= v} / #{x >= v}``; average precision is the mean of
  that precision over the positives. This equals scikit-learn's step-wise
  ``sum_n (R_n - R_{n-1}) P_n`` with tied scores grouped into one threshold.

The placements are also DeLong's structural components, which the interval module reuses.
"""

from __future__ import annotations

import math
import os
import warnings
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import special

from . import metrics as M

__all__ = [
    "PairedOvR",
    "paired_ovr_delong",
    "SCORE_PER_CLASS_METRICS",
    "SCORE_AVERAGED_METRICS",
    "auc_combination_weights",
    "score_statistics",
    "BinaryRankStats",
    "binary_rank_stats",
    "PairedAUC",
    "paired_delong",
    "DELONG_MIN_ERROR_MASS",
    "delong_unreliable",
    "DELONG_EDGE_NOTE",
    "APInfluence",
    "average_precision_influence",
    "micro_average_precision_influence",
    "ap_combination_weights",
    "OvRSummary",
    "ovr_pass",
    "ovo_from_u",
    "roc_auc_per_class",
    "average_precision_per_class",
    "micro_pass",
    "micro_roc_auc",
    "micro_average_precision",
    "roc_auc_ovo",
    "log_loss",
    "brier",
    "brier_per_sample",
    "top_k_accuracy",
    "top_k_hits",
    "classes_above_true",
    "roc_curve",
    "precision_recall_curve",
    "micro_roc_curve",
    "macro_roc_curve",
    "pr_envelope",
    "curve_summary",
    "is_probability",
    "probability_deviation",
]

#: Per-class metrics that need scores.
SCORE_PER_CLASS_METRICS = ("roc_auc", "average_precision")
#: Averaged metrics that need scores.
SCORE_AVERAGED_METRICS = ("roc_auc", "average_precision")

#: Rows of a probability matrix must sum to 1 within this absolute tolerance. Rounding explains
#: up to K/2 units of the last stored decimal: 5e-4 for K = 1000 columns written with 6
#: decimals, 5e-3 for K = 10 with 3 decimals, 0.01 for K = 2 with 2 decimals; beyond 1% a row is
#: not a rounded probability vector (a missing class, unnormalised scores) and is refused for log
#: loss and Brier score unless ``renormalize_scores`` is set. A row accepted off by d changes its
#: log loss term by at most about d (log of the row sum), far below the interval of a log loss.
PROBABILITY_ATOL = 0.01


@dataclass(frozen=True)
class BinaryRankStats:
    """Rank statistics of one binary (one-vs-rest) problem.

    Attributes
    ----------
    n_pos, n_neg : int
    auc : float
        Mann-Whitney ROC AUC, ties counted half; NaN when a side is empty.
    average_precision : float
        NaN when there are no positives.
    v10 : ndarray, shape (n_pos,)
        Placement of each positive among the negatives (DeLong's V10), in input order.
    v01 : ndarray, shape (n_neg,)
        1 - placement of each negative among the positives (DeLong's V01), in input order.
    precision_at : ndarray, shape (n_pos,)
        Precision at each positive's score as threshold.
    """

    n_pos: int
    n_neg: int
    auc: float
    average_precision: float
    v10: np.ndarray
    v01: np.ndarray
    precision_at: np.ndarray


#: Below this error mass, m * min(AUC, 1 - AUC) (the positives' worth of misranking in the
#: sample), DeLong's variance says little about the tail that decides the AUC: with 15 positives
#: at AUC 0.995 its interval covered 0.48-0.80 (docs/design.md, Intervals).
DELONG_MIN_ERROR_MASS = 2.0


#: Why an average of AUCs by DeLong's covariance is approximate (status unstable).
DELONG_EDGE_NOTE = (
    "classes at or near ROC AUC 0 or 1 take part ({n} with fewer than 2 positives' worth of "
    "misranking), whose uncertainty DeLong's variance understates, so the interval is too narrow"
)


def delong_unreliable(auc, n_pos, var) -> np.ndarray:
    """Classes whose DeLong variance understates the uncertainty of their AUC: no variance (AUC
    0 or 1, or tied scores), or fewer than :data:`DELONG_MIN_ERROR_MASS` positives' worth of
    misranking. False where the AUC is undefined."""
    auc = np.asarray(auc, dtype=np.float64)
    defined = ~np.isnan(auc)
    with np.errstate(invalid="ignore"):
        mass = np.asarray(n_pos, dtype=np.float64) * np.minimum(auc, 1.0 - auc)
        return defined & (~(np.nan_to_num(var) > 0) | (mass < DELONG_MIN_ERROR_MASS))


@dataclass(frozen=True)
class PairedAUC:
    """Two ROC AUCs on the same samples and DeLong's covariance of them (DeLong, DeLong &
    Clarke-Pearson 1988), as R's ``pROC::roc.test(method = "delong", paired = TRUE)``.

    Attributes
    ----------
    auc_a, auc_b : float
    var_a, var_b, cov : float
        DeLong's variances of each AUC and their covariance.
    difference, se : float
        ``auc_a - auc_b`` and its standard error ``sqrt(var_a + var_b - 2 cov)``.
    z, p_value : float
        The test of equal AUCs (normal, two-sided); NaN when ``se`` is 0.
    """

    auc_a: float
    auc_b: float
    var_a: float
    var_b: float
    cov: float
    difference: float
    se: float
    z: float
    p_value: float


def paired_delong(scores_a, scores_b, positive) -> PairedAUC:
    """DeLong's paired comparison of two models' ROC AUCs for the positives ``positive`` (one
    class against the rest) from their scores on the same samples: the covariance comes from
    each sample's placements under both models (V10 of the positives, V01 of the negatives),
    ``S = S10 / m + S01 / n`` with sample covariances of ddof 1. O(n log n).

    Raises
    ------
    ValueError
        When the score arrays differ in length from ``positive``, or a side is empty.
    """
    positive = np.asarray(positive, dtype=bool)
    if np.shape(scores_a) != positive.shape or np.shape(scores_b) != positive.shape:
        raise ValueError("scores_a, scores_b and positive must have the same length")
    a = binary_rank_stats(scores_a, positive)
    b = binary_rank_stats(scores_b, positive)
    m, n = a.n_pos, a.n_neg
    if m < 2 or n < 2:
        raise ValueError(
            f"the paired DeLong test needs two or more positives and negatives, got {m} and {n}"
        )
    s10 = np.cov(np.vstack([a.v10, b.v10]), ddof=1)
    s01 = np.cov(np.vstack([a.v01, b.v01]), ddof=1)
    s = s10 / m + s01 / n
    var_a, var_b, cov = float(s[0, 0]), float(s[1, 1]), float(s[0, 1])
    diff = a.auc - b.auc
    var_d = max(var_a + var_b - 2.0 * cov, 0.0)
    se = float(np.sqrt(var_d))
    z = diff / se if se > 0 else float("nan")
    p = float(2.0 * special.ndtr(-abs(z))) if se > 0 else float("nan")
    return PairedAUC(a.auc, b.auc, var_a, var_b, cov, diff, se, float(z), p)


@dataclass(frozen=True)
class PairedOvR:
    """Every class's ROC AUC under two models scored on the same samples, and DeLong's variance
    of each difference (B - A) and of linear combinations of the differences.

    Attributes
    ----------
    auc_a, auc_b : ndarray (K,)
        NaN where a class has no positives or no negatives.
    var_diff : ndarray (K,)
        Variance of ``auc_b - auc_a`` (``var_a + var_b - 2 cov``, DeLong's paired form; with a
        cluster column, Obuchowski's clustered form). NaN with fewer than two positives or two
        negatives.
    combo_diff : ndarray (m,) or None
        ``weights.T @ (auc_b - auc_a)`` (macro and weighted means, a stratum's macro AUC, ...).
    combo_cov : ndarray (m, m) or None
        Covariance of ``combo_diff``.
    """

    auc_a: np.ndarray
    auc_b: np.ndarray
    var_diff: np.ndarray
    combo_diff: np.ndarray | None = None
    combo_cov: np.ndarray | None = None

    @property
    def difference(self) -> np.ndarray:
        return self.auc_b - self.auc_a


def paired_ovr_delong(y_true, score_a, score_b, combo_weights=None, cluster=None) -> PairedOvR:
    """DeLong's paired comparison of two models for every class against the rest at once.

    Each sample's structural component of class k (as in :func:`ovr_pass`) is computed under
    both models; the component of the difference is their difference, so its sum of squares is
    ``var_a + var_b - 2 cov`` exactly as :func:`paired_delong` (and ``pROC::roc.test(paired =
    TRUE)``) gives for one class, and cross-products between classes give the covariance of
    averages of differences (``combo_weights`` (K, m); undefined classes must weigh 0). With
    ``cluster``, components are summed within clusters and scaled by C / (C - 1) (Obuchowski
    1997). Memory O(n m) beyond the scores.
    """
    y_true = np.asarray(y_true, dtype=np.int64)
    score_a = np.asarray(score_a, dtype=np.float64)
    score_b = np.asarray(score_b, dtype=np.float64)
    n, k = score_a.shape
    if score_b.shape != score_a.shape:
        raise ValueError("the two models' score matrices must have the same shape")
    auc_a, auc_b, var = (np.full(k, np.nan) for _ in range(3))
    m = 0 if combo_weights is None else np.asarray(combo_weights).shape[1]
    zt = np.zeros((m, n)) if m else None
    if cluster is not None:
        cluster = np.asarray(cluster, dtype=np.int64)
        n_clusters = int(cluster.max()) + 1
        c_factor = n_clusters / max(n_clusters - 1, 1)

    def component(st: BinaryRankStats, positive) -> np.ndarray:
        psi = np.empty(n)
        if cluster is None:
            psi[positive] = (st.v10 - st.auc) / np.sqrt(st.n_pos * (st.n_pos - 1))
            psi[~positive] = (st.v01 - st.auc) / np.sqrt(st.n_neg * (st.n_neg - 1))
        else:
            psi[positive] = (st.v10 - st.auc) / st.n_pos
            psi[~positive] = (st.v01 - st.auc) / st.n_neg
        return psi

    for c in range(k):
        positive = y_true == c
        a = binary_rank_stats(score_a[:, c], positive)
        b = binary_rank_stats(score_b[:, c], positive)
        auc_a[c], auc_b[c] = a.auc, b.auc
        if a.n_pos < 2 or a.n_neg < 2:
            continue
        d = component(b, positive) - component(a, positive)
        if cluster is None:
            var[c] = float(d @ d)
        else:
            tot = np.bincount(cluster, weights=d, minlength=n_clusters)
            var[c] = float(c_factor * (tot @ tot))
        if zt is not None:
            for j in np.flatnonzero(combo_weights[c]):
                zt[j] += d * combo_weights[c, j]
    if zt is None:
        return PairedOvR(auc_a, auc_b, var)
    w = np.asarray(combo_weights, dtype=np.float64)
    diff = np.where(np.isnan(auc_b - auc_a), 0.0, auc_b - auc_a) @ w
    if cluster is None:
        cov = zt @ zt.T
    else:
        zc = np.stack([np.bincount(cluster, weights=row, minlength=n_clusters) for row in zt])
        cov = c_factor * (zc @ zc.T)
    return PairedOvR(auc_a, auc_b, var, diff, cov)


def _placements(col, positive, pos_sorted=None):
    """For every sample: how many positives score strictly below it (``lt``) and at most equal to
    it (``le``). One binary search of the n samples into the sorted positives; the second search
    is done only for samples that tie with a positive."""
    if pos_sorted is None:
        pos_sorted = np.sort(col[positive])
    n_pos = pos_sorted.size
    lt = np.searchsorted(pos_sorted, col, side="left")
    le = lt.copy()
    if n_pos:
        tied = pos_sorted[np.minimum(lt, n_pos - 1)] == col
        tied &= lt < n_pos
        if tied.any():
            le[tied] = np.searchsorted(pos_sorted, col[tied], side="right")
    return lt, le


def binary_rank_stats(scores, positive) -> BinaryRankStats:
    """Rank statistics of ``scores`` for the positives marked by boolean ``positive``.

    O(n log n_pos): one sort of the positives and one binary search of every sample into them.

    Notes
    -----
    With ``lt_j``/``le_j`` the number of positives below / at most a negative's score, a negative
    is below the r-th smallest positive exactly when ``le_j <= r`` (and at most equal when
    ``lt_j <= r``), so cumulative histograms of ``le`` and ``lt`` give every positive's placement
    among the negatives without sorting the negatives.
    """
    return _rank_core(scores, positive)[0]


def _rank_core(scores, positive):
    """binary_rank_stats plus what the one-vs-one variance needs: the negatives' ``lt``/``le``
    counts and the sort order of the positives."""
    scores = np.asarray(scores, dtype=np.float64)
    positive = np.asarray(positive, dtype=bool)
    pos = scores[positive]
    order = np.argsort(pos, kind="stable")
    pos_sorted = pos[order]
    n_pos = pos.size
    n_neg = scores.size - n_pos
    lt, le = _placements(scores, positive, pos_sorted)
    neg = ~positive
    lt_n, le_n = lt[neg], le[neg]
    with np.errstate(divide="ignore", invalid="ignore"):
        v01 = (2.0 * n_pos - lt_n - le_n) / (2.0 * n_pos) if n_pos else np.full(n_neg, np.nan)
        # negatives strictly below / at most the r-th sorted positive
        neg_lt_sorted = np.cumsum(np.bincount(le_n, minlength=n_pos + 1))[:n_pos]
        neg_le_sorted = np.cumsum(np.bincount(lt_n, minlength=n_pos + 1))[:n_pos]
        v10_sorted = (
            (neg_lt_sorted + neg_le_sorted) / (2.0 * n_neg) if n_neg else np.full(n_pos, np.nan)
        )
        pos_ge = n_pos - np.searchsorted(pos_sorted, pos_sorted, side="left")
        neg_ge = n_neg - neg_lt_sorted
        prec_sorted = pos_ge / (pos_ge + neg_ge)
    v10 = np.empty(n_pos)
    v10[order] = v10_sorted
    precision_at = np.empty(n_pos)
    precision_at[order] = prec_sorted
    auc = float(v10.mean()) if (n_pos and n_neg) else np.nan
    ap = float(precision_at.mean()) if n_pos else np.nan
    core = _Core(lt_n, le_n, order, pos_sorted, pos_ge, neg_ge)
    return BinaryRankStats(n_pos, n_neg, auc, ap, v10, v01, precision_at), core


@dataclass(frozen=True)
class _Core:
    """What a ranking pass leaves beyond :class:`BinaryRankStats`: for each negative (input order
    of the negatives) the positives strictly below (``lt_n``) and at most equal to it (``le_n``);
    the sort order of the positives, their sorted scores, and for each sorted positive the
    positives (``pos_ge``) and negatives (``neg_ge``) scoring at or above it."""

    lt_n: np.ndarray
    le_n: np.ndarray
    order: np.ndarray
    pos_sorted: np.ndarray
    pos_ge: np.ndarray
    neg_ge: np.ndarray


@dataclass(frozen=True)
class APInfluence:
    """Average precision of a binary problem with its influence values and exact jackknife.

    Attributes
    ----------
    average_precision : float
    influence : ndarray (n,)
        The derivative of AP in each observation's weight (input order); they sum to 0 (AP does
        not change when every weight is scaled).
    jackknife : ndarray (n,)
        ``AP_(-i) - AP``: the exact change of AP when observation i is left out (NaN for the only
        positive, whose deletion leaves AP undefined).
    se_jackknife : float
        The exact delete-one jackknife standard error, stratified (positives and negatives apart:
        the class's support fixed), ``sqrt(sum_s (n_s - 1)/n_s sum_{i in s} (d_i - mean_s d)^2)``.
    se_influence : float
        ``sqrt(sum u^2)`` over the influence values centred within positives and negatives (u).
    df : float
        The effective number of observations carrying the variance, ``(sum u^2)^2 / sum u^4``
        (:func:`prevalens.intervals.effective_dof`).
    """

    average_precision: float
    influence: np.ndarray
    jackknife: np.ndarray
    se_jackknife: float
    se_influence: float
    df: float


def _ap_parts(n_pos: int, core: _Core, positive) -> tuple[np.ndarray, np.ndarray]:
    """Influence values and exact leave-one-out changes of AP for every observation (input
    order), in O(n) from the sorted positives of a ranking pass.

    Notes
    -----
    With the positives sorted by score, A_r and B_r the positives and negatives scoring at or
    above positive r, T_r = A_r + B_r, m positives and AP = (1/m) sum_r A_r / T_r (ties share
    their A and B: scikit-learn's grouping of tied scores):

    * a negative j at score s counts in B_r of every positive r with s_r <= s::

          influence = -(1/m) sum_{s_r <= s} A_r / T_r^2
          AP_(-j) - AP = (1/m) sum_{s_r <= s} A_r / (T_r (T_r - 1))

    * a positive q counts in m, in its own term and in A_r of every positive with s_r <= s_q::

          influence = ((1 - AP) - B_q / T_q) / m + (1/m) sum_{s_r <= s_q} B_r / T_r^2
          AP_(-q) - AP = (B_q / T_q - (1 - AP) - sum_{s_r <= s_q, r != q} B_r / (T_r (T_r - 1)))
                         / (m - 1)

    Written with B (the errors) rather than A, so that nothing cancels when AP is within 1e-7 of
    1; each sum is a cumulative sum over the sorted positives read at the observation's rank.
    """
    m = n_pos
    a = core.pos_ge.astype(np.float64)
    b = core.neg_ge.astype(np.float64)
    t = a + b
    with np.errstate(invalid="ignore", divide="ignore"):
        miss = b / t  # 1 - precision at each sorted positive
        one_minus_ap = float(miss.mean())
        has_b = b > 0  # where T - 1 >= A >= 1; where B = 0 the terms are 0 (and never read by a
        # negative: every positive scoring at or below a negative has B >= 1)
        c_neg = np.cumsum(a / t**2)
        c_neg_jk = np.cumsum(np.where(has_b, a / (t * (t - 1)), 0.0))
        c_pos = np.cumsum(b / t**2)
        g = np.where(has_b, b / (t * (t - 1)), 0.0)
        c_pos_jk = np.cumsum(g)
    # negatives: the positives at or below each one are the first le_n in ascending order
    idx = core.le_n - 1
    below = idx >= 0
    safe = np.maximum(idx, 0)
    d_neg = np.where(below, -c_neg[safe], 0.0) / m
    j_neg = np.where(below, c_neg_jk[safe], 0.0) / m
    # positives: those at or below positive q (ties included) are the first searchsorted(right)
    le_pos = np.searchsorted(core.pos_sorted, core.pos_sorted, side="right") - 1
    d_pos_sorted = (one_minus_ap - miss + c_pos[le_pos]) / m
    if m > 1:
        j_pos_sorted = (miss - one_minus_ap - (c_pos_jk[le_pos] - g)) / (m - 1)
    else:
        j_pos_sorted = np.full(m, np.nan)
    n = positive.size
    influence = np.empty(n)
    jack = np.empty(n)
    neg = ~positive
    influence[neg] = d_neg
    jack[neg] = j_neg
    d_pos = np.empty(m)
    j_pos = np.empty(m)
    d_pos[core.order] = d_pos_sorted
    j_pos[core.order] = j_pos_sorted
    influence[positive] = d_pos
    jack[positive] = j_pos
    return influence, jack


def _ap_spread(influence, jack, positive) -> tuple[float, float, float]:
    """(se_jackknife, se_influence, df) of AP, stratified by positives / negatives."""
    var_j = 0.0
    parts = []
    for side in (positive, ~positive):
        n_s = int(np.count_nonzero(side))
        if n_s == 0:
            continue
        d = influence[side]
        parts.append(d - d.mean())
        if n_s > 1:
            j = jack[side]
            j = j - j.mean()
            var_j += (n_s - 1) / n_s * float(j @ j)
    scale = max((float(np.max(np.abs(u))) for u in parts), default=0.0)
    if scale == 0.0:
        return math.sqrt(var_j), 0.0, math.inf
    s2 = s4 = 0.0
    for u in parts:
        v2 = u / scale
        v2 *= v2
        s2 += float(v2.sum())
        s4 += float(v2 @ v2)
    return math.sqrt(var_j), scale * math.sqrt(s2), s2 * s2 / s4


def _effective_dof(u) -> float:
    """``(sum u^2)^2 / sum u^4`` (scaled against underflow); inf when every u is 0. The same as
    :func:`prevalens.intervals.effective_dof`, which the interval stage uses (this module stays
    below it)."""
    u = np.asarray(u, dtype=np.float64)
    scale = float(np.max(np.abs(u))) if u.size else 0.0
    if scale == 0.0:
        return math.inf
    v2 = u / scale
    v2 *= v2
    return float(v2.sum() ** 2 / (v2 @ v2))


def average_precision_influence(scores, positive) -> APInfluence:
    """Average precision of ``scores`` for the positives marked by boolean ``positive``, with its
    influence values, exact jackknife, standard errors and effective degrees of freedom
    (:class:`APInfluence`), from one sort: O(n log n_pos), no resampling.

    Examples
    --------
    >>> r = average_precision_influence([0.9, 0.8, 0.7, 0.6, 0.3], [True, False, True, True, False])
    >>> round(r.average_precision, 6), round(r.se_jackknife, 6), round(r.df, 3)
    (0.805556, 0.192951, 3.999)
    """
    positive = np.asarray(positive, dtype=bool)
    st, core = _rank_core(scores, positive)
    if st.n_pos == 0:
        nan = np.full(positive.size, np.nan)
        return APInfluence(np.nan, nan, nan, np.nan, np.nan, np.nan)
    influence, jack = _ap_parts(st.n_pos, core, positive)
    se_j, se_i, df = _ap_spread(influence, jack, positive)
    return APInfluence(st.average_precision, influence, jack, se_j, se_i, df)


@dataclass(frozen=True)
class OvRSummary:
    """Everything the audit needs from the one-vs-rest ranking of every class, from one pass.

    Attributes
    ----------
    auc, average_precision : ndarray (K,)
    n_pos : ndarray (K,)
    ovo_u : ndarray (K, K)
        ``ovo_u[a, b]`` is the Mann-Whitney U of score column a, class a above class b (ties
        half); Hand & Till's A(a|b) = ovo_u[a, b] / (n_a n_b).
    delong_var : ndarray (K,)
        DeLong's variance ``S10/m + S01/q`` of each class's AUC (NaN when undefined); with a
        cluster column, the clustered (Obuchowski) variance.
    combo_cov : ndarray (m, m) or None
        DeLong covariance of the linear combinations ``weights.T @ auc``.
    ovo_var : float
        Variance of Hand & Till's one-vs-one AUC from its per-sample structural components.
    delong_s10, delong_s01 : ndarray (K,)
        DeLong's components of each class: the sample variances (ddof 1) of the positives'
        placements among the negatives and of the negatives' among the positives (NaN for a
        single positive or negative, or an undefined AUC); rows as independent samples.
    ap_se, ap_df : ndarray (K,)
        Standard error of each class's average precision (the exact stratified jackknife; with a
        cluster column the cluster-robust influence-function SE) and its effective degrees of
        freedom (:class:`APInfluence`; over the cluster totals with clusters).
    ap_influence : ndarray (m', n) or None
        Per-sample influence values of the linear combinations ``ap_weights.T @ ap``.
    ap_combo_spread : tuple of (se, df) or None
        Instead of ``ap_influence`` (from an engine that holds no rows): the standard error and
        effective degrees of freedom of the macro, the weighted, and the weighted AP with the
        classes' weights free to vary.
    """

    auc: np.ndarray
    average_precision: np.ndarray
    n_pos: np.ndarray
    ovo_u: np.ndarray
    delong_var: np.ndarray
    combo_cov: np.ndarray | None
    ovo_var: float = float("nan")
    ovo_df: float = float("nan")
    delong_s10: np.ndarray | None = None
    delong_s01: np.ndarray | None = None
    ap_se: np.ndarray | None = None
    ap_df: np.ndarray | None = None
    ap_influence: np.ndarray | None = None
    ap_combo_spread: tuple | None = None


def ovr_pass(y_true, y_score, combo_weights=None, cluster=None, ap_weights=None) -> OvRSummary:
    """One pass over the score columns: per-class AUC and AP, the one-vs-one U statistics,
    DeLong's structural components (per-class variances and, for ``combo_weights`` (K, m), the
    covariance of weighted sums of AUCs), and the standard errors of the per-class APs from their
    influence values and exact jackknife (for ``ap_weights`` (K, m'), also the per-sample
    influence values of weighted sums of APs). Memory O(n * (m + m')) beyond the scores.

    The per-sample component of class k is ``(V10 - AUC_k) / sqrt(m_k (m_k - 1))`` for its
    positives and ``(V01 - AUC_k) / sqrt(q_k (q_k - 1))`` for its negatives, so that the sum of
    squares is exactly DeLong's variance and cross-products of two classes give their covariance.

    With ``cluster`` (codes 0..C-1, e.g. patients), the variances and covariances are the
    cluster-robust ones of Obuchowski (1997): each sample's influence ``(V10 - AUC) / m`` (a
    positive) or ``(V01 - AUC) / q`` (a negative) is summed within its cluster, and the variance is
    ``C / (C - 1)`` times the sum of squares of the cluster totals.

    The columns are ranked on worker threads (numpy releases the GIL in sorts, binary searches
    and element-wise arithmetic); every floating-point accumulation over columns is done on the
    calling thread in column order, so the result does not depend on the number of threads.
    """
    y_true = np.asarray(y_true, dtype=np.int64)
    y_score = np.asarray(y_score, dtype=np.float64)
    n, k = y_score.shape
    auc = np.full(k, np.nan)
    ap = np.full(k, np.nan)
    n_pos = np.bincount(y_true, minlength=k)
    ovo_u = np.full((k, k), np.nan)
    var = np.full(k, np.nan)
    s10 = np.full(k, np.nan)
    s01 = np.full(k, np.nan)
    ap_se = np.full(k, np.nan)
    ap_df = np.full(k, np.nan)
    zap = None
    if ap_weights is not None:
        ap_weights = np.asarray(ap_weights, dtype=np.float64)
        zap = np.zeros((ap_weights.shape[1], n))
    zt = None
    if combo_weights is not None:
        combo_weights = np.asarray(combo_weights, dtype=np.float64)
        # (m, n): each combination's components contiguous, updated in place column by column
        zt = np.zeros((combo_weights.shape[1], n))
    if cluster is not None:
        cluster = np.asarray(cluster, dtype=np.int64)
        n_clusters = int(cluster.max()) + 1
        c_factor = n_clusters / max(n_clusters - 1, 1)
    present = n_pos > 0
    k_present = int(present.sum())
    inv_n = np.where(present, 1.0 / np.maximum(n_pos, 1), 0.0)
    ovo_psi = np.zeros(n)  # per-sample components of the one-vs-one AUC (Hand & Till)

    def column(a):
        col = np.ascontiguousarray(y_score[:, a])
        positive = y_true == a
        st, core = _rank_core(col, positive)
        lt_n, le_n, order = core.lt_n, core.le_n, core.order
        out = {"positive": positive, "auc": st.auc, "ap": st.average_precision}
        if st.n_pos:
            # average precision: influence values and exact jackknife, O(n) from this ranking
            infl, jack = _ap_parts(st.n_pos, core, positive)
            if cluster is None:
                out["ap_se"], _, out["ap_df"] = _ap_spread(infl, jack, positive)
            else:  # cluster-robust: the influence values summed within clusters
                tot = np.bincount(cluster, weights=infl, minlength=n_clusters)
                out["ap_se"] = math.sqrt(c_factor * float(tot @ tot))
                out["ap_df"] = _effective_dof(tot)
            if zap is not None and ap_weights[a].any():
                out["ap_infl"] = infl
        if st.n_pos > 1:
            out["s10"] = float(st.v10.var(ddof=1))
        if st.n_pos and st.n_neg > 1:
            out["s01"] = float(st.v01.var(ddof=1))
        if st.n_pos:
            neg = ~positive
            # U(a over b) = sum over samples j of class b of (#pos above + half ties), via V01
            lt_le_weight = np.empty(n)
            lt_le_weight[neg] = st.v01 * st.n_pos
            lt_le_weight[positive] = 0.0
            u_row = np.bincount(y_true, weights=lt_le_weight, minlength=k)
            u_row[a] = np.nan
            out["ovo_u"] = u_row
            if k_present > 1:
                a_given = u_row / (st.n_pos * np.maximum(n_pos, 1))  # A(a|b) for every b
                a_given[~present] = 0.0
                a_given[a] = 0.0
                # as a "negative" in A(a|g): V01 of every sample j of class g != a
                y_neg = y_true[neg]
                w = inv_n[y_neg]
                out["psi_neg"] = (st.v01 - a_given[y_neg]) * w
                # as a "positive" in A(a|b) for every b: sum_b V10^{a|b}, by cumulative
                # histograms of the negatives' placements weighted 1 / n_b
                s_lt = np.cumsum(np.bincount(le_n, weights=w, minlength=st.n_pos + 1))[: st.n_pos]
                s_le = np.cumsum(np.bincount(lt_n, weights=w, minlength=st.n_pos + 1))[: st.n_pos]
                sum_v10 = np.empty(st.n_pos)
                sum_v10[order] = (s_lt + s_le) / 2.0
                out["psi_pos"] = (sum_v10 - a_given.sum()) / st.n_pos
        if st.n_pos >= 1 and st.n_neg >= 1 and (st.n_pos + st.n_neg) > 2:
            psi = np.empty(n)
            if cluster is None:
                psi[positive] = (st.v10 - st.auc) / np.sqrt(st.n_pos * max(st.n_pos - 1, 1))
                psi[~positive] = (st.v01 - st.auc) / np.sqrt(st.n_neg * max(st.n_neg - 1, 1))
                out["var"] = float(psi @ psi)
            else:
                psi[positive] = (st.v10 - st.auc) / st.n_pos
                psi[~positive] = (st.v01 - st.auc) / st.n_neg
                totals = np.bincount(cluster, weights=psi, minlength=n_clusters)
                out["var"] = float(c_factor * (totals @ totals))
            if zt is not None and combo_weights[a].any():
                out["psi"] = psi
        return out

    for a, res in enumerate(_ordered_map(column, range(k), threads=n * k >= 2_000_000)):
        auc[a], ap[a] = res["auc"], res["ap"]
        positive = res["positive"]
        s10[a] = res.get("s10", np.nan)
        s01[a] = res.get("s01", np.nan)
        ap_se[a] = res.get("ap_se", np.nan)
        ap_df[a] = res.get("ap_df", np.nan)
        if "ap_infl" in res:
            assert zap is not None and ap_weights is not None
            for c in np.flatnonzero(ap_weights[a]):
                zap[c] += res["ap_infl"] * ap_weights[a, c]
        if "ovo_u" in res:
            ovo_u[a] = res["ovo_u"]
        if "psi_neg" in res:
            ovo_psi[~positive] += res["psi_neg"]
            ovo_psi[positive] += res["psi_pos"]
        if "var" in res:
            var[a] = res["var"]
        if "psi" in res:
            assert zt is not None and combo_weights is not None  # psi only with weights
            psi = res["psi"]
            for c in np.flatnonzero(combo_weights[a]):
                # z[:, c] += psi * w: a zero weight would add exactly 0 and is skipped
                zt[c] += psi * combo_weights[a, c]
        del res
    if zt is None:
        combo_cov = None
    elif cluster is None:
        combo_cov = zt @ zt.T
    else:
        zc = np.stack([np.bincount(cluster, weights=row, minlength=n_clusters) for row in zt])
        combo_cov = c_factor * (zc @ zc.T)
    ovo_var = np.nan
    ovo_df = np.nan
    if k_present > 1:
        # M = 2 / (K'(K'-1)) sum_{a<b} (A(a|b) + A(b|a)) / 2: each sample's share
        psi = ovo_psi / (k_present * (k_present - 1))
        shares, dfs = [], []
        for g in np.flatnonzero(present):
            if n_pos[g] < 2:
                continue
            pg = psi[y_true == g]
            shares.append(n_pos[g] / (n_pos[g] - 1) * float(((pg - pg.mean()) ** 2).sum()))
            dfs.append(n_pos[g] - 1)
        parts = np.array(shares)
        ovo_var = float(parts.sum())
        # Welch-Satterthwaite degrees of freedom of the class groups' shares of the variance
        if ovo_var > 0:
            ovo_df = float(ovo_var**2 / np.sum(parts**2 / np.array(dfs)))
    undefined = np.isnan(auc)
    s10[undefined] = np.nan
    s01[undefined] = np.nan
    return OvRSummary(
        auc, ap, n_pos, ovo_u, var, combo_cov, ovo_var, ovo_df, s10, s01, ap_se, ap_df, zap
    )


#: Worker threads for the column passes (results do not depend on it).
_THREADS = max(1, min(4, os.cpu_count() or 1))


def _ordered_map(fn, items, *, threads=True, window=None):
    """``map(fn, items)`` with the calls run on up to :data:`_THREADS` worker threads, results
    yielded in input order, and at most ``window`` results held at once (bounded memory)."""
    workers = _THREADS if threads else 1
    if workers <= 1:
        yield from map(fn, items)
        return
    window = window or workers + 1
    pending = deque()
    with ThreadPoolExecutor(workers) as ex:
        for item in items:
            pending.append(ex.submit(fn, item))
            if len(pending) >= window:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()


def ovo_from_u(ovo_u, n_pos) -> float:
    """Hand & Till's M from the pairwise U statistics; pairs with an absent class are skipped."""
    present = np.flatnonzero(np.asarray(n_pos) > 0)
    vals = []
    for i, a in enumerate(present):
        for b in present[i + 1 :]:
            vals.append((ovo_u[a, b] + ovo_u[b, a]) / (2.0 * n_pos[a] * n_pos[b]))
    return float(np.mean(vals)) if vals else np.nan


def _one_hot(y_true, n_classes):
    y_true = np.asarray(y_true)
    if y_true.ndim == 2:  # already an indicator matrix (multi-label)
        return y_true.astype(bool, copy=False)
    out = np.zeros((y_true.size, n_classes), dtype=bool)
    out[np.arange(y_true.size), y_true] = True
    return out


def roc_auc_per_class(y_true, y_score) -> np.ndarray:
    """One-vs-rest ROC AUC of every class; shape (K,); NaN for a class with no positives or no
    negatives. ``y_true`` is (n,) class codes or an (n, K) indicator matrix."""
    y_score = np.asarray(y_score, dtype=np.float64)
    y = _one_hot(y_true, y_score.shape[1])
    return np.array([binary_rank_stats(y_score[:, k], y[:, k]).auc for k in range(y.shape[1])])


def average_precision_per_class(y_true, y_score) -> np.ndarray:
    """One-vs-rest average precision of every class; NaN for a class with no positives."""
    y_score = np.asarray(y_score, dtype=np.float64)
    y = _one_hot(y_true, y_score.shape[1])
    return np.array(
        [binary_rank_stats(y_score[:, k], y[:, k]).average_precision for k in range(y.shape[1])]
    )


def _micro_counts(y, y_score):
    """For every positive entry of the pooled (n*K) problem, in sorted order: #entries < v and
    <= v, and #positives < v and <= v. Column by column (one sort each, sorted queries), so no
    n*K sort or copy is needed; the columns are counted on worker threads and the integer counts
    summed in column order (exact, whatever the number of threads)."""
    q = np.sort(y_score[y])  # sorted queries: binary searches walk memory in order

    def column(k):
        col = np.sort(y_score[:, k])
        l = np.searchsorted(col, q, side="left")
        tied = col[np.minimum(l, col.size - 1)] == q
        tied &= l < col.size
        r = l.copy()
        if tied.any():
            r[tied] = np.searchsorted(col, q[tied], side="right")
        return l, r

    lt = np.zeros(q.size, dtype=np.int64)
    le = np.zeros(q.size, dtype=np.int64)
    for l, r in _ordered_map(column, range(y_score.shape[1]), threads=y_score.size >= 2_000_000):
        lt += l
        le += r
    pos_lt = np.searchsorted(q, q, side="left")
    pos_le = np.searchsorted(q, q, side="right")
    return q, lt, le, pos_lt, pos_le


def micro_pass(y_true, y_score) -> tuple[float, float]:
    """Micro ROC AUC and micro average precision from one pass over the columns."""
    y_score = np.asarray(y_score, dtype=np.float64)
    y = _one_hot(y_true, y_score.shape[1])
    n_pos = int(y.sum())
    n_neg = y.size - n_pos
    if n_pos == 0:
        return np.nan, np.nan
    q, lt, le, pos_lt, pos_le = _micro_counts(y, y_score)
    ap = float(np.mean((n_pos - pos_lt) / (y.size - lt)))
    if n_neg == 0:
        return np.nan, ap
    auc = float((((lt - pos_lt) + (le - pos_le)) / 2.0).sum() / (n_pos * n_neg))
    return auc, ap


def micro_average_precision_influence(y_true, y_score) -> tuple[float, np.ndarray]:
    """Micro average precision (the pooled n*K one-vs-rest problem) and the influence value of
    each *sample*: the sum of the influence values (:class:`APInfluence`) of its K entries, the
    derivative of micro AP in the sample's weight. Returns ``(ap, influence)``, influence of shape
    (n,), summing to 0.

    Column by column, like :func:`micro_pass`: one sort of the positive entries and binary
    searches of each column into them, so no n*K array is sorted or held.
    """
    y_score = np.asarray(y_score, dtype=np.float64)
    y = _one_hot(y_true, y_score.shape[1])
    n, k = y_score.shape
    m = int(y.sum())
    if m == 0:
        return np.nan, np.full(n, np.nan)
    q, lt, _, pos_lt, _ = _micro_counts(y, y_score)
    a = (m - pos_lt).astype(np.float64)  # positive entries at or above each sorted positive
    t = (y.size - lt).astype(np.float64)  # entries at or above it
    b = t - a
    miss = b / t
    one_minus_ap = float(miss.mean())
    c_neg = np.cumsum(a / t**2)
    c_pos = np.cumsum(b / t**2)
    infl = np.zeros(n)
    # the positive entries (one per sample), in the sorted order of q
    rows_pos, cols_pos = np.nonzero(y)
    order = np.argsort(y_score[rows_pos, cols_pos], kind="stable")
    le_pos = np.searchsorted(q, q, side="right") - 1
    np.add.at(infl, rows_pos[order], (one_minus_ap - miss + c_pos[le_pos]) / m)

    def column(j):
        neg = ~y[:, j]
        idx = np.searchsorted(q, y_score[neg, j], side="right") - 1
        return neg, np.where(idx >= 0, -c_neg[np.maximum(idx, 0)], 0.0) / m

    for neg, d in _ordered_map(column, range(k), threads=y_score.size >= 2_000_000):
        infl[neg] += d
    return 1.0 - one_minus_ap, infl


def ap_combination_weights(n_pos) -> np.ndarray:
    """(K, 2) weights of the macro and the weighted (by support) mean of the per-class average
    precisions over the classes whose AP is defined (with positives)."""
    n_pos = np.asarray(n_pos, dtype=np.float64)
    defined = n_pos > 0
    w = np.zeros((n_pos.size, 2))
    if defined.any():
        w[defined, 0] = 1.0 / defined.sum()
        w[defined, 1] = n_pos[defined] / n_pos[defined].sum()
    return w


def micro_roc_auc(y_true, y_score) -> float:
    """ROC AUC of the pooled one-vs-rest problem (all n*K entries; scikit-learn's ``micro``)."""
    return micro_pass(y_true, y_score)[0]


def micro_average_precision(y_true, y_score) -> float:
    """Average precision of the pooled one-vs-rest problem (scikit-learn's ``micro``)."""
    return micro_pass(y_true, y_score)[1]


def roc_auc_ovo(y_true, y_score) -> float:
    """Hand & Till's multi-class AUC: the mean over class pairs (a, b) of
    ``(A(a|b) + A(b|a)) / 2``, where ``A(a|b)`` is the AUC of score column a for separating class
    a from class b (samples of other classes ignored). Pairs with an absent class are skipped.

    Equals ``roc_auc_score(..., multi_class="ovo", average="macro")`` when every class is present.
    """
    summary = ovr_pass(y_true, y_score)
    return ovo_from_u(summary.ovo_u, summary.n_pos)


def is_probability(y_score, atol: float = PROBABILITY_ATOL) -> bool:
    """True when every score is non-negative and every row sums to 1 within ``atol``
    (:data:`PROBABILITY_ATOL`, so that probabilities stored with a few decimals are accepted).

    A score then cannot exceed 1 + ``atol``; log loss clips it to 1 - eps.

    Examples
    --------
    >>> is_probability([[0.3333, 0.3333, 0.3333]])  # 4 decimals: off by 1e-4
    True
    >>> is_probability([[0.5, 0.4]])  # sums to 0.9
    False
    """
    return probability_deviation(y_score) <= atol


def probability_deviation(y_score) -> float:
    """The largest ``|row sum - 1|`` of a score matrix; inf when a score is negative or not
    finite, or the matrix is empty. Needs no (n, K) temporary."""
    y_score = np.asarray(y_score, dtype=np.float64)
    if y_score.ndim != 2 or y_score.size == 0:
        return math.inf
    if not (y_score.min() >= 0):  # also NaN
        return math.inf
    deviation = float(np.max(np.abs(y_score.sum(axis=1) - 1.0)))
    return deviation if math.isfinite(deviation) else math.inf


def log_loss(y_true, y_proba) -> float:
    """Mean negative log-likelihood of the true class, probabilities clipped to [eps, 1 - eps]
    with eps the float64 machine epsilon (scikit-learn's convention)."""
    y_proba = np.asarray(y_proba, dtype=np.float64)
    y_true = np.asarray(y_true, dtype=np.int64)
    eps = np.finfo(np.float64).eps
    p = np.clip(y_proba[np.arange(y_true.size), y_true], eps, 1 - eps)
    return float(-np.mean(np.log(p)))


def brier(y_true, y_proba) -> float:
    """Brier's original multi-class score: mean over samples of sum_k (p_k - y_k)^2 (0 to 2)."""
    return float(np.mean(brier_per_sample(y_true, y_proba)))


def brier_per_sample(y_true, y_proba) -> np.ndarray:
    """sum_k (p_k - y_k)^2 of every sample, as sum_k p_k^2 - 2 p_true + 1 (no (n, K) temporary)."""
    y_proba = np.asarray(y_proba, dtype=np.float64)
    y_true = np.asarray(y_true, dtype=np.int64)
    sq = np.einsum("ij,ij->i", y_proba, y_proba)
    return sq - 2.0 * y_proba[np.arange(y_true.size), y_true] + 1.0


def classes_above_true(y_true, y_score, *, chunk: int = 65536) -> np.ndarray:
    """How many classes rank above each sample's true class (int, shape (n,)).

    Ties are broken as scikit-learn's ``top_k_accuracy_score`` breaks them: among equal scores the
    class with the larger index ranks first. One pass serves every k: a sample is a top-k hit when
    fewer than k classes rank above its true class.
    """
    y_true = np.asarray(y_true, dtype=np.int64)
    y_score = np.asarray(y_score, dtype=np.float64)
    n, n_classes = y_score.shape
    idx = np.arange(n_classes)
    out = np.empty(n, dtype=np.int64)
    for start in range(0, n, chunk):  # bounded memory: chunk x K booleans at a time
        s = y_score[start : start + chunk]
        t = y_true[start : start + chunk]
        true_score = s[np.arange(t.size), t][:, None]
        above = (s > true_score) | ((s == true_score) & (idx[None, :] > t[:, None]))
        out[start : start + chunk] = above.sum(axis=1)
    return out


def top_k_hits(y_true, y_score, k: int, *, above=None) -> np.ndarray:
    """Whether the true class is among the k highest scores, per sample (bool, shape (n,));
    ``above`` (from :func:`classes_above_true`) avoids recomputing the ranks."""
    if above is None:
        above = classes_above_true(y_true, y_score)
    return np.asarray(above) < k


def top_k_accuracy(y_true, y_score, k: int) -> float:
    """Fraction of samples whose true class is among the k highest scores."""
    return float(np.mean(top_k_hits(y_true, y_score, k)))


def roc_curve(scores, positive):
    """ROC curve of a binary problem at every distinct threshold (no points dropped).

    Returns ``(fpr, tpr, thresholds)`` with thresholds decreasing and a first point at (0, 0) for
    threshold +inf, like ``sklearn.metrics.roc_curve(..., drop_intermediate=False)``.
    """
    scores = np.asarray(scores, dtype=np.float64)
    positive = np.asarray(positive, dtype=bool)
    order = np.argsort(-scores, kind="stable")
    s = scores[order]
    y = positive[order]
    distinct = np.flatnonzero(np.diff(s)) if s.size else np.array([], dtype=int)
    last = np.r_[distinct, s.size - 1] if s.size else np.array([], dtype=int)
    tps = np.cumsum(y)[last]
    fps = (last + 1) - tps
    tps = np.r_[0, tps]
    fps = np.r_[0, fps]
    thresholds = np.r_[np.inf, s[last]]
    n_pos, n_neg = tps[-1], fps[-1]
    with np.errstate(divide="ignore", invalid="ignore"):
        fpr = fps / n_neg if n_neg else np.full(fps.shape, np.nan)
        tpr = tps / n_pos if n_pos else np.full(tps.shape, np.nan)
    return fpr, tpr, thresholds


def precision_recall_curve(scores, positive):
    """Precision-recall curve at every distinct threshold, from the highest threshold down.

    Returns ``(precision, recall, thresholds)`` ordered by *decreasing* threshold, without the
    artificial (recall 0, precision 1) end point that scikit-learn appends.
    """
    scores = np.asarray(scores, dtype=np.float64)
    positive = np.asarray(positive, dtype=bool)
    order = np.argsort(-scores, kind="stable")
    s = scores[order]
    y = positive[order]
    last = np.r_[np.flatnonzero(np.diff(s)), s.size - 1]
    tps = np.cumsum(y)[last]
    total = last + 1
    n_pos = tps[-1] if tps.size else 0
    precision = tps / total
    with np.errstate(divide="ignore", invalid="ignore"):
        recall = tps / n_pos if n_pos else np.full(tps.shape, np.nan)
    return precision, recall, s[last]


def micro_roc_curve(y_true, y_score):
    """ROC curve of the pooled (n*K entries) one-vs-rest problem."""
    y_score = np.asarray(y_score, dtype=np.float64)
    y = _one_hot(y_true, y_score.shape[1])
    return roc_curve(y_score.ravel(), y.ravel())


def macro_roc_curve(y_true, y_score, fpr_grid=None):
    """Macro-averaged ROC curve: the mean over classes of TPR, each class's ROC curve linearly
    interpolated on a common FPR grid (by default the union of every class's FPR values).

    This curve is a different object from the macro ROC AUC: the area under the averaged curve is
    not, in general, the mean of the per-class areas. Classes without positives or negatives are
    left out. Returns ``(fpr_grid, mean_tpr)``.
    """
    y_score = np.asarray(y_score, dtype=np.float64)
    y = _one_hot(y_true, y_score.shape[1])
    curves = []
    for k in range(y.shape[1]):
        if y[:, k].all() or not y[:, k].any():
            continue
        fpr, tpr, _ = roc_curve(y_score[:, k], y[:, k])
        curves.append((fpr, tpr))
    if not curves:
        return np.array([0.0, 1.0]), np.full(2, np.nan)
    if fpr_grid is None:
        fpr_grid = np.unique(np.concatenate([c[0] for c in curves]))
    fpr_grid = np.asarray(fpr_grid, dtype=np.float64)
    mean_tpr = np.mean([np.interp(fpr_grid, f, t) for f, t in curves], axis=0)
    return fpr_grid, mean_tpr


def pr_envelope(precision, recall, grid):
    """Interpolated precision on a recall grid: the highest precision at any recall >= r (the
    usual monotone envelope of a precision-recall curve)."""
    order = np.argsort(recall)
    r = recall[order]
    p = precision[order]
    # running maximum from the right: best precision at recall >= r
    best = np.maximum.accumulate(p[::-1])[::-1]
    idx = np.searchsorted(r, grid, side="left")
    out = np.where(idx < r.size, best[np.minimum(idx, r.size - 1)], np.nan)
    return out


def curve_summary(
    y_true, y_score, *, n_points: int = 101, max_entries: int = 2_000_000, rng=None
) -> dict:
    """Micro- and macro-averaged ROC and precision-recall curves on fixed grids, JSON-ready.

    ROC: TPR on an FPR grid of ``n_points`` (macro: the mean over classes of each class's ROC
    curve interpolated on the grid, a different object from the macro AUC). PR: interpolated
    precision (the monotone envelope) on a recall grid; macro is the mean over classes. Classes
    without positives or negatives are left out of the macro curves. When n * K exceeds
    ``max_entries`` the curves are drawn from a random subsample of samples, and ``method`` says so.
    """
    y_true = np.asarray(y_true, dtype=np.int64)
    y_score = np.asarray(y_score, dtype=np.float64)
    n, k = y_score.shape
    method = "exact"
    if n * k > max_entries:
        rng = np.random.default_rng(rng)
        m = max(1000, max_entries // k)
        idx = np.sort(rng.choice(n, size=min(m, n), replace=False))
        y_true, y_score = y_true[idx], y_score[idx]
        method = f"from a random subsample of {idx.size} of {n} samples (plotting only)"
    y = _one_hot(y_true, k)
    grid = np.linspace(0.0, 1.0, n_points)
    fpr, tpr, _ = micro_roc_curve(y_true, y_score)
    micro_tpr = np.interp(grid, fpr, tpr)
    _, macro_tpr = macro_roc_curve(y_true, y_score, fpr_grid=grid)
    p, r, _ = precision_recall_curve(y_score.ravel(), y.ravel())
    micro_prec = pr_envelope(p, r, grid)
    per_class = []
    for j in range(k):
        if y[:, j].any() and not y[:, j].all():
            pj, rj, _ = precision_recall_curve(y_score[:, j], y[:, j])
            per_class.append(pr_envelope(pj, rj, grid))
    macro_prec = np.mean(per_class, axis=0) if per_class else np.full(n_points, np.nan)

    def js(a):
        return [None if not np.isfinite(v) else float(v) for v in a]

    return {
        "method": method,
        "roc": {"fpr": js(grid), "micro": {"tpr": js(micro_tpr)}, "macro": {"tpr": js(macro_tpr)}},
        "pr": {
            "recall": js(grid),
            "micro": {"precision": js(micro_prec)},
            "macro": {"precision": js(macro_prec)},
        },
        "bands": None,
    }


class _SortedColumn:
    """One binary problem sorted once by decreasing score, with its tie groups, so that weighted
    (bootstrap) curves cost two cumulative sums each."""

    def __init__(self, scores, positive, sample_index):
        order = np.argsort(-scores, kind="stable")
        s = scores[order]
        self.pos = positive[order]
        self.sample = sample_index[order]
        self.last = np.r_[np.flatnonzero(np.diff(s)), s.size - 1] if s.size else np.zeros(0, int)

    def curves(self, w, grid):
        """(TPR on the FPR grid, interpolated precision on the recall grid) for sample weights
        ``w``; None when the weighted problem has no positive or no negative."""
        we = w[self.sample]
        total = np.cumsum(we)[self.last]
        np.multiply(we, self.pos, out=we)
        tp = np.cumsum(we)[self.last]
        fp = total - tp  # exact: the weights are whole numbers
        n_pos, n_neg = tp[-1], fp[-1]
        if n_pos <= 0 or n_neg <= 0:
            return None
        tpr = np.concatenate(([0.0], tp / n_pos))
        fpr = np.concatenate(([0.0], fp / n_neg))
        keep = (tp + fp) > 0
        prec = tp[keep] / (tp[keep] + fp[keep])
        recall = tp[keep] / n_pos  # non-decreasing along the thresholds: no sort needed
        best = np.maximum.accumulate(prec[::-1])[::-1]
        idx = np.searchsorted(recall, grid, side="left")
        envelope = np.where(idx < recall.size, best[np.minimum(idx, recall.size - 1)], np.nan)
        return np.interp(grid, fpr, tpr), envelope


def curve_bands(
    y_true,
    y_score,
    *,
    n_resamples: int = 200,
    confidence_level: float = 0.95,
    resampling: str = "stratified",
    n_points: int = 101,
    rng=None,
    max_work: float = 2e7,
) -> dict:
    """Pointwise percentile bands of the micro and macro ROC and precision-recall curves of
    :func:`curve_summary`, from a bootstrap over samples (stratified by true class, or simple).

    Every replicate reweights the same sorted columns (a sample drawn c times counts c times), so
    nothing is re-sorted. The bands are pointwise (at each grid value, not simultaneous for the
    whole curve). When n * K * ``n_resamples`` exceeds ``max_work`` no bands are computed (the
    curves of large inputs are drawn from a subsample, whose variability is not the data's), and
    the result says so in ``note``.
    """
    y_true = np.asarray(y_true, dtype=np.int64)
    y_score = np.asarray(y_score, dtype=np.float64)
    n, k = y_score.shape
    level = float(confidence_level)
    method = (
        f"pointwise percentile bands, {n_resamples} {resampling} bootstrap replicates over samples"
    )
    if n * k * n_resamples > max_work:
        return {
            "method": None,
            "level": level,
            "note": (
                f"no bands: {n} samples x {k} classes x {n_resamples} replicates is above the limit "
                f"of {max_work:.0e} for curve bands"
            ),
        }
    rng = np.random.default_rng(rng)
    grid = np.linspace(0.0, 1.0, n_points)
    y = _one_hot(y_true, k)
    samples = np.arange(n)
    micro = _SortedColumn(y_score.ravel(), y.ravel(), np.repeat(samples, k))
    columns = [
        _SortedColumn(y_score[:, j], y[:, j], samples)
        for j in range(k)
        if y[:, j].any() and not y[:, j].all()
    ]
    members = [np.flatnonzero(y_true == c) for c in range(k)]
    reps: dict[tuple[str, str], list] = {
        ("roc", "micro"): [],
        ("roc", "macro"): [],
        ("pr", "micro"): [],
        ("pr", "macro"): [],
    }
    with warnings.catch_warnings():
        # a class's precision envelope is NaN above its largest recall in a replicate
        warnings.simplefilter("ignore", RuntimeWarning)
        _band_replicates(micro, columns, members, n, n_resamples, resampling, rng, grid, reps)
    alpha = 1.0 - level

    def js(a):
        return [None if not np.isfinite(v) else float(v) for v in a]

    out: dict[str, Any] = {"method": method, "level": level, "n_resamples": n_resamples}
    for (kind, avg), values in reps.items():
        if len(values) < max(10, n_resamples // 2):
            return {
                "method": None,
                "level": level,
                "note": "no bands: too few bootstrap replicates had both classes",
            }
        arr = np.asarray(values)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN grid points stay NaN
            lo = np.nanquantile(arr, alpha / 2, axis=0)
            hi = np.nanquantile(arr, 1 - alpha / 2, axis=0)
        out.setdefault(kind, {})[avg] = {"ci_low": js(lo), "ci_high": js(hi)}
    return out


def _band_replicates(micro, columns, members, n, n_resamples, resampling, rng, grid, reps):
    for _ in range(n_resamples):
        if resampling == "stratified":
            w = np.zeros(n)
            for idx in members:
                if idx.size:
                    w[idx] = np.bincount(rng.integers(0, idx.size, idx.size), minlength=idx.size)
        else:
            w = np.bincount(rng.integers(0, n, n), minlength=n).astype(float)
        m = micro.curves(w, grid)
        per = [c.curves(w, grid) for c in columns]
        per = [p for p in per if p is not None]
        if m is None or not per:
            continue
        reps[("roc", "micro")].append(m[0])
        reps[("pr", "micro")].append(m[1])
        reps[("roc", "macro")].append(np.mean([p[0] for p in per], axis=0))
        reps[("pr", "macro")].append(np.nanmean([p[1] for p in per], axis=0))


# ------------------------------------------------------------------------------------------------
# every score metric of an audit from one pass


def auc_combination_weights(n_pos, n_samples) -> np.ndarray:
    """(K, 2) weights of the macro and the weighted (by support) mean of the per-class AUCs over
    the classes whose AUC is defined (positives and negatives both present)."""
    n_pos = np.asarray(n_pos, dtype=np.float64)
    defined = (n_pos > 0) & (n_pos < n_samples)
    w = np.zeros((n_pos.size, 2))
    if defined.any():
        w[defined, 0] = 1.0 / defined.sum()
        w[defined, 1] = n_pos[defined] / n_pos[defined].sum()
    return w


def score_statistics(y_true, y_score, *, probabilities: bool, cluster=None, extra_weights=None):
    """Point estimates of every score metric, and the :class:`OvRSummary` of the one pass over
    the columns (it holds DeLong's components, so the interval stage does not rank the scores
    again). Returns ``(stats, summary)``.

    ``extra_weights`` (K, m) adds linear combinations of the per-class AUCs (e.g. the strata's
    macro AUCs) to the DeLong covariance of the pass. Log loss and Brier score are computed only
    when ``probabilities``.
    """
    y_true = np.asarray(y_true, dtype=np.int64)
    s = np.asarray(y_score, dtype=np.float64)
    n, k = s.shape
    out: dict[str, Any] = {}
    n_pos = np.bincount(y_true, minlength=k)
    weights = auc_combination_weights(n_pos, n)
    if extra_weights is not None:
        weights = np.concatenate([weights, extra_weights], axis=1)
    summary = ovr_pass(
        y_true, s, combo_weights=weights, cluster=cluster, ap_weights=ap_combination_weights(n_pos)
    )
    auc, ap = summary.auc, summary.average_precision
    out["per_class.roc_auc"] = auc
    out["per_class.average_precision"] = ap
    out["macro.roc_auc"] = M.macro(auc)
    out["weighted.roc_auc"] = M.weighted(auc, n_pos)
    out["macro.average_precision"] = M.macro(ap)
    out["weighted.average_precision"] = M.weighted(ap, n_pos)
    micro_auc, micro_ap = micro_pass(y_true, s)
    out["micro.roc_auc"] = np.float64(micro_auc)
    out["micro.average_precision"] = np.float64(micro_ap)
    out["overall.roc_auc_ovo"] = np.float64(ovo_from_u(summary.ovo_u, n_pos))
    if k > 3:
        above = classes_above_true(y_true, s)  # one pass for every k
        out["_classes_above_true"] = above
        for kk in (3, 5):
            if k > kk:
                out[f"overall.top_{kk}_accuracy"] = np.float64(np.mean(above < kk))
    if probabilities:
        out["overall.log_loss"] = np.float64(log_loss(y_true, s))
        out["overall.brier"] = np.float64(brier(y_true, s))
    return out, summary
