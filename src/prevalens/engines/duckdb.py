"""Count a predictions file larger than memory with DuckDB, an embedded query engine.

DuckDB reads the file (Parquet column by column; CSV in parallel blocks) and aggregates the
distinct (truth, prediction[, cluster]) cells out of core, spilling to a temporary directory when
its memory limit is reached; the rows are never held in memory. The cells are typed, checked and
coded by the in-memory loader's own functions (:mod:`prevalens.io`): on the distinct values, not
the rows, so classes, their order and every refusal are those of
:func:`prevalens.load_predictions`, and the audit of the counts equals the audit of the loaded rows
bit for bit (tests/test_engine_duckdb.py).

What is exact: the confusion matrix, each cluster's cells, and every label metric, interval and
finding built on them. Of the score metrics, the ROC AUCs: each class's score column is grouped
by value and ordered (out of core), which gives its AUC and DeLong's components exactly, and each
row's components joined back give the covariance of the AUCs, so the per-class, macro and
weighted ROC AUCs and their intervals equal the in-memory audit's to rounding (1e-12; the sums run
in another order). The average precisions and their intervals come from the same grouped tables
and joined-back rows. Top-k accuracy, log loss and Brier score come from per-row sums in one more
pass, with the fields the in-memory checks of the scores read; the micro AUC and AP from the
pooled n*K entries. The one-vs-one AUC, calibration and the curves are not reported (a note says
so). With a cluster column the AUCs' covariance is the cluster-robust one (each row's
components summed within its cluster), as in memory; without a predicted-label column the
predictions are the scores' argmax, computed in the same pass.
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
from ..exceptions import ConfigError, InputError
from ..ranking import PROBABILITY_ATOL
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
    """Count the cells of a CSV or Parquet file with DuckDB, without loading its rows, and
    compute its score metrics.

    Parameters
    ----------
    path : str or os.PathLike
        A Parquet file (``.parquet``, ``.pq``, ``.parq`` or Parquet magic bytes) or a UTF-8 CSV
        file with a header, comma-separated (as :func:`prevalens.load_predictions` reads them).
    labels, y_true, y_pred, score_prefix, cluster
        As for :func:`prevalens.load_predictions`. Without a ``y_pred`` column the predictions
        are the argmax of the scores (the first maximum in class order, as in memory).
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
        loader says it (also for a score that is missing, not a finite number or negative); and
        without DuckDB installed.
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
        except duckdb.OutOfMemoryException:
            limit = _loader._human_size(int(max_memory or _default_memory()))
            raise ConfigError(
                f"{name}: DuckDB ran out of memory within its limit of {limit} (--max-memory); "
                "give it more with --max-memory, or free memory"
            ) from None
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
_NUMBER_TYPES = re.compile(
    r"^((U?(TINYINT|SMALLINT|INTEGER|BIGINT|HUGEINT))|FLOAT|DOUBLE|DECIMAL.*)$"
)

#: A decimal number as text (what the in-memory loader parses as a score): DuckDB's casts also
#: accept "1_000" and the like, which pandas does not.
_DECIMAL_TEXT = r"^[\t\n\v\f\r ]*[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?[\t\n\v\f\r ]*$"

