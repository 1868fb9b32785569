"""The report's figures (``prevalens.report.plots``): every plot renders for every kind of result,
the SVG is well-formed vector XML with hostile class labels escaped and drawn literally, the output
is byte-identical across processes, and the alt texts carry the key numbers.

The results are built once per module: the bundled example, a result without scores, 100- and
1,000-class long-tailed synthetic results (B = 200) and a result whose class labels are hostile.
"""

from __future__ import annotations

import base64
import copy
import hashlib
import io
import json
import math
import os
import re
import subprocess
import sys
import time
import warnings
import xml.etree.ElementTree as ET

import matplotlib
import matplotlib.pyplot as plt
import numpy as np
import pikepdf
import pytest
from matplotlib.figure import Figure
from matplotlib.text import Annotation

import prevalens as pv
from prevalens.data import example_path
from prevalens.report import plots
from prevalens.report.render import FIGURE_FILES, figure_files

PLOTS = (
    "prevalence_plot",
    "forest_plot",
    "curves_plot",
    "metric_vs_prevalence_plot",
    "strata_plot",
    "confusion_plot",
)
DATASETS = ("example", "no_scores", "k100", "k1000", "hostile")
SVG = "{http://www.w3.org/2000/svg}"

HOSTILE = [
    "<script>alert(1)</script>",
    '" onmouseover="x',
    "$\\undefined$",
    "a_b^c",
    "bell\x07and\ttab\nnewline",  # characters XML 1.0 cannot carry
    "ordinary",
    "N" * 190 + " long tail",  # 200 characters, the rarest class
]


def _quiet_audit(*args, **kwargs) -> dict:
    with warnings.catch_warnings():  # undefined metrics of tiny classes warn; not under test here
        warnings.simplefilter("ignore")
        return pv.audit(*args, **kwargs).to_dict()


def _long_tail(k: int, n: int, *, scores: bool, seed: int) -> dict:
    """Zipf-like prevalence, every class present, accuracy rising with prevalence."""
    rng = np.random.default_rng(seed)
    p = 1.0 / np.arange(1, k + 1) ** 1.1
    p /= p.sum()
    y = np.concatenate([np.arange(k), rng.choice(k, size=n - k, p=p)])
    acc = 0.4 + 0.55 * (np.log(p[y]) - np.log(p).min()) / (np.log(p).max() - np.log(p).min())
    pred = np.where(rng.random(n) < acc, y, rng.choice(k, size=n, p=p))
    labels = np.array([f"class {i:04d}" for i in range(k)])
    kw = {}
    if scores:
        s = rng.random((n, k))
        s[np.arange(n), pred] += 3.0
        kw["y_score"] = s / s.sum(axis=1, keepdims=True)
    return _quiet_audit(labels[y], labels[pred], labels=list(labels), n_resamples=200, seed=1, **kw)


def _hostile() -> dict:
    rng = np.random.default_rng(3)
    k = len(HOSTILE)
    p = np.array([0.3, 0.25, 0.15, 0.12, 0.1, 0.07, 0.01])
    y = rng.choice(k, size=600, p=p)
    pred = np.where(rng.random(y.size) < 0.75, y, rng.choice(k, size=y.size))
    s = rng.random((y.size, k))
    s[np.arange(y.size), pred] += 2.0
    lab = np.array(HOSTILE, dtype=object)
    return _quiet_audit(
        lab[y],
        lab[pred],
        y_score=s / s.sum(axis=1, keepdims=True),
        labels=HOSTILE,
        n_resamples=200,
        seed=3,
    )


@pytest.fixture(scope="module")
def results() -> dict:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        example = pv.audit_predictions(
            pv.load_predictions(example_path()), pv.AuditConfig(seed=1, n_resamples=200)
        ).to_dict()
    rng = np.random.default_rng(7)
    y = rng.choice(8, size=400, p=[0.4, 0.2, 0.15, 0.1, 0.07, 0.05, 0.02, 0.01])
    pred = np.where(rng.random(400) < 0.8, y, rng.choice(8, size=400))
    names = np.array([f"c{i}" for i in range(8)])
    return {
        "example": example,
        "no_scores": _quiet_audit(names[y], names[pred], n_resamples=200, seed=2),
        "k100": _long_tail(100, 5000, scores=True, seed=0),
        "k1000": _long_tail(1000, 2000, scores=False, seed=0),
        "hostile": _hostile(),
    }


