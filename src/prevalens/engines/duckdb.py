"""Count a predictions file larger than memory with DuckDB, an embedded query engine.

DuckDB reads the file (Parquet column by column; CSV in parallel blocks) and aggregates the
distinct (truth, prediction[, cluster]) cells out of core, spilling to a temporary directory when
its memory limit is reached; the rows are never held in memory. The cells are typed, checked and
coded by the in-memory loader's own functions (:mod:`prevalens.io`): on the distinct values, not
the rows, so classes, their order and every refusal are those of
:func:`prevalens.load_predictions`, and the audit of the counts equals the audit of the loaded rows
bit for bit (tests/test_engine_duckdb.py).

What is exact: the confusion matrix, each cluster's cells, and every label metric, interval and
finding built on them. Scores are not counted: ROC AUC, average precision, log loss and Brier
need each row's scores, so a file with score columns is refused (audit it in memory, or leave the
scores out with ``score_prefix=""``).
"""

from __future__ import annotations

import csv
import functools
import math
import os
import re
import shutil
import tempfile
import threading
from pathlib import Path

import numpy as np
import pandas as pd

from .. import io as _loader
from .. import progress
from ..counted import CountedPredictions
from ..exceptions import InputError
from . import dataset_sha256, parquet_files

__all__ = ["count_file", "available", "column_names"]


def available() -> bool:
    """Whether DuckDB is installed (``pip install prevalens[duckdb]``)."""
    try:
        import duckdb  # noqa: F401
    except ImportError:
        return False
    return True


def _duckdb():
    try:
        import duckdb
    except ImportError:
        raise InputError(
            "the duckdb engine needs DuckDB: pip install 'prevalens[duckdb]' (or duckdb)"
        ) from None
    return duckdb


class _CellWhere(_loader._Where):
    """Locations for the loader's messages when it checks distinct values rather than rows:
    ``row(i)`` finds the first row of the file holding distinct value ``i`` (a query, run only
    for a message)."""

    def __init__(self, name: str, locate):
        super().__init__(name)
        self._locate = locate

    def row(self, i: int) -> str:
        return f"row {self._locate(i) + 1}"


