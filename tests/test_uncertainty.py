"""The interval engine (``prevalens.uncertainty``) against references, by construction and by
Monte-Carlo comparison.

What each part checks and against what:

* Wilson and Clopper-Pearson against ``scipy.stats.binomtest(...).proportion_ci`` (1e-10).
* DeLong's variances and covariances (``ranking.ovr_pass``) against a direct O(m q) computation
  from the definitions (Heaviside kernel, ties counted half).
* The multinomial count bootstrap: its invariants (row sums, total, zero cells) exactly, and its
  distribution against an explicit bootstrap of row indices.
* The weighted jackknife of distinct leave-one-out matrices against the naive N refits, and BCa's
  acceleration from both.
* Percentile and BCa endpoints against ``scipy.stats.bootstrap``.
* ``interval_from_replicates``' handling of NaN, degenerate and one-sided replicates.
* Seeds, degenerate inputs, cluster resampling, simultaneous intervals, the per-class F1 interval,
  and the score-interval policy (bootstrap by sample vs analytic for the micro AUC; AP's
  influence-value SEs against a bootstrap).

Monte-Carlo comparisons. Every stochastic check is seeded, so the file is deterministic; the
tolerances are stated as multiples of the Monte-Carlo standard error computed in the test, at
4.5 standard errors (a two-sided normal tail of 7e-6 per check), so that a fresh seed would fail a
correct implementation in well under 0.1% of runs for the ~40 such checks here. Where a tolerance
is absolute (comparisons with SciPy), the comment next to it derives it.

Known bugs are kept as ``xfail(strict=True)`` tests naming the bug: they turn into failures
(XPASS strict) once the bug is fixed, so that the marker is removed.
"""

from __future__ import annotations

import json
import math
import warnings

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from scipy import special, stats

import prevalens
from prevalens import AuditConfig, audit_predictions, count_statistics, predictions_from_arrays
from prevalens import intervals as I
from prevalens import ranking as R
from prevalens import uncertainty as U
from prevalens.counts import class_tables, confusion_matrix

# ------------------------------------------------------------------------------------------------
# helpers


def rows_from_cm(cm):
    """(y_true, y_pred) with exactly the counts of ``cm``, rows in cell order."""
    cm = np.asarray(cm)
    k = cm.shape[0]
    cells = np.repeat(np.arange(k * k), cm.ravel())
    return cells // k, cells % k


