"""An audit from counted cells (prevalens.counted) equals the audit of the rows, bit for bit.

The out-of-memory engines (DuckDB, Dask) hand the audit CountedPredictions: these tests pin the
contract they rely on, independent of any engine.
"""

from __future__ import annotations

import importlib
import json
import warnings

import numpy as np
import pytest

from prevalens.audit import audit_predictions
from prevalens.counted import CountedPredictions
from prevalens.exceptions import InputError
from prevalens.io import predictions_from_arrays

EPOCH = "1795564800"


def _data(k, n, clusters=None, seed=0):
    rng = np.random.default_rng(seed)
    p = rng.dirichlet(np.full(k, 0.4))
    yt = rng.choice(k, n, p=p)
    yp = np.where(rng.random(n) < 0.7, yt, rng.integers(0, k, n))
    cl = None
    if clusters:
        # unequal clusters, numbered out of order so that first appearance is not sorted order
        cl = rng.permutation(clusters)[rng.integers(0, clusters, n) ** 2 // clusters]
    return predictions_from_arrays(yt, yp, cluster=cl)


def _json(pred, **options):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return json.dumps(audit_predictions(pred, seed=11, **options).to_dict(), sort_keys=True)


@pytest.mark.parametrize(
    ("k", "n", "clusters", "options"),
    [
        (6, 3000, None, {"n_resamples": 300}),
        (6, 3000, None, {"n_resamples": 300, "resampling": "simple"}),
        (12, 4000, 60, {"n_resamples": 200}),
        (3, 500, 25, {"n_resamples": 100, "proportion_interval": "clopper-pearson"}),
    ],
)
def test_counted_audit_equals_the_rows_audit(monkeypatch, k, n, clusters, options):
    monkeypatch.setenv("SOURCE_DATE_EPOCH", EPOCH)
    pred = _data(k, n, clusters)
    counted = CountedPredictions.from_predictions(pred)
    assert counted.n_cells < n  # counted: fewer cells than rows
    assert counted.n_samples == n and counted.clustered == (clusters is not None)
    assert _json(counted, **options) == _json(pred, **options)


def test_counted_audit_equals_with_the_sparse_matrix(monkeypatch):
    monkeypatch.setenv("SOURCE_DATE_EPOCH", EPOCH)
    pred = _data(30, 4000)
    dense = _json(CountedPredictions.from_predictions(pred), n_resamples=100)
    for name in ("prevalens.io", "prevalens.counted"):
        monkeypatch.setattr(importlib.import_module(name), "SPARSE_MIN_CLASSES", 2)
    assert _json(pred, n_resamples=100) == dense
    assert _json(CountedPredictions.from_predictions(pred), n_resamples=100) == dense


def test_partial_counts_merge_exactly(monkeypatch):
    """Counts add: cells counted per partition (repeating across partitions) and merged by
    from_cells give the audit of the whole."""
    monkeypatch.setenv("SOURCE_DATE_EPOCH", EPOCH)
    pred = _data(8, 2000, clusters=40, seed=3)
    parts = np.array_split(np.arange(pred.n_samples), 5)
    whole = CountedPredictions.from_predictions(pred)
    pieces = [
        CountedPredictions.from_cells(
            pred.classes, pred.y_true[i], pred.y_pred[i], np.ones(i.size), pred.cluster[i]
        )
        for i in parts
    ]
    merged = CountedPredictions.from_cells(
        pred.classes,
        np.concatenate([p.cell_true for p in pieces]),
        np.concatenate([p.cell_pred for p in pieces]),
        np.concatenate([p.cell_count for p in pieces]),
        np.concatenate([p.cell_cluster for p in pieces]),
        n_clusters=pred.n_clusters,
        inputs=tuple(pred.inputs),
        pred_source=pred.pred_source,
    )
    for name in ("cell_true", "cell_pred", "cell_count", "cell_cluster"):
        assert np.array_equal(getattr(merged, name), getattr(whole, name))
    assert (merged.cluster_cells() != pred.cluster_cells()).nnz == 0
    assert np.array_equal(merged.cluster_sizes(), pred.cluster_sizes())
    assert _json(merged, n_resamples=100) == _json(pred, n_resamples=100)


def test_counted_predictions_have_no_rows():
    counted = CountedPredictions.from_predictions(_data(3, 50), engine="duckdb")
    assert counted.y_score is None and not counted.has_scores
    for name in ("y_true", "y_pred", "cluster"):
        with pytest.raises(InputError, match="counted by duckdb and hold no rows"):
            getattr(counted, name)


def test_counted_predictions_refuse_inconsistent_cells():
    with pytest.raises(ValueError, match="class codes"):
        CountedPredictions(("a", "b"), np.array([0, 2]), np.array([0, 1]), np.array([1, 1]))
    with pytest.raises(ValueError, match="positive"):
        CountedPredictions(("a", "b"), np.array([0, 1]), np.array([0, 1]), np.array([1, 0]))
