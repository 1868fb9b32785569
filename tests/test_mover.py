"""Exact one-proportion limits and the MOVER intervals built from them (prevalens.intervals,
prevalens.analyses.mover), against independent references.

* mid-p limits and MOVER-mid-p differences: base R (``uniroot`` on ``pbinom``/``dbinom``), the
  script and its output in ``tests/reference/midp_mover.R``;
* Wilson-based MOVER (Newcombe's 1998 method 10): Newcombe's published example, 56/70 - 48/80,
  [0.0524, 0.3339];
* Clopper-Pearson: SciPy's ``binomtest(...).proportion_ci("exact")``;
* class against micro value and stratum differences: an independent implementation written for
  the divergence study (its ``methods.py``; values quoted below with the study's names).
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from scipy import special, stats

from prevalens.analyses.mover import (
    ClassProportions,
    class_vs_micro,
    macro_difference,
    macro_difference_pvalues,
)
from prevalens.counts import class_tables
from prevalens.intervals import (
    _bisect,
    clopper_pearson_interval,
    clopper_pearson_limit,
    interval_pvalue,
    midp_interval,
    mover_difference,
    wilson_interval,
)

Z95 = special.ndtri(0.975)
Z_ADJ = special.ndtri(1 - 0.05 / 40 / 2)

# (alpha, x, n, low, high) from tests/reference/midp_mover.R
R_MIDP = [
    (0.05, 0, 3, 0.0, 0.6315968501),
    (0.05, 3, 3, 0.3684031499, 1.0),
    (0.05, 0, 5, 0.0, 0.4507197283),
    (0.05, 1, 10, 0.0050014753, 0.4034761557),
    (0.05, 3, 10, 0.0826002170, 0.6199185659),
    (0.05, 6, 10, 0.2911361099, 0.8577070557),
    (0.05, 10, 10, 0.7411344491, 1.0),
    (0.05, 97, 100, 0.9205454286, 0.9923134160),
    (0.05, 0, 200, 0.0, 0.0148670392),
    (0.00125, 0, 3, 0.0, 0.8922782655),
    (0.00125, 3, 3, 0.1077217345, 1.0),
    (0.00125, 0, 5, 0.0, 0.7373472196),
    (0.00125, 1, 10, 0.0001250000, 0.6162767149),
    (0.00125, 3, 10, 0.0224256456, 0.7910485317),
    (0.00125, 6, 10, 0.1448221071, 0.9481966099),
    (0.00125, 10, 10, 0.5124966151, 1.0),
    (0.00125, 97, 100, 0.8762391562, 0.9979556274),
    (0.00125, 0, 200, 0.0, 0.0328706794),
]


@pytest.mark.parametrize("alpha, x, n, low, high", R_MIDP)
def test_midp_matches_r(alpha, x, n, low, high):
    lo, hi = midp_interval(x, n, alpha=alpha)
    assert lo == pytest.approx(low, abs=1e-10) and hi == pytest.approx(high, abs=1e-10)


def test_midp_is_vectorised_and_solves_its_equations():
    x = np.array([0, 1, 5, 9, 10, 37])
    n = np.array([10, 10, 10, 10, 10, 50])
    lo, hi = midp_interval(x, n, alpha=0.01)
    for xi, ni, a, b in zip(x, n, lo, hi):
        if xi > 0:  # P(X > x) + P(X = x) / 2 = alpha / 2 at the lower limit
            assert stats.binom.sf(xi, ni, a) + 0.5 * stats.binom.pmf(xi, ni, a) == pytest.approx(
                0.005, abs=1e-12
            )
        if xi < ni:
            assert stats.binom.cdf(xi - 1, ni, b) + 0.5 * stats.binom.pmf(
                xi, ni, b
            ) == pytest.approx(0.005, abs=1e-12)
    # between Clopper-Pearson (wider) and nothing: mid-p is never wider than exact
    cl, ch = clopper_pearson_interval(x, n, alpha=0.01)
    assert np.all(cl <= lo + 1e-15) and np.all(hi <= ch + 1e-15)


@given(st.integers(1, 400).flatmap(lambda n: st.tuples(st.integers(0, n), st.just(n))))
def test_clopper_pearson_matches_scipy(xn):
    x, n = xn
    ci = stats.binomtest(x, n).proportion_ci(confidence_level=0.95, method="exact")
    lo, hi = clopper_pearson_interval(x, n)
    assert lo == pytest.approx(ci.low, abs=1e-12) and hi == pytest.approx(ci.high, abs=1e-12)


def test_mover_with_wilson_limits_is_newcombes_method_10():
    l1, u1 = wilson_interval(56, 70)
    l2, u2 = wilson_interval(48, 80)
    lo, hi = mover_difference(56 / 70, l1, u1, 48 / 80, l2, u2)
    assert (round(float(lo), 4), round(float(hi), 4)) == (0.0524, 0.3339)  # Newcombe (1998)
    assert lo == pytest.approx(0.0524314724, abs=1e-10)  # R, prop.test limits
    assert hi == pytest.approx(0.3338726540, abs=1e-10)


@pytest.mark.parametrize(
    "alpha, low, high",
    [(0.05, -0.7086568894, -0.1420856586), (0.00125, -0.8549708945, -0.0515956644)],
)
def test_mover_midp_difference_matches_r(alpha, low, high):
    l1, u1 = midp_interval(6, 10, alpha=alpha)
    l2, u2 = midp_interval(14487, 14490, alpha=alpha)
    lo, hi = mover_difference(0.6, l1, u1, 14487 / 14490, l2, u2)
    assert lo == pytest.approx(low, abs=1e-9) and hi == pytest.approx(high, abs=1e-9)


def shuttle_like():
    """Shuttle's Bpv.Close: 6 of 10 recalled, the other 14490 samples at 14487 correct."""
    return np.array([[6, 4], [3, 14487]])


