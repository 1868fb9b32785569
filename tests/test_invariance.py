"""Invariances and identities that every metric must satisfy (an invariance registry).

As in scikit-learn's ``metrics/tests/test_common.py``, each metric the audit reports is listed
once in ``REGISTRY`` together with what it needs (scores, probability rows, K > k); the property
tests are parametrised over that registry, so a new metric is either registered (and checked by
every property) or makes ``test_registry_lists_every_metric_the_audit_reports`` fail.

Properties: row order, relabelling classes (by code and by the order of ``labels=``), string vs
integer labels; macro = mean of the defined per-class values, weighted = support-weighted mean of
the defined ones; micro-F1 = micro precision = micro recall = accuracy for single-label data;
balanced accuracy = macro recall; counts add; ``count_statistics`` on a batch equals one call per
matrix; undefined values carry status, note and warning.
"""

from __future__ import annotations

import functools
import warnings
import zlib
from dataclasses import dataclass

import numpy as np
import pytest
from conftest import Case, assert_close, estimates, label_cases, random_case, run_audit
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

import prevalens
from prevalens import ConfusionCounts, UndefinedMetricWarning, count_statistics

# ------------------------------------------------------------------------------------------------
# the registry


@dataclass(frozen=True)
class Metric:
    key: str  # "per_class.<m>", "<micro|macro|weighted>.<m>" or "overall.<m>"
    needs_scores: bool = False
    needs_probabilities: bool = False
    needs_more_classes_than: int = 0
    # Top-k breaks ties between equal scores of a row by class index (scikit-learn's rule), so
    # renaming classes may change it when a row has ties.
    row_ties_break_by_class_index: bool = False

    @property
    def level(self) -> str:
        return self.key.split(".")[0]

    @property
    def name(self) -> str:
        return self.key.split(".")[1]


LABEL_PER_CLASS = ("precision", "recall", "f1", "specificity", "npv", "jaccard", "prevalence")
SCORE_PER_CLASS = ("roc_auc", "average_precision")
LABEL_AVERAGED = ("precision", "recall", "f1", "specificity", "jaccard")
SCORE_AVERAGED = ("roc_auc", "average_precision")
AVERAGES = ("micro", "macro", "weighted")

REGISTRY = (
    [Metric(f"per_class.{m}") for m in LABEL_PER_CLASS]
    + [Metric(f"per_class.{m}", needs_scores=True) for m in SCORE_PER_CLASS]
    + [Metric(f"{a}.{m}") for a in AVERAGES for m in LABEL_AVERAGED]
    + [Metric(f"{a}.{m}", needs_scores=True) for a in AVERAGES for m in SCORE_AVERAGED]
    + [Metric(f"overall.{m}") for m in ("accuracy", "balanced_accuracy", "cohen_kappa", "mcc")]
    + [
        Metric("overall.roc_auc_ovo", needs_scores=True),
        Metric(
            "overall.top_3_accuracy",
            needs_scores=True,
            needs_more_classes_than=3,
            row_ties_break_by_class_index=True,
        ),
        Metric(
            "overall.top_5_accuracy",
            needs_scores=True,
            needs_more_classes_than=5,
            row_ties_break_by_class_index=True,
        ),
        Metric("overall.log_loss", needs_scores=True, needs_probabilities=True),
        Metric("overall.brier", needs_scores=True, needs_probabilities=True),
    ]
)
AVERAGED = [m for m in REGISTRY if m.level in ("macro", "weighted")]


# ------------------------------------------------------------------------------------------------
# fixed cases (seeded); every transformed audit is computed once per session


def _degenerate_case() -> Case:
    # K = 6: class 2 never predicted, class 3 has one sample, class 4 absent but predicted,
    # class 5 absent and never predicted. Scores are probability rows from a palette: ties.
    rng = np.random.default_rng(7)
    y_true = np.array([0] * 20 + [1] * 12 + [2] * 6 + [3])
    y_pred = y_true.copy()
    y_pred[[1, 2, 21]] = 4
    y_pred[32:38] = [0, 1, 1, 0, 0, 1]
    y_pred[5] = 1
    palette = rng.integers(0, 4, size=(5, 6)) + np.eye(5, 6, dtype=int)
    palette = palette / palette.sum(axis=1, keepdims=True)
    return Case(6, y_true, y_pred, palette[rng.integers(0, 5, size=y_true.size)])


