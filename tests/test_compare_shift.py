"""The paired comparison at the deployment's prevalences (``compare(...,
deployment_prevalence=...)``): the differences at the target against scikit-learn on data
replicated to the target's prevalences, the other numbers unchanged by a target, the joint
draws' weighted sums, the claims in the family, the findings, the clustered and simple schemes,
and the refusals. Coverage is in tests/test_coverage_compare.py (slow)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from sklearn import metrics as skm

from prevalens.compare import compare
from prevalens.exceptions import ConfigError
from prevalens.uncertainty import JointCells, PairedBootstrap

KEYS = (
    "overall.accuracy",
    "macro.precision",
    "macro.f1",
    "weighted.f1",
    "overall.cohen_kappa",
    "overall.mcc",
)
#: supports 480, 240, 120, 60: replicating class i's rows 1, 2, 4, 8 times makes them uniform
SUPPORT = (480, 240, 120, 60)


def dataset(seed=0, acc_a=(0.97, 0.95, 0.6, 0.4), acc_b=(0.8, 0.8, 0.95, 0.95)):
    """Exact supports, and two models: A strong on the common classes, B on the rare ones."""
    rng = np.random.default_rng(seed)
    y = np.repeat(np.arange(len(SUPPORT)), SUPPORT)
    rng.shuffle(y)
    k = len(SUPPORT)
    out = []
    for acc in (np.asarray(acc_a), np.asarray(acc_b)):
        wrong = (y + rng.integers(1, k, y.size)) % k
        out.append(np.where(rng.random(y.size) < acc[y], y, wrong))
    return y, out[0], out[1]


def sklearn_values(y, pred) -> dict:
    labels = list(range(len(SUPPORT)))
    f = dict(labels=labels, zero_division=0)
    return {
        "overall.accuracy": skm.accuracy_score(y, pred),
        "macro.precision": skm.precision_score(y, pred, average="macro", **f),
        "macro.f1": skm.f1_score(y, pred, average="macro", **f),
        "weighted.f1": skm.f1_score(y, pred, average="weighted", **f),
        "overall.cohen_kappa": skm.cohen_kappa_score(y, pred, labels=labels),
        "overall.mcc": skm.matthews_corrcoef(y, pred),
    }


@pytest.fixture(scope="module")
def data():
    return dataset()


@pytest.fixture(scope="module")
def uniform(data):
    y, a, b = data
    return compare(y, {"A": a, "B": b}, n_resamples=400, seed=5, deployment_prevalence="uniform")


@pytest.fixture(scope="module")
def plain(data):
    y, a, b = data
    return compare(y, {"A": a, "B": b}, n_resamples=400, seed=5)


def test_target_differences_equal_scikit_learn_on_data_replicated_to_the_target(data, uniform):
    """Uniform target = each class's rows replicated 1, 2, 4, 8 times: the projection is exact,
    so each model's metric at the target, and the difference, equal scikit-learn's there."""
    y, a, b = data
    times = (max(SUPPORT) // np.asarray(SUPPORT))[y]
    ya, pa, pb = np.repeat(y, times), np.repeat(a, times), np.repeat(b, times)
    assert np.all(np.bincount(ya) == max(SUPPORT))
    ref, cand = sklearn_values(ya, pa), sklearn_values(ya, pb)
    pair = uniform.pair()
    assert set(pair.target) == set(KEYS)
    for key in KEYS:
        row = pair.target[key]
        assert row.quantity == f"target.{key}"
        assert row.reference.estimate == pytest.approx(ref[key], abs=1e-12), key
        assert row.candidate.estimate == pytest.approx(cand[key], abs=1e-12), key
        assert row.difference.estimate == pytest.approx(cand[key] - ref[key], abs=1e-12), key
        d = row.difference
        assert d.ci_low <= d.estimate <= d.ci_high, key
        assert 0 <= row.p_value <= 1


def test_projection_block_holds_each_models_own_projection(uniform):
    sh = uniform.prevalence_shift
    assert sh is not None and sh.source.startswith("uniform")
    assert "label shift" in sh.assumption
    assert sh.target == pytest.approx((0.25,) * 4)
    for name in ("A", "B"):
        own = uniform.audits[name].prevalence_shift.headline
        assert sh.models[name]["macro.f1"] == own["macro.f1"]
    d = uniform.to_dict()
    assert d["prevalence_shift"]["models"]["B"]["headline"]["macro.f1"]["estimate"] == (
        pytest.approx(uniform.pair().target["macro.f1"].candidate.estimate)
    )
    assert set(d["pairs"][0]["target"]) == set(KEYS)


def test_a_target_changes_no_other_number(uniform, plain):
    """The pair's draws are the same with a target (it only sums the drawn rows): every other
    difference and interval is identical; only the family grows by the target's claims."""
    a, b = uniform.pair(), plain.pair()
    for q, row in b.headline.items():
        assert a.headline[q].difference == row.difference, q
        assert a.headline[q].p_value == row.p_value or math.isnan(row.p_value)
    for ca, cb in zip(a.per_class, b.per_class):
        for m, row in cb.metrics.items():
            assert ca.metrics[m].difference == row.difference
    for m, row in b.gap.items():
        assert a.gap[m].difference == row.difference
    assert plain.pair().target == {} and plain.prevalence_shift is None
    assert "target" not in plain.to_dict()["pairs"][0]
    assert "prevalence_shift" not in plain.to_dict()
    claimed = [k for k in uniform.pair().target.values() if k.adjusted is not None]
    assert {r.metric for r in claimed} == {"accuracy", "f1"}  # default findings metrics
    assert uniform.family.size == plain.family.size + len(claimed)


