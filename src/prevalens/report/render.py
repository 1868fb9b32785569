"""Render a report: ReportModel -> HTML (Jinja) -> archival PDF (WeasyPrint, PDF/A-3u).

* One Jinja environment, ``autoescape=True`` and ``StrictUndefined``. ``report.html.j2`` includes
  ``cover.html.j2`` and one ``sections/<section id>.html.j2`` per section of the model, which lay
  out their blocks with the macros of ``macros.html.j2``. A user's folder (``--templates DIR``)
  is searched first and the bundled templates fill in (``jinja2.ChoiceLoader``), so a user
  overrides one section or the cover without copying the rest; every template then runs in
  Jinja's sandboxed environment.
* The PDF is tagged (a structure tree for screen readers) and stays PDF/A-3u.
* The HTML is self-contained: CSS inline, figures as ``data:`` SVG, a Content-Security-Policy that
  forbids scripts and remote loads.
* The PDF is PDF/A-3u with ``results.json`` and ``per_class.csv`` embedded as attachments. A URL
  fetcher serves only the bundled fonts (``prevalens-asset:`` URLs) and ``data:`` URLs and refuses
  everything else (file, http(s), relative paths), so a hostile class label can neither read a
  local file nor reach the network. One ``FontConfiguration`` serves the CSS and the PDF so the
  bundled fonts are used and embedded on every machine.
* Identical results give byte-identical HTML and PDF: document and attachment dates come from the
  run's timestamp (or ``SOURCE_DATE_EPOCH``) and the PDF identifier from the report id.
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import io
import os
import re
from datetime import UTC, datetime
from pathlib import Path

import jinja2
from jinja2.sandbox import SandboxedEnvironment
from markupsafe import Markup

from ..exceptions import ConfigError
from ..exports import per_class_csv  # re-exported: the PDF attaches it
from . import plots
from .model import ReportModel, Section, attachment_bytes, build_report_model

__all__ = [
    "bundled_templates_dir",
    "check_templates_dir",
    "render_html",
    "render_pdf",
    "per_class_csv",
    "render_report",
    "render_comparison",
    "figure_files",
    "FIGURE_FILES",
    "AssetFetcher",
    "ASSET_SCHEME",
]

ASSET_SCHEME = "prevalens-asset:"
_ASSETS = {
    "fonts/DejaVuSans.ttf",
    "fonts/DejaVuSans-Bold.ttf",
    "fonts/DejaVuSans-Oblique.ttf",
    "fonts/DejaVuSansMono.ttf",
}
PDF_VARIANT = "pdf/a-3u"
_ALLOWED_VARIANTS = {"pdf/a-3u", "pdf/a-3b"}  # variants that keep attachments

#: An extra section of a user's templates: ``sections/extra-<name>.html.j2``.
_EXTRA_SECTION = re.compile(r"extra-[A-Za-z0-9_-]+")
#: Images a user's template may embed with ``data_uri(name)`` (a logo on the cover), by suffix.
_IMAGE_TYPES = {
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".gif": "image/gif",
    ".svg": "image/svg+xml",
    ".webp": "image/webp",
}
_IMAGE_MAX_BYTES = 2_000_000


def bundled_templates_dir() -> Path:
    """The templates shipped with prevalens (in the wheel: ``prevalens/templates``; in a source
    checkout: the repository's top-level ``templates/``)."""
    here = Path(__file__).resolve().parent.parent
    for candidate in (here / "templates", here.parent.parent / "templates"):
        if (candidate / "report.html.j2").is_file():
            return candidate
    raise FileNotFoundError("prevalens' bundled templates are missing; reinstall prevalens")


def check_templates_dir(templates_dir) -> Path:
    """``templates_dir`` (``--templates DIR``) checked before an audit runs: a directory holding
    at least one template (``*.j2``, at the top or in ``sections/``) or stylesheet
    (``report.css``, ``extra.css``). Anything it lacks comes from the bundled templates.

    Raises
    ------
    ConfigError
        When it is not a directory, or holds none of those files.
    """
    path = Path(templates_dir)
    if not path.is_dir():
        raise ConfigError(
            f"--templates {path}: not a directory; give a folder with the "
            "templates you override (see templates/README.md)"
        )
    found = (
        list(path.glob("*.j2"))
        + list(path.glob("sections/*.j2"))
        + [p for p in (path / "report.css", path / "extra.css") if p.is_file()]
    )
    if not found:
        raise ConfigError(
            f"--templates {path}: no template (*.j2, sections/*.j2) or stylesheet "
            "(report.css, extra.css) in that folder; see templates/README.md"
        )
    return path


def _data_uri_function(user_dir: Path | None):
    """``data_uri(name)`` for templates: an image of the user's templates folder as a ``data:``
    URI (the only kind of URL the report loads)."""

    def data_uri(name) -> str:
        if user_dir is None:
            raise ConfigError(
                "data_uri(): only a user's templates folder (--templates) holds images"
            )
        root = user_dir.resolve()
        path = (root / str(name)).resolve()
        kind = _IMAGE_TYPES.get(path.suffix.lower())
        if root not in path.parents or kind is None or not path.is_file():
            raise ConfigError(
                f"data_uri({name!r}): not an image file (one of "
                f"{', '.join(sorted(_IMAGE_TYPES))}) inside {user_dir}"
            )
        data = path.read_bytes()
        if len(data) > _IMAGE_MAX_BYTES:
            raise ConfigError(
                f"data_uri({name!r}): {len(data):,} bytes; an image of the report "
                f"may have at most {_IMAGE_MAX_BYTES:,}"
            )
        return f"data:{kind};base64," + base64.b64encode(data).decode("ascii")

    return data_uri


def _environment(user_dir: Path | None):
    """The Jinja environment: autoescape, StrictUndefined. With a user's folder, its templates
    come first and the bundled ones fill in (also reachable as ``prevalens/<name>``), and every
    template runs in Jinja's sandbox."""
    bundled = jinja2.FileSystemLoader(str(bundled_templates_dir()))
    loader: jinja2.BaseLoader
    if user_dir is None:
        loader, cls = bundled, jinja2.Environment
    else:
        loader = jinja2.ChoiceLoader(
            [
                jinja2.FileSystemLoader(str(user_dir)),
                jinja2.PrefixLoader({"prevalens": bundled}),
                bundled,
            ]
        )
        cls = SandboxedEnvironment
    env = cls(
        loader=loader, autoescape=True, undefined=jinja2.StrictUndefined, keep_trailing_newline=True
    )
    env.globals["data_uri"] = _data_uri_function(user_dir)
    return env


#: Stylesheets a top-level template adds after report.css.
_TEMPLATE_CSS = {"comparison.html.j2": ("comparison.css",)}


def _stylesheet(user_dir: Path | None, template: str = "report.html.j2") -> Markup:
    """The report's CSS: the user's report.css in place of the bundled one if there is one, the
    template's own (:data:`_TEMPLATE_CSS`), then the user's extra.css appended (to extend rather
    than replace)."""
    bundled = bundled_templates_dir() / "report.css"
    paths = [bundled] + [bundled.parent / n for n in _TEMPLATE_CSS.get(template, ())]
    if user_dir is not None:
        if (user_dir / "report.css").is_file():
            paths = [user_dir / "report.css"] + paths[1:]
        if (user_dir / "extra.css").is_file():
            paths.append(user_dir / "extra.css")
    parts = []
    for path in paths:
        css = path.read_text("utf-8")
        if "</" in css:
            raise ConfigError(f"{path}: a stylesheet must not contain '</'; remove it")
        parts.append(css)
    # The stylesheets are the template author's own files, inserted verbatim into <style>
    # (escaping would break their quotes); everything from the data goes through autoescaping.
    return Markup("\n".join(parts))


def _extra_sections(env, user_dir: Path | None, model: ReportModel) -> ReportModel:
    """The model with a section for each ``sections/extra-*.html.j2`` of the user's folder (in
    name order, before sign-off); its heading is the template's top-level ``title`` variable
    (``{% set title = "..." %}``), else made from the file name."""
    if user_dir is None or not (user_dir / "sections").is_dir():
        return model
    extra = []
    for path in sorted((user_dir / "sections").glob("extra-*.html.j2")):
        sid = path.name.removesuffix(".html.j2")
        if not _EXTRA_SECTION.fullmatch(sid):
            raise ConfigError(
                f"{path}: name an extra section sections/extra-<name>.html.j2 with "
                "letters, digits, '-' and '_' only"
            )
        if any(s.id == sid for s in model.sections):
            continue
        draft = Section(
            sid, sid.removeprefix("extra-").replace("-", " ").replace("_", " ").capitalize()
        )
        module = env.get_template(f"sections/{path.name}").make_module(
            {"model": model, "section": draft}
        )
        title = getattr(module, "title", None)
        extra.append(dataclasses.replace(draft, title=str(title)) if title else draft)
    if not extra:
        return model
    sections = list(model.sections)
    at = next((i for i, s in enumerate(sections) if s.id == "sign-off"), len(sections))
    return dataclasses.replace(model, sections=tuple(sections[:at] + extra + sections[at:]))


def _template_location(exc: Exception, user_dir: Path) -> tuple[str, int | None]:
    """The template (relative to its folder) and line where ``exc`` arose: Jinja rewrites
    tracebacks so that the frames of a template carry its file name."""
    name, line = (
        getattr(exc, "filename", None) or getattr(exc, "name", None),
        getattr(exc, "lineno", None),
    )
    tb = exc.__traceback__
    while tb is not None:
        if tb.tb_frame.f_code.co_filename.endswith(".j2"):
            name, line = tb.tb_frame.f_code.co_filename, tb.tb_lineno
        tb = tb.tb_next
    for root, suffix in ((user_dir, ""), (bundled_templates_dir(), " (bundled)")):
        if root is None or name is None:
            continue
        try:
            return str(Path(name).resolve().relative_to(root.resolve())) + suffix, line
        except (TypeError, ValueError):
            continue
    return str(name or "report.html.j2"), line


def render_html(
    model: ReportModel, *, templates_dir: Path | None = None, template: str = "report.html.j2"
) -> str:
    """The report as one self-contained HTML document.

    Parameters
    ----------
    model : ReportModel
        From :func:`prevalens.report.model.build_report_model` (or, with ``template=
        "comparison.html.j2"``, :func:`prevalens.report.compare_model.build_comparison_model`).
    templates_dir : path, optional
        A folder of the user's templates (``--templates DIR``): any of ``report.html.j2``,
        ``cover.html.j2``, ``macros.html.j2``, ``sections/<id>.html.j2`` replaces the bundled
        one of that name, ``sections/extra-<name>.html.j2`` adds a section before sign-off,
        ``report.css`` replaces and ``extra.css`` extends the stylesheet. Its templates run in
        Jinja's sandbox. See ``templates/README.md``.
    template : str
        The top-level template: ``report.html.j2`` (an audit) or ``comparison.html.j2``.

    Raises
    ------
    ConfigError
        When a user's template fails (syntax, undefined variable, sandbox violation) or a
        stylesheet holds ``</``.
    """
    bundled = bundled_templates_dir()
    user_dir = None
    if templates_dir is not None and Path(templates_dir).resolve() != bundled.resolve():
        user_dir = Path(templates_dir)
    env = _environment(user_dir)
    css = _stylesheet(user_dir, template)
    if user_dir is None:
        return env.get_template(template).render(model=model, css=css)
    try:
        model = _extra_sections(env, user_dir, model)
        return env.get_template(template).render(model=model, css=css)
    except jinja2.TemplateError as exc:  # the user's template, not a bug of prevalens
        name, line = _template_location(exc, user_dir)
        where = f" line {line}" if line else ""
        raise ConfigError(
            f"{user_dir}: template {name}{where}: the template failed: "
            f"{type(exc).__name__}: {' '.join(str(exc).split())[:200]}; "
            "see templates/README.md"
        ) from exc


def _fetcher_class():
    from weasyprint.urls import URLFetcher, URLFetcherResponse

    class AssetFetcher(URLFetcher):
        """Serves the bundled fonts and ``data:`` URLs; refuses everything else."""

        def __init__(self, assets_dir: Path):
            super().__init__(
                allowed_protocols={"data"}, allow_redirects=False, fail_on_errors=False
            )
            self.assets_dir = Path(assets_dir)
            self.refused: list[str] = []

        def fetch(self, url, headers=None):
            if url.startswith(ASSET_SCHEME):
                name = url[len(ASSET_SCHEME) :]
                if name in _ASSETS:
                    return URLFetcherResponse(
                        url, (self.assets_dir / name).read_bytes(), {"Content-Type": "font/ttf"}
                    )
            elif url.startswith("data:"):
                return super().fetch(url, headers)
            self.refused.append(url)
            raise ValueError(
                f"prevalens report: refused to load {url!r} (only bundled assets "
                "and data: URLs are allowed)"
            )

    return AssetFetcher


def AssetFetcher(assets_dir: Path | None = None):  # noqa: N802 (a factory of the subclass)
    """An instance of the report's URL fetcher (a :class:`weasyprint.urls.URLFetcher` subclass)."""
    return _fetcher_class()(assets_dir or bundled_templates_dir())


def _fixed_datetime(created_utc: str) -> datetime:
    epoch = os.environ.get("SOURCE_DATE_EPOCH")
    if epoch and epoch.strip().isdigit():
        return datetime.fromtimestamp(int(epoch), tz=UTC)
    return datetime.strptime(created_utc, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)


def render_pdf(
    html: str,
    *,
    attachments: dict,
    created_utc: str,
    identifier: str,
    variant: str = PDF_VARIANT,
    templates_dir: Path | None = None,
    tagged: bool = True,
) -> bytes:
    """The archival PDF (PDF/A-3u by default) with ``attachments`` embedded.

    Parameters
    ----------
    html : str
        The report's HTML (:func:`render_html`).
    attachments : dict
        File name -> ``(bytes, description)``, embedded as PDF/A-3 associated files
        (relationship ``Data``).
    created_utc : str
        ``YYYY-MM-DDTHH:MM:SSZ``: the document's and the attachments' dates (unless
        ``SOURCE_DATE_EPOCH`` is set), so that identical input gives identical bytes.
    identifier : str
        The PDF file identifier (the report id).
    variant : {"pdf/a-3u", "pdf/a-3b"}
        Only PDF/A-3 variants keep attachments.
    tagged : bool
        Write the structure tree (``/StructTreeRoot``, ``/MarkInfo /Marked true``): headings,
        paragraphs, lists, tables with header cells, figures with their alt text, so that
        screen readers and reflow can use the PDF.

    Raises
    ------
    ConfigError
        When ``variant`` would drop the attachments.
    """
    from weasyprint import CSS, HTML, Attachment
    from weasyprint.text.fonts import FontConfiguration

    if variant not in _ALLOWED_VARIANTS:
        raise ConfigError(
            f"PDF variant {variant!r} is refused: the report's attachments "
            f"({', '.join(attachments) or 'none'}) need one of {sorted(_ALLOWED_VARIANTS)}"
        )
    assets = bundled_templates_dir()
    fetcher = AssetFetcher(assets)
    fonts = FontConfiguration()
    when = _fixed_datetime(created_utc)
    font_css = CSS(
        string=(assets / "fonts.css").read_text("utf-8"), font_config=fonts, url_fetcher=fetcher
    )
    files = [
        Attachment(
            file_obj=io.BytesIO(data),
            name=name,
            description=desc,
            created=when,
            modified=when,
            relationship="Data",
        )
        for name, (data, desc) in attachments.items()
    ]
    document = HTML(string=html, url_fetcher=fetcher, base_url=None).render(
        stylesheets=[font_css], font_config=fonts
    )
    return document.write_pdf(
        pdf_variant=variant,
        pdf_tags=bool(tagged),
        attachments=files,
        pdf_identifier=identifier.encode("ascii"),
        custom_metadata=False,
    )


def render_report(
    d: dict, *, formats=("html", "pdf"), templates_dir=None, model_kwargs=None
) -> dict:
    """Render the report of results ``d`` in memory.

    Parameters
    ----------
    d : dict
        The results dict (``AuditResult.to_dict()`` or a loaded ``results.json``); the only
        source of every number.
    formats : iterable of {"html", "pdf"}
    templates_dir : path, optional
        The user's templates (see :func:`render_html`).
    model_kwargs : dict, optional
        Keyword arguments of :func:`~prevalens.report.model.build_report_model` (title,
        model_name, dataset_name, signoff, max_rows).

    Returns
    -------
    dict
        ``{file name: bytes}``: ``report.html``, ``report.pdf`` and the ``per_class.csv`` that
        the PDF attaches.
    """
    files = attachment_bytes(d)
    results_bytes, csv_bytes = files["results.json"], files["per_class.csv"]
    model = build_report_model(d, **(model_kwargs or {}))
    html = render_html(model, templates_dir=templates_dir)
    outputs: dict[str, bytes] = {}
    if "html" in formats:
        outputs["report.html"] = html.encode("utf-8")
    if "pdf" in formats:
        outputs["report.pdf"] = render_pdf(
            html,
            attachments={
                "results.json": (
                    results_bytes,
                    "Every number of this report (schema prevalens.audit/1)",
                ),
                "per_class.csv": (csv_bytes, "Per-class metrics with intervals"),
            },
            created_utc=d["run"]["created_utc"],
            identifier=model.report_id,
        )
        outputs["per_class.csv"] = csv_bytes
    return outputs


def render_comparison(d: dict, *, formats=("html", "pdf"), title: str | None = None) -> dict:
    """Render the report of a comparison of models in memory.

    Parameters
    ----------
    d : dict
        The comparison dict (``ComparisonResult.to_dict()`` or a loaded ``comparison.json``);
        the only source of every number.
    formats : iterable of {"html", "pdf"}
    title : str, optional
        The report's title (see :func:`~prevalens.report.compare_model.build_comparison_model`).

    Returns
    -------
    dict
        ``{file name: bytes}``: ``comparison.html`` and ``comparison.pdf`` (PDF/A-3u with
        ``comparison.json`` and ``differences.csv`` attached, byte for byte as ``prevalens
        compare`` writes them).
    """
    from .compare_model import (
        ATTACHMENT_DESCRIPTIONS,
        build_comparison_model,
        comparison_attachments,
    )

    files = comparison_attachments(d)
    model = build_comparison_model(
        d,
        title=title,
        attachments={n: hashlib.sha256(b).hexdigest() for n, b in files.items()},
    )
    html = render_html(model, template="comparison.html.j2")
    outputs: dict[str, bytes] = {}
    if "html" in formats:
        outputs["comparison.html"] = html.encode("utf-8")
    if "pdf" in formats:
        outputs["comparison.pdf"] = render_pdf(
            html,
            attachments={n: (b, ATTACHMENT_DESCRIPTIONS[n]) for n, b in files.items()},
            created_utc=d["run"]["created_utc"],
            identifier=model.report_id,
        )
    return outputs


#: Figure of the report -> the file name (without suffix) :func:`figure_files` gives it.
FIGURE_FILES = {
    "prevalence": "prevalence",
    "forest": "headline-forest",
    "curves": "roc-pr-curves",
    "strata": "strata",
    "trend": "metric-vs-prevalence",
    "confusion": "confusion-matrix",
    "reliability": "reliability",
}


def figure_files(d: dict, kinds=("svg", "pdf")) -> dict[str, bytes]:
    """Every figure of the report as a file of its own, for a paper or slides.

    Parameters
    ----------
    d : dict
        The results dict (``AuditResult.to_dict()`` or a loaded ``results.json``).
    kinds : iterable of {"svg", "pdf"}
        Vector formats to write; both by default.

    Returns
    -------
    dict
        ``{"figures/<name>.<kind>": bytes}`` in the report's order (names in
        :data:`FIGURE_FILES`, then per grouping of an audit within subgroups
        ``subgroup-recall-<i>`` and ``subgroup-disparities-<i>``, numbered from 1); a figure the
        results cannot give (curves without scores) is left out. The figures are those of the report, drawn by the same code; identical results give
        identical bytes (no dates or creator in the files; text in DejaVu Sans, as text in the
        SVG and as embedded TrueType in the PDF).

    Raises
    ------
    ConfigError
        When a kind is not svg or pdf.
    """
    kinds = [kinds] if isinstance(kinds, str) else list(kinds)
    bad = [k for k in kinds if k not in ("svg", "pdf")]
    if bad:
        raise ConfigError(f"`kinds` has unknown figure format(s) {bad!r}; allowed: svg, pdf")
    kinds = tuple(dict.fromkeys(kinds))
    rendered = plots.render_figures(d, formats=kinds)
    names = dict(FIGURE_FILES)
    for key in plots.subgroup_figure_keys(d):  # subgroup-recall-1, subgroup-disparities-1 ...
        kind, _, i = key.rpartition("-")
        names[key] = (
            "subgroup-recall-" if kind == "subgroup_recall" else "subgroup-disparities-"
        ) + i
    out = {}
    for key, name in names.items():
        if key in rendered:
            for kind in kinds:
                plot = rendered[key]
                out[f"figures/{name}.{kind}"] = (
                    plot.svg.encode("utf-8") if kind == "svg" else plot.pdf
                )
    return out
