"""Exports (``prevalens.exports``): the per-class and headline CSV, the Markdown summary and the
LaTeX tables, made from the results dict of real audits.

Three audits are built once per module (about a second in all): the bundled example (seed 1,
B = 200), a 10-class audit whose class labels, stratum names and model/dataset names are hostile
(formula injection, Markdown and HTML, every LaTeX special character, line breaks, a carriage
return, a label that looks like a negative number, a non-ASCII label), and a 50-class audit
without bootstrap (B = 0), which puts the per-class LaTeX table in a ``longtable``.

Expected numbers are never copied from output: they are read from the results dict and
formatted by ``_expected`` below, written independently of ``prevalens.report.model`` from the
display rule (decimals from the interval width: 2 for >= 0.01, 3 for >= 0.001, else 4; more while
a value would read as a bound (0 or 1) it is not).

When ``pdflatex`` or ``lualatex`` is on the PATH, the LaTeX of each audit is compiled for real
(``texlive-latex-base`` and ``texlive-latex-recommended`` provide pdflatex, booktabs and
longtable); otherwise that test is skipped.
"""

from __future__ import annotations

import copy
import csv
import doctest
import io
import math
import re
import shutil
import subprocess
import unicodedata
import warnings

import numpy as np
import pandas as pd
import pytest

import prevalens as pv
from prevalens import baseline as pv_baseline
from prevalens import exports
from prevalens.data import example_path
from prevalens.exceptions import ConfigError
from prevalens.exports import (
    EXPORTS,
    HEADLINE_COLUMNS,
    calibration_bins_csv,
    calibration_csv,
    export_files,
    headline_csv,
    latex_tables,
    markdown_summary,
    per_class_csv,
)
from prevalens.report import render

HOSTILE_LABELS = [
    "<script>alert(1)</script>",
    "a|b",
    "=cmd|' /C calc'!A0",
    "x_y^z & 100% $\\undefined$ #~{}",
    "line\nbreak",
    "\rCR",
    "-1",
    "[x]*",
    "café -- ``quoted''",
    "back\\slash `tick` &amp; <b>bold</b>",
]
HOSTILE_STRATUM = "=rare|<i>x</i>_*"
HOSTILE_MODEL = "<img src=x onerror=alert(1)> | *model*"
HOSTILE_DATASET = "data_set\n# not a heading [link](http://x)"
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
AVERAGES = ("micro", "macro", "weighted")
TEX_SPECIALS = set("\\{}$&#^_%~<>|")


# ------------------------------------------------------------------------------------------------
# fixtures


def _audit(*args, **kwargs) -> dict:
    with warnings.catch_warnings():  # undefined metrics of small classes warn; not under test
        warnings.simplefilter("ignore", pv.PrevalensWarning)
        return pv.audit(*args, **kwargs).to_dict()


@pytest.fixture(scope="module")
def example() -> dict:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", pv.PrevalensWarning)
        result = pv.audit_predictions(
            pv.load_predictions(example_path()), pv.AuditConfig(seed=1, n_resamples=200)
        )
    return result.to_dict()


@pytest.fixture(scope="module")
def hostile() -> dict:
    rng = np.random.default_rng(3)
    k = len(HOSTILE_LABELS)
    p = np.array([0.3, 0.2, 0.15, 0.1, 0.08, 0.06, 0.05, 0.03, 0.02, 0.01])
    y = rng.choice(k, size=600, p=p)
    pred = np.where(rng.random(y.size) < 0.75, y, rng.choice(k, size=y.size))
    s = rng.random((y.size, k))
    s[np.arange(y.size), pred] += 2.0
    lab = np.array(HOSTILE_LABELS, dtype=object)
    d = _audit(
        lab[y],
        lab[pred],
        y_score=s / s.sum(axis=1, keepdims=True),
        labels=HOSTILE_LABELS,
        n_resamples=200,
        seed=3,
    )
    # a hostile stratum name (users name strata) and model/dataset names, as the CLI records them
    old = d["strata"][0]["name"]
    d["strata"][0]["name"] = HOSTILE_STRATUM
    for c in d["per_class"]:
        if c["stratum"] == old:
            c["stratum"] = HOSTILE_STRATUM
    d["run"]["config"]["model_name"] = HOSTILE_MODEL
    d["run"]["config"]["dataset_name"] = HOSTILE_DATASET
    assert any(set(f["classes"]) & set(HOSTILE_LABELS) for f in d["findings"])  # labels in text
    return d


@pytest.fixture(scope="module")
def many() -> dict:
    k = 50
    rng = np.random.default_rng(0)
    p = 1.0 / np.arange(1, k + 1)
    y = np.concatenate([np.arange(k), rng.choice(k, size=1500, p=p / p.sum())])
    pred = np.where(rng.random(y.size) < 0.7, y, rng.choice(k, size=y.size))
    lab = np.array([f"class_{i:02d}" for i in range(k)], dtype=object)
    return _audit(lab[y], lab[pred], labels=list(lab), n_resamples=0, seed=0)


@pytest.fixture(params=["example", "hostile", "many"])
def d(request) -> dict:
    return request.getfixturevalue(request.param)


# ------------------------------------------------------------------------------------------------
# helpers written independently of the module under test


def _fmt_value(x: float, digits: int, bounds=()) -> str:
    text = f"{x:.{digits}f}"
    if float(text) in bounds and x not in bounds:  # a bound it is not: compare with the next value
        step = 10.0**-digits
        return (
            f"<{float(text) + step:.{digits}f}"
            if x > float(text)
            else f">{float(text) - step:.{digits}f}"
        )
    return f"{0.0:.{digits}f}" if float(text) == 0 else text  # never "-0.00"


def _needs(x: float, digits: int, bounds, cap: int) -> int:
    while digits < cap and float(f"{x:.{digits}f}") in bounds and x not in bounds:
        digits += 1
    return digits


def _expected(e, bounds=(0.0, 1.0)) -> str:
    """The display rule: ``0.61 [0.58, 0.64]``, ``0.61`` without an interval, ``undefined``;
    an estimate gets up to 6 decimals and a bound up to 4 so as not to read as 0 or 1, and a bound
    closer than that reads ``>0.9999``."""
    if not e or e.get("estimate") is None:
        return "undefined"
    has_ci = e.get("ci_low") is not None and e.get("ci_high") is not None
    values = [e["estimate"]] + ([e["ci_low"], e["ci_high"]] if has_ci else [])
    width = e["ci_high"] - e["ci_low"] if has_ci else None
    digits = 2 if width is None or width >= 0.01 else 3 if width >= 0.001 else 4
    digits = max(
        [_needs(e["estimate"], digits, bounds, 6)]
        + [_needs(v, digits, bounds, max(digits, 4) if 1.0 in bounds else 6) for v in values[1:]]
    )
    est, *ci = (_fmt_value(v, digits, bounds) for v in values)
    mark = "\u2248" if e.get("status") == "unstable" else ""  # an approximate interval
    return f"{est} {mark}[{ci[0]}, {ci[1]}]" if ci else est


