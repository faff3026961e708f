"""Seccomp: a filter the kernel runs on every system call a container makes.

A process can hand the kernel a small program (classic BPF) with ``seccomp(2)``. From then on,
before each system call of that process and of every child it forks or program it executes,
the kernel runs the program over the call's number, its architecture (ABI) and its six
arguments, and the program's answer decides what happens: let the call run
(``SECCOMP_RET_ALLOW``), fail it with an errno without running it (``SECCOMP_RET_ERRNO``),
kill the thread or the whole process with ``SIGSYS``, send it a catchable ``SIGSYS``
(``TRAP``), stop it for a ptrace tracer (``TRACE``), allow and write an audit record
(``LOG``), or suspend it while a supervisor process decides (``USER_NOTIF``, libseccomp's
``NOTIFY``). A filter can never be removed, only stacked with more filters.

``linux.seccomp`` in ``config.json`` describes such a filter in libseccomp's words: a
``defaultAction`` for every call no rule matches, ``syscalls`` rules that give an action to
named calls (optionally only when arguments compare as ``args`` say), the
``architectures`` whose calls the filter accepts, and ``flags`` for ``seccomp(2)``.
libseccomp turns names into numbers per architecture and compiles the BPF program
(``boxen.runtime.linux.seccomp``); this module only checks the configuration and decides,
without touching the kernel. The rules follow runc's, so one profile means the same thing
under both runtimes:

* ``SCMP_ACT_ERRNO`` and ``SCMP_ACT_TRACE`` carry a number (``errnoRet``,
  ``defaultErrnoRet``), ``EPERM`` when it is absent; any other action with one is an error,
  as the spec demands.
* ``SCMP_ACT_KILL`` is ``SCMP_ACT_KILL_THREAD``.
* A rule whose action equals the default action changes nothing and is left out.
* Conditions on distinct arguments must all hold; when the same argument is named twice in
  one rule, runc (and so boxen) makes each condition a rule of its own, so any one of them
  is enough.
* Without ``flags``, the filter gets ``SECCOMP_FILTER_FLAG_SPEC_ALLOW`` as runc gives it;
  ``flags: []`` means none. ``SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV`` only means something
  with a notify listener and is dropped without one.
* ``SCMP_ACT_NOTIFY`` needs ``listenerPath`` (the agent's socket), cannot be the default
  action, and cannot apply to ``write``: the container's process writes to its runtime
  after loading the filter, and an agent that has not yet received the notify fd could never
  answer. ``listenerMetadata`` needs ``listenerPath``; ``listenerPath`` without a notify rule
  is ignored.

With a notify rule, ``seccomp(2)`` returns a *notify fd*; :func:`send_to_listener` passes it
to the agent with the container process state, as the spec's ``listenerPath`` describes.
"""

from __future__ import annotations

import errno as _errno

from boxen.common import posixos as os
from boxen.common.errors import InvalidArgument, kernel_error
from boxen.common.record import Record

TYPE_CHECKING = False
if TYPE_CHECKING:
    from boxen.oci.runtime import LinuxSeccomp, LinuxSeccompArg

#: Actions: the kernel's ``SECCOMP_RET_*`` word for each, and whether it carries data.
ACTIONS = {
    "SCMP_ACT_KILL": (0x00000000, False),
    "SCMP_ACT_KILL_THREAD": (0x00000000, False),
    "SCMP_ACT_KILL_PROCESS": (0x80000000, False),
    "SCMP_ACT_TRAP": (0x00030000, False),
    "SCMP_ACT_ERRNO": (0x00050000, True),
    "SCMP_ACT_TRACE": (0x7FF00000, True),
    "SCMP_ACT_LOG": (0x7FFC0000, False),
    "SCMP_ACT_ALLOW": (0x7FFF0000, False),
    "SCMP_ACT_NOTIFY": (0x7FC00000, False),
}
NOTIFY = "SCMP_ACT_NOTIFY"

