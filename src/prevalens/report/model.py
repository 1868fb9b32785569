"""The report's data model: results JSON -> ready-formatted cells, blocks, sections and figures.

Templates lay out what this module produced and compute nothing (coverage.py's split between
``HtmlDataGeneration`` and ``HtmlReporter``). It reads only the results dict (the JSON form of an
:class:`~prevalens.AuditResult`), so a report can be re-rendered from ``results.json`` alone.

Shape
-----
A :class:`ReportModel` holds the cover (title, document control) and the :class:`Section`\\ s in
reading order. A section holds typed blocks (:class:`Paragraph`, :class:`Table`, :class:`Figure`,
:class:`Findings`, :class:`KeyValue`, :class:`SignOff`, :class:`Markdown`), each with a ``kind``
(the macro of ``templates/macros.html.j2`` that lays it out) and a ``name`` unique in its section,
by which a section template places it (``section.get("headline")``). A table's cells are
:class:`Cell`\\ s: the text, the interval apart (so a narrow column can put it under the
estimate) and CSS classes. Each section is made by one builder function (``_summary``,
``_data`` ...) listed in :data:`SECTIONS`; a builder that returns no block leaves its section out.

Display rules (:mod:`prevalens.formatting`)
-------------------------------------------
* An estimate with its interval reads ``0.61 [0.58, 0.64]``; the number of decimals follows the
  interval's width (2 for a width of 0.01 or more, 3 below, 4 below 0.001).
* A value is never shown as 0 or 1 (0% or 100%) unless it is exactly that: more decimals are
  shown until it is not (coverage.py's ``display_covered`` rule).
* Undefined values read ``undefined``, and the table says why.

Text written by the user
------------------------
``run.config`` may hold ``intended_use``, ``data_provenance`` and ``known_limitations``
(Markdown) and ``evaluation`` (one line). The Markdown is rendered by :func:`markdown_html`:
CommonMark plus tables and strikethrough, raw HTML shown as text, no images, links printed as
their text followed by the http(s) or mailto address (nothing is fetched and nothing is
clickable, so the PDF has no external action), headings moved below the section's heading.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from dataclasses import dataclass, field
from typing import ClassVar

from markdown_it import MarkdownIt
from markdown_it.common.utils import escapeHtml
from markupsafe import Markup

from .. import baseline as _baseline
from .. import exports
from ..exports import APPROXIMATE_MARK
from ..formatting import (
    fmt_gate_value,
    fmt_level,
    fmt_number,
    fmt_percent,
    fmt_signed,
    metric_name,
)
from ..options import AUDIT_OPTIONS
from ..results import ALERT_KINDS
from . import plots

__all__ = [
    "Cell",
    "Row",
    "Table",
    "Figure",
    "Paragraph",
    "Finding",
    "Findings",
    "KeyValue",
    "Signatory",
    "SignOff",
    "Markdown",
    "Section",
    "ReportModel",
    "SECTIONS",
    "USER_TEXT_KEYS",
    "build_report_model",
    "build_figures",
    "markdown_html",
    "attachment_bytes",
    "attachment_hashes",
]

#: Keys of ``run.config`` whose text the user wrote, and where the report shows it.
USER_TEXT_KEYS = {
    "intended_use": "the section 'Intended use'",
    "data_provenance": "the section 'Data', under 'Data provenance'",
    "known_limitations": "the section 'Limitations and alerts', under 'Known limitations'",
    "evaluation": "the cover's document control, as 'Evaluation'",
}

# ------------------------------------------------------------------------------------------------
# the model


@dataclass(frozen=True)
class Cell:
    """One table cell, formatted.

    Attributes
    ----------
    text : str
        What the cell shows (for an estimate: the point estimate).
    interval : str or None
        The interval of an estimate, ``"[0.58, 0.64]"``, laid out after ``text`` (on a second
        line when the column is narrow); None for other cells.
    classes : tuple of str
        CSS class names (``"num"`` for right-aligned numbers).
    """

    text: str
    interval: str | None = None
    classes: tuple[str, ...] = ()


@dataclass(frozen=True)
class Row:
    """A table row: its cells and CSS classes (``"flagged"`` for a flagged class or gate)."""

    cells: tuple[Cell, ...]
    classes: tuple[str, ...] = ()


@dataclass(frozen=True)
class Table:
    """A table block: header cells, rows, a caption above and a note below."""

    kind: ClassVar[str] = "table"
    header: tuple[Cell, ...]
    rows: tuple[Row, ...]
    caption: str = ""
    note: str = ""
    name: str = ""


@dataclass(frozen=True)
class Figure:
    """A figure block: a ``data:`` URI SVG with its title and text alternative."""

    kind: ClassVar[str] = "figure"
    title: str
    alt: str
    data_uri: str
    name: str = ""


@dataclass(frozen=True)
class Paragraph:
    """A paragraph of plain text."""

    kind: ClassVar[str] = "paragraph"
    text: str
    name: str = ""


@dataclass(frozen=True)
class Finding:
    """One item of a :class:`Findings` list: ``severity`` is high, medium, low or info."""

    severity: str
    text: str


@dataclass(frozen=True)
class Findings:
    """A list of findings or alerts, each with its severity badge."""

    kind: ClassVar[str] = "findings"
    items: tuple[Finding, ...]
    name: str = ""


@dataclass(frozen=True)
class KeyValue:
    """Label-value pairs (a two-column table with the label as row header)."""

    kind: ClassVar[str] = "keyvalue"
    items: tuple[tuple[str, str], ...]
    name: str = ""


@dataclass(frozen=True)
class Signatory:
    """A line of the sign-off block: a name (may be empty, to be written by hand) and a role."""

    name: str
    role: str


@dataclass(frozen=True)
class SignOff:
    """The sign-off block: one line per signatory, with date and signature fields."""

    kind: ClassVar[str] = "signoff"
    people: tuple[Signatory, ...]
    name: str = ""


@dataclass(frozen=True)
class Markdown:
    """Text the user wrote in Markdown, already rendered to safe HTML by :func:`markdown_html`;
    ``title`` is the heading the section template may put above it."""

    kind: ClassVar[str] = "markdown"
    html: Markup
    title: str = ""
    name: str = ""


#: Any block of a section.
Block = Table | Figure | Paragraph | Findings | KeyValue | SignOff | Markdown


@dataclass(frozen=True)
class Section:
    """A section of the report: ``id`` (the anchor, and ``sections/<id>.html.j2`` lays it out),
    the heading and the blocks in reading order."""

    id: str
    title: str
    blocks: tuple = ()

    def get(self, name: str):
        """The block called ``name``, or None (a template then lays out nothing)."""
        return next((b for b in self.blocks if b.name == name), None)


@dataclass(frozen=True)
class ReportModel:
    """Everything the templates lay out: the cover's fields and the sections in order."""

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
    report_id: str = ""
    kicker: str = "Classifier audit report"


# ------------------------------------------------------------------------------------------------
# cells and blocks


def _adjustment(d: dict) -> str:
    """The multiplicity adjustment of the divergence claims, as a name: ``Holm``."""
    fam = d.get("family") or {}
    how = fam.get("adjustment") or (d["run"].get("config") or {}).get("divergence_adjustment")
    return str(how or "holm").capitalize()


def _est_cell(e, *, bounds=(0.0, 1.0)) -> Cell:
    """An estimate as a numeric cell, its interval apart."""
    est, sep, ci = exports.fmt_marked(e, bounds=bounds).partition(" ")
    return Cell(est, ci if sep else None, ("num",))


