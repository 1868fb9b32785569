"""Figures of the comparison report: the comparison dict (``ComparisonResult.to_dict()`` or a loaded
``comparison.json``) → matplotlib, deterministic SVG, with alt text.

Two figures per pair of models, drawn in the style of :mod:`prevalens.report.plots` (its fonts,
Okabe–Ito colours, sizes, text as text and the fixed SVG hash salt, so identical comparisons give
identical bytes):

* :func:`class_differences_plot`: a forest plot of the per-class differences (candidate minus
  reference), one panel per findings metric (recall, F1, ROC AUC when both models have scores),
  one row per class ordered by prevalence, **rarest class at the top**; each class's marginal
  paired interval, a line at 0, the differences whose Holm-adjusted interval excludes 0 as
  filled squares (blue where the candidate is better, vermillion where it is worse: the side of
  0 says it too, never the colour alone), the others as grey circles, and classes below
  ``min_support`` hollow.
* :func:`strata_differences_plot`: the same for the macro average within each prevalence stratum,
  rarest stratum at the top.

:func:`plot_class_differences` draws one panel on a user's Axes. Nothing is re-estimated: every
number is read from the dict.
"""

from __future__ import annotations

import functools

import numpy as np
from matplotlib.lines import Line2D
from matplotlib.ticker import FuncFormatter, MaxNLocator
from matplotlib.transforms import blended_transform_factory

from ..comparison_exports import MAX_CLASS_ROWS, class_rows, findings_metrics, omitted_runs
from ..exceptions import ConfigError
from ..formatting import MINUS, fmt_level, metric_name, metric_text
from . import plots as P

__all__ = [
    "class_differences_plot",
    "strata_differences_plot",
    "plot_class_differences",
    "comparison_figures",
]

_WORSE, _BETTER = P._VERM, P._BLUE
_PLAIN = "#8A8A8A"
_ROW_CM = 0.36  # height of a class row


def _pair(d: dict, candidate=None) -> dict:
    for p in d.get("pairs") or []:
        if candidate is None or p["candidate"] == candidate:
            return p
    raise ConfigError(
        f"`candidate` {candidate!r} is not a candidate of the comparison; candidates: "
        f"{[p['candidate'] for p in d.get('pairs') or []]}"
    )


def _level(d: dict) -> str:
    return fmt_level((d.get("run") or {}).get("confidence_level") or 0.95)


def _adjustment(d: dict) -> str:
    return str((d.get("family") or {}).get("adjustment") or "holm").capitalize()


def _kind(row: dict | None) -> str:
    """``better``, ``worse`` (the adjusted interval excludes 0) or ``plain``."""
    if not row or not (row.get("adjusted") or {}).get("significant"):
        return "plain"
    return {"candidate": "better", "reference": "worse"}.get(row.get("better") or "", "plain")


_STYLE = {  # kind -> marker, colour, size
    "better": ("s", _BETTER, 5.0),
    "worse": ("s", _WORSE, 5.0),
    "plain": ("o", _PLAIN, 4.2),
}


def _draw_rows(ax, rows, *, hollow=(), label_ticks=True, labels=()) -> None:
    """Difference rows on ``ax``: ``rows`` is a list of row dicts (or None), drawn at y = 0, -1,
    ...; ``hollow`` the indices drawn with an open marker."""
    n = len(rows)
    xs = []
    for i, row in enumerate(rows):
        diff = (row or {}).get("difference") or {}
        est = diff.get("estimate")
        if est is None:
            continue
        lo, hi = P._f(diff.get("ci_low")), P._f(diff.get("ci_high"))
        xs += [v for v in (est, lo, hi) if np.isfinite(v)]
        marker, colour, size = _STYLE[_kind(row)]
        ax.errorbar(
            [est],
            [-i],
            xerr=P._interval_arrays([est], [lo], [hi]),
            fmt=marker,
            color=colour,
            markerfacecolor="white" if i in hollow else colour,
            markeredgecolor=(
                ("#4D4D4D" if _kind(row) == "plain" else colour)
                if i in hollow
                else (P._INK if _kind(row) == "plain" else colour)
            ),
            markeredgewidth=0.8 if i in hollow else 0.5,
            markersize=size,
            elinewidth=1.0,
            capsize=1.8,
            capthick=0.9,
            zorder=3,
        )
    ax.axvline(0.0, color=P._INK, linewidth=0.8, zorder=2)
    lo_x, hi_x = (min(xs + [0.0]), max(xs + [0.0])) if xs else (-0.1, 0.1)
    # a difference of two values in [0, 1] lies in [-1, 1]: an interval reaching beyond (a
    # normal interval of a class with one or two samples) is cut at the frame
    lo_x, hi_x = max(lo_x, -1.0), min(hi_x, 1.0)
    pad = max(0.01, 0.06 * (hi_x - lo_x))
    ax.set_xlim(lo_x - pad, hi_x + pad)
    ax.set_ylim(-n + 0.5, 0.5)
    if label_ticks:  # the first panel; the others share its y axis and show no labels
        ax.set_yticks([-i for i in range(n)], list(labels))
    else:
        ax.tick_params(axis="y", labelleft=False)
    ax.tick_params(axis="y", length=0)
    ax.xaxis.set_major_locator(MaxNLocator(nbins=5, steps=[1, 2, 5, 10]))
    ax.grid(axis="x", zorder=0)
    ax.set_axisbelow(True)
    ax.xaxis.set_major_formatter(FuncFormatter(_tick))


