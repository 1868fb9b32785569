"""Averages within subgroups: each level's macro averages, strata and gap, and ROC AUC, with
their disparities against the rest and against the reference level.

Per level (the classes averaged are the level's shown cells: those not suppressed; for precision
also not suppressed by their predicted samples, so that no average gives a suppressed cell away):

* ``macro.recall``, ``macro.fpr``, ``macro.precision``, ``macro.f1``, and ``weighted.f1``
  (weighted by the level's true samples); ``overall.cohen_kappa`` and ``overall.mcc`` (over
  every class: they give no cell away);
* ``gap.recall``, ``gap.f1``: the macro average minus the level's accuracy (its micro recall
  and micro F1), the audit's prevalence gap within the level;
* ``stratum.<name>.recall`` and ``.f1``: the macro over the classes of each of the audit's
  strata (the strata are the audit's, by each class's prevalence over all rows);
  ``extremes.recall`` and ``.f1``: the rarest stratum's macro minus the most common one's;
* with scores: each class's ROC AUC in the level and ``macro.roc_auc``.

Label averages come from the audit's count bootstrap, stratified by (level, class): each level's
confusion matrix is drawn row by row (one multinomial per true class within the level), so the
rest of a level is the sum of the other levels' draws, and a level and its rest are independent.
The intervals are the audit's (BCa by default) with the exact cell jackknife over the rows of
both sides for the acceleration (``docs/design.md``, "Subgroups"). With a cluster column, the
leave-one-cluster-out jackknife with t(Kish - 1) instead, as in the audit, removing each cluster
from whichever side holds its rows (a cluster spanning levels is removed from both).

ROC AUC: DeLong's variance within the level (cluster-robust with a cluster column), on the logit
scale as the audit's; differences and ratios by MOVER from the two sides' intervals.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import special

from .. import metrics as M
from .. import ranking as R
from ..counts import Tables
from ..intervals import (
    bootstrap_p_value,
    interval_from_replicates,
    logit_interval,
    mover_linear,
    mover_ratio,
)
from ..results import Disparity, Estimate, MaxGap
from ..uncertainty import ClusterDesign, _draw_tables, jackknife_counts
from .family import Claim

__all__ = ["LABEL_AVERAGES", "LevelAverages", "level_averages", "max_gap", "MAX_CLASSES"]

#: The label metrics averaged within a level.
LABEL_AVERAGES = ("recall", "fpr", "precision", "f1")
#: The metrics of the within-level gap (macro minus micro) and of the strata.
STRATA_AVERAGES = ("recall", "f1")
#: Above this many classes the averages within subgroups are not computed (a note says so).
MAX_CLASSES = 2048
#: Draw cells per chunk of the stratified draws within levels.
_DRAW_CELLS = 2_000_000


@dataclass
class _T:
    """One-vs-rest counts with any leading axes: tp, predicted and true samples (..., K), and n
    (...)."""

    tp: np.ndarray
    pred: np.ndarray
    sup: np.ndarray
    n: np.ndarray

    def __sub__(self, other: _T) -> _T:
        return _T(
            self.tp - other.tp, self.pred - other.pred, self.sup - other.sup, self.n - other.n
        )

    @classmethod
    def of_cm(cls, cm) -> _T:
        cm = np.asarray(cm, dtype=np.float64)
        return cls(np.diagonal(cm, axis1=-2, axis2=-1), cm.sum(-2), cm.sum(-1), cm.sum((-2, -1)))


def _per_class(t: _T) -> dict[str, np.ndarray]:
    n = np.asarray(t.n, dtype=np.float64)[..., None]
    fp = t.pred - t.tp
    with np.errstate(invalid="ignore", divide="ignore"):
        out = {
            "recall": np.where(t.sup > 0, t.tp / t.sup, np.nan),
            "precision": np.where(t.pred > 0, t.tp / t.pred, np.nan),
            "f1": np.where(t.pred + t.sup > 0, 2 * t.tp / (t.pred + t.sup), np.nan),
            "fpr": np.where(n - t.sup > 0, fp / (n - t.sup), np.nan),
        }
        out["accuracy"] = np.where(t.n > 0, t.tp.sum(-1) / np.asarray(t.n, np.float64), np.nan)
    return out


def _means(values, masks, weights=None) -> list:
    """For each mask: the mean (or the ``weights``-weighted mean) over its classes of the
    defined values of ``values`` (..., K), NaN when none; sums of products over the classes
    (einsum: no copy of the masked columns, no BLAS, the same order on every machine)."""
    defined = ~np.isnan(values)
    v0 = np.where(defined, values, 0.0)
    d = defined.astype(np.float64)
    if weights is not None:
        w = np.broadcast_to(np.asarray(weights, np.float64), values.shape)
        v0 = v0 * w
        d = d * w
    out = []
    for mask in masks:
        mf = np.asarray(mask, dtype=np.float64)
        num = np.einsum("...k,k->...", v0, mf)
        cnt = np.einsum("...k,k->...", d, mf)
        with np.errstate(invalid="ignore", divide="ignore"):
            out.append(np.where(cnt > 0, num / np.where(cnt > 0, cnt, 1.0), np.nan))
    return out


@dataclass(frozen=True)
class _Masks:
    """The classes averaged on both sides of a comparison: ``shown`` (recall, fpr, f1) and
    ``precision`` (shown and not suppressed by predicted samples), and the strata's masks."""

    shown: np.ndarray
    precision: np.ndarray
    strata: tuple  # ((name, mask), ...) rarest first
    rarest: int | None
    most_common: int | None

    def of(self, metric):
        return self.precision if metric == "precision" else self.shown


