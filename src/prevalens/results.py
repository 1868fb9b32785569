"""The result of an audit as typed, immutable values, and their JSON form (``prevalens.audit/1``).

:class:`AuditResult` is the single source of every number that a report, table or export shows.
Each analysis has its own frozen dataclass (:class:`StratumResult`, :class:`GapResult`,
:class:`TrendResult`, :class:`DivergenceResult`, :class:`Finding`, ...) with ``to_dict()`` and
``from_dict()``; JSON appears only at this edge. ``AuditResult.from_dict(r.to_dict()) == r``.
NaN (an undefined value) is written as ``null``; the JSON is strict (no NaN or Infinity tokens) and
its keys are in a fixed order, so identical results give identical bytes.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from importlib import resources
from typing import Any

import numpy as np
import pandas as pd

from . import baseline as _baseline
from . import gates as _gates
from ._version import __version__
from .exceptions import InputError
from .formatting import json_number

__all__ = [
    "SCHEMA_ID",
    "STATUSES",
    "Estimate",
    "InputInfo",
    "ClassResult",
    "RunInfo",
    "DataSummary",
    "SparseConfusion",
    "confusion_record",
    "SPARSE_CONFUSION_MIN_CLASSES",
    "StratumDefinition",
    "StrataDefinition",
    "StratumResult",
    "StrataComparison",
    "Contribution",
    "GapResult",
    "TrendResult",
    "AdjustedInterval",
    "DivergenceResult",
    "FamilyInfo",
    "Finding",
    "Note",
    "ShiftCalibration",
    "ReliabilityBin",
    "CalibrationClass",
    "CalibrationStratum",
    "Calibration",
    "AuditResult",
    "load_schema",
]

SCHEMA_ID = "prevalens.audit/1"

#: Allowed values of :attr:`Estimate.status`:
#:
#: * ``ok``: an estimate with its interval;
#: * ``undefined``: the estimate is 0/0 (NaN), ``note`` says why;
#: * ``insufficient``: a class below ``min_support``: estimate and interval are shown, no finding
#:   rests on it;
#: * ``unstable``: the interval is approximate (the metric was undefined in more than 5% of the
#:   bootstrap replicates, or too few effective clusters support it), ``note`` says why;
#: * ``boundary``: the estimate sits at a bound (e.g. average precision 1) where no interval of
#:   demonstrated coverage exists;
#: * ``no_interval``: no interval (none was asked for, ``n_resamples=0``, or the data give none:
#:   e.g. every bootstrap replicate equal), ``note`` says why.
STATUSES = ("ok", "undefined", "insufficient", "unstable", "boundary", "no_interval", "suppressed")


def _from_num(x) -> float:
    return math.nan if x is None else float(x)


def _nan_key(v):
    return "nan" if isinstance(v, float) and math.isnan(v) else v


# ------------------------------------------------------------------------------------------------
# an estimate


@dataclass(frozen=True)
class Estimate:
    """A point estimate with its confidence interval.

    Attributes
    ----------
    estimate : float
        NaN when undefined.
    ci_low, ci_high : float
        NaN when no interval was computed (``n_resamples=0``) or it is undefined.
    se : float
        Standard error (NaN when not available).
    method : str or None
        How the interval was obtained, e.g. ``"wilson (n=12)"``, ``"bca(stratified bootstrap,
        B=2000)"``.
    status : {"ok", "undefined", "insufficient", "unstable", "boundary", "no_interval", "suppressed"}
    note : str or None
        Why a value is undefined, or other caveats, in words.
    undefined_fraction : float or None
        Share of bootstrap replicates in which the metric was undefined.
    """

    estimate: float
    ci_low: float = math.nan
    ci_high: float = math.nan
    se: float = math.nan
    method: str | None = None
    status: str = "ok"
    note: str | None = None
    undefined_fraction: float | None = None

    def __post_init__(self):
        if self.status not in STATUSES:
            raise ValueError(f"`status` must be one of {STATUSES}, got {self.status!r}")
        # "ok" means an estimate *with* its interval: never "ok" beside a missing bound
        if self.status == "ok" and not math.isnan(self.estimate) and not self.has_interval:
            object.__setattr__(self, "status", "no_interval")

    @property
    def defined(self) -> bool:
        return not math.isnan(self.estimate)

    @property
    def has_interval(self) -> bool:
        return not (math.isnan(self.ci_low) or math.isnan(self.ci_high))

    def to_dict(self) -> dict:
        out = {
            "estimate": json_number(self.estimate),
            "ci_low": json_number(self.ci_low),
            "ci_high": json_number(self.ci_high),
            "se": json_number(self.se),
            "method": self.method,
            "status": self.status,
        }
        if self.note is not None:
            out["note"] = self.note
        if self.undefined_fraction is not None:
            out["undefined_fraction"] = json_number(self.undefined_fraction)
        return out

    @classmethod
    def from_dict(cls, d: Mapping) -> Estimate:
        return cls(
            estimate=_from_num(d["estimate"]),
            ci_low=_from_num(d.get("ci_low")),
            ci_high=_from_num(d.get("ci_high")),
            se=_from_num(d.get("se")),
            method=d.get("method"),
            status=d.get("status", "ok"),
            note=d.get("note"),
            undefined_fraction=d.get("undefined_fraction"),
        )

    def _key(self):
        return tuple(
            _nan_key(v)
            for v in (
                self.estimate,
                self.ci_low,
                self.ci_high,
                self.se,
                self.method,
                self.status,
                self.note,
                self.undefined_fraction,
            )
        )

    def __eq__(self, other):
        if not isinstance(other, Estimate):
            return NotImplemented
        return self._key() == other._key()

    def __hash__(self):
        return hash(self._key())


def _est_map_to(d: Mapping) -> dict:
    return {k: v.to_dict() for k, v in d.items()}


def _est_map_from(d: Mapping) -> dict:
    return {k: Estimate.from_dict(v) for k, v in d.items()}


def _est_or_none(d) -> Estimate | None:
    return None if d is None else Estimate.from_dict(d)


# ------------------------------------------------------------------------------------------------
# what was audited, and how


@dataclass(frozen=True)
class InputInfo:
    """Provenance of one input: its path (None for in-memory data), SHA-256 and row count."""

    path: str | None
    sha256: str | None
    rows: int

    def to_dict(self) -> dict:
        return {"path": self.path, "sha256": self.sha256, "rows": self.rows}


@dataclass(frozen=True)
class ClassResult:
    """Everything about one class: its counts, flags and per-class metrics."""

    label: Any
    support: int
    prevalence: float
    predicted: int
    metrics: dict
    flags: tuple = ()
    stratum: str | None = None

    def to_dict(self) -> dict:
        return {
            "label": self.label,
            "support": int(self.support),
            "prevalence": json_number(self.prevalence),
            "predicted": int(self.predicted),
            "stratum": self.stratum,
            "flags": list(self.flags),
            "metrics": _est_map_to(self.metrics),
        }

    @classmethod
    def from_dict(cls, d: Mapping) -> ClassResult:
        return cls(
            label=d["label"],
            support=int(d["support"]),
            prevalence=_from_num(d["prevalence"]),
            predicted=int(d["predicted"]),
            metrics=_est_map_from(d["metrics"]),
            flags=tuple(d.get("flags", ())),
            stratum=d.get("stratum"),
        )


@dataclass(frozen=True)
class RunInfo:
    """How the audit was run: enough to reproduce every number."""

    created_utc: str
    seed: int | None
    n_resamples: int
    confidence_level: float
    interval_method: str
    resampling: str
    command: str | None = None
    config: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        return {
            "created_utc": self.created_utc,
            "seed": self.seed,
            "n_resamples": self.n_resamples,
            "confidence_level": self.confidence_level,
            "interval_method": self.interval_method,
            "resampling": self.resampling,
            "command": self.command,
            "config": self.config,
        }

    @classmethod
    def from_dict(cls, d: Mapping) -> RunInfo:
        return cls(
            created_utc=d["created_utc"],
            seed=d.get("seed"),
            n_resamples=d["n_resamples"],
            confidence_level=d["confidence_level"],
            interval_method=d["interval_method"],
            resampling=d["resampling"],
            command=d.get("command"),
            config=d.get("config") or {},
        )


#: From this many classes ``results.json`` holds the confusion matrix as its non-zero cells
#: (``data.confusion_matrix_sparse``); below it, as K rows of K counts (``data.confusion_matrix``).
#: At 10,000 classes the dense form was 634 MB.
SPARSE_CONFUSION_MIN_CLASSES = 501


@dataclass(frozen=True)
class SparseConfusion:
    """A K x K confusion matrix by its non-zero cells, in row-major order (rows: truth,
    columns: prediction), as ``results.json`` holds it from
    :data:`SPARSE_CONFUSION_MIN_CLASSES` classes: ``{"shape": [K, K], "rows": [...], "cols":
    [...], "counts": [...]}``. ``numpy.asarray`` of it is the dense matrix."""

    n_classes: int
    rows: tuple
    cols: tuple
    counts: tuple

    @classmethod
    def of(cls, cm) -> SparseConfusion:
        """From a dense or scipy sparse matrix."""
        from .counts import cells_of

        r, c, v = cells_of(cm)
        return cls(int(cm.shape[0]), tuple(map(int, r)), tuple(map(int, c)), tuple(map(int, v)))

    def to_dict(self) -> dict:
        return {
            "shape": [self.n_classes, self.n_classes],
            "rows": list(self.rows),
            "cols": list(self.cols),
            "counts": list(self.counts),
        }

    @classmethod
    def from_dict(cls, d: Mapping) -> SparseConfusion:
        k = int(d["shape"][0])
        return cls(k, tuple(d["rows"]), tuple(d["cols"]), tuple(d["counts"]))

    def toarray(self) -> np.ndarray:
        out = np.zeros((self.n_classes, self.n_classes), dtype=np.int64)
        out[np.asarray(self.rows, dtype=np.int64), np.asarray(self.cols, dtype=np.int64)] = (
            self.counts
        )
        return out

    def __array__(self, dtype=None, copy=None):
        out = self.toarray()
        return out if dtype is None else out.astype(dtype)


def confusion_record(cm) -> tuple | SparseConfusion:
    """The confusion matrix as :class:`DataSummary` holds it: K rows of K ints below
    :data:`SPARSE_CONFUSION_MIN_CLASSES` classes, else a :class:`SparseConfusion`."""
    if cm.shape[0] >= SPARSE_CONFUSION_MIN_CLASSES:
        return SparseConfusion.of(cm)
    dense = cm.toarray() if hasattr(cm, "toarray") else np.asarray(cm)
    return tuple(tuple(int(x) for x in row) for row in dense)


@dataclass(frozen=True)
class DataSummary:
    """What was audited: the task, sample count, classes and the confusion matrix (K rows of K
    ints, or from :data:`SPARSE_CONFUSION_MIN_CLASSES` classes a :class:`SparseConfusion`)."""

    task: str
    n_samples: int
    classes: tuple
    confusion_matrix: tuple | SparseConfusion  # rows: truth, columns: prediction
    has_scores: bool
    scores_are_probabilities: bool
    pred_source: str
    n_clusters: int | None = None
    effective_clusters: float | None = None

    def to_dict(self) -> dict:
        cm = self.confusion_matrix
        return {
            "task": self.task,
            "n_samples": int(self.n_samples),
            "n_classes": len(self.classes),
            "classes": list(self.classes),
            "has_scores": self.has_scores,
            "scores_are_probabilities": self.scores_are_probabilities,
            "pred_source": self.pred_source,
            "n_clusters": self.n_clusters,
            "effective_clusters": json_number(self.effective_clusters),
            **(
                {"confusion_matrix_sparse": cm.to_dict()}
                if isinstance(cm, SparseConfusion)
                else {"confusion_matrix": [list(map(int, row)) for row in cm]}
            ),
        }

    @classmethod
    def from_dict(cls, d: Mapping) -> DataSummary:
        sparse_cm = d.get("confusion_matrix_sparse")
        return cls(
            task=d["task"],
            n_samples=int(d["n_samples"]),
            classes=tuple(d["classes"]),
            confusion_matrix=SparseConfusion.from_dict(sparse_cm)
            if sparse_cm is not None
            else tuple(tuple(r) for r in d["confusion_matrix"]),
            has_scores=bool(d["has_scores"]),
            scores_are_probabilities=bool(d["scores_are_probabilities"]),
            pred_source=d["pred_source"],
            n_clusters=d.get("n_clusters"),
            effective_clusters=d.get("effective_clusters"),
        )


# ------------------------------------------------------------------------------------------------
# prevalence strata


@dataclass(frozen=True)
class StratumDefinition:
    """One prevalence stratum: its name and the interval ``[low, high)`` of ``unit`` it covers
    (``high`` None: unbounded)."""

    name: str
    unit: str
    low: float
    high: float | None
    description: str

    def bounds(self) -> dict:
        return {
            "unit": self.unit,
            "low": self.low,
            "high": self.high,
            "description": self.description,
        }

    def to_dict(self) -> dict:
        return {"name": self.name, **self.bounds()}

    @classmethod
    def from_dict(cls, d: Mapping, name: str | None = None) -> StratumDefinition:
        return cls(
            name if name is not None else d["name"],
            d["unit"],
            d["low"],
            d.get("high"),
            d["description"],
        )


@dataclass(frozen=True)
class StrataDefinition:
    """How classes were grouped: the method, its cut points, the strata that have classes
    (rarest first), the configured strata that were empty, and the classes with no samples."""

    method: str
    cuts: tuple | None
    strata: tuple
    omitted_empty: tuple = ()
    absent_classes: tuple = ()

    def to_dict(self) -> dict:
        return {
            "method": self.method,
            "cuts": None if self.cuts is None else list(self.cuts),
            "strata": [s.to_dict() for s in self.strata],
            "omitted_empty": list(self.omitted_empty),
            "absent_classes": list(self.absent_classes),
        }

    @classmethod
    def from_dict(cls, d: Mapping) -> StrataDefinition:
        return cls(
            d["method"],
            None if d.get("cuts") is None else tuple(d["cuts"]),
            tuple(StratumDefinition.from_dict(s) for s in d.get("strata", ())),
            tuple(d.get("omitted_empty", ())),
            tuple(d.get("absent_classes", ())),
        )


@dataclass(frozen=True)
class StratumResult:
    """A prevalence stratum's classes and its macro and micro metrics with intervals, and the
    difference of its macro metric to the classes of the other strata (``vs_rest``)."""

    definition: StratumDefinition
    classes: tuple
    support: int
    insufficient_classes: tuple = ()
    macro: dict = field(default_factory=dict)
    micro: dict = field(default_factory=dict)
    vs_rest: dict = field(default_factory=dict)

    @property
    def name(self) -> str:
        return self.definition.name

    @property
    def n_classes(self) -> int:
        return len(self.classes)

    def to_dict(self) -> dict:
        return {
            "name": self.name,
            "bounds": self.definition.bounds(),
            "classes": list(self.classes),
            "n_classes": self.n_classes,
            "support": int(self.support),
            "insufficient_classes": list(self.insufficient_classes),
            "macro": _est_map_to(self.macro),
            "micro": _est_map_to(self.micro),
            "vs_rest": _est_map_to(self.vs_rest),
        }

    @classmethod
    def from_dict(cls, d: Mapping) -> StratumResult:
        return cls(
            StratumDefinition.from_dict(d["bounds"], d["name"]),
            tuple(d["classes"]),
            int(d["support"]),
            tuple(d.get("insufficient_classes", ())),
            _est_map_from(d.get("macro", {})),
            _est_map_from(d.get("micro", {})),
            _est_map_from(d.get("vs_rest", {})),
        )


@dataclass(frozen=True)
class StrataComparison:
    """The rarest configured stratum (``a``) against the most common one (``b``): the difference
    of their macro metrics, from joint replicates."""

    a: str
    b: str
    difference: dict

    def to_dict(self) -> dict:
        return {"a": self.a, "b": self.b, "difference": _est_map_to(self.difference)}

    @classmethod
    def from_dict(cls, d: Mapping) -> StrataComparison:
        return cls(d["a"], d["b"], _est_map_from(d["difference"]))


# ------------------------------------------------------------------------------------------------
# the micro-macro gap and the trend


@dataclass(frozen=True)
class Contribution:
    """A class's contribution ``(1/K' - w_k) m_k`` to macro - weighted (``None`` where the metric
    is undefined for the class)."""

    label: Any
    stratum: str | None
    weight: float | None
    contribution: float | None

    def to_dict(self) -> dict:
        return {
            "label": self.label,
            "stratum": self.stratum,
            "weight": json_number(self.weight),
            "contribution": json_number(self.contribution),
        }

    @classmethod
    def from_dict(cls, d: Mapping) -> Contribution:
        return cls(d["label"], d.get("stratum"), d.get("weight"), d.get("contribution"))


@dataclass(frozen=True)
class GapResult:
    """Macro minus micro (and minus weighted) for one metric, with the per-class decomposition
    (label metrics) and, for recall, the covariance form ``-K' Cov(w, r)``."""

    macro_minus_micro: Estimate
    macro_minus_weighted: Estimate | None = None
    decomposition: str | None = None
    contributions: tuple | None = None
    by_stratum: dict | None = None
    sum_of_contributions: float | None = None
    covariance: float | None = None
    n_classes: int | None = None

    def to_dict(self) -> dict:
        out: dict[str, Any] = {"macro_minus_micro": self.macro_minus_micro.to_dict()}
        if self.macro_minus_weighted is not None:
            out["macro_minus_weighted"] = self.macro_minus_weighted.to_dict()
        out["decomposition"] = self.decomposition
        if self.contributions is not None:
            out["contributions"] = [c.to_dict() for c in self.contributions]
            out["by_stratum"] = {k: json_number(v) for k, v in (self.by_stratum or {}).items()}
            out["sum_of_contributions"] = json_number(self.sum_of_contributions)
        if self.covariance is not None:
            out["covariance"] = self.covariance
            out["n_classes"] = self.n_classes
        return out

    @classmethod
    def from_dict(cls, d: Mapping) -> GapResult:
        contributions = d.get("contributions")
        return cls(
            Estimate.from_dict(d["macro_minus_micro"]),
            _est_or_none(d.get("macro_minus_weighted")),
            d.get("decomposition"),
            None
            if contributions is None
            else tuple(Contribution.from_dict(c) for c in contributions),
            d.get("by_stratum"),
            d.get("sum_of_contributions"),
            d.get("covariance"),
            d.get("n_classes"),
        )


