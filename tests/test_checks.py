"""Plausibility checks of the input (``prevalens.checks``): each warning on a minimal input and on
the pathological variants of real predictions users produced, no warning on ordinary data, the
messages, the probability tolerance and renormalisation, and the command line.

The real predictions are a sample of the Soybean gradient-boosting predictions
(``tests/data/soybean_hgb_sample.csv``, provenance in ``tests/data/README.md``); the variants are
derived here as users produced them. When the full files of ``benchmarks/real_data.py`` are
present (``/work/research/realdata/predictions``), they are checked too; otherwise those tests
are skipped.
"""

from __future__ import annotations

import math
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import random_case

import prevalens as pv
from prevalens import InputError, InputWarning, ProbabilityWarning
from prevalens.checks import score_stats
from prevalens.ranking import PROBABILITY_ATOL, is_probability

SAMPLE = Path(__file__).parent / "data" / "soybean_hgb_sample.csv"
REAL = Path("/work/research/realdata/predictions")

#: Note kinds that are warnings about the input (not informational notes).
WARNING_KINDS = {
    "scores-disagree",
    "labels-shifted",
    "labels-permuted",
    "labels-mismatch",
    "likely-typo",
    "hard-scores",
    "single-true-class",
}


def audit(y_true, y_pred=None, **kwargs):
    """An audit without intervals; returns (result, [(category, message)] of prevalens's
    warnings other than undefined metrics)."""
    kwargs.setdefault("n_resamples", 0)
    kwargs.setdefault("seed", 1)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = pv.audit(y_true, y_pred, **kwargs)
    return result, plausibility(caught)


def audit_frame(frame: pd.DataFrame, **kwargs):
    kwargs.setdefault("n_resamples", 0)
    kwargs.setdefault("seed", 1)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = pv.audit_predictions(pv.load_predictions(frame), **kwargs)
    return result, plausibility(caught)


def plausibility(caught):
    return [
        (w.category, str(w.message))
        for w in caught
        if issubclass(w.category, pv.PrevalensWarning)
        and not issubclass(w.category, pv.UndefinedMetricWarning)
    ]


def kinds(result) -> set[str]:
    return {n.kind for n in result.notes if not n.kind.startswith("undefined-")}


def note(result, kind: str) -> str:
    (text,) = [n.text for n in result.notes if n.kind == kind]
    return text


def one_line(text: str) -> bool:
    return "\n" not in text and "\r" not in text and text == text.strip()


# ------------------------------------------------------------------------------------------------
# the real sample and its pathological variants


@pytest.fixture(scope="module")
def soybean() -> pd.DataFrame:
    return pd.read_csv(SAMPLE, keep_default_na=False, na_values=[""])


def score_columns(frame):
    return [c for c in frame.columns if c.startswith("score_")]


def labels_only(frame):
    return frame[["y_true", "y_pred"]].copy()


def test_the_real_sample_gives_no_plausibility_warning(soybean):
    result, caught = audit_frame(soybean)
    assert caught == []
    assert not kinds(result) & WARNING_KINDS
    # scores written with 4 decimals: accepted within the tolerance, and said
    assert result.data.scores_are_probabilities
    assert "scores-rounded" in kinds(result)
    assert "off by 0.0004" in note(result, "scores-rounded")


def test_rotated_score_columns(soybean):
    frame = soybean.copy()
    cols = score_columns(frame)
    frame[cols] = np.roll(frame[cols].to_numpy(), 1, axis=1)  # column j holds class j-1's scores
    result, caught = audit_frame(frame)
    # rounded to 4 decimals, many rotated rows give the true class probability 0: the log loss
    # is infinite, said with a warning of its own
    assert [c for c, _ in caught] == [InputWarning, ProbabilityWarning]
    assert "log-loss-infinite" in kinds(result)
    text = note(result, "scores-disagree")
    assert caught[0][1] == text and one_line(text)
    assert "disagree with 'y_pred'" in text
    assert "'score_2-4-d-injury' ... 'score_rhizoctonia-root-rot'" in text
    assert "on 258 of 258 rows (100%)" in text
    assert "1 place before the highest-scoring one" in text
    assert "rotated (e.g. '" in text
    assert "order of the score columns" in text and "same model" in text


