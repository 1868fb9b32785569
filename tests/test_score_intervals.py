"""Intervals of the score metrics: the HM-S score interval of a per-class ROC AUC, the influence
values / exact jackknife of average precision and their logit-t intervals, and how the audit
reports them (methods, statuses at the boundary).

What each part checks and against what:

* ``intervals.auc_score_interval`` against the reference cases of the study that chose it (a
  separate numpy implementation), against the defining equation ``(AUC - t)^2 = z^2 V(t)`` at its
  ends, and for its shape (inside [0, 1], closed at 1, nested in the level).
* DeLong's components S10 / S01 of the ranking pass against R's pROC (values stored below with the
  script that produced them; R is not needed to run the tests).
* AP's influence values against finite differences of scikit-learn's sample-weighted AP, its
  exact jackknife against brute-force leave-one-out refits with scikit-learn, the micro AP's
  per-sample influence likewise; AP itself equals scikit-learn's to 1e-12.
* The AP reference case (20 positives N(2, 1), 200 negatives N(0, 1)) through the ranking
  functions and through ``prevalens.audit``.
* The engine: per-class AUC by HM-S with ``se = (hi - lo) / (2 z)``, simultaneous intervals from
  the same function at the adjusted level, AP = 1 with status ``boundary`` and no interval, the
  micro AP flag near 1 with small classes, AP intervals the same whatever the bootstrap budget.

The coverage of these intervals is simulated in tests/test_coverage_scores.py (slow).
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
from scipy import special
from sklearn.metrics import average_precision_score

import prevalens
from prevalens import AuditConfig, audit_predictions, predictions_from_arrays
from prevalens import intervals as I
from prevalens import ranking as R
from prevalens import uncertainty as U

Z95 = special.ndtri(0.975)


def quiet(pred, **options):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return audit_predictions(pred, AuditConfig(**options))


# ------------------------------------------------------------------------------------------------
# 1. the HM-S score interval of a ROC AUC

# Reference cases of the study that chose the method (REPORT Q2; its numpy implementation
# ``methods.auc_score_interval``, printed by ``python methods.py``): (AUC, S10, S01, m, n) ->
# 95% interval, to the 5 decimals printed there.
HMS_REFERENCE = [
    ((1.0, 0.0, 0.0, 15, 1000), (0.89189, 1.00000)),
    ((0.998, 2e-5, 1e-3, 15, 1000), (0.88876, 0.99997)),
    ((0.9, 0.03, 0.05, 100, 5000), (0.85870, 0.93032)),
]


@pytest.mark.parametrize("args, expected", HMS_REFERENCE)
def test_hm_score_interval_reference_cases(args, expected):
    lo, hi = I.auc_score_interval(*args, alpha=0.05)
    assert float(lo) == pytest.approx(expected[0], abs=5e-6)
    assert float(hi) == pytest.approx(expected[1], abs=5e-6)


def hms_variance(t, auc, s10, s01, m, n, e0=2.0):
    """V(t) of the HM-S interval, written out independently of the product's code."""
    inside = 0 < auc < 1
    c1_hat = s10 / (auc * (1 - auc)) if inside else 0.0
    c0_hat = s01 / (auc * (1 - auc)) if inside else 0.0
    e1 = m * (1 - auc)
    c1 = (e1 * c1_hat + e0 * t / (1 + t)) / (e1 + e0)
    c0 = max(c0_hat, (1 - t) / (2 - t))
    return t * (1 - t) / (m * n) * (1 + (m - 1) * c0 + (n - 1) * c1)


