"""Reading and validating predictions: the only module that reads user files.

:func:`load_predictions` accepts a CSV or Parquet path, a pandas DataFrame or a mapping of arrays;
:func:`predictions_from_arrays` accepts arrays. Both return a validated, label-encoded
:class:`Predictions`. Every problem is refused with an :class:`~prevalens.InputError` whose one-line
message names the file, the column and the first offending row.

Input format (one row per sample)
---------------------------------
``y_true``
    The true class (string or integer). Required.
``y_pred``
    The predicted class. Optional when scores are given: it is then the class with the highest
    score, the first class in class order on ties.
``score_<label>``
    One column per class holding the model's score for that class (probabilities for log loss and
    Brier; any non-negative score for ranking metrics). The prefix is configurable and
    ``score_columns={label: column}`` maps other names.
cluster (optional)
    A unit of resampling (e.g. patient) when several rows belong to one unit.
group columns (optional)
    Categorical columns of subgroups to audit within (``groups=``, ``--group``), each named
    alone or intersected (``"sex*site"``); see :func:`predictions_from_arrays`.
"""

from __future__ import annotations

import csv
import functools
import hashlib
import io as _io
import json
import math
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import jsonschema
import numpy as np
import pandas as pd

from .counts import SPARSE_MIN_CLASSES, ConfusionCounts, cluster_cell_matrix, count_matrix
from .exceptions import ConfigError, InputError
from .ranking import is_probability
from .results import SCHEMA_ID, AuditResult, InputInfo, load_schema

__all__ = [
    "GroupColumn",
    "InputInfo",
    "Predictions",
    "load_predictions",
    "load_models",
    "predictions_from_arrays",
    "read_results",
    "read_user_file",
]

_PARQUET_SUFFIXES = {".parquet", ".pq", ".parq"}
_MAX_PREVIEW = 8
_HASH_CHUNK = 1 << 20  # Parquet files are hashed 1 MiB at a time, never held in memory whole
# CSV files from this size are read with pyarrow (when its result is provably the C engine's):
# below it the C engine is as fast or faster (pyarrow's start-up and typing the labels cost ~20 ms).
_ARROW_CSV_MIN_BYTES = 8 << 20

#: The level of the rows whose group value is missing, with ``group_missing="level"``.
GROUP_MISSING_LEVEL = "missing"
#: More levels than this in one grouping are refused: such a column is an identifier.
MAX_GROUP_LEVELS = 1000
#: Joins the columns of an intersection in its name, and their levels in its level names.
INTERSECTION = "\u00d7"
_GROUP_SEPARATORS = ("*", INTERSECTION, ":")
_DIGITS = re.compile(r"([0-9]+)")


@dataclass(frozen=True)
class GroupColumn:
    """One grouping of the rows (a column, or the intersection of several).

    Attributes
    ----------
    name : str
        The column's name, or its columns' names joined by "×" for an intersection
        (``"sex×site"``).
    codes : ndarray of int64, shape (n,)
        The level of every row, ``0 .. len(levels) - 1`` (a read-only view).
    levels : tuple of str
        The level names, in natural order of their text (``"2"`` before ``"10"``, ``"site2"``
        before ``"site10"``); the level ``"missing"`` (rows without a value, with
        ``group_missing="level"``) last. An intersection's levels are its columns' levels joined
        by "×" (``"F×A"``), only the combinations present, in the order of the columns' levels.
    missing : int
        Rows mapped to the level ``"missing"`` (0 when there are none, or they were refused).

    Two groupings are equal when their names, levels, missing counts and codes are.
    """

    name: str
    codes: np.ndarray
    levels: tuple
    missing: int = 0

    def __post_init__(self):
        codes = np.asarray(self.codes, dtype=np.int64).view()
        codes.setflags(write=False)
        object.__setattr__(self, "codes", codes)
        object.__setattr__(self, "levels", tuple(self.levels))

    def __eq__(self, other):
        if not isinstance(other, GroupColumn):
            return NotImplemented
        return (
            self.name == other.name
            and self.levels == other.levels
            and self.missing == other.missing
            and np.array_equal(self.codes, other.codes)
        )

    def __hash__(self):
        return hash((self.name, self.levels, self.missing, self.codes.shape))

    @property
    def n_levels(self) -> int:
        return len(self.levels)

    def sizes(self) -> np.ndarray:
        """Rows in each level, by level code."""
        return np.bincount(self.codes, minlength=len(self.levels))


@dataclass(frozen=True, eq=False)
class Predictions:
    """Validated, label-encoded predictions.

    Attributes
    ----------
    classes : tuple
        The class labels (all str or all int), in class order; codes index this tuple.
    y_true : ndarray of int64
        Shape (n,) class codes for ``task="multiclass"``. (A multi-label task will store an
        (n, K) boolean indicator matrix here; the rest of the model is unchanged.)
    y_pred : ndarray of int64, shape (n,)
        Predicted class codes.
    y_score : ndarray of float64, shape (n, K), or None
        Scores, columns in class order.
    cluster : ndarray of int64, shape (n,), or None
        Resampling-unit codes ``0 .. n_clusters - 1``.
    task : {"multiclass"}
    pred_source : {"column", "argmax", "array"}
        Where ``y_pred`` came from.
    scores_are_probabilities : bool
        Every score is non-negative and every row sums to 1 within
        :data:`~prevalens.ranking.PROBABILITY_ATOL` (0.01: probabilities as stored, rounded to a
        few decimals).
    inputs : tuple of InputInfo
    columns : dict
        The column names that were used, by role.
    groups : tuple of GroupColumn
        The groupings of the rows to audit within (subgroups), in the order asked for; empty
        without group columns.
    """

    classes: tuple
    y_true: np.ndarray
    y_pred: np.ndarray
    y_score: np.ndarray | None = None
    cluster: np.ndarray | None = None
    task: str = "multiclass"
    pred_source: str = "array"
    scores_are_probabilities: bool = False
    inputs: tuple = ()
    columns: dict = field(default_factory=dict)
    groups: tuple = ()

    def __post_init__(self):
        for name in ("y_true", "y_pred", "y_score", "cluster"):
            arr = getattr(self, name)
            if arr is not None:
                # A read-only view, not a copy: scores can be gigabytes. (The caller's own array
                # stays writable; prevalens never writes to it.)
                arr = np.asarray(arr).view()
                arr.setflags(write=False)
                object.__setattr__(self, name, arr)
        groups = tuple(self.groups)
        if not all(isinstance(g, GroupColumn) for g in groups):
            raise TypeError("`groups` must hold GroupColumn objects")
        object.__setattr__(self, "groups", groups)  # each GroupColumn's codes are read-only

    @property
    def n_samples(self) -> int:
        return int(self.y_true.shape[0])

    @property
    def n_classes(self) -> int:
        return len(self.classes)

    @property
    def has_scores(self) -> bool:
        return self.y_score is not None

    @property
    def score_metrics(self) -> tuple:
        """The score metrics this input gives per class and averaged (none without scores)."""
        return ("roc_auc", "average_precision") if self.y_score is not None else ()

    @property
    def n_clusters(self) -> int | None:
        return None if self.cluster is None else int(self.cluster.max()) + 1

    def counts(self) -> ConfusionCounts:
        """The confusion matrix (one bincount pass)."""
        return ConfusionCounts.from_codes(self.y_true, self.y_pred, self.classes)

    # The sufficient statistics of the label metrics, as an audit reads them: the same methods on
    # :class:`prevalens.counted.CountedPredictions` give them without rows.

    @property
    def clustered(self) -> bool:
        """Whether the rows carry a cluster column (resampled by cluster)."""
        return self.cluster is not None

    def count_matrix(self):
        """The confusion matrix: dense below :data:`~prevalens.counts.SPARSE_MIN_CLASSES`
        classes, a sparse matrix of the non-zero cells from there."""
        if self.n_classes < SPARSE_MIN_CLASSES:
            return self.counts().matrix
        return count_matrix(self.y_true, self.y_pred, self.n_classes)

    def cluster_cells(self):
        """Each cluster's confusion cells: sparse (clusters x K^2), int64
        (:func:`~prevalens.counts.cluster_cell_matrix`)."""
        assert self.cluster is not None
        return cluster_cell_matrix(self.y_true, self.y_pred, self.cluster, self.n_classes)

    def cluster_sizes(self) -> np.ndarray:
        """Samples in each cluster, by cluster code."""
        assert self.cluster is not None
        return np.bincount(self.cluster)


# --------------------------------------------------------------------------------------------
# helpers


def _preview(values) -> str:
    values = list(values)
    shown = ", ".join(repr(v) for v in values[:_MAX_PREVIEW])
    return shown + (", ..." if len(values) > _MAX_PREVIEW else "")


class _Where:
    """Formats locations in messages: the source, and rows as 1-based data rows (plus the file
    line for CSV, where the header is line 1)."""

    def __init__(
        self,
        name: str,
        csv_lines: bool = False,
        score_prefix: str = "score_",
        text: str | None = None,
    ):
        self.name = name
        self.csv_lines = csv_lines
        self.score_prefix = score_prefix
        self.text = text
        self._starts: list[int] | None = None

    def row(self, i: int) -> str:
        if self.csv_lines:
            return f"row {i + 1} (line {self._line(i)})"
        return f"row {i + 1}"

    def _line(self, i: int) -> int:
        """File line on which data row ``i`` starts. Blank lines (which pandas skips) and quoted
        cells that span lines shift it, so count with the csv module; only done for a message."""
        if self.text is None:
            return i + 2
        if self._starts is None:
            reader = csv.reader(_lines(self.text))
            starts, prev = [], 0
            for record in reader:
                if not (len(record) > 1 or (record and record[0].strip())):
                    prev = reader.line_num
                    continue
                starts.append(prev + 1)
                prev = reader.line_num
            self._starts = starts[1:]  # the first record is the header
        return self._starts[i] if i < len(self._starts) else i + 2


