"""Coverage of prevalens' 95% intervals on clustered data with very unequal cluster sizes, by
simulation (slow; run by `make test-slow`).

Scenario (design A of the clustering study, /work/research/tail/REPORT.md, Q4): C = 40 clusters
of fixed, very unequal sizes n_c = round(N w_c / sum w), w_c = exp(1.85 Phi^-1((c - 1/2) / 40)),
N = 20,000 rows (sizes 2 to 6,928; Kish's effective number of clusters (sum n_c)^2 / sum n_c^2 =
6.1). K = 5 classes with prevalence 55 / 25 / 12 / 6 / 2 %; each cluster's class mix is drawn
from Dirichlet(10 pi) and each of its rows from that mix, so the rarest class (about 400 rows)
sits in about 16 clusters and its own Kish number is about 4. A row of class k is predicted
correctly with probability expit(alpha_k + b_c), expit(alpha_k) = 0.95, 0.90, 0.85, 0.80, 0.70
and b_c ~ N(0, 0.7^2) shared by the cluster's rows (otherwise it is predicted as one of the other
four classes, uniformly): rows of a cluster are right or wrong together, and a few big clusters
carry most of the rows.

Estimands, over the population of clusters (the clusters are the sampling unit): the recall of
class k is E[tp_k] / E[n_k] = E expit(alpha_k + b) (the class mix does not depend on b), accuracy
is sum_k pi_k recall_k and macro recall the mean of the five recalls. They are computed here by
Gauss-Hermite quadrature over b (checked against scipy's adaptive quadrature), with neither the
code under test nor a sample.

Each dataset is audited with ``cluster=`` (``n_resamples=100``, the API's minimum: none of the
intervals checked here uses the bootstrap). Accuracy and macro recall get the leave-one-cluster-
out jackknife on the logit scale with t(Kish - 1); the rarest class's recall gets the CR2
cluster-robust variance turned into a Korn-Graubard effective n in a Wilson interval with
t(Kish_k - 1). Resting on so few effective clusters, they must carry status ``unstable`` and
the note "few effective clusters ..." (see Checks), and ``data.effective_clusters`` must be
Kish's number of the design, computed here from the sizes. The first 200 datasets are audited again without
``cluster=``: the rarest class's recall then gets the row Wilson interval, which must cover below
0.90 (the test has teeth; the study saw 0.53).

Checks: each clustered interval's coverage of 2,000 datasets lies in [0.93, 0.99]. The upper end
is 0.99 rather than 0.97 because with Kish about 6 (and about 4 for the rarest class) the
intervals are approximate and documented as conservative (the study: 0.963-0.993 for Kish < 5).
Accuracy and macro recall must carry status ``unstable`` and the note in every dataset; the
rarest class's recall exactly when its own clusters are fewer than 20 or their Kish number is
below 10 (99.8% of datasets; its method must name that Kish number, computed here).

Observed (these seeds, 2,000 datasets): accuracy 0.951, macro recall 0.964, rarest-class recall
0.966; without ``cluster=`` (200 datasets) 0.090, 0.235 and 0.460. A separate run of 10,000
datasets of this design (SEED = 7; MC SE 0.0023) gave 0.945, 0.956 and 0.971, against the
study's 0.940, 0.948 and 0.966 (500 datasets, MC SE 0.010). The misses of accuracy are lopsided
there: the population value lies below the interval in 4.0% of datasets and above it in 1.5%.

False-failure rate (exact binomial, recomputed in the last test): at the true coverages of the
10,000-dataset run (0.9452, 0.9560, 0.9711), 2,000 datasets leave [0.93, 0.99] with probability
0.17% for accuracy and below 1e-7 for the other two, so about 0.2% of fresh seeds fail by chance;
were accuracy's true coverage the study's 0.940, 2.9%. The teeth check (at most 179 of 200 naive
intervals covering) fails by chance with probability below 1e-28 at the study's 0.53. The seeds
are fixed, so the test is deterministic: dataset i is drawn from the seed (SEED, i) and audited
with ``seed=i`` in a worker process, and the counts do not depend on which worker audits which
dataset. The file takes about 75 CPU-seconds (0.03 s per clustered audit, 0.08 s per naive one
with its 100-replicate stratified bootstrap).
"""

