"""The audit's configuration file: TOML, with the same options as the command line.

Where options come from, lowest precedence first:

1. the defaults;
2. a configuration file: ``--config FILE`` (a TOML file whose keys are at the top level or in a
   ``[tool.prevalens]`` table), or else the ``[tool.prevalens]`` table of ``pyproject.toml`` in
   the working directory, when there is one;
3. the command line's flags (or the keyword arguments of :func:`prevalens.run_audit`); gates
   given there are *added* to the file's gates (a release policy in the file is not dropped by
   an extra gate on the command line).

Keys are the option names of :mod:`prevalens.options`, with ``_`` or ``-`` (``n_resamples`` or
``n-resamples``). Paths in a file (``input``, ``out_dir``, ``baseline``, ``templates``) are
relative to the file's directory. An unknown key, or a value of the wrong type, is an error that
names the file, the key and the closest valid key. :func:`resolve` returns the resolved options as
a plain dict, recorded in ``run.config`` of the results.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .exceptions import ConfigError
from .io import read_user_file
from .options import OPTIONS, RECORDED_KEYS, AuditConfig, closest, coerce, option_by_key

__all__ = ["Source", "resolve", "load_config_file", "audit_config", "json_ready"]

_KEYS = [o.key for o in OPTIONS]


@dataclass(frozen=True)
class Source:
    """Where a value came from, for error messages: ``--n-resamples`` or ``audit.toml``."""

    label: str
    base_dir: Path | None = None  # paths in a file are relative to it

    def where(self, key: str) -> str:
        if self.base_dir is None:  # the command line
            return option_by_key(key).cli_flag if key in _KEYS else "--" + key.replace("_", "-")
        return f"{self.label}: key '{key}'"


def load_config_file(path) -> tuple[dict, Source]:
    """Read a TOML configuration file: its ``[tool.prevalens]`` table when it has one, else its
    top level. Errors name the file."""
    path = Path(path)
    label = str(path)
    raw = read_user_file(
        path,
        label,
        missing="configuration file not found; check the --config path",
        directory="is a directory; give a TOML file such as audit.toml",
        error=ConfigError,
    )
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
        raise ConfigError(
            f"{label}: has no [tool.prevalens] table; add one with the audit's options"
        )
    else:
        table = data
    return table, Source(label, path.resolve().parent)


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


def _check(key: str, value, src: Source):
    """One value checked and normalised for option ``key``; a path in a file is made relative
    to the file's directory."""
    opt = option_by_key(key)
    value = coerce(opt, value, src.where(key))
    if opt.kind == "prevalence" and isinstance(value, str) and src.base_dir is not None:
        from .analyses.shift import is_scenario

        if not is_scenario(value):  # a file, relative to the configuration file
            p = Path(value).expanduser()
            value = str(p if p.is_absolute() else src.base_dir / p)
    if opt.kind == "path" and src.base_dir is not None:
        p = Path(value).expanduser()
        value = str(p if p.is_absolute() else src.base_dir / p)
    return value


def normalise_table(table: dict, src: Source) -> dict:
    """Validate the keys and values of a configuration table."""
    out = {}
    for raw_key, value in table.items():
        key = raw_key.replace("-", "_")
        if key not in _KEYS:
            if isinstance(value, dict):
                raise ConfigError(f"{src.label}: unknown table [{raw_key}]{closest(key, _KEYS)}")
            raise ConfigError(f"{src.label}: unknown key '{raw_key}'{closest(key, _KEYS)}")
        if key in out:
            raise ConfigError(f"{src.label}: '{raw_key}' is given twice (as '-' and '_' spellings)")
        out[key] = _check(key, value, src)
    return out


def resolve(given: dict, *, config_path=None, cwd: Path | None = None):
    """Merge defaults, the configuration file and ``given`` (the options given on the command
    line or as keyword arguments, already typed; None = not given). Returns the resolved
    options, the file used (or None) and, for each option that was set, its :class:`Source`."""
    resolved: dict[str, Any] = {o.key: o.default for o in OPTIONS}
    sources: dict[str, Source] = {}
    used = None
    found = load_config_file(config_path) if config_path else discover_pyproject(cwd)
    if found is not None:
        table, src = found
        values = normalise_table(table, src)
        resolved.update(values)
        sources.update(dict.fromkeys(values, src))
        used = src.label
    given_src = Source("command line")
    for key, value in given.items():
        if value is None:
            continue
        if key not in _KEYS:
            raise ConfigError(f"unknown option `{key}`{closest(key, _KEYS)}")
        value = _check(key, value, given_src)
        if key == "gates" and sources.get(key) is not None:
            # added to the file's gates: an extra gate must not drop the release policy
            value = tuple(dict.fromkeys(resolved[key] + value))
        resolved[key] = value
        sources[key] = given_src
    return resolved, used, sources


def audit_config(resolved: dict, sources: dict | None = None) -> AuditConfig:
    """The :class:`~prevalens.AuditConfig` of resolved options; its own checks (ranges,
    combinations) are reported with where the value came from (flag or file and key)."""
    try:
        return AuditConfig.from_options({k: v for k, v in resolved.items()})
    except ConfigError as exc:
        msg = str(exc)
        m = re.match(r"`(\w+)`\s*(.*)", msg)
        if m and m.group(1) in _KEYS:
            key = m.group(1)
            src = (sources or {}).get(key)
            where = src.where(key) if src is not None else f"option {key}"
            raise ConfigError(f"{where}: {m.group(2)}") from None
        raise


def json_ready(resolved: dict) -> dict:
    """The resolved options as JSON values (tuples as lists), keys in the documented order,
    without the options that are not recorded (the machine's resources: ``max_memory``)."""
    return {
        k: (list(v) if isinstance(v, tuple) else v)
        for k, v in resolved.items()
        if k in RECORDED_KEYS or k not in _KEYS
    }
