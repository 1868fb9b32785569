"""What ``prevalens audit`` does, as one library call: :func:`run_audit`.

Resolve the options (defaults, then a TOML configuration file, then the options given), load the
predictions, audit them, check the quality gates, compare with the baseline, render every output
in memory and write them all or nothing. The command line only parses its flags, calls this and
prints a summary.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

from .audit import audit_predictions
from .config import audit_config, json_ready, resolve
from .data import example_path
from .exceptions import ConfigError
from .io import load_predictions
from .outputs import check_templates, render, write_outputs
from .results import AuditResult

__all__ = ["AuditRun", "run_audit"]

Progress = Callable[[str], None]

EXIT_OK = 0
EXIT_GATE_FAILED = 1


@dataclass(frozen=True)
class AuditRun:
    """The outcome of :func:`run_audit`.

    Attributes
    ----------
    result : AuditResult
        With its quality gates and baseline comparison when they were asked for.
    outputs : dict
        Every output file, ``{name: bytes}``.
    written : tuple of Path
        The files written (empty with ``write=False``).
    config_file : str or None
        The configuration file that was read.
    """

    result: AuditResult
    outputs: dict
    written: tuple
    config_file: str | None

    @property
    def passed(self) -> bool | None:
        """Whether every quality gate passed (None when no gate is declared)."""
        return self.result.passed

    @property
    def exit_code(self) -> int:
        """0, or 1 when a quality gate failed (the command line's exit code)."""
        return EXIT_GATE_FAILED if self.passed is False else EXIT_OK


def run_audit(
    input=None,
    *,
    config=None,
    example: bool = False,
    write: bool = True,
    cwd: Path | None = None,
    command: str | None = None,
    progress: Progress | None = None,
    **options,
) -> AuditRun:
    """Audit a predictions file as ``prevalens audit`` does, and write the outputs.

    Parameters
    ----------
    input : path, optional
        The predictions file (CSV or Parquet); or ``input`` in the configuration file.
    config : path, optional
        A TOML configuration file (default: the ``[tool.prevalens]`` table of ``pyproject.toml``
        in ``cwd``, when there is one). ``options`` override its values; ``gates`` are added to
        its gates.
    example : bool
        Audit the bundled example data instead of ``input``.
    write : bool
        Write the outputs into ``out_dir`` (else only return them).
    cwd : Path, optional
        Where to look for ``pyproject.toml`` (default: the working directory).
    command : str, optional
        The command line, recorded in ``run.command``.
    progress : callable, optional
        Called with a short description before each slow step.
    **options
        Any option of :mod:`prevalens.options` (input column names, every field of
        :class:`~prevalens.AuditConfig`, ``out_dir``, ``format``, ``templates``).

    Returns
    -------
    AuditRun
        Its ``exit_code`` is 1 when a quality gate failed.

    Examples
    --------
    >>> import prevalens, tempfile, warnings
    >>> out = tempfile.mkdtemp()
    >>> with warnings.catch_warnings():  # the example has a class that is never predicted
    ...     warnings.simplefilter("ignore", prevalens.UndefinedMetricWarning)
    ...     run = prevalens.run_audit(example=True, out_dir=out, format=["json", "md"], seed=1,
    ...                               n_resamples=0, gates=["micro.f1 >= 0.5"],
    ...                               gate_on="estimate")
    >>> run.exit_code, sorted(p.name for p in run.written)
    (0, ['results.json', 'summary.md'])
    """
    step = progress or (lambda text: None)
    resolved, config_file, sources = resolve(
        {"input": input, **options}, config_path=config, cwd=cwd
    )
    if example and resolved["input"] is not None and input is not None:
        raise ConfigError("give either INPUT or --example (exactly one)")
    if not example and resolved["input"] is None:
        raise ConfigError("give either INPUT or --example (exactly one)")
    if example:
        resolved["input"] = None
    out_dir = Path(resolved["out_dir"])
    if write and out_dir.exists() and not out_dir.is_dir():
        raise ConfigError(f"--out-dir {out_dir}: exists and is not a directory")
    audit_cfg = audit_config(resolved, sources)
    templates = resolved["templates"]
    check_templates(templates)

    source = example_path() if example else resolved["input"]
    step(f"loading {'the bundled example' if example else source}")
    pred = load_predictions(
        source,
        labels=list(resolved["labels"]) if resolved["labels"] else None,
        y_true=resolved["y_true"],
        y_pred=resolved["y_pred"],
        score_prefix=resolved["score_prefix"],
        cluster=resolved["cluster"],
    )
    if example:
        # record the bundled file by name, not by this machine's install path
        pred = replace(
            pred,
            inputs=tuple(
                replace(i, path="example_digits.csv (bundled with prevalens)") for i in pred.inputs
            ),
        )
    b = audit_cfg.n_resamples
    step(f"auditing ({b} bootstrap replicates)" if b else "auditing (no intervals)")
    result = audit_predictions(pred, audit_cfg, command=command)
    recorded = json_ready(resolved)
    recorded["config_file"] = config_file
    result = replace(result, run=replace(result.run, config=recorded))
    outputs = render(result, resolved["format"], templates=templates, progress=step)
    written: tuple = ()
    if write:
        step(f"writing {len(outputs)} files")
        written = tuple(write_outputs(out_dir, outputs))
    return AuditRun(result, outputs, written, config_file)