def test_labels_off_by_one(soybean):
    codes = {label: i for i, label in enumerate(sorted(set(soybean.y_true)))}
    frame = pd.DataFrame(
        {
            "y_true": soybean.y_true.map(codes) + 1,  # 1-based
            "y_pred": soybean.y_pred.map(codes),  # 0-based
        }
    )
    result, caught = audit_frame(frame)
    assert [c for c, _ in caught] == [InputWarning]
    text = note(result, "labels-shifted")
    assert caught[0][1] == text and one_line(text)
    assert text.startswith("the labels look shifted by -1: on ")
    assert "y_pred = y_true - 1" in text
    assert "only in y_true: 19; only in y_pred: 0" in text
    assert "0-based against 1-based" in text


@pytest.mark.parametrize(
    "bad, how",
    [("brwon-spot", "is one typing error away from"), (" brown-spot", "only by whitespace")],
)
def test_typo_and_stray_space_in_a_label(soybean, bad, how):
    frame = labels_only(soybean)
    frame.loc[frame.index[frame.y_true == "brown-spot"][0], "y_true"] = bad
    result, caught = audit_frame(frame)
    assert [c for c, _ in caught] == [InputWarning]
    text = note(result, "likely-typo")
    assert caught[0][1] == text and one_line(text)
    assert f"{bad!r} (1 true sample, never predicted) " in text
    assert how in text and "'brown-spot' (" in text
    assert "`labels`" in text
    assert set(result.notes[0].classes) == {bad, "brown-spot"}


def test_one_hot_scores(soybean):
    frame = soybean.copy()
    cols = score_columns(frame)
    classes = [c[len("score_") :] for c in cols]
    frame[cols] = (frame.y_pred.to_numpy()[:, None] == np.array(classes)).astype(float)
    result, caught = audit_frame(frame)
    assert [c for c, _ in caught] == [InputWarning]
    text = note(result, "hard-scores")
    assert caught[0][1] == text and one_line(text)
    assert "one-hot: every row gives 1 to one class and 0 to the other 18" in text
    assert "ROC AUC and average precision describe hard predictions" in text
    wrong = int((soybean.y_true != soybean.y_pred).sum())
    assert f"the log loss is infinite ({wrong} of 258 rows" in text
    # log loss: infinite, reported as undefined (not scikit-learn's clipped 45/258 * 36.04)
    e = result.overall["log_loss"]
    assert e.status == "undefined" and math.isnan(e.estimate) and "infinite" in e.note
    assert "log-loss-infinite" in kinds(result)
    # Brier: defined, twice the error rate, and said to describe hard predictions
    brier = result.overall["brier"]
    assert brier.estimate == pytest.approx(2 * wrong / 258, abs=1e-12)
    assert "hard predictions" in brier.note


def test_a_single_true_class(soybean):
    frame = soybean[soybean.y_true == "brown-spot"]
    result, caught = audit_frame(frame)
    assert [c for c, _ in caught] == [InputWarning]
    text = note(result, "single-true-class")
    assert caught[0][1] == text and one_line(text)
    assert "every sample has the same true class, 'brown-spot'" in text
    assert "other 18 classes" in text and "artefacts" in text
    # not an error: the one class's results are still there
    assert result.class_result("brown-spot").metrics["recall"].defined


# ------------------------------------------------------------------------------------------------
# each check on a minimal input


