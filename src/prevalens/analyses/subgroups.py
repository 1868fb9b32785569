"""Classes within subgroups: where the classifier's errors differ between groups of rows (sex, age
band, site), class by class.

For each grouping (a group column, or an intersection of several; :class:`prevalens.io.
GroupColumn`) and each of its levels, the proportions auditors compare between groups, per
class (one-vs-rest) and overall:

* recall (equal opportunity), its true samples of the class in the level;
* false-positive rate, over the level's samples of the other classes;
* precision (predictive parity), over the level's samples predicted as the class;
* accuracy, over the level's samples.

Each with Wilson's score interval (with a cluster column, the cluster-robust effective-trials
Wilson interval of :func:`~prevalens.intervals.cluster_ratio_interval`): valid for the small
cells a rare class leaves in a subgroup, and at 0 and 1, where a bootstrap of a few samples
cannot vary.

Disparities: each level against the rest of the rows and against a reference level (the
largest unless ``subgroup_reference`` names one), as the difference (MOVER with the two
independent Wilson intervals: Newcombe's hybrid score interval, his method 10) and the ratio
(MOVER-R, Donner & Zou 2012) of the two proportions. The levels hold disjoint rows, so the two
sides are independent (with a cluster column: when no cluster spans two levels, which a site
or a patient's sex satisfies; the analysis says when it does not). The differences against the
rest join the audit's one Holm family (claims need both cells at ``min_support`` samples or
more), through their own family of intervals, so decision and adjusted interval agree.

The largest gap between levels (the range of a proportion across the levels) has an interval
that accounts for its selection: every pairwise difference's interval at the Bonferroni level
alpha / (number of pairs) holds at once with probability 1 - alpha, and then the range lies
between the largest lower limit and the largest upper limit.

Small cells: a (class, level) cell with fewer than ``subgroup_min_cell`` true samples, or a level
with fewer rows, is suppressed in every output: its proportions, their intervals and the
disparities that rest on them are withheld, and the rest's values beside a suppressed cell too
(they would give it away by subtraction from the overall counts). Counts of (class, level) cells
are never written; a level's size is written unless it is suppressed, and when exactly one
level of a grouping is suppressed the next smallest level's size is withheld as well.
``subgroup_disclose`` writes the suppressed values to results.json only (never to the report or
the exports), marked as suppressed.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
from scipy import special

from ..intervals import (
    _wilson_at_z,
    clopper_pearson_interval,
    clopper_pearson_limit,
    cluster_ratio_interval,
    interval_pvalue,
    mover_linear,
    mover_ratio,
)
from ..results import (
    Disparity,
    Estimate,
    SubgroupCell,
    SubgroupGrouping,
    SubgroupLevel,
    Subgroups,
)
from .family import Claim, IntervalBatch
from .subgroup_averages import MAX_CLASSES, level_averages, max_gap

__all__ = ["analyse_subgroups", "subgroup_findings", "subgroups_adjusted", "METRICS"]

#: The proportions compared between levels, per class; accuracy is per level.
METRICS = ("recall", "fpr", "precision")
#: The metrics that make claims against the rest (each class's recall, false-positive rate and
#: precision, and accuracy).
CLAIMED = ("recall", "fpr", "precision", "accuracy")
SUPPRESSED_NOTE = "suppressed: fewer than {n} samples in this cell"


@dataclass
class _Counts:
    """Per level (L) and class (K): the numerators and denominators of every proportion."""

    n: np.ndarray  # (L,)
    support: np.ndarray  # (L, K)
    predicted: np.ndarray  # (L, K)
    tp: np.ndarray  # (L, K)

    def parts(self, metric):
        """(numerator, denominator) of ``metric`` per level and class (accuracy: per level)."""
        if metric == "recall":
            return self.tp, self.support
        if metric == "precision":
            return self.tp, self.predicted
        if metric == "fpr":
            fp = self.predicted - self.tp
            return fp, self.n[..., None] - self.support
        if metric == "accuracy":
            return self.tp.sum(axis=-1), self.n
        raise ValueError(metric)


def _counts(codes, y_true, y_pred, n_levels, k, weights=None) -> _Counts:
    w = None if weights is None else weights
    n = np.bincount(codes, weights=w, minlength=n_levels).astype(np.float64)
    support = np.bincount(codes * k + y_true, weights=w, minlength=n_levels * k)
    predicted = np.bincount(codes * k + y_pred, weights=w, minlength=n_levels * k)
    hit = y_true == y_pred
    tp = np.bincount(
        codes[hit] * k + y_true[hit], weights=None if w is None else w[hit], minlength=n_levels * k
    )
    shape = (n_levels, k)
    return _Counts(n, support.reshape(shape), predicted.reshape(shape), tp.reshape(shape))


class _Side:
    """One side of a comparison (a level, the rest, the reference), for every class (or, for
    accuracy, once): its proportion and the limits of its interval at any normal quantile z."""

    def __init__(self, num, den, cluster_num=None, cluster_den=None):
        self.num = np.asarray(num, dtype=np.float64)
        self.den = np.asarray(den, dtype=np.float64)
        with np.errstate(invalid="ignore", divide="ignore"):
            self.p = np.where(self.den > 0, self.num / np.where(self.den > 0, self.den, 1), np.nan)
        self.cluster = cluster_num is not None
        self._cn, self._cd = cluster_num, cluster_den

    def take(self, idx) -> _Side:
        """The side restricted to the cells ``idx`` of its flattened proportions (without a
        cluster column: the cluster-robust limits come one level at a time)."""
        assert not self.cluster
        return _Side(self.num.reshape(-1)[idx], self.den.reshape(-1)[idx])

    def limits(self, z, exact: bool = False):
        """(low, high) at quantile ``z`` (broadcast against the proportions): Wilson's, or with
        ``exact`` Clopper-Pearson's (the limits of the claims at their adjusted levels, far in
        the tails, where Wilson's are too narrow for a small cell)."""
        if not self.cluster:
            if exact:
                return clopper_pearson_interval(
                    self.num, self.den, alpha=2 * special.ndtr(-np.asarray(z, dtype=np.float64))
                )
            return _wilson_at_z(self.num, self.den, z)
        # cluster-robust: the effective-trials Wilson interval at the level of z (one level at
        # a time: z is a scalar here)
        alpha = float(2 * special.ndtr(-float(np.max(z))))
        shape = self.p.shape
        _, lo, hi, _, _ = cluster_ratio_interval(
            self._cn.reshape(self._cn.shape[0], -1),
            self._cd.reshape(self._cd.shape[0], -1),
            alpha=alpha,
        )
        return lo.reshape(shape), hi.reshape(shape)