@dataclass(frozen=True)
class TrendResult:
    """How a per-class metric moves with prevalence, each class one point: the slope per
    tenfold increase of prevalence (with an interval only when the classes span a decade), the
    change predicted across the observed span, and Spearman's rank correlation (descriptive)."""

    slope_per_decade: Estimate
    spearman: Estimate
    x: str = "log10 prevalence"
    weights: str = "none: each class one point"
    change_across_span: Estimate | None = None
    n_classes: int | None = None
    span_decades: float | None = None
    prevalence_range: tuple | None = None

    def to_dict(self) -> dict:
        out: dict[str, Any] = {"slope_per_decade": self.slope_per_decade.to_dict()}
        if self.change_across_span is not None:
            out["change_across_span"] = self.change_across_span.to_dict()
        out.update(spearman=self.spearman.to_dict(), x=self.x, weights=self.weights)
        if self.n_classes is not None:
            out["n_classes"] = self.n_classes
            out["span_decades"] = json_number(self.span_decades)
            out["prevalence_range"] = (
                None
                if self.prevalence_range is None
                else [json_number(v) for v in self.prevalence_range]
            )
        return out

    @classmethod
    def from_dict(cls, d: Mapping) -> TrendResult:
        pr = d.get("prevalence_range")
        return cls(
            Estimate.from_dict(d["slope_per_decade"]),
            Estimate.from_dict(d["spearman"]),
            d.get("x", "log10 prevalence"),
            d.get("weights", "none: each class one point"),
            _est_or_none(d.get("change_across_span")),
            d.get("n_classes"),
            d.get("span_decades"),
            None if pr is None else tuple(pr),
        )


