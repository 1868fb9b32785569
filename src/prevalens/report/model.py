"""The report's data model: results JSON -> ready-formatted strings, rows and figures.

Templates lay out what this module produced and compute nothing (coverage.py's split between
``HtmlDataGeneration`` and ``HtmlReporter``). It reads only the results dict (the JSON form of an
:class:`~prevalens.AuditResult`), so a report can be re-rendered from ``results.json`` alone.

Display rules
-------------
* An estimate with its interval reads ``0.61 [0.58, 0.64]``; the number of decimals follows the
  interval's width (2 for a width of 0.01 or more, 3 below, 4 below 0.001).
* A value is never shown as 0 or 1 (0% or 100%) unless it is exactly that: more decimals are
  shown until it is not (coverage.py's ``display_covered`` rule).
* Undefined values read ``undefined``, and the table says why.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass, field

from .. import exports
from . import plots
from ..formatting import (digits_for_width, fmt_estimate, fmt_gate_value, fmt_level, fmt_number,
                          fmt_percent, metric_name)

__all__ = [
    "Table",
    "Figure",
    "Block",
    "Section",
    "ReportModel",
    "build_report_model",
]

# ------------------------------------------------------------------------------------------------
# the model


@dataclass(frozen=True)
class Table:
    """A table of ready-formatted cells. ``row_classes`` are CSS class names per row."""

    header: tuple
    rows: tuple
    caption: str = ""
    note: str = ""
    row_classes: tuple = ()
    numeric: tuple = ()  # indices of right-aligned (numeric) columns


@dataclass(frozen=True)
class Figure:
    title: str
    alt: str
    data_uri: str


@dataclass(frozen=True)
class Block:
    """One element of a section: ``kind`` in {paragraph, table, figure, findings, keyvalue,
    signoff}; the template dispatches on it."""

    kind: str
    text: str = ""
    table: Table | None = None
    figure: Figure | None = None
    items: tuple = ()


@dataclass(frozen=True)
class Section:
    id: str
    title: str
    blocks: tuple


@dataclass(frozen=True)
class ReportModel:
    title: str
    subtitle: str
    language: str
    author: str
    keywords: str
    document_control: tuple  # (label, value) pairs
    status: str
    sections: tuple
    footer_left: str
    generated: str
    notes: tuple = field(default_factory=tuple)


# ------------------------------------------------------------------------------------------------
# building


def _kv(pairs):
    return Block("keyvalue", items=tuple((str(a), str(b)) for a, b in pairs))


def _para(text):
    return Block("paragraph", text=text)


def _table(header, rows, caption="", note="", row_classes=(), numeric=()):
    return Block("table", table=Table(tuple(header), tuple(tuple(r) for r in rows), caption, note,
                                      tuple(row_classes), tuple(numeric)))


def _headline_rows(d, metrics):
    rows = []
    for m in metrics:
        cells = [metric_name(m)]
        for avg in ("micro", "macro", "weighted"):
            cells.append(fmt_estimate(d["averages"][avg].get(m)))
        rows.append(cells)
    return rows


def build_report_model(d: dict, *, title: str | None = None, model_name: str | None = None,
                       dataset_name: str | None = None, signoff=(), max_rows: int = 60,
                       figures: dict | None = None, attachments: dict | None = None) -> ReportModel:
    """Format a results dict (``AuditResult.to_dict()``) for the templates.

    ``figures`` maps figure keys to :class:`Figure` (built by :func:`build_figures`); without it
    the figures are built here from :mod:`prevalens.report.plots`. ``attachments`` maps the names
    of the files the PDF embeds to their SHA-256, listed in the reproducibility section.
    ``signoff`` is a sequence of ``(name, role)``; by default the ``signoff`` lines of the run's
    configuration (``"Role: Name"``), else blank lines for three roles.
    """
    figures = figures if figures is not None else build_figures(d)
    run, data = d["run"], d["data"]
    inputs = d.get("inputs") or []
    version = d["tool"]["version"]
    has_scores = data["has_scores"]
    cfg = run.get("config") or {}
    model_name = model_name or (cfg.get("model_name") or "unnamed model")
    dataset_name = dataset_name or cfg.get("dataset_name") or (
        inputs[0]["path"] if inputs and inputs[0]["path"] else "in-memory data")
    title = title or cfg.get("title") or f"Classifier audit: {model_name}"
    if attachments is None:
        attachments = attachment_hashes(d)
    if not signoff and cfg.get("signoff"):
        signoff = tuple(_signoff_pair(line) for line in cfg["signoff"])
    gates = d.get("gates")
    status, thresholds = _gate_status(gates)
    report_id = _report_id(d)
    sections = []

    # 1. executive summary
    head_metrics = ("recall", "precision", "f1") + (("roc_auc",) if has_scores else ())
    key_findings = [f for f in d.get("findings", []) if f["severity"] in ("high", "medium")]
    if not key_findings:
        key_findings = list(d.get("findings", []))[:3]
    blocks = [
        _para(f"{data['n_samples']:,} samples of {data['n_classes']} classes; "
              f"{fmt_level(run['confidence_level'])} confidence intervals "
              f"({_interval_phrase(run, has_scores)})."),
        _table(["Metric", "Micro", "Macro", "Weighted"], _headline_rows(d, head_metrics),
               caption="Headline metrics with intervals", numeric=(1, 2, 3)),
        Block("findings", items=tuple((f["severity"], f["text"]) for f in key_findings)),
    ]
    blocks.extend(_gate_blocks(gates))
    sections.append(Section("summary", "Executive summary", tuple(blocks)))
    if d.get("baseline"):
        sections.append(Section("changes", "Changes since the previous audit",
                                tuple(_baseline_blocks(d["baseline"]))))

    # 2. data
    classes = sorted(d["per_class"], key=lambda c: (-c["support"], str(c["label"])))
    shown = _select_classes(d, classes, max_rows)
    rows, cls = [], []
    for c in shown:
        rows.append([str(c["label"]), f"{c['support']:,}", fmt_percent(c["prevalence"]),
                     c.get("stratum") or "none", _flags(c)])
        cls.append("flagged" if c["flags"] else "")
    blocks = [
        _para(_strata_text(d)),
        _table(["Class", "Support", "Prevalence", "Stratum", "Flags"], rows,
               caption="Classes by prevalence", numeric=(1, 2), row_classes=cls,
               note=_capped_note(len(classes), max_rows)),
    ]
    if "prevalence" in figures:
        blocks.insert(1, Block("figure", figure=figures["prevalence"]))
    sections.append(Section("data", "Data", tuple(blocks)))

    # 3. methods
    sections.append(Section("methods", "Methods", tuple(_methods_blocks(d))))

    # 4. headline results
    all_metrics = [m for m in ("precision", "recall", "f1", "specificity", "jaccard", "roc_auc",
                               "average_precision") if m in d["averages"]["micro"]]
    blocks = [_table(["Metric", "Micro", "Macro", "Weighted"], _headline_rows(d, all_metrics),
                     caption="Averages", numeric=(1, 2, 3))]
    overall_rows = [[metric_name(k), fmt_estimate(e, bounds=(0.0, 1.0) if k not in ("log_loss",) else ()),
                     e.get("method") or "", e.get("note") or ""]
                    for k, e in d["overall"].items()]
    blocks.append(_table(["Metric", "Estimate [interval]", "Interval method", "Note"],
                         overall_rows, caption="Overall metrics", numeric=(1,)))
    if "forest" in figures:
        blocks.append(Block("figure", figure=figures["forest"]))
    sections.append(Section("headline", "Headline results", tuple(blocks)))

    # 5. micro vs macro
    blocks = [_para("Micro averages pool every sample, so frequent classes dominate them; macro "
                    "averages give every class the same weight. A macro value below the micro "
                    "value means the classifier does worse on the classes that are rare in the data.")]
    gap_rows = []
    for m, g in d.get("gap", {}).items():
        gap_rows.append([metric_name(m), fmt_estimate(g["macro_minus_micro"], bounds=(0.0,)),
                         fmt_estimate(g.get("macro_minus_weighted"), bounds=(0.0,)) if g.get("macro_minus_weighted") else ""])
    if gap_rows:
        blocks.append(_table(["Metric", "Macro - micro", "Macro - weighted"], gap_rows,
                             caption="The micro-macro gap", numeric=(1, 2)))
    if "curves" in figures:
        blocks.append(Block("figure", figure=figures["curves"]))
    sections.append(Section("micro-macro", "Micro versus macro", tuple(blocks)))

    # 6. where rare classes diverge
    blocks = [_para(_strata_text(d))]
    srows = []
    for s in d.get("strata", []):
        srows.append([s["name"], s["bounds"]["description"], str(s["n_classes"]), f"{s['support']:,}",
                      fmt_estimate(s["macro"].get("recall")), fmt_estimate(s["macro"].get("f1")),
                      fmt_estimate(s["vs_rest"].get("recall"), bounds=(0.0,)) if s["vs_rest"] else ""])
    if srows:
        blocks.append(_table(["Stratum", "Definition", "Classes", "Support", "Macro recall",
                              "Macro F1", "Recall vs rest"], srows,
                             caption="Prevalence strata", numeric=(2, 3, 4, 5, 6)))
    if "strata" in figures:
        blocks.append(Block("figure", figure=figures["strata"]))
    trows = []
    for m, t in d.get("trend", {}).items():
        trows.append([metric_name(m), fmt_estimate(t["slope_per_decade"], bounds=(0.0,)),
                      fmt_estimate(t["spearman"], bounds=(-1.0, 1.0))])
    if trows:
        blocks.append(_table(["Metric", "Slope per tenfold prevalence", "Spearman correlation"],
                             trows, caption="Trend with prevalence", numeric=(1, 2)))
    if "trend" in figures:
        blocks.append(Block("figure", figure=figures["trend"]))
    drows = [[str(r["label"]), metric_name(r["metric"]), fmt_estimate(r["vs_micro"], bounds=(0.0,)),
              _adjusted_text(r.get("adjusted")), "diverges" if r["diverges"] else
              ("insufficient" if r["insufficient"] else "")]
             for r in d.get("divergence", []) if r["diverges"] or r["insufficient"]]
    if drows:
        fam = d.get("family", {})
        blocks.append(_table(["Class", "Metric", "Minus micro", "Adjusted interval", "Flag"],
                             drows[:max_rows], caption="Divergent and insufficient classes",
                             note=f"Adjusted for {fam.get('size', 0)} comparisons "
                                  f"({fam.get('adjustment', 'holm')}).", numeric=(2, 3)))
    blocks.append(Block("findings", items=tuple((f["severity"], f["text"]) for f in d.get("findings", []))))
    sections.append(Section("divergence", "Where rare classes diverge", tuple(blocks)))

    # 7. per-class table
    cols = ["recall", "precision", "f1"] + (["roc_auc"] if has_scores else [])
    rows, cls = [], []
    for c in shown:
        rows.append([str(c["label"]), f"{c['support']:,}", fmt_percent(c["prevalence"])]
                    + [_split_interval(fmt_estimate(c["metrics"].get(m))) for m in cols]
                    + [_flags(c)])
        cls.append("flagged" if c["flags"] else "")
    blocks = [_table(["Class", "Support", "Prevalence"] + [metric_name(m) for m in cols] + ["Flags"],
                     rows, caption="Per-class metrics, most common class first",
                     note=_capped_note(len(classes), max_rows), row_classes=cls,
                     numeric=tuple(range(1, 3 + len(cols))))]
    if "trend" in figures:
        pass
    sections.append(Section("per-class", "Per-class results", tuple(blocks)))

    # 8. confusion
    blocks = []
    if "confusion" in figures:
        blocks.append(Block("figure", figure=figures["confusion"]))
    top = figures.get("_top_confusions") or []
    if top:
        blocks.append(_table(["True class", "Predicted as", "Count", "Share of the true class"],
                             [[str(r["true"]), str(r["predicted"]), f"{r['count']:,}",
                               fmt_percent(r["share"])] for r in top],
                             caption="Most frequent confusions", numeric=(2, 3)))
    sections.append(Section("confusion", "Confusion analysis", tuple(blocks) or (_para("No confusions."),)))

    # 9. limitations and alerts
    sections.append(Section("limitations", "Limitations and alerts", tuple(_limitations(d))))

    # 10. reproducibility
    sections.append(Section("reproducibility", "Reproducibility",
                            tuple(_repro_blocks(d, report_id, attachments))))

    # 11. sign-off
    people = tuple(signoff) or (("", "Prepared by"), ("", "Reviewed by"), ("", "Approved by"))
    sections.append(Section("sign-off", "Sign-off", (Block("signoff", items=tuple(people)),)))

    control = (
        ("Model", model_name),
        ("Dataset", dataset_name),
        ("Dataset SHA-256", inputs[0]["sha256"] if inputs and inputs[0].get("sha256") else "not recorded (in-memory data)"),
        ("Report id", report_id),
        ("Created (UTC)", run["created_utc"].replace("T", " ").replace("Z", "")),
        ("Tool", f"prevalens {version}"),
        ("Status", status),
        ("Declared thresholds", thresholds),
    )
    return ReportModel(
        title=title,
        subtitle=f"{data['n_samples']:,} samples, {data['n_classes']} classes",
        language="en",
        author=f"prevalens {version}",
        keywords="classifier audit, micro average, macro average, class prevalence, confidence intervals",
        document_control=control,
        status=status,
        sections=tuple(sections),
        footer_left=f"{title} · report {report_id}",
        generated=run["created_utc"],
    )


def attachment_bytes(d: dict) -> dict:
    """The files the PDF embeds, as bytes: ``results.json`` (the results, exactly as
    ``prevalens audit`` writes them) and ``per_class.csv``."""
    return {"results.json": (json.dumps(d, indent=2, allow_nan=False, ensure_ascii=False)
                             + "\n").encode("utf-8"),
            "per_class.csv": exports.per_class_csv(d)}


def attachment_hashes(d: dict) -> dict:
    return {name: hashlib.sha256(data).hexdigest() for name, data in attachment_bytes(d).items()}


def _report_id(d):
    text = json.dumps(d, sort_keys=True, allow_nan=False, ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:12]


_PROPORTION_NAMES = {"wilson": "Wilson", "clopper-pearson": "Clopper-Pearson",
                     "bootstrap": "the bootstrap"}


def _interval_phrase(run, has_scores=True):
    if not run["n_resamples"]:
        return "no intervals: point estimates only"
    prop = (run.get("config") or {}).get("proportion_interval", "wilson")
    return (f"{run['interval_method']} bootstrap with {run['n_resamples']:,} {run['resampling']} "
            f"replicates for label metrics; {_PROPORTION_NAMES.get(prop, prop)} for per-class "
            "proportions" + ("; DeLong for ROC AUC" if has_scores else ""))


def _proportion_method(name) -> str:
    if name == "bootstrap":
        return "the bootstrap replicates, like the other label metrics"
    return (f"{_PROPORTION_NAMES.get(name, name)} intervals; F1 and Jaccard from the same interval "
            "of tp/(tp+fp+fn)")


def _strata_text(d):
    sd = d.get("strata_definition") or {}
    parts = [f"{s['name']}: {s['description']}" for s in sd.get("strata", [])]
    text = "Classes are grouped by prevalence (" + "; ".join(parts) + ")." if parts else ""
    if sd.get("omitted_empty"):
        text += " Empty strata, omitted: " + ", ".join(sd["omitted_empty"]) + "."
    if sd.get("absent_classes"):
        text += (" Classes with no true samples, listed apart: "
                 + ", ".join(str(x) for x in sd["absent_classes"]) + ".")
    return text


def _capped_note(n, max_rows):
    if n <= max_rows:
        return ""
    return (f"{max_rows} of {n} classes are shown, by prevalence: those that diverge, the worst "
            "by F1, the rarest and the flagged ones. The full table is in the attached "
            "per_class.csv and in results.json.")


def _select_classes(d, classes, max_rows):
    """At most ``max_rows`` classes for a table, the ones the report is about first: classes
    that diverge, the worst by F1, the rarest, then the other flagged ones (taken in turn), shown
    in prevalence order. All of them when there are few."""
    if len(classes) <= max_rows:
        return list(classes)
    key = lambda c: str(c["label"])  # noqa: E731
    by_rarity = sorted(classes, key=lambda c: (c["support"], key(c)))

    def f1(c):
        e = c["metrics"].get("f1") or {}
        return e.get("estimate") if e.get("estimate") is not None else math.inf

    diverging = [c for c in by_rarity if "diverges" in c["flags"]]
    worst = sorted((c for c in classes if f1(c) < math.inf), key=lambda c: (f1(c), c["support"], key(c)))
    flagged = [c for c in by_rarity if c["flags"]]
    queues = [diverging, worst, by_rarity, flagged]
    chosen, seen = [], set()
    while len(chosen) < max_rows and any(queues):
        for q in queues:
            while q:
                c = q.pop(0)
                if key(c) not in seen:
                    seen.add(key(c))
                    chosen.append(c)
                    break
            if len(chosen) >= max_rows:
                break
    order = {key(c): i for i, c in enumerate(classes)}
    return sorted(chosen, key=lambda c: order[key(c)])


def _flags(c):
    """``insufficient, never predicted``: words, so a narrow column can wrap them."""
    return ", ".join(f.replace("_", " ") for f in c["flags"])


def _split_interval(text):
    """``"0.61 [0.58, 0.64]"`` -> ``("0.61", "[0.58, 0.64]")`` so that a narrow column can put
    the interval under the estimate instead of pushing the table off the page."""
    est, sep, ci = text.partition(" [")
    return (est, "[" + ci) if sep else text


def _signoff_pair(line):
    role, sep, name = str(line).partition(":")
    return (name.strip(), role.strip()) if sep else (str(line).strip(), "Signed by")


def _gate_status(gates):
    if not gates or not gates.get("items"):
        return "no quality gates declared", "none"
    n = len(gates["items"])
    status = (f"PASS: all {n} quality gates met" if gates["passed"]
              else f"FAIL: {gates['n_failed']} of {n} quality gates not met")
    basis = ("checked on the interval bound" if gates["basis"] == "interval"
             else "checked on the estimate")
    return status, "; ".join(g["spec"] for g in gates["items"]) + f" ({basis})"


def _gate_blocks(gates):
    if not gates or not gates.get("items"):
        return [_para("No quality gates were declared for this audit.")]
    rows, cls = [], []
    for g in gates["items"]:
        compared = {"ci_low": "lower bound", "ci_high": "upper bound",
                    "estimate": "estimate"}.get(g["compared"], "value")
        rows.append([g["spec"], f"{compared} {fmt_gate_value(g)}",
                     fmt_estimate(g["estimate"]) if g["estimate"] else "undefined",
                     "PASS" if g["passed"] else "FAIL", g.get("note") or ""])
        cls.append("" if g["passed"] else "flagged")
    status, _ = _gate_status(gates)
    basis = ("Each gate is checked on the conservative end of the interval (the lower bound for "
             ">=, the upper bound for <=)" if gates["basis"] == "interval"
             else "Each gate is checked on the point estimate")
    return [_table(["Gate", "Checked value", "Estimate [interval]", "Result", "Note"], rows,
                   caption=f"Quality gates: {status}", row_classes=cls, numeric=(1, 2),
                   note=basis + "; an undefined value fails.")]


def _baseline_blocks(base):
    text = (f"Compared with the audit of {base.get('created_utc') or 'unknown date'} "
            f"(results file {base['path']}, SHA-256 {base['sha256']}"
            + (f", {base['n_samples']:,} samples" if base.get("n_samples") else "") + "). "
            + ("The input data changed. " if base.get("inputs_changed") else
               "The input data are the same. "))
    if base.get("classes_added"):
        text += "New classes: " + ", ".join(base["classes_added"]) + ". "
    if base.get("classes_removed"):
        text += "Classes no longer present: " + ", ".join(base["classes_removed"]) + ". "
    rows, cls = [], []
    for item in base["items"]:
        name = item["metric"]
        if name.split(".")[0] not in ("micro", "macro", "weighted", "overall", "gap", "stratum"):
            continue
        diff = item["difference"]
        rows.append([name, fmt_estimate(item["old"], bounds=()) if item["old"] else "absent",
                     fmt_estimate(item["new"], bounds=()) if item["new"] else "absent",
                     fmt_number(diff, 3, bounds=()) if diff is not None else "",
                     {True: "yes", False: "no", None: ""}[item["overlap"]]])
        cls.append("flagged" if item["overlap"] is False else "")
    return [_para(text + base.get("note", "")),
            _table(["Metric", "Previous", "Now", "Difference", "Intervals overlap"], rows,
                   caption="Changes since the previous audit", row_classes=cls,
                   numeric=(1, 2, 3))]


def _adjusted_text(a):
    if not a:
        return ""
    return f"[{fmt_number(a['ci_low'], 2, bounds=(0.0,))}, {fmt_number(a['ci_high'], 2, bounds=(0.0,))}]"


def _methods_blocks(d):
    run = d["run"]
    cfg = run.get("config", {})
    return [
        _para("Per class (one-vs-rest): precision = tp/(tp+fp), recall = tp/(tp+fn), "
              "F1 = 2tp/(2tp+fp+fn), specificity = tn/(tn+fp), NPV = tn/(tn+fn), "
              "Jaccard = tp/(tp+fp+fn). Micro averages pool the counts of every class before "
              "dividing; macro averages are the unweighted mean of the per-class values (macro F1 "
              "is the mean of per-class F1); weighted averages weight classes by support."),
        _para("A ratio whose denominator is 0 is undefined: it is reported as undefined, never as "
              "0, and left out of the macro and weighted averages."),
        _kv([
            ("Resampling", f"{run['resampling']} bootstrap of the confusion matrix "
                           "(multinomial cell counts), clusters when a cluster column is given"),
            ("Replicates (B)", f"{run['n_resamples']:,}"),
            ("Seed", str(run["seed"])),
            ("Confidence level", fmt_level(run["confidence_level"])),
            ("Label metrics", f"{run['interval_method']} intervals from joint replicates"),
            ("Per-class proportions", _proportion_method(cfg.get("proportion_interval", "wilson"))),
            ("ROC AUC", "DeLong, logit scale; macro with the covariance of per-class AUCs"),
            ("Simultaneous intervals", cfg.get("multiplicity", "bonferroni")),
            ("Divergence claims", f"{cfg.get('divergence_adjustment', 'holm')}-adjusted family"),
            ("Minimum support", str(cfg.get("min_support", 10))),
            ("Tool version", f"prevalens {d['tool']['version']}"),
        ]),
    ]


def _limitations(d):
    blocks = []
    items = []
    for f in d.get("findings", []):
        if f["kind"] in ("insufficient", "undefined", "no_intervals"):
            items.append(("info", f["text"]))
    unstable = [(c["label"], m) for c in d["per_class"] for m, e in c["metrics"].items()
                if e["status"] == "unstable"]
    if unstable:
        items.append(("info", f"{len(unstable)} per-class estimate(s) were undefined in more than 5% "
                              "of bootstrap replicates and are marked unstable."))
    curves = d.get("curves")
    bands = (curves or {}).get("bands")
    if curves and (bands is None or not bands.get("method")):
        why = (bands or {}).get("note") or "no bands were computed (n_resamples = 0)"
        items.append(("info", f"The ROC and precision-recall curves are drawn without confidence "
                              f"bands: {why.removeprefix('no bands: ')}."))
    if not items:
        items.append(("info", "No alerts."))
    blocks.append(Block("findings", items=tuple(items)))
    return blocks


def _repro_blocks(d, report_id, attachments=None):
    run = d["run"]
    pairs = [("Command", run.get("command") or "Python API"), ("Seed", str(run["seed"])),
             ("Created (UTC)", run["created_utc"]), ("Report id", report_id),
             ("Tool", f"prevalens {d['tool']['version']}")]
    for i in d.get("inputs", []):
        pairs.append(("Input", f"{i['path'] or 'in-memory'} ({i['rows']:,} rows, SHA-256 {i['sha256'] or 'n/a'})"))
    for name, sha in (attachments or {}).items():
        pairs.append(("Attachment", f"{name} (SHA-256 {sha})"))
    cfg = run.get("config", {})
    blocks = [_kv(pairs),
              _table(["Option", "Value"], [[k, _config_value(v)] for k, v in cfg.items()],
                     caption="Resolved configuration"),
              _para("The PDF carries results.json and per_class.csv as attachments: extract them "
                    "with any PDF reader's attachment panel, or `pdfdetach -saveall report.pdf` "
                    "(poppler) / `qpdf --show-attachment=results.json report.pdf`.")]
    return blocks


def _config_value(v) -> str:
    if v is None:
        return "default"
    if isinstance(v, (list, tuple)):
        return ", ".join(str(x) for x in v)
    if isinstance(v, float) and v.is_integer() and abs(v) >= 1e6:
        return f"{v:.0e}"
    return str(v)


def build_figures(d: dict) -> dict:
    """Every figure of the report as :class:`Figure` (data-URI SVG with alt text)."""
    out = {}

    def add(key, plot):
        if plot is not None:
            out[key] = Figure(plot.title, plot.alt, plots.as_data_uri(plot.svg))

    add("prevalence", plots.prevalence_plot(d))
    add("forest", plots.forest_plot(d))
    add("curves", plots.curves_plot(d))
    add("strata", plots.strata_plot(d))
    add("trend", plots.metric_vs_prevalence_plot(d))
    add("confusion", plots.confusion_plot(d))
    if d["data"]["n_classes"] > 30:
        out["_top_confusions"] = plots.top_confusions(d)
    return out