def _tables(t: _T) -> Tables:
    fp = t.pred - t.tp
    fn = t.sup - t.tp
    return Tables(t.tp, fp, fn, np.asarray(t.n, np.float64)[..., None] - t.tp - fp - fn)


def _statistics(t: _T, m: _Masks) -> dict[str, np.ndarray]:
    # the per-class values and kappa and MCC do not depend on the masks: once per tables (a
    # level's tables serve its own averages, the reference comparison and the largest gaps)
    cache = t.__dict__.setdefault("_cache", {})
    if "pc" not in cache:
        cache["pc"] = _per_class(t)
        tables = _tables(t)
        with np.errstate(invalid="ignore", divide="ignore"):
            cache["overall.cohen_kappa"] = np.asarray(M.cohen_kappa(tables), np.float64)
            cache["overall.mcc"] = np.asarray(M.mcc(tables), np.float64)
    pc = cache["pc"]

    def means(name, masks, weighted=False):
        return _means(pc[name], masks, weights=t.sup if weighted else None)

    return _assemble(m, means, pc["accuracy"], cache["overall.cohen_kappa"], cache["overall.mcc"])


def _assemble(m: _Masks, means, accuracy, kappa, mcc) -> dict[str, np.ndarray]:
    """The averages of :func:`_statistics` from ``means(metric, masks, weighted=False)`` (each
    mask's mean of the per-class metric; weighted by the true samples), the accuracy, kappa and
    MCC: the same assembly for the tables (:func:`_statistics`) and the leave-one-out members
    (:class:`_LeaveOneOut`)."""
    out = {f"macro.{name}": means(name, [m.of(name)])[0] for name in ("fpr", "precision")}
    # recall and F1: the macro, each stratum's macro (over the shown classes); F1 also weighted
    # by the level's true samples, over the same classes
    strata = [m.shown & s_mask for _, s_mask in m.strata]
    for name in STRATA_AVERAGES:
        macro, *by_stratum = means(name, [m.shown] + strata)
        out[f"macro.{name}"] = macro
        out[f"gap.{name}"] = macro - accuracy
        by = {}
        for (s_name, _), value in zip(m.strata, by_stratum):
            by[s_name] = value
            out[f"stratum.{s_name}.{name}"] = value
        if m.rarest is not None and m.most_common is not None and m.rarest != m.most_common:
            out[f"extremes.{name}"] = by[m.strata[m.rarest][0]] - by[m.strata[m.most_common][0]]
    out["weighted.f1"] = means("f1", [m.shown], weighted=True)[0]
    # kappa and MCC over every class
    out["overall.cohen_kappa"] = kappa
    out["overall.mcc"] = mcc
    return {key: out[key] for key in _KEY_ORDER(m) if key in out}


