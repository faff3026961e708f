"""Privileged tests of seccomp filters: compiled by libseccomp, loaded into a forked child,
and observed from inside it (results come back through a pipe) or from its exit status.

Each test forks; the child loads a filter (it cannot be removed, so only the child has one),
makes the system calls under test and reports. Children set RLIMIT_CORE to 0 so a SIGSYS
leaves no core file behind.
"""

import errno
import fcntl
import json
import os
import resource
import select
import signal
import socket
import struct
import time
import traceback

import pytest

from boxen.common import jsonio
from boxen.common.errors import InvalidArgument, PermissionDenied, Unimplemented
from boxen.common.schema import from_json
from boxen.oci.runtime import OCI_VERSION, LinuxSeccomp
from boxen.runtime import seccomp
from boxen.runtime.linux import seccomp as linux_seccomp

PODMAN_PROFILE = "/usr/share/containers/seccomp.json"
#: The capabilities podman gives a container by default; its profile's rules depend on them.
PODMAN_CAPS = {
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_FOWNER",
    "CAP_FSETID",
    "CAP_KILL",
    "CAP_NET_BIND_SERVICE",
    "CAP_SETFCAP",
    "CAP_SETGID",
    "CAP_SETPCAP",
    "CAP_SETUID",
    "CAP_SYS_CHROOT",
}
#: How long a test waits for an event before failing instead of hanging (not a timing check).
PATIENCE = 30


def _check_host() -> str | None:
    if os.geteuid() != 0:
        return "needs root (CAP_SYS_ADMIN loads a filter without no_new_privs)"
    with open("/proc/self/status") as f:
        if "Seccomp:" not in f.read():
            return "the kernel has no seccomp (CONFIG_SECCOMP)"
    try:
        linux_seccomp.export_bpf(seccomp.plan(LinuxSeccomp("SCMP_ACT_ALLOW")))
    except Unimplemented as exc:
        return str(exc)
    if linux_seccomp._SECCOMP_NR is None:
        return f"no seccomp(2) number known for {os.uname().machine}"
    return None


_REASON = _check_host()
pytestmark = pytest.mark.skipif(_REASON is not None, reason=_REASON or "")


def plan_of(data: dict):
    return seccomp.plan(from_json(LinuxSeccomp, data, "linux.seccomp"))


def rule(action: str, *names: str, **extra) -> dict:
    return {"names": list(names), "action": action, **extra}


def arg(index: int, op: str, value: int, value_two: int = 0) -> dict:
    return {"index": index, "op": op, "value": value, "valueTwo": value_two}


def filter_of(default: str, *rules: dict, **config):
    """The plan of a filter with ``default`` action and ``rules``, plus other ``config``."""
    return plan_of({"defaultAction": default, "syscalls": list(rules), **config})


def in_child(body, *, stdout: int | None = None, stderr: int | None = None) -> tuple[int, object]:
    """Run ``body()`` in a forked child; return its wait status and what it returned
    (JSON through a pipe), or raise the child's traceback as an AssertionError."""
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:
        code = 0
        try:
            os.close(read_end)
            resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
            if stdout is not None:
                os.dup2(stdout, 1)
            if stderr is not None:
                os.dup2(stderr, 2)
            result = {"value": body()}
        except BaseException:  # noqa: BLE001 (whatever happens, the child must not return into pytest)
            result = {"error": traceback.format_exc()}
            code = 1
        try:
            os.write(write_end, jsonio.dumps(result).encode())
        finally:
            os._exit(code)
    os.close(write_end)
    chunks = []
    while chunk := os.read(read_end, 65536):
        chunks.append(chunk)
    os.close(read_end)
    _, status = os.waitpid(pid, 0)
    report = jsonio.loads(b"".join(chunks)) if chunks else {}
    if "error" in report:
        raise AssertionError(f"in the child:\n{report['error']}")
    return status, report.get("value")


def errno_of(call, *args) -> int:
    try:
        call(*args)
    except OSError as exc:
        return exc.errno or 0
    return 0


def raises(call, *args) -> bool:
    try:
        call(*args)
    except OSError:
        return True
    return False


