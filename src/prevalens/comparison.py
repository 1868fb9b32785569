"""Typed results of a paired comparison of models (``prevalens.compare``) and their JSON form,
schema ``prevalens.comparison/1``.

A comparison holds, for every pair (each candidate against the reference model), the difference
``candidate - reference`` of every headline, per-class, stratum and gap quantity of the audit,
with the two sides' own estimates (from each model's audit), the difference's interval and
p-value from replicates that keep the pairing, and the Holm-adjusted interval of the claims that
enter the one family of the comparison.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from importlib import resources
from typing import Any

from . import gates as _gates
from .formatting import json_number
from .results import AdjustedInterval, CalibrationStratum, Estimate, FamilyInfo, RunInfo

__all__ = [
    "COMPARISON_SCHEMA_ID",
    "Difference",
    "ClassDifferences",
    "StratumDifferences",
    "PairResult",
    "ModelCalibration",
    "CalibrationByModel",
    "ShiftByModel",
    "ComparisonResult",
    "load_comparison_schema",
]

COMPARISON_SCHEMA_ID = "prevalens.comparison/1"

#: Metrics for which a lower value is better (every other metric: higher is better).
LOWER_IS_BETTER = frozenset({"log_loss", "brier"})


def load_comparison_schema() -> dict:
    """The JSON Schema of a comparison's JSON (``prevalens.comparison/1``)."""
    path = resources.files("prevalens").joinpath("schema", "comparison-1.schema.json")
    return json.loads(path.read_text("utf-8"))


def higher_is_better(metric: str) -> bool | None:
    """Which direction of ``metric`` is better; None for a gap (macro - micro), whose sign says
    where a model is weaker, not whether it is better."""
    if metric.startswith("gap"):
        return None
    return metric not in LOWER_IS_BETTER


def _num(x) -> float | None:
    return json_number(x)


@dataclass(frozen=True)
class Difference:
    """``candidate - reference`` for one quantity, with both sides.

    Attributes
    ----------
    quantity : str
        The name gates use: ``macro.f1``, ``overall.accuracy``, ``class.LABEL.recall``,
        ``stratum.NAME.recall``, ``gap.f1``, ``shift.recall`` (the candidate's change in the
        rarest stratum minus its change in the most common).
    metric : str
    reference, candidate : Estimate
        Each model's own estimate and interval (from its audit); NaN estimates where the quantity
        has no single-model value (``shift``).
    difference : Estimate
        The paired difference and its marginal interval.
    p_value : float
        Two-sided p-value of "no difference", consistent with the marginal interval (NaN when it
        cannot be tested); an upper bound when ``p_bound`` (bootstrap resolution, about 1/B).
    higher_is_better : bool or None
    test : str
        How the interval and p-value were obtained.
    adjusted : AdjustedInterval or None
        For claims in the family: the Holm (or Bonferroni) adjusted interval and decision.
    """

    quantity: str
    metric: str
    reference: Estimate
    candidate: Estimate
    difference: Estimate
    p_value: float
    higher_is_better: bool | None
    test: str
    adjusted: AdjustedInterval | None = None
    #: ``p_value`` is an upper bound ("p < value"): every bootstrap replicate fell on one side
    p_bound: bool = False

    @property
    def better(self) -> str | None:
        """Which side the point estimate favours (``"candidate"``, ``"reference"``), or None
        (no difference, undefined, or no direction). Descriptive: see ``adjusted`` for whether
        the data show it."""
        d = self.difference.estimate
        if self.higher_is_better is None or math.isnan(d) or d == 0:
            return None
        return "candidate" if (d > 0) == self.higher_is_better else "reference"

    @property
    def significant(self) -> bool:
        return bool(self.adjusted is not None and self.adjusted.significant)

    def to_dict(self) -> dict:
        diff = self.difference.to_dict()
        diff["p_value"] = _num(self.p_value)
        diff["p_value_is_bound"] = bool(self.p_bound)
        return {
            "quantity": self.quantity,
            "metric": self.metric,
            "reference": self.reference.to_dict(),
            "candidate": self.candidate.to_dict(),
            "difference": diff,
            "higher_is_better": self.higher_is_better,
            "better": self.better,
            "test": self.test,
            "adjusted": self.adjusted.to_dict() if self.adjusted is not None else None,
        }


@dataclass(frozen=True)
class ClassDifferences:
    label: Any
    support: int
    prevalence: float
    stratum: str | None
    flags: tuple
    metrics: dict  # metric -> Difference

    def to_dict(self) -> dict:
        return {
            "label": self.label,
            "support": int(self.support),
            "prevalence": _num(self.prevalence),
            "stratum": self.stratum,
            "flags": list(self.flags),
            "metrics": {m: d.to_dict() for m, d in self.metrics.items()},
        }


