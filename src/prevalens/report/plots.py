"""Figures of the audit report: the results dict → matplotlib Axes, deterministic vector SVG and
PDF, with alt text.

Every function here reads the JSON form of an audit (``AuditResult.to_dict()`` or a loaded
``results.json``) and draws numbers that are already in it; nothing is re-estimated. The only
arithmetic is presentational: sorting, the row shares of the confusion matrix, and placing the
trend line (its slope comes from the results; the line goes through the plain means of
log10 prevalence and the metric over the classes it was fitted on, where every least-squares
line passes).

Two ways in, one drawing code
-----------------------------
* ``plot_<name>(result, ax=None, ...)`` draws on a matplotlib Axes of the user's (a new figure
  when ``ax`` is None) and returns the Axes, as scikit-learn's displays do. ``result`` is an
  :class:`~prevalens.AuditResult` (anything with ``to_dict()``) or the results dict:
  :func:`plot_prevalence`, :func:`plot_forest`, :func:`plot_roc_curves`, :func:`plot_pr_curves`,
  :func:`plot_metric_vs_prevalence`, :func:`plot_strata`, :func:`plot_confusion_matrix`.
* The report's figures (:func:`prevalence_plot`, :func:`forest_plot`, :func:`curves_plot`,
  :func:`metric_vs_prevalence_plot`, :func:`strata_plot`, :func:`confusion_plot`, all of them by
  :func:`render_figures`) create a figure of the report's size and style and call the same
  ``_draw_<name>`` functions, with the legend below the plot where the report wants it. Each is
  returned as :class:`Plot` ``(svg, alt, title, pdf)``; :func:`as_data_uri` turns the SVG into
  the ``data:`` URI the HTML embeds.

Rules every figure follows
--------------------------
* Okabe–Ito colours, and meaning never by colour alone: the averages differ by marker and line
  style (micro: circle, solid; macro: square, dashed; weighted: diamond, dotted, as
  :data:`_AVERAGES` says; alt texts and captions take their words from the same table),
  insufficient classes by hatching or an open marker, strata by labelled bands.
* Class labels are drawn literally: mathtext and TeX are off (``text.parse_math=False``, also
  while drawing on a user's Axes), control characters that XML cannot carry become U+FFFD, and
  the SVG writer escapes ``<``, ``>`` and ``&``. Tick labels are shortened with an ellipsis; alt
  texts keep full names.
* Vector only: no ``imshow``, the colour bar is not rasterised, so the SVG holds no ``<image>``.
* Byte-identical output for identical input, in any process: a fixed ``svg.hashsalt`` (ids of
  clip paths and markers derive from it), no date or creator in the metadata, text kept as text
  (``svg.fonttype="none"``, so the PDF sets it in the report's bundled DejaVu Sans), and the
  DOCTYPE (an external DTD URL) and the generator comment removed. The PDF files of
  :func:`render_figures` carry no creation date, creator or producer and embed DejaVu Sans as
  TrueType (``pdf.fonttype=42``), which journals accept and editors can change.
* No pyplot for the report: figures are :class:`matplotlib.figure.Figure` objects styled by
  ``rc_context`` and printed by the SVG (or PDF) backend; sized for an A4 page (16 cm wide), no
  font below 7 pt. Only ``plot_<name>(..., ax=None)`` imports pyplot, to make a figure that a
  notebook shows.
"""

from __future__ import annotations

import base64
import contextlib
import functools
import io
import math
import re
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import matplotlib
import matplotlib.style
import numpy as np
from matplotlib.collections import PatchCollection
from matplotlib.colors import LinearSegmentedColormap, Normalize
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch, Rectangle
from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter
from matplotlib.transforms import blended_transform_factory
from scipy import sparse

from ..counts import cells_of, is_sparse, row_sums
from ..exceptions import ConfigError
from ..formatting import (
    MINUS,
    fmt_estimate,
    fmt_level,
    fmt_number,
    fmt_share,
    fmt_signed,
    metric_text,
)

__all__ = [
    "Plot",
    "OKABE_ITO",
    "FIGURES",
    "CONFUSION_VALUES_MAX",
    "as_data_uri",
    "render_figures",
    "plot_prevalence",
    "plot_forest",
    "plot_roc_curves",
    "plot_pr_curves",
    "plot_metric_vs_prevalence",
    "plot_strata",
    "plot_confusion_matrix",
    "prevalence_plot",
    "forest_plot",
    "curves_plot",
    "metric_vs_prevalence_plot",
    "strata_plot",
    "confusion_plot",
    "top_confusions",
    "plot_subgroup_recall",
    "plot_subgroup_disparities",
    "subgroup_classes",
    "subgroup_figure_keys",
]


@dataclass(frozen=True)
class Plot:
    """One figure of the report.

    Attributes
    ----------
    svg : str
        The SVG document (UTF-8 text, no DOCTYPE); "" when only the PDF was asked for.
    alt : str
        A one- or two-sentence text alternative stating what the figure shows and its key numbers.
    title : str
        A short caption title.
    pdf : bytes or None
        The same figure as a one-page vector PDF, when asked for (:func:`render_figures`).
    """

    svg: str
    alt: str
    title: str
    pdf: bytes | None = None


# Okabe & Ito (2008), "Color Universal Design": distinguishable under the common colour-vision
# deficiencies and in greyscale print when paired with markers and line styles.
OKABE_ITO = {
    "black": "#000000",
    "orange": "#E69F00",
    "sky_blue": "#56B4E9",
    "bluish_green": "#009E73",
    "yellow": "#F0E442",
    "blue": "#0072B2",
    "vermillion": "#D55E00",
    "reddish_purple": "#CC79A7",
}
_BLUE, _VERM, _GREEN, _ORANGE = (
    OKABE_ITO[k] for k in ("blue", "vermillion", "bluish_green", "orange")
)
_INK, _GREY, _LIGHT = "#222222", "#777777", "#EDEDED"

_AVERAGES: dict[
    str, dict[str, Any]
] = {  # average -> how it is drawn everywhere (and, through the words below, described)
    "micro": {"color": _BLUE, "marker": "o", "linestyle": "-"},
    "macro": {"color": _VERM, "marker": "s", "linestyle": "--"},
    "weighted": {"color": _GREEN, "marker": "D", "linestyle": ":"},
}
_LINE_WORDS = {"-": "solid", "--": "dashed", ":": "dotted", "-.": "dash-dotted"}
_MARKER_WORDS = {"o": "circle", "s": "square", "D": "diamond", "^": "triangle"}


def _line_words(average: str) -> str:
    """How the reference line of an average is drawn, in words: ``"solid line"``."""
    return _LINE_WORDS[_AVERAGES[average]["linestyle"]] + " line"


def _marker_words(average: str) -> str:
    """The marker of an average, in words: ``"circle"``."""
    return _MARKER_WORDS[_AVERAGES[average]["marker"]]


#: The report's figures in order: key -> the function that builds it (see render_figures).
FIGURES = (
    "prevalence",
    "forest",
    "curves",
    "strata",
    "trend",
    "confusion",
    "shift",
    "reliability",
)

#: Up to this many classes the confusion matrix prints each cell's count and share.
CONFUSION_VALUES_MAX = 12

_CM = 1 / 2.54
_WIDTH = 16 * _CM
_SALT = "prevalens-report-1"

# Safe text, also on a user's Axes: class names are data, never mathtext or TeX.
_SAFE_TEXT = {
    "text.parse_math": False,
    "text.usetex": False,
    "axes.formatter.use_mathtext": False,
}

_RC = {
    **_SAFE_TEXT,
    # deterministic, text-as-text SVG; TrueType in PDF
    "svg.fonttype": "none",
    "svg.hashsalt": _SALT,
    "svg.id": None,
    "pdf.fonttype": 42,
    "pdf.compression": 6,
    "path.simplify": True,
    "font.family": "sans-serif",
    "font.sans-serif": ["DejaVu Sans"],
    "font.size": 8,
    "axes.titlesize": 8.5,
    "axes.labelsize": 8,
    "xtick.labelsize": 7,
    "ytick.labelsize": 7,
    "legend.fontsize": 7,
    "legend.title_fontsize": 7,
    "figure.titlesize": 9,
    "axes.edgecolor": "#444444",
    "axes.labelcolor": _INK,
    "text.color": _INK,
    "xtick.color": "#444444",
    "ytick.color": "#444444",
    "axes.linewidth": 0.6,
    "xtick.major.width": 0.6,
    "ytick.major.width": 0.6,
    "xtick.minor.width": 0.4,
    "ytick.minor.width": 0.4,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": False,
    "grid.color": "#DDDDDD",
    "grid.linewidth": 0.5,
    "lines.linewidth": 1.3,
    "lines.markersize": 5,
    "hatch.linewidth": 0.7,
    "legend.frameon": False,
    "figure.facecolor": "white",
    "axes.facecolor": "white",
    "savefig.facecolor": "white",
    "figure.dpi": 100,
}
_METADATA = {"Date": None, "Creator": None, "Format": None, "Type": None}
_PDF_METADATA = {"Creator": None, "Producer": None, "CreationDate": None, "ModDate": None}

# Characters that XML 1.0 cannot carry (and lone surrogates that UTF-8 cannot encode).
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ud800-\udfff\ufffe\uffff]")
_HEADER_JUNK = re.compile(r"<!DOCTYPE[^>]*>\s*|<!-- Created with matplotlib[^>]*-->\s*")


# ------------------------------------------------------------------------------------------------
# small helpers: labels, numbers, rendering


def as_data_uri(svg: str) -> str:
    """``data:image/svg+xml;base64,...`` for an ``<img src>`` in a self-contained HTML file."""
    return "data:image/svg+xml;base64," + base64.b64encode(svg.encode("utf-8")).decode("ascii")


def _clean(label) -> str:
    """A label as one line of XML-safe text (full length)."""
    text = " ".join(_NOT_XML.sub("\ufffd", str(label)).split())
    return text if text else '""'


def _short(label, n: int = 20) -> str:
    """A label for a tick: cleaned and cut to ``n`` characters with an ellipsis."""
    text = _clean(label)
    return text if len(text) <= n else text[: n - 1].rstrip() + "\u2026"


def _q(label) -> str:
    """A full label quoted for running text (alt texts)."""
    return f"\u201c{_clean(label)}\u201d"


def _mname(metric: str) -> str:
    return metric_text(metric)


def _cap(text: str) -> str:
    return text[:1].upper() + text[1:]


def _signed(e: dict | None) -> str:
    """An estimate whose sign matters (a slope, a difference): ``+0.35 [0.26, 0.46]``."""
    return fmt_signed(e, bounds=(0.0,), minus=MINUS, no_interval=" (no interval)")


def _relations(text: str) -> str:
    return text.replace("<=", "\u2264").replace(">=", "\u2265")


def _f(x) -> float:
    """A JSON number (or null) as float (or NaN)."""
    return float("nan") if x is None else float(x)


def _num(x, digits: int = 2, bounds=(0.0, 1.0)) -> str:
    """``x`` with ``digits`` decimals, never showing a bound it is not, with a minus sign
    (U+2212) for negatives."""
    if x is None or not math.isfinite(x):
        return "undefined"
    return fmt_number(x, digits, bounds=bounds, minus=MINUS)


def _est(e: dict | None, *, bounds=(0.0, 1.0)) -> str:
    """``"0.61 [0.58, 0.64]"``; ``"0.61 (no interval)"``; ``"undefined"``."""
    return fmt_estimate(e, bounds=bounds, minus=MINUS, no_interval=" (no interval)")


def _pct(x) -> str:
    """A share as a percentage with two significant digits, never 0% or 100% unless exact."""
    return fmt_share(x, minus=MINUS)


def _tick_pct(v, _pos=None) -> str:
    if v <= 0:
        return ""
    return np.format_float_positional(100.0 * v, precision=6, trim="-") + "%"


def _level(d: dict) -> str:
    cl = (d.get("run") or {}).get("confidence_level")
    return fmt_level(cl) if cl else "95%"


def _min_support(d: dict) -> int:
    return int(((d.get("run") or {}).get("config") or {}).get("min_support", 10))


def _insufficient(c: dict) -> bool:
    return "insufficient" in (c.get("flags") or [])


def _plural(n: int, word: str, plural: str) -> str:
    return f"{n} {word if n == 1 else plural}"


def _and_join(items) -> str:
    """``a``, ``a and b``, ``a, b and c``."""
    items = list(items)
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def _interval_arrays(est, lo, hi):
    """Whisker lengths for errorbar, zero where a bound is missing."""
    est, lo, hi = (np.asarray(a, dtype=float) for a in (est, lo, hi))
    down = np.where(np.isfinite(lo), est - lo, 0.0)
    up = np.where(np.isfinite(hi), hi - est, 0.0)
    return np.vstack([np.clip(down, 0, None), np.clip(up, 0, None)])


