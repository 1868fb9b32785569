"""The unpaired comparison with a previous audit (prevalens.baseline): MOVER intervals of the
differences checked against a hand computation, the direction of each metric, noise rows left out,
classes matched by label, confidence levels that differ, and two audits of different data where
one model is much weaker.
"""

from __future__ import annotations

import copy
import json
import math
import re
import warnings

import numpy as np
import pytest
from jsonschema import Draft202012Validator

import prevalens
from prevalens import PrevalensWarning, exports
from prevalens.baseline import (
    METHOD,
    UNPAIRED_LABEL,
    compare_with_baseline,
    difference_estimate,
    higher_is_better,
    is_noise,
)
from prevalens.report.model import build_report_model
from prevalens.report.render import render_html

Z95 = 1.959963984540054


def _wilson(k, n, z=Z95):
    """Wilson score limits of k/n, written out (Wilson 1927) rather than taken from prevalens."""
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z / (1 + z * z / n) * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return centre - half, centre + half


def _est(estimate, lo=None, hi=None, status="ok"):
    return {
        "estimate": estimate,
        "ci_low": lo,
        "ci_high": hi,
        "se": None,
        "method": "hand",
        "status": status if estimate is not None else "undefined",
    }


def _prop(k, n, status="ok"):
    return _est(k / n, *_wilson(k, n), status=status)


def _class(label, support, metrics, flags=()):
    return {
        "label": label,
        "support": support,
        "prevalence": support / 1000,
        "flags": list(flags),
        "metrics": metrics,
    }


def _results(*, level=0.95, averages=None, overall=None, gap=None, strata=(), per_class=()):
    """A results dict with only what the comparison reads."""
    return {
        "run": {"confidence_level": level, "created_utc": "2026-01-01T00:00:00Z"},
        "tool": {"version": "0.0-test"},
        "inputs": [{"path": "x.csv", "sha256": str(level), "rows": 1000}],
        "data": {"n_samples": 1000},
        "averages": averages or {"micro": {}, "macro": {}, "weighted": {}},
        "overall": overall or {},
        "gap": gap or {},
        "strata": list(strata),
        "per_class": list(per_class),
    }


def _compare(new, old):
    return compare_with_baseline(new, old, path="old/results.json", sha256="ab" * 32)


def _item(block, metric):
    (row,) = [i for i in block["items"] if i["metric"] == metric]
    return row


# ------------------------------------------------------------------------------------------------
# the interval of a difference


def test_mover_difference_matches_a_hand_computation():
    # this run 45/50 (0.90), the previous run 30/50 (0.60), Wilson limits of each
    l1, u1 = _wilson(45, 50)
    l2, u2 = _wilson(30, 50)
    d = difference_estimate(_prop(45, 50), _prop(30, 50))
    # by hand: 0.3 -/+ sqrt of the two relevant half-widths squared
    assert (l1, u1) == pytest.approx((0.7864, 0.9565), abs=1e-4)
    assert (l2, u2) == pytest.approx((0.4618, 0.7239), abs=1e-4)
    low = 0.3 - math.sqrt((0.9 - l1) ** 2 + (u2 - 0.6) ** 2)
    high = 0.3 + math.sqrt((u1 - 0.9) ** 2 + (0.6 - l2) ** 2)
    assert d["estimate"] == pytest.approx(0.3, abs=1e-15)
    assert (d["ci_low"], d["ci_high"]) == pytest.approx((low, high), abs=1e-15)
    # 0.3 - sqrt(0.1136^2 + 0.1239^2) and 0.3 + sqrt(0.0565^2 + 0.1382^2), to 4 decimals
    assert (d["ci_low"], d["ci_high"]) == pytest.approx((0.1319, 0.4493), abs=1e-4)
    assert d["method"] == METHOD == "MOVER from the two runs' intervals (unpaired)"
    assert d["status"] == "ok" and d["se"] is None


def test_mover_difference_reproduces_newcombes_published_example():
    # Newcombe (1998), Statistics in Medicine 17:873, example (a): 56/70 - 48/80 by method 10
    # (Wilson score limits of each proportion): 0.2 [0.0524, 0.3339]
    d = difference_estimate(_prop(56, 70), _prop(48, 80))
    assert d["estimate"] == pytest.approx(0.2, abs=1e-15)
    assert (round(d["ci_low"], 4), round(d["ci_high"], 4)) == (0.0524, 0.3339)


