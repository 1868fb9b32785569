"""Paired comparison of models (prevalens.compare): point differences against scikit-learn, the
joint replicates keep the pairing, Newcombe's and DeLong's paired forms, the family of claims,
findings that never rest on small classes, and one-line errors for rows that do not match."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from sklearn import metrics as skm

import prevalens as pv
from prevalens.compare import compare
from prevalens.counts import class_tables
from prevalens.exceptions import ConfigError, InputError
from prevalens.intervals import bootstrap_p_value, interval_from_replicates
from prevalens.metrics import count_statistics
from prevalens.ranking import paired_delong, paired_ovr_delong
from prevalens.uncertainty import JointCells, PairedBootstrap


def two_models(n=1500, k=6, seed=0, shift=(1.2, 1.8), corr=0.8):
    """Long-tailed truth and two correlated probabilistic models (B stronger)."""
    rng = np.random.default_rng(seed)
    prev = np.geomspace(1.0, 0.02, k)
    prev /= prev.sum()
    y = rng.choice(k, n, p=prev)
    common = rng.normal(size=(n, k))
    out = []
    for q in shift:
        s = corr * common + math.sqrt(1 - corr**2) * rng.normal(size=(n, k))
        s[np.arange(n), y] += q
        e = np.exp(s)
        out.append(e / e.sum(axis=1, keepdims=True))
    return y, out[0], out[1]


@pytest.fixture(scope="module")
def scored():
    y, sa, sb = two_models()
    r = compare(y, scores={"A": sa, "B": sb}, n_resamples=400, seed=3)
    return y, sa, sb, r


# ------------------------------------------------------------------------------------------------
# point estimates


def test_differences_equal_scikit_learn(scored):
    y, sa, sb, r = scored
    pa, pb = sa.argmax(1), sb.argmax(1)
    p = r.pair()
    labels = list(range(sa.shape[1]))

    def both(fn):
        return fn(y, pb) - fn(y, pa)

    expect = {
        "overall.accuracy": both(skm.accuracy_score),
        "overall.balanced_accuracy": both(skm.balanced_accuracy_score),
        "overall.cohen_kappa": both(skm.cohen_kappa_score),
        "overall.mcc": both(skm.matthews_corrcoef),
        "overall.log_loss": skm.log_loss(y, sb) - skm.log_loss(y, sa),
        "macro.roc_auc": skm.roc_auc_score(y, sb, multi_class="ovr")
        - skm.roc_auc_score(y, sa, multi_class="ovr"),
        "weighted.roc_auc": skm.roc_auc_score(y, sb, multi_class="ovr", average="weighted")
        - skm.roc_auc_score(y, sa, multi_class="ovr", average="weighted"),
    }
    for avg in ("micro", "macro", "weighted"):
        for name, fn in (
            ("precision", skm.precision_score),
            ("recall", skm.recall_score),
            ("f1", skm.f1_score),
        ):
            expect[f"{avg}.{name}"] = both(
                lambda t, q, fn=fn, avg=avg: fn(t, q, average=avg, labels=labels, zero_division=0)
            )
    for q, value in expect.items():
        row = p.headline[q]
        assert row.difference.estimate == pytest.approx(value, abs=1e-12), q
        assert row.candidate.estimate - row.reference.estimate == pytest.approx(value, abs=1e-12)
    for j, c in enumerate(p.per_class):
        for name, fn in (("recall", skm.recall_score), ("precision", skm.precision_score)):
            d = fn(y, pb, labels=[j], average=None)[0] - fn(y, pa, labels=[j], average=None)[0]
            assert c.metrics[name].difference.estimate == pytest.approx(d, abs=1e-12)
        spec = skm.recall_score(y != j, pb != j) - skm.recall_score(y != j, pa != j)
        assert c.metrics["specificity"].difference.estimate == pytest.approx(spec, abs=1e-12)
        auc = skm.roc_auc_score(y == j, sb[:, j]) - skm.roc_auc_score(y == j, sa[:, j])
        assert c.metrics["roc_auc"].difference.estimate == pytest.approx(auc, abs=1e-12)


def test_sides_are_each_models_own_audit(scored):
    y, sa, sb, r = scored
    a = pv.audit(y, y_score=sa, n_resamples=400, seed=3)
    row = r.pair().headline["macro.f1"]
    assert row.reference == a.averages["macro"]["f1"]
    assert r.audits["A"].averages["macro"]["f1"] == a.averages["macro"]["f1"]


# ------------------------------------------------------------------------------------------------
# the joint replicates


def test_joint_cells_give_each_models_tables():
    rng = np.random.default_rng(1)
    y, a, b = (rng.integers(0, 5, 400) for _ in range(3))
    cells = JointCells.of(y, a, b, 5)
    assert cells.n == 400
    for which, pred in (("a", a), ("b", b)):
        cm = pv.confusion_matrix(y, pred, 5)
        np.testing.assert_array_equal(cells.marginal(which), cm)
        t = cells.tables_of(cells.counts[None].astype(float), which)
        for got, want in zip(t, class_tables(cm)):
            np.testing.assert_array_equal(got[0], want)
    # the jackknife's member j is the joint table less one row of joint cell j: its statistics
    # are each model's own leave-one-out members, gathered
    boot = PairedBootstrap.run(y, a, b, 5, count_statistics, 100, np.random.default_rng(0))
    for w, jack in zip("ab", boot.jackknife):
        for j in range(cells.counts.size):
            x = cells.counts.astype(float)
            x[j] -= 1
            direct = cells.tables_of(x[None], w)
            for got, want in zip(jack.tables, direct):
                np.testing.assert_array_equal(got[j], want[0])
            direct_f1 = count_statistics(direct)["macro.f1"][0]
            assert jack["macro.f1"][j] == pytest.approx(direct_f1, abs=1e-15)


def test_identical_models_differ_by_nothing():
    rng = np.random.default_rng(2)
    y = rng.integers(0, 4, 300)
    pred = np.where(rng.random(300) < 0.7, y, rng.integers(0, 4, 300))
    boot = PairedBootstrap.run(y, pred, pred, 4, count_statistics, 200, np.random.default_rng(0))
    d = boot.derive(lambda a, b: b["macro.f1"] - a["macro.f1"])
    assert np.all(d == 0)
    # each side's replicates still vary, as a single model's do
    assert np.std(boot.derive(lambda a, b: a["macro.f1"])) > 0.005


def test_paired_interval_narrower_than_unpaired(scored):
    """Positively correlated models: the paired interval of a difference is narrower than the
    MOVER combination of the two models' own intervals (which treats them as independent)."""
    *_, r = scored
    # measured with these data: 0.91, 0.87, 0.80, 0.68 and 0.64 of the unpaired width
    bound = {"macro.recall": 0.95, "macro.f1": 0.95, "overall.accuracy": 0.85}
    for q in ("macro.recall", "macro.f1", "overall.accuracy", "macro.roc_auc", "overall.log_loss"):
        row = r.pair().headline[q]
        a, b = row.reference, row.candidate
        unpaired = math.hypot(a.estimate - a.ci_low, b.ci_high - b.estimate) + math.hypot(
            a.ci_high - a.estimate, b.estimate - b.ci_low
        )
        paired = row.difference.ci_high - row.difference.ci_low
        assert paired < bound.get(q, 0.75) * unpaired, q


