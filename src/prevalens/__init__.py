"""prevalens: audit multi-class classifiers where rare classes diverge from common ones.

Micro, macro and weighted metrics with honest confidence intervals, stratified by class
prevalence. Users import from here; the modules behind these names may move.

>>> import prevalens as pv
>>> r = pv.audit(["a", "a", "b", "c"], ["a", "b", "b", "c"], n_resamples=0)
>>> r.averages["macro"]["recall"].estimate
0.8333333333333334
"""

import importlib as _importlib
import os as _os

# numpy.f2py reads SOURCE_DATE_EPOCH while scipy loads and fails with a bare ValueError when it is
# not a whole number. Hide a malformed value while the dependencies load, so that prevalens
# itself reports it in one line (the command line before it runs, an audit when it records its
# date) instead of an import-time traceback.
_epoch = _os.environ.get("SOURCE_DATE_EPOCH")
if _epoch is not None and not _epoch.strip().isdigit():
    del _os.environ["SOURCE_DATE_EPOCH"]
try:
    import scipy.special  # noqa: F401  (the import that reads it)
finally:
    if _epoch is not None:
        _os.environ["SOURCE_DATE_EPOCH"] = _epoch

from ._version import __version__  # noqa: E402
from .audit import audit, audit_predictions  # noqa: E402
from .compare import compare, compare_predictions  # noqa: E402
from .comparison import ComparisonResult, Difference, load_comparison_schema  # noqa: E402
from .counted import CountedPredictions  # noqa: E402
from .counts import ConfusionCounts, confusion_matrix  # noqa: E402
from .exceptions import (  # noqa: E402
    ConfigError,
    InputError,
    InputWarning,
    PrevalensError,
    PrevalensWarning,
    ProbabilityWarning,
    UndefinedMetricWarning,
)
from .gate_reports import gates_github, gates_junit  # noqa: E402
from .io import (  # noqa: E402
    GroupColumn,
    Predictions,
    load_models,
    load_predictions,
    predictions_from_arrays,
    read_results,
)
from .metrics import count_statistics  # noqa: E402
from .options import AuditConfig  # noqa: E402
from .results import (  # noqa: E402
    AuditResult,
    ClassResult,
    DivergenceResult,
    Estimate,
    Finding,
    GapResult,
    InputInfo,
    StratumResult,
    TrendResult,
    load_schema,
)

# The report stack (matplotlib, Jinja, WeasyPrint) takes about a second to import and is not
# needed to compute an audit: these names load their module on first use (PEP 562).
_LAZY = {
    "run_audit": "job",
    "AuditRun": "job",
    "render": "outputs",
    "write": "outputs",
    "figure_files": "report.render",
    "plot_class_differences": "report.compare_plots",
    # optional extras (duckdb, dask): imported when asked for
    "count_file": "engines.duckdb",
    "audit_dask": "engines.dask",
    "count_dask": "engines.dask",
    **{
        name: "report.plots"
        for name in (
            "plot_prevalence",
            "plot_forest",
            "plot_roc_curves",
            "plot_pr_curves",
            "plot_metric_vs_prevalence",
            "plot_strata",
            "plot_confusion_matrix",
        )
    },
}


def __getattr__(name):
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'prevalens' has no attribute {name!r}")
    value = getattr(_importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(__all__))


__all__ = [
    "__version__",
    "AuditConfig",
    "AuditResult",
    "AuditRun",
    "ClassResult",
    "ComparisonResult",
    "ConfigError",
    "ConfusionCounts",
    "CountedPredictions",
    "Difference",
    "DivergenceResult",
    "Estimate",
    "Finding",
    "GapResult",
    "GroupColumn",
    "InputError",
    "InputInfo",
    "InputWarning",
    "Predictions",
    "PrevalensError",
    "PrevalensWarning",
    "ProbabilityWarning",
    "StratumResult",
    "TrendResult",
    "UndefinedMetricWarning",
    "audit",
    "audit_predictions",
    "audit_dask",
    "count_dask",
    "count_file",
    "compare",
    "compare_predictions",
    "confusion_matrix",
    "count_statistics",
    "gates_github",
    "gates_junit",
    "load_comparison_schema",
    "load_models",
    "load_predictions",
    "load_schema",
    "predictions_from_arrays",
    "read_results",
    "render",
    "run_audit",
    "write",
    "figure_files",
    "plot_class_differences",
    "plot_prevalence",
    "plot_forest",
    "plot_roc_curves",
    "plot_pr_curves",
    "plot_metric_vs_prevalence",
    "plot_strata",
    "plot_confusion_matrix",
]
