"""Exports of an audit for paper supplements and CI logs: CSV tables, a Markdown summary and LaTeX
tables, each made from the results dict (``AuditResult.to_dict()``, the parsed ``results.json``).

Every function here is pure: it takes the dict and returns UTF-8 ``bytes``; nothing reads or writes
a file (the command line writes what :func:`export_files` returns, atomically). Identical results
give identical bytes.

Text that comes from the user (class labels, stratum names, file paths, findings that quote labels)
is made harmless for each format:

* CSV: RFC 4180 (``\\r\\n`` row ends, so a field holding a CR or LF is quoted and every reader
  round-trips it); a text cell that a spreadsheet would execute (starting with ``= + - @``, tab or
  CR) gets a leading ``'``; numbers stay unquoted numbers, written with ``repr`` so they read back
  exactly.
* Markdown: ``\\ ` * _ [ ] < > | ~ &`` are backslash-escaped and line breaks become spaces, so
  a label can neither add a table column nor inject HTML; ``@name`` and ``#12`` get an invisible
  word joiner so that a summary posted on GitHub neither mentions people nor links issues.
* LaTeX: every special character is replaced by its text command (``\\textbackslash{}``, ``\\&``,
  ``\\textless{}`` ...), line breaks become spaces.

Numbers in the Markdown and LaTeX follow the report's display rules
(:mod:`prevalens.formatting`): ``0.61 [0.58, 0.64]``, decimals from the interval
width, never 0 or 1 unless exact, ``undefined`` for an undefined value.
"""

from __future__ import annotations

import csv
import io
import re
import unicodedata

from . import baseline as _baseline
from .exceptions import ConfigError
from .formatting import (
    fmt_estimate,
    fmt_gate_value,
    fmt_level,
    fmt_number,
    fmt_percent,
    fmt_signed,
    metric_name,
    metric_text,
)
from .results import ALERT_KINDS

#: Marks an approximate interval (status ``unstable``) in every table; the limitations say why.
APPROXIMATE_MARK = "\u2248"


def fmt_marked(e, **kwargs) -> str:
    """:func:`fmt_estimate`, its interval marked ``≈[...]`` when the estimate is approximate."""
    text = fmt_estimate(e, **kwargs)
    status = e.get("status") if isinstance(e, dict) else getattr(e, "status", None)
    return text.replace(" [", " " + APPROXIMATE_MARK + "[", 1) if status == "unstable" else text


__all__ = [
    "EXPORTS",
    "export_files",
    "per_class_csv",
    "prevalence_shift_csv",
    "prevalence_shift_calibration_csv",
    "calibration_csv",
    "calibration_bins_csv",
    "subgroups_csv",
    "subgroup_disparities_csv",
    "subgroup_gaps_csv",
    "subgroup_averages_csv",
    "headline_csv",
    "markdown_summary",
    "latex_tables",
]

#: Export format -> the files it produces (names of the files :func:`export_files` returns).
EXPORTS = {
    "csv": ("per_class.csv", "headline.csv"),
    "md": ("summary.md",),
    "tex": ("tables.tex",),
}

#: Columns of :func:`headline_csv`.
HEADLINE_COLUMNS = (
    "section",
    "name",
    "metric",
    "estimate",
    "ci_low",
    "ci_high",
    "se",
    "method",
    "status",
    "note",
)

#: Per-class tables with this many classes or more use ``longtable`` (it breaks across pages);
#: so do smaller ones whose long labels need more lines than a page holds (see
#: :func:`latex_tables`). A row is two lines (estimate over interval) and about 22 fit a page.
LONGTABLE_MIN_CLASSES = 20

#: The lines of per-class rows a one-column article page holds under the table's caption.
_TEX_PAGE_LINES = 40
#: Characters of a class label per line of its (wrapping) column, a conservative estimate.
_TEX_LABEL_CHARS = 16

_AVERAGES = ("micro", "macro", "weighted")
_HEADLINE_MD = ("precision", "recall", "f1", "roc_auc")
_HEADLINE_TEX = (
    "precision",
    "recall",
    "f1",
    "specificity",
    "jaccard",
    "roc_auc",
    "average_precision",
)
_OVERALL_MD = ("accuracy", "balanced_accuracy", "cohen_kappa", "mcc")
_PER_CLASS_TEX = ("recall", "precision", "f1", "roc_auc")
_STRATA_MD = ("recall", "precision", "f1", "roc_auc")


def export_files(d: dict, formats) -> dict[str, bytes]:
    """The export files of results ``d`` for the requested formats, as ``{file name: bytes}``.

    Parameters
    ----------
    d : dict
        The results dict (``AuditResult.to_dict()`` or the parsed ``results.json``).
    formats : iterable of {"csv", "md", "tex"}
        ``csv`` gives ``per_class.csv`` and ``headline.csv`` (and ``prevalence_shift.csv``
        when the audit projected to a deployment's prevalence, with
        ``prevalence_shift_calibration.csv`` when its scores are probabilities too,
        ``calibration.csv`` and
        ``calibration_bins.csv`` when its scores are probabilities, ``subgroups.csv``,
        ``subgroup_disparities.csv``, ``subgroup_gaps.csv`` and ``subgroup_averages.csv`` when
        it was audited within subgroups); ``md`` gives ``summary.md``;
        ``tex`` gives ``tables.tex`` (see :data:`EXPORTS`). A single name may be passed as a
        string. Repeated names count once.

    Returns
    -------
    dict
        File name -> UTF-8 bytes, in the order of :data:`EXPORTS` whatever the order asked.

    Raises
    ------
    ConfigError
        When a format is not one of :data:`EXPORTS`.

    Examples
    --------
    >>> import prevalens
    >>> d = prevalens.audit(["a", "b", "a", "b"], ["a", "b", "b", "b"], n_resamples=0,
    ...                     seed=0).to_dict()
    >>> sorted(export_files(d, ["md", "csv"]))
    ['headline.csv', 'per_class.csv', 'summary.md']
    """
    wanted = _check_formats(formats)
    makers = {
        "per_class.csv": per_class_csv,
        "headline.csv": headline_csv,
        "summary.md": markdown_summary,
        "tables.tex": latex_tables,
    }
    out = {name: makers[name](d) for fmt in EXPORTS if fmt in wanted for name in EXPORTS[fmt]}
    if "csv" in wanted and d.get("prevalence_shift"):
        out["prevalence_shift.csv"] = prevalence_shift_csv(d)
        if d["prevalence_shift"].get("calibration"):
            out["prevalence_shift_calibration.csv"] = prevalence_shift_calibration_csv(d)
    if "csv" in wanted and d.get("calibration"):
        out["calibration.csv"] = calibration_csv(d)
        out["calibration_bins.csv"] = calibration_bins_csv(d)
    if "csv" in wanted and d.get("subgroups"):
        out["subgroups.csv"] = subgroups_csv(d)
        out["subgroup_disparities.csv"] = subgroup_disparities_csv(d)
        out["subgroup_gaps.csv"] = subgroup_gaps_csv(d)
        out["subgroup_averages.csv"] = subgroup_averages_csv(d)
    return out


def _check_formats(formats) -> set:
    if isinstance(formats, str):
        formats = [formats]
    try:
        wanted = list(formats)
    except TypeError:
        raise ConfigError(
            f"`formats` must be a list of export formats ({', '.join(EXPORTS)}); got {formats!r}"
        ) from None
    bad = [f for f in wanted if f not in EXPORTS]
    if bad:
        raise ConfigError(
            f"`formats` has unknown export format(s) {bad!r}; allowed: {', '.join(EXPORTS)}"
        )
    return set(wanted)


# ------------------------------------------------------------------------------------------------
# CSV


def per_class_csv(d: dict) -> bytes:
    """The per-class table as CSV, one row per class in the order of ``d["per_class"]``.

    Columns: ``label, support, predicted, stratum, flags``, then for every per-class metric
    ``<metric>, <metric>_ci_low, <metric>_ci_high, <metric>_status``, the ``prevalence`` metric
    first. Every column name is unique: ``prevalence`` is the class's prevalence (support / n, the
    same number as the prevalence metric's estimate) and ``prevalence_ci_low``/``_ci_high`` its
    interval. ``flags`` are joined with ``;``. Undefined numbers are empty cells.

    Notes
    -----
    RFC 4180: rows end with ``\\r\\n`` and a field holding a quote, comma, CR or LF is quoted, so
    ``csv.reader``, pandas and spreadsheets read every label back. Text cells that a spreadsheet
    would run as a formula (first character ``= + - @``, tab or CR) get a leading ``'``; numbers
    (including a label that is a number) stay unquoted numbers, negative ones too.
    """
    metrics = []
    for c in d["per_class"]:
        for m in c["metrics"]:
            if m not in metrics:
                metrics.append(m)
    # The class prevalence is the prevalence metric's estimate (support / n): one column, not two.
    metrics = ["prevalence"] + [m for m in metrics if m != "prevalence"]
    header = ["label", "support", "predicted", "stratum", "flags"]
    for m in metrics:
        header += [m, f"{m}_ci_low", f"{m}_ci_high", f"{m}_status"]
    rows = [header]
    for c in d["per_class"]:
        row = [
            _cell(c["label"]),
            c["support"],
            c["predicted"],
            _cell(c.get("stratum") or ""),
            _cell(";".join(c.get("flags") or ())),
        ]
        for m in metrics:
            e = c["metrics"].get(m) or {}
            estimate = c.get("prevalence") if m == "prevalence" else e.get("estimate")
            row += [
                _num(estimate),
                _num(e.get("ci_low")),
                _num(e.get("ci_high")),
                _cell(e.get("status") or ""),
            ]
        rows.append(row)
    return _csv_bytes(rows)


def headline_csv(d: dict) -> bytes:
    """The headline numbers as a long CSV table, one row per estimate.

    Columns (:data:`HEADLINE_COLUMNS`): ``section, name, metric, estimate, ci_low, ci_high, se,
    method, status, note``. Sections, in this order:

    ``average``
        ``name`` is ``micro``, ``macro`` or ``weighted``; one row per averaged metric.
    ``overall``
        ``name`` is ``overall``; one row per overall metric (accuracy, kappa, ...).
    ``gap``
        ``name`` is ``macro_minus_micro`` or ``macro_minus_weighted``: the difference of the two
        averages of ``metric``, with its interval.
    ``stratum_macro``
        ``name`` is the stratum; the macro average of ``metric`` over the stratum's classes.

    The CSV rules of :func:`per_class_csv` apply (RFC 4180, formula cells neutralised, numbers
    written exactly).
    """
    rows = [list(HEADLINE_COLUMNS)]

    def add(section, name, metric, e):
        e = e or {}
        rows.append(
            [section, _cell(name), _cell(metric), *_estimate_cells(e), _cell(e.get("note") or "")]
        )

    averages = d.get("averages") or {}
    order = [a for a in _AVERAGES if a in averages] + [a for a in averages if a not in _AVERAGES]
    for avg in order:
        for metric, e in averages[avg].items():
            add("average", avg, metric, e)
    for metric, e in (d.get("overall") or {}).items():
        add("overall", "overall", metric, e)
    for metric, g in (d.get("gap") or {}).items():
        for key in ("macro_minus_micro", "macro_minus_weighted"):
            if isinstance(g.get(key), dict):
                add("gap", key, metric, g[key])
    for s in d.get("strata") or ():
        for metric, e in (s.get("macro") or {}).items():
            add("stratum_macro", s["name"], metric, e)
    return _csv_bytes(rows)


def _estimate_cells(e: dict) -> list:
    """An estimate's CSV cells: ``estimate, ci_low, ci_high, se, method, status``."""
    return [
        _num(e.get("estimate")),
        _num(e.get("ci_low")),
        _num(e.get("ci_high")),
        _num(e.get("se")),
        _cell(e.get("method") or ""),
        _cell(e.get("status") or ""),
    ]


def _interval_cells(e: dict | None) -> list:
    """An estimate's short CSV cells: ``estimate, ci_low, ci_high, status``."""
    e = e or {}
    return [
        _num(e.get("estimate")),
        _num(e.get("ci_low")),
        _num(e.get("ci_high")),
        _cell(e.get("status") or ""),
    ]


def _csv_bytes(rows) -> bytes:
    buf = io.StringIO(newline="")
    # RFC 4180 row ends: with "\r\n" as the terminator the writer quotes any field holding a CR or
    # an LF (with "\n" alone a bare CR went out unquoted and split the row in every reader).
    w = csv.writer(buf, lineterminator="\r\n")
    w.writerows(rows)
    return buf.getvalue().encode("utf-8")


def _num(x):
    return "" if x is None else repr(float(x))


def _cell(value):
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return value
    text = str(value)
    if text and text[0] in "=+-@\t\r":
        return "'" + text
    return text


# ------------------------------------------------------------------------------------------------
# shared helpers


def _oneline(text) -> str:
    """``text`` on one line: every line break and other control character becomes a space."""
    return "".join(
        " " if unicodedata.category(ch) in ("Cc", "Zl", "Zp") else ch for ch in str(text)
    )


def _run_names(d: dict) -> tuple:
    config = (d.get("run") or {}).get("config") or {}
    return config.get("model_name") or None, config.get("dataset_name") or None