# ------------------------------------------------------------------------------------------------
# divergent classes and the family of claims


@dataclass(frozen=True)
class AdjustedInterval:
    """A claim's interval adjusted for the family of claims, and its test."""

    p_value: float
    level: float
    ci_low: float
    ci_high: float
    significant: bool
    adjustment: str
    method: str = "normal, bootstrap or DeLong standard error"
    #: the p-value adjusted for the family (Holm's step-down, or Bonferroni), capped at 1;
    #: ``p_value`` is the claim's own (unadjusted) test
    p_adjusted: float | None = None

    def to_dict(self) -> dict:
        out = {
            "p_value": self.p_value,
            "level": self.level,
            "ci_low": self.ci_low,
            "ci_high": self.ci_high,
            "significant": self.significant,
            "adjustment": self.adjustment,
            "method": self.method,
        }
        if self.p_adjusted is not None:
            out["p_adjusted"] = self.p_adjusted
        return out

    @classmethod
    def from_dict(cls, d: Mapping) -> AdjustedInterval:
        return cls(
            d["p_value"],
            d["level"],
            d["ci_low"],
            d["ci_high"],
            d["significant"],
            d["adjustment"],
            d.get("method", ""),
            d.get("p_adjusted"),
        )


@dataclass(frozen=True)
class DivergenceResult:
    """One class's metric against the micro value (and the most common stratum's macro value),
    with the interval adjusted for the family, and whether the class diverges."""

    label: Any
    metric: str
    vs_micro: Estimate
    insufficient: bool
    vs_common: Estimate | None = None
    adjusted: AdjustedInterval | None = None
    diverges: bool = False
    material: bool | None = None  # the difference reaches the minimum material effect

    def to_dict(self) -> dict:
        out: dict[str, Any] = {
            "label": self.label,
            "metric": self.metric,
            "vs_micro": self.vs_micro.to_dict(),
            "insufficient": self.insufficient,
        }
        if self.vs_common is not None:
            out["vs_common"] = self.vs_common.to_dict()
        out["adjusted"] = None if self.adjusted is None else self.adjusted.to_dict()
        out["material"] = self.material
        out["diverges"] = self.diverges
        return out

    @classmethod
    def from_dict(cls, d: Mapping) -> DivergenceResult:
        adj = d.get("adjusted")
        return cls(
            d["label"],
            d["metric"],
            Estimate.from_dict(d["vs_micro"]),
            bool(d["insufficient"]),
            _est_or_none(d.get("vs_common")),
            None if adj is None else AdjustedInterval.from_dict(adj),
            bool(d.get("diverges", False)),
            d.get("material"),
        )


