"""How report rendering scales with the number of classes (not a test).

Audits seeded long-tailed data with K in {10, 100, 1000} classes (n = 20 K samples, scores,
B = 200), then times in the same run, for each K: the figures and report model, the HTML, the PDF
(WeasyPrint) and the exports, and prints each K's time as a ratio to K = 10 plus the PDF's page
count and size. The report caps its tables (60 rows) and switches the confusion matrix to the
worst classes above K = 30, so the PDF should grow far slower than K.

Run: ``python benchmarks/bench_report.py [--classes 10,100,1000] [--out DIR]``
(``--out`` keeps the PDFs, to look at them).
"""

from __future__ import annotations

import argparse
import time
import warnings
from pathlib import Path

import numpy as np

import prevalens as pv
from prevalens.exports import export_files
from prevalens.report.model import build_figures, build_report_model
from prevalens.report.render import render_html, render_report


def make(k: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    n = 20 * k
    p = 1.0 / np.arange(1, k + 1) ** 1.1
    p /= p.sum()
    y = np.concatenate([np.arange(k), rng.choice(k, size=n - k, p=p)])
    logits = rng.normal(size=(n, k))
    logits[np.arange(n), y] += np.linspace(3.0, 0.5, k)[y]
    s = np.exp(logits - logits.max(axis=1, keepdims=True))
    s /= s.sum(axis=1, keepdims=True)
    labels = [f"class {i:04d}" for i in range(k)]
    lab = np.array(labels, dtype=object)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return pv.audit(lab[y], y_score=s, labels=labels, n_resamples=200, seed=1).to_dict()


def timed(fn):
    t = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--classes", default="10,100,1000")
    ap.add_argument("--out", type=Path)
    args = ap.parse_args()
    rows = []
    for k in (int(x) for x in args.classes.split(",")):
        # each lambda is timed at once, inside this iteration: binding late is what we want
        d, t_audit = timed(lambda: make(k))  # noqa: B023
        figures, t_fig = timed(lambda: build_figures(d))  # noqa: B023
        model, t_model = timed(lambda: build_report_model(d, figures=figures))  # noqa: B023
        html, t_html = timed(lambda: render_html(model))  # noqa: B023
        outputs, t_all = timed(lambda: render_report(d, formats=("html", "pdf")))  # noqa: B023
        _, t_exp = timed(lambda: export_files(d, ("csv", "md", "tex")))  # noqa: B023
        pdf = outputs["report.pdf"]
        pages = pdf.count(b"/Type /Page\n") or pdf.count(b"/Type/Page")
        if args.out:
            args.out.mkdir(parents=True, exist_ok=True)
            (args.out / f"report_k{k}.pdf").write_bytes(pdf)
        rows.append((k, t_audit, t_fig, t_model, t_html, t_all, t_exp, len(pdf), pages))
        print(
            f"K={k}: audit {t_audit:.1f} s, figures {t_fig:.2f} s, model {t_model:.2f} s, "
            f"html {t_html:.2f} s, html+pdf (all stages) {t_all:.1f} s, exports {t_exp:.2f} s, "
            f"pdf {len(pdf) / 1e6:.2f} MB",
            flush=True,
        )
    base = rows[0]
    print("\nratios to K =", base[0])
    print(f"{'K':>6} {'figures':>8} {'html':>8} {'html+pdf':>9} {'exports':>8} {'pdf size':>9}")
    for r in rows:
        print(
            f"{r[0]:>6} {r[2] / base[2]:>8.2f} {r[4] / base[4]:>8.2f} {r[5] / base[5]:>9.2f} "
            f"{r[6] / base[6]:>8.2f} {r[7] / base[7]:>9.2f}"
        )


if __name__ == "__main__":
    main()
