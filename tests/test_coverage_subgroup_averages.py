"""Coverage, false alarms and power of each level's macro averages and their disparities within
subgroups (prevalens.analyses.subgroup_averages), by simulation (slow; `make test-slow`).

Designs (tests/subgroup_average_sims.py, on tests/subgroup_sims.py's): K = 5 classes, one grouping
``site`` of 4 levels of 500, 700, 1000 and 1300 rows. Disparity design: the rare class about 20,
42, 30, 65 true samples in A, B, C, D, and A's recall 15 points lower in every class (macro recall
0.69 against 0.84). Null design: every level alike. Clustered: the disparity design's rows as
patients' (4 rows of one class each, a normal patient effect of sd 1.5 on the logit of the
recall), the patients given as the cluster column. ROC AUC: the null design's classes, column j
of a row of class j shifted by 1.0 in A and 1.5 elsewhere. True values exact from the design: the
population macro F1 is the F1 of each level's (the rest's, the reference's) expected confusion
matrix; the plug-in is a ratio of counts, biased by O(1/n) (measured: ``bias ...``). The
analysis runs as the audit does (its strata; checked below), with subgroup_min_cell 1 (every
class averaged) and B = 400.

Measured (seeds fixed; datasets 400 disparity, 300 null, 250 clustered, 150 ROC AUC; Monte-Carlo
sd at 0.95: 0.011, 0.013, 0.014, 0.018):

=====================  =========  =====  =========
check                  disparity  null   clustered
=====================  =========  =====  =========
A macro.recall         0.938      0.933  0.936
A macro.f1             0.943      0.960  0.944
D macro.f1             0.920      0.933  0.952
A - rest macro.f1      0.943      0.943  0.940
A / rest macro.f1      0.940      0.943  0.960
C - rest macro.f1      0.955      0.947  0.952
A - D macro.f1         0.940      0.947  0.972
A / D macro.f1         0.935      0.947  0.968
A macro.precision      0.922      0.957  0.956
A - rest macro.prec.   0.940      0.930  0.952
A macro.fpr            0.943      0.953  0.940
A - rest macro.fpr     0.935      0.940  0.948
pooled (sd)            0.938      0.944  0.952
                       (0.007)    (0.009) (0.008)
=====================  =========  =====  =========

(the last five rows were added on the same datasets: reading more of each analysis, no run)

ROC AUC (DeLong-logit, MOVER): A macro 0.933, A - rest 0.940, A / rest 0.940, A - D 0.960
(sd 0.018).

Within each level (read from the same analyses, no further dataset; sims.within_true_values):
``gap.recall`` and ``gap.f1`` (macro minus accuracy), ``stratum.<name>.recall`` and ``.f1`` and
``extremes.recall`` and ``.f1`` (the rarest stratum's minus the most common one's), each level.
The analysis's strata are cut at 7% and 15% (sims.STRATA_CUTS): rare {4}, uncommon {3}, common
{0, 1, 2}. At the audit's default 1% and 10% the rare stratum is empty, so there is no
``extremes`` average, and class 3 (11%) falls below 10% in 1.5%, 4.3% and 18.0% of these
datasets (disparity, null, clustered; exactly 3.3%, 2.6%, 18.6%), more than the 2% allowed. The
coverage counts the datasets whose strata are the design's (sims.design_strata): all 400 and 300,
and 249 of the 250 clustered (at most 2% differ: asserted). Measured (Monte-Carlo sd at 0.95:
0.011, 0.013, 0.014):

=======================  ===================  ===================  ===================
check                    disparity A-D        null A-D             clustered A-D
=======================  ===================  ===================  ===================
gap.recall               .945 .940 .950 .922  .917 .923 .950 .937  .932 .952 .940 .936
stratum.rare.recall      .927 .917 .925 .940  .890 .883 .910 .927  .900 .940 .924 .924
stratum.uncommon.recall  .940 .948 .948 .940  .917 .967 .940 .923  .928 .948 .968 .952
stratum.common.recall    .963 .950 .930 .945  .973 .973 .947 .957  .964 .948 .952 .912
extremes.recall          .955 .950 .970 .953  .923 .940 .940 .953  .944 .948 .940 .928
gap.f1                   .907 .922 .938 .943  .920 .907 .907 .890  .944 .964 .948 .988
stratum.rare.f1          .943 .948 .948 .938  .927 .930 .913 .963  .968 .968 .948 .972
stratum.uncommon.f1      .950 .945 .950 .920  .930 .960 .937 .923  .960 .952 .960 .952
stratum.common.f1        .948 .965 .932 .945  .960 .950 .947 .953  .960 .952 .956 .924
extremes.f1              .932 .943 .955 .955  .930 .923 .920 .950  .972 .984 .952 .972
pooled (sd)              0.942 (0.003)        0.933 (0.004)        0.949 (0.003)
=======================  ===================  ===================  ===================

Each within the band of its run (widened by 2 Monte-Carlo sd over the matched datasets), except
three, clearly below 0.93 on more datasets (KNOWN_LOW: their band test is an expected failure,
strict; the combined figures below add 900 null datasets of seed 20261231 and 750 clustered of
seed 20261232 to this file's):

* A stratum of one class from few rows (``stratum.rare.recall``: class 4 alone, about 20, 28, 40
  and 52 rows in the null's A-D at recall 0.85): 0.899, 0.897, 0.915, 0.921 over 1200 null
  datasets. Two causes. When every row of the class is right (E[0.85^n]: 4.9% of A's datasets,
  1.5% of B's; here 6.7% and 3.0%) the replicates do not vary and the average has no interval
  (status ``no_interval``, a miss; the cell's own recall has its Wilson interval); A covers 0.954
  of the datasets with an interval. Otherwise the BCa of a binomial proportion from 20-50 rows
  covers about 0.92 (B 0.91 with an interval). In the disparity design (A's recall 0.70) 0.917 to
  0.940; no interval in 1.0% (A) and 1.5% (C) of its datasets.
* ``gap.f1`` (macro F1 minus accuracy): 0.929, 0.921, 0.908, 0.919 over 1200 null datasets, the
  disparity's 0.907-0.943; clustered (jackknife) 0.944-0.988. The bootstrap holds each class's
  support in the level fixed, while the gap moves with the supports (the accuracy is the
  support-weighted recall, F1's precision depends on the other classes' supports) more than with
  the rest, which the macro F1 and the accuracy share: its sd with the supports fixed is 0.90,
  0.90, 0.91, 0.91 (null A-D) and 0.87, 0.89, 0.91, 0.92 (disparity) of its sd with them drawn
  (20,000 draws), which predicts 0.921, 0.924, 0.927, 0.924 and 0.911, 0.919, 0.924, 0.928.
  ``gap.recall`` (ratios 0.96-0.98, predicting 0.940-0.945) measures 0.917-0.950.
* Clustered (the leave-one-cluster-out jackknife), the rare class in few patients (A about 5,
  C 7.5, B 10.5, D 16): a stratum's average takes t's degrees of freedom from the clusters
  holding its classes' samples in the level (an extremes average the fewer of its two strata's).
  With the level's Kish - 1 (about 124) instead, A's ``stratum.rare.recall``, ``extremes.recall``
  and ``stratum.rare.f1`` covered 0.831, 0.839 and 0.896 on this seed (0.832, 0.851, 0.918 over
  999 datasets); now 0.900, 0.944 and 0.968. A has no rare row in 2 of the 249 datasets (no
  estimate, a miss).

Each coverage must be consistent with a true coverage in the target 0.93-0.97: within the target
widened by 2 Monte-Carlo sd at its ends (0.905-0.987 at 400 datasets, 0.900-0.990 at 300,
0.898-0.992 at 250, 0.888-0.998 at 150); each run's pooled coverage (each dataset's share of
checks covered, averaged; its sd from the datasets) within 0.93-0.97 widened by 2 of its sd.

The F1 intervals cover about 0.94, a point below 0.95: over 2000 other disparity datasets
(seed 777) 0.936 (A macro.f1), 0.940 (D), 0.941 (A - rest), 0.940 (A / rest), 0.935 (C - rest),
0.941 (A - D), sd 0.005; A macro.recall 0.954. The bootstrap is stratified by (level, class), so
it holds each class's support fixed, while F1 (through precision) varies with the supports too:
the sd of the macro F1 with the supports fixed is 0.968 (A) and 0.980 (D) of the sd with them
drawn (20,000 draws), which predicts 0.942 and 0.945. The plug-in bias is small here (-0.001 to
-0.002, about 0.1 sd). D macro.f1's 0.920 on this seed is Monte-Carlo error around that: on the
same datasets with B = 2000, 0.942 (600 datasets).

B = 400 is enough: on 300 disparity datasets analysed at B = 400 and at B = 4000, the limits
differ by a sd of 0.07-0.10 of the half-width (about 0.15 of the estimate's sd), and the coverage
differs in 1-5 datasets of the 300 per check, in both directions (net -0.007 to +0.010, B = 400
the higher as often as the lower): small beside the band. (D macro.f1 on this file's seed is the
largest such difference seen: 23 of 600 datasets discordant between B = 400 and B = 2000, 18 of
them covered at B = 2000 only.)

Clustered: the jackknife with t(Kish - 1) covers (0.936-0.972), though A's rare class lies in
about 5 patients. The plug-in macro F1 is biased there, A's by -0.0115 (sd 0.0024; -0.0098 by
0.0005 over 6000 datasets of point estimates): its rare class's F1 with few patients; about a
quarter of its sd, so it costs little coverage.

False alarms (null design, 300 datasets): the share of datasets with a significant macro claim
against the rest (``d.adjusted.significant``) is between 0.017 (the macro claims with 82 claims
of p = 1: the audit's family is 90) and 0.063 (the macro claims alone), sd 0.014; the audit's is
in between. The bound is 0.05 + 2 sd of 0.05 at 300 datasets (0.075) on the upper end. Over
1200 further null datasets the upper end is 0.049 and the lower 0.004: the macro claims alone
reach the level, as A's macro F1 claim (normal with the bootstrap sd) has z-scores of sd 1.07
(support variation again). Power: the 15-point drop in A is found in 0.995 to 1.000 of the
disparity datasets; with the patients (clustered design), in 0.320 to 0.404.

About 90 s of one core (``pytest -m slow -n 2`` on this file: 93 s measured): each analysis
~0.1 s at B = 400, little of it the replicates (the BCa of ~60 averages and disparities); the
per-class claims' p-values are skipped. The figures are computed once per session (a file
shared by the xdist workers): two workers building them at once took 192 s. The within-level
checks add about 0.2 s (the strata of each dataset and reading its averages): on the slower,
shared machine where they were added the file took 216 s before and 188 s after (its noise).
"""

