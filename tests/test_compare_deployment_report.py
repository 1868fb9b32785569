"""The differences at the deployment's prevalences through every output of a comparison: the
schema (each pair's ``target``, the top-level ``prevalence_shift``), the report's "At the
deployment's prevalence" section (present only with a target, after the headline differences),
``target_differences.csv`` and the ``target`` rows of ``differences.csv``, the Markdown section,
the LaTeX table, the methods section, and ``prevalens compare --deployment-prevalence`` end to
end with its printed summary. Without a target none of them appears.

The data: three models' predicted labels on the same long-tailed rows (6 classes, the rarest
about 2%): ``old`` is good on the common classes, ``new`` on the rare ones, ``newer`` about as
good as ``new``; so at uniform prevalences ``new`` gains much more than on the evaluation data.
"""

from __future__ import annotations

import copy
import csv
import io
import json
import re
import shutil
import subprocess
from html import unescape as html_unescape

import jsonschema
import numpy as np
import pytest

import prevalens as pv
from prevalens.comparison_exports import (
    TARGET_CSV_COLUMNS,
    _bounds,
    _diff,
    comparison_csv,
    comparison_latex,
    comparison_markdown,
    decision,
    min_effect,
    p_text,
    target_differences_csv,
)
from prevalens.exports import _tex, fmt_marked
from prevalens.formatting import fmt_percent, quantity_text
from prevalens.report.compare_model import MAX_TARGET_CLASSES, build_comparison_model
from prevalens.report.render import render_comparison

pytestmark = [
    pytest.mark.filterwarnings("ignore:unclosed file.*sRGB2014:ResourceWarning"),
    pytest.mark.filterwarnings("ignore::prevalens.UndefinedMetricWarning"),
]

LABELS = np.array(["ant", "bee", "cat", "dog", "eel", "fox"], dtype=object)
PRIOR = [0.5, 0.25, 0.12, 0.07, 0.04, 0.02]
KEYS = (
    "overall.accuracy",
    "macro.precision",
    "macro.f1",
    "weighted.f1",
    "overall.cohen_kappa",
    "overall.mcc",
)


def _draw(n: int = 3000, seed: int = 0):
    rng = np.random.default_rng(seed)
    k = len(PRIOR)
    y = rng.choice(k, n, p=PRIOR)

    def model(acc):
        return np.where(rng.random(n) < np.asarray(acc)[y], y, rng.integers(0, k, n))

    preds = {
        "old": model([0.95, 0.93, 0.8, 0.6, 0.5, 0.5]),
        "new": model([0.88, 0.86, 0.9, 0.9, 0.9, 0.9]),
        "newer": model([0.9, 0.87, 0.9, 0.9, 0.88, 0.9]),
    }
    return LABELS[y], {name: LABELS[p] for name, p in preds.items()}


@pytest.fixture(scope="module")
def data():
    return _draw()


@pytest.fixture(scope="module")
def d(data):
    y, preds = data
    r = pv.compare(y, preds, n_resamples=300, seed=1, deployment_prevalence="uniform")
    return r.to_dict()


@pytest.fixture(scope="module")
def plain(data):
    """The same comparison without a target."""
    y, preds = data
    return pv.compare(y, preds, n_resamples=300, seed=1).to_dict()


@pytest.fixture(scope="module")
def html(d) -> str:
    return render_comparison(d, formats=("html",))["comparison.html"].decode()


def _section(html: str, sid: str) -> str:
    start = html.index(f'<section id="{sid}"')
    return html[start : html.index("</section>", start)]


def _text(html: str) -> str:
    """The text of some HTML: tags dropped (before unescaping: a p-value reads ``&lt;0.0001``),
    white space collapsed."""
    return re.sub(r"\s+", " ", html_unescape(re.sub(r"<[^>]+>", " ", html)))


# ------------------------------------------------------------------------------------------------
# schema


def test_schema_validates_with_and_without_a_target(d, plain):
    schema = pv.load_comparison_schema()
    jsonschema.validate(d, schema)
    jsonschema.validate(plain, schema)
    assert "prevalence_shift" in d and "prevalence_shift" not in plain
    assert all("target" in p for p in d["pairs"]) and not any("target" in p for p in plain["pairs"])
    assert all(list(p["target"]) == list(KEYS) for p in d["pairs"])
    shift = d["prevalence_shift"]
    assert len(shift["target"]) == d["data"]["n_classes"]
    assert sum(shift["target"]) == pytest.approx(1.0)
    assert list(shift["models"]) == d["models"]
    assert any(f["kind"] == "comparison_target" for f in d["findings"])