def _lines(text: str):
    """The lines of ``text`` as ``io.StringIO(text)`` yields them (split after each "\\n", line
    ends kept), without StringIO's copy of the whole text: csv.reader needs only an iterator."""
    start, end = 0, len(text)
    while start < end:
        stop = text.find("\n", start)
        if stop < 0:
            yield text[start:]
            return
        yield text[start : stop + 1]
        start = stop + 1


def _first(mask) -> int:
    return int(np.argmax(mask))


def _py(v):
    """numpy scalar -> plain Python value (for messages and JSON)."""
    return v.item() if isinstance(v, np.generic) else v


def _normalise_labels(values, column: str, where: _Where):
    """Return ``(array, kind)`` where kind is "int" (int64 array) or "str" (object array of str).

    Refuses missing values and non-integral numbers, naming the first offending row.
    """
    s = pd.Series(values) if not isinstance(values, pd.Series) else values.reset_index(drop=True)
    missing = s.isna().to_numpy()
    if s.dtype == object or pd.api.types.is_string_dtype(s.dtype):
        # Empty or blank strings are missing labels too.
        blank = np.array([isinstance(v, str) and v.strip() == "" for v in s.to_numpy()], bool)
        missing = missing | blank
    if missing.any():
        i = _first(missing)
        raise InputError(
            f"{where.name}: column '{column}' has a missing label at {where.row(i)}; "
            f"every row needs a {column} value"
        )
    if pd.api.types.is_bool_dtype(s.dtype):
        return s.astype(str).to_numpy(dtype=object), "str"
    if pd.api.types.is_integer_dtype(s.dtype):
        if pd.api.types.is_unsigned_integer_dtype(s.dtype):
            raw = s.to_numpy()
            _check_int64(raw > np.iinfo(np.int64).max, raw, column, where)
        return s.to_numpy(dtype=np.int64), "int"
    if pd.api.types.is_float_dtype(s.dtype):
        return _integral_floats(s.to_numpy(dtype=np.float64), column, where), "int"
    arr = s.to_numpy(dtype=object)
    nested = np.fromiter(
        (isinstance(v, (list, tuple, dict, set, np.ndarray)) for v in arr),
        dtype=bool,
        count=arr.size,
    )
    if nested.any():
        i = _first(nested)
        raise InputError(
            f"{where.name}: column '{column}' holds a {type(arr[i]).__name__} at {where.row(i)} "
            f"({_preview([arr[i]])}); labels must be single strings or integers, one per row "
            "(for several labels per sample, one row per label)"
        )
    if all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in arr):
        lo, hi = np.iinfo(np.int64).min, np.iinfo(np.int64).max
        _check_int64(np.array([not (lo <= int(v) <= hi) for v in arr], bool), arr, column, where)
        return arr.astype(np.int64), "int"
    # A list such as [0.5, 1.0] arrives as an object array: numbers stay numbers (1.0 is class 1,
    # 0.5 is refused), rather than becoming the text labels "0.5" and "1.0".
    if pd.api.types.infer_dtype(arr, skipna=False) in ("floating", "mixed-integer-float"):
        return _integral_floats(arr.astype(np.float64), column, where), "int"
    return np.array([str(_py(v)) for v in arr], dtype=object), "str"


def _check_int64(bad, arr, column: str, where: _Where) -> None:
    """Integer labels must fit in 64 bits (a larger one would silently wrap to another class)."""
    if bad.any():
        i = _first(bad)
        raise InputError(
            f"{where.name}: column '{column}' holds the integer {_py(arr[i])!r} at {where.row(i)}, "
            "beyond the 64-bit range of integer labels; store such identifiers as text"
        )


def _integral_floats(arr: np.ndarray, column: str, where: _Where) -> np.ndarray:
    bad = ~np.isfinite(arr) | (arr != np.round(arr))
    if bad.any():
        i = _first(bad)
        raise InputError(
            f"{where.name}: column '{column}' holds the number {_py(arr[i])!r} at {where.row(i)}; "
            "labels must be strings or integers"
        )
    # above 2**53 a float is not an exact integer, and above 2**63 it would wrap
    _check_int64(np.abs(arr) > 2.0**53, arr, column, where)
    return arr.astype(np.int64)


def _as_str(arr):
    return np.array([str(v) for v in arr], dtype=object) if arr.dtype != object else arr


def _encode(values, classes_index: pd.Index, column: str, where: _Where, role: str, fix: str):
    codes = classes_index.get_indexer(values)
    bad = codes < 0
    if bad.any():
        i = _first(bad)
        raise InputError(
            f"{where.name}: column '{column}', {where.row(i)}: {role} label {_py(values[i])!r} is "
            f"not a known class ({_preview(classes_index)}); {fix}"
        )
    return codes.astype(np.int64)


def _sorted_classes(values: set, kind: str) -> list:
    return sorted(values, key=(int if kind == "int" else str))


def _resolve_classes(yt, kind_t: str, yp, kind_p: str | None, labels, raw_score_labels):
    """The classes of labels normalised by :func:`_normalise_labels` (``yt`` of kind ``kind_t``,
    ``yp`` of ``kind_p`` or None), ``labels`` as given and the score columns' class names: ints
    when every one is an integer, else everything as text; ``labels`` in its order, else the
    sorted union. Returns ``(yt, yp, score_labels, classes, index, label_list)``, the values
    converted to the common kind. Shared by the in-memory loader and the counting engines (which
    pass the distinct values rather than the rows)."""
    kinds = {kind_t}
    if kind_p is not None:
        kinds.add(kind_p)
    label_list = None
    if labels is not None:
        if isinstance(labels, (str, bytes)) or not isinstance(
            labels, (Sequence, np.ndarray, pd.Index)
        ):
            raise InputError(f"`labels` must be a list of class labels, got {labels!r}")
        label_list, kind_l = _normalise_labels(list(labels), "labels", _Where("`labels`"))
        if len(label_list) == 0:
            raise InputError("`labels` is empty; give at least one class label or leave it unset")
        kinds.add(kind_l)

    score_labels = None
    if raw_score_labels is not None:
        raw_labels = raw_score_labels
        if all(isinstance(v, (int, np.integer)) for v in raw_labels):
            score_labels, kind_s = np.asarray(raw_labels, dtype=np.int64), "int"
        elif kinds == {"int"} and all(_is_int_text(v) for v in raw_labels):
            score_labels, kind_s = np.array([int(v) for v in raw_labels], dtype=np.int64), "int"
        else:
            score_labels, kind_s = np.array([str(v) for v in raw_labels], dtype=object), "str"
        kinds.add(kind_s)

    kind = "int" if kinds == {"int"} else "str"
    if kind == "str":  # mixed kinds: compare as text, as a CSV would
        yt = _as_str(yt)
        yp = _as_str(yp) if yp is not None else None
        label_list = _as_str(label_list) if label_list is not None else None
        score_labels = _as_str(score_labels) if score_labels is not None else None

    if label_list is not None:
        dup = pd.Index(label_list).duplicated()
        if dup.any():
            raise InputError(
                f"`labels` lists {_py(label_list[_first(dup)])!r} twice; give each class once"
            )
        classes = [_py(v) for v in label_list]
    else:
        universe = set(pd.unique(yt).tolist())
        if yp is not None:
            universe |= set(pd.unique(yp).tolist())
        if score_labels is not None:
            universe |= set(score_labels.tolist())
        classes = _sorted_classes(universe, kind)
    index = pd.Index(classes, dtype=object if kind == "str" else np.int64)

    return yt, yp, score_labels, classes, index, label_list


# --------------------------------------------------------------------------------------------
# group columns (subgroups)


def split_group_spec(spec) -> tuple[str, ...]:
    """The column names of a group spec: ``"sex"`` -> ``("sex",)``; an intersection
    ``"sex*site"`` (also ``"sex×site"`` or ``"sex:site"``) -> ``("sex", "site")``. Names are
    stripped of surrounding blanks. Raises :class:`~prevalens.ConfigError` for an empty name or a
    column named twice. (A loader first takes a spec that is exactly a column's name as that
    column, so a name holding ``*`` or ``:`` still works.)"""
    if not isinstance(spec, str):
        raise ConfigError(f"a group must be a column name (text); got {spec!r}")
    parts = [spec]
    for sep in _GROUP_SEPARATORS:
        parts = [q for p in parts for q in p.split(sep)]
    names = tuple(p.strip() for p in parts)
    if any(not p for p in names):
        raise ConfigError(
            f"group {spec!r} has an empty column name; give a column, or columns joined by '*' "
            "for their intersection (e.g. 'sex*site')"
        )
    dup = [p for i, p in enumerate(names) if p in names[:i]]
    if dup:
        raise ConfigError(f"group {spec!r} names column {dup[0]!r} twice; give each column once")
    return names


def _spec_columns(spec, known) -> tuple[str, ...]:
    """The columns of ``spec`` among ``known`` (a column's own name wins over splitting it)."""
    if isinstance(spec, str) and spec in known:
        return (spec,)
    return split_group_spec(spec)


def _as_specs(specs, what: str) -> tuple:
    if specs is None:
        return ()
    if isinstance(specs, str):
        return (specs,)
    if not isinstance(specs, (Sequence, np.ndarray, pd.Index)):
        raise ConfigError(f"`{what}` must be a list of group columns; got {specs!r}")
    return tuple(specs)