def _metric_bounds(metric: str) -> tuple:
    """Values a metric must not appear to reach when it does not (the report's choice)."""
    return () if metric == "log_loss" else (0.0, 1.0)


def _by_prevalence(d: dict) -> list:
    """Classes as the report lists them: most common first, then by label."""
    return sorted(d["per_class"], key=lambda c: (-c["support"], str(c["label"])))


def _confidence_text(run: dict) -> str:
    level = run.get("confidence_level")
    if not isinstance(level, (int, float)):
        return "unknown-level"
    return fmt_level(level)  # 97.5%, not a rounded 98%


_FAMILY_NAMES = {
    "bca": "BCa bootstrap",
    "percentile": "percentile bootstrap",
    "basic": "basic bootstrap",
    "wilson": "Wilson",
    "clopper-pearson": "Clopper-Pearson",
    "delong": "DeLong",
    "delong-logit": "DeLong (logit scale)",
    "hm-score": "HM-S score interval",
    "logit-t": "logit t (jackknife or influence SE)",
    "exact": "exact",
}


def _family(method) -> str | None:
    """The interval family of an EST ``method`` string (``"wilson (n=3)"`` -> ``"Wilson"``)."""
    if not method:
        return None
    m = re.match(r"[A-Za-z][A-Za-z-]*", str(method))
    key = m.group(0).lower() if m else str(method)
    return _FAMILY_NAMES.get(key, _oneline(key))


def _methods_text(run: dict, columns) -> str:
    """Which interval methods the values of a table used, per metric: ``columns`` is a list of
    (metric, [EST, ...]). Metrics with the same methods are named together."""
    groups: dict[tuple, list] = {}
    for metric, ests in columns:
        fams: list[str] = []
        for e in ests:
            if e and e.get("ci_low") is not None and e.get("ci_high") is not None:
                f = _family(e.get("method"))
                if f and f not in fams:
                    fams.append(f)
        if fams:
            groups.setdefault(tuple(fams), []).append(metric_name(metric))
    if not groups:
        return "point estimates only, no intervals"
    parts = []
    for families, names in groups.items():
        who = names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]
        parts.append(f"{who}: {' or '.join(families)}")
    text = "; ".join(parts)
    if any("bootstrap" in f for fams in groups for f in fams) and run.get("n_resamples"):
        text += (
            f"; bootstrap with B = {run['n_resamples']:,} replicates "
            f"({run.get('resampling')} resampling)"
        )
    return text


# ------------------------------------------------------------------------------------------------
# Markdown

_MD_ESCAPE = re.compile(r"([\\`*_\[\]<>|~&])")


_MENTION = re.compile(r"([@#])(?=\w)")


def _md(text) -> str:
    """User text made inert in GitHub-flavoured Markdown: on one line, with every character that
    could start emphasis, code, a link, raw HTML, an entity or a table cell backslash-escaped,
    and an invisible word joiner (U+2060) after ``@`` or ``#`` before a word character, so that
    a label such as ``@team`` or ``#12`` does not notify people or link an issue when the summary
    is posted as a pull-request comment."""
    return _MENTION.sub("\\1\u2060", _MD_ESCAPE.sub(r"\\\1", _oneline(text)))


def _md_table(header, rows, align) -> list:
    lines = [
        "| " + " | ".join(header) + " |",
        "|" + "|".join("---:" if a == "r" else "---" for a in align) + "|",
    ]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return lines + [""]


def markdown_summary(d: dict) -> bytes:
    """A GitHub-flavoured Markdown summary of the audit, for a CI log or a pull-request comment.

    Sections: a title (with the model and dataset names when ``run.config`` has them), the run
    (samples, classes, seed, B, confidence level) and how the predictions were made (the
    configuration's ``evaluation``), the user's intended use and data provenance, the quality
    gates and the baseline comparison when ``d`` has them, the headline averages, the overall
    metrics, the micro-macro gap, the prevalence strata, the high- and medium-severity findings
    and the user's known limitations. Sections whose text the user did not write are left out.

    Every user-supplied text (class labels inside findings, stratum names, model and dataset names,
    paths) is escaped, so it can neither break a table nor inject HTML.
    """
    run, data = d["run"], d["data"]
    model, dataset = _run_names(d)
    if model and dataset:
        title = f"Classifier audit: {_md(model)} on {_md(dataset)}"
    elif model or dataset:
        title = f"Classifier audit: {_md(model or dataset)}"
    else:
        title = "Classifier audit"
    lines = [f"# {title}", ""]
    b = run.get("n_resamples") or 0
    facts = [
        f"{data['n_samples']:,} samples",
        f"{data['n_classes']} classes",
        f"seed {run.get('seed')}",
        f"B = {b:,}",
    ]
    if b:
        facts.append(
            f"{_confidence_text(run)} intervals ({_md(run.get('interval_method'))}, "
            f"{_md(run.get('resampling'))} resampling)"
        )
    else:
        facts.append("no bootstrap intervals")
    tool = d.get("tool") or {}
    facts.append(f"prevalens {_md(tool.get('version', ''))}".strip())
    lines += [" · ".join(facts) + ".", ""]
    alerts = [n for n in d.get("notes") or () if n.get("kind") in ALERT_KINDS]
    if alerts:  # the input is likely wrong: said before any number
        lines += ["## Input alerts", ""]
        lines += [f"- **alert**: {_md(n.get('text', ''))}" for n in alerts]
        lines.append("")
    evaluation = _config_text(d, "evaluation")
    if evaluation:
        lines += [f"Evaluation: {_md(' '.join(evaluation.split()))}", ""]
    for key, heading in (("intended_use", "Intended use"), ("data_provenance", "Data provenance")):
        text = _config_text(d, key)
        if text:
            lines += [f"## {heading}", "", *_md_paragraphs(text), ""]

    gates = d.get("gates")
    if gates:
        lines += _md_gates(gates)
    baseline = d.get("baseline")
    if baseline:
        lines += _md_baseline(baseline)

    averages = d.get("averages") or {}
    metrics = [m for m in _HEADLINE_MD if any(m in (averages.get(a) or {}) for a in _AVERAGES)]
    if metrics:
        rows = [
            [metric_name(m)] + [fmt_marked((averages.get(a) or {}).get(m)) for a in _AVERAGES]
            for m in metrics
        ]
        lines += ["## Headline metrics", ""]
        lines += _md_table(["Metric", "Micro", "Macro", "Weighted"], rows, "lrrr")

    overall = d.get("overall") or {}
    rows = [
        [metric_name(m), fmt_marked(overall[m], bounds=_metric_bounds(m))]
        for m in _OVERALL_MD
        if m in overall
    ]
    if rows:
        lines += ["## Overall", ""]
        lines += _md_table(["Metric", "Estimate [interval]"], rows, "lr")

    gap = d.get("gap") or {}
    rows = [
        [
            metric_name(m),
            fmt_marked(g.get("macro_minus_micro"), bounds=(0.0,)),
            fmt_marked(g.get("macro_minus_weighted"), bounds=(0.0,))
            if g.get("macro_minus_weighted")
            else "not computed",
        ]
        for m, g in gap.items()
    ]
    if rows:
        lines += [
            "## Micro-macro gap",
            "",
            "A negative macro - micro gap means the classifier does worse on the classes "
            "that are rare in the data.",
            "",
        ]
        lines += _md_table(["Metric", "Macro - micro", "Macro - weighted"], rows, "lrr")

    strata = d.get("strata") or []
    if strata:
        smetrics = [m for m in _STRATA_MD if any(m in (s.get("macro") or {}) for s in strata)]
        rows = []
        for s in strata:
            bounds = s.get("bounds") or {}
            rows.append(
                [
                    _md(s["name"]),
                    _md(bounds.get("description", "")),
                    str(s.get("n_classes", len(s.get("classes", ())))),
                    f"{s.get('support', 0):,}",
                ]
                + [fmt_marked((s.get("macro") or {}).get(m)) for m in smetrics]
            )
        lines += ["## Prevalence strata (macro averages)", ""]
        lines += _md_table(
            ["Stratum", "Definition", "Classes", "Support"] + [metric_name(m) for m in smetrics],
            rows,
            "llrr" + "r" * len(smetrics),
        )

    shift = d.get("prevalence_shift")
    if shift:
        signed = {"overall.cohen_kappa", "overall.mcc"}
        rows = [
            [
                _md(SHIFT_METRIC_NAMES.get(key, key)),
                fmt_marked(_evaluated(d, key), bounds=(-1.0, 1.0) if key in signed else (0.0, 1.0)),
                fmt_marked(e, bounds=(-1.0, 1.0) if key in signed else (0.0, 1.0)),
            ]
            for key, e in shift["headline"].items()
        ]
        lines += [
            "## At the deployment's prevalence",
            "",
            f"Target prevalences: {_md(shift['source'])}. Assumed: {_md(shift['assumption'])}.",
            "",
        ]
        lines += _md_table(
            ["Metric", "As evaluated", "At the deployment's prevalence"], rows, "lrr"
        )
        lines += _md_shift_calibration(d, shift)

    cal = d.get("calibration")
    if cal:
        lines += ["## Calibration", "", _md(calibration_method_text(cal)), ""]
        if cal.get("strata"):
            lines += _md_table(
                ["Stratum", "Classes", "ECE", "Mean intercept", "Mean slope"],
                [
                    [
                        _md(s["stratum"]),
                        f"{s['n_classes']} ({s['n_used']} with enough samples)",
                        fmt_marked(s["ece"], bounds=(0.0,)),
                        fmt_marked(s["intercept"], bounds=(0.0,)),
                        fmt_marked(s["slope"], bounds=(0.0, 1.0)),
                    ]
                    for s in cal["strata"]
                ],
                "lrrrr",
            )
        lines += [_md(calibration_overall_text(cal)), ""]

    if d.get("subgroups"):
        lines += _md_subgroups(d)

    if any(APPROXIMATE_MARK in line for line in lines):
        lines += [
            f"{APPROXIMATE_MARK} marks an approximate interval (status unstable); the report's "
            "limitations say why.",
            "",
        ]
    findings = [f for f in d.get("findings") or () if f.get("severity") in ("high", "medium")]
    lines += ["## Findings", ""]
    if findings:
        lines += [f"- **{_md(f['severity'])}**: {_md(f.get('text', ''))}" for f in findings]
    else:
        lines.append("No findings of high or medium severity.")
    lines.append("")
    text = _config_text(d, "known_limitations")
    if text:
        lines += ["## Known limitations", "", *_md_paragraphs(text), ""]
    return ("\n".join(lines).rstrip("\n") + "\n").encode("utf-8")


#: The headline metrics of ``prevalence_shift`` by name.
SHIFT_METRIC_NAMES = {
    "overall.accuracy": "Accuracy (= micro F1)",
    "macro.precision": "Macro precision",
    "macro.recall": "Macro recall (= balanced accuracy)",
    "macro.f1": "Macro F1",
    "weighted.f1": "Weighted F1",
    "overall.cohen_kappa": "Cohen's kappa",
    "overall.mcc": "MCC",
}


def _evaluated(d: dict, key: str):
    """The audit's own estimate of a headline key such as ``macro.f1`` or ``overall.mcc``."""
    kind, name = key.split(".", 1)
    if kind == "overall":
        return (d.get("overall") or {}).get(name)
    return (d.get("averages") or {}).get(kind, {}).get(name)


def prevalence_shift_csv(d: dict) -> bytes:
    """The metrics at the deployment's prevalence as a long CSV table, one row per estimate:
    ``section, name, metric, target_prevalence, estimate, ci_low, ci_high, se, method, status``.
    Sections: ``class`` (``name`` the class, its precision, NPV, F1 and specificity at the
    target), ``headline`` (``metric`` such as ``macro.f1``) and ``sweep`` (``name`` the factor on
    the rarest stratum's prevalence, ``target_prevalence`` that stratum's total)."""
    shift = d["prevalence_shift"]
    rows = [
        [
            "section",
            "name",
            "metric",
            "target_prevalence",
            "estimate",
            "ci_low",
            "ci_high",
            "se",
            "method",
            "status",
        ]
    ]

    def add(section, name, metric, prevalence, e):
        rows.append([section, _cell(name), metric, _num(prevalence), *_estimate_cells(e)])

    for c in shift["per_class"]:
        for metric, e in c["metrics"].items():
            add("class", c["label"], metric, c["target_prevalence"], e)
    for metric, e in shift["headline"].items():
        add("headline", "target", metric, None, e)
    for p in shift["sweep"]:
        for metric, e in p["metrics"].items():
            add("sweep", f"{p['factor']:g}", metric, p["share"], e)
    return _csv_bytes(rows)


#: Columns of :func:`prevalence_shift_calibration_csv`.
SHIFT_CALIBRATION_COLUMNS = (
    "label",
    "target_prevalence",
    "raw_mean",
    "adjusted_mean",
    "raw_intercept",
    "raw_intercept_ci_low",
    "raw_intercept_ci_high",
    "raw_intercept_status",
    "intercept",
    "intercept_status",
    "slope",
    "slope_status",
)


