"""Orchestration (pure): Predictions + AuditConfig -> AuditResult.

Point estimates of the label metrics come from one function of the confusion matrix,
:func:`count_statistics`, that works on a batch axis; the interval engine feeds it B bootstrap
replicates of the matrix, so the point estimate and the replicates are computed by the same code.
"""

from __future__ import annotations

import math
import os
import warnings
from dataclasses import asdict, dataclass, replace
from datetime import datetime, timezone

import numpy as np

from . import metrics as M
from . import ranking as R
from .counts import as_tables
from .exceptions import ConfigError, ProbabilityWarning, UndefinedMetricWarning
from .io import Predictions, predictions_from_arrays
from .results import AuditResult, ClassResult, DataSummary, Estimate, RunInfo

__all__ = [
    "AuditConfig",
    "audit",
    "audit_predictions",
]

PER_CLASS_METRICS = M.PER_CLASS_METRICS
SCORE_PER_CLASS_METRICS = R.SCORE_PER_CLASS_METRICS
SCORE_AVERAGED_METRICS = R.SCORE_AVERAGED_METRICS

_RESAMPLING = ("stratified", "simple")
_INTERVALS = ("bca", "percentile", "basic")
_PROPORTION_INTERVALS = ("wilson", "clopper-pearson", "bootstrap")
_MULTIPLICITY = ("bonferroni", "sidak", "none")


@dataclass(frozen=True)
class AuditConfig:
    """Every option of an audit. Each default is the one DESIGN.md argues for.

    Parameters
    ----------
    n_resamples : int
        Bootstrap replicates B; 0 means point estimates only.
    confidence_level : float
        Of every interval, in (0, 1).
    seed : int, optional
        Seed of the resampling; when None, one is drawn and recorded in ``run.seed``.
    resampling : {"stratified", "simple"}
        Stratified keeps each true class's support fixed in every replicate (as pROC does).
    interval : {"bca", "percentile", "basic"}
        Bootstrap interval method.
    proportion_interval : {"wilson", "clopper-pearson", "bootstrap"}
        For per-class recall, precision, specificity, NPV and prevalence.
    multiplicity : {"bonferroni", "sidak", "none"}
        Adjustment of the simultaneous per-class intervals.
    min_support : int
        Classes with fewer true samples are flagged ``insufficient``.
    score_bootstrap_max_work : float
        Largest N * K * B for which score metrics without an analytic interval are bootstrapped
        over samples; above it their analytic approximations are used (and named in ``method``).
    strata : {"prevalence", "log-quantiles", "support"}
        How classes are grouped (see :class:`prevalens.strata.StrataSpec`).
    strata_cuts : tuple of float, optional
        Cut points: prevalence fractions (default 0.01, 0.10) or support counts.
    strata_groups : int
        Number of groups for ``strata="log-quantiles"``.
    strata_names : tuple of str, optional
        Names of the strata, rarest first.
    divergence_adjustment : {"holm", "bonferroni"}
        Multiplicity adjustment of the family of divergence claims.
    findings_metrics : tuple of str
        Metrics that findings are made about (``roc_auc`` only when there are scores).
    """

    n_resamples: int = 2000
    confidence_level: float = 0.95
    seed: int | None = None
    resampling: str = "stratified"
    interval: str = "bca"
    proportion_interval: str = "wilson"
    multiplicity: str = "bonferroni"
    min_support: int = 10
    score_bootstrap_max_work: float = 1e7
    strata: str = "prevalence"
    strata_cuts: tuple | None = None
    strata_groups: int = 3
    strata_names: tuple | None = None
    divergence_adjustment: str = "holm"
    findings_metrics: tuple = ("recall", "f1", "roc_auc")

    def __post_init__(self):
        for name in ("strata_cuts", "strata_names", "findings_metrics"):
            value = getattr(self, name)
            if value is not None and not isinstance(value, tuple):
                if isinstance(value, (str, bytes)) or not hasattr(value, "__iter__"):
                    raise ConfigError(f"`{name}` must be a list; got {value!r}")
                object.__setattr__(self, name, tuple(value))
        _check_config(self)

    def to_dict(self) -> dict:
        """JSON-ready (tuples as lists), as recorded in ``run.config``."""
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}


