"""The runtime's side of a fork into a container, and what its children keep."""

import os
import socket

import pytest

from boxen.common.errors import NotFound
from boxen.runtime import handoff
from boxen.runtime.linux.fake import FakeKernel


@pytest.mark.parametrize(("keep", "preserve", "ranges"), [
    ([], 0, [(3, 0xFFFFFFFF)]),
    ([7, None, 4], 0, [(3, 3), (5, 6), (8, 0xFFFFFFFF)]),
    ([5, 6], 2, [(7, 0xFFFFFFFF)]),       # 3 and 4 preserved; 5 and 6 kept
    ([3, 9], 1, [(4, 8), (10, 0xFFFFFFFF)]),  # 3 is preserved anyway
])
def test_children_keep_stdio_preserved_and_handed_descriptors_only(keep, preserve, ranges):
    k = FakeKernel()
    handoff.close_inherited(k, keep, preserve)
    assert k.calls == [("close_range", first, last, 0) for first, last in ranges]


def test_a_namespace_that_cannot_be_opened_names_its_field(tmp_path):
    h = handoff.Handoff(FakeKernel())
    try:
        with pytest.raises(NotFound, match="cannot open namespace") as info:
            h.open_namespaces([("network", str(tmp_path / "missing"))], "linux.namespaces")
        assert info.value.field == "linux.namespaces (network)"
    finally:
        h.close()


def test_close_ends_every_descriptor_it_owns(tmp_path):
    h = handoff.Handoff(FakeKernel())
    (tmp_path / "ns").write_text("")
    fds = h.open_namespaces([("uts", str(tmp_path / "ns"))])
    h.close()
    with pytest.raises(OSError):
        os.fstat(fds["uts"])
    assert h.fds == []


class _SocketKernel(FakeKernel):
    """Records like the fake, but makes real socket pairs (the channel's ends must be descriptors)."""

    def socketpair(self, domain, kind):
        a, b = socket.socketpair(domain, kind)
        return a.detach(), b.detach()


def test_a_child_keeps_what_was_opened_for_it_and_its_end_of_the_channel(tmp_path):
    k = _SocketKernel()
    h = handoff.Handoff(k)
    try:
        (tmp_path / "ns").write_text("")
        ns = h.open_namespaces([("uts", str(tmp_path / "ns"))])["uts"]
        h.console_parent = h.own(os.open(str(tmp_path / "ns"), os.O_RDONLY))  # the runtime's end of a pair
        parent, child = h.channel()
        parent_fd = parent.fd
        h.in_child(preserve_fds=0)
        closed = set()
        for _, first, last, _ in (c for c in k.calls if c[0] == "close_range"):
            closed.update(range(first, min(last, 4096) + 1))
        assert ns not in closed and child.fd not in closed
        assert h.console_parent in closed
        with pytest.raises(OSError):
            os.fstat(parent_fd)  # closed for real: the child never speaks as the runtime
    finally:
        h.parent = None
        h.close()


class _Cgroup:
    """A manager stand-in that records how the child was started."""

    def __init__(self):
        self.clones = []

    def clone_init(self, kernel, flags):
        self.clones.append(flags)
        return 4343


@pytest.mark.parametrize(("threaded", "born"), [(False, True), (True, False)])
def test_a_child_is_born_in_its_cgroup_unless_the_caller_has_other_threads(monkeypatch, threaded, born):
    forks = []
    monkeypatch.setattr(handoff, "single_threaded", lambda: not threaded)
    monkeypatch.setattr(handoff.os, "fork", lambda: forks.append(1) or 4444)
    cgroup = _Cgroup()
    h = handoff.Handoff(_SocketKernel())
    try:
        h.channel()
        pid = h.fork(lambda ctx: None, None, 0, born_in=cgroup)
        assert (pid, cgroup.clones, forks) == ((4343, [0], []) if born else (4444, [], [1]))
        assert h.child is None  # the children's end of the channel is closed here
    finally:
        h.close()


def test_a_child_without_a_cgroup_to_be_born_in_is_forked(monkeypatch):
    forks = []
    monkeypatch.setattr(handoff.os, "fork", lambda: forks.append(1) or 4444)
    h = handoff.Handoff(_SocketKernel())
    try:
        h.channel()
        assert h.fork(lambda ctx: None, None, 0) == 4444 and forks == [1]
    finally:
        h.close()