def prevalence_shift_calibration_csv(d: dict) -> bytes:
    """The probabilities' calibration at the deployment's prevalence as CSV, one row per class
    in the order of ``d["prevalence_shift"]["calibration"]`` (class order): the columns of
    :data:`SHIFT_CALIBRATION_COLUMNS`. ``raw_mean`` is the class's mean predicted probability at
    the target as scored, ``adjusted_mean`` after the prior-shift correction; ``raw_intercept``
    the calibration-in-the-large of the probabilities as scored there, with its interval;
    ``intercept`` and ``slope`` those of the corrected probabilities, point estimates (status
    ``no_interval``). Undefined numbers are empty cells; the CSV rules of :func:`per_class_csv`
    apply."""
    rows: list[list] = [list(SHIFT_CALIBRATION_COLUMNS)]
    for c in d["prevalence_shift"].get("calibration") or ():
        intercept, slope = c.get("intercept") or {}, c.get("slope") or {}
        rows.append(
            [
                _cell(c["label"]),
                _num(c.get("target_prevalence")),
                _num(c.get("raw_mean")),
                _num(c.get("adjusted_mean")),
                *_interval_cells(c.get("raw_intercept")),
                _num(intercept.get("estimate")),
                _cell(intercept.get("status") or ""),
                _num(slope.get("estimate")),
                _cell(slope.get("status") or ""),
            ]
        )
    return _csv_bytes(rows)


def shift_calibration_text(shift: dict, level: str, findings: list | tuple = ()) -> str:
    """How the probabilities are judged at the deployment's prevalence (the paragraph above the
    report's table; ``level`` such as ``"95%"``). ``findings`` are the audit's (JSON form): when
    some say the probabilities are miscalibrated on the evaluation set, the paragraph says that
    the correction's assumption does not hold for them."""
    cal = shift.get("calibration") or ()
    method = next(
        (
            _DF_NOTE.sub("", c["raw_intercept"]["method"])
            for c in cal
            if c["raw_intercept"].get("ci_low") is not None and c["raw_intercept"].get("method")
        ),
        None,
    )
    intervals = (
        f"The intercept of the probabilities as scored has a {level} interval, from the {method}; "
        "the "
        if method
        else "No interval was computed for the probabilities as scored; the "
    )
    return (
        "When the class prevalences change, probabilities calibrated on the evaluation set are "
        "no longer calibrated at the deployment. The prior-shift correction multiplies each "
        "probability p_k by target_k / prevalence_k and renormalises every row to sum to 1 "
        "(Saerens, Latinne & Decaestecker 2002); it is valid under label shift when the "
        "probabilities are calibrated on the evaluation set. Calibration at the deployment's "
        "prevalence is judged by weighting every evaluation row by target / prevalence of its "
        "class. The intercept (calibration-in-the-large, log-odds) is above 0 when the "
        "probabilities are too low there (below 0: too high); the slope is below 1 when they are "
        f"too extreme (above 1: too cautious). {intervals}corrected intercept and slope are point "
        "values, without an interval, because importance-weighted intervals covered only "
        "0.84\u20130.93 of the time in simulation (a rare class's few rows carry much of the "
        "weight)."
    ) + _assumption_broken(findings)


def _assumption_broken(findings) -> str:
    """A sentence when calibration findings say the evaluation's probabilities are not
    calibrated (the prior-shift correction assumes they are)."""
    found = [f for f in findings if f.get("kind") == "calibration"]
    if not found:
        return ""
    classes = {str(c) for f in found for c in f.get("classes", ())}
    whom = (
        f"{len(classes)} class(es)' probabilities are"
        if classes
        else "some strata's probabilities are"
    )
    return (
        f" On the evaluation set {whom} not calibrated (see the calibration findings), so the "
        "correction's assumption does not hold for them and their corrected probabilities "
        "carry that miscalibration to the deployment."
    )


#: A raw intercept's method ends with its effective degrees of freedom, which differ by class.
_DF_NOTE = re.compile(r" \(df=[^)]*\)$")

#: Headers of the table of the probabilities at the deployment's prevalence (summary.md; the
#: report splits them over two lines).
SHIFT_CALIBRATION_HEADER = (
    "Class",
    "Deployment",
    "Mean probability as scored",
    "Intercept as scored",
    "Mean probability corrected",
    "Intercept corrected (point)",
    "Slope corrected (point)",
)


def shift_calibration_cells(c: dict) -> list[str]:
    """A class's formatted numbers at the deployment's prevalence, after its label: target
    prevalence, mean probability as scored, its intercept [interval], mean probability corrected,
    the corrected intercept and slope (point values)."""
    return [
        fmt_percent(c.get("target_prevalence")),
        fmt_percent(c.get("raw_mean")),
        fmt_marked(c["raw_intercept"], bounds=(0.0,)),
        fmt_percent(c.get("adjusted_mean")),
        fmt_number(c["intercept"].get("estimate"), bounds=(0.0,)),
        fmt_number(c["slope"].get("estimate"), bounds=(0.0, 1.0)),
    ]


#: Classes of the Markdown summary's table of the probabilities at the deployment's prevalence
#: (the rarest, when there are more; all of them are in prevalence_shift_calibration.csv).
SHIFT_CALIBRATION_MD_ROWS = 20


def _md_shift_calibration(d: dict, shift: dict) -> list:
    """The summary's table of the probabilities at the deployment's prevalence (none without
    probabilities): the classes most common first, the rarest ones when there are many."""
    cal = shift.get("calibration")
    if not cal:
        return []
    by_label = {str(c["label"]): c for c in cal}
    classes = [c for c in _by_prevalence(d) if str(c["label"]) in by_label]
    shown = classes[-SHIFT_CALIBRATION_MD_ROWS:]
    rows = [[_md(c["label"]), *shift_calibration_cells(by_label[str(c["label"])])] for c in shown]
    lines = [
        "Probabilities at the deployment's prevalence: as scored, and after the prior-shift "
        "correction p_k \u00d7 target_k / prevalence_k renormalised (valid under label shift "
        "when the probabilities are calibrated on the evaluation set); judged by weighting the "
        "evaluation rows by target / prevalence of their class. Intercept above 0: too low "
        "there. The corrected intercept and slope are point values (no interval).",
        "",
    ]
    lines += _md_table(list(SHIFT_CALIBRATION_HEADER), rows, "lrrrrrr")
    if len(shown) < len(classes):
        lines += [
            f"The {len(shown)} rarest of {len(classes)} classes; all of them are in "
            "prevalence_shift_calibration.csv.",
            "",
        ]
    return lines


_CALIBRATION_ESTIMATES = ("intercept", "slope", "ece")
_BRIER_PARTS = ("reliability", "resolution", "uncertainty", "within_bin")


def calibration_method_text(cal: dict) -> str:
    """The calibration's method in words, and how to read the intercept and slope."""
    return (
        f"Calibration of the predicted probabilities, per class (one-vs-rest), by stratum and "
        f"for the top label. Method: {cal['method']}. The intercept (calibration-in-the-large, "
        "log-odds) is 0 when the probabilities are right on average and above 0 when they are "
        "too low (below 0: too high); the slope is 1 when they are right and below 1 when they "
        "are too extreme (over-confident; above 1: under-confident). ECE is the expected "
        "calibration error at these bins, 0 for perfect calibration."
    )


def fmt_brier(x) -> str:
    """A part of the Brier decomposition, with 4 decimals."""
    return fmt_number(x, 4, bounds=(0.0,))


def calibration_overall_text(cal: dict) -> str:
    """Classwise and top-label ECE, and the Brier decomposition with its sum (the Brier
    score)."""
    b = cal["brier"]
    total = b["reliability"] - b["resolution"] + b["uncertainty"] + b["within_bin"]
    return (
        f"Classwise ECE {fmt_marked(cal['classwise_ece'], bounds=(0.0,))}; top-label ECE "
        f"{fmt_marked(cal['top_label_ece'], bounds=(0.0,))}. Brier score decomposition "
        f"(summed over classes, at {cal['n_bins']} bins per class): reliability "
        f"{fmt_brier(b['reliability'])} \u2212 resolution {fmt_brier(b['resolution'])} + "
        f"uncertainty {fmt_brier(b['uncertainty'])} + within-bin {fmt_brier(b['within_bin'])} "
        f"= Brier score {fmt_brier(total)}."
    )


def calibration_csv(d: dict) -> bytes:
    """The calibration per class as CSV, one row per class in the order of
    ``d["calibration"]["per_class"]``.

    Columns: ``label, stratum, support, observed, expected``, then for ``intercept``, ``slope``
    and ``ece`` the estimate and ``<name>_ci_low, <name>_ci_high, <name>_status``, then the
    Brier score's parts ``brier_reliability, brier_resolution, brier_uncertainty,
    brier_within_bin``. ``observed`` is the class's prevalence, ``expected`` its mean predicted
    probability. The CSV rules of :func:`per_class_csv` apply.
    """
    cal = d["calibration"]
    header = ["label", "stratum", "support", "observed", "expected"]
    for name in _CALIBRATION_ESTIMATES:
        header += [name, f"{name}_ci_low", f"{name}_ci_high", f"{name}_status"]
    header += [f"brier_{p}" for p in _BRIER_PARTS]
    rows = [header]
    for c in cal["per_class"]:
        row = [
            _cell(c["label"]),
            _cell(c.get("stratum") or ""),
            c["support"],
            _num(c["observed"]),
            _num(c["expected"]),
        ]
        for name in _CALIBRATION_ESTIMATES:
            row += _interval_cells(c.get(name))
        row += [_num((c.get("brier") or {}).get(p)) for p in _BRIER_PARTS]
        rows.append(row)
    return _csv_bytes(rows)


def calibration_bins_csv(d: dict) -> bytes:
    """The reliability curves as CSV, one row per bin: ``curve, label, bin, low, high, n,
    mean_score, observed, ci_low, ci_high``. ``curve`` is ``class`` for a class's curve (every
    class's bins in class order, ``label`` the class) and ``top_label`` for the top label's
    (its bins last, ``label`` empty), so no class label can pass for the top-label curve.
    ``bin`` counts from 1; ``low`` and ``high`` are the smallest and largest probability in the
    bin, ``mean_score`` their mean, ``observed`` the event's frequency in the bin and ``ci_low``,
    ``ci_high`` its pointwise interval."""
    cal = d["calibration"]
    rows: list[list] = [
        ["curve", "label", "bin", "low", "high", "n", "mean_score", "observed", "ci_low", "ci_high"]
    ]

    def add(curve, label, bins):
        for i, b in enumerate(bins, start=1):
            rows.append(
                [
                    curve,
                    _cell(label),
                    i,
                    _num(b["low"]),
                    _num(b["high"]),
                    b["n"],
                    _num(b["mean_score"]),
                    _num(b["observed"]),
                    _num(b.get("ci_low")),
                    _num(b.get("ci_high")),
                ]
            )

    for c in cal["per_class"]:
        add("class", c["label"], c["bins"])
    add("top_label", "", cal.get("top_label_bins") or ())
    return _csv_bytes(rows)


# ------------------------------------------------------------------------------------------------
# classes within subgroups (the block ``subgroups``)
#
# Every output reads the subgroup values through :func:`subgroup_withheld` and
# :func:`subgroup_value`: a suppressed value is never shown, also when ``subgroups.disclosed``
# is true (disclosure writes the suppressed values to results.json only).

#: The proportions of a class within a level, and the level's accuracy, in output order.
SUBGROUP_METRICS = ("accuracy", "recall", "fpr", "precision")
#: Each of them as a table heading and in running text.
SUBGROUP_METRIC_NAMES = {
    "accuracy": ("Accuracy", "accuracy"),
    "recall": ("Recall", "recall"),
    "fpr": ("False-positive rate", "false-positive rate"),
    "precision": ("Precision", "precision"),
}
#: The values of a class within a level that go with its cell (withheld when it is suppressed).
SUBGROUP_CELL_METRICS = ("recall", "fpr", "precision", "roc_auc")
#: The macro averages of a level (``macro.<metric>``), in output order, as a table heading and
#: in running text.
SUBGROUP_MACROS = {
    "recall": ("Macro recall", "macro recall"),
    "fpr": ("Macro FPR", "macro false-positive rate"),
    "precision": ("Macro precision", "macro precision"),
    "f1": ("Macro F1", "macro F1"),
    "roc_auc": ("Macro ROC AUC", "macro ROC AUC"),
}
#: The metrics of a level's gap (``gap.<metric>``), strata (``stratum.<name>.<metric>``) and
#: extremes (``extremes.<metric>``), in output order.
SUBGROUP_STRATA_METRICS = ("recall", "f1")
#: The largest gaps the Markdown summary and the LaTeX table list per grouping (accuracy first,
#: then those whose simultaneous interval excludes 0, then the largest); all of them are in
#: ``subgroup_gaps.csv``.
SUBGROUP_GAP_ROWS = 12


