"""The family of claims: every analysis's claims of divergence, adjusted together.

Each analysis contributes :class:`Claim` objects (the gap, each stratum against the rest, the
rarest stratum against the most common, the trend, every eligible class against the micro value,
for each findings metric). One multiplicity adjustment, Holm's step-down method by default (or
Bonferroni), runs over all of them, so the chance of any false claim of divergence is at most
1 - confidence_level. Claims are identified by role (``("extremes", metric)`` for the rarest
against the most common stratum), never by a display name.

The p-values and adjusted intervals are normal-theory with the bootstrap (or DeLong) standard
error, which resolves the small tail probabilities that Holm's first steps need (a percentile
p-value cannot go below 1/B).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from scipy import special

from ..results import AdjustedInterval, FamilyInfo

__all__ = ["Claim", "IntervalBatch", "adjust"]


@dataclass(eq=False)
class IntervalBatch:
    """Several claims' families of nested intervals in one: ``at(z) -> (low, high)``, arrays over
    ``size`` rows at one quantile per row, each row's limits those of its claim's ``interval_at``
    (element by element: evaluating the rows together changes no number)."""

    at: Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]]
    size: int


@dataclass
class Claim:
    """One member of the family of divergence claims.

    ``key`` identifies it by kind and role: ``("gap", metric)``, ``("stratum_vs_rest", stratum,
    metric)``, ``("extremes", metric)``, ``("trend", metric)`` or ``("class", label, metric)``.

    A claim is tested either from ``estimate / se`` (normal, or t with ``df``) or, when
    ``interval_at`` is given, from a family of nested intervals ``z -> (low, high)`` (MOVER with
    exact limits: valid for small classes and near 0 or 1) whose inversion is ``p_value``; its
    adjusted interval is then that family at the claim's level, so the interval and the decision
    cannot disagree. ``robust`` is the ``(estimate, se)`` of the same claim without the classes
    below ``min_support``: such a claim must also hold without them. ``effect`` is the quantity
    compared with the minimum material effect (default the estimate). The other fields are set
    by :func:`adjust`.
    """

    key: tuple
    estimate: float
    se: float
    eligible: bool
    robust: tuple | None = None
    df: float | None = None  # t degrees of freedom of the estimate/se ratio (None: normal)
    p_value: float | None = None
    interval_at: Callable[[float], tuple[float, float]] | None = None
    #: ``(batch, index)``: the claim's ``interval_at`` is row ``index`` of a family that
    #: :func:`adjust` may evaluate for many claims at once (the same numbers, one call)
    batch: tuple[IntervalBatch, int] | None = None
    effect: float | None = None
    scope: str | None = None  # what the claim's estimand covers, when it is not what is shown
    #: why an ineligible claim is not made, when it is not that its classes are below min_support
    not_made: str | None = None
    #: how the test and its adjusted interval are made, when not by the default rules below
    method: str | None = None
    #: the claim's marginal interval and its p-value (low, high, p), when they are not the normal
    #: ones of estimate and se (a skewed bootstrap interval, say): where the marginal interval
    #: reaches 0 the claim's p is at least its p, and the adjusted interval, at a stricter level,
    #: contains the marginal one, so that no claim is made that the marginal interval does not
    #: make (where it excludes 0 the normal p stands: a bootstrap p cannot go below about 1/B,
    #: which Holm's first steps need)
    marginal: tuple | None = None
    p: float = math.nan
    #: the p-value adjusted for the family (Holm's step-down or Bonferroni), capped at 1
    p_adjusted: float = math.nan
    level: float = math.nan
    low: float = math.nan
    high: float = math.nan
    significant: bool = False
    rests_on_insufficient: bool = False

    @property
    def testable(self) -> bool:
        if not (self.eligible and np.isfinite(self.estimate)):
            return False
        if self.interval_at is not None:
            return self.p_value is not None and np.isfinite(self.p_value)
        # a standard error at rounding level means no variation to test (macro = micro exactly)
        return bool(np.isfinite(self.se) and self.se > 1e-12)

    def material(self, min_effect: float) -> bool:
        """Whether the claim's effect reaches the minimum material effect."""
        effect = self.estimate if self.effect is None else self.effect
        return bool(np.isfinite(effect) and abs(effect) >= min_effect)

    def adjusted(self, adjustment: str) -> AdjustedInterval | None:
        """The claim's adjusted interval and test (None when it was not tested)."""
        if not np.isfinite(self.p):
            return None
        method = (
            self.method
            if self.method is not None
            else "MOVER with Clopper-Pearson limits at the adjusted level; p by inverting it"
            if self.interval_at is not None
            else "normal, bootstrap or DeLong standard error"
            if self.df is None
            else f"t(df={self.df:.1f}) with its standard error"
        )
        return AdjustedInterval(
            self.p,
            1 - self.level,
            self.low,
            self.high,
            self.significant,
            adjustment,
            method,
            self.p_adjusted,
        )


