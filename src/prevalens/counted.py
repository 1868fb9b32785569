"""Predictions as their sufficient statistics: counted cells instead of rows.

Every label metric, interval and finding of an audit is a function of the confusion matrix, and,
with a cluster column, of each cluster's confusion cells (docs/design.md, "Counting once"). So an
input that does not fit in memory is audited from those counts alone: an engine (DuckDB over
Parquet or CSV files, :mod:`prevalens.engines.duckdb`; a Dask dataframe,
:mod:`prevalens.engines.dask`) counts the distinct (truth, prediction[, cluster]) cells with a
group-by, and :class:`CountedPredictions` carries them to the audit in place of
:class:`~prevalens.io.Predictions`. The audit reads both through the same four methods
(``count_matrix``, ``clustered``, ``cluster_cells``, ``cluster_sizes``), so with the same seed the
two give the same numbers, bit for bit.

Of the scores, an engine may count what the per-class rankings give (:class:`CountedRanks`: each
class's AUC, DeLong's components and the covariance of the AUCs; its average precision with its
jackknife and the spreads of the averaged APs; from per-class sorts of its score column,
:mod:`prevalens.engines.duckdb`) and the per-sample losses' sums (:class:`CountedLosses`: log
loss, Brier score, top-k hits). The one-vs-one AUC, calibration and the curves need the rows'
scores at once and are not counted. A
counted input holds no rows (``y_score`` is None), and asking it for its rows raises.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy import sparse

from .counts import SPARSE_MIN_CLASSES, ConfusionCounts, cluster_cell_matrix
from .exceptions import InputError
from .ranking import OvRSummary

__all__ = ["CountedPredictions", "CountedRanks", "CountedLosses"]


@dataclass(frozen=True, eq=False)
class CountedLosses:
    """The per-sample score metrics' sufficient statistics, counted out of core.

    Attributes
    ----------
    n : int
    log_loss, brier : (float, float)
        The mean and the sample variance (ddof 1) over the rows of each row's loss: its
        negative log-likelihood of the true class (clipped to [eps, 1 - eps]) and its Brier
        score ``sum_k (p_k - y_k)^2``.
    top_k_hits : dict
        k -> rows whose true class is among the k highest scores (ties as
        :func:`prevalens.ranking.classes_above_true` breaks them).
    cluster_totals : ndarray (C, 3) or None
        Per cluster: its rows and the sums of its rows' log losses and Brier scores.
    """

    n: int
    log_loss: tuple
    brier: tuple
    top_k_hits: dict
    cluster_totals: np.ndarray | None = None


@dataclass(frozen=True, eq=False)
class CountedRanks:
    """What the one-vs-rest ROC AUCs of an audit need from the scores, counted out of core.

    For class k with ``m`` positives and ``q`` negatives, a positive scored ``v`` has placement
    ``V10(v) = (#{negatives < v} + #{negatives = v} / 2) / q`` and a negative scored ``v``
    ``V01(v) = (#{positives > v} + #{positives = v} / 2) / m`` (ties counted half); the AUC is the
    positives' mean placement, and each sample's DeLong component is
    ``(V10 - AUC) / sqrt(m (m - 1))`` (a positive) or ``(V01 - AUC) / sqrt(q (q - 1))`` (a
    negative), as in :func:`prevalens.ranking.ovr_pass`.

    Attributes
    ----------
    n_pos, auc, s10, s01 : ndarray (K,)
        Positives, AUC (NaN without positives or negatives) and DeLong's S10, S01 (sample
        variances, ddof 1, of the positives' and negatives' placements; NaN where undefined).
    cov : ndarray (K, K)
        The DeLong covariance of the per-class AUCs: the cross-products of the samples'
        components summed over the rows (0 in the rows and columns of undefined AUCs); with
        clusters, the cluster-robust one of the cluster totals.
    ap, ap_se, ap_df : ndarray (K,)
        Average precision (NaN without positives), its standard error (the exact stratified
        jackknife; with clusters, the cluster-robust influence-function SE) and the effective
        degrees of freedom of its influence values, as :func:`prevalens.ranking.ovr_pass` gives
        them.
    ap_combos : tuple of (se, df), or None
        Of the macro, the weighted, and the weighted AP with the classes' weights free to vary
        (``OvRSummary.ap_combo_spread``); None when no class has positives.
    micro : dict or None
        The micro ROC AUC (``auc``) with its variance (``auc_var``: each row, or cluster, a
        cluster of K entries) and the micro AP (``ap``) with its (se, df) (``ap_spread``); None
        with a single class.
    losses : CountedLosses or None
        Log loss, Brier score and top-k hits.
    """

    n_pos: np.ndarray
    auc: np.ndarray
    s10: np.ndarray
    s01: np.ndarray
    cov: np.ndarray
    ap: np.ndarray
    ap_se: np.ndarray
    ap_df: np.ndarray
    ap_combos: tuple | None
    micro: dict | None = None
    losses: CountedLosses | None = None

    #: the score metrics an audit reports from counted ranks
    METRICS = ("roc_auc", "average_precision")

    def summary(self, weights) -> OvRSummary:
        """The ranking summary an audit reads (:class:`prevalens.ranking.OvRSummary`) for the
        linear combinations ``weights`` (K, m) of the AUCs; what the ranks do not give (the
        one-vs-one AUC) is NaN."""
        k = self.auc.size
        w = np.asarray(weights, dtype=np.float64)
        return OvRSummary(
            auc=self.auc,
            average_precision=self.ap,
            n_pos=self.n_pos,
            ovo_u=np.full((k, k), np.nan),
            delong_var=np.where(np.isnan(self.auc), np.nan, np.diag(self.cov)),
            combo_cov=w.T @ self.cov @ w,
            delong_s10=self.s10,
            delong_s01=self.s01,
            ap_se=self.ap_se,
            ap_df=self.ap_df,
            ap_combo_spread=self.ap_combos,
        )


@dataclass(frozen=True, eq=False)
class CountedPredictions:
    """Label-encoded predictions held as counted cells (no rows, no scores).

    Attributes
    ----------
    classes : tuple
        The class labels, in class order; codes index this tuple.
    cell_true, cell_pred : ndarray of int64, shape (J,)
        The class codes of each distinct cell (truth, prediction[, cluster]).
    cell_count : ndarray of int64, shape (J,)
        Samples in each cell (positive).
    cell_cluster : ndarray of int64, shape (J,), or None
        Each cell's cluster code ``0 .. n_clusters - 1``, the clusters numbered in the order of
        their first row in the input (as :func:`prevalens.load_predictions` numbers them).
    n_clusters : int or None
    engine : str
        What counted the cells (``"duckdb"``, ``"dask"``, ``"memory"``).
    inputs, columns, task, pred_source, scores_are_probabilities
        As on :class:`~prevalens.io.Predictions`.
    ranks : CountedRanks or None
        The ROC AUCs' statistics, when the engine ranked the score columns.
    score_checks : prevalens.checks.ScoreStats or None
        What the in-memory checks of the scores read, counted by the engine.
    """

    classes: tuple
    cell_true: np.ndarray
    cell_pred: np.ndarray
    cell_count: np.ndarray
    cell_cluster: np.ndarray | None = None
    n_clusters: int | None = None
    engine: str = "counts"
    inputs: tuple = ()
    columns: dict = field(default_factory=dict)
    task: str = "multiclass"
    pred_source: str = "column"
    ranks: CountedRanks | None = None
    scores_are_probabilities: bool = False
    score_checks: Any = None

    #: a counted input holds no rows of scores
    y_score = None

    def __post_init__(self):
        k = len(self.classes)
        names = ("cell_true", "cell_pred", "cell_count", "cell_cluster")
        arrays = [np.asarray(getattr(self, n), dtype=np.int64) for n in names[:3]]
        if self.cell_cluster is not None:
            arrays.append(np.asarray(self.cell_cluster, dtype=np.int64))
        if len({a.shape for a in arrays}) != 1 or arrays[0].ndim != 1:
            raise ValueError("the cell arrays must be 1-d and of one length")
        t, p, c = arrays[:3]
        if t.size and (min(t.min(), p.min()) < 0 or max(t.max(), p.max()) >= k):
            raise ValueError(f"class codes must lie in 0..{k - 1}")
        if (c <= 0).any():
            raise ValueError("`cell_count` must be positive")
        for name, a in zip(names, arrays):
            a = a.view()
            a.setflags(write=False)
            object.__setattr__(self, name, a)
        if self.cell_cluster is not None:
            n_cl = int(arrays[3].max()) + 1 if arrays[3].size else 0
            if self.n_clusters is None:
                object.__setattr__(self, "n_clusters", n_cl)
            elif self.n_clusters != n_cl:
                raise ValueError(f"`n_clusters` is {self.n_clusters}, but codes reach {n_cl - 1}")

    # ---------------------------------------------------------------------------------------
    # construction

    @classmethod
    def from_cells(cls, classes, true, pred, count, cluster=None, **fields) -> CountedPredictions:
        """Cells that may repeat (e.g. one row per partition and cell, from a distributed
        group-by): summed into distinct cells, in sorted order."""
        k = len(classes)
        key = np.asarray(true, np.int64) * k + np.asarray(pred, np.int64)
        if cluster is not None:
            # cluster-major: every cluster's cells together
            key = np.asarray(cluster, np.int64) * (k * k) + key
        uniq, inverse = np.unique(key, return_inverse=True)
        total = np.bincount(inverse.ravel(), weights=np.asarray(count, np.float64))
        total = np.rint(total).astype(np.int64)
        keep = total > 0
        uniq, total = uniq[keep], total[keep]
        cl = None
        if cluster is not None:
            cl, uniq = np.divmod(uniq, k * k)
        t, p = np.divmod(uniq, k)
        return cls(tuple(classes), t, p, total, cl, **fields)

    @classmethod
    def from_predictions(cls, pred, *, engine: str = "memory") -> CountedPredictions:
        """Count in-memory :class:`~prevalens.io.Predictions` (their scores are dropped)."""
        return cls.from_cells(
            pred.classes,
            pred.y_true,
            pred.y_pred,
            np.ones(pred.n_samples, dtype=np.int64),
            pred.cluster,
            n_clusters=pred.n_clusters,
            engine=engine,
            inputs=tuple(pred.inputs),
            columns={k: v for k, v in pred.columns.items() if k != "scores"},
            task=pred.task,
            pred_source=pred.pred_source,
        )

    # ---------------------------------------------------------------------------------------
    # what an audit reads (the same names as on Predictions)

    @property
    def n_samples(self) -> int:
        return int(self.cell_count.sum())

    @property
    def n_classes(self) -> int:
        return len(self.classes)

    @property
    def n_cells(self) -> int:
        return int(self.cell_count.size)

    @property
    def has_scores(self) -> bool:
        return self.ranks is not None

    @property
    def score_metrics(self) -> tuple:
        """The score metrics this input gives (per class and averaged)."""
        return CountedRanks.METRICS if self.ranks is not None else ()

    @property
    def clustered(self) -> bool:
        return self.cell_cluster is not None

    # No rows: code that needs them fails loudly rather than reading cells as rows.
    @property
    def y_true(self):
        raise InputError(self._no_rows("true labels"))

    @property
    def y_pred(self):
        raise InputError(self._no_rows("predicted labels"))

    @property
    def cluster(self):
        raise InputError(self._no_rows("cluster ids"))

    def _no_rows(self, what: str) -> str:
        return (
            f"these predictions were counted by {self.engine} and hold no rows of {what}; "
            "use prevalens.load_predictions() for what needs the rows"
        )

    def count_matrix(self):
        """The confusion matrix: dense below :data:`~prevalens.counts.SPARSE_MIN_CLASSES`
        classes, else a ``scipy.sparse.csr_array`` of the non-zero cells (as
        :func:`~prevalens.counts.count_matrix` builds it from rows)."""
        k = self.n_classes
        flat = self.cell_true * k + self.cell_pred
        if k < SPARSE_MIN_CLASSES:
            cm = np.zeros(k * k, dtype=np.int64)
            np.add.at(cm, flat, self.cell_count)
            return cm.reshape(k, k)
        cells, inverse = np.unique(flat, return_inverse=True)
        counts = np.bincount(inverse.ravel(), weights=self.cell_count.astype(np.float64))
        rows, cols = np.divmod(cells, k)
        return sparse.csr_array(
            (np.rint(counts).astype(np.int64), (rows, cols)), shape=(k, k), dtype=np.int64
        )

    def counts(self) -> ConfusionCounts:
        """The confusion matrix with its classes (dense)."""
        m = self.count_matrix()
        return ConfusionCounts(self.classes, m.toarray() if sparse.issparse(m) else m)

    def cluster_cells(self):
        """Each cluster's confusion cells: sparse (clusters x K^2), int64."""
        assert self.cell_cluster is not None
        return cluster_cell_matrix(
            self.cell_true,
            self.cell_pred,
            self.cell_cluster,
            self.n_classes,
            weights=self.cell_count,
            n_clusters=self.n_clusters,
        )

    def cluster_sizes(self) -> np.ndarray:
        """Samples in each cluster, by cluster code."""
        assert self.cell_cluster is not None and self.n_clusters is not None
        sizes = np.bincount(self.cell_cluster, weights=self.cell_count.astype(np.float64))
        return np.rint(np.pad(sizes, (0, self.n_clusters - sizes.size))).astype(np.int64)