class _LeaveOneOut:
    """The statistics of every distinct leave-one-out matrix of a confusion matrix (the exact
    cell jackknife's members, in :func:`~prevalens.uncertainty.jackknife_counts`' order), each
    in O(1) per member and average instead of O(K).

    Removing one sample of cell (i, j) changes the tables of classes i and j only, and N: so a
    (masked, possibly weighted) mean over the classes is the sum over every class in the
    member's world (N - 1; only the false-positive rate depends on N) with the two touched
    classes' terms replaced; kappa and MCC follow from the sums of tp, sup * pred, pred^2 and
    sup^2, updated the same way. Equal to :func:`_statistics` of the full (J, K) tables up to
    rounding (tested to 1e-12)."""

    def __init__(self, cm):
        cm = np.asarray(cm, dtype=np.int64)
        k = cm.shape[0]
        cells, weights = jackknife_counts(cm)
        i, j = np.divmod(cells, k)
        self.weights = np.asarray(weights, np.float64)
        self.strata = i
        p = _T.of_cm(cm)
        n1 = float(p.n) - 1.0
        diag = (i == j).astype(np.float64)
        self.i, self.j, self.off = i, j, i != j
        # every class in the member's world (N - 1), and the touched classes after the removal
        self.base = _per_class(_T(p.tp, p.pred, p.sup, np.float64(n1)))
        ti = _T(p.tp[i] - diag, p.pred[i] - diag, p.sup[i] - 1.0, np.full(i.shape, n1))
        tj = _T(p.tp[j], p.pred[j] - 1.0, p.sup[j], np.full(j.shape, n1))

        def touched(t: _T) -> dict:  # the per-class values of one class per member
            values = _per_class(_T(t.tp[:, None], t.pred[:, None], t.sup[:, None], t.n))
            return {key: v[:, 0] for key, v in values.items() if key != "accuracy"}

        self.new_i, self.new_j = touched(ti), touched(tj)
        self.sup, self.sup_i, self.sup_j = p.sup, ti.sup, tj.sup
        # accuracy, kappa and MCC from updated sums
        tp_sum = float(p.tp.sum()) - diag
        self.accuracy = tp_sum / n1 if n1 > 0 else np.full(i.shape, np.nan)

        def updated(total, old_i, old_j, new_i, new_j):
            return total - old_i + new_i + np.where(self.off, new_j - old_j, 0.0)

        sp = updated(
            float((p.sup * p.pred).sum()),
            p.sup[i] * p.pred[i],
            p.sup[j] * p.pred[j],
            ti.sup * ti.pred,
            tj.sup * tj.pred,
        )
        pp = updated(
            float((p.pred**2).sum()), p.pred[i] ** 2, p.pred[j] ** 2, ti.pred**2, tj.pred**2
        )
        ss = updated(float((p.sup**2).sum()), p.sup[i] ** 2, p.sup[j] ** 2, ti.sup**2, tj.sup**2)
        self.kappa = M._divide(tp_sum * n1 - sp, n1 * n1 - sp)
        self.mcc = M._divide(tp_sum * n1 - sp, np.sqrt((n1 * n1 - ss) * (n1 * n1 - pp)))

    def _means(self, name, masks, weighted=False) -> list:
        """Each mask's mean of per-class ``name`` in every member (as :func:`_means`)."""
        i, j, off = self.i, self.j, self.off
        base = self.base[name]
        d0 = ~np.isnan(base)
        w0 = self.sup if weighted else np.ones(base.shape)
        v0 = np.where(d0, base, 0.0) * w0
        c0 = d0 * w0

        def term(values, weight):
            d = ~np.isnan(values)
            return np.where(d, values, 0.0) * weight, d * weight

        wi = self.sup_i if weighted else 1.0
        wj = self.sup_j if weighted else 1.0
        vi, ci = term(self.new_i[name], wi)
        vj, cj = term(self.new_j[name], wj)
        out = []
        for mask in masks:
            mask = np.asarray(mask, dtype=bool)
            mi = mask[i]
            mj = mask[j] & off
            num = (
                float(v0[mask].sum())
                + np.where(mi, vi - v0[i], 0.0)
                + np.where(mj, vj - v0[j], 0.0)
            )
            cnt = (
                float(c0[mask].sum())
                + np.where(mi, ci - c0[i], 0.0)
                + np.where(mj, cj - c0[j], 0.0)
            )
            with np.errstate(invalid="ignore", divide="ignore"):
                out.append(np.where(cnt > 0, num / np.where(cnt > 0, cnt, 1.0), np.nan))
        return out

    def statistics(self, m: _Masks) -> dict[str, np.ndarray]:
        """:func:`_statistics` of every member (the same keys, in the same order)."""
        return _assemble(m, self._means, self.accuracy, self.kappa, self.mcc)


def _KEY_ORDER(m: _Masks) -> list:
    """The averages in the order they are written."""
    keys = [f"macro.{name}" for name in LABEL_AVERAGES] + ["weighted.f1"]
    keys += ["overall.cohen_kappa", "overall.mcc"]
    for name in STRATA_AVERAGES:
        keys.append(f"gap.{name}")
        keys += [f"stratum.{s_name}.{name}" for s_name, _ in m.strata]
        keys.append(f"extremes.{name}")
    return keys


#: Which averages take part in the disparities (the strata and gaps are shown per level only).
DISPARITY_KEYS = tuple(f"macro.{name}" for name in LABEL_AVERAGES)


@dataclass
class _Side:
    """One side's label averages: point, replicates (B) or None, jackknife members and their
    weights and strata, per key."""

    point: dict
    reps: dict | None
    jack: dict
    weights: np.ndarray
    strata: np.ndarray | None


@dataclass
class LevelAverages:
    """What :func:`level_averages` leaves for the grouping: per shown level its averages
    (``{key: Estimate}``), the disparities of the averages and of ROC AUC, their claims (keys
    in ``claims``), and each class's AUC per level (None without scores)."""

    per_level: dict  # level index -> {key: Estimate}
    disparities: list
    auc: dict  # level index -> list of Estimate (K) or None
    method: str
    max_gaps: list


def _est(theta, lo, hi, se, method, note=None, status="ok") -> Estimate:
    theta = float(theta)
    if not math.isfinite(theta):
        return Estimate(math.nan, method=method, status="undefined", note=note)
    lo, hi = float(lo), float(hi)
    if not (math.isfinite(lo) and math.isfinite(hi)):
        return Estimate(
            theta,
            method=method,
            status="no_interval",
            note=note or "no interval: the replicates show no variation",
        )
    return Estimate(theta, min(lo, theta), max(hi, theta), float(se), method, status, note)