from __future__ import annotations

import fcntl
import json
import math
import os
import warnings

import numpy as np
import pytest
import subgroup_average_sims as sims
import subgroup_sims

import prevalens

pytestmark = pytest.mark.slow

NAMES = [c[0] for c in sims.CHECKS]
AUC_NAMES = [c[0] for c in sims.AUC_CHECKS]
#: each level's gap, strata and extremes averages (the design's strata: rare, uncommon, common)
WITHIN_NAMES = sims.within_names()
WITHIN_RUNS = ("disparity", "null", "clustered")

_FIXED_SUPPORTS = (
    "the bootstrap holds each class's support in the level fixed, while macro F1 minus accuracy "
    "moves with them: its sd with the supports fixed is 0.87-0.92 of the sd with them drawn, "
    "which predicts 0.91-0.93"
)
_ONE_CLASS = (
    "a stratum of one class (4) of about {rows} rows at recall 0.85: when every one is right "
    "({all_right} of the datasets) the replicates do not vary and there is no interval, a miss; "
    "otherwise the BCa of a small binomial proportion"
)
#: the within-level checks whose coverage on this file's seeds is clearly below the target (the
#: module's docstring has the figures on more datasets): the band is asserted and expected to fail
#: (strict: should it pass, the intervals changed, and this list and the docstring must follow)
KNOWN_LOW = {
    ("null", "A stratum.rare.recall"): _ONE_CLASS.format(rows=20, all_right="4.9%"),
    ("null", "B stratum.rare.recall"): _ONE_CLASS.format(rows=28, all_right="1.5%"),
    ("null", "D gap.f1"): _FIXED_SUPPORTS,
}