def _table(name, header, rows, *, caption="", note="", numeric=(), row_classes=()) -> Table:
    """A :class:`Table` from header texts and rows of texts or :class:`Cell`\\ s; columns in
    ``numeric`` are right-aligned."""

    def cell(i, c):
        num = ("num",) if i in numeric else ()
        if isinstance(c, Cell):
            return c if not num or "num" in c.classes else Cell(c.text, c.interval, c.classes + num)
        return Cell(str(c), None, num)

    classes = tuple(row_classes) or ("",) * len(rows)
    if any(
        isinstance(c, Cell) and (c.interval or "").startswith(APPROXIMATE_MARK)
        for r in rows
        for c in r
    ):
        note = (note + " " if note else "") + (
            f"{APPROXIMATE_MARK}: an approximate interval (status unstable); the limitations say why."
        )
    return Table(
        header=tuple(cell(i, h) for i, h in enumerate(header)),
        rows=tuple(
            Row(tuple(cell(i, c) for i, c in enumerate(r)), (rc,) if rc else ())
            for r, rc in zip(rows, classes)
        ),
        caption=caption,
        note=note,
        name=name,
    )


def _findings(name, items) -> Findings:
    return Findings(tuple(Finding(sev, text) for sev, text in items), name)


def _kv(name, pairs) -> KeyValue:
    return KeyValue(tuple((str(a), str(b)) for a, b in pairs), name)


# ------------------------------------------------------------------------------------------------
# user-written text (Markdown)

_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ud800-\udfff\ufffe\uffff]")
_LINK_OK = re.compile(r"^(https?:|mailto:)", re.I)


def _link_open(self, tokens, idx, options, env):
    return '<span class="link">'


def _link_close(self, tokens, idx, options, env):
    depth = 0
    for tok in reversed(tokens[:idx]):
        if tok.type == "link_close":
            depth += 1
        elif tok.type == "link_open":
            if depth == 0:
                if tok.markup == "autolink":  # <https://...>: the text is the address
                    return "</span>"
                href = tok.attrGet("href") or ""
                return f'</span> (<span class="url">{escapeHtml(str(href))}</span>)'
            depth -= 1
    return "</span>"


def _heading_open(self, tokens, idx, options, env):
    # Markdown's # is a heading inside a section of the report: h3 and below, so that the
    # section's h2 stays the only level of the outline and the PDF bookmarks
    level = min(6, int(tokens[idx].tag[1]) + 2)
    return f'<h{level} class="md-heading">'


def _heading_close(self, tokens, idx, options, env):
    return f"</h{min(6, int(tokens[idx].tag[1]) + 2)}>\n"


def _markdown_parser() -> MarkdownIt:
    md = MarkdownIt("commonmark", {"html": False, "linkify": False, "typographer": False})
    md.enable(["table", "strikethrough"])
    md.disable(["image"])  # ![x](url) stays text: nothing is ever loaded
    md.validateLink = lambda url: bool(_LINK_OK.match(url.strip()))  # type: ignore[method-assign]
    md.add_render_rule("link_open", _link_open)
    md.add_render_rule("link_close", _link_close)
    md.add_render_rule("heading_open", _heading_open)
    md.add_render_rule("heading_close", _heading_close)
    return md


_MARKDOWN = _markdown_parser()


def markdown_html(text: str) -> Markup:
    """Markdown written by the user as HTML that is safe to put in the report.

    Parameters
    ----------
    text : str
        CommonMark, with GitHub's tables and strikethrough.

    Returns
    -------
    markupsafe.Markup
        The HTML. Raw HTML in ``text`` is shown as text; images are not made (``![a](u)`` reads
        as ``!`` and a link); a link reads as its text followed by its address in parentheses,
        and only http(s) and mailto addresses make a link at all (``[a](javascript:x)`` stays
        literal text); headings start at ``<h3>``; control characters become U+FFFD.

    Examples
    --------
    >>> str(markdown_html("See [the policy](https://example.org/p) <b>now</b>"))
    '<p>See <span class="link">the policy</span> (<span class="url">https://example.org/p</span>) &lt;b&gt;now&lt;/b&gt;</p>\\n'
    """
    return Markup(_MARKDOWN.render(_CONTROL.sub("\ufffd", str(text))))


def _user_text(d: dict, key: str) -> str:
    """``run.config[key]`` as text, stripped; "" when absent or empty (a list of strings reads
    as paragraphs)."""
    value = ((d.get("run") or {}).get("config") or {}).get(key)
    if value is None:
        return ""
    if isinstance(value, (list, tuple)):
        value = "\n\n".join(str(v) for v in value)
    return str(value).strip()


def _markdown_block(d: dict, key: str, title: str) -> list:
    text = _user_text(d, key)
    return [Markdown(markdown_html(text), title, key)] if text else []


# ------------------------------------------------------------------------------------------------
# building: the context every section builder reads


@dataclass(frozen=True)
class _Context:
    d: dict
    figures: dict
    classes: list  # most common first
    shown: list  # the classes the tables show (all, or max_rows of them)
    max_rows: int
    report_id: str
    attachments: dict
    signoff: tuple
    has_scores: bool = field(default=False)


def _headline_rows(d, metrics):
    return [
        [metric_name(m)]
        + [_est_cell(d["averages"][a].get(m)) for a in ("micro", "macro", "weighted")]
        for m in metrics
    ]


def _figure(ctx, key, name):
    f = ctx.figures.get(key)
    return [Figure(f.title, f.alt, f.data_uri, name)] if f is not None else []


def _summary(ctx: _Context) -> list:
    d, run, data = ctx.d, ctx.d["run"], ctx.d["data"]
    metrics = ("recall", "precision", "f1") + (("roc_auc",) if ctx.has_scores else ())
    key = [f for f in d.get("findings", []) if f["severity"] in ("high", "medium")]
    if not key:
        key = list(d.get("findings", []))[:3]
    return [
        Paragraph(
            f"{data['n_samples']:,} samples of {data['n_classes']} classes; "
            f"{fmt_level(run['confidence_level'])} confidence intervals "
            f"({_interval_phrase(run, ctx.has_scores)}).",
            "overview",
        ),
        *_input_alerts(d),
        _table(
            "headline",
            ["Metric", "Micro", "Macro", "Weighted"],
            _headline_rows(d, metrics),
            caption="Headline metrics with intervals",
            numeric=(1, 2, 3),
        ),
        _findings("key_findings", ((f["severity"], f["text"]) for f in key)),
        _gates(d.get("gates")),
    ]


def _note_text(n: dict) -> str:
    return n["text"][:1].upper() + n["text"][1:]


def _input_alerts(d: dict) -> list:
    """Notes that put every number in doubt (the input is likely wrong), as high alerts."""
    alerts = [("high", _note_text(n)) for n in d.get("notes", []) if n["kind"] in ALERT_KINDS]
    return [_findings("input_alerts", alerts)] if alerts else []


def _intended_use(ctx: _Context) -> list:
    return _markdown_block(ctx.d, "intended_use", "")


def _split_cell(text: str) -> Cell:
    """A formatted ``estimate [interval]`` as a numeric cell, its interval apart."""
    est, sep, ci = text.partition(" ")
    return Cell(est, ci if sep else None, ("num",))


def _nowrap(text: str) -> str:
    """Short words that a narrow column must not break (``no evidence``, ``ROC AUC``, ``721 →
    708``): their spaces made non-breaking."""
    return text.replace(" ", "\u00a0")


def _changes(ctx: _Context) -> list:
    """The unpaired comparison with the previous audit: what was compared and how many rows
    changed, the headline rows, the per-class rows (classes with evidence of a change first)
    and the method. Every number and word comes from :mod:`prevalens.exports`, which the
    Markdown summary shares."""
    base = ctx.d.get("baseline")
    if not base:
        return []
    facts, counts, method = exports.baseline_overview(base)
    rows = [
        [
            exports.baseline_metric_label(item["metric"]),
            _split_cell(exports.fmt_baseline_side(item, "old")),
            _split_cell(exports.fmt_baseline_side(item, "new")),
            _split_cell(exports.fmt_difference(item)),
            _nowrap(exports.fmt_change(item)),
        ]
        for item in base["items"]
    ]
    blocks = [
        # prevalens's own text, as Markdown so that `prevalens compare` reads as code
        Markdown(markdown_html(f"**{_baseline.UNPAIRED_LABEL}**"), "", "label"),
        Paragraph(facts, "overview"),
        Paragraph(counts, "counts"),
        Paragraph(method, "method"),
        _table(
            "changes",
            ["Metric", "Previous", "Now", "Difference [interval]", "Change"],
            rows,
            caption="Headline numbers, previous audit and now",
            numeric=(1, 2, 3),
            note=exports.BASELINE_CHANGE_NOTE,
        ),
    ]
    shown, n_shown, n_classes = exports.baseline_class_rows(base, ctx.max_rows)
    if shown:
        crows = [
            [
                str(c["label"]) if first else "",
                _nowrap(f"{c['support']['old']:,} \u2192 {c['support']['new']:,}") if first else "",
                _nowrap(metric_name(i["metric"])),
                _split_cell(exports.fmt_baseline_side(i, "old")),
                _split_cell(exports.fmt_baseline_side(i, "new")),
                _split_cell(exports.fmt_difference(i)),
                _nowrap(exports.fmt_change(i)),
            ]
            for c, i, first in shown
        ]
        blocks.append(
            _table(
                "class_changes",
                [
                    "Class",
                    "Support",
                    "Metric",
                    "Previous",
                    "Now",
                    "Difference [interval]",
                    "Change",
                ],
                crows,
                caption="Per-class changes",
                numeric=(1, 3, 4, 5),
                note=exports.baseline_class_note(n_shown, n_classes),
            )
        )
    return blocks


