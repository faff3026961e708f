"""Shared pytest set-up: markers are declared in pyproject.toml.

Tests under ``privileged/``, ``e2e/`` and ``conformance/`` get their marker from their
directory, so ``pytest -m "not privileged"`` works without decorating every test.
"""

import os
import pathlib

import pytest

_DIR_MARKERS = {"privileged": "privileged", "e2e": "e2e", "conformance": "conformance"}


def pytest_collection_modifyitems(config, items):
    for item in items:
        parts = pathlib.Path(str(item.fspath)).parts
        for directory, marker in _DIR_MARKERS.items():
            if directory in parts:
                item.add_marker(getattr(pytest.mark, marker))


@pytest.fixture
def require_root():
    if os.geteuid() != 0:
        pytest.skip("needs root")