def test_stratified_resampling_keeps_supports():
    rng = np.random.default_rng(4)
    y = rng.integers(0, 3, 200)
    a, b = rng.integers(0, 3, 200), rng.integers(0, 3, 200)
    boot = PairedBootstrap.run(y, a, b, 3, count_statistics, 50, np.random.default_rng(1))
    for s in boot.replicates:
        np.testing.assert_allclose(
            s.tables.support, np.bincount(y, minlength=3)[None].repeat(50, 0)
        )


def test_bootstrap_p_value_agrees_with_the_bca_interval():
    """p < alpha exactly when the BCa interval at 1 - alpha excludes 0."""
    rng = np.random.default_rng(5)
    for _ in range(200):
        theta = rng.normal(0, 0.3)
        reps = theta + rng.normal(rng.normal(0, 0.05), 0.15, size=999) * rng.uniform(0.5, 2)
        jack = theta + rng.normal(0, 0.01, size=50)
        alpha = 0.05
        res = interval_from_replicates(theta, reps, jack, np.ones(50), alpha=alpha)
        p = bootstrap_p_value(theta, reps, jack, np.ones(50))
        excludes = res["low"] > 0 or res["high"] < 0
        if abs(p - alpha) > 0.004:  # away from the quantile interpolation's resolution
            assert (p < alpha) == excludes


