"""Generate the bundled example: long-tailed handwritten-digit predictions with real scores.

Provenance: scikit-learn's copy of the UCI ML hand-written digits data (1,797 8x8 images, 10
classes, ~180 per class; `sklearn.datasets.load_digits`, shipped inside scikit-learn, no download).

Procedure (seeded; rerunning this script reproduces the CSV byte for byte with the same versions):
1. Split every class 40% / 60% into a training pool and an evaluation pool.
2. Give the classes a long tail: class j in a fixed random order keeps round(n0 * 0.68**j) samples
   of each pool, so prevalence runs from about 30% down to under 1% in the evaluation set, and the
   rare classes are rare in training too (as in deployment).
3. Train a multinomial logistic regression on standardised pixels of the long-tailed training set.
4. Predict the evaluation set: y_pred is the classifier's label, score_<class> its probabilities
   (written with 17 significant digits so rows sum to 1 within 1e-15).

Run: python scripts/make_example.py  (needs scikit-learn: the dev extra)
"""

from __future__ import annotations

import csv
import io
import sys
from pathlib import Path

import numpy as np
from sklearn.datasets import load_digits
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

SEED = 20261125
DECAY = 0.68
NAMES = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]
OUT = Path(__file__).resolve().parents[1] / "src" / "prevalens" / "data" / "example_digits.csv"


def main() -> int:
    rng = np.random.default_rng(SEED)
    X, y = load_digits(return_X_y=True)
    order = rng.permutation(10)  # which digit is most common, second, ...
    train_idx, eval_idx = [], []
    for rank, digit in enumerate(order):
        idx = rng.permutation(np.flatnonzero(y == digit))
        n_train_pool = int(round(0.4 * idx.size))
        pool_train, pool_eval = idx[:n_train_pool], idx[n_train_pool:]
        keep_train = max(2, int(round(pool_train.size * DECAY**rank)))
        keep_eval = max(2, int(round(pool_eval.size * DECAY**rank)))
        train_idx.extend(pool_train[:keep_train])
        eval_idx.extend(pool_eval[:keep_eval])
    train_idx = np.array(sorted(train_idx))
    eval_idx = rng.permutation(np.array(eval_idx))

    model = make_pipeline(StandardScaler(), LogisticRegression(C=0.05, max_iter=5000))
    model.fit(X[train_idx], y[train_idx])
    proba = model.predict_proba(X[eval_idx])
    classes = list(model.classes_)
    pred = np.array(classes)[np.argmax(proba, axis=1)]

    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    score_order = sorted(range(10), key=lambda d: NAMES[d])
    w.writerow(["sample_id", "y_true", "y_pred"] + [f"score_{NAMES[d]}" for d in score_order])
    for i, p, row in zip(eval_idx, pred, proba):
        w.writerow(
            [f"digits-{i:04d}", NAMES[y[i]], NAMES[p]]
            + [repr(float(row[classes.index(d)])) for d in score_order]
        )
    OUT.write_text(buf.getvalue(), encoding="utf-8")
    counts = {NAMES[d]: int((y[eval_idx] == d).sum()) for d in order}
    acc = float(np.mean(pred == y[eval_idx]))
    print(
        f"wrote {OUT}: {eval_idx.size} rows, accuracy {acc:.3f}, counts {counts}", file=sys.stderr
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