def _tick(v, _pos=None) -> str:
    """A difference tick: ``0``, ``+0.1``, ``−0.05`` (a plus sign: the side of 0 is the
    point)."""
    if abs(v) < 1e-12:
        return "0"
    text = np.format_float_positional(abs(v), precision=4, trim="-")
    return ("+" if v > 0 else MINUS) + text


def _stratum_bands(ax, names, *, label: bool) -> None:
    """Alternate grey bands over the rows of each stratum (rows are rarest first, so a stratum's
    rows are contiguous), named at the right edge of the panel when ``label``."""
    right = blended_transform_factory(ax.transAxes, ax.transData)
    start = 0
    groups = []
    for i in range(1, len(names) + 1):
        if i == len(names) or names[i] != names[start]:
            groups.append((start, i - 1, names[start]))
            start = i
    if len(groups) < 2:
        return
    for g, (a, b, name) in enumerate(groups):
        if g % 2 == 1:
            ax.axhspan(-a + 0.5, -b - 0.5, color="#F1F1F1", zorder=0, linewidth=0)
        if label:
            ax.text(
                1.03,
                -(a + b) / 2,
                P._short(name or "none", 12),
                transform=right,
                ha="left",
                va="center",
                fontsize=7,
                color=P._GREY,
                style="italic",
                clip_on=False,
            )


def _legend_handles(kinds, hollow: bool, min_support: int, adjustment: str, ref, cand):
    words = {
        "better": f"{cand} better: {adjustment}-adjusted interval excludes 0",
        "worse": f"{cand} worse: {adjustment}-adjusted interval excludes 0",
        "plain": "adjusted interval includes 0 (or not a claim)",
    }
    handles = []
    for kind in ("better", "worse", "plain"):
        if kind in kinds:
            marker, colour, size = _STYLE[kind]
            handles.append(
                Line2D(
                    [],
                    [],
                    color=colour,
                    marker=marker,
                    markersize=size,
                    markeredgecolor=P._INK if kind == "plain" else colour,
                    markeredgewidth=0.5,
                    linewidth=1.0,
                    label=words[kind],
                )
            )
    if hollow:
        handles.append(
            Line2D(
                [],
                [],
                color=_PLAIN,
                marker="o",
                markerfacecolor="white",
                markeredgecolor=_PLAIN,
                markersize=4.2,
                linewidth=1.0,
                label=f"hollow: fewer than {min_support} true samples (not judged)",
            )
        )
    return handles


def _min_support(d: dict) -> int:
    return int(((d.get("run") or {}).get("config") or {}).get("min_support") or 10)


def _class_label(c: dict) -> str:
    return f"{P._short(c['label'], 18)} (n={c['support']:,})"


# ------------------------------------------------------------------------------------------------
# per-class forest plot


