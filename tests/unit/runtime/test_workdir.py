"""The working directory is resolved inside the root, never through a descriptor's magic link."""

import os

import pytest

from boxen.common.errors import NotFound, PermissionDenied
from boxen.runtime.linux import constants as C
from boxen.runtime.linux.fake import FakeKernel
from boxen.runtime.linux.kernel import Kernel
from boxen.runtime.workdir import WorkingDirectory, close_descriptors, hold_preserved


def test_every_descriptor_but_the_kept_ones_is_closed():
    k = FakeKernel()
    close_descriptors(k, 5, keep=(10, 7, 2, 7))
    assert k.calls == [
        ("close_range", 5, 0xFFFFFFFF, C.CLOSE_RANGE_CLOEXEC),  # the kept ones close on exec
        ("close_range", 5, 6, 0),
        ("close_range", 8, 9, 0),
        ("close_range", 11, 0xFFFFFFFF, 0),
    ]


def test_a_kept_descriptor_at_the_start_leaves_no_empty_range():
    k = FakeKernel()
    close_descriptors(k, 3, keep=(3, 4))
    assert k.calls[1:] == [("close_range", 5, 0xFFFFFFFF, 0)]


def test_the_working_directory_is_entered(tmp_path, monkeypatch):
    monkeypatch.chdir("/")
    cwd = WorkingDirectory(Kernel(), str(tmp_path))
    cwd.enter(Kernel(), final=True)
    assert cwd.entered and os.getcwd() == str(tmp_path)


def test_a_magic_link_to_a_directory_is_refused(tmp_path, monkeypatch):
    monkeypatch.chdir("/")
    fd = os.open(tmp_path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        with pytest.raises(PermissionDenied, match="magic link") as info:
            WorkingDirectory(Kernel(), f"/proc/self/fd/{fd}")
    finally:
        os.close(fd)
    assert info.value.field == "process.cwd"
    assert os.getcwd() == "/"


def test_a_missing_working_directory_is_named(tmp_path):
    with pytest.raises(NotFound, match=r'chdir to cwd \(".*/missing"\) set in config.json failed: no such file'):
        WorkingDirectory(Kernel(), str(tmp_path / "missing"))


def test_the_preserved_range_is_held_with_dev_null_where_the_caller_left_it_closed():
    """In a child (the test process's own descriptors are not to be touched): 3 is the
    caller's, 4 and 5 were closed; the next descriptor opened lands above the range."""
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:
        try:
            out = os.dup2(write_end, 1000)
            os.dup2(os.open("/etc/hostname", os.O_RDONLY), 3)
            os.closerange(4, 1000)
            hold_preserved(3)
            report = [os.readlink(f"/proc/self/fd/{fd}") for fd in (3, 4, 5)]
            report.append(str(os.open("/dev/null", os.O_RDONLY) >= 6))
            os.write(out, "\n".join(report).encode())
        finally:
            os._exit(0)
    os.close(write_end)
    os.waitpid(pid, 0)
    with os.fdopen(read_end) as f:
        assert f.read().split("\n") == ["/etc/hostname", "/dev/null", "/dev/null", "True"]


def test_a_directory_root_may_not_enter_is_tried_again_as_the_user(tmp_path, monkeypatch):
    """Before the user switch a refusal is remembered; after it, it is the error."""
    from boxen.common import posixos

    monkeypatch.chdir("/")
    refusals = iter([PermissionError(13, "Permission denied")])

    def fchdir(fd):
        error = next(refusals, None)
        if error is not None:
            raise error
        os.fchdir(fd)

    monkeypatch.setattr(posixos, "fchdir", fchdir)
    cwd = WorkingDirectory(Kernel(), str(tmp_path))
    cwd.enter(Kernel(), final=False)
    assert not cwd.entered and os.getcwd() == "/"
    cwd.enter(Kernel(), final=True)
    assert cwd.entered and os.getcwd() == str(tmp_path) and cwd.fd is None


def test_a_refusal_after_the_user_switch_is_the_error(tmp_path, monkeypatch):
    from boxen.common import posixos

    def refuse(fd):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(posixos, "fchdir", refuse)
    cwd = WorkingDirectory(Kernel(), str(tmp_path))
    cwd.enter(Kernel(), final=False)
    with pytest.raises(PermissionDenied, match="set in config.json failed: permission denied"):
        cwd.enter(Kernel(), final=True)
    os.close(cwd.fd)
