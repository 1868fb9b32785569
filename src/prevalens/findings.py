"""Findings: claims that the numbers support, in words generated from the evidence.

Each finding is a JSON-ready dict ``{id, kind, severity, metric, classes, evidence, text}``. The
rules only claim a difference when its multiplicity-adjusted interval excludes zero (see
:mod:`prevalens.strata`), never rest a claim on classes below ``min_support`` alone, and say
"no evidence of divergence" when that is the honest result. Every number in ``text`` is formatted
from a number in ``evidence`` by :func:`fmt` with ``evidence["digits"]`` decimals, so the words and
the JSON cannot disagree.
"""

from __future__ import annotations

import math

__all__ = ["build_findings", "fmt", "digits_for", "SEVERITIES"]

SEVERITIES = ("high", "medium", "low", "info")

_NAMES = {
    "recall": "recall",
    "precision": "precision",
    "f1": "F1",
    "specificity": "specificity",
    "jaccard": "Jaccard index",
    "roc_auc": "ROC AUC",
}


def digits_for(*widths) -> int:
    """Decimals to show: 3 when an interval is narrower than 0.02, else 2."""
    finite = [w for w in widths if w is not None and math.isfinite(w)]
    return 3 if finite and min(finite) < 0.02 else 2


def fmt(x, digits: int) -> str:
    """A number as the findings print it: ``digits`` decimals, but never 0.00 for a value that is
    not exactly 0 (more decimals are shown until it is not; an interval bound of -0.0018 must
    not read as 0.00 next to a claim that the interval excludes zero), and never '-0.00'."""
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "undefined"
    x = float(x)
    text = f"{x:.{digits}f}"
    while float(text) == 0 and x != 0 and digits < 6:
        digits += 1
        text = f"{x:.{digits}f}"
    if float(text) == 0:
        text = f"{0.0:.{digits}f}"
    return text


def _interval(lo, hi, d):
    return f"[{fmt(lo, d)}, {fmt(hi, d)}]"


def _est_text(e, d):
    if e is None or e.get("estimate") is None:
        return "undefined"
    if e.get("ci_low") is None or e.get("ci_high") is None:
        return fmt(e["estimate"], d)
    return f"{fmt(e['estimate'], d)} {_interval(e['ci_low'], e['ci_high'], d)}"


def _severity(effect):
    a = abs(effect)
    return "high" if a >= 0.10 else "medium" if a >= 0.05 else "low"


def _labels(labels, limit=8):
    shown = ", ".join(f"'{x}'" for x in labels[:limit])
    return shown + (f" and {len(labels) - limit} more" if len(labels) > limit else "")


def _claim_map(analysis):
    return {c.key: c for c in analysis["claims"]}