def killed_by(status: int) -> int | None:
    return os.WTERMSIG(status) if os.WIFSIGNALED(status) else None


# --- the profile podman installs -------------------------------------------------------------


def podman_default_profile(arch: str = "amd64", caps: set[str] = PODMAN_CAPS) -> dict:
    """podman's seccomp.json turned into ``linux.seccomp`` the way podman does it for a
    container with ``caps`` on ``arch``: pick the architectures from ``archMap`` and keep the
    rules whose ``includes``/``excludes`` match."""
    with open(PODMAN_PROFILE) as f:
        profile = json.load(f)
    native = {"amd64": "SCMP_ARCH_X86_64", "arm64": "SCMP_ARCH_AARCH64"}[arch]
    architectures = []
    for entry in profile.get("archMap") or ():
        if entry["architecture"] == native:
            architectures = [native, *entry.get("subArchitectures", ())]
    rules = []
    for rule in profile["syscalls"]:
        includes, excludes = rule.get("includes") or {}, rule.get("excludes") or {}
        if includes.get("arches") and arch not in includes["arches"]:
            continue
        if includes.get("caps") and not set(includes["caps"]) <= caps:
            continue
        if arch in (excludes.get("arches") or ()) or set(excludes.get("caps") or ()) & caps:
            continue
        out = {"names": rule["names"], "action": rule["action"]}
        if rule.get("errnoRet") is not None:
            out["errnoRet"] = rule["errnoRet"]
        if rule.get("args"):
            out["args"] = rule["args"]
        rules.append(out)
    seccomp_config = {
        "defaultAction": profile["defaultAction"],
        "architectures": architectures,
        "syscalls": rules,
    }
    if profile.get("defaultErrnoRet") is not None:
        seccomp_config["defaultErrnoRet"] = profile["defaultErrnoRet"]
    return seccomp_config


needs_podman_profile = pytest.mark.skipif(
    not os.path.exists(PODMAN_PROFILE) or os.uname().machine != "x86_64",
    reason=f"needs podman's {PODMAN_PROFILE} (golang-github-containers-common) on x86_64",
)


def allow_all_but(*denied: str) -> list[str]:
    """podman's list of allowed system calls, without ``denied``: enough for Python to run."""
    allowed = next(r for r in podman_default_profile()["syscalls"] if r["action"] == "SCMP_ACT_ALLOW")
    return [name for name in allowed["names"] if name not in denied]


# --- actions ------------------------------------------------------------------------------


def test_errno_with_a_chosen_errno_and_the_default_eperm(tmp_path):
    plan = filter_of(
        "SCMP_ACT_ALLOW",
        rule("SCMP_ACT_ERRNO", "getcwd", errnoRet=errno.EACCES),
        rule("SCMP_ACT_ERRNO", "mkdir", "mkdirat"),
    )

    def body():
        assert linux_seccomp.load(plan) is None
        with open("/proc/self/status") as f:
            status = dict(line.split(":\t", 1) for line in f.read().splitlines() if ":\t" in line)
        return {
            "getcwd": errno_of(os.getcwd),
            "mkdir": errno_of(os.mkdir, str(tmp_path / "d")),
            "rmdir": errno_of(os.rmdir, str(tmp_path / "none")),
            "seccomp": status["Seccomp"].strip(),
            "no_new_privs": status["NoNewPrivs"].strip(),
        }

    status, seen = in_child(body)
    assert os.WEXITSTATUS(status) == 0
    assert seen == {
        "getcwd": errno.EACCES,
        "mkdir": errno.EPERM,
        "rmdir": errno.ENOENT,
        "seccomp": "2",
        "no_new_privs": "0",
    }
    assert not (tmp_path / "d").exists()


@pytest.mark.parametrize("errno_ret, expected", [(None, errno.EPERM), (errno.ENOSYS, errno.ENOSYS)])
def test_the_default_action_errno(errno_ret, expected):
    config = {} if errno_ret is None else {"defaultErrnoRet": errno_ret}
    plan = filter_of("SCMP_ACT_ERRNO", rule("SCMP_ACT_ALLOW", *allow_all_but("getcwd")), **config)

    def body():
        linux_seccomp.load(plan)
        return [errno_of(os.getcwd), errno_of(os.getpid)]

    assert in_child(body)[1] == [expected, 0]