#: Architectures: the spec's names and libseccomp's own (``seccomp_arch_resolve_name``).
ARCHITECTURES = {
    "SCMP_ARCH_X86": "x86",
    "SCMP_ARCH_X86_64": "x86_64",
    "SCMP_ARCH_X32": "x32",
    "SCMP_ARCH_ARM": "arm",
    "SCMP_ARCH_AARCH64": "aarch64",
    "SCMP_ARCH_LOONGARCH64": "loongarch64",
    "SCMP_ARCH_M68K": "m68k",
    "SCMP_ARCH_MIPS": "mips",
    "SCMP_ARCH_MIPS64": "mips64",
    "SCMP_ARCH_MIPS64N32": "mips64n32",
    "SCMP_ARCH_MIPSEL": "mipsel",
    "SCMP_ARCH_MIPSEL64": "mipsel64",
    "SCMP_ARCH_MIPSEL64N32": "mipsel64n32",
    "SCMP_ARCH_PPC": "ppc",
    "SCMP_ARCH_PPC64": "ppc64",
    "SCMP_ARCH_PPC64LE": "ppc64le",
    "SCMP_ARCH_S390": "s390",
    "SCMP_ARCH_S390X": "s390x",
    "SCMP_ARCH_PARISC": "parisc",
    "SCMP_ARCH_PARISC64": "parisc64",
    "SCMP_ARCH_RISCV64": "riscv64",
    "SCMP_ARCH_SH": "sh",
    "SCMP_ARCH_SHEB": "sheb",
}

#: Argument comparisons: libseccomp's ``enum scmp_compare`` values and their meaning.
OPERATORS = {
    "SCMP_CMP_NE": (1, "!="),
    "SCMP_CMP_LT": (2, "<"),
    "SCMP_CMP_LE": (3, "<="),
    "SCMP_CMP_EQ": (4, "=="),
    "SCMP_CMP_GE": (5, ">="),
    "SCMP_CMP_GT": (6, ">"),
    "SCMP_CMP_MASKED_EQ": (7, "&"),
}

#: The spec's filter flags and their ``seccomp(2)`` bits.
FLAGS = {
    "SECCOMP_FILTER_FLAG_TSYNC": 1,
    "SECCOMP_FILTER_FLAG_LOG": 2,
    "SECCOMP_FILTER_FLAG_SPEC_ALLOW": 4,
    "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV": 32,
}
#: Bits boxen adds itself: return a notify fd, and report a failed TSYNC with ESRCH (which
#: the kernel requires when TSYNC and NEW_LISTENER are both set).
FLAG_NEW_LISTENER = 8
FLAG_TSYNC_ESRCH = 16

#: ``seccomp(2)`` keeps 16 bits of data next to the action (the errno, or ptrace's message).
_DATA_MAX = 0xFFFF
#: System calls take at most six arguments.
_ARGS = 6


class SeccompAction(Record):
    """What the kernel does with a matched call: ``value`` is the ``SECCOMP_RET_*`` word
    (action and data), ``name`` the spec's spelling, ``errno`` the data of ERRNO and TRACE."""

    name: str
    value: int
    errno: int | None = None


class SeccompCondition(Record):
    """Argument ``index`` compared by ``op`` with ``value`` (``SCMP_CMP_MASKED_EQ``:
    ``arg & value == value_two``)."""

    index: int
    op: str
    value: int
    value_two: int = 0


class SeccompRule(Record):
    """One ``syscalls`` entry: its ``names`` get ``action`` when any of ``alternatives``
    holds, each alternative being conditions that must all hold (``((),)``: always).
    ``source`` is the entry's JSON path."""

    names: tuple[str, ...]
    action: SeccompAction
    alternatives: tuple[tuple[SeccompCondition, ...], ...]
    source: str


class SeccompPlan(Record):
    """A checked filter, ready for ``boxen.runtime.linux.seccomp.load``.

    ``filter_flags`` holds the ``seccomp(2)`` flag bits, including ``NEW_LISTENER`` when
    ``notify``; ``skipped`` lists the JSON paths of rules left out as redundant; ``field``
    is the JSON path of the whole object, for errors found while loading.

    ``enosys`` says whether calls newer than the profile get ``ENOSYS`` rather than the
    default action (``boxen.runtime.enosys``); ``names`` are all the calls the profile
    names, skipped rules included, whose highest number per architecture marks "newer".
    """

    default_action: SeccompAction
    architectures: tuple[str, ...]
    flags: tuple[str, ...]
    filter_flags: int
    rules: tuple[SeccompRule, ...]
    notify: bool
    listener_path: str | None
    listener_metadata: str | None
    skipped: tuple[str, ...]
    field: str
    enosys: bool
    names: tuple[str, ...]


