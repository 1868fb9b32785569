"""Averages within subgroups (prevalens.analyses.subgroup_averages): each level's macro
averages, gap, strata and ROC AUC against fairlearn's MetricFrame and scikit-learn on the level's
rows; the differences against the rest and the reference; the cluster jackknife against a
brute-force leave-one-cluster-out over the rows; the bootstrap's spread against a direct row
bootstrap within the level; the claims in the family; point-only audits."""

from __future__ import annotations

import math

import numpy as np
import pytest
from fairlearn.metrics import MetricFrame
from scipy import stats
from sklearn import metrics as skm

import prevalens
from prevalens.io import predictions_from_arrays

K = 6
SITES = np.array(["north", "south", "west", "east"])


def data(seed=0, n=5000, scores=True):
    """Six classes (2% the rarest), four sites; the model is worse at the smallest site."""
    rng = np.random.default_rng(seed)
    y = rng.choice(K, n, p=[0.4, 0.25, 0.15, 0.1, 0.08, 0.02])
    site = rng.choice(4, n, p=[0.45, 0.3, 0.15, 0.1])
    acc = np.where(site == 3, 0.6, 0.85)
    pred = np.where(rng.random(n) < acc, y, rng.integers(0, K, n))
    s = rng.dirichlet(np.ones(K), n)
    s[np.arange(n), y] += np.where(site == 3, 0.15, 0.5)
    s /= s.sum(1, keepdims=True)
    return y, pred, SITES[site], (s if scores else None)


def audited(y, pred, site, scores=None, cluster=None, **options):
    p = predictions_from_arrays(
        y, pred, y_score=scores, labels=list(range(K)), groups={"site": site}, cluster=cluster
    )
    options.setdefault("n_resamples", 300)
    options.setdefault("seed", 1)
    return prevalens.audit_predictions(p, **options)


@pytest.fixture(scope="module")
def case():
    y, pred, site, s = data()
    return y, pred, site, s, audited(y, pred, site, s)


def shown(yt, yp, min_cell=10, precision=False):
    """The classes a level shows (at least ``min_cell`` true samples; for precision also
    predicted ones): what its averages are over."""
    sup = np.bincount(yt, minlength=K)
    ok = sup >= min_cell
    if precision:
        ok &= np.bincount(yp, minlength=K) >= min_cell
    return np.flatnonzero(ok)


def macro_fpr(yt, yp, labels):
    mcm = skm.multilabel_confusion_matrix(yt, yp, labels=list(range(K)))
    fp, tn = mcm[:, 0, 1], mcm[:, 0, 0]
    return float(np.mean((fp / (fp + tn))[labels]))


def sk_macro(metric, yt, yp, labels):
    if metric == "fpr":
        return macro_fpr(yt, yp, labels)
    fn = {"recall": skm.recall_score, "precision": skm.precision_score, "f1": skm.f1_score}
    return float(fn[metric](yt, yp, labels=labels, average="macro", zero_division=np.nan))


def sk_macro_auc(yt, s, labels):
    return float(np.mean([skm.roc_auc_score(yt == j, s[:, j]) for j in labels]))