def test_joint_draws_sum_the_rows_as_they_draw_them(data):
    """With every row weighted 1 the weighted column sums are each model's predicted counts;
    with class i's rows weighted e_i, its row of the replicate's confusion matrix."""
    y, a, b = data
    k = len(SUPPORT)
    cells = JointCells.of(y, a, b, k)
    rw = np.vstack([np.ones(k), np.eye(k)[2]])
    boot = PairedBootstrap.run(
        y, a, b, k, lambda t: {}, 50, np.random.default_rng(1), cells=cells, row_weights=rw
    )
    plain = PairedBootstrap.run(y, a, b, k, lambda t: {}, 50, np.random.default_rng(1), cells=cells)
    for w, (rep, ref) in enumerate(zip(boot.replicates, plain.replicates)):
        np.testing.assert_array_equal(rep.tables.tp, ref.tables.tp)  # the same draws
        np.testing.assert_allclose(boot.weighted[w][0], rep.tables.predicted, rtol=1e-12)
        row2 = boot.weighted[w][1]
        assert np.allclose(row2.sum(axis=1), SUPPORT[2])
        assert np.allclose(row2[:, 2], rep.tables.tp[:, 2])


def test_ranking_reversed_at_the_target_is_a_warning_finding(uniform, data):
    """A is better on the evaluation data (its common classes dominate accuracy), B at the
    uniform target (its rare classes count as much): the finding says the ranking reverses."""
    pair = uniform.pair()
    here, there = pair.headline["overall.accuracy"], pair.target["overall.accuracy"]
    assert here.difference.estimate < 0 < there.difference.estimate
    found = [f for f in uniform.findings if f.kind == "comparison_target"]
    assert found, [f.text for f in uniform.findings]
    acc = [f for f in found if f.evidence["quantity"] == "target.overall.accuracy"]
    assert acc and acc[0].severity == "warning"
    text = acc[0].text
    assert text.startswith("At the deployment's prevalences (uniform")
    assert "B would have higher accuracy than A" in text
    assert here.significant  # the design makes A's advantage here clear
    assert "in A's favour: the ranking reverses at the target" in text
    assert "label shift" in text


def test_no_target_finding_below_min_effect(data):
    y, a, b = data
    r = compare(
        y,
        {"A": a, "B": b},
        n_resamples=300,
        seed=5,
        deployment_prevalence="uniform",
        min_effect=0.5,
    )
    assert not [f for f in r.findings if f.kind == "comparison_target"]


@pytest.mark.parametrize(
    "options",
    [{"interval": "percentile"}, {"resampling": "simple"}],
    ids=["percentile", "simple"],
)
def test_other_interval_schemes(data, uniform, options):
    y, a, b = data
    r = compare(
        y, {"A": a, "B": b}, n_resamples=400, seed=5, deployment_prevalence="uniform", **options
    )
    for key, row in r.pair().target.items():
        ref = uniform.pair().target[key]
        assert row.difference.estimate == ref.difference.estimate
        d = row.difference
        assert d.ci_low <= d.estimate <= d.ci_high
        # the same uncertainty, another way of drawing or of reading it
        width, ref_width = d.ci_high - d.ci_low, ref.difference.ci_high - ref.difference.ci_low
        assert 0.7 < width / ref_width < 1.4, (key, width, ref_width)
    how = r.pair().target["macro.f1"].test
    assert ("percentile" in how) == (options.get("interval") == "percentile")


