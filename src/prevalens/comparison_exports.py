"""Exports of a comparison of models (the ``prevalens.comparison/1`` dict): a Markdown summary for
a pull-request comment, a CSV of every difference, LaTeX tables for a paper and the JSON file
itself. Pure: dict in, text out; every number is formatted by :mod:`prevalens.formatting`, and
user text (model names, class labels) is escaped for each format as in :mod:`prevalens.exports`.
"""

from __future__ import annotations

import json
import math
import re

from .exports import (
    _TEX_CLASS_DEF,
    _TEX_GAP,
    _TEX_LENGTHS_DEF,
    _TEX_PAGE_LINES,
    _TEX_STACK_DEF,
    APPROXIMATE_MARK,
    LONGTABLE_MIN_CLASSES,
    _cell,
    _confidence_text,
    _csv_bytes,
    _interval_cells,
    _oneline,
    _tex,
    _tex_num,
    _tex_row,
    _tex_row_lines,
    _tex_stack,
    fmt_marked,
    tex_class_cell,
    tex_table,
)
from .formatting import (
    fmt_estimate,
    fmt_level,
    fmt_number,
    fmt_percent,
    fmt_signed,
    metric_name,
    metric_text,
    quantity_text,
)

__all__ = [
    "comparison_markdown",
    "comparison_csv",
    "calibration_by_model_csv",
    "calibration_models",
    "calibration_strata_rows",
    "target_differences_csv",
    "target_rows",
    "comparison_json",
    "comparison_latex",
    "decision",
    "class_rows",
    "methods_by_test",
    "pair_rows",
    "omitted_runs",
    "findings_metrics",
    "HEADLINE_ORDER",
    "MAX_CLASS_ROWS",
]

#: The headline rows shown first, in this order (others follow as they come).
HEADLINE_ORDER = (
    "macro.f1",
    "macro.recall",
    "macro.precision",
    "overall.accuracy",
    "overall.balanced_accuracy",
    "overall.mcc",
    "macro.roc_auc",
    "weighted.f1",
    "overall.log_loss",
    "overall.brier",
)


def _bounds(metric: str):
    if metric in ("log_loss",):
        return (0.0,)
    if metric in ("cohen_kappa", "mcc"):
        return (-1.0, 0.0, 1.0)
    return (0.0, 1.0)


def _side(e: dict, metric: str) -> str:
    return fmt_estimate(e, bounds=_bounds(metric)) if e else ""


#: Classes shown in the per-class tables and the forest plot of a comparison; with more classes,
#: the ones that changed and the rarest (see :func:`class_rows`), and a note says so.
MAX_CLASS_ROWS = 50


def _diff(row: dict, *, marked: bool = False) -> str:
    """``+0.08 [0.05, 0.11]``: a difference with its sign; ``marked``: an approximate interval
    (status unstable) reads ``≈[...]``, as in every table of the report."""
    d = row["difference"]
    text = fmt_signed(d, bounds=(0.0,))
    if marked and d.get("status") == "unstable":  # as fmt_marked marks it
        return text.replace(" [", " " + APPROXIMATE_MARK + "[", 1)
    return text


def p_text(diff: dict) -> str:
    """The two-sided p-value of a difference: ``0.0123``, ``<0.0001``, and ``<0.0006`` where the
    bootstrap can only bound it (every replicate on one side); "" when it was not tested."""
    p = diff.get("p_value")
    if p is None:
        return ""
    if p < 1e-4:
        return "<0.0001"
    text = fmt_number(p, 4, bounds=(0.0, 1.0))
    return "<" + text if diff.get("p_value_is_bound") else text


_p = p_text


def min_effect(d: dict) -> float:
    """The comparison's minimum material effect (``run.config.min_effect``)."""
    value = ((d.get("run") or {}).get("config") or {}).get("min_effect")
    return 0.05 if value is None else float(value)


def decision(row: dict, effect: float) -> str:
    """What a row shows after adjustment for the family: ``better`` or ``worse`` (the candidate,
    when the adjusted interval excludes 0 and the difference is at least ``effect``: a claim),
    ``better (< 0.05)`` (distinguishable but smaller than the minimum effect, not claimed),
    ``no evidence``, ``changed`` (a gap, which has no better side); "" when the row is not a
    claim of the family (or its classes are below min_support)."""
    adj = row.get("adjusted")
    if adj is None:
        return ""
    if not adj.get("significant"):
        return "no evidence"
    word = {"candidate": "better", "reference": "worse"}.get(row.get("better") or "", "changed")
    est = (row.get("difference") or {}).get("estimate")
    if est is None or not math.isfinite(est) or abs(est) < effect:
        return f"{word} (< {effect:g})"
    return word


def _verdict(row: dict, effect: float) -> str:
    """:func:`decision` for Markdown: a claim in bold."""
    text = decision(row, effect)
    return f"**{text}**" if text in ("better", "worse", "changed") else text


