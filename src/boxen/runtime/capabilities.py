"""Linux capabilities: root's power split into 41 named privileges.

Instead of "uid 0 may do anything", the kernel checks a specific capability for each
privileged act: ``CAP_CHOWN`` to change file owners, ``CAP_NET_BIND_SERVICE`` to bind ports
below 1024, ``CAP_SYS_ADMIN`` for mount and most of the rest. A process has five sets:

* **bounding**: the most it can ever get back (dropped with ``prctl(PR_CAPBSET_DROP)``);
* **permitted**: what it may enable;
* **effective**: what the kernel checks right now;
* **inheritable**: what may pass through ``execve`` to programs whose files allow it;
* **ambient**: what passes through ``execve`` to any program that is not setuid.

A container's process gets exactly the sets of ``process.capabilities``; the runtime drops
everything else. The sets are 64-bit masks, bit *n* being capability *n* below.
"""

from __future__ import annotations

from boxen.common.errors import InvalidArgument

#: Capability names in kernel number order: NAMES[n] is capability n.
NAMES = (
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_DAC_READ_SEARCH",
    "CAP_FOWNER",
    "CAP_FSETID",
    "CAP_KILL",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETPCAP",
    "CAP_LINUX_IMMUTABLE",
    "CAP_NET_BIND_SERVICE",
    "CAP_NET_BROADCAST",
    "CAP_NET_ADMIN",
    "CAP_NET_RAW",
    "CAP_IPC_LOCK",
    "CAP_IPC_OWNER",
    "CAP_SYS_MODULE",
    "CAP_SYS_RAWIO",
    "CAP_SYS_CHROOT",
    "CAP_SYS_PTRACE",
    "CAP_SYS_PACCT",
    "CAP_SYS_ADMIN",
    "CAP_SYS_BOOT",
    "CAP_SYS_NICE",
    "CAP_SYS_RESOURCE",
    "CAP_SYS_TIME",
    "CAP_SYS_TTY_CONFIG",
    "CAP_MKNOD",
    "CAP_LEASE",
    "CAP_AUDIT_WRITE",
    "CAP_AUDIT_CONTROL",
    "CAP_SETFCAP",
    "CAP_MAC_OVERRIDE",
    "CAP_MAC_ADMIN",
    "CAP_SYSLOG",
    "CAP_WAKE_ALARM",
    "CAP_BLOCK_SUSPEND",
    "CAP_AUDIT_READ",
    "CAP_PERFMON",
    "CAP_BPF",
    "CAP_CHECKPOINT_RESTORE",
)
NUMBERS = {name: number for number, name in enumerate(NAMES)}

#: The five sets, in the order the spec lists them.
SETS = ("bounding", "effective", "inheritable", "permitted", "ambient")


def last_cap(proc: str = "/proc") -> int:
    """The highest capability number this kernel knows (``/proc/sys/kernel/cap_last_cap``)."""
    try:
        with open(f"{proc}/sys/kernel/cap_last_cap", "rb") as f:
            return int(f.read())
    except OSError:
        return len(NAMES) - 1


def to_mask(names: tuple[str, ...] | list[str] | None, field: str) -> int:
    """The mask of ``names``; an unknown name is an error naming its JSON path."""
    mask = 0
    for i, name in enumerate(names or ()):
        number = NUMBERS.get(name)
        if number is None:
            raise InvalidArgument(f"unknown capability {name!r} (expected a name such as CAP_CHOWN)",
                                  field=f"{field}[{i}]")
        mask |= 1 << number
    return mask


def to_names(mask: int) -> list[str]:
    """The names of the capabilities in ``mask`` (numbers past the table as ``CAP_<n>``)."""
    names = []
    number = 0
    while mask >> number:
        if mask >> number & 1:
            names.append(NAMES[number] if number < len(NAMES) else f"CAP_{number}")
        number += 1
    return names


def parse_name(text: str, field: str) -> str:
    """Accept ``CAP_NET_RAW``, ``NET_RAW`` or ``net_raw`` (as ``runc exec --cap`` does)."""
    name = text.upper()
    if not name.startswith("CAP_"):
        name = "CAP_" + name
    if name not in NUMBERS:
        raise InvalidArgument(f"unknown capability {text!r}", field=field)
    return name
