"""The command line as a scheduled job runs it: configuration files and their precedence, quality
gates, the comparison with a baseline, the exports, reproducible runs, progress and the summary,
every subcommand and every exit code, and a catalogue of bad invocations and bad files.

Every run calls ``prevalens.cli.main(argv)`` in this process (fixture ``cli``, see conftest.py:
its exit code, stdout and stderr read from the file descriptors, environment variables and the
working directory set for the run and restored), so a test costs the audit, not an interpreter
importing numpy and pandas; tests/test_cli.py runs the real entry points as subprocesses. The one
case here that needs a fresh interpreter says why. Each test makes its own runs in its own
directory, except the first of two identical scheduled runs on the example (module fixture
``scheduled``), whose outputs many tests read and none changes: a test that runs beside them
copies them first. Runs use ``--n-resamples 0`` or 200 and JSON/Markdown/CSV/LaTeX output; only
two runs render the HTML report and one the PDF.

Data: the bundled example (330 rows, 10 classes, with scores; class ``eight`` is never predicted,
so its precision is undefined and the CLI warns) and CLEAN_CSV, a hand-made 40-row, 3-class file
with scores on which nothing is undefined (so a successful run prints nothing on stderr), with a
class labelled ``v1.2`` (a dot inside a gate name).

Bad input must give exit code 2, exactly one line ``prevalens: error: ...`` on stderr, no traceback,
nothing on stdout, and must leave the directory it ran in byte-for-byte as it was (a previous
results.json in the output directory untouched, no temporary ``.*.tmp`` file).
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import re
import shutil
import subprocess
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace

import pytest
from conftest import call_main, run_python_m

import prevalens
from prevalens.config import OPTIONS
from prevalens.data import example_path
from prevalens.formatting import metric_name

EPOCH_UTC = "2023-11-14T22:13:20Z"  # datetime.fromtimestamp(1700000000, tz=utc)
# the documented columns of headline.csv (prevalens.exports.headline_csv)
HEADLINE_COLUMNS = (
    "section",
    "name",
    "metric",
    "estimate",
    "ci_low",
    "ci_high",
    "se",
    "method",
    "status",
    "note",
)
IS_ROOT = hasattr(os, "geteuid") and os.geteuid() == 0
ROOT_REASON = "running as root: root reads and writes regardless of permission bits"
DIR = object()  # in a case's files: make a directory


# ------------------------------------------------------------------------------------------------
# helpers


def _listing(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir()) if directory.exists() else []


def _snapshot(root: Path) -> dict:
    """Every file and directory under ``root``: relative path -> bytes (or a marker)."""
    out = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames:
            out[os.path.relpath(os.path.join(dirpath, name), root)] = "<dir>"
        for name in filenames:
            path = os.path.join(dirpath, name)
            try:
                out[os.path.relpath(path, root)] = Path(path).read_bytes()
            except PermissionError:
                out[os.path.relpath(path, root)] = "<unreadable>"
    return out


def _assert_one_line_error(proc, code=2):
    assert proc.returncode == code, (proc.returncode, proc.stderr)
    assert "Traceback" not in proc.stderr
    lines = proc.stderr.splitlines()
    assert len(lines) == 1, proc.stderr
    assert proc.stderr.endswith("\n")
    assert proc.stdout == ""
    return lines[0]


def _write(path: Path, content) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if content is DIR:
        path.mkdir(exist_ok=True)
    elif isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content, encoding="utf-8")
    return path


def _json(path: Path) -> dict:
    return json.loads(
        path.read_text("utf-8"),
        parse_constant=lambda t: pytest.fail(f"non-standard JSON token {t}"),
    )


# ------------------------------------------------------------------------------------------------
# data


def _clean_csv() -> str:
    """40 rows, classes cat (20), dog (12), v1.2 (8); every fourth row of a class is predicted as
    the next class; scores sum to 1 and put the most mass on the predicted class."""
    labels = ["cat", "dog", "v1.2"]
    rows = ["y_true,y_pred,score_cat,score_dog,score_v1.2"]
    for k, (label, n) in enumerate(zip(labels, (20, 12, 8))):
        for i in range(n):
            pred = label if i % 4 else labels[(k + 1) % 3]
            j = labels.index(pred)
            rest = 0.4 - 0.05 * (i % 5)
            scores = [0.0, 0.0, 0.0]
            others = [x for x in range(3) if x != j]
            scores[others[0]] = round(rest * 0.6, 6)
            scores[others[1]] = round(rest * 0.4, 6)
            scores[j] = round(1 - scores[others[0]] - scores[others[1]], 6)
            rows.append(",".join([label, pred] + [f"{s:.6f}" for s in scores]))
    return "\n".join(rows) + "\n"


CLEAN_CSV = _clean_csv()
NOSCORE_CSV = "y_true,y_pred\na,a\nb,b\na,b\nb,a\na,a\nb,b\n"


def _modified_example(text: str) -> str:
    """The example with eight wrong predictions corrected: a second 'month' whose numbers move."""
    rows = list(csv.reader(io.StringIO(text, newline="")))
    t, p = rows[0].index("y_true"), rows[0].index("y_pred")
    fixed = 0
    for r in rows[1:]:
        if r[t] != r[p] and fixed < 8:
            r[p], fixed = r[t], fixed + 1
    buf = io.StringIO(newline="")
    csv.writer(buf, lineterminator="\n").writerows(rows)
    return buf.getvalue()


def _earlier_results() -> bytes:
    """The bytes of a results.json from an earlier, successful audit (made in-process)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", prevalens.PrevalensWarning)
        result = prevalens.audit(["a", "b", "a"], ["a", "b", "b"], n_resamples=0, seed=1)
    return result.to_json().encode("utf-8")


# ------------------------------------------------------------------------------------------------
# the catalogue of bad invocations and bad files


@dataclass(frozen=True)
class Bad:
    """A bad invocation: run in its own directory (which holds ``out/results.json`` from an
    earlier audit, and ``files``); ``{clean}``, ``{noscore}``, ``{earlier}`` in ``args`` are
    absolute paths to the shared data. ``expect``: fragments of the error line. ``subprocess``:
    why the case runs as ``python -m prevalens`` rather than in this process."""

    id: str
    args: tuple
    expect: tuple = ()
    files: dict = field(default_factory=dict)
    chmod: tuple | None = None  # (relative path, mode)
    env: dict | None = None
    root_skip: bool = False
    xfail: str | None = None
    subprocess: str | None = None


FAST = ("--out-dir", "out", "--format", "json", "--n-resamples", "0")
GATE = ("audit", "{clean}", *FAST, "--gate")
TOML_AUDIT = ("audit", "{clean}", "--config", "audit.toml", *FAST)


def _cfg(text):
    return {"audit.toml": text}