def _new_figure(width_cm: float, height_cm: float) -> Figure:
    return Figure(figsize=(width_cm * _CM, height_cm * _CM), layout="constrained")


def _render(fig: Figure, title: str, fmt: str = "svg"):
    """The figure as deterministic SVG text or PDF bytes (call inside the style's
    rc_context)."""
    buf = io.StringIO() if fmt == "svg" else io.BytesIO()
    with warnings.catch_warnings():
        # A glyph DejaVu Sans lacks is only a layout approximation here: the text stays text
        # and the PDF renderer falls back to another font.
        warnings.filterwarnings("ignore", message=r"Glyph \d+ .*missing from", category=UserWarning)
        if fmt == "svg":
            fig.savefig(buf, format="svg", metadata=dict(_METADATA, Title=title))
        else:
            fig.savefig(buf, format="pdf", metadata=dict(_PDF_METADATA, Title=title))
    value = buf.getvalue()
    if isinstance(value, str):
        return _HEADER_JUNK.sub("", value, count=2)
    return value


@contextlib.contextmanager
def _style():
    """matplotlib's defaults (whatever the user's matplotlibrc or other code set) plus ours, so
    the same results give the same bytes on every machine."""
    with matplotlib.style.context("default"), matplotlib.rc_context(_RC):
        yield


def _safe_text():
    """While drawing on a user's Axes: class names and numbers as literal text."""
    return matplotlib.rc_context(_SAFE_TEXT)


def _results_dict(
    result,
    name: str = "result",
    expected: str = "an AuditResult or its results dict (a loaded results.json)",
) -> dict:
    """``result`` (a result, anything with ``to_dict()``, or its dict) as the dict; ``name``
    and ``expected`` word the error for another kind of result."""
    if isinstance(result, Mapping):
        return dict(result)
    to_dict = getattr(result, "to_dict", None)
    if callable(to_dict):
        return to_dict()
    raise ConfigError(f"`{name}` must be {expected}; got {type(result).__name__}")


def _user_axes(ax, width_cm: float, height_cm: float):
    """``ax``, or the Axes of a new pyplot figure of the given size (shown by notebooks)."""
    if ax is not None:
        return ax
    import matplotlib.pyplot as plt  # only for a figure of the user's; the report has none

    _, ax = plt.subplots(figsize=(width_cm * _CM, height_cm * _CM), layout="constrained")
    return ax


def _unavailable(what: str) -> ConfigError:
    return ConfigError(f"`result` has no {what}")


def _log_percent_axis(axis, lo: float, hi: float, set_lim, *, snap: bool = True) -> None:
    """A log axis labelled in percent.

    ``snap`` widens the limits to whole decades (bars need a baseline); otherwise the limits are
    kept and ticks go at 1, 2 and 5 times the decades when the range is short enough for them.
    """
    lo_dec = math.floor(math.log10(lo))
    hi_dec = math.ceil(math.log10(hi))
    if hi_dec <= lo_dec:
        hi_dec = lo_dec + 1
    if snap:
        lo, hi = 10.0**lo_dec, min(10.0**hi_dec, 1.0) if lo_dec < 0 else 10.0**hi_dec
    set_lim(lo, hi)
    decades = math.log10(hi / lo)
    if decades > 2.6:
        subs: tuple[float, ...] = (1.0,)
    elif decades > 0.8:
        subs = (1.0, 2.0, 5.0)
    else:
        subs = (1.0, 1.5, 2.0, 3.0, 5.0, 7.0)
    axis.set_major_locator(LogLocator(base=10.0, subs=subs))
    axis.set_major_formatter(FuncFormatter(_tick_pct))
    axis.set_minor_formatter(NullFormatter())


def _label_points(ax, x, y, labels, lo=None, hi=None, lines=(), fontsize=7.0) -> None:
    """Label a few points without overlaps: for each point (in order of x) the first of twelve
    offsets whose box stays inside the axes and clear of the labels placed so far, the points,
    their whiskers, the reference ``lines`` (each an (xs, ys) polyline in data coordinates) and
    the legend.

    The layout is settled first by a dry run of the SVG printer (not ``draw_without_rendering``,
    which would go through Agg), so data map to their final place; the labels stay out of the
    layout so the final print keeps it. Text extents are estimated from the character count
    (DejaVu Sans averages ~0.6 em).
    """
    fig = ax.figure
    fig.savefig(io.StringIO(), format="svg", metadata=_METADATA)
    to_px = ax.transData.transform
    ppt = fig.dpi / 72.0
    box_ax = ax.get_window_extent()
    pts = to_px(np.column_stack([x, y]))
    h = fontsize * 1.25 * ppt
    placed: list[tuple] = []
    points = [(px - 3 * ppt, py - 3 * ppt, px + 3 * ppt, py + 3 * ppt) for px, py in pts]
    if lo is not None and hi is not None:  # whiskers are obstacles too (thin boxes)
        ends = to_px(np.column_stack([np.concatenate([x, x]), np.concatenate([lo, hi])]))
        for j, (px, _) in enumerate(pts):
            a, b = ends[j][1], ends[j + len(x)][1]
            if np.isfinite(a) and np.isfinite(b):
                points.append((px - ppt, min(a, b), px + ppt, max(a, b)))
    fixed = []  # reference lines, as chains of small boxes, and the legend
    for xs, ys in lines:
        xy = to_px(np.column_stack([xs, ys]))
        for (x0, y0), (x1, y1) in zip(xy[:-1], xy[1:]):
            steps = max(1, int(math.hypot(x1 - x0, y1 - y0) / (4 * ppt)))
            for t in range(steps):
                ax_, ay = x0 + (x1 - x0) * t / steps, y0 + (y1 - y0) * t / steps
                bx, by = x0 + (x1 - x0) * (t + 1) / steps, y0 + (y1 - y0) * (t + 1) / steps
                fixed.append(
                    (min(ax_, bx), min(ay, by) - 1.5 * ppt, max(ax_, bx), max(ay, by) + 1.5 * ppt)
                )
    legend = ax.get_legend()
    if legend is not None:
        lb = legend.get_window_extent()
        fixed.append((lb.x0, lb.y0, lb.x1, lb.y1))

    def clash(b, boxes):
        return sum(
            max(0.0, min(b[2], o[2]) - max(b[0], o[0]))
            * max(0.0, min(b[3], o[3]) - max(b[1], o[1]))
            for o in boxes
        )

    for i in np.argsort(x, kind="stable"):
        px, py = pts[i]
        w = (0.62 * fontsize * len(labels[i]) + 3) * ppt
        g = 4 * ppt
        options = [
            (g, g, "left", "bottom"),
            (g, -g, "left", "top"),
            (-g, g, "right", "bottom"),
            (-g, -g, "right", "top"),
            (2 * g, 0, "left", "center"),
            (-2 * g, 0, "right", "center"),
            (0, 2 * g, "center", "bottom"),
            (0, -2 * g, "center", "top"),
            (g, 3 * g, "left", "bottom"),
            (g, -3 * g, "left", "top"),
            (-g, 3 * g, "right", "bottom"),
            (-g, -3 * g, "right", "top"),
        ]
        best = None
        for dx, dy, ha, va in options:
            x0 = px + dx - (w if ha == "right" else w / 2 if ha == "center" else 0)
            y0 = py + dy - (h if va == "top" else h / 2 if va == "center" else 0)
            b = (x0, y0, x0 + w, y0 + h)
            outside = (
                (b[0] < box_ax.x0) + (b[2] > box_ax.x1) + (b[1] < box_ax.y0) + (b[3] > box_ax.y1)
            )
            cost = (
                clash(b, placed)
                + clash(b, points[:i] + points[i + 1 :])
                + clash(b, fixed)
                + 1e6 * outside
            )
            if best is None or cost < best[0]:
                best = (cost, b, dx, dy, ha, va)
            if cost == 0:
                break
        assert best is not None  # the loop ran: there is always a candidate
        _, b, dx, dy, ha, va = best
        placed.append(b)
        ann = ax.annotate(
            labels[i],
            (x[i], y[i]),
            xytext=(dx / ppt, dy / ppt),
            textcoords="offset points",
            ha=ha,
            va=va,
            fontsize=fontsize,
            color=_INK,
            zorder=5,
            annotation_clip=False,
        )
        ann.set_in_layout(False)


def _per_class(d: dict) -> list[dict]:
    return list(d.get("per_class") or [])


# ------------------------------------------------------------------------------------------------
# 1. the long tail


def _present(d: dict) -> list:
    """Classes with a sample, most common first (stable: ties keep the class order)."""
    return sorted(
        (c for c in _per_class(d) if (c.get("prevalence") or 0) > 0), key=lambda c: -c["prevalence"]
    )


def _prevalence_height(k: int) -> float:
    return 7.5 if k > 40 else 9.0 if k <= 12 else 10.0


def _draw_prevalence(ax, d: dict) -> None:
    present = _present(d)
    k = len(present)
    prev = np.array([c["prevalence"] for c in present], dtype=float)
    ins = np.array([_insufficient(c) for c in present])
    pe = [(c.get("metrics") or {}).get("prevalence") or {} for c in present]
    lo = np.array([_f(e.get("ci_low")) for e in pe])
    hi = np.array([_f(e.get("ci_high")) for e in pe])
    min_support = _min_support(d)
    big = k > 40
    ax.set_yscale("log")
    lows = np.concatenate([prev, lo[np.isfinite(lo) & (lo > 0)]]) if not big else prev
    highs = np.concatenate([prev, hi[np.isfinite(hi)]]) if not big else prev
    _log_percent_axis(ax.yaxis, lows.min() * 0.95, highs.max(), ax.set_ylim)
    base = ax.get_ylim()[0]
    if big:  # a rank-frequency (Zipf) plot: log rank gives the few common classes room
        ax.set_xscale("log")
        xlim = (0.5, k + 0.5)
        to_frac = lambda v: math.log(v / xlim[0]) / math.log(xlim[1] / xlim[0])  # noqa: E731
    else:
        xlim = (-0.6, k - 0.4)
        to_frac = lambda v: (v - xlim[0]) / (xlim[1] - xlim[0])  # noqa: E731
    ax.set_xlim(*xlim)

    # strata as labelled bands (contiguous runs in prevalence order)
    names = [c.get("stratum") for c in present]
    runs, start = [], 0
    for i in range(1, k + 1):
        if i == k or names[i] != names[start]:
            runs.append((start, i, names[start]))
            start = i
    x0 = 1 if big else 0
    # the axes' width in points, near enough to space the labels (before any layout)
    axes_pt = ax.get_position().width * ax.figure.get_figwidth() * 72 * 0.84 / 0.775
    rows_used: list[float] = []  # right end (axes fraction) of the last label in each row
    for j, (a, b, name) in enumerate(runs):
        left, right = a + x0 - 0.5, b + x0 - 0.5
        if j % 2 == 0:
            ax.axvspan(left, right, color=_LIGHT, zorder=0, linewidth=0)
        if j > 0:
            ax.axvline(left, color=_GREY, linewidth=0.6, linestyle=(0, (3, 2)), zorder=1)
        if name is None:
            continue
        text = f"{_short(name, 18)}: {_plural(b - a, 'class', 'classes')}"
        half = (0.62 * 7 * len(text) + 6) / axes_pt / 2
        centre = min(max((to_frac(left) + to_frac(right)) / 2, half), 1 + 0.04 - half)
        row = next((r for r, end in enumerate(rows_used) if centre - half > end), None)
        if row is None:
            rows_used.append(0.0)
            row = len(rows_used) - 1
        rows_used[row] = centre + half
        ax.text(
            centre,
            1.015 + 0.07 * row,
            text,
            transform=ax.transAxes,
            ha="center",
            va="bottom",
            fontsize=7,
            clip_on=False,
        )

    handles = []
    if not big:
        x = np.arange(k)
        ax.bar(
            x[~ins],
            prev[~ins] - base,
            bottom=base,
            width=0.72,
            color=_BLUE,
            edgecolor=_BLUE,
            linewidth=0.6,
            zorder=2,
        )
        ax.bar(
            x[ins],
            prev[ins] - base,
            bottom=base,
            width=0.72,
            facecolor="white",
            edgecolor=_VERM,
            hatch="/////",
            linewidth=0.8,
            zorder=2,
        )
        ok = np.isfinite(lo) & np.isfinite(hi)
        if ok.any():
            ax.errorbar(
                x[ok],
                prev[ok],
                yerr=_interval_arrays(prev[ok], lo[ok], hi[ok]),
                fmt="none",
                ecolor=_INK,
                elinewidth=0.7,
                capsize=1.8,
                capthick=0.7,
                zorder=3,
            )
            handles.append(
                Line2D(
                    [],
                    [],
                    color=_INK,
                    linewidth=0.7,
                    marker="|",
                    markersize=4,
                    label=f"{_level(d)} interval (Wilson)"
                    if "wilson" in str(pe[0].get("method", "")).lower()
                    else f"{_level(d)} interval",
                )
            )
        ax.set_xticks(
            x,
            [_short(c["label"], 22) for c in present],
            rotation=35 if k <= 12 else 90,
            ha="right" if k <= 12 else "center",
            rotation_mode="anchor" if k <= 12 else "default",
        )
        ax.tick_params(axis="x", length=0)
        ax.set_xlabel("Class (sorted by prevalence)")
    else:
        edges = np.arange(k + 1) + 0.5
        a = 0
        for i in range(1, k + 1):
            if i == k or ins[i] != ins[a]:
                if ins[a]:
                    ax.stairs(
                        prev[a:i],
                        edges[a : i + 1],
                        baseline=base,
                        fill=True,
                        facecolor="white",
                        edgecolor=_VERM,
                        hatch="/////",
                        linewidth=0,
                        zorder=2,
                    )
                else:
                    ax.stairs(
                        prev[a:i],
                        edges[a : i + 1],
                        baseline=base,
                        fill=True,
                        color=_BLUE,
                        linewidth=0,
                        zorder=2,
                    )
                a = i
        ax.stairs(prev, edges, baseline=None, color=_INK, linewidth=0.6, zorder=3)
        ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _p: f"{v:g}"))
        ax.xaxis.set_minor_formatter(NullFormatter())
        ax.set_xlabel(
            f"Class rank by prevalence, log scale (1 = most common; {k} classes, "
            "names in the class table)"
        )
    kinds = []
    if not ins.all():
        kinds.append(Patch(facecolor=_BLUE, edgecolor=_BLUE, label=f"\u2265 {min_support} samples"))
    if ins.any():
        kinds.append(
            Patch(
                facecolor="white",
                edgecolor=_VERM,
                hatch="/////",
                label=f"insufficient (< {min_support} samples)",
            )
        )
    # the tail is low on the right; with few classes let matplotlib find the emptiest corner
    ax.legend(
        handles=kinds + handles, loc="upper right" if big else "best", ncol=1, handlelength=1.6
    )
    ax.set_ylabel("Prevalence (log scale)")
    ax.margins(y=0)