def _parse_interval(cell: str):
    m = re.fullmatch(
        r"([<>]?)(-?\d+\.(\d+))(?: \u2248?\[([<>]?)(-?\d+\.\d+), ([<>]?)(-?\d+\.\d+)\])?", cell
    )
    assert m, cell
    digits = len(m.group(3))
    shown = [(m.group(1), float(m.group(2)))]
    if m.group(5):
        shown += [(m.group(4), float(m.group(5))), (m.group(6), float(m.group(7)))]
    return shown, digits


def _assert_shows(cell: str, e: dict, bounds=(0.0, 1.0)):
    """``cell`` is ``e`` after formatting: the same text as the display rule gives, and every
    number in it is the JSON number rounded to the decimals shown (or, for ``>0.9999``, a true
    comparison with a number one step from it)."""
    assert cell == _expected(e, bounds), (cell, e)
    if cell == "undefined":
        assert e is None or e.get("estimate") is None
        return
    values, digits = _parse_interval(cell)
    json_values = [e["estimate"]] + ([e["ci_low"], e["ci_high"]] if len(values) == 3 else [])
    step = 10.0**-digits
    for (sign, shown), true in zip(values, json_values):
        if sign == ">":
            assert shown < true < shown + step, (cell, e)
        elif sign == "<":
            assert shown - step < true < shown, (cell, e)
        else:
            assert abs(shown - true) <= 0.5 * step + 1e-12, (cell, e)


def _oneline(text) -> str:
    return "".join(
        " " if unicodedata.category(ch) in ("Cc", "Zl", "Zp") else ch for ch in str(text)
    )


def _neutralised(value) -> str:
    """What a CSV cell must hold for this value: numbers as they are, text that a spreadsheet
    would run as a formula prefixed with a quote."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value)
    text = str(value)
    return "'" + text if text[:1] in FORMULA_START else text


def _rows(data: bytes) -> list[list[str]]:
    return list(csv.reader(io.StringIO(data.decode("utf-8"), newline="")))


def _frame(data: bytes) -> pd.DataFrame:
    """pandas' reading, every cell as text (compared with the csv module's and parsed by Python)."""
    return pd.read_csv(io.BytesIO(data), keep_default_na=False, dtype=str)


def _num_cell(cell: str, value):
    if value is None:
        assert cell == ""
    else:
        assert not cell.startswith("'") and float(cell) == value, (cell, value)


# Markdown ---------------------------------------------------------------------------------------


def _md_split(line: str) -> list[str]:
    """A GFM table row split into cells, backslash escapes undone (as CommonMark reads them)."""
    assert line.startswith("| ") and line.endswith(" |"), line
    cells, buf, i = [], [], 1
    while i < len(line):
        ch = line[i]
        if ch == "\\" and i + 1 < len(line):
            buf.append(line[i + 1])
            i += 2
            continue
        if ch == "|":
            cells.append("".join(buf).strip())
            buf = []
        else:
            buf.append(ch)
        i += 1
    return cells


def _md_unescape(text: str) -> str:
    return re.sub(r"\\(.)", r"\1", text)


def _md_sections(text: str) -> dict:
    """``{heading: {"lines": [...], "tables": [(header, rows)]}}`` for each ``## `` section."""
    sections, current = {}, None
    lines = text.split("\n")
    i = 0
    while i < len(lines):
        line = lines[i]
        if line.startswith("## "):
            current = sections.setdefault(line[3:], {"lines": [], "tables": []})
        elif current is not None and line.startswith("|"):
            header = _md_split(line)
            assert re.fullmatch(r"\|(-{3}:?\|)+", lines[i + 1]), lines[i + 1]
            assert lines[i + 1].count("|") == len(header) + 1
            rows = []
            i += 2
            while i < len(lines) and lines[i].startswith("|"):
                rows.append(_md_split(lines[i]))
                assert len(rows[-1]) == len(header), (lines[i], header)  # no extra column
                i += 1
            current["tables"].append((header, rows))
            continue
        elif current is not None:
            current["lines"].append(line)
        i += 1
    return sections


def _md(d: dict) -> str:
    return markdown_summary(d).decode("utf-8")


# LaTeX ------------------------------------------------------------------------------------------

_TEX_UNESCAPE = [
    (r"$\approx$", "\u2248"),
    (r"\textbackslash{}", "\\"),
    (r"\textasciicircum{}", "^"),
    (r"\textasciitilde{}", "~"),
    (r"\textless{}", "<"),
    (r"\textgreater{}", ">"),
    (r"\textbar{}", "|"),
    (r"\textasciigrave{}", "`"),
    (r"\textquotesingle{}", "'"),
    ("{[}", "["),
    ("{]}", "]"),
    ("{*}", "*"),
    ("-{}", "-"),
    (",{}", ","),
    (r"\allowbreak{}", ""),
    (r"\{", "{"),
    (r"\}", "}"),
    (r"\$", "$"),
    (r"\&", "&"),
    (r"\#", "#"),
    (r"\_", "_"),
    (r"\%", "%"),
]


def _tex_unescape(cell: str) -> str:
    """Undo the escapes, one token at a time; fails on any other special character (an escape
    the exporter forgot would reach TeX as markup)."""
    out, i = [], 0
    while i < len(cell):
        for seq, ch in _TEX_UNESCAPE:
            if cell.startswith(seq, i):
                out.append(ch)
                i += len(seq)
                break
        else:
            assert cell[i] not in TEX_SPECIALS, (cell, i)
            out.append(cell[i])
            i += 1
    return "".join(out)


def _tex_cells(row: str) -> list[str]:
    assert row.endswith(r" \\"), row
    return re.split(r"(?<!\\)&", row[:-3])


def _tex_tables(text: str) -> list[dict]:
    """Every tabular/longtable: its column spec and its lines between the environment's begin
    and end."""
    tables = []
    for m in re.finditer(
        r"\\begin\{(tabular|longtable)\}\{([a-z]+)\}\n(.*?)\\end\{\1\}", text, re.S
    ):
        tables.append({"env": m.group(1), "spec": m.group(2), "lines": m.group(3).splitlines()})
    return tables


