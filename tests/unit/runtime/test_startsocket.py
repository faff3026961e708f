"""The start socket: ``start`` reaches the waiting init through a socket, never a host file."""

import errno
import os
import socket
import stat
import threading

import pytest

from boxen.common.errors import FailedPrecondition
from boxen.runtime import startsocket
from boxen.runtime.state import ContainerState


@pytest.fixture
def state(tmp_path):
    # A long root: the socket's path is bound through a descriptor of its directory, so the
    # 108 bytes of sun_path never limit where the state lives.
    root = tmp_path / ("r" * 100) / ("o" * 100)
    root.mkdir(parents=True)
    state = ContainerState.new(str(root), "c1")
    yield state
    state.remove()


def _init(listener: int, report: bytes | None, seen: list) -> threading.Thread:
    """What the init does: wait for start, then fail with ``report`` or "exec" (close the connection)."""
    def run():
        connection = startsocket.wait(listener)
        seen.append(connection)
        if report is not None:
            os.write(connection, report)
        os.close(connection)

    thread = threading.Thread(target=run)
    thread.start()
    return thread


def test_start_lets_the_init_go_and_reads_nothing_when_it_execs(state):
    listener = startsocket.listen(state.dir)
    st = os.stat(state.exec_socket)
    assert stat.S_ISSOCK(st.st_mode) and stat.S_IMODE(st.st_mode) == 0o600
    seen: list = []
    thread = _init(listener, None, seen)
    assert startsocket.start(state.dir) == ""
    thread.join()
    assert len(seen) == 1
    with pytest.raises(OSError):
        os.fstat(listener)  # the init closed its listening descriptor: one start only


def test_start_reads_the_init_s_late_error_bounded(state):
    listener = startsocket.listen(state.dir)
    seen: list = []
    thread = _init(listener, b"x" * (startsocket.MAX_ERROR + 10), seen)
    assert startsocket.start(state.dir) == "x" * startsocket.MAX_ERROR
    thread.join()


def test_a_start_without_a_waiting_init_is_refused(state):
    with pytest.raises(FailedPrecondition, match="not waiting"):
        startsocket.start(state.dir)
    os.close(startsocket.listen(state.dir))  # an init that died: the file stays, nobody listens
    with pytest.raises(FailedPrecondition, match="not waiting"):
        startsocket.start(state.dir)


def test_the_socket_cannot_be_reopened_through_proc(state):
    """What a process of the container that may ptrace the init would try: reopen its descriptors."""
    listener = startsocket.listen(state.dir)
    try:
        with pytest.raises(OSError) as info:
            os.open(f"/proc/self/fd/{listener}", os.O_RDWR)
        assert info.value.errno == errno.ENXIO
    finally:
        os.close(listener)


def test_a_start_that_died_before_saying_go_does_not_let_the_init_go(state):
    listener = startsocket.listen(state.dir)
    directory = os.open(state.dir, os.O_PATH)
    dead = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    dead.connect(f"/proc/self/fd/{directory}/exec.sock")  # the state's path is too long for sun_path
    os.close(directory)
    dead.close()  # queued first; the init reads the end of its stream and waits for the next
    seen: list = []
    thread = _init(listener, None, seen)
    assert startsocket.start(state.dir) == ""
    thread.join()
    assert len(seen) == 1