@dataclass(frozen=True)
class StratumDifferences:
    name: str
    classes: tuple
    metrics: dict  # metric -> Difference (of the stratum's macro average)

    def to_dict(self) -> dict:
        return {
            "name": self.name,
            "classes": list(self.classes),
            "metrics": {m: d.to_dict() for m, d in self.metrics.items()},
        }


@dataclass(frozen=True)
class PairResult:
    """One candidate against the reference."""

    reference: str
    candidate: str
    headline: dict  # quantity -> Difference
    per_class: tuple  # ClassDifferences, in class order
    strata: tuple  # StratumDifferences, rarest first
    gap: dict  # metric -> Difference of macro - micro
    shift: dict  # metric -> Difference: change in the rarest minus the most common stratum
    tests: dict  # mcnemar, stuart_maxwell
    #: key (``macro.f1``, ``overall.accuracy``) -> Difference of the headline metrics at the
    #: deployment's prevalences (quantity ``target.KEY``); empty without a target
    target: dict = field(default_factory=dict)

    def rows(self):
        """Every :class:`Difference` of the pair."""
        yield from self.headline.values()
        for c in self.per_class:
            yield from c.metrics.values()
        for s in self.strata:
            yield from s.metrics.values()
        yield from self.gap.values()
        yield from self.shift.values()
        yield from self.target.values()

    def to_dict(self) -> dict:
        return {
            "reference": self.reference,
            "candidate": self.candidate,
            "headline": {k: d.to_dict() for k, d in self.headline.items()},
            "per_class": [c.to_dict() for c in self.per_class],
            "strata": [s.to_dict() for s in self.strata],
            "gap": {k: d.to_dict() for k, d in self.gap.items()},
            "shift": {k: d.to_dict() for k, d in self.shift.items()},
            "tests": self.tests,
        } | ({"target": {k: d.to_dict() for k, d in self.target.items()}} if self.target else {})


#: Why the calibration block of a comparison has no differences and no tests.
CALIBRATION_NOTE = (
    "Calibration differences between models are not tested in the comparison: each model's own "
    "audit tests its calibration, and the paired comparison tests the differences of the Brier "
    "score and the log loss."
)


@dataclass(frozen=True)
class ModelCalibration:
    """One model's calibration summary, as its own audit computed it
    (:class:`prevalens.results.Calibration`): the classwise and top-label ECE and, per
    prevalence stratum, the ECE and the mean intercept and slope. The per-class rows are in the
    model's own audit."""

    classwise_ece: Estimate
    top_label_ece: Estimate
    strata: tuple  # CalibrationStratum, as the audit orders them

    @classmethod
    def from_calibration(cls, cal) -> ModelCalibration:
        return cls(cal.classwise_ece, cal.top_label_ece, tuple(cal.strata))

    def to_dict(self) -> dict:
        return {
            "classwise_ece": self.classwise_ece.to_dict(),
            "top_label_ece": self.top_label_ece.to_dict(),
            "strata": [s.to_dict() for s in self.strata],
        }

    @classmethod
    def from_dict(cls, d: Mapping) -> ModelCalibration:
        return cls(
            Estimate.from_dict(d["classwise_ece"]),
            Estimate.from_dict(d["top_label_ece"]),
            tuple(CalibrationStratum.from_dict(s) for s in d["strata"]),
        )


@dataclass(frozen=True)
class CalibrationByModel:
    """The calibration of each model whose scores are probabilities (descriptive: no paired
    test; see ``note``). ``models`` maps a model's name to its :class:`ModelCalibration`, in
    the comparison's model order."""

    models: dict  # name -> ModelCalibration
    note: str = CALIBRATION_NOTE

    @classmethod
    def from_audits(cls, names, audits: Mapping) -> CalibrationByModel | None:
        """From each model's own audit; None when no model has a calibration."""
        models = {
            name: ModelCalibration.from_calibration(audits[name].calibration)
            for name in names
            if name in audits and getattr(audits[name], "calibration", None) is not None
        }
        return cls(models) if models else None

    def to_dict(self) -> dict:
        return {
            "models": {name: m.to_dict() for name, m in self.models.items()},
            "note": self.note,
        }

    @classmethod
    def from_dict(cls, d: Mapping) -> CalibrationByModel:
        return cls(
            {name: ModelCalibration.from_dict(m) for name, m in d["models"].items()}, d["note"]
        )


#: What the projection block of a comparison holds, and what its differences rest on.
SHIFT_NOTE = (
    "Each model's headline metrics at the deployment's prevalences are its own audit's "
    "projection; the paired differences at the target (each pair's 'target' block) keep the "
    "pairing, each model's rows projected to the same fixed target: accuracy (a fixed mix of "
    "the classes' recalls there) by MOVER over the classes' paired Newcombe limits, the other "
    "metrics from the pair's joint replicates (with a cluster column, every one by the pair's "
    "leave-one-cluster-out jackknife)."
)


