"""The wheel carries everything the report needs: build it, install it into a fresh virtual
environment, and render a report from there (outside the source tree).

The fresh environment gets prevalens only from the wheel; its third-party dependencies come from
the test environment's site-packages through a path entry (so the test needs no network), which
does not process that directory's ``.pth`` files, so the editable install of the source tree is
not visible.
"""

from __future__ import annotations

import json
import os
import site
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

pytest.importorskip("hatchling")


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("dist")
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "--quiet",
            "--wheel-dir",
            str(out),
            str(ROOT),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    (path,) = out.glob("prevalens-*.whl")
    return path


def test_wheel_carries_templates_fonts_schema_and_data(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    for required in (
        "prevalens/templates/report.html.j2",
        "prevalens/templates/report.css",
        "prevalens/templates/fonts.css",
        "prevalens/schema/audit-1.schema.json",
        "prevalens/data/example_digits.csv",
        "prevalens/py.typed",  # type checkers read the package's annotations
    ):
        assert required in names, required
    # the licence travels with the wheel
    assert any(
        n.endswith(".dist-info/licenses/LICENSE") or n.endswith(".dist-info/LICENSE") for n in names
    ), sorted(n for n in names if "dist-info" in n)
    fonts = [n for n in names if n.startswith("prevalens/templates/fonts/") and n.endswith(".ttf")]
    assert len(fonts) >= 2
    assert any(n.startswith("prevalens/templates/fonts/") and "LICENSE" in n for n in names)
    assert not any(n.startswith(("tests/", "benchmarks/")) for n in names)


@pytest.fixture(scope="module")
def installed(wheel, tmp_path_factory) -> Path:
    venv = tmp_path_factory.mktemp("venv") / "env"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=300)
    py = venv / "bin" / "python"
    purelib = subprocess.run(
        [str(py), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    deps = {
        sysconfig.get_paths()["purelib"],
        sysconfig.get_paths()["platlib"],
        *site.getsitepackages(),
    }
    Path(purelib, "zz_test_dependencies.pth").write_text("\n".join(sorted(deps)) + "\n")
    proc = subprocess.run(
        [str(py), "-m", "pip", "install", "--no-deps", "--no-index", "--quiet", str(wheel)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    return venv


def test_installed_wheel_renders_a_report_outside_the_source_tree(installed, tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
    env["SOURCE_DATE_EPOCH"] = "1700000000"
    py = installed / "bin" / "python"
    where = subprocess.run(
        [str(py), "-c", "import prevalens; print(prevalens.__file__)"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=env,
        check=True,
    )
    assert Path(where.stdout.strip()).is_relative_to(installed), where.stdout  # not src/
    cli = installed / "bin" / "prevalens"
    steps = [
        [str(cli), "example", "digits.csv"],
        [
            str(cli),
            "audit",
            "digits.csv",
            "--out-dir",
            "audit",
            "--format",
            "json",
            "--n-resamples",
            "0",
            "--seed",
            "1",
            "--quiet",
        ],
        [
            str(cli),
            "render",
            "audit/results.json",
            "--out-dir",
            "audit",
            "--format",
            "html,pdf,md",
            "--quiet",
        ],
    ]
    for cmd in steps:
        proc = subprocess.run(
            cmd, capture_output=True, text=True, cwd=tmp_path, env=env, timeout=600
        )
        assert proc.returncode == 0, (cmd, proc.stderr)
    out = tmp_path / "audit"
    assert sorted(p.name for p in out.iterdir()) == [
        "per_class.csv",
        "report.html",
        "report.pdf",
        "results.json",
        "summary.md",
    ]
    html = (out / "report.html").read_text("utf-8")
    assert "DejaVu Sans" in html and "data:image/svg+xml" in html  # the bundled CSS and the figures
    # the installed wheel renders exactly what the source tree renders
    src = subprocess.run(
        [
            sys.executable,
            "-m",
            "prevalens",
            "render",
            str(out / "results.json"),
            "--out-dir",
            str(tmp_path / "from_source"),
            "--format",
            "html,md",
            "--quiet",
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
    )
    assert src.returncode == 0, src.stderr
    assert (tmp_path / "from_source" / "report.html").read_bytes() == (
        out / "report.html"
    ).read_bytes()
    assert (tmp_path / "from_source" / "summary.md").read_bytes() == (
        out / "summary.md"
    ).read_bytes()
    pikepdf = pytest.importorskip("pikepdf")
    with pikepdf.open(out / "report.pdf") as pdf:  # the bundled fonts, embedded
        fonts = {}
        for page in pdf.pages:
            for _, font in (page.Resources.get("/Font") or {}).items():
                desc = font.get("/FontDescriptor") or font.DescendantFonts[0].FontDescriptor
                fonts[str(font.BaseFont)] = any(
                    k in desc for k in ("/FontFile", "/FontFile2", "/FontFile3")
                )
    assert fonts and all(fonts.values()), fonts
    assert all("DejaVu" in name for name in fonts), fonts
    d = json.loads((out / "results.json").read_text("utf-8"))
    assert d["inputs"][0]["rows"] == 330