def _tenths_case() -> Case:
    # Scores rounded to one decimal (not probabilities): many ties within columns and rows.
    base = random_case(5, 6, 150, scores=True)
    return Case(6, base.y_true, base.y_pred, np.round(base.y_score * 3, 1))


CASES = {
    "long_tail": random_case(11, 8, 300, scores=True),  # continuous probabilities, no ties
    "tenths": _tenths_case(),
    "degenerate": _degenerate_case(),
    "binary": random_case(2, 2, 60, scores=True),
    "labels_only": random_case(4, 7, 80),
}


def _has_row_ties(s) -> bool:
    s = np.sort(s, axis=1)
    return bool((np.diff(s, axis=1) == 0).any())


def _applies(metric: Metric, case: Case, *, reported_only: bool = False) -> bool:
    """Whether the audit of ``case`` defines ``metric`` (``reported_only``: whether it lists it;
    log loss and Brier are listed as undefined when scores are not probabilities)."""
    if metric.needs_scores and case.y_score is None:
        return False
    if (
        metric.needs_probabilities
        and not reported_only
        and not np.allclose(case.y_score.sum(axis=1), 1, rtol=0, atol=1e-9)
    ):
        return False
    return case.n_classes > metric.needs_more_classes_than


def _names(k):
    return [f"class {j:03d}" for j in range(k)]


def _transformed(name: str, how: str) -> tuple[Case, dict]:
    """The case ``name`` after transformation ``how``, and how to map per-class results back."""
    case = CASES[name]
    k, n = case.n_classes, case.y_true.size
    rng = np.random.default_rng(zlib.crc32(f"{name}/{how}".encode()))  # stable across runs
    s = case.y_score
    if how == "identity":
        return case, {}
    if how == "rows":
        order = rng.permutation(n)
        return Case(k, case.y_true[order], case.y_pred[order], None if s is None else s[order]), {}
    if how == "codes":  # class j becomes class perm[j]; its score column moves with it
        perm = rng.permutation(k)
        inv = np.argsort(perm)
        return Case(k, perm[case.y_true], perm[case.y_pred], None if s is None else s[:, inv]), {
            "per_class": lambda v: v[inv]
        }
    if how == "strings":
        return case, {
            "labels": _names(k),
            "y_true": np.array(_names(k))[case.y_true],
            "y_pred": np.array(_names(k))[case.y_pred],
        }
    if how == "labels_order":  # the same string data, classes listed in another order
        order = rng.permutation(k)
        names = np.array(_names(k))
        return case, {
            "labels": list(names[order]),
            "y_true": names[case.y_true],
            "y_pred": names[case.y_pred],
            "y_score": None if s is None else s[:, order],
            "per_class": lambda v: v[order],
        }
    raise ValueError(how)


@functools.cache
def _estimates(name: str, how: str) -> dict:
    case, extra = _transformed(name, how)
    extra = {key: v for key, v in extra.items() if key != "per_class"}
    return estimates(run_audit(case, **extra))


def _compare(metric: Metric, how: str, *, exact: bool = False) -> int:
    checked = 0
    for name, case in CASES.items():
        if not _applies(metric, case):
            continue
        if (
            how in ("codes", "labels_order")
            and metric.row_ties_break_by_class_index
            and _has_row_ties(case.y_score)
        ):
            continue
        before = _estimates(name, "identity")[metric.key]
        after = _estimates(name, how)[metric.key]
        map_back = _transformed(name, how)[1].get("per_class")
        if metric.level == "per_class" and map_back is not None:
            before = map_back(before)
        msg = f"{metric.key} changes under {how} on case {name!r}"
        if exact:
            np.testing.assert_array_equal(after, before, err_msg=msg)
        else:
            assert_close(after, before, err_msg=msg)
        checked += 1
    return checked


_ids = [m.key for m in REGISTRY]


# ------------------------------------------------------------------------------------------------
# the registry is complete


@pytest.mark.parametrize("name", list(CASES))
def test_registry_lists_every_metric_the_audit_reports(name):
    got = _estimates(name, "identity")
    registered = {m.key for m in REGISTRY if _applies(m, CASES[name], reported_only=True)}
    assert set(got) == registered, "add new metrics to REGISTRY (and remove retired ones)"
    for m in REGISTRY:
        if m.key in got and not _applies(m, CASES[name]):  # listed, but not computable
            assert np.isnan(got[m.key]), m.key


