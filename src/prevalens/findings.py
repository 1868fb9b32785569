"""Findings: claims that the numbers support, in words generated from the evidence.

Each rule below is a small function of the typed results of the analyses (and of the adjusted
family of claims) that returns :class:`~prevalens.results.Finding` objects; the words are in
one table, :data:`WORDING`. The rules only claim a difference when its multiplicity-adjusted
interval excludes zero *and* the difference is material (at least ``min_effect`` in absolute
value; a smaller one that is statistically distinguishable is said as such, at severity info),
never rest a claim on classes below ``min_support``, and say "no evidence of divergence" when
that is the honest result. Every number in a finding's text is
printed by :mod:`prevalens.formatting` from a number in its evidence, so the words and the JSON
cannot disagree, and a number reads as it does in the report's tables.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from .analyses.family import Claim
from .analyses.trend import MIN_CLASSES as TREND_MIN_CLASSES
from .analyses.trend import MIN_SPAN_DECADES
from .formatting import (
    digits_for_width,
    estimate_digits,
    fmt_estimate,
    fmt_interval,
    fmt_level,
    fmt_number,
    fmt_percent,
    fmt_signed,
    metric_text,
)
from .options import AuditConfig
from .results import (
    Estimate,
    FamilyInfo,
    Finding,
    GapResult,
    StrataComparison,
    TrendResult,
)

__all__ = ["build_findings", "FindingsInput", "SEVERITIES", "WORDING"]

SEVERITIES = ("high", "medium", "low", "info")

#: The words of every finding, by id; ``{fields}`` are filled with formatted numbers and names.
WORDING = {
    "insufficient-classes": (
        "{n} class(es) have fewer than {min_support} true samples ({listed}): their estimates "
        "are shown with their (wide) intervals, and no finding rests on them alone."
    ),
    "undefined": (
        "{Metric} is undefined for {labels} ({reason}); such values are left out of the macro "
        "average, not counted as 0."
    ),
    "untestable": (
        "No comparison between classes could be tested: the bootstrap replicates show no "
        "variation in the differences (or no class has enough samples), so no divergence is "
        "claimed."
    ),
    "no-intervals": (
        "Point estimates only (n_resamples = 0): claims of divergence need intervals, so none is "
        "made."
    ),
    "gap.lower": (
        "Macro {metric} {macro} is lower than micro {metric} {micro}: a gap of {difference} "
        "{interval} ({level}). Every class counts the same in the macro average, so the "
        "classifier does worse on the classes that are rare in the data."
    ),
    "gap.higher": (
        "Macro {metric} {macro} is higher than micro {metric} {micro}: a gap of {difference} "
        "{interval} ({level}). Every class counts the same in the macro average, so the "
        "classifier does better on the classes that are rare in the data."
    ),
    "gap.insufficient": (
        "The gap between macro {metric} {macro} and micro {metric} {micro}, {difference} "
        "{interval} ({level}), rests on classes with fewer than {min_support} true samples: "
        "without them it is not established, so no claim is made."
    ),
    "gap.unchecked": (
        "The gap between macro {metric} {macro} and micro {metric} {micro}, {difference} "
        "{interval} ({level}), cannot be checked without the classes with fewer than "
        "{min_support} true samples, which take part in it, so no claim is made."
    ),
    "gap.none": (
        "No evidence of a gap between macro {metric} {macro} and micro {metric} {micro}: the "
        "difference {difference} {interval} ({level}) includes zero."
    ),
    "extremes.ineligible": (
        "The {rare} stratum ({rare_definition}) holds only classes with fewer than {min_support} "
        "true samples; no claim about its {metric} is made."
    ),
    "extremes.not_made": (
        "The difference in macro {metric} between the {rare} classes ({rare_definition}) and the "
        "{common} ones is not assessed: {why}."
    ),
    "extremes.claim": (
        "The {rare} classes ({rare_definition}, {rare_n}) have macro {metric} {rare_value} "
        "against {common_value} for the {common} ones ({common_definition}, {common_n}): a "
        "difference of {difference} {interval} ({level})."
    ),
    "extremes.insufficient": (
        "The difference in macro {metric} between the {rare} classes ({rare_value}) and the "
        "{common} ones ({common_value}), {difference} {interval} ({level}), rests on classes "
        "with fewer than {min_support} true samples: without them it is not established, so no "
        "claim is made."
    ),
    "extremes.none": (
        "No evidence that the {rare} classes ({rare_n}) differ from the {common} ones in macro "
        "{metric}: {rare_value} against {common_value}, difference {difference} {interval} "
        "({level}) includes zero."
    ),
    "stratum": (
        "The {stratum} classes ({definition}, {n}) have macro {metric} {value}, {direction} the "
        "other classes by {magnitude} (difference {difference} {interval}; {level})."
    ),
    "trend": (
        "{Metric} {direction} with prevalence: {difference} per tenfold increase {interval} "
        "({level}; least squares over {n} classes with at least {min_support} samples, each class "
        "one point, prevalence {low} to {high}), a change of {change} ({confidence} interval) from the "
        "rarest to the most common of them; Spearman's rank correlation {spearman} (descriptive)."
    ),
    "trend.none": (
        "No evidence that {metric} changes with prevalence: {difference} per tenfold increase "
        "{interval} ({level}; least squares over {n} classes with at least {min_support} samples, "
        "prevalence {low} to {high}) includes zero."
    ),
    "trend.narrow": (
        "The {n} classes with at least {min_support} samples span {span} decades of prevalence "
        "({low} to {high}): too narrow to say how {metric} changes with prevalence (a trend is "
        "claimed over one decade or more), so none is claimed; the change across the span is in "
        "the table of trends."
    ),
    "classes": "{n} class(es) have {metric} {direction} the micro {metric} {micro} ({level}): "
    "{items}{more}.",
    "classes.immaterial": (
        "{n} class(es) differ from the micro {metric} {micro} by less than the minimum material "
        "effect of {min_effect}, though their intervals exclude zero ({level}): {items}{more}; "
        "they are not reported as divergent."
    ),
    "immaterial": (
        "{What} is statistically distinguishable from zero but smaller than the minimum material "
        "effect of {min_effect}: {difference} {interval} ({level}); it is not reported as a "
        "divergence."
    ),
    "classes.item": "'{label}' {value} (difference {difference} {interval})",
    "no-divergence": (
        "No evidence of divergence between rare and common classes: none of the {m} comparisons "
        "({adjustment}-adjusted, {level} family-wise) excludes zero."
    ),
    "no-divergence.resting": (
        "No established divergence between rare and common classes: of the {m} comparisons "
        "({adjustment}-adjusted, {level} family-wise), {r} exclude zero only with classes of "
        "fewer than {min_support} true samples, on which no claim rests{immaterial}."
    ),
    "no-divergence.immaterial": (
        "No evidence of material divergence between rare and common classes: of the {m} "
        "comparisons ({adjustment}-adjusted, {level} family-wise), {k} exclude zero, each by less "
        "than the minimum material effect of {min_effect}."
    ),
}


@dataclass(frozen=True)
class FindingsInput:
    """What the rules read: the typed results of an audit and its adjusted family of claims
    (``family`` None without intervals)."""

    per_class: tuple
    averages: dict
    strata: tuple
    comparisons: tuple
    gap: dict
    trend: dict
    divergence: tuple
    family: FamilyInfo | None
    claims: dict
    config: AuditConfig
    findings_metrics: tuple


# ------------------------------------------------------------------------------------------------
# helpers


def _severity(effect: float) -> str:
    a = abs(effect)
    return "high" if a >= 0.10 else "medium" if a >= 0.05 else "low"


def _labels(labels, limit=8) -> str:
    shown = ", ".join(f"'{x}'" for x in labels[:limit])
    return shown + (f" and {len(labels) - limit} more" if len(labels) > limit else "")


def _n_classes(n: int) -> str:
    return f"{n} class" if n == 1 else f"{n} classes"


def _cap(text: str) -> str:
    return text[:1].upper() + text[1:]


def _claim_digits(c: Claim) -> int:
    return digits_for_width(c.high - c.low)


def _difference_fields(c: Claim, inp: FindingsInput) -> dict:
    """The formatted numbers of an adjusted claim: its difference and adjusted interval."""
    d = _claim_digits(c)
    return {
        "difference": fmt_number(c.estimate, d, bounds=(0.0,)),
        "interval": fmt_interval(c.low, c.high, d),
        "level": _level(inp) + (f"; {c.scope}" if c.scope else ""),
    }


def _level(inp: FindingsInput) -> str:
    m = inp.family.size if inp.family else 0
    return f"{inp.config.divergence_adjustment.capitalize()}-adjusted interval over {m} comparisons"


def _material(c: Claim, inp: FindingsInput) -> bool:
    return c.material(inp.config.min_effect)


def _effect(c: Claim) -> float:
    return c.estimate if c.effect is None else c.effect


def _immaterial(
    fid: str, what: str, metric, c: Claim, inp: FindingsInput, evidence, classes=()
) -> Finding:
    """A difference whose adjusted interval excludes zero but which is smaller than min_effect."""
    fields = {
        "What": _cap(what),
        "min_effect": fmt_number(inp.config.min_effect, 2),
        **_difference_fields(c, inp),
    }
    return _finding(
        fid, "immaterial", "info", metric, classes, evidence, WORDING["immaterial"].format(**fields)
    )


def _claim_evidence(c: Claim, inp: FindingsInput) -> dict:
    return {
        "p_value": c.p,
        "level": 1 - c.level,
        "adjustment": inp.config.divergence_adjustment,
        "family_size": inp.family.size if inp.family else 0,
        "digits": _claim_digits(c),
        "effect": _effect(c),
        "min_effect": inp.config.min_effect,
        "material": _material(c, inp),
        "scope": c.scope,
    }


def _finding(id_, kind, severity, metric, classes, evidence, text) -> Finding:
    return Finding(id_, kind, severity, metric, tuple(classes), evidence, text)


# ------------------------------------------------------------------------------------------------
# the rules, one per kind of finding


def insufficient_classes(inp: FindingsInput) -> Iterator[Finding]:
    """Classes below min_support: always said."""
    small = [c for c in inp.per_class if "insufficient" in c.flags]
    if not small:
        return
    listed = ", ".join(f"'{c.label}' {c.support}" for c in small[:8]) + (
        ", ..." if len(small) > 8 else ""
    )
    ms = inp.config.min_support
    yield _finding(
        "insufficient-classes",
        "insufficient",
        "info",
        None,
        [c.label for c in small],
        {"min_support": ms, "support": {str(c.label): c.support for c in small}},
        WORDING["insufficient-classes"].format(n=len(small), min_support=ms, listed=listed),
    )


def undefined_values(inp: FindingsInput) -> Iterator[Finding]:
    """Per-class values that are 0/0, per findings metric: always said."""
    for metric in inp.findings_metrics:
        undefined = [
            c
            for c in inp.per_class
            if metric in c.metrics and c.metrics[metric].status == "undefined"
        ]
        if undefined:
            reason = undefined[0].metrics[metric].note or "0/0"
            yield _finding(
                f"undefined-{metric}",
                "undefined",
                "info",
                metric,
                [c.label for c in undefined],
                {"reason": reason},
                WORDING["undefined"].format(
                    Metric=_cap(metric_text(metric)),
                    labels=_labels([c.label for c in undefined]),
                    reason=reason,
                ),
            )


def gaps(inp: FindingsInput) -> Iterator[Finding]:
    """The headline gap, macro - micro, of each findings metric."""
    for metric in inp.findings_metrics:
        c = inp.claims.get(("gap", metric))
        if c is None or not math.isfinite(c.p):
            continue
        macro = inp.averages["macro"].get(metric)
        micro = inp.averages["micro"].get(metric)
        g: GapResult = inp.gap[metric]
        fields = {
            "metric": metric_text(metric),
            "macro": fmt_estimate(macro),
            "micro": fmt_estimate(micro),
            "min_support": inp.config.min_support,
            **_difference_fields(c, inp),
        }
        evidence = {
            "macro": macro,
            "micro": micro,
            "gap": c.estimate,
            "gap_ci_low": c.low,
            "gap_ci_high": c.high,
            **_claim_evidence(c, inp),
            "marginal_gap": g.macro_minus_micro,
            "min_support": inp.config.min_support,
        }
        if (c.significant or c.rests_on_insufficient) and not _material(c, inp):
            what = f"the gap between macro {metric_text(metric)} and micro {metric_text(metric)}"
            yield _immaterial(f"gap-{metric}", what, metric, c, inp, evidence)
            continue
        if c.significant:
            kind, severity = "gap", _severity(c.estimate)
            wording = "gap.lower" if c.estimate < 0 else "gap.higher"
        elif c.rests_on_insufficient:
            unchecked = c.robust is not None and not math.isfinite(c.robust[0])
            kind, severity = "insufficient", "info"
            wording = "gap.unchecked" if unchecked else "gap.insufficient"
        else:
            kind, severity, wording = "no_divergence", "info", "gap.none"
        yield _finding(
            f"gap-{metric}", kind, severity, metric, [], evidence, WORDING[wording].format(**fields)
        )


def extremes(inp: FindingsInput) -> Iterator[Finding]:
    """The rarest configured stratum against the most common one."""
    if not inp.comparisons:
        return
    comp: StrataComparison = inp.comparisons[0]
    by_name = {s.name: s for s in inp.strata}
    rare, common = by_name[comp.a], by_name[comp.b]
    for metric in inp.findings_metrics:
        c = inp.claims.get(("extremes", metric))
        if c is None:
            continue
        names = {
            "metric": metric_text(metric),
            "rare": rare.name,
            "common": common.name,
            "rare_definition": rare.definition.description,
            "common_definition": common.definition.description,
            "rare_n": _n_classes(rare.n_classes),
            "common_n": _n_classes(common.n_classes),
            "min_support": inp.config.min_support,
        }
        fid = f"strata-rare-common-{metric}"
        if not c.eligible:  # below min_support, or (c.not_made) another reason
            yield _finding(
                fid,
                "insufficient",
                "info",
                metric,
                rare.classes,
                {"not_made": c.not_made} if c.not_made else {"min_support": inp.config.min_support},
                WORDING["extremes.not_made"].format(**names, why=c.not_made)
                if c.not_made
                else WORDING["extremes.ineligible"].format(**names),
            )
            continue
        if not math.isfinite(c.p):
            continue
        er, ec = rare.macro[metric], common.macro[metric]
        fields = {
            **names,
            "rare_value": fmt_estimate(er),
            "common_value": fmt_estimate(ec),
            **_difference_fields(c, inp),
        }
        evidence = {
            "rare": er,
            "common": ec,
            "difference": c.estimate,
            "ci_low": c.low,
            "ci_high": c.high,
            **_claim_evidence(c, inp),
            "rare_classes": rare.n_classes,
            "common_classes": common.n_classes,
        }
        if c.significant and not _material(c, inp):
            what = (
                f"the difference in macro {metric_text(metric)} between the {rare.name} and the "
                f"{common.name} classes"
            )
            yield _immaterial(fid, what, metric, c, inp, evidence, rare.classes)
        elif c.significant:
            yield _finding(
                fid,
                "stratum_divergence",
                _severity(c.estimate),
                metric,
                rare.classes,
                evidence,
                WORDING["extremes.claim"].format(**fields),
            )
        elif c.rests_on_insufficient:
            evidence["min_support"] = inp.config.min_support
            yield _finding(
                fid,
                "insufficient",
                "info",
                metric,
                rare.classes,
                evidence,
                WORDING["extremes.insufficient"].format(**fields),
            )
        else:
            yield _finding(
                fid,
                "no_divergence",
                "info",
                metric,
                [],
                evidence,
                WORDING["extremes.none"].format(**fields),
            )


def strata_vs_rest(inp: FindingsInput) -> Iterator[Finding]:
    """Other strata that differ from the rest (not already the two sides of the extremes)."""
    sides = {inp.comparisons[0].a, inp.comparisons[0].b} if inp.comparisons else set()
    for s in inp.strata:
        for metric in inp.findings_metrics:
            c = inp.claims.get(("stratum_vs_rest", s.name, metric))
            if c is None or not c.significant or not c.eligible:
                continue
            if ("extremes", metric) in inp.claims and s.name in sides:
                continue
            e: Estimate = s.macro[metric]
            evidence = {
                "stratum": e,
                "difference": c.estimate,
                "ci_low": c.low,
                "ci_high": c.high,
                **_claim_evidence(c, inp),
            }
            if not _material(c, inp):
                what = (
                    f"the difference in macro {metric_text(metric)} between the {s.name} classes "
                    "and the other classes"
                )
                yield _immaterial(
                    f"stratum-{s.name}-{metric}", what, metric, c, inp, evidence, s.classes
                )
                continue
            fields = {
                "stratum": s.name,
                "definition": s.definition.description,
                "n": _n_classes(s.n_classes),
                "metric": metric_text(metric),
                "value": fmt_estimate(e),
                "direction": "below" if c.estimate < 0 else "above",
                "magnitude": fmt_number(abs(c.estimate), _claim_digits(c), bounds=(0.0,)),
                **_difference_fields(c, inp),
            }
            yield _finding(
                f"stratum-{s.name}-{metric}",
                "stratum_divergence",
                _severity(c.estimate),
                metric,
                s.classes,
                evidence,
                WORDING["stratum"].format(**fields),
            )


def trends(inp: FindingsInput) -> Iterator[Finding]:
    """A metric that rises or falls with prevalence, materially across the observed span."""
    for metric in inp.findings_metrics:
        c = inp.claims.get(("trend", metric))
        t: TrendResult | None = inp.trend.get(metric)
        if t is None:
            continue
        low, high = t.prevalence_range or (math.nan, math.nan)
        if c is None or not c.eligible:
            if (
                inp.family is not None
                and t.span_decades is not None
                and t.span_decades < MIN_SPAN_DECADES
                and (t.n_classes or 0) >= TREND_MIN_CLASSES
            ):
                yield _finding(
                    f"trend-{metric}",
                    "insufficient",
                    "info",
                    metric,
                    [],
                    {
                        "n_classes": t.n_classes,
                        "min_support": inp.config.min_support,
                        "span_decades": t.span_decades,
                        "prevalence_range": list(t.prevalence_range or ()),
                    },
                    WORDING["trend.narrow"].format(
                        n=t.n_classes,
                        min_support=inp.config.min_support,
                        span=fmt_number(t.span_decades, 2, bounds=(0.0,)),
                        low=fmt_percent(low),
                        high=fmt_percent(high),
                        metric=metric_text(metric),
                    ),
                )
            continue
        if not c.significant:
            if math.isfinite(c.p):
                yield _finding(
                    f"trend-{metric}",
                    "no_divergence",
                    "info",
                    metric,
                    [],
                    {
                        "slope": c.estimate,
                        "ci_low": c.low,
                        "ci_high": c.high,
                        **_claim_evidence(c, inp),
                        "n_classes": t.n_classes,
                        "min_support": inp.config.min_support,
                        "prevalence_range": list(t.prevalence_range or ()),
                    },
                    WORDING["trend.none"].format(
                        metric=metric_text(metric),
                        n=t.n_classes,
                        min_support=inp.config.min_support,
                        low=fmt_percent(low),
                        high=fmt_percent(high),
                        **_difference_fields(c, inp),
                    ),
                )
            continue
        e_change = t.change_across_span or Estimate(math.nan, status="undefined")
        change = e_change.estimate
        evidence = {
            "slope": c.estimate,
            "ci_low": c.low,
            "ci_high": c.high,
            **_claim_evidence(c, inp),
            "spearman": t.spearman,
            "change_across_span": e_change,
            "confidence_level": inp.config.confidence_level,
            "n_classes": t.n_classes,
            "min_support": inp.config.min_support,
            "prevalence_range": list(t.prevalence_range or ()),
        }
        if not _material(c, inp):
            what = (
                f"the trend of {metric_text(metric)} with prevalence (a change of "
                f"{fmt_signed(e_change)} from the rarest to the most common class with enough "
                f"samples, {fmt_level(inp.config.confidence_level)} interval; the slope per tenfold "
                "increase follows)"
            )
            yield _immaterial(f"trend-{metric}", what, metric, c, inp, evidence)
            continue
        fields = {
            "Metric": _cap(metric_text(metric)),
            "direction": "rises" if c.estimate > 0 else "falls",
            "spearman": fmt_estimate(t.spearman, bounds=(-1.0, 0.0, 1.0)),
            "n": t.n_classes,
            "min_support": inp.config.min_support,
            "low": fmt_percent(low),
            "high": fmt_percent(high),
            "change": fmt_signed(e_change),
            "confidence": fmt_level(inp.config.confidence_level),
            **_difference_fields(c, inp),
        }
        yield _finding(
            f"trend-{metric}",
            "trend",
            _severity(change),
            metric,
            [],
            evidence,
            WORDING["trend"].format(**fields),
        )


def divergent_classes(inp: FindingsInput) -> Iterator[Finding]:
    """Classes whose metric lies materially below (high severity) or above the micro value; the
    classes whose adjusted interval excludes zero by an immaterial difference, at severity info."""
    values = {str(c.label): c.metrics for c in inp.per_class}
    for metric in inp.findings_metrics:
        rows = [
            (r, r.adjusted)
            for r in inp.divergence
            if r.metric == metric and r.adjusted is not None and r.adjusted.significant
        ]
        micro = inp.averages["micro"][metric]
        m = inp.family.size if inp.family else 0
        groups = (
            ("below", -1, [ra for ra in rows if ra[0].diverges and ra[1].ci_high < 0]),
            ("above", 1, [ra for ra in rows if ra[0].diverges and ra[1].ci_low > 0]),
            ("immaterial", 1, [ra for ra in rows if not ra[0].diverges]),
        )
        for direction, sign, sel in groups:
            if not sel:
                continue
            sel.sort(key=lambda ra: sign * ra[0].vs_micro.estimate)
            evidence = []
            for r, a in sel:
                e = values[str(r.label)][metric]
                evidence.append(
                    {
                        "label": r.label,
                        "value": e.estimate,
                        "value_digits": estimate_digits(e),
                        "difference": r.vs_micro.estimate,
                        "ci_low": a.ci_low,
                        "ci_high": a.ci_high,
                        "p_value": a.p_value,
                        "digits": digits_for_width(a.ci_high - a.ci_low),
                    }
                )
            items = [
                WORDING["classes.item"].format(
                    label=c["label"],
                    value=fmt_number(c["value"], c["value_digits"]),
                    difference=fmt_number(c["difference"], c["digits"], bounds=(0.0,)),
                    interval=fmt_interval(c["ci_low"], c["ci_high"], c["digits"]),
                )
                for c in evidence[:10]
            ]
            fields = {
                "n": len(sel),
                "metric": metric_text(metric),
                "direction": direction,
                "micro": fmt_number(micro.estimate, estimate_digits(micro)),
                "level": _level(inp),
                "items": "; ".join(items),
                "more": f"; and {len(sel) - 10} more" if len(sel) > 10 else "",
                "min_effect": fmt_number(inp.config.min_effect, 2),
            }
            immaterial = direction == "immaterial"
            yield _finding(
                f"classes-{direction}-{metric}",
                "immaterial" if immaterial else "divergent_classes",
                "high" if direction == "below" else "info",
                metric,
                [r.label for r, _ in sel],
                {
                    "micro": micro,
                    "adjustment": inp.config.divergence_adjustment,
                    "family_size": m,
                    "min_effect": inp.config.min_effect,
                    "classes": evidence,
                },
                WORDING["classes.immaterial" if immaterial else "classes"].format(**fields),
            )


#: The rules that make claims, in the order their findings are listed within a severity.
CLAIM_RULES: tuple[Callable[[FindingsInput], Iterator[Finding]], ...] = (
    gaps,
    extremes,
    strata_vs_rest,
    trends,
    divergent_classes,
)

#: Kinds of finding that state a divergence.
CLAIM_KINDS = ("gap", "stratum_divergence", "trend", "divergent_classes")


def build_findings(inp: FindingsInput) -> tuple[Finding, ...]:
    """Every finding of an audit, most severe first (rule order within a severity)."""
    always = [*insufficient_classes(inp), *undefined_values(inp)]
    if inp.family is None:
        return (
            _finding(
                "no-intervals",
                "no_intervals",
                "info",
                None,
                [],
                {"n_resamples": inp.config.n_resamples},
                WORDING["no-intervals"],
            ),
            *always,
        )
    if inp.family.size == 0:
        return (
            _finding(
                "no-divergence",
                "no_evidence_of_divergence",
                "info",
                None,
                [],
                {"family_size": 0, "n_resamples": inp.config.n_resamples},
                WORDING["untestable"],
            ),
            *always,
        )
    findings = always + [f for rule in CLAIM_RULES for f in rule(inp)]
    if not any(f.kind in CLAIM_KINDS for f in findings):
        fam = inp.family
        k = sum(1 for c in inp.claims.values() if c.significant and not _material(c, inp))
        r = sum(1 for c in inp.claims.values() if c.rests_on_insufficient)
        wording = (
            "no-divergence.resting" if r else ("no-divergence.immaterial" if k else "no-divergence")
        )
        findings.insert(
            0,
            _finding(
                "no-divergence",
                "no_evidence_of_divergence",
                "info",
                None,
                [],
                {
                    "family_size": fam.size,
                    "adjustment": fam.adjustment,
                    "confidence_level": fam.confidence_level,
                    "min_effect": inp.config.min_effect,
                    "immaterial": k,
                    "resting_on_insufficient": r,
                    "min_support": inp.config.min_support,
                },
                WORDING[wording].format(
                    m=fam.size,
                    k=k,
                    r=r,
                    min_support=inp.config.min_support,
                    immaterial=(
                        f", and {k} by less than the minimum material effect of "
                        f"{fmt_number(inp.config.min_effect, 2)}"
                        if k
                        else ""
                    ),
                    adjustment=fam.adjustment.capitalize(),
                    level=fmt_level(fam.confidence_level),
                    min_effect=fmt_number(inp.config.min_effect, 2),
                ),
            ),
        )
    order = {s: i for i, s in enumerate(SEVERITIES)}
    return tuple(sorted(findings, key=lambda f: order[f.severity]))  # stable within a severity