def subgroup_withheld(g: dict) -> set:
    """The values of grouping ``g`` that no output may show, as ``(level, metric, label)``
    (``label`` None for accuracy): every value of a suppressed level, of a suppressed cell, with
    status ``suppressed``, or whose disparity against the rest is marked suppressed (with
    ``disclosed``, the only mark of a precision suppressed for its few predicted samples). A
    cell's ROC AUC goes with its cell; a level's averages (``label`` None, ``metric`` their
    key) with their level."""
    out = set()
    for lv in g["levels"]:
        name = lv["level"]
        if lv["suppressed"] or (lv["accuracy"] or {}).get("status") == "suppressed":
            out.add((name, "accuracy", None))
        for c in lv["cells"]:
            for m in SUBGROUP_CELL_METRICS:
                if (
                    lv["suppressed"]
                    or c["suppressed"]
                    or (c.get(m) or {}).get("status") == ("suppressed")
                ):
                    out.add((name, m, c["label"]))
        for key, e in (lv.get("averages") or {}).items():
            if lv["suppressed"] or (e or {}).get("status") == "suppressed":
                out.add((name, key, None))
    levels_out = {lv["level"] for lv in g["levels"] if lv["suppressed"]}
    for d in g["disparities"]:
        if d["against"] == "rest" and d.get("suppressed"):
            out.add((d["level"], d["metric"], d["label"]))
    return out | {(name, "*", None) for name in levels_out}


def _sg_hidden(withheld: set, level: str, metric: str, label) -> bool:
    return (level, "*", None) in withheld or (level, metric, label) in withheld


def subgroup_value(withheld: set, lv: dict, metric: str, cell: dict | None = None):
    """The estimate (JSON form) of ``metric`` of a level (``cell`` None: accuracy) or of one of
    its cells, or None when it is withheld."""
    label = None if cell is None else cell["label"]
    if _sg_hidden(withheld, lv["level"], metric, label):
        return None
    e = lv["accuracy"] if cell is None else cell.get(metric)
    return None if not e or e.get("status") == "suppressed" else e


def subgroup_disparities(g: dict, withheld: set | None = None) -> list:
    """The disparities of grouping ``g`` that may be shown: none marked suppressed, none whose
    level (or reference) value is withheld."""
    withheld = subgroup_withheld(g) if withheld is None else withheld
    out = []
    for d in g["disparities"]:
        if d.get("suppressed") or _sg_hidden(withheld, d["level"], d["metric"], d["label"]):
            continue
        if d["against"] != "rest" and _sg_hidden(withheld, d["against"], d["metric"], d["label"]):
            continue
        out.append(d)
    return out


def subgroup_gaps(g: dict, withheld: set | None = None) -> list:
    """The largest gaps of grouping ``g`` that may be shown (neither end withheld)."""
    withheld = subgroup_withheld(g) if withheld is None else withheld
    return [
        x
        for x in g["max_gaps"]
        if not any(
            _sg_hidden(withheld, lv, x["metric"], x["label"]) for lv in (x["highest"], x["lowest"])
        )
    ]


def subgroup_gap_rows(gaps: list, n: int = SUBGROUP_GAP_ROWS) -> list:
    """At most ``n`` of ``gaps``, the ones a table lists: accuracy, then the gaps whose
    simultaneous interval excludes 0, then the largest, in that order."""

    def key(x):
        e = x["gap"]
        lo = e.get("ci_low")
        return (
            x["metric"] != "accuracy",
            not (lo is not None and lo > 0),
            -(e.get("estimate") or 0.0),
            x["metric"],
            str(x["label"]),
        )

    return sorted(gaps, key=key)[:n]


def subgroup_level_size(lv: dict) -> str:
    """A level's size as a table shows it: the count, ``suppressed`` or ``withheld``."""
    if lv["suppressed"]:
        return "suppressed"
    return "withheld" if lv["n"] is None else f"{lv['n']:,}"


def subgroup_claimed(d: dict) -> bool:
    """Whether a disparity's adjusted interval excludes 0 (the claim the findings rest on)."""
    a = d.get("adjusted") or {}
    lo, hi = a.get("ci_low"), a.get("ci_high")
    return lo is not None and hi is not None and (lo > 0 or hi < 0)


def subgroup_reference_text(d: dict) -> str:
    """Each grouping's reference level in words: ``site: north (the largest)``."""
    sub = d["subgroups"]
    chosen = ((d.get("run") or {}).get("config") or {}).get("subgroup_reference")
    return "; ".join(
        f"{g['name']}: {g['reference']}"
        + (
            " (chosen)"
            if chosen is not None and str(chosen) == g["reference"]
            else " (the largest)"
        )
        for g in sub["groupings"]
    )


def subgroup_method_text(d: dict) -> str:
    """The subgroup analysis in words: the method, the suppression rule and the reference
    levels (the report and the Markdown summary share it)."""
    sub = d["subgroups"]
    text = (
        f"Classes within subgroups: {sub['method']}. Small cells: {sub.get('suppression') or ''}. "
        f"Reference levels: {subgroup_reference_text(d)}. A difference is the level minus the "
        "rest of the rows (or minus the reference level); the findings rest on the differences "
        "against the rest, with intervals adjusted together with the audit's other claims."
    )
    if sub.get("disclosed"):
        text += (
            " The suppressed values were disclosed in results.json at the user's request; no "
            "other output shows them."
        )
    return text


def subgroup_grouping_text(g: dict) -> str:
    """A grouping in one sentence: levels, suppression, missing values, notes."""
    n = len(g["levels"])
    parts = [f"{g['name']}: {n} level{'s' if n != 1 else ''}"]
    if g["suppressed_levels"]:
        parts.append(f"{g['suppressed_levels']} suppressed")
    parts.append(
        f"{g['suppressed_cells']} class-within-level cell"
        + ("s" if g["suppressed_cells"] != 1 else "")
        + " suppressed"
    )
    if g.get("missing"):
        parts.append(f"{g['missing']:,} rows with a missing value")
    text = ", ".join(parts) + "."
    for note in g.get("notes") or ():
        text += " " + note[:1].upper() + note[1:] + "."
    return text


def _average_parts(key: str) -> tuple:
    """``(kind, stratum, metric)`` of an average's key: ``("stratum", "rare", "recall")`` for
    ``stratum.rare.recall`` (a stratum's name may hold dots), ``("macro", None, "f1")``."""
    kind, _, rest = key.partition(".")
    if kind == "stratum":
        name, _, metric = rest.rpartition(".")
        return kind, name, metric
    return kind, None, rest


def subgroup_average_keys(g: dict, strata=()) -> list:
    """The keys of the averages of grouping ``g``'s levels, in output order: the macro averages
    (:data:`SUBGROUP_MACROS`), then per metric of :data:`SUBGROUP_STRATA_METRICS` the gap, the
    strata (rarest first, as ``strata`` names them: the results' ``strata``) and the extremes;
    ``weighted.*`` and ``overall.*`` (kappa, MCC) after the macro averages."""
    present = list(dict.fromkeys(key for lv in g["levels"] for key in lv.get("averages") or {}))
    names = [s["name"] if isinstance(s, dict) else s for s in strata]
    macros = list(SUBGROUP_MACROS)
    metrics = list(SUBGROUP_STRATA_METRICS)

    def rank(key):
        kind, name, metric = _average_parts(key)
        if kind == "macro":
            return (0, macros.index(metric) if metric in macros else len(macros), 0, 0)
        if kind in ("weighted", "overall"):
            return (0, len(macros) + 1, int(kind == "overall"), 0)
        m = metrics.index(metric) if metric in metrics else len(metrics)
        if kind == "gap":
            return (1, m, 0, 0)
        if kind == "stratum":
            return (1, m, 1, names.index(name) if name in names else len(names))
        if kind == "extremes":
            return (1, m, 2, 0)
        return (2, 0, 0, 0)

    return sorted(present, key=lambda key: (rank(key), present.index(key)))


def subgroup_average_name(key: str) -> tuple[str, str]:
    """An average's key as a table heading and in running text: ``("Macro F1", "macro F1")``,
    ``("Recall, rare", "macro recall of the rare stratum")``."""
    kind, name, metric = _average_parts(key)
    if kind == "macro" and metric in SUBGROUP_MACROS:
        return SUBGROUP_MACROS[metric]
    what = metric_text(metric)
    if kind == "weighted":
        return f"Weighted {metric_name(metric)}", f"weighted {what}"
    if kind == "overall":
        return metric_name(metric), what
    if kind == "gap":
        return (
            f"{metric_name(metric)}: macro minus accuracy",
            f"macro {what} minus accuracy",
        )
    if kind == "stratum":
        return f"{metric_name(metric)}, {name}", f"macro {what} of the {name} stratum"
    if kind == "extremes":
        return (
            f"{metric_name(metric)}: rarest minus most common",
            f"macro {what} of the rarest stratum minus that of the most common",
        )
    return key, key


def subgroup_average_signed(key: str) -> bool:
    """Whether an average is a difference (the gap, the extremes), shown with its sign."""
    return _average_parts(key)[0] in ("gap", "extremes")


def subgroup_average(withheld: set, lv: dict, key: str):
    """The estimate (JSON form) of the average ``key`` of a level, or None when it is withheld
    (a suppressed level, a suppressed value) or absent."""
    if _sg_hidden(withheld, lv["level"], key, None):
        return None
    e = (lv.get("averages") or {}).get(key)
    return None if not e or e.get("status") == "suppressed" else e


def fmt_subgroup_average(e, key: str) -> str:
    """An average as the tables show it: ``0.61 [0.58, 0.64]``, a difference signed
    (``-0.05 [-0.08, -0.01]``), an approximate interval marked."""
    if subgroup_average_signed(key):
        text = fmt_signed(e, bounds=(0.0,))
    elif key.startswith("overall."):  # kappa and MCC range over [-1, 1]
        text = fmt_estimate(e, bounds=(-1.0, 1.0))
    else:
        text = fmt_estimate(e)
    status = (e or {}).get("status")
    return text.replace(" [", " " + APPROXIMATE_MARK + "[", 1) if status == "unstable" else text


def subgroup_macro_differences(g: dict, withheld: set | None = None) -> dict:
    """The shown differences of the levels' macro averages from the rest of the rows, as
    ``{level: {metric: disparity}}`` (``metric`` of :data:`SUBGROUP_MACROS`)."""
    out: dict = {}
    for x in subgroup_disparities(g, withheld):
        kind, _, metric = x["metric"].partition(".")
        if x["against"] == "rest" and kind == "macro" and x["label"] is None:
            out.setdefault(x["level"], {})[metric] = x
    return out


def subgroup_strata_columns(g: dict, strata=()) -> list:
    """The columns of a table of the levels' gap and strata (a row per level and metric of
    :data:`SUBGROUP_STRATA_METRICS`) as ``(prefix, heading)``: ``("gap", "Macro minus
    accuracy")``, each stratum's ``("stratum.<name>", name)`` rarest first, and
    ``("extremes", "Rarest minus most common")``; only those some level has. The value of a
    row's metric is the average ``f"{prefix}.{metric}"``."""
    out: list = []
    for key in subgroup_average_keys(g, strata):
        kind, name, _ = _average_parts(key)
        col = (
            ("gap", "Macro minus accuracy")
            if kind == "gap"
            else (f"stratum.{name}", str(name))
            if kind == "stratum"
            else ("extremes", "Rarest minus most common")
            if kind == "extremes"
            else None
        )
        if col is not None and col not in out:
            out.append(col)
    order = {"gap": 0, "stratum": 1, "extremes": 2}
    return sorted(out, key=lambda c: order[c[0].partition(".")[0]])


#: Columns of :func:`subgroups_csv`.
SUBGROUPS_COLUMNS = (
    "grouping",
    "level",
    "level_n",
    "metric",
    "label",
    "estimate",
    "ci_low",
    "ci_high",
    "method",
    "status",
)


def subgroups_csv(d: dict) -> bytes:
    """The values within subgroups as CSV, one row per grouping, level, class and metric: each
    level's ``accuracy`` (``label`` empty), then per class its ``recall``, ``fpr`` and
    ``precision`` and, when the audit had scores, its ``roc_auc`` within the level, with the
    interval. ``level_n`` is the level's size, empty when it is suppressed or withheld. A
    suppressed value's row is there with empty numbers and status ``suppressed`` (also when
    results.json discloses it; a ROC AUC the analysis left out for too few samples of the other
    classes in the level reads the same). Counts of a class within a level are
    never written. The CSV rules of :func:`per_class_csv` apply."""
    classes = [c for c in d["data"]["classes"]]
    rows: list[list] = [list(SUBGROUPS_COLUMNS)]
    for g in d["subgroups"]["groupings"]:
        withheld = subgroup_withheld(g)
        metrics: tuple[str, ...] = SUBGROUP_METRICS[1:]
        if any(c.get("roc_auc") for lv in g["levels"] for c in lv["cells"]):
            metrics += ("roc_auc",)
        for lv in g["levels"]:
            n = "" if lv["suppressed"] or lv["n"] is None else lv["n"]
            cells = {c["label"]: c for c in lv["cells"]}
            items = [("accuracy", None, None)] + [
                (m, label, cells.get(label)) for label in classes for m in metrics
            ]
            for metric, label, cell in items:
                head = [
                    _cell(g["name"]),
                    _cell(lv["level"]),
                    n,
                    metric,
                    _cell("" if label is None else label),
                ]
                e = (
                    None
                    if metric != "accuracy" and cell is None
                    else subgroup_value(withheld, lv, metric, cell)
                )
                if e is None:
                    rows.append(head + ["", "", "", "", "suppressed"])
                    continue
                rows.append(
                    head
                    + [
                        _num(e.get("estimate")),
                        _num(e.get("ci_low")),
                        _num(e.get("ci_high")),
                        _cell(e.get("method") or ""),
                        _cell(e.get("status") or ""),
                    ]
                )
    return _csv_bytes(rows)


