"""``prevalens compare``: the paired comparison of models on the command line.

Thin: parse, load (:func:`prevalens.io.load_models`), compare
(:func:`prevalens.compare.compare_predictions`), write the outputs atomically, print a summary;
gates of differences exit 1 when they fail, as the audit's gates do.
"""

from __future__ import annotations

import argparse
import shlex
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

from .compare import compare_predictions
from .comparison_exports import (
    calibration_by_model_csv,
    comparison_csv,
    comparison_json,
    comparison_latex,
    comparison_markdown,
    headline_rows,
    target_differences_csv,
    target_rows,
)
from .exceptions import PrevalensError
from .formatting import fmt_estimate, fmt_signed, quantity_text
from .gate_reports import gates_github, gates_junit
from .gates import parse_gates
from .io import load_models
from .options import OPTIONS, AuditConfig, InputOptions
from .outputs import write_outputs

__all__ = ["add_parser", "run"]

#: Formats ``prevalens compare`` writes -> their files.
COMPARE_FILES = {
    "json": ("comparison.json",),
    "md": ("comparison.md",),
    # calibration_by_model.csv: when a model's scores are probabilities;
    # target_differences.csv: with --deployment-prevalence
    "csv": ("differences.csv", "calibration_by_model.csv", "target_differences.csv"),
    "html": ("comparison.html",),
    "pdf": ("comparison.pdf",),
    "tex": ("comparison.tex",),
}
COMPARE_FORMATS = tuple(COMPARE_FILES)
#: The report is in the default: it renders in a few seconds even at 100 classes.
_DEFAULT_FORMATS = ("json", "md", "csv", "html", "pdf")

EPILOG = """\
examples:
  one file, a column set per model:
    prevalens compare preds.csv --model old=pred_old:old_score_ --model new=pred_new:new_score_
  one file per model, rows matched on an id column:
    prevalens compare old.csv new.csv --name old --name new --id row_id --out-dir cmp/
  a release gate: fail when the new model is worse by more than 0.02 in macro F1 (lower bound
  of the paired interval), or significantly worse on any headline metric:
    prevalens compare old.csv new.csv --id row_id --gate "delta.macro.f1 >= -0.02" \\
        --fail-on-regression

Differences are candidate minus reference (the first model, or --reference) on the same rows,
with paired intervals (joint bootstrap of the table of truth and both predictions; Newcombe's
paired interval for accuracy, recall and specificity; DeLong's paired covariance for ROC AUC)
and one Holm family over the comparison's claims.

exit codes: 0 success (all gates pass), 1 a gate failed (outputs still written),
  2 bad usage or input (nothing written), 3 internal error."""

# the options of the audit that a comparison uses, with the audit's flags
_INPUT = ("labels", "y_true", "y_pred", "score_prefix", "cluster")
_SKIP_GROUPS = ("output", "document", "comparison", "resources", "subgroups")
#: Options of the skipped groups that a comparison takes too (--group: to refuse it in words,
#: subgroups are not compared yet).
_ALSO = ("deployment_prevalence", "group", "group_missing", "max_memory")


class CompareUsageError(PrevalensError):
    """A ``prevalens compare`` option has an invalid value."""


