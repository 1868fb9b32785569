"""Calibration by model in a comparison (descriptive, no paired test): the comparison's
``calibration`` block holds each model's classwise and top-label ECE and its strata exactly as
the model's own audit computed them, is absent when no model has probabilities, validates
against the schema (strictly), ``calibration_by_model.csv`` and ``comparison.md`` carry the same
numbers, and the report's "Calibration by model" section shows them formatted.

The data: a known-posterior problem (``tests/calibration_sims.py``), one draw at temperature 1
(calibrated) and, on the same rows, its probabilities sharpened by a temperature (over-confident).
"""

from __future__ import annotations

import copy
import csv
import io
import json
import sys
from html import unescape as html_unescape

import jsonschema
import numpy as np
import pytest

import prevalens as pv
from prevalens.comparison import CALIBRATION_NOTE, CalibrationByModel
from prevalens.comparison_exports import (
    CALIBRATION_BOUNDS,
    CALIBRATION_CSV_COLUMNS,
    calibration_by_model_csv,
    comparison_markdown,
)
from prevalens.exports import fmt_marked
from prevalens.report.compare_model import build_comparison_model

sys.path.insert(0, "tests")
from calibration_sims import Model  # noqa: E402

pytestmark = [pytest.mark.filterwarnings("ignore::prevalens.UndefinedMetricWarning")]

PRIOR = np.array([0.4, 0.25, 0.15, 0.1, 0.05, 0.03, 0.02])
LABELS = np.array(["a", "b", "c", "d", "e", "f", "g"])
OPTIONS = {"n_resamples": 200, "seed": 11}


def _sharpen(scores, temperature):
    logits = np.log(scores) * temperature
    logits -= logits.max(axis=1, keepdims=True)
    e = np.exp(logits)
    return e / e.sum(axis=1, keepdims=True)


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(2024)
    y, scores, _ = Model(PRIOR, mu=2.0, temperature=1.0).draw(2500, rng)
    return LABELS[y], scores, _sharpen(scores, 1.7)


@pytest.fixture(scope="module")
def result(data):
    y, cal, hot = data
    return pv.compare(y, scores={"calibrated": cal, "hot": hot}, labels=list(LABELS), **OPTIONS)


@pytest.fixture(scope="module")
def d(result):
    return result.to_dict()


def test_values_are_each_models_audit_calibration(data, result, d):
    assert result.calibration is not None
    assert list(result.calibration.models) == ["calibrated", "hot"]
    for name in ("calibrated", "hot"):
        own = result.audits[name].calibration
        assert own is not None
        block = d["calibration"]["models"][name]
        assert block == {
            "classwise_ece": own.classwise_ece.to_dict(),
            "top_label_ece": own.top_label_ece.to_dict(),
            "strata": [s.to_dict() for s in own.strata],
        }
        assert "per_class" not in block
    # a model's own audit on its own gives the same estimates
    y, cal, _ = data
    alone = pv.audit(y, y_score=cal, labels=list(LABELS), **OPTIONS).calibration
    block = d["calibration"]["models"]["calibrated"]
    assert block["classwise_ece"]["estimate"] == pytest.approx(alone.classwise_ece.estimate)
    assert block["top_label_ece"]["estimate"] == pytest.approx(alone.top_label_ece.estimate)
    for got, want in zip(block["strata"], alone.strata, strict=True):
        assert got["stratum"] == want.stratum
        for q in ("ece", "intercept", "slope"):
            assert got[q]["estimate"] == pytest.approx(getattr(want, q).estimate)
    # the sharpened model is over-confident: its mean slopes are below 1, the calibrated's not
    hot = d["calibration"]["models"]["hot"]
    assert all(s["slope"]["ci_high"] < 1 for s in hot["strata"] if s["n_used"])
    assert hot["classwise_ece"]["estimate"] > block["classwise_ece"]["estimate"]
    assert d["calibration"]["note"] == CALIBRATION_NOTE
    assert "not tested" in CALIBRATION_NOTE and "Brier" in CALIBRATION_NOTE


def test_round_trip(d, result):
    back = CalibrationByModel.from_dict(json.loads(json.dumps(d["calibration"])))
    assert back == result.calibration
    assert back.to_dict() == d["calibration"]


def test_schema_strict(d):
    schema = pv.load_comparison_schema()
    jsonschema.validate(d, schema)
    assert "calibration" in schema["properties"]
    for edit in (
        lambda x: x["calibration"].update(extra=1),
        lambda x: x["calibration"]["models"]["hot"].update(per_class=[]),
        lambda x: x["calibration"]["models"]["hot"]["strata"][0].pop("slope"),
        lambda x: x["calibration"].pop("note"),
        lambda x: x["calibration"].update(models={}),
    ):
        bad = copy.deepcopy(d)
        edit(bad)
        with pytest.raises(jsonschema.ValidationError):
            jsonschema.validate(bad, schema)