def _data(ctx: _Context) -> list:
    rows = [
        [
            str(c["label"]),
            f"{c['support']:,}",
            fmt_percent(c["prevalence"]),
            c.get("stratum") or "none",
            _flags(c),
        ]
        for c in ctx.shown
    ]
    return [
        *_markdown_block(ctx.d, "data_provenance", "Data provenance"),
        Paragraph(_strata_text(ctx.d), "strata"),
        *_figure(ctx, "prevalence", "prevalence"),
        _table(
            "classes",
            ["Class", "Support", "Prevalence", "Stratum", "Flags"],
            rows,
            caption="Classes by prevalence",
            numeric=(1, 2),
            row_classes=_flag_classes(ctx),
            note=_capped_note(len(ctx.classes), ctx.max_rows),
        ),
    ]


def _methods(ctx: _Context) -> list:
    d = ctx.d
    run = d["run"]
    cfg = run.get("config") or {}
    return [
        Paragraph(
            "Per class (one-vs-rest): precision = tp/(tp+fp), recall = tp/(tp+fn), "
            "F1 = 2tp/(2tp+fp+fn), specificity = tn/(tn+fp), NPV = tn/(tn+fn), "
            "Jaccard = tp/(tp+fp+fn). Micro averages pool the counts of every class before "
            "dividing; macro averages are the unweighted mean of the per-class values "
            "(macro F1 is the mean of per-class F1); weighted averages weight classes by "
            "support.",
            "definitions",
        ),
        Paragraph(
            "A ratio whose denominator is 0 is undefined: it is reported as undefined, "
            "never as 0, and left out of the macro and weighted averages.",
            "undefined",
        ),
        _kv(
            "settings",
            [
                *_method_rows(run, cfg),
                ("ROC AUC", "DeLong, logit scale; macro with the covariance of per-class AUCs"),
                ("Tool version", f"prevalens {d['tool']['version']}"),
            ],
        ),
    ]


def _headline(ctx: _Context) -> list:
    d = ctx.d
    metrics = [
        m
        for m in (
            "precision",
            "recall",
            "f1",
            "specificity",
            "jaccard",
            "roc_auc",
            "average_precision",
        )
        if m in d["averages"]["micro"]
    ]
    overall = [
        [
            metric_name(k),
            _est_cell(e, bounds=() if k == "log_loss" else (0.0, 1.0)),
            e.get("method") or "",
            e.get("note") or "",
        ]
        for k, e in d["overall"].items()
    ]
    return [
        _table(
            "averages",
            ["Metric", "Micro", "Macro", "Weighted"],
            _headline_rows(d, metrics),
            caption="Averages",
            numeric=(1, 2, 3),
        ),
        _table(
            "overall",
            ["Metric", "Estimate [interval]", "Interval method", "Note"],
            overall,
            caption="Overall metrics",
            numeric=(1,),
        ),
        *_figure(ctx, "forest", "forest"),
    ]


def _micro_macro(ctx: _Context) -> list:
    rows = [
        [
            metric_name(m),
            _est_cell(g["macro_minus_micro"], bounds=(0.0,)),
            _est_cell(g["macro_minus_weighted"], bounds=(0.0,))
            if g.get("macro_minus_weighted")
            else "",
        ]
        for m, g in ctx.d.get("gap", {}).items()
    ]
    blocks: list[Block] = [
        Paragraph(
            "Micro averages pool every sample, so frequent classes dominate them; "
            "macro averages give every class the same weight. A macro value below "
            "the micro value means the classifier does worse on the classes that are "
            "rare in the data.",
            "explanation",
        )
    ]
    if rows:
        blocks.append(
            _table(
                "gap",
                ["Metric", "Macro - micro", "Macro - weighted"],
                rows,
                caption="The micro-macro gap",
                numeric=(1, 2),
                note=f"{fmt_level(ctx.d['run']['confidence_level'])} intervals, marginal (each "
                "difference on its own); a finding's interval for the same gap is adjusted for "
                f"the family of claims ({_adjustment(ctx.d)}) and wider.",
            )
        )
    return blocks + _figure(ctx, "curves", "curves")


def _divergence(ctx: _Context) -> list:
    d = ctx.d
    level = fmt_level(d["run"]["confidence_level"])
    config = d["run"].get("config") or {}
    min_support = config.get("min_support", 10)
    blocks: list[Block] = [Paragraph(_strata_text(d), "strata")]
    srows = [
        [
            s["name"],
            s["bounds"]["description"],
            str(s["n_classes"]),
            f"{s['support']:,}",
            _est_cell(s["macro"].get("recall")),
            _est_cell(s["macro"].get("f1")),
            _est_cell(s["vs_rest"].get("recall"), bounds=(0.0,)) if s["vs_rest"] else "",
        ]
        for s in d.get("strata", [])
    ]
    if srows:
        blocks.append(
            _table(
                "strata_table",
                [
                    "Stratum",
                    "Definition",
                    "Classes",
                    "Support",
                    "Macro recall",
                    "Macro F1",
                    "Recall vs rest",
                ],
                srows,
                caption="Prevalence strata",
                note=f"{level} intervals, marginal (MOVER with exact mid-p limits where a class "
                f"the bootstrap cannot vary takes part: fewer than {min_support} samples, or at "
                "0 or 1; else the bootstrap). The findings test these differences with "
                f"{_adjustment(d)}-adjusted intervals over the classes with at least "
                f"{min_support} samples.",
                numeric=(2, 3, 4, 5, 6),
            )
        )
    blocks += _figure(ctx, "strata", "strata_figure")
    trows = [
        [
            metric_name(m),
            _est_cell(t["slope_per_decade"], bounds=(0.0,))
            if t["slope_per_decade"].get("ci_low") is not None
            else (t["slope_per_decade"].get("note") and "not reported (span < 1 decade)" or ""),
            _est_cell(t.get("change_across_span"), bounds=(0.0,)),
            _est_cell(t["spearman"], bounds=(-1.0, 1.0)),
        ]
        for m, t in d.get("trend", {}).items()
    ]
    if trows:
        first = next(iter(d["trend"].values()))
        span = first.get("span_decades")
        blocks.append(
            _table(
                "trend",
                [
                    "Metric",
                    "Slope per tenfold prevalence",
                    "Change across the observed span",
                    "Spearman (descriptive)",
                ],
                trows,
                caption="Trend with prevalence (each class one point)",
                note=(
                    f"Least squares over the {first.get('n_classes')} classes with at least "
                    f"{(d['run'].get('config') or {}).get('min_support', 10)} samples, which span "
                    + (f"{span:.2f}" if span is not None else "an unknown number of")
                    + " decades of prevalence; marginal intervals (HC3 variance, t). The slope "
                    "per tenfold increase is reported only when the classes span at least a "
                    "decade. Spearman's correlation is descriptive, without an interval."
                ),
                numeric=(1, 2, 3),
            )
        )
    blocks += _figure(ctx, "trend", "trend_figure")
    drows = [
        [
            str(r["label"]),
            metric_name(r["metric"]),
            _est_cell(r["vs_micro"], bounds=(0.0,)),
            _adjusted_text(r.get("adjusted")),
            "diverges" if r["diverges"] else ("insufficient" if r["insufficient"] else ""),
        ]
        for r in d.get("divergence", [])
        if r["diverges"] or r["insufficient"]
    ]
    if drows:
        fam = d.get("family", {})
        blocks.append(
            _table(
                "divergent",
                ["Class", "Metric", f"Minus micro ({level})", "Adjusted interval", "Flag"],
                drows[: ctx.max_rows],
                caption="Divergent and insufficient classes",
                note=f"Minus micro: the difference with its marginal {level} interval. Adjusted "
                f"interval: {fam.get('adjustment', 'holm').capitalize()}-adjusted over "
                f"{fam.get('size', 0)} comparisons, the interval a claim rests on. A class "
                "diverges when its adjusted interval excludes 0 and the difference is at least "
                f"{config.get('min_effect', 0.05):g} (the minimum material effect).",
                numeric=(2, 3),
            )
        )
    blocks.append(
        _findings("findings", ((f["severity"], f["text"]) for f in d.get("findings", [])))
    )
    return blocks