# ------------------------------------------------------------------------------------------------
# analytic paired forms


def test_paired_ovr_delong_equals_paired_delong_per_class():
    y, sa, sb = two_models(n=600, k=4, seed=7)
    w = np.eye(4)
    res = paired_ovr_delong(y, sa, sb, combo_weights=w)
    for j in range(4):
        ref = paired_delong(sb[:, j], sa[:, j], y == j)
        assert res.difference[j] == pytest.approx(ref.difference, abs=1e-12)
        assert res.var_diff[j] == pytest.approx(ref.se**2, rel=1e-10)
        assert res.combo_cov[j, j] == pytest.approx(ref.se**2, rel=1e-10)
    # the same model twice: no difference and no variance
    same = paired_ovr_delong(y, sa, sa, combo_weights=np.full((4, 1), 0.25))
    assert np.all(same.var_diff == 0) and same.combo_cov[0, 0] == 0


def test_accuracy_uses_newcombe_and_mcnemar(scored):
    *_, r = scored
    p = r.pair()
    row = p.headline["overall.accuracy"]
    assert row.test.startswith("Newcombe")
    mc = p.tests["mcnemar"]
    n = r.data["n_samples"]
    assert row.difference.estimate == pytest.approx(
        (mc["candidate_only_correct"] - mc["reference_only_correct"]) / n, abs=1e-12
    )
    assert 0 <= mc["p_mid_p"] <= mc["p_exact"] <= 1


def test_class_where_models_agree_has_an_interval():
    """Both models right on 11 of 12 samples of a class and wrong on the same one: the
    difference is 0 with a real interval (Newcombe), not a degenerate [0, 0]."""
    y = np.array([0] * 12 + [1] * 60 + [2] * 60)
    a = y.copy()
    a[0] = 1
    a[20:30] = 2
    b = y.copy()
    b[0] = 1
    b[80:85] = 1
    r = compare(y, {"A": a, "B": b}, n_resamples=200, seed=1)
    row = r.pair().per_class[0].metrics["recall"]
    assert row.difference.estimate == 0
    assert row.difference.ci_low < -0.05 and row.difference.ci_high > 0.05
    assert row.p_value == 1.0


# ------------------------------------------------------------------------------------------------
# claims and findings


def test_no_claim_rests_on_a_small_class():
    """A class of 6 samples where B is far better: shown, never claimed."""
    rng = np.random.default_rng(8)
    y = np.r_[np.zeros(6, int), rng.integers(1, 4, 600)]
    a = np.where(rng.random(y.size) < 0.8, y, (y + 1) % 4)
    a[:6] = 1
    b = a.copy()
    b[:6] = 0
    r = compare(y, {"A": a, "B": b}, n_resamples=300, seed=2, min_support=10)
    c0 = r.pair().per_class[0]
    assert c0.metrics["recall"].difference.estimate == 1.0
    assert c0.metrics["recall"].adjusted is None
    assert all(0 not in f.classes for f in r.findings)
    assert "1 class with fewer than 10" in " ".join(n.text for n in r.notes)


