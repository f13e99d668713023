"""What the SharedLayer holds of `registry_workflow`: the modules the Lambda handlers import, no more.

`sam build` runs this directory's Makefile (template.yaml: SharedLayer, `BuildMethod: makefile`),
which copies these modules into the layer with `python layer_contents.py <layer>/python` and then
installs requirements.txt next to them. Everything follows from the handlers: a module is in the
layer when `registry_workflow.handlers.*` or `registry_workflow.observability` (what each
`functions/<name>/app.py` imports) reaches it through its imports, read with `ast` (imports inside
functions count: Lambda may run them; imports under `if TYPE_CHECKING:` do not: nothing runs them).
So the operator's CLI, the demo, the report and the offline twin (`local/`), which no handler
imports, stay out, and a new module used by a handler comes in without a list to keep.
tests/unit/test_lambda_packages.py runs every handler against exactly this selection.
"""

from __future__ import annotations

import ast
import shutil
import sys
from collections.abc import Iterable
from pathlib import Path

PACKAGE = "registry_workflow"
#: where the functions' imports start (each app.py imports one handler module and observability)
ROOTS = (f"{PACKAGE}.handlers", f"{PACKAGE}.observability")
HERE = Path(__file__).resolve().parent


def lambda_modules(source: Path = HERE, roots: Iterable[str] = ROOTS) -> dict[str, Path]:
    """Module name → file, for every module of the package the roots reach (packages' `__init__` too)."""
    modules = package_modules(source)
    todo = [name for name in modules if any(name == root or name.startswith(f"{root}.") for root in roots)]
    reached: dict[str, Path] = {}
    while todo:
        name = todo.pop()
        if name in reached:
            continue
        path = reached[name] = modules[name]
        imported = imported_by(path, name if path.name == "__init__.py" else name.rpartition(".")[0], modules)
        todo.extend(imported)
        todo.extend(_with_parents([name, *imported], modules))
    return dict(sorted(reached.items()))


def package_modules(source: Path = HERE) -> dict[str, Path]:
    """Every module of the package under `source`: `a.b` for a/b.py, `a` for a/__init__.py."""
    found = {}
    for path in sorted((source / PACKAGE).rglob("*.py")):
        parts = path.relative_to(source).with_suffix("").parts
        found[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return found


def imported_by(path: Path, package: str, modules: dict[str, Path]) -> set[str]:
    """Which of `modules` the file imports when it runs (not under `if TYPE_CHECKING:`).

    `package` is the file's package, for relative imports (`from .x import y`).
    """
    found: set[str] = set()
    for node in _runtime_imports(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
            continue
        base = node.module or ""
        if node.level:  # relative: from .x import y
            anchor = package.split(".")
            anchor = anchor[: len(anchor) - (node.level - 1)]
            base = ".".join([*anchor, *([base] if base else [])])
        found.add(base)
        found.update(f"{base}.{alias.name}" for alias in node.names)  # `from pkg import module`
    return {module for module in found if module in modules}


def copy_into(target: Path, source: Path = HERE) -> list[str]:
    """Copy the Lambda modules into `target` (the layer's `python/`), keeping the package layout."""
    chosen = lambda_modules(source)
    for path in chosen.values():
        destination = target / path.relative_to(source)
        destination.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, destination)
    return list(chosen)


def _runtime_imports(tree: ast.AST) -> Iterable[ast.Import | ast.ImportFrom]:
    stack: list[ast.AST] = [tree]
    while stack:
        node = stack.pop()
        if isinstance(node, ast.Import | ast.ImportFrom):
            yield node
        elif isinstance(node, ast.If) and _is_type_checking(node.test):
            stack.extend(node.orelse)  # the body runs only under a type checker
            continue
        stack.extend(ast.iter_child_nodes(node))


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _with_parents(names: Iterable[str], modules: dict[str, Path]) -> list[str]:
    """Importing a.b.c runs a/__init__.py and a/b/__init__.py first."""
    out: list[str] = []
    for name in names:
        parts = name.split(".")
        out.extend(parent for i in range(1, len(parts)) if (parent := ".".join(parts[:i])) in modules)
    return out


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: python layer_contents.py <layer directory>/python", file=sys.stderr)
        return 2
    copied = copy_into(Path(argv[0]))
    left_out = sorted(set(package_modules()) - set(copied))
    print(f"layer: {len(copied)} modules of {PACKAGE}; left out (no handler imports them): {', '.join(left_out)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