def findings_metrics(d: dict, pair: dict) -> list:
    """The per-class metrics the comparison makes claims on (``run.config.findings_metrics``:
    recall, F1, ROC AUC when both models have scores), in that order."""
    cfg = (d.get("run") or {}).get("config") or {}
    wanted = cfg.get("findings_metrics") or ("recall", "f1", "roc_auc")
    have = {m for c in pair["per_class"] for m in c["metrics"]}
    return [m for m in wanted if m in have] or [m for m in ("recall", "f1") if m in have]


def _rarest_first(classes) -> list:
    return sorted(classes, key=lambda c: (c["support"], str(c["label"])))


def class_rows(pair: dict, metrics, max_rows: int = MAX_CLASS_ROWS) -> tuple[list, str]:
    """The classes a per-class table or figure shows, rarest first, and a note when some are
    left out.

    Classes with no true sample are left out (their recall and ROC AUC are undefined under
    both models). All the others when there are at most ``max_rows``; else those with a
    difference in one of ``metrics`` whose adjusted interval excludes 0 (rarest first), then the
    rarest of the others, up to ``max_rows``, shown rarest first."""
    absent = [c for c in pair["per_class"] if not c["support"]]
    classes = _rarest_first(c for c in pair["per_class"] if c["support"])
    none = (
        f"{len(absent)} class{'es' if len(absent) != 1 else ''} without true samples "
        f"({', '.join(str(c['label']) for c in absent[:5])}{' ...' if len(absent) > 5 else ''})"
        " left out."
        if absent
        else ""
    )
    if len(classes) <= max_rows:
        return classes, none

    def changed(c):
        return any(
            ((c["metrics"].get(m) or {}).get("adjusted") or {}).get("significant") for m in metrics
        )

    first = [c for c in classes if changed(c)][:max_rows]
    keep = {id(c) for c in first}
    keep |= {id(c) for c in [c for c in classes if id(c) not in keep][: max_rows - len(first)]}
    shown = [c for c in classes if id(c) in keep]
    note = (
        f"{len(shown)} of {len(classes)} classes are shown, rarest first: the "
        f"{len(first)} with a Holm-adjusted interval that excludes 0 and the "
        f"{len(shown) - len(first)} rarest others. Every class is in differences.csv and "
        "comparison.json."
    )
    return shown, (note + " " + none).strip()


def omitted_runs(pair: dict, shown) -> dict:
    """Where :func:`class_rows` left classes out: ``{i: n}``, ``n`` classes (in prevalence order)
    between ``shown[i - 1]`` and ``shown[i]`` (``i == len(shown)``: after the last)."""
    order = {
        id(c): k for k, c in enumerate(_rarest_first(c for c in pair["per_class"] if c["support"]))
    }
    runs, prev = {}, -1
    for i, c in enumerate(list(shown) + [None]):
        k = order[id(c)] if c is not None else len(order)
        if k - prev > 1:
            runs[i] = k - prev - 1
        prev = k
    return runs


def _test_family(test: str) -> str:
    """A row's ``test`` without what varies between rows of one method (the t quantile's degrees
    of freedom), so rows of one method group together."""
    return re.sub(r",? t\(df=[0-9.]+\)", "", test or "").strip() or "not stated"


def _row_group(row: dict) -> str:
    """The quantity of a row in words, with classes and strata collapsed: ``accuracy``,
    ``per-class recall``, ``stratum macro F1``, ``shift in recall``."""
    q, metric = row["quantity"], row["metric"]
    head = q.split(".", 1)[0]
    if head == "target":
        return f"{quantity_text(q[len(head) + 1 :])} at the target"
    if head == "class":
        return f"per-class {metric_text(metric)}"
    if head == "stratum":
        return f"stratum macro {metric_text(metric)}"
    if head in ("gap", "shift"):
        return f"{head} in {metric_text(metric)}"
    return quantity_text(q)


def methods_by_test(rows) -> list[tuple[str, list[str]]]:
    """How the differences of ``rows`` got their intervals: ``[(test, [what, ...]), ...]`` in
    order of first use, read from each row's ``test`` (so it says what the comparison did)."""
    out: dict[str, list[str]] = {}
    for row in rows:
        what = out.setdefault(_test_family(row.get("test") or ""), [])
        name = _row_group(row)
        if name not in what:
            what.append(name)
    return list(out.items())


def pair_rows(pair: dict) -> list:
    """Every difference row of a pair: headline, per-class, strata, gap, shift and, with a
    deployment's prevalences, the target."""
    rows = [r for _, r in headline_rows(pair)]
    rows += [r for c in pair["per_class"] for r in c["metrics"].values()]
    rows += [r for s_ in pair["strata"] for r in s_["metrics"].values()]
    rows += list(pair["gap"].values()) + list(pair["shift"].values())
    return rows + [r for _, r in target_rows(pair)]


def comparison_json(d: dict) -> bytes:
    """``comparison.json`` as ``prevalens compare`` writes it (and the PDF attaches it)."""
    return (json.dumps(d, indent=2, allow_nan=False) + "\n").encode("utf-8")


def target_rows(pair: dict) -> list[tuple[str, dict]]:
    """The pair's differences at the deployment's prevalences, ``[(key, row)]`` (``key`` such as
    ``macro.f1``, in the order of the pair's ``target``); empty without a target."""
    return list((pair.get("target") or {}).items())