def quiet_audit(*args, **kwargs):
    """``prevalens.audit`` with the undefined-metric / probability / input warnings silenced
    (those are tested elsewhere; the degenerate cases here are implausible inputs on purpose);
    any other warning, and RuntimeWarnings from prevalens, still fail."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", prevalens.UndefinedMetricWarning)
        warnings.simplefilter("ignore", prevalens.ProbabilityWarning)
        warnings.simplefilter("ignore", prevalens.InputWarning)
        return prevalens.audit(*args, **kwargs)


def quiet_audit_predictions(pred, config):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", prevalens.UndefinedMetricWarning)
        warnings.simplefilter("ignore", prevalens.ProbabilityWarning)
        warnings.simplefilter("ignore", prevalens.InputWarning)
        return audit_predictions(pred, config)


def all_estimates(result):
    """(name, Estimate) for every number of an AuditResult."""
    for c in result.per_class:
        for name, e in c.metrics.items():
            yield f"per_class[{c.label!r}].{name}", e
    for avg, metrics in result.averages.items():
        for name, e in metrics.items():
            yield f"{avg}.{name}", e
    for name, e in result.overall.items():
        yield f"overall.{name}", e


def softmax_scores(y, k, rng, separation=1.0):
    s = rng.normal(size=(y.size, k))
    s[np.arange(y.size), y] += separation
    e = np.exp(s - s.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def mc_z(a, b):
    """z statistic of the difference of the means of two independent samples."""
    a = np.asarray(a, dtype=float)
    b = np.asarray(b, dtype=float)
    se = math.sqrt(a.var(ddof=1) / a.size + b.var(ddof=1) / b.size)
    return (a.mean() - b.mean()) / se


def var_z(a, b):
    """z statistic of the difference of the sample variances of two independent samples, with the
    standard error of a sample variance from the fourth central moment,
    ``Var(s^2) ~ (m4 - s^4) / n`` (no normality assumed: counts of small cells are skewed)."""

    def v_and_se(x):
        x = np.asarray(x, dtype=float)
        d = x - x.mean()
        s2 = d.var(ddof=1)
        m4 = np.mean(d**4)
        return s2, math.sqrt(max(m4 - s2 * s2, 0.0) / x.size)

    va, sa = v_and_se(a)
    vb, sb = v_and_se(b)
    return (va - vb) / math.sqrt(sa * sa + sb * sb)


Z = 4.5  # Monte-Carlo tolerance in standard errors (see the module docstring)


# ------------------------------------------------------------------------------------------------
# 1. Wilson and Clopper-Pearson against scipy.stats.binomtest


GRID = sorted(
    {
        (k, n)
        for n in (1, 2, 3, 4, 7, 10, 17, 50, 200, 1000, 12345)
        for k in (0, 1, 2, n // 3, n // 2, n - 2, n - 1, n)
        if 0 <= k <= n
    }
)


@pytest.mark.parametrize("confidence_level", [0.95, 0.9, 0.99, 0.5])
@pytest.mark.parametrize(
    "ours, scipy_method", [(I.wilson_interval, "wilson"), (I.clopper_pearson_interval, "exact")]
)
def test_proportion_intervals_equal_scipy_binomtest(ours, scipy_method, confidence_level):
    k = np.array([g[0] for g in GRID])
    n = np.array([g[1] for g in GRID])
    ref = np.array(
        [
            tuple(
                stats.binomtest(int(kk), int(nn)).proportion_ci(
                    confidence_level, method=scipy_method
                )
            )
            for kk, nn in GRID
        ]
    )
    # vectorised, once with the confidence level and once with alpha
    lo, hi = ours(k, n, confidence_level)
    np.testing.assert_allclose(lo, ref[:, 0], rtol=0, atol=1e-10)
    np.testing.assert_allclose(hi, ref[:, 1], rtol=0, atol=1e-10)
    lo2, hi2 = ours(k, n, alpha=1 - confidence_level)
    np.testing.assert_allclose(lo2, ref[:, 0], rtol=0, atol=1e-10)
    np.testing.assert_allclose(hi2, ref[:, 1], rtol=0, atol=1e-10)
    # the ends: k = 0 starts at 0, k = n ends at 1, always inside [0, 1]
    assert np.all(lo[k == 0] == 0.0) and np.all(hi[k == n] == 1.0)
    assert np.all((0 <= lo) & (lo <= k / n) & (k / n <= hi) & (hi <= 1))
    # scalar inputs work too
    l1, h1 = ours(3, 10, confidence_level)
    r1 = stats.binomtest(3, 10).proportion_ci(confidence_level, method=scipy_method)
    assert abs(float(l1) - r1.low) < 1e-10 and abs(float(h1) - r1.high) < 1e-10


@pytest.mark.parametrize("ours", [I.wilson_interval, I.clopper_pearson_interval])
def test_proportion_intervals_are_nan_for_no_trials(ours):
    # n = 0 mixed with defined entries, 2-D: NaN exactly there, no warning (RuntimeWarnings from
    # prevalens are errors in this suite)
    k = np.array([[0, 3], [0, 0]])
    n = np.array([[0, 10], [5, 0]])
    lo, hi = ours(k, n, 0.95)
    assert lo.shape == hi.shape == (2, 2)
    assert np.array_equal(np.isnan(lo), n == 0) and np.array_equal(np.isnan(hi), n == 0)
    assert lo[1, 0] == 0.0 and hi[0, 1] > 0.3


# ------------------------------------------------------------------------------------------------
# 2. DeLong against the direct O(m q) computation


def delong_direct(scores, positive):
    """AUC, DeLong variance and the per-sample components psi from the definitions:
    H(x, y) = 1 if x > y, 1/2 if x == y, else 0; V10_i = mean_j H(x_i, y_j),
    V01_j = mean_i H(x_i, y_j); var = var(V10, ddof=1)/m + var(V01, ddof=1)/q;
    psi_i = (V10_i - AUC)/sqrt(m(m-1)) on positives, (V01_j - AUC)/sqrt(q(q-1)) on negatives."""
    x = scores[positive]
    y = scores[~positive]
    h = (x[:, None] > y[None, :]) + 0.5 * (x[:, None] == y[None, :])
    auc = h.mean()
    v10 = h.mean(axis=1)
    v01 = h.mean(axis=0)
    m, q = x.size, y.size
    var = v10.var(ddof=1) / m + v01.var(ddof=1) / q
    psi = np.empty(scores.size)
    psi[positive] = (v10 - auc) / math.sqrt(m * (m - 1))
    psi[~positive] = (v01 - auc) / math.sqrt(q * (q - 1))
    return auc, var, psi, v10, v01


def delong_case(seed, ties):
    rng = np.random.default_rng(seed)
    k = int(rng.integers(2, 6))
    n = int(rng.integers(4 * k, 40))
    y = rng.integers(0, k, n)
    y[: 2 * k] = np.repeat(np.arange(k), 2)  # every class has >= 2 positives and >= 2 negatives
    s = rng.normal(size=(n, k))
    s[np.arange(n), y] += rng.uniform(0, 2)
    if ties:
        s = np.round(s * 2) / 2  # half-integers: many ties within and across classes
    return y, s


@pytest.mark.parametrize("ties", [False, True], ids=["no-ties", "ties"])
@pytest.mark.parametrize("seed", range(6))
def test_delong_variance_and_covariance_equal_direct_computation(seed, ties):
    y, s = delong_case(seed, ties)
    k = s.shape[1]
    if ties:
        assert any(np.unique(s[:, j]).size < s.shape[0] for j in range(k))
    summary = R.ovr_pass(y, s, combo_weights=np.eye(k))
    psis = []
    for j in range(k):
        auc, var, psi, v10, v01 = delong_direct(s[:, j], y == j)
        psis.append(psi)
        assert summary.auc[j] == pytest.approx(auc, abs=1e-12)
        assert summary.delong_var[j] == pytest.approx(var, abs=1e-12)
        assert summary.combo_cov[j, j] == pytest.approx(var, abs=1e-12)
        # the placements themselves, in input order
        st_ = R.binary_rank_stats(s[:, j], y == j)
        np.testing.assert_allclose(st_.v10, v10, rtol=0, atol=1e-12)
        np.testing.assert_allclose(st_.v01, v01, rtol=0, atol=1e-12)
    psi = np.array(psis)  # (K, n)
    # off-diagonal: the covariance of two classes' AUCs is sum_i psi_ik psi_il
    np.testing.assert_allclose(summary.combo_cov, psi @ psi.T, rtol=0, atol=1e-12)
    assert np.any(np.abs(summary.combo_cov - np.diag(np.diag(summary.combo_cov))) > 1e-6)
    # weighted combinations (macro and weighted AUC) are w' C w
    w = np.column_stack([np.full(k, 1 / k), np.bincount(y, minlength=k) / y.size])
    auc2, var2, combo = U.delong_auc_variance(y, s, w)
    np.testing.assert_allclose(combo, w.T @ (psi @ psi.T) @ w, rtol=0, atol=1e-12)
    np.testing.assert_allclose(var2, summary.delong_var, rtol=0, atol=0)


@pytest.mark.parametrize("seed", range(4))
def test_delong_covariance_is_symmetric_psd_with_delong_diagonal(seed):
    y, s = delong_case(100 + seed, ties=bool(seed % 2))
    auc, cov = U.delong_covariance(y, s)
    assert cov.shape == (s.shape[1], s.shape[1])
    np.testing.assert_array_equal(cov, cov.T)
    assert np.linalg.eigvalsh(cov).min() >= -1e-14
    np.testing.assert_allclose(np.diag(cov), R.ovr_pass(y, s).delong_var, rtol=0, atol=1e-14)
    np.testing.assert_allclose(auc, R.roc_auc_per_class(y, s), rtol=0, atol=1e-14)


# ------------------------------------------------------------------------------------------------
# 3. the multinomial count bootstrap


@st.composite
def confusion_matrices(draw):
    k = draw(st.integers(1, 6))
    cm = draw(arrays(np.int64, (k, k), elements=st.integers(0, 12)).filter(lambda m: m.sum() > 0))
    if k > 1 and draw(st.booleans()):
        cm[draw(st.integers(0, k - 1))] = 0  # an absent class (a row of zeros)
    if cm.sum() == 0:
        cm[0, 0] = 1
    return cm


@given(confusion_matrices(), st.integers(0, 2**32 - 1))
def test_bootstrap_counts_invariants(cm, seed):
    b = 25
    strat = U.bootstrap_counts(cm, b, np.random.default_rng(seed), scheme="stratified")
    simple = U.bootstrap_counts(cm, b, np.random.default_rng(seed), scheme="simple")
    assert simple.dtype == np.int64  # stratified: multiples of n_i / (n_i - 1), float
    for reps in (strat, simple):
        assert reps.shape == (b,) + cm.shape
        assert (reps >= 0).all()
        assert (reps[:, cm == 0] == 0).all()  # a cell with no rows can never be resampled
        np.testing.assert_allclose(reps.sum(axis=(1, 2)), cm.sum(), rtol=1e-12)
    n_i = cm.sum(axis=1)
    # every row sum, every replicate; no cell above its row's total
    np.testing.assert_allclose(strat.sum(axis=2), np.broadcast_to(n_i, (b, n_i.size)), rtol=1e-12)
    assert (strat <= n_i[None, :, None]).all()
    # counts on the lattice of the n - 1 bootstrap: j n_i / (n_i - 1), integers for n_i = 1
    scale = np.where(n_i > 1, n_i / np.maximum(n_i - 1, 1), 1.0)[None, :, None]
    np.testing.assert_allclose(strat / scale, np.rint(strat / scale), atol=1e-9)
    # the table form of the same scheme keeps the same invariants
    t = U.bootstrap_tables(cm, b, np.random.default_rng(seed), scheme="stratified")
    np.testing.assert_array_equal(t.tp, np.diagonal(strat, axis1=1, axis2=2))
    np.testing.assert_allclose(t.tp + t.fn, np.broadcast_to(n_i, t.tp.shape), rtol=1e-12)
    np.testing.assert_allclose(t.tp + t.fp + t.fn + t.tn, cm.sum(), rtol=1e-12)


def test_bootstrap_counts_rejects_unknown_scheme():
    with pytest.raises(ValueError, match="`scheme` must be 'stratified' or 'simple', got 'rows'"):
        U.bootstrap_counts(np.eye(2, dtype=int), 5, np.random.default_rng(0), scheme="rows")


CM = np.array([[40, 6, 2, 0], [5, 20, 1, 0], [1, 2, 6, 1], [0, 1, 0, 2]])


@pytest.mark.parametrize("scheme", ["stratified", "simple"])
def test_bootstrap_counts_cells_have_binomial_moments(scheme):
    b = 4000
    reps = U.bootstrap_counts(CM, b, np.random.default_rng(11), scheme=scheme).astype(float)
    # cell (i, j) is n_i / (n_i - 1) Binomial(n_i - 1, cm_ij / n_i) (stratified: the n - 1
    # bootstrap, whose proportions have the unbiased variance p (1 - p) / (n_i - 1)), or
    # Binomial(N, cm_ij / N) (simple)
    n = np.ones_like(CM) * (CM.sum(axis=1, keepdims=True) if scheme == "stratified" else CM.sum())
    trials = n - 1 if scheme == "stratified" else n
    s = n / trials if scheme == "stratified" else np.ones_like(n, dtype=float)
    p = CM / n
    var = s**2 * trials * p * (1 - p)
    np.testing.assert_allclose(var / n**2, p * (1 - p) / (n - (scheme == "stratified")))
    live = var > 0
    se_mean = np.sqrt(var / b)
    z = (reps.mean(axis=0) - CM)[live] / se_mean[live]
    assert np.abs(z).max() < Z, z
    # the variance: se of a sample variance from the binomial fourth central moment
    mu4 = s**4 * trials * p * (1 - p) * (1 + 3 * (trials - 2) * p * (1 - p))
    se_var = np.sqrt(np.maximum(mu4 - var**2, 0) / b)
    zv = (reps.var(axis=0, ddof=1) - var)[live] / se_var[live]
    assert np.abs(zv).max() < Z, zv


def row_bootstrap_cms(cm, b, rng, scheme):
    """The definition: resample the N rows with replacement and count each replicate's confusion
    matrix; for the stratified scheme, n_i - 1 rows within each true class of n_i >= 2 rows,
    whose counts are scaled by n_i / (n_i - 1) (the n - 1 bootstrap)."""
    y_true, y_pred = rows_from_cm(cm)
    k = cm.shape[0]
    n = y_true.size
    n_i = np.bincount(y_true, minlength=k)
    draw = np.where(n_i > 1, n_i - 1, n_i)
    out = np.empty((b, k, k), dtype=np.float64)
    for r in range(b):
        if scheme == "simple":
            idx = rng.integers(0, n, n)
        else:
            idx = np.concatenate(
                [rng.choice(np.flatnonzero(y_true == c), size=draw[c]) for c in range(k) if n_i[c]]
            )
        out[r] = confusion_matrix(y_true[idx], y_pred[idx], k)
    if scheme != "simple":
        out *= (n_i / np.maximum(draw, 1))[None, :, None]
    return out


@pytest.mark.parametrize("scheme", ["stratified", "simple"])
def test_bootstrap_counts_match_resampling_rows(scheme):
    b = 3000
    ours = U.bootstrap_counts(CM, b, np.random.default_rng(1), scheme=scheme)
    rows = row_bootstrap_cms(CM, b, np.random.default_rng(2), scheme)
    with np.errstate(invalid="ignore", divide="ignore"):
        f1_ours = count_statistics(ours)["macro.f1"]
        f1_rows = count_statistics(rows)["macro.f1"]
    for name, a, c in (
        ("cell (2, 2)", ours[:, 2, 2], rows[:, 2, 2]),
        ("cell (0, 1)", ours[:, 0, 1], rows[:, 0, 1]),
        ("macro F1", f1_ours, f1_rows),
    ):
        assert abs(mc_z(a, c)) < Z, (name, "mean", a.mean(), c.mean())
        assert abs(var_z(a, c)) < Z, (name, "variance", a.var(), c.var())


def test_bootstrap_tables_threads_do_not_change_the_draws(monkeypatch):
    # K = 20 with every cell filled and B = 600: over the threshold for drawing rows on threads
    cm = np.random.default_rng(0).integers(1, 9, size=(20, 20))
    monkeypatch.setattr(U, "_THREADS", 4)
    many = U.bootstrap_tables(cm, 600, np.random.default_rng(7))
    monkeypatch.setattr(U, "_THREADS", 1)
    one = U.bootstrap_tables(cm, 600, np.random.default_rng(7))
    for a, b in zip(many, one):
        np.testing.assert_array_equal(a, b)


def test_bootstrap_tables_simple_equals_tables_of_bootstrap_counts():
    a = class_tables(U.bootstrap_counts(CM, 300, np.random.default_rng(3), scheme="simple"))
    b = U.bootstrap_tables(CM, 300, np.random.default_rng(3), scheme="simple", chunk=64)
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x, y)


def test_keep_counts_does_not_change_the_stratified_replicates():
    a = U.CountBootstrap.run(CM, count_statistics, 200, np.random.default_rng(5), keep_counts=True)
    b = U.CountBootstrap.run(CM, count_statistics, 200, np.random.default_rng(5))
    np.testing.assert_array_equal(a.replicates["macro.f1"], b.replicates["macro.f1"])


# ------------------------------------------------------------------------------------------------
# 4. the jackknife of distinct leave-one-out matrices


JK_CM = np.array([[9, 2, 0], [1, 4, 1], [0, 2, 1]])


def naive_jackknife(cm):
    """Delete each of the N rows in turn and recompute every statistic: (stats, deleted cell)."""
    y_true, y_pred = rows_from_cm(cm)
    k = cm.shape[0]
    cms, cells = [], []
    for r in range(y_true.size):
        keep = np.arange(y_true.size) != r
        cms.append(confusion_matrix(y_true[keep], y_pred[keep], k))
        cells.append(y_true[r] * k + y_pred[r])
    with np.errstate(invalid="ignore", divide="ignore"):
        return count_statistics(np.array(cms)), np.array(cells)


def test_jackknife_counts_are_the_distinct_leave_one_out_matrices():
    cells, weights = U.jackknife_counts(JK_CM)
    np.testing.assert_array_equal(cells, np.flatnonzero(JK_CM))
    np.testing.assert_array_equal(weights, JK_CM.ravel()[cells])
    assert weights.sum() == JK_CM.sum()
    k = JK_CM.shape[0]
    mats = []
    for c in cells:
        m = JK_CM.copy()
        m[c // k, c % k] -= 1
        mats.append(m)
    mats = np.array(mats)
    assert len({m.tobytes() for m in mats}) == cells.size  # distinct
    tables, w = U.jackknife_tables(JK_CM)
    np.testing.assert_array_equal(w, weights)
    for got, want in zip(tables, class_tables(mats)):
        np.testing.assert_array_equal(got, want)


def test_weighted_jackknife_equals_naive_refits_as_a_multiset():
    boot = U.CountBootstrap.run(JK_CM, count_statistics, 100, np.random.default_rng(0))
    naive, deleted = naive_jackknife(JK_CM)
    cells, weights = U.jackknife_counts(JK_CM)
    np.testing.assert_array_equal(boot.jackknife_weights, weights)
    member = np.searchsorted(cells, deleted)  # which distinct matrix each refit is
    assert np.array_equal(cells[member], deleted)
    np.testing.assert_array_equal(np.bincount(member, minlength=cells.size), weights)
    for key, values in naive.items():
        ours = np.asarray(boot.jackknife[key], dtype=float)
        assert ours.shape[0] == cells.size, key
        np.testing.assert_allclose(
            ours[member], values, rtol=0, atol=1e-12, equal_nan=True, err_msg=key
        )


@given(confusion_matrices())
def test_weighted_jackknife_equals_naive_refits_on_random_matrices(cm):
    boot = U.CountBootstrap.run(cm, count_statistics, 2, np.random.default_rng(0))
    naive, deleted = naive_jackknife(cm)
    cells, _ = U.jackknife_counts(cm)
    member = np.searchsorted(cells, deleted)
    for key in (
        "macro.f1",
        "micro.precision",
        "weighted.recall",
        "overall.mcc",
        "overall.cohen_kappa",
        "per_class.npv",
    ):
        np.testing.assert_allclose(
            np.asarray(boot.jackknife[key], dtype=float)[member],
            naive[key],
            rtol=0,
            atol=1e-12,
            equal_nan=True,
            err_msg=key,
        )


def acceleration(jack, weights):
    """Efron's a = sum w u^3 / (6 (sum w u^2)^1.5), u = weighted mean - jack."""
    jack = np.asarray(jack, dtype=float)
    w = np.asarray(weights, dtype=float)
    u = np.sum(w * jack) / w.sum() - jack
    return np.sum(w * u**3) / (6 * np.sum(w * u**2) ** 1.5)


