"""The container process as ``config.json``'s ``process`` describes it, observed from inside.

A runtime sets the process's credentials (``user.uid``, ``gid``, ``additionalGids``, ``umask``),
its capability sets, ``no_new_privs``, rlimits, ``oom_score_adj``, environment and working
directory, and the UTS namespace's hostname and domainname, then calls ``execve``.

Capabilities are observed *after* that ``execve``, so the kernel's rules apply
(capabilities(7)): the bounding and inheritable sets pass through unchanged; for a non-root user
executing an ordinary file the new permitted and effective sets are exactly the ambient set;
for uid 0 (without ``SECBIT_NOROOT``) the file counts as having every capability, so permitted
and effective become inheritable | bounding. The spec's five sets are therefore checked with a
non-root user, and root only for what root keeps.
"""

from __future__ import annotations

import array
import os
import socket
import threading

import pytest

from support.probe import PROBE_SCRIPT, parse_report, parse_status

CAPS_B = ["CAP_CHOWN", "CAP_KILL", "CAP_NET_BIND_SERVICE", "CAP_NET_RAW", "CAP_SETUID", "CAP_SETGID"]


def _caps(bounding, effective, permitted, inheritable, ambient):
    return {"bounding": bounding, "effective": effective, "permitted": permitted,
            "inheritable": inheritable, "ambient": ambient}


def test_default_process(probe):
    report = probe()
    runc_caps = {"CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"}
    assert report.status.caps["bounding"] == runc_caps
    assert report.status.caps["effective"] == runc_caps
    assert report.status.caps["permitted"] == runc_caps
    assert report.status.uid == (0, 0, 0, 0) and report.status.gid == (0, 0, 0, 0)
    assert report.status.no_new_privs == 1
    assert report.status.seccomp == 0
    assert report.hostname == "runc"
    assert report.cwd == "/"
    assert report.umask == 0o022
    assert report.limits["RLIMIT_NOFILE"] == ("1024", "1024")
    assert report.env["PATH"].startswith("/usr/local/sbin")
    assert report.env["TERM"] == "xterm"


def test_all_five_capability_sets_for_a_user(probe):
    ambient = ["CAP_KILL", "CAP_NET_BIND_SERVICE"]
    report = probe(process={
        "user": {"uid": 1000, "gid": 1000},
        "capabilities": _caps(CAPS_B, ambient, ambient + ["CAP_CHOWN"], ambient, ambient),
    })
    caps = report.status.caps
    assert caps["bounding"] == set(CAPS_B)
    assert caps["inheritable"] == set(ambient)
    assert caps["ambient"] == set(ambient)
    assert caps["permitted"] == set(ambient)
    assert caps["effective"] == set(ambient)


def test_a_user_without_ambient_capabilities_has_none_after_exec(probe):
    report = probe(process={
        "user": {"uid": 1000, "gid": 1000},
        "capabilities": _caps(CAPS_B, ["CAP_KILL"], ["CAP_KILL"], [], []),
    })
    caps = report.status.caps
    assert caps["bounding"] == set(CAPS_B)
    assert caps["permitted"] == caps["effective"] == caps["ambient"] == caps["inheritable"] == set()


@pytest.mark.parametrize("no_new_privs", [False, True])
def test_root_capabilities(probe, no_new_privs):
    report = probe(process={"noNewPrivileges": no_new_privs, "capabilities": _caps(
        CAPS_B, ["CAP_CHOWN"], ["CAP_CHOWN"], ["CAP_KILL"], [])})
    caps = report.status.caps
    assert caps["bounding"] == set(CAPS_B)
    assert caps["inheritable"] == {"CAP_KILL"}
    # no_new_privs stops execve from granting root more than it had
    expected = {"CAP_CHOWN"} if no_new_privs else set(CAPS_B)
    assert caps["permitted"] == caps["effective"] == expected