def test_mover_difference_keeps_wilson_asymmetry_near_one():
    # 50/50 now against 45/50 before: Wilson's upper limit of 50/50 is 1, so the difference can
    # only be as large as the old run's lower half-width allows, and its interval is asymmetric
    l1, u1 = _wilson(50, 50)
    l2, u2 = _wilson(45, 50)
    d = difference_estimate(_prop(50, 50), _prop(45, 50))
    assert u1 == pytest.approx(1.0, abs=1e-12)
    assert d["ci_high"] - d["estimate"] == pytest.approx(0.9 - l2, abs=1e-12)
    assert d["estimate"] - d["ci_low"] == pytest.approx(math.hypot(1 - l1, u2 - 0.9), abs=1e-12)
    assert d["ci_high"] - d["estimate"] > d["estimate"] - d["ci_low"]
    # 0.1 - sqrt(0.0713^2 + 0.0565^2) and 0.1 + (0.9 - 0.7864), to 4 decimals
    assert (d["ci_low"], d["ci_high"]) == pytest.approx((0.0090, 0.2136), abs=1e-4)


def test_difference_statuses():
    ok = _est(0.8, 0.7, 0.9)
    d = difference_estimate(ok, _est(None))
    assert d["status"] == "undefined" and d["estimate"] is None
    assert d["note"] == "undefined in the previous run"
    d = difference_estimate(ok, _est(0.6))
    assert d["status"] == "no_interval" and d["estimate"] == pytest.approx(0.2)
    assert d["ci_low"] is None and d["note"] == "no interval in the previous run"
    d = difference_estimate(_est(0.8, 0.7, 0.9, status="unstable"), _est(0.6, 0.5, 0.7))
    assert d["status"] == "unstable" and d["ci_low"] is not None
    # an estimate outside its own interval counts as at the nearer limit
    d = difference_estimate(_est(0.95, 0.7, 0.9), _est(0.6, 0.5, 0.7))
    assert d["ci_high"] == pytest.approx(0.35 + 0.1, abs=1e-12)
    assert d["ci_low"] == pytest.approx(0.35 - math.hypot(0.25, 0.1), abs=1e-12)


# ------------------------------------------------------------------------------------------------
# direction


def test_direction_of_each_kind_of_row():
    assert higher_is_better("macro.f1") is True
    assert higher_is_better("overall.accuracy") is True
    assert higher_is_better("stratum.rare.recall") is True
    assert higher_is_better("recall") is True
    assert higher_is_better("overall.log_loss") is False
    assert higher_is_better("overall.brier") is False
    assert higher_is_better("gap.recall") is None


def test_a_lower_log_loss_is_better_and_a_higher_one_worse():
    old = _results(
        overall={
            "log_loss": _est(0.40, 0.37, 0.43),
            "brier": _est(0.20, 0.18, 0.22),
            "accuracy": _est(0.80, 0.78, 0.82),
        }
    )
    new = _results(
        overall={
            "log_loss": _est(0.30, 0.28, 0.32),  # lower: better
            "brier": _est(0.30, 0.28, 0.32),  # higher: worse
            "accuracy": _est(0.90, 0.88, 0.92),  # higher: better
        }
    )
    block = _compare(new, old)
    log_loss, brier, acc = (_item(block, f"overall.{m}") for m in ("log_loss", "brier", "accuracy"))
    assert log_loss["difference"]["estimate"] == pytest.approx(-0.10)
    assert log_loss["higher_is_better"] is False and log_loss["change"] == "better"
    assert brier["difference"]["estimate"] == pytest.approx(0.10)
    assert brier["change"] == "worse" and brier["significant"] is True
    assert acc["higher_is_better"] is True and acc["change"] == "better"
    # swapping the runs swaps every word
    back = _compare(old, new)
    assert [_item(back, f"overall.{m}")["change"] for m in ("log_loss", "brier", "accuracy")] == [
        "worse",
        "better",
        "worse",
    ]