#: Columns of :func:`subgroup_disparities_csv`.
SUBGROUP_DISPARITY_COLUMNS = (
    "grouping",
    "level",
    "against",
    "metric",
    "label",
    "difference",
    "difference_ci_low",
    "difference_ci_high",
    "ratio",
    "ratio_ci_low",
    "ratio_ci_high",
    "p_value",
    "adjusted_ci_low",
    "adjusted_ci_high",
    "p_adjusted",
    "significant",
    "note",
)


def subgroup_disparities_csv(d: dict) -> bytes:
    """The disparities within subgroups as CSV, one row per disparity in the order of
    results.json: a level against the rest (``against`` = ``rest``) or against the reference
    level (``against`` its name), for ``metric`` (``accuracy`` or a macro average
    ``macro.recall``, ``macro.fpr``, ``macro.precision``, ``macro.f1``, ``macro.roc_auc``,
    ``label`` empty; or a class's ``recall``, ``fpr``, ``precision`` or ``roc_auc``): the
    difference (level minus the other side) and the ratio with their intervals, the p-value,
    and for the claims (against the rest) the interval adjusted for the audit's family of
    claims, the adjusted p-value (``p_adjusted``) and whether the claim holds
    (``significant``); ``note`` says over which classes a macro difference averages. A
    disparity that rests on a suppressed value is left out (also when results.json discloses
    it)."""
    rows: list[list] = [list(SUBGROUP_DISPARITY_COLUMNS)]
    for g in d["subgroups"]["groupings"]:
        for x in subgroup_disparities(g):
            a = x.get("adjusted") or {}
            diff, ratio = x["difference"], x["ratio"]
            rows.append(
                [
                    _cell(g["name"]),
                    _cell(x["level"]),
                    _cell(x["against"]),
                    x["metric"],
                    _cell("" if x["label"] is None else x["label"]),
                    _num(diff.get("estimate")),
                    _num(diff.get("ci_low")),
                    _num(diff.get("ci_high")),
                    _num(ratio.get("estimate")),
                    _num(ratio.get("ci_low")),
                    _num(ratio.get("ci_high")),
                    _num(x.get("p_value")),
                    _num(a.get("ci_low")),
                    _num(a.get("ci_high")),
                    _num(a.get("p_adjusted")),
                    "" if not a else ("true" if a.get("significant") else "false"),
                    _cell(diff.get("note") or ""),
                ]
            )
    return _csv_bytes(rows)


#: Columns of :func:`subgroup_gaps_csv`.
SUBGROUP_GAP_COLUMNS = (
    "grouping",
    "metric",
    "label",
    "gap",
    "ci_low",
    "ci_high",
    "highest",
    "lowest",
    "n_levels",
    "method",
)


def subgroup_gaps_csv(d: dict) -> bytes:
    """The largest gap across each grouping's levels as CSV, one row per grouping and metric
    (accuracy; each class's recall, fpr and precision): the gap (highest minus lowest level)
    with its simultaneous interval, the two levels and how many levels took part (those whose
    value is shown)."""
    rows: list[list] = [list(SUBGROUP_GAP_COLUMNS)]
    for g in d["subgroups"]["groupings"]:
        for x in subgroup_gaps(g):
            e = x["gap"]
            rows.append(
                [
                    _cell(g["name"]),
                    x["metric"],
                    _cell("" if x["label"] is None else x["label"]),
                    _num(e.get("estimate")),
                    _num(e.get("ci_low")),
                    _num(e.get("ci_high")),
                    _cell(x["highest"]),
                    _cell(x["lowest"]),
                    x["n_levels"],
                    _cell(e.get("method") or ""),
                ]
            )
    return _csv_bytes(rows)


#: Columns of :func:`subgroup_averages_csv`.
SUBGROUP_AVERAGE_COLUMNS = (
    "grouping",
    "level",
    "level_n",
    "quantity",
    "estimate",
    "ci_low",
    "ci_high",
    "se",
    "method",
    "status",
    "note",
)


def subgroup_averages_csv(d: dict) -> bytes:
    """The averages within each level as CSV, one row per grouping, level and quantity, in the
    order of :func:`subgroup_average_keys`: ``macro.recall``, ``macro.fpr``,
    ``macro.precision``, ``macro.f1`` and (with scores) ``macro.roc_auc`` over the level's
    shown classes; ``gap.recall`` and ``gap.f1`` (the macro average minus the level's
    accuracy); ``stratum.<name>.recall`` and ``.f1`` (the macro over the classes of each of the
    audit's strata); ``extremes.recall`` and ``.f1`` (the rarest stratum's minus the most common
    one's). A suppressed class counts in no average; a suppressed level's rows are there with
    empty numbers and status ``suppressed``. The CSV rules of :func:`per_class_csv` apply."""
    rows: list[list] = [list(SUBGROUP_AVERAGE_COLUMNS)]
    for g in d["subgroups"]["groupings"]:
        withheld = subgroup_withheld(g)
        keys = subgroup_average_keys(g, d.get("strata") or ())
        for lv in g["levels"]:
            n = "" if lv["suppressed"] or lv["n"] is None else lv["n"]
            own = lv.get("averages") or {}
            for key in keys:
                if key not in own and not lv["suppressed"]:
                    continue
                head = [_cell(g["name"]), _cell(lv["level"]), n, _cell(key)]
                e = subgroup_average(withheld, lv, key)
                if e is None:
                    rows.append(head + ["", "", "", "", "", "suppressed", ""])
                    continue
                rows.append(head + _estimate_cells(e) + [_cell(e.get("note") or "")])
    return _csv_bytes(rows)


def subgroup_gap_label(x: dict) -> str:
    """What a largest gap is of, in words: ``accuracy``, ``recall of cat``."""
    if x["metric"] in SUBGROUP_METRIC_NAMES:
        what = SUBGROUP_METRIC_NAMES[x["metric"]][1]
    else:  # a level's average (macro.recall ...)
        what = subgroup_average_name(x["metric"])[1]
    return what if x["label"] is None else f"{what} of {x['label']}"


def _md_subgroups(d: dict) -> list:
    sub = d["subgroups"]
    lines = ["## Subgroups", "", _md(subgroup_method_text(d)), ""]
    for g in sub["groupings"]:
        withheld = subgroup_withheld(g)
        rest = {
            x["level"]: x
            for x in subgroup_disparities(g, withheld)
            if x["against"] == "rest" and x["metric"] == "accuracy"
        }
        lines += [f"### {_md(g['name'])}", "", _md(subgroup_grouping_text(g)), ""]
        rows = []
        for lv in g["levels"]:
            acc = subgroup_value(withheld, lv, "accuracy")
            r = rest.get(lv["level"])
            rows.append(
                [
                    _md(lv["level"]) + (" (reference)" if lv["level"] == g["reference"] else ""),
                    subgroup_level_size(lv),
                    fmt_marked(acc) if acc else "suppressed",
                    fmt_signed(r["difference"], bounds=(0.0,)) if r else "",
                ]
            )
        lines += _md_table(["Level", "Rows", "Accuracy", "Accuracy minus the rest"], rows, "lrrr")
        gaps = subgroup_gaps(g, withheld)
        shown = subgroup_gap_rows(gaps)
        if shown:
            lines += [
                f"Largest gaps across the levels ({len(shown)} of {len(gaps)}; all in "
                "subgroup_gaps.csv):",
                "",
            ]
            lines += _md_table(
                ["Of", "Gap [simultaneous interval]", "Highest", "Lowest"],
                [
                    [
                        _md(subgroup_gap_label(x)),
                        fmt_estimate(x["gap"], bounds=(0.0,)),
                        _md(x["highest"]),
                        _md(x["lowest"]),
                    ]
                    for x in shown
                ],
                "lrll",
            )
        lines += _md_subgroup_averages(d, g, withheld)
        claimed = [
            x
            for x in subgroup_disparities(g, withheld)
            if x["against"] == "rest" and subgroup_claimed(x)
        ]
        lines += [
            f"{len(claimed)} difference{'s' if len(claimed) != 1 else ''} from the rest with an "
            "adjusted interval that excludes 0 (subgroup_disparities.csv lists every disparity).",
            "",
        ]
    return lines


#: The averages the Markdown summary shows per level (all are in subgroup_averages.csv).
_SUBGROUP_MD_AVERAGES = ("macro.recall", "macro.f1", "macro.roc_auc")


def _md_subgroup_averages(d: dict, g: dict, withheld: set) -> list:
    """The levels' macro recall, F1 and ROC AUC with their intervals, and the claimed
    differences of the macro averages from the rest."""
    keys = [k for k in subgroup_average_keys(g) if k in _SUBGROUP_MD_AVERAGES]
    if not keys:
        return []
    rows = []
    for lv in g["levels"]:
        cells = []
        for key in keys:
            e = subgroup_average(withheld, lv, key)
            cells.append(fmt_subgroup_average(e, key) if e else "suppressed")
        rows.append([_md(lv["level"])] + cells)
    lines = [
        "Averages over each level's shown classes (all of them, with the gap and the strata, in "
        "subgroup_averages.csv):",
        "",
    ]
    lines += _md_table(
        ["Level"] + [subgroup_average_name(k)[0] for k in keys], rows, "l" + "r" * len(keys)
    )
    claimed = [
        (level, x)
        for level, by in subgroup_macro_differences(g, withheld).items()
        for x in by.values()
        if subgroup_claimed(x)
    ]
    if claimed:
        lines += ["Macro averages that differ from the rest of the rows (claimed):", ""]
        lines += _md_table(
            ["Level", "Of", "Minus the rest", "Adjusted interval"],
            [
                [
                    _md(level),
                    subgroup_average_name(x["metric"])[1],
                    fmt_signed(x["difference"], bounds=(0.0,)),
                    _adjusted_interval(x["adjusted"]),
                ]
                for level, x in claimed
            ],
            "llrr",
        )
    else:
        lines += ["No macro average differs from the rest of the rows by a claimed difference.", ""]
    return lines


def _adjusted_interval(a: dict) -> str:
    """An adjusted interval on its own, with as many decimals as its width needs."""
    from .formatting import estimate_digits, fmt_interval

    lo, hi = a.get("ci_low"), a.get("ci_high")
    digits = estimate_digits({"estimate": lo, "ci_low": lo, "ci_high": hi}, bounds=(0.0,))
    return fmt_interval(lo, hi, digits, bounds=(0.0,))


def _config_text(d: dict, key: str) -> str:
    """Text the user wrote in ``run.config[key]``, stripped; "" when absent or empty."""
    value = ((d.get("run") or {}).get("config") or {}).get(key)
    if value is None:
        return ""
    if isinstance(value, (list, tuple)):
        value = "\n\n".join(str(v) for v in value)
    return str(value).strip()


_MD_ITEM = re.compile(r"^\s*(?:[-*+]|(\d{1,9})[.)])\s+(.*)$")


def _md_paragraphs(text: str) -> list:
    """Markdown the user wrote, made inert for the summary but keeping its shape: paragraphs
    (blank lines) and list items (``-``, ``*``, ``+``, ``1.``) stay; everything else in a line is
    escaped by :func:`_md`, and a line that would start a heading, quote, rule, code block or
    table is escaped too, so no link, image, HTML, mention or heading of the user's gets through.
    """
    out: list[str] = []
    para: list[str] = []

    def flush():
        if para:
            out.append(" ".join(para))
            para.clear()

    for line in str(text).splitlines():
        if not line.strip():
            flush()
            if out and out[-1] != "":
                out.append("")
            continue
        m = _MD_ITEM.match(line)
        if m:
            flush()
            marker = f"{m.group(1)}." if m.group(1) else "-"
            out.append(f"{marker} {_md_line(m.group(2))}")
        else:
            para.append(_md_line(line.strip()))
    flush()
    while out and out[-1] == "":
        out.pop()
    return out


def _md_line(text: str) -> str:
    """One line of user text for :func:`_md_paragraphs`: escaped, and a block-starting first
    character (``# > - + = 1.`` ...) escaped as well."""
    line = _md(text.strip()).replace("$", "\\$")  # no GitHub math either
    if line[:1] in "#>-+=" or re.match(r"\d+[.)]", line):
        line = "\\" + line if line[:1] in "#>-+=" else re.sub(r"^(\d+)([.)])", r"\1\\\2", line)
    return line


def _md_gates(gates: dict) -> list:
    items = gates.get("items") or []
    lines = ["## Quality gates", ""]
    if gates.get("passed") is None:
        return lines + ["Quality gates: none declared.", ""]
    failed = [i for i in items if i.get("passed") is not True]
    if gates["passed"]:
        verdict = f"Quality gates: PASS ({len(items) - len(failed)}/{len(items)})"
    else:
        verdict = f"Quality gates: FAIL ({len(failed)} of {len(items)} failed)"
    lines += [f"**{verdict}**", ""]
    basis_words = {
        "ci_low": "interval lower bound",
        "ci_high": "interval upper bound",
        "estimate": "estimate",
    }
    rows = []
    for i in items:
        basis = str(i.get("basis") or gates.get("basis") or "")
        result = {True: "PASS", False: "FAIL"}.get(i.get("passed"), "undefined")
        rows.append(
            [
                _md(i.get("spec", "")),
                _md(basis_words.get(basis, basis)),
                fmt_gate_value(i),
                fmt_marked(i.get("estimate")),
                result,
            ]
        )
    if rows:
        lines += _md_table(
            ["Gate", "Basis", "Value", "Estimate [interval]", "Result"], rows, "llrrl"
        )
    return lines