@pytest.mark.parametrize(
    "edit",
    [
        lambda x: x["prevalence_shift"].update(extra=1),
        lambda x: x["prevalence_shift"].pop("assumption"),
        lambda x: x["prevalence_shift"].update(target=[]),
        lambda x: x["prevalence_shift"]["models"]["new"].update(per_class=[]),
        lambda x: x["prevalence_shift"]["models"]["new"]["headline"]["macro.f1"].pop("ci_low"),
        lambda x: x["pairs"][0]["target"].update(
            {"class.ant.f1": x["pairs"][0]["headline"]["macro.f1"]}
        ),
        lambda x: x["pairs"][0]["target"]["macro.f1"].pop("difference"),
        lambda x: x["pairs"][0].update(target={}),
    ],
)
def test_schema_is_strict_about_the_target(d, edit):
    bad = copy.deepcopy(d)
    edit(bad)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(bad, pv.load_comparison_schema())


# ------------------------------------------------------------------------------------------------
# report


def _cells(e: dict, metric: str) -> tuple[str, str]:
    est, _, ci = fmt_marked(e, bounds=_bounds(metric)).partition(" ")
    return est, ci


def test_report_section_only_with_a_target(d, plain, html):
    ids = [s.id for s in build_comparison_model(d, figures={}).sections]
    assert ids.index("compare-deployment") == ids.index("compare-headline") + 1
    assert ids.index("compare-deployment") < ids.index("compare-where")
    assert "compare-deployment" not in [
        s.id for s in build_comparison_model(plain, figures={}).sections
    ]
    out = render_comparison(plain, formats=("html",))["comparison.html"].decode()
    assert 'id="compare-deployment"' not in out
    assert "At the deployment" not in out and "deployment's prevalence" not in _text(out)
    # the contents list the section, in order
    assert html.index('href="#compare-deployment"') > html.index('href="#compare-headline"')


def test_report_section_shows_the_json_numbers(d, html):
    part = _section(html, "compare-deployment")
    text = _text(part)
    shift = d["prevalence_shift"]
    assert "<h2>At the deployment's prevalence</h2>" in html_unescape(part)
    for words in (shift["source"], shift["assumption"], shift["note"]):
        assert words in text
    effect = min_effect(d)
    for i, pair in enumerate(d["pairs"]):
        name = "candidate minus reference): " + f"{pair['candidate']} \u2212 {pair['reference']}"
        assert name in text
        table = text.split(name, 1)[1].split("blank: not a claim.", 1)[0]
        for key in KEYS:
            row = pair["target"][key]
            # a row: the metric's name, both models' estimates, the difference, p, adjusted p
            cells = [quantity_text(key)]
            for side in ("reference", "candidate"):
                est, ci = _cells(row[side], row["metric"])
                cells += [est, ci]
            est, _, ci = _diff(row, marked=True).partition(" ")
            cells += [est, ci, p_text(row["difference"])]
            adj = row.get("adjusted")
            if adj:
                assert key in ("overall.accuracy", "macro.f1")
                cells += [p_text({"p_value": adj.get("p_adjusted")}), decision(row, effect)]
            want = " ".join(c for c in cells if c)
            assert want in table, (i, key, want)
        # the projections are each model's own audit's
        for side in ("reference", "candidate"):
            own = shift["models"][pair[side]]["headline"]
            assert all(own[k] == pair["target"][k][side] for k in KEYS)


def test_report_lists_each_class_target_prevalence(d, html):
    part = _text(_section(html, "compare-deployment"))
    table = part.split("Class prevalences: as evaluated and at the deployment", 1)[1]
    n = d["data"]["n_samples"]
    rows = sorted(
        zip(d["data"]["classes"], d["data"]["support"], d["prevalence_shift"]["target"]),
        key=lambda c: (c[1], str(c[0])),
    )
    want = " ".join(f"{lab} {fmt_percent(s / n)} {fmt_percent(t)}" for lab, s, t in rows)
    assert want in table  # rarest first, one group of columns for 6 classes
    assert fmt_percent(1 / 6) == "16.7%" and table.count("16.7%") == 6