@dataclass(frozen=True)
class FamilyInfo:
    """The family of divergence claims: how it was adjusted and how many claims it holds."""

    adjustment: str
    size: int
    confidence_level: float

    def to_dict(self) -> dict:
        return {
            "adjustment": self.adjustment,
            "size": self.size,
            "confidence_level": self.confidence_level,
        }

    @classmethod
    def from_dict(cls, d: Mapping) -> FamilyInfo:
        return cls(d["adjustment"], int(d["size"]), d["confidence_level"])


@dataclass(frozen=True)
class Finding:
    """A claim the numbers support, in words, with its evidence.

    Every number in ``text`` is printed from a number in ``evidence``.
    """

    id: str
    kind: str
    severity: str
    metric: str | None
    classes: tuple
    evidence: dict
    text: str

    def __post_init__(self):
        # evidence is held in its JSON form, so a finding read back from results.json is equal
        object.__setattr__(self, "classes", tuple(self.classes))
        object.__setattr__(self, "evidence", _jsonable(self.evidence))

    def to_dict(self) -> dict:
        return {
            "id": self.id,
            "kind": self.kind,
            "severity": self.severity,
            "metric": self.metric,
            "classes": list(self.classes),
            "evidence": self.evidence,
            "text": self.text,
        }

    @classmethod
    def from_dict(cls, d: Mapping) -> Finding:
        return cls(
            d["id"],
            d["kind"],
            d["severity"],
            d.get("metric"),
            tuple(d.get("classes", ())),
            dict(d.get("evidence", {})),
            d["text"],
        )


#: Note kinds that put every number of the audit in doubt (the input is likely wrong: rotated
#: score columns, shifted labels, a typo that makes a class): shown as alerts at the top of the
#: report's executive summary and of summary.md, not only among the limitations.
ALERT_KINDS = frozenset(
    {
        "scores-disagree",
        "labels-shifted",
        "labels-permuted",
        "labels-mismatch",
        "likely-typo",
        "hard-scores",
        "single-true-class",
        "log-loss-infinite",
    }
)


@dataclass(frozen=True)
class Note:
    """Something a reader of the results must know that is not a finding: a warning about the
    input (a likely typo, scores that disagree with the predictions), a metric left out of an
    average, an approximation. Every warning an audit emits is also recorded as a note, and the
    report lists the notes among its limitations.

    Attributes
    ----------
    kind : str
        A stable identifier, e.g. ``"undefined-precision"``, ``"likely-typo"``.
    text : str
        One sentence.
    classes : tuple
        The classes it is about (may be empty).
    """

    kind: str
    text: str
    classes: tuple = ()

    def __post_init__(self):
        object.__setattr__(self, "classes", tuple(self.classes))

    def to_dict(self) -> dict:
        return {"kind": self.kind, "text": self.text, "classes": list(self.classes)}

    @classmethod
    def from_dict(cls, d: Mapping) -> Note:
        return cls(d["kind"], d["text"], tuple(d.get("classes", ())))


def _jsonable(x):
    """Evidence as JSON values: typed values through their ``to_dict``, NaN as null."""
    if hasattr(x, "to_dict"):
        return x.to_dict()
    if isinstance(x, Mapping):
        return {k: _jsonable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_jsonable(v) for v in x]
    if isinstance(x, float):
        return json_number(x)
    return x


