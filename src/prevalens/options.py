"""Every option of prevalens, declared once.

Each option is a field of one of three frozen dataclasses, with its type, default, help text and
(for the statistical ones) its row in the report's methods table in the field's metadata:

* :class:`InputOptions`: where the predictions are and how their columns are named;
* :class:`AuditConfig`: everything that shapes the audit and its record: the statistics, the
  quality gates, the baseline to compare with, and the document's own texts (model name, intended
  use, ...), all recorded in ``run.config`` of the results;
* :class:`OutputOptions`: where and in which formats the outputs are written.

That one declaration drives :class:`AuditConfig` itself, the keyword arguments of
:func:`prevalens.audit`, the command line's flags (:mod:`prevalens.cli`), the keys of a TOML
configuration file (:mod:`prevalens.config`) and the methods table of the report.
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Mapping
from dataclasses import MISSING, asdict, dataclass, field, fields
from typing import Any

import numpy as np

from . import gates as _gates
from .budget import parse_size
from .exceptions import ConfigError
from .io import split_group_spec
from .metrics import AVERAGED_METRICS

__all__ = [
    "Option",
    "AuditConfig",
    "InputOptions",
    "OutputOptions",
    "OPTIONS",
    "AUDIT_OPTIONS",
    "FORMATS",
    "RECORDED_KEYS",
    "option_by_key",
    "coerce",
    "closest",
]

#: Output formats of ``prevalens audit`` (``render`` writes all but json).
FORMATS = ("json", "html", "pdf", "csv", "md", "tex", "figures")

#: Metrics that findings can be made about.
FINDINGS_METRICS = AVERAGED_METRICS + ("roc_auc",)


@dataclass(frozen=True)
class Option:
    """One option: its key, kind, default, help and how it appears elsewhere.

    Attributes
    ----------
    key : str
        The name everywhere: keyword argument, TOML key, ``--key-with-dashes`` flag.
    kind : str
        ``str``, ``text`` (Markdown), ``int``, ``float``, ``bool``, ``choice``, ``path``,
        ``list-str``, ``list-float``, ``labels``, ``formats``, ``size`` (bytes, given as
        ``"4GB"``, ``"500MB"`` or a number) or ``prevalence`` (a scenario such as
        ``"uniform"``, a file path, or a mapping of class to prevalence).
    default : Any
    help : str
        One line, for ``--help``.
    choices : tuple
        Allowed values of a ``choice``.
    minimum : float or None
        Smallest allowed value of an ``int``.
    group : str
        ``input``, ``document``, ``statistics``, ``gates``, ``comparison``, ``subgroups``,
        ``output`` or ``resources``.
    methods : str or None
        Row label in the report's methods table, for options that shape the statistics.
    describe : str or mapping, optional
        The row's text: a format string of ``{value}``, or one text per choice.
    flag : str or None
        The command-line flag when it is not ``--key`` (``--gate`` for ``gates``).
    repeat : bool
        A list given one item per flag (``--gate A --gate B``) rather than comma-separated.
    recorded : bool
        Recorded in ``run.config`` of the results. Only the resources of this machine are not
        (``max_memory``): they never change a number, and a record that depends on the
        machine would make identical audits differ.
    """

    key: str
    kind: str
    default: Any
    help: str
    choices: tuple = ()
    minimum: float | None = None
    group: str = ""
    methods: str | None = None
    describe: str | Mapping | None = None
    flag: str | None = None
    repeat: bool = False
    recorded: bool = True

    @property
    def cli_flag(self) -> str:
        return self.flag or "--" + self.key.replace("_", "-")

    def method_text(self, value) -> str:
        """The methods table's text for ``value`` of this option."""
        if isinstance(self.describe, Mapping):
            return self.describe.get(value, str(value))
        return (self.describe or "{value}").format(value=value)


def _opt(default, help: str, kind: str, group: str, **kw):
    """A dataclass field that declares an option (its metadata is the :class:`Option`)."""
    meta = {"kind": kind, "help": help, "group": group, **kw}
    return field(default=default, metadata={"prevalens": meta})