def _tex_body_rows(table: dict) -> list[list[str]]:
    """The data rows (after the last ``\\midrule`` of the head, before ``\\bottomrule``)."""
    lines = table["lines"]
    if table["env"] == "longtable":
        lines = lines[lines.index(r"\endlastfoot") + 1 :]
    else:
        lines = lines[lines.index(r"\midrule") + 1 : lines.index(r"\bottomrule")]
    # rows after the first start with a little space (booktabs' \addlinespace)
    assert not lines[0].startswith(GAP) and all(line.startswith(GAP) for line in lines[1:])
    return [[c.strip() for c in _tex_cells(line.removeprefix(GAP))] for line in lines]


GAP = r"\addlinespace[2pt] "


def _tex(d: dict) -> str:
    return latex_tables(d).decode("utf-8")


def _tex_stacked(cell: str, align: str = "r") -> tuple[str, str]:
    """The two lines of a ``\\prevalensstack[align]{top}{bottom}`` cell, read brace by brace
    (escaped braces ``\\{`` and ``\\}`` are text)."""
    opt = "" if align == "r" else f"[{align}]"
    head = "\\prevalensstack" + opt + "{"
    assert cell.startswith(head), cell
    args, depth, start, i = [], 0, len(head) - 1, len(head) - 1
    while i < len(cell):
        ch = cell[i]
        if ch == "\\":
            i += 2
            continue
        if ch == "{":
            depth += 1
        elif ch == "}":
            depth -= 1
            if depth == 0:
                args.append(cell[start + 1 : i])
                start = i + 1
                if len(args) == 2:
                    break
        i += 1
    assert len(args) == 2 and i == len(cell) - 1, cell
    return args[0], args[1]


def _tex_class(cell: str) -> tuple[str, str, str]:
    """The label, stratum and marks of a ``\\prevalensclass{label}{stratum}{marks}`` cell, read
    brace by brace (escaped braces ``\\{`` and ``\\}`` are text)."""
    head = "\\prevalensclass{"
    assert cell.startswith(head), cell
    args, depth, start, i = [], 0, len(head) - 1, len(head) - 1
    while i < len(cell):
        ch = cell[i]
        if ch == "\\":
            i += 2
            continue
        if ch == "{":
            depth += 1
        elif ch == "}":
            depth -= 1
            if depth == 0:
                args.append(cell[start + 1 : i])
                start = i + 1
                if len(args) == 3:
                    break
        i += 1
    assert len(args) == 3 and i == len(cell) - 1, cell
    return args[0], args[1], args[2]


def _tex_estimate(cell: str) -> str:
    """A per-class metric cell as one line: ``0.61 [0.58, 0.64]``."""
    if not cell.startswith("\\prevalensstack"):
        return cell
    top, bottom = _tex_stacked(cell)
    return (
        f"{top} {bottom}".replace(r"$\approx$", "\u2248")
        .replace(r"\textgreater{}", ">")
        .replace(r"\textless{}", "<")
    )


# ------------------------------------------------------------------------------------------------
# per_class.csv


def test_render_reexports_the_same_function():
    assert render.per_class_csv is per_class_csv
    assert "per_class_csv" in render.__all__


def test_class_prevalence_is_the_prevalence_metric(d):
    """per_class.csv has one ``prevalence`` column for both; that is only right if they agree."""
    for c in d["per_class"]:
        assert c["prevalence"] == c["metrics"]["prevalence"]["estimate"]


def test_per_class_csv_round_trips_exactly(d):
    data = per_class_csv(d)
    rows = _rows(data)
    header, body = rows[0], rows[1:]
    assert len(header) == len(set(header)), [h for h in header if header.count(h) > 1]
    assert len(body) == len(d["per_class"]) and all(len(r) == len(header) for r in body)
    col = {name: i for i, name in enumerate(header)}
    metrics = {m for c in d["per_class"] for m in c["metrics"]}
    assert set(header) == {"label", "support", "predicted", "stratum", "flags"} | {
        f"{m}{suffix}" for m in metrics for suffix in ("", "_ci_low", "_ci_high", "_status")
    }
    frame = _frame(data)
    assert list(frame.columns) == header and len(frame) == len(body)
    for i, (row, c) in enumerate(zip(body, d["per_class"])):
        assert row[0] == _neutralised(c["label"])
        assert frame["label"][i] == row[0]  # pandas reads the same cell
        assert int(row[col["support"]]) == c["support"]
        assert int(row[col["predicted"]]) == c["predicted"]
        assert row[col["stratum"]] == _neutralised(c["stratum"] or "")
        assert row[col["flags"]] == _neutralised(";".join(c["flags"]))
        _num_cell(row[col["prevalence"]], c["prevalence"])
        for m, e in c["metrics"].items():
            if m != "prevalence":
                _num_cell(row[col[m]], e["estimate"])
            _num_cell(row[col[f"{m}_ci_low"]], e["ci_low"])
            _num_cell(row[col[f"{m}_ci_high"]], e["ci_high"])
            assert row[col[f"{m}_status"]] == e["status"]
            for key in ("", "_ci_low", "_ci_high"):
                cell = frame[f"{m}{key}"][i]
                assert cell == row[col[f"{m}{key}"]]
                if cell:
                    assert float(cell) == float(row[col[f"{m}{key}"]])


def test_per_class_csv_neutralises_hostile_labels(hostile):
    rows = _rows(per_class_csv(hostile))
    assert [r[0] for r in rows[1:]] == [_neutralised(x) for x in HOSTILE_LABELS]
    assert rows[1 + HOSTILE_LABELS.index("-1")][0] == "'-1"  # text that looks like a number
    assert rows[1 + HOSTILE_LABELS.index("\rCR")][0] == "'\rCR"
    assert rows[1 + HOSTILE_LABELS.index("line\nbreak")][0] == "line\nbreak"
    strata = {r[3] for r in rows[1:]}
    assert "'" + HOSTILE_STRATUM in strata and HOSTILE_STRATUM not in strata


@pytest.mark.parametrize("make", [per_class_csv, headline_csv])
def test_csv_no_text_cell_starts_a_formula(d, make):
    for row in _rows(make(d)):
        for cell in row:
            if cell[:1] in FORMULA_START:
                float(cell)  # only a number may start with one of these


@pytest.mark.parametrize("make", [per_class_csv, headline_csv])
def test_csv_is_rfc4180(hostile, make):
    """CRLF row ends and a quoted field for every CR or LF inside a cell: a bare CR or LF never
    ends a row early."""
    text = make(hostile).decode("utf-8")
    assert text.endswith("\r\n")
    n_rows = len(_rows(make(hostile)))
    assert text.count("\r\n") >= n_rows
    unquoted = re.sub(r'"(?:[^"]|"")*"', "", text)  # drop every quoted field
    assert unquoted.count("\r") == unquoted.count("\n") == n_rows


