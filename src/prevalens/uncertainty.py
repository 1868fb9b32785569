"""Intervals for every number: one resampling engine plus analytic intervals.

Label metrics (everything computed from the confusion matrix)
    Bootstrap replicates of the *counts*: resampling N rows with replacement gives confusion-matrix
    cells distributed exactly as Multinomial(N, cm / N), so the replicates are drawn directly as
    multinomial cell counts, all B at once, at a cost independent of N. The stratified scheme (the
    default, as in pROC) keeps each true class's support: row k is Multinomial(n_k, cm[k] / n_k).
    With a cluster column, clusters are resampled instead of rows through a sparse
    (clusters x K^2) matrix, never a dense (clusters x K x K) one. Every label metric comes from
    the same replicates (*joint replicates*), so differences and gaps get valid intervals
    (:class:`CountBootstrap`).

    BCa's acceleration uses the jackknife over the at most K^2 *distinct* leave-one-out confusion
    matrices (deleting one row of cell (i, j) gives ``cm - e_ij``), weighted by their cell counts:
    exact, and cheap.

Per-class proportions (recall, precision, specificity, NPV, prevalence)
    Wilson score interval by default, Clopper-Pearson on request; never Wald.

Per-class ROC AUC and its macro / weighted averages
    Per class, the HM-S score interval (:func:`prevalens.intervals.auc_score_interval`: Hanley &
    McNeil's variance at the candidate AUC, the observed DeLong ratios weighted by the error mass
    m(1 - AUC)), valid near and at AUC = 1 with few positives; with a cluster column, DeLong's
    clustered variance (Obuchowski 1997) on the logit scale. The averages use DeLong's variance
    with the full covariance of the per-class AUCs (they share samples) through the per-sample
    structural components (the fast mid-rank algorithm of Sun & Xu, ties counted half).

Average precision (per class, micro, macro, weighted)
    Standard errors from influence values, computed exactly from the one ranking pass (per class
    the exact delete-one jackknife), on the logit scale with a t quantile whose degrees of freedom
    are the effective number of observations carrying the variance, minus one. No resampling, so
    one route for every N. AP = 1 has no interval (status ``boundary``).

Other score metrics (micro ROC AUC, log loss, Brier, top-k accuracy)
    A bootstrap over samples with per-sample resample counts shared by all of them, while
    N * K * B <= ``score_bootstrap_max_work``; above that, analytic approximations that each
    estimate's ``method`` names (clustered DeLong for micro AUC, the t interval for the mean
    losses). Top-k accuracy: Wilson.

References
----------
Efron, B. (1987). Better bootstrap confidence intervals. JASA 82, 171-185.
DeLong, E. R., DeLong, D. M., Clarke-Pearson, D. L. (1988). Comparing the areas under two or more
correlated ROC curves. Biometrics 44, 837-845.
Sun, X., Xu, W. (2014). Fast implementation of DeLong's algorithm. IEEE SPL 21, 1389-1393.
Hanley, J. A., McNeil, B. J. (1982). The meaning and use of the area under a receiver operating
characteristic (ROC) curve. Radiology 143, 29-36.
Obuchowski, N. A. (1997). Nonparametric analysis of clustered ROC curve data. Biometrics 53,
567-578.
"""

from __future__ import annotations

import functools
import math
import os
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

import numpy as np
from scipy import sparse, special

from . import metrics as M
from . import progress
from . import ranking as R
from .budget import MemoryPlan, default_max_memory
from .counts import Tables, cells_of, class_tables, cluster_cell_matrix, is_sparse
from .formatting import json_number
from .intervals import (
    PROPORTION_INTERVALS,
    ClusterRatioSummary,
    adjusted_alpha,
    auc_score_interval,
    bca_parts,
    bootstrap_p_value,
    cluster_ratio_from,
    cluster_ratio_summary,
    effective_dof,
    interval_from_replicates,
    jackknife_t_interval,
    kish_effective,
    logit_interval,
    logit_t_interval,
    wilson_interval,
)
from .loo import LooArray, LooPattern, SparseDeltaArray, is_loo

if TYPE_CHECKING:
    from .io import Predictions

__all__ = [
    "bootstrap_counts",
    "bootstrap_tables",
    "cluster_bootstrap_counts",
    "jackknife_counts",
    "jackknife_tables",
    "jackknife_loo_tables",
    "CountBootstrap",
    "Stats",
    "LazyStats",
    "ReplicateStats",
    "Engine",
    "ClusterDesign",
    "Interval",
    "IntervalTable",
    "Intervals",
    "UNSTABLE_FRACTION",
    "delong_covariance",
    "delong_auc_variance",
    "compute_intervals",
    "JointCells",
    "PairedBootstrap",
]

#: Threads used to draw the rows of a stratified bootstrap (results do not depend on it).
_THREADS = max(1, min(4, os.cpu_count() or 1))

#: Replicate cells drawn at a time by :func:`bootstrap_tables` (about 24 bytes each).
_DRAW_CELLS = 8_000_000

#: A metric undefined in more than this share of replicates gets status ``unstable``.
UNSTABLE_FRACTION = 0.05

#: Natural range of each label metric (intervals of the basic method are clipped to it).
_RANGE = {"cohen_kappa": (-1.0, 1.0), "mcc": (-1.0, 1.0)}


# ------------------------------------------------------------------------------------------------
# replicates of the counts


def _draw_row(stream, row, n_resamples: int):
    """One row of the stratified bootstrap: its non-zero cells and (B, nnz) replicate counts.

    A row of n_i >= 2 samples is drawn as n_i - 1 multinomial samples scaled by n_i / (n_i - 1)
    (the "n - 1 bootstrap"): the replicate counts keep the row's total and mean, and the variance
    of a proportion x/n_i is p(1 - p)/(n_i - 1), the unbiased estimate, instead of the plug-in
    p(1 - p)/n_i, which is short by 1/n_i in every class; in a macro average over many small
    classes that shortfall put BCa's coverage at 0.927 (K = 30, rarest class 6 samples; 0.945 to
    0.955 with this draw: docs/design.md, "Bootstrap"). Counts are then multiples of
    n_i / (n_i - 1) within [0, n_i]; every count metric is defined for them.
    """
    n_i = int(row.sum())
    if n_i == 0:
        return None
    nz = np.flatnonzero(row)
    if n_i == 1:
        return nz, np.ones((n_resamples, 1))
    draws = stream.multinomial(n_i - 1, row[nz] / n_i, size=n_resamples)
    return nz, draws * n_i / (n_i - 1)  # exact where the quotient is an integer (e.g. n_i)


def bootstrap_counts(cm, n_resamples: int, rng, *, scheme: str = "stratified") -> np.ndarray:
    """B bootstrap replicates of confusion matrix ``cm``, shape (B, K, K), drawn as multinomial
    cell counts (equivalent in distribution to resampling the N rows with replacement).

    ``scheme="stratified"`` keeps every row sum (class support) fixed, drawing each row by
    :func:`_draw_row` (float counts); ``"simple"`` resamples all N rows (integer counts). Only
    non-zero cells are drawn: a cell with no rows can never be resampled.
    """
    cm = _dense(cm)
    k = cm.shape[0]
    if scheme == "stratified":
        out = np.zeros((n_resamples, k, k), dtype=np.float64)
        streams = rng.spawn(k)  # one stream per row, as bootstrap_tables: the same replicates
        for i in range(k):
            drawn = _draw_row(streams[i], cm[i], n_resamples)
            if drawn is not None:
                out[:, i, drawn[0]] = drawn[1]
        return out
    out = np.zeros((n_resamples, k, k), dtype=np.int64)
    if scheme == "simple":
        flat = cm.ravel()
        nz = np.flatnonzero(flat)
        n = int(flat.sum())
        draws = rng.multinomial(n, flat[nz] / n, size=n_resamples)
        out.reshape(n_resamples, k * k)[:, nz] = draws
    else:
        raise ValueError(f"`scheme` must be 'stratified' or 'simple', got {scheme!r}")
    return out


def bootstrap_tables(
    cm, n_resamples: int, rng, *, scheme: str = "stratified", chunk: int = 256
) -> Tables:
    """The same replicates as :func:`bootstrap_counts` (same draws for the same ``rng``), reduced
    to one-vs-rest tables of shape (B, K) as they are drawn, so that no (B, K, K) array is held.
    ``cm`` may be a scipy sparse matrix.
    """
    del chunk  # the draws are chunked by _DRAW_CELLS (kept for callers that pass it)
    return _draw_tables(cm, n_resamples, rng, scheme=scheme, draw_cells=_DRAW_CELLS).tables()


@dataclass
class ReplicateTables:
    """The B replicates' one-vs-rest tables, held as the two (B, K) arrays they are drawn as
    (tp and the predicted counts; the supports too under simple resampling): fp, fn and tn are
    formed when a chunk of replicates is evaluated (:meth:`tables`)."""

    tp: np.ndarray
    pred: np.ndarray
    sup: np.ndarray  # (K,) under the stratified scheme (fixed), else (B, K)
    n: int
    #: (m, B, K): sum_i w_bi cm_r[i, j] for row weights w (m, K) asked of the stratified draw
    weighted: np.ndarray | None = None

    @property
    def n_resamples(self) -> int:
        return self.tp.shape[0]

    def tables(self, rows: slice = slice(None)) -> Tables:
        tp = self.tp[rows]
        pred = self.pred[rows]
        sup = self.sup if self.sup.ndim == 1 else self.sup[rows]
        if sup.ndim == 1:
            sup = np.broadcast_to(sup, tp.shape)
        fp = pred - tp
        fn = sup - tp
        tn = self.n - tp - fp - fn
        return Tables(tp, fp, fn, tn)


def _row_cells(cm, i):
    """Row ``i`` of ``cm`` (dense or scipy CSR) as ``(n_i, nz, counts)``."""
    if is_sparse(cm):
        lo, hi = cm.indptr[i], cm.indptr[i + 1]
        counts = np.asarray(cm.data[lo:hi], dtype=np.int64)
        return int(counts.sum()), np.asarray(cm.indices[lo:hi], dtype=np.int64), counts
    row = cm[i]
    nz = np.flatnonzero(row)
    return int(row.sum()), nz, row[nz]


