"""prevalens: audit multi-class classifiers where rare classes diverge from common ones.

Micro, macro and weighted metrics with honest confidence intervals, stratified by class
prevalence. Users import from here; the modules behind these names may move.

>>> import prevalens as pv
>>> r = pv.audit(["a", "a", "b", "c"], ["a", "b", "b", "c"], n_resamples=0)
>>> r.averages["macro"]["recall"].estimate
0.8333333333333334
"""

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
from .counts import ConfusionCounts, confusion_matrix  # noqa: E402
from .exceptions import (  # noqa: E402
    ConfigError,
    InputError,
    PrevalensError,
    PrevalensWarning,
    ProbabilityWarning,
    UndefinedMetricWarning,
)
from .io import Predictions, load_predictions, predictions_from_arrays, read_results  # noqa: E402
from .job import AuditRun, run_audit  # noqa: E402
from .metrics import count_statistics  # noqa: E402
from .options import AuditConfig  # noqa: E402
from .outputs import render, write  # noqa: E402
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

__all__ = [
    "__version__",
    "AuditConfig",
    "AuditResult",
    "AuditRun",
    "ClassResult",
    "ConfigError",
    "ConfusionCounts",
    "DivergenceResult",
    "Estimate",
    "Finding",
    "GapResult",
    "InputError",
    "InputInfo",
    "Predictions",
    "PrevalensError",
    "PrevalensWarning",
    "ProbabilityWarning",
    "StratumResult",
    "TrendResult",
    "UndefinedMetricWarning",
    "audit",
    "audit_predictions",
    "confusion_matrix",
    "count_statistics",
    "load_predictions",
    "load_schema",
    "predictions_from_arrays",
    "read_results",
    "render",
    "run_audit",
    "write",
]
