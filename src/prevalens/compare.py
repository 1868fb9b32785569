"""Paired comparison of models scored on the same samples: is the candidate better than the
reference, and on which classes?

Pure: validated :class:`~prevalens.io.Predictions` of every model in, a
:class:`~prevalens.comparison.ComparisonResult` out. Every difference is ``candidate -
reference`` on the same rows, so the pairing is used:

* label metrics (every average, per-class value, stratum macro average, micro-macro gap) from
  joint replicates of the table of (truth, prediction A, prediction B)
  (:class:`~prevalens.uncertainty.PairedBootstrap`), BCa by default, with the p-value that
  inverts the same interval; with a cluster column, the leave-one-cluster-out jackknife with a t
  quantile, as in the audit;
* accuracy, and each class's recall and specificity, are differences of two proportions on the
  same units: Newcombe's hybrid score interval for paired data (valid for small classes and near 0
  or 1), with McNemar's test for accuracy beside it; the Stuart-Maxwell test of the two models'
  predicted-class distributions;
* ROC AUC per class and its macro, weighted and stratum averages by DeLong's paired covariance
  (``pROC::roc.test(paired = TRUE)``), with the full covariance of the per-class differences;
* log loss and Brier score as means of per-sample paired differences (t interval).

One family of claims (Holm by default) covers the headline, per-class, stratum, gap and shift
claims of every pair, as the audit's divergence claims; findings state a difference only when the
adjusted interval excludes 0, the difference is material (``min_effect``) and it does not rest
on classes below ``min_support``.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping
from dataclasses import replace

import numpy as np
from scipy import special

from . import metrics as M
from . import ranking as R
from ._version import __version__
from .analyses.context import macro_over, micro_over
from .analyses.family import Claim, adjust
from .analyses.shift import BLIND_NOTE, paired_at_target, plan_shift
from .analyses.shift import HEADLINE as TARGET_HEADLINE
from .analyses.strata import auc_strata_weights
from .audit import _audit, _config, _run_info
from .comparison import (
    COMPARISON_SCHEMA_ID,
    CalibrationByModel,
    ClassDifferences,
    ComparisonResult,
    Difference,
    PairResult,
    ShiftByModel,
    StratumDifferences,
    higher_is_better,
)
from .exceptions import ConfigError, InputError
from .formatting import fmt_number, fmt_signed_number, metric_text, quantity_text
from .intervals import (
    interval_pvalue,
    mcnemar_test,
    paired_difference_interval,
    stuart_maxwell_test,
)
from .io import Predictions, predictions_from_arrays
from .options import AuditConfig
from .results import AuditResult, Estimate, FamilyInfo, Finding, Note
from .strata import StrataSpec, assign_strata
from .uncertainty import UNSTABLE_FRACTION, ClusterDesign, JointCells, PairedBootstrap

__all__ = ["compare", "compare_predictions"]

#: Averages and overall metrics whose differences are computed from the joint count replicates.
_AVERAGES = ("micro", "macro", "weighted")
_OVERALL = ("accuracy", "balanced_accuracy", "cohen_kappa", "mcc")
#: Per-class metrics whose differences are reported.
CLASS_METRICS = ("recall", "precision", "f1", "specificity")
#: Per-class metrics that are proportions of the same units under both models (Newcombe).
_PAIRED_PROPORTIONS = ("recall", "specificity")

_NEWCOMBE = "Newcombe's paired hybrid score interval (method 10)"
#: A class below this many samples made at least 5 times as prevalent at the target marks the
#: target differences from replicates unstable (and unclaimed).
TARGET_SMALL_SUPPORT = 20
TARGET_SMALL_NOTE = (
    "approximate: a class of fewer than 20 samples is at least 5 times as prevalent at the "
    "target; in simulation (a class of ~13 samples 15 times as prevalent) such intervals "
    "excluded a true difference of 0 in 7-8% of datasets instead of 5%, so no claim rests on them"
)
_DELONG = "DeLong's paired covariance"


# ------------------------------------------------------------------------------------------------
# public entry points


def compare(
    y_true,
    predictions: Mapping | None = None,
    *,
    scores: Mapping | None = None,
    labels=None,
    cluster=None,
    reference: str | None = None,
    config: AuditConfig | None = None,
    **options,
) -> ComparisonResult:
    """Compare two or more models scored on the same samples.

    Parameters
    ----------
    y_true : array-like of shape (n,)
        True labels, shared by every model.
    predictions : mapping of name -> array-like of shape (n,), optional
        Each model's predicted labels (when a model has scores but no predictions, the argmax).
    scores : mapping of name -> array-like of shape (n, K), optional
        Each model's scores, columns in class order.
    labels : sequence, optional
        The classes in order; default the sorted union of every label seen.
    cluster : array-like of shape (n,), optional
        Resampling units (e.g. patient ids).
    reference : str, optional
        The model the others are compared against; default the first.
    config : AuditConfig, optional
    **options
        Fields of :class:`AuditConfig` (``n_resamples``, ``seed``, ``min_support``, ...).

    Returns
    -------
    ComparisonResult

    Examples
    --------
    >>> y = ["a"] * 30 + ["b"] * 30
    >>> r = compare(y, {"A": ["a"] * 40 + ["b"] * 20, "B": y}, n_resamples=200, seed=1)
    >>> row = r.pair().headline["overall.accuracy"]
    >>> round(row.difference.estimate, 4), row.better
    (0.1667, 'candidate')
    """
    predictions = dict(predictions or {})
    scores = dict(scores or {})
    names = list(dict.fromkeys([*predictions, *scores]))
    if len(names) < 2:
        raise ConfigError(
            f"compare needs two or more models; got {len(names)} ({', '.join(map(str, names))})"
        )
    if labels is None and predictions:
        seen: set = set()
        for values in [y_true, *predictions.values()]:
            seen.update(v for v in np.asarray(values, dtype=object).tolist() if v is not None)
        try:
            labels = sorted(seen)
        except TypeError:
            labels = None  # mixed types: each model's own validation says which
    models = {
        str(name): predictions_from_arrays(
            y_true, predictions.get(name), y_score=scores.get(name), labels=labels, cluster=cluster
        )
        for name in names
    }
    return _compare(models, _config(config, options), reference, None)


def compare_predictions(
    models: Mapping,
    config: AuditConfig | None = None,
    *,
    reference: str | None = None,
    command: str | None = None,
    **options,
) -> ComparisonResult:
    """Compare validated predictions of two or more models on the same samples (``{name:
    Predictions}``, e.g. from :func:`prevalens.load_predictions`)."""
    return _compare(dict(models), _config(config, options), reference, command)


# ------------------------------------------------------------------------------------------------
# validation


def _check_models(models: dict, reference: str | None) -> tuple[str, list[str]]:
    if len(models) < 2:
        raise ConfigError(f"compare needs two or more models; got {len(models)}")
    for name, p in models.items():
        if not isinstance(p, Predictions):
            raise ConfigError(
                f"model {name!r}: expected Predictions (from load_predictions); "
                f"got {type(p).__name__}"
            )
    names = list(models)
    ref = names[0] if reference is None else reference
    if ref not in models:
        raise ConfigError(f"reference model {ref!r} is not among the models ({', '.join(names)})")
    first = models[ref]
    for name, p in models.items():
        if p.task != "multiclass":
            raise InputError(f"model {name!r}: compare supports multi-class predictions only")
        if p.classes != first.classes:
            raise InputError(
                f"models {ref!r} and {name!r} have different classes "
                f"({len(first.classes)} and {len(p.classes)}); give the same labels to both"
            )
        if p.n_samples != first.n_samples:
            raise InputError(
                f"models {ref!r} and {name!r} were scored on different rows ({first.n_samples} "
                f"and {p.n_samples}); a paired comparison needs the same samples"
            )
        diff = np.flatnonzero(p.y_true != first.y_true)
        if diff.size:
            i = int(diff[0])
            raise InputError(
                f"models {ref!r} and {name!r} disagree on the true label at row {i + 1} "
                f"({first.classes[first.y_true[i]]!r} against {p.classes[p.y_true[i]]!r}); "
                "the rows must be the same samples in the same order (join on a row id)"
            )
        if (p.cluster is None) != (first.cluster is None) or (
            p.cluster is not None and not np.array_equal(p.cluster, first.cluster)
        ):
            raise InputError(
                f"models {ref!r} and {name!r} have different cluster columns; give the same"
            )
    return ref, [n for n in names if n != ref]


# ------------------------------------------------------------------------------------------------
# the comparison

#: Bytes per class and joint cell of a pair's BCa jackknife (each model's leave-one-out tables
#: and statistics, gathered at every joint cell), and per class and replicate of the replicates'
#: statistics, the models' own audits included: fitted to tracemalloc peaks at K = 200-1,000,
#: N = 1e4-5e4, B = 2000 (37.5-38.5 and 30-39 float64 per cell), rounded up by 10%.
_BYTES_PER_JACK_CELL = 8 * 42
_BYTES_PER_REP_CELL = 8 * 42
_FIXED_BYTES = 100 * 2**20


def pair_memory(k: int, joint_cells: int, n_resamples: int, *, bca: bool, clusters=None) -> int:
    """Estimated peak bytes of one pair's paired intervals (replicates and jackknife; with
    ``clusters``, the leave-one-cluster-out members instead)."""
    if clusters is not None:
        return int(_BYTES_PER_JACK_CELL * k * clusters + _FIXED_BYTES)
    jack = _BYTES_PER_JACK_CELL * k * joint_cells if bca else 0
    return int(jack + _BYTES_PER_REP_CELL * k * n_resamples + _FIXED_BYTES)


def _check_memory(models: dict, ref, candidates, config: AuditConfig) -> None:
    """Refuse, before any work, a comparison whose paired intervals would not fit the memory
    budget (``max_memory``; default three quarters of the physical memory), naming what needs
    the memory and the ways out."""
    from .budget import COMPARE_SHARE, default_max_memory, format_size

    if config.n_resamples <= 0:
        return
    base = models[ref]
    k = base.n_classes
    budget = config.max_memory or default_max_memory(COMPARE_SHARE)
    bca = config.interval == "bca"
    cluster = base.cluster
    n_clusters = None if cluster is None else int(np.unique(np.asarray(cluster)).size)
    worst, worst_j = 0, 0
    # the joint cell (truth, reference's prediction, candidate's) of every row
    base_code = (np.asarray(base.y_true, np.int64) * k + np.asarray(base.y_pred, np.int64)) * k
    for cand in candidates:
        j = int(np.unique(base_code + np.asarray(models[cand].y_pred, np.int64)).size)
        need = pair_memory(k, j, config.n_resamples, bca=bca, clusters=n_clusters)
        if need > worst:
            worst, worst_j = need, j
    if worst <= budget:
        return
    what = (
        f"the leave-one-cluster-out members of {n_clusters:,} clusters"
        if n_clusters is not None
        else (
            f"the paired BCa jackknife of {worst_j:,} joint cells"
            if bca
            else f"the {config.n_resamples:,} paired replicates"
        )
    )
    ways = ["raise --max-memory if the machine has the memory"]
    if bca and n_clusters is None:
        light = pair_memory(k, worst_j, config.n_resamples, bca=False)
        ways.append(f"or use --interval percentile (about {format_size(light)}: no BCa correction)")
    ways.append("or audit each model on its own (prevalens audit follows the budget)")
    raise ConfigError(
        f"comparing these models over {k:,} classes needs about {format_size(worst)} for {what}, "
        f"more than the memory budget of {format_size(budget)}: " + ", ".join(ways)
    )


def _compare(models: dict, config: AuditConfig, reference, command) -> ComparisonResult:
    if config.group:
        raise ConfigError(
            "subgroups (`group`) are not compared between models yet; audit each model with "
            "its groups, or leave `group` out of the comparison"
        )
    ref, candidates = _check_models(models, reference)
    _check_memory(models, ref, candidates, config)
    if config.seed is None:
        entropy = np.random.SeedSequence().entropy
        assert isinstance(entropy, int)
        config = replace(config, seed=entropy % (2**63))
    own = replace(config, gates=(), baseline=None)
    audits: dict[str, AuditResult] = {}
    for name in [ref, *candidates]:
        # the same input notes for every model: warn once (the reference's audit)
        with warnings.catch_warnings():
            if name != ref:
                warnings.simplefilter("ignore")
            audits[name] = _audit(models[name], own, None, stacklevel=4, side=True)
    base = models[ref]
    support = np.bincount(base.y_true, minlength=base.n_classes)
    strata = assign_strata(support, StrataSpec.from_config(config))
    # the deployment's prevalences (each model's own audit checked them already)
    plan = (
        None
        if config.deployment_prevalence is None
        else plan_shift(config.deployment_prevalence, base.classes, support, strata)
    )
    claims: list[Claim] = []
    raw_pairs = []
    for i, cand in enumerate(candidates):
        seq = np.random.SeedSequence(config.seed, spawn_key=(7, i))
        pair = _Pair(models[ref], models[cand], ref, cand, audits, config, strata, i, plan)
        raw_pairs.append(pair.run(np.random.default_rng(seq)))
        claims += pair.claims
    alpha = 1 - config.confidence_level
    if config.n_resamples > 0:
        family = adjust(claims, alpha, config.divergence_adjustment, config.confidence_level)
    else:
        family = FamilyInfo(config.divergence_adjustment, 0, config.confidence_level)
    by_key = {c.key: c for c in claims}
    pairs = tuple(
        _with_adjusted(p, i, by_key, config.divergence_adjustment) for i, p in enumerate(raw_pairs)
    )
    findings = tuple(f for p in pairs for f in _findings(p, config, strata, by_key, plan))
    notes = _notes(base, models, config, audits)
    data = {
        "task": base.task,
        "n_samples": int(base.n_samples),
        "n_classes": base.n_classes,
        "classes": list(base.classes),
        "support": [int(s) for s in support],
        "n_clusters": base.n_clusters,
        "models": {
            name: {
                "has_scores": bool(models[name].has_scores),
                "scores_are_probabilities": bool(models[name].scores_are_probabilities),
                "pred_source": models[name].pred_source,
            }
            for name in [ref, *candidates]
        },
    }
    run = _run_info(base, config, command)
    # each input file once, with the models read from it
    owners: dict = {}
    for name in [ref, *candidates]:
        for i in models[name].inputs:
            owners.setdefault(i, []).append(name)
    inputs = tuple({**i.to_dict(), "models": names} for i, names in owners.items())
    result = ComparisonResult(
        run=run,
        models=(ref, *candidates),
        reference=ref,
        data=data,
        pairs=pairs,
        family=family,
        findings=findings,
        notes=notes,
        inputs=inputs,
        # each model's calibration, as its own audit computed it: descriptive, not tested here
        calibration=CalibrationByModel.from_audits((ref, *candidates), audits),
        # each model's metrics at the deployment's prevalences, as its own audit projected them
        prevalence_shift=ShiftByModel.from_audits((ref, *candidates), audits),
        audits=audits,
        schema=COMPARISON_SCHEMA_ID,
        tool={"name": "prevalens", "version": __version__},
    )
    if config.gates:
        result = result.with_gates(config.gates, config.gate_on)
    return result


class _Pair:
    """The differences of one candidate against the reference, and their claims."""

    def __init__(
        self, pa: Predictions, pb: Predictions, ref, cand, audits, config, strata, i, plan=None
    ):
        self.pa, self.pb = pa, pb
        #: the projection to the deployment's prevalences (prevalens.analyses.shift), or None
        self.plan = plan
        self.ref, self.cand = ref, cand
        self.ra, self.rb = audits[ref], audits[cand]
        self.config = config
        self.strata = strata
        self.index = i
        self.k = pa.n_classes
        self.support = np.bincount(pa.y_true, minlength=self.k)
        self.alpha = 1 - config.confidence_level
        self.eligible = self.support >= max(config.min_support, 1)
        self.claims: list[Claim] = []
        self.clustered = pa.cluster is not None
        self.design = ClusterDesign.of(pa.cluster) if self.clustered else None
        self.boot: PairedBootstrap | None = None
        fm = tuple(m for m in config.findings_metrics if m != "roc_auc" or self._scores)
        self.findings_metrics = fm or ("recall",)
        self.cells = JointCells.of(pa.y_true, pa.y_pred, pb.y_pred, self.k)
        #: interval families z -> (low, high) of the Newcombe rows, by quantity
        self._at: dict = {}
        #: t degrees of freedom of the rows with analytic standard errors, by quantity
        self._dfs: dict = {}
        #: per class, the paired tables (both right, only the candidate, only the reference,
        #: neither) of recall, over its true samples, and of specificity, over the others
        self._paired = {"recall": self._recall_tables(), "specificity": self._specificity_tables()}

    def _count(self, by, mask) -> np.ndarray:
        """Samples per class ``by`` (truth or a prediction) among the joint cells ``mask``."""
        c = self.cells
        return np.bincount(by[mask], weights=c.counts[mask], minlength=self.k).astype(np.int64)

    def _recall_tables(self) -> tuple:
        c = self.cells
        ok_a, ok_b = c.pred_a == c.truth, c.pred_b == c.truth
        return tuple(
            self._count(c.truth, m)
            for m in (ok_a & ok_b, ~ok_a & ok_b, ok_a & ~ok_b, ~ok_a & ~ok_b)
        )

    def _specificity_tables(self) -> tuple:
        """Among class j's negatives a model is right unless it predicts j: with A_j, B_j the
        negatives each model predicts as j and AB_j those both do, the table is (n_neg - A - B +
        AB, A - AB, B - AB, AB)."""
        c = self.cells
        neg_a, neg_b = c.pred_a != c.truth, c.pred_b != c.truth
        fp_a = self._count(c.pred_a, neg_a)
        fp_b = self._count(c.pred_b, neg_b)
        both = self._count(c.pred_a, neg_a & neg_b & (c.pred_a == c.pred_b))
        n_neg = int(self.support.sum()) - self.support
        return n_neg - fp_a - fp_b + both, fp_a - both, fp_b - both, both

    def _paired_table(self, metric: str, j=None) -> tuple:
        """The paired table (a, b, c, d) of ``metric`` for class ``j``, or of accuracy (every
        sample: the recall tables summed) when ``j`` is None."""
        tables = self._paired["recall" if j is None else metric]
        return tuple(int(t.sum() if j is None else t[j]) for t in tables)

    @property
    def _scores(self) -> bool:
        return self.pa.y_score is not None and self.pb.y_score is not None

    # -- the two sides -----------------------------------------------------------------------

    def _side(self, r: AuditResult, quantity: str) -> Estimate:
        part = quantity.split(".")
        try:
            if part[0] in _AVERAGES:
                return r.averages[part[0]][part[1]]
            if part[0] == "overall":
                return r.overall[part[1]]
            if part[0] == "class":
                return r.per_class[int(part[1])].metrics[part[2]]
            if part[0] == "stratum":
                for s in r.strata:
                    if s.name == part[1]:
                        return s.macro[part[2]]
            if part[0] == "gap":
                return r.gap[part[1]].macro_minus_micro
        except (KeyError, IndexError):
            pass
        return Estimate(math.nan, status="undefined")

    def _row(self, quantity, metric, theta, res, p, test, *, name=None) -> Difference:
        est = _estimate(theta, res, test)
        return Difference(
            p_bound=bool(res.get("p_bound", False)),
            quantity=name or quantity,
            metric=metric,
            reference=self._side(self.ra, quantity),
            candidate=self._side(self.rb, quantity),
            difference=est,
            p_value=float(p) if np.isfinite(p) else math.nan,
            higher_is_better=higher_is_better(quantity if quantity.startswith("gap") else metric),
            test=test,
        )

    # -- replicate-based differences ---------------------------------------------------------

    def _method(self) -> str:
        if self.design is not None:
            return (
                f"paired jackknife over clusters, t(df={self.design.df:.1f}); "
                f"{self.design.n_clusters} clusters"
            )
        return (
            f"paired {self.config.interval}({self.config.resampling} bootstrap of the joint "
            f"table, B={self.config.n_resamples})"
        )

    def _diffs(self, fns):
        """``(theta, res, p)`` of ``f(B) - f(A)`` for each single-model statistic ``f`` (of a
        :class:`~prevalens.uncertainty.Stats`), stacked on a last axis, from the joint
        replicates; point only without replicates."""

        def fn(a, b):
            return np.stack([f(b) - f(a) for f in fns], axis=-1)

        if self.boot is None:
            theta = np.asarray(fn(*self._point), dtype=float)
            nan = np.full(theta.shape, np.nan)
            return theta, {"low": nan, "high": nan, "se": nan}, nan
        return self.boot.interval(fn, alpha=self.alpha, method=self.config.interval)

    def _analytic(self, metric: str, *, average: bool = True) -> bool:
        """Whether ``metric``'s differences are analytic rather than the replicates' (unless rows
        are clustered): per class, recall and specificity (Newcombe); averages over classes,
        recall only (MOVER over the classes' Newcombe limits: each class's recall rests on its
        own samples, its specificity on the other classes')."""
        if self.clustered:
            return False
        return metric == "recall" if average else metric in _PAIRED_PROPORTIONS

    def run(self, rng) -> PairResult:
        config = self.config
        if config.n_resamples > 0:
            self.boot = PairedBootstrap.run(
                self.pa.y_true,
                self.pa.y_pred,
                self.pb.y_pred,
                self.k,
                M.count_statistics,
                config.n_resamples,
                rng,
                scheme=config.resampling,
                cluster=self.pa.cluster,
                cells=self.cells,
                jackknife=config.interval == "bca",
                # the projection's row sums, from the same draws (stratified scheme)
                row_weights=None
                if self.plan is None or self.clustered or config.resampling != "stratified"
                else self.plan.row_weights(self.support),
            )
            self._point = self.boot.point
        else:
            self._point = PairedBootstrap.point_stats(self.cells, M.count_statistics)
        headline = self._headline()
        per_class = self._per_class()
        strata, shift = self._strata()
        gap = self._gap()
        target = self._target(rng)
        if self._scores:
            self._auc(headline, per_class, strata)
            self._losses(headline)
        tests = self._tests()
        per_class_t = tuple(
            ClassDifferences(
                label=self.pa.classes[j],
                support=int(self.support[j]),
                prevalence=float(self.support[j] / max(self.support.sum(), 1)),
                stratum=self.strata.name_of(j),
                flags=tuple(f for f in self.ra.per_class[j].flags if f != "diverges"),
                metrics=per_class[j],
            )
            for j in range(self.k)
        )
        strata_t = tuple(
            StratumDifferences(
                d.name,
                tuple(self.pa.classes[j] for j in np.flatnonzero(self.strata.index == g)),
                strata[g],
            )
            for g, d in enumerate(self.strata.definitions)
        )
        return PairResult(
            self.ref, self.cand, headline, per_class_t, strata_t, gap, shift, tests, target
        )

    def _claim(
        self, key, row: Difference, *, eligible=True, robust=None, interval_at=None, df=None
    ):
        """Add the claim of ``row`` to the family (only with intervals); ``df``: the t degrees
        of freedom of its estimate / se (default: the clusters', else normal)."""
        if self.boot is None:
            return
        d = row.difference
        c = Claim(
            key=("delta", self.index) + tuple(key),
            estimate=d.estimate,
            se=d.se,
            eligible=eligible,
            robust=robust,
            df=df if df is not None else self.design.df if self.design is not None else None,
            # the adjusted interval contains the marginal one (a skewed bootstrap interval can
            # reach 0 where the normal one at a stricter level does not)
            marginal=(d.ci_low, d.ci_high, row.p_value),
        )
        if interval_at is not None:
            c.interval_at = interval_at
            c.p_value = row.p_value
        self.claims.append(c)

    def _headline(self) -> dict:
        keys = [f"{a}.{m}" for a in _AVERAGES for m in M.AVERAGED_METRICS]
        keys += [f"overall.{m}" for m in _OVERALL]
        # accuracy (Newcombe), macro recall and balanced accuracy (MOVER) are analytic unless
        # rows are clustered; the rest come from the replicates
        analytic = (
            set()
            if self.clustered
            else {"overall.accuracy", "macro.recall", "overall.balanced_accuracy"}
        )
        boot = [k for k in keys if k not in analytic]
        theta, res, p = self._diffs([lambda s, k=k: s[k] for k in boot])
        macro_w = self._macro_weights(np.ones(self.k, bool))
        rows = {}
        for key in keys:
            metric = key.split(".", 1)[1]
            if key == "overall.accuracy" and key in analytic:
                rows[key] = self._newcombe_row(key, metric, *self._paired_table("accuracy"))
            elif key in analytic:  # macro recall, balanced accuracy
                rows[key] = self._mover_recall_row(key, metric, macro_w)
            else:
                i = boot.index(key)
                rows[key] = self._row(key, metric, theta[i], _part(res, i), p[i], self._method())
        # the family: the findings metrics' macro averages and accuracy (in single-label data
        # micro precision, recall and F1 and weighted recall all equal accuracy: one claim)
        ms = [m for m in self.findings_metrics if m != "roc_auc"]
        ok = self.eligible
        robust = self._robust([lambda s, m=m: macro_over(s, f"per_class.{m}", ok) for m in ms])
        for m, rob in zip(ms, robust):
            q = f"macro.{m}"
            self._claim(("headline", q), rows[q], robust=rob, interval_at=self._at.get(q))
        acc = rows["overall.accuracy"]
        self._claim(
            ("headline", "overall.accuracy"), acc, interval_at=self._at.get("overall.accuracy")
        )
        return rows

    def _robust(self, fns) -> list:
        """``(estimate, se)`` of ``f(B) - f(A)`` for each single-model statistic ``f`` over the
        classes with at least min_support samples (the claim must also hold without the smaller
        ones); None where every class is eligible or there are no replicates."""
        if self.boot is None or self.eligible.all() or not fns:
            return [None] * len(fns)
        theta, res, _ = self._diffs(fns)
        return [(float(theta[i]), float(res["se"][i])) for i in range(len(fns))]

    # -- Newcombe's paired proportions -------------------------------------------------------

    def _newcombe_row(self, quantity, metric, a, b, c, d, *, name=None, p=None) -> Difference:
        """``p``: the row's p-value when the caller has inverted every class's interval at
        once (:meth:`_newcombe_pvalues`: the same bisection, element by element)."""
        z = special.ndtri(1 - self.alpha / 2)
        theta, lo, hi = paired_difference_interval(a, b, c, d, z)

        def at(zz, a=a, b=b, c=c, d=d):
            return paired_difference_interval(a, b, c, d, zz)[1:]

        n = a + b + c + d
        if p is None:
            p = float(interval_pvalue(at, theta)) if n else math.nan
        se = math.sqrt(max(((b + c) / n - theta**2) / n, 0.0)) if n else math.nan
        res = {"low": lo, "high": hi, "se": se}
        test = f"{_NEWCOMBE}; p by inverting it"
        row = self._row(quantity, metric, theta, res, p, test, name=name)
        self._at[name or quantity] = at if n else None
        return row

    def _mover_recall_row(self, quantity, metric, weights, *, name=None) -> Difference:
        """``sum_k w_k (recall_k under B - under A)``: the classes' recall differences are
        independent (stratified: each rests on its own true samples), so MOVER combines their
        Newcombe limits (Zou & Donner 2008) into an interval valid for small classes, where the
        bootstrap of the joint table cannot vary a class whose samples both models get right."""
        w = np.asarray(weights, dtype=np.float64)
        a, b, c, d = self._paired["recall"]

        def at(z):
            z = np.asarray(z, dtype=np.float64)
            th, lo, hi = paired_difference_interval(a, b, c, d, z[..., None])
            wl, wh = w * lo, w * hi
            low_k, high_k = np.minimum(wl, wh), np.maximum(wl, wh)
            wt = w * th
            use = w != 0
            est = np.where(use, wt, 0.0).sum(axis=-1)
            down = np.sqrt(np.where(use, (wt - low_k) ** 2, 0.0).sum(axis=-1))
            up = np.sqrt(np.where(use, (high_k - wt) ** 2, 0.0).sum(axis=-1))
            return est - down, est + up

        th_k = paired_difference_interval(a, b, c, d, 1.0)[0]
        theta = float(np.where(w != 0, w * th_k, 0.0).sum())
        z = special.ndtri(1 - self.alpha / 2)
        lo, hi = (float(v) for v in at(z))
        p = float(interval_pvalue(at, theta))
        res = {"low": lo, "high": hi, "se": (hi - lo) / (2 * z)}
        test = (
            f"MOVER over the classes' {_NEWCOMBE} limits (independent classes); p by inverting it"
        )
        row = self._row(quantity, metric, theta, res, p, test, name=name)
        self._at[name or quantity] = at
        return row

    def _macro_weights(self, mask) -> np.ndarray:
        """Weights of the macro average over the classes in ``mask`` that have true samples."""
        use = mask & (self.support > 0)
        return np.where(use, 1.0 / max(int(use.sum()), 1), 0.0)

    # -- per class ---------------------------------------------------------------------------

    def _newcombe_pvalues(self, metric) -> np.ndarray:
        """Every class's Newcombe p-value of ``metric`` (recall or specificity) in one
        vectorised bisection (one per class cost K bisections of 64 steps: 15 s at K = 500)."""
        a, b, c, d = (np.asarray(t) for t in self._paired[metric])
        n = a + b + c + d
        with np.errstate(invalid="ignore", divide="ignore"):
            theta = paired_difference_interval(a, b, c, d, 1.0)[0]

            def at(zz):
                return paired_difference_interval(a, b, c, d, zz)[1:]

            p = interval_pvalue(at, theta)
        return np.where(n > 0, p, np.nan)

    def _per_class(self) -> list[dict]:
        ms = CLASS_METRICS
        # recall and specificity are Newcombe's unless rows are clustered: only the others are
        # derived from the replicates (each derivation of (K,) values costs a (J, K) jackknife)
        boot = tuple(m for m in ms if not self._analytic(m, average=False))
        theta, res, p = self._diffs([lambda s, m=m: s[f"per_class.{m}"] for m in boot])  # (K, m)
        n = self.pa.n_samples
        pvals = {
            m: self._newcombe_pvalues(m) for m in _PAIRED_PROPORTIONS if m in ms and m not in boot
        }
        out: list[dict] = [{} for _ in range(self.k)]
        for j in range(self.k):
            for m in ms:
                q = f"class.{j}.{m}"
                name = f"class.{self.pa.classes[j]}.{m}"
                if m in boot:
                    i = boot.index(m)
                    row = self._row(
                        q, m, theta[j, i], _part(res, (j, i)), p[j, i], self._method(), name=name
                    )
                elif (self.support[j] > 0) if m == "recall" else (self.support[j] < n):
                    row = self._newcombe_row(
                        q, m, *self._paired_table(m, j), name=name, p=float(pvals[m][j])
                    )
                else:  # no true samples (recall) or no negatives (specificity): undefined
                    row = self._row(q, m, math.nan, {}, math.nan, _NEWCOMBE, name=name)
                out[j][m] = row
                if m in self.findings_metrics:
                    self._claim(
                        ("class", j, m),
                        row,
                        eligible=bool(self.eligible[j]),
                        interval_at=self._at.get(name) if m in _PAIRED_PROPORTIONS else None,
                    )
        return out

    # -- strata, the shift between them, the gap ---------------------------------------------

    def _strata(self) -> tuple[list[dict], dict]:
        masks = self.strata.masks
        ms = M.STRATA_METRICS
        out: list[dict] = [{} for _ in masks]
        if not masks:
            return out, {}

        boot = [(g, m) for g in range(len(masks)) for m in ms if not self._analytic(m)]
        theta, res, p = self._diffs(
            [lambda s, m=m, g=g: macro_over(s, f"per_class.{m}", masks[g]) for g, m in boot]
        )
        fm = [m for m in ms if m in self.findings_metrics]
        ok = self.eligible
        robust = self._robust(
            [
                lambda s, m=m, mask=mask: macro_over(s, f"per_class.{m}", mask & ok)
                for mask in masks
                for m in fm
            ]
        )
        for g, mask in enumerate(masks):
            name = self.strata.definitions[g].name
            only_small = not (mask & self.eligible).any()
            for m in ms:
                q = f"stratum.{name}.{m}"
                if self._analytic(m):
                    row = self._mover_recall_row(q, m, self._macro_weights(mask))
                else:
                    idx = boot.index((g, m))
                    row = self._row(q, m, theta[idx], _part(res, idx), p[idx], self._method())
                out[g][m] = row
                if m in fm:
                    rob = robust[g * len(fm) + fm.index(m)]
                    self._claim(
                        ("stratum", g, m),
                        row,
                        eligible=not only_small,
                        robust=rob,
                        interval_at=self._at.get(q),
                    )
        shift: dict = {}
        lo, hi = self.strata.rarest, self.strata.most_common
        if lo is None or hi is None or lo == hi:
            return out, shift
        rare, common = masks[lo], masks[hi]
        sm = [m for m in self.findings_metrics if m != "roc_auc"]

        def rare_minus_common(m, in_rare, in_common):
            return lambda s: (
                macro_over(s, f"per_class.{m}", in_rare)
                - macro_over(s, f"per_class.{m}", in_common)
            )

        boot = [m for m in sm if not self._analytic(m)]
        theta, res, p = self._diffs([rare_minus_common(m, rare, common) for m in boot])
        ok = self.eligible
        robust = self._robust([rare_minus_common(m, rare & ok, common & ok) for m in sm])
        nan = Estimate(math.nan, status="undefined")
        for i, m in enumerate(sm):
            q = f"shift.{m}"
            if self._analytic(m):
                w = self._macro_weights(rare) - self._macro_weights(common)
                row = self._mover_recall_row(q, m, w)
            else:
                j = boot.index(m)
                row = self._row(q, m, theta[j], _part(res, j), p[j], self._method())
            row = replace(row, reference=nan, candidate=nan)
            shift[m] = row
            both = bool((rare & ok).any() and (common & ok).any())
            self._claim(
                ("shift", m), row, eligible=both, robust=robust[i], interval_at=self._at.get(q)
            )
        return out, shift

    # -- at the deployment's prevalences -------------------------------------------------------

    def _target_method(self) -> str:
        if self.boot is None:
            return "point estimates only (n_resamples=0)"
        if self.design is not None:
            return (
                f"paired jackknife over clusters of the projected metrics, t(df="
                f"{self.design.df:.1f}); {self.design.n_clusters} clusters"
            )
        how = self._target_how
        return (
            f"paired {how}(stratified bootstrap of the joint table, B={self.config.n_resamples}; "
            "the rows' proportions projected to the fixed target)"
        )

    def _target(self, rng) -> dict:
        """``candidate - reference`` of the headline metrics at the deployment's prevalences
        (:func:`~prevalens.analyses.shift.paired_at_target`): recall carries over under label
        shift, so the differences are of the metrics that move. Claims: accuracy and the macro
        averages of the findings metrics (precision, F1) at the target, as for the headline."""
        if self.plan is None:
            return {}
        fm = [m for m in self.findings_metrics if f"macro.{m}" in TARGET_HEADLINE]
        keys = TARGET_HEADLINE + tuple(f"per_class.{m}" for m in fm)
        bca = self.config.interval == "bca"
        at = paired_at_target(
            self.cells,
            self.plan,
            keys,
            boot=self.boot,
            bca=bca,
            rng=rng,
            rows=(self.pa.y_true, self.pa.y_pred, self.pb.y_pred, self.pa.cluster)
            if self.clustered
            else None,
        )
        self._target_how = (
            self.config.interval if (at.jackknife is not None or not bca) else "percentile"
        )
        fns = [lambda a, b, k=k: b[k] - a[k] for k in TARGET_HEADLINE]

        def both(a, b):
            return np.stack([f(a, b) for f in fns], axis=-1)

        if self.boot is None:
            theta = at.derive(both, "point")
            nan = np.full(theta.shape, np.nan)
            res: dict = {"low": nan, "high": nan, "se": nan}
            p = nan
        else:
            theta, res, p = at.interval(both, alpha=self.alpha, method=self._target_how)
        # with clusters: a cluster that holds every sample of a class leaves that class's row
        # unknown when it is left out; the jackknife cannot see its uncertainty (as the audit's
        # own projection says), so there is no interval rather than one too narrow
        blind = np.zeros(theta.shape, dtype=bool)
        if self.design is not None and self.boot is not None:
            blind = np.isnan(at.derive(both, "jackknife")).any(axis=0) & np.isfinite(theta)
        method = self._target_method()
        nan_est = Estimate(math.nan, status="undefined")
        ra, rb = self.ra.prevalence_shift, self.rb.prevalence_shift
        # a class of few samples made much more prevalent: the replicates' intervals of the
        # differences there were too narrow in simulation (see TARGET_SMALL_NOTE)
        observed = self.support / max(int(self.support.sum()), 1)
        with np.errstate(invalid="ignore", divide="ignore"):
            factor = np.where(
                self.support > 0, self.plan.pi / np.where(observed > 0, observed, 1), 0
            )
        upweighted = bool(
            ((self.support > 0) & (self.support < TARGET_SMALL_SUPPORT) & (factor >= 5)).any()
        )
        rows = {}
        for i, key in enumerate(TARGET_HEADLINE):
            q = f"target.{key}"
            part = _part(res, i)
            diff = _estimate(theta[i], part, method)
            if upweighted and diff.status == "ok" and math.isfinite(diff.ci_low):
                diff = replace(diff, status="unstable", note=TARGET_SMALL_NOTE)
            if blind[i]:
                diff = Estimate(
                    float(theta[i]), method=method, status="no_interval", note=BLIND_NOTE
                )
            rows[key] = Difference(
                p_bound=bool(part.get("p_bound", False)) and not blind[i],
                quantity=q,
                metric=key.split(".", 1)[1],
                reference=ra.headline[key] if ra is not None else nan_est,
                candidate=rb.headline[key] if rb is not None else nan_est,
                difference=diff,
                p_value=float(p[i]) if np.isfinite(p[i]) and not blind[i] else math.nan,
                higher_is_better=True,
                test=method,
            )
        # accuracy at the target is sum_i pi_i recall_i, a fixed linear combination of the
        # classes' recall differences (independent under stratification): MOVER over their
        # Newcombe limits, as for macro recall (valid where the bootstrap cannot vary a small
        # class whose samples both models get right)
        acc_robust = None
        if self._analytic("recall"):
            pi = self.plan.pi
            q = "target.overall.accuracy"
            row = self._mover_recall_row(q, "accuracy", pi)
            rows["overall.accuracy"] = replace(
                row,
                reference=rows["overall.accuracy"].reference,
                candidate=rows["overall.accuracy"].candidate,
            )
            ok_pi = np.where(self.eligible, pi, 0.0)
            if self.boot is not None and not self.eligible.all() and ok_pi.sum() > 0:
                saved = self._at.get(q)
                rob = self._mover_recall_row(q, "accuracy", ok_pi / ok_pi.sum()).difference
                self._at[q] = saved
                # the half-width toward 0 of the (asymmetric) MOVER interval, as a standard error
                z = float(special.ndtri(1 - self.alpha / 2))
                toward = (
                    rob.estimate - rob.ci_low if rob.estimate > 0 else rob.ci_high - rob.estimate
                )
                acc_robust = (rob.estimate, toward / z)
        # the claims must also hold over the classes with min_support samples
        ok = self.eligible
        robust: list = [None] * len(fm)
        if self.boot is not None and not ok.all() and fm:
            fns_r = [
                lambda a, b, m=m: (
                    macro_over(b, f"per_class.{m}", ok) - macro_over(a, f"per_class.{m}", ok)
                )
                for m in fm
            ]
            th_r, res_r, _ = at.interval(
                lambda a, b: np.stack([f(a, b) for f in fns_r], axis=-1),
                alpha=self.alpha,
                method=self._target_how,
            )
            robust = [(float(th_r[i]), float(res_r["se"][i])) for i in range(len(fm))]
        for key, rob in [("overall.accuracy", acc_robust)] + [
            (f"macro.{m}", r) for m, r in zip(fm, robust)
        ]:
            if rows[key].difference.status == "unstable":
                continue  # said, not claimed
            self._claim(
                ("target", key), rows[key], robust=rob, interval_at=self._at.get(f"target.{key}")
            )
        return rows

    def _gap(self) -> dict:
        ms = M.STRATA_METRICS
        boot = [m for m in ms if not self._analytic(m)]
        theta, res, p = self._diffs(
            [lambda s, m=m: s[f"macro.{m}"] - s[f"micro.{m}"] for m in boot]
        )
        fm = [m for m in ms if m in self.findings_metrics]
        ok = self.eligible
        robust = self._robust(
            [lambda s, m=m: macro_over(s, f"per_class.{m}", ok) - micro_over(s, m, ok) for m in fm]
        )
        out = {}
        present = self.support > 0
        share = self.support / max(int(self.support.sum()), 1)
        for m in ms:
            q = f"gap.{m}"
            if self._analytic(m):
                # macro - micro recall = sum_k (1/K' - n_k/N) recall_k over classes with samples
                w = np.where(present, self._macro_weights(present) - share, 0.0)
                row = self._mover_recall_row(q, m, w)
            else:
                j = boot.index(m)
                row = self._row(q, m, theta[j], _part(res, j), p[j], self._method())
            out[m] = row
            if m in fm:
                self._claim(
                    ("gap", m), row, robust=robust[fm.index(m)], interval_at=self._at.get(q)
                )
        return out

    # -- scores ------------------------------------------------------------------------------

    def _auc(self, headline: dict, per_class: list[dict], strata: list[dict]) -> None:
        pa, pb = self.pa, self.pb
        n = pa.n_samples
        w = R.auc_combination_weights(self.support, n)
        extra = auc_strata_weights(self.strata.index, len(self.strata.definitions), self.support, n)
        weights = np.concatenate([w, extra], axis=1)
        res = R.paired_ovr_delong(pa.y_true, pa.y_score, pb.y_score, weights, pa.cluster)
        test = _DELONG + (" (clustered, Obuchowski)" if self.clustered else "")
        n_pos = self.support
        n_neg = n - n_pos
        # classes whose DeLong variance understates their uncertainty under either model (AUC at
        # or near 0 or 1 with few positives): their rows, and averages they take part in, are
        # approximate (status unstable) and carry no claim, as in the audit
        with np.errstate(invalid="ignore"):
            edge = np.zeros(self.k, bool)
            for auc in (res.auc_a, res.auc_b):
                mass = n_pos * np.minimum(auc, 1.0 - auc)
                edge |= ~np.isnan(auc) & (mass < R.DELONG_MIN_ERROR_MASS)

        def edge_note(mask) -> str | None:
            count = int((edge & mask).sum())
            return R.DELONG_EDGE_NOTE.format(n=count) if count else None

        for j in range(self.k):
            d, var = res.difference[j], res.var_diff[j]
            df = (
                self.design.df
                if self.design is not None
                else float(max(min(n_pos[j], n_neg[j]) - 1, 1))
            )
            row = self._normal_row(
                f"class.{j}.roc_auc",
                "roc_auc",
                d,
                var,
                df,
                test,
                name=f"class.{pa.classes[j]}.roc_auc",
                unstable=edge_note(np.arange(self.k) == j),
            )
            per_class[j]["roc_auc"] = row
            if "roc_auc" in self.findings_metrics:
                self._claim(
                    ("class", j, "roc_auc"),
                    row,
                    eligible=bool(self.eligible[j] and not edge[j]),
                    df=df,
                )
        assert res.combo_diff is not None and res.combo_cov is not None
        combo_diff, combo_cov = res.combo_diff, res.combo_cov
        class_df = np.maximum(np.minimum(n_pos, n_neg) - 1, 1).astype(float)
        share = np.where(np.isfinite(res.var_diff), res.var_diff, 0.0)

        def df_of(col: int) -> float | None:
            """Welch-Satterthwaite degrees of freedom of an average of the classes'
            differences, each class's share of the variance on its own df (a rare class that
            carries the variance gives a t quantile, not a normal one: with rarest classes of
            12-17 samples the normal quantile covered the macro AUC difference 0.93)."""
            if self.design is not None:
                return self.design.df
            part = weights[:, col] ** 2 * share
            total = part.sum()
            if not total > 0:
                return None
            return float(total**2 / np.sum(part**2 / class_df))

        def combo_row(key: str, col: int) -> Difference:
            """The difference of the average of AUCs in column ``col`` of the weights."""
            return self._normal_row(
                key,
                "roc_auc",
                combo_diff[col],
                combo_cov[col, col],
                df_of(col),
                test,
                unstable=edge_note(weights[:, col] != 0),
            )

        for col, key in ((0, "macro.roc_auc"), (1, "weighted.roc_auc")):
            headline[key] = combo_row(key, col)
        if "roc_auc" in self.findings_metrics:
            mrow = headline["macro.roc_auc"]
            self._claim(
                ("headline", "macro.roc_auc"),
                mrow,
                df=self._dfs.get("macro.roc_auc"),
                eligible=mrow.difference.status != "unstable",
            )
        for g, d in enumerate(self.strata.definitions):  # column 2g of ``extra``: its macro AUC
            strata[g]["roc_auc"] = combo_row(f"stratum.{d.name}.roc_auc", 2 + 2 * g)

    def _normal_row(
        self, quantity, metric, d, var, df, test, *, name=None, unstable=None
    ) -> Difference:
        """A difference of two quantities in [0, 1] (or a loss) with its standard error and a t
        (``df``) or normal quantile; ``unstable``: why the interval is approximate."""
        d = float(d)
        se = math.sqrt(var) if np.isfinite(var) and var > 0 else math.nan
        if math.isnan(se) or math.isnan(d):
            res = {"low": math.nan, "high": math.nan, "se": se}
            p = math.nan
        else:
            q = special.stdtrit(df, 1 - self.alpha / 2) if df else special.ndtri(1 - self.alpha / 2)
            res = {"low": d - q * se, "high": d + q * se, "se": se}
            if metric == "roc_auc":  # a difference of two AUCs lies in [-1, 1]
                res["low"], res["high"] = max(res["low"], -1.0), min(res["high"], 1.0)
            if unstable:
                res["approximate"], res["note"] = True, unstable
            p = float(2 * (special.stdtr(df, -abs(d) / se) if df else special.ndtr(-abs(d) / se)))
        label = test if df is None or self.design is not None else f"{test}, t(df={df:.1f})"
        self._dfs[name or quantity] = df
        return self._row(quantity, metric, d, res, p, label, name=name)

    def _losses(self, headline: dict) -> None:
        pa, pb = self.pa, self.pb
        if not (pa.scores_are_probabilities and pb.scores_are_probabilities):
            return
        y = pa.y_true
        eps = np.finfo(np.float64).eps
        idx = np.arange(y.size)
        per = {
            "log_loss": lambda s: -np.log(np.clip(s[idx, y], eps, 1 - eps)),
            "brier": lambda s: R.brier_per_sample(y, s),
        }
        for m, f in per.items():
            if m not in self.ra.overall or m not in self.rb.overall:
                continue
            d = f(pb.y_score) - f(pa.y_score)
            if self.clustered:
                assert self.design is not None and pa.cluster is not None
                c = int(pa.cluster.max()) + 1
                tot = np.bincount(pa.cluster, weights=d - d.mean(), minlength=c) / d.size
                var = c / max(c - 1, 1) * float(tot @ tot)
                df = self.design.df
            else:
                var = float(d.var(ddof=1) / d.size) if d.size > 1 else math.nan
                df = float(d.size - 1)
            key = f"overall.{m}"
            test = (
                "paired differences summed within clusters, t"
                if self.clustered
                else "paired t on per-sample differences"
            )
            headline[key] = self._normal_row(key, m, d.mean(), var, df, test)
            self._claim(("headline", key), headline[key], df=df)

    # -- tests of the whole pattern ----------------------------------------------------------

    def _tests(self) -> dict:
        a, b, c, d = self._paired_table("accuracy")
        tests: dict = {
            "mcnemar": {
                "reference_only_correct": c,
                "candidate_only_correct": b,
                "p_exact": mcnemar_test(c, b, method="exact"),
                "p_mid_p": mcnemar_test(c, b, method="mid-p"),
                "note": "McNemar's test of equal accuracy on the discordant samples (rows "
                "clustered: not valid)"
                if self.clustered
                else "McNemar's test of equal accuracy on the discordant samples",
            }
        }
        table = np.zeros((self.k, self.k), dtype=np.int64)
        np.add.at(table, (self.cells.pred_a, self.cells.pred_b), self.cells.counts)
        stat, p, df = stuart_maxwell_test(table)
        tests["stuart_maxwell"] = {
            "statistic": float(stat),
            "df": int(df),
            "p_value": float(p),
            "note": "Stuart-Maxwell test that the two models predict each class equally often "
            "(marginal homogeneity of the table of their predictions)",
        }
        return tests


# ------------------------------------------------------------------------------------------------
# helpers


def _part(res: dict, i) -> dict:
    return {k: (v[i] if isinstance(v, np.ndarray) and v.ndim else v) for k, v in res.items()}


def _estimate(theta, res: dict, method: str) -> Estimate:
    theta = float(theta)
    if math.isnan(theta):
        return Estimate(math.nan, method=method, status="undefined")
    lo, hi = float(res.get("low", math.nan)), float(res.get("high", math.nan))
    undef = float(res.get("undefined_fraction", 0.0) or 0.0)
    note = res.get("note")
    if isinstance(note, np.ndarray):
        note = note[()]
    unstable = undef > UNSTABLE_FRACTION or bool(res.get("approximate"))
    return Estimate(
        theta,
        ci_low=lo,
        ci_high=hi,
        se=float(res.get("se", math.nan)),
        method=method,
        status="unstable" if unstable and not math.isnan(lo) else "ok",
        note=str(note) if note else None,
        undefined_fraction=undef if undef > 0 else None,
    )


def _with_adjusted(pair: PairResult, index: int, by_key: dict, how: str) -> PairResult:
    """The pair with each claimed row's adjusted interval (claim keys start ``("delta",
    index)``)."""

    def adj(row: Difference, *key) -> Difference:
        c = by_key.get(("delta", index) + key)
        a = c.adjusted(how) if c is not None else None
        return replace(row, adjusted=a) if a is not None else row

    return replace(
        pair,
        headline={q: adj(r, "headline", q) for q, r in pair.headline.items()},
        per_class=tuple(
            replace(c, metrics={m: adj(r, "class", j, m) for m, r in c.metrics.items()})
            for j, c in enumerate(pair.per_class)
        ),
        strata=tuple(
            replace(s, metrics={m: adj(r, "stratum", g, m) for m, r in s.metrics.items()})
            for g, s in enumerate(pair.strata)
        ),
        gap={m: adj(r, "gap", m) for m, r in pair.gap.items()},
        shift={m: adj(r, "shift", m) for m, r in pair.shift.items()},
        target={q: adj(r, "target", q) for q, r in pair.target.items()},
    )


def _notes(base: Predictions, models: dict, config, audits) -> tuple:
    notes = [
        Note(
            "comparison-method",
            "Differences are candidate minus reference on the same samples; their intervals use "
            "the pairing (joint resampling of the table of truth and both predictions, "
            "Newcombe's paired interval for accuracy, recall and specificity, DeLong's paired "
            "covariance for ROC AUC). Micro ROC AUC and average precision are not compared.",
        )
    ]
    no_scores = [n for n, p in models.items() if p.y_score is None]
    if no_scores and len(no_scores) < len(models):
        notes.append(
            Note(
                "comparison-scores",
                f"{', '.join(no_scores)} {'has' if len(no_scores) == 1 else 'have'} no scores: "
                "score metrics (ROC AUC, log loss, Brier) are not compared.",
            )
        )
    small = [
        c
        for c, s in zip(base.classes, np.bincount(base.y_true, minlength=base.n_classes))
        if 0 < s < config.min_support
    ]
    if small:
        notes.append(
            Note(
                "comparison-insufficient",
                f"{len(small)} class{'es' if len(small) != 1 else ''} with fewer than "
                f"{config.min_support} true samples: their differences are shown but no claim "
                "rests on them.",
                tuple(small),
            )
        )
    return tuple(notes)


# ------------------------------------------------------------------------------------------------
# findings


def _fmt(x) -> str:
    return fmt_number(x, 3, bounds=(0.0, 1.0), minus="-")


def _signed(x) -> str:
    return fmt_signed_number(x, 3)


def _adj_text(row: Difference) -> str:
    a = row.adjusted
    assert a is not None
    ci = f"{a.adjustment.capitalize()}-adjusted CI {_signed(a.ci_low)} to {_signed(a.ci_high)}"
    pa = a.p_adjusted
    if pa is None or not math.isfinite(pa):  # a result written before adjusted p-values
        return ci
    p = "< 0.0001" if pa < 1e-4 else "= " + fmt_number(pa, 4, bounds=(0.0,))
    return f"{ci}, adjusted p {p}"


def _claimed(row: Difference, min_effect: float) -> bool:
    return bool(
        row.significant
        and np.isfinite(row.difference.estimate)
        and abs(row.difference.estimate) >= min_effect
    )


def _findings(pair: PairResult, config, strata, by_key, plan=None) -> list[Finding]:
    ref, cand = pair.reference, pair.candidate
    eff = config.min_effect
    out: list[Finding] = []
    pid = f"{cand}-vs-{ref}"
    better: list = []
    worse: list = []
    for q, row in pair.headline.items():
        if row.adjusted is None or not _claimed(row, eff) or row.better is None:
            continue
        (better if row.better == "candidate" else worse).append((q, row))
    cls_better: list = []
    cls_worse: list = []
    for c in sorted(pair.per_class, key=lambda c: c.support):
        for m, row in c.metrics.items():
            if row.adjusted is None or not _claimed(row, eff) or row.better is None:
                continue
            (cls_better if row.better == "candidate" else cls_worse).append((c, m, row))
    n_eligible = sum(1 for c in pair.per_class if c.support >= max(config.min_support, 1))
    n_small = sum(1 for c in pair.per_class if 0 < c.support < config.min_support)

    def names(rows):
        return ", ".join(quantity_text(q) for q, _ in rows)

    def classes(rows):
        seen = list(dict.fromkeys(str(c.label) for c, _, _ in rows))
        shown = seen[:8]
        more = f" and {len(seen) - 8} more" if len(seen) > 8 else ""
        return f"{len(seen)} class{'es' if len(seen) != 1 else ''} ({', '.join(shown)}{more})", seen

    parts = []
    if better:
        parts.append(f"better than {ref} on {names(better)}")
    if worse:
        parts.append(f"worse than {ref} on {names(worse)}")
    cb_text, cb = classes(cls_better) if cls_better else ("", [])
    cw_text, cw = classes(cls_worse) if cls_worse else ("", [])
    if cls_better:
        parts.append(f"better on {cb_text}")
    if cls_worse:
        parts.append(f"worse on {cw_text}")
    if config.n_resamples == 0:
        return [
            Finding(
                f"compare-{pid}-summary",
                "comparison",
                "info",
                None,
                (),
                {"reference": ref, "candidate": cand, "better": [], "worse": []},
                f"{cand} against {ref}: point differences only (n_resamples = 0), so no "
                "difference is tested or claimed; compute intervals to compare the models.",
            )
        ]
    level = fmt_number(100 * config.confidence_level, 1, bounds=()).rstrip("0").rstrip(".")
    how = (
        f"{config.divergence_adjustment.capitalize()}-adjusted {level}% intervals over "
        f"{sum(1 for c in by_key.values() if c.testable)} comparisons, "
        f"differences of at least {fmt_number(eff, 2, bounds=())}"
    )
    if parts:
        text = f"{cand} is " + "; ".join(parts) + f" ({how})."
        severity = "warning" if worse or cls_worse else "info"
    else:
        text = (
            f"No evidence that {cand} differs from {ref} on any headline metric or class ({how})."
        )
        severity = "info"
    rest = n_eligible - len(set(cb) | set(cw))
    small = (
        f"{n_small} class{'es' if n_small != 1 else ''} with fewer than {config.min_support} "
        f"samples {'were' if n_small != 1 else 'was'} not judged."
    )
    if parts and rest > 0:
        other = f"the other {rest} classes" if rest != 1 else "the other class"
        text += f" No evidence of a difference on {other}" + (f"; {small}" if n_small else ".")
    elif n_small:
        text += " " + small
    out.append(
        Finding(
            f"compare-{pid}-summary",
            "comparison",
            severity,
            None,
            tuple(cb + cw),
            {
                "reference": ref,
                "candidate": cand,
                "better": [q for q, _ in better],
                "worse": [q for q, _ in worse],
                "classes_better": cb,
                "classes_worse": cw,
            },
            text,
        )
    )
    for q, row in better + worse:
        word = "higher" if row.difference.estimate > 0 else "lower"
        out.append(
            Finding(
                f"compare-{pid}-{q}",
                "comparison_headline",
                "info" if row.better == "candidate" else "warning",
                row.metric,
                (),
                {"quantity": q, "difference": row.difference.to_dict()},
                f"{cand} has {word} {quantity_text(q)} than {ref}: "
                f"{_fmt(row.candidate.estimate)} against {_fmt(row.reference.estimate)}, "
                f"a difference of {_signed(row.difference.estimate)} ({_adj_text(row)}).",
            )
        )
    for rows, word, sev in ((cls_better, "better", "info"), (cls_worse, "worse", "warning")):
        if not rows:
            continue
        by_class: dict = {}
        for c, m, r in rows:
            by_class.setdefault(c.label, (c, []))[1].append(
                f"{metric_text(m)} {_signed(r.difference.estimate)} ({_fmt(r.reference.estimate)}"
                f" -> {_fmt(r.candidate.estimate)})"
            )
        bits = [f"{lab} (n={c.support}): {', '.join(ms)}" for lab, (c, ms) in by_class.items()]
        n_more = len(bits) - 10
        bits = bits[:10]
        more = f"; and {n_more} more classes" if n_more > 0 else ""
        out.append(
            Finding(
                f"compare-{pid}-classes-{word}",
                "comparison_classes",
                sev,
                None,
                tuple(dict.fromkeys(c.label for c, _, _ in rows)),
                {
                    "rows": [
                        {"label": c.label, "metric": m, "difference": r.difference.to_dict()}
                        for c, m, r in rows
                    ]
                },
                f"Classes where {cand} is {word} than {ref} (rarest first; adjusted intervals "
                f"exclude 0): " + "; ".join(bits) + more + ".",
            )
        )
    for m, row in pair.shift.items():
        if row.adjusted is None or not _claimed(row, eff):
            continue
        rare = pair.strata[strata.rarest].metrics[m]
        common = pair.strata[strata.most_common].metrics[m]
        where = "rare" if row.difference.estimate > 0 else "common"
        out.append(
            Finding(
                f"compare-{pid}-shift-{m}",
                "comparison_shift",
                "info",
                m,
                (),
                {"difference": row.difference.to_dict()},
                f"{cand}'s change in macro {metric_text(m)} favours the {where} classes: "
                f"{_signed(rare.difference.estimate)} in the {pair.strata[strata.rarest].name} "
                f"stratum against {_signed(common.difference.estimate)} in the "
                f"{pair.strata[strata.most_common].name} stratum (difference "
                f"{_signed(row.difference.estimate)}; {_adj_text(row)}).",
            )
        )
    out += _target_findings(pair, config, plan)
    for m, row in pair.gap.items():
        if row.adjusted is None or not _claimed(row, eff):
            continue
        ga, gb = row.reference.estimate, row.candidate.estimate
        verb = "narrowed" if abs(gb) < abs(ga) else "widened"
        out.append(
            Finding(
                f"compare-{pid}-gap-{m}",
                "comparison_gap",
                "info" if verb == "narrowed" else "warning",
                m,
                (),
                {"difference": row.difference.to_dict()},
                f"The macro-micro gap in {metric_text(m)} {verb}: {_signed(ga)} under {ref}, "
                f"{_signed(gb)} under {cand} (change {_signed(row.difference.estimate)}; "
                f"{_adj_text(row)}).",
            )
        )
    return out


def _target_findings(pair: PairResult, config, plan) -> list[Finding]:
    """The claimed differences at the deployment's prevalences, one finding each, with the
    difference on the evaluation data beside it (a ranking that reverses is a warning)."""
    if plan is None or config.n_resamples == 0:
        return []
    ref, cand = pair.reference, pair.candidate
    pid = f"{cand}-vs-{ref}"
    out = []
    for key, row in pair.target.items():
        if row.adjusted is None or not _claimed(row, config.min_effect) or row.better is None:
            continue
        here = pair.headline.get(key)
        word = "higher" if row.difference.estimate > 0 else "lower"
        text = (
            f"At the deployment's prevalences ({plan.source}), {cand} would have {word} "
            f"{quantity_text(key)} than {ref}: {_fmt(row.candidate.estimate)} against "
            f"{_fmt(row.reference.estimate)}, a difference of {_signed(row.difference.estimate)} "
            f"({_adj_text(row)})"
        )
        severity = "info" if row.better == "candidate" else "warning"
        if here is not None and np.isfinite(here.difference.estimate):
            reverses = here.better is not None and here.better != row.better
            if reverses and _claimed(here, config.min_effect):
                favoured = ref if here.better == "reference" else cand
                text += (
                    f"; on the evaluation data the difference is "
                    f"{_signed(here.difference.estimate)}, in {favoured}'s favour: "
                    "the ranking reverses at the target"
                )
                severity = "warning"
            else:
                shown = (
                    "significant"
                    if _claimed(here, config.min_effect)
                    else "significant but below the minimum effect"
                    if here.significant
                    else "not significant"
                )
                text += (
                    f"; on the evaluation data the difference is "
                    f"{_signed(here.difference.estimate)} ({shown})"
                )
        text += ". Assumes label shift (each class's samples look the same where deployed)."
        out.append(
            Finding(
                f"compare-{pid}-target-{key}",
                "comparison_target",
                severity,
                row.metric,
                (),
                {
                    "quantity": row.quantity,
                    "target": plan.source,
                    "reference": row.reference.to_dict(),
                    "candidate": row.candidate.to_dict(),
                    "difference": row.difference.to_dict(),
                    "adjusted": row.adjusted.to_dict(),
                    "evaluation_difference": None if here is None else here.difference.to_dict(),
                    "evaluation_significant": bool(here is not None and here.significant),
                },
                text,
            )
        )
    return out
