"""Unit tests of boxen.runtime.seccomp: checking linux.seccomp, the plan, its description,
and handing the notify fd to a listener."""

import errno
import os
import socket
import struct

import pytest

from boxen.common import jsonio
from boxen.common.errors import InvalidArgument, KernelError, NotFound
from boxen.common.schema import from_json
from boxen.oci.runtime import OCI_VERSION, LinuxSeccomp
from boxen.runtime import seccomp
from boxen.runtime.seccomp import SeccompAction, SeccompCondition, SeccompRule


def plan_of(data: dict, field: str = "linux.seccomp"):
    return seccomp.plan(from_json(LinuxSeccomp, data, field), field)


def error_of(data: dict) -> InvalidArgument:
    with pytest.raises(InvalidArgument) as info:
        plan_of(data)
    return info.value


def rule(action: str, *names: str, **extra) -> dict:
    return {"names": list(names) or ["getcwd"], "action": action, **extra}


# --- actions and errnoRet -----------------------------------------------------------------


@pytest.mark.parametrize(
    "name, value",
    [
        ("SCMP_ACT_KILL", 0x00000000),
        ("SCMP_ACT_KILL_THREAD", 0x00000000),
        ("SCMP_ACT_KILL_PROCESS", 0x80000000),
        ("SCMP_ACT_TRAP", 0x00030000),
        ("SCMP_ACT_ERRNO", 0x00050000 | errno.EPERM),
        ("SCMP_ACT_TRACE", 0x7FF00000 | errno.EPERM),
        ("SCMP_ACT_LOG", 0x7FFC0000),
        ("SCMP_ACT_ALLOW", 0x7FFF0000),
    ],
)
def test_every_default_action_maps_to_its_seccomp_ret_word(name, value):
    plan = plan_of({"defaultAction": name})
    assert plan.default_action.name == name
    assert plan.default_action.value == value


def test_notify_in_a_rule_maps_to_user_notif_and_asks_for_a_listener():
    plan = plan_of(
        {
            "defaultAction": "SCMP_ACT_ALLOW",
            "listenerPath": "/run/agent.sock",
            "syscalls": [rule("SCMP_ACT_NOTIFY", "mkdir")],
        }
    )
    assert plan.rules[0].action == SeccompAction("SCMP_ACT_NOTIFY", 0x7FC00000)
    assert plan.notify
    assert plan.filter_flags & seccomp.FLAG_NEW_LISTENER
    assert plan.listener_path == "/run/agent.sock"


def test_errno_defaults_to_eperm_and_takes_errnoret():
    plan = plan_of(
        {
            "defaultAction": "SCMP_ACT_ERRNO",
            "defaultErrnoRet": errno.ENOSYS,
            "syscalls": [rule("SCMP_ACT_ERRNO", errnoRet=errno.EACCES), rule("SCMP_ACT_TRACE", "mkdir")],
        }
    )
    assert plan.default_action == SeccompAction("SCMP_ACT_ERRNO", 0x00050000 | errno.ENOSYS, errno.ENOSYS)
    assert plan.rules[0].action == SeccompAction("SCMP_ACT_ERRNO", 0x00050000 | errno.EACCES, errno.EACCES)
    assert plan.rules[1].action == SeccompAction("SCMP_ACT_TRACE", 0x7FF00000 | errno.EPERM, errno.EPERM)
    assert plan_of({"defaultAction": "SCMP_ACT_ERRNO"}).default_action.errno == errno.EPERM


def test_errnoret_zero_is_kept():
    plan = plan_of({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [rule("SCMP_ACT_ERRNO", errnoRet=0)]})
    assert plan.rules[0].action == SeccompAction("SCMP_ACT_ERRNO", 0x00050000, 0)