def _prevalence_alt(d: dict) -> str:
    pcs, present = _per_class(d), _present(d)
    k = len(present)
    ins = np.array([_insufficient(c) for c in present])
    min_support = _min_support(d)
    absent = len(pcs) - k
    top, rare = present[0], present[-1]
    ties = sum(1 for c in present if c["prevalence"] == rare["prevalence"]) - 1
    strata = [
        (s.get("name"), s.get("n_classes", len(s.get("classes") or ())))
        for s in d.get("strata") or []
    ]
    strata_txt = ", ".join(f"{_clean(n)} {c}" for n, c in strata)
    rare_n = _plural(rare["support"], "sample", "samples")
    if ties > 0:
        rare_n += f"; {_plural(ties, 'more class', 'more classes')} equally rare"
    return (
        f"Prevalence of {k} classes on a log scale, sorted from the most common, "
        f"{_q(top['label'])} at {_pct(top['prevalence'])} ({top['support']} samples), to the "
        f"rarest, {_q(rare['label'])} at {_pct(rare['prevalence'])} ({rare_n}). "
        + (f"Classes per stratum: {strata_txt}; " if strata_txt else "")
        + (
            f"{int(ins.sum())} of {k} classes have fewer than {min_support} samples (hatched)"
            if ins.any()
            else f"no class has fewer than {min_support} samples"
        )
        + (f"; {_plural(absent, 'class', 'classes')} without samples not shown" if absent else "")
        + "."
    )


def plot_prevalence(result, ax=None):
    """Class prevalence on a log scale, classes sorted from the most common, strata as bands.

    Classes with fewer than ``min_support`` true samples are hatched. Up to 40 classes each bar
    is labelled (with its prevalence interval); beyond that the curve is drawn by rank without
    per-class labels. Classes with no true sample cannot be shown on a log scale.

    Parameters
    ----------
    result : AuditResult or dict
        The audit (anything with ``to_dict()``) or its results dict.
    ax : matplotlib.axes.Axes, optional
        Where to draw; a new figure when None.

    Returns
    -------
    matplotlib.axes.Axes

    Raises
    ------
    ConfigError
        When no class has a sample.

    Examples
    --------
    >>> import prevalens
    >>> from prevalens.report.plots import plot_prevalence
    >>> from matplotlib.figure import Figure
    >>> res = prevalens.audit(["a", "b", "a", "a"], ["a", "b", "b", "a"], n_resamples=0, seed=0)
    >>> ax = plot_prevalence(res, ax=Figure().add_subplot())
    >>> ax.get_ylabel()
    'Prevalence (log scale)'
    """
    d = _results_dict(result)
    if not _present(d):
        raise _unavailable("class with a sample")
    ax = _user_axes(ax, 16, _prevalence_height(len(_present(d))))
    with _safe_text():
        _draw_prevalence(ax, d)
    return ax


def _prevalence_figure(d: dict):
    present = _present(d)
    if not present:
        return None
    fig = _new_figure(16, _prevalence_height(len(present)))
    _draw_prevalence(fig.add_subplot(), d)
    return fig, "Class prevalence (the long tail)", _prevalence_alt(d)


def prevalence_plot(d: dict) -> Plot | None:
    """The report's prevalence figure (:func:`plot_prevalence`) as :class:`Plot`; None when no
    class has a sample."""
    return _report_plot(_prevalence_figure, d)


# ------------------------------------------------------------------------------------------------
# 2. headline forest plot

_FOREST_METRICS = ("recall", "precision", "f1", "roc_auc", "average_precision")
_ALL_AVERAGES = ("micro", "macro", "weighted")


def _forest_rows(d, metrics, averages):
    avg = d.get("averages") or {}
    metrics = [m for m in metrics if any((avg.get(a) or {}).get(m) for a in averages)]
    rows = []  # (y, metric, average or None, EST or None)
    y = 0.0
    for m in metrics:
        rows.append((y, m, None, None))
        y -= 1
        for a in averages:
            e = (avg.get(a) or {}).get(m)
            if e is not None:
                rows.append((y, m, a, e))
                y -= 1
        y -= 0.35
    return metrics, rows


def _draw_forest(ax, d: dict, metrics, averages) -> None:
    metrics, rows = _forest_rows(d, metrics, averages)
    level = _level(d)
    vals = [
        v
        for _, _, a, e in rows
        if e
        for v in (e.get("estimate"), e.get("ci_low"), e.get("ci_high"))
        if v is not None
    ]
    lo_x, hi_x = (min(vals), max(vals)) if vals else (0.0, 1.0)
    pad = max(0.02, 0.05 * (hi_x - lo_x))
    ax.set_xlim(
        max(0.0, lo_x - pad) if lo_x >= 0 else lo_x - pad,
        min(1.0, hi_x + pad) + 0.006 if hi_x <= 1 else hi_x + pad,
    )
    right = blended_transform_factory(ax.transAxes, ax.transData)
    for yy, m, a, e in rows:
        if a is None:
            if metrics.index(m) % 2 == 1:  # every other metric group on a grey band
                n_rows = sum(1 for r in rows if r[1] == m)
                ax.axhspan(yy + 0.5, yy - n_rows + 0.5, color="#F4F4F4", zorder=0, linewidth=0)
            continue
        st = _AVERAGES.get(a, {"color": _INK, "marker": "o"})
        est = e.get("estimate")
        if est is not None:
            err = _interval_arrays([est], [_f(e.get("ci_low"))], [_f(e.get("ci_high"))])
            ax.errorbar(
                [est],
                [yy],
                xerr=err,
                fmt=st["marker"],
                color=st["color"],
                markersize=5,
                elinewidth=1.1,
                capsize=2.2,
                capthick=1.0,
                markeredgecolor=_INK,
                markeredgewidth=0.5,
                zorder=3,
            )
        ax.text(
            1.02,
            yy,
            _est(e),
            transform=right,
            ha="left",
            va="center",
            fontsize=7,
            color=_INK if est is not None else _GREY,
            clip_on=False,
        )
    ticks = [r[0] for r in rows]
    labels = [_cap(_mname(m)) if a is None else a for _, m, a, _ in rows]
    ax.set_yticks(ticks, labels)
    for lab, (_, _, a, _) in zip(ax.get_yticklabels(), rows):
        if a is None:
            lab.set_fontweight("bold")
            lab.set_fontsize(7.5)
    ax.tick_params(axis="y", length=0)
    ax.set_ylim(min(ticks) - 0.7, 0.7)
    ax.grid(axis="x", zorder=0)
    ax.set_axisbelow(True)
    ax.text(
        1.02,
        0,
        f"estimate [{level} interval]",
        transform=right,
        ha="left",
        va="center",
        fontsize=7,
        color=_GREY,
        clip_on=False,
    )
    ax.set_xlabel(f"Estimate with {level} interval")
    handles = [
        Line2D(
            [],
            [],
            color=_AVERAGES[a]["color"],
            marker=_AVERAGES[a]["marker"],
            linestyle="none",
            markeredgecolor=_INK,
            markeredgewidth=0.5,
            label=a,
        )
        for a in averages
        if a in _AVERAGES
    ]
    ax.legend(
        handles=handles,
        loc="lower left",
        bbox_to_anchor=(0.0, 1.0),
        ncol=len(handles),
        borderaxespad=0.2,
        handletextpad=0.3,
        columnspacing=1.2,
    )


def _forest_alt(d: dict, metrics, averages) -> str:
    metrics, _ = _forest_rows(d, metrics, averages)
    avg = d.get("averages") or {}
    level = _level(d)
    names = ", ".join(_mname(m) for m in metrics)
    who = _and_join([f"{a} ({_marker_words(a)})" for a in averages if a in _AVERAGES])
    alt = f"{_cap(who)} averages of {names}, each with its {level} interval."
    gaps = []
    for m in metrics:
        g = ((d.get("gap") or {}).get(m) or {}).get("macro_minus_micro") or {}
        if g.get("estimate") is not None:
            gaps.append((abs(g["estimate"]), m))
    focus = max(gaps)[1] if gaps else metrics[0]
    mic, mac = (avg.get("micro") or {}).get(focus), (avg.get("macro") or {}).get(focus)
    if mic and mac:
        gap = ((d.get("gap") or {}).get(focus) or {}).get("macro_minus_micro")
        alt += (
            f" {'The largest macro–micro difference is in' if gaps else 'For'} "
            f"{_mname(focus)}: macro {_est(mac)} against micro {_est(mic)}"
            + (f", a gap of {_est(gap, bounds=(0.0,))}" if gap else "")
            + "."
        )
    return alt


def plot_forest(result, ax=None, *, metrics=_FOREST_METRICS, averages=_ALL_AVERAGES):
    """Headline micro/macro/weighted estimates with interval whiskers, one row per (metric,
    average), grouped by metric; each average has its own marker.

    Parameters
    ----------
    result : AuditResult or dict
        The audit (anything with ``to_dict()``) or its results dict.
    ax : matplotlib.axes.Axes, optional
        Where to draw; a new figure when None.
    metrics : sequence of str
        Metrics to show; those absent from the results (ROC AUC without scores) are skipped.
    averages : sequence of {"micro", "macro", "weighted"}

    Returns
    -------
    matplotlib.axes.Axes

    Raises
    ------
    ConfigError
        When none of ``metrics`` is in the results.
    """
    d = _results_dict(result)
    shown, rows = _forest_rows(d, metrics, averages)
    if not shown:
        raise _unavailable(f"average of any of {list(metrics)}")
    ax = _user_axes(ax, 16, 1.6 + 0.42 * len(rows))
    with _safe_text():
        _draw_forest(ax, d, metrics, averages)
    return ax


def _forest_figure(d: dict, metrics=_FOREST_METRICS, averages=_ALL_AVERAGES):
    shown, rows = _forest_rows(d, metrics, averages)
    if not shown:
        return None
    fig = _new_figure(16, 1.6 + 0.42 * len(rows))
    _draw_forest(fig.add_subplot(), d, metrics, averages)
    return (
        fig,
        "Headline estimates: micro, macro and weighted averages",
        _forest_alt(d, metrics, averages),
    )


