"""Input validation: every bad input is refused with one exact, one-line message, and the good
inputs (CSV, Parquet, DataFrame, arrays) all give the same validated Predictions.

The table of bad inputs follows SciPy's ``test_bootstrap_iv``: each row is an input and the exact
message it must produce (file, column and first offending row, and how to fix it). The command
line turns the same errors into exit code 2 (tests/test_cli.py).
"""

from __future__ import annotations

import csv
import hashlib
import io
import os
import random
import re
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import prevalens
from prevalens import InputError, load_predictions, predictions_from_arrays
from prevalens import io as pio

# --------------------------------------------------------------------------------------------
# helpers: how to build each bad input inside tmp_path


def csv_file(text: str, name: str = "preds.csv"):
    def make(tmp_path):
        path = tmp_path / name
        path.write_text(text, encoding="utf-8")
        return str(path)

    return make


def bytes_file(data: bytes, name: str = "preds.csv"):
    def make(tmp_path):
        path = tmp_path / name
        path.write_bytes(data)
        return str(path)

    return make


def missing_file(tmp_path):
    return str(tmp_path / "does-not-exist.csv")


def directory(tmp_path):
    path = tmp_path / "folder.csv"
    path.mkdir()
    return str(path)


def truncated_parquet(tmp_path):
    path = tmp_path / "preds.parquet"
    pd.DataFrame({"y_true": ["a", "b"] * 50, "y_pred": ["a", "b"] * 50}).to_parquet(path)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    return str(path)