@pytest.fixture(scope="module")
def rendered(results) -> dict:
    """Every plot of every result, rendered once: ``{dataset: {plot name: Plot | None}}``."""
    out = {}
    for name, d in results.items():
        t0 = time.perf_counter()
        out[name] = {p: getattr(plots, p)(d) for p in PLOTS}
        out[name]["_seconds"] = time.perf_counter() - t0
    return out


def _texts(svg: str) -> list[str]:
    """The text of every <text> element, as a reader (or PDF) will see it."""
    root = ET.fromstring(svg)
    return ["".join(t.itertext()) for t in root.iter(f"{SVG}text")]


def _check_svg(svg: str) -> ET.Element:
    root = ET.fromstring(svg)  # well-formed XML, or this raises
    assert root.tag == f"{SVG}svg"
    low = svg.lower()
    assert "<image" not in low, "a raster image is embedded"
    assert "<script" not in low
    assert "<!doctype" not in low  # no external DTD reference
    for el in root.iter():
        assert el.tag.rsplit("}", 1)[-1] not in {"image", "script", "foreignObject"}
        assert not any(a.lower().startswith("on") for a in el.attrib), el.attrib
    # text stays text (svg.fonttype="none"), no font below 7 pt (1 SVG unit = 1 pt here)
    sizes = [float(s) for s in re.findall(r"font-size: ([\d.]+)px", svg)]
    assert sizes and min(sizes) >= 7.0
    assert "mathdefault" not in svg and "\\mathdefault" not in svg  # no mathtext tick labels
    width_pt = float(root.attrib["width"].removesuffix("pt"))
    assert width_pt <= 16.05 / 2.54 * 72  # fits the A4 text width
    return root


# ------------------------------------------------------------------------------------------------
# every plot renders


@pytest.mark.parametrize("dataset", DATASETS)
@pytest.mark.parametrize("plot", PLOTS)
def test_every_plot_renders(rendered, dataset, plot):
    p = rendered[dataset][plot]
    if plot == "curves_plot" and dataset in ("no_scores", "k1000"):
        assert p is None  # no scores, no curves
        return
    assert isinstance(p, plots.Plot)
    _check_svg(p.svg)
    assert p.title and p.alt and p.alt.endswith(".")
    assert "\n" not in p.alt and "\x07" not in p.alt


def test_curves_absent_without_scores(results):
    d = results["no_scores"]
    assert d["data"]["has_scores"] is False
    assert plots.curves_plot(d) is None


def test_large_k_is_fast_and_readable(rendered, results):
    r = rendered["k1000"]
    assert r["_seconds"] < 30
    texts = _texts(r["prevalence_plot"].svg)
    assert not any(t.startswith("class 0") for t in texts)  # no per-class tick labels
    assert len(texts) < 60
    for name in PLOTS:
        if r[name] is not None:
            assert len(r[name].svg) < 400_000, name
    # the confusion matrix shows the 30 worst classes and a pooled column
    conf = _texts(r["confusion_plot"].svg)
    assert "(all other classes)" in conf
    assert sum(t.startswith("class ") for t in conf) == 2 * 30
    assert "30 classes with the lowest recall" in r["confusion_plot"].alt
    assert "out of 1000" in r["confusion_plot"].alt


# ------------------------------------------------------------------------------------------------
# hostile labels