def test_errno_zero_skips_the_call_and_reports_success(tmp_path):
    plan = filter_of("SCMP_ACT_ALLOW", rule("SCMP_ACT_ERRNO", "mkdir", "mkdirat", errnoRet=0))

    def body():
        linux_seccomp.load(plan)
        return errno_of(os.mkdir, str(tmp_path / "d"))

    assert in_child(body)[1] == 0
    assert not (tmp_path / "d").exists()


def test_argument_conditions(tmp_path):
    target = tmp_path / "f"
    target.write_bytes(b"")

    def body():
        fd = os.open(str(target), os.O_RDONLY)
        plan = filter_of(
            "SCMP_ACT_ALLOW",
            # the same argument twice: either value matches (runc's reading)
            rule("SCMP_ACT_ERRNO", "umask", args=[arg(0, "SCMP_CMP_EQ", 0o77), arg(0, "SCMP_CMP_EQ", 0o70)]),
            # distinct arguments: both must match
            rule(
                "SCMP_ACT_ERRNO",
                "fchmod",
                errnoRet=errno.EROFS,
                args=[arg(0, "SCMP_CMP_EQ", fd), arg(1, "SCMP_CMP_EQ", 0o600)],
            ),
            # masked: the low three bits of the mode all set
            rule(
                "SCMP_ACT_ERRNO",
                "chmod",
                "fchmodat",
                errnoRet=errno.EACCES,
                args=[arg(1, "SCMP_CMP_MASKED_EQ", 7, 7)],
            ),
        )
        linux_seccomp.load(plan)
        other = os.open(str(target), os.O_RDONLY)
        return {
            "umask 077": raises(os.umask, 0o77),
            "umask 070": raises(os.umask, 0o70),
            "umask 022": raises(os.umask, 0o22),
            "fchmod fd 600": errno_of(os.fchmod, fd, 0o600),
            "fchmod fd 640": errno_of(os.fchmod, fd, 0o640),
            "fchmod other 600": errno_of(os.fchmod, other, 0o600),
            "chmod 607": errno_of(os.chmod, str(target), 0o607),
            "chmod 604": errno_of(os.chmod, str(target), 0o604),
        }

    _, seen = in_child(body)
    assert seen == {
        "umask 077": True,  # umask cannot fail, so its -1 comes without an errno
        "umask 070": True,
        "umask 022": False,
        "fchmod fd 600": errno.EROFS,
        "fchmod fd 640": 0,
        "fchmod other 600": 0,
        "chmod 607": errno.EACCES,
        "chmod 604": 0,
    }


def test_kill_process_ends_the_child_with_sigsys():
    plan = filter_of("SCMP_ACT_ALLOW", rule("SCMP_ACT_KILL_PROCESS", "getcwd"))

    def body():
        linux_seccomp.load(plan)
        os.getcwd()
        return "survived"

    status, seen = in_child(body)
    assert killed_by(status) == signal.SIGSYS
    assert seen is None


@pytest.mark.parametrize("action", ["SCMP_ACT_KILL", "SCMP_ACT_KILL_THREAD"])
def test_kill_thread_ends_only_the_calling_thread(action):
    import _thread

    plan = filter_of("SCMP_ACT_ALLOW", rule(action, "getcwd"))

    def body():
        linux_seccomp.load(plan)
        _thread.start_new_thread(os.getcwd, ())
        deadline = time.monotonic() + PATIENCE
        while len(os.listdir("/proc/self/task")) > 1 and time.monotonic() < deadline:
            time.sleep(0.01)
        return len(os.listdir("/proc/self/task"))

    status, tasks = in_child(body)
    assert os.WEXITSTATUS(status) == 0 and tasks == 1
    # alone, the calling thread is the whole process
    status, _ = in_child(lambda: (linux_seccomp.load(plan), os.getcwd()))
    assert killed_by(status) == signal.SIGSYS