def parquet_duplicate_columns(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = tmp_path / "preds.parquet"
    arrays = [pa.array(["a", "b"]), pa.array(["a", "b"]), pa.array(["a", "a"])]
    pq.write_table(pa.Table.from_arrays(arrays, names=["y_true", "y_pred", "y_pred"]), path)
    return str(path)


def frame(data, columns=None):
    return lambda tmp_path: pd.DataFrame(data, columns=columns)


class Re(str):
    """An expected message given as a regular expression (for text that comes from pandas or
    pyarrow and may change between their versions). ``{path}`` is replaced by the escaped path."""


def _pattern(expected: str, name: str) -> str:
    if isinstance(expected, Re):
        return "^" + str(expected).replace("{path}", re.escape(name)) + "$"
    return "^" + re.escape(expected.replace("{path}", name)) + "$"


# (id, build source, keyword arguments, exact message). {path} is the input's path.
BAD_INPUTS = [
    # -- the file itself
    ("missing-file", missing_file, {}, "{path}: file not found; check the path"),
    ("directory", directory, {}, "{path}: is a directory; give a CSV or Parquet file"),
    (
        "empty-file",
        bytes_file(b""),
        {},
        "{path}: file is empty; it needs a header and at least 2 data rows",
    ),
    (
        "blank-file",
        bytes_file(b"\n \n\n"),
        {},
        "{path}: file is empty; it needs a header and at least 2 data rows",
    ),
    (
        "empty-parquet",
        bytes_file(b"", "preds.parquet"),
        {},
        "{path}: file is empty; it needs a header and at least 2 data rows",
    ),
    (
        "latin-1",
        bytes_file("y_true,y_pred\na,a\ncafé,a\n".encode("latin-1")),
        {},
        "{path}: line 3: byte 0xe9 is not valid UTF-8; save the file as UTF-8",
    ),
    (
        "latin-1-header",
        bytes_file("y_true,y_prédit\na,a\nb,a\n".encode("latin-1")),
        {},
        "{path}: line 1: byte 0xe9 is not valid UTF-8; save the file as UTF-8",
    ),
    (
        "csv-unterminated-quote",
        csv_file('y_true,y_pred\na,a\nb,"b\n'),
        {},
        Re(r"{path}: not a readable CSV file \([^\n]+\)"),
    ),
    (
        "csv-too-many-fields",
        csv_file("y_true,y_pred\na,a\nb,b,c,d\n"),
        {},
        Re(r"{path}: not a readable CSV file \([^\n]*line 3[^\n]*\)"),
    ),
    (
        "parquet-garbage",
        bytes_file(b"PAR1 this is not parquet PAR1", "preds.parquet"),
        {},
        Re(r"{path}: not a readable Parquet file \([^\n]+\)"),
    ),
    (
        "parquet-truncated",
        truncated_parquet,
        {},
        Re(r"{path}: not a readable Parquet file \([^\n]+\)"),
    ),
    # -- columns
    (
        "no-y_true",
        csv_file("label,y_pred\na,a\nb,b\n"),
        {},
        "{path}: column 'y_true' not found (columns: 'label', 'y_pred'); "
        "name the true-label column 'y_true' or pass `y_true=`",
    ),
    (
        "no-custom-y_true",
        csv_file("y_true,y_pred\na,a\nb,b\n"),
        {"y_true": "truth"},
        "{path}: column 'truth' not found (columns: 'y_true', 'y_pred'); "
        "name the true-label column 'y_true' or pass `y_true=`",
    ),
    (
        "no-y_pred-no-scores",
        csv_file("y_true,other\na,a\nb,b\n"),
        {},
        "{path}: no predictions: column 'y_pred' is missing and there are no score columns; "
        "give predicted labels, scores, or both",
    ),
    (
        "duplicate-header",
        csv_file("y_true,y_pred,y_pred\na,a,a\nb,b,a\n"),
        {},
        "{path}: column 'y_pred' appears twice in the header; give each column once",
    ),
    (
        "duplicate-frame-columns",
        frame([["a", "a", "a"], ["b", "b", "a"]], ["y_true", "y_pred", "y_pred"]),
        {},
        "DataFrame: column 'y_pred' appears twice in the header; give each column once",
    ),
    (
        "duplicate-parquet-columns",
        parquet_duplicate_columns,
        {},
        "{path}: column 'y_pred' appears twice; give each column once",
    ),
    (
        "missing-cluster-column",
        csv_file("y_true,y_pred\na,a\nb,b\n"),
        {"cluster": "patient"},
        "{path}: cluster column 'patient' not found (columns: 'y_true', 'y_pred')",
    ),
    (
        "score-column-without-class",
        csv_file("y_true,score_,score_a\na,1,0\nb,0,1\n"),
        {},
        "{path}: column 'score_' has no class name after the prefix 'score_'; "
        "name score columns 'score_<label>'",
    ),
    # -- rows
    (
        "header-only",
        csv_file("y_true,y_pred\n"),
        {},
        "{path}: no data rows (only a header); the input needs at least 2 samples",
    ),
    (
        "single-row",
        csv_file("y_true,y_pred\na,a\n"),
        {},
        "{path}: only 1 data row; an audit needs at least 2 samples (rows)",
    ),
    (
        "empty-frame",
        frame({"y_true": [], "y_pred": []}),
        {},
        "DataFrame: no data rows (only a header); the input needs at least 2 samples",
    ),
    # -- labels
    (
        "empty-true-label",
        csv_file("y_true,y_pred\na,a\n,b\nb,b\n"),
        {},
        "{path}: column 'y_true' has a missing label at row 2 (line 3); "
        "every row needs a y_true value",
    ),
    (
        "blank-true-label",
        csv_file("y_true,y_pred\na,a\nb,b\n   ,b\n"),
        {},
        "{path}: column 'y_true' has a missing label at row 3 (line 4); "
        "every row needs a y_true value",
    ),
    (
        "empty-pred-label",
        csv_file("y_true,y_pred\na,a\nb,b\nb,\n"),
        {},
        "{path}: column 'y_pred' has a missing label at row 3 (line 4); "
        "every row needs a y_pred value",
    ),
    # pandas skips blank lines and a quoted cell may span lines: the line must still be right
    (
        "empty-label-after-blank-line",
        csv_file("y_true,y_pred\na,a\n\nb,b\n,b\n"),
        {},
        "{path}: column 'y_true' has a missing label at row 3 (line 5); "
        "every row needs a y_true value",
    ),
    (
        "empty-label-after-multiline-cell",
        csv_file('y_true,y_pred\n"a\nb",a\nb,b\n,b\n'),
        {},
        "{path}: column 'y_true' has a missing label at row 3 (line 5); "
        "every row needs a y_true value",
    ),
    (
        "nan-label-frame",
        frame({"y_true": ["a", None, "b"], "y_pred": ["a", "b", "b"]}),
        {},
        "DataFrame: column 'y_true' has a missing label at row 2; every row needs a y_true value",
    ),
    (
        "nan-label-float-frame",
        frame({"y_true": [1, 2, 2], "y_pred": [1.0, 2.0, np.nan]}),
        {},
        "DataFrame: column 'y_pred' has a missing label at row 3; every row needs a y_pred value",
    ),
    (
        "float-true-label",
        csv_file("y_true,y_pred\n1,1\n0.5,1\n"),
        {},
        "{path}: column 'y_true' holds the number 0.5 at row 2 (line 3); "
        "labels must be strings or integers",
    ),
    (
        "float-pred-label",
        csv_file("y_true,y_pred\n1,1.5\n0,1\n"),
        {},
        "{path}: column 'y_pred' holds the number 1.5 at row 1 (line 2); "
        "labels must be strings or integers",
    ),
    (
        "pred-outside-labels",
        csv_file("y_true,y_pred\na,a\nb,b\nb,c\n"),
        {"labels": ["a", "b"]},
        "{path}: column 'y_pred', row 3 (line 4): predicted label 'c' is not a known class "
        "('a', 'b'); add it to `labels=` or fix the row",
    ),
    (
        "true-outside-labels",
        csv_file("y_true,y_pred\na,a\nc,b\n"),
        {"labels": ["a", "b"]},
        "{path}: column 'y_true', row 2 (line 3): true label 'c' is not a known class "
        "('a', 'b'); add it to `labels=` or fix the row",
    ),
    (
        "int-pred-outside-labels",
        csv_file("y_true,y_pred\n1,1\n2,3\n"),
        {"labels": [1, 2]},
        "{path}: column 'y_pred', row 2 (line 3): predicted label 3 is not a known class "
        "(1, 2); add it to `labels=` or fix the row",
    ),
    (
        "duplicate-labels",
        csv_file("y_true,y_pred\na,a\nb,b\n"),
        {"labels": ["a", "b", "a"]},
        "`labels` lists 'a' twice; give each class once",
    ),
    (
        "empty-labels",
        csv_file("y_true,y_pred\na,a\nb,b\n"),
        {"labels": []},
        "`labels` is empty; give at least one class label or leave it unset",
    ),
    (
        "labels-as-string",
        csv_file("y_true,y_pred\na,a\nb,b\n"),
        {"labels": "ab"},
        "`labels` must be a list of class labels, got 'ab'",
    ),
    # -- scores
    (
        "score-nan-text",
        csv_file("y_true,score_a,score_b\na,0.5,0.5\nb,nan,0.5\n"),
        {},
        "{path}: column 'score_a', row 2 (line 3): score 'nan' is not a finite number; "
        "every score must be a finite number",
    ),
    (
        "score-inf",
        csv_file("y_true,score_a,score_b\na,0.5,0.5\nb,0.5,inf\n"),
        {},
        "{path}: column 'score_b', row 2 (line 3): score inf is not a finite number; "
        "every score must be a finite number",
    ),
    (
        "score-text",
        csv_file("y_true,score_a,score_b\na,0.5,0.5\nb,high,0.5\n"),
        {},
        "{path}: column 'score_a', row 2 (line 3): score 'high' is not a finite number; "
        "every score must be a finite number",
    ),
    (
        "score-empty-cell",
        csv_file("y_true,score_a,score_b\na,0.5,0.5\nb,0.5,0.5\na,,1\n"),
        {},
        "{path}: column 'score_a', row 3 (line 4): score is missing (empty cell); "
        "every score must be a finite number",
    ),
    (
        "score-negative",
        csv_file("y_true,score_a,score_b\na,0.5,0.5\nb,1.1,-0.1\n"),
        {},
        "{path}: column 'score_b', row 2 (line 3): score -0.1 is negative; "
        "scores must be >= 0 (apply a softmax to logits first)",
    ),
    (
        "score-column-unknown-class",
        csv_file("y_true,y_pred,score_a,score_b,score_c\na,a,1,0,0\nb,b,0,1,0\n"),
        {"labels": ["a", "b"]},
        "{path}: score column 'score_c' is for class 'c', which is not in `labels=` ('a', 'b'); "
        "remove the column or add the class",
    ),
    (
        "score-column-missing-labels",
        csv_file("y_true,y_pred,score_a,score_b\na,a,1,0\nb,b,0,1\n"),
        {"labels": ["a", "b", "c"]},
        "{path}: no score column for class 'c'; add column 'score_c' or drop every score column",
    ),
    (
        "score-column-missing-data",
        csv_file("y_true,y_pred,score_a\na,a,1\nb,b,0\n"),
        {},
        "{path}: no score column for class 'b'; add column 'score_b' or drop every score column",
    ),
    (
        "score-column-missing-prefix",
        csv_file("y_true,y_pred,p_a\na,a,1\nb,b,0\n"),
        {"score_prefix": "p_"},
        "{path}: no score column for class 'b'; add column 'p_b' or drop every score column",
    ),
    (
        "two-score-columns-one-class",
        csv_file("y_true,y_pred,score_1,score_01\n1,1,0.5,0.5\n1,1,0.5,0.5\n"),
        {},
        "{path}: two score columns name class 1; give one score column per class",
    ),
    (
        "score-columns-mapping-missing",
        csv_file("y_true,y_pred,pa,pb\na,a,1,0\nb,b,0,1\n"),
        {"score_columns": {"a": "pa", "b": "prob_b"}},
        "{path}: score column 'prob_b' (for class 'b') not found (columns: 'y_true', 'y_pred', "
        "'pa', 'pb')",
    ),
    # -- clusters
    (
        "missing-cluster-id",
        csv_file("y_true,y_pred,patient\na,a,p1\nb,b,\n"),
        {"cluster": "patient"},
        "{path}: column 'patient' has a missing cluster id at row 2 (line 3); every row needs one",
    ),
]


@pytest.mark.parametrize(
    "make, kwargs, expected",
    [pytest.param(m, k, e, id=i) for i, m, k, e in BAD_INPUTS],
)
def test_bad_input_message(tmp_path, make, kwargs, expected):
    source = make(tmp_path)
    name = source if isinstance(source, str) else "DataFrame"
    with pytest.raises(InputError, match=_pattern(expected, name)) as info:
        load_predictions(source, **kwargs)
    message = str(info.value)
    assert "\n" not in message
    # Every input error is a PrevalensError (the CLI's exit code 2) and a ValueError.
    assert isinstance(info.value, prevalens.PrevalensError)
    assert isinstance(info.value, ValueError)


def test_permission_denied(tmp_path):
    path = tmp_path / "secret.csv"
    path.write_text("y_true,y_pred\na,a\nb,b\n")
    path.chmod(0)
    try:
        if os.access(path, os.R_OK):
            pytest.skip("running with privileges that read a mode-000 file (e.g. root)")
        expected = f"{path}: cannot be read (Permission denied); check its permissions"
        with pytest.raises(InputError, match="^" + re.escape(expected) + "$"):
            load_predictions(path)
    finally:
        path.chmod(0o600)


@pytest.mark.parametrize("method", ["read_bytes", "stat"])
def test_permission_denied_simulated(tmp_path, monkeypatch, method):
    # As root the test above is skipped; simulate the OS refusing to read the file (read_bytes)
    # or to look it up because a parent directory may not be searched (stat).
    import pathlib

    path = tmp_path / "secret.csv"
    path.write_text("y_true,y_pred\na,a\nb,b\n")
    original = getattr(pathlib.Path, method)

    def denied(self, *args, **kwargs):
        if self == path:
            raise PermissionError(13, "Permission denied", str(self))
        return original(self, *args, **kwargs)

    monkeypatch.setattr(pathlib.Path, method, denied)
    expected = f"{path}: cannot be read (Permission denied); check its permissions"
    with pytest.raises(InputError, match="^" + re.escape(expected) + "$"):
        load_predictions(str(path))


# (id, arrays keyword arguments, exact message)
BAD_ARRAYS = [
    (
        "unequal-y_pred",
        {"y_true": [1, 2, 3], "y_pred": [1, 2]},
        "arrays: `y_true` has 3 values but `y_pred` has 2; give one prediction per sample",
    ),
    (
        "unequal-y_score",
        {"y_true": [0, 1, 1], "y_score": [[1, 0], [0, 1]], "labels": [0, 1]},
        "arrays: `y_true` has 3 values but `y_score` has 2 rows; give one row of scores per sample",
    ),
    (
        "unequal-cluster",
        {"y_true": [0, 1, 1], "y_pred": [0, 1, 1], "cluster": [1, 2]},
        "arrays: `y_true` has 3 values but `cluster` has 2; give one cluster id per sample",
    ),
    ("y_true-none", {"y_true": None, "y_pred": [1, 2]}, "`y_true` is required"),
    (
        "y_true-2d",
        {"y_true": np.zeros((2, 2)), "y_pred": [1, 2]},
        "`y_true` must be 1-D, got shape (2, 2)",
    ),
    (
        "y_score-1d",
        {"y_true": [0, 1], "y_score": [0.2, 0.8]},
        "`y_score` must be 2-D (n_samples, n_classes), got shape (2,)",
    ),
    (
        "y_score-columns-vs-labels",
        {"y_true": [0, 1], "y_score": [[1, 0, 0], [0, 1, 0]], "labels": [0, 1]},
        "`y_score` has 3 columns but `labels` has 2 classes; "
        "give one score column per class, in the order of `labels`",
    ),
    (
        "y_score-columns-vs-data",
        {"y_true": [0, 1], "y_score": [[1, 0, 0], [0, 1, 0]]},
        "`y_score` has 3 columns but the labels hold 2 classes (0, 1); "
        "pass `labels=` to name the score columns' classes",
    ),
    (
        "y_score-text",
        {"y_true": [0, 1], "y_score": [["a", "b"], ["c", "d"]]},
        "`y_score` must hold numbers",
    ),
    (
        "y_score-nan",
        {"y_true": [0, 1], "y_score": [[0.5, 0.5], [np.nan, 1.0]]},
        "arrays: column 'y_score[:, 0]', row 2: score nan is not a finite number; "
        "every score must be a finite number",
    ),
    (
        "y_score-inf",
        {"y_true": [0, 1], "y_score": [[0.5, np.inf], [0.0, 1.0]]},
        "arrays: column 'y_score[:, 1]', row 1: score inf is not a finite number; "
        "every score must be a finite number",
    ),
    (
        "y_score-negative",
        {"y_true": [0, 1], "y_score": [[0.5, 0.5], [-2.0, 1.0]]},
        "arrays: column 'y_score[:, 0]', row 2: score -2.0 is negative; "
        "scores must be >= 0 (apply a softmax to logits first)",
    ),
    (
        "none-label",
        {"y_true": ["a", None, "b"], "y_pred": ["a", "b", "b"]},
        "arrays: column 'y_true' has a missing label at row 2; every row needs a y_true value",
    ),
    (
        "nan-label",
        {"y_true": [1, 2, 2], "y_pred": [1, 2, np.nan]},
        "arrays: column 'y_pred' has a missing label at row 3; every row needs a y_pred value",
    ),
    (
        "empty-string-label",
        {"y_true": ["a", "b", ""], "y_pred": ["a", "b", "b"]},
        "arrays: column 'y_true' has a missing label at row 3; every row needs a y_true value",
    ),
    # A list of floats must not turn into the text labels "0.5" and "1.0".
    (
        "float-label-list",
        {"y_true": [1.0, 0.5], "y_pred": [1, 1]},
        "arrays: column 'y_true' holds the number 0.5 at row 2; labels must be strings or integers",
    ),
    (
        "float-label-array",
        {"y_true": np.array([1.0, 2.0, 2.5]), "y_pred": [1, 2, 2]},
        "arrays: column 'y_true' holds the number 2.5 at row 3; labels must be strings or integers",
    ),
    (
        "pred-outside-labels",
        {"y_true": [0, 1], "y_pred": [0, 2], "labels": [0, 1]},
        "arrays: column 'y_pred', row 2: predicted label 2 is not a known class (0, 1); "
        "add it to `labels=` or fix the row",
    ),
    (
        "single-sample",
        {"y_true": [0], "y_pred": [0]},
        "arrays: only 1 data row; an audit needs at least 2 samples (rows)",
    ),
    (
        "no-samples",
        {"y_true": [], "y_pred": []},
        "arrays: no data rows; the input needs at least 2 samples",
    ),
    (
        "no-predictions",
        {"y_true": [0, 1]},
        "arrays: no predictions: column 'y_pred' is missing and there are no score columns; "
        "give predicted labels, scores, or both",
    ),
]


@pytest.mark.parametrize("kwargs, expected", [pytest.param(k, e, id=i) for i, k, e in BAD_ARRAYS])
def test_bad_arrays_message(kwargs, expected):
    kwargs = dict(kwargs)
    with pytest.raises(InputError, match=_pattern(expected, "arrays")) as info:
        predictions_from_arrays(kwargs.pop("y_true"), kwargs.pop("y_pred", None), **kwargs)
    assert "\n" not in str(info.value)


def test_bad_source_type():
    with pytest.raises(
        InputError,
        match=r"^`source` must be a file path, a pandas DataFrame or a "
        r"mapping of arrays, got int; for arrays use predictions_from_arrays",
    ):
        load_predictions(42)


def test_audit_refuses_the_same_inputs():
    # The public audit() validates through the same function: same message.
    with pytest.raises(InputError, match=r"^arrays: `y_true` has 3 values but `y_pred` has 2;"):
        prevalens.audit([1, 2, 3], [1, 2], n_resamples=0)


# --------------------------------------------------------------------------------------------
# good inputs


def _frame_int():
    rng = np.random.default_rng(3)
    n, labels = 40, np.array([1, 2, 10])  # 10 sorts after 2 as a number, before it as text
    y_true = labels[rng.integers(0, 3, n)]
    y_pred = labels[rng.integers(0, 3, n)]
    scores = rng.dirichlet(np.ones(3), n)
    df = pd.DataFrame({"y_true": y_true, "y_pred": y_pred})
    for j, lab in enumerate(labels):
        df[f"score_{lab}"] = scores[:, j]
    return df


def _frame_str():
    df = _frame_int()
    names = {1: "cat", 2: "dog", 10: "ant"}
    return pd.DataFrame(
        {
            "y_true": df["y_true"].map(names),
            "y_pred": df["y_pred"].map(names),
            **{f"score_{names[k]}": df[f"score_{k}"] for k in (1, 2, 10)},
        }
    )


def assert_same_predictions(a, b):
    assert a.classes == b.classes
    assert [type(c) for c in a.classes] == [type(c) for c in b.classes]
    np.testing.assert_array_equal(a.y_true, b.y_true)
    np.testing.assert_array_equal(a.y_pred, b.y_pred)
    if a.y_score is None:
        assert b.y_score is None
    else:
        np.testing.assert_array_equal(a.y_score, b.y_score)
    assert a.pred_source == b.pred_source
    assert a.scores_are_probabilities == b.scores_are_probabilities
    assert a.columns == b.columns
    assert a.task == b.task == "multiclass"


@pytest.mark.parametrize("make_frame", [_frame_int, _frame_str], ids=["int", "str"])
def test_csv_parquet_frame_and_arrays_agree(tmp_path, make_frame):
    df = make_frame()
    csv_path, pq_path = tmp_path / "p.csv", tmp_path / "p.parquet"
    df.to_csv(csv_path, index=False)
    df.to_parquet(pq_path, index=False)
    from_csv = load_predictions(csv_path)
    from_parquet = load_predictions(pq_path)
    from_frame = load_predictions(df)
    assert_same_predictions(from_csv, from_parquet)
    assert_same_predictions(from_csv, from_frame)
    # Arrays: scores in class order, which here is the sorted order of the labels.
    score_cols = [from_csv.columns["scores"][str(c)] for c in from_csv.classes]
    from_arrays = predictions_from_arrays(
        df["y_true"].to_numpy(), df["y_pred"].to_numpy(), y_score=df[score_cols].to_numpy()
    )
    assert from_arrays.classes == from_csv.classes
    assert (from_csv.pred_source, from_arrays.pred_source) == ("column", "array")
    np.testing.assert_array_equal(from_arrays.y_true, from_csv.y_true)
    np.testing.assert_array_equal(from_arrays.y_pred, from_csv.y_pred)
    np.testing.assert_array_equal(from_arrays.y_score, from_csv.y_score)
    # The codes decode back to the original labels.
    classes = np.array(from_csv.classes, dtype=object)
    assert list(classes[from_csv.y_true]) == df["y_true"].tolist()
    assert list(classes[from_csv.y_pred]) == df["y_pred"].tolist()


def test_mapping_source_equals_arrays():
    a = load_predictions({"y_true": ["x", "y", "x"], "y_pred": ["x", "x", "y"]})
    b = predictions_from_arrays(["x", "y", "x"], ["x", "x", "y"])
    assert_same_predictions(a, b)


def test_integer_labels_sort_as_numbers(tmp_path):
    path = tmp_path / "p.csv"
    path.write_text("y_true,y_pred\n10,2\n2,10\n1,1\n")
    pred = load_predictions(path)
    assert pred.classes == (1, 2, 10)
    assert all(type(c) is int for c in pred.classes)
    assert pred.y_true.tolist() == [2, 1, 0]
    assert pred.y_pred.tolist() == [1, 2, 0]


def test_string_labels_sort_as_text():
    pred = predictions_from_arrays(["b", "a", "B"], ["a", "a", "b"])
    assert pred.classes == ("B", "a", "b")
    assert all(type(c) is str for c in pred.classes)


def test_integral_floats_are_integer_labels():
    pred = predictions_from_arrays([1.0, 2.0, 1.0], [1, 2, 2])
    assert pred.classes == (1, 2)
    assert pred.y_pred.tolist() == [0, 1, 1]


def test_class_order_from_labels():
    pred = predictions_from_arrays(["a", "b", "c"], ["c", "b", "a"], labels=["c", "a", "b"])
    assert pred.classes == ("c", "a", "b")
    assert pred.y_true.tolist() == [1, 2, 0]
    assert pred.y_pred.tolist() == [0, 2, 1]


def test_csv_labels_keyword_sets_order_and_matches_text(tmp_path):
    path = tmp_path / "p.csv"
    path.write_text("y_true,y_pred,score_b,score_a\na,a,0.2,0.8\nb,a,0.4,0.6\n")
    pred = load_predictions(path, labels=["b", "a"])
    assert pred.classes == ("b", "a")
    # Score columns are reordered into class order.
    np.testing.assert_array_equal(pred.y_score, [[0.2, 0.8], [0.4, 0.6]])


def test_class_only_in_labels_is_kept_with_support_zero():
    pred = predictions_from_arrays(["a", "b", "a"], ["a", "b", "b"], labels=["a", "b", "z"])
    assert pred.classes == ("a", "b", "z")
    assert pred.counts().matrix.shape == (3, 3)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", prevalens.UndefinedMetricWarning)
        result = prevalens.audit_predictions(pred, prevalens.AuditConfig(n_resamples=0, seed=0))
    z = result.class_result("z")
    assert z.support == 0 and z.predicted == 0
    assert "absent" in z.flags
    assert z.metrics["recall"].status == "undefined"


def test_class_only_in_score_columns_is_kept_with_support_zero(tmp_path):
    path = tmp_path / "p.csv"
    path.write_text(
        "y_true,y_pred,score_a,score_b,score_c\n"
        "a,a,0.7,0.2,0.1\nb,b,0.2,0.7,0.1\na,b,0.4,0.5,0.1\nb,b,0.1,0.8,0.1\n"
    )
    pred = load_predictions(path)
    assert pred.classes == ("a", "b", "c")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", prevalens.UndefinedMetricWarning)
        result = prevalens.audit_predictions(pred, prevalens.AuditConfig(n_resamples=0, seed=0))
    c = result.class_result("c")
    assert (c.support, c.predicted, c.prevalence) == (0, 0, 0.0)
    assert result.data.n_samples == 4


def test_y_pred_absent_is_argmax_first_class_on_ties(tmp_path):
    path = tmp_path / "p.csv"
    path.write_text(
        "y_true,score_a,score_b,score_c\n"
        "a,0.2,0.5,0.3\n"  # clear maximum: b
        "b,0.4,0.4,0.2\n"  # tie a/b: the first class, a
        "c,0.2,0.4,0.4\n"  # tie b/c: b
        "c,0.0,0.0,1.0\n"
    )
    pred = load_predictions(path)
    assert pred.pred_source == "argmax"
    assert pred.columns["y_pred"] is None
    assert [pred.classes[i] for i in pred.y_pred] == ["b", "a", "b", "c"]
    # "First" means first in class order, so labels= decides ties.
    pred = load_predictions(path, labels=["c", "b", "a"])
    assert [pred.classes[i] for i in pred.y_pred] == ["b", "b", "c", "c"]


def test_y_pred_column_wins_over_scores(tmp_path):
    path = tmp_path / "p.csv"
    path.write_text("y_true,y_pred,score_a,score_b\na,b,0.9,0.1\nb,a,0.1,0.9\n")
    pred = load_predictions(path)
    assert pred.pred_source == "column"
    assert pred.y_pred.tolist() == [1, 0]


@pytest.mark.parametrize("token", ["NA", "null", "None", "NaN", "nan", "N/A", "#N/A", "-"])
def test_na_like_text_is_a_class_name_in_csv(tmp_path, token):
    path = tmp_path / "p.csv"
    path.write_text(f"y_true,y_pred\n{token},a\na,{token}\n{token},{token}\n")
    pred = load_predictions(path)
    assert set(pred.classes) == {token, "a"}
    assert pred.n_samples == 3


def test_utf8_bom_and_crlf_are_accepted(tmp_path):
    path = tmp_path / "p.csv"
    path.write_bytes("\ufeffy_true,y_pred\r\nå,å\r\nb,å\r\n".encode("utf-8"))
    pred = load_predictions(path)
    assert pred.classes == ("b", "å")
    assert pred.columns["y_true"] == "y_true"


def test_custom_column_names_and_score_mapping(tmp_path):
    path = tmp_path / "p.csv"
    path.write_text("truth,guess,prob_x,prob_y\nx,x,0.9,0.1\ny,x,0.6,0.4\ny,y,0.3,0.7\n")
    a = load_predictions(path, y_true="truth", y_pred="guess", score_prefix="prob_")
    b = load_predictions(
        path, y_true="truth", y_pred="guess", score_columns={"y": "prob_y", "x": "prob_x"}
    )
    assert_same_predictions(a, b)
    assert a.classes == ("x", "y")
    np.testing.assert_array_equal(a.y_score[:, 0], [0.9, 0.6, 0.3])


def test_non_probability_scores_give_ranking_metrics_and_undefined_log_loss():
    from sklearn.metrics import roc_auc_score

    y_true = ["a", "b", "c", "a", "b", "c", "a", "b"]
    scores = np.array(  # non-negative, rows do not sum to 1 (e.g. un-normalised votes)
        [[5, 1, 0], [2, 3, 1], [0, 1, 4], [3, 3, 0], [1, 6, 2], [2, 0, 2], [4, 1, 1], [0, 2, 1]],
        dtype=float,
    )
    pred = predictions_from_arrays(y_true, y_score=scores)
    assert not pred.scores_are_probabilities
    with pytest.warns(prevalens.ProbabilityWarning, match="not probabilities"):
        result = prevalens.audit(y_true, y_score=scores, n_resamples=0, seed=1)
    for name in ("log_loss", "brier"):
        e = result.overall[name]
        assert e.status == "undefined" and np.isnan(e.estimate)
        assert "probabilities" in e.note
    # defined, without an interval (n_resamples=0): never "ok" beside a missing bound
    assert result.overall["roc_auc_ovo"].status == "no_interval"
    for j, label in enumerate(("a", "b", "c")):
        expected = roc_auc_score(np.array(y_true) == label, scores[:, j])
        auc = result.class_result(label).metrics["roc_auc"].estimate
        assert auc == pytest.approx(expected, abs=1e-12)
    assert result.averages["macro"]["roc_auc"].status == "no_interval"
    assert result.data.has_scores and not result.data.scores_are_probabilities


def test_probability_scores_give_log_loss_without_warning():
    y_true = [0, 1, 2, 0]
    proba = np.array([[0.8, 0.1, 0.1], [0.2, 0.5, 0.3], [0.1, 0.1, 0.8], [0.4, 0.3, 0.3]])
    with warnings.catch_warnings():
        warnings.simplefilter("error", prevalens.ProbabilityWarning)
        result = prevalens.audit(y_true, y_score=proba, n_resamples=0, seed=1)
    assert result.data.scores_are_probabilities
    assert result.overall["log_loss"].status == "no_interval"
    # Hand-checkable: mean of -log(p_true) = -(log .8 + log .5 + log .8 + log .4) / 4.
    assert result.overall["log_loss"].estimate == pytest.approx(
        -(2 * np.log(0.8) + np.log(0.5) + np.log(0.4)) / 4, abs=1e-12
    )


@pytest.mark.parametrize("kind", ["csv", "parquet"])
def test_input_info_hash_and_rows(tmp_path, kind):
    df = _frame_str()
    path = tmp_path / f"p.{kind}"
    df.to_csv(path, index=False) if kind == "csv" else df.to_parquet(path, index=False)
    pred = load_predictions(path)
    (info,) = pred.inputs
    assert info.path == str(path)
    assert info.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
    assert info.rows == len(df) == pred.n_samples
    assert info.to_dict() == {"path": str(path), "sha256": info.sha256, "rows": len(df)}


def test_input_info_in_memory():
    (info,) = load_predictions(_frame_str()).inputs
    assert (info.path, info.sha256, info.rows) == (None, None, 40)


def test_cluster_column_is_factorised(tmp_path):
    path = tmp_path / "p.csv"
    path.write_text("y_true,y_pred,patient\na,a,p7\nb,a,p2\na,a,p7\nb,b,10\nb,b,p2\n")
    pred = load_predictions(path, cluster="patient")
    assert pred.cluster.tolist() == [0, 1, 0, 2, 1]  # codes 0..n-1 in order of first appearance
    assert pred.n_clusters == 3
    assert pred.columns["cluster"] == "patient"
    pred_arrays = predictions_from_arrays(["a", "b", "a"], ["a", "a", "a"], cluster=[5, 3, 5])
    assert pred_arrays.cluster.tolist() == [0, 1, 0]


def test_predictions_are_read_only():
    pred = predictions_from_arrays([0, 1, 1], [0, 1, 0])
    with pytest.raises(ValueError):
        pred.y_true[0] = 1


# --------------------------------------------------------------------------------------------
# large inputs: Parquet read column by column and hashed in chunks, CSV read with pyarrow when its
# result is provably the C engine's, and a file that does not fit in memory refused with advice


def _extra_columns_table(n=6):
    """The audit's columns between columns it does not need, one of which pandas cannot convert
    (a time64[ns] holding nanoseconds), plus a dictionary, a list, a struct and a map column."""
    return pa.table(
        {
            "note": pa.array(["x", "y"] * (n // 2)).dictionary_encode(),
            "y_true": ["a", "b", "c"] * (n // 3),
            "nested": pa.array([[1], [2, 3], None] * (n // 3)),
            "y_pred": ["a", "b", "b"] * (n // 3),
            "score_a": [0.7, 0.2, 0.1] * (n // 3),
            "meta": pa.array([{"u": 1, "v": "w"}] * n),
            "score_b": [0.2, 0.7, 0.6] * (n // 3),
            "clock": pa.array(list(range(1, n + 1)), type=pa.time64("ns")),
            "score_c": [0.1, 0.1, 0.3] * (n // 3),
            "tags": pa.array([[("k", 1)]] * n, type=pa.map_(pa.string(), pa.int64())),
            "patient": ["p1", "p2", "p1"] * (n // 3),
        }
    )


def _spy_parquet_reads(monkeypatch):
    calls = []
    original = pq.ParquetFile.read

    def read(self, columns=None, *args, **kwargs):
        calls.append(None if columns is None else list(columns))
        return original(self, columns, *args, **kwargs)

    monkeypatch.setattr(pq.ParquetFile, "read", read)
    return calls


@pytest.mark.parametrize(
    "kwargs, expected_columns",
    [
        ({}, ["y_true", "y_pred", "score_a", "score_b", "score_c"]),
        ({"cluster": "patient"}, ["y_true", "y_pred", "score_a", "score_b", "score_c", "patient"]),
        ({"y_pred": "absent"}, ["y_true", "score_a", "score_b", "score_c"]),
        (
            {"score_columns": {"b": "score_b", "a": "score_a", "c": "score_c"}},
            ["y_true", "y_pred", "score_a", "score_b", "score_c"],
        ),
        ({"score_prefix": ""}, ["y_true", "y_pred"]),
    ],
    ids=["default", "cluster", "no-y_pred", "score_columns", "no-scores"],
)
def test_parquet_reads_only_the_needed_columns(tmp_path, monkeypatch, kwargs, expected_columns):
    table = _extra_columns_table()
    with pytest.raises(pa.ArrowInvalid):  # the unrelated column really cannot become pandas
        table.select(["clock"]).to_pandas()
    path = tmp_path / "p.parquet"
    pq.write_table(table, path)
    calls = _spy_parquet_reads(monkeypatch)
    pred = load_predictions(path, **kwargs)
    assert calls == [expected_columns]  # in file order, nothing else read
    # The same as the needed columns given as a DataFrame.
    frame = table.select(expected_columns).to_pandas()
    assert_same_predictions(pred, load_predictions(frame, **kwargs))
    assert pred.inputs[0].rows == 6


def test_parquet_missing_column_names_every_column_of_the_file(tmp_path):
    # The message lists the file's columns, not only the ones read; the index pandas stored is not
    # a column (as when the whole file was read and converted).
    df = pd.DataFrame({"label": ["a", "b"], "y_pred": ["a", "b"], "extra": [1, 2]}, index=[5, 7])
    path = tmp_path / "p.parquet"
    df.to_parquet(path)
    assert "__index_level_0__" in pq.ParquetFile(path).schema_arrow.names
    expected = (
        f"{path}: column 'y_true' not found (columns: 'label', 'y_pred', 'extra'); "
        "name the true-label column 'y_true' or pass `y_true=`"
    )
    with pytest.raises(InputError, match="^" + re.escape(expected) + "$"):
        load_predictions(path)
    expected = f"{path}: cluster column 'patient' not found (columns: 'label', 'y_pred', 'extra')"
    with pytest.raises(InputError, match="^" + re.escape(expected) + "$"):
        load_predictions(path, y_true="label", cluster="patient")
    expected = (
        f"{path}: score column 'p_b' (for class 'b') not found "
        "(columns: 'label', 'y_pred', 'extra')"
    )
    with pytest.raises(InputError, match="^" + re.escape(expected) + "$"):
        load_predictions(path, y_true="label", score_columns={"b": "p_b"})


def test_parquet_index_column_named_like_a_role_is_not_a_column(tmp_path):
    df = pd.DataFrame({"y_true": ["a", "b"], "y_pred": ["a", "a"]}).set_index("y_true")
    path = tmp_path / "p.parquet"
    df.to_parquet(path)
    with pytest.raises(InputError, match=r"column 'y_true' not found \(columns: 'y_pred'\)"):
        load_predictions(path)


def test_parquet_dotted_column_name_is_that_column_not_a_nested_field(tmp_path):
    # pyarrow selects nested fields by dotted path: "score.a" also selects field a of struct
    # "score"; the scores must come from the top-level column of that name.
    table = pa.table(
        {
            "y_true": ["a", "b"],
            "y_pred": ["a", "a"],
            "score": pa.array([{"a": 0.9}, {"a": 0.1}]),
            "score.a": [0.8, 0.3],
            "score_b": [0.2, 0.7],
        }
    )
    path = tmp_path / "p.parquet"
    pq.write_table(table, path)
    pred = load_predictions(path, score_columns={"a": "score.a", "b": "score_b"})
    np.testing.assert_array_equal(pred.y_score, [[0.8, 0.2], [0.3, 0.7]])


@pytest.mark.parametrize("chunk", [7, 1 << 20])
def test_parquet_hash_is_streamed_over_the_file_bytes(tmp_path, monkeypatch, chunk):
    df = _frame_str()
    path = tmp_path / "p.parquet"
    df.to_parquet(path)
    monkeypatch.setattr(pio, "_HASH_CHUNK", chunk)

    def no_whole_read(self, *args, **kwargs):
        raise AssertionError("a Parquet file must not be read into memory whole")

    monkeypatch.setattr(Path, "read_bytes", no_whole_read)
    (info,) = load_predictions(path).inputs
    monkeypatch.undo()
    assert info.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
    assert info.rows == len(df)


def test_parquet_without_suffix_is_recognised_by_its_magic_bytes(tmp_path):
    df = _frame_str()
    path = tmp_path / "predictions.data"
    df.to_parquet(path)
    pred = load_predictions(path)
    assert_same_predictions(pred, load_predictions(df))
    assert pred.inputs[0].sha256 == hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.mark.parametrize("chunk", [3, 1 << 20])
def test_blank_parquet_file_is_empty(tmp_path, monkeypatch, chunk):
    monkeypatch.setattr(pio, "_HASH_CHUNK", chunk)
    path = tmp_path / "p.parquet"
    path.write_bytes(b" \n\t\n   \n")
    with pytest.raises(InputError, match=r"file is empty; it needs a header"):
        load_predictions(path)


# -- CSV: pyarrow's reader only when its result is the C engine's ----------------------------

# (id, CSV text, keyword arguments, whether the pyarrow path may read it). Labels are typed by the
# C engine (from their distinct values), so each case must give the same Predictions, or the same
# message, either way; "fallback" cases are the ones where pyarrow's result could differ.
CSV_ENGINE_CASES = [
    ("text", "y_true,y_pred\na,a\nb,a\n", {}, True),
    ("ints", "y_true,y_pred\n10,2\n2,10\n1,1\n", {}, True),
    ("leading-zero", "y_true,y_pred\n01,1\n2,02\n", {}, True),
    ("float-labels", "y_true,y_pred\n1.0,1\n2,2.0\n", {}, True),
    ("non-integral-float", "y_true,y_pred\n1,1\n0.5,1\n", {}, True),
    ("bool-words", "y_true,y_pred\nTrue,False\nFALSE,true\n", {}, True),
    ("bool-and-int", "y_true,y_pred\nTrue,1\n1,0\n", {}, True),
    ("mixed-int-str", "y_true,y_pred\n1,a\na,1\n", {}, True),
    ("na-tokens", "y_true,y_pred\nNA,null\nNone,N/A\n#N/A,-\n", {}, True),
    ("nan-labels", "y_true,y_pred\nnan,NaN\n1,nan\n", {}, True),
    ("inf-label", "y_true,y_pred\n1,inf\n2,1\n", {}, True),
    ("hex", "y_true,y_pred\n0x10,1\n16,0x10\n", {}, True),
    ("plus-sign", "y_true,y_pred\n+1,1\n-2,+1\n", {}, True),
    ("dates", "y_true,y_pred\n2020-01-01,2020-01-02\n2020-01-02,2020-01-01T10:00\n", {}, True),
    ("times", "y_true,y_pred\n10:00:00,11:00\n11:00,10:00:00\n", {}, True),
    ("uint64", "y_true,y_pred\n12345678901234567890,1\n1,1\n", {}, True),
    ("beyond-int64", "y_true,y_pred\n-9223372036854775809,1\n1,1\n", {}, True),
    ("spaces-around-ints", "y_true,y_pred\n 1,1 \n2,2\n", {}, True),
    ("spaces-around-text", "y_true,y_pred\n a,a \nb,b\n", {}, True),
    ("quoted-ints", 'y_true,y_pred\n"1","2"\n2,1\n', {}, True),
    ("quoted-comma", 'y_true,y_pred\n"a,b",a\na,"a,b"\n', {}, True),
    ("quoted-newline", 'y_true,y_pred\n"a\nb",a\na,"a\nb"\n', {}, True),
    ("doubled-quote", 'y_true,y_pred\n"say ""hi""",a\na,"say ""hi"""\n', {}, True),
    (
        "all-quoted",
        '"y_true","y_pred","score_a","score_b"\n"a","b",0.4,0.6\n"b","b",0.1,0.9\n',
        {},
        True,
    ),
    ("bom-crlf", "\ufeffy_true,y_pred\r\nå,å\r\nb,å\r\n", {}, True),
    ("crlf-quoted", '"y_true","y_pred"\r\n"a, b","a"\r\n"b","a, b"\r\n', {}, True),
    ("blank-lines", "y_true,y_pred\na,a\n\nb,b\n\n", {}, True),
    ("no-final-newline", "y_true,y_pred\na,a\nb,b", {}, True),
    ("unicode", "y_true,y_pred\n日本,å\nå,日本\n", {}, True),
    ("nul-byte", "y_true,y_pred\na\x00b,a\na,a\n", {}, True),
    (
        "cluster-ints-and-text",
        "y_true,y_pred,patient\na,a,p7\nb,a,10\na,a,p7\n",
        {"cluster": "patient"},
        True,
    ),
    ("scores", "y_true,score_a,score_b\na,0.25,0.75\nb,1e-3,.999\na,1,0\n", {}, True),
    ("scores-signs-spaces", "y_true,score_a,score_b\na, 0.25,+0.75 \nb,1.,0\n", {}, True),
    (
        "score-long-mantissa",
        "y_true,score_a,score_b\na,1.700000000000000177635684,0\nb,0,1\n",
        {},
        True,
    ),
    ("score-negative", "y_true,score_a,score_b\na,0.5,0.5\nb,1.1,-0.1\n", {}, True),
    ("unrelated-columns", 'note,y_true,other,y_pred\n,a,x,a\n"q""",b,,a\n', {}, True),
    # pyarrow's result could differ: the C engine reads these
    ("unterminated-quote", 'y_true,y_pred\na,a\nb,"b\n', {}, False),
    ("quoted-crlf", 'y_true,y_pred\r\n"a\r\nb",a\r\na,"a\r\nb"\r\n', {}, False),
    ("quoted-cr", 'y_true,y_pred\n"a\rb",a\na,"a\rb"\n', {}, False),
    ("quote-inside-field", 'y_true,y_pred\na"b,a\nb,b\n', {}, False),
    ("text-after-quote", 'y_true,y_pred\n"a"b,a\nb,b\n', {}, False),
    ("empty-label", "y_true,y_pred\na,a\n,b\n", {}, False),
    ("whitespace-line", "y_true,y_pred\na,a\n   \nb,b\n", {}, False),
    ("short-row", "y_true,y_pred\na\nb,b\n", {}, False),
    ("long-row", "y_true,y_pred\na,a,a\nb,b\n", {}, False),
    ("score-nan-text", "y_true,score_a,score_b\na,0.5,0.5\nb,nan,0.5\n", {}, False),
    ("score-inf", "y_true,score_a,score_b\na,0.5,0.5\nb,0.5,inf\n", {}, False),
    ("score-bool", "y_true,score_a,score_b\na,True,False\nb,False,True\n", {}, False),
    ("score-hex", "y_true,score_a,score_b\na,0x1,0\nb,0,1\n", {}, False),
    ("score-empty", "y_true,score_a,score_b\na,,1\nb,0,1\n", {}, False),
    ("unnamed-column", "y_true,,y_pred\na,1,a\nb,2,b\n", {}, False),
    ("header-only", "y_true,y_pred\n", {}, False),
    ("missing-y_true", "label,y_pred\na,a\nb,b\n", {}, False),
    ("single-column", "y_true\na\nb\n", {}, False),
]


def _load_both_ways(path, kwargs, monkeypatch):
    """load_predictions with the pyarrow path (at any file size) and with the C engine only.
    Returns (result or message) for each, and whether the pyarrow path read the file."""
    monkeypatch.setattr(pio, "_ARROW_CSV_MIN_BYTES", 0)
    original = pio._read_csv_arrow
    used = []

    def spy(*args, **kw):
        frame = original(*args, **kw)
        used.append(frame is not None)
        return frame

    def run():
        try:
            return load_predictions(path, **kwargs)
        except InputError as exc:
            return str(exc)
        except Exception as exc:  # noqa: BLE001 - e.g. OverflowError for a label beyond int64
            return f"{type(exc).__name__}: {exc}"

    monkeypatch.setattr(pio, "_read_csv_arrow", spy)
    fast = run()
    monkeypatch.setattr(pio, "_read_csv_arrow", lambda *args, **kw: None)
    slow = run()
    monkeypatch.setattr(pio, "_read_csv_arrow", original)
    return fast, slow, any(used)


def _assert_same_outcome(fast, slow):
    if isinstance(fast, str) or isinstance(slow, str):
        assert fast == slow
        return
    assert_same_predictions(fast, slow)
    assert fast.inputs == slow.inputs
    for name in ("y_true", "y_pred", "y_score", "cluster"):
        a, b = getattr(fast, name), getattr(slow, name)
        assert (a is None) == (b is None)
        if a is not None:
            assert a.dtype == b.dtype
            np.testing.assert_array_equal(a, b)


def _c_engine_frame(data: bytes) -> pd.DataFrame:
    return pd.read_csv(
        io.StringIO(data.decode("utf-8-sig")),
        keep_default_na=False,
        na_values=[""],
        low_memory=False,
    )


def _assert_frame_is_c_engines(data: bytes, kwargs: dict):
    """The pyarrow path's frame equals the C engine's, column by column: label columns with their
    dtype, score columns as the float64 values prevalens takes from them."""
    text = data.decode("utf-8-sig")
    header = next(csv.reader(io.StringIO(text)), [])
    roles = pio._Roles(**kwargs)
    frame = pio._read_csv_arrow(data, header, roles)
    if frame is None:
        return False
    expected = _c_engine_frame(data)
    assert isinstance(expected.index, pd.RangeIndex)
    assert list(frame.columns) == roles.select(header)
    for column in frame.columns:
        if column in roles.score_names(header):
            np.testing.assert_array_equal(
                frame[column].to_numpy(),
                pd.to_numeric(expected[column], errors="coerce").to_numpy(np.float64),
            )
        else:
            pd.testing.assert_series_equal(frame[column], expected[column], check_exact=True)
    return True


@pytest.mark.parametrize(
    "text, kwargs, arrow_reads",
    [pytest.param(t, k, a, id=i) for i, t, k, a in CSV_ENGINE_CASES],
)
def test_csv_engines_agree_on_tricky_labels(tmp_path, monkeypatch, text, kwargs, arrow_reads):
    path = tmp_path / "p.csv"
    path.write_bytes(text.encode("utf-8"))
    fast, slow, used = _load_both_ways(path, kwargs, monkeypatch)
    assert used == arrow_reads
    _assert_same_outcome(fast, slow)
    assert _assert_frame_is_c_engines(text.encode("utf-8"), kwargs) == arrow_reads


def test_small_csv_is_read_by_the_c_engine(tmp_path, monkeypatch):
    path = tmp_path / "p.csv"
    path.write_text("y_true,y_pred\na,a\nb,b\n")
    monkeypatch.setattr(pio, "_read_csv_arrow", lambda *a, **k: pytest.fail("pyarrow path used"))
    assert load_predictions(path).n_samples == 2


def test_large_csv_is_read_by_pyarrow(tmp_path, monkeypatch):
    # Above the size threshold, with the same result as the C engine (and quoted labels).
    monkeypatch.setattr(pio, "_ARROW_CSV_MIN_BYTES", 1 << 16)
    rng = np.random.default_rng(7)
    n = 3000
    labels = np.array(["cat, big", 'dog "x"', "multi\nline", "NA", "7"])
    scores = rng.dirichlet(np.ones(5), n)
    df = pd.DataFrame(
        {
            "y_true": labels[rng.integers(0, 5, n)],
            "y_pred": labels[scores.argmax(axis=1)],
            **{f"score_{label}": scores[:, j] for j, label in enumerate(labels)},
            "patient": rng.integers(0, 300, n),
        }
    )
    path = tmp_path / "p.csv"
    df.to_csv(path, index=False)
    assert path.stat().st_size > 1 << 16
    calls = []
    original = pio._read_csv_arrow
    monkeypatch.setattr(
        pio, "_read_csv_arrow", lambda *a, **k: calls.append(1) or original(*a, **k)
    )
    fast = load_predictions(path, cluster="patient")
    assert calls == [1]
    monkeypatch.setattr(pio, "_read_csv_arrow", lambda *a, **k: None)
    _assert_same_outcome(fast, load_predictions(path, cluster="patient"))
    assert fast.classes == ("7", "NA", "cat, big", 'dog "x"', "multi\nline")


_FUZZ_CELLS = [
    "a",
    "b",
    "1",
    "2",
    "01",
    "1.0",
    "+1",
    "-1",
    "0x10",
    "True",
    "true",
    "FALSE",
    "nan",
    "NaN",
    "inf",
    "NA",
    "null",
    "",
    " ",
    " 1",
    "1 ",
    "2020-01-01",
    "10:00:00",
    "12345678901234567890",
    "1e3",
    "0.5",
    ".5",
    "1.",
    '"a,b"',
    '"x\ny"',
    '"q""q"',
    '""',
    'a"b',
    '"a"b',
    "\t1",
    "é",
    "1_0",
    "\x0b1",
    "0.1234567890123456789",
    '"1"',
    "#c",
]
_FUZZ_SCORES = [
    "0.5",
    "0.25",
    "1",
    "0",
    "1e-3",
    ".5",
    "1.",
    "+0.5",
    " 0.5",
    "0.5 ",
    "3",
    "1.7000000000000001776",
    '"0.5"',
    "1E2",
]


def _fuzz_csv(rng: random.Random) -> bytes:
    names = ["y_true"] + rng.sample(
        ["y_pred", "score_a", "score_b", "other", "cluster"], rng.randint(1, 4)
    )
    if rng.random() < 0.2:
        names = [f'"{n}"' for n in names]
    newline = rng.choice(["\n", "\r\n", "\r"])
    lines = [",".join(names)]
    for _ in range(rng.randint(1, 6)):
        r = rng.random()
        if r < 0.04:
            lines.append(rng.choice(["", " "]))
            continue
        width = len(names) if r < 0.96 else rng.randint(1, len(names) + 1)
        cells = []
        for j in range(width):
            name = names[j].strip('"') if j < len(names) else ""
            if name.startswith("score") and rng.random() < 0.9:
                cells.append(rng.choice(_FUZZ_SCORES))
            else:
                cells.append(rng.choice(_FUZZ_CELLS if rng.random() < 0.3 else "abc12"))
        lines.append(",".join(cells))
    text = newline.join(lines) + (newline if rng.random() < 0.9 else "")
    if rng.random() < 0.03:
        text += '"open'
    if rng.random() < 0.1:
        text = "\ufeff" + text
    return text.encode("utf-8")


def test_csv_engines_agree_on_generated_files(tmp_path, monkeypatch):
    # Random small files built from the awkward cells above (quotes, line ends, ragged rows,
    # numbers pyarrow and the C engine type differently): where the pyarrow path reads a file, its
    # frame is the C engine's, and load_predictions gives the same Predictions or message.
    rng = random.Random(20261125)
    path = tmp_path / "p.csv"
    read_by_arrow = 0
    for _ in range(200):
        data = _fuzz_csv(rng)
        kwargs = rng.choice(
            [
                {},
                {},
                {"cluster": "cluster"},
                {"y_pred": "other"},
                {"score_columns": {"a": "score_a", "b": "score_b"}},
            ]
        )
        path.write_bytes(data)
        fast, slow, used = _load_both_ways(path, kwargs, monkeypatch)
        _assert_same_outcome(fast, slow)
        if used:
            read_by_arrow += 1
            assert _assert_frame_is_c_engines(data, kwargs)
    assert read_by_arrow >= 25  # the comparison is not vacuous


@pytest.mark.parametrize("newline", ["\n", "\r\n"])
@pytest.mark.parametrize("inside", ["\n", "\r\n", "\r", '""'])
def test_csv_pyarrow_blocks_cut_anywhere(monkeypatch, newline, inside):
    # pyarrow reads in blocks: wherever a boundary falls (here at every offset), the frame is the
    # C engine's or the C engine reads the file. (pyarrow 26 drops the "\n" of a quoted "\r\n"
    # cut by a boundary: such files are left to the C engine.)
    import pyarrow.csv as pacsv

    values = [f"v{i}{inside}w" if i % 3 == 0 else f"v{i}w" for i in range(10)]
    rows = [f'"{value}",{i % 2},{1 - i % 2}' for i, value in enumerate(values)]
    data = newline.join(["y_true,score_a,score_b", *rows, ""]).encode()
    pio._float_parsers_agree()  # cached before read_csv is patched
    original = pacsv.read_csv
    block = [0]
    monkeypatch.setattr(
        pacsv,
        "read_csv",
        lambda source, **kw: original(
            source, read_options=pacsv.ReadOptions(block_size=block[0]), **kw
        ),
    )
    read = 0
    for block[0] in range(8, len(data) + 2):
        read += _assert_frame_is_c_engines(data, {})
    assert (read > 0) == ("\r" not in inside)


@pytest.mark.parametrize(
    "text", ["", "a", "a\n", "a\nb", "a\r\nb\r\n", "a\rb\n\n", "\n\n", "x\n\ry"]
)
def test_lines_split_like_stringio(text):
    assert list(pio._lines(text)) == list(io.StringIO(text))


@pytest.mark.parametrize(
    "data, safe",
    [
        (b"a,b\n1,2\n", True),
        (b'"a","b"\n"1","2"\n', True),
        (b'\xef\xbb\xbf"a",b\n1,2', True),
        (b'a,b\n"x\ny",1\n"",2\n"q""q","""\n"\n', True),
        (b'a,b\r\n"x",1\r"y",2\r\n', True),  # carriage returns between records
        (b'a,b\n1,"2\n', False),  # left open at the end
        (b'a,b\nx"y,1\n', False),  # inside an unquoted field
        (b'a,b\n"x"y,1\n', False),  # text after a closing quote
        (b'a,b\n "x",1\n', False),  # a space before the opening quote
        (b'a,b\n"x\r\ny",1\n', False),  # a carriage return inside a quoted value
        (b'a,b\n"x\ry",1\n', False),
    ],
)
def test_quoting_is_safe(data, safe):
    assert pio._quoting_is_safe(data) is safe


def test_float_parsers_agree_on_this_install():
    # pandas >= 3.1 parses with fast_float, as pyarrow does; on an older pandas the probe is False
    # and every CSV is read by the C engine.
    from packaging.version import Version

    if Version(pd.__version__) >= Version("3.1"):
        assert pio._float_parsers_agree()


# -- MemoryError: one line with the file, its size, and what to do ---------------------------


def _oom(*args, **kwargs):
    raise MemoryError


def _expect_oom(path, parquet: bool):
    size = pio._human_size(path.stat().st_size)
    assert size.endswith(" KiB")
    engine = (
        "; to audit its labels without loading the rows, count it with --engine duckdb "
        "(pip install 'prevalens[duckdb]'), or split it into smaller files"
    )
    if parquet:
        return (
            f"{path}: does not fit in memory ({size} on disk, even reading only the "
            f"columns the audit needs){engine}"
        )
    return (
        f"{path}: does not fit in memory ({size} on disk); convert it to Parquet, "
        f"which prevalens reads column by column{engine}"
    )


@pytest.mark.parametrize("where", ["read_bytes", "header", "read_csv", "pyarrow", "validation"])
def test_csv_out_of_memory(tmp_path, monkeypatch, where):
    path = tmp_path / "p.csv"
    _frame_str().to_csv(path, index=False)
    monkeypatch.setattr(pio, "_ARROW_CSV_MIN_BYTES", 0 if where == "pyarrow" else 1 << 60)
    if where == "read_bytes":
        monkeypatch.setattr(Path, "read_bytes", _oom)
    elif where == "header":
        monkeypatch.setattr(pio, "_lines", _oom)
    elif where == "read_csv":
        monkeypatch.setattr(pio.pd, "read_csv", _oom)
    elif where == "pyarrow":
        import pyarrow.csv as pacsv

        pio._float_parsers_agree()
        monkeypatch.setattr(pacsv, "read_csv", _oom)
    else:
        monkeypatch.setattr(pio, "_build", _oom)
    with pytest.raises(InputError) as info:
        load_predictions(path)
    assert str(info.value) == _expect_oom(path, parquet=False)
    # Raised outside the handler: the MemoryError's frames (and what they read) are not kept.
    assert info.value.__context__ is None and info.value.__cause__ is None


@pytest.mark.parametrize("where", ["read", "to_pandas"])
def test_parquet_out_of_memory(tmp_path, monkeypatch, where):
    path = tmp_path / "p.parquet"
    _frame_str().to_parquet(path)
    if where == "read":
        monkeypatch.setattr(pq.ParquetFile, "read", _oom)
    else:

        class Table:  # what ParquetFile.read returns, as far as prevalens uses it
            def __init__(self, columns):
                self.column_names = columns

            to_pandas = staticmethod(_oom)

        monkeypatch.setattr(pq.ParquetFile, "read", lambda self, columns=None: Table(columns))
    with pytest.raises(InputError) as info:
        load_predictions(path)
    assert str(info.value) == _expect_oom(path, parquet=True)
    assert "\n" not in str(info.value)


@pytest.mark.parametrize(
    "size, text",
    [
        (None, "size unknown"),
        (0, "0 bytes"),
        (1023, "1023 bytes"),
        (1536, "1.5 KiB"),
        (5 * 2**20, "5.0 MiB"),
        (int(3.25 * 2**30), "3.2 GiB"),
        (2**50 * 3000, "3000.0 PiB"),
    ],
)
def test_human_size(size, text):
    assert pio._human_size(size) == text


# ------------------------------------------------------------------------------------------------
# labels beyond 64 bits and old-Mac line endings: refused in one line, never wrapped or crashed


@pytest.mark.parametrize("label", ["12345678901234567890", "-12345678901234567890"])
def test_integer_label_beyond_int64_is_refused_not_wrapped(tmp_path, label):
    path = tmp_path / "big.csv"
    path.write_text(f"y_true,y_pred\n{label},1\n1,1\n2,2\n")
    with pytest.raises(
        InputError,
        match=(
            rf"^{re.escape(str(path))}: column 'y_true' holds the integer {label} at row 1 "
            r"\(line 2\), beyond the 64-bit range of integer labels; store such identifiers as text$"
        ),
    ):
        load_predictions(path)


@pytest.mark.parametrize("values", [[2**64 - 1, 1, 2], [2**63, 1, 2]])
def test_integer_array_labels_beyond_int64_are_refused(values):
    arr = np.array(values, dtype=np.uint64)
    with pytest.raises(InputError, match="beyond the 64-bit range"):
        predictions_from_arrays(arr, np.array([1, 1, 2]))
    with pytest.raises(InputError, match="beyond the 64-bit range"):
        predictions_from_arrays([int(v) for v in values], [1, 1, 2])


def test_float_labels_too_large_to_be_exact_integers_are_refused():
    with pytest.raises(InputError, match="beyond the 64-bit range"):
        predictions_from_arrays(np.array([1e19, 1.0, 2.0]), np.array([1.0, 1.0, 2.0]))


def test_csv_with_lone_carriage_return_line_endings_is_a_one_line_error(tmp_path):
    path = tmp_path / "mac.csv"
    path.write_bytes(b"y_true,y_pred\r1,1\r2,2\r1,2\r")
    with pytest.raises(InputError, match=r"old Mac style\): save it with LF or CRLF line endings$"):
        load_predictions(path)
