"""The audit with a cluster column at scale (not a test): the leave-one-cluster-out jackknife
held as dense (J, K) tables against its sparse-delta form (``prevalens.loo.SparseDeltaArray``),
side by side in one run, each form forced, each in a fresh process for its peak memory.

Labels only, K = 100 long-tailed classes (the generator of ``bench_scale.py``), clusters of
about equal size drawn at random, B = 2000. For each size it prints the audit's wall time and
the process's peak resident memory (``ru_maxrss``) in both forms, and their ratios. The audit
itself takes the sparse-delta form above ``prevalens.uncertainty.CLUSTER_DENSE_JACKKNIFE_CELLS``
(J x K) cells; here each form is forced. Both give the same numbers to rounding
(``tests/test_cluster_loo.py``).

Run: ``python benchmarks/bench_clusters.py [--rows 1e6] [--clusters 1e5] [--resamples 2000]
[--max-memory 2GB] [--sparse-only]`` (``--sparse-only`` skips the dense form, for sizes where
it does not fit).
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
import warnings

import numpy as np


def _one(rows: int, clusters: int, k: int, b: int, form: str, max_memory: str | None) -> dict:
    """One audit in this process; its time and this process's peak memory."""
    sys.path.insert(0, __file__.rsplit("/", 1)[0])
    from bench_scale import long_tailed_labels

    import prevalens as pv
    import prevalens.uncertainty as U

    y, y_pred = long_tailed_labels(rows, k)
    cluster = np.random.default_rng(1).integers(0, clusters, size=rows)
    base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    # each form forced (the audit itself takes the sparse-delta form above 1e7 J x K cells)
    U.CLUSTER_DENSE_JACKKNIFE_CELLS = 10**15 if form == "dense" else 0
    t = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        opts = {"max_memory": max_memory} if max_memory else {}
        r = pv.audit(y, y_pred, cluster=cluster, n_resamples=b, seed=0, **opts)
    seconds = time.perf_counter() - t
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    return {
        "seconds": seconds,
        "peak": peak,
        "inputs": base,
        "macro_f1": [r.averages["macro"]["f1"].ci_low, r.averages["macro"]["f1"].ci_high],
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rows", default="1e6")
    ap.add_argument("--clusters", default="1e5")
    ap.add_argument("--classes", type=int, default=100)
    ap.add_argument("--resamples", type=int, default=2000)
    ap.add_argument("--sparse-only", action="store_true")
    ap.add_argument("--max-memory", help="the audits' memory budget (default: theirs)")
    ap.add_argument("--child", help=argparse.SUPPRESS)
    a = ap.parse_args()
    rows, clusters = int(float(a.rows)), int(float(a.clusters))
    if a.child:
        print(json.dumps(_one(rows, clusters, a.classes, a.resamples, a.child, a.max_memory)))
        return
    forms = ("sparse",) if a.sparse_only else ("dense", "sparse")
    budget = f", max_memory {a.max_memory}" if a.max_memory else ""
    print(f"N = {rows:,} rows, {clusters:,} clusters, K = {a.classes}, B = {a.resamples}{budget}")
    got = {}
    for form in forms:
        out = subprocess.run(
            [
                sys.executable,
                __file__,
                "--child",
                form,
                "--rows",
                a.rows,
                "--clusters",
                a.clusters,
                "--classes",
                str(a.classes),
                "--resamples",
                str(a.resamples),
            ]
            + (["--max-memory", a.max_memory] if a.max_memory else []),
            capture_output=True,
            text=True,
            check=False,
        )
        if out.returncode != 0:
            print(f"{form:>7}: failed ({out.returncode}): {out.stderr.strip().splitlines()[-1:]}")
            continue
        got[form] = json.loads(out.stdout.strip().splitlines()[-1])
        g = got[form]
        print(
            f"{form:>7}: {g['seconds']:7.1f} s, peak {g['peak'] / 1e9:5.2f} GB "
            f"(inputs and imports {g['inputs'] / 1e9:4.2f} GB); macro F1 interval {g['macro_f1']}"
        )
    if len(got) == 2:
        d, s = got["dense"], got["sparse"]
        print(
            f"sparse / dense: time {s['seconds'] / d['seconds']:.2f}, "
            f"peak above the inputs {(s['peak'] - s['inputs']) / (d['peak'] - d['inputs']):.2f}"
        )


if __name__ == "__main__":
    main()
