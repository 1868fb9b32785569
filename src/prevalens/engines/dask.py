"""Counting an audit's sufficient statistics with Dask: a dataframe on a cluster, or files.

Every partition is counted where it lives (on a worker): a group-by of its (truth, prediction[,
cluster]) values, each distinct cell with its number of rows and the position of its first row in
the partition. Only those small tables travel to the client, which adds the counts (exactly:
integers), types and encodes the labels with the in-memory loader's own code
(:func:`prevalens.io._build`, run on the distinct cells instead of the rows) and returns
:class:`~prevalens.counted.CountedPredictions`. The audit then runs on the client from the merged
counts, and with the same seed gives the numbers :func:`prevalens.load_predictions` and
:func:`prevalens.audit_predictions` give for the same rows, bit for bit:

* classes: ``labels=`` if given, else the sorted union of the true and predicted labels; labels
  are integers when every label column is integer-typed, else all are compared as text;
* clusters are numbered in the order of their first row (partition by partition, row by row, as
  the rows of the concatenated partitions), as the cluster bootstrap needs;
* every refusal is the loader's own message, naming the column and the row (1-based over the
  concatenated partitions).

Scores are not counted: score columns are never read, so ROC AUC, average precision, log loss and
Brier (which need every row's scores) need the in-memory engine.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from ..counted import CountedPredictions
from ..exceptions import InputError
from ..io import InputInfo, _build, _c_engine_types, _preview, _Where
from . import dataset_sha256

__all__ = ["count_dask", "audit_dask", "count_dask_file"]

# the columns of a partition's cell table: the label roles, then the cell's size and first row
_ROLES = ("t", "p", "c")
_ROW = "_first_row"
_SIZE = "_rows"


class _CellRows(_Where):
    """Locations for messages about cells: cell ``i`` is reported at its first row."""

    def __init__(self, name: str, first_rows: np.ndarray):
        super().__init__(name)
        self.first_rows = first_rows

    def row(self, i: int) -> str:
        return f"row {int(self.first_rows[i]) + 1}"


def _count_partition(df: pd.DataFrame, number: int) -> tuple[int, int, pd.DataFrame]:
    """One partition's distinct cells: ``(number, rows, cells)``, where ``cells`` holds the raw
    values of each distinct (t, p[, c]), its number of rows and the position of its first row."""
    keys = list(_ROLES[: df.shape[1]])
    df = df.set_axis(keys, axis=1)
    n = len(df)
    df[_ROW] = np.arange(n, dtype=np.int64)
    grouped = df.groupby(keys, sort=False, dropna=False, observed=True)[_ROW]
    cells = grouped.agg(["size", "min"]).reset_index()
    cells = cells.rename(columns={"size": _SIZE, "min": _ROW})
    return number, n, cells


def _merge(parts: list, n_keys: int) -> tuple[int, pd.DataFrame]:
    """Add the partitions' cells: ``(rows, cells)`` with each distinct cell's total count and its
    first row over the concatenated partitions, the cells in the order of their first rows."""
    parts = sorted(parts, key=lambda part: part[0])
    sizes = np.array([n for _, n, _ in parts], dtype=np.int64)
    offsets = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    frames = []
    for (_, _, cells), offset in zip(parts, offsets):
        if len(cells):
            frames.append(cells.assign(**{_ROW: cells[_ROW].to_numpy(np.int64) + offset}))
    if not frames:
        return 0, pd.DataFrame()
    keys = list(_ROLES[:n_keys])
    cells = pd.concat(frames, ignore_index=True)
    merged = (
        cells.groupby(keys, sort=False, dropna=False, observed=True)
        .agg(**{_SIZE: (_SIZE, "sum"), _ROW: (_ROW, "min")})
        .reset_index()
    )
    merged = merged.sort_values(_ROW, kind="stable", ignore_index=True)
    return int(sizes.sum()), merged


def _check_columns(columns, name: str, y_true: str, y_pred: str, cluster: str | None) -> list:
    """The columns the count reads (true, predicted[, cluster]), refusing absent ones."""
    cols = [str(c) for c in columns]
    by_name = dict(zip(cols, columns))
    if y_true not in by_name:
        raise InputError(
            f"{name}: column '{y_true}' not found (columns: {_preview(cols)}); "
            "name the true-label column 'y_true' or pass `y_true=`"
        )
    if y_pred not in by_name:
        raise InputError(
            f"{name}: column '{y_pred}' not found (columns: {_preview(cols)}); the Dask engine "
            "counts predicted labels (it reads no scores): name the predicted-label column "
            "'y_pred' or pass `y_pred=` (for predictions from scores use load_predictions)"
        )
    if cluster is not None and cluster not in by_name:
        raise InputError(
            f"{name}: cluster column '{cluster}' not found (columns: {_preview(cols)})"
        )
    wanted = [y_true, y_pred] + ([cluster] if cluster is not None else [])
    return [by_name[c] for c in wanted]


def _compute(ddf, client=None) -> list:
    import dask

    tasks = [
        dask.delayed(_count_partition)(part, i)
        for i, part in enumerate(ddf.to_delayed(optimize_graph=True))
    ]
    if client is not None:
        return list(client.gather(client.compute(tasks)))
    return list(dask.compute(*tasks))


def _counted(
    rows: int,
    cells: pd.DataFrame,
    *,
    name: str,
    labels,
    y_true: str,
    y_pred: str,
    cluster: str | None,
    info: InputInfo,
    typer=None,
) -> CountedPredictions:
    """Type, validate and encode the merged cells with the in-memory loader's :func:`_build`, on
    the cells in the order of their first rows: the first offending cell holds the first offending
    row, so the messages name the row the loader names. ``typer(values)`` re-types a column's raw
    values (for CSV, read as text)."""
    if rows == 0:
        raise InputError(f"{name}: no data rows; the input needs at least 2 samples")
    if rows == 1:
        raise InputError(f"{name}: only 1 data row; an audit needs at least 2 samples (rows)")
    # _build refuses fewer than 2 *rows*, and here a row is a cell: repeat a single cell (its
    # codes are read once)
    cols = cells if len(cells) > 1 else cells.iloc[[0, 0]].reset_index(drop=True)
    where = _CellRows(name, cols[_ROW].to_numpy())

    def values(role):
        s = cols[role]
        return typer(s) if typer is not None else s

    pred = _build(
        where,
        values("t"),
        y_true,
        values("p"),
        y_pred,
        None,
        values("c") if cluster is not None else None,
        cluster,
        labels,
        (info,),
    )
    j = len(cells)
    clusters = pred.cluster[:j] if pred.cluster is not None else None
    return CountedPredictions.from_cells(
        pred.classes,
        pred.y_true[:j],
        pred.y_pred[:j],
        cells[_SIZE].to_numpy(np.int64),
        clusters,
        n_clusters=None if clusters is None else int(clusters.max()) + 1,
        engine="dask",
        inputs=(info,),
        columns=dict(pred.columns),
        task=pred.task,
        pred_source=pred.pred_source,
    )


def _count(
    ddf,
    *,
    labels,
    y_true: str,
    y_pred: str,
    cluster: str | None,
    name: str,
    info=None,
    typer=None,
    client=None,
) -> CountedPredictions:
    import dask.dataframe as dd

    if not isinstance(ddf, dd.DataFrame):
        raise InputError(
            f"`ddf` must be a dask.dataframe.DataFrame, got {type(ddf).__name__}; for a pandas "
            "DataFrame use prevalens.load_predictions()"
        )
    wanted = _check_columns(ddf.columns, name, y_true, y_pred, cluster)
    rows, cells = _merge(_compute(ddf[wanted], client), len(wanted))
    return _counted(
        rows,
        cells,
        name=name,
        labels=labels,
        y_true=y_true,
        y_pred=y_pred,
        cluster=cluster,
        info=info if info is not None else InputInfo(None, None, rows),
        typer=typer,
    )


def count_dask(
    ddf,
    *,
    labels=None,
    y_true: str = "y_true",
    y_pred: str = "y_pred",
    cluster: str | None = None,
    name: str = "Dask dataframe",
) -> CountedPredictions:
    """Count the (truth, prediction[, cluster]) cells of a Dask dataframe.

    Each partition is counted on the workers (by the current scheduler: a
    ``distributed.Client`` if one is active); the client merges the counts and encodes the labels
    exactly as :func:`prevalens.load_predictions` encodes a pandas DataFrame of the same rows.

    Parameters
    ----------
    ddf : dask.dataframe.DataFrame
        One row per sample.
    labels : sequence, optional
        The classes in order (default: the sorted union of true and predicted labels).
    y_true, y_pred : str
        The columns of true and predicted labels. ``y_pred`` is required: score columns
        (``score_<label>``) are not read, so predictions cannot be taken from scores, and ROC AUC,
        average precision, log loss and Brier, which need the scores, need the in-memory engine
        (:func:`prevalens.load_predictions`).
    cluster : str, optional
        Column of resampling units; numbered in the order of their first row.
    name : str
        How messages name the input.

    Returns
    -------
    CountedPredictions
        ``engine="dask"``; its ``inputs`` record the row count (no path or hash).

    Raises
    ------
    InputError
        A missing column (listing the columns), a missing label or cluster id (naming the column
        and its row, 1-based over the concatenated partitions), a label not in ``labels=``, fewer
        than 2 rows: the in-memory loader's one-line messages.
    """
    return _count(ddf, labels=labels, y_true=y_true, y_pred=y_pred, cluster=cluster, name=name)


def audit_dask(
    ddf,
    config=None,
    *,
    labels=None,
    y_true: str = "y_true",
    y_pred: str = "y_pred",
    cluster: str | None = None,
    **options,
):
    """Audit a Dask dataframe: :func:`count_dask` on the workers, then
    :func:`prevalens.audit.audit_predictions` on the client from the merged counts (``config``
    and ``options`` as there). Label metrics only: see :func:`count_dask`."""
    from ..audit import audit_predictions

    counted = count_dask(ddf, labels=labels, y_true=y_true, y_pred=y_pred, cluster=cluster)
    # CountedPredictions offers every method the audit reads of Predictions (prevalens.counted)
    return audit_predictions(counted, config, **options)


# --------------------------------------------------------------------------------------------
# files


def _is_parquet_path(path: Path) -> bool:
    if path.is_dir():
        return True
    if path.suffix.lower() in {".parquet", ".pq", ".parq"}:
        return True
    with path.open("rb") as fh:
        return fh.read(4) == b"PAR1"


def _csv_typer(s: pd.Series) -> pd.Series:
    """A CSV column's text (as Dask read it, every label column as str) typed as the pandas C
    engine types the whole column (:func:`prevalens.io._c_engine_types` on its distinct values):
    "1", "2" become integers, "a", "1" stay text, as :func:`prevalens.load_predictions` decides.
    A column with a missing value stays text: the loader refuses the missing value first."""
    if s.isna().any():
        return s.astype(object)
    raw = s.astype(str).to_numpy(dtype=object)
    distinct = pd.unique(raw)
    typed = _c_engine_types([str(v) for v in distinct])
    if typed is None:  # pragma: no cover - only for values the C engine reads as missing
        return s.astype(object)
    return typed.take(pd.Index(distinct).get_indexer(raw)).reset_index(drop=True)


def count_dask_file(
    path,
    *,
    scheduler: str | None = None,
    labels=None,
    y_true: str = "y_true",
    y_pred: str = "y_pred",
    cluster: str | None = None,
    score_prefix: str = "score_",
    blocksize=None,
) -> CountedPredictions:
    """Count the cells of a Parquet file or dataset directory, or of a CSV file, with Dask.

    Parquet is read column by column (only the label and cluster columns); CSV with every label
    and cluster column as text (only an empty cell is missing, as in the in-memory loader), whose
    distinct values are then typed by the pandas C engine, as :func:`prevalens.load_predictions`
    reads them. Score columns are never read (see :func:`count_dask`).

    Parameters
    ----------
    path : str or os.PathLike
        A ``.parquet``/``.pq`` file or a directory of Parquet files, else a UTF-8 CSV file.
    scheduler : str, optional
        The address of a Dask scheduler (``tcp://host:8786``): a ``distributed.Client`` is
        connected for the count and closed after. Default: the current scheduler.
    score_prefix : str
        Accepted for the signature of :func:`prevalens.load_predictions`: score columns are not
        read whatever their names.
    blocksize : int or str, optional
        CSV only: bytes per partition (Dask's default otherwise).
    labels, y_true, y_pred, cluster
        As :func:`count_dask`.

    Returns
    -------
    CountedPredictions
        Whose ``inputs`` record the path, its SHA-256 (of a directory: of the manifest of its
        files' SHA-256, see :func:`prevalens.engines.dataset_sha256`) and the row count; messages name the rows 1-based, in
        file order.
    """
    import dask.dataframe as dd

    path = Path(path)
    name = str(path)
    if not path.exists():
        raise InputError(f"{name}: file not found; check the path")
    if _is_parquet_path(path):
        columns = list(dd.read_parquet(str(path)).columns)
        wanted = _check_columns(columns, name, y_true, y_pred, cluster)
        ddf = dd.read_parquet(str(path), columns=wanted)
        typer = None
    else:
        try:
            header = list(pd.read_csv(path, nrows=0).columns)
        except pd.errors.EmptyDataError:
            raise InputError(
                f"{name}: file is empty; it needs a header and at least 2 data rows"
            ) from None
        wanted = _check_columns(header, name, y_true, y_pred, cluster)
        ddf = dd.read_csv(
            str(path),
            usecols=wanted,
            dtype={c: str for c in wanted},
            keep_default_na=False,
            na_values=[""],
            **({"blocksize": blocksize} if blocksize is not None else {}),
        )
        typer = _csv_typer
    sha = dataset_sha256(path, name)

    def run(client=None):
        return _compute(ddf[wanted], client)

    if scheduler is not None:
        from distributed import Client

        with Client(scheduler) as client:
            parts = run(client)
    else:
        parts = run()
    rows, cells = _merge(parts, len(wanted))
    return _counted(
        rows,
        cells,
        name=name,
        labels=labels,
        y_true=y_true,
        y_pred=y_pred,
        cluster=cluster,
        info=InputInfo(name, sha, rows),
        typer=typer,
    )