def _natural_key(text: str):
    """Order of level names: numbers by value, before other text; other text in natural order
    (digit runs by value: "site2" before "site10"), case-insensitive first; the text itself
    breaks ties, so that the order is total."""
    try:
        number = float(text)
    except ValueError:
        number = None
    if number is not None and math.isfinite(number):
        return (0, number, (), text)
    parts = tuple(  # odd pieces are the digit runs
        (0, int(p), "") if i % 2 else (1, 0, p.casefold())
        for i, p in enumerate(_DIGITS.split(text))
        if p
    )
    return (1, 0.0, parts, text)


def _level_text(v) -> str:
    """A group value's level name: its text, integral floats as integers (3.0 -> "3", so that
    an integer column read with a missing value as floats keeps its levels)."""
    v = _py(v)
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    return str(v)


def _group_levels(values, column: str, where: _Where):
    """``(codes, texts, missing)`` of one group column: codes index ``texts`` (distinct level
    names, unsorted), ``missing`` marks the rows without a value (their code is -1)."""
    s = values.reset_index(drop=True) if isinstance(values, pd.Series) else pd.Series(values)
    if isinstance(s.dtype, pd.CategoricalDtype):
        s = s.astype(object)
    if s.dtype == object and pd.api.types.infer_dtype(s, skipna=True) not in (
        "string",
        "integer",
        "boolean",
        "floating",
        "mixed-integer-float",
        "empty",
    ):
        # mixed types: as text value by value (pd.factorize would merge True with 1)
        arr = s.to_numpy(dtype=object)
        nested = np.fromiter(
            (isinstance(v, (list, tuple, dict, set, np.ndarray)) for v in arr), bool, arr.size
        )
        if nested.any():
            i = _first(nested)
            raise InputError(
                f"{where.name}: group column '{column}' holds a {type(arr[i]).__name__} at "
                f"{where.row(i)}; a group needs one value per row"
            )
        isna = s.isna().to_numpy()
        s = pd.Series([None if m else _level_text(v) for v, m in zip(arr, isna)], dtype=object)
    codes, uniques = pd.factorize(s, use_na_sentinel=True)
    texts = [_level_text(u) for u in np.asarray(uniques, dtype=object)]
    # distinct values with the same text are one level (1 and 1.0); blank text is missing
    tcodes, tuniq = pd.factorize(np.array(texts, dtype=object), use_na_sentinel=False)
    blank = np.array([t.strip() == "" for t in tuniq], dtype=bool)
    lookup = np.append(tcodes, -1).astype(np.int64)  # code -1 (missing) stays -1
    codes = lookup[codes]
    if blank.any():
        keep = np.flatnonzero(~blank)
        renum = np.full(len(tuniq) + 1, -1, dtype=np.int64)
        renum[keep] = np.arange(len(keep))
        codes = renum[codes]
        tuniq = tuniq[keep]
    return codes, [str(t) for t in tuniq], codes < 0


def _too_many_levels(where: _Where, name: str, k: int, intersection: bool) -> InputError:
    if intersection:
        return InputError(
            f"{where.name}: group '{name}' has {k:,} combinations present (more than "
            f"{MAX_GROUP_LEVELS:,}); intersect fewer or coarser columns"
        )
    return InputError(
        f"{where.name}: group column '{name}' has {k:,} distinct values (more than "
        f"{MAX_GROUP_LEVELS:,}); it looks like an identifier, not a group: give a categorical "
        "column (an age band rather than an age; for units such as patients use the cluster "
        "column)"
    )


def _encode_groups(
    where: _Where,
    n: int,
    values: Mapping,
    specs: tuple,
    group_missing: str,
    unknown: str,
) -> tuple[GroupColumn, ...]:
    """The groupings ``specs`` (names of ``values`` or their intersections; default every
    column of ``values`` in order) of ``n`` rows. ``unknown`` words where names are looked up,
    for the message about a spec naming no column."""
    if group_missing not in ("refuse", "level"):
        raise ConfigError(f"`group_missing` must be 'refuse' or 'level'; got {group_missing!r}")
    known = list(values)
    if not specs:
        specs = tuple(known)
    resolved = []
    seen: dict[frozenset, str] = {}
    for spec in specs:
        cols = _spec_columns(spec, known)
        for c in cols:
            if c not in values:
                raise InputError(
                    f"{where.name}: group {spec!r} names column {c!r}, which is not {unknown} "
                    f"({_preview(known) if known else 'none'})"
                )
        key = frozenset(cols)
        if key in seen:
            raise InputError(
                f"{where.name}: group {spec!r} is given twice"
                + (f" (as {seen[key]!r})" if seen[key] != spec else "")
                + "; give each group once"
            )
        seen[key] = spec
        resolved.append(cols)
    for c in dict.fromkeys(c for cols in resolved for c in cols):
        if len(values[c]) != n:
            raise InputError(
                f"{where.name}: `y_true` has {n} values but group column '{c}' has "
                f"{len(values[c])}; give one group value per sample"
            )

    # each column once: sorted levels, missing rows refused or kept as -1
    columns: dict[str, tuple[np.ndarray, list, np.ndarray]] = {}
    for c in dict.fromkeys(c for cols in resolved for c in cols):
        codes, texts, missing = _group_levels(values[c], c, where)
        if len(texts) > MAX_GROUP_LEVELS:
            raise _too_many_levels(where, c, len(texts), False)
        if missing.any():
            if group_missing == "refuse":
                raise InputError(
                    f"{where.name}: group column '{c}' has a missing value at "
                    f"{where.row(_first(missing))}; give every row a value, or pass "
                    "group_missing='level' (--group-missing level) to count them as the level "
                    f"'{GROUP_MISSING_LEVEL}'"
                )
            if GROUP_MISSING_LEVEL in texts:
                raise InputError(
                    f"{where.name}: group column '{c}' has missing values and also the value "
                    f"'{GROUP_MISSING_LEVEL}', the level that group_missing='level' gives missing "
                    "values; rename that value, or give every row a value"
                )
        order = sorted(range(len(texts)), key=lambda j: _natural_key(texts[j]))
        rank = np.empty(len(texts) + 1, dtype=np.int64)
        rank[order] = np.arange(len(texts))
        rank[-1] = -1
        columns[c] = (rank[codes], [texts[j] for j in order], missing)

    out = []
    for cols in resolved:
        if len(cols) == 1:
            codes, levels, missing = columns[cols[0]]
            name = cols[0]
        else:
            name = INTERSECTION.join(cols)
            parts = [columns[c] for c in cols]
            missing = np.logical_or.reduce([p[2] for p in parts])
            dims = tuple(len(p[1]) for p in parts)
            present = ~missing
            stack = [p[0][present] for p in parts]
            if math.prod(dims) < 2**62:
                combined, inverse = np.unique(
                    np.ravel_multi_index(stack, dims), return_inverse=True
                )
                combos = np.stack(np.unravel_index(combined, dims), axis=1)
            else:  # pragma: no cover - more cells than an int64 numbers
                combos, inverse = np.unique(np.stack(stack, axis=1), axis=0, return_inverse=True)
            codes = np.full(n, -1, dtype=np.int64)
            codes[present] = inverse.ravel()
            if len(combos) > MAX_GROUP_LEVELS:
                raise _too_many_levels(where, name, len(combos), True)
            levels = [
                INTERSECTION.join(parts[j][1][int(i)] for j, i in enumerate(row)) for row in combos
            ]
        n_missing = int(missing.sum())
        if n_missing:
            codes = np.where(missing, len(levels), codes)
            levels = [*levels, GROUP_MISSING_LEVEL]
        out.append(GroupColumn(name, codes, tuple(levels), n_missing))
    return tuple(out)


# --------------------------------------------------------------------------------------------
# the core constructor, shared by arrays, frames and files


