"""Coverage, false alarms and power of the subgroup analysis (prevalens.analyses.subgroups), shared
by tests/test_coverage_subgroups.py (slow) and runnable alone:
``python tests/subgroup_sims.py [null|alternative|clustered ...]``.

Design: K = 5 classes in one grouping ``site`` of 4 levels of fixed, unequal sizes (A 500, B 700,
C 1000, D 1300 rows; 3,500 rows). In each level, the true class is drawn from the level's
prevalences and the prediction from the level's row of confusion probabilities (recall on the
diagonal, the errors spread over the other classes in proportion to their prevalence).

* Null design: every level has the same prevalences (0.40, 0.25, 0.20, 0.11, 0.04) and the same
  confusion probabilities (recalls 0.90, 0.85, 0.80, 0.80, 0.85): no recall, false-positive
  rate, precision or accuracy differs between the levels. The rare class has about 20 true
  samples in A (0.04 x 500).
* Alternative design: the rare class (4) is 4%, 6%, 3%, 5% of A, B, C, D (20, 42, 30, 65 true
  samples; the other classes in the null's proportions) and its recall 0.60, 0.80, 0.85, 0.90;
  class 3's recall is 0.55 in A and 0.80 elsewhere (about 55 true samples in A).

True values are exact, from the design: a level's recall is its diagonal entry; "the rest" of a
level is a mixture of the other levels, whose recall of class j is the ratio of expected counts
``sum_g n_g pi_gj r_gj / sum_g n_g pi_gj`` over the other levels g (the estimand of the rest's
pooled recall); the reference is the largest level (D); the largest gap is
``max_g r_g - min_g r_g``.

Speed: the analysis computes the p-values of its 64 claims (a level against the rest) by
bisecting their MOVER intervals (64 steps for each level and metric, with Wilson's limits for the
shown p and Clopper-Pearson's for the claim's), which is most of its time and enters none of the
intervals checked for coverage. Coverage runs therefore replace those p-values with NaN
(:func:`without_pvalues`; test_coverage_subgroups.py checks that the intervals are the same with
and without it), and only the runs that count findings pay for them.

Findings: each dataset's claims are adjusted as one Holm family (``prevalens.analyses.family.
adjust``) and turned into findings by ``subgroup_findings``, as the audit does, but the family
holds the subgroup claims only (64) where an audit's also holds its other claims (80 in all on
this design): the audit's false-alarm rate is at most, and its power a little below, the rates
measured here.

Clustered design (:func:`clustered_dataset`): the rows are patients' (4 rows each, all of the
patient's class: one diagnosis, four images), patients nested in the levels; each patient's
recall shifted on the logit scale by a normal effect (sd 1.5), so a patient's rows are right or
wrong together. The true recall of a level's class is ``E[expit(logit r + u)]`` (Gauss-Hermite
quadrature; equal cluster sizes make it the row average too).
"""

from __future__ import annotations

import contextlib
import math
import sys
import warnings

import numpy as np
from scipy import special

import prevalens
from prevalens.analyses import subgroups as S
from prevalens.analyses.family import adjust
from prevalens.io import predictions_from_arrays

K = 5
RARE = 4
LEVELS = ("A", "B", "C", "D")
SIZES = np.array([500, 700, 1000, 1300])
REFERENCE = 3  # the largest level (D), the analysis's default reference
NULL_PREVALENCE = np.array([0.40, 0.25, 0.20, 0.11, 0.04])
NULL_RECALL = np.array([0.90, 0.85, 0.80, 0.80, 0.85])


def _design(rare_prevalence, recall):
    """(L, K) prevalences and (L, K, K) confusion probabilities from each level's rare-class
    prevalence and (L, K) recalls."""
    rare_prevalence = np.asarray(rare_prevalence, dtype=float)
    common = NULL_PREVALENCE[:RARE] / NULL_PREVALENCE[:RARE].sum()
    prev = np.column_stack([np.outer(1 - rare_prevalence, common), rare_prevalence])
    q = np.zeros((len(LEVELS), K, K))
    for g in range(len(LEVELS)):
        for i in range(K):
            others = [j for j in range(K) if j != i]
            w = prev[g, others] / prev[g, others].sum()
            q[g, i, i] = recall[g, i]
            q[g, i, others] = (1 - recall[g, i]) * w
    return prev, q


