"""Classes within subgroups in the outputs: the report's section "Subgroups" (heat map, forest
plot, levels, largest gaps, findings), ``subgroups.csv``, ``subgroup_disparities.csv``,
``subgroup_gaps.csv``, ``subgroup_averages.csv``, the Markdown section and the LaTeX tables; none
of them without groups.

The numbers are tested with the analysis (tests/test_subgroups.py); here every output must show
exactly the result's numbers, and never a suppressed one: the data put 3 samples of class "dog"
in site "west", whose recall (2 of 3) and its Wilson interval, computed here, must appear in no
output but results.json, and there only when disclosed. With scores (``scored``), each level's
averages and each class's ROC AUC join every output, and the small cell counts in none of them."""

from __future__ import annotations

import base64
import csv
import io
import json
import re
import shutil
import subprocess
import warnings

import numpy as np
import pytest
from markupsafe import escape
from statsmodels.stats.proportion import proportion_confint

import prevalens as pv
from prevalens import exports
from prevalens.cli import main as cli_main
from prevalens.formatting import fmt_estimate
from prevalens.io import predictions_from_arrays
from prevalens.report import plots
from prevalens.report.model import build_report_model

pytestmark = [pytest.mark.filterwarnings("ignore:unclosed file.*sRGB2014:ResourceWarning")]

LABELS = np.array(["ant", "bee", "cat", "dog"], dtype=object)
SITES = np.array(["north", "south", "west"], dtype=object)
# the small cell: dog in west, 3 true samples, 2 of them predicted as dog
SMALL_TP, SMALL_N = 2, 3


def _data(seed=0, n=1500):
    """Four classes at three sites, the model worse at west; dog has exactly 3 samples in west."""
    rng = np.random.default_rng(seed)
    y = rng.choice(4, n, p=[0.45, 0.3, 0.15, 0.1])
    site = rng.choice(3, n, p=[0.5, 0.3, 0.2])
    keep = ~((y == 3) & (site == 2))
    y, site = y[keep], site[keep]
    acc = np.where(site == 2, 0.6, 0.88)
    pred = np.where(rng.random(y.size) < acc, y, rng.integers(0, 4, y.size))
    # the small cell, predicted dog, dog, ant
    y = np.r_[y, [3, 3, 3]]
    site = np.r_[site, [2, 2, 2]]
    pred = np.r_[pred, [3, 3, 0]]
    return LABELS[y], LABELS[pred], SITES[site]


def _audit(y, pred, site, **options):
    p = predictions_from_arrays(y, pred, labels=list(LABELS), groups={"site": site})
    options.setdefault("n_resamples", 100)
    options.setdefault("seed", 3)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", pv.PrevalensWarning)
        return pv.audit_predictions(p, **options)


@pytest.fixture(scope="module")
def case():
    return _data()


@pytest.fixture(scope="module")
def result(case):
    return _audit(*case)


@pytest.fixture(scope="module")
def disclosed(case):
    return _audit(*case, subgroup_disclose=True)


@pytest.fixture(scope="module")
def d(result):
    return json.loads(result.to_json())


OUTPUTS = ["json", "html", "pdf", "csv", "md", "tex", "figures"]


@pytest.fixture(scope="module")
def outputs(result):
    return pv.render(result, OUTPUTS)


@pytest.fixture(scope="module")
def disclosed_outputs(disclosed):
    return pv.render(disclosed, OUTPUTS)


