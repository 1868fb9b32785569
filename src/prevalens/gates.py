"""Quality gates: declared thresholds on audit results, for release pipelines.

A gate is a line such as ``macro.f1 >= 0.70`` or ``stratum.rare.recall >= 0.50``. It names a number
of the results and a bound. By default a gate is checked on the *conservative end of the
interval*: the lower bound for ``>=``/``>`` and the upper bound for ``<=``/``<``, so a gate passes
only when the data show the bound is met, not when the point estimate happens to be on the right
side. ``basis="estimate"`` checks the point estimate instead.

Names (``METRIC`` is a metric of the results, e.g. ``f1``, ``recall``, ``roc_auc``):

* ``micro.METRIC``, ``macro.METRIC``, ``weighted.METRIC``: the averages;
* ``overall.METRIC`` or just ``METRIC`` for the overall metrics (``accuracy``, ``mcc``,
  ``cohen_kappa``, ``balanced_accuracy``, ``log_loss``, ``brier``, ``roc_auc_ovo``, ...);
* ``stratum.NAME.METRIC``: the macro average of a prevalence stratum (``rare``, ``uncommon``,
  ``common`` by default);
* ``gap.METRIC``: macro minus micro;
* ``class.LABEL.METRIC``: one class (the label may itself contain dots).

A gate whose value is undefined (NaN, no interval because ``n_resamples=0``, an empty stratum)
fails, and says why: a release gate must not pass on a number that does not exist.

Pure functions over the results dict (``AuditResult.to_dict()``).
"""

from __future__ import annotations

import difflib
import math
import operator
import re
from dataclasses import dataclass

from .exceptions import ConfigError
from .metrics import AVERAGED_METRICS, PER_CLASS_METRICS, STRATA_METRICS

__all__ = ["Gate", "parse_gate", "parse_gates", "evaluate_gates", "gate_names", "BASES"]

#: How a gate is checked: the conservative interval bound, or the point estimate.
BASES = ("interval", "estimate")

_OPS = {">=": operator.ge, ">": operator.gt, "<=": operator.le, "<": operator.lt}
_AVERAGES = ("micro", "macro", "weighted")
_FAMILIES = _AVERAGES + ("overall", "stratum", "gap", "class")

#: Every metric name a gate may use, by family (the results hold a subset: score metrics only
#: with scores, top-k only for the k that apply). NPV has no average (it is not averaged).
_SCORE = ("roc_auc", "average_precision")
AVERAGE_METRICS = AVERAGED_METRICS + _SCORE
#: Metrics of a stratum's macro average and of the micro-macro gap.
STRATUM_METRICS = STRATA_METRICS + ("roc_auc",)
OVERALL_METRICS = (
    "accuracy",
    "balanced_accuracy",
    "cohen_kappa",
    "mcc",
    "roc_auc_ovo",
    "log_loss",
    "brier",
)
CLASS_METRICS = PER_CLASS_METRICS + _SCORE
_TOPK = re.compile(r"^top_[0-9]+_accuracy$")

_GATE = re.compile(
    r"^\s*(?P<name>[^<>=]+?)\s*(?P<op>>=|<=|>|<|=>|=<|==|=)\s*(?P<value>[^<>=\s].*?)?\s*$"
)


@dataclass(frozen=True)
class Gate:
    """A parsed gate: ``name op threshold``."""

    spec: str
    name: str
    op: str
    threshold: float

    @property
    def family(self) -> str:
        return self.name.split(".", 1)[0] if "." in self.name else "overall"


def gate_names() -> str:
    """A one-line summary of the valid gate names, for error messages."""
    return (
        "micro|macro|weighted.{"
        + ",".join(AVERAGE_METRICS)
        + "}, overall.{"
        + ",".join(OVERALL_METRICS)
        + ",top_K_accuracy}, stratum.NAME.METRIC, gap.METRIC, "
        "class.LABEL.METRIC"
    )


def _bad(spec, why) -> ConfigError:
    return ConfigError(f"gate {spec!r}: {why}")


def _closest(word, options) -> str:
    match = difflib.get_close_matches(word, list(options), n=1, cutoff=0.5)
    return f" (did you mean {match[0]!r}?)" if match else ""


