"""The comparison report (``prevalens compare --format html,pdf,tex``): the HTML carries the summary
finding first and every headline row, the PDF is PDF/A-3u with ``comparison.json`` and
``differences.csv`` attached byte for byte, two processes give byte-identical outputs, the LaTeX
compiles (when a TeX engine is on the PATH), the forest plot's SVG is deterministic, and hostile
labels stay text.

Two comparisons are built once per module: 8 long-tailed classes, 1,500 samples, B = 200 (the
simulation design of ``tests/compare_sims.py``), and 60 classes of three models without
resampling, some labels hostile and two classes without samples (more classes than a per-class
table shows; two pairs).
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import os
import re
import shutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from html import unescape as html_unescape
from pathlib import Path

import numpy as np
import pikepdf
import pytest
from compare_sims import draw
from markupsafe import escape

from prevalens.compare import compare
from prevalens.comparison_exports import (
    HEADLINE_ORDER,
    MAX_CLASS_ROWS,
    comparison_csv,
    comparison_json,
    comparison_latex,
    headline_rows,
)
from prevalens.exports import APPROXIMATE_MARK
from prevalens.formatting import fmt_signed, quantity_text
from prevalens.report import compare_plots
from prevalens.report.render import render_comparison

pytestmark = [
    pytest.mark.filterwarnings("ignore:unclosed file.*sRGB2014:ResourceWarning"),
    pytest.mark.filterwarnings("ignore::prevalens.UndefinedMetricWarning"),
]

EPOCH = "1700000000"  # 2023-11-14T22:13:20Z
HOSTILE = [
    "<script>alert(1)</script>",
    "a&b_50%",
    "{\\textbf{x}} #1 ~^$",
    "Extremely_long_class_name_that_keeps_going_and_going_0123456",
]


@pytest.fixture(scope="module")
def k8():
    """8 classes, B = 200, SOURCE_DATE_EPOCH fixed, two delta gates (one fails) and the regression
    rule: the comparison dict and its report."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("SOURCE_DATE_EPOCH", EPOCH)
        y, sa, sb = draw(np.random.default_rng(1), 1500)
        labels = np.array(["ant", "bee", "cat", "dog", "eel", "fox", "gnu", "hen"], dtype=object)
        r = compare(
            labels[y], scores={"old": sa, "new": sb}, labels=list(labels), n_resamples=200, seed=1
        )
        r = r.with_gates(
            ["delta.macro.f1 >= -0.02", "delta.macro.recall >= 0.9"], fail_on_regression=True
        )
        d = r.to_dict()
        out = render_comparison(d)
    return d, out


@pytest.fixture(scope="module")
def k60():
    """60 classes, three models, no resampling, hostile labels, two classes without samples."""
    k = 60
    prev = np.geomspace(1.0, 0.005, k)
    prev /= prev.sum()
    y, sa, sb = draw(np.random.default_rng(4), 3000, prevalence=prev)
    _, _, sc = draw(np.random.default_rng(5), 3000, prevalence=prev)
    lab = np.array([f"c{i:02d}" for i in range(k)], dtype=object)
    lab[[50, 5, 58, 59]] = HOSTILE
    r = compare(lab[y], scores={"A": sa, "B": sb, "C": sc}, labels=list(lab), n_resamples=0, seed=1)
    return r.to_dict()


@pytest.fixture(scope="module")
def k60_html(k60) -> str:
    return render_comparison(k60, formats=("html",))["comparison.html"].decode()


def _text(html: str) -> str:
    return re.sub(r"\s+", " ", html)


# ------------------------------------------------------------------------------------------------
# HTML


def test_summary_starts_with_the_comparison_finding(k8):
    d, out = k8
    html = out["comparison.html"].decode()
    finding = next(f["text"] for f in d["findings"] if f["kind"] == "comparison")
    summary = html.split('<section id="compare-summary"', 1)[1]
    # the first paragraph after the heading is the finding, escaped
    first = re.search(r"</h2>\s*<p[^>]*>(.*?)</p>", summary, re.S).group(1)
    assert first == str(escape(finding))
    assert finding.startswith("new is better than old on")
    # the gates on the differences: in the summary and the cover's status
    assert d["gates"]["n_failed"] == 1
    assert "Gates on the differences: FAIL, 1 of 3 not met" in summary
    assert '<th scope="row">Status</th><td>FAIL: 1 of 3 gates not met</td>' in html


