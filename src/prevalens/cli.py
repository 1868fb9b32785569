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
from .formatting import fmt_estimate, fmt_gate_value

__all__ = ["main", "write_atomic", "write_outputs"]

EXIT_OK = 0
EXIT_GATE_FAILED = 1
EXIT_USAGE = 2
EXIT_INTERNAL = 3



class UsageError(PrevalensError):
    """A command-line option has an invalid value."""


def write_atomic(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` so that readers see the old file or the new one, never a part:
    a temporary file in the same directory, flushed to disk, then renamed over the target."""
    path = Path(path)
    tmp = _stage(path, data)
    try:
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


class _Parser(argparse.ArgumentParser):
    """argparse with one-line errors: ``prevalens: error: MESSAGE (see prevalens audit --help)``,
    exit 2, like every other usage error."""

    def error(self, message):  # noqa: D401 - argparse's hook
        sys.stderr.write(f"prevalens: error: {' '.join(message.split())} "
                         f"(see {self.prog} --help)\n")
        raise SystemExit(EXIT_USAGE)


_AUDIT_EPILOG = """\
examples:
  prevalens audit predictions.csv --out-dir audit/ --seed 1
  prevalens audit preds.parquet --labels cat,dog,bird --n-resamples 0 --format json,md
  prevalens audit preds.csv --gate "macro.f1 >= 0.70" --gate "stratum.rare.recall >= 0.5"
  prevalens audit --config audit.toml --baseline last-month/results.json
  prevalens audit --example --out-dir reports/example

configuration file (--config FILE, or [tool.prevalens] in ./pyproject.toml):
  input = "predictions.csv"          # paths are relative to the file
  out_dir = "audit"
  format = ["json", "html", "pdf", "md"]
  seed = 20261125
  model_name = "triage model v3"
  gates = ["macro.f1 >= 0.70", "stratum.rare.recall >= 0.50"]
  Every option below is a key (n_resamples or n-resamples); flags override the file.

quality gates (--gate, repeatable): NAME OP NUMBER, OP one of >=, >, <=, <, NAME one of
  micro.M, macro.M, weighted.M, overall.M (or just M), stratum.NAME.M, gap.M, class.LABEL.M.
  Checked on the interval's conservative end (lower bound for >=) unless --gate-on estimate.

exit codes: 0 success (all gates pass), 1 a quality gate failed (outputs still written),
  2 bad usage or input (nothing written), 3 internal error."""


def _parser() -> argparse.ArgumentParser:
    from .config import OPTIONS

    p = _Parser(
        prog="prevalens",
        allow_abbrev=False,
        description="Audit a multi-class classifier: micro, macro and weighted metrics with "
        "confidence intervals, where rare classes diverge from common ones.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="examples:\n"
        "  prevalens example digits.csv\n"
        "  prevalens audit digits.csv --out-dir audit/ --seed 1\n"
        "  prevalens render audit/results.json --out-dir audit/ --format pdf,md\n"
        "  prevalens COMMAND --help\n\n"
        "Exit codes: 0 success, 1 a quality gate failed, 2 bad usage or input, 3 internal error.",
    )
    p.add_argument("--version", action="version", version=f"prevalens {__version__}")
    sub = p.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sub_kwargs = {"allow_abbrev": False}

    a = sub.add_parser(
        "audit",
        **sub_kwargs,
        help="audit predictions from a CSV or Parquet file",
        description="Audit predictions in INPUT (CSV or Parquet: columns y_true, y_pred and/or "
        "score_<label>) and write results.json, the report and exports into --out-dir.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=_AUDIT_EPILOG,
    )
    a.add_argument("input", nargs="?", default=None,
                   help="predictions file (.csv or .parquet); or `input` in the config file")
    a.add_argument("--example", action="store_true", help="audit the bundled example data")
    a.add_argument("--config", metavar="FILE",
                   help="TOML file of options (default: [tool.prevalens] of ./pyproject.toml)")
    metavars = {"path": "PATH", "int": "N", "float": "X", "str": "TEXT", "choice": None,
                "list-str": "A,B", "list-float": "X,Y", "labels": "A,B,C", "formats": "F,G"}
    for opt in OPTIONS:
        if opt.key == "input":
            continue
        flag = "--" + opt.key.replace("_", "-")
        default = opt.default
        shown = (",".join(map(str, default)) if isinstance(default, tuple) and default
                 else default)
        help_ = opt.help + (f" (default: {shown})" if shown not in (None, ()) else "")
        kwargs = {"default": None, "help": help_.replace("%", "%%")}
        if opt.key == "gates":
            flag, kwargs["action"], kwargs["dest"] = "--gate", "append", "gates"
            kwargs["metavar"] = "'NAME OP X'"
        elif opt.key == "signoff":
            kwargs["action"], kwargs["metavar"] = "append", "'ROLE: NAME'"
        elif opt.kind == "choice":
            kwargs["choices"] = opt.choices
        else:
            kwargs["metavar"] = metavars[opt.kind]
            if opt.kind == "int":
                kwargs["type"] = int
            elif opt.kind == "float":
                kwargs["type"] = float
        a.add_argument(flag, **kwargs)
    a.add_argument("--quiet", action="store_true",
                   help="print nothing on success (errors and failed gates still go to stderr)")
    a.add_argument("--debug", action="store_true", help="show tracebacks")

    r = sub.add_parser(
        "render",
        **sub_kwargs,
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
    r.add_argument("--format", default="html,pdf",
                   help="among html, pdf, csv, md, tex (default: html,pdf)")
    r.add_argument("--templates", metavar="DIR", help="your own copy of the report templates")
    r.add_argument("--title", help="report title")
    r.add_argument("--model-name", help="name of the audited model, on the cover")
    r.add_argument("--dataset-name", help="name of the evaluation data, on the cover")
    r.add_argument("--signoff", action="append", metavar="'ROLE: NAME'",
                   help="sign-off lines (default: those of the audit's configuration)")
    r.add_argument("--quiet", action="store_true", help="print nothing on success")
    r.add_argument("--debug", action="store_true", help="show tracebacks")

    s = sub.add_parser(
        "schema",
        **sub_kwargs,
        help="print the JSON Schema of results.json",
        epilog="example:\n  prevalens schema > audit-1.schema.json",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    s.add_argument("--debug", action="store_true", help=argparse.SUPPRESS)

    e = sub.add_parser(
        "example",
        **sub_kwargs,
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
    ``--quiet``): a scheduled job's log stays clean."""

    def __init__(self, enabled: bool):
        self.enabled = enabled
        self._t = None

    def step(self, text: str) -> None:
        self.done()
        if self.enabled:
            import time

            sys.stderr.write(f"prevalens: {text} ...")
            sys.stderr.flush()
            self._t = time.perf_counter()

    def done(self) -> None:
        if self.enabled and self._t is not None:
            import time

            sys.stderr.write(f" {time.perf_counter() - self._t:.1f} s\n")
            sys.stderr.flush()
        self._t = None


def _progress(args) -> Progress:
    force = os.environ.get("PREVALENS_PROGRESS")  # "1" forces it on (tests, CI logs), "0" off
    enabled = sys.stderr.isatty() if force is None else force == "1"
    return Progress(enabled and not getattr(args, "quiet", False))


def _split(text: str, flag: str) -> list[str]:
    items = [t.strip() for t in text.split(",")]
    if any(t == "" for t in items):
        raise UsageError(f"{flag} {text!r} has an empty item; give comma-separated values like a,b,c")
    return items


def _cli_options(args) -> dict:
    """The options given on the command line, typed (None = not given)."""
    from .config import OPTIONS

    out = {}
    for opt in OPTIONS:
        value = getattr(args, opt.key, None)
        if value is None:
            continue
        flag = "--" + opt.key.replace("_", "-")
        if opt.kind == "labels":
            value = _parse_labels(value)
        elif opt.kind == "list-float":
            value = _parse_cuts(value, flag)
        elif opt.kind == "list-str" and opt.key not in ("gates", "signoff"):
            value = _split(value, flag)
        elif opt.kind == "formats":
            value = _split(value, flag)
        out[opt.key] = value
    return out


def _formats(values, allowed, command) -> list[str]:
    bad = [f for f in values if f not in allowed]
    if bad:
        raise UsageError(f"--format {bad[0]}: {command} writes {', '.join(allowed)}")
    return list(values)


def _cmd_audit(args) -> int:
    from dataclasses import replace

    from .audit import audit_predictions
    from .config import audit_config, json_ready, resolve
    from .data import example_path
    from .gates import evaluate_gates, parse_gates
    from .io import load_predictions

    resolved, config_file, sources = resolve(_cli_options(args), config_path=args.config)
    if args.example and resolved["input"] is not None and args.input is not None:
        raise UsageError("give either INPUT or --example (exactly one)")
    if not args.example and resolved["input"] is None:
        raise UsageError("give either INPUT or --example (exactly one)")
    if args.example:
        resolved["input"] = None
    out_dir = Path(resolved["out_dir"])
    if out_dir.exists() and not out_dir.is_dir():
        raise UsageError(f"--out-dir {out_dir}: exists and is not a directory")
    gates = parse_gates(resolved["gates"])
    config = audit_config(resolved, sources)
    _check_templates(resolved["templates"])
    baseline = _load_results(Path(resolved["baseline"]), "--baseline") \
        if resolved["baseline"] else None
    progress = _progress(args)

    source = example_path() if args.example else resolved["input"]
    progress.step(f"loading {'the bundled example' if args.example else source}")
    pred = load_predictions(
        source, labels=list(resolved["labels"]) if resolved["labels"] else None,
        y_true=resolved["y_true"], y_pred=resolved["y_pred"],
        score_prefix=resolved["score_prefix"], cluster=resolved["cluster"],
    )
    if args.example:
        # record the bundled file by name, not by this machine's install path
        pred = replace(pred, inputs=tuple(
            replace(i, path="example_digits.csv (bundled with prevalens)") for i in pred.inputs))
    command = "prevalens " + " ".join(shlex.quote(a) for a in args.argv)
    b = config.n_resamples
    progress.step(f"auditing ({b} bootstrap replicates)" if b else "auditing (no intervals)")
    result = audit_predictions(pred, config, command=command)
    recorded = {**json_ready(resolved), **{k: v for k, v in config.to_dict().items()
                                           if k not in resolved}}
    recorded["config_file"] = config_file
    result = replace(result, run=replace(result.run, config=recorded))
    d = result.to_dict()
    gate_block = evaluate_gates(d, gates, resolved["gate_on"]) if gates else None
    base_block = None
    if baseline is not None:
        from .baseline import compare_with_baseline

        old, path, sha = baseline
        base_block = compare_with_baseline(d, old, path=str(path), sha256=sha)
    if gate_block is not None or base_block is not None:
        result = replace(result, gates=gate_block, baseline=base_block)
        d = result.to_dict()
    outputs = _outputs(d, resolved["format"], resolved, progress,
                       json_text=result.to_json())
    progress.step(f"writing {len(outputs)} files")
    written = write_outputs(out_dir, outputs)
    progress.done()
    if not args.quiet:
        _summary(d, written)
    return _gate_exit(gate_block, args.quiet)


def _gate_exit(gate_block, quiet) -> int:
    if gate_block is None or gate_block["passed"] is not False:
        return EXIT_OK
    failed = [g for g in gate_block["items"] if not g["passed"]]
    sys.stderr.write(f"prevalens: {len(failed)} of {len(gate_block['items'])} quality gates "
                     f"failed: {'; '.join(g['spec'] for g in failed)}\n")
    return EXIT_GATE_FAILED


def _check_templates(templates) -> None:
    if templates is not None and not (Path(templates) / "report.html.j2").is_file():
        raise UsageError(f"--templates {templates}: no report.html.j2 in that directory; start "
                         "from a copy of prevalens' templates folder")


def _outputs(d: dict, formats, options: dict, progress: Progress, json_text=None) -> dict:
    """Produce every output in memory (nothing is written if one fails)."""
    outputs = {}
    if "json" in formats:
        outputs["results.json"] = (json_text or _json_text(d)).encode("utf-8")
    report_formats = [f for f in formats if f in ("html", "pdf")]
    if report_formats:
        from .report.render import render_report

        progress.step("rendering the " + " and ".join(f.upper() for f in report_formats))
        kwargs = {k: options[k] for k in ("title", "model_name", "dataset_name")
                  if options.get(k)}
        if options.get("signoff"):
            kwargs["signoff"] = _signoff(options["signoff"])
        templates = Path(options["templates"]) if options.get("templates") else None
        outputs.update(render_report(d, formats=report_formats, templates_dir=templates,
                                     model_kwargs=kwargs))
    exports = [f for f in formats if f in ("csv", "md", "tex")]
    if exports:
        from .exports import export_files

        progress.step("exporting " + ", ".join(exports))
        outputs.update(export_files(d, exports))
    return outputs


def _json_text(d: dict) -> str:
    import json

    return json.dumps(d, indent=2, allow_nan=False, ensure_ascii=False) + "\n"


def _signoff(lines) -> tuple:
    """``"Approved by: J. Doe"`` -> ``(name, role)`` pairs for the sign-off block."""
    people = []
    for line in lines:
        role, sep, name = line.partition(":")
        people.append((name.strip(), role.strip()) if sep else (line.strip(), "Signed by"))
    return tuple(people)


def write_outputs(out_dir: Path, outputs: dict) -> list:
    """Write every output atomically, only after all of them were produced in memory."""
    # All or nothing: every file is first written and synced under a temporary name, and only
    # when all of them are on disk are they renamed over their targets (a rename within one
    # directory does not fail short of the disk vanishing), so a failure leaves every previous
    # output as it was.
    staged = []
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        for name in outputs:
            target = out_dir / name
            if target.is_dir():
                raise IsADirectoryError(21, "Is a directory", str(target))
        for name, data in outputs.items():
            staged.append((_stage(out_dir / name, data), out_dir / name))
        for tmp, target in staged:
            os.replace(tmp, target)
        return [target for _, target in staged]
    except OSError as exc:
        for tmp, _ in staged:
            try:
                os.unlink(tmp)
            except FileNotFoundError:
                pass
        what = f"{exc.filename}: " if getattr(exc, "filename", None) else ""
        raise UsageError(f"--out-dir {out_dir}: cannot write ({what}{exc.strerror or exc})") from None


def _stage(path: Path, data: bytes) -> str:
    """Write ``data`` to a synced temporary file next to ``path``; returns its name."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.chmod(tmp, 0o666 & ~_umask())
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
    except BaseException:
        os.unlink(tmp)
        raise
    return tmp


def _load_results(path: Path, what: str):
    """Read and validate a results.json: ``(dict, path, sha256)``. Errors name ``what``."""
    import hashlib
    import json

    from .results import AuditResult

    from .config import read_user_file

    label = f"{what} {path}" if what else str(path)
    raw = read_user_file(path, label, missing="not found (give the results.json of a prevalens audit)",
                         directory="is a directory (give the results.json inside it)",
                         error=UsageError)

    def no_constants(token):
        raise ValueError(f"{token} is not valid JSON (undefined numbers are written as null)")

    try:
        d = json.loads(raw.decode("utf-8"), parse_constant=no_constants)
    except UnicodeDecodeError:
        raise UsageError(f"{label}: not UTF-8 text (a results.json is UTF-8 JSON)") from None
    except ValueError as exc:
        raise UsageError(f"{label}: not a valid JSON file ({' '.join(str(exc).split())[:200]})") from None
    if not isinstance(d, dict):
        raise UsageError(f"{label}: not a prevalens results file (expected a JSON object)")
    if d.get("schema") != "prevalens.audit/1":
        raise UsageError(f"{label}: has schema {d.get('schema')!r}, expected 'prevalens.audit/1'; "
                         "re-run `prevalens audit` with this version")
    _validate_results(d, label)
    AuditResult.from_dict(d)
    return d, path, hashlib.sha256(raw).hexdigest()


def _cmd_render(args) -> int:
    out_dir = Path(args.out_dir)
    formats = _formats(_split(args.format.lower(), "--format"), ("html", "pdf", "csv", "md", "tex"),
                       "render")
    _check_templates(args.templates)
    d, _, _ = _load_results(Path(args.results), "")
    if out_dir.exists() and not out_dir.is_dir():
        raise UsageError(f"--out-dir {out_dir}: exists and is not a directory")
    cfg = d["run"].get("config") or {}
    options = {"title": args.title or cfg.get("title"),
               "model_name": args.model_name, "dataset_name": args.dataset_name,
               "signoff": args.signoff or cfg.get("signoff") or (),
               "templates": args.templates}
    progress = _progress(args)
    outputs = _outputs(d, formats, options, progress)
    progress.step(f"writing {len(outputs)} files")
    written = write_outputs(out_dir, outputs)
    progress.done()
    if not args.quiet:
        for p_ in written:
            sys.stdout.write(f"wrote {p_}\n")
    return EXIT_OK


def _validate_results(d: dict, label) -> None:
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
        raise UsageError(f"{label}: does not follow the results schema at {where}: "
                         f"{' '.join(e.message.split())[:200]}")


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


def _fmt(e, bounds=(0.0, 1.0)) -> str:
    """As the report prints it: decimals from the interval width, never 0 or 1 (nor -0.000)
    for a value that is not exactly that."""
    return fmt_estimate(e, bounds=bounds)


def _summary(d: dict, written) -> None:
    """A short table on stdout: headline metrics, the gap, the gates, the files written."""
    out = sys.stdout
    data = d["data"]
    out.write(f"prevalens {__version__}: {data['n_samples']} samples, {data['n_classes']} classes, "
              f"seed {d['run']['seed']}\n")
    metrics = [m for m in ("recall", "precision", "f1", "roc_auc") if m in d["averages"]["micro"]]
    width = 26
    out.write(f"  {'metric':<10}" + "".join(f"{a:<{width}}" for a in ("micro", "macro", "weighted"))
              + "macro - micro\n")
    for m in metrics:
        gap = d.get("gap", {}).get(m, {}).get("macro_minus_micro")
        out.write(f"  {m:<10}" + "".join(f"{_fmt(d['averages'][a].get(m)):<{width}}"
                                         for a in ("micro", "macro", "weighted"))
                  + (_fmt(gap, bounds=(0.0,)) if gap else "") + "\n")
    for k in ("accuracy", "mcc"):
        if k in d["overall"]:
            bounds = (-1.0, 0.0, 1.0) if k == "mcc" else (0.0, 1.0)
            out.write(f"  {k:<10}{_fmt(d['overall'][k], bounds)}\n")
    shown = [f for f in d.get("findings", []) if f["severity"] in ("high", "medium")][:3]
    if not shown:
        shown = list(d.get("findings", []))[:1]
    for f in shown:
        out.write(f"finding ({f['severity']}): {f['text']}\n")
    gates = d.get("gates")
    if gates and gates["items"]:
        n = len(gates["items"])
        verdict = "PASS" if gates["passed"] else f"FAIL ({gates['n_failed']} of {n} failed)"
        out.write(f"quality gates: {verdict}\n")
        for g in gates["items"]:
            value = fmt_gate_value(g)
            out.write(f"  {'PASS' if g['passed'] else 'FAIL'}  {g['spec']:<32} "
                      f"{g['compared'] or 'value'} = {value}\n")
    base = d.get("baseline")
    if base:
        moved = [i for i in base["items"] if i["overlap"] is False]
        out.write(f"since the baseline ({base['created_utc']}): {len(moved)} of "
                  f"{len(base['items'])} metrics have intervals that no longer overlap\n")
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
            _check_environment()
            code = handler(args)
        except PrevalensError as exc:
            if debug:
                raise
            # the error is the one line a failed run prints: warnings about the data it did
            # not finish auditing would only bury it
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


def _check_environment() -> None:
    """Settings read from the environment, checked before anything reads them (numpy's f2py
    reads SOURCE_DATE_EPOCH while scipy loads, and fails with a bare ValueError)."""
    epoch = os.environ.get("SOURCE_DATE_EPOCH")
    if epoch is not None and not epoch.strip().isdigit():
        raise UsageError(f"SOURCE_DATE_EPOCH must be a whole number of seconds since 1970 (e.g. "
                         f"from `git log -1 --format=%ct`); got {epoch!r}")


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
