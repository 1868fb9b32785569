"""The comparison report's data model: comparison dict -> ready-formatted sections and figures.

The counterpart of :mod:`prevalens.report.model` for ``prevalens compare``: it reads only the
comparison dict (``ComparisonResult.to_dict()`` or a loaded ``comparison.json``) and returns a
:class:`~prevalens.report.model.ReportModel` of the same blocks (tables of :class:`Cell`\\ s,
paragraphs, findings, figures), so the same macros, stylesheet and cover lay it out and the
templates compute nothing. ``templates/comparison.html.j2`` assembles it; each section is laid out
by ``templates/sections/compare-<name>.html.j2``.

Every number follows the report's display rules (:mod:`prevalens.formatting`); a difference
carries its sign (``+0.08 [0.05, 0.11]``), an approximate interval its mark (``≈``).
"""

from __future__ import annotations

import hashlib
import math
import re

from ..comparison_exports import (
    CALIBRATION_BOUNDS,
    MAX_CLASS_ROWS,
    _bounds,
    _diff,
    calibration_absent_text,
    calibration_models,
    calibration_strata_rows,
    class_rows,
    comparison_csv,
    comparison_json,
    decision,
    findings_metrics,
    headline_rows,
    methods_by_test,
    min_effect,
    omitted_runs,
    p_text,
    pair_rows,
    target_rows,
    target_text,
)
from ..exports import fmt_marked
from ..formatting import (
    digits_for_width,
    fmt_gate_value,
    fmt_level,
    fmt_number,
    fmt_percent,
    fmt_signed_number,
    metric_name,
    metric_text,
    quantity_text,
)
from . import compare_plots
from .model import (
    Cell,
    Figure,
    Paragraph,
    ReportModel,
    Section,
    _config_value,
    _findings,
    _kv,
    _note_text,
    _report_id,
    _table,
    run_pairs,
)

__all__ = [
    "COMPARISON_SECTIONS",
    "build_comparison_model",
    "build_comparison_figures",
    "comparison_attachments",
]

#: The attachments of the comparison PDF: file name -> description.
ATTACHMENT_DESCRIPTIONS = {
    "comparison.json": "Every number of this report (schema prevalens.comparison/1)",
    "differences.csv": "Every difference of every pair, with intervals and adjusted decisions",
}


_INTERVAL_NAMES = {"bca": "BCa", "percentile": "percentile", "basic": "basic"}


def comparison_attachments(d: dict) -> dict:
    """The files the PDF embeds, as bytes: ``comparison.json`` (exactly as ``prevalens compare``
    writes it) and ``differences.csv``."""
    return {"comparison.json": comparison_json(d), "differences.csv": comparison_csv(d)}


# ------------------------------------------------------------------------------------------------
# cells


def _diff_cell(row: dict | None, *, star: bool = False) -> Cell:
    """A difference as a numeric cell, its interval apart; ``star``: ``*`` after the estimate
    when its adjusted interval excludes 0."""
    if row is None:
        return Cell("", None, ("num",))
    text = _diff(row, marked=True)
    est, sep, ci = text.partition(" ")
    if star and (row.get("adjusted") or {}).get("significant"):
        est += "*"
    return Cell(est, ci if sep else None, ("num",))


def _side_cell(e: dict | None, metric: str) -> Cell:
    if not e or e.get("estimate") is None:
        return Cell("", None, ("num",))
    est, sep, ci = fmt_marked(e, bounds=_bounds(metric)).partition(" ")
    return Cell(est, ci if sep else None, ("num",))


def _adjusted_cell(row: dict) -> Cell:
    adj = row.get("adjusted")
    if not adj or adj.get("ci_low") is None or adj.get("ci_high") is None:
        return Cell("", None, ("num",))
    lo, hi = adj["ci_low"], adj["ci_high"]
    digits = digits_for_width(hi - lo)
    lo_text, hi_text = (fmt_signed_number(x, digits) for x in (lo, hi))
    return Cell(f"[{lo_text}, {hi_text}]", None, ("num",))


def _pair_name(pair: dict) -> str:
    return f"{pair['candidate']} \u2212 {pair['reference']}"


def _level(d: dict) -> str:
    return fmt_level(d["run"]["confidence_level"])


def _adjustment(d: dict) -> str:
    return str((d.get("family") or {}).get("adjustment") or "holm").capitalize()


def _min_support(d: dict) -> int:
    return int((d["run"].get("config") or {}).get("min_support") or 10)


# ------------------------------------------------------------------------------------------------
# sections


class _Ctx:
    def __init__(self, d: dict, figures: dict, report_id: str, attachments: dict, max_rows):
        self.d = d
        self.figures = figures
        self.report_id = report_id
        self.attachments = attachments
        self.max_rows = max_rows
        self.effect = min_effect(d)
        self.many = len(d["pairs"]) > 1

    def suffix(self, i: int) -> str:
        """Block names of the second and later pairs: ``headline-2``."""
        return f"-{i + 1}" if i else ""

    def caption(self, text: str, pair: dict) -> str:
        return f"{text}: {_pair_name(pair)}" if self.many else text