CATALOGUE = [
    # -- the input file
    Bad("input-missing", ("audit", "nope.csv", *FAST), ("nope.csv", "not found")),
    Bad(
        "input-empty",
        ("audit", "empty.csv", *FAST),
        ("empty.csv", "empty"),
        files={"empty.csv": ""},
    ),
    Bad(
        "input-header-only",
        ("audit", "header.csv", *FAST),
        ("header.csv", "only a header"),
        files={"header.csv": "y_true,y_pred\n"},
    ),
    Bad(
        "input-is-a-directory",
        ("audit", "folder.csv", *FAST),
        ("folder.csv", "is a directory"),
        files={"folder.csv": DIR},
    ),
    Bad(
        "input-unreadable",
        ("audit", "locked.csv", *FAST),
        ("locked.csv",),
        files={"locked.csv": CLEAN_CSV},
        chmod=("locked.csv", 0o000),
        root_skip=True,
    ),
    # -- the output directory
    Bad(
        "out-dir-is-a-file",
        (
            "audit",
            "{clean}",
            "--out-dir",
            "out/results.json",
            "--format",
            "json",
            "--n-resamples",
            "0",
        ),
        ("--out-dir out/results.json", "not a directory"),
    ),
    Bad(
        "out-dir-inside-a-file",
        (
            "audit",
            "{clean}",
            "--out-dir",
            "out/results.json/sub",
            "--format",
            "json",
            "--n-resamples",
            "0",
        ),
        ("--out-dir out/results.json/sub", "cannot write"),
    ),
    Bad(
        "out-dir-not-writable",
        ("audit", "{clean}", *FAST),
        ("--out-dir out", "cannot write"),
        chmod=("out", 0o555),
        root_skip=True,
    ),
    # -- options on the command line
    Bad(
        "format-unknown",
        ("audit", "{clean}", "--out-dir", "out", "--n-resamples", "0", "--format", "json,xlsx"),
        ("--format", "'xlsx'", "json, html"),
    ),
    Bad(
        "labels-empty-item",
        ("audit", "{clean}", *FAST, "--labels", "cat,,dog"),
        ("--labels", "empty label"),
    ),
    Bad(
        "choice-invalid",
        ("audit", "{clean}", *FAST, "--interval", "bcaa"),
        ("--interval", "invalid choice: 'bcaa'"),
    ),
    Bad(
        "confidence-level-1.5",
        ("audit", "{clean}", *FAST, "--confidence-level", "1.5"),
        ("confidence", "1.5"),
    ),
    Bad(
        "n-resamples-negative",
        ("audit", "{clean}", "--out-dir", "out", "--format", "json", "--n-resamples", "-1"),
        ("--n-resamples", ">= 0", "-1"),
    ),
    Bad(
        "n-resamples-5",
        ("audit", "{clean}", "--out-dir", "out", "--format", "json", "--n-resamples", "5"),
        ("--n-resamples", "at least 100", "5"),
    ),
    Bad(
        "strata-cuts-abc",
        ("audit", "{clean}", *FAST, "--strata-cuts", "abc"),
        ("--strata-cuts 'abc'", "numbers"),
    ),
    Bad(
        "templates-without-report",
        ("audit", "{clean}", *FAST, "--templates", "tpl"),
        ("--templates tpl", "no template (*.j2"),
        files={"tpl": DIR},
    ),
    Bad(
        "config-string-for-int",
        TOML_AUDIT,
        ("audit.toml", "key 'seed'", "whole number", "'1'"),
        files=_cfg('seed = "1"\n'),
    ),
    Bad(
        "config-float-for-int",
        TOML_AUDIT[:4] + ("--out-dir", "out", "--format", "json"),
        ("audit.toml", "key 'n_resamples'", "whole number", "200.0"),
        files=_cfg("n_resamples = 200.0\n"),
    ),
    Bad(
        "config-list-for-string",
        TOML_AUDIT,
        ("audit.toml", "key 'model_name'", "a string"),
        files=_cfg('model_name = ["triage", "v3"]\n'),
    ),
    Bad(
        "config-bool-for-int",
        TOML_AUDIT,
        ("audit.toml", "key 'min_support'", "boolean"),
        files=_cfg("min_support = true\n"),
    ),
    Bad(
        "config-invalid-choice",
        TOML_AUDIT,
        ("audit.toml", "key 'resampling'", "'stratifed'", "did you mean 'stratified'"),
        files=_cfg('resampling = "stratifed"\n'),
    ),
    Bad(
        "config-unknown-format",
        TOML_AUDIT[:4] + ("--out-dir", "out", "--n-resamples", "0"),
        ("audit.toml", "key 'format'", "'docx'"),
        files=_cfg('format = ["json", "docx"]\n'),
    ),
    Bad(
        "config-unknown-key",
        TOML_AUDIT,
        ("audit.toml", "unknown key 'n_resample'", "did you mean 'n_resamples'"),
        files=_cfg("n_resample = 200\n"),
    ),
    Bad(
        "config-key-spelled-both-ways",
        TOML_AUDIT,
        ("audit.toml", "twice"),
        files=_cfg("min_support = 5\nmin-support = 5\n"),
    ),
    Bad(
        "config-invalid-toml", TOML_AUDIT, ("audit.toml", "not valid TOML"), files=_cfg("seed = \n")
    ),
    Bad(
        "config-not-utf8",
        TOML_AUDIT,
        ("audit.toml", "not UTF-8"),
        files={"audit.toml": 'model_name = "caf\xe9"\n'.encode("latin-1")},
    ),
    Bad("config-missing", TOML_AUDIT, ("audit.toml", "not found")),
    Bad(
        "config-is-a-directory",
        TOML_AUDIT,
        ("audit.toml", "is a directory"),
        files={"audit.toml": DIR},
    ),
    Bad(
        "config-pyproject-without-table",
        ("audit", "{clean}", "--config", "pyproject.toml", *FAST),
        ("pyproject.toml", "[tool.prevalens]"),
        files={"pyproject.toml": '[project]\nname = "x"\nversion = "1"\n'},
    ),
    Bad(
        "discovered-pyproject-unknown-key",
        ("audit", "{clean}", *FAST),
        ("pyproject.toml [tool.prevalens]", "'n-resample'", "did you mean 'n_resamples'"),
        files={"pyproject.toml": '[project]\nname = "x"\n\n[tool.prevalens]\nn-resample = 0\n'},
    ),
    Bad(
        "config-gate-bad-operator",
        TOML_AUDIT,
        ("macro.f1 => 0.7", "use >="),
        files=_cfg('gates = ["macro.f1 => 0.7"]\n'),
    ),
    # -- quality gates
    Bad(
        "gate-unknown-family",
        GATE + ("mikro.f1 >= 0.5",),
        ("mikro.f1", "did you mean 'micro'", "valid names", "class.LABEL.METRIC"),
    ),
    Bad(
        "gate-unknown-metric",
        GATE + ("macro.recal >= 0.5",),
        ("'recal'", "did you mean 'recall'", "precision, recall, f1"),
    ),
    Bad("gate-missing-threshold", GATE + ("macro.f1 >=",), ("gate 'macro.f1 >='",)),
    Bad("gate-equals-operator", GATE + ("macro.f1 = 0.7",), ("operator '='", ">= or <=")),
    Bad("gate-non-numeric-threshold", GATE + ("macro.f1 >= high",), ("'high'", "not a number")),
    Bad(
        "gate-unknown-stratum",
        GATE + ("stratum.tiny.recall >= 0.5",),
        ("no stratum named 'tiny'", "common"),
    ),
    Bad(
        "gate-unknown-class", GATE + ("class.zebra.recall >= 0.5",), ("no class labelled 'zebra'",)
    ),
    Bad(
        "gate-roc-auc-without-scores",
        ("audit", "{noscore}", *FAST, "--gate", "macro.roc_auc >= 0.5"),
        ("roc_auc", "needs score columns"),
    ),
    Bad(
        "gate-duplicate",
        GATE + ("macro.f1 >= 0.5", "--gate", "macro.f1>=0.50"),
        ("declared twice",),
    ),
    Bad(
        "gate-delta-in-an-audit",
        GATE + ("delta.macro.f1 >= -0.02",),
        ("delta gate", "needs `prevalens compare`", "'macro.f1 >= -0.02'"),
    ),
    # -- the gates for CI (--junit, --github-annotations)
    Bad(
        "junit-without-a-gate",
        ("audit", "{clean}", *FAST, "--junit", "gates.xml"),
        ("--junit needs at least one --gate",),
    ),
    Bad(
        "github-annotations-without-a-gate",
        ("audit", "{clean}", *FAST, "--github-annotations"),
        ("--github-annotations needs at least one --gate",),
    ),
    Bad(
        "config-junit-without-a-gate",
        TOML_AUDIT,
        ("--junit needs at least one --gate", "configuration file"),
        files=_cfg('junit = "gates.xml"\n'),
    ),
    Bad(
        "junit-is-a-directory",
        GATE + ("macro.f1 >= 0.1", "--junit", "out"),
        ("--junit out", "is a directory"),
    ),
    Bad(
        "junit-under-a-file",
        GATE + ("macro.f1 >= 0.1", "--junit", "notes.txt/gates.xml"),
        ("--junit notes.txt/gates.xml", "notes.txt is not a directory"),
        files={"notes.txt": "x\n"},
    ),
    Bad(
        # found only when the outputs are written, after the audit: still nothing is written
        "junit-is-an-output",
        GATE + ("macro.f1 >= 0.1", "--junit", "out/results.json"),
        ("--junit out/results.json", "is also where results.json is written"),
    ),
    # -- the baseline
    Bad(
        "baseline-missing",
        ("audit", "{clean}", *FAST, "--baseline", "old.json"),
        ("--baseline old.json", "not found"),
    ),
    Bad(
        "baseline-not-json",
        ("audit", "{clean}", *FAST, "--baseline", "old.json"),
        ("--baseline old.json", "not a valid JSON"),
        files={"old.json": "y_true,y_pred\n"},
    ),
    Bad(
        "baseline-other-schema",
        ("audit", "{clean}", *FAST, "--baseline", "old.json"),
        ("--baseline old.json", "'other.tool/2'", "prevalens.audit/1"),
        files={"old.json": '{"schema": "other.tool/2", "metrics": {}}\n'},
    ),
    Bad(
        "baseline-nan-token",
        ("audit", "{clean}", *FAST, "--baseline", "old.json"),
        ("--baseline old.json", "NaN"),
    ),  # old.json: the earlier results with a NaN (below)
    Bad(
        "baseline-is-a-directory",
        ("audit", "{clean}", *FAST, "--baseline", "out"),
        ("--baseline out", "is a directory"),
    ),
    # -- render and example
    Bad(
        "render-non-results-json",
        ("render", "other.json", "--out-dir", "out", "--format", "md"),
        ("other.json", "prevalens.audit/1"),
        files={"other.json": '{"hello": [1, 2]}\n'},
    ),
    Bad(
        "render-bad-format",
        ("render", "{earlier}", "--out-dir", "out", "--format", "md,docx"),
        ("--format docx",),
    ),
    Bad("example-into-a-directory", ("example", "out"), ("out", "is a directory")),
    # -- user errors that once were reported as internal errors (exit 3)
    Bad(
        "source-date-epoch-not-a-number",
        ("audit", "{clean}", *FAST),
        ("SOURCE_DATE_EPOCH",),
        env={"SOURCE_DATE_EPOCH": "yesterday"},
        subprocess="numpy's f2py reads SOURCE_DATE_EPOCH (int(...), a bare ValueError) while "
        "scipy is first imported, and main() must check it before that import: only "
        "a fresh interpreter has scipy still to import",
    ),
    Bad(
        "user-template-undefined-variable",
        ("render", "{earlier}", "--out-dir", "out", "--format", "html", "--templates", "tpl"),
        ("tpl", "report.html.j2"),
        files={"tpl/report.html.j2": "{{ no_such_variable }}\n"},
    ),
]