def test_scores_disagree_threshold_is_more_than_half_of_the_rows():
    y = np.array([0, 1] * 10)
    s = np.where(np.arange(2)[None, :] == y[:, None], 0.8, 0.2)
    for flipped, expected in ((10, False), (11, True)):
        s2 = s.copy()
        s2[:flipped] = s2[:flipped, ::-1]  # the highest score moves to the other class
        result, caught = audit(y, y, y_score=s2)
        assert ("scores-disagree" in kinds(result)) is expected, flipped
    # the predictions derived from the scores cannot disagree with them
    result, _ = audit(y, y_score=s2)
    assert "scores-disagree" not in kinds(result)


def test_ties_with_the_highest_score_are_not_disagreement():
    y = np.array([0, 1, 2] * 10)
    s = np.tile([0.45, 0.45, 0.1], (30, 1))  # classes 0 and 1 tie in every row
    result, caught = audit(y, np.where(y == 2, 0, y), y_score=s)
    assert "scores-disagree" not in kinds(result)


def test_permuted_score_columns_are_named():
    y = np.repeat([0, 1, 2, 3], 10)
    s = np.full((40, 4), 0.1)
    s[np.arange(40), y] = 0.7
    s = s[:, [1, 0, 2, 3]]  # the columns of classes 0 and 1 swapped
    result, _ = audit(["abcd"[i] for i in y], ["abcd"[i] for i in y], y_score=s)
    assert "scores-disagree" not in kinds(result)  # 20 of 40 rows is not more than half
    s = s[:, [0, 1, 3, 2]]  # and those of 2 and 3
    result, _ = audit(["abcd"[i] for i in y], ["abcd"[i] for i in y], y_score=s)
    text = note(result, "scores-disagree")
    assert "on 40 of 40 rows (100%)" in text and "look permuted" in text
    assert "'y_score[:, 0]' holds the scores of 'b'" in text


@pytest.mark.parametrize(
    "labels",
    [list(range(1, 7)), ["ant", "bee", "cat", "dog", "eel", "fox"]],
    ids=["integers", "strings"],
)
def test_labels_shifted_on_a_minimal_input(labels):
    rng = np.random.default_rng(3)
    t = rng.integers(1, 6, 60)  # positions 1..5 true, predicted one place before
    p = t - 1
    p[:5] = t[:5]  # a few correct
    lab = np.array(labels, dtype=object)
    result, caught = audit(list(lab[t]), list(lab[p]))
    text = note(result, "labels-shifted")
    assert "shifted by -1" in text
    if isinstance(labels[0], int):
        assert "y_pred = y_true - 1" in text
    else:
        assert "1 place before the true one in class order" in text


def test_a_constant_predictor_is_not_a_shift():
    y = np.array([0] * 60 + [1] * 25 + [2] * 15)
    result, caught = audit(y, np.ones_like(y))
    assert not kinds(result) & WARNING_KINDS and caught == []


def test_swapped_binary_labels():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 100)
    p = np.where(rng.random(100) < 0.9, 1 - y, y)
    result, _ = audit(["no" if v else "yes" for v in y], ["no" if v else "yes" for v in p])
    text = note(result, "labels-permuted")
    assert text.startswith("the labels look swapped: ")
    assert "'no' as 'yes'" in text and "'yes' as 'no'" in text


@pytest.mark.parametrize("seed", range(10))
def test_chance_level_binary_predictions_are_not_swapped_labels(seed):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, 200)
    result, caught = audit(y, rng.integers(0, 2, 200))
    assert caught == []


def test_label_sets_that_overlap_poorly():
    y = ["cat", "dog", "bird", "fish"] * 10
    p = [{"cat": "Cat", "dog": "Dog"}.get(v, v) for v in y]
    p[2::4] = ["fish"] * 10  # bird predicted as fish: most rows wrong
    result, caught = audit(y, p)
    text = note(result, "labels-mismatch")
    assert one_line(text) and "overlap poorly" in text
    assert "'bird', 'cat', 'dog' only in 'y_true'" in text
    assert "'Cat', 'Dog' only in 'y_pred'" in text
    # and the pairs that differ only in case are named as likely typos
    assert "differs only in case from" in note(result, "likely-typo")