def _class_figure(d: dict, candidate=None, max_rows: int = MAX_CLASS_ROWS):
    pair = _pair(d, candidate)
    metrics = findings_metrics(d, pair)
    classes, _note = class_rows(pair, metrics, max_rows)
    if not classes or not metrics:
        return None
    n = len(classes)
    # tighter rows for many classes, so that the figure and its caption fit one A4 page
    fig = P._new_figure(16, max(5.0, 2.6 + (_ROW_CM if n <= 25 else 0.30) * n))
    axes = fig.subplots(1, len(metrics), sharey=True, squeeze=False)[0]
    hollow = {i for i, c in enumerate(classes) if "insufficient" in (c.get("flags") or ())}
    kinds = set()
    ref, cand = P._short(pair["reference"], 16), P._short(pair["candidate"], 16)
    labels = [_class_label(c) for c in classes]
    gaps = [i for i in omitted_runs(pair, classes) if 0 < i < n]
    for j, (ax, m) in enumerate(zip(axes, metrics)):
        rows = [c["metrics"].get(m) for c in classes]
        kinds |= {_kind(r) for r in rows if r is not None}
        _stratum_bands(ax, [c.get("stratum") for c in classes], label=j == len(metrics) - 1)
        for i in gaps:  # classes left out between these rows
            ax.axhline(-i + 0.5, color=P._GREY, linewidth=0.7, linestyle=(0, (1, 1.5)), zorder=1)
        _draw_rows(ax, rows, hollow=hollow, label_ticks=j == 0, labels=labels)
        ax.set_title(metric_name(m), loc="left", fontweight="bold")
        ax.set_xlabel(f"{cand} \u2212 {ref}")
    handles = _legend_handles(kinds, bool(hollow), _min_support(d), _adjustment(d), ref, cand)
    fig.legend(handles=handles, loc="outside lower center", ncol=2, handlelength=1.6)
    title = (
        f"Per-class differences, {P._clean(pair['candidate'])} minus {P._clean(pair['reference'])}"
    )
    return fig, title, _class_alt(d, pair, metrics, classes, _note)


def _class_alt(d, pair, metrics, classes, note) -> str:
    ref, cand = P._clean(pair["reference"]), P._clean(pair["candidate"])
    names = P._and_join([metric_name(m) for m in metrics])
    alt = (
        f"Differences {cand} minus {ref} in {names} for each class, one row per class ordered "
        f"by prevalence with the rarest class at the top, each with its marginal {_level(d)} "
        "paired interval and a vertical line at 0."
    )
    sig = [
        (c, m, c["metrics"][m])
        for c in classes
        for m in metrics
        if _kind(c["metrics"].get(m)) != "plain"
    ]
    if sig:
        parts = [
            f"{P._q(c['label'])} {metric_name(m)} {P._signed(r['difference'])}"
            for c, m, r in sig[:8]
        ]
        more = f" and {len(sig) - 8} more" if len(sig) > 8 else ""
        alt += (
            f" Filled squares mark the {len(sig)} differences whose {_adjustment(d)}-adjusted "
            f"interval excludes 0: {', '.join(parts)}{more}."
        )
    else:
        alt += f" No {_adjustment(d)}-adjusted interval excludes 0."
    small = [c for c in classes if "insufficient" in (c.get("flags") or ())]
    if small:
        alt += (
            f" Hollow markers: {P._plural(len(small), 'class', 'classes')} with fewer than "
            f"{_min_support(d)} true samples ({', '.join(P._q(c['label']) for c in small[:6])}"
            + (" ..." if len(small) > 6 else "")
            + ")."
        )
    if note:
        alt += " " + note + " Dotted lines mark where classes are left out."
    return alt


def class_differences_plot(d: dict, *, candidate=None, max_rows: int = MAX_CLASS_ROWS):
    """The report's per-class forest plot of one pair as :class:`~prevalens.report.plots.Plot`;
    None when the comparison has no classes."""
    return P._report_plot(
        functools.partial(_class_figure, candidate=candidate, max_rows=max_rows), d
    )


# ------------------------------------------------------------------------------------------------
# strata