def test_html_holds_every_headline_row(k8):
    d, out = k8
    html = _text(out["comparison.html"].decode())
    section = html.split('<section id="compare-headline"', 1)[1].split("</section>", 1)[0]
    pair = d["pairs"][0]
    rows = re.findall(r"<tr>\s*<td>([^<]*)</td>(.*?)</tr>", section) + re.findall(
        r'<tr class="flagged">\s*<td>([^<]*)</td>(.*?)</tr>', section
    )
    rows = [(html_unescape(name), cells) for name, cells in rows]
    assert {name for name, _ in rows} == {quantity_text(q) for q in pair["headline"]}
    assert len(rows) == len(pair["headline"]) == 23
    # HEADLINE_ORDER first, and each row's difference as the Markdown and CSV have it
    assert [n for n, _ in rows][: len(HEADLINE_ORDER)] == [quantity_text(q) for q in HEADLINE_ORDER]
    for q, row in headline_rows(pair):
        cells = dict(rows)[quantity_text(q)]
        # the signed difference and its interval, by the display rule of prevalens.formatting
        est, _, ci = fmt_signed(row["difference"], bounds=(0.0,)).partition(" ")
        # an approximate interval (status unstable) carries the mark
        mark = APPROXIMATE_MARK if row["difference"]["status"] == "unstable" else ""
        assert f">{est} <" in cells and f">{mark}{ci}<" in cells, (q, cells)


def test_html_is_self_contained_and_escapes_labels(k60_html):
    html = k60_html
    assert "<script" not in html.split("</head>", 1)[1]
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "a&amp;b_50%" in html
    # no URL but data: (the SVG namespace inside the base64 figures is not a fetch)
    assert not re.search(r"""(?:src|href)=["'](?!data:|#)""", html)
    assert "http://" not in html and "https://" not in html
    # every pair has its sections' blocks; more classes than a table shows, said so
    assert html.count("Per-class differences (candidate minus reference): B \u2212 A") == 1
    assert html.count("Per-class differences (candidate minus reference): C \u2212 A") == 1
    assert f"{MAX_CLASS_ROWS} of 58 classes are shown" in html
    assert "2 classes without true samples" in html
    assert "not shown" in html
    # no resampling: nothing is claimed, and the overview says why
    assert "Without resampling no difference is tested" in html


# ------------------------------------------------------------------------------------------------
# PDF


def test_pdf_is_pdfa_3u_with_both_attachments(k8, tmp_path):
    d, out = k8
    pdf_bytes = out["comparison.pdf"]
    assert pdf_bytes.startswith(b"%PDF-1.7")
    with pikepdf.open(io.BytesIO(pdf_bytes)) as pdf:
        meta = pdf.open_metadata(set_pikepdf_as_editor=False, update_docinfo=False)
        assert (str(meta["pdfaid:part"]), str(meta["pdfaid:conformance"])) == ("3", "U")
        assert pdf.Root.OutputIntents[0].S == "/GTS_PDFA1"
        files = {n: s.get_file().read_bytes() for n, s in pdf.attachments.items()}
        assert files == {
            "comparison.json": comparison_json(d),
            "differences.csv": comparison_csv(d),
        }
        specs = {str(s.F): s for s in pdf.Root.AF}
        assert set(specs) == set(files)
        assert all(s.AFRelationship == "/Data" for s in specs.values())
        assert str(pdf.docinfo["/CreationDate"]).startswith("D:20231114221320")
    html = out["comparison.html"].decode()
    for name, data in files.items():
        assert f"{name} (SHA-256 {hashlib.sha256(data).hexdigest()})" in html
    path = tmp_path / "c.pdf"
    path.write_bytes(pdf_bytes)
    text = subprocess.run(
        ["pdftotext", "-enc", "UTF-8", str(path), "-"], capture_output=True, check=True
    ).stdout.decode()
    pages = text.split("\f")
    assert "Page 1 of" in pages[0] and "Model comparison report".upper() in pages[0].upper()
    assert "new is better than old" in " ".join(text.split())
    for heading in ("Executive summary", "Headline differences", "Where the difference lies"):
        assert heading in text
    assert "Micro ROC AUC and average precision are not compared" in " ".join(text.split())


