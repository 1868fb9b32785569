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
* ``class.LABEL.METRIC``: one class (the label may itself contain dots);
* ``delta.NAME``, NAME any of the above or ``shift.METRIC`` (a comparison's change in the
  rarest minus the most common stratum): the *difference* candidate minus reference of a
  comparison of models (``prevalens compare``), one check per pair of models, on the
  conservative end of the difference's interval. ``delta.macro.f1 >= -0.02`` reads "the candidate
  is not worse than the reference by more than 0.02": the lower bound of the difference's 95%
  interval is at least -0.02. Nothing is flipped for metrics where lower is better (log loss,
  Brier): "the log loss rises by at most 0.01" is ``delta.log_loss <= 0.01``, checked on the
  upper bound. An audit refuses delta gates and a comparison takes only delta gates.

A gate whose value is undefined (NaN, no interval because ``n_resamples=0``, an empty stratum)
fails, and says why: a release gate must not pass on a number that does not exist.

Pure functions over the results dict (``AuditResult.to_dict()``, or the dict of a comparison,
schema ``prevalens.comparison/1``).
"""

from __future__ import annotations

import difflib
import math
import operator
import re
from dataclasses import dataclass

from .exceptions import ConfigError
from .formatting import estimate_digits, fmt_level, fmt_number, fmt_signed_number
from .metrics import AVERAGED_METRICS, PER_CLASS_METRICS, STRATA_METRICS

__all__ = [
    "Gate",
    "parse_gate",
    "parse_gates",
    "evaluate_gates",
    "evaluate_comparison_gates",
    "regression_check",
    "gate_names",
    "BASES",
    "DELTA",
    "REGRESSION_SPEC",
]

#: How a gate is checked: the conservative interval bound, or the point estimate.
BASES = ("interval", "estimate")

_OPS = {">=": operator.ge, ">": operator.gt, "<=": operator.le, "<": operator.lt}
_AVERAGES = ("micro", "macro", "weighted")
_FAMILIES = _AVERAGES + ("overall", "stratum", "gap", "class")
#: The prefix of a gate on the difference between two models.
DELTA = "delta"
#: The family only a comparison has: the change of the rarest minus the most common stratum.
_SHIFT = "shift"
#: The spec of the item :func:`regression_check` adds to a comparison's gates.
REGRESSION_SPEC = "no headline metric significantly worse"

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

    @property
    def delta(self) -> bool:
        """A gate on the difference between two models (``delta.NAME``)."""
        return self.family == DELTA

    @property
    def target(self) -> str:
        """The name without ``delta.``: the metric a delta gate takes the difference of."""
        return self.name[len(DELTA) + 1 :] if self.delta else self.name

    @property
    def threshold_text(self) -> str:
        """The threshold as the user wrote it (``0.70``, not ``0.7``)."""
        return self.spec.rsplit(" ", 1)[1]


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
    """Parse ``"macro.f1 >= 0.70"`` or ``"delta.macro.f1 >= -0.02"``; a malformed gate raises
    :class:`ConfigError` naming the problem and the valid names."""
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
    if name == DELTA or name.startswith(DELTA + "."):
        target = name[len(DELTA) + 1 :]
        if not target:
            raise _bad(spec, f"{name!r} should be delta.NAME, e.g. 'delta.macro.f1 >= -0.02'")
        if target == DELTA or target.startswith(DELTA + "."):
            raise _bad(spec, f"{name!r}: write delta once, e.g. 'delta.macro.f1 >= -0.02'")
        _check_name(spec, target, delta=True)
    else:
        _check_name(spec, name)
    return Gate(spec=f"{name} {op} {value}", name=name, op=op, threshold=threshold)


def _check_name(spec, name, delta: bool = False) -> None:
    """``name`` is a valid gate name (``delta``: the name after ``delta.``)."""
    valid_names = (
        f"delta.NAME with NAME one of {gate_names()}, shift.METRIC" if delta else gate_names()
    )
    parts = name.split(".")
    family = parts[0]
    if len(parts) == 1:  # a bare overall metric
        if not (name in OVERALL_METRICS or _TOPK.match(name)):
            raise _bad(
                spec,
                f"unknown metric {name!r}{_closest(name, _all_names())}; "
                f"valid names: {valid_names}",
            )
        return
    if delta and family == _SHIFT:  # only a comparison has shifts
        if len(parts) != 2 or parts[1] not in STRATUM_METRICS:
            raise _bad(
                spec,
                f"{name!r} should be shift.METRIC with METRIC one of {', '.join(STRATUM_METRICS)}",
            )
        return
    if family not in _FAMILIES:
        families = _FAMILIES + (_SHIFT,) if delta else _FAMILIES + (DELTA,)
        raise _bad(
            spec,
            f"unknown metric {name!r}{_closest(family, families)}; valid names: {valid_names}",
        )
    if family in _AVERAGES or family in ("overall", "gap"):
        if len(parts) != 2:
            raise _bad(spec, f"{name!r} should be {family}.METRIC; valid names: {valid_names}")
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


def parse_gates(specs, *, comparison: bool | None = None) -> tuple[Gate, ...]:
    """Parse several gates; the same gate twice is an error (it is probably a typo).

    With ``comparison=False`` (an audit) ``delta.`` gates are refused, with ``comparison=True``
    (a comparison of models) every other gate; with None (a configuration that may serve
    either, such as :class:`~prevalens.AuditConfig`) both kinds are accepted.
    """
    gates = tuple(parse_gate(s) for s in specs)
    seen = set()
    for g in gates:
        if comparison is not None:
            _check_kind(g, comparison)
        key = (g.name, g.op, g.threshold)
        if key in seen:
            raise ConfigError(f"gate {g.spec!r} is declared twice; give each gate once")
        seen.add(key)
    return gates


def _check_kind(gate: Gate, comparison: bool) -> None:
    if gate.delta and not comparison:
        raise _bad(
            gate.spec,
            "a delta gate checks the difference between two models and needs `prevalens "
            f"compare`; an audit of one model takes gates such as "
            f"'{gate.target} {gate.op} {gate.threshold_text}'",
        )
    if comparison and not gate.delta:
        raise _bad(
            gate.spec,
            "a comparison of models checks differences: write "
            f"'delta.{gate.name} {gate.op} ...' (candidate minus reference), or check one "
            "model with `prevalens audit`",
        )


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
        name = metric.rsplit(".", 1)[-1]
        need = (
            " (needs score columns)"
            if name in ("roc_auc", "average_precision", "log_loss", "brier") or _TOPK.match(name)
            else " (needs score columns, read in memory: the duckdb engine does not compute it)"
            if name == "roc_auc_ovo"
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


def _check_basis(basis) -> None:
    if basis not in BASES:
        raise ConfigError(f"gate basis must be one of {', '.join(BASES)}; got {basis!r}")


def _item(gate: Gate, basis: str, est: dict | None, missing: str | None) -> dict:
    """One gate checked on one estimate dict (or on nothing, ``missing`` saying why)."""
    item: dict = {
        "spec": gate.spec,
        "metric": gate.name,
        "op": gate.op,
        "threshold": gate.threshold,
        "basis": basis,
    }
    if est is None:
        item.update(compared=None, value=None, estimate=None, passed=False, note=missing)
        return item
    value, compared = _value(est, gate, basis)
    item.update(compared=compared, value=value, estimate=dict(est))
    if value is None or (isinstance(value, float) and math.isnan(value)):
        note = est.get("note")
        if est.get("estimate") is None:
            why = note or "the metric is undefined"
            item["note"] = why if why.startswith("undefined") else f"undefined: {why}"
        elif note:
            item["note"] = note if note.startswith("no interval") else f"no interval: {note}"
        else:
            item["note"] = (
                "no interval (n_resamples = 0?); compute intervals, or check "
                "the estimate with gate_on = 'estimate'"
            )
        item["passed"] = False
    else:
        item["passed"] = bool(_OPS[gate.op](value, gate.threshold))
    return item


def _block(basis: str, items: list) -> dict:
    n_failed = sum(not i["passed"] for i in items)
    return {
        "basis": basis,
        "passed": (n_failed == 0) if items else None,
        "n_failed": n_failed,
        "items": items,
    }


def _as_gates(gates, comparison: bool) -> tuple[Gate, ...]:
    """Gates given parsed or as strings, checked for their kind (delta or not)."""
    gates = tuple(gates)
    if all(isinstance(g, str) for g in gates):
        return parse_gates(gates, comparison=comparison)
    for g in gates:
        if not isinstance(g, Gate):
            raise ConfigError(
                f"gate {g!r}: give gates as strings such as 'macro.f1 >= 0.70' or as parsed "
                "Gate objects, not a mix"
            )
        _check_kind(g, comparison)
    return gates


def evaluate_gates(d: dict, gates, basis: str = "interval") -> dict:
    """Check ``gates`` on results ``d``; the ``gates`` block of the results JSON.

    Returns ``{"basis", "passed", "n_failed", "items": [...]}``; ``passed`` is None when no gate
    is declared. Each item holds the gate, the number checked (``value``), which end it is
    (``compared``: ``ci_low``, ``ci_high`` or ``estimate``), the estimate with its interval,
    ``passed`` and, when the value is missing, a ``note``. ``delta.`` gates are refused: they
    need a comparison of models (:func:`evaluate_comparison_gates`).
    """
    _check_basis(basis)
    if isinstance(d, dict) and "pairs" in d:
        raise ConfigError(
            "these results compare models (they hold `pairs`): check them with "
            "evaluate_comparison_gates and delta.NAME gates"
        )
    gates = _as_gates(gates, comparison=False)
    return _block(basis, [_item(gate, basis, *_lookup(d, gate)) for gate in gates])


# ------------------------------------------------------------------------------------------------
# comparisons of models


def _pairs(d) -> list:
    pairs = d.get("pairs") if isinstance(d, dict) else None
    if not isinstance(pairs, list):
        raise ConfigError(
            "delta gates need the results of `prevalens compare` (a dict with `pairs` of "
            "models); an audit of one model takes gates such as 'macro.f1 >= 0.70'"
        )
    if not pairs:
        raise ConfigError("the comparison has no pair of models; compare at least two models")
    return pairs


def _pair_label(pair: dict) -> str:
    """``"B vs A"``: the candidate against the reference."""
    return f"{pair.get('candidate')} vs {pair.get('reference')}"


def _named(pairs, key: str, field: str) -> list[str]:
    """Every ``field`` (a stratum's name, a class's label) of ``key`` over the pairs, in order."""
    seen: dict[str, None] = {}
    for pair in pairs:
        for entry in pair.get(key) or []:
            seen[str(entry[field])] = None
    return list(seen)


def _check_comparison_names(pairs, gate: Gate) -> None:
    """A stratum or class that no pair has is an error (a typo), with the closest name."""
    parts = gate.target.split(".")
    if parts[0] not in ("stratum", "class") or len(parts) < 3:
        return
    name = ".".join(parts[1:-1])
    if parts[0] == "stratum":
        have = _named(pairs, "strata", "name")
        if name not in have:
            raise _bad(
                gate.spec,
                f"no stratum named {name!r}{_closest(name, have)}; "
                f"the strata are {', '.join(have) or 'none'}",
            )
    else:
        have = _named(pairs, "per_class", "label")
        if name not in have:
            raise _bad(gate.spec, f"no class labelled {name!r}{_closest(name, have)}")


def _pair_lookup(pair: dict, gate: Gate):
    """The difference row's estimate dict (``{"estimate", "ci_low", ..., "p_value"}``) that a
    delta gate refers to in one pair, or a note saying why there is none."""
    label = _pair_label(pair)
    parts = gate.target.split(".")
    if len(parts) == 1:
        parts = ["overall", parts[0]]
    family = parts[0]
    if family in _AVERAGES or family == "overall":
        key = f"{family}.{parts[1]}"
        row = _metric(pair.get("headline") or {}, key, gate, f"the headline of {label}")[0]
    elif family in ("gap", _SHIFT):
        block = pair.get(family) or {}
        row = _metric(block, parts[1], gate, f"the {family} block of {label}")[0]
    else:
        name, metric = ".".join(parts[1:-1]), parts[-1]
        key, field = ("strata", "name") if family == "stratum" else ("per_class", "label")
        entry = next((e for e in pair.get(key) or [] if str(e[field]) == name), None)
        if entry is None:
            what = "stratum" if family == "stratum" else "class"
            return None, f"{label} has no {what} {name!r}"
        where = f"{'stratum' if family == 'stratum' else 'class'} {name} of {label}"
        row = _metric(entry.get("metrics") or {}, metric, gate, where)[0]
    diff = row.get("difference")
    if diff is None:
        return None, f"{label} has no difference for {gate.target}"
    return diff, None


def evaluate_comparison_gates(
    d: dict, gates, basis: str = "interval", *, fail_on_regression: bool = False
) -> dict:
    """Check ``delta.`` gates on a comparison of models ``d`` (``prevalens.comparison/1``).

    Each gate is checked on the difference (candidate minus reference) of every pair of models,
    as :func:`evaluate_gates` checks an estimate: on the conservative end of the difference's
    interval (``ci_low`` for ``>=`` and ``>``, ``ci_high`` for ``<=`` and ``<``), or on the
    estimate with ``basis="estimate"``.

    Parameters
    ----------
    d : dict
        The comparison's results, with ``pairs``.
    gates : iterable of str or Gate
        ``delta.NAME OP NUMBER`` gates (a gate without ``delta.`` is refused).
    basis : {"interval", "estimate"}
    fail_on_regression : bool
        Also add the item of :func:`regression_check` (no headline metric significantly
        worse), after the gates' items.

    Returns
    -------
    dict
        ``{"basis", "passed", "n_failed", "items"}`` as :func:`evaluate_gates`, one item per
        gate and pair (gate by gate, pairs in order), each with ``pair`` (``"B vs A"``),
        ``reference`` and ``candidate``. ``passed`` is None when there is no item.

    Examples
    --------
    >>> row = {"difference": {"estimate": -0.01, "ci_low": -0.03, "ci_high": 0.01}}
    >>> d = {"pairs": [{"reference": "A", "candidate": "B", "headline": {"macro.f1": row}}]}
    >>> block = evaluate_comparison_gates(d, ["delta.macro.f1 >= -0.02"])
    >>> item = block["items"][0]
    >>> item["pair"], item["compared"], item["value"], item["passed"]
    ('B vs A', 'ci_low', -0.03, False)
    """
    _check_basis(basis)
    pairs = _pairs(d)
    gates = _as_gates(gates, comparison=True)
    items = []
    for gate in gates:
        _check_comparison_names(pairs, gate)
        for pair in pairs:
            item = _item(gate, basis, *_pair_lookup(pair, gate))
            item.update(
                pair=_pair_label(pair),
                reference=pair.get("reference"),
                candidate=pair.get("candidate"),
            )
            items.append(item)
    if fail_on_regression:
        items.append(regression_check(d))
    return _block(basis, items)


def _fmt_regression(row: dict, family: dict) -> str:
    """``-0.04, Holm-adjusted 95% CI -0.07 to -0.01`` for a headline row: the decimals of the
    tables (from the interval's width) and the family's confidence level (each adjusted
    interval's own ``level``, 0.9977 say, is a step of the procedure, not what it guarantees)."""
    diff, adj = row.get("difference") or {}, row["adjusted"]
    est = diff.get("estimate")
    low, high = adj.get("ci_low"), adj.get("ci_high")
    digits = estimate_digits({"estimate": est, "ci_low": low, "ci_high": high}, bounds=(0.0,))
    adjustment = adj.get("adjustment") or family.get("adjustment")  # "holm" or "bonferroni"
    level = family.get("confidence_level")
    how = f"{str(adjustment).capitalize()}-adjusted" if adjustment else "adjusted"
    ci = f"{fmt_level(level)} CI" if isinstance(level, (int, float)) else "CI"
    text = fmt_signed_number(est, digits)
    if low is None or high is None:
        p = adj.get("p_adjusted", adj.get("p_value"))
        return f"{text}, {how} p = {p:.2g}" if isinstance(p, (int, float)) else f"{text}, {how}"
    lo, hi = (fmt_number(v, digits, bounds=(0.0,)) for v in (low, high))
    return f"{text}, {how} {ci} {lo} to {hi}"


def regression_check(d: dict) -> dict:
    """The ``--fail-on-regression`` rule of a comparison: no headline metric significantly worse.

    The item fails when, in any pair, a headline metric's multiplicity-adjusted test is
    significant and the reference is the better model (``better == "reference"``, which already
    accounts for metrics where lower is better), and its note lists those metrics with the
    difference and the adjusted interval. It also fails when a pair has no adjusted test at all
    (no intervals were computed, say): a release check must not pass on tests that were not made.

    Returns
    -------
    dict
        An item of a gates block (``spec`` :data:`REGRESSION_SPEC`, ``kind`` ``"regression"``,
        ``passed``, ``note``), with ``regressions``: one entry per significantly worse metric
        (``pair``, ``reference``, ``candidate``, ``metric``, ``difference``, ``adjusted``).
    """
    pairs = _pairs(d)
    family = d.get("family")
    if not isinstance(family, dict):
        family = {}
    regressions, untested, worse_text = [], [], []
    n_tests = 0
    for pair in pairs:
        label, ref, cand = _pair_label(pair), pair.get("reference"), pair.get("candidate")
        tested, worse = 0, []
        for metric, row in (pair.get("headline") or {}).items():
            adj = row.get("adjusted")
            if not adj:
                continue
            tested += 1
            if adj.get("significant") is True and row.get("better") == "reference":
                regressions.append(
                    {
                        "pair": label,
                        "reference": ref,
                        "candidate": cand,
                        "metric": metric,
                        "difference": row.get("difference"),
                        "adjusted": dict(adj),
                    }
                )
                worse.append(f"{metric} ({_fmt_regression(row, family)})")
        n_tests += tested
        if worse:
            worse_text.append(f"{cand} is significantly worse than {ref} on {', '.join(worse)}")
        if tested == 0:
            untested.append(label)
    notes = list(worse_text)
    if untested:
        notes.append(
            f"no headline metric of {', '.join(untested)} has an adjusted test (were intervals "
            "computed?), so a regression cannot be ruled out"
        )
    passed = not notes
    if passed:
        n = len(pairs)
        notes.append(
            f"no headline metric is significantly worse ({n_tests} adjusted tests over {n} "
            f"pair{'s' if n != 1 else ''})"
        )
    return {
        "spec": REGRESSION_SPEC,
        "kind": "regression",
        "metric": None,
        "op": None,
        "threshold": None,
        "basis": "adjusted",
        "compared": None,
        "value": None,
        "estimate": None,
        "passed": passed,
        "note": "; ".join(notes),
        "regressions": regressions,
    }
