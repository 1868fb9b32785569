"""What the projection to a deployment's prevalence costs (not a test): the audit with and
without ``deployment_prevalence`` side by side in one run, labels only, N = 1e6 rows,
B = 2000 replicates, the long-tailed generator of ``bench_scale.py``, K = 100 and 1,000; it
prints each time (best of ``--repeat``) and the ratio.

Run: ``python benchmarks/bench_shift.py [--rows 1e6] [--resamples 2000] [--repeat 2]``
"""

from __future__ import annotations

import argparse
import sys
import warnings
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _timing import best_of  # noqa: E402
from bench_scale import long_tailed_labels  # noqa: E402

import prevalens  # noqa: E402


def measure(n: int, k: int, resamples: int, repeat: int) -> tuple[float, float]:
    y, p = long_tailed_labels(n, k)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        plain, a = best_of(lambda: prevalens.audit(y, p, seed=1, n_resamples=resamples), repeat)
        shifted, b = best_of(
            lambda: prevalens.audit(
                y, p, seed=1, n_resamples=resamples, deployment_prevalence="rare*0.5"
            ),
            repeat,
        )
    assert a.averages["macro"]["f1"] == b.averages["macro"]["f1"]  # the audit's own numbers
    return plain, shifted


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=float, default=1e6)
    ap.add_argument("--resamples", type=int, default=2000)
    ap.add_argument("--repeat", type=int, default=2)
    ap.add_argument("--classes", default="100,1000")
    args = ap.parse_args(argv)
    n = int(args.rows)
    print(f"N = {n:,} rows, B = {args.resamples:,}, labels only; best of {args.repeat}")
    for k in (int(v) for v in args.classes.split(",")):
        plain, shifted = measure(n, k, args.resamples, args.repeat)
        print(
            f"K = {k:>5,}: audit {plain:6.1f} s, with deployment_prevalence {shifted:6.1f} s, "
            f"ratio {shifted / plain:.2f}"
        )


if __name__ == "__main__":
    main()
