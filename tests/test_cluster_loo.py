"""Many clusters: the leave-one-cluster-out jackknife in sparse-delta form
(:class:`prevalens.loo.SparseDeltaArray`) against the dense (J, K) tables it stands for.

* The tables, exactly (integers), in any blocks of columns, with members that leave a class
  with no sample; every count statistic (per class exactly, averages within 1e-12: a sum over
  blocks of classes adds in another order than over the whole row).
* The jackknife-t interval of a leave-one-out array, computed block by block, against the same
  values dense.
* Whole clustered audits, labels and scores, with the sparse-delta form forced: every number
  within 1e-12 of scale of the dense form's.
* The form chosen by a fixed number of cells; results byte-identical whatever the memory budget.
* The memory of a clustered audit of 40,000 clusters within its budget (tracemalloc; slow).
"""

from __future__ import annotations

import json
import tracemalloc
import warnings

import numpy as np
import pytest
from test_scale import EPOCH, _walk, long_tailed_labels

import prevalens
from prevalens import count_statistics
from prevalens import intervals as I
from prevalens import metrics as M
from prevalens import uncertainty as U
from prevalens.counts import class_tables, cluster_cell_matrix, confusion_matrix
from prevalens.loo import SparseDeltaArray, is_loo


def clustered_codes(n=3000, k=9, c=150, seed=0):
    """Long-tailed labels in clusters of unequal accuracy; cluster 0 holds every sample of the
    rarest class, so leaving it out leaves that class with none."""
    rng = np.random.default_rng(seed)
    p = 0.55 ** np.arange(k)
    p /= p.sum()
    y = rng.choice(k, n, p=p)
    cluster = rng.integers(1, c, n)
    cluster[y == k - 1] = 0
    right = rng.random(n) < rng.beta(6, 2, c)[cluster]
    y_pred = np.where(right, y, rng.integers(0, k, n))
    return y, y_pred, cluster


def _jackknife(seed):
    """``(cm, patterns, weights, dense tables)`` of the leave-one-cluster-out members."""
    y, p, cl = clustered_codes(seed=seed)
    k = 9
    cm = confusion_matrix(y, p, k)
    patterns, weights = U._cluster_jackknife(
        None, None, None, k, cells=cluster_cell_matrix(y, p, cl, k)
    )
    dense = class_tables(cm[None] - patterns.toarray().reshape(-1, k, k))
    return cm, patterns, weights, dense


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_sparse_delta_tables_equal_the_dense_tables(seed):
    cm, patterns, weights, dense = _jackknife(seed)
    j = len(weights)
    assert (dense.support == 0).any(), "no member leaves a class empty"
    for block_cells in (2 * j, 5 * j, 10**9):  # blocks of 2 and 5 columns, and one block
        loo = U.cluster_jackknife_loo_tables(cm, patterns, block_cells=block_cells)
        for a, b in zip(dense, loo):
            assert isinstance(b, SparseDeltaArray)
            np.testing.assert_array_equal(np.asarray(b), a)
            cols = np.array([7, 0, 3])
            np.testing.assert_array_equal(b.block(cols), a[:, cols])
            np.testing.assert_array_equal(b[..., 4], a[:, 4])


@pytest.mark.parametrize("block_cells", [2, 10**9])
def test_every_count_statistic_equals_the_dense_one(block_cells):
    cm, patterns, weights, dense = _jackknife(1)
    loo = U.cluster_jackknife_loo_tables(cm, patterns, block_cells=block_cells * len(weights))
    eager = count_statistics(dense)
    lazy = U.LazyStats(lambda: loo, M.count_statistic, M.COUNT_STATISTIC_KEYS)
    for key in M.COUNT_STATISTIC_KEYS:
        got = lazy[key]
        if key.startswith("per_class."):
            assert is_loo(got), key
            np.testing.assert_array_equal(np.asarray(got), eager[key], err_msg=key)
        else:
            np.testing.assert_allclose(got, eager[key], rtol=0, atol=1e-12, err_msg=key)


def test_jackknife_t_interval_in_blocks_equals_the_dense_interval():
    cm, patterns, weights, _ = _jackknife(2)
    # blocks of 2 columns
    loo = U.cluster_jackknife_loo_tables(cm, patterns, block_cells=2 * len(weights))
    lazy = U.LazyStats(lambda: loo, M.count_statistic, M.COUNT_STATISTIC_KEYS)
    recall = lazy["per_class.recall"]
    theta = M.per_class("recall", class_tables(cm))
    df = np.linspace(5, 40, 9)  # one per column, as the clustered strata have
    for scale in ("logit", "linear"):
        got = I.jackknife_t_interval(theta, recall, weights, df=df, alpha=0.05, scale=scale)
        dense_recall = np.ascontiguousarray(np.asarray(recall))
        want = I.jackknife_t_interval(theta, dense_recall, weights, df=df, alpha=0.05, scale=scale)
        for g, w in zip(got, want):
            np.testing.assert_array_equal(g, w)
        assert np.isfinite(got[2]).sum() >= 7


