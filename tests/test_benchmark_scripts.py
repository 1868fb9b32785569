"""The benchmark scripts run against the library as it is (benchmarks/real_data.py printed
findings as dicts after results became typed and crashed before printing anything)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]


def _load(name: str):
    spec = importlib.util.spec_from_file_location(name, ROOT / "benchmarks" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def test_real_data_audit_file_prints_findings_and_notes(tmp_path, capsys, monkeypatch):
    rd = _load("real_data")
    monkeypatch.setattr(rd, "N_RESAMPLES", 200)
    rng = np.random.default_rng(3)
    classes = np.array(["a", "b", "c", "d"])
    y = rng.choice(4, size=400, p=[0.6, 0.25, 0.1, 0.05])
    right = rng.random(400) < np.where(y == 3, 0.3, 0.95)  # the rarest class recalled poorly
    pred = np.where(right, y, (y + 1) % 4)
    scores = np.full((400, 4), 0.1)
    scores[np.arange(400), pred] = 0.7
    path = rd.write_predictions(
        rd.predictions_frame(classes[y], classes[pred], scores, classes), tmp_path / "p.csv"
    )
    rd.audit_file("toy", path, "four classes, the rarest recalled poorly")
    out = capsys.readouterr().out
    assert "=== toy" in out and "findings (" in out and "notes (" in out
    assert "Traceback" not in out and "failed" not in out.lower()
    assert "'d'" in out  # the poorly recalled class is named in a finding


def test_compare_benchmark_runs_and_prints_the_ratio(capsys):
    sys.path.insert(0, str(ROOT / "benchmarks"))
    try:
        bench = _load("bench_compare")
        bench.main(["--n", "3000", "--k", "6", "--b", "100"])
    finally:
        sys.path.remove(str(ROOT / "benchmarks"))
    out = capsys.readouterr().out
    assert "compare / audit = " in out and "finding:" in out


def test_bench_scale_measures_a_small_case():
    bs = _load("bench_scale")
    y, p = bs.long_tailed_labels(2000, 50)
    assert y.shape == p.shape == (2000,) and (y != p).mean() > 0.05
    r = bs.measure(2000, 50, 100)
    assert r["k"] == 50 and r["cells"] > 50
    assert r["audit"] > 0 and r["draw"] > 0 and r["peak"] > 0 and r["json"] > 1000


def test_bench_duckdb_runs_each_engine_and_prints_the_ratios(capsys, tmp_path):
    sys.path.insert(0, str(ROOT / "benchmarks"))
    try:
        bench = _load("bench_duckdb")
        bench.main(
            ["--rows", "3e4", "--small", "1e4", "--resamples", "100", "--dir", str(tmp_path)]
        )
    finally:
        sys.path.remove(str(ROOT / "benchmarks"))
    out = capsys.readouterr().out
    assert "duckdb / memory at 10,000 rows: time " in out
    assert "duckdb at 30,000 rows within 4 GB: yes" in out


def test_bench_shift_prints_the_ratio(capsys):
    sys.path.insert(0, str(ROOT / "benchmarks"))
    try:
        bench = _load("bench_shift")
        bench.main(["--rows", "5000", "--resamples", "100", "--repeat", "1", "--classes", "20"])
    finally:
        sys.path.remove(str(ROOT / "benchmarks"))
    assert "with deployment_prevalence" in capsys.readouterr().out
