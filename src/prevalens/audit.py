"""Orchestration (pure): Predictions + AuditConfig -> AuditResult.

The order of an audit: count the confusion matrix once; reduce every label metric from it
(:func:`~prevalens.metrics.count_statistics`) and every score metric from one ranking pass
(:func:`~prevalens.ranking.score_statistics`); group the classes into prevalence strata; draw the
joint replicates and compute every interval (:func:`~prevalens.uncertainty.compute_intervals`);
run the analyses (strata, gap, trend, divergent classes), adjust their claims as one family, and
turn the typed results into findings; then check the quality gates and compare with the baseline
when the configuration asks for them.
"""

from __future__ import annotations

import inspect
import math
import os
import warnings
from dataclasses import replace
from datetime import UTC, datetime
from typing import cast

import numpy as np

from . import checks as C
from . import gates as _gates
from . import metrics as M
from . import progress
from . import ranking as R
from .analyses.calibration import (
    analyse_calibration,
    calibration_at_target,
    calibration_findings,
)
from .analyses.context import Context
from .analyses.divergence import analyse_divergence, with_adjusted
from .analyses.family import adjust
from .analyses.gap import analyse_gap
from .analyses.shift import analyse_shift, plan_shift, shift_finding
from .analyses.strata import analyse_strata, auc_strata_weights
from .analyses.subgroups import analyse_subgroups, subgroup_findings, subgroups_adjusted
from .analyses.trend import analyse_trend
from .counted import CountedPredictions
from .counts import SPARSE_MIN_CLASSES, col_sums, row_sums
from .exceptions import ConfigError, InputWarning, UndefinedMetricWarning
from .findings import FindingsInput, build_findings
from .io import Predictions, predictions_from_arrays, read_results, renormalized_scores
from .limitations import limitation_notes
from .options import AUDIT_OPTIONS, AuditConfig
from .results import (
    AuditResult,
    ClassResult,
    DataSummary,
    Estimate,
    FamilyInfo,
    Note,
    RunInfo,
    confusion_record,
)
from .strata import StrataSpec, assign_strata
from .uncertainty import ClusterDesign, IntervalTable, compute_intervals

__all__ = ["AuditConfig", "audit", "audit_predictions"]


# ------------------------------------------------------------------------------------------------
# public entry points


def audit(
    y_true,
    y_pred=None,
    *,
    y_score=None,
    labels=None,
    cluster=None,
    groups=None,
    config: AuditConfig | None = None,
    **options,
) -> AuditResult:
    """Audit a multi-class classifier from arrays.

    Parameters
    ----------
    y_true : array-like of shape (n,)
        True labels (strings or integers).
    y_pred : array-like of shape (n,), optional
        Predicted labels; when omitted, the argmax of ``y_score`` (first class on ties).
    y_score : array-like of shape (n, K), optional
        Scores (probabilities for log loss and Brier), columns in class order.
    labels : sequence, optional
        The classes in order; default the sorted union of the labels seen.
    cluster : array-like of shape (n,), optional
        Resampling units (e.g. patient ids).
    groups : mapping of str to array-like of shape (n,), optional
        Group columns to audit within (e.g. ``{"sex": ..., "site": ...}``): see the option
        ``group`` for which groupings (and intersections) are analysed, and ``group_missing``.
    config : AuditConfig, optional
        The options as one object; keyword ``options`` override its fields.
    **options
        Any field of :class:`AuditConfig` (listed below).

    Returns
    -------
    AuditResult

    Other Parameters
    ----------------
    {options}

    Examples
    --------
    >>> r = audit(["a", "a", "b", "c"], ["a", "b", "b", "c"], n_resamples=0)
    >>> round(r.averages["macro"]["recall"].estimate, 4)
    0.8333
    >>> r.averages["micro"]["f1"].estimate == r.overall["accuracy"].estimate
    True
    """
    config = _config(config, options)
    if config.group and groups is None:
        raise ConfigError(
            f"`group` names {config.group[0]!r} but no group columns were given; pass them as "
            "groups={name: values}"
        )
    pred = predictions_from_arrays(
        y_true,
        y_pred,
        y_score=y_score,
        labels=labels,
        cluster=cluster,
        groups=groups,
        group_specs=tuple(config.group),
        group_missing=config.group_missing,
    )
    return _audit(pred, config, None, stacklevel=3)


