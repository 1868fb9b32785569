"""The metrics at the deployment's prevalence (prevalens.analyses.shift): exact against
scikit-learn on data whose classes are replicated to the target prevalences, the closed form for
two classes, the scenarios and their refusals, the replicates shared with the audit, the outputs.
Coverage is simulated in tests/test_coverage_shift.py (slow)."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pytest
from jsonschema import Draft202012Validator
from sklearn.metrics import (
    accuracy_score,
    cohen_kappa_score,
    f1_score,
    matthews_corrcoef,
    precision_score,
    recall_score,
)

import prevalens
from prevalens import ConfigError
from prevalens.analyses.shift import _stratified, target_prevalence
from prevalens.exports import export_files
from prevalens.results import AuditResult
from prevalens.uncertainty import CountBootstrap


def _audit(y, p, **options):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return prevalens.audit(y, p, **options)


def _data(supports=(400, 200, 80, 40, 20), seed=0, right=0.75):
    rng = np.random.default_rng(seed)
    k = len(supports)
    y = np.repeat(np.arange(k), supports)
    p = np.where(rng.random(y.size) < right, y, rng.integers(0, k, y.size))
    return y, p


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_projection_equals_scikit_learn_on_data_replicated_to_the_target(seed):
    """Replicating each class's rows m_i times gives exactly the target prevalences: the audit of
    those rows is the projection, so scikit-learn on them must agree to 1e-12."""
    y, p = _data(seed=seed)
    target = {0: 0.1, 1: 0.2, 2: 0.2, 3: 0.25, 4: 0.25}
    shift = _audit(y, p, n_resamples=0, deployment_prevalence=target).prevalence_shift
    m = np.array([1, 4, 10, 25, 50])  # target_i / support_i, scaled to whole numbers
    idx = np.concatenate([np.repeat(np.flatnonzero(y == i), m[i]) for i in range(5)])
    yt, yp = y[idx], p[idx]
    assert np.allclose(np.bincount(yt) / yt.size, list(target.values()), atol=1e-15)
    per = {
        m_: np.array([c.metrics[m_].estimate for c in shift.per_class])
        for m_ in ("precision", "f1")
    }
    assert np.allclose(per["precision"], precision_score(yt, yp, average=None), rtol=0, atol=1e-12)
    assert np.allclose(per["f1"], f1_score(yt, yp, average=None), rtol=0, atol=1e-12)
    expect = {
        "overall.accuracy": accuracy_score(yt, yp),
        "macro.precision": precision_score(yt, yp, average="macro"),
        "macro.f1": f1_score(yt, yp, average="macro"),
        "weighted.f1": f1_score(yt, yp, average="weighted"),
        "overall.cohen_kappa": cohen_kappa_score(yt, yp),
        "overall.mcc": matthews_corrcoef(yt, yp),
    }
    for key, value in expect.items():
        assert abs(shift.headline[key].estimate - value) < 1e-12, key
    # recall carries over
    recall = recall_score(y, p, average=None)
    assert np.allclose([c.recall for c in shift.per_class], recall, atol=1e-12)
    spec = []
    for j in range(5):  # specificity at the target: 1 - FP / negatives, on the replicated rows
        neg = yt != j
        spec.append(np.mean(yp[neg] != j))
    assert np.allclose(
        [c.metrics["specificity"].estimate for c in shift.per_class], spec, atol=1e-12
    )


def test_two_classes_follow_bayes_rule():
    """K = 2: PPV = sens pi / (sens pi + (1 - spec)(1 - pi)), NPV likewise, at any pi."""
    y, p = _data(supports=(300, 60), seed=4, right=0.8)
    sens = np.mean(p[y == 1] == 1)
    spec = np.mean(p[y == 0] == 0)
    for pi in (0.001, 0.05, 0.5, 0.9):
        shift = _audit(
            y, p, n_resamples=0, deployment_prevalence={0: 1 - pi, 1: pi}
        ).prevalence_shift
        ppv = sens * pi / (sens * pi + (1 - spec) * (1 - pi))
        npv = spec * (1 - pi) / (spec * (1 - pi) + (1 - sens) * pi)
        c = shift.per_class[1]
        assert abs(c.metrics["precision"].estimate - ppv) < 1e-12
        assert abs(c.metrics["npv"].estimate - npv) < 1e-12
        assert abs(c.metrics["specificity"].estimate - spec) < 1e-12  # K = 2: unchanged
        assert c.target_prevalence == pytest.approx(pi, abs=1e-15)


def test_scenarios_and_their_refusals():
    support = np.array([500.0, 300.0, 150.0, 40.0, 10.0])
    classes = ("a", "b", "c", "d", "e")
    rare = np.array([False, False, False, True, True])
    pi, source = target_prevalence("uniform", classes, support, rare)
    assert np.allclose(pi, 0.2) and source.startswith("uniform")
    pi, source = target_prevalence("rare*2", classes, support, rare)
    observed = support / support.sum()
    assert np.allclose(pi[rare], 2 * observed[rare]) and pi.sum() == pytest.approx(1.0)
    assert np.allclose(pi[~rare] / observed[~rare], (1 - 2 * 0.05) / 0.95)
    assert "2 times" in source
    pi, source = target_prevalence({"a": 2, "b": 1, "c": 1, "d": 0, "e": 0}, classes, support, rare)
    assert np.allclose(pi, [0.5, 0.25, 0.25, 0, 0]) and "normalised from a total of 4" in source
    for spec, message in (
        ("rare*20", "leaves nothing for the other classes"),
        ("half", "give 'uniform', 'rare\\*F'"),
        ({"a": 0.5, "z": 0.5}, "class 'z', which is not among"),
        ({"a": 0.5, "b": 0.5}, "no prevalence for class 'c' \\(and 2 more\\)"),
        ({"a": -1, "b": 1, "c": 1, "d": 1, "e": 1}, "is -1.0; give a number >= 0"),
        ({"a": 0, "b": 0, "c": 0, "d": 0, "e": 0}, "is 0 for every class"),
    ):
        with pytest.raises(ConfigError, match=message):
            target_prevalence(spec, classes, support, rare)


def test_a_class_without_samples_cannot_be_projected():
    y, p = _data()
    with pytest.raises(ConfigError, match="class 5 a prevalence of 0.1, but it has no sample"):
        _audit(
            y,
            p,
            labels=list(range(6)),
            n_resamples=0,
            deployment_prevalence={0: 0.2, 1: 0.2, 2: 0.2, 3: 0.2, 4: 0.1, 5: 0.1},
        )
    # with 0 for it, it is fine
    r = _audit(
        y,
        p,
        labels=list(range(6)),
        n_resamples=0,
        deployment_prevalence={0: 0.2, 1: 0.2, 2: 0.2, 3: 0.2, 4: 0.2, 5: 0},
    )
    assert r.prevalence_shift.target[5] == 0


def test_the_replicates_are_the_audits_own_draws():
    """The projection reads the count bootstrap's own stratified draws, which sum the rows for
    its targets as they are drawn; an audit that resampled otherwise gets the same draws from
    the same seed: each class's recall in every replicate equals the engine's, and the weighted
    sums equal those of a redraw."""
    y, p = _data(seed=5)
    cm = prevalens.confusion_matrix(y, p, 5)
    weights = np.vstack([np.full(5, 0.2), np.linspace(0.1, 0.3, 5)]) / np.bincount(y)
    ss = np.random.SeedSequence(7).spawn(2)[0]
    boot = CountBootstrap.run(
        cm, prevalens.count_statistics, 300, np.random.default_rng(ss), row_weights=weights
    )
    diag, weighted = _stratified(
        cm, 300, np.random.default_rng(np.random.SeedSequence(7).spawn(2)[0]), weights
    )
    assert np.allclose(diag, np.asarray(boot.replicates["per_class.recall"]), rtol=0, atol=1e-15)
    assert np.array_equal(weighted, boot.drawn.weighted)
    # asking for the sums changes no draw of the audit
    fresh = np.random.SeedSequence(7).spawn(2)[0]  # (spawning advanced ``ss``)
    plain = CountBootstrap.run(cm, prevalens.count_statistics, 300, np.random.default_rng(fresh))
    assert np.array_equal(plain.replicates["macro.f1"], boot.replicates["macro.f1"])
    # simple resampling: the projection's intervals come from the stratified redraw of the seed
    a = _audit(y, p, n_resamples=300, seed=4, deployment_prevalence="uniform")
    b = _audit(y, p, n_resamples=300, seed=4, deployment_prevalence="uniform", resampling="simple")
    assert a.prevalence_shift.headline == b.prevalence_shift.headline


def test_intervals_hold_the_estimate_and_clusters_widen_them():
    y, p = _data(seed=6)
    shift = _audit(y, p, n_resamples=500, seed=3, deployment_prevalence="uniform").prevalence_shift
    assert shift.method.startswith("bca(stratified bootstrap, B=500")
    for e in list(shift.headline.values()) + [c.metrics["f1"] for c in shift.per_class]:
        assert e.ci_low <= e.estimate <= e.ci_high and e.ci_high > e.ci_low
    # every row four times, each copy of a row in one cluster: the rows' information once
    y4, p4 = np.repeat(y, 4), np.repeat(p, 4)
    cluster = np.repeat(np.arange(y.size), 4)
    clustered = _audit(
        y4, p4, cluster=cluster, n_resamples=200, seed=3, deployment_prevalence="uniform"
    ).prevalence_shift
    naive = _audit(
        y4, p4, n_resamples=500, seed=3, deployment_prevalence="uniform"
    ).prevalence_shift
    assert clustered.method.startswith("jackknife over clusters")
    key = "macro.f1"
    width = lambda e: e.ci_high - e.ci_low  # noqa: E731
    assert width(clustered.headline[key]) > 1.6 * width(naive.headline[key])
    assert width(clustered.headline[key]) == pytest.approx(width(shift.headline[key]), rel=0.25)


def test_the_sweep_scales_the_rarest_stratum():
    y, p = _data()
    r = _audit(y, p, n_resamples=0, deployment_prevalence="uniform")
    sweep = r.prevalence_shift.sweep
    observed = next(s for s in sweep if s.factor == 1.0)
    # at factor 1 the metrics are the audit's own
    assert observed.metrics["macro.f1"].estimate == pytest.approx(
        r.averages["macro"]["f1"].estimate, abs=1e-12
    )
    assert observed.metrics["overall.accuracy"].estimate == pytest.approx(
        r.overall["accuracy"].estimate, abs=1e-12
    )
    shares = [s.share for s in sweep]
    assert shares == sorted(shares) and r.prevalence_shift.sweep_stratum == "uncommon"


def test_json_round_trip_schema_and_exports():
    y, p = _data()
    r = _audit(y, p, n_resamples=200, seed=1, deployment_prevalence="rare*0.5")
    d = json.loads(r.to_json())
    Draft202012Validator(prevalens.load_schema()).validate(d)
    assert AuditResult.from_dict(d).to_dict() == d
    files = export_files(d, ["csv", "md"])
    assert "prevalence_shift.csv" in files
    text = files["prevalence_shift.csv"].decode()
    assert text.startswith("section,name,metric,target_prevalence,estimate")
    assert "headline,target,macro.f1," in text and "sweep,0.5,macro.f1," in text
    assert "## At the deployment's prevalence" in files["summary.md"].decode()
    # without the option: no block, no file, no section
    plain = _audit(y, p, n_resamples=0).to_dict()
    assert "prevalence_shift" not in plain
    assert "prevalence_shift.csv" not in export_files(plain, ["csv"])


def test_findings_say_the_projection_and_its_assumption():
    y, p = _data(seed=2)
    r = _audit(y, p, n_resamples=200, seed=2, deployment_prevalence="uniform")
    f = next(f for f in r.findings if f.kind == "prevalence_shift")
    assert f.text.startswith("At the deployment's prevalence (uniform")
    assert "assumes label shift" in f.text
    # a target equal to the observed prevalences moves nothing: no finding
    support = np.bincount(y)
    same = {i: support[i] / support.sum() for i in range(5)}
    r = _audit(y, p, n_resamples=0, deployment_prevalence=same)
    assert not any(f.kind == "prevalence_shift" for f in r.findings)


def test_cli_reads_a_prevalence_file_and_refuses_a_bad_one(cli, tmp_path):
    y, p = _data()
    labels = np.array(["ant", "bee", "cat", "dog", "eel"])
    import pandas as pd

    pd.DataFrame({"y_true": labels[y], "y_pred": labels[p]}).to_csv(tmp_path / "p.csv", index=False)
    (tmp_path / "deploy.csv").write_text(
        "class,prevalence\nant,0.2\nbee,0.2\ncat,0.2\ndog,0.2\neel,0.2\n"
    )
    run = cli(
        "audit",
        "p.csv",
        "--deployment-prevalence",
        "deploy.csv",
        "--format",
        "json,csv",
        "--n-resamples",
        "200",
        "--seed",
        "1",
        "--out-dir",
        "out",
        cwd=tmp_path,
    )
    assert run.returncode == 0, run.stderr
    d = json.loads((tmp_path / "out" / "results.json").read_text())
    assert d["prevalence_shift"]["source"].startswith("deploy.csv (SHA-256 ")
    assert d["run"]["config"]["deployment_prevalence"] == "deploy.csv"
    assert (tmp_path / "out" / "prevalence_shift.csv").exists()
    (tmp_path / "bad.csv").write_text("class,prevalence\nant,0.2\nbee,lots\n")
    run = cli(
        "audit", "p.csv", "--deployment-prevalence", "bad.csv", "--out-dir", "bad", cwd=tmp_path
    )
    assert run.returncode == 2 and not (tmp_path / "bad").exists()
    assert run.stderr.strip() == (
        "prevalens: error: --deployment-prevalence bad.csv: line 3: the prevalence 'lots' is not "
        "a number >= 0; give a proportion such as 0.05"
    )
    (tmp_path / "d.json").write_text('{"ant": 0.5, "bee": 0.5}')
    run = cli("audit", "p.csv", "--deployment-prevalence", "d.json", "--out-dir", "j", cwd=tmp_path)
    assert run.returncode == 2 and "no prevalence for class 'cat'" in run.stderr


# -- found in review ----------------------------------------------------------------------------


def test_clustered_projection_without_an_interval_says_why():
    """A shifted metric the cluster jackknife cannot vary does not crash (precision gets its
    cluster-robust MOVER interval), and a class whose samples all sit in one cluster (leaving it out leaves its row unknown)
    gives no interval wherever it counts, instead of a falsely narrow one."""
    rng = np.random.default_rng(0)
    y = np.repeat([0, 1, 2], 40)
    p = np.where(rng.random(120) < 0.8, y, rng.integers(0, 3, 120))
    p[(p == 2) & (y != 2)] = y[(p == 2) & (y != 2)]  # class 2 never wrongly predicted
    shift = _audit(
        y, p, cluster=np.arange(120) // 3, deployment_prevalence="uniform", n_resamples=100, seed=1
    ).prevalence_shift
    e = shift.per_class[2].metrics["precision"]  # 1 in every member: MOVER still bounds it
    assert e.estimate == 1.0 and e.ci_low < 1.0 and e.method.startswith("MOVER-R from cluster")
    assert shift.per_class[2].metrics["f1"].status in ("ok", "no_interval")
    y = np.array([0] * 40 + [1] * 40 + [2] * 3)
    p = y.copy()
    p[::7] = (p[::7] + 1) % 3
    cluster = np.r_[np.arange(80) // 2, [40, 40, 40]]
    shift = _audit(
        y, p, cluster=cluster, deployment_prevalence="uniform", n_resamples=100, seed=1
    ).prevalence_shift
    e = shift.headline["macro.f1"]
    assert e.status == "no_interval" and "all its samples in one cluster" in e.note


def test_rare_scaling_when_every_class_is_in_the_rarest_stratum():
    y, p = _data(supports=(32, 26, 14, 16, 3, 4, 1), seed=3)
    with pytest.raises(ConfigError, match="every class with samples is in the rarest stratum"):
        _audit(
            y,
            p,
            n_resamples=0,
            deployment_prevalence="rare*0.5",
            strata="support",
            strata_cuts=(1000,),
        )
    r = _audit(y, p, n_resamples=0, deployment_prevalence="rare*3.")
    assert sum(r.prevalence_shift.target) == pytest.approx(1.0, abs=1e-12)
    for point in r.prevalence_shift.sweep:
        assert point.share < 1.0


def test_mover_precision_of_a_low_recall_class_is_not_trivial():
    """MOVER-R on y/x breaks down when x's interval reaches 2x (low recall); x/y is used there,
    so the upper limit is informative instead of 1."""
    from prevalens.analyses.shift import mover_per_class

    limits = mover_per_class(np.array([[80, 20], [19, 1]]), np.array([0.9, 0.1]), 0.05)
    lo, hi = limits["precision"][0][1], limits["precision"][1][1]
    assert 0 < lo < 0.027 < hi < 0.5


def test_specificity_interval_for_a_class_absent_at_the_target():
    y, p = _data(supports=(200, 100, 50), seed=8)
    shift = _audit(
        y, p, n_resamples=200, seed=1, deployment_prevalence={0: 0.5, 1: 0.5, 2: 0}
    ).prevalence_shift
    e = shift.per_class[2].metrics["specificity"]
    assert e.ci_low <= e.estimate <= e.ci_high and e.ci_high > e.ci_low


def test_a_prevalence_file_error_names_the_file(cli, tmp_path):
    y, p = _data()
    import pandas as pd

    pd.DataFrame({"y_true": y, "y_pred": p}).to_csv(tmp_path / "p.csv", index=False)
    (tmp_path / "d.csv").write_text("class,prevalence\n\n0,0.5\n9,0.5\n")
    run = cli("audit", "p.csv", "--deployment-prevalence", "d.csv", "--out-dir", "o", cwd=tmp_path)
    assert run.returncode == 2
    assert "--deployment-prevalence d.csv: names class '9', which is not among" in run.stderr
    run = cli("audit", "p.csv", "--deployment-prevalence", "", "--out-dir", "o", cwd=tmp_path)
    assert run.returncode == 2 and "--deployment-prevalence is empty" in run.stderr


def test_latex_has_the_deployment_table():
    from prevalens.exports import latex_tables

    y, p = _data()
    d = _audit(y, p, n_resamples=100, seed=1, deployment_prevalence="uniform").to_dict()
    tex = latex_tables(d).decode()
    assert r"\label{tab:prevalens-deployment}" in tex
    assert tex.count(r"\begin{table}") == 3
    plain = latex_tables(_audit(y, p, n_resamples=0).to_dict()).decode()
    assert "tab:prevalens-deployment" not in plain
