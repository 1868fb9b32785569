"""Sufficient statistics: the K x K confusion matrix and the per-class 2 x 2 tables.

Everything that prevalens computes from labels alone is a function of the confusion matrix, so it is
counted once (one ``bincount`` pass over the rows) and every metric, point estimate and bootstrap
replicate alike, is reduced from it. Counts add: the confusion matrix of a file read in chunks is
the sum of the chunks' matrices.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
from scipy import sparse

from .exceptions import InputError

__all__ = [
    "ConfusionCounts",
    "Tables",
    "confusion_matrix",
    "count_matrix",
    "class_tables",
    "as_tables",
    "cells_of",
    "cluster_cell_matrix",
    "is_sparse",
    "row_sums",
    "col_sums",
    "SPARSE_MIN_CLASSES",
]

#: From this many classes an audit counts its confusion matrix as a scipy sparse (CSR) matrix of
#: its non-zero cells: at K = 10,000 the dense matrix alone is 800 MB, its non-zero cells a few MB.
SPARSE_MIN_CLASSES = 2049


class Tables(NamedTuple):
    """One-vs-rest 2 x 2 tables of every class, each array of shape (..., K).

    Every label metric (per class, micro, macro, weighted, accuracy, kappa, MCC) is a function of
    these four arrays, so bootstrap replicates and jackknife members are carried as tables
    (O(K) numbers each) rather than as K x K matrices.
    """

    tp: np.ndarray
    fp: np.ndarray
    fn: np.ndarray
    tn: np.ndarray

    @property
    def support(self):
        return self.tp + self.fn

    @property
    def predicted(self):
        return self.tp + self.fp

    @property
    def n(self):
        """Samples (the same for every class): shape (...)."""
        return (self.tp + self.fp + self.fn + self.tn)[..., 0]


def confusion_matrix(y_true, y_pred, n_classes: int) -> np.ndarray:
    """Count the K x K confusion matrix of integer-coded labels in one pass.

    Parameters
    ----------
    y_true, y_pred : array of int, shape (n,)
        Class codes in ``0 .. n_classes - 1`` (as produced by :func:`prevalens.load_predictions`).
    n_classes : int
        K, the number of classes.

    Returns
    -------
    ndarray of int64, shape (K, K)
        ``cm[i, j]`` is the number of samples of true class ``i`` predicted as ``j``
        (rows: truth, columns: prediction; the scikit-learn convention).

    Examples
    --------
    >>> confusion_matrix([0, 1, 1, 2], [0, 1, 2, 2], 3)
    array([[1, 0, 0],
           [0, 1, 1],
           [0, 0, 1]])
    """
    y_true = np.asarray(y_true, dtype=np.int64)
    y_pred = np.asarray(y_pred, dtype=np.int64)
    if y_true.shape != y_pred.shape or y_true.ndim != 1:
        raise InputError(
            f"`y_true` and `y_pred` must be 1-D and of the same length; got shapes "
            f"{y_true.shape} and {y_pred.shape}"
        )
    for name, codes in (("y_true", y_true), ("y_pred", y_pred)):
        # a code out of range would silently land in another cell of the flat bincount
        if codes.size and (codes.min() < 0 or codes.max() >= n_classes):
            i = int(np.flatnonzero((codes < 0) | (codes >= n_classes))[0])
            raise InputError(
                f"`{name}` holds the class code {int(codes[i])} at position {i}, "
                f"outside 0..{n_classes - 1} for n_classes={n_classes}; codes index "
                "the classes"
            )
    # One pass: a row's cell index is true * K + pred.
    flat = np.bincount(y_true * n_classes + y_pred, minlength=n_classes * n_classes)
    return flat.reshape(n_classes, n_classes).astype(np.int64, copy=False)


def count_matrix(y_true, y_pred, n_classes: int):
    """The confusion matrix as :func:`confusion_matrix` counts it, dense below
    :data:`SPARSE_MIN_CLASSES` classes and a ``scipy.sparse.csr_array`` (int64) of the non-zero
    cells from there (counted by sorting the rows' cell codes: memory O(N + non-zero cells))."""
    if n_classes < SPARSE_MIN_CLASSES:
        return confusion_matrix(y_true, y_pred, n_classes)
    y_true = np.asarray(y_true, dtype=np.int64)
    y_pred = np.asarray(y_pred, dtype=np.int64)
    for name, codes in (("y_true", y_true), ("y_pred", y_pred)):
        if codes.size and (codes.min() < 0 or codes.max() >= n_classes):
            raise InputError(
                f"`{name}` holds a class code outside 0..{n_classes - 1} for "
                f"n_classes={n_classes}; codes index the classes"
            )
    cells, counts = np.unique(y_true * n_classes + y_pred, return_counts=True)
    rows, cols = np.divmod(cells, n_classes)
    return sparse.csr_array(
        (counts.astype(np.int64), (rows, cols)), shape=(n_classes, n_classes), dtype=np.int64
    )


def cluster_cell_matrix(y_true, y_pred, cluster, k: int, weights=None, n_clusters=None):
    """Sparse (clusters x K^2) CSR matrix of each cluster's confusion-matrix cells, int64, in
    canonical form (sorted indices, no duplicates): entry ``(c, i * K + j)`` counts the samples
    of cluster ``c`` with truth ``i`` and prediction ``j``.

    ``y_true``, ``y_pred`` and ``cluster`` are codes of rows, or of distinct cells with
    ``weights`` their counts (a counted input, :class:`prevalens.counted.CountedPredictions`):
    both give the same matrix. ``n_clusters`` defaults to the largest cluster code plus one.
    """
    cell = np.asarray(y_true, np.int64) * k + np.asarray(y_pred, np.int64)
    cluster = np.asarray(cluster, np.int64)
    if n_clusters is None:
        n_clusters = int(cluster.max()) + 1
    data = np.ones(cell.size, dtype=np.int64) if weights is None else np.asarray(weights, np.int64)
    a = sparse.coo_matrix((data, (cluster, cell)), shape=(n_clusters, k * k)).tocsr()
    a.sum_duplicates()
    a.sort_indices()
    return a


def is_sparse(cm) -> bool:
    """Whether ``cm`` is a scipy sparse matrix (see :func:`count_matrix`)."""
    return sparse.issparse(cm)


def cells_of(cm) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The non-zero cells of a K x K matrix (dense or sparse) in row-major order:
    ``(rows, cols, counts)``, each of shape (J,)."""
    if is_sparse(cm):
        c = sparse.coo_array(cm)
        c.sum_duplicates()  # canonical: sorted row-major, no zeros stored twice
        keep = c.data != 0
        order = np.lexsort((c.col[keep], c.row[keep]))
        return (
            np.asarray(c.row[keep][order], dtype=np.int64),
            np.asarray(c.col[keep][order], dtype=np.int64),
            np.asarray(c.data[keep][order], dtype=np.int64),
        )
    flat = np.asarray(cm, dtype=np.int64)
    k = flat.shape[0]
    flat = flat.ravel()
    nz = np.flatnonzero(flat)
    rows, cols = np.divmod(nz, k)
    return rows, cols, flat[nz]


def row_sums(cm) -> np.ndarray:
    """Row sums (true samples of each class) of a dense or sparse matrix."""
    return np.asarray(cm.sum(axis=1)).reshape(-1) if is_sparse(cm) else np.asarray(cm).sum(axis=1)


def col_sums(cm) -> np.ndarray:
    """Column sums (samples predicted as each class) of a dense or sparse matrix."""
    return np.asarray(cm.sum(axis=0)).reshape(-1) if is_sparse(cm) else np.asarray(cm).sum(axis=0)


def as_tables(x) -> Tables:
    """``x`` if it already is :class:`Tables`, else the tables of confusion matrices ``x``."""
    return x if isinstance(x, Tables) else class_tables(x)


def class_tables(cm: np.ndarray) -> Tables:
    """One-vs-rest 2 x 2 tables of every class: ``(tp, fp, fn, tn)``, each of shape (..., K).

    Works on a batch of confusion matrices of shape (..., K, K), so the same call serves a point
    estimate and B bootstrap replicates; and on one scipy sparse matrix.
    """
    if is_sparse(cm):
        tp = np.asarray(cm.diagonal(), dtype=np.int64)
        support = row_sums(cm).astype(np.int64)
        predicted = col_sums(cm).astype(np.int64)
        n = support.sum(axis=-1, keepdims=True)
        fp = predicted - tp
        fn = support - tp
        return Tables(tp, fp, fn, n - tp - fp - fn)
    cm = np.asarray(cm)
    # a copy, not a view: a view would keep the whole (..., K, K) stack alive
    tp = np.diagonal(cm, axis1=-2, axis2=-1).copy()
    support = cm.sum(axis=-1)  # row sums: true samples of each class
    predicted = cm.sum(axis=-2)  # column sums: samples predicted as each class
    n = support.sum(axis=-1, keepdims=True)
    fp = predicted - tp
    fn = support - tp
    tn = n - tp - fp - fn
    return Tables(tp, fp, fn, tn)


@dataclass(frozen=True, eq=False)
class ConfusionCounts:
    """A confusion matrix together with its class labels; mergeable with ``+``.

    Attributes
    ----------
    classes : tuple
        Class labels in the order of the matrix's rows and columns.
    matrix : ndarray of int64, shape (K, K)
        Rows are true classes, columns predicted classes.
    """

    classes: tuple
    matrix: np.ndarray

    def __post_init__(self):
        m = np.asarray(self.matrix, dtype=np.int64)
        k = len(self.classes)
        if m.shape != (k, k):
            raise ValueError(f"`matrix` must have shape ({k}, {k}) for {k} classes, got {m.shape}")
        if (m < 0).any():
            raise ValueError("`matrix` must hold non-negative counts")
        m = m.copy()
        m.setflags(write=False)
        object.__setattr__(self, "matrix", m)

    @classmethod
    def from_codes(cls, y_true, y_pred, classes) -> ConfusionCounts:
        """Count integer-coded labels (codes index ``classes``)."""
        classes = tuple(classes)
        return cls(classes, confusion_matrix(y_true, y_pred, len(classes)))

    def __add__(self, other: ConfusionCounts) -> ConfusionCounts:
        if not isinstance(other, ConfusionCounts):
            return NotImplemented
        if other.classes != self.classes:
            raise ValueError(
                "cannot add confusion counts with different classes; load every chunk with the "
                "same `labels=`"
            )
        return ConfusionCounts(self.classes, self.matrix + other.matrix)

    def __eq__(self, other) -> bool:
        if not isinstance(other, ConfusionCounts):
            return NotImplemented
        return self.classes == other.classes and np.array_equal(self.matrix, other.matrix)

    __hash__ = None  # type: ignore[assignment]  # array payload: equality by value, no hash

    @property
    def n_samples(self) -> int:
        return int(self.matrix.sum())

    @property
    def support(self) -> np.ndarray:
        """True samples per class (row sums)."""
        return self.matrix.sum(axis=1)

    @property
    def predicted(self) -> np.ndarray:
        """Samples predicted as each class (column sums)."""
        return self.matrix.sum(axis=0)

    def tables(self) -> Tables:
        """Per-class ``(tp, fp, fn, tn)``."""
        return class_tables(self.matrix)
