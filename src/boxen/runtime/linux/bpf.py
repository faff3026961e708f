"""The ``bpf()`` system call: load eBPF programs and attach them to cgroups.

eBPF is a small register machine inside the kernel. A program is an array of 8-byte
instructions; ``bpf(BPF_PROG_LOAD)`` hands it to the kernel's *verifier*, which proves that it
terminates and touches only memory it may, and returns a file descriptor for the loaded
program. The program's *type* fixes what it receives and what its return value means.

A ``BPF_PROG_TYPE_CGROUP_DEVICE`` program is the cgroup v2 replacement for v1's
``devices.allow``/``devices.deny`` files. It is attached to a cgroup directory with
``bpf(BPF_PROG_ATTACH, attach_type=BPF_CGROUP_DEVICE)``; from then on, whenever a process in
that cgroup (or below it) opens or ``mknod``\\ s a device node, the kernel runs the program with a
``struct bpf_cgroup_dev_ctx`` (access type and device type, major, minor) and allows the access
if it returns 1. With ``BPF_F_ALLOW_MULTI`` several programs may sit on one cgroup, and every
one of them, and those of the ancestors, must allow the access.

``BPF_PROG_QUERY`` lists the ids of the programs attached to a cgroup,
``BPF_PROG_GET_FD_BY_ID`` turns an id back into a file descriptor, and ``BPF_PROG_DETACH``
removes one program. A program stays loaded while a file descriptor or an attachment holds it,
so closing our descriptor after attaching is what a runtime does: the cgroup keeps it alive.

The attribute structures (``union bpf_attr`` in ``include/uapi/linux/bpf.h``) are packed here
with :mod:`struct`, little-endian like the two machines boxen knows (x86-64, arm64)::

    BPF_PROG_LOAD:   u32 prog_type, u32 insn_cnt, u64 insns, u64 license, u32 log_level,
                     u32 log_size, u64 log_buf, u32 kern_version, u32 prog_flags,
                     char prog_name[16], u32 prog_ifindex, u32 expected_attach_type
    BPF_PROG_ATTACH/DETACH: u32 target_fd, u32 attach_bpf_fd, u32 attach_type, u32 attach_flags,
                     u32 replace_bpf_fd
    BPF_PROG_QUERY:  u32 target_fd, u32 attach_type, u32 query_flags, u32 attach_flags,
                     u64 prog_ids, u32 prog_cnt
    BPF_PROG_GET_FD_BY_ID: u32 prog_id, u32 next_id, u32 open_flags

Programs themselves are built in pure code elsewhere (``boxen.runtime.cgroups.devicefilter``).
"""

from __future__ import annotations

import struct
from _ctypes import addressof

from boxen.common.errors import KernelError, kernel_error
from boxen.runtime.linux.libc import buffer, buffer_from, syscall

# bpf() commands
BPF_PROG_LOAD = 5
BPF_PROG_ATTACH = 8
BPF_PROG_DETACH = 9
BPF_PROG_GET_FD_BY_ID = 13
BPF_PROG_QUERY = 16

#: Program type of a cgroup device filter.
BPF_PROG_TYPE_CGROUP_DEVICE = 15
#: Attach type of a cgroup device filter.
BPF_CGROUP_DEVICE = 6

#: Attach flag: more programs may be attached to the same cgroup beside this one.
BPF_F_ALLOW_MULTI = 1 << 1

_LOG_SIZE = 1 << 16
_MAX_QUERY = 64  # the kernel allows at most 64 programs per cgroup and attach type


def prog_load(prog_type: int, instructions: bytes, license: str, name: str = "") -> int:
    """Load a program (``instructions`` is a multiple of 8 bytes) and return its file descriptor.

    If the verifier refuses it, the error's detail carries the verifier's log.
    """
    if len(instructions) % 8:
        raise ValueError("eBPF instructions are 8 bytes each")
    insns = buffer_from(instructions)
    lic = buffer_from(license.encode() + b"\0")
    try:
        return _load(prog_type, insns, lic, name, None)
    except KernelError as exc:
        log = buffer(_LOG_SIZE)
        try:
            _load(prog_type, insns, lic, name, log)
        except KernelError:
            text = log.raw.split(b"\0", 1)[0].decode(errors="replace").strip()
            raise kernel_error(exc.errno, "bpf(BPF_PROG_LOAD)", None, text) from None
        raise


def _load(prog_type: int, insns, lic, name: str, log) -> int:
    attr = struct.pack(
        "<IIQQIIQII16sII",
        prog_type,
        len(insns.raw) // 8,
        addressof(insns),
        addressof(lic),
        1 if log is not None else 0,
        _LOG_SIZE if log is not None else 0,
        addressof(log) if log is not None else 0,
        0,
        0,
        name.encode()[:15],
        0,
        0,
    )
    return syscall("bpf", BPF_PROG_LOAD, attr, len(attr))


def prog_attach(target_fd: int, prog_fd: int, attach_type: int, flags: int = 0, path: str | None = None) -> None:
    """Attach the program ``prog_fd`` to the cgroup directory ``target_fd``."""
    attr = struct.pack("<IIIII", target_fd, prog_fd, attach_type, flags, 0)
    syscall("bpf", BPF_PROG_ATTACH, attr, len(attr), path=path)


def prog_detach(target_fd: int, prog_fd: int, attach_type: int, path: str | None = None) -> None:
    """Detach the program ``prog_fd`` from the cgroup directory ``target_fd``."""
    attr = struct.pack("<IIIII", target_fd, prog_fd, attach_type, 0, 0)
    syscall("bpf", BPF_PROG_DETACH, attr, len(attr), path=path)


def prog_query(target_fd: int, attach_type: int, path: str | None = None) -> list[int]:
    """The ids of the programs of ``attach_type`` attached to the cgroup directory ``target_fd``."""
    ids = buffer(4 * _MAX_QUERY)
    attr = buffer_from(struct.pack("<IIIIQI4x", target_fd, attach_type, 0, 0, addressof(ids), _MAX_QUERY))
    syscall("bpf", BPF_PROG_QUERY, attr, len(attr.raw), path=path)
    count = struct.unpack_from("<I", attr.raw, 24)[0]
    return list(struct.unpack_from(f"<{count}I", ids.raw))


def prog_get_fd_by_id(prog_id: int) -> int:
    """A new file descriptor for the loaded program with id ``prog_id``."""
    attr = struct.pack("<III", prog_id, 0, 0)
    return syscall("bpf", BPF_PROG_GET_FD_BY_ID, attr, len(attr), path=f"program id {prog_id}")