def _build(
    where: _Where,
    true_values,
    true_column: str,
    pred_values,
    pred_column: str | None,
    score_block: tuple[list, np.ndarray, list] | None,
    cluster_values,
    cluster_column: str | None,
    labels,
    inputs: tuple,
    given_pred_source: str = "column",
    group_block: tuple | None = None,
) -> Predictions:
    """score_block: (score labels as given (str suffixes or array positions), score matrix,
    column names). group_block: the arguments of :func:`_encode_groups` after ``n``."""
    n = len(true_values)
    if n == 0:
        raise InputError(f"{where.name}: no data rows; the input needs at least 2 samples")
    if n == 1:
        raise InputError(f"{where.name}: only 1 data row; an audit needs at least 2 samples (rows)")
    if pred_values is not None and len(pred_values) != n:
        raise InputError(
            f"{where.name}: `y_true` has {n} values but `y_pred` has {len(pred_values)}; "
            "give one prediction per sample"
        )
    if score_block is not None and score_block[1].shape[0] != n:
        raise InputError(
            f"{where.name}: `y_true` has {n} values but `y_score` has {score_block[1].shape[0]} "
            "rows; give one row of scores per sample"
        )
    if cluster_values is not None and len(cluster_values) != n:
        raise InputError(
            f"{where.name}: `y_true` has {n} values but `cluster` has {len(cluster_values)}; "
            "give one cluster id per sample"
        )

    yt, kind_t = _normalise_labels(true_values, true_column, where)
    yp = kind_p = None
    if pred_values is not None:
        yp, kind_p = _normalise_labels(pred_values, pred_column or "y_pred", where)
    yt, yp, score_labels, classes, index, label_list = _resolve_classes(
        yt, kind_t, yp, kind_p, labels, score_block[0] if score_block is not None else None
    )

    y_true = _encode(
        yt,
        index,
        true_column,
        where,
        "true",
        "add it to `labels=` or fix the row" if label_list is not None else "fix the row",
    )

    y_score = None
    probabilities = False
    score_cols = {}
    if score_block is not None:
        assert score_labels is not None  # set with the score block above
        _, matrix, col_names = score_block
        pos = score_positions(where, score_labels, index, classes, col_names)
        if np.array_equal(pos, np.arange(len(classes))):
            y_score = matrix  # already in class order: no copy
        else:
            y_score = np.empty((n, len(classes)), dtype=np.float64)
            y_score[:, pos] = matrix
        for j, p in enumerate(pos):
            score_cols[classes[p]] = col_names[j]
        probabilities = is_probability(y_score)

    if yp is not None:
        y_pred = _encode(
            yp,
            index,
            pred_column or "y_pred",
            where,
            "predicted",
            "add it to `labels=` or fix the row" if label_list is not None else "fix the row",
        )
        pred_source = given_pred_source
    else:
        if y_score is None:
            raise InputError(
                f"{where.name}: no predictions: column '{pred_column}' is missing and there are no "
                "score columns; give predicted labels, scores, or both"
            )
        # argmax returns the first maximum: ties go to the first class in class order.
        y_pred = np.argmax(y_score, axis=1).astype(np.int64)
        pred_source = "argmax"

    cluster = None
    if cluster_values is not None:
        cs = pd.Series(cluster_values).reset_index(drop=True)
        miss = cs.isna().to_numpy()
        if miss.any():
            raise InputError(
                f"{where.name}: column '{cluster_column}' has a missing cluster id at "
                f"{where.row(_first(miss))}; every row needs one"
            )
        codes, _ = pd.factorize(cs, sort=False)
        cluster = codes.astype(np.int64)
    groups = _encode_groups(where, n, *group_block) if group_block is not None else ()

    columns: dict[str, Any] = {
        "y_true": true_column,
        "y_pred": pred_column if yp is not None else None,
    }
    if score_cols:
        columns["scores"] = {str(k): v for k, v in score_cols.items()}
    if cluster_column is not None:
        columns["cluster"] = cluster_column
    if groups:
        columns["groups"] = [g.name for g in groups]
    return Predictions(
        classes=tuple(classes),
        y_true=y_true,
        y_pred=y_pred,
        y_score=y_score,
        cluster=cluster,
        task="multiclass",
        pred_source=pred_source,
        scores_are_probabilities=probabilities,
        inputs=inputs,
        columns=columns,
        groups=groups,
    )


def score_positions(where, score_labels, index, classes, col_names) -> np.ndarray:
    """The class position of each score column: one column per class, each for a class of
    ``classes``; else :class:`~prevalens.InputError` naming the column or the class."""
    if pd.Index(score_labels).duplicated().any():
        dup = pd.Index(score_labels)[pd.Index(score_labels).duplicated()][0]
        raise InputError(
            f"{where.name}: two score columns name class {_py(dup)!r}; "
            "give one score column per class"
        )
    pos = index.get_indexer(score_labels)
    if (pos < 0).any():
        j = _first(pos < 0)
        raise InputError(
            f"{where.name}: score column '{col_names[j]}' is for class {_py(score_labels[j])!r}, "
            f"which is not in `labels=` ({_preview(classes)}); remove the column or add the class"
        )
    if len(pos) < len(classes):
        missing = [c for i, c in enumerate(classes) if i not in set(pos.tolist())]
        raise InputError(
            f"{where.name}: no score column for class {missing[0]!r}"
            + (f" (and {len(missing) - 1} more)" if len(missing) > 1 else "")
            + f"; add column '{_score_name(where, missing[0])}' or drop every score column"
        )
    return pos


def renormalized_scores(pred: Predictions) -> tuple[Predictions, float, int]:
    """``pred`` with each score row divided by its sum (``renormalize_scores``), the largest
    ``|row sum - 1|`` before and its (0-based) row. A row whose scores sum to 0 cannot be
    renormalised: :class:`~prevalens.InputError` naming the row.

    The predicted labels are kept (dividing a row by a positive number keeps its argmax).
    """
    if pred.y_score is None:
        return pred, 0.0, -1
    sums = pred.y_score.sum(axis=1)
    if not (sums.min() > 0):  # also NaN; scores were checked non-negative and finite
        i = _first(~(sums > 0))
        source = pred.inputs[0].path if pred.inputs and pred.inputs[0].path else "`y_score`"
        raise InputError(
            f"{source}: the scores of row {i + 1} sum to {_py(sums[i])!r}; "
            "`renormalize_scores` divides each row by its sum and needs a positive sum in every "
            "row (fix the row, or leave `renormalize_scores` off for ranking metrics only)"
        )
    deviation = np.abs(sums - 1.0)
    worst = int(np.argmax(deviation))
    scores = pred.y_score / sums[:, None]
    renormalized = replace(pred, y_score=scores, scores_are_probabilities=True)
    return renormalized, float(deviation[worst]), worst


def _score_name(where, label):
    return where.score_prefix + str(label)


def _is_int_text(v) -> bool:
    text = str(v).strip()
    return text.lstrip("+-").isdigit()


def _check_scores(matrix: np.ndarray, col_names: list, where: _Where, raw=None) -> np.ndarray:
    """Scores must be finite and non-negative; name the first offending cell. ``raw`` (the score
    columns as read, a DataFrame) is consulted only for that cell's message."""
    finite = np.isfinite(matrix)
    if not finite.all():
        i, j = np.argwhere(~finite)[0]
        # One cell, converted as a whole-frame .to_numpy(dtype=object) would convert it (an object
        # copy of every score would cost more memory than the scores themselves).
        raw_v = raw.iloc[[i], [j]].to_numpy(dtype=object)[0, 0] if raw is not None else matrix[i, j]
        if raw is not None and (
            raw_v is None
            or raw_v is pd.NA
            or (where.csv_lines and isinstance(raw_v, float) and np.isnan(raw_v))
        ):
            what = "score is missing (empty cell)"  # not "nan": the file holds no text here
        else:
            what = f"score {_py(raw_v)!r} is not a finite number"
        raise InputError(
            f"{where.name}: column '{col_names[j]}', {where.row(int(i))}: {what}; "
            "every score must be a finite number"
        )
    neg = matrix < 0
    if neg.any():
        i, j = np.argwhere(neg)[0]
        raise InputError(
            f"{where.name}: column '{col_names[j]}', {where.row(int(i))}: "
            f"score {_py(matrix[i, j])!r} is negative; scores must be >= 0 "
            "(apply a softmax to logits first)"
        )
    return matrix


# --------------------------------------------------------------------------------------------
# arrays


def predictions_from_arrays(
    y_true,
    y_pred=None,
    *,
    y_score=None,
    labels=None,
    cluster=None,
    groups: Mapping | None = None,
    group_specs: Sequence[str] | str = (),
    group_missing: str = "refuse",
) -> Predictions:
    """Validate and encode predictions given as arrays.

    Parameters
    ----------
    y_true : array-like of shape (n,)
        True labels (strings or integers).
    y_pred : array-like of shape (n,), optional
        Predicted labels. When omitted, the argmax of ``y_score`` (first class on ties).
    y_score : array-like of shape (n, K), optional
        Scores, one column per class in class order (``labels`` if given, else the sorted labels
        of ``y_true`` and ``y_pred``).
    labels : sequence, optional
        The classes, in order. Classes that never occur are kept (support 0).
    cluster : array-like of shape (n,), optional
        Resampling units (e.g. patient ids).
    groups : mapping of str to array-like of shape (n,), optional
        Categorical columns of subgroups, by name: any single values (text, integers, booleans,
        a pandas categorical). A level's name is the value's text after pandas reads it: integers
        as ``"1"``, booleans as ``"True"``/``"False"``, integral floats as integers (``3.0`` is
        ``"3"``, so that an integer column with a missing value, which pandas holds as floats,
        keeps its levels), other floats as Python prints them (``"2.5"``); the text is not
        stripped. Missing: None, NaN, ``pd.NA`` and empty or blank text. Levels are in natural
        order of their text (numbers by value, ``"site2"`` before ``"site10"``). More than
        1,000 levels in one grouping are refused (an identifier, not a group).
    group_specs : sequence of str
        The groupings to audit within, in order: a name of ``groups``, or an intersection of
        two or more names joined by ``*`` (also ``×`` or ``:``), e.g. ``"sex*site"``, named
        ``"sex×site"`` with levels such as ``"F×A"`` (only the combinations present, in the
        order of the columns' levels). A spec that is exactly a name of ``groups`` is that
        column. Default: every column of ``groups``, in order.
    group_missing : {"refuse", "level"}
        A missing group value is refused (naming the column and row), or counted as the level
        ``"missing"`` (the last level; in an intersection, a row missing any of its columns is
        ``"missing"``).

    Returns
    -------
    Predictions
        With ``groups``: a :class:`GroupColumn` per grouping.

    Raises
    ------
    InputError
        With a one-line message naming the argument and the first offending position.

    Examples
    --------
    >>> p = predictions_from_arrays(["cat", "dog", "cat"], ["cat", "cat", "cat"],
    ...                             labels=["cat", "dog", "bird"])
    >>> p.classes, p.y_true.tolist(), p.counts().support.tolist()
    (('cat', 'dog', 'bird'), [0, 1, 0], [2, 1, 0])
    >>> predictions_from_arrays(["cat", None], ["cat", "dog"])
    Traceback (most recent call last):
    ...
    prevalens.exceptions.InputError: arrays: column 'y_true' has a missing label at row 2; every row needs a y_true value
    >>> p = predictions_from_arrays([0, 1, 1, 0], [0, 1, 0, 0],
    ...                             groups={"sex": ["F", "M", "F", "F"], "site": [2, 10, 2, 1]},
    ...                             group_specs=["site", "sex*site"])
    >>> [(g.name, g.levels, g.codes.tolist()) for g in p.groups]
    [('site', ('1', '2', '10'), [1, 2, 1, 0]), ('sex×site', ('F×1', 'F×2', 'M×10'), [1, 2, 1, 0])]
    """
    where = _Where("arrays")
    if y_true is None:
        raise InputError("`y_true` is required")
    specs = _as_specs(group_specs, "group_specs")
    group_block = None
    if groups is not None:
        if not isinstance(groups, Mapping):
            raise InputError(
                f"`groups` must be a mapping {{name: values}} of group columns; "
                f"got {type(groups).__name__}"
            )
        bad = [k for k in groups if not isinstance(k, str)]
        if bad:
            raise InputError(f"`groups` names a column {bad[0]!r}; name group columns with text")
        values = {k: _as_1d(v, f"groups[{k!r}]") for k, v in groups.items()}
        group_block = (values, specs, group_missing, "a name of `groups`")
    elif specs:
        raise InputError(
            f"`group_specs` names {specs[0]!r} but no `groups=` were given; pass the group "
            "columns as groups={name: values}"
        )
    y_true = _as_1d(y_true, "y_true")
    y_pred = _as_1d(y_pred, "y_pred") if y_pred is not None else None
    score_block = None
    if y_score is not None:
        m = np.asarray(y_score)
        if m.ndim != 2:
            raise InputError(f"`y_score` must be 2-D (n_samples, n_classes), got shape {m.shape}")
        try:
            m = np.asarray(m, dtype=np.float64)  # no copy when already float64
        except (TypeError, ValueError):
            raise InputError("`y_score` must hold numbers") from None
        names = [f"y_score[:, {j}]" for j in range(m.shape[1])]
        _check_scores(m, names, where)
        if labels is not None:
            slabels = list(labels)
            if len(slabels) != m.shape[1]:
                raise InputError(
                    f"`y_score` has {m.shape[1]} columns but `labels` has {len(slabels)} classes; "
                    "give one score column per class, in the order of `labels`"
                )
        else:
            yt, kt = _normalise_labels(y_true, "y_true", where)
            universe = set(pd.unique(yt).tolist())
            kinds = {kt}
            if y_pred is not None:
                yp, kp = _normalise_labels(y_pred, "y_pred", where)
                universe |= set(pd.unique(yp).tolist())
                kinds.add(kp)
            kind = "int" if kinds == {"int"} else "str"
            slabels = _sorted_classes(
                {str(v) for v in universe} if kind == "str" else universe, kind
            )
            if len(slabels) != m.shape[1]:
                raise InputError(
                    f"`y_score` has {m.shape[1]} columns but the labels hold {len(slabels)} classes "
                    f"({_preview(slabels)}); pass `labels=` to name the score columns' classes"
                )
        score_block = (slabels, m, names)
    return _build(
        where,
        y_true,
        "y_true",
        y_pred,
        "y_pred",
        score_block,
        cluster,
        "cluster",
        labels,
        (InputInfo(None, None, len(y_true)),),
        given_pred_source="array",
        group_block=group_block,
    )


