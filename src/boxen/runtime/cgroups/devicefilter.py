"""The cgroup v2 device filter: device rules compiled to an eBPF program.

cgroup v2 dropped v1's ``devices.allow`` files. Instead a program of type
``BPF_PROG_TYPE_CGROUP_DEVICE`` is attached to the cgroup, and the kernel runs it on every
open or ``mknod`` of a device node by a process inside, passing a pointer (register ``r1``) to::

    struct bpf_cgroup_dev_ctx {
        __u32 access_type;  /* low 16 bits: BPF_DEVCG_DEV_BLOCK (1) or _CHAR (2);
                               high 16 bits: BPF_DEVCG_ACC_MKNOD (1) | _READ (2) | _WRITE (4) */
        __u32 major;
        __u32 minor;
    };

The program returns 1 (in ``r0``) to allow the access and 0 to refuse it (``EPERM``). The one
built here has this shape, one block per rule, first match wins::

    r2 = type, r3 = access, r4 = major, r5 = minor     ; load the context
    block 0:  if w2 != type  goto block 1
              if (w3 & access) != w3  goto block 1    ; an allow rule not for "rwm": all asked
                                                      ; bits must be allowed
              if (w3 & access) == 0  goto block 1     ; a deny rule not for "rwm": any asked
                                                      ; bit that is denied denies
              if w4 != major goto block 1             ; only when the rule names a major
              if w5 != minor goto block 1             ; only when the rule names a minor
              r0 = allow; exit
    block 1:  ...
    last:     r0 = default; exit

The rules are first replayed on :class:`~boxen.runtime.cgroups.devices.DeviceState`, exactly as
for v1, so both versions refuse the same configurations and the program holds only the
exceptions to one default (all allowing, or all denying: their order then does not matter).
The access tests are v1's: an access is allowed by a grant only if the grant covers every
asked bit, and refused by a denial if it asks for any denied bit (``open(O_RDWR)`` asks for
read and write at once). runc's filter tests denials like grants, which lets ``O_RDWR``
through a denial of ``w`` alone; boxen keeps v1's meaning.

Each instruction is 8 bytes, ``struct bpf_insn``: ``u8 code; u8 dst_reg:4, src_reg:4;
s16 off; s32 imm``. Comparisons use the 32-bit jump class (``BPF_JMP32``, Linux 5.1), since
the context fields are 32-bit and a major above 2^31 would not survive sign extension.
"""

from __future__ import annotations

import struct

from boxen.runtime.cgroups.devices import ALL, WILDCARD, DeviceState, summary
from boxen.runtime.cgroups.writes import DeviceFilter

# Instruction codes (class | operation | source), from include/uapi/linux/bpf.h.
LDX_MEM_W = 0x61  # BPF_LDX | BPF_MEM | BPF_W: dst = *(u32 *)(src + off)
AND32_K = 0x54  # BPF_ALU | BPF_AND | BPF_K: w(dst) &= imm
RSH32_K = 0x74  # BPF_ALU | BPF_RSH | BPF_K: w(dst) >>= imm
MOV32_X = 0xBC  # BPF_ALU | BPF_MOV | BPF_X: w(dst) = w(src)
MOV32_K = 0xB4  # BPF_ALU | BPF_MOV | BPF_K: w(dst) = imm
JNE32_K = 0x56  # BPF_JMP32 | BPF_JNE | BPF_K: if w(dst) != imm goto pc + 1 + off
JNE32_X = 0x5E  # BPF_JMP32 | BPF_JNE | BPF_X: if w(dst) != w(src) goto pc + 1 + off
JEQ32_K = 0x16  # BPF_JMP32 | BPF_JEQ | BPF_K: if w(dst) == imm goto pc + 1 + off
EXIT = 0x95  # BPF_JMP | BPF_EXIT: return r0

DEV_TYPE = {"b": 1, "c": 2}  # BPF_DEVCG_DEV_BLOCK, BPF_DEVCG_DEV_CHAR
# BPF_DEVCG_ACC_* bits, from our READ/WRITE/MKNOD bits (1, 2, 4).
_BPF_ACCESS = {1: 2, 2: 4, 4: 1}


def insn(code: int, dst: int = 0, src: int = 0, off: int = 0, imm: int = 0) -> bytes:
    """One ``struct bpf_insn``; ``imm`` may be given as an unsigned 32-bit value."""
    if imm >= 1 << 31:
        imm -= 1 << 32
    return struct.pack("<BBhi", code, (src << 4) | dst, off, imm)


_PROLOGUE = (
    insn(LDX_MEM_W, 2, 1, 0),  # r2 = ctx->access_type
    insn(AND32_K, 2, imm=0xFFFF),  # w2 &= 0xffff: device type
    insn(LDX_MEM_W, 3, 1, 0),  # r3 = ctx->access_type
    insn(RSH32_K, 3, imm=16),  # w3 >>= 16: access
    insn(LDX_MEM_W, 4, 1, 4),  # r4 = ctx->major
    insn(LDX_MEM_W, 5, 1, 8),  # r5 = ctx->minor
)


def _bpf_access(bits: int) -> int:
    return sum(v for ours, v in _BPF_ACCESS.items() if bits & ours)


def _block(type_: str, major: int, minor: int, access: int, allow: bool) -> list[tuple[int, int, int, int, int]]:
    """The tests of one rule as (code, dst, src, jump?, imm); jumps are patched to the block's end."""
    tests = [(JNE32_K, 2, 0, 1, DEV_TYPE[type_])]
    if access != ALL:
        tests += [(MOV32_X, 1, 3, 0, 0), (AND32_K, 1, 0, 0, _bpf_access(access))]
        tests.append((JNE32_X, 1, 3, 1, 0) if allow else (JEQ32_K, 1, 0, 1, 0))
    if major != WILDCARD:
        tests.append((JNE32_K, 4, 0, 1, major))
    if minor != WILDCARD:
        tests.append((JNE32_K, 5, 0, 1, minor))
    return tests + [(MOV32_K, 0, 0, 0, 1 if allow else 0), (EXIT, 0, 0, 0, 0)]


def program(state: DeviceState) -> bytes:
    """The eBPF instructions that enforce ``state``."""
    out = list(_PROLOGUE)
    for rule in state.exceptions():
        block = _block(rule.type, rule.major, rule.minor, rule.access, rule.allow)
        for i, (code, dst, src, jump, imm) in enumerate(block):
            out.append(insn(code, dst, src, len(block) - 1 - i if jump else 0, imm))
    out += [insn(MOV32_K, 0, imm=1 if state.default_allow else 0), insn(EXIT)]
    return b"".join(out)


def device_filter(directory: str, state: DeviceState) -> DeviceFilter:
    """The plan entry that attaches the filter for ``state`` to a cgroup v2 directory."""
    return DeviceFilter(directory, summary(state),
                        "attach an eBPF program that checks every device open and mknod in the cgroup "
                        "(cgroup v2 has no devices.allow)", program(state))
