"""The cgroup v2 device filter, decoded and run by a small eBPF interpreter.

The interpreter knows exactly the instructions ``devicefilter`` may emit and fails on any other,
so these tests check both what the program decides and that it stays within that subset. It
follows the kernel's semantics: 32-bit ALU operations zero the upper half of the destination,
``BPF_JMP32`` compares the lower 32 bits, a jump goes to ``pc + 1 + off``, and at entry ``r1``
points to the context (modelled as ``CTX``: only loads may use it).
"""

import struct

import pytest

from boxen.oci.runtime import LinuxDeviceCgroup
from boxen.runtime.cgroups.devicefilter import device_filter, program
from boxen.runtime.cgroups.devices import ALL, WILDCARD, DeviceRule, DeviceState, access_bits, device_rules

BLOCK, CHAR = 1, 2
MKNOD, READ, WRITE = 1, 2, 4  # BPF_DEVCG_ACC_* (the context's bits, not DeviceRule's)
M32 = 0xFFFFFFFF
CTX = object()


def run(prog: bytes, dev_type: int, access: int, major: int, minor: int) -> int:
    """Run ``prog`` on one ``struct bpf_cgroup_dev_ctx`` and return r0."""
    ctx = struct.pack("<III", dev_type | (access << 16), major, minor)
    insns = [struct.unpack_from("<BBhi", prog, i) for i in range(0, len(prog), 8)]
    regs: list = [0] * 11
    regs[1] = CTX
    pc = 0
    for _ in range(len(insns)):  # straight-line code with forward jumps: at most one pass
        assert 0 <= pc < len(insns), f"jumped outside the program to {pc}"
        code, regbits, off, imm = insns[pc]
        dst, src = regbits & 0xF, regbits >> 4
        if code == 0x61:  # ldxw dst, [src + off]
            assert regs[src] is CTX and off in (0, 4, 8), "loads only from the context"
            regs[dst] = struct.unpack_from("<I", ctx, off)[0]
        elif code == 0x54:  # and32 dst, imm
            regs[dst] = regs[dst] & imm & M32
        elif code == 0x74:  # rsh32 dst, imm
            regs[dst] = (regs[dst] & M32) >> imm
        elif code == 0xBC:  # mov32 dst, src
            regs[dst] = regs[src] & M32
        elif code == 0xB4:  # mov32 dst, imm
            regs[dst] = imm & M32
        elif code == 0x56:  # jne32 dst, imm
            assert off > 0, "jumps go forward"
            pc += off if regs[dst] & M32 != imm & M32 else 0
        elif code == 0x16:  # jeq32 dst, imm
            assert off > 0, "jumps go forward"
            pc += off if regs[dst] & M32 == imm & M32 else 0
        elif code == 0x5E:  # jne32 dst, src
            assert off > 0, "jumps go forward"
            pc += off if regs[dst] & M32 != regs[src] & M32 else 0
        elif code == 0x95:  # exit
            return regs[0]
        else:
            raise AssertionError(f"unexpected instruction code {code:#x} at {pc}")
        pc += 1
    raise AssertionError("ran off the end without exit")


def _default_program() -> bytes:
    return program(DeviceState.from_rules(device_rules(None)))


def test_default_rules_allow_the_standard_devices():
    prog = _default_program()
    for major, minor in ((1, 3), (1, 5), (1, 7), (1, 8), (1, 9), (5, 0), (5, 2), (10, 200), (136, 7)):
        assert run(prog, CHAR, READ | WRITE, major, minor) == 1, (major, minor)


def test_default_rules_allow_mknod_of_anything_but_not_its_use():
    prog = _default_program()
    assert run(prog, BLOCK, MKNOD, 8, 0) == 1
    assert run(prog, CHAR, MKNOD, 10, 229) == 1
    assert run(prog, BLOCK, READ, 8, 0) == 0
    assert run(prog, CHAR, READ | WRITE, 10, 229) == 0
    assert run(prog, CHAR, READ, 1, 1) == 0  # /dev/mem


def test_partial_access_rules_allow_only_their_bits():
    rules = device_rules((LinuxDeviceCgroup(allow=False, access="rwm"),
                          LinuxDeviceCgroup(allow=True, type="c", major=10, minor=229, access="rw")))
    prog = program(DeviceState.from_rules(rules))
    assert run(prog, CHAR, READ, 10, 229) == 1
    assert run(prog, CHAR, READ | WRITE, 10, 229) == 1
    assert run(prog, CHAR, MKNOD, 10, 229) == 1  # by the default "c *:* m"
    assert run(prog, BLOCK, READ, 10, 229) == 0  # the type counts


def test_an_allow_all_default_with_denials():
    rules = [DeviceRule("a", WILDCARD, WILDCARD, ALL, True), DeviceRule("c", 1, 3, access_bits("w"), False)]
    prog = program(DeviceState.from_rules(rules))
    assert run(prog, CHAR, WRITE, 1, 3) == 0
    assert run(prog, CHAR, READ | WRITE, 1, 3) == 0  # O_RDWR asks for both: the denied bit denies
    assert run(prog, CHAR, READ, 1, 3) == 1
    assert run(prog, CHAR, MKNOD, 1, 3) == 1
    assert run(prog, BLOCK, READ | WRITE, 8, 0) == 1


def test_allow_all_is_a_single_return():
    prog = program(DeviceState(True))
    assert len(prog) == 8 * 8  # six loads, r0 = 1, exit
    assert run(prog, BLOCK, READ, 8, 0) == 1


def test_numbers_above_2_to_the_31_compare_as_unsigned_32_bit():
    prog = program(DeviceState(False, {("c", 3_000_000_000, WILDCARD): ALL}))  # no such device, but valid
    assert run(prog, CHAR, READ, 3_000_000_000, 0) == 1
    assert run(prog, CHAR, READ, 3_000_000_000 - (1 << 31), 0) == 0


@pytest.mark.parametrize("major, minor", [(WILDCARD, 5), (7, WILDCARD), (WILDCARD, WILDCARD), (7, 5)])
def test_wildcards_skip_their_test(major, minor):
    prog = program(DeviceState(False, {("b", major, minor): access_bits("r")}))
    assert run(prog, BLOCK, READ, 7, 5) == 1
    assert run(prog, BLOCK, READ, 7 if major == WILDCARD else 8, 5 if minor == WILDCARD else 6) == (
        1 if major == minor == WILDCARD else 0)


def test_the_plan_entry_names_the_rules():
    entry = device_filter("/sys/fs/cgroup/c", DeviceState.from_rules(device_rules(None)))
    assert entry.path == "/sys/fs/cgroup/c"
    assert entry.value.startswith("deny all devices but: c *:* m, b *:* m, c 1:3 rwm")
    assert entry.instructions == _default_program()
