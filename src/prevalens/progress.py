"""Progress of the long steps, reported to whoever asked for it (the command line's progress
lines), and to no one otherwise.

The core stays pure: it calls :func:`step` and :func:`fraction`, which do nothing unless a caller
has installed a reporter with :func:`reporting` (a context variable, so concurrent audits in one
process do not mix their reports). Called from the thread that installed the reporter.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar

__all__ = ["reporting", "step", "fraction", "current"]

_reporter: ContextVar[Callable | None] = ContextVar("prevalens_progress", default=None)


@contextmanager
def reporting(reporter: Callable | None) -> Iterator[None]:
    """Within the block, :func:`step` calls ``reporter(text)`` and :func:`fraction` calls
    ``reporter.fraction(f)`` when the reporter has that method."""
    token = _reporter.set(reporter)
    try:
        yield
    finally:
        _reporter.reset(token)


def current() -> Callable | None:
    """The installed reporter (to hand to a worker thread), or None."""
    return _reporter.get()


def step(text: str) -> None:
    """A new step begins (its description, e.g. "drawing 2000 bootstrap replicates")."""
    reporter = _reporter.get()
    if reporter is not None:
        reporter(text)


def fraction(done: float, reporter: Callable | None = None) -> None:
    """How much of the current step is done, 0 to 1."""
    reporter = reporter or _reporter.get()
    report = getattr(reporter, "fraction", None)
    if report is not None:
        report(min(max(float(done), 0.0), 1.0))
