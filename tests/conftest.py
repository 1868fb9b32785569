"""Shared test configuration: the Hypothesis profile and the input strategies of the metric tests.

The profile is deterministic (``derandomize=True``): a failure found once is found on every run
and every machine, and the suite's runtime does not drift. Set ``HYPOTHESIS_PROFILE=thorough`` to
search harder locally (random seeds, 1000 examples).

The strategies below are imported by ``test_metrics_reference.py`` and ``test_invariance.py``.
They draw integer class codes ``0 .. K-1`` and always pass ``labels=range(K)`` to the audit, so
classes that never occur (absent), that are never predicted, and that have a single sample are
all kept as columns of the K x K matrix; that is where undefined (0/0) metrics come from.

The command-line tests (``test_cli.py``, ``test_cli_config.py``) run ``prevalens.cli.main(argv)``
in the test's process through the fixture ``cli`` (or :func:`call_main`), which spares each run an
interpreter start and the import of numpy, pandas and the report's libraries; the few runs that
must show what a fresh process does use :func:`run_python_m`.
"""

from __future__ import annotations

import contextlib
import io
import os
import subprocess
import sys
import warnings
from dataclasses import dataclass

import numpy as np
import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

import prevalens

settings.register_profile(
    "prevalens", derandomize=True, max_examples=60, deadline=None, database=None, print_blob=True
)
settings.register_profile("thorough", max_examples=1000, deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "prevalens"))


# ------------------------------------------------------------------------------------------------
# cases


@dataclass(frozen=True)
class Case:
    """One classification problem: integer codes, K classes, optional scores (n, K)."""

    n_classes: int
    y_true: np.ndarray
    y_pred: np.ndarray | None
    y_score: np.ndarray | None = None

    @property
    def labels(self) -> list[int]:
        return list(range(self.n_classes))

    def __repr__(self) -> str:  # readable falsifying examples
        def fmt(a):
            return None if a is None else np.array2string(a, separator=",", threshold=10_000)

        return (
            f"Case(n_classes={self.n_classes}, y_true={fmt(self.y_true)}, "
            f"y_pred={fmt(self.y_pred)}, y_score={fmt(self.y_score)})"
        )


@st.composite
def label_cases(
    draw,
    min_classes: int = 2,
    max_classes: int = 10,
    max_samples: int = 50,
    all_present: bool = False,
):
    """Labels whose true and predicted classes are drawn from random subsets of the K classes.

    Drawing each side from a subset makes absent classes (in ``labels`` but never true),
    never-predicted classes and one-sample classes frequent; ``agree`` copies the truth into part
    of the predictions so that true positives are frequent too. ``all_present=True`` gives every
    class at least one true sample.
    """
    k = draw(st.integers(min_classes, max_classes), label="K")
    n = draw(st.integers(2, max_samples), label="n")
    codes = st.integers(0, k - 1)
    true_set = (
        list(range(k))
        if all_present
        else draw(st.lists(codes, min_size=1, max_size=k, unique=True))
    )
    pred_set = draw(st.lists(codes, min_size=1, max_size=k, unique=True))
    y_true = draw(arrays(np.int64, n, elements=st.sampled_from(sorted(true_set))))
    if all_present:  # one sample of every class first, then n more
        y_true = np.concatenate([np.arange(k), y_true])
        n = y_true.size
    noise = draw(arrays(np.int64, n, elements=st.sampled_from(sorted(pred_set))))
    agree = draw(arrays(np.bool_, n))
    return Case(k, y_true, np.where(agree, y_true, noise))


#: How score matrices are drawn: continuous values, values rounded to one decimal (many ties),
#: probability rows, and probability rows from a palette of a few rows (probabilities with ties).
SCORE_KINDS = ("continuous", "tenths", "probabilities", "probability_palette")