def headline_rows(pair: dict) -> list[tuple[str, dict]]:
    rows = pair["headline"]
    order = [q for q in HEADLINE_ORDER if q in rows]
    order += [q for q in rows if q not in order]
    return [(q, rows[q]) for q in order]


def comparison_markdown(d: dict, *, max_classes: int = 30) -> str:
    """A pull-request comment: the verdict in one sentence, the headline differences, the classes
    that changed (rarest first) and the gates."""
    lines = [f"## prevalens comparison: {', '.join(d['models'][1:])} against {d['reference']}", ""]
    data = d["data"]
    lines.append(
        f"{data['n_samples']} samples, {data['n_classes']} classes, the same rows for every model; "
        f"{d['run']['n_resamples']} paired resamples, seed {d['run']['seed']}."
    )
    lines.append("")
    effect = min_effect(d)
    for f in d["findings"]:
        if f["kind"] == "comparison":
            lines += [f"> {f['text']}", ""]
    gates = d.get("gates")
    if gates and gates.get("items"):
        verdict = "PASS" if gates["passed"] else f"FAIL ({gates['n_failed']} failed)"
        lines += [f"**Gates: {verdict}**", ""]
        for g in gates["items"]:
            mark = "pass" if g["passed"] else "**FAIL**"
            lines.append(f"- {mark} `{g['spec']}`" + (f": {g['note']}" if g.get("note") else ""))
        lines.append("")
    for pair in d["pairs"]:
        ref, cand = pair["reference"], pair["candidate"]
        lines += [f"### {cand} − {ref}", ""]
        lines.append(f"| metric | {ref} | {cand} | difference [95% CI] | p | adjusted |")
        lines.append("|---|---|---|---|---|---|")
        shown = [(q, r) for q, r in headline_rows(pair) if q in HEADLINE_ORDER]
        for q, row in shown:
            lines.append(
                f"| {quantity_text(q)} | {_side(row['reference'], row['metric'])} | "
                f"{_side(row['candidate'], row['metric'])} | {_diff(row)} | "
                f"{_p(row['difference'])} | {_verdict(row, effect)} |"
            )
        lines.append("")
        metrics = [
            m
            for m in ("recall", "f1", "roc_auc")
            if pair["strata"] and m in pair["strata"][0]["metrics"]
        ]
        if pair["strata"]:
            lines += [
                "By prevalence stratum (macro averages; does the change reach the rare classes?):",
                "",
                "| stratum | classes | " + " | ".join(metric_text(m) for m in metrics) + " |",
                "|---|---|" + "---|" * len(metrics),
            ]
            for st in pair["strata"]:
                cells = [_diff(st["metrics"][m]) for m in metrics]
                lines.append(
                    f"| {_md(st['name'])} | {len(st['classes'])} | " + " | ".join(cells) + " |"
                )
            gap = [m for m in metrics if m in pair["gap"]]
            if gap:
                lines.append(
                    "| change of macro − micro | | "
                    + " | ".join(_diff(pair["gap"][m]) if m in pair["gap"] else "" for m in metrics)
                    + " |"
                )
            lines.append("")
        changed = [
            (c, m, r)
            for c in sorted(pair["per_class"], key=lambda c: c["support"])
            for m, r in c["metrics"].items()
            if r.get("adjusted") and r["adjusted"]["significant"]
        ]
        if changed:
            lines += [
                "Classes that changed (rarest first; Holm-adjusted intervals exclude 0):",
                "",
                f"| class | n | metric | {ref} | {cand} | difference [95% CI] |",
                "|---|---|---|---|---|---|",
            ]
            for c, m, r in changed[:max_classes]:
                lines.append(
                    f"| {_md(c['label'])} | {c['support']} | {metric_text(m)} | "
                    f"{_side(r['reference'], m)} | {_side(r['candidate'], m)} | {_diff(r)} |"
                )
            if len(changed) > max_classes:
                lines.append(f"| … {len(changed) - max_classes} more | | | | | |")
            lines.append("")
        else:
            lines += ["No class changed significantly after adjustment.", ""]
    lines += _md_target(d)
    lines += _md_calibration(d)
    lines.append(
        "Differences are candidate minus reference on the same samples, with paired 95% "
        "intervals; 'adjusted' is the decision of the one Holm family over the comparison's "
        f"claims (blank: not a claim; '(< {effect:g})': distinguishable but smaller than the "
        "minimum effect, not claimed). Every difference (all averages, classes, strata) is in "
        "differences.csv and comparison.json."
    )
    return "\n".join(lines) + "\n"


def _md(x) -> str:
    return str(x).replace("|", "\\|")


# ------------------------------------------------------------------------------------------------
# at the deployment's prevalences (label shift): each pair's ``target`` rows


def target_text(d: dict) -> str:
    """The target and the assumption in one sentence, with the block's note: the paragraph over
    the differences at the deployment's prevalences ("" without a target)."""
    shift = d.get("prevalence_shift")
    if not shift:
        return ""
    return (
        f"Target prevalences: {shift['source']}. Assumed: {shift['assumption']}. " + shift["note"]
    )


