"""Every template and asset the pages use ships in the package: an installed (non-editable) service has no
other place to take them from, and hospital networks have no CDN to fall back on."""

from __future__ import annotations

import fnmatch
import tomllib
from pathlib import Path

import pytest

import serving.dashboard as dashboard
import serving.workspace.letters as letters
import serving.workspace.web as web

ROOT = Path(__file__).resolve().parents[4]


@pytest.mark.parametrize(
    ("package", "module"),
    [("serving.workspace.web", web), ("serving.workspace.letters", letters), ("serving.dashboard", dashboard)],
)
def test_package_data_covers_every_template_and_static_file(package: str, module: object) -> None:
    patterns = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"][package]
    here = Path(str(getattr(module, "__file__", ""))).parent
    files = [
        p.relative_to(here).as_posix() for d in ("templates", "static") for p in (here / d).rglob("*") if p.is_file()
    ]
    assert files, "no templates or assets found"
    uncovered = [f for f in files if not any(fnmatch.fnmatch(f, pattern) for pattern in patterns)]
    assert uncovered == []