#: Rows fetched at a time when the DeLong components are summed (x K doubles).
_BATCH_ROWS = 65_536

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
    scores = roles.score_names(columns)
    # without a predicted-label column, the predictions are the argmax of the scores
    argmax = roles.y_pred not in columns
    if argmax and not scores:
        raise InputError(
            f"{name}: no predictions: column '{roles.y_pred}' is missing and there are no score "
            f"columns (columns: {preview}); give predicted labels, scores, or both"
        )
    if roles.cluster is not None and roles.cluster not in columns:
        raise InputError(f"{name}: cluster column '{roles.cluster}' not found (columns: {preview})")
    if parquet:
        kinds = dict((r[0], r[1]) for r in con.sql(f"DESCRIBE SELECT * FROM {source}").fetchall())
        for role in (roles.y_true, None if argmax else roles.y_pred, roles.cluster):
            kind = str(kinds.get(role, "VARCHAR")) if role is not None else "VARCHAR"
            if not _LABEL_TYPES.match(kind):
                raise InputError(
                    f"{name}: column '{role}' is stored as {kind}, which the duckdb engine does "
                    "not read as labels; store labels and cluster ids as text, integers, floats "
                    "or booleans, or audit the file in memory (--engine memory)"
                )
        for col in scores:
            kind = str(kinds.get(col, "VARCHAR"))
            if not _NUMBER_TYPES.match(kind):
                raise InputError(
                    f"{name}: score column '{col}' is stored as {kind}; store scores as numbers "
                    "(floating-point or integer)"
                )

    t, p = _quote(roles.y_true), _quote(roles.y_pred)
    c = _quote(roles.cluster) if roles.cluster is not None else None
    keys = t + ("" if argmax else f", {p}") + (f", {c}" if c else "")
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

    raw_scores = [col[len(roles.score_prefix) :] for col in scores] if scores else None

    def resolve(first_rows: bool):
        raw_t, val_t, where_t = typed(roles.y_true, first_rows)
        yt, kind_t = _loader._normalise_labels(val_t, roles.y_true, where_t)
        raw_p = yp = kind_p = code_p = None
        if not argmax:
            raw_p, val_p, where_p = typed(roles.y_pred, first_rows)
            yp, kind_p = _loader._normalise_labels(val_p, roles.y_pred, where_p)
        yt, yp, score_labels, classes, index, label_list = _loader._resolve_classes(
            yt, kind_t, yp, kind_p, labels, raw_scores
        )
        fix = "add it to `labels=` or fix the row" if label_list is not None else "fix the row"
        code_t = _loader._encode(yt, index, roles.y_true, where_t, "true", fix)
        if not argmax:
            code_p = _loader._encode(yp, index, roles.y_pred, where_p, "predicted", fix)
        pos = None
        if scores:
            where = _loader._Where(name, score_prefix=roles.score_prefix)
            pos = _loader.score_positions(where, score_labels, index, classes, scores)
        return classes, raw_t, code_t, raw_p, code_p, pos

    try:
        classes, raw_t, code_t, raw_p, code_p, pos = resolve(False)
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
    pred = None if argmax else codes_of(roles.y_pred, raw_p, code_p)
    count = cells["__n"].to_numpy(dtype=np.int64)
    cl = n_clusters = cluster_lookup = None
    if c is not None:
        cl, n_clusters, cluster_lookup = _cluster_codes(
            con, numbered, cells, roles.cluster, parquet, name
        )
    columns_used: dict = {"y_true": roles.y_true, "y_pred": None if argmax else roles.y_pred}
    if roles.cluster is not None:
        columns_used["cluster"] = roles.cluster
    ranks = checks = None
    probabilities = False
    if scores:
        assert pos is not None
        by_class = [""] * len(classes)
        for col, at in zip(scores, pos):
            by_class[at] = col
        columns_used["scores"] = {str(classes[j]): col for j, col in enumerate(by_class)}
        _score_table(
            con,
            numbered,
            name,
            (roles.y_true, raw_t, code_t),
            None if argmax else (roles.y_pred, raw_p, code_p),
            by_class,
            parquet=parquet,
            file_order=pos,
            cluster=None if c is None else (roles.cluster, cluster_lookup),
        )
        checks, losses = _score_checks(con, len(classes), n_clusters)
        # every score checked non-negative: probabilities when the rows sum to 1 (is_probability)
        probabilities = checks.max_deviation <= PROBABILITY_ATOL
        if argmax:  # the cells again, with the predictions the scores make
            keys = "__y, __p" + (", __c" if c else "")
            counted = con.sql(f"SELECT {keys}, count(*) AS __n FROM __r GROUP BY ALL").df()
            true = counted["__y"].to_numpy(np.int64)
            pred = counted["__p"].to_numpy(np.int64)
            count = counted["__n"].to_numpy(np.int64)
            if c is not None:
                cl = counted["__c"].to_numpy(np.int64)
        support = np.bincount(true, weights=count.astype(np.float64), minlength=len(classes))
        support = np.rint(support).astype(np.int64)
        ranks = _rank_scores(con, len(classes), support, n_clusters, losses)
    assert pred is not None
    return CountedPredictions.from_cells(
        tuple(classes),
        true,
        pred,
        count,
        cl,
        n_clusters=n_clusters,
        engine="duckdb",
        inputs=(_loader.InputInfo(name, sha256, n),),
        columns=columns_used,
        pred_source="argmax" if argmax else "column",
        ranks=ranks,
        scores_are_probabilities=probabilities,
        score_checks=checks,
    )


