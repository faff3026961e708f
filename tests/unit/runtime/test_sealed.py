"""Which processes must run from a sealed interpreter, and how the runtime re-executes itself."""

import posix
import sys

import pytest

from boxen.common.errors import FailedPrecondition, Unimplemented
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
