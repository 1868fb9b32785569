"""Bundled example data (see PROVENANCE.md beside this file)."""

from importlib import resources
from pathlib import Path

__all__ = ["example_path"]


def example_path() -> Path:
    """Path of the bundled long-tailed handwritten-digits predictions (CSV)."""
    return Path(str(resources.files(__name__).joinpath("example_digits.csv")))