def test_no_capabilities(probe):
    report = probe(process={"capabilities": _caps([], [], [], [], [])})
    assert all(not s for s in report.status.caps.values())


def test_unknown_capability_is_an_error(runtime, bundle, cid, deviation):
    deviation(runc="runc 1.1.5 warns about an unknown capability and runs the container",
              crun="crun 1.8.1 ignores an unknown capability")
    path = bundle(args=["true"], process={"capabilities": _caps(
        ["CAP_KILL", "CAP_BOXEN_UNKNOWN"], ["CAP_KILL"], ["CAP_KILL"], [], [])})
    assert runtime.run(cid, path).returncode != 0


def test_user_groups_and_umask(probe):
    report = probe(process={"user": {"uid": 1000, "gid": 1000, "additionalGids": [29, 5],
                                     "umask": 0o077}})
    assert report.status.uid == (1000, 1000, 1000, 1000)
    assert report.status.gid == (1000, 1000, 1000, 1000)
    assert report.status.groups == (5, 29)
    assert report.identity.uid == 1000 and report.identity.gid == 1000
    assert report.umask == 0o077


def test_user_without_additional_gids_has_no_supplementary_groups(probe):
    report = probe(process={"user": {"uid": 1000, "gid": 1000}})
    assert report.status.groups == ()


def test_home_comes_from_passwd_when_unset(probe):
    report = probe(process={"user": {"uid": 1000, "gid": 1000}})
    assert report.env["HOME"] == "/home/boxen"


def test_env_is_passed_exactly(probe):
    env = ["PATH=/bin:/usr/bin", "A=1", "EMPTY=", "SPACED=a b  c", "HOME=/tmp"]
    report = probe(process={"env": env})
    assert report.env == dict(e.split("=", 1) for e in env)


def test_cwd(probe):
    assert probe(process={"cwd": "/tmp"}).cwd == "/tmp"


def test_relative_cwd_is_an_error(runtime, bundle, cid, deviation):
    deviation(crun="crun 1.8.1 accepts a relative process.cwd (the spec requires an absolute path)")
    assert runtime.run(cid, bundle(args=["true"], process={"cwd": "tmp"})).returncode != 0


def test_rlimits(probe):
    report = probe(process={"rlimits": [
        {"type": "RLIMIT_NOFILE", "soft": 512, "hard": 1000},
        {"type": "RLIMIT_CORE", "soft": 0, "hard": 4096},
        {"type": "RLIMIT_NPROC", "soft": 1000, "hard": 2000},
        {"type": "RLIMIT_AS", "soft": 2**64 - 1, "hard": 2**64 - 1},  # RLIM_INFINITY
    ]})
    assert report.limits["RLIMIT_NOFILE"] == ("512", "1000")
    assert report.limits["RLIMIT_CORE"] == ("0", "4096")
    assert report.limits["RLIMIT_NPROC"] == ("1000", "2000")
    assert report.limits["RLIMIT_AS"] == ("unlimited", "unlimited")


def test_unknown_rlimit_is_an_error(runtime, bundle, cid):
    path = bundle(args=["true"], process={"rlimits": [{"type": "RLIMIT_BOXEN", "soft": 1, "hard": 1}]})
    assert runtime.run(cid, path).returncode != 0


@pytest.mark.parametrize("flag", [True, False])
def test_no_new_privileges(probe, flag):
    assert probe(process={"noNewPrivileges": flag}).status.no_new_privs == int(flag)


def test_oom_score_adj(probe):
    assert probe(process={"oomScoreAdj": 123}).oom_score_adj == 123


def test_hostname_and_domainname(probe, deviation):
    deviation(runc="runc 1.1.5 ignores domainname (support came in runc 1.2)")
    report = probe(hostname="boxen-test", domainname="example.org")
    assert (report.hostname, report.domainname) == ("boxen-test", "example.org")


