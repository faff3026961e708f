"""Fixtures for the real-client tests: podman and containerd driving each runtime under test.

``runtime_path`` is parametrized with the runtimes of ``BOXEN_TEST_RUNTIMES`` (default
``boxen,runc,crun``; crun through its private-mount-namespace wrapper), each given to the client
as an absolute path. podman and containerd are private instances (see :mod:`support.peers`),
one per session, with the busybox image imported once.
"""

from __future__ import annotations

import os
import shutil

import pytest

from support import leaks
from support.peers import Containerd, Podman
from support.runtimes import Unavailable, make_runtime, selected_names


def pytest_generate_tests(metafunc):
    if "runtime_path" in metafunc.fixturenames:
        names, _ = selected_names()
        metafunc.parametrize("runtime_name", names, ids=names, scope="session")


@pytest.fixture(scope="session", autouse=True)
def _root_only():
    if os.geteuid() != 0:
        pytest.skip("the real-client tests need root")
    yield
    leaks.remove_cgroup_parent()


@pytest.fixture(scope="session")
def runtime_path(runtime_name, tmp_path_factory):
    _, explicit = selected_names()
    try:
        runtime = make_runtime(runtime_name, tmp_path_factory.mktemp(f"e2e-{runtime_name}"), explicit)
    except Unavailable as e:
        if e.skip:
            pytest.skip(str(e))
        pytest.fail(str(e), pytrace=False)
    return runtime.path


@pytest.fixture(scope="session")
def podman(tmp_path_factory):
    if shutil.which("podman") is None:
        pytest.skip("podman is not installed")
    instance = Podman(tmp_path_factory.mktemp("podman"))
    try:
        instance.import_busybox()
        yield instance
    finally:
        instance.cleanup()


@pytest.fixture(scope="session")
def containerd(tmp_path_factory):
    if shutil.which("containerd") is None or shutil.which("ctr") is None:
        pytest.skip("containerd is not installed")
    instance = Containerd(tmp_path_factory.mktemp("containerd"))
    try:
        instance.start()
        instance.import_busybox()
        yield instance
    finally:
        instance.stop()


@pytest.fixture(autouse=True)
def no_leaks(request, tmp_path_factory):
    daemons = set()
    if "containerd" in request.fixturenames:
        daemon = request.getfixturevalue("containerd").process
        daemons.add(daemon.pid)
    before = leaks.snapshot(tmp_path_factory.getbasetemp())
    yield
    left = leaks.check(before, ignore_pids=frozenset(daemons))
    if left:
        pytest.fail("the test left behind (now removed):\n  " + "\n  ".join(left), pytrace=False)