def _options_of(cls) -> tuple[Option, ...]:
    out = []
    for f in fields(cls):
        meta = f.metadata.get("prevalens")
        if meta is None:
            continue
        default = f.default if f.default is not MISSING else None
        out.append(Option(key=f.name, default=default, **meta))
    return tuple(out)


# ------------------------------------------------------------------------------------------------
# the declarations


@dataclass(frozen=True)
class InputOptions:
    """Where the predictions are, and the names of their columns (see
    :func:`prevalens.load_predictions`)."""

    input: str | None = _opt(None, "predictions file (.csv or .parquet)", "path", "input")
    labels: tuple | None = _opt(None, "class labels, in order (default: sorted)", "labels", "input")
    y_true: str = _opt("y_true", "true-label column", "str", "input")
    y_pred: str = _opt("y_pred", "predicted-label column", "str", "input")
    score_prefix: str = _opt("score_", "prefix of score columns, one per class", "str", "input")
    cluster: str | None = _opt(None, "column of resampling units, e.g. patient id", "str", "input")
    # how the input is read: never changes a number (the engines count the same cells), so not
    # recorded in run.config
    engine: str = _opt(
        "auto",
        "how the input is read: memory (the rows), duckdb (counted out of core, labels only), "
        "dask (counted on a Dask cluster, labels only), or auto (duckdb when a labels-only file "
        "would not fit in memory, or INPUT is a directory of Parquet files)",
        "choice",
        "resources",
        choices=("auto", "memory", "duckdb", "dask"),
        recorded=False,
    )
    scheduler: str | None = _opt(
        None,
        "address of the Dask scheduler for --engine dask, e.g. tcp://10.0.0.5:8786 (default: "
        "Dask's threaded scheduler in this process)",
        "str",
        "resources",
        recorded=False,
    )


@dataclass(frozen=True)
class OutputOptions:
    """Where the outputs go and in which formats."""

    out_dir: str = _opt("reports", "output directory", "path", "output")
    format: tuple = _opt(
        ("json", "html", "pdf"), "output formats among " + ", ".join(FORMATS), "formats", "output"
    )
    templates: str | None = _opt(
        None, "your own copy of (some of) the report templates (sandboxed)", "path", "output"
    )
    junit: str | None = _opt(
        None,
        "also write the quality gates to this file as JUnit XML, one test case per gate, for a "
        "CI system's test report (needs a gate)",
        "path",
        "output",
    )
    github_annotations: bool = _opt(
        False,
        "print each quality gate as a GitHub Actions annotation (::error or ::notice) on stdout "
        "after the summary, also with --quiet (needs a gate)",
        "bool",
        "output",
    )


