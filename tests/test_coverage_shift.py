"""Coverage of the metrics projected to a deployment's prevalence, by simulation (slow;
`make test-slow`).

Design (tests/shift_sims.py): K = 5 classes at prevalences 0.50 to 0.04 in N = 500 rows (the
rarest class about 20 true samples), recall 0.60 to 0.90, errors going to the common classes
more; target: every class equally prevalent (the rarest five times as prevalent as observed).
Each dataset is audited as a user would (``prevalens.audit(..., deployment_prevalence=...)``,
B = 1,000), and each 95% interval is checked against the population value at the target.

Measured over 800 datasets (seed 20261207; Monte-Carlo sd 0.008): the rarest class's precision
0.949, F1 0.964, NPV 0.959, specificity 0.943; the next class's precision 0.956; the most
common class's precision 0.966; macro F1 0.966, macro precision 0.941, accuracy 0.966. The
bootstrap's percentile interval of the rarest class's precision had covered only 0.85-0.90 (a
zero cell of another class's row cannot vary in the bootstrap), which is why precision, NPV and
specificity use MOVER-R from mid-p limits (Wilson's limits covered 0.91-0.95 there). About 80 s
of one core; the seed is fixed, so the file is deterministic.

Clustered (tests/shift_sims.py, ``clustered_dataset``): 100 clusters of 5 rows, each cluster's
recall shifted by a normal effect on the logit scale (sd 0.8). The averages and F1 get the
leave-one-cluster-out jackknife with t(Kish - 1); precision, NPV and specificity MOVER-R from
cluster-robust mid-p limits (Korn-Graubard effective trials). Over 600 datasets (seed 20261208,
sd 0.009): macro F1 0.955, macro precision 0.948, accuracy 0.955, the rarest class's F1 0.963,
precision 0.943, specificity 0.940 and NPV 0.977 (conservative), the next class's precision
0.955, the most common class's 0.948. The cluster jackknife alone had covered per-class
precision 0.90-0.93 and specificity 0.89 (it cannot vary a zero cell). About 25 s.
"""

from __future__ import annotations

import numpy as np
import pytest
from shift_sims import CHECKS, clustered_coverage, clustered_dataset, coverage

import prevalens

pytestmark = pytest.mark.slow

N_DATASETS = 800


@pytest.fixture(scope="module")
def measured():
    return coverage(N_DATASETS)


@pytest.mark.parametrize("name", [c[0] for c in CHECKS])
def test_projected_intervals_cover(measured, name):
    assert 0.93 <= measured[name] <= 0.97, (name, measured)


@pytest.fixture(scope="module")
def clustered_measured():
    return clustered_coverage(600)


@pytest.mark.parametrize("name", [c[0] for c in CHECKS])
def test_clustered_projected_intervals_cover(clustered_measured, name):
    assert 0.93 <= clustered_measured[name] <= 0.98, (name, clustered_measured)


def test_clustered_per_class_ratios_use_cluster_robust_mover():
    y, p, cl = clustered_dataset(np.random.default_rng(1))
    s = prevalens.audit(
        y, p, cluster=cl, n_resamples=100, seed=1, deployment_prevalence="uniform"
    ).prevalence_shift
    e = s.per_class[4].metrics["precision"]
    assert e.method.startswith("MOVER-R from cluster-robust mid-p limits")
    assert e.ci_low <= e.estimate <= e.ci_high