# ------------------------------------------------------------------------------------------------
# at the deployment's prevalence


@dataclass(frozen=True)
class ShiftClass:
    """A class at the deployment's prevalence: its observed and target prevalence, its recall
    (carried over) and the metrics that move (precision, NPV, F1, specificity) at the target."""

    label: Any
    stratum: str | None
    prevalence: float
    target_prevalence: float
    recall: float
    metrics: dict

    def to_dict(self) -> dict:
        return {
            "label": self.label,
            "stratum": self.stratum,
            "prevalence": self.prevalence,
            "target_prevalence": self.target_prevalence,
            "recall": json_number(self.recall),
            "metrics": _est_map_to(self.metrics),
        }

    @classmethod
    def from_dict(cls, d: Mapping) -> ShiftClass:
        recall = d.get("recall")
        return cls(
            d["label"],
            d.get("stratum"),
            d["prevalence"],
            d["target_prevalence"],
            math.nan if recall is None else recall,
            _est_map_from(d["metrics"]),
        )


@dataclass(frozen=True)
class SweepPoint:
    """The headline metrics when the rarest stratum is ``factor`` times as prevalent as observed
    (``share``: its total prevalence then)."""

    factor: float
    share: float
    metrics: dict

    def to_dict(self) -> dict:
        return {"factor": self.factor, "share": self.share, "metrics": _est_map_to(self.metrics)}

    @classmethod
    def from_dict(cls, d: Mapping) -> SweepPoint:
        return cls(d["factor"], d["share"], _est_map_from(d["metrics"]))


@dataclass(frozen=True)
class ShiftCalibration:
    """A class's probabilities at the deployment's prevalence: the target prevalence, the mean
    probability there as the scores are (``raw_mean``) and after the prior-shift correction
    (``adjusted_mean``), the calibration-in-the-large of the raw probabilities there, and the
    calibration-in-the-large and slope of the corrected ones."""

    label: Any
    target_prevalence: float
    raw_mean: float
    adjusted_mean: float
    raw_intercept: Estimate
    intercept: Estimate
    slope: Estimate

    def to_dict(self) -> dict:
        return {
            "label": self.label,
            "target_prevalence": self.target_prevalence,
            "raw_mean": json_number(self.raw_mean),
            "adjusted_mean": json_number(self.adjusted_mean),
            "raw_intercept": self.raw_intercept.to_dict(),
            "intercept": self.intercept.to_dict(),
            "slope": self.slope.to_dict(),
        }

    @classmethod
    def from_dict(cls, d: Mapping) -> ShiftCalibration:
        return cls(
            d["label"],
            d["target_prevalence"],
            _from_num(d.get("raw_mean")),
            _from_num(d.get("adjusted_mean")),
            Estimate.from_dict(d["raw_intercept"]),
            Estimate.from_dict(d["intercept"]),
            Estimate.from_dict(d["slope"]),
        )

    def __eq__(self, other):
        if not isinstance(other, ShiftCalibration):
            return NotImplemented
        return tuple(map(_nan_key, vars(self).values())) == tuple(
            map(_nan_key, vars(other).values())
        )

    def __hash__(self):
        return hash(self.label)


@dataclass(frozen=True)
class PrevalenceShift:
    """The label metrics projected to the deployment's class prevalences (label shift; see
    :mod:`prevalens.analyses.shift`): how the target was given (``source``), the assumption, the
    interval method, the target prevalence of every class, the per-class and headline metrics at
    the target (``headline`` keyed like ``overall.accuracy``, ``macro.f1``), and the sweep over
    the rarest stratum's prevalence."""

    source: str
    assumption: str
    method: str
    target: tuple
    per_class: tuple
    headline: dict
    sweep_stratum: str
    sweep: tuple
    #: per class, the probabilities' calibration at the target (empty without probabilities)
    calibration: tuple = ()

    def to_dict(self) -> dict:
        out = {
            "source": self.source,
            "assumption": self.assumption,
            "method": self.method,
            "target": list(self.target),
            "per_class": [c.to_dict() for c in self.per_class],
            "headline": _est_map_to(self.headline),
            "sweep_stratum": self.sweep_stratum,
            "sweep": [p.to_dict() for p in self.sweep],
        }
        if self.calibration:
            out["calibration"] = [c.to_dict() for c in self.calibration]
        return out

    @classmethod
    def from_dict(cls, d: Mapping) -> PrevalenceShift:
        return cls(
            d["source"],
            d["assumption"],
            d["method"],
            tuple(d["target"]),
            tuple(ShiftClass.from_dict(c) for c in d["per_class"]),
            _est_map_from(d["headline"]),
            d["sweep_stratum"],
            tuple(SweepPoint.from_dict(p) for p in d["sweep"]),
            tuple(ShiftCalibration.from_dict(c) for c in d.get("calibration", ())),
        )


# ------------------------------------------------------------------------------------------------
# calibration of the probabilities (prevalens.analyses.calibration)


@dataclass(frozen=True)
class ReliabilityBin:
    """One bin of a reliability curve: the range and mean of its probabilities, its rows, the
    observed frequency and that frequency's pointwise interval."""

    low: float
    high: float
    n: int
    mean_score: float
    observed: float
    ci_low: float
    ci_high: float

    def to_dict(self) -> dict:
        return {
            "low": self.low,
            "high": self.high,
            "n": self.n,
            "mean_score": self.mean_score,
            "observed": self.observed,
            "ci_low": json_number(self.ci_low),
            "ci_high": json_number(self.ci_high),
        }

    @classmethod
    def from_dict(cls, d: Mapping) -> ReliabilityBin:
        return cls(
            d["low"],
            d["high"],
            d["n"],
            d["mean_score"],
            d["observed"],
            _from_num(d.get("ci_low")),
            _from_num(d.get("ci_high")),
        )

    def __eq__(self, other):
        if not isinstance(other, ReliabilityBin):
            return NotImplemented
        return tuple(map(_nan_key, vars(self).values())) == tuple(
            map(_nan_key, vars(other).values())
        )

    def __hash__(self):
        return hash(tuple(map(_nan_key, vars(self).values())))


