"""Point estimates against scikit-learn, the oracle, to 1e-12.

Every number that ``prevalens.audit`` reports without intervals is compared here with the
scikit-learn function that defines it, on hand-worked cases, on Hypothesis-drawn inputs (absent
classes, never-predicted classes, one-sample classes, K = 2) and on seeded K = 200 problems.

Conventions of the comparison
-----------------------------
* ``labels=`` always lists every class and ``zero_division=np.nan`` is passed wherever
  scikit-learn accepts it, so a 0/0 is NaN on both sides.
* ``jaccard_score`` does not accept ``zero_division=np.nan``; its per-class undefined values
  (tp + fp + fn = 0) are masked from scikit-learn's own confusion counts, and the macro average
  is compared with the NaN-skipping mean of the per-class values.
* Specificity and NPV have no scikit-learn function; they are computed from
  ``sklearn.metrics.multilabel_confusion_matrix``.

Deliberate differences (each has its own test below):

* MCC is NaN (undefined) where its denominator is 0; scikit-learn returns 0.0 there.
* A weighted average whose defined classes all have support 0 is NaN; scikit-learn's
  ``_nanaverage`` then falls back to the *unweighted* mean of the defined values.
* Average precision of a class without positives is NaN; scikit-learn returns 0.0 with a warning.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from conftest import Case, assert_close, estimates, label_cases, random_case, run_audit, score_cases
from hypothesis import example, given
from sklearn import metrics as skm

from prevalens import ranking

# ------------------------------------------------------------------------------------------------
# the oracle


def _ratio(num, den):
    num = np.asarray(num, dtype=float)
    den = np.asarray(den, dtype=float)
    out = np.full(num.shape, np.nan)
    np.divide(num, den, out=out, where=den != 0)
    return out


def _weighted(values, weights, sklearn_value=None):
    """Support-weighted mean of the defined values.

    When the defined classes carry no weight, scikit-learn (``utils.extmath._nanaverage``) falls
    back to the unweighted mean; prevalens reports NaN (``metrics.weighted`` documents it), so the
    expected value is NaN there. ``sklearn_value`` is checked against the independent computation
    everywhere else.
    """
    defined = ~np.isnan(values)
    w = np.asarray(weights, dtype=float)[defined]
    mine = np.nan if w.sum() == 0 else float(np.sum(w * values[defined]) / w.sum())
    if sklearn_value is not None and w.sum() > 0:
        np.testing.assert_allclose(sklearn_value, mine, rtol=0, atol=1e-12)
    return mine


def _nanmean(values):
    return np.nan if np.isnan(values).all() else float(np.nanmean(values))


def sklearn_label_metrics(y_true, y_pred, k: int) -> dict:
    """Every label metric of ``count_statistics``, keyed like it, from scikit-learn."""
    labels = np.arange(k)
    out = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # scikit-learn's own UndefinedMetricWarning and co.
        prf = {}
        for avg in (None, "micro", "macro", "weighted"):
            prf[avg] = skm.precision_recall_fscore_support(
                y_true, y_pred, labels=labels, average=avg, zero_division=np.nan
            )
        mcm = skm.multilabel_confusion_matrix(y_true, y_pred, labels=labels)
        tn, fp, fn, tp = mcm[:, 0, 0], mcm[:, 0, 1], mcm[:, 1, 0], mcm[:, 1, 1]
        jac0 = skm.jaccard_score(y_true, y_pred, labels=labels, average=None, zero_division=0)
        jac1 = skm.jaccard_score(y_true, y_pred, labels=labels, average=None, zero_division=1)
        jac_micro = skm.jaccard_score(y_true, y_pred, labels=labels, average="micro")
        # Undefined classes have support 0, so the zero-filled weighted mean is exact.
        jac_weighted = skm.jaccard_score(
            y_true, y_pred, labels=labels, average="weighted", zero_division=0
        )
        overall = {
            "accuracy": skm.accuracy_score(y_true, y_pred),
            "balanced_accuracy": skm.balanced_accuracy_score(y_true, y_pred),
            "cohen_kappa": skm.cohen_kappa_score(y_true, y_pred, labels=labels),
            "mcc": skm.matthews_corrcoef(y_true, y_pred),
        }
    support = prf[None][3]
    undefined_jaccard = (tp + fp + fn) == 0
    # scikit-learn substitutes zero_division exactly where tp + fp + fn = 0: the mask is its own.
    np.testing.assert_array_equal(jac0 != jac1, undefined_jaccard)
    per_class = {
        "precision": prf[None][0],
        "recall": prf[None][1],
        "f1": prf[None][2],
        "specificity": _ratio(tn, tn + fp),
        "npv": _ratio(tn, tn + fn),
        "jaccard": np.where(undefined_jaccard, np.nan, jac0),
        "prevalence": support / support.sum(),
    }
    for name, values in per_class.items():
        out[f"per_class.{name}"] = values
    for i, name in enumerate(("precision", "recall", "f1")):
        out[f"micro.{name}"] = prf["micro"][i]
        out[f"macro.{name}"] = prf["macro"][i]
        out[f"weighted.{name}"] = _weighted(per_class[name], support, prf["weighted"][i])
    out["micro.specificity"] = _ratio(tn.sum(), (tn + fp).sum())
    out["macro.specificity"] = _nanmean(per_class["specificity"])
    out["weighted.specificity"] = _weighted(per_class["specificity"], support)
    out["micro.jaccard"] = jac_micro
    out["macro.jaccard"] = _nanmean(per_class["jaccard"])
    out["weighted.jaccard"] = _weighted(per_class["jaccard"], support, jac_weighted)
    # MCC: NaN where the denominator sqrt((s^2 - p.p)(s^2 - t.t)) is 0, i.e. all samples are of
    # one class or all are predicted as one class; scikit-learn returns 0.0 there (see
    # test_mcc_is_undefined_where_sklearn_returns_zero).
    cm = skm.confusion_matrix(y_true, y_pred, labels=labels)
    s, t, p = cm.sum(), cm.sum(axis=1), cm.sum(axis=0)
    if s * s == t @ t or s * s == p @ p:
        assert overall["mcc"] == 0.0
        overall["mcc"] = np.nan
    for name, value in overall.items():
        out[f"overall.{name}"] = value
    return {key: np.asarray(v, dtype=float) for key, v in out.items()}


def _one_hot(y_true, k):
    return (np.asarray(y_true)[:, None] == np.arange(k)).astype(int)


def _is_probability(y_score):
    """prevalens's documented rule: non-negative rows summing to 1 within 0.01 (probabilities as
    stored, rounded to a few decimals)."""
    return bool((y_score >= 0).all() and np.all(np.abs(y_score.sum(axis=1) - 1) <= 0.01))


def sklearn_score_metrics(y_true, y_score, k: int) -> dict:
    """Every score metric of the audit except OvO (tested separately), from scikit-learn."""
    y = _one_hot(y_true, k)
    n_pos = y.sum(axis=0)
    has_pos = n_pos > 0
    has_both = has_pos & (n_pos < y.shape[0])
    out = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        # Classes scikit-learn cannot score: ROC AUC raises without positives or negatives;
        # average precision returns 0.0 (with a warning) without positives. Both are NaN here.
        auc = np.array(
            [skm.roc_auc_score(y[:, j], y_score[:, j]) if has_both[j] else np.nan for j in range(k)]
        )
        ap = np.array(
            [
                skm.average_precision_score(y[:, j], y_score[:, j]) if has_pos[j] else np.nan
                for j in range(k)
            ]
        )
        for name, values, ok, fn in (
            ("roc_auc", auc, has_both, skm.roc_auc_score),
            ("average_precision", ap, has_pos, skm.average_precision_score),
        ):
            out[f"per_class.{name}"] = values
            out[f"micro.{name}"] = fn(y, y_score, average="micro")
            if ok.sum() >= 2:  # a multilabel-indicator target needs two columns or more
                out[f"macro.{name}"] = fn(y[:, ok], y_score[:, ok], average="macro")
                out[f"weighted.{name}"] = fn(y[:, ok], y_score[:, ok], average="weighted")
            else:
                out[f"macro.{name}"] = _nanmean(values)
                out[f"weighted.{name}"] = _weighted(values, n_pos)
        for kk in (3, 5):
            if k > kk:
                out[f"overall.top_{kk}_accuracy"] = skm.top_k_accuracy_score(
                    y_true, y_score, k=kk, labels=np.arange(k)
                )
        if _is_probability(y_score):
            out["overall.log_loss"] = skm.log_loss(y_true, y_score, labels=np.arange(k))
            # prevalens's documented rule: when rows that give their true class a probability
            # below eps (clipped to eps) make up more than half of the clipped value, the log
            # loss is infinite in truth and reported as undefined (prevalens.checks)
            eps = np.finfo(np.float64).eps
            p_true = y_score[np.arange(len(y_true)), y_true]
            losses = -np.log(np.clip(p_true, eps, 1 - eps))
            clipped = p_true < eps
            if clipped.any() and losses[clipped].sum() > 0.5 * losses.sum():
                out["overall.log_loss"] = np.nan
            # Brier's original multi-class score (0 to 2), also for K = 2.
            out["overall.brier"] = skm.brier_score_loss(
                y_true, y_score, labels=np.arange(k), scale_by_half=False
            )
    return {key: np.asarray(v, dtype=float) for key, v in out.items()}


def hand_till_from_sklearn(y_true, y_score, k: int) -> float:
    """Hand & Till's M from scikit-learn's binary AUCs: the mean over pairs of present classes
    of (A(a|b) + A(b|a)) / 2, where A(a|b) scores column a on the samples of classes a and b."""
    present = [a for a in range(k) if (y_true == a).any()]
    pairs = []
    for i, a in enumerate(present):
        for b in present[i + 1 :]:
            mask = (y_true == a) | (y_true == b)
            a_b = skm.roc_auc_score(y_true[mask] == a, y_score[mask, a])
            b_a = skm.roc_auc_score(y_true[mask] == b, y_score[mask, b])
            pairs.append((a_b + b_a) / 2)
    return float(np.mean(pairs)) if pairs else np.nan


def assert_matches(got: dict, want: dict):
    for key, value in want.items():
        assert key in got, f"audit does not report {key}"
        assert_close(got[key], value, err_msg=key)


# ------------------------------------------------------------------------------------------------
# hand-worked


def test_hand_worked_example_with_an_absent_class():
    # y_true = a a b c, y_pred = a b b c, labels = a b c d (d never occurs nor is predicted).
    # One-vs-rest tables (tp, fp, fn, tn):  a (1,0,1,2)  b (1,1,0,2)  c (1,0,0,3)  d (0,0,0,4)
    #   precision tp/(tp+fp):  a 1    b 1/2  c 1  d 0/0 -> NaN
    #   recall    tp/(tp+fn):  a 1/2  b 1    c 1  d 0/0 -> NaN
    #   f1 2tp/(2tp+fp+fn):    a 2/3  b 2/3  c 1  d 0/0 -> NaN
    #   specificity tn/(tn+fp): a 1   b 2/3  c 1  d 4/4 = 1
    #   npv tn/(tn+fn):        a 2/3  b 1    c 1  d 1
    #   jaccard tp/(tp+fp+fn): a 1/2  b 1/2  c 1  d NaN
    # macro precision skips d: (1 + 1/2 + 1)/3 = 5/6 (zero-filling would give 5/8).
    # weighted recall, supports (2,1,1): (2*1/2 + 1 + 1)/4 = 3/4 = accuracy.
    # kappa: rows (2,1,1,0), cols (1,2,1,0), N = 4; p_o = 3/4; p_e = (2+2+1)/16 = 5/16;
    #   (3/4 - 5/16)/(1 - 5/16) = (7/16)/(11/16) = 7/11.
    # MCC: c = 3, s = 4, t.p = 5, p.p = t.t = 6: (12 - 5)/sqrt(10 * 10) = 7/10.
    # balanced accuracy: mean recall of present classes (1/2 + 1 + 1)/3 = 5/6.
    r = run_audit(
        Case(4, np.array(["a", "a", "b", "c"]), np.array(["a", "b", "b", "c"])),
        labels=["a", "b", "c", "d"],
    )
    got = estimates(r)
    nan = np.nan
    assert_close(got["per_class.precision"], [1, 1 / 2, 1, nan])
    assert_close(got["per_class.recall"], [1 / 2, 1, 1, nan])
    assert_close(got["per_class.f1"], [2 / 3, 2 / 3, 1, nan])
    assert_close(got["per_class.specificity"], [1, 2 / 3, 1, 1])
    assert_close(got["per_class.npv"], [2 / 3, 1, 1, 1])
    assert_close(got["per_class.jaccard"], [1 / 2, 1 / 2, 1, nan])
    assert_close(got["per_class.prevalence"], [1 / 2, 1 / 4, 1 / 4, 0])
    assert_close(got["macro.precision"], 5 / 6)
    assert_close(got["weighted.recall"], 3 / 4)
    assert_close(got["overall.accuracy"], 3 / 4)
    assert_close(got["overall.cohen_kappa"], 7 / 11)
    assert_close(got["overall.mcc"], 7 / 10)
    assert_close(got["overall.balanced_accuracy"], 5 / 6)
    assert [c.support for c in r.per_class] == [2, 1, 1, 0]
    assert [c.predicted for c in r.per_class] == [1, 2, 1, 0]


def test_hand_worked_ranking_with_ties():
    # Positives score (0.8, 0.4), negatives (0.4, 0.1).
    # AUC = mean placement of positives among negatives, ties half:
    #   0.8 beats both -> 1; 0.4 beats 0.1 and ties 0.4 -> (1 + 1/2)/2 = 3/4; AUC = 7/8.
    # AP: thresholds 0.8 -> precision 1/1 (recall 1/2); 0.4 -> precision 2/3 (recall 1);
    #   AP = 1/2 * 1 + 1/2 * 2/3 = 5/6.
    s = np.array([0.8, 0.4, 0.4, 0.1])
    pos = np.array([True, True, False, False])
    stats = ranking.binary_rank_stats(s, pos)
    assert_close(stats.auc, 7 / 8)
    assert_close(stats.average_precision, 5 / 6)
    assert_close(skm.roc_auc_score(pos, s), 7 / 8)
    assert_close(skm.average_precision_score(pos, s), 5 / 6)


# ------------------------------------------------------------------------------------------------
# label metrics


def _case(y_true, y_pred, k):
    return Case(k, np.array(y_true), np.array(y_pred))


@given(case=label_cases())
@example(case=_case([0, 0, 1, 1], [0, 1, 1, 1], 2))  # K = 2
@example(case=_case([0, 0, 0, 1], [0, 0, 0, 0], 3))  # never predicted; absent class 2; MCC 0/0
@example(case=_case([0, 0, 0], [0, 0, 0], 3))  # one class only: kappa and MCC undefined
@example(case=_case([0, 1, 2, 2, 2], [2, 2, 2, 2, 1], 4))  # one-sample classes
@example(case=_case([0, 0], [1, 1], 2))  # weighted precision: defined class has support 0
@example(case=_case([1, 1, 1], [2, 2, 2], 4))  # nothing right, most classes absent
def test_label_metrics_match_sklearn(case):
    got = estimates(run_audit(case))
    want = sklearn_label_metrics(case.y_true, case.y_pred, case.n_classes)
    assert set(got) == set(want)  # every label metric the audit reports is checked
    assert_matches(got, want)


@pytest.mark.parametrize("seed", [0, 1])
def test_label_metrics_match_sklearn_k200(seed):
    # Long tail over 200 classes and 1500 samples: dozens of absent, never-predicted and
    # one-sample classes at once.
    case = random_case(seed, 200, 1500, tail=1.2)
    support = np.bincount(case.y_true, minlength=200)
    assert (support == 0).any() and (support == 1).any()
    assert (np.bincount(case.y_pred, minlength=200) == 0).any()
    got = estimates(run_audit(case))
    assert_matches(got, sklearn_label_metrics(case.y_true, case.y_pred, 200))


def test_support_and_predicted_counts_match_sklearn():
    case = random_case(3, 12, 300)
    r = run_audit(case)
    cm = skm.confusion_matrix(case.y_true, case.y_pred, labels=case.labels)
    assert [c.support for c in r.per_class] == cm.sum(axis=1).tolist()
    assert [c.predicted for c in r.per_class] == cm.sum(axis=0).tolist()
    assert np.array_equal(np.array(r.data.confusion_matrix), cm)


def test_mcc_is_undefined_where_sklearn_returns_zero():
    # Every sample predicted as class 0: the prediction has no variance, so Pearson's
    # correlation (MCC) is 0/0. scikit-learn returns 0.0, which reads as "no better than chance";
    # prevalens reports NaN with status "undefined" (deliberate, see metrics.mcc).
    y_true, y_pred = [0, 1, 1, 2], [0, 0, 0, 0]
    r = run_audit(_case(y_true, y_pred, 3))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert skm.matthews_corrcoef(y_true, y_pred) == 0.0
    assert np.isnan(r.overall["mcc"].estimate)
    assert r.overall["mcc"].status == "undefined"


def test_weighted_average_without_weight_is_undefined_where_sklearn_falls_back():
    # y_true = 0 0, y_pred = 1 1, labels 0 1. Precision: class 0 never predicted -> NaN; class 1
    # 0/2 = 0 but has support 0. The support-weighted mean of the defined values is 0/0.
    # scikit-learn's _nanaverage then drops the weights and returns the plain mean, 0.0;
    # prevalens reports NaN ("undefined"), as metrics.weighted documents.
    r = run_audit(_case([0, 0], [1, 1], 2))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        sk = skm.precision_score(
            [0, 0], [1, 1], labels=[0, 1], average="weighted", zero_division=np.nan
        )
    assert sk == 0.0
    assert np.isnan(r.averages["weighted"]["precision"].estimate)
    assert r.averages["weighted"]["precision"].status == "undefined"


# ------------------------------------------------------------------------------------------------
# score metrics


def _check_scores(case: Case):
    r = run_audit(case)
    got = estimates(r)
    want = sklearn_score_metrics(case.y_true, case.y_score, case.n_classes)
    assert_matches(got, want)
    # Metrics that must be absent or undefined when their condition does not hold.
    for kk in (3, 5):
        assert (f"top_{kk}_accuracy" in r.overall) == (case.n_classes > kk)
    if not _is_probability(case.y_score):
        for name in ("log_loss", "brier"):
            assert np.isnan(r.overall[name].estimate)
            assert r.overall[name].status == "undefined"
            assert "not probabilities" in r.overall[name].note
    if case.y_pred is None:  # predictions are the argmax, first class on ties
        cm = skm.confusion_matrix(case.y_true, case.y_score.argmax(axis=1), labels=case.labels)
        assert np.array_equal(np.array(r.data.confusion_matrix), cm)
    return r


@given(case=score_cases())
def test_score_metrics_match_sklearn(case):
    _check_scores(case)


@given(case=score_cases(min_classes=4, max_classes=8, kinds=("tenths", "probability_palette")))
def test_top_k_and_ranking_with_many_ties_match_sklearn(case):
    # Scores rounded to one decimal, or rows from a palette of a few probability vectors: most
    # scores are tied within a column (ranking metrics) and within a row (top-k, where ties go
    # to the class with the larger index, as in scikit-learn).
    _check_scores(case)


@pytest.mark.parametrize("seed", [0, 1])
def test_score_metrics_match_sklearn_k200(seed):
    case = random_case(seed, 200, 1000, scores=True, tail=1.2)
    # Ties too: round the probabilities to 2 decimals and renormalise.
    s = np.round(case.y_score, 2) + 1e-3
    case = Case(200, case.y_true, case.y_pred, s / s.sum(axis=1, keepdims=True))
    _check_scores(case)


@given(
    case=score_cases(
        min_classes=2,
        max_classes=6,
        all_present=True,
        kinds=("probabilities", "probability_palette"),
    )
)
def test_roc_auc_ovo_matches_sklearn_when_every_class_is_present(case):
    # scikit-learn's multi-class path needs probability rows; with K = 2 it is the binary AUC
    # of the second column (Hand & Till's pair average equals it when columns sum to 1).
    got = run_audit(case).overall["roc_auc_ovo"].estimate
    y, s = case.y_true, case.y_score
    if case.n_classes == 2:
        want = skm.roc_auc_score(y, s[:, 1])
    else:
        want = skm.roc_auc_score(y, s, multi_class="ovo", labels=case.labels)
    assert_close(got, want)


@given(case=score_cases(max_classes=6))
def test_roc_auc_ovo_is_hand_till_over_present_classes(case):
    # Any scores, absent classes allowed: pairs with an absent class are skipped.
    got = run_audit(case).overall["roc_auc_ovo"].estimate
    assert_close(got, hand_till_from_sklearn(case.y_true, case.y_score, case.n_classes))


# ------------------------------------------------------------------------------------------------
# curves


def _sk_roc(pos, s):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # scikit-learn warns when a side is empty (NaN rates)
        return skm.roc_curve(pos, s, drop_intermediate=False)


@given(case=score_cases(kinds=("continuous", "tenths", "probability_palette")))
def test_curves_match_sklearn(case):
    y = _one_hot(case.y_true, case.n_classes).astype(bool)
    s = case.y_score
    for j in range(case.n_classes):
        fpr, tpr, thr = ranking.roc_curve(s[:, j], y[:, j])
        sk_fpr, sk_tpr, sk_thr = _sk_roc(y[:, j], s[:, j])
        assert_close(fpr, sk_fpr, err_msg=f"fpr, class {j}")
        assert_close(tpr, sk_tpr, err_msg=f"tpr, class {j}")
        np.testing.assert_array_equal(thr, sk_thr)
        if y[:, j].any():
            # prevalens orders by decreasing threshold and omits scikit-learn's appended
            # (recall 0, precision 1) end point; without positives scikit-learn sets recall to 1
            # where prevalens says NaN, so that case is not compared.
            prec, rec, thr = ranking.precision_recall_curve(s[:, j], y[:, j])
            sk_prec, sk_rec, sk_thr = skm.precision_recall_curve(y[:, j], s[:, j])
            assert_close(prec[::-1], sk_prec[:-1], err_msg=f"precision, class {j}")
            assert_close(rec[::-1], sk_rec[:-1], err_msg=f"recall, class {j}")
            np.testing.assert_array_equal(thr[::-1], sk_thr)

    fpr, tpr, thr = ranking.micro_roc_curve(case.y_true, s)
    sk_fpr, sk_tpr, sk_thr = _sk_roc(y.ravel(), s.ravel())
    assert_close(fpr, sk_fpr)
    assert_close(tpr, sk_tpr)
    np.testing.assert_array_equal(thr, sk_thr)

    # Macro curve: scikit-learn's documented recipe (examples/model_selection/plot_roc.py):
    # the union of the classes' FPR values as grid, each class's TPR interpolated on it, mean.
    curves = [
        _sk_roc(y[:, j], s[:, j])[:2]
        for j in range(case.n_classes)
        if 0 < y[:, j].sum() < y.shape[0]
    ]
    grid, mean_tpr = ranking.macro_roc_curve(case.y_true, s)
    if curves:
        sk_grid = np.unique(np.concatenate([f for f, _ in curves]))
        sk_mean = np.mean([np.interp(sk_grid, f, t) for f, t in curves], axis=0)
        assert_close(grid, sk_grid)
        assert_close(mean_tpr, sk_mean)
        assert grid[0] == 0 and grid[-1] == 1 and mean_tpr[-1] == 1
    else:
        assert np.isnan(mean_tpr).all()