@pytest.fixture(scope="module")
def measured(tmp_path_factory):
    """Every run of sims.RUNS, once for the session: under pytest-xdist the first worker to need
    them computes them and the others read its file (two runs at once take as long as one after
    the other on the 2-core CI machine)."""
    if os.environ.get("PYTEST_XDIST_WORKER") is None:
        return {name: sims.run(name) for name in sims.RUNS}
    path = tmp_path_factory.getbasetemp().parent / "subgroup_average_sims.json"
    with open(str(path) + ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            if path.is_file():
                return json.loads(path.read_text())
            out = {name: sims.run(name) for name in sims.RUNS}
            path.write_text(json.dumps(out))
            return out
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def band(run: str, n: int | None = None) -> tuple[float, float]:
    """The coverages consistent with a true coverage in the target 0.93-0.97 under ``run`` (over
    ``n`` of its datasets, default all): the target widened by 2 Monte-Carlo sd at its ends."""
    return 0.93 - 2 * sims.mc_sd(run, 0.93, n), 0.97 + 2 * sims.mc_sd(run, 0.97, n)


@pytest.mark.parametrize("run", ["disparity", "null"])
@pytest.mark.parametrize("name", NAMES)
def test_macro_intervals_cover(measured, run, name):
    lo, hi = band(run)
    assert lo <= measured[run][f"coverage {name}"] <= hi, (run, name, measured[run])


@pytest.mark.parametrize(
    ("run", "pooled"),
    [(run, "coverage pooled") for run in ("disparity", "null", "clustered", "roc_auc")]
    + [(run, "coverage pooled within") for run in WITHIN_RUNS],
)
def test_pooled_coverage(measured, run, pooled):
    """Each dataset's share of checks covered, averaged (``within``: each matched dataset's
    share of the within-level checks): the sd is the mean's over datasets."""
    m = measured[run]
    sd = m[f"{pooled} sd"]
    assert 0.93 - 2 * sd <= m[pooled] <= 0.97 + 2 * sd, m


@pytest.mark.parametrize("name", NAMES)
def test_clustered_macro_intervals_cover(measured, name):
    lo, hi = band("clustered")
    c = measured["clustered"][f"coverage {name}"]
    assert lo <= c <= hi, (name, measured["clustered"])


@pytest.mark.parametrize("name", AUC_NAMES)
def test_macro_roc_auc_intervals_cover(measured, name):
    lo, hi = band("roc_auc")
    c = measured["roc_auc"][f"coverage {name}"]
    assert lo <= c <= hi, (name, measured["roc_auc"])


def test_estimates_are_nearly_unbiased(measured):
    """The plug-in macro F1 is biased by O(1/n) (a ratio of counts): small beside its sd (the
    averages within the levels too)."""
    for run in ("disparity", "null"):
        m = measured[run]
        for name in NAMES + WITHIN_NAMES:
            assert abs(m[f"bias {name}"]) <= 4 * m[f"bias sd {name}"] + 0.005, (run, name, m)


def _within_params():
    for run in WITHIN_RUNS:
        for name in WITHIN_NAMES:
            reason = KNOWN_LOW.get((run, name))
            marks = () if reason is None else pytest.mark.xfail(strict=True, reason=reason)
            yield pytest.param(run, name, marks=marks, id=f"{name}-{run}")


@pytest.mark.parametrize(("run", "name"), list(_within_params()))
def test_within_level_averages_cover(measured, run, name):
    """Each level's gap, strata and extremes averages, over the datasets whose strata are the
    design's (``strata matched``; the band from their number); KNOWN_LOW's are expected to fall
    below it."""
    m = measured[run]
    lo, hi = band(run, m["strata matched"])
    c = m[f"coverage {name}"]
    assert lo <= c <= hi, (run, name, c, m["strata matched"], m[f"no interval {name}"])


@pytest.mark.parametrize("run", WITHIN_RUNS)
def test_strata_are_the_designs(measured, run):
    """The audit's strata come from the observed supports: a dataset's may differ from the
    design's; in at most 2% of them (the within-level checks skip those)."""
    assert sims.within_names("null") == WITHIN_NAMES  # both designs' strata alike
    assert measured[run]["strata differ"] <= 0.02, measured[run]


def test_false_alarms(measured):
    m = measured["null"]
    n = sims.RUNS["null"][1]
    # the audit's rate is at most the macro claims' own Holm family's
    assert m["significant any at most"] <= 0.05 + 2 * math.sqrt(0.05 * 0.95 / n), m
    assert m["significant any at least"] <= m["significant any at most"]


def test_power(measured):
    # at least (the audit's family size, every other claim at p = 1)
    assert measured["disparity"]["significant A at least"] >= 0.9, measured["disparity"]
    assert measured["clustered"]["significant A at least"] >= 0.15, measured["clustered"]


def _averages(g):
    rows = [(lv.level, sorted(lv.averages.items())) for lv in g.levels]
    rows += [
        (d.level, d.against, d.metric, d.difference, d.ratio, d.p_value)
        for d in g.disparities
        if d.metric.startswith("macro.")
    ]
    return repr(rows)


def test_simulated_analysis_is_the_audits():
    """The simulation's analysis (the audit's strata, the per-class p-values skipped) gives the
    audit's averages and macro disparities, and the audit's significant macro claims are between
    the two brackets."""
    prev, q = sims.disparity_design()
    rng = np.random.default_rng(5)
    for i in range(2):
        y, pred, site = subgroup_sims.dataset(rng, prev, q)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            r = prevalens.audit(
                y,
                pred,
                groups={"site": site},
                seed=i,
                n_resamples=sims.B,
                subgroup_min_cell=1,
                strata_cuts=sims.STRATA_CUTS,
            )
        p = subgroup_sims.predictions(y, pred, site)
        claims: list = []
        sub = sims.analyse(p, sims.config(seed=i), claims)
        assert _averages(sub.groupings[0]) == _averages(r.subgroups.groupings[0])
        # every within-level check is among the audit's averages
        assert None not in sims.within_estimates(r.subgroups.groupings[0], WITHIN_NAMES).values()
        audited = {
            d.level
            for d in r.subgroups.groupings[0].disparities
            if d.metric.startswith("macro.")
            and d.against == "rest"
            and d.adjusted is not None
            and d.adjusted.significant
        }
        most = sims.macro_significance(sub, claims, 0)
        least = sims.macro_significance(
            sub, claims, r.family.size - sum(c.testable for c in claims)
        )
        assert least <= audited <= most
        assert "A" in audited  # the 15-point drop is found