def test_label_sets_that_share_nothing_are_refused():
    with pytest.raises(InputError, match=r"^'y_true' and 'y_pred' share no label: .*same coding"):
        audit(["cat", "dog"] * 5, [0, 1] * 5)
    with pytest.raises(InputError, match="they match when case and surrounding spaces are ignored"):
        audit(["cat", "dog"] * 5, ["Cat", "Dog "] * 5)


def test_label_sets_that_share_nothing_in_a_file_name_the_file(tmp_path):
    path = tmp_path / "p.csv"
    pd.DataFrame({"truth": ["a", "b"] * 3, "guess": ["x", "y"] * 3}).to_csv(path, index=False)
    pred = pv.load_predictions(path, y_true="truth", y_pred="guess")
    with pytest.raises(InputError, match=r"p\.csv: 'truth' and 'guess' share no label"):
        pv.audit_predictions(pred, n_resamples=0, seed=1)


@pytest.mark.parametrize(
    "small, large, expected",
    [
        ("brwon-spot", "brown-spot", True),  # adjacent letters swapped
        ("brown-spt", "brown-spot", True),  # a letter missing
        ("browns-spot", "brown-spot", True),  # a letter too many
        ("brown spot", "brown-spot", True),  # a separator
        ("Brown-Spot", "brown-spot", True),  # case
        ("brown-spot ", "brown-spot", True),  # trailing space
        ("E11.8", "E11.9", False),  # codes that differ in a digit are different classes
        ("class_17", "class_11", False),
        ("cat", "car", False),  # too short to tell
        ("brown-rot", "brown-spot", False),  # two edits
    ],
)
def test_likely_typos(small, large, expected):
    y = [large] * 30 + ["other-class"] * 30 + [small]
    p = [large] * 30 + ["other-class"] * 30 + [large]
    result, _ = audit(y, p)
    assert ("likely-typo" in kinds(result)) is expected


def test_no_typo_when_the_small_class_is_predicted_or_the_labels_are_integers():
    y = ["brown-spot"] * 30 + ["brwon-spot"] * 2
    result, _ = audit(y, y)  # the model predicts it: a class it knows
    assert "likely-typo" not in kinds(result)
    result, _ = audit([10] * 30 + [11], [10] * 31)
    assert "likely-typo" not in kinds(result)


def test_labels_differing_only_by_whitespace_are_named_whatever_their_sizes():
    y = ["cat"] * 20 + ["cat "] * 15 + ["dog"] * 20
    result, _ = audit(y, y)
    assert "'cat ' (15 true, predicted 15 times) differs only by whitespace from 'cat'" in (
        note(result, "likely-typo")
    )


def test_typos_among_thousands_of_labels_are_found_quickly():
    import time

    rng = np.random.default_rng(1)
    letters = np.array(list("abcdefghijklmnopqrstuvwxyz"))
    words = sorted({"".join(rng.choice(letters, int(rng.integers(6, 14)))) for _ in range(3000)})
    support = rng.integers(1, 40, len(words))
    y = np.repeat(np.array(words, dtype=object), support)
    p = y.copy()
    target = words[int(np.argmax(support))]
    typo = target[1] + target[0] + target[2:]
    y = np.append(y, typo)
    p = np.append(p, target)
    pred = pv.predictions_from_arrays(y, p)
    start = time.perf_counter()
    notes = pv.checks.check_labels(pred, pred.counts().matrix, min_support=10)
    assert time.perf_counter() - start < 5
    (typos,) = [n for n in notes if n.kind == "likely-typo"]
    assert set(typos.classes) == {typo, target}


def test_hard_scores_need_every_row_hard():
    # a random forest on easy data: most rows one-hot, some soft: no warning
    rng = np.random.default_rng(0)
    y = rng.integers(0, 3, 300)
    s = np.eye(3)[y]
    s[:5] = [0.6, 0.3, 0.1]
    result, caught = audit(y, y, y_score=s)
    assert caught == [] and "hard-scores" not in kinds(result)
    assert result.overall["log_loss"].defined