def test_hostile_labels_are_escaped_and_literal(rendered, results):
    r = rendered["hostile"]
    for name in ("prevalence_plot", "confusion_plot"):
        svg = r[name].svg
        _check_svg(svg)
        assert "&lt;script&gt;alert(" in svg  # escaped by the SVG writer
        texts = _texts(svg)
        for label in HOSTILE:
            shown = plots._clean(label)  # control characters -> U+FFFD, whitespace -> one space
            assert any(
                t == shown or (t.endswith("\u2026") and shown.startswith(t[:-1])) for t in texts
            ), (name, label)
        assert "$\\undefined$" in texts and "a_b^c" in texts  # not parsed as mathtext
        assert '" onmouseover="x' in texts
        assert "\x07" not in svg and "bell\ufffdand tab newline"[:12] in "".join(texts)
        # the 200-character name is cut for the tick label
        assert not any(HOSTILE[-1] in t for t in texts)
        assert any(t.startswith("NNNN") and t.endswith("\u2026") for t in texts)
    # ... and kept whole in the alt text of the prevalence plot (it is the rarest class)
    assert HOSTILE[-1] in r["prevalence_plot"].alt
    assert "<script>alert(1)</script>" in r["prevalence_plot"].alt  # the HTML template escapes


def test_rc_params_are_left_alone(results):
    before = dict(matplotlib.rcParams)
    plots.strata_plot(results["example"])
    after = dict(matplotlib.rcParams)
    assert before == after


# ------------------------------------------------------------------------------------------------
# alt text carries the key numbers


def test_alt_texts_state_key_numbers(rendered, results):
    d, r = results["example"], rendered["example"]
    rare = min(d["per_class"], key=lambda c: c["prevalence"])
    alt = r["prevalence_plot"].alt
    assert f"\u201c{rare['label']}\u201d" in alt
    assert f"{100 * rare['prevalence']:.2g}%" in alt  # 3 of 330 -> 0.91%
    assert f"({rare['support']} samples" in alt

    macro, micro = d["averages"]["macro"]["recall"], d["averages"]["micro"]["recall"]
    alt = r["forest_plot"].alt
    assert f"macro {macro['estimate']:.2f} [{macro['ci_low']:.2f}, {macro['ci_high']:.2f}]" in alt
    assert f"micro {micro['estimate']:.2f}" in alt

    slope = d["trend"]["recall"]["slope_per_decade"]["estimate"]
    assert f"+{slope:.2f}" in r["metric_vs_prevalence_plot"].alt

    alt = r["strata_plot"].alt
    for s in d["strata"]:
        assert s["name"] in alt

    top = plots.top_confusions(d, 1)[0]
    alt = r["confusion_plot"].alt
    assert f"\u201c{top['true']}\u201d predicted as \u201c{top['predicted']}\u201d" in alt
    assert f"{top['count']} of " in alt

    alt = r["curves_plot"].alt
    auc = d["averages"]["macro"]["roc_auc"]["estimate"]
    assert "Shaded areas are 95% pointwise bands." in alt  # the results carry curve bands
    assert f"{auc:.3f}"[:4] in alt


def test_bands_are_drawn_when_present(results):
    d = copy.deepcopy(results["example"])
    c = d["curves"]
    tpr = np.array(c["roc"]["micro"]["tpr"], dtype=float)
    band = {"ci_low": list(np.clip(tpr - 0.03, 0, 1)), "ci_high": list(np.clip(tpr + 0.03, 0, 1))}
    c["bands"] = {"roc": {"micro": band, "macro": band}}
    with_bands = plots.curves_plot(d)
    bare = copy.deepcopy(results["example"])
    bare["curves"]["bands"] = None  # as written with n_resamples = 0
    without = plots.curves_plot(bare)
    assert "No confidence bands" in without.alt
    assert "pointwise bands" in with_bands.alt and "No confidence bands" not in with_bands.alt
    assert with_bands.svg.count("<path") > without.svg.count("<path")
    _check_svg(with_bands.svg)


# ------------------------------------------------------------------------------------------------
# top confusions and data URI


