"""Quality gates for CI systems and for comparisons of models.

* :func:`prevalens.gate_reports.gates_junit` and :func:`~prevalens.gate_reports.gates_github`
  on hand-made gates blocks (numbers chosen so that every message can be written out by hand)
  and on the block of a real audit; the XML is parsed back, the workflow commands are read back
  as GitHub's runner reads them;
* ``delta.`` gates and the regression rule (:func:`prevalens.gates.evaluate_comparison_gates`,
  :func:`~prevalens.gates.regression_check`) on hand-made dicts of the shape of ``prevalens
  compare``'s results (``prevalens.comparison/1``), built by ``_comparison`` below;
* ``prevalens audit --junit`` and ``--github-annotations`` through ``prevalens.cli.main`` (fixture
  ``cli``), with ``--n-resamples 0`` to stay fast. Bad invocations of these flags are rows of the
  catalogue in tests/test_cli_config.py (exit 2, one line, nothing written).
"""

from __future__ import annotations

import json
import warnings
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

import prevalens
from prevalens import ConfigError
from prevalens.gate_reports import gate_message, gates_github, gates_junit
from prevalens.gates import (
    REGRESSION_SPEC,
    evaluate_comparison_gates,
    evaluate_gates,
    parse_gate,
    parse_gates,
    regression_check,
)

# ------------------------------------------------------------------------------------------------
# hand-made blocks


def _est(estimate, low=None, high=None, **extra) -> dict:
    return {
        "estimate": estimate,
        "ci_low": low,
        "ci_high": high,
        "se": None,
        "method": "bca",
        "status": "ok",
        **extra,
    }


def _item(spec, op, threshold, compared, value, passed, estimate=None, **extra) -> dict:
    """An item as evaluate_gates writes it."""
    return {
        "spec": spec,
        "metric": spec.split(" ")[0],
        "op": op,
        "threshold": threshold,
        "basis": "interval",
        "compared": compared,
        "value": value,
        "estimate": estimate,
        "passed": passed,
        **extra,
    }


#: Three gates: one passes on its lower bound, one fails on its upper bound, one has no value.
AUDIT_BLOCK = {
    "basis": "interval",
    "passed": False,
    "n_failed": 2,
    "items": [
        _item("macro.f1 >= 0.70", ">=", 0.7, "ci_low", 0.73, True, _est(0.78, 0.73, 0.83)),
        _item(
            "overall.log_loss <= 0.60",
            "<=",
            0.6,
            "ci_high",
            0.6312,
            False,
            _est(0.58, 0.53, 0.6312),
        ),
        _item(
            "stratum.rare.recall >= 0.50",
            ">=",
            0.5,
            None,
            None,
            False,
            note="stratum 'rare' has no class in this data",
        ),
    ],
}


def _junit(block, **kwargs) -> ET.Element:
    data = gates_junit(block, **kwargs)
    assert data.startswith(b"<?xml version='1.0' encoding='utf-8'?>\n")
    return ET.fromstring(data)


def _cases(root: ET.Element) -> list[ET.Element]:
    (suite,) = root.findall("testsuite")
    return suite.findall("testcase")


def _github_read_back(line: str) -> tuple[str, str]:
    """A workflow command as GitHub's runner reads it: (command and properties, message), the
    message unescaped (%0D, %0A, then %25)."""
    assert line.startswith("::")
    head, message = line[2:].split("::", 1)
    return head, message.replace("%0D", "\r").replace("%0A", "\n").replace("%25", "%")


# ------------------------------------------------------------------------------------------------
# JUnit XML