#: Default actions under which a call the profile does not know still runs (or is left to a
#: tracer, which can answer ENOSYS itself): no ENOSYS prefix, as with runc.
_PERMISSIVE = ("SCMP_ACT_ALLOW", "SCMP_ACT_LOG", "SCMP_ACT_TRACE")


def _wants_enosys(default: SeccompAction) -> bool:
    if default.name in _PERMISSIVE:
        return False
    return not (default.name == "SCMP_ACT_ERRNO" and default.errno == _errno.ENOSYS)


def _unknown(kind: str, value: str, known: dict, field: str) -> InvalidArgument:
    return InvalidArgument(
        f"unknown {kind} {value!r}; expected one of {', '.join(sorted(known))}", field=field
    )


def _action(name: str, data: int | None, field: str, data_field: str) -> SeccompAction:
    known = ACTIONS.get(name)
    if known is None:
        raise _unknown("action", name, ACTIONS, field)
    value, takes_data = known
    if not takes_data:
        if data is not None:
            raise InvalidArgument(
                f"{name} returns no errno; only SCMP_ACT_ERRNO and SCMP_ACT_TRACE take one", field=data_field
            )
        return SeccompAction(name, value)
    if data is None:
        data = _errno.EPERM
    elif data > _DATA_MAX:
        raise InvalidArgument(f"{data} does not fit in seccomp's 16 bits of return data", field=data_field)
    return SeccompAction(name, value | data, data)


def _conditions(
    args: tuple[LinuxSeccompArg, ...] | None, field: str
) -> tuple[tuple[SeccompCondition, ...], ...]:
    if not args:
        return ((),)
    conditions = []
    for j, arg in enumerate(args):
        if arg.op not in OPERATORS:
            raise _unknown("operator", arg.op, OPERATORS, f"{field}[{j}].op")
        if arg.index >= _ARGS:
            raise InvalidArgument(
                f"argument index {arg.index} is out of range; system calls have arguments 0 to {_ARGS - 1}",
                field=f"{field}[{j}].index",
            )
        conditions.append(SeccompCondition(arg.index, arg.op, arg.value, arg.valueTwo or 0))
    indexes = [c.index for c in conditions]
    if len(set(indexes)) < len(indexes):
        return tuple((c,) for c in conditions)
    return (tuple(conditions),)


def _flags(names: tuple[str, ...] | None, notify: bool, field: str) -> tuple[tuple[str, ...], int]:
    if names is None:
        names = ("SECCOMP_FILTER_FLAG_SPEC_ALLOW",)
    kept: list[str] = []
    bits = 0
    for i, name in enumerate(names):
        bit = FLAGS.get(name)
        if bit is None:
            raise _unknown("flag", name, FLAGS, f"{field}.flags[{i}]")
        if name == "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV" and not notify:
            continue
        if name not in kept:
            kept.append(name)
            bits |= bit
    if notify:
        bits |= FLAG_NEW_LISTENER
        if bits & FLAGS["SECCOMP_FILTER_FLAG_TSYNC"]:
            bits |= FLAG_TSYNC_ESRCH
    return tuple(kept), bits


