"""The calibration of the probabilities in the outputs: the report's section and reliability
figure, ``calibration.csv`` and ``calibration_bins.csv``, the Markdown summary, the LaTeX table
``tab:prevalens-calibration`` and the results schema; none of them without probabilities.

The numbers themselves are tested with the analysis (prevalens.analyses.calibration); here every
output must show exactly the result's numbers."""

from __future__ import annotations

import csv
import io
import json
import re
import shutil
import warnings

import numpy as np
import pytest
from jsonschema import Draft202012Validator

import prevalens as pv
from prevalens import exports
from prevalens.formatting import fmt_number, fmt_percent
from prevalens.report import model as report_model
from prevalens.report import plots, render

LABELS = ["ant", "bee", "cat", "dog", "eel", "fox"]
PREVALENCE = [0.4, 0.25, 0.18, 0.1, 0.05, 0.02]


def _data(seed=0, n=800, temperature=1.6):
    """Labels and over-confident probabilities (softmax of sharpened logits)."""
    rng = np.random.default_rng(seed)
    k = len(PREVALENCE)
    y = rng.choice(k, size=n, p=PREVALENCE)
    logits = rng.normal(0.0, 1.0, (n, k)) + np.log(PREVALENCE)
    logits[np.arange(n), y] += 1.5
    z = temperature * logits
    p = np.exp(z - z.max(axis=1, keepdims=True))
    return np.array(LABELS, dtype=object)[y], p / p.sum(axis=1, keepdims=True)