@pytest.mark.parametrize("key", ["macro.f1", "overall.mcc", "overall.cohen_kappa", "micro.f1"])
def test_bca_acceleration_from_distinct_matrices_equals_naive_refits(key):
    boot = U.CountBootstrap.run(JK_CM, count_statistics, 2000, np.random.default_rng(4))
    naive, _ = naive_jackknife(JK_CM)
    a_weighted = acceleration(boot.jackknife[key], boot.jackknife_weights)
    a_naive = acceleration(naive[key], np.ones(JK_CM.sum()))
    assert a_weighted == pytest.approx(a_naive, abs=1e-12)
    assert abs(a_naive) > 1e-4  # a non-trivial case
    # and the interval BCa builds from them is the same as from the N refits
    theta, reps = boot.point[key], boot.replicates[key]
    got = I.bca_interval(theta, reps, boot.jackknife[key], boot.jackknife_weights, 0.05)
    want = I.bca_interval(theta, reps, naive[key], np.ones(JK_CM.sum()), 0.05)
    assert got[2] and want[2]
    np.testing.assert_allclose(got[:2], want[:2], rtol=0, atol=1e-12)
    # and equals Efron's formula computed here with numpy's quantiles
    z0 = special.ndtri((np.sum(reps < theta) + 0.5 * np.sum(reps == theta)) / reps.size)
    levels = [
        special.ndtr(z0 + (z0 + z) / (1 - a_naive * (z0 + z)))
        for z in (special.ndtri(0.025), special.ndtri(0.975))
    ]
    np.testing.assert_allclose(got[:2], np.quantile(reps, levels), rtol=0, atol=1e-12)


# ------------------------------------------------------------------------------------------------
# 5. percentile and BCa against scipy.stats.bootstrap


def _accuracy(y, p, axis=-1):
    return np.mean(y == p, axis=axis)


def _macro_recall(y, p, axis=-1):
    # every class is present in every resample of this data set (>= 50 samples each)
    return np.mean(
        [np.sum((y == c) & (p == c), axis=axis) / np.sum(y == c, axis=axis) for c in range(3)],
        axis=0,
    )


@pytest.mark.parametrize("interval, scipy_method", [("percentile", "percentile"), ("bca", "BCa")])
@pytest.mark.parametrize("metric", ["accuracy", "macro_recall"])
def test_bootstrap_intervals_agree_with_scipy(interval, scipy_method, metric):
    rng = np.random.default_rng(2024)
    n = 200
    y = rng.choice(3, size=n, p=[0.5, 0.3, 0.2])
    y[:150] = np.repeat(np.arange(3), 50)
    p = np.where(rng.random(n) < 0.75, y, rng.integers(0, 3, n))
    b = 4000
    result = quiet_audit_predictions(
        predictions_from_arrays(y, p),
        AuditConfig(resampling="simple", interval=interval, n_resamples=b, seed=3),
    )
    fn = _accuracy if metric == "accuracy" else _macro_recall
    est = result.overall["accuracy"] if metric == "accuracy" else result.averages["macro"]["recall"]
    ref = stats.bootstrap(
        (y, p),
        fn,
        paired=True,
        vectorized=True,
        n_resamples=b,
        method=scipy_method,
        rng=np.random.default_rng(5),
    )
    assert est.estimate == pytest.approx(fn(y, p), abs=1e-12)
    assert est.method == f"{interval}(simple bootstrap, B={b})"
    # Tolerance 0.015. Both endpoints are quantiles of B = 4000 replicates of a proportion with
    # n = 200 (bootstrap sd ~0.03): the Monte-Carlo sd of a 2.5% quantile is
    # sqrt(0.025 * 0.975 / B) / f(q) ~ 0.0025 / (phi(1.96) / 0.03) ~ 0.0013, so the difference of
    # two independent runs has sd ~0.0018 (BCa: its levels move with z0, ~1.5x that), 4.5 sd ~
    # 0.01; accuracy lives on a lattice of 1/200 = 0.005, and the two interpolate within a cell.
    assert abs(est.ci_low - ref.confidence_interval.low) < 0.015
    assert abs(est.ci_high - ref.confidence_interval.high) < 0.015
    # the standard errors agree to within their Monte-Carlo error (~1.6% each)
    assert est.se == pytest.approx(ref.standard_error, rel=0.08)


# ------------------------------------------------------------------------------------------------
# 6. interval_from_replicates