_RUNNABLE = [c for c in CATALOGUE if not (c.root_skip and IS_ROOT) and not c.xfail]


# ------------------------------------------------------------------------------------------------
# shared data and the scheduled run


def _toml(path: Path, text: str) -> Path:
    return _write(path, text)


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    """The input files that runs name by absolute path (never written to): ``clean``,
    ``noscore``, ``example``, ``example_mod`` (the example with eight predictions corrected) and
    ``earlier`` (a results.json, whose bytes are ``earlier_bytes``); ``fill`` maps these names to
    their paths as text, for ``{...}`` in a catalogue case's arguments."""
    w = tmp_path_factory.mktemp("data")
    example = example_path().read_text("utf-8")
    earlier = _earlier_results()
    paths = {
        "clean": _write(w / "clean.csv", CLEAN_CSV),
        "noscore": _write(w / "noscore.csv", NOSCORE_CSV),
        "example": _write(w / "example.csv", example),
        "example_mod": _write(w / "example_mod.csv", _modified_example(example)),
        "earlier": _write(w / "earlier.json", earlier),
    }
    return SimpleNamespace(
        **paths, earlier_bytes=earlier, fill={k: str(v) for k, v in paths.items()}
    )


#: A scheduled run: the example, a config file (seed, replicates, gates) and four exports.
REPRO_TOML = 'seed = 11\nn-resamples = 200\ngates = ["macro.f1 >= 0.5", "micro.recall >= 0.8"]\n'
REPRO_ARGS = (
    "audit",
    "example.csv",
    "--config",
    "audit.toml",
    "--out-dir",
    "out",
    "--format",
    "json,csv,md,tex",
)


def _scheduled_dir(d: Path) -> Path:
    """``d`` laid out for a scheduled run: example.csv and audit.toml (REPRO_TOML)."""
    _write(d / "example.csv", example_path().read_text("utf-8"))
    _toml(d / "audit.toml", REPRO_TOML)
    return d


@pytest.fixture(scope="module")
def scheduled(tmp_path_factory):
    """The first of two identical scheduled runs (REPRO_ARGS in a directory laid out by
    ``_scheduled_dir``), made once for the tests that read its outputs: ``dir``, ``out`` (its
    output directory, never to be written to), ``proc`` (its exit code and output; a module
    fixture cannot use capfd, so these are what went through ``sys.stdout`` and
    ``sys.stderr``). Tests read its results.json afresh: no test can change what another sees."""
    d = _scheduled_dir(tmp_path_factory.mktemp("repro_a"))
    proc = call_main(REPRO_ARGS, cwd=d)
    _ok(proc)
    return SimpleNamespace(dir=d, out=d / "out", proc=proc)


def _ok(proc, code=0):
    assert proc.returncode == code, (proc.returncode, proc.stderr)
    assert "Traceback" not in proc.stderr
    return proc


HELP_COMMANDS = {
    "top": [],
    "audit": ["audit"],
    "render": ["render"],
    "schema": ["schema"],
    "example": ["example"],
}


# ------------------------------------------------------------------------------------------------
# helpers over results


def _est(d: dict, name: str) -> dict:
    """The estimate dict of a baseline/gate metric name such as macro.f1, overall.accuracy,
    gap.recall or stratum.rare.f1."""
    parts = name.split(".")
    if parts[0] in ("micro", "macro", "weighted"):
        return d["averages"][parts[0]][parts[1]]
    if parts[0] == "overall":
        return d["overall"][parts[1]]
    if parts[0] == "gap":
        return d["gap"][parts[1]]["macro_minus_micro"]
    if parts[0] == "stratum":
        stratum = {s["name"]: s for s in d["strata"]}[".".join(parts[1:-1])]
        return stratum["macro"][parts[-1]]
    raise AssertionError(name)


def _numbers(cell: str) -> list[tuple[float, int]]:
    """The numbers shown in a table cell, each with its number of decimals."""
    return [
        (float(m), len(m.split(".")[1]) if "." in m else 0)
        for m in re.findall(r"-?\d+(?:\.\d+)?", cell)
    ]


def _assert_shows(cell: str, e: dict | None):
    """``cell`` shows estimate [ci_low, ci_high] of ``e`` at the precision it displays."""
    if e is None or e.get("estimate") is None:
        assert "undefined" in cell, cell
        return
    expected = [e["estimate"]]
    if e.get("ci_low") is not None and e.get("ci_high") is not None:
        expected += [e["ci_low"], e["ci_high"]]
    shown = _numbers(cell)
    assert len(shown) == len(expected), (cell, e)
    for (value, decimals), exact in zip(shown, expected):
        assert abs(value - exact) <= 0.5 * 10**-decimals + 1e-12, (cell, e)


def _md_table(text: str, heading: str) -> list[list[str]]:
    """The rows (cells) of the first table under ``## heading``, header first."""
    lines = text.splitlines()
    i = lines.index(f"## {heading}") + 1
    while not lines[i].startswith("|"):
        i += 1
    table = []
    while i < len(lines) and lines[i].startswith("|"):
        table.append([c.strip() for c in lines[i].strip("|").split(" | ")])
        i += 1
    assert set("".join(table[1])) <= set("-:|"), table[1]
    return [table[0]] + table[2:]


def _html_pairs(html: str, section: str) -> dict:
    """``<th scope="row">KEY</th><td>VALUE</td>`` and ``<td>KEY</td><td>VALUE</td>`` pairs in
    the report's ``<section id=...>``."""
    start = html.index(f'<section id="{section}"')
    body = html[start : html.index("</section>", start)]
    pairs = re.findall(r'<tr><(?:th scope="row"|td)>([^<]*)</(?:th|td)><td>([^<]*)</td></tr>', body)
    return dict(pairs)


# ------------------------------------------------------------------------------------------------
# subcommands, help, version, exit codes