def _score_table(
    con, numbered: str, name: str, truth, prediction, by_class, *, parquet, file_order, cluster
) -> None:
    """Copy the rows' class codes (``__y``), scores in class order (``__s0`` ..), cluster codes
    (``__c``, with ``cluster``), argmax (``__a``: the first maximum in class order, as
    ``np.argmax``) and predicted class codes (``__p``: the argmax without ``prediction``) into the
    table ``__r``, which DuckDB spills to disk, in one pass; check every score as the loader does.

    ``truth``, ``prediction``: (column, its distinct raw values, their class codes);
    ``cluster``: (column, the table of raw ids and codes of :func:`_cluster_codes`)."""
    k = len(by_class)
    column, raw_t, code_t = truth
    codes = pd.DataFrame({"raw": raw_t.reset_index(drop=True), "code": np.asarray(code_t)})
    con.register("__codes", codes)
    joins = f"JOIN __codes c ON t.{_quote(column)} = c.raw"
    extra = ""
    if prediction is not None:
        p_column, raw_p, code_p = prediction
        con.register(
            "__pcodes",
            pd.DataFrame({"raw": raw_p.reset_index(drop=True), "code": np.asarray(code_p)}),
        )
        joins += f" JOIN __pcodes pc ON t.{_quote(p_column)} = pc.raw"
        extra += ", pc.code::INTEGER AS __p"
    if cluster is not None:
        cl_column, lookup = cluster
        con.register("__clusters", lookup)
        joins += f" JOIN __clusters u ON t.{_quote(cl_column)} = u.raw"
        extra += ", u.code::BIGINT AS __c"
    if parquet:
        values = [f"CAST({_quote(col)} AS DOUBLE)" for col in by_class]
    else:  # text: numbers only, as the in-memory loader reads them (anything else NULL)
        values = [
            f"CASE WHEN regexp_full_match({_quote(col)}, '{_DECIMAL_TEXT}') "
            f"THEN TRY_CAST({_quote(col)} AS DOUBLE) END"
            for col in by_class
        ]
    picked = ", ".join(f"{v} AS __s{j}" for j, v in enumerate(values))
    # the argmax, the first maximum in class order (a row with a bad score is refused below)
    top = "greatest(" + ", ".join(f"__s{j}" for j in range(k)) + ")"
    first = " ".join(f"WHEN __s{j} = __top THEN {j}" for j in range(k))
    argmax = f"CASE {first} END::INTEGER"
    predicted = f", {argmax} AS __p" if prediction is None else ""
    progress.step(f"ranking {k} score columns with DuckDB, out of core")
    _watched(
        con,
        lambda: con.execute(
            f"CREATE TEMP TABLE __r AS SELECT * EXCLUDE (__top), {argmax} AS __a{predicted} "
            f"FROM (SELECT *, {top} AS __top FROM (SELECT t.__row AS __row, "
            f"c.code::INTEGER AS __y{extra}, {picked} FROM {numbered} t {joins}))"
        ),
    )
    con.unregister("__codes")
    if cluster is not None:
        con.unregister("__clusters")
    if prediction is not None:
        con.unregister("__pcodes")
    _check_score_cells(con, numbered, name, [(by_class[j], j) for j in file_order], parquet)


