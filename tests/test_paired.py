"""Paired comparison of two models on the same samples: DeLong's covariance of two ROC AUCs and
McNemar's test, against R (tests/reference/paired.R; pROC 1.18 and R's stats; the data are read
from that script, its output is copied below so that the default run does not need R)."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
from scipy import stats
from sklearn.metrics import roc_auc_score

from prevalens.intervals import mcnemar_test
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
