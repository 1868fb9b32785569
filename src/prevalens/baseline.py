"""Comparison with a previous audit: what moved since the baseline run (an *unpaired* comparison).

Pure: two results dicts in, the ``baseline`` block of the results JSON out.

The previous audit ran on other data (last month's, say), so the two runs are independent
samples and each difference ``new - old`` gets an interval for the difference of two independent
estimates, built from the two runs' own intervals by MOVER (the method of variance estimates
recovery; Newcombe 1998, method 10; Zou & Donner 2008). Two models scored on the same rows are a
*paired* comparison, which this is not (``prevalens compare``); on shared rows the two estimates
are usually positively correlated and these intervals are then conservative.

Rows
----
``items`` holds the headline numbers present in either run (averages, overall metrics, the
macro - micro gaps, the strata's macro averages), ``per_class`` the recall, precision, F1 (and ROC
AUC when both runs have it) of every class present in both runs, matched by label. Each row is::

    {metric, old, new, difference, overlap, higher_is_better, change, significant, insufficient}

``difference`` is an EST (``estimate``, ``ci_low``, ``ci_high``, ``se`` (always null: MOVER
limits are asymmetric), ``method``, ``status``, ``note``) or null when one run lacks the row;
``change`` is ``"better"``, ``"worse"``, ``"no evidence"`` (the interval includes 0) or null (no
interval, or no better direction); ``significant`` says whether the interval excludes 0 (marginal,
not adjusted for the number of rows); ``overlap`` (do the two runs' intervals overlap) is kept
for readers of the first form of this block. Rows that carry no information at the precision of
any display are left out and counted in ``omitted_noise`` (:func:`is_noise`).

References
----------
Newcombe, R. G. (1998). Interval estimation for the difference between independent proportions:
comparison of eleven methods. Statistics in Medicine 17, 873-890.
Zou, G. Y. & Donner, A. (2008). Construction of confidence limits about effect measures: a
general approach. Statistics in Medicine 27, 1693-1702.
"""

from __future__ import annotations

import math
from typing import Any

from .intervals import mover_difference

__all__ = [
    "compare_with_baseline",
    "difference_estimate",
    "difference_of",
    "higher_is_better",
    "is_noise",
    "LOWER_IS_BETTER",
    "METHOD",
    "NOISE_THRESHOLD",
    "CLASS_METRICS",
    "UNPAIRED_LABEL",
]

#: What the interval of a difference is, as its EST ``method``.
METHOD = "MOVER from the two runs' intervals (unpaired)"

#: How every display of the block introduces it.
UNPAIRED_LABEL = (
    "Unpaired comparison with the previous audit (different data): intervals for differences "
    "of independent estimates; a paired comparison of two models on the same rows is "
    "`prevalens compare`."
)

#: Metrics for which a lower value is better; every other metric compared is better higher,
#: except the gaps (:func:`higher_is_better`).
LOWER_IS_BETTER = frozenset({"log_loss", "brier"})

#: Per-class metrics compared (ROC AUC only when both runs have it).
CLASS_METRICS = ("recall", "precision", "f1", "roc_auc")

#: A row whose difference and interval bounds are all smaller than this in absolute value reads
#: 0.000000 at the 6 decimals that the displays allow a difference: noise (:func:`is_noise`).
NOISE_THRESHOLD = 5e-7

#: Two confidence levels closer than this are the same level (0.95 written by two versions).
_LEVEL_TOLERANCE = 1e-9


def _num(x):
    return None if x is None or (isinstance(x, float) and not math.isfinite(x)) else float(x)


def _field(e, name):
    return None if e is None else _num(e.get(name))


def higher_is_better(metric: str) -> bool | None:
    """Which direction of ``metric`` (a row's name: ``macro.f1``, ``overall.log_loss``,
    ``gap.recall``, ``stratum.rare.f1`` or a per-class ``recall``) is an improvement.

    False for log loss and the Brier score, True for every other metric compared, and None for
    a gap (``gap.M``, macro - micro): a gap closer to 0 is not obviously better, since it can
    close because the rare classes improved or because the common ones got worse, and a
    positive gap (rare classes better than common ones) is no defect either. Read a gap's
    change together with the micro and macro rows it comes from.

    >>> higher_is_better("macro.f1"), higher_is_better("overall.log_loss")
    (True, False)
    >>> higher_is_better("gap.recall") is None
    True
    """
    if metric.split(".", 1)[0] == "gap":
        return None
    return metric.rsplit(".", 1)[-1] not in LOWER_IS_BETTER