def _mover_d(a: _Side, b: _Side, z, exact: bool = False):
    """MOVER limits of a.p - b.p (independent sides) at quantile z: Newcombe's hybrid score
    interval with Wilson's limits (his method 10)."""
    la, ua = a.limits(z, exact)
    lb, ub = b.limits(z, exact)
    est, low, high = np.broadcast_arrays(
        *(np.stack(np.broadcast_arrays(u, v)) for u, v in ((a.p, b.p), (la, lb), (ua, ub)))
    )
    coef = np.array([1.0, -1.0]).reshape((2,) + (1,) * (est.ndim - 1))
    lo, hi, _ = mover_linear(est, low, high, coef, axis=0)
    return lo, hi


def _mover_family(a: _Side, b: _Side, exact: bool, up=None):
    """``z -> (low, high)``: the flattened MOVER limits of a.p - b.p at any quantile (the family
    of nested intervals a p-value inverts and a claim's adjusted interval is taken from).

    With ``up`` (a flag per proportion, as ``interval_pvalue`` reads it: the estimate above 0),
    only the limit each p-value reads is right: ``low`` where ``up``, ``high`` elsewhere. The
    lower MOVER limit of a - b takes a's lower and b's upper limit, the upper one the other two,
    so each side computes one Clopper-Pearson limit per proportion instead of two (the same
    numbers bit for bit, half the beta inversions)."""

    if up is None or not exact or a.cluster or b.cluster:

        def at(z):
            lo, hi = _mover_d(a, b, z, exact)
            return lo.reshape(-1), hi.reshape(-1)

        return at
    up = np.asarray(up, dtype=bool).reshape(-1)

    def one_sided(z):
        alpha = 2 * special.ndtr(-np.asarray(z, dtype=np.float64))
        la = clopper_pearson_limit(a.num.reshape(-1), a.den.reshape(-1), up, alpha=alpha)
        lb = clopper_pearson_limit(b.num.reshape(-1), b.den.reshape(-1), ~up, alpha=alpha)
        est, lim = (np.stack(np.broadcast_arrays(u, v)) for u, v in ((a.p, b.p), (la, lb)))
        est = est.reshape(2, -1)
        lim = lim.reshape(2, -1)
        lo, hi, _ = mover_linear(est, lim, lim, np.array([[1.0], [-1.0]]), axis=0)
        return lo, hi

    return one_sided


