"""How numbers and metric names are shown: the one formatting module of every reporter.

The findings' text, the report's tables and figures, the exports (CSV headers aside, which hold
exact numbers) and the command line's summary all print numbers through these functions, so one
quantity reads the same wherever it appears.

Display rules
-------------
* An estimate with its interval reads ``0.61 [0.58, 0.64]``; the number of decimals follows the
  interval's width (:func:`digits_for_width`: 2 for a width of 0.01 or more, 3 below, 4 below
  0.001), and the estimate and both bounds share it.
* A value is never shown as a bound it is not: a metric in [0, 1] never reads 0 or 1 (nor 0% or
  100%) unless it is exactly that, a difference never reads 0 unless it is exactly 0; more
  decimals are shown until it does not (coverage.py's ``display_covered`` rule): up to 6 for an
  estimate and for a difference's bounds (whose sign matters), up to 4 for the bounds of a metric
  in [0, 1], beyond which a bound reads as a comparison with the nearest value shown
  (``0.9998 [0.9622, >0.9999]``). ``-0.00`` is never printed.
* Undefined values (NaN, or ``None`` in the JSON) read ``undefined``.

This module imports nothing from prevalens: it works on numbers and on anything with the fields
``estimate``, ``ci_low`` and ``ci_high`` (an :class:`~prevalens.Estimate` or its JSON form).
"""

from __future__ import annotations

import math
from collections.abc import Mapping

__all__ = [
    "METRIC_NAMES",
    "metric_name",
    "metric_text",
    "quantity_text",
    "digits_for_width",
    "estimate_digits",
    "fmt_number",
    "fmt_estimate",
    "fmt_signed",
    "fmt_signed_number",
    "fmt_interval",
    "fmt_percent",
    "fmt_share",
    "fmt_gate_value",
    "fmt_level",
    "json_number",
    "MINUS",
]

#: The typographic minus sign, for figures (a hyphen in tables and text files).
MINUS = "\u2212"

#: Metric key -> (name in a table heading, name in running text).
METRIC_NAMES: dict[str, tuple[str, str]] = {
    "precision": ("Precision", "precision"),
    "recall": ("Recall", "recall"),
    "f1": ("F1", "F1"),
    "specificity": ("Specificity", "specificity"),
    "npv": ("NPV", "NPV"),
    "jaccard": ("Jaccard", "Jaccard index"),
    "prevalence": ("Prevalence", "prevalence"),
    "roc_auc": ("ROC AUC", "ROC AUC"),
    "average_precision": ("Average precision", "average precision"),
    "accuracy": ("Accuracy", "accuracy"),
    "balanced_accuracy": ("Balanced accuracy", "balanced accuracy"),
    "cohen_kappa": ("Cohen's kappa", "Cohen's kappa"),
    "mcc": ("MCC", "MCC"),
    "roc_auc_ovo": ("One-vs-one ROC AUC (Hand & Till)", "one-vs-one ROC AUC"),
    "top_3_accuracy": ("Top-3 accuracy", "top-3 accuracy"),
    "top_5_accuracy": ("Top-5 accuracy", "top-5 accuracy"),
    "log_loss": ("Log loss", "log loss"),
    "brier": ("Brier score", "Brier score"),
}


def metric_name(key: str) -> str:
    """A metric's name as a table heading: ``"Recall"``, ``"ROC AUC"``."""
    names = METRIC_NAMES.get(key)
    return names[0] if names else key.replace("_", " ")


def metric_text(key: str) -> str:
    """A metric's name inside a sentence: ``"recall"``, ``"Jaccard index"``."""
    names = METRIC_NAMES.get(key)
    return names[1] if names else key.replace("_", " ")


def quantity_text(q: str) -> str:
    """A dotted quantity name in words: ``macro.f1`` -> ``macro F1``, ``overall.accuracy`` ->
    ``accuracy``.

    >>> quantity_text("macro.roc_auc"), quantity_text("overall.log_loss")
    ('macro ROC AUC', 'log loss')
    """
    head, _, metric = q.partition(".")
    if not metric:
        return metric_text(head)
    if head == "overall":
        return metric_text(metric)
    return f"{head} {metric_text(metric)}"


def json_number(x) -> float | None:
    """A number as JSON holds it: a finite float, or ``None`` (JSON has no NaN or infinity)."""
    if x is None:
        return None
    x = float(x)
    return x if math.isfinite(x) else None


def _missing(x) -> bool:
    return x is None or (isinstance(x, float) and math.isnan(x))


