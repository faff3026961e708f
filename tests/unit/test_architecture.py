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
