"""The command line: parse, call the library, print. Errors become one line and an exit code.

``prevalens audit`` is :func:`prevalens.run_audit`; ``prevalens render`` is
:func:`prevalens.write` of a results file read by :func:`prevalens.io.read_results`. Every flag
of ``audit`` is generated from the one declaration of the options (:mod:`prevalens.options`).

Exit codes: 0 success; 1 a quality gate failed; 2 bad usage or bad input (a one-line message on
stderr, no traceback unless ``--debug``); 3 an internal error (a bug in prevalens: please report
it).
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import sys
import time
import warnings
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from . import cli_compare
from ._version import __version__
from .comparison import load_comparison_schema
from .data import example_path
from .exceptions import PrevalensError, PrevalensWarning
from .formatting import fmt_estimate, fmt_gate_value
from .io import read_results
from .job import run_audit
from .options import OPTIONS
from .outputs import EXPORT_FORMATS, REPORT_FORMATS, check_templates, write, write_atomic
from .results import load_schema

__all__ = ["main"]

EXIT_OK = 0
EXIT_GATE_FAILED = 1
EXIT_USAGE = 2
EXIT_INTERNAL = 3


class UsageError(PrevalensError):
    """A command-line option has an invalid value."""


class _Parser(argparse.ArgumentParser):
    """argparse with one-line errors: ``prevalens: error: MESSAGE (see prevalens audit --help)``,
    exit 2, like every other usage error."""

    def error(self, message):  # noqa: D401 - argparse's hook
        sys.stderr.write(
            f"prevalens: error: {' '.join(message.split())} (see {self.prog} --help)\n"
        )
        raise SystemExit(EXIT_USAGE)


_AUDIT_EPILOG = """\
examples:
  prevalens audit predictions.csv --out-dir audit/ --seed 1
  prevalens audit preds.parquet --labels cat,dog,bird --n-resamples 0 --format json,md
  prevalens audit preds.csv --gate "macro.f1 >= 0.70" --gate "stratum.rare.recall >= 0.5"
  prevalens audit preds.csv --gate "macro.f1 >= 0.70" --junit gates.xml --github-annotations
  prevalens audit --config audit.toml --baseline last-month/results.json
  prevalens audit --example --out-dir reports/example

configuration file (--config FILE, or [tool.prevalens] in ./pyproject.toml):
  input = "predictions.csv"          # paths are relative to the file
  out_dir = "audit"
  format = ["json", "html", "pdf", "md"]
  seed = 20261125
  model_name = "triage model v3"
  gates = ["macro.f1 >= 0.70", "stratum.rare.recall >= 0.50"]
  Every option below is a key (n_resamples or n-resamples); flags override the file, and
  --gate adds to the file's gates.

quality gates (--gate, repeatable): NAME OP NUMBER, OP one of >=, >, <=, <, NAME one of
  micro.M, macro.M, weighted.M, overall.M (or just M), stratum.NAME.M, gap.M, class.LABEL.M.
  Checked on the interval's conservative end (lower bound for >=) unless --gate-on estimate.
  For CI: --junit FILE writes one JUnit test case per gate; --github-annotations prints one
  ::error (failed) or ::notice (passed) line per gate.