def test_level_averages_equal_fairlearn_and_scikit_learn(case):
    y, pred, site, s, r = case
    g = r.subgroups.groupings[0]
    strata = {d.name: d for d in r.strata}  # StratumResult: name, classes
    by_level = {}
    for lv in g.levels:
        rows = site == lv.level
        yt, yp = y[rows], pred[rows]
        labels = shown(yt, yp)
        by_level[lv.level] = labels
        for metric in ("recall", "fpr", "f1"):
            assert lv.averages[f"macro.{metric}"].estimate == pytest.approx(
                sk_macro(metric, yt, yp, labels), abs=1e-12
            )
        assert lv.averages["macro.precision"].estimate == pytest.approx(
            sk_macro("precision", yt, yp, shown(yt, yp, precision=True)), abs=1e-12
        )
        acc = skm.accuracy_score(yt, yp)
        assert lv.averages["weighted.f1"].estimate == pytest.approx(
            skm.f1_score(yt, yp, labels=labels, average="weighted"), abs=1e-12
        )
        assert lv.averages["overall.cohen_kappa"].estimate == pytest.approx(
            skm.cohen_kappa_score(yt, yp), abs=1e-12
        )
        assert lv.averages["overall.mcc"].estimate == pytest.approx(
            skm.matthews_corrcoef(yt, yp), abs=1e-12
        )
        assert lv.averages["gap.recall"].estimate == pytest.approx(
            sk_macro("recall", yt, yp, labels) - acc, abs=1e-12
        )
        assert lv.averages["gap.f1"].estimate == pytest.approx(
            sk_macro("f1", yt, yp, labels) - acc, abs=1e-12
        )
        for name, d in strata.items():
            in_stratum = [j for j in labels if j in set(d.classes)]
            key = f"stratum.{name}.recall"
            if in_stratum:
                assert lv.averages[key].estimate == pytest.approx(
                    sk_macro("recall", yt, yp, in_stratum), abs=1e-12
                )
        assert lv.averages["macro.roc_auc"].estimate == pytest.approx(
            sk_macro_auc(yt, s[rows], labels), abs=1e-12
        )
        for j, cell in enumerate(lv.cells):
            if j in labels:
                assert cell.roc_auc.estimate == pytest.approx(
                    skm.roc_auc_score(yt == j, s[rows, j]), abs=1e-12
                )
            else:
                assert cell.roc_auc is None
    # the same per-level values as fairlearn's MetricFrame, with the classes each level shows
    frame = MetricFrame(
        metrics={
            m: (lambda yt, yp, m=m: sk_macro(m, np.asarray(yt), np.asarray(yp), shown(yt, yp)))
            for m in ("recall", "f1")
        },
        y_true=y,
        y_pred=pred,
        sensitive_features=site,
    )
    for lv in g.levels:
        for m in ("recall", "f1"):
            assert lv.averages[f"macro.{m}"].estimate == pytest.approx(
                frame.by_group.loc[lv.level, m], abs=1e-12
            )


def test_differences_against_the_rest_and_the_reference(case):
    y, pred, site, s, r = case
    g = r.subgroups.groupings[0]
    disp = {(d.level, d.against, d.metric): d for d in g.disparities if d.label is None}
    ref = g.reference
    assert ref == "north"  # the largest level
    for lv in g.levels:
        rows = site == lv.level
        labels = shown(y[rows], pred[rows])
        plabels = shown(y[rows], pred[rows], precision=True)
        for metric in ("recall", "fpr", "precision", "f1"):
            lab = plabels if metric == "precision" else labels
            a = sk_macro(metric, y[rows], pred[rows], lab)
            b = sk_macro(metric, y[~rows], pred[~rows], lab)
            d = disp[(lv.level, "rest", f"macro.{metric}")]
            assert d.difference.estimate == pytest.approx(a - b, abs=1e-12)
            assert d.ratio.estimate == pytest.approx(a / b, abs=1e-12)
            assert d.difference.ci_low <= d.difference.estimate <= d.difference.ci_high
            if lv.level != ref:
                rr = site == ref
                both = np.intersect1d(lab, shown(y[rr], pred[rr], precision=metric == "precision"))
                d = disp[(lv.level, ref, f"macro.{metric}")]
                assert d.difference.estimate == pytest.approx(
                    sk_macro(metric, y[rows], pred[rows], both)
                    - sk_macro(metric, y[rr], pred[rr], both),
                    abs=1e-12,
                )
        d = disp[(lv.level, "rest", "macro.roc_auc")]
        assert d.difference.estimate == pytest.approx(
            sk_macro_auc(y[rows], s[rows], labels) - sk_macro_auc(y[~rows], s[~rows], labels),
            abs=1e-12,
        )
    # the worse site's macro F1 is claimed lower than the rest's; the p-value and interval agree
    east = disp[("east", "rest", "macro.f1")]
    assert east.claim is not None and east.adjusted is not None and east.adjusted.significant
    assert east.difference.ci_high < 0 and east.p_value < 0.05