def test_many_classes_name_the_range_not_each_target():
    rng = np.random.default_rng(3)
    k, n = MAX_TARGET_CLASSES + 10, 4000
    prior = np.geomspace(1, 0.02, k)
    y = rng.choice(k, n, p=prior / prior.sum())
    a = np.where(rng.random(n) < 0.8, y, rng.integers(0, k, n))
    b = np.where(rng.random(n) < 0.85, y, rng.integers(0, k, n))
    d = pv.compare(y, {"A": a, "B": b}, n_resamples=0, seed=1, deployment_prevalence="uniform")
    d = d.to_dict()
    jsonschema.validate(d, pv.load_comparison_schema())
    (section,) = [
        s for s in build_comparison_model(d, figures={}).sections if s.id == "compare-deployment"
    ]
    assert section.get("prevalences").kind == "paragraph"
    with_samples = sum(1 for s in d["data"]["support"] if s)
    text = section.get("prevalences").text
    assert f"The target prevalences of the {k} classes: all {fmt_percent(1 / with_samples)}" in text
    assert "prevalence_shift.target" in text
    # without resampling: point differences, no decision
    table = section.get("target")
    assert [r.cells[0].text for r in table.rows] == [quantity_text(q) for q in KEYS]
    assert all(r.cells[-1].text == "" for r in table.rows)


def test_methods_name_the_target_method_and_the_family(d, plain):
    def section(x, sid):
        return next(s for s in build_comparison_model(x, figures={}).sections if s.id == sid)

    methods = section(d, "compare-methods")
    # each target row is listed under its own interval method, as its 'test' names it
    intervals = {r.cells[0].text.lower(): r.cells[1].text for r in methods.get("intervals").rows}
    for key, row in d["pairs"][0]["target"].items():
        assert f"{quantity_text(key)} at the target" in intervals[row["test"].lower()].split(", ")
    settings = dict(methods.get("settings").items)
    assert d["prevalence_shift"]["assumption"] in settings["Deployment's prevalences"]
    assert settings["Family of claims"].endswith(
        "; accuracy and macro F1 at the deployment's prevalences"
    )
    assert "at the deployment" not in " ".join(
        v for _, v in section(plain, "compare-methods").get("settings").items
    )
    overview = section(d, "compare-summary").get("overview").text
    assert "accuracy and macro F1 at the deployment's prevalences)" in overview


# ------------------------------------------------------------------------------------------------
# exports


def _rows(data: bytes) -> list[dict]:
    return list(csv.DictReader(io.StringIO(data.decode("utf-8"))))


def _num(text: str):
    return float(text) if text else None


def test_target_csv_equals_the_json(d, plain):
    rows = _rows(target_differences_csv(d))
    assert list(rows[0]) == list(TARGET_CSV_COLUMNS)
    want = [(p, k, p["target"][k]) for p in d["pairs"] for k in p["target"]]
    assert len(rows) == len(want) == 6 * (len(d["models"]) - 1)
    for row, (pair, key, r) in zip(rows, want, strict=True):
        assert (row["reference"], row["candidate"], row["metric"]) == (
            pair["reference"],
            pair["candidate"],
            key,
        )
        for side in ("reference", "candidate"):
            for f in ("estimate", "ci_low", "ci_high"):
                assert _num(row[f"{side}_{f}"]) == r[side][f]
            assert row[f"{side}_status"] == r[side]["status"]
        diff = r["difference"]
        assert _num(row["difference"]) == diff["estimate"]
        for f in ("ci_low", "ci_high", "p_value"):
            assert _num(row[f]) == diff[f]
        adj = r["adjusted"] or {}
        assert _num(row["adjusted_ci_low"]) == adj.get("ci_low")
        assert _num(row["adjusted_ci_high"]) == adj.get("ci_high")
        assert _num(row["adjusted_p_value"]) == adj.get("p_adjusted")
        assert row["significant"] == ("" if not adj else str(adj["significant"]).lower())
        assert row["better"] == (r["better"] or "")
        assert row["method"] == r["test"]
    # without a target: only the header
    assert target_differences_csv(plain).decode().splitlines() == [",".join(TARGET_CSV_COLUMNS)]


def test_differences_csv_holds_the_target_rows(d, plain):
    rows = [r for r in _rows(comparison_csv(d)) if r["scope"] == "target"]
    want = [(p, r) for p in d["pairs"] for r in p["target"].values()]
    assert [(r["candidate"], r["quantity"]) for r in rows] == [
        (p["candidate"], r["quantity"]) for p, r in want
    ]
    for row, (_, r) in zip(rows, want, strict=True):
        assert _num(row["difference"]) == r["difference"]["estimate"]
        assert _num(row["ci_low"]) == r["difference"]["ci_low"]
    assert not [r for r in _rows(comparison_csv(plain)) if r["scope"] == "target"]


def test_markdown_section(d, plain):
    md = comparison_markdown(d)
    part = md.split("### At the deployment's prevalences", 1)[1]
    assert d["prevalence_shift"]["source"] in part
    for f in d["findings"]:
        if f["kind"] == "comparison_target":
            assert f"- {f['text']}" in part
    for pair in d["pairs"]:
        ref, cand = pair["reference"], pair["candidate"]
        block = part.split(f"{cand} − {ref}:", 1)[1]
        for key, r in pair["target"].items():
            est = fmt_marked(r["reference"], bounds=_bounds(r["metric"]))
            line = f"| {quantity_text(key)} | {est} | "
            assert line in block and _diff(r) in block.split(line, 1)[1].split("\n", 1)[0]
    assert "At the deployment" not in comparison_markdown(plain)