def test_top_confusions_match_the_matrix(results):
    d = results["example"]
    cm = np.array(d["data"]["confusion_matrix"])
    classes = d["data"]["classes"]
    rows = plots.top_confusions(d, n=5)
    assert len(rows) == 5
    assert [r["count"] for r in rows] == sorted((r["count"] for r in rows), reverse=True)
    off = cm.copy()
    np.fill_diagonal(off, 0)
    assert rows[0]["count"] == off.max()
    for r in rows:
        i, j = classes.index(r["true"]), classes.index(r["predicted"])
        assert i != j and cm[i, j] == r["count"]
        assert math.isclose(r["share"], cm[i, j] / cm[i].sum())
        assert set(r) == {"true", "predicted", "count", "share"}
    assert len(plots.top_confusions(results["k1000"], n=20)) == 20


def test_data_uri_round_trip(rendered):
    svg = rendered["example"]["strata_plot"].svg
    uri = plots.as_data_uri(svg)
    prefix = "data:image/svg+xml;base64,"
    assert uri.startswith(prefix)
    assert base64.b64decode(uri[len(prefix) :]).decode("utf-8") == svg


# ------------------------------------------------------------------------------------------------
# determinism across processes

_CHILD = r"""
import hashlib, json, sys
# backend_svg imports backend_agg (for rasterised parts); count Agg renderers actually made
import matplotlib.backends.backend_agg as agg
made = []
_init = agg.RendererAgg.__init__
def _counting_init(self, *a, **k):
    made.append(1)
    _init(self, *a, **k)
agg.RendererAgg.__init__ = _counting_init
from prevalens.report import plots
out = {}
for path in sys.argv[1:]:
    d = json.load(open(path, encoding="utf-8"))
    for name in %r:
        p = getattr(plots, name)(d)
        out[path + ":" + name] = None if p is None else hashlib.sha256(
            (p.svg + p.alt + p.title).encode()).hexdigest()
out["_agg"] = len(made)
out["_pyplot"] = "matplotlib.pyplot" in sys.modules
print(json.dumps(out, sort_keys=True))
""".replace("%r", repr(PLOTS))