def _score_checks(con, k: int, n_clusters: int | None):
    """From the table ``__r``, in two aggregate passes: what the in-memory checks of the scores
    read (:class:`prevalens.checks.ScoreStats`, the same fields as
    :func:`prevalens.checks.score_stats` computes from the rows), and the per-sample losses'
    sufficient statistics (:class:`prevalens.counted.CountedLosses`)."""
    from ..checks import _EPS, ScoreStats
    from ..counted import CountedLosses

    s = [f"__s{j}" for j in range(k)]
    true = "CASE __y " + " ".join(f"WHEN {j} THEN __s{j}" for j in range(k)) + " END"
    pred = "CASE __p " + " ".join(f"WHEN {j} THEN __s{j}" for j in range(k)) + " END"
    above = " + ".join(
        f"((__s{j} > __st) OR (__s{j} = __st AND {j} > __y))::INTEGER" for j in range(k)
    )
    rows = f"""(SELECT *, __sum - __top - {k - 1} * __low <= {1e-6 * k!r} AS __hard,
                   __sp < __top AS __off, __st < {_EPS!r} AS __clip,
                   -ln(greatest(least(__st, {1.0 - _EPS!r}), {_EPS!r})) AS __ll,
                   __sq - 2.0 * __st + 1.0 AS __br
            FROM (SELECT __row, __y, __p, __a{", __c" if n_clusters is not None else ""},
                         {" + ".join(s)} AS __sum, greatest({", ".join(s)}) AS __top,
                         least({", ".join(s)}) AS __low, {true} AS __st, {pred} AS __sp,
                         {" + ".join(f"{x} * {x}" for x in s)} AS __sq, {above} AS __above
                  FROM __r))"""
    con.execute(f"CREATE TEMP TABLE __q AS SELECT * FROM {rows}")
    (
        n, max_dev, disagree, correct, hard, top_lo, top_hi, low_lo, low_hi, clipped,
        clipped_loss, total_loss, ll_var, br_sum, br_var, top3, top5,
    ) = con.execute(
        """SELECT count(*), max(abs(__sum - 1)), sum(__off::INTEGER), sum((__a = __y)::INTEGER),
                  sum(__hard::INTEGER), min(__top), max(__top), min(__low), max(__low),
                  sum(__clip::INTEGER), coalesce(sum(__ll) FILTER (WHERE __clip), 0.0),
                  sum(__ll), var_samp(__ll), sum(__br), var_samp(__br),
                  sum((__above < 3)::INTEGER), sum((__above < 5)::INTEGER)
           FROM __q"""
    ).fetchall()[0]  # fmt: skip
    worst, signed = con.execute(
        f"SELECT __row, __sum - 1 FROM __q WHERE abs(__sum - 1) = {float(max_dev)!r} "
        "ORDER BY __row LIMIT 1"
    ).fetchall()[0]
    off = con.execute(
        "SELECT __a, __p, count(*) FROM __q WHERE __off GROUP BY ALL ORDER BY ALL"
    ).fetchall()
    pairs = np.array(off, dtype=np.int64).reshape(-1, 3)
    shift = np.bincount((pairs[:, 1] - pairs[:, 0]) % k, weights=pairs[:, 2], minlength=k)
    totals = None
    if n_clusters is not None:  # per cluster: rows and the sums of the two losses
        by_cluster = con.execute(
            "SELECT __c, count(*), sum(__ll), sum(__br) FROM __q GROUP BY __c ORDER BY __c"
        ).fetchnumpy()
        totals = np.zeros((n_clusters, 3))
        at = np.asarray(by_cluster["__c"], dtype=np.int64)
        for i, key in enumerate(("count_star()", "sum(__ll)", "sum(__br)")):
            totals[at, i] = np.asarray(by_cluster[key], dtype=np.float64)
    con.execute("DROP TABLE __q")
    n = int(n)
    checks = ScoreStats(
        n=n,
        max_deviation=max(float(max_dev), 0.0),
        worst_row=int(worst),
        disagree=int(disagree),
        argmax_correct=int(correct),
        shift_counts=np.rint(shift).astype(np.int64),
        pairs=pairs,
        hard_rows=int(hard),
        top_range=(float(top_lo), float(top_hi)),
        bottom_range=(float(low_lo), float(low_hi)),
        clipped=int(clipped),
        clipped_loss=float(clipped_loss),
        total_loss=float(total_loss),
        signed_deviation=float(signed),
    )
    losses = CountedLosses(
        n=n,
        log_loss=(float(total_loss) / n, float(ll_var)),
        brier=(float(br_sum) / n, float(br_var)),
        top_k_hits={3: int(top3), 5: int(top5)},
        cluster_totals=totals,
    )
    return checks, losses