def test_bootstrap_spread_matches_a_row_bootstrap_within_the_level(case):
    """The level's draws are the rows of each class within the level drawn with replacement:
    the replicates' standard deviation of macro F1 agrees with a direct row bootstrap of the
    level's rows stratified by class (B = 2000: the SDs' Monte-Carlo error is about 2%)."""
    y, pred, site, s, r = case
    g = r.subgroups.groupings[0]
    rng = np.random.default_rng(7)
    for name in ("east", "north"):
        lv = next(v for v in g.levels if v.level == name)
        rows = np.flatnonzero(site == name)
        labels = shown(y[rows], pred[rows])
        by_class = [rows[y[rows] == j] for j in range(K)]
        vals = []
        for _ in range(2000):
            take = np.concatenate([rng.choice(ix, ix.size) for ix in by_class if ix.size])
            yt, yp = y[take], pred[take]
            tp = np.bincount(yt[yt == yp], minlength=K)[labels]
            sup = np.bincount(yt, minlength=K)[labels]
            npred = np.bincount(yp, minlength=K)[labels]
            vals.append(np.mean(2 * tp / (sup + npred)))  # F1 of each shown class
        e = lv.averages["macro.f1"]
        # the audit's run has B = 300: its SD's own MC error is about 4%
        assert e.se == pytest.approx(np.std(vals, ddof=1), rel=0.15)