def adjust(claims: list[Claim], alpha: float, how: str, confidence_level: float) -> FamilyInfo:
    """Holm (step-down) or Bonferroni over the eligible claims that can be tested; sets each
    claim's ``p``, ``level``, ``low``, ``high`` and ``significant``. Ties in p keep the order in
    which the analyses added the claims."""
    fam = [c for c in claims if c.testable]
    m = len(fam)
    for c in fam:
        if c.interval_at is not None:
            c.p = float(c.p_value)  # type: ignore[arg-type]
        else:
            z = abs(c.estimate) / c.se
            c.p = float(2 * (special.stdtr(c.df, -z) if c.df else special.ndtr(-z)))
            if c.marginal is not None:
                m_lo, m_hi, m_p = (float(v) for v in c.marginal)
                if m_lo <= 0 <= m_hi and math.isfinite(m_p):
                    c.p = max(c.p, m_p)
    fam.sort(key=lambda c: c.p)
    # adjusted p-values: Bonferroni m p; Holm the running maximum of (m - i) p_(i)
    running = 0.0
    for i, c in enumerate(fam):
        running = max(running, (m if how == "bonferroni" else m - i) * c.p)
        c.p_adjusted = min(1.0, m * c.p if how == "bonferroni" else running)
    rejected = 0
    stopped = False
    intervals = _Batched(fam, alpha, how)
    for i, c in enumerate(fam):
        if how == "bonferroni":
            level = alpha / m
        elif not stopped:
            level = alpha / (m - i)
        else:
            level = alpha / (m - rejected)
        if how == "holm" and not stopped and c.p >= alpha / (m - i):
            stopped = True
            level = alpha / (m - rejected)
        c.level = level
        # the quantile of the claim's level: its interval (unless it has its own family of
        # intervals) and the check of its robust form
        z = special.stdtrit(c.df, 1 - level / 2) if c.df else special.ndtri(1 - level / 2)
        if c.interval_at is not None:
            c.low, c.high = intervals.at(c, i, special.ndtri(1 - level / 2), rejected)
        else:
            c.low, c.high = c.estimate - z * c.se, c.estimate + z * c.se
        if c.marginal is not None:
            m_lo, m_hi = (float(v) for v in c.marginal[:2])
            if math.isfinite(m_lo) and math.isfinite(m_hi):
                c.low, c.high = min(c.low, m_lo), max(c.high, m_hi)
        c.significant = bool(c.low > 0 or c.high < 0)
        if c.significant and c.robust is not None:
            est_r, se_r = c.robust
            c.significant = bool(
                np.isfinite(est_r)
                and np.isfinite(se_r)
                and np.sign(est_r) == np.sign(c.estimate)
                and abs(est_r) - z * se_r > 0
            )
            c.rests_on_insufficient = not c.significant
        if c.significant:
            rejected += 1
    return FamilyInfo(how, m, confidence_level)


class _Batched:
    """The claims' intervals from their families, a batch's claims evaluated together.

    A claim's level is known before the loop of :func:`adjust` reaches it, except after Holm's
    stop, where it depends on the number of rejections: so when the loop asks for one claim of a
    batch, every claim of the batch still to come is evaluated at the level it will have (before
    the stop: alpha / (m - i); after it: alpha / (m - rejections so far)). A claim whose level
    turns out different is evaluated again on its own; either way each interval is its family at
    the claim's own level."""

    def __init__(self, fam: list[Claim], alpha: float, how: str):
        self.alpha, self.how, self.m = alpha, how, len(fam)
        self.order = {id(c): i for i, c in enumerate(fam)}
        self.members: dict[int, list[Claim]] = {}
        for c in fam:
            if c.interval_at is not None and c.batch is not None:
                self.members.setdefault(id(c.batch[0]), []).append(c)
        # Holm's stop: the first claim whose p is not below alpha / (m - i)
        self.stop = next(
            (i for i, c in enumerate(fam) if how == "holm" and c.p >= alpha / (self.m - i)),
            self.m,
        )
        self.cache: dict[int, tuple[float, float, float]] = {}

    def _level(self, i: int, rejected: int) -> float:
        if self.how == "bonferroni":
            return self.alpha / self.m
        return self.alpha / (self.m - i) if i < self.stop else self.alpha / (self.m - rejected)

    def at(self, c: Claim, i: int, z, rejected: int) -> tuple[float, float]:
        assert c.interval_at is not None
        z = float(z)
        hit = self.cache.get(id(c))
        if hit is not None and hit[0] == z:
            return hit[1], hit[2]
        if c.batch is None or len(self.members.get(id(c.batch[0]), ())) < 2:
            lo, hi = c.interval_at(z)
            return float(lo), float(hi)
        batch = c.batch[0]
        todo = [d for d in self.members[id(batch)] if self.order[id(d)] >= i]
        zs = np.zeros(batch.size)
        for d in todo:
            zd = special.ndtri(1 - self._level(self.order[id(d)], rejected) / 2)
            zs[d.batch[1]] = z if d is c else float(zd)  # type: ignore[index]
        lows, highs = batch.at(zs)
        for d in todo:
            j = d.batch[1]  # type: ignore[index]
            self.cache[id(d)] = (float(zs[j]), float(lows[j]), float(highs[j]))
        return self.cache[id(c)][1], self.cache[id(c)][2]
