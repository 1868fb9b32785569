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
from dataclasses import dataclass

import numpy as np
from scipy import special

from ..results import AdjustedInterval, FamilyInfo

__all__ = ["Claim", "adjust"]


@dataclass
class Claim:
    """One member of the family of divergence claims.

    ``key`` identifies it by kind and role: ``("gap", metric)``, ``("stratum_vs_rest", stratum,
    metric)``, ``("extremes", metric)``, ``("trend", metric)`` or ``("class", label, metric)``.
    ``robust`` is the ``(estimate, se)`` of the same claim without the classes below
    ``min_support``: a claim must also hold without them, so that none rests on them alone.
    The other fields are set by :func:`adjust`.
    """

    key: tuple
    estimate: float
    se: float
    eligible: bool
    robust: tuple | None = None
    df: float | None = None  # t degrees of freedom of the estimate/se ratio (None: normal)
    p: float = math.nan
    level: float = math.nan
    low: float = math.nan
    high: float = math.nan
    significant: bool = False
    rests_on_insufficient: bool = False

    def adjusted(self, adjustment: str) -> AdjustedInterval | None:
        """The claim's adjusted interval and test (None when it was not tested)."""
        if not np.isfinite(self.p):
            return None
        return AdjustedInterval(
            self.p, 1 - self.level, self.low, self.high, self.significant, adjustment
        )


def adjust(claims: list[Claim], alpha: float, how: str, confidence_level: float) -> FamilyInfo:
    """Holm (step-down) or Bonferroni over the eligible claims that can be tested; sets each
    claim's ``p``, ``level``, ``low``, ``high`` and ``significant``. Ties in p keep the order in
    which the analyses added the claims."""
    # a standard error at rounding level means no variation to test (e.g. macro = micro exactly)
    fam = [
        c
        for c in claims
        if c.eligible and np.isfinite(c.se) and c.se > 1e-12 and np.isfinite(c.estimate)
    ]
    m = len(fam)
    for c in fam:
        z = abs(c.estimate) / c.se
        c.p = float(2 * (special.stdtr(c.df, -z) if c.df else special.ndtr(-z)))
    fam.sort(key=lambda c: c.p)
    rejected = 0
    stopped = False
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
        z = special.stdtrit(c.df, 1 - level / 2) if c.df else special.ndtri(1 - level / 2)
        c.low, c.high = c.estimate - z * c.se, c.estimate + z * c.se
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
