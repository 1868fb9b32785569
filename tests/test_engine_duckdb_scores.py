"""The DuckDB engine ranks the score columns out of core for the ROC AUCs
(prevalens.counted.CountedRanks): each class's AUC, DeLong's S10 and S01 and the covariance of the
AUCs equal the in-memory ranking (prevalens.ranking.ovr_pass) and scikit-learn; the audit of the
counted file reports the same per-class, macro and weighted ROC AUCs as the in-memory audit, its
label metrics bit for bit, and leaves out what needs every row's scores; a score cell the loader
refuses is refused at the same column and row."""

from __future__ import annotations

import json
import math
import re
import warnings

import numpy as np
import pandas as pd
import pytest
from jsonschema import Draft202012Validator
from sklearn.metrics import average_precision_score, roc_auc_score

import prevalens
from prevalens import metrics as M
from prevalens.audit import audit_predictions
from prevalens.counted import CountedPredictions, CountedRanks
from prevalens.exceptions import ConfigError, InputError
from prevalens.ranking import ovr_pass

pytest.importorskip("duckdb")
from test_engine_duckdb import _write  # noqa: E402

from prevalens.engines.duckdb import count_file  # noqa: E402

EPOCH = "1795564800"
K = 5
N = 4000
#: the label metrics of a class, of the averages and overall (identical with or without scores)
LABEL_OVERALL = ("accuracy", "balanced_accuracy", "cohen_kappa", "mcc")
#: what the in-memory audit reports from the rows' scores and a counted audit leaves out
ROW_SCORE_OVERALL = ("roc_auc_ovo",)
COUNTED_OVERALL = ("top_3_accuracy", "log_loss", "brier")


@pytest.fixture(autouse=True)
def _epoch(monkeypatch):
    monkeypatch.setenv("SOURCE_DATE_EPOCH", EPOCH)


def _scored_frame(seed=11):
    """N rows, K text classes (with spaces, so the score columns need quoting): classes 0-2
    common, class 3 with exactly 5 positives, class 4 with exactly 1; scores are a softmax rounded
    to 2 decimals (many ties), their columns in the file in reverse class order, y_pred the
    argmax."""
    rng = np.random.default_rng(seed)
    yt = rng.choice(3, N, p=[0.5, 0.3, 0.2])
    rare = rng.choice(N, 6, replace=False)
    yt[rare[:5]] = 3
    yt[rare[5]] = 4
    logits = rng.normal(size=(N, K))
    logits[np.arange(N), yt] += 1.0
    s = np.exp(logits)
    s = np.round(s / s.sum(axis=1, keepdims=True), 2)
    names = np.array([f"class {j}" for j in range(K)], dtype=object)
    frame = pd.DataFrame(
        {"y_true": names[yt], "y_pred": names[s.argmax(axis=1)], "other": rng.random(N)}
    )
    for j in reversed(range(K)):
        frame[f"score_class {j}"] = s[:, j]
    return frame


@pytest.fixture(scope="module")
def scored_files(tmp_path_factory):
    directory = tmp_path_factory.mktemp("scored")
    frame = _scored_frame()
    return {kind: _write(frame, directory, kind) for kind in ("parquet", "csv")}


@pytest.fixture(scope="module", params=["parquet", "csv"])
def scored(request, scored_files):
    """(path, counted, in-memory predictions) of the generated file, each format."""
    path = scored_files[request.param]
    return path, count_file(path), prevalens.load_predictions(path)


