"""The comparison's memory: a comparison that would not fit its budget (``max_memory``,
``--max-memory``) is refused before any work, in one line naming what needs the memory and the
ways out; percentile intervals need no jackknife (the same numbers without it); the estimate is
an upper bound of the measured peak."""

from __future__ import annotations

import tracemalloc
import warnings

import numpy as np
import pandas as pd
import pytest

import prevalens
from prevalens.compare import pair_memory
from prevalens.exceptions import ConfigError
from prevalens.metrics import count_statistics
from prevalens.uncertainty import JointCells, PairedBootstrap


def models(k=120, n=6000, seed=0):
    rng = np.random.default_rng(seed)
    prior = np.geomspace(1, 100, k)
    y = rng.choice(k, n, p=prior / prior.sum())
    a = np.where(rng.random(n) < 0.8, y, rng.integers(0, k, n))
    b = np.where(rng.random(n) < 0.83, y, rng.integers(0, k, n))
    return y, a, b


def test_a_comparison_over_its_budget_is_refused_with_the_ways_out():
    y, a, b = models(n=20000)
    with pytest.raises(ConfigError) as e:
        prevalens.compare(y, {"a": a, "b": b}, n_resamples=2000, seed=1, max_memory="300MB")
    msg = str(e.value)
    assert "\n" not in msg
    assert "joint cells" in msg and "300 MB" in msg
    assert "--max-memory" in msg and "--interval percentile" in msg
    # under the same budget the percentile intervals fit
    r = prevalens.compare(
        y, {"a": a, "b": b}, n_resamples=2000, seed=1, max_memory="300MB", interval="percentile"
    )
    assert np.isfinite(r.pairs[0].headline["macro.f1"].difference.ci_low)


def test_the_cli_refuses_it_with_exit_2_and_writes_nothing(tmp_path, capsys):
    from prevalens.cli import main

    y, a, b = models()
    pd.DataFrame({"y_true": y, "old": a, "new": b}).to_csv(tmp_path / "p.csv", index=False)
    out = tmp_path / "out"
    args = ["compare", str(tmp_path / "p.csv"), "--model", "old=old", "--model", "new=new"]
    code = main([*args, "--out-dir", str(out), "--max-memory", "150MB", "--quiet"])
    assert code == 2
    err = capsys.readouterr().err
    assert "memory budget of 150 MB" in err and "Traceback" not in err
    assert not out.exists()


def test_percentile_intervals_need_no_jackknife():
    y, a, b = models(k=30, n=3000)
    runs = []
    for jack in (True, False):
        boot = PairedBootstrap.run(
            y, a, b, 30, count_statistics, 400, np.random.default_rng(3), jackknife=jack
        )
        theta, res, p = boot.interval(
            lambda sa, sb: sb["macro.f1"] - sa["macro.f1"], alpha=0.05, method="percentile"
        )
        runs.append((float(theta), float(res["low"]), float(res["high"]), float(p)))
        assert (boot.jackknife is None) == (not jack)
    assert runs[0] == runs[1]


@pytest.mark.parametrize("interval", ["bca", "percentile"])
def test_the_estimate_bounds_the_measured_peak(interval):
    y, a, b = models(k=150, n=8000)
    j = JointCells.of(y, a, b, 150).counts.size
    tracemalloc.start()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            prevalens.compare(y, {"a": a, "b": b}, n_resamples=500, seed=1, interval=interval)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    est = pair_memory(150, j, 500, bca=interval == "bca")
    assert peak <= est <= 4 * peak + 100 * 2**20