def audit_predictions(
    predictions: Predictions | CountedPredictions,
    config: AuditConfig | None = None,
    *,
    command: str | None = None,
    **options,
) -> AuditResult:
    """Audit validated predictions (from :func:`prevalens.load_predictions`), or their counted
    cells (:class:`~prevalens.counted.CountedPredictions`, from an engine of
    :mod:`prevalens.engines`: the same numbers, without the rows).

    Parameters
    ----------
    predictions : Predictions or CountedPredictions
    config : AuditConfig, optional
        Default ``AuditConfig()``; keyword ``options`` (fields of :class:`AuditConfig`) override
        its fields.
    command : str, optional
        The command line that started the audit, recorded in ``run.command``.
    """
    return _audit(predictions, _config(config, options), command, stacklevel=3)


def _config(config: AuditConfig | None, options: dict) -> AuditConfig:
    if config is not None and not isinstance(config, AuditConfig):
        raise ConfigError(f"`config` must be an AuditConfig; got {type(config).__name__}")
    if not options:
        return config or AuditConfig()
    merged = {**(config.__dict__ if config is not None else {}), **options}
    return AuditConfig.from_options(merged)


def _options_doc() -> str:
    lines = []
    for o in AUDIT_OPTIONS:
        choices = "{" + ", ".join(repr(c) for c in o.choices) + "}" if o.choices else o.kind
        lines.append(f"{o.key} : {choices}, default {o.default!r}")
        lines.append(f"        {o.help[:1].upper()}{o.help[1:]}.")
    return "\n    ".join(lines)


# One declaration drives the keyword arguments: they are listed in the docstring and the
# signature from the fields of AuditConfig.
audit.__doc__ = (audit.__doc__ or "").replace("{options}", _options_doc())
for _fn in (audit, audit_predictions):
    _sig = inspect.signature(_fn)
    _params = [p for p in _sig.parameters.values() if p.kind is not p.VAR_KEYWORD]
    _params += [
        inspect.Parameter(o.key, inspect.Parameter.KEYWORD_ONLY, default=o.default)
        for o in AUDIT_OPTIONS
    ]
    setattr(_fn, "__signature__", _sig.replace(parameters=_params))  # noqa: B010


# ------------------------------------------------------------------------------------------------
# the audit