def forest_plot(d: dict, *, metrics=_FOREST_METRICS, averages=_ALL_AVERAGES) -> Plot | None:
    """The report's forest plot (:func:`plot_forest`) as :class:`Plot`; None when none of
    ``metrics`` is in the results."""
    return _report_plot(functools.partial(_forest_figure, metrics=metrics, averages=averages), d)


# ------------------------------------------------------------------------------------------------
# 3. ROC and PR curves


def _band(bands, kind: str, average: str):
    """(low, high) arrays of a pointwise band, or None. Accepts ``{kind: {average: {low, high}}}``
    with the bounds named ``ci_low``/``ci_high``, ``low``/``high`` or ``lower``/``upper``."""
    if not isinstance(bands, dict):
        return None
    b = (bands.get(kind) or {}).get(average)
    if not isinstance(b, dict):
        return None
    for lo_key, hi_key in (("ci_low", "ci_high"), ("low", "high"), ("lower", "upper")):
        if b.get(lo_key) is not None and b.get(hi_key) is not None:
            return (np.array(b[lo_key], dtype=float), np.array(b[hi_key], dtype=float))
    return None


def _curves(d: dict):
    """The results' ROC and PR curve blocks, or None when there are none (no scores)."""
    c = d.get("curves")
    if not c or not (d.get("data") or {}).get("has_scores", True):
        return None
    roc, pr = c.get("roc") or {}, c.get("pr") or {}
    if not roc.get("fpr") or not pr.get("recall"):
        return None
    return c


_PANELS = {  # kind -> (x key, y key, average key, short name, x label, y label, title)
    "roc": (
        "fpr",
        "tpr",
        "roc_auc",
        "AUC",
        "False positive rate",
        "True positive rate (recall)",
        "ROC",
    ),
    "pr": (
        "recall",
        "precision",
        "average_precision",
        "AP",
        "Recall",
        "Precision",
        "Precision–recall",
    ),
}


def _draw_curve_panel(ax, d: dict, kind: str) -> bool:
    """One panel (ROC or precision-recall), micro and macro; True when a band was drawn."""
    c = _curves(d)
    avg = d.get("averages") or {}
    bands = c.get("bands")
    block = c[kind]
    xkey, ykey, akey, short, xl, yl, name = _PANELS[kind]
    x = np.array(block[xkey], dtype=float)
    drew_band = False
    if kind == "roc":
        ax.plot([0, 1], [0, 1], color=_GREY, linewidth=0.8, linestyle=(0, (1, 2)), label="chance")
    for a, hatch in (("micro", None), ("macro", "////")):
        yv = np.array((block.get(a) or {}).get(ykey) or [], dtype=float)
        if yv.size != x.size:
            continue
        st = _AVERAGES[a]
        band = _band(bands, kind, a)
        if band is not None and band[0].size == x.size:
            drew_band = True
            ax.fill_between(
                x,
                band[0],
                band[1],
                facecolor=st["color"],
                alpha=0.18,
                edgecolor=st["color"],
                hatch=hatch,
                linewidth=0,
                zorder=1,
            )
        e = (avg.get(a) or {}).get(akey)
        label = f"{a}, {short} {_est(e)}" if e and e.get("estimate") is not None else a
        ax.plot(
            x,
            yv,
            color=st["color"],
            linestyle=st["linestyle"],
            linewidth=1.5,
            label=label,
            zorder=3,
        )
    ax.set_xlim(-0.01, 1.01)
    ax.set_ylim(-0.01, 1.01)
    ax.set_aspect("equal", adjustable="box")
    ax.set_xlabel(xl)
    ax.set_ylabel(yl)
    ax.set_title(name, loc="left", fontweight="bold")
    ax.grid(True, zorder=0)
    ax.legend(
        loc="lower right" if kind == "roc" else "lower left", handlelength=2.4, borderaxespad=0.3
    )
    return drew_band


def _curves_alt(d: dict, drew_band: bool) -> str:
    c = _curves(d)
    avg = d.get("averages") or {}
    parts = []
    for key, short in (("roc_auc", "ROC AUC"), ("average_precision", "average precision")):
        mi, ma = (avg.get("micro") or {}).get(key), (avg.get("macro") or {}).get(key)
        if mi or ma:
            parts.append(f"{short} micro {_est(mi)} and macro {_est(ma)}")
    alt = (
        f"Micro ({_line_words('micro')}) and macro ({_line_words('macro')}) ROC curves, "
        "left, and precision–recall curves, right" + (f": {'; '.join(parts)}." if parts else ".")
    )
    alt += (
        f" Shaded areas are {_level(d)} pointwise bands."
        if drew_band
        else " No confidence bands are drawn: the results carry none for the curves."
    )
    if c.get("method") and c["method"] != "exact":
        alt = alt[:-1] + f" (curves {c['method']})."
    return alt


def _plot_panel(result, ax, kind):
    d = _results_dict(result)
    if _curves(d) is None:
        raise _unavailable("ROC or precision-recall curves (the audit had no scores)")
    ax = _user_axes(ax, 8.6, 8.6)
    with _safe_text():
        _draw_curve_panel(ax, d, kind)
    return ax


def plot_roc_curves(result, ax=None):
    """Micro and macro ROC curves with their AUC, and pointwise bands when the results carry
    them; the diagonal is chance.

    Parameters
    ----------
    result : AuditResult or dict
        The audit (anything with ``to_dict()``) or its results dict.
    ax : matplotlib.axes.Axes, optional
        Where to draw; a new figure when None.

    Returns
    -------
    matplotlib.axes.Axes

    Raises
    ------
    ConfigError
        When the results have no curves (the audit had no scores).
    """
    return _plot_panel(result, ax, "roc")


def plot_pr_curves(result, ax=None):
    """Micro and macro precision-recall curves with their average precision, and pointwise
    bands when the results carry them.

    Parameters
    ----------
    result : AuditResult or dict
        The audit (anything with ``to_dict()``) or its results dict.
    ax : matplotlib.axes.Axes, optional
        Where to draw; a new figure when None.

    Returns
    -------
    matplotlib.axes.Axes

    Raises
    ------
    ConfigError
        When the results have no curves (the audit had no scores).
    """
    return _plot_panel(result, ax, "pr")


def _curves_figure(d: dict):
    if _curves(d) is None:
        return None
    fig = _new_figure(16, 8.6)
    axes = fig.subplots(1, 2)
    drew = [_draw_curve_panel(ax, d, kind) for ax, kind in zip(axes, ("roc", "pr"))]
    return fig, "Micro vs macro ROC and precision–recall curves", _curves_alt(d, any(drew))


def curves_plot(d: dict) -> Plot | None:
    """The report's two-panel figure: :func:`plot_roc_curves` (left) and
    :func:`plot_pr_curves` (right). None when there are no curves (no scores)."""
    return _report_plot(_curves_figure, d)


# ------------------------------------------------------------------------------------------------
# 4. per-class metric against prevalence


def _mvp_points(d: dict, metric: str):
    pts = []
    for c in _per_class(d):
        e = (c.get("metrics") or {}).get(metric) or {}
        if (c.get("prevalence") or 0) > 0 and e.get("estimate") is not None:
            pts.append((c, e))
    return pts


def _draw_metric_vs_prevalence(
    ax, d: dict, metric: str, *, legend: str = "axes", labels: bool | None = None
) -> None:
    """``legend``: "axes" (inside, lower right) or "figure" (below the plot, the report's)."""
    pts = _mvp_points(d, metric)
    k = len(pts)
    x = np.array([c["prevalence"] for c, _ in pts], dtype=float)
    yv = np.array([e["estimate"] for _, e in pts], dtype=float)
    lo = np.array([_f(e.get("ci_low")) for _, e in pts])
    hi = np.array([_f(e.get("ci_high")) for _, e in pts])
    w = np.array([c.get("support") or 0 for c, _ in pts], dtype=float)
    ins = np.array([_insufficient(c) for c, _ in pts])
    whiskers = k <= 100
    avg = d.get("averages") or {}
    slope = ((d.get("trend") or {}).get(metric) or {}).get("slope_per_decade") or {}
    level = _level(d)
    name = _mname(metric)
    ax.set_xscale("log")
    _log_percent_axis(ax.xaxis, x.min() / 1.6, min(1.0, x.max() * 1.6), ax.set_xlim, snap=False)
    if bool(np.all((yv >= 0) & (yv <= 1))):
        ax.set_ylim(-0.03, 1.03)
    handles = []
    ms = 5 if k <= 100 else 3
    for mask, filled in ((~ins, True), (ins, False)):
        if not mask.any():
            continue
        color = _BLUE if filled else _VERM
        kw: dict[str, Any] = dict(
            marker="o" if filled else "^",
            markersize=ms,
            markerfacecolor=color if filled else "white",
            markeredgecolor=color,
            markeredgewidth=0.9,
            linestyle="none",
            zorder=4,
            alpha=1.0 if k <= 300 else 0.6,
        )
        if whiskers:
            ax.errorbar(
                x[mask],
                yv[mask],
                yerr=_interval_arrays(yv[mask], lo[mask], hi[mask]),
                ecolor=color,
                elinewidth=0.7,
                capsize=0,
                **kw,
            )
        else:
            ax.plot(x[mask], yv[mask], **kw)
        handles.append(
            Line2D(
                [],
                [],
                color=color,
                **{k_: v for k_, v in kw.items() if k_ not in ("zorder", "alpha")},
                label=(
                    f"class (\u2265 {_min_support(d)} samples)"
                    if filled
                    else f"insufficient class (< {_min_support(d)} samples)"
                ),
            )
        )
    lines = []  # reference lines: the class labels keep clear of them
    xlim = ax.get_xlim()
    for a in ("micro", "macro"):
        e = (avg.get(a) or {}).get(metric)
        if e and e.get("estimate") is not None:
            st = _AVERAGES[a]
            ax.axhline(
                e["estimate"], color=st["color"], linestyle=st["linestyle"], linewidth=1.0, zorder=2
            )
            lines.append((np.array(xlim), np.array([e["estimate"]] * 2)))
            handles.append(
                Line2D(
                    [],
                    [],
                    color=st["color"],
                    linestyle=st["linestyle"],
                    linewidth=1.0,
                    label=f"{a} {name} {_num(e['estimate'])}",
                )
            )
    fit = ~ins & (w > 0)  # the trend is fitted over the classes with at least min_support
    if slope.get("estimate") is not None and fit.sum() >= 2:
        # the least-squares line over classes (each one point) passes through their plain means
        lx = np.log10(x[fit])
        xm, ym = lx.mean(), yv[fit].mean()
        gx = np.linspace(lx.min(), lx.max(), 50)
        ty = ym + slope["estimate"] * (gx - xm)
        ax.plot(10.0**gx, ty, color=_INK, linewidth=1.3, linestyle=(0, (6, 2, 1, 2)), zorder=3)
        lines.append((10.0**gx, ty))
        handles.append(
            Line2D(
                [],
                [],
                color=_INK,
                linewidth=1.3,
                linestyle=(0, (6, 2, 1, 2)),
                label=(
                    f"trend over classes {_signed(slope)} per tenfold prevalence"
                    if slope.get("ci_low") is not None
                    else "least-squares line over classes (span < 1 decade: no per-decade trend)"
                ),
            )
        )
    ax.set_xlabel("Class prevalence (log scale)")
    ax.set_ylabel(f"Per-class {name}" + (f" with {level} interval" if whiskers else ""))
    ax.grid(True, zorder=0)
    ax.set_axisbelow(True)
    if legend == "figure":
        ax.figure.legend(handles=handles, loc="outside lower center", ncol=2, handlelength=2.6)
    else:
        ax.legend(handles=handles, loc="lower right", handlelength=2.6)
    if k <= 12 if labels is None else labels:
        _label_points(
            ax,
            x,
            yv,
            [_short(c["label"], 14) for c, _ in pts],
            lo if whiskers else None,
            hi if whiskers else None,
            lines=lines,
        )