def _per_class(ctx: _Context) -> list:
    cols = ["recall", "precision", "f1"] + (["roc_auc"] if ctx.has_scores else [])
    rows = [
        [str(c["label"]), f"{c['support']:,}", fmt_percent(c["prevalence"])]
        + [_est_cell(c["metrics"].get(m)) for m in cols]
        + [_flags(c)]
        for c in ctx.shown
    ]
    return [
        _table(
            "per_class",
            ["Class", "Support", "Prevalence"] + [metric_name(m) for m in cols] + ["Flags"],
            rows,
            caption="Per-class metrics, most common class first",
            note=_capped_note(len(ctx.classes), ctx.max_rows),
            row_classes=_flag_classes(ctx),
            numeric=tuple(range(1, 3 + len(cols))),
        )
    ]


def _deployment(ctx: _Context) -> list:
    shift = ctx.d.get("prevalence_shift")
    if not shift:
        return []
    signed = {"overall.cohen_kappa", "overall.mcc"}
    headline = [
        [
            exports.SHIFT_METRIC_NAMES.get(key, key),
            _est_cell(
                exports._evaluated(ctx.d, key), bounds=(-1.0, 1.0) if key in signed else (0.0, 1.0)
            ),
            _est_cell(e, bounds=(-1.0, 1.0) if key in signed else (0.0, 1.0)),
        ]
        for key, e in shift["headline"].items()
    ]
    by_label = {str(c["label"]): c for c in shift["per_class"]}
    rows = []
    for c in ctx.shown:
        sc = by_label.get(str(c["label"]))
        if sc is None:
            continue
        rows.append(
            [
                str(c["label"]),
                fmt_percent(sc["prevalence"]),
                fmt_percent(sc["target_prevalence"]),
                _est_cell(c["metrics"].get("recall")),
                _est_cell(c["metrics"].get("precision")),
                _est_cell(sc["metrics"].get("precision")),
                _est_cell(c["metrics"].get("f1")),
                _est_cell(sc["metrics"].get("f1")),
            ]
        )
    source = shift["source"]
    per_class_method = next(
        (
            e.get("method")
            for c in shift["per_class"]
            for m, e in c["metrics"].items()
            if m == "precision" and e.get("method")
        ),
        None,
    )
    methods = shift["method"]
    if per_class_method and per_class_method != methods:
        methods += f" for the headline metrics and F1; {per_class_method} for precision, NPV "
        methods += "and specificity"
    return [
        Paragraph(
            f"Target prevalences: {source}. Assumed: {shift['assumption']}. Recall, and with it "
            "macro recall (balanced accuracy), carries over unchanged. Specificity and NPV "
            "move with the mix of the other classes (unchanged only with two classes). Intervals: "
            f"{methods}; they carry the uncertainty of the evaluated rows, the target "
            "prevalences are taken as exact.",
            "assumption",
        ),
        _table(
            "shift_headline",
            ["Metric", "As evaluated", "At the deployment's prevalence"],
            headline,
            caption="Headline metrics at the deployment's class prevalences",
            numeric=(1, 2),
        ),
        _table(
            "shift_per_class",
            [
                "Class",
                "Prevalence",
                "Deployment",
                "Recall",
                "Precision",
                "Precision there",
                "F1",
                "F1 there",
            ],
            rows,
            caption="Per class: recall carries over; precision and F1 move with prevalence",
            note=" ".join(
                t
                for t in (
                    _capped_note(len(ctx.classes), ctx.max_rows),
                    "An F1 there without an interval is the same in every bootstrap replicate "
                    "(e.g. 0 for a class never predicted), so the bootstrap cannot bound it; the "
                    "evaluated interval shows its uncertainty.",
                )
                if t
            ),
            numeric=tuple(range(1, 7)),
        ),
        *_figure(ctx, "shift", "sweep"),
        *_shift_calibration(ctx, shift),
    ]


def _shift_calibration(ctx: _Context, shift: dict) -> list:
    """The probabilities at the deployment's prevalence (only when the scores are
    probabilities): the method paragraph and a table of the classes the per-class table shows.
    The texts and cells come from :mod:`prevalens.exports`, which the Markdown summary shares."""
    cal = shift.get("calibration")
    if not cal:
        return []
    level = fmt_level(ctx.d["run"]["confidence_level"])
    min_support = (ctx.d["run"].get("config") or {}).get("min_support", 10)
    by_label = {str(c["label"]): c for c in cal}
    rows, classes = [], []
    for c in ctx.shown:
        sc = by_label.get(str(c["label"]))
        if sc is None:
            continue
        target, raw_mean, _, adjusted_mean, intercept, slope = exports.shift_calibration_cells(sc)
        rows.append(
            [
                str(c["label"]),
                target,
                raw_mean,
                _est_cell(sc["raw_intercept"], bounds=(0.0,)),
                adjusted_mean,
                intercept,
                slope,
            ]
        )
        classes.append("flagged" if sc["raw_intercept"].get("status") == "insufficient" else "")
    if not rows:
        return []
    return [
        Paragraph(
            exports.shift_calibration_text(shift, level, ctx.d.get("findings", ())),
            "shift_calibration_method",
        ),
        _table(
            "shift_calibration",
            [
                "Class",
                "Deployment",
                Cell("Mean probability", "as scored", ("stack",)),
                Cell("Intercept", "as scored", ("stack",)),
                Cell("Mean probability", "corrected", ("stack",)),
                Cell("Intercept", "corrected, point value", ("stack",)),
                Cell("Slope", "corrected, point value", ("stack",)),
            ],
            rows,
            caption="Probabilities at the deployment's prevalence",
            note=" ".join(
                t
                for t in (
                    _capped_note(len(ctx.classes), ctx.max_rows),
                    "Deployment: the class's target prevalence. Mean probability: the class's "
                    "mean predicted probability at the deployment's prevalence (weighted), as "
                    f"scored and after the prior-shift correction. {level} interval for the "
                    "intercept as scored, marginal; the corrected intercept and slope are point "
                    f"values (no interval). A class with fewer than {min_support} samples "
                    "(insufficient, in italics) rests on few rows; a class absent at the "
                    "deployment or without samples reads undefined.",
                )
                if t
            ),
            row_classes=classes,
            numeric=tuple(range(1, 7)),
        ),
    ]