def _check_config(c: AuditConfig) -> None:
    def choice(name, allowed):
        value = getattr(c, name)
        if value not in allowed:
            raise ConfigError(f"`{name}` must be one of {', '.join(map(repr, allowed))}; got {value!r}")

    if isinstance(c.n_resamples, bool) or not isinstance(c.n_resamples, (int, np.integer)) or c.n_resamples < 0:
        raise ConfigError(f"`n_resamples` must be a whole number >= 0; got {c.n_resamples!r}")
    if 0 < c.n_resamples < 100:
        raise ConfigError(
            f"`n_resamples` must be 0 (no intervals) or at least 100; got {c.n_resamples} "
            "(2000 is the default)"
        )
    cl = c.confidence_level
    if isinstance(cl, bool) or not isinstance(cl, (int, float)) or not (0 < cl < 1):
        raise ConfigError(f"`confidence_level` must be a number between 0 and 1 (e.g. 0.95); got {cl!r}")
    if c.seed is not None and (isinstance(c.seed, bool) or not isinstance(c.seed, (int, np.integer)) or c.seed < 0):
        raise ConfigError(f"`seed` must be a whole number >= 0 or None; got {c.seed!r}")
    choice("resampling", _RESAMPLING)
    choice("interval", _INTERVALS)
    choice("proportion_interval", _PROPORTION_INTERVALS)
    choice("multiplicity", _MULTIPLICITY)
    if isinstance(c.min_support, bool) or not isinstance(c.min_support, (int, np.integer)) or c.min_support < 0:
        raise ConfigError(f"`min_support` must be a whole number >= 0; got {c.min_support!r}")
    choice("strata", ("prevalence", "log-quantiles", "support"))
    choice("divergence_adjustment", ("holm", "bonferroni"))
    if c.strata_cuts is not None:
        cuts = c.strata_cuts
        if not cuts or not all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in cuts):
            raise ConfigError(f"`strata_cuts` must be a non-empty list of numbers; got {list(cuts)!r}")
        if any(b <= a for a, b in zip(cuts, cuts[1:])):
            raise ConfigError(f"`strata_cuts` must be strictly increasing; got {list(cuts)!r}")
        if c.strata == "prevalence" and not all(0 < x < 1 for x in cuts):
            raise ConfigError(
                f"`strata_cuts` on prevalence must lie between 0 and 1 (e.g. 0.01, 0.1); got {list(cuts)!r}")
    if c.strata == "support" and c.strata_cuts is None:
        raise ConfigError("`strata=\"support\"` needs `strata_cuts` (support counts, e.g. 10, 100)")
    if isinstance(c.strata_groups, bool) or not isinstance(c.strata_groups, (int, np.integer)) or c.strata_groups < 2:
        raise ConfigError(f"`strata_groups` must be a whole number >= 2; got {c.strata_groups!r}")
    if c.strata_names is not None:
        n_groups = c.strata_groups if c.strata == "log-quantiles" else len(c.strata_cuts or (0.01, 0.1)) + 1
        if len(c.strata_names) != n_groups or len(set(c.strata_names)) != n_groups:
            raise ConfigError(
                f"`strata_names` must give {n_groups} different names, rarest first; got {list(c.strata_names)!r}")
    allowed = M.AVERAGED_METRICS + ("roc_auc",)
    bad = [m for m in c.findings_metrics if m not in allowed]
    if bad or not c.findings_metrics:
        raise ConfigError(
            f"`findings_metrics` must be a non-empty list of {', '.join(allowed)}; got {list(c.findings_metrics)!r}")


# ------------------------------------------------------------------------------------------------
# public entry points


