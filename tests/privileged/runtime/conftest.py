"""Fixtures for boxen-runtime's own privileged tests: a boxen runtime with a private root."""

import os
import uuid

import pytest

from support import leaks
from support.runtimes import Unavailable, make_runtime


@pytest.fixture
def boxen(tmp_path_factory):
    if os.geteuid() != 0:
        pytest.skip("needs root")
    try:
        rt = make_runtime("boxen", tmp_path_factory.mktemp("boxen"), explicit=True)
    except Unavailable as exc:
        pytest.fail(str(exc), pytrace=False)
    before = leaks.snapshot()
    yield rt
    rt.cleanup()
    left = leaks.check(before)
    leaks.remove_cgroup_parent()
    if left:
        pytest.fail("the test left behind (now removed):\n  " + "\n  ".join(left), pytrace=False)


@pytest.fixture
def cid():
    return f"sec-{uuid.uuid4().hex[:8]}"