class _PRequest(NamedTuple):
    """P-values wanted: of a.p - b.p = d at the flat indices ``rows``, written to ``out``."""

    a: _Side
    b: _Side
    rows: np.ndarray
    d: np.ndarray
    out: np.ndarray


def _pvalues_of(requests: list[_PRequest], exact: bool) -> None:
    """Every request's p-values, each row's MOVER family inverted (:func:`interval_pvalue`), all
    the requests' rows in one bisection (element by element: the same numbers as one request at
    a time)."""
    requests = [q for q in requests if q.rows.size]
    if not requests:
        return

    def joined(side: str) -> _Side:
        sides = [(getattr(q, side), q.rows) for q in requests]
        return _Side(
            np.concatenate([s.num.reshape(-1)[rows] for s, rows in sides]),
            np.concatenate([s.den.reshape(-1)[rows] for s, rows in sides]),
        )

    d = np.concatenate([q.d[q.rows] for q in requests])
    p = interval_pvalue(_mover_family(joined("a"), joined("b"), exact, up=d > 0), d)
    for q, part in zip(requests, np.split(p, np.cumsum([q.rows.size for q in requests])[:-1])):
        q.out[q.rows] = part


class _Comparison(NamedTuple):
    """One level against the rest or the reference, for one metric: its rows' values."""

    metric: str
    per_class: bool
    name: str
    against: str
    a: _Side
    b: _Side
    show: np.ndarray
    eligible: np.ndarray
    d: np.ndarray
    dlo: np.ndarray
    dhi: np.ndarray
    r: np.ndarray
    rlo: np.ndarray
    rhi: np.ndarray
    pvals: np.ndarray | None
    claim_p: np.ndarray | None


def _mover_ratio(a: _Side, b: _Side, z):
    """MOVER-R limits of a.p / b.p (Donner & Zou 2012); NaN (low) or inf (high) where
    undefined."""
    la, ua = a.limits(z)
    lb, ub = b.limits(z)
    low, high, ok_low, ok_high = mover_ratio(a.p, la, ua, b.p, lb, ub)
    return np.where(ok_low, low, np.nan), np.where(ok_high, high, np.inf)


def _estimate(theta, lo, hi, z, method, status="ok", note=None) -> Estimate:
    theta = float(theta)
    if not math.isfinite(theta):
        return Estimate(math.nan, method=method, status="undefined", note=note)
    lo, hi = float(lo), float(hi)
    if not (math.isfinite(lo) and math.isfinite(hi)):
        return Estimate(
            theta,
            ci_low=lo if math.isfinite(lo) else math.nan,
            ci_high=hi if math.isfinite(hi) else math.nan,
            method=method,
            status="no_interval" if status == "ok" else status,
            note=note or "no interval: a side has no spread at this level",
        )
    return Estimate(
        theta, min(lo, theta), max(hi, theta), (hi - lo) / (2 * z), method, status, note
    )


def _suppressed(n, disclose_value=None, *, disclose=False) -> Estimate:
    """A suppressed value: no value, or with ``disclose`` the value marked ``suppressed`` (for
    results.json only: every report and export withholds what carries this status)."""
    from dataclasses import replace

    note = SUPPRESSED_NOTE.format(n=n)
    if disclose and disclose_value is not None:
        return replace(disclose_value, status="suppressed", note=f"{note} (disclosed)")
    return Estimate(math.nan, status="suppressed", note=note)