def _audit(pred, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return audit_predictions(pred, n_resamples=200, seed=3, **kw)


@pytest.fixture(scope="module")
def audits(scored):
    """The counted and the in-memory audit of the same file (SOURCE_DATE_EPOCH fixed)."""
    _, counted, rows = scored
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("SOURCE_DATE_EPOCH", EPOCH)
        return _audit(counted), _audit(rows)


def _eye_pass(rows):
    return ovr_pass(rows.y_true, rows.y_score, combo_weights=np.eye(len(rows.classes)))


def _close(a, b, tol=1e-12):
    """Equal within tol, NaN where the other is NaN."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    assert a.shape == b.shape
    assert np.array_equal(np.isnan(a), np.isnan(b)), (a, b)
    ok = ~np.isnan(a)
    assert np.all(np.abs(a[ok] - b[ok]) <= tol), (a, b)


def _same_float(a, b):
    return (math.isnan(a) and math.isnan(b)) or a == b


def _identical(x, y, where):
    """Two Estimates with the same estimate, interval, se and method, bit for bit."""
    for attr in ("estimate", "ci_low", "ci_high", "se"):
        assert _same_float(getattr(x, attr), getattr(y, attr)), (where, attr, x, y)
    assert x.method == y.method and x.status == y.status, (where, x, y)


def _auc_alike(x, y, where):
    """Two ROC AUC Estimates: the same numbers within 1e-12 and the same method."""
    for attr in ("estimate", "ci_low", "ci_high"):
        _close(getattr(x, attr), getattr(y, attr))
    assert x.method == y.method, (where, x.method, y.method)
    assert x.status == y.status, (where, x, y)


def _ranks_equal_ovr_pass(ranks, rows):
    ref = _eye_pass(rows)
    assert isinstance(ranks, CountedRanks)
    assert np.array_equal(ranks.n_pos, np.bincount(rows.y_true, minlength=len(rows.classes)))
    assert np.array_equal(ranks.n_pos, ref.n_pos)
    _close(ranks.auc, ref.auc)
    _close(ranks.s10, ref.delong_s10)
    _close(ranks.s01, ref.delong_s01)
    scale = np.abs(ref.combo_cov).max()
    assert scale > 0
    assert np.abs(ranks.cov - ref.combo_cov).max() <= 1e-12 * scale
    defined = ~np.isnan(ref.auc)
    assert np.all(np.abs(np.diag(ranks.cov)[defined] - ref.delong_var[defined]) <= 1e-12 * scale)
    assert np.array_equal(np.isnan(ref.delong_var), ~defined)
    assert np.allclose(ranks.cov, ranks.cov.T, rtol=0, atol=1e-15 * scale)
    # average precision: the value, its exact stratified jackknife SE and effective df
    _close(ranks.ap, ref.average_precision)
    _close(ranks.ap_se, ref.ap_se)
    _close(ranks.ap_df, ref.ap_df, tol=1e-9 * np.nanmax(ref.ap_df))


# -- the ranks -----------------------------------------------------------------------------------


def test_the_generated_file_has_ties_and_rare_classes(scored):
    """What the statistics tests rely on: ties in every score column, 5 and 1 positives."""
    _, counted, rows = scored
    assert np.array_equal(np.bincount(rows.y_true, minlength=K)[3:], [5, 1])
    for j in range(K):
        assert np.unique(rows.y_score[:, j]).size < 120  # 2 decimals: at most 101 values
    assert counted.y_score is None and counted.has_scores
    assert counted.classes == rows.classes
    assert counted.scores_are_probabilities == rows.scores_are_probabilities
    assert counted.columns == rows.columns  # the score column of each class, by name
    assert np.array_equal(counted.count_matrix(), rows.count_matrix())


def test_ranks_equal_the_in_memory_ranking(scored):
    """AUC, S10, S01 (NaN in the same places: S10 of the class with one positive) and the
    DeLong covariance equal prevalens.ranking.ovr_pass to 1e-12."""
    _, counted, rows = scored
    assert isinstance(counted, CountedPredictions) and counted.engine == "duckdb"
    _ranks_equal_ovr_pass(counted.ranks, rows)
    assert np.isnan(counted.ranks.s10[4]) and not np.isnan(counted.ranks.s01[4])


def test_per_class_auc_and_ap_equal_scikit_learn(scored):
    _, counted, rows = scored
    for j in range(K):
        expected = roc_auc_score(rows.y_true == j, rows.y_score[:, j])
        assert abs(counted.ranks.auc[j] - expected) <= 1e-12, j
        expected = average_precision_score(rows.y_true == j, rows.y_score[:, j])
        assert abs(counted.ranks.ap[j] - expected) <= 1e-12, j


def test_ranks_are_exact_on_a_dataset_directory_with_small_row_groups(tmp_path):
    """Row order matters (each row's DeLong components of the K classes are multiplied): a
    directory of Parquet files written in small row groups, counted on several threads."""
    frame = _scored_frame(seed=4).drop(columns="other")
    whole = _write(frame, tmp_path, "parquet")
    dataset = tmp_path / "dataset"
    (dataset / "sub").mkdir(parents=True)
    parts = np.array_split(np.arange(len(frame)), 3)
    frame.iloc[parts[0]].to_parquet(dataset / "a.parquet", index=False, row_group_size=300)
    frame.iloc[parts[1]].to_parquet(dataset / "sub" / "b.parquet", index=False, row_group_size=300)
    frame.iloc[parts[2]].to_parquet(dataset / "sub" / "c.parquet", index=False, row_group_size=300)
    rows = prevalens.load_predictions(whole)
    _ranks_equal_ovr_pass(count_file(dataset, threads=4).ranks, rows)


def test_ties_between_zero_and_negative_zero_and_integer_scores(tmp_path):
    """-0.0 is not negative and ties with 0.0; integer and float32 score columns rank as the
    loader reads them."""
    rng = np.random.default_rng(8)
    n = 3000
    yt = rng.integers(0, 3, n)
    s0 = np.round(rng.random(n) + 0.3 * (yt == 0), 1)
    s0[rng.random(n) < 0.2] = -0.0
    s0[rng.random(n) < 0.2] = 0.0
    frame = pd.DataFrame(
        {
            "y_true": yt,
            "y_pred": rng.integers(0, 3, n),
            "score_0": s0,
            "score_1": (rng.integers(0, 4, n) + (yt == 1)).astype(np.int32),
            "score_2": (rng.random(n) + 0.2 * (yt == 2)).astype(np.float32),
        }
    )
    for kind in ("parquet", "csv"):
        path = _write(frame, tmp_path, kind)
        rows = prevalens.load_predictions(path)
        counted = count_file(path)
        _ranks_equal_ovr_pass(counted.ranks, rows)
        for j in range(3):
            assert abs(counted.ranks.auc[j] - roc_auc_score(yt == j, rows.y_score[:, j])) <= 1e-12


# -- the audit -----------------------------------------------------------------------------------


def test_label_metrics_equal_the_in_memory_audit_bit_for_bit(audits):
    counted, rows = audits
    assert [c.label for c in counted.per_class] == [c.label for c in rows.per_class]
    for a, b in zip(counted.per_class, rows.per_class):
        assert (a.support, a.predicted, a.prevalence) == (b.support, b.predicted, b.prevalence)
        for name in M.PER_CLASS_METRICS:
            _identical(a.metrics[name], b.metrics[name], (a.label, name))
    for avg in ("micro", "macro", "weighted"):
        for name in M.AVERAGED_METRICS:
            _identical(counted.averages[avg][name], rows.averages[avg][name], (avg, name))
    for name in LABEL_OVERALL:
        _identical(counted.overall[name], rows.overall[name], name)


def test_roc_aucs_equal_the_in_memory_audit(audits):
    """Per class (HM-S interval) and macro, weighted (DeLong logit, full covariance): the same
    estimates and intervals within 1e-12, the same method."""
    counted, rows = audits
    for a, b in zip(counted.per_class, rows.per_class):
        _auc_alike(a.metrics["roc_auc"], b.metrics["roc_auc"], a.label)
        assert not math.isnan(a.metrics["roc_auc"].ci_low)
    for avg in ("macro", "weighted"):
        x, y = counted.averages[avg]["roc_auc"], rows.averages[avg]["roc_auc"]
        _auc_alike(x, y, avg)
        assert x.method.startswith("delong-logit") and "full covariance" in x.method
        assert abs(x.se - y.se) <= 1e-12


def test_what_needs_every_rows_scores_is_left_out_and_said_so(audits):
    counted, rows = audits
    for a, b in zip(counted.per_class, rows.per_class):
        assert set(a.metrics) == set(b.metrics)
    for name in ("roc_auc", "average_precision"):
        micro = counted.averages["micro"][name]
        assert micro.status == "ok" and not math.isnan(micro.ci_low)
    for name in ROW_SCORE_OVERALL:
        assert name in rows.overall and name not in counted.overall
    for name in COUNTED_OVERALL:
        assert name in rows.overall and name in counted.overall
    kinds = [note.kind for note in counted.notes]
    assert kinds.count("scores-counted") == 1
    assert "scores-counted" not in [note.kind for note in rows.notes]
    assert counted.curves is None and counted.calibration is None


def test_the_counted_audit_validates_against_the_schema(audits):
    counted, _ = audits
    d = json.loads(counted.to_json())
    Draft202012Validator(prevalens.load_schema()).validate(d)
    assert "roc_auc_ovo" not in d["overall"]
    assert all(c["metrics"]["roc_auc"]["estimate"] is not None for c in d["per_class"])
    # and reads back
    back = prevalens.AuditResult.from_dict(d)
    assert back.averages["micro"]["roc_auc"] == counted.averages["micro"]["roc_auc"]
    for c, e in zip(back.per_class, counted.per_class):
        assert c.metrics["roc_auc"].estimate == e.metrics["roc_auc"].estimate


def test_a_class_absent_from_y_true_with_a_score_column(tmp_path):
    """labels= names a class no row is of, with its score column: its AUC is NaN (no
    positives), its rows and columns of the covariance 0; the audit reports it undefined, as in
    memory, and the other numbers as in memory."""
    rng = np.random.default_rng(3)
    n = 2000
    yt = rng.integers(0, 3, n)
    s = rng.dirichlet(np.ones(4), n)  # rows sum to 1: probabilities
    s[np.arange(n), yt] += 0.2
    s /= s.sum(axis=1, keepdims=True)
    names = np.array(list("abcd"), dtype=object)
    frame = pd.DataFrame({"y_true": names[yt], "y_pred": names[s.argmax(axis=1)]})
    for j in range(4):
        frame[f"score_{names[j]}"] = s[:, j]
    path = _write(frame, tmp_path, "parquet")
    labels = list("abcd")
    rows = prevalens.load_predictions(path, labels=labels)
    counted = count_file(path, labels=labels)
    assert counted.classes == rows.classes == tuple(labels)
    assert counted.scores_are_probabilities and rows.scores_are_probabilities
    ranks = counted.ranks
    assert ranks.n_pos[3] == 0 and np.isnan(ranks.auc[3])
    assert np.isnan(ranks.s10[3]) and np.isnan(ranks.s01[3])
    assert not ranks.cov[3].any() and not ranks.cov[:, 3].any()
    ref = _eye_pass(rows)
    _close(ranks.auc, ref.auc)
    assert np.abs(ranks.cov - ref.combo_cov).max() <= 1e-12 * np.abs(ref.combo_cov).max()
    a, b = _audit(counted), _audit(rows)
    assert a.per_class[3].metrics["roc_auc"].status == "undefined"
    for x, y in zip(a.per_class, b.per_class):
        _auc_alike(x.metrics["roc_auc"], y.metrics["roc_auc"], x.label)
        assert x.metrics["roc_auc"].note == y.metrics["roc_auc"].note
        for name in M.PER_CLASS_METRICS:
            _identical(x.metrics[name], y.metrics[name], (x.label, name))
    for avg in ("macro", "weighted"):
        _auc_alike(a.averages[avg]["roc_auc"], b.averages[avg]["roc_auc"], avg)
    Draft202012Validator(prevalens.load_schema()).validate(json.loads(a.to_json()))


# -- refusals ------------------------------------------------------------------------------------

_GOOD = "a,a,0.8,0.2\nb,b,0.3,0.7\na,b,0.4,0.6\nb,a,0.6,0.4\n"


def _csv(tmp_path, extra, name="s.csv", header="y_true,y_pred,score_a,score_b"):
    """8 good rows, then ``extra`` (data rows 9 and on)."""
    path = tmp_path / name
    path.write_text(f"{header}\n{_GOOD}{_GOOD}{extra}")
    return path


def _parquet(tmp_path, score_a, score_b=None, name="s.parquet"):
    import pyarrow as pa
    import pyarrow.parquet as pq

    n = len(score_a)
    table = pa.table(
        {
            "y_true": ["a", "b"] * (n // 2),
            "y_pred": ["a", "b", "b", "a"] * (n // 4),
            "score_a": score_a,
            "score_b": score_b if score_b is not None else pa.array([0.5] * n),
        }
    )
    path = tmp_path / name
    pq.write_table(table, path)
    return path


def _refusals(path, **kw):
    """The loader's message (without the file line it adds in a CSV) and the engine's."""
    with pytest.raises(InputError) as memory:
        prevalens.load_predictions(path, **kw)
    with pytest.raises(InputError) as duck:
        count_file(path, **kw)
    return re.sub(r" \(line \d+\)", "", str(memory.value)), str(duck.value)


@pytest.mark.parametrize(
    ("case", "column", "row", "what"),
    [
        ("csv_empty", "score_b", 10, "score is missing (empty cell)"),
        ("csv_abc", "score_a", 10, "score 'abc' is not a finite number"),
        ("csv_underscore", "score_b", 9, "score '1_000' is not a finite number"),
        ("csv_hex", "score_a", 11, "score '0x10' is not a finite number"),
        ("csv_negative", "score_b", 10, "score -0.25 is negative"),
        ("csv_two_cells_one_row", "score_a", 10, "score 'x' is not a finite number"),
        ("csv_missing_after_negative", "score_b", 11, "score is missing (empty cell)"),
        ("csv_blank_lines", "score_b", 10, "score is missing (empty cell)"),
        ("parquet_nan", "score_a", 7, "score nan is not a finite number"),
        ("parquet_null", "score_a", 3, "score nan is not a finite number"),
        ("parquet_negative", "score_b", 5, "score -1.5 is negative"),
    ],
)
def test_an_offending_score_is_refused_at_its_column_and_row(tmp_path, case, column, row, what):
    """The loader's own message, one line: the first offending cell in row order (then the
    file's column order; a missing or non-finite one before a negative one, as the loader)."""
    nan = float("nan")
    if case == "csv_empty":
        path = _csv(tmp_path, "a,a,0.5,0.5\nb,b,0.5,\na,a,,0.4\n")
    elif case == "csv_abc":
        path = _csv(tmp_path, "a,a,0.5,0.5\nb,b,abc,0.5\n")
    elif case == "csv_underscore":
        path = _csv(tmp_path, "b,b,0.5,1_000\n")
    elif case == "csv_hex":
        path = _csv(tmp_path, "a,a,0.5,0.5\na,a,+.5,1e-3\nb,b,0x10,0.5\n")
    elif case == "csv_negative":
        path = _csv(tmp_path, "a,a,0.5,0.5\nb,b,0.5,-0.25\n")
    elif case == "csv_two_cells_one_row":
        path = _csv(tmp_path, "a,a,0.5,0.5\nb,b,x,\n")
    elif case == "csv_missing_after_negative":
        path = _csv(tmp_path, "a,a,0.5,0.5\nb,b,-1,0.5\na,a,0.5,\n")
    elif case == "csv_blank_lines":
        path = _csv(tmp_path, 'a,a,0.5,0.5\n\n\n"b",b,0.5,\n')
    elif case == "parquet_nan":
        path = _parquet(tmp_path, [0.5] * 6 + [nan] + [0.5] * 5)
    elif case == "parquet_null":
        path = _parquet(tmp_path, [0.5, 0.5, None, 0.5, -1.0, 0.5, 0.5, 0.5])
    else:
        path = _parquet(tmp_path, [0.5] * 8, [0.5] * 4 + [-1.5] + [0.5] * 3)
    memory, duck = _refusals(path)
    assert duck == memory
    assert duck.startswith(f"{path}: column '{column}', row {row}: {what}")
    assert "\n" not in duck


def test_an_infinite_score_in_a_csv_is_refused_at_its_column_and_row(tmp_path):
    for text in ("inf", "-Infinity", "1e400"):
        path = _csv(tmp_path, f"a,a,0.5,0.5\nb,b,0.5,{text}\n")
        memory, duck = _refusals(path)
        prefix = f"{path}: column 'score_b', row 10: score "
        assert memory.startswith(prefix) and duck.startswith(prefix)
        assert "is not a finite number" in duck and "\n" not in duck


@pytest.mark.parametrize("text", ["1_000", "0x10", "1e", "1,5", " ", "٣", "nan", "NA"])
def test_csv_score_text_that_is_not_a_decimal_number_is_refused(tmp_path, text):
    """What DuckDB's own cast accepts and pandas does not ("1_000", "0x10") is refused; the
    loader refuses all of these as well."""
    path = _csv(tmp_path, f'a,a,0.5,0.5\nb,b,"{text}",0.5\n')
    memory, duck = _refusals(path)
    assert duck == memory
    assert duck.startswith(f"{path}: column 'score_a', row 10: score ")


def test_csv_score_text_the_loader_reads_is_read(tmp_path):
    path = _csv(tmp_path, "a,a, 0.5 ,+.5\nb,b,1E-2,5.\na,b,-0,0\nb,b,3,1e-400\n")
    rows = prevalens.load_predictions(path)
    counted = count_file(path)
    _ranks_equal_ovr_pass(counted.ranks, rows)


def test_a_string_or_boolean_typed_parquet_score_column_is_refused(tmp_path):
    import pyarrow as pa

    for values, stored in ((pa.array(["0.5"] * 8), "VARCHAR"), (pa.array([True] * 8), "BOOLEAN")):
        path = _parquet(tmp_path, pa.array([0.5] * 8), values)
        with pytest.raises(InputError) as info:
            count_file(path)
        message = str(info.value)
        assert message.startswith(f"{path}: score column 'score_b' is stored as {stored}")
        assert "\n" not in message


def _agree(counted, rows):
    """A counted audit and the in-memory one: label metrics bit for bit, ROC AUCs within 1e-12
    with the same methods."""
    for a, b in zip(counted.per_class, rows.per_class):
        for name in M.PER_CLASS_METRICS:
            _identical(a.metrics[name], b.metrics[name], (a.label, name))
        _auc_alike(a.metrics["roc_auc"], b.metrics["roc_auc"], a.label)
        _auc_alike(a.metrics["average_precision"], b.metrics["average_precision"], a.label)
    for avg in ("micro", "macro", "weighted"):
        for name in M.AVERAGED_METRICS:
            _identical(counted.averages[avg][name], rows.averages[avg][name], (avg, name))
    for avg in ("macro", "weighted"):
        for name in ("roc_auc", "average_precision"):
            _auc_alike(counted.averages[avg][name], rows.averages[avg][name], (avg, name))
    for name in LABEL_OVERALL:
        _identical(counted.overall[name], rows.overall[name], name)


def _clustered_frame(seed=5, n=3000, clusters=300, decimals=2):
    """Rows in clusters of unequal size sharing a score shift (so that clustering matters),
    cluster ids first seen out of sorted order; scores rounded to ``decimals`` (None: not
    rounded, probabilities)."""
    rng = np.random.default_rng(seed)
    pid = rng.permutation(clusters)[rng.integers(0, clusters, n) ** 2 // clusters]
    yt = rng.choice(K, n, p=[0.45, 0.3, 0.15, 0.07, 0.03])
    logits = rng.normal(size=(n, K))
    logits[np.arange(n), yt] += 1.0 + rng.normal(size=clusters)[pid]
    s = np.exp(logits)
    s = s / s.sum(axis=1, keepdims=True)
    if decimals is not None:
        s = np.round(s, decimals)
    frame = pd.DataFrame({"y_true": [f"c{j}" for j in yt], "pid": pid})
    for j in range(K):
        frame[f"score_c{j}"] = s[:, j]
    frame["y_pred"] = [f"c{j}" for j in s.argmax(axis=1)]
    return frame


@pytest.mark.parametrize("kind", ["parquet", "csv"])
def test_clustered_scores_equal_the_in_memory_audit(tmp_path, kind):
    """With a cluster column: the cluster-robust (Obuchowski) covariance of the AUCs equals
    ovr_pass's with the same clusters, and the audit (cluster bootstrap, clustered AUC
    intervals with t(clusters - 1)) equals the in-memory one."""
    path = _write(_clustered_frame(), tmp_path, kind)
    counted = count_file(path, cluster="pid")
    rows = prevalens.load_predictions(path, cluster="pid")
    assert counted.n_clusters == rows.n_clusters > 200
    k = len(rows.classes)
    ref = ovr_pass(rows.y_true, rows.y_score, combo_weights=np.eye(k), cluster=rows.cluster)
    scale = np.abs(ref.combo_cov).max()
    assert np.abs(counted.ranks.cov - ref.combo_cov).max() <= 1e-12 * scale
    _close(np.diag(counted.ranks.cov), ref.delong_var)
    # clustering matters here: the robust variances differ from the rows-as-independent ones
    plain = _eye_pass(rows)
    assert np.all(np.diag(ref.combo_cov) > 1.2 * np.diag(plain.combo_cov))
    a, b = _audit(counted), _audit(rows)
    _agree(a, b)
    assert "clustered (Obuchowski 1997)" in a.averages["macro"]["roc_auc"].method
    assert a.per_class[0].metrics["roc_auc"].method.startswith("delong-logit (t, df=")


@pytest.mark.parametrize("kind", ["csv", "parquet"])
def test_score_columns_that_do_not_match_the_classes_are_refused_as_the_loader_does(tmp_path, kind):
    frame = pd.read_csv(_csv(tmp_path, ""))
    # a class of labels= without a score column
    path = _write(frame, tmp_path, kind, "missing")
    memory, duck = _refusals(path, labels=["a", "b", "c"])
    expected = f"{path}: no score column for class 'c'; add column 'score_c' or drop every score"
    assert duck == memory == f"{expected} column"
    # a score column for a class not in labels=
    extra = frame.assign(score_c=0.0)
    path = _write(extra, tmp_path, kind, "extra")
    memory, duck = _refusals(path, labels=["a", "b"])
    assert duck == memory
    assert duck.startswith(f"{path}: score column 'score_c' is for class 'c', which is not in")
    # a class of the labels without a score column
    path = _write(frame.drop(columns="score_b"), tmp_path, kind, "short")
    memory, duck = _refusals(path)
    assert duck == memory and "no score column for class 'b'" in duck
    # two score columns for one class
    two = pd.DataFrame(
        {"y_true": [1, 2, 1, 2], "y_pred": [1, 2, 2, 1], "score_1": 0.5, "score_01": 0.5}
    ).assign(score_2=0.5)
    path = _write(two, tmp_path, kind, "two")
    memory, duck = _refusals(path)
    assert duck == memory and "two score columns name class 1" in duck


@pytest.mark.parametrize("kind", ["parquet", "csv"])
def test_predictions_are_the_argmax_of_the_scores(tmp_path, kind):
    """Without a y_pred column the predictions are the scores' argmax, ties to the first class
    in class order (np.argmax), with clusters too; with neither predictions nor scores the file
    is refused."""
    frame = _clustered_frame().drop(columns="y_pred")
    # ties for the top score, the tied columns in the file out of class order
    frame.loc[:199, ["score_c3", "score_c1"]] = 0.4
    frame.loc[:199, ["score_c0", "score_c2", "score_c4"]] = 0.2 / 3
    frame = frame[["y_true", "pid", *[f"score_c{j}" for j in (4, 3, 2, 1, 0)]]]
    path = _write(frame, tmp_path, kind)
    for options in ({}, {"cluster": "pid"}):
        counted = count_file(path, **options)
        rows = prevalens.load_predictions(path, **options)
        assert counted.pred_source == rows.pred_source == "argmax"
        assert counted.columns["y_pred"] is None
        assert np.array_equal(counted.counts().matrix, rows.counts().matrix)
        assert rows.y_pred[:200].tolist() == [1] * 200
        _agree(_audit(counted), _audit(rows))
    path = tmp_path / "nothing.csv"
    path.write_text("y_true,other\na,1\nb,2\n")
    with pytest.raises(InputError, match=r"no predictions: column 'y_pred' is missing") as info:
        count_file(path)
    assert "\n" not in str(info.value)


# -- the command line ----------------------------------------------------------------------------


def test_cli_engine_duckdb_audits_a_scored_parquet_file(cli, tmp_path, scored_files):
    path = scored_files["parquet"]
    common = ("--seed", "3", "--n-resamples", "200", "--format", "json", "--quiet")
    run = cli("audit", str(path), "--engine", "duckdb", "--out-dir", "duck", *common, cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    d = json.loads((tmp_path / "duck" / "results.json").read_text())
    Draft202012Validator(prevalens.load_schema()).validate(d)
    rows = prevalens.load_predictions(path)
    for j, c in enumerate(d["per_class"]):
        assert c["label"] == rows.classes[j]
        expected = roc_auc_score(rows.y_true == j, rows.y_score[:, j])
        assert abs(c["metrics"]["roc_auc"]["estimate"] - expected) <= 1e-12
        assert c["metrics"]["roc_auc"]["ci_low"] is not None
        expected = average_precision_score(rows.y_true == j, rows.y_score[:, j])
        assert abs(c["metrics"]["average_precision"]["estimate"] - expected) <= 1e-12
    assert d["averages"]["micro"]["roc_auc"]["status"] == "ok"
    assert "scores-counted" in [n["kind"] for n in d["notes"]]
    # the in-memory engine: the same per-class and averaged ROC AUCs
    run = cli("audit", str(path), "--engine", "memory", "--out-dir", "mem", *common, cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    m = json.loads((tmp_path / "mem" / "results.json").read_text())
    for a, b in zip(d["per_class"], m["per_class"]):
        for key in ("estimate", "ci_low", "ci_high"):
            assert abs(a["metrics"]["roc_auc"][key] - b["metrics"]["roc_auc"][key]) <= 1e-12
        assert a["metrics"]["recall"] == b["metrics"]["recall"]
    for avg in ("macro", "weighted"):
        for key in ("estimate", "ci_low", "ci_high"):
            x, y = d["averages"][avg]["roc_auc"][key], m["averages"][avg]["roc_auc"][key]
            assert abs(x - y) <= 1e-12


def test_cli_engine_duckdb_audits_clustered_scores_as_in_memory(cli, tmp_path):
    path = _write(_clustered_frame(), tmp_path, "parquet")
    common = ("--cluster", "pid", "--seed", "3", "--n-resamples", "100", "--format", "json")
    out = {}
    for engine in ("duckdb", "memory"):
        run = cli(
            "audit", str(path), "--engine", engine, "--out-dir", engine, *common, "--quiet",
            cwd=tmp_path,
        )  # fmt: skip
        assert run.returncode == 0, run.stderr
        out[engine] = json.loads((tmp_path / engine / "results.json").read_text())
    d, m = out["duckdb"], out["memory"]
    for a, b in zip(d["per_class"], m["per_class"]):
        assert a["metrics"]["recall"] == b["metrics"]["recall"]
        for key in ("estimate", "ci_low", "ci_high"):
            assert abs(a["metrics"]["roc_auc"][key] - b["metrics"]["roc_auc"][key]) <= 1e-12


def test_renormalize_scores_is_refused_on_counted_ranks(scored):
    """The engine ranks the scores as stored: renormalising rows (which changes each class's
    ranking) is refused, not silently skipped."""
    _, counted, _ = scored
    with pytest.raises(ConfigError, match=r"renormalize_scores: the duckdb engine .* as stored"):
        prevalens.audit_predictions(counted, n_resamples=0, seed=1, renormalize_scores=True)


# -- the per-sample score metrics and the checks of the scores ------------------------------------


def _overall_alike(counted, rows):
    """Top-k accuracy identical; log loss and Brier within 1e-12, the same method and note."""
    for name in COUNTED_OVERALL:
        x, y = counted.overall[name], rows.overall[name]
        if name.startswith("top_"):
            _identical(x, y, name)
            continue
        for attr in ("estimate", "ci_low", "ci_high", "se"):
            _close(getattr(x, attr), getattr(y, attr))
        assert (x.method, x.note, x.status) == (y.method, y.note, y.status), (name, x, y)


@pytest.mark.parametrize("clustered", [False, True])
def test_losses_and_top_k_equal_the_in_memory_analytic_intervals(tmp_path, clustered):
    """Log loss and Brier with the t intervals (cluster-robust with clusters) and top-k accuracy
    with Wilson's, as the in-memory audit gives them when its bootstrap over samples is too
    large (score_bootstrap_max_work=0 here)."""
    options = {"cluster": "pid"} if clustered else {}
    path = _write(_clustered_frame(decimals=None), tmp_path, "parquet")
    counted, rows = count_file(path, **options), prevalens.load_predictions(path, **options)
    assert counted.scores_are_probabilities
    a = _audit(counted, score_bootstrap_max_work=0)
    b = _audit(rows, score_bootstrap_max_work=0)
    _overall_alike(a, b)
    assert "cluster-robust" in a.overall["log_loss"].method if clustered else True
    # and against scikit-learn's definitions
    from sklearn.metrics import log_loss, top_k_accuracy_score

    y = rows.y_true
    assert abs(a.overall["log_loss"].estimate - log_loss(y, rows.y_score, labels=range(K))) < 1e-12
    top3 = top_k_accuracy_score(y, rows.y_score, k=3, labels=range(K))
    assert a.overall["top_3_accuracy"].estimate == top3


def test_the_checks_of_the_scores_are_the_in_memory_ones(tmp_path):
    """Scores that disagree with y_pred, hard scores, rows off 1 within the tolerance and true
    classes given probability 0: the same notes (and warnings) as the in-memory checks."""
    frame = _clustered_frame(decimals=None)
    scores = [f"score_c{j}" for j in range(K)]
    rng = np.random.default_rng(2)
    # y_pred off the argmax in a fifth of the rows
    off = rng.random(len(frame)) < 0.2
    frame.loc[off, "y_pred"] = "c4"
    # rows off 1 by up to 0.004 (accepted, and said), one true class with probability 0
    frame.loc[:9, "score_c0"] += 0.004
    frame.loc[20, scores] = [0.0, 1.0, 0.0, 0.0, 0.0]
    frame.loc[20, "y_true"] = "c0"
    path = _write(frame, tmp_path, "parquet")
    counted, rows = count_file(path), prevalens.load_predictions(path)
    a = _audit(counted, score_bootstrap_max_work=0)
    b = _audit(rows, score_bootstrap_max_work=0)
    notes_a = {n.kind: n.text for n in a.notes if n.kind != "scores-counted"}
    notes_b = {n.kind: n.text for n in b.notes}
    expected = {k: v for k, v in notes_b.items() if k in notes_a}
    assert notes_a == expected
    assert {"scores-disagree", "probabilities-within-tolerance"} <= set(notes_a) or len(
        notes_a
    ) >= 3
    _overall_alike(a, b)
    # hard scores: one-hot rows
    hard = frame.copy()
    onehot = np.eye(K)[hard["y_pred"].str[1:].astype(int)]
    hard[scores] = onehot
    path = _write(hard, tmp_path, "parquet", "hard")
    a = _audit(count_file(path), score_bootstrap_max_work=0)
    b = _audit(prevalens.load_predictions(path), score_bootstrap_max_work=0)
    notes_a = {n.kind: n.text for n in a.notes if n.kind != "scores-counted"}
    notes_b = {n.kind: n.text for n in b.notes}
    assert notes_a == {k: v for k, v in notes_b.items() if k in notes_a}
    assert any("hard" in k for k in notes_a), notes_a
    assert a.overall["brier"].note == b.overall["brier"].note


def test_scores_that_are_not_probabilities_give_no_losses(tmp_path):
    frame = _clustered_frame()
    frame["score_c0"] *= 3.0
    path = _write(frame, tmp_path, "csv")
    counted, rows = count_file(path), prevalens.load_predictions(path)
    assert not counted.scores_are_probabilities and not rows.scores_are_probabilities
    a = _audit(counted, score_bootstrap_max_work=0)
    b = _audit(rows, score_bootstrap_max_work=0)
    for name in ("log_loss", "brier"):
        assert a.overall[name] == b.overall[name]
        assert a.overall[name].note.startswith("not computed: scores are not probabilities")


def test_average_precision_equals_the_in_memory_audit(audits):
    """Per class (the exact jackknife SE on the logit scale), macro and weighted (influence
    values combined): the same intervals within 1e-12, the same methods, statuses and notes."""
    counted, rows = audits
    for a, b in zip(counted.per_class, rows.per_class):
        x, y = a.metrics["average_precision"], b.metrics["average_precision"]
        _auc_alike(x, y, a.label)
        assert x.note == y.note
    for avg in ("macro", "weighted"):
        x, y = counted.averages[avg]["average_precision"], rows.averages[avg]["average_precision"]
        _auc_alike(x, y, avg)
        assert x.note == y.note and abs(x.se - y.se) <= 1e-12


@pytest.mark.parametrize("resampling", ["stratified", "simple"])
def test_weighted_average_precision_with_free_weights(tmp_path, resampling):
    """Under the simple scheme (and with clusters) the weighted AP's influence values include
    the variation of the class weights, as in memory."""
    path = _write(_clustered_frame(), tmp_path, "parquet")
    a = _audit(count_file(path), resampling=resampling)
    b = _audit(prevalens.load_predictions(path), resampling=resampling)
    x, y = a.averages["weighted"]["average_precision"], b.averages["weighted"]["average_precision"]
    _auc_alike(x, y, resampling)
    assert abs(x.se - y.se) <= 1e-12


@pytest.mark.parametrize("clustered", [False, True])
def test_micro_auc_and_ap_equal_the_in_memory_analytic_intervals(tmp_path, clustered):
    """The pooled n*K problem: micro ROC AUC (DeLong, each row or cluster a cluster of K
    entries) and micro AP (influence values of a row's entries summed), as the in-memory audit
    computes them without the bootstrap over samples (and with every row: at most 50,000 here,
    so its variance takes no subsample either); the macro - micro AUC gap then has no joint
    interval, in both."""
    options = {"cluster": "pid"} if clustered else {}
    path = _write(_clustered_frame(), tmp_path, "csv")
    counted, rows = count_file(path, **options), prevalens.load_predictions(path, **options)
    a = _audit(counted, score_bootstrap_max_work=0)
    b = _audit(rows, score_bootstrap_max_work=0)
    for name in ("roc_auc", "average_precision"):
        x, y = a.averages["micro"][name], b.averages["micro"][name]
        _auc_alike(x, y, name)
        assert x.note == y.note and abs(x.se - y.se) <= 1e-12
    from sklearn.metrics import average_precision_score as aps

    onehot = np.eye(K)[rows.y_true]
    expected = aps(onehot.ravel(), rows.y_score.ravel())
    assert abs(a.averages["micro"]["average_precision"].estimate - expected) <= 1e-12
    expected = roc_auc_score(onehot.ravel(), rows.y_score.ravel())
    assert abs(a.averages["micro"]["roc_auc"].estimate - expected) <= 1e-12
    g, h = a.gap["roc_auc"].macro_minus_micro, b.gap["roc_auc"].macro_minus_micro
    assert abs(g.estimate - h.estimate) <= 1e-12 and g.note == h.note


def test_running_out_of_memory_names_the_limit_not_the_file(tmp_path):
    """DuckDB's out-of-memory error is a limit too small, not an unreadable file."""
    path = _write(_clustered_frame(n=20_000, clusters=2_000, decimals=None), tmp_path, "parquet")
    with pytest.raises(ConfigError, match=r"ran out of memory within its limit of .* --max-memory"):
        count_file(path, max_memory=8_000_000)


def test_one_cluster_gives_no_interval_rather_than_an_error(tmp_path):
    """A single cluster: no cluster-robust interval (and no calibration, whose intervals are by
    cluster), in memory and counted alike, instead of a division by zero."""
    frame = _clustered_frame(decimals=None).assign(pid=1)
    path = _write(frame, tmp_path, "parquet")
    for pred in (count_file(path, cluster="pid"), prevalens.load_predictions(path, cluster="pid")):
        result = _audit(pred, score_bootstrap_max_work=0)
        assert math.isnan(result.overall["log_loss"].ci_low)
        assert result.overall["log_loss"].status == "no_interval"
        assert result.calibration is None
    notes = {n.kind: n.text for n in result.notes}
    assert "single cluster" in notes["calibration-not-computed"]


def test_csv_score_text_with_a_vertical_tab_reads_as_the_loader_reads_it(tmp_path):
    path = tmp_path / "vt.csv"
    path.write_text("y_true,y_pred,score_a,score_b\na,a,\v0.6,0.4\nb,b,0.3,0.7\x0b\na,b,0.5,0.5\n")
    rows = prevalens.load_predictions(path)
    counted = count_file(path)
    np.testing.assert_allclose(
        counted.ranks.auc, roc_auc_score(rows.y_true == 0, rows.y_score[:, 0])
    )