# ------------------------------------------------------------------------------------------------
# the comparison with a previous audit (baseline), shown by the Markdown summary and the report

#: Marks a change that rests on a class below ``min_support`` in either run (not evidence).
INSUFFICIENT_MARK = "\u2020"

#: Rows of a per-class change table at most (whole classes are kept together).
BASELINE_CLASS_ROWS = 60

_UP, _DOWN = "\u2191", "\u2193"


def baseline_bounds(metric: str) -> tuple:
    """Values a baseline row's estimates must not appear to reach (:func:`_metric_bounds`); a
    gap is a difference, so only 0."""
    if metric.split(".", 1)[0] == "gap":
        return (0.0,)
    return _metric_bounds(metric.rsplit(".", 1)[-1])


def baseline_metric_label(metric: str) -> str:
    """A headline row's name as a reader says it: ``macro.f1`` -> ``Macro F1``,
    ``overall.log_loss`` -> ``Log loss``, ``gap.recall`` -> ``Macro - micro recall``,
    ``stratum.rare.f1`` -> ``Stratum rare: macro F1`` (the JSON keeps ``metric`` as the name
    a quality gate uses)."""
    family, _, rest = metric.partition(".")
    name = rest.rpartition(".")[2]
    if family in _AVERAGES:
        return f"{family.capitalize()} {metric_text(name)}"
    if family == "overall":
        return metric_name(name)
    if family == "gap":
        return f"Macro - micro {metric_text(name)}"
    if family == "stratum" and "." in rest:
        return f"Stratum {rest.rpartition('.')[0]}: macro {metric_text(name)}"
    return metric


def fmt_baseline_side(row: dict, side: str) -> str:
    """The previous (``side="old"``) or current estimate [interval] of a row; ``absent`` when
    that run does not have the row."""
    e = row.get(side)
    return "absent" if e is None else fmt_marked(e, bounds=baseline_bounds(row.get("metric", "")))


def fmt_difference(row: dict) -> str:
    """``-0.41 [-0.43, -0.38]``: the signed difference with its interval (``≈[...]`` when it comes
    from an approximate one), up to 6 decimals so that a bound near 0 keeps its sign; empty
    when a run lacks the row."""
    d = _baseline.difference_of(row)
    if d is None:
        return ""
    text = fmt_signed(d, bounds=(0.0,))
    return (
        text.replace(" [", " " + APPROXIMATE_MARK + "[", 1) if d["status"] == "unstable" else text
    )


def fmt_change(row: dict) -> str:
    """What a row's difference shows: ``↓ worse``, ``↑ better``, ``↑ worse`` (a log loss that
    rose), ``↑ higher`` (a gap, which has no better direction), ``no evidence``, ``no interval``
    or ``undefined``; ``†`` after a row that rests on a class below the minimum support."""
    d = _baseline.difference_of(row)
    if d is None:
        return ""
    if d["estimate"] is None:
        text = "undefined"
    elif d["ci_low"] is None or d["ci_high"] is None:
        text = "no interval"
    elif not (d["ci_low"] > 0 or d["ci_high"] < 0):
        text = "no evidence"
    else:
        up = d["ci_low"] > 0
        word = row.get("change") if row.get("change") in ("better", "worse") else None
        text = f"{_UP if up else _DOWN} {word or ('higher' if up else 'lower')}"
    return text + (" " + INSUFFICIENT_MARK if row.get("insufficient") else "")


def _evidence(row: dict) -> bool:
    return row.get("change") in ("better", "worse") and not row.get("insufficient")


def baseline_class_rows(block: dict, max_rows: int = BASELINE_CLASS_ROWS):
    """The per-class rows a table shows, in order: ``([(class, row, first_of_class)], shown,
    total)``. Classes with a change backed by evidence (better or worse, not insufficient) come
    first, then the others, each group by prevalence (the block's order); whole classes are
    added while the table stays within ``max_rows`` rows (at least one class)."""
    classes = list(block.get("per_class") or ())
    changed = [c for c in classes if any(_evidence(i) for i in c["items"])]
    ordered = changed + [c for c in classes if c not in changed]
    out: list = []
    shown = 0
    for c in ordered:
        if out and len(out) + len(c["items"]) > max_rows:
            break
        out += [(c, row, k == 0) for k, row in enumerate(c["items"])]
        shown += 1
    return out, shown, len(classes)


def _count_phrase(rows) -> str:
    rows = list(rows)
    counts = {
        "worse": sum(_evidence(r) and r["change"] == "worse" for r in rows),
        "better": sum(_evidence(r) and r["change"] == "better" for r in rows),
        "with no evidence of a change": sum(
            (_baseline.difference_of(r) or {}).get("ci_low") is not None
            and r.get("significant") is False
            for r in rows
        ),
        "gaps moved (a gap has no better direction)": sum(
            r.get("higher_is_better", True) is None and r.get("significant") is True for r in rows
        ),
        f"rest on a class below the minimum support ({INSUFFICIENT_MARK}, not evidence)": sum(
            bool(r.get("insufficient")) and r.get("significant") is True for r in rows
        ),
        "only in one run": sum(r.get("old") is None or r.get("new") is None for r in rows),
        "without an interval": sum(
            r.get("old") is not None
            and r.get("new") is not None
            and (_baseline.difference_of(r) or {}).get("ci_low") is None
            for r in rows
        ),
    }
    return ", ".join(f"{n} {what}" for what, n in counts.items() if n) or "none"


def baseline_class_note(n_shown: int, n_classes: int) -> str:
    """The note under a per-class change table: its order, the cap, and the mark."""
    return (
        "Classes with a change backed by evidence first, then the others, each by prevalence."
        + (
            f" {n_shown} of {n_classes} classes are shown; every row is in results.json "
            "(baseline.per_class)."
            if n_shown < n_classes
            else ""
        )
        + f" {INSUFFICIENT_MARK}: a class below the minimum support in either run, whose rows "
        "are not evidence on their own."
    )


def baseline_overview(block: dict) -> list:
    """Sentences about a baseline block, for the Markdown summary and the report (plain text:
    each reporter escapes it): what was compared, the counts of each kind of change, the rows
    left out as noise, and the block's note on the method (from its second sentence: the first
    is :data:`prevalens.baseline.UNPAIRED_LABEL`, which each reporter puts first)."""
    n = block.get("n_samples")
    facts = (
        f"Compared with the audit of {block.get('created_utc') or 'unknown date'} (results file "
        f"{block.get('path') or 'unknown'}, SHA-256 {block.get('sha256') or 'unknown'}"
        + (f", {n:,} samples" if isinstance(n, int) else "")
        + "). "
        + {
            True: "The input files changed.",
            False: "The input files are the same, so the runs are not independent samples and "
            "the intervals below are conservative.",
            None: "Whether the input data changed is unknown (in-memory data have no hash).",
        }.get(block.get("inputs_changed"), "")
    )
    if block.get("classes_added"):
        facts += " New classes: " + ", ".join(map(str, block["classes_added"])) + "."
    if block.get("classes_removed"):
        facts += (
            " Classes no longer present: " + ", ".join(map(str, block["classes_removed"])) + "."
        )
    items = block.get("items") or []
    classes = block.get("per_class") or []
    counts = f"Headline numbers ({len(items)} compared): {_count_phrase(items)}."
    if classes:
        rows = [i for c in classes for i in c["items"]]
        counts += (
            f" Per class ({len(classes)} classes in both runs, {len(rows)} rows): "
            f"{_count_phrase(rows)}."
        )
    noise = block.get("omitted_noise") or 0
    if noise:
        counts += (
            f" {noise} row{'s are' if noise != 1 else ' is'} left out as noise: both runs give "
            "the same value with no uncertainty (or are both undefined), or the difference and "
            "its interval all read 0.000000 (below 5e-7)."
        )
    note = str(block.get("note") or "")
    method = (
        note[len(_baseline.UNPAIRED_LABEL) :].strip()
        if note.startswith(_baseline.UNPAIRED_LABEL)
        else note
    )
    return [facts.strip(), counts, method]


#: The note under a table of baseline rows: how to read its Change column.
BASELINE_CHANGE_NOTE = (
    f"Difference: this run minus the previous one, with its interval. Change: {_UP}/{_DOWN} the "
    "direction of a difference whose interval excludes 0, read as better or worse in the "
    "metric's better direction (lower for log loss and the Brier score); a gap (macro - micro) "
    f"has no better direction. {INSUFFICIENT_MARK}: rests on a class below the minimum support "
    "in either run, not evidence on its own."
)


def _md_baseline(baseline: dict) -> list:
    lines = ["## Changes since the previous audit", ""]
    facts, counts, method = baseline_overview(baseline)
    # the label is prevalens's own text, with `prevalens compare` as code
    lines += [f"**{_baseline.UNPAIRED_LABEL}**", "", _md(facts), "", _md(counts), ""]
    lines += [_md(method), ""]
    rows = [
        [
            _md(baseline_metric_label(i.get("metric", ""))),
            fmt_baseline_side(i, "old"),
            fmt_baseline_side(i, "new"),
            fmt_difference(i),
            fmt_change(i),
        ]
        for i in baseline.get("items") or ()
    ]
    if rows:
        lines += _md_table(
            ["Metric", "Previous", "Current", "Difference [interval]", "Change"], rows, "lrrrl"
        )
    else:
        lines += ["No headline numbers compared.", ""]
    shown, n_shown, n_classes = baseline_class_rows(baseline)
    if shown:
        lines += ["### Per class", ""]
        crows = [
            [
                _md(c["label"]) if first else "",
                f"{c['support']['old']:,} \u2192 {c['support']['new']:,}" if first else "",
                metric_name(i["metric"]),
                fmt_baseline_side(i, "old"),
                fmt_baseline_side(i, "new"),
                fmt_difference(i),
                fmt_change(i),
            ]
            for c, i, first in shown
        ]
        lines += _md_table(
            [
                "Class",
                "Support",
                "Metric",
                "Previous",
                "Current",
                "Difference [interval]",
                "Change",
            ],
            crows,
            "lrlrrrl",
        )
        lines += [_md(baseline_class_note(n_shown, n_classes)), ""]
    if rows or shown:
        lines += [_md(BASELINE_CHANGE_NOTE), ""]
    return lines


# ------------------------------------------------------------------------------------------------
# LaTeX

_TEX_ESCAPES = {
    "\\": r"\textbackslash{}",
    "{": r"\{",
    "}": r"\}",
    "$": r"\$",
    "&": r"\&",
    "#": r"\#",
    "^": r"\textasciicircum{}",
    "_": r"\_",
    "%": r"\%",
    "~": r"\textasciitilde{}",
    "<": r"\textless{}",
    ">": r"\textgreater{}",
    "|": r"\textbar{}",
    # A row that starts with [ or * after \\ would be read as \\[...] or \\*: keep them inert.
    "[": "{[}",
    "]": "{]}",
    "*": "{*}",
    # Shown as typed (not as curly quotes or inverted marks); textcomp, in the kernel since 2020.
    "`": r"\textasciigrave{}",
    "'": r"\textquotesingle{}",
}


def _tex(text) -> str:
    """User text as LaTeX text: every special character replaced, on one line, and the ligatures
    that would change the text (-- to a dash, `` and '' to curly quotes, !` to an inverted
    exclamation mark) broken."""
    text = _oneline(text)
    out = []
    for i, ch in enumerate(text):
        if ch in "-," and text[i + 1 : i + 2] == ch:  # -- and ,, (a low quote in T1)
            out.append(ch + "{}")
        else:
            out.append(_TEX_ESCAPES.get(ch, ch))
    return "".join(out)


def _tex_num(text: str) -> str:
    """A number formatted here (digits, sign, brackets, ``%``, ``<``/``>`` of a bound shown as a
    comparison, the approximate mark, ``undefined``) as LaTeX. Its brackets never start a row,
    so unlike :func:`_tex` they stay as they are."""
    return (
        text.replace("%", r"\%")
        .replace("<", r"\textless{}")
        .replace(">", r"\textgreater{}")
        .replace(APPROXIMATE_MARK, r"$\approx$")
    )


def _tex_row(cells) -> str:
    return " & ".join(cells) + r" \\"


#: A cell of two lines (the estimate over its interval, the support over the prevalence), defined
#: by the fragment itself so the preamble needs nothing more. ``\relax`` keeps an interval's ``[``
#: from being read as the optional argument of ``\\``.
_TEX_STACK_DEF = (
    r"\providecommand{\prevalensstack}[3][r]{\begin{tabular}[t]{@{}#1@{}}#2\\\relax "
    r"#3\end{tabular}}"
)
#: The class cell: the label (wrapping, ragged right, in a column as wide as the other columns
#: leave) with its marks, over the stratum in italics.
_TEX_CLASS_DEF = (
    r"\providecommand{\prevalensclass}[3]{\parbox[t]{\prevalenslabelwidth}"
    r"{\raggedright #1#3\\\textit{#2}\strut}}"
)
#: The lengths that size the class column, declared once however often the fragment is input.
_TEX_LENGTHS_DEF = (
    r"\ifdefined\prevalenslabelwidth\else\newlength{\prevalenslabelwidth}"
    r"\newlength{\prevalensrest}\fi"
)