def plan(seccomp: LinuxSeccomp, field: str = "linux.seccomp") -> SeccompPlan:
    """Check ``linux.seccomp`` and decide the filter.

    Raises :class:`InvalidArgument` naming the JSON path of the first mistake and the values
    that would have been accepted.
    """
    default = _action(
        seccomp.defaultAction, seccomp.defaultErrnoRet, f"{field}.defaultAction", f"{field}.defaultErrnoRet"
    )
    if default.name == NOTIFY:
        raise InvalidArgument(
            "SCMP_ACT_NOTIFY cannot be the default action: the process could not hand over its notify fd",
            field=f"{field}.defaultAction",
        )

    architectures: list[str] = []
    for i, arch in enumerate(seccomp.architectures or ()):
        if arch not in ARCHITECTURES:
            raise _unknown("architecture", arch, ARCHITECTURES, f"{field}.architectures[{i}]")
        if arch not in architectures:
            architectures.append(arch)

    rules: list[SeccompRule] = []
    skipped: list[str] = []
    names: dict[str, None] = {}
    notify = False
    for i, call in enumerate(seccomp.syscalls or ()):
        source = f"{field}.syscalls[{i}]"
        if not call.names:
            raise InvalidArgument("must name at least one system call", field=f"{source}.names")
        for j, name in enumerate(call.names):
            if not name:
                raise InvalidArgument("a system call name cannot be empty", field=f"{source}.names[{j}]")
        names.update(dict.fromkeys(call.names))
        action = _action(call.action, call.errnoRet, f"{source}.action", f"{source}.errnoRet")
        alternatives = _conditions(call.args, f"{source}.args")
        if action.name == NOTIFY:
            if "write" in call.names:
                raise InvalidArgument(
                    "SCMP_ACT_NOTIFY cannot apply to write: the process writes to its runtime after "
                    "loading the filter, before the agent has the notify fd",
                    field=f"{source}.names[{call.names.index('write')}]",
                )
            notify = True
        if action.value == default.value:
            skipped.append(source)
            continue
        rules.append(SeccompRule(tuple(call.names), action, alternatives, source))

    if notify and not seccomp.listenerPath:
        raise InvalidArgument(
            "SCMP_ACT_NOTIFY is used, so listenerPath must name the agent's socket",
            field=f"{field}.listenerPath",
        )
    if seccomp.listenerMetadata is not None and not seccomp.listenerPath:
        raise InvalidArgument(
            "listenerMetadata is set but listenerPath is not", field=f"{field}.listenerMetadata"
        )

    flags, filter_flags = _flags(seccomp.flags, notify, field)
    return SeccompPlan(
        default_action=default,
        architectures=tuple(architectures),
        flags=flags,
        filter_flags=filter_flags,
        rules=tuple(rules),
        notify=notify,
        listener_path=seccomp.listenerPath or None,
        listener_metadata=seccomp.listenerMetadata,
        skipped=tuple(skipped),
        field=field,
        enosys=_wants_enosys(default),
        names=tuple(names),
    )


# --- explaining ---------------------------------------------------------------------------

#: How many system call names one line of :func:`describe` shows before summing up the rest.
_NAMES_SHOWN = 10


def _errno_words(number: int) -> str:
    return f"errno {number} ({_errno.errorcode.get(number, 'unknown')})"


def _action_words(action: SeccompAction, plan: SeccompPlan) -> str:
    name = action.name
    if name == "SCMP_ACT_ALLOW":
        return "allow"
    if name == "SCMP_ACT_ERRNO":
        if action.errno == 0:
            return "skip the call and return 0"
        return f"fail with {_errno_words(action.errno or 0)} without running"
    if name == "SCMP_ACT_KILL_PROCESS":
        return "kill the whole process with SIGSYS"
    if name in ("SCMP_ACT_KILL", "SCMP_ACT_KILL_THREAD"):
        return "kill the calling thread with SIGSYS"
    if name == "SCMP_ACT_TRAP":
        return "send SIGSYS to the calling thread, which may catch it"
    if name == "SCMP_ACT_TRACE":
        return (
            f"stop for the ptrace tracer (event message {action.errno}); "
            "without a tracer the call fails with ENOSYS"
        )
    if name == "SCMP_ACT_LOG":
        return "allow and write an audit record"
    return f"suspend the caller until the agent at {plan.listener_path} answers"


def _condition_words(c: SeccompCondition) -> str:
    if c.op == "SCMP_CMP_MASKED_EQ":
        return f"arg{c.index} & {c.value:#x} == {c.value_two:#x}"
    return f"arg{c.index} {OPERATORS[c.op][1]} {c.value:#x}"


def _names_words(names: tuple[str, ...]) -> str:
    if len(names) <= _NAMES_SHOWN:
        return ", ".join(names)
    return f"{', '.join(names[:_NAMES_SHOWN])} and {len(names) - _NAMES_SHOWN} more"