def null_design():
    return _design(np.full(len(LEVELS), 0.04), np.tile(NULL_RECALL, (len(LEVELS), 1)))


def alternative_design():
    recall = np.tile(NULL_RECALL, (len(LEVELS), 1))
    recall[:, RARE] = [0.60, 0.80, 0.85, 0.90]
    recall[0, 3] = 0.55
    return _design([0.04, 0.06, 0.03, 0.05], recall)


DESIGNS = {"null": null_design, "alternative": alternative_design}

#: the quantities checked for coverage: (name, kind, level, against); the class is the rare one
CHECKS = (
    ("A recall", "recall", 0, None),
    ("C recall", "recall", 2, None),
    ("A - rest", "difference", 0, "rest"),
    ("A / rest", "ratio", 0, "rest"),
    ("C - rest", "difference", 2, "rest"),
    ("C / rest", "ratio", 2, "rest"),
    ("A - D", "difference", 0, "reference"),
    ("A / D", "ratio", 0, "reference"),
    ("largest gap", "gap", None, None),
)


def true_values(prev, q, j=RARE) -> dict:
    """Every checked quantity of class ``j`` from the design (exact)."""
    recall = q[:, j, j]
    support = SIZES * prev[:, j]  # expected true samples per level

    def rest(level):
        o = np.arange(len(LEVELS)) != level
        return float((support[o] * recall[o]).sum() / support[o].sum())

    out = {}
    for name, kind, level, against in CHECKS:
        if kind == "recall":
            out[name] = float(recall[level])
        elif kind == "gap":
            out[name] = float(recall.max() - recall.min())
        else:
            other = rest(level) if against == "rest" else float(recall[REFERENCE])
            d = recall[level] - other
            out[name] = float(d if kind == "difference" else recall[level] / other)
    return out


def dataset(rng, prev, q):
    """(y, pred, site): each level's rows drawn from its prevalences and confusion rows."""
    site = np.repeat(np.arange(len(LEVELS)), SIZES)
    u = rng.random(site.size)
    cum_prev = np.cumsum(prev, axis=1)[site]
    y = np.minimum((u[:, None] > cum_prev).sum(axis=1), K - 1)
    v = rng.random(site.size)
    cum_q = np.cumsum(q, axis=2)[site, y]
    pred = np.minimum((v[:, None] > cum_q).sum(axis=1), K - 1)
    return y, pred, np.asarray(LEVELS)[site]


def predictions(y, pred, site, cluster=None):
    return predictions_from_arrays(
        y, pred, labels=list(range(K)), groups={"site": site}, cluster=cluster
    )


@contextlib.contextmanager
def without_pvalues():
    """The analysis without its claims' p-values (NaN: the claims are then not tested); the
    intervals are unchanged."""
    saved = S.interval_pvalue
    S.interval_pvalue = lambda interval_at_z, estimate, bound=0.0: np.full(
        np.shape(estimate), math.nan
    )
    try:
        yield
    finally:
        S.interval_pvalue = saved


def analyse(p, claims=None, **options):
    """The subgroup analysis of ``p`` (the first grouping), as the audit runs it."""
    config = prevalens.AuditConfig(n_resamples=0, **options)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        sub = S.analyse_subgroups(p, config, [] if claims is None else claims)
    return sub.groupings[0], config


def intervals(g, j=RARE) -> dict:
    """Every checked quantity's (low, high) from an analysed grouping (NaN where missing)."""
    out = {}
    disp = {(d.level, d.against, d.metric, d.label): d for d in g.disparities}
    for name, kind, level, against in CHECKS:
        if kind == "recall":
            e = g.levels[level].cells[j].recall
        elif kind == "gap":
            gaps = [m for m in g.max_gaps if m.metric == "recall" and m.label == j]
            e = gaps[0].gap if gaps else None
        else:
            other = "rest" if against == "rest" else LEVELS[REFERENCE]
            d = disp.get((LEVELS[level], other, "recall", j))
            e = None if d is None else (d.difference if kind == "difference" else d.ratio)
        out[name] = (math.nan, math.nan) if e is None else (e.ci_low, e.ci_high)
    return out


def covered(lohi, truth) -> bool:
    lo, hi = lohi
    return bool(lo is not None and hi is not None and lo <= truth <= hi)  # NaN: a miss