def test_hard_scores_with_a_constant_confidence():
    y = np.array([0, 1, 2] * 10)
    p = y.copy()
    p[:4] = (y[:4] + 1) % 3
    s = np.full((30, 3), 0.05)
    s[np.arange(30), p] = 0.9
    result, caught = audit(y, p, y_score=s)
    text = note(result, "hard-scores")
    assert "every row gives 0.9 to one class and 0.05 to each of the other 2" in text
    # no probability 0: the log loss is finite (that of a constant confidence), not undefined
    assert result.overall["log_loss"].defined


def test_single_true_class_on_a_minimal_input():
    result, caught = audit(["a"] * 20, ["a"] * 15 + ["b"] * 5, labels=["a", "b", "c"])
    assert [c for c, _ in caught] == [InputWarning]
    assert "'a'" in note(result, "single-true-class")


def test_a_single_class_in_all_is_refused():
    with pytest.raises(InputError, match=r"^only one class, 'a', in 'y_true'.*nothing to audit"):
        pv.audit(["a"] * 5, ["a"] * 5, n_resamples=0, seed=1)
    # with the model's classes listed there is something to audit: a warning
    result, caught = audit(["a"] * 5, ["a"] * 5, labels=["a", "b"])
    assert "single-true-class" in kinds(result)


def test_log_loss_undefined_when_mostly_clipping_and_noted_when_partly():
    rng = np.random.default_rng(2)
    y = rng.integers(0, 3, 200)
    s = rng.dirichlet([1, 1, 1], 200) * 0.5
    s[np.arange(200), y] += 0.5
    # one row gives its true class probability 0: clipped, a small part of the log loss
    s[0] = [0.5, 0.5, 0.0] if y[0] == 2 else np.roll([0.0, 0.5, 0.5], y[0])
    result, caught = audit(y, y_score=s)
    assert caught == []
    e = result.overall["log_loss"]
    assert e.defined and "1 row with a true-class probability below eps" in e.note
    assert "log-loss-clipped" in kinds(result)
    # many such rows: the clipped value is mostly -log(eps): infinite, undefined, with a warning
    for i in range(1, 40):
        s[i] = np.roll([0.0, 0.5, 0.5], y[i])
    result, caught = audit(y, y_score=s)
    assert [c for c, _ in caught] == [ProbabilityWarning]
    assert "log loss is reported as undefined: 40 of 200 rows" in caught[0][1]
    assert not result.overall["log_loss"].defined
    assert result.overall["brier"].defined


# ------------------------------------------------------------------------------------------------
# no warning on ordinary data


@pytest.mark.parametrize("k", [2, 10, 200])
@pytest.mark.parametrize("strings", [False, True], ids=["int", "str"])
def test_ordinary_predictions_give_no_plausibility_warning(k, strings):
    for seed in range(3 if k < 200 else 1):
        case = random_case(seed, k, 40 * k, scores=True)
        proba = np.round(case.y_score, 6)  # as written by a CSV writer
        y_true, y_pred, labels = case.y_true, case.y_pred, case.labels
        if strings:
            names = np.array([f"class_{j:03d}" for j in range(k)], dtype=object)
            y_true, y_pred, labels = names[y_true], names[y_pred], list(names)
        result, caught = audit(y_true, y_pred, y_score=proba, labels=labels)
        assert caught == [], caught
        assert not kinds(result) & WARNING_KINDS


def test_the_bundled_example_gives_no_plausibility_warning():
    from prevalens.data import example_path

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = pv.audit_predictions(pv.load_predictions(example_path()), n_resamples=0, seed=1)
    assert plausibility(caught) == []
    assert not kinds(result) & WARNING_KINDS


# ------------------------------------------------------------------------------------------------
# the full files of benchmarks/real_data.py, when present

needs_real = pytest.mark.skipif(not REAL.is_dir(), reason="real-data predictions not present")