def test_junit_counts_names_and_messages():
    root = _junit(AUDIT_BLOCK)
    assert root.tag == "testsuites"
    assert root.attrib == {"tests": "3", "failures": "2", "errors": "0"}
    (suite,) = root.findall("testsuite")
    assert suite.attrib == {
        "name": "prevalens gates",
        "tests": "3",
        "failures": "2",
        "errors": "0",
        "skipped": "0",
    }
    assert [(p.get("name"), p.get("value")) for p in suite.iter("property")] == [
        ("basis", "interval")
    ]
    passed, log_loss, rare = _cases(root)
    assert [c.attrib for c in (passed, log_loss, rare)] == [
        {"classname": "prevalens.gates", "name": spec}
        for spec in ("macro.f1 >= 0.70", "overall.log_loss <= 0.60", "stratum.rare.recall >= 0.50")
    ]
    # a passed gate: no failure, its line as output
    assert passed.find("failure") is None
    assert passed.findtext("system-out") == "macro.f1 >= 0.70: lower bound 0.73 >= 0.70"
    # a failed gate: the value compared, which end, the threshold as written, and its numbers
    failure = log_loss.find("failure")
    assert failure.get("message") == "overall.log_loss <= 0.60: upper bound 0.63 > 0.60"
    assert failure.text.splitlines() == [
        "gate: overall.log_loss <= 0.60",
        "checked: ci_high (upper bound)",
        "value: 0.63",
        "threshold: 0.60",
        "estimate: 0.58 [0.53, 0.63] (bca)",
    ]
    # no value: the note says why
    failure = rare.find("failure")
    assert failure.get("message") == (
        "stratum.rare.recall >= 0.50: stratum 'rare' has no class in this data"
    )
    assert "checked: nothing (no value)" in failure.text.splitlines()
    assert failure.text.splitlines()[-1] == "note: stratum 'rare' has no class in this data"


def test_junit_bytes_depend_on_the_gates_only_timestamp_when_given():
    first, again = gates_junit(AUDIT_BLOCK), gates_junit(json.loads(json.dumps(AUDIT_BLOCK)))
    assert first == again
    assert b"timestamp" not in first and b"time=" not in first and b"hostname" not in first
    stamped = _junit(AUDIT_BLOCK, timestamp="2026-11-25T00:00:00Z", suite="release v3")
    (suite,) = stamped.findall("testsuite")
    assert suite.get("timestamp") == "2026-11-25T00:00:00Z"
    assert suite.get("name") == "release v3"


def test_failed_gate_shows_enough_decimals_for_its_side_of_the_threshold():
    item = _item("macro.f1 >= 0.7", ">=", 0.7, "ci_low", 0.69996, False, _est(0.75, 0.69996, 0.8))
    assert gate_message(item) == "macro.f1 >= 0.7: lower bound 0.69996 < 0.7"


def test_junit_and_github_escape_a_hostile_label():
    label = "a%b\nc<d&e\"f'g\rh"
    spec = f"class.{label}.recall >= 0.5"
    item = _item(spec, ">=", 0.5, "ci_low", 0.25, False, _est(0.4, 0.25, 0.55))
    block = {"basis": "interval", "items": [item]}
    expected = f"{spec}: lower bound 0.25 < 0.5"

    (case,) = _cases(_junit(block))
    assert case.get("name") == spec  # newline and carriage return survive as &#10; and &#13;
    assert case.find("failure").get("message") == expected
    assert f"gate: class.{label}".replace("\r", "\n") in case.find("failure").text

    text = gates_github(block)
    assert text.endswith("\n") and text.count("\n") == 1 and "\r" not in text  # one command
    assert "a%25b%0Ac<d&e\"f'g%0Dh" in text
    head, message = _github_read_back(text.rstrip("\n"))
    assert head == "error title=prevalens gate failed"
    assert message == expected


def test_junit_writes_characters_xml_cannot_hold_as_escapes():
    spec = "class.bell\x07\x00.recall >= 0.5"
    block = {"items": [_item(spec, ">=", 0.5, "ci_low", 0.75, True, _est(0.8, 0.75, 0.85))]}
    (case,) = _cases(_junit(block))  # parses: no raw control character in the file
    assert case.get("name") == "class.bell\\x07\\x00.recall >= 0.5"


def test_github_one_line_per_gate_error_or_notice():
    assert gates_github(AUDIT_BLOCK).splitlines() == [
        "::notice title=prevalens gate passed::macro.f1 >= 0.70: lower bound 0.73 >= 0.70",
        "::error title=prevalens gate failed::overall.log_loss <= 0.60: upper bound 0.63 > 0.60",
        "::error title=prevalens gate failed::stratum.rare.recall >= 0.50: stratum 'rare' has "
        "no class in this data",
    ]


