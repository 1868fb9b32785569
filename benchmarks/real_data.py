"""Audit public data sets as a user would: out-of-fold predictions of scikit-learn models on three
mlbench data sets, each written in prevalens' input format and audited through the public API.

What it is for
--------------
Checking what prevalens' findings *say* on real classifiers and real class imbalance, not only on
simulated data. Issue 11 of the project asks: "Audit the three real data sets above in a test or a
script of benchmarks/, and say in your note what the findings now read". This script is that
audit. It is not a test: nothing is asserted, the output is read by a person (or compared with a
saved copy of an earlier run).

Data and provenance
-------------------
The data come from the R package mlbench (Leisch & Dimitriadou; GPL-2), which packages copies of
UCI Machine Learning Repository data sets:

* ``Shuttle``: the Statlog (Shuttle) data, NASA, via UCI: 58,000 rows, 9 numeric features,
  7 classes, extremely imbalanced (``Rad.Flow`` 45,586 rows, ``Bpv.Close`` 10, ``Bpv.Open`` 13).
* ``LetterRecognition``: the Letter Recognition data of D. J. Slate, via UCI: 20,000 rows,
  16 integer features, 26 nearly balanced classes (734 to 813 rows each).
* ``Soybean``: the Soybean (Large) data of R. S. Michalski and R. L. Chilausky, via UCI: 683 rows,
  35 categorical features with many missing values, 19 classes (8 to 92 rows each).

Licence note: the data are *not* redistributed with prevalens. They are exported at run time
from the locally installed mlbench package (``Rscript -e 'library(mlbench); data(Shuttle);
write.csv(Shuttle, ...)'``) into a cache directory outside the repository, and the prediction
files are written there too (or where ``--predictions`` says); never commit them. See the UCI
pages of the data sets and mlbench's documentation for their terms and citations.

What it does
------------
1. Exports the three data sets to CSV (reusing the cache when present).
2. Fits scikit-learn models with 5-fold stratified cross-validation (fixed seeds) and writes each
   model's out-of-fold predictions as a predictions CSV (``row_id``, ``y_true``, ``y_pred``,
   ``score_<label>`` probabilities written with ``%.17g``):

   * Shuttle: random forest (100 trees) and Gaussian naive Bayes;
   * Letter: standardised multinomial logistic regression;
   * Soybean: histogram gradient boosting and logistic regression (same rows, same ``row_id``);
   * Soybean labels only, with one ``y_true`` typo (``brwon-spot`` for one ``brown-spot`` row),
     and with a leading space in one label (`` brown-spot``);
   * pathological inputs derived from the Soybean gradient-boosting file: score columns rotated
     by one (``y_pred`` still correct), labels off by one (1-based integer truth against 0-based
     integer predictions, labels only and with 0-based score columns), hard one-hot scores, and
     only the rows of one true class.
3. Audits each file with ``prevalens.load_predictions`` and ``prevalens.audit_predictions``
   (``AuditConfig(seed=1, n_resamples=2000)``), capturing warnings, and prints per file: samples,
   classes, headline micro/macro recall and F1 with intervals, the rarest classes, the findings
   (severity and text), the warnings and the time taken.
4. With ``--out DIR``, also writes each audit's outputs with the CLI (``prevalens audit FILE
   --out-dir DIR/NAME``) for inspection.

How to run
----------
::

    nice -n 10 .venv/bin/python benchmarks/real_data.py [--cache DIR] [--predictions DIR] [--out DIR]

Needs ``Rscript`` with the mlbench package (Debian/Ubuntu: ``apt-get install r-cran-mlbench``)
and the development extras (scikit-learn, pandas). Takes a few minutes on two cores, most of it the
Shuttle random forest and the audits of the files with scores.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import sklearn
from sklearn.ensemble import HistGradientBoostingClassifier, RandomForestClassifier
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold
from sklearn.naive_bayes import GaussianNB
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, OrdinalEncoder, StandardScaler
from threadpoolctl import threadpool_limits

import prevalens

SEED = 20261125  # folds and models
AUDIT_SEED = 1  # prevalens' bootstrap
N_RESAMPLES = 2000
N_FOLDS = 5

# file stem -> (mlbench object name, name of its class column)
DATASETS = {
    "shuttle": ("Shuttle", "Class"),
    "letter": ("LetterRecognition", "lettr"),
    "soybean": ("Soybean", "Class"),
}


class SetupError(RuntimeError):
    """A missing tool or package: reported as one line, without a traceback."""


# ---------------------------------------------------------------------------------------------
# 1. data


def default_cache() -> Path:
    """The default cache directory.

    Returns
    -------
    Path
        ``$XDG_CACHE_HOME/prevalens-benchmarks`` (``~/.cache/prevalens-benchmarks`` when the
        variable is unset), or ``<system temp dir>/prevalens-benchmarks`` when there is no home.
    """
    base = os.environ.get("XDG_CACHE_HOME")
    if base:
        return Path(base) / "prevalens-benchmarks"
    try:
        return Path.home() / ".cache" / "prevalens-benchmarks"
    except RuntimeError:  # no home directory
        return Path(tempfile.gettempdir()) / "prevalens-benchmarks"


def export_dataset(stem: str, cache: Path) -> Path:
    """Export one mlbench data set to ``cache/<stem>.csv`` with Rscript, unless already there.

    Parameters
    ----------
    stem : str
        A key of :data:`DATASETS` (``shuttle``, ``letter`` or ``soybean``).
    cache : Path
        The cache directory (created if missing).

    Returns
    -------
    Path
        The CSV file (written by R's ``write.csv``, ``row.names=FALSE``; missing values as ``NA``).

    Raises
    ------
    SetupError
        When Rscript is not on the PATH or the mlbench package is not installed.
    """
    name, _ = DATASETS[stem]
    path = cache / f"{stem}.csv"
    if path.is_file() and path.stat().st_size > 0:
        return path
    rscript = shutil.which("Rscript")
    if rscript is None:
        raise SetupError(
            "Rscript not found: install R (e.g. apt-get install r-base-core) "
            "and the mlbench package (apt-get install r-cran-mlbench)"
        )
    cache.mkdir(parents=True, exist_ok=True)
    tmp = cache / f".{stem}.csv.tmp"
    # The path goes to R as a command-line argument, not pasted into the R code.
    expr = (
        f"library(mlbench); data({name}); "
        f"write.csv({name}, commandArgs(trailingOnly=TRUE)[1], row.names=FALSE)"
    )
    proc = subprocess.run([rscript, "-e", expr, str(tmp)], capture_output=True, text=True)
    if proc.returncode != 0:
        tmp.unlink(missing_ok=True)
        if "no package called" in proc.stderr and "mlbench" in proc.stderr:
            raise SetupError(
                "the R package mlbench is not installed: apt-get install "
                "r-cran-mlbench (or install.packages('mlbench') in R)"
            )
        last = proc.stderr.strip().splitlines()[-1] if proc.stderr.strip() else "no message"
        raise SetupError(f"Rscript failed to export {name}: {last}")
    tmp.replace(path)
    return path


def load_dataset(stem: str, cache: Path) -> tuple[pd.DataFrame, np.ndarray]:
    """Read an exported data set as features and labels.

    Parameters
    ----------
    stem : str
        A key of :data:`DATASETS`.
    cache : Path
        The cache directory holding ``<stem>.csv``.

    Returns
    -------
    X : DataFrame
        The features: numbers for Shuttle and Letter; strings with NaN for the missing values
        for Soybean (its features are R factors).
    y : ndarray of str
        The class labels, as R writes the factor levels.
    """
    _, target = DATASETS[stem]
    path = export_dataset(stem, cache)
    # Only R's NA is missing; every other cell is kept as written.
    frame = pd.read_csv(
        path, keep_default_na=False, na_values=["NA"], dtype=str if stem == "soybean" else None
    )
    y = frame.pop(target).astype(str).to_numpy()
    return frame, y


# ---------------------------------------------------------------------------------------------
# 2. models and out-of-fold predictions


def make_model(kind: str):
    """A scikit-learn estimator by name, with its preprocessing and fixed seed.

    Parameters
    ----------
    kind : str
        ``rf`` (random forest, 100 trees), ``nb`` (Gaussian naive Bayes), ``logreg``
        (standardised logistic regression), ``soy_hgb`` (most-frequent imputation, ordinal codes,
        histogram gradient boosting) or ``soy_logreg`` (most-frequent imputation, one-hot,
        logistic regression).

    Returns
    -------
    estimator
        An unfitted estimator with ``predict_proba``.
    """
    if kind == "rf":
        return RandomForestClassifier(n_estimators=100, random_state=SEED, n_jobs=1)
    if kind == "nb":
        return GaussianNB()
    if kind == "logreg":
        return make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000))
    if kind == "soy_hgb":
        return make_pipeline(
            SimpleImputer(strategy="most_frequent"),
            OrdinalEncoder(handle_unknown="use_encoded_value", unknown_value=-1),
            HistGradientBoostingClassifier(random_state=SEED),
        )
    if kind == "soy_logreg":
        return make_pipeline(
            SimpleImputer(strategy="most_frequent"),
            OneHotEncoder(handle_unknown="ignore"),
            LogisticRegression(max_iter=2000),
        )
    raise ValueError(f"`kind` must be one of rf, nb, logreg, soy_hgb, soy_logreg, got {kind!r}")


def out_of_fold_proba(kind: str, X: pd.DataFrame, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Out-of-fold class probabilities from stratified K-fold cross-validation.

    Parameters
    ----------
    kind : str
        The model, as for :func:`make_model`.
    X : DataFrame
        Features.
    y : ndarray
        Labels.

    Returns
    -------
    classes : ndarray
        The sorted classes, the column order of ``proba``.
    proba : ndarray, shape (n, K)
        Row i holds the probabilities from the model fitted on the folds that do not contain i.

    Notes
    -----
    ``StratifiedKFold(5, shuffle=True, random_state=SEED)``: every class has at least 8 rows in
    these data, so every training fold holds every class; the columns are still aligned through
    each fitted model's ``classes_`` so that a missing class would get probability 0.
    """
    classes = np.unique(y)
    proba = np.zeros((len(y), len(classes)))
    folds = StratifiedKFold(n_splits=N_FOLDS, shuffle=True, random_state=SEED)
    for train, test in folds.split(X, y):
        model = make_model(kind).fit(X.iloc[train], y[train])
        cols = np.searchsorted(classes, model.classes_)
        proba[np.ix_(test, cols)] = model.predict_proba(X.iloc[test])
    return classes, proba


def predictions_frame(y_true, y_pred, scores=None, classes=None) -> pd.DataFrame:
    """A predictions table in prevalens' input format.

    Parameters
    ----------
    y_true, y_pred : array-like
        True and predicted labels.
    scores : ndarray, shape (n, K), optional
        Scores, one column per class in ``classes`` order; omitted for a labels-only file.
    classes : sequence, optional
        Labels of the score columns (``score_<label>``).

    Returns
    -------
    DataFrame
        Columns ``row_id`` (0-based row of the exported data set), ``y_true``, ``y_pred`` and the
        ``score_<label>`` columns.
    """
    frame = pd.DataFrame({"row_id": np.arange(len(y_true)), "y_true": y_true, "y_pred": y_pred})
    if scores is not None:
        for j, label in enumerate(classes):
            frame[f"score_{label}"] = scores[:, j]
    return frame


def write_predictions(frame: pd.DataFrame, path: Path) -> Path:
    """Write a predictions table as CSV, floats with ``%.17g`` (round-trip exact).

    Parameters
    ----------
    frame : DataFrame
        As from :func:`predictions_frame`.
    path : Path
        The file to write (its directory is created).

    Returns
    -------
    Path
        ``path``.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    frame.to_csv(tmp, index=False, float_format="%.17g")
    tmp.replace(path)
    return path


def derived_files(base: pd.DataFrame, classes: np.ndarray) -> dict[str, pd.DataFrame]:
    """The typo and pathological variants of one predictions table.

    Parameters
    ----------
    base : DataFrame
        A predictions table with scores (the Soybean gradient-boosting file).
    classes : ndarray
        Its classes, in score-column order.

    Returns
    -------
    dict of str to DataFrame
        ``soybean_typo`` and ``soybean_space`` (labels only: one ``brown-spot`` truth written
        ``brwon-spot`` or `` brown-spot``); ``soybean_rotated`` (score columns shifted by one
        class, ``y_pred`` unchanged); ``soybean_offbyone`` and ``soybean_offbyone_scores``
        (classes coded 1..K in ``y_true`` and 0..K-1 in ``y_pred`` and the score columns);
        ``soybean_onehot`` (scores replaced by the one-hot ``y_pred``); ``soybean_single``
        (only the rows whose truth is the most frequent class, all score columns kept).
    """
    labels = base[["row_id", "y_true", "y_pred"]]
    scores = base[[f"score_{c}" for c in classes]].to_numpy()
    first = int(np.flatnonzero(base["y_true"].to_numpy() == "brown-spot")[0])
    out = {}

    typo = labels.copy()
    typo.loc[first, "y_true"] = "brwon-spot"
    out["soybean_typo"] = typo
    space = labels.copy()
    space.loc[first, "y_true"] = " brown-spot"
    out["soybean_space"] = space

    rotated = base.copy()
    rotated[[f"score_{c}" for c in classes]] = np.roll(scores, 1, axis=1)
    out["soybean_rotated"] = rotated

    code = {c: i for i, c in enumerate(classes)}
    truth1 = base["y_true"].map(code).to_numpy() + 1
    pred0 = base["y_pred"].map(code).to_numpy()
    out["soybean_offbyone"] = predictions_frame(truth1, pred0)
    out["soybean_offbyone_scores"] = predictions_frame(truth1, pred0, scores, range(len(classes)))

    onehot = np.zeros_like(scores)
    onehot[np.arange(len(base)), pred0] = 1.0
    out["soybean_onehot"] = predictions_frame(base["y_true"], base["y_pred"], onehot, classes)

    top = base["y_true"].value_counts().index[0]
    out["soybean_single"] = base[base["y_true"] == top].reset_index(drop=True)
    return out


# (file name, data set, model kind, description)
MODEL_FILES = [
    ("shuttle_rf", "shuttle", "rf", "Shuttle, random forest (100 trees)"),
    ("shuttle_nb", "shuttle", "nb", "Shuttle, Gaussian naive Bayes"),
    ("letter_logreg", "letter", "logreg", "Letter, standardised logistic regression"),
    ("soybean_hgb", "soybean", "soy_hgb", "Soybean, histogram gradient boosting"),
    ("soybean_logreg", "soybean", "soy_logreg", "Soybean, logistic regression (one-hot)"),
]
DERIVED_DESCRIPTIONS = {
    "soybean_typo": "Soybean HGB labels, one y_true 'brown-spot' written 'brwon-spot'",
    "soybean_space": "Soybean HGB labels, one y_true 'brown-spot' written ' brown-spot'",
    "soybean_rotated": "Soybean HGB, score columns rotated by one class (y_pred correct)",
    "soybean_offbyone": "Soybean HGB labels coded 1..19 in y_true, 0..18 in y_pred",
    "soybean_offbyone_scores": "as soybean_offbyone, with score columns score_0..score_18",
    "soybean_onehot": "Soybean HGB with hard one-hot scores of y_pred",
    "soybean_single": "Soybean HGB, only the rows of the most frequent true class",
}


ALL_FILES = [name for name, *_ in MODEL_FILES] + list(DERIVED_DESCRIPTIONS)


def make_predictions(
    cache: Path, pred_dir: Path, reuse: bool, only: set[str] | None = None
) -> list[tuple[str, Path, str]]:
    """Export the data, fit the models and write the predictions files.

    Parameters
    ----------
    cache : Path
        Where the exported data sets are (or go).
    pred_dir : Path
        Where the predictions CSVs go.
    reuse : bool
        Keep predictions files that already exist instead of refitting.
    only : set of str, optional
        Names of the files wanted (default: all of :data:`ALL_FILES`). The derived files need
        ``soybean_hgb``, which is then fitted too (and audited only when named).

    Returns
    -------
    list of (name, path, description)
        The wanted predictions files, in the order they are audited.

    Notes
    -----
    Model fitting runs with one thread (OpenMP and BLAS, through threadpoolctl): on a shared
    machine, histogram gradient boosting's OpenMP threads otherwise spin against other jobs and
    the Soybean fit went from about a minute to fourteen.
    """
    only = set(ALL_FILES) if only is None else only
    derived = [n for n in DERIVED_DESCRIPTIONS if n in only]
    fit = [m for m in MODEL_FILES if m[0] in only or (derived and m[0] == "soybean_hgb")]
    files = []
    data = {}
    for stem in dict.fromkeys(m[1] for m in fit):
        t0 = time.perf_counter()
        fresh = not (cache / f"{stem}.csv").is_file()
        data[stem] = load_dataset(stem, cache)
        X, y = data[stem]
        print(
            f"data {stem:8s} {len(y):6d} rows, {X.shape[1]:2d} features, "
            f"{len(np.unique(y)):2d} classes  ({'exported' if fresh else 'cached'}, "
            f"{time.perf_counter() - t0:.1f} s)",
            flush=True,
        )
    for name, stem, kind, description in fit:
        path = pred_dir / f"{name}.csv"
        if name in only:
            files.append((name, path, description))
        if reuse and path.is_file():
            print(f"fit  {name:24s} reused {path}", flush=True)
            continue
        t0 = time.perf_counter()
        X, y = data[stem]
        with threadpool_limits(limits=1):
            classes, proba = out_of_fold_proba(kind, X, y)
        frame = predictions_frame(y, classes[proba.argmax(axis=1)], proba, classes)
        write_predictions(frame, path)
        acc = float(np.mean(frame["y_true"] == frame["y_pred"]))
        print(
            f"fit  {name:24s} 5-fold out-of-fold, accuracy {acc:.4f}  "
            f"({time.perf_counter() - t0:.1f} s)",
            flush=True,
        )
    if derived:
        base = pd.read_csv(pred_dir / "soybean_hgb.csv", keep_default_na=False, na_values=[""])
        classes = np.array([c[len("score_") :] for c in base.columns if c.startswith("score_")])
        for name, frame in derived_files(base, classes).items():
            if name in only:
                path = write_predictions(frame, pred_dir / f"{name}.csv")
                files.append((name, path, DERIVED_DESCRIPTIONS[name]))
    print(f"wrote {len(files)} predictions files to {pred_dir}", flush=True)
    return files


# ---------------------------------------------------------------------------------------------
# 3. audits


def fmt_est(e, digits: int = 4) -> str:
    """An estimate with its interval, ``0.9120 [0.9010, 0.9221]``, or its status when undefined.

    Parameters
    ----------
    e : prevalens.Estimate or None
        The estimate.
    digits : int
        Decimals.

    Returns
    -------
    str
    """
    if e is None:
        return "-"
    if e.estimate is None or not np.isfinite(e.estimate):
        return f"undefined ({e.note or e.status})"
    if e.ci_low is None or e.ci_high is None:
        return f"{e.estimate:.{digits}f} [no interval] ({e.status})"
    tail = "" if e.status == "ok" else f" ({e.status})"
    return f"{e.estimate:.{digits}f} [{e.ci_low:.{digits}f}, {e.ci_high:.{digits}f}]{tail}"


def warning_lines(caught) -> list[str]:
    """Distinct warnings as ``Category: message`` lines, in the order first raised.

    Parameters
    ----------
    caught : list of warnings.WarningMessage
        As recorded by ``warnings.catch_warnings(record=True)``.

    Returns
    -------
    list of str
    """
    seen = []
    for w in caught:
        line = f"{w.category.__name__}: {w.message}"
        if line not in seen:
            seen.append(line)
    return seen


def audit_file(name: str, path: Path, description: str) -> None:
    """Load and audit one predictions file through prevalens' public API and print a summary.

    Parameters
    ----------
    name : str
        Short name of the file.
    path : Path
        The predictions CSV.
    description : str
        What the file holds.
    """
    print(f"\n=== {name}: {description}")
    print(f"    file: {path}")
    t0 = time.perf_counter()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            pred = prevalens.load_predictions(path)
            result = prevalens.audit_predictions(
                pred, prevalens.AuditConfig(seed=AUDIT_SEED, n_resamples=N_RESAMPLES)
            )
        except prevalens.PrevalensError as exc:
            print(f"    refused ({type(exc).__name__}): {exc}")
            for line in warning_lines(caught):
                print(f"    warning: {line}")
            print(f"    time: {time.perf_counter() - t0:.1f} s")
            return
    elapsed = time.perf_counter() - t0
    data = result.data
    print(
        f"    samples: {data.n_samples}   classes: {len(data.classes)}   "
        f"scores: {'probabilities' if data.scores_are_probabilities else 'yes' if data.has_scores else 'no'}"
        f"   y_pred from: {data.pred_source}"
    )
    av = result.averages
    for metric in ("recall", "f1"):
        print(
            f"    {metric:6s}  micro {fmt_est(av['micro'].get(metric))}   "
            f"macro {fmt_est(av['macro'].get(metric))}"
        )
    if data.has_scores:
        ov = result.overall
        print(
            f"    scores  macro ROC AUC {fmt_est(av['macro'].get('roc_auc'))}   "
            f"log loss {fmt_est(ov.get('log_loss'))}"
        )
    rarest = sorted(result.per_class, key=lambda c: (c.support, str(c.label)))[:5]
    print("    rarest classes (support: recall, F1, flags):")
    for c in rarest:
        flags = f"  [{', '.join(c.flags)}]" if c.flags else ""
        print(
            f"      {c.label!r:30} {c.support:5d}: recall {fmt_est(c.metrics.get('recall'), 3)}"
            f", F1 {fmt_est(c.metrics.get('f1'), 3)}{flags}"
        )
    print(f"    findings ({len(result.findings)}):")
    for f in result.findings:
        print(f"      [{f.severity.upper()}] ({f.id}) {f.text}")
    notes = getattr(result, "notes", ())
    print(f"    notes ({len(notes)}):" + ("" if notes else " none"))
    for n in notes:
        print(f"      ({n.kind}) {n.text}")
    lines = warning_lines(caught)
    print(f"    warnings ({len(lines)}):" + ("" if lines else " none"))
    for line in lines:
        print(f"      {line}")
    print(f"    time: {elapsed:.1f} s (load and audit, B = {N_RESAMPLES})", flush=True)


def write_outputs(name: str, path: Path, out_dir: Path, formats: str) -> None:
    """Write one audit's outputs with the command-line interface, for inspection.

    Parameters
    ----------
    name : str
        Short name of the file (the output subdirectory).
    path : Path
        The predictions CSV.
    out_dir : Path
        The parent output directory.
    formats : str
        ``--format`` of ``prevalens audit``.
    """
    target = out_dir / name
    cmd = [
        sys.executable,
        "-m",
        "prevalens",
        "audit",
        str(path),
        "--out-dir",
        str(target),
        "--seed",
        str(AUDIT_SEED),
        "--n-resamples",
        str(N_RESAMPLES),
        "--format",
        formats,
        "--model-name",
        name,
        "--quiet",
    ]
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True)
    status = "written" if proc.returncode == 0 else f"exit {proc.returncode}"
    err = proc.stderr.strip().splitlines()
    print(
        f"    outputs: {target} ({status}, {time.perf_counter() - t0:.1f} s)"
        + (f": {err[-1]}" if proc.returncode != 0 and err else ""),
        flush=True,
    )


def main(argv=None) -> int:
    """Run the benchmark: data, predictions, audits.

    Parameters
    ----------
    argv : list of str, optional
        Command-line arguments (default: ``sys.argv[1:]``).

    Returns
    -------
    int
        0 on success, 2 when R or mlbench is missing.
    """
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument(
        "--cache",
        type=Path,
        default=None,
        help=f"where the exported data sets are kept (default: {default_cache()})",
    )
    ap.add_argument(
        "--predictions",
        type=Path,
        default=None,
        help="where the predictions CSVs go (default: CACHE/predictions)",
    )
    ap.add_argument(
        "--out",
        type=Path,
        default=None,
        help="also write each audit's outputs with the CLI into OUT/<file name>/",
    )
    ap.add_argument(
        "--format",
        default="json,html,md",
        help="--format of prevalens audit for --out (default: json,html,md)",
    )
    ap.add_argument(
        "--reuse-predictions",
        action="store_true",
        help="keep existing model predictions files instead of refitting",
    )
    ap.add_argument(
        "--only",
        default=None,
        help="make and audit only these files (comma-separated, e.g. shuttle_rf); "
        "known: " + ", ".join(ALL_FILES),
    )
    args = ap.parse_args(argv)
    cache = args.cache or default_cache()
    pred_dir = args.predictions or cache / "predictions"

    only = None
    if args.only:
        only = set(args.only.split(","))
        if only - set(ALL_FILES):
            print(
                f"real_data.py: unknown --only name(s) {sorted(only - set(ALL_FILES))}; "
                f"known: {', '.join(ALL_FILES)}",
                file=sys.stderr,
            )
            return 2
    print(
        f"prevalens {prevalens.__version__}, scikit-learn {sklearn.__version__}, "
        f"seeds: folds/models {SEED}, "
        f"audit {AUDIT_SEED}, B = {N_RESAMPLES}"
    )
    t0 = time.perf_counter()
    try:
        files = make_predictions(cache, pred_dir, args.reuse_predictions, only)
    except SetupError as exc:
        print(f"real_data.py: {exc}", file=sys.stderr)
        return 2
    print(f"data and predictions: {time.perf_counter() - t0:.1f} s")
    t1 = time.perf_counter()
    for name, path, description in files:
        audit_file(name, path, description)
        if args.out is not None:
            write_outputs(name, path, args.out, args.format)
    print(f"\naudits: {time.perf_counter() - t1:.1f} s; total {time.perf_counter() - t0:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