def test_same_inputs_and_seed_give_byte_identical_outputs(tmp_path, monkeypatch):
    """``prevalens compare`` with every format in another process (another hash seed) and in
    this one: the same bytes; and the report re-rendered from comparison.json alone is the same
    file."""
    y, sa, sb = draw(np.random.default_rng(2), 600, prevalence=np.array([0.5, 0.3, 0.15, 0.05]))
    labels = np.array(["ant", "bee", "cat", "dog"])
    import pandas as pd

    for name, s in (("old", sa), ("new", sb)):
        frame = pd.DataFrame({"row_id": np.arange(600), "y_true": labels[y]})
        for i, lab in enumerate(labels):
            frame[f"score_{lab}"] = np.round(s[:, i], 6)
        frame.to_csv(tmp_path / f"{name}.csv", index=False)
    # the same command (it is recorded) in two folders
    args = ["compare", "../old.csv", "../new.csv", "--id", "row_id", "--seed", "3"]
    args += ["--n-resamples", "200", "--format", "json,md,csv,html,pdf,tex", "--quiet"]
    args += ["--title", "Triage model: new against old", "--out-dir", "out"]
    for tag in ("a", "b"):
        (tmp_path / tag).mkdir()
    env = dict(os.environ, SOURCE_DATE_EPOCH=EPOCH, PYTHONHASHSEED="12345")
    src = str(Path(__file__).resolve().parent.parent / "src")
    env["PYTHONPATH"] = src + os.pathsep + env.get("PYTHONPATH", "")
    with ThreadPoolExecutor(1) as pool:
        other = pool.submit(
            subprocess.run,
            [sys.executable, "-m", "prevalens", *args],
            cwd=tmp_path / "a",
            env=env,
            capture_output=True,
            timeout=300,
        )
        from prevalens.cli import main

        monkeypatch.setenv("SOURCE_DATE_EPOCH", EPOCH)
        monkeypatch.chdir(tmp_path / "b")
        assert main(args) == 0
        proc = other.result()
    assert proc.returncode == 0, proc.stderr.decode()[-2000:]
    a, b = tmp_path / "a" / "out", tmp_path / "b" / "out"
    names = sorted(f.name for f in a.iterdir())
    assert names == [
        "calibration_by_model.csv",  # the models' scores are probabilities
        "comparison.html",
        "comparison.json",
        "comparison.md",
        "comparison.pdf",
        "comparison.tex",
        "differences.csv",
    ]
    for name in names:
        assert (a / name).read_bytes() == (b / name).read_bytes(), name
    d = json.loads((a / "comparison.json").read_text())
    assert d["run"]["config"]["title"] == "Triage model: new against old"
    again = render_comparison(d, formats=("html",))["comparison.html"]
    assert again == (a / "comparison.html").read_bytes()
    assert "<title>Triage model: new against old</title>" in again.decode()


# ------------------------------------------------------------------------------------------------
# LaTeX


def _tex_engine():
    return shutil.which("pdflatex") or shutil.which("lualatex")


def test_latex_tables(k8, k60):
    d, _ = k8
    tex = comparison_latex(d)
    assert tex.count(r"\begin{table}") == 2 and r"\toprule" in tex
    assert r"\label{tab:prevalens-comparison-headline}" in tex
    body = tex.split(r"\label{tab:prevalens-comparison-classes}", 1)[1]
    # rarest class first
    rows = re.findall(r"\\prevalensclass\{([^}]*)\}", body)
    assert rows == ["hen", "gnu", "fox", "eel", "dog", "cat", "bee", "ant"]
    many = comparison_latex(k60)
    assert many.count(r"\begin{longtable}") == 2  # a table per pair, 50 rows each
    assert r"\label{tab:prevalens-comparison-classes-2}" in many
    assert "<script>" not in many and r"\textless{}script\textgreater{}" in many
    assert "not shown" in many and f"{MAX_CLASS_ROWS} of 58 classes are shown" in many