@pytest.mark.parametrize("name", list(HELP_COMMANDS))
def test_help_of_every_command_exits_0_with_an_example(cli, tmp_path, name):
    proc = _ok(cli(*HELP_COMMANDS[name], "--help", cwd=tmp_path))
    assert proc.stdout.startswith("usage: prevalens")
    assert "example" in proc.stdout
    assert any(line.startswith("  prevalens ") for line in proc.stdout.splitlines()), proc.stdout
    assert proc.stderr == ""


def test_audit_help_documents_config_gates_and_exit_codes(cli, tmp_path):
    text = _ok(cli("audit", "--help", cwd=tmp_path)).stdout
    for words in (
        "--config",
        "[tool.prevalens]",
        "--gate",
        "--gate-on",
        "--baseline",
        "--quiet",
        "exit codes",
        "1 a quality gate failed",
    ):
        assert words in text


def test_version(cli, tmp_path):
    proc = _ok(cli("--version", cwd=tmp_path))
    assert proc.stdout == f"prevalens {prevalens.__version__}\n"


def test_schema_command_prints_the_schema(cli, tmp_path):
    proc = _ok(cli("schema", cwd=tmp_path))
    assert json.loads(proc.stdout) == prevalens.load_schema()


def test_example_command_writes_the_bundled_data(cli, tmp_path):
    proc = _ok(cli("example", "digits.csv", cwd=tmp_path))
    written = tmp_path / "digits.csv"
    assert written.read_bytes() == example_path().read_bytes()
    assert "prevalens audit digits.csv" in proc.stdout
    with written.open(newline="", encoding="utf-8") as fh:
        rows = list(csv.reader(fh))
    assert len(rows) == 1 + 330


class _FaultyValidator:
    """A jsonschema validator that raises: a bug injected under ``render``'s schema check."""

    def __init__(self, schema):
        raise RuntimeError("injected fault")


def test_internal_error_is_exit_3_one_line(cli, tmp_path, data, monkeypatch):
    import jsonschema

    monkeypatch.setattr(jsonschema, "Draft202012Validator", _FaultyValidator)
    args = ("render", data.earlier, "--out-dir", "out", "--format", "md")
    proc = cli(*args, cwd=tmp_path)
    line = _assert_one_line_error(proc, code=3)
    assert line.startswith("prevalens: internal error: RuntimeError: injected fault")
    assert "--debug" in line
    assert not (tmp_path / "out").exists()
    # --debug lets the exception out of main() (the interpreter then prints its traceback:
    # tests/test_cli.py::test_debug_shows_the_traceback runs that as a subprocess)
    with pytest.raises(RuntimeError, match="^injected fault$"):
        cli(*args, "--debug", cwd=tmp_path)
    assert not (tmp_path / "out").exists()


# ------------------------------------------------------------------------------------------------
# reproducible scheduled runs


def test_same_inputs_config_and_seed_give_byte_identical_outputs(cli, tmp_path, scheduled):
    repro_b = _scheduled_dir(tmp_path / "repro_b")
    _ok(cli(*REPRO_ARGS, cwd=repro_b))
    a, b = scheduled.out, repro_b / "out"
    names = [
        "calibration.csv",  # the example's scores are probabilities
        "calibration_bins.csv",
        "headline.csv",
        "per_class.csv",
        "results.json",
        "summary.md",
        "tables.tex",
    ]
    assert _listing(a) == names and _listing(b) == names  # and no temporary file
    for name in names:
        assert (a / name).read_bytes() == (b / name).read_bytes(), name


def test_inputs_record_sha256_and_row_count(scheduled):
    d = _json(scheduled.out / "results.json")
    assert d["inputs"] == [
        {
            "path": "example.csv",
            "sha256": hashlib.sha256(example_path().read_bytes()).hexdigest(),
            "rows": 330,
        }
    ]
    assert d["run"]["created_utc"] == EPOCH_UTC  # SOURCE_DATE_EPOCH


def test_run_config_records_the_resolved_configuration(scheduled):
    cfg = _json(scheduled.out / "results.json")["run"]["config"]
    # every option but the machine's resources (max_memory: never changes a number, and a
    # machine-dependent record would make identical audits differ)
    assert {o.key for o in OPTIONS if o.recorded} <= set(cfg)
    assert "max_memory" not in cfg
    assert cfg["config_file"] == "audit.toml"
    assert cfg["seed"] == 11 and cfg["n_resamples"] == 200  # from the file
    assert cfg["format"] == ["json", "csv", "md", "tex"]  # from the flag
    assert cfg["gates"] == ["macro.f1 >= 0.5", "micro.recall >= 0.8"]
    assert cfg["resampling"] == "stratified" and cfg["confidence_level"] == 0.95  # defaults


def test_failed_run_leaves_previous_outputs_untouched(cli, tmp_path, data, scheduled):
    # The previous outputs of a complete run; the new run fails after its audit (bad gate).
    shutil.copytree(scheduled.out, tmp_path / "out")
    proc = cli(
        "audit",
        data.example_mod,
        "--out-dir",
        "out",
        "--format",
        "json,csv,md,tex",
        "--n-resamples",
        "0",
        "--gate",
        "class.zebra.recall >= 0.5",
        cwd=tmp_path,
    )
    line = _assert_one_line_error(proc)
    assert "no class labelled 'zebra'" in line
    previous = _snapshot(scheduled.out)
    assert _snapshot(tmp_path / "out") == previous


def test_failure_while_writing_leaves_previous_outputs_untouched(cli, tmp_path, data, scheduled):
    # The previous outputs of a complete run, but the last file's target is a directory.
    out = tmp_path / "out"
    shutil.copytree(scheduled.out, out)
    (out / "tables.tex").unlink()
    (out / "tables.tex").mkdir()
    proc = cli(
        "audit",
        data.example_mod,
        "--out-dir",
        "out",
        "--format",
        "json,csv,md,tex",
        "--n-resamples",
        "0",
        "--seed",
        "2",
        cwd=tmp_path,
    )
    line = _assert_one_line_error(proc)
    assert "cannot write" in line
    assert _listing(out) == [
        "calibration.csv",
        "calibration_bins.csv",
        "headline.csv",
        "per_class.csv",
        "results.json",
        "summary.md",
        "tables.tex",
    ]  # no temporary file
    for name in ("headline.csv", "per_class.csv", "results.json", "summary.md"):
        assert (out / name).read_bytes() == (scheduled.out / name).read_bytes(), name


# ------------------------------------------------------------------------------------------------
# progress and the summary


def _clean_args(data):
    return ["audit", data.clean, "--out-dir", "out", "--n-resamples", "200", "--seed", "1"]


def test_progress_lines_on_stderr_when_asked(cli, tmp_path, data):
    proc = _ok(
        cli(
            *_clean_args(data), "--format", "json,md", cwd=tmp_path, env={"PREVALENS_PROGRESS": "1"}
        )
    )
    lines = proc.stderr.splitlines()
    assert lines and all(re.fullmatch(r"prevalens: [a-z].* \.\.\. \d+\.\d s", x) for x in lines), (
        proc.stderr
    )
    steps = [x.split()[1].rstrip(":") for x in lines]
    assert steps[0] == "loading" and steps[1] == "auditing" and steps[-1] == "writing"
    # the audit's own stages, each on its line with its time
    assert [x.split(" ...")[0] for x in lines[1:4]] == [
        "prevalens: auditing: point estimates",
        "prevalens: auditing: intervals (200 bootstrap replicates)",
        "prevalens: auditing: analyses and findings",
    ]
    assert "exporting" in steps  # --format json,md
    assert "wrote out/results.json" in proc.stdout  # the summary still goes to stdout


def test_non_interactive_run_is_silent_on_stderr(cli, tmp_path, data):
    proc = _ok(cli(*_clean_args(data), "--format", "json", cwd=tmp_path))
    assert proc.stderr == ""
    assert "wrote out/results.json" in proc.stdout


def test_quiet_prints_nothing_even_with_progress_forced(cli, tmp_path, data):
    proc = _ok(
        cli(
            *_clean_args(data),
            "--format",
            "json",
            "--quiet",
            cwd=tmp_path,
            env={"PREVALENS_PROGRESS": "1"},
        )
    )
    assert proc.stdout == "" and proc.stderr == ""
    assert _listing(tmp_path / "out") == ["results.json"]


