"""Coverage of the score-metric intervals near the boundary, by simulation (slow; `make test-slow`).

The situations the default intervals must survive, each simulated with fixed seeds:

* **ROC AUC near 1 with few positives** (15 positives, 1,000 negatives, population AUC 0.995):
  the HM-S score interval (:func:`prevalens.intervals.auc_score_interval`) from the product's
  ranking pass, under a light-tailed (binormal), a heavier-tailed (positives with twice the
  negatives' spread) and a mixture score model (a share 1 - AUC of the positives scored like
  negatives: hard or mislabelled cases). DeLong's logit-t interval, which it replaced, is
  checked to under-cover in the same datasets.
* **Average precision near 1** with many positives (1,000 positives among 50,000, population AP
  0.999) and a small class (20 positives among 2,000, AP 0.9): the logit-t interval from the
  exact jackknife (:func:`prevalens.ranking.average_precision_influence`).
* **Micro and macro AP through** ``prevalens.audit`` **end to end** (7 classes of 3 to 1,572
  samples, N = 2,007, micro AP ~0.99), each dataset audited as a user would.

The target of every interval is the population value at the sample's class prevalence (class
supports fixed, the default stratified design): the AUC of the score model, and AP as
``1 - int (1-pi) S0 / (pi S1 + (1-pi) S0) dF1`` by quadrature (exact to ~1e-10).

Bands and false-failure rates. A check passes when the coverage lies in [0.93, 0.97] (the
project's band for 95% intervals), except where a method is conservative by construction, which
the check's docstring explains with its band. With R datasets the observed coverage has Monte-Carlo
sd sqrt(p (1 - p) / R); each check's R and band were chosen so that a method whose true coverage
is the one simulated in the study behind the choice fails by chance with probability at most
0.2% (stated per check, about 0.3% for the file; the seeds are fixed, so the file is
deterministic). Run time: about 100 s of CPU on one core.
"""

from __future__ import annotations

import warnings
from dataclasses import replace

import numpy as np
import pytest
from scipy import integrate, optimize, special, stats

import prevalens as pv
from prevalens import ranking as R
from prevalens import uncertainty as U
from prevalens.intervals import logit_interval, logit_t_interval

pytestmark = pytest.mark.slow

LOW, HIGH = 0.93, 0.97


def false_failure(p: float, n: int, low: float, high: float) -> float:
    """P(observed coverage outside [low, high]) for true coverage p over n datasets (binomial)."""
    return float(
        stats.binom.cdf(np.ceil(low * n) - 1, n, p) + stats.binom.sf(np.floor(high * n), n, p)
    )


# ------------------------------------------------------------------------------------------------
# ROC AUC near 1 with few positives


def draw_positives(model: str, auc: float, m: int, rng) -> np.ndarray:
    """m positive scores whose population AUC against N(0, 1) negatives is exactly ``auc``."""
    if model == "binormal":  # N(d, 1): P(S1 > S0) = Phi(d / sqrt 2)
        return rng.normal(np.sqrt(2) * special.ndtri(auc), 1.0, m)
    if model == "heavier":  # N(mu, 2^2): P(S1 > S0) = Phi(mu / sqrt 5)
        return rng.normal(np.sqrt(5) * special.ndtri(auc), 2.0, m)
    if model == "mixture":  # a share 1 - auc scored like negatives: (1-e) Phi(mu/sqrt2) + e/2
        eps = 1 - auc
        mu = np.sqrt(2) * special.ndtri((auc - eps / 2) / (1 - eps))
        hard = rng.random(m) < eps
        return np.where(hard, rng.normal(0.0, 1.0, m), rng.normal(mu, 1.0, m))
    raise ValueError(model)


def auc_coverage(model: str, n_datasets: int, seed: int, auc=0.995, m=15, n=1000):
    """Coverage of the product's per-class ROC AUC interval (HM-S) and of DeLong's logit-t
    interval it replaced, over ``n_datasets`` datasets of m positives and n negatives."""
    rng = np.random.default_rng(seed)
    y = np.r_[np.ones(m, np.int64), np.zeros(n, np.int64)]
    hits = {"hm-s": 0, "delong-logit-t": 0}
    for _ in range(n_datasets):
        s = np.r_[draw_positives(model, auc, m, rng), rng.normal(0.0, 1.0, n)]
        summary = R.ovr_pass(y, np.column_stack([-s, s]))  # class 1 = the positives
        lo, hi = U.auc_score_intervals(summary, alpha=0.05)
        hits["hm-s"] += int(lo[1] <= auc <= hi[1])
        l2, h2 = logit_interval(summary.auc[1], summary.delong_var[1], alpha=0.05, df=m - 1)
        # (at AUC = 1 the logit interval does not exist: a miss, as the study counted it)
        hits["delong-logit-t"] += int(l2 <= auc <= h2)
    return {k: v / n_datasets for k, v in hits.items()}


AUC_DATASETS = 4000


