"""The command line: ``prevalens.cli.main(argv)`` called in this process (fixture ``cli``, see
conftest.py), and a few real subprocesses that show the entry points work as a user runs them:
``python -m prevalens`` auditing a file, rejecting bad input and printing a traceback with
``--debug``, and the installed ``prevalens`` console script. Every run uses ``--n-resamples 0``
to stay fast.

Bad input must give exit code 2, exactly one line on stderr (the library's own message after
"prevalens: error: "), no traceback, and no output file, temporary or not.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sys
import warnings
from pathlib import Path

import pandas as pd
import pytest
from conftest import call_main, run_python_m
from jsonschema import Draft202012Validator

import prevalens
from prevalens import InputError, load_predictions
from prevalens.data import example_path


def _validator():
    return Draft202012Validator(prevalens.load_schema())


def _write(path: Path, content) -> str:
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content, encoding="utf-8")
    return str(path)


def _listing(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir()) if directory.exists() else []


GOOD_CSV = "y_true,y_pred\na,a\nb,b\na,b\nc,c\nb,b\n"
SCORES_CSV = (
    "y_true,y_pred,score_a,score_b\n"
    "a,a,0.8,0.2\nb,b,0.3,0.7\na,b,0.4,0.6\nb,b,0.1,0.9\na,a,0.6,0.4\n"
)


def _parquet_garbage(tmp_path):
    return _write(tmp_path / "preds.parquet", b"PAR1 not really parquet PAR1")


def _directory(tmp_path):
    path = tmp_path / "folder.csv"
    path.mkdir()
    return str(path)


def _csv(text, name="preds.csv"):
    return lambda tmp_path: _write(tmp_path / name, text)


# (id, build the input in tmp_path, extra CLI options, the same options for load_predictions).
# The expected message is what the library raises for the same input: the CLI adds nothing but
# the "prevalens: error: " prefix.
BAD_INPUTS = [
    ("missing-file", lambda t: str(t / "nope.csv"), [], {}),
    ("directory", _directory, [], {}),
    ("empty-file", _csv(""), [], {}),
    (
        "latin-1",
        lambda t: _write(t / "preds.csv", "y_true,y_pred\ncafé,a\nb,b\n".encode("latin-1")),
        [],
        {},
    ),
    ("malformed-csv", _csv('y_true,y_pred\na,a\nb,"b\n'), [], {}),
    ("unreadable-parquet", _parquet_garbage, [], {}),
    ("no-y_true", _csv("label,y_pred\na,a\nb,b\n"), [], {}),
    ("no-predictions", _csv("y_true,other\na,a\nb,b\n"), [], {}),
    ("duplicate-header", _csv("y_true,y_pred,y_true\na,a,a\nb,b,b\n"), [], {}),
    ("header-only", _csv("y_true,y_pred\n"), [], {}),
    ("missing-label", _csv("y_true,y_pred\na,a\n,b\nb,b\n"), [], {}),
    ("float-label", _csv("y_true,y_pred\n1,1\n0.5,1\n"), [], {}),
    (
        "pred-outside-labels",
        _csv("y_true,y_pred\na,a\nb,c\n"),
        ["--labels", "a,b"],
        {"labels": ["a", "b"]},
    ),
    ("score-nan", _csv("y_true,score_a,score_b\na,0.5,0.5\nb,nan,0.5\n"), [], {}),
    ("score-negative", _csv("y_true,score_a,score_b\na,0.5,0.5\nb,-1,2\n"), [], {}),
    (
        "score-unknown-class",
        _csv("y_true,y_pred,score_a,score_b,score_c\na,a,1,0,0\nb,b,0,1,0\n"),
        ["--labels", "a,b"],
        {"labels": ["a", "b"]},
    ),
    (
        "score-missing-class",
        _csv("y_true,y_pred,score_a,score_b\na,a,1,0\nb,b,0,1\n"),
        ["--labels", "a,b,c"],
        {"labels": ["a", "b", "c"]},
    ),
    ("missing-cluster-column", _csv(GOOD_CSV), ["--cluster", "patient"], {"cluster": "patient"}),
]


def _assert_one_line_error(proc, expected_message=None):
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr
    lines = proc.stderr.splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("prevalens: error: ")
    if expected_message is not None:
        assert lines[0] == f"prevalens: error: {expected_message}"
    assert proc.stdout == ""


@pytest.fixture(scope="module")
def earlier_results() -> bytes:
    """The bytes of a results.json from an earlier, successful audit."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", prevalens.PrevalensWarning)
        result = prevalens.audit(["a", "b", "a"], ["a", "b", "b"], n_resamples=0, seed=1)
    return result.to_json().encode("utf-8")