def test_render_progress_lines_are_complete(cli, tmp_path, scheduled):
    proc = _ok(
        cli(
            "render",
            scheduled.out / "results.json",
            "--format",
            "md",
            "--out-dir",
            tmp_path / "rendered_p",
            cwd=tmp_path,
            env={"PREVALENS_PROGRESS": "1"},
        )
    )
    assert proc.stderr.endswith(" s\n"), repr(proc.stderr)
    assert all(
        re.fullmatch(r"prevalens: [a-z].* \.\.\. \d+\.\d s", x) for x in proc.stderr.splitlines()
    )


def test_summary_table_on_stdout(scheduled):
    proc = _ok(scheduled.proc)
    d = _json(scheduled.out / "results.json")
    lines = proc.stdout.splitlines()
    assert lines[0] == f"prevalens {prevalens.__version__}: 330 samples, 10 classes, seed 11"
    assert "macro - micro" in lines[1]  # the gap column
    for m in ("recall", "precision", "f1", "roc_auc"):
        row = next(x for x in lines if x.startswith(f"  {m} "))
        shown = _numbers(row[len(f"  {m}") :])
        expected = []
        for e in [d["averages"][a][m] for a in ("micro", "macro", "weighted")] + [
            d["gap"][m]["macro_minus_micro"]
        ]:
            expected += [e["estimate"], e["ci_low"], e["ci_high"]]
        assert len(shown) == 12, row
        for (value, decimals), exact in zip(shown, expected):
            assert abs(value - exact) <= 0.5 * 10**-decimals + 1e-12, (row, m)
            # as in the report: a value that is not exactly 0 or 1 never reads as one
            assert (value == 0) == (exact == 0) and (value == 1) == (exact == 1), (row, m)
    assert any(x.startswith("  accuracy ") for x in lines)
    assert "quality gates: PASS" in lines
    assert any(x.strip().startswith("PASS  macro.f1 >= 0.5") for x in lines)
    wrote = {x for x in lines if x.startswith("wrote ")}
    assert wrote == {f"wrote {Path('out') / n}" for n in _listing(scheduled.out)}


def test_summary_gate_value_shows_its_side_of_the_threshold(scheduled, capsys):
    """A lower bound of 0.69996 against 0.7 fails; the summary must not print it as 0.700."""
    from prevalens.cli import _summary

    d = _json(scheduled.out / "results.json")
    item = dict(
        d["gates"]["items"][0], spec="macro.f1 >= 0.7", threshold=0.7, value=0.69996, passed=False
    )
    item["estimate"] = dict(item["estimate"], estimate=0.75, ci_low=0.69996, ci_high=0.8)
    d["gates"] = dict(d["gates"], items=[item], passed=False, n_failed=1)
    _summary(d, [])
    row = next(x for x in capsys.readouterr().out.splitlines() if "macro.f1 >= 0.7" in x)
    assert row.split()[0] == "FAIL"
    assert float(row.split("= ")[-1]) < 0.7, row


# ------------------------------------------------------------------------------------------------
# configuration: defaults < file < flags


def test_defaults_without_file_or_flags(cli, tmp_path):
    _write(tmp_path / "clean.csv", CLEAN_CSV)
    proc = _ok(cli("audit", "clean.csv", cwd=tmp_path))  # the heaviest: 2000 replicates, PDF
    assert proc.stderr == ""
    out = tmp_path / "reports"  # default out_dir
    # default format json, html, pdf (the PDF carries per_class.csv, also written beside it)
    assert _listing(out) == ["per_class.csv", "report.html", "report.pdf", "results.json"]
    assert (out / "report.pdf").read_bytes().startswith(b"%PDF-")
    d = _json(out / "results.json")
    assert d["run"]["n_resamples"] == 2000  # default
    assert isinstance(d["run"]["seed"], int)  # drawn, and recorded
    assert d["run"]["config"]["seed"] in (None, d["run"]["seed"])
    assert d["run"]["config"]["config_file"] is None
    assert d["run"]["config"]["format"] == ["json", "html", "pdf"]


# seed, replicates, formats, out_dir and gates all differ from the defaults
FILE_TOML = (
    'seed = 5\nn_resamples = 200\nformat = ["json", "md"]\nout_dir = "from_file"\n'
    'gates = ["macro.f1 >= 0.1"]\n'
)


def test_config_file_overrides_defaults(cli, tmp_path):
    base = tmp_path
    _write(base / "clean.csv", CLEAN_CSV)
    _toml(base / "audit.toml", FILE_TOML)
    _ok(cli("audit", "clean.csv", "--config", "audit.toml", cwd=base))
    assert _listing(base / "from_file") == ["results.json", "summary.md"]
    assert not (base / "reports").exists()
    d = _json(base / "from_file" / "results.json")
    assert d["run"]["seed"] == 5 and d["run"]["n_resamples"] == 200
    assert d["run"]["config"]["format"] == ["json", "md"]
    assert d["run"]["config"]["config_file"] == "audit.toml"
    assert [g["spec"] for g in d["gates"]["items"]] == ["macro.f1 >= 0.1"]


def test_flags_override_the_config_file(cli, tmp_path):
    base = tmp_path
    _write(base / "clean.csv", CLEAN_CSV)
    _toml(base / "audit.toml", FILE_TOML)
    _ok(
        cli(
            "audit",
            "clean.csv",
            "--config",
            "audit.toml",
            "--seed",
            "6",
            "--n-resamples",
            "0",
            "--format",
            "json",
            "--out-dir",
            "from_flag",
            "--gate",
            "micro.recall >= 0.1",
            "--gate-on",
            "estimate",
            cwd=base,
        )
    )
    assert _listing(base / "from_flag") == ["results.json"]
    assert not (base / "from_file").exists() and not (base / "reports").exists()
    d = _json(base / "from_flag" / "results.json")
    assert d["run"]["seed"] == 6 and d["run"]["n_resamples"] == 0
    assert d["run"]["config"]["format"] == ["json"]
    # --gate adds to the file's gates (an extra gate must not drop the release policy), and
    # --gate-on sets the basis of all of them
    assert [g["spec"] for g in d["gates"]["items"]] == ["macro.f1 >= 0.1", "micro.recall >= 0.1"]
    assert d["gates"]["basis"] == "estimate" and d["gates"]["passed"] is True


# someone else's project with a [tool.prevalens] table, found in the working directory
PYPROJECT = (
    '[project]\nname = "someone-elses-project"\nversion = "1.0"\n\n'
    '[tool.prevalens]\nseed = 8\nn-resamples = 0\nformat = "json"\n'
    'out_dir = "pp_out"\nmodel_name = "from pyproject"\n'
)


def test_pyproject_tool_table_is_discovered(cli, tmp_path):
    base = tmp_path
    _write(base / "clean.csv", CLEAN_CSV)
    _toml(base / "pyproject.toml", PYPROJECT)
    _ok(cli("audit", "clean.csv", cwd=base))
    assert _listing(base / "pp_out") == ["results.json"]
    d = _json(base / "pp_out" / "results.json")
    assert d["run"]["seed"] == 8 and d["run"]["n_resamples"] == 0
    assert d["run"]["config"]["model_name"] == "from pyproject"
    assert "pyproject.toml" in d["run"]["config"]["config_file"]


def test_explicit_config_beats_the_discovered_pyproject(cli, tmp_path):
    base = tmp_path
    _write(base / "clean.csv", CLEAN_CSV)
    _toml(base / "pyproject.toml", PYPROJECT)
    _toml(
        base / "other.toml", 'seed = 9\nn_resamples = 0\nformat = ["json"]\nout_dir = "other_out"\n'
    )
    _ok(cli("audit", "clean.csv", "--config", "other.toml", cwd=base))
    assert _listing(base / "other_out") == ["results.json"]
    assert not (base / "pp_out").exists()
    d = _json(base / "other_out" / "results.json")
    assert d["run"]["seed"] == 9
    assert d["run"]["config"]["model_name"] is None  # the pyproject table is not read at all
    assert d["run"]["config"]["config_file"] == "other.toml"


