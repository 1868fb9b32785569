"""Bands of the ROC and precision-recall curves (ranking.curve_bands).

The bands reweight curves sorted once; a replicate must give exactly the curve of the resampled
rows, and the bands must behave like bootstrap bands (contain the curve, shrink with n, follow
the seed)."""

from __future__ import annotations

import numpy as np
import pytest

from prevalens import ranking as R


def _data(n, k=4, seed=0):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, k, n)
    logits = rng.normal(size=(n, k))
    logits[np.arange(n), y] += 1.5
    s = np.exp(logits)
    return y, s / s.sum(axis=1, keepdims=True)


@pytest.mark.parametrize("seed", range(5))
def test_weighted_curve_equals_the_curve_of_resampled_rows(seed):
    y, s = _data(200, seed=seed)
    s = np.round(s, 2)  # ties
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, y.size, y.size)
    w = np.bincount(idx, minlength=y.size).astype(float)
    grid = np.linspace(0, 1, 101)
    k = s.shape[1]
    onehot = R._one_hot(y, k)
    micro = R._SortedColumn(s.ravel(), onehot.ravel(), np.repeat(np.arange(y.size), k))
    tpr_w, prec_w = micro.curves(w, grid)
    ref = R.curve_summary(y[idx], s[idx], n_points=101)
    np.testing.assert_allclose(tpr_w, ref["roc"]["micro"]["tpr"], atol=1e-12)
    np.testing.assert_allclose(
        prec_w, np.array(ref["pr"]["micro"]["precision"], dtype=float), atol=1e-12
    )
    for j in range(k):
        col = R._SortedColumn(s[:, j], onehot[:, j], np.arange(y.size))
        tpr_j, prec_j = col.curves(w, grid)
        fpr, tpr, _ = R.roc_curve(s[idx, j], onehot[idx, j])
        np.testing.assert_allclose(tpr_j, np.interp(grid, fpr, tpr), atol=1e-12)
        p, r, _ = R.precision_recall_curve(s[idx, j], onehot[idx, j])
        np.testing.assert_allclose(prec_j, R.pr_envelope(p, r, grid), atol=1e-12)


def test_bands_contain_the_curve_and_shrink_with_n():
    widths = []
    for n in (200, 3200):
        y, s = _data(n, seed=1)
        point = R.curve_summary(y, s)
        bands = R.curve_bands(y, s, n_resamples=200, rng=2)
        assert bands["method"].startswith("pointwise percentile")
        for kind, key in (("roc", "tpr"), ("pr", "precision")):
            for avg in ("micro", "macro"):
                lo = np.array(bands[kind][avg]["ci_low"], dtype=float)
                hi = np.array(bands[kind][avg]["ci_high"], dtype=float)
                est = np.array(point[kind][avg][key], dtype=float)
                ok = np.isfinite(lo) & np.isfinite(hi) & np.isfinite(est)
                assert ok.mean() > 0.9
                assert np.all(lo[ok] <= hi[ok])
                # a pointwise percentile band holds the point curve almost everywhere
                assert np.mean((lo[ok] <= est[ok] + 1e-9) & (est[ok] <= hi[ok] + 1e-9)) > 0.9
        lo = np.array(bands["roc"]["macro"]["ci_low"], dtype=float)
        hi = np.array(bands["roc"]["macro"]["ci_high"], dtype=float)
        widths.append(np.nanmean(hi[5:] - lo[5:]))
    assert widths[1] < 0.5 * widths[0]  # 16 times the data: about a quarter of the width


def test_bands_follow_the_seed_and_the_scheme():
    y, s = _data(300, seed=3)
    a = R.curve_bands(y, s, n_resamples=100, rng=7)
    b = R.curve_bands(y, s, n_resamples=100, rng=7)
    c = R.curve_bands(y, s, n_resamples=100, rng=8)
    d = R.curve_bands(y, s, n_resamples=100, rng=7, resampling="simple")
    assert a == b and a != c and a != d
    assert d["method"].startswith("pointwise percentile bands, 100 simple")


def test_no_bands_above_the_work_limit():
    y, s = _data(300)
    out = R.curve_bands(y, s, n_resamples=200, max_work=1e3)
    assert out["method"] is None and out["note"].startswith("no bands:")


def test_audit_records_bands_and_the_report_draws_them():
    import warnings

    import prevalens
    from prevalens.report import plots

    y, s = _data(400, seed=4)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", prevalens.PrevalensWarning)
        d = prevalens.audit(y, y_score=s, n_resamples=200, seed=1).to_dict()
        d0 = prevalens.audit(y, y_score=s, n_resamples=0, seed=1).to_dict()
    assert d["curves"]["bands"]["roc"]["micro"]["ci_low"]
    assert "pointwise bands" in plots.curves_plot(d).alt
    assert d0["curves"]["bands"] is None
    assert "No confidence bands" in plots.curves_plot(d0).alt