@dataclass(frozen=True)
class ShiftByModel:
    """The comparison's projection to the deployment's prevalences (label shift): the target
    (how it was given, the assumption, every class's prevalence) and each model's headline
    metrics there, as its own audit projected them (:class:`prevalens.results.PrevalenceShift`);
    the differences are in each pair's ``target``."""

    source: str
    assumption: str
    target: tuple  # prevalence of every class, in class order
    models: dict  # name -> {key: Estimate} (the headline at the target)
    note: str = SHIFT_NOTE

    @classmethod
    def from_audits(cls, names, audits: Mapping) -> ShiftByModel | None:
        """From each model's own audit; None when no audit projected."""
        shifts = {
            name: audits[name].prevalence_shift
            for name in names
            if name in audits and getattr(audits[name], "prevalence_shift", None) is not None
        }
        if not shifts:
            return None
        first = next(iter(shifts.values()))
        return cls(
            first.source,
            first.assumption,
            tuple(first.target),
            {name: dict(sh.headline) for name, sh in shifts.items()},
        )

    def to_dict(self) -> dict:
        return {
            "source": self.source,
            "assumption": self.assumption,
            "target": [_num(v) for v in self.target],
            "models": {
                name: {"headline": {k: e.to_dict() for k, e in h.items()}}
                for name, h in self.models.items()
            },
            "note": self.note,
        }

    @classmethod
    def from_dict(cls, d: Mapping) -> ShiftByModel:
        return cls(
            d["source"],
            d["assumption"],
            tuple(d["target"]),
            {
                name: {k: Estimate.from_dict(e) for k, e in m["headline"].items()}
                for name, m in d["models"].items()
            },
            d["note"],
        )


@dataclass(frozen=True)
class ComparisonResult:
    """The paired comparison of two or more models on the same samples.

    ``audits`` holds each model's own audit (not part of the JSON form; the CLI writes them
    beside it)."""

    run: RunInfo
    models: tuple  # names, the reference first
    reference: str
    data: dict
    pairs: tuple  # PairResult
    family: FamilyInfo
    findings: tuple  # Finding
    notes: tuple = ()  # Note
    inputs: tuple = ()  # {path, sha256, rows, models}: each input file and the models read from it
    gates: dict | None = None
    #: each model's calibration (models with probabilities); None when no model has them
    calibration: CalibrationByModel | None = None
    #: the projection to the deployment's prevalences; None without a target
    prevalence_shift: ShiftByModel | None = None
    audits: Mapping = field(default_factory=dict, repr=False, compare=False)
    schema: str = COMPARISON_SCHEMA_ID
    tool: dict = field(default_factory=dict)

    def pair(self, candidate: str | None = None) -> PairResult:
        """The pair of ``candidate`` (default: the first candidate) against the reference."""
        for p in self.pairs:
            if candidate is None or p.candidate == candidate:
                return p
        raise KeyError(
            f"no model named {candidate!r}; candidates: {[p.candidate for p in self.pairs]}"
        )

    def with_gates(self, gates, basis: str = "interval", fail_on_regression: bool = False):
        """This result with ``delta.`` gates (e.g. ``["delta.macro.f1 >= -0.02"]``) checked on
        the differences; see :mod:`prevalens.gates`."""
        evaluate = getattr(_gates, "evaluate_comparison_gates", None)
        if evaluate is None:  # pragma: no cover - the gates of differences land separately
            raise NotImplementedError("gates on differences are not available in this version")
        parsed = _gates.parse_gates(gates)
        if not parsed and not fail_on_regression:
            return replace(self, gates=None)
        block = evaluate(self.to_dict(), parsed, basis, fail_on_regression=fail_on_regression)
        return replace(self, gates=block)

    def to_dict(self) -> dict:
        out = {
            "schema": self.schema,
            "tool": dict(self.tool),
            "run": self.run.to_dict(),
            "inputs": [dict(i) for i in self.inputs],
            "data": dict(self.data),
            "models": list(self.models),
            "reference": self.reference,
            "pairs": [p.to_dict() for p in self.pairs],
            "family": self.family.to_dict(),
            "findings": [f.to_dict() for f in self.findings],
            "notes": [n.to_dict() for n in self.notes],
        }
        if self.calibration is not None:
            out["calibration"] = self.calibration.to_dict()
        if self.prevalence_shift is not None:
            out["prevalence_shift"] = self.prevalence_shift.to_dict()
        if self.gates is not None:
            out["gates"] = self.gates
        return out