def test_paths_in_the_config_are_relative_to_its_directory(cli, tmp_path, data):
    sub = tmp_path / "cfg" / "sub"
    _write(sub / "data" / "clean.csv", CLEAN_CSV)
    _write(sub / "old" / "results.json", data.earlier_bytes)
    _toml(
        sub / "audit.toml",
        'input = "data/clean.csv"\nout_dir = "out"\n'
        'baseline = "old/results.json"\nformat = ["json"]\n'
        "n_resamples = 0\nseed = 3\n",
    )
    (tmp_path / "elsewhere").mkdir()
    proc = _ok(cli("audit", "--config", "../cfg/sub/audit.toml", cwd=tmp_path / "elsewhere"))
    assert _listing(tmp_path / "elsewhere") == []  # nothing where the run started
    assert _listing(sub / "out") == ["results.json"]
    d = _json(sub / "out" / "results.json")
    assert Path(d["inputs"][0]["path"]).resolve() == (sub / "data" / "clean.csv").resolve()
    assert d["inputs"][0]["rows"] == 40
    assert d["inputs"][0]["sha256"] == hashlib.sha256(CLEAN_CSV.encode()).hexdigest()
    assert Path(d["baseline"]["path"]).resolve() == (sub / "old" / "results.json").resolve()
    assert d["baseline"]["sha256"] == hashlib.sha256(data.earlier_bytes).hexdigest()
    assert Path(d["run"]["config"]["out_dir"]).resolve() == (sub / "out").resolve()
    assert "wrote " in proc.stdout


def test_hyphen_and_underscore_keys_and_gates_from_the_file(cli, tmp_path):
    base = tmp_path
    _write(base / "clean.csv", CLEAN_CSV)
    _toml(
        base / "audit.toml",
        'n-resamples = 0\nout-dir = "hy"\nformat = "json"\nmodel_name = "m1"\n'
        'dataset-name = "d1"\ngate-on = "estimate"\nmin_support = 5\n'
        'gates = ["macro.f1 >= 0.5", "class.v1.2.recall >= 0.5"]\n',
    )
    _ok(cli("audit", "clean.csv", "--config", "audit.toml", cwd=base))
    assert _listing(base / "hy") == ["results.json"]
    d = _json(base / "hy" / "results.json")
    cfg = d["run"]["config"]
    assert (
        cfg["n_resamples"],
        cfg["model_name"],
        cfg["dataset_name"],
        cfg["gate_on"],
        cfg["min_support"],
    ) == (0, "m1", "d1", "estimate", 5)
    gates = d["gates"]
    assert gates["basis"] == "estimate" and gates["passed"] is True
    assert [g["spec"] for g in gates["items"]] == ["macro.f1 >= 0.5", "class.v1.2.recall >= 0.5"]
    v12 = next(c for c in d["per_class"] if c["label"] == "v1.2")
    item = gates["items"][1]
    assert item["compared"] == "estimate"
    assert item["value"] == v12["metrics"]["recall"]["estimate"] == 0.75


# ------------------------------------------------------------------------------------------------
# quality gates


def test_all_gates_pass_exit_0(scheduled):
    _ok(scheduled.proc)
    d = _json(scheduled.out / "results.json")
    gates = d["gates"]
    assert gates["passed"] is True and gates["n_failed"] == 0 and gates["basis"] == "interval"
    for item in gates["items"]:
        assert item["passed"] is True and item["compared"] == "ci_low"
        assert item["value"] == _est(d, item["metric"])["ci_low"]
        assert item["value"] >= item["threshold"]
    md = (scheduled.out / "summary.md").read_text("utf-8")
    assert "**Quality gates: PASS (2/2)**" in md


def test_failing_gate_exit_1_outputs_written_gate_named(cli, tmp_path, data):
    proc = _ok(
        cli(
            *_clean_args(data),
            "--format",
            "json,md",
            "--gate",
            "macro.f1 >= 0.99",
            "--gate",
            "micro.recall >= 0.1",
            cwd=tmp_path,
        ),
        code=1,
    )
    assert proc.stderr == "prevalens: 1 of 2 quality gates failed: macro.f1 >= 0.99\n"
    out = tmp_path / "out"
    assert _listing(out) == ["results.json", "summary.md"]
    d = _json(out / "results.json")
    assert d["gates"]["passed"] is False and d["gates"]["n_failed"] == 1
    by_spec = {g["spec"]: g for g in d["gates"]["items"]}
    assert by_spec["macro.f1 >= 0.99"]["passed"] is False
    assert by_spec["micro.recall >= 0.1"]["passed"] is True
    md = (out / "summary.md").read_text("utf-8")
    assert "**Quality gates: FAIL (1 of 2 failed)**" in md
    rows = _md_table(md, "Quality gates")
    assert {r[0].replace("\\", ""): r[-1] for r in rows[1:]} == {
        "macro.f1 >= 0.99": "FAIL",
        "micro.recall >= 0.1": "PASS",
    }
    assert "quality gates: FAIL (1 of 2 failed)" in proc.stdout
    assert re.search(r"^\s+FAIL\s+macro\.f1 >= 0\.99\s", proc.stdout, re.M)


def test_gate_on_estimate_flips_a_gate_the_interval_fails(cli, tmp_path, scheduled):
    """Thresholds between the macro F1 estimate and each end of its interval (from the first
    run): on the interval, >= compares the lower bound and <= the upper bound, so both fail;
    on the estimate both pass."""
    first = _json(scheduled.out / "results.json")["averages"]["macro"]["f1"]
    # between the interval's end and the estimate: passes on the estimate only
    ge = (first["ci_low"] + first["estimate"]) / 2
    le = (first["estimate"] + first["ci_high"]) / 2
    assert first["ci_low"] < ge < first["estimate"] < le < first["ci_high"]
    gates = ["--gate", f"macro.f1 >= {ge!r}", "--gate", f"macro.f1 <= {le!r}"]
    shutil.copy(scheduled.dir / "example.csv", tmp_path / "example.csv")
    flip = ["audit", "example.csv", "--n-resamples", "200", "--seed", "11", "--format", "json,md"]

    proc = _ok(cli(*flip, "--out-dir", "flip_i", *gates, cwd=tmp_path), code=1)
    assert any(
        x.startswith("prevalens: 2 of 2 quality gates failed: macro.f1 >= ")
        for x in proc.stderr.splitlines()
    ), proc.stderr
    d = _json(tmp_path / "flip_i" / "results.json")
    assert d["averages"]["macro"]["f1"] == first  # the same run: same intervals
    ge_item, le_item = d["gates"]["items"]
    assert (ge_item["compared"], ge_item["value"], ge_item["passed"]) == (
        "ci_low",
        first["ci_low"],
        False,
    )
    assert (le_item["compared"], le_item["value"], le_item["passed"]) == (
        "ci_high",
        first["ci_high"],
        False,
    )

    _ok(cli(*flip, "--out-dir", "flip_e", "--gate-on", "estimate", *gates, cwd=tmp_path), code=0)
    d = _json(tmp_path / "flip_e" / "results.json")
    assert d["gates"]["basis"] == "estimate" and d["gates"]["passed"] is True
    for item in d["gates"]["items"]:
        assert (item["compared"], item["value"], item["passed"]) == (
            "estimate",
            first["estimate"],
            True,
        )
    md = (tmp_path / "flip_e" / "summary.md").read_text("utf-8")
    assert "**Quality gates: PASS (2/2)**" in md


def test_gate_on_an_undefined_metric_fails_with_a_note(cli, tmp_path, data):
    (tmp_path / "undefined").mkdir()
    (tmp_path / "no_interval").mkdir()
    proc = _ok(
        cli(
            "audit",
            data.example,
            "--out-dir",
            "out",
            "--format",
            "json",
            "--n-resamples",
            "0",
            "--seed",
            "1",
            "--gate-on",
            "estimate",
            "--gate",
            "class.eight.precision >= 0",
            "--gate",
            "macro.recall >= 0.1",
            cwd=tmp_path / "undefined",
        ),
        code=1,
    )
    assert "class.eight.precision >= 0" in proc.stderr
    d = _json(tmp_path / "undefined" / "out" / "results.json")
    undefined, fine = d["gates"]["items"]
    eight = next(c for c in d["per_class"] if c["label"] == "eight")
    assert eight["metrics"]["precision"]["estimate"] is None  # never predicted
    assert undefined["passed"] is False and undefined["value"] is None
    assert undefined["note"].startswith("undefined")
    assert fine["passed"] is True  # macro.recall >= 0.1 on the estimate
    # no interval (n_resamples = 0) on the default basis: fails too, and says why
    _ok(
        cli(
            "audit",
            data.clean,
            *FAST,
            "--seed",
            "1",
            "--gate",
            "macro.f1 >= 0.1",
            cwd=tmp_path / "no_interval",
        ),
        code=1,
    )
    item = _json(tmp_path / "no_interval" / "out" / "results.json")["gates"]["items"][0]
    assert item["passed"] is False and item["value"] is None
    assert "no interval" in item["note"]