def _audit(*args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", pv.PrevalensWarning)
        return pv.audit(*args, **kwargs)


@pytest.fixture(scope="module")
def result():
    y, p = _data()
    return _audit(y, y_score=p, labels=LABELS, n_resamples=200, seed=7)


@pytest.fixture(scope="module")
def d(result):
    return json.loads(result.to_json())


@pytest.fixture(scope="module")
def outputs(result):
    return pv.render(result, ["html", "csv", "md", "tex", "figures"])


@pytest.fixture(scope="module")
def plain():
    """An audit whose scores are not probabilities (no calibration)."""
    y, p = _data(seed=1)
    return _audit(y, y_score=p * 3.0, labels=LABELS, n_resamples=0, seed=1)  # rows sum to 3


def _section(html: str) -> str:
    start = html.index('<section id="calibration"')
    return html[start : html.index("</section>", start)]


def _cell_html(text: str) -> str:
    """A formatted ``estimate [interval]`` as the report's table cell lays it out."""
    est, _, ci = text.partition(" ")
    return f'{est} <span class="ci">{ci}</span>' if ci else est


def _rows(data: bytes) -> list[dict]:
    return list(csv.DictReader(io.StringIO(data.decode("utf-8"), newline="")))


def _num(x):
    return None if x == "" else float(x)


# ------------------------------------------------------------------------------------------------
# the result and the schema


def test_the_audit_has_a_calibration_that_validates_against_the_schema(result, d):
    cal = result.calibration
    assert cal is not None and len(cal.per_class) == len(LABELS)
    validator = Draft202012Validator(pv.load_schema())
    assert list(validator.iter_errors(d)) == []
    # the schema is strict about the new block
    broken = json.loads(json.dumps(d))
    broken["calibration"]["per_class"][0]["extra"] = 1
    assert list(validator.iter_errors(broken))
    broken = json.loads(json.dumps(d))
    del broken["calibration"]["brier"]["within_bin"]
    assert list(validator.iter_errors(broken))
    broken = json.loads(json.dumps(d))
    broken["calibration"]["top_label_bins"][0]["n"] = -1
    assert list(validator.iter_errors(broken))
    # a calibration finding's kind is one the schema names
    kinds = pv.load_schema()["properties"]["findings"]["items"]["properties"]["kind"]["enum"]
    assert "calibration" in kinds


# ------------------------------------------------------------------------------------------------
# the report's section


def test_the_section_shows_the_results_numbers(d, outputs):
    html = outputs["report.html"].decode("utf-8")
    section = _section(html)
    cal = d["calibration"]
    assert "<h2>Calibration</h2>" in section
    assert cal["method"] in section
    assert "above 0 when they are too low" in section and "over-confident" in section
    for s in cal["strata"]:
        for e, bounds in ((s["ece"], (0.0,)), (s["intercept"], (0.0,)), (s["slope"], (0.0, 1.0))):
            assert _cell_html(exports.fmt_marked(e, bounds=bounds)) in section, s["stratum"]
    body = section[section.index("Calibration per class") :]
    rows = re.findall(r"<tr[^>]*>(.*?)</tr>", body, re.S)[1:]  # the header row first
    assert len(rows) == len(LABELS)
    by_label = {str(c["label"]): c for c in cal["per_class"]}
    order = re.findall(r"<tr[^>]*><td>([^<]*) <span", body)
    assert order == [
        str(c["label"])
        for c in report_model._select_classes(
            d, sorted(d["per_class"], key=lambda c: (-c["support"], str(c["label"]))), 60
        )
    ]  # most common first, as the other per-class tables
    for label, row in zip(order, rows):
        c = by_label[label]
        cells = re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)
        flagged = "insufficient" in next(
            x["flags"] for x in d["per_class"] if str(x["label"]) == label
        )
        stratum = c["stratum"] + (", insufficient" if flagged else "")
        assert cells[0] == f'{label} <span class="ci">{stratum}</span>'
        assert cells[1] == f"{c['support']:,}"
        assert cells[2] == _cell_html(f"{fmt_percent(c['observed'])} {fmt_percent(c['expected'])}")
        assert cells[3] == _cell_html(exports.fmt_marked(c["intercept"], bounds=(0.0,)))
        assert cells[4] == _cell_html(exports.fmt_marked(c["slope"], bounds=(0.0, 1.0)))
        assert cells[5] == _cell_html(exports.fmt_marked(c["ece"], bounds=(0.0,)))
        assert cells[6] == fmt_number(c["brier"]["reliability"], 4, bounds=(0.0,))
    # the overall line: both ECEs and the Brier decomposition, which sums to the Brier score
    b = cal["brier"]
    assert (
        f"reliability {fmt_number(b['reliability'], 4, bounds=(0.0,))} \u2212 resolution "
        f"{fmt_number(b['resolution'], 4, bounds=(0.0,))}" in section
    )
    total = b["reliability"] - b["resolution"] + b["uncertainty"] + b["within_bin"]
    assert total == pytest.approx(d["overall"]["brier"]["estimate"], abs=1e-9)
    assert f"= Brier score {fmt_number(d['overall']['brier']['estimate'], 4)}." in section
    assert "Classwise ECE " + exports.fmt_marked(cal["classwise_ece"], bounds=(0.0,)) in section
    assert "top-label ECE " + exports.fmt_marked(cal["top_label_ece"], bounds=(0.0,)) in section
    # the figure, and the calibration findings
    assert "Reliability curves" in section and "data:image/svg+xml;base64," in section
    for f in d["findings"]:
        if f["kind"] == "calibration":
            assert f["text"].replace("'", "&#39;") in section
    # listed in the contents, after the confusion analysis
    toc = html[html.index('class="toc"') : html.index("</nav>")]
    assert toc.index("Confusion analysis") < toc.index("Calibration")


def test_insufficient_and_undefined_read_as_in_the_other_tables():
    """A class with 5 samples is flagged (italic row, "insufficient" beside its stratum under the label) and a class
    without samples reads undefined where the probabilities cannot bound it."""
    rng = np.random.default_rng(2)
    y, p = _data(seed=2, n=600)
    y = np.where(y == "fox", "eel", y)
    y[:5] = "fox"
    p[:5] = rng.dirichlet(np.ones(len(LABELS)), 5)
    labels = LABELS + ["gnu"]
    p = np.hstack([p, np.full((len(y), 1), 1e-3)])
    p /= p.sum(axis=1, keepdims=True)
    d = _audit(y, y_score=p, labels=labels, n_resamples=100, seed=2).to_dict()
    m = report_model.build_report_model(d, figures={})
    sec = next(s for s in m.sections if s.id == "calibration")
    table = sec.get("calibration_per_class")
    rows = {r.cells[0].text: r for r in table.rows}
    fox = rows["fox"].cells[0]
    assert "flagged" in rows["fox"].classes and fox.interval.endswith(", insufficient")
    assert "flagged" not in rows["ant"].classes
    gnu = next(c for c in d["calibration"]["per_class"] if c["label"] == "gnu")
    assert gnu["intercept"]["status"] == "undefined"
    assert rows["gnu"].cells[3].text == "undefined" and rows["gnu"].cells[4].text == "undefined"