@pytest.mark.parametrize(
    "auc, s10, s01, m, n",
    [
        (0.97, 0.004, 0.02, 15, 400),
        (0.8, 0.03, 0.04, 40, 60),
        (0.6, 0.08, 0.07, 8, 9),
        (1.0, 0.0, 0.0, 5, 50_000),
        (0.0, 0.0, 0.0, 12, 30),
        (0.999, 1e-6, 1e-4, 100, 1000),
    ],
)
@pytest.mark.parametrize("level", [0.9, 0.95, 0.99])
def test_hm_score_interval_solves_its_equation(auc, s10, s01, m, n, level):
    """Each end below 1 (above 0) is a root of (AUC - t)^2 = z^2 V(t), and V at the ends of the
    unit interval vanishes, so the interval is closed at AUC = 1 and at AUC = 0."""
    alpha = 1 - level
    z = special.ndtri(1 - alpha / 2)
    lo, hi = (float(x) for x in I.auc_score_interval(auc, s10, s01, m, n, alpha=alpha))
    assert 0.0 <= lo <= auc <= hi <= 1.0
    for end, free in ((lo, auc > 0), (hi, auc < 1)):
        if free:
            # relative residual of the equation at the root (bisection to 2^-60)
            g = (auc - end) ** 2 - z * z * hms_variance(end, auc, s10, s01, m, n)
            assert abs(g) <= 1e-9 * max((auc - end) ** 2, 1e-300), (end, g)
        else:
            assert end == auc
    assert hi < 1.0 if auc < 1 else hi == 1.0


def test_hm_score_interval_is_nested_in_the_level_and_vectorised():
    auc = np.array([0.7, 0.93, 0.995, 1.0])
    args = (auc, np.array([0.05, 0.01, 1e-4, 0.0]), np.array([0.06, 0.02, 4e-3, 0.0]))
    m, n = np.array([20, 50, 15, 7]), np.array([200, 500, 3000, 10])
    lows, highs = [], []
    for alpha in (0.2, 0.05, 0.01, 0.001):
        lo, hi = I.auc_score_interval(*args, m, n, alpha=alpha)
        lows.append(lo)
        highs.append(hi)
        for j in range(auc.size):
            one = I.auc_score_interval(*(a[j] for a in args), m[j], n[j], alpha=alpha)
            assert float(one[0]) == lo[j] and float(one[1]) == hi[j]
    assert (np.diff(np.array(lows), axis=0) < 0).all()  # strictly wider as the level rises
    assert (np.diff(np.array(highs), axis=0)[:, :-1] > 0).all()
    assert (np.array(highs)[:, -1] == 1.0).all()


def test_hm_score_interval_is_nan_where_the_auc_is_undefined():
    lo, hi = I.auc_score_interval(
        [np.nan, 0.8, 0.8], [0.0, 0.01, 0.01], [0.0, 0.01, 0.01], [5, 0, 5], [5, 5, 0], alpha=0.05
    )
    assert np.isnan(lo).all() and np.isnan(hi).all()


def test_hm_score_interval_moves_to_delong_with_many_errors():
    """With a large error mass m(1 - AUC) the variance ratios are the observed ones, so the
    interval approaches the Wald interval of DeLong's variance (same centre and half-width to
    first order) for a large class."""
    auc, m, n = 0.85, 4000, 20_000
    s10, s01 = 0.025, 0.035
    var = s10 / m + s01 / n
    lo, hi = I.auc_score_interval(auc, s10, s01, m, n, alpha=0.05)
    half = Z95 * math.sqrt(var)
    assert float(hi - lo) / (2 * half) == pytest.approx(1.0, abs=0.01)
    assert float(lo + hi) / 2 == pytest.approx(auc, abs=0.05 * half)


# ------------------------------------------------------------------------------------------------
# 2. DeLong's components against R's pROC


def proc_cases():
    """The data of the pROC reference values (positives first, scores rounded to 0.1: ties)."""
    rng = np.random.default_rng(11)
    out = []
    for m, n in ((15, 60), (5, 40), (12, 12)):
        s = np.round(np.r_[rng.normal(2.2, 1, m), rng.normal(0, 1, n)], 1)
        out.append((s, np.r_[np.ones(m, bool), np.zeros(n, bool)]))
    return out


