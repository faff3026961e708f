"""How ``start`` reaches a created container's init: a listening unix socket, not a host file.

Between ``create`` and ``start`` the container's init waits, fully set up, for a word from
another process (``boxen-runtime start`` is a separate command). Whatever it waits on must be
reachable by path from the host, and it must be *held* by the init, which the container's
processes can see: an ``exec``'d process of the container with ``CAP_SYS_PTRACE`` passes the
kernel's ptrace check on the (non-dumpable) init, and can open again any file the init holds
through ``/proc/<init>/fd/N``. runc's init holds an ``O_PATH`` descriptor of ``exec.fifo``,
a named pipe in the state directory, and reopens it for writing through ``/proc/self/fd``,
which blocks until ``runc start`` opens it for reading; an earlier boxen held the FIFO's read
end and an ``exec.fifo.error`` file for late errors. Reopened through ``/proc``, those are
the host's files themselves: a process of the container could start the container early, or
write what it likes (as much as it likes, onto the host's ``/run``) into the file whose text
``start`` prints.

Here the state directory holds ``exec.sock`` instead, a ``SOCK_SEQPACKET`` unix socket on
which the init listens. The kernel refuses to open a socket through ``/proc/<pid>/fd``
(``ENXIO``), so none of the init's descriptors reopens as a host file::

      [ boxen-runtime start ]                    [ init, waiting ]
      connect <state>/exec.sock  ----------->   accept
      "0"                        ----------->   run startContainer hooks, execveat
                                 <-----------   the error's text, if anything failed
      end of stream (the connection is close-on-exec, so a successful execveat ends it too)
      unlink exec.sock: the container is "running"

The runtime makes and binds the socket before it forks (with a user namespace the init could
not reach the state directory, which belongs to the host's root), and hands the listening
descriptor to the init alone. The file exists exactly while the container is *created*; a
``connect`` that the kernel refuses means the init is no longer waiting.

What remains exposed: a process of the container that may ptrace the init can make it do
what the init can, since it may inject system calls into it or copy its descriptors
(``pidfd_getfd``): let it go early, or accept ``start``'s connection and answer with a false
error. It reaches no host file that way, and what ``start`` reads back is bounded
(:data:`MAX_ERROR`). On the host, only root may connect (the socket's mode is 0600).
"""

from __future__ import annotations

import _socket

from boxen.common import posixos as os
from boxen.common.errors import FailedPrecondition
from boxen.runtime.linux import constants as C
from boxen.runtime.state import EXEC_SOCKET

#: The most ``start`` reads of an error the init reports.
MAX_ERROR = 65536
_GO = b"0"


def _short(directory_fd: int) -> str:
    """The socket's path through a descriptor of its directory (``sun_path`` holds 108 bytes)."""
    return f"/proc/self/fd/{directory_fd}/{EXEC_SOCKET}"


def listen(directory: str) -> int:
    """Bind ``<directory>/exec.sock`` (mode 0600) and listen on it; the descriptor is the init's."""
    directory_fd = os.open(directory, C.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    sock = _socket.socket(C.AF_UNIX, C.SOCK_SEQPACKET | C.SOCK_CLOEXEC)
    umask = os.umask(0o177)
    try:
        sock.bind(_short(directory_fd))
        sock.listen(1)
    except BaseException:
        sock.close()
        raise
    finally:
        os.umask(umask)
        os.close(directory_fd)
    return sock.detach()


def wait(listener: int) -> int:
    """In the init: block until ``start`` connects and says go; returns the connection (close-on-exec),
    on which a later failure is reported. The listening descriptor is closed: one start only."""
    sock = _socket.socket(fileno=listener)
    try:
        while True:
            # The C method under socket.socket.accept: a close-on-exec descriptor (accept4).
            fd, _ = sock._accept()  # type: ignore[attr-defined]
            if os.read(fd, 1) == _GO:
                return fd
            os.close(fd)  # a start that died before saying go: wait for the next
    finally:
        sock.close()


def start(directory: str) -> str:
    """Tell the init waiting in ``directory`` to go; returns what it reported ("" once it exec'd)."""
    directory_fd = os.open(directory, C.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    sock = _socket.socket(C.AF_UNIX, C.SOCK_SEQPACKET | C.SOCK_CLOEXEC)
    try:
        try:
            sock.connect(_short(directory_fd))
        except OSError:
            raise FailedPrecondition("cannot start a container whose init process is not waiting") from None
        report = b""
        try:
            sock.send(_GO)
            while len(report) < MAX_ERROR:
                packet = sock.recv(MAX_ERROR)
                if not packet:
                    break
                report += packet
        except ConnectionResetError:  # queued behind another start, which the init accepted instead
            raise FailedPrecondition("cannot start a container whose init process is not waiting") from None
        return report[:MAX_ERROR].decode(errors="replace")
    finally:
        sock.close()
        os.close(directory_fd)