def _audit(y, p, cl, **options):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return prevalens.audit(y, p, cluster=cl, seed=5, n_resamples=200, **options).to_dict()


@pytest.mark.parametrize("scores", [False, True])
def test_clustered_audit_in_sparse_delta_form_equals_the_dense_one(monkeypatch, scores):
    monkeypatch.setenv("SOURCE_DATE_EPOCH", EPOCH)
    y, p, cl = clustered_codes(4000, seed=3)
    opts: dict = {"proportion_interval": "bootstrap"}
    if scores:
        rng = np.random.default_rng(4)
        s = rng.dirichlet(np.ones(9), y.size)
        s[np.arange(y.size), p] += 1.5
        opts["y_score"] = s / s.sum(axis=1, keepdims=True)
        p = None
    dense = _audit(y, p, cl, **opts)
    taken = []
    real = U.cluster_jackknife_loo_tables

    def spy(*a, **kw):
        taken.append(True)
        return real(*a, **kw)

    monkeypatch.setattr(U, "cluster_jackknife_loo_tables", spy)
    monkeypatch.setattr(U, "CLUSTER_DENSE_JACKKNIFE_CELLS", 0)
    loo = _audit(y, p, cl, **opts)
    assert taken, "the sparse-delta path was not taken"
    diffs: list = []
    _walk(dense, loo, "", diffs)
    for path, a, b in diffs:
        assert abs(a - b) <= 1e-12 * max(1.0, abs(a)), (path, a, b)
    # the same findings, word for word
    assert [f["text"] for f in dense["findings"]] == [f["text"] for f in loo["findings"]]


def test_the_sparse_delta_form_is_chosen_above_the_threshold(monkeypatch):
    """The form follows a fixed number of (J, K) cells, never the memory budget."""
    y, p, cl = clustered_codes(seed=5)
    cm = confusion_matrix(y, p, 9)
    cells = cluster_cell_matrix(y, p, cl, 9)
    j = len(U._cluster_jackknife(None, None, None, 9, cells=cells)[1])

    def form(threshold, **kw):
        monkeypatch.setattr(U, "CLUSTER_DENSE_JACKKNIFE_CELLS", threshold)
        boot = U.CountBootstrap.run(
            cm, count_statistics, 20, np.random.default_rng(0), cluster_cells=cells, **kw
        )
        return type(boot.jackknife.tables.tp).__name__

    assert form(j * 9) == "ndarray"
    assert form(j * 9 - 1) == "SparseDeltaArray"
    assert form(j * 9, jackknife="loo") == "SparseDeltaArray"
    assert form(j * 9, max_memory=16 * 10**6) == "ndarray"


def test_results_in_sparse_delta_form_do_not_depend_on_the_memory_budget(monkeypatch):
    """The budget sets the blocks' size: blocks of 2 columns (16 MB and the block cap lowered
    to 300 cells here) and one block (8 GB) give the same bytes (sums over the classes add column
    after column either way)."""
    monkeypatch.setenv("SOURCE_DATE_EPOCH", EPOCH)
    monkeypatch.setattr(U, "CLUSTER_DENSE_JACKKNIFE_CELLS", 0)
    y, p, cl = clustered_codes(4000, seed=6)
    big = _audit(y, p, cl, max_memory="8GB")
    widths = []
    real = U.cluster_jackknife_loo_tables

    def spy(*a, **kw):
        tables = real(*a, **kw)
        widths.append(tables.tp.pattern.block_width())
        return tables

    monkeypatch.setattr(U, "cluster_jackknife_loo_tables", spy)
    monkeypatch.setattr(U, "SPARSE_DELTA_BLOCK_CELLS", 300)
    small = _audit(y, p, cl, max_memory="16MB")
    assert widths == [2]
    assert json.dumps(big) == json.dumps(small)


@pytest.mark.slow
def test_clustered_audit_in_sparse_delta_form_stays_within_its_memory_budget(monkeypatch):
    """N = 2e5 rows in 40,000 clusters, K = 100, B = 200, labels only, ``max_memory`` 200 MB: the
    audit's tracemalloc peak above the inputs stays below the budget. Measured: 81 MB in the
    sparse-delta form (69 MB at 100 MB), against 693 MB with the dense (J, K) tables, the form
    this size gets by default (about 30 arrays of J x K = 4e6 values); at 1e6 clusters the dense
    form would hold 24 GB."""
    monkeypatch.setattr(U, "CLUSTER_DENSE_JACKKNIFE_CELLS", 0)
    y, p = long_tailed_labels(200_000, 100)
    cl = np.random.default_rng(1).integers(0, 40_000, y.size)
    budget = 200 * 10**6
    tracemalloc.start()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            prevalens.audit(
                y,
                p,
                labels=list(range(100)),
                cluster=cl,
                seed=5,
                n_resamples=200,
                max_memory=budget,
            )
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < budget, f"peak {peak / 1e6:.0f} MB above the budget of {budget / 1e6:.0f} MB"