# ------------------------------------------------------------------------------------------------
# the figure


def test_the_reliability_figure_is_drawn_and_reproducible(d, outputs):
    figures = plots.render_figures(d)
    assert "reliability" in figures
    fig = figures["reliability"]
    chosen = plots.reliability_classes(d)
    # 6 classes: all of them, rarest first
    assert [c["label"] for c in chosen] == [
        c["label"]
        for c in sorted(d["calibration"]["per_class"], key=lambda c: (c["support"], c["label"]))
    ]
    for c in chosen:
        assert f"{c['label']} (n = {c['support']:,})" in fig.svg
    n = sum(b["n"] for b in d["calibration"]["top_label_bins"])
    assert f"top label (n = {n:,})" in fig.svg
    assert "<image" not in fig.svg
    assert "ECE" in fig.alt and "top label" in fig.alt
    assert plots.render_figures(d)["reliability"].svg == fig.svg  # same input, same bytes
    assert outputs["figures/reliability.svg"] == fig.svg.encode("utf-8")
    assert outputs["figures/reliability.pdf"].startswith(b"%PDF")


def test_the_figure_shows_the_rarest_and_the_most_common_of_many_classes(d):
    many = json.loads(json.dumps(d))
    per_class = many["calibration"]["per_class"]
    extra = []
    for i in range(6):
        c = json.loads(json.dumps(per_class[0]))
        c["label"], c["support"] = f"x{i}", 100 + i
        extra.append(c)
    zero = json.loads(json.dumps(per_class[0]))
    zero["label"], zero["support"] = "none", 0
    many["calibration"]["per_class"] = per_class + extra + [zero]
    chosen = [c["label"] for c in plots.reliability_classes(many)]
    ranked = sorted(
        (c for c in many["calibration"]["per_class"] if c["support"] >= 1),
        key=lambda c: (c["support"], str(c["label"])),
    )
    assert chosen == [c["label"] for c in ranked[:3] + ranked[-3:]]
    assert "none" not in chosen


# ------------------------------------------------------------------------------------------------
# the exports


def test_calibration_csv_holds_the_results_numbers(result, outputs):
    rows = _rows(outputs["calibration.csv"])
    cal = result.calibration
    assert [r["label"] for r in rows] == [str(c.label) for c in cal.per_class]
    for r, c in zip(rows, cal.per_class):
        assert r["stratum"] == (c.stratum or "") and int(r["support"]) == c.support
        assert float(r["observed"]) == c.observed and float(r["expected"]) == c.expected
        for name in ("intercept", "slope", "ece"):
            e = getattr(c, name)
            for field in ("estimate", "ci_low", "ci_high"):
                value = getattr(e, field)
                key = name if field == "estimate" else f"{name}_{field}"
                if value is None or not np.isfinite(value):
                    assert r[key] == ""
                else:
                    assert float(r[key]) == value, (c.label, key)
            assert r[f"{name}_status"] == e.status
        for part in ("reliability", "resolution", "uncertainty", "within_bin"):
            assert float(r[f"brier_{part}"]) == c.brier[part]


def test_calibration_bins_csv_holds_every_curve(result, outputs):
    rows = _rows(outputs["calibration_bins.csv"])
    cal = result.calibration
    assert list(rows[0]) == [
        "curve",
        "label",
        "bin",
        "low",
        "high",
        "n",
        "mean_score",
        "observed",
        "ci_low",
        "ci_high",
    ]
    curves = [("class", str(c.label), c.bins) for c in cal.per_class]
    curves.append(("top_label", "", cal.top_label_bins))
    assert len(rows) == sum(len(b) for _, _, b in curves)
    it = iter(rows)
    for curve, label, bins in curves:
        for i, b in enumerate(bins, start=1):
            r = next(it)
            assert r["curve"] == curve and r["label"] == label
            assert int(r["bin"]) == i and int(r["n"]) == b.n
            for key in ("low", "high", "mean_score", "observed", "ci_low", "ci_high"):
                assert _num(r[key]) == getattr(b, key), (curve, label, i, key)


