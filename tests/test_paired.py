"""Paired comparison of two models on the same samples: DeLong's covariance of two ROC AUCs,
McNemar's test, Newcombe's interval for the difference of two paired proportions and the
Stuart-Maxwell test of marginal homogeneity, against reference implementations whose output is
copied below, so that the default run needs neither R nor statsmodels: pROC 1.18 and R's stats
(tests/reference/paired.R; the data are read from that script), R's contingencytables and ratesci
(tests/reference/newcombe_paired.R), statsmodels (tests/reference/stuart_maxwell.py)."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from scipy import special, stats
from sklearn.metrics import roc_auc_score

from prevalens.intervals import mcnemar_test, paired_difference_interval, stuart_maxwell_test
from prevalens.ranking import paired_delong

SCRIPT = Path(__file__).parent / "reference" / "paired.R"

# Rscript tests/reference/paired.R
R_DELONG = {
    "auc_a": 0.820571428571429,
    "auc_b": 0.738857142857143,
    "var_a": 0.0033479199679872,
    "var_b": 0.00446034733893557,
    "cov": 0.00155088275310124,
    "z": 1.19110178143996,
    "p": 0.233613630620421,
}
# (b, c): (mcnemar.test p, binom.test p, mid-p)
R_MCNEMAR = {
    (7, 2): (0.182422439451736, 0.1796875, 0.109375),
    (30, 18): (0.112351197690464, 0.111402891061019, 0.0854331331573947),
    (5, 5): (1.0, 1.0, 1.0),
    (0, 4): (0.133614402537715, 0.125, 0.0625),
}


def r_vector(name: str) -> np.ndarray:
    text = SCRIPT.read_text()
    (values,) = re.findall(rf"^{name} <- c\(([^)]*)\)", text, re.M)
    return np.array([float(v) for v in values.split(",")])


@pytest.fixture(scope="module")
def data():
    return r_vector("y").astype(bool), r_vector("a"), r_vector("b")


def test_paired_delong_equals_proc(data):
    y, a, b = data
    r = paired_delong(a, b, y)
    assert r.auc_a == pytest.approx(R_DELONG["auc_a"], abs=1e-12)
    assert r.auc_b == pytest.approx(R_DELONG["auc_b"], abs=1e-12)
    assert r.auc_a == pytest.approx(roc_auc_score(y, a), abs=1e-12)
    for key in ("var_a", "var_b", "cov", "z", "p"):
        got = r.p_value if key == "p" else getattr(r, key)
        assert got == pytest.approx(R_DELONG[key], rel=1e-9), key
    assert r.difference == pytest.approx(R_DELONG["auc_a"] - R_DELONG["auc_b"], abs=1e-12)


def test_paired_delong_is_antisymmetric_and_zero_against_itself(data):
    y, a, b = data
    ab, ba = paired_delong(a, b, y), paired_delong(b, a, y)
    assert ab.difference == -ba.difference and ab.se == pytest.approx(ba.se, rel=1e-12)
    same = paired_delong(a, a, y)
    assert same.difference == 0 and same.se == pytest.approx(0, abs=1e-12)
    assert np.isnan(same.p_value)  # no variance of the difference: no test
    # a strictly increasing transformation of a model's scores leaves everything unchanged
    t = paired_delong(np.exp(a), b, y)
    assert t.z == pytest.approx(ab.z, rel=1e-12) and t.cov == pytest.approx(ab.cov, rel=1e-12)


def test_paired_variance_is_smaller_than_unpaired_for_correlated_models(data):
    y, a, b = data
    r = paired_delong(a, b, y)
    assert r.cov > 0 and r.se**2 < r.var_a + r.var_b


def test_paired_delong_refuses_bad_input(data):
    y, a, b = data
    with pytest.raises(ValueError, match="same length"):
        paired_delong(a[:-1], b, y)
    with pytest.raises(ValueError, match="two or more positives"):
        paired_delong(a, b, np.arange(a.size) == 0)


@pytest.mark.parametrize("bc", sorted(R_MCNEMAR))
def test_mcnemar_equals_r(bc):
    chisq, exact, midp = R_MCNEMAR[bc]
    assert mcnemar_test(*bc, method="chisq") == pytest.approx(chisq, rel=1e-12)
    assert mcnemar_test(*bc, method="exact") == pytest.approx(exact, rel=1e-12)
    assert mcnemar_test(*bc, method="mid-p") == pytest.approx(midp, rel=1e-12)


def test_mcnemar_exact_is_the_binomial_test_and_symmetric():
    for b in range(0, 15):
        for c in range(0, 15):
            p = mcnemar_test(b, c)
            assert p == mcnemar_test(c, b)
            if b + c:
                assert p == pytest.approx(stats.binomtest(b, b + c, 0.5).pvalue, rel=1e-12)
                assert mcnemar_test(b, c, method="mid-p") <= p
    assert mcnemar_test(0, 0) == 1.0
    with pytest.raises(ValueError, match="non-negative"):
        mcnemar_test(-1, 3)
    with pytest.raises(ValueError, match="unknown method"):
        mcnemar_test(1, 3, method="wald")


# ------------------------------------------------------------------------------------------------
# Newcombe's paired interval (method 10)

Z95 = 1.959963984540054
Z90 = 1.6448536269514722

# Rscript tests/reference/newcombe_paired.R: contingencytables 3.0.0
# (Newcombe_square_and_add_CI_paired_2x2); ratesci 1.1.0.9000 (moverpairci, type = "wilson",
# corc = TRUE) printed the same limits to 1e-15. (a, b, c, d): {z: (theta, low, high)}
R_NEWCOMBE = {
    (20, 12, 2, 16): {
        Z95: (0.2, 0.0561564248417484, 0.329206995400141),
        Z90: (0.2, 0.0790093527418488, 0.310462056055509),
    },
    (1, 1, 7, 12): {
        Z95: (-0.285714285714286, -0.506920226686141, -0.0255591241648598),
        Z90: (-0.285714285714286, -0.474798322102092, -0.0688700347653531),
    },
    (59, 6, 16, 80): {
        Z95: (-0.062111801242236, -0.11862119563871, -0.00462511393305006),
        Z90: (-0.062111801242236, -0.10974484287179, -0.0137859907931685),
    },
    (8, 3, 1, 2): {
        Z95: (0.142857142857143, -0.157437249540093, 0.413639417085562),
        Z90: (0.142857142857143, -0.112264966656909, 0.376192405191849),
    },
    (14, 5, 0, 22): {
        Z95: (0.121951219512195, 0.0114832413830333, 0.226492684351211),
        Z90: (0.121951219512195, 0.0287590822802548, 0.210883220283),
    },
    # ad < bc: the correlation as it is (negative)
    (2, 10, 8, 3): {
        Z95: (0.0869565217391304, -0.257336731668035, 0.409244023365627),
        Z90: (0.0869565217391304, -0.206899935327883, 0.364629591542542),
    },
    # 0 <= ad - bc <= n/2: the corrected correlation is 0
    (3, 4, 2, 3): {
        Z95: (0.166666666666667, -0.206434013178437, 0.482610961010764),
        Z90: (0.166666666666667, -0.154858065497964, 0.444826615359049),
    },
    # no discordant pair
    (30, 0, 0, 20): {
        Z95: (0.0, -0.0403803315829743, 0.0403803315829743),
        Z90: (0.0, -0.0336462115882919, 0.0336462115882919),
    },
    # a margin of 0: correlation 0
    (0, 0, 5, 5): {
        Z95: (-0.5, -0.763406909487436, -0.117367467450222),
        Z90: (-0.5, -0.730728178861733, -0.186025836821158),
    },
    (10, 0, 0, 0): {
        Z95: (0.0, -0.277532799862889, 0.277532799862889),
        Z90: (0.0, -0.212941970083407, 0.212941970083407),
    },
}

# Published 95% limits, rounded as published: (a, b, c, d): ((low, high), decimals, source)
PUBLISHED_NEWCOMBE = {
    # Newcombe (1998, Stat Med 17:2635), his worked example, method 10 (his method 8, the same
    # without the correction of phi, gives 0.0618, 0.3242); as quoted by ratesci's tests
    (20, 12, 2, 16): ((0.0562, 0.3292), 4, "Newcombe 1998"),
    # Bentur et al. (2009) in Fagerland, Lydersen & Laake (2014, Stat Med 33:2850), "Newcombe
    # square-and-add"; as quoted by ratesci's tests
    (1, 1, 7, 12): ((-0.507, -0.026), 3, "Fagerland et al. 2014"),
    # Cavo et al. (2012) in Fagerland, Lydersen & Laake (2017), "Statistical Analysis of
    # Contingency Tables", chapter 8; contingencytables' tests (test-ch8.R)
    (59, 6, 16, 80): ((-0.1186, -0.0046), 4, "Fagerland et al. 2017"),
    # Tang, Li & Tang (2010, Stat Methods Med Res 21:361); as quoted by ratesci's tests
    (8, 3, 1, 2): ((-0.1574, 0.4136), 4, "Tang et al. 2010"),
}


@pytest.mark.parametrize("abcd", sorted(R_NEWCOMBE))
def test_paired_difference_interval_equals_r(abcd):
    for z, want in R_NEWCOMBE[abcd].items():
        got = paired_difference_interval(*abcd, z)
        assert got == pytest.approx(want, abs=1e-13), (abcd, z)


@pytest.mark.parametrize("abcd", sorted(PUBLISHED_NEWCOMBE))
def test_paired_difference_interval_equals_published(abcd):
    (low, high), decimals, source = PUBLISHED_NEWCOMBE[abcd]
    _, lo, hi = paired_difference_interval(*abcd, Z95)
    half_unit = 0.5 * 10.0**-decimals
    assert lo == pytest.approx(low, abs=half_unit), source
    assert hi == pytest.approx(high, abs=half_unit), source


def test_paired_difference_interval_is_vectorised():
    tables = np.array(sorted(R_NEWCOMBE), dtype=np.int64)
    theta, lo, hi = paired_difference_interval(*tables.T, Z95)
    assert theta.shape == lo.shape == hi.shape == (len(tables),)
    for i, abcd in enumerate(map(tuple, tables)):
        assert (theta[i], lo[i], hi[i]) == pytest.approx(R_NEWCOMBE[abcd][Z95], abs=1e-13)
    # a z per table broadcasts like the counts
    _, lo2, hi2 = paired_difference_interval(*tables.T, np.array([Z95, Z90] * 5))
    assert lo2[1] == pytest.approx(R_NEWCOMBE[tuple(tables[1])][Z90][1], abs=1e-13)
    assert lo2[0] == lo[0] and hi2[0] == hi[0]


def test_paired_difference_interval_scalars_and_edges():
    got = paired_difference_interval(20, 12, 2, 16, Z95)
    assert all(isinstance(v, float) for v in got)
    assert all(np.isnan(v) for v in paired_difference_interval(0, 0, 0, 0, Z95))
    # every unit a success under the first only: theta = 1, at the top of the range
    theta, lo, hi = paired_difference_interval(0, 25, 0, 0, Z95)
    assert theta == 1.0 and hi == 1.0 and -1.0 <= lo < 1.0
    with pytest.raises(ValueError, match="`c` must hold non-negative counts"):
        paired_difference_interval(1, 2, -1, 4, Z95)
    with pytest.raises(ValueError, match="`a` must hold non-negative counts"):
        paired_difference_interval(np.nan, 2, 1, 4, Z95)


@given(
    abcd=st.tuples(*[st.integers(0, 60)] * 4).filter(lambda t: sum(t) > 0),
    z=st.floats(0.3, 4.0),
    dz=st.floats(0.01, 2.0),
)
def test_paired_difference_interval_properties(abcd, z, dz):
    a, b, c, d = abcd
    theta, lo, hi = paired_difference_interval(a, b, c, d, z)
    tol = 1e-12
    assert theta == pytest.approx((b - c) / sum(abcd), abs=1e-15)
    assert -1.0 <= lo <= theta + tol and theta - tol <= hi <= 1.0
    # a wider level gives a wider interval, holding the narrower one
    _, lo_w, hi_w = paired_difference_interval(a, b, c, d, z + dz)
    assert lo_w <= lo + tol and hi_w >= hi - tol
    # exchanging the two classifiers mirrors the interval
    m_theta, m_lo, m_hi = paired_difference_interval(a, c, b, d, z)
    assert m_theta == -theta
    assert m_lo == pytest.approx(-hi, abs=tol) and m_hi == pytest.approx(-lo, abs=tol)


# ------------------------------------------------------------------------------------------------
# Stuart-Maxwell test

# python tests/reference/stuart_maxwell.py (statsmodels 0.15.0): name: (table, (statistic, p, df))
SM_THREE = [[20, 15, 3], [4, 30, 12], [2, 3, 25]]
# Stuart (1955): unaided distance vision of 7477 women, right eye x left eye; 11.96 on 3 df
SM_VISION = [[1520, 266, 124, 66], [234, 1512, 432, 78], [117, 362, 1772, 205], [36, 82, 179, 492]]
# class 2 in no discordant pair (statsmodels: nan on the full table); its reference is
# statsmodels on the table without class 2, on 2 df
SM_ZERO_MID = [[10, 3, 0, 2], [5, 12, 0, 1], [0, 0, 7, 0], [1, 4, 0, 9]]
# the same table with the class last (statsmodels: the right statistic, but on 3 df)
SM_ZERO_LAST = [[10, 3, 2, 0], [5, 12, 1, 0], [1, 4, 9, 0], [0, 0, 0, 7]]
# discordant pairs only within {0, 1} and within {2, 3}: S is singular; the reference is the sum
# of statsmodels on the two 2 x 2 blocks, on 1 + 1 df
SM_SPLIT = [[10, 4, 0, 0], [1, 8, 0, 0], [0, 0, 6, 3], [0, 0, 7, 5]]
SM_TWO = [[40, 7], [2, 25]]
SM_REF = {
    "3x3": (SM_THREE, (8.967032967032958, 0.01129362938460543, 2)),
    "vision": (SM_VISION, (11.95656962298254, 0.007533425054800591, 3)),
    "zero_mid": (SM_ZERO_MID, (0.5063291139240509, 0.7763401191404025, 2)),
    "zero_last": (SM_ZERO_LAST, (0.5063291139240509, 0.7763401191404025, 2)),
    "split": (SM_SPLIT, (3.4000000000000012, 0.18268352405273452, 2)),
    "2x2": (SM_TWO, (2.777777777777788, 0.09558070454562928, 1)),
}


@pytest.mark.parametrize("name", sorted(SM_REF))
def test_stuart_maxwell_equals_statsmodels(name):
    table, (statistic, p, df) = SM_REF[name]
    got = stuart_maxwell_test(table)
    assert got[0] == pytest.approx(statistic, rel=1e-12)
    assert got[1] == pytest.approx(p, rel=1e-12)
    assert got[2] == df and isinstance(got[2], int)


def test_stuart_maxwell_two_classes_is_uncorrected_mcnemar():
    for b in range(0, 12):
        for c in range(0, 12):
            statistic, p, df = stuart_maxwell_test([[17, b], [c, 9]])
            if b + c == 0:
                assert (statistic, p, df) == (0.0, 1.0, 0)
                continue
            assert statistic == pytest.approx((b - c) ** 2 / (b + c), rel=1e-12, abs=1e-15)
            assert p == pytest.approx(stats.chi2.sf((b - c) ** 2 / (b + c), 1), rel=1e-12)
            assert df == 1


def test_stuart_maxwell_invariances_and_degenerate_tables():
    t = np.array(SM_VISION)
    ref = stuart_maxwell_test(t)
    # the same permutation of rows and columns, and exchanging the two classifiers
    perm = [2, 0, 3, 1]
    assert stuart_maxwell_test(t[np.ix_(perm, perm)]) == pytest.approx(ref, rel=1e-12)
    assert stuart_maxwell_test(t.T) == pytest.approx(ref, rel=1e-12)
    # the pseudo-inverse on separate groups is the sum of the groups' statistics
    s1, _, _ = stuart_maxwell_test([[10, 4], [1, 8]])
    s2, _, _ = stuart_maxwell_test([[6, 3], [7, 5]])
    statistic, p, df = stuart_maxwell_test(SM_SPLIT)
    assert statistic == pytest.approx(s1 + s2, rel=1e-12) and df == 2
    assert p == pytest.approx(special.chdtrc(2, s1 + s2), rel=1e-12)
    # no discordant pair at all
    assert stuart_maxwell_test(np.diag([5, 0, 3])) == (0.0, 1.0, 0)
    assert stuart_maxwell_test([[4]]) == (0.0, 1.0, 0)
    assert stuart_maxwell_test(np.zeros((3, 3))) == (0.0, 1.0, 0)


def test_stuart_maxwell_refuses_bad_tables():
    with pytest.raises(ValueError, match="`table` must be a square K x K table"):
        stuart_maxwell_test([[1, 2, 3], [4, 5, 6]])
    with pytest.raises(ValueError, match="`table` must be a square K x K table"):
        stuart_maxwell_test([1, 2, 3])
    with pytest.raises(ValueError, match="`table` must hold non-negative counts"):
        stuart_maxwell_test([[1, -2], [3, 4]])