def _as_1d(values, name):
    if isinstance(values, pd.Series):
        return values.reset_index(drop=True)
    arr = np.asarray(values, dtype=object) if not isinstance(values, np.ndarray) else values
    if arr.ndim != 1:
        raise InputError(f"`{name}` must be 1-D, got shape {arr.shape}")
    return pd.Series(arr)


# --------------------------------------------------------------------------------------------
# frames and files


def load_predictions(
    source,
    *,
    labels=None,
    y_true: str = "y_true",
    y_pred: str = "y_pred",
    score_prefix: str = "score_",
    score_columns: Mapping | None = None,
    cluster: str | None = None,
    groups: Sequence[str] | str = (),
    group_missing: str = "refuse",
) -> Predictions:
    """Load predictions from a CSV or Parquet file, a DataFrame, or a mapping of arrays.

    Parameters
    ----------
    source : str, os.PathLike, pandas.DataFrame or mapping
        A path (``.parquet``/``.pq`` read as Parquet, anything else as UTF-8 CSV), a DataFrame, or
        a mapping ``{"y_true": ..., "y_pred": ..., "y_score": (n, K), "cluster": ...,
        "groups": {name: values}}`` of arrays.
    labels : sequence, optional
        The classes in order; classes absent from the data are kept with support 0. Default: the
        sorted union of true labels, predicted labels and score-column classes.
    y_true, y_pred : str
        Column names of the true and predicted labels. ``y_pred`` may be absent when there are
        score columns; predictions are then the argmax of the scores (first class on ties).
    score_prefix : str
        Score columns are named ``<prefix><label>``.
    score_columns : mapping, optional
        ``{label: column}`` for score columns with other names (replaces the prefix lookup).
    cluster : str, optional
        Column of resampling units (e.g. patient id).
    groups : sequence of str
        Groupings to audit within (subgroups): a column, or an intersection of columns joined
        by ``*`` (``"sex*site"``); a column whose name is the whole spec is that column. Read
        with the labels' typing (a CSV column of integers gives the levels ``"1"``, ``"2"``,
        ...); see :func:`predictions_from_arrays` for the levels. For a mapping source, the
        names of its ``"groups"`` (default: all of them).
    group_missing : {"refuse", "level"}
        A missing group value (an empty cell) is refused, or counted as the level
        ``"missing"``.

    Raises
    ------
    InputError
        With a one-line message naming the file, column and first offending row; also when the
        file does not fit in memory (naming its size and what to do).

    Examples
    --------
    >>> import pandas as pd
    >>> frame = pd.DataFrame({"y_true": ["a", "b"], "y_pred": ["a", "a"],
    ...                       "score_a": [0.9, 0.6], "score_b": [0.1, 0.4]})
    >>> p = load_predictions(frame)
    >>> p.classes, p.has_scores, p.scores_are_probabilities
    (('a', 'b'), True, True)

    Notes
    -----
    Large inputs: from a Parquet file only the columns these arguments name are read (other
    columns may hold any type), and the file is hashed in 1 MiB chunks rather than held in memory.
    A CSV file of 8 MiB or more is read with pyarrow's multi-threaded reader whenever its result
    is provably the one pandas' C engine gives (see ``_read_csv_arrow``), else with the C engine.
    """
    if isinstance(source, Mapping) and not isinstance(source, pd.DataFrame):
        return predictions_from_arrays(
            source.get("y_true"),
            source.get("y_pred"),
            y_score=source.get("y_score"),
            labels=labels,
            cluster=source.get("cluster"),
            groups=source.get("groups"),
            group_specs=groups,
            group_missing=group_missing,
        )
    specs = _as_specs(groups, "groups")
    if isinstance(source, pd.DataFrame):
        where = _Where("DataFrame")
        frame = source
        info = InputInfo(None, None, len(frame))
    elif isinstance(source, (str, os.PathLike)):
        path = Path(source)
        roles = _Roles(y_true, y_pred, score_prefix, score_columns, cluster, groups=specs)
        try:
            frame, info, where, columns = _read_file(path, roles)
            where.score_prefix = score_prefix
            return _from_frame(
                frame,
                where,
                info,
                labels=labels,
                y_true=y_true,
                y_pred=y_pred,
                score_prefix=score_prefix,
                score_columns=score_columns,
                cluster=cluster,
                columns=columns,
                groups=specs,
                group_missing=group_missing,
            )
        except MemoryError:
            pass  # raised below, outside the handler, so that what was read can be freed first
        raise _out_of_memory(path)
    else:
        raise InputError(
            f"`source` must be a file path, a pandas DataFrame or a mapping of arrays, got "
            f"{type(source).__name__}; for arrays use predictions_from_arrays(y_true, y_pred, ...)"
        )
    where.score_prefix = score_prefix
    return _from_frame(
        frame,
        where,
        info,
        labels=labels,
        y_true=y_true,
        y_pred=y_pred,
        score_prefix=score_prefix,
        score_columns=score_columns,
        cluster=cluster,
        groups=specs,
        group_missing=group_missing,
    )