def test_trap_sends_sigsys():
    plan = filter_of("SCMP_ACT_ALLOW", rule("SCMP_ACT_TRAP", "getcwd"))
    status, _ = in_child(lambda: (linux_seccomp.load(plan), os.getcwd()))
    assert killed_by(status) == signal.SIGSYS


def test_trace_without_a_tracer_fails_with_enosys():
    plan = filter_of("SCMP_ACT_ALLOW", rule("SCMP_ACT_TRACE", "getcwd"))

    def body():
        linux_seccomp.load(plan)
        return errno_of(os.getcwd)

    assert in_child(body)[1] == errno.ENOSYS


_NETLINK_AUDIT = 9
_AUDIT_NLGRP_READLOG = 1
_AUDIT_SECCOMP = 1326


@pytest.fixture
def audit_log():
    """Reads the kernel's audit records as they are made (the audit netlink socket's
    read-only multicast group, which, unlike the printk copy, is not rate-limited)."""
    with open("/proc/sys/kernel/seccomp/actions_logged") as f:
        logged = f.read().split()
    try:
        sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, _NETLINK_AUDIT)
        sock.bind((0, _AUDIT_NLGRP_READLOG))
    except OSError as exc:
        pytest.skip(f"cannot read audit records (kernel without CONFIG_AUDIT?): {exc}")
    sock.settimeout(PATIENCE)

    def wait_for(pid: int, code: int) -> str:
        """The seccomp audit record of ``pid`` with action ``code``; fails after PATIENCE."""
        wanted = (f" pid={pid} ", f" code={code:#x}")
        deadline = time.monotonic() + PATIENCE
        while time.monotonic() < deadline:
            data = sock.recv(65536)
            length, kind = struct.unpack_from("IH", data)
            text = data[16:length].decode(errors="replace")
            if kind == _AUDIT_SECCOMP and all(w in text for w in wanted):
                return text
        raise AssertionError(f"no seccomp audit record with code {code:#x} for pid {pid}")

    wait_for.logged = logged
    yield wait_for
    sock.close()


def test_log_allows_the_call_and_writes_an_audit_record(audit_log):
    if "log" not in audit_log.logged:
        pytest.skip("kernel.seccomp.actions_logged does not include log")
    plan = filter_of("SCMP_ACT_ALLOW", rule("SCMP_ACT_LOG", "getcwd"))

    def body():
        linux_seccomp.load(plan)
        return [os.getcwd(), os.getpid()]

    _, (cwd, pid) = in_child(body)
    assert cwd == os.getcwd()
    assert "sig=0" in audit_log(pid, 0x7FFC0000)


def test_the_log_flag_logs_what_the_filter_refuses(audit_log):
    if "errno" not in audit_log.logged:
        pytest.skip("kernel.seccomp.actions_logged does not include errno")
    plan = filter_of("SCMP_ACT_ALLOW", rule("SCMP_ACT_ERRNO", "getcwd"), flags=["SECCOMP_FILTER_FLAG_LOG"])

    def body():
        linux_seccomp.load(plan)
        return [errno_of(os.getcwd), os.getpid()]

    _, (error, pid) = in_child(body)
    assert error == errno.EPERM
    audit_log(pid, 0x00050000)  # the record keeps the action, not its errno


# --- flags, privileges, architectures -----------------------------------------------------


@pytest.mark.parametrize(
    "flags",
    [
        [],
        ["SECCOMP_FILTER_FLAG_TSYNC"],
        ["SECCOMP_FILTER_FLAG_LOG"],
        ["SECCOMP_FILTER_FLAG_SPEC_ALLOW"],
        None,
    ],
)
def test_filter_flags_load(flags):
    config = {} if flags is None else {"flags": flags}
    plan = filter_of("SCMP_ACT_ALLOW", rule("SCMP_ACT_ERRNO", "getcwd"), **config)

    def body():
        linux_seccomp.load(plan)
        with open("/proc/self/status") as f:
            filters = next(line for line in f if line.startswith("Seccomp_filters:"))
        return [errno_of(os.getcwd), filters.split()[1]]

    assert in_child(body)[1] == [errno.EPERM, "1"]