def _mvp_alt(d: dict, metric: str) -> str:
    pts = _mvp_points(d, metric)
    k = len(pts)
    x = np.array([c["prevalence"] for c, _ in pts], dtype=float)
    yv = np.array([e["estimate"] for _, e in pts], dtype=float)
    ins = np.array([_insufficient(c) for c, _ in pts])
    trend = (d.get("trend") or {}).get(metric) or {}
    slope = trend.get("slope_per_decade") or {}
    name = _mname(metric)
    n_undefined = sum(
        1
        for c in _per_class(d)
        if (c.get("prevalence") or 0) > 0
        and ((c.get("metrics") or {}).get(metric) or {}).get("estimate") is None
    )
    i_lo, i_hi = int(np.argmin(yv)), int(np.argmax(yv))
    first = f"Per-class {name} of {k} classes against prevalence (log scale)" + (
        f" with {_level(d)} intervals"
        if k <= 100
        else ", without intervals (too many classes; see the class table)"
    )
    if slope.get("estimate") is not None and slope.get("ci_low") is not None:
        first += (
            f"; the least-squares trend over {trend.get('n_classes')} classes with enough "
            f"samples (each one point) is {_signed(slope)} per tenfold increase in prevalence"
        )
    elif slope.get("estimate") is not None:
        first += (
            "; the least-squares line over the classes with enough samples is drawn without a "
            "per-decade trend (their prevalences span less than a decade)"
        )
    rho = trend.get("spearman") or {}
    if rho.get("estimate") is not None:
        first += f" (Spearman {_num(rho['estimate'], bounds=(-1.0, 0.0, 1.0))}, descriptive)"
    avg = d.get("averages") or {}
    refs = [
        f"{a} {name} {_num(avg[a][metric]['estimate'])} ({_line_words(a)})"
        for a in ("micro", "macro")
        if ((avg.get(a) or {}).get(metric) or {}).get("estimate") is not None
    ]
    if refs:
        first += "; reference lines: " + _and_join(refs)
    second = (
        f"Lowest {name}: {_q(pts[i_lo][0]['label'])}, {_num(yv[i_lo])} at "
        f"{_pct(x[i_lo])} prevalence; highest: {_q(pts[i_hi][0]['label'])}, "
        f"{_num(yv[i_hi])} at {_pct(x[i_hi])}"
    )
    if ins.any():
        n_ins = int(ins.sum())
        second += (
            "; 1 insufficient class is an open triangle"
            if n_ins == 1
            else f"; {n_ins} insufficient classes are open triangles"
        )
    if n_undefined:
        second += f"; {_plural(n_undefined, 'class', 'classes')} with an undefined {name} not shown"
    return f"{first}. {second}."


def plot_metric_vs_prevalence(result, ax=None, *, metric: str = "recall", labels=None):
    """Per-class ``metric`` (with interval whiskers up to 100 classes) against prevalence on a
    log axis, with the weighted least-squares trend and the micro and macro averages as
    reference lines. Insufficient classes are open triangles.

    Parameters
    ----------
    result : AuditResult or dict
        The audit (anything with ``to_dict()``) or its results dict.
    ax : matplotlib.axes.Axes, optional
        Where to draw; a new figure when None.
    metric : str
        A per-class metric of the results (``"recall"``, ``"f1"``, ``"roc_auc"`` ...).
    labels : bool, optional
        Name the points (placed clear of each other, the whiskers, the reference lines and the
        legend); by default up to 12 classes.

    Returns
    -------
    matplotlib.axes.Axes

    Raises
    ------
    ConfigError
        When no class has the metric.
    """
    d = _results_dict(result)
    if not _mvp_points(d, metric):
        raise _unavailable(f"class with a per-class {metric!r}")
    ax = _user_axes(ax, 16, 9.5)
    with _safe_text():
        _draw_metric_vs_prevalence(ax, d, metric, labels=labels)
    return ax


def _mvp_figure(d: dict, metric: str = "recall"):
    if not _mvp_points(d, metric):
        return None
    fig = _new_figure(16, 9.5)
    _draw_metric_vs_prevalence(fig.add_subplot(), d, metric, legend="figure")
    return fig, f"Per-class {_mname(metric)} against prevalence", _mvp_alt(d, metric)


def metric_vs_prevalence_plot(d: dict, *, metric: str = "recall") -> Plot | None:
    """The report's figure of :func:`plot_metric_vs_prevalence`, the legend below the plot;
    None when no class has the metric."""
    return _report_plot(functools.partial(_mvp_figure, metric=metric), d)


# ------------------------------------------------------------------------------------------------
# 5. strata


def _has_strata(d: dict, metric: str) -> bool:
    return any(metric in (s.get("macro") or {}) for s in d.get("strata") or [])


def _draw_strata(ax, d: dict, metric: str, *, legend: str = "axes") -> None:
    """``legend``: "axes" (above the plot) or "figure" (below it, the report's)."""
    strata = list(d.get("strata") or [])
    avg = d.get("averages") or {}
    level = _level(d)
    name = _mname(metric)
    n = len(strata)
    right = blended_transform_factory(ax.transAxes, ax.transData)
    labels = []
    for i, s in enumerate(strata):
        yy = -i
        e = (s.get("macro") or {}).get(metric) or {}
        n_ins = len(s.get("insufficient_classes") or ())
        nc = s.get("n_classes", len(s.get("classes") or ()))
        desc = _short(_relations((s.get("bounds") or {}).get("description", "")), 28)
        detail = f"{_plural(nc, 'class', 'classes')}, {s.get('support', '?')} samples"
        if n_ins:
            detail += f", {n_ins} insufficient"
        labels.append(
            f"{_short(s.get('name'), 24)}\n{desc}\n{detail}"
            if desc
            else f"{_short(s.get('name'), 24)}\n{detail}"
        )
        if i % 2 == 1:
            ax.axhspan(yy + 0.5, yy - 0.5, color="#F4F4F4", zorder=0, linewidth=0)
        est = e.get("estimate")
        if est is not None:
            ax.errorbar(
                [est],
                [yy],
                xerr=_interval_arrays([est], [_f(e.get("ci_low"))], [_f(e.get("ci_high"))]),
                fmt="o",
                color=_INK,
                markerfacecolor=_ORANGE,
                markeredgecolor=_INK,
                markersize=7,
                elinewidth=1.3,
                capsize=3,
                capthick=1.1,
                zorder=4,
            )
        ax.text(
            1.02,
            yy,
            _est(e),
            transform=right,
            ha="left",
            va="center",
            fontsize=7,
            color=_INK if est is not None else _GREY,
            clip_on=False,
        )
    ax.text(
        1.02,
        0.75,
        f"macro [{level} interval]",
        transform=right,
        ha="left",
        va="center",
        fontsize=7,
        color=_GREY,
        clip_on=False,
    )
    handles = [
        Line2D(
            [],
            [],
            color=_INK,
            marker="o",
            markerfacecolor=_ORANGE,
            markeredgecolor=_INK,
            markersize=6,
            linewidth=1.3,
            label=f"macro {name} within the stratum",
        )
    ]
    for a in ("micro", "macro"):
        e = (avg.get(a) or {}).get(metric)
        if e and e.get("estimate") is not None:
            st = _AVERAGES[a]
            ax.axvline(
                e["estimate"], color=st["color"], linestyle=st["linestyle"], linewidth=1.2, zorder=2
            )
            handles.append(
                Line2D(
                    [],
                    [],
                    color=st["color"],
                    linestyle=st["linestyle"],
                    linewidth=1.2,
                    label=f"{a} {name}, all classes ({_num(e['estimate'])})",
                )
            )
    ax.set_yticks([-i for i in range(n)], labels)
    ax.tick_params(axis="y", length=0)
    ax.set_ylim(-n + 0.5, 0.5 + 0.45)
    ax.set_xlim(-0.02, 1.02)
    ax.grid(axis="x", zorder=0)
    ax.set_axisbelow(True)
    ax.set_xlabel(f"Macro {name} with {level} interval")
    if legend == "figure":
        ax.figure.legend(handles=handles, loc="outside lower center", ncol=3, handlelength=2.4)
    else:
        ax.legend(
            handles=handles,
            loc="lower left",
            bbox_to_anchor=(0.0, 1.0),
            ncol=3,
            handlelength=2.4,
            borderaxespad=0.2,
        )


def _strata_alt(d: dict, metric: str) -> str:
    strata = list(d.get("strata") or [])
    avg = d.get("averages") or {}
    name = _mname(metric)
    parts = ", ".join(
        f"{_clean(s.get('name'))} {_est((s.get('macro') or {}).get(metric))}" for s in strata
    )
    alt = f"Macro {name} within each prevalence stratum, rarest first: {parts}."
    mi, ma = (avg.get("micro") or {}).get(metric), (avg.get("macro") or {}).get(metric)
    if mi or ma:
        # the words come from the style table that draws the lines
        alt += (
            f" Over all classes the micro {name} is {_est(mi)} ({_line_words('micro')}) "
            f"and the macro {_est(ma)} ({_line_words('macro')})."
        )
    omitted = (d.get("strata_definition") or {}).get("omitted_empty") or []
    if omitted:
        alt = alt[:-1] + f"; empty strata omitted: {', '.join(_clean(o) for o in omitted)}."
    return alt


def plot_strata(result, ax=None, *, metric: str = "recall"):
    """Macro ``metric`` within each prevalence stratum with its interval, rarest stratum on top,
    and the overall micro (solid) and macro (dashed) values as reference lines.

    Parameters
    ----------
    result : AuditResult or dict
        The audit (anything with ``to_dict()``) or its results dict.
    ax : matplotlib.axes.Axes, optional
        Where to draw; a new figure when None.
    metric : str
        A stratified metric (``"recall"``, ``"f1"`` ...).

    Returns
    -------
    matplotlib.axes.Axes

    Raises
    ------
    ConfigError
        When the results have no strata or do not stratify ``metric``.
    """
    d = _results_dict(result)
    if not _has_strata(d, metric):
        raise _unavailable(f"prevalence strata of {metric!r}")
    ax = _user_axes(ax, 16, 2.6 + 1.05 * len(d["strata"]))
    with _safe_text():
        _draw_strata(ax, d, metric)
    return ax


def _strata_figure(d: dict, metric: str = "recall"):
    if not _has_strata(d, metric):
        return None
    fig = _new_figure(16, 2.6 + 1.05 * len(d["strata"]))
    _draw_strata(fig.add_subplot(), d, metric, legend="figure")
    return fig, f"Macro {_mname(metric)} by prevalence stratum", _strata_alt(d, metric)


def strata_plot(d: dict, *, metric: str = "recall") -> Plot | None:
    """The report's figure of :func:`plot_strata`, the legend below the plot. None when the
    results have no strata or do not stratify ``metric`` (e.g. average precision)."""
    return _report_plot(functools.partial(_strata_figure, metric=metric), d)


# ------------------------------------------------------------------------------------------------
# 6. confusion matrix


def _confusion(d: dict):
    """The confusion matrix of the results (dense, or a scipy sparse matrix when results.json
    holds its non-zero cells) and the classes; ``(None, None)`` when there is none."""
    data = d.get("data") or {}
    classes = data.get("classes")
    cells = data.get("confusion_matrix_sparse")
    if cells is not None and classes is not None:
        k = len(classes)
        if list(cells.get("shape") or []) != [k, k]:
            return None, None
        cm = sparse.csr_array(
            (
                np.asarray(cells["counts"], dtype=np.int64),
                (np.asarray(cells["rows"], dtype=np.int64), np.asarray(cells["cols"], np.int64)),
            ),
            shape=(k, k),
            dtype=np.int64,
        )
        return cm, list(classes)
    cm = data.get("confusion_matrix")
    if cm is None or classes is None:
        return None, None
    cm = np.asarray(cm, dtype=np.int64)
    if cm.ndim != 2 or cm.shape[0] != cm.shape[1] or cm.shape[0] != len(classes):
        return None, None
    return cm, list(classes)


def _block(cm, rows, cols) -> np.ndarray:
    """``cm[np.ix_(rows, cols)]`` as a dense array, for a dense or sparse matrix."""
    if is_sparse(cm):
        return cm[np.asarray(rows, dtype=np.int64)][:, np.asarray(cols, dtype=np.int64)].toarray()
    return cm[np.ix_(rows, cols)]


def top_confusions(d: dict, n: int = 20) -> list[dict]:
    """The ``n`` largest off-diagonal cells of the confusion matrix, largest first.

    Rows are dicts ``{"true", "predicted", "count", "share"}``, ``share`` being the count over
    the true class's support (the row-normalised cell). Ties: larger share first, then class
    order. Empty when the results have no confusion matrix (multi-label).
    """
    cm, classes = _confusion(d)
    if cm is None:
        return []
    if is_sparse(cm):
        r, c, v = cells_of(cm)  # row-major, as np.nonzero of the dense matrix
        off_diag = (r != c) & (v > 0)
        ti, pi, counts = r[off_diag], c[off_diag], v[off_diag]
    else:
        off = cm.copy()
        np.fill_diagonal(off, 0)
        ti, pi = np.nonzero(off)
        counts = off[ti, pi]
    if ti.size == 0:
        return []
    support = row_sums(cm)
    share = counts / support[ti]
    order = np.lexsort((pi, ti, -share, -counts))[:n]
    return [
        {
            "true": classes[ti[o]],
            "predicted": classes[pi[o]],
            "count": int(counts[o]),
            "share": float(share[o]),
        }
        for o in order
    ]


