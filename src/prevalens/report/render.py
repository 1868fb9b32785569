"""Render a report: ReportModel -> HTML (Jinja) -> archival PDF (WeasyPrint, PDF/A-3u).

* One Jinja environment, ``autoescape=True`` and ``StrictUndefined``; user templates (``--templates
  DIR``) run in Jinja's sandboxed environment.
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

import io
import json
import os
from datetime import datetime, timezone
from pathlib import Path

from ..exports import per_class_csv  # re-exported: the PDF attaches it

__all__ = ["bundled_templates_dir", "render_html", "render_pdf", "per_class_csv", "render_report",
           "write_report",
           "AssetFetcher", "ASSET_SCHEME"]

ASSET_SCHEME = "prevalens-asset:"
_ASSETS = {"fonts/DejaVuSans.ttf", "fonts/DejaVuSans-Bold.ttf", "fonts/DejaVuSans-Oblique.ttf",
           "fonts/DejaVuSansMono.ttf"}
PDF_VARIANT = "pdf/a-3u"
_ALLOWED_VARIANTS = {"pdf/a-3u", "pdf/a-3b"}  # variants that keep attachments


def bundled_templates_dir() -> Path:
    """The templates shipped with prevalens (in the wheel: ``prevalens/templates``; in a source
    checkout: the repository's top-level ``templates/``)."""
    here = Path(__file__).resolve().parent.parent
    for candidate in (here / "templates", here.parent.parent / "templates"):
        if (candidate / "report.html.j2").is_file():
            return candidate
    raise FileNotFoundError("prevalens' bundled templates are missing; reinstall prevalens")


def _environment(templates_dir: Path, sandboxed: bool):
    import jinja2
    from jinja2.sandbox import SandboxedEnvironment

    cls = SandboxedEnvironment if sandboxed else jinja2.Environment
    return cls(
        loader=jinja2.FileSystemLoader(str(templates_dir)),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
    )


def render_html(model, *, templates_dir: Path | None = None) -> str:
    """The report as one self-contained HTML document."""
    bundled = bundled_templates_dir()
    user = templates_dir is not None and Path(templates_dir).resolve() != bundled.resolve()
    tdir = Path(templates_dir) if templates_dir is not None else bundled
    env = _environment(tdir, sandboxed=user)
    css_path = tdir / "report.css"
    css = css_path.read_text("utf-8") if css_path.is_file() else (bundled / "report.css").read_text("utf-8")
    if "</" in css:
        from ..exceptions import ConfigError

        raise ConfigError(f"{css_path}: a stylesheet must not contain '</'; remove it")
    from markupsafe import Markup

    # The stylesheet is the template author's own file, inserted verbatim into <style> (escaping
    # would break its quotes); everything from the data goes through autoescaping.
    if not user:
        return env.get_template("report.html.j2").render(model=model, css=Markup(css))
    import jinja2

    try:
        return env.get_template("report.html.j2").render(model=model, css=Markup(css))
    except jinja2.TemplateError as exc:  # the user's template, not a bug of prevalens
        from ..exceptions import ConfigError

        where = f" line {exc.lineno}" if getattr(exc, "lineno", None) else ""
        raise ConfigError(f"{tdir / 'report.html.j2'}{where}: the template failed: "
                          f"{type(exc).__name__}: {' '.join(str(exc).split())[:200]}; "
                          "start from a copy of the bundled templates") from exc


def _fetcher_class():
    from weasyprint.urls import URLFetcher, URLFetcherResponse

    class AssetFetcher(URLFetcher):
        """Serves the bundled fonts and ``data:`` URLs; refuses everything else."""

        def __init__(self, assets_dir: Path):
            super().__init__(allowed_protocols={"data"}, allow_redirects=False,
                             fail_on_errors=False)
            self.assets_dir = Path(assets_dir)
            self.refused: list[str] = []

        def fetch(self, url, headers=None):
            if url.startswith(ASSET_SCHEME):
                name = url[len(ASSET_SCHEME):]
                if name in _ASSETS:
                    return URLFetcherResponse(url, (self.assets_dir / name).read_bytes(),
                                              {"Content-Type": "font/ttf"})
            elif url.startswith("data:"):
                return super().fetch(url, headers)
            self.refused.append(url)
            raise ValueError(f"prevalens report: refused to load {url!r} (only bundled assets "
                             "and data: URLs are allowed)")

    return AssetFetcher


def AssetFetcher(assets_dir: Path | None = None):  # noqa: N802 (a factory of the subclass)
    """An instance of the report's URL fetcher (a :class:`weasyprint.urls.URLFetcher` subclass)."""
    return _fetcher_class()(assets_dir or bundled_templates_dir())


def _fixed_datetime(created_utc: str) -> datetime:
    epoch = os.environ.get("SOURCE_DATE_EPOCH")
    if epoch and epoch.strip().isdigit():
        return datetime.fromtimestamp(int(epoch), tz=timezone.utc)
    return datetime.strptime(created_utc, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=timezone.utc)


def render_pdf(html: str, *, attachments: dict, created_utc: str, identifier: str,
               variant: str = PDF_VARIANT, templates_dir: Path | None = None) -> bytes:
    """The archival PDF (PDF/A-3u by default) with ``attachments`` ({name: bytes}) embedded."""
    from weasyprint import CSS, HTML, Attachment
    from weasyprint.text.fonts import FontConfiguration

    if variant not in _ALLOWED_VARIANTS:
        from ..exceptions import ConfigError

        raise ConfigError(
            f"PDF variant {variant!r} is refused: the report's attachments (results.json, "
            f"per_class.csv) need one of {sorted(_ALLOWED_VARIANTS)}")
    assets = bundled_templates_dir()
    fetcher = AssetFetcher(assets)
    fonts = FontConfiguration()
    when = _fixed_datetime(created_utc)
    font_css = CSS(string=(assets / "fonts.css").read_text("utf-8"), font_config=fonts,
                   url_fetcher=fetcher)
    files = [
        Attachment(file_obj=io.BytesIO(data), name=name, description=desc, created=when,
                   modified=when, relationship="Data")
        for name, (data, desc) in attachments.items()
    ]
    document = HTML(string=html, url_fetcher=fetcher, base_url=None).render(
        stylesheets=[font_css], font_config=fonts)
    return document.write_pdf(
        pdf_variant=variant,
        attachments=files,
        pdf_identifier=identifier.encode("ascii"),
        custom_metadata=False,
    )


def render_report(d: dict, *, formats=("html", "pdf"), templates_dir=None,
                  model_kwargs=None) -> dict:
    """Render the report of results ``d`` (the JSON dict) in memory: ``{file name: bytes}``
    (``report.html``, ``report.pdf`` and its ``per_class.csv`` attachment)."""
    from .model import build_report_model

    from .model import attachment_bytes

    files = attachment_bytes(d)
    results_bytes, csv_bytes = files["results.json"], files["per_class.csv"]
    model = build_report_model(d, **(model_kwargs or {}))
    html = render_html(model, templates_dir=templates_dir)
    outputs: dict[str, bytes] = {}
    if "html" in formats:
        outputs["report.html"] = html.encode("utf-8")
    if "pdf" in formats:
        report_id = dict(model.document_control)["Report id"]
        outputs["report.pdf"] = render_pdf(
            html,
            attachments={"results.json": (results_bytes, "Every number of this report (schema "
                                                           "prevalens.audit/1)"),
                         "per_class.csv": (csv_bytes, "Per-class metrics with intervals")},
            created_utc=d["run"]["created_utc"],
            identifier=report_id,
        )
        outputs["per_class.csv"] = csv_bytes
    return outputs


def write_report(d: dict, out_dir, *, formats=("html", "pdf"), templates_dir=None,
                 model_kwargs=None) -> list[Path]:
    """Render ``d`` into ``out_dir``; returns the files written.

    Everything is rendered in memory first; files are then written atomically (temporary file,
    fsync, rename), so a failed render leaves any previous report intact and no partial file.
    """
    from ..outputs import write_outputs

    outputs = render_report(d, formats=formats, templates_dir=templates_dir,
                            model_kwargs=model_kwargs)
    return write_outputs(Path(out_dir), outputs)
