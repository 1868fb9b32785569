"""Simulations behind the choices for the *averaged* score metrics (docs/design.md, Intervals):
the macro ROC AUC with classes at or near AUC 1, and the macro / weighted average precision from
combined per-class influence values. A script, not a test (minutes of CPU):

    python tests/score_sims.py auc [n_datasets]     # macro ROC AUC, default 2000 per scenario
    python tests/score_sims.py ap [n_datasets]      # macro and weighted AP, default 2000

Model: K classes with fixed supports (the default stratified design); independent score columns,
N(0, 1) for the samples of other classes and, for the class's own samples, a light-tailed
(binormal), a heavier-tailed (twice the spread) or a mixture model (a share 1 - AUC scored like
negatives) with population AUC exactly the target (ROC AUC), or N(mu_k, 1) with mu_k set for a
target population AP at the class's prevalence (AP, by quadrature). The truth of a macro metric
is the mean of the classes' population values (the weighted: weighted by support). A missing
interval counts as a miss.

ROC AUC methods (macro):
    delong   : the product's: DeLong's full covariance, logit scale, t with Welch-Satterthwaite df
    hm0      : the same, each class with DeLong variance 0 (AUC at 0 or 1) given the variance
               implied by its HM-S interval, ((hi - lo) / 2z)^2
    hm0-raw  : hm0 on the original scale (t interval clipped to [0, 1])
    mover    : MOVER (Zou & Donner) from the per-class HM-S intervals, classes independent
AP methods (macro, weighted; logit scale, t with max(df - 1, 1) degrees of freedom):
    if       : the product's: influence values combined per sample, se^2 = N/(N-1) sum D^2
    if-strat : centred within each true class, n_c/(n_c - 1) factors
    jk-strat : the per-class exact jackknife changes combined per sample, stratified by class
    if-z     : "if" with the normal quantile
"""

from __future__ import annotations

import sys
import time

import numpy as np
from scipy import integrate, optimize, special, stats

from prevalens import ranking as R
from prevalens.intervals import auc_score_interval, effective_dof, logit_interval, logit_t_interval

Z = special.ndtri(0.975)


def draw_positives(model, auc, m, rng):
    if model == "binormal":
        return rng.normal(np.sqrt(2) * special.ndtri(auc), 1, m)
    if model == "heavier":
        return rng.normal(np.sqrt(5) * special.ndtri(auc), 2, m)
    eps = 1 - auc  # mixture
    mu = np.sqrt(2) * special.ndtri((auc - eps / 2) / (1 - eps))
    return np.where(rng.random(m) < eps, rng.normal(0, 1, m), rng.normal(mu, 1, m))


def macro_auc(name, model, supports, aucs, n_datasets, seed):
    rng = np.random.default_rng(seed)
    supports, aucs = np.asarray(supports), np.asarray(aucs, dtype=float)
    k = supports.size
    y = np.repeat(np.arange(k), supports)
    n = y.size
    truth = aucs.mean()
    w = R.auc_combination_weights(supports, n)[:, 0]
    df = np.maximum(np.minimum(supports, n - supports) - 1, 1)
    hits = {m: 0 for m in ("delong", "hm0", "hm0-raw", "mover")}
    widths: dict[str, list] = {m: [] for m in hits}
    at_one = 0
    for _ in range(n_datasets):
        s = rng.normal(size=(n, k))
        for j in range(k):
            s[y == j, j] = draw_positives(model, aucs[j], supports[j], rng)
        sm = R.ovr_pass(y, s, combo_weights=w[:, None])
        auc = sm.auc
        theta = float(w @ auc)
        at_one += int((auc >= 1).any())
        lo, hi = auc_score_interval(
            auc, sm.delong_s10, sm.delong_s01, supports, n - supports, alpha=0.05
        )
        vd = sm.delong_var
        off_diagonal = float(sm.combo_cov[0, 0] - np.sum(w**2 * vd))
        out = {}
        for key, vk in (("delong", vd), ("hm0", np.where(vd > 0, vd, ((hi - lo) / (2 * Z)) ** 2))):
            parts = w**2 * vk
            v = off_diagonal + parts.sum()
            dfe = parts.sum() ** 2 / np.sum(parts**2 / df) if parts.sum() > 0 else np.nan
            out[key] = logit_interval(theta, v, alpha=0.05, df=dfe)
            if key == "hm0":
                q = stats.t.ppf(0.975, dfe) if np.isfinite(dfe) else np.nan
                half = q * np.sqrt(max(v, 0))
                out["hm0-raw"] = (max(theta - half, 0.0), min(theta + half, 1.0))
        out["mover"] = (
            max(theta - np.sqrt(np.sum(w**2 * (auc - lo) ** 2)), 0.0),
            min(theta + np.sqrt(np.sum(w**2 * (hi - auc) ** 2)), 1.0),
        )
        for key, (l_, h_) in out.items():
            if np.isfinite(l_) and np.isfinite(h_):
                hits[key] += int(l_ <= truth <= h_)
                widths[key].append(h_ - l_)
    print(
        f"{name:30s} P(a class at 1) {at_one / n_datasets:.2f}  "
        + "  ".join(
            f"{m} {hits[m] / n_datasets:.3f} (width {np.median(widths[m]):.4f})" for m in hits
        ),
        flush=True,
    )


