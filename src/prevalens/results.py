"""The result of an audit and its JSON form (schema ``prevalens.audit/1``).

:class:`AuditResult` is the single source of every number that a report, table or export shows.
``to_dict()`` follows the results-JSON contract of DESIGN.md; ``from_dict(to_dict(r))`` gives back
an equal result. NaN (an undefined value) is written as ``null``; the JSON is strict (no NaN or
Infinity tokens) and its keys are in a fixed order, so identical results give identical bytes.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from importlib import resources
from typing import Any

import numpy as np

from .io import InputInfo

__all__ = [
    "SCHEMA_ID",
    "Estimate",
    "ClassResult",
    "RunInfo",
    "DataSummary",
    "AuditResult",
    "load_schema",
]

SCHEMA_ID = "prevalens.audit/1"

#: Top-level keys of the results JSON held in :attr:`AuditResult.analysis`.
_ANALYSIS_KEYS = ("strata_definition", "comparisons", "divergence", "family", "curves")

#: Allowed values of :attr:`Estimate.status`.
STATUSES = ("ok", "undefined", "insufficient", "unstable")


def _num(x):
    """float -> JSON number or null (NaN/inf are not JSON)."""
    if x is None:
        return None
    x = float(x)
    return x if math.isfinite(x) else None


def _from_num(x):
    return math.nan if x is None else float(x)


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
        How the interval was obtained, e.g. ``"wilson"``, ``"bca(stratified, B=2000)"``.
    status : {"ok", "undefined", "insufficient", "unstable"}
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

    @property
    def defined(self) -> bool:
        return not math.isnan(self.estimate)

    def to_dict(self) -> dict:
        out = {
            "estimate": _num(self.estimate),
            "ci_low": _num(self.ci_low),
            "ci_high": _num(self.ci_high),
            "se": _num(self.se),
            "method": self.method,
            "status": self.status,
        }
        if self.note is not None:
            out["note"] = self.note
        if self.undefined_fraction is not None:
            out["undefined_fraction"] = _num(self.undefined_fraction)
        return out

    @classmethod
    def from_dict(cls, d: dict) -> "Estimate":
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
            ("nan" if isinstance(v, float) and math.isnan(v) else v)
            for v in (self.estimate, self.ci_low, self.ci_high, self.se, self.method,
                      self.status, self.note, self.undefined_fraction)
        )

    def __eq__(self, other):
        if not isinstance(other, Estimate):
            return NotImplemented
        return self._key() == other._key()

    def __hash__(self):
        return hash(self._key())


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
            "prevalence": _num(self.prevalence),
            "predicted": int(self.predicted),
            "stratum": self.stratum,
            "flags": list(self.flags),
            "metrics": {k: v.to_dict() for k, v in self.metrics.items()},
        }

    @classmethod
    def from_dict(cls, d: dict) -> "ClassResult":
        return cls(
            label=d["label"],
            support=int(d["support"]),
            prevalence=_from_num(d["prevalence"]),
            predicted=int(d["predicted"]),
            metrics={k: Estimate.from_dict(v) for k, v in d["metrics"].items()},
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
    def from_dict(cls, d: dict) -> "RunInfo":
        return cls(**{k: d.get(k) for k in (
            "created_utc", "seed", "n_resamples", "confidence_level", "interval_method",
            "resampling", "command")}, config=d.get("config") or {})


@dataclass(frozen=True)
class DataSummary:
    """What was audited: the task, sample count, classes and the confusion matrix."""

    task: str
    n_samples: int
    classes: tuple
    confusion_matrix: tuple  # K rows of K ints (rows: truth, columns: prediction)
    has_scores: bool
    scores_are_probabilities: bool
    pred_source: str
    n_clusters: int | None = None

    def to_dict(self) -> dict:
        return {
            "task": self.task,
            "n_samples": int(self.n_samples),
            "n_classes": len(self.classes),
            "classes": list(self.classes),
            "has_scores": self.has_scores,
            "scores_are_probabilities": self.scores_are_probabilities,
            "pred_source": self.pred_source,
            "n_clusters": self.n_clusters,
            "confusion_matrix": [list(map(int, row)) for row in self.confusion_matrix],
        }

    @classmethod
    def from_dict(cls, d: dict) -> "DataSummary":
        return cls(
            task=d["task"],
            n_samples=int(d["n_samples"]),
            classes=tuple(d["classes"]),
            confusion_matrix=tuple(tuple(r) for r in d["confusion_matrix"]),
            has_scores=bool(d["has_scores"]),
            scores_are_probabilities=bool(d["scores_are_probabilities"]),
            pred_source=d["pred_source"],
            n_clusters=d.get("n_clusters"),
        )


def _est_map_to(d):
    return {k: v.to_dict() for k, v in d.items()}


def _est_map_from(d):
    return {k: Estimate.from_dict(v) for k, v in d.items()}


@dataclass(frozen=True)
class AuditResult:
    """The complete, immutable result of an audit.

    ``averages`` maps ``"micro" | "macro" | "weighted"`` to ``{metric: Estimate}``; ``overall``
    maps metric names to :class:`Estimate`. ``strata``, ``gap``, ``trend`` and ``findings`` are
    JSON-ready structures filled by the strata and findings stages.
    """

    run: RunInfo
    data: DataSummary
    per_class: tuple
    averages: dict
    overall: dict
    inputs: tuple = ()
    tool: dict = field(default_factory=lambda: {"name": "prevalens", "version": _version()})
    simultaneous: dict = field(default_factory=dict)
    strata: tuple = ()
    gap: dict = field(default_factory=dict)
    trend: dict = field(default_factory=dict)
    findings: tuple = ()
    analysis: dict = field(default_factory=dict)
    gates: dict | None = None
    baseline: dict | None = None
    schema: str = SCHEMA_ID

    # -- views -------------------------------------------------------------------------------

    @property
    def classes(self) -> tuple:
        return self.data.classes

    def class_result(self, label) -> ClassResult:
        for c in self.per_class:
            if c.label == label:
                return c
        raise KeyError(f"no class {label!r}; classes are {self.data.classes!r}")

    def per_class_values(self, metric: str) -> np.ndarray:
        """Per-class point estimates of ``metric`` in class order (NaN where undefined)."""
        return np.array([c.metrics[metric].estimate if metric in c.metrics else np.nan
                         for c in self.per_class], dtype=float)

    def per_class_frame(self):
        """A pandas DataFrame, one row per class in class order, with each metric's estimate,
        interval and status in columns ``<metric>``, ``<metric>_ci_low``, ``<metric>_ci_high``,
        ``<metric>_status``."""
        import pandas as pd

        rows = []
        for c in self.per_class:
            row = {
                "label": c.label,
                "support": c.support,
                "prevalence": c.prevalence,
                "predicted": c.predicted,
                "stratum": c.stratum,
                "flags": ";".join(c.flags),
            }
            for name, e in c.metrics.items():
                row[name] = e.estimate
                row[f"{name}_ci_low"] = e.ci_low
                row[f"{name}_ci_high"] = e.ci_high
                row[f"{name}_status"] = e.status
            rows.append(row)
        return pd.DataFrame(rows)

    # -- JSON --------------------------------------------------------------------------------

    def to_dict(self) -> dict:
        return {
            "schema": self.schema,
            "tool": dict(self.tool),
            "run": self.run.to_dict(),
            "inputs": [i.to_dict() for i in self.inputs],
            "data": self.data.to_dict(),
            "per_class": [c.to_dict() for c in self.per_class],
            "averages": {k: _est_map_to(v) for k, v in self.averages.items()},
            "overall": _est_map_to(self.overall),
            "simultaneous": self.simultaneous,
            "strata": list(self.strata),
            "gap": self.gap,
            "trend": self.trend,
            "findings": list(self.findings),
            **{key: self.analysis[key] for key in _ANALYSIS_KEYS if key in self.analysis},
            **({"gates": self.gates} if self.gates is not None else {}),
            **({"baseline": self.baseline} if self.baseline is not None else {}),
        }

    def to_json(self, *, indent: int | None = 2) -> str:
        """Strict JSON (no NaN tokens), keys in a fixed order, ending with a newline."""
        return json.dumps(self.to_dict(), indent=indent, allow_nan=False, ensure_ascii=False) + "\n"

    @classmethod
    def from_dict(cls, d: dict) -> "AuditResult":
        if d.get("schema") != SCHEMA_ID:
            from .exceptions import InputError

            raise InputError(
                f"results have schema {d.get('schema')!r}, expected {SCHEMA_ID!r}; "
                "re-run `prevalens audit` with this version"
            )
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
            strata=tuple(d.get("strata", ())),
            gap=d.get("gap", {}),
            trend=d.get("trend", {}),
            findings=tuple(d.get("findings", ())),
            analysis={key: d[key] for key in _ANALYSIS_KEYS if key in d},
            gates=d.get("gates"),
            baseline=d.get("baseline"),
        )

    @classmethod
    def from_json(cls, text: str) -> "AuditResult":
        return cls.from_dict(json.loads(text))


def _version() -> str:
    from ._version import __version__

    return __version__


def load_schema() -> dict:
    """The JSON Schema of the results JSON (``prevalens.audit/1``)."""
    text = resources.files("prevalens").joinpath("schema", "audit-1.schema.json").read_text("utf-8")
    return json.loads(text)