def test_a_class_named_top_label_stays_a_class_in_the_bins_csv():
    """A class whose label reads like the top-label curve is still told apart by ``curve``."""
    labels = ["(top label)", "top_label", "c", "d", "e", "f"]
    y, p = _data(seed=5, n=500)
    idx = {lab: i for i, lab in enumerate(LABELS)}
    y = np.array(labels, dtype=object)[[idx[v] for v in y]]
    r = _audit(y, y_score=p, labels=labels, n_resamples=0, seed=5)
    rows = _rows(exports.calibration_bins_csv(r.to_dict()))
    n_bins = {str(c.label): len(c.bins) for c in r.calibration.per_class}
    for label in labels:
        mine = [x for x in rows if x["label"] == label]
        assert len(mine) == n_bins[label] and {x["curve"] for x in mine} == {"class"}
    top = [x for x in rows if x["curve"] == "top_label"]
    assert len(top) == len(r.calibration.top_label_bins) and {x["label"] for x in top} == {""}


def test_summary_and_latex_have_the_calibration(d, outputs):
    md = outputs["summary.md"].decode("utf-8")
    assert "## Calibration" in md
    part = md[md.index("## Calibration") : md.index("## Findings")]
    for s in d["calibration"]["strata"]:
        assert exports.fmt_marked(s["slope"], bounds=(0.0, 1.0)) in part
    b = d["calibration"]["brier"]
    assert f"reliability {fmt_number(b['reliability'], 4, bounds=(0.0,))}" in part
    tex = outputs["tables.tex"].decode("utf-8")
    assert r"\label{tab:prevalens-calibration}" in tex
    for s in d["calibration"]["strata"]:
        est = exports.fmt_marked(s["intercept"], bounds=(0.0,)).partition(" ")[0]
        assert "{" + est + "}" in tex


def _tex_engine():
    return shutil.which("pdflatex") or shutil.which("lualatex")


@pytest.mark.skipif(_tex_engine() is None, reason="no TeX engine (pdflatex or lualatex) on PATH")
def test_the_calibration_table_compiles_with_hostile_labels(tmp_path):
    labels = np.array(["a & b", "50% c", "$d_1", "e#", "x_y^z ~{}", "back\\slash"], dtype=object)
    y, p = _data(seed=4, n=700)
    idx = {lab: i for i, lab in enumerate(LABELS)}
    y = labels[[idx[v] for v in y]]
    d = _audit(y, y_score=p, labels=list(labels), n_resamples=100, seed=4).to_dict()
    hostile = "=rare|<i>x</i>_* & 100%"
    d["calibration"]["strata"][0]["stratum"] = hostile
    from test_exports import _compile  # the same LaTeX document and engine as the exports'

    log = _compile(tmp_path / "tex", d)
    assert "Overfull \\hbox" not in log and "Undefined control sequence" not in log
    assert "tab:prevalens-calibration" in exports.latex_tables(d).decode("utf-8")


# ------------------------------------------------------------------------------------------------
# without probabilities: nothing


def test_nothing_without_probability_scores(plain):
    assert plain.calibration is None
    d = plain.to_dict()
    assert "calibration" not in d
    out = pv.render(plain, ["html", "csv", "md", "tex", "figures"])
    assert "calibration.csv" not in out and "calibration_bins.csv" not in out
    assert "figures/reliability.svg" not in out
    assert '<section id="calibration"' not in out["report.html"].decode("utf-8")
    assert "## Calibration" not in out["summary.md"].decode("utf-8")
    assert "tab:prevalens-calibration" not in out["tables.tex"].decode("utf-8")
    assert "reliability" not in plots.render_figures(d)
    assert render.FIGURE_FILES["reliability"] == "reliability"
    # labels only, no scores at all: nothing either
    y, _ = _data(seed=3, n=200)
    d = _audit(y, y[::-1], n_resamples=0, seed=1).to_dict()
    assert "calibration" not in d and "calibration.csv" not in exports.export_files(d, ["csv"])