def test_numbers_stay_numbers_negative_ones_too(example):
    d = copy.deepcopy(example)
    d["per_class"][0]["label"] = -7  # an integer label is a number
    d["per_class"][1]["metrics"]["recall"]["estimate"] = -0.25
    d["per_class"][1]["metrics"]["recall"]["ci_low"] = -1e-300
    text = per_class_csv(d).decode("utf-8")
    lines = text.split("\r\n")
    assert lines[1].startswith("-7,")
    assert ",-0.25," in lines[2] and ",-1e-300," in lines[2]
    gap_lines = [
        line
        for line in headline_csv(example).decode("utf-8").split("\r\n")
        if line.startswith("gap,")
    ]
    negative = [
        e["estimate"]
        for g in example["gap"].values()
        for e in (g["macro_minus_micro"],)
        if e["estimate"] < 0
    ]
    assert negative and all(any(f",{x!r}," in line for line in gap_lines) for x in negative)


# ------------------------------------------------------------------------------------------------
# headline.csv


def _headline_expected(d: dict) -> list[tuple]:
    rows = []
    for avg in AVERAGES:
        rows += [("average", avg, m, e) for m, e in d["averages"][avg].items()]
    rows += [("overall", "overall", m, e) for m, e in d["overall"].items()]
    for m, g in d["gap"].items():
        rows += [
            ("gap", key, m, g[key])
            for key in ("macro_minus_micro", "macro_minus_weighted")
            if key in g
        ]
    for s in d["strata"]:
        rows += [("stratum_macro", s["name"], m, e) for m, e in s["macro"].items()]
    return rows


def test_headline_csv_round_trips_exactly(d):
    data = headline_csv(d)
    rows = _rows(data)
    header, body = rows[0], rows[1:]
    assert tuple(header) == HEADLINE_COLUMNS and len(set(header)) == len(header)
    expected = _headline_expected(d)
    assert len(body) == len(expected) and all(len(r) == len(header) for r in body)
    frame = _frame(data)
    assert list(frame.columns) == header and len(frame) == len(body)
    col = {name: i for i, name in enumerate(header)}
    for i, (row, (section, name, metric, e)) in enumerate(zip(body, expected)):
        assert row[:3] == [section, _neutralised(name), metric]
        for key in ("estimate", "ci_low", "ci_high", "se"):
            _num_cell(row[col[key]], e.get(key))
            assert frame[key][i] == row[col[key]]
        assert row[col["method"]] == _neutralised(e.get("method") or "")
        assert row[col["status"]] == e["status"]
        assert row[col["note"]] == _neutralised(e.get("note") or "")
    sections = [r[0] for r in body]
    assert sections.count("average") == sum(len(v) for v in d["averages"].values())
    assert sections.count("overall") == len(d["overall"])


def test_headline_csv_neutralises_stratum_names(hostile):
    names = {r[1] for r in _rows(headline_csv(hostile))[1:] if r[0] == "stratum_macro"}
    assert "'" + HOSTILE_STRATUM in names and HOSTILE_STRATUM not in names


# ------------------------------------------------------------------------------------------------
# summary.md


def test_markdown_headline_numbers_equal_the_json(d):
    sections = _md_sections(_md(d))
    ((header, rows),) = sections["Headline metrics"]["tables"]
    assert header == ["Metric", "Micro", "Macro", "Weighted"]
    metrics = [m for m in ("precision", "recall", "f1", "roc_auc") if m in d["averages"]["micro"]]
    assert len(rows) == len(metrics)
    assert ("roc_auc" in metrics) == d["data"]["has_scores"]
    for row, m in zip(rows, metrics):
        for cell, avg in zip(row[1:], AVERAGES):
            _assert_shows(cell, d["averages"][avg][m])
    ((header, rows),) = sections["Overall"]["tables"]
    overall = [
        m for m in ("accuracy", "balanced_accuracy", "cohen_kappa", "mcc") if m in d["overall"]
    ]
    assert len(rows) == len(overall) == 4
    for row, m in zip(rows, overall):
        _assert_shows(row[1], d["overall"][m])


def test_markdown_gap_and_strata_equal_the_json(d):
    sections = _md_sections(_md(d))
    ((header, rows),) = sections["Micro-macro gap"]["tables"]
    assert len(rows) == len(d["gap"])
    for row, g in zip(rows, d["gap"].values()):
        _assert_shows(row[1], g["macro_minus_micro"], bounds=(0.0,))
        if g.get("macro_minus_weighted"):
            _assert_shows(row[2], g["macro_minus_weighted"], bounds=(0.0,))
    ((header, rows),) = sections["Prevalence strata (macro averages)"]["tables"]
    assert header[:4] == ["Stratum", "Definition", "Classes", "Support"]
    assert len(rows) == len(d["strata"])
    names = {"Recall": "recall", "Precision": "precision", "F1": "f1", "ROC AUC": "roc_auc"}
    for row, s in zip(rows, d["strata"]):
        assert row[0] == _oneline(s["name"])
        assert row[1] == s["bounds"]["description"]
        assert int(row[2]) == s["n_classes"] and int(row[3].replace(",", "")) == s["support"]
        for title, cell in zip(header[4:], row[4:]):
            _assert_shows(cell, s["macro"].get(names[title]))


def test_markdown_run_facts(example):
    text = _md(example)
    title, blank, facts = text.split("\n")[:3]
    assert title == "# Classifier audit" and blank == ""  # no model or dataset name recorded
    run, data = example["run"], example["data"]
    assert f"{data['n_samples']:,} samples" in facts and f"{data['n_classes']} classes" in facts
    assert f"seed {run['seed']}" in facts and f"B = {run['n_resamples']:,}" in facts
    assert f"{run['confidence_level']:.0%} intervals" in facts


def test_markdown_findings_are_the_high_and_medium_ones(d):
    text = _md(d)
    bullets = [line for line in text.split("\n") if line.startswith("- ")]
    wanted = [f for f in d["findings"] if f["severity"] in ("high", "medium")]
    assert len(bullets) == len(wanted)
    for line, f in zip(bullets, wanted):
        assert _md_unescape(line) == f"- **{f['severity']}**: {_oneline(f['text'])}"


def test_markdown_hostile_text_is_inert(hostile):
    text = _md(hostile)
    lines = text.split("\n")
    # the title keeps the names as text, on one line
    assert _md_unescape(lines[0]) == (
        f"# Classifier audit: {_oneline(HOSTILE_MODEL)} on {_oneline(HOSTILE_DATASET)}"
    )
    # no line is started by user text: headings, tables and bullets are the exporter's own
    assert [line for line in lines if line.startswith("#")] == [lines[0]] + [
        f"## {h}" for h in _md_sections(text)
    ]
    assert set(_md_sections(text)) == {
        "Calibration",
        "Headline metrics",
        "Overall",
        "Micro-macro gap",
        "Prevalence strata (macro averages)",
        "Findings",
    }
    # with every backslash escape removed, nothing is left that starts HTML, code, an entity, a
    # link or emphasis other than the exporter's own bold severities
    bare = re.sub(r"\\.", "", text)
    for ch in "<>`&~_":
        assert ch not in bare, ch
    assert bare.count("*") == 4 * sum(
        f["severity"] in ("high", "medium") for f in hostile["findings"]
    )
    assert not re.search(r"\[[^\]]*\]\(", bare)  # no link
    assert HOSTILE_STRATUM in _md_unescape(text)  # the stratum name is shown, as text