def count_file(
    path,
    *,
    labels=None,
    y_true: str = "y_true",
    y_pred: str = "y_pred",
    score_prefix: str = "score_",
    cluster: str | None = None,
    max_memory: int | None = None,
    threads: int | None = None,
) -> CountedPredictions:
    """Count the cells of a CSV or Parquet file with DuckDB, without loading its rows.

    Parameters
    ----------
    path : str or os.PathLike
        A Parquet file (``.parquet``, ``.pq``, ``.parq`` or Parquet magic bytes) or a UTF-8 CSV
        file with a header, comma-separated (as :func:`prevalens.load_predictions` reads them).
    labels, y_true, y_pred, score_prefix, cluster
        As for :func:`prevalens.load_predictions`. ``y_pred`` must be a column (predictions as
        the argmax of scores need the scores).
    max_memory : int, optional
        DuckDB's memory limit in bytes (default: a quarter of the physical memory); beyond it
        DuckDB spills to a temporary directory that is removed afterwards.
    threads : int, optional
        DuckDB's threads (default: every core).

    Returns
    -------
    CountedPredictions
        ``engine="duckdb"``; ``inputs`` records the file's path, SHA-256 and row count.

    Raises
    ------
    InputError
        One line naming the file, the column and the first offending row, as the in-memory
        loader says it; also for score columns (not counted) and without DuckDB installed.
    """
    duckdb = _duckdb()
    path = Path(path)
    name = str(path)
    try:
        exists, is_dir = path.exists(), path.is_dir()
    except OSError as exc:
        raise _loader._cannot_read(name, exc) from None
    if not exists:
        raise InputError(f"{name}: file not found; check the path")
    files = None
    if is_dir:  # a Parquet dataset: its files in sorted path order
        files = parquet_files(path)
        if not files:
            raise InputError(
                f"{name}: a directory without Parquet files (*.parquet); give a CSV or Parquet "
                "file, or a directory of Parquet files"
            )
        parquet = True
        sha256 = dataset_sha256(path, name)
    else:
        try:
            with path.open("rb") as fh:
                head = fh.read(4)
        except OSError as exc:
            raise _loader._cannot_read(name, exc) from None
        parquet = _loader._is_parquet(path, head)
        if not parquet:
            with path.open("rb") as fh:
                start = fh.read(1 << 16)
            if b"\r" in start and b"\n" not in start:
                raise InputError(
                    f"{name}: not a readable CSV file: its lines end in a lone carriage return "
                    "(old Mac style): save it with LF or CRLF line endings"
                )
        sha256, blank = _loader._hash_file(path, name)
        if blank:
            raise InputError(f"{name}: file is empty; it needs a header and at least 2 data rows")

    spill = tempfile.mkdtemp(prefix="prevalens-duckdb-")
    try:
        config = {
            "memory_limit": f"{int(max_memory or _default_memory())}B",
            "temp_directory": spill,
            "preserve_insertion_order": True,
        }
        if threads:
            config["threads"] = int(threads)
        con = duckdb.connect(":memory:", config=config)
        # progress tracked for query_progress() (our own progress line), never printed by
        # DuckDB itself onto the user's terminal or a job's log (session settings: DuckDB
        # refuses them as connection options)
        con.execute("SET enable_progress_bar = true")
        con.execute("SET enable_progress_bar_print = false")
        try:
            count = functools.partial(
                _count,
                con,
                path,
                name,
                parquet,
                sha256,
                files=files,
                labels=labels,
                roles=_loader._Roles(y_true, y_pred, score_prefix, None, cluster),
            )
            try:
                return count()
            except duckdb.Error as exc:
                if "parallel=false" not in str(exc):
                    raise
                # a quoted cell spanning lines: read serially (as the loader's CSV parser does)
                return count(parallel=False)
        except duckdb.Error as exc:
            kind = "Parquet" if parquet else "CSV"
            # DuckDB's own advice (strict mode, ignore_errors) is not an option here: cut it
            why = _loader._one_line(exc).split(" Possible fixes")[0].strip()
            raise InputError(f"{name}: not a readable {kind} file ({why})") from None
        finally:
            con.close()
    finally:
        shutil.rmtree(spill, ignore_errors=True)


def column_names(path) -> list:
    """The columns of a CSV (its header) or Parquet file (its schema), read cheaply."""
    path = Path(path)
    with path.open("rb") as fh:
        head = fh.read(4)
    if _loader._is_parquet(path, head):
        import pyarrow.parquet as pq

        return list(pq.read_schema(str(path)).names)
    return _csv_header(path, str(path))


#: Parquet column types read as labels and cluster ids as the in-memory loader reads them (its
#: typing of decimals, dates and binary values differs: those are refused, not guessed).
_LABEL_TYPES = re.compile(
    r"^(VARCHAR|BOOLEAN|(U?(TINYINT|SMALLINT|INTEGER|BIGINT))|FLOAT|DOUBLE|TIMESTAMP.*)$"
)

#: how often the count's progress is asked for
_POLL_SECONDS = 0.25


def _watched(con, run):
    """``run()`` (a query on ``con``), reporting DuckDB's progress through it to the installed
    progress reporter (:mod:`prevalens.progress`) from a thread that polls
    ``con.query_progress()``."""
    reporter = progress.current()
    if getattr(reporter, "fraction", None) is None:
        return run()
    stop = threading.Event()

    def poll():
        while not stop.wait(_POLL_SECONDS):
            try:
                done = con.query_progress()
            except Exception:  # no query running yet, or finished: nothing to report
                continue
            if done is not None and done >= 0:
                progress.fraction(done / 100.0, reporter)

    watcher = threading.Thread(target=poll, name="prevalens-duckdb-progress", daemon=True)
    watcher.start()
    try:
        return run()
    finally:
        stop.set()
        watcher.join()