def _audit(
    pred: Predictions | CountedPredictions,
    config: AuditConfig,
    command,
    *,
    stacklevel,
    side: bool = False,
) -> AuditResult:
    """The audit itself; ``stacklevel`` makes warnings point at the user's call. ``side=True``
    is one model's audit within a comparison of models: without the ROC and PR curves and
    without the average precisions' intervals, which a comparison neither shows nor compares."""
    if not isinstance(pred, (Predictions, CountedPredictions)):
        raise ConfigError(
            "`predictions` must be a Predictions object from load_predictions(); "
            f"got {type(pred).__name__}"
        )
    # Counted cells answer everything the steps below read of an input without scores (classes,
    # inputs, columns, the counting methods; y_score is None), and raise on any read of rows.
    pred = cast(Predictions, pred)
    if config.group and not getattr(pred, "groups", ()):
        raise ConfigError(
            f"`group` names {config.group[0]!r} but the predictions hold no group columns; "
            "load them with load_predictions(..., groups=[...]) or predictions_from_arrays(..., "
            "groups={name: values})"
        )
    # an audit checks gates on one model: delta gates (a comparison's) are refused before work
    _gates.parse_gates(config.gates, comparison=False)
    previous = read_results(config.baseline, "--baseline") if config.baseline else None
    if config.seed is None:
        # No hidden default: draw a seed from the OS and record it so the run can be repeated.
        entropy = np.random.SeedSequence().entropy
        assert isinstance(entropy, int)  # drawn from the OS, never a sequence here
        config = replace(config, seed=entropy % (2**63))
    if config.renormalize_scores and pred.has_scores and pred.y_score is None:
        raise ConfigError(
            f"renormalize_scores: the {getattr(pred, 'engine', '')} engine ranks the scores as stored and "
            "cannot divide each row by its sum; audit in memory (--engine memory) or leave "
            "--renormalize-scores out"
        )
    renormalized = None
    if config.renormalize_scores and pred.y_score is not None:
        pred, deviation, row = renormalized_scores(pred)
        renormalized = C.Renormalization(deviation, row)

    # 1. point estimates: count once, reduce many; the input's plausibility (prevalens.checks).
    # With thousands of classes the matrix is held sparse: its non-zero cells, not K^2 counts.
    cm = pred.count_matrix()
    notes: list[Note] = []
    stats = C.score_stats(pred)
    for note in C.check_labels(pred, cm, min_support=config.min_support) + C.check_scores(
        pred, stats, cm
    ):
        notes.append(_warn(note, InputWarning, stacklevel))
    for note, category in C.probability_notes(pred, stats, renormalized):
        notes.append(_warn(note, category, stacklevel) if category else note)
    point = {k: np.asarray(v) for k, v in M.count_statistics(cm).items()}
    strata = assign_strata(row_sums(cm), StrataSpec.from_config(config))
    summary = None
    if pred.y_score is not None:
        extra = auc_strata_weights(
            strata.index,
            len(strata.definitions),
            np.bincount(pred.y_true, minlength=pred.n_classes),
            pred.n_samples,
        )
        score_point, summary = R.score_statistics(
            pred.y_true,
            pred.y_score,
            probabilities=pred.scores_are_probabilities,
            cluster=pred.cluster,
            extra_weights=extra,
        )
        point.update(score_point)
    elif pred.has_scores:  # counted ranks (an engine's): the ROC AUCs, exact, without the rows
        summary = _counted_auc(pred, cm, strata, point)
        notes.append(_counted_scores_note(pred))

    # the deployment's prevalences, checked before any resampling: the stratified draws sum the
    # rows for them as they are drawn (prevalens.analyses.shift)
    shift_plan = None
    if config.deployment_prevalence is not None:
        if pred.n_classes >= SPARSE_MIN_CLASSES:
            raise ConfigError(
                f"deployment_prevalence: the projection needs the confusion matrix's rows, and "
                f"{pred.n_classes} classes are beyond the {SPARSE_MIN_CLASSES - 1} it is computed "
                "for; leave the option out for this audit"
            )
        shift_plan = plan_shift(config.deployment_prevalence, pred.classes, row_sums(cm), strata)

    # 2. intervals from one engine
    intervals = None
    if config.n_resamples > 0:
        progress.step(f"auditing: intervals ({config.n_resamples} bootstrap replicates)")
        intervals = compute_intervals(
            pred,
            cm,
            point,
            config,
            summary,
            average_precision=not side,
            row_weights=None if shift_plan is None else shift_plan.row_weights(row_sums(cm)),
        )
    table = intervals.table if intervals is not None else IntervalTable()
    per_class = _per_class(pred, cm, point, table, config, strata)
    averages, overall = _averages_overall(pred, point, table)
    overall = C.qualify_losses(overall, pred, stats, renormalized)

    # 3. analyses, one family of claims, findings
    if intervals is not None:
        progress.step("auditing: analyses and findings")
    ctx = Context(
        pred.classes,
        cm,
        point,
        intervals.engine if intervals else None,
        config,
        strata,
        pred.has_scores,
        per_class,
    )
    strata_results, comparisons, claims = analyse_strata(ctx)
    gap, gap_claims = analyse_gap(ctx)
    trend, trend_claims = analyse_trend(ctx)
    rows, class_claims = analyse_divergence(ctx)
    claims += gap_claims + trend_claims + class_claims
    # calibration of the probabilities: its claims join the one family
    calibration = None
    if pred.y_score is not None and pred.scores_are_probabilities and config.calibration:
        if pred.n_classes >= SPARSE_MIN_CLASSES:
            notes.append(
                Note(
                    "calibration-not-computed",
                    f"Calibration is not computed for {pred.n_classes} classes (it is computed "
                    f"for up to {SPARSE_MIN_CLASSES - 1}).",
                )
            )
        elif pred.clustered and (pred.n_clusters or 0) < 2:
            notes.append(
                Note(
                    "calibration-not-computed",
                    "Calibration is not computed: the rows form a single cluster, and its "
                    "intervals are by cluster (they need at least 2).",
                )
            )
        else:
            progress.step("auditing: calibration of the probabilities")
            calibration, cal_claims = analyse_calibration(pred, strata, config)
            claims += cal_claims
    # classes within subgroups: each level against the rest joins the one family
    subgroups = None
    if getattr(pred, "groups", ()):
        progress.step("auditing: subgroups")
        subgroups = analyse_subgroups(pred, config, claims, strata)
    family = None
    if ctx.has_intervals:
        family = adjust(claims, ctx.alpha, config.divergence_adjustment, config.confidence_level)
    shift = None
    if shift_plan is not None:
        progress.step("auditing: metrics at the deployment's prevalence")
        shift = analyse_shift(
            ctx, shift_plan, cluster_cells=pred.cluster_cells() if pred.clustered else None
        )
        if calibration is not None:  # the probabilities there, as they are and corrected
            shift = replace(shift, calibration=calibration_at_target(pred, shift.target, config))
    by_key = {c.key: c for c in claims}
    subgroups = subgroups_adjusted(subgroups, by_key, config.divergence_adjustment)
    divergence = with_adjusted(rows, by_key, config.divergence_adjustment, config.min_effect)
    diverging = {r.label for r in divergence if r.diverges}
    per_class = tuple(
        replace(c, flags=c.flags + ("diverges",)) if c.label in diverging else c for c in per_class
    )
    findings = build_findings(
        FindingsInput(
            per_class,
            averages,
            strata_results,
            comparisons,
            gap,
            trend,
            divergence,
            family,
            by_key,
            config,
            ctx.findings_metrics,
        )
    )

    rank = {"high": 0, "medium": 1, "low": 2, "info": 3}
    if calibration is not None and family is not None:
        said = calibration_findings(calibration, by_key, config, family.size)
        if said:  # in their place among the findings, most severe first
            findings = tuple(sorted((*findings, *said), key=lambda f: rank.get(f.severity, 4)))
    if subgroups is not None and family is not None:
        said = subgroup_findings(subgroups, by_key, config)
        if said:
            findings = tuple(sorted((*findings, *said), key=lambda f: rank.get(f.severity, 4)))
    if shift is not None:
        projected = shift_finding(shift, averages, overall, row_sums(cm), config)
        if projected is not None:  # in its place among the findings, most severe first
            findings = tuple(sorted((*findings, projected), key=lambda f: rank.get(f.severity, 4)))
    result = AuditResult(
        run=_run_info(pred, config, command),
        data=DataSummary(
            task=pred.task,
            n_samples=int(cm.sum()),
            classes=pred.classes,
            confusion_matrix=confusion_record(cm),
            has_scores=pred.has_scores,
            scores_are_probabilities=pred.scores_are_probabilities,
            pred_source=pred.pred_source,
            n_clusters=pred.n_clusters,
            effective_clusters=(
                ClusterDesign.of_sizes(pred.cluster_sizes()).effective if pred.clustered else None
            ),
        ),
        per_class=per_class,
        averages=averages,
        overall=overall,
        inputs=tuple(pred.inputs),
        simultaneous=intervals.simultaneous if intervals is not None else {},
        strata=strata_results,
        gap=gap,
        trend=trend,
        findings=findings,
        notes=tuple(notes) + _undefined_notes(per_class),
        strata_definition=strata.definition(pred.classes),
        comparisons=comparisons,
        divergence=divergence,
        family=family if family is not None else _no_family(config),
        curves=None if side else _curves(pred, config),
        prevalence_shift=shift,
        calibration=calibration,
        subgroups=subgroups,
    )
    result = replace(
        result,
        notes=result.notes
        + limitation_notes(result, min_support=config.min_support, evaluation=config.evaluation),
    )
    if config.gates:
        result = result.with_gates(config.gates, config.gate_on)
    if previous is not None:
        old, path, sha = previous
        result = result.with_baseline(old, path=str(path), sha256=sha)
    for note in result.notes:
        if note.kind.startswith("undefined-"):
            _warn(note, UndefinedMetricWarning, stacklevel)
    return result


