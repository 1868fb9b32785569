"""Prevalence strata, the micro-macro gap and the trend (docs/design.md "Prevalence strata", "Gap and
trend"; issue 4).

Oracles, each independent of the code under test:

* stratum membership from exact integer comparisons (``100 * support < N`` is "prevalence < 1%"),
  not from floating-point prevalences;
* per-class one-vs-rest tables written out here from the confusion matrix (tp = diagonal, fp =
  column sum - tp, ...), so a stratum's macro value is the plain mean of its classes' values and
  its micro value the ratio of pooled counts;
* the gap identity of docs/design.md: with per-class recalls r_k and support weights w_k over the K'
  classes where recall is defined, macro - micro = sum_k (1/K' - w_k) r_k = -K' Cov(w, r)
  (population covariance). For every metric the contributions sum to macro - weighted, the stated
  definition of the decomposition (strata.py's module docstring);
* the trend slope against ``np.polyfit(x, y, 1, w=sqrt(support))`` (polyfit weights multiply the
  residuals, so sqrt gives least squares weighted by support) on x = log10 prevalence, and
  Spearman's correlation against ``scipy.stats.spearmanr``.

Hypothesis draws confusion matrices with absent classes (rows of zeros), never-predicted classes
(columns of zeros) and rows of very different sizes, so every stratum occurs.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
from hypothesis import example, given, note
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from scipy import stats
from tail_sims import labels_from_cm

import prevalens
from prevalens import AuditConfig, ConfigError, audit_predictions, predictions_from_arrays
from prevalens.analyses.gap import contributions
from prevalens.analyses.mover import ClassProportions, macro_difference
from prevalens.counts import class_tables
from prevalens.data import example_path
from prevalens.metrics import STRATA_METRICS
from prevalens.strata import StrataSpec, assign_strata

TOL = 1e-12


def unpack(a):
    """``(index, definitions as dicts, omitted names)`` of a StrataAssignment."""
    return a.index, [d.to_dict() for d in a.definitions], list(a.omitted)


def js(result):
    """The JSON form of a result (the contract these tests check)."""
    return result.to_dict()


# ------------------------------------------------------------------------------------------------
# helpers


def run(cm, labels=None, **config):
    """Audit of the labels behind ``cm`` (every class kept via ``labels``), warnings silenced."""
    cm = np.asarray(cm)
    y_true, y_pred = labels_from_cm(cm)
    k = cm.shape[0]
    if labels is not None:
        labels = np.asarray(labels)
        y_true, y_pred = labels[y_true], labels[y_pred]
    config.setdefault("n_resamples", 0)
    config.setdefault("seed", 0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", prevalens.PrevalensWarning)
        pred = predictions_from_arrays(
            y_true, y_pred, labels=list(range(k)) if labels is None else list(labels)
        )
        return audit_predictions(pred, AuditConfig(**config))


def tables(cm):
    """One-vs-rest tp, fp, fn, tn of each class (float arrays)."""
    cm = np.asarray(cm, dtype=np.float64)
    tp = np.diag(cm)
    fp = cm.sum(axis=0) - tp
    fn = cm.sum(axis=1) - tp
    tn = cm.sum() - tp - fp - fn
    return tp, fp, fn, tn


def ratio(name, tp, fp, fn, tn):
    """Numerator and denominator of a per-class metric (written out here, not imported)."""
    return {
        "recall": (tp, tp + fn),
        "precision": (tp, tp + fp),
        "f1": (2 * tp, 2 * tp + fp + fn),
        "specificity": (tn, tn + fp),
        "jaccard": (tp, tp + fp + fn),
    }[name]


def per_class(name, cm):
    num, den = ratio(name, *tables(cm))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, num / np.where(den > 0, den, 1), np.nan)


def nanmean_or_nan(v):
    v = np.asarray(v, dtype=np.float64)
    v = v[~np.isnan(v)]
    return float(v.mean()) if v.size else math.nan


def expected_strata(support):
    """Default strata by exact integer comparison: 0 rare (< 1%), 1 uncommon, 2 common (>= 10%),
    -1 absent."""
    support = np.asarray(support, dtype=np.int64)
    n = int(support.sum())
    out = np.where(100 * support < n, 0, np.where(10 * support < n, 1, 2))
    return np.where(support == 0, -1, out)


def num(x):
    """JSON number or null -> float (NaN for null)."""
    return math.nan if x is None else float(x)


def close(actual, desired, tol=TOL, msg=""):
    np.testing.assert_allclose(
        num(actual) if not isinstance(actual, np.ndarray) else actual,
        desired,
        rtol=0,
        atol=tol,
        equal_nan=True,
        err_msg=msg,
    )


# ------------------------------------------------------------------------------------------------
# strategies


@st.composite
def confusion_matrices(draw, min_classes=2, max_classes=8, absent=True, never_predicted=True):
    """K x K count matrices with rows of very different sizes (so classes fall in every default
    stratum), some all-zero rows (absent classes) and some all-zero columns (never predicted)."""
    k = draw(st.integers(min_classes, max_classes), label="K")
    base = draw(arrays(np.int64, (k, k), elements=st.integers(0, 12)), label="base")
    diag_boost = draw(arrays(np.int64, k, elements=st.integers(0, 30)), label="diagonal")
    base[np.arange(k), np.arange(k)] += diag_boost
    scale_choices = [0, 1, 3, 20, 150] if absent else [1, 3, 20, 150]
    scale = draw(arrays(np.int64, k, elements=st.sampled_from(scale_choices)), label="row scale")
    cm = base * scale[:, None]
    if never_predicted:
        cols = draw(arrays(np.bool_, k), label="never predicted")
        if not cols.all():
            cm[:, cols] = 0
    if cm.sum() < 2 or (not absent and (cm.sum(axis=1) == 0).any()):
        cm[np.arange(k), np.arange(k)] += 1  # an audit needs two samples
        cm[0, 0] += 1
    present = np.flatnonzero(cm.sum(axis=1) > 0)
    if not ((cm.sum(axis=1) > 0) & (cm.sum(axis=0) > 0)).any() and len(present) >= 2:
        # y_true and y_pred must share a label (disjoint label sets are refused as a coding error)
        cm[present[0], present[0]] += 1
    note(f"cm={cm.tolist()}")
    return cm


# ------------------------------------------------------------------------------------------------
# assign_strata


def test_default_cuts_boundaries():
    # N = 1000: 5 -> 0.5%, 10 -> exactly 1%, 50 -> 5%, 99 -> 9.9%, 100 -> exactly 10%, 736.
    support = [5, 10, 50, 99, 100, 736]
    index, defs, omitted = unpack(assign_strata(support))
    assert index.tolist() == [0, 1, 1, 1, 2, 2]
    assert [d["name"] for d in defs] == ["rare", "uncommon", "common"]
    assert omitted == []
    assert [(d["unit"], d["low"], d["high"]) for d in defs] == [
        ("prevalence", 0.0, 0.01),
        ("prevalence", 0.01, 0.1),
        ("prevalence", 0.1, 1.0),
    ]
    assert [d["description"] for d in defs] == [
        "prevalence < 1%",
        "1% <= prevalence < 10%",
        "prevalence >= 10%",
    ]


def test_default_cuts_through_audit():
    support = [5, 10, 50, 99, 100, 736]
    cm = np.diag(support)
    r = run(cm, labels=list("abcdef"))
    assert [c.stratum for c in r.per_class] == [
        "rare",
        "uncommon",
        "uncommon",
        "uncommon",
        "common",
        "common",
    ]
    assert [(s["name"], s["classes"], s["n_classes"], s["support"]) for s in js(r)["strata"]] == [
        ("rare", ["a"], 1, 5),
        ("uncommon", ["b", "c", "d"], 3, 159),
        ("common", ["e", "f"], 2, 836),
    ]
    assert js(r)["strata"][0]["insufficient_classes"] == ["a"]  # 5 < min_support = 10
    assert js(r)["strata"][1]["insufficient_classes"] == []
    d = r.to_dict()["strata_definition"]
    assert d["method"] == "prevalence" and d["cuts"] == [0.01, 0.1]
    assert d["omitted_empty"] == [] and d["absent_classes"] == []


def test_empty_strata_are_omitted_and_listed():
    index, defs, omitted = unpack(assign_strata([400, 300, 300]))  # all >= 10%
    assert index.tolist() == [0, 0, 0]
    assert [d["name"] for d in defs] == ["common"]
    assert omitted == ["rare", "uncommon"]

    index, defs, omitted = unpack(
        assign_strata([5, 600, 395])
    )  # 0.5%, 60%, 39.5%: no uncommon class
    assert index.tolist() == [0, 1, 1]  # indices into the definitions that remain
    assert [d["name"] for d in defs] == ["rare", "common"]
    assert omitted == ["uncommon"]

    r = run(np.diag([400, 300, 300]))
    assert [s["name"] for s in js(r)["strata"]] == ["common"]
    assert js(r)["strata_definition"]["omitted_empty"] == ["rare", "uncommon"]
    assert js(r)["comparisons"] == []  # rare vs common needs both


def test_absent_classes_listed_apart():
    cm = np.array(
        [
            [50, 2, 0, 1],
            [0, 0, 0, 0],  # class 1: support 0, never predicted either
            [3, 0, 0, 0],  # class 2: 3 samples, all predicted as class 0
            [1, 0, 4, 900],
        ]
    )
    index, defs, omitted = unpack(assign_strata(cm.sum(axis=1)))
    assert index[1] == -1
    assert (index[[0, 2, 3]] >= 0).all()
    r = run(cm, labels=["w", "x", "y", "z"])
    assert r.class_result("x").stratum is None
    assert "absent" in r.class_result("x").flags
    assert js(r)["strata_definition"]["absent_classes"] == ["x"]
    assert all("x" not in s["classes"] for s in js(r)["strata"])
    stratum_of = {c["label"]: c["stratum"] for c in js(r)["gap"]["recall"]["contributions"]}
    assert stratum_of["x"] is None
    # recall of an absent class is undefined, so it contributes nothing
    assert {c["label"]: c["contribution"] for c in js(r)["gap"]["recall"]["contributions"]}[
        "x"
    ] is None


def test_log_quantiles():
    # K = 9 prevalences spaced evenly on the log scale: the 1/3 and 2/3 quantiles of the
    # log10 prevalences fall between classes, so each group gets three classes.
    support = np.array([2, 4, 8, 16, 32, 64, 128, 256, 512])
    spec = StrataSpec(method="log-quantiles", n_groups=3)
    index, defs, omitted = unpack(assign_strata(support, spec))
    assert index.tolist() == [0, 0, 0, 1, 1, 1, 2, 2, 2]
    assert [d["name"] for d in defs] == ["rare", "uncommon", "common"]
    logp = np.log10(support / support.sum())
    edges = 10 ** np.quantile(logp, [1 / 3, 2 / 3])
    np.testing.assert_allclose([defs[0]["high"], defs[1]["high"]], edges, rtol=1e-12)
    assert defs[0]["low"] == 0.0 and defs[-1]["high"] == 1.0

    # any other number of groups gets numbered names, rarest first
    spec = StrataSpec(method="log-quantiles", n_groups=2)
    index, defs, _ = unpack(assign_strata(support[:6], spec))
    assert index.tolist() == [0, 0, 0, 1, 1, 1]
    assert [d["name"] for d in defs] == ["stratum 1 (rarest)", "stratum 2 (most common)"]

    r = run(np.diag(support), strata="log-quantiles", strata_groups=3)
    assert [s["n_classes"] for s in js(r)["strata"]] == [3, 3, 3]
    assert js(r)["strata_definition"]["method"] == "log-quantiles"
    assert js(r)["strata_definition"]["cuts"] is None


def test_support_cuts():
    support = [3, 10, 99, 100, 5000]
    index, defs, omitted = unpack(
        assign_strata(support, StrataSpec(method="support", cuts=(10, 100)))
    )
    assert index.tolist() == [0, 1, 1, 2, 2]
    assert [(d["unit"], d["low"], d["high"]) for d in defs] == [
        ("support", 0.0, 10.0),
        ("support", 10.0, 100.0),
        ("support", 100.0, None),
    ]
    assert [d["description"] for d in defs] == [
        "support < 10",
        "10 <= support < 100",
        "support >= 100",
    ]
    r = run(np.diag(support), strata="support", strata_cuts=(10, 100))
    assert [s["classes"] for s in js(r)["strata"]] == [[0], [1, 2], [3, 4]]
    assert r.to_dict()["strata"][2]["bounds"]["high"] is None
    with pytest.raises(ValueError, match="cut points"):
        assign_strata(support, StrataSpec(method="support"))


def test_custom_cuts_and_names():
    support = [5, 10, 50, 99, 100, 736]
    spec = StrataSpec(cuts=(0.06,), names=("tail", "head"))
    index, defs, omitted = unpack(assign_strata(support, spec))
    assert index.tolist() == [0, 0, 0, 1, 1, 1]
    assert [d["name"] for d in defs] == ["tail", "head"]
    assert defs[0]["description"] == "prevalence < 6%"
    r = run(np.diag(support), strata_names=("tail", "body", "head"))
    assert [c.stratum for c in r.per_class] == ["tail", "body", "body", "body", "head", "head"]
    with pytest.raises(ValueError, match="3 strata need 3 names, got 2"):
        assign_strata(support, StrataSpec(names=("a", "b")))


def test_strata_names_are_labels_only():
    # The analyses use the strata by rank (rarest and most common configured stratum), never
    # by name: renamed strata give the same numbers, the same comparison and the same family.
    rng = np.random.default_rng(3)
    support = np.array([6, 40, 70, 300, 900, 1400])
    cm = np.array(
        [
            rng.multinomial(n, np.r_[np.full(6, 0.02), 0][:6] + np.eye(6)[j] * 0.88)
            for j, n in enumerate(support)
        ]
    )
    default = run(cm, n_resamples=200, seed=1)
    renamed = run(cm, n_resamples=200, seed=1, strata_names=("tail", "body", "head"))
    d, e = js(default), js(renamed)
    assert [c["a"] for c in d["comparisons"]] == ["rare"]
    assert [(c["a"], c["b"]) for c in e["comparisons"]] == [("tail", "head")]
    assert d["comparisons"][0]["difference"] == e["comparisons"][0]["difference"]
    assert d["family"] == e["family"] and d["family"]["size"] > 0
    assert [r["adjusted"] for r in d["divergence"]] == [r["adjusted"] for r in e["divergence"]]
    assert [f["text"] for f in d["findings"]] == [
        f["text"].replace("tail", "rare").replace("body", "uncommon").replace("head", "common")
        for f in e["findings"]
    ]


@given(cm=confusion_matrices())
def test_strata_membership_matches_exact_arithmetic(cm):
    support = cm.sum(axis=1)
    index, defs, omitted = unpack(assign_strata(support))
    expected = expected_strata(support)
    names = ["rare", "uncommon", "common"]
    got = [defs[g]["name"] if g >= 0 else None for g in index]
    assert got == [names[g] if g >= 0 else None for g in expected]
    assert omitted == [n for i, n in enumerate(names) if not (expected == i).any()]


CONFIG_ERRORS = [
    (
        dict(strata_cuts=[0.1, 0.01]),
        r"^`strata_cuts` must be strictly increasing; got \[0\.1, 0\.01\]$",
    ),
    (dict(strata_cuts=[0.01, 0.01]), r"^`strata_cuts` must be strictly increasing"),
    (dict(strata_cuts=[]), r"^`strata_cuts` must be a non-empty list of numbers; got \[\]$"),
    (
        dict(strata_cuts=[0.01, 5]),
        r"^`strata_cuts` on prevalence must lie between 0 and 1 "
        r"\(e\.g\. 0\.01, 0\.1\); got \[0\.01, 5\]$",
    ),
    (dict(strata_cuts=0.05), r"^`strata_cuts` must be a list; got 0\.05$"),
    (
        dict(strata="support"),
        r"^`strata=\"support\"` needs `strata_cuts` \(support counts, "
        r"e\.g\. 10, 100\)$",
    ),
    (
        dict(strata="quantiles"),
        r"^`strata` must be one of 'prevalence', 'log-quantiles', "
        r"'support'; got 'quantiles'$",
    ),
    (dict(strata_groups=1), r"^`strata_groups` must be a whole number >= 2; got 1$"),
    (
        dict(strata_names=["a", "b"]),
        r"^`strata_names` must give 3 different names, rarest "
        r"first; got \['a', 'b'\]$",
    ),
    (dict(strata_names=["a", "a", "b"]), r"^`strata_names` must give 3 different names"),
    (
        dict(strata="support", strata_cuts=[10], strata_names=["x", "y", "z"]),
        r"^`strata_names` must give 2 different names",
    ),
    (
        dict(strata="log-quantiles", strata_groups=4, strata_names=["a", "b", "c"]),
        r"^`strata_names` must give 4 different names",
    ),
    (
        dict(findings_metrics=["auc"]),
        r"^`findings_metrics` must be a non-empty list of precision, "
        r"recall, f1, specificity, jaccard, roc_auc; got \['auc'\]$",
    ),
    (dict(findings_metrics=[]), r"^`findings_metrics` must be a non-empty list"),
    (
        dict(divergence_adjustment="fdr"),
        r"^`divergence_adjustment` must be one of 'holm', "
        r"'bonferroni'; got 'fdr'$",
    ),
]


@pytest.mark.parametrize("kwargs, message", CONFIG_ERRORS, ids=[str(k) for k, _ in CONFIG_ERRORS])
def test_config_errors(kwargs, message):
    with pytest.raises(ConfigError, match=message):
        AuditConfig(**kwargs)


# ------------------------------------------------------------------------------------------------
# the gap decomposition


@given(cm=confusion_matrices())
def test_contributions_sum_to_the_gap_directly(cm):
    point = prevalens.count_statistics(cm)
    support = cm.sum(axis=1)
    for name in STRATA_METRICS:
        values = point[f"per_class.{name}"]
        c = contributions(values, support)
        assert np.all(c[np.isnan(values)] == 0)
        macro, weighted = float(point[f"macro.{name}"]), float(point[f"weighted.{name}"])
        if math.isnan(macro):
            continue
        close(c.sum(), macro - weighted, msg=name)
    # recall: the weighted average is the micro one, and the gap is -K' Cov(w, r)
    r = per_class("recall", cm)
    defined = ~np.isnan(r)
    w = support[defined] / support[defined].sum()
    k_def = defined.sum()
    cov = np.mean((w - w.mean()) * (r[defined] - r[defined].mean()))
    c = contributions(point["per_class.recall"], support)
    micro = np.trace(cm) / cm.sum()
    close(c.sum(), nanmean_or_nan(r) - micro)
    close(c.sum(), -k_def * cov)


def test_contributions_batch_axis():
    """contributions() works on replicates (B, K) the same as on one row."""
    rng = np.random.default_rng(3)
    values = rng.random((50, 6))
    values[rng.random((50, 6)) < 0.2] = np.nan
    support = rng.integers(1, 100, (50, 6))
    batch = contributions(values, support)
    for b in range(50):
        np.testing.assert_array_equal(batch[b], contributions(values[b], support[b]))


@given(cm=confusion_matrices())
def test_gap_outputs_of_the_audit(cm):
    r = run(cm)
    support = cm.sum(axis=1)
    expected_index = expected_strata(support)
    names = ["rare", "uncommon", "common"]
    for name in STRATA_METRICS:
        g = js(r)["gap"][name]
        macro = r.averages["macro"][name].estimate
        micro = r.averages["micro"][name].estimate
        weighted = r.averages["weighted"][name].estimate
        values = r.per_class_values(name)
        if math.isnan(weighted):
            # the metric is defined only for absent classes (support 0): no weights, no
            # decomposition; see test_gap_json_when_only_absent_classes_are_defined
            continue
        contrib = np.array([num(c["contribution"]) for c in g["contributions"]])
        assert np.array_equal(np.isnan(contrib), np.isnan(values))
        total = np.nansum(contrib)
        close(g["sum_of_contributions"], total, msg=name)
        close(g["sum_of_contributions"], macro - weighted, msg=name)
        close(g["macro_minus_weighted"]["estimate"], macro - weighted, msg=name)
        close(g["macro_minus_micro"]["estimate"], macro - micro, msg=name)
        # each class's contribution is (1/K' - w_k) m_k, its weight w_k over defined classes
        defined = ~np.isnan(values)
        w = np.where(defined, support / support[defined].sum(), np.nan)
        close(np.array([num(c["weight"]) for c in g["contributions"]]), w, msg=name)
        close(contrib, np.where(defined, (1 / defined.sum() - w) * values, np.nan), msg=name)
        # by stratum: the sums of the contributions of each stratum's (present) classes
        for s, value in g["by_stratum"].items():
            # classes with no samples whose metric is defined (specificity) have their own bucket
            members = (
                (expected_index == -1) if s == "(no samples)" else expected_index == names.index(s)
            )
            close(value, np.nansum(contrib[members]), msg=f"{name} {s}")
        close(
            sum(v for v in g["by_stratum"].values() if v is not None), np.nansum(contrib), msg=name
        )
        assert [c["stratum"] for c in g["contributions"]] == [
            names[i] if i >= 0 else None for i in expected_index
        ]
    # recall: the contributions are macro - micro exactly, = -K' Cov(w, r)
    g = js(r)["gap"]["recall"]
    close(
        g["sum_of_contributions"],
        r.averages["macro"]["recall"].estimate - r.averages["micro"]["recall"].estimate,
    )
    close(-g["n_classes"] * g["covariance"], g["sum_of_contributions"])
    assert g["n_classes"] == int((support > 0).sum())


@given(cm=confusion_matrices(absent=False))
def test_gap_by_stratum_adds_up_without_absent_classes(cm):
    r = run(cm)
    for name in STRATA_METRICS:
        close(
            sum(js(r)["gap"][name]["by_stratum"].values()),
            js(r)["gap"][name]["sum_of_contributions"],
            msg=name,
        )


def test_gap_by_stratum_adds_up_with_an_absent_class():
    cm = np.array(
        [
            [20, 3, 4, 0],
            [2, 15, 1, 0],
            [0, 0, 0, 0],  # absent class: specificity 1 - 5/92, defined
            [1, 2, 3, 30],
        ]
    )
    r = run(cm)
    for name in STRATA_METRICS:
        close(
            sum(js(r)["gap"][name]["by_stratum"].values()),
            js(r)["gap"][name]["sum_of_contributions"],
            msg=name,
        )


def test_gap_json_when_only_absent_classes_are_defined():
    r = run(np.array([[0, 0], [1, 19]]), labels=["a", "b"], n_resamples=200)
    text = r.to_json()  # strict JSON: no NaN tokens
    g = js(r)["gap"]["specificity"]
    assert g["sum_of_contributions"] is None or math.isfinite(g["sum_of_contributions"])
    assert all(
        c["contribution"] is None or math.isfinite(c["contribution"]) for c in g["contributions"]
    )
    assert text


# ------------------------------------------------------------------------------------------------
# per-stratum estimates, comparisons, trend


@given(cm=confusion_matrices())
@example(cm=np.array([[3000, 20, 5], [10, 300, 3], [8, 2, 15]]))  # rare, uncommon and common
def test_stratum_point_estimates(cm):
    r = run(cm)
    support = cm.sum(axis=1)
    index = expected_strata(support)
    names = ["rare", "uncommon", "common"]
    tp, fp, fn, tn = tables(cm)
    present = support > 0
    macro_of = {}
    for s in js(r)["strata"]:
        members = index == names.index(s["name"])
        rest = present & ~members
        assert s["classes"] == np.flatnonzero(members).tolist()
        assert s["support"] == int(support[members].sum())
        assert s["n_classes"] == int(members.sum())
        for name in STRATA_METRICS:
            values = per_class(name, cm)
            macro = nanmean_or_nan(values[members])
            macro_of[s["name"], name] = macro
            close(s["macro"][name]["estimate"], macro, msg=f"{s['name']} macro {name}")
            n_, d_ = ratio(name, tp[members], fp[members], fn[members], tn[members])
            micro = n_.sum() / d_.sum() if d_.sum() > 0 else math.nan
            close(s["micro"][name]["estimate"], micro, msg=f"{s['name']} micro {name}")
            if rest.any():
                diff = macro - nanmean_or_nan(values[rest])
                close(s["vs_rest"][name]["estimate"], diff, msg=f"{s['name']} vs rest {name}")
            else:
                assert name not in s["vs_rest"]
    comps = js(r)["comparisons"]
    if {"rare", "common"} <= {s["name"] for s in js(r)["strata"]}:
        (comp,) = comps
        assert (comp["a"], comp["b"]) == ("rare", "common")
        for name in STRATA_METRICS:
            close(
                comp["difference"][name]["estimate"],
                macro_of["rare", name] - macro_of["common", name],
                msg=name,
            )
    else:
        assert comps == []


def expected_trend(cm, name, min_support=10):
    """The trend's estimand: each class with at least min_support samples one point, an
    unweighted least-squares line of the metric on log10 prevalence (numpy.polyfit), and
    Spearman's correlation over the same classes (scipy)."""
    support = cm.sum(axis=1).astype(np.float64)
    y = per_class(name, cm)
    ok = (support >= max(min_support, 1)) & ~np.isnan(y)
    x = np.log10(support[ok] / support.sum())
    if ok.sum() < 3 or np.ptp(support[ok]) == 0:
        slope = math.nan
    else:
        slope = np.polyfit(x, y[ok], 1)[0]
    if ok.sum() < 3 or np.ptp(support[ok]) == 0 or np.ptp(y[ok]) == 0:
        rho = math.nan
    else:
        rho = stats.spearmanr(x, y[ok]).statistic
    return slope, rho