@pytest.mark.parametrize(
    "model, low, high, p_study",
    [
        ("heavier", LOW, HIGH, 0.950),
        ("mixture", LOW, HIGH, 0.950),
        ("binormal", LOW, 0.999, 0.994),
    ],
)
def test_auc_near_one_with_few_positives(model, low, high, p_study, capsys):
    """15 positives, AUC 0.995: HM-S covers; DeLong's logit-t (the issue saw 0.84) does not.

    With light tails (binormal) the band is [0.93, 0.999]: HM-S is conservative by construction
    there. With m(1 - AUC) < 1 most samples hold no badly ranked positive and look alike under
    the light- and the heavy-tailed models, yet the interval must reach down to 0.995 for the
    heavy-tailed ones (which it covers at ~0.95), so it over-covers the light-tailed one (~0.99);
    no method can avoid it (docs/design.md, Intervals). Datasets: 4,000 per model (Monte-Carlo sd
    0.0034 at 0.95); false failure at most 3e-4 per check at the study's coverage (0.943-0.959
    for the heavier models, 0.994 binormal).
    """
    cov = auc_coverage(model, AUC_DATASETS, seed={"heavier": 1, "mixture": 2, "binormal": 3}[model])
    with capsys.disabled():
        print(f"\nAUC 0.995, 15 positives, {model}: {cov}")
    assert low <= cov["hm-s"] <= high, cov
    assert cov["delong-logit-t"] < 0.90, cov  # what it replaced
    assert false_failure(p_study, AUC_DATASETS, low, high) < 3e-4


# ------------------------------------------------------------------------------------------------
# average precision near 1


def ap_population_deficit(mu: float, pi: float) -> float:
    """1 - AP of positives N(mu, 1) among negatives N(0, 1) at prevalence pi (quadrature)."""

    def f(s):
        s0, s1 = special.ndtr(-s), special.ndtr(mu - s)
        return stats.norm.pdf(s, mu) * (1 - pi) * s0 / (pi * s1 + (1 - pi) * s0)

    val, _ = integrate.quad(
        f, mu - 12, mu + 12, points=[mu - 3, mu, mu + 3], limit=400, epsabs=1e-16, epsrel=1e-10
    )
    return float(val)


def ap_coverage(m: int, n: int, ap: float, n_datasets: int, seed: int) -> tuple[float, float]:
    """Coverage of the per-class AP interval (logit, exact jackknife SE, t(df - 1)); AP = 1 gives
    no interval and counts as a miss. Returns (coverage, share of datasets with AP = 1)."""
    pi = m / (m + n)
    mu = optimize.brentq(lambda x: np.log(ap_population_deficit(x, pi)) - np.log(1 - ap), 0.01, 30)
    truth = 1 - ap_population_deficit(mu, pi)
    rng = np.random.default_rng(seed)
    positive = np.r_[np.ones(m, bool), np.zeros(n, bool)]
    hits = at_one = 0
    for _ in range(n_datasets):
        s = np.r_[rng.normal(mu, 1.0, m), rng.normal(0.0, 1.0, n)]
        r = R.average_precision_influence(s, positive)
        at_one += int(r.average_precision >= 1)
        lo, hi = logit_t_interval(
            r.average_precision, r.se_jackknife, alpha=0.05, df=max(r.df - 1, 1)
        )
        hits += int(lo <= truth <= hi)
    return hits / n_datasets, at_one / n_datasets


def test_ap_near_one_with_many_positives(capsys):
    """1,000 positives among 50,000 negatives, population AP 0.999: a handful of negatives ranked
    among the positives decide AP (effective df ~3.5), so the t quantile with df - 1 degrees of
    freedom matters (the normal quantile covered 0.88, the percentile bootstrap 0.86 in the
    study). 1,500 datasets (Monte-Carlo sd 0.0056); false failure 0.2% at the study's 0.956."""
    n_datasets = 1500
    cov, at_one = ap_coverage(1000, 50_000, 0.999, n_datasets, seed=11)
    with capsys.disabled():
        print(f"\nAP 0.999, 1,000 positives: coverage {cov:.3f}, AP = 1 in {at_one:.3f}")
    assert LOW <= cov <= HIGH
    assert false_failure(0.956, n_datasets, LOW, HIGH) < 0.005


def test_ap_of_a_small_class(capsys):
    """20 positives among 2,000 negatives, AP 0.9. Band [0.93, 0.997]: the interval is
    conservative by construction here (the study: 0.991; this run 0.981), because the t quantile
    uses the effective number of observations carrying the variance (~4), a lower bound on the
    information when the variance is spread over a few observations of unequal weight. 3,000
    datasets; false failure 2e-5 at the study's 0.991."""
    n_datasets = 3000
    cov, at_one = ap_coverage(20, 2000, 0.9, n_datasets, seed=12)
    with capsys.disabled():
        print(f"\nAP 0.9, 20 positives: coverage {cov:.3f}, AP = 1 in {at_one:.3f}")
    assert LOW <= cov <= 0.997
    assert false_failure(0.991, n_datasets, LOW, 0.997) < 1e-4


# ------------------------------------------------------------------------------------------------
# micro and macro AP through prevalens.audit


