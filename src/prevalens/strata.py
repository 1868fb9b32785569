"""Prevalence strata: how classes are grouped by how common they are.

Pure grouping: which stratum each class falls in, and which configured strata are empty. The
analyses of the strata (their macro metrics, the differences between them) are in
:mod:`prevalens.analyses.strata`. They use the strata by rank (the rarest and the most common
configured stratum), never by name, so that renaming them changes no number.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .results import StrataDefinition, StratumDefinition

__all__ = ["StrataSpec", "StrataAssignment", "assign_strata"]

_DEFAULT_NAMES_3 = ("rare", "uncommon", "common")


@dataclass(frozen=True)
class StrataSpec:
    """How classes are grouped by prevalence.

    Parameters
    ----------
    method : {"prevalence", "log-quantiles", "support"}
        Cut points on prevalence (default 1% and 10%), quantiles of log10 prevalence (``n_groups``
        groups of about equal numbers of classes), or cut points on support counts.
    cuts : tuple of float, optional
        Cut points for "prevalence" (fractions) or "support" (counts); ascending.
    n_groups : int
        Number of groups for "log-quantiles".
    names : tuple of str, optional
        Names of the groups from rarest to most common; default ``rare, uncommon, common`` for
        three groups, else ``stratum 1 (rarest) ... stratum G (most common)``.
    """

    method: str = "prevalence"
    cuts: tuple | None = None
    n_groups: int = 3
    names: tuple | None = None

    @classmethod
    def from_config(cls, config) -> StrataSpec:
        """The spec of an :class:`~prevalens.AuditConfig`'s ``strata*`` options."""
        return cls(
            method=config.strata,
            cuts=config.strata_cuts,
            n_groups=config.strata_groups,
            names=config.strata_names,
        )

    def resolved_cuts(self):
        if self.cuts is not None:
            return tuple(float(c) for c in self.cuts)
        return (0.01, 0.10) if self.method == "prevalence" else None


def _names(n_groups, names):
    if names is not None:
        return tuple(names)
    if n_groups == 3:
        return _DEFAULT_NAMES_3
    return tuple(
        f"stratum {i + 1}"
        + (" (rarest)" if i == 0 else " (most common)" if i == n_groups - 1 else "")
        for i in range(n_groups)
    )


def _fmt_cut(value, unit):
    if unit == "prevalence":
        pct = value * 100
        return f"{pct:g}%"
    return f"{value:g}"


@dataclass(frozen=True, eq=False)
class StrataAssignment:
    """Which stratum each class falls in.

    Attributes
    ----------
    index : ndarray of int (K,)
        The stratum of each class, an index into ``definitions``; -1 for a class with no true
        samples (listed apart).
    definitions : tuple of StratumDefinition
        The strata that have classes, rarest first.
    omitted : tuple of str
        Names of the configured strata that have no class.
    rarest, most_common : int or None
        Index in ``definitions`` of the rarest and of the most common *configured* stratum, when
        it has classes (roles, by rank: the names are only labels).
    spec : StrataSpec
    """

    index: np.ndarray
    definitions: tuple
    omitted: tuple
    rarest: int | None
    most_common: int | None
    spec: StrataSpec

    @property
    def masks(self) -> list[np.ndarray]:
        """One boolean mask over the classes per stratum, in the order of ``definitions``."""
        return [self.index == g for g in range(len(self.definitions))]

    def name_of(self, j: int) -> str | None:
        """The stratum name of class ``j`` (None for a class without samples)."""
        g = self.index[j]
        return self.definitions[g].name if g >= 0 else None

    def definition(self, classes) -> StrataDefinition:
        """The JSON-ready description: method, cuts, strata, empty strata, absent classes."""
        spec = self.spec
        return StrataDefinition(
            method=spec.method,
            cuts=tuple(spec.resolved_cuts() or ()) if spec.method != "log-quantiles" else None,
            strata=self.definitions,
            omitted_empty=self.omitted,
            absent_classes=tuple(classes[j] for j in np.flatnonzero(self.index < 0)),
        )


def assign_strata(support, spec: StrataSpec | None = None) -> StrataAssignment:
    """Group classes by prevalence (or support) as ``spec`` says (default: cut points 1% and
    10% of prevalence, named rare, uncommon, common)."""
    spec = spec or StrataSpec()
    support = np.asarray(support, dtype=np.float64)
    n = support.sum()
    present = support > 0
    prevalence = support / n
    index = np.full(support.size, -1, dtype=np.int64)
    if spec.method == "log-quantiles":
        logp = np.log10(prevalence[present])
        edges = np.quantile(logp, np.linspace(0, 1, spec.n_groups + 1)[1:-1]) if logp.size else []
        cuts = tuple(float(10**e) for e in edges)
        unit, values = "prevalence", prevalence
    elif spec.method == "support":
        cuts = spec.resolved_cuts()
        if not cuts:
            raise ValueError("support strata need cut points, e.g. cuts=(10, 100)")
        unit, values = "support", support
    else:
        cuts = spec.resolved_cuts()
        unit, values = "prevalence", prevalence
    n_groups = len(cuts) + 1
    names = _names(n_groups, spec.names)
    if len(names) != n_groups:
        raise ValueError(f"{n_groups} strata need {n_groups} names, got {len(names)}")
    # a class belongs to the stratum whose [low, high) holds its value; the top one is closed
    group = np.searchsorted(np.asarray(cuts, dtype=np.float64), values, side="right")
    index[present] = group[present]
    bounds = [0.0, *cuts, 1.0 if unit == "prevalence" else float("inf")]
    definitions: list[StratumDefinition] = []
    omitted: list[str] = []
    remap: dict[int, int] = {}
    for g in range(n_groups):
        low, high = bounds[g], bounds[g + 1]
        if g == 0:
            desc = f"{unit} < {_fmt_cut(high, unit)}"
        elif g == n_groups - 1:
            desc = f"{unit} >= {_fmt_cut(low, unit)}"
        else:
            desc = f"{_fmt_cut(low, unit)} <= {unit} < {_fmt_cut(high, unit)}"
        if not np.any(index == g):
            omitted.append(names[g])
            continue
        remap[g] = len(definitions)
        definitions.append(
            StratumDefinition(names[g], unit, low, None if math.isinf(high) else high, desc)
        )
    out = np.array([remap.get(g, -1) if g >= 0 else -1 for g in index], dtype=np.int64)
    return StrataAssignment(
        out, tuple(definitions), tuple(omitted), remap.get(0), remap.get(n_groups - 1), spec
    )
