"""Coverage, false alarms and power of the subgroup analysis, by simulation (slow; `make
test-slow`).

Design (tests/subgroup_sims.py): K = 5 classes, one grouping ``site`` of 4 levels of 500, 700,
1000 and 1300 rows; the rare class (4) about 20 true samples in A. Null design: every level
alike (prevalences 0.40 to 0.04, the rare class's recall 0.85). Alternative: the rare class 4%,
6%, 3%, 5% of the levels and its recall 0.60, 0.80, 0.85, 0.90; class 3's recall 0.55 in A, 0.80
elsewhere. True values exact from the design ("the rest" of a level: the support-weighted recall
of the other levels, e.g. 0.858 beside A in the alternative). Each 95% interval of the rare
class's recall is checked: A's and C's own (Wilson), A and C against the rest and A against the
reference D (MOVER difference and MOVER-R ratio of the Wilson limits), and the largest gap across
the four levels (Bonferroni-simultaneous over the 6 pairs).

Measured (1000 datasets per design, seeds 20261210 and 20261211; Monte-Carlo sd 0.007 at 0.95):

=================  =====  ===========
check              null   alternative
=================  =====  ===========
A recall           0.948  0.955
C recall           0.954  0.939
A - rest           0.942  0.949
A / rest           0.942  0.948
C - rest           0.952  0.943
C / rest           0.952  0.942
A - D              0.943  0.948
A / D              0.943  0.950
largest gap        0.962  0.996
=================  =====  ===========

The largest gap's interval is simultaneous, so conservative, as expected (in the null design it
covers the true 0 whenever no pair differs at the Bonferroni level; in the alternative its upper
limit is the largest pairwise upper limit at alpha / 6). In the null design the difference and
the ratio covered in the same datasets.

False alarms: over the first 300 null datasets, 0.013 had a ``subgroup_disparity`` finding that
names a level (sd 0.007; the bound is 0.05 + 2 sd of 0.05 at 300 datasets, 0.075; the finding
that says no level differs is not an alarm). Power: over the first 200 alternative datasets, the
findings named A's recall of the rare class (0.60 against 0.86 in the rest, about 20 samples
against 137) in 0.170 of them (sd 0.027), and A's recall of class 3 (0.55 against 0.80, about 55
samples against 330) in 0.645 (sd 0.034): a 25-point gap in a class of 20 samples is found about
one time in six. The claims test with MOVER over Clopper-Pearson limits (since 354c10a); with
the Wilson limits they had used before, the same datasets gave 0.033 false alarms and power
0.325 and 0.755. The family holds the subgroup claims only (64); an audit's also holds its other
claims (80 in all here), so the audit's rates are at most these (Holm on a superset of claims
rejects a subset: checked on three datasets below).

Clustered (600 datasets, seed 20261212): patients of 4 rows of one class nested in the levels,
a patient's rows right or wrong together (normal effect of sd 1.5 on the logit of recall; the
rare class in about 5 patients of A, 10 of C, 13 of D). Coverage of the rare class's recall:

=====================  ==============  ====================
check                  cluster-robust  Wilson (no clusters)
=====================  ==============  ====================
A (~20 rows)           0.945           0.878
C (~40 rows)           0.958           0.870
D (~52 rows)           0.960           0.863
A - rest               0.943           0.853
A / rest               0.943           0.853
C - rest               0.972           0.875
A - D                  0.950           0.845
A - rest, accuracy     0.938           0.835
=====================  ==============  ====================

(the disparities: MOVER and MOVER-R over each side's cluster-robust limits; true values 0 and 1,
every level's rows having the same expected recall in the null design)

(sd 0.008-0.014). A's cluster-robust interval is missing in 0.040 of the datasets (the rare
class's rows in fewer than two patients; counted as misses), so where it exists it covers 0.985:
conservative with about 5 clusters (t with Kish - 1 degrees of freedom).

About 2 minutes of one core in all (130 s measured): the coverage runs skip the claims'
p-values (most of the analysis's time; they enter no interval, checked below), the finding runs
do not. The seeds are fixed, so the file is deterministic.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import subgroup_sims as sims

import prevalens
from prevalens import intervals
from prevalens.analyses import subgroups

pytestmark = pytest.mark.slow

NAMES = [c[0] for c in sims.CHECKS]


@pytest.fixture(scope="module")
def measured():
    return {design: sims.run(design) for design in ("null", "alternative")}


@pytest.fixture(scope="module")
def clustered():
    return sims.run("clustered")


@pytest.mark.parametrize("design", ["null", "alternative"])
@pytest.mark.parametrize("name", [n for n in NAMES if n != "largest gap"])
def test_recall_and_disparity_intervals_cover(measured, design, name):
    # 0.95 +- 2.9 Monte-Carlo sd (0.0069 at 1000 datasets)
    c = measured[design][f"coverage {name}"]
    assert 0.93 <= c <= 0.97, (design, name, measured[design])


@pytest.mark.parametrize("design", ["null", "alternative"])
def test_largest_gap_interval_covers(measured, design):
    # simultaneous over the 6 pairs: at least 0.95 up to Monte-Carlo error
    c = measured[design]["coverage largest gap"]
    assert c >= 0.93, (design, measured[design])


def test_false_alarms(measured):
    n = sims.RUNS["null"][1][2]
    rate = measured["null"]["any finding"]
    assert rate <= 0.05 + 2 * math.sqrt(0.05 * 0.95 / n), measured["null"]


def test_power(measured):
    m = measured["alternative"]
    # measured 0.170 (sd 0.027) and 0.645 (sd 0.034): floors 3 and 4 sd below, and well above
    # the false-alarm rate (0.013)
    assert m[f"names A class {sims.RARE} recall"] >= 0.08, m
    assert m["names A class 3 recall"] >= 0.5, m


@pytest.mark.parametrize("name", [c[0] for c in sims.CLUSTERED_CHECKS])
def test_clustered_recall_covers_with_clusters_not_without(clustered, name):
    # cluster-robust: 0.95 up to 2.2 sd (0.0089 at 600 datasets), conservative allowed up to 0.98
    # (few clusters); Wilson ignoring the patients: well below (0.86-0.88 measured, sd 0.014)
    assert 0.93 <= clustered[f"coverage cluster-robust {name}"] <= 0.98, clustered
    assert clustered[f"coverage Wilson {name}"] <= 0.91, clustered


@pytest.mark.parametrize("name", [c[0] for c in sims.CLUSTERED_DISPARITIES])
def test_clustered_disparities_cover_with_clusters_not_without(clustered, name):
    # the differences and ratios of the cluster-robust limits (MOVER), on the same datasets:
    # 0.95 up to 2.2 sd, conservative allowed to 0.98; MOVER over Wilson limits that ignore
    # the patients: well below (0.85-0.89 measured)
    assert 0.93 <= clustered[f"coverage cluster-robust {name}"] <= 0.98, clustered
    assert clustered[f"coverage Wilson {name}"] <= 0.92, clustered


def _all_intervals(g):
    rows = [(lv.level, lv.accuracy) for lv in g.levels]
    rows += [
        (lv.level, c.label, m, getattr(c, m))
        for lv in g.levels
        for c in lv.cells
        for m in ("recall", "fpr", "precision")
    ]
    # the proportions' rows (the audit adds the averages within levels, which need its strata)
    props = ("accuracy",) + sims.S.METRICS
    rows += [
        (d.level, d.against, d.metric, d.label, d.difference, d.ratio)
        for d in g.disparities
        if d.metric in props
    ]
    rows += [(m.metric, m.label, m.gap) for m in g.max_gaps if m.metric in props]
    return repr(rows)  # NaN (a suppressed or missing value) equal to NaN


def test_coverage_runs_compute_the_same_intervals():
    """The coverage runs skip the p-values: every interval is the same as the analysis's."""
    prev, q = sims.alternative_design()
    p = sims.predictions(*sims.dataset(np.random.default_rng(3), prev, q))
    full, _ = sims.analyse(p, subgroup_min_cell=1)
    with sims.without_pvalues():
        fast, _ = sims.analyse(p, subgroup_min_cell=1)
    assert subgroups.interval_pvalue is intervals.interval_pvalue  # restored
    assert _all_intervals(fast) == _all_intervals(full)
    assert any(math.isfinite(d.p_value) for d in full.disparities)