@given(cm=confusion_matrices(min_classes=3))
def test_trend_point_estimates(cm):
    r = run(cm)
    support = cm.sum(axis=1)
    for name in STRATA_METRICS:
        slope, rho = expected_trend(cm, name)
        t = js(r)["trend"][name]
        ok = (support >= 10) & ~np.isnan(per_class(name, cm))
        if ok.sum() >= 3 and np.ptp(support[ok]) == 0:
            # every x equal: undefined; see test_trend_undefined_when_all_supports_are_equal
            continue
        np.testing.assert_allclose(
            num(t["slope_per_decade"]["estimate"]),
            slope,
            rtol=1e-9,
            atol=1e-9,
            equal_nan=True,
            err_msg=f"slope {name}",
        )
        close(t["spearman"]["estimate"], rho, tol=1e-12, msg=f"spearman {name}")
        assert t["x"] == "log10 prevalence" and t["weights"] == "none: each class one point"
        assert t["spearman"]["ci_low"] is None  # descriptive


def test_trend_hc3_interval_and_span_rule():
    # 8 classes spanning two decades, recall falling with prevalence plus class noise
    support = np.array([2000, 900, 400, 180, 90, 45, 30, 20])
    recall = np.array([0.95, 0.93, 0.9, 0.91, 0.85, 0.8, 0.83, 0.7])
    hits = np.round(support * recall).astype(int)
    cm = np.diag(hits)
    cm[np.arange(8), (np.arange(8) + 1) % 8] += support - hits
    r = run(cm, n_resamples=200, seed=3)
    t = js(r)["trend"]["recall"]
    x = np.log10(support / support.sum())
    y = hits / support
    # HC3 by the sandwich formula with the hat matrix (another computation path)
    X = np.column_stack([np.ones(8), x])
    xtx = np.linalg.inv(X.T @ X)
    beta = xtx @ X.T @ y
    e = y - X @ beta
    h = np.einsum("ij,jk,ik->i", X, xtx, X)
    cov = xtx @ X.T @ np.diag(e**2 / (1 - h) ** 2) @ X @ xtx
    se = math.sqrt(cov[1, 1])
    q = stats.t.ppf(0.975, 6)
    close(t["slope_per_decade"]["estimate"], beta[1], tol=1e-12)
    close(t["slope_per_decade"]["ci_low"], beta[1] - q * se, tol=1e-12)
    close(t["slope_per_decade"]["ci_high"], beta[1] + q * se, tol=1e-12)
    span = x.max() - x.min()
    close(t["span_decades"], span, tol=1e-12)
    close(t["change_across_span"]["estimate"], beta[1] * span, tol=1e-12)
    assert t["n_classes"] == 8

    # the same recalls at prevalences spanning 0.1 decades: no per-decade slope, no trend claim
    narrow = np.array([100, 104, 108, 112, 116, 120, 124, 126])
    hits = np.round(narrow * recall).astype(int)
    cm = np.diag(hits)
    cm[np.arange(8), (np.arange(8) + 1) % 8] += narrow - hits
    r = run(cm, n_resamples=200, seed=3)
    t = js(r)["trend"]["recall"]
    assert t["slope_per_decade"]["ci_low"] is None
    assert t["slope_per_decade"]["status"] == "no_interval"
    assert "span only" in t["slope_per_decade"]["note"]
    assert t["change_across_span"]["ci_low"] is not None
    assert not [f for f in js(r)["findings"] if f["kind"] == "trend"]