def _level(d: dict):
    return _num((d.get("run") or {}).get("confidence_level"))


def _same_level(a, b) -> bool:
    return a is not None and b is not None and abs(a - b) <= _LEVEL_TOLERANCE


def _pct(level) -> str:
    return "an unrecorded level" if level is None else f"{100 * level:.10g}%"


def difference_estimate(new: dict, old: dict, *, same_level: bool = True, level_note: str = ""):
    """The EST of ``new - old`` for two independent estimates (EST dicts of the results JSON).

    Parameters
    ----------
    new, old : dict
        ``{estimate, ci_low, ci_high, status, ...}`` of this run and of the previous one.
    same_level : bool
        Whether both runs' intervals have the same confidence level; if not, the difference has
        no interval (``status`` ``no_interval``, ``note`` = ``level_note``).

    Returns
    -------
    dict
        ``{estimate, ci_low, ci_high, se, method, status[, note]}``: ``status`` is ``undefined``
        when either estimate is, ``no_interval`` when either interval is missing or the levels
        differ, ``unstable`` when either interval is approximate, else ``ok``.

    Notes
    -----
    With e1, (l1, u1) the new estimate and its limits and e2, (l2, u2) the old ones (MOVER,
    Zou & Donner 2008; Newcombe's method 10 with Wilson limits)::

        low  = (e1 - e2) - sqrt((e1 - l1)^2 + (u2 - e2)^2)
        high = (e1 - e2) + sqrt((u1 - e1)^2 + (e2 - l2)^2)

    Each run's own limits carry its asymmetry (Wilson near 0 or 1, BCa), which a symmetric
    standard error would lose. An estimate outside its own interval (a BCa interval can do
    that) counts as at the nearer limit: MOVER needs ``l <= e <= u``.

    Examples
    --------
    >>> e = difference_estimate(
    ...     {"estimate": 0.9, "ci_low": 0.8, "ci_high": 0.95, "status": "ok"},
    ...     {"estimate": 0.7, "ci_low": 0.6, "ci_high": 0.78, "status": "ok"})
    >>> round(e["estimate"], 4), round(e["ci_low"], 4), round(e["ci_high"], 4)
    (0.2, 0.0719, 0.3118)
    """
    e1, e2 = _field(new, "estimate"), _field(old, "estimate")
    out: dict[str, Any] = {
        "estimate": None,
        "ci_low": None,
        "ci_high": None,
        "se": None,
        "method": None,
    }
    if e1 is None or e2 is None:
        which = (
            "both runs"
            if e1 is None and e2 is None
            else ("this run" if e1 is None else "the previous run")
        )
        return out | {"status": "undefined", "note": f"undefined in {which}"}
    out["estimate"] = e1 - e2
    l1, u1, l2, u2 = (_field(e, k) for e in (new, old) for k in ("ci_low", "ci_high"))
    if not same_level:
        return out | {"status": "no_interval", "note": level_note}
    if None in (l1, u1) or None in (l2, u2):
        which = (
            "either run"
            if None in (l1, u1) and None in (l2, u2)
            else ("this run" if None in (l1, u1) else "the previous run")
        )
        return out | {"status": "no_interval", "note": f"no interval in {which}"}
    lo, hi = mover_difference(e1, min(l1, e1), max(u1, e1), e2, min(l2, e2), max(u2, e2))
    unstable = "unstable" in (new.get("status"), old.get("status"))
    out |= {"ci_low": float(lo), "ci_high": float(hi), "method": METHOD}
    if unstable:
        return out | {
            "status": "unstable",
            "note": "from an approximate interval (status unstable) of either run",
        }
    return out | {"status": "ok"}