def _md_target(d: dict) -> list[str]:
    """The differences at the deployment's prevalences in Markdown, a table per pair as the
    headline's; [] without a target."""
    if not d.get("prevalence_shift"):
        return []
    level = fmt_level((d.get("run") or {}).get("confidence_level") or 0.95)
    effect = min_effect(d)
    lines = ["### At the deployment's prevalences", "", _md(target_text(d)), ""]
    found = [f for f in d.get("findings", ()) if f["kind"] == "comparison_target"]
    if found:
        lines += [f"- {_md(f['text'])}" for f in found] + [""]
    for pair in d["pairs"]:
        rows = target_rows(pair)
        if not rows:
            continue
        ref, cand = pair["reference"], pair["candidate"]
        lines += [
            f"{_md(cand)} − {_md(ref)}:",
            "",
            f"| metric at the target | {_md(ref)} | {_md(cand)} | difference [{level} CI] | p "
            "| adjusted |",
            "|---|---|---|---|---|---|",
        ]
        for q, row in rows:
            lines.append(
                f"| {quantity_text(q)} | {_side(row['reference'], row['metric'])} | "
                f"{_side(row['candidate'], row['metric'])} | {_diff(row, marked=True)} | "
                f"{_p(row['difference'])} | {_verdict(row, effect)} |"
            )
        lines.append("")
        # why a difference is approximate or has no interval, once per reason
        notes = dict.fromkeys(
            row["difference"]["note"]
            for _, row in rows
            if row["difference"].get("status") in ("unstable", "no_interval")
            and row["difference"].get("note")
        )
        for note in notes:
            lines += [f"{APPROXIMATE_MARK} / no interval: {_md(note)}", ""]
    return lines


#: Columns of :func:`target_differences_csv`.
TARGET_CSV_COLUMNS = (
    "reference",
    "candidate",
    "metric",
    "reference_estimate",
    "reference_ci_low",
    "reference_ci_high",
    "reference_status",
    "candidate_estimate",
    "candidate_ci_low",
    "candidate_ci_high",
    "candidate_status",
    "difference",
    "ci_low",
    "ci_high",
    "p_value",
    "status",
    "adjusted_ci_low",
    "adjusted_ci_high",
    "adjusted_p_value",
    "significant",
    "better",
    "method",
)


def target_differences_csv(d: dict) -> bytes:
    """The differences at the deployment's prevalences, one row per pair and metric (``metric``
    a key such as ``macro.f1``): each model's estimate at the target with its interval, the
    paired difference with its interval and p-value, the adjusted interval, p-value and decision
    where the row is a claim of the family (else blank), and the interval's method. Numbers in
    full precision; the CSV rules of :func:`comparison_csv` apply. Only the header without a
    target."""
    rows: list[list] = [list(TARGET_CSV_COLUMNS)]
    for pair in d["pairs"]:
        for q, row in target_rows(pair):
            diff = row["difference"]
            adj = row.get("adjusted") or {}
            rows.append(
                [
                    _cell(pair["reference"]),
                    _cell(pair["candidate"]),
                    q,
                    *_interval_cells(row["reference"]),
                    *_interval_cells(row["candidate"]),
                    _n(diff.get("estimate")),
                    _n(diff.get("ci_low")),
                    _n(diff.get("ci_high")),
                    _n(diff.get("p_value")),
                    diff.get("status") or "",
                    _n(adj.get("ci_low")),
                    _n(adj.get("ci_high")),
                    _n(adj.get("p_adjusted")),
                    "" if not adj else str(bool(adj.get("significant"))).lower(),
                    row.get("better") or "",
                    _cell(row.get("test") or diff.get("method") or ""),
                ]
            )
    return _csv_bytes(rows)


# ------------------------------------------------------------------------------------------------
# calibration by model (descriptive: each model's own audit, no paired test)

#: Display bounds of the calibration estimates (as the audit's report shows them).
CALIBRATION_BOUNDS = {
    "classwise_ece": (0.0,),
    "top_label_ece": (0.0,),
    "ece": (0.0,),
    "intercept": (0.0,),
    "slope": (0.0, 1.0),
}


def calibration_models(d: dict) -> dict:
    """``{model: its calibration block}`` of the models with probabilities, in the comparison's
    model order; empty when no model has them."""
    models = (d.get("calibration") or {}).get("models") or {}
    order = [m for m in d.get("models", ()) if m in models]
    order += [m for m in models if m not in order]
    return {m: models[m] for m in order}


def calibration_strata_rows(d: dict) -> list[tuple[str, list[tuple[str, dict]]]]:
    """The strata of the calibration block, in the models' order (rarest first as the audits
    give them), each with ``[(model, its stratum entry)]`` for the models that have it."""
    models = calibration_models(d)
    names: list[str] = []
    for cal in models.values():
        names += [s["stratum"] for s in cal["strata"] if s["stratum"] not in names]
    return [
        (
            name,
            [(m, s) for m, cal in models.items() for s in cal["strata"] if s["stratum"] == name],
        )
        for name in names
    ]