def test_nan_replicates_are_counted_and_left_out():
    rng = np.random.default_rng(0)
    reps = rng.normal(size=(1000, 3))
    reps[:100, 0] = np.nan  # 10% undefined
    reps[:10, 1] = np.nan  # 1%
    theta = np.zeros(3)
    res = I.interval_from_replicates(theta, reps, method="percentile")
    np.testing.assert_allclose(res["undefined_fraction"], [0.1, 0.01, 0.0], rtol=0, atol=1e-15)
    for j in range(3):
        defined = reps[~np.isnan(reps[:, j]), j]
        assert res["low"][j] == pytest.approx(np.percentile(defined, 2.5), abs=1e-14)
        assert res["high"][j] == pytest.approx(np.percentile(defined, 97.5), abs=1e-14)
        assert res["se"][j] == pytest.approx(defined.std(ddof=1), abs=1e-14)
    assert all(note is None for note in res["note"])


def test_undefined_share_above_five_percent_makes_audit_estimate_unstable():
    # Class 2 has 3 true samples of 200, all predicted right (and nothing else predicted as it):
    # under the simple scheme it is absent from (197/200)^200 ~ e^-3 ~ 5% of the replicates, where
    # its precision, recall, F1 and Jaccard are 0/0. The audit records that share and calls the
    # estimate unstable above 5%.
    rng = np.random.default_rng(1)
    y = np.r_[rng.integers(0, 2, 197), [2, 2, 2]]
    p = y.copy()
    p[:30] = 1 - p[:30]
    r = quiet_audit(
        y, p, n_resamples=1000, seed=0, resampling="simple", proportion_interval="bootstrap"
    )
    e = r.class_result(2).metrics["precision"]
    assert 0.02 < e.undefined_fraction < 0.09
    assert (e.status == "unstable") == (e.undefined_fraction > U.UNSTABLE_FRACTION)
    if e.status == "unstable":
        assert "undefined in" in e.note


@given(
    arrays(
        np.float64,
        st.tuples(st.integers(2, 60), st.integers(1, 3)),
        elements=st.one_of(st.floats(-1, 1, width=16), st.just(np.nan)),
    ),
    st.floats(-1, 1, width=16),
    st.sampled_from(["bca", "percentile", "basic"]),
)
def test_interval_from_replicates_invariants(reps, theta, method):
    theta = np.full(reps.shape[1], theta)
    jack = np.linspace(-1, 1, 4)[:, None] * np.ones(reps.shape[1])
    res = I.interval_from_replicates(theta, reps, jack, np.ones(4), method=method)
    n_def = (~np.isnan(reps)).sum(axis=0)
    np.testing.assert_allclose(res["undefined_fraction"], 1 - n_def / reps.shape[0], atol=1e-15)
    for j in range(reps.shape[1]):
        lo, hi = res["low"][j], res["high"][j]
        assert np.isnan(lo) == np.isnan(hi)
        if np.isnan(lo):
            continue
        assert lo <= hi
        defined = reps[~np.isnan(reps[:, j]), j]
        assert np.ptp(defined) > 0  # an interval only where the replicates vary
        if method != "basic":  # percentile and BCa: quantiles of the defined replicates
            assert defined.min() <= lo and hi <= defined.max()


@pytest.mark.parametrize("method", ["bca", "percentile", "basic"])
def test_all_equal_replicates_give_no_interval_with_a_note(method):
    theta = np.array([0.7, 0.2])
    reps = np.tile(theta, (500, 1))
    res = I.interval_from_replicates(theta, reps, np.tile(theta, (7, 1)), np.ones(7), method=method)
    assert np.isnan(res["low"]).all() and np.isnan(res["high"]).all()
    for note in res["note"]:
        assert note is not None and "no interval" in note


def test_bca_falls_back_to_percentile_when_every_replicate_is_on_one_side():
    rng = np.random.default_rng(3)
    reps = 1 + rng.random((400, 2))  # all above theta = 0.5
    reps[:, 1] -= 1.5  # column 1: uniform on (-0.5, 0.5), straddling its theta = 0
    theta = np.array([0.5, 0.0])
    jack = rng.normal(size=(20, 2))
    res = I.interval_from_replicates(theta, reps, jack, np.ones(20), method="bca")
    assert res["low"][0] == pytest.approx(np.percentile(reps[:, 0], 2.5), abs=1e-14)
    assert res["high"][0] == pytest.approx(np.percentile(reps[:, 0], 97.5), abs=1e-14)
    assert "BCa undefined" in res["note"][0] and "percentile" in res["note"][0]
    assert res["note"][1] is None  # the other column: a proper BCa interval, no note


def test_basic_interval():
    rng = np.random.default_rng(4)
    reps = rng.gamma(2.0, size=(2000, 4))
    theta = np.array([1.0, 2.0, 3.0, 2.5])
    res = I.interval_from_replicates(theta, reps, method="basic", confidence_level=0.9)
    np.testing.assert_allclose(res["low"], 2 * theta - np.percentile(reps, 95, axis=0), atol=1e-14)
    np.testing.assert_allclose(res["high"], 2 * theta - np.percentile(reps, 5, axis=0), atol=1e-14)
    # clipped to the value range when one is given
    clipped = I.interval_from_replicates(theta, reps, method="basic", value_range=(0.0, 3.0))
    assert (clipped["low"] >= 0).all() and (clipped["high"] <= 3).all()


def test_unknown_method_is_an_error():
    with pytest.raises(ValueError, match="unknown interval method 'studentized'"):
        I.interval_from_replicates(0.5, np.random.default_rng(0).random(100), method="studentized")


@pytest.mark.parametrize("method", ["bca", "percentile", "basic"])
def test_interval_from_replicates_is_vectorised_over_trailing_axes(method):
    rng = np.random.default_rng(5)
    reps = rng.beta(3, 5, size=(800, 3, 2))
    reps[rng.random(reps.shape) < 0.03] = np.nan
    reps[:, 2, 1] = 0.4  # one degenerate element
    theta = np.nanmean(reps, axis=0) + 0.01
    jack = rng.beta(3, 5, size=(15, 3, 2))
    w = rng.integers(1, 5, 15).astype(float)
    res = I.interval_from_replicates(theta, reps, jack, w, method=method)
    for key in ("low", "high", "se", "undefined_fraction", "note"):
        assert res[key].shape == (3, 2), key
    for i in range(3):
        for j in range(2):
            one = I.interval_from_replicates(
                theta[i, j], reps[:, i, j], jack[:, i, j], w, method=method
            )
            for key in ("low", "high", "se", "undefined_fraction"):
                np.testing.assert_allclose(
                    res[key][i, j],
                    one[key],
                    rtol=0,
                    atol=1e-14,
                    equal_nan=True,
                    err_msg=f"{key} [{i}, {j}]",
                )
            assert res["note"][i, j] == one["note"][()]
    assert np.isnan(res["low"][2, 1]) and "no interval" in res["note"][2, 1]


@pytest.mark.parametrize("method", ["percentile", "basic", "bca"])
def test_zero_width_interval_from_varying_replicates_has_a_note(method):
    theta = 1 / 3
    reps = np.r_[np.full(196, theta), np.full(4, 0.5)]  # both 2.5% and 97.5% points at theta
    res = I.interval_from_replicates(
        theta, reps, np.r_[theta, 0.5], np.array([10.0, 1.0]), method=method
    )
    assert res["se"] > 0.02
    assert not (res["low"] == res["high"] and res["note"][()] is None)


def test_rounding_noise_replicates_are_degenerate():
    theta = math.log(2) - 1e-16
    reps = math.log(2) + np.random.default_rng(0).choice([0.0, 2.2e-16, -1.1e-16], 500)
    res = I.interval_from_replicates(theta, reps, method="percentile")
    assert np.isnan(res["low"]) and "no interval" in res["note"][()]


# ------------------------------------------------------------------------------------------------
# 7. seeds


def seed_case():
    rng = np.random.default_rng(77)
    y = rng.choice(4, size=150, p=[0.5, 0.3, 0.15, 0.05])
    s = softmax_scores(y, 4, rng, separation=1.5)
    return y, s


def test_same_seed_gives_identical_json_and_different_seeds_differ(monkeypatch):
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1700000000")
    y, s = seed_case()
    a = quiet_audit(y, y_score=s, n_resamples=300, seed=12345).to_json()
    b = quiet_audit(y, y_score=s, n_resamples=300, seed=12345).to_json()
    assert a == b
    c = quiet_audit(y, y_score=s, n_resamples=300, seed=12346)
    assert c.to_json() != a
    ja = json.loads(a)
    assert ja["run"]["seed"] == 12345 and c.run.seed == 12346
    # the intervals themselves differ, not only the recorded seed
    assert ja["averages"]["macro"]["f1"]["ci_low"] != c.averages["macro"]["f1"].ci_low
    assert ja["averages"]["micro"]["roc_auc"]["ci_low"] != c.averages["micro"]["roc_auc"].ci_low


def test_no_seed_draws_one_that_is_recorded_and_reproduces(monkeypatch):
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1700000000")
    y, s = seed_case()
    first = quiet_audit(y, y_score=s, n_resamples=300)
    second = quiet_audit(y, y_score=s, n_resamples=300)
    assert isinstance(first.run.seed, int) and first.run.seed >= 0
    assert first.run.config["seed"] == first.run.seed
    assert first.run.seed != second.run.seed  # drawn from the OS, not a hidden default
    again = quiet_audit(y, y_score=s, n_resamples=300, seed=first.run.seed)
    assert again.to_json() == first.to_json()