def is_noise(old, new, difference) -> bool:
    """Whether a row says nothing at any display's precision, and is left out of the tables.

    Two cases: both runs give the same value with no uncertainty (equal estimates, both
    intervals of zero width) or both are undefined; or the difference and its interval's
    bounds are all below :data:`NOISE_THRESHOLD` in absolute value (they read 0.000000 at the 6
    decimals a difference may take; a gap of 1e-9 between two equal averages is rounding). A
    row with one side undefined, or without any interval, is never noise: the change from
    defined to undefined is news, and without an interval a difference of 0 may hide anything.
    """
    if old is None or new is None or difference is None:
        return False
    e1, e2 = _field(new, "estimate"), _field(old, "estimate")
    if e1 is None and e2 is None:
        return True
    if e1 is None or e2 is None:
        return False
    widths = [
        _field(e, "ci_high") - _field(e, "ci_low")
        for e in (old, new)
        if _field(e, "ci_low") is not None and _field(e, "ci_high") is not None
    ]
    if e1 == e2 and len(widths) == 2 and max(widths) == 0:
        return True
    lo, hi = _field(difference, "ci_low"), _field(difference, "ci_high")
    if lo is not None and hi is not None:
        values = [e1 - e2, lo, hi]
    elif len(widths) == 2:  # levels differ: the runs' own half-widths stand in for the bounds
        values = [e1 - e2] + [
            _field(e, k) - _field(e, "estimate") for e in (old, new) for k in ("ci_low", "ci_high")
        ]
    else:
        return False
    return max(abs(v) for v in values) < NOISE_THRESHOLD


def difference_of(row: dict) -> dict | None:
    """A row's ``difference`` as an EST, also from a block written before the unpaired
    comparison, whose difference is a bare number (``prevalens render`` of an older
    ``results.json``): that number without an interval."""
    diff = row.get("difference")
    if diff is None or isinstance(diff, dict):
        return diff
    return {
        "estimate": _num(diff),
        "ci_low": None,
        "ci_high": None,
        "se": None,
        "method": None,
        "status": "no_interval",
        "note": "written before differences had intervals",
    }


def _overlap(old, new):
    lo1, hi1, lo2, hi2 = (_field(e, k) for e in (old, new) for k in ("ci_low", "ci_high"))
    if None in (lo1, hi1, lo2, hi2):
        return None
    return bool(lo1 <= hi2 and lo2 <= hi1)


def _row(metric, old, new, *, same_level, level_note, insufficient=False) -> dict:
    diff = None
    if old is not None and new is not None:
        diff = difference_estimate(new, old, same_level=same_level, level_note=level_note)
    lo, hi = _field(diff, "ci_low"), _field(diff, "ci_high")
    significant = None if lo is None or hi is None else bool(lo > 0 or hi < 0)
    better = higher_is_better(metric)
    change = None
    if significant is not None and better is not None:
        change = "no evidence" if not significant else ("better" if (lo > 0) == better else "worse")
    statuses = {e.get("status") for e in (old, new) if e is not None}
    return {
        "metric": metric,
        "old": old,
        "new": new,
        "difference": diff,
        "overlap": _overlap(old, new) if old is not None and new is not None else None,
        "higher_is_better": better,
        "change": change,
        "significant": significant,
        "insufficient": bool(insufficient or "insufficient" in statuses),
    }


def _headline_rows(d: dict):
    for avg in ("micro", "macro", "weighted"):
        for m, e in d.get("averages", {}).get(avg, {}).items():
            yield f"{avg}.{m}", e
    for m, e in d.get("overall", {}).items():
        yield f"overall.{m}", e
    for m, g in d.get("gap", {}).items():
        yield f"gap.{m}", g.get("macro_minus_micro")
    for s in d.get("strata", []):
        for m, e in s.get("macro", {}).items():
            yield f"stratum.{s['name']}.{m}", e


def _classes(d: dict) -> dict:
    return {str(c["label"]): c for c in d.get("per_class", [])}


def _note(level_note: str) -> str:
    """The block's note: the label, then (first, as it voids the rest) a mismatch of levels."""
    return " ".join(
        [UNPAIRED_LABEL]
        + ([level_note] if level_note else [])
        + [
            "Each difference is this run minus the previous one, with an interval from the two "
            "runs' own intervals (MOVER, Zou & Donner 2008), which keeps their asymmetry near 0 "
            "and 1. 'Better' and 'worse' mean that this interval excludes 0, in the metric's "
            "better direction (lower for log loss and the Brier score; a macro - micro gap has "
            "none); 'no evidence' that it includes 0, which does not show that nothing changed. "
            "The intervals are marginal: they are not adjusted for the number of rows compared, "
            "so among many rows some exclude 0 by chance, and no p-value is given (two "
            "intervals do not determine one). If the runs share rows the estimates are not "
            "independent and the intervals are usually conservative. Rows of a class below the "
            "minimum support in either run are marked insufficient and are not evidence on "
            "their own."
        ]
    )


