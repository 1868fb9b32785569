"""The library surface of issue 10: typed results, one declaration of every option, the whole job
as a library call, and the defects fixed on the way (each test fails on the previous code)."""

from __future__ import annotations

import dataclasses
import inspect
import json
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import prevalens as pv
from prevalens import options as O
from prevalens.cli import main as cli_main
from prevalens.data import example_path
from prevalens.results import (
    DivergenceResult,
    FamilyInfo,
    Finding,
    GapResult,
    StrataComparison,
    StrataDefinition,
    StratumResult,
    TrendResult,
)


def quiet(fn, *args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", pv.PrevalensWarning)
        return fn(*args, **kwargs)


@pytest.fixture(scope="module")
def example_result():
    pred = pv.load_predictions(example_path())
    return quiet(pv.audit_predictions, pred, n_resamples=200, seed=3)


# ------------------------------------------------------------------------------------------------
# typed results


def test_results_are_typed_and_round_trip(example_result):
    r = example_result
    assert all(isinstance(s, StratumResult) for s in r.strata)
    assert all(isinstance(g, GapResult) for g in r.gap.values())
    assert all(isinstance(t, TrendResult) for t in r.trend.values())
    assert all(isinstance(f, Finding) for f in r.findings)
    assert all(isinstance(x, DivergenceResult) for x in r.divergence)
    assert all(isinstance(c, StrataComparison) for c in r.comparisons)
    assert isinstance(r.strata_definition, StrataDefinition)
    assert isinstance(r.family, FamilyInfo) and r.family.size > 0
    assert isinstance(r.gap["recall"].macro_minus_micro, pv.Estimate)
    # frozen: a result cannot be changed behind the report's back
    with pytest.raises(dataclasses.FrozenInstanceError):
        r.strata[0].support = 0
    back = pv.AuditResult.from_dict(json.loads(r.to_json()))
    assert back == r
    assert back.to_json() == r.to_json()


def test_typed_views_agree_with_the_json(example_result):
    r, d = example_result, example_result.to_dict()
    assert [s.name for s in r.strata] == [s["name"] for s in d["strata"]]
    assert r.strata[0].n_classes == d["strata"][0]["n_classes"]
    assert r.gap["recall"].macro_minus_micro.to_dict() == d["gap"]["recall"]["macro_minus_micro"]
    assert (
        r.trend["f1"].slope_per_decade.estimate == d["trend"]["f1"]["slope_per_decade"]["estimate"]
    )
    assert [f.id for f in r.findings] == [f["id"] for f in d["findings"]]
    rows = [x for x in r.divergence if x.diverges]
    assert {x.label for x in rows} == {c.label for c in r.per_class if "diverges" in c.flags}


def test_per_class_frame_puts_prevalence_interval_beside_it(example_result):
    frame = example_result.per_class_frame()
    cols = list(frame.columns)
    i = cols.index("prevalence")
    assert cols[i + 1 : i + 4] == ["prevalence_ci_low", "prevalence_ci_high", "prevalence_status"]
    assert cols[:3] == ["label", "support", "prevalence"]
    # every interval is right of its estimate
    for m in ("recall", "precision", "f1"):
        assert cols.index(f"{m}_ci_low") == cols.index(m) + 1


# ------------------------------------------------------------------------------------------------
# one declaration of every option


def test_every_audit_config_field_is_a_keyword_of_audit():
    fields = [f.name for f in dataclasses.fields(pv.AuditConfig)]
    for fn in (pv.audit, pv.audit_predictions):
        params = inspect.signature(fn).parameters
        assert set(fields) <= set(params), set(fields) - set(params)
        assert all(params[f].kind is inspect.Parameter.KEYWORD_ONLY for f in fields)
        assert all(params[f].default == getattr(pv.AuditConfig(), f) for f in fields)
    for f in fields:
        assert f"{f} :" in pv.audit.__doc__, f


def test_every_option_has_a_flag_and_a_toml_key(tmp_path):
    from prevalens.cli import _parser

    parser = _parser()
    audit = next(
        a for a in parser._subparsers._group_actions[0].choices.values() if a.prog.endswith("audit")
    )
    flags = {s for a in audit._actions for s in a.option_strings}
    for o in O.OPTIONS:
        if o.key != "input":
            assert o.cli_flag in flags, o.key
    from prevalens.config import Source, normalise_table

    table = {o.key: o.default for o in O.OPTIONS if o.default not in (None, ())}
    assert set(normalise_table(table, Source("t.toml", tmp_path))) == set(table)


def test_unknown_option_names_the_closest():
    with pytest.raises(
        pv.ConfigError, match=r"unknown option `n_resample`; did you mean 'n_resamples'"
    ):
        pv.audit([0, 1, 0, 1], [0, 1, 1, 1], n_resample=10)


def test_gate_without_an_average_is_refused_when_declared():
    # NPV has no average: refused at declaration, not when the gate is evaluated
    with pytest.raises(pv.ConfigError, match="unknown metric 'npv' for macro"):
        pv.AuditConfig(gates=("macro.npv >= 0.5",))


def test_config_options_override_and_validate():
    cfg = pv.AuditConfig(n_resamples=0, seed=1)
    r = quiet(pv.audit, [0, 1, 0, 1, 1], [0, 1, 1, 1, 1], config=cfg, min_support=1)
    assert r.run.config["min_support"] == 1 and r.run.n_resamples == 0
    with pytest.raises(pv.ConfigError, match="`config` must be an AuditConfig"):
        pv.audit([0, 1], [0, 1], config={"n_resamples": 0})


# ------------------------------------------------------------------------------------------------
# the whole job from Python


def test_gates_and_baseline_from_the_api(tmp_path, example_result):
    path = tmp_path / "old.json"
    path.write_text(example_result.to_json(), "utf-8")
    pred = pv.load_predictions(example_path())
    r = quiet(
        pv.audit_predictions,
        pred,
        n_resamples=200,
        seed=3,
        gates=("micro.f1 >= 0.5", "macro.recall >= 0.99"),
        baseline=str(path),
    )
    assert [g["passed"] for g in r.gates["items"]] == [True, False]
    assert r.passed is False
    assert r.baseline["path"] == str(path) and not r.baseline["inputs_changed"]
    assert all(i["difference"]["estimate"] == 0 for i in r.baseline["items"])
    assert {i["change"] for i in r.baseline["items"]} <= {"no evidence", None}
    # the same from an in-memory result
    again = example_result.with_baseline(example_result).with_gates(["micro.f1 >= 0.5"])
    assert again.passed is True and again.baseline["items"] == r.baseline["items"]


def test_run_audit_writes_what_the_cli_writes(tmp_path, monkeypatch):
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1700000000")
    args = [
        "--seed",
        "5",
        "--n-resamples",
        "100",
        "--format",
        "json,md",
        "--gate",
        "micro.f1 >= 0.5",
    ]
    assert (
        quiet(
            cli_main, ["audit", "--example", "--out-dir", str(tmp_path / "cli"), *args, "--quiet"]
        )
        == 0
    )
    run = quiet(
        pv.run_audit,
        example=True,
        out_dir=str(tmp_path / "api"),
        seed=5,
        n_resamples=100,
        format=["json", "md"],
        gates=["micro.f1 >= 0.5"],
    )
    assert run.exit_code == 0 and run.passed is True
    assert sorted(p.name for p in run.written) == ["results.json", "summary.md"]
    cli = json.loads((tmp_path / "cli" / "results.json").read_text())
    api = json.loads((tmp_path / "api" / "results.json").read_text())
    for d in (cli, api):
        d["run"]["command"] = None
        d["run"]["config"]["out_dir"] = None
    assert cli == api
    assert (tmp_path / "cli" / "summary.md").read_bytes() == (
        tmp_path / "api" / "summary.md"
    ).read_bytes()


def test_render_and_write_from_python(tmp_path, example_result):
    files = pv.render(example_result, ["json", "md", "csv"])
    assert sorted(files) == [
        "calibration.csv",  # the example's scores are probabilities
        "calibration_bins.csv",
        "headline.csv",
        "per_class.csv",
        "results.json",
        "summary.md",
    ]
    assert files["results.json"] == example_result.to_json().encode()
    written = pv.write(example_result, tmp_path / "out", ["md"])
    assert [p.name for p in written] == ["summary.md"]
    assert written[0].read_bytes() == files["summary.md"]
    with pytest.raises(pv.ConfigError, match="unknown format"):
        pv.render(example_result, ["docx"])


def test_read_results_validates_always(tmp_path, example_result):
    good = tmp_path / "r.json"
    good.write_text(example_result.to_json(), "utf-8")
    result, path, sha = pv.read_results(good)
    assert result == example_result and len(sha) == 64
    d = example_result.to_dict()
    d["per_class"][0]["support"] = "many"
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(d), "utf-8")
    with pytest.raises(
        pv.InputError, match="does not follow the results schema at per_class/0/support"
    ):
        pv.read_results(bad)