# ------------------------------------------------------------------------------------------------
# 8. degenerate inputs


def degenerate_cases():
    rng = np.random.default_rng(8)
    out = {}
    y = np.r_[np.zeros(30, int), np.ones(25, int), [2]]
    p = y.copy()
    p[:5] = 1
    p[30:33] = 0
    out["one-sample class"] = (y, p, softmax_scores(y, 3, rng))
    y = np.r_[np.zeros(30, int), np.ones(25, int), np.full(8, 2)]
    p = y.copy()
    p[y == 2] = 0
    p[:3] = 1
    out["never-predicted class"] = (y, p, softmax_scores(y, 3, rng))
    y = rng.integers(0, 2, 60)
    out["K = 2"] = (y, np.where(rng.random(60) < 0.8, y, 1 - y), softmax_scores(y, 2, rng))
    y = np.r_[np.zeros(30, int), np.ones(20, int), np.full(5, 2)]
    out["all correct"] = (y, y.copy(), softmax_scores(y, 3, rng))
    s = np.full((y.size, 3), 0.1)
    s[np.arange(y.size), y] = 0.8
    out["perfect separation"] = (y, y.copy(), s)
    return out


DEGENERATE = degenerate_cases()


def interval_problems(result):
    """Every estimate whose interval is neither finite around the estimate nor explicitly
    undefined (NaN with a status / note), and every silent zero-width interval."""
    problems = []
    for name, e in all_estimates(result):
        lo, hi, est = e.ci_low, e.ci_high, e.estimate
        if math.isnan(est):
            if e.status != "undefined":
                problems.append(f"{name}: undefined estimate without status 'undefined' ({e})")
            continue
        if math.isnan(lo) or math.isnan(hi):
            if not (math.isnan(lo) and math.isnan(hi)):
                problems.append(f"{name}: half an interval ({e})")
            elif not e.note:
                problems.append(f"{name}: no interval and no note saying why ({e})")
            continue
        # 1e-12: the point estimate and the replicates are summed in different orders, so an
        # estimate on a bound may sit an ulp outside it
        if not (math.isfinite(lo) and math.isfinite(hi) and lo - 1e-12 <= est <= hi + 1e-12):
            problems.append(f"{name}: estimate outside its interval ({e})")
        if lo == hi and not e.note:
            problems.append(f"{name}: silent zero-width interval ({e})")
    return problems


@pytest.mark.parametrize("scheme", ["stratified", "simple"])
@pytest.mark.parametrize("scores", [False, True], ids=["labels", "scores"])
@pytest.mark.parametrize("case", list(DEGENERATE))
def test_degenerate_inputs_give_finite_or_explicitly_undefined_intervals(case, scores, scheme):
    y, p, s = DEGENERATE[case]
    r = quiet_audit(
        y,
        p,
        y_score=s if scores else None,
        labels=list(range(s.shape[1])),
        n_resamples=500,
        seed=1,
        resampling=scheme,
    )
    problems = interval_problems(r)
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("case", list(DEGENERATE))
def test_degenerate_inputs_with_analytic_score_intervals(case):
    y, p, s = DEGENERATE[case]
    pred = predictions_from_arrays(y, p, y_score=s, labels=list(range(s.shape[1])))
    r = quiet_audit_predictions(
        pred, AuditConfig(n_resamples=300, seed=1, score_bootstrap_max_work=0)
    )
    assert "Obuchowski" in r.averages["micro"]["roc_auc"].method
    problems = interval_problems(r)
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("max_work", [1e7, 0], ids=["bootstrap", "analytic"])
def test_all_tied_scores_give_no_silent_intervals(max_work):
    y = np.repeat(np.arange(3), 7)
    s = np.full((y.size, 3), 1 / 3)
    r = quiet_audit_predictions(
        predictions_from_arrays(y, y_score=s),
        AuditConfig(n_resamples=200, seed=0, score_bootstrap_max_work=max_work),
    )
    problems = interval_problems(r)
    assert not problems, "\n".join(problems)
    assert "perfect separation" not in (r.overall["roc_auc_ovo"].note or "")


def test_macro_auc_at_perfect_separation_is_finite_or_explained():
    y, p, s = DEGENERATE["perfect separation"]
    r = quiet_audit(y, p, y_score=s, n_resamples=500, seed=1)
    for avg in ("macro", "weighted"):
        e = r.averages[avg]["roc_auc"]
        assert e.estimate == 1.0
        assert (math.isfinite(e.ci_low) and e.ci_low < 1.0) or e.note, e
        assert "nan" not in e.method


# ------------------------------------------------------------------------------------------------
# 9. cluster bootstrap


def cluster_case():
    rng = np.random.default_rng(9)
    n = 150
    y = rng.choice(3, size=n, p=[0.5, 0.3, 0.2])
    p = np.where(rng.random(n) < 0.7, y, rng.integers(0, 3, n))
    return y, p


def test_cluster_of_single_rows_matches_the_simple_scheme():
    y, p = cluster_case()
    b = 2000
    simple = quiet_audit(y, p, n_resamples=b, seed=1, resampling="simple")
    clustered = quiet_audit(y, p, cluster=np.arange(y.size)[::-1], n_resamples=b, seed=2)
    assert clustered.run.resampling == "cluster" and simple.run.resampling == "simple"
    assert "jackknife over clusters" in clustered.overall["accuracy"].method
    # The clustered SE is the leave-one-cluster-out jackknife's (no Monte-Carlo error), the
    # simple one a bootstrap SD from B replicates (relative Monte-Carlo sd about sqrt(1 / (2B))
    # = 1.6%); for these smooth statistics the two agree to well within 4.5 x 2.2% = 10%.
    tol = Z * math.sqrt(2 / (2 * b))
    for get in (
        lambda r: r.overall["accuracy"],
        lambda r: r.averages["macro"]["f1"],
        lambda r: r.overall["cohen_kappa"],
    ):
        assert get(clustered).se / get(simple).se == pytest.approx(1.0, abs=tol)
        assert get(clustered).estimate == get(simple).estimate


def test_cluster_bootstrap_of_duplicated_rows_has_the_unduplicated_se():
    y, p = cluster_case()
    b = 2000
    y3, p3 = np.repeat(y, 3), np.repeat(p, 3)
    ids = np.repeat(np.arange(y.size), 3)  # every row three times, as one cluster
    base = quiet_audit(y, p, n_resamples=b, seed=1, resampling="simple")
    clustered = quiet_audit(y3, p3, cluster=ids, n_resamples=b, seed=2)
    naive = quiet_audit(y3, p3, n_resamples=b, seed=3, resampling="simple")
    assert clustered.run.resampling == "cluster"
    assert clustered.data.n_clusters == y.size
    se_base = base.overall["accuracy"].se
    tol = Z * math.sqrt(2 / (2 * b))  # as above
    assert clustered.overall["accuracy"].se / se_base == pytest.approx(1.0, abs=tol)
    # ignoring the clusters treats 3n rows as independent: the SE shrinks by ~sqrt(3)
    assert naive.overall["accuracy"].se / se_base < 0.7
    e_c, e_n = clustered.overall["accuracy"], naive.overall["accuracy"]
    assert (e_c.ci_high - e_c.ci_low) > 1.4 * (e_n.ci_high - e_n.ci_low)


def test_cluster_bootstrap_of_duplicated_rows_widens_score_intervals_too():
    y, _ = cluster_case()
    s = softmax_scores(y, 3, np.random.default_rng(0), separation=1.0)
    b = 1000
    base = quiet_audit(y, y_score=s, n_resamples=b, seed=1, resampling="simple")
    clustered = quiet_audit(
        np.repeat(y, 3),
        y_score=np.repeat(s, 3, axis=0),
        cluster=np.repeat(np.arange(y.size), 3),
        n_resamples=b,
        seed=2,
    )
    tol = Z * math.sqrt(2 / (2 * b))
    for avg, name in (("micro", "roc_auc"), ("macro", "roc_auc"), ("micro", "average_precision")):
        ratio = clustered.averages[avg][name].se / base.averages[avg][name].se
        assert ratio == pytest.approx(1.0, abs=tol), (avg, name, ratio)
    # per class (clustered DeLong): the same SE as DeLong's on the data without duplicates, up to
    # the C/(C-1) vs m/(m-1) normalisations (the unclustered audit reports the HM-S interval,
    # whose SE is its half-width / z, so DeLong's is taken from the ranking pass)
    delong_se = np.sqrt(R.ovr_pass(y, s).delong_var)
    for j, label in enumerate(clustered.classes):
        se_c = clustered.class_result(label).metrics["roc_auc"].se
        se_b = delong_se[j]
        assert se_c / se_b == pytest.approx(1.0, abs=0.03), (label, se_c, se_b)
        assert (
            "clustered (Obuchowski 1997)" in clustered.class_result(label).metrics["roc_auc"].method
        )