@pytest.mark.parametrize(
    "block, message",
    [
        (None, "no quality gate is declared"),
        ({"gates": []}, "expected a gates block"),
        ([], "expected a gates block"),
    ],
)
def test_not_a_gates_block_is_refused(block, message):
    for fn in (gates_junit, gates_github):
        with pytest.raises(ConfigError, match=message):
            fn(block)


def test_junit_of_a_real_audits_gates():
    # class c is never predicted: its precision is undefined, and that gate fails with the reason
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", prevalens.PrevalensWarning)
        result = prevalens.audit(
            ["a", "a", "b", "b", "c", "a"],
            ["a", "a", "b", "a", "b", "a"],
            n_resamples=0,
            seed=1,
            gates=["micro.recall >= 0.5", "class.c.precision >= 0.5", "macro.recall >= 0.9"],
            gate_on="estimate",
        )
    block = result.gates
    root = _junit(block)
    assert root.attrib == {"tests": "3", "failures": "2", "errors": "0"}
    ok, undefined, low = _cases(root)
    assert ok.findtext("system-out") == "micro.recall >= 0.5: estimate 0.67 >= 0.5"
    note = block["items"][1]["note"]
    assert note.startswith("undefined: ")
    assert undefined.find("failure").get("message") == f"class.c.precision >= 0.5: {note}"
    # macro recall = (3/3 + 1/2 + 0/1) / 3 = 0.5
    assert low.find("failure").get("message") == "macro.recall >= 0.9: estimate 0.50 < 0.9"


# ------------------------------------------------------------------------------------------------
# delta gates on comparisons


def _diff(estimate, low, high, **extra) -> dict:
    return {**_est(estimate, low, high), "method": "paired bootstrap", "p_value": 0.2, **extra}


def _row(difference, *, higher_is_better=True, better=None, adjusted=None) -> dict:
    return {
        "reference": _est(0.8, 0.75, 0.85),
        "candidate": _est(0.8 + (difference["estimate"] or 0), 0.7, 0.9),
        "difference": difference,
        "higher_is_better": higher_is_better,
        "better": better,
        "adjusted": adjusted,
    }


def _adjusted(low, high, significant) -> dict:
    """An adjusted test as ComparisonResult writes it (AdjustedInterval.to_dict)."""
    return {
        "p_value": 0.01 if significant else 0.4,
        "level": 0.9975,  # the level of this step of Holm's procedure
        "ci_low": low,
        "ci_high": high,
        "significant": significant,
        "adjustment": "holm",
        "method": "normal, bootstrap or DeLong standard error",
    }


def _pair(ref, cand, d) -> dict:
    """A pair whose every difference is distinct (d shifts them), so a test can tell which row
    a gate read."""
    return {
        "reference": ref,
        "candidate": cand,
        "headline": {
            "macro.f1": _row(_diff(-0.01 + d, -0.03 + d, 0.01 + d)),
            "micro.recall": _row(_diff(0.02 + d, 0.0 + d, 0.04 + d)),
            "overall.accuracy": _row(_diff(0.03 + d, 0.01 + d, 0.05 + d)),
            "overall.log_loss": _row(
                _diff(-0.05 + d, -0.08 + d, -0.02 + d), higher_is_better=False
            ),
        },
        "per_class": [
            {
                "label": label,
                "support": support,
                "stratum": stratum,
                "flags": [],
                "metrics": {"recall": _row(_diff(x + d, x - 0.1 + d, x + 0.1 + d))},
            }
            for label, support, stratum, x in (
                ("cat", 12, "rare", -0.04),
                ("dog", 300, "common", 0.01),
                ("v1.2", 40, "uncommon", 0.05),
            )
        ],
        "strata": [
            {"name": name, "metrics": {"recall": _row(_diff(x + d, x - 0.05 + d, x + 0.05 + d))}}
            for name, x in (("rare", -0.06), ("uncommon", 0.0), ("common", 0.015))
        ],
        "gap": {"f1": _row(_diff(0.005 + d, -0.01 + d, 0.02 + d))},
        "shift": {"recall": _row(_diff(-0.07 + d, -0.12 + d, -0.02 + d))},
    }


