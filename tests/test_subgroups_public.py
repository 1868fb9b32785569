"""Subgroups on a public data set with real group columns: the 1996 American National Election
Study extract that statsmodels ships (``statsmodels.datasets.anes96``, 944 respondents, offline).

The task: predict a respondent's party identification (7 classes, from "strong Democrat" to
"strong Republican"; "independent-independent" is the rarest, 37 respondents) from their own
left-right placement, their placements of the two candidates, TV news, income and population,
with a multinomial logistic regression and 5-fold cross-validated predictions (scikit-learn).
The groups are real: education (7 levels, the smallest 13 respondents) and age band.

Every per-level value equals fairlearn's ``MetricFrame.by_group`` and scikit-learn on the
level's rows, the largest gaps equal MetricFrame's ``difference()``, and the cells of fewer than
10 respondents are suppressed in the JSON.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from fairlearn.metrics import MetricFrame
from sklearn import metrics as skm
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold, cross_val_predict
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

import prevalens
from prevalens.exceptions import UndefinedMetricWarning
from prevalens.io import predictions_from_arrays

sm_datasets = pytest.importorskip("statsmodels.datasets")

PARTY = (
    "strong Democrat",
    "weak Democrat",
    "independent-Democrat",
    "independent-independent",
    "independent-Republican",
    "weak Republican",
    "strong Republican",
)
EDUCATION = {
    1: "grades 1-8",
    2: "some high school",
    3: "high school",
    4: "some college",
    5: "college degree",
    6: "master's degree",
    7: "PhD",
}
FEATURES = ["selfLR", "ClinLR", "DoleLR", "TVnews", "income", "logpopul"]


@pytest.fixture(scope="module")
def anes():
    d = sm_datasets.anes96.load_pandas().data
    y = d["PID"].astype(int).to_numpy()
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000))
    folds = StratifiedKFold(5, shuffle=True, random_state=0)
    proba = cross_val_predict(model, d[FEATURES], y, cv=folds, method="predict_proba")
    pred = proba.argmax(1)
    education = d["educ"].astype(int).map(EDUCATION).to_numpy()
    age = pd.cut(d["age"], [0, 34, 54, 200], labels=["18-34", "35-54", "55+"]).astype(str)
    labels = [PARTY[i] for i in range(7)]
    p = predictions_from_arrays(
        np.array(labels)[y],
        np.array(labels)[pred],
        y_score=proba,
        labels=labels,
        groups={"education": education, "age": age.to_numpy()},
    )
    # the model never predicts the rarest class (a realistic finding): its precision is
    # undefined, and the audit says so
    with pytest.warns(UndefinedMetricWarning, match="independent-independent"):
        r = prevalens.audit_predictions(p, group=("education", "age"), n_resamples=300, seed=11)
    return y, pred, proba, education, age.to_numpy(), r


def _shown(yt, yp, min_cell=10, precision=False):
    ok = np.bincount(yt, minlength=7) >= min_cell
    if precision:
        ok &= np.bincount(yp, minlength=7) >= min_cell
    return np.flatnonzero(ok)


def test_levels_equal_fairlearn_metricframe(anes):
    y, pred, proba, education, age, r = anes
    for g, col in zip(r.subgroups.groupings, (education, age)):
        mf = MetricFrame(
            metrics={
                "accuracy": skm.accuracy_score,
                "macro_recall": lambda a, b: skm.recall_score(
                    a, b, labels=_shown(np.asarray(a), np.asarray(b)), average="macro"
                ),
                "macro_f1": lambda a, b: skm.f1_score(
                    a, b, labels=_shown(np.asarray(a), np.asarray(b)), average="macro"
                ),
                **{
                    f"recall_{j}": (
                        lambda a, b, j=j: skm.recall_score(a == j, b == j, zero_division=np.nan)
                    )
                    for j in range(7)
                },
            },
            y_true=y,
            y_pred=pred,
            sensitive_features=col,
        )
        for lv in g.levels:
            if lv.suppressed:
                continue
            row = mf.by_group.loc[lv.level]
            assert lv.accuracy.estimate == pytest.approx(row["accuracy"], abs=1e-12)
            # (a level with no class of 10 respondents, grades 1-8, has no average: NaN in both)
            assert lv.averages["macro.recall"].estimate == pytest.approx(
                row["macro_recall"], abs=1e-12, nan_ok=True
            )
            assert lv.averages["macro.f1"].estimate == pytest.approx(
                row["macro_f1"], abs=1e-12, nan_ok=True
            )
            for j, cell in enumerate(lv.cells):
                if not cell.suppressed:
                    assert cell.recall.estimate == pytest.approx(row[f"recall_{j}"], abs=1e-12)
        # the largest accuracy gap over the levels: MetricFrame's difference between groups
        shown_levels = [lv.level for lv in g.levels if not lv.suppressed]
        gap = next(m for m in g.max_gaps if m.metric == "accuracy")
        by = mf.by_group.loc[shown_levels, "accuracy"]
        assert gap.gap.estimate == pytest.approx(by.max() - by.min(), abs=1e-12)
        assert gap.gap.ci_low <= gap.gap.estimate <= gap.gap.ci_high


def test_macro_auc_and_the_differences_equal_scikit_learn(anes):
    y, pred, proba, education, age, r = anes
    g = r.subgroups.groupings[1]  # age: three bands of 200-400 respondents
    assert g.name == "age"
    disp = {(d.level, d.against, d.metric): d for d in g.disparities if d.label is None}
    for lv in g.levels:
        rows = age == lv.level
        labels = _shown(y[rows], pred[rows])
        auc = np.mean([skm.roc_auc_score(y[rows] == j, proba[rows, j]) for j in labels])
        assert lv.averages["macro.roc_auc"].estimate == pytest.approx(auc, abs=1e-12)
        f1 = skm.f1_score(y[rows], pred[rows], labels=labels, average="macro")
        f1_rest = skm.f1_score(y[~rows], pred[~rows], labels=labels, average="macro")
        d = disp[(lv.level, "rest", "macro.f1")]
        assert d.difference.estimate == pytest.approx(f1 - f1_rest, abs=1e-12)
        assert d.difference.ci_low < d.difference.estimate < d.difference.ci_high


def test_small_cells_are_suppressed_in_the_json(anes, tmp_path):
    y, pred, proba, education, age, r = anes
    g = r.subgroups.groupings[0]
    smallest = next(lv for lv in g.levels if lv.level == "grades 1-8")  # 13 respondents
    rows = education == "grades 1-8"
    counts = np.bincount(y[rows], minlength=7)
    assert all(c.suppressed == (counts[j] < 10) for j, c in enumerate(smallest.cells))
    assert any(c.suppressed for c in smallest.cells)
    d = json.loads(json.dumps(r.to_dict()))
    lv = next(v for v in d["subgroups"]["groupings"][0]["levels"] if v["level"] == "grades 1-8")
    for j, c in enumerate(lv["cells"]):
        if counts[j] < 10:
            assert c["recall"]["estimate"] is None and c["recall"]["status"] == "suppressed"