def test_without_no_new_privs_loading_needs_cap_sys_admin():
    from boxen.runtime.linux.libc import c_int, c_ulong, libc

    prctl = libc.function("prctl", c_int, c_int, c_ulong, c_ulong, c_ulong, c_ulong)
    pr_set_no_new_privs = 38
    plan = plan_of({"defaultAction": "SCMP_ACT_ALLOW"})

    def body():
        os.setuid(65534)  # nobody: no capabilities left
        try:
            linux_seccomp.load(plan)
        except PermissionDenied as exc:
            refused = str(exc)
        else:
            refused = ""
        assert prctl(pr_set_no_new_privs, 1, 0, 0, 0) == 0
        linux_seccomp.load(plan)
        return refused

    _, refused = in_child(body)
    assert "CAP_SYS_ADMIN" in refused


def test_several_architectures_compile_and_load():
    architectures = [
        "SCMP_ARCH_X86_64",
        "SCMP_ARCH_X86",
        "SCMP_ARCH_X32",
        "SCMP_ARCH_AARCH64",
        "SCMP_ARCH_ARM",
    ]
    plan = filter_of(
        "SCMP_ACT_ALLOW",
        rule("SCMP_ACT_ERRNO", "getcwd", "socketcall", "no_such_call"),
        architectures=architectures,
    )

    def body():
        linux_seccomp.load(plan)
        return errno_of(os.getcwd)

    assert in_child(body)[1] == errno.EPERM


def test_names_libseccomp_does_not_know_are_skipped():
    known = filter_of("SCMP_ACT_ALLOW", rule("SCMP_ACT_ERRNO", "getcwd"))
    unknown = filter_of(
        "SCMP_ACT_ALLOW", rule("SCMP_ACT_ERRNO", "no_such_call", "getcwd", "another_invention")
    )
    assert linux_seccomp.export_bpf(unknown) == linux_seccomp.export_bpf(known)


def test_architectures_this_libseccomp_lacks_are_unimplemented():
    plan = plan_of({"defaultAction": "SCMP_ACT_ALLOW", "architectures": ["SCMP_ARCH_LOONGARCH64"]})
    try:
        linux_seccomp.export_bpf(plan)
    except Unimplemented as exc:
        assert exc.field == "linux.seccomp.architectures"
        assert "SCMP_ARCH_LOONGARCH64" in exc.message
    else:
        pytest.skip("this libseccomp knows SCMP_ARCH_LOONGARCH64")


def test_a_program_that_is_not_bpf_is_refused():
    plan = plan_of({"defaultAction": "SCMP_ACT_ALLOW"})
    with pytest.raises(InvalidArgument):
        linux_seccomp.load(plan, b"\0" * 12)


# --- the program cache --------------------------------------------------------------------


def test_cache_stores_and_reuses_programs(tmp_path, monkeypatch):
    cache = str(tmp_path / "cache")
    plan = filter_of("SCMP_ACT_ALLOW", rule("SCMP_ACT_ERRNO", "getcwd"))
    program = linux_seccomp.export_bpf(plan, cache)
    assert program == linux_seccomp.export_bpf(plan)
    assert len(os.listdir(cache)) == 1
    assert os.stat(cache).st_mode & 0o777 == 0o700

    def no_compiling(plan):
        raise AssertionError("compiled although cached")

    monkeypatch.setattr(linux_seccomp, "_compile", no_compiling)
    assert linux_seccomp.export_bpf(plan, cache) == program
    assert linux_seccomp.export_bpf(plan.replace(field="process.seccomp"), cache) == program


def test_cache_replaces_a_damaged_entry_and_keeps_a_bounded_number(tmp_path, monkeypatch):
    cache = str(tmp_path / "cache")
    plan = filter_of("SCMP_ACT_ALLOW", rule("SCMP_ACT_ERRNO", "getcwd"))
    program = linux_seccomp.export_bpf(plan, cache)
    (entry,) = os.listdir(cache)
    with open(os.path.join(cache, entry), "wb") as f:
        f.write(b"\1\2\3")
    assert linux_seccomp.export_bpf(plan, cache) == program
    monkeypatch.setattr(linux_seccomp, "_CACHE_ENTRIES", 2)
    for errno_ret in (1, 2, 3):
        linux_seccomp.export_bpf(
            plan_of({"defaultAction": "SCMP_ACT_ERRNO", "defaultErrnoRet": errno_ret}), cache
        )
    assert len(os.listdir(cache)) == 2