# gates and baseline, built by hand with the shapes the lead's results.json uses


def _est(estimate, lo, hi):
    return {
        "estimate": estimate,
        "ci_low": lo,
        "ci_high": hi,
        "se": 0.01,
        "method": "bca(stratified bootstrap, B=200)",
        "status": "ok",
    }


def _gate(spec, metric, threshold, e, passed, basis="ci_low"):
    value = e[basis] if e else None
    return {
        "spec": spec,
        "metric": metric,
        "op": ">=",
        "threshold": threshold,
        "basis": basis,
        "value": value,
        "estimate": e,
        "passed": passed,
    }


def _gates(items, passed):
    return {"basis": "ci_low", "passed": passed, "items": items}


def test_markdown_gates_pass(example):
    d = copy.deepcopy(example)
    macro_f1 = d["averages"]["macro"]["f1"]
    micro_recall, accuracy = d["averages"]["micro"]["recall"], d["overall"]["accuracy"]
    items = [
        _gate("macro.f1 >= 0.1", "macro.f1", 0.1, macro_f1, True),
        _gate("micro.recall >= 0.5", "micro.recall", 0.5, micro_recall, True),
        _gate("overall.accuracy >= 0.2", "overall.accuracy", 0.2, accuracy, True),
    ]
    d["gates"] = _gates(items, True)
    sections = _md_sections(_md(d))
    gates = sections["Quality gates"]
    assert "**Quality gates: PASS (3/3)**" in gates["lines"]
    ((header, rows),) = gates["tables"]
    assert header == ["Gate", "Basis", "Value", "Estimate [interval]", "Result"]
    assert [r[0] for r in rows] == [i["spec"] for i in items]
    assert [r[4] for r in rows] == ["PASS"] * 3
    for row, item in zip(rows, items):
        _assert_shows(row[3], item["estimate"])
        assert abs(float(row[2]) - item["value"]) < 0.005


def test_markdown_gates_fail(example):
    d = copy.deepcopy(example)
    near = _est(0.75, 0.69996, 0.8)  # the lower bound reads 0.70 at two decimals, but is below
    items = [
        _gate("macro.f1 >= 0.7", "macro.f1", 0.7, near, False),
        _gate("macro.recall >= 0.5", "macro.recall", 0.5, _est(0.8, 0.7, 0.9), True),
        _gate("macro.precision >= 0.5", "macro.precision", 0.5, _est(0.8, 0.6, 0.9), True),
    ]
    d["gates"] = _gates(items, False)
    gates = _md_sections(_md(d))["Quality gates"]
    assert "**Quality gates: FAIL (1 of 3 failed)**" in gates["lines"]
    ((header, rows),) = gates["tables"]
    assert [r[4] for r in rows] == ["FAIL", "PASS", "PASS"]
    assert float(rows[0][2]) < 0.7  # enough decimals to see that it is below the threshold
    assert rows[0][1] == "interval lower bound"


def test_markdown_gates_none_declared_and_absent(example):
    d = copy.deepcopy(example)
    d["gates"] = _gates([], None)
    lines = _md_sections(_md(d))["Quality gates"]["lines"]
    assert lines[:2] == ["", "Quality gates: none declared."]
    for value in (None, "absent"):
        d = copy.deepcopy(example)
        if value is None:
            d["gates"] = None
        assert "Quality gates" not in _md(d)


def _shifted(e, by):
    return dict(e, estimate=e["estimate"] + by, ci_low=e["ci_low"] + by, ci_high=e["ci_high"] + by)


def test_markdown_baseline(example):
    """The unpaired comparison in the summary: the label, what was compared and how many rows
    changed, the rows left out, headline and per-class tables with the difference's interval and
    the change in each metric's better direction."""
    d = copy.deepcopy(example)
    old = copy.deepcopy(example)
    old["averages"]["macro"]["f1"] = _shifted(d["averages"]["macro"]["f1"], -0.3)  # now better
    old["overall"]["log_loss"] = _shifted(d["overall"]["log_loss"], 0.5)  # now lower: better
    for run in (d, old):  # both runs certain of the same value: noise
        run["averages"]["micro"]["specificity"] = _est(1.0, 1.0, 1.0)
    gone = copy.deepcopy(old["per_class"][0])
    gone["label"] = "gone"
    old["per_class"].append(gone)
    # the most common class: its recall was 0.99, and is 0.80 now
    common = min(d["per_class"], key=lambda c: (-c["support"], str(c["label"])))
    oc = next(c for c in old["per_class"] if c["label"] == common["label"])
    oc["metrics"]["recall"] = _est(0.99, 0.97, 0.997)
    common["metrics"]["recall"] = _est(0.80, 0.75, 0.85)
    d["baseline"] = pv_baseline.compare_with_baseline(
        d, old, path="runs/previous|<b>results</b>.json", sha256="ab" * 32
    )
    block = d["baseline"]
    # noise: micro specificity (certain in both runs) and, undefined in both, the precision of
    # class eight (never predicted) and of the rare stratum (class eight's only)
    assert block["omitted_noise"] == 3 and block["classes_removed"] == ["gone"]
    assert "stratum.rare.precision" not in {i["metric"] for i in block["items"]}
    eight = next(c for c in block["per_class"] if c["label"] == "eight")
    assert [i["metric"] for i in eight["items"]] == ["recall", "f1", "roc_auc"]
    section = _md_sections(_md(d))["Changes since the previous audit"]
    text = _md_unescape(" ".join(section["lines"]))
    assert section["lines"][1] == f"**{pv_baseline.UNPAIRED_LABEL}**"
    assert "runs/previous|<b>results</b>.json" in text and "ab" * 32 in text
    assert "Classes no longer present: gone." in text
    assert "3 rows are left out as noise" in text
    assert "not adjusted for the number of rows compared" in text
    # every other row is the same in both runs: no evidence of a change
    n, k = len(block["items"]), sum(len(c["items"]) for c in block["per_class"])
    assert n == 52 and k == 39
    assert (
        f"Headline numbers ({n} compared): 2 better, {n - 2} with no evidence of a change. "
        f"Per class (10 classes in both runs, {k} rows): 1 worse, {k - 1} with no evidence of "
        "a change."
    ) in text
    (header, rows), (cheader, crows) = section["tables"]
    assert header == ["Metric", "Previous", "Current", "Difference [interval]", "Change"]
    assert len(rows) == len(block["items"])
    by_name = dict(zip((i["metric"] for i in block["items"]), rows))
    assert "micro.specificity" not in by_name
    for name, label in (("macro.f1", "Macro F1"), ("overall.log_loss", "Log loss")):
        row, item = by_name[name], next(i for i in block["items"] if i["metric"] == name)
        bounds = (0.0,) if name == "overall.log_loss" else (0.0, 1.0)
        assert _md_unescape(row[0]) == label
        _assert_shows(row[1], item["old"], () if name == "overall.log_loss" else bounds)
        _assert_shows(row[2], item["new"], () if name == "overall.log_loss" else bounds)
        diff = item["difference"]
        assert diff["method"] == "MOVER from the two runs' intervals (unpaired)"
        sign = "+" if diff["estimate"] > 0 else ""
        assert row[3].startswith(sign)
        _assert_shows(row[3].removeprefix("+"), diff, bounds=(0.0,))
    assert by_name["macro.f1"][4] == "\u2191 better"  # rose, and higher is better
    assert by_name["overall.log_loss"][4] == "\u2193 better"  # fell, and lower is better
    gaps = [r for n, r in by_name.items() if n.startswith("gap.")]
    assert gaps and all(r[0].startswith("Macro - micro") for r in gaps)
    assert all(r[4] in ("no evidence", "\u2191 higher", "\u2193 lower") for r in gaps)
    # per class: the class with a change backed by evidence first
    assert cheader[:3] == ["Class", "Support", "Metric"]
    assert _md_unescape(crows[0][0]) == str(common["label"])
    assert crows[0][1] == f"{oc['support']:,} \u2192 {common['support']:,}"
    assert crows[0][2] == "Recall" and crows[0][6] == "\u2193 worse"
    assert len(crows) == sum(len(c["items"]) for c in block["per_class"])
    assert any("\u2191/\u2193" in line for line in section["lines"])
    d["baseline"] = None
    assert "Changes since the previous audit" not in _md(d)
    assert "Changes since the previous audit" not in _md(example)