exit codes: 0 success (all gates pass), 1 a quality gate failed (outputs still written),
  2 bad usage or input (nothing written), 3 internal error."""

_METAVARS = {
    "path": "PATH",
    "int": "N",
    "float": "X",
    "str": "TEXT",
    "text": "MARKDOWN",
    "list-str": "A,B",
    "list-float": "X,Y",
    "labels": "A,B,C",
    "formats": "F,G",
    "size": "SIZE",
    "prevalence": "SPEC",
}

_REPEAT_METAVARS = {"gates": "'NAME OP X'", "group": "COLUMN[*COLUMN]"}


def _add_option(parser, opt) -> None:
    """Add the flag of option ``opt`` (of :data:`prevalens.options.OPTIONS`) to ``parser``."""
    default = opt.default
    shown = ",".join(map(str, default)) if isinstance(default, tuple) and default else default
    help_ = opt.help + (f" (default: {shown})" if shown not in (None, ()) else "")
    kwargs: dict[str, Any] = {
        "default": None,
        "help": help_.replace("%", "%%"),
        "dest": opt.key,
    }
    if opt.repeat:
        kwargs["action"] = "append"
        kwargs["metavar"] = _REPEAT_METAVARS.get(opt.key, "'ROLE: NAME'")
    elif opt.kind == "choice":
        kwargs["choices"] = opt.choices
    elif opt.kind == "bool":  # --flag / --no-flag (the latter overrides a config file)
        kwargs["action"] = argparse.BooleanOptionalAction
    else:
        kwargs["metavar"] = _METAVARS[opt.kind]
        if opt.kind == "int":
            kwargs["type"] = int
        elif opt.kind == "float":
            kwargs["type"] = float
    parser.add_argument(opt.cli_flag, **kwargs)


def _parser() -> argparse.ArgumentParser:
    p = _Parser(
        prog="prevalens",
        allow_abbrev=False,
        description="Audit a multi-class classifier: micro, macro and weighted metrics with "
        "confidence intervals, where rare classes diverge from common ones.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="examples:\n"
        "  prevalens example digits.csv\n"
        "  prevalens audit digits.csv --out-dir audit/ --seed 1\n"
        "  prevalens compare old.csv new.csv --id row_id --out-dir compare/\n"
        "  prevalens render audit/results.json --out-dir audit/ --format pdf,md\n"
        "  prevalens COMMAND --help\n\n"
        "Exit codes: 0 success, 1 a quality gate failed, 2 bad usage or input, 3 internal error.",
    )
    p.add_argument("--version", action="version", version=f"prevalens {__version__}")
    sub = p.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    a = sub.add_parser(
        "audit",
        allow_abbrev=False,
        help="audit predictions from a CSV or Parquet file",
        description="Audit predictions in INPUT (CSV or Parquet: columns y_true, y_pred and/or "
        "score_<label>) and write results.json, the report and exports into --out-dir.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=_AUDIT_EPILOG,
    )
    a.add_argument(
        "input",
        nargs="?",
        default=None,
        help="predictions file (.csv or .parquet); or `input` in the config file",
    )
    a.add_argument("--example", action="store_true", help="audit the bundled example data")
    a.add_argument(
        "--config",
        metavar="FILE",
        help="TOML file of options (default: [tool.prevalens] of ./pyproject.toml)",
    )
    for opt in OPTIONS:
        if opt.key != "input":
            _add_option(a, opt)
    a.add_argument(
        "--quiet",
        action="store_true",
        help="print nothing on success but the annotations of --github-annotations (errors "
        "and failed gates still go to stderr)",
    )
    a.add_argument("--debug", action="store_true", help="show tracebacks")

    cli_compare.add_parser(sub, _add_option)

    r = sub.add_parser(
        "render",
        allow_abbrev=False,
        help="re-render the report and exports from a results.json without recomputing",
        description="Render the report (html, pdf) and exports (csv, md, tex) from RESULTS, a "
        "results.json written by `prevalens audit`. Nothing is recomputed: every number comes "
        "from the file.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="examples:\n"
        "  prevalens render audit/results.json --out-dir audit/\n"
        "  prevalens render results.json --format md,tex --out-dir supplement/\n"
        "  prevalens render results.json --format html --templates my_templates/",
    )
    r.add_argument("results", help="a results.json written by prevalens audit")
    r.add_argument("--out-dir", default="reports", help="output directory (default: reports)")
    r.add_argument(
        "--format",
        default="html,pdf",
        help="among html, pdf, csv, md, tex, figures (default: html,pdf)",
    )
    r.add_argument("--templates", metavar="DIR", help="your own copy of the report templates")
    r.add_argument("--title", help="report title")
    r.add_argument("--model-name", help="name of the audited model, on the cover")
    r.add_argument("--dataset-name", help="name of the evaluation data, on the cover")
    r.add_argument(
        "--signoff",
        action="append",
        metavar="'ROLE: NAME'",
        help="sign-off lines (default: those of the audit's configuration)",
    )
    r.add_argument("--quiet", action="store_true", help="print nothing on success")
    r.add_argument("--debug", action="store_true", help="show tracebacks")

    s = sub.add_parser(
        "schema",
        allow_abbrev=False,
        help="print the JSON Schema of results.json (or of comparison.json)",
        epilog="examples:\n  prevalens schema > audit-1.schema.json\n"
        "  prevalens schema --comparison > comparison-1.schema.json",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    s.add_argument(
        "--comparison",
        action="store_true",
        help="the schema of comparison.json (prevalens compare) instead",
    )
    s.add_argument("--debug", action="store_true", help=argparse.SUPPRESS)

    e = sub.add_parser(
        "example",
        allow_abbrev=False,
        help="write the bundled example predictions to a CSV file",
        description="Write the bundled example predictions (a long-tailed split of the digits "
        "data with a logistic regression's probabilities) to PATH, and say how to audit them.",
        epilog="example:\n  prevalens example digits.csv && prevalens audit digits.csv",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    e.add_argument("path", help="where to write the CSV")
    e.add_argument("--debug", action="store_true", help=argparse.SUPPRESS)
    return p


class Progress:
    """Progress lines on stderr for the slow steps, only when stderr is a terminal (and not
    ``--quiet``): a scheduled job's log stays clean. Called with the next step's description."""

    def __init__(self, enabled: bool):
        self.enabled = enabled
        self._t: float | None = None
        self._text = ""
        self._shown = -1.0
        self._last = 0.0
        self._tty = sys.stderr.isatty()

    def __call__(self, text: str) -> None:
        self.done()
        self._text, self._shown = text, -1.0
        if self.enabled:
            sys.stderr.write(f"prevalens: {text} ...")
            sys.stderr.flush()
            self._t = time.perf_counter()

    def fraction(self, done: float) -> None:
        """How much of the open step is done: on a terminal the line shows a percentage,
        rewritten at most every 0.2 s (a log file gets only the step's line and its time)."""
        if not (self.enabled and self._t is not None and self._tty):
            return
        now = time.perf_counter()
        if done < 1.0 and now - self._last < 0.2:
            return
        self._last = now
        if done != self._shown:
            self._shown = done
            sys.stderr.write(f"\rprevalens: {self._text} ... {100 * done:3.0f}%")
            sys.stderr.flush()

    def done(self, failed: bool = False) -> None:
        """End the open step's line (with its time, or "failed"), so that nothing else is
        written onto it."""
        if self.enabled and self._t is not None:
            if self._shown >= 0:  # a percentage was shown: rewrite the line without it
                sys.stderr.write(f"\rprevalens: {self._text} ...\x1b[K")
            sys.stderr.write(" failed\n" if failed else f" {time.perf_counter() - self._t:.1f} s\n")
            sys.stderr.flush()
        self._t = None


def _progress(args) -> Progress:
    force = os.environ.get("PREVALENS_PROGRESS")  # "1" forces it on (tests, CI logs), "0" off
    enabled = sys.stderr.isatty() if force is None else force == "1"
    return Progress(enabled and not getattr(args, "quiet", False))


def _split(text: str, flag: str) -> list[str]:
    items = [t.strip() for t in text.split(",")]
    if any(t == "" for t in items):
        raise UsageError(
            f"{flag} {text!r} has an empty item; give comma-separated values like a,b,c"
        )
    return items


def _parse_cuts(text: str, flag: str = "--strata-cuts"):
    try:
        return tuple(float(t) for t in text.split(","))
    except ValueError:
        raise UsageError(f"{flag} {text!r}: give comma-separated numbers, e.g. 0.01,0.1") from None


def _parse_labels(text: str):
    items = [t.strip() for t in text.split(",")]
    if any(t == "" for t in items):
        raise UsageError("--labels has an empty label; give comma-separated labels like a,b,c")
    if all(t.lstrip("+-").isdigit() for t in items):
        return [int(t) for t in items]
    return items


def _cli_options(args) -> dict:
    """The options given on the command line, typed (None = not given)."""
    out = {}
    for opt in OPTIONS:
        value = getattr(args, opt.key, None)
        if value is None or opt.key == "input":
            continue
        if opt.kind == "labels":
            value = _parse_labels(value)
        elif opt.kind == "list-float":
            value = _parse_cuts(value, opt.cli_flag)
        elif opt.kind in ("list-str", "formats") and not opt.repeat:
            value = _split(value, opt.cli_flag)
        out[opt.key] = value
    return out


def _cmd_audit(args) -> int:
    progress = args.progress
    run = run_audit(
        args.input,
        config=args.config,
        example=args.example,
        command="prevalens " + " ".join(shlex.quote(a) for a in args.argv),
        progress=progress,
        **_cli_options(args),
    )
    progress.done()
    if not args.quiet:
        _summary(run.result.to_dict(), run.written)
    if run.annotations:  # asked for explicitly: printed also with --quiet
        sys.stdout.write(run.annotations)
    gates = run.result.gates
    if run.exit_code == EXIT_GATE_FAILED and gates is not None:
        failed = [g for g in gates["items"] if not g["passed"]]
        sys.stderr.write(
            f"prevalens: {len(failed)} of {len(gates['items'])} quality gates "
            f"failed: {'; '.join(g['spec'] for g in failed)}\n"
        )
    return run.exit_code


def _cmd_render(args) -> int:
    formats = _split(args.format.lower(), "--format")
    allowed = REPORT_FORMATS + EXPORT_FORMATS
    bad = [f for f in formats if f not in allowed]
    if bad:
        raise UsageError(f"--format {bad[0]}: render writes {', '.join(allowed)}")
    check_templates(args.templates)
    result, _, _ = read_results(Path(args.results))
    out_dir = Path(args.out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise UsageError(f"--out-dir {out_dir}: exists and is not a directory")
    cfg = result.run.config or {}
    progress = args.progress
    written = write(
        result.to_dict(),
        out_dir,
        formats,
        templates=args.templates,
        title=args.title or cfg.get("title"),
        model_name=args.model_name,
        dataset_name=args.dataset_name,
        signoff=args.signoff or cfg.get("signoff") or (),
        progress=progress,
    )
    progress.done()
    if not args.quiet:
        for p_ in written:
            sys.stdout.write(f"wrote {p_}\n")
    return EXIT_OK


def _summary(d: dict, written) -> None:
    """A short table on stdout: headline metrics, the gap, the gates, the files written."""
    out = sys.stdout
    data = d["data"]
    out.write(
        f"prevalens {__version__}: {data['n_samples']} samples, {data['n_classes']} classes, "
        f"seed {d['run']['seed']}\n"
    )
    metrics = [m for m in ("recall", "precision", "f1", "roc_auc") if m in d["averages"]["micro"]]
    rows = [["metric", "micro", "macro", "weighted", "macro - micro"]]
    for m in metrics:
        gap = d.get("gap", {}).get(m, {}).get("macro_minus_micro")
        rows.append(
            [m]
            + [fmt_estimate(d["averages"][a].get(m)) for a in ("micro", "macro", "weighted")]
            + [fmt_estimate(gap, bounds=(0.0,)) if gap else ""]
        )
    for k in ("accuracy", "mcc"):
        if k in d["overall"]:
            bounds = (-1.0, 0.0, 1.0) if k == "mcc" else (0.0, 1.0)
            rows.append([k, fmt_estimate(d["overall"][k], bounds=bounds)])
    # columns as wide as their widest cell: six-decimal intervals must not run into each other
    widths = [max(len(r[i]) for r in rows if i < len(r)) for i in range(len(rows[0]))]
    for r in rows:
        out.write("  " + "  ".join(c.ljust(widths[i]) for i, c in enumerate(r)).rstrip() + "\n")
    shown = [f for f in d.get("findings", []) if f["severity"] in ("high", "medium")][:3]
    if not shown:
        shown = list(d.get("findings", []))[:1]
    if d.get("subgroups"):
        # audited within groups: one line on them too (the most severe), whatever comes first
        sub = [
            f
            for f in d.get("findings", [])
            if f["kind"] in ("subgroup_disparity", "no_subgroup_disparity") and f not in shown
        ]
        sub.sort(key=lambda f: {"high": 0, "medium": 1}.get(f["severity"], 2))
        shown += sub[:1]
    for f in shown:
        out.write(f"finding ({f['severity']}): {f['text']}\n")
    gates = d.get("gates")
    if gates and gates["items"]:
        n = len(gates["items"])
        verdict = "PASS" if gates["passed"] else f"FAIL ({gates['n_failed']} of {n} failed)"
        out.write(f"quality gates: {verdict}\n")
        for g in gates["items"]:
            value = fmt_gate_value(g)
            out.write(
                f"  {'PASS' if g['passed'] else 'FAIL'}  {g['spec']:<32} "
                f"{g['compared'] or 'value'} = {value}\n"
            )
    base = d.get("baseline")
    if base:
        items = base["items"]
        worse = sum(1 for i in items if i.get("change") == "worse")
        better = sum(1 for i in items if i.get("change") == "better")
        out.write(
            f"since the baseline ({base['created_utc']}; unpaired): {worse} of {len(items)} "
            f"headline metrics worse, {better} better (marginal 95% intervals of the "
            "differences)\n"
        )
    for target in written:
        out.write(f"wrote {target}\n")


def _cmd_schema(args) -> int:
    schema = load_comparison_schema() if args.comparison else load_schema()
    sys.stdout.write(json.dumps(schema, indent=2) + "\n")
    return EXIT_OK


def _cmd_example(args) -> int:
    target = Path(args.path)
    if target.is_dir():
        raise UsageError(f"{target}: is a directory; give a file name such as digits.csv")
    try:
        write_atomic(target, example_path().read_bytes())
    except OSError as exc:
        raise UsageError(f"{target}: cannot write ({exc.strerror or exc})") from None
    sys.stdout.write(
        f"wrote {target}\naudit it with:\n  prevalens audit {shlex.quote(str(target))} --out-dir audit\n"
    )
    return EXIT_OK


def main(argv=None) -> int:
    """Run the command line with ``argv`` (default ``sys.argv[1:]``); returns the exit code."""
    parser = _parser()
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parser.parse_args(argv)
    args.argv = argv
    args.progress = _progress(args)
    if args.command is None:
        parser.print_help(sys.stderr)
        return EXIT_USAGE
    handler = {
        "audit": _cmd_audit,
        "compare": lambda args: cli_compare.run(args, _cli_options(args)),
        "render": _cmd_render,
        "schema": _cmd_schema,
        "example": _cmd_example,
    }[args.command]
    debug = getattr(args, "debug", False)
    quiet = getattr(args, "quiet", False)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            _check_environment()
            code = handler(args)
        except PrevalensError as exc:
            args.progress.done(failed=True)
            if debug:
                raise
            # the error is the one line a failed run prints: warnings about the data it did
            # not finish auditing would only bury it
            sys.stderr.write(f"prevalens: error: {exc}\n")
            return EXIT_USAGE
        except KeyboardInterrupt:
            args.progress.done(failed=True)
            sys.stderr.write("prevalens: interrupted\n")
            return 130
        except Exception as exc:  # a bug: say so in one line, traceback only with --debug
            args.progress.done(failed=True)
            if debug:
                raise
            sys.stderr.write(
                f"prevalens: internal error: {type(exc).__name__}: {exc} "
                "(run with --debug for the traceback and please report it)\n"
            )
            return EXIT_INTERNAL
    _flush_warnings(caught, quiet)
    return code


def _check_environment() -> None:
    """Settings read from the environment, checked before anything reads them (numpy's f2py
    reads SOURCE_DATE_EPOCH while scipy loads, and fails with a bare ValueError)."""
    epoch = os.environ.get("SOURCE_DATE_EPOCH")
    if epoch is None:
        return
    message = (
        f"SOURCE_DATE_EPOCH must be a whole number of seconds since 1970 (e.g. from "
        f"`git log -1 --format=%ct`); got {epoch!r}"
    )
    if not epoch.strip().isdigit():
        raise UsageError(message)
    try:
        datetime.fromtimestamp(int(epoch), tz=UTC)
    except (ValueError, OverflowError, OSError):
        raise UsageError(message + ", which is beyond the dates a report can carry") from None


def _flush_warnings(caught, quiet: bool) -> None:
    seen = set()
    for w in caught:
        if not issubclass(w.category, PrevalensWarning) or quiet:
            continue
        msg = " ".join(str(w.message).split())
        if msg not in seen:
            seen.add(msg)
            sys.stderr.write(f"prevalens: warning: {msg}\n")