from __future__ import annotations

import functools
import math
import multiprocessing
import re
import time
import warnings
from concurrent.futures import ProcessPoolExecutor

import numpy as np
import pytest
from scipy import integrate, special, stats

import prevalens

pytestmark = pytest.mark.slow

K = 5
PI = np.array([0.55, 0.25, 0.12, 0.06, 0.02])  # class prevalence (mean class mix of a cluster)
RECALL_AT_0 = np.array([0.95, 0.90, 0.85, 0.80, 0.70])  # expit(alpha_k): recall at b_c = 0
ALPHA = special.logit(RECALL_AT_0)
SD_B = 0.7  # sd of the cluster effect b_c on the logit of a correct prediction
KAPPA = 10.0  # concentration of the clusters' class mixes, Dirichlet(KAPPA * PI)
N_CLUSTERS = 40
SPREAD = 1.85  # s: inequality of the cluster sizes (lognormal quantiles)
N_ROWS = 20_000

N_DATASETS = 2000
N_NAIVE = 200  # datasets also audited without `cluster=`
N_RESAMPLES = 100  # the API's minimum; the intervals checked here do not use the bootstrap
SEED = 20261207
LOW, HIGH = 0.93, 0.99
NAIVE_MAX = 0.90
#: coverage in a separate run of 10,000 datasets (SEED = 7), for the false-failure rate
TRUE_COVERAGE = {"accuracy": 0.9452, "macro recall": 0.9560, "rarest recall": 0.9711}

RAREST = K - 1
METRICS = {
    "accuracy": lambda r: r.overall["accuracy"],
    "macro recall": lambda r: r.averages["macro"]["recall"],
    "rarest recall": lambda r: r.per_class[RAREST].metrics["recall"],
}


def cluster_sizes(n_clusters: int = N_CLUSTERS, spread: float = SPREAD, n_rows: int = N_ROWS):
    """Fixed sizes proportional to lognormal quantiles (at least 1 row each)."""
    w = np.exp(spread * special.ndtri((np.arange(n_clusters) + 0.5) / n_clusters))
    return np.maximum(1, np.round(n_rows * w / w.sum())).astype(np.int64)


def kish(sizes) -> float:
    """Kish's effective number of clusters, (sum n_c)^2 / sum n_c^2, over non-empty clusters."""
    n = np.asarray(sizes, dtype=np.float64)
    return float(n.sum() ** 2 / (n**2).sum())


SIZES = cluster_sizes()
KISH = kish(SIZES)


def draw(rng):
    """One dataset of the design: ``y_true, y_pred, cluster``."""
    cluster = np.repeat(np.arange(N_CLUSTERS), SIZES)
    n = cluster.size
    mix = rng.dirichlet(KAPPA * PI, size=N_CLUSTERS)
    # each row's class by inverse CDF within its cluster's mix
    y_true = np.minimum(
        (rng.random(n)[:, None] > np.cumsum(mix, axis=1)[cluster]).sum(axis=1), K - 1
    )
    b = SD_B * rng.standard_normal(N_CLUSTERS)
    correct = rng.random(n) < special.expit(ALPHA[y_true] + b[cluster])
    y_pred = np.where(correct, y_true, (y_true + rng.integers(1, K, size=n)) % K)
    return y_true, y_pred, cluster