def test_exchangeable_models_give_no_finding_of_difference():
    rng = np.random.default_rng(9)
    y = rng.integers(0, 4, 800)
    a = np.where(rng.random(800) < 0.75, y, rng.integers(0, 4, 800))
    b = np.where(rng.random(800) < 0.75, y, rng.integers(0, 4, 800))
    r = compare(y, {"A": a, "B": b}, n_resamples=300, seed=4)
    (summary,) = [f for f in r.findings if f.kind == "comparison"]
    assert summary.text.startswith("No evidence that B differs from A")


def test_findings_name_the_better_model_and_classes(scored):
    *_, r = scored
    text = " ".join(f.text for f in r.findings)
    assert "B is better than A on" in text
    assert "macro F1" in text
    for f in r.findings:
        for q in f.evidence.get("better", []):
            assert r.pair().headline[q].adjusted.significant


def test_claims_form_one_family_over_pairs():
    y, sa, sb = two_models(n=800, k=4, seed=11)
    _, _, sc = two_models(n=800, k=4, seed=12)
    r2 = compare(y, scores={"A": sa, "B": sb}, n_resamples=200, seed=1)
    r3 = compare(y, scores={"A": sa, "B": sb, "C": sc}, n_resamples=200, seed=1)
    assert [p.candidate for p in r3.pairs] == ["B", "C"]
    assert r3.family.size > r2.family.size
    # B's marginal differences do not depend on C; its adjusted ones are wider with C
    b2, b3 = r2.pair("B").headline["macro.f1"], r3.pair("B").headline["macro.f1"]
    assert b2.difference == b3.difference
    assert b3.adjusted.ci_high - b3.adjusted.ci_low >= b2.adjusted.ci_high - b2.adjusted.ci_low


# ------------------------------------------------------------------------------------------------
# contract, reproducibility, errors


def test_json_is_strict_and_reproducible(scored):
    y, sa, sb, r = scored
    d = r.to_dict()
    text = json.dumps(d, allow_nan=False)
    assert d["schema"] == "prevalens.comparison/1"
    again = compare(y, scores={"A": sa, "B": sb}, n_resamples=400, seed=3).to_dict()
    for x in (d, again):
        x["run"].pop("created_utc")
    assert json.dumps(again, allow_nan=False) == json.dumps(d, allow_nan=False) or again == d
    assert "NaN" not in text


def test_reference_can_be_chosen():
    y, sa, sb = two_models(n=400, k=3, seed=13)
    r = compare(y, scores={"A": sa, "B": sb}, reference="B", n_resamples=100, seed=1)
    assert r.reference == "B" and r.pair().candidate == "A"
    assert r.pair().headline["macro.f1"].better == "reference"


def test_rows_that_do_not_match_are_refused():
    y = ["a", "b", "a", "c"]
    pa = pv.predictions_from_arrays(y, ["a", "b", "b", "c"])
    pb = pv.predictions_from_arrays(["a", "b", "c", "c"], ["a", "b", "a", "c"])
    from prevalens.compare import compare_predictions

    with pytest.raises(InputError, match=r"true label at row 3 \('a' against 'c'\)"):
        compare_predictions({"A": pa, "B": pb}, n_resamples=0)
    short = pv.predictions_from_arrays(y[:3], ["a", "b", "a"], labels=["a", "b", "c"])
    with pytest.raises(InputError, match="different rows"):
        compare_predictions({"A": pa, "B": short}, n_resamples=0)
    with pytest.raises(ConfigError, match="two or more models"):
        compare(y, {"A": ["a"] * 4})
    with pytest.raises(ConfigError, match="reference model 'C'"):
        compare(y, {"A": y, "B": y}, reference="C", n_resamples=0)


def test_point_only_without_resamples():
    y, sa, sb = two_models(n=300, k=3, seed=14)
    r = compare(y, scores={"A": sa, "B": sb}, n_resamples=0, seed=1)
    row = r.pair().headline["macro.f1"]
    assert math.isnan(row.difference.ci_low) and row.adjusted is None
    assert row.difference.estimate == pytest.approx(
        skm.f1_score(y, sb.argmax(1), average="macro")
        - skm.f1_score(y, sa.argmax(1), average="macro"),
        abs=1e-12,
    )


