"""The v2 manager on the real cgroup2 hierarchy, seen as a pure v2 host.

This host is hybrid: its cgroup2 hierarchy is mounted at /sys/fs/cgroup/unified and owns only
the hugetlb controller (and that one is not enabled for children). Each test runs a scenario of
``v2_scenarios.py`` in a child process made like this::

    echo $$ > /sys/fs/cgroup/unified/boxen-test-<pid>/<test>/cgroup.procs   # our cgroup
    unshare --mount --propagation private --cgroup \\                        # new views of both
        sh -c 'umount -l /sys/fs/cgroup; mount -t cgroup2 cgroup2 /sys/fs/cgroup; exec python ...'

The new cgroup namespace makes the test's cgroup the root of the cgroup2 mount, so the scenario
sees a v2 host at /sys/fs/cgroup and can change nothing above its own cgroup. cgroup.procs,
cgroup.freeze, cgroup.kill, cgroup.events, device eBPF programs and clone3(CLONE_INTO_CGROUP)
work without controllers; the memory, pids, cpu and OOM tests skip with the missing
controller's name when it is not there (this host's cgroup2 has none for children).
"""

from __future__ import annotations

import errno
import json
import os
import shutil
import subprocess
import sys

import pytest

ROOT = "/sys/fs/cgroup"
HELPER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "v2_scenarios.py")


def _scenario(scope, *args: str) -> dict:
    if not os.path.isdir(f"{ROOT}/unified"):
        pytest.skip("no cgroup2 hierarchy at /sys/fs/cgroup/unified to test the v2 manager on")
    if shutil.which("unshare") is None:
        pytest.skip("unshare(1) is not installed")
    ns_root = os.path.join(ROOT, "unified", scope.path.lstrip("/"))
    os.mkdir(ns_root)

    def enter() -> None:
        with open(os.path.join(ns_root, "cgroup.procs"), "w") as f:
            f.write("0")

    script = 'umount -l /sys/fs/cgroup && mount -t cgroup2 cgroup2 /sys/fs/cgroup && exec "$0" "$@"'
    child = scope.spawn(["unshare", "--mount", "--propagation", "private", "--cgroup", "sh", "-c", script,
                         sys.executable, HELPER, *args], preexec_fn=enter, stdout=subprocess.PIPE,
                        stderr=subprocess.PIPE, text=True)
    out, err = child.communicate(timeout=120)
    assert child.returncode == 0, f"scenario {args} failed:\n{err}"
    result = json.loads(out.strip().splitlines()[-1])
    if "skip" in result:
        pytest.skip(result["skip"])
    return result


def test_detected_as_v2_with_paths_like_runc(scope):
    result = _scenario(scope, "layout")
    assert result["ok"][0].startswith("cgroup v2: one unified hierarchy at /sys/fs/cgroup")
    assert result["ok"][1] == "the container's cgroup: /sys/fs/cgroup/ctr"


def test_join_freeze_kill_and_remove(scope):
    result = _scenario(scope, "lifecycle")
    assert result["frozen"] == [True, True]
    assert result["thawed"] is True
    assert result["killed"] == -9
    assert result["pids"] == {"current": 1}
    assert result["removed"] is True


def test_device_filter_is_enforced_and_replaced_on_update(scope):
    result = _scenario(scope, "devices")
    # /dev/null rw, /dev/null r, /dev/kmsg r, /dev/kmsg w
    assert result["before"] == f"ok ok ok {errno.EPERM}"
    assert result["after"] == f"{errno.EPERM} ok {errno.EPERM} {errno.EPERM}"
    assert result["programs"] == [1, 1] and result["replaced"]


@pytest.mark.parametrize("controller", ["memory", "pids", "cpu"])
def test_controller_limits(scope, controller):
    result = _scenario(scope, "controller", controller)
    assert result["ok"], result["seen"]


def test_the_init_is_born_in_its_cgroup(scope):
    release = tuple(int(part) for part in os.uname().release.split("-")[0].split(".")[:2])
    if release < (5, 7):
        pytest.skip(f"Linux {os.uname().release} has no clone3(CLONE_INTO_CGROUP) (5.7): the init joins after")
    result = _scenario(scope, "born")
    assert result["born_in"] == "/sys/fs/cgroup/ctr"
    assert "0::/ctr" in result["cgroup"].splitlines()  # the child's first look at its cgroup
    assert result["status"] == 0


def test_a_frozen_cgroup_is_refused_and_kept(scope):
    result = _scenario(scope, "frozen")
    assert len(result["refused"]) == 2, result["refused"]
    assert all("unexpectedly frozen" in message for message in result["refused"]), result["refused"]


def test_an_oom_kill_is_counted_and_reported(scope):
    result = _scenario(scope, "oom")
    assert result["returncode"] == -9
    assert result["fired"] is True
    assert "oom_kill 1" in result["events"].splitlines()
