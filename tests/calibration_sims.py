"""Data for the calibration simulations (tests/test_coverage_calibration.py) and tests.

A K-class problem whose true posterior is known: y ~ Categorical(prior); per class a signal
z_j ~ Normal(mu * [y = j], 1); the Bayes posterior is softmax(mu * z + log prior). The model's
probabilities are softmax(temperature * mu * z + log prior + bias): temperature 1 and bias 0 is
perfectly calibrated; temperature > 1 is over-confident (calibration slope < 1), a bias moves a
class's calibration-in-the-large.

Every estimand is computed from a large population drawn once, with the outcome replaced by the
true posterior (so it carries no outcome noise): the logistic recalibration's pseudo-true
intercept and slope, and the binned calibration error at a sample's own bins.
"""

from __future__ import annotations

import numpy as np
from scipy import special


def _softmax(x):
    x = x - x.max(axis=1, keepdims=True)
    e = np.exp(x)
    return e / e.sum(axis=1, keepdims=True)


class Model:
    def __init__(self, prior, mu=2.0, temperature=1.0, bias=None):
        self.prior = np.asarray(prior, dtype=np.float64)
        self.k = self.prior.size
        self.mu = mu
        self.temperature = temperature
        self.bias = np.zeros(self.k) if bias is None else np.asarray(bias, dtype=np.float64)

    def draw(self, n, rng, *, cluster_size=None, rho=0.0, prior=None):
        """(y_true, scores, posterior). With ``cluster_size``, consecutive rows form clusters
        whose signal noise is correlated (``rho``: the share of its variance they share);
        every row's distribution, so the posterior and every estimand, is unchanged."""
        prior = self.prior if prior is None else np.asarray(prior, dtype=np.float64)
        y = rng.choice(self.k, size=n, p=prior)
        z = rng.standard_normal((n, self.k))
        if cluster_size:
            shared = rng.standard_normal((-(-n // cluster_size), self.k))
            z = np.sqrt(1 - rho) * z + np.sqrt(rho) * np.repeat(shared, cluster_size, axis=0)[:n]
        z[np.arange(n), y] += self.mu
        logp = np.log(self.prior)
        post = _softmax(self.mu * z + np.log(prior))  # the posterior where the rows come from
        scores = _softmax(self.temperature * self.mu * z + logp + self.bias)
        return y, scores, post


def fit_pseudo_true(p, q, *, slope: bool):
    """The population logistic recalibration with fractional outcome q (the true posterior):
    intercept with offset logit(p), or (intercept, slope)."""
    eps = np.finfo(np.float64).eps
    x = special.logit(np.clip(p, eps, 1 - eps))
    a, b = 0.0, 1.0
    for _ in range(100):
        mu = special.expit(a + b * x)
        w = mu * (1 - mu)
        r = q - mu
        if not slope:
            step = r.sum() / w.sum()
            a += step
            if abs(step) < 1e-13:
                break
            continue
        g = np.array([r.sum(), (r * x).sum()])
        h = np.array([[w.sum(), (w * x).sum()], [(w * x).sum(), (w * x * x).sum()]])
        d = np.linalg.solve(h, g)
        a, b = a + d[0], b + d[1]
        if abs(d).sum() < 1e-12:
            break
    return (a, b) if slope else a


class Population:
    """The population of one model: per class, probabilities sorted, with cumulative sums of the
    probability and of the true posterior, for the binned calibration error at any bins."""

    def __init__(self, model: Model, n=2_000_000, seed=12345):
        rng = np.random.default_rng(seed)
        y, s, post = model.draw(n, rng)
        self.n = n
        self.k = model.k
        self.intercept = np.empty(self.k)
        self.slope = np.empty(self.k)
        self.sorted = []
        for j in range(self.k):
            p, q = s[:, j], post[:, j]
            self.intercept[j] = fit_pseudo_true(p, q, slope=False)
            self.slope[j] = fit_pseudo_true(p, q, slope=True)[1]
            o = np.argsort(p, kind="stable")
            ps = p[o]
            self.sorted.append(
                (ps, np.concatenate([[0], np.cumsum(ps)]), np.concatenate([[0], np.cumsum(q[o])]))
            )
        # top label: the argmax's probability against the posterior of that class
        top = s.argmax(axis=1)
        conf = s[np.arange(n), top]
        corr = post[np.arange(n), top]
        o = np.argsort(conf, kind="stable")
        self.top = (
            conf[o],
            np.concatenate([[0], np.cumsum(conf[o])]),
            np.concatenate([[0], np.cumsum(corr[o])]),
        )

    @staticmethod
    def _binned(sorted_, cuts):
        """Population D at a sample's bins, given by their inner edges (bin b holds
        cuts[b-1] <= p < cuts[b])."""
        ps, cp, cq = sorted_
        idx = np.concatenate([[0], np.searchsorted(ps, cuts, side="left"), [ps.size]])
        cnt = np.diff(idx).astype(np.float64)
        sp = np.diff(cp[idx])
        sq = np.diff(cq[idx])
        ok = cnt > 0
        return float(((sq[ok] - sp[ok]) ** 2 / cnt[ok]).sum() / ps.size)

    def ece_sq(self, j, cuts):
        return self._binned(self.sorted[j], cuts)

    def top_ece_sq(self, cuts):
        return self._binned(self.top, cuts)


def coverage(
    model: Model,
    pop: Population,
    *,
    n,
    datasets,
    seed,
    n_resamples=1000,
    n_bins=10,
    cluster_size=None,
    rho=0.0,
):
    """Share of datasets whose 95% intervals cover the population values, per quantity, and
    the share of datasets with any calibration claim significant in the family (Holm over the
    calibration claims alone). With ``cluster_size``, rows come in clusters whose signal noise
    is correlated (``rho``), and the audit is told the clusters."""
    from prevalens.analyses.calibration import _bins, analyse_calibration
    from prevalens.analyses.family import adjust
    from prevalens.counts import row_sums
    from prevalens.io import predictions_from_arrays
    from prevalens.options import AuditConfig
    from prevalens.strata import StrataSpec, assign_strata

    rng = np.random.default_rng(seed)
    k = model.k
    hits: dict[str, list] = {}
    any_claim, any_finding = [], []
    for _ in range(datasets):
        y, s, _ = model.draw(n, rng, cluster_size=cluster_size, rho=rho)
        cl = None
        if cluster_size:
            cl = np.repeat(np.arange(-(-n // cluster_size)), cluster_size)[:n]
        pred = predictions_from_arrays(y, y_score=s, cluster=cl)
        config = AuditConfig(
            seed=int(rng.integers(2**62)), n_resamples=n_resamples, calibration_bins=n_bins
        )
        strata = assign_strata(row_sums(pred.count_matrix()), StrataSpec.from_config(config))
        cal, claims = analyse_calibration(pred, strata, config)
        adjust(claims, 0.05, "holm", 0.95)
        any_claim.append(any(c.significant for c in claims))
        tol = np.log(config.calibration_tolerance)
        any_finding.append(any(c.significant and abs(c.effect) >= tol for c in claims))
        for j, c in enumerate(cal.per_class):
            for what, truth in (("intercept", pop.intercept[j]), ("slope", pop.slope[j])):
                e = getattr(c, what)
                hits.setdefault(f"{what}[{j}]", []).append(e.ci_low <= truth <= e.ci_high)
            cuts = _bins(s[:, j], y == j, n_bins).cuts
            truth = np.sqrt(max(pop.ece_sq(j, cuts), 0))
            hits.setdefault(f"ece[{j}]", []).append(c.ece.ci_low <= truth <= c.ece.ci_high)
        cw = np.sqrt(
            np.mean([pop.ece_sq(j, _bins(s[:, j], y == j, n_bins).cuts) for j in range(k)])
        )
        hits.setdefault("classwise_ece", []).append(
            cal.classwise_ece.ci_low <= cw <= cal.classwise_ece.ci_high
        )
    out = {key: float(np.mean(v)) for key, v in hits.items()}
    out["any_claim"] = float(np.mean(any_claim))
    out["any_finding"] = float(np.mean(any_finding))
    return out


def findings_rate(model, *, n, datasets, seed, n_resamples=500, tolerance=1.25):
    """Share of datasets in which the audit makes any calibration finding."""
    import prevalens

    rng = np.random.default_rng(seed)
    hits = 0
    for _ in range(datasets):
        y, s, _ = model.draw(n, rng)
        r = prevalens.audit(
            y,
            y_score=s,
            seed=int(rng.integers(2**62)),
            n_resamples=n_resamples,
            calibration_tolerance=tolerance,
        )
        hits += any(f.kind == "calibration" for f in r.findings)
    return hits / datasets


def target_coverage(model: Model, target, *, n, datasets, seed, n_pop=1_000_000):
    """Coverage of the raw probabilities' calibration-in-the-large at the target prevalences
    (importance-weighted fit; the corrected probabilities' intercept and slope have no
    interval, see prevalens.analyses.calibration.calibration_at_target): population
    values from rows drawn at the target, whose probabilities are corrected with the true
    prevalences, against their true posterior there."""
    from prevalens.analyses.calibration import adjust_to_prevalence, calibration_at_target
    from prevalens.io import predictions_from_arrays
    from prevalens.options import AuditConfig

    target = np.asarray(target, dtype=np.float64)
    rng = np.random.default_rng(seed)
    _, s, post = model.draw(n_pop, np.random.default_rng(seed + 1), prior=target)
    adj = adjust_to_prevalence(s, model.prior, target)
    truth = {}
    for j in range(model.k):
        truth[f"raw_intercept[{j}]"] = fit_pseudo_true(s[:, j], post[:, j], slope=False)
        truth[f"intercept[{j}]"] = fit_pseudo_true(adj[:, j], post[:, j], slope=False)
    hits: dict[str, list] = {key: [] for key in truth if key.startswith("raw")}
    for _ in range(datasets):
        y, sc, _ = model.draw(n, rng)
        pred = predictions_from_arrays(y, y_score=sc)
        found = calibration_at_target(pred, target, AuditConfig(seed=1, n_resamples=100))
        for j, c in enumerate(found):
            for what in ("raw_intercept",):
                e = getattr(c, what)
                hits[f"{what}[{j}]"].append(e.ci_low <= truth[f"{what}[{j}]"] <= e.ci_high)
    out = {key: float(np.mean(v)) for key, v in hits.items()}
    out["truth"] = truth
    return out
