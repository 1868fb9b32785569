"""What ``prevalens audit`` does, as one library call: :func:`run_audit`.

Resolve the options (defaults, then a TOML configuration file, then the options given), load the
predictions, audit them, check the quality gates, compare with the baseline, render every output
in memory (the JUnit XML of the gates too, when asked for) and write them all or nothing. The
command line only parses its flags, calls this and prints a summary (and the gates' GitHub
annotations, when asked for).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

from . import progress as _progress
from .analyses.shift import is_scenario
from .audit import audit_predictions
from .config import audit_config, json_ready, resolve
from .data import example_path
from .engines import choose_engine
from .exceptions import ConfigError
from .gate_reports import gates_github, gates_junit
from .gates import parse_gates
from .io import _Roles, load_predictions, read_prevalence_file
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
    annotations : str
        With ``github_annotations``: the gates as GitHub Actions workflow commands, one line per
        gate (:func:`prevalens.gate_reports.gates_github`), for the command line to print;
        else "".
    """

    result: AuditResult
    outputs: dict
    written: tuple
    config_file: str | None
    annotations: str = ""

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
        :class:`~prevalens.AuditConfig`, ``out_dir``, ``format``, ``templates``, ``junit``,
        ``github_annotations``). ``junit`` (a path) writes the gates as JUnit XML with the other
        outputs (not with ``write=False``: :func:`prevalens.gate_reports.gates_junit` gives the
        bytes); it and ``github_annotations`` need at least one gate.

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
    shift_file = None
    spec = audit_cfg.deployment_prevalence
    if isinstance(spec, str) and not spec.strip():
        raise ConfigError(
            "--deployment-prevalence is empty; give 'uniform', 'rare*F' or a CSV or JSON file "
            "of class prevalences"
        )
    if isinstance(spec, str) and not is_scenario(spec):
        # a file of class prevalences: read here, at the edge (the audit takes the mapping)
        mapping, shift_file = read_prevalence_file(spec)
        audit_cfg = replace(audit_cfg, deployment_prevalence=mapping)
    templates = resolved["templates"]
    check_templates(templates)
    _check_gate_outputs(resolved, audit_cfg.gates)

    source = example_path() if example else resolved["input"]
    with _progress.reporting(step):
        pred = _read_input(source, resolved, audit_cfg, step, example=example)
    if example:
        # record the bundled file by name, not by this machine's install path
        pred = replace(
            pred,
            inputs=tuple(
                replace(i, path="example_digits.csv (bundled with prevalens)") for i in pred.inputs
            ),
        )
    b = audit_cfg.n_resamples
    step("auditing: point estimates" if b else "auditing (no intervals)")
    with _progress.reporting(step):  # the audit reports its resampling and analyses
        try:
            result = audit_predictions(pred, audit_cfg, command=command)
        except ConfigError as exc:
            text = str(exc)
            if shift_file is not None and text.startswith("deployment_prevalence "):
                # name the file whose content the message is about
                where = f"--deployment-prevalence {resolved['deployment_prevalence']}"
                raise ConfigError(
                    f"{where}: {text.removeprefix('deployment_prevalence ')}"
                ) from None
            raise
    if shift_file is not None and result.prevalence_shift is not None:
        shift = result.prevalence_shift
        result = replace(
            result, prevalence_shift=replace(shift, source=f"{shift_file}: {shift.source}")
        )
    recorded = json_ready(resolved)
    recorded["config_file"] = config_file
    result = replace(result, run=replace(result.run, config=recorded))
    outputs = render(result, resolved["format"], templates=templates, progress=step)
    extra = {}
    if resolved["junit"] is not None:
        # no timestamp: the file depends on the gates alone, byte-identical on a rerun (the CI
        # system records when it ran)
        xml = gates_junit(result.gates)
        extra["--junit"] = (Path(resolved["junit"]), xml)
    written: tuple = ()
    if write:
        step(f"writing {len(outputs) + len(extra)} files")
        written = tuple(write_outputs(out_dir, outputs, extra=extra))
    annotations = gates_github(result.gates) if resolved["github_annotations"] else ""
    return AuditRun(result, outputs, written, config_file, annotations)


def _read_input(source, resolved: dict, audit_cfg, step, *, example: bool = False):
    """The predictions, read by the engine ``resolved["engine"]`` names: in memory (the rows), or
    counted by DuckDB or Dask (:mod:`prevalens.engines`); ``auto`` counts with DuckDB a file
    that would not fit in memory. Every engine gives the audit the same numbers (DuckDB leaves
    out the one-vs-one AUC, calibration and the curves)."""
    columns = {
        "labels": list(resolved["labels"]) if resolved["labels"] else None,
        "y_true": resolved["y_true"],
        "y_pred": resolved["y_pred"],
        "score_prefix": resolved["score_prefix"],
        "cluster": resolved["cluster"],
    }
    groups = tuple(audit_cfg.group)
    engine, why = resolved["engine"], ""
    if resolved["scheduler"] is not None and engine != "dask":
        raise ConfigError(
            "--scheduler is the address of a Dask scheduler: give it with --engine dask"
        )
    if groups and engine in ("duckdb", "dask"):
        raise ConfigError(
            f"--engine {engine}: subgroups are not counted by the {engine} engine yet; audit in "
            "memory (--engine memory) or leave --group out"
        )
    if engine == "auto":
        engine = "memory"
        if not example:
            roles = _Roles(
                columns["y_true"],
                columns["y_pred"],
                columns["score_prefix"],
                None,
                columns["cluster"],
            )
            engine, why = choose_engine(source, roles, groups=bool(groups))
    what = "the bundled example" if example else source
    if engine == "duckdb":
        from .engines.duckdb import count_file

        step(f"counting {what} with DuckDB, out of core" + (f" ({why})" if why else ""))
        return count_file(source, max_memory=audit_cfg.max_memory, **columns)
    if engine == "dask":
        from .engines.dask import count_dask_file

        where = resolved["scheduler"] or "threads in this process"
        step(f"counting {what} with Dask on {where}")
        return count_dask_file(source, scheduler=resolved["scheduler"], **columns)
    step(f"loading {what}" + (f" ({why})" if why else ""))
    return load_predictions(source, **columns, groups=groups, group_missing=audit_cfg.group_missing)


def _check_gate_outputs(resolved: dict, gates) -> None:
    """The gates of an audit (no ``delta.`` gate: those compare models), and ``junit`` and
    ``github_annotations``, which report gates: refused without one (an empty report would read
    as a pass), and ``junit`` must be a file name; checked before any work."""
    parse_gates(gates, comparison=False)
    for key, flag in (("junit", "--junit"), ("github_annotations", "--github-annotations")):
        if resolved[key] and not gates:
            raise ConfigError(
                f"{flag} needs at least one --gate (or `gates` in the configuration file)"
            )
    junit = resolved["junit"]
    if junit is None:
        return
    path = Path(junit)
    if path.is_dir():
        raise ConfigError(f"--junit {path}: is a directory; give a file name such as gates.xml")
    for parent in path.parents:
        if parent.exists():
            if not parent.is_dir():
                raise ConfigError(
                    f"--junit {path}: {parent} is not a directory; give a path in a directory"
                )
            break
