"""Coverage, false alarms and power of each level's macro averages and their disparities
(prevalens.analyses.subgroup_averages), shared by tests/test_coverage_subgroup_averages.py (slow)
and runnable alone: ``python tests/subgroup_average_sims.py [disparity|null|clustered ...]``.

Designs (on tests/subgroup_sims.py's: K = 5 classes, one grouping ``site`` of 4 levels of 500,
700, 1000 and 1300 rows, each row's class drawn from its level's prevalences and its prediction
from the level's row of confusion probabilities):

* Disparity design: the rare class (4) is 4%, 6%, 3%, 5% of A, B, C, D (about 20, 42, 30, 65
  true samples), the other classes in the proportions 0.40 : 0.25 : 0.20 : 0.11; the recalls
  0.90, 0.85, 0.80, 0.80, 0.85 in B, C, D and 15 points lower in every class of A (0.75, 0.70,
  0.65, 0.65, 0.70).
* Null design: subgroup_sims's (every level alike; the rare class 4% of each level).
* Clustered design: the disparity design's rows as patients' (4 rows each, one class, a normal
  patient effect of sd 1.5 on the logit of the recall: ``subgroup_sims.clustered_dataset``).

True values, exact from the design: a level's (or the rest's, or the reference's) expected
confusion matrix is ``n_g * prevalence_g[:, None] * confusion_g`` (summed over the levels of the
rest); its macro recall is the mean of the diagonal ratios and its macro F1 the mean over the
classes of ``2 E[tp] / (E[predicted] + E[true])``: the population macro F1, the F1 of the
expected confusion matrix. The plug-in F1 is a ratio of counts, so its expectation differs from
that by O(1/n); the simulation measures that bias (``bias ...``). In the clustered design the
recall of class i in level g is ``E[expit(logit r + u)]`` (``subgroup_sims.clustered_truth``) and
the wrong rows are spread as in the unclustered design, so the expected matrix is the design's
with those recalls.

The analysis runs as the audit runs it (``analyse_subgroups`` with the audit's strata, from the
class supports over all rows), with ``subgroup_min_cell`` 1 (every class averaged), strata cut at
7% and 15% of prevalence (:data:`STRATA_CUTS`) and B = 400 bootstrap replicates. The per-class
claims' p-values (subgroup_sims.without_pvalues) are skipped: they enter none of the averages'
intervals, nor the macro claims, which are then the only claims tested. False alarms and power
are bracketed from those claims (:func:`macro_significance`): Holm over the macro claims alone
rejects at least what the audit rejects (Holm on a larger family rejects a subset), and Holm over
them plus ``family_size - 8`` claims with p = 1 at most (other claims' smaller p-values can only
loosen Holm's later steps).

Within each level (:func:`within_true_values`, :func:`within_estimates`; read from the same
analyses): ``gap.recall`` and ``gap.f1`` (the level's macro minus its accuracy, which is its
micro recall and micro F1), ``stratum.<name>.recall`` and ``.f1`` (the macro over the classes of
each non-empty stratum) and ``extremes.recall`` and ``.f1`` (the rarest stratum's macro minus the
most common one's), each of the four levels. True values from the expected matrices as above:
the accuracy is the trace over the sum, a stratum's macro the mean over its classes. The strata
are data-dependent (the audit assigns them from the observed class supports over all rows); the
design's strata are :func:`assign_strata` of the expected supports, and these checks count only
the datasets whose observed assignment is the design's (``strata matched``; ``strata differ``
is the share of the others). The audit's default cuts (1%, 10%) do not fit these designs: the
rare stratum (below 1%) is empty, so there is no ``extremes`` average, and class 3's prevalence
(10.9% in the disparity design, 11% in the null) lies 1.8-1.9 sd above the 10% cut (the exact
chance of falling below it: 3.3% and 2.6% of the datasets, 18.6% and 17.3% with the clustered
design's patients of 4 rows); at 7% and 15% the three strata are rare {4} (4.0-4.5%), uncommon
{3} and common {0, 1, 2} (20% and more), each class at least 3.6 sd (in patients) from a cut:
the exact chance that a dataset's assignment differs is below 1e-10 with rows and at most 0.06%
with patients (the classes' chances summed). ``default strata differ`` measures the default
cuts' share on the same datasets.
"""

