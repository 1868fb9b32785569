"""Engines that count an audit's sufficient statistics without holding the rows in memory.

Each returns :class:`~prevalens.counted.CountedPredictions` (the distinct (truth, prediction[,
cluster]) cells and their counts), which :func:`prevalens.audit_predictions` audits exactly as it
audits the rows. The engines are optional extras: ``pip install prevalens[duckdb]`` for files
larger than memory on one machine (:mod:`prevalens.engines.duckdb`), ``prevalens[dask]`` for a
Dask cluster (:mod:`prevalens.engines.dask`).
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["choose_engine", "available_memory", "dataset_sha256", "parquet_files"]


def dataset_sha256(path: Path, name: str) -> str:
    """SHA-256 of a file; of a directory (a Parquet dataset), the SHA-256 of its manifest: one
    line ``<sha256>  <relative path>\\n`` per file, in sorted path order (as ``sha256sum``)."""
    import hashlib

    from ..io import _hash_file

    if not path.is_dir():
        return _hash_file(path, name)[0]
    manifest = hashlib.sha256()
    for f in sorted(p for p in path.rglob("*") if p.is_file()):
        rel = f.relative_to(path).as_posix()
        manifest.update(f"{_hash_file(f, str(f))[0]}  {rel}\n".encode())
    return manifest.hexdigest()


def parquet_files(path: Path) -> list[Path]:
    """The Parquet files of a dataset directory, in sorted path order (the order of its rows):
    those named ``*.parquet``, ``*.pq`` or ``*.parq``, hidden ones and ``_*`` (``_SUCCESS``,
    ``_metadata``) left out."""
    out = []
    for f in sorted(p for p in path.rglob("*") if p.is_file()):
        parts = f.relative_to(path).parts
        if any(x.startswith((".", "_")) for x in parts):
            continue
        if f.suffix.lower() in {".parquet", ".pq", ".parq"}:
            out.append(f)
    return out


def available_memory() -> int:
    """Bytes of memory available to a new allocation now (Linux: MemAvailable), else half of the
    physical memory."""
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    import os

    try:
        return int(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")) // 2
    except (ValueError, OSError, AttributeError):
        return 4 << 30


def estimated_memory(path: Path) -> int | None:
    """What loading the file's rows costs in memory, roughly (None when it cannot be told): for
    CSV three times its size (its text, decoded, and the frame), for Parquet 40 bytes per cell
    of its rows and columns (labels as Python strings)."""
    from .. import io as _loader

    try:
        size = path.stat().st_size
        with path.open("rb") as fh:
            head = fh.read(4)
    except OSError:
        return None
    if not _loader._is_parquet(path, head):
        return 3 * size
    try:
        import pyarrow.parquet as pq

        meta = pq.read_metadata(str(path))
    except Exception:  # unreadable: the loader says why
        return None
    return int(meta.num_rows) * int(meta.num_columns) * 40


def choose_engine(
    source, roles, *, available: int | None = None, groups: bool = False
) -> tuple[str, str]:
    """``engine="auto"``: ``("duckdb", why)`` when a file would not fit in memory (its
    estimated load above half the available memory) and DuckDB is installed, else
    ``("memory", "")``. A file with score columns goes to DuckDB too (which computes the score
    metrics but the one-vs-one AUC, calibration and the curves, and says so in the results). A file without predictions (neither a
    predicted-label column nor scores) is read in memory, whose loader names the problem.

    With ``groups`` (subgroups, which no engine counts yet) a file is always read in memory:
    ``("memory", why)`` says so when DuckDB would have counted it; a directory of Parquet
    files, which only the engines read, is refused with a :class:`~prevalens.ConfigError`."""
    engine, why = _choose(source, roles, available)
    if not groups or engine == "memory":
        return engine, why
    if Path(source).is_dir():
        from ..exceptions import ConfigError

        raise ConfigError(
            f"{source}: a directory of Parquet files is read only by the duckdb and dask "
            "engines, which do not count subgroups yet; give one file to audit in memory, or "
            "leave --group out"
        )
    return "memory", f"{why}; subgroups are audited in memory only"


def _choose(source, roles, available: int | None) -> tuple[str, str]:
    from .duckdb import available as duckdb_available
    from .duckdb import column_names

    path = Path(source)
    if path.is_dir() and parquet_files(path) and duckdb_available():
        return "duckdb", "a directory of Parquet files, which is read as one dataset"
    if not path.is_file():
        return "memory", ""
    need = estimated_memory(path)
    free = available_memory() if available is None else available
    if need is None or need <= free // 2 or not duckdb_available():
        return "memory", ""
    try:
        names = column_names(path)
    except Exception:  # unreadable: the in-memory loader names the problem
        return "memory", ""
    if roles.y_pred not in names and not roles.score_names(names):
        return "memory", ""  # no predictions: the loader names the problem
    return "duckdb", (
        f"about {_human(need)} to load in memory, more than half of the {_human(free)} available"
    )


def _human(size: int) -> str:
    from ..io import _human_size

    return _human_size(size)