#: A little space between rows of two-line cells (booktabs).
_TEX_GAP = r"\addlinespace[2pt] "

#: Marks of the per-class table: flag -> (mark, the table note's words).
_TEX_MARKS = {
    "insufficient": (
        r"\textsuperscript{\textdagger}",
        "insufficient: fewer than {min_support} true samples; the estimate and its "
        "(wide) interval are shown, and no finding rests on the class alone",
    ),
    "diverges": (
        r"\textsuperscript{*}",
        "diverges: its metric differs from the micro average by more than the "
        "adjusted interval allows (see the divergence table of the report)",
    ),
}
_TEX_MARK_TEXT = {"insufficient": r"\textdagger{}", "diverges": "*"}

#: Where a class label may break in its column: after these characters, and inside any run of
#: more than this many characters without one (a long identifier).
_TEX_BREAK_AFTER = "_-/.:"
_TEX_BREAK_RUN = 12


def _tex_label(text) -> str:
    """A class label as LaTeX that wraps in a narrow column: escaped, with ``\allowbreak{}``
    after ``_ - / . :`` and every :data:`_TEX_BREAK_RUN` characters of an unbroken run."""
    out, run = [], 0
    text = _oneline(text)
    for i, ch in enumerate(text):
        out.append(_tex(ch) if not (ch in "-," and text[i + 1 : i + 2] == ch) else ch + "{}")
        run = 0 if ch.isspace() else run + 1
        if (
            i + 1 < len(text)
            and not text[i + 1].isspace()
            and (ch in _TEX_BREAK_AFTER or run >= _TEX_BREAK_RUN)
        ):
            out.append(r"\allowbreak{}")
            run = 0
    return "".join(out)


def _tex_stack(top: str, bottom: str, align: str = "r") -> str:
    opt = "" if align == "r" else f"[{align}]"
    return rf"\prevalensstack{opt}{{{top}}}{{{bottom}}}"


def _tex_estimate_stacked(e, bounds=(0.0, 1.0)) -> str:
    """An estimate over its interval (one line when there is no interval)."""
    text = _tex_num(fmt_marked(e, bounds=bounds))
    est, sep, interval = text.partition(" ")
    return _tex_stack(est, interval) if sep else text


def tex_class_cell(c: dict, marks: str = "") -> str:
    """A class's cell of a per-class LaTeX table: its label, its stratum beneath, ``marks``
    (LaTeX) after the label."""
    return (
        r"\prevalensclass{"
        + _tex_label(c["label"])
        + "}{"
        + _tex(c.get("stratum") or "none")
        + "}{"
        + marks
        + "}"
    )


def tex_table(spec, caption, label, header, rows, *, sizing=(), note=None, longtable=False):
    """The lines of a booktabs table of many rows: a ``longtable`` over pages (the header
    repeated on each) or a float. ``caption``, ``header``, ``rows`` and ``note`` are LaTeX
    already; ``sizing`` sets lengths before the table; ``label`` is the bare label."""
    caption = r"\caption{" + caption + r"}\label{" + label + "}"
    if longtable:
        return [
            r"\begingroup",
            r"\footnotesize",
            r"\setlength{\tabcolsep}{4pt}",
            *sizing,
            r"\begin{longtable}{" + spec + "}",
            caption + r"\\",
            r"\toprule",
            header,
            r"\midrule",
            r"\endfirsthead",
            r"\toprule",
            header,
            r"\midrule",
            r"\endhead",
            r"\midrule",
            r"\endfoot",
            r"\bottomrule",
            r"\endlastfoot",
            *rows,
            r"\end{longtable}",
            *(
                [
                    r"\nopagebreak\vspace{-0.5\LTpost}\noindent\parbox{\linewidth}{\raggedright "
                    + note
                    + r"}\par\medskip"
                ]
                if note
                else []
            ),
            r"\endgroup",
        ]
    return [
        r"\begin{table}[htbp]",
        r"\centering",
        r"\footnotesize",
        r"\setlength{\tabcolsep}{4pt}",
        *sizing,
        caption,
        r"\begin{tabular}{" + spec + "}",
        r"\toprule",
        header,
        r"\midrule",
        *rows,
        r"\bottomrule",
        r"\end{tabular}",
        *([r"\par\smallskip\parbox{\linewidth}{\raggedright " + note + "}"] if note else []),
        r"\end{table}",
    ]


