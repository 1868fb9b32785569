"""Exports of a comparison of models (the ``prevalens.comparison/1`` dict): a Markdown summary for
a pull-request comment and a CSV of every difference. Pure: dict in, text out; every number
is formatted by :mod:`prevalens.formatting`.
"""

from __future__ import annotations

from .exports import _cell, _csv_bytes
from .formatting import fmt_estimate, fmt_number, metric_text, quantity_text

__all__ = ["comparison_markdown", "comparison_csv", "HEADLINE_ORDER"]

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


def _diff(row: dict) -> str:
    d = row["difference"]
    text = fmt_estimate(d, bounds=(0.0,))
    est = d.get("estimate")
    return ("+" + text) if est is not None and est > 0 else text


def _p(diff: dict) -> str:
    p = diff.get("p_value")
    if p is None:
        return ""
    if p < 1e-4:
        return "<0.0001"
    text = fmt_number(p, 4, bounds=(0.0, 1.0))
    return "<" + text if diff.get("p_value_is_bound") else text


def _verdict(row: dict) -> str:
    """What the row shows after adjustment: better, worse, no evidence (or not claimed)."""
    adj = row.get("adjusted")
    if adj is None:
        return ""
    if not adj["significant"]:
        return "no evidence"
    return "**better**" if row.get("better") == "candidate" else "**worse**"


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
                f"{_p(row['difference'])} | {_verdict(row)} |"
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
    lines.append(
        "Differences are candidate minus reference on the same samples, with paired 95% "
        "intervals; 'adjusted' is the decision of the one Holm family over the comparison's "
        "claims (blank: not a claim). Every difference (all averages, classes, strata) is in "
        "differences.csv and comparison.json."
    )
    return "\n".join(lines) + "\n"


def _md(x) -> str:
    return str(x).replace("|", "\\|")


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
    formula neutralisation as :func:`prevalens.exports.per_class_csv`)."""
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
            _n(adj.get("p_value")),
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
    return _csv_bytes(rows)


def _n(x):
    return "" if x is None else float(x)
