"""Findings: claims the numbers support, in words generated from the evidence (issue 4).

* The founding scenario: prevalence 60/25/10/4/1%, a classifier worse on rarer classes (labels
  and scores). Micro ROC AUC and F1 well above macro, the rare stratum flagged with an interval
  excluding zero, recall rising with prevalence, and findings that say so.
* Every number a finding's text cites is its evidence re-formatted with
  ``findings.fmt(x, evidence["digits"])``, in order; every number in the text traces back to the
  evidence; the evidence equals the numbers of the result (averages, strata, gap, trend,
  divergence).
* Honesty: a claim only when its adjusted interval excludes zero (also as printed), "no evidence"
  when nothing diverges, no claim resting on classes below ``min_support``, no claims without
  intervals, ``diverges`` flags exactly where the analysis says so.
* The null scenario (slow): equal recall and precision for every class, skewed prevalence; at most
  5% of 400 simulated datasets may get any divergence claim.
"""

from __future__ import annotations

import functools
import re
import warnings

import numpy as np
import pytest
from jsonschema import Draft202012Validator
from scipy import stats
from tail_sims import labels_from_cm

import prevalens
from prevalens import AuditConfig, audit_predictions, load_schema, predictions_from_arrays
from prevalens.findings import SEVERITIES
from prevalens.formatting import (
    estimate_digits,
    fmt_estimate,
    fmt_number,
    fmt_percent,
    fmt_signed,
)

#: Kinds that claim a difference; everything else is informational.
CLAIM_KINDS = {"gap", "stratum_divergence", "trend", "divergent_classes"}
KINDS = CLAIM_KINDS | {
    "insufficient",
    "undefined",
    "no_divergence",
    "immaterial",
    "no_evidence_of_divergence",
    "no_intervals",
    "calibration",
}


def js(result):
    """The JSON form of a result (the contract these tests check)."""
    return result.to_dict()


# ------------------------------------------------------------------------------------------------
# scenarios


def quiet_audit(y_true, y_pred, labels, y_score=None, **config):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", prevalens.PrevalensWarning)
        pred = predictions_from_arrays(y_true, y_pred, y_score=y_score, labels=list(labels))
        return audit_predictions(pred, AuditConfig(**config))


def allocate(total, weights):
    """Split the integer ``total`` proportionally to ``weights`` (largest remainder)."""
    weights = np.asarray(weights, dtype=np.float64)
    exact = total * weights / weights.sum()
    out = np.floor(exact).astype(np.int64)
    out[np.argsort(out - exact)[: total - out.sum()]] += 1
    return out


#: The founding scenario. The rarest class has 45 of 5000 samples (0.9%): the issue's "1%" class,
#: kept below the 1% cut, since exactly 1% belongs to "uncommon" (test_strata checks the boundary).
FOUNDING_LABELS = ("p60", "p25", "p10", "p4", "p1")
FOUNDING_SUPPORT = np.array([3000, 1250, 500, 205, 45])
FOUNDING_RECALL = np.array([0.95, 0.90, 0.80, 0.60, 0.40])
FOUNDING_SEPARATION = np.array([3.0, 2.5, 2.0, 1.2, 0.6])  # score shift of the true class


def founding_data(seed=0):
    """Labels with the recalls above (errors spread over the other classes in proportion to their
    prevalence) and softmax scores whose separability falls with prevalence."""
    k = FOUNDING_SUPPORT.size
    cm = np.zeros((k, k), dtype=np.int64)
    for i in range(k):
        hits = int(round(FOUNDING_RECALL[i] * FOUNDING_SUPPORT[i]))
        cm[i, i] = hits
        others = [j for j in range(k) if j != i]
        cm[i, others] = allocate(FOUNDING_SUPPORT[i] - hits, FOUNDING_SUPPORT[others])
    y_true, y_pred = labels_from_cm(cm)
    rng = np.random.default_rng(seed)
    logits = rng.normal(size=(y_true.size, k))
    logits[np.arange(y_true.size), y_true] += FOUNDING_SEPARATION[y_true]
    proba = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    labels = np.array(FOUNDING_LABELS)
    return labels[y_true], labels[y_pred], proba


def symmetric_errors(row_sums):
    """A symmetric non-negative integer matrix with zero diagonal and the given row sums (each
    unit of error pairs the two classes with the most left; possible because the sum is even and
    no row sum exceeds the others' total)."""
    left = np.array(row_sums, dtype=np.int64)
    assert left.sum() % 2 == 0 and 2 * left.max() <= left.sum()
    e = np.zeros((left.size, left.size), dtype=np.int64)
    while left.sum():
        i, j = np.argsort(-left, kind="stable")[:2]
        e[i, j] += 1
        e[j, i] += 1
        left[i] -= 1
        left[j] -= 1
    return e


