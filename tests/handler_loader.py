"""Load a function's `app.py` the way Lambda does: by file, under a unique module name."""

from __future__ import annotations

from types import ModuleType

from conftest import REPO
from registry_workflow.local.template import load_handler_module


def handler_module(function_dir: str) -> ModuleType:
    return load_handler_module(REPO / "functions" / function_dir / "app.py")
