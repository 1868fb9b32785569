"""prevalens: audit multi-class classifiers where rare classes diverge from common ones.

Micro, macro and weighted metrics with honest confidence intervals, stratified by class
prevalence. Users import from here; the modules behind these names may move.
"""

from ._version import __version__
from .audit import AuditConfig, audit, audit_predictions
from .counts import ConfusionCounts, confusion_matrix
from .exceptions import (
    ConfigError,
    InputError,
    PrevalensError,
    PrevalensWarning,
    ProbabilityWarning,
    UndefinedMetricWarning,
)
from .metrics import count_statistics
from .io import InputInfo, Predictions, load_predictions, predictions_from_arrays
from .results import AuditResult, ClassResult, Estimate, load_schema

__all__ = [
    "__version__",
    "AuditConfig",
    "AuditResult",
    "ClassResult",
    "ConfigError",
    "ConfusionCounts",
    "Estimate",
    "InputError",
    "InputInfo",
    "Predictions",
    "PrevalensError",
    "PrevalensWarning",
    "ProbabilityWarning",
    "UndefinedMetricWarning",
    "audit",
    "audit_predictions",
    "confusion_matrix",
    "count_statistics",
    "load_predictions",
    "load_schema",
    "predictions_from_arrays",
]
