"""The in-memory audit against the Dask engine (not a test): labels only, N = 1e7 rows, K = 100
long-tailed classes (bench_scale's generator), B = 2000 replicates, both in the same run so that
the printed ratio means something on a noisy machine.

* ``in-memory``: ``load_predictions`` of one Parquet file, then ``audit_predictions``;
* ``dask``: ``count_dask_file`` of a Parquet dataset of the same rows in several files, on a
  ``LocalCluster`` of 2 worker processes (1 thread each), then ``audit_predictions`` on the client
  from the merged counts.

Both read the files, so both times include the reading. The two results.json are checked to be
the same but for the input's path and hash. Each stage is timed once (``--repeat`` for the best of
several).

Run: ``python benchmarks/bench_dask.py [--rows 1e7] [--resamples 2000] [--files 8]``
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
import warnings
from pathlib import Path

import pandas as pd
from _timing import best_of
from bench_scale import long_tailed_labels

import prevalens as pv
from prevalens.engines.dask import count_dask_file

K = 100


def _write(tmp: Path, n: int, files: int) -> tuple[Path, Path]:
    y, y_pred = long_tailed_labels(n, K)
    frame = pd.DataFrame({"y_true": y, "y_pred": y_pred})
    one = tmp / "pred.parquet"
    frame.to_parquet(one, index=False)
    dataset = tmp / "dataset"
    dataset.mkdir()
    bounds = [n * i // files for i in range(files + 1)]
    for i in range(files):
        part = frame.iloc[bounds[i] : bounds[i + 1]]
        part.to_parquet(dataset / f"part.{i:03d}.parquet", index=False)
    return one, dataset


def _no_inputs(result) -> str:
    d = result.to_dict()
    d.pop("inputs")
    return json.dumps(d, sort_keys=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rows", default="1e7")
    ap.add_argument("--resamples", type=int, default=2000)
    ap.add_argument("--files", type=int, default=8, help="Parquet files in the Dask dataset")
    ap.add_argument("--repeat", type=int, default=1)
    args = ap.parse_args()
    n, b = int(float(args.rows)), args.resamples
    options = {"n_resamples": b, "seed": 20261207}
    os.environ.setdefault("SOURCE_DATE_EPOCH", "1795564800")  # one created_utc for both results

    import distributed

    with tempfile.TemporaryDirectory() as tmp:
        one, dataset = _write(Path(tmp), n, args.files)
        print(
            f"N = {n:,} rows, K = {K}, B = {b:,} replicates, labels only; "
            f"Dask: {args.files} Parquet files, LocalCluster of 2 workers x 1 thread"
        )
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # undefined metrics of absent classes
            load_s, pred = best_of(lambda: pv.load_predictions(one), args.repeat)
            audit_s, memory = best_of(lambda: pv.audit_predictions(pred, **options), args.repeat)
            t = time.perf_counter()
            cluster = distributed.LocalCluster(
                n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
            )
            client = distributed.Client(cluster)
            start_s = time.perf_counter() - t
            try:
                count_s, counted = best_of(lambda: count_dask_file(dataset), args.repeat)
                d_audit_s, dask_result = best_of(
                    lambda: pv.audit_predictions(counted, **options), args.repeat
                )
            finally:
                client.close()
                cluster.close()
        same = _no_inputs(dask_result) == _no_inputs(memory)
        mem_total, dask_total = load_s + audit_s, count_s + d_audit_s
        print(f"{'':>10} {'read/count (s)':>15} {'audit (s)':>10} {'total (s)':>10}")
        print(f"{'in-memory':>10} {load_s:>15.2f} {audit_s:>10.2f} {mem_total:>10.2f}")
        print(f"{'dask':>10} {count_s:>15.2f} {d_audit_s:>10.2f} {dask_total:>10.2f}")
        print(
            f"dask / in-memory: {dask_total / mem_total:.2f}x in total, "
            f"{count_s / load_s:.2f}x reading (count) alone; cells: {counted.n_cells:,}; "
            f"cluster start-up {start_s:.1f} s (not counted); results.json equal but for the "
            f"inputs: {same}"
        )


if __name__ == "__main__":
    main()