def _tex_row_lines(label) -> int:
    """Lines a per-class row takes: the label's wrapped lines and the stratum (two at least)."""
    return max(2, 1 + -(-len(_oneline(label)) // _TEX_LABEL_CHARS))


def _tex_widest(texts) -> str:
    """The longest of the texts (by characters: digits, brackets and commas are about as wide)."""
    return max(texts, key=len)


def latex_tables(d: dict) -> bytes:
    """Booktabs tables as a LaTeX fragment to ``\\input``: the headline averages (metrics by
    micro, macro and weighted), the per-class metrics (most common class first), and, when the
    audit projected them, the headline metrics at the deployment's prevalence
    (``tab:prevalens-deployment``), when the scores are probabilities, the calibration by
    prevalence stratum (``tab:prevalens-calibration``), and, when the audit was made within
    subgroups, each level's accuracy (``tab:prevalens-subgroups``) and the largest gaps across
    the levels (``tab:prevalens-subgroup-gaps``), suppressed values left out.

    The fragment starts with a comment saying which packages the preamble needs:
    ``booktabs`` always, ``longtable`` when the per-class table is a ``longtable`` that breaks
    across pages (from :data:`LONGTABLE_MIN_CLASSES` classes, or fewer when long labels need
    more lines than a page holds), and ``inputenc`` with ``utf8`` on pdfLaTeX for non-ASCII
    labels (XeLaTeX and LuaLaTeX read UTF-8 natively). The class column takes the width the
    numeric columns leave (measured by TeX) and long labels wrap in it, ragged right. Classes
    flagged insufficient carry a dagger and classes that diverge an asterisk, explained in a
    note under the table. Captions give the confidence level and the interval methods; labels
    are ``tab:prevalens-headline`` and ``tab:prevalens-per-class``.
    """
    run, data = d["run"], d["data"]
    classes = _by_prevalence(d)
    longtable = (
        len(classes) >= LONGTABLE_MIN_CLASSES
        or sum(_tex_row_lines(c["label"]) for c in classes) > _TEX_PAGE_LINES
    )
    tool = d.get("tool") or {}
    out = [
        f"% Tables of a prevalens audit: {_oneline(tool.get('name', 'prevalens'))} "
        f"{_oneline(tool.get('version', ''))}, results of {_oneline(run.get('created_utc', ''))}.",
        "% Generated from results.json, which holds every number; re-export rather than edit.",
        "%",
        "% Use: save as tables.tex and write \\input{tables} where the tables belong.",
        "% The preamble needs:",
        "%   \\usepackage{booktabs}          % \\toprule, \\midrule, \\bottomrule",
    ]
    subgroup_lines = _tex_subgroups(d) if d.get("subgroups") else []
    if longtable:
        out.append(
            f"%   \\usepackage{{longtable}}         % the per-class table ({len(classes)} "
            "classes) is a longtable"
        )
    elif any(line.startswith(r"\begin{longtable}") for line in subgroup_lines):
        out.append("%   \\usepackage{longtable}         % a subgroup table is a longtable")
    out += [
        "%   \\usepackage[utf8]{inputenc}    % on pdfLaTeX, for non-ASCII class labels (the",
        "%                                  % default since LaTeX 2018); XeLaTeX and LuaLaTeX",
        "%                                  % read UTF-8 natively (use them for scripts that",
        "%                                  % pdfLaTeX lacks, e.g. CJK)",
        "% Labels: tab:prevalens-headline, tab:prevalens-per-class. The headline table is set in",
        "% \\small, the per-class table in \\footnotesize; a cell holds two lines (the estimate",
        "% over its interval, the support over the prevalence), set by \\prevalensstack, and the",
        "% class column takes the width the other columns leave, long labels wrapping in it",
        "% over the stratum (\\prevalensclass); both are defined below, so both tables fit the",
        "% text width of a one-column article. The per-class table is a longtable from",
        f"% {LONGTABLE_MIN_CLASSES} classes (or fewer with labels too long for one page).",
        "",
        _TEX_STACK_DEF,
        _TEX_CLASS_DEF,
        _TEX_LENGTHS_DEF,
        "",
    ]

    # 1. headline averages
    averages = d.get("averages") or {}
    metrics = [m for m in _HEADLINE_TEX if any(m in (averages.get(a) or {}) for a in _AVERAGES)]
    caption = (
        f"Micro, macro and weighted averages over {data['n_classes']} classes "
        f"({data['n_samples']:,} samples) with {_confidence_text(run)} confidence "
        "intervals ("
        + _methods_text(
            run, [(m, [(averages.get(a) or {}).get(m) for a in _AVERAGES]) for m in metrics]
        )
        + ")."
    )
    out += [
        r"\begin{table}[htbp]",
        r"\centering",
        r"\small",
        r"\setlength{\tabcolsep}{4pt}",
        r"\caption{" + _tex(caption) + r"}\label{tab:prevalens-headline}",
        r"\begin{tabular}{lrrr}",
        r"\toprule",
        _tex_row(["Metric", "Micro", "Macro", "Weighted"]),
        r"\midrule",
    ]
    for i, m in enumerate(metrics):
        cells = [_tex_estimate_stacked((averages.get(a) or {}).get(m)) for a in _AVERAGES]
        out.append((_TEX_GAP if i else "") + _tex_row([_tex(metric_name(m))] + cells))
    out += [r"\bottomrule", r"\end{tabular}", r"\end{table}", ""]

    # 2. per-class metrics
    cols = [m for m in _PER_CLASS_TEX if any(m in c["metrics"] for c in classes)]
    header = _tex_row(
        [_tex_stack("Class", r"\textit{stratum}", "l"), _tex_stack("Support", "prevalence")]
        + [_tex(metric_name(m)) for m in cols]
    )
    spec = "lr" + "r" * len(cols)
    caption = _tex(
        f"Per-class metrics, most common class first, with {_confidence_text(run)} "
        "confidence intervals ("
        + _methods_text(run, [(m, [c["metrics"].get(m) for c in classes]) for m in cols])
        + ")."
    )
    support_cells = [(f"{c['support']:,}", _tex_num(fmt_percent(c["prevalence"]))) for c in classes]
    metric_cells = [[_tex_num(fmt_marked(c["metrics"].get(m))) for c in classes] for m in cols]
    # the widest line of each numeric column (header included); TeX measures their sum, and the
    # class column gets the rest of the line
    widest = [_tex_widest(["Support", "prevalence"] + [t for pair in support_cells for t in pair])]
    for m, cells in zip(cols, metric_cells):
        lines = [
            part
            for cell in cells
            for part in (
                (cell.partition(" ")[0], cell.partition(" ")[2]) if " " in cell else (cell,)
            )
        ]
        widest.append(_tex_widest([_tex(metric_name(m))] + lines))
    sizing = [
        r"\settowidth{\prevalensrest}{" + "".join(widest) + "}",
        r"\setlength{\prevalenslabelwidth}{\dimexpr\linewidth-\prevalensrest"
        rf"-{2 * (len(cols) + 2)}\tabcolsep\relax}}",
        r"\ifdim\prevalenslabelwidth<5em\setlength{\prevalenslabelwidth}{5em}\fi",
    ]
    min_support = int(((run.get("config") or {}).get("min_support")) or 10)
    used = [f for f in _TEX_MARKS if any(f in (c.get("flags") or ()) for c in classes)]
    note = "; ".join(
        _TEX_MARK_TEXT[f] + " " + _tex(_TEX_MARKS[f][1].format(min_support=min_support))
        for f in used
    )
    rows = [
        (_TEX_GAP if i else "")
        + _tex_row(
            [
                tex_class_cell(
                    c, "".join(_TEX_MARKS[f][0] for f in _TEX_MARKS if f in (c.get("flags") or ()))
                ),
                _tex_stack(*support_cells[i]),
            ]
            + [_tex_estimate_stacked(c["metrics"].get(m)) for m in cols]
        )
        for i, c in enumerate(classes)
    ]
    out += tex_table(
        spec,
        caption,
        "tab:prevalens-per-class",
        header,
        rows,
        sizing=sizing,
        note=note or None,
        longtable=longtable,
    )

    # 3. at the deployment's prevalence, when projected
    shift = d.get("prevalence_shift")
    if shift:
        signed = {"overall.cohen_kappa", "overall.mcc"}
        caption = (
            f"Headline metrics as evaluated and at the deployment's class prevalences "
            f"({shift['source']}), with {_confidence_text(run)} confidence intervals. Assumed: "
            f"{shift['assumption']}."
        )
        out += [
            r"\begin{table}[htbp]",
            r"\centering",
            r"\small",
            r"\setlength{\tabcolsep}{4pt}",
            r"\caption{" + _tex(caption) + r"}\label{tab:prevalens-deployment}",
            r"\begin{tabular}{lrr}",
            r"\toprule",
            _tex_row(["Metric", "As evaluated", "At deployment"]),
            r"\midrule",
        ]
        for i, (key, e) in enumerate(shift["headline"].items()):
            bounds = (-1.0, 1.0) if key in signed else (0.0, 1.0)
            cells = [
                _tex_estimate_stacked(_evaluated(d, key), bounds=bounds),
                _tex_estimate_stacked(e, bounds=bounds),
            ]
            out.append(
                (_TEX_GAP if i else "") + _tex_row([_tex(SHIFT_METRIC_NAMES.get(key, key))] + cells)
            )
        out += [r"\bottomrule", r"\end{tabular}", r"\end{table}", ""]

    # 4. calibration by stratum, when the scores are probabilities
    cal = d.get("calibration")
    if cal and cal.get("strata"):
        min_support = int(((run.get("config") or {}).get("min_support")) or 10)
        caption = (
            f"Calibration of the predicted probabilities by prevalence stratum, with "
            f"{_confidence_text(run)} confidence intervals: ECE over every class of the "
            f"stratum, mean intercept (calibration-in-the-large, log-odds; above 0: "
            f"probabilities too low) and mean slope (below 1: over-confident) over the classes "
            f"with at least {min_support} samples. Overall: "
            + calibration_overall_text(cal).replace("\u2212", "-")
        )
        out += [
            r"\begin{table}[htbp]",
            r"\centering",
            r"\small",
            r"\setlength{\tabcolsep}{4pt}",
            # the overall ECEs may be approximate (status unstable): their mark as in the cells
            r"\caption{"
            + _tex(caption).replace(APPROXIMATE_MARK, r"$\approx$")
            + r"}\label{tab:prevalens-calibration}",
            r"\begin{tabular}{lrrrr}",
            r"\toprule",
            _tex_row(["Stratum", "Classes", "ECE", "Mean intercept", "Mean slope"]),
            r"\midrule",
        ]
        for i, s in enumerate(cal["strata"]):
            cells = [
                _tex(s["stratum"]),
                _tex_stack(str(s["n_classes"]), f"({s['n_used']} used)"),
                _tex_estimate_stacked(s["ece"], bounds=(0.0,)),
                _tex_estimate_stacked(s["intercept"], bounds=(0.0,)),
                _tex_estimate_stacked(s["slope"], bounds=(0.0, 1.0)),
            ]
            out.append((_TEX_GAP if i else "") + _tex_row(cells))
        out += [r"\bottomrule", r"\end{tabular}", r"\end{table}", ""]

    # 5. within subgroups: each level's accuracy, the largest gaps and the levels' averages
    out += subgroup_lines
    return ("\n".join(out) + "\n").encode("utf-8")


def _tex_signed_stacked(e) -> str:
    """A difference over its interval, signed (one line when there is no interval)."""
    est, sep, interval = _tex_num(fmt_signed(e, bounds=(0.0,))).partition(" ")
    return _tex_stack(est, interval) if sep else est


#: From this many rows a subgroup table is a ``longtable`` (it breaks across pages).
_TEX_SUBGROUP_LONG = 30


def _tex_subgroups(d: dict) -> list:
    """The subgroup tables ``tab:prevalens-subgroups`` (each level's size and accuracy with its
    difference from the rest) and ``tab:prevalens-subgroup-gaps`` (the largest gaps)."""
    sub, run = d["subgroups"], d["run"]
    level_rows: list[str] = []
    gap_rows: list[str] = []
    n_gaps = 0
    for g in sub["groupings"]:
        withheld = subgroup_withheld(g)
        rest = {
            x["level"]: x
            for x in subgroup_disparities(g, withheld)
            if x["against"] == "rest" and x["metric"] == "accuracy"
        }
        for i, lv in enumerate(g["levels"]):
            acc = subgroup_value(withheld, lv, "accuracy")
            r = rest.get(lv["level"])
            name = _tex_label(lv["level"]) + (
                r"\textsuperscript{ref}" if lv["level"] == g["reference"] else ""
            )
            level_rows.append(
                (r"\midrule " if i == 0 and level_rows else (_TEX_GAP if i else ""))
                + _tex_row(
                    [
                        _tex_label(g["name"]) if i == 0 else "",
                        name,
                        _tex(subgroup_level_size(lv)),
                        _tex_estimate_stacked(acc) if acc else "suppressed",
                        _tex_signed_stacked(r["difference"]) if r else "",
                    ]
                )
            )
        gaps = subgroup_gaps(g, withheld)
        n_gaps += len(gaps)
        for i, x in enumerate(subgroup_gap_rows(gaps)):
            gap_rows.append(
                (r"\midrule " if i == 0 and gap_rows else (_TEX_GAP if i else ""))
                + _tex_row(
                    [
                        _tex_label(g["name"]) if i == 0 else "",
                        _tex_label(subgroup_gap_label(x)),
                        _tex_estimate_stacked(x["gap"], bounds=(0.0,)),
                        _tex_label(x["highest"]),
                        _tex_label(x["lowest"]),
                    ]
                )
            )
    level = _confidence_text(run)
    method = next(
        (
            lv["accuracy"]["method"]
            for g in sub["groupings"]
            for lv in g["levels"]
            if not lv["suppressed"] and lv["accuracy"].get("method")
        ),
        "Wilson score interval",
    )
    out = tex_table(
        "llrrr",
        _tex(
            f"Accuracy within subgroups, each level with its {level} confidence interval "
            f"({method}) and its difference from the rest of the rows "
            "(ref: the reference level). Small cells: " + (sub.get("suppression") or "") + "."
        ),
        "tab:prevalens-subgroups",
        _tex_row(["Grouping", "Level", "Rows", "Accuracy", "Minus the rest"]),
        level_rows,
        longtable=len(level_rows) >= _TEX_SUBGROUP_LONG,
    )
    if gap_rows:
        out += [""] + tex_table(
            "llrll",
            _tex(
                f"Largest gaps across the levels of each grouping (highest minus lowest level) "
                f"with simultaneous {level} intervals that account for picking the two levels; "
                f"accuracy, then the gaps whose interval excludes 0, then the largest, "
                f"{len(gap_rows)} of {n_gaps} (all in subgroup_gaps.csv)."
            ),
            "tab:prevalens-subgroup-gaps",
            _tex_row(["Grouping", "Of", "Gap", "Highest", "Lowest"]),
            gap_rows,
            longtable=len(gap_rows) >= _TEX_SUBGROUP_LONG,
        )
    out += _tex_subgroup_averages(d)
    return out + [""]


def _tex_level_cell(text: str) -> str:
    """A level's name in the level column of the averages tables: wrapping, ragged right, in
    the width the numeric columns leave (``\\prevalenslabelwidth``)."""
    return r"\parbox[t]{\prevalenslabelwidth}{\raggedright " + text + r"\strut}"


def _tex_sizing(columns: list) -> list:
    """The lengths that give the first column the width the others leave: ``columns`` holds
    each other column's lines (a heading's lines, and each cell's estimate and interval apart);
    TeX measures the sum of the widest of each."""
    widest = [_tex_widest(lines or [""]) for lines in columns]
    n = len(columns) + 1
    return [
        r"\settowidth{\prevalensrest}{" + "".join(widest) + "}",
        r"\setlength{\prevalenslabelwidth}{\dimexpr\linewidth-\prevalensrest"
        rf"-{2 * n}\tabcolsep\relax}}",
        r"\ifdim\prevalenslabelwidth<5em\setlength{\prevalenslabelwidth}{5em}\fi",
    ]


def _tex_two_lines(top: str, bottom: str = "") -> str:
    """A heading of one or two lines (LaTeX already)."""
    return _tex_stack(top, bottom) if bottom else top


def _tex_lines(text: str) -> list:
    """A cell's lines as :func:`_tex_stack` sets them: the estimate, then its interval."""
    est, sep, interval = text.partition(" ")
    return [est, interval] if sep else [text]


#: The two-line headings of the strata table's columns, by prefix kind.
_TEX_STRATA_HEADINGS = {
    "gap": ("Macro minus", "accuracy"),
    "extremes": ("Rarest minus", "most common"),
}


def _tex_subgroup_averages(d: dict) -> list:
    """The tables ``tab:prevalens-subgroup-averages`` (each level's macro averages over its
    shown classes) and ``tab:prevalens-subgroup-strata`` (each level's gap, macro minus
    accuracy, and its strata's macros, a row per metric), the levels of each grouping under
    its name; a suppressed level reads ``suppressed`` (and has no row of strata)."""
    sub, run = d["subgroups"], d["run"]
    strata = d.get("strata") or ()
    groupings = sub["groupings"]
    present = {k for g in groupings for k in subgroup_average_keys(g)}
    keys = [f"macro.{m}" for m in SUBGROUP_MACROS if f"macro.{m}" in present]
    if not keys:
        return []
    s_cols: list = []
    for g in groupings:
        s_cols += [c for c in subgroup_strata_columns(g, strata) if c not in s_cols]
    headings = [
        tuple(_tex(t) for t in SUBGROUP_MACROS[k.partition(".")[2]][0].split(" ", 1)) for k in keys
    ]
    s_head = [_TEX_STRATA_HEADINGS.get(prefix, (_tex_label(name), "")) for prefix, name in s_cols]
    lines: list = [list(h) for h in headings]
    s_lines: list = [["Metric"] + [_tex(metric_name(m)) for m in SUBGROUP_STRATA_METRICS]] + [
        list(h) for h in s_head
    ]
    rows: list[str] = []
    s_rows: list[str] = []

    def value(withheld, lv, key, column, empty):
        e = subgroup_average(withheld, lv, key)
        text = _tex_num(fmt_subgroup_average(e, key)) if e else empty
        column += _tex_lines(text)
        est, sep, interval = text.partition(" ")
        return _tex_stack(est, interval) if sep else text

    def heading_row(name, n_cols):
        return rf"\multicolumn{{{n_cols}}}{{@{{}}l}}{{\textit{{{_tex(name)}}}}} \\"

    for g in groupings:
        withheld = subgroup_withheld(g)
        if len(groupings) > 1:
            rows.append((r"\midrule " if rows else "") + heading_row(g["name"], len(keys) + 1))
            s_rows.append(
                (r"\midrule " if s_rows else "") + heading_row(g["name"], len(s_cols) + 2)
            )
        first_s = True
        for i, lv in enumerate(g["levels"]):
            name = _tex_level_cell(
                _tex_label(lv["level"])
                + (r"\textsuperscript{ref}" if lv["level"] == g["reference"] else "")
            )
            cells = [value(withheld, lv, k, lines[c], "suppressed") for c, k in enumerate(keys)]
            rows.append((_TEX_GAP if i else "") + _tex_row([name] + cells))
            if lv["suppressed"] or not s_cols:
                continue
            for j, metric in enumerate(SUBGROUP_STRATA_METRICS):
                s_cells = [
                    value(withheld, lv, f"{prefix}.{metric}", s_lines[c + 1], "")
                    for c, (prefix, _) in enumerate(s_cols)
                ]
                s_rows.append(
                    (_TEX_GAP if j == 0 and not first_s else "")
                    + _tex_row([name if j == 0 else "", _tex(metric_name(metric))] + s_cells)
                )
            first_s = False
    level = _confidence_text(run)
    method = next(
        (
            e["method"]
            for g in groupings
            for lv in g["levels"]
            for e in [(lv.get("averages") or {}).get("macro.recall")]
            if e and e.get("method")
        ),
        "",
    )
    shown = "over each level's shown classes (a suppressed class counts in no average)"
    out = [""] + tex_table(
        "l" + "r" * len(keys),
        _tex(
            f"Macro averages within the levels of each grouping, {shown}, with {level} "
            f"confidence intervals ({method}"
            + ("; ROC AUC: DeLong on the logit scale" if "macro.roc_auc" in keys else "")
            + "); ref: the reference level. All of them in subgroup_averages.csv."
        ),
        "tab:prevalens-subgroup-averages",
        _tex_row(["Level"] + [_tex_two_lines(*h) for h in headings]),
        rows,
        sizing=_tex_sizing(lines),
        longtable=len(rows) >= _TEX_SUBGROUP_LONG,
    )
    if s_rows:
        out += [""] + tex_table(
            "ll" + "r" * len(s_cols),
            _tex(
                f"The gap and the strata within the levels of each grouping, {shown}, with "
                f"{level} confidence intervals: the macro average minus the level's accuracy, "
                "and the macro average over the classes of each of the audit's prevalence "
                "strata (rarest first)"
                + (
                    ", and the rarest stratum's minus the most common one's"
                    if any(prefix == "extremes" for prefix, _ in s_cols)
                    else ""
                )
                + "; empty where a stratum has no shown class in the level."
            ),
            "tab:prevalens-subgroup-strata",
            _tex_row(["Level", "Metric"] + [_tex_two_lines(*h) for h in s_head]),
            s_rows,
            sizing=_tex_sizing(s_lines),
            longtable=len(s_rows) >= _TEX_SUBGROUP_LONG,
        )
    return out
