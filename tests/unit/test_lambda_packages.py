"""Every handler imports and runs with only what Lambda has: the runtime (boto3) and our layer.

The dev venv holds more (moto pulls in aws_xray_sdk, SAM CLI brings awscrt and click): a handler
that imported one of them would pass every other test and fail in AWS at import. And the layer
holds only the modules of registry_workflow the handlers import (layers/registry_workflow/
layer_contents.py, run by the layer's Makefile in `sam build`): the operator CLI, the demo, the
report and the offline twin stay out. The handlers run here against exactly that selection.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import layer_contents
import pytest
from conftest import REPO
from registry_workflow.local.template import read_template

#: installed in .venv, absent from Lambda's python3.12 runtime and from layers/registry_workflow
NOT_IN_LAMBDA = ("aws_xray_sdk", "awscrt", "moto", "click", "yaml", "werkzeug", "flask", "samcli", "pytest")
HANDLERS = sorted(p.parent.name for p in (REPO / "functions").glob("*/app.py"))
#: the operator's and the twin's modules: no function uses them, the layer must not ship them
OPERATOR_ONLY = (
    "registry_workflow.cli",
    "registry_workflow.demo",
    "registry_workflow.report",
    "registry_workflow.local",
)
LAYER_SOURCE = REPO / "layers" / "registry_workflow"


@pytest.fixture(scope="module")
def layer(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The layer's python/ as `sam build` fills it with our modules (its dependencies are in .venv)."""
    target = tmp_path_factory.mktemp("shared-layer") / "python"
    layer_contents.copy_into(target)
    return target


PROBE = """
import sys
for name in {hidden!r}:
    sys.modules[name] = None  # import fails as if not installed
sys.path.insert(0, {function_dir!r})
import app
import registry_workflow
assert registry_workflow.__file__.startswith({layer!r}), registry_workflow.__file__  # the layer's copy, not the source
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
def test_handler_imports_and_runs_with_lambda_packages_only(handler: str, layer: Path) -> None:
    # GIVEN only the layer's modules of registry_workflow on the path (a module the selection
    # missed fails the import), and the packages Lambda lacks hidden
    env = {
        "PATH": "/usr/bin:/bin",
        "PYTHONPATH": str(layer),
        "AWS_DEFAULT_REGION": "us-east-1",
        "REGISTRY_CONFIG_DIR": str(REPO / "config"),
        "POWERTOOLS_METRICS_DISABLED": "true",
    }
    probe = PROBE.format(hidden=NOT_IN_LAMBDA, function_dir=str(REPO / "functions" / handler), layer=str(layer))
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, env=env, timeout=60)
    assert done.returncode == 0, done.stderr[-2000:] + done.stdout[-500:]
    assert "untyped error" not in done.stdout


def test_the_layer_holds_no_operator_or_twin_module(layer: Path) -> None:
    shipped = {".".join(p.relative_to(layer).with_suffix("").parts) for p in layer.rglob("*.py")}
    operator = sorted(m for m in shipped if any(m == o or m.startswith(f"{o}.") for o in OPERATOR_ONLY))

    assert operator == [], f"no handler imports these, the layer must not ship them: {operator}"
    assert "registry_workflow.handlers.deployer" in shipped  # and it is the layer


@pytest.mark.parametrize("handler", HANDLERS)
def test_every_module_a_handler_imports_is_in_the_layer(handler: str) -> None:
    """What app.py imports, and all that imports in turn (inside functions too), is selected."""
    modules = layer_contents.package_modules(LAYER_SOURCE)
    selected = layer_contents.lambda_modules(LAYER_SOURCE)
    imported = layer_contents.imported_by(REPO / "functions" / handler / "app.py", "", modules)
    todo, reached = list(imported), set()
    while todo:
        name = todo.pop()
        if name not in reached:
            reached.add(name)
            path = modules[name]
            package = name if path.name == "__init__.py" else name.rpartition(".")[0]
            todo.extend(layer_contents.imported_by(path, package, modules))

    assert imported, f"{handler}/app.py imports nothing of registry_workflow?"
    assert sorted(reached - set(selected)) == []


def test_the_selection_skips_type_checking_imports_and_follows_lazy_ones(tmp_path: Path) -> None:
    # GIVEN a package whose handler imports one module lazily and another for types only
    package = tmp_path / "registry_workflow"
    (package / "handlers").mkdir(parents=True)
    for name, text in {
        "__init__.py": "",
        "handlers/__init__.py": "",
        "handlers/one.py": "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n    from registry_workflow import cli\n"
        "def run():\n    from ..deploy import go\n    return go()\n",
        "observability.py": "",
        "deploy.py": "from . import errors\ndef go(): ...\n",
        "errors.py": "",
        "cli.py": "import registry_workflow.local.twin\n",
        "local/__init__.py": "",
        "local/twin.py": "",
    }.items():
        (package / name).parent.mkdir(parents=True, exist_ok=True)
        (package / name).write_text(text)

    selected = set(layer_contents.lambda_modules(tmp_path))

    assert selected == {
        "registry_workflow",
        "registry_workflow.handlers",
        "registry_workflow.handlers.one",
        "registry_workflow.observability",
        "registry_workflow.deploy",
        "registry_workflow.errors",
    }


def test_sam_builds_the_layer_with_its_makefile_for_arm64() -> None:
    template = read_template(REPO / "template.yaml")
    layer = template["Resources"]["SharedLayer"]
    makefile = (LAYER_SOURCE / "Makefile").read_text()

    assert layer["Metadata"] == {"BuildMethod": "makefile", "BuildArchitecture": "arm64"}
    assert layer["Properties"]["CompatibleArchitectures"] == ["arm64"]
    assert "build-SharedLayer:" in makefile
    assert "layer_contents.py" in makefile
    assert "--platform manylinux2014_aarch64" in makefile  # arm64 wheels, whatever machine builds