def test_trend_undefined_when_all_supports_are_equal():
    rng = np.random.default_rng(0)
    k, n = 7, 37
    cm = np.zeros((k, k), dtype=np.int64)
    for i, rec in enumerate(np.linspace(0.3, 0.95, k)):
        hits = int(round(rec * n))
        cm[i, i] = hits
        cm[i, (i + 1) % k] = n - hits
    r = run(cm, n_resamples=200, seed=int(rng.integers(1000)))
    for name in STRATA_METRICS:
        assert js(r)["trend"][name]["slope_per_decade"]["estimate"] is None, name
        assert js(r)["trend"][name]["slope_per_decade"]["status"] == "undefined", name


# ------------------------------------------------------------------------------------------------
# intervals of differences: joint replicates


def walk_estimates(node, path=""):
    """Every EST dict (with estimate, ci_low, ci_high) inside a JSON structure."""
    if isinstance(node, dict):
        if {"estimate", "ci_low", "ci_high"} <= node.keys():
            yield path, node
        for key, value in node.items():
            yield from walk_estimates(value, f"{path}.{key}")
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from walk_estimates(value, f"{path}[{i}]")


def test_macro_minus_micro_interval_is_joint():
    """Nearly balanced classes: macro and micro recall move together in every replicate, so the
    interval of their difference is far narrower than any combination of their marginal
    intervals (even the one assuming independence, sqrt(w1^2 + w2^2))."""
    cm = np.array([[78, 12, 10], [10, 60, 10], [5, 7, 48]])
    r = run(cm, n_resamples=400, seed=5)
    for name in ("recall", "f1", "precision"):
        macro, micro = r.averages["macro"][name], r.averages["micro"][name]
        gap = js(r)["gap"][name]["macro_minus_micro"]
        width = gap["ci_high"] - gap["ci_low"]
        naive = math.hypot(macro.ci_high - macro.ci_low, micro.ci_high - micro.ci_low)
        assert width < 0.5 * naive, (name, width, naive)
        assert gap["ci_low"] <= gap["estimate"] <= gap["ci_high"]
        assert gap["method"].startswith("bca(stratified bootstrap, B=400)")