def _comparison() -> dict:
    return {
        "schema": "prevalens.comparison/1",
        "pairs": [_pair("A", "B", 0.0), _pair("A", "C", 0.1)],
        "family": {"adjustment": "holm", "size": 8, "confidence_level": 0.95},
    }


def test_delta_gate_one_item_per_pair_on_the_conservative_end():
    d = _comparison()
    block = evaluate_comparison_gates(d, ["delta.macro.f1 >= -0.02", "delta.log_loss <= -0.03"])
    assert block["basis"] == "interval"
    items = block["items"]
    assert [(i["spec"], i["pair"], i["reference"], i["candidate"]) for i in items] == [
        ("delta.macro.f1 >= -0.02", "B vs A", "A", "B"),
        ("delta.macro.f1 >= -0.02", "C vs A", "A", "C"),
        ("delta.log_loss <= -0.03", "B vs A", "A", "B"),
        ("delta.log_loss <= -0.03", "C vs A", "A", "C"),
    ]
    # >= reads the difference's lower bound: -0.03 fails for B, 0.07 passes for C
    assert [i["compared"] for i in items] == ["ci_low", "ci_low", "ci_high", "ci_high"]
    assert items[0]["value"] == pytest.approx(-0.03) and items[0]["passed"] is False
    assert items[1]["value"] == pytest.approx(0.07) and items[1]["passed"] is True
    # log loss (lower is better) is not flipped: <= reads the upper bound, -0.02 and 0.08
    assert items[2]["value"] == pytest.approx(-0.02) and items[2]["passed"] is False
    assert items[3]["value"] == pytest.approx(0.08) and items[3]["passed"] is False
    assert items[0]["estimate"] == d["pairs"][0]["headline"]["macro.f1"]["difference"]
    assert block["passed"] is False and block["n_failed"] == 3

    by_estimate = evaluate_comparison_gates(d, ["delta.macro.f1 >= -0.02"], "estimate")
    assert [(i["compared"], i["passed"]) for i in by_estimate["items"]] == [
        ("estimate", True),  # -0.01
        ("estimate", True),  # 0.09
    ]
    assert by_estimate["passed"] is True and by_estimate["basis"] == "estimate"


@pytest.mark.parametrize(
    "name, where",
    [
        ("accuracy", ("headline", "overall.accuracy")),
        ("overall.accuracy", ("headline", "overall.accuracy")),
        ("micro.recall", ("headline", "micro.recall")),
        ("gap.f1", ("gap", "f1")),
        ("shift.recall", ("shift", "recall")),  # a comparison's own family
        ("stratum.rare.recall", ("strata", "rare")),
        ("stratum.common.recall", ("strata", "common")),
        ("class.cat.recall", ("per_class", "cat")),
        ("class.v1.2.recall", ("per_class", "v1.2")),  # a label with a dot
    ],
)
def test_delta_names_reach_every_family(name, where):
    d = _comparison()
    block = evaluate_comparison_gates(d, [f"delta.{name} >= -1"], "estimate")
    for item, pair in zip(block["items"], d["pairs"], strict=True):
        key, which = where
        if key in ("headline", "gap", "shift"):
            row = pair[key][which]
        else:
            field = "name" if key == "strata" else "label"
            row = next(e for e in pair[key] if e[field] == which)["metrics"]["recall"]
        assert item["estimate"] == row["difference"]
        assert item["value"] == row["difference"]["estimate"]


def test_undefined_or_missing_difference_fails_with_a_note():
    d = _comparison()
    b, c = d["pairs"]
    b["headline"]["macro.f1"]["difference"] = _diff(
        None, None, None, status="undefined", note="F1 of class cat is 0/0 for B"
    )
    c["headline"]["macro.f1"]["difference"] = _diff(0.01, None, None)
    c["per_class"] = [e for e in c["per_class"] if e["label"] != "cat"]
    block = evaluate_comparison_gates(d, ["delta.macro.f1 >= -0.02", "delta.class.cat.recall > 0"])
    undefined, no_interval, cat_b, cat_c = block["items"]
    assert undefined["passed"] is False
    assert undefined["note"] == "undefined: F1 of class cat is 0/0 for B"
    assert no_interval["passed"] is False and no_interval["note"].startswith("no interval")
    # cat's recall difference in B is -0.04 [-0.14, 0.06]: a value, no note
    assert cat_b["value"] == pytest.approx(-0.14) and cat_b["passed"] is False
    assert "note" not in cat_b
    assert cat_c["passed"] is False and cat_c["note"] == "C vs A has no class 'cat'"
    assert gate_message(cat_c) == "delta.class.cat.recall > 0 (C vs A): C vs A has no class 'cat'"