@pytest.mark.parametrize("action", ["SCMP_ACT_ALLOW", "SCMP_ACT_KILL", "SCMP_ACT_LOG", "SCMP_ACT_TRAP"])
def test_errnoret_on_an_action_without_errno_is_an_error(action):
    err = error_of(
        {"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [rule("SCMP_ACT_ALLOW"), rule(action, errnoRet=1)]}
    )
    assert err.field == "linux.seccomp.syscalls[1].errnoRet"
    assert "SCMP_ACT_ERRNO and SCMP_ACT_TRACE" in err.message


def test_default_errnoret_on_an_action_without_errno_is_an_error():
    err = error_of({"defaultAction": "SCMP_ACT_KILL_PROCESS", "defaultErrnoRet": 1})
    assert err.field == "linux.seccomp.defaultErrnoRet"


def test_errnoret_must_fit_in_sixteen_bits():
    err = error_of({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [rule("SCMP_ACT_ERRNO", errnoRet=70000)]})
    assert err.field == "linux.seccomp.syscalls[0].errnoRet"


def test_unknown_actions_name_the_path_and_the_accepted_values():
    err = error_of(
        {
            "defaultAction": "SCMP_ACT_ALLOW",
            "syscalls": [
                rule("SCMP_ACT_ERRNO"),
                rule("SCMP_ACT_ERRNO"),
                rule("SCMP_ACT_ERRNO"),
                rule("SCMP_ACT_DENY"),
            ],
        }
    )
    assert err.field == "linux.seccomp.syscalls[3].action"
    assert "'SCMP_ACT_DENY'" in err.message
    for name in seccomp.ACTIONS:
        assert name in err.message
    assert error_of({"defaultAction": "ALLOW"}).field == "linux.seccomp.defaultAction"


def test_the_json_path_prefix_is_the_callers():
    with pytest.raises(InvalidArgument) as info:
        plan_of({"defaultAction": "nope"}, field="process.seccomp")
    assert info.value.field == "process.seccomp.defaultAction"


# --- notify and the listener -----------------------------------------------------------------


def test_notify_cannot_be_the_default_action():
    err = error_of({"defaultAction": "SCMP_ACT_NOTIFY", "listenerPath": "/run/agent.sock"})
    assert err.field == "linux.seccomp.defaultAction"


def test_notify_needs_listener_path():
    err = error_of({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [rule("SCMP_ACT_NOTIFY")]})
    assert err.field == "linux.seccomp.listenerPath"


def test_notify_cannot_apply_to_write():
    err = error_of(
        {
            "defaultAction": "SCMP_ACT_ALLOW",
            "listenerPath": "/a",
            "syscalls": [rule("SCMP_ACT_NOTIFY", "read", "write")],
        }
    )
    assert err.field == "linux.seccomp.syscalls[0].names[1]"


def test_listener_metadata_needs_listener_path():
    err = error_of({"defaultAction": "SCMP_ACT_ALLOW", "listenerMetadata": "x"})
    assert err.field == "linux.seccomp.listenerMetadata"


def test_listener_path_without_notify_is_ignored():
    plan = plan_of(
        {
            "defaultAction": "SCMP_ACT_ALLOW",
            "listenerPath": "/a",
            "listenerMetadata": "m",
            "syscalls": [rule("SCMP_ACT_ERRNO")],
        }
    )
    assert not plan.notify
    assert not plan.filter_flags & seccomp.FLAG_NEW_LISTENER
    assert any("listenerPath /a is ignored" in line for line in seccomp.describe(plan))


# --- architectures ----------------------------------------------------------------------------


@pytest.mark.parametrize("arch", sorted(seccomp.ARCHITECTURES))
def test_every_spec_architecture_is_accepted(arch):
    assert plan_of({"defaultAction": "SCMP_ACT_ALLOW", "architectures": [arch]}).architectures == (arch,)


def test_architectures_keep_their_order_without_repeats():
    plan = plan_of(
        {
            "defaultAction": "SCMP_ACT_ALLOW",
            "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X86_64", "SCMP_ARCH_X32"],
        }
    )
    assert plan.architectures == ("SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32")
    assert plan_of({"defaultAction": "SCMP_ACT_ALLOW"}).architectures == ()


def test_unknown_architecture_names_its_index():
    err = error_of({"defaultAction": "SCMP_ACT_ALLOW", "architectures": ["SCMP_ARCH_X86_64", "amd64"]})
    assert err.field == "linux.seccomp.architectures[1]"
    assert "SCMP_ARCH_AARCH64" in err.message


# --- flags ------------------------------------------------------------------------------------


def test_without_flags_the_filter_gets_spec_allow_as_with_runc():
    plan = plan_of({"defaultAction": "SCMP_ACT_ALLOW"})
    assert plan.flags == ("SECCOMP_FILTER_FLAG_SPEC_ALLOW",)
    assert plan.filter_flags == 4
    assert plan_of({"defaultAction": "SCMP_ACT_ALLOW", "flags": []}).filter_flags == 0