def test_registry_metrics_are_all_checked_somewhere():
    # Every registered metric applies to at least one case, and top-k also to one without ties
    # in its rows, so no invariance test below is vacuous.
    for m in REGISTRY:
        assert any(_applies(m, c) for c in CASES.values()), m.key
        if m.row_ties_break_by_class_index:
            assert any(_applies(m, c) and not _has_row_ties(c.y_score) for c in CASES.values())


# ------------------------------------------------------------------------------------------------
# invariances, parametrised over the registry


@pytest.mark.parametrize("metric", REGISTRY, ids=_ids)
def test_row_order_does_not_matter(metric):
    assert _compare(metric, "rows") > 0


@pytest.mark.parametrize("metric", REGISTRY, ids=_ids)
@pytest.mark.parametrize("how", ["codes", "labels_order"])
def test_relabelling_classes_permutes_per_class_results(metric, how):
    # Per-class results follow their class; averages and overall metrics do not change.
    assert _compare(metric, how) > 0


@pytest.mark.parametrize("metric", REGISTRY, ids=_ids)
def test_string_and_integer_labels_give_identical_numbers(metric):
    assert _compare(metric, "strings", exact=True) > 0


def test_top_k_with_tied_rows_depends_on_class_order_as_sklearn_does():
    # The documented exception of the registry: with scores (1, 1, 0, 0), top-1 of a sample of
    # class 0 is a miss (the tie goes to class 1, the larger index); renaming 0 <-> 1 makes
    # the same sample a hit. scikit-learn's top_k_accuracy_score agrees (see the reference tests).
    from sklearn.metrics import top_k_accuracy_score

    from prevalens import ranking

    s = np.array([[1.0, 1.0, 0.0, 0.0]] * 2)
    np.testing.assert_array_equal(ranking.top_k_hits([0, 1], s, 1), [False, True])
    assert top_k_accuracy_score([0, 1], s, k=1, labels=[0, 1, 2, 3]) == 0.5


# ------------------------------------------------------------------------------------------------
# averages from per-class values


def _defined_mean(values, weights=None):
    defined = ~np.isnan(values)
    w = np.ones_like(values) if weights is None else np.asarray(weights, dtype=float)
    total = w[defined].sum()
    return np.nan if total == 0 else float((w[defined] * values[defined]).sum() / total)


@pytest.mark.parametrize("metric", AVERAGED, ids=[m.key for m in AVERAGED])
def test_macro_and_weighted_are_means_of_defined_per_class_values(metric):
    checked = 0
    for name, case in CASES.items():
        if not _applies(metric, case):
            continue
        got = _estimates(name, "identity")
        per_class = got[f"per_class.{metric.name}"]
        support = np.bincount(case.y_true, minlength=case.n_classes)
        weights = None if metric.level == "macro" else support
        assert_close(got[metric.key], _defined_mean(per_class, weights), err_msg=name)
        checked += 1
    assert checked > 0


def test_the_cases_have_undefined_per_class_values_to_skip():
    # Otherwise the test above could not tell skipping from zero-filling.
    case = CASES["degenerate"]
    support = np.bincount(case.y_true, minlength=6)
    predicted = np.bincount(case.y_pred, minlength=6)
    assert predicted[2] == 0 and support[3] == 1
    assert support[4] == 0 < predicted[4] and support[5] == predicted[5] == 0
    got = _estimates("degenerate", "identity")
    for name in ("precision", "recall", "f1", "jaccard", "roc_auc", "average_precision"):
        assert np.isnan(got[f"per_class.{name}"]).any(), name


# ------------------------------------------------------------------------------------------------
# identities of the engine, on random confusion matrices


@st.composite
def confusion_matrices(draw, batch_shape=()):
    """Integer K x K matrices with many zeros (empty rows: absent classes; empty columns:
    never-predicted classes); a whole matrix may be 0."""
    k = draw(st.integers(2, 8))
    return draw(
        arrays(np.int64, (*batch_shape, k, k), elements=st.sampled_from([0, 0, 0, 1, 2, 3, 7, 40]))
    )