from __future__ import annotations

import math
import sys
import warnings

import numpy as np
import subgroup_sims as sims
from scipy import special

import prevalens
from prevalens.analyses import subgroups as S
from prevalens.analyses.family import Claim, adjust
from prevalens.io import predictions_from_arrays
from prevalens.strata import StrataSpec, assign_strata

K, LEVELS, SIZES, REFERENCE = sims.K, sims.LEVELS, sims.SIZES, sims.REFERENCE
B = 400
DROP = 0.15  # the disparity design's lower recall of level A, in every class
#: the strata of the analysis (``AuditConfig.strata_cuts`` on prevalence): rare {4}, uncommon {3},
#: common {0, 1, 2} in both designs, far from the cuts (the module's docstring says why not the
#: default 1% and 10%); the strata enter no other checked average
STRATA_CUTS = (0.07, 0.15)
#: the averages within a level checked for coverage (subgroup_averages.STRATA_AVERAGES)
WITHIN_METRICS = ("recall", "f1")


def disparity_design():
    recall = np.tile(sims.NULL_RECALL, (len(LEVELS), 1))
    recall[0] -= DROP
    return sims._design([0.04, 0.06, 0.03, 0.05], recall)


DESIGNS = {"disparity": disparity_design, "null": sims.null_design}

#: the quantities checked for coverage: (name, metric, kind, level, against)
CHECKS = (
    ("A macro.recall", "recall", "level", 0, None),
    ("A macro.f1", "f1", "level", 0, None),
    ("D macro.f1", "f1", "level", 3, None),
    ("A - rest macro.f1", "f1", "difference", 0, "rest"),
    ("A / rest macro.f1", "f1", "ratio", 0, "rest"),
    ("C - rest macro.f1", "f1", "difference", 2, "rest"),
    ("A - D macro.f1", "f1", "difference", 0, "reference"),
    ("A / D macro.f1", "f1", "ratio", 0, "reference"),
    ("A macro.precision", "precision", "level", 0, None),
    ("A - rest macro.precision", "precision", "difference", 0, "rest"),
    ("A macro.fpr", "fpr", "level", 0, None),
    ("A - rest macro.fpr", "fpr", "difference", 0, "rest"),
)


def expected_matrices(prev, q) -> np.ndarray:
    """(L, K, K) expected confusion matrix of each level."""
    return SIZES[:, None, None] * prev[:, :, None] * q


def macro_of(cm) -> dict:
    """The macro recall, F1, precision and false-positive rate of a (K, K) confusion matrix
    (expected counts)."""
    tp = np.diagonal(cm)
    true, predicted = cm.sum(1), cm.sum(0)
    n = cm.sum()
    return {
        "recall": float(np.mean(tp / true)),
        "f1": float(np.mean(2 * tp / (true + predicted))),
        "precision": float(np.mean(tp / predicted)),
        "fpr": float(np.mean((predicted - tp) / (n - true))),
    }


def true_values(prev, q) -> dict:
    """Every checked quantity from the design (exact)."""
    cms = expected_matrices(prev, q)

    def side(level, against):
        if against is None:
            return macro_of(cms[level])
        if against == "rest":
            return macro_of(cms.sum(0) - cms[level])
        return macro_of(cms[REFERENCE])

    out = {}
    for name, metric, kind, level, against in CHECKS:
        a = side(level, None)[metric]
        if kind == "level":
            out[name] = a
            continue
        b = side(level, against)[metric]
        out[name] = a - b if kind == "difference" else a / b
    return out


def clustered_design(prev, q):
    """The expected-value design of ``subgroup_sims.clustered_dataset`` on ``(prev, q)``: each
    recall replaced by its average over the patients' effects (the wrong rows keep their
    spread)."""
    recall = np.array([[sims.clustered_truth(q[g, i, i]) for i in range(K)] for g in range(len(q))])
    rare = prev[:, sims.RARE]
    prev2, q2 = sims._design(rare, recall)
    assert np.allclose(prev2, prev)
    return prev2, q2


def config(**options):
    options.setdefault("n_resamples", B)
    options.setdefault("subgroup_min_cell", 1)
    options.setdefault("strata_cuts", STRATA_CUTS)
    return prevalens.AuditConfig(**options)