def test_gap_rows_have_no_better_direction():
    old = _results(gap={"recall": {"macro_minus_micro": _est(-0.20, -0.25, -0.15)}})
    new = _results(gap={"recall": {"macro_minus_micro": _est(-0.05, -0.08, -0.02)}})
    row = _item(_compare(new, old), "gap.recall")
    assert row["higher_is_better"] is None and row["change"] is None
    assert row["significant"] is True and row["difference"]["ci_low"] > 0


def test_no_evidence_when_the_interval_includes_zero():
    old = _results(overall={"accuracy": _prop(80, 100)})
    new = _results(overall={"accuracy": _prop(85, 100)})
    row = _item(_compare(new, old), "overall.accuracy")
    assert row["change"] == "no evidence" and row["significant"] is False
    assert row["difference"]["ci_low"] < 0 < row["difference"]["ci_high"]
    assert row["overlap"] is True  # the old key, still written


# ------------------------------------------------------------------------------------------------
# noise


def test_noise_rows_are_left_out_and_counted():
    tiny_old = _est(1.2e-7, -1e-7, 2.5e-7)  # reads 0.000000 at 6 decimals
    tiny_new = _est(-1e-8, -2e-7, 1.5e-7)
    old = _results(
        averages={
            "micro": {"specificity": _est(1.0, 1.0, 1.0), "recall": _est(0.5, 0.4, 0.6)},
            "macro": {"precision": _est(None), "recall": _est(None)},
            "weighted": {"f1": _est(0.5), "recall": _est(0.7, 0.6, 0.8)},
        },
        gap={"specificity": {"macro_minus_micro": tiny_old}, "f1": {"macro_minus_micro": tiny_old}},
    )
    new = _results(
        averages={
            "micro": {"specificity": _est(1.0, 1.0, 1.0), "recall": _est(0.5, 0.4, 0.6)},
            "macro": {"precision": _est(None), "recall": _est(0.6, 0.5, 0.7)},
            "weighted": {"f1": _est(0.5), "recall": _est(0.7, 0.6, 0.8)},
        },
        gap={
            "specificity": {"macro_minus_micro": tiny_new},
            "f1": {"macro_minus_micro": _est(2e-6, 1e-6, 3e-6)},  # shows as 0.000002
        },
    )
    block = _compare(new, old)
    names = [i["metric"] for i in block["items"]]
    # left out: equal with zero-width intervals, undefined in both, a difference of 1e-7
    assert "micro.specificity" not in names
    assert "macro.precision" not in names
    assert "gap.specificity" not in names
    assert block["omitted_noise"] == 3
    # kept: equal values with real intervals (no evidence), undefined to defined, no interval
    # (a difference of 0 without an interval may hide anything), a difference of 2e-6
    assert names == ["micro.recall", "macro.recall", "weighted.f1", "weighted.recall", "gap.f1"]
    assert _item(block, "micro.recall")["change"] == "no evidence"
    assert _item(block, "macro.recall")["difference"]["status"] == "undefined"
    assert _item(block, "weighted.f1")["difference"]["status"] == "no_interval"
    assert _item(block, "gap.f1")["significant"] is True  # tiny, but the interval shows it


def test_is_noise_with_levels_that_differ_uses_the_runs_half_widths():
    assert is_noise(_est(1e-7, 0, 2e-7), _est(0.0, -1e-7, 1e-7), _est(-1e-7))
    assert not is_noise(_est(1e-7, 0, 2e-6), _est(0.0, -1e-7, 1e-7), _est(-1e-7))
    assert not is_noise(_est(None), _est(0.5, 0.4, 0.6), _est(None))


# ------------------------------------------------------------------------------------------------
# classes


def _metrics(recall, precision, f1, roc_auc=None):
    m = {"recall": recall, "precision": precision, "f1": f1, "specificity": _est(0.99, 0.98, 1.0)}
    if roc_auc is not None:
        m["roc_auc"] = roc_auc
    return m


