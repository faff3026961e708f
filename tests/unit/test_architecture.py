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


# Modules whose import costs more than the runtime's whole start-up budget allows (measured on the
# project machine: dataclasses 32 ms, typing 20 ms, argparse 16 ms, json 15 ms, signal 11 ms...).
HEAVY = {
    "argparse", "collections", "ctypes", "dataclasses", "enum", "functools", "inspect", "json", "logging",
    "pathlib", "re", "shutil", "signal", "socket", "subprocess", "tempfile", "typing", "threading",
}

RUNTIME_HOT_PATH = [
    "boxen.runtime.cli",
    "boxen.runtime.cli.create",
    "boxen.runtime.cli.run",
    "boxen.runtime.cli.start",
    "boxen.runtime.cli.state",
    "boxen.runtime.cli.kill",
    "boxen.runtime.cli.delete",
    "boxen.runtime.cli.exec",
    "boxen.runtime.container",
    "boxen.runtime.execution",
    "boxen.runtime.plan",
    "boxen.runtime.validate",
    "boxen.runtime.init",
    "boxen.runtime.mounter",
    "boxen.runtime.foreground",
    "boxen.runtime.console",
    "boxen.runtime.hooks",
    "boxen.runtime.scheduling",
    "boxen.runtime.cgroups",
    "boxen.runtime.seccomp",
    "boxen.runtime.linux.kernel",
    "boxen.runtime.linux.seccomp",
]


def _top_level_modules_loaded_by(modules: list[str]) -> set[str]:
    """The top-level packages a fresh ``python3 -I -S`` loads to import ``modules``."""
    import subprocess
    import sys

    code = (
        "import sys; sys.path.insert(0, sys.argv[1]); before = set(sys.modules)\n"
        f"for name in {modules!r}: __import__(name)\n"
        "print(' '.join(sorted(set(sys.modules) - before)))"
    )
    out = subprocess.run([sys.executable, "-I", "-S", "-c", code, str(SRC.parent)], capture_output=True,
                         text=True, check=True).stdout.split()
    return {name.split(".")[0] for name in out}


def test_runtime_hot_path_stays_lean():
    # os too: its import costs 2.3 ms (see boxen.common.posixos, which the runtime uses instead)
    assert sorted(_top_level_modules_loaded_by(RUNTIME_HOT_PATH) & (HEAVY | {"os"})) == []


# What `boxen-image pull` loads (the verb's module imports the rest when it runs). A pull needs
# sockets and threads (and socket brings enum); the rest of HEAVY it does without (argparse,
# urllib.parse with re, shutil, tempfile: about 35 ms together, measured with -X importtime).
IMAGE_PULL_PATH = [
    "boxen.image.cli",
    "boxen.image.cli.pull",
    "boxen.image.pull",
    "boxen.image.registry.client",
    "boxen.image.registry.credentials",
    "boxen.image.store",
    "boxen.image.content.local",
    "boxen.image.snapshots",
    "boxen.image.snapshots.probe",
    "boxen.image.snapshots.overlay",
    "boxen.image.unpack",
    "boxen.image.progress",
]
PULL_NEEDS = {"collections", "enum", "functools", "socket", "threading"}


def test_image_pull_path_stays_lean():
    assert sorted(_top_level_modules_loaded_by(IMAGE_PULL_PATH) & (HEAVY - PULL_NEEDS)) == []


# --- posixos and paths stand in for os and os.path -------------------------------------------------


def _aliases(tree: ast.Module, module: str) -> set[str]:
    """Names bound at module level to ``boxen.common.<module>``."""
    names = set()
    for node in tree.body:
        if isinstance(node, ast.ImportFrom) and node.module == "boxen.common" and node.level == 0:
            names.update(alias.asname or alias.name for alias in node.names if alias.name == module)
        elif isinstance(node, ast.Import):
            names.update(alias.asname for alias in node.names
                         if alias.name == f"boxen.common.{module}" and alias.asname)
    return names


def _rebound(function: ast.AST) -> set[str]:
    """Names a function binds itself (parameters, imports, assignments): they shadow a module's."""
    names = set()
    if not isinstance(function, ast.Lambda):
        for node in ast.walk(function):
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                names.update((alias.asname or alias.name).split(".")[0] for alias in node.names)
            elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
                names.add(node.id)
    names.update(arg.arg for arg in ast.walk(function.args) if isinstance(arg, ast.arg))
    return names


def _missing_names(path: pathlib.Path, posixos_names: set[str], paths_names: set[str],
                   source: str | None = None) -> list[str]:
    """``os.X`` and ``os.path.X`` (through whatever names the module gave posixos and paths)
    that posixos or paths do not have."""
    tree = ast.parse(path.read_text() if source is None else source)
    as_os, as_path = _aliases(tree, "posixos"), _aliases(tree, "paths")
    missing: list[str] = []

    def check(node: ast.AST, shadowed: set[str]) -> None:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
            shadowed = shadowed | _rebound(node)
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id not in shadowed:
            known = posixos_names if node.value.id in as_os else paths_names if node.value.id in as_path else None
            if known is not None and node.attr not in known:
                missing.append(f"{path.relative_to(SRC)}:{node.lineno}: {node.value.id}.{node.attr}")
        if (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Attribute) and node.value.attr == "path"
                and isinstance(node.value.value, ast.Name) and node.value.value.id in as_os
                and node.value.value.id not in shadowed and node.attr not in paths_names):
            missing.append(f"{path.relative_to(SRC)}:{node.lineno}: {node.value.value.id}.path.{node.attr}")
        for child in ast.iter_child_nodes(node):
            check(child, shadowed)

    check(tree, set())
    return missing


def test_what_modules_use_of_posixos_and_paths_exists():
    """posixos and paths are imported as os and os.path but lack names os has (getenv, walk,
    fdopen, isfile, splitext...): a use would fail only at run time, perhaps in a forked init."""
    from boxen.common import paths, posixos

    missing = [line for path in sorted(SRC.rglob("*.py"))
               for line in _missing_names(path, set(dir(posixos)), set(dir(paths)))]
    assert missing == []


def test_the_posixos_check_sees_a_missing_name():
    module = SRC / "common" / "_probe_for_the_test.py"
    source = ("from boxen.common import posixos as os\nfrom boxen.common import paths\n"
              "def f(os_like):\n    return os.getenv('X'), os.path.isfile('x'), paths.splitext('a.b'), os.getpid()\n"
              "def g():\n    import os\n    return os.getenv('X')\n")
    assert _missing_names(module, {"getpid", "path"}, {"join"}, source) == [
        "common/_probe_for_the_test.py:4: os.getenv",
        "common/_probe_for_the_test.py:4: os.path.isfile",
        "common/_probe_for_the_test.py:4: paths.splitext",
    ]
