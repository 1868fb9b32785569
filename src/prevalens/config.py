"""The audit's configuration file: TOML, the same options as the command line.

Where options come from, lowest precedence first:

1. the defaults;
2. a configuration file: ``--config FILE`` (a TOML file whose keys are at the top level or in a
   ``[tool.prevalens]`` table), or else the ``[tool.prevalens]`` table of ``pyproject.toml`` in
   the working directory, when there is one;
3. the command-line flags.

Keys are the long option names, with ``_`` or ``-`` (``n_resamples`` or ``n-resamples``). Paths in
a file (``input``, ``out_dir``, ``baseline``, ``templates``) are relative to the file's directory.
An unknown key, or a value of the wrong type, is an error that names the file, the key and the
closest valid key. :func:`resolve` returns the resolved options as a plain dict, recorded in
``run.config`` of the results.
"""

from __future__ import annotations

import difflib
import math
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .exceptions import ConfigError

__all__ = ["Option", "OPTIONS", "resolve", "load_config_file", "audit_config", "Source"]


@dataclass(frozen=True)
class Option:
    """One option of ``prevalens audit``: its key, type, default and help."""

    key: str
    kind: str  # str | int | float | bool | choice | path | list-str | list-float | labels | formats
    default: Any
    help: str
    choices: tuple = ()
    minimum: float | None = None
    audit_field: bool = False  # a field of AuditConfig


FORMATS = ("json", "html", "pdf", "csv", "md", "tex")

OPTIONS: tuple[Option, ...] = (
    Option("input", "path", None, "predictions file (.csv or .parquet)"),
    Option("out_dir", "path", "reports", "output directory"),
    Option("format", "formats", ("json", "html", "pdf"),
           "output formats among json, html, pdf, csv, md, tex"),
    Option("templates", "path", None, "your own copy of the report templates (sandboxed)"),
    Option("title", "str", None, "report title (default: 'Classifier audit: MODEL')"),
    Option("model_name", "str", None, "name of the audited model, on the cover"),
    Option("dataset_name", "str", None, "name of the evaluation data, on the cover"),
    Option("signoff", "list-str", (),
           "sign-off lines 'Role: Name' (e.g. 'Approved by: J. Doe'), in order"),
    Option("labels", "labels", None, "class labels, in order (default: sorted)"),
    Option("y_true", "str", "y_true", "true-label column"),
    Option("y_pred", "str", "y_pred", "predicted-label column"),
    Option("score_prefix", "str", "score_", "prefix of score columns, one per class"),
    Option("cluster", "str", None, "column of resampling units, e.g. patient id"),
    Option("n_resamples", "int", 2000, "bootstrap replicates; 0 for point estimates only",
           minimum=0, audit_field=True),
    Option("confidence_level", "float", 0.95, "of every interval", audit_field=True),
    Option("seed", "int", None, "seed of the resampling (default: drawn and recorded)",
           minimum=0, audit_field=True),
    Option("resampling", "choice", "stratified", "bootstrap scheme",
           choices=("stratified", "simple"), audit_field=True),
    Option("interval", "choice", "bca", "bootstrap interval method",
           choices=("bca", "percentile", "basic"), audit_field=True),
    Option("proportion_interval", "choice", "wilson", "interval of per-class proportions",
           choices=("wilson", "clopper-pearson", "bootstrap"), audit_field=True),
    Option("multiplicity", "choice", "bonferroni", "adjustment of the simultaneous intervals",
           choices=("bonferroni", "sidak", "none"), audit_field=True),
    Option("min_support", "int", 10, "classes with fewer true samples are flagged insufficient",
           minimum=0, audit_field=True),
    Option("strata", "choice", "prevalence", "how classes are grouped",
           choices=("prevalence", "log-quantiles", "support"), audit_field=True),
    Option("strata_cuts", "list-float", None,
           "cut points: prevalence fractions (e.g. 0.01, 0.1) or support counts", audit_field=True),
    Option("strata_groups", "int", 3, "number of groups for strata = 'log-quantiles'",
           minimum=1, audit_field=True),
    Option("strata_names", "list-str", None, "names of the strata, rarest first",
           audit_field=True),
    Option("divergence_adjustment", "choice", "holm",
           "adjustment of the family of divergence claims", choices=("holm", "bonferroni"),
           audit_field=True),
    Option("findings_metrics", "list-str", ("recall", "f1", "roc_auc"),
           "metrics that findings are made about", audit_field=True),
    Option("gates", "list-str", (), "quality gates such as 'macro.f1 >= 0.70'"),
    Option("gate_on", "choice", "interval",
           "check gates on the conservative interval bound or on the estimate",
           choices=("interval", "estimate")),
    Option("baseline", "path", None, "results.json of a previous audit to compare with"),
)

