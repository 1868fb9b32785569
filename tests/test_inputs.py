"""Input validation: every bad input is refused with one exact, one-line message, and the good
inputs (CSV, Parquet, DataFrame, arrays) all give the same validated Predictions.

The table of bad inputs follows SciPy's ``test_bootstrap_iv``: each row is an input and the exact
message it must produce (file, column and first offending row, and how to fix it). The command
line turns the same errors into exit code 2 (tests/test_cli.py).
"""

from __future__ import annotations

import hashlib
import os
import re
import warnings

import numpy as np
import pandas as pd
import pytest

import prevalens
from prevalens import InputError, load_predictions, predictions_from_arrays

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
    ("empty-file", bytes_file(b""), {},
     "{path}: file is empty; it needs a header and at least 2 data rows"),
    ("blank-file", bytes_file(b"\n \n\n"), {},
     "{path}: file is empty; it needs a header and at least 2 data rows"),
    ("empty-parquet", bytes_file(b"", "preds.parquet"), {},
     "{path}: file is empty; it needs a header and at least 2 data rows"),
    ("latin-1", bytes_file("y_true,y_pred\na,a\ncafé,a\n".encode("latin-1")), {},
     "{path}: line 3: byte 0xe9 is not valid UTF-8; save the file as UTF-8"),
    ("latin-1-header", bytes_file("y_true,y_prédit\na,a\nb,a\n".encode("latin-1")), {},
     "{path}: line 1: byte 0xe9 is not valid UTF-8; save the file as UTF-8"),
    ("csv-unterminated-quote", csv_file('y_true,y_pred\na,a\nb,"b\n'), {},
     Re(r"{path}: not a readable CSV file \([^\n]+\)")),
    ("csv-too-many-fields", csv_file("y_true,y_pred\na,a\nb,b,c,d\n"), {},
     Re(r"{path}: not a readable CSV file \([^\n]*line 3[^\n]*\)")),
    ("parquet-garbage", bytes_file(b"PAR1 this is not parquet PAR1", "preds.parquet"), {},
     Re(r"{path}: not a readable Parquet file \([^\n]+\)")),
    ("parquet-truncated", truncated_parquet, {},
     Re(r"{path}: not a readable Parquet file \([^\n]+\)")),
    # -- columns
    ("no-y_true", csv_file("label,y_pred\na,a\nb,b\n"), {},
     "{path}: column 'y_true' not found (columns: 'label', 'y_pred'); "
     "name the true-label column 'y_true' or pass `y_true=`"),
    ("no-custom-y_true", csv_file("y_true,y_pred\na,a\nb,b\n"), {"y_true": "truth"},
     "{path}: column 'truth' not found (columns: 'y_true', 'y_pred'); "
     "name the true-label column 'y_true' or pass `y_true=`"),
    ("no-y_pred-no-scores", csv_file("y_true,other\na,a\nb,b\n"), {},
     "{path}: no predictions: column 'y_pred' is missing and there are no score columns; "
     "give predicted labels, scores, or both"),
    ("duplicate-header", csv_file("y_true,y_pred,y_pred\na,a,a\nb,b,a\n"), {},
     "{path}: column 'y_pred' appears twice in the header; give each column once"),
    ("duplicate-frame-columns",
     frame([["a", "a", "a"], ["b", "b", "a"]], ["y_true", "y_pred", "y_pred"]), {},
     "DataFrame: column 'y_pred' appears twice in the header; give each column once"),
    ("duplicate-parquet-columns", parquet_duplicate_columns, {},
     "{path}: column 'y_pred' appears twice; give each column once"),
    ("missing-cluster-column", csv_file("y_true,y_pred\na,a\nb,b\n"), {"cluster": "patient"},
     "{path}: cluster column 'patient' not found (columns: 'y_true', 'y_pred')"),
    ("score-column-without-class", csv_file("y_true,score_,score_a\na,1,0\nb,0,1\n"), {},
     "{path}: column 'score_' has no class name after the prefix 'score_'; "
     "name score columns 'score_<label>'"),
    # -- rows
    ("header-only", csv_file("y_true,y_pred\n"), {},
     "{path}: no data rows (only a header); the input needs at least 2 samples"),
    ("single-row", csv_file("y_true,y_pred\na,a\n"), {},
     "{path}: only 1 data row; an audit needs at least 2 samples (rows)"),
    ("empty-frame", frame({"y_true": [], "y_pred": []}), {},
     "DataFrame: no data rows (only a header); the input needs at least 2 samples"),
    # -- labels
    ("empty-true-label", csv_file("y_true,y_pred\na,a\n,b\nb,b\n"), {},
     "{path}: column 'y_true' has a missing label at row 2 (line 3); "
     "every row needs a y_true value"),
    ("blank-true-label", csv_file("y_true,y_pred\na,a\nb,b\n   ,b\n"), {},
     "{path}: column 'y_true' has a missing label at row 3 (line 4); "
     "every row needs a y_true value"),
    ("empty-pred-label", csv_file("y_true,y_pred\na,a\nb,b\nb,\n"), {},
     "{path}: column 'y_pred' has a missing label at row 3 (line 4); "
     "every row needs a y_pred value"),
    # pandas skips blank lines and a quoted cell may span lines: the line must still be right
    ("empty-label-after-blank-line", csv_file("y_true,y_pred\na,a\n\nb,b\n,b\n"), {},
     "{path}: column 'y_true' has a missing label at row 3 (line 5); "
     "every row needs a y_true value"),
    ("empty-label-after-multiline-cell", csv_file('y_true,y_pred\n"a\nb",a\nb,b\n,b\n'), {},
     "{path}: column 'y_true' has a missing label at row 3 (line 5); "
     "every row needs a y_true value"),
    ("nan-label-frame", frame({"y_true": ["a", None, "b"], "y_pred": ["a", "b", "b"]}), {},
     "DataFrame: column 'y_true' has a missing label at row 2; every row needs a y_true value"),
    ("nan-label-float-frame", frame({"y_true": [1, 2, 2], "y_pred": [1.0, 2.0, np.nan]}), {},
     "DataFrame: column 'y_pred' has a missing label at row 3; every row needs a y_pred value"),
    ("float-true-label", csv_file("y_true,y_pred\n1,1\n0.5,1\n"), {},
     "{path}: column 'y_true' holds the number 0.5 at row 2 (line 3); "
     "labels must be strings or integers"),
    ("float-pred-label", csv_file("y_true,y_pred\n1,1.5\n0,1\n"), {},
     "{path}: column 'y_pred' holds the number 1.5 at row 1 (line 2); "
     "labels must be strings or integers"),
    ("pred-outside-labels", csv_file("y_true,y_pred\na,a\nb,b\nb,c\n"), {"labels": ["a", "b"]},
     "{path}: column 'y_pred', row 3 (line 4): predicted label 'c' is not a known class "
     "('a', 'b'); add it to `labels=` or fix the row"),
    ("true-outside-labels", csv_file("y_true,y_pred\na,a\nc,b\n"), {"labels": ["a", "b"]},
     "{path}: column 'y_true', row 2 (line 3): true label 'c' is not a known class "
     "('a', 'b'); add it to `labels=` or fix the row"),
    ("int-pred-outside-labels", csv_file("y_true,y_pred\n1,1\n2,3\n"), {"labels": [1, 2]},
     "{path}: column 'y_pred', row 2 (line 3): predicted label 3 is not a known class "
     "(1, 2); add it to `labels=` or fix the row"),
    ("duplicate-labels", csv_file("y_true,y_pred\na,a\nb,b\n"), {"labels": ["a", "b", "a"]},
     "`labels` lists 'a' twice; give each class once"),
    ("empty-labels", csv_file("y_true,y_pred\na,a\nb,b\n"), {"labels": []},
     "`labels` is empty; give at least one class label or leave it unset"),
    ("labels-as-string", csv_file("y_true,y_pred\na,a\nb,b\n"), {"labels": "ab"},
     "`labels` must be a list of class labels, got 'ab'"),
    # -- scores
    ("score-nan-text", csv_file("y_true,score_a,score_b\na,0.5,0.5\nb,nan,0.5\n"), {},
     "{path}: column 'score_a', row 2 (line 3): score 'nan' is not a finite number; "
     "every score must be a finite number"),
    ("score-inf", csv_file("y_true,score_a,score_b\na,0.5,0.5\nb,0.5,inf\n"), {},
     "{path}: column 'score_b', row 2 (line 3): score inf is not a finite number; "
     "every score must be a finite number"),
    ("score-text", csv_file("y_true,score_a,score_b\na,0.5,0.5\nb,high,0.5\n"), {},
     "{path}: column 'score_a', row 2 (line 3): score 'high' is not a finite number; "
     "every score must be a finite number"),
    ("score-empty-cell", csv_file("y_true,score_a,score_b\na,0.5,0.5\nb,0.5,0.5\na,,1\n"), {},
     "{path}: column 'score_a', row 3 (line 4): score is missing (empty cell); "
     "every score must be a finite number"),
    ("score-negative", csv_file("y_true,score_a,score_b\na,0.5,0.5\nb,1.1,-0.1\n"), {},
     "{path}: column 'score_b', row 2 (line 3): score -0.1 is negative; "
     "scores must be >= 0 (apply a softmax to logits first)"),
    ("score-column-unknown-class",
     csv_file("y_true,y_pred,score_a,score_b,score_c\na,a,1,0,0\nb,b,0,1,0\n"),
     {"labels": ["a", "b"]},
     "{path}: score column 'score_c' is for class 'c', which is not in `labels=` ('a', 'b'); "
     "remove the column or add the class"),
    ("score-column-missing-labels",
     csv_file("y_true,y_pred,score_a,score_b\na,a,1,0\nb,b,0,1\n"), {"labels": ["a", "b", "c"]},
     "{path}: no score column for class 'c'; add column 'score_c' or drop every score column"),
    ("score-column-missing-data",
     csv_file("y_true,y_pred,score_a\na,a,1\nb,b,0\n"), {},
     "{path}: no score column for class 'b'; add column 'score_b' or drop every score column"),
    ("score-column-missing-prefix",
     csv_file("y_true,y_pred,p_a\na,a,1\nb,b,0\n"), {"score_prefix": "p_"},
     "{path}: no score column for class 'b'; add column 'p_b' or drop every score column"),
    ("two-score-columns-one-class",
     csv_file("y_true,y_pred,score_1,score_01\n1,1,0.5,0.5\n1,1,0.5,0.5\n"), {},
     "{path}: two score columns name class 1; give one score column per class"),
    ("score-columns-mapping-missing",
     csv_file("y_true,y_pred,pa,pb\na,a,1,0\nb,b,0,1\n"),
     {"score_columns": {"a": "pa", "b": "prob_b"}},
     "{path}: score column 'prob_b' (for class 'b') not found (columns: 'y_true', 'y_pred', "
     "'pa', 'pb')"),
    # -- clusters
    ("missing-cluster-id", csv_file("y_true,y_pred,patient\na,a,p1\nb,b,\n"),
     {"cluster": "patient"},
     "{path}: column 'patient' has a missing cluster id at row 2 (line 3); every row needs one"),
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
    ("unequal-y_pred", {"y_true": [1, 2, 3], "y_pred": [1, 2]},
     "arrays: `y_true` has 3 values but `y_pred` has 2; give one prediction per sample"),
    ("unequal-y_score", {"y_true": [0, 1, 1], "y_score": [[1, 0], [0, 1]], "labels": [0, 1]},
     "arrays: `y_true` has 3 values but `y_score` has 2 rows; give one row of scores per sample"),
    ("unequal-cluster", {"y_true": [0, 1, 1], "y_pred": [0, 1, 1], "cluster": [1, 2]},
     "arrays: `y_true` has 3 values but `cluster` has 2; give one cluster id per sample"),
    ("y_true-none", {"y_true": None, "y_pred": [1, 2]}, "`y_true` is required"),
    ("y_true-2d", {"y_true": np.zeros((2, 2)), "y_pred": [1, 2]},
     "`y_true` must be 1-D, got shape (2, 2)"),
    ("y_score-1d", {"y_true": [0, 1], "y_score": [0.2, 0.8]},
     "`y_score` must be 2-D (n_samples, n_classes), got shape (2,)"),
    ("y_score-columns-vs-labels",
     {"y_true": [0, 1], "y_score": [[1, 0, 0], [0, 1, 0]], "labels": [0, 1]},
     "`y_score` has 3 columns but `labels` has 2 classes; "
     "give one score column per class, in the order of `labels`"),
    ("y_score-columns-vs-data", {"y_true": [0, 1], "y_score": [[1, 0, 0], [0, 1, 0]]},
     "`y_score` has 3 columns but the labels hold 2 classes (0, 1); "
     "pass `labels=` to name the score columns' classes"),
    ("y_score-text", {"y_true": [0, 1], "y_score": [["a", "b"], ["c", "d"]]},
     "`y_score` must hold numbers"),
    ("y_score-nan", {"y_true": [0, 1], "y_score": [[0.5, 0.5], [np.nan, 1.0]]},
     "arrays: column 'y_score[:, 0]', row 2: score nan is not a finite number; "
     "every score must be a finite number"),
    ("y_score-inf", {"y_true": [0, 1], "y_score": [[0.5, np.inf], [0.0, 1.0]]},
     "arrays: column 'y_score[:, 1]', row 1: score inf is not a finite number; "
     "every score must be a finite number"),
    ("y_score-negative", {"y_true": [0, 1], "y_score": [[0.5, 0.5], [-2.0, 1.0]]},
     "arrays: column 'y_score[:, 0]', row 2: score -2.0 is negative; "
     "scores must be >= 0 (apply a softmax to logits first)"),
    ("none-label", {"y_true": ["a", None, "b"], "y_pred": ["a", "b", "b"]},
     "arrays: column 'y_true' has a missing label at row 2; every row needs a y_true value"),
    ("nan-label", {"y_true": [1, 2, 2], "y_pred": [1, 2, np.nan]},
     "arrays: column 'y_pred' has a missing label at row 3; every row needs a y_pred value"),
    ("empty-string-label", {"y_true": ["a", "b", ""], "y_pred": ["a", "b", "b"]},
     "arrays: column 'y_true' has a missing label at row 3; every row needs a y_true value"),
    # A list of floats must not turn into the text labels "0.5" and "1.0".
    ("float-label-list", {"y_true": [1.0, 0.5], "y_pred": [1, 1]},
     "arrays: column 'y_true' holds the number 0.5 at row 2; labels must be strings or integers"),
    ("float-label-array", {"y_true": np.array([1.0, 2.0, 2.5]), "y_pred": [1, 2, 2]},
     "arrays: column 'y_true' holds the number 2.5 at row 3; labels must be strings or integers"),
    ("pred-outside-labels", {"y_true": [0, 1], "y_pred": [0, 2], "labels": [0, 1]},
     "arrays: column 'y_pred', row 2: predicted label 2 is not a known class (0, 1); "
     "add it to `labels=` or fix the row"),
    ("single-sample", {"y_true": [0], "y_pred": [0]},
     "arrays: only 1 data row; an audit needs at least 2 samples (rows)"),
    ("no-samples", {"y_true": [], "y_pred": []},
     "arrays: no data rows; the input needs at least 2 samples"),
    ("no-predictions", {"y_true": [0, 1]},
     "arrays: no predictions: column 'y_pred' is missing and there are no score columns; "
     "give predicted labels, scores, or both"),
]