# (AUC, S10, S01, DeLong variance) of each case, from R 4 with pROC 1.18.0. The cases were written
# one per two lines to cases.txt (scores, then labels 1/0, comma-separated, "%g") and read by:
#
#   suppressMessages(library(pROC))
#   lines <- readLines("cases.txt")
#   for (i in seq(1, length(lines), 2)) {
#     s <- as.numeric(strsplit(lines[i], ",")[[1]]); y <- as.numeric(strsplit(lines[i + 1], ",")[[1]])
#     r <- roc(y, s, direction = "<", levels = c(0, 1), quiet = TRUE)
#     p <- pROC:::delongPlacements(r)
#     cat(sprintf("(%.17g, %.17g, %.17g, %.17g),\n", as.numeric(auc(r)), var(p$X), var(p$Y),
#                 var(r, method = "delong")))
#   }
PROC_REFERENCE = [
    (0.97388888888888892, 0.010226851851851855, 0.0010204017576898928, 0.00069879681941828855),
    (0.93499999999999994, 0.015734374999999998, 0.011564102564102563, 0.0034359775641025635),
    (0.9375, 0.024147727272727272, 0.0048926767676767662, 0.0024200336700336699),
]


@pytest.mark.parametrize("case", range(len(PROC_REFERENCE)))
def test_delong_components_equal_proc(case):
    s, pos = proc_cases()[case]
    auc, s10, s01, var = PROC_REFERENCE[case]
    y = (~pos).astype(int)  # class 0 = the positives; class 1's column ranks the other way
    summary = R.ovr_pass(y, np.column_stack([s, -s]))
    assert summary.auc[0] == pytest.approx(auc, abs=1e-14)
    assert summary.delong_s10[0] == pytest.approx(s10, rel=1e-12)
    assert summary.delong_s01[0] == pytest.approx(s01, rel=1e-12)
    assert summary.delong_var[0] == pytest.approx(var, rel=1e-12)
    # one-vs-rest of the other class swaps the roles of positives and negatives
    assert summary.delong_s10[1] == pytest.approx(s01, rel=1e-12)
    assert summary.delong_s01[1] == pytest.approx(s10, rel=1e-12)


def test_delong_components_are_nan_for_a_single_positive_or_an_undefined_auc():
    y = np.array([0, 0, 0, 1, 2, 2])
    s = np.random.default_rng(0).random((6, 3)) + 0.01
    summary = R.ovr_pass(y, s)
    assert np.isnan(summary.delong_s10[1]) and np.isfinite(summary.delong_s01[1])
    assert np.isfinite(summary.delong_s10[0]) and np.isfinite(summary.delong_s01[0])
    y4 = np.array([0, 0, 1, 1])
    summary = R.ovr_pass(y4, np.random.default_rng(1).random((4, 3)) + 0.01)  # class 2 absent
    assert np.isnan(summary.delong_s10[2]) and np.isnan(summary.delong_s01[2])


# ------------------------------------------------------------------------------------------------
# 3. average precision: influence values and exact jackknife


def ap_case(seed, ties, n=70):
    rng = np.random.default_rng(seed)
    pos = rng.random(n) < 0.3
    pos[:2] = True
    s = rng.normal(size=n) + 1.2 * pos
    if ties:
        s = np.round(s, 0 if seed % 2 else 1)
    return s, pos


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("ties", [False, True])
def test_ap_jackknife_equals_brute_force_leave_one_out(seed, ties):
    s, pos = ap_case(seed, ties)
    r = R.average_precision_influence(s, pos)
    assert r.average_precision == pytest.approx(average_precision_score(pos, s), abs=1e-12)
    loo = np.array(
        [average_precision_score(np.delete(pos, i), np.delete(s, i)) for i in range(s.size)]
    )
    np.testing.assert_allclose(r.jackknife, loo - r.average_precision, rtol=0, atol=1e-13)
    # the stratified jackknife SE from those refits
    var = 0.0
    for side in (pos, ~pos):
        v = loo[side]
        var += (v.size - 1) / v.size * ((v - v.mean()) ** 2).sum()
    assert r.se_jackknife == pytest.approx(math.sqrt(var), rel=1e-10)


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("ties", [False, True])
def test_ap_influence_equals_finite_differences_of_weighted_ap(seed, ties):
    s, pos = ap_case(10 + seed, ties, n=40)
    r = R.average_precision_influence(s, pos)
    h = 1e-6
    fd = np.empty(s.size)
    for i in range(s.size):
        w = np.ones(s.size)
        w[i] += h
        w2 = np.ones(s.size)
        w2[i] -= h
        fd[i] = (
            average_precision_score(pos, s, sample_weight=w)
            - average_precision_score(pos, s, sample_weight=w2)
        ) / (2 * h)
    # central differences of a rational function of the weights: error O(h^2) ~ 1e-12, plus
    # rounding ~ 1e-16 / 1e-6
    np.testing.assert_allclose(r.influence, fd, rtol=0, atol=2e-9)
    assert abs(r.influence.sum()) < 1e-14  # AP does not change when every weight is scaled
    u = np.r_[
        r.influence[pos] - r.influence[pos].mean(), r.influence[~pos] - r.influence[~pos].mean()
    ]
    assert r.se_influence == pytest.approx(math.sqrt(u @ u), rel=1e-12)
    assert r.df == pytest.approx((u @ u) ** 2 / np.sum(u**4), rel=1e-12)


