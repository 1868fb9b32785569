"""The limitations an audit lists (issue 11), rule by rule, through ``prevalens.audit``.

Each rule of :func:`prevalens.limitations.limitation_notes` is exercised through the public API on
a small seeded input built for it, and checked both ways: the note is there when its condition
holds (naming what it is about, with counts recomputed here from ``result.to_dict()``) and absent
when it does not.

* ``evaluation-not-stated``: without ``evaluation``, not with it.
* ``prevalence-dependence``: with two classes or more.
* ``near-min-support``: exactly the classes with min_support <= support < 2 * min_support, with
  their supports.
* ``approximate-intervals``: every estimate with status ``unstable`` (macro ROC AUC with a
  perfectly separated class; few clusters), named with its reason; none without intervals.
* ``missing-intervals``: a defined estimate with status ``boundary`` or ``no_interval`` (AP = 1).
* ``wide-ap-intervals``: AP >= 0.9 with an interval wider than 0.5; none when AP intervals are
  narrow.
* ``curves-without-bands``: scores without bands (n_resamples = 0, clusters, too large), with the
  reason.
* ``clusters``: the number of clusters and Kish's effective number.
* Every note once in results.json and in the report's Limitations list, each one line ending with
  a period.

The tests of the count of approximate intervals, of a blank evaluation and of the clusters note
without resampling were written against defects, fixed since.
"""

from __future__ import annotations

import functools
import json
import re
import warnings

import numpy as np
import pytest
from markupsafe import escape

import prevalens as pv

#: The kinds ``limitation_notes`` produces (other notes, e.g. ``undefined-*``, come from the audit).
LIMITATION_KINDS = (
    "evaluation-not-stated",
    "prevalence-dependence",
    "near-min-support",
    "approximate-intervals",
    "missing-intervals",
    "wide-ap-intervals",
    "curves-without-bands",
    "clusters",
)

#: Sections of results.json that hold estimates of their own (``findings`` only repeat them as
#: evidence).
ESTIMATE_SECTIONS = ("per_class", "averages", "overall", "strata", "gap", "trend", "divergence")


# ------------------------------------------------------------------------------------------------
# helpers