def test_a_note_that_already_says_why_is_not_prefixed_twice():
    # ComparisonResult writes "no interval: ..." notes itself (status no_interval)
    d = _comparison()
    why = "no interval: every bootstrap replicate equals the estimate (no variation to resample)"
    d["pairs"][0]["strata"][0]["metrics"]["recall"]["difference"] = _diff(
        0.0, None, None, status="no_interval", note=why
    )
    item = evaluate_comparison_gates(d, ["delta.stratum.rare.recall >= -0.5"])["items"][0]
    assert item["passed"] is False and item["note"] == why


AUDIT_DICT = {"averages": {"macro": {"f1": _est(0.7, 0.6, 0.8)}}, "overall": {}, "per_class": []}

# (gates, what is checked, start of the message after "gate '...': " or the whole message)
BAD_GATES = [
    ("delta >= 0", "comparison", "'delta' should be delta.NAME, e.g. 'delta.macro.f1 >= -0.02'"),
    ("delta.delta.macro.f1 >= 0", "comparison", "'delta.delta.macro.f1': write delta once"),
    (
        "detla.macro.f1 >= 0",
        "comparison",
        "unknown metric 'detla.macro.f1' (did you mean 'delta'?)",
    ),
    (
        "delta.mikro.f1 >= 0",
        "comparison",
        "unknown metric 'mikro.f1' (did you mean 'micro'?); valid names: delta.NAME with NAME one of",
    ),
    (
        "delta.macro.recal >= 0",
        "comparison",
        "unknown metric 'recal' for macro (did you mean 'recall'?)",
    ),
    (
        "delta.stratum.rar.recall >= 0",
        "comparison",
        "no stratum named 'rar' (did you mean 'rare'?)",
    ),
    ("delta.class.dgo.recall >= 0", "comparison", "no class labelled 'dgo' (did you mean 'dog'?)"),
    (
        "delta.macro.roc_auc >= 0",
        "comparison",
        "the headline of B vs A has no 'macro.roc_auc' (needs score columns); it has macro.f1,",
    ),
    ("delta.gap.recall >= 0", "comparison", "the gap block of B vs A has no 'recall'; it has f1"),
    (
        "macro.f1 >= 0.7",
        "comparison",
        "a comparison of models checks differences: write 'delta.macro.f1 >= ...'",
    ),
    (
        "delta.macro.f1 >= -0.02",
        "audit",
        "a delta gate checks the difference between two models and needs `prevalens compare`; "
        "an audit of one model takes gates such as 'macro.f1 >= -0.02'",
    ),
    ("delta.macro.f1 >= -0.02", "audit run", "a delta gate checks the difference"),
    ("shift.recall >= 0", "audit run", "unknown metric 'shift.recall'"),
    (
        "delta.shift.f2 >= 0",
        "comparison",
        "'shift.f2' should be shift.METRIC with METRIC one of recall, precision, f1",
    ),
]


@pytest.mark.parametrize(
    "spec, target, message", BAD_GATES, ids=[f"{t}: {s}" for s, t, _ in BAD_GATES]
)
def test_bad_gate_one_line_naming_the_fix(spec, target, message):
    with pytest.raises(ConfigError) as exc:
        if target == "comparison":
            evaluate_comparison_gates(_comparison(), [spec])
        elif target == "audit":
            evaluate_gates(AUDIT_DICT, [parse_gate(spec)])
        else:  # refused before the audit is computed
            prevalens.audit(["a", "b"], ["a", "b"], n_resamples=0, gates=[spec])
    text = str(exc.value)
    assert "\n" not in text
    assert text.startswith(f"gate {spec!r}: {message}"), text