def _family_phrase(d: dict) -> str:
    fam = d.get("family") or {}
    return (
        f"one {_adjustment(d)} family over {fam.get('size', 0)} claims (the findings metrics' "
        "macro averages, accuracy, log loss and Brier score, each class, each stratum, the "
        "shift between the rarest and the most common stratum, and the micro-macro gap"
        + _target_claims(d)
        + ")"
    )


def _target_claims(d: dict) -> str:
    """``"; accuracy and macro F1 at the deployment's prevalences"``: the claims at the target
    in the family, as the tail of a list ("" without a target)."""
    keys = list(
        dict.fromkeys(q for p in d["pairs"] for q, r in target_rows(p) if r.get("adjusted"))
    )
    if not keys:
        return ""
    words = [quantity_text(q) for q in keys]
    listed = words[0] if len(words) == 1 else ", ".join(words[:-1]) + " and " + words[-1]
    return f"; {listed} at the deployment's prevalences"


def _summary(ctx: _Ctx) -> list:
    d = ctx.d
    data, run = d["data"], d["run"]
    blocks: list = []
    texts = {
        (f["evidence"] or {}).get("candidate"): f["text"]
        for f in d.get("findings", [])
        if f["kind"] == "comparison"
    }
    for i, pair in enumerate(d["pairs"]):
        text = texts.get(pair["candidate"])
        if text:
            blocks.append(Paragraph(text, "finding" + ctx.suffix(i)))
    models = ", ".join(d["models"][1:])
    b = run["n_resamples"]
    blocks.append(
        Paragraph(
            f"{models} {'is' if len(d['models']) == 2 else 'are'} compared with the reference "
            f"{d['reference']} on the same {data['n_samples']:,} samples of "
            f"{data['n_classes']} classes. Differences are candidate minus reference with paired "
            f"{_level(d)} intervals ("
            + (
                f"{b:,} {run['resampling']} bootstrap replicates of the joint table of the truth "
                "and both predictions where a quantity needs them; the methods section names "
                "each interval"
                if b
                else "no resampling: point differences, and intervals only where they need none"
            )
            + (
                f"); {_family_phrase(d)}. A difference is claimed only when its adjusted "
                f"interval excludes 0, it is at least {ctx.effect:g} and it does not rest on "
                f"classes with fewer than {_min_support(d)} true samples."
                if b
                else "). Without resampling no difference is tested in the family, so none is "
                "claimed: rerun with --n-resamples for intervals and decisions."
            ),
            "overview",
        )
    )
    gates = _gates(d.get("gates"))
    if gates is not None:  # a release decision: right after the verdict
        blocks.append(gates)
    for i, pair in enumerate(d["pairs"]):
        rows = [(q, r) for q, r in headline_rows(pair) if r.get("adjusted")]
        if not rows:
            continue
        blocks.append(
            _differences_table(
                ctx,
                "claims" + ctx.suffix(i),
                pair,
                rows,
                (f"{_adjustment(d)}-adjusted", _adjusted_cell),
                "The headline claims",
                "Each model's estimate with its own interval, the paired difference with its "
                f"marginal {_level(d)} interval, and the interval of the {_adjustment(d)} family "
                "that a decision rests on. For log loss and Brier score lower is better.",
            )
        )
    rest = [(f["severity"], f["text"]) for f in d.get("findings", []) if f["kind"] != "comparison"]
    if rest:
        blocks.append(_findings("key_findings", rest))
    return blocks


_COMPARED = {"ci_low": "lower bound", "ci_high": "upper bound", "estimate": "estimate"}


def _gates(gates):
    """The gates on the differences (``delta.`` gates and the regression rule), as a table."""
    if not gates or not gates.get("items"):
        return None
    rows = []
    for g in gates["items"]:
        e = g.get("estimate")
        checked = (
            f"{_COMPARED.get(g.get('compared') or '', 'value')} {fmt_gate_value(g)}"
            if g.get("value") is not None
            else ""
        )
        rows.append(
            [
                g.get("spec", ""),
                g.get("pair") or ("every pair" if g.get("kind") == "regression" else ""),
                checked,
                _diff_cell({"difference": e}) if e else "",
                "PASS" if g.get("passed") else "FAIL",
                g.get("note") or "",
            ]
        )
    n = len(gates["items"])
    verdict = (
        f"PASS, all {n} met"
        if gates.get("passed")
        else f"FAIL, {gates.get('n_failed', '?')} of {n} not met"
    )
    basis = (
        "A delta gate is checked on the conservative end of the paired interval (the lower bound "
        "for >=, the upper bound for <=)"
        if gates.get("basis") == "interval"
        else "A delta gate is checked on the estimate of the difference"
    )
    return _table(
        "gates",
        ["Gate", "Pair", "Checked value", "Difference", "Result", "Note"],
        rows,
        caption=f"Gates on the differences: {verdict}",
        numeric=(2, 3),
        row_classes=["" if g.get("passed") else "flagged" for g in gates["items"]],
        note=basis + "; an undefined value fails. The regression rule fails when a headline "
        "metric is significantly worse after adjustment for the family.",
    )