def _warn(note: Note, category, stacklevel: int) -> Note:
    """Emit a note as a warning too (the command line prints it), and return it."""
    warnings.warn(note.text, category, stacklevel=stacklevel + 1)
    return note


def _no_family(config):
    return FamilyInfo(config.divergence_adjustment, 0, config.confidence_level)


def _curves(pred: Predictions, config: AuditConfig) -> dict | None:
    """Micro and macro ROC and PR curves (with bootstrap bands when affordable)."""
    if pred.y_score is None:
        return None
    curves = R.curve_summary(
        pred.y_true, pred.y_score, rng=np.random.SeedSequence(config.seed).spawn(3)[2]
    )
    if config.n_resamples > 0 and pred.cluster is None:
        curves["bands"] = R.curve_bands(
            pred.y_true,
            pred.y_score,
            confidence_level=config.confidence_level,
            resampling=config.resampling,
            rng=np.random.SeedSequence(config.seed, spawn_key=(3,)),
        )
    elif config.n_resamples > 0:
        curves["bands"] = {
            "method": None,
            "level": config.confidence_level,
            "note": "no bands: a cluster bootstrap of the curves is not "
            "implemented in this version",
        }
    return curves


# ------------------------------------------------------------------------------------------------
# assembly


def _created_utc() -> str:
    epoch = os.environ.get("SOURCE_DATE_EPOCH")
    if epoch:
        try:
            when = datetime.fromtimestamp(int(epoch), tz=UTC)
        except (ValueError, OverflowError, OSError):
            raise ConfigError(
                f"SOURCE_DATE_EPOCH must be a whole number of seconds since 1970; got {epoch!r}"
            ) from None
    else:
        when = datetime.now(UTC).replace(microsecond=0)
    return when.strftime("%Y-%m-%dT%H:%M:%SZ")