def test_class_recall_against_micro_recall():
    props = ClassProportions(class_tables(shuttle_like()), "recall")
    est, at_mid = class_vs_micro(props, "mid-p")
    _, at_cp = class_vs_micro(props, "clopper-pearson")
    # r_k - micro = (1 - w)(r_k - r_rest), exactly
    assert est[0] == pytest.approx(6 / 10 - 14493 / 14500, abs=1e-15)
    assert est[0] == pytest.approx(-0.3995172414, abs=1e-10)
    lo, hi = at_mid(Z95)
    assert (lo[0], hi[0]) == pytest.approx((-0.7081681605, -0.1419876685), abs=1e-9)
    lo, hi = at_cp(Z_ADJ)
    assert (lo[0], hi[0]) == pytest.approx((-0.8694990586, -0.0435713787), abs=1e-9)
    p = interval_pvalue(lambda z: at_cp(z, np.array([0])), est[:1])
    assert p[0] == pytest.approx(8.825914576e-13, rel=1e-6)


def test_pvalue_inverts_the_interval():
    """At z = Phi^-1(1 - p/2) the interval touches zero: the decision and the interval agree."""
    cm = np.array([[9, 1], [50, 950]])  # 9/10 recalled; the rest 950 of 1000
    props = ClassProportions(class_tables(cm), "recall")
    est, at = class_vs_micro(props, "mid-p")
    p = interval_pvalue(lambda z: at(z, np.array([0])), est[:1])[0]
    assert p == pytest.approx(0.4897932713, abs=1e-8)
    lo, hi = at(special.ndtri(1 - p / 2), np.array([0]))
    assert hi[0] == pytest.approx(0.0, abs=1e-10) and lo[0] < 0


def test_clopper_pearson_limit_is_the_intervals_limit_bit_for_bit():
    """One limit per proportion (what a MOVER bound in one direction reads) is the interval's,
    exactly: empty, all and no successes, and Holm-step alphas down to 1e-200."""
    rng = np.random.default_rng(3)
    n = rng.integers(0, 3000, 4000).astype(float)
    k = np.floor(rng.random(4000) * (n + 1))
    k[:300], k[300:600] = 0, n[300:600]
    alpha = 10.0 ** -rng.uniform(0.5, 200, 4000)
    lower = rng.random(4000) < 0.5
    lo, hi = clopper_pearson_interval(k, n, alpha=alpha)
    got = clopper_pearson_limit(k, n, lower, alpha=alpha)
    want = np.where(lower, lo, hi)
    assert np.array_equal(got, want, equal_nan=True)


def test_bisection_stopping_when_settled_gives_the_64_steps_result():
    """``_bisect`` stops once every element's mid is an end already evaluated; the result is
    bit for bit that of all 64 steps, also for a function that is not monotone at the last
    bits (a MOVER bound's rounding) and for roots at either end of the bracket."""
    rng = np.random.default_rng(4)
    root = np.concatenate([rng.uniform(0, 30, 500), [0.0, 30.0, 1e-300, 29.999999]])
    noise = rng.normal(size=root.size)

    def f(z):
        return (root - z) + 1e-15 * noise * np.sin(1e15 * z)

    lo, hi = np.zeros(root.size), np.full(root.size, 30.0)
    for _ in range(64):
        mid = 0.5 * (lo + hi)
        pos = f(mid) > 0
        lo, hi = np.where(pos, mid, lo), np.where(pos, hi, mid)
    assert np.array_equal(
        _bisect(f, np.zeros(root.size), np.full(root.size, 30.0)), 0.5 * (lo + hi)
    )


CM_F1 = np.array([[6, 3, 1], [2, 400, 8], [1, 10, 90]])


@pytest.mark.parametrize(
    "j, method, z, ref",
    [
        (0, "mid-p", Z95, (-0.3204364077, -0.6013134132, -0.10994102)),
        (0, "clopper-pearson", Z_ADJ, (-0.3204364077, -0.782407097, -0.02126867257)),
        (2, "mid-p", Z95, (-0.05201535509, -0.1053576197, -0.009197904977)),
        (2, "clopper-pearson", Z_ADJ, (-0.05201535509, -0.1486628981, 0.01649672896)),
    ],
)
def test_class_f1_against_accuracy(j, method, z, ref):
    """F1 limits from the Jaccard index (tp of tp + fp + fn) mapped by 2J/(1 + J); micro F1 is
    the accuracy; no correlation term."""
    props = ClassProportions(class_tables(CM_F1), "f1")
    est, at = class_vs_micro(props, method)
    lo, hi = at(z, np.array([j]))
    assert (est[j], lo[0], hi[0]) == pytest.approx(ref, abs=1e-9)