def test_markdown_baseline_written_before_the_unpaired_comparison(example):
    """``prevalens render`` of an older results.json: a bare-number difference, no interval."""
    d = copy.deepcopy(example)
    e = d["averages"]["macro"]["f1"]
    d["baseline"] = {
        "path": "old.json",
        "sha256": "cd" * 32,
        "created_utc": None,
        "inputs_changed": True,
        "items": [
            {
                "metric": "macro.f1",
                "old": _shifted(e, -0.05),
                "new": e,
                "difference": 0.05,
                "overlap": True,
            },
            {"metric": "macro.roc_auc", "old": None, "new": e, "difference": None, "overlap": None},
        ],
        "note": "Overlapping intervals do not show that nothing changed.",
    }
    section = _md_sections(_md(d))["Changes since the previous audit"]
    ((_, rows),) = section["tables"]
    assert rows[0][3] == "+0.05" and rows[0][4] == "no interval"
    assert rows[1][1] == "absent" and rows[1][3] == "" and rows[1][4] == ""
    assert "Overlapping intervals do not show that nothing changed." in section["lines"]


# ------------------------------------------------------------------------------------------------
# tables.tex


def test_latex_structure(d):
    text = _tex(d)
    # environments nest and close
    stack = []
    for kind, env in re.findall(r"\\(begin|end)\{([a-z]+)\}", text):
        if kind == "begin":
            stack.append(env)
        else:
            assert stack and stack.pop() == env, env
    assert not stack
    # braces balance once the escaped ones are removed
    depth = 0
    for ch in re.sub(r"\\[{}]", "", text):
        depth += {"{": 1, "}": -1}.get(ch, 0)
        assert depth >= 0
    assert depth == 0
    tables = _tex_tables(text)
    assert len(tables) == 2 + bool(d.get("calibration"))  # tab:prevalens-calibration
    for table in tables:
        n_cols = len(table["spec"])
        for rule in (r"\toprule", r"\midrule", r"\bottomrule"):
            assert rule in table["lines"], rule
        rows = [
            line
            for line in table["lines"]
            if line.endswith(r"\\") and not line.startswith(r"\caption")
        ]
        assert rows
        for row in rows:
            assert len(re.findall(r"(?<!\\)&", row)) == n_cols - 1, row
    assert text.count(r"\begin{table}") == (1 if tables[1]["env"] == "longtable" else 2) + bool(
        d.get("calibration")
    )


def test_latex_header_comment(d):
    text = _tex(d)
    head = text.split("\n\n")[0].split("\n")
    assert all(line.startswith("%") for line in head)
    comment = "\n".join(head)
    assert r"\usepackage{booktabs}" in comment and r"\input{tables}" in comment
    assert r"\usepackage[utf8]{inputenc}" in comment and "XeLaTeX" in comment
    longtable = r"\begin{longtable}" in text
    assert (r"\usepackage{longtable}" in comment) == longtable
    # about 22 two-line rows fit a page: from 20 classes the table must break across pages
    if len(d["per_class"]) >= exports.LONGTABLE_MIN_CLASSES == 20:
        assert longtable
    if d["data"]["classes"] == [
        "zero",
        "one",
        "two",
        "three",
        "four",
        "five",
        "six",
        "seven",
        "eight",
        "nine",
    ]:
        assert not longtable  # the example: 10 short labels float as a table


def test_latex_headline_numbers_equal_the_json(d):
    headline = _tex_tables(_tex(d))[0]
    rows = _tex_body_rows(headline)
    metrics = [
        m
        for m in (
            "precision",
            "recall",
            "f1",
            "specificity",
            "jaccard",
            "roc_auc",
            "average_precision",
        )
        if m in d["averages"]["micro"]
    ]
    assert len(rows) == len(metrics)
    for row, m in zip(rows, metrics):
        for cell, avg in zip(row[1:], AVERAGES):
            _assert_shows(_tex_estimate(cell), d["averages"][avg][m])