# ------------------------------------------------------------------------------------------------
# files and the command line


@pytest.fixture()
def files(tmp_path):
    """Two models' predictions in one file (a column set each) and in two files, the second in
    another row order."""
    import pandas as pd

    y, sa, sb = two_models(n=600, k=4, seed=21)
    labels = np.array(["ant", "bee", "cat", "dog"])
    base = pd.DataFrame({"row_id": np.arange(600) * 7, "y_true": labels[y]})
    a, b, one = base.copy(), base.copy(), base.copy()
    for i, lab in enumerate(labels):
        a[f"score_{lab}"], b[f"score_{lab}"] = sa[:, i], sb[:, i]
        one[f"old_{lab}"], one[f"new_{lab}"] = sa[:, i], sb[:, i]
    one["pred_old"], one["pred_new"] = labels[sa.argmax(1)], labels[sb.argmax(1)]
    a.to_csv(tmp_path / "old.csv", index=False)
    b.sample(frac=1, random_state=3).to_csv(tmp_path / "new.csv", index=False)
    one.to_csv(tmp_path / "both.csv", index=False)
    return tmp_path


def _numbers(d):
    return [
        (q, r["difference"]["estimate"], r["difference"]["ci_low"])
        for q, r in d["pairs"][0]["headline"].items()
    ]


def test_one_file_and_joined_files_give_the_same_comparison(files):
    from prevalens.cli import main

    common = ["--seed", "5", "--n-resamples", "200", "--quiet", "--format", "json,md,csv"]
    assert (
        main(
            [
                "compare",
                str(files / "old.csv"),
                str(files / "new.csv"),
                "--id",
                "row_id",
                "--out-dir",
                str(files / "a"),
                *common,
            ]
        )
        == 0
    )
    assert (
        main(
            [
                "compare",
                str(files / "both.csv"),
                "--model",
                "old=pred_old:old_",
                "--model",
                "new=pred_new:new_",
                "--out-dir",
                str(files / "b"),
                *common,
            ]
        )
        == 0
    )
    da = json.loads((files / "a" / "comparison.json").read_text())
    db = json.loads((files / "b" / "comparison.json").read_text())
    assert da["models"] == db["models"] == ["old", "new"]
    for (qa, ea, la), (qb, eb, lb) in zip(_numbers(da), _numbers(db)):
        assert qa == qb and ea == pytest.approx(eb, abs=1e-12) and la == pytest.approx(lb, abs=1e-9)
    import jsonschema

    jsonschema.validate(da, pv.load_comparison_schema())
    md = (files / "a" / "comparison.md").read_text()
    assert "| macro F1 |" in md and "new − old" in md
    csv_text = (files / "a" / "differences.csv").read_text()
    assert csv_text.splitlines()[0].startswith("reference,candidate,quantity")


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (
            lambda b: b.assign(row_id=b.row_id.where(b.index != 3, 99999)),
            "id 21 of .*old.csv is missing",
        ),
        (lambda b: b.drop(index=3), "new.csv has 599 rows and .*old.csv 600"),
        (
            lambda b: b.assign(row_id=b.row_id.where(b.index != 5, 0)),
            "id 0 in column 'row_id' appears twice",
        ),
        (
            lambda b: b.assign(y_true=b.y_true.where(b.row_id != 14, "dog")),
            "id 14 has true label 'dog'",
        ),
    ],
)
def test_files_that_do_not_match_are_refused_in_one_line(files, capsys, edit, message):
    import re

    import pandas as pd

    from prevalens.cli import main

    new = pd.read_csv(files / "new.csv")
    new = new.sort_values("row_id").reset_index(drop=True)
    new = edit(new)
    new.to_csv(files / "new.csv", index=False)
    code = main(
        [
            "compare",
            str(files / "old.csv"),
            str(files / "new.csv"),
            "--id",
            "row_id",
            "--out-dir",
            str(files / "out"),
            "--n-resamples",
            "0",
        ]
    )
    err = capsys.readouterr().err
    assert code == 2
    assert re.search(message, err), err
    assert len(err.strip().splitlines()) == 1
    assert not (files / "out").exists()