def parse_gate(spec) -> Gate:
    """Parse ``"macro.f1 >= 0.70"``; a malformed gate raises :class:`ConfigError` naming the
    problem and the valid names."""
    if not isinstance(spec, str):
        raise ConfigError(f"gate {spec!r}: a gate is a string such as 'macro.f1 >= 0.70'")
    m = _GATE.match(spec)
    if not m:
        raise _bad(
            spec, "expected NAME OP NUMBER with OP one of >=, >, <=, < (e.g. 'macro.f1 >= 0.70')"
        )
    name, op, value = m.group("name"), m.group("op"), m.group("value")
    if value is None:
        raise _bad(spec, f"threshold missing after {op!r}; give a number, e.g. '{name} {op} 0.70'")
    if op in ("=", "==", "=>", "=<"):
        hint = {"=>": ">=", "=<": "<="}.get(op, ">= or <=")
        raise _bad(spec, f"operator {op!r} is not supported; use {hint}")
    try:
        threshold = float(value)
    except ValueError:
        raise _bad(spec, f"threshold {value!r} is not a number") from None
    if not math.isfinite(threshold):
        raise _bad(spec, f"threshold {value!r} must be a finite number")
    _check_name(spec, name)
    return Gate(spec=f"{name} {op} {value}", name=name, op=op, threshold=threshold)


def _check_name(spec, name) -> None:
    parts = name.split(".")
    family = parts[0]
    if len(parts) == 1:  # a bare overall metric
        if not (name in OVERALL_METRICS or _TOPK.match(name)):
            raise _bad(
                spec,
                f"unknown metric {name!r}{_closest(name, _all_names())}; "
                f"valid names: {gate_names()}",
            )
        return
    if family not in _FAMILIES:
        raise _bad(
            spec,
            f"unknown metric {name!r}{_closest(family, _FAMILIES)}; valid names: {gate_names()}",
        )
    if family in _AVERAGES or family in ("overall", "gap"):
        if len(parts) != 2:
            raise _bad(spec, f"{name!r} should be {family}.METRIC; valid names: {gate_names()}")
        metric = parts[1]
        valid = {"overall": OVERALL_METRICS, "gap": STRATUM_METRICS}.get(family, AVERAGE_METRICS)
        ok = metric in valid or (family == "overall" and _TOPK.match(metric))
        if not ok:
            raise _bad(
                spec,
                f"unknown metric {metric!r} for {family}{_closest(metric, valid)}; "
                f"choose from {', '.join(valid)}",
            )
        return
    # stratum.NAME.METRIC / class.LABEL.METRIC: the middle part may contain dots
    if len(parts) < 3 or not parts[1]:
        what = "NAME" if family == "stratum" else "LABEL"
        raise _bad(
            spec,
            f"{name!r} should be {family}.{what}.METRIC "
            f"(e.g. {family}.{'rare' if family == 'stratum' else 'cat'}.recall)",
        )
    metric = parts[-1]
    valid = STRATUM_METRICS if family == "stratum" else CLASS_METRICS
    if metric not in valid:
        raise _bad(
            spec,
            f"unknown metric {metric!r} for {family}{_closest(metric, valid)}; "
            f"choose from {', '.join(valid)}",
        )


def _all_names():
    return (
        [f"{a}.{m}" for a in _AVERAGES for m in AVERAGE_METRICS]
        + list(OVERALL_METRICS)
        + [f"overall.{m}" for m in OVERALL_METRICS]
        + [f"gap.{m}" for m in STRATUM_METRICS]
    )


def parse_gates(specs) -> tuple[Gate, ...]:
    """Parse several gates; the same gate twice is an error (it is probably a typo)."""
    gates = tuple(parse_gate(s) for s in specs)
    seen = set()
    for g in gates:
        key = (g.name, g.op, g.threshold)
        if key in seen:
            raise ConfigError(f"gate {g.spec!r} is declared twice; give each gate once")
        seen.add(key)
    return gates


