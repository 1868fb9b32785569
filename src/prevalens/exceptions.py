"""Exceptions and warnings of prevalens.

Every error that a user can cause derives from :class:`PrevalensError`; the command line catches
that base class and turns it into a one-line message on stderr and exit code 2. Anything else that
escapes is a bug in prevalens (exit code 3).
"""

from __future__ import annotations

__all__ = [
    "PrevalensError",
    "InputError",
    "ConfigError",
    "PrevalensWarning",
    "UndefinedMetricWarning",
    "ProbabilityWarning",
    "InputWarning",
]


class PrevalensError(Exception):
    """Base class of every error prevalens raises on purpose.

    The message is one line that names the problem and, where there is one, the file, column and
    first offending row, and says how to fix it.
    """


class InputError(PrevalensError, ValueError):
    """Raised when predictions cannot be read or fail validation.

    Examples: a missing file or column, labels that are missing, scores that are not finite, a
    predicted label outside ``labels=``, a score column for an unknown class.
    """


class ConfigError(PrevalensError, ValueError):
    """Raised when an option of the audit is invalid (bad value, unknown name, wrong type)."""


class PrevalensWarning(UserWarning):
    """Base class of the warnings prevalens emits."""


class UndefinedMetricWarning(PrevalensWarning):
    """A metric is 0/0 for some classes; it is reported as NaN with status ``undefined``.

    Undefined values are never replaced by 0. Macro and weighted averages skip them; the message
    names the classes and the reason (never predicted, no true samples, ...).
    """


class ProbabilityWarning(PrevalensWarning):
    """Scores are not probabilities (rows do not sum to 1), so log loss and Brier are not computed.

    Ranking metrics (ROC AUC, average precision, top-k accuracy) only need an order and are still
    computed.
    """


class InputWarning(PrevalensWarning):
    """The input is probably not what was meant: score columns that disagree with the predicted
    labels, labels shifted or permuted between y_true and y_pred, likely typos in labels, hard
    (one-hot) scores, a single true class.

    The audit is still computed; the message names the columns or classes and what to check, and
    the same text is recorded in the results' notes (see :mod:`prevalens.checks`).
    """