@dataclass(frozen=True)
class CalibrationClass:
    """One class's calibration (one-vs-rest): its observed prevalence against its mean predicted
    probability, calibration-in-the-large (``intercept``, log-odds; > 0: probabilities too low),
    calibration ``slope`` (< 1: over-confident), debiased RMS ``ece``, the Brier score's parts
    (``reliability``, ``resolution``, ``uncertainty``, ``within_bin``) and the reliability
    curve's ``bins``."""

    label: Any
    stratum: str | None
    support: int
    observed: float
    expected: float
    intercept: Estimate
    slope: Estimate
    ece: Estimate
    brier: dict
    bins: tuple

    def to_dict(self) -> dict:
        return {
            "label": self.label,
            "stratum": self.stratum,
            "support": self.support,
            "observed": self.observed,
            "expected": self.expected,
            "intercept": self.intercept.to_dict(),
            "slope": self.slope.to_dict(),
            "ece": self.ece.to_dict(),
            "brier": dict(self.brier),
            "bins": [b.to_dict() for b in self.bins],
        }

    @classmethod
    def from_dict(cls, d: Mapping) -> CalibrationClass:
        return cls(
            d["label"],
            d.get("stratum"),
            d["support"],
            d["observed"],
            d["expected"],
            Estimate.from_dict(d["intercept"]),
            Estimate.from_dict(d["slope"]),
            Estimate.from_dict(d["ece"]),
            dict(d["brier"]),
            tuple(ReliabilityBin.from_dict(b) for b in d["bins"]),
        )


@dataclass(frozen=True)
class CalibrationStratum:
    """A prevalence stratum's calibration: the classwise ECE of its ``n_classes`` classes, and
    the mean intercept and slope over the ``n_used`` of them with at least ``min_support``
    samples."""

    stratum: str
    n_classes: int
    n_used: int
    ece: Estimate
    intercept: Estimate
    slope: Estimate

    def to_dict(self) -> dict:
        return {
            "stratum": self.stratum,
            "n_classes": self.n_classes,
            "n_used": self.n_used,
            "ece": self.ece.to_dict(),
            "intercept": self.intercept.to_dict(),
            "slope": self.slope.to_dict(),
        }

    @classmethod
    def from_dict(cls, d: Mapping) -> CalibrationStratum:
        return cls(
            d["stratum"],
            d["n_classes"],
            d["n_used"],
            Estimate.from_dict(d["ece"]),
            Estimate.from_dict(d["intercept"]),
            Estimate.from_dict(d["slope"]),
        )


@dataclass(frozen=True)
class Calibration:
    """The calibration of the probabilities (see :mod:`prevalens.analyses.calibration`): the
    method in words, the bins, the materiality tolerance, the classwise and top-label ECE, the
    top label's reliability curve, the Brier score's parts summed over classes, per class and by
    stratum."""

    method: str
    n_bins: int
    tolerance: float
    classwise_ece: Estimate
    top_label_ece: Estimate
    top_label_bins: tuple
    brier: dict
    per_class: tuple
    strata: tuple

    def to_dict(self) -> dict:
        return {
            "method": self.method,
            "n_bins": self.n_bins,
            "tolerance": self.tolerance,
            "classwise_ece": self.classwise_ece.to_dict(),
            "top_label_ece": self.top_label_ece.to_dict(),
            "top_label_bins": [b.to_dict() for b in self.top_label_bins],
            "brier": dict(self.brier),
            "per_class": [c.to_dict() for c in self.per_class],
            "strata": [s.to_dict() for s in self.strata],
        }

    @classmethod
    def from_dict(cls, d: Mapping) -> Calibration:
        return cls(
            d["method"],
            d["n_bins"],
            d["tolerance"],
            Estimate.from_dict(d["classwise_ece"]),
            Estimate.from_dict(d["top_label_ece"]),
            tuple(ReliabilityBin.from_dict(b) for b in d["top_label_bins"]),
            dict(d["brier"]),
            tuple(CalibrationClass.from_dict(c) for c in d["per_class"]),
            tuple(CalibrationStratum.from_dict(s) for s in d["strata"]),
        )


# ------------------------------------------------------------------------------------------------
# classes within subgroups (prevalens.analyses.subgroups)


@dataclass(frozen=True)
class SubgroupCell:
    """One class within one level of a grouping: its recall, false-positive rate and precision
    there (status ``suppressed``, no value, when the cell is below ``subgroup_min_cell``)."""

    label: Any
    suppressed: bool
    recall: Estimate
    fpr: Estimate
    precision: Estimate
    #: the class's ROC AUC within the level (None without scores, or when the cell, or the
    #: level's samples of the other classes, are too few to be shown)
    roc_auc: Estimate | None = None

    def to_dict(self) -> dict:
        return {
            "label": self.label,
            "suppressed": self.suppressed,
            "recall": self.recall.to_dict(),
            "fpr": self.fpr.to_dict(),
            "precision": self.precision.to_dict(),
            "roc_auc": self.roc_auc.to_dict() if self.roc_auc is not None else None,
        }

    @classmethod
    def from_dict(cls, d: Mapping) -> SubgroupCell:
        auc = d.get("roc_auc")
        return cls(
            d["label"],
            d["suppressed"],
            Estimate.from_dict(d["recall"]),
            Estimate.from_dict(d["fpr"]),
            Estimate.from_dict(d["precision"]),
            None if auc is None else Estimate.from_dict(auc),
        )


@dataclass(frozen=True)
class SubgroupLevel:
    """One level of a grouping: its size (None when suppressed or withheld), its accuracy and
    its classes' cells."""

    level: str
    n: int | None
    suppressed: bool
    accuracy: Estimate
    cells: tuple  # SubgroupCell, in class order (empty when the level is suppressed)
    #: the level's averages over its shown classes (:mod:`prevalens.analyses.subgroup_averages`):
    #: ``macro.recall``, ``macro.fpr``, ``macro.precision``, ``macro.f1``, ``gap.recall``,
    #: ``gap.f1`` (macro minus accuracy), ``stratum.<name>.recall``/``.f1``,
    #: ``extremes.recall``/``.f1`` (rarest minus most common stratum), ``macro.roc_auc``
    averages: Mapping[str, Estimate] = field(default_factory=dict)

    def to_dict(self) -> dict:
        return {
            "level": self.level,
            "n": self.n,
            "suppressed": self.suppressed,
            "accuracy": self.accuracy.to_dict(),
            "cells": [c.to_dict() for c in self.cells],
            "averages": {key: e.to_dict() for key, e in self.averages.items()},
        }

    @classmethod
    def from_dict(cls, d: Mapping) -> SubgroupLevel:
        return cls(
            d["level"],
            d["n"],
            d["suppressed"],
            Estimate.from_dict(d["accuracy"]),
            tuple(SubgroupCell.from_dict(c) for c in d["cells"]),
            {key: Estimate.from_dict(e) for key, e in (d.get("averages") or {}).items()},
        )