def _lookup(d: dict, gate: Gate):
    """The estimate dict (``{"estimate", "ci_low", ...}``) a gate refers to, or a note saying
    why there is none. Unknown strata, classes or metrics raise :class:`ConfigError`."""
    parts = gate.name.split(".")
    family = gate.family
    if len(parts) == 1:
        parts = ["overall", parts[0]]
    if family in _AVERAGES:
        block = d["averages"][family]
        return _metric(block, parts[1], gate, f"{family} average")
    if family == "overall":
        return _metric(d["overall"], parts[1], gate, "overall metrics")
    if family == "gap":
        g = d.get("gap", {}).get(parts[1])
        if g is None:
            raise _bad(
                gate.spec,
                f"no gap is computed for {parts[1]!r}; gaps exist for "
                f"{', '.join(d.get('gap', {})) or 'no metric'}",
            )
        return g["macro_minus_micro"], None
    if family == "stratum":
        name, metric = ".".join(parts[1:-1]), parts[-1]
        sd = d.get("strata_definition") or {}
        configured = [s["name"] for s in sd.get("strata", [])] + list(sd.get("omitted_empty", []))
        if name not in configured:
            raise _bad(
                gate.spec,
                f"no stratum named {name!r}{_closest(name, configured)}; "
                f"the strata are {', '.join(configured) or 'none'}",
            )
        for s in d.get("strata", []):
            if s["name"] == name:
                return _metric(s["macro"], metric, gate, f"stratum {name}")
        return None, f"stratum {name!r} has no class in this data"
    # class
    label, metric = ".".join(parts[1:-1]), parts[-1]
    labels = [str(c["label"]) for c in d["per_class"]]
    for c in d["per_class"]:
        if str(c["label"]) == label:
            return _metric(c["metrics"], metric, gate, f"class {label}")
    raise _bad(gate.spec, f"no class labelled {label!r}{_closest(label, labels)}")


def _metric(block: dict, metric: str, gate: Gate, where: str):
    if metric not in block:
        have = ", ".join(block) or "none"
        need = (
            " (needs score columns)"
            if metric in ("roc_auc", "average_precision", "roc_auc_ovo", "log_loss", "brier")
            or _TOPK.match(metric)
            else ""
        )
        raise _bad(gate.spec, f"{where} has no {metric!r}{need}; it has {have}")
    return block[metric], None


def _value(est: dict, gate: Gate, basis: str):
    """The number compared with the threshold, which end it is, and why it is missing."""
    if basis == "estimate":
        return est.get("estimate"), "estimate"
    end = "ci_low" if gate.op in (">=", ">") else "ci_high"
    return est.get(end), end


def evaluate_gates(d: dict, gates, basis: str = "interval") -> dict:
    """Check ``gates`` on results ``d``; the ``gates`` block of the results JSON.

    Returns ``{"basis", "passed", "n_failed", "items": [...]}``; ``passed`` is None when no gate
    is declared. Each item holds the gate, the number checked (``value``), which end it is
    (``compared``: ``ci_low``, ``ci_high`` or ``estimate``), the estimate with its interval,
    ``passed`` and, when the value is missing, a ``note``.
    """
    if basis not in BASES:
        raise ConfigError(f"gate basis must be one of {', '.join(BASES)}; got {basis!r}")
    items = []
    for gate in gates:
        est, missing = _lookup(d, gate)
        item = {
            "spec": gate.spec,
            "metric": gate.name,
            "op": gate.op,
            "threshold": gate.threshold,
            "basis": basis,
        }
        if est is None:
            item.update(compared=None, value=None, estimate=None, passed=False, note=missing)
        else:
            value, compared = _value(est, gate, basis)
            item.update(compared=compared, value=value, estimate=dict(est))
            if value is None or (isinstance(value, float) and math.isnan(value)):
                if est.get("estimate") is None:
                    why = est.get("note") or "the metric is undefined"
                    item["note"] = f"undefined: {why}"
                elif est.get("note"):
                    item["note"] = f"no interval: {est['note']}"
                else:
                    item["note"] = (
                        "no interval (n_resamples = 0?); compute intervals, or check "
                        "the estimate with gate_on = 'estimate'"
                    )
                item["passed"] = False
            else:
                item["passed"] = bool(_OPS[gate.op](value, gate.threshold))
        items.append(item)
    n_failed = sum(not i["passed"] for i in items)
    return {
        "basis": basis,
        "passed": (n_failed == 0) if items else None,
        "n_failed": n_failed,
        "items": items,
    }