@needs_real
@pytest.mark.parametrize("name", ["soybean_hgb", "letter_logreg", "shuttle_rf"])
def test_real_ordinary_files_give_no_plausibility_warning(name):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = pv.audit_predictions(
            pv.load_predictions(REAL / f"{name}.csv"), n_resamples=0, seed=1
        )
    assert plausibility(caught) == []
    assert not kinds(result) & WARNING_KINDS


@needs_real
@pytest.mark.parametrize(
    "name, kind",
    [
        ("soybean_rotated", "scores-disagree"),
        ("soybean_offbyone", "labels-shifted"),
        ("soybean_typo", "likely-typo"),
        ("soybean_space", "likely-typo"),
        ("soybean_onehot", "hard-scores"),
        ("soybean_single", "single-true-class"),
    ],
)
def test_real_pathological_files(name, kind):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = pv.audit_predictions(
            pv.load_predictions(REAL / f"{name}.csv"), n_resamples=0, seed=1
        )
    assert [m for c, m in plausibility(caught)] == [note(result, kind)]
    assert kinds(result) & WARNING_KINDS == {kind}


# ------------------------------------------------------------------------------------------------
# probabilities as users store them


def rounded_probabilities(k: int, n: int, decimals: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, k, n)
    logits = rng.normal(size=(n, k))
    logits[np.arange(n), y] += 3
    p = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    return y, np.round(p, decimals)


@pytest.mark.parametrize("k, decimals", [(3, 6), (1000, 6), (10, 3)])
def test_probabilities_rounded_as_stored_are_probabilities(k, decimals):
    y, p = rounded_probabilities(k, 200, decimals)
    deviation = np.abs(p.sum(axis=1) - 1).max()
    assert 1e-6 < deviation <= k * 0.5 * 10.0**-decimals  # refused before (1e-6); rounding
    assert is_probability(p)
    result, caught = audit(y, y_score=p, labels=list(range(k)))
    assert caught == []
    assert result.data.scores_are_probabilities and result.overall["log_loss"].defined
    assert f"off by {deviation:.2g} (tolerance 0.01)" in note(result, "scores-rounded")


def test_a_row_summing_to_0_9_is_not_a_probability_vector():
    y, p = rounded_probabilities(3, 50, 6)
    p[7] *= 0.9
    assert not is_probability(p) and PROBABILITY_ATOL == 0.01
    result, caught = audit(y, y_score=p)
    assert [c for c, _ in caught] == [ProbabilityWarning]
    text = note(result, "scores-not-probabilities")
    assert caught[0][1] == text and one_line(text)
    assert "row 8 sums to 0.9" in text and "`renormalize_scores`" in text
    for name in ("log_loss", "brier"):
        assert not result.overall[name].defined
    # ranking metrics are computed on the scores as given
    assert result.averages["macro"]["roc_auc"].defined


def test_renormalize_scores_divides_each_row_by_its_sum():
    y, p = rounded_probabilities(3, 50, 6)
    p[7] *= 0.9
    result, caught = audit(y, y_score=p, renormalize_scores=True, n_resamples=200)
    assert caught == []
    q = p / p.sum(axis=1, keepdims=True)
    expected = -np.mean(np.log(q[np.arange(50), y]))
    e = result.overall["log_loss"]
    assert e.estimate == pytest.approx(expected, abs=1e-12)
    assert e.ci_low < e.estimate < e.ci_high
    for name in ("log_loss", "brier"):
        assert "renormalised" in result.overall[name].note
        assert "renormalize_scores" in result.overall[name].note
    assert result.run.config["renormalize_scores"] is True
    assert "row 8, was off by 0.1" in note(result, "scores-renormalized")
    assert result.data.scores_are_probabilities


def test_renormalize_scores_needs_a_positive_sum_in_every_row():
    y, p = rounded_probabilities(3, 20, 6)
    p[4] = 0
    with pytest.raises(InputError, match=r"the scores of row 5 sum to 0\.0; `renormalize_scores`"):
        pv.audit(y, y_score=p, renormalize_scores=True, n_resamples=0, seed=1)