def add_parser(sub, add_option) -> argparse.ArgumentParser:
    """Register ``compare`` on the subparsers ``sub``; ``add_option(parser, opt)`` adds one
    option of :data:`prevalens.options.OPTIONS` with the audit's flag."""
    c = sub.add_parser(
        "compare",
        allow_abbrev=False,
        help="compare two or more models scored on the same samples (paired)",
        description="Is the candidate better than the reference, and on which classes? Paired "
        "differences with intervals and p-values for every headline, per-class, stratum and gap "
        "quantity of the audit.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=EPILOG,
    )
    c.add_argument("inputs", nargs="+", metavar="INPUT", help="predictions file(s), CSV or Parquet")
    c.add_argument(
        "--model",
        action="append",
        metavar="NAME=COLUMN[:PREFIX]",
        help="with one file: a model's predicted-label column and score-column prefix "
        "(either may be empty); repeat for each model",
    )
    c.add_argument(
        "--name", action="append", metavar="NAME", help="with one file per model: its name"
    )
    c.add_argument("--id", metavar="COLUMN", help="column that identifies a sample in every file")
    c.add_argument(
        "--reference", metavar="NAME", help="the model compared against (default: first)"
    )
    for opt in OPTIONS:
        if (
            opt.key in _INPUT
            or opt.key in _ALSO
            or (opt.group not in _SKIP_GROUPS and opt.group != "input")
        ):
            add_option(c, opt)
    c.add_argument(
        "--fail-on-regression",
        action="store_true",
        help="exit 1 when a candidate is significantly worse (Holm-adjusted) on a headline metric",
    )
    c.add_argument(
        "--junit",
        metavar="PATH",
        help="write the gates as JUnit XML (one test case per gate and pair), for a CI system",
    )
    c.add_argument(
        "--github-annotations",
        action="store_true",
        help="print the gates as GitHub Actions annotations (::error / ::notice), also with --quiet",
    )
    c.add_argument(
        "--title",
        dest="title",
        default=None,
        metavar="TEXT",
        help="the report's title (default: 'Model comparison: CANDIDATE against REFERENCE')",
    )
    c.add_argument("--out-dir", default="reports/compare", help="output directory")
    c.add_argument(
        "--format",
        default=",".join(_DEFAULT_FORMATS),
        help=f"comma-separated, from {', '.join(COMPARE_FORMATS)} (default: %(default)s)",
    )
    c.add_argument("--quiet", action="store_true", help="print nothing on success")
    c.add_argument("--debug", action="store_true", help="show tracebacks")
    return c


def _models(specs: list[str]) -> dict:
    out: dict[str, tuple] = {}
    for spec in specs:
        name, eq, rest = spec.partition("=")
        if not eq or not name.strip():
            raise CompareUsageError(
                f"--model {spec!r}: expected NAME=COLUMN[:PREFIX], e.g. new=pred_new:new_score_"
            )
        col, _, prefix = rest.partition(":")
        name = name.strip()
        if name in out:
            raise CompareUsageError(f"--model {name!r} is given twice; give each model once")
        if not col and not prefix:
            raise CompareUsageError(
                f"--model {spec!r}: give its predicted-label column, its score prefix, or both"
            )
        out[name] = (col or None, prefix or None)
    return out


def run(args, options: dict) -> int:
    """Run ``prevalens compare`` with parsed ``args`` and the typed audit ``options``."""
    formats = [f.strip().lower() for f in args.format.split(",") if f.strip()]
    bad = [f for f in formats if f not in COMPARE_FORMATS]
    if bad or not formats:
        raise CompareUsageError(
            f"--format {bad[0] if bad else args.format!r}: compare writes "
            f"{', '.join(COMPARE_FORMATS)}"
        )
    if args.model and (args.name or args.id):
        raise CompareUsageError("--model (one file) cannot be combined with --name or --id")
    if args.model and len(args.inputs) != 1:
        raise CompareUsageError(
            f"--model describes column sets of one file; got {len(args.inputs)} files"
        )
    if not args.model and len(args.inputs) < 2:
        raise CompareUsageError(
            "give two or more files (one per model), or one file with --model NAME=COLUMN for "
            "each model"
        )
    fail_on_regression = bool(args.fail_on_regression)
    config = AuditConfig.from_options(options)
    parse_gates(config.gates, comparison=True)  # before any work: only delta gates compare models
    has_gates = bool(config.gates) or fail_on_regression
    for value, flag in ((args.junit, "--junit"), (args.github_annotations, "--github-annotations")):
        if value and not has_gates:
            raise CompareUsageError(
                f"{flag} needs a --gate 'delta.NAME OP X' or --fail-on-regression"
            )
    if args.junit is not None and Path(args.junit).is_dir():
        raise CompareUsageError(
            f"--junit {args.junit}: is a directory; give a file name such as gates.xml"
        )
    inputs = InputOptions(**{k: options[k] for k in _INPUT if k in options})
    progress = args.progress
    progress("reading predictions")
    models = load_models(
        args.inputs,
        names=args.name,
        columns=_models(args.model) if args.model else None,
        id_column=args.id,
        labels=inputs.labels,
        y_true=inputs.y_true,
        y_pred=inputs.y_pred,
        score_prefix=inputs.score_prefix,
        cluster=inputs.cluster,
        groups=config.group,
        group_missing=config.group_missing,
    )
    progress(f"comparing {len(models)} models")
    command = "prevalens " + " ".join(shlex.quote(a) for a in args.argv)
    gates = config.gates
    result = compare_predictions(
        # gates are checked on the comparison once it is built
        models,
        replace(config, gates=()),
        reference=args.reference,
        command=command,
    )
    if gates or fail_on_regression:
        result = result.with_gates(gates, config.gate_on, fail_on_regression=fail_on_regression)
    d = result.to_dict()
    outputs: dict[str, bytes] = {}
    if "json" in formats:
        outputs["comparison.json"] = comparison_json(d)
    if "md" in formats:
        outputs["comparison.md"] = comparison_markdown(d).encode()
    if "csv" in formats:
        outputs["differences.csv"] = comparison_csv(d)
        if d.get("calibration"):
            outputs["calibration_by_model.csv"] = calibration_by_model_csv(d)
        if d.get("prevalence_shift"):
            outputs["target_differences.csv"] = target_differences_csv(d)
    extra = {}
    if args.junit is not None:
        extra["--junit"] = (Path(args.junit), gates_junit(d["gates"], suite="prevalens compare"))
    if "tex" in formats:
        outputs["comparison.tex"] = comparison_latex(d).encode("utf-8")
    report = [f for f in ("html", "pdf") if f in formats]
    if report:
        from .report.render import render_comparison  # the report stack loads only when asked

        progress("rendering the report")
        outputs.update(render_comparison(d, formats=report))
    progress("writing outputs")
    written = write_outputs(Path(args.out_dir), outputs, extra=extra)
    progress.done()
    if not args.quiet:
        _summary(d, written)
    if args.github_annotations:
        sys.stdout.write(gates_github(d["gates"]))
    block = d.get("gates")
    if block and block.get("items") and not block["passed"]:
        failed = [g for g in block["items"] if not g["passed"]]
        sys.stderr.write(
            f"prevalens: {len(failed)} of {len(block['items'])} gates failed: "
            f"{'; '.join(g['spec'] for g in failed)}\n"
        )
        return 1
    return 0