def compare_with_baseline(new: dict, old: dict, *, path: str, sha256: str) -> dict:
    """The ``baseline`` block of the results JSON: this run (``new``) against a previous one.

    Parameters
    ----------
    new, old : dict
        The results dicts of this run and of the previous one (``AuditResult.to_dict()``).
    path, sha256 : str
        Where the previous results were read from, and the file's SHA-256.

    Returns
    -------
    dict
        ``{path, sha256, created_utc, tool_version, n_samples, inputs_changed, comparison,
        confidence_level, classes_added, classes_removed, items, per_class, omitted_noise,
        note}``. ``inputs_changed`` compares the input files' SHA-256 (null when either run
        read in-memory data, which have none). ``comparison`` is ``"unpaired"``; ``confidence_level`` is the level of the
        difference intervals (null when the runs' levels differ, and then no difference has an
        interval). ``items`` are the headline rows in the order of the new run, then those only
        the old run had; ``per_class`` lists the classes of both runs by the new run's
        prevalence (most common first), each ``{label, support: {old, new}, prevalence: {old,
        new}, insufficient, items}`` with rows for recall, precision, F1 and ROC AUC (when both
        runs have it). ``omitted_noise`` counts the rows left out (:func:`is_noise`).
    """
    lv_new, lv_old = _level(new), _level(old)
    same_level = _same_level(lv_new, lv_old)
    level_note = (
        ""
        if same_level
        else (
            f"The runs used different confidence levels ({_pct(lv_new)} now, {_pct(lv_old)} "
            "before), so the differences have no interval."
        )
    )
    kw = {"same_level": same_level, "level_note": level_note}
    omitted = 0

    def keep(row) -> bool:
        nonlocal omitted
        if is_noise(row["old"], row["new"], row["difference"]):
            omitted += 1
            return False
        return True

    old_rows, new_rows = dict(_headline_rows(old)), dict(_headline_rows(new))
    names = list(new_rows) + [n for n in old_rows if n not in new_rows]
    items = [
        row
        for name in names
        if keep(row := _row(name, old_rows.get(name), new_rows.get(name), **kw))
    ]

    old_cls, new_cls = _classes(old), _classes(new)
    per_class = []
    both = sorted(
        (lab for lab in new_cls if lab in old_cls), key=lambda lab: (-new_cls[lab]["support"], lab)
    )
    for lab in both:
        o, n = old_cls[lab], new_cls[lab]
        insufficient = "insufficient" in o.get("flags", ()) or "insufficient" in n.get("flags", ())
        rows = [
            row
            for m in CLASS_METRICS
            if m in o["metrics"]
            and m in n["metrics"]
            and keep(
                row := _row(m, o["metrics"][m], n["metrics"][m], insufficient=insufficient, **kw)
            )
        ]
        if rows:
            per_class.append(
                {
                    "label": lab,
                    "support": {"old": o["support"], "new": n["support"]},
                    "prevalence": {"old": o.get("prevalence"), "new": n.get("prevalence")},
                    "insufficient": insufficient,
                    "items": rows,
                }
            )

    old_hashes = sorted(i.get("sha256") or "" for i in old.get("inputs", []))
    new_hashes = sorted(i.get("sha256") or "" for i in new.get("inputs", []))
    # in-memory data have no hash: whether they changed is unknown, not "no"
    known = all(old_hashes) and all(new_hashes) and old_hashes and new_hashes
    return {
        "path": path,
        "sha256": sha256,
        "created_utc": old.get("run", {}).get("created_utc"),
        "tool_version": old.get("tool", {}).get("version"),
        "n_samples": old.get("data", {}).get("n_samples"),
        "inputs_changed": old_hashes != new_hashes if known else None,
        "comparison": "unpaired",
        "confidence_level": lv_new if same_level else None,
        "classes_added": [x for x in new_cls if x not in old_cls],
        "classes_removed": [x for x in old_cls if x not in new_cls],
        "items": items,
        "per_class": per_class,
        "omitted_noise": omitted,
        "note": _note(level_note),
    }