def _without_probabilities(d: dict) -> list[str]:
    models = calibration_models(d)
    return [m for m in d.get("models", ()) if m not in models]


def calibration_absent_text(d: dict) -> str:
    """Which models the calibration block leaves out, in words ("" when none)."""
    absent = _without_probabilities(d)
    if not absent:
        return ""
    names = ", ".join(absent)
    one = len(absent) == 1
    return (
        f"{names} {'has' if one else 'have'} no calibration here: {'its' if one else 'their'} "
        "scores are not probabilities (or the classes are too many for the calibration)."
    )


CALIBRATION_CSV_COLUMNS = (
    "model",
    "stratum",
    "quantity",
    "estimate",
    "ci_low",
    "ci_high",
    "status",
)


def calibration_by_model_csv(d: dict) -> bytes:
    """The calibration of each model with probabilities (``d["calibration"]``), one row per
    estimate: ``model, stratum, quantity, estimate, ci_low, ci_high, status``. A model's overall
    rows (``classwise_ece``, ``top_label_ece``) come first with an empty ``stratum``, then per
    stratum its ``ece``, ``intercept`` and ``slope``. Numbers in full precision; the CSV rules of
    :func:`comparison_csv` apply. Only the header when no model has probabilities."""
    rows: list[list] = [list(CALIBRATION_CSV_COLUMNS)]

    def emit(model, stratum, quantity, e):
        e = e or {}
        rows.append(
            [
                _cell(model),
                _cell(stratum),
                quantity,
                _n(e.get("estimate")),
                _n(e.get("ci_low")),
                _n(e.get("ci_high")),
                e.get("status") or "",
            ]
        )

    for model, cal in calibration_models(d).items():
        emit(model, "", "classwise_ece", cal["classwise_ece"])
        emit(model, "", "top_label_ece", cal["top_label_ece"])
        for s in cal["strata"]:
            for q in ("ece", "intercept", "slope"):
                emit(model, s["stratum"], q, s[q])
    return _csv_bytes(rows)


def _cal(e: dict, quantity: str) -> str:
    return fmt_marked(e, bounds=CALIBRATION_BOUNDS[quantity]) if e else ""


def _md_calibration(d: dict) -> list[str]:
    """The calibration by model in Markdown: each model's ECEs, then by stratum its ECE, mean
    intercept and mean slope, and the note; [] when no model has probabilities."""
    models = calibration_models(d)
    if not models:
        return []
    level = fmt_level((d.get("run") or {}).get("confidence_level") or 0.95)
    lines = [
        "### Calibration by model",
        "",
        f"| model | classwise ECE [{level}] | top-label ECE [{level}] |",
        "|---|---:|---:|",
    ]
    for m, cal in models.items():
        lines.append(
            f"| {_md(m)} | {_cal(cal['classwise_ece'], 'classwise_ece')} | "
            f"{_cal(cal['top_label_ece'], 'top_label_ece')} |"
        )
    lines.append("")
    strata = calibration_strata_rows(d)
    if strata:
        lines += [
            "| stratum | model | classes | ECE | mean intercept | mean slope |",
            "|---|---|---:|---:|---:|---:|",
        ]
        for name, entries in strata:
            for m, s in entries:
                lines.append(
                    f"| {_md(name)} | {_md(m)} | {s['n_used']} of {s['n_classes']} | "
                    f"{_cal(s['ece'], 'ece')} | {_cal(s['intercept'], 'intercept')} | "
                    f"{_cal(s['slope'], 'slope')} |"
                )
        lines.append("")
    text = (
        "Each model's own audit, marginal intervals. Intercept: calibration-in-the-large "
        "(log-odds; above 0, probabilities too low); slope below 1: over-confident; means over "
        "the classes with enough samples (classes: used of all). " + d["calibration"]["note"]
    )
    absent = calibration_absent_text(d)
    if absent:
        text += " " + absent
    if any(APPROXIMATE_MARK in line for line in lines):
        text += f" {APPROXIMATE_MARK} marks an approximate interval."
    lines += [_md(text), ""]
    return lines


CSV_COLUMNS = (
    "reference",
    "candidate",
    "quantity",
    "scope",
    "label",
    "stratum",
    "support",
    "metric",
    "reference_estimate",
    "candidate_estimate",
    "difference",
    "ci_low",
    "ci_high",
    "p_value",
    "method",
    "status",
    "adjusted_ci_low",
    "adjusted_ci_high",
    "adjusted_p_value",
    "significant",
    "better",
)