# ------------------------------------------------------------------------------------------------
# the probabilities at the deployment's prevalence (prevalence_shift.calibration)


@pytest.fixture(scope="module")
def shifted():
    """Probabilities and a uniform deployment prevalence; "gnu" has no sample, so it is absent at
    the target (undefined)."""
    y, p = _data(seed=6, n=900)
    p = np.hstack([p, np.full((len(y), 1), 1e-3)])
    p /= p.sum(axis=1, keepdims=True)
    return _audit(
        y,
        y_score=p,
        labels=LABELS + ["gnu"],
        n_resamples=200,
        seed=6,
        deployment_prevalence="uniform",
    )


@pytest.fixture(scope="module")
def shifted_outputs(shifted):
    return pv.render(shifted, ["html", "csv", "md"])


def _deployment_section(html: str) -> str:
    start = html.index('<section id="deployment"')
    return html[start : html.index("</section>", start)]


def test_the_shift_calibration_validates_against_the_schema(shifted):
    cal = shifted.prevalence_shift.calibration
    assert [str(c.label) for c in cal] == LABELS + ["gnu"]
    gnu = cal[-1]
    assert gnu.target_prevalence == 0 and np.isnan(gnu.raw_mean)
    assert gnu.raw_intercept.status == "undefined" and gnu.slope.status == "undefined"
    d = json.loads(shifted.to_json())
    assert len(d["prevalence_shift"]["calibration"]) == len(cal)
    validator = Draft202012Validator(pv.load_schema())
    assert list(validator.iter_errors(d)) == []
    spec = pv.load_schema()["properties"]["prevalence_shift"]["properties"]["calibration"]
    assert spec["description"] and spec["items"]["additionalProperties"] is False
    for change in (
        lambda c: c.update(extra=1),
        lambda c: c.pop("raw_mean"),
        lambda c: c["slope"].update(status="fine"),
        lambda c: c.update(target_prevalence=1.5),
    ):
        broken = json.loads(json.dumps(d))
        change(broken["prevalence_shift"]["calibration"][0])
        assert list(validator.iter_errors(broken))


def test_the_deployment_section_shows_the_shift_calibration(shifted, shifted_outputs):
    d = json.loads(shifted.to_json())
    html = shifted_outputs["report.html"].decode("utf-8")
    section = _deployment_section(html)
    assert "Probabilities at the deployment&#39;s prevalence" in section
    assert "Saerens, Latinne &amp; Decaestecker 2002" in section
    assert "0.84\u20130.93" in section
    # the paragraph comes before the table
    assert section.index("Saerens") < section.index(
        "<caption>Probabilities at the deployment&#39;s prevalence"
    )
    body = section[section.index("<caption>Probabilities at the deployment") :]
    body = body[: body.index("</table>")]
    rows = re.findall(r"<tr[^>]*>(.*?)</tr>", body, re.S)[1:]
    by_label = {str(c["label"]): c for c in d["prevalence_shift"]["calibration"]}
    # the classes of the deployment section's per-class table, in its order
    m = report_model.build_report_model(d, figures={})
    sec = next(s for s in m.sections if s.id == "deployment")
    shown = [r.cells[0].text for r in sec.get("shift_per_class").rows]
    assert [r.cells[0].text for r in sec.get("shift_calibration").rows] == shown
    assert len(rows) == len(shown) == len(LABELS) + 1
    for label, row in zip(shown, rows):
        c = by_label[label]
        cells = re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)
        assert cells[0] == label
        assert cells[1] == fmt_percent(c["target_prevalence"])
        assert cells[2] == fmt_percent(c["raw_mean"])
        assert cells[3] == _cell_html(exports.fmt_marked(c["raw_intercept"], bounds=(0.0,)))
        assert cells[4] == fmt_percent(c["adjusted_mean"])
        assert cells[5] == fmt_number(c["intercept"]["estimate"], bounds=(0.0,))
        assert cells[6] == fmt_number(c["slope"]["estimate"], bounds=(0.0, 1.0))
        if label == "gnu":
            assert cells[2:] == ["undefined"] * 5
        else:
            assert c["intercept"]["status"] == c["slope"]["status"] == "no_interval"
            assert "[" in cells[3] and "[" not in cells[5] + cells[6]  # point values
    header = re.findall(r"<th[^>]*>(.*?)</th>", body, re.S)
    assert header[5] == 'Intercept <span class="ci">corrected, point value</span>'
    assert header[6] == 'Slope <span class="ci">corrected, point value</span>'