def test_ap_reference_case():
    """The study's reference case (REPORT Q3; ``python methods.py``): 20 positives N(2, 1), 200
    negatives N(0, 1), numpy seed 0 -> AP 0.601779, se_if 0.105369, se_jk 0.118130, df 6.50 ->
    95% interval [0.30573, 0.83834] (logit, t with df - 1 degrees of freedom)."""
    s, pos = ap_reference_data()
    r = R.average_precision_influence(s, pos)
    assert r.average_precision == pytest.approx(0.601779, abs=5e-7)
    assert r.se_influence == pytest.approx(0.105369, abs=5e-7)
    assert r.se_jackknife == pytest.approx(0.118130, abs=5e-7)
    assert r.df == pytest.approx(6.50, abs=5e-3)
    lo, hi = I.logit_t_interval(r.average_precision, r.se_jackknife, alpha=0.05, df=r.df - 1)
    assert (float(lo), float(hi)) == pytest.approx((0.30573, 0.83834), abs=5e-6)


def ap_reference_data():
    rng = np.random.default_rng(0)
    s = np.r_[rng.normal(2, 1, 20), rng.normal(0, 1, 200)]
    return s, np.r_[np.ones(20, bool), np.zeros(200, bool)]


def test_ap_reference_case_through_the_audit():
    s, pos = ap_reference_data()
    y = np.where(pos, 1, 0)
    scores = np.column_stack([np.exp(-s), np.exp(s)])  # scores must be >= 0; ranks unchanged
    r = quiet(predictions_from_arrays(y, y_score=scores), n_resamples=200, seed=0)
    e = r.class_result(1).metrics["average_precision"]
    assert e.estimate == pytest.approx(0.601779, abs=5e-7)
    assert (e.ci_low, e.ci_high) == pytest.approx((0.30573, 0.83834), abs=5e-6)
    assert e.se == pytest.approx(0.118130, abs=5e-7)
    assert e.status == "ok"
    assert e.method.startswith("logit-t (exact jackknife SE") and "df=5.5" in e.method


def test_ap_at_one_has_no_spread_and_a_single_positive_no_jackknife():
    r = R.average_precision_influence([3.0, 2.0, 1.0, 0.5], [True, True, False, False])
    assert r.average_precision == 1.0
    assert r.se_jackknife == 0.0 and r.se_influence == 0.0 and r.df == math.inf
    r = R.average_precision_influence([3.0, 2.0, 1.0, 0.5], [False, True, False, False])
    assert r.average_precision == 0.5
    assert np.isnan(r.jackknife[1]) and r.se_jackknife > 0  # the negatives still vary it


