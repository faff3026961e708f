"""Which processes must run from a sealed interpreter, and how the runtime re-executes itself."""

import errno
import fcntl
import os
import posix
import subprocess
import sys

import pytest

from boxen.common.errors import FailedPrecondition, Unimplemented, kernel_error
from boxen.runtime import sealed
from boxen.runtime.linux import constants as C
from boxen.runtime.linux.fake import FakeKernel


def test_an_interpreter_started_from_its_own_path_is_not_sealed():
    assert not sealed.exe_is_sealed()
    with pytest.raises(sealed.Unsealed, match="the exec'd process would be the runtime's own interpreter"):
        sealed.require("the exec'd process")
    assert issubclass(sealed.Unsealed, FailedPrecondition)


def test_a_process_is_recognised_as_running_the_runtimes_interpreter():
    assert sealed.interpreter_of(posix.getpid())
    assert not sealed.interpreter_of(1 << 30)  # no such process


def test_reexec_runs_the_same_command_from_a_read_only_detached_copy(monkeypatch):
    monkeypatch.delitem(posix.environ, sealed.MARKER, raising=False)
    k = FakeKernel()
    with pytest.raises(AssertionError, match="execveat returned"):  # the fake returns
        sealed.reexec(k)
    assert k.names() == ["open_tree", "mount_setattr", "execveat"]
    _, dirfd, what, flags = k.calls[0]  # the fake records what a call names for people
    assert (dirfd, what) == (C.AT_FDCWD, "the runtime's interpreter") and flags & C.OPEN_TREE_CLONE
    assert k.calls[1][4] == C.MOUNT_ATTR_RDONLY | C.MOUNT_ATTR_NOSUID | C.MOUNT_ATTR_NODEV
    _, _, _, argv, env, flags = k.calls[2]
    assert argv == sys.orig_argv and flags == C.AT_EMPTY_PATH
    assert f"BOXEN_RUNTIME_SEALED={posix.getpid()}" in env


def test_a_second_reexec_is_refused_rather_than_looping(monkeypatch):
    monkeypatch.setitem(posix.environ, sealed.MARKER, str(posix.getpid()).encode())
    k = FakeKernel()
    with pytest.raises(Unimplemented, match="still not on a detached read-only mount"):
        sealed.reexec(k)
    assert k.calls == []


def test_a_child_of_a_sealed_program_may_seal_itself(monkeypatch):
    """A daemon that sealed itself passes the variable on to the runtimes it starts."""
    monkeypatch.setitem(posix.environ, sealed.MARKER, str(posix.getpid() + 1).encode())
    k = FakeKernel()
    with pytest.raises(AssertionError, match="execveat returned"):
        sealed.reexec(k)
    env = k.calls[2][4]
    assert [e for e in env if e.startswith("BOXEN_RUNTIME_SEALED=")] == [f"BOXEN_RUNTIME_SEALED={posix.getpid()}"]


def test_a_reexecuted_runtime_knows_it_began_its_command_once_already(monkeypatch):
    """``run --explain`` re-executed sealed must not print its explanation a second time."""
    monkeypatch.delitem(posix.environ, sealed.MARKER, raising=False)
    assert not sealed.reexecuted()
    monkeypatch.setitem(posix.environ, sealed.MARKER, str(posix.getpid() + 1).encode())  # a parent's
    assert not sealed.reexecuted()
    monkeypatch.setitem(posix.environ, sealed.MARKER, str(posix.getpid()).encode())
    assert sealed.reexecuted()


class _RefusingKernel(FakeKernel):
    """A kernel that lacks (ENOSYS) or refuses (EPERM, as in a container) one of the two calls."""

    def __init__(self, refused: str, errno_: int) -> None:
        super().__init__()
        self.refused, self.errno = refused, errno_

    def open_tree(self, dirfd, path, flags, *, display=None):
        fd = super().open_tree(dirfd, path, flags, display=display)
        if self.refused == "open_tree":
            os.close(fd)
            raise kernel_error(self.errno, "open_tree", display)
        return fd

    def mount_setattr(self, dirfd, path, flags, attr_set, attr_clear=0, userns_fd=0, *, display=None):
        super().mount_setattr(dirfd, path, flags, attr_set, attr_clear, userns_fd, display=display)
        if self.refused == "mount_setattr":
            raise kernel_error(self.errno, "mount_setattr", display)


@pytest.mark.parametrize(("refused", "errno_"), [("open_tree", errno.ENOSYS), ("open_tree", errno.EPERM),
                                                 ("mount_setattr", errno.ENOSYS), ("mount_setattr", errno.EPERM)])
def test_without_a_read_only_mount_reexec_runs_a_sealed_copy(monkeypatch, refused, errno_):
    monkeypatch.delitem(posix.environ, sealed.MARKER, raising=False)
    k = _RefusingKernel(refused, errno_)
    with pytest.raises(AssertionError, match="execveat returned"):
        sealed.reexec(k)
    tried = ["open_tree"] if refused == "open_tree" else ["open_tree", "mount_setattr"]
    assert k.names() == [*tried, "execveat"]
    _, copy, _, argv, _, flags = k.calls[-1]
    try:
        assert argv == sys.orig_argv and flags == C.AT_EMPTY_PATH
        assert os.readlink(f"/proc/self/fd/{copy}").startswith("/memfd:boxen-runtime")
        assert fcntl.fcntl(copy, fcntl.F_GET_SEALS) == sealed.SEALS
        assert fcntl.fcntl(copy, fcntl.F_GETFD) & fcntl.FD_CLOEXEC
        with open("/proc/self/exe", "rb") as original:
            assert os.pread(copy, 1 << 20, 0) == original.read(1 << 20)
        writer = os.open(f"/proc/self/fd/{copy}", os.O_WRONLY)  # reopened as an attacker would
        try:
            with pytest.raises(PermissionError):  # F_SEAL_WRITE: for everyone, through any path
                os.write(writer, b"x")
        finally:
            os.close(writer)
        with pytest.raises(PermissionError):
            os.ftruncate(copy, 0)
    finally:
        os.close(copy)


def test_a_process_run_from_the_sealed_copy_counts_as_sealed():
    """Run from the memfd, the interpreter is sealed, and still knows the file it copied."""
    launcher = ("import os, sys\nfrom boxen.runtime import sealed\n"
                "st = os.stat('/proc/self/exe')\n"
                "fd = sealed.sealed_copy()\n"
                "os.environ['ORIGINAL'] = f'{st.st_dev} {st.st_ino}'\n"
                "os.execv(f'/proc/self/fd/{fd}', [sys.executable, '-c', sys.argv[1]])\n")
    code = ("import os\nfrom boxen.runtime import sealed\n"
            "original = tuple(int(x) for x in os.environ['ORIGINAL'].split())\n"
            "print(sealed.exe_is_sealed(), sealed.interpreter_file() == original, "
            "os.readlink('/proc/self/exe').startswith('/memfd:'))\n")
    out = subprocess.run([sys.executable, "-c", launcher, code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["True", "True", "True"], out.stderr
