"""The report is the operator's: no Lambda handler imports it, nor its charting and templating libraries.

pygal and Jinja2 are dependencies of the CLI (pyproject.toml), not of the layer
(layers/registry_workflow/requirements.txt): a handler that pulled them in would fail in AWS.
"""

from __future__ import annotations

import subprocess
import sys

import pytest
from conftest import REPO

HANDLERS = sorted(p.parent.name for p in (REPO / "functions").glob("*/app.py"))
REPORT_ONLY = ("registry_workflow.report", "pygal", "jinja2")

PROBE = """
import sys
sys.path.insert(0, {function_dir!r})
import app
print(",".join(sorted(name for name in {report_only!r} if name in sys.modules)))
"""


@pytest.mark.parametrize("handler", HANDLERS)
def test_no_handler_imports_the_report(handler: str) -> None:
    env = {
        "PATH": "/usr/bin:/bin",
        "PYTHONPATH": str(REPO / "layers" / "registry_workflow"),
        "AWS_DEFAULT_REGION": "us-east-1",
        "REGISTRY_CONFIG_DIR": str(REPO / "config"),
    }
    probe = PROBE.format(function_dir=str(REPO / "functions" / handler), report_only=REPORT_ONLY)
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, env=env, timeout=60)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "", f"{handler} imports {done.stdout.strip()}"


def test_the_layer_requirements_leave_them_out() -> None:
    requirements = (REPO / "layers" / "registry_workflow" / "requirements.txt").read_text().lower()
    assert "pygal" not in requirements
    assert "jinja2" not in requirements