def _summary(d: dict, written) -> None:
    out = sys.stdout
    data = d["data"]
    out.write(
        f"prevalens compare: {data['n_samples']} samples, {data['n_classes']} classes, models "
        f"{', '.join(d['models'])} (reference {d['reference']}), seed {d['run']['seed']}\n"
    )
    for pair in d["pairs"]:
        out.write(f"{pair['candidate']} - {pair['reference']}:\n")
        rows: list[list[Any]] = [["metric", pair["reference"], pair["candidate"], "difference"]]
        for q, row in headline_rows(pair)[:8]:
            rows.append(
                [
                    quantity_text(q),
                    fmt_estimate(row["reference"]),
                    fmt_estimate(row["candidate"]),
                    fmt_signed(row["difference"], bounds=(0.0,)),
                ]
            )
        widths = [max(len(str(r[i])) for r in rows) for i in range(4)]
        for r in rows:
            out.write("  " + "  ".join(str(c).ljust(widths[i]) for i, c in enumerate(r)).rstrip())
            out.write("\n")
        target = _target_line(d, pair)
        if target:
            out.write(target + "\n")
    for f in d["findings"]:
        if f["kind"] == "comparison":
            out.write(f"finding: {f['text']}\n")
    block = d.get("gates")
    if block and block.get("items"):
        verdict = "PASS" if block["passed"] else f"FAIL ({block['n_failed']} failed)"
        out.write(f"gates: {verdict}\n")
        for g in block["items"]:
            out.write(f"  {'PASS' if g['passed'] else 'FAIL'}  {g['spec']}\n")
    for target in written:
        out.write(f"wrote {target}\n")


def _target_line(d: dict, pair: dict) -> str:
    """The pair's differences at the deployment's prevalences in one line: those that are claims
    of the family (accuracy and macro F1 by default), else the first two; "" without a
    target."""
    rows = target_rows(pair)
    if not rows:
        return ""
    shown = [(q, r) for q, r in rows if r.get("adjusted")] or rows[:2]
    source = (d.get("prevalence_shift") or {}).get("source") or "target"
    return f"  at the deployment's prevalences ({source.partition(':')[0]}): " + ", ".join(
        f"{quantity_text(q)} {fmt_signed(r['difference'], bounds=(0.0,))}" for q, r in shown
    )