def test_ap_near_one_has_accurate_small_influence_values():
    """1 - AP ~ 1e-9: the influence values are computed from the errors B / T, not as differences
    of numbers near 1, so they keep their relative accuracy."""
    m, n = 40_000, 10_000
    s = np.r_[np.arange(m, dtype=float) + n, np.arange(n, dtype=float)]
    pos = np.r_[np.ones(m, bool), np.zeros(n, bool)]
    s[m] = 2.5 + n  # one negative above the three lowest positives
    r = R.average_precision_influence(s, pos)
    # the three lowest positives have A = m, m - 1, m - 2 positives and one negative at or
    # above them: 1 - precision = 1 / (A + 1)
    expected = (1 / (m + 1) + 1 / m + 1 / (m - 1)) / m
    assert 1 - r.average_precision == pytest.approx(expected, rel=1e-9)
    j = np.flatnonzero(~pos)[0]
    # leaving that negative out gives AP = 1 exactly
    assert r.jackknife[j] == pytest.approx(1 - r.average_precision, rel=1e-9)


@pytest.mark.parametrize("seed", range(3))
def test_micro_ap_influence_per_sample_equals_finite_differences(seed):
    rng = np.random.default_rng(20 + seed)
    n, k = 50, 4
    y = rng.integers(0, k, n)
    s = np.round(rng.normal(size=(n, k)), 1)
    s[np.arange(n), y] += 1.0
    ap, d = R.micro_average_precision_influence(y, s)
    onehot = np.eye(k, dtype=bool)[y]
    assert ap == pytest.approx(average_precision_score(onehot.ravel(), s.ravel()), abs=1e-12)
    assert ap == pytest.approx(R.micro_average_precision(y, s), abs=1e-14)
    h = 1e-6
    fd = np.empty(n)
    for i in range(n):
        w = np.ones(n)
        w[i] += h
        w2 = np.ones(n)
        w2[i] -= h
        fd[i] = (
            average_precision_score(onehot.ravel(), s.ravel(), sample_weight=np.repeat(w, k))
            - average_precision_score(onehot.ravel(), s.ravel(), sample_weight=np.repeat(w2, k))
        ) / (2 * h)
    np.testing.assert_allclose(d, fd, rtol=0, atol=2e-9)


def test_ap_combination_influence_is_the_weighted_sum_of_the_classes():
    rng = np.random.default_rng(3)
    n, k = 90, 3
    y = rng.integers(0, k, n)
    s = rng.random((n, k)) + np.eye(k)[y]
    w = R.ap_combination_weights(np.bincount(y, minlength=k))
    summary = R.ovr_pass(y, s, ap_weights=w)
    per = np.stack([R.average_precision_influence(s[:, j], y == j).influence for j in range(k)])
    np.testing.assert_allclose(summary.ap_influence, w.T @ per, rtol=0, atol=1e-15)
    for j in range(k):
        ref = R.average_precision_influence(s[:, j], y == j)
        assert summary.ap_se[j] == pytest.approx(ref.se_jackknife, rel=1e-12)
        assert summary.ap_df[j] == pytest.approx(ref.df, rel=1e-12)


# ------------------------------------------------------------------------------------------------
# 4. logit-t and effective degrees of freedom


def test_logit_t_interval_matches_its_formula_and_has_no_rounding_threshold():
    from scipy import stats

    theta, se, df = 0.83, 0.04, 3.7
    lo, hi = I.logit_t_interval(theta, se, alpha=0.1, df=df)
    q = stats.t.ppf(0.95, df)
    c = math.log(theta / (1 - theta))
    w = q * se / (theta * (1 - theta))
    assert float(lo) == pytest.approx(1 / (1 + math.exp(-(c - w))), abs=1e-15)
    assert float(hi) == pytest.approx(1 / (1 + math.exp(-(c + w))), abs=1e-15)
    # an SE of 1e-13 (AP within 1e-12 of 1) still gives an interval
    lo, hi = I.logit_t_interval(1 - 1e-12, 1e-13, alpha=0.05)
    assert 1 - 1e-12 - 1e-12 < float(lo) < 1 - 1e-12 <= float(hi) <= 1
    nan = I.logit_t_interval(
        np.array([0.0, 1.0, 0.5, 0.5]), np.array([0.1, 0.1, 0.0, np.nan]), alpha=0.05
    )
    assert np.isnan(nan[0]).all() and np.isnan(nan[1]).all()


