"""A cgroup that cannot work ends ``create`` with an error, never a hang, and leaves nothing.

A container's first process joins its cgroup (or, on cgroup2, is born in it) before it does
anything else; in a frozen cgroup (v1 ``freezer.state`` FROZEN, cgroup2 ``cgroup.freeze`` 1,
or a frozen parent) it would stop right there, and ``run -d`` would wait for it for ever. runc
refuses such a cgroup ("container's cgroup unexpectedly frozen"); so does boxen, before it
forks, and the frozen cgroup, which is not its own, stays as it was.
"""

import os
import subprocess
import time

import pytest

from support.bundle import CGROUP_PARENT, base_config, make_bundle

#: hierarchy -> (file a process joins by, freeze file and value, thaw value, file and line once frozen)
HIERARCHIES = {
    "freezer": ("tasks", "freezer.state", "FROZEN", "THAWED", "freezer.state", "FROZEN"),
    "unified": ("cgroup.procs", "cgroup.freeze", "1", "0", "cgroup.events", "frozen 1"),
}


def _write(path: str, value: str) -> None:
    with open(path, "w") as f:
        f.write(value)


@pytest.fixture(params=sorted(HIERARCHIES))
def frozen(request, boxen, cid):
    """(mount, frozen cgroup) under the session's parent, with a process in it; removed after."""
    mount = f"/sys/fs/cgroup/{request.param}"
    join, freeze, value, thawed, check, line = HIERARCHIES[request.param]
    if not os.path.exists(f"{mount}/{join}"):
        pytest.skip(f"no cgroup hierarchy with {join} at {mount}")
    directory = f"{mount}{CGROUP_PARENT}/{cid}-frozen"
    os.makedirs(directory)
    sleeper = subprocess.Popen(["sleep", "600"], preexec_fn=lambda: _write(f"{directory}/{join}", "0"))  # noqa: PLW1509
    try:
        _write(f"{directory}/{freeze}", value)
        for _ in range(500):
            with open(f"{directory}/{check}") as f:
                if line in f.read().splitlines():
                    break
            time.sleep(0.01)
        yield mount, directory
    finally:
        _write(f"{directory}/{freeze}", thawed)
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
    mount, directory = frozen
    path = directory[len(mount):] + ("/ctr" if where == "parent" else "")
    config = base_config(["sleep", "600"])
    config["linux"]["cgroupsPath"] = path
    bundle = make_bundle(tmp_path, config)
    result = boxen.run(cid, bundle, "--detach", timeout=30)
    assert result.returncode == 1
    assert "unexpectedly frozen" in result.stderr, result.stderr
    assert boxen.ids() == []
    assert os.path.isdir(directory)  # not ours: it stays, with its frozen process
    assert not os.path.exists(f"{directory}/ctr")
    for hierarchy in os.listdir("/sys/fs/cgroup"):
        leftover = f"/sys/fs/cgroup/{hierarchy}{path}"
        assert not os.path.exists(leftover) or leftover == directory, leftover


@pytest.mark.parametrize("hierarchy", sorted(HIERARCHIES))
def test_a_cgroup_frozen_while_the_init_is_set_up_ends_create_not_hangs(boxen, cid, tmp_path, hierarchy):
    """Frozen after ``create`` checked it (here by a prestart hook, which runs once the init is in
    the cgroup), the init stops where it stands: ``create`` notices instead of waiting for ever,
    and leaves nothing, the cgroup it made included."""
    mount = f"/sys/fs/cgroup/{hierarchy}"
    join, freeze, value, *_ = HIERARCHIES[hierarchy]
    if not os.path.exists(f"{mount}/{join}"):
        pytest.skip(f"no cgroup hierarchy with {join} at {mount}")
    path = f"{CGROUP_PARENT}/{cid}"
    config = base_config(["true"])
    config["linux"]["cgroupsPath"] = path
    config["hooks"] = {"prestart": [{"path": "/bin/sh", "args": ["sh", "-c", f"echo {value} > {mount}{path}/{freeze}"]}]}
    result = boxen.run(cid, make_bundle(tmp_path, config), "--detach", timeout=30)
    assert result.returncode == 1
    assert "unexpectedly frozen" in result.stderr, result.stderr
    assert boxen.ids() == []
    for name in os.listdir("/sys/fs/cgroup"):
        assert not os.path.exists(f"/sys/fs/cgroup/{name}{path}"), name