def test_renormalize_scores_is_a_boolean():
    with pytest.raises(pv.ConfigError, match="`renormalize_scores` must be True or False"):
        pv.AuditConfig(renormalize_scores="yes")
    assert pv.AuditConfig().renormalize_scores is False


def test_score_stats_need_no_n_by_k_temporary():
    import tracemalloc

    y, p = rounded_probabilities(50, 20_000, 6)  # 8 MB of scores
    pred = pv.predictions_from_arrays(y, y_score=p)
    tracemalloc.start()
    score_stats(pred, block=1 << 14)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < p.nbytes / 4


# ------------------------------------------------------------------------------------------------
# the command line


def test_cli_prints_each_warning_once_and_exits_0(tmp_path, cli, soybean):
    frame = labels_only(soybean)
    frame.loc[frame.index[frame.y_true == "brown-spot"][0], "y_true"] = "brwon-spot"
    frame.to_csv(tmp_path / "typo.csv", index=False)
    run = cli("audit", "typo.csv", "--n-resamples", "0", "--format", "json", cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    lines = [x for x in run.stderr.splitlines() if x.startswith("prevalens: warning: class")]
    assert len(lines) == 1 and "'brwon-spot'" in lines[0], run.stderr
    assert all(x.startswith("prevalens: warning: ") for x in run.stderr.splitlines())
    results = (tmp_path / "reports" / "results.json").read_text()
    assert "likely-typo" in results


def test_cli_renormalize_scores_flag_and_config_key(tmp_path, cli):
    y, p = rounded_probabilities(3, 40, 6)
    p[3] *= 0.9
    frame = pd.DataFrame({"y_true": y, **{f"score_{j}": p[:, j] for j in range(3)}})
    frame.to_csv(tmp_path / "p.csv", index=False)
    args = ("audit", "p.csv", "--n-resamples", "0", "--format", "json")
    run = cli(*args, cwd=tmp_path)
    assert run.returncode == 0
    assert run.stderr.count("prevalens: warning: scores are not probabilities") == 1
    run = cli(*args, "--renormalize-scores", cwd=tmp_path)
    assert run.returncode == 0 and "warning" not in run.stderr, run.stderr
    (tmp_path / "audit.toml").write_text("renormalize_scores = true\n")
    run = cli(*args, "--config", "audit.toml", "--no-renormalize-scores", cwd=tmp_path)
    assert "scores are not probabilities" in run.stderr
    (tmp_path / "bad.toml").write_text('renormalize_scores = "yes"\n')
    run = cli(*args, "--config", "bad.toml", cwd=tmp_path)
    assert run.returncode == 2
    assert "renormalize_scores" in run.stderr and "expected true or false" in run.stderr


def test_input_alerts_lead_the_summary_and_the_markdown(soybean):
    # a likely wrong input is said before any number a reader would act on, not only among the
    # limitations; an ordinary note (how the predictions were produced) stays a limitation
    frame = soybean.copy()
    cols = score_columns(frame)
    frame[cols] = np.roll(frame[cols].to_numpy(), 1, axis=1)
    result, _ = audit_frame(frame)
    assert "scores-disagree" in kinds(result)
    out = pv.render(result, ["html", "md"])
    html = out["report.html"].decode()
    summary = html[html.index("Executive summary</h2>") : html.index("Headline metrics")]
    assert "look rotated" in summary and "severity-high" in summary
    assert "How the predictions were produced" not in summary
    md = out["summary.md"].decode()
    assert md.index("## Input alerts") < md.index("## Headline metrics") < md.index("## Findings")
    assert "look rotated" in md[md.index("## Input alerts") : md.index("## Headline metrics")]
    clean, _ = audit_frame(soybean)
    assert "## Input alerts" not in pv.render(clean, ["md"])["summary.md"].decode()
