"""Classes within subgroups (prevalens.analyses.subgroups): per-level values against fairlearn's
MetricFrame and scikit-learn, disparities' intervals against statsmodels (Newcombe's method 10),
the largest gap against MetricFrame's difference, the claims in the family, the findings, and
the suppression of small cells in the JSON."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from fairlearn.metrics import MetricFrame
from sklearn import metrics as skm
from statsmodels.stats.proportion import confint_proportions_2indep

import prevalens
from prevalens.io import predictions_from_arrays

K = 5
SITES = np.array(["north", "south", "west"])


def data(seed=0, n=4000):
    """Five classes (3% the rarest), three sites; the model is worse at the smallest site."""
    rng = np.random.default_rng(seed)
    y = rng.choice(K, n, p=[0.5, 0.25, 0.15, 0.07, 0.03])
    site = rng.choice(3, n, p=[0.6, 0.3, 0.1])
    acc = np.where(site == 2, 0.6, 0.85)
    pred = np.where(rng.random(n) < acc, y, rng.integers(0, K, n))
    return y, pred, SITES[site]


def audited(y, pred, site, **options):
    p = predictions_from_arrays(y, pred, labels=list(range(K)), groups={"site": site})
    options.setdefault("n_resamples", 200)
    options.setdefault("seed", 1)
    return prevalens.audit_predictions(p, **options)


@pytest.fixture(scope="module")
def case():
    y, pred, site = data()
    return y, pred, site, audited(y, pred, site)


def recall_of(j):
    def f(yt, yp):
        yt, yp = np.asarray(yt), np.asarray(yp)
        return float(((yt == j) & (yp == j)).sum() / max((yt == j).sum(), 1))

    return f


def fpr_of(j):
    def f(yt, yp):
        yt, yp = np.asarray(yt), np.asarray(yp)
        return float(((yt != j) & (yp == j)).sum() / max((yt != j).sum(), 1))

    return f


def precision_of(j):
    def f(yt, yp):
        yt, yp = np.asarray(yt), np.asarray(yp)
        return float(((yt == j) & (yp == j)).sum() / max((yp == j).sum(), 1))

    return f


def test_per_level_values_equal_fairlearn_and_scikit_learn(case):
    y, pred, site, r = case
    metrics = {"accuracy": skm.accuracy_score}
    for j in range(K):
        metrics[f"recall.{j}"] = recall_of(j)
        metrics[f"fpr.{j}"] = fpr_of(j)
        metrics[f"precision.{j}"] = precision_of(j)
    mf = MetricFrame(metrics=metrics, y_true=y, y_pred=pred, sensitive_features=site)
    g = r.subgroups.groupings[0]
    assert g.name == "site" and [lv.level for lv in g.levels] == list(SITES)
    for lv in g.levels:
        ref = mf.by_group.loc[lv.level]
        assert lv.accuracy.estimate == pytest.approx(ref["accuracy"], abs=1e-12)
        assert lv.n == int((site == lv.level).sum())
        sk = skm.recall_score(
            y[site == lv.level], pred[site == lv.level], labels=list(range(K)), average=None
        )
        for j, cell in enumerate(lv.cells):
            if cell.suppressed:
                continue
            assert cell.recall.estimate == pytest.approx(ref[f"recall.{j}"], abs=1e-12)
            assert cell.recall.estimate == pytest.approx(sk[j], abs=1e-12)
            assert cell.fpr.estimate == pytest.approx(ref[f"fpr.{j}"], abs=1e-12)
            if cell.precision.status != "suppressed":
                assert cell.precision.estimate == pytest.approx(ref[f"precision.{j}"], abs=1e-12)
    # the largest gap is MetricFrame's difference between groups (over the shown levels)
    gaps = {(m.metric, m.label): m for m in g.max_gaps}
    diff = mf.difference(method="between_groups")
    assert gaps[("accuracy", None)].gap.estimate == pytest.approx(diff["accuracy"], abs=1e-12)
    for j in range(K):
        shown = all(not lv.cells[j].suppressed for lv in g.levels)
        if shown:
            got = gaps[("recall", j)].gap.estimate
            assert got == pytest.approx(diff[f"recall.{j}"], abs=1e-12)


def test_differences_against_the_rest_equal_statsmodels_newcombe(case):
    """The difference level minus rest and its interval: Newcombe's hybrid score interval for
    independent proportions (statsmodels' method 'newcomb')."""
    y, pred, site, r = case
    g = r.subgroups.groupings[0]
    checked = 0
    for d in g.disparities:
        if d.against != "rest" or d.suppressed:
            continue
        inside = site == d.level
        if d.metric == "accuracy":
            k1, n1 = int((y == pred)[inside].sum()), int(inside.sum())
            k2, n2 = int((y == pred)[~inside].sum()), int((~inside).sum())
        elif d.metric == "recall":
            j = d.label
            k1, n1 = int(((y == j) & (pred == j) & inside).sum()), int(((y == j) & inside).sum())
            k2, n2 = int(((y == j) & (pred == j) & ~inside).sum()), int(((y == j) & ~inside).sum())
        else:
            continue
        lo, hi = confint_proportions_2indep(k1, n1, k2, n2, method="newcomb", compare="diff")
        assert d.difference.estimate == pytest.approx(k1 / n1 - k2 / n2, abs=1e-12)
        assert d.difference.ci_low == pytest.approx(lo, abs=1e-9), d
        assert d.difference.ci_high == pytest.approx(hi, abs=1e-9), d
        checked += 1
    assert checked >= 10


def test_claims_join_the_family_and_findings_name_the_level(case):
    y, pred, site, r = case
    g = r.subgroups.groupings[0]
    claimed = [d for d in g.disparities if d.adjusted is not None]
    assert claimed and all(d.against == "rest" for d in claimed)
    plain = prevalens.audit(y, pred, labels=list(range(K)), n_resamples=200, seed=1)
    assert r.family.size == plain.family.size + len(claimed)
    found = [f for f in r.findings if f.kind == "subgroup_disparity"]
    west = [f for f in found if f.evidence["level"] == "west"]
    assert west and west[0].severity == "high"
    assert west[0].text.startswith("site = west differs from the rest of the rows: accuracy -")
    for f in found:
        for row in f.evidence["rows"]:
            assert row["adjusted"]["significant"]
            assert abs(row["difference"]["estimate"]) >= r.run.config["min_effect"]


def test_largest_gap_interval_contains_the_gap_and_is_simultaneous(case):
    *_, r = case
    for m in r.subgroups.groupings[0].max_gaps:
        e = m.gap
        assert 0 <= e.ci_low <= e.estimate <= e.ci_high, m
        assert "Bonferroni" in e.method


def test_small_cells_are_suppressed_everywhere_in_the_json():
    """A class of 3 samples at one site: its cell there has no value, no interval and no
    disparity, the rest's value beside it is not written either, and no count of a class within
    a site appears anywhere."""
    y, pred, site = data(seed=2, n=3000)
    rare = (y == 4) & (site == "west")
    keep = ~rare | (np.cumsum(rare) <= 3)
    y, pred, site = y[keep], pred[keep], site[keep]
    assert ((y == 4) & (site == "west")).sum() == 3
    r = audited(y, pred, site, subgroup_min_cell=10)
    d = json.loads(json.dumps(r.to_dict()))
    g = d["subgroups"]["groupings"][0]
    west = next(lv for lv in g["levels"] if lv["level"] == "west")
    cell = next(c for c in west["cells"] if c["label"] == 4)
    assert cell["suppressed"]
    for m in ("recall", "fpr", "precision"):
        assert cell[m]["estimate"] is None and cell[m]["status"] == "suppressed"
        assert cell[m]["ci_low"] is None and cell[m]["ci_high"] is None
    assert not [x for x in g["disparities"] if x["level"] == "west" and x["label"] == 4], (
        "a disparity rests on the suppressed cell"
    )
    assert not [x for x in g["disparities"] if x["against"] == "west" and x["label"] == 4]
    assert not [
        m for m in g["max_gaps"] if m["label"] == 4 and "west" in (m["highest"], m["lowest"])
    ]
    text = json.dumps(g)
    assert '"support"' not in text and '"count"' not in text
    assert g["suppressed_cells"] >= 1
    # opting in writes the values to the JSON, marked
    r2 = audited(y, pred, site, subgroup_min_cell=10, subgroup_disclose=True)
    g2 = r2.subgroups.groupings[0]
    cell2 = next(lv for lv in g2.levels if lv.level == "west").cells[4]
    assert cell2.suppressed and math.isfinite(cell2.recall.estimate)
    assert cell2.recall.status == "suppressed" and "disclosed" in cell2.recall.note


def test_a_small_level_is_suppressed_and_its_size_protected():
    y, pred, site = data(seed=3, n=2000)
    site = site.astype(object)
    site[:4] = "tiny"
    r = audited(y, pred, site, subgroup_min_cell=10)
    g = r.subgroups.groupings[0]
    tiny = next(lv for lv in g.levels if lv.level == "tiny")
    assert tiny.suppressed and tiny.n is None and tiny.cells == ()
    assert math.isnan(tiny.accuracy.estimate) and tiny.accuracy.status == "suppressed"
    # the others' sizes and the total would give the tiny level's away: one more is withheld
    assert sum(lv.n is None for lv in g.levels) == 2
    assert not [x for x in g.disparities if "tiny" in (x.level, x.against)]


def test_clusters_use_the_cluster_robust_interval():
    y, pred, site = data(seed=4, n=3000)
    # clusters nested in sites (a patient is seen at one site)
    cl = np.char.add(site.astype(str), (np.arange(y.size) // 10).astype(str))
    p = predictions_from_arrays(y, pred, labels=list(range(K)), cluster=cl, groups={"site": site})
    r = prevalens.audit_predictions(p, n_resamples=100, seed=1)
    g = r.subgroups.groupings[0]
    assert "cluster-robust" in g.levels[0].accuracy.method
    assert not g.notes
    d = next(x for x in g.disparities if x.metric == "accuracy" and x.against == "rest")
    assert d.difference.ci_low < d.difference.estimate < d.difference.ci_high


def test_the_api_takes_group_arrays_and_refuses_a_group_without_data():
    y, pred, site = data(seed=5, n=800)
    sex = np.where(np.arange(y.size) % 2 == 0, "F", "M")
    r = prevalens.audit(
        y, pred, groups={"site": site, "sex": sex}, group=("site", "sex*site"), n_resamples=0
    )
    assert [g.name for g in r.subgroups.groupings] == ["site", "sex×site"]
    with pytest.raises(prevalens.ConfigError, match="no group columns were given"):
        prevalens.audit(y, pred, group=("site",), n_resamples=0)
    p = predictions_from_arrays(y, pred)
    with pytest.raises(prevalens.ConfigError, match="hold no group columns"):
        prevalens.audit_predictions(p, group=("site",), n_resamples=0)


def test_a_grouping_without_disparity_says_so_under_its_own_kind():
    y, pred, _ = data(seed=6, n=1500)
    sex = np.where(np.arange(y.size) % 2 == 0, "F", "M")  # unrelated to the errors
    r = prevalens.audit(y, pred, groups={"sex": sex}, n_resamples=100, seed=1)
    kinds = [f.kind for f in r.findings if "subgroup" in f.kind]
    assert kinds == ["no_subgroup_disparity"], [f.text for f in r.findings]
    f = next(f for f in r.findings if f.kind == "no_subgroup_disparity")
    assert f.text.startswith("No evidence that any level of sex differs from the rest")
    assert str(f.evidence["judged"]) in f.text


def test_one_sided_exact_family_reads_the_same_limits():
    """The claims' p-values invert a MOVER family that computes, per row, only the limit the
    p-value reads (lower above 0, upper below): those limits equal the two-sided family's bit
    for bit at every quantile, except far in the tail (z = 29, alpha ~ 1e-184) where SciPy's
    inversion of the limit not read returns NaN and spoils the two-sided bound."""
    from prevalens.analyses.subgroups import _mover_family, _Side

    rng = np.random.default_rng(2)
    n_a = rng.integers(1, 500, 300).astype(float)
    n_b = rng.integers(1, 5000, 300).astype(float)
    a = _Side(np.floor(rng.random(300) * (n_a + 1)), n_a)
    b = _Side(np.floor(rng.random(300) * (n_b + 1)), n_b)
    up = a.p - b.p > 0
    both = _mover_family(a, b, True)
    one = _mover_family(a, b, True, up=up)
    for z in (0.3, 1.96, 4.2, 11.0, 29.0):
        zz = np.full(300, z)
        lo, hi = both(zz)
        lo1, hi1 = one(zz)
        want, got = np.where(up, lo, hi), np.where(up, lo1, hi1)
        if z < 20:
            assert np.array_equal(want, got)
        else:
            ok = np.isfinite(want)
            assert np.array_equal(want[ok], got[ok]) and ok.mean() > 0.9
