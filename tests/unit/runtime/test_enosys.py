"""The ENOSYS prefix, run on a small classic-BPF interpreter: which calls get ENOSYS and which
reach the filter, per architecture and ABI; and the plan's decision to add it."""

import errno
import struct

import pytest

from boxen.common.schema import from_json
from boxen.oci.runtime import LinuxSeccomp
from boxen.runtime import enosys, seccomp

X86_64, X86, X32, AARCH64, S390X = 0xC000003E, 0x40000003, 0x4000003E, 0xC00000B7, 0x80000016
#: What the stand-in filter after the prefix returns: "the filter decided".
FILTER = 0x7FFF1234
ENOSYS = 0x00050000 | errno.ENOSYS


def run(program: bytes, nr: int, arch: int) -> int:
    """Interpret ``program`` (the subset of classic BPF the prefix uses) over seccomp_data."""
    data = struct.pack("=iI", nr, arch)
    insns = [struct.unpack_from("=HBBI", program, i) for i in range(0, len(program), 8)]
    pc, a = 0, 0
    while True:
        code, jt, jf, k = insns[pc]
        pc += 1
        if code == enosys.LD_W_ABS:
            a = struct.unpack_from("=I", data, k)[0]
        elif code == enosys.JA:
            pc += k
        elif code in (enosys.JEQ_K, enosys.JGT_K, enosys.JSET_K):
            taken = {enosys.JEQ_K: a == k, enosys.JGT_K: a > k, enosys.JSET_K: a & k != 0}[code]
            pc += jt if taken else jf
        elif code == enosys.RET_K:
            return k
        else:
            raise AssertionError(f"unexpected instruction {code:#x}")


def patched(highest: dict) -> bytes:
    return enosys.prefix(highest) + struct.pack("=HBBI", enosys.RET_K, 0, 0, FILTER)


def test_above_the_highest_number_is_enosys_at_or_below_is_the_filters():
    program = patched({X86_64: 434})
    assert run(program, 435, X86_64) == ENOSYS  # clone3 under a profile that stops at pidfd_open
    assert run(program, 1000, X86_64) == ENOSYS
    assert run(program, 434, X86_64) == FILTER
    assert run(program, 0, X86_64) == FILTER


def test_each_architecture_has_its_own_highest_number():
    program = patched({X86_64: 300, X86: 400, AARCH64: 100})
    assert run(program, 350, X86_64) == ENOSYS
    assert run(program, 350, X86) == FILTER
    assert run(program, 401, X86) == ENOSYS
    assert run(program, 101, AARCH64) == ENOSYS
    assert run(program, 100, AARCH64) == FILTER


def test_an_architecture_not_in_the_profile_goes_to_the_filter():
    assert run(patched({X86_64: 10}), 1000, X86) == FILTER


def test_x32_calls_are_told_apart_by_bit_30():
    bit = enosys.X32_SYSCALL_BIT
    only_64 = patched({X86_64: 434})
    assert run(only_64, bit | 1000, X86_64) == FILTER  # x32 not in the profile: the filter kills
    only_x32 = patched({X32: bit | 300})
    assert run(only_x32, bit | 301, X86_64) == ENOSYS
    assert run(only_x32, bit | 300, X86_64) == FILTER
    assert run(only_x32, 1000, X86_64) == FILTER
    both = patched({X86_64: 434, X32: bit | 300})
    assert run(both, 435, X86_64) == ENOSYS
    assert run(both, 400, X86_64) == FILTER
    assert run(both, bit | 301, X86_64) == ENOSYS
    assert run(both, bit | 300, X86_64) == FILTER


def test_s390_number_zero_is_enosys():
    program = patched({S390X: 400})
    assert run(program, 0, S390X) == ENOSYS
    assert run(program, 1, S390X) == FILTER


def test_no_architecture_no_prefix():
    assert enosys.prefix({}) == b""


def plan_of(data: dict):
    return seccomp.plan(from_json(LinuxSeccomp, data, "linux.seccomp"))


@pytest.mark.parametrize("default, errno_ret, wanted", [
    ("SCMP_ACT_ERRNO", None, True),
    ("SCMP_ACT_ERRNO", errno.ENOSYS, False),  # the default action already says ENOSYS
    ("SCMP_ACT_KILL_PROCESS", None, True),
    ("SCMP_ACT_TRAP", None, True),
    ("SCMP_ACT_ALLOW", None, False),
    ("SCMP_ACT_LOG", None, False),
    ("SCMP_ACT_TRACE", None, False),  # a tracer answers unknown calls itself
])
def test_the_plan_adds_the_prefix_only_when_the_default_refuses(default, errno_ret, wanted):
    config = {"defaultAction": default, "syscalls": [{"names": ["read"], "action": "SCMP_ACT_KILL"}]}
    if errno_ret is not None:
        config["defaultErrnoRet"] = errno_ret
    assert plan_of(config).enosys is wanted


def test_names_of_rules_left_out_still_count():
    plan = plan_of({"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [
        {"names": ["read", "write"], "action": "SCMP_ACT_ALLOW"},
        {"names": ["clone3", "read"], "action": "SCMP_ACT_ERRNO"},  # the default: left out
    ]})
    assert plan.skipped == ("linux.seccomp.syscalls[1]",)
    assert plan.names == ("read", "write", "clone3")
    assert any("ENOSYS" in line for line in seccomp.describe(plan))