def _default_memory() -> int:
    try:
        return int(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")) // 4
    except (ValueError, OSError, AttributeError):
        return 2 << 30


def _quote(column: str) -> str:
    return '"' + column.replace('"', '""') + '"'


def _sql_text(text: str) -> str:
    return "'" + str(text).replace("'", "''") + "'"


def _count(
    con,
    path: Path,
    name: str,
    parquet: bool,
    sha256: str,
    *,
    labels,
    roles,
    files=None,
    parallel: bool = True,
):
    file = str(path).replace("'", "''")
    if files is not None:
        # a dataset: rows numbered across its files in sorted path order
        listed = "[" + ", ".join(_sql_text(str(f)) for f in files) + "]"
        source = (
            f"read_parquet({listed}, file_row_number = true, filename = true, union_by_name = true)"
        )
        columns = [r[0] for r in con.sql(f"DESCRIBE SELECT * FROM {source}").fetchall()]
        columns = [c for c in columns if c not in ("file_row_number", "filename")]
        sizes = dict(con.sql(f"SELECT filename, count(*) FROM {source} GROUP BY ALL").fetchall())
        offsets, total = [], 0
        for f in files:
            offsets.append(f"({_sql_text(str(f))}, {total})")
            total += int(sizes.get(str(f), 0))
        numbered = (
            f"(SELECT t.*, o.__offset + t.file_row_number AS __row FROM {source} t JOIN "
            f"(VALUES {', '.join(offsets)}) o(__file, __offset) ON t.filename = o.__file)"
        )
        header = columns
    elif parquet:
        source = f"read_parquet('{file}', file_row_number = true)"
        columns = [r[0] for r in con.sql(f"DESCRIBE SELECT * FROM {source}").fetchall()]
        columns.remove("file_row_number")
        numbered = f"(SELECT *, file_row_number AS __row FROM {source})"
        header = columns
    else:
        header = _csv_header(path, name)
        _refuse_duplicates(header, name)
        # every column as text, typed below by pandas as the in-memory loader types it; only an
        # empty cell is missing ("NA" and "null" are class names); the header's names exactly
        # as the csv module reads them (DuckDB would trim " y_pred" to "y_pred")
        names = "{" + ", ".join(f"{_sql_text(h)}: 'VARCHAR'" for h in header) + "}"
        source = (
            f"read_csv('{file}', header = true, auto_detect = false, columns = {names}, "
            "delim = ',', quote = '\"', escape = '\"', nullstr = '', skip = 0, "
            "null_padding = true" + ("" if parallel else ", parallel = false") + ")"
        )
        columns = [r[0] for r in con.sql(f"DESCRIBE SELECT * FROM {source}").fetchall()]
        numbered = f"(SELECT *, row_number() OVER () - 1 AS __row FROM {source})"
    _refuse_duplicates(header, name)
    preview = _loader._preview(header)
    if roles.y_true not in columns:
        raise InputError(
            f"{name}: column '{roles.y_true}' not found (columns: {preview}); "
            "name the true-label column 'y_true' or pass `y_true=`"
        )
    if roles.y_pred not in columns:
        raise InputError(
            f"{name}: column '{roles.y_pred}' not found (columns: {preview}); the duckdb engine "
            "counts predicted labels: name the column with `y_pred=` (predictions as the argmax "
            "of scores need the in-memory engine)"
        )
    if roles.cluster is not None and roles.cluster not in columns:
        raise InputError(f"{name}: cluster column '{roles.cluster}' not found (columns: {preview})")
    if parquet:
        kinds = dict((r[0], r[1]) for r in con.sql(f"DESCRIBE SELECT * FROM {source}").fetchall())
        for role in (roles.y_true, roles.y_pred, roles.cluster):
            kind = str(kinds.get(role, "VARCHAR")) if role is not None else "VARCHAR"
            if not _LABEL_TYPES.match(kind):
                raise InputError(
                    f"{name}: column '{role}' is stored as {kind}, which the duckdb engine does "
                    "not read as labels; store labels and cluster ids as text, integers, floats "
                    "or booleans, or audit the file in memory (--engine memory)"
                )
    scores = roles.score_names(columns)
    if scores:
        raise InputError(
            f"{name}: has {len(scores)} score columns ({_loader._preview(scores)}), which the "
            "duckdb engine does not count (ROC AUC, average precision, log loss and Brier need "
            "each row's scores); audit the file in memory (--engine memory), or audit its labels "
            "only with --score-prefix ''"
        )

    t, p = _quote(roles.y_true), _quote(roles.y_pred)
    c = _quote(roles.cluster) if roles.cluster is not None else None
    keys = f"{t}, {p}" + (f", {c}" if c else "")
    cells = _watched(
        con, lambda: con.sql(f"SELECT {keys}, count(*) AS __n FROM {source} GROUP BY ALL").df()
    )
    n = int(cells["__n"].sum())
    if n == 0:
        raise InputError(
            f"{name}: no data rows (only a header); the input needs at least 2 samples"
        )
    if n == 1:
        raise InputError(f"{name}: only 1 data row; an audit needs at least 2 samples (rows)")

    def typed(column: str, first_rows: bool = False):
        """The distinct values of a column, typed as the in-memory loader types the column,
        and a locator of each one's first row. ``first_rows``: the values in the order of
        their first row (so that a refusal names the first offending row, as the loader's)."""
        raw = cells[column].drop_duplicates().reset_index(drop=True)
        if first_rows:
            order = np.argsort([locate_value(column, v) for v in raw], kind="stable")
            raw = raw.iloc[order].reset_index(drop=True)
        values = raw if parquet else _parse_like_pandas(raw)
        return raw, values, _CellWhere(name, lambda i: locate_value(column, raw.iloc[i]))

    def locate_value(column: str, value) -> int:
        """The first row holding ``value`` in ``column`` (NULL and a float NaN alike)."""
        q = _quote(column)
        if value is None or (np.ndim(value) == 0 and pd.isna(value)):
            row = con.execute(f"SELECT min(__row) FROM {numbered} WHERE {q} IS NULL").fetchone()[0]
            if row is None:  # a float NaN, which is not NULL (matched as text: DuckDB's
                # statistics of a Parquet column leave NaN out, and isnan() was folded to false)
                row = con.execute(
                    f"SELECT min(__row) FROM {numbered} "
                    f"WHERE lower(CAST({q} AS VARCHAR)) IN ('nan', '-nan')"
                ).fetchone()[0]
        else:
            if isinstance(value, np.generic):
                value = value.item()  # a Python value, which DuckDB binds
            row = con.execute(
                f"SELECT min(__row) FROM {numbered} WHERE {q} = ?", [value]
            ).fetchone()[0]
        return int(row) if row is not None else 0

    def resolve(first_rows: bool):
        raw_t, val_t, where_t = typed(roles.y_true, first_rows)
        raw_p, val_p, where_p = typed(roles.y_pred, first_rows)
        yt, kind_t = _loader._normalise_labels(val_t, roles.y_true, where_t)
        yp, kind_p = _loader._normalise_labels(val_p, roles.y_pred, where_p)
        yt, yp, _, classes, index, label_list = _loader._resolve_classes(
            yt, kind_t, yp, kind_p, labels, None
        )
        fix = "add it to `labels=` or fix the row" if label_list is not None else "fix the row"
        code_t = _loader._encode(yt, index, roles.y_true, where_t, "true", fix)
        code_p = _loader._encode(yp, index, roles.y_pred, where_p, "predicted", fix)
        return classes, raw_t, code_t, raw_p, code_p

    try:
        classes, raw_t, code_t, raw_p, code_p = resolve(False)
    except InputError:
        # refused: again with the values in the order of their first row, so that the message
        # names the first offending row of the file (a query per distinct value, only here)
        resolve(True)
        raise

    def codes_of(column, raw, code):
        lookup = pd.Series(np.arange(len(raw)), index=pd.Index(raw, dtype=object))
        at = lookup.reindex(pd.Index(cells[column], dtype=object)).to_numpy()
        return code[at]

    true = codes_of(roles.y_true, raw_t, code_t)
    pred = codes_of(roles.y_pred, raw_p, code_p)
    cl = n_clusters = None
    if c is not None:
        cl, n_clusters = _cluster_codes(con, numbered, cells, roles.cluster, parquet, name)
    columns_used = {"y_true": roles.y_true, "y_pred": roles.y_pred}
    if roles.cluster is not None:
        columns_used["cluster"] = roles.cluster
    return CountedPredictions.from_cells(
        tuple(classes),
        true,
        pred,
        cells["__n"].to_numpy(dtype=np.int64),
        cl,
        n_clusters=n_clusters,
        engine="duckdb",
        inputs=(_loader.InputInfo(name, sha256, n),),
        columns=columns_used,
        pred_source="column",
    )


def _cluster_codes(con, numbered: str, cells: pd.DataFrame, column: str, parquet: bool, name):
    """Each cell's cluster code: clusters numbered by their first row in the file, as
    ``pd.factorize`` numbers them in the in-memory loader (the cluster bootstrap's draws follow
    this order). Ids that the loader's typing makes equal (e.g. "1" and "01" in a CSV) are one
    cluster, first seen at the earlier of their first rows."""
    q = _quote(column)
    first = con.sql(f"SELECT {q}, min(__row) AS __first FROM {numbered} GROUP BY ALL").df()
    missing = first[column].isna()
    raw = first[column]
    values = raw if parquet else _parse_like_pandas(raw.reset_index(drop=True))
    values = pd.Series(values).reset_index(drop=True)
    missing = missing.to_numpy() | values.isna().to_numpy()
    if missing.any():
        row = int(first["__first"].to_numpy()[missing].min())
        raise InputError(
            f"{name}: column '{column}' has a missing cluster id at row {row + 1}; every row "
            "needs one"
        )
    # typed ids that coincide are one cluster; clusters in the order of their first row
    typed_id = pd.Series(values.to_numpy(dtype=object))
    firsts = pd.Series(first["__first"].to_numpy()).groupby(typed_id).transform("min")
    order = np.argsort(firsts.to_numpy(), kind="stable")
    code_of_first: dict[int, int] = {}
    codes = np.empty(len(first), dtype=np.int64)
    for i in order:
        f = int(firsts.iloc[i])
        if f not in code_of_first:
            code_of_first[f] = len(code_of_first)
        codes[i] = code_of_first[f]
    lookup = pd.Series(codes, index=pd.Index(raw, dtype=object))
    cell_codes = lookup.reindex(pd.Index(cells[column], dtype=object)).to_numpy()
    return cell_codes.astype(np.int64), len(code_of_first)


def _parse_like_pandas(raw: pd.Series) -> pd.Series:
    """Type a CSV column's distinct text values as ``pd.read_csv(..., keep_default_na=False,
    na_values=[""])`` types the whole column (its inference depends on the set of values, not
    their order or counts; :func:`prevalens.io._c_engine_types`). A missing (None) or empty
    value leaves the values as text: the loader refuses it, at its row, before typing matters."""
    values = raw.tolist()
    if any(v is None or (isinstance(v, float) and math.isnan(v)) or v == "" for v in values):
        return pd.Series([None if v == "" else v for v in values], dtype=object)
    typed = _loader._c_engine_types([str(v) for v in values])
    if typed is None:  # a value the C engine reads as missing: refused as missing
        return pd.Series(values, dtype=object)
    return typed.reset_index(drop=True)


def _refuse_duplicates(header: list, name: str) -> None:
    dup = pd.Index(header).duplicated()
    if dup.any():
        raise InputError(
            f"{name}: column '{header[_loader._first(dup)]}' appears twice in the header; "
            "give each column once"
        )


def _csv_header(path: Path, name: str) -> list:
    """The CSV header as the csv module reads it (for duplicated names, which DuckDB renames)."""
    try:
        with path.open("r", encoding="utf-8-sig", newline="") as fh:
            return next(csv.reader(fh), [])
    except UnicodeDecodeError:
        raise InputError(f"{name}: is not valid UTF-8; save the file as UTF-8") from None
    except (OSError, csv.Error) as exc:
        raise InputError(f"{name}: not a readable CSV file ({_loader._one_line(exc)})") from None