def level_averages(
    codes,
    levels,
    pred,
    config,
    strata,
    cell_ok,
    pred_ok,
    level_ok,
    ref: int,
    group_name: str,
    claims_out: list,
    *,
    seed_key: int,
) -> LevelAverages | None:
    """The averages of every shown level of one grouping (see the module's docstring), their
    disparities against the rest and the reference, and the claims of the findings metrics'
    macro averages against the rest (appended to ``claims_out``)."""
    k = pred.n_classes
    if k > MAX_CLASSES:
        return None
    n_levels = len(levels)
    alpha = 1 - config.confidence_level
    y_true = np.asarray(pred.y_true, dtype=np.int64)
    y_pred = np.asarray(pred.y_pred, dtype=np.int64)
    codes = np.asarray(codes, dtype=np.int64)
    cluster = pred.cluster
    min_support = max(int(config.min_support), 1)
    interval = config.interval if config.interval in ("bca", "percentile", "basic") else "bca"
    B = int(config.n_resamples)

    cms = np.bincount((codes * k + y_true) * k + y_pred, minlength=n_levels * k * k).reshape(
        n_levels, k, k
    )
    total_cm = cms.sum(0)
    masks_all = [(d.name, strata.index == g) for g, d in enumerate(strata.definitions)]

    def masks(shown, prec) -> _Masks:
        return _Masks(shown, prec, tuple(masks_all), strata.rarest, strata.most_common)

    lvl_masks = [masks(cell_ok[li], cell_ok[li] & pred_ok[li]) for li in range(n_levels)]
    points = [_T.of_cm(cms[li]) for li in range(n_levels)]
    total = _T.of_cm(total_cm)

    point_only = cluster is None and B <= 0
    reps: list[_T | None]
    if point_only:
        reps = [None] * n_levels
        rep_total = None
        method = "no interval (n_resamples = 0)"
    elif cluster is None:
        seq = np.random.SeedSequence(config.seed, spawn_key=(11, seed_key))
        streams = seq.spawn(n_levels)
        drawn = [
            _draw_tables(
                cms[li],
                B,
                np.random.default_rng(streams[li]),
                scheme="stratified",
                draw_cells=_DRAW_CELLS,
            )
            for li in range(n_levels)
        ]
        reps = [
            _T(
                d.tp.astype(np.float64),
                d.pred.astype(np.float64),
                np.broadcast_to(d.sup.astype(np.float64), d.tp.shape),
                np.full(B, float(d.n)),
            )
            for d in drawn
        ]
        # every level drawn on its own: the total's replicate is their sum
        rep_total = _T(
            np.asarray(np.sum([d.tp for d in drawn], axis=0, dtype=np.float64)),
            np.asarray(np.sum([d.pred for d in drawn], axis=0, dtype=np.float64)),
            np.broadcast_to(total.sup, (B, k)),
            np.full(B, float(total.n)),
        )
        method = (
            f"{interval}(bootstrap stratified by level and class, B={B}; exact jackknife over "
            "both sides' rows)"
        )
    else:
        reps = [None] * n_levels
        rep_total = None
        method = (
            "leave-one-cluster-out jackknife, t(Kish - 1) (each cluster removed from the side "
            "that holds its rows)"
        )

    def jack_of(cm) -> tuple[_LeaveOneOut, np.ndarray, np.ndarray]:
        loo = _LeaveOneOut(cm)
        return loo, loo.weights, loo.strata

    # clustered: each (cluster, level)'s counts, removed from its side
    if cluster is not None:
        cl = np.asarray(cluster, dtype=np.int64)
        n_cl = int(cl.max()) + 1
        idx = (cl * n_levels + codes) * k
        shape = (n_cl, n_levels, k)
        hit = y_true == y_pred
        cl_tp = np.bincount(idx[hit] + y_true[hit], minlength=n_cl * n_levels * k).reshape(shape)
        cl_pred = np.bincount(idx + y_pred, minlength=n_cl * n_levels * k).reshape(shape)
        cl_sup = np.bincount(idx + y_true, minlength=n_cl * n_levels * k).reshape(shape)
        cl_n = cl_sup.sum(-1)
        members = _T(
            cl_tp.astype(float), cl_pred.astype(float), cl_sup.astype(float), cl_n.astype(float)
        )

    jack_cache: dict = {}

    def side_level(li, m: _Masks, with_jack: bool = True) -> _Side:
        point = _statistics(points[li], m)
        if point_only:
            return _Side(point, None, {}, np.zeros(0), None)
        if cluster is None:
            rp = _statistics(reps[li], m)
            if not with_jack:
                return _Side(point, rp, {}, np.zeros(0), None)
            if li not in jack_cache:
                jack_cache[li] = jack_of(cms[li])
            jt, jw, js = jack_cache[li]
            return _Side(point, rp, jt.statistics(m), jw, js)
        mem = _T(
            points[li].tp - members.tp[:, li],
            points[li].pred - members.pred[:, li],
            points[li].sup - members.sup[:, li],
            points[li].n - members.n[:, li],
        )
        # every cluster's leave-out value (the point where it holds none of the side's rows)
        held = (members.n[:, li] > 0).astype(np.float64)
        return _Side(point, None, _statistics(mem, m), held, None)

    def side_rest(li, m: _Masks, with_jack: bool = True) -> _Side:
        rest = total - points[li]
        point = _statistics(rest, m)
        if point_only:
            return _Side(point, None, {}, np.zeros(0), None)
        if cluster is None:
            assert rep_total is not None
            rp = _statistics(rep_total - reps[li], m)
            if not with_jack:
                return _Side(point, rp, {}, np.zeros(0), None)
            jt, jw, js = jack_of(total_cm - cms[li])
            return _Side(point, rp, jt.statistics(m), jw, js)
        other = _T(
            members.tp.sum(1) - members.tp[:, li],
            members.pred.sum(1) - members.pred[:, li],
            members.sup.sum(1) - members.sup[:, li],
            members.n.sum(1) - members.n[:, li],
        )
        mem = _T(rest.tp - other.tp, rest.pred - other.pred, rest.sup - other.sup, rest.n - other.n)
        held = (other.n > 0).astype(np.float64)
        return _Side(point, None, _statistics(mem, m), held, None)

    def one(side: _Side, key, df=None) -> Estimate:
        theta = side.point[key]
        if point_only:
            return Estimate(float(theta), method=method)
        if cluster is None:
            assert side.reps is not None
            res = interval_from_replicates(
                np.atleast_1d(theta),
                side.reps[key][:, None],
                side.jack[key][:, None],
                side.weights,
                confidence_level=config.confidence_level,
                method=interval,
                strata=side.strata,
                value_range=(-1.0, 1.0),
            )
            note = res["note"][0]
            return _est(theta, res["low"][0], res["high"][0], res["se"][0], method, note)
        se = _jackknife_se(side.jack[key][side.weights > 0])
        q = float(special.stdtrit(df, 1 - alpha / 2))
        return _est(theta, theta - q * se, theta + q * se, se, method)

    def design_df(li, classes=None) -> float:
        """t's degrees of freedom of level li's jackknife: Kish's effective number of its
        clusters less one, or of the clusters holding the true samples of ``classes`` (a
        stratum's average rests on those: a rare class held by five patients has about four
        degrees of freedom, not the level's)."""
        if cluster is None:
            return math.inf
        sizes = members.n[:, li] if classes is None else members.sup[:, li][:, classes].sum(-1)
        return ClusterDesign.of_sizes(sizes).df

    def key_dfs(li, m: _Masks) -> dict:
        """Each average's degrees of freedom in level li: a stratum's from its classes' clusters,
        the extremes' the fewer of its two strata's, every other the level's."""
        level = design_df(li)
        by_stratum = {name: design_df(li, m.shown & mask) for name, mask in m.strata}
        out = {}
        for name in STRATA_AVERAGES:
            out.update({f"stratum.{s_name}.{name}": df for s_name, df in by_stratum.items()})
            if m.rarest is not None and m.most_common is not None:
                rare, common = (m.strata[g][0] for g in (m.rarest, m.most_common))
                out[f"extremes.{name}"] = min(by_stratum[rare], by_stratum[common])
        return {key: out.get(key, level) for key in _KEY_ORDER(m)}

    per_level: dict[int, dict] = {}
    level_sides: dict[int, _Side] = {}
    for li in range(n_levels):
        if not level_ok[li]:
            continue
        s = side_level(li, lvl_masks[li])
        level_sides[li] = s
        dfs = key_dfs(li, lvl_masks[li])
        per_level[li] = {key: one(s, key, dfs[key]) for key in s.point}
        for metric in LABEL_AVERAGES:
            n_cls = int(lvl_masks[li].of(metric).sum())
            key = f"macro.{metric}"
            per_level[li][key] = _with_note(
                per_level[li][key], f"over the {n_cls} classes shown in the level"
            )

    # disparities of the label averages
    disparities: list = []
    find = set(getattr(config, "findings_metrics", ()))
    for li in range(n_levels):
        if not level_ok[li]:
            continue
        for against in ("rest", "reference"):
            if against == "reference" and (li == ref or not level_ok[ref]):
                continue
            if against == "rest":
                m = lvl_masks[li]
                a = level_sides[li]
                b = side_rest(li, m)
                df = design_df(li)
            else:
                m = masks(
                    cell_ok[li] & cell_ok[ref],
                    cell_ok[li] & pred_ok[li] & cell_ok[ref] & pred_ok[ref],
                )
                a = side_level(li, m)
                b = side_level(ref, m)
                df = min(design_df(li), design_df(ref))
            robust_m = None
            rob = None
            if against == "rest":
                sup_l = points[li].sup
                sup_r = (total - points[li]).sup
                big = (sup_l >= min_support) & (sup_r >= min_support)
                robust_m = masks(m.shown & big, m.precision & big)
                if not point_only and find:
                    # the same difference over the classes with min_support samples on both
                    # sides, with its own standard error (from the same replicates, or members)
                    rob = (
                        side_level(li, robust_m, with_jack=cluster is not None),
                        side_rest(li, robust_m, with_jack=cluster is not None),
                    )
            for key in DISPARITY_KEYS:
                metric = key.split(".", 1)[1]
                n_cls = int(m.of(metric).sum())
                if point_only:
                    d = Estimate(float(a.point[key] - b.point[key]), method=method)
                    with np.errstate(invalid="ignore", divide="ignore"):
                        r = Estimate(float(a.point[key] / b.point[key]), method=method)
                    p = math.nan
                else:
                    d, r, p = _difference(a, b, key, cluster is not None, df, config, interval)
                note = f"over the {n_cls} classes shown in {'the level' if against == 'rest' else 'both levels'}"
                d = _with_note(d, note)
                claim_key = None
                if (
                    against == "rest"
                    and metric in find
                    and math.isfinite(d.estimate)
                    and math.isfinite(d.ci_low)
                ):
                    assert robust_m is not None and rob is not None
                    robust = None
                    if robust_m.of(metric).any():
                        ra, rb = rob
                        r_est = float(ra.point[key] - rb.point[key])
                        if cluster is None:
                            assert ra.reps is not None and rb.reps is not None
                            r_se = float(np.nanstd(ra.reps[key] - rb.reps[key], ddof=1))
                        else:
                            held = (ra.weights > 0) | (rb.weights > 0)
                            r_se = _jackknife_se(ra.jack[key][held] - rb.jack[key][held])
                        robust = (r_est, r_se)
                    claim = Claim(
                        key=("subgroup", group_name, levels[li], key, None),
                        estimate=d.estimate,
                        se=d.se,
                        eligible=robust is not None,
                        robust=robust,
                        df=None if cluster is None else df,
                        marginal=(d.ci_low, d.ci_high, p),
                        method=(
                            "normal with the bootstrap standard error; the marginal interval "
                            "must exclude 0 as well"
                            if cluster is None
                            else "t with the leave-one-cluster-out jackknife standard error"
                        ),
                    )
                    claims_out.append(claim)
                    claim_key = claim.key
                disparities.append(
                    Disparity(
                        level=levels[li],
                        against="rest" if against == "rest" else levels[ref],
                        metric=key,
                        label=None,
                        difference=d,
                        ratio=r,
                        p_value=p,
                        suppressed=False,
                        claim=claim_key,
                    )
                )

    gaps = (
        []
        if point_only
        else _macro_gaps(
            levels, level_ok, cell_ok, pred_ok, masks, points, reps, side_level, cluster, alpha
        )
    )

    auc: dict = {}
    if pred.y_score is not None:
        auc, macro_auc, auc_rows, auc_claims = _auc_part(
            pred, codes, levels, (level_ok, cell_ok, ref), config, group_name
        )
        for li, e in macro_auc.items():
            per_level[li]["macro.roc_auc"] = e
        disparities += auc_rows
        claims_out += auc_claims
    return LevelAverages(per_level, disparities, auc, method, gaps)