def load_models(
    sources,
    *,
    names=None,
    columns: Mapping | None = None,
    id_column: str | None = None,
    labels=None,
    y_true: str = "y_true",
    y_pred: str = "y_pred",
    score_prefix: str = "score_",
    cluster: str | None = None,
    groups: Sequence[str] | str = (),
    group_missing: str = "refuse",
) -> dict:
    """Load the predictions of several models scored on the same samples, for
    :func:`prevalens.compare_predictions`.

    Either one file with a column set per model (``columns={name: (y_pred column, score
    prefix)}``; either may be None), or one file per model (``sources`` a list of paths; ``names``
    default the file stems), whose rows are matched by ``id_column`` (each id once per file, the
    same ids in every file; rows are put in the first file's order) or, without it, by position.

    Returns ``{name: Predictions}`` with the same classes (default the sorted union over the
    models). Every mismatch (a missing column, an id in one file only, a duplicated id, a
    different true label for the same id) raises :class:`InputError` naming the file and the id or
    row.

    ``groups`` (and ``group_missing``) are not supported yet: a comparison of models within
    subgroups is refused with a :class:`~prevalens.ConfigError`.
    """
    if _as_specs(groups, "groups"):
        raise ConfigError(
            "subgroups (--group) are not compared between models yet; audit each model with "
            "`prevalens audit --group ...`, or leave --group out of the comparison"
        )
    paths = [sources] if isinstance(sources, (str, os.PathLike)) else list(sources)
    if not paths:
        raise InputError("no predictions file given; give one file per model, or one file")
    if columns is not None:
        if len(paths) != 1:
            raise InputError("column sets per model (--model NAME=COLUMN) need exactly one file")
        specs = {
            str(n): (c[0] or y_pred, c[1] if c[1] is not None else "") for n, c in columns.items()
        }
        jobs = [(name, paths[0], col, prefix) for name, (col, prefix) in specs.items()]
    else:
        if names is None:
            names = [Path(p).stem for p in paths]
        names = [str(n) for n in names]
        if len(names) != len(paths):
            raise InputError(f"{len(names)} model names for {len(paths)} files; give one per file")
        if len(set(names)) != len(names):
            dup = next(n for n in names if names.count(n) > 1)
            raise InputError(f"two models are named {dup!r}; give each model its own name (--name)")
        jobs = [(name, p, y_pred, score_prefix) for name, p in zip(names, paths)]
    if len(jobs) < 2:
        raise InputError(f"a comparison needs two or more models; got {len(jobs)}")

    def load(the_labels):
        out, ids = {}, {}
        for name, path, col, prefix in jobs:
            roles = _Roles(y_true, col, prefix, None, cluster, (id_column,) if id_column else ())
            where_name = str(path)
            try:
                frame, info, where, cols = _read_file(Path(path), roles)
            except MemoryError:
                raise _out_of_memory(Path(path)) from None
            where.score_prefix = prefix
            if id_column is not None:
                if id_column not in frame.columns:
                    raise InputError(
                        f"{where_name}: no id column {id_column!r} to match rows on; name it "
                        "with --id, or leave --id out to match rows by position"
                    )
                ids[name] = (frame[id_column].to_numpy(), where_name)
            out[name] = _from_frame(
                frame,
                where,
                info,
                labels=the_labels,
                y_true=y_true,
                y_pred=col,
                score_prefix=prefix,
                score_columns=None,
                cluster=cluster,
                columns=cols,
            )
        return out, ids

    models, ids = load(labels)
    classes = {m.classes for m in models.values()}
    if labels is None and len(classes) > 1:
        union = set().union(*classes)
        kind = "int" if all(isinstance(c, (int, np.integer)) for c in union) else "str"
        models, ids = load(_sorted_classes(union, kind))
    if id_column is not None:
        models = _align(models, ids, id_column)
    return models


def _align(models: dict, ids: dict, id_column: str) -> dict:
    """Put every model's rows in the order of the first model's ids."""
    first = next(iter(models))
    ref_ids, ref_path = ids[first]
    ref_index = pd.Index(ref_ids)
    for values, path in ids.values():
        dup = pd.Index(values).duplicated()
        if dup.any():
            row = int(np.flatnonzero(dup)[0])
            raise InputError(
                f"{path}: id {_py(values[row])!r} in column {id_column!r} appears twice "
                f"(row {row + 1}); each sample needs its own id"
            )
    out = {}
    for name, pred in models.items():
        values, path = ids[name]
        if name == first:
            out[name] = pred
            continue
        if len(values) != len(ref_ids):
            raise InputError(
                f"{path} has {len(values)} rows and {ref_path} {len(ref_ids)}; a paired comparison "
                "needs the same samples in every file"
            )
        pos = pd.Index(values).get_indexer(ref_index)
        if (pos < 0).any():
            missing = ref_ids[int(np.flatnonzero(pos < 0)[0])]
            raise InputError(
                f"{path}: id {_py(missing)!r} of {ref_path} is missing; a paired comparison "
                "needs the same samples in every file"
            )
        base = models[first]
        wrong = np.flatnonzero(pred.y_true[pos] != base.y_true)
        if wrong.size:
            i = int(wrong[0])
            raise InputError(
                f"{path}: id {_py(ref_ids[i])!r} has true label {pred.classes[pred.y_true[pos[i]]]!r}"
                f" but {base.classes[base.y_true[i]]!r} in {ref_path}; the files must hold the "
                "same samples"
            )
        out[name] = replace(
            pred,
            y_true=pred.y_true[pos],
            y_pred=pred.y_pred[pos],
            y_score=None if pred.y_score is None else pred.y_score[pos],
            # codes by first appearance, as the reference's: equal when the groups are the same
            cluster=None
            if pred.cluster is None
            else pd.factorize(pred.cluster[pos], sort=False)[0].astype(np.int64),
        )
    return out


def _from_frame(
    frame,
    where,
    info,
    *,
    labels,
    y_true,
    y_pred,
    score_prefix,
    score_columns,
    cluster,
    columns=None,
    groups: tuple = (),
    group_missing: str = "refuse",
):
    """``columns``: every column of the source, when ``frame`` holds only those the audit needs
    (a file read column-selectively); the checks and messages are about the source's columns.
    ``groups``: group specs naming columns of the source."""
    cols = [str(c) for c in (frame.columns if columns is None else columns)]
    dup = pd.Index(cols).duplicated()
    if dup.any():
        raise InputError(
            f"{where.name}: column '{cols[_first(dup)]}' appears twice in the header; "
            "give each column once"
        )
    frame = frame.set_axis([str(c) for c in frame.columns], axis=1)
    if y_true not in cols:
        raise InputError(
            f"{where.name}: column '{y_true}' not found (columns: {_preview(cols)}); "
            "name the true-label column 'y_true' or pass `y_true=`"
        )
    if score_columns is not None:
        if not isinstance(score_columns, Mapping) or not score_columns:
            raise InputError("`score_columns` must be a non-empty mapping {label: column}")
        for label, col in score_columns.items():
            if col not in cols:
                raise InputError(
                    f"{where.name}: score column '{col}' (for class {label!r}) not found "
                    f"(columns: {_preview(cols)})"
                )
        score_pairs = [(label, col) for label, col in score_columns.items()]
    else:
        score_pairs = [
            (c[len(score_prefix) :], c) for c in cols if score_prefix and c.startswith(score_prefix)
        ]
        empty = [c for label, c in score_pairs if label == ""]
        if empty:
            raise InputError(
                f"{where.name}: column '{empty[0]}' has no class name after the prefix "
                f"'{score_prefix}'; name score columns '{score_prefix}<label>'"
            )
    if cluster is not None and cluster not in cols:
        raise InputError(
            f"{where.name}: cluster column '{cluster}' not found (columns: {_preview(cols)})"
        )
    if len(frame) == 0:
        raise InputError(
            f"{where.name}: no data rows (only a header); the input needs at least 2 samples"
        )

    score_block = None
    if score_pairs:
        names = [c for _, c in score_pairs]
        raw = frame[names]
        numeric = raw.apply(pd.to_numeric, errors="coerce")
        matrix = numeric.to_numpy(dtype=np.float64)
        _check_scores(matrix, names, where, raw=raw)
        score_block = ([label for label, _ in score_pairs], matrix, names)
    pred_values = frame[y_pred] if y_pred in cols else None
    group_block = None
    if groups:
        # only the named columns (absent ones are named by _encode_groups, with the file's)
        values: dict[str, Any] = dict.fromkeys(cols)
        for spec in groups:
            for c in _spec_columns(spec, cols):
                if c in values:
                    values[c] = frame[c]
        group_block = (
            values,
            groups,
            group_missing,
            f"a column of {'the file' if where.name != 'DataFrame' else 'the DataFrame'}",
        )
    return _build(
        where,
        frame[y_true],
        y_true,
        pred_values,
        y_pred,
        score_block,
        frame[cluster] if cluster is not None else None,
        cluster,
        labels,
        (info,),
        group_block=group_block,
    )


# --------------------------------------------------------------------------------------------
# files


@dataclass(frozen=True)
class _Roles:
    """The column arguments of :func:`load_predictions`: which columns an audit reads."""

    y_true: str = "y_true"
    y_pred: str = "y_pred"
    score_prefix: str = "score_"
    score_columns: Mapping | None = None
    cluster: str | None = None
    extra: tuple = ()  # other columns to read (e.g. a row id to join on)
    groups: tuple = ()  # group specs: their columns are read as labels are

    def group_names(self, names: list) -> set:
        """The columns of the group specs among ``names`` (the file's columns)."""
        out: set[str] = set()
        for spec in self.groups:
            try:
                out.update(_spec_columns(spec, names))
            except ConfigError:
                pass  # refused by _encode_groups with its own message
        return out

    def score_names(self, names: list) -> list:
        """The score columns among ``names`` (the file's columns), in file order."""
        if self.score_columns is not None:
            if not isinstance(self.score_columns, Mapping):
                return []  # refused by _from_frame with its own message
            wanted = list(self.score_columns.values())
            return [c for c in names if c in wanted]
        if not self.score_prefix:
            return []
        return [c for c in names if c.startswith(self.score_prefix)]

    def select(self, names: list) -> list:
        """The columns the audit needs among ``names``, in file order. Absent ones are left to
        _from_frame, which names them in its message."""
        scores = set(self.score_names(names))
        labels = {self.y_true, self.y_pred, self.cluster, *self.extra} | self.group_names(names)
        return [c for c in names if c in labels or c in scores]


def _human_size(size: int | None) -> str:
    if size is None:
        return "size unknown"
    if size < 1024:
        return f"{size} bytes"
    value = float(size)
    for unit in ("KiB", "MiB", "GiB", "TiB", "PiB"):
        value /= 1024
        if value < 1024 or unit == "PiB":
            return f"{value:.1f} {unit}"
    raise AssertionError("unreachable")


def _is_parquet(path: Path, head: bytes) -> bool:
    return path.suffix.lower() in _PARQUET_SUFFIXES or head[:4] == b"PAR1"