@dataclass(frozen=True)
class Disparity:
    """A level against the rest of the rows (``against == "rest"``) or against the reference
    level (``against`` its name): the difference and the ratio of a proportion (``metric``:
    accuracy, or a class's recall, fpr or precision), level minus (over) the other side.
    ``claim`` is the key of its claim in the family (against the rest), else None."""

    level: str
    against: str
    metric: str
    label: Any
    difference: Estimate
    ratio: Estimate
    p_value: float
    suppressed: bool = False
    claim: tuple | None = None
    adjusted: AdjustedInterval | None = None

    def to_dict(self) -> dict:
        return {
            "level": self.level,
            "against": self.against,
            "metric": self.metric,
            "label": self.label,
            "difference": self.difference.to_dict(),
            "ratio": self.ratio.to_dict(),
            "p_value": json_number(self.p_value),
            "suppressed": self.suppressed,
            "adjusted": self.adjusted.to_dict() if self.adjusted is not None else None,
        }

    @classmethod
    def from_dict(cls, d: Mapping) -> Disparity:
        p = d.get("p_value")
        return cls(
            d["level"],
            d["against"],
            d["metric"],
            d["label"],
            Estimate.from_dict(d["difference"]),
            Estimate.from_dict(d["ratio"]),
            math.nan if p is None else p,
            d.get("suppressed", False),
            None,
            None if d.get("adjusted") is None else AdjustedInterval.from_dict(d["adjusted"]),
        )


@dataclass(frozen=True)
class MaxGap:
    """The largest gap of a proportion across a grouping's levels (highest minus lowest), with
    an interval that accounts for picking the two."""

    metric: str
    label: Any
    gap: Estimate
    highest: str
    lowest: str
    n_levels: int

    def to_dict(self) -> dict:
        return {
            "metric": self.metric,
            "label": self.label,
            "gap": self.gap.to_dict(),
            "highest": self.highest,
            "lowest": self.lowest,
            "n_levels": self.n_levels,
        }

    @classmethod
    def from_dict(cls, d: Mapping) -> MaxGap:
        return cls(
            d["metric"],
            d["label"],
            Estimate.from_dict(d["gap"]),
            d["highest"],
            d["lowest"],
            d["n_levels"],
        )


@dataclass(frozen=True)
class SubgroupGrouping:
    """One grouping (a group column, or an intersection ``a×b``): its levels, the reference
    level, the disparities, the largest gaps, and what was suppressed."""

    name: str
    levels: tuple  # SubgroupLevel
    reference: str
    disparities: tuple  # Disparity
    max_gaps: tuple  # MaxGap
    suppressed_cells: int
    suppressed_levels: int
    missing: int = 0
    notes: tuple = ()

    def to_dict(self) -> dict:
        return {
            "name": self.name,
            "reference": self.reference,
            "levels": [lv.to_dict() for lv in self.levels],
            "disparities": [d.to_dict() for d in self.disparities],
            "max_gaps": [g.to_dict() for g in self.max_gaps],
            "suppressed_cells": self.suppressed_cells,
            "suppressed_levels": self.suppressed_levels,
            "missing": self.missing,
            "notes": list(self.notes),
        }

    @classmethod
    def from_dict(cls, d: Mapping) -> SubgroupGrouping:
        return cls(
            d["name"],
            tuple(SubgroupLevel.from_dict(lv) for lv in d["levels"]),
            d["reference"],
            tuple(Disparity.from_dict(x) for x in d["disparities"]),
            tuple(MaxGap.from_dict(g) for g in d["max_gaps"]),
            d["suppressed_cells"],
            d["suppressed_levels"],
            d.get("missing", 0),
            tuple(d.get("notes", ())),
        )


@dataclass(frozen=True)
class Subgroups:
    """The audit within subgroups (``groups``): every grouping, the suppression threshold and
    whether suppressed values were written (``disclosed``)."""

    method: str
    min_cell: int
    disclosed: bool
    groupings: tuple  # SubgroupGrouping

    def to_dict(self) -> dict:
        return {
            "method": self.method,
            "min_cell": self.min_cell,
            "disclosed": self.disclosed,
            "suppression": (
                f"cells of a class within a level with fewer than {self.min_cell} true samples, "
                f"and levels with fewer than {self.min_cell} rows, are suppressed: no value, no "
                "interval, and no disparity rests on them; counts of a class within a level are "
                "never written"
            ),
            "groupings": [g.to_dict() for g in self.groupings],
        }

    @classmethod
    def from_dict(cls, d: Mapping) -> Subgroups:
        return cls(
            d["method"],
            d["min_cell"],
            d["disclosed"],
            tuple(SubgroupGrouping.from_dict(g) for g in d["groupings"]),
        )


# ------------------------------------------------------------------------------------------------
# the whole result


