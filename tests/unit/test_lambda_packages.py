"""Every handler imports and runs with only what Lambda has: the runtime (boto3) and our layer.

The dev venv holds more (moto pulls in aws_xray_sdk, SAM CLI brings awscrt and click): a handler
that imported one of them would pass every other test and fail in AWS at import.
"""

from __future__ import annotations

import subprocess
import sys

import pytest
from conftest import REPO

#: installed in .venv, absent from Lambda's python3.12 runtime and from layers/registry_workflow
NOT_IN_LAMBDA = ("aws_xray_sdk", "awscrt", "moto", "click", "yaml", "werkzeug", "flask", "samcli", "pytest")
HANDLERS = sorted(p.parent.name for p in (REPO / "functions").glob("*/app.py"))

PROBE = """
import sys
for name in {hidden!r}:
    sys.modules[name] = None  # import fails as if not installed
sys.path.insert(0, {function_dir!r})
import app
from registry_workflow.errors import RegistryWorkflowError
class Context:
    function_name, memory_limit_in_mb, aws_request_id = "probe", 256, "probe-request"
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:probe"
    def get_remaining_time_in_millis(self): return 60_000
try:
    app.lambda_handler({{"id": "probe"}}, Context())
except RegistryWorkflowError as exc:
    print("typed error:", type(exc).__name__)
except Exception as exc:
    print("untyped error:", type(exc).__name__, exc)
    raise SystemExit(3)
else:
    print("returned")
"""


@pytest.mark.parametrize("handler", HANDLERS)
def test_handler_imports_and_runs_with_lambda_packages_only(handler: str) -> None:
    env = {
        "PATH": "/usr/bin:/bin",
        "PYTHONPATH": str(REPO / "layers" / "registry_workflow"),
        "AWS_DEFAULT_REGION": "us-east-1",
        "REGISTRY_CONFIG_DIR": str(REPO / "config"),
        "POWERTOOLS_METRICS_DISABLED": "true",
    }
    probe = PROBE.format(hidden=NOT_IN_LAMBDA, function_dir=str(REPO / "functions" / handler))
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, env=env, timeout=60)
    assert done.returncode == 0, done.stderr[-2000:] + done.stdout[-500:]
    assert "untyped error" not in done.stdout