# --- notify ------------------------------------------------------------------------------------

_SECCOMP_IOCTL_NOTIF_RECV = 0xC0502100  # _IOWR('!', 0, struct seccomp_notif), 80 bytes
_SECCOMP_IOCTL_NOTIF_SEND = 0xC0182101  # _IOWR('!', 1, struct seccomp_notif_resp), 24 bytes


@pytest.fixture
def agent_socket(tmp_path):
    path = str(tmp_path / "agent.sock")
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(path)
    server.listen(1)
    server.settimeout(PATIENCE)
    yield path, server
    server.close()


@pytest.mark.parametrize(
    "flags", [None, ["SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV", "SECCOMP_FILTER_FLAG_TSYNC"]]
)
def test_notify_hands_the_fd_to_the_agent_which_answers(agent_socket, flags):
    path, server = agent_socket
    config = {"listenerPath": path, "listenerMetadata": "answer=4242"}
    if flags is not None:
        config["flags"] = flags
    plan = filter_of("SCMP_ACT_ALLOW", rule("SCMP_ACT_NOTIFY", "getppid"), **config)
    state = {
        "ociVersion": OCI_VERSION,
        "id": "boxen-seccomp-test",
        "status": "creating",
        "bundle": "/nonexistent",
    }

    def body():
        fd = linux_seccomp.load(plan)
        seccomp.send_to_listener(path, fd, {**state, "pid": os.getpid()}, plan.listener_metadata)
        os.close(fd)
        return os.getppid()

    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the container: reports getppid() through the pipe
        try:
            os.close(read_end)
            try:
                report = list(in_child(body))
            except AssertionError as exc:
                report = [str(exc)]
            os.write(write_end, jsonio.dumps(report).encode())
        finally:
            os._exit(0)
    os.close(write_end)
    notify_fd = None
    try:
        conn, _ = server.accept()
        with conn:
            data, ancillary, _, _ = conn.recvmsg(65536, socket.CMSG_SPACE(4))
        ((level, kind, payload),) = ancillary
        assert (level, kind) == (socket.SOL_SOCKET, socket.SCM_RIGHTS)
        (notify_fd,) = struct.unpack("i", payload)
        message = jsonio.loads(data)
        assert os.readlink(f"/proc/self/fd/{notify_fd}") == "anon_inode:seccomp notify"
        assert message["ociVersion"] == OCI_VERSION and message["fds"] == ["seccompFd"]
        assert message["metadata"] == "answer=4242"
        assert message["state"] == {**state, "pid": message["pid"]}

        poller = select.poll()
        poller.register(notify_fd, select.POLLIN)
        assert poller.poll(PATIENCE * 1000), "no notification came"
        request = bytearray(80)
        fcntl.ioctl(notify_fd, _SECCOMP_IOCTL_NOTIF_RECV, request, True)
        notification_id, caller, _, number = struct.unpack_from("QIIi", request)
        assert caller == message["pid"]
        assert number == {"x86_64": 110, "aarch64": 173}.get(os.uname().machine, number)  # getppid
        fcntl.ioctl(notify_fd, _SECCOMP_IOCTL_NOTIF_SEND, struct.pack("QqiI", notification_id, 4242, 0, 0))
    finally:
        # Closing the agent's ends (and any fd still queued on its socket) lets a waiting
        # getppid() fail with ENOSYS, so the child finishes whatever went wrong here.
        server.close()
        if notify_fd is not None:
            os.close(notify_fd)
        report = b""
        while chunk := os.read(read_end, 65536):
            report += chunk
        os.close(read_end)
        os.waitpid(pid, 0)
    outcome = jsonio.loads(report)
    assert len(outcome) == 2, outcome[0]
    status, value = outcome
    assert os.WEXITSTATUS(status) == 0 and value == 4242