def test_gate_on_an_empty_stratum_fails_with_a_note(cli, tmp_path, data):
    _ok(
        cli(
            "audit",
            data.clean,
            *FAST,
            "--seed",
            "1",
            "--gate-on",
            "estimate",
            "--gate",
            "stratum.rare.recall >= 0.5",
            cwd=tmp_path,
        ),
        code=1,
    )
    item = _json(tmp_path / "out" / "results.json")["gates"]["items"][0]
    assert item["passed"] is False and "no class" in item["note"]


def test_gate_without_threshold_says_so(cli, tmp_path, data):
    proc, _, _ = _run_bad(cli, tmp_path, data, _BY_ID["gate-missing-threshold"])
    line = _assert_one_line_error(proc)
    assert "threshold '='" not in line
    assert "NAME OP NUMBER" in line or "missing" in line


# ------------------------------------------------------------------------------------------------
# baseline


def test_baseline_block_compares_both_runs(cli, tmp_path, data, scheduled):
    shutil.copytree(scheduled.out, tmp_path / "out")  # last month's run
    proc = _ok(
        cli(
            "audit",
            data.example_mod,
            "--n-resamples",
            "200",
            "--seed",
            "12",
            "--format",
            "json,md",
            "--out-dir",
            "base_out",
            "--baseline",
            "out/results.json",
            cwd=tmp_path,
        )
    )
    old_path = tmp_path / "out" / "results.json"
    old = _json(old_path)
    new = _json(tmp_path / "base_out" / "results.json")
    block = new["baseline"]
    assert block["path"] == "out/results.json"
    assert block["sha256"] == hashlib.sha256(old_path.read_bytes()).hexdigest()
    assert block["created_utc"] == old["run"]["created_utc"]
    assert block["inputs_changed"] is True
    assert block["classes_added"] == [] and block["classes_removed"] == []
    names = [i["metric"] for i in block["items"]]
    assert {"macro.f1", "micro.recall", "overall.accuracy", "gap.recall"} <= set(names)
    moved = 0
    for item in block["items"]:
        o, n = _est(old, item["metric"]), _est(new, item["metric"])
        assert item["old"] == o and item["new"] == n, item["metric"]
        diff = item["difference"]
        if o["estimate"] is None or n["estimate"] is None:
            assert diff["estimate"] is None and diff["status"] == "undefined"
        else:
            assert diff["estimate"] == pytest.approx(n["estimate"] - o["estimate"], abs=1e-12)
            moved += diff["estimate"] != 0
        if diff["ci_low"] is not None:
            assert diff["ci_low"] <= diff["estimate"] <= diff["ci_high"]
            assert item["significant"] == (diff["ci_low"] > 0 or diff["ci_high"] < 0)
        if None in (o["ci_low"], o["ci_high"], n["ci_low"], n["ci_high"]):
            assert item["overlap"] is None
        else:
            assert item["overlap"] == (o["ci_low"] <= n["ci_high"] and n["ci_low"] <= o["ci_high"])
    assert moved > 0  # the data changed, so did some numbers
    assert block["comparison"] == "unpaired" and block["confidence_level"] == 0.95
    assert [c["label"] for c in block["per_class"]] == [
        str(c["label"])
        for c in sorted(new["per_class"], key=lambda c: (-c["support"], str(c["label"])))
    ]
    md = (tmp_path / "base_out" / "summary.md").read_text("utf-8")
    assert "## Changes since the previous audit" in md
    assert "since the baseline" in proc.stdout


def test_report_shows_config_methods_and_changes(cli, tmp_path, data):
    """The HTML report prints the resolved configuration (reproducibility), the options in its
    methods section, and the comparison with the baseline named in the config file."""
    (tmp_path / "silent").mkdir()
    _ok(cli(*_clean_args(data), "--format", "json", cwd=tmp_path / "silent"))  # the baseline
    _write(tmp_path / "report" / "clean.csv", CLEAN_CSV)
    _toml(
        tmp_path / "report" / "report.toml",
        'seed = 7\nn-resamples = 200\nmin_support = 12\nmultiplicity = "sidak"\n'
        'model_name = "triage v3"\nbaseline = "../silent/out/results.json"\n',
    )
    _ok(
        cli(
            "audit",
            "clean.csv",
            "--config",
            "report.toml",
            "--format",
            "json,html",
            "--out-dir",
            "out",
            cwd=tmp_path / "report",
        )
    )
    out = tmp_path / "report" / "out"
    assert _listing(out) == ["report.html", "results.json"]
    d = _json(out / "results.json")
    cfg = d["run"]["config"]
    assert (
        Path(d["baseline"]["path"]).resolve()
        == (tmp_path / "silent" / "out" / "results.json").resolve()
    )
    html = (out / "report.html").read_text("utf-8")
    assert "Changes since the previous audit" in html
    table = _html_pairs(html, "reproducibility")
    for key, value in (
        ("seed", "7"),
        ("n_resamples", "200"),
        ("min_support", "12"),
        ("multiplicity", "sidak"),
        ("model_name", "triage v3"),
        ("format", "json, html"),
        ("config_file", "report.toml"),
        ("resampling", "stratified"),
    ):
        assert (
            table[key]
            == value
            == (", ".join(cfg[key]) if isinstance(cfg[key], list) else str(cfg[key]))
        ), key
    assert {o.key for o in OPTIONS if o.recorded} <= set(table)
    methods = _html_pairs(html, "methods")
    assert methods["Seed"] == "7" and methods["Replicates (B)"] == "200"
    assert methods["Minimum support"] == "12" and methods["Simultaneous intervals"] == "sidak"


# ------------------------------------------------------------------------------------------------
# exports


def _read_csv(path: Path) -> list[list[str]]:
    with path.open(newline="", encoding="utf-8") as fh:
        return list(csv.reader(fh))


def _csv_num(cell: str):
    return None if cell == "" else float(cell)


def test_csv_exports_round_trip_through_csv_reader(scheduled):
    out = scheduled.out
    d = _json(out / "results.json")
    rows = _read_csv(out / "per_class.csv")
    header = rows[0]
    assert header[:5] == ["label", "support", "predicted", "stratum", "flags"]
    assert len(set(header)) == len(header)
    assert all(len(r) == len(header) for r in rows)
    assert len(rows) - 1 == d["data"]["n_classes"] == len(d["per_class"])
    for row, c in zip(rows[1:], d["per_class"]):
        cells = dict(zip(header, row))
        assert cells["label"] == str(c["label"])
        assert int(cells["support"]) == c["support"] and int(cells["predicted"]) == c["predicted"]
        for m, e in c["metrics"].items():
            estimate = c["prevalence"] if m == "prevalence" else e["estimate"]
            assert _csv_num(cells[m]) == estimate, (c["label"], m)
            assert _csv_num(cells[f"{m}_ci_low"]) == e["ci_low"]
            assert _csv_num(cells[f"{m}_ci_high"]) == e["ci_high"]

    rows = _read_csv(out / "headline.csv")
    assert tuple(rows[0]) == HEADLINE_COLUMNS
    seen = set()
    for row in rows[1:]:
        r = dict(zip(HEADLINE_COLUMNS, row))
        if r["section"] == "average":
            e = d["averages"][r["name"]][r["metric"]]
        elif r["section"] == "overall":
            e = d["overall"][r["metric"]]
        elif r["section"] == "gap":
            e = d["gap"][r["metric"]][r["name"]]
        else:
            assert r["section"] == "stratum_macro"
            e = {s["name"]: s for s in d["strata"]}[r["name"]]["macro"][r["metric"]]
        seen.add(r["section"])
        for col in ("estimate", "ci_low", "ci_high", "se"):
            assert _csv_num(r[col]) == e.get(col), (r, col)
    assert seen == {"average", "overall", "gap", "stratum_macro"}
    n_average = sum(len(v) for v in d["averages"].values())
    assert sum(1 for r in rows[1:] if r[0] == "average") == n_average


