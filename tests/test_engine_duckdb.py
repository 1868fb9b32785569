"""The DuckDB engine (prevalens.engines.duckdb) counts a file without loading its rows; its audit
equals the in-memory audit of the same file bit for bit, and it refuses what the loader refuses,
naming the same column and row."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pandas as pd
import pytest

import prevalens
from prevalens.audit import audit_predictions
from prevalens.counted import CountedPredictions
from prevalens.exceptions import InputError

pytest.importorskip("duckdb")
from prevalens.engines.duckdb import count_file  # noqa: E402

EPOCH = "1795564800"


@pytest.fixture(autouse=True)
def _epoch(monkeypatch):
    monkeypatch.setenv("SOURCE_DATE_EPOCH", EPOCH)


def _frame(n=20_000, k=12, clusters=300, seed=0, text=True):
    rng = np.random.default_rng(seed)
    p = rng.dirichlet(np.full(k, 0.4))
    yt = rng.choice(k, n, p=p)
    yp = np.where(rng.random(n) < 0.7, yt, rng.integers(0, k, n))
    names = np.array([f"class {i}" for i in range(k)], dtype=object) if text else np.arange(k)
    # cluster ids first seen out of sorted order, of unequal sizes
    pid = rng.permutation(clusters)[rng.integers(0, clusters, n) ** 2 // clusters]
    return pd.DataFrame(
        {"y_true": names[yt], "y_pred": names[yp], "pid": pid, "other": rng.random(n)}
    )


def _audit_json(pred, **options):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = audit_predictions(pred, seed=5, n_resamples=options.pop("n_resamples", 200))
    return json.dumps(result.to_dict(), sort_keys=True)


def _write(frame, tmp_path, kind, stem="p"):
    path = tmp_path / f"{stem}.{kind}"
    if kind == "csv":
        frame.to_csv(path, index=False)
    else:
        frame.to_parquet(path, index=False)
    return path


@pytest.mark.parametrize("kind", ["csv", "parquet"])
@pytest.mark.parametrize("text", [True, False])
@pytest.mark.parametrize("cluster", [None, "pid"])
def test_duckdb_audit_equals_the_in_memory_audit(tmp_path, kind, text, cluster):
    path = _write(_frame(text=text), tmp_path, kind)
    rows = prevalens.load_predictions(path, cluster=cluster)
    counted = count_file(path, cluster=cluster)
    assert isinstance(counted, CountedPredictions) and counted.engine == "duckdb"
    assert counted.classes == rows.classes
    assert np.array_equal(counted.count_matrix(), rows.count_matrix())
    assert counted.inputs == rows.inputs  # path, SHA-256 and row count
    if cluster:
        assert counted.n_clusters == rows.n_clusters
        assert (counted.cluster_cells() != rows.cluster_cells()).nnz == 0
    assert _audit_json(counted) == _audit_json(rows)


def test_duckdb_counts_a_large_file_exactly(tmp_path):
    """1e6 rows, with clusters: the same confusion matrix, cluster cells and audit."""
    path = _write(
        _frame(n=1_000_000, k=40, clusters=20_000, seed=2, text=False), tmp_path, "parquet"
    )
    rows = prevalens.load_predictions(path, cluster="pid")
    counted = count_file(path, cluster="pid")
    assert np.array_equal(counted.count_matrix(), rows.count_matrix())
    assert (counted.cluster_cells() != rows.cluster_cells()).nnz == 0
    assert _audit_json(counted, n_resamples=100) == _audit_json(rows, n_resamples=100)


def test_typing_follows_the_in_memory_loader(tmp_path):
    """Text that pandas reads as integers is integers ("01" is class 1); blank lines are skipped;
    quoted commas are one cell; labels= adds a class with no samples; cluster ids that type
    alike are one cluster."""
    path = tmp_path / "odd.csv"
    path.write_text('y_true,y_pred,note,g\n1,1,"a, b",01\n\n2,01,x,1\n3,2,,2\n2,2,y,02\n1,3,z,3\n')
    for kw in ({}, {"labels": [1, 2, 3, 4]}, {"cluster": "g"}):
        rows = prevalens.load_predictions(path, **kw)
        counted = count_file(path, **kw)
        assert counted.classes == rows.classes
        assert np.array_equal(counted.count_matrix(), rows.count_matrix())
        if "cluster" in kw:
            assert np.array_equal(counted.cluster_sizes(), rows.cluster_sizes())
            assert (counted.cluster_cells() != rows.cluster_cells()).nnz == 0


def _same_error(path, **kw):
    with pytest.raises(InputError) as memory:
        prevalens.load_predictions(path, **kw)
    with pytest.raises(InputError) as duck:
        count_file(path, **kw)
    return str(memory.value), str(duck.value)


def test_a_missing_label_is_refused_at_its_row(tmp_path):
    path = tmp_path / "m.csv"
    path.write_text("y_true,y_pred\na,a\nb,a\n\na,b\n,b\n")
    memory, duck = _same_error(path)
    assert "column 'y_true' has a missing label at row 4" in memory
    assert (
        duck
        == f"{path}: column 'y_true' has a missing label at row 4; every row needs a y_true value"
    )


def test_a_label_outside_labels_is_refused_at_its_row(tmp_path):
    path = _write(
        pd.DataFrame({"y_true": list("abcab"), "y_pred": list("abzab")}), tmp_path, "parquet"
    )
    memory, duck = _same_error(path, labels=["a", "b", "c"])
    assert memory == duck
    assert "column 'y_pred', row 3: predicted label 'z' is not a known class" in duck


def test_a_fractional_label_is_refused_at_its_row(tmp_path):
    path = tmp_path / "f.csv"
    path.write_text("y_true,y_pred\n1,1\n2,2\n1.5,1\n")
    memory, duck = _same_error(path)
    assert "row 3" in duck and "1.5" in duck


def test_missing_columns_and_clusters_are_named(tmp_path):
    path = tmp_path / "c.csv"
    path.write_text("truth,y_pred,g\na,a,1\nb,b,\n")
    memory, duck = _same_error(path)
    assert memory == duck and "column 'y_true' not found" in duck
    memory, duck = _same_error(path, y_true="truth", cluster="g")
    assert "missing cluster id at row 2" in duck and "missing cluster id at row 2" in memory
    with pytest.raises(InputError, match="cluster column 'pid' not found"):
        count_file(path, y_true="truth", cluster="pid")


def test_score_columns_are_ranked_not_dropped(tmp_path):
    """Score columns are ranked for the ROC AUCs (tests/test_engine_duckdb_scores.py), with a
    cluster column too, never silently dropped; --score-prefix '' audits the labels only."""
    frame = pd.DataFrame({"y_true": list("abab"), "y_pred": list("abba"), "pid": [1, 1, 2, 2]})
    frame["score_a"], frame["score_b"] = [0.6, 0.3, 0.5, 0.2], [0.4, 0.7, 0.5, 0.8]
    path = _write(frame, tmp_path, "csv")
    counted = count_file(path)
    assert counted.has_scores and counted.ranks is not None
    np.testing.assert_allclose(counted.ranks.auc, [1.0, 1.0])
    clustered = count_file(path, cluster="pid")
    assert clustered.n_clusters == 2 and clustered.ranks is not None
    counted = count_file(path, score_prefix="")
    assert counted.n_samples == 4 and counted.ranks is None and not counted.has_scores


def test_unreadable_and_empty_files(tmp_path):
    with pytest.raises(InputError, match="file not found"):
        count_file(tmp_path / "nope.csv")
    with pytest.raises(InputError, match="a directory without Parquet files"):
        count_file(tmp_path)
    (tmp_path / "e.csv").write_text("\n")
    with pytest.raises(InputError, match="file is empty"):
        count_file(tmp_path / "e.csv")
    (tmp_path / "one.csv").write_text("y_true,y_pred\na,a\n")
    with pytest.raises(InputError, match="only 1 data row"):
        count_file(tmp_path / "one.csv")
    (tmp_path / "bad.parquet").write_bytes(b"PAR1 not really")
    with pytest.raises(InputError, match="not a readable Parquet file"):
        count_file(tmp_path / "bad.parquet")


# -- the command line: --engine ---------------------------------------------------------------


def test_cli_engine_duckdb_writes_the_same_outputs(cli, tmp_path):
    path = _write(_frame(n=5000), tmp_path, "csv")
    common = ("--cluster", "pid", "--seed", "3", "--format", "json,md,csv", "--quiet")
    one = cli("audit", str(path), "--out-dir", "mem", "--engine", "memory", *common, cwd=tmp_path)
    two = cli("audit", str(path), "--out-dir", "duck", "--engine", "duckdb", *common, cwd=tmp_path)
    assert one.returncode == two.returncode == 0, two.stderr
    for name in ("summary.md", "per_class.csv"):
        assert (tmp_path / "mem" / name).read_bytes() == (tmp_path / "duck" / name).read_bytes()
    a, b = (json.loads((tmp_path / d / "results.json").read_text()) for d in ("mem", "duck"))
    for d in (a, b):  # the command line and out_dir differ, and only they
        d["run"].pop("command")
        d["run"]["config"].pop("out_dir")
    assert a == b
    assert "engine" not in a["run"]["config"]  # never changes a number: not recorded


def test_cli_engine_errors_exit_2_and_write_nothing(cli, tmp_path):
    frame = pd.DataFrame({"y_true": list("abab"), "y_pred": list("abba"), "score_a": 0.5})
    frame["score_b"] = [0.5, 0.5, -0.5, 0.5]
    path = _write(frame, tmp_path, "csv")
    run = cli("audit", str(path), "--engine", "duckdb", "--out-dir", "out", cwd=tmp_path)
    assert run.returncode == 2 and "column 'score_b', row 3: score -0.5" in run.stderr
    assert len(run.stderr.strip().splitlines()) == 1 and "Traceback" not in run.stderr
    run = cli("audit", str(path), "--scheduler", "tcp://x:1", "--out-dir", "out", cwd=tmp_path)
    assert run.returncode == 2 and "--engine dask" in run.stderr
    assert not (tmp_path / "out").exists()


@pytest.mark.filterwarnings("ignore::prevalens.UndefinedMetricWarning")
def test_auto_counts_with_duckdb_when_the_file_would_not_fit(tmp_path, monkeypatch):
    """engine="auto": in memory when the file fits; counted by DuckDB (and said so) when its
    estimated load exceeds half the available memory, with score columns too (refused there
    with the loader's message); in memory again without predictions, which the loader names."""
    import prevalens.engines as E

    path = _write(_frame(n=3000), tmp_path, "parquet")
    steps: list[str] = []
    options = dict(write=False, seed=1, n_resamples=100, format=["json"], cwd=tmp_path)
    path = str(path)
    fits = prevalens.run_audit(path, progress=steps.append, **options)
    assert steps[0].startswith("loading ")
    monkeypatch.setattr(E, "available_memory", lambda: 100_000)
    steps.clear()
    counted = prevalens.run_audit(path, progress=steps.append, **options)
    assert steps[0].startswith(f"counting {path} with DuckDB, out of core (about ")
    assert "more than half of the 97.7 KiB available" in steps[0]
    assert counted.outputs["results.json"] == fits.outputs["results.json"]
    frame = _frame(n=3000)
    frame["score_x"] = 1.0
    steps.clear()
    scored = str(_write(frame, tmp_path, "csv"))
    with pytest.raises(InputError, match="no score column for class 'class 0'"):
        prevalens.run_audit(scored, progress=steps.append, **options)
    assert steps[0].startswith(f"counting {scored} with DuckDB")
    steps.clear()
    unpredicted = str(_write(_frame(n=3000).drop(columns="y_pred"), tmp_path, "parquet"))
    with pytest.raises(InputError, match="no predictions"):
        prevalens.run_audit(unpredicted, progress=steps.append, **options)
    assert steps[0].startswith("loading ")


class _Reporter:
    def __init__(self):
        self.steps, self.fractions = [], []

    def __call__(self, text):
        self.steps.append(text)

    def fraction(self, f):
        self.fractions.append(f)


def test_duckdb_reports_its_progress_and_prints_nothing_itself(tmp_path, capfd, monkeypatch):
    """The count's progress comes from DuckDB's query_progress() through prevalens.progress;
    DuckDB's own progress bar never reaches the terminal or a log."""
    import duckdb

    from prevalens import progress
    from prevalens.engines import duckdb as engine
    from prevalens.engines.duckdb import _watched

    monkeypatch.setattr(engine, "_POLL_SECONDS", 0.005)
    con = duckdb.connect(":memory:")
    con.execute("SET enable_progress_bar = true")
    con.execute("SET enable_progress_bar_print = false")
    reporter = _Reporter()
    query = "SELECT i % 1000 AS y, count(*) FROM range(150000000) t(i) GROUP BY y"
    with progress.reporting(reporter):
        _watched(con, lambda: con.sql(query).df())
    assert reporter.fractions and all(0 <= f <= 1 for f in reporter.fractions)
    assert reporter.fractions == sorted(reporter.fractions)
    path = _write(_frame(n=2000), tmp_path, "csv")
    capfd.readouterr()
    with progress.reporting(reporter):
        count_file(path)
    assert capfd.readouterr() == ("", "")


def test_a_parquet_dataset_directory_is_its_files_in_path_order(tmp_path):
    """A directory of Parquet files is one input: its rows in sorted path order (so clusters are
    numbered as in the concatenated file), other files (_SUCCESS, hidden ones) left out, and its
    provenance the SHA-256 of its manifest, as the Dask engine records it."""
    frame = _frame(n=9000, k=6, clusters=200, seed=7, text=False)
    whole = _write(frame, tmp_path, "parquet")
    dataset = tmp_path / "dataset"
    (dataset / "sub").mkdir(parents=True)
    chunks = np.array_split(np.arange(len(frame)), 3)
    frame.iloc[chunks[0]].to_parquet(dataset / "a.parquet", index=False)
    frame.iloc[chunks[1]].to_parquet(dataset / "sub" / "b.parquet", index=False)
    frame.iloc[chunks[2]].to_parquet(dataset / "sub" / "c.parquet", index=False)
    (dataset / "_SUCCESS").write_text("")
    (dataset / ".a.parquet.crc").write_text("x")
    rows = prevalens.load_predictions(whole, cluster="pid")
    counted = count_file(dataset, cluster="pid")
    assert counted.inputs[0].rows == len(frame) and counted.inputs[0].path == str(dataset)
    assert (counted.cluster_cells() != rows.cluster_cells()).nnz == 0
    strip = lambda s: json.dumps(  # noqa: E731
        {k: v for k, v in json.loads(s).items() if k != "inputs"}, sort_keys=True
    )
    assert strip(_audit_json(counted)) == strip(_audit_json(rows))
    dask = pytest.importorskip("prevalens.engines.dask")
    assert dask.count_dask_file(dataset, cluster="pid").inputs == counted.inputs
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "notes.txt").write_text("x")
    with pytest.raises(InputError, match="a directory without Parquet files"):
        count_file(empty)