def _macro_gaps(
    levels, level_ok, cell_ok, pred_ok, masks, points, reps, side_level, cluster, alpha
):
    """The range of each macro average across the shown levels, over the classes shown in every
    one of them (so that the levels average the same classes), with a simultaneous interval:
    every pairwise difference's normal interval (the two levels' bootstrap, or jackknife,
    standard errors; the levels are independent) at the Bonferroni level."""
    idx = np.flatnonzero(level_ok)
    if idx.size < 2:
        return []
    common = masks(cell_ok[idx].all(0), (cell_ok[idx] & pred_ok[idx]).all(0))
    sides = {li: side_level(li, common, with_jack=cluster is not None) for li in idx}
    pairs = idx.size * (idx.size - 1) // 2
    zb = float(special.ndtri(1 - alpha / (2 * pairs)))
    out = []
    for metric in LABEL_AVERAGES:
        key = f"macro.{metric}"
        n_cls = int(common.of(metric).sum())
        if n_cls == 0:
            continue
        p = np.array([float(sides[li].point[key]) for li in idx])
        if cluster is None:
            se = np.array([np.nanstd(sides[li].reps[key], ddof=1) for li in idx])
        else:
            se = np.array([_jackknife_se(sides[li].jack[key][sides[li].weights > 0]) for li in idx])
        ok = np.isfinite(p) & np.isfinite(se)
        if ok.sum() < 2:
            continue
        p, se, ids = p[ok], se[ok], idx[ok]
        half = zb * np.sqrt(se[:, None] ** 2 + se[None, :] ** 2)
        diff = p[:, None] - p[None, :]
        out.append(
            max_gap(
                key,
                None,
                p,
                diff - half,
                diff + half,
                [levels[i] for i in ids],
                f"range across {p.size} levels over the {n_cls} classes shown in every one; "
                "simultaneous interval from every pairwise difference (normal, the levels' "
                f"{'bootstrap' if cluster is None else 'jackknife'} standard errors) at the "
                f"Bonferroni level (alpha / {p.size * (p.size - 1) // 2})",
            )
        )
    return out


