"""Engines that count an audit's sufficient statistics without holding the rows in memory.

Each returns :class:`~prevalens.counted.CountedPredictions` (the distinct (truth, prediction[,
cluster]) cells and their counts), which :func:`prevalens.audit_predictions` audits exactly as it
audits the rows. The engines are optional extras: ``pip install prevalens[duckdb]`` for files
larger than memory on one machine (:mod:`prevalens.engines.duckdb`), ``prevalens[dask]`` for a
Dask cluster (:mod:`prevalens.engines.dask`).
"""