def _subgroups(ctx: _Context) -> list:
    """Classes within subgroups: the method, the suppression rule and the reference levels; per
    grouping (a heading paragraph ``grouping-<i>``) its summary, the recall heat map, the forest
    plot of the differences from the rest, the levels, their averages (:func:`_subgroup_averages`)
    and the largest gaps; the subgroup findings. Every value comes through :func:`prevalens.exports.subgroup_value` and its
    siblings, so a suppressed value never reaches the report, also when results.json discloses
    it."""
    d = ctx.d
    sub = d.get("subgroups")
    if not sub:
        return []
    level = fmt_level(d["run"]["confidence_level"])
    blocks: list[Block] = [Paragraph(exports.subgroup_method_text(d), "method")]
    for i, g in enumerate(sub["groupings"], start=1):
        withheld = exports.subgroup_withheld(g)
        shown = exports.subgroup_disparities(g, withheld)
        rest = {
            x["level"]: x for x in shown if x["against"] == "rest" and x["metric"] == "accuracy"
        }
        blocks.append(Paragraph(f"By {g['name']}", f"grouping-{i}"))
        blocks.append(Paragraph(exports.subgroup_grouping_text(g), f"summary-{i}"))
        blocks += _figure(ctx, f"subgroup_recall-{i}", f"heatmap-{i}")
        blocks += _figure(ctx, f"subgroup_forest-{i}", f"forest-{i}")
        rows = []
        for lv in g["levels"]:
            acc = exports.subgroup_value(withheld, lv, "accuracy")
            r = rest.get(lv["level"])
            rows.append(
                [
                    lv["level"] + (" (reference)" if lv["level"] == g["reference"] else ""),
                    exports.subgroup_level_size(lv),
                    _est_cell(acc) if acc else Cell("suppressed", None, ("num",)),
                    _signed_cell(r["difference"]) if r else "",
                    _adjusted_text(r.get("adjusted")) if r else "",
                ]
            )
        min_cell = sub.get("min_cell", 10)
        blocks.append(
            _table(
                f"levels-{i}",
                ["Level", "Rows", "Accuracy", "Minus the rest", "Adjusted interval"],
                rows,
                caption=f"Levels of {g['name']}",
                note=f"{level} intervals ({_first_method(g)}). Rows: the level's size; "
                f"suppressed for a level of fewer than {min_cell} rows (and withheld for the "
                "next smallest level when exactly one is suppressed, so that it cannot be "
                "derived). Minus the rest: the level's accuracy minus that of the other rows, "
                f"with its marginal interval; adjusted interval: {_adjustment(d)}-adjusted "
                "with the audit's other claims.",
                numeric=(1, 2, 3, 4),
            )
        )
        blocks += _subgroup_averages(ctx, g, i, withheld)
        gaps = exports.subgroup_gaps(g, withheld)
        gap_rows = exports.subgroup_gap_rows(gaps)
        if gap_rows:
            blocks.append(
                _table(
                    f"gaps-{i}",
                    ["Metric", "Class", "Gap", "Highest level", "Lowest level"],
                    [
                        [
                            exports.SUBGROUP_METRIC_NAMES[x["metric"]][0]
                            if x["metric"] in exports.SUBGROUP_METRIC_NAMES
                            else exports.subgroup_average_name(x["metric"])[0],
                            "" if x["label"] is None else str(x["label"]),
                            _est_cell(x["gap"], bounds=(0.0,)),
                            x["highest"],
                            x["lowest"],
                        ]
                        for x in gap_rows
                    ],
                    caption=f"Largest gaps across the levels of {g['name']}",
                    note=f"The gap is the highest level's value minus the lowest's, among the "
                    f"levels whose value is shown, with a simultaneous {level} interval that "
                    "accounts for picking the two (every pairwise difference at the Bonferroni "
                    "level). Accuracy first, then the gaps whose interval excludes 0, then the "
                    f"largest: {len(gap_rows)} of {len(gaps)}; all of them are in "
                    "subgroup_gaps.csv and results.json.",
                    numeric=(2,),
                )
            )
    findings = [
        f
        for f in d.get("findings", [])
        if f["kind"] in ("subgroup_disparity", "no_subgroup_disparity")
    ]
    blocks.append(
        _findings("findings", ((f["severity"], f["text"]) for f in findings))
        if findings
        else Paragraph(
            "No level differs from the rest of the rows by a claimed difference (an adjusted "
            "interval that excludes 0 and a difference of at least the minimum material "
            "effect).",
            "findings",
        )
    )
    return blocks


#: The per-class ROC AUC table of a grouping shows each value with its interval up to this many
#: levels, the value alone up to :data:`_SUBGROUP_AUC_LEVELS`; beyond, the values are in
#: subgroups.csv only.
_SUBGROUP_AUC_CI_LEVELS = 5
_SUBGROUP_AUC_LEVELS = 10


def _subgroup_averages(ctx: _Context, g: dict, i: int, withheld: set) -> list:
    """The tables of grouping ``g``'s averages within its levels: ``averages-<i>`` (each
    level's macro recall, FPR, precision, F1 and ROC AUC), ``macro-rest-<i>`` (their
    differences from the rest, claimed ones marked), ``strata-<i>`` (the gap, macro minus
    accuracy, and the strata's macros) and ``auc-<i>`` (each class's ROC AUC per level). Every
    value comes through :func:`prevalens.exports.subgroup_average` or
    :func:`~prevalens.exports.subgroup_value`: nothing suppressed is shown."""
    d = ctx.d
    level = fmt_level(d["run"]["confidence_level"])
    keys = [k for k in exports.subgroup_average_keys(g) if k.startswith("macro.")]
    others = [
        k for k in exports.subgroup_average_keys(g) if k.startswith(("weighted.", "overall."))
    ]
    out: list[Block] = []
    if keys:
        rows = []
        for lv in g["levels"]:
            cells: list = [lv["level"] + (" (reference)" if lv["level"] == g["reference"] else "")]
            for key in keys:
                e = exports.subgroup_average(withheld, lv, key)
                cells.append(_average_cell(e, key) if e else Cell("suppressed", None, ("num",)))
            rows.append(cells)
        e0 = next(
            (
                e
                for lv in g["levels"]
                for e in [exports.subgroup_average(withheld, lv, "macro.recall")]
                if e and e.get("method")
            ),
            None,
        )
        method = e0["method"] if e0 else ""
        auc = " ROC AUC: DeLong's interval on the logit scale." if "macro.roc_auc" in keys else ""
        out.append(
            _table(
                f"averages-{i}",
                ["Level"] + [exports.subgroup_average_name(k)[0] for k in keys],
                rows,
                caption=f"Averages within the levels of {g['name']}",
                note=f"Each macro average is the mean over the level's shown classes: a "
                "suppressed class counts in none (a precision also not when the class has too "
                f"few predicted samples in the level). {level} intervals ({method}).{auc} "
                "FPR: false-positive rate. Every average is in subgroup_averages.csv.",
                numeric=tuple(range(1, len(keys) + 1)),
            )
        )
        diffs = exports.subgroup_macro_differences(g, withheld)
        metrics = [k.partition(".")[2] for k in keys]
        if diffs:
            claimed = False
            drows = []
            for lv in g["levels"]:
                by = diffs.get(lv["level"])
                if not by:
                    continue
                cells = [lv["level"]]
                for m in metrics:
                    x = by.get(m)
                    if x is None:
                        cells.append("")
                        continue
                    c = _signed_cell(x["difference"])
                    if exports.subgroup_claimed(x):
                        claimed = True
                        c = Cell(c.text + "*", c.interval, c.classes)
                    cells.append(c)
                drows.append(cells)
            out.append(
                _table(
                    f"macro-rest-{i}",
                    ["Level"] + [exports.SUBGROUP_MACROS[m][0] for m in metrics],
                    drows,
                    caption=f"Macro averages minus the rest of the rows, within {g['name']}",
                    note=f"The level's macro average minus that of the other rows, over the "
                    f"classes shown in the level, with its marginal {level} interval."
                    + (
                        f" *: claimed, its {_adjustment(d)}-adjusted interval (with the "
                        "audit's other claims) excludes 0."
                        if claimed
                        else ""
                    )
                    + " The averages of the findings metrics are claims; the adjusted intervals "
                    "and the differences from the reference level are in "
                    "subgroup_disparities.csv.",
                    numeric=tuple(range(1, len(metrics) + 1)),
                )
            )
    if others:
        out.append(
            _table(
                f"overall-{i}",
                ["Level"] + [exports.subgroup_average_name(k)[0] for k in others],
                [
                    [lv["level"]]
                    + [
                        _average_cell(e, k) if e else Cell("suppressed", None, ("num",))
                        for k in others
                        for e in [exports.subgroup_average(withheld, lv, k)]
                    ]
                    for lv in g["levels"]
                ],
                caption=f"Weighted and overall measures within the levels of {g['name']}",
                note="Weighted F1: the F1 of the level's shown classes weighted by their true "
                "samples in the level; Cohen's kappa and MCC over all of the level's rows. "
                f"{level} intervals.",
                numeric=tuple(range(1, len(others) + 1)),
            )
        )
    cols = exports.subgroup_strata_columns(g, d.get("strata") or ())
    if cols:
        srows = []
        for lv in g["levels"]:
            if lv["suppressed"]:
                continue
            for j, metric in enumerate(exports.SUBGROUP_STRATA_METRICS):
                cells = [lv["level"] if j == 0 else "", metric_name(metric)]
                for prefix, _ in cols:
                    key = f"{prefix}.{metric}"
                    e = exports.subgroup_average(withheld, lv, key)
                    cells.append(_average_cell(e, key) if e else "")
                srows.append(cells)
        if srows:
            names = {
                "gap": "Macro minus accuracy",
                "extremes": "Rarest minus most common",
            }
            out.append(
                _table(
                    f"strata-{i}",
                    ["Level", "Metric"] + [names.get(prefix, name) for prefix, name in cols],
                    srows,
                    caption=f"Gap and strata within the levels of {g['name']}",
                    note="Macro minus accuracy: the level's macro average minus its accuracy "
                    "(its micro average), negative when the classifier does worse on the "
                    "level's rarer classes. Then the macro average over the shown classes of "
                    "each of the audit's prevalence strata (rarest first; empty where the "
                    "stratum has no shown class in the level)"
                    + (
                        ", and the rarest stratum's minus the most common one's"
                        if any(p == "extremes" for p, _ in cols)
                        else ""
                    )
                    + f". {level} intervals.",
                    numeric=tuple(range(2, len(cols) + 2)),
                )
            )
    out += _subgroup_auc_table(ctx, g, i, withheld)
    return out