# -- found in review ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "text", "kwargs"),
    [
        ("space_label", "y_true,y_pred\na,a\nb,b\n ,b\nc,c\n", {}),
        ("header_space", "y_true, y_pred\na,a\nb,b\n", {}),
        ("lone_cr", "y_true,y_pred\ra,a\rb,b\r", {}),
        ("ragged", "y_true,y_pred\na,a\nb,b,x\nb,b\n", {}),
        ("two_bad", "y_true,y_pred\n1,1\n2,2\n3.5,1\n2,1\n4.5,2\n", {}),
    ],
)
def test_csv_refusals_match_the_loader(tmp_path, name, text, kwargs):
    path = tmp_path / f"{name}.csv"
    path.write_bytes(text.encode())
    memory, duck = _same_error(path, **kwargs)
    # the same problem at the same row (the loader adds the file line to the row)
    core = lambda m: m.split(" (line")[0].split(";")[0].split(" (")[0]  # noqa: E731
    if name == "two_bad":
        assert "3.5 at row 3" in duck and "3.5 at row 3" in memory
    elif name in ("lone_cr", "ragged"):
        assert "not a readable CSV file" in duck and "not a readable CSV file" in memory
    elif name == "header_space":
        assert "'y_pred'" in duck
    else:
        assert core(duck) == core(memory)