def analyse_subgroups(pred, config, claims_out: list, strata=None) -> Subgroups | None:
    """The subgroup analysis of ``pred.groups`` (None without groups); appends its claims (each
    level against the rest) to ``claims_out``. ``strata`` (the audit's
    :class:`~prevalens.strata.StrataAssignment`) adds each level's averages, strata and gap
    (:mod:`.subgroup_averages`)."""
    groups = getattr(pred, "groups", ()) or ()
    if not groups:
        return None
    alpha = 1 - config.confidence_level
    z = float(special.ndtri(1 - alpha / 2))
    k = pred.n_classes
    min_cell = int(getattr(config, "subgroup_min_cell", 10))
    min_support = max(int(config.min_support), 1)
    disclose = bool(getattr(config, "subgroup_disclose", False))
    reference_name = getattr(config, "subgroup_reference", None)
    y_true, y_pred = np.asarray(pred.y_true), np.asarray(pred.y_pred)
    cluster = pred.cluster
    method = (
        "Wilson score interval"
        if cluster is None
        else "cluster-robust Wilson interval (Korn-Graubard effective trials, t(Kish - 1))"
    )
    d_method = f"MOVER with each side's {method} (independent groups)"
    r_method = f"MOVER-R with each side's {method} (independent groups)"
    setup = _Setup(
        k,
        z,
        alpha,
        min_cell,
        min_support,
        disclose,
        reference_name,
        method,
        d_method,
        r_method,
        config,
        strata,
    )
    groupings = [
        _grouping(gi, g, pred, y_true, y_pred, cluster, setup, claims_out)
        for gi, g in enumerate(groups)
    ]
    return Subgroups(
        method=(
            f"per class and level: recall, false-positive rate and precision, and each level's "
            f"accuracy, with the {method}; disparities against the rest and against a reference "
            f"level: the difference ({d_method}) and the ratio ({r_method}); the largest gap "
            "across levels from every pairwise difference's interval at the Bonferroni level"
        ),
        min_cell=min_cell,
        disclosed=disclose,
        groupings=tuple(groupings),
    )


@dataclass(frozen=True)
class _Setup:
    """What every grouping's analysis shares: the classes, the quantile and level, the rules
    (suppression, eligibility, disclosure, the reference) and the methods' names."""

    k: int
    z: float
    alpha: float
    min_cell: int
    min_support: int
    disclose: bool
    reference_name: str | None
    method: str
    d_method: str
    r_method: str
    config: object = None
    strata: object = None