def _grouped(con, source: str, m: int, q: int) -> tuple[float, float]:
    """The table ``__g`` of a binary problem's distinct scores, from ``source`` (a query of
    columns ``v``, the score, and ``pos``, whether it is a positive's), ordered, with ``m``
    positives and ``q`` negatives in all: per distinct score its positives ``p`` and negatives
    ``q``, its placements ``v10``, ``v01`` (AUC), the precision at it, and every row's AP
    influence value (``d_pos``, ``d_neg``) and leave-one-out change (``j_pos``, ``j_neg``) by side
    (:func:`prevalens.ranking._ap_parts`, grouped by value). Returns the AUC (NaN without
    negatives) and the AP.

    The distinct scores are counted by a group-by and read back in order (both spill to disk);
    the running sums are taken here, a batch at a time with the totals carried over, and the
    batches written to a Parquet file in DuckDB's temporary directory that becomes ``__g``. (A
    window over the ordered distinct scores would hold them all in memory at once: there may be
    as many as rows, or rows x K for the micro averages.)"""
    import pyarrow as pa
    import pyarrow.parquet as pq

    _watched(
        con,
        lambda: con.execute(
            f"""CREATE OR REPLACE TEMP TABLE __h AS
            SELECT v, count(*) FILTER (WHERE pos)::DOUBLE AS p,
                   count(*) FILTER (WHERE NOT pos)::DOUBLE AS q
            FROM ({source}) GROUP BY 1"""
        ),
    )
    spill = con.execute("SELECT current_setting('temp_directory')").fetchall()[0][0]
    path = os.path.join(spill, "__g.parquet")
    mf, qf = float(m), float(max(q, 1))
    carry = np.zeros(6)  # running p, q, c_neg, c_neg_jk, c_pos, c_pos_jk
    a_sum = miss_sum = v10_sum = 0.0
    writer = None
    reader = con.sql("SELECT v, p, q FROM __h ORDER BY v").to_arrow_reader(_BATCH_ROWS)
    try:
        for batch in reader:
            v = batch.column(0).to_numpy(zero_copy_only=False).astype(np.float64)
            p = batch.column(1).to_numpy(zero_copy_only=False).astype(np.float64)
            nq = batch.column(2).to_numpy(zero_copy_only=False).astype(np.float64)
            p_le = carry[0] + np.cumsum(p)
            q_lt = carry[1] + np.cumsum(nq) - nq
            a = m - p_le + p  # positives at or above v
            b = q - q_lt  # negatives at or above v
            t = a + b
            has = p > 0
            with np.errstate(divide="ignore", invalid="ignore"):
                prec, miss = a / t, b / t
                jk = has & (b > 0)
                g = np.where(jk, b / (t * (t - 1)), 0.0)
                terms = np.column_stack(
                    [
                        np.where(has, p * a / (t * t), 0.0),
                        np.where(jk, p * a / (t * (t - 1)), 0.0),
                        np.where(has, p * b / (t * t), 0.0),
                        p * g,
                    ]
                )
            c = carry[2:] + np.cumsum(terms, axis=0)
            out = pa.table(
                {
                    "v": v,
                    "p": p,
                    "q": nq,
                    "v10": (q_lt + nq / 2.0) / qf,
                    "v01": (mf - p_le + p / 2.0) / mf,
                    "prec": prec,
                    "miss": miss,
                    "g": g,
                    "c_neg": c[:, 0],
                    "c_neg_jk": c[:, 1],
                    "c_pos": c[:, 2],
                    "c_pos_jk": c[:, 3],
                }
            )
            if writer is None:
                writer = pq.ParquetWriter(path, out.schema)
            writer.write_table(out)
            a_sum += float(np.sum(np.where(has, p * prec, 0.0)))
            miss_sum += float(np.sum(np.where(has, p * miss, 0.0)))
            v10_sum += float(np.sum(p * out.column("v10").to_numpy()))
            carry[0] = p_le[-1]
            carry[1] = q_lt[-1] + nq[-1]
            carry[2:] = c[-1]
    finally:
        if writer is not None:
            writer.close()
    con.execute("DROP TABLE __h")
    one_minus_ap = miss_sum / m
    # every row's AP influence value (d) and leave-one-out change (jk), by side
    jp = f"(miss - {one_minus_ap!r} - (c_pos_jk - g)) / {float(max(m - 1, 1))!r}"
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE __g AS SELECT *,
               ({one_minus_ap!r} - miss + c_pos) / {mf!r} AS d_pos,
               -c_neg / {mf!r} AS d_neg,
               {jp} AS j_pos, c_neg_jk / {mf!r} AS j_neg
            FROM read_parquet('{_sql_path(path)}')"""
    )
    os.remove(path)
    return (v10_sum / m if q > 0 else math.nan), a_sum / m


def _sql_path(path: str) -> str:
    return str(path).replace("'", "''")


def _micro_scores(con, k: int, n: int, n_clusters: int | None) -> dict:
    """The micro ROC AUC and average precision (the pooled n*K one-vs-rest problem: each row's
    true class a positive entry, its other classes negatives) from the table ``__r``, with their
    spreads: the DeLong components (AUC) and influence values (AP) of a row's K entries summed,
    then within clusters with clusters, as the in-memory audit's analytic intervals compute them
    (:func:`prevalens.uncertainty.micro_auc_variance`, without its subsample: every row here;
    :func:`prevalens.ranking.micro_average_precision_influence`)."""
    scores = ", ".join(f"__s{j}" for j in range(k))
    sides = ", ".join(f"__y = {j}" for j in range(k))
    unit = "__c" if n_clusters is not None else "__row"
    entries = f"SELECT {unit} AS __u, unnest([{scores}]) AS v, unnest([{sides}]) AS pos FROM __r"
    m, q = n, n * (k - 1)
    auc, ap = _grouped(con, f"SELECT v, pos FROM ({entries})", m, q)
    sums = con.sql(
        f"""SELECT sum(z * z), sum(d * d), sum(d * d * d * d), count(*) FROM (
              SELECT __u, sum(CASE WHEN e.pos THEN (g.v10 - {auc!r}) / {float(m)!r}
                                   ELSE (g.v01 - {auc!r}) / {float(q)!r} END) AS z,
                          sum(CASE WHEN e.pos THEN g.d_pos ELSE g.d_neg END) AS d
              FROM ({entries}) e JOIN __g g ON e.v = g.v GROUP BY __u)"""
    ).fetchall()[0]
    z2, d2, d4, units = (float(x) for x in sums)
    factor = units / max(units - 1, 1)
    con.execute("DROP TABLE __g")
    return {
        "auc": auc,
        "auc_var": factor * z2,
        "ap": ap,
        "ap_spread": (math.sqrt(factor * d2), d2 * d2 / d4 if d4 > 0 else math.inf),
    }


def _rank_scores(con, k: int, support, n_clusters: int | None, losses=None):
    """The ranking statistics (:class:`~prevalens.counted.CountedRanks`) from the table ``__r``
    of :func:`_score_table` (dropped afterwards), without loading the rows.

    Each class's scores are grouped by value and ordered (positives and negatives per distinct
    score, with running sums). From the placements of every distinct score follow, exactly, the
    AUC and DeLong's S10 and S01; from the positives and negatives at or above it, the average
    precision with its influence values and exact jackknife (as
    :func:`prevalens.ranking._ap_parts` computes them for each row: they depend on the row's
    score and side only). Each row's DeLong component and AP influence value for the class are
    then joined back from the grouped table into a table in row order; the classes' tables are
    read side by side (a positional join: no hash table over the rows) in batches, in Python:
    the cross-products of the DeLong components (the covariance of the AUCs) and the sums of
    squares and fourth powers of the average APs' influence values. With clusters (``__c``),
    the rows' values are summed within clusters first, as :func:`prevalens.ranking.ovr_pass`
    does. Memory: DuckDB's limit, plus a batch of rows (or clusters) x 2K doubles. ``losses``
    (of :func:`_score_checks`) is carried into the result.
    """
    from ..counted import CountedRanks
    from ..ranking import ap_combination_weights

    n = int(support.sum())
    auc = np.full(k, np.nan)
    s10 = np.full(k, np.nan)
    s01 = np.full(k, np.nan)
    ap = np.full(k, np.nan)
    ap_se = np.full(k, np.nan)
    ap_df = np.full(k, np.nan)
    ranked = []
    for j in range(k):
        m, q = int(support[j]), n - int(support[j])
        if m == 0:
            continue
        auc[j], ap[j] = _grouped(con, f"SELECT __s{j} AS v, __y = {j} AS pos FROM __r", m, q)
        # each side's mean influence value and leave-one-out change, then the spreads about
        # them (with DeLong's S10 and S01 about the AUC): two passes over the distinct scores
        a = float(auc[j]) if q > 0 else 0.0
        mean_dp, mean_dn, mean_jp, mean_jn = con.execute(
            f"""SELECT sum(p * d_pos) / {float(m)!r}, sum(q * d_neg) / {float(max(q, 1))!r},
                       sum(p * j_pos) / {float(m)!r}, sum(q * j_neg) / {float(max(q, 1))!r}
                FROM __g"""
        ).fetchall()[0]
        var_p, var_n, s2, s4, d10, d01 = con.execute(
            f"""SELECT sum(p * (j_pos - {mean_jp!r}) ^ 2), sum(q * (j_neg - {mean_jn!r}) ^ 2),
                       sum(p * (d_pos - {mean_dp!r}) ^ 2) + sum(q * (d_neg - {mean_dn!r}) ^ 2),
                       sum(p * (d_pos - {mean_dp!r}) ^ 4) + sum(q * (d_neg - {mean_dn!r}) ^ 4),
                       sum(p * (v10 - {a!r}) ^ 2), sum(q * (v01 - {a!r}) ^ 2)
                FROM __g"""
        ).fetchall()[0]
        var_j = ((m - 1) / m * float(var_p) if m > 1 else 0.0) + (
            (q - 1) / q * float(var_n) if q > 1 else 0.0
        )
        ap_se[j] = math.sqrt(var_j)
        ap_df[j] = float(s2) ** 2 / float(s4) if float(s4) > 0 else math.inf
        if q > 0 and m > 1:
            s10[j] = float(d10) / (m - 1)
        if q > 1:
            s01[j] = float(d01) / (q - 1)
        # each row's DeLong component (0 where the AUC is undefined) and AP influence value
        # for class j, in row order (so that the classes' tables line up row by row)
        if q > 0 and n > 2:
            if n_clusters is None:
                zp, zn = math.sqrt(m * max(m - 1, 1)), math.sqrt(q * max(q - 1, 1))
            else:  # an influence value, summed within clusters below
                zp, zn = float(m), float(q)
            component = (
                f"CASE WHEN r.__y = {j} THEN (g.v10 - {float(auc[j])!r}) / {zp!r} "
                f"ELSE (g.v01 - {float(auc[j])!r}) / {zn!r} END"
            )
        else:
            component = "0.0::DOUBLE"
        _watched(
            con,
            lambda j=j, component=component: con.execute(
                f"""CREATE TEMP TABLE __z{j} AS
                SELECT {component} AS __z{j},
                       CASE WHEN r.__y = {j} THEN g.d_pos ELSE g.d_neg END AS __i{j}
                FROM __r r JOIN __g g ON r.__s{j} = g.v ORDER BY r.__row"""
            ),
        )
        ranked.append(j)
        progress.fraction(len(ranked) / k)
    con.execute("DROP TABLE IF EXISTS __g")
    cov = np.zeros((k, k))
    # the average APs' influence values: macro, weighted, and weighted with the classes'
    # weights free to vary (the in-memory audit adds (AP of the row's class - AP) / n then)
    weights = ap_combination_weights(support)
    weighted = float(np.nansum(weights[:, 1] * ap)) if np.isfinite(ap).any() else math.nan
    ap_of = np.nan_to_num(ap)
    combos = None
    if ranked:
        at = np.array(ranked)
        w = weights[at]
        con.execute(
            "CREATE TEMP TABLE __cl AS SELECT __y, __c FROM __r ORDER BY __row"
            if n_clusters is not None
            else "CREATE TEMP TABLE __cl AS SELECT __y FROM __r ORDER BY __row"
        )
        tables = " POSITIONAL JOIN ".join(f"__z{j}" for j in ranked)
        cols = [f"__z{j}" for j in ranked] + [f"__i{j}" for j in ranked]
        part = np.zeros((at.size, at.size))
        # per unit (a row, or a cluster's total): the three average APs' influence values and,
        # with clusters, the classes' too; their sums of squares and of fourth powers
        if n_clusters is None:
            query = f"SELECT __y, {', '.join(cols)} FROM __cl POSITIONAL JOIN {tables}"
            lead = 1
        else:
            sums = ", ".join(f"sum({c})" for c in cols)
            extra = "sum(CASE __y " + " ".join(
                f"WHEN {j} THEN {float(ap_of[j])!r}::DOUBLE" for j in range(k)
            )
            query = (
                f"SELECT count(*), {extra} END), {sums} FROM __cl POSITIONAL JOIN {tables} "
                "GROUP BY __c"
            )
            lead = 2
        s2 = np.zeros(3 + at.size)
        s4 = np.zeros(3 + at.size)
        units = 0
        for batch in con.sql(query).to_arrow_reader(_BATCH_ROWS):
            m2 = np.column_stack(
                [batch.column(i).to_numpy(zero_copy_only=False) for i in range(batch.num_columns)]
            ).astype(np.float64)
            z, infl = m2[:, lead : lead + at.size], m2[:, lead + at.size :]
            part += z.T @ z
            d = infl @ w
            if n_clusters is None:
                e = (ap_of[m2[:, 0].astype(np.int64)] - weighted) / n
            else:
                e = (m2[:, 1] - m2[:, 0] * weighted) / n
            u = np.column_stack([d, d[:, 1] + e, infl])
            u2 = u * u
            s2 += u2.sum(axis=0)
            s4 += (u2 * u2).sum(axis=0)
            units += u.shape[0]
        factor = units / max(units - 1, 1)
        if n_clusters is not None:
            part *= factor
            for i, j in enumerate(ranked):  # the per-class APs: cluster-robust too
                ap_se[j] = math.sqrt(factor * s2[3 + i])
                ap_df[j] = s2[3 + i] ** 2 / s4[3 + i] if s4[3 + i] > 0 else math.inf
        combos = tuple(
            (math.sqrt(factor * s2[i]), s2[i] ** 2 / s4[i] if s4[i] > 0 else math.inf)
            for i in range(3)
        )
        cov[np.ix_(at, at)] = part
        con.execute("DROP TABLE __cl")
    for j in ranked:
        con.execute(f"DROP TABLE __z{j}")
    micro = _micro_scores(con, k, n, n_clusters) if k > 1 else None
    con.execute("DROP TABLE __r")
    undefined = np.isnan(auc)
    s10[undefined] = np.nan
    s01[undefined] = np.nan
    return CountedRanks(support, auc, s10, s01, cov, ap, ap_se, ap_df, combos, micro, losses)


def _check_score_cells(con, numbered: str, name: str, columns, parquet: bool) -> None:
    """Every score finite and non-negative, as :func:`prevalens.load_predictions` requires: the
    first offending cell (in row order, then the file's column order; a missing or non-finite one
    before a negative one) is refused with the loader's own message. ``columns``: (name, index of
    its ``__s`` column) in file order."""
    bad = " OR ".join(f"__s{j} IS NULL OR NOT isfinite(__s{j})" for _, j in columns)
    row = con.execute(f"SELECT min(__row) FROM __r WHERE {bad}").fetchall()[0][0]
    if row is None:
        negative = " OR ".join(f"__s{j} < 0" for _, j in columns)
        row = con.execute(f"SELECT min(__row) FROM __r WHERE {negative}").fetchall()[0][0]
    if row is None:
        return
    row = int(row)
    names = [c for c, _ in columns]
    raw = con.execute(
        f"SELECT {', '.join(_quote(c) for c in names)} FROM {numbered} WHERE __row = {row}"
    ).df()
    picked = ", ".join(f"__s{j}" for _, j in columns)
    matrix = con.execute(f"SELECT {picked} FROM __r WHERE __row = {row}").df()
    values = matrix.to_numpy(dtype=np.float64, na_value=np.nan)
    raw.columns = names
    _loader._check_scores(values, names, _CellWhere(name, lambda i: row), None if parquet else raw)
    raise InputError(f"{name}: row {row + 1}: a score is not a finite, non-negative number")


def _cluster_codes(con, numbered: str, cells: pd.DataFrame, column: str, parquet: bool, name):
    """Each cell's cluster code, the number of clusters, and a table of each distinct raw id
    (``raw``) and its code (``code``): clusters numbered by their first row in the file, as
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
    table = pd.DataFrame({"raw": raw.reset_index(drop=True), "code": codes})
    return cell_codes.astype(np.int64), len(code_of_first), table


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