def test_hostname_without_a_uts_namespace_is_an_error(runtime, bundle, cid):
    namespaces = [{"type": t} for t in ("pid", "network", "ipc", "mount")]
    path = bundle(args=["true"], hostname="boxen-test", linux={"namespaces": namespaces})
    assert runtime.run(cid, path).returncode != 0


def test_no_pivot(runtime, bundle, cid):
    result = runtime.run(cid, bundle(args=["sh", "-c", PROBE_SCRIPT]), "--no-pivot").check()
    report = parse_report(result.stdout)
    assert report.mount("/") is not None
    assert report.hostname == "runc"


def test_preserve_fds(runtime, bundle, cid, tmp_path):
    out = tmp_path / "fd3.txt"
    with open(out, "w") as f:
        result = runtime.run(cid, bundle(args=["sh", "-c", "echo through-fd3 >&3"]),
                             "--preserve-fds", "1", extra_fds=[f.fileno()])
    result.check()
    assert out.read_text() == "through-fd3\n"


def test_fds_are_not_leaked_without_preserve_fds(runtime, bundle, cid, tmp_path):
    with open(tmp_path / "fd3.txt", "w") as f:
        result = runtime.run(cid, bundle(args=["sh", "-c", "ls /proc/$$/fd; true"]),
                             extra_fds=[f.fileno()])
    assert sorted(result.check().stdout.split()) == ["0", "1", "2"]


def _receive_console(server: socket.socket, got: dict) -> None:
    conn, _ = server.accept()
    with conn:
        fds = array.array("i")
        msg, ancdata, _, _ = conn.recvmsg(1024, socket.CMSG_SPACE(fds.itemsize))
        for level, kind, data in ancdata:
            if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
                fds.frombytes(data[: len(data) - len(data) % fds.itemsize])
        got["fds"] = list(fds)
        got["name"] = msg


def test_console_socket(runtime, bundle, cid, tmp_path):
    sock_path = tmp_path / "console.sock"
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(str(sock_path))
    server.listen(1)
    got: dict = {}
    receiver = threading.Thread(target=_receive_console, args=(server, got))
    receiver.start()
    script = "test -t 0 && test -t 1 && echo tty-ok; tty; stty size; sleep 600"
    path = bundle(args=["sh", "-c", script], process={"terminal": True, "consoleSize":
                                                      {"height": 33, "width": 101}})
    try:
        runtime.create(cid, path, "--console-socket", sock_path).check()
    finally:
        receiver.join(timeout=30)
        server.close()
    assert len(got.get("fds", [])) == 1, f"expected one pty master over SCM_RIGHTS, got {got}"
    master = got["fds"][0]
    try:
        os.set_blocking(master, True)
        runtime.start(cid).check()
        output = b""
        while b"101" not in output:
            chunk = os.read(master, 4096)
            if not chunk:
                break
            output += chunk
    finally:
        os.close(master)
    text = output.decode().replace("\r", "")
    assert "tty-ok" in text
    assert "/dev/pts/0" in text
    assert "33 101" in text


def test_terminal_without_console_socket_is_an_error_for_create(runtime, bundle, cid):
    path = bundle(args=["true"], process={"terminal": True})
    assert runtime.create(cid, path).returncode != 0
    assert runtime("state", cid).returncode == 1


def test_run_inherits_stdio(runtime, bundle, cid):
    result = runtime.run(cid, bundle(args=["sh", "-c", "read line; echo got:$line; echo err >&2"]),
                         input="hello\n")
    assert result.check().stdout == "got:hello\n"
    assert "err" in result.stderr


def test_status_of_a_user_process_seen_from_outside(runtime, bundle, cid):
    path = bundle(args=["sleep", "600"], process={"user": {"uid": 1000, "gid": 1000,
                                                          "additionalGids": [5]}})
    runtime.run(cid, path, "--detach").check()
    pid = runtime.state(cid)["pid"]
    with open(f"/proc/{pid}/status") as f:
        status = parse_status(f.read())
    assert status.uid[0] == 1000 and status.groups == (5,)