def _cell_text(share: float) -> str:
    if not np.isfinite(share) or share == 0:
        return ""
    v = 100 * share
    if v == 100:
        return "100%"
    if v < 0.5:
        return "<1%"
    if v >= 99.5:
        return ">99%"
    return f"{v:.0f}%"


_CMAP = LinearSegmentedColormap.from_list(
    "prevalens_blues",
    ["#EEF7FC", "#CFE8F7", OKABE_ITO["sky_blue"], OKABE_ITO["blue"], "#0B2447"],
    N=64,
)
# near-white -> Okabe-Ito sky blue -> blue -> navy: the lightness falls monotonically, so the scale
# reads the same in greyscale and under colour-vision deficiencies; 64 steps keep the colour bar
# (drawn as vector quads) small.


def _confusion_layout(d: dict, max_classes: int):
    """What the matrix shows: (rows' class indices, counts, shares, column labels, subset?,
    recall per class, insufficient per class)."""
    cm, classes = _confusion(d)
    k = len(classes)
    support = row_sums(cm)
    by_label = {str(c.get("label")): c for c in _per_class(d)}
    recall = np.array(
        [
            _f(
                (((by_label.get(str(lab)) or {}).get("metrics") or {}).get("recall") or {}).get(
                    "estimate"
                )
            )
            for lab in classes
        ]
    )
    ins = np.array([_insufficient(by_label.get(str(lab)) or {}) for lab in classes])
    subset = k > max_classes
    # "worst" is judged among classes with enough samples first: with many tiny classes the
    # lowest recalls are single-sample zeros, a matrix that shows nothing (docs/design.md: no finding
    # rests on an insufficient class alone); tiny classes fill up the rest if needed.
    if subset:
        cand = [i for i in range(k) if np.isfinite(recall[i])]
        idx = sorted(cand, key=lambda i: (bool(ins[i]), recall[i], -support[i], i))[:max_classes]
        rest = np.setdiff1d(np.arange(k), idx)
        sel = np.asarray(idx, dtype=np.int64)
        if is_sparse(cm):  # the other classes' column: the row's total less the shown ones
            shown = _block(cm, sel, sel)
            mat = np.column_stack([shown, support[sel] - shown.sum(axis=1)])
        else:
            mat = np.column_stack([cm[np.ix_(sel, sel)], cm[np.ix_(sel, rest)].sum(axis=1)])
        col_labels = [_short(classes[i], 20) for i in idx] + ["(all other classes)"]
    else:
        idx = sorted(range(k), key=lambda i: (-support[i], i))
        mat = _block(cm, idx, idx)
        col_labels = [_short(classes[i], 20) for i in idx]
    rs = support[idx].astype(float)
    with np.errstate(invalid="ignore", divide="ignore"):
        share = np.where(rs[:, None] > 0, mat / np.where(rs > 0, rs, 1)[:, None], np.nan)
    return idx, mat, share, col_labels, subset, recall, ins


def _cell_mesh(ax, rows, cols, values, *, linewidth: float) -> PatchCollection:
    """One unit square per (row, column) cell, coloured by ``values`` on the report's 0-1 scale
    (vector rectangles, never an interpolated image), added to ``ax``."""
    mesh = PatchCollection(
        [Rectangle((float(c), float(r)), 1, 1) for r, c in zip(rows, cols)],
        cmap=_CMAP,
        norm=Normalize(0.0, 1.0),
        edgecolor="white",
        linewidth=linewidth,
        zorder=2,
    )
    mesh.set_array(values)
    ax.add_collection(mesh)
    return mesh


def _draw_confusion(ax, d: dict, max_classes: int, values, colorbar: bool = True) -> None:
    cm, classes = _confusion(d)
    idx, mat, share, col_labels, subset, _, _ = _confusion_layout(d, max_classes)
    row_labels = [_short(classes[i], 20) for i in idx]
    nr, nc = share.shape
    show_values = nr <= CONFUSION_VALUES_MAX if values in (None, "auto") else bool(values)
    # One rectangle per non-zero cell (vector, never an interpolated image). Zero cells are
    # left undrawn: the white background is the colour of 0, and the SVG of a sparse matrix
    # stays small; a faint grid marks the cells.
    rr, cc = np.nonzero(share > 0)
    mesh = _cell_mesh(ax, rr, cc, share[rr, cc], linewidth=0.5)
    ax.set_xticks(np.arange(nc + 1), minor=True)
    ax.set_yticks(np.arange(nr + 1), minor=True)
    ax.grid(which="minor", color="#E4E4E4", linewidth=0.5, zorder=1)
    ax.tick_params(which="minor", length=0)
    ax.add_patch(Rectangle((0, 0), nc, nr, fill=False, edgecolor=_GREY, linewidth=0.6, zorder=3))
    ax.set_xlim(0, nc)
    ax.set_ylim(nr, 0)
    ax.set_aspect("equal")
    for r in range(nr):
        if not np.isfinite(share[r]).any():  # a class with no true sample
            ax.add_patch(
                Rectangle(
                    (0, r), nc, 1, facecolor="white", edgecolor=_GREY, hatch="xxx", linewidth=0
                )
            )
        c = r  # the diagonal cell: outlined so that it is found without colour
        ax.add_patch(Rectangle((c, r), 1, 1, fill=False, edgecolor=_INK, linewidth=0.8, zorder=3))
    if subset:
        ax.axvline(nc - 1, color=_INK, linewidth=1.0)
    if show_values:  # the count over its share of the true class
        for r in range(nr):
            for c in range(nc):
                if not np.isfinite(share[r, c]) or (mat[r, c] == 0 and r != c):
                    continue
                t = f"{mat[r, c]:,}\n({_cell_text(share[r, c]) or '0%'})"
                ax.text(
                    c + 0.5,
                    r + 0.5,
                    t,
                    ha="center",
                    va="center",
                    fontsize=7,
                    linespacing=1.1,
                    color="white" if share[r, c] > 0.6 else _INK,
                    zorder=4,
                )
    rot_small = nc <= 12
    ax.set_xticks(
        np.arange(nc) + 0.5,
        col_labels,
        rotation=40 if rot_small else 90,
        ha="right" if rot_small else "center",
        rotation_mode="anchor" if rot_small else "default",
    )
    ax.set_yticks(np.arange(nr) + 0.5, row_labels)
    ax.tick_params(length=0)
    for s in ax.spines.values():
        s.set_visible(False)
    ax.set_xlabel("Predicted class")
    ax.set_ylabel(
        "True class"
        + (f" ({nr} with the lowest recall, worst first)" if subset else " (most common first)")
    )
    ax.set_anchor("N")
    if colorbar:
        cb = ax.figure.colorbar(mesh, ax=ax, shrink=0.55, aspect=25, pad=0.02)
        cb.solids.set_rasterized(False)  # matplotlib rasterises long colour bars: keep vector
        cb.set_label("Share of the true class's samples")
        cb.ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _p: f"{100 * v:.0f}%"))
        cb.outline.set_linewidth(0.5)


def _confusion_alt(d: dict, max_classes: int) -> str:
    cm, classes = _confusion(d)
    k = len(classes)
    support = row_sums(cm)
    idx, _, share, _, subset, recall, ins = _confusion_layout(d, max_classes)
    nr = share.shape[0]
    if subset:
        among = f" (classes with at least {_min_support(d)} samples first)" if ins.any() else ""
        first = (
            f"Row-normalised confusion matrix of the {nr} classes with the lowest recall"
            f"{among}, out of {k} (rows: true class, worst first; columns: predicted class, "
            f"the last pooling all other classes)"
        )
    else:
        first = (
            f"Row-normalised confusion matrix of {k} classes, most common first (rows: true "
            f"class; columns: predicted class)"
        )
    if nr <= CONFUSION_VALUES_MAX:
        first += "; each cell gives the count of samples and, in brackets, its share of the row"
    top = top_confusions(d, 1)
    second = ""
    if top:
        t = top[0]
        tsup = int(support[classes.index(t["true"])])
        second = (
            f"The largest confusion is {_q(t['true'])} predicted as {_q(t['predicted'])}: "
            f"{t['count']} of {tsup} samples ({_pct(t['share'])})"
        )
    fin = np.isfinite(recall)
    if fin.any():
        w = int(sorted(np.flatnonzero(fin), key=lambda i: (recall[i], -support[i], i))[0])
        second += ("; the" if second else "The") + (
            f" lowest recall is {_q(classes[w])}, {_num(recall[w])} "
            f"({_plural(int(support[w]), 'sample', 'samples')}"
            + (", insufficient)" if ins[w] else ")")
        )
    return first + "." + (f" {second}." if second else " No class is confused with another.")


def _confusion_size(nr: int) -> float:
    return 12.5 if nr <= 12 else 15.0


def plot_confusion_matrix(
    result, ax=None, *, max_classes: int = 30, values="auto", colorbar: bool = True
):
    """Row-normalised confusion matrix as a vector heat map (rows: true class, columns:
    predicted class), classes ordered by prevalence.

    With more than ``max_classes`` classes it shows the ``max_classes`` classes with the lowest
    recall (worst first) and a last column pooling predictions of all other classes.

    Parameters
    ----------
    result : AuditResult or dict
        The audit (anything with ``to_dict()``) or its results dict.
    ax : matplotlib.axes.Axes, optional
        Where to draw; a new figure when None.
    max_classes : int
        Most classes shown.
    values : "auto" or bool
        Print each cell's count and, in brackets, its share of the true class; "auto" does so up
        to :data:`CONFUSION_VALUES_MAX` classes, where the text still fits the cells.
    colorbar : bool
        Add a colour bar (taking room from ``ax``, as ``Figure.colorbar`` does).

    Returns
    -------
    matplotlib.axes.Axes

    Raises
    ------
    ConfigError
        When the results have no confusion matrix (multi-label).
    """
    d = _results_dict(result)
    if _confusion(d)[0] is None:
        raise _unavailable("confusion matrix (a multi-label audit has none)")
    nr = min(len(d["data"]["classes"]), max_classes)
    ax = _user_axes(ax, 16, _confusion_size(nr))
    with _safe_text():
        _draw_confusion(ax, d, max_classes, values, colorbar)
    return ax


def _confusion_figure(d: dict, max_classes: int = 30):
    if _confusion(d)[0] is None:
        return None
    nr = min(len(d["data"]["classes"]), max_classes)
    fig = _new_figure(16, _confusion_size(nr))
    _draw_confusion(fig.add_subplot(), d, max_classes, "auto")
    return fig, "Confusion matrix (row-normalised)", _confusion_alt(d, max_classes)


def confusion_plot(d: dict, *, max_classes: int = 30) -> Plot | None:
    """The report's figure of :func:`plot_confusion_matrix`. None without a confusion matrix
    (multi-label); the largest confusions with their counts are in :func:`top_confusions`."""
    return _report_plot(functools.partial(_confusion_figure, max_classes=max_classes), d)


# ------------------------------------------------------------------------------------------------
# every figure of the report


# ------------------------------------------------------------------------------------------------
# 7. the metrics as the rarest stratum's prevalence changes (prevalence shift)

_SHIFT_LINES = (
    ("overall.accuracy", "accuracy (= micro F1)", _BLUE, "-"),
    ("macro.precision", "macro precision", _VERM, "--"),
    ("macro.f1", "macro F1", _GREEN, "-."),
)


def _shift_figure(d: dict):
    shift = d.get("prevalence_shift")
    if not shift or not shift.get("sweep"):
        return None
    sweep = shift["sweep"]
    x = np.array([p["share"] for p in sweep], dtype=float)
    fig = _new_figure(16, 7.5)
    ax = fig.add_subplot()
    for key, label, color, style in _SHIFT_LINES:
        est = np.array([_f(p["metrics"][key].get("estimate")) for p in sweep])
        lo = np.array([_f(p["metrics"][key].get("ci_low")) for p in sweep])
        hi = np.array([_f(p["metrics"][key].get("ci_high")) for p in sweep])
        ax.plot(x, est, style, color=color, marker="o", markersize=3.5, linewidth=1.4, label=label)
        if np.isfinite(lo).any():
            ax.fill_between(x, lo, hi, color=color, alpha=0.15, linewidth=0)
    observed = next((p["share"] for p in sweep if p["factor"] == 1.0), None)
    if observed is not None:
        ax.axvline(observed, color=_GREY, linewidth=0.9, linestyle=":")
        ax.text(
            observed,
            1.0,
            " as evaluated",
            transform=blended_transform_factory(ax.transData, ax.transAxes),
            fontsize=7,
            color=_GREY,
            va="top",
            ha="left",
        )
    ax.set_xscale("log")
    _log_percent_axis(ax.xaxis, x.min() / 1.3, min(x.max() * 1.3, 1.0), ax.set_xlim, snap=False)
    stratum = shift.get("sweep_stratum", "rarest")
    ax.set_xlabel(f"total prevalence of the {stratum} stratum (log scale)")
    ax.set_ylabel("metric")
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.2), ncol=3, frameon=False, fontsize=7.5)
    title = f"Headline metrics as the {stratum} classes become rarer or more common"
    alt = (
        f"Accuracy, macro precision and macro F1 (lines, {_level(d)} intervals shaded) against "
        f"the {stratum} stratum's total prevalence, from {x.min():.3g} to {x.max():.3g}: "
        + "; ".join(
            f"{label} from {_num(sweep[0]['metrics'][key].get('estimate'))} to "
            f"{_num(sweep[-1]['metrics'][key].get('estimate'))}"
            for key, label, _, _ in _SHIFT_LINES
        )
        + ". Label shift assumed: each class's samples look the same, only prevalences change."
    )
    return fig, title, alt