def test_stratum_difference_interval_is_joint_for_precision():
    """Precision of rare and common classes share the predicted columns; the rare-vs-common
    interval is computed from the same replicates as each side (its standard error is the one of
    the difference of the replicates, not of independent sides)."""
    cm = np.array(
        [
            [2400, 60, 30, 3, 2],
            [30, 420, 20, 2, 1],
            [10, 10, 150, 1, 1],
            [2, 2, 1, 25, 0],
            [3, 1, 1, 0, 15],
        ]
    )
    r = run(cm, n_resamples=400, seed=9)
    assert [s["name"] for s in js(r)["strata"]] == ["rare", "uncommon", "common"]
    diff = js(r)["comparisons"][0]["difference"]
    rare = {s["name"]: s for s in js(r)["strata"]}["rare"]["macro"]
    common = {s["name"]: s for s in js(r)["strata"]}["common"]["macro"]
    for name in STRATA_METRICS:
        e = diff[name]
        close(e["estimate"], rare[name]["estimate"] - common[name]["estimate"])
        assert e["ci_low"] <= e["estimate"] <= e["ci_high"], name
        assert e["se"] > 0
        # Var(a - b) = Var a + Var b - 2 Cov: within the bounds that any correlation allows
        assert (
            abs(rare[name]["se"] - common[name]["se"]) - 1e-12
            <= e["se"]
            <= (rare[name]["se"] + common[name]["se"] + 1e-12)
        ), name