def observed_strata(y, cfg):
    """The audit's strata of true classes ``y``: by their supports over all rows."""
    return assign_strata(np.bincount(y, minlength=K), StrataSpec.from_config(cfg))


def design_strata(prev, cfg=None):
    """The design's strata: :func:`observed_strata`'s rule on the expected supports over all
    rows (``sum_g n_g prevalence_g``)."""
    cfg = config() if cfg is None else cfg
    return assign_strata(SIZES @ prev, StrataSpec.from_config(cfg))


def same_strata(a, b) -> bool:
    """Whether two assignments put every class in the same named stratum, with the same rarest
    and most common strata."""
    return (
        np.array_equal(a.index, b.index)
        and [d.name for d in a.definitions] == [d.name for d in b.definitions]
        and (a.rarest, a.most_common) == (b.rarest, b.most_common)
    )


def within_true_values(prev, q, strata) -> dict:
    """Each level's gap, strata and extremes averages (named ``"<level> <key>"``, the keys of
    the level's ``averages``) from the design's expected matrices (exact) and ``strata`` (the
    design's): gap = macro - accuracy (trace / sum), a stratum's macro the mean over its classes
    (a stratum without classes has none), extremes = the rarest stratum's minus the most common
    one's (when both have classes and differ)."""
    out = {}
    names = [d.name for d in strata.definitions]
    for level, cm in zip(LEVELS, expected_matrices(prev, q)):
        tp = np.diagonal(cm)
        true, predicted = cm.sum(1), cm.sum(0)
        per_class = {"recall": tp / true, "f1": 2 * tp / (true + predicted)}
        accuracy = tp.sum() / cm.sum()
        for metric in WITHIN_METRICS:
            v = per_class[metric]
            out[f"{level} gap.{metric}"] = float(v.mean() - accuracy)
            by = {name: float(v[mask].mean()) for name, mask in zip(names, strata.masks)}
            for name, value in by.items():
                out[f"{level} stratum.{name}.{metric}"] = value
            r, c = strata.rarest, strata.most_common
            if r is not None and c is not None and r != c:
                out[f"{level} extremes.{metric}"] = by[names[r]] - by[names[c]]
    return out


def within_names(design: str = "disparity") -> list:
    """The names of the within-level checks of ``design`` (its strata's)."""
    prev, q = DESIGNS[design]()
    return list(within_true_values(prev, q, design_strata(prev)))


def analyse(p, cfg, claims=None):
    """The subgroup analysis of ``p`` as the audit runs it (its strata), without the per-class
    claims' p-values; appends its claims to ``claims``."""
    strata = observed_strata(p.y_true, cfg)
    with warnings.catch_warnings(), sims.without_pvalues():
        warnings.simplefilter("ignore")
        sub = S.analyse_subgroups(p, cfg, [] if claims is None else claims, strata)
    return sub


def estimates(g) -> dict:
    """Every checked quantity's Estimate from an analysed grouping (None where missing)."""
    disp = {(d.level, d.against, d.metric): d for d in g.disparities if d.label is None}
    out = {}
    for name, metric, kind, level, against in CHECKS:
        key = f"macro.{metric}"
        if kind == "level":
            out[name] = g.levels[level].averages.get(key)
            continue
        other = "rest" if against == "rest" else LEVELS[REFERENCE]
        d = disp.get((LEVELS[level], other, key))
        out[name] = None if d is None else (d.difference if kind == "difference" else d.ratio)
    return out


def within_estimates(g, names) -> dict:
    """The Estimate of each within-level check ``"<level> <key>"`` of ``names`` from an analysed
    grouping (None where missing)."""
    out = {}
    for name in names:
        level, key = name.split(" ", 1)
        out[name] = g.levels[LEVELS.index(level)].averages.get(key)
    return out


def _tally(found: dict, truth: dict, hits: dict, errors: dict) -> float:
    """Count each estimate's coverage into ``hits`` and its error into ``errors`` (a defined
    estimate's); return the dataset's share of covered checks (its pooled coverage)."""
    share = 0.0
    for name, e in found.items():
        hit = covered(e, truth[name])
        hits[name] += hit
        share += hit / len(truth)
        if e is not None and math.isfinite(e.estimate):
            errors[name].append(e.estimate - truth[name])
    return share