def _out_of_memory(path: Path) -> InputError:
    name = str(path)
    try:
        size = path.stat().st_size
        with path.open("rb") as fh:
            head = fh.read(4)
    except OSError:
        size, head = None, b""
    where = f"{name}: does not fit in memory ({_human_size(size)} on disk"
    engine = (
        "; to audit its labels without loading the rows, count it with --engine duckdb "
        "(pip install 'prevalens[duckdb]'), or split it into smaller files"
    )
    if _is_parquet(path, head):
        return InputError(f"{where}, even reading only the columns the audit needs){engine}")
    return InputError(
        f"{where}); convert it to Parquet, which prevalens reads column by column{engine}"
    )


def _cannot_read(name: str, exc: OSError) -> InputError:
    return InputError(f"{name}: cannot be read ({exc.strerror or exc}); check its permissions")


def _hash_file(path: Path, name: str) -> tuple[str, bool]:
    """SHA-256 of the file, read 1 MiB at a time, and whether it holds anything but whitespace."""
    digest, blank = hashlib.sha256(), True
    try:
        with path.open("rb") as fh:
            while chunk := fh.read(_HASH_CHUNK):
                digest.update(chunk)
                blank = blank and not chunk.strip()
    except OSError as exc:
        raise _cannot_read(name, exc) from None
    return digest.hexdigest(), blank


def _read_file(path: Path, roles: _Roles | None = None):
    """Read a CSV or Parquet file. Returns ``(frame, info, where, columns)``: ``columns`` is every
    column of the file when ``frame`` holds only the ones ``roles`` needs (else None). Without
    ``roles`` every column is read."""
    name = str(path)
    try:
        exists, is_dir = path.exists(), path.is_dir()
    except OSError as exc:  # e.g. a parent directory that may not be searched (EACCES)
        raise _cannot_read(name, exc) from None
    if not exists:
        raise InputError(f"{name}: file not found; check the path")
    if is_dir:
        raise InputError(f"{name}: is a directory; give a CSV or Parquet file")
    try:
        with path.open("rb") as fh:
            head = fh.read(4)
    except OSError as exc:
        raise _cannot_read(name, exc) from None
    if _is_parquet(path, head):
        sha256, blank = _hash_file(path, name)
        if blank:
            raise InputError(f"{name}: file is empty; it needs a header and at least 2 data rows")
        frame, columns = _read_parquet(path, name, roles)
        return frame, InputInfo(name, sha256, len(frame)), _Where(name), columns

    try:
        data = path.read_bytes()  # CSV: the text is needed anyway, for line numbers in messages
    except OSError as exc:
        raise _cannot_read(name, exc) from None
    sha256 = hashlib.sha256(data).hexdigest()
    if not data.strip():
        raise InputError(f"{name}: file is empty; it needs a header and at least 2 data rows")
    where = _Where(name, csv_lines=True)
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise InputError(
            f"{name}: line {line}: byte 0x{data[exc.start]:02x} is not valid UTF-8; "
            "save the file as UTF-8"
        ) from None
    where.text = text
    try:
        header = next(csv.reader(_lines(text)), [])
    except csv.Error as exc:
        cr = "\r" in text and "\n" not in text
        raise InputError(
            f"{name}: not a readable CSV file ({_one_line(exc)})"
            + (
                "; its lines end in a lone carriage return (old Mac style): save it with LF or "
                "CRLF line endings"
                if cr
                else ""
            )
        ) from None
    dup = pd.Index(header).duplicated()
    if dup.any():
        raise InputError(
            f"{name}: column '{header[_first(dup)]}' appears twice in the header; "
            "give each column once"
        )
    frame = None
    if roles is not None and len(data) >= _ARROW_CSV_MIN_BYTES:
        frame = _read_csv_arrow(data, header, roles)
    columns = header if frame is not None else None
    if frame is None:
        try:
            # Labels such as "NA" or "null" are real class names: only an empty cell is missing.
            frame = pd.read_csv(
                _io.StringIO(text), keep_default_na=False, na_values=[""], low_memory=False
            )
        except pd.errors.EmptyDataError:
            raise InputError(
                f"{name}: file is empty; it needs a header and at least 2 data rows"
            ) from None
        except (pd.errors.ParserError, ValueError) as exc:
            raise InputError(f"{name}: not a readable CSV file ({_one_line(exc)})") from None
    return frame, InputInfo(name, sha256, len(frame)), where, columns


def _read_parquet(path: Path, name: str, roles: _Roles | None):
    """Read the columns ``roles`` needs (all without ``roles``) from the file itself (not a copy in
    memory). Returns ``(frame, columns)`` as _read_file."""
    import pyarrow.parquet as pq

    try:
        # ParquetFile, not read_table: the dataset reader fails on duplicate column names
        # with an obscure message before the check below can name the column.
        pf = pq.ParquetFile(str(path))
    except MemoryError:
        raise
    except Exception as exc:  # pyarrow raises several types for corrupt files
        raise InputError(f"{name}: not a readable Parquet file ({_one_line(exc)})") from None
    with pf:
        names = list(pf.schema_arrow.names)
        dup = pd.Index(names).duplicated()
        if dup.any():
            raise InputError(
                f"{name}: column '{names[_first(dup)]}' appears twice; give each column once"
            )
        wanted = None
        columns = None
        if roles is not None:
            # Columns that pandas stored as the index become the frame's index, not columns.
            try:
                meta = pf.schema_arrow.pandas_metadata or {}
                index = {c for c in meta.get("index_columns", []) if isinstance(c, str)}
            except Exception:  # malformed pandas metadata: to_pandas() below decides
                index = set()
            columns = [c for c in names if c not in index]
            wanted = roles.select(columns)
        try:
            table = pf.read(columns=wanted)
        except MemoryError:
            raise
        except Exception as exc:
            raise InputError(f"{name}: not a readable Parquet file ({_one_line(exc)})") from None
    if wanted is not None and table.column_names != wanted:
        # A name with a dot also selects the nested field of that path: keep the named columns.
        table = table.select(wanted)
    try:
        frame = table.to_pandas()
    except MemoryError:
        raise
    except Exception as exc:  # e.g. a needed column of a type pandas cannot hold
        types = ", ".join(f"'{f.name}' ({f.type})" for f in table.schema)
        raise InputError(
            f"{name}: the columns {types} cannot be converted to a table "
            f"({_one_line(exc)}); store labels as text or integers and scores as "
            "floats"
        ) from None
    del table
    return frame, columns


# --------------------------------------------------------------------------------------------
# CSV with pyarrow's multi-threaded reader, when its result is provably pandas' C engine's


def _read_csv_arrow(data: bytes, header: list, roles: _Roles) -> pd.DataFrame | None:
    """Read the columns the audit needs with pyarrow's CSV reader, giving exactly the frame that
    ``pd.read_csv(text, keep_default_na=False, na_values=[""], low_memory=False)`` gives for them,
    or None (read with the C engine) whenever that cannot be guaranteed.

    ``pd.read_csv(engine="pyarrow")`` itself is not used: its type inference differs from the C
    engine's ("0x10" becomes 16, "+1" a float, "nan" and "NaN" missing, "1"/"true" booleans, dates
    timestamps, ...). Instead pyarrow only tokenises (the two tokenisers agree on RFC 4180 quoting;
    rows whose field count differs from the header's, which the C engine pads, shifts or skips, make
    pyarrow raise, and then the C engine reads the file) and the types are settled here:

    * label columns (y_true, y_pred, cluster) are read as text and typed by the C engine itself,
      run on their distinct values: its inference (int64, uint64, float64, bool, else text) depends
      only on the set of values, which is tiny for labels;
    * score columns are parsed as float64. Any empty cell or non-finite value falls back (the C
      engine's text then words the message). Every finite number pyarrow accepts is a number to the
      C engine too, and both parse with fast_float (correctly rounded), so the values are equal; on
      a pandas whose C parser is not correctly rounded (before fast_float) nothing is read here.

    The equality is also tested on thousands of generated files (tests/test_inputs.py).
    """
    wanted = roles.select(header)
    scores = roles.score_names(header)
    labels = [c for c in wanted if c not in scores]
    if (
        len(header) < 2  # a whitespace-only line is skipped by C, a value to pyarrow
        or any(c == "" for c in header)  # the C engine names it "Unnamed: i"
        or roles.y_true not in labels
        or (roles.cluster is not None and roles.cluster not in labels)
        or not (roles.y_pred in labels or scores)
        or (
            roles.score_columns is not None
            and (
                not isinstance(roles.score_columns, Mapping)
                or len(scores) != len(roles.score_columns)
            )
        )
        or ({roles.y_true, roles.y_pred, roles.cluster} | roles.group_names(header)) & set(scores)
        or not _float_parsers_agree()
        or not _quoting_is_safe(data)
    ):
        return None
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.csv as pacsv

    types = {c: pa.string() for c in labels} | {c: pa.float64() for c in scores}
    try:
        table = pacsv.read_csv(
            pa.BufferReader(data),  # no copy; a UTF-8 BOM is skipped as by utf-8-sig
            parse_options=pacsv.ParseOptions(
                # Without quotes no value spans lines, and blocks may be split at any newline.
                newlines_in_values=b'"' in data,
            ),
            convert_options=pacsv.ConvertOptions(
                column_types=types,
                include_columns=wanted,
                null_values=[""],
                strings_can_be_null=True,
                quoted_strings_can_be_null=True,
            ),
        )
    except MemoryError:
        raise
    except Exception:  # any parse error: the C engine reads it (and words the message)
        return None
    if table.column_names != wanted or table.num_rows == 0:
        return None
    out = {}
    for c in wanted:
        col = table.column(c)
        if col.null_count:  # a missing value: the C engine's types then matter for the message
            return None
        if c in scores:
            values = col.to_numpy()
            if not np.isfinite(values).all():
                return None
            out[c] = values
        else:
            distinct = pc.unique(col)
            typed = _c_engine_types(distinct.to_pylist())
            if typed is None:
                return None
            codes = pc.index_in(col, value_set=distinct).to_numpy()
            out[c] = typed.take(codes).reset_index(drop=True)
    del table
    return pd.DataFrame(out, columns=wanted)