def test_effective_dof():
    assert float(I.effective_dof(np.ones(7))) == pytest.approx(7.0)
    assert float(I.effective_dof(np.zeros(3))) == math.inf
    u = np.array([1e-160, 2e-160, -3e-160])  # would underflow unscaled
    assert float(I.effective_dof(u)) == pytest.approx(14**2 / 98)
    assert float(I.effective_dof(u)) == pytest.approx(R._effective_dof(u))


# ------------------------------------------------------------------------------------------------
# 5. the engine


def engine_case(seed=4):
    rng = np.random.default_rng(seed)
    sup = np.array([300, 150, 60, 14])
    y = np.repeat(np.arange(4), sup)
    s = rng.normal(size=(y.size, 4))
    s[np.arange(y.size), y] += np.array([2.0, 2.5, 3.0, 9.0])[y]  # class 3 perfectly ranked
    return y, np.exp(s)


@pytest.fixture(scope="module")
def engine_result():
    y, s = engine_case()
    return quiet(predictions_from_arrays(y, y_score=s), n_resamples=200, seed=3), y, s


def test_per_class_auc_is_the_hm_score_interval_with_its_implied_se(engine_result):
    r, y, s = engine_result
    summary = R.ovr_pass(y, s)
    lo, hi = U.auc_score_intervals(summary, alpha=0.05)
    for j, c in enumerate(r.per_class):
        e = c.metrics["roc_auc"]
        assert (e.ci_low, e.ci_high) == (lo[j], hi[j])
        assert e.se == pytest.approx((hi[j] - lo[j]) / (2 * Z95), rel=1e-12)
        assert e.method.startswith("hm-score") and f"m={c.support}" in e.method
        assert e.status == ("insufficient" if c.support < 10 else "ok")
    rare = r.per_class[3].metrics["roc_auc"]
    assert rare.estimate == 1.0 and rare.ci_high == 1.0 and 0.8 < rare.ci_low < 0.95


def test_ap_at_one_is_boundary_without_interval(engine_result):
    r, _, _ = engine_result
    e = r.per_class[3].metrics["average_precision"]
    assert e.estimate == 1.0
    assert e.status == "boundary"
    assert math.isnan(e.ci_low) and math.isnan(e.ci_high) and math.isnan(e.se)
    assert e.note == U.AP_BOUNDARY_NOTE
    d = e.to_dict()
    assert d["status"] == "boundary" and d["ci_low"] is None and d["se"] is None
    assert r.simultaneous["average_precision"]["intervals"][3]["ci_low"] is None
    # the class's AUC interval is the companion statement
    assert r.per_class[3].metrics["roc_auc"].has_interval
    for avg in ("macro", "weighted"):
        m = r.averages[avg]["average_precision"]
        assert m.status == "unstable" and "AP = 1" in m.note and m.has_interval


def test_simultaneous_score_intervals_use_the_same_functions_at_the_adjusted_level(engine_result):
    r, y, s = engine_result
    summary = R.ovr_pass(y, s)
    sim = r.simultaneous["roc_auc"]
    assert sim["family_size"] == 4
    lo, hi = U.auc_score_intervals(summary, alpha=0.05 / 4)
    for j, iv in enumerate(sim["intervals"]):
        assert (iv["ci_low"], iv["ci_high"]) == pytest.approx((lo[j], hi[j]), abs=0)
    sim = r.simultaneous["average_precision"]
    assert sim["family_size"] == 4
    for j in range(3):
        ref = R.average_precision_influence(s[:, j], y == j)
        l_, h_ = I.logit_t_interval(
            ref.average_precision, ref.se_jackknife, alpha=0.05 / 4, df=max(ref.df - 1, 1)
        )
        assert sim["intervals"][j]["ci_low"] == pytest.approx(float(l_), abs=1e-15)
        assert sim["intervals"][j]["ci_high"] == pytest.approx(float(h_), abs=1e-15)


