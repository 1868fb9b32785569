"""Snapshot every output of a few seeded audits, to check that a change leaves the numbers alone.

Writes, for each case, results.json, report.html, the PDF's text (pdftotext -layout), summary.md,
tables.tex, per_class.csv and headline.csv into OUT/<case>/. Run it before and after a change and
compare the two folders with ``scripts/snapshot_outputs.py --compare BEFORE AFTER``; the
comparison lists every file that differs and, for results.json, every JSON path whose value
changed (numbers compared exactly).

Cases: the bundled example (with two gates), labels only (K = 12, long tail), with scores
(K = 8), with a cluster column (K = 6), and K = 100 labels only. Every case runs the command line
in-process with a fixed seed and SOURCE_DATE_EPOCH, so the outputs are byte-identical run to run.

Run: python scripts/snapshot_outputs.py OUT        (needs poppler's pdftotext)
     python scripts/snapshot_outputs.py --compare BEFORE AFTER
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd

EPOCH = "1796000000"
FORMATS = "json,html,pdf,csv,md,tex"


def _long_tail(rng, n, k, decay, accuracy):
    p = decay ** np.arange(k)
    p /= p.sum()
    y_true = rng.choice(k, size=n, p=p)
    # rare classes are recalled less often: the founding scenario
    acc = accuracy * (0.55 + 0.45 * (p / p.max()) ** 0.25)
    hit = rng.random(n) < acc[y_true]
    y_pred = np.where(hit, y_true, rng.choice(k, size=n, p=p))
    return y_true, y_pred


def _scores(rng, y_true, y_pred, k):
    logits = rng.normal(0, 1, size=(y_true.size, k))
    logits[np.arange(y_true.size), y_true] += 1.6
    logits[np.arange(y_true.size), y_pred] += 1.2
    e = np.exp(logits - logits.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def cases(tmp: Path) -> dict[str, list[str]]:
    rng = np.random.default_rng(20261206)
    out = {}
    out["example"] = [
        "--example",
        "--model-name",
        "logistic regression (example)",
        "--gate",
        "micro.f1 >= 0.85",
        "--gate",
        "macro.roc_auc >= 0.95",
    ]

    yt, yp = _long_tail(rng, 3000, 12, 0.62, 0.9)
    f = tmp / "labels.csv"
    pd.DataFrame({"y_true": [f"c{v:02d}" for v in yt], "y_pred": [f"c{v:02d}" for v in yp]}).to_csv(
        f, index=False
    )
    out["labels"] = [str(f)]

    yt, yp = _long_tail(rng, 2000, 8, 0.6, 0.85)
    s = _scores(rng, yt, yp, 8)
    frame = pd.DataFrame({"y_true": yt, "y_pred": yp})
    for j in range(8):
        frame[f"score_{j}"] = s[:, j]
    f = tmp / "scores.csv"
    frame.to_csv(f, index=False, float_format="%.17g")
    out["scores"] = [str(f)]

    n_cl = 300
    size = rng.integers(1, 8, size=n_cl)
    cl = np.repeat(np.arange(n_cl), size)
    base_t, base_p = _long_tail(rng, n_cl, 6, 0.65, 0.85)
    yt = base_t[cl]
    flip = rng.random(cl.size) < 0.15
    yp = np.where(flip, rng.integers(0, 6, cl.size), base_p[cl])
    s = _scores(rng, yt, yp, 6)
    frame = pd.DataFrame({"y_true": yt, "y_pred": yp, "patient": [f"p{c}" for c in cl]})
    for j in range(6):
        frame[f"score_{j}"] = s[:, j]
    f = tmp / "cluster.csv"
    frame.to_csv(f, index=False, float_format="%.17g")
    out["cluster"] = [str(f), "--cluster", "patient"]

    yt, yp = _long_tail(rng, 20000, 100, 0.955, 0.9)
    f = tmp / "k100.csv"
    pd.DataFrame({"y_true": yt, "y_pred": yp}).to_csv(f, index=False)
    out["k100"] = [str(f), "--n-resamples", "500"]
    return out


def snapshot(out: Path) -> None:
    from prevalens.cli import main

    os.environ["SOURCE_DATE_EPOCH"] = EPOCH
    out.mkdir(parents=True, exist_ok=True)
    os.chdir(out)  # relative --out-dir: the recorded command does not name OUT
    tmp = Path("_inputs")  # relative: the recorded input paths do not name OUT
    tmp.mkdir(exist_ok=True)
    if True:
        for name, args in cases(tmp).items():
            d = out / name
            code = main(
                ["audit", *args, "--out-dir", name, "--format", FORMATS, "--seed", "7", "--quiet"]
            )
            if code not in (0, 1):
                raise SystemExit(f"{name}: prevalens audit exited {code}")
            pdf = d / "report.pdf"
            text = subprocess.run(
                ["pdftotext", "-layout", str(pdf), "-"], check=True, capture_output=True, text=True
            ).stdout
            (d / "report.pdf.txt").write_text(text, "utf-8")
            pdf.unlink()
            print(f"{name}: exit {code}, {len(list(d.iterdir()))} files")


def _diff_json(a, b, path=""):
    if type(a) is not type(b) and not (isinstance(a, (int, float)) and isinstance(b, (int, float))):
        yield f"{path}: {a!r} -> {b!r}"
    elif isinstance(a, dict):
        for k in list(a) + [k for k in b if k not in a]:
            if k not in b:
                yield f"{path}/{k}: removed"
            elif k not in a:
                yield f"{path}/{k}: added"
            else:
                yield from _diff_json(a[k], b[k], f"{path}/{k}")
    elif isinstance(a, list):
        if len(a) != len(b):
            yield f"{path}: length {len(a)} -> {len(b)}"
        for i, (x, y) in enumerate(zip(a, b)):
            yield from _diff_json(x, y, f"{path}/{i}")
    elif a != b:
        yield f"{path}: {a!r} -> {b!r}"


def compare(before: Path, after: Path) -> int:
    differ = 0
    for case in sorted(p.name for p in before.iterdir() if p.is_dir() and p.name != "_inputs"):
        for f in sorted((before / case).iterdir()):
            g = after / case / f.name
            if not g.exists():
                print(f"{case}/{f.name}: missing after")
                differ += 1
                continue
            if f.read_bytes() == g.read_bytes():
                continue
            differ += 1
            print(f"{case}/{f.name}: differs")
            if f.suffix == ".json":
                for line in list(_diff_json(json.loads(f.read_text()), json.loads(g.read_text())))[
                    :40
                ]:
                    print("   ", line)
    print("identical" if not differ else f"{differ} file(s) differ")
    return 1 if differ else 0


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "--compare":
        raise SystemExit(compare(Path(sys.argv[2]), Path(sys.argv[3])))
    if len(sys.argv) != 2:
        raise SystemExit(__doc__)
    snapshot(Path(sys.argv[1]).resolve())
