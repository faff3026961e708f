"""Namespaces: created when ``linux.namespaces[]`` has no ``path``, joined when it has one.

A namespace gives a process its own view of one kernel resource: process ids (pid), network
stack (network), System V IPC (ipc), host and domain name (uts), mount table (mount), user and
group ids (user), cgroup root (cgroup). Every process's namespaces are the links in
``/proc/<pid>/ns``; two processes share a namespace when the links are equal. An entry without
``path`` makes the runtime create a new namespace; with ``path`` (``/proc/<pid>/ns/net``, a
bind-mounted nsfs file) it joins that one; a type that is not listed is inherited from the
runtime. A user namespace maps container ids to host ids through ``uidMappings`` and
``gidMappings`` (``/proc/<pid>/uid_map``: ``containerID hostID size``).
"""

from __future__ import annotations

import os

from support.bundle import base_config, make_traversable
from support.probe import namespaces, parse_status

SLEEP = ["sleep", "600"]


def _running(runtime, bundle, cid, **overrides) -> int:
    runtime.run(cid, bundle(args=SLEEP, **overrides), "--detach").check()
    return runtime.state(cid)["pid"]


def test_listed_namespaces_are_new_and_others_inherited(runtime, bundle, cid):
    pid = _running(runtime, bundle, cid)
    inside, host = namespaces(pid), namespaces(os.getpid())
    for ns in ("pid", "net", "ipc", "uts", "mnt"):
        assert inside[ns] != host[ns], ns
    for ns in ("user", "cgroup"):
        assert inside[ns] == host[ns], ns


def test_cgroup_namespace(runtime, bundle, cid):
    linux = base_config()["linux"]
    linux["namespaces"].append({"type": "cgroup"})
    result = runtime.run(cid, bundle(args=["cat", "/proc/self/cgroup"], linux=linux)).check()
    paths = {line.split(":", 2)[2] for line in result.stdout.splitlines() if line}
    assert paths == {"/"}


def test_joining_namespaces_by_path(runtime, bundle, cid):
    first = _running(runtime, bundle, cid)
    linux = base_config()["linux"]
    linux["namespaces"] = [{"type": "pid"}, {"type": "mount"}, {"type": "uts"},
                           {"type": "network", "path": f"/proc/{first}/ns/net"},
                           {"type": "ipc", "path": f"/proc/{first}/ns/ipc"}]
    second = _running(runtime, bundle, cid + "-2", linux=linux)
    a, b = namespaces(first), namespaces(second)
    assert (b["net"], b["ipc"]) == (a["net"], a["ipc"])
    assert b["uts"] != a["uts"] and b["pid"] != a["pid"]


def test_joining_a_path_that_is_not_a_namespace_fails(runtime, bundle, cid, tmp_path):
    (tmp_path / "notns").write_text("")
    linux = base_config()["linux"]
    linux["namespaces"] = [{"type": "pid"}, {"type": "mount"},
                           {"type": "network", "path": str(tmp_path / "notns")}]
    assert runtime.run(cid, bundle(args=["true"], linux=linux)).returncode != 0
    assert runtime("state", cid).returncode == 1


def test_joining_a_namespace_of_the_wrong_type_fails(runtime, bundle, cid):
    linux = base_config()["linux"]
    linux["namespaces"] = [{"type": "pid"}, {"type": "mount"},
                           {"type": "network", "path": f"/proc/{os.getpid()}/ns/ipc"}]
    assert runtime.run(cid, bundle(args=["true"], linux=linux)).returncode != 0


def test_user_namespace_with_mappings(runtime, bundle, cid):
    linux = base_config()["linux"]
    linux["namespaces"].append({"type": "user"})
    linux["uidMappings"] = [{"containerID": 0, "hostID": 200000, "size": 65536}]
    linux["gidMappings"] = [{"containerID": 0, "hostID": 200000, "size": 65536}]
    script = "cat /proc/self/uid_map /proc/self/gid_map; id -u; sleep 600"
    mounts = [m for m in base_config()["mounts"] if m["destination"] != "/sys/fs/cgroup"]
    path = bundle(args=["sh", "-c", script], linux=linux, mounts=mounts)
    make_traversable(path)
    runtime.run(cid, path, "--detach").check()
    pid = runtime.state(cid)["pid"]
    with open(f"/proc/{pid}/uid_map") as f:
        assert f.read().split() == ["0", "200000", "65536"]
    with open(f"/proc/{pid}/gid_map") as f:
        assert f.read().split() == ["0", "200000", "65536"]
    with open(f"/proc/{pid}/status") as f:
        status = parse_status(f.read())
    assert status.uid[0] == 200000 and status.gid[0] == 200000
    assert namespaces(pid)["user"] != namespaces(os.getpid())["user"]


def test_user_namespace_without_mappings_fails(runtime, bundle, cid):
    linux = base_config()["linux"]
    linux["namespaces"].append({"type": "user"})
    assert runtime.run(cid, bundle(args=["true"], linux=linux)).returncode != 0
