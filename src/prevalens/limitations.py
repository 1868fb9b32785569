"""What a reader must keep in mind about an audit's numbers, as notes (issue 11: the limitations
listed everything that applies).

Each rule reads the typed result and returns :class:`~prevalens.results.Note` objects; the report
lists every note among its limitations and results.json keeps them under ``notes``.
"""

from __future__ import annotations

from collections import Counter

from .results import AuditResult, Note

__all__ = ["limitation_notes"]


def _estimates(result: AuditResult):
    """(where, Estimate) of every estimate of the result."""
    for c in result.per_class:
        for m, e in c.metrics.items():
            yield f"class {c.label!r} {m}", e
    for avg, block in result.averages.items():
        for m, e in block.items():
            yield f"{avg} {m}", e
    for m, e in result.overall.items():
        yield m, e
    for s in result.strata:
        for part in ("macro", "micro", "vs_rest"):
            for m, e in getattr(s, part).items():
                yield f"stratum {s.name} {part} {m}", e
    for m, g in result.gap.items():
        yield f"gap {m}", g.macro_minus_micro


def _shown(items, limit=4) -> str:
    items = list(items)
    return "; ".join(items[:limit]) + (
        f"; and {len(items) - limit} more" if len(items) > limit else ""
    )


def limitation_notes(result: AuditResult, *, min_support: int, evaluation: str | None) -> tuple:
    """The limitations that apply to ``result``, as notes."""
    notes: list[Note] = []
    if not evaluation:
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
            reasons = Counter((e.note or "").split(";")[-1].strip() for _, e in unstable)
            notes.append(
                Note(
                    "approximate-intervals",
                    f"{len(unstable)} interval(s) are approximate (status unstable): "
                    + _shown(f"{r} ({n})" for r, n in reasons.most_common() if r)
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
                    + _shown(f"{w} ({(e.note or e.status).split(';')[0]})" for w, e in missing)
                    + ".",
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
    if result.data.n_clusters is not None:
        notes.append(
            Note(
                "clusters",
                f"Rows are resampled by cluster ({result.data.n_clusters} clusters, effective number "
                f"{result.data.effective_clusters:.1f}): intervals count clusters, not rows, as the "
                "independent units.",
            )
        )
    return tuple(notes)
