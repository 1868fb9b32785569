"""Calibration of the probabilities (prevalens.analyses.calibration): reference values from
statsmodels' logistic fits and from direct computations written out here; behaviour of the
intervals, claims and findings. Coverage is simulated in tests/test_coverage_calibration.py."""

from __future__ import annotations

import math

import numpy as np
import pytest
from calibration_sims import Model
from scipy import special

import prevalens
from prevalens.analyses.calibration import _bins, logistic_recalibration

sm = pytest.importorskip("statsmodels.api")

EPS = np.finfo(np.float64).eps


def _logit(p):
    p = np.clip(p, EPS, 1 - EPS)
    return np.log(p) - np.log1p(-p)


@pytest.fixture(scope="module")
def miscalibrated():
    m = Model([0.03, 0.07, 0.2, 0.3, 0.4], mu=2.0, temperature=1.5, bias=[0.4, 0, 0, 0, 0])
    y, s, _ = m.draw(3000, np.random.default_rng(11))
    return y, s


@pytest.fixture(scope="module")
def audited(miscalibrated):
    y, s = miscalibrated
    return prevalens.audit(y, y_score=s, seed=5, n_resamples=400)


def test_fits_equal_statsmodels(miscalibrated):
    y, s = miscalibrated
    for j in range(s.shape[1]):
        yy = (y == j).astype(float)
        x = _logit(s[:, j])
        fit = logistic_recalibration(s[:, j], y == j)
        ref_a = sm.GLM(yy, np.ones((yy.size, 1)), family=sm.families.Binomial(), offset=x).fit()
        ref_b = sm.GLM(
            yy, np.column_stack([np.ones_like(x), x]), family=sm.families.Binomial()
        ).fit()
        assert fit.intercept == pytest.approx(ref_a.params[0], abs=1e-8)
        assert fit.slope_intercept == pytest.approx(ref_b.params[0], abs=1e-8)
        assert fit.slope == pytest.approx(ref_b.params[1], abs=1e-8)


def test_standard_errors_are_statsmodels_sandwich(miscalibrated, audited):
    """The reported standard errors are the robust (HC0 x n/(n-1)) sandwich of statsmodels."""
    y, s = miscalibrated
    n = y.size
    for j, c in enumerate(audited.calibration.per_class):
        yy = (y == j).astype(float)
        x = _logit(s[:, j])
        ref_a = sm.GLM(yy, np.ones((n, 1)), family=sm.families.Binomial(), offset=x).fit(
            cov_type="HC0"
        )
        ref_b = sm.GLM(
            yy, np.column_stack([np.ones_like(x), x]), family=sm.families.Binomial()
        ).fit(cov_type="HC0")
        scale = math.sqrt(n / (n - 1))
        assert c.intercept.se == pytest.approx(ref_a.bse[0] * scale, rel=1e-6)
        assert c.slope.se == pytest.approx(ref_b.bse[1] * scale, rel=1e-6)


def test_cluster_robust_standard_errors_are_statsmodels():
    m = Model([0.1, 0.3, 0.6], temperature=1.3)
    y, s, _ = m.draw(1200, np.random.default_rng(3))
    cluster = np.repeat(np.arange(300), 4)
    r = prevalens.audit(y, y_score=s, cluster=cluster, seed=1, n_resamples=200)
    g = 300
    for j, c in enumerate(r.calibration.per_class):
        yy = (y == j).astype(float)
        x = _logit(s[:, j])
        ref = sm.GLM(yy, np.column_stack([np.ones_like(x), x]), family=sm.families.Binomial()).fit(
            cov_type="cluster", cov_kwds={"groups": cluster, "use_correction": False}
        )
        assert c.slope.se == pytest.approx(ref.bse[1] * math.sqrt(g / (g - 1)), rel=1e-6)
        assert "cluster-robust" in c.slope.method