@pytest.mark.parametrize(
    "flag, bit",
    [("SECCOMP_FILTER_FLAG_TSYNC", 1), ("SECCOMP_FILTER_FLAG_LOG", 2), ("SECCOMP_FILTER_FLAG_SPEC_ALLOW", 4)],
)
def test_each_flag_sets_its_bit(flag, bit):
    plan = plan_of({"defaultAction": "SCMP_ACT_ALLOW", "flags": [flag, flag]})
    assert plan.flags == (flag,)
    assert plan.filter_flags == bit


def test_wait_killable_recv_is_kept_only_with_a_listener():
    flags = ["SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV"]
    assert plan_of({"defaultAction": "SCMP_ACT_ALLOW", "flags": flags}).filter_flags == 0
    plan = plan_of(
        {
            "defaultAction": "SCMP_ACT_ALLOW",
            "flags": flags,
            "listenerPath": "/a",
            "syscalls": [rule("SCMP_ACT_NOTIFY")],
        }
    )
    assert plan.filter_flags == 32 | seccomp.FLAG_NEW_LISTENER


def test_tsync_with_a_listener_adds_tsync_esrch():
    plan = plan_of(
        {
            "defaultAction": "SCMP_ACT_ALLOW",
            "flags": ["SECCOMP_FILTER_FLAG_TSYNC"],
            "listenerPath": "/a",
            "syscalls": [rule("SCMP_ACT_NOTIFY")],
        }
    )
    assert plan.filter_flags == 1 | seccomp.FLAG_NEW_LISTENER | seccomp.FLAG_TSYNC_ESRCH


def test_unknown_flag_names_its_index():
    err = error_of(
        {"defaultAction": "SCMP_ACT_ALLOW", "flags": ["SECCOMP_FILTER_FLAG_LOG", "SECCOMP_FILTER_FLAG_X"]}
    )
    assert err.field == "linux.seccomp.flags[1]"
    assert "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV" in err.message


# --- rules and argument conditions ---------------------------------------------------------


@pytest.mark.parametrize("op", sorted(seccomp.OPERATORS))
def test_every_operator_is_accepted(op):
    plan = plan_of(
        {
            "defaultAction": "SCMP_ACT_ALLOW",
            "syscalls": [rule("SCMP_ACT_ERRNO", "umask", args=[{"index": 0, "value": 7, "op": op}])],
        }
    )
    assert plan.rules[0].alternatives == ((SeccompCondition(0, op, 7, 0),),)


def test_masked_eq_keeps_value_two():
    plan = plan_of(
        {
            "defaultAction": "SCMP_ACT_ALLOW",
            "syscalls": [
                rule(
                    "SCMP_ACT_ERRNO",
                    "umask",
                    args=[{"index": 0, "value": 0o7, "valueTwo": 0o5, "op": "SCMP_CMP_MASKED_EQ"}],
                )
            ],
        }
    )
    assert plan.rules[0].alternatives == ((SeccompCondition(0, "SCMP_CMP_MASKED_EQ", 0o7, 0o5),),)
    assert "arg0 & 0x7 == 0x5" in "\n".join(seccomp.describe(plan))


def test_conditions_on_distinct_arguments_must_all_hold():
    args = [{"index": 0, "value": 16, "op": "SCMP_CMP_EQ"}, {"index": 2, "value": 9, "op": "SCMP_CMP_EQ"}]
    plan = plan_of(
        {"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [rule("SCMP_ACT_ERRNO", "socket", args=args)]}
    )
    assert plan.rules[0].alternatives == (
        (SeccompCondition(0, "SCMP_CMP_EQ", 16), SeccompCondition(2, "SCMP_CMP_EQ", 9)),
    )


def test_conditions_on_the_same_argument_become_alternatives_as_with_runc():
    args = [
        {"index": 0, "value": 1, "op": "SCMP_CMP_EQ"},
        {"index": 0, "value": 2, "op": "SCMP_CMP_EQ"},
        {"index": 1, "value": 3, "op": "SCMP_CMP_NE"},
    ]
    plan = plan_of(
        {"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [rule("SCMP_ACT_ERRNO", "kill", args=args)]}
    )
    assert plan.rules[0].alternatives == (
        (SeccompCondition(0, "SCMP_CMP_EQ", 1),),
        (SeccompCondition(0, "SCMP_CMP_EQ", 2),),
        (SeccompCondition(1, "SCMP_CMP_NE", 3),),
    )
    assert "when arg0 == 0x1, or when arg0 == 0x2, or when arg1 != 0x3" in "\n".join(seccomp.describe(plan))


def test_a_rule_without_args_always_matches():
    plan = plan_of({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [rule("SCMP_ACT_ERRNO", args=[])]})
    assert plan.rules[0].alternatives == ((),)


def test_unknown_operator_and_bad_index_name_their_path():
    err = error_of(
        {
            "defaultAction": "SCMP_ACT_ALLOW",
            "syscalls": [
                rule(
                    "SCMP_ACT_ERRNO",
                    args=[
                        {"index": 0, "value": 1, "op": "SCMP_CMP_EQ"},
                        {"index": 0, "value": 1, "op": "EQ"},
                    ],
                )
            ],
        }
    )
    assert err.field == "linux.seccomp.syscalls[0].args[1].op"
    assert "SCMP_CMP_MASKED_EQ" in err.message
    err = error_of(
        {
            "defaultAction": "SCMP_ACT_ALLOW",
            "syscalls": [rule("SCMP_ACT_ERRNO", args=[{"index": 6, "value": 1, "op": "SCMP_CMP_EQ"}])],
        }
    )
    assert err.field == "linux.seccomp.syscalls[0].args[0].index"


def test_names_must_be_present_and_non_empty():
    err = error_of(
        {"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": [], "action": "SCMP_ACT_ERRNO"}]}
    )
    assert err.field == "linux.seccomp.syscalls[0].names"
    err = error_of({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [rule("SCMP_ACT_ERRNO", "getcwd", "")]})
    assert err.field == "linux.seccomp.syscalls[0].names[1]"


