"""Auditing a Parquet file larger than memory with the DuckDB engine (not a test).

Labels only, K = 100, the long-tailed generator of ``bench_scale.py``, B = 2000 replicates. The
file is written in blocks of 1e7 rows (never whole in memory). Each audit runs in a fresh
subprocess, so that its peak resident memory (``ru_maxrss``) is its own:

* ``memory``: ``load_predictions`` + ``audit_predictions``, the rows in memory (at ``--small``
  rows only; the large file is not meant to fit);
* ``duckdb``: ``engines.duckdb.count_file`` (DuckDB's memory limit ``--limit``, default 2 GB) +
  ``audit_predictions``, at ``--small`` rows and at ``--rows`` rows.

It prints each run's time and peak memory, and the ratios measured in the same run: DuckDB
against in memory at ``--small`` rows, and the large count against the small one. Target (issue
12): 1e8 rows within 4 GB.

With ``--format csv`` the files are CSV with text labels ("class 17") instead of Parquet with
integer codes: the same runs, what the engine costs when every row must be parsed.

Run: ``python benchmarks/bench_duckdb.py [--rows 1e8] [--small 1e7] [--limit 2GB]
[--format parquet|csv] [--dir DIR]``
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

CHILD = r"""
import json, resource, sys, time, warnings
warnings.simplefilter("ignore")
import prevalens
from prevalens.audit import audit_predictions
from prevalens.budget import parse_size
engine, path, resamples, limit = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
t0 = time.perf_counter()
if engine == "memory":
    pred = prevalens.load_predictions(path)
else:
    from prevalens.engines.duckdb import count_file
    pred = count_file(path, max_memory=parse_size(limit, name="limit"))
t1 = time.perf_counter()
result = audit_predictions(pred, seed=1, n_resamples=resamples)
t2 = time.perf_counter()
print(json.dumps({
    "read": t1 - t0, "audit": t2 - t1, "total": t2 - t0,
    "peak": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
    "n": pred.n_samples, "macro_recall": result.averages["macro"]["recall"].estimate,
    "auc": [getattr(e, a) for e in [result.averages["macro"].get("roc_auc")] if e is not None
            for a in ("estimate", "ci_low", "ci_high")],
}))
"""


def write_parquet(path: Path, rows: int, k: int = 100, block: int = 10_000_000) -> None:
    """``rows`` rows of (y_true, y_pred) as int32 codes, written a block at a time."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from bench_scale import long_tailed_labels

    schema = pa.schema([("y_true", pa.int32()), ("y_pred", pa.int32())])
    with pq.ParquetWriter(str(path), schema, compression="zstd") as writer:
        for i, start in enumerate(range(0, rows, block)):
            n = min(block, rows - start)
            y, p = long_tailed_labels(n, k, seed=i)
            writer.write_table(
                pa.table({"y_true": y.astype(np.int32), "y_pred": p.astype(np.int32)}, schema)
            )


def write_csv(path: Path, rows: int, k: int = 100, block: int = 10_000_000) -> None:
    """``rows`` rows of text labels ("class 17"), written a block at a time."""
    import pyarrow as pa
    import pyarrow.csv as pcsv

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from bench_scale import long_tailed_labels

    names = np.array([f"class {i}" for i in range(k)], dtype=object)
    with path.open("wb") as fh:
        for i, start in enumerate(range(0, rows, block)):
            n = min(block, rows - start)
            y, p = long_tailed_labels(n, k, seed=i)
            table = pa.table({"y_true": names[y], "y_pred": names[p]})
            options = pcsv.WriteOptions(include_header=i == 0, quoting_style="none")
            pcsv.write_csv(table, fh, options)


def run(engine: str, path: Path, resamples: int, limit: str, child: str = CHILD) -> dict:
    """One audit in a fresh subprocess running ``child``; its JSON line."""
    out = subprocess.run(
        [sys.executable, "-c", child, engine, str(path), str(resamples), limit],
        check=True,
        capture_output=True,
        text=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def _gb(x: float) -> str:
    return f"{x / 2**30:.2f} GiB"


def three_runs(small_path: Path, big_path: Path, small: int, big: int, args, child: str = CHILD):
    """In memory and with DuckDB at ``small`` rows, with DuckDB at ``big`` rows, each in a fresh
    process: print each run and the ratios measured in this one run; return the three results."""
    runs = {
        ("memory", small): run("memory", small_path, args.resamples, args.limit, child),
        ("duckdb", small): run("duckdb", small_path, args.resamples, args.limit, child),
        ("duckdb", big): run("duckdb", big_path, args.resamples, args.limit, child),
    }
    for (engine, n), r in runs.items():
        assert r["n"] == n
        print(
            f"{engine:>7} {n:>13,} rows: read/count {r['read']:7.1f} s, audit {r['audit']:5.1f} s, "
            f"total {r['total']:7.1f} s, peak {_gb(r['peak'])}"
        )
    mem, duck, duck_big = runs.values()
    print(
        f"duckdb / memory at {small:,} rows: time {duck['total'] / mem['total']:.2f}, "
        f"peak memory {duck['peak'] / mem['peak']:.2f}"
    )
    print(f"duckdb at {big:,} / {small:,} rows: time {duck_big['total'] / duck['total']:.2f}")
    return mem, duck, duck_big


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=float, default=1e8)
    ap.add_argument("--small", type=float, default=1e7)
    ap.add_argument("--resamples", type=int, default=2000)
    ap.add_argument("--limit", default="2GB", help="DuckDB's memory limit")
    ap.add_argument("--format", choices=("parquet", "csv"), default="parquet")
    ap.add_argument("--dir", default=None, help="where to write the files (default: a temp dir)")
    args = ap.parse_args(argv)
    big, small = int(args.rows), int(args.small)
    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        ext = args.format
        small_path, big_path = Path(tmp) / f"small.{ext}", Path(tmp) / f"big.{ext}"
        write = write_parquet if ext == "parquet" else write_csv
        write(small_path, small)
        write(big_path, big)
        print(
            f"K = 100, labels only, B = {args.resamples}; {ext} files: {small:,} rows "
            f"({small_path.stat().st_size / 2**20:.0f} MiB), {big:,} rows "
            f"({big_path.stat().st_size / 2**20:.0f} MiB)"
        )
        mem, duck, duck_big = three_runs(small_path, big_path, small, big, args)
    assert mem["macro_recall"] == duck["macro_recall"]  # the same numbers
    print(f"duckdb at {big:,} rows within 4 GB: {'yes' if duck_big['peak'] <= 4 * 2**30 else 'NO'}")


if __name__ == "__main__":
    main()
