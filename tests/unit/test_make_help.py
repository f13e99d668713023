"""`make help` lists every documented target (digits included), and packaging declares an SPDX license."""

from __future__ import annotations

import re
import shutil
import subprocess
import tomllib

import pytest
from conftest import REPO


@pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")
def test_make_help_lists_every_documented_target() -> None:
    makefile = (REPO / "Makefile").read_text()
    documented = re.findall(r"^([A-Za-z0-9_-]+):.*## ", makefile, re.MULTILINE)

    shown = subprocess.run(["make", "-s", "help"], cwd=REPO, capture_output=True, text=True, check=True).stdout

    assert "e2e" in documented
    assert [line.split()[1] for line in shown.splitlines()] == documented


def test_the_license_is_an_spdx_expression_setuptools_understands() -> None:
    pyproject = tomllib.loads((REPO / "pyproject.toml").read_text())
    assert pyproject["project"]["license"] == "Apache-2.0"  # a table here is deprecated (setuptools >= 77)
    assert "setuptools>=77" in pyproject["build-system"]["requires"]