def founding_like_cm():
    """Five classes, 60/25/10/4.1/0.9%, recall falling with prevalence (N = 2000)."""
    support = np.array([1200, 500, 200, 82, 18])
    recall = np.array([0.95, 0.9, 0.8, 0.6, 0.4])
    cm = np.zeros((5, 5), dtype=np.int64)
    for i in range(5):
        hits = int(round(recall[i] * support[i]))
        cm[i, i] = hits
        others = [j for j in range(5) if j != i]
        share = np.full(4, (support[i] - hits) // 4)
        share[: (support[i] - hits) % 4] += 1
        cm[i, others] = share
    return cm


def test_estimates_inside_their_intervals():
    r = run(founding_like_cm(), n_resamples=400, seed=2)
    d = r.to_dict()
    checked = 0
    for part in ("strata", "gap", "trend", "comparisons", "divergence"):
        for path, e in walk_estimates(d[part], part):
            if e["estimate"] is None or e["ci_low"] is None or e["ci_high"] is None:
                continue
            assert e["ci_low"] <= e["estimate"] <= e["ci_high"], (path, e)
            checked += 1
    assert checked > 60
    for row in d["divergence"]:
        adj = row["adjusted"]
        assert adj["ci_low"] <= row["vs_micro"]["estimate"] <= adj["ci_high"]
        assert adj["level"] >= 0.95  # family-wise adjusted: never below the nominal level


def test_intervals_reproducible_with_seed():
    a = run(founding_like_cm(), n_resamples=200, seed=11).to_dict()
    b = run(founding_like_cm(), n_resamples=200, seed=11).to_dict()
    for part in ("strata", "gap", "trend", "comparisons", "divergence", "findings"):
        assert a[part] == b[part], part


def test_stratum_with_a_class_the_bootstrap_cannot_vary_uses_mover():
    # a stratum of a 40-sample class at recall 30/40 and a 12-sample class at 12/12: every
    # stratified replicate repeats 12/12, so a bootstrap interval would ignore that class's
    # uncertainty (its recall could be as low as ~0.8); MOVER over the classes' exact mid-p limits
    sizes, right = np.array([200, 150, 40, 12]), np.array([180, 140, 30, 12])
    cm = np.diag(right)
    for i in range(4):
        cm[i, (i + 1) % 4] += sizes[i] - right[i]
    y_true, y_pred = labels_from_cm(cm)
    pred = predictions_from_arrays(y_true, y_pred, labels=list(range(4)))
    r = audit_predictions(
        pred, AuditConfig(n_resamples=300, seed=3, strata="support", strata_cuts=(50,))
    )
    small = r.strata[0]
    assert set(small.classes) == {2, 3}
    e = small.macro["recall"]
    assert e.method.startswith("MOVER"), e.method
    props = ClassProportions(class_tables(cm), "recall")
    mask = np.isin(np.arange(4), [2, 3])
    est, at = macro_difference(props, mask, np.zeros(4, bool), "mid-p")
    assert (e.estimate, e.ci_low, e.ci_high) == pytest.approx((est, *at(stats.norm.ppf(0.975))))
    assert small.vs_rest["recall"].method.startswith("MOVER")
    # precision of the same stratum varies in the bootstrap (no class at 0 or 1): not MOVER
    assert not small.macro["precision"].method.startswith("MOVER")


def test_stratum_roc_auc_of_one_class_is_that_class_interval_and_boundary_classes_are_unstable():
    # the bundled example: the rare stratum is class 'eight' (3 samples), whose own ROC AUC
    # interval (HM-S) is far wider than DeLong's; the uncommon stratum holds 'six', ranked
    # perfectly (AUC 1, DeLong variance 0), so its DeLong interval leaves that class out
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", prevalens.PrevalensWarning)
        r = audit_predictions(
            prevalens.load_predictions(example_path()), AuditConfig(n_resamples=200, seed=3)
        )
    by_name = {s.name: s for s in r.strata}
    rare, uncommon = by_name["rare"], by_name["uncommon"]
    assert rare.classes == ("eight",)
    own = r.class_result("eight").metrics["roc_auc"]
    e = rare.macro["roc_auc"]
    assert (e.estimate, e.ci_low, e.ci_high, e.method) == (
        own.estimate,
        own.ci_low,
        own.ci_high,
        own.method,
    )
    assert "one class in this stratum" in e.note
    assert r.class_result("six").metrics["roc_auc"].estimate == 1.0
    assert "six" in uncommon.classes
    assert uncommon.macro["roc_auc"].status == "unstable"
    assert "ROC AUC 0 or 1" in uncommon.macro["roc_auc"].note
    assert uncommon.vs_rest["roc_auc"].status == "unstable"
    # the common stratum's classes sit at AUC 0.998-0.9998 with 34-109 positives: under 2
    # positives' worth of misranking, where DeLong's variance understates the uncertainty
    assert by_name["common"].macro["roc_auc"].status == "unstable"
    assert "fewer than 2 positives' worth of misranking" in by_name["common"].macro["roc_auc"].note


def softmax_audit(sizes, separation, seed, **config):
    """An audit (B = 200) of softmax scores whose true-class logit is raised by the class's
    ``separation`` over N(0, 1) noise, predictions by the highest score."""
    rng = np.random.default_rng(seed)
    k = len(sizes)
    y = np.repeat(np.arange(k), sizes)
    z = rng.normal(size=(y.size, k))
    z[np.arange(y.size), y] += np.asarray(separation, dtype=np.float64)[y]
    s = np.exp(z) / np.exp(z).sum(axis=1, keepdims=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", prevalens.PrevalensWarning)
        pred = predictions_from_arrays(y, s.argmax(axis=1), y_score=s, labels=list(range(k)))
        return audit_predictions(pred, AuditConfig(n_resamples=200, seed=1, **config))


def test_stratum_roc_auc_away_from_the_boundary_is_an_ordinary_interval():
    # AUC ~0.8: many misranked positives in every class
    r = softmax_audit([400, 200, 80, 40], [1.0] * 4, seed=4)
    for s in r.strata:
        assert s.macro["roc_auc"].status == "ok", s.name
        if s.vs_rest:
            assert s.vs_rest["roc_auc"].status == "ok", s.name
    assert r.averages["macro"]["roc_auc"].status == "ok"


def test_no_stratum_roc_auc_claim_resting_on_a_class_below_min_support():
    # a 9-sample class ranked poorly (AUC ~0.6, away from the boundary) in a rare stratum with a
    # 30-sample class: the stratum's macro AUC difference is made by the small class
    r = softmax_audit(
        [3000, 1500, 400, 150, 30, 9],
        [1.5, 1.5, 1.5, 1.5, 1.5, -0.8],
        seed=8,
        findings_metrics=("recall", "roc_auc"),
    )
    rare = r.strata[0]
    assert 5 in rare.classes and rare.vs_rest["roc_auc"].status == "ok"  # not a boundary case
    assert rare.vs_rest["roc_auc"].ci_high < 0  # the difference is clear, and made by class 5
    auc_claims = [f for f in r.findings if f.metric == "roc_auc" and f.kind == "stratum_divergence"]
    assert not auc_claims, [f.text for f in auc_claims]


def test_no_stratum_roc_auc_claim_from_delong_near_the_boundary():
    # a one-class rare stratum of 15 positives at AUC ~0.999: DeLong's variance understates its
    # uncertainty (its own HM-S interval reaches down to ~0.89), so the difference to the rest
    # is approximate and claims nothing; before, a HIGH 'above the other classes by 0.11'
    r = softmax_audit(
        [3000, 1500, 400, 150, 15],
        [1.5, 1.5, 1.5, 1.5, 4.2],
        seed=11,
        findings_metrics=("recall", "roc_auc"),
    )
    rare = r.strata[0]
    assert rare.classes == (4,)
    assert rare.macro["roc_auc"].ci_low < 0.95  # the class's own interval, not DeLong's
    assert rare.vs_rest["roc_auc"].status == "unstable"
    assert not [f for f in r.findings if f.metric == "roc_auc" and f.kind == "stratum_divergence"]


def test_with_clusters_classes_at_0_or_1_make_no_claim():
    # Shuttle-like: rare classes at 50/50, 13/13 and 10/10 and one at 98/171, rows in 200
    # clusters. The leave-one-cluster-out jackknife repeats a class at 1 in every replicate, so
    # its intervals leave that class's uncertainty out (a HIGH "rare classes above" at
    # difference 0.12 [0.10, 0.14] before): approximate intervals, no claim, and the reason said
    rng = np.random.default_rng(3)
    sizes = [4558, 890, 326, 171, 50, 13, 10]
    recall = [0.93, 0.93, 0.93, 98 / 171, 1, 1, 1]
    y_true, y_pred = [], []
    for k, (n, rk) in enumerate(zip(sizes, recall)):
        yk = np.full(n, k)
        pk = yk.copy()
        pk[rng.choice(n, n - int(round(rk * n)), replace=False)] = 0 if k else 1
        y_true.append(yk)
        y_pred.append(pk)
    y_true, y_pred = np.concatenate(y_true), np.concatenate(y_pred)
    cluster = rng.integers(0, 200, y_true.size)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", prevalens.PrevalensWarning)
        r = prevalens.audit(
            y_true, y_pred, labels=list(range(7)), n_resamples=200, seed=1, cluster=cluster
        )
    rare = r.strata[0]
    assert set(rare.classes) == {4, 5, 6}
    for metric in ("recall", "f1"):
        assert rare.vs_rest[metric].status in ("unstable", "no_interval"), metric
    claimed = [f for f in r.findings if f.kind in ("stratum_divergence", "divergent_classes")]
    assert not [f for f in claimed if set(f.classes) & {4, 5, 6}], [f.text for f in claimed]
    f = {f.id: f for f in r.findings}["strata-rare-common-recall"]
    assert f.kind == "insufficient" and "jackknife cannot vary" in f.text
    # the classes at 1 get no claim against the micro value either
    rows = [d for d in r.divergence if d.label in (4, 5, 6) and d.metric == "recall"]
    assert rows and all(not d.diverges for d in rows)
    assert all(d.vs_micro.status in ("unstable", "no_interval") for d in rows)


@pytest.mark.parametrize("scores", [False, True])
def test_each_strata_claim_carries_the_p_value_of_its_own_interval(monkeypatch, scores):
    """The strata's MOVER claims get their p-values in one bisection (strata._with_pvalues),
    after the claims are made and with the macro-AUC claims of the strata among them: each
    claim's p-value is the inversion of its own interval family."""
    import importlib

    from prevalens.intervals import interval_pvalue

    audit_module = importlib.import_module("prevalens.audit")
    seen: list = []
    real = audit_module.analyse_strata

    def spy(ctx):
        out = real(ctx)
        seen.extend(out[2])
        return out

    monkeypatch.setattr(audit_module, "analyse_strata", spy)
    rng = np.random.default_rng(8)
    k = 9
    y = rng.choice(k, 2500, p=0.6 ** np.arange(k) / (0.6 ** np.arange(k)).sum())
    p = np.where(rng.random(y.size) < np.linspace(0.9, 0.5, k)[y], y, rng.integers(0, k, y.size))
    opts: dict = {"n_resamples": 200, "seed": 1}
    if scores:
        s = rng.dirichlet(np.ones(k), y.size)
        s[np.arange(y.size), p] += 1.0
        opts["y_score"] = s / s.sum(axis=1, keepdims=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        prevalens.audit(y, None if scores else p, **opts)
    mover = [c for c in seen if c.interval_at is not None and c.p_value is not None]
    assert len(mover) >= 6 and len({c.p_value for c in mover}) >= 4
    if scores:
        assert any(c.key[-1] == "roc_auc" for c in seen)  # claims made between the MOVER ones
    for c in mover:
        own = interval_pvalue(lambda z, c=c: np.asarray(c.interval_at(z)), np.float64(c.estimate))
        assert c.p_value == float(own), c.key