@pytest.mark.skipif(
    _tex_engine() is None,
    reason="no TeX engine (pdflatex or lualatex) on PATH; "
    "apt-get install texlive-latex-base texlive-latex-recommended to run it",
)
def test_latex_compiles(tmp_path, k8, k60):
    for name, d in (("k8", k8[0]), ("k60", k60)):
        folder = tmp_path / name
        folder.mkdir()
        (folder / "comparison.tex").write_text(comparison_latex(d), encoding="utf-8")
        (folder / "doc.tex").write_text(
            "\\documentclass{article}\\usepackage{booktabs}\\usepackage{longtable}"
            "\\usepackage[utf8]{inputenc}\\begin{document}\\input{comparison}\\end{document}\n",
            encoding="utf-8",
        )
        proc = subprocess.run(
            [
                _tex_engine(),
                "-interaction=nonstopmode",
                "-halt-on-error",
                "-no-shell-escape",
                "doc",
            ],
            cwd=folder,
            capture_output=True,
            timeout=120,
        )
        log = (folder / "doc.log").read_text("utf-8", errors="replace")
        assert proc.returncode == 0, (name, log[-3000:])
        assert "Undefined control sequence" not in log and "Missing" not in log
        assert "Overfull \\hbox" not in log, (name, log[-3000:])
        assert "Float too large" not in log, (name, log[-3000:])


# ------------------------------------------------------------------------------------------------
# figures


def _svgs(html: str) -> list[str]:
    return [
        base64.b64decode(m).decode("utf-8")
        for m in re.findall(r'src="data:image/svg\+xml;base64,([^"]+)"', html)
    ]


def test_forest_plot_svg_is_deterministic(k8):
    d, out = k8
    plot = compare_plots.class_differences_plot(json.loads(json.dumps(d)))
    # the same bytes as the figure the report embeds (drawn earlier, from the same numbers)
    embedded = _svgs(out["comparison.html"].decode())
    assert plot.svg in embedded and len(embedded) == 2
    svg = plot.svg
    assert "<image" not in svg and "<!DOCTYPE" not in svg and "<script" not in svg
    assert "rarest class at the top" in plot.alt
    # every class of K = 8 is a row (labels are text), each findings metric a panel
    for label in ("ant", "bee", "cat", "dog", "eel", "fox", "gnu", "hen"):
        assert f">{label} (n=" in svg
    for panel in ("Recall", "F1", "ROC AUC"):
        assert f">{panel}<" in svg
    # rarest at the top: the SVG's y of the labels grows with support
    ys = {
        m.group(2): float(m.group(1))
        for m in re.finditer(r'<text[^>]*y="([\d.]+)"[^>]*>([a-z]{3}) \(n=', svg)
    }
    support = dict(zip(d["data"]["classes"], d["data"]["support"]))
    assert sorted(ys, key=ys.get) == sorted(support, key=lambda c: (support[c], c))


def test_figures_of_hostile_labels_stay_text(k60_html):
    html = k60_html
    svgs = _svgs(html)
    assert len(svgs) == 4  # two pairs, two figures each
    assert any("&lt;script&gt;alert(1)" in s for s in svgs)  # cut at 18 characters
    assert not any("<script" in s for s in svgs)
    assert "Dotted lines mark where classes are left out" in html


def test_plot_class_differences_on_a_users_axes(k8):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    d, _ = k8
    fig, ax = plt.subplots()
    try:
        assert compare_plots.plot_class_differences(d, ax=ax, metric="f1") is ax
        labels = [t.get_text() for t in ax.get_yticklabels()]
        assert labels[0].startswith("hen") and labels[-1].startswith("ant")  # rarest on top
    finally:
        plt.close(fig)
    from prevalens.exceptions import ConfigError

    with pytest.raises(ConfigError, match="`metric` 'jaccard' is not compared per class"):
        compare_plots.plot_class_differences(d, metric="jaccard")