@pytest.fixture(scope="module")
def plain():
    y, pred, _ = _data(seed=1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", pv.PrevalensWarning)
        return pv.audit(y, pred, labels=list(LABELS), n_resamples=0, seed=1)


def _rows(data: bytes) -> list[dict]:
    return list(csv.DictReader(io.StringIO(data.decode("utf-8"), newline="")))


def _num(x):
    return None if x == "" else float(x)


def _section(html: str) -> str:
    start = html.index('<section id="subgroups"')
    return html[start : html.index("</section>", start)]


def _svgs(html: str) -> str:
    """The text of every SVG figure the HTML embeds (data URIs, base64)."""
    return "\n".join(
        base64.b64decode(m).decode("utf-8")
        for m in re.findall(r'src="data:image/svg\+xml;base64,([A-Za-z0-9+/=]+)"', html)
    )


def _pdf_text(pdf: bytes, tmp_path) -> str:
    path = tmp_path / "report.pdf"
    path.write_bytes(pdf)
    out = subprocess.run(
        ["pdftotext", "-enc", "UTF-8", str(path), "-"], capture_output=True, check=True, timeout=60
    )
    return re.sub(r"\s+", " ", out.stdout.decode("utf-8"))


def _grouping(d):
    (g,) = d["subgroups"]["groupings"]
    return g


# ------------------------------------------------------------------------------------------------
# the section


def test_the_section_is_there_with_groups_between_confusion_and_calibration(result, d, outputs):
    ids = [s.id for s in build_report_model(d, figures={}).sections]
    assert "subgroups" in ids
    assert ids.index("confusion") < ids.index("subgroups")
    assert ids.index("subgroups") == ids.index("confusion") + 1
    html = outputs["report.html"].decode("utf-8")
    section = _section(html)
    assert "<h2>Subgroups</h2>" in section and "<h3>By site</h3>" in section
    # the method, the suppression rule and the reference level
    assert "Wilson score interval" in section
    assert d["subgroups"]["suppression"] in section.replace("&#39;", "'")
    assert f"Reference levels: site: {_grouping(d)['reference']} (the largest)" in section
    # the contents list it
    assert 'href="#subgroups"' in html


def test_no_section_and_no_subgroup_files_without_groups(plain):
    d = plain.to_dict()
    assert d.get("subgroups") is None
    ids = [s.id for s in build_report_model(d, figures={}).sections]
    assert "subgroups" not in ids
    files = exports.export_files(d, ["csv", "md", "tex"])
    assert not any(name.startswith("subgroup") for name in files)
    assert "## Subgroups" not in files["summary.md"].decode("utf-8")
    assert "tab:prevalens-subgroups" not in files["tables.tex"].decode("utf-8")
    assert not any(k.startswith("subgroup") for k in plots.render_figures(d))


def test_the_heat_map_and_the_forest_plot_are_there(d, outputs):
    html = outputs["report.html"].decode("utf-8")
    section = _section(html)
    alts = re.findall(r'<img src="data:image/svg\+xml;base64,[^"]*" alt="([^"]*)"', section)
    assert len(alts) == 2
    heat, forest = (a.replace("&#34;", '"').replace("&#39;", "'") for a in alts)
    assert heat.startswith("Heat map of the recall of 4 classes")
    assert "within the 3 levels of \u201csite\u201d" in heat
    assert "each cell gives the recall and its 95% interval" in heat
    assert (
        "1 hatched grey cell is suppressed (fewer than 10 true samples) and shows no value" in heat
    )
    assert forest.startswith("Forest plot of ")
    assert "a vertical line marks 0" in forest
    assert "Recall of each class within the levels of site" in section
    assert "Differences from the rest of the rows within site" in section
    # the suppressed cell is drawn, hatched, with the legend's words
    svg = _svgs(section)
    assert "suppressed: fewer than 10 true samples (no value shown)" in svg
    # and as files for a paper
    for name in ("subgroup-recall-1", "subgroup-disparities-1"):
        assert outputs[f"figures/{name}.svg"].startswith(b"<?xml")
        assert outputs[f"figures/{name}.pdf"].startswith(b"%PDF")


def test_the_levels_and_gaps_tables_show_the_results_numbers(d, outputs):
    section = _section(outputs["report.html"].decode("utf-8"))
    g = _grouping(d)
    for lv in g["levels"]:
        est, _, ci = fmt_estimate(lv["accuracy"]).partition(" ")
        assert f'{est} <span class="ci">{ci}</span>' in section
        assert f">{lv['n']:,}<" in section
    for x in exports.subgroup_gap_rows(exports.subgroup_gaps(g)):
        est, _, ci = fmt_estimate(x["gap"], bounds=(0.0,)).partition(" ")
        assert f'{est} <span class="ci">{ci}</span>' in section
    # the subgroup findings appear in the section and with the other findings
    found = [f for f in d["findings"] if f["kind"] == "subgroup_disparity"]
    assert found, "the data make west differ from the rest"
    html = outputs["report.html"].decode("utf-8")
    for f in found:
        text = str(escape(f["text"]))
        assert text in section
        divergence = html[html.index('<section id="divergence"') :]
        assert text in divergence[: divergence.index("</section>")]


# ------------------------------------------------------------------------------------------------
# no suppressed value anywhere


def _small_cell_strings(y, pred, site) -> list[str]:
    """The suppressed cell's recall and the strings a report, CSV, Markdown or LaTeX would
    write for it, computed here from the data."""
    cell = (y == "dog") & (site == "west")
    tp = int(((pred == "dog") & cell).sum())
    assert (int(cell.sum()), tp) == (SMALL_N, SMALL_TP)
    recall = tp / SMALL_N
    lo, hi = proportion_confint(tp, SMALL_N, alpha=0.05, method="wilson")
    text = fmt_estimate({"estimate": recall, "ci_low": lo, "ci_high": hi})
    assert text == "0.67 [0.21, 0.94]", text  # the display rules
    interval = text.partition(" ")[2]
    rest = (y == "dog") & (site != "west")
    diff = recall - ((pred == "dog") & rest).sum() / rest.sum()
    return [repr(recall), interval, interval.strip("[]"), repr(lo), repr(hi), repr(float(diff))]


@pytest.mark.parametrize("disclose", [False, True], ids=["withheld", "disclosed"])
def test_no_suppressed_value_in_any_output(case, outputs, disclosed_outputs, disclose, tmp_path):
    out = disclosed_outputs if disclose else outputs
    forbidden = _small_cell_strings(*case)
    # the JSON holds the value only when disclosed: so the check below can see it
    results = out["results.json"].decode("utf-8")
    g = json.loads(results)["subgroups"]["groupings"][0]
    west = next(lv for lv in g["levels"] if lv["level"] == "west")
    dog = next(c for c in west["cells"] if c["label"] == "dog")
    assert dog["suppressed"]
    if disclose:
        assert dog["recall"]["estimate"] == pytest.approx(2 / 3)
        assert forbidden[0] in results
    else:
        assert dog["recall"]["estimate"] is None and dog["recall"]["status"] == "suppressed"
        assert forbidden[0] not in results
    html = out["report.html"].decode("utf-8")
    texts = {
        "report.html": html,
        "figures in the report": _svgs(html),
        "report.pdf": _pdf_text(out["report.pdf"], tmp_path),
    }
    texts.update(
        (name, data.decode("utf-8"))
        for name, data in out.items()
        if name.endswith((".csv", ".md", ".tex", ".svg"))
    )
    assert {"subgroups.csv", "subgroup_disparities.csv", "summary.md", "tables.tex"} <= set(texts)
    for name, text in texts.items():
        for s in forbidden:
            assert s not in text, f"{s!r} of the suppressed cell in {name}"
    # its rows are there, empty and marked
    rows = [
        r
        for r in _rows(out["subgroups.csv"])
        if (r["level"], r["label"]) == ("west", "dog") and r["metric"] in ("recall", "fpr")
    ]
    assert len(rows) == 2
    assert all(
        r["status"] == "suppressed" and r["estimate"] == r["ci_low"] == r["ci_high"] == ""
        for r in rows
    )
    assert not [
        r
        for r in _rows(out["subgroup_disparities.csv"])
        if (r["level"], r["label"]) == ("west", "dog")
    ]


def test_disclosure_changes_no_export(outputs, disclosed_outputs):
    for name in ("subgroups.csv", "subgroup_disparities.csv", "subgroup_gaps.csv"):
        assert outputs[name] == disclosed_outputs[name], name
    # the LaTeX's first line names the time of the results
    tex, tex2 = (o["tables.tex"].split(b"\n", 1)[1] for o in (outputs, disclosed_outputs))
    assert tex == tex2
    md = outputs["summary.md"].decode("utf-8")
    md2 = disclosed_outputs["summary.md"].decode("utf-8")
    assert "disclosed in results.json at the user's request" in md2
    assert (
        md2.replace(
            " The suppressed values were disclosed in results.json at the user's request; no other "
            "output shows them.",
            "",
        )
        == md
    )


# ------------------------------------------------------------------------------------------------
# the exports


def test_subgroups_csv_equals_the_json(d, outputs):
    rows = _rows(outputs["subgroups.csv"])
    assert list(rows[0]) == list(exports.SUBGROUPS_COLUMNS)
    g = _grouping(d)
    k = len(d["data"]["classes"])
    assert len(rows) == len(g["levels"]) * (1 + 3 * k)
    levels = {lv["level"]: lv for lv in g["levels"]}
    shown = 0
    for r in rows:
        lv = levels[r["level"]]
        assert r["level_n"] == str(lv["n"])
        if r["metric"] == "accuracy":
            e = lv["accuracy"]
            assert r["label"] == ""
        else:
            cell = next(c for c in lv["cells"] if c["label"] == r["label"])
            e = cell[r["metric"]]
        if r["status"] == "suppressed":
            assert e["estimate"] is None
            continue
        shown += 1
        assert _num(r["estimate"]) == e["estimate"]
        assert _num(r["ci_low"]) == e["ci_low"] and _num(r["ci_high"]) == e["ci_high"]
        assert r["status"] == e["status"] and r["method"] == e["method"]
    assert shown > len(rows) // 2


def test_subgroup_disparities_csv_equals_the_json(d, outputs):
    rows = _rows(outputs["subgroup_disparities.csv"])
    assert list(rows[0]) == list(exports.SUBGROUP_DISPARITY_COLUMNS)
    g = _grouping(d)
    assert len(rows) == len(g["disparities"])  # none rests on a suppressed value here

    def key(x):
        return (x["level"], x["against"], x["metric"], "" if x["label"] is None else x["label"])

    by_key = {key(x): x for x in g["disparities"]}
    claimed = 0
    for r in rows:
        assert r["grouping"] == "site"
        x = by_key[(r["level"], r["against"], r["metric"], r["label"])]
        for col, e in (("difference", x["difference"]), ("ratio", x["ratio"])):
            assert _num(r[col]) == e["estimate"]
            assert _num(r[f"{col}_ci_low"]) == e["ci_low"]
            assert _num(r[f"{col}_ci_high"]) == e["ci_high"]
        assert _num(r["p_value"]) == x["p_value"]
        a = x["adjusted"]
        if a is None:
            assert r["p_adjusted"] == r["significant"] == r["adjusted_ci_low"] == ""
        else:
            assert _num(r["p_adjusted"]) == a["p_adjusted"]
            assert _num(r["adjusted_ci_low"]) == a["ci_low"]
            assert r["significant"] == ("true" if a["significant"] else "false")
            claimed += a["significant"]
    assert claimed >= 1
    gaps = _rows(outputs["subgroup_gaps.csv"])
    assert len(gaps) == len(g["max_gaps"])
    for r, x in zip(gaps, g["max_gaps"]):
        assert _num(r["gap"]) == x["gap"]["estimate"] and r["highest"] == x["highest"]


def test_markdown_and_latex_sections(d, outputs):
    md = outputs["summary.md"].decode("utf-8")
    part = md[md.index("## Subgroups") : md.index("## Findings")]
    assert "### site" in part
    g = _grouping(d)
    for lv in g["levels"]:
        assert fmt_estimate(lv["accuracy"]) in part
    tex = outputs["tables.tex"].decode("utf-8")
    assert r"\label{tab:prevalens-subgroups}" in tex
    assert r"\label{tab:prevalens-subgroup-gaps}" in tex
    lv = g["levels"][0]
    est, _, ci = fmt_estimate(lv["accuracy"]).partition(" ")
    assert rf"\prevalensstack{{{est}}}{{{ci}}}" in tex


# ------------------------------------------------------------------------------------------------
# many classes and levels


def test_figures_stay_readable_with_100_classes_and_10_levels():
    rng = np.random.default_rng(5)
    k, n = 100, 20000
    p = np.exp(-np.arange(k) / 25)
    y = rng.choice(k, n, p=p / p.sum())
    pred = np.where(rng.random(n) < 0.8, y, rng.integers(0, k, n))
    site = rng.choice(10, n)
    labels = [f"c{i:03d}" for i in range(k)]
    pr = predictions_from_arrays(
        np.array(labels)[y], np.array(labels)[pred], groups={"site": np.array(site).astype(str)}
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", pv.PrevalensWarning)
        d = pv.audit_predictions(pr, n_resamples=0, seed=1).to_dict()
    g = _grouping(d)
    shown = plots.subgroup_classes(d, g)
    assert len(shown) == plots.SUBGROUP_CLASSES
    rows, total = plots._subgroup_forest_rows(d, g)
    assert len(rows) <= plots.SUBGROUP_FOREST_ROWS < total
    figures = plots.render_figures(d)
    heat, forest = figures["subgroup_recall-1"], figures["subgroup_forest-1"]
    assert f"{k - len(shown)} of {k} classes are left out" in heat.alt
    assert "each cell gives the recall (the intervals are in subgroups.csv)" in heat.alt
    assert f"{total - len(rows)} of {total} are left out" in forest.alt
    # one tick label per shown class, within an A4 page's height
    for lab in shown:
        assert f">{lab}<" in heat.svg
    height_cm = float(re.search(r'height="([\d.]+)pt"', heat.svg).group(1)) / 72 * 2.54
    assert height_cm <= 24.5


# ------------------------------------------------------------------------------------------------
# the command line


def test_cli_audit_with_group_writes_the_subgroup_outputs(case, tmp_path):
    y, pred, site = case
    src = tmp_path / "preds.csv"
    with open(src, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["y_true", "y_pred", "site"])
        w.writerows(zip(y, pred, site))
    out = tmp_path / "out"
    code = cli_main(
        [
            "audit",
            str(src),
            "--group",
            "site",
            "--n-resamples",
            "0",
            "--seed",
            "1",
            "--format",
            "json,html,csv,md,tex",
            "--out-dir",
            str(out),
            "--quiet",
        ]
    )
    assert code == 0
    for name in ("subgroups.csv", "subgroup_disparities.csv", "subgroup_gaps.csv"):
        assert (out / name).exists(), name
    html = (out / "report.html").read_text(encoding="utf-8")
    assert '<section id="subgroups"' in html
    assert "[0.21, 0.94]" not in html
    d = json.loads((out / "results.json").read_text(encoding="utf-8"))
    assert [g["name"] for g in d["subgroups"]["groupings"]] == ["site"]


# ------------------------------------------------------------------------------------------------
# the averages within levels and each class's ROC AUC (with scores)


def _scores(y, site, seed=7):
    """Softmax scores, the true class raised (less at west)."""
    rng = np.random.default_rng(seed)
    k = len(LABELS)
    codes = np.searchsorted(LABELS, y)
    logits = rng.normal(0.0, 1.0, (y.size, k))
    logits[np.arange(y.size), codes] += np.where(site == "west", 0.8, 2.0)
    p = np.exp(logits)
    return p / p.sum(axis=1, keepdims=True)


@pytest.fixture(scope="module")
def scored_case(case):
    y, pred, site = case  # the predictions stay those of ``case`` (dog in west: 2 of 3)
    return y, pred, site, _scores(y, site)


def _scored_audit(y, pred, site, scores, **options):
    p = predictions_from_arrays(y, pred, y_score=scores, labels=list(LABELS), groups={"site": site})
    options.setdefault("n_resamples", 100)
    options.setdefault("seed", 3)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", pv.PrevalensWarning)
        return pv.audit_predictions(p, **options)


@pytest.fixture(scope="module")
def scored(scored_case):
    return _scored_audit(*scored_case)


@pytest.fixture(scope="module")
def scored_d(scored):
    return json.loads(scored.to_json())


@pytest.fixture(scope="module")
def scored_outputs(scored):
    return pv.render(scored, OUTPUTS)


@pytest.fixture(scope="module")
def scored_disclosed_outputs(scored_case):
    return pv.render(_scored_audit(*scored_case, subgroup_disclose=True), OUTPUTS)


def test_results_with_averages_validate_against_the_schema(scored_d):
    from jsonschema import Draft202012Validator

    validator = Draft202012Validator(pv.load_schema())
    assert not [e.message for e in validator.iter_errors(scored_d)]
    g = _grouping(scored_d)
    assert any(x["metric"] == "macro.roc_auc" for x in g["disparities"])
    broken = json.loads(json.dumps(scored_d))
    level = broken["subgroups"]["groupings"][0]["levels"][0]
    level["averages"]["bogus"] = level["accuracy"]
    assert list(validator.iter_errors(broken))
    level["averages"].pop("bogus")
    level["averages"]["macro.recall"] = 0.5
    assert list(validator.iter_errors(broken))


def test_the_suppressed_class_counts_in_no_average(scored_case, scored_d):
    from sklearn.metrics import roc_auc_score

    y, pred, site, scores = scored_case
    west = next(lv for lv in _grouping(scored_d)["levels"] if lv["level"] == "west")
    rows = site == "west"
    recalls = {
        lab: float(((pred == lab) & (y == lab) & rows).sum() / ((y == lab) & rows).sum())
        for lab in LABELS
    }
    shown = [lab for lab in LABELS if lab != "dog"]
    avg = west["averages"]
    assert avg["macro.recall"]["estimate"] == pytest.approx(
        np.mean([recalls[lab] for lab in shown]), abs=1e-12
    )
    assert avg["macro.recall"]["estimate"] != pytest.approx(np.mean(list(recalls.values())))
    aucs = {lab: roc_auc_score(y[rows] == lab, scores[rows, j]) for j, lab in enumerate(LABELS)}
    assert avg["macro.roc_auc"]["estimate"] == pytest.approx(
        np.mean([aucs[lab] for lab in shown]), abs=1e-9
    )
    for c in west["cells"]:
        if c["label"] == "dog":
            assert c["roc_auc"] is None
        else:
            assert c["roc_auc"]["estimate"] == pytest.approx(aucs[c["label"]], abs=1e-9)


def test_subgroup_averages_csv_equals_the_json(scored_d, scored_outputs):
    rows = _rows(scored_outputs["subgroup_averages.csv"])
    assert list(rows[0]) == list(exports.SUBGROUP_AVERAGE_COLUMNS)
    g = _grouping(scored_d)
    expected = [(lv["level"], key) for lv in g["levels"] for key in lv["averages"]]
    assert sorted((r["level"], r["quantity"]) for r in rows) == sorted(expected)
    keys = [r["quantity"] for r in rows if r["level"] == g["levels"][0]["level"]]
    assert keys[:5] == [f"macro.{m}" for m in ("recall", "fpr", "precision", "f1", "roc_auc")]
    assert "gap.recall" in keys and "stratum.common.recall" in keys
    levels = {lv["level"]: lv for lv in g["levels"]}
    for r in rows:
        assert r["grouping"] == "site" and r["level_n"] == str(levels[r["level"]]["n"])
        e = levels[r["level"]]["averages"][r["quantity"]]
        assert _num(r["estimate"]) == e["estimate"]
        assert _num(r["ci_low"]) == e["ci_low"] and _num(r["ci_high"]) == e["ci_high"]
        assert _num(r["se"]) == e["se"]
        assert r["status"] == e["status"] and r["method"] == e["method"]
        assert r["note"] == (e.get("note") or "")


def test_roc_auc_in_subgroups_csv_and_the_new_disparities(scored_d, scored_outputs):
    g = _grouping(scored_d)
    rows = [r for r in _rows(scored_outputs["subgroups.csv"]) if r["metric"] == "roc_auc"]
    assert len(rows) == len(g["levels"]) * len(LABELS)
    for r in rows:
        lv = next(x for x in g["levels"] if x["level"] == r["level"])
        cell = next(c for c in lv["cells"] if c["label"] == r["label"])
        if (r["level"], r["label"]) == ("west", "dog"):
            assert r["status"] == "suppressed" and r["estimate"] == ""
            continue
        assert _num(r["estimate"]) == cell["roc_auc"]["estimate"]
        assert _num(r["ci_low"]) == cell["roc_auc"]["ci_low"]
    drows = _rows(scored_outputs["subgroup_disparities.csv"])
    metrics = {r["metric"] for r in drows}
    assert {"macro.recall", "macro.fpr", "macro.precision", "macro.f1", "macro.roc_auc"} <= metrics
    assert "roc_auc" in metrics
    assert len(drows) == len(g["disparities"])
    macro = [r for r in drows if r["metric"] == "macro.recall" and r["against"] == "rest"]
    assert len(macro) == len(g["levels"]) and all(r["label"] == "" for r in macro)
    assert all(r["note"].startswith("over the ") for r in macro)
    assert any(r["significant"] == "true" for r in macro)  # west's macro recall


def _small_auc(scored_case) -> float:
    from sklearn.metrics import roc_auc_score

    y, _, site, scores = scored_case
    rows = site == "west"
    return float(roc_auc_score(y[rows] == "dog", scores[rows, list(LABELS).index("dog")]))


@pytest.mark.parametrize("disclose", [False, True], ids=["withheld", "disclosed"])
def test_no_suppressed_value_in_the_averages_and_roc_auc(
    scored_case, scored_outputs, scored_disclosed_outputs, disclose, tmp_path
):
    out = scored_disclosed_outputs if disclose else scored_outputs
    y, pred, site, _ = scored_case
    forbidden = _small_cell_strings(y, pred, site) + [repr(_small_auc(scored_case))]
    g = json.loads(out["results.json"])["subgroups"]["groupings"][0]
    west = next(lv for lv in g["levels"] if lv["level"] == "west")
    assert next(c for c in west["cells"] if c["label"] == "dog")["roc_auc"] is None
    assert not [x for x in g["disparities"] if (x["level"], x["label"]) == ("west", "dog")] or (
        disclose
    )
    html = out["report.html"].decode("utf-8")
    texts = {
        "report.html": html,
        "figures in the report": _svgs(html),
        "report.pdf": _pdf_text(out["report.pdf"], tmp_path),
    }
    texts.update(
        (name, data.decode("utf-8"))
        for name, data in out.items()
        if name.endswith((".csv", ".md", ".tex", ".svg"))
    )
    assert "subgroup_averages.csv" in texts
    for name, text in texts.items():
        for s in forbidden:
            assert s not in text, f"{s!r} of the suppressed cell in {name}"
    assert not [
        r
        for r in _rows(out["subgroup_disparities.csv"])
        if (r["level"], r["label"]) == ("west", "dog")
    ]
    # the report's ROC AUC table marks the cell suppressed
    section = _section(html)
    table = section[section.index("ROC AUC of each class") :]
    row = table[table.index("<td>dog</td>") :]
    row = row[: row.index("</tr>")]
    assert row.count(">suppressed<") == 1


def test_disclosure_changes_no_export_with_scores(scored_outputs, scored_disclosed_outputs):
    for name in ("subgroups.csv", "subgroup_disparities.csv", "subgroup_averages.csv"):
        assert scored_outputs[name] == scored_disclosed_outputs[name], name


def test_the_report_shows_the_averages_tables(scored_d, scored_outputs, tmp_path):
    html = scored_outputs["report.html"].decode("utf-8")
    section = _section(html)
    g = _grouping(scored_d)
    for caption in (
        "Averages within the levels of site",
        "Macro averages minus the rest of the rows, within site",
        "Gap and strata within the levels of site",
        "ROC AUC of each class within the levels of site",
    ):
        assert f"<caption>{caption}</caption>" in section
    for lv in g["levels"]:
        for key in ("macro.recall", "macro.f1", "macro.roc_auc", "gap.recall"):
            text = exports.fmt_subgroup_average(lv["averages"][key], key)
            est, _, ci = text.partition(" ")
            assert f'{est} <span class="ci">{ci}</span>' in section, (lv["level"], key)
    claimed = [
        x
        for x in exports.subgroup_disparities(g)
        if x["metric"].startswith("macro.")
        and x["against"] == "rest"
        and exports.subgroup_claimed(x)
    ]
    assert claimed
    for x in claimed:
        est = fmt_estimate(x["difference"], bounds=(0.0,)).partition(" ")[0]
        assert f"{est}*" in section
    pdf = _pdf_text(scored_outputs["report.pdf"], tmp_path)
    assert "Averages within the levels of site" in pdf
    assert "Macro averages minus the rest of the rows" in pdf
    assert "ROC AUC of each class within the levels of site" in pdf
    west = next(lv for lv in g["levels"] if lv["level"] == "west")
    assert fmt_estimate(west["averages"]["macro.recall"]) in pdf


def test_markdown_and_latex_show_the_averages(scored_d, scored_outputs):
    g = _grouping(scored_d)
    md = scored_outputs["summary.md"].decode("utf-8")
    part = md[md.index("## Subgroups") : md.index("## Findings")]
    assert "| Level | Macro recall | Macro F1 | Macro ROC AUC |" in part
    for lv in g["levels"]:
        assert fmt_estimate(lv["averages"]["macro.f1"]) in part
    assert "Macro averages that differ from the rest of the rows (claimed):" in part
    tex = scored_outputs["tables.tex"].decode("utf-8")
    assert r"\label{tab:prevalens-subgroup-averages}" in tex
    assert r"\label{tab:prevalens-subgroup-strata}" in tex
    est, _, ci = fmt_estimate(g["levels"][0]["averages"]["macro.roc_auc"]).partition(" ")
    assert rf"\prevalensstack{{{est}}}{{{ci}}}" in tex


if shutil.which("pdftotext") is None:  # pragma: no cover - poppler-utils is a test requirement
    raise RuntimeError("pdftotext (poppler-utils) is needed for the report tests")