@dataclass(frozen=True)
class AuditConfig:
    """Every option of an audit. Each default is the one docs/design.md argues for.

    The statistical options are recorded in every result (``run.config``) and in the report's
    methods table; the document options (model name, intended use, ...) are texts the report
    shows; ``gates`` are checked on the result and ``baseline`` is a previous ``results.json``
    to compare with.

    Parameters
    ----------
    title, model_name, dataset_name : str, optional
        The report's title (default ``"Classifier audit: MODEL"``), and the names of the audited
        model and of the evaluation data, on the cover.
    evaluation : str, optional
        How the predictions were produced (e.g. ``"5-fold out-of-fold predictions"``).
    intended_use, data_provenance, known_limitations : str, optional
        Sections written by the user (Markdown), placed where a model card or a technical file
        expects them.
    signoff : tuple of str
        Sign-off lines ``"Role: Name"``.
    n_resamples : int
        Bootstrap replicates B; 0 means point estimates only.
    confidence_level : float
        Of every interval, in (0, 1).
    seed : int, optional
        Seed of the resampling; when None, one is drawn and recorded in ``run.seed``.
    resampling : {"stratified", "simple"}
        Stratified keeps each true class's support fixed in every replicate (as pROC does).
    interval : {"bca", "percentile", "basic"}
        Bootstrap interval method.
    proportion_interval : {"wilson", "clopper-pearson", "mid-p", "bootstrap"}
        For per-class recall, precision, specificity, NPV and prevalence.
    multiplicity : {"bonferroni", "sidak", "none"}
        Adjustment of the simultaneous per-class intervals.
    min_support : int
        Classes with fewer true samples are flagged ``insufficient``.
    min_effect : float
        The minimum material effect: a difference is stated as a finding only when its adjusted
        interval excludes 0 and it is at least this large (0.05 by default: it keeps 80% power
        for a 10-sample class at recall 0.6 among classes at 0.99 while stopping claims such as
        an F1 difference of 0.0001 for the majority class; docs/design.md).
    score_bootstrap_max_work : float
        Largest N * K * B for which score metrics without an analytic interval are bootstrapped
        over samples; above it their analytic approximations are used (and named in ``method``).
    renormalize_scores : bool
        Divide each score row by its sum, so that scores which are not probabilities (or
        probabilities rounded beyond the tolerance) get a log loss and a Brier score; every score
        metric then uses the renormalised scores. Recorded in the notes of log loss and Brier.
    strata : {"prevalence", "log-quantiles", "support"}
        How classes are grouped (see :class:`prevalens.strata.StrataSpec`).
    strata_cuts : tuple of float, optional
        Cut points: prevalence fractions (default 0.01, 0.10) or support counts.
    strata_groups : int
        Number of groups for ``strata="log-quantiles"``.
    strata_names : tuple of str, optional
        Names of the strata, rarest first (display only: the analyses use the strata by rank).
    divergence_adjustment : {"holm", "bonferroni"}
        Multiplicity adjustment of the family of divergence claims.
    findings_metrics : tuple of str
        Metrics that findings are made about (``roc_auc`` only when there are scores).
    gates : tuple of str
        Quality gates such as ``"macro.f1 >= 0.70"`` (see :mod:`prevalens.gates`).
    gate_on : {"interval", "estimate"}
        Check gates on the conservative end of the interval, or on the estimate.
    baseline : str, optional
        The ``results.json`` of a previous audit to compare with.
    group : tuple of str
        The groupings to audit within, as the loader was given them (``--group``): a column,
        or ``"a*b"`` for the intersection of columns. The rows' groups themselves are
        ``Predictions.groups`` (:func:`prevalens.load_predictions` with ``groups=``).
    group_missing : {"refuse", "level"}
        A missing group value is refused, or counted as the level ``"missing"``.
    subgroup_min_cell : int
        Class x group cells with fewer true samples are suppressed in every output (>= 1).
    subgroup_reference : str, optional
        The reference level of every grouping; default the largest.
    subgroup_disclose : bool
        Write suppressed cells' counts and metrics to ``results.json`` (never to the report or
        the exports).
    max_memory : int or str, optional
        The memory budget of the interval stage in bytes (or ``"4GB"``, ``"500MB"``): the engine
        evaluates replicates, classes and leave-one-out values in pieces that fit it. Default
        (None): a quarter of the machine's physical memory. It never changes a number (the
        pieces are computed as the whole would be), so it is not recorded in ``run.config``.
    """

    # the document
    title: str | None = _opt(
        None, "report title (default: 'Classifier audit: MODEL')", "str", "document"
    )
    model_name: str | None = _opt(
        None, "name of the audited model, on the cover", "str", "document"
    )
    dataset_name: str | None = _opt(
        None, "name of the evaluation data, on the cover", "str", "document"
    )
    evaluation: str | None = _opt(
        None,
        "how the predictions were produced (e.g. '5-fold out-of-fold predictions'), on the cover",
        "str",
        "document",
    )
    intended_use: str | None = _opt(
        None, "the model's intended use (Markdown), a section of the report", "text", "document"
    )
    data_provenance: str | None = _opt(
        None,
        "where the evaluation data come from (Markdown), in the report's Data section",
        "text",
        "document",
    )
    known_limitations: str | None = _opt(
        None,
        "limitations known to the authors (Markdown), in the report's limitations",
        "text",
        "document",
    )
    signoff: tuple = _opt(
        (),
        "sign-off lines 'Role: Name' (e.g. 'Approved by: J. Doe'), in order",
        "list-str",
        "document",
        repeat=True,
    )
    # the statistics
    resampling: str = _opt(
        "stratified",
        "bootstrap scheme",
        "choice",
        "statistics",
        choices=("stratified", "simple"),
        methods="Resampling",
        describe="{value} bootstrap of the confusion matrix (multinomial cell "
        "counts), clusters when a cluster column is given",
    )
    n_resamples: int = _opt(
        2000,
        "bootstrap replicates; 0 for point estimates only",
        "int",
        "statistics",
        minimum=0,
        methods="Replicates (B)",
        describe="{value:,}",
    )
    seed: int | None = _opt(
        None,
        "seed of the resampling (default: drawn and recorded)",
        "int",
        "statistics",
        minimum=0,
        methods="Seed",
    )
    confidence_level: float = _opt(
        0.95, "of every interval", "float", "statistics", methods="Confidence level"
    )
    interval: str = _opt(
        "bca",
        "bootstrap interval method",
        "choice",
        "statistics",
        choices=("bca", "percentile", "basic"),
        methods="Label metrics",
        describe="{value} intervals from joint replicates",
    )
    proportion_interval: str = _opt(
        "wilson",
        "interval of per-class proportions",
        "choice",
        "statistics",
        choices=("wilson", "clopper-pearson", "mid-p", "bootstrap"),
        methods="Per-class proportions",
        describe={
            "wilson": "Wilson intervals; F1 and Jaccard from the same interval of tp/(tp+fp+fn)",
            "clopper-pearson": "Clopper-Pearson intervals; F1 and Jaccard from the same "
            "interval of tp/(tp+fp+fn)",
            "mid-p": "exact mid-p intervals; F1 and Jaccard from the same interval of "
            "tp/(tp+fp+fn)",
            "bootstrap": "the bootstrap replicates, like the other label metrics",
        },
    )
    multiplicity: str = _opt(
        "bonferroni",
        "adjustment of the simultaneous intervals",
        "choice",
        "statistics",
        choices=("bonferroni", "sidak", "none"),
        methods="Simultaneous intervals",
    )
    min_support: int = _opt(
        10,
        "classes with fewer true samples are flagged insufficient",
        "int",
        "statistics",
        minimum=0,
        methods="Minimum support",
    )
    min_effect: float = _opt(
        0.05,
        "minimum material effect: a difference is a finding only when its adjusted interval "
        "excludes 0 and it is at least this large (metric units)",
        "float",
        "statistics",
        methods="Minimum material effect",
        describe="{value} on the metric's scale: a difference is claimed only when its adjusted "
        "interval excludes 0 and it is at least this large",
    )
    calibration: bool = _opt(
        True,
        "assess the calibration of probability scores (--no-calibration skips it: it costs "
        "about as much again as the rest of an audit with scores)",
        "bool",
        "statistics",
    )
    calibration_bins: int = _opt(
        10,
        "equal-mass bins per class for the calibration of probabilities (reliability curves, "
        "ECE, Brier decomposition)",
        "int",
        "statistics",
        minimum=2,
    )
    calibration_tolerance: float = _opt(
        1.25,
        "a calibration finding needs the intercept's odds ratio or the slope beyond this factor "
        "either way (1.25: slope outside 0.8 to 1.25)",
        "float",
        "statistics",
    )
    score_bootstrap_max_work: float = _opt(
        1e7,
        "largest N*K*B for which score metrics are bootstrapped over samples (above it: "
        "analytic approximations)",
        "float",
        "statistics",
    )
    renormalize_scores: bool = _opt(
        False,
        "divide each score row by its sum before log loss and Brier score (rows must be "
        "non-negative with a positive sum); without it, rows must sum to 1 within 0.01",
        "bool",
        "statistics",
    )
    strata: str = _opt(
        "prevalence",
        "how classes are grouped",
        "choice",
        "statistics",
        choices=("prevalence", "log-quantiles", "support"),
    )
    strata_cuts: tuple | None = _opt(
        None,
        "cut points: prevalence fractions (e.g. 0.01, 0.1) or support counts",
        "list-float",
        "statistics",
    )
    strata_groups: int = _opt(
        3, "number of groups for strata = 'log-quantiles'", "int", "statistics", minimum=1
    )
    strata_names: tuple | None = _opt(
        None, "names of the strata, rarest first", "list-str", "statistics"
    )
    divergence_adjustment: str = _opt(
        "holm",
        "adjustment of the family of divergence claims",
        "choice",
        "statistics",
        choices=("holm", "bonferroni"),
        methods="Divergence claims",
        describe="{value}-adjusted family",
    )
    findings_metrics: tuple = _opt(
        ("recall", "f1", "roc_auc"),
        "metrics that findings are made about",
        "list-str",
        "statistics",
    )
    # gates and comparison
    gates: tuple = _opt(
        (),
        "quality gates such as 'macro.f1 >= 0.70' (added to those of the configuration file)",
        "list-str",
        "gates",
        flag="--gate",
        repeat=True,
    )
    gate_on: str = _opt(
        "interval",
        "check gates on the conservative interval bound or on the estimate",
        "choice",
        "gates",
        choices=_gates.BASES,
    )
    baseline: str | None = _opt(
        None, "results.json of a previous audit to compare with", "path", "comparison"
    )
    deployment_prevalence: str | Mapping | None = _opt(
        None,
        "project the label metrics to the class prevalences where the model is deployed "
        "(label shift): 'uniform', 'rare*F' (the rarest stratum F times as prevalent) or a CSV "
        "(class,prevalence) or JSON file mapping each class to its prevalence; in Python also a "
        "mapping {class: prevalence}",
        "prevalence",
        "comparison",
    )
    # subgroups: the groupings are read with the input (Predictions.groups); these record them
    # and shape their analysis
    group: tuple = _opt(
        (),
        "column of a subgroup to audit within (repeat; 'a*b' for the intersection of two)",
        "list-str",
        "subgroups",
        flag="--group",
        repeat=True,
    )
    group_missing: str = _opt(
        "refuse",
        "a missing group value: refuse it (naming the row), or count it as the level 'missing'",
        "choice",
        "subgroups",
        choices=("refuse", "level"),
    )
    subgroup_min_cell: int = _opt(
        10,
        "class x group cells with fewer true samples are suppressed in every output",
        "int",
        "subgroups",
        minimum=1,
    )
    subgroup_reference: str | None = _opt(
        None,
        "the reference level of every grouping (default: the largest)",
        "str",
        "subgroups",
    )
    subgroup_disclose: bool = _opt(
        False,
        "write suppressed cells' counts and metrics to results.json (never to the report or "
        "exports)",
        "bool",
        "subgroups",
    )
    # the machine
    max_memory: int | None = _opt(
        None,
        "memory budget of the interval stage, e.g. 4GB or 500MB (default: a quarter of the "
        "physical memory; compare: refused above it, default three quarters); never changes a "
        "number, not recorded in run.config",
        "size",
        "resources",
        recorded=False,
    )

    def __post_init__(self):
        for f in fields(self):
            value = getattr(self, f.name)
            kind = f.metadata["prevalens"]["kind"]
            if (
                kind in ("list-str", "list-float")
                and value is not None
                and not isinstance(value, tuple)
            ):
                if isinstance(value, (str, bytes)) or not hasattr(value, "__iter__"):
                    raise ConfigError(f"`{f.name}` must be a list; got {value!r}")
                object.__setattr__(self, f.name, tuple(value))
            if kind == "size" and value is not None:
                object.__setattr__(self, f.name, parse_size(value, name=f.name))
        _check_config(self)

    def to_dict(self) -> dict:
        """JSON-ready (tuples as lists), as recorded in ``run.config`` (without the options
        that are not recorded: the machine's resources)."""
        return {
            k: list(v) if isinstance(v, tuple) else v
            for k, v in asdict(self).items()
            if k in RECORDED_KEYS
        }

    @classmethod
    def from_options(cls, options: Mapping[str, Any]) -> AuditConfig:
        """The config of ``options`` (keyword arguments or resolved options): unknown keys are
        refused with the closest valid one; keys of other option groups are ignored."""
        known = {o.key for o in OPTIONS}
        for key in options:
            if key not in known:
                raise ConfigError(f"unknown option `{key}`{closest(key, [o.key for o in OPTIONS])}")
        return cls(**{k: v for k, v in options.items() if k in AUDIT_KEYS})