def test_per_class_rows_are_matched_by_label():
    old = _results(
        per_class=[
            _class("H", 30, _metrics(_prop(14, 30), _prop(14, 16), _prop(14, 18))),
            _class("A", 500, _metrics(_prop(450, 500), _prop(450, 470), _prop(450, 520))),
            _class("gone", 40, _metrics(_prop(20, 40), _prop(20, 25), _prop(20, 45))),
            _class("tiny", 5, _metrics(_prop(2, 5), _prop(2, 3), _prop(2, 6)), ["insufficient"]),
        ]
    )
    new = _results(
        per_class=[
            _class("A", 480, _metrics(_prop(430, 480), _prop(430, 455), _prop(430, 505))),
            _class("new", 12, _metrics(_prop(6, 12), _prop(6, 8), _prop(6, 14))),
            _class("tiny", 11, _metrics(_prop(10, 11), _prop(10, 12), _prop(10, 13))),
            _class("H", 33, _metrics(_prop(30, 33), _prop(30, 35), _prop(30, 38))),
        ]
    )
    block = _compare(new, old)
    assert block["classes_added"] == ["new"] and block["classes_removed"] == ["gone"]
    # by this run's prevalence, most common first; only classes of both runs
    assert [c["label"] for c in block["per_class"]] == ["A", "H", "tiny"]
    a, h, tiny = block["per_class"]
    assert h["support"] == {"old": 30, "new": 33}
    assert [i["metric"] for i in h["items"]] == ["recall", "precision", "f1"]  # no ROC AUC here
    recall = h["items"][0]
    assert recall["old"] == old["per_class"][0]["metrics"]["recall"]
    assert recall["new"] == new["per_class"][3]["metrics"]["recall"]
    assert recall["difference"]["estimate"] == pytest.approx(30 / 33 - 14 / 30)
    l1, u1 = _wilson(30, 33)
    l2, u2 = _wilson(14, 30)
    d = 30 / 33 - 14 / 30
    assert recall["difference"]["ci_low"] == pytest.approx(
        d - math.hypot(30 / 33 - l1, u2 - 14 / 30)
    )
    assert recall["change"] == "better" and not h["insufficient"]
    # below min_support in the previous run: every row marked, whatever its interval says
    assert tiny["insufficient"] is True
    assert all(i["insufficient"] for i in tiny["items"])
    assert not any(i["insufficient"] for i in a["items"])


def test_per_class_roc_auc_only_when_both_runs_have_it():
    auc = _est(0.9, 0.85, 0.94)
    old = _results(
        per_class=[_class("A", 50, _metrics(_prop(40, 50), _prop(40, 45), _prop(40, 55), auc))]
    )
    new = _results(
        per_class=[_class("A", 50, _metrics(_prop(41, 50), _prop(41, 45), _prop(41, 54)))]
    )
    assert [i["metric"] for i in _compare(new, old)["per_class"][0]["items"]] == [
        "recall",
        "precision",
        "f1",
    ]
    new["per_class"][0]["metrics"]["roc_auc"] = _est(0.8, 0.74, 0.86)
    items = _compare(new, old)["per_class"][0]["items"]
    assert [i["metric"] for i in items] == ["recall", "precision", "f1", "roc_auc"]
    assert items[-1]["change"] == "worse"


# ------------------------------------------------------------------------------------------------
# confidence levels


def test_different_confidence_levels_give_no_interval():
    old = _results(level=0.90, overall={"accuracy": _est(0.60, 0.58, 0.62)})
    new = _results(level=0.95, overall={"accuracy": _est(0.90, 0.88, 0.92)})
    block = _compare(new, old)
    row = _item(block, "overall.accuracy")
    assert row["difference"]["estimate"] == pytest.approx(0.30)
    assert row["difference"]["ci_low"] is None and row["difference"]["status"] == "no_interval"
    assert "different confidence levels (95% now, 90% before)" in row["difference"]["note"]
    assert row["change"] is None and row["significant"] is None
    assert block["confidence_level"] is None
    assert "different confidence levels" in block["note"]
    assert block["inputs_changed"] is True  # the input files' hashes differ
    same = _compare(new, copy.deepcopy(new))
    assert same["confidence_level"] == 0.95 and "different confidence" not in same["note"]
    assert same["inputs_changed"] is False


def test_the_block_says_it_is_unpaired_and_unadjusted():
    block = _compare(_results(), _results())
    assert block["comparison"] == "unpaired"
    assert block["note"].startswith(UNPAIRED_LABEL)
    assert "`prevalens compare`" in block["note"]
    assert "not adjusted for the number of rows" in block["note"]


# ------------------------------------------------------------------------------------------------
# end to end: two audits of different data, one model much weaker


LABELS = list("ABCDEFGH")