def quiet_audit(y_true, y_pred=None, **kwargs):
    """``prevalens.audit`` with the audit's own warnings (undefined metrics, ...) silenced."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", pv.PrevalensWarning)
        return pv.audit(y_true, y_pred, **kwargs)


def notes_of(result, kind):
    return [n for n in result.notes if n.kind == kind]


def note_of(result, kind):
    """The one note of ``kind`` (fails when there is none or more than one)."""
    found = notes_of(result, kind)
    assert len(found) == 1, f"{kind}: {[n.kind for n in result.notes]}"
    return found[0]


def kinds(result) -> list[str]:
    return [n.kind for n in result.notes]


def leading_count(text: str) -> int:
    m = re.match(r"(\d+) ", text)
    assert m, text
    return int(m.group(1))


def json_estimates(d: dict, sections=ESTIMATE_SECTIONS):
    """(path, estimate dict) of every estimate in the JSON form of a result."""

    def walk(x, path):
        if isinstance(x, dict):
            if "estimate" in x and "status" in x:
                yield path, x
                return
            for k, v in x.items():
                yield from walk(v, f"{path}/{k}")
        elif isinstance(x, list):
            for i, v in enumerate(x):
                yield from walk(v, f"{path}[{i}]")

    for s in sections:
        yield from walk(d.get(s, {}), s)


def labelled(sizes: dict, *, seed=0, error=0.3):
    """String labels with ``sizes`` samples per class; a share ``error`` of predictions drawn at
    random from the classes."""
    rng = np.random.default_rng(seed)
    y = np.repeat(list(sizes), list(sizes.values()))
    pred = y.copy()
    flip = rng.random(y.size) < error
    pred[flip] = rng.choice(list(sizes), flip.sum())
    return y, pred


def softmax_scores(y, k, rng, strength=1.0):
    logits = rng.normal(size=(y.size, k))
    logits[np.arange(y.size), y] += strength
    p = np.exp(logits)
    return p / p.sum(axis=1, keepdims=True)


def separated_scores(sizes, *, seed=1, separated=2):
    """Integer classes with ``sizes`` samples and probability scores; class ``separated`` ranked
    perfectly (every positive above every negative: ROC AUC = AP = 1)."""
    rng = np.random.default_rng(seed)
    k = len(sizes)
    y = np.repeat(np.arange(k), sizes)
    logits = rng.normal(size=(y.size, k))
    logits[np.arange(y.size), y] += 1.0
    logits[:, separated] = np.where(
        y == separated, 10 + rng.random(y.size), -10 - rng.random(y.size)
    )
    p = np.exp(logits)
    return y, p / p.sum(axis=1, keepdims=True)


def near_one_ap_scores(sizes, *, seed=3):
    """The last class ranked above every other class's samples except one negative that sits
    among its top positives: AP about 0.92, decided by that one negative."""
    rng = np.random.default_rng(seed)
    k = len(sizes)
    last = k - 1
    y = np.repeat(np.arange(k), sizes)
    p_last = np.where(y == last, 0.6 + 0.3 * rng.random(y.size), 0.3 * rng.random(y.size))
    p_last[np.flatnonzero(y != last)[0]] = 0.88
    rest = softmax_scores(np.minimum(y, last - 1), last, rng)
    return y, np.column_stack([rest * (1 - p_last)[:, None], p_last])


# ------------------------------------------------------------------------------------------------
# scenarios (each audited once per session)


@functools.cache
def support_result(min_support=10, evaluation=None):
    """Labels only: classes of 10, 19, 20 and 9 samples, point estimates only."""
    y, pred = labelled({"a": 10, "b": 19, "c": 20, "d": 9})
    return quiet_audit(
        y, pred, n_resamples=0, seed=0, min_support=min_support, evaluation=evaluation
    )


@functools.cache
def separated_result():
    """Class 2 of [60, 40, 30] perfectly separated: per-class AP = 1 (boundary), macro and
    weighted ROC AUC and AP unstable; curves with bands."""
    y, s = separated_scores([60, 40, 30])
    return quiet_audit(y, y_score=s, n_resamples=200, seed=1, evaluation="held-out test set")


@functools.cache
def near_one_ap_result():
    """Class 2 of [30, 30, 20] with one negative among its top positives: AP 0.91, its interval
    spanning almost [0, 1]; the other APs below 0.9 with narrow intervals."""
    y, s = near_one_ap_scores([30, 30, 20])
    return quiet_audit(y, y_score=s, n_resamples=200, seed=1, evaluation="held-out test set")


@functools.cache
def smooth_result(strength, sizes=(250, 200, 150)):
    """Three classes with softmax scores: AP about 0.75 (strength 1) or 0.998 (3), every interval
    narrow."""
    rng = np.random.default_rng(4)
    y = np.repeat(np.arange(len(sizes)), sizes)
    s = softmax_scores(y, len(sizes), rng, strength)
    return quiet_audit(y, y_score=s, n_resamples=200, seed=1, evaluation="held-out test set")


def cluster_data(n_clusters=6, seed=2):
    rng = np.random.default_rng(seed)
    y = np.repeat(np.arange(3), [60, 40, 30])
    s = softmax_scores(y, 3, rng, 1.5)
    # unequal clusters: Kish's effective number (about 4) differs from their count
    share = np.array([4, 2] + [1] * (n_clusters - 2), dtype=float)
    ids = rng.choice(n_clusters, size=y.size, p=share / share.sum())
    cluster = np.array([f"patient-{i}" for i in ids])
    return y, s, cluster


@functools.cache
def clustered_result(n_resamples=200):
    """130 rows in 6 unequal clusters (few effective clusters: intervals unstable)."""
    y, s, cluster = cluster_data()
    return quiet_audit(y, y_score=s, cluster=cluster, n_resamples=n_resamples, seed=1)


@functools.cache
def rich_result():
    """Most rules at once: no evaluation, a class of 15 (near min_support = 10) perfectly
    separated (AP = 1), 6 clusters, scores."""
    y, s = separated_scores([60, 40, 15])
    cluster = np.random.default_rng(7).integers(0, 6, y.size)
    return quiet_audit(y, y_score=s, cluster=cluster, n_resamples=200, seed=1, min_support=10)


SCENARIOS = {
    "support": support_result,
    "separated": separated_result,
    "near_one_ap": near_one_ap_result,
    "smooth_narrow_ap": lambda: smooth_result(3.0),
    "clustered": clustered_result,
    "clustered_no_resamples": lambda: clustered_result(0),
    "rich": rich_result,
}


# ------------------------------------------------------------------------------------------------
# evaluation-not-stated, prevalence-dependence


def test_evaluation_not_stated_only_without_evaluation():
    note = note_of(support_result(), "evaluation-not-stated")
    assert "`evaluation`" in note.text
    assert "training data" in note.text
    assert "evaluation-not-stated" in kinds(support_result(evaluation=""))
    stated = support_result(evaluation="5-fold out-of-fold predictions")
    assert "evaluation-not-stated" not in kinds(stated)
    assert kinds(stated) == [k for k in kinds(support_result()) if k != "evaluation-not-stated"]


def test_blank_evaluation_is_not_stated():
    y, pred = labelled({"a": 30, "b": 30})
    r = quiet_audit(y, pred, n_resamples=0, seed=0, evaluation="   ")
    assert "evaluation-not-stated" in kinds(r)


def test_prevalence_dependence_with_two_classes_or_more():
    for sizes in ({"a": 30, "b": 30}, {"a": 10, "b": 19, "c": 20, "d": 9}):
        y, pred = labelled(sizes)
        r = quiet_audit(y, pred, n_resamples=0, seed=0)
        text = note_of(r, "prevalence-dependence").text
        assert "prevalence" in text and "micro and weighted averages" in text
    # classes listed in `labels` but never (or hardly) seen count too (one class alone is refused
    # by the audit, so the rule's "fewer than two classes" branch is not reachable from it)
    r = quiet_audit(["a"] * 20, ["a"] * 19 + ["b"], labels=["a", "b", "c"], n_resamples=0, seed=0)
    assert len(r.classes) == 3
    assert "prevalence-dependence" in kinds(r)


# ------------------------------------------------------------------------------------------------
# near-min-support


def test_near_min_support_lists_exactly_the_classes_in_the_band():
    r = support_result()
    supports = {c.label: c.support for c in r.per_class}
    assert supports == {"a": 10, "b": 19, "c": 20, "d": 9}
    expected = [lab for lab, n in supports.items() if 10 <= n < 20]
    assert expected == ["a", "b"]

    note = note_of(r, "near-min-support")
    assert list(note.classes) == expected
    assert note.text.startswith("2 class(es) have between 10 and 19 samples")
    assert "('a' 10, 'b' 19)" in note.text
    # 9 is below min_support (insufficient), 20 is 2 * min_support: neither is near it
    assert "'c'" not in note.text and "'d'" not in note.text
    assert note.to_dict() in r.to_dict()["notes"]


def test_near_min_support_absent_without_such_classes():
    y, pred = labelled({"a": 9, "b": 20, "c": 25})
    assert "near-min-support" not in kinds(quiet_audit(y, pred, n_resamples=0, seed=0))
    # min_support = 0: nothing is near it, even classes of 0 or 1 sample
    assert "near-min-support" not in kinds(support_result(min_support=0))


def test_near_min_support_with_other_min_support():
    # min_support = 5: the band is 5..9, so only 'd' (9)
    note = note_of(support_result(min_support=5), "near-min-support")
    assert note.classes == ("d",)
    assert note.text.startswith("1 class(es) have between 5 and 9 samples ('d' 9)")


def test_near_min_support_with_many_classes_shows_eight():
    sizes = {f"c{i:02d}": 12 for i in range(10)} | {"big": 200}
    y, pred = labelled(sizes)
    note = note_of(quiet_audit(y, pred, n_resamples=0, seed=0), "near-min-support")
    assert note.classes == tuple(f"c{i:02d}" for i in range(10))
    assert note.text.startswith("10 class(es)")
    assert "'c07' 12, ...)" in note.text and "'c08'" not in note.text
    assert "'big'" not in note.text


# ------------------------------------------------------------------------------------------------
# approximate-intervals


def test_approximate_intervals_name_the_unstable_estimates_and_why():
    r = separated_result()
    d = r.to_dict()
    unstable = [(p, e) for p, e in json_estimates(d) if e["status"] == "unstable"]
    assert {p for p, _ in unstable} == {
        "averages/macro/roc_auc",
        "averages/weighted/roc_auc",
        "averages/macro/average_precision",
        "averages/weighted/average_precision",
        # the stratum holding the perfectly separated class: its macro AUC by DeLong too
        "strata[0]/macro/roc_auc",
    }
    note = note_of(r, "approximate-intervals")
    assert leading_count(note.text) == len(unstable)
    assert note.text.startswith(
        f"{len(unstable)} interval(s) are approximate (status unstable; marked \u2248 in the "
        "report's tables): "
    )
    for name in (
        "macro ROC AUC",
        "weighted ROC AUC",
        "macro average precision",
        "weighted average precision",
    ):
        assert name in note.text
    # the reasons, as the estimates give them
    assert "classes at or near ROC AUC 0 or 1 take part" in note.text
    assert "1 class(es) with AP = 1 add no variance to the interval" in note.text
    assert re.search(
        r"macro ROC AUC, weighted ROC AUC, stratum \S+ macro ROC AUC: classes at or near ROC AUC "
        r"0 or 1 take part \(1 with fewer than 2",
        note.text,
    ), note.text


def test_approximate_intervals_with_few_clusters():
    r = clustered_result()
    d = r.to_dict()
    note = note_of(r, "approximate-intervals")
    assert "few effective clusters (6 clusters, effective number" in note.text
    assert "micro recall" in note.text
    counted = ("per_class", "averages", "overall", "strata")
    n_counted = sum(e["status"] == "unstable" for _, e in json_estimates(d, counted))
    assert n_counted > 0
    assert leading_count(note.text) >= n_counted


def test_approximate_intervals_count_every_unstable_estimate():
    r = clustered_result()
    unstable = [p for p, e in json_estimates(r.to_dict()) if e["status"] == "unstable"]
    assert leading_count(note_of(r, "approximate-intervals").text) == len(unstable)


def test_no_approximate_intervals_without_resamples():
    r = clustered_result(0)
    assert r.run.n_resamples == 0
    assert "approximate-intervals" not in kinds(r)
    assert "missing-intervals" not in kinds(r)
    assert "wide-ap-intervals" not in kinds(r)
    y, s = separated_scores([60, 40, 30])
    r = quiet_audit(y, y_score=s, n_resamples=0, seed=1)
    assert not {"approximate-intervals", "missing-intervals"} & set(kinds(r))


def test_no_approximate_intervals_when_none_is_unstable():
    r = smooth_result(1.0)
    assert not any(e["status"] == "unstable" for _, e in json_estimates(r.to_dict()))
    assert "approximate-intervals" not in kinds(r)


# ------------------------------------------------------------------------------------------------
# missing-intervals


def test_missing_intervals_name_the_boundary_estimate():
    r = separated_result()
    ap = r.class_result(2).metrics["average_precision"]
    assert ap.estimate == 1.0 and ap.status == "boundary"
    d = r.to_dict()
    missing = [
        p
        for p, e in json_estimates(d, ("per_class", "averages", "overall", "strata"))
        if e["status"] in ("boundary", "no_interval") and e["estimate"] is not None
    ]
    assert missing == ["per_class[2]/metrics/average_precision"]
    note = note_of(r, "missing-intervals")
    assert note.text == (
        "1 estimate(s) have no interval: class 2 average precision "
        "(AP = 1: perfect ranking of this class)."
    )


def test_missing_intervals_name_an_estimate_without_variation():
    # equal class sizes under the stratified bootstrap: macro recall = micro recall in every
    # replicate, so the gap in recall has no interval (status no_interval)
    r = smooth_result(1.0, sizes=(200, 200, 200))
    gap = r.gap["recall"].macro_minus_micro
    assert gap.defined and gap.status == "no_interval"
    d = r.to_dict()
    shown = ("per_class", "averages", "overall", "strata")
    missing = [
        p
        for p, e in json_estimates(
            {**d, "gap": {m: g["macro_minus_micro"] for m, g in d["gap"].items()}}, shown + ("gap",)
        )
        if e["status"] in ("boundary", "no_interval") and e["estimate"] is not None
    ]
    assert missing == ["gap/recall", "gap/specificity"]
    note = note_of(r, "missing-intervals")
    assert leading_count(note.text) >= len(missing)
    assert note.text.startswith(f"{leading_count(note.text)} estimate(s) have no interval: ")
    assert "gap in recall (" in note.text and "(no interval: " not in note.text  # said once
    assert "average precision" not in note.text


def test_missing_intervals_absent_when_every_defined_estimate_has_one():
    r = smooth_result(1.0)
    d = r.to_dict()
    assert not any(
        e["status"] in ("boundary", "no_interval") and e["estimate"] is not None
        for _, e in json_estimates(d, ("per_class", "averages", "overall", "strata", "gap"))
    )
    assert "missing-intervals" not in kinds(r)


# ------------------------------------------------------------------------------------------------
# wide-ap-intervals


def ap_estimates(d):
    return [
        (p, e)
        for p, e in json_estimates(d, ("per_class", "averages", "strata"))
        if p.endswith("average_precision")
    ]


def test_wide_ap_intervals_named():
    r = near_one_ap_result()
    ap = r.class_result(2).metrics["average_precision"]
    assert 0.9 <= ap.estimate < 1 and ap.ci_high - ap.ci_low > 0.5
    wide = [
        p
        for p, e in ap_estimates(r.to_dict())
        if e["estimate"] >= 0.9 and e["ci_high"] - e["ci_low"] > 0.5
    ]
    assert wide == ["per_class[2]/metrics/average_precision"]
    note = note_of(r, "wide-ap-intervals")
    assert note.text.startswith(
        "1 average precision interval(s) span more than half of [0, 1] (class 2 average precision)"
    )
    assert "class 0" not in note.text and "class 1" not in note.text


def test_no_wide_ap_note_for_wide_intervals_below_0_9():
    # 6 positives, one negative among them: AP 0.73 with an interval spanning [0, 1]
    y, s = near_one_ap_scores([60, 40, 6])
    r = quiet_audit(y, y_score=s, n_resamples=200, seed=1, evaluation="held-out test set")
    wide = [(p, e) for p, e in ap_estimates(r.to_dict()) if e["ci_high"] - e["ci_low"] > 0.5]
    assert {p for p, _ in wide} >= {"per_class[2]/metrics/average_precision"}
    assert all(e["estimate"] < 0.9 for _, e in wide)
    assert "wide-ap-intervals" not in kinds(r)


@pytest.mark.parametrize("strength", [1.0, 3.0], ids=["moderate AP", "high AP"])
def test_no_wide_ap_note_when_ap_intervals_are_narrow(strength):
    r = smooth_result(strength)
    aps = ap_estimates(r.to_dict())
    assert len(aps) == 6  # 3 classes, micro, macro, weighted
    assert all(e["ci_high"] - e["ci_low"] < 0.5 for _, e in aps)
    if strength == 3.0:  # the estimate condition holds: the width alone keeps the note out
        assert all(e["estimate"] >= 0.9 for _, e in aps)
    assert "wide-ap-intervals" not in kinds(r)


# ------------------------------------------------------------------------------------------------
# curves-without-bands


def test_curves_without_bands_when_no_resamples():
    y, s = separated_scores([60, 40, 30])
    r = quiet_audit(y, y_score=s, n_resamples=0, seed=1)
    assert r.curves is not None and not r.curves.get("bands")
    assert note_of(r, "curves-without-bands").text == (
        "The ROC and precision-recall curves are drawn without confidence bands: "
        "no bands were computed (n_resamples = 0)."
    )


def test_curves_without_bands_with_clusters_gives_the_reason():
    r = clustered_result()
    assert r.curves["bands"]["method"] is None
    assert note_of(r, "curves-without-bands").text == (
        "The ROC and precision-recall curves are drawn without confidence bands: "
        "a cluster bootstrap of the curves is not implemented in this version."
    )


def test_curves_without_bands_when_too_large():
    rng = np.random.default_rng(5)
    y = rng.integers(0, 5, 20_001)
    r = quiet_audit(y, y_score=softmax_scores(y, 5, rng), n_resamples=100, seed=1)
    bands = r.curves["bands"]
    assert bands["method"] is None
    text = note_of(r, "curves-without-bands").text
    assert text.startswith(
        "The ROC and precision-recall curves are drawn without confidence bands: "
    )
    assert "20001 samples x 5 classes" in text and "no bands:" not in text
    assert text.endswith("above the limit of 2e+07 for curve bands.")


def test_no_curves_note_with_bands_or_without_scores():
    r = separated_result()
    assert r.curves["bands"]["method"]
    assert "curves-without-bands" not in kinds(r)
    r = support_result()
    assert r.curves is None
    assert "curves-without-bands" not in kinds(r)


# ------------------------------------------------------------------------------------------------
# clusters


def test_clusters_note_counts_clusters_and_effective_number():
    y, s, cluster = cluster_data()
    _, sizes = np.unique(cluster, return_counts=True)
    kish = sizes.sum() ** 2 / (sizes**2).sum()
    r = clustered_result()
    assert r.data.n_clusters == len(sizes) == 6
    assert kish < 5  # shown as a number of its own, not the count again
    note = note_of(r, "clusters")
    assert note.text == (
        f"Rows are resampled by cluster (6 clusters, effective number {kish:.1f}): intervals "
        "count clusters, not rows, as the independent units."
    )
    assert "clusters" not in kinds(separated_result())


def test_clusters_note_does_not_claim_resampling_without_resamples():
    r = clustered_result(0)
    assert not any("resampled" in n.text for n in notes_of(r, "clusters"))


# ------------------------------------------------------------------------------------------------
# every note: once in results.json and in the report, one line, a sentence


def test_rich_scenario_has_most_rules():
    assert set(kinds(rich_result())) >= {
        "evaluation-not-stated",
        "prevalence-dependence",
        "near-min-support",
        "approximate-intervals",
        "missing-intervals",
        "curves-without-bands",
        "clusters",
    }


@pytest.mark.parametrize("scenario", list(SCENARIOS))
def test_every_note_once_in_results_json(scenario):
    r = SCENARIOS[scenario]()
    d = json.loads(r.to_json())
    assert d["notes"] == [n.to_dict() for n in r.notes]
    ks = [n["kind"] for n in d["notes"]]
    assert len(ks) == len(set(ks)), ks
    for n in r.notes:
        assert d["notes"].count(n.to_dict()) == 1
    # limitation notes come after the audit's own notes, in the rules' order
    lim = [k for k in ks if k in LIMITATION_KINDS]
    assert lim == sorted(lim, key=LIMITATION_KINDS.index)
    assert ks[len(ks) - len(lim) :] == lim


@pytest.mark.parametrize("scenario", list(SCENARIOS))
def test_every_limitation_is_one_sentence_on_one_line(scenario):
    r = SCENARIOS[scenario]()
    lim = [n for n in r.notes if n.kind in LIMITATION_KINDS]
    assert lim
    for n in lim:
        assert "\n" not in n.text and "\r" not in n.text, n.text
        assert n.text == n.text.strip()
        assert n.text.endswith(".") and not n.text.endswith(".."), n.text


def test_every_limitation_in_the_report_once():
    r = rich_result()
    html = pv.render(r, ("html",))["report.html"].decode()
    start = html.index('<section id="limitations"')
    section = html[start : html.index("</section>", start)]
    lim = [n for n in r.notes if n.kind in LIMITATION_KINDS]
    assert len(lim) >= 7
    for n in lim:
        shown = str(escape(n.text[:1].upper() + n.text[1:]))
        assert section.count(shown) == 1, n.kind
        assert html.count(shown) == 1, n.kind