@given(cm=confusion_matrices())
def test_count_statistics_identities(cm):
    stats = count_statistics(cm)
    n, k = cm.sum(), cm.shape[0]
    support = cm.sum(axis=1)
    acc = stats["overall.accuracy"]
    if n == 0:
        assert all(np.isnan(v).all() for v in stats.values())
        return
    # Single-label data: every sample is one FP for its predicted class and one FN for its true
    # class when wrong, so sum(fp) = sum(fn) = N - T and micro P = micro R = micro F1 = T / N.
    for name in ("precision", "recall", "f1"):
        assert_close(stats[f"micro.{name}"], acc, err_msg=name)
    # micro Jaccard = T / (T + 2 (N - T)) = a / (2 - a); micro specificity = sum tn / sum(tn+fp)
    # = ((K - 2) N + T) / ((K - 1) N) = 1 - (1 - a) / (K - 1).
    assert_close(stats["micro.jaccard"], acc / (2 - acc))
    assert_close(stats["micro.specificity"], 1 - (1 - acc) / (k - 1))
    assert_close(stats["overall.balanced_accuracy"], stats["macro.recall"])
    for name in LABEL_AVERAGED:
        values = stats[f"per_class.{name}"]
        assert_close(stats[f"macro.{name}"], _defined_mean(values), err_msg=name)
        assert_close(stats[f"weighted.{name}"], _defined_mean(values, support), err_msg=name)
    # Undefined exactly where the denominator is 0 (never 0 in place of NaN).
    tp, fp, fn = np.diag(cm), cm.sum(axis=0) - np.diag(cm), support - np.diag(cm)
    np.testing.assert_array_equal(np.isnan(stats["per_class.precision"]), tp + fp == 0)
    np.testing.assert_array_equal(np.isnan(stats["per_class.recall"]), support == 0)
    np.testing.assert_array_equal(np.isnan(stats["per_class.f1"]), tp + fp + fn == 0)
    assert not np.isnan(stats["per_class.prevalence"]).any()


@given(case=label_cases())
def test_micro_f1_precision_recall_equal_accuracy_in_the_audit(case):
    r = run_audit(case)
    acc = r.overall["accuracy"].estimate
    for name in ("f1", "precision", "recall"):
        assert_close(r.averages["micro"][name].estimate, acc, err_msg=name)
    assert_close(r.overall["balanced_accuracy"].estimate, r.averages["macro"]["recall"].estimate)


@given(stack=st.integers(1, 4).flatmap(lambda b: confusion_matrices(batch_shape=(b,))))
def test_count_statistics_on_a_stack_equals_one_call_per_matrix(stack):
    batch = count_statistics(stack)
    for b, cm in enumerate(stack):
        single = count_statistics(cm)
        assert set(single) == set(batch)
        for key, value in single.items():
            assert batch[key].shape == (len(stack), *np.shape(value)), key
            assert_close(batch[key][b], value, err_msg=f"{key}, matrix {b}")


@given(stack=confusion_matrices(batch_shape=(2, 3)))
def test_count_statistics_accepts_any_leading_batch_shape(stack):
    nested = count_statistics(stack)
    flat = count_statistics(stack.reshape(6, *stack.shape[-2:]))
    for key, value in flat.items():
        assert_close(nested[key].reshape(value.shape), value, err_msg=key)


# ------------------------------------------------------------------------------------------------
# counts add


@given(case=label_cases(), cut=st.floats(0, 1))
def test_confusion_counts_of_chunks_add_up_to_the_whole(case, cut):
    i = int(cut * case.y_true.size)
    classes = tuple(case.labels)
    whole = ConfusionCounts.from_codes(case.y_true, case.y_pred, classes)
    first = ConfusionCounts.from_codes(case.y_true[:i], case.y_pred[:i], classes)
    second = ConfusionCounts.from_codes(case.y_true[i:], case.y_pred[i:], classes)
    assert first + second == whole
    assert (first + second).n_samples == case.y_true.size
    np.testing.assert_array_equal(whole.support, np.bincount(case.y_true, minlength=len(classes)))
    np.testing.assert_array_equal(whole.predicted, np.bincount(case.y_pred, minlength=len(classes)))
    # ... and so do the audit's numbers, which are a function of the counts alone.
    r = run_audit(case)
    np.testing.assert_array_equal(np.array(r.data.confusion_matrix), whole.matrix)