@st.composite
def score_cases(
    draw,
    min_classes: int = 2,
    max_classes: int = 7,
    max_samples: int = 40,
    kinds=SCORE_KINDS,
    all_present: bool = False,
):
    case = draw(label_cases(min_classes, max_classes, max_samples, all_present))
    n, k = case.y_true.size, case.n_classes
    kind = draw(st.sampled_from(kinds), label="score kind")
    if kind == "continuous":
        s = draw(arrays(np.float64, (n, k), elements=st.floats(0, 1, width=32)))
    elif kind == "tenths":
        s = draw(arrays(np.int64, (n, k), elements=st.integers(0, 10))) / 10.0
    elif kind == "probabilities":
        s = draw(arrays(np.float64, (n, k), elements=st.floats(2.0**-10, 1, width=32)))
        s = s / s.sum(axis=1, keepdims=True)
    else:
        n_rows = draw(st.integers(1, 4))
        palette = draw(
            arrays(np.int64, (n_rows, k), elements=st.integers(0, 4)).filter(
                lambda p: (p.sum(axis=1) > 0).all()
            )
        )
        palette = palette / palette.sum(axis=1, keepdims=True)
        s = palette[draw(arrays(np.int64, n, elements=st.integers(0, n_rows - 1)))]
    # Predictions: the argmax that audit() derives itself (None), or labels that agree in part.
    y_pred = draw(st.sampled_from([None, case.y_pred]))
    return Case(k, case.y_true, y_pred, s)


def random_case(
    seed: int, n_classes: int, n_samples: int, *, scores: bool = False, tail: float = 1.0
) -> Case:
    """A seeded long-tailed problem (Zipf-like prevalences ~ 1 / rank**tail), for explicit
    examples too large for Hypothesis to draw (K = 200)."""
    rng = np.random.default_rng(seed)
    p = 1.0 / np.arange(1, n_classes + 1) ** tail
    y_true = rng.choice(n_classes, size=n_samples, p=p / p.sum())
    logits = rng.normal(size=(n_samples, n_classes))
    logits[np.arange(n_samples), y_true] += 2.0
    proba = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    y_pred = proba.argmax(axis=1)
    return Case(n_classes, y_true, y_pred, proba if scores else None)


# ------------------------------------------------------------------------------------------------
# running an audit and reading its numbers


def run_audit(case: Case, *, labels=None, y_true=None, y_pred=None, y_score=None):
    """``prevalens.audit`` with point estimates only, undefined-metric, probability and input
    warnings silenced (tests that are about those warnings catch them themselves; drawn cases
    are often implausible on purpose: one true class, random scores beside y_pred)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", prevalens.UndefinedMetricWarning)
        warnings.simplefilter("ignore", prevalens.ProbabilityWarning)
        warnings.simplefilter("ignore", prevalens.InputWarning)
        return prevalens.audit(
            case.y_true if y_true is None else y_true,
            case.y_pred if y_pred is None else y_pred,
            y_score=case.y_score if y_score is None else y_score,
            labels=case.labels if labels is None else labels,
            n_resamples=0,
            seed=0,
        )


def estimates(result) -> dict[str, np.ndarray]:
    """Every point estimate of an AuditResult, keyed like ``count_statistics``:
    ``per_class.<m>`` (array over classes), ``<micro|macro|weighted>.<m>`` and ``overall.<m>``."""
    out = {}
    for name in result.per_class[0].metrics:
        out[f"per_class.{name}"] = result.per_class_values(name)
    for avg, metrics in result.averages.items():
        for name, e in metrics.items():
            out[f"{avg}.{name}"] = np.float64(e.estimate)
    for name, e in result.overall.items():
        out[f"overall.{name}"] = np.float64(e.estimate)
    return out


def assert_close(actual, desired, err_msg=""):
    """Compare numbers at the suite's tolerance (1e-12 absolute), NaN equal to NaN."""
    np.testing.assert_allclose(actual, desired, rtol=0, atol=1e-12, equal_nan=True, err_msg=err_msg)