def _draw_tables(
    cm, n_resamples: int, rng, *, scheme: str, draw_cells: int, row_weights=None
) -> ReplicateTables:
    """Draw the B replicates (as :func:`bootstrap_counts`) into :class:`ReplicateTables`, with at
    most about ``draw_cells`` drawn cells in memory at a time.

    Rows are drawn from one stream each, several at a time on threads, and added in row order
    (so the sums are the same whatever the threads); a row too large for ``draw_cells`` is drawn
    in chunks of replicates from its stream, which gives the same draws as one call.

    ``row_weights`` (m, K), stratified scheme only: also accumulate ``sum_i w[:, i] cm_r[i, j]``
    for every replicate r (the weighted column sums a projection to other class prevalences
    reads: :mod:`prevalens.analyses.shift`), from the same draws.
    """
    k = cm.shape[0]
    cm = cm if is_sparse(cm) else np.asarray(cm, dtype=np.int64)
    rows, cols, counts = cells_of(cm)
    n = int(counts.sum())
    support = np.bincount(rows, weights=counts, minlength=k).astype(np.int64)
    b = n_resamples
    if scheme == "stratified":
        tp = np.zeros((b, k), dtype=np.float64)
        pred = np.zeros((b, k), dtype=np.float64)
        # One independent stream per row (spawned from ``rng``), so the rows can be drawn on
        # several threads (numpy releases the GIL while sampling) and the result does not depend
        # on the number of threads or their scheduling.
        streams = rng.spawn(k)
        nnz = np.bincount(rows, minlength=k)

        weights = None if row_weights is None else np.asarray(row_weights, dtype=np.float64)
        weighted = None if weights is None else np.zeros((weights.shape[0], b, k))

        def add(i, nz, draws, sl=slice(None)):
            pred[sl, nz] += draws
            hit = np.flatnonzero(nz == i)
            if hit.size:
                tp[sl, i] = draws[:, hit[0]]
            if weighted is not None:
                for m in range(weights.shape[0]):
                    if weights[m, i] != 0:
                        weighted[m][sl, nz] += draws * weights[m, i]

        def draw(i):
            _, nz, c = _row_cells(cm, i)
            got = _draw_row(streams[i], c, b)  # the row's non-zero cells: the same draws
            return None if got is None else (nz[got[0]], got[1])

        workers = min(_THREADS, k)
        threaded = workers > 1 and b * rows.size > 200_000
        i = 0
        # threaded: a group's rows are drawn while the previous group's are added (the adds
        # run in row order on this thread, so the sums do not depend on the threads)
        pending: list = []

        def add_pending():
            for r, future in pending:
                got = future.result()
                if got is not None:
                    add(r, got[0], got[1])
            pending.clear()

        with ThreadPoolExecutor(workers) if threaded else _NoPool() as ex:
            while i < k:
                progress.fraction(i / k)
                if b * nnz[i] > draw_cells and nnz[i] > 0:
                    add_pending()
                    # a large row alone, in chunks of replicates drawn from its stream
                    _, nz, c = _row_cells(cm, i)
                    step = max(1, draw_cells // max(int(nnz[i]), 1))
                    for s0 in range(0, b, step):
                        got = _draw_row(streams[i], c, min(step, b - s0))
                        assert got is not None
                        add(i, nz[got[0]], got[1], slice(s0, s0 + got[1].shape[0]))
                    i += 1
                    continue
                group = [i]
                cells = b * int(nnz[i])
                i += 1
                # two groups in flight when threaded: each at most half the cells
                while i < k and cells + b * int(nnz[i]) <= (
                    draw_cells // 2 if threaded else draw_cells
                ):
                    cells += b * int(nnz[i])
                    group.append(i)
                    i += 1
                if not threaded:
                    for r in group:
                        got = draw(r)
                        if got is not None:
                            add(r, got[0], got[1])
                    continue
                drawn = [(r, ex.submit(draw, r)) for r in group]
                add_pending()
                pending.extend(drawn)
                del drawn
            add_pending()
        return ReplicateTables(tp, pred, support, n, weighted)
    if scheme != "simple":
        raise ValueError(f"`scheme` must be 'stratified' or 'simple', got {scheme!r}")
    tp = np.zeros((b, k), dtype=np.int64)
    pred = np.zeros((b, k), dtype=np.int64)
    sup = np.empty((b, k), dtype=np.int64)
    j = counts.size
    row_ind = sparse.csr_array((np.ones(j), (np.arange(j), rows)), shape=(j, k))
    col_ind = sparse.csr_array((np.ones(j), (np.arange(j), cols)), shape=(j, k))
    diag = np.flatnonzero(rows == cols)
    p = counts / n
    step = max(1, min(b, draw_cells // max(j, 1)))
    for s0 in range(0, b, step):
        # chunks of replicates from one stream: the same draws as one call of size B
        d = rng.multinomial(n, p, size=min(step, b - s0))
        df = d.astype(np.float64)
        sl = slice(s0, s0 + d.shape[0])
        # exact: counts < 2^53 are represented exactly in float64
        sup[sl] = np.rint(df @ row_ind).astype(np.int64)
        pred[sl] = np.rint(df @ col_ind).astype(np.int64)
        tp[sl, rows[diag]] = d[:, diag]
    return ReplicateTables(tp, pred, sup, n)


class _NoPool:
    """A stand-in for a thread pool when one thread draws every row."""

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def jackknife_tables(cm) -> tuple[Tables, np.ndarray]:
    """Tables of the distinct leave-one-out confusion matrices and their multiplicities.

    Deleting one row of cell (i, j) changes only two classes' tables: for i == j, tp_i falls by
    one; otherwise fn_i and fp_j do; N falls by one for every class. Built in O(J K).
    """
    cm = _dense(cm)
    k = cm.shape[0]
    cells, weights = jackknife_counts(cm)
    base = class_tables(cm)
    j = cells.size
    rows, cols = np.divmod(cells, k)
    r = np.arange(j)
    tp = np.repeat(base.tp[None], j, axis=0)
    fp = np.repeat(base.fp[None], j, axis=0)
    fn = np.repeat(base.fn[None], j, axis=0)
    on_diag = rows == cols
    tp[r[on_diag], rows[on_diag]] -= 1
    fn[r[~on_diag], rows[~on_diag]] -= 1
    fp[r[~on_diag], cols[~on_diag]] -= 1
    n = int(cm.sum()) - 1
    tn = n - tp - fp - fn
    return Tables(tp, fp, fn, tn), weights


def _cluster_cells(y_true, y_pred, cluster, k):
    """Sparse (clusters x K^2) matrix of each cluster's confusion-matrix cells."""
    return cluster_cell_matrix(y_true, y_pred, cluster, k)


def cluster_bootstrap_counts(
    y_true,
    y_pred,
    cluster,
    k: int,
    n_resamples: int,
    rng,
    *,
    chunk: int = 64,
    cells=None,
    tables: bool = False,
):
    """B replicates of the confusion matrix under resampling of whole clusters, shape (B, K, K).

    Each replicate draws C clusters with replacement (C = number of clusters); its matrix is the
    multiplicity-weighted sum of the clusters' matrices, computed as a dense (chunk x C) weight
    block times the sparse (C x K^2) cluster-cell matrix, so memory is O(chunk * C + nnz).
    ``cells``: that matrix when already counted (then the rows are not needed). ``tables=True``:
    the replicates' one-vs-rest :class:`~prevalens.counts.Tables` (B, K) instead, each chunk's
    matrices reduced as they are formed (B x K^2 integers never held: 16 GB at K = 1,000 and
    B = 2,000); the same integers as ``class_tables`` of the matrices.
    """
    a = _cluster_cells(y_true, y_pred, cluster, k) if cells is None else cells
    a = a.tocsr()
    c = a.shape[0]
    if tables:
        parts = [np.empty((n_resamples, k), dtype=np.int64) for _ in range(4)]
    else:
        out = np.empty((n_resamples, k * k), dtype=np.int64)
    for start in range(0, n_resamples, chunk):
        b = min(chunk, n_resamples - start)
        # each replicate's multiplicities as a contiguous row, and the (b x C) dense times
        # (C x K^2) sparse product (integers: exact in any order; 5 times faster than the
        # transposed sparse-times-dense product at 1e5 clusters)
        w = np.empty((b, c), dtype=np.int64)
        for j in range(b):
            w[j] = np.bincount(rng.integers(0, c, size=c), minlength=c)
        if tables:
            for part, t in zip(parts, class_tables(np.asarray(w @ a).reshape(b, k, k))):
                part[start : start + b] = t
        else:
            out[start : start + b] = w @ a
    if tables:
        return Tables(*parts)
    return out.reshape(n_resamples, k, k)


def jackknife_counts(cm) -> tuple[np.ndarray, np.ndarray]:
    """The distinct leave-one-out confusion matrices and their multiplicities.

    Deleting any one of the ``cm[i, j]`` rows of cell (i, j) gives the same matrix
    ``cm - e_ij``; so the N-row jackknife has at most K^2 distinct members. Returns
    ``(cells, weights)``: flat cell indices of shape (J,) and counts ``cm[i, j]`` of shape (J,).
    Matrices are built on demand by :func:`_loo_batch` in chunks to bound memory.
    """
    if is_sparse(cm):
        rows, cols, counts = cells_of(cm)
        return rows * cm.shape[0] + cols, counts
    flat = np.asarray(cm, dtype=np.int64).ravel()
    cells = np.flatnonzero(flat)
    return cells, flat[cells]


def jackknife_loo_tables(cm, *, block_cells: int = 4_000_000) -> tuple[Tables, np.ndarray]:
    """The tables of :func:`jackknife_tables` in leave-one-out form (:mod:`prevalens.loo`):
    each a (J, K) :class:`~prevalens.loo.LooArray` of O(J + K) numbers, never J x K.

    A class that the member does not touch keeps tp, fp and fn and loses one tn (N falls by
    one); the member's true class i loses one tp (i = j) or one fn, its predicted class j one fp.
    ``cm`` may be dense or a scipy sparse matrix.
    """
    rows, cols, counts = cells_of(cm)
    k = cm.shape[0]
    base = class_tables(cm)
    pattern = LooPattern.of_cells(rows, cols, k, block_cells=block_cells)
    diag = rows == cols
    off = (~diag).astype(np.int64)
    first = (base.tp[rows] - diag, base.fp[rows], base.fn[rows] - off, base.tn[rows])
    second = (base.tp[cols], base.fp[cols] - off, base.fn[cols], base.tn[cols])
    out = []
    for whole, a0, a1, untouched in zip(base, first, second, (0, 0, 0, 1)):
        at = np.stack([a0, np.where(diag, a0, a1)], axis=1)  # an empty slot repeats the first
        out.append(LooArray(pattern, np.asarray(whole, dtype=np.int64) - untouched, at))
    # leave-one-out arrays in place of the (J, K) arrays: the metrics treat them alike
    return Tables(*out), counts  # type: ignore[arg-type]


def _dense(cm) -> np.ndarray:
    """``cm`` as a dense int64 array (a sparse matrix densified: for small K only)."""
    return cm.toarray().astype(np.int64) if is_sparse(cm) else np.asarray(cm, dtype=np.int64)


def _cluster_jackknife(y_true, y_pred, cluster, k, cells=None):
    """Distinct leave-one-cluster-out deltas as a sparse (J, K^2) matrix, and multiplicities
    (from the cluster-cell matrix ``cells`` when given)."""
    a = _cluster_cells(y_true, y_pred, cluster, k) if cells is None else cells
    keys = {}
    rows = []
    for r in range(a.shape[0]):
        lo, hi = a.indptr[r], a.indptr[r + 1]
        key = (a.indices[lo:hi].tobytes(), a.data[lo:hi].tobytes())
        if key not in keys:
            keys[key] = len(rows)
            rows.append(r)
        else:
            rows.append(-1 - keys[key])  # marker: duplicate of an earlier pattern
    first = [r for r in rows if r >= 0]
    which = [r if r >= 0 else -1 - r for r in rows]  # each cluster's first occurrence
    index_of = {r: i for i, r in enumerate(first)}
    counts = np.bincount([index_of[r] for r in which], minlength=len(first))
    return a[first], counts.astype(np.int64)


def cluster_jackknife_loo_tables(cm, patterns, *, block_cells: int = 4_000_000) -> Tables:
    """The leave-one-cluster-out tables in sparse-delta form (:class:`~prevalens.loo.
    SparseDeltaArray`): O(K + J + nnz) numbers, never the (J, K) arrays of the dense form.

    ``patterns`` (J, K^2) sparse: each distinct member's cluster cells (:func:`_cluster_jackknife`).
    Leaving a cluster out lowers tp_i by its (i, i) cells, fn_i and fp_j by its (i, j) cells
    (i != j), and N by its size, so tn_c by the size less the cluster's tp, fp and fn of class c.
    The same integers as the dense tables, member by member.
    """
    k = cm.shape[0]
    base = class_tables(cm)
    p = patterns.tocoo()
    j = p.shape[0]
    member, cell, v = p.row, p.col, np.asarray(p.data, dtype=np.int64)
    i, c = np.divmod(cell, k)
    diag = i == c

    def per_class(rows, cols, vals):
        return sparse.csr_matrix((vals, (rows, cols)), shape=(j, k), dtype=np.int64)

    d_tp = per_class(member[diag], i[diag], v[diag])
    d_fn = per_class(member[~diag], i[~diag], v[~diag])
    d_fp = per_class(member[~diag], c[~diag], v[~diag])
    size = np.bincount(member, weights=v, minlength=j).astype(np.int64)
    deltas = ((base.tp, -d_tp, None), (base.fp, -d_fp, None), (base.fn, -d_fn, None))
    out = [SparseDeltaArray(b, d, o, block_cells=block_cells) for b, d, o in deltas]
    out.append(SparseDeltaArray(base.tn, d_tp + d_fp + d_fn, -size, block_cells=block_cells))
    # sparse-delta arrays in place of the (J, K) arrays: the metrics treat them alike
    return Tables(*out)  # type: ignore[arg-type]


class Stats(dict):
    """Statistics of one set of confusion matrices (the observed one, the B bootstrap replicates
    or the J distinct jackknife members), keyed like :func:`~prevalens.metrics.count_statistics`,
    with their one-vs-rest :attr:`tables` for statistics over subsets of classes, and a cache for
    pieces that several derived statistics share (a stratum's macro average enters its estimate,
    its difference to the rest and every class's difference to it)."""

    def __init__(self, values: dict, tables: Tables | None):
        super().__init__(values)
        self._tables = tables
        self._cache: dict = {}

    @property
    def tables(self) -> Tables:
        assert self._tables is not None
        return self._tables

    def cached(self, key, compute):
        """``compute()``, computed once per key for this object."""
        if key not in self._cache:
            self._cache[key] = compute()
        return self._cache[key]


#: How the statistics of :func:`~prevalens.metrics.count_statistics` are computed one key at a
#: time: the engine evaluates only what a derived statistic reads.
_PER_KEY = {M.count_statistics: (M.count_statistic, M.COUNT_STATISTIC_KEYS)}


class LazyStats(Stats):
    """:class:`Stats` computed key by key on first use, from tables formed on first use: the
    same values as the eager ``stat_fn`` (the same functions of the same tables).

    :meth:`evict` drops what is per class (arrays of two or more dimensions) and the tables, so
    that a chunk of replicates holds only its per-replicate values between evaluations.
    """

    def __init__(self, tables: Callable[[], Tables], per_key, keys):
        super().__init__({}, None)
        self._make_tables = tables
        self._per_key = per_key
        self._keys = tuple(keys)

    @property
    def tables(self) -> Tables:
        if self._tables is None:
            self._tables = self._make_tables()
        return self._tables

    def __missing__(self, key):
        if key not in self._keys:
            raise KeyError(key)
        value = self._per_key(key, self.tables, self.__getitem__)
        value = value if is_loo(value) else np.asarray(value)
        self[key] = value
        return value

    def __contains__(self, key) -> bool:
        return key in self._keys

    def __iter__(self):
        return iter(self._keys)

    def __len__(self) -> int:
        return len(self._keys)

    def keys(self):
        return list(self._keys)

    def items(self):
        return [(key, self[key]) for key in self._keys]

    def values(self):
        return [self[key] for key in self._keys]

    def get(self, key, default=None):
        return self[key] if key in self._keys else default

    def evict(self) -> None:
        for key in [k for k, v in dict.items(self) if _per_class(v)]:
            del self[key]
        for key in [k for k, v in self._cache.items() if _per_class(v)]:
            del self._cache[key]
        self._tables = None


def _per_class(value) -> bool:
    """Whether a value (or a tuple of them) holds an array of two or more dimensions."""
    if isinstance(value, tuple):
        return any(_per_class(v) for v in value)
    return isinstance(value, np.ndarray) and value.ndim >= 2


class ReplicateStats(Mapping):
    """The statistics of the B replicates, evaluated lazily and in chunks of replicates.

    A derived statistic ``fn(stats)`` is evaluated chunk by chunk (:meth:`apply`) on
    :class:`LazyStats` of each chunk's tables, so that only a chunk's per-class arrays are ever
    formed; the per-replicate values a chunk computed (a stratum's macro average, ...) stay for
    the next statistic. Every statistic is computed replicate by replicate (reductions over the
    classes), so the values do not depend on the chunks. ``stats[key]`` is ``apply`` of that key.
    """

    def __init__(self, reps: ReplicateTables, per_key, keys, chunk_rows: int):
        self.source = reps
        b = reps.n_resamples
        step = max(1, min(int(chunk_rows), b))
        self._bounds = [(s0, min(b, s0 + step)) for s0 in range(0, max(b, 1), step)]
        self._chunks = [
            LazyStats(functools.partial(reps.tables, slice(s0, e)), per_key, keys)
            for s0, e in self._bounds
        ]
        self._keys = tuple(keys)

    @property
    def n_chunks(self) -> int:
        return len(self._chunks)

    @property
    def tables(self) -> Tables:
        """Every replicate's tables at once (B x K each)."""
        return self.source.tables()

    def apply(self, fn) -> np.ndarray:
        """``fn(stats)`` of every replicate, shape (B, ...)."""
        if len(self._chunks) == 1:
            return np.asarray(fn(self._chunks[0]))
        out = None
        for (s0, e), chunk in zip(self._bounds, self._chunks):
            value = np.asarray(fn(chunk))
            chunk.evict()
            if out is None:
                # the memory layout numpy gives the whole (a class index makes it column-major):
                # sums over the replicates run in another order in the other layout
                order: Literal["C", "F"] = (
                    "F" if value.ndim > 1 and not value.flags.c_contiguous else "C"
                )
                shape = (self.source.n_resamples,) + value.shape[1:]
                out = np.empty(shape, dtype=value.dtype, order=order)
            out[s0:e] = value
        assert out is not None
        return out

    def __getitem__(self, key):
        if key not in self._keys:
            raise KeyError(key)
        return self.apply(lambda s: s[key])

    def __iter__(self):
        return iter(self._keys)

    def __len__(self) -> int:
        return len(self._keys)


@dataclass(frozen=True)
class ClusterDesign:
    """The clusters of an audit: how many, Kish's effective number, and the t degrees of freedom
    of the intervals that resample them (docs/design.md, "Clusters")."""

    n_clusters: int
    effective: float

    #: below these the intervals are approximate (simulated coverage 0.91-0.99): status unstable
    MIN_EFFECTIVE = 10.0
    MIN_CLUSTERS = 20

    @classmethod
    def of(cls, cluster) -> ClusterDesign:
        """The design of rows' cluster codes."""
        return cls.of_sizes(np.bincount(np.asarray(cluster, dtype=np.int64)))

    @classmethod
    def of_sizes(cls, sizes) -> ClusterDesign:
        """The design of clusters of these sizes (zeros are not clusters)."""
        sizes = np.asarray(sizes, dtype=np.int64)
        sizes = sizes[sizes > 0]
        return cls(int(sizes.size), float(kish_effective(sizes)))

    @property
    def df(self) -> float:
        return max(self.effective - 1.0, 1.0)

    @property
    def few(self) -> str | None:
        """Why intervals are approximate with these clusters, or None."""
        if self.effective >= self.MIN_EFFECTIVE and self.n_clusters >= self.MIN_CLUSTERS:
            return None
        return (
            f"few effective clusters ({self.n_clusters} clusters, effective number "
            f"{self.effective:.1f}): the interval uses t(df={self.df:.1f}) and is approximate "
            "(simulated coverage 0.91-0.99)"
        )


@dataclass
class Engine:
    """What the interval stage leaves for the analyses: the joint count replicates, the score
    replicates (None when the sample bootstrap was too large), and the one-pass ranking summary
    (None without scores)."""

    counts: CountBootstrap
    score_replicates: dict | None
    ranking: R.OvRSummary | None
    design: ClusterDesign | None = None


@dataclass
class CountBootstrap:
    """Joint replicates of every label metric, with what BCa needs.

    Attributes
    ----------
    point : Stats
        ``stat_fn(cm)`` of the observed matrix.
    replicates : Stats
        ``stat_fn`` of the B replicate matrices (leading axis B).
    jackknife : Stats
        ``stat_fn`` of the distinct leave-one-out matrices (leading axis J).
    jackknife_weights : ndarray (J,)
        How many of the N (or C) leave-one-out members each distinct matrix stands for.
    method : str
        E.g. ``"stratified"``, ``"simple"``, ``"cluster"``.
    jackknife_strata : ndarray (J,) or None
        Under the stratified scheme, the true class (stratum) of each distinct leave-one-out
        matrix, for BCa's stratified acceleration; None otherwise.

    Derived quantities (a stratum's macro recall, macro - micro, a class minus the rest) get their
    interval with :meth:`interval`, which applies one function to the point, the replicates and the
    jackknife alike, so the interval of a difference comes from the same replicates.
    """

    point: Stats
    replicates: Stats | ReplicateStats
    jackknife: Stats
    jackknife_weights: np.ndarray
    n_resamples: int
    method: str
    cms: np.ndarray | None = field(default=None, repr=False)
    jackknife_strata: np.ndarray | None = field(default=None, repr=False)
    plan: MemoryPlan | None = field(default=None, repr=False)
    #: the stratified draws' tables with their ``row_weights`` sums (None when not asked)
    drawn: ReplicateTables | None = field(default=None, repr=False)

    @classmethod
    def run(
        cls,
        cm,
        stat_fn,
        n_resamples,
        rng,
        *,
        scheme="stratified",
        y_true=None,
        y_pred=None,
        cluster=None,
        keep_counts=False,
        max_memory: int | None = None,
        jackknife: str = "auto",
        cluster_cells=None,
        row_weights=None,
    ) -> CountBootstrap:
        """Draw the replicates and apply ``stat_fn`` to them, to ``cm`` and to the jackknife.

        ``stat_fn`` takes one-vs-rest :class:`~prevalens.counts.Tables` with a leading batch axis
        (e.g. :func:`prevalens.metrics.count_statistics`). With ``keep_counts=True`` the (B, K, K)
        replicate matrices are also drawn and kept in ``cms`` (memory B K^2).

        ``cm`` may be a scipy sparse matrix (many classes). With
        :func:`~prevalens.metrics.count_statistics`, the replicates' statistics are computed
        lazily, in chunks of replicates that fit ``max_memory`` bytes (default: a quarter of
        the physical memory; :class:`~prevalens.budget.MemoryPlan`), and the jackknife is kept in
        leave-one-out form (:mod:`prevalens.loo`: O(J + K) per statistic instead of J x K) when
        its J x K tables would exceed :data:`DENSE_JACKKNIFE_CELLS` cells, or when
        ``jackknife="loo"`` (``"dense"``: always the (J, K) tables). Neither changes a draw.

        Resampling by cluster takes the rows' codes (``y_true``, ``y_pred``, ``cluster``) or their
        counted cluster-cell matrix ``cluster_cells``
        (:func:`~prevalens.counts.cluster_cell_matrix`): the same draws either way.
        """
        k = cm.shape[0]
        sparse_cm = is_sparse(cm)
        if not sparse_cm:
            cm = np.asarray(cm, dtype=np.int64)
        if jackknife not in ("auto", "dense", "loo"):
            raise ValueError(f"`jackknife` must be 'auto', 'dense' or 'loo', got {jackknife!r}")
        cms = None
        strata = None
        lazy = _PER_KEY.get(stat_fn)
        plan = None
        clustered = cluster is not None or cluster_cells is not None
        budget = max_memory or default_max_memory()
        if not clustered and not keep_counts and lazy is not None:
            plan = MemoryPlan.of(budget, n_resamples, k, simple=scheme == "simple")
        if clustered:
            cm = _dense(cm)
            if cluster_cells is None:
                cluster_cells = _cluster_cells(y_true, y_pred, cluster, k)
            # the (chunk x C) multiplicities of a chunk of replicates within an eighth of the
            # budget (512 MB at 64 replicates of 1e6 clusters); the draws do not depend on it
            n_clusters = cluster_cells.shape[0]
            chunk = int(max(1, min(64, budget // 8 // (8 * max(n_clusters, 1)))))
            reps = cluster_bootstrap_counts(
                None,
                None,
                None,
                k,
                n_resamples,
                rng,
                cells=cluster_cells,
                chunk=chunk,
                tables=not keep_counts,  # without the (B, K, K) matrices unless asked for
            )
            if keep_counts:
                rep_tables, cms = class_tables(reps), reps
            else:
                rep_tables = reps
            patterns, weights = _cluster_jackknife(None, None, None, k, cells=cluster_cells)
            if lazy is not None and (
                jackknife == "loo"
                or (jackknife == "auto" and len(weights) * k > CLUSTER_DENSE_JACKKNIFE_CELLS)
            ):
                # the (J, K) tables and every metric's (J, K) values are not held: a member's
                # tables are the full data's less its cluster's sparse cells, evaluated in blocks
                # of columns: a block's arrays (about 8, of 8 bytes a cell) and the tables' kept
                # blocks within half the budget (no refusal here: the dense form has none)
                loo_cells = budget // 2 // 64 // 2
                loo_cells = max(2, min(loo_cells, SPARSE_DELTA_BLOCK_CELLS))
                jack_tables = cluster_jackknife_loo_tables(cm, patterns, block_cells=loo_cells)
            else:
                parts = []
                for s in range(0, len(weights), 256):  # densify 256 patterns at a time
                    block = np.asarray(patterns[s : s + 256].toarray(), dtype=np.int64)
                    parts.append(class_tables(cm[None] - block.reshape(-1, k, k)))
                jack_tables = Tables(*(np.concatenate([p[i] for p in parts]) for i in range(4)))
            method = "cluster"
        else:
            replicate_tables = None
            if keep_counts:
                cms = bootstrap_counts(cm, n_resamples, rng, scheme=scheme)
                rep_tables = class_tables(cms)
            elif plan is not None:
                replicate_tables = _draw_tables(
                    cm,
                    n_resamples,
                    rng,
                    scheme=scheme,
                    draw_cells=plan.draw_cells,
                    row_weights=row_weights if scheme == "stratified" else None,
                )
            else:
                rep_tables = bootstrap_tables(cm, n_resamples, rng, scheme=scheme)
            cells, weights = jackknife_counts(cm)
            use_loo = lazy is not None and (
                jackknife == "loo"
                or (jackknife == "auto" and cells.size * k > DENSE_JACKKNIFE_CELLS)
            )
            if use_loo:
                jack_tables, weights = jackknife_loo_tables(
                    cm, block_cells=plan.loo_block_cells if plan is not None else 4_000_000
                )
            else:
                jack_tables, weights = jackknife_tables(cm)
            method = scheme
            if scheme == "stratified":
                strata = cells // k  # the row (true class) of each cell
        point_tables = class_tables(cm)

        def stats(t):
            return Stats({key: np.asarray(v) for key, v in stat_fn(t).items()}, t)

        def lazy_stats(t):
            assert lazy is not None
            return LazyStats(lambda: t, *lazy)

        if cluster is None and not keep_counts and plan is not None and lazy is not None:
            assert replicate_tables is not None
            replicates: Stats | ReplicateStats = ReplicateStats(
                replicate_tables, *lazy, chunk_rows=plan.chunk_rows
            )
        else:
            replicates = stats(rep_tables)
        jack_is_loo = is_loo(jack_tables.tp)
        return cls(
            point=stats(point_tables),
            replicates=replicates,
            jackknife=lazy_stats(jack_tables) if jack_is_loo else stats(jack_tables),
            jackknife_weights=np.asarray(weights, dtype=np.float64),
            n_resamples=n_resamples,
            method=method,
            cms=cms,
            jackknife_strata=strata,
            plan=plan,
            drawn=replicate_tables if row_weights is not None and not clustered else None,
        )

    def derive(self, fn) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``fn(stats) -> array`` applied to the point, the replicates and the jackknife (the
        replicates chunk by chunk; a per-class statistic of a jackknife in leave-one-out form
        stays in that form: a :class:`~prevalens.loo.LooArray`, not a J x K array)."""
        jack = fn(self.jackknife)
        return (
            np.asarray(fn(self.point)),
            self.replicates.apply(fn)
            if isinstance(self.replicates, ReplicateStats)
            else np.asarray(fn(self.replicates)),
            jack if is_loo(jack) else np.asarray(jack),
        )

    def interval(self, fn, *, confidence_level=0.95, method="bca", value_range=None) -> dict:
        """Interval of a derived statistic ``fn(stats)``; see :func:`interval_from_replicates`."""
        theta, reps, jack = self.derive(fn)
        return self.intervals_of(
            theta,
            reps,
            jack,
            confidence_level=confidence_level,
            method=method,
            value_range=value_range,
        )

    def intervals_of(self, theta, reps, jack, **options) -> dict:
        """:func:`interval_from_replicates` of a statistic's point, replicates and jackknife
        values (with this bootstrap's weights and strata), for a statistic of many classes in
        blocks of classes that fit the memory plan: the same numbers (each class's interval
        is computed from its own column; blocks have at least two columns)."""
        theta = np.asarray(theta)
        width = self.plan.block_columns if self.plan is not None else None
        kw = dict(weights=self.jackknife_weights, strata=self.jackknife_strata, **options)
        if width is None or theta.ndim != 1 or theta.shape[0] <= width:
            return interval_from_replicates(theta, reps, jack, **kw)
        reps = np.asarray(reps)
        # a block in the whole array's layout: numpy sums a column in the same order then
        layout = np.asfortranarray if not reps.flags.c_contiguous else np.ascontiguousarray
        parts = []
        for cols in _column_blocks(theta.shape[0], width):
            j = None if jack is None else jack[..., cols] if is_loo(jack) else jack[:, cols]
            parts.append(interval_from_replicates(theta[cols], layout(reps[:, cols]), j, **kw))
        return {key: np.concatenate([p[key] for p in parts]) for key in parts[0]}


#: A jackknife whose (J, K) tables would have more cells than this is kept in leave-one-out form
#: (today's audits, up to a few hundred classes, stay below it and keep the dense tables).
DENSE_JACKKNIFE_CELLS = 4_000_000


#: A leave-one-cluster-out jackknife whose (J, K) tables would have more cells than this is kept
#: in sparse-delta form (:func:`cluster_jackknife_loo_tables`). The dense form holds about 30
#: (J, K) arrays (2.4 GB at this size: 1e5 clusters of 100 classes) and is 3 to 4 times faster;
#: the sparse form's memory follows the budget. A fixed number, not the budget, decides, so
#: that ``max_memory`` never changes a result (the two forms agree to rounding).
CLUSTER_DENSE_JACKKNIFE_CELLS = 10_000_000
#: At most this many cells in a block of the sparse-delta form (16 MB of float64 per array):
#: larger blocks are no faster, and arrays above glibc's 32 MB mmap threshold are mapped and
#: unmapped (page faults) at every evaluation. No number depends on the block size.
SPARSE_DELTA_BLOCK_CELLS = 2_000_000


def _column_blocks(k: int, width: int) -> list[np.ndarray]:
    """Index arrays of at least two columns each (unless k < 2) covering 0..k-1 in order."""
    width = max(2, int(width))
    starts = list(range(0, k, width))
    if len(starts) > 1 and k - starts[-1] < 2:
        starts.pop()
    ends = starts[1:] + [k]
    return [np.arange(s0, e) for s0, e in zip(starts, ends)]


# ------------------------------------------------------------------------------------------------
# DeLong


def delong_covariance(y_true, y_score):
    """Per-class AUCs and their full K x K DeLong covariance matrix (they share samples).

    The diagonal is exactly DeLong's ``S10/m + S01/q``; off-diagonal terms pair the structural
    components of the same sample (see :func:`prevalens.ranking.ovr_pass`). Memory O(n K).
    """
    y_score = np.asarray(y_score, dtype=np.float64)
    s = R.ovr_pass(y_true, y_score, combo_weights=np.eye(y_score.shape[1]))
    return s.auc, s.combo_cov


def delong_auc_variance(y_true, y_score, weights=None):
    """DeLong variance of each per-class AUC, and the covariance of the linear combinations
    ``weights.T @ auc`` (``weights``: (K, m); undefined classes must have weight 0).

    Returns ``(auc, per_class_var, combo_cov)``; see :func:`prevalens.ranking.ovr_pass`.
    """
    s = R.ovr_pass(y_true, y_score, combo_weights=weights)
    return s.auc, s.delong_var, s.combo_cov


# ------------------------------------------------------------------------------------------------
# score bootstrap over samples (micro AUC and the macro - micro AUC gap, log loss, Brier)


def _tie_groups_desc(values):
    """Order (descending) and the start index of each group of tied values in that order."""
    order = np.argsort(-values, kind="stable")
    v = values[order]
    starts = np.r_[0, np.flatnonzero(np.diff(v)) + 1] if v.size else np.array([], dtype=np.int64)
    return order, starts


def _weighted_auc(w_pos_sorted, w_neg_sorted, starts):
    """ROC AUC for replicate weights in descending-score order, ties counted half."""
    gp = np.add.reduceat(w_pos_sorted, starts, axis=1)
    gn = np.add.reduceat(w_neg_sorted, starts, axis=1)
    # negatives strictly below a group = all negatives - negatives at or above it
    neg_at_or_above = np.cumsum(gn, axis=1)
    tot_n = neg_at_or_above[:, -1:]
    below = tot_n - neg_at_or_above
    tot_p = gp.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return ((gp * (below + gn / 2)).sum(axis=1)) / (tot_p * tot_n[:, 0])


def _sample_weights(y_true, k, b, rng, scheme, cluster=None):
    """(b, n) resample counts: per replicate, n rows drawn with replacement (within each true class
    for the stratified scheme), or, for the cluster scheme, C clusters drawn with replacement and
    each row weighted by the number of times its cluster was drawn."""
    n = y_true.size
    w = np.zeros((b, n), dtype=np.float64)
    if scheme == "cluster":
        n_clusters = int(cluster.max()) + 1
        draws = rng.integers(0, n_clusters, size=(b, n_clusters))
        for r in range(b):
            w[r] = np.bincount(draws[r], minlength=n_clusters)[cluster]
    elif scheme == "stratified":
        for c in range(k):
            idx = np.flatnonzero(y_true == c)
            if idx.size == 0:
                continue
            draws = rng.integers(0, idx.size, size=(b, idx.size))
            for r in range(b):
                w[r, idx] = np.bincount(draws[r], minlength=idx.size)
    else:
        draws = rng.integers(0, n, size=(b, n))
        for r in range(b):
            w[r] = np.bincount(draws[r], minlength=n)
    return w


def score_bootstrap(pred, n_resamples, rng, scheme, *, chunk=None) -> dict:
    """Replicates of the score metrics that have no analytic interval here (micro ROC AUC, log
    loss, Brier) and of the per-class and macro ROC AUC jointly with the micro one (for the
    interval of the macro - micro gap), from per-sample resample counts shared by all of them.
    Returns ``{key: (B, ...) array}``; keys starting with ``_`` are for joint use only (their own
    intervals are analytic)."""
    y_true = pred.y_true
    s = pred.y_score
    n, k = s.shape
    y = R._one_hot(y_true, k)
    chunk = chunk or max(1, min(n_resamples, int(2e6 // max(n * k, 1))))
    col_groups = [_tie_groups_desc(s[:, j]) for j in range(k)]
    flat = s.ravel()
    flat_y = y.ravel()
    flat_sample = np.repeat(np.arange(n), k)
    f_order, f_starts = _tie_groups_desc(flat)
    means = {}
    if pred.scores_are_probabilities:
        eps = np.finfo(np.float64).eps
        means["overall.log_loss"] = -np.log(np.clip(s[np.arange(n), y_true], eps, 1 - eps))
        means["overall.brier"] = R.brier_per_sample(y_true, s)
    out: dict[str, list] = {}
    for start in range(0, n_resamples, chunk):
        b = min(chunk, n_resamples - start)
        w = _sample_weights(y_true, k, b, rng, scheme, pred.cluster)
        tot = w.sum(axis=1)
        for key, v in means.items():
            out.setdefault(key, []).append(w @ v / tot)
        auc = np.empty((b, k))
        for j, (order, starts) in enumerate(col_groups):
            wo = w[:, order]
            wp = wo * y[order, j]
            with np.errstate(invalid="ignore", divide="ignore"):
                auc[:, j] = _weighted_auc(wp, wo - wp, starts)
        # per-class and macro AUC of the same replicates (joint with micro AUC: the gap's interval)
        out.setdefault("_per_class.roc_auc", []).append(auc)
        out.setdefault("_macro.roc_auc", []).append(M.macro(auc))
        wf = w[:, flat_sample[f_order]]
        yf = flat_y[f_order]
        out.setdefault("micro.roc_auc", []).append(_weighted_auc(wf * yf, wf * ~yf, f_starts))
    return {key: np.concatenate(v, axis=0) for key, v in out.items()}


def micro_auc_variance(y_true, y_score, *, max_samples: int = 50_000, rng=None, cluster=None):
    """Variance of the micro ROC AUC with each sample a cluster of K entries (Obuchowski 1997):
    ``n/(n-1) sum_i z_i^2`` with ``z_i`` the sum of the sample's structural components.

    Above ``max_samples`` samples the variance is estimated on a random subsample of that size and
    scaled by ``n_sub / n`` (the variance of this U-statistic falls as 1/n); the point estimate is
    always the full-data one. Returns ``(variance, n_used)``.
    """
    y_true = np.asarray(y_true, dtype=np.int64)
    y_score = np.asarray(y_score, dtype=np.float64)
    n_full = y_true.size
    if n_full > max_samples:
        rng = np.random.default_rng(rng)
        if cluster is None:
            idx = np.sort(rng.choice(n_full, size=max_samples, replace=False))
        else:  # whole clusters, in random order, until about max_samples rows
            cluster = np.asarray(cluster, dtype=np.int64)
            sizes = np.bincount(cluster)
            perm = rng.permutation(sizes.size)
            keep = perm[: int(np.searchsorted(np.cumsum(sizes[perm]), max_samples)) + 1]
            idx = np.flatnonzero(np.isin(cluster, keep))
            cluster = cluster[idx]
        y_true, y_score = y_true[idx], y_score[idx]
    y = R._one_hot(y_true, y_score.shape[1])
    n, k = y_score.shape
    n_pos = int(y.sum())
    n_neg = y.size - n_pos
    z = np.zeros(n)
    q, lt, le, pos_lt, pos_le = R._micro_counts(y, y_score)  # one pass: theta from the same counts
    theta = float((((lt - pos_lt) + (le - pos_le)) / 2.0).sum() / (n_pos * n_neg))
    # positives (one per sample), in the sorted order of their scores
    order = np.argsort(y_score[y], kind="stable")
    v10 = np.empty(n_pos)
    v10[order] = ((lt - pos_lt) + (le - pos_le)) / (2.0 * n_neg)
    rows_pos = np.nonzero(y)[0]
    np.add.at(z, rows_pos, (v10 - theta) / n_pos)
    pos_vals = q
    for j in range(k):
        neg = ~y[:, j]
        vals = y_score[neg, j]
        l_ = np.searchsorted(pos_vals, vals, "left")
        r_ = np.searchsorted(pos_vals, vals, "right")
        above = n_pos - (l_ + r_) / 2.0
        z[neg] += (above / n_pos - theta) / n_neg
    if cluster is not None:  # Obuchowski (1997): sum the components within each cluster
        z = np.bincount(np.unique(cluster, return_inverse=True)[1], weights=z)
    m = z.size
    if m < 2:  # one cluster: no variance between clusters to estimate
        return math.nan, n
    var = float(m / (m - 1) * (z @ z)) * (n / n_full)
    return var, n


# ------------------------------------------------------------------------------------------------
# every interval of an audit


@dataclass(frozen=True)
class Interval:
    """One computed interval: bounds (NaN when there is none, with a ``note`` saying why), the
    standard error, the method's name and the share of replicates in which the quantity was
    undefined (bootstrap only)."""

    low: float
    high: float
    se: float
    method: str
    note: str | None = None
    undefined_fraction: float | None = None
    approximate: bool = False  # e.g. too few effective clusters: the note says why
    #: A status the engine sets itself (``"boundary"``, ``"unstable"``), or None for the default.
    status: str | None = None

    @property
    def unstable(self) -> bool:
        return (
            self.approximate
            or self.status == "unstable"
            or (self.undefined_fraction is not None and self.undefined_fraction > UNSTABLE_FRACTION)
        )


class IntervalTable(dict):
    """Intervals by key (``"macro.f1"``, or ``("per_class.recall", j)`` for class j), each entered
    through :meth:`put`, which applies the rules every interval follows: bounds that are not
    finite, or an interval of zero width, are no interval (with a note saying why); a quantity
    undefined in more than 5% of replicates is marked unstable."""

    def put(
        self, key, lo, hi, se, method, note=None, undef=None, approximate=None, *, status=None
    ) -> None:
        """Enter one interval; ``approximate`` is the reason it is only approximate (status
        ``unstable``), if it is; ``status`` one the engine sets itself (e.g. ``boundary``)."""
        lo, hi = float(lo), float(hi)
        if not (math.isfinite(lo) and math.isfinite(hi)):
            lo = hi = math.nan
            note = note or (
                "no interval: the method is undefined here (no variation in the "
                "data, e.g. perfect separation or identical scores)"
            )
        elif hi - lo <= 1e-12 * max(1.0, abs(hi)):
            lo = hi = math.nan
            note = note or "no interval: the data show no variation to base one on"
        undef = None if undef is None else float(undef)
        if undef is not None and undef > UNSTABLE_FRACTION:
            note = (
                note + "; " if note else ""
            ) + f"undefined in {undef:.1%} of bootstrap replicates"
        if approximate and math.isfinite(lo):
            note = (note + "; " if note else "") + approximate
        self[key] = Interval(
            lo,
            hi,
            float(se),
            method,
            note,
            undef,
            bool(approximate and math.isfinite(lo)),
            status,
        )

    def put_many(self, key, res, method, k=None) -> None:
        """Enter the result ``res`` of :func:`interval_from_replicates`: a scalar, or per class
        (``k`` classes) under keys ``(key, j)``."""
        if k is None:
            self.put(
                key,
                res["low"],
                res["high"],
                res["se"],
                method,
                res["note"][()],
                res["undefined_fraction"],
            )
            return
        for j in range(k):
            self.put(
                (key, j),
                res["low"][j],
                res["high"][j],
                res["se"][j],
                method,
                res["note"][j],
                res["undefined_fraction"][j],
            )


#: A per-class metric's interval at any level ``alpha``: ``alpha -> (lows, highs)`` of shape
#: (K,), for the simultaneous intervals.
PerClassRule = Callable[[float], tuple[np.ndarray, np.ndarray]]


@dataclass
class Intervals:
    """Every interval of an audit (:attr:`table`), the simultaneous per-class intervals, and the
    engine whose joint replicates the analyses derive their intervals from."""

    table: IntervalTable
    simultaneous: dict
    engine: Engine


def compute_intervals(
    pred: Predictions,
    cm,
    point: dict,
    config,
    summary=None,
    *,
    average_precision: bool = True,
    row_weights=None,
) -> Intervals:
    """Every interval of an audit: label metrics from the count bootstrap (per-class proportions,
    F1 and Jaccard from score intervals), score metrics from DeLong or a bootstrap over samples,
    and the simultaneous per-class intervals. ``summary`` is the ranking pass of
    :func:`~prevalens.ranking.score_statistics` (its DeLong components are reused).
    ``average_precision=False`` leaves the average precisions without intervals (a comparison
    of models does not compare them; their influence values cost a third of an audit).
    ``row_weights`` (m, K): weighted column sums the stratified draw also accumulates (for the
    projection to a deployment's prevalence, :mod:`prevalens.analyses.shift`)."""
    alpha = 1 - config.confidence_level
    count_ss, score_ss = np.random.SeedSequence(config.seed).spawn(2)
    k = cm.shape[0]
    boot = CountBootstrap.run(
        cm,
        M.count_statistics,
        config.n_resamples,
        np.random.default_rng(count_ss),
        scheme=config.resampling,
        cluster_cells=pred.cluster_cells() if pred.clustered else None,
        max_memory=getattr(config, "max_memory", None),
        row_weights=row_weights,
    )
    table = IntervalTable()
    design = ClusterDesign.of_sizes(pred.cluster_sizes()) if pred.clustered else None
    if design is None:
        _label_intervals(boot, config, alpha, k, table)
        rules = _proportion_intervals(cm, config, alpha, table)
    else:
        _cluster_label_intervals(boot, design, config, alpha, k, table)
        # (C, K) arrays of about 24 floats a cell, in chunks of classes within a quarter of the
        # budget (any chunk of two or more columns gives the same numbers)
        budget = getattr(config, "max_memory", None) or default_max_memory()
        rules = _cluster_proportion_intervals(
            pred, design, config, alpha, table, chunk_cells=min(20_000_000, budget // 4 // 192)
        )
    score_reps = None
    if pred.y_score is not None:
        if summary is None:
            summary = R.ovr_pass(
                pred.y_true,
                pred.y_score,
                combo_weights=R.auc_combination_weights(
                    np.bincount(pred.y_true, minlength=k), pred.n_samples
                ),
                cluster=pred.cluster,
                ap_weights=R.ap_combination_weights(np.bincount(pred.y_true, minlength=k)),
            )
        score_rules, score_reps = _score_intervals(
            pred, point, config, alpha, score_ss, summary, table, average_precision
        )
        rules.update(score_rules)
    elif pred.has_scores:  # counted by an engine (prevalens.counted.CountedRanks)
        assert summary is not None
        rules["roc_auc"] = _auc_intervals(pred, point, alpha, summary, table)
        if average_precision:
            rules["average_precision"] = _ap_intervals(pred, point, config, alpha, summary, table)
        _counted_score_intervals(pred, point, alpha, table.put)
    simultaneous = _simultaneous(point, boot, rules, config, alpha, pred.classes)
    return Intervals(table, simultaneous, Engine(boot, score_reps, summary, design))


def _label_intervals(boot: CountBootstrap, config, alpha, k, table: IntervalTable) -> None:
    """Label metrics by the bootstrap of counts; per-class proportions, F1 and Jaccard get score
    intervals instead (unless ``proportion_interval="bootstrap"``)."""
    analytic = (
        ()
        if config.proportion_interval == "bootstrap"
        else tuple(
            f"per_class.{m}"
            for m in ("recall", "precision", "specificity", "npv", "prevalence", "f1", "jaccard")
        )
    )
    method = f"{config.interval}({boot.method} bootstrap, B={boot.n_resamples})"
    for key, theta in boot.point.items():
        if key in analytic or key.startswith("_"):
            continue
        name = key.split(".", 1)[1]
        res = boot.intervals_of(
            theta,
            boot.replicates[key],
            boot.jackknife[key],
            alpha=alpha,
            method=config.interval,
            value_range=_RANGE.get(name, (0.0, 1.0)),
        )
        table.put_many(key, res, method, k if key.startswith("per_class.") else None)


def _scale_of(name: str) -> str:
    """How an interval is built for a metric's range: logit for [0, 1], on (x + 1)/2 for [-1, 1]."""
    return "symmetric" if _RANGE.get(name) == (-1.0, 1.0) else "logit"


def _cluster_label_intervals(
    boot: CountBootstrap, design: ClusterDesign, config, alpha, k, table: IntervalTable
) -> None:
    """Label metrics with a cluster column: the leave-one-cluster-out jackknife (the distinct
    leave-one-cluster-out matrices the engine forms anyway) on the logit scale with t(Kish - 1);
    per-class proportions, F1 and Jaccard get cluster-robust score intervals instead."""
    analytic = (
        ()
        if config.proportion_interval == "bootstrap"
        else tuple(
            f"per_class.{m}"
            for m in ("recall", "precision", "specificity", "npv", "prevalence", "f1", "jaccard")
        )
    )
    method = (
        f"jackknife over clusters, t(df={design.df:.1f}); {design.n_clusters} clusters, "
        f"effective number {design.effective:.1f}"
    )
    for key, theta in boot.point.items():
        if key in analytic or key.startswith("_"):
            continue
        name = key.split(".", 1)[1]
        lo, hi, se = jackknife_t_interval(
            theta,
            boot.jackknife[key],
            boot.jackknife_weights,
            df=design.df,
            alpha=alpha,
            scale=_scale_of(name),
        )
        keys = [(key, j) for j in range(k)] if key.startswith("per_class.") else [key]
        for i, kk in enumerate(keys):
            sel = i if len(keys) > 1 else ()
            table.put(kk, lo[sel], hi[sel], se[sel], method, approximate=design.few)


def _cluster_proportion_intervals(
    pred: Predictions,
    design: ClusterDesign,
    config,
    alpha,
    table: IntervalTable,
    *,
    chunk_cells: int = 20_000_000,
) -> dict[str, PerClassRule]:
    """Per-class proportions with a cluster column: the cluster-robust (CR2) variance of each
    ratio, Korn & Graubard's effective number of trials and a Wilson (or Clopper-Pearson)
    interval with t(Kish_k - 1), Kish_k the effective number of the clusters that hold the
    proportion's rows; F1 through tp/(tp+fp+fn). Returns the rules at any level."""
    prop_fn = PROPORTION_INTERVALS.get(config.proportion_interval)
    if prop_fn is None:
        return {}
    k = pred.n_classes
    # each cluster's supports, predicted counts and true positives, from its confusion cells
    cells = sparse.coo_matrix(pred.cluster_cells())
    c = cells.shape[0]
    truth, predicted_as = np.divmod(cells.col.astype(np.int64), k)
    w = cells.data.astype(np.float64)

    def counts(cols, mask=None):
        if mask is None:
            return sparse.csc_matrix((w, (cells.row, cols)), shape=(c, k))
        return sparse.csc_matrix((w[mask], (cells.row[mask], cols[mask])), shape=(c, k))

    support = counts(truth)
    predicted = counts(predicted_as)
    tp = counts(truth, truth == predicted_as)
    rows = np.bincount(cells.row, weights=w, minlength=c)[:, None]
    parts: dict[str, list] = {
        name: [] for name in ("recall", "precision", "specificity", "npv", "prevalence", "jaccard")
    }
    # classes in chunks of at least two columns (numpy then sums each column in the same order
    # as over the whole array), each chunk reduced to its per-class summaries: memory O(C x step)
    step = max(2, chunk_cells // max(c, 1))
    starts = list(range(0, k, step))
    if len(starts) > 1 and k - starts[-1] < 2:
        starts.pop()  # no chunk of one column: the last two chunks merged
    for i, s in enumerate(starts):
        cols = slice(s, starts[i + 1] if i + 1 < len(starts) else k)
        sup, prd, t = (m[:, cols].toarray() for m in (support, predicted, tp))
        tn = rows - sup - prd + t
        pairs = {
            "recall": (t, sup),
            "precision": (t, prd),
            "specificity": (tn, rows - sup),
            "npv": (tn, rows - prd),
            "prevalence": (sup, np.ascontiguousarray(np.broadcast_to(rows, sup.shape))),
            "jaccard": (t, sup + prd - t),
        }
        for name, (y, n) in pairs.items():
            parts[name].append(cluster_ratio_summary(y, n))
        del sup, prd, t, tn, pairs
    rules: dict[str, PerClassRule] = {}
    for name, chunks in parts.items():
        summary = ClusterRatioSummary.concatenate(chunks)

        def rule(a, summary=summary):
            r, lo, hi, n_cl, kish = cluster_ratio_from(summary, alpha=a, interval=prop_fn)
            return lo, hi

        r, lo, hi, n_cl, kish = cluster_ratio_from(summary, alpha=alpha, interval=prop_fn)
        total = summary.total
        z = special.ndtri(1 - alpha / 2)
        targets = [name] if name != "jaccard" else ["jaccard", "f1"]
        for target in targets:
            for j in range(k):
                if not total[j] > 0:
                    continue
                l_, h_ = lo[j], hi[j]
                if target == "f1":
                    l_, h_ = 2 * l_ / (1 + l_), 2 * h_ / (1 + h_)
                few = kish[j] < ClusterDesign.MIN_EFFECTIVE or n_cl[j] < ClusterDesign.MIN_CLUSTERS
                method = (
                    f"{config.proportion_interval}, cluster-robust effective n (CR2; "
                    f"Korn-Graubard), t(df={max(kish[j] - 1, 1):.1f}); {int(n_cl[j])} clusters, "
                    f"effective number {kish[j]:.1f}"
                    + ("; on tp/(tp+fp+fn), mapped by F1 = 2J/(1+J)" if target == "f1" else "")
                )
                note = None
                if n_cl[j] < 2:
                    note = (
                        "no interval: all samples of this quantity come from one cluster, "
                        "so the clusters give no variation to base one on"
                    )
                table.put(
                    (f"per_class.{target}", j),
                    l_,
                    h_,
                    (h_ - l_) / (2 * z),
                    method,
                    note,
                    approximate=(
                        f"few effective clusters ({int(n_cl[j])} clusters, effective number "
                        f"{kish[j]:.1f}): approximate (simulated coverage 0.94-0.99)"
                    )
                    if few
                    else None,
                )
        rules[name] = rule
        if name == "jaccard":
            jac_rule = rule

            def f1_rule(a, jac_rule=jac_rule):
                lo, hi = jac_rule(a)
                return 2 * lo / (1 + lo), 2 * hi / (1 + hi)

            rules["f1"] = f1_rule
    return rules


def _proportion_intervals(cm, config, alpha, table: IntervalTable) -> dict[str, PerClassRule]:
    """Wilson (or Clopper-Pearson, or mid-p) intervals of the per-class proportions, and of F1
    and Jaccard through tp/(tp+fp+fn); returns their rules at any level for the simultaneous
    intervals. The standard error reported is the one the interval implies, (hi - lo) / (2 z):
    never 0 beside an interval of non-zero width (the Wald SE is 0 at 0 of 3)."""
    prop_fn = PROPORTION_INTERVALS.get(config.proportion_interval)
    if prop_fn is None:
        return {}
    k = cm.shape[0]
    tp, fp, fn, tn = (np.asarray(x, dtype=np.float64) for x in class_tables(cm))
    proportions = {
        "recall": (tp, tp + fn),
        "precision": (tp, tp + fp),
        "specificity": (tn, tn + fp),
        "npv": (tn, tn + fn),
        "prevalence": (tp + fn, np.full(k, float(cm.sum()))),
    }
    # F1 and Jaccard of a class: given the U = tp + fp + fn samples that are of the class or
    # predicted as it, tp is Binomial(U, J) under multinomial sampling, with J the population
    # Jaccard index; F1 = 2J / (1 + J) is increasing in J. So a score interval for J mapped
    # through that transform is an interval for F1, valid down to a handful of samples, where
    # the bootstrap of a tiny class degenerates (e.g. tp = 0 in every replicate).
    union = tp + fp + fn
    lo, hi = prop_fn(tp, union, alpha=alpha)
    z = special.ndtri(1 - alpha / 2)
    for j in range(k):
        if union[j] > 0:
            m = f"{config.proportion_interval} on tp/(tp+fp+fn) (n={int(union[j])})"
            table.put(("per_class.jaccard", j), lo[j], hi[j], (hi[j] - lo[j]) / (2 * z), m)
            f_lo, f_hi = 2 * lo[j] / (1 + lo[j]), 2 * hi[j] / (1 + hi[j])
            table.put(
                ("per_class.f1", j),
                f_lo,
                f_hi,
                (f_hi - f_lo) / (2 * z),
                m + ", mapped by F1 = 2J/(1+J)",
            )
    for name, (succ, trials) in proportions.items():
        lo, hi = prop_fn(succ, trials, alpha=alpha)
        for j in range(k):
            if trials[j] > 0:
                table.put(
                    (f"per_class.{name}", j),
                    lo[j],
                    hi[j],
                    (hi[j] - lo[j]) / (2 * z),
                    f"{config.proportion_interval} (n={int(trials[j])})",
                )

    def rule(succ, trials) -> PerClassRule:
        return lambda a: prop_fn(succ, trials, alpha=a)

    rules = {name: rule(succ, trials) for name, (succ, trials) in proportions.items()}
    rules["jaccard"] = lambda a: prop_fn(tp, union, alpha=a)

    def f1_rule(a):
        lows, highs = prop_fn(tp, union, alpha=a)
        return 2 * lows / (1 + lows), 2 * highs / (1 + highs)

    rules["f1"] = f1_rule
    return rules


def _simultaneous(point, boot: CountBootstrap, rules: dict, config, alpha, classes) -> dict:
    """Per-class intervals adjusted for the K comparisons of each per-class metric."""
    k = len(classes)
    out = {}
    for name in M.PER_CLASS_RATIOS + ("prevalence", "roc_auc", "average_precision"):
        key = f"per_class.{name}"
        if key not in point:
            continue
        family = int(np.count_nonzero(~np.isnan(point[key])))
        adj = adjusted_alpha(alpha, family, config.multiplicity)
        if name in rules:
            lows, highs = rules[name](adj)
        elif key in boot.point:
            res = boot.intervals_of(
                boot.point[key],
                boot.replicates[key],
                boot.jackknife[key],
                alpha=adj,
                method=config.interval,
                value_range=(0.0, 1.0),
            )
            lows, highs = res["low"], res["high"]
        else:
            continue
        out[name] = {
            "adjustment": config.multiplicity,
            "family_size": family,
            "confidence_level": config.confidence_level,
            "per_class_level": 1 - adj,
            "intervals": [
                {
                    "label": classes[j],
                    "ci_low": json_number(lows[j]),
                    "ci_high": json_number(highs[j]),
                }
                for j in range(k)
            ],
        }
    return out


#: Method of the per-class ROC AUC interval (no cluster column).
HM_SCORE_METHOD = (
    "hm-score (Hanley-McNeil variance at the candidate AUC, DeLong ratios weighted by the error "
    "mass m(1-AUC); se = half-width / z)"
)

#: Note of an average precision of exactly 1 (no interval, status ``boundary``).
AP_BOUNDARY_NOTE = (
    "AP = 1: perfect ranking of this class; no interval method of demonstrated coverage exists at "
    "the boundary (the class's ROC AUC interval, which does, bounds the ranking quality)"
)

#: Micro AP closer to 1 than this, with a class of fewer than :data:`MICRO_AP_SMALL_CLASS`
#: samples, is marked ``unstable`` (its interval covered ~0.86 in such a simulated case).
MICRO_AP_NEAR_ONE = 1e-4
MICRO_AP_SMALL_CLASS = 30


def _score_intervals(
    pred, point, config, alpha, score_ss, summary, table: IntervalTable, average_precision=True
):
    """Intervals of the score metrics; returns the per-class rules (ROC AUC, AP) for the
    simultaneous intervals and the score replicates of the bootstrap over samples (None when it
    was too large)."""
    rules: dict[str, PerClassRule] = {}
    put = table.put
    s = pred.y_score
    y_true = pred.y_true
    n, k = s.shape
    B = config.n_resamples

    rules["roc_auc"] = _auc_intervals(pred, point, alpha, summary, table)
    if average_precision:
        rules["average_precision"] = _ap_intervals(pred, point, config, alpha, summary, table)

    # the rest: bootstrap over samples when affordable, else analytic approximations
    work = float(n) * k * B
    reps = None
    if work <= config.score_bootstrap_max_work:
        scheme = config.resampling if pred.cluster is None else "cluster"
        reps = score_bootstrap(pred, B, np.random.default_rng(score_ss), scheme)
        method = (
            f"percentile(bootstrap by sample, B={B})"
            if pred.cluster is None
            else f"percentile(cluster bootstrap, B={B})"
        )
        for key, r in reps.items():
            theta = point.get(key)
            if theta is None or key.startswith("_"):
                continue
            res = interval_from_replicates(
                theta,
                r,
                alpha=alpha,
                method="percentile",
                value_range=None if key.endswith(("log_loss", "brier")) else (0.0, 1.0),
            )
            table.put_many(key, res, method, k if key.startswith("per_class.") else None)
    else:
        _analytic_score_intervals(pred, point, alpha, put, score_ss)
    # top-k accuracy is a proportion of samples: Wilson in every regime (a bootstrap of it
    # degenerates under the stratified scheme when the misses are all of one small class)
    for kk in (3, 5):
        key = f"overall.top_{kk}_accuracy"
        if key in point:
            hits = int(R.top_k_hits(y_true, s, kk, above=point.get("_classes_above_true")).sum())
            l, h = wilson_interval(hits, n, alpha=alpha)
            put(
                key,
                l,
                h,
                math.sqrt(point[key] * (1 - point[key]) / n),
                f"wilson (n={n})" + _independent_note(pred),
            )

    # Hand & Till's one-vs-one AUC: DeLong-type variance from its per-sample components (the
    # placements of each sample among every other class, in both columns of each pair), on the
    # logit scale
    theta = point.get("overall.roc_auc_ovo")
    if theta is not None and np.isfinite(theta):
        v = summary.ovo_var
        ovo_df = summary.ovo_df
        lo_o, hi_o = logit_interval(
            theta, v, alpha=alpha, df=ovo_df if np.isfinite(ovo_df) else None
        )
        if np.isfinite(lo_o):
            put(
                "overall.roc_auc_ovo",
                lo_o,
                hi_o,
                math.sqrt(v),
                f"delong-logit (t, Welch-Satterthwaite df={ovo_df:.0f}; structural components of "
                "the pairwise AUCs)" + _independent_note(pred),
            )
        else:
            table["overall.roc_auc_ovo"] = Interval(
                math.nan,
                math.nan,
                math.sqrt(v) if v >= 0 else math.nan,
                "delong-logit",
                "no interval: the one-vs-one AUC shows no variation (every pair perfectly "
                "separated, or all scores tied)",
            )
    return rules, reps


def _cluster_auc_df(pred, k) -> np.ndarray:
    """Degrees of freedom of a clustered per-class AUC: as many as clusters holding positives
    (negatives) of the class, not samples, minus one."""
    cells = pred.cluster_cells().tocoo()  # rows or counted cells alike: (clusters x K^2)
    pairs = np.unique(np.stack([cells.row, cells.col // k]), axis=1)  # (cluster, true class)
    n_cl = cells.shape[0]
    c_pos = np.bincount(pairs[1], minlength=k)  # clusters holding a sample of class j
    pure = np.bincount(pairs[0], minlength=n_cl)[pairs[0]] == 1  # one-class clusters
    c_neg = n_cl - np.bincount(pairs[1][pure], minlength=k)  # clusters holding another class
    return np.maximum(np.minimum(c_pos, c_neg) - 1, 1)


def auc_score_intervals(summary, *, alpha) -> tuple[np.ndarray, np.ndarray]:
    """The HM-S score interval (:func:`prevalens.intervals.auc_score_interval`) of every class's
    ROC AUC from the DeLong components of a ranking pass (rows as independent samples)."""
    n_pos = summary.n_pos
    n_neg = int(n_pos.sum()) - n_pos
    return auc_score_interval(
        summary.auc, summary.delong_s10, summary.delong_s01, n_pos, n_neg, alpha=alpha
    )


def _auc_intervals(pred, point, alpha, summary, table: IntervalTable) -> PerClassRule:
    """Per-class, macro and weighted ROC AUC; returns the per-class rule.

    Per class: the HM-S score interval (valid near and at AUC = 1 with few positives). With a
    cluster column: DeLong's clustered variance (Obuchowski 1997) on the logit scale with
    t(clusters - 1), and Wilson with n = min(positives, negatives) at AUC 0 or 1 (HM-S was not
    validated under clustering). Macro and weighted: the full DeLong covariance of the per-class
    AUCs on the logit scale with Welch-Satterthwaite degrees of freedom.
    """
    k = summary.auc.size
    auc = point["per_class.roc_auc"]
    defined = ~np.isnan(auc)
    var = summary.delong_var
    n_pos = summary.n_pos
    n = int(n_pos.sum())
    n_neg = n - n_pos
    z = special.ndtri(1 - alpha / 2)
    clustered = pred.clustered
    if not clustered:
        df = np.maximum(np.minimum(n_pos, n_neg) - 1, 1)

        def auc_rule(a):
            return auc_score_intervals(summary, alpha=a)

        lo, hi = auc_rule(alpha)
        for j in range(k):
            if defined[j]:
                put_se = (hi[j] - lo[j]) / (2 * z)
                table.put(
                    ("per_class.roc_auc", j),
                    lo[j],
                    hi[j],
                    put_se,
                    HM_SCORE_METHOD + f"; m={int(n_pos[j])}, n={int(n_neg[j])}",
                )
    else:
        df = _cluster_auc_df(pred, k)

        def auc_rule(a):
            lo, hi = logit_interval(auc, var, alpha=a, df=df)
            # At the boundary (AUC 0 or 1) DeLong's variance is 0 and the logit interval
            # undefined: Wilson with n = min(m, q), so that the interval still reflects how few
            # samples support the claim.
            edge = defined & ~np.isfinite(lo)
            if edge.any():
                eff = np.minimum(n_pos, n_neg)
                wl, wh = wilson_interval(auc * eff, eff, alpha=a)
                lo = np.where(edge, wl, lo)
                hi = np.where(edge, wh, hi)
            return lo, hi

        lo, hi = auc_rule(alpha)
        caveat = (
            "; clustered (Obuchowski 1997); not the small-sample (HM-S) interval used without "
            "clusters, which was not validated under clustering"
        )
        for j in range(k):
            if defined[j]:
                edge = not (0 < auc[j] < 1) or not var[j] > 0
                if edge:
                    table.put(
                        ("per_class.roc_auc", j),
                        lo[j],
                        hi[j],
                        (hi[j] - lo[j]) / (2 * z),
                        "wilson (AUC at the boundary; n = min(positives, negatives); se = "
                        "half-width / z)" + caveat,
                    )
                else:
                    table.put(
                        ("per_class.roc_auc", j),
                        lo[j],
                        hi[j],
                        math.sqrt(var[j]),
                        f"delong-logit (t, df={int(df[j])})" + caveat,
                    )

    cluster_note = "; clustered (Obuchowski 1997)" if clustered else ""
    combo = summary.combo_cov
    weights = R.auc_combination_weights(n_pos, n)
    unreliable = R.delong_unreliable(auc, n_pos, var)
    for col, key in ((0, "macro.roc_auc"), (1, "weighted.roc_auc")):
        theta = point[key]
        v = combo[col, col] if combo is not None else np.nan
        if np.isnan(theta):
            continue
        # Welch-Satterthwaite degrees of freedom from the classes' shares of the variance: the
        # average is only as well determined as its rare classes (coverage simulation in
        # tests/test_coverage.py: the normal quantile under-covered, ~0.93-0.94).
        vk = weights[:, col] ** 2 * np.nan_to_num(var)
        df_eff = float(vk.sum() ** 2 / np.sum(vk**2 / df)) if vk.sum() > 0 else np.nan
        lo_m, hi_m = logit_interval(theta, v, alpha=alpha, df=df_eff)
        if not np.isfinite(lo_m):
            table[key] = Interval(
                math.nan,
                math.nan,
                math.sqrt(v) if v >= 0 else math.nan,
                "delong-logit",
                "no interval: DeLong's variance is 0 (perfect "
                "separation or all scores tied), so the logit interval is "
                "undefined",
            )
            continue
        # A class at or near AUC 0 or 1 (R.delong_unreliable) has a DeLong variance that says
        # little about its uncertainty: the average's interval is too narrow. Simulated
        # (tests/score_sims.py): coverage 0.70-0.90 when five classes sit at 0.999, 0.84-0.93 at
        # 0.99 with few positives; no replacement studied (HM-S implied variances: vacuous
        # intervals near 1 on the logit scale; MOVER from the HM-S intervals: 0.92-0.97) was
        # valid throughout (docs/design.md, Intervals).
        at_edge = (weights[:, col] > 0) & unreliable
        note = status = None
        if at_edge.any():
            status = "unstable"
            note = R.DELONG_EDGE_NOTE.format(n=int(at_edge.sum()))
        table.put(
            key,
            lo_m,
            hi_m,
            math.sqrt(v) if v >= 0 else math.nan,
            f"delong-logit (t, Welch-Satterthwaite df={df_eff:.0f}; full covariance of the "
            "per-class AUCs)" + cluster_note,
            note,
            status=status,
        )
    return auc_rule


def _ap_method(df: float, unit: str) -> str:
    shown = "inf" if not math.isfinite(df) else f"{max(df - 1.0, 1.0):.1f}"
    return (
        f"logit-t ({unit}; t with df={shown}: the effective number of observations carrying the "
        "variance, minus 1)"
    )


def _ap_intervals(pred, point, config, alpha, summary, table: IntervalTable) -> PerClassRule:
    """Average precision, per class, micro, macro and weighted: standard errors from influence
    values (per class: the exact jackknife) on the logit scale with a t quantile of
    max(df - 1, 1) degrees of freedom, df = (sum u^2)^2 / sum u^4 over the influence values (the
    effective number of observations carrying the variance: 2-4 near AP = 1, where a handful of
    negatives ranked among the positives decide AP). No resampling: O(N log N) per class.

    AP = 1 exactly has no interval (status ``boundary``). Returns the per-class rule.
    """
    k = summary.auc.size
    ap = point["per_class.average_precision"]
    se = summary.ap_se
    t_df = np.maximum(np.nan_to_num(summary.ap_df, nan=1.0) - 1.0, 1.0)
    clustered = pred.clustered
    unit = (
        "cluster-robust influence-function SE over clusters; the clustered form is not validated "
        "by simulation"
        if clustered
        else "exact jackknife SE, stratified by positives / negatives"
    )

    def ap_rule(a):
        return logit_t_interval(ap, se, alpha=a, df=t_df)

    lo, hi = ap_rule(alpha)
    for j in range(k):
        if np.isnan(ap[j]):
            continue
        if ap[j] >= 1.0:
            table.put(
                ("per_class.average_precision", j),
                math.nan,
                math.nan,
                math.nan,
                f"logit-t ({unit}); none at AP = 1",
                AP_BOUNDARY_NOTE,
                status="boundary",
            )
        else:
            method = _ap_method(summary.ap_df[j], unit)
            table.put(("per_class.average_precision", j), lo[j], hi[j], se[j], method)

    # macro, weighted and micro: the influence values summed within each sample (or cluster);
    # the unit's totals D_c give se^2 = C / (C - 1) sum D_c^2 and df = (sum D^2)^2 / sum D^4
    unit_name = "cluster (clustered form not validated by simulation)" if clustered else "sample"
    spread = summary.ap_combo_spread  # counted by an engine: no rows, the spreads themselves
    if spread is None:
        y_true = pred.y_true
        n = y_true.size
        unit_of = pred.cluster if clustered else None

    def by_unit(d):
        tot = d if unit_of is None else np.bincount(unit_of, weights=d)
        c = tot.size
        return math.sqrt(c / max(c - 1, 1) * float(tot @ tot)), float(effective_dof(tot))

    infl = summary.ap_influence
    at_one = ~np.isnan(ap) & (ap >= 1.0)
    for col, key in ((0, "macro.average_precision"), (1, "weighted.average_precision")):
        theta = float(point[key])
        free = col == 1 and (config.resampling != "stratified" or clustered)
        if math.isnan(theta) or (infl is None and spread is None):
            continue
        if spread is None:
            d = infl[col].copy()
            if free:
                # with class supports free to vary, the weights n_k / N vary too
                d += (np.nan_to_num(ap)[y_true] - theta) / n
        how = f"influence-function SE by {unit_name}, per-class APs combined"
        if theta >= 1.0:
            table.put(
                key,
                math.nan,
                math.nan,
                math.nan,
                f"logit-t ({how}); none at AP = 1",
                _AP_ALL_ONE,
                status="boundary",
            )
            continue
        se_m, df_m = by_unit(d) if spread is None else spread[2 if free else col]
        method = _ap_method(df_m, how)
        l, h = logit_t_interval(theta, se_m, alpha=alpha, df=max(df_m - 1.0, 1.0))
        note = None
        status = None
        if at_one.any():
            note = (
                f"{int(at_one.sum())} class(es) with AP = 1 add no variance to the interval (no "
                "interval method of demonstrated coverage exists at AP = 1)"
            )
            status = "unstable"
        table.put(key, l, h, se_m, method, note, status=status)

    theta = float(point["micro.average_precision"])
    if not math.isnan(theta):
        how = f"influence-function SE by {unit_name}, the entries of a sample summed"
        if theta >= 1.0:
            table.put(
                "micro.average_precision",
                math.nan,
                math.nan,
                math.nan,
                f"logit-t ({how}); none at AP = 1",
                "micro AP = 1: every class perfectly ranked; no interval method of demonstrated "
                "coverage exists at the boundary",
                status="boundary",
            )
        else:
            if spread is None:
                _, d = R.micro_average_precision_influence(y_true, pred.y_score)
                se_m, df_m = by_unit(d)
            else:
                se_m, df_m = pred.ranks.micro["ap_spread"]
            method = _ap_method(df_m, how)
            l, h = logit_t_interval(theta, se_m, alpha=alpha, df=max(df_m - 1.0, 1.0))
            support = summary.n_pos
            small = (support > 0) & (support < MICRO_AP_SMALL_CLASS)
            note = status = None
            if small.any() and 1.0 - theta < MICRO_AP_NEAR_ONE:
                status = "unstable"
                note = (
                    "micro AP near 1 is governed by the score tails of classes with few samples "
                    f"({int(small.sum())} class(es) with fewer than {MICRO_AP_SMALL_CLASS} "
                    "samples)"
                )
            table.put("micro.average_precision", l, h, se_m, method, note, status=status)
    return ap_rule


_AP_ALL_ONE = (
    "AP = 1 for every class: perfect ranking; no interval method of demonstrated coverage exists "
    "at the boundary (the ROC AUC intervals, which do, bound the ranking quality)"
)


def _independent_note(pred) -> str:
    """For the few intervals that have no clustered form here: say that they ignore clusters."""
    return (
        (
            "; samples treated as independent (no clustered form of this interval; expect it to "
            "be too narrow when rows of a cluster are alike)"
        )
        if pred.clustered
        else ""
    )


def _loss_interval(key, theta, se, df, how, alpha, put) -> None:
    q = special.stdtrit(df, 1 - alpha / 2)
    put(key, theta - q * se, theta + q * se, se, how)


def _counted_score_intervals(pred, point, alpha, put) -> None:
    """The micro ROC AUC (DeLong, every row), top-k accuracy (Wilson), log loss and Brier score
    (t intervals of a mean of per-sample losses, cluster-robust with clusters) from an engine's
    counts (:class:`prevalens.counted.CountedRanks`, :class:`~prevalens.counted.CountedLosses`):
    the analytic intervals the in-memory audit gives when its bootstrap over samples is too
    large (its micro AUC variance then from a subsample of 50,000 rows; here from every row)."""
    micro = pred.ranks.micro
    if micro is not None and "micro.roc_auc" in point:  # every row: no subsample
        _put_micro_auc(pred, point["micro.roc_auc"], micro["auc_var"], None, alpha, put)
    losses = pred.ranks.losses
    if losses is None:
        return
    n = losses.n
    for kk in (3, 5):
        key = f"overall.top_{kk}_accuracy"
        if key in point:
            l, h = wilson_interval(losses.top_k_hits[kk], n, alpha=alpha)
            se = math.sqrt(point[key] * (1 - point[key]) / n)
            put(key, l, h, se, f"wilson (n={n})" + _independent_note(pred))
    for i, (key, (mean, var)) in enumerate(
        (("overall.log_loss", losses.log_loss), ("overall.brier", losses.brier)), start=1
    ):
        if key not in point:
            continue
        if losses.cluster_totals is None:
            se = math.sqrt(var / n)
            _loss_interval(key, point[key], se, n - 1, "t (mean of per-sample losses)", alpha, put)
        else:  # the clusters' sums of (loss - mean): sum - rows * mean
            tot = losses.cluster_totals[:, i] - losses.cluster_totals[:, 0] * mean
            c = tot.size
            if c < 2:
                continue  # one cluster: no cluster-robust standard error, no interval
            se = float(math.sqrt(c / (c - 1) * (tot @ tot)) / n)
            how = "t (mean of per-sample losses; cluster-robust standard error)"
            _loss_interval(key, point[key], se, c - 1, how, alpha, put)


def _put_micro_auc(pred, theta, v, subsample, alpha, put) -> None:
    """The micro ROC AUC's DeLong interval on the logit scale, each sample (or cluster) a
    cluster of K entries; ``subsample``: the samples its variance was estimated on, if fewer."""
    l, h = logit_interval(theta, v, alpha=alpha)
    unit = "cluster" if pred.clustered else "sample"
    put(
        "micro.roc_auc",
        l,
        h,
        math.sqrt(v),
        f"delong-logit clustered by {unit} (Obuchowski 1997)"
        + (f"; variance from a random subsample of {subsample} samples" if subsample else ""),
    )


def _analytic_score_intervals(pred, point, alpha, put, score_seed) -> None:
    """The analytic approximations used when the bootstrap over samples is too large: micro ROC
    AUC (clustered DeLong with each sample a cluster) and the mean losses (t intervals)."""
    s = pred.y_score
    y_true = pred.y_true
    n, k = s.shape
    v, n_used = micro_auc_variance(
        y_true, s, rng=np.random.default_rng(score_seed), cluster=pred.cluster
    )
    _put_micro_auc(pred, point["micro.roc_auc"], v, n_used if n_used < n else None, alpha, put)
    if pred.scores_are_probabilities:
        eps = np.finfo(np.float64).eps
        losses = {
            "overall.log_loss": -np.log(np.clip(s[np.arange(n), y_true], eps, 1 - eps)),
            "overall.brier": R.brier_per_sample(y_true, s),
        }
        for key, v in losses.items():
            if pred.cluster is None:
                se = float(v.std(ddof=1) / math.sqrt(n))
                df, how = n - 1, "t (mean of per-sample losses)"
            else:  # cluster-robust standard error of a mean, with C - 1 degrees of freedom
                tot = np.bincount(pred.cluster, weights=v - v.mean())
                c = tot.size
                if c < 2:
                    continue  # one cluster: no cluster-robust standard error, no interval
                se = float(math.sqrt(c / (c - 1) * (tot @ tot)) / n)
                df, how = c - 1, "t (mean of per-sample losses; cluster-robust standard error)"
            _loss_interval(key, point[key], se, df, how, alpha, put)


# ------------------------------------------------------------------------------------------------
# joint replicates of two models on the same samples (paired comparison)


@dataclass(frozen=True)
class JointCells:
    """The non-zero cells of the joint table of (truth, prediction A, prediction B): the
    sufficient statistic of every label metric of both models on the same samples.

    ``truth``, ``pred_a``, ``pred_b`` and ``counts`` have shape (J,), J <= N (at most K^3 cells,
    in practice near the diagonal). Resampling the N rows is resampling these cells, so the paired
    bootstrap never touches rows, as the single-model bootstrap does for the K x K cells.
    """

    truth: np.ndarray
    pred_a: np.ndarray
    pred_b: np.ndarray
    counts: np.ndarray
    k: int

    @classmethod
    def of(cls, y_true, pred_a, pred_b, k: int) -> JointCells:
        code = (np.asarray(y_true, np.int64) * k + np.asarray(pred_a, np.int64)) * k + np.asarray(
            pred_b, np.int64
        )
        cells, counts = np.unique(code, return_counts=True)
        rest, pb = np.divmod(cells, k)
        t, pa = np.divmod(rest, k)
        return cls(t, pa, pb, counts.astype(np.int64), k)

    @property
    def n(self) -> int:
        return int(self.counts.sum())

    def _indicator(self, col) -> sparse.csr_matrix:
        j = self.counts.size
        return sparse.csr_matrix(
            (np.ones(j), (np.arange(j), col)), shape=(j, self.k), dtype=np.float64
        )

    def marginal(self, which: str) -> np.ndarray:
        """The K x K confusion matrix of model ``"a"`` or ``"b"``."""
        pred = self.pred_a if which == "a" else self.pred_b
        cm = np.zeros((self.k, self.k), dtype=np.int64)
        np.add.at(cm, (self.truth, pred), self.counts)
        return cm

    def marginal_cell(self, which: str) -> np.ndarray:
        """For every joint cell, the index of its cell (t, prediction) among the non-zero cells
        of model ``which``'s confusion matrix in flat order (the order of
        :func:`jackknife_counts`)."""
        pred = self.pred_a if which == "a" else self.pred_b
        code = self.truth * self.k + pred
        return np.searchsorted(np.flatnonzero(self.marginal(which).ravel()), code)

    def tables_of(self, x, which: str) -> Tables:
        """One-vs-rest tables of model ``which`` for joint count vectors ``x`` of shape (m, J)
        (dense or sparse): every replicate or jackknife member at once, via sparse indicator
        products, never a (m, K, K) array."""
        pred = self.pred_a if which == "a" else self.pred_b
        t_ind = self._indicator(self.truth)
        p_ind = self._indicator(pred)
        hit = self.truth == pred
        d_ind = sparse.csr_matrix(
            (np.ones(int(hit.sum())), (np.flatnonzero(hit), self.truth[hit])),
            shape=(self.counts.size, self.k),
        )

        def prod(ind):
            out = ind.T @ (x.T if not sparse.issparse(x) else x.T.tocsr())
            out = out.toarray() if sparse.issparse(out) else np.asarray(out)
            return out.T

        sup, predicted, tp = prod(t_ind), prod(p_ind), prod(d_ind)
        n = np.asarray(x.sum(axis=1)).reshape(-1, 1)
        fp = predicted - tp
        fn = sup - tp
        return Tables(tp, fp, fn, n - tp - fp - fn)


def _cluster_joint(cells: JointCells, y_true, pred_a, pred_b, cluster):
    """Distinct leave-one-cluster-out patterns as a sparse (P, J) matrix over the joint cells,
    with how many clusters each pattern stands for."""
    k = cells.k
    code = (np.asarray(y_true, np.int64) * k + np.asarray(pred_a, np.int64)) * k + np.asarray(
        pred_b, np.int64
    )
    key = (cells.truth * k + cells.pred_a) * k + cells.pred_b
    col = np.searchsorted(key, code)
    cluster = np.asarray(cluster, np.int64)
    a = sparse.coo_matrix(
        (np.ones(code.size, dtype=np.int64), (cluster, col)),
        shape=(int(cluster.max()) + 1, key.size),
    ).tocsr()
    a.sum_duplicates()
    seen: dict = {}
    first: list[int] = []
    which: list[int] = []
    for r in range(a.shape[0]):
        lo, hi = a.indptr[r], a.indptr[r + 1]
        if lo == hi:
            continue
        pattern = (a.indices[lo:hi].tobytes(), a.data[lo:hi].tobytes())
        if pattern not in seen:
            seen[pattern] = len(first)
            first.append(r)
        which.append(seen[pattern])
    return a[first], np.bincount(which, minlength=len(first)).astype(np.float64)


class _GatheredStats(Stats):
    """The :class:`Stats` of members that repeat those of ``base``: member j is ``base``'s member
    ``index[j]``. Each statistic is gathered when first asked for (the same numbers, computed
    once per distinct member)."""

    def __init__(self, base: Stats, index: np.ndarray):
        dict.__init__(self)
        self._base = base
        self._index = np.asarray(index, dtype=np.int64)
        self._cache = {}
        self._tables: Tables | None = None

    def __missing__(self, key):
        value = np.asarray(self._base[key])[self._index]
        self[key] = value
        return value

    @property
    def tables(self) -> Tables:
        if self._tables is None:
            self._tables = Tables(*(np.asarray(x)[self._index] for x in self._base.tables))
        return self._tables

    @tables.setter
    def tables(self, value) -> None:  # Stats.__init__ is not called; kept for the interface
        self._tables = value


@dataclass
class PairedBootstrap:
    """Joint replicates of two models' label metrics on the same samples.

    ``point``, ``replicates`` and ``jackknife`` are pairs ``(stats of A, stats of B)`` computed by
    the same ``stat_fn`` from the same resampled cells of :class:`JointCells`, so a difference
    ``fn(a, b)`` (B's macro F1 minus A's, a class's recall under B minus under A, the change of a
    stratum's advantage) gets its interval from replicates that keep the pairing. The stratified
    scheme resamples each true class's rows (its joint cells, n_i - 1 draws scaled as in
    :func:`_draw_row`); with clusters, intervals come from the leave-one-cluster-out jackknife
    with a t quantile, as in the audit (``replicates`` is then None and ``design`` is set).
    """

    point: tuple
    replicates: tuple | None
    #: None: no jackknife (percentile intervals; or point estimates only)
    jackknife: tuple | None
    jackknife_weights: np.ndarray
    n_resamples: int
    method: str
    jackknife_strata: np.ndarray | None = None
    design: ClusterDesign | None = None
    #: with ``row_weights`` (stratified scheme): each model's weighted column sums (m, B, K),
    #: ``sum_i w[:, i] cm_r[i, j]`` of every replicate r (:func:`_draw_tables`)
    weighted: tuple | None = None

    @classmethod
    def run(
        cls,
        y_true,
        pred_a,
        pred_b,
        k: int,
        stat_fn,
        n_resamples: int,
        rng,
        *,
        scheme: str = "stratified",
        cluster=None,
        chunk: int = 256,
        cells: JointCells | None = None,
        row_weights=None,
        jackknife: bool = True,
    ) -> PairedBootstrap:
        """``cells``: the joint cells of these rows when the caller has them already;
        ``row_weights`` (m, K), stratified scheme only: also accumulate each model's weighted
        column sums from the same draws (:attr:`weighted`); ``jackknife=False``: no jackknife
        (BCa's acceleration is its only use without clusters: the percentile and basic
        intervals do not need it, and it is the comparison's largest memory at many classes)."""
        if cells is None:
            cells = JointCells.of(y_true, pred_a, pred_b, k)

        def stats(t: Tables) -> Stats:
            return Stats({key: np.asarray(v) for key, v in stat_fn(t).items()}, t)

        def pair(fn):
            return stats(fn("a")), stats(fn("b"))

        point = cls.point_stats(cells, stat_fn)
        if cluster is not None:
            patterns, weights = _cluster_joint(cells, y_true, pred_a, pred_b, cluster)
            full = sparse.csr_matrix(cells.counts.astype(np.float64)[None])
            members = full[np.zeros(patterns.shape[0], dtype=np.int64)] - patterns
            jack = pair(lambda w: cells.tables_of(members, w))
            return cls(
                point,
                None,
                jack,
                weights,
                n_resamples,
                "cluster",
                design=ClusterDesign.of(cluster),
            )
        weighted = None
        if scheme == "stratified":
            reps = cls._stratified(cells, n_resamples, rng, row_weights)
            if row_weights is not None:
                reps, weighted = reps[:2], reps[2]
        elif scheme == "simple":
            reps = cls._simple(cells, n_resamples, rng, chunk)
        else:
            raise ValueError(f"`scheme` must be 'stratified' or 'simple', got {scheme!r}")
        replicates = (stats(reps[0]), stats(reps[1]))
        # Deleting a row of joint cell (t, a, b) removes a row of cell (t, a) from model A's
        # table and of (t, b) from B's: each model's statistics of the J joint members are those
        # of its own (far fewer) distinct leave-one-out members, gathered on demand, so the
        # metrics are computed on (J_A, K) tables rather than (J, K).
        jack = (
            tuple(
                _GatheredStats(
                    stats(jackknife_tables(cells.marginal(w))[0]), cells.marginal_cell(w)
                )
                for w in "ab"
            )
            if jackknife
            else None
        )
        strata = cells.truth if scheme == "stratified" else None
        return cls(
            point,
            replicates,
            jack,
            cells.counts.astype(np.float64),
            n_resamples,
            scheme,
            jackknife_strata=strata,
            weighted=weighted,
        )

    @staticmethod
    def point_stats(cells: JointCells, stat_fn) -> tuple[Stats, Stats]:
        """``stat_fn`` of each model's own confusion matrix (the point estimates)."""
        out = []
        for w in "ab":
            t = class_tables(cells.marginal(w))
            out.append(Stats({key: np.asarray(v) for key, v in stat_fn(t).items()}, t))
        return out[0], out[1]

    @staticmethod
    def _stratified(cells: JointCells, b: int, rng, row_weights=None) -> tuple:
        """Both models' tables of the B replicates; with ``row_weights`` (m, K) also each
        model's weighted column sums (m, B, K), as a third item."""
        k = cells.k
        out = {w: [np.zeros((b, k)) for _ in range(2)] for w in "ab"}  # tp, predicted
        weights = None if row_weights is None else np.asarray(row_weights, dtype=np.float64)
        if weights is not None:
            for w in "ab":
                out[w].append(np.zeros((weights.shape[0], b, k)))
        support = np.zeros(k)
        order = np.argsort(cells.truth, kind="stable")
        starts = np.searchsorted(cells.truth[order], np.arange(k + 1))
        streams = rng.spawn(k)
        rows = [order[starts[i] : starts[i + 1]] for i in range(k)]

        def draw(i):
            # one stream per true class: the draws do not depend on the threads (as
            # bootstrap_tables); numpy releases the GIL while sampling
            return _draw_row(streams[i], cells.counts[rows[i]], b) if rows[i].size else None

        # a few rows' draws held at once (a row's draws are B x its joint cells)
        threads = b * cells.counts.size > 200_000
        for i, drawn in enumerate(R._ordered_map(draw, range(k), threads=threads)):
            if drawn is not None:
                PairedBootstrap._add_row(cells, rows[i], i, drawn, k, out, support, weights)
        n = cells.n
        result: list = []
        for w in "ab":
            tp, predicted = out[w][:2]
            fp = predicted - tp
            fn = support - tp
            result.append(Tables(tp, fp, fn, n - tp - fp - fn))
        if weights is not None:
            return result[0], result[1], (out["a"][2], out["b"][2])
        return result[0], result[1]

    @staticmethod
    def _add_row(cells, idx, i, drawn, k, out, support, weights=None) -> None:
        """Add true class ``i``'s drawn joint cells to both models' tables (and, with
        ``weights``, to their weighted column sums)."""
        nz, draws = drawn  # every joint cell is non-zero: nz is 0..len(idx)-1
        support[i] = cells.counts[idx].sum()
        for w, pred in (("a", cells.pred_a), ("b", cells.pred_b)):
            p = pred[idx][nz]
            # each predicted class's draws summed (columns grouped by class, then reduceat)
            order = np.argsort(p, kind="stable")
            ps = p[order]
            starts = np.flatnonzero(np.r_[True, ps[1:] != ps[:-1]])
            summed = np.add.reduceat(draws[:, order], starts, axis=1)
            out[w][1][:, ps[starts]] += summed
            if weights is not None:
                for m in range(weights.shape[0]):
                    if weights[m, i] != 0:
                        out[w][2][m][:, ps[starts]] += summed * weights[m, i]
            hit = p == i
            if hit.any():
                out[w][0][:, i] += draws[:, hit].sum(axis=1)

    @staticmethod
    def _simple(cells: JointCells, b: int, rng, chunk: int) -> tuple[Tables, Tables]:
        n = cells.n
        p = cells.counts / n
        parts: dict = {"a": [], "b": []}
        for s in range(0, b, chunk):
            x = rng.multinomial(n, p, size=min(chunk, b - s)).astype(np.float64)
            for w in "ab":
                parts[w].append(cells.tables_of(x, w))
        tables = []
        for w in "ab":
            tables.append(Tables(*(np.concatenate([t[i] for t in parts[w]]) for i in range(4))))
        return tables[0], tables[1]

    def derive(self, fn, which: str = "replicates"):
        sa, sb = getattr(self, which)
        return np.asarray(fn(sa, sb))

    def interval(self, fn, *, alpha: float, method: str = "bca", value_range=None):
        """``(theta, interval dict, p_value)`` of ``fn(stats_a, stats_b)``: the interval as
        :func:`~prevalens.intervals.interval_from_replicates` (or the jackknife-t over clusters)
        and the two-sided p-value of "the statistic is 0" by inverting the same interval
        (``res["p_bound"]`` marks p-values that are upper bounds: every replicate on one side)."""
        theta = self.derive(fn, "point")
        jack = self.derive(fn, "jackknife") if self.jackknife is not None else None
        if self.design is not None:
            lo, hi, se = jackknife_t_interval(
                theta, jack, self.jackknife_weights, df=self.design.df, alpha=alpha, scale="linear"
            )
            with np.errstate(invalid="ignore", divide="ignore"):
                p = 2 * special.stdtr(self.design.df, -np.abs(theta) / se)
            p = np.where(se > 0, p, np.nan)
            res = {
                "low": lo,
                "high": hi,
                "se": se,
                "note": np.full(np.shape(theta), self.design.few, dtype=object),
                "undefined_fraction": np.zeros(np.shape(theta)),
                "approximate": self.design.few is not None,
            }
            return theta, res, p
        reps = self.derive(fn, "replicates")
        # BCa's bias and acceleration once, for the interval and for its p-value
        parts = (
            bca_parts(theta, reps, jack, self.jackknife_weights, self.jackknife_strata)
            if method == "bca"
            else None
        )
        res = interval_from_replicates(
            theta,
            reps,
            jack,
            self.jackknife_weights,
            alpha=alpha,
            method=method,
            value_range=value_range,
            strata=self.jackknife_strata,
            parts=parts,
        )
        p, bound = bootstrap_p_value(
            theta,
            reps,
            jack,
            self.jackknife_weights,
            strata=self.jackknife_strata,
            method=method,
            with_bound=True,
            parts=parts,
        )
        res["p_bound"] = bound
        return theta, res, p
