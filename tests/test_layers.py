"""The import rules between the package's layers, checked by parsing every module's imports
(`import x` and `from x import y`, wherever they stand, including inside functions).

- `domain` imports nothing of the project outside `domain`, except `opcenter.errors` (the
  error types every layer raises);
- `iam` imports nothing of `api` (the resolved AccessKey belongs to `iam`);
- `engine` imports nothing of `service` (the engine owns instance state; the service asks it).
"""

from __future__ import annotations

import ast
from pathlib import Path

import opcenter

PACKAGE = Path(opcenter.__file__).parent


def _imports(path: Path) -> set[str]:
    """The absolute `opcenter.*` modules a file of the package imports."""
    module = ".".join(("opcenter", *path.relative_to(PACKAGE).with_suffix("").parts))
    return _imports_of(path.read_text(encoding="utf-8"), module)


def _imports_of(source: str, module: str) -> set[str]:
    """The absolute `opcenter.*` modules `source` (module `module`) imports, relative imports
    resolved."""
    tree = ast.parse(source)
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = module.split(".")[: -node.level]
                base = ".".join([*parent, base]) if base else ".".join(parent)
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names)
    return {name for name in found if name == "opcenter" or name.startswith("opcenter.")}


def _violations(layer: str, forbidden: tuple[str, ...], allowed: tuple[str, ...] = ()) -> list[str]:
    """`file: module` for every import of `layer` that starts with one of `forbidden` and is
    not in `allowed`."""
    found = []
    for path in sorted((PACKAGE / layer).rglob("*.py")):
        for name in sorted(_imports(path)):
            bad = any(name == f or name.startswith(f"{f}.") for f in forbidden)
            if bad and not any(name == a or name.startswith(f"{a}.") for a in allowed):
                found.append(f"{path.relative_to(PACKAGE)}: {name}")
    return found


def test_domain_imports_nothing_of_the_project_outside_domain() -> None:
    allowed = ("opcenter.domain", "opcenter.errors")
    assert _violations("domain", ("opcenter",), allowed) == []


def test_iam_imports_nothing_of_api() -> None:
    assert _violations("iam", ("opcenter.api",)) == []


def test_engine_imports_nothing_of_service() -> None:
    # Holds once the engine owns instance state (branch `engine` of issue 10).
    assert _violations("engine", ("opcenter.service",)) == []


def test_the_checker_sees_imports_inside_functions_and_relative_ones() -> None:
    source = "import json\ndef f():\n    from ..api import rpc\n    import opcenter.store.db\n"
    assert _imports_of(source, "opcenter.domain.probe") == {
        "opcenter.api",
        "opcenter.api.rpc",
        "opcenter.store.db",
    }