@pytest.mark.parametrize(
    "kwargs, expected", [pytest.param(k, e, id=i) for i, k, e in BAD_ARRAYS]
)
def test_bad_arrays_message(kwargs, expected):
    kwargs = dict(kwargs)
    with pytest.raises(InputError, match=_pattern(expected, "arrays")) as info:
        predictions_from_arrays(kwargs.pop("y_true"), kwargs.pop("y_pred", None), **kwargs)
    assert "\n" not in str(info.value)


def test_bad_source_type():
    with pytest.raises(InputError, match=r"^`source` must be a file path, a pandas DataFrame or a "
                       r"mapping of arrays, got int; for arrays use predictions_from_arrays"):
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
    return pd.DataFrame({
        "y_true": df["y_true"].map(names),
        "y_pred": df["y_pred"].map(names),
        **{f"score_{names[k]}": df[f"score_{k}"] for k in (1, 2, 10)},
    })


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
        "a,0.2,0.5,0.3\n"   # clear maximum: b
        "b,0.4,0.4,0.2\n"   # tie a/b: the first class, a
        "c,0.2,0.4,0.4\n"   # tie b/c: b
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
    b = load_predictions(path, y_true="truth", y_pred="guess",
                         score_columns={"y": "prob_y", "x": "prob_x"})
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
    assert result.overall["roc_auc_ovo"].status == "ok"
    for j, label in enumerate(("a", "b", "c")):
        expected = roc_auc_score(np.array(y_true) == label, scores[:, j])
        auc = result.class_result(label).metrics["roc_auc"].estimate
        assert auc == pytest.approx(expected, abs=1e-12)
    assert result.averages["macro"]["roc_auc"].status == "ok"
    assert result.data.has_scores and not result.data.scores_are_probabilities


def test_probability_scores_give_log_loss_without_warning():
    y_true = [0, 1, 2, 0]
    proba = np.array([[0.8, 0.1, 0.1], [0.2, 0.5, 0.3], [0.1, 0.1, 0.8], [0.4, 0.3, 0.3]])
    with warnings.catch_warnings():
        warnings.simplefilter("error", prevalens.ProbabilityWarning)
        result = prevalens.audit(y_true, y_score=proba, n_resamples=0, seed=1)
    assert result.data.scores_are_probabilities
    assert result.overall["log_loss"].status == "ok"
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
    path.write_text(
        "y_true,y_pred,patient\na,a,p7\nb,a,p2\na,a,p7\nb,b,10\nb,b,p2\n"
    )
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