def _check_config(c: AuditConfig) -> None:
    def choice(name):
        allowed = option_by_key(name).choices
        value = getattr(c, name)
        if value not in allowed:
            raise ConfigError(
                f"`{name}` must be one of {', '.join(map(repr, allowed))}; got {value!r}"
            )

    def whole(x) -> bool:
        return not isinstance(x, bool) and isinstance(x, (int, np.integer))

    for o in AUDIT_OPTIONS:
        value = getattr(c, o.key)
        if o.kind == "choice":
            choice(o.key)
        elif o.kind in ("str", "text") and value is not None and not isinstance(value, str):
            raise ConfigError(f"`{o.key}` must be a string; got {value!r}")
        elif o.kind == "prevalence" and value is not None and not isinstance(value, (str, Mapping)):
            raise ConfigError(
                f"`{o.key}` must be 'uniform', 'rare*F', a file path or a mapping "
                f"{{class: prevalence}}; got {value!r}"
            )
        elif (
            o.kind == "list-str"
            and value is not None
            and not all(isinstance(v, str) for v in value)
        ):
            raise ConfigError(f"`{o.key}` must be a list of strings; got {list(value)!r}")
        elif o.kind == "bool" and not isinstance(value, bool):
            raise ConfigError(f"`{o.key}` must be True or False; got {value!r}")
    if not whole(c.n_resamples) or c.n_resamples < 0:
        raise ConfigError(f"`n_resamples` must be a whole number >= 0; got {c.n_resamples!r}")
    if 0 < c.n_resamples < 100:
        raise ConfigError(
            f"`n_resamples` must be 0 (no intervals) or at least 100; got {c.n_resamples} "
            "(2000 is the default)"
        )
    cl = c.confidence_level
    if isinstance(cl, bool) or not isinstance(cl, (int, float)) or not (0 < cl < 1):
        raise ConfigError(
            f"`confidence_level` must be a number between 0 and 1 (e.g. 0.95); got {cl!r}"
        )
    if c.seed is not None and (not whole(c.seed) or c.seed < 0):
        raise ConfigError(f"`seed` must be a whole number >= 0 or None; got {c.seed!r}")
    if not whole(c.min_support) or c.min_support < 0:
        raise ConfigError(f"`min_support` must be a whole number >= 0; got {c.min_support!r}")
    me = c.min_effect
    if isinstance(me, bool) or not isinstance(me, (int, float)) or not 0 <= me < 1:
        raise ConfigError(f"`min_effect` must be a number in [0, 1) (e.g. 0.05); got {me!r}")
    if not whole(c.calibration_bins) or c.calibration_bins < 2:
        raise ConfigError(
            f"`calibration_bins` must be a whole number >= 2 (e.g. 10); got {c.calibration_bins!r}"
        )
    ct = c.calibration_tolerance
    if isinstance(ct, bool) or not isinstance(ct, (int, float)) or not ct > 1:
        raise ConfigError(f"`calibration_tolerance` must be a number > 1 (e.g. 1.25); got {ct!r}")
    w = c.score_bootstrap_max_work
    if isinstance(w, bool) or not isinstance(w, (int, float)) or not w >= 0:
        raise ConfigError(f"`score_bootstrap_max_work` must be a number >= 0; got {w!r}")
    if c.strata_cuts is not None:
        cuts = c.strata_cuts
        if not cuts or not all(
            isinstance(x, (int, float)) and not isinstance(x, bool) for x in cuts
        ):
            raise ConfigError(
                f"`strata_cuts` must be a non-empty list of numbers; got {list(cuts)!r}"
            )
        if any(b <= a for a, b in zip(cuts, cuts[1:])):
            raise ConfigError(f"`strata_cuts` must be strictly increasing; got {list(cuts)!r}")
        if c.strata == "prevalence" and not all(0 < x < 1 for x in cuts):
            raise ConfigError(
                f"`strata_cuts` on prevalence must lie between 0 and 1 (e.g. 0.01, 0.1); got {list(cuts)!r}"
            )
    if c.strata == "support" and c.strata_cuts is None:
        raise ConfigError('`strata="support"` needs `strata_cuts` (support counts, e.g. 10, 100)')
    if not whole(c.strata_groups) or c.strata_groups < 2:
        raise ConfigError(f"`strata_groups` must be a whole number >= 2; got {c.strata_groups!r}")
    if c.strata_names is not None:
        n_groups = (
            c.strata_groups
            if c.strata == "log-quantiles"
            else len(c.strata_cuts or (0.01, 0.1)) + 1
        )
        if len(c.strata_names) != n_groups or len(set(c.strata_names)) != n_groups:
            raise ConfigError(
                f"`strata_names` must give {n_groups} different names, rarest first; got {list(c.strata_names)!r}"
            )
    bad = [m for m in c.findings_metrics if m not in FINDINGS_METRICS]
    if bad or not c.findings_metrics:
        raise ConfigError(
            f"`findings_metrics` must be a non-empty list of {', '.join(FINDINGS_METRICS)}; "
            f"got {list(c.findings_metrics)!r}"
        )
    _gates.parse_gates(c.gates)  # a malformed gate is refused here, not when it is evaluated
    for spec in c.group:
        try:
            split_group_spec(spec)
        except ConfigError as exc:
            raise ConfigError(f"`group` {str(exc).removeprefix('group ')}") from None
    dup = [g for i, g in enumerate(c.group) if g in c.group[:i]]
    if dup:
        raise ConfigError(f"`group` lists {dup[0]!r} twice; give each group once")
    if not whole(c.subgroup_min_cell) or c.subgroup_min_cell < 1:
        raise ConfigError(
            f"`subgroup_min_cell` must be a whole number >= 1 (e.g. 10); got "
            f"{c.subgroup_min_cell!r}"
        )
    if c.subgroup_reference is not None and not c.subgroup_reference.strip():
        raise ConfigError("`subgroup_reference` is empty; give a level's name or leave it unset")


