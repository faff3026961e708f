"""boxen.common.importer: the launchers' shortcut gives the same modules as Python's import system."""

from __future__ import annotations

import os
import py_compile
import sys
import uuid

import pytest

from boxen.common.importer import CachedBytecodeFinder


@pytest.fixture
def package(tmp_path):
    """A fresh package ``name`` under ``tmp_path`` with a submodule, compiled; removed afterwards."""
    name = "imptest_" + uuid.uuid4().hex[:8]
    root = tmp_path / name
    (root / "sub").mkdir(parents=True)
    (root / "__init__.py").write_text("VALUE = 'package'\n")
    (root / "mod.py").write_text("from . import sub\nVALUE = 'module'\n")
    (root / "sub" / "__init__.py").write_text("VALUE = 'subpackage'\n")
    for path in (root / "__init__.py", root / "mod.py", root / "sub" / "__init__.py"):
        py_compile.compile(str(path), doraise=True)
    finder = CachedBytecodeFinder(str(tmp_path), name)
    sys.meta_path.insert(0, finder)
    yield name, root, finder
    sys.meta_path.remove(finder)
    for key in [k for k in sys.modules if k == name or k.startswith(name + ".")]:
        del sys.modules[key]


def test_modules_come_from_the_cached_bytecode_with_the_standard_attributes(package):
    name, root, finder = package
    mod = __import__(f"{name}.mod", fromlist=["VALUE"])
    pkg = sys.modules[name]
    assert (pkg.VALUE, mod.VALUE, mod.sub.VALUE) == ("package", "module", "subpackage")
    assert mod.__spec__.loader is finder and pkg.__spec__.loader is finder
    assert mod.__file__ == str(root / "mod.py")
    assert mod.__cached__ == str(root / "__pycache__" / f"mod.{sys.implementation.cache_tag}.pyc")
    assert pkg.__path__ == [str(root)] and not hasattr(mod, "__path__")
    assert mod.__package__ == name and pkg.__package__ == name


def test_a_stale_cache_is_left_to_the_standard_loader_which_reads_the_new_source(package):
    name, root, finder = package
    source = root / "mod.py"
    source.write_text("VALUE = 'edited, and longer than before'\n")
    os.utime(source, (1, 1))
    assert finder.find_spec(f"{name}.mod") is None
    assert __import__(f"{name}.mod", fromlist=["VALUE"]).VALUE == "edited, and longer than before"


def test_a_module_without_cache_is_left_to_the_standard_loader(package, monkeypatch):
    name, root, finder = package
    monkeypatch.setattr(sys, "dont_write_bytecode", False)  # as in the launchers (python -I)
    (root / "plain.py").write_text("VALUE = 'compiled by the standard loader'\n")
    assert finder.find_spec(f"{name}.plain") is None
    assert __import__(f"{name}.plain", fromlist=["VALUE"]).VALUE == "compiled by the standard loader"
    assert finder.find_spec(f"{name}.plain") is not None  # its bytecode is cached now


def test_a_hash_based_cache_is_left_to_the_standard_loader(package):
    name, root, finder = package
    py_compile.compile(str(root / "mod.py"), invalidation_mode=py_compile.PycInvalidationMode.CHECKED_HASH)
    assert finder.find_spec(f"{name}.mod") is None


def test_other_names_and_missing_modules_are_not_its_business(package):
    name, _root, finder = package
    assert finder.find_spec("json") is None
    assert finder.find_spec(name + "x") is None
    assert finder.find_spec(f"{name}.missing") is None