def _grouping(gi, g, pred, y_true, y_pred, cluster, setup: _Setup, claims_out) -> SubgroupGrouping:
    k, z, alpha = setup.k, setup.z, setup.alpha
    min_cell, min_support, disclose = setup.min_cell, setup.min_support, setup.disclose
    reference_name = setup.reference_name
    method, d_method, r_method = setup.method, setup.d_method, setup.r_method
    codes = np.asarray(g.codes, dtype=np.int64)
    n_levels = len(g.levels)
    c = _counts(codes, y_true, y_pred, n_levels, k)
    total = _counts(np.zeros_like(codes), y_true, y_pred, 1, k)
    cl_level = cl_total = None
    notes: list[str] = []
    if cluster is not None:
        n_cl = int(np.asarray(cluster).max()) + 1
        cl_level = _cluster_counts(codes, y_true, y_pred, cluster, n_levels, k, n_cl)
        cl_total = _cluster_counts(np.zeros_like(codes), y_true, y_pred, cluster, 1, k, n_cl)
        spans = np.unique(np.stack([np.asarray(cluster), codes]), axis=1)
        if np.unique(spans[0]).size < spans.shape[1]:
            notes.append(
                "some clusters span two or more levels: the levels' sides are then not "
                "independent, and the disparities' intervals may be too wide or too narrow"
            )
    # suppression: levels, and (class, level) cells by their true samples (and, for precision,
    # their predicted samples)
    level_ok = c.n >= min_cell
    cell_ok = (c.support >= min_cell) & level_ok[:, None]
    pred_ok = (c.predicted >= min_cell) & level_ok[:, None]
    withheld_size = np.zeros(n_levels, dtype=bool)
    if (~level_ok).sum() == 1 and level_ok.sum() >= 1:
        # the one suppressed level's size would follow from the others' and the total
        shown = np.flatnonzero(level_ok)
        withheld_size[shown[np.argmin(c.n[shown])]] = True

    if reference_name is not None and str(reference_name) in g.levels:
        ref = g.levels.index(str(reference_name))
    else:
        ref = int(np.argmax(c.n))

    def side(metric, rows):
        """The _Side of ``metric`` for levels ``rows`` (an index array) or the rest of level
        ``rest`` (a scalar level index: total minus it)."""
        num, den = c.parts(metric)
        if cl_level is None:
            return _Side(num[rows], den[rows])
        cn, cd = cl_level.parts(metric)
        return _Side(num[rows], den[rows], cn[:, rows], cd[:, rows])

    def rest_side(metric, level):
        num, den = c.parts(metric)
        tn, td = total.parts(metric)
        if cl_level is None:
            return _Side(tn[0] - num[level], td[0] - den[level])
        cn, cd = cl_level.parts(metric)
        ctn, ctd = cl_total.parts(metric)
        return _Side(
            tn[0] - num[level],
            td[0] - den[level],
            ctn[:, 0] - cn[:, level],
            ctd[:, 0] - cd[:, level],
        )

    def ok_of(metric):
        """(L, K) or (L,): the cells whose values may be shown."""
        if metric == "accuracy":
            return level_ok
        return pred_ok & cell_ok if metric == "precision" else cell_ok

    def eligible_of(metric):
        num, den = c.parts(metric)
        return den >= min_support

    # the levels' own proportions
    own = {}
    for metric in METRICS + ("accuracy",):
        s = side(metric, np.arange(n_levels))
        lo, hi = s.limits(z)
        own[metric] = (s.p, lo, hi)

    levels = []
    for li, name in enumerate(g.levels):
        if not level_ok[li]:
            levels.append(
                SubgroupLevel(
                    level=name, n=None, suppressed=True, accuracy=_suppressed(min_cell), cells=()
                )
            )
            continue
        p, lo, hi = own["accuracy"]
        acc = _estimate(p[li], lo[li], hi[li], z, method)
        cells = []
        for j in range(k):
            vals = {}
            for metric in METRICS:
                p, lo, hi = own[metric]
                e = _estimate(p[li, j], lo[li, j], hi[li, j], z, method)
                vals[metric] = (
                    e if ok_of(metric)[li, j] else _suppressed(min_cell, e, disclose=disclose)
                )
            cells.append(
                SubgroupCell(
                    label=pred.classes[j],
                    suppressed=not bool(cell_ok[li, j]),
                    recall=vals["recall"],
                    fpr=vals["fpr"],
                    precision=vals["precision"],
                )
            )
        levels.append(
            SubgroupLevel(
                level=name,
                n=None if withheld_size[li] else int(c.n[li]),
                suppressed=False,
                accuracy=acc,
                cells=tuple(cells),
            )
        )

    # disparities: each level against the rest and against the reference
    disparities = []
    # first every comparison's values, then the p-values of all of them in one bisection per
    # kind (element by element: the same numbers as one comparison at a time, without the cost of
    # 64 steps per comparison), then the rows and claims in the order of the comparisons
    comparisons: list[_Comparison] = []
    requests: dict[bool, list[_PRequest]] = {False: [], True: []}  # by exact
    for metric in ("accuracy",) + METRICS:
        ok = ok_of(metric)
        elig = eligible_of(metric)
        per_class = metric != "accuracy"
        for li, name in enumerate(g.levels):
            for against in ("rest", "reference"):
                if against == "reference" and li == ref:
                    continue
                a = side(metric, np.array([li]))
                b = rest_side(metric, li) if against == "rest" else side(metric, np.array([ref]))
                other_ok = (
                    np.ones(k if per_class else 1, dtype=bool)
                    if against == "rest"
                    else np.atleast_1d(ok[ref])
                )
                show = np.atleast_1d(ok[li]) & other_ok
                # the rest beside a suppressed cell would give the cell away
                d = a.p.reshape(-1) - b.p.reshape(-1)
                dlo, dhi = (v.reshape(-1) for v in _mover_d(a, b, z))
                with np.errstate(invalid="ignore", divide="ignore"):
                    r = a.p.reshape(-1) / b.p.reshape(-1)
                rlo, rhi = (v.reshape(-1) for v in _mover_ratio(a, b, z))
                pvals = claim_p = None
                # a claim is eligible when both sides hold min_support samples of the
                # denominator
                den = c.parts(metric)[1]
                rest_den = total.parts(metric)[1].reshape(-1) - np.atleast_1d(den[li])
                eligible = np.atleast_1d(elig[li]) & (rest_den >= min_support)
                if against == "rest" and metric in CLAIMED:
                    if cluster is None:
                        # the p-values by inverting each row's MOVER family: the shown p with
                        # the shown (Wilson) interval for the rows that show one, the claim's
                        # with the exact limits its adjusted interval uses where a claim can be
                        # made
                        rows_p = np.flatnonzero(show & np.isfinite(d) & np.isfinite(dlo))
                        rows_c = rows_p[eligible[rows_p]]
                        pvals = np.full(d.shape, np.nan)
                        claim_p = np.full(d.shape, np.nan)
                        requests[False].append(_PRequest(a, b, rows_p, d, pvals))
                        requests[True].append(_PRequest(a, b, rows_c, d, claim_p))
                    else:  # the cluster-robust limits come one level at a time: normal theory
                        with np.errstate(invalid="ignore", divide="ignore"):
                            se = (dhi - dlo) / (2 * z)
                            pvals = claim_p = 2 * special.ndtr(-np.abs(d) / se)
                comparisons.append(
                    _Comparison(
                        metric,
                        per_class,
                        name,
                        against,
                        a,
                        b,
                        show,
                        eligible,
                        d,
                        dlo,
                        dhi,
                        r,
                        rlo,
                        rhi,
                        pvals,
                        claim_p,
                    )
                )
    for exact, wanted in requests.items():
        _pvalues_of(wanted, exact)

    for cmp in comparisons:
        metric, per_class, name, against, a, b, show, eligible = cmp[:8]
        d, dlo, dhi, r, rlo, rhi, pvals, claim_p = cmp[8:]
        # the claims' adjusted intervals: the family evaluates them together
        batch = (
            IntervalBatch(_mover_family(a, b, True), int(d.size))
            if against == "rest" and metric in CLAIMED and cluster is None
            else None
        )
        for j in range(k if per_class else 1):
            label = pred.classes[j] if per_class else None
            if not show[j] and not disclose:
                continue
            diff = _estimate(d[j], dlo[j], dhi[j], z, d_method)
            ratio = _estimate(r[j], rlo[j], rhi[j], z, r_method)
            p_value = math.nan
            claim_key = None
            if (
                against == "rest"
                and metric in CLAIMED
                and show[j]
                and math.isfinite(diff.estimate)
                and math.isfinite(diff.ci_low)
            ):
                assert pvals is not None
                p_value = float(pvals[j])
                claim = Claim(
                    key=("subgroup", g.name, name, metric, label),
                    estimate=diff.estimate,
                    se=diff.se,
                    eligible=bool(eligible[j]),
                )
                if cluster is None:
                    assert claim_p is not None and batch is not None
                    # the claim's own cell only (the family calls this at each level)
                    at_cell = _mover_family(a.take([j]), b.take([j]), True)
                    claim.interval_at = lambda zz, f=at_cell: tuple(v[0] for v in f(zz))
                    claim.batch = (batch, j)
                    claim.p_value = float(claim_p[j])
                    claim.method = (
                        "MOVER with the two sides' Clopper-Pearson limits at the adjusted "
                        "level; p by inverting it"
                    )
                else:
                    claim.method = (
                        "normal, with the standard error of the cluster-robust MOVER interval"
                    )
                claims_out.append(claim)
                claim_key = claim.key
            disparities.append(
                Disparity(
                    level=name,
                    against="rest" if against == "rest" else g.levels[ref],
                    metric=metric,
                    label=label,
                    difference=diff,
                    ratio=ratio,
                    p_value=p_value,
                    suppressed=not bool(show[j]),
                    claim=claim_key,
                )
            )

    gaps = _max_gaps(own, ok_of, g.levels, k, alpha, pred.classes, side)
    if setup.strata is not None and setup.config is not None:
        avg = level_averages(
            codes,
            g.levels,
            pred,
            setup.config,
            setup.strata,
            cell_ok,
            pred_ok,
            level_ok,
            ref,
            g.name,
            claims_out,
            seed_key=gi,
        )
        if avg is None:
            notes.append(f"the averages within levels are not computed above {MAX_CLASSES} classes")
        else:
            levels = [_with_averages(lv, li, avg, disclose) for li, lv in enumerate(levels)]
            disparities.extend(avg.disparities)
            gaps.extend(avg.max_gaps)
    return SubgroupGrouping(
        name=g.name,
        levels=tuple(levels),
        reference=g.levels[ref],
        disparities=tuple(disparities),
        max_gaps=tuple(gaps),
        suppressed_cells=int((~cell_ok).sum()),
        suppressed_levels=int((~level_ok).sum()),
        missing=int(getattr(g, "missing", 0)),
        notes=tuple(notes),
    )