def max_gap(metric, label, p, low_pair, high_pair, names, method) -> MaxGap:
    """The range of ``p`` across levels ``names`` (highest minus lowest), with the simultaneous
    interval of every ordered pair's limits ``low_pair``/``high_pair`` (L, L) of p_a - p_b: when
    all hold, the range lies between the largest lower limit (floored at 0) and the largest
    upper limit."""
    hi_i, lo_i = int(np.argmax(p)), int(np.argmin(p))
    gap = float(p[hi_i] - p[lo_i])
    off = ~np.eye(len(p), dtype=bool)
    g_lo = max(float(np.nanmax(np.where(off, low_pair, -np.inf))), 0.0)
    g_hi = float(np.nanmax(np.where(off, high_pair, -np.inf)))
    return MaxGap(
        metric=metric,
        label=label,
        gap=Estimate(gap, min(g_lo, gap), max(g_hi, gap), method=method),
        highest=names[hi_i],
        lowest=names[lo_i],
        n_levels=len(p),
    )


def _jackknife_se(values) -> float:
    v = np.asarray(values, dtype=np.float64)
    v = v[np.isfinite(v)]
    c = v.size
    if c < 2:
        return math.nan
    return float(math.sqrt((c - 1) / c * np.sum((v - v.mean()) ** 2)))


def _with_note(e: Estimate, note: str) -> Estimate:
    from dataclasses import replace

    return replace(e, note=f"{e.note}; {note}" if e.note else note)