def comparison_csv(d: dict) -> bytes:
    """Every difference of every pair, one row each, numbers in full precision (RFC 4180 and
    formula neutralisation as :func:`prevalens.exports.per_class_csv`); scopes ``headline``,
    ``class``, ``stratum``, ``gap``, ``shift`` and, with a deployment's prevalences, ``target``
    (the differences there, also in :func:`target_differences_csv`)."""
    rows: list[list] = [list(CSV_COLUMNS)]

    def emit(pair, scope, row, label="", stratum="", support=""):
        diff = row["difference"]
        adj = row.get("adjusted") or {}
        cells = [
            pair["reference"],
            pair["candidate"],
            row["quantity"],
            scope,
            label,
            stratum,
            support,
            row["metric"],
            _n(row["reference"].get("estimate")),
            _n(row["candidate"].get("estimate")),
            _n(diff.get("estimate")),
            _n(diff.get("ci_low")),
            _n(diff.get("ci_high")),
            _n(diff.get("p_value")),
            diff.get("method") or "",
            diff.get("status", ""),
            _n(adj.get("ci_low")),
            _n(adj.get("ci_high")),
            _n(adj.get("p_adjusted")),
            "" if not adj else str(bool(adj.get("significant"))).lower(),
            row.get("better") or "",
        ]
        rows.append([_cell(c) for c in cells])

    for pair in d["pairs"]:
        for _, row in headline_rows(pair):
            emit(pair, "headline", row)
        for c in pair["per_class"]:
            for row in c["metrics"].values():
                emit(pair, "class", row, c["label"], c.get("stratum") or "", c["support"])
        for s in pair["strata"]:
            for row in s["metrics"].values():
                emit(pair, "stratum", row, stratum=s["name"])
        for row in pair["gap"].values():
            emit(pair, "gap", row)
        for row in pair["shift"].values():
            emit(pair, "shift", row)
        for _, row in target_rows(pair):
            emit(pair, "target", row)
    return _csv_bytes(rows)


def _n(x):
    return "" if x is None else float(x)


# ------------------------------------------------------------------------------------------------
# LaTeX


#: ``\prevalensmeasure{text}``: widens ``\prevalenscolwidth`` to the width of ``text`` (in the
#: current font), so a column's width is measured by TeX over all its lines.
_TEX_MEASURE_DEF = (
    r"\ifdefined\prevalenscolwidth\else\newlength{\prevalenscolwidth}\fi"
    r"\providecommand{\prevalensmeasure}[1]{\settowidth{\dimen0}{#1}"
    r"\ifdim\dimen0>\prevalenscolwidth\setlength{\prevalenscolwidth}{\dimen0}\fi}"
)


def _tex_cell(text: str) -> str:
    """A formatted estimate or difference as a LaTeX cell: the number over its interval."""
    est, sep, interval = _tex_num(text).partition(" ")
    return _tex_stack(est, interval) if sep else _tex_num(text)


def _tex_method_text(rows) -> str:
    """The interval method of each row group of a table, as the rows' ``test`` says."""
    return "; ".join(f"{', '.join(what)}: {test}" for test, what in methods_by_test(rows))


def comparison_latex(d: dict, *, max_classes: int = MAX_CLASS_ROWS) -> str:
    """Booktabs tables of a comparison, for a paper: a LaTeX fragment to ``\\input``.

    For each candidate against the reference, two tables:

    * the headline differences (the rows of :data:`HEADLINE_ORDER` present): each model's
      estimate over its interval, the difference over its paired interval, the two-sided
      p-value and the decision of the Holm family (``better``, ``worse``, ``no evidence``;
      blank: not a claim);
    * the per-class differences of the findings metrics (recall, F1, ROC AUC with scores), rarest
      class first, each difference over its paired interval and marked * where its
      Holm-adjusted interval excludes 0; classes below ``min_support`` carry a dagger. With more
      than ``max_classes`` classes the table shows the ones that changed and the rarest, and
      its note says how many of how many (every class is in ``differences.csv``).

    With a deployment's prevalences (``prevalence_shift``), a third table per candidate between
    the two: the differences at the target (each pair's ``target`` rows), laid out as the
    headline's.

    Escaping, the two-line cells and the class column that takes the width the numbers leave are
    those of :func:`prevalens.exports.latex_tables`; the per-class table is a ``longtable``
    from :data:`prevalens.exports.LONGTABLE_MIN_CLASSES` rows. Labels:
    ``tab:prevalens-comparison-headline``, ``tab:prevalens-comparison-target`` and
    ``tab:prevalens-comparison-classes`` (suffixed ``-2``, ``-3`` ... for the second and later
    candidates).
    """
    run = d["run"]
    level = _confidence_text(run)
    effect = min_effect(d)
    min_support = int((run.get("config") or {}).get("min_support") or 10)
    family = d.get("family") or {}
    adjustment = str(family.get("adjustment") or "holm").capitalize()
    tool = d.get("tool") or {}
    pairs = d["pairs"]
    plans = []
    for pair in pairs:
        metrics = findings_metrics(d, pair)
        shown, note = class_rows(pair, metrics, max_classes)
        longtable = (
            len(shown) >= LONGTABLE_MIN_CLASSES
            or sum(_tex_row_lines(c["label"]) for c in shown) > _TEX_PAGE_LINES
        )
        plans.append((pair, metrics, shown, note, longtable))
    out = [
        f"% Tables of a prevalens comparison of models: {_oneline(tool.get('name', 'prevalens'))} "
        f"{_oneline(tool.get('version', ''))}, run of {_oneline(run.get('created_utc', ''))}.",
        "% Generated from comparison.json, which holds every number; re-export rather than edit.",
        "%",
        "% Use: save as comparison.tex and write \\input{comparison} where the tables belong.",
        "% The preamble needs:",
        "%   \\usepackage{booktabs}          % \\toprule, \\midrule, \\bottomrule",
    ]
    if any(p[4] for p in plans):
        out.append("%   \\usepackage{longtable}         % a per-class table breaks across pages")
    out += [
        "%   \\usepackage[utf8]{inputenc}    % on pdfLaTeX, for non-ASCII names (the default",
        "%                                  % since LaTeX 2018); XeLaTeX and LuaLaTeX read UTF-8",
        "% A cell holds two lines (the estimate over its interval), set by \\prevalensstack;",
        "% the class column takes the width the other columns leave (\\prevalensclass).",
        "",
        _TEX_STACK_DEF,
        _TEX_CLASS_DEF,
        _TEX_LENGTHS_DEF,
        _TEX_MEASURE_DEF,
        "",
    ]
    for i, (pair, metrics, shown, note, longtable) in enumerate(plans):
        suffix = f"-{i + 1}" if i else ""
        out += _tex_headline(d, pair, level, effect, adjustment, suffix)
        out += _tex_target(d, pair, level, effect, adjustment, suffix)
        out += _tex_classes(
            d, pair, metrics, shown, note, longtable, level, min_support, adjustment, suffix
        )
    return "\n".join(out) + "\n"