def _with_averages(level: SubgroupLevel, li: int, avg, disclose: bool) -> SubgroupLevel:
    """``level`` with its averages and its classes' ROC AUC (shown cells only)."""
    from dataclasses import replace

    if level.suppressed or li not in avg.per_level:
        return level
    auc = avg.auc.get(li)
    cells = level.cells
    if auc is not None:
        cells = tuple(
            replace(c, roc_auc=auc[j]) if not c.suppressed else c for j, c in enumerate(cells)
        )
    return replace(level, averages=dict(avg.per_level[li]), cells=cells)


def _cluster_counts(codes, y_true, y_pred, cluster, n_levels, k, n_clusters) -> _Counts:
    """Per cluster (axis 0): the counts of :func:`_counts` (C, L[, K])."""
    cl = np.asarray(cluster, dtype=np.int64)
    idx = cl * n_levels + codes
    n = np.bincount(idx, minlength=n_clusters * n_levels).reshape(n_clusters, n_levels)
    flat = idx * k
    support = np.bincount(flat + y_true, minlength=n_clusters * n_levels * k)
    predicted = np.bincount(flat + y_pred, minlength=n_clusters * n_levels * k)
    hit = y_true == y_pred
    tp = np.bincount(flat[hit] + y_true[hit], minlength=n_clusters * n_levels * k)
    shape = (n_clusters, n_levels, k)
    return _Counts(
        n.astype(np.float64),
        support.reshape(shape).astype(np.float64),
        predicted.reshape(shape).astype(np.float64),
        tp.reshape(shape).astype(np.float64),
    )


