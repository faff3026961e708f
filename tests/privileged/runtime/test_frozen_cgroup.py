"""A cgroup that cannot work ends ``create`` with an error, never a hang, and leaves nothing.

A container's first process joins its cgroup before it does anything else; in a frozen cgroup
(v1 ``freezer.state`` FROZEN, or a frozen parent) it would stop right there, and ``run -d``
would wait for it for ever. runc refuses such a cgroup ("container's cgroup unexpectedly
frozen"); so does boxen, before it forks, and the frozen cgroup, which is not its own, stays.
"""

import os
import subprocess
import time

import pytest

from support.bundle import CGROUP_PARENT, base_config, make_bundle

FREEZER = "/sys/fs/cgroup/freezer"


def _write(path: str, value: str) -> None:
    with open(path, "w") as f:
        f.write(value)


@pytest.fixture
def frozen(boxen, cid):
    """A frozen v1 freezer cgroup under the session's parent, with a process in it; removed after."""
    if not os.path.isfile(f"{FREEZER}/freezer.state") and not os.path.isdir(FREEZER):
        pytest.skip(f"no cgroup v1 freezer hierarchy at {FREEZER}")
    directory = f"{FREEZER}{CGROUP_PARENT}/{cid}-frozen"
    os.makedirs(directory)
    sleeper = subprocess.Popen(["sleep", "600"], preexec_fn=lambda: _write(f"{directory}/tasks", "0"))  # noqa: PLW1509
    try:
        _write(f"{directory}/freezer.state", "FROZEN")
        for _ in range(500):
            with open(f"{directory}/freezer.state") as f:
                if f.read().strip() == "FROZEN":
                    break
            time.sleep(0.01)
        yield directory
    finally:
        _write(f"{directory}/freezer.state", "THAWED")
        sleeper.kill()
        sleeper.wait()
        for level in (f"{directory}/ctr", directory):
            for _ in range(100):
                try:
                    os.rmdir(level)
                    break
                except FileNotFoundError:
                    break
                except OSError:
                    time.sleep(0.02)


@pytest.mark.parametrize("where", ["own", "parent"])
def test_run_detached_in_a_frozen_cgroup_fails_and_leaves_nothing(boxen, cid, tmp_path, frozen, where):
    path = frozen[len(FREEZER):] + ("/ctr" if where == "parent" else "")
    config = base_config(["sleep", "600"])
    config["linux"]["cgroupsPath"] = path
    bundle = make_bundle(tmp_path, config)
    result = boxen.run(cid, bundle, "--detach", timeout=30)
    assert result.returncode == 1
    assert "unexpectedly frozen" in result.stderr and "freezer.state" in result.stderr
    assert boxen.ids() == []
    assert os.path.isdir(frozen)  # not ours: it stays, with its frozen process
    assert not os.path.exists(f"{frozen}/ctr")
    for mount in os.listdir("/sys/fs/cgroup"):
        assert not os.path.exists(f"/sys/fs/cgroup/{mount}{path}") or mount == "freezer", mount