_BY_KEY = {o.key: o for o in OPTIONS}


@dataclass(frozen=True)
class Source:
    """Where a value came from, for error messages: ``--n-resamples`` or ``audit.toml``."""

    label: str
    base_dir: Path | None = None  # paths in a file are relative to it

    def where(self, key: str) -> str:
        if self.base_dir is None:  # the command line
            return "--" + key.replace("_", "-")
        return f"{self.label}: key '{key}'"


def _closest(key: str) -> str:
    match = difflib.get_close_matches(key, list(_BY_KEY), n=1, cutoff=0.5)
    return f"; did you mean '{match[0]}'?" if match else f"; valid keys: {', '.join(_BY_KEY)}"


def load_config_file(path) -> tuple[dict, Source]:
    """Read a TOML configuration file: its ``[tool.prevalens]`` table when it has one, else its
    top level. Errors name the file."""
    path = Path(path)
    label = str(path)
    raw = read_user_file(path, label, missing="configuration file not found; check the --config path",
                         directory="is a directory; give a TOML file such as audit.toml")
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise ConfigError(f"{label}: not UTF-8 text; save the configuration as UTF-8") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{label}: not valid TOML ({' '.join(str(exc).split())})") from None
    tool = data.get("tool")
    if isinstance(tool, dict) and "prevalens" in tool:
        table, label = tool["prevalens"], f"{label} [tool.prevalens]"
        if not isinstance(table, dict):
            raise ConfigError(f"{label}: must be a table of options")
    elif path.name == "pyproject.toml":
        raise ConfigError(f"{label}: has no [tool.prevalens] table; add one with the audit's options")
    else:
        table = data
    return table, Source(label, path.resolve().parent)


def read_user_file(path: Path, label: str, *, missing: str, directory: str,
                   error=ConfigError) -> bytes:
    """The bytes of a file the user named; a missing file, a directory or an unreadable file
    raise ``error`` with a one-line message starting with ``label``."""
    try:
        return Path(path).read_bytes()
    except FileNotFoundError:
        raise error(f"{label}: {missing}") from None
    except IsADirectoryError:
        raise error(f"{label}: {directory}") from None
    except OSError as exc:
        raise error(f"{label}: cannot be read ({exc.strerror or exc})") from None


def discover_pyproject(cwd: Path | None = None) -> tuple[dict, Source] | None:
    """The ``[tool.prevalens]`` table of ``pyproject.toml`` in ``cwd``, if it has one."""
    path = (cwd or Path.cwd()) / "pyproject.toml"
    if not path.is_file():
        return None
    try:
        data = tomllib.loads(path.read_text("utf-8"))
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        # a project's pyproject.toml that is broken is worth saying, but only if it is ours
        if b"[tool.prevalens]" in path.read_bytes():
            raise ConfigError(f"{path}: not valid TOML ({' '.join(str(exc).split())})") from None
        return None
    tool = data.get("tool")
    if not (isinstance(tool, dict) and "prevalens" in tool):
        return None
    return load_config_file(path)


def _type_name(value) -> str:
    return {bool: "a boolean", int: "a whole number", float: "a number", str: "a string",
            list: "a list", dict: "a table"}.get(type(value), type(value).__name__)