def _subgroup_auc_table(ctx: _Context, g: dict, i: int, withheld: set) -> list:
    """``auc-<i>``: each class's ROC AUC within each level (classes as the heat map shows
    them), with its interval up to :data:`_SUBGROUP_AUC_CI_LEVELS` levels."""
    if not any(c.get("roc_auc") for lv in g["levels"] for c in lv["cells"]):
        return []
    levels = g["levels"]
    if len(levels) > _SUBGROUP_AUC_LEVELS:
        return [
            Paragraph(
                f"Each class's ROC AUC within the {len(levels)} levels of {g['name']} is in "
                "subgroups.csv (too many levels for a table here).",
                f"auc-{i}",
            )
        ]
    with_ci = len(levels) <= _SUBGROUP_AUC_CI_LEVELS
    labels = plots.subgroup_classes(ctx.d, g)
    rows = []
    for lab in labels:
        cells: list = [str(lab)]
        for lv in levels:
            cell = next((c for c in lv["cells"] if c["label"] == lab), None)
            e = None if cell is None else exports.subgroup_value(withheld, lv, "roc_auc", cell)
            if e is None:
                cells.append(Cell("suppressed", None, ("num",)))
            elif with_ci:
                cells.append(_est_cell(e))
            else:
                cells.append(Cell(exports.fmt_marked(e).partition(" ")[0], None, ("num",)))
        rows.append(cells)
    k = len(ctx.classes)
    min_cell = (ctx.d.get("subgroups") or {}).get("min_cell", 10)
    level = fmt_level(ctx.d["run"]["confidence_level"])
    return [
        _table(
            f"auc-{i}",
            ["Class"] + [lv["level"] for lv in levels],
            rows,
            caption=f"ROC AUC of each class within the levels of {g['name']}",
            note="One-vs-rest ROC AUC of the class's scores among the level's rows"
            + (
                f", with its {level} interval (DeLong, logit scale)"
                if with_ci
                else " (the intervals are in subgroups.csv)"
            )
            + f". Suppressed: fewer than {min_cell} true samples of the class in the level (or "
            "of the other classes), or a suppressed level."
            + (
                f" {len(labels)} of {k} classes, as in the heat map; every value is in "
                "subgroups.csv."
                if len(labels) < k
                else ""
            ),
            numeric=tuple(range(1, len(levels) + 1)),
        )
    ]


def _average_cell(e, key: str) -> Cell:
    """A level's average as a numeric cell, a difference (gap, extremes) signed."""
    est, sep, ci = exports.fmt_subgroup_average(e, key).partition(" ")
    return Cell(est, ci if sep else None, ("num",))


def _first_method(g: dict) -> str:
    return next(
        (
            lv["accuracy"]["method"]
            for lv in g["levels"]
            if not lv["suppressed"] and lv["accuracy"].get("method")
        ),
        "Wilson score interval",
    )


def _signed_cell(e) -> Cell:
    """A difference as a numeric cell, signed, its interval apart."""
    est, sep, ci = fmt_signed(e, bounds=(0.0,)).partition(" ")
    return Cell(est, ci if sep else None, ("num",))


def _calibration(ctx: _Context) -> list:
    """Calibration of the probabilities: the method, by stratum, per class (the classes the
    other tables show), the overall ECE and Brier decomposition, the reliability curves and the
    calibration findings. The texts come from :mod:`prevalens.exports`, which the Markdown
    summary shares."""
    cal = ctx.d.get("calibration")
    if not cal:
        return []
    level = fmt_level(ctx.d["run"]["confidence_level"])
    min_support = (ctx.d["run"].get("config") or {}).get("min_support", 10)
    srows = [
        [
            s["stratum"],
            str(s["n_classes"]),
            str(s["n_used"]),
            _est_cell(s["ece"], bounds=(0.0,)),
            _est_cell(s["intercept"], bounds=(0.0,)),
            _est_cell(s["slope"], bounds=(0.0, 1.0)),
        ]
        for s in cal["strata"]
    ]
    by_label = {str(c["label"]): c for c in cal["per_class"]}
    rows, classes = [], []
    for c in ctx.shown:
        cc = by_label.get(str(c["label"]))
        if cc is None:
            continue
        # the stratum under the label (as in the LaTeX tables), with the flag that matters here
        # (too few samples): columns of their own do not fit beside seven numeric ones
        insufficient = "insufficient" in c["flags"]
        stratum = cc.get("stratum") or "no stratum"
        rows.append(
            [
                Cell(str(c["label"]), f"{stratum}, insufficient" if insufficient else stratum),
                f"{cc['support']:,}",
                # the observed prevalence over the mean predicted probability
                Cell(fmt_percent(cc["observed"]), fmt_percent(cc["expected"]), ("num",)),
                _est_cell(cc["intercept"], bounds=(0.0,)),
                _est_cell(cc["slope"], bounds=(0.0, 1.0)),
                _est_cell(cc["ece"], bounds=(0.0,)),
                exports.fmt_brier(cc["brier"]["reliability"]),
            ]
        )
        classes.append("flagged" if insufficient else "")
    blocks: list[Block] = [Paragraph(exports.calibration_method_text(cal), "method")]
    if srows:
        blocks.append(
            _table(
                "calibration_strata",
                [
                    "Stratum",
                    "Classes",
                    f"With \u2265 {min_support} samples",
                    "ECE",
                    "Mean intercept",
                    "Mean slope",
                ],
                srows,
                caption="Calibration by prevalence stratum",
                note=f"{level} intervals, marginal. The ECE counts every class of the stratum; "
                f"the mean intercept and slope the classes with at least {min_support} samples "
                "(influence-function intervals that count the rows the classes share). The "
                f"findings test the intercept and slope with {_adjustment(ctx.d)}-adjusted "
                "intervals.",
                numeric=(1, 2, 3, 4, 5),
            )
        )
    blocks.append(
        _table(
            "calibration_per_class",
            [
                Cell("Class", "stratum"),
                "Support",
                Cell("Observed", "predicted"),
                "Intercept",
                "Slope",
                "ECE",
                "Brier reliability",
            ],
            rows,
            caption="Calibration per class, most common class first",
            note=" ".join(
                t
                for t in (
                    _capped_note(len(ctx.classes), ctx.max_rows),
                    f"Observed: the class's prevalence, over predicted: its mean predicted "
                    f"probability. {level} intervals, marginal. A class with fewer than "
                    f"{min_support} samples (insufficient, in italics) is shown but no finding "
                    "rests on it alone; an intercept or slope reads undefined when the "
                    "probabilities do not bound it (a class with no sample, or separated "
                    "perfectly).",
                )
                if t
            ),
            row_classes=classes,
            numeric=tuple(range(1, 8)),
        )
    )
    blocks.append(Paragraph(exports.calibration_overall_text(cal), "overall"))
    blocks += _figure(ctx, "reliability", "reliability")
    findings = [f for f in ctx.d.get("findings", []) if f["kind"] == "calibration"]
    if findings:
        blocks.append(_findings("findings", ((f["severity"], f["text"]) for f in findings)))
    return blocks