@dataclass(frozen=True)
class AuditResult:
    """The complete, immutable result of an audit.

    ``averages`` maps ``"micro" | "macro" | "weighted"`` to ``{metric: Estimate}``; ``overall``
    maps metric names to :class:`Estimate`; ``gap`` and ``trend`` map metric names to
    :class:`GapResult` and :class:`TrendResult`. ``gates`` and ``baseline`` are the JSON blocks of
    :func:`prevalens.gates.evaluate_gates` and :func:`prevalens.baseline.compare_with_baseline`.
    """

    run: RunInfo
    data: DataSummary
    per_class: tuple
    averages: dict
    overall: dict
    inputs: tuple = ()
    tool: dict = field(default_factory=lambda: {"name": "prevalens", "version": __version__})
    simultaneous: dict = field(default_factory=dict)
    strata: tuple = ()
    gap: dict = field(default_factory=dict)
    trend: dict = field(default_factory=dict)
    findings: tuple = ()
    notes: tuple = ()
    strata_definition: StrataDefinition | None = None
    comparisons: tuple = ()
    divergence: tuple = ()
    family: FamilyInfo | None = None
    curves: dict | None = None
    gates: dict | None = None
    baseline: dict | None = None
    prevalence_shift: PrevalenceShift | None = None
    calibration: Calibration | None = None
    subgroups: Subgroups | None = None
    schema: str = SCHEMA_ID

    # -- views -------------------------------------------------------------------------------

    @property
    def classes(self) -> tuple:
        return self.data.classes

    @property
    def passed(self) -> bool | None:
        """Whether every quality gate passed (None when no gate is declared)."""
        return None if self.gates is None else self.gates.get("passed")

    def class_result(self, label) -> ClassResult:
        for c in self.per_class:
            if c.label == label:
                return c
        raise KeyError(f"no class {label!r}; classes are {self.data.classes!r}")

    def per_class_values(self, metric: str) -> np.ndarray:
        """Per-class point estimates of ``metric`` in class order (NaN where undefined)."""
        return np.array(
            [c.metrics[metric].estimate if metric in c.metrics else np.nan for c in self.per_class],
            dtype=float,
        )

    def per_class_frame(self):
        """A pandas DataFrame, one row per class in class order: ``label, support, prevalence``
        (with its interval and status beside it), ``predicted, stratum, flags``, then each
        metric's estimate, interval and status in columns ``<metric>``, ``<metric>_ci_low``,
        ``<metric>_ci_high``, ``<metric>_status``."""
        rows = []
        for c in self.per_class:
            row = {"label": c.label, "support": c.support, "prevalence": c.prevalence}
            metrics = dict(c.metrics)
            prev = metrics.pop("prevalence", None)
            if prev is not None:
                row.update(
                    prevalence_ci_low=prev.ci_low,
                    prevalence_ci_high=prev.ci_high,
                    prevalence_status=prev.status,
                )
            row.update(predicted=c.predicted, stratum=c.stratum, flags=";".join(c.flags))
            for name, e in metrics.items():
                row[name] = e.estimate
                row[f"{name}_ci_low"] = e.ci_low
                row[f"{name}_ci_high"] = e.ci_high
                row[f"{name}_status"] = e.status
            rows.append(row)
        return pd.DataFrame(rows)

    # -- gates and baseline ------------------------------------------------------------------

    def with_gates(self, gates, basis: str = "interval") -> AuditResult:
        """This result with quality ``gates`` (e.g. ``["macro.f1 >= 0.70"]``) checked on it;
        see :mod:`prevalens.gates`."""
        parsed = _gates.parse_gates(gates)
        block = _gates.evaluate_gates(self.to_dict(), parsed, basis) if parsed else None
        return replace(self, gates=block)

    def with_baseline(
        self, previous, *, path: str | None = None, sha256: str | None = None
    ) -> AuditResult:
        """This result compared with a ``previous`` audit (an :class:`AuditResult` or its JSON
        dict); see :mod:`prevalens.baseline`."""
        old = previous.to_dict() if isinstance(previous, AuditResult) else dict(previous)
        block = _baseline.compare_with_baseline(
            self.to_dict(), old, path=path or "(in memory)", sha256=sha256 or ""
        )
        return replace(self, baseline=block)

    # -- JSON --------------------------------------------------------------------------------

    def to_dict(self) -> dict:
        out = {
            "schema": self.schema,
            "tool": dict(self.tool),
            "run": self.run.to_dict(),
            "inputs": [i.to_dict() for i in self.inputs],
            "data": self.data.to_dict(),
            "per_class": [c.to_dict() for c in self.per_class],
            "averages": {k: _est_map_to(v) for k, v in self.averages.items()},
            "overall": _est_map_to(self.overall),
            "simultaneous": self.simultaneous,
            "strata": [s.to_dict() for s in self.strata],
            "gap": {k: g.to_dict() for k, g in self.gap.items()},
            "trend": {k: t.to_dict() for k, t in self.trend.items()},
            "findings": [f.to_dict() for f in self.findings],
            "notes": [n.to_dict() for n in self.notes],
        }
        if self.strata_definition is not None:
            out["strata_definition"] = self.strata_definition.to_dict()
            out["comparisons"] = [c.to_dict() for c in self.comparisons]
            out["divergence"] = [r.to_dict() for r in self.divergence]
        if self.family is not None:
            out["family"] = self.family.to_dict()
        if self.curves is not None:
            out["curves"] = self.curves
        if self.prevalence_shift is not None:
            out["prevalence_shift"] = self.prevalence_shift.to_dict()
        if self.calibration is not None:
            out["calibration"] = self.calibration.to_dict()
        if self.subgroups is not None:
            out["subgroups"] = self.subgroups.to_dict()
        if self.gates is not None:
            out["gates"] = self.gates
        if self.baseline is not None:
            out["baseline"] = self.baseline
        return out

    def to_json(self, *, indent: int | None = 2) -> str:
        """Strict JSON (no NaN tokens), keys in a fixed order, ending with a newline."""
        return json.dumps(self.to_dict(), indent=indent, allow_nan=False, ensure_ascii=False) + "\n"

    @classmethod
    def from_dict(cls, d: Mapping) -> AuditResult:
        if d.get("schema") != SCHEMA_ID:
            raise InputError(
                f"results have schema {d.get('schema')!r}, expected {SCHEMA_ID!r}; "
                "re-run `prevalens audit` with this version"
            )
        sd = d.get("strata_definition")
        family = d.get("family")
        return cls(
            schema=d["schema"],
            tool=dict(d["tool"]),
            run=RunInfo.from_dict(d["run"]),
            inputs=tuple(InputInfo(**i) for i in d.get("inputs", [])),
            data=DataSummary.from_dict(d["data"]),
            per_class=tuple(ClassResult.from_dict(c) for c in d["per_class"]),
            averages={k: _est_map_from(v) for k, v in d["averages"].items()},
            overall=_est_map_from(d["overall"]),
            simultaneous=d.get("simultaneous", {}),
            strata=tuple(StratumResult.from_dict(s) for s in d.get("strata", ())),
            gap={k: GapResult.from_dict(g) for k, g in d.get("gap", {}).items()},
            trend={k: TrendResult.from_dict(t) for k, t in d.get("trend", {}).items()},
            findings=tuple(Finding.from_dict(f) for f in d.get("findings", ())),
            notes=tuple(Note.from_dict(n) for n in d.get("notes", ())),
            strata_definition=None if sd is None else StrataDefinition.from_dict(sd),
            comparisons=tuple(StrataComparison.from_dict(c) for c in d.get("comparisons", ())),
            divergence=tuple(DivergenceResult.from_dict(r) for r in d.get("divergence", ())),
            family=None if family is None else FamilyInfo.from_dict(family),
            curves=d.get("curves"),
            prevalence_shift=None
            if d.get("prevalence_shift") is None
            else PrevalenceShift.from_dict(d["prevalence_shift"]),
            calibration=None
            if d.get("calibration") is None
            else Calibration.from_dict(d["calibration"]),
            subgroups=None if d.get("subgroups") is None else Subgroups.from_dict(d["subgroups"]),
            gates=d.get("gates"),
            baseline=d.get("baseline"),
        )

    @classmethod
    def from_json(cls, text: str) -> AuditResult:
        return cls.from_dict(json.loads(text))


def load_schema() -> dict:
    """The JSON Schema of the results JSON (``prevalens.audit/1``)."""
    text = resources.files("prevalens").joinpath("schema", "audit-1.schema.json").read_text("utf-8")
    return json.loads(text)