def test_rules_with_the_default_action_are_left_out():
    plan = plan_of(
        {
            "defaultAction": "SCMP_ACT_ERRNO",
            "syscalls": [
                rule("SCMP_ACT_ERRNO", "mount"),
                rule("SCMP_ACT_ERRNO", "umount2", errnoRet=errno.EACCES),
                rule("SCMP_ACT_ALLOW", "read"),
                {"names": ["x"], "action": "SCMP_ACT_KILL"},
            ],
        }
    )
    assert [r.source for r in plan.rules] == [
        "linux.seccomp.syscalls[1]",
        "linux.seccomp.syscalls[2]",
        "linux.seccomp.syscalls[3]",
    ]
    assert plan.skipped == ("linux.seccomp.syscalls[0]",)
    killing = plan_of({"defaultAction": "SCMP_ACT_KILL_THREAD", "syscalls": [rule("SCMP_ACT_KILL")]})
    assert killing.rules == () and killing.skipped == ("linux.seccomp.syscalls[0]",)


def test_plan_keeps_rules_in_order_with_their_source():
    plan = plan_of(
        {
            "defaultAction": "SCMP_ACT_ALLOW",
            "syscalls": [rule("SCMP_ACT_ERRNO", "mkdir", "rmdir"), rule("SCMP_ACT_KILL_PROCESS", "reboot")],
        }
    )
    assert plan.rules == (
        SeccompRule(
            ("mkdir", "rmdir"),
            SeccompAction("SCMP_ACT_ERRNO", 0x50001, 1),
            ((),),
            "linux.seccomp.syscalls[0]",
        ),
        SeccompRule(
            ("reboot",),
            SeccompAction("SCMP_ACT_KILL_PROCESS", 0x80000000),
            ((),),
            "linux.seccomp.syscalls[1]",
        ),
    )


# --- describe -------------------------------------------------------------------------------


def test_describe_says_what_happens_in_plain_words():
    plan = plan_of(
        {
            "defaultAction": "SCMP_ACT_ERRNO",
            "defaultErrnoRet": errno.ENOSYS,
            "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86"],
            "flags": ["SECCOMP_FILTER_FLAG_LOG"],
            "listenerPath": "/run/agent.sock",
            "listenerMetadata": "meta",
            "syscalls": [
                rule("SCMP_ACT_ALLOW", *[f"call{i}" for i in range(15)]),
                rule("SCMP_ACT_KILL_PROCESS", "reboot"),
                rule("SCMP_ACT_KILL", "kexec_load"),
                rule("SCMP_ACT_TRAP", "ptrace"),
                rule("SCMP_ACT_TRACE", "open", errnoRet=7),
                rule("SCMP_ACT_LOG", "mkdir"),
                rule("SCMP_ACT_NOTIFY", "mknod"),
                rule("SCMP_ACT_ERRNO", "mount", errnoRet=0),
                rule("SCMP_ACT_ERRNO", "umount2", errnoRet=errno.ENOSYS),
            ],
        }
    )
    text = "\n".join(seccomp.describe(plan))
    assert "default action SCMP_ACT_ERRNO: fail with errno 38 (ENOSYS) without running" in text
    assert "the native one, SCMP_ARCH_X86_64, SCMP_ARCH_X86" in text
    assert "seccomp(2) flags: SECCOMP_FILTER_FLAG_LOG" in text
    assert "call0, call1" in text and "and 5 more: allow" in text
    assert "reboot: kill the whole process with SIGSYS" in text
    assert "kexec_load: kill the calling thread with SIGSYS" in text
    assert "ptrace: send SIGSYS to the calling thread" in text
    assert "open: stop for the ptrace tracer (event message 7)" in text
    assert "mkdir: allow and write an audit record" in text
    assert "mknod: suspend the caller until the agent at /run/agent.sock answers" in text
    assert "mount: skip the call and return 0" in text
    assert "linux.seccomp.syscalls[8] is left out: its action is the default action" in text
    assert "does not know for an architecture are skipped" in text
    assert "agent listening on /run/agent.sock with metadata 'meta'" in text
    assert "does not set no_new_privs" in text