@functools.cache
def population() -> dict[str, float]:
    """The estimands by Gauss-Hermite quadrature of E expit(alpha_k + b), b ~ N(0, SD_B^2)."""
    t, w = np.polynomial.hermite_e.hermegauss(80)
    recall = special.expit(ALPHA[:, None] + SD_B * t[None, :]) @ (w / w.sum())
    return {
        "accuracy": float(PI @ recall),
        "macro recall": float(recall.mean()),
        "rarest recall": float(recall[RAREST]),
    }


def intervals(task) -> dict:
    """Dataset ``i`` audited with or without its clusters: the (len(METRICS), 2) interval bounds,
    whether each interval is flagged (status unstable and a note on few effective clusters), what
    the result records about the clusters, and the rarest class's clusters and Kish number
    computed here from its rows."""
    i, clustered = task
    y_true, y_pred, cluster = draw(np.random.default_rng([SEED, i]))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        r = prevalens.audit(
            y_true,
            y_pred,
            labels=list(range(K)),
            cluster=cluster if clustered else None,
            n_resamples=N_RESAMPLES,
            seed=i,
        )
    estimates = [get(r) for get in METRICS.values()]
    rare = np.bincount(cluster[y_true == RAREST], minlength=N_CLUSTERS)
    stated = re.search(r"effective number ([0-9.]+)", estimates[-1].method)
    return {
        "bounds": np.array([[e.ci_low, e.ci_high] for e in estimates], dtype=np.float64),
        "flagged": np.array(
            [
                e.status == "unstable" and "few effective clusters" in (e.note or "")
                for e in estimates
            ]
        ),
        "effective": r.data.effective_clusters,
        "n_clusters": r.data.n_clusters,
        "rare_clusters": int((rare > 0).sum()),
        "rare_kish": kish(rare[rare > 0]),
        "rare_stated_kish": float(stated.group(1)) if stated else math.nan,
    }


def simulate(n_datasets: int, n_naive: int, workers: int = 2):
    """Every dataset's :func:`intervals`, stacked by field: ``(clustered, naive)``."""
    tasks = [(i, True) for i in range(n_datasets)] + [(i, False) for i in range(n_naive)]
    # spawn: a fresh interpreter per worker, never a fork of a process that may hold threads
    with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn")) as pool:
        out = list(pool.map(intervals, tasks, chunksize=25))

    def stack(part):
        return {f: np.array([d[f] for d in part]) for f in part[0]}

    return stack(out[:n_datasets]), stack(out[n_datasets:])


def coverage(bounds, truth):
    """Per metric: (hits, datasets with an interval)."""
    t = np.array([truth[m] for m in METRICS])
    valid = np.isfinite(bounds).all(axis=2)
    hit = valid & (bounds[..., 0] <= t) & (t <= bounds[..., 1])
    return {m: (int(hit[:, j].sum()), int(valid[:, j].sum())) for j, m in enumerate(METRICS)}


@pytest.fixture(scope="module")
def simulation():
    start = time.perf_counter()
    truth = population()
    clustered, naive = simulate(N_DATASETS, N_NAIVE)
    return {
        "truth": truth,
        "clustered": clustered,
        "naive": naive,
        "coverage": coverage(clustered["bounds"], truth),
        "naive coverage": coverage(naive["bounds"], truth),
        "seconds": time.perf_counter() - start,
    }


def test_coverage_table(simulation, capsys):
    c = simulation["clustered"]
    with capsys.disabled():
        print(
            f"\nvery unequal clusters (C = {N_CLUSTERS}, sizes {SIZES.min()}-{SIZES.max()}, "
            f"Kish {KISH:.1f}; rarest class in {c['rare_clusters'].mean():.1f} clusters, "
            f"Kish {c['rare_kish'].mean():.1f}; {N_DATASETS} datasets, naive on {N_NAIVE}; "
            f"{simulation['seconds']:.0f} s):"
        )
        for m in METRICS:
            (a, b), (d, e) = simulation["coverage"][m], simulation["naive coverage"][m]
            print(
                f"  {m:<14} population {simulation['truth'][m]:.4f}   clustered {a / b:.3f} "
                f"({b})   naive {d / e:.3f} ({e})"
            )
    for m, (_, b) in simulation["coverage"].items():
        # every dataset must give an interval (the rarest class is always in several clusters)
        assert b == N_DATASETS, f"{m}: only {b} of {N_DATASETS} datasets gave an interval"


