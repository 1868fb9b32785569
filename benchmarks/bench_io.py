"""Reading a large predictions CSV: pandas' C engine next to pyarrow's reader, in the same run.

    .venv/bin/python benchmarks/bench_io.py [--n 1000000] [--k 10] [--repeat 3] [--keep PATH]

Writes an N-row CSV with y_true, y_pred and K score columns (12 columns by default; the scores are
written as pandas writes floats, up to 17 significant digits), then times

* the C engine, ``pd.read_csv(text, keep_default_na=False, na_values=[""], low_memory=False)``:
  what prevalens reads a CSV with when pyarrow's result could differ;
* pyarrow as prevalens uses it (``prevalens.io._read_csv_arrow``: labels read as text and typed
  by the C engine from their distinct values, scores parsed as float64);
* for reference, ``pd.read_csv(..., engine="pyarrow")`` with the same options (not used by
  prevalens: its type inference differs from the C engine's);
* ``load_predictions`` end to end, with and without the pyarrow path.

Before printing, the script checks that both paths give the same frame (labels equal with their
dtype, scores bit for bit) and the same Predictions. Times are the best of ``--repeat`` runs. Not a
test: no threshold, nothing is asserted about speed.
"""

from __future__ import annotations

import argparse
import csv
import io
import os
import platform
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
from _timing import best_of

import prevalens
from prevalens import io as pio


def write_csv(path, n, k, seed):
    rng = np.random.default_rng(seed)
    labels = np.array([f"class_{j}" for j in range(k)])
    scores = rng.dirichlet(np.ones(k), n)
    df = pd.DataFrame(
        {"y_true": labels[rng.integers(0, k, n)], "y_pred": labels[scores.argmax(axis=1)]}
    )
    for j, label in enumerate(labels):
        df[f"score_{label}"] = scores[:, j]
    df.to_csv(path, index=False)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=1_000_000)
    ap.add_argument("--k", type=int, default=10, help="score columns (classes)")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--seed", type=int, default=20261125)
    ap.add_argument("--keep", help="write the CSV here and keep it (default: a temporary file)")
    args = ap.parse_args(argv)

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(args.keep) if args.keep else Path(tmp) / "predictions.csv"
        write_csv(path, args.n, args.k, args.seed)
        data = path.read_bytes()
        text = data.decode("utf-8-sig")
        header = next(csv.reader(io.StringIO(text[: text.index("\n") + 1])))
        roles = pio._Roles()

        def c_engine():
            return pd.read_csv(
                io.StringIO(text), keep_default_na=False, na_values=[""], low_memory=False
            )

        def arrow_as_used():
            return pio._read_csv_arrow(data, header, roles)

        def pandas_pyarrow_engine():
            return pd.read_csv(
                io.BytesIO(data), keep_default_na=False, na_values=[""], engine="pyarrow"
            )

        t_c, frame_c = best_of(c_engine, args.repeat)
        t_a, frame_a = best_of(arrow_as_used, args.repeat)
        t_p, _ = best_of(pandas_pyarrow_engine, args.repeat)
        if frame_a is None:
            raise SystemExit("the pyarrow path declined this file (it would use the C engine)")
        pd.testing.assert_frame_equal(frame_a, frame_c[frame_a.columns.tolist()], check_exact=True)

        t_load_a, pred_a = best_of(lambda: prevalens.load_predictions(path), args.repeat)
        original = pio._read_csv_arrow
        pio._read_csv_arrow = lambda *a, **kw: None  # every CSV through the C engine
        try:
            t_load_c, pred_c = best_of(lambda: prevalens.load_predictions(path), args.repeat)
        finally:
            pio._read_csv_arrow = original
        assert pred_a.classes == pred_c.classes
        for name in ("y_true", "y_pred", "y_score"):
            np.testing.assert_array_equal(getattr(pred_a, name), getattr(pred_c, name))

    size = len(data) / 2**20
    print(
        f"read a CSV of {args.n:,} rows x {args.k + 2} columns ({args.k} score columns, "
        f"{size:.0f} MiB; python {platform.python_version()}, pandas {pd.__version__}, "
        f"pyarrow {pa.__version__}, {os.cpu_count()} CPUs, prevalens {prevalens.__version__})"
    )
    print(f"  pandas C engine (prevalens' fallback):            {t_c:7.2f} s")
    print(f"  pyarrow as prevalens uses it (same frame):        {t_a:7.2f} s")
    print(f"  ratio C engine / pyarrow path: {t_c / t_a:.1f}x   (frames identical)")
    print(
        f"  for reference, pd.read_csv(engine='pyarrow'):     {t_p:7.2f} s  "
        "(not used: it types some labels differently)"
    )
    print(
        f"  load_predictions end to end: {t_load_c:.2f} s with the C engine, "
        f"{t_load_a:.2f} s with the pyarrow path ({t_load_c / t_load_a:.1f}x; same Predictions)"
    )


if __name__ == "__main__":
    main()