def covered(e, truth) -> bool:
    """Whether ``e``'s interval holds ``truth`` (a missing or undefined interval is a miss)."""
    return bool(
        e is not None
        and e.status == "ok"
        and math.isfinite(e.ci_low)
        and math.isfinite(e.ci_high)
        and e.ci_low <= truth <= e.ci_high
    )


def macro_significance(sub, claims, extra: int) -> set:
    """The levels with a significant macro claim against the rest when the claims are adjusted
    as one Holm family together with ``extra`` claims of p = 1 (read from the disparities'
    ``adjusted``, as in an audit's result)."""
    family = list(claims) + [
        Claim(key=("placebo", i), estimate=0.0, se=1.0, eligible=True) for i in range(extra)
    ]
    adjust(family, 0.05, "holm", 0.95)
    by_key = {c.key: c for c in family}
    g = S.subgroups_adjusted(sub, by_key, "holm").groupings[0]
    return {
        d.level
        for d in g.disparities
        if d.label is None
        and d.against == "rest"
        and d.metric.startswith("macro.")
        and d.adjusted is not None
        and d.adjusted.significant
    }


def audit_family_size(p, seed=0) -> int:
    """The size of the audit's Holm family on ``p`` (B = 400)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        r = prevalens.audit_predictions(p, n_resamples=B, seed=seed)
    return int(r.family.size)


def simulate(design: str, n_datasets: int, *, seed: int, clustered: bool = False) -> dict:
    """Coverage of every check over ``n_datasets`` datasets of ``design`` (clustered: patients
    of 4 rows, the analysis given them as the cluster column), the mean error of each estimate
    (and its Monte-Carlo sd), and the share of datasets whose macro claims against the rest are
    significant for any level and for A, bracketed as :func:`macro_significance` says (the
    audit's family size measured on the first dataset).

    The within-level checks (:func:`within_true_values`) are read from the same analyses and
    counted over the datasets whose strata are the design's only (``strata matched`` of them;
    their coverage, pooled coverage, bias, missing (no estimate, or an undefined one) and ``no
    interval`` (an estimate without an interval: a miss) shares are over those); ``strata differ``
    is the share of the others, ``default strata differ`` the share with the audit's default
    cuts (1%, 10%) on the same datasets."""
    prev, q = DESIGNS[design]()
    expected = clustered_design(prev, q) if clustered else (prev, q)
    truth = true_values(*expected)
    design_st = design_strata(prev)
    default_cfg = config(strata_cuts=None)
    default_st = design_strata(prev, default_cfg)
    within = within_true_values(*expected, design_st)
    rng = np.random.default_rng(seed)
    hits = dict.fromkeys(truth, 0)
    pooled = []  # each dataset's share of checks covered
    errors: dict = {name: [] for name in truth}
    w_hits = dict.fromkeys(within, 0)
    w_pooled = []  # each matched dataset's share of within-level checks covered
    w_errors: dict = {name: [] for name in within}
    w_no_interval = dict.fromkeys(within, 0)  # an estimate without an interval (a miss)
    differ = default_differ = 0
    alarms = {"any": [0, 0], "A": [0, 0]}  # [at most (macro claims alone), at least]
    small_cells = 0
    extra = None
    for i in range(n_datasets):
        if clustered:
            y, pred, site, patient = sims.clustered_dataset(rng, prev, q)
            p = sims.predictions(y, pred, site, patient)
            cfg = config(n_resamples=0)  # the jackknife needs no replicates
        else:
            y, pred, site = sims.dataset(rng, prev, q)
            p = sims.predictions(y, pred, site)
            cfg = config(seed=seed + i)
        if extra is None:
            extra = audit_family_size(p) - 2 * len(LEVELS)
        claims: list = []
        sub = analyse(p, cfg, claims)
        g = sub.groupings[0]
        pooled.append(_tally(estimates(g), truth, hits, errors))
        default_differ += not same_strata(observed_strata(y, default_cfg), default_st)
        if same_strata(observed_strata(y, cfg), design_st):
            found = within_estimates(g, within)
            w_pooled.append(_tally(found, within, w_hits, w_errors))
            for name, e in found.items():
                w_no_interval[name] += e is not None and e.status == "no_interval"
        else:
            differ += 1
        small_cells += bool(_small_cells(y, pred, site))
        for j, n_extra in enumerate((0, extra)):
            said = macro_significance(sub, claims, n_extra)
            alarms["any"][j] += bool(said)
            alarms["A"][j] += "A" in said
    out = _summary(hits, pooled, errors, n_datasets, "")
    for who, (most, least) in alarms.items():
        out[f"significant {who} at most"] = most / n_datasets
        out[f"significant {who} at least"] = least / n_datasets
    out["family size"] = extra + 2 * len(LEVELS)
    out["datasets with a cell below 10"] = small_cells / n_datasets
    matched = n_datasets - differ
    out["strata matched"] = matched
    out["strata differ"] = differ / n_datasets
    out["default strata differ"] = default_differ / n_datasets
    out.update(_summary(w_hits, w_pooled, w_errors, matched, " within"))
    out.update({f"no interval {name}": w_no_interval[name] / matched for name in w_errors})
    return out


def _summary(hits: dict, pooled: list, errors: dict, n: int, pooled_suffix: str) -> dict:
    """Coverage per check over ``n`` datasets, the pooled coverage (``coverage pooled`` +
    ``pooled_suffix``) with its sd, and each check's bias, its sd and share missing."""
    out = {f"coverage {name}": h / n for name, h in hits.items()}
    out[f"coverage pooled{pooled_suffix}"] = float(np.mean(pooled))
    out[f"coverage pooled{pooled_suffix} sd"] = float(np.std(pooled, ddof=1) / math.sqrt(n))
    for name, err in errors.items():
        err = np.asarray(err)
        out[f"bias {name}"] = float(err.mean())
        out[f"bias sd {name}"] = float(err.std(ddof=1) / math.sqrt(err.size))
        out[f"missing {name}"] = 1 - err.size / n
    return out


