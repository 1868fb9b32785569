"""What every analysis of an audit shares: the counts, the point estimates, the joint replicates
and the way a derived statistic gets its estimate and interval.

An analysis (:mod:`~prevalens.analyses.strata`, :mod:`~prevalens.analyses.gap`,
:mod:`~prevalens.analyses.trend`, :mod:`~prevalens.analyses.divergence`) is a function
``analyse_*(ctx) -> (typed results, claims)``. It states each derived statistic once, as a
function of a :class:`~prevalens.uncertainty.Stats` (a stratum's macro recall minus the rest's, a
class minus the micro value, ...), and :meth:`Context.estimate` applies it to the point estimate,
the bootstrap replicates and the jackknife alike, so a difference gets its interval from the same
replicates as its two sides.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .. import metrics as M
from ..counts import class_tables, row_sums
from ..intervals import jackknife_t_interval
from ..options import AuditConfig
from ..results import Estimate
from ..strata import StrataAssignment
from ..uncertainty import UNSTABLE_FRACTION, Engine, Stats
from .mover import ClassProportions

__all__ = [
    "Context",
    "macro_over",
    "micro_over",
    "log_prevalence",
    "estimate_from_interval",
    "point_only",
]

POINT_ONLY = "point estimate only (n_resamples=0)"


# ------------------------------------------------------------------------------------------------
# derived pieces, computed once per stats object (point, replicates or jackknife)


def macro_over(s: Stats, key: str, mask: np.ndarray) -> np.ndarray:
    """Macro average of per-class values ``s[key]`` over the classes in ``mask`` (NaN skipped)."""
    return s.cached(("macro", key, mask.tobytes()), lambda: M.macro(np.where(mask, s[key], np.nan)))


def micro_over(s: Stats, name: str, mask: np.ndarray) -> np.ndarray:
    """Micro average of ratio metric ``name`` over the classes in ``mask``: pooled numerators
    over pooled denominators."""
    num, den = M.ratio_parts(name, s.tables)
    num = np.where(mask, num, 0).sum(axis=-1)
    den = np.where(mask, den, 0).sum(axis=-1)
    return M._divide(num, den)


def log_prevalence(s: Stats) -> tuple[np.ndarray, np.ndarray]:
    """``(log10 prevalence, support)`` of every class (NaN where absent), per replicate."""

    def compute():
        sup = s.tables.support.astype(np.float64)
        with np.errstate(divide="ignore", invalid="ignore"):
            x = np.log10(np.where(sup > 0, sup / sup.sum(axis=-1, keepdims=True), np.nan))
        return x, sup

    return s.cached(("log_prevalence",), compute)


# ------------------------------------------------------------------------------------------------
# estimates of derived statistics


def estimate_from_interval(theta, res: dict, method: str | None) -> Estimate:
    """The :class:`Estimate` of a derived statistic from an interval dict of
    :func:`~prevalens.intervals.interval_from_replicates` (scalars)."""
    theta = float(theta)
    if math.isnan(theta):
        return Estimate(math.nan, method=method, status="undefined")
    undef = float(res.get("undefined_fraction", 0.0) or 0.0)
    note = res.get("note")
    if isinstance(note, np.ndarray):
        note = note[()]
    # approximate (e.g. few effective clusters): unstable, and the note says why
    approximate = bool(res.get("approximate")) and math.isfinite(float(res["low"]))
    return Estimate(
        theta,
        ci_low=float(res["low"]),
        ci_high=float(res["high"]),
        se=float(res["se"]),
        method=method,
        status="unstable" if undef > UNSTABLE_FRACTION or approximate else "ok",
        note=str(note) if note else None,
        undefined_fraction=undef if undef > 0 else None,
    )


def point_only(theta, method: str = POINT_ONLY) -> Estimate:
    theta = float(theta)
    return Estimate(theta, method=method, status="undefined" if math.isnan(theta) else "ok")


@dataclass
class Context:
    """Everything an analysis reads: the classes and their counts, the point estimates, the
    engine's joint replicates (None without intervals), the configuration and the strata.

    Attributes
    ----------
    findings_metrics : tuple of str
        The metrics claims are made about (``roc_auc`` only when there are scores).
    eligible : ndarray of bool (K,)
        Classes that may carry a claim: at least ``min_support`` true samples (and one).
    insufficient : ndarray of bool (K,)
        Classes with samples but fewer than ``min_support``.
    """

    classes: tuple
    cm: np.ndarray
    point: dict
    engine: Engine | None
    config: AuditConfig
    strata: StrataAssignment
    has_scores: bool
    per_class: tuple  # ClassResult of every class (their own intervals)

    def __post_init__(self):
        self.support = row_sums(self.cm)
        self.k = self.cm.shape[0]
        self.alpha = 1 - self.config.confidence_level
        self.insufficient = (self.support > 0) & (self.support < self.config.min_support)
        self.eligible = self.support >= max(self.config.min_support, 1)
        fm = tuple(m for m in self.config.findings_metrics if m != "roc_auc" or self.has_scores)
        self.findings_metrics = fm or ("recall",)
        self._proportions: dict = {}
        self.boot = self.engine.counts if self.engine is not None else None
        design = self.engine.design if self.engine is not None else None
        self.method_ci = (
            None
            if self.boot is None
            else f"{self.config.interval}({self.boot.method} bootstrap, B={self.boot.n_resamples})"
            if design is None
            else f"jackknife over clusters, t(df={design.df:.1f}); {design.n_clusters} clusters, "
            f"effective number {design.effective:.1f}"
        )
        #: t degrees of freedom of the claims' estimate/se ratios (None: normal)
        self.claim_df = design.df if design is not None else None
        self._point_stats: Stats | None = None

    def proportions(self, metric: str) -> ClassProportions:
        """The counts behind each class's ``metric`` as proportions (for MOVER), built once per
        metric, so that the one-proportion limits at a given level are computed once."""
        if metric not in self._proportions:
            self._proportions[metric] = ClassProportions(class_tables(self.cm), metric)
        return self._proportions[metric]

    @property
    def has_intervals(self) -> bool:
        return self.boot is not None

    @property
    def clustered(self) -> bool:
        """Whether rows are resampled by cluster (the leave-one-cluster-out jackknife)."""
        return self.engine is not None and self.engine.design is not None

    def point_stats(self) -> Stats:
        """The point estimates as a :class:`Stats` (when there are no replicates)."""
        if self._point_stats is None:
            self._point_stats = Stats(
                {k: np.asarray(v) for k, v in self.point.items()}, class_tables(self.cm)
            )
        return self._point_stats

    def _interval(self, fn, value_range):
        boot = self.boot
        design = self.engine.design if self.engine is not None else None
        if design is not None:
            # clusters: the leave-one-cluster-out jackknife with t(Kish - 1) (docs/design.md)
            # (a per-class statistic of a jackknife in sparse-delta form stays in it: its
            # interval is computed in column blocks)
            theta, jack = np.asarray(fn(boot.point)), fn(boot.jackknife)
            scale = "logit" if value_range == (0.0, 1.0) else "linear"
            lo, hi, se = jackknife_t_interval(
                theta, jack, boot.jackknife_weights, df=design.df, alpha=self.alpha, scale=scale
            )
            note = np.full(np.shape(theta), design.few, dtype=object)
            return theta, {
                "low": lo,
                "high": hi,
                "se": se,
                "note": note,
                "undefined_fraction": np.zeros(np.shape(theta)),
                "approximate": design.few is not None,
            }
        theta, reps, jack = boot.derive(fn)
        return theta, boot.intervals_of(
            theta,
            reps,
            jack,
            alpha=self.alpha,
            method=self.config.interval,
            value_range=value_range,
        )

    def estimate(
        self, fn, value_range=None, *, method: str | None = None
    ) -> tuple[Estimate, float]:
        """``(Estimate, estimate)`` of the derived statistic ``fn(stats)`` (a scalar per stats
        object), with its interval from the joint replicates."""
        if self.boot is None:
            theta = float(fn(self.point_stats()))
            return point_only(theta), theta
        theta, res = self._interval(fn, value_range)
        return estimate_from_interval(theta, res, method or self.method_ci), float(theta)

    def estimates(self, fn, value_range=None) -> list[tuple[Estimate, float]]:
        """As :meth:`estimate` for a statistic with a trailing axis of several values (e.g. every
        class at once): one derivation, not one per value."""
        if self.boot is None:
            theta = np.asarray(fn(self.point_stats()), dtype=float)
            return [(point_only(t), float(t)) for t in theta]
        theta, res = self._interval(fn, value_range)
        out = []
        for i, t in enumerate(np.asarray(theta, dtype=float)):
            part = {
                name: (v[i] if isinstance(v, np.ndarray) and v.ndim else v)
                for name, v in res.items()
            }
            out.append((estimate_from_interval(t, part, self.method_ci), float(t)))
        return out