def test_latex_per_class_rows(d):
    text = _tex(d)
    rows = _tex_body_rows(_tex_tables(text)[1])
    order = sorted(d["per_class"], key=lambda c: (-c["support"], str(c["label"])))
    assert len(rows) == len(order)
    metrics = [m for m in ("recall", "precision", "f1", "roc_auc") if m in order[0]["metrics"]]
    assert len(rows[0]) == 2 + len(metrics)
    for row, c in zip(rows, order):
        label, stratum, marks = _tex_class(row[0])
        assert _tex_unescape(label).strip() == _oneline(c["label"]).strip()  # edge spaces drop
        assert _tex_unescape(stratum) == _oneline(c["stratum"] or "none")
        assert (r"\textdagger" in marks) == ("insufficient" in c["flags"])
        assert (r"\textsuperscript{*}" in marks) == ("diverges" in c["flags"])
        support, prevalence = _tex_stacked(row[1])
        assert int(support.replace(",", "")) == c["support"]
        assert prevalence.endswith(r"\%")
        assert abs(float(prevalence[:-2]) - 100 * c["prevalence"]) <= 0.05 * 100 * c["prevalence"]
        for cell, m in zip(row[2:], metrics):
            _assert_shows(_tex_estimate(cell), c["metrics"][m])
    level = f"{d['run']['confidence_level']:.0%}".replace("%", r"\%")
    captions = re.findall(r"\\caption\{(.*?)\}\\label", text)
    assert len(captions) == 2 + bool(d.get("calibration")) and all(level in cap for cap in captions)
    if d["run"]["n_resamples"]:
        assert "BCa bootstrap" in captions[0] and f"B = {d['run']['n_resamples']:,}" in captions[0]


def test_latex_hostile_labels_are_escaped(hostile):
    text = _tex(hostile)
    rows = _tex_body_rows(_tex_tables(text)[1])
    for row in rows:
        label, stratum, _ = _tex_class(row[0])
        _tex_unescape(stratum)  # fails on an unescaped special character
        _tex_unescape(label)
    assert "--" not in text.split("\n\n", 1)[1]  # outside the comment: no dash ligature
    assert "\r" not in text and "``" not in text and "''" not in text


def _tex_engine():
    return shutil.which("pdflatex") or shutil.which("lualatex")


LONG_LABELS = [
    f"Chronic obstructive pulmonary disease with acute exacerbation type {i:02d}" for i in range(18)
] + ["Extremely_long_class_name_that_keeps_going_and_going_0123456"]


def _zipf_audit(labels, n: int, seed: int = 0) -> dict:
    """Long-tailed classes (every class present), scores, B = 100: some classes insufficient,
    and the third most common class recalled far less often than the others (it diverges)."""
    k = len(labels)
    rng = np.random.default_rng(seed)
    p = 1.0 / np.arange(1, k + 1) ** 1.1
    p /= p.sum()
    y = np.concatenate([np.arange(k), rng.choice(k, size=n - k, p=p)])
    right = np.where(y == 2, 0.3, 0.8)
    pred = np.where(rng.random(n) < right, y, rng.choice(k, size=n, p=p))
    s = rng.random((n, k))
    s[np.arange(n), pred] += 3.0
    lab = np.array(labels, dtype=object)
    return _audit(
        lab[y],
        lab[pred],
        y_score=s / s.sum(axis=1, keepdims=True),
        labels=list(labels),
        n_resamples=100,
        seed=1,
    )


@pytest.fixture(scope="module")
def page_filling() -> dict:
    r"""The per-class tables that overflowed an article page: 19 classes with long labels (an
    Overfull \hbox of 34pt), 26 classes (a float too large by 57pt) and 60 classes."""
    return {
        "long19": _zipf_audit(LONG_LABELS, 1500),
        "k26": _zipf_audit([f"class {i:02d}" for i in range(26)], 2000),
        "k60": _zipf_audit([f"class_{i:02d}" for i in range(60)], 3000),
    }


def _compile(folder, d) -> str:
    folder.mkdir()
    (folder / "tables.tex").write_bytes(latex_tables(d))
    (folder / "doc.tex").write_text(
        "\\documentclass{article}\\usepackage{booktabs}\\usepackage{longtable}"
        "\\usepackage[utf8]{inputenc}\\begin{document}\\input{tables}\\end{document}\n",
        encoding="utf-8",
    )
    proc = subprocess.run(
        [
            _tex_engine(),
            "-interaction=nonstopmode",
            "-halt-on-error",
            "-no-shell-escape",
            "doc.tex",
        ],
        cwd=folder,
        capture_output=True,
        timeout=120,
    )
    log = (folder / "doc.log").read_text("utf-8", errors="replace")
    assert proc.returncode == 0, (folder.name, log[-3000:])
    assert (folder / "doc.pdf").stat().st_size > 1000
    assert "Undefined control sequence" not in log and "Missing" not in log
    return log


@pytest.mark.skipif(
    _tex_engine() is None,
    reason="no TeX engine (pdflatex or lualatex) on PATH; "
    "apt-get install texlive-latex-base texlive-latex-recommended to run it",
)
def test_latex_compiles(tmp_path, example, hostile, many):
    for name, d in (("example", example), ("hostile", hostile), ("many", many)):
        log = _compile(tmp_path / name, d)
        # both tables fit the text width (and the height) of a one-column article
        assert "Overfull \\hbox" not in log, (name, log[-3000:])
        assert "Float too large" not in log, (name, log[-3000:])


@pytest.mark.skipif(
    _tex_engine() is None,
    reason="no TeX engine (pdflatex or lualatex) on PATH; "
    "apt-get install texlive-latex-base texlive-latex-recommended to run it",
)
@pytest.mark.parametrize("case", ["long19", "k26", "k60"])
def test_latex_per_class_table_fits_the_page(tmp_path, page_filling, case):
    d = page_filling[case]
    text = _tex(d)
    log = _compile(tmp_path / case, d)
    assert "Overfull \\hbox" not in log, log[-3000:]
    assert "Float too large" not in log, log[-3000:]
    assert r"\begin{longtable}" in text  # 2 lines a class: about 22 fit a page
    if case == "long19":  # the long labels wrap instead of widening the table
        assert len(d["per_class"]) < exports.LONGTABLE_MIN_CLASSES
        pages = int(re.search(r"Output written on doc\.pdf \((\d+) page", log).group(1))
        assert pages >= 2


def test_latex_marks_insufficient_and_divergent_classes(page_filling, example):
    for d in (*page_filling.values(), example):
        text = _tex(d)
        rows = _tex_body_rows(_tex_tables(text)[1])
        flags = {f for c in d["per_class"] for f in c["flags"]}
        marks = {"insufficient": r"\textdagger", "diverges": r"\textsuperscript{*}"}
        for flag, mark in marks.items():
            n_flagged = sum(flag in c["flags"] for c in d["per_class"])
            assert sum(mark in _tex_class(r[0])[2] for r in rows) == n_flagged
            if flag in flags:  # and a note under the table says what the mark means
                word = "insufficient: fewer than" if flag == "insufficient" else "diverges:"
                after = text.split(r"\label{tab:prevalens-per-class}")[1]
                end = r"\end{longtable}" if r"\end{longtable}" in after else r"\end{tabular}"
                note = after.split(end, 1)[1].split("tab:prevalens-calibration")[0]
                assert word in note, (flag, note[:300])
    assert any("insufficient" in c["flags"] for d in page_filling.values() for c in d["per_class"])
    assert any("diverges" in c["flags"] for d in page_filling.values() for c in d["per_class"])