def test_byte_identical_across_processes(tmp_path, results, rendered):
    # the hostile result exercises all six plots with the labels most likely to vary
    names = ("hostile",)
    paths = []
    for name in names:
        path = tmp_path / f"{name}.json"
        path.write_text(json.dumps(results[name]), encoding="utf-8")
        paths.append(str(path))
    procs = []
    for seed in ("0", "4242"):  # different str-hash orders must not matter
        env = dict(os.environ, PYTHONHASHSEED=seed, SOURCE_DATE_EPOCH="0")
        procs.append(
            subprocess.Popen(
                [sys.executable, "-c", _CHILD, *paths],
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
        )
    outs = []
    for proc in procs:
        stdout, stderr = proc.communicate(timeout=120)
        assert proc.returncode == 0, stderr
        outs.append(json.loads(stdout))
    assert outs[0] == outs[1]
    assert outs[0]["_agg"] == 0 and outs[0]["_pyplot"] is False  # SVG backend only
    # and the same bytes as this process, whatever rcParams the test session carries
    for path, name in zip(paths, names):
        for plot in PLOTS:
            p = rendered[name][plot]
            expected = (
                None
                if p is None
                else hashlib.sha256((p.svg + p.alt + p.title).encode()).hexdigest()
            )
            assert outs[0][f"{path}:{plot}"] == expected, (name, plot)


# ------------------------------------------------------------------------------------------------
# the plot functions on a user's Axes (the report draws with the same code)

AXES_PLOTS = (
    "plot_prevalence",
    "plot_forest",
    "plot_roc_curves",
    "plot_pr_curves",
    "plot_metric_vs_prevalence",
    "plot_strata",
    "plot_confusion_matrix",
)


def _user_svg(fig) -> str:
    buf = io.StringIO()
    with matplotlib.rc_context({"svg.fonttype": "none"}):  # text as text, to read it back
        fig.savefig(buf, format="svg")
    return buf.getvalue()


@pytest.mark.parametrize("name", AXES_PLOTS)
def test_plot_functions_draw_on_the_given_axes(results, name):
    d = results["hostile"]
    fig = Figure(figsize=(6, 4))
    ax = fig.add_subplot()
    assert getattr(plots, name)(d, ax=ax) is ax
    assert ax.lines or ax.collections or ax.patches
    assert fig.axes[0] is ax  # drew there, not on a figure of its own
    # the user's rcParams parse mathtext; class names stay literal all the same
    with matplotlib.rc_context({"text.parse_math": True}):
        svg = _user_svg(fig)
    ET.fromstring(svg.split("\n", 3)[3])  # well-formed (after the XML declaration and DOCTYPE)
    if name in ("plot_prevalence", "plot_metric_vs_prevalence", "plot_confusion_matrix"):
        assert "$\\undefined$" in _texts(svg)  # drawn as typed, not as mathtext


def test_plot_functions_accept_an_audit_result(results):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = pv.audit_predictions(
            pv.load_predictions(example_path()), pv.AuditConfig(seed=1, n_resamples=200)
        )
    ax = plots.plot_strata(res, ax=Figure().add_subplot())
    expected = plots.plot_strata(results["example"], ax=Figure().add_subplot())
    assert [t.get_text() for t in ax.get_yticklabels()] == [
        t.get_text() for t in expected.get_yticklabels()
    ]


def test_plot_functions_without_axes_make_a_figure(results):
    ax = plots.plot_roc_curves(results["example"])
    try:
        assert ax.figure in [plt.figure(n) for n in plt.get_fignums()]
        assert ax.get_xlabel() == "False positive rate"
    finally:
        plt.close("all")


@pytest.mark.parametrize(
    "name, dataset", [("plot_roc_curves", "no_scores"), ("plot_pr_curves", "no_scores")]
)
def test_plot_functions_say_what_the_results_lack(results, name, dataset):
    with pytest.raises(pv.ConfigError, match="`result` has no ROC or precision-recall curves"):
        getattr(plots, name)(results[dataset], ax=Figure().add_subplot())


def test_plot_functions_refuse_other_objects():
    with pytest.raises(pv.ConfigError, match="`result` must be an AuditResult"):
        plots.plot_strata([1, 2, 3])


def test_report_figure_and_axes_function_draw_the_same(results, rendered):
    """The report's strata figure and plot_strata on a user's Axes write the same texts (the
    legend moves, nothing else)."""
    for name, report in (
        ("plot_strata", "strata_plot"),
        ("plot_confusion_matrix", "confusion_plot"),
        ("plot_prevalence", "prevalence_plot"),
    ):
        fig = Figure(figsize=(24 / 2.54, 18 / 2.54), layout="constrained")
        getattr(plots, name)(results["example"], ax=fig.add_subplot())
        assert sorted(_texts(_user_svg(fig))) == sorted(_texts(rendered["example"][report].svg))


def _stroke_dashed(svg: str) -> dict:
    """Colour of each stroked path -> whether it is dashed (stroke-dasharray)."""
    out = {}
    for style in re.findall(r'<path [^>]*style="([^"]*)"', svg):
        m = re.search(r"stroke: (#[0-9a-f]{6})", style)
        if m:
            out.setdefault(m.group(1), set()).add("stroke-dasharray" in style)
    return out


def test_strata_alt_text_names_the_line_styles_drawn(rendered, results):
    p = rendered["example"]["strata_plot"]
    dashed = _stroke_dashed(p.svg)
    micro, macro = plots.OKABE_ITO["blue"].lower(), plots.OKABE_ITO["vermillion"].lower()
    assert dashed[micro] == {False} and dashed[macro] == {True}  # solid micro, dashed macro
    assert re.search(
        r"micro recall is [^()]+ \(solid line\) and the macro [^()]+ \(dashed line\)", p.alt
    ), p.alt
    assert "dotted" not in p.alt
    curves = rendered["example"]["curves_plot"].alt
    assert curves.startswith("Micro (solid line) and macro (dashed line) ROC curves")


def test_confusion_cells_show_counts_and_shares(results, rendered):
    d = results["example"]
    cm = np.array(d["data"]["confusion_matrix"])
    texts = _texts(rendered["example"]["confusion_plot"].svg)
    joined = "\n".join(texts)
    support = cm.sum(axis=1)
    for i, j in zip(*np.nonzero(cm)):
        share = plots._cell_text(cm[i, j] / support[i])
        assert f"{cm[i, j]}" in texts and f"({share})" in texts, (i, j)
    assert "each cell gives the count" in rendered["example"]["confusion_plot"].alt
    assert "(0%)" in joined  # a class never recognised says so on the diagonal
    # beyond 12 classes the cells stay clean (the report's table gives counts)
    k100 = _texts(rendered["k100"]["confusion_plot"].svg)
    assert not any(re.fullmatch(r"\(\d+%\)", t) for t in k100)


def test_recall_labels_keep_clear_of_the_reference_lines(results):
    d = results["example"]
    fig = Figure(figsize=(16 / 2.54, 9.5 / 2.54), layout="constrained")
    ax = fig.add_subplot()
    plots.plot_metric_vs_prevalence(d, ax=ax)
    fig.draw_without_rendering()
    renderer = fig._get_renderer()
    labels = [a for a in ax.texts if isinstance(a, Annotation)]
    assert len(labels) == len(d["per_class"])
    for avg in ("micro", "macro"):
        y = ax.transData.transform((1e-2, d["averages"][avg]["recall"]["estimate"]))[1]
        for a in labels:
            box = a.get_window_extent(renderer)
            assert not (box.y0 < y < box.y1), (avg, a.get_text())


# ------------------------------------------------------------------------------------------------
# figures as files (for a paper)

_FIGURES_CHILD = r"""
import hashlib, json, sys
from prevalens.report.render import figure_files
d = json.load(open(sys.argv[1], encoding="utf-8"))
print(json.dumps({k: hashlib.sha256(v).hexdigest() for k, v in figure_files(d).items()}))
"""


def test_figure_files_are_vector_and_deterministic(tmp_path, results):
    d = results["hostile"]
    files = figure_files(d)
    names = [f"figures/{n}.{k}" for n in FIGURE_FILES.values() for k in ("svg", "pdf")]
    assert list(files) == names
    for name, data in files.items():
        if name.endswith(".svg"):
            _check_svg(data.decode("utf-8"))
            continue
        assert data.startswith(b"%PDF-")
        with pikepdf.open(io.BytesIO(data)) as pdf:
            assert len(pdf.pages) == 1
            assert "/CreationDate" not in pdf.docinfo and "/Producer" not in pdf.docinfo
            objs = [o for o in pdf.objects if isinstance(o, pikepdf.Dictionary)]
            assert not [o for o in objs if o.get("/Subtype") == "/Image"]  # vector only
            fonts = [o for o in objs if o.get("/Type") == "/Font"]
            # pdf.fonttype 42: TrueType (as CID fonts), embedded, not Type 3
            assert fonts and all(
                str(f.get("/Subtype")) in ("/TrueType", "/Type0", "/CIDFontType2") for f in fonts
            )
            assert any("/FontFile2" in o for o in objs)
    assert files["figures/strata.svg"] == plots.strata_plot(d).svg.encode("utf-8")
    assert set(figure_files(results["no_scores"], kinds="svg")) == {
        f"figures/{n}.svg" for k, n in FIGURE_FILES.items() if k not in ("curves", "reliability")
    }
    with pytest.raises(pv.ConfigError, match="unknown figure format"):
        figure_files(d, kinds=("png",))
    # identical bytes in another process with another hash seed
    path = tmp_path / "hostile.json"
    path.write_text(json.dumps(d), encoding="utf-8")
    env = dict(os.environ, PYTHONHASHSEED="99", SOURCE_DATE_EPOCH="12345")
    proc = subprocess.run(
        [sys.executable, "-c", _FIGURES_CHILD, str(path)],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout) == {k: hashlib.sha256(v).hexdigest() for k, v in files.items()}