def test_cluster_analytic_score_intervals_use_the_clusters():
    """Above the bootstrap budget: micro AUC (clustered DeLong) and the losses (cluster-robust
    SE) from clusters of duplicated rows equal those of the data without duplicates."""
    y, _ = cluster_case()
    s = softmax_scores(y, 3, np.random.default_rng(0), separation=1.0)

    def run(y_, s_, cluster=None):
        pred = prevalens.predictions_from_arrays(y_, y_score=s_, cluster=cluster)
        return quiet_audit_predictions(
            pred, prevalens.AuditConfig(n_resamples=200, seed=1, score_bootstrap_max_work=0)
        )

    base = run(y, s)
    clustered = run(np.repeat(y, 3), np.repeat(s, 3, axis=0), np.repeat(np.arange(y.size), 3))
    naive = run(np.repeat(y, 3), np.repeat(s, 3, axis=0))
    for key in ("log_loss", "brier"):
        e_c, e_b, e_n = clustered.overall[key], base.overall[key], naive.overall[key]
        # cluster sums of deviations: C/(C-1) * 9 * SS / (3n)^2 = SS / n^2 * C/(C-1); the
        # unclustered SE is sqrt(SS / (n (n-1))) / sqrt(n)
        assert e_c.se == pytest.approx(e_b.se, rel=0.01), key
        assert e_n.se < 0.65 * e_c.se
        assert "cluster-robust" in e_c.method
    e_c, e_b = clustered.averages["micro"]["roc_auc"], base.averages["micro"]["roc_auc"]
    assert e_c.se == pytest.approx(e_b.se, rel=0.01)
    assert "clustered by cluster" in e_c.method
    # AP (every route): influence values summed within clusters, C/(C-1) sum D_c^2, the same
    # C = n clusters as the n samples of the data without duplicates (duplicating a sample
    # triples its entries' weight and its influence sums to the same total)
    # (the weighted AP's clustered SE also carries the variation of its weights n_k / N, which
    # the stratified scheme of the base run holds fixed)
    for avg, rel in (("micro", 1e-9), ("macro", 1e-9), ("weighted", 0.05)):
        e_c, e_b = (
            clustered.averages[avg]["average_precision"],
            base.averages[avg]["average_precision"],
        )
        assert e_c.se == pytest.approx(e_b.se, rel=rel), avg
        assert "by cluster" in e_c.method and "by sample" in e_b.method
    n = y.size
    for j, c_c in enumerate(clustered.per_class):
        e_c = c_c.metrics["average_precision"]
        assert "cluster-robust influence-function SE" in e_c.method
        # per class: the influence values of the data without duplicates, by sample (not
        # stratified: with clusters the class's support varies)
        d = R.average_precision_influence(s[:, j], y == j).influence
        assert e_c.se == pytest.approx(math.sqrt(n / (n - 1) * (d @ d)), rel=1e-9)


def test_cluster_bootstrap_counts_with_many_clusters_stays_sparse():
    rng = np.random.default_rng(10)
    c, k, b = 100_000, 5, 200
    cluster = np.repeat(np.arange(c), 2)  # two rows per cluster
    y = rng.integers(0, k, 2 * c)
    p = np.where(rng.random(2 * c) < 0.8, y, rng.integers(0, k, 2 * c))
    reps = U.cluster_bootstrap_counts(y, p, cluster, k, b, np.random.default_rng(0))
    assert reps.shape == (b, k, k) and reps.dtype == np.int64
    assert (reps.sum(axis=(1, 2)) == 2 * c).all()  # C clusters of 2 rows in every replicate
    cm = confusion_matrix(y, p, k)
    # each cell's replicate mean is the observed count within Monte-Carlo error: a cell's count
    # is a sum over C draws, so its sd is at most sqrt(2 * 2 * cm) (two rows per cluster)
    sd = np.sqrt(4.0 * cm + 1)
    assert (np.abs(reps.mean(axis=0) - cm) < Z * sd / math.sqrt(b)).all()


def _clustered_rows(seed, c, k, n, right):
    """``(y, p, cluster)``: n rows in c clusters, predictions right with probability ``right``."""
    rng = np.random.default_rng(seed)
    cluster = rng.integers(0, c, n)
    y = rng.integers(0, k, n)
    p = np.where(rng.random(n) < right, y, rng.integers(0, k, n))
    return y, p, cluster


def test_cluster_bootstrap_counts_equal_the_drawn_clusters_summed():
    """Each replicate is the sum of the drawn clusters' confusion matrices, each cluster counted
    as often as it was drawn (its multiplicities from C draws of a cluster index, replicate by
    replicate from the one stream), exactly, across chunks."""
    c, k, b = 300, 4, 70
    y, p, cluster = _clustered_rows(12, c, k, 2_000, 0.7)
    reps = U.cluster_bootstrap_counts(y, p, cluster, k, b, np.random.default_rng(5), chunk=32)
    per_cluster = np.zeros((c, k, k), dtype=np.int64)
    np.add.at(per_cluster, (cluster, y, p), 1)
    draw = np.random.default_rng(5)
    for r in range(b):
        times = np.bincount(draw.integers(0, c, size=c), minlength=c)
        assert np.array_equal(reps[r], np.einsum("c,cij->ij", times, per_cluster))


def test_cluster_bootstrap_tables_are_the_tables_of_the_replicates():
    """``tables=True`` reduces each chunk's matrices as it forms them: the same integers as the
    tables of the (B, K, K) replicates, from the same draws, whatever the chunk."""
    c, k, b = 200, 5, 45
    y, p, cluster = _clustered_rows(13, c, k, 1_500, 0.6)
    whole = U.cluster_bootstrap_counts(y, p, cluster, k, b, np.random.default_rng(3), chunk=64)
    for chunk in (1, 7, 64):
        got = U.cluster_bootstrap_counts(
            y, p, cluster, k, b, np.random.default_rng(3), chunk=chunk, tables=True
        )
        for a, want in zip(got, class_tables(whole)):
            assert a.shape == (b, k)
            np.testing.assert_array_equal(a, want)


def test_cluster_count_bootstrap_memory_does_not_grow_with_clusters_times_k_squared():
    import tracemalloc

    rng = np.random.default_rng(0)
    c, k = 2_000, 60
    cluster = np.repeat(np.arange(c), 3)
    y = rng.integers(0, k, 3 * c)
    p = np.where(rng.random(3 * c) < 0.7, y, rng.integers(0, k, 3 * c))
    cm = confusion_matrix(y, p, k)
    tracemalloc.start()
    try:
        U.CountBootstrap.run(
            cm, count_statistics, 100, np.random.default_rng(0), y_true=y, y_pred=p, cluster=cluster
        )
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    # What is needed: B K^2 replicate counts (2.9 MB), a (C, chunk) weight block (1 MB), tables
    # and statistics of at most C jackknife members (C K = 120,000 numbers each, ~1 MB). 50 MB is
    # generous for that and well below the dense C K^2 array (58 MB; a dense implementation
    # peaked at ~140-200 MB here).
    assert peak < 50e6, f"peak {peak / 1e6:.0f} MB"


def test_cluster_bootstrap_jackknife_leaves_out_whole_clusters():
    # Two clusters with the same cell pattern form one distinct leave-one-cluster-out member.
    y = np.array([0, 0, 1, 0, 0, 1, 1, 1])
    p = np.array([0, 1, 1, 0, 1, 1, 1, 0])
    cluster = np.array([0, 0, 0, 1, 1, 1, 2, 3])  # clusters 0 and 1 have identical cells
    cm = confusion_matrix(y, p, 2)
    boot = U.CountBootstrap.run(
        cm, count_statistics, 100, np.random.default_rng(0), y_true=y, y_pred=p, cluster=cluster
    )
    assert boot.method == "cluster"
    assert sorted(boot.jackknife_weights.tolist()) == [1.0, 1.0, 2.0]
    refits = sorted(
        float(
            count_statistics(confusion_matrix(y[cluster != g], p[cluster != g], 2))[
                "overall.accuracy"
            ]
        )
        for g in range(4)
    )
    ours = sorted(
        np.repeat(boot.jackknife["overall.accuracy"], boot.jackknife_weights.astype(int)).tolist()
    )
    np.testing.assert_allclose(ours, refits, rtol=0, atol=1e-12)


# ------------------------------------------------------------------------------------------------
# 10. simultaneous intervals


def simultaneous_case():
    rng = np.random.default_rng(12)
    n = 240
    y = rng.choice(5, size=n, p=[0.35, 0.3, 0.2, 0.1, 0.05])
    s = softmax_scores(y, 5, rng, separation=1.3)
    p = s.argmax(axis=1)
    p[p == 4] = 0  # class 4 is never predicted: its precision is undefined
    return y, p, s


@pytest.fixture(scope="module")
def simultaneous_results():
    y, p, s = simultaneous_case()
    out = {}
    for mult in ("bonferroni", "none", "sidak"):
        for prop in ("wilson", "bootstrap"):
            out[mult, prop] = quiet_audit(
                y,
                p,
                y_score=s,
                n_resamples=400,
                seed=5,
                multiplicity=mult,
                proportion_interval=prop,
            )
    return out


SIM_METRICS = (
    "precision",
    "recall",
    "f1",
    "specificity",
    "npv",
    "jaccard",
    "prevalence",
    "roc_auc",
    "average_precision",
)


