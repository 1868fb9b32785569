"""What the label metrics will be at the deployment's class prevalences (label shift).

Under label shift, p(x | y) is the same where the model is deployed, only the class prevalences
change: each true class's row of the confusion matrix, as proportions ``q_ij = cm_ij / n_i``, is a
property of the classifier and carries over. At target prevalences ``pi'`` the expected confusion
matrix (per sample) is ``M'_ij = pi'_i q_ij`` (Bayes' rule on the rows), and every label metric at
the target is :func:`~prevalens.metrics.count_statistics` of ``M'``: recall is unchanged;
precision, NPV, F1, accuracy, kappa, MCC and the micro and macro averages move with ``pi'``.
Specificity of class j moves too when the mix of the other classes changes (it is unchanged for
K = 2). A class with target prevalence above 0 and no sample cannot be projected (its row is
unknown) and is refused.

Intervals come from the stratified count bootstrap's draws (the audit's own draws, from the
same streams, when the audit resamples stratified): a replicate's rows give its ``M'_b``, with
BCa from the exact jackknife of the cells (removing a sample changes one row's proportions); with
a cluster column, the leave-one-cluster-out jackknife with t(Kish - 1), as for the audit's label
metrics. The target prevalences are fixed: the intervals are the uncertainty of the rows'
proportions, not of the target.

The sweep: the same headline metrics when the rarest stratum's classes are F times as prevalent
as observed (F from 0.1 to 10, the other classes rescaled to keep the total 1).
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
from scipy import sparse, special

from .. import metrics as M
from ..counts import Tables, is_sparse, row_sums
from ..exceptions import ConfigError
from ..intervals import (
    PROPORTION_INTERVALS,
    interval_from_replicates,
    jackknife_t_interval,
    midp_interval,
    mover_linear,
    mover_ratio,
)
from ..results import Estimate, PrevalenceShift, ShiftClass, SweepPoint
from ..uncertainty import _draw_tables, jackknife_counts
from .context import Context, estimate_from_interval, point_only

__all__ = [
    "analyse_shift",
    "shift_finding",
    "target_prevalence",
    "is_scenario",
    "SCENARIOS",
    "HEADLINE",
    "SWEEP_FACTORS",
]

#: Named targets: every class equally prevalent, or the rarest stratum scaled by a factor.
SCENARIOS = ("uniform", "rare*F")

#: The headline metrics projected to the target (keys of count_statistics). Macro recall
#: (balanced accuracy) is left out: it carries over unchanged, like every class's recall.
HEADLINE = (
    "overall.accuracy",
    "macro.precision",
    "macro.f1",
    "weighted.f1",
    "overall.cohen_kappa",
    "overall.mcc",
)
#: The per-class metrics projected (recall carries over unchanged).
PER_CLASS = ("precision", "npv", "f1", "specificity")
#: The sweep's factors on the rarest stratum's prevalences and its metrics.
SWEEP_FACTORS = (0.1, 0.25, 0.5, 1.0, 2.0, 4.0, 10.0)
SWEEP_METRICS = ("overall.accuracy", "macro.precision", "macro.f1")

ASSUMPTION = (
    "label shift: each class's samples look the same where the model is deployed (p(x | y) "
    "unchanged), only the class prevalences differ; recall carries over, the other metrics are "
    "recomputed at the target prevalences by Bayes' rule on the confusion matrix's rows"
)

#: The jackknife for BCa is formed when its (members x classes x targets) array stays below this;
#: beyond, the percentile interval of the same replicates is used (and said).
_JACKKNIFE_CELLS = 30_000_000
_RARE = re.compile(
    r"^\s*rare\s*[*x×]\s*((?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:e[-+]?[0-9]+)?)\s*$", re.IGNORECASE
)


# ------------------------------------------------------------------------------------------------
# the target


def is_scenario(text: str) -> bool:
    """Whether ``text`` names a scenario ("uniform", "rare*F") rather than a file."""
    return text.strip().lower() == "uniform" or _RARE.match(text) is not None


def target_prevalence(spec, classes, support, scaled_mask) -> tuple[np.ndarray, str]:
    """``(pi', source)``: the target prevalence of every class and how it was given.

    ``spec`` is ``"uniform"``, ``"rare*F"`` (the classes of ``scaled_mask``, the rarest stratum,
    F times as prevalent, the others rescaled) or a mapping ``{class: prevalence}`` (every class
    with samples, values >= 0, normalised to sum 1 when they do not). Raises ConfigError naming
    the class or value at fault."""
    support = np.asarray(support, dtype=np.float64)
    k = len(classes)
    n = support.sum()
    observed = support / n
    if isinstance(spec, str):
        text = spec.strip()
        if text.lower() == "uniform":
            present = support > 0
            pi = np.where(present, 1.0 / present.sum(), 0.0)
            return pi, "uniform: every class with samples equally prevalent"
        m = _RARE.match(text)
        if m:
            factor = float(m.group(1))
            scaled = _scaled(observed, scaled_mask, factor)
            if scaled is None and not observed[~scaled_mask].sum() > 0:
                raise ConfigError(
                    f"deployment_prevalence {spec!r}: every class with samples is in the rarest "
                    "stratum, so there is nothing to scale it against; give 'uniform' or the "
                    "prevalences per class"
                )
            if scaled is None:
                raise ConfigError(
                    f"deployment_prevalence {spec!r}: the rarest stratum holds "
                    f"{observed[scaled_mask].sum():.3g} of the samples, so a factor of "
                    f"{factor:g} leaves nothing for the other classes; give a smaller factor"
                )
            return (
                scaled,
                f"rare*{factor:g}: the rarest stratum's classes {factor:g} times as prevalent",
            )
        raise ConfigError(
            f"deployment_prevalence {spec!r}: give 'uniform', 'rare*F' (e.g. rare*0.5) or a "
            "file mapping each class to its prevalence (CSV with columns class,prevalence, or "
            "JSON)"
        )
    if not isinstance(spec, Mapping):
        raise ConfigError(
            f"deployment_prevalence must be 'uniform', 'rare*F' or a mapping {{class: "
            f"prevalence}}; got {type(spec).__name__}"
        )
    index = {str(c): j for j, c in enumerate(classes)}
    pi = np.zeros(k)
    seen = np.zeros(k, dtype=bool)
    given: dict = {}
    for label in spec:
        if str(label) in given:
            raise ConfigError(
                f"deployment_prevalence names class {label!r} twice (as {given[str(label)]!r} "
                f"and {label!r}); give each class once"
            )
        given[str(label)] = label
    for label, value in spec.items():
        j = index.get(str(label))
        if j is None:
            raise ConfigError(
                f"deployment_prevalence names class {label!r}, which is not among the audited "
                f"classes ({', '.join(repr(c) for c in classes[:8])}{', ...' if k > 8 else ''})"
            )
        try:
            v = float(value)
        except (TypeError, ValueError):
            raise ConfigError(
                f"deployment_prevalence of class {label!r} is {value!r}; give a number >= 0"
            ) from None
        if not math.isfinite(v) or v < 0:
            raise ConfigError(
                f"deployment_prevalence of class {label!r} is {v}; give a number >= 0"
            )
        pi[j] = v
        seen[j] = True
    missing = [classes[j] for j in range(k) if not seen[j] and support[j] > 0]
    if missing:
        raise ConfigError(
            f"deployment_prevalence gives no prevalence for class {missing[0]!r}"
            + (f" (and {len(missing) - 1} more)" if len(missing) > 1 else "")
            + "; give every class (0 for a class that does not occur there)"
        )
    total = pi.sum()
    if total <= 0:
        raise ConfigError("deployment_prevalence is 0 for every class; give positive prevalences")
    note = "" if abs(total - 1) <= 1e-9 else f" (normalised from a total of {total:.6g})"
    return pi / total, f"given per class{note}"


def _scaled(observed, mask, factor) -> np.ndarray | None:
    """Prevalences with the ``mask`` classes ``factor`` times as prevalent, the others rescaled
    to keep the total 1 (None when that is impossible)."""
    share = observed[mask].sum()
    rest = observed[~mask].sum()
    new_share = factor * share
    if new_share >= 1.0 or rest <= 0:
        return None
    out = np.where(mask, observed * factor, observed * (1.0 - new_share) / rest)
    return out / out.sum()


# ------------------------------------------------------------------------------------------------
# the metrics at a target, from row proportions


def target_tables(diag, predw, pi) -> Tables:
    """One-vs-rest tables (per sample) at target prevalences ``pi`` (K,) from each class's
    recall ``diag`` (..., K) and the predicted mass ``predw`` (..., K) = sum_i pi_i q_ij."""
    tp = pi * diag
    fp = predw - tp
    fn = pi - tp
    tn = 1.0 - pi - fp
    return Tables(tp, fp, fn, tn)


def _rows(cm) -> tuple[np.ndarray, np.ndarray]:
    """Row proportions ``q`` (K, K) (0 in rows without samples) and supports."""
    dense = cm.toarray() if is_sparse(cm) else np.asarray(cm)
    n = dense.sum(axis=1).astype(np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        q = np.where(n[:, None] > 0, dense / np.where(n > 0, n, 1.0)[:, None], 0.0)
    return q, n


def _stats_at(diag, predw, pi, keys) -> dict:
    """The statistics ``keys`` (of :func:`~prevalens.metrics.count_statistics`) at target ``pi``,
    each computed once, and only those (the sweep needs three of them)."""
    tables = target_tables(diag, predw, pi)
    cache: dict = {}

    def get(key):
        if key not in cache:
            cache[key] = M.count_statistic(key, tables, get)
        return cache[key]

    return {key: get(key) for key in keys}


# ------------------------------------------------------------------------------------------------
# replicates: the stratified draws, accumulated for several targets at once


def _stratified(cm, n_resamples: int, rng, row_weights: np.ndarray):
    """The stratified bootstrap's rows (the draws of
    :func:`~prevalens.uncertainty.CountBootstrap.run`: one stream per true class, spawned from
    ``rng``) as each class's recall (B, K) and the weighted column sums (m, B, K) of
    ``row_weights`` (m, K) (:func:`~prevalens.uncertainty._draw_tables` with its
    ``row_weights``): for an audit that did not draw them itself (simple resampling)."""
    drawn = _draw_tables(
        cm, n_resamples, rng, scheme="stratified", draw_cells=1 << 62, row_weights=row_weights
    )
    return _recall_of(drawn, cm), drawn.weighted


def _recall_of(drawn, cm) -> np.ndarray:
    n = row_sums(cm).astype(np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(n > 0, drawn.tp / np.where(n > 0, n, 1.0), 0.0)


def _jackknife(cm, q, n, targets):
    """The exact jackknife over samples: one member per non-zero cell (i, j) (weight cm_ij),
    where class i's row loses one sample. Returns member recall (J, K), predicted mass (J, K, T),
    weights and strata (true class), or None when too large."""
    k = cm.shape[0]
    cells, weights = jackknife_counts(cm)
    if cells.size * k * targets.shape[0] > _JACKKNIFE_CELLS:
        return None
    rows, cols = np.divmod(cells, k)
    dense = cm.toarray() if is_sparse(cm) else np.asarray(cm)
    n_r = n[rows]
    with np.errstate(invalid="ignore", divide="ignore"):
        new_n = np.where(n_r > 1, n_r - 1, np.nan)  # a row left empty: its class is unknown
        new_q = dense[rows].astype(np.float64)
        new_q[np.arange(rows.size), cols] -= 1
        new_q /= new_n[:, None]
    delta = new_q - q[rows]  # (J, K): the change of row i's proportions
    predw0 = q.T @ targets.T  # (K, T): sum_i targets[t, i] q_ij
    predw = predw0[None] + delta[:, :, None] * targets[:, rows].T[:, None, :]
    diag = np.broadcast_to(np.diag(q), (rows.size, k)).copy()
    diag[np.arange(rows.size), rows] = new_q[np.arange(rows.size), rows]
    return diag, predw, weights, rows


def _clusters(cluster_cells, cm, targets):
    """Leave-one-cluster-out members: recall (J, K), predicted mass (J, K, T), weights."""
    from ..uncertainty import _cluster_jackknife

    patterns, weights = _cluster_jackknife(None, None, None, cm.shape[0], cells=cluster_cells)
    diag, predw = _cluster_members(patterns, cm, targets)
    return diag, predw, weights


def _cluster_members(patterns, cm, targets):
    """Recall (J, K) and predicted mass (J, K, T) of ``cm`` less each member's cells
    ``patterns`` (sparse J x K^2)."""
    k = cm.shape[0]
    dense = np.asarray(cm.toarray() if is_sparse(cm) else cm, dtype=np.float64)
    diags, preds = [], []
    for s in range(0, patterns.shape[0], 256):
        block = dense[None] - np.asarray(patterns[s : s + 256].toarray()).reshape(-1, k, k)
        n = block.sum(axis=2)
        with np.errstate(invalid="ignore", divide="ignore"):
            q = np.where(n[:, :, None] > 0, block / n[:, :, None], np.nan)
        # a class whose every sample is in the left-out cluster: unknown where it is needed
        q = np.where(np.isnan(q) & (targets.max(axis=0)[None, :, None] == 0), 0.0, q)
        diags.append(np.diagonal(q, axis1=1, axis2=2))
        preds.append(np.einsum("mij,ti->mjt", q, targets))
    return np.concatenate(diags), np.concatenate(preds)


# ------------------------------------------------------------------------------------------------
# per-class ratios by MOVER: valid where a row's cell is 0 (the bootstrap cannot vary it)

#: The one-proportion limits MOVER combines (mid-p: coverage 0.94-0.97 in the simulation of
#: tests/shift_sims.py, where Wilson's covered 0.91-0.95 for the classes of 20-40 samples).
MOVER_LIMITS = "mid-p"


def _ratio_limits(x, lx, ux, y, ly, uy):
    """Limits of ``x / (x + y)`` for independent ``x, y >= 0`` from their own limits.

    MOVER-R for ``r = y / x`` mapped by ``1 / (1 + r)``, which is tight for a ratio near 1; where
    a limit of r is undefined (x's interval reaches 2x, e.g. a class of low recall), MOVER-R for
    ``s = x / y`` mapped by ``s / (1 + s)`` instead, rather than the trivial limit."""
    lr, ur, ok_lr, ok_ur = mover_ratio(y, ly, uy, x, lx, ux)
    ls, us, ok_ls, ok_us = mover_ratio(x, lx, ux, y, ly, uy)
    with np.errstate(invalid="ignore", divide="ignore"):
        hi = np.where(ok_lr, 1.0 / (1.0 + lr), np.where(ok_us, us / (1.0 + us), 1.0))
        lo = np.where(ok_ur, 1.0 / (1.0 + ur), np.where(ok_ls, ls / (1.0 + ls), 0.0))
        # x = 0 (e.g. recall 0): the ratio is 0 unless y is too; its upper limit from x's
        zero = x <= 0
        lo = np.where(zero, 0.0, lo)
        hi = np.where(zero, np.where(ux + ly > 0, ux / (ux + ly), 1.0), hi)
    return np.minimum(lo, hi), np.maximum(lo, hi)


def _cell_limits(dense, n, alpha):
    """Mid-p limits of every cell's proportion ``cm_ij / n_i`` (0 in rows without samples). A
    zero cell (most of a large matrix) has the closed form [0, 1 - alpha^(1/n)] (and a full row
    cell its mirror); the others are found by the mid-p search."""
    k = dense.shape[0]
    nn = np.broadcast_to(n[:, None], (k, k))
    lo = np.zeros((k, k))
    hi = np.zeros((k, k))
    with np.errstate(invalid="ignore", divide="ignore"):
        zero = (dense == 0) & (nn > 0)
        full = (dense == nn) & (nn > 0)
        hi[zero] = 1.0 - alpha ** (1.0 / nn[zero])
        lo[full] = alpha ** (1.0 / nn[full])
        hi[full] = 1.0
    rest = (nn > 0) & ~zero & ~full
    if rest.any():
        l_, h_ = PROPORTION_INTERVALS[MOVER_LIMITS](dense[rest], nn[rest], alpha=alpha)
        lo[rest], hi[rest] = l_, h_
    return lo, hi


def _cluster_cell_limits(cluster_cells, k: int, alpha: float):
    """Cluster-robust mid-p limits of every cell's proportion ``q_ij``: Korn & Graubard's
    effective number of trials from the CR2 variance of the ratio over the clusters holding row
    i's samples (:func:`~prevalens.intervals.cluster_ratio_interval`), scaled by (z / t)^2 with
    t(Kish - 1), and the mid-p interval at those trials. A cell without samples (variance 0)
    counts each cluster as one trial: its upper limit is that of 0 in C_i trials, wider than
    the rows would give. Returns ``(lo, hi)`` (K, K); NaN where fewer than two clusters hold the
    row."""
    cells = sparse.csr_matrix(cluster_cells)
    lo = np.full((k, k), np.nan)
    hi = np.full((k, k), np.nan)
    z = special.ndtri(1 - alpha / 2)
    for i in range(k):
        block = cells[:, i * k : (i + 1) * k]
        size = np.asarray(block.sum(axis=1)).ravel()
        keep = size > 0
        if not keep.any():
            continue
        y = np.asarray(block[keep].toarray(), dtype=np.float64)
        n = np.broadcast_to(size[keep][:, None].astype(np.float64), y.shape)
        total = n.sum(axis=0)
        clusters = (n > 0).sum(axis=0)
        with np.errstate(invalid="ignore", divide="ignore"):
            r = y.sum(axis=0) / total
            kish = total**2 / (n**2).sum(axis=0)
            h = np.minimum(n / total, 0.999)
            var = ((y - r * n) ** 2 / (1 - h)).sum(axis=0) / total**2
            q = special.stdtrit(np.maximum(kish - 1, 1.0), 1 - alpha / 2)
            inner = (r > 0) & (r < 1) & (var > 0)
            trials = np.where(inner, np.minimum(r * (1 - r) / var, total), clusters) * (z / q) ** 2
        l_, h_ = midp_interval(r * trials, trials, alpha=alpha)
        ok = clusters >= 2
        lo[i] = np.where(ok, l_, np.nan)
        hi[i] = np.where(ok, h_, np.nan)
    return lo, hi


def mover_per_class(cm, pi, alpha: float, limits=None) -> dict:
    """``{metric: (low, high)}`` of every class's precision, NPV and specificity at target
    prevalences ``pi``: each row's proportions ``q_ij`` get mid-p limits (rows are independent
    under stratified sampling), sums over rows MOVER, and the ratios MOVER-R:

    * precision = A / (A + F), A = pi_j r_j, F = sum_{i != j} pi_i q_ij;
    * NPV = T / (T + G), T = sum_{i != j} pi_i (1 - q_ij), G = pi_j (1 - r_j);
    * specificity = 1 - F / (1 - pi_j).
    """
    dense = np.asarray(cm.toarray() if is_sparse(cm) else cm, dtype=np.float64)
    k = dense.shape[0]
    n = dense.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        qh = np.where(n[:, None] > 0, dense / np.where(n > 0, n, 1.0)[:, None], 0.0)
    lo, hi = _cell_limits(dense, n, alpha) if limits is None else limits
    out = {m: (np.full(k, np.nan), np.full(k, np.nan)) for m in ("precision", "npv", "specificity")}
    for j in range(k):
        others = np.array([i for i in range(k) if i != j and pi[i] > 0], dtype=np.int64)
        w = pi[others]
        lf, uf, f = mover_linear(qh[others, j], lo[others, j], hi[others, j], w)
        rest = 1.0 - pi[j]
        if rest > 0:  # specificity needs only the other classes' rows
            out["specificity"][0][j] = max(0.0, 1.0 - uf / rest)
            out["specificity"][1][j] = min(1.0, 1.0 - lf / rest)
        if pi[j] <= 0 or n[j] <= 0:
            continue
        a, la, ua = pi[j] * qh[j, j], pi[j] * lo[j, j], pi[j] * hi[j, j]
        out["precision"][0][j], out["precision"][1][j] = _ratio_limits(a, la, ua, f, lf, uf)
        lt, ut, t = mover_linear(1 - qh[others, j], 1 - hi[others, j], 1 - lo[others, j], w)
        g, lg, ug = pi[j] - a, pi[j] - ua, pi[j] - la
        out["npv"][0][j], out["npv"][1][j] = _ratio_limits(t, lt, ut, g, lg, ug)
    return out


# ------------------------------------------------------------------------------------------------
# the analysis


@dataclass(frozen=True)
class ShiftPlan:
    """The targets of a projection, known before the bootstrap draws (which accumulate the
    rows' weighted sums for them): the target ``pi`` and how it was given, the sweep's
    ``factors``, the rarest stratum present (``scaled``, its index ``stratum``), and every target
    as ``coefs @ basis`` with ``basis`` = (pi, observed on the rarest stratum, observed on the
    rest): three weighted sums serve the target and the whole sweep."""

    pi: np.ndarray
    source: str
    factors: tuple
    scaled: np.ndarray
    stratum: int
    basis: np.ndarray  # (3, K)
    coefs: np.ndarray  # (T, 3): target 0 is pi, then the sweep's factors

    @property
    def targets(self) -> np.ndarray:
        return self.coefs @ self.basis

    def row_weights(self, support) -> np.ndarray:
        """The basis over each row's size (0 for a row without samples): the weights the
        stratified draw's column sums take (:func:`~prevalens.uncertainty._draw_tables`)."""
        support = np.asarray(support, dtype=np.float64)
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(support > 0, self.basis / np.where(support > 0, support, 1.0), 0.0)


def plan_shift(spec, classes, support, strata) -> ShiftPlan:
    """The :class:`ShiftPlan` of ``spec`` (see :func:`target_prevalence`) for classes of these
    supports and strata (:class:`~prevalens.strata.StrataAssignment`). Raises ConfigError for a
    target the data cannot give."""
    support = np.asarray(support, dtype=np.float64)
    masks = strata.masks
    present = [g for g in range(len(masks)) if masks[g].any()]
    lowest = present[0]  # the strata are ordered from the rarest
    rare_mask = np.asarray(masks[lowest], dtype=bool)
    pi, source = target_prevalence(spec, classes, support, rare_mask)
    unknown = np.flatnonzero((pi > 0) & (support == 0))
    if unknown.size:
        raise ConfigError(
            f"deployment_prevalence gives class {classes[unknown[0]]!r} a prevalence of "
            f"{pi[unknown[0]]:.3g}, but it has no sample here, so its row of the confusion matrix "
            "(what the model predicts for it) is unknown; give it 0 or audit data that hold it"
        )
    observed = support / support.sum()
    basis = np.stack([pi, np.where(rare_mask, observed, 0.0), np.where(rare_mask, 0.0, observed)])
    share, rest = basis[1].sum(), basis[2].sum()
    coefs = [(1.0, 0.0, 0.0)]
    factors = []
    for f in SWEEP_FACTORS:
        if _scaled(observed, rare_mask, f) is None:
            continue
        g = (1.0 - f * share) / rest
        total = f * share + g * rest
        coefs.append((0.0, f / total, g / total))
        factors.append(f)
    return ShiftPlan(pi, source, tuple(factors), rare_mask, lowest, basis, np.array(coefs))


def analyse_shift(ctx: Context, plan: ShiftPlan | None, *, cluster_cells=None):
    """The metrics at the deployment's prevalences of ``plan`` (:func:`plan_shift`), with
    intervals, and the sweep over the rarest stratum's prevalence; None without a plan."""
    if plan is None:
        return None
    cm = ctx.cm
    k = ctx.k
    support = row_sums(cm).astype(np.float64)
    observed = support / support.sum()
    pi, source, factors, rare_mask = plan.pi, plan.source, plan.factors, plan.scaled
    lowest = plan.stratum
    targets = plan.targets  # (T, K)
    q, n = _rows(cm)
    point_diag = np.diag(q)
    point_predw = q.T @ targets.T  # (K, T)

    keys_target = tuple(f"per_class.{m}" for m in PER_CLASS) + HEADLINE

    def stats_of(diag, predw, t):
        return _stats_at(diag, predw[..., t], targets[t], keys_target if t == 0 else SWEEP_METRICS)

    point = [stats_of(point_diag, point_predw, t) for t in range(len(targets))]
    alpha = ctx.alpha
    interval = _intervals(ctx, cm, q, n, plan, cluster_cells, stats_of, alpha)

    def estimate(t, key, value_range=(0.0, 1.0)):
        theta = np.asarray(point[t][key], dtype=np.float64)
        if interval is None:
            return (
                [point_only(v) for v in np.atleast_1d(theta)] if theta.ndim else point_only(theta)
            )
        return interval(t, key, theta, value_range)

    per_class = []
    est = {m: estimate(0, f"per_class.{m}") for m in PER_CLASS}
    if interval is not None:
        # precision, NPV and specificity: MOVER from each cell's own limits, valid where a cell
        # is 0 (the bootstrap's percentile, and the cluster jackknife, cannot vary it: they
        # covered the rarest class's precision 0.85-0.90 and 0.90 in tests/shift_sims.py)
        if ctx.clustered:
            limits = _cluster_cell_limits(cluster_cells, k, alpha)
            method = (
                f"MOVER-R from cluster-robust {MOVER_LIMITS} limits of the rows' proportions "
                "(Korn-Graubard effective trials, t(Kish - 1))"
            )
        else:
            limits = None
            method = (
                f"MOVER-R from {MOVER_LIMITS} limits of the rows' proportions (rows "
                "independent under stratified sampling)"
            )
        bounds = mover_per_class(cm, pi, alpha, limits)
        for m in ("precision", "npv", "specificity"):
            theta = np.asarray(point[0][f"per_class.{m}"], dtype=np.float64)
            lo, hi = bounds[m]
            est[m] = [_mover_estimate(theta[j], lo[j], hi[j], alpha, method) for j in range(k)]
    recall = ctx.point["per_class.recall"]
    for j in range(k):
        per_class.append(
            ShiftClass(
                label=ctx.classes[j],
                stratum=ctx.strata.name_of(j),
                prevalence=float(observed[j]),
                target_prevalence=float(pi[j]),
                recall=float(recall[j]),
                metrics={m: est[m][j] for m in PER_CLASS},
            )
        )
    ranges = {"overall.cohen_kappa": (-1.0, 1.0), "overall.mcc": (-1.0, 1.0)}
    headline = {key: estimate(0, key, ranges.get(key, (0.0, 1.0))) for key in HEADLINE}
    sweep = tuple(
        SweepPoint(
            factor=f,
            share=float(targets[t + 1][rare_mask].sum()),
            metrics={key: estimate(t + 1, key) for key in SWEEP_METRICS},
        )
        for t, f in enumerate(factors)
    )
    return PrevalenceShift(
        source=source,
        assumption=ASSUMPTION,
        method=interval.method if interval is not None else "point estimates only (n_resamples=0)",
        target=tuple(float(v) for v in pi),
        per_class=tuple(per_class),
        headline=headline,
        sweep_stratum=ctx.strata.definitions[lowest].name,
        sweep=sweep,
    )


class _Interval:
    """Intervals of the shifted statistics, from replicates (BCa or percentile) or the cluster
    jackknife; ``method`` says which."""

    def __init__(self, fn, method):
        self._fn = fn
        self.method = method

    def __call__(self, t, key, theta, value_range):
        return self._fn(t, key, theta, value_range)


def _intervals(ctx, cm, q, n, plan, cluster_cells, stats_of, alpha):
    if not ctx.has_intervals:
        return None
    config = ctx.config
    design = ctx.engine.design
    targets = plan.targets
    if design is not None:
        diag, predw, weights = _clusters(cluster_cells, cm, targets)
        members = [stats_of(diag, predw, t) for t in range(len(targets))]
        method = (
            f"jackknife over clusters, t(df={design.df:.1f}); {design.n_clusters} clusters, "
            f"effective number {design.effective:.1f}"
        )

        def cluster_interval(t, key, theta, value_range):
            jack = np.asarray(members[t][key], dtype=np.float64)
            scale = "symmetric" if value_range == (-1.0, 1.0) else "logit"
            lo, hi, se = jackknife_t_interval(
                theta, jack, weights, df=design.df, alpha=alpha, scale=scale
            )
            # a member that leaves a class with no sample (all of it in the left-out cluster)
            # is undefined wherever that class counts: the jackknife cannot see its uncertainty
            blind = np.isnan(jack).any(axis=0) & ~np.isnan(theta)
            lo, hi, se = (np.where(blind, np.nan, v) for v in (lo, hi, se))
            return _estimates(theta, lo, hi, se, method, design.few, blind)

        return _Interval(cluster_interval, method)

    b = config.n_resamples
    drawn = ctx.engine.counts.drawn
    if drawn is not None and drawn.weighted is not None:
        # the audit's own draws, which summed the rows for these targets as they were drawn
        diag, weighted = _recall_of(drawn, cm), drawn.weighted
    else:  # the audit resampled otherwise (simple): the stratified draws of the same seed
        count_ss, _ = np.random.SeedSequence(config.seed).spawn(2)
        diag, weighted = _stratified(
            cm, b, np.random.default_rng(count_ss), plan.row_weights(row_sums(cm))
        )
    predw = np.einsum("mbk,tm->bkt", weighted, plan.coefs)
    reps = [stats_of(diag, predw, t) for t in range(len(targets))]
    jack = _jackknife(cm, q, n, targets) if config.interval == "bca" else None
    how = config.interval if (jack is not None or config.interval != "bca") else "percentile"
    method = f"{how}(stratified bootstrap, B={b}; the rows' proportions at fixed target)"
    members = None
    if jack is not None:
        j_diag, j_predw, weights, strata = jack
        members = [stats_of(j_diag, j_predw, t) for t in range(len(targets))]

    def boot_interval(t, key, theta, value_range):
        res = interval_from_replicates(
            theta,
            np.asarray(reps[t][key], dtype=np.float64),
            None if members is None else np.asarray(members[t][key], dtype=np.float64),
            None if members is None else weights,
            alpha=alpha,
            method=how,
            value_range=value_range,
            strata=None if members is None else strata,
        )
        if np.ndim(theta) == 0:
            return estimate_from_interval(theta, res, method)
        return [
            estimate_from_interval(
                theta[j],
                {
                    name: (v[j] if isinstance(v, np.ndarray) and v.ndim else v)
                    for name, v in res.items()
                },
                method,
            )
            for j in range(theta.shape[0])
        ]

    return _Interval(boot_interval, method)


def _mover_estimate(theta, lo, hi, alpha, method) -> Estimate:
    theta = float(theta)
    if math.isnan(theta):
        return Estimate(math.nan, method=method, status="undefined")
    if not (math.isfinite(lo) and math.isfinite(hi)):
        return Estimate(theta, method=method, status="ok", note="no interval")
    z = float(special.ndtri(1 - alpha / 2))
    return Estimate(
        theta,
        ci_low=float(min(lo, theta)),
        ci_high=float(max(hi, theta)),
        se=(hi - lo) / (2 * z),
        method=method,
        status="ok",
    )


BLIND_NOTE = (
    "no interval: a class that counts here has all its samples in one cluster, so leaving that "
    "cluster out leaves its row unknown and the jackknife cannot measure its uncertainty"
)


def _estimates(theta, lo, hi, se, method, few, blind):
    def one(th, l_, h_, s_, b_):
        th = float(th)
        if math.isnan(th):
            return Estimate(math.nan, method=method, status="undefined")
        ok = math.isfinite(float(l_)) and math.isfinite(float(h_))
        return Estimate(
            th,
            ci_low=float(l_) if ok else math.nan,
            ci_high=float(h_) if ok else math.nan,
            se=float(s_) if ok and math.isfinite(float(s_)) else math.nan,
            method=method,
            status="unstable" if few and ok else ("ok" if ok else "no_interval"),
            note=BLIND_NOTE if b_ else few,
        )

    if np.ndim(theta) == 0:
        return one(theta, lo, hi, se, bool(blind))
    return [one(*v) for v in zip(theta, lo, hi, se, np.broadcast_to(blind, np.shape(theta)))]


# ------------------------------------------------------------------------------------------------
# two models on the same samples (prevalens.compare)


def paired_at_target(cells, plan: ShiftPlan, keys, *, boot=None, bca=True, rng=None, rows=None):
    """Both models' statistics ``keys`` (of :func:`~prevalens.metrics.count_statistics`) at the
    target of ``plan`` (not the sweep), as a
    :class:`~prevalens.uncertainty.PairedBootstrap` of :class:`~prevalens.uncertainty.Stats`
    (per-sample tables at the target), so that a difference ``fn(a, b)`` gets its interval and
    p-value from :meth:`~prevalens.uncertainty.PairedBootstrap.interval` like the comparison's
    other rows. ``cells``: the pair's :class:`~prevalens.uncertainty.JointCells`.

    - point: each model's confusion matrix projected (its rows' proportions, Bayes' rule);
    - replicates: the pair's own stratified draws, which summed each model's rows for the target
      as they were drawn (``boot.weighted``); a pair resampled otherwise (simple scheme) gets the
      stratified draws of ``rng`` (the rows' proportions are what the projection carries over);
    - jackknife (``bca``): each model's exact jackknife over its own cells, gathered at every
      joint cell (deleting a sample of joint cell (t, a, b) deletes one of cell (t, a) from A's
      matrix and of (t, b) from B's), weighted by the joint counts, stratified by true class;
    - clusters (``boot.design`` set; ``rows`` the rows' ``(y_true, pred_a, pred_b, cluster)``):
      the pair's leave-one-cluster-out members (its distinct joint patterns), for the
      jackknife-t.

    Without ``boot`` (no resampling), only ``point`` is set.
    """
    from ..uncertainty import PairedBootstrap, Stats, _cluster_joint, _GatheredStats

    pi = plan.pi
    target = pi[None]  # (1, K)
    keys = tuple(keys)
    k = cells.k
    cms = {w: cells.marginal(w) for w in "ab"}

    def stats(diag, predw) -> Stats:
        return Stats(_stats_at(diag, predw, pi, keys), target_tables(diag, predw, pi))

    props = {w: _rows(cms[w]) for w in "ab"}
    point = tuple(stats(np.diag(q), q.T @ pi) for q, _ in props.values())
    if boot is None:
        return PairedBootstrap(point, None, None, np.zeros(0), 0, "none")
    if boot.design is not None:
        assert rows is not None
        patterns, weights = _cluster_joint(cells, *rows)
        members_c: list = []
        for w in "ab":
            pred = cells.pred_a if w == "a" else cells.pred_b
            to_cells = sparse.csr_matrix(
                (np.ones(pred.size), (np.arange(pred.size), cells.truth * k + pred)),
                shape=(pred.size, k * k),
            )
            diag, predw = _cluster_members(patterns @ to_cells, cms[w], target)
            members_c.append(stats(diag, predw[..., 0]))
        return PairedBootstrap(
            point, None, tuple(members_c), weights, boot.n_resamples, "cluster", design=boot.design
        )
    b = boot.n_resamples
    support = cms["a"].sum(axis=1).astype(np.float64)
    if boot.weighted is not None:
        tables = tuple(r.tables for r in boot.replicates)
        weighted = boot.weighted
    else:  # resampled otherwise (simple): the stratified draws of rng
        ta, tb, weighted = PairedBootstrap._stratified(cells, b, rng, plan.row_weights(support))
        tables = (ta, tb)
    with np.errstate(invalid="ignore", divide="ignore"):
        inv = np.where(support > 0, 1.0 / np.where(support > 0, support, 1.0), 0.0)
    replicates = tuple(
        stats(t.tp * inv, np.einsum("mbk,m->bk", wsum, plan.coefs[0]))
        for t, wsum in zip(tables, weighted)
    )
    jack: tuple | None = None
    if bca:
        members: list = []
        for w in "ab":
            q, n = props[w]
            got = _jackknife(cms[w], q, n, target)
            if got is None:
                break
            diag, predw, _, _ = got
            members.append(_GatheredStats(stats(diag, predw[..., 0]), cells.marginal_cell(w)))
        else:
            jack = tuple(members)
    return PairedBootstrap(
        point,
        replicates,
        jack,
        cells.counts.astype(np.float64),
        b,
        "stratified",
        jackknife_strata=cells.truth if jack is not None else None,
    )


# ------------------------------------------------------------------------------------------------
# the finding


def shift_finding(shift: PrevalenceShift, averages: dict, overall: dict, support, config):
    """The projection in words: the headline metrics that move by at least ``min_effect`` at the
    target, evaluated against projected (with intervals), the assumption named, and the share of
    the target resting on classes below ``min_support`` said. None when nothing moves that
    much (the table still shows every value)."""
    from ..findings import _finding
    from ..formatting import fmt_estimate

    evaluated = {
        "overall.accuracy": overall.get("accuracy"),
        "macro.precision": averages["macro"].get("precision"),
        "macro.f1": averages["macro"].get("f1"),
    }
    names = {
        "overall.accuracy": "accuracy",
        "macro.precision": "macro precision",
        "macro.f1": "macro F1",
    }
    moved = []
    for key, before in evaluated.items():
        after = shift.headline.get(key)
        if before is None or after is None:
            continue
        b, a = before.estimate, after.estimate
        if math.isfinite(b) and math.isfinite(a) and abs(a - b) >= config.min_effect:
            moved.append((key, before, after))
    if not moved:
        return None
    support = np.asarray(support)
    target = np.asarray(shift.target)
    small = (support < config.min_support) & (target > 0)
    parts = [
        f"{names[key]} would be {fmt_estimate(after)} instead of {fmt_estimate(before)}"
        for key, before, after in moved
    ]
    text = (
        f"At the deployment's prevalence ({shift.source}), "
        + "; ".join(parts)
        + ". This assumes label shift (each class's samples look the same there; only the "
        "prevalences differ)."
    )
    if small.any():
        text += (
            f" {int(small.sum())} class(es) with fewer than {config.min_support} samples carry "
            f"{100 * target[small].sum():.3g}% of the target prevalence, so the projection rests "
            "partly on their few evaluated samples."
        )
    evidence = {
        "source": shift.source,
        "min_effect": config.min_effect,
        "moved": {
            key: {"evaluated": before.to_dict(), "deployment": after.to_dict()}
            for key, before, after in moved
        },
        "target_share_below_min_support": float(target[small].sum()),
    }
    return _finding(
        "deployment-prevalence",
        "prevalence_shift",
        "medium",
        None,
        [],
        evidence,
        text,
    )