def _tex_engine():
    return shutil.which("pdflatex") or shutil.which("lualatex")


def test_latex_table_per_pair(d, plain, tmp_path):
    tex = comparison_latex(d)
    pairs = len(d["pairs"])
    assert tex.count(r"\begin{table}") == 3 * pairs  # headline, target and classes
    assert comparison_latex(plain).count(r"\begin{table}") == 2 * pairs
    assert r"\label{tab:prevalens-comparison-target}" in tex
    assert r"\label{tab:prevalens-comparison-target-2}" in tex
    target = tex.split(r"\label{tab:prevalens-comparison-target}", 1)[1].split(r"\end{table}")[0]
    for key in KEYS:
        assert _tex(quantity_text(key)) in target
    assert "tab:prevalens-comparison-target" not in comparison_latex(plain)
    if _tex_engine() is None:
        return
    (tmp_path / "comparison.tex").write_text(tex, encoding="utf-8")
    (tmp_path / "doc.tex").write_text(
        "\\documentclass{article}\\usepackage{booktabs}\\usepackage{longtable}"
        "\\usepackage[utf8]{inputenc}\\begin{document}\\input{comparison}\\end{document}\n",
        encoding="utf-8",
    )
    proc = subprocess.run(
        [_tex_engine(), "-interaction=nonstopmode", "-halt-on-error", "-no-shell-escape", "doc"],
        cwd=tmp_path,
        capture_output=True,
        timeout=120,
    )
    log = (tmp_path / "doc.log").read_text("utf-8", errors="replace")
    assert proc.returncode == 0, log[-3000:]
    assert "Undefined control sequence" not in log and "Overfull \\hbox" not in log


# ------------------------------------------------------------------------------------------------
# the command line


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    import pandas as pd

    folder = tmp_path_factory.mktemp("deployment")
    y, preds = _draw(n=1500, seed=5)
    for name in ("old", "new"):
        frame = pd.DataFrame({"row_id": np.arange(len(y)), "y_true": y, "y_pred": preds[name]})
        frame.to_csv(folder / f"{name}.csv", index=False)
    return folder


def _compare(files, out, *extra):
    args = ["compare", str(files / "old.csv"), str(files / "new.csv"), "--id", "row_id"]
    args += ["--seed", "3", "--n-resamples", "200", "--out-dir", str(files / out), *extra]
    return args


def test_cli_writes_the_target_everywhere(files, capsys, monkeypatch):
    from prevalens.cli import main

    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1700000000")
    args = _compare(files, "t", "--deployment-prevalence", "uniform", "--format", "json,csv,html")
    assert main(args) == 0
    printed = capsys.readouterr().out
    out = files / "t"
    assert sorted(f.name for f in out.iterdir()) == [
        "comparison.html",
        "comparison.json",
        "differences.csv",
        "target_differences.csv",
    ]
    d = json.loads((out / "comparison.json").read_text())
    jsonschema.validate(d, pv.load_comparison_schema())
    assert d["run"]["config"]["deployment_prevalence"] == "uniform"
    assert (out / "target_differences.csv").read_bytes() == target_differences_csv(d)
    assert (out / "differences.csv").read_bytes() == comparison_csv(d)
    page = (out / "comparison.html").read_text()
    assert 'id="compare-deployment"' in page
    assert d["prevalence_shift"]["note"] in _text(_section(page, "compare-deployment"))
    # the summary: one line for the pair, after its headline rows, with the claims' differences
    (line,) = [ln for ln in printed.splitlines() if "at the deployment's prevalences" in ln]
    target = d["pairs"][0]["target"]
    for key in ("overall.accuracy", "macro.f1"):
        assert f"{quantity_text(key)} {_diff(target[key])}" in line
    assert line.startswith("  at the deployment's prevalences (uniform): ")
    assert printed.index(line) < printed.index("wrote ")


def test_cli_without_a_target_writes_and_prints_none(files, capsys):
    from prevalens.cli import main

    assert main(_compare(files, "p", "--format", "json,csv")) == 0
    printed = capsys.readouterr().out
    names = sorted(f.name for f in (files / "p").iterdir())
    assert names == ["comparison.json", "differences.csv"]
    assert "at the deployment's prevalences" not in printed
    d = json.loads((files / "p" / "comparison.json").read_text())
    assert "prevalence_shift" not in d and "target" not in d["pairs"][0]
