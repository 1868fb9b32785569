"""The calibration analysis's share of an audit with probabilities, measured side by side in one
run (machines here are noisy: compare the ratios, not the seconds). Long-tailed prevalences,
a slightly over-confident model, B = 2000.

    PYTHONPATH=src python benchmarks/bench_calibration.py
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from calibration_sims import Model  # noqa: E402

import prevalens  # noqa: E402
from prevalens.analyses.calibration import analyse_calibration  # noqa: E402
from prevalens.analyses.family import adjust  # noqa: E402
from prevalens.counts import row_sums  # noqa: E402
from prevalens.options import AuditConfig  # noqa: E402
from prevalens.strata import StrataSpec, assign_strata  # noqa: E402

CASES = ((100_000, 10), (100_000, 100))


def calibration_only(pred, config) -> float:
    """Seconds of the calibration analysis alone, with its claims adjusted (their intervals at
    the adjusted level are computed then)."""
    t = time.perf_counter()
    strata = assign_strata(row_sums(pred.count_matrix()), StrataSpec.from_config(config))
    _, claims = analyse_calibration(pred, strata, config)
    adjust(claims, 1 - config.confidence_level, "holm", config.confidence_level)
    return time.perf_counter() - t


def main() -> None:
    for n, k in CASES:
        prior = np.geomspace(1, 100, k)
        m = Model(prior / prior.sum(), mu=2.5, temperature=1.3)
        y, s, _ = m.draw(n, np.random.default_rng(0))
        pred = prevalens.predictions_from_arrays(y, y_score=s)
        config = AuditConfig(seed=1, n_resamples=2000)
        t = time.perf_counter()
        prevalens.audit_predictions(pred, config=config)
        whole = time.perf_counter() - t
        alone = calibration_only(pred, config)
        print(
            f"N={n:,} K={k}: the audit {whole:.1f} s; its calibration alone {alone:.1f} s, "
            f"{alone / max(whole - alone, 1e-9):.2f} x the rest of the audit"
        )


if __name__ == "__main__":
    main()