def _tex_headline(d, pair, level, effect, adjustment, suffix) -> list:
    data = d["data"]
    ref, cand = pair["reference"], pair["candidate"]
    family = d.get("family") or {}
    rows = [(q, r) for q, r in headline_rows(pair) if q in HEADLINE_ORDER]
    caption = (
        f"Candidate {cand} against reference {ref} on the same {data['n_samples']:,} samples "
        f"({data['n_classes']} classes): each model's estimate and the paired difference "
        f"(candidate minus reference) with {level} confidence intervals "
        f"({_tex_method_text([r for _, r in rows])})."
    )
    note = (
        "$p$: two-sided, for no difference, from the same interval (``\\textless{}'' where the "
        "bootstrap only bounds it). Adjusted: the decision of one "
        f"{_tex(adjustment)} family over {int(family.get('size') or 0)} claims of the "
        f"comparison, a claim needing a difference of at least {effect:g} "
        f"(``\\textless{{}} {effect:g}'': distinguishable but smaller, not claimed); blank: "
        "not a claim. For log loss and Brier score lower is better."
    )
    return _tex_differences(
        pair, rows, level, effect, caption, note, "tab:prevalens-comparison-headline" + suffix
    )


def _tex_target(d, pair, level, effect, adjustment, suffix) -> list:
    """The pair's differences at the deployment's prevalences, laid out as the headline's
    table; [] without a target."""
    rows = target_rows(pair)
    shift = d.get("prevalence_shift")
    if not rows or not shift:
        return []
    ref, cand = pair["reference"], pair["candidate"]
    methods = methods_by_test([r for _, r in rows])
    caption = (
        f"Candidate {cand} against reference {ref} at the deployment's class prevalences "
        f"({shift['source']}): each model's estimate projected there and the paired difference "
        f"(candidate minus reference) with {level} confidence intervals ("
        # one method for every row (as the comparison computes them): no list of the rows
        + (methods[0][0] if len(methods) == 1 else _tex_method_text([r for _, r in rows]))
        + f"). Assumed: {shift['assumption']}."
    )
    note = (
        "$p$: two-sided, for no difference, from the same interval. Adjusted: the decision of "
        f"the {_tex(adjustment)} family of the comparison, for accuracy and the findings "
        f"metrics' macro averages at the target (a claim needing a difference of at least "
        f"{effect:g}); blank: not a claim."
    )
    return _tex_differences(
        pair, rows, level, effect, caption, note, "tab:prevalens-comparison-target" + suffix
    )


def _tex_differences(pair, rows, level, effect, caption, note, label) -> list:
    """A booktabs table of a pair's differences: the metric, each model's estimate over its
    interval, the difference over its paired interval, the p-value and the decision."""
    ref, cand = pair["reference"], pair["candidate"]
    body = []
    for j, (q, row) in enumerate(rows):
        bounds = _bounds(row["metric"])
        body.append(
            (_TEX_GAP if j else "")
            + _tex_row(
                [
                    _tex(quantity_text(q)),
                    _tex_cell(fmt_marked(row["reference"], bounds=bounds)),
                    _tex_cell(fmt_marked(row["candidate"], bounds=bounds)),
                    _tex_cell(_diff(row, marked=True)),
                    _tex_num(p_text(row["difference"])),
                    _tex_decision(decision(row, effect)),
                ]
            )
        )
    return [
        r"\begin{table}[htbp]",
        r"\centering",
        r"\footnotesize",  # six columns, three of them two-line estimates: a one-column article
        r"\setlength{\tabcolsep}{4pt}",
        r"\caption{" + _tex(caption) + r"}\label{" + label + "}",
        r"\begin{tabular}{lrrrrl}",
        r"\toprule",
        _tex_row(
            [
                "Metric",
                _tex_stack("Reference", _tex(_short(ref))),
                _tex_stack("Candidate", _tex(_short(cand))),
                _tex_stack("Difference", rf"[{_tex_num(level)} CI]"),
                "$p$",
                "Adjusted",
            ]
        ),
        r"\midrule",
        *body,
        r"\bottomrule",
        r"\end{tabular}",
        r"\par\smallskip\parbox{\linewidth}{\footnotesize\raggedright " + note + "}",
        r"\end{table}",
        "",
    ]