def test_the_shift_calibration_csv_holds_the_results_numbers(shifted, shifted_outputs):
    assert list(shifted_outputs).index("prevalence_shift_calibration.csv") == (
        list(shifted_outputs).index("prevalence_shift.csv") + 1
    )
    data = shifted_outputs["prevalence_shift_calibration.csv"]
    assert data == exports.prevalence_shift_calibration_csv(shifted.to_dict())
    rows = _rows(data)
    cal = shifted.prevalence_shift.calibration
    assert tuple(rows[0]) == exports.SHIFT_CALIBRATION_COLUMNS
    assert [r["label"] for r in rows] == [str(c.label) for c in cal]

    def same(cell, value):
        return cell == "" if value is None or np.isnan(value) else float(cell) == value

    for r, c in zip(rows, cal):
        assert float(r["target_prevalence"]) == c.target_prevalence
        assert same(r["raw_mean"], c.raw_mean) and same(r["adjusted_mean"], c.adjusted_mean)
        e = c.raw_intercept
        assert same(r["raw_intercept"], e.estimate)
        assert same(r["raw_intercept_ci_low"], e.ci_low)
        assert same(r["raw_intercept_ci_high"], e.ci_high)
        assert r["raw_intercept_status"] == e.status
        for name in ("intercept", "slope"):
            e = getattr(c, name)
            assert same(r[name], e.estimate) and r[f"{name}_status"] == e.status
    # written next to prevalence_shift.csv by the CLI's writer too
    assert "prevalence_shift_calibration.csv" in exports.export_files(shifted.to_dict(), ["csv"])


def test_the_summary_has_the_shift_calibration_table(shifted, shifted_outputs):
    d = shifted.to_dict()
    md = shifted_outputs["summary.md"].decode("utf-8")
    part = md[md.index("## At the deployment's prevalence") : md.index("## Calibration")]
    assert "| " + " | ".join(exports.SHIFT_CALIBRATION_HEADER) + " |" in part
    for c in d["prevalence_shift"]["calibration"]:
        assert (
            "| " + " | ".join([str(c["label"]), *exports.shift_calibration_cells(c)]) + " |" in part
        )


def test_no_shift_calibration_without_probabilities_or_deployment_prevalence(plain, result):
    # probabilities, no deployment prevalence
    d = result.to_dict()
    assert "prevalence_shift" not in d
    out = pv.render(result, ["csv", "md"])
    assert not any(name.startswith("prevalence_shift") for name in out)
    # a deployment prevalence, no probabilities
    y, p = _data(seed=1)
    r = _audit(
        y, y_score=p * 3.0, labels=LABELS, n_resamples=0, seed=1, deployment_prevalence="uniform"
    )
    assert r.prevalence_shift is not None and r.prevalence_shift.calibration == ()
    d = r.to_dict()
    assert "calibration" not in d["prevalence_shift"]
    out = pv.render(r, ["html", "csv", "md"])
    assert "prevalence_shift.csv" in out and "prevalence_shift_calibration.csv" not in out
    section = _deployment_section(out["report.html"].decode("utf-8"))
    assert "Saerens" not in section and "Probabilities at the deployment" not in section
    assert "Probabilities at the deployment" not in out["summary.md"].decode("utf-8")
    m = report_model.build_report_model(d, figures={})
    sec = next(s for s in m.sections if s.id == "deployment")
    assert sec.get("shift_calibration") is None


def test_the_deployment_paragraph_says_when_the_correction_assumption_fails():
    from prevalens import exports as ex

    shift = {"calibration": []}
    assert "assumption does not hold" not in ex.shift_calibration_text(shift, "95%", [])
    findings = [{"kind": "calibration", "classes": ["a", "b"]}, {"kind": "gap", "classes": []}]
    text = ex.shift_calibration_text(shift, "95%", findings)
    assert "2 class(es)' probabilities are not calibrated" in text
