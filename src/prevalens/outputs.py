"""Every output of an audit, produced in memory, then written all or nothing.

:func:`render` turns a result into ``{file name: bytes}`` for the requested formats (the JSON,
the HTML and PDF report, the CSV, Markdown and LaTeX exports); :func:`write` writes such a set
atomically: each file is written and synced under a temporary name, and only when all of them are
on disk are they renamed over their targets, so a failure leaves every previous output as it was
and no partial file behind. This module and :mod:`prevalens.io` are the only ones that touch the
file system.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path

from . import exports
from .exceptions import ConfigError
from .options import FORMATS
from .report import render as report_render
from .results import AuditResult

__all__ = [
    "render",
    "write",
    "check_templates",
    "write_outputs",
    "write_atomic",
    "REPORT_FORMATS",
    "EXPORT_FORMATS",
]

REPORT_FORMATS = ("html", "pdf")
EXPORT_FORMATS = ("csv", "md", "tex", "figures")

Progress = Callable[[str], None]


def _as_dict(result) -> dict:
    if isinstance(result, AuditResult):
        return result.to_dict()
    if isinstance(result, Mapping):
        return dict(result)
    raise ConfigError(
        f"`result` must be an AuditResult or its JSON dict; got {type(result).__name__}"
    )


def _signoff(lines) -> tuple:
    """``"Approved by: J. Doe"`` -> ``(name, role)`` pairs for the sign-off block."""
    people = []
    for line in lines:
        role, sep, name = str(line).partition(":")
        people.append((name.strip(), role.strip()) if sep else (str(line).strip(), "Signed by"))
    return tuple(people)


def check_templates(templates) -> None:
    """A ``--templates`` folder, checked before any work (see
    :func:`prevalens.report.render.check_templates_dir`)."""
    if templates is not None:
        report_render.check_templates_dir(templates)


def render(
    result,
    formats: Iterable[str] = ("json", "html", "pdf"),
    *,
    templates=None,
    title: str | None = None,
    model_name: str | None = None,
    dataset_name: str | None = None,
    signoff=None,
    progress: Progress | None = None,
) -> dict[str, bytes]:
    """Every output of ``result`` for ``formats``, in memory: ``{file name: bytes}``.

    Parameters
    ----------
    result : AuditResult or dict
        The result, or its JSON form (a loaded ``results.json``).
    formats : iterable of {"json", "html", "pdf", "csv", "md", "tex", "figures"}
        ``json`` gives ``results.json``; ``html`` ``report.html``; ``pdf`` ``report.pdf`` and its
        attachment ``per_class.csv``; ``csv`` ``per_class.csv`` and ``headline.csv`` (and
        ``prevalence_shift.csv`` with a deployment prevalence, ``calibration.csv`` and
        ``calibration_bins.csv`` when the scores are probabilities,
        ``prevalence_shift_calibration.csv`` with both, and ``subgroups.csv``,
        ``subgroup_disparities.csv``, ``subgroup_gaps.csv`` and ``subgroup_averages.csv`` with
        groups); ``md``
        ``summary.md``; ``tex`` ``tables.tex``; ``figures`` every figure of the report on its
        own, ``figures/<name>.svg`` and ``figures/<name>.pdf``.
    templates : path, optional
        A folder with your own versions of (some of) the report's templates.
    title, model_name, dataset_name, signoff : optional
        Override the texts recorded in the result's configuration (``signoff``: lines
        ``"Role: Name"``).

    Examples
    --------
    >>> import prevalens
    >>> r = prevalens.audit(["a", "b", "a", "b"], ["a", "b", "b", "b"], n_resamples=0, seed=0)
    >>> sorted(prevalens.render(r, ["json", "md"]))
    ['results.json', 'summary.md']
    """
    formats = list(dict.fromkeys(formats if not isinstance(formats, str) else [formats]))
    bad = [f for f in formats if f not in FORMATS]
    if bad:
        raise ConfigError(
            f"`formats` has unknown format(s) {bad!r}; choose from {', '.join(FORMATS)}"
        )
    step = progress or (lambda text: None)
    d = _as_dict(result)
    outputs: dict[str, bytes] = {}
    if "json" in formats:
        text = (
            result.to_json()
            if isinstance(result, AuditResult)
            else AuditResult.from_dict(d).to_json()
        )
        outputs["results.json"] = text.encode("utf-8")
    report_formats = [f for f in formats if f in REPORT_FORMATS]
    if report_formats:
        step("rendering the " + " and ".join(f.upper() for f in report_formats))
        kwargs: dict[str, object] = {
            k: v
            for k, v in (
                ("title", title),
                ("model_name", model_name),
                ("dataset_name", dataset_name),
            )
            if v
        }
        if signoff:
            kwargs["signoff"] = _signoff(signoff)
        outputs.update(
            report_render.render_report(
                d,
                formats=report_formats,
                templates_dir=Path(templates) if templates else None,
                model_kwargs=kwargs,
            )
        )
    wanted = [f for f in formats if f in EXPORT_FORMATS and f != "figures"]
    if wanted:
        step("exporting " + ", ".join(wanted))
        outputs.update(exports.export_files(d, wanted))
    if "figures" in formats:
        step("drawing the figures")
        outputs.update(report_render.figure_files(d))
    return outputs


def write(
    result, out_dir, formats: Iterable[str] = ("json", "html", "pdf"), **kwargs
) -> list[Path]:
    """Render ``result`` (see :func:`render`) and write the files into ``out_dir`` atomically,
    all or nothing. Returns the paths written."""
    return write_outputs(Path(out_dir), render(result, formats, **kwargs))


def write_outputs(
    out_dir: Path,
    outputs: Mapping[str, bytes],
    *,
    extra: Mapping[str, tuple[Path, bytes]] | None = None,
) -> list[Path]:
    """Write every output atomically, only after all of them were produced in memory.

    ``extra`` holds files outside ``out_dir``, ``{flag: (path, bytes)}`` (e.g. ``{"--junit":
    (path, xml)}``): staged and renamed with the outputs, all or nothing; an error names the
    flag. Returns the paths written, the outputs' first.
    """
    # All or nothing: every file is first written and synced under a temporary name, and only
    # when all of them are on disk are they renamed over their targets (a rename within one
    # directory does not fail short of the disk vanishing), so a failure leaves every previous
    # output as it was.
    out_dir = Path(out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise ConfigError(f"--out-dir {out_dir}: exists and is not a directory")
    extra = dict(extra or {})
    ours = {os.path.abspath(out_dir / name): name for name in outputs}
    for flag, (path, _) in extra.items():
        if os.path.abspath(path) in ours:
            raise ConfigError(
                f"{flag} {path}: is also where {ours[os.path.abspath(path)]} is written; "
                "give another file name"
            )
    staged: list[tuple[str, Path]] = []
    where = f"--out-dir {out_dir}"
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        for name in outputs:
            target = out_dir / name
            if target.is_dir():
                raise IsADirectoryError(21, "Is a directory", str(target))
        for name, data in outputs.items():
            target = out_dir / name
            target.parent.mkdir(parents=True, exist_ok=True)
            staged.append((_stage(target, data), target))
        for flag, (path, data) in extra.items():
            target = Path(path)
            where = f"{flag} {target}"
            if target.is_dir():
                raise IsADirectoryError(21, "Is a directory", str(target))
            target.parent.mkdir(parents=True, exist_ok=True)
            staged.append((_stage(target, data), target))
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
        raise ConfigError(f"{where}: cannot write ({what}{exc.strerror or exc})") from None


def write_atomic(path, data: bytes) -> None:
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
