"""The cgroup package's imports point one way: factory -> v1, v2 -> manager, never back."""

import ast
import pathlib

PACKAGE = pathlib.Path(__file__).resolve().parents[4] / "src" / "boxen" / "runtime" / "cgroups"


def _imported(name: str) -> set[str]:
    """Every boxen.runtime.cgroups module ``name`` imports, at the top or inside a function."""
    found = set()
    for node in ast.walk(ast.parse((PACKAGE / f"{name}.py").read_text())):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("boxen.runtime.cgroups."):
            found.add(node.module.rsplit(".", 1)[1])
    return found


def test_the_base_manager_imports_neither_version_nor_the_factory():
    assert _imported("manager") & {"v1", "v2", "factory"} == set()


def test_the_versions_do_not_import_the_factory():
    assert "factory" not in _imported("v1") | _imported("v2")
    assert {"v1", "v2"} <= _imported("factory")