#: Every option, in the order of ``--help``, the TOML documentation and ``run.config``.
OPTIONS: tuple[Option, ...] = (
    _options_of(InputOptions) + _options_of(OutputOptions) + _options_of(AuditConfig)
)
#: The options that are fields of :class:`AuditConfig`.
AUDIT_OPTIONS: tuple[Option, ...] = _options_of(AuditConfig)
AUDIT_KEYS = frozenset(o.key for o in AUDIT_OPTIONS)
#: The options recorded in ``run.config`` (every one but the machine's resources).
RECORDED_KEYS = frozenset(o.key for o in OPTIONS if o.recorded)
_BY_KEY = {o.key: o for o in OPTIONS}


def option_by_key(key: str) -> Option:
    return _BY_KEY[key]


def closest(key: str, options) -> str:
    """``"; did you mean 'x'?"`` for the closest of ``options``, else the list of them."""
    options = list(options)
    match = difflib.get_close_matches(key, options, n=1, cutoff=0.5)
    return f"; did you mean '{match[0]}'?" if match else f"; valid keys: {', '.join(options)}"


def _type_name(value) -> str:
    return {
        bool: "a boolean",
        int: "a whole number",
        float: "a number",
        str: "a string",
        list: "a list",
        dict: "a table",
    }.get(type(value), type(value).__name__)