def test_a_configuration_takes_both_kinds_the_check_decides():
    # AuditConfig also configures `prevalens compare`, whose gates are delta gates
    assert prevalens.AuditConfig(gates=("delta.macro.f1 >= -0.02",)).gates == (
        "delta.macro.f1 >= -0.02",
    )
    both = ["macro.f1 >= 0.7", "delta.macro.f1 >= -0.02"]
    assert [g.delta for g in parse_gates(both)] == [False, True]
    assert [g.target for g in parse_gates(both)] == ["macro.f1", "macro.f1"]
    for comparison in (True, False):
        with pytest.raises(ConfigError):
            parse_gates(both, comparison=comparison)


@pytest.mark.parametrize(
    "call, message",
    [
        (
            lambda: evaluate_gates(_comparison(), []),
            "these results compare models (they hold `pairs`): check them with "
            "evaluate_comparison_gates and delta.NAME gates",
        ),
        (
            lambda: evaluate_comparison_gates(AUDIT_DICT, ["delta.macro.f1 >= 0"]),
            "delta gates need the results of `prevalens compare`",
        ),
        (
            lambda: evaluate_comparison_gates({"pairs": []}, ["delta.macro.f1 >= 0"]),
            "the comparison has no pair of models",
        ),
        (
            lambda: evaluate_comparison_gates(_comparison(), [], "median"),
            "gate basis must be one of interval, estimate; got 'median'",
        ),
        (
            lambda: parse_gates(["delta.macro.f1 >= 0", "delta.macro.f1>=0.0"], comparison=True),
            "gate 'delta.macro.f1 >= 0.0' is declared twice; give each gate once",
        ),
    ],
    ids=["audit-of-a-comparison", "comparison-of-an-audit", "no-pairs", "basis", "twice"],
)
def test_bad_comparison_input(call, message):
    with pytest.raises(ConfigError, match="^" + message.replace("(", r"\(").replace(")", r"\)")):
        call()


# ------------------------------------------------------------------------------------------------
# the regression rule


def _with_adjusted(d: dict) -> dict:
    """Every headline row tested; nothing significant."""
    for pair in d["pairs"]:
        for row in pair["headline"].values():
            diff = row["difference"]
            row["adjusted"] = _adjusted(diff["ci_low"] - 0.01, diff["ci_high"] + 0.01, False)
    return d


def test_regression_check_passes_when_nothing_is_significantly_worse():
    d = _with_adjusted(_comparison())
    # significant, but the candidate is the better model: not a regression
    row = d["pairs"][0]["headline"]["overall.accuracy"]
    row.update(better="candidate", adjusted=_adjusted(0.005, 0.055, True))
    # the reference is better, but not significantly: not a regression
    d["pairs"][0]["headline"]["macro.f1"]["better"] = "reference"
    item = regression_check(d)
    assert item["passed"] is True and item["regressions"] == []
    assert item["spec"] == REGRESSION_SPEC and item["kind"] == "regression"
    assert (
        item["note"] == "no headline metric is significantly worse (8 adjusted tests over 2 pairs)"
    )


def test_regression_check_fails_naming_each_worse_metric():
    d = _with_adjusted(_comparison())
    c = d["pairs"][1]["headline"]
    c["macro.f1"].update(
        difference=_diff(-0.041, -0.068, -0.014),
        better="reference",
        adjusted=_adjusted(-0.0712, -0.0108, True),
    )
    # log loss: lower is better, so a rise is worse; "better" already says which model is
    c["overall.log_loss"].update(
        difference=_diff(0.05, 0.02, 0.08),
        better="reference",
        adjusted=_adjusted(0.012, 0.088, True),
    )
    item = regression_check(d)
    assert item["passed"] is False
    assert [(r["pair"], r["metric"]) for r in item["regressions"]] == [
        ("C vs A", "macro.f1"),
        ("C vs A", "overall.log_loss"),
    ]
    assert item["note"] == (
        "C is significantly worse than A on macro.f1 (-0.04, Holm-adjusted 95% CI -0.07 to "
        "-0.01), overall.log_loss (+0.05, Holm-adjusted 95% CI 0.01 to 0.09)"
    )