def test_score_interval_limits_solve_the_score_equation(miscalibrated):
    """The intercept's limits: the robust score statistic is +z (lower) or -z (upper) there. The
    slope's: the profile deviance is z^2 there."""
    y, s = miscalibrated
    z = special.ndtri(0.975)
    fit = logistic_recalibration(s[:, 2], y == 2)
    lo, hi = fit.intercept_interval(z)
    assert fit.intercept_stat(lo) == pytest.approx(z, abs=1e-6)
    assert fit.intercept_stat(hi) == pytest.approx(-z, abs=1e-6)
    assert abs(fit.intercept_stat(fit.intercept)) < 1e-6
    # the slope's limits: the profile deviance equals z^2 there (likelihood-ratio inversion),
    # checked against statsmodels' fit with the slope fixed (the intercept refitted)
    lo, hi = fit.slope_interval(z)
    yy = (y == 2).astype(float)
    x = _logit(s[:, 2])
    full = sm.GLM(yy, np.column_stack([np.ones_like(x), x]), family=sm.families.Binomial()).fit()
    for b in (lo, hi):
        fixed = sm.GLM(yy, np.ones((x.size, 1)), family=sm.families.Binomial(), offset=b * x).fit()
        assert 2 * (full.llf - fixed.llf) == pytest.approx(z * z, abs=1e-6)
    # a test at the null agrees with the interval: p < 0.05 exactly when 1 is outside
    assert (fit.slope_p() < 0.05) == (not lo <= 1 <= hi)


def test_few_events_give_an_interval_open_on_one_side():
    rng = np.random.default_rng(0)
    p = rng.uniform(0.01, 0.05, 400)
    y = np.zeros(400, bool)
    y[:2] = True
    fit = logistic_recalibration(p, y)
    lo, hi = fit.intercept_interval(special.ndtri(0.975))
    assert lo == -math.inf and math.isfinite(hi)