def coerce(opt: Option, value, where: str):
    """Check one value's type (and simple range) for option ``opt`` and normalise it (lists as
    tuples); errors start with ``where`` (a flag or a file and key). Paths are returned as given.
    """
    kind = opt.kind

    def fail(expected):
        shown = repr(value) if len(repr(value)) < 60 else repr(value)[:57] + "..."
        return ConfigError(f"{where}: expected {expected}, got {_type_name(value)} {shown}")

    if kind == "prevalence":
        if isinstance(value, Mapping):
            table: dict[str, float] = {}
            for label, v in value.items():
                if isinstance(v, bool) or not isinstance(v, (int, float)):
                    raise fail("a table of class = prevalence numbers")
                table[str(label)] = float(v)
            return table
        if not isinstance(value, str):
            raise fail("'uniform', 'rare*F', a file path or a table of class = prevalence")
        return value
    if kind in ("str", "text", "path", "choice"):
        if not isinstance(value, str):
            raise fail("a string")
        if kind == "choice" and value not in opt.choices:
            match = difflib.get_close_matches(value, opt.choices, n=1, cutoff=0.5)
            hint = f" (did you mean '{match[0]}'?)" if match else ""
            raise ConfigError(f"{where}: {value!r} is not one of {', '.join(opt.choices)}{hint}")
        if kind == "path" and not value:
            raise ConfigError(f"{where}: empty path")
        return value
    if kind == "bool":
        if not isinstance(value, bool):
            raise fail("true or false")
        return value
    if kind == "size":
        if isinstance(value, bool) or not isinstance(value, (int, str)):
            raise fail("a size such as '4GB' or '500MB'")
        try:
            return parse_size(value, name=opt.key)
        except ConfigError as exc:
            raise ConfigError(f"{where}: {str(exc).replace(f'`{opt.key}` ', '', 1)}") from None
    if kind == "int":
        if isinstance(value, bool) or not isinstance(value, int):
            raise fail("a whole number")
        if opt.minimum is not None and value < opt.minimum:
            raise ConfigError(f"{where}: must be >= {opt.minimum:g}, got {value}")
        return value
    if kind == "float":
        if (
            isinstance(value, bool)
            or not isinstance(value, (int, float))
            or not math.isfinite(value)
        ):
            raise fail("a number")
        return float(value)
    if kind in ("list-str", "list-float", "labels", "formats"):
        if kind == "formats" and isinstance(value, str):
            value = [v.strip() for v in value.split(",") if v.strip()]
        if not isinstance(value, list | tuple):
            raise fail("a list")
        out: list[Any] = []
        for i, item in enumerate(value):
            if kind == "list-float":
                if (
                    isinstance(item, bool)
                    or not isinstance(item, (int, float))
                    or not math.isfinite(item)
                ):
                    raise ConfigError(f"{where}: item {i + 1} must be a number, got {item!r}")
                out.append(float(item))
            elif kind == "labels":
                if isinstance(item, bool) or not isinstance(item, (int, str)):
                    raise ConfigError(
                        f"{where}: item {i + 1} must be a string or whole number, got {item!r}"
                    )
                if item == "":
                    raise ConfigError(f"{where}: item {i + 1} is an empty label")
                out.append(item)
            else:
                if not isinstance(item, str):
                    raise ConfigError(f"{where}: item {i + 1} must be a string, got {item!r}")
                out.append(item)
        if kind == "formats":
            out = [f.lower() for f in out]
            if not out:
                raise ConfigError(f"{where}: is empty; give one or more of {', '.join(FORMATS)}")
            for f in out:
                if f not in FORMATS:
                    match = difflib.get_close_matches(f, FORMATS, n=1, cutoff=0.5)
                    hint = f" (did you mean '{match[0]}'?)" if match else ""
                    raise ConfigError(
                        f"{where}: unknown format {f!r}{hint}; choose from {', '.join(FORMATS)}"
                    )
            out = list(dict.fromkeys(out))
        if kind == "labels" and len(set(map(str, out))) != len(out):
            raise ConfigError(f"{where}: a label is listed twice; give each label once")
        return tuple(out)
    raise AssertionError(kind)  # pragma: no cover