def _run_info(pred, config, command) -> RunInfo:
    return RunInfo(
        created_utc=_created_utc(),
        seed=config.seed,
        n_resamples=config.n_resamples,
        confidence_level=config.confidence_level,
        interval_method=config.interval if config.n_resamples else "none",
        resampling="cluster" if pred.clustered else config.resampling,
        command=command,
        config=config.to_dict(),
    )


_PER_CLASS_REASONS = dict(M.UNDEFINED_REASONS)
_PER_CLASS_REASONS.update(
    {
        "roc_auc": "ROC AUC needs positives and negatives of the class",
        "average_precision": "no true samples",
        "prevalence": "no samples",
    }
)
_AVERAGE_REASONS = {
    "micro": "undefined: 0/0 over all classes pooled",
    "macro": "undefined: the metric is undefined for every class",
    "weighted": "undefined: the classes where the metric is defined have no true samples",
}
_OVERALL_REASONS = {
    "cohen_kappa": "undefined: chance agreement is 1 (one class only, in truth and prediction)",
    "mcc": "undefined: all samples, or all predictions, are of one class",
    "roc_auc_ovo": "undefined: fewer than two classes are present",
    "balanced_accuracy": "undefined: no class has true samples",
}
_OVERALL_ORDER = (
    "accuracy",
    "balanced_accuracy",
    "cohen_kappa",
    "mcc",
    "roc_auc_ovo",
    "top_3_accuracy",
    "top_5_accuracy",
    "log_loss",
    "brier",
)


def _estimate(key, value, table: IntervalTable, *, status_hint="ok", note=None) -> Estimate:
    value = float(value)
    ci = table.get(key)
    if math.isnan(value):
        return Estimate(value, status="undefined", note=note, method=ci.method if ci else None)
    if ci is None:
        return Estimate(value, status=status_hint, note=note)
    return Estimate(
        value,
        ci_low=ci.low,
        ci_high=ci.high,
        se=ci.se,
        method=ci.method,
        # a status the interval stage set itself (e.g. "boundary": AP = 1) comes first
        status=ci.status or ("unstable" if ci.unstable else status_hint),
        note=ci.note or note,
        undefined_fraction=ci.undefined_fraction,
    )


def _per_class(pred, cm, point, table, config, strata) -> tuple[ClassResult, ...]:
    support = row_sums(cm)
    predicted = col_sums(cm)
    n = int(cm.sum())
    names = M.PER_CLASS_METRICS + pred.score_metrics
    out = []
    for j, label in enumerate(pred.classes):
        flags = []
        if support[j] == 0:
            flags.append("absent")
        elif support[j] < config.min_support:
            flags.append("insufficient")
        if predicted[j] == 0:
            flags.append("never_predicted")
        hint = "insufficient" if "insufficient" in flags else "ok"
        metrics = {}
        for name in names:
            key = f"per_class.{name}"
            value = point[key][j]
            note = _PER_CLASS_REASONS.get(name) if np.isnan(value) else None
            metrics[name] = _estimate((key, j), value, table, status_hint=hint, note=note)
        out.append(
            ClassResult(
                label=label,
                support=int(support[j]),
                prevalence=float(support[j] / n),
                predicted=int(predicted[j]),
                metrics=metrics,
                flags=tuple(flags),
                stratum=strata.name_of(j),
            )
        )
    return tuple(out)