def test_regression_note_without_the_family_names_neither_level_nor_adjustment():
    d = _with_adjusted(_comparison())
    del d["family"]
    d["pairs"][0]["headline"]["macro.f1"].update(
        difference=_diff(-0.041, -0.068, -0.014),
        better="reference",
        adjusted={
            "p_value": 0.004,
            "level": 0.99,
            "ci_low": -0.0712,
            "ci_high": -0.0108,
            "significant": True,
        },
    )
    assert regression_check(d)["note"] == (
        "B is significantly worse than A on macro.f1 (-0.04, adjusted CI -0.07 to -0.01)"
    )


def test_regression_check_fails_when_a_pair_has_no_adjusted_test():
    d = _with_adjusted(_comparison())
    for row in d["pairs"][1]["headline"].values():
        row["adjusted"] = None
    item = regression_check(d)
    assert item["passed"] is False and item["regressions"] == []
    assert item["note"] == (
        "no headline metric of C vs A has an adjusted test (were intervals computed?), so a "
        "regression cannot be ruled out"
    )


def test_fail_on_regression_adds_an_item_to_the_block():
    d = _with_adjusted(_comparison())
    d["pairs"][0]["headline"]["micro.recall"].update(
        better="reference", adjusted=_adjusted(-0.05, -0.01, True)
    )
    block = evaluate_comparison_gates(d, ["delta.macro.f1 >= -0.05"], fail_on_regression=True)
    assert [i["spec"] for i in block["items"]] == [
        "delta.macro.f1 >= -0.05",
        "delta.macro.f1 >= -0.05",
        REGRESSION_SPEC,
    ]
    assert [i["passed"] for i in block["items"]] == [True, True, False]
    assert block["passed"] is False and block["n_failed"] == 1
    # without gates: the rule alone
    only = evaluate_comparison_gates(d, [], fail_on_regression=True)
    assert [i["spec"] for i in only["items"]] == [REGRESSION_SPEC]
    assert evaluate_comparison_gates(d, [])["passed"] is None


def test_junit_and_github_of_a_comparison():
    d = _with_adjusted(_comparison())
    d["pairs"][0]["headline"]["micro.recall"].update(
        difference=_diff(-0.03, -0.05, -0.01),
        better="reference",
        adjusted=_adjusted(-0.052, -0.008, True),
    )
    block = evaluate_comparison_gates(d, ["delta.macro.f1 >= -0.02"], fail_on_regression=True)
    root = _junit(block)
    assert root.attrib == {"tests": "3", "failures": "2", "errors": "0"}
    b, c, regression = _cases(root)
    assert [x.get("name") for x in (b, c, regression)] == [
        "delta.macro.f1 >= -0.02 (B vs A)",
        "delta.macro.f1 >= -0.02 (C vs A)",
        REGRESSION_SPEC,
    ]
    assert b.find("failure").get("message") == (
        "delta.macro.f1 >= -0.02 (B vs A): lower bound -0.03 < -0.02"
    )
    assert "pair: B vs A (candidate minus reference)" in b.find("failure").text
    assert c.findtext("system-out") == "delta.macro.f1 >= -0.02 (C vs A): lower bound 0.07 >= -0.02"
    worse = (
        "B is significantly worse than A on micro.recall (-0.03, Holm-adjusted 95% CI -0.05 "
        "to -0.01)"
    )
    assert regression.find("failure").get("message") == f"{REGRESSION_SPEC}: {worse}"
    assert "worse: micro.recall (B vs A)" in regression.find("failure").text
    lines = gates_github(block).splitlines()
    assert [line.split("::")[1] for line in lines] == [
        "error title=prevalens gate failed",
        "notice title=prevalens gate passed",
        "error title=prevalens gate failed",
    ]
    # "95%" is escaped as GitHub reads it back
    assert lines[2] == (
        f"::error title=prevalens gate failed::{REGRESSION_SPEC}: {worse.replace('%', '%25')}"
    )


# ------------------------------------------------------------------------------------------------
# the command line