def _confusion(ctx: _Context) -> list:
    d = ctx.d
    data = d.get("data") or {}
    if data.get("confusion_matrix") is None and data.get("confusion_matrix_sparse") is None:
        return [
            Paragraph(
                "The results carry no confusion matrix (a multi-label task has one "
                "2x2 table per label, in the per-class results).",
                "none",
            )
        ]
    k = d["data"]["n_classes"]
    n = 10 if k <= plots.CONFUSION_VALUES_MAX else 20
    top = plots.top_confusions(d, n)
    support = {str(c["label"]): c["support"] for c in d["per_class"]}
    blocks = _figure(ctx, "confusion", "matrix")
    if top:
        rows = [
            [
                str(r["true"]),
                str(r["predicted"]),
                f"{r['count']:,}",
                f"{support.get(str(r['true']), 0):,}",
                fmt_percent(r["share"]),
            ]
            for r in top
        ]
        blocks.append(
            _table(
                "top",
                [
                    "True class",
                    "Predicted as",
                    "Count",
                    "True-class samples",
                    "Share of the true class",
                ],
                rows,
                caption=f"The {len(top)} most frequent confusions"
                if len(top) > 1
                else "The only confusion",
                numeric=(2, 3, 4),
                note="Counts of samples of the true class predicted as the other class, largest "
                "first; the full matrix is in results.json "
                + (
                    "(data.confusion_matrix_sparse: its non-zero cells)."
                    if data.get("confusion_matrix_sparse") is not None
                    else "(data.confusion_matrix)."
                ),
            )
        )
    else:
        blocks.append(Paragraph("No class was confused with another.", "none"))
    return blocks


def _limitations(ctx: _Context) -> list:
    d = ctx.d
    items = [
        ("info", f["text"])
        for f in d.get("findings", [])
        if f["kind"] in ("insufficient", "undefined", "no_intervals")
    ]
    # every warning of the audit (notes), said once: not again when a finding says it
    said = {f["id"] for f in d.get("findings", [])}
    notes = [n for n in d.get("notes", []) if n["kind"] not in said]
    items = [("high", _note_text(n)) for n in notes if n["kind"] in ALERT_KINDS] + items
    items += [("info", _note_text(n)) for n in notes if n["kind"] not in ALERT_KINDS]
    if not items:
        items.append(("info", "No alerts."))
    return [
        *_markdown_block(d, "known_limitations", "Known limitations"),
        _findings("alerts", items),
    ]


def run_pairs(d: dict, report_id: str, attachments, extra=()) -> list:
    """The reproducibility facts of a run (of an audit or a comparison): command, seed, time,
    report id, tool, ``extra`` pairs, each input (with the models read from it, in a comparison)
    and each attachment with its SHA-256."""
    run = d["run"]
    pairs = [
        ("Command", run.get("command") or "Python API"),
        ("Seed", str(run["seed"])),
        ("Created (UTC)", run["created_utc"]),
        ("Report id", report_id),
        ("Tool", f"prevalens {d['tool']['version']}"),
        *extra,
    ]
    for i in d.get("inputs", []):
        models = f"{', '.join(i['models'])}: " if i.get("models") else ""
        pairs.append(
            (
                "Input",
                f"{models}{i['path'] or 'in-memory'} ({i['rows']:,} rows, SHA-256 "
                f"{i['sha256'] or 'n/a'})",
            )
        )
    for name, sha in (attachments or {}).items():
        pairs.append(("Attachment", f"{name} (SHA-256 {sha})"))
    return pairs


def _reproducibility(ctx: _Context) -> list:
    d = ctx.d
    run = d["run"]
    pairs = run_pairs(d, ctx.report_id, ctx.attachments)
    cfg = run.get("config", {})
    rows = [
        [
            k,
            f"the text shown in {USER_TEXT_KEYS[k]}"
            if k in USER_TEXT_KEYS and v
            else _config_value(v),
        ]
        for k, v in cfg.items()
    ]
    return [
        _kv("run", pairs),
        _table("config", ["Option", "Value"], rows, caption="Resolved configuration"),
        Paragraph(
            "The PDF carries results.json and per_class.csv as attachments: extract "
            "them with any PDF reader's attachment panel, or `pdfdetach -saveall "
            "report.pdf` (poppler) / `qpdf --show-attachment=results.json report.pdf`.",
            "attachments",
        ),
    ]


def _sign_off(ctx: _Context) -> list:
    people = tuple(ctx.signoff) or (("", "Prepared by"), ("", "Reviewed by"), ("", "Approved by"))
    return [SignOff(tuple(Signatory(str(n), str(r)) for n, r in people), "signoff")]


#: The sections in reading order: (id, heading, builder). A builder returns the section's blocks
#: (none: the section is left out). Extra sections of a user's templates go before sign-off.
SECTIONS = (
    ("summary", "Executive summary", _summary),
    ("intended-use", "Intended use", _intended_use),
    ("changes", "Changes since the previous audit", _changes),
    ("data", "Data", _data),
    ("methods", "Methods", _methods),
    ("headline", "Headline results", _headline),
    ("micro-macro", "Micro versus macro", _micro_macro),
    ("divergence", "Where rare classes diverge", _divergence),
    ("per-class", "Per-class results", _per_class),
    ("confusion", "Confusion analysis", _confusion),
    ("subgroups", "Subgroups", _subgroups),
    ("calibration", "Calibration", _calibration),
    ("deployment", "At the deployment's prevalence", _deployment),
    ("limitations", "Limitations and alerts", _limitations),
    ("reproducibility", "Reproducibility", _reproducibility),
    ("sign-off", "Sign-off", _sign_off),
)