def test_cli_usage_errors(files, capsys):
    from prevalens.cli import main

    assert main(["compare", str(files / "old.csv")]) == 2
    assert "two or more files" in capsys.readouterr().err
    assert main(["compare", str(files / "both.csv"), "--model", "old"]) == 2
    assert "expected NAME=COLUMN" in capsys.readouterr().err
    assert (
        main(["compare", str(files / "old.csv"), str(files / "new.csv"), "--format", "docx"]) == 2
    )
    assert "compare writes json, md, csv, html, pdf, tex" in capsys.readouterr().err


def test_gates_on_differences_exit_1_and_report_for_ci(files, capsys):
    import xml.etree.ElementTree as ET

    from prevalens.cli import main

    junit = files / "ci" / "gates.xml"
    code = main(
        ["compare", str(files / "old.csv"), str(files / "new.csv"), "--id", "row_id",
         "--name", "old", "--name", "new", "--out-dir", str(files / "g"), "--seed", "1",
         "--n-resamples", "200", "--quiet", "--gate", "delta.macro.f1 >= -0.02",
         "--gate", "delta.macro.f1 >= 0.5", "--fail-on-regression",
         "--junit", str(junit), "--github-annotations"]
    )  # fmt: skip
    out, err = capsys.readouterr()
    assert code == 1
    assert "1 of 3 gates failed: delta.macro.f1 >= 0.5" in err
    assert out.count("::error") == 1 and out.count("::notice") == 2
    suite = ET.parse(junit).getroot().find("testsuite")
    assert suite.get("tests") == "3" and suite.get("failures") == "1"
    d = json.loads((files / "g" / "comparison.json").read_text())
    assert d["gates"]["n_failed"] == 1
    lo = d["pairs"][0]["headline"]["macro.f1"]["difference"]["ci_low"]
    passed = {g["spec"]: g["passed"] for g in d["gates"]["items"]}
    assert passed["delta.macro.f1 >= -0.02"] == (lo >= -0.02)


def test_gate_outputs_need_a_gate_and_audit_gates_are_refused(files, capsys):
    from prevalens.cli import main

    base = ["compare", str(files / "old.csv"), str(files / "new.csv"), "--id", "row_id",
            "--out-dir", str(files / "h"), "--n-resamples", "0"]  # fmt: skip
    assert main([*base, "--junit", str(files / "x.xml")]) == 2
    assert "--junit needs a --gate" in capsys.readouterr().err
    assert main([*base, "--gate", "macro.f1 >= 0.5"]) == 2
    assert "write 'delta.macro.f1 >= ...'" in capsys.readouterr().err
    assert not (files / "h").exists() and not (files / "x.xml").exists()


def test_clusters_are_respected():
    """Every row four times, the copies one cluster: the clustered intervals are those of the
    original rows (about), the ones that ignore the clusters are about half as wide."""
    y, sa, sb = two_models(n=500, k=4, seed=31)
    rep = np.repeat(np.arange(500), 4)
    once = compare(y, scores={"A": sa, "B": sb}, n_resamples=400, seed=1).pair()
    four = compare(
        y[rep], scores={"A": sa[rep], "B": sb[rep]}, cluster=rep, n_resamples=400, seed=1
    ).pair()
    naive = compare(y[rep], scores={"A": sa[rep], "B": sb[rep]}, n_resamples=400, seed=1).pair()
    for q in ("overall.accuracy", "macro.f1", "macro.roc_auc", "overall.log_loss"):

        def width(p, q=q):
            d = p.headline[q].difference
            return d.ci_high - d.ci_low

        assert four.headline[q].difference.estimate == pytest.approx(
            once.headline[q].difference.estimate, abs=1e-12
        )
        assert 0.8 < width(four) / width(once) < 1.25, q
        assert width(naive) / width(once) < 0.65, q
    assert "cluster" in four.headline["macro.f1"].test