def _pairwise_mover(p, lo, hi):
    """MOVER limits of p_a - p_b for every ordered pair of levels (a, b), from each level's own
    limits: (L, L) arrays."""
    pair = (slice(None), None), (None, slice(None))
    est, low, high = (np.stack(np.broadcast_arrays(v[pair[0]], v[pair[1]])) for v in (p, lo, hi))
    coef = np.array([1.0, -1.0]).reshape(2, 1, 1)
    lo_d, hi_d, _ = mover_linear(est, low, high, coef, axis=0)
    return lo_d, hi_d


def _max_gaps(own, ok_of, levels, k, alpha, classes, side) -> list:
    """The range of each proportion across the levels whose cells may be shown, with the
    Bonferroni-simultaneous interval over every pair of levels."""
    out = []
    for metric in ("accuracy",) + METRICS:
        per_class = metric != "accuracy"
        ok = ok_of(metric)
        for j in range(k if per_class else 1):
            show = ok[:, j] if per_class else ok
            idx = np.flatnonzero(show)
            if idx.size < 2:
                continue
            p = own[metric][0][idx, j] if per_class else own[metric][0][idx]
            if not np.isfinite(p).all():
                idx = idx[np.isfinite(p)]
                if idx.size < 2:
                    continue
                p = own[metric][0][idx, j] if per_class else own[metric][0][idx]
            pairs = idx.size * (idx.size - 1) // 2
            zb = float(special.ndtri(1 - alpha / (2 * pairs)))
            s = side(metric, idx)
            lo, hi = s.limits(zb)
            if per_class:
                lo, hi = lo[:, j], hi[:, j]
            # pairwise MOVER limits of p_a - p_b at the Bonferroni level, for every ordered pair
            low_pair, high_pair = _pairwise_mover(p, lo, hi)
            out.append(
                max_gap(
                    metric,
                    classes[j] if per_class else None,
                    p,
                    low_pair,
                    high_pair,
                    [levels[i] for i in idx],
                    f"range across {idx.size} levels; simultaneous interval from every pairwise "
                    f"difference at the Bonferroni level (alpha / {pairs})",
                )
            )
    return out


