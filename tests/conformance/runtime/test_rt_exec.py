"""``exec``: a further process in a running container's namespaces and cgroups.

``exec`` is runc's verb, not the spec's: it joins the namespaces of the container's init
(``setns`` on ``/proc/<pid>/ns/*``), enters its cgroups, and runs a process described either by
arguments and flags (``--env``, ``--cwd``, ``--user uid[:gid]``, ``--cap``, ``--no-new-privs``,
``--preserve-fds``, ``--pid-file``, ``--detach``) or by a ``process.json`` (``--process``), the
same object as ``config.json``'s ``process``. Its exit code is the process's.
"""

from __future__ import annotations

import json
import os

from support.bundle import base_config
from support.probe import alive, cgroup_paths, parse_status

SLEEP = ["sleep", "600"]


def _running(runtime, bundle, cid, **overrides):
    runtime.run(cid, bundle(args=SLEEP, **overrides), "--detach").check()
    return runtime.state(cid)["pid"]


def _status(runtime, cid, *flags) -> object:
    result = runtime.exec(cid, "sh", "-c", "cat /proc/$$/status", flags=flags).check()
    return parse_status(result.stdout)


def test_exec_runs_in_the_container(runtime, bundle, cid):
    pid = _running(runtime, bundle, cid)
    result = runtime.exec(cid, "sh", "-c",
                          "hostname; readlink /proc/self/ns/net; readlink /proc/self/ns/mnt")
    hostname, netns, mntns = result.check().stdout.split()
    assert hostname == "runc"
    assert (netns, mntns) == (os.readlink(f"/proc/{pid}/ns/net"), os.readlink(f"/proc/{pid}/ns/mnt"))


def test_exec_exit_code(runtime, bundle, cid):
    _running(runtime, bundle, cid)
    assert runtime.exec(cid, "sh", "-c", "exit 5").returncode == 5


def test_exec_env_and_cwd(runtime, bundle, cid):
    _running(runtime, bundle, cid)
    result = runtime.exec(cid, "/bin/sh", "-c", "echo $FOO; pwd",
                          flags=("--env", "FOO=bar", "--cwd", "/tmp")).check()
    assert result.stdout.split() == ["bar", "/tmp"]


def test_exec_env_adds_to_the_container_environment(runtime, bundle, cid, deviation):
    deviation(crun="crun 1.8.1 exec --env replaces the container's environment (PATH is lost)")
    _running(runtime, bundle, cid)
    result = runtime.exec(cid, "/bin/sh", "-c", "echo $FOO $PATH", flags=("--env", "FOO=bar"))
    assert result.check().stdout.split() == ["bar", base_config()["process"]["env"][0][5:]]


def test_exec_user(runtime, bundle, cid):
    _running(runtime, bundle, cid)
    status = _status(runtime, cid, "--user", "1000:1000")
    assert status.uid[0] == 1000 and status.gid[0] == 1000


def test_exec_cap_adds_a_capability(runtime, bundle, cid):
    _running(runtime, bundle, cid)
    status = _status(runtime, cid, "--cap", "CAP_SYS_ADMIN")
    assert "CAP_SYS_ADMIN" in status.caps["effective"]
    assert "CAP_SYS_ADMIN" in status.caps["bounding"]
    assert "CAP_SYS_ADMIN" not in _status(runtime, cid).caps["effective"]


def test_exec_no_new_privs(runtime, bundle, cid):
    _running(runtime, bundle, cid, process={"noNewPrivileges": False})
    assert _status(runtime, cid).no_new_privs == 0
    assert _status(runtime, cid, "--no-new-privs").no_new_privs == 1


def test_exec_process_file(runtime, bundle, cid, tmp_path):
    _running(runtime, bundle, cid)
    process = base_config(["sh", "-c", "echo $FROMFILE; pwd; id -u"])["process"]
    process.update(env=["FROMFILE=yes", "PATH=/bin:/usr/bin"], cwd="/etc",
                   user={"uid": 1000, "gid": 1000})
    spec = tmp_path / "process.json"
    spec.write_text(json.dumps(process))
    result = runtime.exec(cid, flags=("--process", spec)).check()
    assert result.stdout.split() == ["yes", "/etc", "1000"]


def test_exec_detach_and_pid_file(runtime, bundle, cid, tmp_path):
    _running(runtime, bundle, cid)
    pid_file = tmp_path / "exec.pid"
    runtime.exec(cid, "sleep", "300", flags=("--detach", "--pid-file", pid_file)).check()
    pid = int(pid_file.read_text())
    assert alive(pid)
    assert pid in runtime.ps(cid, "--format", "json").check().json()


def test_exec_joins_every_cgroup_of_the_container(runtime, bundle, cid, tmp_path):
    init = _running(runtime, bundle, cid)
    pid_file = tmp_path / "exec.pid"
    runtime.exec(cid, "sleep", "300", flags=("--detach", "--pid-file", pid_file)).check()
    assert cgroup_paths(int(pid_file.read_text())) == cgroup_paths(init)  # the cgroup2 hierarchy too, if any


def test_exec_preserve_fds(runtime, bundle, cid, tmp_path):
    _running(runtime, bundle, cid)
    out = tmp_path / "fd3"
    with open(out, "w") as f:
        runtime.exec(cid, "sh", "-c", "echo via-exec >&3", flags=("--preserve-fds", "1"),
                     extra_fds=[f.fileno()]).check()
    assert out.read_text() == "via-exec\n"


def test_exec_in_a_stopped_container_fails(runtime, bundle, cid):
    runtime.create(cid, bundle(args=["true"])).check()
    runtime.start(cid).check()
    assert runtime.wait_status(cid, "stopped") == "stopped"
    assert runtime.exec(cid, "true").returncode != 0


def test_exec_in_an_unknown_container_fails(runtime, cid):
    assert runtime.exec(cid, "true").returncode != 0
