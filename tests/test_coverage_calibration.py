"""Simulated coverage of the calibration intervals and the false-finding rate of a perfectly
calibrated model (slow). K = 5, n = 1000, prevalences 2%, 8%, 20%, 30%, 40% (the rarest class has
~20 samples); population values from 1e6 rows with the true posterior as outcome
(tests/calibration_sims.py). 600 datasets per model: Monte-Carlo sd of a 0.95 coverage 0.009,
so the asserted band 0.925-0.975 is the issue's 0.93-0.97 widened by that noise.

Measured (seed as below, B = 1000):
- over-confident model (temperature 1.6, slopes 0.62): intercept 0.94-0.96, slope 0.93-0.96;
  per-class ECE 0.93 (rarest, ~20 samples), 0.94, 0.95, 0.98, 0.96; classwise ECE 0.97. The ECE's
  replicates were stratified by outcome before: the rarest class was covered 0.89, the next
  0.91, the classwise ECE 0.92-0.93 (independent per-class draws miss the classes' covariance,
  now added from the rows' influence on each class's D). Other designs (same model, 400
  datasets): n = 500 (rarest ~10 samples, marked unstable) rarest 0.925, classwise 0.97-0.98;
  n = 2000: rarest 0.94, classwise 0.96. A common class's ECE interval is a little
  conservative (0.97-0.99 for the class of 30%), as the row bootstrap's own;
- calibrated model: intercept and slope 0.93-0.96, calibration claims in 6% of datasets before
  the materiality rule; the full audit made a calibration finding in 3% of 200 datasets.
"""

from __future__ import annotations

import numpy as np
import pytest
from calibration_sims import Model, Population, coverage, target_coverage

pytestmark = pytest.mark.slow

PRIOR = [0.02, 0.08, 0.2, 0.3, 0.4]
DATASETS = 600
BAND = (0.925, 0.975)


@pytest.fixture(scope="module")
def overconfident():
    m = Model(PRIOR, mu=2.0, temperature=1.6)
    pop = Population(m, n=1_000_000)
    return pop, coverage(m, pop, n=1000, datasets=DATASETS, seed=7, n_resamples=1000)


@pytest.fixture(scope="module")
def calibrated():
    m = Model(PRIOR, mu=2.0, temperature=1.0)
    pop = Population(m, n=1_000_000)
    return pop, coverage(m, pop, n=1000, datasets=DATASETS, seed=8, n_resamples=1000)


def test_population_is_what_it_claims(overconfident, calibrated):
    pop, _ = calibrated
    assert np.allclose(pop.intercept, 0, atol=1e-9) and np.allclose(pop.slope, 1, atol=1e-9)
    pop, _ = overconfident
    assert np.all(pop.slope < 0.7)


@pytest.mark.parametrize("which", ["overconfident", "calibrated"])
def test_intercept_and_slope_cover(which, request):
    _, cov = request.getfixturevalue(which)
    for j in range(len(PRIOR)):
        for what in ("intercept", "slope"):
            assert BAND[0] <= cov[f"{what}[{j}]"] <= BAND[1], (what, j, cov)


def test_classwise_ece_covers(overconfident, calibrated):
    assert BAND[0] <= overconfident[1]["classwise_ece"] <= BAND[1], overconfident[1]
    # calibrated: the population value is 0 (a boundary) and the interval reaches it
    assert calibrated[1]["classwise_ece"] >= BAND[0]


def test_ece_of_every_class_covers(overconfident):
    """Including the rarest class (~20 samples); the upper limit allows the slightly
    conservative interval of a common class (see the module's docstring)."""
    cov = overconfident[1]
    for j in range(len(PRIOR)):
        assert BAND[0] <= cov[f"ece[{j}]"] <= 0.985, (j, cov)


def test_calibrated_model_gives_few_findings(calibrated):
    # at most 5% plus two Monte-Carlo sd
    assert calibrated[1]["any_finding"] <= 0.05 + 2 * np.sqrt(0.05 * 0.95 / DATASETS)


def test_cluster_robust_intervals_cover():
    """Clusters of 5 rows whose signal noise is correlated (rho 0.6); every row's distribution,
    so the population values, as without clusters. Measured (300 datasets, Monte-Carlo sd
    0.013): intercept 0.95-0.99, slope 0.92-0.94 (the cluster-robust score test had given the
    rarest class 0.87), classwise ECE 0.96; a calibrated model: slope 0.92-0.94, a calibration
    claim in 1.3% of datasets."""
    m = Model(PRIOR, mu=2.0, temperature=1.6)
    pop = Population(m, n=1_000_000)
    cov = coverage(m, pop, n=1000, datasets=300, seed=17, n_resamples=500, cluster_size=5, rho=0.6)
    sd = np.sqrt(0.95 * 0.05 / 300)
    for j in range(len(PRIOR)):
        assert 0.95 - 3 * sd <= cov[f"intercept[{j}]"] <= 1.0, (j, cov)
        assert 0.95 - 3 * sd <= cov[f"slope[{j}]"] <= 0.975 + 2 * sd, (j, cov)
    assert 0.95 - 3 * sd <= cov["classwise_ece"], cov


def test_raw_intercept_at_the_target_covers():
    """The probabilities as they are, at a uniform target (the rarest class ten times as
    prevalent): the importance-weighted intercept's interval."""
    m = Model(PRIOR, mu=2.0, temperature=1.6)
    cov = target_coverage(m, [0.2] * 5, n=1000, datasets=400, seed=5)
    for j in range(len(PRIOR)):
        assert BAND[0] - 0.005 <= cov[f"raw_intercept[{j}]"] <= 0.99, (j, cov)
