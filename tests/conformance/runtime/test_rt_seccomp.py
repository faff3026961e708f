"""Seccomp and system calls newer than the profile, as runc treats them.

A profile that refuses by default (``SCMP_ACT_ERRNO``: ``EPERM``) was written against the calls
known when it was written. A call added later (``clone3``, or any number above the profile's
highest) must fail with ``ENOSYS``, which C libraries read as "this kernel is too old" and fall
back; ``EPERM`` would be a real refusal. runc patches its filter so, and boxen must too. A call
below that highest number that the profile leaves out still gets the default action.

The spec is silent here; runc's behaviour is the contract. The process is a tiny static C
program compiled into the rootfs (skipped without gcc and a static libc).
"""

from __future__ import annotations

import ctypes
import errno
import os
import shutil
import subprocess

import pytest

PROGRAM = r"""
#include <errno.h>
#include <stdio.h>
#include <sys/syscall.h>
#include <unistd.h>

static void report(const char *name, long number) {
    long result = syscall(number, 0, 0, 0);
    printf("%s %d\n", name, result == -1 ? errno : 0);
}

int main(void) {
    report("1000", 1000);
    report("clone3", 435);
    report("getcpu", SYS_getcpu);
    report("getpid", SYS_getpid);
    return 0;
}
"""


@pytest.fixture(scope="module")
def syscall_program(tmp_path_factory):
    if os.uname().machine != "x86_64":
        pytest.skip("the program's system call numbers are x86-64's")
    if shutil.which("gcc") is None:
        pytest.skip("gcc is not installed")
    directory = tmp_path_factory.mktemp("enosys")
    source = directory / "syscalls.c"
    source.write_text(PROGRAM)
    built = subprocess.run(["gcc", "-static", "-O1", "-o", str(directory / "syscalls"), str(source)],
                           capture_output=True, text=True, check=False)
    if built.returncode != 0:
        pytest.skip(f"cannot build a static program here: {built.stderr.strip()[-200:]}")
    return directory / "syscalls"


def _old_profile_names() -> list[str]:
    """Every call libseccomp knows on x86-64 numbered below clone3 (435), but getcpu (309)."""
    lib = ctypes.CDLL("libseccomp.so.2")
    lib.seccomp_arch_resolve_name.restype = ctypes.c_uint
    lib.seccomp_syscall_resolve_num_arch.restype = ctypes.c_void_p
    libc = ctypes.CDLL(None)
    libc.free.argtypes = [ctypes.c_void_p]
    token = lib.seccomp_arch_resolve_name(b"x86_64")
    names = []
    for number in range(435):
        pointer = lib.seccomp_syscall_resolve_num_arch(ctypes.c_uint(token), number)
        if pointer:
            names.append(ctypes.string_at(pointer).decode())
            libc.free(pointer)
    return [name for name in names if name != "getcpu"]


def test_calls_newer_than_the_profile_get_enosys(runtime, bundle, cid, syscall_program, deviation):
    deviation(crun="answers calls newer than the profile with the default action (EPERM)")
    seccomp = {
        "defaultAction": "SCMP_ACT_ERRNO",
        "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"],
        "syscalls": [{"names": _old_profile_names(), "action": "SCMP_ACT_ALLOW"}],
    }
    path = bundle(args=["/syscalls"], linux={"seccomp": seccomp})
    shutil.copy(syscall_program, path / "rootfs" / "syscalls")
    result = runtime.run(cid, path).check()
    seen = dict(line.split() for line in result.stdout.splitlines())
    assert seen == {
        "1000": str(errno.ENOSYS),
        "clone3": str(errno.ENOSYS),
        "getcpu": str(errno.EPERM),
        "getpid": "0",
    }