# ------------------------------------------------------------------------------------------------
# running the command line (tests/test_cli.py, tests/test_cli_config.py)

#: The report date of every CLI run in the tests (SOURCE_DATE_EPOCH): 2023-11-14T22:13:20Z.
CLI_EPOCH = "1700000000"


@dataclass(frozen=True)
class CliRun:
    """What a run of the command line left behind: its exit code and its stdout and stderr text
    (the attribute names of :class:`subprocess.CompletedProcess`)."""

    returncode: int
    stdout: str
    stderr: str


def call_main(args, *, cwd, env=None, capfd=None) -> CliRun:
    """``prevalens.cli.main(args)`` in this process, as ``prevalens ARGS`` run in ``cwd``.

    The environment is that of :func:`run_python_m` (SOURCE_DATE_EPOCH set, PREVALENS_PROGRESS
    unset, ``env`` on top) and is restored afterwards, with the working directory. argparse's
    ``SystemExit`` (usage errors, ``--help``, ``--version``) becomes the exit code; any other
    exception (``--debug``) propagates. With ``capfd`` (pytest's fixture) stdout and stderr are
    read at the file-descriptor level, like a subprocess's pipes: output written by C libraries
    counts too. Module fixtures cannot use ``capfd``; without it only ``sys.stdout`` and
    ``sys.stderr`` are captured. Either way stderr is not a terminal, so progress lines appear
    only when PREVALENS_PROGRESS=1 asks for them, as in a subprocess with a pipe.
    """
    from prevalens.cli import main

    with pytest.MonkeyPatch.context() as mp, contextlib.ExitStack() as stack:
        mp.chdir(cwd)
        mp.delenv("PREVALENS_PROGRESS", raising=False)
        mp.setenv("SOURCE_DATE_EPOCH", CLI_EPOCH)
        # argparse wraps --help at the terminal's width; a subprocess with a pipe gets 80
        mp.setenv("COLUMNS", "80")
        for name, value in (env or {}).items():
            mp.setenv(name, value)
        if capfd is not None:
            capfd.readouterr()  # drop what came before
            read = capfd.readouterr
        else:
            out = stack.enter_context(contextlib.redirect_stdout(io.StringIO()))
            err = stack.enter_context(contextlib.redirect_stderr(io.StringIO()))
            read = lambda: (out.getvalue(), err.getvalue())  # noqa: E731
        try:
            code = main([str(a) for a in args])
        except SystemExit as exc:
            code = 0 if exc.code is None else exc.code
        stdout, stderr = read()
    assert isinstance(code, int), code
    return CliRun(code, stdout, stderr)


@pytest.fixture
def cli(capfd):
    """``cli(*args, cwd=..., env=None)``: :func:`call_main` with stdout and stderr read from
    the file descriptors."""

    def run(*args, cwd, env=None) -> CliRun:
        return call_main(args, cwd=cwd, env=env, capfd=capfd)

    return run


def run_python_m(args, *, cwd, env=None, script=None, timeout=300) -> subprocess.CompletedProcess:
    """``python -m prevalens ARGS`` (or the console ``script``) as a real subprocess in ``cwd``,
    text mode; SOURCE_DATE_EPOCH set, PREVALENS_PROGRESS and PYTHONWARNINGS unset, ``env`` on
    top. For what only a fresh process shows: the entry points themselves, tracebacks printed by
    the interpreter, and environment variables read while modules are first imported."""
    full_env = dict(os.environ, SOURCE_DATE_EPOCH=CLI_EPOCH)
    for name in ("PYTHONWARNINGS", "PREVALENS_PROGRESS"):
        full_env.pop(name, None)
    full_env.update(env or {})
    cmd = [str(script)] if script else [sys.executable, "-m", "prevalens"]
    return subprocess.run(
        cmd + [str(a) for a in args],
        cwd=cwd,
        env=full_env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