def _quoting_is_safe(data: bytes) -> bool:
    """Every quote opens a field, closes one, or is doubled inside one; none is left open; and no
    quoted value holds a carriage return.

    Then both tokenisers split the file alike. Otherwise they may not: pyarrow takes a quote left
    open at the end of the file as a value that runs to the end, where the C engine raises "EOF
    inside string"; and pyarrow drops the "\\n" of a quoted "\\r\\n" that a block boundary splits
    (pyarrow 26). Checked by toggling on every quote (a doubled quote toggles twice): the even
    ones must open a field (follow a comma, a line end, the start or the quote just before them),
    the odd ones close one (precede a comma, a line end, the end or another quote), and a carriage
    return must not follow an odd number of quotes.
    """
    if b'"' not in data:
        return True
    buf = np.frombuffer(data, dtype=np.uint8)
    start = 3 if data.startswith(b"\xef\xbb\xbf") else 0
    quote, cr = ord('"'), ord("\r")
    seps = np.array([ord(","), ord("\n"), cr, quote], dtype=np.uint8)
    has_cr = b"\r" in data
    step, n_quotes = 1 << 24, 0
    for lo in range(0, len(buf), step):  # in slices: a mask of the whole file would double it
        part = buf[lo : lo + step]
        q = np.flatnonzero(part == quote) + lo
        opening = (np.arange(len(q)) + n_quotes) % 2 == 0
        before = np.where(q > start, buf[np.maximum(q - 1, 0)], ord(","))
        after = np.where(q + 1 < len(buf), buf[np.minimum(q + 1, len(buf) - 1)], ord(","))
        if not np.where(opening, np.isin(before, seps), np.isin(after, seps)).all():
            return False
        if has_cr:
            r = np.flatnonzero(part == cr) + lo
            if ((n_quotes + np.searchsorted(q, r)) % 2 == 1).any():
                return False
        n_quotes += len(q)
    return n_quotes % 2 == 0


def _c_engine_types(values: list) -> pd.Series | None:
    """``values`` (distinct, non-empty strings) typed as the C engine types a column holding
    them: each quoted on a line of its own, so that the C engine sees exactly these values."""
    text = "v\n" + "".join('"' + v.replace('"', '""') + '"\n' for v in values)
    typed = pd.read_csv(
        _io.StringIO(text), keep_default_na=False, na_values=[""], low_memory=False
    )["v"]
    return typed if len(typed) == len(values) and not typed.isna().any() else None


# Decimal strings that a parser which is not correctly rounded may get wrong: long mantissas (the
# pandas C parser before fast_float read the first as 1.7), a value at the boundary of the
# subnormals, a tie (2**53 + 1) and the smallest subnormal.
_FLOAT_PROBES = (
    "1.700000000000000177635684",
    "0.1234567890123456789012",
    "2.2250738585072011e-308",
    "9007199254740993",
    "4.9e-324",
)


@functools.cache
def _float_parsers_agree() -> bool:
    """Both pandas' C parser and pyarrow's round decimal text correctly (as Python's float() does),
    so they give the same float64 for every number. True from pandas 3.1 (fast_float)."""
    try:
        import pyarrow as pa
        import pyarrow.csv as pacsv

        text = "v\n" + "\n".join(_FLOAT_PROBES) + "\n"
        expected = [float(v) for v in _FLOAT_PROBES]
        c_values = pd.read_csv(
            _io.StringIO(text), keep_default_na=False, na_values=[""], low_memory=False
        )["v"]
        arrow_values = (
            pacsv.read_csv(
                pa.BufferReader(text.encode()),
                convert_options=pacsv.ConvertOptions(column_types={"v": pa.float64()}),
            )
            .column("v")
            .to_pylist()
        )
    except Exception:  # pragma: no cover - then the C engine reads every CSV
        return False
    return (
        c_values.dtype == np.float64 and c_values.tolist() == expected and arrow_values == expected
    )


def _one_line(exc) -> str:
    return " ".join(str(exc).split())[:300]


# --------------------------------------------------------------------------------------------
# files the user names that are not predictions: a configuration file, a previous results.json


def read_user_file(
    path, label: str, *, missing: str, directory: str, error: type[Exception] = InputError
) -> bytes:
    """The bytes of a file the user named; a missing file, a directory or an unreadable file
    raise ``error`` with a one-line message starting with ``label``."""
    try:
        return Path(path).read_bytes()
    except FileNotFoundError:
        raise error(f"{label}: {missing}") from None
    except IsADirectoryError:
        raise error(f"{label}: {directory}") from None
    except OSError as exc:
        raise error(f"{label}: cannot be read ({exc.strerror or exc})") from None


def read_results(path, what: str = "") -> tuple[AuditResult, Path, str]:
    """Read and validate a ``results.json`` written by ``prevalens audit``: returns the result,
    the path and the file's SHA-256. Every problem (missing, not JSON, NaN tokens, another
    schema, not following the JSON Schema) is an :class:`InputError` whose message starts with
    ``what`` and the path."""
    path = Path(path)
    label = f"{what} {path}" if what else str(path)
    raw = read_user_file(
        path,
        label,
        missing="not found (give the results.json of a prevalens audit)",
        directory="is a directory (give the results.json inside it)",
    )

    def no_constants(token):
        raise ValueError(f"{token} is not valid JSON (undefined numbers are written as null)")

    try:
        d = json.loads(raw.decode("utf-8"), parse_constant=no_constants)
    except UnicodeDecodeError:
        raise InputError(f"{label}: not UTF-8 text (a results.json is UTF-8 JSON)") from None
    except ValueError as exc:
        raise InputError(f"{label}: not a valid JSON file ({_one_line(exc)[:200]})") from None
    if not isinstance(d, dict):
        raise InputError(f"{label}: not a prevalens results file (expected a JSON object)")
    if d.get("schema") != SCHEMA_ID:
        raise InputError(
            f"{label}: has schema {d.get('schema')!r}, expected '{SCHEMA_ID}'; "
            "re-run `prevalens audit` with this version"
        )
    errors = sorted(
        jsonschema.Draft202012Validator(load_schema()).iter_errors(d), key=lambda e: list(e.path)
    )
    if errors:
        e = errors[0]
        where = "/".join(str(x) for x in e.path) or "(top level)"
        raise InputError(
            f"{label}: does not follow the results schema at {where}: "
            f"{' '.join(e.message.split())[:200]}"
        )
    return AuditResult.from_dict(d), path, hashlib.sha256(raw).hexdigest()


def read_prevalence_file(path) -> tuple[dict, str]:
    """Read the deployment's class prevalences: a JSON object ``{class: prevalence}`` or a CSV
    file with a header and two columns (class, prevalence; named ``class`` or ``label`` and
    ``prevalence`` when there are more). Returns the mapping (labels as text, matched to the
    audited classes by their text) and ``"PATH (SHA-256 ...)"`` for the record. Every problem
    raises :class:`InputError` naming the file and the row."""
    path = Path(path)
    label = f"--deployment-prevalence {path}"
    raw = read_user_file(
        path,
        label,
        missing="not found (give 'uniform', 'rare*F', or a CSV or JSON file of class prevalences)",
        directory="is a directory (give a CSV or JSON file of class prevalences)",
    )
    sha = hashlib.sha256(raw).hexdigest()
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise InputError(f"{label}: is not valid UTF-8; save it as UTF-8") from None
    out: dict[str, Any] = {}
    if path.suffix.lower() == ".json" or text.lstrip().startswith("{"):
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise InputError(f"{label}: not valid JSON ({exc.msg} at line {exc.lineno})") from None
        if not isinstance(data, dict) or not data:
            raise InputError(f"{label}: give a JSON object mapping each class to its prevalence")
        items = [(str(k), v, f"class {k!r}") for k, v in data.items()]
    else:
        numbered = [
            (n, r)
            for n, r in enumerate(csv.reader(_lines(text)), start=1)
            if any(cell.strip() for cell in r)
        ]
        rows = [r for _, r in numbered]
        if len(rows) < 2:
            raise InputError(f"{label}: give a header and one row per class (class,prevalence)")
        header = [h.strip().lower() for h in rows[0]]
        names = {h: i for i, h in enumerate(header)}
        found_c = names.get("class", names.get("label"))
        found_p = names.get("prevalence")
        if found_c is None or found_p is None:
            if len(header) != 2:
                raise InputError(
                    f"{label}: no 'class' and 'prevalence' columns (columns: {_preview(rows[0])})"
                )
            found_c, found_p = 0, 1
        ci, pi = found_c, found_p
        items = []
        for n, r in numbered[1:]:
            if len(r) <= max(ci, pi):
                raise InputError(f"{label}: line {n} has {len(r)} cells; give class,prevalence")
            items.append((r[ci].strip(), r[pi].strip(), f"line {n}"))
    for key, value, where in items:
        if key in out:
            raise InputError(f"{label}: {where}: class {key!r} is given twice")
        try:
            number = float(value)
        except (TypeError, ValueError):
            number = math.nan
        if isinstance(value, bool) or not math.isfinite(number) or number < 0:
            raise InputError(
                f"{label}: {where}: the prevalence {value!r} is not a number >= 0; give a "
                "proportion such as 0.05"
            )
        out[key] = number
    return out, f"{path} (SHA-256 {sha})"