def _difference(a: _Side, b: _Side, key, clustered, df, config, interval):
    """(difference, ratio, p) of a side's ``key`` minus (over) the other's, from the two sides'
    replicates (independent draws) and the jackknife over both sides' rows."""
    alpha = 1 - config.confidence_level
    ta, tb = float(a.point[key]), float(b.point[key])
    d_method = (
        f"{interval}(bootstrap stratified by level and class; jackknife over both sides)"
        if not clustered
        else "leave-one-cluster-out jackknife over both sides, t(Kish - 1)"
    )
    if not clustered:
        assert a.reps is not None and b.reps is not None
        assert a.strata is not None and b.strata is not None
        # the jackknife over both sides' rows: each side's members, each side's classes
        weights = np.concatenate([a.weights, b.weights])
        strata = np.concatenate([a.strata, b.strata + int(a.strata.max(initial=0)) + 1])
        out = []
        for fn in (np.subtract, np.divide):
            with np.errstate(invalid="ignore", divide="ignore"):
                theta = fn(ta, tb)
                reps = fn(a.reps[key], b.reps[key])
                jack = np.concatenate([fn(a.jack[key], tb), fn(ta, b.jack[key])])
            if not np.isfinite(theta):
                out.append((Estimate(math.nan, method=d_method, status="undefined"), math.nan))
                continue
            reps = np.where(np.isfinite(reps), reps, np.nan)
            res = interval_from_replicates(
                np.atleast_1d(theta),
                reps[:, None],
                jack[:, None],
                weights,
                confidence_level=config.confidence_level,
                method=interval,
                strata=strata,
            )
            e = _est(theta, res["low"][0], res["high"][0], res["se"][0], d_method, res["note"][0])
            p = math.nan
            if fn is np.subtract and e.status == "ok":
                p = float(
                    bootstrap_p_value(
                        np.atleast_1d(theta),
                        reps[:, None],
                        jack[:, None],
                        weights,
                        strata=strata,
                        method=interval,
                    )[0]
                )
            out.append((e, p))
        (d, p), (r, _) = out
        return d, r, p
    # clustered: jackknife of both sides' members, t(df)
    q = float(special.stdtrit(df, 1 - alpha / 2))
    # each cluster left out of both sides at once (a cluster spanning them leaves both)
    either = (a.weights > 0) | (b.weights > 0)
    jd = a.jack[key][either] - b.jack[key][either]
    theta = ta - tb
    se = _jackknife_se(jd)
    d = _est(theta, theta - q * se, theta + q * se, se, d_method)
    p = float(2 * special.stdtr(df, -abs(theta) / se)) if se > 0 else math.nan
    with np.errstate(invalid="ignore", divide="ignore"):
        lr = np.log(ta / tb)
        jr = np.log(a.jack[key][either] / b.jack[key][either])
    se_r = _jackknife_se(jr)
    if math.isfinite(lr) and math.isfinite(se_r):
        r = _est(
            math.exp(lr),
            math.exp(lr - q * se_r),
            math.exp(lr + q * se_r),
            math.nan,
            d_method + " (log ratio)",
        )
    else:
        r = Estimate(math.nan, method=d_method, status="undefined")
    return d, r, p