def test_cluster_jackknife_equals_leave_one_cluster_out_over_the_rows():
    y, pred, site, _ = data(seed=3, n=2400, scores=False)
    rng = np.random.default_rng(4)
    # patients nested in sites, 4 rows each on average
    patient = np.empty(y.size, dtype=np.int64)
    next_id = 0
    for lv in SITES:
        ix = np.flatnonzero(site == lv)
        n_p = max(ix.size // 4, 2)
        patient[ix] = next_id + rng.integers(0, n_p, ix.size)
        next_id += n_p
    _, patient = np.unique(patient, return_inverse=True)
    r = audited(y, pred, site, cluster=patient)
    g = r.subgroups.groupings[0]
    lv = next(v for v in g.levels if v.level == "east")
    d = next(
        d
        for d in g.disparities
        if d.level == "east" and d.against == "rest" and d.metric == "macro.f1"
    )
    rows = site == "east"
    labels = shown(y[rows], pred[rows])

    def f1(mask):
        return sk_macro("f1", y[mask], pred[mask], labels)

    level_vals, diff_vals = [], []
    for c in np.unique(patient):
        keep = patient != c
        if (patient[rows] == c).any():
            level_vals.append(f1(rows & keep))
        diff_vals.append(f1(rows & keep) - f1(~rows & keep))

    def jk_se(v):
        v = np.asarray(v)
        return math.sqrt((v.size - 1) / v.size * np.sum((v - v.mean()) ** 2))

    e = lv.averages["macro.f1"]
    assert e.se == pytest.approx(jk_se(level_vals), rel=1e-9)
    sizes = np.bincount(patient[rows])
    sizes = sizes[sizes > 0]
    kish = sizes.sum() ** 2 / np.sum(sizes.astype(float) ** 2)
    q = stats.t.ppf(0.975, max(kish - 1, 1))
    assert e.ci_high - e.ci_low == pytest.approx(2 * q * jk_se(level_vals), rel=1e-9)
    assert d.difference.se == pytest.approx(jk_se(diff_vals), rel=1e-9)
    # a stratum's average rests on the patients holding its classes' samples in the level: t's
    # degrees of freedom are theirs (Kish - 1), not the level's
    checked = 0
    for stratum in r.strata:
        held = rows & np.isin(y, [int(c) for c in stratum.classes]) & np.isin(y, labels)
        e_s = lv.averages.get(f"stratum.{stratum.name}.recall")
        if e_s is None or not (math.isfinite(e_s.ci_low) and e_s.se > 0):
            continue
        sizes = np.bincount(patient[held])
        sizes = sizes[sizes > 0].astype(float)
        df = max(sizes.sum() ** 2 / np.sum(sizes**2) - 1, 1)
        assert (e_s.ci_high - e_s.ci_low) / (2 * e_s.se) == pytest.approx(
            stats.t.ppf(0.975, df), rel=1e-9
        ), stratum.name
        checked += 1
    assert checked >= 2


def test_point_only_audit_has_averages_without_intervals_or_claims():
    y, pred, site, _ = data(seed=2, n=1500, scores=False)
    r = audited(y, pred, site, n_resamples=0)
    g = r.subgroups.groupings[0]
    for lv in g.levels:
        e = lv.averages["macro.f1"]
        assert math.isfinite(e.estimate) and math.isnan(e.ci_low) and e.status == "no_interval"
    assert all(d.claim is None for d in g.disparities if d.metric.startswith("macro."))


def test_suppressed_classes_are_left_out_of_the_averages():
    y, pred, site, _ = data(seed=5, n=3000, scores=False)
    r = audited(y, pred, site, subgroup_min_cell=40)
    g = r.subgroups.groupings[0]
    for lv in g.levels:
        if lv.suppressed:
            assert not lv.averages
            continue
        rows = site == lv.level
        labels = shown(y[rows], pred[rows], min_cell=40)
        assert len(labels) < K  # the rarest class is suppressed in every level here
        assert lv.averages["macro.recall"].estimate == pytest.approx(
            sk_macro("recall", y[rows], pred[rows], labels), abs=1e-12
        )


@pytest.mark.parametrize("seed", [0, 1])
def test_same_seed_same_averages(seed):
    y, pred, site, _ = data(seed=seed, n=1200, scores=False)
    a = audited(y, pred, site, seed=9).subgroups.to_dict()
    b = audited(y, pred, site, seed=9).subgroups.to_dict()
    assert a == b


def test_largest_macro_gap_over_the_classes_every_level_shows(case):
    """The range of macro F1 across the levels, each over the classes shown in every level:
    MetricFrame's difference between groups."""
    y, pred, site, s, r = case
    g = r.subgroups.groupings[0]
    common = np.flatnonzero(
        np.all([np.isin(np.arange(K), shown(y[site == v], pred[site == v])) for v in SITES], 0)
    )
    mf = MetricFrame(
        metrics=lambda a, b: sk_macro("f1", np.asarray(a), np.asarray(b), common),
        y_true=y,
        y_pred=pred,
        sensitive_features=site,
    )
    gap = next(m for m in g.max_gaps if m.metric == "macro.f1")
    assert gap.gap.estimate == pytest.approx(mf.difference(method="between_groups"), abs=1e-12)
    assert (gap.highest, gap.lowest) == (mf.by_group.idxmax(), mf.by_group.idxmin())
    assert 0 < gap.gap.ci_low < gap.gap.estimate < gap.gap.ci_high


def test_the_cli_summary_has_a_line_on_the_subgroups(tmp_path, capsys):
    """Audited within groups, the console summary names the most severe subgroup finding, even
    when three other findings come first."""
    import pandas as pd

    from prevalens.cli import main

    y, pred, site, _ = data(seed=6, n=3000, scores=False)
    pd.DataFrame({"y_true": y, "y_pred": pred, "site": site}).to_csv(
        tmp_path / "p.csv", index=False
    )
    code = main(
        [
            "audit",
            str(tmp_path / "p.csv"),
            "--group",
            "site",
            "--n-resamples",
            "200",
            "--seed",
            "2",
            "--format",
            "json",
            "--out-dir",
            str(tmp_path / "out"),
        ]
    )
    assert code == 0
    lines = [x for x in capsys.readouterr().out.splitlines() if x.startswith("finding (")]
    assert any(x.startswith("finding (high): site = east differs from the rest") for x in lines)


def test_a_macro_claim_must_hold_over_the_classes_of_min_support_with_their_own_error():
    """The robust form of a macro claim is the same difference over the classes with
    min_support samples on both sides (scikit-learn on the rows), with its own standard error
    from the replicates, not the full average's."""
    from prevalens.analyses.subgroups import analyse_subgroups
    from prevalens.strata import StrataSpec, assign_strata

    y, pred, site, _ = data(seed=8, n=5000, scores=False)
    p = predictions_from_arrays(y, pred, labels=list(range(K)), groups={"site": site})
    config = prevalens.AuditConfig(n_resamples=300, seed=1, min_support=100)
    strata = assign_strata(np.bincount(y, minlength=K), StrataSpec.from_config(config))
    claims: list = []
    analyse_subgroups(p, config, claims, strata)
    by = {c.key: c for c in claims}
    c = by[("subgroup", "site", "east", "macro.f1", None)]
    rows = site == "east"
    labels = shown(y[rows], pred[rows])
    big = [j for j in labels if (y[rows] == j).sum() >= 100 and (y[~rows] == j).sum() >= 100]
    assert 0 < len(big) < len(labels)  # the rarest classes are below min_support in east
    r_est, r_se = c.robust
    assert r_est == pytest.approx(
        sk_macro("f1", y[rows], pred[rows], big) - sk_macro("f1", y[~rows], pred[~rows], big),
        abs=1e-12,
    )
    # its standard error: a row bootstrap stratified by site and class (B = 1000, MC error of
    # an SD about 2%; the audit's B = 300 about 4%)
    rng = np.random.default_rng(5)
    strata_rows = [np.flatnonzero((site == v) & (y == j)) for v in SITES for j in range(K)]
    big = np.asarray(big)

    def f1_over(take):
        yt, yp = y[take], pred[take]
        tp = np.bincount(yt[yt == yp], minlength=K)[big]
        return np.mean(
            2 * tp / (np.bincount(yt, minlength=K)[big] + np.bincount(yp, minlength=K)[big])
        )

    diffs = []
    for _ in range(1000):
        take = np.concatenate([rng.choice(ix, ix.size) for ix in strata_rows if ix.size])
        east = site[take] == "east"
        diffs.append(f1_over(take[east]) - f1_over(take[~east]))
    assert r_se == pytest.approx(np.std(diffs, ddof=1), rel=0.15)


@pytest.mark.parametrize("seed", range(40))
def test_leave_one_out_statistics_equal_each_member_recomputed(seed):
    """The BCa acceleration's jackknife: every average of every distinct leave-one-out matrix,
    updated from the two classes a removed sample touches (O(1) each), equals the same average
    recomputed from the matrix with that sample removed (the point path, checked against
    scikit-learn above), NaN where undefined; empty rows and columns, one-class matrices and
    masks that drop classes included."""
    from prevalens.analyses import subgroup_averages as SA
    from prevalens.uncertainty import jackknife_counts

    rng = np.random.default_rng(seed)
    k = int(rng.integers(2, 12))
    cm = rng.poisson(rng.choice([0.3, 3.0, 30.0], size=(k, k)))
    if seed % 4 == 0:
        cm[rng.integers(k)] = 0
    if seed % 5 == 0:
        cm[:, rng.integers(k)] = 0
    if seed % 7 == 0:
        cm = np.diag(rng.integers(0, 4, k))
    if cm.sum() < 2:
        cm[0, 0] += 2
    shown_ = rng.random(k) < 0.8
    group = rng.integers(0, 3, k)
    masks = SA._Masks(
        shown_,
        shown_ & (rng.random(k) < 0.9),
        tuple((f"s{q}", group == q) for q in range(3)),
        0,
        2,
    )
    fast = SA._LeaveOneOut(cm).statistics(masks)
    cells, weights = jackknife_counts(cm)
    assert np.array_equal(weights, cm.reshape(-1)[cells])
    for member, cell in enumerate(cells):
        removed = cm.copy()
        removed.reshape(-1)[cell] -= 1
        direct = SA._statistics(SA._T.of_cm(removed), masks)
        assert list(direct) == list(fast)
        for key, value in direct.items():
            if math.isnan(value):
                assert math.isnan(fast[key][member]), (key, cell)
            else:
                assert fast[key][member] == pytest.approx(float(value), abs=1e-12), (key, cell)