def test_micro_and_macro_ap_from_the_influence_values(engine_result):
    r, y, s = engine_result
    ap, d = R.micro_average_precision_influence(y, s)
    e = r.averages["micro"]["average_precision"]
    n = y.size
    se = math.sqrt(n / (n - 1) * (d @ d))
    df = float(I.effective_dof(d))
    lo, hi = I.logit_t_interval(ap, se, alpha=0.05, df=max(df - 1, 1))
    assert e.estimate == ap and e.se == pytest.approx(se, rel=1e-12)
    assert (e.ci_low, e.ci_high) == pytest.approx((float(lo), float(hi)), abs=1e-15)
    assert "influence-function SE by sample" in e.method
    w = R.ap_combination_weights(np.bincount(y))
    infl = R.ovr_pass(y, s, ap_weights=w).ap_influence
    m = r.averages["macro"]["average_precision"]
    dm = infl[0]
    assert m.se == pytest.approx(math.sqrt(n / (n - 1) * (dm @ dm)), rel=1e-12)


def test_ap_intervals_do_not_depend_on_the_score_bootstrap_budget():
    """AP has one route for every N (no resampling): the same intervals whether or not the
    bootstrap over samples runs for the other score metrics."""
    y, s = engine_case(7)
    pred = predictions_from_arrays(y, y_score=s)
    a = quiet(pred, n_resamples=200, seed=1)
    b = quiet(pred, n_resamples=200, seed=1, score_bootstrap_max_work=0)
    for avg in ("micro", "macro", "weighted"):
        assert a.averages[avg]["average_precision"] == b.averages[avg]["average_precision"]
    for ca, cb in zip(a.per_class, b.per_class):
        assert ca.metrics["average_precision"] == cb.metrics["average_precision"]
        assert ca.metrics["roc_auc"] == cb.metrics["roc_auc"]
    assert "bootstrap by sample" in a.averages["micro"]["roc_auc"].method
    assert "Obuchowski" in b.averages["micro"]["roc_auc"].method


def test_micro_ap_near_one_with_small_classes_is_unstable():
    rng = np.random.default_rng(5)
    sup = np.array([3000, 1500, 12])
    y = np.repeat(np.arange(3), sup)
    s = rng.normal(size=(y.size, 3))
    s[np.arange(y.size), y] += 6.5
    r = quiet(predictions_from_arrays(y, y_score=np.exp(s)), n_resamples=200, seed=0)
    e = r.averages["micro"]["average_precision"]
    assert 0 < 1 - e.estimate < U.MICRO_AP_NEAR_ONE
    assert e.status == "unstable" and "score tails of classes with few samples" in e.note
    assert e.has_interval
    # without the small class: no flag
    keep = y < 2
    r2 = quiet(
        predictions_from_arrays(y[keep], y_score=np.exp(s[keep][:, :2])), n_resamples=200, seed=0
    )
    assert r2.averages["micro"]["average_precision"].status == "ok"


def test_macro_auc_with_a_class_at_one_is_unstable(engine_result):
    r, _, _ = engine_result
    for avg in ("macro", "weighted"):
        e = r.averages[avg]["roc_auc"]
        assert e.status == "unstable" and "AUC 0 or 1" in e.note and e.has_interval


def test_clustered_auc_keeps_delong_and_says_so():
    y, s = engine_case(8)
    cluster = np.arange(y.size) // 2
    r = quiet(predictions_from_arrays(y, y_score=s, cluster=cluster), n_resamples=200, seed=0)
    for c in r.per_class:
        m = c.metrics["roc_auc"].method
        assert "clustered (Obuchowski 1997)" in m and "not validated under clustering" in m
    e = r.averages["micro"]["average_precision"]
    assert "influence-function SE by cluster" in e.method


def test_results_json_round_trip_keeps_boundary(engine_result, tmp_path):
    r, _, _ = engine_result
    back = prevalens.AuditResult.from_dict(r.to_dict())
    assert back.per_class[3].metrics["average_precision"].status == "boundary"
    assert back.per_class[3].metrics["average_precision"].note == U.AP_BOUNDARY_NOTE