def audit(
    y_true,
    y_pred=None,
    *,
    y_score=None,
    labels=None,
    cluster=None,
    n_resamples: int = 2000,
    confidence_level: float = 0.95,
    seed: int | None = None,
    resampling: str = "stratified",
    interval: str = "bca",
    proportion_interval: str = "wilson",
    multiplicity: str = "bonferroni",
    min_support: int = 10,
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
    n_resamples, confidence_level, seed, resampling, interval, proportion_interval,
    multiplicity, min_support
        See :class:`AuditConfig`.

    Returns
    -------
    AuditResult

    Examples
    --------
    >>> r = audit(["a", "a", "b", "c"], ["a", "b", "b", "c"], n_resamples=0)
    >>> round(r.averages["macro"]["recall"].estimate, 4)
    0.8333
    >>> r.averages["micro"]["f1"].estimate == r.overall["accuracy"].estimate
    True
    """
    config = AuditConfig(
        n_resamples=n_resamples,
        confidence_level=confidence_level,
        seed=seed,
        resampling=resampling,
        interval=interval,
        proportion_interval=proportion_interval,
        multiplicity=multiplicity,
        min_support=min_support,
    )
    pred = predictions_from_arrays(y_true, y_pred, y_score=y_score, labels=labels, cluster=cluster)
    return _audit(pred, config, None, stacklevel=3)


def audit_predictions(
    predictions: Predictions, config: AuditConfig | None = None, *, command: str | None = None
) -> AuditResult:
    """Audit validated predictions (from :func:`prevalens.load_predictions`).

    Parameters
    ----------
    predictions : Predictions
    config : AuditConfig, optional
        Default ``AuditConfig()``.
    command : str, optional
        The command line that started the audit, recorded in ``run.command``.
    """
    return _audit(predictions, config, command, stacklevel=3)


def _audit(predictions, config, command, *, stacklevel) -> AuditResult:
    """The audit itself; ``stacklevel`` makes warnings point at the user's call."""
    config = config or AuditConfig()
    if not isinstance(predictions, Predictions):
        raise ConfigError(
            "`predictions` must be a Predictions object from load_predictions(); "
            f"got {type(predictions).__name__}"
        )
    pred = predictions
    seed = config.seed
    if seed is None:
        # No hidden default: draw a seed from the OS and record it so the run can be repeated.
        seed = int(np.random.SeedSequence().entropy % (2**63))
    config = replace(config, seed=seed)

    cm = pred.counts().matrix
    point = {k: np.asarray(v) for k, v in M.count_statistics(cm).items()}
    if pred.y_score is not None and not pred.scores_are_probabilities:
        warnings.warn(
            "scores are not probabilities (rows do not all lie in [0, 1] and sum to 1), so log "
            "loss and Brier score are not computed; ranking metrics (ROC AUC, average precision, "
            "top-k accuracy) are",
            ProbabilityWarning,
            stacklevel=stacklevel,
        )
    from .strata import StrataSpec, analyse, assign_strata, auc_strata_weights

    spec = StrataSpec(method=config.strata, cuts=config.strata_cuts,
                      n_groups=config.strata_groups, names=config.strata_names)
    strata_index, strata_defs, _ = assign_strata(cm.sum(axis=1), spec)
    extra = None
    if pred.y_score is not None:
        extra = auc_strata_weights(strata_index, len(strata_defs),
                                   np.bincount(pred.y_true, minlength=pred.n_classes), pred.n_samples)
    summary = None
    if pred.y_score is not None:
        score_point, summary = R.score_statistics(
            pred.y_true, pred.y_score, probabilities=pred.scores_are_probabilities,
            cluster=pred.cluster, extra_weights=extra)
        point.update(score_point)

    intervals: dict = {}
    simultaneous: dict = {}
    engine = None
    if config.n_resamples > 0:
        from .uncertainty import compute_intervals

        intervals, simultaneous, engine = compute_intervals(pred, cm, point, config, summary)
    fm = tuple(m for m in config.findings_metrics if m != "roc_auc" or pred.has_scores)
    config_f = replace(config, findings_metrics=fm or ("recall",))
    analysis = analyse(pred, cm, point, engine, config_f, spec)

    result = _assemble(pred, cm, point, intervals, simultaneous, config, command)
    result = _with_analysis(result, analysis, strata_index, strata_defs, config_f)
    if pred.y_score is not None:
        curves = R.curve_summary(pred.y_true, pred.y_score,
                                 rng=np.random.SeedSequence(config.seed).spawn(3)[2])
        if config.n_resamples > 0 and pred.cluster is None:
            curves["bands"] = R.curve_bands(
                pred.y_true, pred.y_score, confidence_level=config.confidence_level,
                resampling=config.resampling, rng=np.random.SeedSequence(config.seed, spawn_key=(3,)))
        elif config.n_resamples > 0:
            curves["bands"] = {"method": None, "level": config.confidence_level,
                               "note": "no bands: a cluster bootstrap of the curves is not "
                                       "implemented in this version"}
        result = replace(result, analysis={**result.analysis, "curves": curves})
    _warn_undefined(result, stacklevel=stacklevel + 1)
    return result


# ------------------------------------------------------------------------------------------------
# assembly


def _created_utc() -> str:
    epoch = os.environ.get("SOURCE_DATE_EPOCH")
    if epoch:
        try:
            when = datetime.fromtimestamp(int(epoch), tz=timezone.utc)
        except (ValueError, OverflowError, OSError):
            raise ConfigError(
                f"SOURCE_DATE_EPOCH must be a whole number of seconds since 1970; got {epoch!r}"
            ) from None
    else:
        when = datetime.now(timezone.utc).replace(microsecond=0)
    return when.strftime("%Y-%m-%dT%H:%M:%SZ")


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


def _estimate(key, value, intervals, *, status_hint="ok", note=None) -> Estimate:
    value = float(value)
    ci = intervals.get(key)
    if math.isnan(value):
        return Estimate(value, status="undefined", note=note,
                        method=ci["method"] if ci else None)
    if ci is None:
        return Estimate(value, status=status_hint, note=note)
    status = status_hint
    if ci.get("unstable"):
        status = "unstable"
    return Estimate(
        value,
        ci_low=ci["low"],
        ci_high=ci["high"],
        se=ci.get("se", math.nan),
        method=ci["method"],
        status=status,
        note=ci.get("note") or note,
        undefined_fraction=ci.get("undefined_fraction"),
    )


def _assemble(pred, cm, point, intervals, simultaneous, config, command) -> AuditResult:
    k = pred.n_classes
    support = cm.sum(axis=1)
    predicted = cm.sum(axis=0)
    n = int(cm.sum())
    per_class_metrics = PER_CLASS_METRICS + (SCORE_PER_CLASS_METRICS if pred.has_scores else ())
    classes = []
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
        for name in per_class_metrics:
            key = f"per_class.{name}"
            value = point[key][j]
            note = _PER_CLASS_REASONS.get(name) if np.isnan(value) else None
            metrics[name] = _estimate((key, j), value, intervals, status_hint=hint, note=note)
        classes.append(
            ClassResult(
                label=pred.classes[j],
                support=int(support[j]),
                prevalence=float(support[j] / n),
                predicted=int(predicted[j]),
                metrics=metrics,
                flags=tuple(flags),
            )
        )
    averages = {"micro": {}, "macro": {}, "weighted": {}}
    names = M.AVERAGED_METRICS + (SCORE_AVERAGED_METRICS if pred.has_scores else ())
    for avg in averages:
        for name in names:
            key = f"{avg}.{name}"
            averages[avg][name] = _estimate(key, point[key], intervals,
                                            note=_AVERAGE_REASONS[avg] if np.isnan(point[key]) else None)
    overall = {}
    for key in sorted(point, key=_overall_order):
        if key.startswith("overall."):
            name = key.split(".", 1)[1]
            overall[name] = _estimate(key, point[key], intervals,
                                      note=_OVERALL_REASONS.get(name) if np.isnan(point[key]) else None)
    if pred.has_scores and not pred.scores_are_probabilities:
        for name in ("log_loss", "brier"):
            overall[name] = Estimate(
                math.nan, status="undefined",
                note="not computed: scores are not probabilities (rows must lie in [0, 1] and sum to 1)",
            )
    data = DataSummary(
        task=pred.task,
        n_samples=n,
        classes=pred.classes,
        confusion_matrix=tuple(tuple(int(x) for x in row) for row in cm),
        has_scores=pred.has_scores,
        scores_are_probabilities=pred.scores_are_probabilities,
        pred_source=pred.pred_source,
        n_clusters=pred.n_clusters,
    )
    resampling = config.resampling if pred.cluster is None else "cluster"
    run = RunInfo(
        created_utc=_created_utc(),
        seed=config.seed,
        n_resamples=config.n_resamples,
        confidence_level=config.confidence_level,
        interval_method=config.interval if config.n_resamples else "none",
        resampling=resampling,
        command=command,
        config=config.to_dict(),
    )
    return AuditResult(
        run=run,
        data=data,
        per_class=tuple(classes),
        averages=averages,
        overall=overall,
        inputs=tuple(pred.inputs),
        simultaneous=simultaneous,
    )


def _with_analysis(result, analysis, strata_index, strata_defs, config):
    """Attach strata, gap, trend, divergence and findings to the result, and each class's
    stratum and ``diverges`` flag."""
    from .findings import build_findings

    diverging = {(r["label"]) for r in analysis["divergence"] if r["diverges"]}
    per_class = []
    for j, c in enumerate(result.per_class):
        g = strata_index[j]
        flags = tuple(c.flags) + (("diverges",) if c.label in diverging else ())
        per_class.append(replace(c, stratum=strata_defs[g]["name"] if g >= 0 else None, flags=flags))
    result = replace(result, per_class=tuple(per_class))
    parts = result.to_dict()
    findings = build_findings(parts, analysis if result.run.n_resamples else None, config)
    return replace(
        result,
        strata=tuple(_single_class_strata(analysis["strata"], result)),
        gap=analysis["gap"],
        trend=analysis["trend"],
        findings=tuple(findings),
        analysis={
            "strata_definition": analysis["strata_definition"],
            "comparisons": analysis["comparisons"],
            "divergence": analysis["divergence"],
            "family": analysis["family"],
        },
    )


def _single_class_strata(strata, result):
    """A stratum of one class: its macro and micro averages *are* that class's metric. When the
    bootstrap gives no interval (every replicate equal, e.g. recall 0 of 3 under the stratified
    scheme), use the class's own interval (Wilson for proportions), which exists, and say so."""
    by_label = {c.label: c for c in result.per_class}
    out = []
    for entry in strata:
        if entry["n_classes"] == 1:
            c = by_label[entry["classes"][0]]
            entry = {**entry}
            for avg in ("macro", "micro"):
                block = dict(entry[avg])
                for name, e in block.items():
                    own = c.metrics.get(name)
                    if (own is not None and e.get("ci_low") is None and e.get("estimate") is not None
                            and own.ci_low == own.ci_low and own.estimate == e["estimate"]):
                        block[name] = {**own.to_dict(), "note": (
                            f"one class in this stratum: the interval of class {c.label!r} "
                            f"({own.method}); the bootstrap interval is degenerate")}
                entry[avg] = block
        out.append(entry)
    return out


_OVERALL_ORDER = ("accuracy", "balanced_accuracy", "cohen_kappa", "mcc", "roc_auc_ovo",
                  "top_3_accuracy", "top_5_accuracy", "log_loss", "brier")


def _overall_order(key: str):
    name = key.split(".", 1)[-1]
    return (_OVERALL_ORDER.index(name) if name in _OVERALL_ORDER else len(_OVERALL_ORDER), key)


def _warn_undefined(result: AuditResult, *, stacklevel: int) -> None:
    """One warning per metric that is undefined for some classes, naming them and why."""
    by_metric: dict[str, list] = {}
    for c in result.per_class:
        for name, e in c.metrics.items():
            if e.status == "undefined":
                by_metric.setdefault(name, []).append(c.label)
    for name, labels in by_metric.items():
        shown = ", ".join(repr(x) for x in labels[:8]) + (", ..." if len(labels) > 8 else "")
        warnings.warn(
            f"{name} is undefined for {len(labels)} class(es) ({shown}): "
            f"{_PER_CLASS_REASONS.get(name, 'division by zero')}. They are reported as undefined "
            "(NaN), not 0, and left out of the macro and weighted averages.",
            UndefinedMetricWarning,
            stacklevel=stacklevel,
        )