def micro_ap_population(mus, pis) -> float:
    """Micro AP of the pooled problem: one positive entry per sample (its class's column,
    N(mu_k, 1)), K - 1 negative entries N(0, 1)."""
    k = len(mus)
    pik = 1.0 / k

    def f(s):
        f1 = sum(w * stats.norm.pdf(s, mu) for w, mu in zip(pis, mus))
        s1 = sum(w * special.ndtr(mu - s) for w, mu in zip(pis, mus))
        s0 = special.ndtr(-s)
        return f1 * (1 - pik) * s0 / (pik * s1 + (1 - pik) * s0)

    val, _ = integrate.quad(
        f, min(mus) - 12, max(mus) + 12, points=sorted(set(mus)), limit=800, epsabs=1e-17
    )
    return 1 - float(val)


def test_micro_and_macro_ap_end_to_end(monkeypatch, capsys):
    """The audit as a user runs it, 700 datasets of 7 classes (supports 1,572, 307, 113, 6, 3, 3,
    3; scores exp(N(mu_k, 1)) in the true class's column, exp(N(0, 1)) elsewhere). Micro AP
    (~0.99) must cover in [0.92, 0.98] (700 datasets: Monte-Carlo sd 0.0074; false failure 0.1%
    at the study's coverage 0.960). Macro AP in [0.92, 0.99]: it is conservative here (0.970 in
    this run) because four of its seven classes hold 3-6 samples, whose few influence values
    make the effective degrees of freedom small and the t quantile large (false failure 1e-4 at
    0.970). Every per-class AP interval must be the ranking functions' (the pipeline adds
    nothing). Curve bands are stubbed: they do not enter these intervals and would triple the
    run time.
    """
    monkeypatch.setattr(
        R, "curve_bands", lambda *a, **k: {"method": None, "level": 0.95, "note": "not computed"}
    )
    counts = np.array([1572, 3, 6, 307, 113, 3, 3])  # the study's Shuttle-like shape, N = 2,007
    mus = np.array([4.0, 3.0, 3.0, 3.8, 3.5, 3.0, 3.0])
    k = counts.size
    pis = counts / counts.sum()
    truth_micro = micro_ap_population(mus, pis)
    truth_per_class = np.array([1 - ap_population_deficit(mu, p) for mu, p in zip(mus, pis)])
    truth_macro = float(truth_per_class.mean())
    y = np.repeat(np.arange(k), counts)
    # calibration is not what this checks (tests/test_coverage_calibration.py does)
    config = pv.AuditConfig(n_resamples=100, score_bootstrap_max_work=0, seed=0, calibration=False)
    rng = np.random.default_rng(13)
    n_datasets = 700
    hits = {"micro": 0, "macro": 0}
    statuses: dict[str, int] = {}
    for i in range(n_datasets):
        s = rng.normal(size=(y.size, k))
        s[np.arange(y.size), y] += mus[y]
        pred = pv.predictions_from_arrays(y, y_score=np.exp(s), labels=list(range(k)))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            r = pv.audit_predictions(pred, replace(config, seed=i))
        for avg, truth in (("micro", truth_micro), ("macro", truth_macro)):
            e = r.averages[avg]["average_precision"]
            hits[avg] += int(e.ci_low <= truth <= e.ci_high)
            statuses[f"{avg}:{e.status}"] = statuses.get(f"{avg}:{e.status}", 0) + 1
        if i < 50:  # the pipeline: each class's interval is the ranking functions'
            for j, c in enumerate(r.per_class):
                e = c.metrics["average_precision"]
                ref = R.average_precision_influence(s[:, j], y == j)
                if ref.average_precision >= 1:
                    assert e.status == "boundary" and np.isnan(e.ci_low)
                    continue
                lo, hi = logit_t_interval(
                    ref.average_precision, ref.se_jackknife, alpha=0.05, df=max(ref.df - 1, 1)
                )
                assert (e.ci_low, e.ci_high) == pytest.approx((float(lo), float(hi)), abs=1e-14)
    cov = {key: v / n_datasets for key, v in hits.items()}
    with capsys.disabled():
        print(f"\nmicro/macro AP end to end: {cov}, statuses {statuses}")
    assert 0.92 <= cov["micro"] <= 0.98, cov
    assert 0.92 <= cov["macro"] <= 0.99, cov


def test_false_failure_rates_stated_in_the_docstrings_are_right():
    assert false_failure(0.95, AUC_DATASETS, LOW, HIGH) < 1e-7
    assert false_failure(0.943, AUC_DATASETS, LOW, HIGH) < 3e-4
    assert false_failure(0.994, AUC_DATASETS, LOW, 0.999) < 1e-6
    assert false_failure(0.956, 1500, LOW, HIGH) == pytest.approx(0.002, abs=0.001)
    assert false_failure(0.991, 3000, LOW, 0.997) < 1e-4
    assert false_failure(0.960, 700, 0.92, 0.98) < 0.002
    assert false_failure(0.970, 700, 0.92, 0.99) < 2e-4