@pytest.mark.parametrize("prop", ["wilson", "bootstrap"])
@pytest.mark.parametrize("metric", SIM_METRICS)
def test_simultaneous_intervals(simultaneous_results, metric, prop):
    marginal = simultaneous_results["bonferroni", prop]
    k = len(marginal.per_class)
    defined = [j for j in range(k) if marginal.per_class[j].metrics[metric].defined]
    if metric == "precision":
        assert len(defined) == k - 1
    for mult in ("bonferroni", "sidak", "none"):
        r = simultaneous_results[mult, prop]
        sim = r.simultaneous[metric]
        assert sim["adjustment"] == mult
        assert sim["family_size"] == len(defined)
        expected_level = {
            "bonferroni": 1 - 0.05 / len(defined),
            "sidak": 0.95 ** (1 / len(defined)),
            "none": 0.95,
        }[mult]
        assert sim["per_class_level"] == pytest.approx(expected_level, abs=1e-12)
        assert [iv["label"] for iv in sim["intervals"]] == list(r.classes)
        for j in range(k):
            e = r.per_class[j].metrics[metric]
            iv = sim["intervals"][j]
            if j not in defined:
                assert iv["ci_low"] is None and iv["ci_high"] is None
                continue
            if math.isnan(e.ci_low):  # no marginal interval (degenerate): none jointly either
                assert iv["ci_low"] is None, (metric, j, e, iv)
                continue
            assert iv["ci_low"] is not None and iv["ci_high"] is not None
            if mult == "none":
                assert iv["ci_low"] == pytest.approx(e.ci_low, abs=1e-12), (metric, j)
                assert iv["ci_high"] == pytest.approx(e.ci_high, abs=1e-12), (metric, j)
            else:
                assert iv["ci_low"] <= e.ci_low + 1e-12, (metric, j, mult)
                assert iv["ci_high"] >= e.ci_high - 1e-12, (metric, j, mult)
                # strictly wider where the interval is not pinned at a bound
                if 0 < e.ci_low and e.ci_high < 1:
                    assert iv["ci_high"] - iv["ci_low"] > e.ci_high - e.ci_low


# Regression: the one-sample class's AUC interval (df = 1) must keep its own df in the
# simultaneous intervals (a closure once read the one-vs-one AUC's df instead), and at perfect
# separation the simultaneous AP intervals must not be [1, 1] where the marginal ones are NaN.
@pytest.mark.parametrize("case", list(DEGENERATE))
def test_simultaneous_intervals_of_degenerate_inputs(case):
    y, p, s = DEGENERATE[case]
    r = quiet_audit(y, p, y_score=s, labels=list(range(s.shape[1])), n_resamples=300, seed=2)
    problems = []
    for metric, sim in r.simultaneous.items():
        for c, iv in zip(r.per_class, sim["intervals"]):
            e = c.metrics[metric]
            if math.isnan(e.ci_low):  # no marginal interval: no simultaneous one either
                if iv["ci_low"] is not None or iv["ci_high"] is not None:
                    problems.append(f"{metric}[{c.label}]: {iv} but marginal {e}")
            elif iv["ci_low"] is None or not (
                iv["ci_low"] <= e.ci_low + 1e-12 and iv["ci_high"] >= e.ci_high - 1e-12
            ):
                problems.append(f"{metric}[{c.label}]: {iv} does not contain marginal {e}")
    assert not problems, "\n".join(problems)


# ------------------------------------------------------------------------------------------------
# 11. the per-class F1 interval


@pytest.mark.parametrize(
    "proportion_interval, scipy_method", [("wilson", "wilson"), ("clopper-pearson", "exact")]
)
def test_per_class_f1_interval_is_the_jaccard_interval_mapped(proportion_interval, scipy_method):
    cm = np.array(
        [[50, 5, 3, 0], [4, 20, 2, 0], [2, 1, 4, 0], [1, 2, 0, 0]]
    )  # class 3: tp = 0, never predicted
    y, p = rows_from_cm(cm)
    r = quiet_audit(
        y, p, n_resamples=200, seed=0, proportion_interval=proportion_interval, confidence_level=0.9
    )
    t = class_tables(cm)
    for j in range(4):
        tp, fp, fn = int(t.tp[j]), int(t.fp[j]), int(t.fn[j])
        u = tp + fp + fn
        ci = stats.binomtest(tp, u).proportion_ci(0.9, method=scipy_method)
        e = r.per_class[j].metrics["f1"]
        jac = r.per_class[j].metrics["jaccard"]
        assert e.estimate == pytest.approx(2 * tp / (2 * tp + fp + fn), abs=1e-12)
        assert e.estimate == pytest.approx(2 * jac.estimate / (1 + jac.estimate), abs=1e-12)
        assert jac.ci_low == pytest.approx(ci.low, abs=1e-10)
        assert jac.ci_high == pytest.approx(ci.high, abs=1e-10)
        assert e.ci_low == pytest.approx(2 * ci.low / (1 + ci.low), abs=1e-10)
        assert e.ci_high == pytest.approx(2 * ci.high / (1 + ci.high), abs=1e-10)
        assert e.ci_low <= e.estimate <= e.ci_high
        assert f"n={u}" in e.method and "2J/(1+J)" in e.method
    f1_3 = r.per_class[3].metrics["f1"]
    assert f1_3.estimate == 0.0 and f1_3.ci_low == 0.0 and f1_3.ci_high > 0.0


# ------------------------------------------------------------------------------------------------
# 12. score intervals: bootstrap by sample vs analytic


@pytest.fixture(scope="module")
def score_results():
    rng = np.random.default_rng(5)
    n, k = 300, 4
    y = rng.choice(k, n, p=[0.4, 0.3, 0.2, 0.1])
    s = softmax_scores(y, k, rng, separation=1.2)
    pred = predictions_from_arrays(y, y_score=s)
    boot = quiet_audit_predictions(pred, AuditConfig(n_resamples=1000, seed=1))
    analytic = quiet_audit_predictions(
        pred, AuditConfig(n_resamples=1000, seed=1, score_bootstrap_max_work=0)
    )
    return boot, analytic


def test_micro_auc_intervals_bootstrap_and_analytic_agree(score_results):
    boot, analytic = score_results
    eb = boot.averages["micro"]["roc_auc"]
    ea = analytic.averages["micro"]["roc_auc"]
    assert "bootstrap by sample" in eb.method
    assert "Obuchowski" in ea.method
    assert eb.estimate == ea.estimate
    for e in (eb, ea):
        assert e.ci_low < e.estimate < e.ci_high
    # Both estimate the sampling sd of one smooth statistic of n = 300 samples; the bootstrap's
    # Monte-Carlo error at B = 1000 is ~2% of the sd and the methods differ by O(1/n) terms
    # (and the logit vs percentile shape), so the SEs must agree within 25% and every endpoint
    # within one SE (0.015).
    assert ea.se / eb.se == pytest.approx(1.0, abs=0.25)
    assert abs(ea.ci_low - eb.ci_low) < eb.se
    assert abs(ea.ci_high - eb.ci_high) < eb.se


def test_ap_standard_errors_match_a_bootstrap_by_sample(score_results):
    """AP has one route (influence values, no resampling): its SEs against a direct bootstrap by
    sample of the same data (stratified by class, as the default scheme; B = 1000). The
    bootstrap SD has a relative Monte-Carlo sd of ~sqrt(1/(2B)) = 2.2% and the estimators differ
    by O(1/n) terms (classes of 30-120 samples: the jackknife is the larger by up to ~(1 +
    1/m)); tolerance 20%."""
    boot, analytic = score_results
    rng = np.random.default_rng(5)
    n, k = 300, 4
    y = rng.choice(k, n, p=[0.4, 0.3, 0.2, 0.1])
    s = softmax_scores(y, k, rng, separation=1.2)
    members = [np.flatnonzero(y == c) for c in range(k)]
    brng = np.random.default_rng(6)
    reps = []
    for _ in range(1000):
        idx = np.concatenate([brng.choice(m, m.size) for m in members])
        ap = R.average_precision_per_class(y[idx], s[idx])
        reps.append(np.r_[ap, ap.mean(), R.micro_average_precision(y[idx], s[idx])])
    sd = np.std(reps, axis=0, ddof=1)
    for r in (boot, analytic):
        for j, c in enumerate(r.per_class):
            e = c.metrics["average_precision"]
            assert e.se / sd[j] == pytest.approx(1.0, abs=0.2), (j, e.se, sd[j])
            assert "exact jackknife" in e.method and e.ci_low < e.estimate < e.ci_high
        assert r.averages["macro"]["average_precision"].se / sd[k] == pytest.approx(1.0, abs=0.2)
        assert r.averages["micro"]["average_precision"].se / sd[k + 1] == pytest.approx(
            1.0, abs=0.2
        )
    assert (
        boot.averages["micro"]["average_precision"]
        == analytic.averages["micro"]["average_precision"]
    )


def test_micro_auc_variance_from_a_subsample():
    rng = np.random.default_rng(13)
    n, k = 20_000, 4
    y = rng.choice(k, n, p=[0.4, 0.3, 0.2, 0.1])
    s = rng.normal(size=(n, k))
    s[np.arange(n), y] += 1.2
    full, used = U.micro_auc_variance(y, s, max_samples=10**9)
    assert used == n
    sub, used_sub = U.micro_auc_variance(y, s, max_samples=3000, rng=0)
    assert used_sub == 3000
    assert sub / full == pytest.approx(1.0, abs=0.3)
    # and the full-data variance is close to a bootstrap of the micro AUC (same order of size)
    assert 0 < full < 1e-4