def _field(e, name):
    """``e[name]`` of a JSON estimate or ``e.name`` of an Estimate, as float or None."""
    if e is None:
        return None
    v = e.get(name) if isinstance(e, Mapping) else getattr(e, name, None)
    return None if _missing(v) else float(v)


def digits_for_width(width) -> int:
    """Decimals for an interval of this width: 2 (>= 0.01, or no interval), 3 (>= 0.001), else 4."""
    if width is None or not math.isfinite(width) or width >= 0.01:
        return 2
    return 3 if width >= 0.001 else 4


def fmt_number(
    x, digits: int = 2, *, bounds=(0.0, 1.0), minus: str = "-", max_digits: int = 6
) -> str:
    """``x`` with ``digits`` decimals, never showing a value of ``bounds`` that ``x`` is not
    (more decimals, up to ``max_digits``, until it does not; beyond that, a comparison with the
    nearest value that can be shown: ``>0.9999`` for 0.9999988 at 4 decimals, ``<0.0001`` for
    3e-7), and never ``-0.00``. A value within 1e-12 of a bound is that bound with rounding noise
    (a gap of -1.1e-16 between equal averages) and is printed as the bound.

    >>> fmt_number(0.99961, 2)
    '0.9996'
    >>> fmt_number(0.9999988, 2, max_digits=4)
    '>0.9999'
    """
    if _missing(x):
        return "undefined"
    x = float(x)
    x = next((float(b) for b in bounds if abs(x - b) < 1e-12), x)
    digits = max(digits, 0)
    text = f"{x:.{digits}f}"
    while digits < max_digits and _reads_as_bound(text, x, bounds):
        digits += 1
        text = f"{x:.{digits}f}"
    if _reads_as_bound(text, x, bounds):
        b = float(text)
        step = 10.0**-digits
        text = f"<{b + step:.{digits}f}" if x > b else f">{b - step:.{digits}f}"
    elif float(text) == 0:
        text = f"{0.0:.{digits}f}"
    return text.replace("-", minus) if minus != "-" else text


def _reads_as_bound(text: str, x: float, bounds) -> bool:
    return any(float(text) == b and x != b for b in bounds)


def _digits_needed(x, digits: int, bounds, max_digits: int) -> int:
    """The decimals :func:`fmt_number` prints ``x`` with."""
    text = fmt_number(x, digits, bounds=bounds, max_digits=max_digits)
    return len(text.split(".")[-1]) if "." in text else 0


#: Decimals an interval's bound of a metric in [0, 1] may add to an estimate [interval] to avoid
#: reading as 0 or 1; a bound closer than that reads ``>0.9999`` or ``<0.0001`` (the estimate
#: itself, and a difference's bounds, whose sign matters, may use 6).
BOUND_DIGITS = 4


def estimate_digits(e, digits: int | None = None, *, bounds=(0.0, 1.0)) -> int:
    """The decimals :func:`fmt_estimate` prints ``e`` with: from the interval width unless given,
    then the most that the estimate (up to 6) or a bound (up to :data:`BOUND_DIGITS`) needs so as
    not to read as a bound."""
    est, lo, hi = _field(e, "estimate"), _field(e, "ci_low"), _field(e, "ci_high")
    if digits is None:
        digits = digits_for_width(hi - lo if lo is not None and hi is not None else None)
    needs = [_digits_needed(est, digits, bounds, 6)]
    if lo is not None and hi is not None:
        # a difference's bound near 0 keeps its sign (whether the interval excludes 0 shows)
        cap = max(digits, BOUND_DIGITS) if 1.0 in bounds else 6
        needs += [_digits_needed(v, digits, bounds, cap) for v in (lo, hi)]
    return max(needs)


