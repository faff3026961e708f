"""The ``ENOSYS`` prefix of a seccomp filter: system calls newer than the profile are "not implemented".

A seccomp profile is written at one time against one kernel. Its default action covers every
call it does not name, so when a later kernel and C library add a call (``clone3`` in Linux
5.3, ``faccessat2``, ``openat2``...), a profile that denies by default answers that call with
its default errno, usually ``EPERM``. A C library that tries the new call first treats
``ENOSYS`` as "this kernel is too old" and falls back to the old call, but treats ``EPERM`` as
a real refusal: the program fails. runc therefore puts a short program in front of the filter
libseccomp compiles: for each architecture, a call whose number is above the highest number
the profile names gets ``ENOSYS``; every other call goes on to the filter. boxen does the
same, with its own code.

The prefix is classic BPF, like the filter. The kernel runs it over ``struct seccomp_data``
(``int nr`` at offset 0, ``u32 arch`` at offset 4); each instruction is ``struct
sock_filter`` (``u16 code; u8 jt; u8 jf; u32 k``), and conditional jumps skip ``jt`` or
``jf`` instructions forwards, at most 255::

        ld   [4]                         ; the architecture (AUDIT_ARCH_*)
        jeq  ARCH_1, 0, next_1           ; one section per architecture
        ld   [0]                         ; the system call number
        jgt  HIGHEST_1, enosys, filter
  next_1:
        ...
        ja   filter                      ; an architecture the profile left out: the filter
  enosys:                                ;   decides (it kills the caller)
        ret  ERRNO(ENOSYS)
  filter:                                ; libseccomp's program, unchanged

Two architectures need more. On x86-64 the x32 ABI shares ``AUDIT_ARCH_X86_64`` and marks its
numbers with bit 30 (``__X32_SYSCALL_BIT``), so that section first tells the two ABIs apart by
that bit and compares each with its own highest number (an ABI the profile does not list
goes to the filter). On s390 and s390x, a number the kernel does not know arrives as 0
(``setup``, the slot for multiplexed large numbers), so 0 gets ``ENOSYS`` too.

Architectures are named by libseccomp's tokens (``seccomp_arch_resolve_name``), which are the
kernel's ``AUDIT_ARCH_*`` values except for x32's. The highest numbers come from libseccomp
(``boxen.runtime.linux.seccomp``); this module only assembles the instructions.
"""

from __future__ import annotations

import errno
import struct

#: libseccomp's tokens that are not the kernel's AUDIT_ARCH value, or that need more code.
AUDIT_ARCH_X86_64 = 0xC000003E
SCMP_ARCH_X32 = 0x4000003E
_S390 = (0x00000016, 0x80000016)  # AUDIT_ARCH_S390, AUDIT_ARCH_S390X
X32_SYSCALL_BIT = 0x40000000

#: ``SECCOMP_RET_ERRNO | ENOSYS``.
RET_ENOSYS = 0x00050000 | errno.ENOSYS

# Classic BPF instruction codes (include/uapi/linux/filter.h): class | size/op | source.
LD_W_ABS = 0x20  # BPF_LD | BPF_W | BPF_ABS: A = *(u32 *)(data + k)
JA = 0x05  # BPF_JMP | BPF_JA: pc += k
JEQ_K = 0x15  # BPF_JMP | BPF_JEQ | BPF_K: pc += (A == k) ? jt : jf
JGT_K = 0x25  # BPF_JMP | BPF_JGT | BPF_K: pc += (A > k) ? jt : jf  (unsigned)
JSET_K = 0x45  # BPF_JMP | BPF_JSET | BPF_K: pc += (A & k) ? jt : jf
RET_K = 0x06  # BPF_RET | BPF_K: return k

_OFFSET_NR = 0
_OFFSET_ARCH = 4
#: Offsets of a conditional jump fit in one byte.
_JUMP_MAX = 255

_ENOSYS = "enosys"
_FILTER = "filter"


def _section(native: int, highest: dict[int, int], label: str) -> list[tuple]:
    """The instructions for one native architecture, up to (not including) ``label``, the
    next section. ``highest`` maps each of its ABIs' tokens to their highest number."""
    code: list[tuple] = [(JEQ_K, 0, label, native), (LD_W_ABS, 0, 0, _OFFSET_NR)]
    if native == AUDIT_ARCH_X86_64:
        x86_64, x32 = highest.get(AUDIT_ARCH_X86_64), highest.get(SCMP_ARCH_X32)
        if x86_64 is not None and x32 is not None:
            return code + [
                (JSET_K, 1, 0, X32_SYSCALL_BIT),
                (JGT_K, _ENOSYS, _FILTER, x86_64),
                (JGT_K, _ENOSYS, _FILTER, x32),
            ]
        if x32 is not None:
            return code + [(JSET_K, 0, _FILTER, X32_SYSCALL_BIT), (JGT_K, _ENOSYS, _FILTER, x32)]
        return code + [(JSET_K, _FILTER, 0, X32_SYSCALL_BIT), (JGT_K, _ENOSYS, _FILTER, x86_64)]
    if native in _S390:
        code.append((JEQ_K, _ENOSYS, 0, 0))
    return code + [(JGT_K, _ENOSYS, _FILTER, highest[native])]


def _assemble(code: list[tuple], labels: dict[str, int]) -> bytes:
    out = []
    for pc, (op, jt, jf, k) in enumerate(code):
        if op == JA:
            k = labels[k] - pc - 1
        else:
            jt = labels[jt] - pc - 1 if isinstance(jt, str) else jt
            jf = labels[jf] - pc - 1 if isinstance(jf, str) else jf
            if not (0 <= jt <= _JUMP_MAX and 0 <= jf <= _JUMP_MAX):
                raise ValueError(f"a jump of the ENOSYS prefix does not fit in a byte (instruction {pc})")
        out.append(struct.pack("=HBBI", op, jt, jf, k))
    return b"".join(out)


def prefix(highest: dict[int, int]) -> bytes:
    """The BPF instructions to put before a filter so that, on each architecture (a
    libseccomp token) in ``highest``, a call numbered above its value fails with ``ENOSYS``.

    An empty ``highest`` gives an empty prefix.
    """
    if not highest:
        return b""
    natives: dict[int, dict[int, int]] = {}
    for token, number in sorted(highest.items()):
        native = AUDIT_ARCH_X86_64 if token == SCMP_ARCH_X32 else token
        natives.setdefault(native, {})[token] = number
    code: list[tuple] = [(LD_W_ABS, 0, 0, _OFFSET_ARCH)]
    labels: dict[str, int] = {}
    for i, (native, numbers) in enumerate(natives.items()):
        code += _section(native, numbers, f"next{i}")
        labels[f"next{i}"] = len(code)
    code.append((JA, 0, 0, _FILTER))
    labels[_ENOSYS] = len(code)
    code.append((RET_K, 0, 0, RET_ENOSYS))
    labels[_FILTER] = len(code)
    return _assemble(code, labels)