def build_report_model(
    d: dict,
    *,
    title: str | None = None,
    model_name: str | None = None,
    dataset_name: str | None = None,
    signoff=(),
    max_rows: int = 60,
    figures: dict | None = None,
    attachments: dict | None = None,
) -> ReportModel:
    """Format a results dict (``AuditResult.to_dict()``) for the templates.

    Parameters
    ----------
    d : dict
        The results dict (or a loaded ``results.json``).
    title, model_name, dataset_name : str, optional
        Override the configuration's ``title``, ``model_name`` and ``dataset_name``.
    signoff : sequence of (name, role)
        The sign-off lines; by default the ``signoff`` lines of the run's configuration
        (``"Role: Name"``), else blank lines for three roles.
    max_rows : int
        Class tables with more classes show this many (the ones the report is about) and say so.
    figures : dict, optional
        Figure key -> :class:`Figure` (from :func:`build_figures`); built here when None.
    attachments : dict, optional
        Names of the files the PDF embeds -> their SHA-256, listed in the reproducibility
        section; by default those of :func:`attachment_bytes`.

    Returns
    -------
    ReportModel
    """
    figures = figures if figures is not None else build_figures(d)
    run, data = d["run"], d["data"]
    inputs = d.get("inputs") or []
    version = d["tool"]["version"]
    cfg = run.get("config") or {}
    model_name = model_name or (cfg.get("model_name") or "unnamed model")
    dataset_name = (
        dataset_name
        or cfg.get("dataset_name")
        or (inputs[0]["path"] if inputs and inputs[0]["path"] else "in-memory data")
    )
    title = title or cfg.get("title") or f"Classifier audit: {model_name}"
    if not signoff and cfg.get("signoff"):
        signoff = tuple(_signoff_pair(line) for line in cfg["signoff"])
    classes = sorted(d["per_class"], key=lambda c: (-c["support"], str(c["label"])))
    report_id = _report_id(d)
    ctx = _Context(
        d=d,
        figures=figures,
        classes=classes,
        shown=_select_classes(d, classes, max_rows),
        max_rows=max_rows,
        report_id=report_id,
        attachments=attachment_hashes(d) if attachments is None else attachments,
        signoff=tuple(signoff),
        has_scores=bool(data["has_scores"]),
    )
    sections = tuple(
        Section(sid, heading, tuple(blocks))
        for sid, heading, build in SECTIONS
        if (blocks := build(ctx))
    )
    status, thresholds = _gate_status(d.get("gates"))
    evaluation = " ".join(_user_text(d, "evaluation").split())
    control = (
        ("Model", model_name),
        ("Dataset", dataset_name),
        (
            "Dataset SHA-256",
            inputs[0]["sha256"]
            if inputs and inputs[0].get("sha256")
            else "not recorded (in-memory data)",
        ),
        *((("Evaluation", evaluation),) if evaluation else ()),
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
        keywords="classifier audit, micro average, macro average, class prevalence, "
        "confidence intervals",
        document_control=control,
        status=status,
        sections=sections,
        footer_left=f"{title} · report {report_id}",
        generated=run["created_utc"],
        report_id=report_id,
    )


# ------------------------------------------------------------------------------------------------
# figures and attachments


def build_figures(d: dict) -> dict:
    """Every figure of the report as :class:`Figure` (data-URI SVG with alt text), by key of
    :data:`prevalens.report.plots.FIGURES`; a figure the results cannot give (curves without
    scores) is left out."""
    return {
        key: Figure(p.title, p.alt, plots.as_data_uri(p.svg), key)
        for key, p in plots.render_figures(d).items()
    }


def attachment_bytes(d: dict) -> dict:
    """The files the PDF embeds, as bytes: ``results.json`` (the results, exactly as
    ``prevalens audit`` writes them) and ``per_class.csv``."""
    return {
        "results.json": (
            json.dumps(d, indent=2, allow_nan=False, ensure_ascii=False) + "\n"
        ).encode("utf-8"),
        "per_class.csv": exports.per_class_csv(d),
    }


def attachment_hashes(d: dict) -> dict:
    """SHA-256 (hex) of each file of :func:`attachment_bytes`."""
    return {name: hashlib.sha256(data).hexdigest() for name, data in attachment_bytes(d).items()}


# ------------------------------------------------------------------------------------------------
# helpers


def _report_id(d):
    text = json.dumps(d, sort_keys=True, allow_nan=False, ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:12]


_PROPORTION_NAMES = {
    "wilson": "Wilson",
    "clopper-pearson": "Clopper-Pearson",
    "bootstrap": "the bootstrap",
}


def _interval_phrase(run, has_scores=True):
    if not run["n_resamples"]:
        return "no intervals: point estimates only"
    prop = (run.get("config") or {}).get("proportion_interval", "wilson")
    return (
        f"{run['interval_method']} bootstrap with {run['n_resamples']:,} {run['resampling']} "
        f"replicates for label metrics; {_PROPORTION_NAMES.get(prop, prop)} for per-class "
        "proportions"
        + (
            (
                "; clustered DeLong for ROC AUC"
                if run["resampling"] == "cluster"
                else "; HM-S score intervals for per-class ROC AUC, DeLong for its averages"
            )
            + "; jackknife and influence-function intervals for average precision"
            if has_scores
            else ""
        )
    )


#: Options whose value the run records itself (the seed drawn, the scheme used with clusters).
_RUN_FIELDS = {
    "n_resamples": "n_resamples",
    "seed": "seed",
    "confidence_level": "confidence_level",
    "resampling": "resampling",
    "interval": "interval_method",
}


def _method_rows(run: dict, cfg: dict) -> list:
    """The methods table's rows, one per option that declares one (prevalens.options)."""
    rows = []
    for o in AUDIT_OPTIONS:
        if not o.methods:
            continue
        value = run[_RUN_FIELDS[o.key]] if o.key in _RUN_FIELDS else cfg.get(o.key, o.default)
        if o.key == "confidence_level":
            value = fmt_level(value)
        rows.append((o.methods, o.method_text(value)))
    return rows


def _strata_text(d):
    sd = d.get("strata_definition") or {}
    parts = [f"{s['name']}: {s['description']}" for s in sd.get("strata", [])]
    text = "Classes are grouped by prevalence (" + "; ".join(parts) + ")." if parts else ""
    if sd.get("omitted_empty"):
        text += " Empty strata, omitted: " + ", ".join(sd["omitted_empty"]) + "."
    if sd.get("absent_classes"):
        text += (
            " Classes with no true samples, listed apart: "
            + ", ".join(str(x) for x in sd["absent_classes"])
            + "."
        )
    return text


def _capped_note(n, max_rows):
    if n <= max_rows:
        return ""
    return (
        f"{max_rows} of {n} classes are shown, by prevalence: those that diverge, the worst "
        "by F1, the rarest and the flagged ones. The full table is in the attached "
        "per_class.csv and in results.json."
    )


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
    worst = sorted(
        (c for c in classes if f1(c) < math.inf), key=lambda c: (f1(c), c["support"], key(c))
    )
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


def _flag_classes(ctx):
    return ["flagged" if c["flags"] else "" for c in ctx.shown]


def _signoff_pair(line):
    role, sep, name = str(line).partition(":")
    return (name.strip(), role.strip()) if sep else (str(line).strip(), "Signed by")


def _gate_status(gates):
    if not gates or not gates.get("items"):
        return "no quality gates declared", "none"
    n = len(gates["items"])
    status = (
        f"PASS: all {n} quality gates met"
        if gates["passed"]
        else f"FAIL: {gates['n_failed']} of {n} quality gates not met"
    )
    basis = (
        "checked on the interval bound"
        if gates["basis"] == "interval"
        else "checked on the estimate"
    )
    return status, "; ".join(g["spec"] for g in gates["items"]) + f" ({basis})"


def _gates(gates):
    if not gates or not gates.get("items"):
        return Paragraph("No quality gates were declared for this audit.", "gates")
    rows, cls = [], []
    for g in gates["items"]:
        compared = {"ci_low": "lower bound", "ci_high": "upper bound", "estimate": "estimate"}.get(
            g["compared"], "value"
        )
        rows.append(
            [
                g["spec"],
                f"{compared} {fmt_gate_value(g)}",
                _est_cell(g["estimate"]) if g["estimate"] else "undefined",
                "PASS" if g["passed"] else "FAIL",
                g.get("note") or "",
            ]
        )
        cls.append("" if g["passed"] else "flagged")
    status, _ = _gate_status(gates)
    basis = (
        "Each gate is checked on the conservative end of the interval (the lower bound for "
        ">=, the upper bound for <=)"
        if gates["basis"] == "interval"
        else "Each gate is checked on the point estimate"
    )
    return _table(
        "gates",
        ["Gate", "Checked value", "Estimate [interval]", "Result", "Note"],
        rows,
        caption=f"Quality gates: {status}",
        row_classes=cls,
        numeric=(1, 2),
        note=basis + "; an undefined value fails.",
    )


def _adjusted_text(a):
    if not a:
        return ""
    return (
        f"[{fmt_number(a['ci_low'], 2, bounds=(0.0,))}, "
        f"{fmt_number(a['ci_high'], 2, bounds=(0.0,))}]"
    )


def _config_value(v) -> str:
    if v is None:
        return "default"
    if isinstance(v, (list, tuple)):
        return ", ".join(str(x) for x in v)
    if isinstance(v, float) and v.is_integer() and abs(v) >= 1e6:
        return f"{v:.0e}"
    return str(v)
