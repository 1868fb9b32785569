"""Ranking score columns out of core with the DuckDB engine (not a test).

K classes (default 10, long-tailed), a probability column per class with distinct values (no
ties: the grouped tables are as large as the file), B = 2000 replicates. The files are written in
blocks of 1e6 rows. Each audit runs in a fresh subprocess, so that its peak resident memory
(``ru_maxrss``) is its own:

* ``memory``: ``load_predictions`` + ``audit_predictions``, the rows in memory (at ``--small``
  rows only);
* ``duckdb``: ``engines.duckdb.count_file`` (DuckDB's memory limit ``--limit``, default 500 MB)
  + ``audit_predictions``, at ``--small`` rows and at ``--rows`` rows.

It prints each run's time and peak memory, the ratios measured in the same run, and the largest
difference between the two engines' macro ROC AUC and its interval at ``--small`` rows. The
in-memory audit also computes what the engine does not (the one-vs-one AUC, the curves,
calibration), so its time is not the cost of the same work. Measured (2026-12-08, 2 cores): 1e6
rows in memory 11.6 s and 1.05 GiB, with DuckDB 20.2 s and 0.82 GiB; 1e7 rows with DuckDB
308 s and 1.01 GiB.

Run: ``python benchmarks/bench_duckdb_scores.py [--rows 1e7] [--small 1e6] [--classes 10]
[--limit 500MB] [--dir DIR]``
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench_duckdb  # noqa: E402


def write_parquet(path: Path, rows: int, k: int, block: int = 1_000_000) -> None:
    """``rows`` rows of (y_true, y_pred, score_0 .. score_{k-1}), a block at a time."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    prior = np.arange(1, k + 1, dtype=float) ** -1.2
    prior /= prior.sum()
    fields = [("y_true", pa.int32()), ("y_pred", pa.int32())]
    schema = pa.schema(fields + [(f"score_{j}", pa.float64()) for j in range(k)])
    with pq.ParquetWriter(str(path), schema) as writer:
        for i, start in enumerate(range(0, rows, block)):
            rng = np.random.default_rng(i)
            n = min(block, rows - start)
            y = rng.choice(k, size=n, p=prior)
            logits = rng.normal(size=(n, k))
            logits[np.arange(n), y] += 1.5
            s = np.exp(logits)
            s /= s.sum(axis=1, keepdims=True)
            cols = {"y_true": y.astype(np.int32), "y_pred": s.argmax(axis=1).astype(np.int32)}
            cols |= {f"score_{j}": s[:, j] for j in range(k)}
            writer.write_table(pa.table(cols, schema))


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=float, default=1e7)
    ap.add_argument("--small", type=float, default=1e6)
    ap.add_argument("--classes", type=int, default=10)
    ap.add_argument("--resamples", type=int, default=2000)
    ap.add_argument("--limit", default="500MB", help="DuckDB's memory limit")
    ap.add_argument("--dir", default=None, help="where to write the files (default: a temp dir)")
    args = ap.parse_args(argv)
    big, small, k = int(args.rows), int(args.small), args.classes
    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        small_path, big_path = Path(tmp) / "small.parquet", Path(tmp) / "big.parquet"
        write_parquet(small_path, small, k)
        write_parquet(big_path, big, k)
        print(
            f"K = {k}, distinct scores, B = {args.resamples}; Parquet files: {small:,} rows "
            f"({small_path.stat().st_size / 2**20:.0f} MiB), {big:,} rows "
            f"({big_path.stat().st_size / 2**20:.0f} MiB); DuckDB limit {args.limit}"
        )
        mem, duck, _ = bench_duckdb.three_runs(small_path, big_path, small, big, args)
    diff = max(abs(a - b) for a, b in zip(mem["auc"], duck["auc"]))
    print(f"macro ROC AUC and interval, duckdb vs memory at {small:,} rows: max |diff| {diff:.1e}")


if __name__ == "__main__":
    main()