def _averages_overall(pred, point, table) -> tuple[dict, dict]:
    averages: dict[str, dict] = {"micro": {}, "macro": {}, "weighted": {}}
    names = M.AVERAGED_METRICS + pred.score_metrics
    for avg in averages:
        for name in names:
            key = f"{avg}.{name}"
            averages[avg][name] = _estimate(
                key, point[key], table, note=_AVERAGE_REASONS[avg] if np.isnan(point[key]) else None
            )
    overall = {}
    for key in sorted(point, key=_overall_order):
        if key.startswith("overall."):
            name = key.split(".", 1)[1]
            overall[name] = _estimate(
                key,
                point[key],
                table,
                note=_OVERALL_REASONS.get(name) if np.isnan(point[key]) else None,
            )
    if pred.has_scores and not pred.scores_are_probabilities:
        for name in ("log_loss", "brier"):
            overall[name] = Estimate(
                math.nan,
                status="undefined",
                note="not computed: scores are not probabilities (rows must be non-negative and "
                f"sum to 1 within {R.PROBABILITY_ATOL:g}; or set `renormalize_scores`)",
            )
    return averages, overall


def _counted_auc(pred, cm, strata, point):
    """The ROC AUCs of counted ranks (:class:`~prevalens.counted.CountedRanks`): per class, macro
    and weighted, and the ranking summary for their intervals (with the strata's macro AUCs)."""
    ranks = pred.ranks
    support = row_sums(cm)
    n = int(support.sum())
    weights = np.concatenate(
        [
            R.auc_combination_weights(support, n),
            auc_strata_weights(strata.index, len(strata.definitions), support, n),
        ],
        axis=1,
    )
    auc = ranks.auc
    point["per_class.roc_auc"] = auc
    point["macro.roc_auc"] = M.macro(auc)
    point["weighted.roc_auc"] = M.weighted(auc, support)
    point["per_class.average_precision"] = ranks.ap
    point["macro.average_precision"] = M.macro(ranks.ap)
    point["weighted.average_precision"] = M.weighted(ranks.ap, support)
    micro = ranks.micro or {"auc": math.nan, "ap": math.nan}  # none with a single class
    point["micro.roc_auc"] = np.float64(micro["auc"])
    point["micro.average_precision"] = np.float64(micro["ap"])
    losses = ranks.losses
    if losses is not None:
        k = support.size
        for kk in (3, 5):
            if k > 3 and k > kk:
                point[f"overall.top_{kk}_accuracy"] = np.float64(losses.top_k_hits[kk] / n)
        if pred.scores_are_probabilities:
            point["overall.log_loss"] = np.float64(losses.log_loss[0])
            point["overall.brier"] = np.float64(losses.brier[0])
    return ranks.summary(weights)


def _counted_scores_note(pred) -> Note:
    return Note(
        "scores-counted",
        f"The {pred.engine} engine read the score columns out of core: the ROC AUCs and average "
        "precisions (per class, micro, macro and weighted), top-k accuracy, log loss and Brier "
        "score, exact, with the in-memory audit's analytic intervals (not a bootstrap over "
        "samples; the micro ROC AUC's variance from every row, not a subsample). The one-vs-one "
        "ROC AUC, calibration and the ROC and PR curves are not reported; audit the file in "
        "memory (--engine memory) for them.",
    )


def _overall_order(key: str):
    name = key.split(".", 1)[-1]
    return (_OVERALL_ORDER.index(name) if name in _OVERALL_ORDER else len(_OVERALL_ORDER), key)


def _undefined_notes(per_class) -> tuple[Note, ...]:
    """One note per metric that is undefined for some classes, naming them and why."""
    by_metric: dict[str, list] = {}
    for c in per_class:
        for name, e in c.metrics.items():
            if e.status == "undefined":
                by_metric.setdefault(name, []).append(c.label)
    notes = []
    for name, labels in by_metric.items():
        shown = ", ".join(repr(x) for x in labels[:8]) + (", ..." if len(labels) > 8 else "")
        notes.append(
            Note(
                f"undefined-{name}",
                f"{name} is undefined for {len(labels)} class(es) ({shown}): "
                f"{_PER_CLASS_REASONS.get(name, 'division by zero')}. They are reported as undefined "
                "(NaN), not 0, and left out of the macro and weighted averages.",
                tuple(labels),
            )
        )
    return tuple(notes)