def _small_cells(y, pred, site) -> int:
    """The number of (level, class) cells with fewer than 10 true or predicted samples."""
    codes = np.searchsorted(np.asarray(LEVELS), site)
    true = np.bincount(codes * K + y, minlength=len(LEVELS) * K)
    predicted = np.bincount(codes * K + pred, minlength=len(LEVELS) * K)
    return int(((true < 10) | (predicted < 10)).sum())


# ------------------------------------------------------------------------------------------------
# ROC AUC: scores from a simple design

#: the scores' separation: column j of a row of class j is MU[level] + N(0, 1), every other
#: column N(0, 1); A's classes are separated less
MU = np.array([1.0, 1.5, 1.5, 1.5])

#: the ROC AUC checks: (name, kind, against); the level is A
AUC_CHECKS = (
    ("A macro.roc_auc", "level", None),
    ("A - rest macro.roc_auc", "difference", "rest"),
    ("A / rest macro.roc_auc", "ratio", "rest"),
    ("A - D macro.roc_auc", "difference", "reference"),
)


def scores_dataset(rng, prev=None):
    """(y, scores, site): the classes drawn from the null design's prevalences, the scores as
    MU says (mapped by the logistic function); the prediction is the scores' argmax."""
    if prev is None:
        prev, _ = sims.null_design()
    site = np.repeat(np.arange(len(LEVELS)), SIZES)
    u = rng.random(site.size)
    y = np.minimum((u[:, None] > np.cumsum(prev, axis=1)[site]).sum(axis=1), K - 1)
    scores = rng.standard_normal((site.size, K))
    scores[np.arange(site.size), y] += MU[site]
    # scores must be >= 0: the logistic of each, which keeps every column's ranks
    return y, special.expit(scores), np.asarray(LEVELS)[site]


def auc_true_values(prev=None) -> dict:
    """Exact: a class's one-vs-rest AUC in a level is P(MU + e > e') = Phi(MU / sqrt 2) (a
    negative's column is N(0, 1) whatever its class); in the rest it is the mixture over the
    other levels weighted by their expected positives, ``sum_g n_g pi_gj Phi(MU_g / sqrt 2) /
    sum_g n_g pi_gj``; the macro is the mean over the classes."""
    if prev is None:
        prev, _ = sims.null_design()
    auc = special.ndtr(MU / math.sqrt(2))[:, None] * np.ones(K)
    support = SIZES[:, None] * prev
    rest_w = support[1:] / support[1:].sum(0)
    a, rest, ref = auc[0].mean(), (rest_w * auc[1:]).sum(0).mean(), auc[REFERENCE].mean()
    return {
        "A macro.roc_auc": float(a),
        "A - rest macro.roc_auc": float(a - rest),
        "A / rest macro.roc_auc": float(a / rest),
        "A - D macro.roc_auc": float(a - ref),
    }