def _check(opt: Option, value, src: Source):
    """Validate one value's type (and simple range) and normalise it."""
    where = src.where(opt.key)
    kind = opt.kind

    def fail(expected):
        shown = repr(value) if len(repr(value)) < 60 else repr(value)[:57] + "..."
        return ConfigError(f"{where}: expected {expected}, got {_type_name(value)} {shown}")

    if kind in ("str", "path", "choice"):
        if not isinstance(value, str):
            raise fail("a string")
        if kind == "choice" and value not in opt.choices:
            match = difflib.get_close_matches(value, opt.choices, n=1, cutoff=0.5)
            hint = f" (did you mean '{match[0]}'?)" if match else ""
            raise ConfigError(f"{where}: {value!r} is not one of {', '.join(opt.choices)}{hint}")
        if kind == "path":
            if not value:
                raise ConfigError(f"{where}: empty path")
            if src.base_dir is not None:
                p = Path(value).expanduser()
                value = str(p if p.is_absolute() else src.base_dir / p)
        return value
    if kind == "int":
        if isinstance(value, bool) or not isinstance(value, int):
            raise fail("a whole number")
        if opt.minimum is not None and value < opt.minimum:
            raise ConfigError(f"{where}: must be >= {opt.minimum:g}, got {value}")
        return value
    if kind == "float":
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise fail("a number")
        return float(value)
    if kind == "bool":
        if not isinstance(value, bool):
            raise fail("true or false")
        return value
    if kind in ("list-str", "list-float", "labels", "formats"):
        if kind == "formats" and isinstance(value, str):
            value = [v.strip() for v in value.split(",") if v.strip()]
        if not isinstance(value, list | tuple):
            raise fail("a list")
        out = []
        for i, item in enumerate(value):
            if kind == "list-float":
                if isinstance(item, bool) or not isinstance(item, (int, float)) or not math.isfinite(item):
                    raise ConfigError(f"{where}: item {i + 1} must be a number, got {item!r}")
                out.append(float(item))
            elif kind == "labels":
                if isinstance(item, bool) or not isinstance(item, (int, str)):
                    raise ConfigError(f"{where}: item {i + 1} must be a string or whole number, "
                                      f"got {item!r}")
                if item == "":
                    raise ConfigError(f"{where}: item {i + 1} is an empty label")
                out.append(item)
            else:
                if not isinstance(item, str):
                    raise ConfigError(f"{where}: item {i + 1} must be a string, got {item!r}")
                out.append(item)
        if kind == "formats":
            out = [f.lower() for f in out]
            if not out:
                raise ConfigError(f"{where}: is empty; give one or more of {', '.join(FORMATS)}")
            for f in out:
                if f not in FORMATS:
                    match = difflib.get_close_matches(f, FORMATS, n=1, cutoff=0.5)
                    hint = f" (did you mean '{match[0]}'?)" if match else ""
                    raise ConfigError(f"{where}: unknown format {f!r}{hint}; choose from "
                                      f"{', '.join(FORMATS)}")
            out = list(dict.fromkeys(out))
        if kind == "labels" and len(set(map(str, out))) != len(out):
            raise ConfigError(f"{where}: a label is listed twice; give each label once")
        return tuple(out)
    raise AssertionError(kind)  # pragma: no cover


def normalise_table(table: dict, src: Source) -> dict:
    """Validate the keys and values of a configuration table."""
    out = {}
    for raw_key, value in table.items():
        key = raw_key.replace("-", "_")
        opt = _BY_KEY.get(key)
        if opt is None:
            if isinstance(value, dict):
                raise ConfigError(f"{src.label}: unknown table [{raw_key}]{_closest(key)}")
            raise ConfigError(f"{src.label}: unknown key '{raw_key}'{_closest(key)}")
        if key in out:
            raise ConfigError(f"{src.label}: '{raw_key}' is given twice (as '-' and '_' spellings)")
        out[key] = _check(opt, value, src)
    return out


def resolve(cli: dict, *, config_path=None, cwd: Path | None = None):
    """Merge defaults, the configuration file and the command line (``cli``: the options given
    on the command line, already typed). Returns the resolved options, the file used (or None)
    and, for each option that was set, its :class:`Source`."""
    resolved = {o.key: (tuple(o.default) if isinstance(o.default, list) else o.default)
                for o in OPTIONS}
    sources: dict[str, Source] = {}
    used = None
    found = load_config_file(config_path) if config_path else discover_pyproject(cwd)
    if found is not None:
        table, src = found
        values = normalise_table(table, src)
        resolved.update(values)
        sources.update(dict.fromkeys(values, src))
        used = src.label
    cli_src = Source("command line")
    for key, value in cli.items():
        if value is None:
            continue
        resolved[key] = _check(_BY_KEY[key], value, cli_src)
        sources[key] = cli_src
    return resolved, used, sources


def audit_config(resolved: dict, sources: dict | None = None):
    """The :class:`~prevalens.audit.AuditConfig` of resolved options; its own checks (ranges,
    combinations) are reported with where the value came from (flag or file and key)."""
    import re

    from .audit import AuditConfig

    kwargs = {o.key: resolved[o.key] for o in OPTIONS if o.audit_field}
    try:
        return AuditConfig(**kwargs)
    except ConfigError as exc:
        msg = str(exc)
        m = re.match(r"`(\w+)`\s*(.*)", msg)
        if m and m.group(1) in _BY_KEY:
            key = m.group(1)
            src = (sources or {}).get(key)
            where = src.where(key) if src is not None else f"option {key}"
            raise ConfigError(f"{where}: {m.group(2)}") from None
        raise


def json_ready(resolved: dict) -> dict:
    """The resolved options as JSON values (tuples as lists), keys in the documented order."""
    return {k: (list(v) if isinstance(v, tuple) else v) for k, v in resolved.items()}