def _strata_figure(d: dict, candidate=None):
    pair = _pair(d, candidate)
    strata = list(pair.get("strata") or [])
    metrics = [m for m in findings_metrics(d, pair) if any(m in s["metrics"] for s in strata)]
    if not strata or not metrics:
        return None
    n = len(strata)
    fig = P._new_figure(16, 2.9 + 0.62 * n)
    axes = fig.subplots(1, len(metrics), sharey=True, squeeze=False)[0]
    kinds = set()
    ref, cand = P._short(pair["reference"], 16), P._short(pair["candidate"], 16)
    labels = [
        f"{P._short(s['name'], 14)} ({P._plural(len(s['classes']), 'class', 'classes')})"
        for s in strata
    ]
    for j, (ax, m) in enumerate(zip(axes, metrics)):
        rows = [s["metrics"].get(m) for s in strata]
        kinds |= {_kind(r) for r in rows if r is not None}
        _draw_rows(ax, rows, label_ticks=j == 0, labels=labels)
        ax.set_title(f"Macro {metric_text(m)}", loc="left", fontweight="bold")
        ax.set_xlabel(f"{cand} \u2212 {ref}")
    handles = _legend_handles(kinds, False, _min_support(d), _adjustment(d), ref, cand)
    fig.legend(handles=handles, loc="outside lower center", ncol=2, handlelength=1.6)
    title = (
        f"Differences by prevalence stratum, {P._clean(pair['candidate'])} minus "
        f"{P._clean(pair['reference'])}"
    )
    parts = "; ".join(
        f"{P._clean(s['name'])}: "
        + ", ".join(
            f"{metric_name(m)} {P._signed((s['metrics'].get(m) or {}).get('difference'))}"
            for m in metrics
        )
        for s in strata
    )
    alt = (
        f"Difference of the macro average within each prevalence stratum, {P._clean(pair['candidate'])} "
        f"minus {P._clean(pair['reference'])}, rarest stratum at the top, with marginal "
        f"{_level(d)} paired intervals: {parts}."
    )
    return fig, title, alt


def strata_differences_plot(d: dict, *, candidate=None):
    """The report's stratum panel of one pair as :class:`~prevalens.report.plots.Plot`; None
    when the comparison has no strata."""
    return P._report_plot(functools.partial(_strata_figure, candidate=candidate), d)


def comparison_figures(d: dict) -> dict:
    """Every figure of the comparison report: ``{(kind, candidate): Plot}`` with kind
    ``classes`` or ``strata``, in the order of the pairs."""
    out = {}
    for pair in d.get("pairs") or []:
        cand = pair["candidate"]
        for kind, build in (
            ("classes", class_differences_plot),
            ("strata", strata_differences_plot),
        ):
            plot = build(d, candidate=cand)
            if plot is not None:
                out[(kind, cand)] = plot
    return out


# ------------------------------------------------------------------------------------------------
# on a user's Axes


def plot_class_differences(comparison, ax=None, *, metric: str = "recall", candidate=None):
    """Per-class differences (candidate minus reference) in ``metric`` with their marginal paired
    intervals, one row per class, rarest class at the top; differences whose adjusted interval
    excludes 0 as filled squares, classes below ``min_support`` hollow.

    Parameters
    ----------
    comparison : ComparisonResult or dict
        The comparison (anything with ``to_dict()``) or its dict (a loaded comparison.json).
    ax : matplotlib.axes.Axes, optional
        Where to draw; a new figure when None.
    metric : str
        A per-class metric of the comparison (``"recall"``, ``"f1"``, ``"roc_auc"`` ...).
    candidate : str, optional
        The candidate model (default: the first).

    Returns
    -------
    matplotlib.axes.Axes

    Raises
    ------
    ConfigError
        When the comparison has no such candidate or does not compare ``metric`` per class.
    """
    d = P._results_dict(
        comparison, "comparison", "a ComparisonResult or its dict (a loaded comparison.json)"
    )
    pair = _pair(d, candidate)
    if not any(metric in c["metrics"] for c in pair["per_class"]):
        raise ConfigError(
            f"`metric` {metric!r} is not compared per class; choose one of "
            f"{sorted({m for c in pair['per_class'] for m in c['metrics']})}"
        )
    classes = sorted(pair["per_class"], key=lambda c: (c["support"], str(c["label"])))
    ax = P._user_axes(ax, 10, max(5.0, 2.0 + _ROW_CM * len(classes)))
    hollow = {i for i, c in enumerate(classes) if "insufficient" in (c.get("flags") or ())}
    with P._safe_text():
        _draw_rows(
            ax,
            [c["metrics"].get(metric) for c in classes],
            hollow=hollow,
            labels=[_class_label(c) for c in classes],
        )
        ax.set_xlabel(
            f"{metric_name(metric)}: {P._short(pair['candidate'], 16)} \u2212 "
            f"{P._short(pair['reference'], 16)}"
        )
    return ax