def test_micro_auc_variance_matches_the_bootstrap_variance():
    # Obuchowski's clustered variance against a direct bootstrap of the micro AUC (the pooled
    # n*K problem resampled by sample), n = 400, B = 1000: the bootstrap variance has relative
    # Monte-Carlo sd ~ sqrt(2/B) = 4.5%, the estimators differ by O(1/n); tolerance 20%.
    rng = np.random.default_rng(14)
    n, k = 400, 3
    y = rng.choice(k, n, p=[0.5, 0.3, 0.2])
    s = rng.normal(size=(n, k))
    s[np.arange(n), y] += 1.0
    var, _ = U.micro_auc_variance(y, s)
    boot_rng = np.random.default_rng(15)
    reps = [
        R.micro_roc_auc(y[idx], s[idx]) for idx in (boot_rng.integers(0, n, n) for _ in range(1000))
    ]
    assert var / np.var(reps, ddof=1) == pytest.approx(1.0, abs=0.2)


def test_column_passes_do_not_depend_on_the_number_of_threads(monkeypatch):
    # n * K = 2e6: over the threshold for ranking the score columns on worker threads
    rng = np.random.default_rng(4)
    n, k = 20_000, 100
    y = rng.integers(0, k, n)
    s = rng.random((n, k))
    s[:, 3] = np.round(s[:, 3], 2)  # ties
    w = rng.random((k, 5)) * (rng.random((k, 5)) < 0.5)
    runs = []
    for threads in (1, 2, 4):
        monkeypatch.setattr(R, "_THREADS", threads)
        runs.append((R.ovr_pass(y, s, combo_weights=w), R.micro_pass(y, s)))
    for summary, micro in runs[1:]:
        for name in (
            "auc",
            "average_precision",
            "ovo_u",
            "delong_var",
            "combo_cov",
            "ovo_var",
            "ovo_df",
        ):
            np.testing.assert_array_equal(getattr(summary, name), getattr(runs[0][0], name))
        assert micro == runs[0][1]


# ------------------------------------------------------------------------------------------------
# clusters: cluster-robust proportions and the leave-one-cluster-out jackknife
#
# Reference values from an independent implementation written for the simulation study that
# chose these methods (its methods.py, `_reference_cases`), computed from the formulas:
#   ratio_cluster_interval(tp=[3,0,10,1,7], n=[4,1,12,1,9]) -> 0.777778 [0.376569, 0.953009],
#       Kish 3.0, df 2.0, effective n* 5.6026
#   cluster_jackknife_interval(0.82, loo=[.81,.84,.80,.83,.82,.79], sizes=[5,10,200,40,3,80])
#       -> [0.435867, 0.964107], se 0.038188, df 1.3735 (Kish 2.3735)


def test_cluster_ratio_interval_reference():
    r, lo, hi, n_cl, kish = I.cluster_ratio_interval(
        np.array([[3], [0], [10], [1], [7]]), np.array([[4], [1], [12], [1], [9]]), alpha=0.05
    )
    assert r[0] == pytest.approx(7 / 9, abs=1e-12)
    assert (lo[0], hi[0]) == pytest.approx((0.37656864412519575, 0.9530088206635369), abs=1e-12)
    assert (n_cl[0], kish[0]) == (5, pytest.approx(3.0, abs=1e-12))
    # one row per cluster: Wilson at the effective number of trials (n - 1 clusters' worth), widened
    # by t(Kish - 1) in place of z
    y = np.array([[1], [1], [0], [1], [1], [0], [1]])
    _, lo, hi, _, _ = I.cluster_ratio_interval(y, np.ones_like(y), alpha=0.05)
    wl, wh = I.wilson_interval(5, 7)
    t_ratio = special.ndtri(0.975) / stats.t.ppf(0.975, 6)  # Kish 7: t(6) shrinks n*
    n_star = min(5 / 7 * 2 / 7 / (((y[:, 0] - 5 / 7) ** 2 / (1 - 1 / 7)).sum() / 49), 7)
    el, eh = I.wilson_interval(5 / 7 * n_star * t_ratio**2, n_star * t_ratio**2)
    assert (lo[0], hi[0]) == pytest.approx((float(el), float(eh)), abs=1e-12)
    assert lo[0] < wl and hi[0] > wh  # t(6) is wider than z


def test_jackknife_t_interval_reference():
    loo = np.array([0.81, 0.84, 0.80, 0.83, 0.82, 0.79])
    df = I.kish_effective([5, 10, 200, 40, 3, 80]) - 1
    lo, hi, se = I.jackknife_t_interval(0.82, loo, np.ones(6), df=df, alpha=0.05)
    assert (float(lo), float(hi), float(se)) == pytest.approx(
        (0.43586722599749705, 0.9641065485476342, 0.0381881307912986), abs=1e-12
    )
    # weights stand for repeated identical leave-one-out values
    lo2, hi2, se2 = I.jackknife_t_interval(
        0.82, np.array([0.81, 0.84]), np.array([2.0, 1.0]), df=df, alpha=0.05
    )
    lo3, hi3, se3 = I.jackknife_t_interval(
        0.82, np.array([0.81, 0.81, 0.84]), np.ones(3), df=df, alpha=0.05
    )
    assert (float(lo2), float(hi2), float(se2)) == pytest.approx(
        (float(lo3), float(hi3), float(se3)), abs=1e-15
    )


def test_clustered_audit_reports_effective_clusters_and_flags_few():
    rng = np.random.default_rng(11)
    sizes = np.r_[np.full(5, 200), np.full(15, 3)]  # 20 clusters, a few huge: Kish ~ 5
    cluster = np.repeat(np.arange(sizes.size), sizes)
    y = rng.integers(0, 3, cluster.size)
    p = np.where(rng.random(cluster.size) < 0.8, y, rng.integers(0, 3, cluster.size))
    r = quiet_audit(y, p, cluster=cluster, n_resamples=200, seed=1)
    assert r.data.n_clusters == 20
    assert r.data.effective_clusters == pytest.approx(
        sizes.sum() ** 2 / (sizes**2).sum(), abs=1e-12
    )
    acc = r.overall["accuracy"]
    assert acc.status == "unstable" and "few effective clusters" in acc.note
    assert "jackknife over clusters" in acc.method
    rec = r.class_result(0).metrics["recall"]
    assert rec.status == "unstable" and "cluster-robust effective n" in rec.method
    assert rec.ci_low < rec.estimate < rec.ci_high


# ------------------------------------------------------------------------------------------------
# BCa's acceleration under the stratified scheme


def test_stratified_acceleration_equals_the_per_observation_definition():
    """Davison & Hinkley (1997, eq. 3.36): every one of the N rows deleted in turn, influence
    values centred within the row's true class; the distinct-cell form must give the same a.
    Reference -0.04773590572 (unstratified -0.05179814702) for macro recall of this matrix, from
    an independent implementation (the divergence study's methods.stratified_acceleration)."""
    from prevalens.intervals import _stratified_moments

    cm = np.array([[5, 1, 0], [2, 7, 1], [0, 1, 2]])
    stats, cells = naive_jackknife(cm)
    jack_rows = stats["macro.recall"]
    strata = cells // 3
    num = den = 0.0
    for i in range(3):
        v = jack_rows[strata == i]
        n_i = v.size
        l_ = (n_i - 1) * (v.mean() - v)
        num += (l_**3).sum() / n_i**3
        den += (l_**2).sum() / n_i**2
    a_brute = num / (6 * den**1.5)
    cells_d, w = U.jackknife_counts(cm)
    boot = U.CountBootstrap.run(cm, count_statistics, 10, np.random.default_rng(0))
    np.testing.assert_array_equal(boot.jackknife_strata, cells_d // 3)
    w = w.astype(float)
    n_d, d_d = _stratified_moments(w, w, boot.jackknife["macro.recall"], boot.jackknife_strata)
    a = n_d / (6 * d_d**1.5)
    assert a == pytest.approx(a_brute, abs=1e-12)
    assert a == pytest.approx(-0.04773590572, abs=1e-10)


def test_cluster_proportion_intervals_in_chunks_of_classes_are_identical(monkeypatch):
    """With a cluster column the per-class proportions' intervals are computed from per-class
    summaries, the classes in chunks sized by memory: any chunk size (here 3 or 2 columns, the
    last chunk of one column merged) gives the audit's results bit for bit."""
    import json

    import prevalens

    rng = np.random.default_rng(21)
    n, k = 6_000, 11
    y = rng.choice(k, n, p=np.geomspace(1, 30, k) / np.geomspace(1, 30, k).sum())
    p = np.where(rng.random(n) < 0.75, y, rng.integers(0, k, n))
    preds = prevalens.predictions_from_arrays(
        y, p, labels=list(range(k)), cluster=rng.integers(0, 400, n)
    )

    original = U._cluster_proportion_intervals
    calls = []

    def per_class(chunk_cells=None):
        if chunk_cells is not None:

            def chunked(*a, **kw):
                calls.append(chunk_cells)
                return original(*a, **{**kw, "chunk_cells": chunk_cells})

            monkeypatch.setattr(U, "_cluster_proportion_intervals", chunked)
        r = prevalens.audit_predictions(preds, n_resamples=100, seed=3)
        return json.dumps(json.loads(r.to_json())["per_class"], sort_keys=True)

    whole = per_class()
    assert per_class(3 * 400) == whole
    assert per_class(2 * 400) == whole
    assert calls == [1200, 800]
