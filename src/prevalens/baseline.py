"""Comparison with a previous audit: what moved since the baseline run.

Pure: two results dicts in, the ``baseline`` block of the results JSON out. For every headline
number present in either run (averages, overall metrics, the macro-micro gaps, the strata's macro
averages) it gives the old and new estimate with their intervals, the difference of the estimates
and whether the two intervals overlap. Overlap is a plain description, not a test: two
independent 95% intervals can overlap while the difference is significant, and the two runs may
share data. The block says so.
"""

from __future__ import annotations

import math

__all__ = ["compare_with_baseline"]

_NOTE = (
    "Overlapping intervals do not show that nothing changed, and intervals that do not "
    "overlap are a rough signal only: the runs may share data, and the comparison is not "
    "adjusted for the number of metrics."
)


def _rows(d: dict):
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


def _num(x):
    return None if x is None or (isinstance(x, float) and math.isnan(x)) else float(x)


def _overlap(old, new):
    lo1, hi1, lo2, hi2 = (
        _num(old.get("ci_low")),
        _num(old.get("ci_high")),
        _num(new.get("ci_low")),
        _num(new.get("ci_high")),
    )
    if None in (lo1, hi1, lo2, hi2):
        return None
    return bool(lo1 <= hi2 and lo2 <= hi1)


def compare_with_baseline(new: dict, old: dict, *, path: str, sha256: str) -> dict:
    """The ``baseline`` block: ``{path, sha256, created_utc, report_seed, items, classes_added,
    classes_removed, inputs_changed, note}``; items are ``{metric, old, new, difference,
    overlap}`` in the order of the new run, then metrics only the old run had."""
    old_rows = dict(_rows(old))
    new_rows = dict(_rows(new))
    items = []
    for name in list(new_rows) + [n for n in old_rows if n not in new_rows]:
        o, n = old_rows.get(name), new_rows.get(name)
        diff = overlap = None
        if o is not None and n is not None:
            eo, en = _num(o.get("estimate")), _num(n.get("estimate"))
            diff = None if eo is None or en is None else en - eo
            overlap = _overlap(o, n)
        items.append({"metric": name, "old": o, "new": n, "difference": diff, "overlap": overlap})
    old_labels = [str(c["label"]) for c in old.get("per_class", [])]
    new_labels = [str(c["label"]) for c in new.get("per_class", [])]
    old_hashes = sorted(i.get("sha256") or "" for i in old.get("inputs", []))
    new_hashes = sorted(i.get("sha256") or "" for i in new.get("inputs", []))
    return {
        "path": path,
        "sha256": sha256,
        "created_utc": old.get("run", {}).get("created_utc"),
        "tool_version": old.get("tool", {}).get("version"),
        "n_samples": old.get("data", {}).get("n_samples"),
        "inputs_changed": old_hashes != new_hashes,
        "classes_added": [x for x in new_labels if x not in set(old_labels)],
        "classes_removed": [x for x in old_labels if x not in set(new_labels)],
        "items": items,
        "note": _NOTE,
    }