# ------------------------------------------------------------------------------------------------
# export_files


@pytest.mark.parametrize(
    "formats, names",
    [
        (["csv"], ["per_class.csv", "headline.csv"]),
        (["md"], ["summary.md"]),
        (["tex"], ["tables.tex"]),
        ("md", ["summary.md"]),
        (["tex", "md", "csv", "md"], ["per_class.csv", "headline.csv", "summary.md", "tables.tex"]),
        ([], []),
    ],
)
def test_export_files_names(example, formats, names):
    out = export_files(example, formats)
    # the example's scores are probabilities: its calibration's two CSV files come last
    calibration = ["calibration.csv", "calibration_bins.csv"] if "per_class.csv" in names else []
    assert list(out) == names + calibration
    assert all(isinstance(v, bytes) and v for v in out.values())
    assert sorted(
        [n for f in EXPORTS for n in EXPORTS[f]] + ["calibration.csv", "calibration_bins.csv"]
    ) == sorted(export_files(example, list(EXPORTS)))


def test_export_files_are_the_functions_and_deterministic(d):
    out = export_files(d, ["csv", "md", "tex"])
    again = export_files(copy.deepcopy(d), ("tex", "csv", "md"))
    assert out == again
    assert out == {
        "per_class.csv": per_class_csv(d),
        "headline.csv": headline_csv(d),
        "summary.md": markdown_summary(d),
        "tables.tex": latex_tables(d),
        **(
            {"calibration.csv": calibration_csv(d), "calibration_bins.csv": calibration_bins_csv(d)}
            if d.get("calibration")
            else {}
        ),
    }
    for data in out.values():
        data.decode("utf-8")  # valid UTF-8


@pytest.mark.parametrize(
    "formats, match",
    [
        (["pdf"], r"`formats` has unknown export format\(s\) \['pdf'\]; allowed: csv, md, tex"),
        (["csv", "markdown"], r"\['markdown'\]"),
        (3, r"`formats` must be a list of export formats"),
    ],
)
def test_export_files_rejects_unknown_formats(example, formats, match):
    with pytest.raises(ConfigError, match=match):
        export_files(example, formats)


def test_docstring_examples_run():
    result = doctest.testmod(exports, optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0 and result.failed == 0


def test_confidence_level_is_not_rounded(example):
    d = copy.deepcopy(example)
    d["run"]["confidence_level"] = 0.975
    assert "97.5% intervals" in _md(d)
    assert r"97.5\% confidence intervals" in _tex(d)


def test_undefined_and_missing_intervals(example):
    d = copy.deepcopy(example)
    d["averages"]["macro"]["precision"] = {
        "estimate": None,
        "ci_low": None,
        "ci_high": None,
        "se": None,
        "method": None,
        "status": "undefined",
    }
    d["averages"]["micro"]["recall"]["ci_low"] = d["averages"]["micro"]["recall"]["ci_high"] = None
    ((header, rows),) = _md_sections(_md(d))["Headline metrics"]["tables"]
    by_metric = {r[0]: r for r in rows}
    assert by_metric["Precision"][2] == "undefined"
    assert by_metric["Recall"][1] == _expected(d["averages"]["micro"]["recall"])
    assert "[" not in by_metric["Recall"][1]
    tex_rows = {r[0]: r for r in _tex_body_rows(_tex_tables(_tex(d))[0])}
    assert tex_rows["Precision"][2] == "undefined"
    csv_rows = [r for r in _rows(headline_csv(d)) if r[:3] == ["average", "macro", "precision"]]
    assert csv_rows[0][3:6] == ["", "", ""] and csv_rows[0][8] == "undefined"
    assert not math.isnan(float(by_metric["Recall"][1]))


def test_markdown_labels_do_not_mention_people_or_link_issues():
    """A label posted in a pull-request comment must not ping @team or link issue #12."""
    from prevalens.exports import _md

    out = _md("@team fixes #12 for a@b.org")
    assert not re.search(r"[@#]\w", out)
    assert out.replace("\u2060", "") == "@team fixes #12 for a@b.org"


def test_markdown_user_sections_are_inert_and_placed(example):
    d = copy.deepcopy(example)
    d["run"]["config"].update(
        {
            "intended_use": "# Triage\nFor @team and #12 <script>alert(1)</script>\n\n"
            "- adults *only*\n- ![x](http://127.0.0.1:1/i.png) [a](javascript:x)",
            "data_provenance": "  ",  # empty: no section
            "known_limitations": "1. $\\undefined$ | col\n> not a quote",
            "evaluation": "5-fold\nout-of-fold <b>predictions</b>",
        }
    )
    text = _md(d)
    sections = _md_sections(text)
    assert "Intended use" in sections and "Known limitations" in sections
    assert "Data provenance" not in sections
    assert list(sections).index("Intended use") < list(sections).index("Headline metrics")
    assert list(sections)[-1] == "Known limitations"
    assert "Evaluation: 5-fold out-of-fold \\<b\\>predictions\\</b\\>" in text
    body = "\n".join(sections["Intended use"]["lines"] + sections["Known limitations"]["lines"])
    assert "- adults \\*only\\*" in body and "1. \\$\\\\undefined\\$ \\| col" in body
    assert "\\# Triage" in body and "\\> not a quote" in body
    assert not re.search(r"(?<!\\)[<\[]|(?<!\\)!\[", body)  # no HTML, link or image opens
    assert not re.search(r"[@#]\w", body)  # no mention, no issue link
    assert "Intended use" not in _md(example) and "Evaluation:" not in _md(example)


@pytest.mark.skipif(
    _tex_engine() is None,
    reason="no TeX engine (pdflatex or lualatex) on PATH; "
    "apt-get install texlive-latex-base texlive-latex-recommended to run it",
)
def test_latex_with_the_deployment_table_compiles(tmp_path):
    rng = np.random.default_rng(5)
    labels = np.array(["a & b", "50% c", "$d_1", "e#"])
    y = rng.choice(4, 600, p=[0.6, 0.25, 0.1, 0.05])
    p = np.where(rng.random(600) < 0.8, y, rng.integers(0, 4, 600))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        d = pv.audit(
            labels[y], labels[p], n_resamples=100, seed=1, deployment_prevalence="uniform"
        ).to_dict()
    log = _compile(tmp_path / "shift", d)
    assert "Overfull \\hbox" not in log and "tab:prevalens-deployment" in _tex(d)
