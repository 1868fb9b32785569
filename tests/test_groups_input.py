"""The input side of subgroup audits (issue 14): group columns and their intersections, read from
arrays, DataFrames, CSV and Parquet into ``Predictions.groups``; missing values refused or mapped
to the level "missing"; the options (flags, configuration file, ``run.config``); the engines and
the comparison of models refusing groups for now.

The analysis of the groups is tested in tests/test_subgroups.py; here only what the loader gives
it, and that the command line's flags reach the loader.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import call_main

import prevalens as pv
from prevalens import io as pio
from prevalens.io import GROUP_MISSING_LEVEL, GroupColumn, predictions_from_arrays

X = "\u00d7"  # the intersection sign in names and levels

Y_TRUE = ["a", "b", "a", "b", "a", "b"]
Y_PRED = ["a", "b", "b", "b", "a", "a"]


def _groups(**columns):
    return predictions_from_arrays(Y_TRUE, Y_PRED, groups=columns).groups


def _by_name(pred) -> dict:
    return {g.name: g for g in pred.groups}


def _decoded(g: GroupColumn) -> list:
    return [g.levels[c] for c in g.codes]


# ------------------------------------------------------------------------------------------------
# arrays


def test_text_levels_codes_and_the_default_specs():
    p = predictions_from_arrays(
        Y_TRUE,
        Y_PRED,
        groups={"site": ["s10", "s2", "s1", "s2", "s10", "s1"], "sex": list("FMFMFF")},
    )
    site, sex = p.groups  # every column of `groups`, in its order
    assert site == GroupColumn("site", [2, 1, 0, 1, 2, 0], ("s1", "s2", "s10"), 0)
    assert sex.name == "sex" and sex.levels == ("F", "M") and sex.missing == 0
    assert sex.codes.tolist() == [0, 1, 0, 1, 0, 0]
    assert sex.codes.dtype == np.int64 and sex.codes.shape == (6,)
    assert not sex.codes.flags.writeable
    with pytest.raises(ValueError):
        sex.codes[0] = 1
    assert p.columns["groups"] == ["site", "sex"]
    assert sex.sizes().tolist() == [4, 2]
    # the other inputs are unchanged by groups
    plain = predictions_from_arrays(Y_TRUE, Y_PRED)
    assert plain.groups == () and "groups" not in plain.columns
    assert p.y_true.tolist() == plain.y_true.tolist() and p.classes == plain.classes


def test_integer_bool_float_and_categorical_values():
    g = _by_name(
        predictions_from_arrays(
            Y_TRUE,
            Y_PRED,
            groups={
                "int": [10, 2, 1, 2, 10, -3],
                "np_int": np.array([3, 1, 3, 1, 3, 1], dtype=np.int16),
                "bool": [True, False, True, True, False, True],
                "float": [1.0, 2.0, 2.5, 1.0, 2.0, 2.5],
                "cat": pd.Categorical(list("yxyxyx"), categories=["y", "x", "unused"]),
                "mixed": [1, "1", 1.0, "b", "b", 1],
            },
        )
    )
    assert g["int"].levels == ("-3", "1", "2", "10")  # numbers by value
    assert _decoded(g["int"]) == ["10", "2", "1", "2", "10", "-3"]
    assert g["np_int"].levels == ("1", "3")
    assert g["bool"].levels == ("False", "True")
    assert _decoded(g["bool"]) == ["True", "False", "True", "True", "False", "True"]
    assert g["float"].levels == ("1", "2", "2.5")  # integral floats as integers
    # a categorical's levels are its values present, sorted as text like any other column
    assert g["cat"].levels == ("x", "y")
    assert _decoded(g["cat"]) == list("yxyxyx")
    # the same text is one level, whatever the type
    assert g["mixed"].levels == ("1", "b")
    assert _decoded(g["mixed"]) == ["1", "1", "1", "b", "b", "1"]


def test_bool_and_integer_one_are_different_levels():
    (g,) = predictions_from_arrays(
        [0, 1, 0, 1], [0, 1, 1, 1], groups={"m": [True, 1, "x", 1]}
    ).groups
    assert g.levels == ("1", "True", "x")
    assert _decoded(g) == ["True", "1", "x", "1"]


def test_natural_order_of_levels():
    values = ["site10", "site2", "Site1", "b", "A", "10", "9", "-1"]
    (g,) = predictions_from_arrays(list(range(8)), list(range(8)), groups={"g": values}).groups
    assert g.levels == ("-1", "9", "10", "A", "b", "Site1", "site2", "site10")


def test_intersections_with_every_separator():
    groups = {"sex": list("FMFMFF"), "site": ["B", "A", "A", "A", "B", "B"]}
    expected = GroupColumn(
        f"sex{X}site", [1, 2, 0, 2, 1, 1], (f"F{X}A", f"F{X}B", f"M{X}A"), 0
    )  # only the combinations present (no M×B), in the order of the columns' levels
    for spec in ("sex*site", f"sex{X}site", "sex:site", " sex * site "):
        p = predictions_from_arrays(Y_TRUE, Y_PRED, groups=groups, group_specs=[spec])
        assert p.groups == (expected,), spec
    p = predictions_from_arrays(Y_TRUE, Y_PRED, groups=groups, group_specs=["site*sex", "sex"])
    swapped, sex = p.groups
    assert swapped.name == f"site{X}sex"
    assert swapped.levels == (f"A{X}F", f"A{X}M", f"B{X}F")  # the first column major
    assert _decoded(swapped) == [f"B{X}F", f"A{X}M", f"A{X}F", f"A{X}M", f"B{X}F", f"B{X}F"]
    assert sex.name == "sex"


def test_intersection_of_three_and_natural_order_of_its_components():
    p = predictions_from_arrays(
        Y_TRUE,
        Y_PRED,
        groups={"a": [10, 2, 10, 2, 2, 2], "b": list("xxyyxx"), "c": [True] * 6},
        group_specs=["a*b*c"],
    )
    (g,) = p.groups
    assert g.name == f"a{X}b{X}c"
    assert g.levels == tuple(
        f"{a}{X}{b}{X}True" for a, b in [(2, "x"), (2, "y"), (10, "x"), (10, "y")]
    )
    assert g.codes.tolist() == [2, 0, 3, 1, 0, 0]


def test_a_column_whose_name_holds_a_separator():
    p = predictions_from_arrays(
        Y_TRUE, Y_PRED, groups={"age:band": list("yoyoyo")}, group_specs=["age:band"]
    )
    assert p.groups[0].name == "age:band" and p.groups[0].levels == ("o", "y")


def test_a_single_level_is_allowed():
    (g,) = _groups(all=["x"] * 6)
    assert g.levels == ("x",) and g.codes.tolist() == [0] * 6


# ------------------------------------------------------------------------------------------------
# missing values


@pytest.mark.parametrize("missing", [None, np.nan, pd.NA, "", "   "])
def test_a_missing_value_is_refused_naming_column_and_row(missing):
    values = ["F", "M", "F", missing, "F", missing]
    with pytest.raises(pv.InputError) as err:
        _groups(sex=values)
    msg = str(err.value)
    assert msg == (
        "arrays: group column 'sex' has a missing value at row 4; give every row a value, or "
        "pass group_missing='level' (--group-missing level) to count them as the level 'missing'"
    )
    assert "\n" not in msg


def test_missing_values_mapped_to_the_level_missing():
    p = predictions_from_arrays(
        Y_TRUE,
        Y_PRED,
        groups={"sex": ["M", None, "F", "", "F", np.nan], "site": [1, 2, 1, 2, 2, None]},
        group_specs=["sex", "site", "sex*site"],
        group_missing="level",
    )
    sex, site, both = p.groups
    assert sex.levels == ("F", "M", GROUP_MISSING_LEVEL) and sex.missing == 3
    assert _decoded(sex) == ["M", "missing", "F", "missing", "F", "missing"]
    # an integer column with a missing value keeps its integer levels
    assert site.levels == ("1", "2", "missing") and site.missing == 1
    # in an intersection, a row missing any of its columns is "missing"
    assert both.levels == (f"F{X}1", f"F{X}2", f"M{X}1", "missing") and both.missing == 3
    assert _decoded(both) == [f"M{X}1", "missing", f"F{X}1", "missing", f"F{X}2", "missing"]


def test_without_missing_values_the_level_missing_is_absent():
    p = predictions_from_arrays(
        Y_TRUE, Y_PRED, groups={"sex": list("FMFMFF")}, group_missing="level"
    )
    assert p.groups[0].levels == ("F", "M") and p.groups[0].missing == 0
    # a real value "missing" is then an ordinary level
    p = predictions_from_arrays(
        Y_TRUE, Y_PRED, groups={"g": ["missing", "a"] * 3}, group_missing="level"
    )
    assert p.groups[0].levels == ("a", "missing") and p.groups[0].missing == 0


def test_a_real_value_missing_beside_missing_values_is_refused():
    with pytest.raises(
        pv.InputError, match=r"group column 'g' has missing values and also the value 'missing'"
    ):
        predictions_from_arrays(
            Y_TRUE,
            Y_PRED,
            groups={"g": ["missing", None, "a", "a", "a", "a"]},
            group_missing="level",
        )


# ------------------------------------------------------------------------------------------------
# refusals


def test_wrong_length_names_the_column_and_both_lengths():
    with pytest.raises(pv.InputError) as err:
        _groups(sex=list("FMF"))
    assert str(err.value) == (
        "arrays: `y_true` has 6 values but group column 'sex' has 3; give one group value per sample"
    )


def test_unknown_spec_lists_the_known_columns():
    with pytest.raises(pv.InputError) as err:
        predictions_from_arrays(
            Y_TRUE,
            Y_PRED,
            groups={"sex": list("FMFMFF"), "site": list("ABABAB")},
            group_specs=["sex*age"],
        )
    assert str(err.value) == (
        "arrays: group 'sex*age' names column 'age', which is not a name of `groups` ('sex', 'site')"
    )


@pytest.mark.parametrize(
    "specs, message",
    [
        (["sex", "sex"], r"group 'sex' is given twice; give each group once"),
        (["sex*site", "site*sex"], r"group 'site\*sex' is given twice \(as 'sex\*site'\)"),
        (["sex*"], r"group 'sex\*' has an empty column name"),
        (["sex*sex"], r"group 'sex\*sex' names column 'sex' twice"),
    ],
)
def test_malformed_specs_are_refused(specs, message):
    with pytest.raises(pv.PrevalensError, match=message):
        predictions_from_arrays(
            Y_TRUE,
            Y_PRED,
            groups={"sex": list("FMFMFF"), "site": list("ABABAB")},
            group_specs=specs,
        )


def test_more_than_1000_levels_is_refused_as_an_identifier():
    n = 1001
    y = np.arange(n) % 2
    ok = predictions_from_arrays(y, y, groups={"g": np.arange(n) % 1000})
    assert len(ok.groups[0].levels) == 1000
    with pytest.raises(pv.InputError) as err:
        predictions_from_arrays(y, y, groups={"patient": [f"p{i}" for i in range(n)]})
    msg = str(err.value)
    assert msg.startswith(
        "arrays: group column 'patient' has 1,001 distinct values (more than 1,000)"
    )
    assert "looks like an identifier, not a group" in msg
    # an intersection counts the combinations present
    with pytest.raises(pv.InputError, match=r"group 'a×b' has 1,089 combinations present"):
        predictions_from_arrays(
            np.arange(1089) % 2,
            np.arange(1089) % 2,
            groups={"a": np.arange(1089) % 33, "b": np.arange(1089) // 33},
            group_specs=["a*b"],
        )


def test_argument_errors():
    with pytest.raises(pv.InputError, match="`groups` must be a mapping"):
        predictions_from_arrays(Y_TRUE, Y_PRED, groups=["sex"])
    with pytest.raises(
        pv.InputError, match="`group_specs` names 'sex' but no `groups=` were given"
    ):
        predictions_from_arrays(Y_TRUE, Y_PRED, group_specs=["sex"])
    with pytest.raises(pv.ConfigError, match="`group_missing` must be 'refuse' or 'level'"):
        predictions_from_arrays(
            Y_TRUE, Y_PRED, groups={"sex": list("FMFMFF")}, group_missing="drop"
        )
    with pytest.raises(pv.InputError, match="group column 's' holds a list at row 2"):
        predictions_from_arrays(Y_TRUE, Y_PRED, groups={"s": ["a", ["b"], "a", "a", "a", "a"]})


def test_group_column_is_frozen_and_compared_by_value():
    g = GroupColumn("sex", np.array([0, 1, 0]), ["F", "M"])
    assert g == GroupColumn("sex", [0, 1, 0], ("F", "M"), 0)
    assert g != GroupColumn("sex", [0, 1, 1], ("F", "M"), 0)
    assert len({g, GroupColumn("sex", [0, 1, 0], ("F", "M"))}) == 1
    with pytest.raises(dataclasses.FrozenInstanceError):
        g.name = "x"  # type: ignore[misc]
    assert pv.GroupColumn is GroupColumn


# ------------------------------------------------------------------------------------------------
# frames and files


CSV = (
    "y_true,y_pred,sex,site,age band,smoker\n"
    "a,a,F,2,10-20,true\n"
    "b,b,M,10,,false\n"
    "a,b,F,2,20-30,true\n"
    "b,b,,1,10-20,false\n"
    "a,a,M,1,20-30,true\n"
)


@pytest.fixture
def csv_file(tmp_path) -> Path:
    path = tmp_path / "preds.csv"
    path.write_text(CSV, encoding="utf-8")
    return path


def _expected_file_groups():
    return (
        GroupColumn("site", [1, 2, 1, 0, 0], ("1", "2", "10"), 0),
        GroupColumn(f"sex{X}site", [0, 2, 0, 3, 1], (f"F{X}2", f"M{X}1", f"M{X}10", "missing"), 1),
        GroupColumn("age band", [0, 2, 1, 0, 1], ("10-20", "20-30", "missing"), 1),
        GroupColumn("smoker", [1, 0, 1, 0, 1], ("False", "True"), 0),
    )


SPECS = ["site", "sex*site", "age band", "smoker"]


def test_csv_round_trip(csv_file):
    p = pv.load_predictions(csv_file, groups=SPECS, group_missing="level")
    assert p.groups == _expected_file_groups()
    assert p.classes == ("a", "b") and p.n_samples == 5


def test_csv_missing_is_refused_with_file_row_and_line(tmp_path):
    path = tmp_path / "preds.csv"
    # a blank line before the offending row: the line number counts it
    path.write_text(CSV.replace("b,b,,1,", "\nb,b,,1,"), encoding="utf-8")
    with pytest.raises(pv.InputError) as err:
        pv.load_predictions(path, groups=["sex"])
    assert str(err.value) == (
        f"{path}: group column 'sex' has a missing value at row 4 (line 6); give every row a "
        "value, or pass group_missing='level' (--group-missing level) to count them as the level "
        "'missing'"
    )


def test_csv_unknown_column_names_the_file_and_its_columns(csv_file):
    with pytest.raises(pv.InputError) as err:
        pv.load_predictions(csv_file, groups=["sex*region"])
    assert str(err.value) == (
        f"{csv_file}: group 'sex*region' names column 'region', which is not a column of the "
        "file ('y_true', 'y_pred', 'sex', 'site', 'age band', 'smoker')"
    )


def test_parquet_round_trip_equals_csv(csv_file, tmp_path):
    frame = pd.read_csv(csv_file, keep_default_na=False, na_values=[""])
    frame["smoker"] = frame["smoker"].astype(bool)
    path = tmp_path / "preds.parquet"
    frame.to_parquet(path)
    p = pv.load_predictions(path, groups=SPECS, group_missing="level")
    assert p.groups == _expected_file_groups()
    # typed Parquet columns: nullable integers, dictionary-encoded text
    typed = pd.DataFrame(
        {
            "y_true": list("abab"),
            "y_pred": list("abba"),
            "site": pd.array([2, None, 10, 2], dtype="Int64"),
            "region": pd.Categorical(["north", "south", "north", None]),
            "unread": [[1], [2], [3], [4]],  # only the named columns are read
        }
    )
    typed.to_parquet(tmp_path / "typed.parquet")
    q = pv.load_predictions(
        tmp_path / "typed.parquet", groups=["site", "region"], group_missing="level"
    )
    assert q.groups == (
        GroupColumn("site", [0, 2, 1, 0], ("2", "10", "missing"), 1),
        GroupColumn("region", [0, 1, 0, 2], ("north", "south", "missing"), 1),
    )
    with pytest.raises(
        pv.InputError, match=r"typed.parquet: group column 'site' has a missing value at row 2;"
    ):
        pv.load_predictions(tmp_path / "typed.parquet", groups=["site"])


def test_large_csv_read_with_pyarrow_gives_the_same_groups(tmp_path, monkeypatch):
    rng = np.random.default_rng(3)
    n = 3000
    frame = pd.DataFrame(
        {
            "y_true": rng.integers(0, 4, n),
            "y_pred": rng.integers(0, 4, n),
            "site": rng.choice(["01", "2", "10"], n),  # typed by the C engine: integers
            "sex": rng.choice(["F", "M"], n),
            "flag": rng.choice(["true", "false"], n),
        }
    )
    path = tmp_path / "big.csv"
    frame.to_csv(path, index=False)
    specs = ["site", "sex*site", "flag"]
    c_engine = pv.load_predictions(path, groups=specs)
    used = []
    real = pio._read_csv_arrow

    def spy(*args, **kwargs):
        out = real(*args, **kwargs)
        used.append(out is not None)
        return out

    monkeypatch.setattr(pio, "_ARROW_CSV_MIN_BYTES", 0)
    monkeypatch.setattr(pio, "_read_csv_arrow", spy)
    arrow = pv.load_predictions(path, groups=specs)
    assert used == [True]
    assert arrow.groups == c_engine.groups
    assert c_engine.groups[0].levels == ("1", "2", "10")  # "01" is the integer 1
    assert c_engine.groups[2].levels == ("False", "True")


def test_dataframe_and_mapping_sources():
    frame = pd.DataFrame(
        {"y_true": Y_TRUE, "y_pred": Y_PRED, "sex": list("FMFMFF")}, index=range(10, 16)
    )
    p = pv.load_predictions(frame, groups="sex")
    assert p.groups == (GroupColumn("sex", [0, 1, 0, 1, 0, 0], ("F", "M")),)
    with pytest.raises(pv.InputError, match="which is not a column of the DataFrame"):
        pv.load_predictions(frame, groups=["site"])
    q = pv.load_predictions(
        {"y_true": Y_TRUE, "y_pred": Y_PRED, "groups": {"sex": list("FMFMFF"), "k": [1, 2] * 3}},
        groups=["k*sex"],
    )
    assert [g.name for g in q.groups] == [f"k{X}sex"]


# ------------------------------------------------------------------------------------------------
# options


def test_options_are_declared_validated_and_recorded():
    c = pv.AuditConfig()
    assert (c.group, c.group_missing) == ((), "refuse")
    assert (c.subgroup_min_cell, c.subgroup_reference, c.subgroup_disclose) == (10, None, False)
    c = pv.AuditConfig(group=["sex", "sex*site"], group_missing="level", subgroup_min_cell=1)
    assert c.group == ("sex", "sex*site")
    d = c.to_dict()
    assert d["group"] == ["sex", "sex*site"] and d["group_missing"] == "level"
    assert {"subgroup_min_cell", "subgroup_reference", "subgroup_disclose"} <= set(d)
    for bad, message in (
        ({"group_missing": "drop"}, "`group_missing` must be one of 'refuse', 'level'"),
        ({"subgroup_min_cell": 0}, "`subgroup_min_cell` must be a whole number >= 1"),
        ({"subgroup_disclose": "yes"}, "`subgroup_disclose` must be True or False"),
        ({"group": ["a*"]}, r"`group` 'a\*' has an empty column name"),
        ({"group": ["a", "a"]}, "`group` lists 'a' twice"),
        ({"group": "sex"}, "`group` must be a list"),
        ({"subgroup_reference": " "}, "`subgroup_reference` is empty"),
    ):
        with pytest.raises(pv.ConfigError, match=message):
            pv.AuditConfig(**bad)


def test_audit_predictions_records_the_group_options():
    p = predictions_from_arrays(
        Y_TRUE, Y_PRED, groups={"sex": ["F", "M", None, "F", "M", "F"]}, group_missing="level"
    )
    r = pv.audit_predictions(p, n_resamples=0, seed=1, group=["sex"], group_missing="level")
    assert r.run.config["group"] == ["sex"] and r.run.config["group_missing"] == "level"
    assert r.run.config["subgroup_min_cell"] == 10


def _capture_loader(monkeypatch) -> list:
    """Record what the command line's loader returns (and audit it as it is: the analysis within
    the groups runs too)."""
    from prevalens import job

    seen = []
    real = job.load_predictions

    def spy(source, **kwargs):
        pred = real(source, **kwargs)
        seen.append((kwargs, pred))
        return pred

    monkeypatch.setattr(job, "load_predictions", spy)
    return seen


COMMON = ["--n-resamples", "0", "--seed", "1", "--format", "json", "--out-dir", "out"]


def test_cli_flags_reach_the_loader(csv_file, tmp_path, monkeypatch):
    seen = _capture_loader(monkeypatch)
    run = call_main(
        [
            "audit",
            csv_file,
            "--group",
            "site",
            "--group",
            "sex*site",
            "--group",
            "age band",
            "--group",
            "smoker",
            "--group-missing",
            "level",
            *COMMON,
        ],
        cwd=tmp_path,
    )
    assert run.returncode == 0, run.stderr
    ((kwargs, pred),) = seen
    assert kwargs["groups"] == tuple(SPECS) and kwargs["group_missing"] == "level"
    assert pred.groups == _expected_file_groups()
    cfg = json.loads((tmp_path / "out" / "results.json").read_text())["run"]["config"]
    assert cfg["group"] == SPECS and cfg["group_missing"] == "level"
    assert cfg["subgroup_min_cell"] == 10 and cfg["subgroup_disclose"] is False


def test_cli_refuses_a_missing_group_value_in_one_line(csv_file, tmp_path):
    run = call_main(["audit", csv_file, "--group", "sex", *COMMON], cwd=tmp_path)
    assert run.returncode == 2
    assert run.stderr == (
        f"prevalens: error: {csv_file}: group column 'sex' has a missing value at row 4 (line 5); "
        "give every row a value, or pass group_missing='level' (--group-missing level) to count "
        "them as the level 'missing'\n"
    )
    assert not (tmp_path / "out").exists()


def test_config_file_keys_reach_the_loader(csv_file, tmp_path, monkeypatch):
    seen = _capture_loader(monkeypatch)
    (tmp_path / "audit.toml").write_text(
        f'input = "{csv_file.name}"\n'
        'group = ["sex*site", "smoker"]\n'
        'group-missing = "level"\n'
        "subgroup_min_cell = 5\n",
        encoding="utf-8",
    )
    run = call_main(["audit", "--config", "audit.toml", *COMMON], cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    ((kwargs, pred),) = seen
    assert [g.name for g in pred.groups] == [f"sex{X}site", "smoker"]
    cfg = json.loads((tmp_path / "out" / "results.json").read_text())["run"]["config"]
    assert cfg["group"] == ["sex*site", "smoker"] and cfg["subgroup_min_cell"] == 5
    # the flag replaces the file's groups (only gates add up)
    run = call_main(["audit", "--config", "audit.toml", "--group", "site", *COMMON], cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    assert [g.name for g in seen[-1][1].groups] == ["site"]


def test_config_file_with_a_bad_group_value(csv_file, tmp_path):
    (tmp_path / "audit.toml").write_text(f'input = "{csv_file.name}"\ngroup = "sex"\n')
    run = call_main(["audit", "--config", "audit.toml", *COMMON], cwd=tmp_path)
    assert run.returncode == 2
    assert run.stderr == (
        "prevalens: error: audit.toml: key 'group': expected a list, got a string 'sex'\n"
    )
    run = call_main(["audit", csv_file, "--group", "sex*", *COMMON], cwd=tmp_path)
    assert run.returncode == 2 and run.stderr.startswith(
        "prevalens: error: --group: 'sex*' has an empty column name;"
    )


# ------------------------------------------------------------------------------------------------
# engines and comparisons


@pytest.mark.parametrize("engine", ["duckdb", "dask"])
def test_engines_refuse_groups(csv_file, tmp_path, engine):
    run = call_main(
        ["audit", csv_file, "--engine", engine, "--group", "sex", *COMMON], cwd=tmp_path
    )
    assert run.returncode == 2
    assert run.stderr == (
        f"prevalens: error: --engine {engine}: subgroups are not counted by the {engine} engine "
        "yet; audit in memory (--engine memory) or leave --group out\n"
    )


def test_auto_engine_reads_groups_in_memory(tmp_path):
    pytest.importorskip("duckdb")
    from prevalens.engines import choose_engine

    path = tmp_path / "labels.csv"
    path.write_text("y_true,y_pred,sex\n" + "a,b,F\n" * 200, encoding="utf-8")
    roles = pio._Roles()
    engine, why = choose_engine(path, roles, available=10)  # as if it did not fit
    assert engine == "duckdb"
    engine, why = choose_engine(path, roles, available=10, groups=True)
    assert engine == "memory" and why.endswith("; subgroups are audited in memory only")
    assert choose_engine(path, roles, groups=True) == ("memory", "")
    folder = tmp_path / "dataset"
    folder.mkdir()
    pd.DataFrame({"y_true": ["a", "b"], "y_pred": ["a", "a"], "sex": ["F", "M"]}).to_parquet(
        folder / "part-0.parquet"
    )
    with pytest.raises(pv.ConfigError, match="do not count subgroups yet"):
        choose_engine(folder, roles, groups=True)


def test_compare_refuses_groups(csv_file, tmp_path):
    with pytest.raises(pv.ConfigError) as err:
        pv.load_models([csv_file, csv_file], names=["one", "two"], groups=["sex"])
    assert "\n" not in str(err.value)
    assert str(err.value).startswith("subgroups (--group) are not compared between models yet")
    with pytest.raises(pv.ConfigError, match="subgroups .* are not compared between models yet"):
        pv.compare(Y_TRUE, {"one": Y_PRED, "two": Y_TRUE}, n_resamples=0, group=["sex"])
    run = call_main(
        [
            "compare",
            csv_file,
            csv_file,
            "--name",
            "one",
            "--name",
            "two",
            "--group",
            "sex",
            "--n-resamples",
            "0",
            "--out-dir",
            "cmp",
        ],
        cwd=tmp_path,
    )
    assert run.returncode == 2
    assert run.stderr.startswith(
        "prevalens: error: subgroups (--group) are not compared between models yet"
    )
    assert run.stderr.count("\n") == 1
