"""The Dask engine (prevalens.engines.dask) gives the in-memory audit, bit for bit.

Counted on a local cluster of two worker processes: the results.json of the Dask audit equals that
of load_predictions + audit_predictions on the same rows (int and text labels, a cluster column
numbered out of sorted order, several partitions, CSV and Parquet files), and its refusals name the
column and the row the in-memory loader names.
"""

from __future__ import annotations

import json
import re
import warnings

import numpy as np
import pandas as pd
import pytest

dd = pytest.importorskip("dask.dataframe")
distributed = pytest.importorskip("distributed")

import prevalens as pv  # noqa: E402
from prevalens.audit import audit_predictions  # noqa: E402
from prevalens.engines.dask import audit_dask, count_dask, count_dask_file  # noqa: E402
from prevalens.exceptions import InputError  # noqa: E402

EPOCH = "1795564800"
OPTIONS = {"n_resamples": 200, "seed": 7}


@pytest.fixture(scope="module")
def client():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        cluster = distributed.LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
        )
    c = distributed.Client(cluster)
    yield c
    c.close()
    cluster.close()


def _frame(n=20_000, k=7, clusters=None, text=False, seed=0):
    rng = np.random.default_rng(seed)
    p = rng.dirichlet(np.full(k, 0.5))
    yt = rng.choice(k, n, p=p)
    yp = np.where(rng.random(n) < 0.7, yt, rng.integers(0, k, n))
    data = {"y_true": yt, "y_pred": yp}
    if text:
        names = np.array([f"class {chr(97 + i)}" for i in range(k)], dtype=object)
        data = {"y_true": names[yt], "y_pred": names[yp]}
    if clusters:
        # unequal clusters whose ids first appear out of sorted order
        data["site"] = rng.permutation(clusters)[rng.integers(0, clusters, n) ** 2 // clusters] + 1
    data["score_x"] = rng.random(n)  # a score column: never read by the Dask engine
    return pd.DataFrame(data)


def _json(result) -> str:
    return json.dumps(result.to_dict(), sort_keys=True)


def _audit(pred):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # undefined metrics, said in the results
        return audit_predictions(pred, **OPTIONS)


def _same_cells(counted, pred):
    cm, ref = counted.count_matrix(), pred.count_matrix()
    assert np.array_equal(np.asarray(cm), np.asarray(ref))
    assert counted.classes == pred.classes and counted.n_samples == pred.n_samples
    assert counted.clustered == pred.clustered
    if pred.clustered:
        assert counted.n_clusters == pred.n_clusters
        assert (counted.cluster_cells() != pred.cluster_cells()).nnz == 0
        assert np.array_equal(counted.cluster_sizes(), pred.cluster_sizes())


@pytest.mark.parametrize(
    ("text", "clusters", "npartitions"),
    [(False, None, 4), (True, None, 5), (False, 150, 6), (True, 80, 4)],
)
def test_dask_audit_equals_the_in_memory_audit(client, monkeypatch, text, clusters, npartitions):
    monkeypatch.setenv("SOURCE_DATE_EPOCH", EPOCH)
    pdf = _frame(clusters=clusters, text=text)
    cluster = "site" if clusters else None
    ddf = dd.from_pandas(pdf, npartitions=npartitions)
    assert ddf.npartitions == npartitions
    pred = pv.load_predictions(
        pdf[["y_true", "y_pred", "site"] if clusters else ["y_true", "y_pred"]], cluster=cluster
    )
    counted = count_dask(ddf, cluster=cluster)
    assert counted.engine == "dask" and not counted.has_scores
    _same_cells(counted, pred)
    # equal whole, inputs (rows, no path) and pred_source included
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert _json(audit_dask(ddf, cluster=cluster, **OPTIONS)) == _json(_audit(pred))


def test_dask_audit_with_labels(client, monkeypatch):
    monkeypatch.setenv("SOURCE_DATE_EPOCH", EPOCH)
    pdf = _frame(text=True, k=5)[["y_true", "y_pred"]]
    labels = ["class e", "class a", "class z", "class c", "class b", "class d"]  # z is absent
    pred = pv.load_predictions(pdf, labels=labels)
    counted = count_dask(dd.from_pandas(pdf, npartitions=4), labels=labels)
    _same_cells(counted, pred)
    assert _json(_audit(counted)) == _json(_audit(pred))


def test_mixed_label_types_compare_as_text(client):
    # integer truths, text predictions: everything is compared as text, as in memory
    pdf = pd.DataFrame({"y_true": [1, 2, 10, 2] * 50, "y_pred": ["1", "10", "2", "x"] * 50})
    pred = pv.load_predictions(pdf)
    counted = count_dask(dd.from_pandas(pdf, npartitions=4))
    assert counted.classes == pred.classes == ("1", "10", "2", "x")
    _same_cells(counted, pred)


@pytest.mark.parametrize("text", [False, True])
def test_csv_file(client, monkeypatch, tmp_path, text):
    monkeypatch.setenv("SOURCE_DATE_EPOCH", EPOCH)
    path = tmp_path / "pred.csv"
    _frame(clusters=120, text=text, seed=1).drop(columns="score_x").to_csv(path, index=False)
    pred = pv.load_predictions(path, cluster="site")
    counted = count_dask_file(path, cluster="site", blocksize=100_000)  # several partitions
    assert isinstance(counted.classes[0], str) == text
    _same_cells(counted, pred)
    assert counted.inputs == pred.inputs  # path, SHA-256, rows
    assert _json(_audit(counted)) == _json(_audit(pred))


def test_csv_text_that_looks_numeric_is_typed_as_in_memory(client, tmp_path):
    path = tmp_path / "mixed.csv"
    # "1"/"2" in y_true are integers to the C engine; y_pred's "a" makes every label text
    path.write_text("y_true,y_pred\n" + "1,1\n2,a\n01,2\n" * 20)
    pred = pv.load_predictions(path)
    counted = count_dask_file(path, blocksize=50)
    assert counted.classes == pred.classes
    _same_cells(counted, pred)
    path.write_text("y_true,y_pred\n" + "1,1\n2,01\n3,2.0\n" * 20)
    assert count_dask_file(path).classes == pv.load_predictions(path).classes == (1, 2, 3)


def test_parquet_file_and_dataset(client, monkeypatch, tmp_path):
    monkeypatch.setenv("SOURCE_DATE_EPOCH", EPOCH)
    pdf = _frame(n=30_000, clusters=200, text=True, seed=2).drop(columns="score_x")
    one = tmp_path / "pred.parquet"
    pdf.to_parquet(one, index=False)
    pred = pv.load_predictions(one, cluster="site")
    counted = count_dask_file(one, cluster="site")
    _same_cells(counted, pred)
    assert counted.inputs == pred.inputs
    expected = _json(_audit(pred))
    assert _json(_audit(counted)) == expected

    dataset = tmp_path / "dataset"
    dd.from_pandas(pdf, npartitions=5).to_parquet(dataset, write_index=False)
    assert len(list(dataset.glob("*.parquet"))) == 5
    counted = count_dask_file(dataset, cluster="site")
    _same_cells(counted, pred)
    (info,) = counted.inputs
    assert info.path == str(dataset) and info.rows == len(pdf) and len(info.sha256) == 64
    # the same audit but for the input's path and hash
    d_counted, d_pred = _audit(counted).to_dict(), json.loads(expected)
    assert d_counted.pop("inputs") != d_pred.pop("inputs")
    assert json.dumps(d_counted, sort_keys=True) == json.dumps(d_pred, sort_keys=True)


def test_scheduler_address(client, tmp_path):
    path = tmp_path / "pred.parquet"
    pdf = _frame(n=2000)
    pdf.to_parquet(path, index=False)  # with a score column, which is not read
    # score_prefix as the CLI passes it (the loader's signature); no score column is read
    counted = count_dask_file(path, scheduler=client.scheduler.address, score_prefix="score_")
    _same_cells(counted, pv.load_predictions(pdf[["y_true", "y_pred"]]))
    assert client.status == "running"  # the caller's client is left alone


# --------------------------------------------------------------------------------------------
# refusals: the in-memory loader's messages, naming the column and the row


def _message(exc) -> str:
    return str(exc.value).split(": ", 1)[1]  # without the input's name


@pytest.mark.parametrize("missing", [None, np.nan, "", "  "])
def test_missing_label_names_the_column_and_row(client, missing):
    pdf = _frame(n=8000, text=True)[["y_true", "y_pred"]]
    pdf.loc[6543, "y_pred"] = missing  # in the fourth of four partitions
    pdf.loc[7000, "y_pred"] = None
    with pytest.raises(InputError, match="column 'y_pred' has a missing label at row 6544;") as e:
        count_dask(dd.from_pandas(pdf, npartitions=4))
    assert str(e.value).startswith("Dask dataframe: ")
    with pytest.raises(InputError) as ref:
        pv.load_predictions(pdf)
    assert _message(e) == _message(ref)


def test_missing_cluster_id_names_the_row(client):
    pdf = _frame(n=4000, clusters=30)[["y_true", "y_pred", "site"]].astype({"site": float})
    pdf.loc[2501, "site"] = np.nan
    with pytest.raises(InputError, match="column 'site' has a missing cluster id at row 2502;"):
        count_dask(dd.from_pandas(pdf, npartitions=4), cluster="site")


def test_missing_label_in_a_csv_file(client, tmp_path):
    path = tmp_path / "gap.csv"
    path.write_text("y_true,y_pred\n" + "a,b\n" * 500 + "a,\n" + "b,b\n" * 500)
    with pytest.raises(
        InputError, match=re.escape(f"{path}: column 'y_pred' has a missing label at row 501;")
    ):
        count_dask_file(path, blocksize=1000)


def test_missing_column_lists_the_columns(client, tmp_path):
    ddf = dd.from_pandas(_frame(n=100)[["y_true", "y_pred"]], npartitions=2)
    with pytest.raises(
        InputError, match=r"column 'truth' not found \(columns: 'y_true', 'y_pred'\)"
    ):
        count_dask(ddf, y_true="truth")
    with pytest.raises(InputError, match="column 'guess' not found .*pass `y_pred=`"):
        count_dask(ddf, y_pred="guess")
    with pytest.raises(InputError, match="cluster column 'site' not found"):
        count_dask(ddf, cluster="site")
    path = tmp_path / "p.parquet"
    _frame(n=100).to_parquet(path, index=False)
    with pytest.raises(InputError, match=re.escape(f"{path}: column 'truth' not found")):
        count_dask_file(path, y_true="truth")


def test_label_outside_labels(client):
    pdf = _frame(n=5000, text=True)[["y_true", "y_pred"]]
    pdf.loc[3210, "y_true"] = "class q"
    labels = sorted(set(pdf["y_pred"]))
    with pytest.raises(InputError) as e:
        count_dask(dd.from_pandas(pdf, npartitions=4), labels=labels)
    assert "column 'y_true', row 3211: true label 'class q' is not a known class" in str(e.value)
    assert "add it to `labels=`" in str(e.value)
    with pytest.raises(InputError) as ref:
        pv.load_predictions(pdf, labels=labels)
    assert _message(e) == _message(ref)


def test_fewer_than_two_rows(client):
    one = dd.from_pandas(pd.DataFrame({"y_true": ["a"], "y_pred": ["a"]}), npartitions=1)
    with pytest.raises(InputError, match="only 1 data row"):
        count_dask(one)
    # two rows of one cell are enough
    two = dd.from_pandas(pd.DataFrame({"y_true": ["a", "a"], "y_pred": ["a", "a"]}), npartitions=2)
    counted = count_dask(two)
    assert counted.classes == ("a",) and counted.n_samples == 2 and counted.n_cells == 1


def test_empty_csv_file(client, tmp_path):
    path = tmp_path / "empty.csv"
    path.write_text("")
    with pytest.raises(InputError, match="file is empty"):
        count_dask_file(path)
    path.write_text("y_true,y_pred\n")
    with pytest.raises(InputError, match="no data rows"):
        count_dask_file(path)