def test_markdown_renders_the_numbers_of_the_json(scheduled):
    out = scheduled.out
    d = _json(out / "results.json")
    md = (out / "summary.md").read_text("utf-8")
    names = {metric_name(m): m for m in d["averages"]["micro"]}
    table = _md_table(md, "Headline metrics")
    assert table[0] == ["Metric", "Micro", "Macro", "Weighted"]
    shown = [names[r[0]] for r in table[1:]]
    assert shown == ["precision", "recall", "f1", "roc_auc"]
    for row in table[1:]:
        for avg, cell in zip(("micro", "macro", "weighted"), row[1:]):
            _assert_shows(cell, d["averages"][avg][names[row[0]]])
    overall_names = {metric_name(m): m for m in d["overall"]}
    table = _md_table(md, "Overall")
    assert len(table) > 2
    for name, cell in table[1:]:
        _assert_shows(cell, d["overall"][overall_names[name]])
    gap_names = {metric_name(m): m for m in d["gap"]}
    for row in _md_table(md, "Micro-macro gap")[1:]:
        _assert_shows(row[1], d["gap"][gap_names[row[0]]]["macro_minus_micro"])
    assert "330 samples · 10 classes · seed 11 · B = 200" in md


def _latex_check(tex: str) -> None:
    tex = "\n".join(re.sub(r"(?<!\\)%.*$", "", x) for x in tex.splitlines())  # comments
    stack = []
    for kind, env in re.findall(r"\\(begin|end)\{([^}]+)\}", tex):
        if kind == "begin":
            stack.append(env)
        else:
            assert stack and stack.pop() == env, f"\\end{{{env}}} does not close {stack}"
    assert stack == []
    tabulars = re.findall(r"\\begin\{(?:tabular|longtable)\}\{([lrc]+)\}", tex)
    n_tables = 2 + ("tab:prevalens-calibration" in tex)  # with probabilities: the calibration
    assert len(tabulars) == n_tables
    for rule in ("toprule", "midrule", "bottomrule"):
        assert tex.count("\\" + rule) == n_tables, rule
    assert tex.count(r"\caption{") == n_tables
    assert r"\label{tab:prevalens-headline}" in tex and r"\label{tab:prevalens-per-class}" in tex
    # every row of each table has as many cells as its column spec
    for block, spec in zip(re.findall(r"\\toprule\n(.*?)\\bottomrule", tex, re.S), tabulars):
        rows = [x for x in block.splitlines() if x.endswith(r"\\")]
        assert rows
        for row in rows:
            assert row.count(" & ") + 1 == len(spec), row


def test_latex_tables_are_well_formed(scheduled):
    out = scheduled.out
    d = _json(out / "results.json")
    tex = (out / "tables.tex").read_text("utf-8")
    _latex_check(tex)
    assert tex.count(r"\\") >= 2 + 4 + d["data"]["n_classes"]  # headers + metrics + classes


@pytest.mark.skipif(shutil.which("pdflatex") is None, reason="no pdflatex: structure only")
def test_latex_tables_compile(scheduled, tmp_path):
    shutil.copy(scheduled.out / "tables.tex", tmp_path / "tables.tex")
    (tmp_path / "main.tex").write_text(
        "\\documentclass{article}\n\\usepackage[utf8]{inputenc}\n\\usepackage{booktabs}\n"
        "\\usepackage{longtable}\n\\begin{document}\n\\input{tables}\n\\end{document}\n",
        encoding="utf-8",
    )
    proc = subprocess.run(
        ["pdflatex", "-interaction=nonstopmode", "-halt-on-error", "main.tex"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert proc.returncode == 0, proc.stdout[-3000:]
    assert (tmp_path / "main.pdf").read_bytes().startswith(b"%PDF-")


def test_render_reproduces_the_exports_byte_for_byte(cli, tmp_path, scheduled):
    rendered, audited = tmp_path / "rendered", scheduled.out
    proc = _ok(
        cli(
            "render",
            audited / "results.json",
            "--format",
            "md,tex,csv",
            "--out-dir",
            rendered,
            cwd=tmp_path,
        )
    )
    assert proc.stderr == ""
    names = [
        "calibration.csv",
        "calibration_bins.csv",
        "headline.csv",
        "per_class.csv",
        "summary.md",
        "tables.tex",
    ]
    assert _listing(rendered) == names
    for name in names:
        assert (rendered / name).read_bytes() == (audited / name).read_bytes(), name
    assert {x for x in proc.stdout.splitlines()} == {f"wrote {rendered / n}" for n in names}


# ------------------------------------------------------------------------------------------------
# the catalogue


def test_catalogue_has_at_least_25_cases_here():
    assert len(_RUNNABLE) >= 25, [c.id for c in _RUNNABLE]


def _case_param(case: Bad):
    marks = []
    if case.root_skip:
        marks.append(pytest.mark.skipif(IS_ROOT, reason=ROOT_REASON))
    if case.xfail:
        marks.append(pytest.mark.xfail(strict=True, reason=case.xfail))
    return pytest.param(case, id=case.id, marks=marks)


_BY_ID = {c.id: c for c in CATALOGUE}


def _prepare_bad(d: Path, data, case: Bad) -> None:
    """``d`` laid out for ``case``: out/results.json from an earlier audit, and its files."""
    _write(d / "out" / "results.json", data.earlier_bytes)
    for name, content in case.files.items():
        _write(d / name, content)
    if case.id == "baseline-nan-token":
        text = data.earlier_bytes.decode("utf-8")
        text, n = re.subn(r'("estimate": )-?[0-9.e+-]+', r"\1NaN", text, count=1)
        assert n == 1
        _write(d / "old.json", text)


def _run_bad(cli, tmp_path, data, case: Bad):
    """Run ``case`` in ``tmp_path / "cwd"`` (laid out by ``_prepare_bad``, then ``chmod``):
    ``(run, snapshot before, snapshot after)``. The mode is restored afterwards."""
    d = tmp_path / "cwd"
    _prepare_bad(d, data, case)
    mode = None
    if case.chmod:
        target = d / case.chmod[0]
        mode = target.stat().st_mode
        os.chmod(target, case.chmod[1])
    try:
        before = _snapshot(d)
        args = [a.format(**data.fill) for a in case.args]
        if case.subprocess:  # the case says why
            proc = run_python_m(args, cwd=d, env=case.env)
        else:
            proc = cli(*args, cwd=d, env=case.env)
        return proc, before, _snapshot(d)
    finally:
        if mode is not None:
            os.chmod(target, mode)


@pytest.mark.parametrize("case", [_case_param(c) for c in CATALOGUE])
def test_bad_invocation_one_line_exit_2_nothing_written(cli, tmp_path, data, case):
    proc, before, after = _run_bad(cli, tmp_path, data, case)
    line = _assert_one_line_error(proc)
    assert line.startswith("prevalens: error: ")
    for fragment in case.expect:
        assert fragment in line, (fragment, line)
    assert not [p for p in after if re.search(r"(^|/)\..*\.tmp$", p)]  # no temporary file
    assert after == before  # the earlier results.json byte-identical, nothing new anywhere
    assert after["out/results.json"] == data.earlier_bytes


def test_progress_percentage_only_on_a_terminal(capsys):
    """Progress.fraction rewrites the open line with a percentage on a terminal, and the line
    ends with the step's time without it; a log (not a terminal) gets no percentages."""
    from prevalens.cli import Progress

    for tty in (True, False):
        p = Progress(True)
        p._tty = tty
        p("counting big.parquet with DuckDB")
        p.fraction(0.5)
        p.fraction(1.0)
        p.done()
        err = capsys.readouterr().err
        assert err.startswith("prevalens: counting big.parquet with DuckDB ...")
        assert re.search(r" \d+\.\d s\n$", err)
        if tty:
            assert "\rprevalens: counting big.parquet with DuckDB ...  50%" in err
            assert "100%" in err and err.count("\n") == 1
        else:
            assert "%" not in err and "\r" not in err
