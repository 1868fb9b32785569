"""The command line: parse, call the library, write. Errors become one line and an exit code.

Exit codes: 0 success; 2 bad usage or bad input (a one-line message on stderr, no traceback
unless ``--debug``); 3 an internal error (a bug in prevalens: please report it).
"""

from __future__ import annotations

import argparse
import os
import shlex
import sys
import tempfile
import warnings
from pathlib import Path

from ._version import __version__
from .exceptions import PrevalensError

__all__ = ["main", "write_atomic", "write_outputs"]

EXIT_OK = 0
EXIT_GATE_FAILED = 1
EXIT_USAGE = 2
EXIT_INTERNAL = 3

FORMATS = ("json", "html", "pdf")
PLANNED_FORMATS = ("csv", "md", "tex")


class UsageError(PrevalensError):
    """A command-line option has an invalid value."""


def write_atomic(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` so that readers see the old file or the new one, never a part:
    a temporary file in the same directory, flushed to disk, then renamed over the target."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        # mkstemp creates the file 0600; give it the mode a plain open() would (0666 & ~umask).
        os.chmod(tmp, 0o666 & ~_umask())
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="prevalens",
        description="Audit a multi-class classifier: micro, macro and weighted metrics with "
        "confidence intervals, where rare classes diverge from common ones.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="examples:\n"
        "  prevalens audit predictions.csv --out-dir audit/\n"
        "  prevalens audit --example --out-dir reports/example\n"
        "  prevalens COMMAND --help\n\n"
        "Exit codes: 0 success, 2 bad usage or input, 3 internal error.",
    )
    p.add_argument("--version", action="version", version=f"prevalens {__version__}")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")

    a = sub.add_parser(
        "audit",
        help="audit predictions from a CSV or Parquet file",
        description="Audit predictions in INPUT (CSV or Parquet: columns y_true, y_pred and/or "
        "score_<label>) and write DIR/results.json.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="examples:\n"
        "  prevalens audit predictions.csv --out-dir audit/ --seed 1\n"
        "  prevalens audit preds.parquet --labels cat,dog,bird --n-resamples 0\n"
        "  prevalens audit --example --out-dir reports/example",
    )
    a.add_argument("input", nargs="?", help="predictions file (.csv or .parquet)")
    a.add_argument("--example", action="store_true", help="audit the bundled example data")
    a.add_argument("--out-dir", default="reports", help="output directory (default: reports)")
    a.add_argument("--format", default="json,html,pdf",
                   help="comma-separated output formats among json, html, pdf "
                   "(default: all three)")
    a.add_argument("--templates", metavar="DIR",
                   help="render with your own copy of the report templates (sandboxed)")
    a.add_argument("--title", help="report title (default: 'Classifier audit: MODEL')")
    a.add_argument("--model-name", help="name of the audited model, on the cover")
    a.add_argument("--dataset-name", help="name of the evaluation data, on the cover")
    a.add_argument("--labels", help="comma-separated class labels, in order (default: sorted)")
    a.add_argument("--y-true", default="y_true", help="true-label column (default: y_true)")
    a.add_argument("--y-pred", default="y_pred", help="predicted-label column (default: y_pred)")
    a.add_argument("--score-prefix", default="score_",
                   help="prefix of score columns, one per class (default: score_)")
    a.add_argument("--cluster", help="column of resampling units, e.g. patient id")
    a.add_argument("--n-resamples", type=int, default=2000,
                   help="bootstrap replicates; 0 for point estimates only (default: 2000)")
    a.add_argument("--confidence-level", type=float, default=0.95, help="default: 0.95")
    a.add_argument("--seed", type=int, help="seed of the resampling (default: drawn and recorded)")
    a.add_argument("--resampling", default="stratified", choices=("stratified", "simple"))
    a.add_argument("--interval", default="bca", choices=("bca", "percentile", "basic"))
    a.add_argument("--proportion-interval", default="wilson",
                   choices=("wilson", "clopper-pearson", "bootstrap"))
    a.add_argument("--multiplicity", default="bonferroni", choices=("bonferroni", "sidak", "none"))
    a.add_argument("--min-support", type=int, default=10,
                   help="classes with fewer true samples are flagged insufficient (default: 10)")
    a.add_argument("--strata", default="prevalence", choices=("prevalence", "log-quantiles", "support"),
                   help="how classes are grouped (default: prevalence cut points 1%%, 10%%)")
    a.add_argument("--strata-cuts",
                   help="comma-separated cut points: prevalence fractions (e.g. 0.01,0.1) or, with "
                   "--strata support, support counts (e.g. 10,100)")
    a.add_argument("--quiet", action="store_true", help="print nothing on success")
    a.add_argument("--debug", action="store_true", help="show tracebacks")

    r = sub.add_parser(
        "render",
        help="re-render the report from a results.json without recomputing",
        description="Render report.html and report.pdf from RESULTS (a results.json written by "
        "`prevalens audit`). Nothing is recomputed: every number comes from the file.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="examples:\n"
        "  prevalens render audit/results.json --out-dir audit/\n"
        "  prevalens render results.json --format html --templates my_templates/",
    )
    r.add_argument("results", help="a results.json written by prevalens audit")
    r.add_argument("--out-dir", default="reports", help="output directory (default: reports)")
    r.add_argument("--format", default="html,pdf", help="html, pdf or both (default: html,pdf)")
    r.add_argument("--templates", metavar="DIR", help="your own copy of the report templates")
    r.add_argument("--title", help="report title")
    r.add_argument("--model-name", help="name of the audited model, on the cover")
    r.add_argument("--dataset-name", help="name of the evaluation data, on the cover")
    r.add_argument("--quiet", action="store_true", help="print nothing on success")
    r.add_argument("--debug", action="store_true", help="show tracebacks")

    s = sub.add_parser(
        "schema",
        help="print the JSON Schema of results.json",
        epilog="example:\n  prevalens schema > audit-1.schema.json",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    s.add_argument("--debug", action="store_true", help=argparse.SUPPRESS)

    e = sub.add_parser(
        "example",
        help="write the bundled example predictions to a CSV file",
        epilog="example:\n  prevalens example digits.csv && prevalens audit digits.csv",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    e.add_argument("path", help="where to write the CSV")
    e.add_argument("--debug", action="store_true", help=argparse.SUPPRESS)
    return p


def _formats(text: str) -> list[str]:
    out = [f.strip().lower() for f in text.split(",") if f.strip()]
    if not out:
        raise UsageError("--format is empty; give one or more of: " + ", ".join(FORMATS))
    for f in out:
        if f in PLANNED_FORMATS:
            raise UsageError(
                f"--format {f}: this version of prevalens writes {', '.join(FORMATS)}; "
                "choose from those"
            )
        if f not in FORMATS:
            raise UsageError(f"--format {f}: unknown format; choose from {', '.join(FORMATS)}")
    return out


def _cmd_audit(args) -> int:
    from .audit import AuditConfig, audit_predictions
    from .data import example_path
    from .io import load_predictions

    if args.example == bool(args.input):
        raise UsageError("give either INPUT or --example (exactly one)")
    _formats(args.format)
    out_dir = Path(args.out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise UsageError(f"--out-dir {out_dir}: exists and is not a directory")
    config = AuditConfig(
        n_resamples=args.n_resamples,
        confidence_level=args.confidence_level,
        seed=args.seed,
        resampling=args.resampling,
        interval=args.interval,
        proportion_interval=args.proportion_interval,
        multiplicity=args.multiplicity,
        min_support=args.min_support,
        strata=args.strata,
        strata_cuts=_parse_cuts(args.strata_cuts) if args.strata_cuts else None,
    )
    source = example_path() if args.example else args.input
    labels = _parse_labels(args.labels) if args.labels else None
    pred = load_predictions(
        source, labels=labels, y_true=args.y_true, y_pred=args.y_pred,
        score_prefix=args.score_prefix, cluster=args.cluster,
    )
    if args.example:
        # record the bundled file by name, not by this machine's install path
        from dataclasses import replace

        pred = replace(pred, inputs=tuple(
            replace(i, path="example_digits.csv (bundled with prevalens)") for i in pred.inputs))
    command = "prevalens " + " ".join(shlex.quote(a) for a in args.argv)
    result = audit_predictions(pred, config, command=command)
    formats = _formats(args.format)
    outputs = {}
    if "json" in formats:
        outputs["results.json"] = result.to_json().encode("utf-8")
    report_formats = [f for f in formats if f in ("html", "pdf")]
    if report_formats:
        outputs.update(_render(result.to_dict(), report_formats, args))
    written = write_outputs(out_dir, outputs)
    if not args.quiet:
        _summary(result, written)
    return EXIT_OK


def _render(d: dict, formats, args) -> dict:
    """Render the report in memory (nothing is written if this fails)."""
    from .report.render import render_report

    templates = Path(args.templates) if getattr(args, "templates", None) else None
    if templates is not None and not (templates / "report.html.j2").is_file():
        raise UsageError(f"--templates {templates}: no report.html.j2 in that directory; start "
                         "from a copy of prevalens' templates folder")
    kwargs = {k: v for k, v in (("title", args.title), ("model_name", args.model_name),
                                ("dataset_name", args.dataset_name)) if v}
    return render_report(d, formats=formats, templates_dir=templates, model_kwargs=kwargs)


def write_outputs(out_dir: Path, outputs: dict) -> list:
    """Write every output atomically, only after all of them were produced in memory."""
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        written = []
        for name, data in outputs.items():
            target = out_dir / name
            write_atomic(target, data)
            written.append(target)
        return written
    except OSError as exc:
        raise UsageError(f"--out-dir {out_dir}: cannot write ({exc.strerror or exc})") from None


def _cmd_render(args) -> int:
    import json

    from .results import AuditResult

    formats = _formats(args.format)
    bad = [f for f in formats if f not in ("html", "pdf")]
    if bad:
        raise UsageError(f"--format {bad[0]}: render writes html and pdf")
    path = Path(args.results)
    if not path.is_file():
        raise UsageError(f"{path}: not found (give the results.json of a prevalens audit)")
    try:
        d = json.loads(path.read_text("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise UsageError(f"{path}: not a JSON file ({' '.join(str(exc).split())})") from None
    if not isinstance(d, dict):
        raise UsageError(f"{path}: not a prevalens results file (expected a JSON object)")
    AuditResult.from_dict(d)  # refuses another schema with a clear message
    _validate_results(d, path)
    out_dir = Path(args.out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise UsageError(f"--out-dir {out_dir}: exists and is not a directory")
    written = write_outputs(out_dir, _render(d, formats, args))
    if not args.quiet:
        for p_ in written:
            sys.stdout.write(f"wrote {p_}\n")
    return EXIT_OK


def _validate_results(d: dict, path: Path) -> None:
    """Check results against the JSON Schema when jsonschema is installed (a dev extra)."""
    try:
        import jsonschema
    except ImportError:  # pragma: no cover - the schema check is an extra safety net
        return
    from .results import load_schema

    errors = sorted(jsonschema.Draft202012Validator(load_schema()).iter_errors(d),
                    key=lambda e: list(e.path))
    if errors:
        e = errors[0]
        where = "/".join(str(x) for x in e.path) or "(top level)"
        raise UsageError(f"{path}: does not follow the results schema at {where}: {e.message[:200]}")


def _parse_cuts(text: str):
    try:
        return tuple(float(t) for t in text.split(","))
    except ValueError:
        raise UsageError(f"--strata-cuts {text!r}: give comma-separated numbers, e.g. 0.01,0.1") from None


def _parse_labels(text: str):
    items = [t.strip() for t in text.split(",")]
    if any(t == "" for t in items):
        raise UsageError("--labels has an empty label; give comma-separated labels like a,b,c")
    if all(t.lstrip("+-").isdigit() for t in items):
        return [int(t) for t in items]
    return items


def _fmt(e) -> str:
    if e.estimate != e.estimate:
        return "undefined"
    if e.ci_low == e.ci_low and e.ci_high == e.ci_high:
        return f"{e.estimate:.3f} [{e.ci_low:.3f}, {e.ci_high:.3f}]"
    return f"{e.estimate:.3f}"


def _summary(result, written) -> None:
    out = sys.stdout
    d = result.data
    out.write(f"prevalens {__version__}: {d.n_samples} samples, {len(d.classes)} classes\n")
    for metric in ("recall", "f1"):
        row = "  ".join(f"{avg} {_fmt(result.averages[avg][metric])}" for avg in ("micro", "macro", "weighted"))
        out.write(f"  {metric:<8} {row}\n")
    out.write(f"  accuracy {_fmt(result.overall['accuracy'])}\n")
    shown = [f for f in result.findings if f["severity"] in ("high", "medium")][:3]
    if not shown:
        shown = list(result.findings[:1])
    for f in shown:
        out.write(f"finding ({f['severity']}): {f['text']}\n")
    for target in written:
        out.write(f"wrote {target}\n")


def _cmd_schema(args) -> int:
    import json

    from .results import load_schema

    sys.stdout.write(json.dumps(load_schema(), indent=2) + "\n")
    return EXIT_OK


def _cmd_example(args) -> int:
    from .data import example_path

    target = Path(args.path)
    if target.is_dir():
        raise UsageError(f"{target}: is a directory; give a file name such as digits.csv")
    try:
        write_atomic(target, example_path().read_bytes())
    except OSError as exc:
        raise UsageError(f"{target}: cannot write ({exc.strerror or exc})") from None
    sys.stdout.write(f"wrote {target}\naudit it with:\n  prevalens audit {shlex.quote(str(target))} --out-dir audit\n")
    return EXIT_OK


def main(argv=None) -> int:
    parser = _parser()
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parser.parse_args(argv)
    args.argv = argv
    if args.command is None:
        parser.print_help(sys.stderr)
        return EXIT_USAGE
    handler = {"audit": _cmd_audit, "render": _cmd_render, "schema": _cmd_schema,
               "example": _cmd_example}[args.command]
    debug = getattr(args, "debug", False)
    quiet = getattr(args, "quiet", False)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            code = handler(args)
        except PrevalensError as exc:
            if debug:
                raise
            _flush_warnings(caught, quiet)
            sys.stderr.write(f"prevalens: error: {exc}\n")
            return EXIT_USAGE
        except KeyboardInterrupt:
            sys.stderr.write("prevalens: interrupted\n")
            return 130
        except Exception as exc:  # a bug: say so in one line, traceback only with --debug
            if debug:
                raise
            sys.stderr.write(
                f"prevalens: internal error: {type(exc).__name__}: {exc} "
                "(run with --debug for the traceback and please report it)\n"
            )
            return EXIT_INTERNAL
    _flush_warnings(caught, quiet)
    return code


def _flush_warnings(caught, quiet: bool) -> None:
    from .exceptions import PrevalensWarning

    seen = set()
    for w in caught:
        if not issubclass(w.category, PrevalensWarning) or quiet:
            continue
        msg = " ".join(str(w.message).split())
        if msg not in seen:
            seen.add(msg)
            sys.stderr.write(f"prevalens: warning: {msg}\n")