@pytest.mark.parametrize("metric", list(METRICS))
def test_clustered_intervals_cover_at_nominal_rate(simulation, metric):
    a, b = simulation["coverage"][metric]
    assert LOW <= a / b <= HIGH, f"{metric}: coverage {a / b:.3f} outside [{LOW}, {HIGH}]"


def test_intervals_are_flagged_as_resting_on_few_effective_clusters(simulation):
    c = simulation["clustered"]
    flagged = c["flagged"]
    # accuracy and macro recall rest on the design's 6.1 effective clusters: always flagged
    for j, m in enumerate(METRICS):
        if m != "rarest recall":
            assert flagged[:, j].all(), f"{m}: {int((~flagged[:, j]).sum())} not flagged"
    # the rarest class's recall rests on the clusters holding the class: flagged exactly when
    # they are fewer than 20 or their Kish number is below 10 (nearly always here)
    few = (c["rare_kish"] < 10) | (c["rare_clusters"] < 20)
    assert few.mean() > 0.99
    np.testing.assert_array_equal(flagged[:, -1], few)
    # and its method names that Kish number (to one decimal)
    np.testing.assert_allclose(c["rare_stated_kish"], c["rare_kish"], atol=0.05 + 1e-9)
    # without clusters nothing is said about them
    assert not simulation["naive"]["flagged"].any()


def test_effective_number_of_clusters_is_recorded(simulation):
    assert 6.0 < KISH < 6.2  # the design
    c = simulation["clustered"]
    assert (c["n_clusters"] == N_CLUSTERS).all()
    np.testing.assert_allclose(c["effective"].astype(np.float64), KISH, rtol=1e-9)
    assert all(e is None for e in simulation["naive"]["effective"])


def test_ignoring_the_clusters_gives_intervals_that_are_too_narrow(simulation):
    a, b = simulation["naive coverage"]["rarest recall"]
    assert a / b < NAIVE_MAX, f"naive rarest-class recall covered {a / b:.3f}"


def test_population_values_by_adaptive_quadrature():
    """The Gauss-Hermite estimands agree with scipy's adaptive quadrature of the same integral."""
    recall = np.array(
        [
            integrate.quad(
                lambda b, a=a: special.expit(a + b) * stats.norm.pdf(b, scale=SD_B),
                -np.inf,
                np.inf,
                epsabs=1e-13,
            )[0]
            for a in ALPHA
        ]
    )
    expected = {
        "accuracy": PI @ recall,
        "macro recall": recall.mean(),
        "rarest recall": recall[RAREST],
    }
    assert population() == pytest.approx(expected, abs=1e-10)


def test_false_failure_rate_stated_in_the_docstring_is_right():
    lo, hi = round(LOW * N_DATASETS), round(HIGH * N_DATASETS)

    def p_out(p):
        return stats.binom.cdf(lo - 1, N_DATASETS, p) + stats.binom.sf(hi, N_DATASETS, p)

    rates = {m: p_out(p) for m, p in TRUE_COVERAGE.items()}
    assert 0.0015 < rates["accuracy"] < 0.0019, rates
    assert rates["macro recall"] < 1e-7 and rates["rarest recall"] < 1e-7, rates
    assert 0.0015 < 1 - np.prod([1 - r for r in rates.values()]) < 0.0019
    assert 0.028 < p_out(0.940) < 0.030
    # the teeth: 180 or more of 200 naive intervals covering at a true coverage of 0.53
    assert stats.binom.sf(NAIVE_MAX * N_NAIVE - 1, N_NAIVE, 0.53) < 1e-28