def equal_performance_cm():
    """Recall, precision, F1 and Jaccard exactly 0.8 for all six classes (errors symmetric, so
    each class is predicted as often as it occurs), prevalence 45% down to 0.8%."""
    support = np.array([2250, 1250, 750, 400, 310, 40])  # of 5000: the last is rare (0.8%)
    cm = symmetric_errors(support // 5)
    cm[np.diag_indices(6)] = support - support // 5
    return cm


def insufficient_rare_cm():
    """Good on the common classes; the rare stratum is one class of 8 samples (0.4%, below
    min_support = 10), every one misclassified."""
    support = [1000, 600, 300, 92]
    cm = np.zeros((5, 5), dtype=np.int64)
    for i, n in enumerate(support):
        cm[i, i] = int(0.9 * n)
        cm[i, (i + 1) % 4] = n - int(0.9 * n)
    cm[4, 0] = 8
    return cm


@functools.cache
def scenario(name):
    """Audits shared by the tests (computed once)."""
    if name == "founding":
        y_true, y_pred, proba = founding_data()
        return quiet_audit(y_true, y_pred, FOUNDING_LABELS, y_score=proba, n_resamples=300, seed=1)
    if name == "founding-labels-more-metrics":
        y_true, y_pred, _ = founding_data()
        return quiet_audit(
            y_true,
            y_pred,
            FOUNDING_LABELS,
            n_resamples=200,
            seed=2,
            divergence_adjustment="bonferroni",
            findings_metrics=("precision", "recall", "specificity", "jaccard"),
        )
    if name == "founding-no-intervals":
        y_true, y_pred, proba = founding_data()
        return quiet_audit(y_true, y_pred, FOUNDING_LABELS, y_score=proba, n_resamples=0, seed=1)
    if name == "equal-performance":
        y_true, y_pred = labels_from_cm(equal_performance_cm())
        return quiet_audit(y_true, y_pred, range(6), n_resamples=300, seed=3)
    if name == "insufficient-rare":
        y_true, y_pred = labels_from_cm(insufficient_rare_cm())
        labels = np.array(list("abcde"))
        return quiet_audit(labels[y_true], labels[y_pred], labels, n_resamples=300, seed=4)
    if name == "long-tail":
        # K = 12, Zipf-like prevalence, a class absent and one never predicted: undefined values
        rng = np.random.default_rng(5)
        p = 1 / np.arange(1, 12) ** 1.3
        y_true = rng.choice(11, size=1500, p=p / p.sum())
        y_pred = np.where(
            rng.random(1500) < 0.85 - 0.03 * y_true, y_true, rng.integers(0, 10, 1500)
        )
        return quiet_audit(y_true, y_pred, range(12), n_resamples=200, seed=6)
    raise KeyError(name)


SCENARIOS = (
    "founding",
    "founding-labels-more-metrics",
    "founding-no-intervals",
    "equal-performance",
    "insufficient-rare",
    "long-tail",
)


def by_id(result):
    return {f["id"]: f for f in js(result)["findings"]}


# ------------------------------------------------------------------------------------------------
# the founding scenario


def test_founding_scenario_numbers():
    r = scenario("founding")
    micro, macro = r.averages["micro"], r.averages["macro"]
    # ROC AUC per class falls from 0.99 to 0.87; the pooled (micro) curve is the frequent ones'
    assert micro["roc_auc"].estimate - macro["roc_auc"].estimate > 0.03
    assert micro["f1"].estimate - macro["f1"].estimate > 0.10
    assert micro["recall"].estimate - macro["recall"].estimate > 0.1
    for name in ("f1", "recall", "roc_auc"):
        assert js(r)["gap"][name]["macro_minus_micro"]["ci_high"] < 0, name
    assert [(s["name"], s["classes"]) for s in js(r)["strata"]] == [
        ("rare", ["p1"]),
        ("uncommon", ["p4"]),
        ("common", ["p60", "p25", "p10"]),
    ]
    diff = js(r)["comparisons"][0]["difference"]
    assert diff["recall"]["ci_high"] < 0 and diff["f1"]["ci_high"] < 0
    # the gap is negative exactly when recall rises with prevalence: -K' Cov(w, r) < 0
    assert js(r)["gap"]["recall"]["covariance"] > 0
    t = js(r)["trend"]["recall"]
    assert t["slope_per_decade"]["ci_low"] > 0
    assert t["spearman"]["estimate"] == 1.0  # recall is monotone in prevalence here


def test_founding_scenario_findings_say_so():
    r = scenario("founding")
    f = by_id(r)
    for name, word in (("f1", "F1"), ("recall", "recall")):
        g = f[f"gap-{name}"]
        assert g["kind"] == "gap" and g["severity"] == "high", name  # |gap| >= 0.10
        assert g["text"].startswith(f"Macro {word} ")
        assert f"is lower than micro {word} " in g["text"]
        assert "does worse on the classes that are rare in the data" in g["text"]
    # the ROC AUC gap, about -0.02, is distinguishable from zero but below min_effect (0.05)
    g = f["gap-roc_auc"]
    assert g["kind"] == "immaterial" and g["severity"] == "info"
    assert g["evidence"]["gap_ci_high"] < 0 and abs(g["evidence"]["gap"]) < 0.05
    assert not g["evidence"]["material"] and g["evidence"]["min_effect"] == 0.05
    assert "smaller than the minimum material effect of 0.05" in g["text"]
    for name, word in (("recall", "recall"), ("f1", "F1")):
        s = f[f"strata-rare-common-{name}"]
        assert s["kind"] == "stratum_divergence" and s["severity"] == "high"
        assert s["classes"] == ["p1"]
        assert s["evidence"]["ci_high"] < 0
        assert s["text"].startswith(
            f"The rare classes (prevalence < 1%, 1 class) have macro {word} "
        )
        assert "for the common ones (prevalence >= 10%, 3 classes): a difference of -" in s["text"]
    t = f["trend-recall"]
    assert t["kind"] == "trend" and t["evidence"]["slope"] > 0
    assert t["text"].startswith("Recall rises with prevalence: ")
    assert "per tenfold increase" in t["text"]
    below = f["classes-below-recall"]
    assert below["kind"] == "divergent_classes" and below["severity"] == "high"
    assert {"p1", "p4"} <= set(below["classes"])
    assert "no-divergence" not in f
    assert js(r)["findings"][0]["severity"] == "high"  # the headline comes first


# ------------------------------------------------------------------------------------------------
# the words and the numbers


NUMBER = re.compile(r"(?<![\w.])-?\d+(?:\.\d+)?")


def fmt(x, d):
    """A difference or slope as findings print it (never 0 unless exactly 0)."""
    return fmt_number(x, d, bounds=(0.0,))


def est_strings(e, bounds=(0.0, 1.0)):
    """The numbers of an EST as findings print it: as the report's tables do (decimals from its
    interval), estimate then interval."""
    if e is None or e.get("estimate") is None:
        return []
    return NUMBER.findall(fmt_estimate(e, bounds=bounds))


def cited(f):
    """The numbers a finding's text must cite, in order, formatted from its evidence."""
    ev, kind, fid = f["evidence"], f["kind"], f["id"]
    d = ev.get("digits")
    if kind == "immaterial" and fid.startswith("classes-"):
        micro = ev["micro"]
        out = [fmt_number(micro["estimate"], estimate_digits(micro))]
        out += [fmt_number(ev["min_effect"], 2), str(ev["family_size"])]
        for c in ev["classes"][:10]:
            out += [fmt_number(c["value"], c["value_digits"])]
            out += [fmt(c[k], c["digits"]) for k in ("difference", "ci_low", "ci_high")]
        return out
    if kind == "immaterial":
        first, keys = [], ("difference", "ci_low", "ci_high")
        if fid.startswith("gap-"):
            keys = ("gap", "gap_ci_low", "gap_ci_high")
        elif fid.startswith("trend-"):  # the change across the span, then the slope
            first, keys = (
                NUMBER.findall(fmt_signed(ev["change_across_span"])),
                ("slope",) + keys[1:],
            )
        return (
            first
            + [fmt_number(ev["min_effect"], 2)]
            + [fmt(ev[k], d) for k in keys]
            + [str(ev["family_size"])]
        )
    if fid.startswith("gap-"):
        return (
            est_strings(ev["macro"])
            + est_strings(ev["micro"])
            + [fmt(ev[k], d) for k in ("gap", "gap_ci_low", "gap_ci_high")]
            + [str(ev["family_size"])]
        )
    if fid.startswith("strata-rare-common-") and kind == "stratum_divergence":
        return (
            [str(ev["rare_classes"])]
            + est_strings(ev["rare"])
            + est_strings(ev["common"])
            + [str(ev["common_classes"])]
            + [fmt(ev[k], d) for k in ("difference", "ci_low", "ci_high")]
            + [str(ev["family_size"])]
        )
    if fid.startswith("strata-rare-common-") and kind == "no_divergence":
        return (
            [str(ev["rare_classes"])]
            + est_strings(ev["rare"])
            + est_strings(ev["common"])
            + [fmt(ev[k], d) for k in ("difference", "ci_low", "ci_high")]
            + [str(ev["family_size"])]
        )
    if fid.startswith("strata-rare-common-") and kind == "insufficient":
        return [] if "not_made" in ev else [str(ev["min_support"])]
    if fid.startswith("stratum-"):
        return (
            est_strings(ev["stratum"])
            + [fmt(abs(ev["difference"]), d)]
            + [fmt(ev[k], d) for k in ("difference", "ci_low", "ci_high")]
            + [str(ev["family_size"])]
        )
    if fid.startswith("trend-") and kind == "insufficient":  # too narrow a span
        return (
            [str(ev["n_classes"]), str(ev["min_support"])]
            + [fmt_number(ev["span_decades"], 2, bounds=(0.0,))]
            + [fmt_percent(p) for p in ev["prevalence_range"]]
        )
    if fid.startswith("trend-") and kind == "no_divergence":
        return (
            [fmt(ev[k], d) for k in ("slope", "ci_low", "ci_high")]
            + [str(ev["family_size"]), str(ev["n_classes"]), str(ev["min_support"])]
            + [fmt_percent(p) for p in ev["prevalence_range"]]
        )
    if kind == "trend":
        change = NUMBER.findall(fmt_estimate(ev["change_across_span"], bounds=(0.0,)))
        return (
            [fmt(ev[k], d) for k in ("slope", "ci_low", "ci_high")]
            + [str(ev["family_size"]), str(ev["n_classes"]), str(ev["min_support"])]
            + [fmt_percent(p) for p in ev["prevalence_range"]]
            + change
            + [fmt_number(ev["spearman"]["estimate"], 2, bounds=(-1.0, 0.0, 1.0))]
        )
    if kind == "divergent_classes":
        micro = ev["micro"]
        out = [fmt_number(micro["estimate"], estimate_digits(micro)), str(ev["family_size"])]
        for c in ev["classes"][:10]:
            out += [fmt_number(c["value"], c["value_digits"])]
            out += [fmt(c[k], c["digits"]) for k in ("difference", "ci_low", "ci_high")]
        return out
    if kind == "calibration" and fid.startswith("calibration-stratum-"):
        out = []
        for what in ("slope", "intercept"):
            if what in ev:
                e = ev[what]
                out += [fmt(e[k], e["digits"]) for k in ("estimate", "ci_low", "ci_high")]
        return out + [str(ev["family_size"]), str(ev["classes_used"]), str(ev["min_support"])]
    if kind == "calibration":
        out = [str(len(f["classes"])), str(ev["family_size"])]
        for c in ev["classes"][:10]:
            if c["parameter"] == "intercept":
                out += [fmt_percent(c["observed"]), fmt_percent(c["expected"])]
            out += [fmt(c[k], c["digits"]) for k in ("estimate", "ci_low", "ci_high")]
        return out
    if fid == "insufficient-classes":
        return [str(len(f["classes"])), str(ev["min_support"])] + [
            str(ev["support"][str(c)]) for c in f["classes"][:8]
        ]
    if kind == "no_evidence_of_divergence":
        return [str(ev["family_size"]), f"{100 * ev['confidence_level']:.0f}%"]
    if kind == "no_intervals":
        return [f"n_resamples = {ev['n_resamples']}"]
    if kind == "undefined":
        return [ev["reason"]]
    raise AssertionError(f"finding {fid!r} of kind {kind!r} not covered by this test")


def leaves(node, key=None):
    """(key, value) of every scalar inside a JSON structure."""
    if isinstance(node, dict):
        for k, v in node.items():
            yield from leaves(v, k)
    elif isinstance(node, list):
        for v in node:
            yield from leaves(v, key)
    else:
        yield key, node


def traceable(f):
    """Every way a number of this finding's evidence may be printed (2 to 6 decimals, as a
    metric value, a difference or a correlation)."""
    ev = f["evidence"]
    out = {str(len(f["classes"]))}
    for key, x in leaves(ev):
        if isinstance(x, bool) or x is None or isinstance(x, str):
            continue
        if isinstance(x, int):
            out.add(str(x))
        elif key == "confidence_level":
            out.add(f"{100 * x:.0f}")
        else:
            for d in range(2, 7):
                for bounds in ((0.0,), (0.0, 1.0), (-1.0, 0.0, 1.0)):
                    for cap in (d, 6):  # a bound capped at the shared decimals: ">0.9999"
                        out |= {
                            fmt_number(v, d, bounds=bounds, max_digits=cap).lstrip("<>")
                            for v in (x, abs(x))
                        }
            out.add(fmt_percent(x).rstrip("%"))
    return out


def strip_non_numbers(text, f, result):
    """Text without what is not a number of the evidence: quoted class labels, the strata's
    descriptions (e.g. 'prevalence < 1%'), an undefined metric's reason."""
    for s in js(result)["strata"]:  # e.g. "prevalence < 1%", "stratum 2 (most common)"
        text = text.replace(s["bounds"]["description"], "").replace(s["name"], "")
    if f["kind"] == "undefined":
        text = text.replace(f["evidence"]["reason"], "").replace("not counted as 0", "")
    if f["evidence"].get("scope"):  # what a claim covers, e.g. "at least 10 samples"
        text = text.replace(f["evidence"]["scope"], "")
    if f["evidence"].get("not_made"):  # why a claim is not made, e.g. "a class at 0 or 1"
        text = text.replace(f["evidence"]["not_made"], "")
    return re.sub(r"'[^']*'", "", text)


@pytest.mark.parametrize("name", SCENARIOS)
def test_text_cites_the_evidence(name):
    r = scenario(name)
    assert js(r)["findings"]
    for f in js(r)["findings"]:
        pos = 0
        for s in cited(f):
            at = f["text"].find(s, pos)
            assert at >= 0, f"{f['id']}: {s!r} not found (in order) in {f['text']!r}"
            pos = at + len(s)
        allowed = traceable(f)
        for token in NUMBER.findall(strip_non_numbers(f["text"], f, r)):
            assert token in allowed, f"{f['id']}: {token!r} not in its evidence: {f['text']!r}"


@pytest.mark.parametrize("name", SCENARIOS)
def test_evidence_equals_the_result(name):
    r = scenario(name)
    d = r.to_dict()
    strata = {s["name"]: s for s in d["strata"]}
    per_class = {c["label"]: c for c in d["per_class"]}
    rows = {(row["label"], row["metric"]): row for row in d.get("divergence", [])}
    for f in js(r)["findings"]:
        ev, metric = f["evidence"], f["metric"]
        if "family_size" in ev:
            assert ev["family_size"] == d["family"]["size"]
            assert ev["adjustment"] == d["family"]["adjustment"]
        if f["id"].startswith("gap-"):
            assert ev["macro"] == d["averages"]["macro"][metric]
            assert ev["micro"] == d["averages"]["micro"][metric]
            assert ev["marginal_gap"] == d["gap"][metric]["macro_minus_micro"]
            assert ev["gap"] == ev["marginal_gap"]["estimate"]
        elif f["id"].startswith("strata-rare-common-") and f["kind"] != "insufficient":
            assert ev["rare"] == strata["rare"]["macro"][metric]
            assert ev["common"] == strata["common"]["macro"][metric]
            assert ev["rare_classes"] == strata["rare"]["n_classes"]
            assert ev["common_classes"] == strata["common"]["n_classes"]
            if not ev["scope"]:  # else over the classes with min_support samples, as it says
                assert ev["difference"] == d["comparisons"][0]["difference"][metric]["estimate"]
        elif f["id"].startswith("stratum-"):
            s = next(s for s in d["strata"] if f["id"] == f"stratum-{s['name']}-{metric}")
            assert ev["stratum"] == s["macro"][metric]
            if not ev["scope"]:
                assert ev["difference"] == s["vs_rest"][metric]["estimate"]
            assert f["classes"] == s["classes"]
        elif f["kind"] == "trend":
            assert ev["slope"] == d["trend"][metric]["slope_per_decade"]["estimate"]
            assert ev["spearman"] == d["trend"][metric]["spearman"]
        elif f["kind"] == "divergent_classes":
            assert ev["micro"] == d["averages"]["micro"][metric]
            assert [c["label"] for c in ev["classes"]] == f["classes"]
            for c in ev["classes"]:
                row = rows[c["label"], metric]
                assert c["value"] == per_class[c["label"]]["metrics"][metric]["estimate"]
                assert c["difference"] == row["vs_micro"]["estimate"]
                assert (c["ci_low"], c["ci_high"], c["p_value"]) == (
                    row["adjusted"]["ci_low"],
                    row["adjusted"]["ci_high"],
                    row["adjusted"]["p_value"],
                )
        elif f["id"] == "insufficient-classes":
            assert ev["support"] == {str(c): per_class[c]["support"] for c in f["classes"]}
            assert ev["min_support"] == d["run"]["config"]["min_support"]


@pytest.mark.parametrize("name", SCENARIOS)
def test_findings_valid_against_schema(name):
    r = scenario(name)
    d = r.to_dict()
    Draft202012Validator(load_schema()).validate(d)
    ids = [f["id"] for f in d["findings"]]
    assert len(ids) == len(set(ids))
    assert all(f["severity"] in SEVERITIES for f in d["findings"])
    assert all(f["kind"] in KINDS for f in d["findings"])
    order = [SEVERITIES.index(f["severity"]) for f in d["findings"]]
    assert order == sorted(order)  # most severe first
    assert all(
        f["metric"] is None or f["metric"] in d["run"]["config"]["findings_metrics"]
        for f in d["findings"]
    )


@pytest.mark.parametrize(
    "x, digits, text",
    [
        (0.12345, 2, "0.12"),
        (0.12345, 3, "0.123"),
        (-0.0018, 2, "-0.002"),  # never 0.00 for a bound that is not 0
        (0.0049, 2, "0.005"),
        (-0.00001234, 2, "-0.00001"),
        (0.0, 2, "0.00"),
        (-0.0, 2, "0.00"),  # never '-0.00'
        (-1e-9, 2, ">-0.000001"),  # at most 6 decimals, then a comparison: never 0 for -1e-9
        (3e-7, 2, "<0.000001"),
        (0.996, 2, "1.00"),
        (None, 2, "undefined"),
        (float("nan"), 3, "undefined"),
    ],
)
def test_fmt(x, digits, text):
    assert fmt(x, digits) == text


def test_digits_follow_the_interval_width_as_in_the_tables():
    # one rule for findings and tables: 2 decimals from a width of 0.01, 3 from 0.001, else 4
    from prevalens.formatting import digits_for_width

    assert [digits_for_width(w) for w in (0.3, 0.015, 0.01, 0.005, 0.0005)] == [2, 2, 2, 3, 4]
    assert digits_for_width(None) == digits_for_width(float("nan")) == 2


# ------------------------------------------------------------------------------------------------
# honesty


def claimed_intervals(f):
    """(estimate, low, high) of what a finding claims or declines to claim."""
    ev = f["evidence"]
    if f["kind"] == "divergent_classes" or f["id"].startswith("classes-immaterial"):
        return [(c["difference"], c["ci_low"], c["ci_high"], c["digits"]) for c in ev["classes"]]
    if f["id"].startswith("gap-"):
        return [(ev["gap"], ev["gap_ci_low"], ev["gap_ci_high"], ev["digits"])]
    if f["id"].startswith("trend-"):  # a narrow span is said without an interval
        return (
            []
            if f["kind"] == "insufficient"
            else [(ev["slope"], ev["ci_low"], ev["ci_high"], ev["digits"])]
        )
    if f["kind"] in ("stratum_divergence", "no_divergence") or f["id"].startswith("stratum"):
        return [(ev["difference"], ev["ci_low"], ev["ci_high"], ev["digits"])]
    return []


@pytest.mark.parametrize("name", SCENARIOS)
def test_claims_only_when_the_adjusted_interval_excludes_zero(name):
    r = scenario(name)
    for f in js(r)["findings"]:
        ev = f["evidence"]
        for est, lo, hi, d in claimed_intervals(f):
            assert lo <= est <= hi, f["id"]
            printed = f"{fmt(est, d)} [{fmt(lo, d)}, {fmt(hi, d)}]"
            if f["id"].startswith("classes-"):
                printed = f"difference {printed})"
            if f["id"].startswith("trend-"):
                printed = f"{fmt(est, d)} per tenfold increase [{fmt(lo, d)}, {fmt(hi, d)}]"
            assert printed in f["text"], (f["id"], printed, f["text"])
            if f["kind"] in CLAIM_KINDS:
                assert lo > 0 or hi < 0, f["id"]
                # ... and as printed: a claimed interval never reads as touching zero
                plo, phi = float(fmt(lo, d)), float(fmt(hi, d))
                assert (plo > 0 and phi > 0) or (plo < 0 and phi < 0), (f["id"], printed)
            elif f["kind"] == "immaterial":
                # distinguishable from zero, but smaller than the minimum material effect
                assert lo > 0 or hi < 0, f["id"]
                effect = ev.get("effect", est)
                if "classes" not in f["id"]:
                    assert abs(effect) < ev["min_effect"] and not ev["material"], f["id"]
                else:
                    assert abs(est) < ev["min_effect"], f["id"]
                assert "smaller than the minimum material effect" in f["text"] or (
                    "less than the minimum material effect" in f["text"]
                ), f["id"]
            elif f["kind"] == "insufficient":
                # an interval that excludes zero only because of classes below min_support:
                # reported as resting on them, never as a claim and never as "no evidence"
                assert (
                    "rests on classes with fewer than" in f["text"]
                    or "cannot be checked without the classes with fewer than" in f["text"]
                ), f["id"]
            else:
                assert lo <= 0 <= hi, f["id"]
        if f["kind"] in CLAIM_KINDS - {"divergent_classes"}:
            assert ev["p_value"] < 1 - ev["level"], f["id"]  # Holm's test agrees
            assert ev["material"] and abs(ev["effect"]) >= ev["min_effect"], f["id"]
        if f["kind"] == "divergent_classes":
            above = f["id"].startswith("classes-above")
            assert all((c["ci_low"] > 0) == above for c in ev["classes"]), f["id"]
    kinds = {f["kind"] for f in js(r)["findings"]}
    assert (
        bool(kinds & CLAIM_KINDS) != ("no_evidence_of_divergence" in kinds)
        or "no_intervals" in kinds
    )


def test_no_evidence_when_performance_is_identical():
    cm = equal_performance_cm()
    support, predicted = cm.sum(axis=1), cm.sum(axis=0)
    assert (np.diag(cm) * 5 == 4 * support).all() and (predicted == support).all()
    r = scenario("equal-performance")
    assert [s["name"] for s in js(r)["strata"]] == ["rare", "uncommon", "common"]
    kinds = [f["kind"] for f in js(r)["findings"]]
    assert not CLAIM_KINDS & set(kinds)
    f = by_id(r)
    assert f["no-divergence"]["kind"] == "no_evidence_of_divergence"
    assert f["no-divergence"]["text"].startswith(
        "No evidence of divergence between rare and common classes: none of the "
    )
    assert f["no-divergence"]["evidence"]["family_size"] == js(r)["family"]["size"] > 10
    for name in ("recall", "f1"):
        assert f[f"gap-{name}"]["kind"] == "no_divergence"
        assert f[f"gap-{name}"]["text"].startswith("No evidence of a gap between macro ")
        assert f[f"strata-rare-common-{name}"]["kind"] == "no_divergence"
    assert not any(row["diverges"] for row in js(r)["divergence"])
    assert not any("diverges" in c.flags for c in r.per_class)


def test_insufficient_rare_stratum_gives_no_claim():
    r = scenario("insufficient-rare")
    rare = {s["name"]: s for s in js(r)["strata"]}["rare"]
    assert rare["classes"] == ["e"] and rare["insufficient_classes"] == ["e"]
    f = by_id(r)
    for name in ("recall", "f1"):
        s = f[f"strata-rare-common-{name}"]
        assert s["kind"] == "insufficient" and s["severity"] == "info"
        word = {"recall": "recall", "f1": "F1"}[name]
        assert s["text"] == (
            "The rare stratum (prevalence < 1%) holds only classes with fewer "
            f"than 10 true samples; no claim about its {word} is made."
        )
        assert f"stratum-rare-{name}" not in f
    assert f["insufficient-classes"]["classes"] == ["e"]
    assert "'e' 8" in f["insufficient-classes"]["text"]
    for finding in js(r)["findings"]:
        if finding["kind"] in CLAIM_KINDS:
            assert "e" not in finding["classes"], finding["id"]
    rows = [row for row in js(r)["divergence"] if row["label"] == "e"]
    assert rows and all(row["insufficient"] and not row["diverges"] for row in rows)
    # recall 0 against ~0.9: the class would be flagged if it counted
    assert all(row["vs_micro"]["ci_high"] < 0 for row in rows)
    e = r.class_result("e")
    assert "insufficient" in e.flags and "diverges" not in e.flags


def test_no_gap_or_trend_claim_resting_on_an_insufficient_class_alone():
    cm = insufficient_rare_cm()
    y_true, y_pred = labels_from_cm(cm[:4, :4])  # the same data without the class of 8
    without = quiet_audit(y_true, y_pred, range(4), n_resamples=300, seed=4)
    resting = {"gap-recall", "trend-recall", "stratum-uncommon-recall"}
    assert not resting & {f["id"] for f in js(without)["findings"] if f["kind"] in CLAIM_KINDS}
    with_it = scenario("insufficient-rare")
    claimed = {f["id"] for f in js(with_it)["findings"] if f["kind"] in CLAIM_KINDS}
    assert not resting & claimed, claimed


def test_no_gap_claim_resting_on_predicted_classes_without_true_samples():
    # one true class; 10% of its rows predicted as three classes that never occur: their F1 is 0
    # and pulls macro F1 to ~0.23 against a micro F1 of ~0.86, a gap made only of classes below
    # min_support (zero samples)
    rng = np.random.default_rng(0)
    y_true = np.zeros(300, dtype=int)
    y_pred = np.where(rng.random(300) < 0.9, 0, rng.integers(1, 4, 300))
    r = quiet_audit(y_true, y_pred, range(4), n_resamples=200, seed=1)
    gap = {f["id"]: f for f in js(r)["findings"]}["gap-f1"]
    assert gap["kind"] == "insufficient" and gap["severity"] == "info", gap
    assert "rests on classes with fewer than 10 true samples" in gap["text"]
    # the marginal gap itself is far from zero: the rule, not the data, withholds the claim
    assert r.gap["f1"].macro_minus_micro.ci_high < -0.5


def test_summary_line_counts_comparisons_that_rest_on_small_classes():
    # one true class, a fifth of its rows predicted as two classes that never occur: the gap
    # excludes zero only through those classes, and no other claim is made
    y_true = np.zeros(100, dtype=int)
    y_pred = np.random.default_rng(1).choice(3, 100, p=[0.8, 0.1, 0.1])
    r = quiet_audit(y_true, y_pred, range(3), n_resamples=200, seed=1)
    (summary,) = [f for f in js(r)["findings"] if f["id"] == "no-divergence"]
    assert summary["text"].startswith("No established divergence")
    assert "1 exclude zero only with classes of fewer than 10 true samples" in summary["text"]
    assert "none of the" not in summary["text"]  # one of them does exclude zero


def test_auc_gap_with_insufficient_classes_is_never_claimed():
    # a class of 6 samples ranked last (AUC 0) pulls macro AUC to 0.75 against micro 0.99: the
    # gap is clear, and made by a class below min_support
    rng = np.random.default_rng(5)
    y = np.repeat(np.arange(4), [400, 300, 200, 6])
    scores = rng.dirichlet(np.ones(4), y.size)
    scores[np.arange(y.size), y] += 2.0
    scores[y == 3, 3] = 0.0
    scores /= scores.sum(axis=1, keepdims=True)
    r = quiet_audit(
        y,
        scores.argmax(axis=1),
        range(4),
        y_score=scores,
        n_resamples=300,
        seed=2,
        findings_metrics=("recall", "roc_auc"),
    )
    f = {f["id"]: f for f in js(r)["findings"]}["gap-roc_auc"]
    assert f["kind"] == "insufficient", f["text"]
    assert "cannot be checked without the classes with fewer than 10 true samples" in f["text"]
    assert r.gap["roc_auc"].macro_minus_micro.ci_high < -0.2


def test_no_stratum_claim_against_a_rest_of_insufficient_classes():
    cm = insufficient_rare_cm()[:, :]
    cm = np.pad(cm, ((0, 2), (0, 2)))
    cm[5, 0] = cm[6, 0] = 8  # three classes of 8 samples, all misclassified
    y_true, y_pred = labels_from_cm(cm)
    r = quiet_audit(
        y_true, y_pred, range(7), n_resamples=300, seed=8, strata="support", strata_cuts=(10,)
    )
    assert [s["insufficient_classes"] for s in js(r)["strata"]][0] == js(r)["strata"][0]["classes"]
    assert not [f["id"] for f in js(r)["findings"] if f["kind"] == "stratum_divergence"]


def test_no_intervals_no_claims():
    r = scenario("founding-no-intervals")
    kinds = [f["kind"] for f in js(r)["findings"]]
    assert kinds.count("no_intervals") == 1
    assert set(kinds) <= {"no_intervals", "insufficient", "undefined"}
    (f,) = [f for f in js(r)["findings"] if f["kind"] == "no_intervals"]
    assert f["evidence"] == {"n_resamples": 0} and f["severity"] == "info"
    assert js(r)["family"]["size"] == 0
    assert all(row["adjusted"] is None and not row["diverges"] for row in js(r)["divergence"])
    assert not any("diverges" in c.flags for c in r.per_class)
    # point estimates are still there
    assert js(r)["gap"]["recall"]["macro_minus_micro"]["estimate"] < 0
    assert js(r)["gap"]["recall"]["macro_minus_micro"]["ci_low"] is None


def test_no_claims_for_lack_of_variation_is_not_called_point_estimates_only():
    y_true, y_pred = labels_from_cm(np.diag([500, 300, 150, 50]))
    r = quiet_audit(y_true, y_pred, range(4), n_resamples=200, seed=0)
    for f in js(r)["findings"]:
        assert "n_resamples = 0" not in f["text"], f["text"]


@pytest.mark.parametrize("name", SCENARIOS)
def test_diverges_flags_follow_the_analysis(name):
    r = scenario(name)
    diverging = {row["label"] for row in js(r)["divergence"] if row["diverges"]}
    for c in r.per_class:
        assert ("diverges" in c.flags) == (c.label in diverging), c.label
        if "insufficient" in c.flags or "absent" in c.flags:
            assert "diverges" not in c.flags, c.label
    for row in js(r)["divergence"]:
        adj = row["adjusted"]
        if row["diverges"]:
            assert not row["insufficient"] and row["material"]
            assert adj["significant"] and (adj["ci_low"] > 0 or adj["ci_high"] < 0)
            assert abs(row["vs_micro"]["estimate"]) >= 0.05  # the default min_effect
        elif adj is not None and not row["insufficient"]:
            if adj["significant"]:  # distinguishable, but not material
                assert not row["material"] and abs(row["vs_micro"]["estimate"]) < 0.05
            else:
                assert adj["ci_low"] <= 0 <= adj["ci_high"]
    # every diverging class is named by a divergent_classes finding for its metric
    named = {
        (c, f["metric"])
        for f in js(r)["findings"]
        if f["kind"] == "divergent_classes"
        for c in f["classes"]
    }
    assert named == {
        (row["label"], row["metric"]) for row in js(r)["divergence"] if row["diverges"]
    }


def test_holm_family():
    """The adjusted intervals are at Holm's levels: sorted by p-value, the i-th significant claim
    (0-based) is tested at alpha / (m - i)."""
    r = scenario("founding")
    fam = js(r)["family"]
    m, alpha = fam["size"], 1 - fam["confidence_level"]
    adj = sorted(
        (row["adjusted"] for row in js(r)["divergence"] if row["adjusted"]),
        key=lambda a: a["p_value"],
    )
    assert 0 < len(adj) <= m
    for a in adj:
        assert a["adjustment"] == "holm"
        assert 1 - alpha - 1e-12 <= a["level"] <= 1 - alpha / m + 1e-12
        assert a["significant"] == (a["p_value"] < 1 - a["level"])
    # step-down: the significant claims are the ones with the smallest p-values
    flags = [a["significant"] for a in adj]
    assert flags == sorted(flags, reverse=True) and any(flags)


def test_holm_adjusted_p_values_against_statsmodels():
    """Each claim's ``p_adjusted`` is statsmodels' Holm (and Bonferroni) adjustment of the
    family's p-values; Holm's decision is ``p_adjusted < alpha`` (before the min_support check
    of the robust form)."""
    from statsmodels.stats.multitest import multipletests

    from prevalens.analyses.family import Claim, adjust

    rng = np.random.default_rng(4)
    est = rng.normal(0, 1, 30) * np.r_[np.full(10, 4.0), np.ones(20)]
    for how in ("holm", "bonferroni"):
        claims = [
            Claim(key=("c", i), estimate=float(e), se=1.0, eligible=True) for i, e in enumerate(est)
        ]
        adjust(claims, 0.05, how, 0.95)
        p = np.array([c.p for c in claims])
        expect = multipletests(p, alpha=0.05, method=how)[1]
        got = np.array([c.adjusted(how).p_adjusted for c in claims])
        np.testing.assert_allclose(got, expect, rtol=1e-12, atol=0)
        assert [c.significant for c in claims] == list(got < 0.05)


@pytest.mark.parametrize("how", ["holm", "bonferroni"])
def test_batched_claim_intervals_equal_one_by_one(how):
    """Claims whose families of intervals are evaluated together (``Claim.batch``) get the same
    p, level, interval, adjusted p and decision as when each family is evaluated alone: through
    Holm's stop, a robust form that withdraws a claim, and claims of two batches interleaved
    with normal ones."""
    from prevalens.analyses.family import Claim, IntervalBatch, adjust

    rng = np.random.default_rng(11)
    n = 60
    est = rng.normal(0, 1, n) * np.r_[np.full(20, 5.0), np.ones(40)]
    est[[0, 7, 14]] = [8.0, -9.0, 10.0]
    se = rng.uniform(0.5, 1.5, n)
    skew = rng.uniform(0.8, 1.25, n)  # asymmetric intervals

    def family(rows):
        def at(z):
            z = np.asarray(z, dtype=np.float64)
            return est[rows] - z * se[rows] * skew[rows], est[rows] + z * se[rows] / skew[rows]

        return at

    def p_of(i):
        up = est[i] > 0
        width = se[i] * (skew[i] if up else 1 / skew[i])
        return float(2 * stats.norm.sf(abs(est[i]) / width))

    def claims(batched):
        rows = [np.arange(0, n, 2), np.arange(1, n, 2)]
        batches = [IntervalBatch(family(r), r.size) for r in rows]
        out = []
        for i in range(n):
            c = Claim(key=("c", i), estimate=float(est[i]), se=float(se[i]), eligible=True)
            if i % 5 == 4:  # a normal claim between the batched ones
                out.append(c)
                continue
            one = family(np.array([i]))
            c.interval_at = lambda z, f=one: tuple(float(v[0]) for v in f(np.array([z])))
            c.p_value = p_of(i)
            if i % 7 == 0:  # a robust form that fails: the claim is withdrawn
                c.robust = (float(est[i]) * 0.01, float(se[i]))
            if batched:
                c.batch = (batches[i % 2], i // 2)
            out.append(c)
        return out

    alone, together = claims(False), claims(True)
    adjust(alone, 0.05, how, 0.95)
    adjust(together, 0.05, how, 0.95)
    fields = ("p", "level", "low", "high", "p_adjusted", "significant", "rests_on_insufficient")
    for a, b in zip(alone, together):
        assert [getattr(a, f) for f in fields] == [getattr(b, f) for f in fields]
    assert 3 <= sum(c.significant for c in alone) < n - 10
    assert any(c.rests_on_insufficient for c in alone)


# ------------------------------------------------------------------------------------------------
# the null scenario (slow)


NULL_PREVALENCE = np.array([0.45, 0.25, 0.15, 0.08, 0.05, 0.02])
NULL_RECALL = 0.8
NULL_N = 2000
NULL_DATASETS = 400
NULL_RESAMPLES = 1000
NULL_MAX_RATE = 0.05


def equal_performance_population(prevalence, recall):
    """Row-conditional confusion probabilities C with C[i, i] = recall for every class and
    precision = recall for every class: the joint error mass is symmetric, E_ij = x_i x_j
    (i != j), with row sums pi_i (1 - r) (solved for x by fixed-point iteration), so each class is
    predicted exactly as often as it occurs."""
    e = prevalence * (1 - recall)
    x = np.sqrt(e)
    for _ in range(100_000):
        new = 0.5 * (x + e / (x.sum() - x))
        if np.max(np.abs(new - x)) < 1e-16:
            break
        x = new
    joint = np.outer(x, x)
    np.fill_diagonal(joint, 0.0)
    c = joint / prevalence[:, None]
    np.fill_diagonal(c, recall)
    return c


def test_null_population_has_equal_recall_and_precision():
    c = equal_performance_population(NULL_PREVALENCE, NULL_RECALL)
    joint = NULL_PREVALENCE[:, None] * c
    np.testing.assert_allclose(c.sum(axis=1), 1, atol=1e-12)
    np.testing.assert_allclose(np.diag(c), NULL_RECALL, atol=1e-12)
    np.testing.assert_allclose(np.diag(joint) / joint.sum(axis=0), NULL_RECALL, atol=1e-12)
    assert (c >= 0).all()


@pytest.mark.slow
def test_null_scenario_divergence_rate():
    """Equal recall and precision (0.8) for every class, prevalence 45/25/15/8/5/2%, N = 2000,
    labels only, the default configuration (stratified bootstrap, Holm): any claim of divergence
    (a gap, stratum, trend or divergent-classes finding) is a false claim. Over 400 seeded
    datasets (B = 1000 each; about 25 s on 2 cores) at most 5% (20) may have one: the family-wise
    error rate that Holm's adjustment at 95% promises.

    False-failure rate: the test fails when more than 20 of 400 datasets get a claim, which for
    a true family-wise rate p has the binomial tail probability 0.44 at p = 5% (the bound itself),
    0.13 at 4%, 0.010 at 3%, 0.0014 at 2.5%, 8e-5 at 2%. The test prints the tail at the observed
    rate. The datasets are seeded, so the outcome is deterministic.

    When this test was written the observed rate was 8.0% (32 of these 400; with other seeds: 22
    of 300 and 93 of 1000 with B = 500, 95% CI 7.6-11.3%, and 18 of 200 with B = 1000), so it
    fails: a defect of the source, reported, not of the test. Most false claims are single classes 'above' the micro recall or F1 (normal p-values
    with the plug-in bootstrap standard error are anti-conservative for a small class whose
    recall happens to be high) and the largest class's F1 'below' micro F1 (the stratified
    bootstrap holds the supports fixed, so it misses the variance that the random class counts
    add to precision and F1). With supports fixed at N * prevalence the rate was 5.5%.
    """
    c = equal_performance_population(NULL_PREVALENCE, NULL_RECALL)
    cum = np.cumsum(c, axis=1)
    k = NULL_PREVALENCE.size
    claims = {}
    for i, ss in enumerate(np.random.SeedSequence(20240601).spawn(NULL_DATASETS)):
        rng = np.random.default_rng(ss)
        y_true = rng.choice(k, size=NULL_N, p=NULL_PREVALENCE)
        u = rng.random(NULL_N)
        y_pred = np.minimum((u[:, None] > cum[y_true]).sum(axis=1), k - 1)
        r = quiet_audit(
            y_true, y_pred, range(k), n_resamples=NULL_RESAMPLES, seed=int(ss.generate_state(1)[0])
        )
        ids = [f["id"] for f in js(r)["findings"] if f["kind"] in CLAIM_KINDS]
        if ids:
            claims[i] = ids
    rate = len(claims) / NULL_DATASETS
    # the chance that a fresh seed fails if the true rate were the observed one
    tail = stats.binom.sf(NULL_MAX_RATE * NULL_DATASETS, NULL_DATASETS, rate)
    print(
        f"\nnull scenario: {len(claims)} of {NULL_DATASETS} datasets with a divergence claim "
        f"(rate {rate:.3f}); P(fail) at this rate {tail:.3g}; claims: {claims}"
    )
    assert rate <= NULL_MAX_RATE, (rate, claims)


# ------------------------------------------------------------------------------------------------
# materiality (issue 11): valid at small n, and at least min_effect


def shuttle_pattern_cm(minority_hits=6):
    """One 10-sample class recalled 6 times among four large classes at 0.99+: Shuttle's
    Bpv.Close against the rest (the pattern that was reported as 'no evidence')."""
    support = np.array([11000, 2100, 800, 600, 10])
    hits = np.array([10998, 2095, 797, 598, minority_hits])
    cm = np.zeros((5, 5), dtype=np.int64)
    for i in range(5):
        cm[i, i] = hits[i]
        cm[i, (i + 1) % 5 if i != 4 else 0] = support[i] - hits[i]
    return cm


def test_a_ten_sample_class_at_recall_06_among_099_is_found():
    y_true, y_pred = labels_from_cm(shuttle_pattern_cm())
    r = quiet_audit(y_true, y_pred, range(5), n_resamples=300, seed=0)
    f = by_id(r)
    below = f["classes-below-recall"]
    assert below["kind"] == "divergent_classes" and below["classes"] == [4]
    c = below["evidence"]["classes"][0]
    assert c["ci_high"] < 0 and c["ci_low"] >= -1  # a recall difference, never below -1
    row = next(x for x in js(r)["divergence"] if x["label"] == 4 and x["metric"] == "recall")
    # the displayed interval (95%, mid-p MOVER) is a possible range for a recall difference
    assert -1 <= row["vs_micro"]["ci_low"] < row["vs_micro"]["ci_high"] < 0
    assert "MOVER" in row["vs_micro"]["method"]
    # the majority class's tiny differences are not divergence, nor even findings
    named = {
        c for f_ in js(r)["findings"] if f_["kind"] == "divergent_classes" for c in f_["classes"]
    }
    assert 0 not in named


def test_min_effect_decides_what_is_material():
    y_true, y_pred, proba = founding_data()
    base = dict(y_score=proba, n_resamples=200, seed=1)
    r_strict = quiet_audit(y_true, y_pred, FOUNDING_LABELS, min_effect=0.9, **base)
    strict = by_id(r_strict)
    loose = by_id(quiet_audit(y_true, y_pred, FOUNDING_LABELS, min_effect=0.0, **base))
    # the ROC AUC gap (about -0.04, its adjusted interval below zero) is a finding at 0 only
    assert loose["gap-roc_auc"]["kind"] == "gap"
    assert strict["gap-roc_auc"]["kind"] == "immaterial"
    # at 0.9 no difference in this scenario is material: nothing is claimed, and it says why
    assert not [f for f in strict.values() if f["kind"] in CLAIM_KINDS]
    nd = strict["no-divergence"]
    assert nd["evidence"]["immaterial"] > 0 and "minimum material effect of 0.90" in nd["text"]
    assert not [c.label for c in r_strict.per_class if "diverges" in c.flags]
    assert js(r_strict)["run"]["config"]["min_effect"] == 0.9


@pytest.mark.parametrize("bad", [-0.1, 1.0, 1.5, "0.05", True, float("nan")])
def test_min_effect_is_validated(bad):
    with pytest.raises(prevalens.ConfigError, match="`min_effect` must be a number in"):
        AuditConfig(min_effect=bad)


def test_no_stratum_claim_rests_on_a_one_sample_typo_class():
    """A typo in y_true makes a 1-sample class that forms the rare stratum: it must not create
    (or inflate) a stratum claim; the claim is over the classes with min_support samples."""
    cm = equal_performance_cm()
    k = cm.shape[0]
    typo = np.zeros((k + 1, k + 1), dtype=np.int64)
    typo[:k, :k] = cm
    typo[k, 0] = 1  # one sample of a misspelt class, predicted as class 0
    y_true, y_pred = labels_from_cm(typo)
    r = quiet_audit(y_true, y_pred, range(k + 1), n_resamples=300, seed=0)
    for f in js(r)["findings"]:
        assert f["kind"] not in CLAIM_KINDS or k not in f["classes"], f["text"]
        if f["kind"] == "stratum_divergence":
            assert f["evidence"]["scope"], f["text"]  # says the small class is left out


def test_a_trend_over_a_narrow_span_is_said_not_claimed():
    # 8 classes of 95 to 105 samples: prevalence spans 0.04 decades, too narrow for a trend;
    # recall varies from class to class (0.6 to 0.95), which a slope would extrapolate
    rng = np.random.default_rng(11)
    sizes = np.arange(95, 105 + 1, 1.5).astype(int)[:8]
    recall = np.linspace(0.6, 0.95, 8)
    y_true = np.repeat(np.arange(8), sizes)
    right = rng.random(y_true.size) < recall[y_true]
    y_pred = np.where(right, y_true, (y_true + 1) % 8)
    r = quiet_audit(y_true, y_pred, range(8), n_resamples=200, seed=3)
    f = {f["id"]: f for f in js(r)["findings"]}["trend-recall"]
    assert f["kind"] == "insufficient" and f["severity"] == "info"
    assert "too narrow to say how recall changes with prevalence" in f["text"]
    assert f["evidence"]["span_decades"] < 1
    assert not [
        g for g in js(r)["findings"] if g["id"].startswith("trend-") and g["kind"] == "trend"
    ]


def test_claim_with_its_own_intervals_and_a_robust_form_can_be_significant():
    """A claim tested through its family of intervals (MOVER, Newcombe) whose robust form (over
    the classes with min_support samples) is as strong is significant (the robust check used a
    NaN quantile for such claims, so it never was)."""
    from prevalens.analyses.family import Claim, adjust

    def at(z):
        return 0.3 - 0.05 * z, 0.3 + 0.05 * z

    c = Claim(key=("c",), estimate=0.3, se=0.05, eligible=True, robust=(0.3, 0.05))
    c.interval_at, c.p_value = at, 1e-9
    weak = Claim(key=("w",), estimate=0.3, se=0.05, eligible=True, robust=(0.01, 0.05))
    weak.interval_at, weak.p_value = at, 1e-9
    adjust([c, weak], 0.05, "holm", 0.95)
    assert c.significant and not c.rests_on_insufficient
    assert not weak.significant and weak.rests_on_insufficient


def test_no_claim_where_its_marginal_interval_reaches_zero():
    """A skewed marginal interval that reaches 0 while the normal one at the adjusted level does
    not: the claim is not made, its adjusted interval contains the marginal one and its
    adjusted p is at least the marginal p; where the marginal interval excludes 0 the normal p
    stands (a bootstrap p cannot resolve Holm's first steps)."""
    from prevalens.analyses.family import Claim, adjust

    skewed = Claim(key=("s",), estimate=0.2, se=0.04, eligible=True, marginal=(-0.01, 0.28, 0.067))
    clear = Claim(key=("c",), estimate=0.2, se=0.04, eligible=True, marginal=(0.1, 0.3, 0.0025))
    adjust([skewed, clear], 0.05, "holm", 0.95)
    assert not skewed.significant
    assert skewed.low <= -0.01 and skewed.high >= 0.28
    assert skewed.p_adjusted >= 0.067
    assert clear.significant and clear.p < 1e-5