# 8 rows, 3 classes: micro recall 0.75, macro F1 0.78 (point estimates)
CSV = "y_true,y_pred\na,a\nb,b\na,b\nc,c\nb,b\na,a\nc,c\nb,a\n"
FAST = ("--out-dir", "out", "--format", "json", "--n-resamples", "0", "--gate-on", "estimate")
PASS, FAIL = "macro.f1 >= 0.5", "micro.recall >= 0.99"


def _audit(cli, d: Path, *args, code: int, env=None):
    (d / "p.csv").write_text(CSV, encoding="utf-8")
    proc = cli("audit", "p.csv", *FAST, *args, cwd=d, env=env)
    assert proc.returncode == code, proc.stderr
    return proc


def test_cli_junit_written_with_the_outputs_byte_identical_on_rerun(cli, tmp_path):
    args = ("--gate", PASS, "--gate", FAIL, "--junit", "ci/gates.xml")
    proc = _audit(cli, tmp_path, *args, code=1)
    assert proc.stderr == f"prevalens: 1 of 2 quality gates failed: {FAIL}\n"
    assert "wrote ci/gates.xml" in proc.stdout.splitlines()
    first = (tmp_path / "ci" / "gates.xml").read_bytes()
    root = ET.fromstring(first)
    assert root.attrib == {"tests": "2", "failures": "1", "errors": "0"}
    ok, failed = _cases(root)
    assert ok.get("name") == PASS and ok.find("failure") is None
    assert failed.find("failure").get("message") == f"{FAIL}: estimate 0.75 < 0.99"
    results = json.loads((tmp_path / "out" / "results.json").read_text("utf-8"))
    assert results["run"]["config"]["junit"] == "ci/gates.xml"
    assert b"timestamp" not in first
    # a rerun at another time: the same bytes, and no temporary file left
    _audit(cli, tmp_path, *args, code=1, env={"SOURCE_DATE_EPOCH": "1800000000"})
    again = json.loads((tmp_path / "out" / "results.json").read_text("utf-8"))
    assert again["run"]["created_utc"] != results["run"]["created_utc"]
    assert (tmp_path / "ci" / "gates.xml").read_bytes() == first
    assert sorted(p.name for p in (tmp_path / "ci").iterdir()) == ["gates.xml"]


def test_cli_junit_when_every_gate_passes(cli, tmp_path):
    _audit(cli, tmp_path, "--gate", PASS, "--junit", "gates.xml", code=0)
    root = ET.fromstring((tmp_path / "gates.xml").read_bytes())
    assert root.attrib == {"tests": "1", "failures": "0", "errors": "0"}


def test_cli_github_annotations_after_the_summary_and_alone_with_quiet(cli, tmp_path):
    expected = [
        f"::notice title=prevalens gate passed::{PASS}: estimate 0.78 >= 0.5",
        f"::error title=prevalens gate failed::{FAIL}: estimate 0.75 < 0.99",
    ]
    proc = _audit(cli, tmp_path, "--gate", PASS, "--gate", FAIL, "--github-annotations", code=1)
    lines = proc.stdout.splitlines()
    assert lines[-2:] == expected
    assert lines[-3] == "wrote out/results.json"  # after the summary
    assert proc.stderr == f"prevalens: 1 of 2 quality gates failed: {FAIL}\n"
    quiet = _audit(
        cli, tmp_path, "--gate", PASS, "--gate", FAIL, "--github-annotations", "--quiet", code=1
    )
    assert quiet.stdout.splitlines() == expected


def test_cli_junit_from_the_configuration_file_relative_to_it(cli, tmp_path):
    cfg = tmp_path / "cfg"
    cfg.mkdir()
    (cfg / "audit.toml").write_text(
        f'gates = ["{PASS}"]\njunit = "reports/gates.xml"\ngithub-annotations = true\n',
        encoding="utf-8",
    )
    proc = _audit(cli, tmp_path, "--config", "cfg/audit.toml", code=0)
    root = ET.fromstring((cfg / "reports" / "gates.xml").read_bytes())
    assert [c.get("name") for c in _cases(root)] == [PASS]
    assert proc.stdout.splitlines()[-1].startswith("::notice title=prevalens gate passed::")
    assert not (tmp_path / "reports").exists()