# ------------------------------------------------------------------------------------------------
# 8. reliability curves (calibration of the probabilities)

#: Reliability panels: up to this many of the rarest and of the most common classes.
RELIABILITY_CLASSES = 3


def reliability_classes(d: dict) -> list:
    """The classes whose reliability curves the report draws: up to
    :data:`RELIABILITY_CLASSES` of the rarest and as many of the most common, among those with
    at least one sample, rarest first (all of them when there are few)."""
    cal = d.get("calibration") or {}
    present = sorted(
        (c for c in cal.get("per_class", ()) if c["support"] >= 1 and c.get("bins")),
        key=lambda c: (c["support"], str(c["label"])),
    )
    n = RELIABILITY_CLASSES
    if len(present) <= 2 * n:
        return present
    return present[:n] + present[-n:]


def _draw_reliability(ax, bins, title: str, *, xlabel: bool, ylabel: bool) -> None:
    ax.plot([0, 1], [0, 1], color=_GREY, linewidth=0.8, linestyle="--", zorder=1)
    x = np.array([_f(b["mean_score"]) for b in bins])
    y = np.array([_f(b["observed"]) for b in bins])
    lo = np.array([_f(b.get("ci_low")) for b in bins])
    hi = np.array([_f(b.get("ci_high")) for b in bins])
    ax.errorbar(
        x,
        y,
        yerr=_interval_arrays(y, lo, hi),
        fmt="o",
        color=_BLUE,
        markersize=3.2,
        elinewidth=0.8,
        capsize=1.5,
        zorder=3,
    )
    ax.plot(x, y, color=_BLUE, linewidth=0.7, alpha=0.6, zorder=2)
    ax.set_xlim(-0.03, 1.03)  # a margin, so that points at 0 or 1 are not cut in half
    ax.set_ylim(-0.03, 1.03)
    ax.set_aspect("equal")
    ticks = [0, 0.5, 1]
    ax.set_xticks(ticks, ["0", "0.5", "1"])
    ax.set_yticks(ticks, ["0", "0.5", "1"])
    ax.set_title(title, fontsize=7.5)
    if xlabel:
        ax.set_xlabel("predicted", fontsize=7)
    if ylabel:
        ax.set_ylabel("observed", fontsize=7)


def _reliability_figure(d: dict):
    cal = d.get("calibration")
    if not cal:
        return None
    chosen = reliability_classes(d)
    top = cal.get("top_label_bins") or []
    panels = [(f"{_short(c['label'], 12)} (n = {c['support']:,})", c["bins"]) for c in chosen]
    n_rows = sum(b["n"] for b in top)
    if top:
        panels.append((f"top label (n = {n_rows:,})", top))
    if not panels:
        return None
    ncols = min(4, len(panels))
    nrows = -(-len(panels) // ncols)
    fig = _new_figure(16, 4.6 * nrows + 0.6)
    axes = fig.subplots(nrows, ncols, squeeze=False)
    for i, ax in enumerate(axes.flat):
        if i >= len(panels):
            ax.set_axis_off()
            continue
        title, bins = panels[i]
        _draw_reliability(
            ax,
            bins,
            title,
            xlabel=i // ncols == nrows - 1 or i + ncols >= len(panels),
            ylabel=i % ncols == 0,
        )
    title = "Reliability curves: observed frequency against mean predicted probability"
    names = _and_join([_q(c["label"]) for c in chosen]) if chosen else "no class"
    alt = (
        f"Reliability curves ({cal['n_bins']} equal-mass bins, points with pointwise "
        f"{_level(d)} intervals, the diagonal for perfect calibration) of {names}"
        + (" and of the top label" if top else "")
        + f". Classwise ECE {_est(cal['classwise_ece'], bounds=(0.0,))}; top-label ECE "
        f"{_est(cal['top_label_ece'], bounds=(0.0,))}."
    )
    return fig, title, alt


# ------------------------------------------------------------------------------------------------
# 9. within subgroups: class x level recall, and the disparities against the rest
#
# Values come through prevalens.exports.subgroup_value/subgroup_disparities, which withhold every
# suppressed value, also when results.json discloses it: a suppressed cell is drawn hatched grey,
# never with a number, and no alt text names one.

#: The subgroup heat map and forest plot show at most this many classes of a grouping.
SUBGROUP_CLASSES = 30
#: The forest plot of a grouping shows at most this many disparities.
SUBGROUP_FOREST_ROWS = 40
#: The heat map prints each value with its interval up to this many levels (and
#: :data:`_SUBGROUP_CI_ROWS` classes), the value alone up to :data:`_SUBGROUP_VALUE_COLUMNS`.
SUBGROUP_CI_COLUMNS = 5
_SUBGROUP_CI_ROWS = 20
_SUBGROUP_VALUE_COLUMNS = 14
_SUPPRESSED_FACE, _SUPPRESSED_EDGE = "#D9D9D9", "#8C8C8C"


def _grouping(d: dict, grouping) -> dict:
    """The grouping of the results' subgroups named ``grouping`` (or at that index)."""
    sub = d.get("subgroups") or {}
    groupings = sub.get("groupings") or []
    if isinstance(grouping, int) and not isinstance(grouping, bool):
        if 0 <= grouping < len(groupings):
            return groupings[grouping]
    else:
        for g in groupings:
            if g["name"] == grouping:
                return g
    names = ", ".join(repr(g["name"]) for g in groupings) or "none"
    raise ConfigError(
        f"`grouping` must name a grouping of the subgroups or be its index; got {grouping!r} "
        f"(groupings: {names})"
    )


def subgroup_classes(d: dict, g: dict, max_classes: int = SUBGROUP_CLASSES) -> list:
    """The classes the subgroup figures of grouping ``g`` show, most common first: all of them
    up to ``max_classes``; else, taken in turn, those with a claimed difference from the rest
    (adjusted interval excluding 0) and the rarest, among the classes with a value shown in at
    least one level."""
    from .. import exports

    classes = sorted(_per_class(d), key=lambda c: (-c["support"], str(c["label"])))
    labels = [c["label"] for c in classes]
    if len(labels) <= max_classes:
        return labels
    withheld = exports.subgroup_withheld(g)
    shown = {
        c["label"]
        for lv in g["levels"]
        for c in lv["cells"]
        if exports.subgroup_value(withheld, lv, "recall", c) is not None
    }
    by_rarity = [lab for lab in reversed(labels) if lab in shown]
    claimed = [
        lab
        for lab in by_rarity
        if any(
            x["label"] == lab and x["against"] == "rest" and exports.subgroup_claimed(x)
            for x in exports.subgroup_disparities(g, withheld)
        )
    ]
    chosen: list = []
    queues = [claimed, by_rarity]
    while len(chosen) < max_classes and any(queues):
        for q in queues:
            while q:
                lab = q.pop(0)
                if lab not in chosen:
                    chosen.append(lab)
                    break
            if len(chosen) >= max_classes:
                break
    return [lab for lab in labels if lab in chosen]


def _subgroup_matrix(d: dict, g: dict):
    """(labels, levels, recall estimates as dicts or None (withheld), suppressed mask)."""
    from .. import exports

    withheld = exports.subgroup_withheld(g)
    labels = subgroup_classes(d, g)
    levels = g["levels"]
    est = [[None] * len(levels) for _ in labels]
    hidden = np.zeros((len(labels), len(levels)), dtype=bool)
    for j, lv in enumerate(levels):
        cells = {c["label"]: c for c in lv["cells"]}
        for i, lab in enumerate(labels):
            cell = cells.get(lab)
            e = None if cell is None else exports.subgroup_value(withheld, lv, "recall", cell)
            est[i][j] = e
            hidden[i, j] = e is None
    return labels, levels, est, hidden


def _subgroup_heatmap_size(nr: int, nc: int) -> float:
    with_ci = nc <= SUBGROUP_CI_COLUMNS and nr <= _SUBGROUP_CI_ROWS
    return min(3.6 + nr * (0.8 if with_ci else 0.45), 24.0)


def _draw_subgroup_heatmap(
    ax, d: dict, g: dict, *, colorbar: bool = True, legend: str = "axes"
) -> None:
    """``legend``: "axes" (under the Axes) or "figure" (below everything, the report's)."""
    labels, levels, est, hidden = _subgroup_matrix(d, g)
    nr, nc = len(labels), len(levels)
    with_ci = nc <= SUBGROUP_CI_COLUMNS and nr <= _SUBGROUP_CI_ROWS
    with_value = nc <= _SUBGROUP_VALUE_COLUMNS
    value = np.array(
        [[_f((est[i][j] or {}).get("estimate")) for j in range(nc)] for i in range(nr)]
    ).reshape(nr, nc)
    rr, cc = np.nonzero(np.isfinite(value) & ~hidden)
    mesh = _cell_mesh(ax, rr, cc, value[rr, cc], linewidth=0.8)
    for r, c in zip(*np.nonzero(hidden)):
        ax.add_patch(
            Rectangle(
                (float(c), float(r)),
                1,
                1,
                facecolor=_SUPPRESSED_FACE,
                edgecolor=_SUPPRESSED_EDGE,
                hatch="////",
                linewidth=0,
                zorder=2,
            )
        )
    undefined = ~hidden & ~np.isfinite(value)
    for r in range(nr):
        for c in range(nc):
            if undefined[r, c]:
                ax.text(
                    c + 0.5,
                    r + 0.5,
                    "undefined",
                    ha="center",
                    va="center",
                    fontsize=7,
                    color=_GREY,
                    zorder=4,
                )
            elif not hidden[r, c] and with_value:
                text = _est(est[r][c])
                v, _, ci = text.partition(" ")
                ax.text(
                    c + 0.5,
                    r + 0.5,
                    f"{v}\n{ci}" if with_ci and ci.startswith("[") else v,
                    ha="center",
                    va="center",
                    fontsize=7,
                    linespacing=1.15,
                    color="white" if value[r, c] > 0.6 else _INK,
                    zorder=4,
                )
    ax.add_patch(Rectangle((0, 0), nc, nr, fill=False, edgecolor=_GREY, linewidth=0.6, zorder=3))
    ax.set_xlim(0, nc)
    ax.set_ylim(nr, 0)
    rotate = nc > 6
    ax.set_xticks(
        np.arange(nc) + 0.5,
        [_short(lv["level"], 16) + (" (suppressed)" if lv["suppressed"] else "") for lv in levels],
        rotation=35 if rotate else 0,
        ha="right" if rotate else "center",
        rotation_mode="anchor" if rotate else "default",
    )
    ax.set_yticks(np.arange(nr) + 0.5, [_short(lab, 22) for lab in labels])
    ax.tick_params(length=0)
    for s in ax.spines.values():
        s.set_visible(False)
    ax.set_xlabel(f"Level of {_short(g['name'], 40)}")
    ax.set_ylabel("Class (most common first)")
    min_cell = (d.get("subgroups") or {}).get("min_cell", 10)
    handles = [
        Patch(
            facecolor=_SUPPRESSED_FACE,
            edgecolor=_SUPPRESSED_EDGE,
            hatch="////",
            label=f"suppressed: fewer than {min_cell} true samples (no value shown)",
        )
    ]
    if legend == "figure":
        ax.figure.legend(handles=handles, loc="outside lower center", frameon=False, fontsize=7)
    else:
        ax.legend(
            handles=handles,
            loc="upper center",
            bbox_to_anchor=(0.5, -0.12 if not rotate else -0.3),
            frameon=False,
            fontsize=7,
        )
    if colorbar:
        cb = ax.figure.colorbar(mesh, ax=ax, shrink=0.7, aspect=20, pad=0.02)
        cb.solids.set_rasterized(False)
        cb.set_label("Recall")
        cb.outline.set_linewidth(0.5)


def _subgroup_heatmap_alt(d: dict, g: dict) -> str:
    labels, levels, est, hidden = _subgroup_matrix(d, g)
    nr, nc = len(labels), len(levels)
    k = len(_per_class(d))
    with_ci = nc <= SUBGROUP_CI_COLUMNS and nr <= _SUBGROUP_CI_ROWS
    min_cell = (d.get("subgroups") or {}).get("min_cell", 10)
    text = (
        f"Heat map of the recall of {nr} classes (rows, most common first) within the {nc} "
        f"levels of {_q(g['name'])} (columns), darker for higher recall"
    )
    if nc <= _SUBGROUP_VALUE_COLUMNS:
        text += (
            f"; each cell gives the recall and its {_level(d)} interval"
            if with_ci
            else "; each cell gives the recall (the intervals are in subgroups.csv)"
        )
    n_hidden = int(hidden.sum())
    text += (
        f". {_plural(n_hidden, 'hatched grey cell is', 'hatched grey cells are')} suppressed "
        f"(fewer than {min_cell} true samples) and show{'s' if n_hidden == 1 else ''} no value."
    )
    if nr < k:
        text += (
            f" {k - nr} of {k} classes are left out: shown are those with a claimed difference "
            "from the rest and the rarest with a value shown; every value is in subgroups.csv."
        )
    vals = [
        (_f(est[i][j].get("estimate")), i, j)
        for i in range(nr)
        for j in range(nc)
        if est[i][j] is not None and est[i][j].get("estimate") is not None
    ]
    if vals:
        v, i, j = min(vals)
        text += (
            f" Lowest shown recall: {_q(labels[i])} in {_q(levels[j]['level'])}, {_est(est[i][j])}."
        )
    return text


def _subgroup_heatmap_figure(d: dict, gi: int):
    g = _grouping(d, gi)
    labels = subgroup_classes(d, g)
    fig = _new_figure(16, _subgroup_heatmap_size(len(labels), len(g["levels"])))
    _draw_subgroup_heatmap(fig.add_subplot(), d, g, legend="figure")
    title = f"Recall of each class within the levels of {_clean(g['name'])}"
    return fig, title, _subgroup_heatmap_alt(d, g)


def _subgroup_forest_rows(d: dict, g: dict) -> tuple[list, int]:
    """The disparities against the rest the forest plot shows (accuracy of every level, then the
    claimed recall differences, then those of the heat map's classes, rarest first) in display
    order, and how many there are in all."""
    from .. import exports

    withheld = exports.subgroup_withheld(g)
    rest = [
        x
        for x in exports.subgroup_disparities(g, withheld)
        if x["against"] == "rest" and x["metric"] in ("accuracy", "recall")
    ]
    order = {lab: i for i, lab in enumerate(subgroup_classes(d, g, len(_per_class(d))))}
    rarest_first = subgroup_classes(d, g)[::-1]
    acc = [x for x in rest if x["metric"] == "accuracy"]
    rec = [x for x in rest if x["metric"] == "recall"]
    claimed = sorted(
        (x for x in rec if exports.subgroup_claimed(x)),
        key=lambda x: -abs(_f(x["difference"].get("estimate"))),
    )
    others = [x for lab in rarest_first for x in rec if x["label"] == lab and x not in claimed]
    chosen = (acc + claimed + others)[: max(SUBGROUP_FOREST_ROWS, len(acc))]
    level_order = {lv["level"]: i for i, lv in enumerate(g["levels"])}
    chosen.sort(
        key=lambda x: (
            level_order.get(x["level"], 0),
            x["metric"] != "accuracy",
            order.get(x["label"], -1),
        )
    )
    return chosen, len(acc) + len(rec)


def _draw_subgroup_forest(ax, d: dict, g: dict, *, legend: str = "axes") -> None:
    """``legend``: "axes" (under the Axes) or "figure" (below everything, the report's)."""
    from .. import exports

    rows, _ = _subgroup_forest_rows(d, g)
    n = len(rows)
    y = np.arange(n)
    est = np.array([_f(x["difference"].get("estimate")) for x in rows])
    lo = np.array([_f(x["difference"].get("ci_low")) for x in rows])
    hi = np.array([_f(x["difference"].get("ci_high")) for x in rows])
    claimed = np.array([exports.subgroup_claimed(x) for x in rows], dtype=bool)
    ax.axvline(0.0, color=_INK, linewidth=0.8, zorder=1)
    for mask, style in (
        (~claimed, dict(fmt="o", color=_BLUE, markerfacecolor="white", markersize=4)),
        (claimed, dict(fmt="D", color=_VERM, markersize=4.5)),
    ):
        if mask.any():
            ax.errorbar(
                est[mask],
                y[mask],
                xerr=_interval_arrays(est[mask], lo[mask], hi[mask]),
                elinewidth=0.9,
                capsize=1.5,
                zorder=3,
                **style,
            )
    for i in range(1, n):  # a rule between levels
        if rows[i]["level"] != rows[i - 1]["level"]:
            ax.axhline(i - 0.5, color="#DDDDDD", linewidth=0.6, zorder=0)
    ticks = [
        f"{_short(x['level'], 14)}: "
        + ("accuracy" if x["metric"] == "accuracy" else f"recall of {_short(x['label'], 18)}")
        for x in rows
    ]
    ax.set_yticks(y, ticks)
    ax.set_ylim(n - 0.5, -0.5)
    ax.tick_params(axis="y", length=0)
    ax.xaxis.grid(True)
    ax.set_axisbelow(True)
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _p: _num(v, 2, bounds=())))
    ax.set_xlabel("Difference from the rest of the rows (level minus rest)")
    handles = [
        Line2D(
            [],
            [],
            color=_BLUE,
            marker="o",
            markerfacecolor="white",
            linestyle="none",
            label=f"difference with its {_level(d)} interval",
        ),
        Line2D(
            [],
            [],
            color=_VERM,
            marker="D",
            linestyle="none",
            label=f"its {_adjustment_name(d)}-adjusted interval excludes 0 (claimed)",
        ),
    ]
    if legend == "figure":
        ax.figure.legend(
            handles=handles, loc="outside lower center", ncol=2, frameon=False, fontsize=7
        )
    else:
        ax.legend(
            handles=handles,
            loc="upper center",
            bbox_to_anchor=(0.5, -0.8 / max(n, 4) - 0.1),
            ncol=2,
            frameon=False,
            fontsize=7,
        )