def ap_deficit(mu, pi):
    """1 - AP of positives N(mu, 1) among negatives N(0, 1) at prevalence pi."""

    def f(s):
        s0, s1 = special.ndtr(-s), special.ndtr(mu - s)
        return stats.norm.pdf(s, mu) * (1 - pi) * s0 / (pi * s1 + (1 - pi) * s0)

    return integrate.quad(f, mu - 12, mu + 12, limit=400, epsabs=1e-16, epsrel=1e-10)[0]


def macro_ap(name, supports, aps, n_datasets, seed):
    rng = np.random.default_rng(seed)
    supports = np.asarray(supports)
    k = supports.size
    n = supports.sum()
    pis = supports / n
    mus = np.array(
        [
            optimize.brentq(lambda x, p=p, a=a: ap_deficit(x, p) - (1 - a), -3, 15)
            for a, p in zip(aps, pis)
        ]
    )
    truth_k = np.array([1 - ap_deficit(mu, p) for mu, p in zip(mus, pis)])
    truth = {"macro": truth_k.mean(), "weighted": float(truth_k @ pis)}
    y = np.repeat(np.arange(k), supports)
    w = R.ap_combination_weights(supports)
    hits: dict[tuple, list] = {}
    for _ in range(n_datasets):
        s = rng.normal(size=(n, k))
        for j in range(k):
            s[y == j, j] += mus[j]
        sm = R.ovr_pass(y, s, ap_weights=w)
        jk = np.zeros((2, n))
        for j in range(k):
            r = R.average_precision_influence(s[:, j], y == j)
            jk += np.outer(w[j], np.nan_to_num(r.jackknife))
        for col, key in ((0, "macro"), (1, "weighted")):
            theta = float(w[:, col] @ sm.average_precision)
            d = sm.ap_influence[col]
            u = d - (np.bincount(y, weights=d) / supports)[y]
            ju = jk[col] - (np.bincount(y, weights=jk[col]) / supports)[y]
            variants = {
                "if": (np.sqrt(n / (n - 1) * (d @ d)), float(effective_dof(d))),
                "if-strat": (
                    np.sqrt(np.sum((supports / (supports - 1))[y] * u * u)),
                    float(effective_dof(u)),
                ),
                "jk-strat": (
                    np.sqrt(np.sum(((supports - 1) / supports)[y] * ju * ju)),
                    float(effective_dof(u)),
                ),
                "if-z": (np.sqrt(n / (n - 1) * (d @ d)), np.inf),
            }
            for v, (se, df) in variants.items():
                lo, hi = logit_t_interval(theta, se, alpha=0.05, df=max(df - 1, 1))
                cell = hits.setdefault((key, v), [0, []])
                cell[0] += int(lo <= truth[key] <= hi)
                cell[1].append(float(hi - lo))
    print(
        f"{name:12s} "
        + "  ".join(
            f"{a}/{v} {c[0] / n_datasets:.3f} (w {np.median(c[1]):.4f})"
            for (a, v), c in hits.items()
        ),
        flush=True,
    )


def main(argv):
    what = argv[1] if len(argv) > 1 else "auc"
    n = int(argv[2]) if len(argv) > 2 else 2000
    t0 = time.time()
    if what == "auc":
        for model in ("binormal", "heavier", "mixture"):
            macro_auc(f"{model}, tail at .995", model, (500, 200, 60, 15, 15),
                      (0.95, 0.97, 0.99, 0.995, 0.995), n, 1)  # fmt: skip
            macro_auc(f"{model}, all at .999", model, (200, 100, 50, 15, 10), (0.999,) * 5, n, 2)
            macro_auc(f"{model}, all .99 small", model, (60, 30, 20, 12, 10), (0.99,) * 5, n, 3)
            macro_auc(f"{model}, K8 at .9", model, (400, 250, 150, 90, 50, 30, 20, 12),
                      (0.9,) * 8, n, 4)  # fmt: skip
    else:
        macro_ap("K5 moderate", (400, 200, 80, 30, 12), (0.9, 0.8, 0.7, 0.6, 0.5), n, 11)
        macro_ap("K5 high", (400, 200, 80, 30, 12), (0.99, 0.98, 0.97, 0.95, 0.9), n, 12)
        macro_ap("K5 near 1", (2000, 1000, 400, 150, 60), (0.999, 0.999, 0.998, 0.995, 0.99), n, 13)
        macro_ap("K10 tail", (800, 500, 300, 200, 120, 80, 50, 30, 20, 12), (0.85,) * 10, n, 14)
    print(f"[{time.time() - t0:.0f} s]")


if __name__ == "__main__":
    main(sys.argv)