# ------------------------------------------------------------------------------------------------
# defects


def test_confusion_matrix_refuses_codes_out_of_range():
    with pytest.raises(
        pv.InputError, match=r"`y_pred` holds the class code 2 at position 0, outside 0..1"
    ):
        pv.confusion_matrix([0, 1], [2, 1], 2)
    with pytest.raises(pv.InputError, match=r"`y_true` holds the class code -1"):
        pv.confusion_matrix([0, -1], [0, 1], 2)
    np.testing.assert_array_equal(pv.confusion_matrix([0, 1], [1, 1], 2), [[0, 1], [0, 1]])


def test_list_typed_labels_are_refused(tmp_path):
    path = tmp_path / "lists.parquet"
    pq.write_table(
        pa.table({"y_true": pa.array([[0], [1], [0]]), "y_pred": pa.array([[0], [1], [1]])}), path
    )
    with pytest.raises(
        pv.InputError,
        match=r"column 'y_true' holds a ndarray at row 1 .*labels "
        r"must be single strings or integers",
    ):
        pv.load_predictions(path)
    with pytest.raises(pv.InputError, match="holds a list"):
        pv.load_predictions(pd.DataFrame({"y_true": [[0], [1]], "y_pred": [0, 1]}))


def test_cli_gate_adds_to_the_config_files_gates(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    Path("audit.toml").write_text(
        'gates = ["micro.f1 >= 0.5"]\nn_resamples = 0\nformat = ["json"]\ngate_on = "estimate"\n'
    )
    code = quiet(
        cli_main,
        [
            "audit",
            "--example",
            "--config",
            "audit.toml",
            "--out-dir",
            "o",
            "--gate",
            "macro.f1 >= 0.99",
            "--quiet",
        ],
    )
    d = json.loads(Path("o/results.json").read_text())
    assert [g["spec"] for g in d["gates"]["items"]] == ["micro.f1 >= 0.5", "macro.f1 >= 0.99"]
    assert code == 1  # the added gate fails; the file's still counts