def _adjustment_name(d: dict) -> str:
    fam = d.get("family") or {}
    how = fam.get("adjustment") or ((d.get("run") or {}).get("config") or {}).get(
        "divergence_adjustment"
    )
    return str(how or "holm").capitalize()


def _subgroup_forest_alt(d: dict, g: dict) -> str:
    from .. import exports

    rows, total = _subgroup_forest_rows(d, g)
    claimed = [x for x in rows if exports.subgroup_claimed(x)]
    text = (
        f"Forest plot of {len(rows)} differences from the rest of the rows (level minus rest) "
        f"in {_q(g['name'])}: each level's accuracy and the recall of classes, with "
        f"{_level(d)} intervals; a vertical line marks 0."
    )
    if len(rows) < total:
        text += (
            f" {total - len(rows)} of {total} are left out: shown are every level's accuracy, "
            "the claimed recall differences and then those of the rarest classes (all are in "
            "subgroup_disparities.csv)."
        )
    if claimed:
        text += (
            f" {len(claimed)} with a {_adjustment_name(d)}-adjusted interval that excludes 0 "
            "(diamonds): "
            + "; ".join(
                f"{_q(x['level'])} "
                + ("accuracy" if x["label"] is None else f"recall of {_q(x['label'])}")
                + f" {_signed(x['difference'])}"
                for x in claimed[:3]
            )
            + (" and more" if len(claimed) > 3 else "")
            + "."
        )
    else:
        text += f" None has a {_adjustment_name(d)}-adjusted interval that excludes 0."
    return text


def _subgroup_forest_figure(d: dict, gi: int):
    g = _grouping(d, gi)
    rows, _ = _subgroup_forest_rows(d, g)
    if not rows:
        return None
    fig = _new_figure(16, 2.6 + 0.38 * len(rows))
    _draw_subgroup_forest(fig.add_subplot(), d, g, legend="figure")
    title = f"Differences from the rest of the rows within {_clean(g['name'])}"
    return fig, title, _subgroup_forest_alt(d, g)


def plot_subgroup_recall(result, ax=None, *, grouping=0, colorbar: bool = True):
    """Recall of each class (rows, at most :data:`SUBGROUP_CLASSES`, see
    :func:`subgroup_classes`) within each level of a grouping (columns) as a vector heat map;
    suppressed cells hatched grey, with no value.

    Parameters
    ----------
    result : AuditResult or dict
        An audit made within subgroups, or its results dict.
    ax : matplotlib.axes.Axes, optional
        Where to draw; a new figure when None.
    grouping : int or str
        The grouping, by index or name.
    colorbar : bool
        Add a colour bar.

    Returns
    -------
    matplotlib.axes.Axes

    Raises
    ------
    ConfigError
        When the results have no such grouping.
    """
    d = _results_dict(result)
    g = _grouping(d, grouping)
    ax = _user_axes(ax, 16, _subgroup_heatmap_size(len(subgroup_classes(d, g)), len(g["levels"])))
    with _safe_text():
        _draw_subgroup_heatmap(ax, d, g, colorbar=colorbar)
    return ax


def plot_subgroup_disparities(result, ax=None, *, grouping=0):
    """Forest plot of the differences from the rest of the rows within a grouping: each level's
    accuracy and the recall of classes (at most :data:`SUBGROUP_FOREST_ROWS` rows), diamonds
    where the adjusted interval excludes 0.

    Parameters
    ----------
    result : AuditResult or dict
        An audit made within subgroups, or its results dict.
    ax : matplotlib.axes.Axes, optional
        Where to draw; a new figure when None.
    grouping : int or str
        The grouping, by index or name.

    Returns
    -------
    matplotlib.axes.Axes
    """
    d = _results_dict(result)
    g = _grouping(d, grouping)
    rows, _ = _subgroup_forest_rows(d, g)
    ax = _user_axes(ax, 16, 2.6 + 0.38 * max(len(rows), 1))
    with _safe_text():
        _draw_subgroup_forest(ax, d, g)
    return ax


def subgroup_figure_keys(d: dict) -> list:
    """The keys of the subgroup figures :func:`render_figures` adds, per grouping (numbered from
    1): ``subgroup_recall-1``, ``subgroup_forest-1``, ..."""
    groupings = (d.get("subgroups") or {}).get("groupings") or []
    return [
        f"{kind}-{i}"
        for i in range(1, len(groupings) + 1)
        for kind in ("subgroup_recall", "subgroup_forest")
    ]


def _report_plot(build, d: dict, formats=("svg",)) -> Plot | None:
    """Build a report figure in the report's style and print it in ``formats``."""
    with _style():
        made = build(d)
        if made is None:
            return None
        fig, title, alt = made
        try:
            svg = _render(fig, title, "svg") if "svg" in formats else ""
            pdf = _render(fig, title, "pdf") if "pdf" in formats else None
        finally:
            fig.clear()
    return Plot(svg, alt, title, pdf)


_BUILDERS = {  # FIGURES key -> builder of the report's figure
    "prevalence": _prevalence_figure,
    "forest": _forest_figure,
    "curves": _curves_figure,
    "strata": _strata_figure,
    "trend": _mvp_figure,
    "shift": _shift_figure,
    "confusion": _confusion_figure,
    "reliability": _reliability_figure,
}


def render_figures(d: dict, formats=("svg",)) -> dict:
    """Every figure of the report, in the order of :data:`FIGURES`.

    Parameters
    ----------
    d : dict
        The results dict.
    formats : tuple of {"svg", "pdf"}
        What to print each figure as.

    Returns
    -------
    dict
        Key of :data:`FIGURES` -> :class:`Plot`; a figure the results cannot give (curves
        without scores, the matrix of a multi-label audit) is left out. An audit within
        subgroups adds, per grouping, the keys of :func:`subgroup_figure_keys` after them.
    """
    out = {}
    for key in FIGURES:
        plot = _report_plot(_BUILDERS[key], d, formats)
        if plot is not None:
            out[key] = plot
    for key in subgroup_figure_keys(d):
        kind, _, i = key.rpartition("-")
        build = _subgroup_heatmap_figure if kind == "subgroup_recall" else _subgroup_forest_figure
        plot = _report_plot(functools.partial(build, gi=int(i) - 1), d, formats)
        if plot is not None:
            out[key] = plot
    return out