def findings(p) -> tuple[list, set]:
    """The subgroup_disparity findings of ``p`` that name a level (not the one saying that no
    level differs), and the (level, metric, class) they name: its subgroup claims adjusted as one
    Holm family at the default settings (min_cell 10, min_support 10, min_effect 0.05). A level's
    finding prints its 8 largest differences; it names every claim of the level that is
    significant and material, which are read from the claims."""
    claims: list = []
    config = prevalens.AuditConfig(n_resamples=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        sub = S.analyse_subgroups(p, config, claims)
        adjust(
            claims,
            1 - config.confidence_level,
            config.divergence_adjustment,
            config.confidence_level,
        )
        by_key = {c.key: c for c in claims}
        sub = S.subgroups_adjusted(sub, by_key, config.divergence_adjustment)
        found = [
            f for f in S.subgroup_findings(sub, by_key, config) if f.evidence["level"] is not None
        ]
    levels = {f.evidence["level"] for f in found}
    named = {
        (c.key[2], c.key[3], c.key[4])
        for c in claims
        if c.key[2] in levels and c.significant and abs(c.estimate) >= config.min_effect
    }
    return found, named


def simulate(
    design: str, n_datasets: int, n_findings: int, *, seed: int, power_of=((0, RARE), (0, 3))
) -> dict:
    """Coverage of every check over ``n_datasets`` datasets of ``design`` (nothing suppressed:
    subgroup_min_cell 1), and over the first ``n_findings`` of them the share with any
    subgroup_disparity finding and the share whose findings name each (level, class) of
    ``power_of`` by its recall."""
    prev, q = DESIGNS[design]()
    truth = true_values(prev, q)
    rng = np.random.default_rng(seed)
    hits = dict.fromkeys(truth, 0)
    any_finding = 0
    named = {lj: 0 for lj in power_of}
    for i in range(n_datasets):
        p = predictions(*dataset(rng, prev, q))
        with without_pvalues():
            g, _ = analyse(p, subgroup_min_cell=1)
        for name, lohi in intervals(g).items():
            hits[name] += covered(lohi, truth[name])
        if i < n_findings:
            found, said = findings(p)
            any_finding += bool(found)
            for level, j in power_of:
                named[(level, j)] += (LEVELS[level], "recall", j) in said
    out = {f"coverage {name}": h / n_datasets for name, h in hits.items()}
    if n_findings:
        out["any finding"] = any_finding / n_findings
        for (level, j), h in named.items():
            out[f"names {LEVELS[level]} class {j} recall"] = h / n_findings
    return out


# ------------------------------------------------------------------------------------------------
# clustered: patients of 4 rows (one class each), nested in the levels, right or wrong together

ROWS_PER_PATIENT = 4
PATIENT_SD = 1.5


def clustered_dataset(rng, prev=None, q=None):
    """(y, pred, site, patient): each level's ``SIZES / 4`` patients with a class drawn from the
    level's prevalences and a normal effect (sd 1.5) on the logit of their rows' recall; a wrong
    row's class spread as in the unclustered design."""
    if prev is None:
        prev, q = null_design()
    m = ROWS_PER_PATIENT
    n_pat = SIZES // m
    site_p = np.repeat(np.arange(len(LEVELS)), n_pat)
    u = rng.random(site_p.size)
    y_p = np.minimum((u[:, None] > np.cumsum(prev, axis=1)[site_p]).sum(axis=1), K - 1)
    effect = rng.normal(0.0, PATIENT_SD, site_p.size)
    r = q[site_p, y_p, y_p]
    r_p = special.expit(special.logit(r) + effect)
    site, y, r_row = (np.repeat(a, m) for a in (site_p, y_p, r_p))
    patient = np.repeat(np.arange(site_p.size), m)
    right = rng.random(y.size) < r_row
    wrong_rows = q[site, y].copy()
    wrong_rows[np.arange(y.size), y] = 0.0
    wrong_rows /= wrong_rows.sum(axis=1, keepdims=True)
    v = rng.random(y.size)
    other = np.minimum((v[:, None] > np.cumsum(wrong_rows, axis=1)).sum(axis=1), K - 1)
    pred = np.where(right, y, other)
    return y, pred, np.asarray(LEVELS)[site], patient


def clustered_truth(r: float) -> float:
    """E[expit(logit r + u)], u ~ N(0, PATIENT_SD^2), by 80-point Gauss-Hermite quadrature."""
    x, w = np.polynomial.hermite_e.hermegauss(80)
    return float((w * special.expit(special.logit(r) + PATIENT_SD * x)).sum() / w.sum())


#: the clustered checks: (name, level); the class is the rare one
CLUSTERED_CHECKS = (("A recall", 0), ("C recall", 2), ("D recall", 3))
#: the clustered disparities of the rare class's recall, on the same analyses: (name, level,
#: against, "difference" or "ratio"); null design, so the truth is 0 (difference) or 1 (ratio):
#: every level's rows have the same expected recall
CLUSTERED_DISPARITIES = (
    ("A - rest recall", 0, "rest", "difference"),
    ("A / rest recall", 0, "rest", "ratio"),
    ("C - rest recall", 2, "rest", "difference"),
    ("A - D recall", 0, "D", "difference"),
    ("A - rest accuracy", 0, "rest", "difference"),
)


def clustered_coverage(n_datasets: int, *, seed: int) -> dict:
    """Coverage of each CLUSTERED_CHECKS recall with the cluster-robust interval (the patients as
    the cluster column) and with Wilson's interval ignoring the patients, on the same datasets
    (null design; nothing suppressed), and the share of datasets where the cluster-robust
    interval of A's recall is missing (its rare-class rows in fewer than two patients: a miss)."""
    prev, q = null_design()
    truth = {name: clustered_truth(q[level, RARE, RARE]) for name, level in CLUSTERED_CHECKS}
    rng = np.random.default_rng(seed)
    names = list(truth) + [c[0] for c in CLUSTERED_DISPARITIES]
    hits = {f"{how} {name}": 0 for how in ("cluster-robust", "Wilson") for name in names}
    missing = 0
    for _ in range(n_datasets):
        y, pred, site, patient = clustered_dataset(rng, prev, q)
        for how, cl in (("cluster-robust", patient), ("Wilson", None)):
            with without_pvalues():
                g, _ = analyse(predictions(y, pred, site, cl), subgroup_min_cell=1)
            for name, level in CLUSTERED_CHECKS:
                e = g.levels[level].cells[RARE].recall
                hits[f"{how} {name}"] += covered((e.ci_low, e.ci_high), truth[name])
                if how == "cluster-robust" and level == 0:
                    missing += not math.isfinite(e.ci_low)
            disp = {(d.level, d.against, d.metric, d.label): d for d in g.disparities}
            for name, level, against, kind in CLUSTERED_DISPARITIES:
                metric = "accuracy" if name.endswith("accuracy") else "recall"
                d = disp.get(
                    (LEVELS[level], against, metric, None if metric == "accuracy" else RARE)
                )
                e = None if d is None else getattr(d, kind)
                lohi = (math.nan, math.nan) if e is None else (e.ci_low, e.ci_high)
                hits[f"{how} {name}"] += covered(lohi, 0.0 if kind == "difference" else 1.0)
    out = {f"coverage {k}": h / n_datasets for k, h in hits.items()}
    out["no interval cluster-robust A recall"] = missing / n_datasets
    return out


#: the runs of test_coverage_subgroups.py: (name, function, arguments)
RUNS = {
    "null": (simulate, ("null", 1000, 300), {"seed": 20261210}),
    "alternative": (simulate, ("alternative", 1000, 200), {"seed": 20261211}),
    "clustered": (clustered_coverage, (600,), {"seed": 20261212}),
}


def run(name: str) -> dict:
    f, args, kwargs = RUNS[name]
    return f(*args, **kwargs)


def mc_sd(name: str, key: str, value: float) -> float:
    """The Monte-Carlo sd of ``value``, measured under RUNS[name] as ``key``."""
    args = RUNS[name][1]
    if name == "clustered":
        n = args[0]
    else:
        n = args[2] if (key == "any finding" or key.startswith("names")) else args[1]
    return math.sqrt(value * (1 - value) / n)


if __name__ == "__main__":
    import time

    for design in DESIGNS:
        print(design, {k: round(v, 4) for k, v in true_values(*DESIGNS[design]()).items()})
    for label in sys.argv[1:] or list(RUNS):
        t = time.time()
        measured = run(label)
        print(f"{label} ({time.time() - t:.0f} s)")
        for key, c in measured.items():
            print(f"  {key:40s} {c:.3f}  (MC sd {mc_sd(label, key, c):.3f})")