def test_a_quoted_newline_is_read_as_the_loader_reads_it(tmp_path):
    path = tmp_path / "q.csv"
    path.write_text('y_true,y_pred\n"a\nb",a\nb,b\nb,"a\nb"\n')
    rows = prevalens.load_predictions(path)
    counted = count_file(path)
    assert counted.classes == rows.classes == ("a", "a\nb", "b")
    assert np.array_equal(counted.count_matrix(), rows.count_matrix())


def test_parquet_missing_labels_and_unsupported_types(tmp_path):
    import decimal

    import pyarrow as pa
    import pyarrow.parquet as pq

    for values in ([1.0, float("nan"), 2.0, 1.0], [1, None, 2, 1]):
        path = tmp_path / "m.parquet"
        pq.write_table(pa.table({"y_true": pa.array(values), "y_pred": [1, 2, 1, 2]}), path)
        memory, duck = _same_error(path)
        assert memory == duck and "missing label at row 2" in duck
    path = tmp_path / "d.parquet"
    decimals = pa.array([decimal.Decimal(v) for v in ("1", "2", "1")], pa.decimal128(5, 1))
    pq.write_table(pa.table({"y_true": decimals, "y_pred": decimals}), path)
    with pytest.raises(InputError, match="stored as DECIMAL.*--engine memory"):
        count_file(path)