def _headline(ctx: _Ctx) -> list:
    d = ctx.d
    blocks: list = []
    for i, pair in enumerate(d["pairs"]):
        blocks.append(
            _differences_table(
                ctx,
                "headline" + ctx.suffix(i),
                pair,
                headline_rows(pair),  # HEADLINE_ORDER first
                ("p", lambda r: Cell(p_text(r["difference"]), None, ("num",))),
                "Headline differences (candidate minus reference)",
                f"p: two-sided, consistent with the {_level(d)} interval ('<': a bound, "
                "every bootstrap replicate on one side). Decision, of the "
                f"{_adjustment(d)} family: 'better' or 'worse' is a claim (the adjusted interval "
                f"excludes 0 and the difference is at least {ctx.effect:g}); '(< {ctx.effect:g})' "
                "distinguishable but smaller, not claimed; blank: not a claim (micro precision, "
                "recall and F1 equal accuracy in single-label data). Lower is better for log "
                "loss and Brier score. The methods section names each row's interval.",
            )
        )
    return blocks


def _differences_table(
    ctx: _Ctx, name: str, pair: dict, rows, column, caption: str, note: str, *more
):
    """A table of a pair's differences: the metric, each model's estimate, the paired
    difference, one more column (``column``: its heading and a function of the row giving its
    cell; ``more``: further such numeric columns) and the decision; rows the candidate is worse
    on are flagged."""
    columns = (column, *more)
    return _table(
        name,
        ["Metric", pair["reference"], pair["candidate"], f"Difference [{_level(ctx.d)}]"]
        + [heading for heading, _ in columns]
        + ["Decision"],
        [
            [
                quantity_text(q),
                _side_cell(r["reference"], r["metric"]),
                _side_cell(r["candidate"], r["metric"]),
                _diff_cell(r),
                *(cell(r) for _, cell in columns),
                decision(r, ctx.effect),
            ]
            for q, r in rows
        ],
        caption=ctx.caption(caption, pair),
        numeric=tuple(range(1, 4 + len(columns))),
        row_classes=["flagged" if decision(r, ctx.effect) == "worse" else "" for _, r in rows],
        note=note,
    )


#: Classes up to which the deployment section lists each class's target prevalence.
MAX_TARGET_CLASSES = 30


def _deployment(ctx: _Ctx) -> list:
    """The headline differences at the deployment's prevalences (label shift): the target, the
    assumption and the note, a table per pair as the headline's (with the adjusted p-value of
    the rows that are claims), and each class's prevalence as evaluated and at the target (up
    to :data:`MAX_TARGET_CLASSES` classes); nothing without a target."""
    d = ctx.d
    shift = d.get("prevalence_shift")
    if not shift:
        return []
    blocks: list = [
        Paragraph(
            "The headline metrics of each model at the class prevalences where it will be "
            "deployed, rather than those of the evaluation data (the headline differences "
            "above). " + target_text(d),
            "explanation",
        )
    ]
    adjusted_p = (
        Cell("Adjusted p", None, ("wrap",)),  # narrow: the note names the family
        lambda r: Cell(
            p_text({"p_value": (r.get("adjusted") or {}).get("p_adjusted")}), None, ("num",)
        ),
    )
    for i, pair in enumerate(d["pairs"]):
        rows = target_rows(pair)
        if not rows:
            continue
        blocks.append(
            _differences_table(
                ctx,
                "target" + ctx.suffix(i),
                pair,
                rows,
                ("p", lambda r: Cell(p_text(r["difference"]), None, ("num",))),
                "Headline differences at the deployment's prevalences (candidate minus reference)",
                f"Each model's estimate at the target with its own {_level(d)} interval (its "
                "audit's projection) and the paired difference with its interval; p: "
                "two-sided, consistent with that interval. Accuracy and the findings metrics' "
                f"macro averages at the target are claims of the {_adjustment(d)} family: their "
                f"{_adjustment(d)}-adjusted p and decision ('better' or 'worse': the adjusted "
                f"interval excludes 0 and the difference is at least {ctx.effect:g}); blank: not "
                "a claim.",
                adjusted_p,
            )
        )
    blocks.append(_target_prevalences(d, shift))
    return blocks