def describe(plan: SeccompPlan) -> list[str]:
    """The plan in plain words, one line per fact, for ``--explain``."""
    default = plan.default_action
    architectures = "".join(f", {a}" for a in plan.architectures)
    lines = [
        (
            "seccomp: the kernel runs a BPF filter on every system call of the container's process "
            "and its descendants; it cannot be removed once loaded"
        ),
        f"default action {default.name}: {_action_words(default, plan)}, for every call no rule matches",
        f"architectures: the native one{architectures}; a call made through any other ABI kills the thread",
        f"seccomp(2) flags: {', '.join(plan.flags) if plan.flags else 'none'}",
    ]
    for rule in plan.rules:
        when = ""
        if rule.alternatives != ((),):
            when = " when " + ", or when ".join(
                " and ".join(map(_condition_words, a)) for a in rule.alternatives
            )
        lines.append(
            f"{rule.source} {rule.action.name}: {_names_words(rule.names)}: "
            f"{_action_words(rule.action, plan)}{when}"
        )
    for source in plan.skipped:
        lines.append(f"{source} is left out: its action is the default action")
    if plan.enosys:
        lines.append(
            "a call numbered above the highest the profile names (per architecture) fails with ENOSYS, "
            "not the default action, so a C library newer than the profile falls back to older calls "
            "(as runc does)"
        )
    lines.append(
        "system call names libseccomp does not know for an architecture are skipped, not an error "
        "(as runc does): the kernel has no such call there to filter"
    )
    if plan.notify:
        metadata = f" with metadata {plan.listener_metadata!r}" if plan.listener_metadata else ""
        lines.append(
            f"the notify fd goes to the agent listening on {plan.listener_path}{metadata}, "
            "with the container process state"
        )
    elif plan.listener_path:
        lines.append(f"listenerPath {plan.listener_path} is ignored: no rule uses SCMP_ACT_NOTIFY")
    lines.append("loading the filter does not set no_new_privs: process.noNewPrivileges decides that")
    return lines


# --- the notify listener --------------------------------------------------------------------


def connect_listener(listener_path: str) -> int:
    """Connect to the seccomp agent's socket (``listenerPath``); returns the socket's descriptor.

    The container's init connects before it switches root (the agent's path is a host path)
    and sends the notify fd over this connection once the filter is loaded.
    """
    import _socket

    sock = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM | _socket.SOCK_CLOEXEC)
    try:
        sock.connect(listener_path)
    except OSError as exc:
        sock.close()
        raise kernel_error(exc.errno or 0, "connect", listener_path, "the seccomp agent's listenerPath") from None
    return sock.detach()


def send_notify_fd(sock_fd: int, notify_fd: int, state: dict, metadata: str | None = None,
                   listener_path: str = "listenerPath") -> None:
    """Send the *container process state* with ``notify_fd`` attached, over a connected socket.

    The message is ``{"ociVersion", "fds": ["seccompFd"], "pid", "metadata", "state"}`` with the
    notify fd as ``SCM_RIGHTS``. ``state`` is the container's state document (``ociVersion``,
    ``id``, ``status``, ``pid``, ``bundle``...); its ``pid`` is the container process's.
    ``metadata`` is ``listenerMetadata``.
    """
    import _socket
    import struct

    payload = _process_state(state, metadata)
    sock = _socket.socket(fileno=sock_fd)
    try:
        rights = [(_socket.SOL_SOCKET, _socket.SCM_RIGHTS, struct.pack("i", notify_fd))]
        sent = sock.sendmsg([payload], rights)
        if sent < len(payload):
            sock.sendall(payload[sent:])
    except OSError as exc:
        raise kernel_error(exc.errno or 0, "sendmsg", listener_path, "the seccomp agent's listenerPath") from None
    finally:
        sock.detach()


def _process_state(state: dict, metadata: str | None) -> bytes:
    from boxen.common import jsonio
    from boxen.oci.runtime import OCI_VERSION

    if not isinstance(state.get("pid"), int):
        raise InvalidArgument("the container state has no pid", field="state.pid")
    message = {"ociVersion": OCI_VERSION, "fds": ["seccompFd"], "pid": state["pid"]}
    if metadata is not None:
        message["metadata"] = metadata
    message["state"] = state
    return jsonio.dumps(message).encode()


def send_to_listener(listener_path: str, notify_fd: int, state: dict, metadata: str | None = None) -> None:
    """Hand ``notify_fd`` to the seccomp agent listening on ``listener_path``, over one new
    ``AF_UNIX`` stream connection that is then closed (see :func:`send_notify_fd`)."""
    _process_state(state, metadata)  # refuse a bad state before connecting
    sock_fd = connect_listener(listener_path)
    try:
        send_notify_fd(sock_fd, notify_fd, state, metadata, listener_path)
    finally:
        os.close(sock_fd)