def test_audit_has_the_same_intervals_and_fewer_findings():
    """The audit (B = 100) has the analysis's intervals, and its subgroup findings are among
    those of the subgroup claims adjusted alone (the simulation's family)."""
    prev, q = sims.alternative_design()
    rng = np.random.default_rng(4)
    seen = set()
    for _ in range(3):
        p = sims.predictions(*sims.dataset(rng, prev, q))
        r = prevalens.audit_predictions(p, n_resamples=100, seed=1)
        g, _ = sims.analyse(p)
        assert _all_intervals(r.subgroups.groupings[0]) == _all_intervals(g)
        # the audit's family also holds the averages' claims: Holm over a superset rejects a
        # subset of the proportions' claims, so its findings on them are among those alone
        audited = {
            f.id
            for f in r.findings
            if f.kind == "subgroup_disparity"
            and f.evidence["level"] is not None
            and any(not row["metric"].startswith("macro.") for row in f.evidence["rows"])
        }
        found, named = sims.findings(p)
        alone = {f.id for f in found}
        for f in found:  # the rows a finding prints are among the claims it names
            for row in f.evidence["rows"]:
                assert (f.evidence["level"], row["metric"], row["label"]) in named
        assert audited <= alone
        seen |= alone
    assert seen  # there were findings to compare