def _target_prevalences(d: dict, shift: dict):
    """Each class's prevalence as evaluated and at the target, rarest first, in two column
    groups from 11 classes; with more than :data:`MAX_TARGET_CLASSES` classes a sentence with
    their range instead."""
    data = d["data"]
    n = data["n_samples"] or 1
    classes = [
        (str(label), support / n, target)
        for label, support, target in zip(
            data["classes"], data["support"], shift["target"], strict=True
        )
    ]
    if len(classes) > MAX_TARGET_CLASSES:
        values = [t for _, _, t in classes if t]
        low, high = (fmt_percent(f(values)) for f in (min, max)) if values else ("", "")
        none = sum(1 for _, _, t in classes if not t)
        span = (
            f"{'all ' + low if low == high else f'from {low} to {high}'}"
            + (f" ({none:,} class{'es' if none != 1 else ''} at 0)" if none else "")
            if values
            else "not defined"
        )
        return Paragraph(
            f"The target prevalences of the {len(classes):,} classes: {span}. Each class's is in "
            "comparison.json (prevalence_shift.target, in the order of data.classes).",
            "prevalences",
        )
    classes.sort(key=lambda c: (c[1], c[0]))
    cells = [[label, fmt_percent(p), fmt_percent(t)] for label, p, t in classes]
    groups = 2 if len(cells) > 10 else 1
    per = -(-len(cells) // groups)
    rows = []
    for k in range(per):  # down the first group's rows, then the second's
        row: list = []
        for j in range(groups):
            row += cells[j * per + k] if j * per + k < len(cells) else ["", "", ""]
        rows.append(row)
    return _table(
        "prevalences",
        ["Class", "Evaluated", "Target"] * groups,
        rows,
        caption="Class prevalences: as evaluated and at the deployment",
        numeric=tuple(i for g in range(groups) for i in (3 * g + 1, 3 * g + 2)),
        note="Classes by prevalence in the evaluation data, rarest first"
        + (", down the first columns, then the second" if groups > 1 else "")
        + ".",
    )


def _where(ctx: _Ctx) -> list:
    d = ctx.d
    blocks: list = [
        Paragraph(
            "Does the change reach the rare classes? The macro average of each prevalence "
            "stratum under both models, their difference, the shift (the change in the rarest "
            "stratum minus the change in the most common: positive when the candidate gains more "
            "on the rare classes) and the change of the macro-micro gap.",
            "explanation",
        )
    ]
    for i, pair in enumerate(d["pairs"]):
        metrics = [
            m for m in findings_metrics(d, pair) if any(m in s["metrics"] for s in pair["strata"])
        ]
        if not pair["strata"] or not metrics:
            continue
        rows, classes = [], []
        for s in pair["strata"]:
            rows.append(
                [s["name"], f"{len(s['classes']):,}"]
                + [_diff_cell(s["metrics"].get(m), star=True) for m in metrics]
            )
            classes.append("")
        for name, block in (
            ("Shift: rarest minus most common stratum", pair.get("shift") or {}),
            ("Change of macro \u2212 micro", pair.get("gap") or {}),
        ):
            if any(m in block for m in metrics):
                rows.append([name, ""] + [_diff_cell(block.get(m), star=True) for m in metrics])
                classes.append("summary")
        blocks.append(
            _table(
                "strata" + ctx.suffix(i),
                ["Stratum", "Classes"] + [f"Macro {metric_text(m)}" for m in metrics],
                rows,
                caption=ctx.caption("Differences by prevalence stratum", pair),
                numeric=tuple(range(1, 2 + len(metrics))),
                row_classes=classes,
                note=f"Differences of the macro average within each stratum with marginal "
                f"{_level(d)} paired intervals; * its {_adjustment(d)}-adjusted interval "
                "excludes 0. A blank cell: not defined for that metric (the shift and the gap "
                "are not computed for ROC AUC). Strata: "
                + "; ".join(
                    f"{s['name']}: {', '.join(str(c) for c in s['classes'][:12])}"
                    + (f" and {len(s['classes']) - 12} more" if len(s["classes"]) > 12 else "")
                    for s in pair["strata"]
                )
                + "."
                + (
                    ""
                    if pair.get("shift")
                    else " The shift is not reported: it needs classes in both the rarest and "
                    "the most common stratum of the definition."
                ),
            )
        )
        for kind, name in (("strata", "strata_figure"), ("classes", "forest")):
            f = ctx.figures.get((kind, pair["candidate"]))
            if f is not None:
                blocks.append(Figure(f.title, f.alt, f.data_uri, name + ctx.suffix(i)))
    return blocks


def _per_class(ctx: _Ctx) -> list:
    d = ctx.d
    blocks: list = []
    min_support = _min_support(d)
    for i, pair in enumerate(d["pairs"]):
        metrics = findings_metrics(d, pair)
        shown, note = class_rows(pair, metrics, ctx.max_rows)
        header = [Cell("Class"), Cell("Support", "prevalence", ("wrap",))]
        for m in metrics:
            header += [
                Cell(metric_name(m), None, ("wrap",)),
                Cell(f"\u0394 {metric_text(m)}", f"[{_level(d)}]", ("wrap",)),
            ]
        rows, classes = [], []
        gaps = omitted_runs(pair, shown)
        width = 2 + 2 * len(metrics)

        def gap_row(n, width=width):
            return [f"\u2026 {n} class{'es' if n != 1 else ''} not shown"] + [""] * (width - 1)

        for k, c in enumerate(shown):
            if k in gaps:
                rows.append(gap_row(gaps[k]))
                classes.append("omitted")
            small = "insufficient" in (c.get("flags") or ())
            row = [
                str(c["label"]) + (" \u2020" if small else ""),
                Cell(f"{c['support']:,}", fmt_percent(c["prevalence"]), ("num",)),
            ]
            for m in metrics:
                r = c["metrics"].get(m)
                row += [_levels(r, m), _diff_cell(r, star=True)]
            rows.append(row)
            classes.append("flagged" if small else "")
        if len(shown) in gaps:
            rows.append(gap_row(gaps[len(shown)]))
            classes.append("omitted")
        names = ", ".join(metric_text(m) for m in metrics)
        text = (
            f"Classes by prevalence, rarest first. For {names}: the two models' values "
            f"({pair['reference']} \u2192 {pair['candidate']}) and the difference with its "
            f"marginal {_level(d)} paired interval; * the {_adjustment(d)}-adjusted interval "
            f"excludes 0 (a claim when the difference is at least {ctx.effect:g}); \u2020 fewer "
            f"than {min_support} true samples: shown, but not judged."
        )
        blocks.append(
            _table(
                "per_class" + ctx.suffix(i),
                header,
                rows,
                caption=ctx.caption("Per-class differences (candidate minus reference)", pair),
                numeric=tuple(range(1, 2 + 2 * len(metrics))),
                row_classes=classes,
                note=text + (" " + note if note else ""),
            )
        )
    return blocks


def _levels(row: dict | None, metric: str) -> Cell:
    """``0.54 → 0.69``: the two models' estimates."""
    if row is None:
        return Cell("", None, ("num",))
    a, b = (
        fmt_number(row[k].get("estimate"), 2, bounds=_bounds(metric))
        for k in ("reference", "candidate")
    )
    return Cell(f"{a} \u2192 {b}", None, ("num", "levels"))


def _tests(ctx: _Ctx) -> list:
    d = ctx.d
    blocks: list = []
    for i, pair in enumerate(d["pairs"]):
        t = pair.get("tests") or {}
        rows = []
        mc = t.get("mcnemar")
        if mc:
            rows.append(
                [
                    "McNemar (exact)",
                    f"{mc['reference_only_correct']:,} samples only {pair['reference']} "
                    f"classified right, {mc['candidate_only_correct']:,} only "
                    f"{pair['candidate']}",
                    _pval(mc.get("p_exact")),
                    _note_text({"text": mc.get("note") or ""}),
                ]
            )
            rows.append(
                [
                    "McNemar (mid-p)",
                    "the same discordant samples",
                    _pval(mc.get("p_mid_p")),
                    "The exact test's mid-p version, less conservative.",
                ]
            )
        sm = t.get("stuart_maxwell")
        if sm:
            rows.append(
                [
                    "Stuart\u2013Maxwell",
                    f"\u03c7\u00b2 = {fmt_number(sm['statistic'], 2, bounds=())}, df = {sm['df']}",
                    _pval(sm.get("p_value")),
                    _note_text({"text": sm.get("note") or ""}),
                ]
            )
        if rows:
            blocks.append(
                _table(
                    "tests" + ctx.suffix(i),
                    ["Test", "Statistic", "p", "What it tests"],
                    rows,
                    caption=ctx.caption("Tests of the whole table", pair),
                    numeric=(2,),
                    note="Marginal tests, outside the family of claims: they say whether the "
                    "two models differ at all (in accuracy; in how often they predict each "
                    "class), not where.",
                )
            )
    return blocks


def _cal_cell(e: dict | None, quantity: str) -> Cell:
    """A calibration estimate of one model as a numeric cell, its interval apart."""
    if not e:
        return Cell("", None, ("num",))
    est, sep, ci = fmt_marked(e, bounds=CALIBRATION_BOUNDS[quantity]).partition(" ")
    return Cell(est, ci if sep else None, ("num",))


def _calibration(ctx: _Ctx) -> list:
    """Calibration by model: each model's classwise and top-label ECE, and by prevalence stratum
    its ECE, mean intercept and mean slope, from its own audit (descriptive, no paired test);
    nothing when no model has probabilities."""
    d = ctx.d
    models = calibration_models(d)
    if not models:
        return []
    level = _level(d)
    min_support = _min_support(d)
    absent = calibration_absent_text(d)
    blocks: list = [
        Paragraph(
            "How well each model's probabilities match the outcomes, as each model's own audit "
            "measures it: the expected calibration error (ECE, debiased root-mean-square; 0 is "
            "perfect), and by prevalence stratum the mean calibration-in-the-large (intercept, "
            "log-odds; above 0: the probabilities are too low) and the mean calibration slope "
            "(below 1: over-confident, above 1: too cautious). "
            + d["calibration"]["note"]
            + (" " + absent if absent else ""),
            "explanation",
        ),
        _table(
            "calibration_models",
            ["Model", "Classwise ECE", "Top-label ECE"],
            [
                [
                    m,
                    _cal_cell(cal["classwise_ece"], "classwise_ece"),
                    _cal_cell(cal["top_label_ece"], "top_label_ece"),
                ]
                for m, cal in models.items()
            ],
            caption="Calibration error by model",
            numeric=(1, 2),
            note=f"{level} intervals, marginal, from each model's own audit. Classwise: over "
            "every class, one-vs-rest; top-label: the predicted class's probability against "
            "whether it is right.",
        ),
    ]
    rows, classes = [], []
    for name, entries in calibration_strata_rows(d):
        for k, (m, st) in enumerate(entries):
            rows.append(
                [
                    name if k == 0 else "",
                    f"{st['n_classes']:,}" if k == 0 else "",
                    m,
                    f"{st['n_used']:,}",
                    _cal_cell(st["ece"], "ece"),
                    _cal_cell(st["intercept"], "intercept"),
                    _cal_cell(st["slope"], "slope"),
                ]
            )
            classes.append("group-start" if k == 0 else "")
    if rows:
        blocks.append(
            _table(
                "calibration_strata",
                # headings that may wrap: three estimates with intervals beside the names fit
                # the page's width for up to three models
                [
                    "Stratum",
                    "Classes",
                    "Model",
                    Cell(f"With \u2265 {min_support} samples", None, ("wrap",)),
                    "ECE",
                    Cell("Mean intercept", None, ("wrap",)),
                    Cell("Mean slope", None, ("wrap",)),
                ],
                rows,
                caption="Calibration by model and prevalence stratum",
                numeric=(1, 3, 4, 5, 6),
                row_classes=classes,
                note=f"{level} intervals, marginal, from each model's own audit. The ECE counts "
                "every class of the stratum; the mean intercept and slope the classes with at "
                f"least {min_support} samples. Intercept: log-odds, above 0 when the "
                "probabilities are too low; slope: below 1 when they are too extreme.",
            )
        )
    return blocks


def _pval(p) -> str:
    if p is None or not math.isfinite(p):
        return "undefined"
    return "<0.0001" if p < 1e-4 else fmt_number(p, 4, bounds=(0.0, 1.0))


def _methods(ctx: _Ctx) -> list:
    d = ctx.d
    run, cfg = d["run"], d["run"].get("config") or {}
    b = run["n_resamples"]
    fam = d.get("family") or {}
    # how each kind of difference got its interval, as the rows say (the first pair; every pair
    # is computed the same way)
    used = methods_by_test(pair_rows(d["pairs"][0])) if d["pairs"] else []
    return [
        Paragraph(
            "Both models are scored on the same samples, so every difference is paired: it is "
            "the candidate's value minus the reference's, and its interval uses the "
            "correlation between the two models' errors (when they err on the same samples, "
            "as models trained on the same data do, it is narrower than two separate "
            "intervals would suggest). Each model's own estimate and interval come from its "
            "own audit (the same methods as prevalens audit). The p-value of a difference is "
            "consistent with its interval (it inverts the same construction).",
            "design",
        ),
        _table(
            "intervals",
            ["Interval of the difference", "Used for"],
            [[_cap(test), ", ".join(what)] for test, what in used],
            caption="Intervals of the differences",
            note=f"Bootstrap: {b:,} {run['resampling']} replicates of the joint table of (truth, "
            "reference prediction, candidate prediction), whose cells are resampled as "
            "multinomial counts, so both models see the same resampled samples."
            if b
            else "No resampling (B = 0): quantities that need the bootstrap have no interval.",
        ),
        _kv(
            "settings",
            [
                (
                    "Family of claims",
                    f"{_adjustment(d)} over {fam.get('size', 0)} claims at "
                    f"{fmt_level(fam.get('confidence_level') or run['confidence_level'])}: "
                    "macro "
                    + ", ".join(metric_text(m) for m in cfg.get("findings_metrics") or ())
                    + ", accuracy, log loss, Brier score, each class's findings metrics, each "
                    "stratum, the shift and the gap" + _target_claims(d),
                ),
                *_target_settings(d),
                (
                    "Minimum support",
                    f"{_min_support(d)} true samples: smaller classes are shown but not judged, "
                    "and a claim over several classes must hold without them",
                ),
                ("Minimum effect", f"{ctx.effect:g}: smaller differences are not claimed"),
                ("Confidence level", _level(d)),
                (
                    "Resamples (B)",
                    f"{b:,} ({_INTERVAL_NAMES.get(run['interval_method'], run['interval_method'])}"
                    f", {run['resampling']})"
                    if b
                    else "0",
                ),
                ("Seed", str(run["seed"])),
                ("Tests", "McNemar (exact and mid-p); Stuart\u2013Maxwell (marginal homogeneity)"),
                ("Tool version", f"prevalens {d['tool']['version']}"),
            ],
        ),
    ]


def _target_settings(d: dict) -> list:
    """The methods' settings row of the deployment's prevalences ([] without a target)."""
    shift = d.get("prevalence_shift")
    if not shift:
        return []
    return [
        (
            "Deployment's prevalences",
            f"Target: {shift['source']}. Assumed: {shift['assumption']}. Each model's estimate "
            "there is its own audit's projection; the differences project both models' rows of "
            "each joint replicate to the same fixed target",
        )
    ]


def _cap(text: str) -> str:
    return text[:1].upper() + text[1:]


def _quantity_words(q: str, metric: str) -> str:
    """A quantity in words: ``macro ROC AUC``, ``recall of class cat``, ``macro F1 of the rare
    stratum`` (a class label may hold dots: the metric is the last part)."""
    head = q.split(".", 1)[0]
    if head in ("class", "stratum"):
        name = q[len(head) + 1 : len(q) - len(metric) - 1]
        if head == "class":
            return f"{metric_text(metric)} of class {name}"
        return f"macro {metric_text(metric)} of the {name} stratum"
    if head in ("gap", "shift"):
        return f"the {head} in {metric_text(metric)}"
    if head == "target":
        return f"{quantity_text(q[len(head) + 1 :])} at the deployment's prevalences"
    return quantity_text(q)


def _approximate(d: dict) -> list:
    """Why intervals are approximate (status unstable, marked ≈): one item per reason, naming
    the estimates (a model's own, or a difference) it applies to."""
    reasons: dict = {}

    def visit(row):
        for side in ("reference", "candidate", "difference"):
            e = row.get(side) or {}
            if e.get("status") == "unstable":
                what = _quantity_words(row["quantity"], row["metric"])
                who = (
                    f"the difference in {what}"
                    if side == "difference"
                    else f"{what} of {row['_model_' + side]}"
                )
                note = re.sub(r"\s*\(\d+ with [^)]*\)", "", e.get("note") or "")
                reasons.setdefault(note or "approximate", []).append(who)

    for pair in d["pairs"]:
        names = {"_model_reference": pair["reference"], "_model_candidate": pair["candidate"]}
        rows = [*pair["headline"].values(), *pair["gap"].values(), *pair["shift"].values()]
        rows += [r for s in pair["strata"] for r in s["metrics"].values()]
        rows += [r for c in pair["per_class"] for r in c["metrics"].values()]
        rows += [r for _, r in target_rows(pair)]
        for r in rows:
            visit({**r, **names})

    def visit_calibration(e, who):
        if (e or {}).get("status") == "unstable":
            note = re.sub(r"\s*\(\d+ with [^)]*\)", "", e.get("note") or "")
            reasons.setdefault(note or "approximate", []).append(who)

    for m, cal in calibration_models(d).items():
        visit_calibration(cal["classwise_ece"], f"the classwise ECE of {m}")
        visit_calibration(cal["top_label_ece"], f"the top-label ECE of {m}")
        for st in cal["strata"]:
            for q, words in _CALIBRATION_WORDS.items():
                visit_calibration(st[q], f"the {words} of {m} in the {st['stratum']} stratum")
    items = []
    for note, who in reasons.items():
        who = list(dict.fromkeys(who))
        listed = ", ".join(who[:8]) + (f" and {len(who) - 8} more" if len(who) > 8 else "")
        items.append(
            f"Approximate intervals (\u2248) of {listed}: "
            + (note if note != "approximate" else "the interval is approximate")
            + "."
        )
    return items


_CALIBRATION_WORDS = {"ece": "ECE", "intercept": "mean intercept", "slope": "mean slope"}


def _limitations(ctx: _Ctx) -> list:
    d = ctx.d
    items = [("info", _note_text(n)) for n in d.get("notes", [])]
    items += [("medium", text) for text in _approximate(d)]
    said = " ".join(n["text"] for n in d.get("notes", []))
    if "Micro ROC AUC and average precision are not compared" not in said:
        items.append(("info", "Micro ROC AUC and average precision are not compared."))
    items.append(
        (
            "info",
            "Per-class and stratum intervals in the tables are marginal (each difference on its "
            f"own); the decisions rest on the {_adjustment(d)}-adjusted intervals, which are "
            "wider.",
        )
    )
    return [_findings("notes", items)]


def _reproducibility(ctx: _Ctx) -> list:
    d = ctx.d
    run = d["run"]
    models = ("Models", ", ".join(d["models"]) + f" (reference {d['reference']})")
    pairs = run_pairs(d, ctx.report_id, ctx.attachments, extra=[models])
    cfg = run.get("config") or {}
    rows = [[k, _config_value(v)] for k, v in cfg.items() if v not in (None, [], ())]
    return [
        _kv("run", pairs),
        _table("config", ["Option", "Value"], rows, caption="Resolved configuration"),
        Paragraph(
            "The PDF carries comparison.json and differences.csv as attachments: extract them "
            "with any PDF reader's attachment panel, or `pdfdetach -saveall comparison.pdf` "
            "(poppler).",
            "attachments",
        ),
    ]


#: The sections in reading order: (id, heading, builder); a builder that returns no block leaves
#: its section out. ``sections/<id>.html.j2`` lays out each.
COMPARISON_SECTIONS = (
    ("compare-summary", "Executive summary", _summary),
    ("compare-headline", "Headline differences", _headline),
    # the same headline metrics at the deployment's prevalences (only with a target)
    ("compare-deployment", "At the deployment's prevalence", _deployment),
    ("compare-where", "Where the difference lies", _where),
    ("compare-per-class", "Per-class differences", _per_class),
    ("compare-tests", "Tests of the whole table", _tests),
    # descriptive, after every difference: no paired test of calibration
    ("compare-calibration", "Calibration by model", _calibration),
    ("compare-methods", "Methods", _methods),
    ("compare-limitations", "Notes and limitations", _limitations),
    ("compare-reproducibility", "Reproducibility", _reproducibility),
)


def build_comparison_figures(d: dict) -> dict:
    """Every figure of the comparison report as :class:`Figure` (data-URI SVG with alt text),
    by ``(kind, candidate)`` (see :func:`prevalens.report.compare_plots.comparison_figures`)."""
    from .plots import as_data_uri

    return {
        key: Figure(p.title, p.alt, as_data_uri(p.svg), key[0])
        for key, p in compare_plots.comparison_figures(d).items()
    }


def build_comparison_model(
    d: dict,
    *,
    title: str | None = None,
    max_rows: int = MAX_CLASS_ROWS,
    figures: dict | None = None,
    attachments: dict | None = None,
) -> ReportModel:
    """Format a comparison dict for the templates.

    Parameters
    ----------
    d : dict
        ``ComparisonResult.to_dict()`` or a loaded ``comparison.json``.
    title : str, optional
        The report's title; default ``run.config.title``, else "Model comparison: CANDIDATE
        against REFERENCE".
    max_rows : int
        Per-class tables and figures with more classes show this many: those that changed and
        the rarest, and say so.
    figures : dict, optional
        From :func:`build_comparison_figures`; built here when None.
    attachments : dict, optional
        Names of the files the PDF embeds -> their SHA-256, listed in the reproducibility
        section; by default those of :func:`comparison_attachments`.
    """
    figures = build_comparison_figures(d) if figures is None else figures
    if attachments is None:
        attachments = {
            name: hashlib.sha256(data).hexdigest()
            for name, data in comparison_attachments(d).items()
        }
    run, data = d["run"], d["data"]
    cfg = run.get("config") or {}
    cands = d["models"][1:]
    title = (
        title
        or cfg.get("title")
        or f"Model comparison: {', '.join(cands)} against {d['reference']}"
    )
    report_id = _report_id(d)
    ctx = _Ctx(d, figures, report_id, attachments, max_rows)
    sections = tuple(
        Section(sid, heading, tuple(blocks))
        for sid, heading, build in COMPARISON_SECTIONS
        if (blocks := build(ctx))
    )
    gates = d.get("gates")
    if gates and gates.get("items"):
        n = len(gates["items"])
        status = (
            f"PASS: all {n} gates met"
            if gates["passed"]
            else f"FAIL: {gates.get('n_failed', '?')} of {n} gates not met"
        )
    else:
        status = "no gates declared"
    control = [
        (
            "Models compared",
            f"{', '.join(cands)} (candidate{'s' if len(cands) > 1 else ''}) against "
            f"{d['reference']} (reference)",
        ),
        (
            "Data",
            f"{data['n_samples']:,} samples, {data['n_classes']} classes, the same rows for every "
            "model",
        ),
    ]
    for i in d.get("inputs") or []:
        models = f"{', '.join(i['models'])}: " if i.get("models") else ""
        control.append(
            (
                "Input SHA-256",
                f"{i['sha256'] or 'not recorded'} ({models}{i['path'] or 'in-memory data'})",
            )
        )
    if not d.get("inputs"):
        control.append(("Input SHA-256", "not recorded (in-memory data)"))
    control += [
        ("Report id", report_id),
        ("Created (UTC)", run["created_utc"].replace("T", " ").replace("Z", "")),
        ("Tool", f"prevalens {d['tool']['version']}"),
        ("Seed", str(run["seed"])),
        ("Status", status),
    ]
    return ReportModel(
        title=title,
        subtitle=f"{data['n_samples']:,} samples, {data['n_classes']} classes, "
        f"{len(d['models'])} models, paired",
        language="en",
        author=f"prevalens {d['tool']['version']}",
        keywords="model comparison, paired differences, classifier audit, class prevalence, "
        "confidence intervals",
        document_control=tuple(control),
        status=status,
        sections=sections,
        footer_left=f"{title} · report {report_id}",
        generated=run["created_utc"],
        report_id=report_id,
        kicker="Model comparison report",
    )