def _tex_decision(text: str) -> str:
    """A decision as a LaTeX cell; ``better (< 0.05)`` on two lines, so the column stays
    narrow."""
    word, sep, rest = text.partition(" (")
    return _tex_stack(_tex(word), _tex_num("(" + rest), "l") if sep else _tex(text)


def _short(name, n: int = 14) -> str:
    """A model name for a narrow column heading (the caption has it in full)."""
    text = _oneline(name)
    return text if len(text) <= n else text[: n - 3].rstrip() + "..."


def _tex_classes(
    d, pair, metrics, shown, note, longtable, level, min_support, adjustment, suffix
) -> list:
    ref, cand = pair["reference"], pair["candidate"]
    header = _tex_row(
        [_tex_stack("Class", r"\textit{stratum}", "l"), _tex_stack("Support", "prevalence")]
        + [_tex(metric_name(m)) for m in metrics]
    )
    spec = "lr" + "r" * len(metrics)
    caption = (
        f"Per-class differences, {cand} minus {ref}, rarest class first, with paired {level} "
        "confidence intervals ("
        + _tex_method_text([c["metrics"][m] for c in shown for m in metrics if m in c["metrics"]])
        + ")."
    )
    support_cells = [(f"{c['support']:,}", _tex_num(fmt_percent(c["prevalence"]))) for c in shown]

    def cell(c, m):
        row = c["metrics"].get(m)
        if row is None:
            return "", ""
        text = _tex_num(_diff(row, marked=True))
        est, sep, interval = text.partition(" ")
        star = r"\textsuperscript{*}" if (row.get("adjusted") or {}).get("significant") else ""
        return est + star, interval if sep else ""

    cells = [[cell(c, m) for m in metrics] for c in shown]
    # TeX measures every line of each numeric column and keeps the widest (a count of characters
    # misjudges signs and brackets); the class column gets the rest of the line
    columns = [["Support", "prevalence"] + sorted({t for pair_ in support_cells for t in pair_})]
    for j, m in enumerate(metrics):
        columns.append([_tex(metric_name(m))] + sorted({t for row in cells for t in row[j] if t}))
    sizing = [r"\setlength{\prevalensrest}{0pt}"]
    for lines in columns:
        sizing.append(
            r"\setlength{\prevalenscolwidth}{0pt}"
            + "".join(r"\prevalensmeasure{" + t + "}" for t in lines)
            + r"\addtolength{\prevalensrest}{\prevalenscolwidth}"
        )
    sizing += [
        r"\setlength{\prevalenslabelwidth}{\dimexpr\linewidth-\prevalensrest"
        rf"-{2 * (len(metrics) + 2)}\tabcolsep\relax}}",
        r"\ifdim\prevalenslabelwidth<5em\setlength{\prevalenslabelwidth}{5em}\fi",
    ]
    dagger = any("insufficient" in (c.get("flags") or ()) for c in shown)
    words = [r"\textsuperscript{*}\," + _tex(f"{adjustment}-adjusted interval excludes 0")]
    if dagger:
        words.append(
            r"\textsuperscript{\textdagger}\,"
            + _tex(f"fewer than {min_support} true samples: shown, but no claim rests on the class")
        )
    words.append(_tex("the intervals shown are marginal (each difference on its own)"))
    note_tex = "; ".join(words) + "." + (" " + _tex(note) if note else "")
    rows = []
    gaps = omitted_runs(pair, shown)
    ncols = 2 + len(metrics)

    def gap_row(n):
        return (  # no space before \multicolumn: after \addlinespace it widens the row
            _TEX_GAP.rstrip()
            + rf"\multicolumn{{{ncols}}}{{l}}{{\textit{{"
            + _tex(f"... {n} class{'es' if n != 1 else ''} not shown")
            + r"}} \\"
        )

    for i, c in enumerate(shown):
        if i in gaps:
            rows.append(gap_row(gaps[i]))
        mark = r"\textsuperscript{\textdagger}" if "insufficient" in (c.get("flags") or ()) else ""
        rows.append(
            (_TEX_GAP if i else "")
            + _tex_row(
                [
                    tex_class_cell(c, mark),
                    _tex_stack(*support_cells[i]),
                ]
                + [_tex_stack(e, ci) if ci else e for e, ci in cells[i]]
            )
        )
    if len(shown) in gaps:
        rows.append(gap_row(gaps[len(shown)]))
    return [
        *tex_table(
            spec,
            _tex(caption),
            "tab:prevalens-comparison-classes" + suffix,
            header,
            rows,
            sizing=sizing,
            note=note_tex,
            longtable=longtable,
        ),
        "",
    ]