def _audit(seed, strength, n=1500):
    """Scores of a model with per-class ``strength`` (the true class's logit boost) on data
    with geometric prevalences (A ~ 45%, H ~ 1.3%)."""
    rng = np.random.default_rng(seed)
    p = 0.6 * 0.5 ** np.arange(8) + 0.01
    y = rng.choice(8, size=n, p=p / p.sum())
    logits = rng.normal(size=(n, 8))
    logits[np.arange(n), y] += np.asarray(strength)[y]
    scores = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PrevalensWarning)
        return prevalens.audit(
            np.array(LABELS)[y], y_score=scores, labels=LABELS, n_resamples=300, seed=seed
        )


@pytest.fixture(scope="module")
def strong_then_weak():
    # last month: strong on A-G, poor on H; this month (other data): weak on A-G, strong on H
    old = _audit(1, [3.5] * 7 + [0.8])
    new = _audit(2, [1.5] * 7 + [4.0])
    return old, new, new.with_baseline(old, path="last/results.json", sha256="0" * 64)


def test_weaker_model_rows_read_worse(strong_then_weak):
    old, new, result = strong_then_weak
    block = result.baseline
    assert block["inputs_changed"] is None  # in-memory arrays: no hash, so unknown
    for name in ("micro.f1", "macro.f1", "overall.accuracy", "overall.mcc", "macro.roc_auc"):
        row = _item(block, name)
        assert row["change"] == "worse", name
        assert row["difference"]["ci_high"] < 0
    log_loss = _item(block, "overall.log_loss")
    assert log_loss["difference"]["estimate"] > 0 and log_loss["change"] == "worse"
    assert all(i["change"] is None for i in block["items"] if i["metric"].startswith("gap."))
    macro_f1 = _item(block, "macro.f1")
    est = macro_f1["new"]["estimate"] - macro_f1["old"]["estimate"]
    assert macro_f1["difference"]["estimate"] == pytest.approx(est, abs=1e-15)
    assert macro_f1["old"] == old.to_dict()["averages"]["macro"]["f1"]
    # the class the new model is good at: its recall rose, the others fell
    by_label = {c["label"]: {i["metric"]: i for i in c["items"]} for c in block["per_class"]}
    assert by_label["H"]["recall"]["change"] == "better"
    assert by_label["H"]["recall"]["difference"]["ci_low"] > 0
    assert all(by_label[k]["recall"]["change"] == "worse" for k in "ABCD")
    assert [c["label"] for c in block["per_class"]] == sorted(
        LABELS,
        key=lambda k: -next(c["support"] for c in new.to_dict()["per_class"] if c["label"] == k),
    )
    Draft202012Validator(prevalens.load_schema()).validate(json.loads(result.to_json()))


def test_comparing_a_run_with_itself_shows_no_evidence(strong_then_weak):
    _, new, _ = strong_then_weak
    block = new.with_baseline(new).baseline
    rows = block["items"] + [i for c in block["per_class"] for i in c["items"]]
    assert rows and all(i["difference"]["estimate"] == 0 for i in rows)
    assert {i["change"] for i in rows} <= {"no evidence", None}
    assert not any(i["significant"] for i in rows)


def test_a_legacy_baseline_block_still_reads(tmp_path, strong_then_weak):
    """A results.json written before the unpaired comparison (difference a bare number) still
    validates, so last month's file can be this month's baseline."""
    old, new, _ = strong_then_weak
    d = json.loads(old.to_json())
    e = d["averages"]["macro"]["f1"]
    d["baseline"] = {
        "path": "older/results.json",
        "sha256": "1" * 64,
        "created_utc": None,
        "items": [{"metric": "macro.f1", "old": e, "new": e, "difference": 0.0, "overlap": True}],
        "note": "old form",
    }
    path = tmp_path / "results.json"
    path.write_text(json.dumps(d), "utf-8")
    previous, _, sha = prevalens.read_results(path)
    block = new.with_baseline(previous, path=str(path), sha256=sha).baseline
    assert _item(block, "macro.f1")["change"] == "worse"


# ------------------------------------------------------------------------------------------------
# what the report shows


def _texts(row) -> list[str]:
    return [c.text + (f" {c.interval}" if c.interval else "") for c in row.cells]


def _numbers(text: str) -> list[float]:
    return [float(x) for x in re.findall(r"[-+]?\d+\.\d+", text)]