def test_confusion_counts_with_different_classes_do_not_add():
    a = ConfusionCounts(("x", "y"), np.eye(2))
    b = ConfusionCounts(("x", "z"), np.eye(2))
    with pytest.raises(ValueError, match="same `labels=`"):
        a + b


# ------------------------------------------------------------------------------------------------
# undefined values: NaN, status, note, warning


# Per metric, a problem in which class "c" (and only it) is undefined for that metric.
UNDEFINED_CASES = {
    "precision": (["a", "b", "c", "c"], ["a", "a", "b", "b"], ["a", "b", "c"]),  # never predicted
    "recall": (["a", "a", "b", "b"], ["a", "c", "b", "b"], ["a", "b", "c"]),  # absent
    "f1": (["a", "b", "a", "b"], ["a", "b", "b", "a"], ["a", "b", "c"]),  # absent, never predicted
    "jaccard": (["a", "b", "a", "b"], ["a", "b", "b", "a"], ["a", "b", "c"]),
    "specificity": (["c", "c", "c"], ["c", "b", "c"], ["b", "c"]),  # no negatives
    "npv": (["c", "b", "b"], ["c", "c", "c"], ["b", "c"]),  # every sample predicted as c
    "roc_auc": (["a", "b", "a", "b"], ["a", "b", "b", "a"], ["a", "b", "c"]),  # no positives
    "average_precision": (["a", "b", "a", "b"], ["a", "b", "b", "a"], ["a", "b", "c"]),
}


def test_every_per_class_metric_that_can_be_undefined_has_a_case():
    # prevalence = support / N is always defined, since an audit needs N >= 2.
    per_class = {m.name for m in REGISTRY if m.level == "per_class"}
    assert set(UNDEFINED_CASES) == per_class - {"prevalence"}


# the cases are implausible inputs on purpose (one true class, labels off by one)
@pytest.mark.filterwarnings("ignore::prevalens.InputWarning")
@pytest.mark.parametrize("metric", list(UNDEFINED_CASES))
def test_undefined_metric_is_nan_with_status_note_and_warning(metric):
    y_true, y_pred, labels = UNDEFINED_CASES[metric]
    scores = np.tile(np.linspace(0.1, 0.3, len(labels)), (len(y_true), 1))
    # some spread so the other classes are defined; no 0 (a true class given probability 0
    # makes the log loss infinite, with a warning of its own)
    scores[:, 0] = np.arange(1, len(y_true) + 1) / 10
    scores /= scores.sum(axis=1, keepdims=True)  # probabilities: no ProbabilityWarning
    with pytest.warns(UndefinedMetricWarning) as record:
        r = prevalens.audit(y_true, y_pred, y_score=scores, labels=labels, n_resamples=0, seed=0)
    for c in r.per_class:
        e = c.metrics[metric]
        if c.label == "c":
            assert np.isnan(e.estimate)
            assert e.status == "undefined"
            assert isinstance(e.note, str) and e.note
        else:
            assert not np.isnan(e.estimate), c.label
            assert e.status in ("ok", "insufficient", "no_interval")
            assert e.note is None
    messages = [str(w.message) for w in record if str(w.message).startswith(f"{metric} is ")]
    assert len(messages) == 1, [str(w.message) for w in record]
    assert "'c'" in messages[0] and "'a'" not in messages[0] and "'b'" not in messages[0]
    assert "not 0" in messages[0]


def test_no_undefined_metric_warning_when_everything_is_defined():
    with warnings.catch_warnings():
        warnings.simplefilter("error", UndefinedMetricWarning)
        r = prevalens.audit(["a", "b", "a", "b"], ["a", "b", "b", "b"], n_resamples=0, seed=0)
    assert all(e.status != "undefined" for c in r.per_class for e in c.metrics.values())


def test_undefined_metric_warning_points_at_the_caller():
    with pytest.warns(UndefinedMetricWarning) as record:
        prevalens.audit(["a", "a", "b"], ["a", "a", "a"], n_resamples=0, seed=0)
    assert {w.filename for w in record} == {__file__}


def test_warnings_point_at_the_caller_of_audit_predictions():
    pred = prevalens.predictions_from_arrays(["a", "a", "b"], ["a", "a", "a"])
    with pytest.warns(UndefinedMetricWarning) as record:
        prevalens.audit_predictions(pred, prevalens.AuditConfig(n_resamples=0, seed=0))
    assert {w.filename for w in record} == {__file__}
