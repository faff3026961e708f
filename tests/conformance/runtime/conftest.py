"""Fixtures for the runtime conformance suite: one parametrized ``runtime`` per selected runtime.

Every test that asks for ``runtime`` runs once per name in ``BOXEN_TEST_RUNTIMES`` (default
``boxen,runc,crun``). Each gets a private state root, a fresh container id (``cid``), a
``bundle`` factory, and a leak check that fails the test if it left mounts, cgroups, network
namespaces or processes behind (after removing them).

Where a peer breaks a rule of the spec, the test asserts the spec's rule and marks that peer's
run ``xfail(strict=True)`` with :func:`deviation`, so the day the peer is fixed the suite says so;
boxen is never marked.
"""

from __future__ import annotations

import os
import uuid

import pytest

from support import leaks
from support.bundle import base_config, make_bundle
from support.probe import PROBE_SCRIPT, parse_report
from support.runtimes import Unavailable, make_runtime, selected_names


def pytest_generate_tests(metafunc):
    if "runtime" in metafunc.fixturenames:
        names, _ = selected_names()
        metafunc.parametrize("runtime_name", names, ids=names)


@pytest.fixture(scope="session", autouse=True)
def _root_only():
    if os.geteuid() != 0:
        pytest.skip("the runtime conformance suite needs root")
    yield
    leaks.remove_cgroup_parent()


@pytest.fixture(autouse=True)
def no_leaks(tmp_path_factory):
    before = leaks.snapshot(tmp_path_factory.getbasetemp())
    yield
    left = leaks.check(before)
    if left:
        pytest.fail("the test left behind (now removed):\n  " + "\n  ".join(left), pytrace=False)


@pytest.fixture
def runtime(runtime_name, tmp_path_factory):
    _, explicit = selected_names()
    try:
        rt = make_runtime(runtime_name, tmp_path_factory.mktemp(f"rt-{runtime_name}"), explicit)
    except Unavailable as e:
        if e.skip:
            pytest.skip(str(e))
        pytest.fail(str(e), pytrace=False)
    yield rt
    rt.cleanup()


@pytest.fixture
def cid():
    return f"bx-{uuid.uuid4().hex[:10]}"


@pytest.fixture
def bundle(tmp_path):
    """``bundle(config=None, args=None, **overrides) -> path``: a fresh bundle per call."""
    count = iter(range(1000))

    def make(config=None, args=None, **overrides):
        if config is None:
            config = base_config(args, **overrides)
        return make_bundle(tmp_path, config, name=f"bundle{next(count)}")

    return make


@pytest.fixture
def probe(runtime, bundle, tmp_path):
    """``probe(config_overrides..., flags=()) -> Report``: run PROBE_SCRIPT as the container."""
    count = iter(range(1000))

    def run(flags=(), **overrides):
        path = bundle(args=["sh", "-c", PROBE_SCRIPT], **overrides)
        result = runtime.run(f"probe-{next(count)}-{uuid.uuid4().hex[:6]}", path, *flags)
        result.check()
        return parse_report(result.stdout)

    return run


@pytest.fixture
def deviation(request, runtime):
    """``deviation(runc="why", crun="why")``: expect this test to fail for the named peers.

    ``racy=True`` is for a peer that deviates only when it loses a race: the test may pass.
    """

    def mark(racy: bool = False, **peers: str):
        if runtime.name == "boxen":
            return
        reason = peers.get(runtime.name)
        if reason:
            request.node.add_marker(pytest.mark.xfail(strict=not racy, reason=f"{runtime.name}: {reason}"))

    return mark
