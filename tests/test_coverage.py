"""Coverage of prevalens' default 95% intervals, by simulation (slow; run by `make test-slow`).

Scenario (tests/coverage_sim.py): K = 8 classes, geometric prevalence, recall falling with
prevalence (0.92 for the most common class down to 0.55 for the rarest), score separability
falling with prevalence too; the rarest class has about 12 or about 40 true samples. The
stratified scheme is tested on datasets with fixed class counts, the simple scheme on datasets
with multinomial class counts. Each configuration simulates 2,000 datasets (B = 1,000 replicates
each) and checks every interval's coverage of the population value to lie in [0.93, 0.97].

False-failure rate: for an interval whose true coverage is exactly 0.95, the observed coverage of
2,000 datasets falls outside [0.93, 0.97] with probability 5e-5 (exact binomial), so the 48 checks
fail by chance in about 0.2% of fresh seeds. The seeds are fixed, so the test is deterministic.

One band is wider: the rarest class's ROC AUC (about 12 positives, AUC 0.82) is checked in
[0.93, 0.99]. Its HM-S score interval (docs/design.md, Intervals) is conservative by construction
when the positives' error mass m(1 - AUC) is small (here ~2): it then leans on Hanley & McNeil's
model ratio, which must be wide enough for heavy-tailed scores it cannot tell apart from these
(in these very datasets, computed without the rest of the audit: 0.975 stratified and 0.980
simple with ~12 positives, 0.961 and 0.968 with ~40; DeLong's logit-t interval, which covered
0.93-0.94 here, covers 0.48-0.80 for 15 positives at AUC 0.995: tests/test_coverage_scores.py).
At a true coverage of 0.98 the chance of leaving [0.93, 0.99] is 2e-4.

One check is exact instead of simulated. Under the stratified scheme the rarest class's recall is
exactly Binomial(12, 0.55), so the coverage of its Wilson interval is a finite sum, 0.922: a dip of
the well-known oscillation of every non-randomised binomial interval with n (Brown, Cai &
DasGupta 2001). Averaged over p in [0.45, 0.65] Wilson covers 0.95; Clopper-Pearson covers 0.984
at this p (0.98 on average: too wide), Jeffreys 0.922, mid-p 0.956. The test checks that the
pipeline reproduces the exact 0.922 within Monte-Carlo error, and that the local average of the
exact coverage lies in the band, rather than tuning the default to one (n, p).
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from coverage_sim import K, _intervals_only, draw_scores, model, simulate
from scipy import stats

import prevalens as pv
from prevalens.intervals import wilson_interval

pytestmark = pytest.mark.slow

N_DATASETS = 2000
LOW, HIGH = 0.93, 0.97
#: Upper ends of the targets whose method is conservative by construction (module docstring).
BANDS = {"rarest ROC AUC": 0.99}


@pytest.mark.parametrize("scheme", ["stratified", "simple"])
@pytest.mark.parametrize("rare", [12, 40])
def test_default_intervals_cover_at_nominal_rate(scheme, rare, capsys):
    hits = simulate(scheme, rare, N_DATASETS, seed=20261125 + rare + (scheme == "simple"))
    coverage = {label: a / b for label, (a, b) in hits.items()}
    with capsys.disabled():
        print(f"\n{scheme} rare={rare}: " + ", ".join(f"{k} {v:.3f}" for k, v in coverage.items()))
    for label, (_, b) in hits.items():
        # every dataset must give an interval (none of these metrics is undefined here)
        assert b == N_DATASETS, f"{label}: only {b} of {N_DATASETS} datasets gave an interval"
    if scheme == "stratified":
        # exact: the rarest class's recall is Binomial(n, p) with n fixed
        counts, _, c = model(rare)
        n, p = int(counts[-1]), float(c[-1, -1])
        exact = exact_coverage(n, p)
        simulated = coverage.pop("rarest recall")
        se = np.sqrt(exact * (1 - exact) / N_DATASETS)
        assert abs(simulated - exact) < 4 * se, (simulated, exact)
        local = np.mean([exact_coverage(n, q) for q in np.linspace(p - 0.1, p + 0.1, 81)])
        assert LOW <= local <= HIGH, f"Wilson's local average coverage at n={n}: {local:.3f}"
    outside = {k: round(v, 3) for k, v in coverage.items() if not LOW <= v <= BANDS.get(k, HIGH)}
    assert not outside, f"coverage outside [{LOW}, {HIGH}] ({scheme}, rare={rare}): {outside}"


def exact_coverage(n: int, p: float, confidence_level: float = 0.95) -> float:
    """Exact coverage of the Wilson interval for Binomial(n, p)."""
    k = np.arange(n + 1)
    lo, hi = wilson_interval(k, np.full(n + 1, n), confidence_level)
    return float(stats.binom.pmf(k, n, p)[(lo <= p) & (p <= hi)].sum())


def test_false_failure_rate_stated_in_the_docstring_is_right():
    p_out = stats.binom.cdf(int(LOW * N_DATASETS) - 1, N_DATASETS, 0.95) + stats.binom.sf(
        int(HIGH * N_DATASETS), N_DATASETS, 0.95
    )
    assert 1e-5 < p_out < 1e-4
    n_checks = 4 * 12
    assert 1 - (1 - p_out) ** n_checks < 0.005
    assert abs(exact_coverage(12, 0.55) - 0.922) < 0.001
    p_wide = stats.binom.cdf(int(LOW * N_DATASETS) - 1, N_DATASETS, 0.98) + stats.binom.sf(
        int(BANDS["rarest ROC AUC"] * N_DATASETS), N_DATASETS, 0.98
    )
    assert p_wide < 3e-4


@pytest.mark.parametrize("scheme", ["stratified", "simple"])
def test_the_harness_leaves_the_intervals_unchanged(scheme):
    """The simulation audits without curves and analyses (coverage_sim._intervals_only): every
    estimate it reads, and every other per-class, average and overall one, is the same as the
    whole audit's."""
    counts, _, c = model(12)
    rng = np.random.default_rng(3)
    for i in range(3):
        y = np.repeat(np.arange(K), counts)
        y_pred = np.concatenate([rng.choice(K, size=n, p=c[j]) for j, n in enumerate(counts)])
        pred = pv.predictions_from_arrays(
            y, y_pred, y_score=draw_scores(y, rng), labels=list(range(K))
        )
        config = pv.AuditConfig(n_resamples=200, resampling=scheme, seed=i, calibration=False)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            whole = pv.audit_predictions(pred, config)
            with _intervals_only():
                part = pv.audit_predictions(pred, config)
        assert whole.divergence and not part.divergence  # the analyses were left out
        assert whole.averages == part.averages and whole.overall == part.overall
        for a, b in zip(whole.per_class, part.per_class):
            assert a.metrics == b.metrics