def _auc_part(pred, codes, levels, shown_ref, config, group_name) -> tuple:
    """Each class's ROC AUC per shown level and the level's macro AUC (over its shown classes),
    with DeLong-logit intervals; differences and ratios against the rest and the reference by
    MOVER from the two sides' intervals. One ranking pass per side (a level, its rest), which
    gives the covariance of every macro it takes part in (its own, against the rest, robust,
    against the reference). ``shown_ref``: (level_ok, cell_ok, the reference level).

    Returns ``(auc, macro, rows, claims)``: each shown level's per-class Estimates (None where
    not shown), its macro AUC Estimate, the Disparity rows and the claims."""
    level_ok, cell_ok, ref = shown_ref
    alpha = 1 - config.confidence_level
    find = set(getattr(config, "findings_metrics", ()))
    per_level: dict = {}
    disparities: list = []
    claims_out: list = []
    k = pred.n_classes
    n_levels = len(levels)
    y_true = np.asarray(pred.y_true, dtype=np.int64)
    scores = np.asarray(pred.y_score, dtype=np.float64)
    cluster = None if pred.cluster is None else np.asarray(pred.cluster, dtype=np.int64)
    method = "DeLong-logit" + (" (cluster-robust, t(clusters - 1))" if cluster is not None else "")
    min_cell = int(getattr(config, "subgroup_min_cell", 10))
    min_support = max(int(config.min_support), 1)
    support = np.zeros((n_levels, k), dtype=np.int64)
    np.add.at(support, (codes, y_true), 1)
    total = support.sum(0)
    sizes = support.sum(1)

    def valid(sup, n):
        """The classes whose AUC is defined and shown on a side: positives, and negatives of at
        least ``min_cell``."""
        return (sup > 0) & ((n - sup) >= min_cell)

    def side(rows, masks):
        """(auc, var, df, [(macro, var) per mask]) of ``rows``; each macro over its mask."""
        yt = y_true[rows]
        cl = None
        df = None
        if cluster is not None:
            _, cl = np.unique(cluster[rows], return_inverse=True)
            df = max(float(cl.max()), 1.0)
        w = np.zeros((k, len(masks)))
        for c, m in enumerate(masks):
            if m.any():
                w[m, c] = 1.0 / m.sum()
        s = R.ovr_pass(yt, scores[rows], combo_weights=w, cluster=cl)
        macros = []
        for c, m in enumerate(masks):
            if m.any():
                macros.append((float(np.sum(w[m, c] * s.auc[m])), float(s.combo_cov[c, c])))
            else:
                macros.append((math.nan, math.nan))
        return s.auc, s.delong_var, df, macros

    def limits(theta, var, df):
        lo, hi = logit_interval(theta, var, alpha=alpha, df=df)
        return float(lo), float(hi)

    shown = [li for li in range(n_levels) if level_ok[li]]
    use = {li: cell_ok[li] & valid(support[li], sizes[li]) for li in shown}
    rest_valid = {li: valid(total - support[li], total.sum() - sizes[li]) for li in shown}
    big = {li: (support[li] >= min_support) & (total - support[li] >= min_support) for li in shown}
    vs_rest = {li: use[li] & rest_valid[li] for li in shown}
    vs_ref = {li: use[li] & use[ref] for li in shown if ref in use and li != ref}

    # one pass per level: its own macro, against the rest (and robust), against the reference
    level_side = {}
    for li in shown:
        masks = [use[li], vs_rest[li], vs_rest[li] & big[li]]
        if li in vs_ref:
            masks.append(vs_ref[li])
        if li == ref:
            masks += [vs_ref[o] for o in shown if o in vs_ref]
        level_side[li] = side(codes == li, masks)

    out: dict = {}
    for li in shown:
        auc, var, df, macros = level_side[li]
        ests: list[Estimate | None] = []
        for j in range(k):
            if not use[li][j]:
                ests.append(None)
                continue
            lo, hi = limits(auc[j], var[j], df)
            ests.append(_est(auc[j], lo, hi, math.sqrt(max(var[j], 0.0)), method))
        out[li] = ests
        macro, mvar = macros[0]
        mlo, mhi = limits(macro, mvar, df) if math.isfinite(macro) else (math.nan, math.nan)
        per_level[li] = _est(
            macro,
            mlo,
            mhi,
            math.sqrt(mvar) if mvar >= 0 else math.nan,
            method,
            f"over the {int(use[li].sum())} classes shown in the level",
        )

    d_method = f"MOVER with each side's {method} interval (independent groups)"
    r_method = f"MOVER-R with each side's {method} interval (independent groups)"
    ref_slots = {o: 3 + i for i, o in enumerate(o for o in shown if o in vs_ref)}
    for li in shown:
        auc, var, df, macros = level_side[li]
        for against in ("rest", "reference"):
            if against == "rest":
                both = vs_rest[li]
                o_auc, o_var, o_df, o_macros = side(codes != li, [both, both & big[li]])
                a_m, o_m = macros[1], o_macros[0]
                robust = (macros[2], o_macros[1]) if (both & big[li]).any() else None
            else:
                if li not in vs_ref:
                    continue
                both = vs_ref[li]
                o_auc, o_var, o_df, r_macros = level_side[ref]
                a_m, o_m = macros[3], r_macros[ref_slots[li]]
                robust = None
            rows_: list[tuple] = [
                (j, auc[j], var[j], o_auc[j], o_var[j]) for j in range(k) if both[j]
            ]
            rows_.append((None, a_m[0], a_m[1], o_m[0], o_m[1]))
            for j, ta, va, tb, vb in rows_:
                if not (math.isfinite(ta) and math.isfinite(tb)):
                    continue
                la, ua = limits(ta, va, df)
                lb, ub = limits(tb, vb, o_df)
                lo, hi, _ = mover_linear(
                    np.array([ta, tb]),
                    np.array([la, lb]),
                    np.array([ua, ub]),
                    np.array([1.0, -1.0]),
                    axis=0,
                )
                diff = ta - tb
                se = math.sqrt(va + vb)
                dest = _est(diff, lo, hi, se, d_method)
                rl, rh, okl, okh = mover_ratio(ta, la, ua, tb, lb, ub)
                ratio = _est(
                    ta / tb,
                    float(rl) if okl else math.nan,
                    float(rh) if okh else math.nan,
                    math.nan,
                    r_method,
                )
                p = float(2 * special.ndtr(-abs(diff) / se)) if se > 0 else math.nan
                key = "roc_auc" if j is not None else "macro.roc_auc"
                claim_key = None
                if j is None and against == "rest" and "roc_auc" in find and dest.status == "ok":
                    r_est = r_se = math.nan
                    if robust is not None:
                        (ra, rva), (rb, rvb) = robust
                        r_est, r_se = ra - rb, math.sqrt(rva + rvb)
                    claim = Claim(
                        key=("subgroup", group_name, levels[li], key, None),
                        estimate=diff,
                        se=se,
                        eligible=robust is not None and math.isfinite(r_est),
                        robust=(r_est, r_se) if robust is not None else None,
                        marginal=(dest.ci_low, dest.ci_high, p),
                        method="normal with the two sides' DeLong standard errors",
                    )
                    claims_out.append(claim)
                    claim_key = claim.key
                disparities.append(
                    Disparity(
                        level=levels[li],
                        against="rest" if against == "rest" else levels[ref],
                        metric=key,
                        label=pred.classes[j] if j is not None else None,
                        difference=dest,
                        ratio=ratio,
                        p_value=p,
                        suppressed=False,
                        claim=claim_key,
                    )
                )
    return out, per_level, disparities, claims_out
