"""What a reader must keep in mind about an audit's numbers, as notes (issue 11: the limitations
listed everything that applies).

Each rule reads the typed result and returns :class:`~prevalens.results.Note` objects; the report
lists every note among its limitations and results.json keeps them under ``notes``.
"""

from __future__ import annotations

import re

from .formatting import metric_text
from .results import AuditResult, Note

__all__ = ["limitation_notes"]


def _estimates(result: AuditResult):
    """(where, Estimate) of every estimate of the result."""
    for c in result.per_class:
        for m, e in c.metrics.items():
            yield f"class {c.label!r} {metric_text(m)}", e
    for avg, block in result.averages.items():
        for m, e in block.items():
            yield f"{avg} {metric_text(m)}", e
    for m, e in result.overall.items():
        yield metric_text(m), e
    for s in result.strata:
        for part in ("macro", "micro", "vs_rest"):
            for m, e in getattr(s, part).items():
                yield f"stratum {s.name} {part.replace('_', ' ')} {metric_text(m)}", e
    for m, g in result.gap.items():
        yield f"gap in {metric_text(m)}", g.macro_minus_micro
        if g.macro_minus_weighted is not None:
            yield f"macro - weighted {metric_text(m)}", g.macro_minus_weighted
    for row in result.divergence:
        yield f"class {row.label!r} {metric_text(row.metric)} against micro", row.vs_micro
        if row.vs_common is not None:
            yield (
                f"class {row.label!r} {metric_text(row.metric)} against the common stratum",
                row.vs_common,
            )


def _reason(notes: set) -> str:
    """One reason for a group of notes that differ only in their numbers (a per-class effective
    number of clusters): without the parenthesised parts whose numbers differ."""
    reason = sorted(notes)[0]
    if len(notes) > 1:
        reason = re.sub(r"t\(df=[\d.]+\)", "a t quantile", reason)
        for part in re.findall(r"\s*\([^()]*\d[^()]*\)", reason):
            if not all(part.strip() in n for n in notes):  # a number that differs: left out
                reason = reason.replace(part, "")
    return reason


def _listed(where: list[str], limit=4) -> str:
    return ", ".join(where[:limit]) + (
        f" and {len(where) - limit} more" if len(where) > limit else ""
    )


def _shown(items, limit=4) -> str:
    items = list(items)
    return "; ".join(items[:limit]) + (
        f"; and {len(items) - limit} more" if len(items) > limit else ""
    )


def limitation_notes(result: AuditResult, *, min_support: int, evaluation: str | None) -> tuple:
    """The limitations that apply to ``result``, as notes."""
    notes: list[Note] = []
    if not (evaluation or "").strip():
        notes.append(
            Note(
                "evaluation-not-stated",
                "How the predictions were produced is not stated (held-out data, cross-validation or "
                "training data?); predictions on the training data overstate every metric. Set "
                "`evaluation`, e.g. '5-fold out-of-fold predictions'.",
            )
        )
    if len(result.classes) > 1:
        notes.append(
            Note(
                "prevalence-dependence",
                "Precision, NPV, F1, Jaccard, accuracy and the micro and weighted averages depend on "
                "the class prevalences of these data: where a model is deployed with other "
                "prevalences they differ. Recall and specificity carry over only when each class's "
                "score distribution does (label shift).",
            )
        )
    near = [c for c in result.per_class if min_support <= c.support < 2 * min_support]
    if near and min_support > 0:
        notes.append(
            Note(
                "near-min-support",
                f"{len(near)} class(es) have between {min_support} and {2 * min_support - 1} samples "
                f"({', '.join(f'{c.label!r} {c.support}' for c in near[:8])}"
                f"{', ...' if len(near) > 8 else ''}): they take part in claims, but their intervals "
                "are wide and only large differences can be established.",
                tuple(c.label for c in near),
            )
        )
    if result.run.n_resamples:
        unstable = [(w, e) for w, e in _estimates(result) if e.status == "unstable"]
        if unstable:
            # the reason is the note's last clause (an interval's own note comes first); notes
            # that differ only in their numbers are one reason
            by_reason: dict[str, tuple[set, list[str]]] = {}
            for w, e in unstable:
                raw = (e.note or "").split(";")[-1].strip()
                # numbers inside parentheses (an effective number of clusters, a df) may differ
                # within a group; a bare number (a count of classes) makes a group of its own
                key = re.sub(r"\([^()]*\)", lambda m: re.sub(r"[\d.]+", "#", m.group(0)), raw)
                group = by_reason.setdefault(key, (set(), []))
                group[0].add(raw)
                group[1].append(w)
            notes.append(
                Note(
                    "approximate-intervals",
                    f"{len(unstable)} interval(s) are approximate (status unstable; marked "
                    "\u2248 in the report's tables): "
                    + _shown(
                        (f"{_listed(ws)}: {_reason(raws)}" if _reason(raws) else _listed(ws))
                        for raws, ws in sorted(by_reason.values(), key=lambda i: -len(i[1]))
                    )
                    + ".",
                )
            )
        missing = [
            (w, e)
            for w, e in _estimates(result)
            if e.status in ("no_interval", "boundary") and e.defined
        ]
        if missing:
            notes.append(
                Note(
                    "missing-intervals",
                    f"{len(missing)} estimate(s) have no interval: "
                    + _shown(
                        f"{w} ({(e.note or e.status).split(';')[0].removeprefix('no interval: ')})"
                        for w, e in missing
                    )
                    + ".",
                )
            )
    wide_ap = [
        (w, e)
        for w, e in _estimates(result)
        if w.endswith("average precision") and e.estimate >= 0.9 and e.ci_high - e.ci_low > 0.5
    ]
    if wide_ap:
        notes.append(
            Note(
                "wide-ap-intervals",
                f"{len(wide_ap)} average precision interval(s) span more than half of [0, 1] ("
                + _listed([w for w, _ in wide_ap])
                + "): near AP = 1 the few negatives ranked among the positives decide AP, so the "
                "interval rests on 2-4 effective observations whatever the class size. The ROC AUC "
                "intervals (defined up to 1) bound the ranking quality more tightly.",
            )
        )
    bands = (result.curves or {}).get("bands") if result.curves else None
    if result.curves is not None and not (bands or {}).get("method"):
        why = (bands or {}).get("note") or "no bands were computed (n_resamples = 0)"
        notes.append(
            Note(
                "curves-without-bands",
                "The ROC and precision-recall curves are drawn without confidence bands: "
                f"{why.removeprefix('no bands: ')}.",
            )
        )
    if result.data.n_clusters is not None and result.run.n_resamples:
        notes.append(
            Note(
                "clusters",
                f"Rows are resampled by cluster ({result.data.n_clusters} clusters, effective number "
                f"{result.data.effective_clusters:.1f}): intervals count clusters, not rows, as the "
                "independent units.",
            )
        )
    return tuple(notes)