def _direct(p, y, n_bins):
    """ECE (debiased D), Brier parts and bins, written out row by row from the bin rule: bin b
    holds the rows with cuts[b-1] <= p < cuts[b], cuts the distinct order statistics at
    floor(j n / n_bins)."""
    n = p.size
    srt = sorted(p)
    cuts = sorted({srt[min((j * n) // n_bins, n - 1)] for j in range(1, n_bins)})
    rows = {}
    for pi, yi in zip(p, y):
        b = sum(1 for c in cuts if c <= pi)
        rows.setdefault(b, []).append((pi, float(yi)))
    d = rel = res = wbv = wbc = 0.0
    ybar = float(np.mean(y))
    bins = []
    for b in sorted(rows):
        ps = np.array([r[0] for r in rows[b]])
        ys = np.array([r[1] for r in rows[b]])
        nb = ps.size
        yb, pb = ys.mean(), ps.mean()
        dd = ys - ps
        d += nb / n * (dd.mean() ** 2 - (dd.var(ddof=1) / nb if nb > 1 else 0.0))
        rel += nb / n * (pb - yb) ** 2
        res += nb / n * (yb - ybar) ** 2
        wbv += ((ps - pb) ** 2).sum() / n
        wbc += 2 * ((ys - yb) * (ps - pb)).sum() / n
        bins.append((ps.min(), ps.max(), nb, pb, yb))
    return (
        d,
        {
            "reliability": rel,
            "resolution": res,
            "uncertainty": ybar * (1 - ybar),
            "within_bin": wbv - wbc,
        },
        bins,
    )


def test_ece_brier_and_bins_equal_a_direct_computation(miscalibrated, audited):
    y, s = miscalibrated
    cal = audited.calibration
    d_all = []
    for j, c in enumerate(cal.per_class):
        d, brier, bins = _direct(s[:, j], y == j, cal.n_bins)
        d_all.append(d)
        assert c.ece.estimate == pytest.approx(math.sqrt(max(d, 0)), abs=1e-12)
        for key in brier:
            assert c.brier[key] == pytest.approx(brier[key], abs=1e-12)
        # the parts sum to the class's own Brier score
        own = float(np.mean((s[:, j] - (y == j)) ** 2))
        parts = c.brier
        assert parts["reliability"] - parts["resolution"] + parts["uncertainty"] + parts[
            "within_bin"
        ] == pytest.approx(own, abs=1e-12)
        got = np.array([(b.low, b.high, b.n, b.mean_score, b.observed) for b in c.bins])
        np.testing.assert_allclose(got, np.array(bins, dtype=float), rtol=0, atol=1e-12)
        # pointwise bands: Wilson, as statsmodels computes it
        from statsmodels.stats.proportion import proportion_confint

        for b in c.bins:
            lo, hi = proportion_confint(round(b.observed * b.n), b.n, method="wilson")
            assert (b.ci_low, b.ci_high) == pytest.approx((lo, hi), abs=1e-10)
    assert cal.classwise_ece.estimate == pytest.approx(math.sqrt(max(np.mean(d_all), 0)), abs=1e-12)
    # summed over classes, the decomposition is the audit's multi-class Brier score
    b = cal.brier
    total = b["reliability"] - b["resolution"] + b["uncertainty"] + b["within_bin"]
    assert total == pytest.approx(audited.overall["brier"].estimate, abs=1e-12)
    # the top label: the predicted class's probability against correctness
    yp = s.argmax(axis=1)
    d, _, _ = _direct(s[np.arange(y.size), yp], yp == y, cal.n_bins)
    assert cal.top_label_ece.estimate == pytest.approx(math.sqrt(max(d, 0)), abs=1e-12)


def test_bins_keep_ties_together_and_ignore_row_order():
    rng = np.random.default_rng(4)
    p = np.round(rng.uniform(0, 1, 500), 1)  # heavy ties
    y = rng.uniform(size=500) < p
    b1 = _bins(p, y, 10)
    perm = rng.permutation(500)
    b2 = _bins(p[perm], y[perm], 10)
    assert np.array_equal(b1.count, b2.count) and np.allclose(b1.psum, b2.psum)
    for v in np.unique(p):
        assert np.unique(b1.index[p == v]).size == 1


def test_row_order_does_not_change_the_calibration(miscalibrated, audited):
    y, s = miscalibrated
    perm = np.random.default_rng(9).permutation(y.size)
    r = prevalens.audit(y[perm], y_score=s[perm], seed=5, n_resamples=400)
    a, b = audited.calibration, r.calibration
    for ca, cb in zip(a.per_class, b.per_class):
        assert ca.intercept.estimate == pytest.approx(cb.intercept.estimate, abs=1e-10)
        assert ca.slope.ci_low == pytest.approx(cb.slope.ci_low, abs=1e-8)
        assert ca.ece.estimate == pytest.approx(cb.ece.estimate, abs=1e-12)
        assert ca.brier == pytest.approx(cb.brier, abs=1e-12)


def test_cell_bootstrap_matches_the_row_bootstrap():
    """The replicates drawn per bin (its size kept, its class samples binomial, the cells'
    probability sums normal) have the spread of the row bootstrap stratified by bin."""
    from prevalens.analyses.calibration import _cell_replicates, _debiased

    m = Model([0.05, 0.25, 0.7], temperature=1.5)
    y, s, _ = m.draw(2000, np.random.default_rng(2))
    j = 0
    p, yy = s[:, j], y == j
    bins = _bins(p, yy, 10)
    cells = _cell_replicates(bins, 2000, np.random.default_rng(1))
    rng = np.random.default_rng(2)
    rows = np.empty(2000)
    members = [np.flatnonzero(bins.index == b) for b in range(bins.n_bins)]
    for r in range(2000):
        idx = np.concatenate([rng.choice(m, m.size) for m in members])
        c = np.zeros((bins.n_bins, 2))
        ps = np.zeros((bins.n_bins, 2))
        pq = np.zeros((bins.n_bins, 2))
        cell = (bins.index[idx], yy[idx].astype(int))
        np.add.at(c, cell, 1)
        np.add.at(ps, cell, p[idx])
        np.add.at(pq, cell, p[idx] ** 2)
        rows[r] = _debiased(c, ps, pq, idx.size)
    assert np.std(cells) == pytest.approx(np.std(rows), rel=0.12)
    assert np.mean(cells) == pytest.approx(np.mean(rows), abs=0.15 * np.std(rows))


def test_miscalibration_is_found_and_said(audited):
    kinds = [f for f in audited.findings if f.kind == "calibration"]
    texts = " ".join(f.text for f in kinds)
    assert "over-confident" in texts
    slope_claims = [c for c in audited.calibration.per_class if c.slope.ci_high < 1]
    assert slope_claims, "temperature 1.5 should give slopes clearly below 1"


def test_calibrated_model_gives_no_calibration_finding():
    m = Model([0.03, 0.07, 0.2, 0.3, 0.4], mu=2.0)
    y, s, _ = m.draw(3000, np.random.default_rng(21))
    r = prevalens.audit(y, y_score=s, seed=2, n_resamples=300)
    assert not [f for f in r.findings if f.kind == "calibration"]


def test_small_classes_make_no_claim():
    m = Model([0.004, 0.3, 0.696], temperature=2.0)
    y, s, _ = m.draw(1500, np.random.default_rng(5))
    r = prevalens.audit(y, y_score=s, seed=2, n_resamples=300)
    small = r.calibration.per_class[0]
    assert small.support < 10 and small.slope.status == "insufficient"
    for f in r.findings:
        if f.kind == "calibration":
            assert 0 not in f.classes and "0" not in f.classes


def test_no_probabilities_no_calibration():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 3, 300)
    with pytest.warns(prevalens.ProbabilityWarning):
        r = prevalens.audit(y, y_score=rng.uniform(size=(300, 3)), seed=1, n_resamples=200)
    assert r.calibration is None
    r = prevalens.audit(y, rng.integers(0, 3, 300), seed=1, n_resamples=200)
    assert r.calibration is None


def test_json_round_trip(audited, tmp_path):
    d = audited.to_dict()
    assert "calibration" in d
    back = prevalens.results.AuditResult.from_dict(d)
    assert back.calibration == audited.calibration


@pytest.mark.parametrize(
    "opts, message",
    [
        ({"calibration_bins": 1}, "calibration_bins"),
        ({"calibration_tolerance": 1.0}, "calibration_tolerance"),
    ],
)
def test_bad_options_are_refused(opts, message):
    with pytest.raises(prevalens.ConfigError, match=message):
        prevalens.audit([0, 1], [0, 1], **opts)


def test_ece_intervals_of_small_classes_are_marked_unstable():
    """Classes between min_support and 20 samples: the ECE interval is marked unstable (simulated
    coverage 0.92-0.93 at ~10 samples); from 20 samples, and the aggregates, ok."""
    m = Model([0.03, 0.07, 0.2, 0.3, 0.4], mu=2.0, temperature=1.5)
    y, s, _ = m.draw(500, np.random.default_rng(3))
    support = np.bincount(y, minlength=5)
    assert 10 <= support[0] < 20 <= support[1], support
    cal = prevalens.audit(y, y_score=s, seed=5, n_resamples=200).calibration
    for c in cal.per_class:
        if c.support < 20:
            assert c.ece.status == "unstable" and "20 samples" in c.ece.note, c.ece
        else:
            assert c.ece.status == "ok", c.ece
    # the aggregates' covariance-widened intervals covered 0.96-0.97 even with a class of ~10
    # among five; an average mostly over such classes is marked as they are
    assert cal.classwise_ece.status == "ok"
    for st in cal.strata:
        members = [c for c in cal.per_class if c.stratum == st.stratum and c.support > 0]
        mostly_small = sum(c.support < 20 for c in members) >= len(members) / 2
        assert st.ece.status == ("unstable" if mostly_small else "ok"), (st.stratum, st.ece)


# ------------------------------------------------------------------------------------------------
# at the deployment's prevalence


def test_prior_shift_correction_is_bayes_rule_for_two_classes():
    from prevalens.analyses.calibration import adjust_to_prevalence

    p = np.array([[0.9, 0.1], [0.3, 0.7], [0.5, 0.5]])
    prev, target = np.array([0.8, 0.2]), np.array([0.5, 0.5])
    out = adjust_to_prevalence(p, prev, target)
    odds = p[:, 1] / p[:, 0] * (0.5 / 0.2) / (0.5 / 0.8)
    assert np.allclose(out[:, 1], odds / (1 + odds), atol=1e-15)
    assert np.allclose(out.sum(axis=1), 1)
    assert np.allclose(adjust_to_prevalence(p, prev, prev), p, atol=1e-15)


def test_calibration_at_target_equals_the_fit_on_data_resampled_to_the_target():
    """Importance weights of 3, 1, 1 by class equal an audit of the data with class 0's rows
    three times over (the fit is invariant to scaling the weights): checked against statsmodels
    on the replicated rows."""
    m = Model([0.1, 0.2, 0.7], temperature=1.3)
    y, s, _ = m.draw(1000, np.random.default_rng(8))
    support = np.bincount(y, minlength=3)
    target = support * np.array([3, 1, 1]) / (support * np.array([3, 1, 1])).sum()
    r = prevalens.audit(
        y,
        y_score=s,
        seed=1,
        n_resamples=200,
        deployment_prevalence={j: float(t) for j, t in enumerate(target)},
    )
    rep = np.concatenate([np.arange(y.size), np.flatnonzero(y == 0), np.flatnonzero(y == 0)])
    yr, sr = y[rep], s[rep]
    from prevalens.analyses.calibration import adjust_to_prevalence

    adj = adjust_to_prevalence(sr, support / y.size, target)
    for j, c in enumerate(r.prevalence_shift.calibration):
        yy = (yr == j).astype(float)
        raw = sm.GLM(
            yy, np.ones((yy.size, 1)), family=sm.families.Binomial(), offset=_logit(sr[:, j])
        ).fit()
        a = sm.GLM(
            yy, np.ones((yy.size, 1)), family=sm.families.Binomial(), offset=_logit(adj[:, j])
        ).fit()
        b = sm.GLM(
            yy,
            np.column_stack([np.ones(yy.size), _logit(adj[:, j])]),
            family=sm.families.Binomial(),
        ).fit()
        assert c.raw_intercept.estimate == pytest.approx(raw.params[0], abs=1e-8)
        assert c.intercept.estimate == pytest.approx(a.params[0], abs=1e-8)
        assert c.slope.estimate == pytest.approx(b.params[1], abs=1e-8)
        assert c.target_prevalence == pytest.approx(target[j], abs=1e-15)
        assert c.adjusted_mean == pytest.approx(adj[:, j].mean(), abs=1e-12)


def test_calibration_at_target_round_trips_and_is_absent_without_probabilities():
    m = Model([0.1, 0.2, 0.7])
    y, s, _ = m.draw(600, np.random.default_rng(8))
    r = prevalens.audit(y, y_score=s, seed=1, n_resamples=200, deployment_prevalence="uniform")
    back = prevalens.results.AuditResult.from_dict(r.to_dict())
    assert back.prevalence_shift == r.prevalence_shift and r.prevalence_shift.calibration
    r = prevalens.audit(
        y, s.argmax(axis=1), seed=1, n_resamples=200, deployment_prevalence="uniform"
    )
    assert (
        r.prevalence_shift.calibration == ()
        and "calibration" not in r.to_dict()["prevalence_shift"]
    )


def test_finding_evidence_is_the_result(audited):
    """Each class a calibration finding names carries its estimate as the result has it, its
    Holm-adjusted interval on the parameter's scale (around the estimate, excluding the null
    value) and rests on a class with at least min_support samples."""
    per_class = {c.label: c for c in audited.calibration.per_class}
    found = [f for f in audited.findings if f.kind == "calibration" and "classes" in f.evidence]
    assert found
    for f in found:
        for ev in f.evidence["classes"]:
            c = per_class[ev["label"]]
            what = ev["parameter"]
            assert ev["estimate"] == getattr(c, what).estimate
            assert ev["ci_low"] <= ev["estimate"] <= ev["ci_high"]
            null = 0.0 if what == "intercept" else 1.0
            assert not ev["ci_low"] <= null <= ev["ci_high"]
            assert c.support >= 10
            # the adjusted interval is wider than the marginal one
            e = getattr(c, what)
            assert ev["ci_low"] <= e.ci_low + 1e-9 and ev["ci_high"] >= e.ci_high - 1e-9


def test_clustered_slope_limits_scale_the_deviance_by_the_design_effect():
    m = Model([0.1, 0.3, 0.6], temperature=1.3)
    y, s, _ = m.draw(1200, np.random.default_rng(3), cluster_size=4, rho=0.6)
    cluster = np.repeat(np.arange(300), 4)
    fit = logistic_recalibration(s[:, 0], y == 0, cluster)
    z = special.ndtri(0.975)
    q = special.stdtrit(fit.df, 0.975)
    assert fit.deff_slope > 1  # correlated rows: the robust variance exceeds the model's
    lo, hi = fit.slope_interval(z)
    for b in (lo, hi):
        assert fit._deviance(b) / fit.deff_slope == pytest.approx(q * q, abs=1e-6)
    assert (fit.slope_p() < 0.05) == (not lo <= 1 <= hi)


def test_hard_scores_get_no_intercept_or_slope_with_the_reason():
    rng = np.random.default_rng(1)
    y = rng.integers(0, 3, 400)
    pred = np.where(rng.random(400) < 0.8, y, (y + 1) % 3)
    s = np.eye(3)[pred]
    with pytest.warns(prevalens.InputWarning, match="one-hot"):
        r = prevalens.audit(y, y_score=s, seed=1, n_resamples=200)
    for c in r.calibration.per_class:
        assert np.isnan(c.intercept.estimate) and c.intercept.status == "undefined"
        assert "distinct value" in c.intercept.note
        assert np.isfinite(c.ece.estimate)  # the ECE and the bins are still there


def test_calibration_can_be_left_out(miscalibrated):
    y, s = miscalibrated
    r = prevalens.audit(y, y_score=s, seed=5, n_resamples=200, calibration=False)
    assert r.calibration is None and not [f for f in r.findings if f.kind == "calibration"]
    assert r.run.config["calibration"] is False


def test_scores_that_do_not_follow_the_class_are_said_so_not_over_confident():
    """Score columns rotated by one class: the slopes are near 0, which is no signal, not
    over-confidence."""
    m = Model([0.1, 0.2, 0.3, 0.4], mu=2.5)
    y, s, _ = m.draw(2000, np.random.default_rng(4))
    rotated = np.roll(s, 1, axis=1)
    with pytest.warns(prevalens.InputWarning):
        r = prevalens.audit(y, y_score=rotated, seed=2, n_resamples=200)
    ids = {f.id: f for f in r.findings if f.kind == "calibration"}
    assert (
        "calibration-no-signal" in ids
        and "do not follow the class" in ids["calibration-no-signal"].text
    )
    for ev in ids["calibration-no-signal"].evidence["classes"]:
        assert ev["ci_low"] <= 0


def test_a_stratum_mean_resting_on_a_near_separated_class_is_not_claimed():
    from prevalens.analyses.calibration import STABLE_SLOPE

    # probabilities far too cautious: most classes' slopes are beyond the stable range
    m = Model([0.1, 0.2, 0.3, 0.4], mu=4.0, temperature=0.05)
    y, s, _ = m.draw(2000, np.random.default_rng(6))
    r = prevalens.audit(y, y_score=s, seed=2, n_resamples=200)
    for st in r.calibration.strata:
        slopes = [c.slope for c in r.calibration.per_class if c.stratum == st.stratum]
        if any(c.estimate > STABLE_SLOPE for c in slopes):
            assert st.slope.status == "unstable" and "not claimed" in st.slope.note
            assert not [
                f
                for f in r.findings
                if f.id == f"calibration-stratum-{st.stratum}" and "slope" in f.evidence
            ]


@pytest.mark.parametrize("quasi", [False, True])
def test_separated_class_has_no_slope(quasi):
    """A class whose probabilities put every one of its samples above every other sample's
    (completely, or with a tie at the threshold) has no finite maximum-likelihood slope: it is
    undefined, told from the order of the logits, not from where Newton's iterations stop on the
    flat likelihood (that had given 61.69 on one machine and 'undefined' on another for the
    example's class "six": five samples, logits -1.51 to 0.11, every other sample's below
    -2.55). A class with one overlapping sample gets its finite slope."""
    from prevalens.analyses.calibration import _Fit

    rng = np.random.default_rng(7)
    neg = rng.uniform(-8.4, -2.55, 325)
    pos = np.array([-1.51, -1.39, -1.23, -1.16, 0.11])
    if quasi:
        pos[0] = neg.max()  # a tie at the threshold: quasi-complete separation
    x = np.concatenate([neg, pos])
    y = np.r_[np.zeros(325, bool), np.ones(5, bool)]
    fit = _Fit(x, y)
    assert fit.separated
    assert all(math.isnan(v) for v in fit.fit_both())
    overlap = x.copy()
    overlap[0] = 0.5  # one other sample above the class's lowest logit
    a, b = _Fit(overlap, y).fit_both()
    assert math.isfinite(a) and math.isfinite(b) and 0 < b < 100