def test_describe_of_a_minimal_filter():
    lines = seccomp.describe(plan_of({"defaultAction": "SCMP_ACT_ALLOW", "flags": []}))
    assert "default action SCMP_ACT_ALLOW: allow, for every call no rule matches" in lines
    assert "seccomp(2) flags: none" in lines
    assert lines[2].startswith("architectures: the native one;")


# --- send_to_listener --------------------------------------------------------------------------


@pytest.fixture
def listener(tmp_path):
    path = str(tmp_path / "agent.sock")
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(path)
    server.listen(1)
    yield path, server
    server.close()


def receive(server: socket.socket) -> tuple[dict, list[int]]:
    conn, _ = server.accept()
    with conn:
        data, ancillary, _, _ = conn.recvmsg(65536, socket.CMSG_SPACE(4 * 4))
        while chunk := conn.recv(65536):
            data += chunk
    fds: list[int] = []
    for level, kind, payload in ancillary:
        assert (level, kind) == (socket.SOL_SOCKET, socket.SCM_RIGHTS)
        fds.extend(struct.unpack(f"{len(payload) // 4}i", payload))
    return jsonio.loads(data), fds


def test_send_to_listener_passes_the_fd_and_the_container_process_state(listener):
    path, server = listener
    state = {
        "ociVersion": OCI_VERSION,
        "id": "c1",
        "status": "creating",
        "pid": 4242,
        "bundle": "/b",
        "annotations": {"k": "v"},
    }
    read_end, write_end = os.pipe()
    try:
        seccomp.send_to_listener(path, write_end, state, metadata="MKNOD=/dev/null")
        message, fds = receive(server)
        assert message == {
            "ociVersion": OCI_VERSION,
            "fds": ["seccompFd"],
            "pid": 4242,
            "metadata": "MKNOD=/dev/null",
            "state": state,
        }
        assert len(fds) == 1
        os.write(fds[0], b"through the passed fd")
        os.close(fds[0])
        assert os.read(read_end, 100) == b"through the passed fd"
    finally:
        os.close(read_end)
        os.close(write_end)


def test_send_to_listener_leaves_out_absent_metadata(listener):
    path, server = listener
    read_end, write_end = os.pipe()
    try:
        seccomp.send_to_listener(
            path,
            read_end,
            {"ociVersion": OCI_VERSION, "id": "c", "status": "created", "pid": 7, "bundle": "/b"},
        )
        message, fds = receive(server)
        for fd in fds:
            os.close(fd)
        assert "metadata" not in message and message["pid"] == 7
    finally:
        os.close(read_end)
        os.close(write_end)


def test_send_to_listener_reports_a_missing_or_silent_agent(tmp_path):
    with pytest.raises(NotFound) as missing:
        seccomp.send_to_listener(str(tmp_path / "none.sock"), 0, {"pid": 1})
    assert missing.value.path == str(tmp_path / "none.sock")
    silent = str(tmp_path / "silent.sock")
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.bind(silent)
    s.close()
    with pytest.raises(KernelError) as refused:
        seccomp.send_to_listener(silent, 0, {"pid": 1})
    assert refused.value.errno == errno.ECONNREFUSED


def test_send_to_listener_needs_the_pid():
    with pytest.raises(InvalidArgument) as info:
        seccomp.send_to_listener("/nonexistent", 0, {"id": "c"})
    assert info.value.field == "state.pid"
