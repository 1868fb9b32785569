"""The results JSON: valid against the published schema, strict, a lossless round trip, and with
every key path of docs/design.md's "Output contract"."""

from __future__ import annotations

import hashlib
import json
import math
import re
import warnings
from datetime import UTC, datetime

import numpy as np
import pandas as pd
import pytest
from jsonschema import Draft202012Validator

import prevalens
from prevalens import AuditConfig, AuditResult, audit, audit_predictions, load_predictions
from prevalens.results import SCHEMA_ID

EST_KEYS = {"estimate", "ci_low", "ci_high", "se", "method", "status"}
EST_OPTIONAL = {"note", "undefined_fraction"}
LABEL_PER_CLASS = ("precision", "recall", "f1", "specificity", "npv", "jaccard", "prevalence")
AVERAGED = ("precision", "recall", "f1", "specificity", "jaccard")
OVERALL = ("accuracy", "balanced_accuracy", "cohen_kappa", "mcc")
SCORE_AVERAGED = ("roc_auc", "average_precision")
SCORE_OVERALL = ("roc_auc_ovo",)


def quiet(fn, *args, **kwargs):
    """Call ``fn`` with prevalens' expected warnings (undefined metrics, non-probability scores)
    silenced: these tests are about the result's shape, not the warnings."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", prevalens.PrevalensWarning)
        return fn(*args, **kwargs)


# --------------------------------------------------------------------------------------------
# a handful of results covering the shapes the JSON must hold


def _probabilities(n, k, seed):
    return np.random.default_rng(seed).dirichlet(np.ones(k), n)


def result_str_labels_with_scores():
    rng = np.random.default_rng(0)
    labels = np.array(["ant", "bee", "cat", "dog"])
    y_true = labels[rng.integers(0, 4, 60)]
    proba = _probabilities(60, 4, 1)
    return quiet(audit, y_true, y_score=proba, labels=list(labels), n_resamples=0, seed=7)


def result_int_labels_no_scores():
    rng = np.random.default_rng(2)
    y_true = rng.integers(0, 6, 80)
    y_pred = np.where(rng.random(80) < 0.7, y_true, rng.integers(0, 6, 80))
    return quiet(audit, y_true, y_pred, n_resamples=0, seed=11)


def result_undefined_metrics():
    # 'c' is never predicted (precision 0/0), 'z' is only in labels= (support 0).
    return quiet(
        audit,
        ["a", "a", "b", "c"],
        ["a", "b", "b", "b"],
        labels=["a", "b", "c", "z"],
        n_resamples=0,
        seed=3,
    )


def result_not_probabilities():
    y_true = [0, 1, 2, 3, 4, 5, 0, 1, 2, 3, 4, 5]
    scores = np.arange(72, dtype=float).reshape(12, 6) % 7  # non-negative, rows not summing to 1
    return quiet(audit, y_true, y_score=scores, n_resamples=0, seed=5)


def result_from_example_file():
    from prevalens.data import example_path

    pred = load_predictions(example_path())
    return quiet(audit_predictions, pred, AuditConfig(n_resamples=0, seed=20261125))


def result_with_clusters():
    return quiet(
        audit,
        ["a", "b", "a", "b", "a"],
        ["a", "b", "b", "b", "a"],
        cluster=["p1", "p1", "p2", "p3", "p3"],
        n_resamples=0,
        seed=1,
    )


RESULTS = {
    "str-scores": result_str_labels_with_scores,
    "int-no-scores": result_int_labels_no_scores,
    "undefined": result_undefined_metrics,
    "not-probabilities": result_not_probabilities,
    "example-file": result_from_example_file,
    "clusters": result_with_clusters,
}


@pytest.fixture(scope="module")
def results():
    return {name: make() for name, make in RESULTS.items()}


@pytest.fixture(scope="module")
def validator():
    schema = prevalens.load_schema()
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema)


def _errors(validator, doc):
    return [
        f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(doc)
    ]


def _estimates(d):
    """Every EST object of a results dict, with its key path."""
    for i, c in enumerate(d["per_class"]):
        for name, e in c["metrics"].items():
            yield f"per_class[{i}].metrics.{name}", e
    for avg, block in d["averages"].items():
        for name, e in block.items():
            yield f"averages.{avg}.{name}", e
    for name, e in d["overall"].items():
        yield f"overall.{name}", e


def _raise_on_constant(token):
    raise ValueError(f"non-standard JSON token {token}")


# --------------------------------------------------------------------------------------------
# the schema


def test_schema_is_a_valid_2020_12_schema_with_our_id():
    schema = prevalens.load_schema()
    Draft202012Validator.check_schema(schema)
    assert schema["$id"] == SCHEMA_ID == "prevalens.audit/1"
    assert schema["properties"]["schema"] == {"const": SCHEMA_ID}


@pytest.mark.parametrize("name", RESULTS)
def test_to_dict_validates_against_schema(results, validator, name):
    d = results[name].to_dict()
    assert _errors(validator, d) == []
    # ... and so does the JSON text parsed back.
    assert _errors(validator, json.loads(results[name].to_json())) == []


def test_schema_rejects_broken_results(results, validator):
    d = results["str-scores"].to_dict()
    broken = json.loads(json.dumps(d))
    del broken["per_class"][0]["metrics"]["recall"]["ci_low"]
    assert _errors(validator, broken)
    broken = json.loads(json.dumps(d))
    broken["overall"]["accuracy"]["status"] = "fine"
    assert _errors(validator, broken)
    broken = json.loads(json.dumps(d))
    broken["schema"] = "prevalens.audit/0"
    assert _errors(validator, broken)


# --------------------------------------------------------------------------------------------
# JSON: strict, round trip, deterministic


@pytest.mark.parametrize("name", RESULTS)
def test_json_round_trip(results, name):
    result = results[name]
    text = result.to_json()
    back = AuditResult.from_json(text)
    assert back == result
    assert back.to_json() == text
    assert AuditResult.from_dict(result.to_dict()) == result
    # Labels keep their type (int stays int, str stays str) through JSON.
    assert [type(c) for c in back.classes] == [type(c) for c in result.classes]


@pytest.mark.parametrize("name", RESULTS)
def test_json_is_strict(results, name):
    text = results[name].to_json()
    json.loads(text, parse_constant=_raise_on_constant)  # no NaN / Infinity tokens
    assert text.endswith("\n")
    compact = results[name].to_json(indent=None)
    json.loads(compact, parse_constant=_raise_on_constant)
    assert compact.count("\n") == 1


def test_undefined_values_are_null_with_status(results):
    d = results["undefined"].to_dict()
    c = next(pc for pc in d["per_class"] if pc["label"] == "c")
    precision = c["metrics"]["precision"]
    assert precision["estimate"] is None and precision["status"] == "undefined"
    assert precision["note"]  # says why (never predicted)
    z = next(pc for pc in d["per_class"] if pc["label"] == "z")
    assert z["support"] == 0 and z["prevalence"] == 0.0
    assert z["metrics"]["recall"]["estimate"] is None
    assert z["metrics"]["recall"]["status"] == "undefined"
    # Hand-checkable values: y_true a a b c, y_pred a b b b.
    a = d["per_class"][0]
    assert a["label"] == "a" and a["metrics"]["recall"]["estimate"] == 0.5
    assert a["metrics"]["precision"]["estimate"] == 1.0
    assert d["overall"]["accuracy"]["estimate"] == 0.5
    assert d["data"]["confusion_matrix"] == [[1, 1, 0, 0], [0, 1, 0, 0], [0, 1, 0, 0], [0, 0, 0, 0]]


def test_not_probabilities_json(results):
    d = results["not-probabilities"].to_dict()
    assert d["data"]["has_scores"] is True
    assert d["data"]["scores_are_probabilities"] is False
    for name in ("log_loss", "brier"):
        assert d["overall"][name]["estimate"] is None
        assert d["overall"][name]["status"] == "undefined"
    assert d["overall"]["roc_auc_ovo"]["status"] == "no_interval"  # defined; n_resamples=0


def test_identical_inputs_and_seed_give_identical_bytes(monkeypatch):
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1700000000")
    a = result_str_labels_with_scores().to_json()
    b = result_str_labels_with_scores().to_json()
    assert a == b


def test_from_dict_refuses_another_schema(results):
    d = results["int-no-scores"].to_dict()
    d["schema"] = "prevalens.audit/99"
    with pytest.raises(
        prevalens.InputError,
        match=r"^results have schema 'prevalens.audit/99', "
        r"expected 'prevalens.audit/1'; re-run `prevalens audit`",
    ):
        AuditResult.from_dict(d)


# --------------------------------------------------------------------------------------------
# key paths of docs/design.md's output contract


@pytest.mark.parametrize("name", RESULTS)
def test_output_contract_key_paths(results, name):
    result = results[name]
    d = result.to_dict()
    assert {
        "schema",
        "tool",
        "run",
        "inputs",
        "data",
        "per_class",
        "averages",
        "overall",
        "strata",
        "gap",
        "trend",
        "findings",
    } <= set(d)
    assert d["schema"] == SCHEMA_ID
    assert d["tool"] == {"name": "prevalens", "version": prevalens.__version__}
    assert {
        "created_utc",
        "seed",
        "n_resamples",
        "confidence_level",
        "interval_method",
        "resampling",
        "command",
        "config",
    } <= set(d["run"])
    for info in d["inputs"]:
        assert set(info) == {"path", "sha256", "rows"}
    data = d["data"]
    assert data["task"] == "multiclass"
    assert data["n_samples"] == int(np.sum(data["confusion_matrix"]))
    assert data["classes"] == list(result.classes)
    assert data["n_classes"] == len(data["classes"])

    k = len(data["classes"])
    has_scores = data["has_scores"]
    assert [c["label"] for c in d["per_class"]] == data["classes"]
    for c in d["per_class"]:
        assert {
            "label",
            "support",
            "prevalence",
            "predicted",
            "stratum",
            "flags",
            "metrics",
        } <= set(c)
        assert c["prevalence"] == pytest.approx(c["support"] / data["n_samples"], abs=1e-15)
        expected = LABEL_PER_CLASS + (SCORE_AVERAGED if has_scores else ())
        assert set(expected) <= set(c["metrics"])
        if not has_scores:
            assert not set(SCORE_AVERAGED) & set(c["metrics"])
    assert sum(c["support"] for c in d["per_class"]) == data["n_samples"]
    assert sum(c["predicted"] for c in d["per_class"]) == data["n_samples"]

    assert set(d["averages"]) == {"micro", "macro", "weighted"}
    for avg in ("micro", "macro", "weighted"):
        assert set(AVERAGED + (SCORE_AVERAGED if has_scores else ())) <= set(d["averages"][avg])
    assert set(OVERALL) <= set(d["overall"])
    if has_scores:
        assert set(SCORE_OVERALL + ("log_loss", "brier")) <= set(d["overall"])
        for kk in (3, 5):
            assert (f"top_{kk}_accuracy" in d["overall"]) == (k > kk)
    else:
        assert "roc_auc_ovo" not in d["overall"] and "log_loss" not in d["overall"]

    for path, e in _estimates(d):
        assert EST_KEYS <= set(e) <= EST_KEYS | EST_OPTIONAL, path
        assert e["status"] in prevalens.results.STATUSES, path
        # "ok" always comes with both bounds
        assert e["status"] != "ok" or (e["ci_low"] is not None and e["ci_high"] is not None), path
        assert (e["estimate"] is None) == (e["status"] == "undefined"), path


def test_dict_numbers_equal_the_objects(results):
    result = results["str-scores"]
    d = result.to_dict()
    for c, dc in zip(result.per_class, d["per_class"]):
        for name, e in c.metrics.items():
            assert dc["metrics"][name]["estimate"] == e.estimate
    for avg in ("micro", "macro", "weighted"):
        for name, e in result.averages[avg].items():
            assert d["averages"][avg][name]["estimate"] == e.estimate
    # micro-F1 equals accuracy for single-label data, also after serialisation.
    assert d["averages"]["micro"]["f1"]["estimate"] == pytest.approx(
        d["overall"]["accuracy"]["estimate"], abs=1e-12
    )


def test_labels_are_json_integers_or_strings(results):
    int_d = json.loads(results["int-no-scores"].to_json())
    assert all(type(c) is int for c in int_d["data"]["classes"])
    assert all(type(c["label"]) is int for c in int_d["per_class"])
    str_d = json.loads(results["str-scores"].to_json())
    assert str_d["data"]["classes"] == ["ant", "bee", "cat", "dog"]


def test_inputs_record_file_hash_and_rows(results):
    from prevalens.data import example_path

    d = results["example-file"].to_dict()
    (info,) = d["inputs"]
    path = example_path()
    assert info["path"] == str(path)
    assert info["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
    assert info["rows"] == len(pd.read_csv(path)) == d["data"]["n_samples"]


def test_in_memory_inputs_have_null_path_and_hash(results):
    (info,) = results["int-no-scores"].to_dict()["inputs"]
    assert info == {"path": None, "sha256": None, "rows": 80}


def test_clusters_recorded(results):
    d = results["clusters"].to_dict()
    assert d["data"]["n_clusters"] == 3
    assert d["run"]["resampling"] == "cluster"


# --------------------------------------------------------------------------------------------
# per_class_frame


@pytest.mark.parametrize("name", ["str-scores", "int-no-scores", "undefined"])
def test_per_class_frame(results, name):
    result = results[name]
    frame = result.per_class_frame()
    assert isinstance(frame, pd.DataFrame)
    assert len(frame) == len(result.classes)
    assert frame["label"].tolist() == list(result.classes)
    assert frame["support"].tolist() == [c.support for c in result.per_class]
    for metric in result.per_class[0].metrics:
        np.testing.assert_array_equal(
            frame[metric].to_numpy(dtype=float), result.per_class_values(metric)
        )
        assert frame[f"{metric}_status"].tolist() == [
            c.metrics[metric].status for c in result.per_class
        ]
        assert {f"{metric}_ci_low", f"{metric}_ci_high"} <= set(frame.columns)


# --------------------------------------------------------------------------------------------
# run information: intervals, seed, time


@pytest.mark.parametrize("name", RESULTS)
def test_n_resamples_zero_gives_null_intervals(results, name):
    d = results[name].to_dict()
    assert d["run"]["n_resamples"] == 0
    assert d["run"]["interval_method"] == "none"
    for path, e in _estimates(d):
        assert e["ci_low"] is None and e["ci_high"] is None and e["se"] is None, path
        assert e["method"] is None, path


def test_given_seed_is_recorded(results):
    d = results["int-no-scores"].to_dict()
    assert d["run"]["seed"] == 11
    assert d["run"]["config"]["seed"] == 11
    assert d["run"]["config"]["n_resamples"] == 0


def test_seed_none_draws_and_records_a_seed(monkeypatch):
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1700000000")
    y_true, y_pred = [0, 1, 1, 2, 2, 2], [0, 1, 2, 2, 2, 1]
    first = audit(y_true, y_pred, n_resamples=0, seed=None)
    second = audit(y_true, y_pred, n_resamples=0, seed=None)
    for r in (first, second):
        assert isinstance(r.run.seed, int) and r.run.seed >= 0
        assert r.run.config["seed"] == r.run.seed
    assert first.run.seed != second.run.seed  # drawn from the OS (a clash has odds ~2**-63)
    # The recorded seed reproduces the run exactly.
    again = audit(y_true, y_pred, n_resamples=0, seed=first.run.seed)
    assert again.to_json() == first.to_json()


def test_source_date_epoch_fixes_created_utc(monkeypatch):
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1700000000")
    r = audit([0, 1, 1], [0, 1, 0], n_resamples=0, seed=0)
    expected = datetime.fromtimestamp(1700000000, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert r.run.created_utc == expected == "2023-11-14T22:13:20Z"
    assert r.to_dict()["run"]["created_utc"] == expected


def test_created_utc_is_now_without_source_date_epoch(monkeypatch):
    monkeypatch.delenv("SOURCE_DATE_EPOCH", raising=False)
    before = datetime.now(UTC).replace(microsecond=0)
    r = audit([0, 1, 1], [0, 1, 0], n_resamples=0, seed=0)
    after = datetime.now(UTC)
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", r.run.created_utc)
    when = datetime.strptime(r.run.created_utc, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    assert before <= when <= after


def test_bad_source_date_epoch_is_a_config_error(monkeypatch):
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "yesterday")
    with pytest.raises(prevalens.ConfigError, match="SOURCE_DATE_EPOCH must be a whole number"):
        audit([0, 1, 1], [0, 1, 0], n_resamples=0, seed=0)


def test_estimate_refuses_unknown_status():
    with pytest.raises(ValueError, match="`status` must be one of"):
        prevalens.Estimate(0.5, status="fine")


def test_estimate_nan_equality_and_dict():
    e = prevalens.Estimate(math.nan, status="undefined", note="never predicted")
    assert e == prevalens.Estimate.from_dict(e.to_dict())
    assert e.to_dict() == {
        "estimate": None,
        "ci_low": None,
        "ci_high": None,
        "se": None,
        "method": None,
        "status": "undefined",
        "note": "never predicted",
    }
    assert not e.defined


# --------------------------------------------------------------------------------------------
# with intervals (once the interval engine, prevalens.uncertainty, exists)


def test_results_with_intervals_validate_and_round_trip(validator, monkeypatch):
    pytest.importorskip("prevalens.uncertainty")
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1700000000")
    rng = np.random.default_rng(4)
    y_true = rng.integers(0, 4, 120)
    y_pred = np.where(rng.random(120) < 0.75, y_true, rng.integers(0, 4, 120))
    proba = _probabilities(120, 4, 5)
    result = quiet(audit, y_true, y_pred, y_score=proba, n_resamples=200, seed=9)
    d = result.to_dict()
    assert _errors(validator, d) == []
    json.loads(result.to_json(), parse_constant=_raise_on_constant)
    assert AuditResult.from_json(result.to_json()) == result
    assert d["run"]["n_resamples"] == 200 and d["run"]["seed"] == 9
    n_intervals = 0
    for path, e in _estimates(d):
        if e["ci_low"] is not None and e["ci_high"] is not None:
            n_intervals += 1
            assert e["ci_low"] <= e["ci_high"], path
            assert e["method"], path
    assert n_intervals > 0
    # Same seed, same bytes.
    assert (
        quiet(audit, y_true, y_pred, y_score=proba, n_resamples=200, seed=9).to_json()
        == result.to_json()
    )