def _bad_input_run(run, tmp_path, earlier_results, case):
    """Row ``case`` of BAD_INPUTS run by ``run`` (in-process or a subprocess): the library's
    message (None if it accepted the input), the CLI's run and its --out-dir. Every other row
    writes into an out dir that already holds a results.json, which the failed run must leave
    byte-identical."""
    i = [c for c, *_ in BAD_INPUTS].index(case)
    _, make, options, kwargs = BAD_INPUTS[i]
    source = make(tmp_path)
    try:
        load_predictions(source, **kwargs)
        expected = None
    except InputError as exc:
        expected = str(exc)
    out_dir = tmp_path / "out"
    if i % 2:
        out_dir.mkdir()
        (out_dir / "results.json").write_bytes(earlier_results)
    proc = run(
        "audit",
        source,
        "--out-dir",
        out_dir,
        "--format",
        "json",
        "--n-resamples",
        "0",
        *options,
        cwd=tmp_path,
    )
    return expected, proc, out_dir


def _assert_bad_input_rejected(expected, proc, out_dir, earlier_results):
    assert expected is not None, "the library accepted this input"
    _assert_one_line_error(proc, expected)
    if (out_dir / "results.json").exists():  # an earlier run's output: untouched
        assert (out_dir / "results.json").read_bytes() == earlier_results
        assert _listing(out_dir) == ["results.json"]  # and no temporary file
    else:
        assert _listing(out_dir) == []  # no results.json, no temporary file


@pytest.mark.parametrize("case", [case for case, *_ in BAD_INPUTS])
def test_bad_input_exit_2_one_line_no_output(cli, tmp_path, earlier_results, case):
    _assert_bad_input_rejected(
        *_bad_input_run(cli, tmp_path, earlier_results, case), earlier_results
    )


def test_bad_input_through_python_m(tmp_path, earlier_results):
    """One row of the table as a user runs it (a subprocess): the message is the whole of
    stderr, with no traceback and no warnings printed by a fresh interpreter."""

    def run(*args, cwd):
        return run_python_m(args, cwd=cwd)

    _assert_bad_input_rejected(
        *_bad_input_run(run, tmp_path, earlier_results, "score-nan"), earlier_results
    )


# (id, arguments after "audit", start of the message)
BAD_USAGE = [
    ("no-input", ["--out-dir", "{out}"], "give either INPUT or --example (exactly one)"),
    (
        "format-unknown",
        ["{good}", "--out-dir", "{out}", "--format", "xml"],
        "--format: unknown format 'xml' (did you mean 'html'?); choose from json, html, pdf, csv, md, tex, figures",
    ),
    (
        "format-typo",
        ["{good}", "--out-dir", "{out}", "--format", "json,mdd"],
        "--format: unknown format 'mdd' (did you mean 'md'?); choose from json, html, pdf, csv, md, tex, figures",
    ),
    (
        "out-dir-is-a-file",
        ["{good}", "--out-dir", "{good}"],
        "--out-dir {good}: exists and is not a directory",
    ),
    (
        "too-few-resamples",
        ["{good}", "--out-dir", "{out}", "--n-resamples", "5"],
        "--n-resamples: must be 0 (no intervals) or at least 100; got 5 (2000 is the default)",
    ),
]


@pytest.mark.parametrize(
    "args, message", [(args, m) for _, args, m in BAD_USAGE], ids=[case for case, *_ in BAD_USAGE]
)
def test_bad_usage_exit_2_one_line(cli, tmp_path, args, message):
    fill = {"good": _write(tmp_path / "good.csv", GOOD_CSV), "out": str(tmp_path / "out")}
    resamples = [] if "--n-resamples" in args else ["--n-resamples", "0"]
    proc = cli("audit", *[a.format(**fill) for a in args], *resamples, cwd=tmp_path)
    _assert_one_line_error(proc, message.format(**fill))
    assert _listing(Path(fill["out"])) == []