# --- podman's default profile ----------------------------------------------------------------


@needs_podman_profile
def test_a_shell_runs_under_podmans_default_profile():
    plan = plan_of(podman_default_profile())
    out_read, out_write = os.pipe()
    err_read, err_write = os.pipe()
    script = (
        "echo hello from $(busybox basename /under/podman); "
        "busybox grep -E '^Seccomp:' /proc/self/status; "
        "busybox rmmod boxen_no_such_module; echo rmmod=$?"
    )

    def body():
        linux_seccomp.load(plan)
        os.execv("/bin/busybox", ["sh", "-c", script])

    pid_status, _ = in_child(body, stdout=out_write, stderr=err_write)
    os.close(out_write)
    os.close(err_write)
    with os.fdopen(out_read) as out, os.fdopen(err_read) as err:
        stdout, stderr = out.read(), err.read()
    assert os.WEXITSTATUS(pid_status) == 0, stderr
    lines = stdout.split("\n")
    assert lines[0] == "hello from podman"
    assert lines[1].split() == ["Seccomp:", "2"]
    # delete_module is refused with EPERM by the profile, whatever the kernel would say
    assert lines[2] == "rmmod=1" and "Operation not permitted" in stderr


# --- calls newer than the profile ------------------------------------------------------------


def _x86_64_number(name: str) -> int:
    import ctypes

    lib = ctypes.CDLL("libseccomp.so.2")
    lib.seccomp_arch_resolve_name.restype = ctypes.c_uint
    return lib.seccomp_syscall_resolve_name_arch(lib.seccomp_arch_resolve_name(b"x86_64"), name.encode())


def _raw_syscall_errno(number: int, *args: int) -> int:
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    libc.syscall.restype = ctypes.c_long
    ctypes.set_errno(0)
    result = libc.syscall(ctypes.c_long(number), *(ctypes.c_long(a) for a in args))
    return ctypes.get_errno() if result == -1 else 0


@needs_podman_profile
@pytest.mark.parametrize("default", ["SCMP_ACT_ERRNO", "SCMP_ACT_KILL_PROCESS"])
def test_calls_above_the_profiles_highest_number_fail_with_enosys(default):
    # an "older" profile: podman's allow list without clone3 and anything numbered after it
    clone3 = _x86_64_number("clone3")
    old = [name for name in allow_all_but("clone3", "getcpu") if _x86_64_number(name) < clone3]
    plan = filter_of(default, rule("SCMP_ACT_ALLOW", *old), architectures=["SCMP_ARCH_X86_64"])
    assert plan.enosys

    def body():
        linux_seccomp.load(plan)
        return {
            "1000": _raw_syscall_errno(1000),
            "clone3": _raw_syscall_errno(clone3, 0, 0),
            "getpid": _raw_syscall_errno(_x86_64_number("getpid")),
        }

    status, seen = in_child(body)
    assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0
    assert seen == {"1000": errno.ENOSYS, "clone3": errno.ENOSYS, "getpid": 0}


@needs_podman_profile
def test_a_call_below_the_highest_that_the_profile_omits_gets_the_default_action():
    clone3 = _x86_64_number("clone3")
    old = [name for name in allow_all_but("clone3", "getcpu") if _x86_64_number(name) < clone3]
    plan = filter_of("SCMP_ACT_ERRNO", rule("SCMP_ACT_ALLOW", *old))

    def body():
        linux_seccomp.load(plan)
        return _raw_syscall_errno(_x86_64_number("getcpu"), 0, 0, 0)

    assert in_child(body)[1] == errno.EPERM


def test_a_permissive_default_has_no_enosys_prefix():
    allow = filter_of("SCMP_ACT_ALLOW", rule("SCMP_ACT_ERRNO", "getcwd"))
    assert not allow.enosys

    def body():
        linux_seccomp.load(allow)
        return _raw_syscall_errno(1000)

    assert in_child(body)[1] == errno.ENOSYS  # the kernel's own answer, the filter let it through
