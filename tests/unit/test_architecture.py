"""Structural rules of the code base that import-linter cannot express."""

import ast
import pathlib

SRC = pathlib.Path(__file__).resolve().parents[2] / "src" / "boxen"


def _imports(path: pathlib.Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


def test_only_runtime_linux_imports_ctypes():
    linux = SRC / "runtime" / "linux"
    offenders = [
        str(p.relative_to(SRC))
        for p in SRC.rglob("*.py")
        if linux not in p.parents and _imports(p) & {"ctypes", "_ctypes"}
    ]
    assert offenders == []
