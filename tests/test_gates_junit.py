"""Quality gates on comparisons of models: ``delta.`` gates and the regression rule
(:func:`prevalens.gates.evaluate_comparison_gates`, :func:`~prevalens.gates.regression_check`) on
hand-made dicts of the shape of ``prevalens compare``'s results (``prevalens.comparison/1``),
built by ``_comparison`` below, with numbers chosen so that every message can be written out by
hand.
"""

from __future__ import annotations

import pytest

import prevalens
from prevalens import ConfigError
from prevalens.gates import (
    REGRESSION_SPEC,
    evaluate_comparison_gates,
    evaluate_gates,
    parse_gate,
    parse_gates,
    regression_check,
)

# ------------------------------------------------------------------------------------------------
# hand-made estimates


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
    return {"p": 0.01 if significant else 0.4, "level": 0.95, "low": low, "high": high,
            "significant": significant, "method": "holm"}  # fmt: skip


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
    }


def _comparison() -> dict:
    return {
        "schema": "prevalens.comparison/1",
        "pairs": [_pair("A", "B", 0.0), _pair("A", "C", 0.1)],
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
        if key in ("headline", "gap"):
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
    ("delta.macro.f1 >= -0.02", "audit config", "a delta gate checks the difference"),
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
        else:
            prevalens.AuditConfig(gates=(spec,))
    text = str(exc.value)
    assert "\n" not in text
    assert text.startswith(f"gate {spec!r}: {message}"), text


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