def fmt_estimate(
    e, digits: int | None = None, *, bounds=(0.0, 1.0), minus: str = "-", no_interval: str = ""
) -> str:
    """``"0.61 [0.58, 0.64]"``; ``"0.61"`` without an interval (followed by ``no_interval``);
    ``"undefined"``; ``"not computed"`` when the note says so (a metric the input does not
    allow, e.g. log loss of scores that are not probabilities). ``e`` is an
    :class:`~prevalens.Estimate` or its JSON form.

    Examples
    --------
    >>> fmt_estimate({"estimate": 0.6123, "ci_low": 0.58, "ci_high": 0.64})
    '0.61 [0.58, 0.64]'
    >>> fmt_estimate({"estimate": 0.99961, "ci_low": 0.9991, "ci_high": 0.99987})
    '0.9996 [0.9991, 0.9999]'
    >>> fmt_estimate({"estimate": None})
    'undefined'
    >>> fmt_estimate({"estimate": None, "note": "not computed: scores are not probabilities"})
    'not computed'
    """
    est = _field(e, "estimate")
    if est is None:
        note = e.get("note") if isinstance(e, Mapping) else getattr(e, "note", None)
        if isinstance(note, str) and note.startswith("not computed"):
            return "not computed"
        return "undefined"
    lo, hi = _field(e, "ci_low"), _field(e, "ci_high")
    digits = estimate_digits(e, digits, bounds=bounds)
    text = fmt_number(est, digits, bounds=bounds, minus=minus)
    if lo is None or hi is None:
        return text + no_interval
    return (
        f"{text} [{fmt_number(lo, digits, bounds=bounds, minus=minus, max_digits=digits)}, "
        f"{fmt_number(hi, digits, bounds=bounds, minus=minus, max_digits=digits)}]"
    )


def fmt_signed(
    e, digits: int | None = None, *, bounds=(0.0,), minus: str = "-", no_interval: str = ""
) -> str:
    """An estimate whose sign matters (a difference, a slope): ``+0.35 [0.26, 0.46]``."""
    text = fmt_estimate(e, digits, bounds=bounds, minus=minus, no_interval=no_interval)
    est = _field(e, "estimate")
    return "+" + text if est is not None and est > 0 else text


def fmt_signed_number(x, digits: int = 2, *, bounds=(0.0,), minus: str = "-") -> str:
    """:func:`fmt_number` of a number whose sign matters (a difference): ``+0.12``, ``-0.03``.

    >>> fmt_signed_number(0.1234, 2), fmt_signed_number(-0.03, 2), fmt_signed_number(0.0, 2)
    ('+0.12', '-0.03', '0.00')
    """
    text = fmt_number(x, digits, bounds=bounds, minus=minus)
    return "+" + text if not _missing(x) and float(x) > 0 else text


def fmt_interval(low, high, digits: int, *, bounds=(0.0,)) -> str:
    """``"[-0.27, -0.12]"``: an interval on its own (e.g. an adjusted one beside its estimate)."""
    return f"[{fmt_number(low, digits, bounds=bounds)}, {fmt_number(high, digits, bounds=bounds)}]"


def fmt_percent(x, digits: int | None = None) -> str:
    """A fraction as a percentage, never 0% or 100% unless exact. By default one decimal, and
    two significant digits below 1% (0.25%, 0.040%), where one decimal would merge classes."""
    if _missing(x):
        return "undefined"
    pct = 100.0 * float(x)
    if digits is None:
        digits = 1 if abs(pct) >= 1 or pct == 0 else min(6, 1 - math.floor(math.log10(abs(pct))))
    return fmt_number(pct, digits, bounds=(0.0, 100.0)) + "%"


def fmt_share(x, *, minus: str = "-") -> str:
    """A share as a percentage with two significant digits (``17%``, ``4.2%``), for figure cells
    where space is short; never 0% or 100% unless exact."""
    if _missing(x) or not math.isfinite(float(x)):
        return "undefined"
    v = 100.0 * float(x)
    if v == 0 or v == 100:
        return f"{v:.0f}%"
    digits = max(0, min(4, 1 - math.floor(math.log10(abs(v)))))
    return fmt_number(v, digits, bounds=(0.0, 100.0), minus=minus) + "%"


def fmt_gate_value(item: Mapping) -> str:
    """A gate's checked value with enough decimals that its side of the threshold is visible
    (0.69996 against 0.7 reads 0.69996, not 0.70), and at least the decimals of the estimate
    [interval] printed beside it."""
    value, threshold = item.get("value"), item.get("threshold")
    if value is None:
        return "undefined"
    e = item.get("estimate") or {}
    digits = estimate_digits(e) if _field(e, "estimate") is not None else digits_for_width(None)
    text = fmt_number(value, digits)
    if isinstance(threshold, (int, float)):
        while digits < 6 and (
            (float(text) == threshold) != (value == threshold)
            or (float(text) < threshold) != (value < threshold)
        ):
            digits += 1
            text = fmt_number(value, digits)
    return text


def fmt_level(x) -> str:
    """A confidence level as a percentage without rounding it: ``95%``, ``97.5%``."""
    return f"{100 * float(x):.10g}%"