def subgroup_findings(sub: Subgroups | None, by_key: dict, config) -> list:
    """Findings in words: per grouping and level, the claimed disparities against the rest (the
    adjusted interval excludes 0 and the difference is at least ``min_effect``)."""
    from ..formatting import fmt_number, fmt_signed_number, metric_text
    from ..results import Finding

    if sub is None:
        return []
    out = []
    words = {
        "recall": "recall",
        "fpr": "false-positive rate",
        "precision": "precision",
        "f1": "F1",
        "roc_auc": "ROC AUC",
    }
    for g in sub.groupings:
        said = False
        for level in g.levels:
            rows = []
            for d in g.disparities:
                if d.level != level.level or d.against != "rest" or d.claim is None:
                    continue
                c = by_key.get(d.claim)
                if c is None or not c.significant or abs(d.difference.estimate) < config.min_effect:
                    continue
                rows.append((d, c))
            if not rows:
                continue
            said = True
            # accuracy and the macro averages first, then the largest differences; the rest are
            # in the subgroups table
            rows.sort(
                key=lambda dc: (
                    0
                    if dc[0].metric == "accuracy"
                    else 1
                    if dc[0].metric.startswith("macro.")
                    else 2,
                    -abs(dc[0].difference.estimate),
                )
            )
            shown, more = rows[:8], len(rows) - 8
            bits = []
            evidence = []
            for d, c in shown:
                what = (
                    metric_text("accuracy")
                    if d.metric == "accuracy"
                    else f"macro {words[d.metric.split('.', 1)[1]]}"
                    if d.metric.startswith("macro.")
                    else (f"{words[d.metric]} of class {d.label!r}")
                )
                a = c.adjusted(config.divergence_adjustment)
                pa = a.p_adjusted if a is not None else math.nan
                ptext = "< 0.0001" if pa < 1e-4 else "= " + fmt_number(pa, 4, bounds=(0.0,))
                bits.append(
                    f"{what} {fmt_signed_number(d.difference.estimate, 3)} "
                    f"({a.adjustment.capitalize()}-adjusted CI {fmt_signed_number(a.ci_low, 3)} "
                    f"to {fmt_signed_number(a.ci_high, 3)}, adjusted p {ptext})"
                )
                evidence.append(
                    {
                        "metric": d.metric,
                        "label": d.label,
                        "difference": d.difference.to_dict(),
                        "adjusted": a.to_dict() if a is not None else None,
                    }
                )
            worse = any(
                (d.difference.estimate < 0) != (d.metric in ("fpr", "macro.fpr")) for d, _ in rows
            )
            out.append(
                Finding(
                    f"subgroup-{g.name}-{level.level}",
                    "subgroup_disparity",
                    "high" if worse else "info",
                    None,
                    tuple(dict.fromkeys(d.label for d, _ in rows if d.label is not None)),
                    {"grouping": g.name, "level": level.level, "rows": evidence},
                    f"{g.name} = {level.level} differs from the rest of the rows: "
                    + "; ".join(bits)
                    + (f"; and {more} more in the subgroups table" if more > 0 else "")
                    + " (difference: this level minus the rest).",
                )
            )
        if not said:
            judged = sum(
                1
                for d in g.disparities
                if d.claim is not None and (c := by_key.get(d.claim)) is not None and c.testable
            )
            out.append(
                Finding(
                    f"subgroup-{g.name}-none",
                    "no_subgroup_disparity",
                    "info",
                    None,
                    (),
                    {
                        "grouping": g.name,
                        "level": None,
                        "rows": [],
                        "judged": judged,
                        "min_effect": config.min_effect,
                        "suppressed_cells": g.suppressed_cells,
                    },
                    f"No evidence that any level of {g.name} differs from the rest of the rows "
                    f"by at least {fmt_number(config.min_effect, 2, bounds=())} in accuracy, a "
                    "macro average of the findings metrics, or a class's recall, false-positive "
                    f"rate or precision ({judged} comparisons "
                    "in the family; cells below min_support were not judged"
                    + (f", {g.suppressed_cells} suppressed" if g.suppressed_cells else "")
                    + ").",
                )
            )
    return out


def subgroups_adjusted(sub: Subgroups | None, by_key: dict, how: str) -> Subgroups | None:
    """``sub`` with each claimed disparity's adjusted interval and decision."""
    from dataclasses import replace

    if sub is None:
        return None
    out = []
    for g in sub.groupings:
        rows = []
        for d in g.disparities:
            c = by_key.get(d.claim) if d.claim is not None else None
            a = c.adjusted(how) if c is not None and c.eligible else None
            rows.append(replace(d, adjusted=a) if a is not None else d)
        out.append(replace(g, disparities=tuple(rows)))
    return replace(sub, groupings=tuple(out))