def build_findings(result_parts: dict, analysis: dict | None, config) -> list[dict]:
    """Findings from an audit's numbers.

    ``result_parts`` holds the JSON forms of ``per_class``, ``averages`` and ``overall``;
    ``analysis`` is the output of :func:`prevalens.strata.analyse` (None without intervals).
    """
    findings: list[dict] = []
    per_class = result_parts["per_class"]
    averages = result_parts["averages"]
    adjustment = config.divergence_adjustment
    min_support = config.min_support

    # classes that cannot carry a claim, and undefined values: always said
    insufficient = [c for c in per_class if "insufficient" in c["flags"]]
    if insufficient:
        findings.append({
            "id": "insufficient-classes",
            "kind": "insufficient",
            "severity": "info",
            "metric": None,
            "classes": [c["label"] for c in insufficient],
            "evidence": {"min_support": min_support,
                         "support": {str(c["label"]): c["support"] for c in insufficient}},
            "text": (f"{len(insufficient)} class(es) have fewer than {min_support} true samples ("
                     + ", ".join(f"'{c['label']}' {c['support']}" for c in insufficient[:8])
                     + (", ..." if len(insufficient) > 8 else "")
                     + "): their estimates are shown with their (wide) intervals, and no finding "
                     "rests on them alone."),
        })
    for metric in config.findings_metrics:
        undefined = [c for c in per_class
                     if metric in c["metrics"] and c["metrics"][metric]["status"] == "undefined"]
        if undefined:
            reason = undefined[0]["metrics"][metric].get("note") or "0/0"
            findings.append({
                "id": f"undefined-{metric}",
                "kind": "undefined",
                "severity": "info",
                "metric": metric,
                "classes": [c["label"] for c in undefined],
                "evidence": {"reason": reason},
                "text": (f"{_NAMES.get(metric, metric).capitalize()} is undefined for "
                         f"{_labels([c['label'] for c in undefined])} ({reason}); such values are "
                         "left out of the macro average, not counted as 0."),
            })

    if analysis is not None and analysis["family"]["size"] == 0:
        findings.insert(0, {
            "id": "no-divergence",
            "kind": "no_evidence_of_divergence",
            "severity": "info",
            "metric": None,
            "classes": [],
            "evidence": {"family_size": 0, "n_resamples": config.n_resamples},
            "text": ("No comparison between classes could be tested: the bootstrap replicates "
                     "show no variation in the differences (or no class has enough samples), so "
                     "no divergence is claimed."),
        })
        return findings
    if analysis is None:
        findings.insert(0, {
            "id": "no-intervals",
            "kind": "no_intervals",
            "severity": "info",
            "metric": None,
            "classes": [],
            "evidence": {"n_resamples": config.n_resamples},
            "text": ("Point estimates only (n_resamples = 0): claims of divergence need intervals, "
                     "so none is made."),
        })
        return findings

    claims = _claim_map(analysis)
    family = analysis["family"]
    m = family["size"]
    level = f"{adjustment.capitalize()}-adjusted over {m} comparisons"
    claimed = []

    # ---- the headline gap ------------------------------------------------------------------
    for metric in config.findings_metrics:
        c = claims.get(("gap", metric))
        if c is None or not math.isfinite(c.p):
            continue
        macro = averages["macro"].get(metric)
        micro = averages["micro"].get(metric)
        gap_e = analysis["gap"][metric]["macro_minus_micro"]
        d = digits_for(_w(macro), _w(micro), c.high - c.low)
        name = _NAMES.get(metric, metric)
        evidence = {"macro": macro, "micro": micro, "gap": c.estimate,
                    "gap_ci_low": c.low, "gap_ci_high": c.high, "p_value": c.p,
                    "level": 1 - c.level, "adjustment": adjustment, "family_size": m,
                    "marginal_gap": gap_e, "digits": d, "min_support": min_support}
        if c.significant:
            claimed.append(c)
            lower = c.estimate < 0
            findings.append({
                "id": f"gap-{metric}", "kind": "gap", "severity": _severity(c.estimate),
                "metric": metric, "classes": [], "evidence": evidence,
                "text": (f"Macro {name} {_est_text(macro, d)} is {'lower' if lower else 'higher'} "
                         f"than micro {name} {_est_text(micro, d)}: a gap of "
                         f"{fmt(c.estimate, d)} {_interval(c.low, c.high, d)} ({level}). "
                         + ("Every class counts the same in the macro average, so the classifier "
                            "does worse on the classes that are rare in the data."
                            if lower else
                            "Every class counts the same in the macro average, so the classifier "
                            "does better on the classes that are rare in the data.")),
            })
        elif c.rests_on_insufficient:
            findings.append({
                "id": f"gap-{metric}", "kind": "insufficient", "severity": "info",
                "metric": metric, "classes": [], "evidence": evidence,
                "text": (f"The gap between macro {name} {_est_text(macro, d)} and micro {name} "
                         f"{_est_text(micro, d)}, {fmt(c.estimate, d)} "
                         f"{_interval(c.low, c.high, d)} ({level}), rests on classes with fewer "
                         f"than {min_support} true samples: without them it is not established, "
                         "so no claim is made."),
            })
        else:
            findings.append({
                "id": f"gap-{metric}", "kind": "no_divergence", "severity": "info",
                "metric": metric, "classes": [], "evidence": evidence,
                "text": (f"No evidence of a gap between macro {name} {_est_text(macro, d)} and "
                         f"micro {name} {_est_text(micro, d)}: the difference "
                         f"{fmt(c.estimate, d)} {_interval(c.low, c.high, d)} ({level}) includes "
                         "zero."),
            })

    # ---- strata --------------------------------------------------------------------------------
    strata = {s["name"]: s for s in analysis["strata"]}
    for metric in config.findings_metrics:
        c = claims.get(("rare_vs_common", metric))
        if c is None:
            continue
        rare, common = strata["rare"], strata["common"]
        name = _NAMES.get(metric, metric)
        if not c.eligible:
            findings.append({
                "id": f"strata-rare-common-{metric}", "kind": "insufficient",
                "severity": "info", "metric": metric, "classes": rare["classes"],
                "evidence": {"min_support": min_support},
                "text": (f"The rare stratum ({rare['bounds']['description']}) holds only classes "
                         f"with fewer than {min_support} true samples; no claim about its {name} "
                         "is made."),
            })
            continue
        if not math.isfinite(c.p):
            continue
        er, ec = rare["macro"][metric], common["macro"][metric]
        d = digits_for(_w(er), _w(ec), c.high - c.low)
        evidence = {"rare": er, "common": ec, "difference": c.estimate, "ci_low": c.low,
                    "ci_high": c.high, "p_value": c.p, "level": 1 - c.level,
                    "adjustment": adjustment, "family_size": m, "digits": d,
                    "rare_classes": rare["n_classes"], "common_classes": common["n_classes"]}
        if c.significant:
            claimed.append(c)
            findings.append({
                "id": f"strata-rare-common-{metric}", "kind": "stratum_divergence",
                "severity": _severity(c.estimate), "metric": metric,
                "classes": rare["classes"], "evidence": evidence,
                "text": (f"The rare classes ({rare['bounds']['description']}, "
                         f"{_n_classes(rare['n_classes'])}) have macro {name} {_est_text(er, d)} against "
                         f"{_est_text(ec, d)} for the common ones "
                         f"({common['bounds']['description']}, {_n_classes(common['n_classes'])}): a "
                         f"difference of {fmt(c.estimate, d)} {_interval(c.low, c.high, d)} "
                         f"({level})."),
            })
        elif c.rests_on_insufficient:
            evidence["min_support"] = min_support
            findings.append({
                "id": f"strata-rare-common-{metric}", "kind": "insufficient",
                "severity": "info", "metric": metric, "classes": rare["classes"],
                "evidence": evidence,
                "text": (f"The difference in macro {name} between the rare classes "
                         f"({_est_text(er, d)}) and the common ones ({_est_text(ec, d)}), "
                         f"{fmt(c.estimate, d)} {_interval(c.low, c.high, d)} ({level}), rests on "
                         f"classes with fewer than {min_support} true samples: without them it is "
                         "not established, so no claim is made."),
            })
        else:
            findings.append({
                "id": f"strata-rare-common-{metric}", "kind": "no_divergence",
                "severity": "info", "metric": metric, "classes": [], "evidence": evidence,
                "text": (f"No evidence that the rare classes ({_n_classes(rare['n_classes'])}) differ "
                         f"from the common ones in macro {name}: {_est_text(er, d)} against "
                         f"{_est_text(ec, d)}, difference {fmt(c.estimate, d)} "
                         f"{_interval(c.low, c.high, d)} ({level}) includes zero."),
            })
    # other strata against the rest (those not already the two sides of rare vs common)
    for s in analysis["strata"]:
        for metric in config.findings_metrics:
            c = claims.get(("stratum_vs_rest", s["name"], metric))
            if c is None or not c.significant or not c.eligible:
                continue
            if ("rare_vs_common", metric) in claims and s["name"] in ("rare", "common"):
                continue
            claimed.append(c)
            e = s["macro"][metric]
            d = digits_for(_w(e), c.high - c.low)
            name = _NAMES.get(metric, metric)
            findings.append({
                "id": f"stratum-{s['name']}-{metric}", "kind": "stratum_divergence",
                "severity": _severity(c.estimate), "metric": metric, "classes": s["classes"],
                "evidence": {"stratum": e, "difference": c.estimate, "ci_low": c.low,
                             "ci_high": c.high, "p_value": c.p, "level": 1 - c.level,
                             "adjustment": adjustment, "family_size": m, "digits": d},
                "text": (f"The {s['name']} classes ({s['bounds']['description']}, "
                         f"{_n_classes(s['n_classes'])}) have macro {name} {_est_text(e, d)}, "
                         f"{'below' if c.estimate < 0 else 'above'} the other classes by "
                         f"{fmt(abs(c.estimate), d)} (difference {fmt(c.estimate, d)} "
                         f"{_interval(c.low, c.high, d)}; {level})."),
            })

    # ---- trend ---------------------------------------------------------------------------------
    for metric in config.findings_metrics:
        c = claims.get(("trend", metric))
        if c is None or not c.significant:
            continue
        claimed.append(c)
        rho = analysis["trend"][metric]["spearman"]
        d = digits_for(c.high - c.low)
        name = _NAMES.get(metric, metric)
        findings.append({
            "id": f"trend-{metric}", "kind": "trend", "severity": _severity(c.estimate),
            "metric": metric, "classes": [],
            "evidence": {"slope": c.estimate, "ci_low": c.low, "ci_high": c.high,
                         "p_value": c.p, "level": 1 - c.level, "adjustment": adjustment,
                         "family_size": m, "spearman": rho, "digits": d},
            "text": (f"{name[0].upper() + name[1:]} {'rises' if c.estimate > 0 else 'falls'} with "
                     f"prevalence: {fmt(c.estimate, d)} per tenfold increase "
                     f"{_interval(c.low, c.high, d)} (weighted least squares on log10 prevalence; "
                     f"{level}); Spearman's rank correlation {_est_text(rho, d)}."),
        })

    # ---- divergent classes -------------------------------------------------------------------
    for metric in config.findings_metrics:
        rows = [r for r in analysis["divergence"] if r["metric"] == metric and r["diverges"]]
        micro = averages["micro"].get(metric)
        name = _NAMES.get(metric, metric)
        for direction, sign in (("below", -1), ("above", 1)):
            sel = [r for r in rows if sign * r["adjusted"]["ci_low" if sign > 0 else "ci_high"] > 0]
            if not sel:
                continue
            sel.sort(key=lambda r: sign * r["vs_micro"]["estimate"])
            for r in sel:
                claimed.append(claims[("class", r["label"], metric)])
            d = 2
            values = {str(r["label"]): next(c for c in per_class if c["label"] == r["label"])
                      ["metrics"][metric]["estimate"] for r in sel}
            items = [f"'{r['label']}' {fmt(values[str(r['label'])], d)} (difference "
                     f"{fmt(r['vs_micro']['estimate'], d)} "
                     f"{_interval(r['adjusted']['ci_low'], r['adjusted']['ci_high'], d)})"
                     for r in sel[:10]]
            findings.append({
                "id": f"classes-{direction}-{metric}",
                "kind": "divergent_classes",
                "severity": "high" if direction == "below" else "info",
                "metric": metric,
                "classes": [r["label"] for r in sel],
                "evidence": {"micro": micro, "digits": d, "adjustment": adjustment,
                             "family_size": m,
                             "classes": [{"label": r["label"], "value": values[str(r["label"])],
                                          "difference": r["vs_micro"]["estimate"],
                                          "ci_low": r["adjusted"]["ci_low"],
                                          "ci_high": r["adjusted"]["ci_high"],
                                          "p_value": r["adjusted"]["p_value"]} for r in sel]},
                "text": (f"{len(sel)} class(es) have {name} {direction} the micro {name} "
                         f"{fmt(micro['estimate'], d)} ({level}): " + "; ".join(items)
                         + (f"; and {len(sel) - 10} more" if len(sel) > 10 else "") + "."),
            })

    if not claimed:
        findings.insert(0, {
            "id": "no-divergence",
            "kind": "no_evidence_of_divergence",
            "severity": "info",
            "metric": None,
            "classes": [],
            "evidence": {"family_size": m, "adjustment": adjustment,
                         "confidence_level": family["confidence_level"]},
            "text": (f"No evidence of divergence between rare and common classes: none of the {m} "
                     f"comparisons ({adjustment}-adjusted, {100 * family['confidence_level']:.10g}% "
                     "family-wise) excludes zero."),
        })
    order = {s: i for i, s in enumerate(SEVERITIES)}
    findings.sort(key=lambda f: order[f["severity"]])  # stable: rule order within a severity
    return findings


def _n_classes(n):
    return f"{n} class" if n == 1 else f"{n} classes"


def _w(e):
    if not e or e.get("ci_low") is None or e.get("ci_high") is None:
        return None
    return e["ci_high"] - e["ci_low"]