def test_absent_without_probabilities(data):
    y, cal, hot = data
    preds = {"A": LABELS[cal.argmax(1)], "B": LABELS[hot.argmax(1)]}
    r = pv.compare(y, preds, n_resamples=0, seed=1)
    d = r.to_dict()
    assert r.calibration is None and "calibration" not in d
    jsonschema.validate(d, pv.load_comparison_schema())
    assert calibration_by_model_csv(d).decode().splitlines() == [",".join(CALIBRATION_CSV_COLUMNS)]
    assert "Calibration by model" not in comparison_markdown(d)
    model = build_comparison_model(d, figures={})
    assert "compare-calibration" not in [s.id for s in model.sections]


def test_only_the_models_with_probabilities(data):
    y, cal, hot = data
    r = pv.compare(
        y,
        {"labels_only": LABELS[hot.argmax(1)]},
        scores={"calibrated": cal},
        labels=list(LABELS),
        n_resamples=0,
        seed=1,
    )
    d = r.to_dict()
    assert list(d["calibration"]["models"]) == ["calibrated"]
    jsonschema.validate(d, pv.load_comparison_schema())
    model = build_comparison_model(d, figures={})
    (section,) = [s for s in model.sections if s.id == "compare-calibration"]
    assert "labels_only has no calibration here" in section.get("explanation").text


def _csv_rows(d):
    return list(csv.DictReader(io.StringIO(calibration_by_model_csv(d).decode("utf-8"))))


def test_csv_equals_the_result(d):
    rows = _csv_rows(d)
    want = []
    for name, m in d["calibration"]["models"].items():
        want += [(name, "", "classwise_ece", m["classwise_ece"])]
        want += [(name, "", "top_label_ece", m["top_label_ece"])]
        for s in m["strata"]:
            want += [(name, s["stratum"], q, s[q]) for q in ("ece", "intercept", "slope")]
    assert len(rows) == len(want)
    for row, (name, stratum, q, e) in zip(rows, want, strict=True):
        assert (row["model"], row["stratum"], row["quantity"]) == (name, stratum, q)
        for k in ("estimate", "ci_low", "ci_high"):
            assert (float(row[k]) if row[k] else None) == e[k]
        assert row["status"] == e["status"]


def test_markdown_section(d):
    md = comparison_markdown(d)
    assert "### Calibration by model" in md
    hot = d["calibration"]["models"]["hot"]
    assert fmt_marked(hot["classwise_ece"], bounds=CALIBRATION_BOUNDS["classwise_ece"]) in md
    s = hot["strata"][0]
    assert fmt_marked(s["slope"], bounds=CALIBRATION_BOUNDS["slope"]) in md
    assert CALIBRATION_NOTE in md


def test_report_section_renders_the_formatted_values(d):
    from prevalens.report.render import render_comparison

    model = build_comparison_model(d, figures={})
    ids = [s.id for s in model.sections]
    assert "compare-calibration" in ids
    assert ids.index("compare-calibration") > ids.index("compare-headline")
    html = html_unescape(render_comparison(d, formats=("html",))["comparison.html"].decode())
    start = html.index('<section id="compare-calibration"')
    part = html[start : html.index("</section>", start)]
    assert CALIBRATION_NOTE in part
    for name, m in d["calibration"]["models"].items():
        assert name in part
        for q in ("classwise_ece", "top_label_ece"):
            est, _, ci = fmt_marked(m[q], bounds=CALIBRATION_BOUNDS[q]).partition(" ")
            assert est in part and ci in part
        for s in m["strata"]:
            assert s["stratum"] in part
            for q in ("ece", "intercept", "slope"):
                est, _, ci = fmt_marked(s[q], bounds=CALIBRATION_BOUNDS[q]).partition(" ")
                assert est in part and ci in part


def test_cli_writes_calibration_by_model_csv(data, tmp_path):
    import pandas as pd

    from prevalens.cli import main

    y, cal, hot = data
    frame = pd.DataFrame({"y_true": y})
    for i, lab in enumerate(LABELS):
        frame[f"cal_{lab}"], frame[f"hot_{lab}"] = cal[:, i], hot[:, i]
    frame["pred_cal"], frame["pred_hot"] = LABELS[cal.argmax(1)], LABELS[hot.argmax(1)]
    frame.to_csv(tmp_path / "both.csv", index=False)
    args = ["compare", str(tmp_path / "both.csv"), "--model", "cal=pred_cal:cal_"]
    args += ["--model", "hot=pred_hot:hot_", "--out-dir", str(tmp_path / "out")]
    args += ["--seed", "3", "--n-resamples", "100", "--quiet", "--format", "json,md,csv"]
    assert main(args) == 0
    d = json.loads((tmp_path / "out" / "comparison.json").read_text())
    assert list(d["calibration"]["models"]) == ["cal", "hot"]
    written = (tmp_path / "out" / "calibration_by_model.csv").read_bytes()
    assert written == calibration_by_model_csv(d)
    assert "### Calibration by model" in (tmp_path / "out" / "comparison.md").read_text()