def test_report_section_of_the_unpaired_comparison(strong_then_weak):
    _, _, result = strong_then_weak
    d = result.to_dict()
    block = d["baseline"]
    model = build_report_model(d, figures={})
    (section,) = [s for s in model.sections if s.id == "changes"]
    assert "<strong>Unpaired comparison with the previous audit (different data)" in str(
        section.get("label").html
    )
    assert "<code>prevalens compare</code>" in str(section.get("label").html)
    assert "not adjusted for the number of rows compared" in section.get("method").text
    counts = section.get("counts").text
    worse = sum(i["change"] == "worse" and not i["insufficient"] for i in block["items"])
    assert counts.startswith(f"Headline numbers ({len(block['items'])} compared): {worse} worse")
    table = section.get("changes")
    assert [h.text for h in table.header] == [
        "Metric",
        "Previous",
        "Now",
        "Difference [interval]",
        "Change",
    ]
    rows = {i["metric"]: _texts(r) for i, r in zip(block["items"], table.rows)}
    assert len(table.rows) == len(block["items"])
    name, _, _, diff, change = rows["macro.f1"]
    item = _item(block, "macro.f1")
    assert name == "Macro F1" and change == "\u2193\u00a0worse"
    est, lo, hi = _numbers(diff)
    dd = item["difference"]
    step = 10.0 ** -len(diff.split()[0].split(".")[1])
    for shown, true in ((est, dd["estimate"]), (lo, dd["ci_low"]), (hi, dd["ci_high"])):
        assert abs(shown - true) <= step / 2 + 1e-12
    assert rows["overall.log_loss"][0] == "Log loss"
    assert rows["overall.log_loss"][3].startswith("+")
    assert rows["overall.log_loss"][4] == "\u2191\u00a0worse"  # rose, and lower is better
    assert rows["gap.recall"][0] == "Macro - micro recall"
    # per class: H rose, the rest fell; all have evidence, so prevalence order
    ctable = section.get("class_changes")
    crows = [_texts(r) for r in ctable.rows]
    assert [r[0] for r in crows if r[0]] == [c["label"] for c in block["per_class"]]
    h = next(k for k, r in enumerate(crows) if r[0] == "H")
    assert crows[h][2] == "Recall" and crows[h][6] == "\u2191\u00a0better"
    old_h, new_h = (_numbers(crows[h][j])[0] for j in (3, 4))
    h_recall = block["per_class"][-1]["items"][0]
    assert old_h == pytest.approx(h_recall["old"]["estimate"], abs=0.005)
    assert new_h == pytest.approx(h_recall["new"]["estimate"], abs=0.005)
    html = render_html(model)
    assert "Per-class changes" in html and "Headline numbers, previous audit and now" in html


def _class_block(changes):
    """A block whose classes (most common first) have rows with these changes."""
    return {
        "per_class": [
            {
                "label": f"c{k}",
                "insufficient": ins,
                "items": [
                    {"metric": m, "change": ch, "insufficient": ins}
                    for m, ch in zip(("recall", "precision"), chs)
                ],
            }
            for k, (chs, ins) in enumerate(changes)
        ]
    }


def test_classes_with_evidence_come_first_and_the_table_is_capped():
    block = _class_block(
        [
            (("no evidence", "no evidence"), False),  # c0, the most common
            (("no evidence", "worse"), False),  # c1
            (("better", "better"), True),  # c2: insufficient, not evidence
            (("better", "no evidence"), False),  # c3
        ]
    )
    rows, shown, total = exports.baseline_class_rows(block)
    order = [c["label"] for c, _, first in rows if first]
    assert order == ["c1", "c3", "c0", "c2"] and (shown, total) == (4, 4)
    assert [first for _, _, first in rows] == [True, False] * 4
    rows, shown, total = exports.baseline_class_rows(block, max_rows=5)
    assert [c["label"] for c, _, first in rows if first] == ["c1", "c3"]
    assert (shown, total) == (2, 4)
    # a marked row reads as such
    row = {"difference": {"estimate": 0.3, "ci_low": 0.1, "ci_high": 0.5, "status": "ok"}}
    assert (
        exports.fmt_change(dict(row, change="better", insufficient=True)) == "\u2191 better \u2020"
    )
