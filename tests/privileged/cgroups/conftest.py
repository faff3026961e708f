"""Fixtures for the privileged cgroup tests: a parent cgroup of our own in every hierarchy.

Every cgroup these tests make sits under ``boxen-test-<pid>`` (made here, in each v1 hierarchy
and in the cgroup2 hierarchy), so nothing else on the host is touched. The finalizer runs even
when a test fails: it kills the processes the test started (by pid) and any task left in our
cgroups, thaws frozen ones, and removes every directory deepest first, then the parent.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

ROOT = "/sys/fs/cgroup"
PARENT = f"boxen-test-{os.getpid()}"


def hierarchies() -> list[str]:
    """Mount points of the cgroup hierarchies directly under /sys/fs/cgroup (v1 and cgroup2)."""
    found = []
    with open("/proc/self/mountinfo") as f:
        for line in f:
            fields = line.split()
            fstype = fields[fields.index("-") + 1]
            if fstype in ("cgroup", "cgroup2") and os.path.dirname(fields[4]) == ROOT:
                found.append(fields[4])
    return found


def _tasks(directory: str) -> list[int]:
    pids = []
    for dirpath, _dirs, _files in os.walk(directory):
        try:
            with open(os.path.join(dirpath, "cgroup.procs")) as f:
                pids.extend(int(p) for p in f.read().split())
        except OSError:
            pass
    return pids


def _thaw(directory: str) -> None:
    for dirpath, _dirs, files in os.walk(directory):
        for name, value in (("freezer.state", "THAWED"), ("cgroup.freeze", "0")):
            if name in files:
                try:
                    with open(os.path.join(dirpath, name), "w") as f:
                        f.write(value)
                except OSError:
                    pass


def remove_tree(directory: str) -> list[str]:
    """Kill what is left in our cgroup tree, then remove it deepest first; returns what stayed."""
    if not os.path.isdir(directory):
        return []
    _thaw(directory)
    for _ in range(50):
        pids = _tasks(directory)
        if not pids:
            break
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        time.sleep(0.05)
    left = []
    for dirpath, _dirs, _files in sorted(os.walk(directory), key=lambda t: -len(t[0])):
        for _ in range(20):
            try:
                os.rmdir(dirpath)
                break
            except FileNotFoundError:
                break
            except OSError:
                time.sleep(0.05)
        else:
            left.append(dirpath)
    return left


class Scope:
    """One test's cgroups: ``path`` (``/boxen-test-<pid>/<name>``) and the children it started."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.path = f"/{PARENT}/{name}"
        self.children: list[subprocess.Popen] = []

    def spawn(self, argv: list[str], join=None, **kw) -> subprocess.Popen:
        """Start ``argv``; ``join`` (a manager) moves the child into the cgroup before it execs."""
        if join is not None:
            kw["preexec_fn"] = lambda: join.join(0)
        child = subprocess.Popen(argv, **kw)
        self.children.append(child)
        return child

    def python(self, code: str, join=None) -> subprocess.CompletedProcess:
        """Run ``python -c code`` in the cgroup and wait for it."""
        child = self.spawn([sys.executable, "-c", code], join=join, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           text=True)
        out, err = child.communicate(timeout=60)
        return subprocess.CompletedProcess(child.args, child.returncode, out, err)


@pytest.fixture(scope="session")
def cgroup_parent():
    if os.geteuid() != 0:
        pytest.skip("needs root to make cgroups")
    mounts = hierarchies()
    if not any(m.endswith("/devices") for m in mounts):
        pytest.skip("no cgroup v1 devices hierarchy at /sys/fs/cgroup/devices (these tests are for a v1 host)")
    made = []
    for mount in mounts:
        path = os.path.join(mount, PARENT)
        if not os.path.isdir(path):
            os.mkdir(path)
            made.append(path)
    yield mounts
    left = [d for path in made for d in remove_tree(path)]
    assert not left, f"could not remove {left}"


@pytest.fixture
def scope(cgroup_parent, request):
    s = Scope(request.node.name.replace("[", "-").replace("]", "").replace("/", "-")[:60])
    yield s
    for child in s.children:
        if child.poll() is None:
            child.kill()
        try:
            child.wait(timeout=10)
        except subprocess.TimeoutExpired:
            pass
    left = [d for mount in cgroup_parent for d in remove_tree(os.path.join(mount, PARENT, s.name))]
    assert not left, f"could not remove {left}"