@pytest.mark.parametrize(
    "args",
    [
        ["audit", "{good}", "--no-such-option"],
        ["audit", "{good}", "--resampling", "jackknife"],
    ],
    ids=["unknown-option", "bad-choice"],
)
def test_argparse_errors_exit_2(cli, tmp_path, args):
    good = _write(tmp_path / "good.csv", GOOD_CSV)
    proc = cli(*[a.format(good=good) for a in args], cwd=tmp_path)
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    last = proc.stderr.splitlines()[-1]  # argparse: "prevalens[ audit]: error: ..."
    assert last.startswith("prevalens") and ": error: " in last
    assert not (tmp_path / "reports").exists()  # the default --out-dir was not touched


def test_no_command_prints_help_and_exits_2(cli, tmp_path):
    proc = cli(cwd=tmp_path)
    assert proc.returncode == 2
    assert "usage: prevalens" in proc.stderr


# --------------------------------------------------------------------------------------------
# success


def test_audit_writes_valid_results_json(tmp_path):
    # A subprocess: `python -m prevalens audit FILE` as a user runs it (the module entry point,
    # SOURCE_DATE_EPOCH read by a fresh interpreter, stderr empty in a fresh process).
    source = _write(tmp_path / "preds.csv", SCORES_CSV)
    out_dir = tmp_path / "out" / "nested"  # created as needed
    proc = run_python_m(
        [
            "audit",
            source,
            "--out-dir",
            out_dir,
            "--format",
            "json",
            "--n-resamples",
            "0",
            "--seed",
            "42",
        ],
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""
    target = out_dir / "results.json"
    assert _listing(out_dir) == ["results.json"]  # and no temporary file
    assert f"wrote {target}" in proc.stdout
    text = target.read_text(encoding="utf-8")
    doc = json.loads(text, parse_constant=lambda t: pytest.fail(f"non-standard JSON token {t}"))
    assert list(_validator().iter_errors(doc)) == []
    assert doc["run"]["seed"] == 42 and doc["run"]["n_resamples"] == 0
    assert doc["run"]["created_utc"] == "2023-11-14T22:13:20Z"  # SOURCE_DATE_EPOCH
    assert doc["run"]["command"].startswith("prevalens audit ")
    assert doc["inputs"] == [
        {
            "path": source,
            "sha256": hashlib.sha256(Path(source).read_bytes()).hexdigest(),
            "rows": 5,
        }
    ]
    assert doc["data"]["classes"] == ["a", "b"]
    # The CLI is thin: its numbers are the library's.
    pred = load_predictions(source)
    lib = prevalens.audit_predictions(
        pred, prevalens.AuditConfig(n_resamples=0, seed=42), command=doc["run"]["command"]
    )
    lib_doc = lib.to_dict()  # made in this process, without SOURCE_DATE_EPOCH: align the time
    lib_doc["run"]["created_utc"] = doc["run"]["created_utc"]
    # run.config holds the CLI's resolved options: the library's audit options, with the same
    # values, plus the command line's own (columns, formats, gates, ...).
    cli_config, lib_config = doc["run"].pop("config"), lib_doc["run"].pop("config")
    assert {k: cli_config[k] for k in lib_config} == json.loads(json.dumps(lib_config))
    assert cli_config["format"] == ["json"] and cli_config["y_true"] == "y_true"
    assert doc == json.loads(json.dumps(lib_doc))
    # The file is readable like any other file the user creates (not mkstemp's 0600).
    umask = os.umask(0)
    os.umask(umask)
    assert target.stat().st_mode & 0o777 == 0o666 & ~umask


def test_audit_example(cli, tmp_path):
    proc = cli(
        "audit",
        "--example",
        "--out-dir",
        "ex",
        "--n-resamples",
        "0",
        "--seed",
        "1",
        "--quiet",
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "" and proc.stderr == ""  # --quiet
    doc = json.loads((tmp_path / "ex" / "results.json").read_text())
    assert list(_validator().iter_errors(doc)) == []
    assert doc["inputs"][0]["sha256"] == hashlib.sha256(example_path().read_bytes()).hexdigest()
    assert doc["data"]["has_scores"] is True


def test_example_then_console_script_audit(cli, tmp_path):
    proc = cli("example", "digits.csv", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    written = tmp_path / "digits.csv"
    assert written.read_bytes() == example_path().read_bytes()
    assert "prevalens audit digits.csv" in proc.stdout
    assert len(pd.read_csv(written)) > 2

    script = Path(sys.executable).parent / "prevalens"
    if not script.exists():
        pytest.skip(f"no console script next to {sys.executable}")
    # A subprocess: the installed console script, as a user runs it.
    proc = run_python_m(
        ["audit", "digits.csv", "--out-dir", "audit", "--n-resamples", "0", "--seed", "3"],
        cwd=tmp_path,
        script=script,
    )
    assert proc.returncode == 0, proc.stderr
    doc = json.loads((tmp_path / "audit" / "results.json").read_text())
    assert list(_validator().iter_errors(doc)) == []
    assert doc["inputs"][0]["path"] == "digits.csv"


def test_schema_prints_the_schema(cli, tmp_path):
    proc = cli("schema", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout) == prevalens.load_schema()


@pytest.mark.parametrize(
    "command", [[], ["audit"], ["schema"], ["example"]], ids=["top", "audit", "schema", "example"]
)
def test_help_exits_0_and_shows_an_example(cli, tmp_path, command):
    proc = cli(*command, "--help", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("usage: prevalens")
    assert "example" in proc.stdout
    # An example is a runnable command line, indented under "example(s):".
    assert any(line.startswith("  prevalens ") for line in proc.stdout.splitlines())


# --------------------------------------------------------------------------------------------
# failures leave existing output alone


DEFAULT_OUTPUTS = ["per_class.csv", "report.html", "report.pdf", "results.json"]


@pytest.fixture(scope="module")
def previous_outputs(tmp_path_factory) -> Path:
    """The output directory of a successful audit of GOOD_CSV in the default formats (json, html,
    pdf), made once (in-process, a module fixture: its output is not checked); tests copy it."""
    tmp = tmp_path_factory.mktemp("previous")
    good = _write(tmp / "good.csv", GOOD_CSV)
    ok = call_main(
        ["audit", good, "--out-dir", tmp / "out", "--n-resamples", "0", "--seed", "1"], cwd=tmp
    )
    assert ok.returncode == 0, ok.stderr
    assert _listing(tmp / "out") == DEFAULT_OUTPUTS  # the default formats: json, html, pdf
    return tmp / "out"


@pytest.mark.parametrize(
    "bad_args",
    [["{bad}"], ["{good}", "--labels", "a,b"]],
    ids=["bad-input", "label-outside"],
)
def test_failed_run_leaves_previous_results_byte_identical(
    cli, tmp_path, previous_outputs, bad_args
):
    good = _write(tmp_path / "good.csv", GOOD_CSV)
    bad = _write(tmp_path / "bad.csv", "y_true,y_pred\na,a\n,b\n")
    out = tmp_path / "out"
    shutil.copytree(previous_outputs, out)
    written = DEFAULT_OUTPUTS
    assert _listing(out) == written
    before = {name: (out / name).read_bytes() for name in written}
    fill = {"good": good, "bad": bad}
    proc = cli(
        "audit",
        *[a.format(**fill) for a in bad_args],
        "--out-dir",
        out,
        "--n-resamples",
        "0",
        "--seed",
        "2",
        cwd=tmp_path,
    )
    _assert_one_line_error(proc)
    assert {name: (out / name).read_bytes() for name in written} == before
    assert _listing(out) == written


def test_write_failure_leaves_no_temporary_file(cli, tmp_path):
    good = _write(tmp_path / "good.csv", GOOD_CSV)
    out = tmp_path / "out"
    (out / "results.json").mkdir(parents=True)  # the target cannot be replaced
    proc = cli(
        "audit", good, "--out-dir", out, "--n-resamples", "0", "--format", "json", cwd=tmp_path
    )
    _assert_one_line_error(proc)
    assert proc.stderr.startswith(f"prevalens: error: --out-dir {out}: cannot write (")
    assert _listing(out) == ["results.json"]
    assert (out / "results.json").is_dir()


def test_debug_shows_the_traceback(tmp_path):
    # A subprocess: in-process, --debug re-raises and the traceback is pytest's; that the
    # interpreter prints it for a user is seen only from outside.
    bad = _write(tmp_path / "bad.csv", "y_true,y_pred\na,a\n,b\n")
    proc = run_python_m(
        ["audit", bad, "--out-dir", tmp_path / "out", "--n-resamples", "0", "--debug"], cwd=tmp_path
    )
    assert proc.returncode != 0
    assert "Traceback (most recent call last)" in proc.stderr
    assert "InputError: " in proc.stderr and "missing label at row 2 (line 3)" in proc.stderr
    assert not (tmp_path / "out" / "results.json").exists()