def test_f1_limits_are_mapped_jaccard_limits():
    props = ClassProportions(class_tables(CM_F1), "f1")
    lo, hi = props.limits(Z95, "mid-p", np.array([0]))
    assert (lo[0], hi[0]) == pytest.approx((0.3511579614, 0.8410227241), abs=1e-9)


def test_micro_values_from_accuracy_match_the_definitions():
    """The micro value each construction compares with equals the metric's micro average."""
    from prevalens.metrics import count_statistics

    cm = np.array([[50, 3, 2, 1], [4, 30, 1, 0], [2, 2, 9, 1], [0, 1, 0, 4]])
    micro = count_statistics(class_tables(cm))
    for name in ("recall", "precision", "f1", "jaccard", "specificity"):
        props = ClassProportions(class_tables(cm), name)
        est, _ = class_vs_micro(props, "mid-p")
        per_class = micro[f"per_class.{name}"]
        np.testing.assert_allclose(est, per_class - micro[f"micro.{name}"], atol=1e-14)


# the digits example (supports n, recalled x): a rare stratum of one 3-sample class
N_DIGITS = np.array([109, 74, 49, 34, 23, 16, 10, 7, 5, 3])
X_DIGITS = np.array([108, 73, 48, 33, 15, 12, 7, 6, 2, 0])


def digits_cm():
    k = N_DIGITS.size
    cm = np.diag(X_DIGITS)
    for i in range(k):
        cm[i, (i + 1) % k] += N_DIGITS[i] - X_DIGITS[i]
    return cm


def test_stratum_difference_with_a_tiny_class():
    props = ClassProportions(class_tables(digits_cm()), "recall")
    rare = np.arange(10) == 9
    est, at_mid = macro_difference(props, rare, ~rare, "mid-p")
    assert est == pytest.approx(-0.8096454463, abs=1e-10)
    assert at_mid(Z95) == pytest.approx((-0.8703118922, -0.1733235188), abs=1e-9)
    _, at_cp = macro_difference(props, rare, ~rare, "clopper-pearson")
    assert at_cp(Z_ADJ) == pytest.approx((-0.8906228264, 0.1130252878), abs=1e-9)
    p = interval_pvalue(lambda z: np.asarray(at_cp(z)), np.float64(est))
    assert p == pytest.approx(0.01518603966, rel=1e-6)


def test_stratum_difference_over_classes_with_min_support():
    """Policy (a): the claim is over the classes with at least 10 samples."""
    props = ClassProportions(class_tables(digits_cm()), "recall")
    ok = N_DIGITS >= 10
    uncommon = np.isin(np.arange(10), [4, 5, 6, 7, 8])  # prevalence 1% to 10%
    est, at_mid = macro_difference(props, uncommon & ok, ~uncommon & ok, "mid-p")
    assert est == pytest.approx(-0.281148424, abs=1e-9)
    assert at_mid(Z95) == pytest.approx((-0.4332525124, -0.1677205376), abs=1e-9)
    _, at_cp = macro_difference(props, uncommon & ok, ~uncommon & ok, "clopper-pearson")
    assert at_cp(Z_ADJ) == pytest.approx((-0.5308813762, -0.1147589269), abs=1e-9)


def test_macro_difference_pvalues_together_equal_one_at_a_time():
    """The strata's claims invert their MOVER families in one bisection: each p-value bit for
    bit as its own inversion, over metrics (F1's mapped limits among them), masks with one class,
    classes at 0 or 1 and undefined ones, and differences of either sign and zero."""
    rng = np.random.default_rng(11)
    requests, alone = [], []
    for t in range(30):
        k = int(rng.integers(3, 9))
        cm = rng.poisson(rng.random((k, k)) * 8).astype(np.int64)
        np.fill_diagonal(cm, rng.integers(0, 30, k))
        if t % 4 == 0:
            cm[0] = 0  # a class without samples: its recall is undefined
        if t % 5 == 0:
            cm[1, :] = 0
            cm[1, 1] = 7  # 7 of 7
        metric = ["recall", "precision", "f1", "jaccard", "specificity"][t % 5]
        props = ClassProportions(class_tables(cm), metric)
        a = rng.random(k) < 0.4
        a[int(rng.integers(0, k))] = True
        b = ~a if t % 3 else np.zeros(k, dtype=bool)  # a macro average alone, too
        estimate, at = macro_difference(props, a, b, "clopper-pearson")
        if t == 7:
            estimate = 0.0  # p = 1 exactly
        requests.append((props, a, b, estimate))
        alone.append(float(interval_pvalue(lambda z, at=at: np.asarray(at(z)), estimate)))
    together = macro_difference_pvalues(requests)
    np.testing.assert_array_equal(together, alone)
    assert np.isnan(together).sum() < 5 and (together < 0.05).any() and (together == 1).any()