def auc_estimates(g) -> dict:
    disp = {(d.level, d.against, d.metric): d for d in g.disparities if d.label is None}
    out = {}
    for name, kind, against in AUC_CHECKS:
        if kind == "level":
            out[name] = g.levels[0].averages.get("macro.roc_auc")
            continue
        other = "rest" if against == "rest" else LEVELS[REFERENCE]
        d = disp.get(("A", other, "macro.roc_auc"))
        out[name] = None if d is None else (d.difference if kind == "difference" else d.ratio)
    return out


def auc_coverage(n_datasets: int, *, seed: int) -> dict:
    """Coverage of every AUC_CHECKS interval (DeLong-logit; MOVER for the difference and the
    ratio) over ``n_datasets`` datasets of :func:`scores_dataset` (no replicates: ROC AUC's
    intervals need none)."""
    truth = auc_true_values()
    rng = np.random.default_rng(seed)
    hits = dict.fromkeys(truth, 0)
    pooled = []
    errors: dict = {name: [] for name in truth}
    cfg = config(n_resamples=0)
    for _ in range(n_datasets):
        y, scores, site = scores_dataset(rng)
        p = predictions_from_arrays(y, y_score=scores, labels=list(range(K)), groups={"site": site})
        pooled.append(_tally(auc_estimates(analyse(p, cfg).groupings[0]), truth, hits, errors))
    out = {f"coverage {name}": h / n_datasets for name, h in hits.items()}
    out["coverage pooled"] = float(np.mean(pooled))
    out["coverage pooled sd"] = float(np.std(pooled, ddof=1) / math.sqrt(n_datasets))
    for name, err in errors.items():
        out[f"bias {name}"] = float(np.mean(err))
        out[f"bias sd {name}"] = float(np.std(err, ddof=1) / math.sqrt(len(err)))
    return out


#: the runs of test_coverage_subgroup_averages.py: (design, datasets, seed, clustered)
RUNS = {
    "disparity": ("disparity", 400, 20261220, False),
    "null": ("null", 300, 20261221, False),
    "clustered": ("disparity", 250, 20261222, True),
    "roc_auc": ("null", 150, 20261223, False),
}


def run(name: str) -> dict:
    design, n, seed, clustered = RUNS[name]
    if name == "roc_auc":
        return auc_coverage(n, seed=seed)
    return simulate(design, n, seed=seed, clustered=clustered)


def mc_sd(name: str, value: float, n: int | None = None) -> float:
    """The Monte-Carlo sd of a share ``value`` measured under RUNS[name] (over ``n`` of its
    datasets: the within-level checks count the ``strata matched`` ones)."""
    return math.sqrt(value * (1 - value) / (RUNS[name][1] if n is None else n))


if __name__ == "__main__":
    import time

    for design, make in DESIGNS.items():
        print(design, {k: round(v, 4) for k, v in true_values(*make()).items()})
        st = design_strata(make()[0])
        print(
            f"{design} within", {k: round(v, 4) for k, v in within_true_values(*make(), st).items()}
        )
    print(
        "clustered",
        {k: round(v, 4) for k, v in true_values(*clustered_design(*disparity_design())).items()},
    )
    st = design_strata(disparity_design()[0])
    within = within_true_values(*clustered_design(*disparity_design()), st)
    print("clustered within", {k: round(v, 4) for k, v in within.items()})
    print("roc_auc", {k: round(v, 4) for k, v in auc_true_values().items()})
    for label in sys.argv[1:] or list(RUNS):
        t = time.time()
        measured = run(label)
        print(f"{label} ({time.time() - t:.0f} s)")
        n_within = measured.get("strata matched")
        within_keys = set(within_names())
        for key, c in measured.items():
            n = n_within if key.split(" ", 1)[-1] in within_keys else None
            sd = (
                f"  (MC sd {mc_sd(label, c, n):.3f})"
                if key.startswith(("coverage", "signif"))
                else ""
            )
            print(f"  {key:40s} {c:.4f}{sd}")
