"""Fixtures for boxen-runtime's own privileged tests: boxen (and runc, to compare) with private roots.

``side_by_side`` runs a test once with boxen and once with runc 1.1, where runc's behaviour is
the contract that managers are written against; a host without runc skips the runc run.
"""

import os
import uuid

import pytest

from support import leaks
from support.runtimes import Unavailable, make_runtime


def _runtime(name, tmp_path_factory):
    if os.geteuid() != 0:
        pytest.skip("needs root")
    try:
        rt = make_runtime(name, tmp_path_factory.mktemp(name), explicit=name == "boxen")
    except Unavailable as exc:
        if name != "boxen" and exc.skip:
            pytest.skip(str(exc))
        pytest.fail(str(exc), pytrace=False)
    before = leaks.snapshot()
    yield rt
    rt.cleanup()
    left = leaks.check(before)
    leaks.remove_cgroup_parent()
    if left:
        pytest.fail("the test left behind (now removed):\n  " + "\n  ".join(left), pytrace=False)


@pytest.fixture
def boxen(tmp_path_factory):
    yield from _runtime("boxen", tmp_path_factory)


@pytest.fixture(params=["boxen", "runc"])
def side_by_side(request, tmp_path_factory):
    yield from _runtime(request.param, tmp_path_factory)


@pytest.fixture
def cid():
    return f"sec-{uuid.uuid4().hex[:8]}"