def test_clustered_rows_use_the_cluster_jackknife(data):
    y, a, b = data
    cl = np.random.default_rng(3).integers(0, 120, y.size)
    r = compare(
        y,
        {"A": a, "B": b},
        cluster=cl,
        n_resamples=100,
        seed=5,
        deployment_prevalence="uniform",
    )
    row = r.pair().target["macro.f1"]
    assert row.test.startswith("paired jackknife over clusters of the projected metrics, t(df=")
    d = row.difference
    assert math.isfinite(d.ci_low) and d.ci_low <= d.estimate <= d.ci_high


def test_point_only_without_resampling(data):
    y, a, b = data
    r = compare(y, {"A": a, "B": b}, n_resamples=0, deployment_prevalence="uniform")
    row = r.pair().target["macro.f1"]
    assert math.isfinite(row.difference.estimate) and math.isnan(row.difference.ci_low)
    assert row.adjusted is None and row.test == "point estimates only (n_resamples=0)"
    assert not [f for f in r.findings if f.kind == "comparison_target"]


def test_a_class_without_samples_cannot_be_projected(data):
    y, a, b = data
    with pytest.raises(ConfigError, match="no sample here"):
        compare(
            y,
            {"A": a, "B": b},
            labels=[0, 1, 2, 3, 4],
            n_resamples=0,
            deployment_prevalence={0: 0.2, 1: 0.2, 2: 0.2, 3: 0.2, 4: 0.2},
        )


def test_a_cluster_holding_a_whole_class_leaves_the_target_without_interval():
    """Leaving out the cluster that holds every sample of a class leaves that class's row
    unknown: the jackknife cannot see its uncertainty, so the target rows get no interval and no
    claim (as the audit's own projection), not one too narrow."""
    rng = np.random.default_rng(0)
    sup = (300, 150, 60, 12, 6)
    k = len(sup)
    y = np.repeat(np.arange(k), sup)
    rng.shuffle(y)

    def model(acc):
        wrong = (y + rng.integers(1, k, y.size)) % k
        return np.where(rng.random(y.size) < np.asarray(acc)[y], y, wrong)

    a, b = model([0.8] * k), model([0.85, 0.7, 0.9, 0.6, 0.9])
    cl = rng.integers(0, 60, y.size)
    cl[y == 4] = 60
    r = compare(
        y, {"A": a, "B": b}, n_resamples=100, seed=5, cluster=cl, deployment_prevalence="uniform"
    )
    assert r.audits["A"].prevalence_shift.headline["macro.f1"].status == "no_interval"
    for key, row in r.pair().target.items():
        d = row.difference
        assert d.status == "no_interval" and "all its samples in one cluster" in d.note, key
        assert math.isnan(d.ci_low) and math.isnan(row.p_value) and row.adjusted is None


def test_a_small_class_made_much_more_prevalent_is_said_not_claimed():
    """A class of fewer than 20 samples at least 5 times as prevalent at the target: the
    differences from replicates are marked unstable (their marginal tests rejected 7-8% under no
    difference in simulation) and carry no claim; accuracy there (MOVER) still does."""
    y, a, b = dataset()
    keep = (y != 3) | (np.arange(y.size) % 6 == 0)  # class 3: about 10 of its 60 samples
    y, a, b = y[keep], a[keep], b[keep]
    assert 5 <= np.bincount(y)[3] < 20
    r = compare(y, {"A": a, "B": b}, n_resamples=300, seed=5, deployment_prevalence="uniform")
    target = r.pair().target
    for key in ("macro.f1", "macro.precision", "weighted.f1"):
        assert target[key].difference.status == "unstable", key
        assert "fewer than 20 samples" in target[key].difference.note
        assert target[key].adjusted is None
    assert target["overall.accuracy"].difference.status == "ok"
    assert target["overall.accuracy"].adjusted is not None
